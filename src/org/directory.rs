//! People as 管理后台 manages them: the list with its search and filters, one person's
//! record, creating and editing the profile, and role grants with their scope.
//! (Credentials and status are identity's: `identity::accounts`.)

use sqlx::{PgConnection, PgPool};

/// The list's filters, already parsed.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Name, account or phone (part of any).
    pub q: String,
    pub kind: Option<String>,
    /// A department and everything below it.
    pub dept: Option<i64>,
    /// `active`, `inactive`, `disabled`.
    pub status: Option<String>,
    /// Only these people (the 已锁定 filter, from identity's lockouts).
    pub only: Option<Vec<i64>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PersonRow {
    pub id: i64,
    pub account: String,
    pub name: String,
    pub user_type: String,
    pub department: Option<String>,
    pub status: String,
    pub phone: Option<String>,
}

const WHERE: &str = "($1 = '' OR u.account ILIKE $2 OR u.name ILIKE $2 OR u.phone LIKE $2)
      AND ($3::text IS NULL OR u.user_type = $3)
      AND ($4::bigint IS NULL OR u.department_id IN (SELECT dept_subtree($4)))
      AND ($5::text IS NULL OR u.status = $5)
      AND ($6::bigint[] IS NULL OR u.id = ANY($6))";

fn like(term: &str) -> String {
    format!(
        "%{}%",
        term.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// One page of people matching `f`, by account; and how many match in all.
pub async fn list(
    db: &PgPool,
    f: &Filter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<PersonRow>, i64)> {
    let rows = sqlx::query_as(&format!(
        "SELECT u.id, u.account, u.name, u.user_type, d.name AS department, u.status, u.phone
         FROM users u LEFT JOIN departments d ON d.id = u.department_id
         WHERE {WHERE} ORDER BY u.account LIMIT $7 OFFSET $8"
    ))
    .bind(&f.q)
    .bind(like(&f.q))
    .bind(&f.kind)
    .bind(f.dept)
    .bind(&f.status)
    .bind(&f.only)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(&format!("SELECT count(*) FROM users u WHERE {WHERE}"))
        .bind(&f.q)
        .bind(like(&f.q))
        .bind(&f.kind)
        .bind(f.dept)
        .bind(&f.status)
        .bind(&f.only)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// One person's record as the administrators see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Person {
    pub id: i64,
    pub account: String,
    pub name: String,
    pub user_type: String,
    pub department_id: Option<i64>,
    pub department: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub id_card_masked: Option<String>,
    pub status: String,
    pub must_change_password: bool,
    pub has_password: bool,
}

pub async fn person(db: &PgPool, id: i64) -> sqlx::Result<Option<Person>> {
    sqlx::query_as(
        "SELECT u.id, u.account, u.name, u.user_type, u.department_id, d.name AS department,
                u.phone, u.email, u.id_card_masked, u.status, u.must_change_password,
                u.password_hash IS NOT NULL AS has_password
         FROM users u LEFT JOIN departments d ON d.id = u.department_id WHERE u.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The profile fields an administrator sets.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub account: String,
    pub name: String,
    pub user_type: String,
    pub department_id: i64,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// Which unique value another person already has.
#[derive(Debug, PartialEq, Eq)]
pub enum Clash {
    Account,
    Phone,
}

fn clash(e: &sqlx::Error) -> Option<Clash> {
    let sqlx::Error::Database(d) = e else {
        return None;
    };
    if !d.is_unique_violation() {
        return None;
    }
    Some(match d.constraint() {
        Some("users_phone_key") => Clash::Phone,
        _ => Clash::Account,
    })
}

/// A new person, 未激活 (no password: they follow 激活账号).
pub async fn create(conn: &mut PgConnection, p: &Profile) -> sqlx::Result<Result<i64, Clash>> {
    let r = sqlx::query_scalar(
        "INSERT INTO users (account, name, user_type, department_id, phone, email, status)
         VALUES ($1, $2, $3, $4, $5, $6, 'inactive') RETURNING id",
    )
    .bind(&p.account)
    .bind(&p.name)
    .bind(&p.user_type)
    .bind(p.department_id)
    .bind(&p.phone)
    .bind(&p.email)
    .fetch_one(conn)
    .await;
    match r {
        Ok(id) => Ok(Ok(id)),
        Err(e) => match clash(&e) {
            Some(c) => Ok(Err(c)),
            None => Err(e),
        },
    }
}

/// Writes the profile; the names of the fields that changed.
pub async fn update(
    conn: &mut PgConnection,
    id: i64,
    p: &Profile,
) -> sqlx::Result<Result<Vec<&'static str>, Clash>> {
    let before: (
        String,
        String,
        String,
        Option<i64>,
        Option<String>,
        Option<String>,
    ) = sqlx::query_as(
        "SELECT account, name, user_type, department_id, phone, email FROM users
             WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let mut changed = Vec::new();
    if before.0 != p.account {
        changed.push("account");
    }
    if before.1 != p.name {
        changed.push("name");
    }
    if before.2 != p.user_type {
        changed.push("user_type");
    }
    if before.3 != Some(p.department_id) {
        changed.push("department");
    }
    if before.4 != p.phone {
        changed.push("phone");
    }
    if before.5 != p.email {
        changed.push("email");
    }
    if changed.is_empty() {
        return Ok(Ok(changed));
    }
    let r = sqlx::query(
        "UPDATE users SET account = $2, name = $3, user_type = $4, department_id = $5, phone = $6,
                email = $7, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&p.account)
    .bind(&p.name)
    .bind(&p.user_type)
    .bind(p.department_id)
    .bind(&p.phone)
    .bind(&p.email)
    .execute(conn)
    .await;
    match r {
        Ok(_) => Ok(Ok(changed)),
        Err(e) => match clash(&e) {
            Some(c) => Ok(Err(c)),
            None => Err(e),
        },
    }
}

/// One role grant: id, role code and name, the scope's id and name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Grant {
    pub id: i64,
    pub code: String,
    pub role: String,
    pub department_id: Option<i64>,
    pub department: Option<String>,
}

pub async fn grants(db: &PgPool, user: i64) -> sqlx::Result<Vec<Grant>> {
    sqlx::query_as(
        "SELECT ur.id, r.code, r.name AS role, ur.department_id, d.name AS department
         FROM user_roles ur JOIN roles r ON r.id = ur.role_id
         LEFT JOIN departments d ON d.id = ur.department_id
         WHERE ur.user_id = $1 ORDER BY r.id, d.sort_order NULLS FIRST",
    )
    .bind(user)
    .fetch_all(db)
    .await
}

/// Grants `role` (by code) to `user`, within `department`'s subtree or everywhere. False if
/// the person held it already, or the role does not exist.
pub async fn grant(
    conn: &mut PgConnection,
    user: i64,
    role: &str,
    department: Option<i64>,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO user_roles (user_id, role_id, department_id)
         SELECT $1, id, $3 FROM roles WHERE code = $2
         ON CONFLICT (user_id, role_id, COALESCE(department_id, 0)) DO NOTHING",
    )
    .bind(user)
    .bind(role)
    .bind(department)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Revokes grant `grant_id` of `user`: the role code and scope it was, if there was one.
pub async fn revoke(
    conn: &mut PgConnection,
    user: i64,
    grant_id: i64,
) -> sqlx::Result<Option<(String, Option<i64>)>> {
    sqlx::query_as(
        "DELETE FROM user_roles ur USING roles r
         WHERE ur.id = $1 AND ur.user_id = $2 AND r.id = ur.role_id
         RETURNING r.code, ur.department_id",
    )
    .bind(grant_id)
    .bind(user)
    .fetch_optional(conn)
    .await
}

/// Everyone in the department itself (any status), for what their applications tie down.
pub async fn ids_in_department(conn: &mut PgConnection, dept: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT id FROM users WHERE department_id = $1")
        .bind(dept)
        .fetch_all(conn)
        .await
}

/// Every role: (code, name).
pub async fn all_roles(db: &PgPool) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT code, name FROM roles ORDER BY id")
        .fetch_all(db)
        .await
}
