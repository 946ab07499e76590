//! Notifications: the outbox (written in the same transaction as each event) and the
//! worker that delivers it. In-app messages (消息中心) are delivered here; SMS, e-mail
//! and WeChat Work channels plug into `deliver` later.

pub mod inbox;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

#[derive(sqlx::FromRow)]
struct Due {
    id: i64,
    channel: String,
    recipient_id: i64,
    application_id: Option<i64>,
    kind: String,
    payload: serde_json::Value,
    created_at: DateTime<Utc>,
}

/// Deliver up to `batch` due outbox rows; returns how many were delivered. Safe with
/// several instances: rows are claimed with `FOR UPDATE SKIP LOCKED`, and an in-app
/// message is written in the same transaction that marks its row delivered, so a crash
/// loses nothing and a row is never delivered twice.
pub async fn deliver_due(db: &PgPool, now: DateTime<Utc>, batch: i64) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    let due: Vec<Due> = sqlx::query_as(
        "SELECT id, channel, recipient_id, application_id, kind, payload, created_at FROM outbox
         WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    let mut delivered = 0;
    for Due {
        id,
        channel,
        recipient_id: recipient,
        application_id: app,
        kind,
        payload,
        created_at: created,
    } in due
    {
        match channel.as_str() {
            "inapp" => {
                sqlx::query(
                    "INSERT INTO messages (outbox_id, user_id, application_id, kind, text, link, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (outbox_id) DO NOTHING",
                )
                .bind(id)
                .bind(recipient)
                .bind(app)
                .bind(&kind)
                .bind(payload.get("text").and_then(|v| v.as_str()).unwrap_or(""))
                .bind(payload.get("link").and_then(|v| v.as_str()).unwrap_or(""))
                .bind(created)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE outbox SET delivered_at = $2, attempts = attempts + 1 WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                delivered += 1;
            }
            other => {
                // No provider configured for this channel: park it visibly for admins.
                sqlx::query("UPDATE outbox SET failed_at = $2, last_error = $3, attempts = attempts + 1 WHERE id = $1")
                    .bind(id)
                    .bind(now)
                    .bind(format!("channel {other} is not configured"))
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(delivered)
}

#[derive(sqlx::FromRow)]
struct Overdue {
    id: i64,
    application_id: i64,
    assignee_id: i64,
    node_name: String,
    escalate: bool,
    reminders: i32,
    title: String,
    serial_no: Option<String>,
}

/// Overdue tasks: a reminder to the assignee once per time-limit period and, where the node
/// says so, a notice to the assignee's 部门负责人. Claiming and writing the outbox rows is one
/// transaction, so several instances never remind twice for one period.
pub async fn remind_overdue(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    let due: Vec<Overdue> = sqlx::query_as(
        "UPDATE tasks t SET reminded_at = $1, reminders = t.reminders + 1
         FROM applications a
         WHERE a.id = t.application_id AND t.status = 'pending' AND t.kind = 'approve'
           AND t.due_at <= $1
           AND (t.reminded_at IS NULL OR t.reminded_at + (t.due_at - t.created_at) <= $1)
         RETURNING t.id, t.application_id, t.assignee_id, t.node_name, t.escalate, t.reminders, a.title, a.serial_no",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let n = due.len() as u64;
    for t in due {
        let serial = t.serial_no.clone().unwrap_or_default();
        let payload = serde_json::json!({
            "text": format!("提醒：{}（{}）在“{}”环节已超过办理时限，请尽快处理。", t.title, serial, t.node_name),
            "serial_no": serial,
            "link": format!("/applications/{}", t.application_id),
        });
        sqlx::query(
            "INSERT INTO outbox (idempotency_key, recipient_id, application_id, kind, payload, created_at, next_attempt_at)
             VALUES ($1, $2, $3, 'reminder', $4, $5, $5) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(format!("reminder:{}:{}", t.id, t.reminders))
        .bind(t.assignee_id)
        .bind(t.application_id)
        .bind(&payload)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if t.escalate {
            let heads: Vec<i64> = sqlx::query_scalar(
                "SELECT DISTINCT ur.user_id FROM users u
                 JOIN user_roles ur ON ur.department_id = u.department_id
                 JOIN roles r ON r.id = ur.role_id AND r.code = 'dept_head'
                 WHERE u.id = $1 AND ur.user_id <> $1",
            )
            .bind(t.assignee_id)
            .fetch_all(&mut *tx)
            .await?;
            let assignee: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
                .bind(t.assignee_id)
                .fetch_one(&mut *tx)
                .await?;
            for head in heads {
                sqlx::query(
                    "INSERT INTO outbox (idempotency_key, recipient_id, application_id, kind, payload, created_at, next_attempt_at)
                     VALUES ($1, $2, $3, 'escalation', $4, $5, $5) ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .bind(format!("escalation:{}:{}:{}", t.id, t.reminders, head))
                .bind(head)
                .bind(t.application_id)
                .bind(serde_json::json!({
                    "text": format!("督办：{assignee} 的待办 {}（{}）在“{}”环节已超时。", t.title, serial, t.node_name),
                    "serial_no": serial,
                    "link": format!("/applications/{}", t.application_id),
                }))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(n)
}

/// The background worker: polls every `every` until the process stops.
pub async fn run_worker(
    db: PgPool,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    every: Duration,
) {
    loop {
        if let Err(e) = remind_overdue(&db, clock.now()).await {
            tracing::warn!(error = %e, "reminders failed; will retry");
        }
        match deliver_due(&db, clock.now(), 200).await {
            Ok(n) if n > 0 => tracing::debug!(delivered = n, "outbox delivered"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox delivery failed; will retry"),
        }
        tokio::time::sleep(every).await;
    }
}
