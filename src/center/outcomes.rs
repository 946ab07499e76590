//! The lists by how applications stand: 我已办的 and 我发起的 (one row per application,
//! counts per service, 全部 / 进行中 / 已办结 / 已撤回 / 已中止), and the seed's 进行中事项
//! and 已完成事项 (started or approved by me).

use axum::extract::{Query, State};
use sqlx::QueryBuilder;

use super::lists::{
    Group, ListQuery, ListTemplate, ROW_SELECT, StartedRow, Tab, fetch, group, push_status_filter,
    tabs, template,
};
use crate::{
    error::AppResult,
    web::{AppState, page::Page, user::CurrentUser},
    workflow::store::action_label,
};

/// The tasks 我已办的 counts: mine that I decided, and 或签 tasks someone else decided
/// (issue 17, item 3). `t` is the task, `$1` the person.
const HANDLED: &str = "t.kind = 'approve' AND t.assignee_id = $1
    AND (t.status = 'done' OR (t.status = 'cancelled' AND t.action = 'decided'))";

/// 我已办的: one row per application I handled, with my latest action and its time (an
/// application I handled at several steps is one row: issue 17, item 11), and per
/// service the applications by how they stand.
pub async fn done(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<ListTemplate> {
    let tabs = tabs(&state, &user, "/center/done").await?;
    let tab = q.tab.clone().unwrap_or_default();
    let mut b = QueryBuilder::new(ROW_SELECT);
    // Newest first along my tasks, skipping any followed by a later one of mine on the
    // same application: the page stops after 21 rows instead of grouping them all.
    b.push(
        ", t.node_name AS step, a.status, t.acted_at AS at,
           CASE WHEN t.status = 'cancelled' THEN '由 ' || COALESCE(dz.name, '他人') || ' 处理' ELSE t.action END AS note,
           false AS overdue, false AS unread
         FROM tasks t JOIN applications a ON a.id = t.application_id
         JOIN services s ON s.id = a.service_id JOIN users ap ON ap.id = a.applicant_id
         LEFT JOIN users dz ON dz.id = t.decided_by
         WHERE t.kind = 'approve' AND t.assignee_id = ",
    )
    .push_bind(user.id)
    .push(
        " AND (t.status = 'done' OR (t.status = 'cancelled' AND t.action = 'decided'))
          AND NOT EXISTS (SELECT 1 FROM tasks l WHERE l.application_id = t.application_id
              AND l.kind = 'approve' AND l.assignee_id = t.assignee_id
              AND (l.status = 'done' OR (l.status = 'cancelled' AND l.action = 'decided'))
              AND (l.acted_at, l.id) > (t.acted_at, t.id))",
    );
    push_status_filter(&mut b, &tab);
    if let Some(sid) = q.service() {
        b.push(" AND a.service_id = ").push_bind(sid);
    }
    b.push(" ORDER BY t.acted_at DESC, t.id DESC");
    let mut p = fetch(&state, b, &q).await?;
    for r in &mut p.rows {
        if !r.note.starts_with("由 ") {
            r.note = action_label(&r.note).to_owned();
        }
    }
    let groups: Vec<StartedRow> = sqlx::query_as(&format!(
        "SELECT s.id, s.name, max(h.at), count(*),
                count(*) FILTER (WHERE a.status IN ('running', 'returned')),
                count(*) FILTER (WHERE a.status = 'completed'),
                count(*) FILTER (WHERE EXISTS (SELECT 1 FROM tasks o
                    WHERE o.application_id = a.id AND o.assignee_id = $1
                      AND o.kind = 'approve' AND o.status = 'pending')),
                count(*) FILTER (WHERE a.status = 'withdrawn'),
                count(*) FILTER (WHERE a.status = 'terminated')
         FROM (SELECT t.application_id, max(t.acted_at) AS at FROM tasks t
               WHERE {HANDLED} GROUP BY t.application_id) h
         JOIN applications a ON a.id = h.application_id JOIN services s ON s.id = a.service_id
         GROUP BY s.id, s.name ORDER BY max(h.at) DESC"
    ))
    .bind(user.id)
    .fetch_all(&state.db)
    .await?;
    let mut t = template(
        page,
        "我已办的",
        "/center/done",
        tabs,
        p,
        q,
        "还没有办理过事项。",
        "note",
    );
    t.subtabs = outcome_tabs("/center/done", &tab);
    t.groups = outcome_groups(&state, groups);
    Ok(t)
}

/// 全部 / 进行中 / 已办结 / 已撤回 / 已中止 over a list of applications.
fn outcome_tabs(base: &'static str, active: &str) -> Vec<Tab> {
    [
        ("", "", "全部"),
        ("running", "?tab=running", "进行中"),
        ("done", "?tab=done", "已办结"),
        ("withdrawn", "?tab=withdrawn", "已撤回"),
        ("terminated", "?tab=terminated", "已中止"),
    ]
    .into_iter()
    .map(|(key, query, label)| Tab {
        href: base,
        query,
        label,
        count: None,
        active: active == key,
    })
    .collect()
}

/// Per-service rows with the withdrawn and stopped counts apart.
fn outcome_groups(state: &AppState, rows: Vec<StartedRow>) -> Vec<Group> {
    rows.into_iter()
        .map(
            |(id, name, latest, all, running, finished, pending, withdrawn, terminated)| {
                group(
                    state,
                    (id, name, latest, all, running, finished, pending),
                    withdrawn,
                    terminated,
                )
            },
        )
        .collect()
}

/// 我发起的: tabs 全部 / 进行中 / 已办结 / 已撤回 / 已中止, and counts per service.
pub async fn started(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<ListTemplate> {
    let tabs_ = tabs(&state, &user, "/center/started").await?;
    let tab = q.tab.clone().unwrap_or_default();
    let mut b = QueryBuilder::new(ROW_SELECT);
    b.push(
        ", (SELECT string_agg(DISTINCT t.node_name, '、') FROM tasks t
            WHERE t.application_id = a.id AND t.status = 'pending') AS step,
           a.status, a.updated_at AS at, NULL::text AS note, false AS overdue, false AS unread
         FROM applications a JOIN services s ON s.id = a.service_id JOIN users ap ON ap.id = a.applicant_id
         WHERE a.status <> 'draft' AND a.applicant_id = ",
    )
    .push_bind(user.id);
    push_status_filter(&mut b, &tab);
    if let Some(sid) = q.service() {
        b.push(" AND a.service_id = ").push_bind(sid);
    }
    b.push(" ORDER BY a.updated_at DESC, a.id DESC");
    let p = fetch(&state, b, &q).await?;
    let groups: Vec<StartedRow> = sqlx::query_as(
        "SELECT s.id, s.name, max(a.updated_at), count(*),
                count(*) FILTER (WHERE a.status IN ('running', 'returned')),
                count(*) FILTER (WHERE a.status = 'completed'),
                count(*) FILTER (WHERE a.status = 'returned'),
                count(*) FILTER (WHERE a.status = 'withdrawn'),
                count(*) FILTER (WHERE a.status = 'terminated')
         FROM applications a JOIN services s ON s.id = a.service_id
         WHERE a.applicant_id = $1 AND a.status <> 'draft'
         GROUP BY s.id, s.name ORDER BY max(a.updated_at) DESC",
    )
    .bind(user.id)
    .fetch_all(&state.db)
    .await?;
    let mut t = template(
        page,
        "我发起的",
        "/center/started",
        tabs_,
        p,
        q,
        "还没有发起过申请。",
        "step",
    );
    t.subtabs = outcome_tabs("/center/started", &tab);
    t.groups = outcome_groups(&state, groups);
    Ok(t)
}

/// 进行中事项 and 已完成事项, as the seed describes them: applications I started or took
/// part in approving (I acted at a step), not yet finished or finished (办结, 撤回, 中止).
async fn involved(
    state: AppState,
    user: CurrentUser,
    page: Page,
    q: ListQuery,
    finished: bool,
) -> AppResult<ListTemplate> {
    let (base, heading, empty) = if finished {
        ("/center/finished", "已完成事项", "还没有已完成的事项。")
    } else {
        (
            "/center/ongoing",
            "进行中事项",
            "没有进行中的事项：您发起的和您审核过的申请办结前都在这里。",
        )
    };
    let tabs = tabs(&state, &user, base).await?;
    let mut b = QueryBuilder::new(ROW_SELECT);
    b.push(
        ", (SELECT string_agg(DISTINCT t.node_name, '、') FROM tasks t
            WHERE t.application_id = a.id AND t.status = 'pending') AS step,
           a.status, a.updated_at AS at,
           CASE WHEN a.applicant_id = ",
    )
    .push_bind(user.id)
    .push(
        " THEN '我发起的' ELSE '我审核的' END AS note, false AS overdue, false AS unread
         FROM applications a JOIN services s ON s.id = a.service_id JOIN users ap ON ap.id = a.applicant_id
         WHERE a.status IN ",
    )
    .push(if finished {
        "('completed', 'withdrawn', 'terminated')"
    } else {
        "('running', 'returned')"
    })
    // The person's applications and the ones they acted on, gathered first (two index
    // lookups), so the newest-first scan never walks other people's applications.
    .push(" AND a.id IN (SELECT id FROM applications WHERE applicant_id = ")
    .push_bind(user.id)
    .push(
        " UNION SELECT t.application_id FROM tasks t
           WHERE t.kind = 'approve' AND t.status = 'done' AND t.assignee_id = ",
    )
    .push_bind(user.id)
    .push(")");
    if let Some(sid) = q.service() {
        b.push(" AND a.service_id = ").push_bind(sid);
    }
    b.push(" ORDER BY a.updated_at DESC, a.id DESC");
    let p = fetch(&state, b, &q).await?;
    Ok(template(page, heading, base, tabs, p, q, empty, "involved"))
}

pub async fn ongoing(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<ListTemplate> {
    involved(state, user, page, q, false).await
}

pub async fn finished(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<ListTemplate> {
    involved(state, user, page, q, true).await
}
