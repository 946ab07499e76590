//! 填报情况 (`/collect/{id}/responses`): completion by department, who has not filled,
//! 一键催办, the responses with filters, 部门负责人 confirmation, CSV / XLSX export.
//! The owner and 系统管理员 see everyone; a 部门负责人 sees the people of their
//! departments (with everything below them); anyone else gets 404.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::{
    Status,
    cells::{columns, values},
    files, store,
};
use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    forms::render::Lookups,
    org::people,
    web::{
        AppState,
        export::{Cell, Format, Table, download},
        page::{Flashes, Page, flash},
        user::{ClientIp, CurrentUser},
    },
};

/// Rows per page of the responses table.
const PAGE: i64 = 50;
/// Sub-table rows spread into columns in an export, at most.
const MAX_EXPORT_ROWS: usize = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/collect/{id}/responses", get(page))
        .route("/collect/{id}/urge", post(urge))
        .route("/collect/{id}/confirm", post(confirm))
}

/// Who looks at the responses, and what they may do.
pub struct Viewer {
    /// Every member (the owner, 系统管理员); else only `departments`.
    pub all: bool,
    pub departments: Vec<i64>,
    /// Owner or 系统管理员: 催办 and the settings.
    pub manages: bool,
    /// May confirm responses (a 部门负责人 of the person's department, or 系统管理员).
    pub confirms: bool,
}

pub async fn viewer(db: &PgPool, user: &CurrentUser, t: &store::TaskRow) -> AppResult<Viewer> {
    let heads: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT sub FROM user_roles ur JOIN roles r ON r.id = ur.role_id,
                dept_subtree(ur.department_id) sub
         WHERE ur.user_id = $1 AND r.code = 'dept_head' AND ur.department_id IS NOT NULL",
    )
    .bind(user.id)
    .fetch_all(db)
    .await?;
    let manages = t.owner_id == user.id || user.is_admin;
    if t.published_at.is_none() || (!manages && heads.is_empty()) {
        return Err(AppError::NotFound);
    }
    if !manages {
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM collection_members
                            WHERE collection_id = $1 AND department_id = ANY($2))",
        )
        .bind(t.id)
        .bind(&heads)
        .fetch_one(db)
        .await?;
        if !any {
            return Err(AppError::NotFound);
        }
    }
    Ok(Viewer {
        all: manages,
        confirms: t.needs_confirmation && (user.is_admin || !heads.is_empty()),
        departments: heads,
        manages,
    })
}

#[derive(Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    pub status: String,
    /// A department id; empty or anything else means all.
    #[serde(default)]
    pub dept: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: Option<i64>,
    #[serde(default)]
    pub export: String,
}

#[derive(sqlx::FromRow)]
struct DeptCount {
    department_id: Option<i64>,
    department: Option<String>,
    members: i64,
    filled: i64,
    confirmed: i64,
}

pub struct DeptRow {
    pub id: i64,
    pub name: String,
    pub members: i64,
    pub filled: i64,
    pub confirmed: i64,
    pub pending: i64,
    pub rate: String,
}

#[derive(sqlx::FromRow)]
struct Resp {
    user_id: i64,
    account: String,
    name: String,
    department: Option<String>,
    department_id: Option<i64>,
    state: String,
    data: Option<Value>,
    submitted_at: Option<DateTime<Utc>>,
    late: bool,
    confirmed_at: Option<DateTime<Utc>>,
    confirmer: Option<String>,
}

pub struct RespRow {
    pub user_id: i64,
    pub account: String,
    pub name: String,
    pub department: String,
    pub status: Status,
    pub submitted: String,
    pub confirmed: String,
    pub values: Vec<String>,
    pub may_confirm: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "collect/responses.html")]
