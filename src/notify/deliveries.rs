//! Deliveries for 管理后台's 消息投递 page: what is not delivered yet, and sending failed
//! ones again. The outbox is this module's table, so the page reads and resets it here.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

/// The outside channels a delivery can fail on (in-app rows never fail).
pub const OUTSIDE: [&str; 3] = ["sms", "email", "wecom"];

/// One row not delivered yet.
#[derive(sqlx::FromRow)]
pub struct Undelivered {
    pub id: i64,
    pub channel: String,
    pub recipient_account: String,
    pub recipient_name: String,
    pub kind: String,
    pub text: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Up to `limit` undelivered rows (of `channel`, or all; failed only if `failed_only`),
/// failed first, newest first.
pub async fn undelivered<'c>(
    db: impl PgExecutor<'c>,
    channel: Option<&str>,
    failed_only: bool,
    limit: i64,
) -> sqlx::Result<Vec<Undelivered>> {
    sqlx::query_as(
        "SELECT o.id, o.channel, u.account AS recipient_account, u.name AS recipient_name, o.kind,
                o.payload->>'text' AS text, o.attempts, o.created_at, o.next_attempt_at,
                o.failed_at, o.last_error
         FROM outbox o JOIN users u ON u.id = o.recipient_id
         WHERE o.delivered_at IS NULL AND ($1::text IS NULL OR o.channel = $1)
           AND (NOT $2 OR o.failed_at IS NOT NULL)
         ORDER BY o.failed_at DESC NULLS LAST, o.id DESC LIMIT $3",
    )
    .bind(channel)
    .bind(failed_only)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Per channel: (channel, waiting, failed), for channels with any undelivered row.
pub async fn counts<'c>(db: impl PgExecutor<'c>) -> sqlx::Result<Vec<(String, i64, i64)>> {
    sqlx::query_as(
        "SELECT channel, count(*) FILTER (WHERE failed_at IS NULL),
                count(*) FILTER (WHERE failed_at IS NOT NULL)
         FROM outbox WHERE delivered_at IS NULL GROUP BY channel ORDER BY channel",
    )
    .fetch_all(db)
    .await
}

/// A failed row put back in the queue.
#[derive(sqlx::FromRow, Debug)]
pub struct Requeued {
    pub id: i64,
    pub channel: String,
    pub idempotency_key: String,
    pub last_error: Option<String>,
}

/// Puts failed outside deliveries back in the queue, due `now`, with a fresh count of
/// attempts: `id` one row, else every failed row of `channel`. The idempotency key stays,
/// so a gateway that did receive an earlier try recognises the message; the last error
/// stays until the next try replaces or clears it. Returns the rows requeued (none when
/// nothing matched: unknown, delivered, or not failed).
pub async fn requeue_failed(
    conn: &mut PgConnection,
    id: Option<i64>,
    channel: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Requeued>> {
    sqlx::query_as(
        "UPDATE outbox SET failed_at = NULL, attempts = 0, next_attempt_at = $3, lease_until = NULL
         WHERE failed_at IS NOT NULL AND delivered_at IS NULL AND channel <> 'inapp'
           AND ($1::bigint IS NULL OR id = $1) AND ($2::text IS NULL OR channel = $2)
         RETURNING id, channel, idempotency_key, last_error",
    )
    .bind(id)
    .bind(channel)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Whether an outbox row `id` exists (to tell "unknown" from "nothing to retry").
pub async fn exists<'c>(db: impl PgExecutor<'c>, id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outbox WHERE id = $1)")
        .bind(id)
        .fetch_one(db)
        .await
}
