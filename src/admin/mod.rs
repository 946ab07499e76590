//! 管理后台: people (search, lockout release), the audit log, the outbox (系统管理员
//! only); and the service pages, open to 服务管理员 within their departments
//! (`access.rs`): 服务管理 (`services/`), 表单设计 (`form_designer/`), versions and
//! publishing (`versions.rs`), service packages (`packages.rs`).

pub mod access;
mod confirm;
mod form_designer;
mod head;
mod packages;
pub mod people_import;
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
use sqlx::types::ipnetwork::IpNetwork;

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
        .route("/admin/audit", get(audit_log))
        .route("/admin/outbox", get(outbox))
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

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub outcome: String,
    pub details: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/audit.html")]
pub struct AuditTemplate {
    pub page: Page,
    pub q: String,
    pub rows: Vec<AuditRow>,
    pub page_no: i64,
    pub has_next: bool,
}

async fn audit_log(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<AuditTemplate> {
    let page_no = q.page.unwrap_or(1).max(1);
    let term = q.q.trim().chars().take(64).collect::<String>();
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        DateTime<Utc>,
        Option<String>,
        Option<String>,
        String,
        String,
        Option<IpNetwork>,
        String,
        serde_json::Value,
    )> = sqlx::query_as(
        "SELECT a.at, u.account, u.name, a.action, a.target, a.ip, a.outcome, a.details
             FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
             WHERE $1 = '' OR a.action = $1 OR u.account = $1
             ORDER BY a.id DESC LIMIT $2 OFFSET $3",
    )
    .bind(&term)
    .bind(PAGE_SIZE + 1)
    .bind((page_no - 1) * PAGE_SIZE)
    .fetch_all(&state.db)
    .await?;
    let has_next = rows.len() as i64 > PAGE_SIZE;
    let tz = state.settings.time_zone;
    let rows = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(
            |(at, account, name, action, target, ip, outcome, details)| AuditRow {
                at: at
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                actor: match (account, name) {
                    (Some(a), Some(n)) => format!("{n}（{a}）"),
                    _ => "—".into(),
                },
                action,
                target,
                ip: ip.map(|i| i.ip().to_string()).unwrap_or_default(),
                outcome,
                details: details.to_string(),
            },
        )
        .collect();
    Ok(AuditTemplate {
        page,
        q: term,
        rows,
        page_no,
        has_next,
    })
}

pub struct OutboxRow {
    pub id: i64,
    pub channel: String,
    pub recipient: String,
    pub kind: String,
    pub attempts: i32,
    pub state: &'static str,
    pub error: String,
    pub at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/outbox.html")]
pub struct OutboxTemplate {
    pub page: Page,
    pub rows: Vec<OutboxRow>,
    pub pending: i64,
    pub failed: i64,
}

/// Notifications not delivered (yet): failures with their error, for the administrators.
async fn outbox(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
) -> AppResult<OutboxTemplate> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(i64, String, String, String, i32, Option<DateTime<Utc>>, Option<String>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT o.id, o.channel, u.name || '（' || u.account || '）', o.kind, o.attempts, o.failed_at, o.last_error, o.created_at
         FROM outbox o JOIN users u ON u.id = o.recipient_id
         WHERE o.delivered_at IS NULL ORDER BY o.failed_at DESC NULLS LAST, o.id DESC LIMIT 200",
    )
    .fetch_all(&state.db)
    .await?;
    let (pending, failed): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE failed_at IS NULL), count(*) FILTER (WHERE failed_at IS NOT NULL)
         FROM outbox WHERE delivered_at IS NULL",
    )
    .fetch_one(&state.db)
    .await?;
    let tz = state.settings.time_zone;
    Ok(OutboxTemplate {
        page,
        pending,
        failed,
        rows: rows
            .into_iter()
            .map(
                |(id, channel, recipient, kind, attempts, failed, error, at)| OutboxRow {
                    id,
                    channel,
                    recipient,
                    kind,
                    attempts,
                    state: if failed.is_some() {
                        "已失败"
                    } else {
                        "待发送"
                    },
                    error: error.unwrap_or_default(),
                    at: at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                },
            )
            .collect(),
    })
}