pub struct ResponsesTemplate {
    pub page: Page,
    pub id: i64,
    pub title: String,
    pub window: String,
    pub manages: bool,
    pub open: bool,
    pub totals: Vec<(&'static str, i64)>,
    pub departments: Vec<DeptRow>,
    pub pending_names: Vec<String>,
    pub pending_more: i64,
    pub columns: Vec<String>,
    pub rows: Vec<RespRow>,
    pub status: String,
    pub dept: Option<i64>,
    pub q: String,
    pub query: String,
    pub page_no: i64,
    pub pages: i64,
    pub matched: i64,
    pub statuses: [(&'static str, &'static str); 4],
}

impl ResponsesTemplate {
    fn dept_is(&self, d: &i64) -> bool {
        self.dept == Some(*d)
    }
}

/// The filter on members, as SQL over `m` (`$1` task, `$2` departments or NULL for all,
/// `$3` status code, `$4` department, `$5` name or account, `$6` now).
const WHERE_SQL: &str = "m.collection_id = $1
    AND ($2::bigint[] IS NULL OR m.department_id = ANY($2))
    AND CASE $3
        WHEN 'pending' THEN m.state IN ('pending', 'draft') AND $6 < c.closes_at
        WHEN 'overdue' THEN m.state IN ('pending', 'draft') AND $6 >= c.closes_at
        WHEN 'filled' THEN m.state = 'submitted'
        WHEN 'confirmed' THEN m.state = 'confirmed'
        ELSE true END
    AND ($4::bigint IS NULL OR m.department_id = $4)
    AND ($5 = '' OR u.name LIKE '%' || $5 || '%' OR u.account = $5)";

fn at(tz: chrono_tz::Tz, d: DateTime<Utc>) -> String {
    d.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// `GET /collect/{id}/responses` (also `?export=csv|xlsx`).
async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Path(id): Path<i64>,
    Query(f): Query<Filters>,
) -> AppResult<Response> {
    let t = store::task(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let v = viewer(&state.db, &user, &t).await?;
    let now = state.now();
    let tz = state.settings.time_zone;
    let scope: Option<Vec<i64>> = (!v.all).then(|| v.departments.clone());
    let status = match f.status.as_str() {
        s @ ("pending" | "overdue" | "filled" | "confirmed") => s.to_owned(),
        _ => String::new(),
    };
    let q = f.q.trim().chars().take(50).collect::<String>();
    let dept: Option<i64> = f.dept.trim().parse().ok();
    let zip = f.export == "zip";
    let export = match f.export.as_str() {
        "" | "zip" => None,
        s => Some(Format::parse(s).ok_or(AppError::BadRequest("导出格式只能是 csv、xlsx 或 zip"))?),
    };
    let page_no = f.page.unwrap_or(1).clamp(1, 100_000);
    let (limit, offset) = match export {
        _ if zip => (i64::MAX, 0),
        Some(_) => (i64::MAX, 0),
        None => (PAGE, (page_no - 1) * PAGE),
    };
    let resp: Vec<Resp> = sqlx::query_as(&format!(
        "SELECT m.user_id, u.account, u.name, d.name AS department, m.department_id, m.state,
                m.data, m.submitted_at, m.late, m.confirmed_at, cu.name AS confirmer
         FROM collection_members m
         JOIN collections c ON c.id = m.collection_id
         JOIN users u ON u.id = m.user_id
         LEFT JOIN departments d ON d.id = m.department_id
         LEFT JOIN users cu ON cu.id = m.confirmed_by
         WHERE {WHERE_SQL}
         ORDER BY d.sort_order NULLS LAST, d.id, u.account LIMIT $7 OFFSET $8"
    ))
    .bind(id)
    .bind(&scope)
    .bind(&status)
    .bind(dept)
    .bind(&q)
    .bind(now)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.db)
    .await?;
    // Names for the people and departments the responses name.
    let ids: Vec<i64> = resp
        .iter()
        .filter_map(|r| r.data.as_ref()?.as_object().cloned())
        .flat_map(|d| {
            d.values()
                .filter_map(crate::forms::id_value)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut l = Lookups {
        departments: people::department_choices(&state.db, &ids).await?,
        ..Lookups::default()
    };
    for p in people::labels(&state.db, &ids).await? {
        l.people.insert(p.id, p.label);
    }
    let mut table_rows: BTreeMap<String, usize> = BTreeMap::new();
    for field in t.form.fields.iter().filter(|f| !f.columns.is_empty()) {
        let most = resp
            .iter()
            .filter_map(|r| r.data.as_ref()?.get(&field.key)?.as_array().map(Vec::len))
            .max()
            .unwrap_or(0)
            .min(MAX_EXPORT_ROWS);
        table_rows.insert(field.key.clone(), most);
    }
    let cols = columns(&t.form, &table_rows);
    let users: Vec<i64> = resp.iter().map(|r| r.user_id).collect();
    if zip {
        return zip_of(&state, &t, &resp).await;
    }
    // Each response's files, for the attachment fields' cells.
    let mut files: BTreeMap<i64, files::ByField> = BTreeMap::new();
    for f in store::files_of(&mut *state.db.acquire().await?, id, &users).await? {
        files
            .entry(f.user_id)
            .or_default()
            .entry(f.field_key)
            .or_default()
            .push((f.id, f.file_name, f.size));
    }
    let mut rows: Vec<RespRow> = Vec::with_capacity(resp.len());
    for r in resp {
        let st = Status::of(&r.state, t.closes_at, now);
        l.attachments = files.remove(&r.user_id).unwrap_or_default();
        let data = match &r.data {
            Some(Value::Object(d)) if st != Status::Pending && st != Status::Overdue => {
                values(&t.form, d, &l, &table_rows)
            }
            _ => vec![String::new(); cols.len()],
        };
        rows.push(RespRow {
            may_confirm: v.confirms
                && st == Status::Filled
                && (user.is_admin || r.department_id.is_some_and(|d| v.departments.contains(&d))),
            user_id: r.user_id,
            account: r.account,
            name: r.name,
            department: r.department.unwrap_or_default(),
            status: st,
            submitted: r
                .submitted_at
                .map(|d| at(tz, d) + if r.late { "（补填）" } else { "" })
                .unwrap_or_default(),
            confirmed: match (r.confirmed_at, r.confirmer) {
                (Some(d), Some(n)) => format!("{n} {}", at(tz, d)),
                _ => String::new(),
            },
            values: data,
        });
    }
    if let Some(format) = export {
        let mut headers: Vec<String> = ["账号", "姓名", "部门", "状态", "提交时间", "确认"]
            .map(String::from)
            .to_vec();
        headers.extend(cols);
        let table = Table {
            title: "填报结果".into(),
            headers,
            rows: rows
                .into_iter()
                .map(|r| {
                    let mut c = vec![
                        Cell::Text(r.account),
                        Cell::Text(r.name),
                        Cell::Text(r.department),
                        Cell::Text(r.status.label().into()),
                        Cell::Text(r.submitted),
                        Cell::Text(r.confirmed),
                    ];
                    c.extend(r.values.into_iter().map(Cell::Text));
                    c
                })
                .collect(),
        };
        return download(&table, format, &format!("collection-{id}-responses"));
    }
    let counts: Vec<DeptCount> = sqlx::query_as(
        "SELECT m.department_id, d.name AS department, count(*) AS members,
                count(*) FILTER (WHERE m.state IN ('submitted', 'confirmed')) AS filled,
                count(*) FILTER (WHERE m.state = 'confirmed') AS confirmed
         FROM collection_members m LEFT JOIN departments d ON d.id = m.department_id
         WHERE m.collection_id = $1 AND ($2::bigint[] IS NULL OR m.department_id = ANY($2))
         GROUP BY m.department_id, d.name, d.sort_order ORDER BY d.sort_order NULLS LAST, m.department_id",
    )
    .bind(id)
    .bind(&scope)
    .fetch_all(&state.db)
    .await?;
    let departments: Vec<DeptRow> = counts
        .iter()
        .map(|c| DeptRow {
            id: c.department_id.unwrap_or(0),
            name: c.department.clone().unwrap_or_else(|| "（无部门）".into()),
            members: c.members,
            filled: c.filled,
            confirmed: c.confirmed,
            pending: c.members - c.filled,
            rate: format!("{:.0}%", 100.0 * c.filled as f64 / c.members.max(1) as f64),
        })
        .collect();
    let members: i64 = departments.iter().map(|d| d.members).sum();
    let filled: i64 = departments.iter().map(|d| d.filled).sum();
    let confirmed: i64 = departments.iter().map(|d| d.confirmed).sum();
    let open = now < t.closes_at;
    let mut totals = vec![("应填", members), ("已填", filled)];
    if t.needs_confirmation {
        totals.push(("已确认", confirmed));
    }
    totals.push((if open { "未填" } else { "逾期" }, members - filled));
    let pending_names: Vec<String> = sqlx::query_scalar(
        "SELECT u.name || '（' || u.account || '）' FROM collection_members m JOIN users u ON u.id = m.user_id
         WHERE m.collection_id = $1 AND m.state IN ('pending', 'draft')
           AND ($2::bigint[] IS NULL OR m.department_id = ANY($2))
         ORDER BY u.account LIMIT 30",
    )
    .bind(id)
    .bind(&scope)
    .fetch_all(&state.db)
    .await?;
    let matched: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM collection_members m JOIN collections c ON c.id = m.collection_id
         JOIN users u ON u.id = m.user_id WHERE {WHERE_SQL}"
    ))
    .bind(id)
    .bind(&scope)
    .bind(&status)
    .bind(dept)
    .bind(&q)
    .bind(now)
    .fetch_one(&state.db)
    .await?;
    let query = serde_urlencoded::to_string([
        ("status", status.as_str()),
        ("dept", &dept.map(|d| d.to_string()).unwrap_or_default()),
        ("q", q.as_str()),
    ])
    .unwrap_or_default();
    Ok(ResponsesTemplate {
        id,
        title: t.title.clone(),
        window: format!("{} 至 {}", at(tz, t.opens_at), at(tz, t.closes_at)),
        manages: v.manages,
        open: open || t.late_allowed,
        pending_more: (members - filled - pending_names.len() as i64).max(0),
        pending_names,
        totals,
        departments,
        columns: columns(&t.form, &table_rows),
        rows,
        status,
        dept,
        q,
        query,
        page_no,
        pages: (matched + PAGE - 1) / PAGE,
        matched,
        statuses: [
            ("pending", "未填"),
            ("filled", "已填"),
            ("confirmed", "已确认"),
            ("overdue", "逾期"),
        ],
        page,
    }
    .into_response())
}

/// The files of `resp` (the filtered members) as one ZIP: a folder per department, one per
/// person (account and name), files named after their field.
async fn zip_of(state: &AppState, t: &store::TaskRow, resp: &[Resp]) -> AppResult<Response> {
    let users: Vec<i64> = resp.iter().map(|r| r.user_id).collect();
    let total: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(size), 0)::bigint FROM collection_files
         WHERE collection_id = $1 AND user_id = ANY($2)",
    )
    .bind(t.id)
    .bind(&users)
    .fetch_one(&state.db)
    .await?;
    if total > files::ZIP_MAX {
        return Err(AppError::BadRequest(
            "附件总量超过 512 MB，请按部门或状态筛选后分批下载",
        ));
    }
    let labels: BTreeMap<&str, &str> = t
        .form
        .fields
        .iter()
        .map(|f| (f.key.as_str(), f.label.as_str()))
        .collect();
    let who: BTreeMap<i64, &Resp> = resp.iter().map(|r| (r.user_id, r)).collect();
    let rows: Vec<(i64, String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT user_id, field_key, file_name, data FROM collection_files
         WHERE collection_id = $1 AND user_id = ANY($2) ORDER BY user_id, id",
    )
    .bind(t.id)
    .bind(&users)
    .fetch_all(&state.db)
    .await?;
    // Names inside the archive: no path separators from what people typed.
    let clean = |s: &str| s.replace(['/', '\\', ':'], "_");
    let entries = rows
        .into_iter()
        .map(|(u, key, name, data)| {
            let r = who[&u];
            let path = format!(
                "{}/{}-{}/{}-{}",
                clean(r.department.as_deref().unwrap_or("无部门")),
                clean(&r.account),
                clean(&r.name),
                clean(labels.get(key.as_str()).copied().unwrap_or(&key)),
                clean(&name)
            );
            (path, data)
        })
        .collect();
    files::zip(entries, &format!("{}-附件", t.title)).await
}

