//! 消息中心: a person's in-app messages, unread first marked; mark one or all read.

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

use crate::{
    error::{AppError, AppResult},
    web::AppState,
    web::page::{Flashes, Page, flash},
    web::user::CurrentUser,
};

const PAGE: i64 = 30;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/messages", get(list))
        .route("/messages/{id}/open", post(open))
        .route("/messages/read-all", post(read_all))
}

pub struct Message {
    pub id: i64,
    pub text: String,
    pub kind: &'static str,
    pub at: String,
    pub unread: bool,
}

fn kind_label(k: &str) -> &'static str {
    match k {
        "new_task" => "待办",
        "returned" => "退回",
        "completed" => "办结",
        "terminated" => "中止",
        "withdrawn" => "撤回",
        "task_closed" => "待办已结束",
        "cc" => "抄送",
        "urge" => "催办",
        "reminder" => "提醒",
        "escalation" => "督办",
        "security" => "安全提醒",
        _ => "通知",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "notify/messages.html")]
pub struct ListTemplate {
    pub page: Page,
    pub messages: Vec<Message>,
    pub unread: String,
    pub page_no: i64,
    pub has_next: bool,
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Query(q): Query<PageQuery>,
) -> AppResult<ListTemplate> {
    let page_no = q
        .page
        .and_then(|p| p.parse().ok())
        .unwrap_or(1i64)
        .clamp(1, 10_000);
    #[allow(clippy::type_complexity)]
    let rows: Vec<(i64, String, String, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT id, text, kind, created_at, read_at FROM messages WHERE user_id = $1
         ORDER BY id DESC LIMIT $2 OFFSET $3",
    )
    .bind(user.id)
    .bind(PAGE + 1)
    .bind((page_no - 1) * PAGE)
    .fetch_all(&state.db)
    .await?;
    let has_next = rows.len() as i64 > PAGE;
    let tz = state.settings.time_zone;
    Ok(ListTemplate {
        page,
        unread: user.unread_label(),
        messages: rows
            .into_iter()
            .take(PAGE as usize)
            .map(|(id, text, kind, at, read)| Message {
                id,
                text,
                kind: kind_label(&kind),
                at: at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                unread: read.is_none(),
            })
            .collect(),
        page_no,
        has_next,
    })
}

/// The person opened the application's page: their unread notices about it — a new 待办,
/// a 催办, the outcome of their own application — have been seen there, so the bell stops
/// counting them (the way a visited thread's notifications are). Found through
/// `messages_unread_idx` (person, application); writes nothing when there are none.
pub async fn seen_application(
    db: &sqlx::PgPool,
    user: i64,
    application: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE messages SET read_at = $3
         WHERE user_id = $1 AND application_id = $2 AND read_at IS NULL",
    )
    .bind(user)
    .bind(application)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Mark read and go to the application it is about (own messages only).
async fn open(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let link: Option<String> = sqlx::query_scalar(
        "UPDATE messages SET read_at = COALESCE(read_at, $3) WHERE id = $1 AND user_id = $2 RETURNING link",
    )
    .bind(id)
    .bind(user.id)
    .bind(state.now())
    .fetch_optional(&state.db)
    .await?;
    let link = link.ok_or(AppError::NotFound)?;
    let target = if link.starts_with('/') && !link.starts_with("//") {
        link
    } else {
        "/messages".into()
    };
    Ok(Redirect::to(&target).into_response())
}

#[derive(Deserialize)]
pub struct Empty {}

async fn read_all(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    Form(_): Form<Empty>,
) -> AppResult<Response> {
    sqlx::query("UPDATE messages SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL")
        .bind(user.id)
        .bind(state.now())
        .execute(&state.db)
        .await?;
    flash(&flashes, "success", "已全部标为已读。");
    Ok(Redirect::to("/messages").into_response())
}
