//! The application page: status, 里程碑, the form as the viewer may see it, the approver's
//! panel, 流程 and 流转记录.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use crate::{
    error::AppResult,
    web::AppState,
    web::{page::Page, user::CurrentUser},
    workflow::usecase::read::{self, AppView},
};

#[derive(Template, WebTemplate)]
#[template(path = "workflow/application.html")]
pub struct ShowTemplate {
    pub page: Page,
    pub v: AppView,
}

// The template names the view's fields directly (`app_id`, `fields`…), as the partials
// it shares with the form page expect.
impl std::ops::Deref for ShowTemplate {
    type Target = AppView;
    fn deref(&self) -> &AppView {
        &self.v
    }
}

pub(super) fn render(page: Page, v: AppView) -> Response {
    let status = if v.invalid {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (status, ShowTemplate { page, v }).into_response()
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let tz = state.settings.time_zone;
    Ok(
        match read::application(&state.db, &user, tz, id, None).await? {
            read::Page::View(v) => {
                if !v.tasks.is_empty() {
                    read::mark_opened(&state.db, id, user.id, state.now()).await?;
                }
                crate::notify::inbox::seen_application(&state.db, user.id, id, state.now()).await?;
                render(page, *v)
            }
            read::Page::Draft => Redirect::to(&format!("/applications/{id}/edit")).into_response(),
        },
    )
}

/// A handwritten signature in the 流转记录 (for whoever may see the application).
pub(super) async fn signature(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, flow)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let png = read::signature(&state.db, &user, id, flow).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/png"),
            (axum::http::header::CACHE_CONTROL, "private, max-age=86400"),
        ],
        png,
    )
        .into_response())
}
