//! 统一待办中心: 我待办的, 我已办的, 抄送给我, 我发起的, 草稿箱, 我转办的, and search.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Query, State},
    response::{IntoResponse, Redirect, Response},
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use sqlx::{Postgres, QueryBuilder};

use crate::{
    error::AppResult,
    web::AppState,
    web::page::{Flashes, Page, flash},
    web::user::CurrentUser,
    workflow::store::status_label,
};

const PAGE: i64 = 20;

#[derive(Debug, Default, Deserialize, Clone)]
pub struct ListQuery {
    pub q: Option<String>,
    pub service: Option<String>,
    pub status: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub view: Option<String>,
    pub tab: Option<String>,
    pub page: Option<String>,
}

impl ListQuery {
    fn page(&self) -> i64 {
        self.page
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or(1i64)
            .clamp(1, 10_000)
    }
    pub(super) fn service(&self) -> Option<i64> {
        self.service.as_deref().and_then(|s| s.parse().ok())
    }
    pub(super) fn date(v: &Option<String>) -> Option<NaiveDate> {
        v.as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    }
    /// This query string with `page` replaced.
    fn with_page(&self, base: &str, page: i64) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &self.q),
            ("service", &self.service),
            ("status", &self.status),
            ("from", &self.from),
            ("to", &self.to),
            ("view", &self.view),
            ("tab", &self.tab),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("page", &page.to_string());
        format!("{base}?{}", ser.finish())
    }
}

pub struct Tab {
    pub href: &'static str,
    /// Appended to `href` (a sub-tab's `?tab=…`).
    pub query: &'static str,
    pub label: &'static str,
    pub count: Option<i64>,
    pub active: bool,
}

/// The tabs as shown on the 个人中心 page itself (none active).
pub async fn tabs_for(state: &AppState, user: &CurrentUser) -> sqlx::Result<Vec<Tab>> {
    tabs(state, user, "").await
}

/// The tabs on a page of another module that is one of them (我的收藏).
pub async fn tabs_at(
    state: &AppState,
    user: &CurrentUser,
    active: &'static str,
) -> sqlx::Result<Vec<Tab>> {
    tabs(state, user, active).await
}

pub(super) async fn tabs(
    state: &AppState,
    user: &CurrentUser,
    active: &str,
) -> sqlx::Result<Vec<Tab>> {
    // The counts come with the signed-in person (`USER_SQL`, from `task_counts` and
    // `draft_counts`), but for 填报任务: the tasks open now that wait for me, one small
    // query by `collection_members_user_idx`, only on the pages that show the tabs.
    let (cc_unread, drafts) = (user.cc_unread, user.drafts);
    let to_fill: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM collection_members m JOIN collections c ON c.id = m.collection_id
          WHERE m.user_id = $1 AND m.state IN ('pending', 'draft')
            AND c.published_at IS NOT NULL AND c.opens_at <= $2 AND c.closes_at > $2",
    )
    .bind(user.id)
    .bind(state.now())
    .fetch_one(&state.db)
    .await?;
    let t = |href, label, count: Option<i64>| Tab {
        href,
        query: "",
        label,
        count: count.filter(|c| *c > 0),
        active: href == active,
    };
    Ok(vec![
        t("/center/todo", "我待办的", Some(user.pending)),
        t("/center/ongoing", "进行中事项", None),
        t("/center/finished", "已完成事项", None),
        t("/center/done", "我已办的", None),
        t("/center/cc", "抄送给我", Some(cc_unread)),
        t("/center/started", "我发起的", None),
        t("/center/drafts", "草稿箱", Some(drafts)),
        t("/center/stats", "效能数据分享", None),
        t("/center/collect", "填报任务", Some(to_fill)),
        t("/center/transferred", "我转办的", None),
        t("/favorites", "我的收藏", None),
    ])
}

#[derive(sqlx::FromRow)]
struct RowData {
    app_id: i64,
    title: String,
    serial_no: Option<String>,
    service: String,
    applicant: String,
    step: Option<String>,
    status: String,
    at: DateTime<Utc>,
    note: Option<String>,
    overdue: bool,
    unread: bool,
}

