//! Every statement on the 填报任务 tables (migration 0026).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};

use super::target::Target;
use crate::{audit::Entry, forms::FormSchema};

/// A 填报任务 as its owner edits it.
#[derive(sqlx::FromRow, Clone)]
pub struct TaskRow {
    pub id: i64,
    pub title: String,
    pub explanation: String,
    pub form: sqlx::types::Json<FormSchema>,
    pub revision: i32,
    pub owner_id: i64,
    pub owner: String,
    pub target: sqlx::types::Json<Target>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub late_allowed: bool,
    pub editable: bool,
    pub needs_confirmation: bool,
    pub remind_days: Vec<i32>,
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

const TASK_SQL: &str = "SELECT c.id, c.title, c.explanation, c.form, c.revision, c.owner_id,
        u.name AS owner, c.target, c.opens_at, c.closes_at, c.late_allowed, c.editable,
        c.needs_confirmation, c.remind_days, c.published_at, c.updated_at
    FROM collections c JOIN users u ON u.id = c.owner_id";

pub async fn task(db: &PgPool, id: i64) -> sqlx::Result<Option<TaskRow>> {
    sqlx::query_as(&format!("{TASK_SQL} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The tasks `owner` made (all of them for a 系统管理员), newest first, with counts.
#[derive(sqlx::FromRow)]
pub struct OwnedRow {
    pub id: i64,
    pub title: String,
    pub owner: String,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub members: i64,
    pub filled: i64,
}

pub async fn owned(db: &PgPool, owner: Option<i64>) -> sqlx::Result<Vec<OwnedRow>> {
    sqlx::query_as(
        "SELECT c.id, c.title, u.name AS owner, c.opens_at, c.closes_at, c.published_at,
                (SELECT count(*) FROM collection_members m WHERE m.collection_id = c.id) AS members,
                (SELECT count(*) FROM collection_members m
                  WHERE m.collection_id = c.id AND m.state IN ('submitted', 'confirmed')) AS filled
         FROM collections c JOIN users u ON u.id = c.owner_id
         WHERE $1::bigint IS NULL OR c.owner_id = $1
         ORDER BY c.created_at DESC, c.id DESC LIMIT 200",
    )
    .bind(owner)
    .fetch_all(db)
    .await
}

/// What the owner sets on the settings page.
pub struct Settings<'a> {
    pub title: &'a str,
    pub explanation: &'a str,
    pub target: &'a Target,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub late_allowed: bool,
    pub editable: bool,
    pub needs_confirmation: bool,
    pub remind_days: &'a [i32],
}

pub async fn create(
    conn: &mut PgConnection,
    owner: i64,
    s: &Settings<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO collections (title, explanation, owner_id, target, opens_at, closes_at,
                                  late_allowed, editable, needs_confirmation, remind_days,
                                  created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
    )
    .bind(s.title)
    .bind(s.explanation)
    .bind(owner)
    .bind(sqlx::types::Json(s.target))
    .bind(s.opens_at)
    .bind(s.closes_at)
    .bind(s.late_allowed)
    .bind(s.editable)
    .bind(s.needs_confirmation)
    .bind(s.remind_days)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Saves the settings at the revision the page showed; `None` when someone changed the
/// task since. The group is kept once the task is published.
pub async fn update(
    conn: &mut PgConnection,
    id: i64,
    seen: i32,
    s: &Settings<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar(
        "UPDATE collections SET title = $3, explanation = $4,
                target = CASE WHEN published_at IS NULL THEN $5 ELSE target END,
                opens_at = $6, closes_at = $7, late_allowed = $8, editable = $9,
                needs_confirmation = $10, remind_days = $11, updated_at = $12,
                revision = revision + 1
         WHERE id = $1 AND revision = $2 RETURNING revision",
    )
    .bind(id)
    .bind(seen)
    .bind(s.title)
    .bind(s.explanation)
    .bind(sqlx::types::Json(s.target))
    .bind(s.opens_at)
    .bind(s.closes_at)
    .bind(s.late_allowed)
    .bind(s.editable)
    .bind(s.needs_confirmation)
    .bind(s.remind_days)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Why the form of a 填报任务 was not saved.
#[derive(Debug, PartialEq, Eq)]
pub enum FormRefused {
    /// Someone saved it since the page was shown.
    Stale,
    /// Published: the responses are kept by the form's keys, so it no longer changes.
    Published,
}

/// Saves the form designer's change at revision `seen`; audited as `collection.form.save`.
pub async fn save_form(
    db: &PgPool,
    id: i64,
    form: &FormSchema,
    seen: i32,
    by: i64,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> sqlx::Result<Result<i32, FormRefused>> {
    let mut tx = db.begin().await?;
    let published: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT published_at FROM collections WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if matches!(published, Some(Some(_))) {
        return Ok(Err(FormRefused::Published));
    }
    let revision: Option<i32> = sqlx::query_scalar(
        "UPDATE collections SET form = $3, revision = revision + 1, updated_at = $4
         WHERE id = $1 AND revision = $2 RETURNING revision",
    )
    .bind(id)
    .bind(seen)
    .bind(sqlx::types::Json(form))
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(revision) = revision else {
        return Ok(Err(FormRefused::Stale));
    };
    Entry::about(format!("collection:{id}"), "collection.form.save")
        .by(Some(by))
        .ip(ip)
        .detail(json!({ "revision": revision, "fields": form.fields.len() }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(Ok(revision))
}

/// Publishes the task: the group is resolved and fixed, each member gets a notice.
/// Returns the number of members, or `None` when it was already published or changed
/// since `seen`.
pub async fn publish(
    conn: &mut PgConnection,
    id: i64,
    seen: i32,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(sqlx::types::Json<Target>, String, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE collections SET published_at = $3, revision = revision + 1, updated_at = $3
         WHERE id = $1 AND revision = $2 AND published_at IS NULL
         RETURNING target, title, closes_at",
    )
    .bind(id)
    .bind(seen)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((target, title, _)) = row else {
        return Ok(None);
    };
    let n = add_members(conn, id, &target.0).await?.len() as i64;
    // Reminders whose day has already come are not sent on top of this notice.
    sqlx::query(
        "INSERT INTO collection_reminders (collection_id, days_before, sent_at)
         SELECT c.id, d, $2 FROM collections c, unnest(c.remind_days) d
         WHERE c.id = $1 AND c.closes_at - d * interval '1 day' <= $2
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    notify_members(
        conn,
        id,
        &format!("collect-open:{id}"),
        "collect_open",
        &format!("新的填报任务：{title}，请在截止时间前填报。"),
        None,
        now,
    )
    .await?;
    Ok(Some(n))
}

/// Adds to task `id` everyone who matches `t` and is not a member yet: the people added.
async fn add_members(conn: &mut PgConnection, id: i64, t: &Target) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(&format!(
        "INSERT INTO collection_members (collection_id, user_id, department_id)
         SELECT $1, u.id, u.department_id FROM users u WHERE {}
         ON CONFLICT DO NOTHING RETURNING user_id",
        super::target::MEMBER_SQL
    ))
    .bind(id)
    .bind(&t.departments)
    .bind(&t.kinds)
    .bind(&t.roles)
    .bind(&t.accounts)
    .fetch_all(&mut *conn)
    .await
}

/// 更新名单: the group of published task `id` resolved again, adding the people who match
/// it now (joined a department, got a role, new accounts) and telling only them. Nobody is
/// removed: a response, or the duty to fill, stays with whoever had it. Locks the task row
/// so two refreshes at once add each person once.
pub async fn refresh_members(
    conn: &mut PgConnection,
    id: i64,
    title: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<i64>> {
    let target: Option<sqlx::types::Json<Target>> = sqlx::query_scalar(
        "SELECT target FROM collections WHERE id = $1 AND published_at IS NOT NULL FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(target) = target else {
        return Ok(Vec::new());
    };
    let added = add_members(conn, id, &target.0).await?;
    if !added.is_empty() {
        notify_members(
            conn,
            id,
            &format!("collect-open:{id}"),
            "collect_open",
            &format!("新的填报任务：{title}，请在截止时间前填报。"),
            Some(&added),
            now,
        )
        .await?;
    }
    Ok(added)
}

/// Queues one notice per member of task `id` (those `only` names, or all), in the
/// caller's transaction, with one statement: a task may reach thousands of people.
pub async fn notify_members(
    conn: &mut PgConnection,
    id: i64,
    key: &str,
    kind: &str,
    text: &str,
    only: Option<&[i64]>,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO outbox (idempotency_key, recipient_id, kind, payload, created_at, next_attempt_at)
         SELECT $2 || ':' || m.user_id, m.user_id, $3,
                jsonb_build_object('text', $4::text, 'link', '/collect/' || $1), $5, $5
         FROM collection_members m
         WHERE m.collection_id = $1 AND ($6::bigint[] IS NULL OR m.user_id = ANY($6))
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(id)
    .bind(key)
    .bind(kind)
    .bind(text)
    .bind(now)
    .bind(only)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Deletes a task not yet published (nobody has seen it).
pub async fn delete_unpublished(conn: &mut PgConnection, id: i64) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM collections WHERE id = $1 AND published_at IS NULL")
            .bind(id)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// A member's response.
#[derive(sqlx::FromRow, Clone)]
pub struct MemberRow {
    pub state: String,
    pub data: Option<Value>,
    pub version: i32,
    pub submitted_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub late: bool,
    pub confirmed_at: Option<DateTime<Utc>>,
}

pub async fn member(db: &PgPool, id: i64, user: i64) -> sqlx::Result<Option<MemberRow>> {
    sqlx::query_as(
        "SELECT state, data, version, submitted_at, updated_at, late, confirmed_at
         FROM collection_members WHERE collection_id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await
}

/// Writes a member's draft or response at `version`; `None` when it moved on since (another
/// tab, a double click). A new submission clears a confirmation: what was confirmed changed.
#[allow(clippy::too_many_arguments)]
pub async fn save_response(
    conn: &mut PgConnection,
    id: i64,
    user: i64,
    version: i32,
    data: &Value,
    submit: bool,
    late: bool,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar(
        "UPDATE collection_members SET data = $4, version = version + 1, updated_at = $7,
                state = CASE WHEN $5 THEN 'submitted' WHEN state = 'pending' THEN 'draft' ELSE state END,
                submitted_at = CASE WHEN $5 THEN COALESCE(submitted_at, $7) ELSE submitted_at END,
                late = CASE WHEN $5 AND submitted_at IS NULL THEN $6 ELSE late END,
                confirmed_by = CASE WHEN $5 THEN NULL ELSE confirmed_by END,
                confirmed_at = CASE WHEN $5 THEN NULL ELSE confirmed_at END
         WHERE collection_id = $1 AND user_id = $2 AND version = $3
           AND ($5 OR state IN ('pending', 'draft'))
         RETURNING version",
    )
    .bind(id)
    .bind(user)
    .bind(version)
    .bind(data)
    .bind(submit)
    .bind(late)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// A stored file of a response.
#[derive(sqlx::FromRow)]
pub struct FileRow {
    pub id: i64,
    pub user_id: i64,
    pub field_key: String,
    pub file_name: String,
    pub size: i64,
}

/// The files of the responses of `users` to task `id`.
pub async fn files_of(
    conn: &mut PgConnection,
    id: i64,
    users: &[i64],
) -> sqlx::Result<Vec<FileRow>> {
    sqlx::query_as(
        "SELECT id, user_id, field_key, file_name, size FROM collection_files
         WHERE collection_id = $1 AND user_id = ANY($2) ORDER BY id",
    )
    .bind(id)
    .bind(users)
    .fetch_all(conn)
    .await
}

pub struct NewFile<'a> {
    pub id: i64,
    pub user: i64,
    pub field_key: &'a str,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub data: &'a [u8],
    pub sha256: &'a str,
    pub at: DateTime<Utc>,
}

pub async fn insert_file(conn: &mut PgConnection, f: NewFile<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO collection_files (collection_id, user_id, field_key, file_name, content_type,
                                       size, sha256, data, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(f.id)
    .bind(f.user)
    .bind(f.field_key)
    .bind(f.file_name)
    .bind(f.content_type)
    .bind(f.data.len() as i64)
    .bind(f.sha256)
    .bind(f.data)
    .bind(f.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes the member's own files among `ids`.
pub async fn remove_files(
    conn: &mut PgConnection,
    id: i64,
    user: i64,
    ids: &[i64],
) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM collection_files WHERE collection_id = $1 AND user_id = $2 AND id = ANY($3)",
    )
    .bind(id)
    .bind(user)
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// A file with what deciding who may download it needs.
#[derive(sqlx::FromRow)]
pub struct FileData {
    pub collection_id: i64,
    pub user_id: i64,
    pub department_id: Option<i64>,
    pub file_name: String,
    pub data: Vec<u8>,
}

pub async fn file(db: &PgPool, file: i64) -> sqlx::Result<Option<FileData>> {
    sqlx::query_as(
        "SELECT f.collection_id, f.user_id, m.department_id, f.file_name, f.data
         FROM collection_files f
         JOIN collection_members m ON m.collection_id = f.collection_id AND m.user_id = f.user_id
         WHERE f.id = $1",
    )
    .bind(file)
    .fetch_optional(db)
    .await
}
