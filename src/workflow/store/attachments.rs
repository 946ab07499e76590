//! Attachments: files of an application's attachment fields, stored in the database.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A stored file as the form lists it.
#[derive(sqlx::FromRow)]
pub struct FileRow {
    pub id: i64,
    pub field_key: String,
    pub file_name: String,
    pub size: i64,
}

pub async fn list(conn: &mut PgConnection, app: i64) -> sqlx::Result<Vec<FileRow>> {
    sqlx::query_as(
        "SELECT id, field_key, file_name, size FROM attachments WHERE application_id = $1 ORDER BY id",
    )
    .bind(app)
    .fetch_all(conn)
    .await
}

/// Locks the application if `user` may change its files now: their own draft or returned
/// application, still at `version`. Call inside the transaction that changes the files.
pub async fn lock_editable(
    conn: &mut PgConnection,
    app: i64,
    user: i64,
    version: i32,
) -> sqlx::Result<bool> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM applications
         WHERE id = $1 AND applicant_id = $2 AND version = $3 AND status IN ('draft', 'returned')
         FOR UPDATE",
    )
    .bind(app)
    .bind(user)
    .bind(version)
    .fetch_optional(conn)
    .await?;
    Ok(id.is_some())
}

/// Removes these files, only where they belong to one of `fields`.
pub async fn remove(
    conn: &mut PgConnection,
    app: i64,
    ids: &[i64],
    fields: &[&str],
) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM attachments WHERE application_id = $1 AND id = ANY($2) AND field_key = ANY($3)",
    )
    .bind(app)
    .bind(ids)
    .bind(fields)
    .execute(conn)
    .await?;
    Ok(())
}

/// The size of all the application's files.
pub async fn total_size(conn: &mut PgConnection, app: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(size), 0)::bigint FROM attachments WHERE application_id = $1",
    )
    .bind(app)
    .fetch_one(conn)
    .await
}

pub struct NewFile<'a> {
    pub app: i64,
    pub field_key: &'a str,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub sha256: &'a str,
    pub data: &'a [u8],
    pub uploaded_by: i64,
    pub at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, f: NewFile<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO attachments (application_id, field_key, file_name, content_type, size, sha256, data, uploaded_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(f.app)
    .bind(f.field_key)
    .bind(f.file_name)
    .bind(f.content_type)
    .bind(f.data.len() as i64)
    .bind(f.sha256)
    .bind(f.data)
    .bind(f.uploaded_by)
    .bind(f.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The ids of the files in one field, oldest first.
pub async fn ids_in_field(
    conn: &mut PgConnection,
    app: i64,
    field: &str,
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT id FROM attachments WHERE application_id = $1 AND field_key = $2 ORDER BY id",
    )
    .bind(app)
    .bind(field)
    .fetch_all(conn)
    .await
}

/// What a download needs to know before it reads the bytes.
#[derive(sqlx::FromRow)]
pub struct FileMeta {
    pub application_id: i64,
    pub file_name: String,
    pub size: i64,
    pub field_key: String,
}

pub async fn meta(conn: &mut PgConnection, id: i64) -> sqlx::Result<Option<FileMeta>> {
    sqlx::query_as(
        "SELECT application_id, file_name, size, field_key FROM attachments WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// `len` bytes of the file from `offset` (0-based).
pub async fn slice<'e, E>(exec: E, id: i64, offset: i64, len: i64) -> sqlx::Result<Vec<u8>>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    // substring() on bytea is 1-based.
    sqlx::query_scalar(
        "SELECT substring(data FROM $2::int FOR $3::int) FROM attachments WHERE id = $1",
    )
    .bind(id)
    .bind(offset + 1)
    .bind(len)
    .fetch_one(exec)
    .await
}
