//! 审计日志 (系统管理员 only): the log filtered by person, action, target and a date range
//! in the portal's time zone, paged by id, and the same rows as CSV. Read only: the log
//! is append-only (a trigger refuses UPDATE, DELETE and TRUNCATE) and nothing here
//! writes to it but the export's own entry.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder, types::ipnetwork::IpNetwork};

mod export;
mod labels;

pub use export::export;
use labels::{action_label, actor_label, details_pairs, outcome_label, target_view};

use crate::{error::AppResult, web::AppState, web::page::Page, web::user::AdminUser};

const PAGE_SIZE: i64 = 50;
/// At most this many rows in one CSV: enough for any audit question, bounded for the
/// server. The page says so.
pub const EXPORT_MAX: i64 = 100_000;

/// The filters, as typed (kept on the page), and the page position.
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct AuditQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub person: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to: String,
    /// Rows with a smaller id (the next page).
    #[serde(default, skip_serializing)]
    pub before: String,
    /// Rows with a larger id (the previous page).
    #[serde(default, skip_serializing)]
    pub after: String,
}

/// Filters checked and ready for SQL.
struct Filter {
    person: String,
    action: String,
    target: String,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

/// Errors by field, shown next to it.
#[derive(Default)]
pub struct FilterErrors {
    pub from: Option<&'static str>,
    pub to: Option<&'static str>,
}

impl FilterErrors {
    fn any(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }
}

fn clip(s: &str, n: usize) -> String {
    s.trim().chars().take(n).collect()
}

/// Midnight starting `d` in `tz`, as an instant (the earliest, should a clock change
/// repeat it; a skipped midnight starts at the first hour that exists).
fn start_of(d: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    (0..3).find_map(|h| {
        tz.from_local_datetime(&d.and_hms_opt(h, 0, 0)?)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

fn parse_date(s: &str) -> Result<Option<NaiveDate>, &'static str> {
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| "请按 年-月-日 填写日期，如 2026-03-01。")
}

impl AuditQuery {
    /// Trimmed and clipped, so the page shows what was searched.
    fn tidy(&mut self) {
        self.person = clip(&self.person, 64);
        self.action = clip(&self.action, 64);
        self.target = clip(&self.target, 100);
        self.from = clip(&self.from, 10);
        self.to = clip(&self.to, 10);
    }

    fn filter(&self, tz: Tz) -> Result<Filter, FilterErrors> {
        let mut errors = FilterErrors::default();
        let from = parse_date(&self.from)
            .map_err(|e| errors.from = Some(e))
            .ok();
        let to = parse_date(&self.to).map_err(|e| errors.to = Some(e)).ok();
        if let (Some(Some(f)), Some(Some(t))) = (from, to)
            && t < f
        {
            errors.to = Some("截止日期不能早于起始日期。");
        }
        if errors.any() {
            return Err(errors);
        }
        Ok(Filter {
            person: self.person.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            from: from.flatten().and_then(|d| start_of(d, tz)),
            // The whole last day: up to the next midnight, exclusive.
            until: to
                .flatten()
                .and_then(|d| d.succ_opt())
                .and_then(|d| start_of(d, tz)),
        })
    }

    /// The filters as a query string (for paging and the export link).
    pub fn query_string(&self) -> String {
        let mut q = self.clone();
        q.tidy();
        serde_urlencoded::to_string(&q).unwrap_or_default()
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// `WHERE …` for `f` over `audit_log a`, with bound values only.
fn push_where(qb: &mut QueryBuilder<'_, Postgres>, f: &Filter) {
    qb.push(" WHERE true");
    if !f.person.is_empty() {
        // An account exactly, or a part of a name.
        qb.push(" AND a.actor_id IN (SELECT id FROM users WHERE lower(account) = lower(")
            .push_bind(f.person.clone())
            .push(") OR name LIKE ")
            .push_bind(format!("%{}%", escape_like(&f.person)))
            .push(")");
    }
    if !f.action.is_empty() {
        // An action, or a family of them (`account` → `account.unlock`, …).
        qb.push(" AND (a.action = ")
            .push_bind(f.action.clone())
            .push(" OR a.action LIKE ")
            .push_bind(format!("{}.%", escape_like(&f.action)))
            .push(")");
    }
    if !f.target.is_empty() {
        // `application:12` exactly, or all of a kind (`application`).
        qb.push(" AND (a.target = ").push_bind(f.target.clone());
        if !f.target.contains(':') {
            qb.push(" OR a.target LIKE ")
                .push_bind(format!("{}:%", escape_like(&f.target)));
        }
        qb.push(")");
    }
    if let Some(from) = f.from {
        qb.push(" AND a.at >= ").push_bind(from);
    }
    if let Some(until) = f.until {
        qb.push(" AND a.at < ").push_bind(until);
    }
}

const COLUMNS: &str =
    "SELECT a.id, a.at, u.account, u.name, a.action, a.target, a.ip, a.outcome, a.details
     FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id";

#[derive(sqlx::FromRow)]
struct Raw {
    id: i64,
    at: DateTime<Utc>,
    account: Option<String>,
    name: Option<String>,
    action: String,
    target: String,
    ip: Option<IpNetwork>,
    outcome: String,
    details: serde_json::Value,
}

pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub action_label: &'static str,
    pub target: String,
    pub target_label: String,
    pub target_link: Option<String>,
    pub ip: String,
    pub outcome: &'static str,
    pub failed: bool,
    pub details: Vec<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/audit.html")]
pub struct AuditTemplate {
    pub page: Page,
    pub q: AuditQuery,
    pub errors: FilterErrors,
    pub actions: Vec<(String, &'static str)>,
    pub rows: Vec<AuditRow>,
    pub qs: String,
    pub newer: Option<i64>,
    pub older: Option<i64>,
    pub paged: bool,
    pub time_zone: String,
    pub export_max: String,
}

/// The actions that occur in the log, by a skip scan over its action index.
async fn actions_present(db: &sqlx::PgPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "WITH RECURSIVE t(a) AS (
             (SELECT action FROM audit_log ORDER BY action LIMIT 1)
             UNION ALL
             SELECT (SELECT action FROM audit_log WHERE action > t.a ORDER BY action LIMIT 1)
             FROM t WHERE t.a IS NOT NULL)
         SELECT a FROM t WHERE a IS NOT NULL",
    )
    .fetch_all(db)
    .await
}

/// Names for the targets of `rows` that are people or services, by id.
async fn target_names(
    db: &sqlx::PgPool,
    rows: &[Raw],
) -> sqlx::Result<(HashMap<i64, (String, String)>, HashMap<i64, String>)> {
    let ids = |kind: &str| -> Vec<i64> {
        rows.iter()
            .filter_map(|r| r.target.strip_prefix(kind)?.parse().ok())
            .collect()
    };
    let users: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, account, name FROM users WHERE id = ANY($1)")
            .bind(ids("user:"))
            .fetch_all(db)
            .await?;
    let services: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM services WHERE id = ANY($1)")
            .bind(ids("service:"))
            .fetch_all(db)
            .await?;
    Ok((
        users.into_iter().map(|(i, a, n)| (i, (a, n))).collect(),
        services.into_iter().collect(),
    ))
}

pub async fn page(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Query(mut q): Query<AuditQuery>,
) -> AppResult<Response> {
    q.tidy();
    let tz = state.settings.time_zone;
    let actions = actions_present(&state.db)
        .await?
        .into_iter()
        .map(|a| {
            let l = action_label(&a).unwrap_or("");
            (a, l)
        })
        .collect();
    let before = q.before.trim().parse::<i64>().ok();
    let after = q
        .after
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|_| before.is_none());
    let (errors, rows) = match q.filter(tz) {
        Err(e) => (e, Vec::new()),
        Ok(f) => {
            let mut qb = QueryBuilder::new(COLUMNS);
            push_where(&mut qb, &f);
            if let Some(b) = before {
                qb.push(" AND a.id < ").push_bind(b);
            }
            if let Some(a) = after {
                qb.push(" AND a.id > ").push_bind(a);
            }
            // One more than a page: whether there is another.
            qb.push(if after.is_some() {
                " ORDER BY a.id ASC LIMIT "
            } else {
                " ORDER BY a.id DESC LIMIT "
            })
            .push_bind(PAGE_SIZE + 1);
            let rows: Vec<Raw> = qb.build_query_as().fetch_all(&state.db).await?;
            (FilterErrors::default(), rows)
        }
    };
    let more = rows.len() as i64 > PAGE_SIZE;
    let mut rows: Vec<Raw> = rows.into_iter().take(PAGE_SIZE as usize).collect();
    if after.is_some() {
        rows.reverse();
    }
    // Newer rows exist when paging back found more, or when this page was reached going on.
    let (newer, older) = match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => (
            (before.is_some() || (after.is_some() && more)).then_some(first.id),
            (after.is_some() || more).then_some(last.id),
        ),
        _ => (None, None),
    };
    let (users, services) = target_names(&state.db, &rows).await?;
    let rows = rows
        .into_iter()
        .map(|r| {
            let (target_label, target_link) = target_view(&r.target, &users, &services);
            AuditRow {
                id: r.id,
                at: r
                    .at
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                actor: actor_label(r.account, r.name),
                action_label: action_label(&r.action).unwrap_or(""),
                action: r.action,
                target: r.target,
                target_label,
                target_link,
                ip: r.ip.map(|i| i.ip().to_string()).unwrap_or_default(),
                failed: r.outcome != "success",
                outcome: outcome_label(&r.outcome),
                details: details_pairs(&r.details),
            }
        })
        .collect();
    let status = if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        AuditTemplate {
            page,
            qs: q.query_string(),
            paged: before.is_some() || after.is_some(),
            q,
            errors,
            actions,
            rows,
            newer,
            older,
            time_zone: tz.name().to_owned(),
            export_max: EXPORT_MAX
                .to_string()
                .as_bytes()
                .rchunks(3)
                .rev()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(","),
        },
    )
        .into_response())
}
