//! 一事联办: the bundles, a bundle's page (its services and departments, or what keeps
//! this person from starting it), the joint form, and a run's page.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use super::ctx;
use crate::{
    error::AppResult,
    forms::render::FieldView,
    web::AppState,
    web::{
        page::{Flashes, Page, flash},
        user::{ClientIp, CurrentUser, MaybeUser, urlencode},
    },
    workflow::usecase::bundle::{self, Blocked, BundleForm, BundleInfo, BundlePosted, RunView},
};

#[derive(Template, WebTemplate)]
#[template(path = "workflow/bundles.html")]
pub struct ListTemplate {
    pub page: Page,
    pub bundles: Vec<BundleInfo>,
}

/// `GET /bundles`: 一事联办.
pub(super) async fn list(State(state): State<AppState>, page: Page) -> AppResult<ListTemplate> {
    Ok(ListTemplate {
        page,
        bundles: bundle::list(&state.db).await?,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "workflow/bundle.html")]
pub struct GuideTemplate {
    pub page: Page,
    pub b: BundleInfo,
    pub signed_in: bool,
    /// What keeps this person from starting it (empty: 立即办理 is offered).
    pub blocked: Vec<Blocked>,
}

/// `GET /bundles/{id}`: its services and their departments; 立即办理 when every one of
/// them may be started by this person.
pub(super) async fn guide(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<GuideTemplate> {
    let b = bundle::info(&state.db, id).await?;
    let blocked = match &user {
        Some(u) => bundle::members(&state.db, u, &b)
            .await?
            .err()
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(GuideTemplate {
        page,
        signed_in: user.is_some(),
        b,
        blocked,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "workflow/bundle_form.html")]
pub struct FormTemplate {
    pub page: Page,
    pub b: BundleInfo,
    pub fields: Vec<FieldView>,
    pub error_summary: Vec<(String, String)>,
    pub once: String,
}

fn render(page: Page, f: BundleForm) -> Response {
    let status = if f.invalid {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (
        status,
        FormTemplate {
            page,
            b: f.bundle,
            fields: f.fields,
            error_summary: f.error_summary,
            once: f.once.to_string(),
        },
    )
        .into_response()
}

/// Back to the bundle's page, which says what is in the way.
fn blocked(flashes: &Flashes, id: i64) -> Response {
    flash(
        flashes,
        "error",
        "其中有您暂不能在线发起的事项，请查看说明。",
    );
    Redirect::to(&format!("/bundles/{id}")).into_response()
}

/// `GET /bundles/{id}/apply`: the joint form.
pub(super) async fn form(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let Some(user) = user else {
        let next = urlencode(&format!("/bundles/{id}"));
        return Ok(Redirect::to(&format!("/login?next={next}")).into_response());
    };
    let b = bundle::info(&state.db, id).await?;
    let Ok(ms) = bundle::members(&state.db, &user, &b).await? else {
        return Ok(blocked(&flashes, id));
    };
    let f = bundle::open(&state.db, &state.secret_key, state.today(), &user, b, &ms).await?;
    Ok(render(page, f))
}

/// `POST /bundles/{id}/apply`: 提交 — every application, or none.
pub(super) async fn submit(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let b = bundle::info(&state.db, id).await?;
    let Ok(ms) = bundle::members(&state.db, &user, &b).await? else {
        return Ok(blocked(&flashes, id));
    };
    let c = ctx(&state, &user, ip).await;
    Ok(
        match bundle::post(&state.db, &c, &user, b, &ms, &pairs).await? {
            BundlePosted::Form(f) => render(page, f),
            BundlePosted::Run { run_id, serials } => {
                flash(
                    &flashes,
                    "success",
                    format!(
                        "已提交 {} 项申请，流水号 {}",
                        serials.len(),
                        serials.join("、")
                    ),
                );
                Redirect::to(&format!("/bundles/runs/{run_id}")).into_response()
            }
            BundlePosted::Again { run_id } => {
                flash(
                    &flashes,
                    "info",
                    "这份表单已经提交过，以下是当时发起的事项。",
                );
                Redirect::to(&format!("/bundles/runs/{run_id}")).into_response()
            }
        },
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "workflow/bundle_run.html")]
pub struct RunTemplate {
    pub page: Page,
    pub r: RunView,
}

/// `GET /bundles/runs/{id}`: the applicant's run; anyone else 404.
pub(super) async fn run(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<RunTemplate> {
    Ok(RunTemplate {
        page,
        r: bundle::run(&state.db, state.settings.time_zone, &user, id).await?,
    })
}
