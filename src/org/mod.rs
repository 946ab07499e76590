//! Departments (a tree: 学校 → 学院 / 部处 → 科室) and roles.

pub mod departments;
pub mod directory;
pub mod import;
pub mod people;

use std::collections::BTreeMap;

use sqlx::PgPool;

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct DeptSummary {
    pub id: i64,
    pub name: String,
    pub kind: String,
}

/// The departments directly under the school (学院 and 部处), in display order.
pub async fn top_departments(db: &PgPool) -> sqlx::Result<Vec<DeptSummary>> {
    sqlx::query_as(
        "SELECT t.id, t.name, t.kind
         FROM departments t JOIN departments p ON p.id = t.parent_id AND p.parent_id IS NULL
         ORDER BY t.sort_order, t.id",
    )
    .fetch_all(db)
    .await
}

/// A role, with how many active people hold it (anywhere).
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct RoleSummary {
    pub code: String,
    pub name: String,
    pub holders: i64,
}

/// Every role, in the order they were defined.
pub async fn roles(db: &PgPool) -> sqlx::Result<Vec<RoleSummary>> {
    sqlx::query_as(
        "SELECT r.code, r.name,
                (SELECT count(DISTINCT ur.user_id) FROM user_roles ur JOIN users u ON u.id = ur.user_id
                 WHERE ur.role_id = r.id AND u.status = 'active') AS holders
         FROM roles r ORDER BY r.id",
    )
    .fetch_all(db)
    .await
}

/// Role names a person holds, with the department scope when there is one.
pub async fn role_labels(db: &PgPool, user_id: i64) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT r.name, d.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
         LEFT JOIN departments d ON d.id = ur.department_id
         WHERE ur.user_id = $1 ORDER BY r.id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(r, d)| match d {
            Some(d) => format!("{r}（{d}）"),
            None => r,
        })
        .collect())
}

/// Every role's name by its code (approver rules name roles by code).
pub async fn role_names(db: &PgPool) -> sqlx::Result<BTreeMap<String, String>> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT code, name FROM roles")
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
