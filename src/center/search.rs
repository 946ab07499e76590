//! 个人中心's search: an exact 流水号, or keywords and filters over what the person may see.

use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, Utc};
use sqlx::QueryBuilder;

use super::lists::{ListQuery, ROW_SELECT, fetch, push_status_filter, tabs, template};
use crate::{error::AppResult, web::AppState, web::page::Page, web::user::CurrentUser};

/// Search across the center: an exact 流水号 opens that application; otherwise keyword
/// (title, service, applicant), service, status and date filters over what I may see.
pub async fn search(
    state: &AppState,
    user: &CurrentUser,
    page: Page,
    q: ListQuery,
) -> AppResult<Response> {
    let term =
        q.q.clone()
            .unwrap_or_default()
            .trim()
            .chars()
            .take(50)
            .collect::<String>();
    if !term.is_empty() {
        let exact: Option<i64> = sqlx::query_scalar(
            "SELECT a.id FROM applications a WHERE upper(a.serial_no) = upper($1)
               AND (a.applicant_id = $2 OR EXISTS (SELECT 1 FROM tasks t WHERE t.application_id = a.id AND t.assignee_id = $2))",
        )
        .bind(&term)
        .bind(user.id)
        .fetch_optional(&state.db)
        .await?;
        if let Some(id) = exact {
            return Ok(Redirect::to(&format!("/applications/{id}")).into_response());
        }
    }
    let tabs = tabs(state, user, "/center").await?;
    let mut b = QueryBuilder::new(ROW_SELECT);
    b.push(
        ", NULL::text AS step, a.status, a.updated_at AS at, NULL::text AS note, false AS overdue, false AS unread
         FROM applications a JOIN services s ON s.id = a.service_id JOIN users ap ON ap.id = a.applicant_id
         WHERE a.status <> 'draft' AND (a.applicant_id = ",
    )
    .push_bind(user.id)
    .push(" OR EXISTS (SELECT 1 FROM tasks t WHERE t.application_id = a.id AND t.assignee_id = ")
    .push_bind(user.id)
    .push("))");
    if !term.is_empty() {
        let like = format!(
            "%{}%",
            term.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        b.push(" AND (a.title ILIKE ")
            .push_bind(like.clone())
            .push(" OR s.name ILIKE ")
            .push_bind(like.clone())
            .push(" OR ap.name ILIKE ")
            .push_bind(like.clone())
            .push(" OR a.serial_no ILIKE ")
            .push_bind(like)
            .push(")");
    }
    if let Some(sid) = q.service() {
        b.push(" AND a.service_id = ").push_bind(sid);
    }
    push_status_filter(&mut b, q.status.as_deref().unwrap_or(""));
    let tz = state.settings.time_zone;
    let local_midnight = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&Utc))
    };
    if let Some(from) = ListQuery::date(&q.from).and_then(local_midnight) {
        b.push(" AND a.updated_at >= ").push_bind(from);
    }
    if let Some(to) = ListQuery::date(&q.to)
        .and_then(|d| d.succ_opt())
        .and_then(local_midnight)
    {
        b.push(" AND a.updated_at < ").push_bind(to);
    }
    b.push(" ORDER BY a.updated_at DESC, a.id DESC");
    let p = fetch(state, b, &q).await?;
    Ok(template(
        page,
        "搜索结果",
        "/center",
        tabs,
        p,
        q,
        "没有找到符合条件的事项。",
        "none",
    )
    .into_response())
}
