//! The 填报任务 tab of 个人中心 (`/center/collect`) and the fill page (`/collect/{id}`):
//! each person of the group fills once — 存草稿 any time in the window, 提交 with the
//! form's validation — and changes the response until the close where the task allows.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::{
    Status, files,
    store::{self, MemberRow, TaskRow},
};
use crate::{
    audit::Entry,
    center::lists::{Tab, tabs_at},
    error::{AppError, AppResult},
    forms::{
        self, Errors, FieldAccess,
        input::FormInput,
        render::{FieldView, parse_post, views},
    },
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::{ClientIp, CurrentUser},
    },
    workflow::usecase::{
        self as uc,
        form::{Intent, extra_rows, intent},
    },
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/center/collect", get(mine))
        .route("/collect/{id}", get(open).post(post))
}

pub struct MineRow {
    pub id: i64,
    pub title: String,
    pub owner: String,
    pub closes: String,
    pub status: Status,
    pub note: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "collect/mine.html")]
pub struct MineTemplate {
    pub page: Page,
    pub tabs: Vec<Tab>,
    pub rows: Vec<MineRow>,
    pub may_create: bool,
}

#[derive(sqlx::FromRow)]
struct Mine {
    id: i64,
    title: String,
    owner: String,
    opens_at: DateTime<Utc>,
    closes_at: DateTime<Utc>,
    late_allowed: bool,
    state: String,
}

