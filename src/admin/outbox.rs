//! 消息投递 (系统管理员 only): notifications not delivered yet, with the reason of the
//! last failure; a failed one, or all failed ones of a channel, sent again. The outbox
//! belongs to `notify`, which does the reset.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    notify::deliveries::{self, OUTSIDE},
    web::AppState,
    web::page::{Flashes, Page, flash},
    web::user::{AdminUser, ClientIp},
};

const LIST_MAX: i64 = 200;

pub fn channel_label(c: &str) -> &'static str {
    match c {
        "sms" => "短信",
        "email" => "邮件",
        "wecom" => "企业微信",
        "inapp" => "站内消息",
        _ => "其他",
    }
}

fn kind_label(k: &str) -> &str {
    match k {
        "new_task" => "新待办",
        "cc" => "抄送",
        "urge" => "催办",
        "result" | "finished" => "办理结果",
        "returned" => "退回",
        "code" | "sms_code" => "验证码",
        other => other,
    }
}

#[derive(Deserialize, Default)]
pub struct OutboxQuery {
    #[serde(default)]
    channel: String,
    #[serde(default)]
    state: String,
}

pub struct OutboxRow {
    pub id: i64,
    pub channel: &'static str,
    pub recipient: String,
    pub kind: String,
    pub text: String,
    pub attempts: i32,
    pub failed: bool,
    pub error: String,
    pub created: String,
    /// When it failed, or when the next try is due.
    pub when: String,
}

pub struct ChannelCount {
    pub code: &'static str,
    pub label: &'static str,
    pub waiting: i64,
    pub failed: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/outbox.html")]
pub struct OutboxTemplate {
    pub page: Page,
    pub channel: String,
    pub failed_only: bool,
    pub channels: Vec<ChannelCount>,
    pub rows: Vec<OutboxRow>,
    pub pending: i64,
    pub failed: i64,
    pub list_max: i64,
}

/// Notifications not delivered (yet): failures with their reason, then those waiting.
pub async fn page(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Query(q): Query<OutboxQuery>,
) -> AppResult<OutboxTemplate> {
    let channel = ["sms", "email", "wecom", "inapp"]
        .into_iter()
        .find(|c| *c == q.channel);
    let failed_only = q.state == "failed";
    let counts = deliveries::counts(&state.db).await?;
    let rows = deliveries::undelivered(&state.db, channel, failed_only, LIST_MAX).await?;
    let tz = state.settings.time_zone;
    let fmt = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
    };
    let channels = OUTSIDE
        .iter()
        .chain(std::iter::once(&"inapp"))
        .map(|c| {
            let (waiting, failed) = counts
                .iter()
                .find(|(k, _, _)| k == c)
                .map(|(_, w, f)| (*w, *f))
                .unwrap_or((0, 0));
            ChannelCount {
                code: c,
                label: channel_label(c),
                waiting,
                failed,
            }
        })
        .collect();
    Ok(OutboxTemplate {
        page,
        channel: channel.unwrap_or("").to_owned(),
        failed_only,
        pending: counts.iter().map(|c| c.1).sum(),
        failed: counts.iter().map(|c| c.2).sum(),
        channels,
        list_max: LIST_MAX,
        rows: rows
            .into_iter()
            .map(|r| OutboxRow {
                id: r.id,
                channel: channel_label(&r.channel),
                recipient: format!("{}（{}）", r.recipient_name, r.recipient_account),
                kind: kind_label(&r.kind).to_owned(),
                text: r
                    .text
                    .map(|t| {
                        let mut s: String = t.chars().take(60).collect();
                        if t.chars().count() > 60 {
                            s.push('…');
                        }
                        s
                    })
                    .unwrap_or_default(),
                attempts: r.attempts,
                failed: r.failed_at.is_some(),
                error: r.last_error.unwrap_or_default(),
                created: fmt(r.created_at),
                when: fmt(r.failed_at.unwrap_or(r.next_attempt_at)),
            })
            .collect(),
    })
}

/// `POST /admin/outbox/{id}/retry`: one failed delivery back in the queue.
pub async fn retry_one(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let done = deliveries::requeue_failed(&mut tx, Some(id), None, now).await?;
    let Some(row) = done.first() else {
        drop(tx);
        if !deliveries::exists(&state.db, id).await? {
            return Err(AppError::NotFound);
        }
        flash(
            &flashes,
            "info",
            format!("通知 #{id} 不是投递失败的状态，无需重试。"),
        );
        return Ok(Redirect::to("/admin/outbox").into_response());
    };
    Entry::about(format!("outbox:{id}"), "outbox.retry")
        .by(Some(admin.id))
        .ip(ip)
        .detail(serde_json::json!({
            "channel": row.channel,
            "count": 1,
            "idempotency_key": row.idempotency_key,
            "last_error": row.last_error,
        }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(
        &flashes,
        "success",
        format!(
            "通知 #{id}（{}）已重新排入发送队列。",
            channel_label(&row.channel)
        ),
    );
    Ok(Redirect::to("/admin/outbox").into_response())
}

#[derive(Deserialize)]
pub struct RetryChannel {
    #[serde(default)]
    channel: String,
}

/// `POST /admin/outbox/retry` (`channel`): every failed delivery of one outside channel
/// back in the queue, in one transaction with its audit entry.
pub async fn retry_channel(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Form(f): Form<RetryChannel>,
) -> AppResult<Response> {
    let Some(channel) = OUTSIDE.into_iter().find(|c| *c == f.channel) else {
        flash(
            &flashes,
            "error",
            "请选择要重试的渠道（短信、邮件或企业微信）。",
        );
        return Ok(Redirect::to("/admin/outbox").into_response());
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let done = deliveries::requeue_failed(&mut tx, None, Some(channel), now).await?;
    if done.is_empty() {
        drop(tx);
        flash(
            &flashes,
            "info",
            format!("没有投递失败的{}。", channel_label(channel)),
        );
        return Ok(Redirect::to(&format!("/admin/outbox?channel={channel}")).into_response());
    }
    Entry::about(format!("channel:{channel}"), "outbox.retry")
        .by(Some(admin.id))
        .ip(ip)
        .detail(serde_json::json!({
            "channel": channel,
            "count": done.len(),
            // The ids, for the record (bounded: a channel down for a day fails many).
            "ids": done.iter().take(1000).map(|r| r.id).collect::<Vec<_>>(),
        }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(
        &flashes,
        "success",
        format!(
            "已将 {} 条投递失败的{}重新排入发送队列。",
            done.len(),
            channel_label(channel)
        ),
    );
    Ok(Redirect::to(&format!("/admin/outbox?channel={channel}")).into_response())
}
