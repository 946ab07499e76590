//! 版本: the working copy with what it changes and what stops it from being published,
//! 发布 (with the password again after 15 minutes), 放弃草稿, the published versions
//! with what each changed, and 回退 (an earlier version published again as a new one).

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{access::Manager, confirm, head::ServiceHead};
use crate::{
    error::AppResult,
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::ClientIp,
    },
    workflow::{
        store::versions,
        usecase::versions::{self as uc, VersionError},
    },
};

pub struct DraftView {
    pub revision: i32,
    pub updated: String,
    pub updated_by: String,
    pub changes: Vec<String>,
    pub problems: Vec<String>,
}

pub struct VersionView {
    pub number: i32,
    pub published: String,
    pub by: String,
    pub note: String,
    pub changes: Vec<String>,
    pub current: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/versions.html")]
pub struct VersionsTemplate {
    pub page: Page,
    pub head: ServiceHead,
    pub draft: Option<DraftView>,
    pub versions: Vec<VersionView>,
    /// Problems of the last publish attempt (shown above the list).
    pub refused: Vec<String>,
}

/// The most versions listed (with their changes).
const LISTED: usize = 50;

async fn render(
    state: &AppState,
    page: Page,
    id: i64,
    refused: Vec<String>,
) -> AppResult<VersionsTemplate> {
    let head = ServiceHead::load(&state.db, id, "versions").await?;
    let tz = state.settings.time_zone;
    let fmt = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
    };
    let rows = versions::list(&state.db, id).await?;
    // Parsed definitions of the listed versions and the one before the oldest listed.
    let mut parsed = Vec::new();
    for v in rows.iter().take(LISTED + 1) {
        let defs = versions::definitions(&state.db, id, v.number).await?;
        parsed.push(defs.and_then(|(f, w)| uc::parse(&f, &w).ok()));
    }
    let mut list = Vec::new();
    for (i, v) in rows.iter().take(LISTED).enumerate() {
        let changes = match (&parsed[i], parsed.get(i + 1).and_then(|p| p.as_ref())) {
            (Some(new), old) => {
                let c = uc::diff(old.map(|(f, w)| (f, w)), (&new.0, &new.1)).lines();
                if c.is_empty() {
                    vec!["表单与流程未变".into()]
                } else {
                    c
                }
            }
            (None, _) => vec![],
        };
        list.push(VersionView {
            number: v.number,
            published: fmt(v.published_at),
            by: v.published_by.clone().unwrap_or_else(|| "系统".into()),
            note: v.note.clone(),
            changes,
            current: i == 0,
        });
    }
    let draft = match versions::draft(&state.db, id).await? {
        None => None,
        Some(d) => {
            let (changes, problems) = match uc::parse(&d.form, &d.workflow) {
                Ok((f, w)) => {
                    let current = parsed.first().and_then(|p| p.as_ref());
                    let c = uc::diff(current.map(|(f, w)| (f, w)), (&f, &w)).lines();
                    let mut p = uc::problems(&f, &w);
                    p.extend(uc::problems_in_db(&state.db, id, &w).await?);
                    (c, p)
                }
                Err(p) => (vec![], p),
            };
            Some(DraftView {
                revision: d.revision,
                updated: fmt(d.updated_at),
                updated_by: d.updated_by.unwrap_or_default(),
                changes,
                problems,
            })
        }
    };
    Ok(VersionsTemplate {
        page,
        head,
        draft,
        versions: list,
        refused,
    })
}

/// `GET /admin/services/{id}/versions`
pub(super) async fn page(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<VersionsTemplate> {
    m.service(&state.db, id).await?;
    render(&state, page, id, vec![]).await
}

#[derive(Deserialize)]
pub(super) struct PublishForm {
    revision: i32,
    #[serde(default)]
    note: String,
    #[serde(default)]
    confirm_password: Option<String>,
}

#[allow(clippy::too_many_arguments)]
/// `POST /admin/services/{id}/publish`: the working copy at the revision the page showed
/// becomes the next version.
pub(super) async fn publish(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    session: Session,
    flashes: Flashes,
    ip: ClientIp,
    Path(id): Path<i64>,
    Form(form): Form<PublishForm>,
) -> AppResult<Response> {
    m.service(&state.db, id).await?;
    let note: String = form.note.trim().chars().take(500).collect();
    let head = ServiceHead::load(&state.db, id, "versions").await?;
    let url = format!("/admin/services/{id}/publish");
    let back = format!("/admin/services/{id}/versions");
    if let Some(confirm_page) = confirm::require(
        &state,
        &session,
        page.clone(),
        m.id(),
        ip,
        &url,
        &back,
        format!("发布“{}”的新版本", head.name),
        vec![
            ("revision".into(), form.revision.to_string()),
            ("note".into(), note.clone()),
        ],
        form.confirm_password.as_deref(),
    )
    .await?
    {
        return Ok(confirm_page);
    }
    match uc::publish(
        &state.db,
        id,
        form.revision,
        &note,
        m.id(),
        ip.0,
        state.now(),
    )
    .await
    {
        Ok(p) => {
            flash(
                &flashes,
                "success",
                format!("已发布版本 {}，新的申请将使用该版本。", p.number),
            );
            Ok(Redirect::to(&back).into_response())
        }
        Err(VersionError::Invalid(problems)) => {
            Ok(render(&state, page, id, problems).await?.into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub(super) struct RollbackForm {
    number: i32,
    #[serde(default)]
    confirm_password: Option<String>,
}

#[allow(clippy::too_many_arguments)]
/// `POST /admin/services/{id}/rollback`: version `number` is published again as a new one.
pub(super) async fn rollback(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    session: Session,
    flashes: Flashes,
    ip: ClientIp,
    Path(id): Path<i64>,
    Form(form): Form<RollbackForm>,
) -> AppResult<Response> {
    m.service(&state.db, id).await?;
    let url = format!("/admin/services/{id}/rollback");
    let back = format!("/admin/services/{id}/versions");
    if let Some(confirm_page) = confirm::require(
        &state,
        &session,
        page,
        m.id(),
        ip,
        &url,
        &back,
        format!("回退到版本 {}", form.number),
        vec![("number".into(), form.number.to_string())],
        form.confirm_password.as_deref(),
    )
    .await?
    {
        return Ok(confirm_page);
    }
    let p = uc::rollback(&state.db, id, form.number, m.id(), ip.0, state.now()).await?;
    flash(
        &flashes,
        "success",
        format!("已将版本 {} 重新发布为版本 {}。", form.number, p.number),
    );
    Ok(Redirect::to(&back).into_response())
}

#[derive(Deserialize)]
pub(super) struct DiscardForm {
    revision: i32,
}

/// `POST /admin/services/{id}/draft/discard`: 放弃草稿.
pub(super) async fn discard(
    State(state): State<AppState>,
    m: Manager,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Form(form): Form<DiscardForm>,
) -> AppResult<Response> {
    m.service(&state.db, id).await?;
    uc::discard(&state.db, id, form.revision, m.id(), ip, state.now()).await?;
    flash(&flashes, "success", "已放弃草稿。");
    Ok(Redirect::to(&format!("/admin/services/{id}/versions")).into_response())
}
