//! 新建服务 and 基本信息: every catalog field of a service and its 办事指南 in Markdown with
//! a preview beside each section (live through `markdown` with script; the 预览 button
//! re-renders the page without it). Nothing is saved until every field is right; what was
//! typed is always shown back.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Extension, Form,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde_json::json;

use super::{
    choices, choices_for,
    editor::{self, Choices, Errors, Input, KINDS, RECOMMEND_FOR, SECTIONS, START_TYPES},
};
use crate::{
    admin::{access::Manager, head::ServiceHead},
    audit::Entry,
    catalog::{FacetCache, model::AUDIENCES, notices::render_guide, store},
    error::{AppError, AppResult},
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::ClientIp,
    },
    workflow::store::versions,
};

/// One 办事指南 section in the editor: the text as typed and its preview.
pub struct SectionView {
    pub key: &'static str,
    pub label: &'static str,
    pub html: String,
}

/// The status card of an existing service: where it stands and where it may go.
pub struct StatusView {
    pub status: String,
    pub label: &'static str,
    /// (to, button label, what it does)
    pub moves: Vec<(&'static str, &'static str, &'static str)>,
    /// Why 发布 is not offered yet (an online service without a published form).
    pub blocked: Option<&'static str>,
    /// Has applications: 删除 is not offered (下线 is).
    pub has_applications: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/services_edit.html")]
pub struct EditTemplate {
    pub page: Page,
    /// The service's header and tabs (`None`: 新建服务).
    pub head: Option<ServiceHead>,
    pub form: Input,
    pub errors: Errors,
    pub choices: Choices,
    pub sections: Vec<SectionView>,
    /// Above the form: the page is stale, or nothing could be saved.
    pub alert: Option<String>,
    pub action: String,
    pub status: Option<StatusView>,
    pub script: String,
    pub audiences: &'static [(&'static str, &'static str)],
    pub kinds: &'static [(&'static str, &'static str)],
    pub start_types: &'static [(&'static str, &'static str)],
    pub recommend: &'static [(&'static str, &'static str)],
    pub section_max: usize,
}

impl EditTemplate {
    pub fn err(&self, key: &str) -> Option<&str> {
        self.errors.get(key)
    }
}

/// What an online service lacks before it may be published.
pub(super) const NEEDS_VERSION: &str =
    "在线办理的服务须先在“表单设计”“流程设计”中设计表单与流程，并在“版本”中发布，才能发布服务。";

/// The transitions of a service's status: draft → published → offline → published, and
/// an offline service back to draft for rework.
pub(super) fn moves(status: &str) -> Vec<(&'static str, &'static str, &'static str)> {
    match status {
        "draft" => vec![("published", "发布", "发布后出现在服务中心、搜索和首页")],
        "published" => vec![(
            "offline",
            "下线",
            "立即从服务中心、搜索和首页移除，进行中的申请继续办理至办结",
        )],
        "offline" => vec![
            ("published", "重新发布", "重新出现在服务中心、搜索和首页"),
            ("draft", "转为草稿", "作为草稿继续修改，不对外显示"),
        ],
        _ => vec![],
    }
}

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &AppState,
    page: Page,
    id: Option<i64>,
    form: Input,
    errors: Errors,
    choices: Choices,
    alert: Option<String>,
) -> AppResult<EditTemplate> {
    let (head, status) = match id {
        None => (None, None),
        Some(id) => {
            let head = ServiceHead::load(&state.db, id, "service").await?;
            let has_applications = versions::has_applications(&state.db, id).await?;
            let blocked =
                (head.kind == "online" && head.current.is_none() && head.status != "published")
                    .then_some(NEEDS_VERSION);
            let status = StatusView {
                status: head.status.clone(),
                label: head.status_label(),
                moves: moves(&head.status),
                blocked,
                has_applications,
            };
            (Some(head), Some(status))
        }
    };
    let sections = SECTIONS
        .iter()
        .map(|(key, label)| SectionView {
            key,
            label,
            html: render_guide(form.v(key)),
        })
        .collect();
    Ok(EditTemplate {
        page,
        action: match id {
            Some(id) => format!("/admin/services/{id}"),
            None => "/admin/services".into(),
        },
        head,
        form,
        errors,
        choices,
        sections,
        alert,
        status,
        script: state.assets.url("js/admin-services.js"),
        audiences: AUDIENCES,
        kinds: &KINDS,
        start_types: &START_TYPES,
        recommend: &RECOMMEND_FOR,
        section_max: editor::SECTION_MAX,
    })
}

fn with_status(status: StatusCode, t: EditTemplate) -> Response {
    (status, t).into_response()
}

/// A 服务管理员 creates services only in departments of their own.
fn may_create(m: &Manager, choices: &Choices) -> AppResult<()> {
    if m.all || !choices.departments.is_empty() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "您管理的是单项服务，没有可以新建服务的部门。",
        ))
    }
}

