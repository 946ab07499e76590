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
