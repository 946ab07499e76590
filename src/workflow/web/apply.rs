//! 立即办理 (the form), 存草稿 / 提交, and the edit page of drafts and returned
//! applications.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use super::ctx;
use crate::{
    catalog::NoPermissionTemplate,
    error::AppResult,
    forms::{input::FormInput, render::FieldView},
    web::AppState,
    web::{
        page::{Flashes, Page, flash},
        user::{ClientIp, CurrentUser, MaybeUser, urlencode},
    },
    workflow::{
        milestones::Milestone,
        usecase::form::{self, FormView, NotStartable, Posted, Target},
    },
};

#[derive(Template, WebTemplate)]
#[template(path = "workflow/apply.html")]
pub struct ApplyTemplate {
    pub page: Page,
    pub service_id: i64,
    pub service_name: String,
    pub department: String,
    pub action: String,
    pub milestones: Vec<Milestone>,
    pub fields: Vec<FieldView>,
    pub error_summary: Vec<(String, String)>,
    pub draft_id: Option<i64>,
    /// What the person picker names as its form (`service=1`, `app=2`).
    pub picker: String,
    pub version: i32,
    pub returned: bool,
    pub once: String,
}

fn render(page: Page, v: FormView) -> Response {
    let status = if v.invalid {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (
        status,
        ApplyTemplate {
            page,
            service_id: v.service_id,
            service_name: v.service_name,
            department: v.department,
            action: v.action,
            milestones: v.milestones,
            fields: v.fields,
            error_summary: v.error_summary,
            draft_id: v.draft_id,
            picker: match v.app_id {
                Some(a) => format!("app={a}"),
                None => format!("service={}", v.service_id),
            },
            version: v.version,
            returned: v.returned,
            once: v.once,
        },
    )
        .into_response()
}

/// 立即办理. Visitors sign in first and come back to the guide; people who may not start
/// the service get a page saying who may and whom to ask.
pub(super) async fn open(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    Ok(
        match form::open(
            &state.db,
            &state.secret_key,
            state.today(),
            user.as_ref(),
            id,
        )
        .await?
        {
            Ok((_, view)) => render(page, view),
            Err(NotStartable::SignIn) => Redirect::to(&format!(
                "/login?next={}",
                urlencode(&format!("/services/{id}"))
            ))
            .into_response(),
            Err(NotStartable::Elsewhere(url)) => Redirect::to(&url).into_response(),
            Err(NotStartable::Refused {
                service,
                reason,
                who,
            }) => (
                StatusCode::FORBIDDEN,
                NoPermissionTemplate {
                    page,
                    s: *service,
                    reason,
                    who,
                },
            )
                .into_response(),
            Err(NotStartable::NoForm) => {
                // A service marked online whose form has not been designed yet.
                flash(
                    &flashes,
                    "info",
                    "该服务的在线表单尚未开放，请按服务指南办理。",
                );
                Redirect::to(&format!("/services/{id}")).into_response()
            }
        },
    )
}

fn posted(flashes: &Flashes, page: Page, p: Posted) -> Response {
    match p {
        Posted::Redirect { to, ok, message } => {
            flash(flashes, if ok { "success" } else { "error" }, message);
            Redirect::to(&to).into_response()
        }
        Posted::Form(view) => render(page, view),
    }
}

/// 提交 / 存草稿 / 添加一行 on a new application.
pub(super) async fn post_new(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Path(id): Path<i64>,
    input: FormInput,
) -> AppResult<Response> {
    let target = Target::New { service_id: id };
    post(&state, &user, &flashes, ip, page, target, input).await
}

/// The same on the applicant's draft or returned application.
pub(super) async fn post_existing(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Path(id): Path<i64>,
    input: FormInput,
) -> AppResult<Response> {
    let target = Target::Existing { app_id: id };
    post(&state, &user, &flashes, ip, page, target, input).await
}

async fn post(
    state: &AppState,
    user: &CurrentUser,
    flashes: &Flashes,
    ip: Option<std::net::IpAddr>,
    page: Page,
    target: Target,
    input: FormInput,
) -> AppResult<Response> {
    let c = ctx(state, user, ip).await;
    let p = form::post(&state.db, &c, user, target, input).await?;
    Ok(posted(flashes, page, p))
}

pub(super) async fn edit_page(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    Ok(render(
        page,
        form::edit(&state.db, state.today(), &user, id).await?,
    ))
}

pub(super) async fn delete_draft(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    form::delete_draft(&state.db, &user, id).await?;
    flash(&flashes, "success", "草稿已删除。");
    Ok(Redirect::to("/center").into_response())
}
