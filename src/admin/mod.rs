//! 管理后台: people (search, lockout release), the audit log, the outbox (系统管理员
//! only); and the service pages, open to 服务管理员 within their departments
//! (`access.rs`): 服务管理 (`services/`), 表单设计 (`form_designer/`), versions and
//! publishing (`versions.rs`), service packages (`packages.rs`).

pub mod access;
mod confirm;
mod departments;
mod form_designer;
mod head;
mod packages;
mod people;
mod services;
mod versions;
mod workflow_designer;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Router,
    extract::{Query, State},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::types::ipnetwork::IpNetwork;

use access::Manager;

use crate::{error::AppResult, web::AppState, web::page::Page, web::user::AdminUser};

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

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
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