pub struct Row {
    pub href: String,
    pub title: String,
    pub serial_no: String,
    pub service: String,
    pub applicant: String,
    pub step: String,
    pub status: &'static str,
    pub status_code: String,
    pub at: String,
    pub note: String,
    pub overdue: bool,
    pub unread: bool,
}

fn rows(state: &AppState, data: Vec<RowData>) -> Vec<Row> {
    let tz = state.settings.time_zone;
    data.into_iter()
        .map(|r| Row {
            href: if r.status == "draft" {
                format!("/applications/{}/edit", r.app_id)
            } else {
                format!("/applications/{}", r.app_id)
            },
            title: r.title,
            serial_no: r.serial_no.unwrap_or_default(),
            service: r.service,
            applicant: r.applicant,
            step: r.step.unwrap_or_default(),
            status: status_label(&r.status),
            status_code: r.status,
            at: r.at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            note: r.note.unwrap_or_default(),
            overdue: r.overdue,
            unread: r.unread,
        })
        .collect()
}

/// (service id, name, latest, all, running, finished, pending)
type GroupRow = (i64, String, DateTime<Utc>, i64, i64, i64, i64);
/// 我发起的's per-service row: a `GroupRow` and the withdrawn and stopped counts.
pub(super) type StartedRow = (i64, String, DateTime<Utc>, i64, i64, i64, i64, i64, i64);

fn to_groups(state: &AppState, rows: Vec<GroupRow>) -> Vec<Group> {
    rows.into_iter().map(|r| group(state, r, 0, 0)).collect()
}

pub(super) fn group(
    state: &AppState,
    (service_id, service, latest, all, running, finished, pending): GroupRow,
    withdrawn: i64,
    terminated: i64,
) -> Group {
    Group {
        service_id,
        service,
        latest: latest
            .with_timezone(&state.settings.time_zone)
            .format("%Y-%m-%d")
            .to_string(),
        all,
        running,
        finished,
        withdrawn,
        terminated,
        pending,
    }
}

pub struct Group {
    pub service_id: i64,
    pub service: String,
    pub latest: String,
    pub all: i64,
    pub running: i64,
    pub finished: i64,
    /// 我发起的 only: 已撤回 and 已中止 are neither running nor finished.
    pub withdrawn: i64,
    pub terminated: i64,
    pub pending: i64,
}

/// The applications an applicant's status filter (`tab` or `status`) keeps: 进行中 includes
/// 已退回 (waiting for the applicant); 已办结 is completed only — withdrawn and stopped
/// applications are shown as what they are.
pub(super) fn push_status_filter(b: &mut QueryBuilder<'_, Postgres>, key: &str) {
    let statuses = match key {
        "running" => "('running', 'returned')",
        "done" => "('completed')",
        "withdrawn" => "('withdrawn')",
        "terminated" => "('terminated')",
        _ => return,
    };
    b.push(" AND a.status IN ").push(statuses);
}

#[derive(Template, WebTemplate)]
#[template(path = "center/list.html")]
pub struct ListTemplate {
    pub page: Page,
    pub heading: &'static str,
    pub base: &'static str,
    pub tabs: Vec<Tab>,
    pub rows: Vec<Row>,
    pub groups: Vec<Group>,
    pub total: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub empty: &'static str,
    pub q: ListQuery,
    /// Extra column: "step" (current step), "note" (my action / transferred to).
    pub column: &'static str,
    pub subtabs: Vec<Tab>,
    pub grouped_link: bool,
    pub cc_form: bool,
}

pub(super) struct Page2 {
    pub(super) rows: Vec<Row>,
    pub(super) total: i64,
}

/// Run a list query (`SELECT … ` + where + order) with paging and a total.
pub(super) async fn fetch(
    state: &AppState,
    mut b: QueryBuilder<'_, Postgres>,
    q: &ListQuery,
) -> sqlx::Result<Page2> {
    b.push(" LIMIT ")
        .push_bind(PAGE + 1)
        .push(" OFFSET ")
        .push_bind((q.page() - 1) * PAGE);
    let mut data: Vec<RowData> = b.build_query_as().fetch_all(&state.db).await?;
    let more = data.len() as i64 > PAGE;
    data.truncate(PAGE as usize);
    let total = (q.page() - 1) * PAGE + data.len() as i64 + i64::from(more);
    Ok(Page2 {
        rows: rows(state, data),
        total,
    })
}

