//! 管理后台: people (search, lockout release), the audit log, the outbox (系统管理员
//! only; the log in `audit.rs`, deliveries in `outbox.rs`); and the service pages, open to 服务管理员 within their departments
//! (`access.rs`): 服务管理 (`services/`), 表单设计 (`form_designer/`), versions and
//! publishing (`versions.rs`), service packages (`packages.rs`).

pub mod access;
mod audit;
mod bundles;
mod calendar;
mod confirm;
mod content;
mod departments;
mod documents;
mod form_designer;
mod head;
mod outbox;
mod packages;
mod people;
pub mod people_import;
mod services;
mod sso;
mod versions;
mod workflow_designer;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Router,
    extract::State,
    routing::{get, post},
};

use access::Manager;

use crate::{error::AppResult, web::AppState, web::page::Page};

/// The admin routes. Those about one service (`/admin/services/{id}/…`) pass
/// `access::guard` first: someone who may not manage that service is refused before
/// anything of the request is read (a 服务管理员 of another department gets 403, not a
/// 422 about the form they posted).
pub fn routes(state: &AppState) -> Router<AppState> {
    let one_service = Router::new()
        .route(
            "/admin/services/{id}",
            get(services::edit).post(services::update),
        )
        .route("/admin/services/{id}/status", post(services::status))
        .route("/admin/services/{id}/delete", post(services::delete))
        .route("/admin/services/{id}/preview", get(services::guide))
        .route("/admin/services/{id}/export", get(packages::export))
        .route("/admin/services/{id}/versions", get(versions::page))
        .route("/admin/services/{id}/publish", post(versions::publish))
        .route("/admin/services/{id}/rollback", post(versions::rollback))
        .route(
            "/admin/services/{id}/draft/discard",
            post(versions::discard),
        )
        .merge(form_designer::routes())
        .route(
            "/admin/services/{id}/document",
            get(documents::page).post(documents::save),
        )
        .route(
            "/admin/services/{id}/document/seal",
            post(documents::upload_seal),
        )
        .route(
            "/admin/services/{id}/workflow",
            get(workflow_designer::page).post(workflow_designer::post),
        )
        .route(
            "/admin/services/{id}/workflow/trial",
            get(workflow_designer::trial_page).post(workflow_designer::trial_post),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::guard,
        ));
    Router::new()
        .route("/admin", get(overview))
        // 人员管理; `/admin/users` is its old address.
        .route("/admin/users", get(people::list))
        .route("/admin/users/{id}/unlock", post(people::unlock))
        .route("/admin/people", get(people::list).post(people::create))
        .route("/admin/people/new", get(people::new))
        .route("/admin/people/{id}", get(people::show).post(people::edit))
        .route("/admin/people/{id}/disable", post(people::disable))
        .route("/admin/people/{id}/enable", post(people::enable))
        .route("/admin/people/{id}/unlock", post(people::unlock))
        .route(
            "/admin/people/{id}/reset-password",
            post(people::reset_password),
        )
        .route(
            "/admin/people/{id}/activation-code",
            post(people::activation_code),
        )
        .route("/admin/people/{id}/roles", post(people::grant))
        .route(
            "/admin/people/{id}/roles/{grant}/revoke",
            post(people::revoke),
        )
        .route(
            "/admin/people/{id}/tasks/transfer",
            post(people::transfer_all),
        )
        .route(
            "/admin/people/{id}/tasks/{task}/transfer",
            post(people::transfer),
        )
        .route(
            "/admin/departments",
            get(departments::page).post(departments::create),
        )
        .route("/admin/departments/{id}/rename", post(departments::rename))
        .route("/admin/departments/{id}/move", post(departments::move_to))
        .route(
            "/admin/departments/{id}/deactivate",
            post(departments::deactivate),
        )
        .route(
            "/admin/departments/{id}/activate",
            post(departments::activate),
        )
        .route("/admin/bundles", get(bundles::list).post(bundles::create))
        .route("/admin/calendar", get(calendar::page).post(calendar::add))
        .route("/admin/calendar/{id}/delete", post(calendar::delete))
        .route("/admin/sso", get(sso::list).post(sso::create))
        .route("/admin/sso/new", get(sso::new))
        .route("/admin/sso/keys/rotate", post(sso::rotate_key))
        .route("/admin/sso/{id}", get(sso::edit).post(sso::update))
        .route("/admin/sso/{id}/secret", post(sso::secret))
        .route("/admin/sso/{id}/status", post(sso::status))
        .route(
            "/admin/bundles/{id}",
            get(bundles::edit).post(bundles::update),
        )
        .route("/admin/bundles/{id}/status", post(bundles::status))
        .route("/admin/audit", get(audit::page))
        .route("/admin/audit/export", get(audit::export))
        .route("/admin/outbox", get(outbox::page))
        .route("/admin/outbox/retry", post(outbox::retry_channel))
        .route("/admin/outbox/{id}/retry", post(outbox::retry_one))
        .route(
            "/admin/services",
            get(services::list).post(services::create),
        )
        .route("/admin/services/new", get(services::new))
        .route("/admin/services/preview", post(services::markdown))
        .route(
            "/admin/services/import",
            get(packages::import_page).post(packages::import_upload),
        )
        .route(
            "/admin/services/import/confirm",
            post(packages::import_confirm),
        )
        .merge(content::routes())
        .route(
            "/admin/people/import",
            get(people_import::upload_page)
                .post(people_import::upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    people_import::MAX_FILE + 64 * 1024,
                )),
        )
        .route("/admin/people/import/{id}", get(people_import::show))
        .route(
            "/admin/people/import/{id}/confirm",
            post(people_import::confirm),
        )
        .route(
            "/admin/people/import/{id}/refused.csv",
            get(people_import::refused_csv),
        )
        .route(
            "/admin/people/import/{id}/codes",
            post(people_import::codes),
        )
        .merge(one_service)
        // A 填报任务's form: its own access check (the owner or a 系统管理员), not the
        // service guard's.
        .merge(form_designer::collection_routes())
}

