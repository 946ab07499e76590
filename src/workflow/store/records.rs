//! 流转记录, 催办 and 评价 rows, and the in-app notices of events outside a transition.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use super::{AppRow, transition::payload};
use crate::workflow::engine::UserId;

#[allow(clippy::too_many_arguments)]
pub async fn insert_flow(
    conn: &mut PgConnection,
    app: i64,
    node: &str,
    name: &str,
    actor: Option<UserId>,
    action: &str,
    comment: &str,
    details: Value,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO flow_records (application_id, node_id, node_name, actor_id, action, comment, details, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(app)
    .bind(node)
    .bind(name)
    .bind(actor)
    .bind(action)
    .bind(comment)
    .bind(details)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// An in-app notification (delivered by the notifications module); the key makes a
/// retried transaction or a duplicate event harmless.
pub async fn insert_notice(
    conn: &mut PgConnection,
    key: String,
    recipient: UserId,
    app: &AppRow,
    kind: &str,
    text: String,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    crate::notify::enqueue(
        conn,
        crate::notify::Notice {
            key,
            recipient,
            application_id: Some(app.id),
            kind,
            payload: payload(app, text),
            at,
        },
    )
    .await
}

/// One line of the 流转记录 as the application page shows it.
#[derive(sqlx::FromRow)]
pub struct FlowRow {
    pub id: i64,
    /// A handwritten signature is kept with the record.
    pub signed: bool,
    pub node_name: String,
    pub actor: Option<String>,
    pub action: String,
    pub comment: String,
    pub at: DateTime<Utc>,
}

pub async fn flows(conn: &mut PgConnection, app: i64) -> sqlx::Result<Vec<FlowRow>> {
    // The 办结 line comes from the application row (its status and finished_at), last;
    // applications completed before it was derived have it stored, and show that one.
    sqlx::query_as(
        "SELECT id, signed, node_name, actor, action, comment, at FROM (
             SELECT f.id, f.signature IS NOT NULL AS signed, f.node_name, u.name AS actor,
                    f.action, f.comment, f.at
             FROM flow_records f LEFT JOIN users u ON u.id = f.actor_id
             WHERE f.application_id = $1
             UNION ALL
             SELECT 9223372036854775807, false, '办结', NULL, 'complete', '', a.finished_at
             FROM applications a
             WHERE a.id = $1 AND a.status = 'completed' AND a.finished_at IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM flow_records c
                               WHERE c.application_id = $1 AND c.action = 'complete')
         ) r ORDER BY id",
    )
    .bind(app)
    .fetch_all(conn)
    .await
}

/// The handwritten signature kept with flow record `flow` of application `app`.
pub async fn signature(
    conn: &mut PgConnection,
    app: i64,
    flow: i64,
) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar(
        "SELECT signature FROM flow_records
          WHERE id = $1 AND application_id = $2 AND signature IS NOT NULL",
    )
    .bind(flow)
    .bind(app)
    .fetch_optional(conn)
    .await
}

/// Locks the application row: two 催办 of one application run one after the other.
pub async fn lock_app(conn: &mut PgConnection, app: i64) -> sqlx::Result<()> {
    sqlx::query("SELECT id FROM applications WHERE id = $1 FOR UPDATE")
        .bind(app)
        .execute(conn)
        .await?;
    Ok(())
}

/// When the node was last urged.
pub async fn last_urge(
    conn: &mut PgConnection,
    app: i64,
    node: &str,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT max(at) FROM urges WHERE application_id = $1 AND node_id = $2")
        .bind(app)
        .bind(node)
        .fetch_one(conn)
        .await
}

/// The people with an open task at the node: (person, the node's name).
#[derive(sqlx::FromRow)]
pub struct Assignee {
    pub assignee_id: i64,
    pub node_name: String,
}

pub async fn pending_at(
    conn: &mut PgConnection,
    app: i64,
    node: &str,
) -> sqlx::Result<Vec<Assignee>> {
    sqlx::query_as(
        "SELECT assignee_id, node_name FROM tasks WHERE application_id = $1 AND node_id = $2 AND status = 'pending'",
    )
    .bind(app)
    .bind(node)
    .fetch_all(conn)
    .await
}

pub async fn insert_urge(
    conn: &mut PgConnection,
    app: i64,
    node: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO urges (application_id, node_id, at) VALUES ($1, $2, $3)")
        .bind(app)
        .bind(node)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the applicant's 评价 of their completed, not yet rated application; false when
/// there is no such application.
pub async fn set_rating(
    conn: &mut PgConnection,
    app: i64,
    applicant: UserId,
    stars: i16,
    comment: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let rows = sqlx::query(
        "UPDATE applications SET rating = $3, rating_comment = $4, updated_at = $5
         WHERE id = $1 AND applicant_id = $2 AND status = 'completed' AND rating IS NULL",
    )
    .bind(app)
    .bind(applicant)
    .bind(stars)
    .bind(comment)
    .bind(at)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(rows == 1)
}

/// 标为已读: the person's unread 抄送 (one task, or all of them with `None`); how many
/// changed. Only the person's own: someone else's task id changes nothing.
pub async fn mark_cc_read(
    conn: &mut PgConnection,
    user: UserId,
    task: Option<i64>,
    at: DateTime<Utc>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE tasks SET status = 'read', acted_at = $2
         WHERE assignee_id = $1 AND kind = 'cc' AND status = 'unread' AND ($3::int8 IS NULL OR id = $3)",
    )
    .bind(user)
    .bind(at)
    .bind(task)
    .execute(conn)
    .await?
    .rows_affected())
}
