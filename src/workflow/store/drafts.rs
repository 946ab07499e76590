//! Drafts: the applicant's own applications before 提交.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

/// How many drafts the person keeps (kept by triggers in `draft_counts`).
pub async fn count(conn: &mut PgConnection, user: i64) -> sqlx::Result<i64> {
    let n: Option<i64> =
        sqlx::query_scalar("SELECT drafts::int8 FROM draft_counts WHERE user_id = $1")
            .bind(user)
            .fetch_optional(conn)
            .await?;
    Ok(n.unwrap_or(0))
}

pub struct NewDraft<'a> {
    pub service_id: i64,
    pub applicant_id: i64,
    pub form_def_id: i64,
    pub workflow_def_id: i64,
    pub title: &'a str,
    pub data: Value,
    pub at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, d: NewDraft<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO applications (service_id, applicant_id, form_def_id, workflow_def_id, title, status, data, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $7) RETURNING id",
    )
    .bind(d.service_id)
    .bind(d.applicant_id)
    .bind(d.form_def_id)
    .bind(d.workflow_def_id)
    .bind(d.title)
    .bind(d.data)
    .bind(d.at)
    .fetch_one(conn)
    .await
}

/// Saves the draft's data if it is still a draft at `version`; its new version.
pub async fn save(
    conn: &mut PgConnection,
    id: i64,
    version: i32,
    data: Value,
    at: DateTime<Utc>,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar(
        "UPDATE applications SET data = $3, updated_at = $4, version = version + 1
         WHERE id = $1 AND version = $2 AND status = 'draft' RETURNING version",
    )
    .bind(id)
    .bind(version)
    .bind(data)
    .bind(at)
    .fetch_optional(conn)
    .await
}

/// Deletes the person's own draft; false when there is none.
pub async fn delete(conn: &mut PgConnection, id: i64, user: i64) -> sqlx::Result<bool> {
    let rows = sqlx::query(
        "DELETE FROM applications WHERE id = $1 AND applicant_id = $2 AND status = 'draft'",
    )
    .bind(id)
    .bind(user)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(rows == 1)
}