/// `GET /admin/services/new`
pub(in crate::admin) async fn new(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
) -> AppResult<EditTemplate> {
    let choices = choices(&state.db, &m, None, &[]).await?;
    may_create(&m, &choices)?;
    let mut form = Input::default();
    form.set("kind", "online".into());
    if let [(only, _)] = choices.departments.as_slice() {
        form.set("department", only.to_string());
    }
    render(&state, page, None, form, Errors::default(), choices, None).await
}

fn previewing(form: &Input) -> bool {
    form.v("intent") == "preview"
}

/// `POST /admin/services`: 新建服务 (a draft), or 预览 of what was typed.
pub(in crate::admin) async fn create(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let choices = choices(&state.db, &m, None, &[]).await?;
    may_create(&m, &choices)?;
    let mut form = Input::from_pairs(pairs);
    let code = form.v("code").trim().to_ascii_uppercase();
    form.set("code", code);
    if previewing(&form) {
        let t = render(&state, page, None, form, Errors::default(), choices, None).await?;
        return Ok(t.into_response());
    }
    let mut errors = match editor::validate(&form, &choices, true) {
        Err(e) => e,
        Ok(s) => {
            // A code taken meanwhile inserts nothing, and is reported below.
            let mut tx = state.db.begin().await?;
            if let Some(id) = store::insert_service(&mut tx, &s, state.now()).await? {
                // Whoever creates a service administers it: a new approval node's default
                // fallback (本服务的服务管理员) then has someone to ask, as on the demo
                // services, and nothing else in 管理后台 names a service's administrators.
                store::add_admin(&mut tx, id, m.id()).await?;
                Entry::about(format!("service:{id}"), "service.create")
                    .by(Some(m.id()))
                    .ip(ip)
                    .detail(json!({ "code": s.code, "name": s.name }))
                    .record(&mut *tx, state.now())
                    .await?;
                tx.commit().await?;
                let next = if s.kind == "online" {
                    "接下来请设计表单与流程并发布版本，再发布服务。"
                } else {
                    "检查无误后即可发布。"
                };
                flash(
                    &flashes,
                    "success",
                    format!("已创建服务“{}”（草稿）。{next}", s.name),
                );
                return Ok(Redirect::to(&format!("/admin/services/{id}")).into_response());
            }
            Errors::default()
        }
    };
    if errors.get("code").is_none()
        && let Some(name) = store::name_of_code(&state.db, form.v("code")).await?
    {
        errors.add("code", format!("该编码已被服务“{name}”使用，请换一个"));
    }
    let t = render(&state, page, None, form, errors, choices, None).await?;
    Ok(with_status(StatusCode::UNPROCESSABLE_ENTITY, t))
}

