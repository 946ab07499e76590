//! 审计日志 (系统管理员 only): the log filtered by person, action, target and a date range
//! in the portal's time zone, paged by id, and the same rows as CSV. Read only: the log
//! is append-only (a trigger refuses UPDATE, DELETE and TRUNCATE) and nothing here
//! writes to it but the export's own entry.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder, types::ipnetwork::IpNetwork};

use crate::{
    audit::Entry,
    error::AppResult,
    web::AppState,
    web::page::Page,
    web::user::{AdminUser, ClientIp},
};

const PAGE_SIZE: i64 = 50;
/// At most this many rows in one CSV: enough for any audit question, bounded for the
/// server. The page says so.
pub const EXPORT_MAX: i64 = 100_000;

/// The filters, as typed (kept on the page), and the page position.
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct AuditQuery {
    #[serde(default)]
    pub person: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
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

/// What an action code means, for the known ones.
pub fn action_label(action: &str) -> Option<&'static str> {
    Some(match action {
        "login" => "登录",
        "logout" => "退出登录",
        "login.throttled" => "登录过于频繁",
        "account.lockout" => "账号锁定",
        "account.unlock" => "解除锁定",
        "account.activate" => "激活账号",
        "account.activation_code" => "签发激活码",
        "admin.create" => "创建管理员",
        "code.sent" => "发送验证码",
        "code.failed" => "验证码错误",
        "email.link_sent" => "发送邮箱验证链接",
        "email.link_used" => "使用邮箱验证链接",
        "password.change" => "修改密码",
        "password.recover" => "找回密码",
        "phone.bind" => "绑定手机",
        "session.end_others" => "下线其他设备",
        "qr.approve" => "扫码登录确认",
        "qr.deny" => "扫码登录拒绝",
        "service.create" => "新建服务",
        "service.update" => "修改服务",
        "service.delete" => "删除服务",
        "service.status" => "服务上线/下线",
        "service.export" => "导出服务包",
        "service.import" => "导入服务包",
        "service.publish" => "发布版本",
        "service.rollback" => "回滚版本",
        "service.draft.save" => "保存设计草稿",
        "service.draft.discard" => "放弃设计草稿",
        "application.submit" => "提交申请",
        "application.resubmit" => "重新提交申请",
        "application.draft" => "保存申请草稿",
        "application.urge" => "催办",
        "application.rate" => "评价",
        "audit.export" => "导出审计日志",
        "outbox.retry" => "重试消息投递",
        _ => return None,
    })
}

fn outcome_label(o: &str) -> &'static str {
    match o {
        "success" => "成功",
        "failure" => "失败",
        "denied" => "拒绝",
        _ => "其他",
    }
}

/// A label for a detail's key, where one helps.
fn detail_label(k: &str) -> Option<&'static str> {
    Some(match k {
        "via" | "method" => "方式",
        "ua" => "浏览器",
        "until" => "至",
        "failures" => "失败次数",
        "from" => "原值",
        "to" => "新值",
        "reason" => "原因",
        "purpose" => "用途",
        "phone" => "手机",
        "email" => "邮箱",
        "step" => "环节",
        "ended" => "结束会话数",
        "channel" => "渠道",
        "count" => "条数",
        "rows" => "行数",
        "filters" => "筛选条件",
        "version" => "版本",
        "code" => "编码",
        "name" => "名称",
        "error" => "原因",
        "last_error" => "上次失败原因",
        "idempotency_key" => "幂等键",
        _ => return None,
    })
}

fn detail_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".into(),
        serde_json::Value::Bool(b) => if *b { "是" } else { "否" }.into(),
        other => other.to_string(),
    }
}

/// Details as (label, value) pairs: known keys labelled, the others by their key.
fn details_pairs(d: &serde_json::Value) -> Vec<(String, String)> {
    match d {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                (
                    detail_label(k)
                        .map(str::to_owned)
                        .unwrap_or_else(|| k.clone()),
                    detail_value(v),
                )
            })
            .collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![("内容".into(), other.to_string())],
    }
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

/// The label and link of a target: the application, the person's account in 用户管理,
/// the service's admin page.
fn target_view(
    target: &str,
    users: &HashMap<i64, (String, String)>,
    services: &HashMap<i64, String>,
) -> (String, Option<String>) {
    let (kind, id) = match target.split_once(':') {
        Some((k, i)) => (k, i.parse::<i64>().ok()),
        None => return (target.to_owned(), None),
    };
    match (kind, id) {
        ("application", Some(id)) => (format!("申请 #{id}"), Some(format!("/applications/{id}"))),
        ("user", Some(id)) => match users.get(&id) {
            Some((account, name)) => (
                format!("{name}（{account}）"),
                Some(format!(
                    "/admin/users?q={}",
                    crate::web::user::urlencode(account)
                )),
            ),
            None => (target.to_owned(), None),
        },
        ("service", Some(id)) => (
            services
                .get(&id)
                .map(|n| format!("服务：{n}"))
                .unwrap_or_else(|| format!("服务 #{id}")),
            Some(format!("/admin/services/{id}")),
        ),
        _ => (target.to_owned(), None),
    }
}

