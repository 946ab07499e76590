//! Work still open, as 管理后台 asks about it: the running applications that tie a
//! department down, and a person's pending approval tasks (for 转办 when they leave).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Applications still running (or returned to the applicant) started by one of
/// `applicants` or for one of `services`: how many, and the first five 流水号 with titles.
pub async fn running_for(
    conn: &mut PgConnection,
    applicants: &[i64],
    services: &[i64],
) -> sqlx::Result<(i64, Vec<String>)> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT count(*) OVER (), COALESCE(serial_no, '') || ' ' || title FROM applications
         WHERE status IN ('running', 'returned')
           AND (applicant_id = ANY($1) OR service_id = ANY($2))
         ORDER BY id LIMIT 5",
    )
    .bind(applicants)
    .bind(services)
    .fetch_all(conn)
    .await?;
    Ok((
        rows.first().map(|r| r.0).unwrap_or(0),
        rows.into_iter().map(|r| r.1).collect(),
    ))
}

/// A pending approval task, with what a 转办 needs to name it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenTask {
    pub task_id: i64,
    pub application_id: i64,
    pub serial_no: Option<String>,
    pub title: String,
    pub node_id: String,
    pub node_name: String,
    pub created_at: DateTime<Utc>,
}

/// `user`'s pending approval tasks on running applications, oldest first (at most 200).
pub async fn pending_of(conn: &mut PgConnection, user: i64) -> sqlx::Result<Vec<OpenTask>> {
    sqlx::query_as(
        "SELECT t.id AS task_id, a.id AS application_id, a.serial_no, a.title, t.node_id,
                t.node_name, t.created_at
         FROM tasks t JOIN applications a ON a.id = t.application_id
         WHERE t.assignee_id = $1 AND t.kind = 'approve' AND t.status = 'pending'
           AND a.status = 'running'
         ORDER BY t.created_at, t.id LIMIT 200",
    )
    .bind(user)
    .fetch_all(conn)
    .await
}

/// The pending task `task_id` of `user`: its application and node.
pub async fn pending_task(
    conn: &mut PgConnection,
    task_id: i64,
    user: i64,
) -> sqlx::Result<Option<(i64, String)>> {
    sqlx::query_as(
        "SELECT application_id, node_id FROM tasks
         WHERE id = $1 AND assignee_id = $2 AND kind = 'approve' AND status = 'pending'",
    )
    .bind(task_id)
    .bind(user)
    .fetch_optional(conn)
    .await
}
