//! Versions of a service's form and workflow (`service_versions`) and the designers'
//! working copy (`service_drafts`). A publish writes immutable definition rows (reusing
//! the current one when a half is unchanged) and a new version number; the current
//! version is the highest number.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::StoreError;

/// The channel a publish, a rollback or a change of a service's status is announced on
/// (`pg_notify` in the writing transaction, so listeners hear it at commit): every
/// instance drops what it cached about the catalog.
pub const CHANNEL: &str = "hall_catalog";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub id: i64,
    pub number: i32,
    pub form_def_id: i64,
    pub workflow_def_id: i64,
    pub published_at: DateTime<Utc>,
    pub published_by: Option<String>,
    pub note: String,
    pub restored_from: Option<i32>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DraftRow {
    pub form: Value,
    pub workflow: Value,
    pub base_number: Option<i32>,
    pub revision: i32,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

/// What a publish did: the version ids before and after (for the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub before: Option<i64>,
    pub after: i64,
    pub number: i32,
    pub form_def_id: i64,
    pub workflow_def_id: i64,
}

/// Every published version, newest first.
pub async fn list(db: &PgPool, service: i64) -> sqlx::Result<Vec<VersionRow>> {
    sqlx::query_as(
        "SELECT v.id, v.number, v.form_def_id, v.workflow_def_id, v.published_at,
                u.name AS published_by, v.note, v.restored_from
         FROM service_versions v LEFT JOIN users u ON u.id = v.published_by
         WHERE v.service_id = $1 ORDER BY v.number DESC",
    )
    .bind(service)
    .fetch_all(db)
    .await
}

/// The definitions of version `number` as stored (form, workflow).
pub async fn definitions(
    db: &PgPool,
    service: i64,
    number: i32,
) -> sqlx::Result<Option<(Value, Value)>> {
    sqlx::query_as(
        "SELECT f.schema, w.definition
         FROM service_versions v
         JOIN form_definitions f ON f.id = v.form_def_id
         JOIN workflow_definitions w ON w.id = v.workflow_def_id
         WHERE v.service_id = $1 AND v.number = $2",
    )
    .bind(service)
    .bind(number)
    .fetch_optional(db)
    .await
}

/// The current version's number, if the service has one.
pub async fn current_number(db: &PgPool, service: i64) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar("SELECT max(number) FROM service_versions WHERE service_id = $1")
        .bind(service)
        .fetch_one(db)
        .await
}

pub async fn draft(db: &PgPool, service: i64) -> sqlx::Result<Option<DraftRow>> {
    sqlx::query_as(
        "SELECT d.form, d.workflow, d.base_number, d.revision, d.updated_at, u.name AS updated_by
         FROM service_drafts d LEFT JOIN users u ON u.id = d.updated_by
         WHERE d.service_id = $1",
    )
    .bind(service)
    .fetch_optional(db)
    .await
}

/// Writes the working copy. `seen` is the revision the editor started from (`None`: it saw
/// no draft); if someone saved in between, nothing is written and the result is
/// `StoreError::Stale`. Returns the new revision.
#[allow(clippy::too_many_arguments)]
pub async fn save_draft(
    conn: &mut PgConnection,
    service: i64,
    form: &Value,
    workflow: &Value,
    base_number: Option<i32>,
    seen: Option<i32>,
    by: i64,
    now: DateTime<Utc>,
) -> Result<i32, StoreError> {
    let revision: Option<i32> = match seen {
        None => {
            sqlx::query_scalar(
                "INSERT INTO service_drafts (service_id, form, workflow, base_number, updated_by, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (service_id) DO NOTHING RETURNING revision",
            )
            .bind(service)
            .bind(form)
            .bind(workflow)
            .bind(base_number)
            .bind(by)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?
        }
        Some(seen) => {
            sqlx::query_scalar(
                "UPDATE service_drafts SET form = $2, workflow = $3, revision = revision + 1,
                        updated_by = $5, updated_at = $6
                 WHERE service_id = $1 AND revision = $4 RETURNING revision",
            )
            .bind(service)
            .bind(form)
            .bind(workflow)
            .bind(seen)
            .bind(by)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    revision.ok_or(StoreError::Stale)
}

/// Drops the working copy at revision `seen` (after a publish, or 放弃草稿).
pub async fn delete_draft(
    conn: &mut PgConnection,
    service: i64,
    seen: i32,
) -> Result<(), StoreError> {
    let n = sqlx::query("DELETE FROM service_drafts WHERE service_id = $1 AND revision = $2")
        .bind(service)
        .bind(seen)
        .execute(conn)
        .await?
        .rows_affected();
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Stale)
    }
}

