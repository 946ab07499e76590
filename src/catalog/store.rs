//! Saving catalog records. Search columns are always computed here, so they never go
//! stale relative to the name, tags, summary or department.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::model::search_columns;

#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct NewService {
    pub code: String,
    pub name: String,
    pub department_id: i64,
    pub category_id: i64,
    pub audiences: Vec<String>,
    pub tags: Vec<String>,
    pub summary: String,
    pub conditions: String,
    pub materials: String,
    pub process: String,
    pub time_limit: String,
    pub location: String,
    pub phone: String,
    pub faq: String,
    pub kind: String,
    pub external_url: Option<String>,
    pub start_user_types: Vec<String>,
    pub start_department_ids: Vec<i64>,
    pub start_roles: Vec<String>,
    pub status: String,
    pub recommend_for: Vec<String>,
    pub recommend_order: i32,
}

/// Insert a service unless one with its code exists; returns the new id.
pub async fn insert_service(
    conn: &mut PgConnection,
    s: &NewService,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<i64>> {
    let dept: String = sqlx::query_scalar("SELECT name FROM departments WHERE id = $1")
        .bind(s.department_id)
        .fetch_one(&mut *conn)
        .await?;
    let cols = search_columns(&s.name, &s.tags, &s.summary, &dept);
    sqlx::query_scalar(
        "INSERT INTO services (code, name, department_id, category_id, audiences, tags, summary,
             conditions, materials, process, time_limit, location, phone, faq, kind, external_url,
             start_user_types, start_department_ids, start_roles, status, recommend_for,
             recommend_order, pinyin_full, pinyin_initials, initial, search_doc, search_grams, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                 $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $28)
         ON CONFLICT (code) DO NOTHING RETURNING id",
    )
    .bind(&s.code)
    .bind(&s.name)
    .bind(s.department_id)
    .bind(s.category_id)
    .bind(&s.audiences)
    .bind(&s.tags)
    .bind(&s.summary)
    .bind(&s.conditions)
    .bind(&s.materials)
    .bind(&s.process)
    .bind(&s.time_limit)
    .bind(&s.location)
    .bind(&s.phone)
    .bind(&s.faq)
    .bind(&s.kind)
    .bind(&s.external_url)
    .bind(&s.start_user_types)
    .bind(&s.start_department_ids)
    .bind(&s.start_roles)
    .bind(&s.status)
    .bind(&s.recommend_for)
    .bind(s.recommend_order)
    .bind(&cols.pinyin_full)
    .bind(&cols.pinyin_initials)
    .bind(&cols.initial)
    .bind(&cols.search_doc)
    .bind(&cols.search_grams)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// A service's catalog entry with departments and the category named by code, as a
/// service package carries it (export).
#[derive(sqlx::FromRow)]
pub struct EntryRow {
    pub code: String,
    pub name: String,
    pub category: String,
    pub department: String,
    pub kind: String,
    pub external_url: Option<String>,
    pub audiences: Vec<String>,
    pub tags: Vec<String>,
    pub summary: String,
    pub start_user_types: Vec<String>,
    /// In the order the service lists them.
    pub start_departments: Vec<String>,
    pub start_roles: Vec<String>,
    pub recommend_for: Vec<String>,
    pub recommend_order: i32,
    pub conditions: String,
    pub materials: String,
    pub process: String,
    pub time_limit: String,
    pub location: String,
    pub phone: String,
    pub faq: String,
}

pub async fn entry(db: &sqlx::PgPool, id: i64) -> sqlx::Result<Option<EntryRow>> {
    sqlx::query_as(
        "SELECT s.code, s.name, c.code AS category, d.code AS department, s.kind, s.external_url,
                s.audiences, s.tags, s.summary, s.start_user_types,
                ARRAY(SELECT sd.code FROM unnest(s.start_department_ids) WITH ORDINALITY AS x(id, n)
                      JOIN departments sd ON sd.id = x.id ORDER BY x.n) AS start_departments,
                s.start_roles, s.recommend_for, s.recommend_order, s.conditions, s.materials,
                s.process, s.time_limit, s.location, s.phone, s.faq
         FROM services s JOIN departments d ON d.id = s.department_id
         JOIN service_categories c ON c.id = s.category_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Whether `user` administers the service (服务管理员 of it).
pub async fn is_service_admin(db: &sqlx::PgPool, service: i64, user: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM service_admins WHERE service_id = $1 AND user_id = $2)",
    )
    .bind(service)
    .bind(user)
    .fetch_one(db)
    .await
}

/// Makes `user` an administrator of the service (a fallback approver who sees every
/// application of it): whoever creates a service through 管理后台 or an import, so its
/// 服务管理员 fallback has someone to ask from the start.
pub async fn add_admin(conn: &mut PgConnection, service: i64, user: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO service_admins (service_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(service)
    .bind(user)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many active people administer the service (who a 服务管理员 fallback asks).
pub async fn active_admin_count(db: &sqlx::PgPool, service: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM service_admins sa JOIN users u ON u.id = sa.user_id
         WHERE sa.service_id = $1 AND u.status = 'active'",
    )
    .bind(service)
    .fetch_one(db)
    .await
}

/// A service's name, code, status, kind and department, for the header of its admin pages.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Summary {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub status: String,
    pub kind: String,
    pub department_id: i64,
    pub department: String,
}

pub async fn summary(db: &sqlx::PgPool, id: i64) -> sqlx::Result<Option<Summary>> {
    sqlx::query_as(
        "SELECT s.id, s.code, s.name, s.status, s.kind, s.department_id, d.name AS department
         FROM services s JOIN departments d ON d.id = s.department_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A service as stored, for the editor: every catalog field and the stamp of its last
/// change (the editor's optimistic lock).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stored {
    pub id: i64,
    #[sqlx(flatten)]
    pub service: NewService,
    pub updated_at: DateTime<Utc>,
}

pub async fn stored(db: &PgPool, id: i64) -> sqlx::Result<Option<Stored>> {
    sqlx::query_as(
        "SELECT id, code, name, department_id, category_id, audiences, tags, summary, conditions,
                materials, process, time_limit, location, phone, faq, kind, external_url,
                start_user_types, start_department_ids, start_roles, status, recommend_for,
                recommend_order, updated_at
         FROM services WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Saves the editable fields of service `id` (everything but its code and status), with
/// its search columns recomputed, if it is still as it was at `seen` (its `updated_at`
/// when the editor loaded it). `false`: someone changed it in between (or it is gone);
/// nothing was written. The new stamp is always later than the old one, also when the
/// clock has not moved.
pub async fn update_service(
    conn: &mut PgConnection,
    id: i64,
    s: &NewService,
    seen: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let dept: String = sqlx::query_scalar("SELECT name FROM departments WHERE id = $1")
        .bind(s.department_id)
        .fetch_one(&mut *conn)
        .await?;
    let cols = search_columns(&s.name, &s.tags, &s.summary, &dept);
    let n = sqlx::query(
        "UPDATE services SET name = $3, department_id = $4, category_id = $5, audiences = $6,
             tags = $7, summary = $8, conditions = $9, materials = $10, process = $11,
             time_limit = $12, location = $13, phone = $14, faq = $15, kind = $16,
             external_url = $17, start_user_types = $18, start_department_ids = $19,
             start_roles = $20, recommend_for = $21, recommend_order = $22, pinyin_full = $23,
             pinyin_initials = $24, initial = $25, search_doc = $26, search_grams = $27,
             updated_at = GREATEST($28, updated_at + interval '1 microsecond')
         WHERE id = $1 AND updated_at = $2",
    )
    .bind(id)
    .bind(seen)
    .bind(&s.name)
    .bind(s.department_id)
    .bind(s.category_id)
    .bind(&s.audiences)
    .bind(&s.tags)
    .bind(&s.summary)
    .bind(&s.conditions)
    .bind(&s.materials)
    .bind(&s.process)
    .bind(&s.time_limit)
    .bind(&s.location)
    .bind(&s.phone)
    .bind(&s.faq)
    .bind(&s.kind)
    .bind(&s.external_url)
    .bind(&s.start_user_types)
    .bind(&s.start_department_ids)
    .bind(&s.start_roles)
    .bind(&s.recommend_for)
    .bind(s.recommend_order)
    .bind(&cols.pinyin_full)
    .bind(&cols.pinyin_initials)
    .bind(&cols.initial)
    .bind(&cols.search_doc)
    .bind(&cols.search_grams)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The service's code and status, its row locked until the transaction ends (a status
/// change or a delete; an application being started meanwhile waits for it).
pub async fn lock(conn: &mut PgConnection, id: i64) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as("SELECT code, status FROM services WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Moves service `id` from status `from` to `to`. `false`: it was not in `from` (someone
/// changed it first); nothing was written.
pub async fn set_status(
    conn: &mut PgConnection,
    id: i64,
    from: &str,
    to: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "UPDATE services SET status = $3,
             updated_at = GREATEST($4, updated_at + interval '1 microsecond')
         WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Deletes service `id` with the catalog rows that name it (favorites, its 服务管理员).
/// The workflow's rows must be gone first (`workflow::store::versions::delete_service`).
pub async fn delete_service(conn: &mut PgConnection, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM favorites WHERE kind = 'service' AND target_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM service_admins WHERE service_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let n = sqlx::query("DELETE FROM services WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// The name of the service that has `code`, if any (codes are unique).
pub async fn name_of_code(db: &PgPool, code: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT name FROM services WHERE code = $1")
        .bind(code)
        .fetch_optional(db)
        .await
}

/// 服务类别: (id, name), in display order.
pub async fn categories(db: &PgPool) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as("SELECT id, name FROM service_categories ORDER BY sort_order, id")
        .fetch_all(db)
        .await
}

/// The filters of 管理后台's service list. `None` / empty: not filtered.
#[derive(Debug, Clone, Default)]
pub struct AdminFilter {
    /// Matched against name, code and pinyin (full and initials).
    pub q: String,
    /// A department and everything below it.
    pub department: Option<i64>,
    pub category: Option<i64>,
    pub status: Option<String>,
    /// `true`: 在线办理 only; `false`: the others.
    pub online: Option<bool>,
    /// Only these services (a 服务管理员's scope).
    pub only: Option<Vec<i64>>,
    /// `(true, ids)`: only these; `(false, ids)`: all but these (has a published form).
    pub among: Option<(bool, Vec<i64>)>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub department: String,
    pub category: String,
    pub status: String,
    pub kind: String,
    pub updated_at: DateTime<Utc>,
}

const ADMIN_WHERE: &str = "
     WHERE ($1::bigint[] IS NULL OR s.id = ANY($1))
       AND ($2 = '' OR s.name ILIKE $3 OR s.code ILIKE $3 OR s.pinyin_full ILIKE $3
            OR s.pinyin_initials ILIKE $3)
       AND ($4::bigint IS NULL OR s.department_id IN (SELECT dept_subtree($4)))
       AND ($5::bigint IS NULL OR s.category_id = $5)
       AND ($6::text IS NULL OR s.status = $6)
       AND ($7::bool IS NULL OR (s.kind = 'online') = $7)
       AND ($8::bool IS NULL OR (s.id = ANY($9)) = $8)";

/// One page of services for 管理后台 (most recently changed first) and how many match.
pub async fn admin_list(
    db: &PgPool,
    f: &AdminFilter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<AdminRow>, i64)> {
    let pattern = format!(
        "%{}%",
        f.q.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let (among_flag, among_ids) = match &f.among {
        Some((flag, ids)) => (Some(*flag), ids.clone()),
        None => (None, Vec::new()),
    };
    let rows: Vec<AdminRow> = sqlx::query_as(&format!(
        "SELECT s.id, s.code, s.name, d.name AS department, c.name AS category, s.status,
                s.kind, s.updated_at
         FROM services s JOIN departments d ON d.id = s.department_id
         JOIN service_categories c ON c.id = s.category_id {ADMIN_WHERE}
         ORDER BY s.updated_at DESC, s.id DESC LIMIT $10 OFFSET $11"
    ))
    .bind(&f.only)
    .bind(&f.q)
    .bind(&pattern)
    .bind(f.department)
    .bind(f.category)
    .bind(&f.status)
    .bind(f.online)
    .bind(among_flag)
    .bind(&among_ids)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM services s {ADMIN_WHERE}"))
        .bind(&f.only)
        .bind(&f.q)
        .bind(&pattern)
        .bind(f.department)
        .bind(f.category)
        .bind(&f.status)
        .bind(f.online)
        .bind(among_flag)
        .bind(&among_ids)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// Services that refer to a department — as 服务部门 or in 发起范围 — (any status): how
/// many, and the first five names. A department is retired only when there are none.
pub async fn services_referring_to(
    conn: &mut sqlx::PgConnection,
    department: i64,
) -> sqlx::Result<(i64, Vec<String>)> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT count(*) OVER (), name FROM services
         WHERE department_id = $1 OR $1 = ANY(start_department_ids) ORDER BY id LIMIT 5",
    )
    .bind(department)
    .fetch_all(conn)
    .await?;
    Ok((
        rows.first().map(|r| r.0).unwrap_or(0),
        rows.into_iter().map(|r| r.1).collect(),
    ))
}

/// The ids of the services of a department (as 服务部门).
pub async fn service_ids_of_department(
    conn: &mut sqlx::PgConnection,
    department: i64,
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT id FROM services WHERE department_id = $1")
        .bind(department)
        .fetch_all(conn)
        .await
}