fn at(tz: Tz, d: DateTime<Utc>) -> String {
    d.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// `GET /center/collect`: the published tasks I am to fill, those still to do first.
async fn mine(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
) -> AppResult<MineTemplate> {
    let now = state.now();
    let tz = state.settings.time_zone;
    let rows: Vec<Mine> = sqlx::query_as(
        "SELECT c.id, c.title, u.name AS owner, c.opens_at, c.closes_at, c.late_allowed, m.state
         FROM collection_members m
         JOIN collections c ON c.id = m.collection_id
         JOIN users u ON u.id = c.owner_id
         WHERE m.user_id = $1 AND c.published_at IS NOT NULL
         ORDER BY (m.state IN ('pending', 'draft') AND c.closes_at > $2) DESC, c.closes_at DESC
         LIMIT 200",
    )
    .bind(user.id)
    .bind(now)
    .fetch_all(&state.db)
    .await?;
    let rows = rows
        .into_iter()
        .map(|r| MineRow {
            status: Status::of(&r.state, r.closes_at, now),
            note: if now < r.opens_at {
                "未开始"
            } else if r.state == "draft" {
                "有草稿"
            } else if now >= r.closes_at && r.late_allowed && r.state == "pending" {
                "可补填"
            } else {
                ""
            },
            closes: at(tz, r.closes_at),
            id: r.id,
            title: r.title,
            owner: r.owner,
        })
        .collect();
    Ok(MineTemplate {
        tabs: tabs_at(&state, &user, "/center/collect").await?,
        may_create: super::may_create(&user),
        rows,
        page,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "collect/fill.html")]
pub struct FillTemplate {
    pub page: Page,
    pub id: i64,
    pub title: String,
    pub explanation: String,
    pub owner: String,
    pub window: String,
    pub status: Status,
    /// Why the form cannot be changed now (empty: it can).
    pub closed_note: String,
    pub editable: bool,
    pub fields: Vec<FieldView>,
    pub error_summary: Vec<(String, String)>,
    pub version: i32,
    pub submitted_at: String,
}

/// The task and my response, if I am in its group and it is published; else 404.
async fn load(state: &AppState, user: &CurrentUser, id: i64) -> AppResult<(TaskRow, MemberRow)> {
    let task = store::task(&state.db, id)
        .await?
        .filter(|t| t.published_at.is_some())
        .ok_or(AppError::NotFound)?;
    let member = store::member(&state.db, id, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((task, member))
}

/// Whether the response may be written now, and if not, why.
fn may_write(t: &TaskRow, m: &MemberRow, now: DateTime<Utc>) -> Result<(), &'static str> {
    let filled = matches!(m.state.as_str(), "submitted" | "confirmed");
    if now < t.opens_at {
        Err("填报尚未开始。")
    } else if now >= t.closes_at {
        if !filled && t.late_allowed {
            Ok(())
        } else if filled {
            Err("填报已截止，不能再修改。")
        } else {
            Err("填报已截止，未能按时填报。")
        }
    } else if filled && !t.editable {
        Err("已提交，该填报任务不允许修改。")
    } else {
        Ok(())
    }
}

fn all(schema: &forms::FormSchema, a: FieldAccess) -> BTreeMap<String, FieldAccess> {
    schema.fields.iter().map(|f| (f.key.clone(), a)).collect()
}

/// What the form shows: the answers, messages by field, blank sub-table rows beyond the
/// usual, and the files on file by field.
struct Shown<'a> {
    data: &'a Map<String, Value>,
    errors: &'a Errors,
    extra: &'a BTreeMap<String, usize>,
    files: files::ByField,
}

async fn render(
    state: &AppState,
    user: &CurrentUser,
    page: Page,
    t: &TaskRow,
    m: &MemberRow,
    shown: Shown<'_>,
) -> AppResult<Response> {
    let Shown {
        data,
        errors,
        extra,
        files: on_file,
    } = shown;
    let now = state.now();
    let tz = state.settings.time_zone;
    let closed = may_write(t, m, now).err();
    let access = all(
        &t.form,
        if closed.is_some() {
            FieldAccess::Readonly
        } else {
            FieldAccess::Editable
        },
    );
    let mut l = uc::lookups(
        &state.db,
        &t.form,
        data,
        user.id,
        user.id,
        None,
        state.today(),
    )
    .await?;
    l.attachments = on_file;
    l.files_at = files::FILES_AT;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        FillTemplate {
            id: t.id,
            title: t.title.clone(),
            explanation: t.explanation.clone(),
            owner: t.owner.clone(),
            window: format!("{} 至 {}", at(tz, t.opens_at), at(tz, t.closes_at)),
            status: Status::of(&m.state, t.closes_at, now),
            closed_note: closed.unwrap_or("").to_owned(),
            editable: closed.is_none(),
            fields: views(&t.form, data, &access, errors, &l, &[], extra),
            error_summary: uc::summary(&t.form, errors),
            version: m.version,
            submitted_at: m
                .submitted_at
                .map(|d| {
                    format!(
                        "{}{}",
                        at(tz, d),
                        if m.late { "（截止后补填）" } else { "" }
                    )
                })
                .unwrap_or_default(),
            page,
        },
    )
        .into_response())
}

/// `GET /collect/{id}`: my response (auto-filled from my profile the first time).
async fn open(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let (t, m) = load(&state, &user, id).await?;
    let mut data = match &m.data {
        Some(Value::Object(d)) => d.clone(),
        _ => {
            let p = uc::profile(&state.db, user.id, Some(&state.secret_key)).await?;
            forms::initial_values(&t.form, &p)
        }
    };
    let files = files::attach(
        &mut *state.db.acquire().await?,
        &t.form,
        id,
        user.id,
        &mut data,
    )
    .await?;
    let shown = Shown {
        data: &data,
        errors: &Errors::new(),
        extra: &BTreeMap::new(),
        files,
    };
    render(&state, &user, page, &t, &m, shown).await
}

