//! 管理后台: people (search, lockout release), the audit log, the outbox (系统管理员
//! only; the log in `audit.rs`, deliveries in `outbox.rs`); and the service pages, open to 服务管理员 within their departments
//! (`access.rs`): 服务管理 (`services/`), 表单设计 (`form_designer/`), versions and
//! publishing (`versions.rs`), service packages (`packages.rs`).

pub mod access;
mod audit;
mod confirm;
mod content;
mod form_designer;
mod head;
mod outbox;
mod packages;
mod services;
mod versions;
mod workflow_designer;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use access::Manager;

use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    web::AppState,
    web::page::{Flashes, Page, flash},
    web::user::{AdminUser, ClientIp, user_type_label},
};

const PAGE_SIZE: i64 = 50;

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
        .route("/admin/users", get(users))
        .route("/admin/users/{id}/unlock", post(unlock))
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
        .merge(one_service)
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
        let (active, inactive, departments, locked_now, failures_today): (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM users WHERE status = 'active'),
                    (SELECT count(*) FROM users WHERE status = 'inactive'),
                    (SELECT count(*) FROM departments),
                    (SELECT count(*) FROM lockouts WHERE locked_until > $1 AND subject LIKE 'u:%'),
                    (SELECT count(*) FROM login_attempts WHERE NOT success AND at > $1 - interval '1 day')",
        )
        .bind(now)
        .fetch_one(&state.db)
        .await?;
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

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

pub struct UserRow {
    pub id: i64,
    pub account: String,
    pub name: String,
    pub user_type: &'static str,
    pub department: String,
    pub status: &'static str,
    pub locked_until: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
pub struct UsersTemplate {
    pub page: Page,
    pub q: String,
    pub rows: Vec<UserRow>,
    pub page_no: i64,
    pub has_next: bool,
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

async fn users(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<UsersTemplate> {
    let page_no = q.page.unwrap_or(1).max(1);
    let term = q.q.trim().chars().take(64).collect::<String>();
    let pattern = format!("%{}%", escape_like(&term));
    let now = state.now();
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        i64,
        String,
        String,
        String,
        Option<String>,
        String,
        Option<DateTime<Utc>>,
    )> = sqlx::query_as(
        "SELECT u.id, u.account, u.name, u.user_type, d.name, u.status, l.locked_until
         FROM users u
         LEFT JOIN departments d ON d.id = u.department_id
         LEFT JOIN lockouts l ON l.subject = 'u:' || u.id AND l.locked_until > $4
         WHERE $1 = '' OR u.account ILIKE $2 OR u.name ILIKE $2
         ORDER BY u.account LIMIT $3 OFFSET $5",
    )
    .bind(&term)
    .bind(&pattern)
    .bind(PAGE_SIZE + 1)
    .bind(now)
    .bind((page_no - 1) * PAGE_SIZE)
    .fetch_all(&state.db)
    .await?;
    let has_next = rows.len() as i64 > PAGE_SIZE;
    let tz = state.settings.time_zone;
    let rows = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|(id, account, name, t, d, status, locked)| UserRow {
            id,
            account,
            name,
            user_type: user_type_label(&t),
            department: d.unwrap_or_default(),
            status: match status.as_str() {
                "active" => "正常",
                "inactive" => "未激活",
                _ => "已停用",
            },
            locked_until: locked.map(|l| l.with_timezone(&tz).format("%m-%d %H:%M").to_string()),
        })
        .collect();
    Ok(UsersTemplate {
        page,
        q: term,
        rows,
        page_no,
        has_next,
    })
}

async fn unlock(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let account: Option<String> = sqlx::query_scalar("SELECT account FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let account = account.ok_or(AppError::NotFound)?;
    sqlx::query("DELETE FROM lockouts WHERE subject = $1")
        .bind(format!("u:{id}"))
        .execute(&mut *tx)
        .await?;
    Entry::user(id, "account.unlock")
        .by(Some(admin.id))
        .ip(ip)
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(
        &flashes,
        "success",
        format!("已解除账号 {account} 的登录锁定。"),
    );
    Ok(Redirect::to(&format!(
        "/admin/users?q={}",
        crate::web::user::urlencode(&account)
    ))
    .into_response())
}
