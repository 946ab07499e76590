//! 表单设计 (`/admin/services/{id}/form` and `/admin/collections/{id}/form`): the form's
//! fields in order with their problems, adding a field of one of the 19 types, 上移 / 下移
//! / 删除 and reordering by dragging (`static/js/form-designer.js`, which posts the new
//! order of keys), the field and column editor (`editor.rs`), and a live preview of the
//! form as the applicant sees it. The same pages serve a service's working copy and a
//! 填报任务's form (`host.rs`: who may, loading, saving, addresses, the page head). Every
//! change saves the form at the revision the page showed (a service's through
//! `usecase::versions::save`, a 填报任务's through `collect::store::save_form`, both
//! audited); publishing is the 版本 page's, or the 填报任务's.

mod editor;
mod host;
mod input;
mod list;
mod refs;
mod view;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Extension, Router,
    extract::{Query, State},
    routing::{get, post},
};
use serde::Deserialize;

use self::{
    host::{Designer, HostHead, HostKind},
    view::{KindGroup, Row},
};
use crate::{
    error::AppResult,
    forms::render::FieldView,
    web::{AppState, page::Page},
};

/// The service designer's routes (under `access::guard`).
pub fn routes() -> Router<AppState> {
    designer_routes("/admin/services/{id}/form", HostKind::Service)
}

/// The 填报任务 designer's routes (`collect::owned_task` decides who may).
pub fn collection_routes() -> Router<AppState> {
    designer_routes("/admin/collections/{id}/form", HostKind::Collection)
}

fn designer_routes(base: &str, kind: HostKind) -> Router<AppState> {
    let field = format!("{base}/fields/{{key}}");
    let column = format!("{field}/columns/{{col}}");
    Router::new()
        .route(base, get(page))
        .route(&format!("{base}/fields"), post(list::add_field))
        .route(&format!("{base}/order"), post(list::order_fields))
        .route(&field, get(editor::edit_field).post(editor::save_field))
        .route(&format!("{field}/preview"), post(editor::preview_field))
        .route(&format!("{field}/move"), post(list::move_field))
        .route(&format!("{field}/delete"), post(list::delete_field))
        .route(&format!("{field}/columns"), post(list::add_column))
        .route(&format!("{field}/column-order"), post(list::order_columns))
        .route(&column, get(editor::edit_column).post(editor::save_column))
        .route(&format!("{column}/preview"), post(editor::preview_column))
        .route(&format!("{column}/move"), post(list::move_column))
        .route(&format!("{column}/delete"), post(list::delete_column))
        .route_layer(Extension(kind))
}

#[derive(Deserialize, Default)]
pub(super) struct PreviewQuery {
    #[serde(default)]
    preview: Option<String>,
}

impl PreviewQuery {
    fn phone(&self) -> bool {
        self.preview.as_deref() == Some("phone")
    }
}

fn revision_text(r: Option<i32>) -> String {
    r.map(|r| r.to_string()).unwrap_or_default()
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/form_designer.html")]
pub struct DesignerTemplate {
    pub page: Page,
    pub host: HostHead,
    pub js: String,
    pub revision: String,
    /// The page's own address (it is also shown after a refused action, at that URL).
    pub here: String,
    /// Who saved the form when; `None` while a service's is its current version.
    pub saved: Option<String>,
    /// Why the form no longer changes (a published 填报任务).
    pub frozen: Option<&'static str>,
    pub rows: Vec<Row>,
    pub order_url: String,
    pub problems: Vec<String>,
    pub palette: Vec<KindGroup>,
    /// The preview.
    pub fields: Vec<FieldView>,
    pub phone: bool,
    pub error: Option<String>,
}

/// `GET …/form`
async fn page(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    Query(q): Query<PreviewQuery>,
) -> AppResult<DesignerTemplate> {
    designer(&state, &d, page, q.phone(), None).await
}

pub(super) async fn designer(
    state: &AppState,
    d: &Designer,
    page: Page,
    phone: bool,
    error: Option<String>,
) -> AppResult<DesignerTemplate> {
    let host = d.host;
    let head = host.head(state).await?;
    let copy = host.load(state).await?;
    Ok(DesignerTemplate {
        js: state.assets.url("js/form-designer.js"),
        revision: revision_text(copy.revision),
        here: host.url(),
        rows: view::rows(&copy.form.fields, false, |k| host.field_url(k)),
        order_url: format!("{}/order", host.url()),
        problems: host.problems(&copy),
        palette: view::palette(),
        fields: view::preview(&state.db, &d.user, &copy.form, copy.workflow.as_ref()).await?,
        saved: copy.saved,
        frozen: copy.frozen,
        phone,
        error,
        host: head,
        page,
    })
}