/// `POST /collect/{id}`: 存草稿, 添加一行 or 提交, at the version the page showed. The
/// files, the response and the audit entry are one transaction under the member's row.
async fn post(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Path(id): Path<i64>,
    input: FormInput,
) -> AppResult<Response> {
    let (t, m) = load(&state, &user, id).await?;
    let now = state.now();
    let here = format!("/collect/{id}");
    if let Err(why) = may_write(&t, &m, now) {
        flash(&flashes, "error", why);
        return Ok(Redirect::to(&here).into_response());
    }
    let FormInput {
        pairs,
        files: uploads,
        file_errors,
    } = input;
    let posted: i32 = pairs
        .iter()
        .find(|(k, _)| k == "version")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(-1);
    let stale = AppError::Conflict("填报内容已在别处修改，请刷新后再试");
    if posted != m.version {
        return Err(stale);
    }
    let p = uc::profile(&state.db, user.id, Some(&state.secret_key)).await?;
    let mut data = match &m.data {
        Some(Value::Object(d)) => d.clone(),
        _ => forms::initial_values(&t.form, &p),
    };
    for (k, v) in parse_post(&t.form, &pairs) {
        data.insert(k, v);
    }
    forms::enforce_locked(&t.form, &p, &mut data);
    uc::resolve_accounts(&state.db, &t.form, &mut data).await?;
    let intent = intent(&pairs);
    let extra = extra_rows(&pairs, intent == Intent::AddRow);
    let filled = matches!(m.state.as_str(), "submitted" | "confirmed");
    if intent == Intent::Draft && filled {
        flash(&flashes, "error", "已提交的填报请修改后直接提交。");
        return Ok(Redirect::to(&here).into_response());
    }
    let removals: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "remove")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let mut tx = state.db.begin().await?;
    let locked: Option<i32> = sqlx::query_scalar(
        "SELECT version FROM collection_members
         WHERE collection_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(id)
    .bind(user.id)
    .fetch_optional(&mut *tx)
    .await?;
    if locked != Some(m.version) {
        return Err(stale);
    }
    let mut errors: Errors = file_errors;
    files::change(
        &mut tx,
        &t.form,
        id,
        user.id,
        uploads,
        &removals,
        (
            state.settings.upload_max_file,
            state.settings.upload_max_total,
        ),
        now,
        &mut errors,
    )
    .await?;
    let on_file = files::attach(&mut tx, &t.form, id, user.id, &mut data).await?;
    let access = all(&t.form, FieldAccess::Editable);
    let clean = match intent {
        Intent::AddRow => None,
        Intent::Draft => Some(data.clone()),
        Intent::Submit => {
            let check = uc::check_ctx(&state.db, &t.form, &data, user.id, state.today()).await?;
            match forms::validate(&t.form, &access, &data, &check) {
                Ok(clean) if errors.is_empty() => Some(clean),
                Ok(_) => None,
                Err(e) => {
                    for (k, v) in e {
                        errors.entry(k).or_default().extend(v);
                    }
                    None
                }
            }
        }
    };
    let Some(clean) = clean else {
        // The files stay with the response (as with an application's draft), so the
        // person need not upload them again; the answers are not saved.
        tx.commit().await?;
        let m = store::member(&state.db, id, user.id)
            .await?
            .ok_or(AppError::NotFound)?;
        let shown = Shown {
            data: &data,
            errors: &errors,
            extra: &extra,
            files: on_file,
        };
        return render(&state, &user, page, &t, &m, shown).await;
    };
    let submit = intent == Intent::Submit;
    let late = now >= t.closes_at;
    if store::save_response(
        &mut tx,
        id,
        user.id,
        m.version,
        &Value::Object(clean),
        submit,
        late,
        now,
    )
    .await?
    .is_none()
    {
        return Err(stale);
    }
    if submit {
        Entry::about(format!("collection:{id}"), "collection.submit")
            .by(Some(user.id))
            .ip(ip)
            .detail(json!({ "again": filled, "late": late }))
            .record(&mut *tx, now)
            .await?;
    }
    tx.commit().await?;
    flash(
        &flashes,
        "success",
        match (submit, filled, errors.is_empty()) {
            (true, true, _) => "已更新填报内容。".to_owned(),
            (true, false, _) => "已提交。".to_owned(),
            (false, _, true) => "已存草稿，截止前可继续填写。".to_owned(),
            (false, _, false) => format!(
                "已存草稿，但有附件未能添加：{}",
                errors
                    .values()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("；")
            ),
        },
    );
    Ok(Redirect::to(&here).into_response())
}