/// Publishes `form` and `workflow` as the service's next version, inside the caller's
/// transaction (checks are the caller's). Publishes of one service are serialised by an
/// advisory lock, so two never take the same number. Announces the change on `CHANNEL`.
#[allow(clippy::too_many_arguments)]
pub async fn publish(
    conn: &mut PgConnection,
    service: i64,
    form: &Value,
    workflow: &Value,
    by: Option<i64>,
    now: DateTime<Utc>,
    note: &str,
    restored_from: Option<i32>,
) -> sqlx::Result<Published> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('service_versions'), $1::int4)")
        .bind(service as i32)
        .execute(&mut *conn)
        .await?;
    let current: Option<(i64, i32)> = sqlx::query_as(
        "SELECT id, number FROM service_versions WHERE service_id = $1 ORDER BY number DESC LIMIT 1",
    )
    .bind(service)
    .fetch_optional(&mut *conn)
    .await?;
    // A half identical to any earlier definition of the service (the current one when
    // only the other half changed, an old one on a rollback) reuses its row: applications
    // then share it, and the per-process definition cache stays warm.
    let form_def_id: i64 = sqlx::query_scalar(
        "WITH same AS (SELECT id FROM form_definitions WHERE service_id = $1 AND schema = $2
                       ORDER BY id DESC LIMIT 1),
              added AS (INSERT INTO form_definitions (service_id, version, schema)
                        SELECT $1, COALESCE(max(version), 0) + 1, $2 FROM form_definitions
                        WHERE service_id = $1 HAVING NOT EXISTS (SELECT 1 FROM same)
                        RETURNING id)
         SELECT id FROM same UNION ALL SELECT id FROM added",
    )
    .bind(service)
    .bind(form)
    .fetch_one(&mut *conn)
    .await?;
    let workflow_def_id: i64 = sqlx::query_scalar(
        "WITH same AS (SELECT id FROM workflow_definitions WHERE service_id = $1 AND definition = $2
                       ORDER BY id DESC LIMIT 1),
              added AS (INSERT INTO workflow_definitions (service_id, version, definition)
                        SELECT $1, COALESCE(max(version), 0) + 1, $2 FROM workflow_definitions
                        WHERE service_id = $1 HAVING NOT EXISTS (SELECT 1 FROM same)
                        RETURNING id)
         SELECT id FROM same UNION ALL SELECT id FROM added",
    )
    .bind(service)
    .bind(workflow)
    .fetch_one(&mut *conn)
    .await?;
    let number = current.as_ref().map_or(1, |c| c.1 + 1);
    let after: i64 = sqlx::query_scalar(
        "INSERT INTO service_versions
             (service_id, number, form_def_id, workflow_def_id, published_at, published_by, note, restored_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(service)
    .bind(number)
    .bind(form_def_id)
    .bind(workflow_def_id)
    .bind(now)
    .bind(by)
    .bind(note)
    .bind(restored_from)
    .fetch_one(&mut *conn)
    .await?;
    announce(&mut *conn, service).await?;
    Ok(Published {
        before: current.map(|c| c.0),
        after,
        number,
        form_def_id,
        workflow_def_id,
    })
}

/// Tells every instance, at commit, that what it cached about `service` is stale.
pub async fn announce(conn: &mut PgConnection, service: i64) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(service.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Per service: its current version number and whether a working copy waits.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionSummary {
    pub service_id: i64,
    pub current: Option<i32>,
    pub draft: bool,
}

/// `VersionSummary` of each of `services` (for lists).
pub async fn summaries(db: &PgPool, services: &[i64]) -> sqlx::Result<Vec<VersionSummary>> {
    sqlx::query_as(
        "SELECT s AS service_id,
                (SELECT max(number) FROM service_versions WHERE service_id = s) AS current,
                EXISTS (SELECT 1 FROM service_drafts WHERE service_id = s) AS draft
         FROM unnest($1::bigint[]) s",
    )
    .bind(services)
    .fetch_all(db)
    .await
}

/// The services that have a published version (a form and a workflow).
pub async fn versioned(db: &PgPool) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT DISTINCT service_id FROM service_versions")
        .fetch_all(db)
        .await
}

/// Whether anyone ever started an application of the service (drafts included).
pub async fn has_applications<'c>(
    db: impl sqlx::PgExecutor<'c>,
    service: i64,
) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM applications WHERE service_id = $1)")
        .bind(service)
        .fetch_one(db)
        .await
}

/// Deletes the workflow's rows of a service that never had an application: its working
/// copy, its versions and their definitions. Inside the caller's transaction, before the
/// catalog deletes the service itself.
pub async fn delete_service(conn: &mut PgConnection, service: i64) -> sqlx::Result<()> {
    for sql in [
        "DELETE FROM service_drafts WHERE service_id = $1",
        "DELETE FROM service_versions WHERE service_id = $1",
        "DELETE FROM task_counts WHERE service_id = $1",
        "DELETE FROM form_definitions WHERE service_id = $1",
        "DELETE FROM workflow_definitions WHERE service_id = $1",
    ] {
        sqlx::query(sql).bind(service).execute(&mut *conn).await?;
    }
    Ok(())
}