/// `POST /collect/{id}/urge`: 一键催办 to everyone who has not filled, each at most once a
/// day (the day's mark is set in the same statement that picks them, so two clicks at
/// once urge nobody twice).
async fn urge(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let t = store::task(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let v = viewer(&state.db, &user, &t).await?;
    let back = Redirect::to(&format!("/collect/{id}/responses")).into_response();
    if !v.manages {
        return Err(AppError::NotFound);
    }
    let now = state.now();
    if now >= t.closes_at && !t.late_allowed {
        flash(&flashes, "error", "填报已截止，无需催办。");
        return Ok(back);
    }
    let today = state.today();
    let mut tx = state.db.begin().await?;
    let urged: Vec<i64> = sqlx::query_scalar(
        "UPDATE collection_members SET urged_on = $2
         WHERE collection_id = $1 AND state IN ('pending', 'draft')
           AND urged_on IS DISTINCT FROM $2
         RETURNING user_id",
    )
    .bind(id)
    .bind(today)
    .fetch_all(&mut *tx)
    .await?;
    if !urged.is_empty() {
        store::notify_members(
            &mut tx,
            id,
            &format!("collect-urge:{id}:{today}"),
            "collect_urge",
            &format!(
                "催办：请尽快填报“{}”，截止时间 {}。",
                t.title,
                at(state.settings.time_zone, t.closes_at)
            ),
            Some(&urged),
            now,
        )
        .await?;
    }
    Entry::about(format!("collection:{id}"), "collection.urge")
        .by(Some(user.id))
        .ip(ip)
        .detail(json!({ "people": urged.len() }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(
        &flashes,
        if urged.is_empty() { "info" } else { "success" },
        if urged.is_empty() {
            "今天已催办过所有未填报的人，每人每天最多催办一次。".to_owned()
        } else {
            format!("已向 {} 人发送催办。", urged.len())
        },
    );
    Ok(back)
}

#[derive(Deserialize)]
struct ConfirmForm {
    user: i64,
}

/// `POST /collect/{id}/confirm`: a 部门负责人 (or 系统管理员) confirms one response.
async fn confirm(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Form(f): Form<ConfirmForm>,
) -> AppResult<Response> {
    let t = store::task(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let v = viewer(&state.db, &user, &t).await?;
    if !v.confirms {
        return Err(AppError::NotFound);
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "UPDATE collection_members SET state = 'confirmed', confirmed_by = $3, confirmed_at = $4
         WHERE collection_id = $1 AND user_id = $2 AND state = 'submitted'
           AND ($5 OR department_id = ANY($6))",
    )
    .bind(id)
    .bind(f.user)
    .bind(user.id)
    .bind(now)
    .bind(user.is_admin)
    .bind(&v.departments)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 1 {
        Entry::about(format!("collection:{id}"), "collection.confirm")
            .by(Some(user.id))
            .ip(ip)
            .detail(json!({ "member": f.user }))
            .record(&mut *tx, now)
            .await?;
    }
    tx.commit().await?;
    flash(
        &flashes,
        if done == 1 { "success" } else { "info" },
        if done == 1 {
            "已确认。"
        } else {
            "该填报已确认或已被修改。"
        },
    );
    Ok(Redirect::to(&format!("/collect/{id}/responses")).into_response())
}