fn pager(q: &ListQuery, base: &str, shown: usize, total: i64) -> (Option<String>, Option<String>) {
    let p = q.page();
    let prev = (p > 1).then(|| q.with_page(base, p - 1));
    let next = ((p - 1) * PAGE + (shown as i64) < total).then(|| q.with_page(base, p + 1));
    (prev, next)
}

pub(super) const ROW_SELECT: &str =
    "SELECT a.id AS app_id, a.title, a.serial_no, s.name AS service, ap.name AS applicant";

#[allow(clippy::too_many_arguments)]
pub(super) fn template(
    page: Page,
    heading: &'static str,
    base: &'static str,
    tabs: Vec<Tab>,
    p: Page2,
    q: ListQuery,
    empty: &'static str,
    column: &'static str,
) -> ListTemplate {
    let (prev, next) = pager(&q, base, p.rows.len(), p.total);
    ListTemplate {
        page,
        heading,
        base,
        tabs,
        total: p.total,
        rows: p.rows,
        groups: Vec::new(),
        prev,
        next,
        empty,
        q,
        column,
        subtabs: Vec::new(),
        grouped_link: false,
        cc_form: false,
    }
}

/// 我待办的 grouped by service: from `task_counts`, kept by triggers (migration 0004), so a
/// few rows however many tasks. $1 = the person.
pub const TODO_GROUPED_SQL: &str = "SELECT s.id, s.name, c.latest_at, c.total::int8, c.open::int8,
        (c.total - c.open)::int8, c.pending::int8
 FROM task_counts c JOIN services s ON s.id = c.service_id
 WHERE c.assignee_id = $1 AND c.pending > 0
 ORDER BY c.latest_at DESC, s.id";

/// 我待办的 as a flat list, newest first, on the partial index `tasks_todo_idx`.
/// $1 = the person, $2 = now (for 已超时), $3 = limit, $4 = offset; with a service filter,
/// $5 = the service. Two statements rather than `$5 IS NULL OR …`, so each keeps one cached
/// plan instead of being planned again on every request.
macro_rules! todo_flat_sql {
    ($filter:literal) => {
        concat!(
            "SELECT a.id AS app_id, a.title, a.serial_no, s.name AS service,
        ap.name AS applicant, t.node_name AS step, a.status, t.created_at AS at, NULL::text AS note,
        (t.due_at IS NOT NULL AND t.due_at < $2) AS overdue, false AS unread
 FROM tasks t JOIN applications a ON a.id = t.application_id
 JOIN services s ON s.id = a.service_id JOIN users ap ON ap.id = a.applicant_id
 WHERE t.kind = 'approve' AND t.status = 'pending' AND t.assignee_id = $1",
            $filter,
            " ORDER BY t.created_at DESC, t.id DESC LIMIT $3 OFFSET $4"
        )
    };
}
pub const TODO_FLAT_SQL: &str = todo_flat_sql!("");
pub const TODO_FLAT_SERVICE_SQL: &str = todo_flat_sql!(" AND t.service_id = $5");

