//! Saving catalog records. Search columns are always computed here, so they never go
//! stale relative to the name, tags, summary or department.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::model::search_columns;

#[derive(Debug, Clone, Default)]
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
