//! 服务指南: the page of one service, for the person looking at it; 管理后台's preview
//! renders the same page for a chosen kind of person (`guide_page`).

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Extension,
    extract::{Path, State},
};

use super::{Chip, GuideSteps, ServiceDetail, favorite_ids, load_service, model};
use crate::{
    error::AppResult,
    web::{AppState, page::Page, user::MaybeUser},
};

#[derive(Template, WebTemplate)]
#[template(path = "catalog/guide.html")]
pub struct GuideTemplate {
    pub page: Page,
    pub s: ServiceDetail,
    /// The viewer is signed in (offered 收藏; a visitor is offered 登录后收藏).
    pub signed_in: bool,
    pub favorited: bool,
    /// Why the signed-in viewer may not start it (None: may, or a visitor).
    pub refusal: Option<String>,
    pub who: String,
    pub updated: String,
    pub here: String,
    /// 里程碑 preview: the approval steps of the current workflow.
    pub steps: Vec<String>,
    /// Shown to 管理后台 as another kind of person would see it (nothing acts).
    pub preview: Option<GuidePreview>,
}

/// The banner of a guide shown in 管理后台's preview: as whom, and how to switch.
pub struct GuidePreview {
    /// 学生, 教师, 职工, 访客.
    pub as_label: &'static str,
    /// The kinds of viewer to switch to (the current one active).
    pub switch: Vec<Chip>,
    /// Back to the editor.
    pub back: String,
    /// What else to know: the service is not public, other limits, no form yet.
    pub notes: Vec<String>,
}

/// Who looks at a guide: the page's rendering depends on nothing else.
pub struct Viewer<'a> {
    /// student / teacher / staff; `None`: a visitor (not signed in).
    pub user_type: Option<&'a str>,
    /// Why this viewer may not start the service (`start_refusal` or `type_refusal`).
    pub refusal: Option<String>,
    pub favorited: bool,
}

/// The 服务指南 page of `s` for `viewer`: the public page and 管理后台's preview share it.
pub async fn guide_page(
    state: &AppState,
    page: Page,
    s: ServiceDetail,
    steps: Vec<String>,
    viewer: Viewer<'_>,
    preview: Option<GuidePreview>,
) -> AppResult<GuideTemplate> {
    let rule = s.rule();
    let refusal = if s.kind == "online" && viewer.user_type.is_some() {
        viewer.refusal
    } else {
        None
    };
    Ok(GuideTemplate {
        page,
        steps,
        here: format!("/services/{}", s.id),
        who: model::who_may_start(&state.db, &rule).await?,
        updated: s
            .updated_at
            .with_timezone(&state.settings.time_zone)
            .format("%Y-%m-%d")
            .to_string(),
        s,
        signed_in: viewer.user_type.is_some(),
        favorited: viewer.favorited,
        refusal,
        preview,
    })
}

pub(super) async fn guide(
    State(state): State<AppState>,
    Extension(steps): Extension<GuideSteps>,
    MaybeUser(user): MaybeUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<GuideTemplate> {
    let s = load_service(&state.db, id, user.as_ref()).await?;
    let refusal = match (&user, s.kind.as_str()) {
        (Some(u), "online") => model::start_refusal(&state.db, &s.rule(), u).await?,
        _ => None,
    };
    let favorited = !favorite_ids(&state.db, user.as_ref(), "service", &[s.id])
        .await?
        .is_empty();
    let steps = (steps.0)(state.db.clone(), s.id).await?;
    let viewer = Viewer {
        user_type: user.as_ref().map(|u| u.user_type.as_str()),
        refusal,
        favorited,
    };
    guide_page(&state, page, s, steps, viewer, None).await
}
