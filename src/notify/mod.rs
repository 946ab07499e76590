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

/// The background worker: polls every `every` until the process stops.
pub async fn run_worker(
    db: PgPool,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    every: Duration,
) {
    loop {
        match deliver_due(&db, clock.now(), 200).await {
            Ok(n) if n > 0 => tracing::debug!(delivered = n, "outbox delivered"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox delivery failed; will retry"),
        }
        tokio::time::sleep(every).await;
    }
}
