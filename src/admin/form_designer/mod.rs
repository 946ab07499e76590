//! 表单设计 (`/admin/services/{id}/form`): the working copy's fields in order with their
//! problems, adding a field of one of the 19 types, 上移 / 下移 / 删除 and reordering by
//! dragging (`static/js/form-designer.js`, which posts the new order of keys), the field
//! and column editor (`editor.rs`), and a live preview of the form as the applicant sees
//! it. Every change saves the working copy at the revision the page showed
//! (`usecase::versions::save`, which audits); publishing is the 版本 page's.

mod editor;
mod input;
mod list;
mod refs;
mod view;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Router,
    extract::{Path, Query, State},
    routing::{get, post},
};
use serde::Deserialize;

use self::view::{KindGroup, Row};
use super::{access::Manager, head::ServiceHead};
use crate::{
    error::AppResult,
    forms::render::FieldView,
    web::{AppState, page::Page},
    workflow::usecase::versions as uc,
};

pub const STALE: &str = "草稿已被他人修改，请刷新后再试";

pub fn routes() -> Router<AppState> {
    let base = "/admin/services/{id}/form";
    let field = "/admin/services/{id}/form/fields/{key}";
    let column = "/admin/services/{id}/form/fields/{key}/columns/{col}";
    Router::new()
        .route(base, get(page))
        .route(&format!("{base}/fields"), post(list::add_field))
        .route(&format!("{base}/order"), post(list::order_fields))
        .route(field, get(editor::edit_field).post(editor::save_field))
        .route(&format!("{field}/preview"), post(editor::preview_field))
        .route(&format!("{field}/move"), post(list::move_field))
        .route(&format!("{field}/delete"), post(list::delete_field))
        .route(&format!("{field}/columns"), post(list::add_column))
        .route(&format!("{field}/column-order"), post(list::order_columns))
        .route(column, get(editor::edit_column).post(editor::save_column))
        .route(&format!("{column}/preview"), post(editor::preview_column))
        .route(&format!("{column}/move"), post(list::move_column))
        .route(&format!("{column}/delete"), post(list::delete_column))
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

pub fn designer_url(id: i64) -> String {
    format!("/admin/services/{id}/form")
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/form_designer.html")]
pub struct DesignerTemplate {
    pub page: Page,
    pub head: ServiceHead,
    pub js: String,
    pub revision: String,
    /// The page's own address (it is also shown after a refused action, at that URL).
    pub here: String,
    /// Who saved the working copy when, or `None` while it is the current version.
    pub saved: Option<String>,
    pub rows: Vec<Row>,
    pub order_url: String,
    pub problems: Vec<String>,
    pub palette: Vec<KindGroup>,
    /// The preview.
    pub fields: Vec<FieldView>,
    pub phone: bool,
    pub error: Option<String>,
}

/// `GET /admin/services/{id}/form`
async fn page(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    Path(id): Path<i64>,
    Query(q): Query<PreviewQuery>,
) -> AppResult<DesignerTemplate> {
    m.service(&state.db, id).await?;
    designer(&state, &m, page, id, q.phone(), None).await
}

pub(super) async fn designer(
    state: &AppState,
    m: &Manager,
    page: Page,
    id: i64,
    phone: bool,
    error: Option<String>,
) -> AppResult<DesignerTemplate> {
    let head = ServiceHead::load(&state.db, id, "form").await?;
    let wc = uc::working_copy(&state.db, id).await?;
    let tz = state.settings.time_zone;
    let saved = wc.saved.as_ref().map(|d| {
        format!(
            "{} 于 {} 保存（修订 {}）",
            d.updated_by.as_deref().unwrap_or("系统"),
            d.updated_at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            d.revision
        )
    });
    Ok(DesignerTemplate {
        js: state.assets.url("js/form-designer.js"),
        revision: revision_text(wc.revision),
        here: designer_url(id),
        saved,
        rows: view::rows(&wc.form.fields, false, |k| view::field_url(id, k)),
        order_url: format!("{}/order", designer_url(id)),
        problems: uc::problems(&wc.form, &wc.workflow),
        palette: view::palette(),
        fields: view::preview(&state.db, &m.user, &wc.form, &wc.workflow).await?,
        phone,
        error,
        head,
        page,
    })
}