/// The 系统管理员's figures on the overview.
pub struct AdminStats {
    pub active: i64,
    pub inactive: i64,
    pub locked_now: i64,
    pub departments: i64,
    pub failures_today: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/overview.html")]
pub struct OverviewTemplate {
    pub page: Page,
    /// `None` for a 服务管理员, who sees 服务管理 only.
    pub stats: Option<AdminStats>,
    /// Services in this person's scope: all, published.
    pub services: i64,
    pub published: i64,
}

/// `/admin`: everything for a 系统管理员; 服务管理 for a 服务管理员; 403 for anyone else.
async fn overview(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
) -> AppResult<OverviewTemplate> {
    let now = state.now();
    let stats = if m.user.is_admin {
        let (active, inactive, departments, failures_today): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM users WHERE status = 'active'),
                    (SELECT count(*) FROM users WHERE status = 'inactive'),
                    (SELECT count(*) FROM departments),
                    (SELECT count(*) FROM login_attempts WHERE NOT success AND at > $1 - interval '1 day')",
        )
        .bind(now)
        .fetch_one(&state.db)
        .await?;
        // Locked: the one reading of `lockouts` (identity::lockout).
        let locked_now = crate::identity::lockout::locked_ids(&state.db, now)
            .await?
            .len() as i64;
        Some(AdminStats {
            active,
            inactive,
            locked_now,
            departments,
            failures_today,
        })
    } else {
        None
    };
    let (services, published): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE status = 'published') FROM services
         WHERE $1::bigint[] IS NULL OR id = ANY($1)",
    )
    .bind(m.service_ids(&state.db).await?)
    .fetch_one(&state.db)
    .await?;
    Ok(OverviewTemplate {
        page,
        stats,
        services,
        published,
    })
}