/// 我待办的: grouped by service (default), or a flat list (optionally of one service).
pub async fn todo(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<ListTemplate> {
    let tabs = tabs(&state, &user, "/center/todo").await?;
    let flat = q.view.as_deref() == Some("flat") || q.service().is_some();
    if !flat {
        let groups: Vec<GroupRow> = sqlx::query_as(TODO_GROUPED_SQL)
            .bind(user.id)
            .fetch_all(&state.db)
            .await?;
        let mut t = template(
            page,
            "我待办的",
            "/center/todo",
            tabs,
            Page2 {
                rows: Vec::new(),
                total: 0,
            },
            q,
            "暂无待办事项。",
            "step",
        );
        t.groups = to_groups(&state, groups);
        t.total = t.groups.iter().map(|g| g.pending).sum();
        return Ok(t);
    }
    let query = sqlx::query_as(match q.service() {
        Some(_) => TODO_FLAT_SERVICE_SQL,
        None => TODO_FLAT_SQL,
    })
    .bind(user.id)
    .bind(state.now())
    .bind(PAGE + 1)
    .bind((q.page() - 1) * PAGE);
    let mut data: Vec<RowData> = match q.service() {
        Some(sid) => query.bind(sid),
        None => query,
    }
    .fetch_all(&state.db)
    .await?;
    let more = data.len() as i64 > PAGE;
    data.truncate(PAGE as usize);
    let p = Page2 {
        total: (q.page() - 1) * PAGE + data.len() as i64 + i64::from(more),
        rows: rows(&state, data),
    };
    let mut t = template(
        page,
        "我待办的",
        "/center/todo",
        tabs,
        p,
        q,
        "暂无待办事项。",
        "step",
    );
    t.grouped_link = true;
    Ok(t)
}

/// 抄送给我: unread first marked; "全部标为已读" or one at a time.
pub async fn cc(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<ListTemplate> {
    let tabs = tabs(&state, &user, "/center/cc").await?;
    let mut b = QueryBuilder::new(ROW_SELECT);
    b.push(
        ", t.node_name AS step, a.status, t.created_at AS at, t.id::text AS note, false AS overdue,
           (t.status = 'unread') AS unread
         FROM tasks t JOIN applications a ON a.id = t.application_id
         JOIN services s ON s.id = a.service_id JOIN users ap ON ap.id = a.applicant_id
         WHERE t.kind = 'cc' AND t.assignee_id = ",
    )
    .push_bind(user.id)
    .push(" ORDER BY t.created_at DESC, t.id DESC");
    let p = fetch(&state, b, &q).await?;
    let mut t = template(
        page,
        "抄送给我",
        "/center/cc",
        tabs,
        p,
        q,
        "暂无抄送给您的事项。",
        "cc",
    );
    t.cc_form = true;
    Ok(t)
}

#[derive(Deserialize)]
pub struct ReadForm {
    /// A task id, or "all".
    which: String,
}

pub async fn cc_read(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    Form(f): Form<ReadForm>,
) -> AppResult<Response> {
    // "all", or one task id; someone else's id changes nothing.
    let which = (f.which != "all").then(|| f.which.parse().unwrap_or(0));
    let n = crate::workflow::store::records::mark_cc_read(
        &mut *state.db.acquire().await?,
        user.id,
        which,
        state.now(),
    )
    .await?;
    flash(&flashes, "success", format!("已标为已读（{n} 条）。"));
    Ok(Redirect::to("/center/cc").into_response())
}

pub async fn drafts(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<ListTemplate> {
    let tabs = tabs(&state, &user, "/center/drafts").await?;
    let mut b = QueryBuilder::new(ROW_SELECT);
    b.push(
        ", NULL::text AS step, a.status, a.updated_at AS at, NULL::text AS note, false AS overdue, false AS unread
         FROM applications a JOIN services s ON s.id = a.service_id JOIN users ap ON ap.id = a.applicant_id
         WHERE a.status = 'draft' AND a.applicant_id = ",
    )
    .push_bind(user.id)
    .push(" ORDER BY a.updated_at DESC, a.id DESC");
    let p = fetch(&state, b, &q).await?;
    Ok(template(
        page,
        "草稿箱",
        "/center/drafts",
        tabs,
        p,
        q,
        "草稿箱是空的。填写表单时点“存草稿”，可稍后继续。",
        "none",
    ))
}

/// 我转办的: what I handed over, to whom, and how the application stands.
pub async fn transferred(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<ListTemplate> {
    let tabs = tabs(&state, &user, "/center/transferred").await?;
    let mut b = QueryBuilder::new(ROW_SELECT);
    b.push(
        ", t.node_name AS step, a.status, t.acted_at AS at,
           (SELECT u.name || '（' || u.account || '）' FROM users u WHERE u.id = t.transferred_to) AS note,
           false AS overdue, false AS unread
         FROM tasks t JOIN applications a ON a.id = t.application_id
         JOIN services s ON s.id = a.service_id JOIN users ap ON ap.id = a.applicant_id
         WHERE t.action = 'transfer' AND t.assignee_id = ",
    )
    .push_bind(user.id)
    .push(" ORDER BY t.acted_at DESC, t.id DESC");
    let p = fetch(&state, b, &q).await?;
    Ok(template(
        page,
        "我转办的",
        "/center/transferred",
        tabs,
        p,
        q,
        "没有转办过事项。",
        "transfer",
    ))
}