/// `GET /admin/services/{id}`: 基本信息.
pub(in crate::admin) async fn edit(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<EditTemplate> {
    m.service(&state.db, id).await?;
    let stored = store::stored(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let choices = choices_for(&state.db, &m, &stored.service).await?;
    let form = Input::from_service(&stored.service, Some(stored.updated_at.timestamp_micros()));
    render(
        &state,
        page,
        Some(id),
        form,
        Errors::default(),
        choices,
        None,
    )
    .await
}

const STALE: &str = "保存失败：该服务已被他人修改。您填写的内容仍在下方，尚未保存；再次保存将以您的内容覆盖对方的修改，或重新打开本页查看对方的修改。";

/// `POST /admin/services/{id}`: saves 基本信息 (or shows 预览 of what was typed), if the
/// service is still as the page showed it.
#[allow(clippy::too_many_arguments)]
pub(in crate::admin) async fn update(
    State(state): State<AppState>,
    Extension(facets): Extension<Arc<FacetCache>>,
    m: Manager,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    m.service(&state.db, id).await?;
    let stored = store::stored(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let choices = choices_for(&state.db, &m, &stored.service).await?;
    let mut form = Input::from_pairs(pairs);
    form.set("code", stored.service.code.clone());
    if previewing(&form) {
        let t = render(
            &state,
            page,
            Some(id),
            form,
            Errors::default(),
            choices,
            None,
        )
        .await?;
        return Ok(t.into_response());
    }
    let stamp = stored.updated_at.timestamp_micros();
    let mut s = match editor::validate(&form, &choices, false) {
        Ok(s) => s,
        Err(errors) => {
            let t = render(&state, page, Some(id), form, errors, choices, None).await?;
            return Ok(with_status(StatusCode::UNPROCESSABLE_ENTITY, t));
        }
    };
    s.code = stored.service.code.clone();
    s.status = stored.service.status.clone();
    if form.stamp() != Some(stamp) {
        return stale(&state, page, id, form, choices, stamp).await;
    }
    if s.kind == "online"
        && s.status == "published"
        && stored.service.kind != "online"
        && versions::current_number(&state.db, id).await?.is_none()
    {
        let mut errors = Errors::default();
        errors.add(
            "kind",
            "该服务已发布。改为在线办理前，须先设计并发布表单与流程（表单设计、流程设计、版本）。",
        );
        let t = render(&state, page, Some(id), form, errors, choices, None).await?;
        return Ok(with_status(StatusCode::UNPROCESSABLE_ENTITY, t));
    }
    let changed = editor::changed(&stored.service, &s);
    if changed.is_empty() {
        flash(&flashes, "info", "没有需要保存的修改。");
        return Ok(Redirect::to(&format!("/admin/services/{id}")).into_response());
    }
    let mut tx = state.db.begin().await?;
    if !store::update_service(&mut tx, id, &s, stored.updated_at, state.now()).await? {
        drop(tx);
        let now = store::stored(&state.db, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let fresh = now.updated_at.timestamp_micros();
        return stale(&state, page, id, form, choices, fresh).await;
    }
    Entry::about(format!("service:{id}"), "service.update")
        .by(Some(m.id()))
        .ip(ip)
        .detail(json!({ "code": s.code, "fields": changed }))
        .record(&mut *tx, state.now())
        .await?;
    let public = s.status == "published";
    if public {
        // Name, category or department may have moved it between the facets.
        versions::announce(&mut tx, id).await?;
    }
    tx.commit().await?;
    if public {
        facets.invalidate();
    }
    flash(&flashes, "success", "已保存。");
    Ok(Redirect::to(&format!("/admin/services/{id}")).into_response())
}

/// The conflict page: what was typed, unsaved, with the stamp of the stored version, so
/// saving again knowingly overwrites it.
async fn stale(
    state: &AppState,
    page: Page,
    id: i64,
    mut form: Input,
    choices: Choices,
    stamp: i64,
) -> AppResult<Response> {
    form.set("stamp", stamp.to_string());
    let t = render(
        state,
        page,
        Some(id),
        form,
        Errors::default(),
        choices,
        Some(STALE.into()),
    )
    .await?;
    Ok(with_status(StatusCode::CONFLICT, t))
}

/// `POST /admin/services/preview` (`text`): the sanitised HTML of one 办事指南 section, for
/// the editor's live preview.
pub(in crate::admin) async fn markdown(
    _m: Manager,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let text = pairs
        .iter()
        .find(|(k, _)| k == "text")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if text.contains('\0') {
        return Err(AppError::BadRequest(crate::forms::input::NUL_MESSAGE));
    }
    if text.chars().count() > editor::SECTION_MAX {
        return Err(AppError::BadRequest("内容过长，无法预览。"));
    }
    Ok((
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        render_guide(text),
    )
        .into_response())
}