fn actor_label(account: Option<String>, name: Option<String>) -> String {
    match (account, name) {
        (Some(a), Some(n)) => format!("{n}（{a}）"),
        _ => "—".into(),
    }
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
            export_max: "100,000".into(),
        },
    )
        .into_response())
}

/// A cell Excel would take for a formula gets a leading apostrophe (CSV injection).
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// `GET /admin/audit/export`: the rows the same filters show, newest first, at most
/// `EXPORT_MAX`, as UTF-8 CSV with a BOM (so Excel reads the Chinese). Streamed in
/// batches; rows written after the request began are left out, so the file is the log
/// as it was then. Audited (with the filters) before the first byte.
pub async fn export(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Query(mut q): Query<AuditQuery>,
) -> AppResult<Response> {
    q.tidy();
    let tz = state.settings.time_zone;
    let f = match q.filter(tz) {
        Ok(f) => f,
        Err(e) => {
            let msg = e.from.or(e.to).unwrap_or("筛选条件有误。");
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, msg).into_response());
        }
    };
    let upto: i64 = sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM audit_log")
        .fetch_one(&state.db)
        .await?;
    let mut count = QueryBuilder::new("SELECT count(*) FROM (SELECT 1 FROM audit_log a");
    push_where(&mut count, &f);
    count
        .push(" AND a.id <= ")
        .push_bind(upto)
        .push(" LIMIT ")
        .push_bind(EXPORT_MAX + 1)
        .push(") c");
    let matched: i64 = count.build_query_scalar().fetch_one(&state.db).await?;
    let now = state.now();
    Entry::about("", "audit.export")
        .by(Some(admin.id))
        .ip(ip)
        .detail(serde_json::json!({
            "filters": q.query_string(),
            "rows": matched.min(EXPORT_MAX),
            "truncated": matched > EXPORT_MAX,
        }))
        .record(&state.db, now)
        .await?;

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let db = state.db.clone();
    tokio::spawn(async move {
        if let Err(e) = write_csv(&db, f, upto, tz, &tx).await {
            tracing::warn!(error = %e, "audit export stopped");
            let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let name = format!(
        "audit-{}.csv",
        now.with_timezone(&tz).format("%Y%m%d-%H%M%S")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

type Csv = csv::Writer<Vec<u8>>;

fn finish(out: Csv) -> Result<Bytes, Box<dyn std::error::Error + Send + Sync>> {
    Ok(Bytes::from(out.into_inner().map_err(|e| e.into_error())?))
}

/// Writes the filtered rows to `tx` in batches of 1,000, by id (keyset), newest first.
async fn write_csv(
    db: &sqlx::PgPool,
    f: Filter,
    upto: i64,
    tz: Tz,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    const BATCH: i64 = 1_000;
    let mut head = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    head.write_record([
        "编号",
        "时间",
        "操作人账号",
        "操作人姓名",
        "操作",
        "操作说明",
        "对象",
        "IP",
        "结果",
        "详情",
    ])?;
    if tx.send(Ok(finish(head)?)).await.is_err() {
        return Ok(());
    }
    let mut last = upto + 1;
    let mut written = 0;
    while written < EXPORT_MAX {
        let mut qb = QueryBuilder::new(COLUMNS);
        push_where(&mut qb, &f);
        qb.push(" AND a.id < ")
            .push_bind(last)
            .push(" ORDER BY a.id DESC LIMIT ")
            .push_bind(BATCH.min(EXPORT_MAX - written));
        let rows: Vec<Raw> = qb.build_query_as().fetch_all(db).await?;
        let Some(end) = rows.last() else { break };
        last = end.id;
        written += rows.len() as i64;
        let mut out = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 200));
        for r in &rows {
            out.write_record([
                r.id.to_string(),
                r.at.with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                cell(r.account.as_deref().unwrap_or("")),
                cell(r.name.as_deref().unwrap_or("")),
                cell(&r.action),
                action_label(&r.action).unwrap_or("").to_owned(),
                cell(&r.target),
                r.ip.map(|i| i.ip().to_string()).unwrap_or_default(),
                outcome_label(&r.outcome).to_owned(),
                cell(&r.details.to_string()),
            ])?;
        }
        if tx.send(Ok(finish(out)?)).await.is_err() {
            // The client went away.
            return Ok(());
        }
        if (rows.len() as i64) < BATCH {
            break;
        }
    }
    Ok(())
}
