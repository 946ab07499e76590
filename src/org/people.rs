//! People as other features see them: a profile for auto-fill, names for display, the
//! holders of a role around someone's college, and the person picker's directory search.

use sqlx::PgPool;

/// A person's profile, for filling in forms.
#[derive(sqlx::FromRow)]
pub struct PersonProfile {
    pub name: String,
    pub account: String,
    pub gender: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub user_type: String,
    /// The 身份证号's keyed hash and sealed copy (`idcard::open` takes both).
    pub id_card_hash: Option<Vec<u8>>,
    pub id_card_sealed: Option<Vec<u8>>,
}

pub async fn profile(db: &PgPool, user_id: i64) -> sqlx::Result<PersonProfile> {
    sqlx::query_as(
        "SELECT u.name, u.account, u.gender, d.name AS department, u.title, u.phone, u.email,
                u.user_type, u.id_card_hash, u.id_card_sealed
         FROM users u LEFT JOIN departments d ON d.id = u.department_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// Whether a sealed 身份证号 is on file for this person (forms fill it in, read-only).
pub async fn id_card_on_file(db: &PgPool, user_id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT id_card_sealed IS NOT NULL AND id_card_hash IS NOT NULL FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await
    .map(|r| r.unwrap_or(false))
}

/// `张三（S2024001）`: a person as forms and pages name them.
#[derive(sqlx::FromRow)]
pub struct PersonLabel {
    pub id: i64,
    pub label: String,
}

/// The labels of these people (any status: names in old records stay readable).
pub async fn labels(db: &PgPool, ids: &[i64]) -> sqlx::Result<Vec<PersonLabel>> {
    sqlx::query_as(
        "SELECT id, name || '（' || account || '）' AS label FROM users WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await
}

/// The one person's label.
pub async fn label(db: &PgPool, id: i64) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT name || '（' || account || '）' FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
}

/// What an applicant's department picker offers: the active departments, and of the
/// retired ones only those in `keep` (what a saved draft or an application already names),
/// marked （已停用） so the old value still shows; in display order.
pub async fn department_choices(db: &PgPool, keep: &[i64]) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "SELECT id, name || CASE WHEN active THEN '' ELSE '（已停用）' END FROM departments
         WHERE active OR id = ANY($1) ORDER BY sort_order, id",
    )
    .bind(keep)
    .fetch_all(db)
    .await
}

/// Which of `ids` are active departments (a retired one is refused on submit).
pub async fn active_department_ids(db: &PgPool, ids: &[i64]) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT id FROM departments WHERE active AND id = ANY($1)")
        .bind(ids)
        .fetch_all(db)
        .await
}

/// Active holders of `role` whose scope covers a person's college (or the whole school).
/// $1 = role, $2 = the person; `$3` closes the WHERE (all, or only some ids).
macro_rules! role_holders_sql {
    ($select:literal, $only:literal) => {
        concat!(
            // The walks written out: `dept_subtree` in a select list is planned anew on
            // every call (about 1 ms per 提交, issue 16).
            "WITH RECURSIVE up(id, parent_id) AS (
                 SELECT d.id, d.parent_id FROM users u JOIN departments d ON d.id = u.department_id
                 WHERE u.id = $2
                 UNION ALL
                 SELECT d.id, d.parent_id FROM departments d JOIN up ON d.id = up.parent_id
             ), college(id) AS (
                 SELECT up.id FROM up
                 JOIN departments p ON p.id = up.parent_id AND p.parent_id IS NULL
             ), sub(id) AS (
                 SELECT id FROM college
                 UNION ALL
                 SELECT d.id FROM departments d JOIN sub ON d.parent_id = sub.id
             )
             SELECT DISTINCT ",
            $select,
            " FROM user_roles ur
             JOIN roles r ON r.id = ur.role_id AND r.code = $1
             JOIN users u ON u.id = ur.user_id AND u.status = 'active'
             WHERE (ur.department_id IS NULL
                    OR ur.department_id IN (SELECT id FROM sub))",
            $only
        )
    };
}

/// Active holders of `role` whose scope covers `person`'s college (or the whole school),
/// for a list to choose from.
pub async fn role_holders_for(
    db: &PgPool,
    role: &str,
    person: i64,
) -> sqlx::Result<Vec<PersonLabel>> {
    sqlx::query_as(role_holders_sql!(
        "u.id, u.name || '（' || u.account || '）' AS label",
        " ORDER BY 2"
    ))
    .bind(role)
    .bind(person)
    .fetch_all(db)
    .await
}

/// Which of `ids` `role_holders_for` would list: checking a posted choice.
pub async fn role_holders_among(
    db: &PgPool,
    role: &str,
    person: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(role_holders_sql!("u.id", " AND u.id = ANY($3)"))
        .bind(role)
        .bind(person)
        .bind(ids)
        .fetch_all(db)
        .await
}

/// Which of these ids are active people.
pub async fn active_ids(db: &PgPool, ids: &[i64]) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT id FROM users WHERE id = ANY($1) AND status = 'active'")
        .bind(ids)
        .fetch_all(db)
        .await
}

/// The active person with this account (学号/工号).
pub async fn active_by_account(db: &PgPool, account: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM users WHERE account = $1 AND status = 'active'")
        .bind(account)
        .fetch_optional(db)
        .await
}

/// A person named by account, with whether they can act.
#[derive(sqlx::FromRow)]
pub struct AccountLabel {
    pub id: i64,
    pub account: String,
    pub label: String,
    pub active: bool,
}

/// The people with these accounts (any status; the others are not there).
pub async fn by_accounts(db: &PgPool, accounts: &[String]) -> sqlx::Result<Vec<AccountLabel>> {
    sqlx::query_as(
        "SELECT id, account, name || '（' || account || '）' AS label, status = 'active' AS active
         FROM users WHERE account = ANY($1) ORDER BY account",
    )
    .bind(accounts)
    .fetch_all(db)
    .await
}

/// A match of the person picker: no phones, no e-mails.
#[derive(serde::Serialize, sqlx::FromRow)]
pub struct PersonHit {
    pub id: i64,
    pub name: String,
    pub account: String,
    pub department: Option<String>,
}

/// Whom a person picker may name: people of these types (`users.user_type`), and with
/// `college_of` only those in that person's college (the department under the root above
/// theirs, and everything below it).
#[derive(Clone, Copy, Debug)]
pub struct Within<'a> {
    pub types: &'a [&'a str],
    pub college_of: Option<i64>,
}

impl Within<'_> {
    /// Everyone active.
    pub const ANYONE: Within<'static> = Within {
        types: &["student", "teacher", "staff"],
        college_of: None,
    };
}

/// The filter of `Within` over `users u`: `$2` the types, `$3` the person whose college.
const WITHIN: &str = "u.status = 'active' AND u.user_type = ANY($2)
    AND ($3::bigint IS NULL OR u.department_id IN (
        SELECT dept_subtree(d.id) FROM users me, dept_ancestors(me.department_id) a(id)
        JOIN departments d ON d.id = a.id
        JOIN departments p ON p.id = d.parent_id AND p.parent_id IS NULL
        WHERE me.id = $3))";

/// Ten active people within `within` whose account, name or department starts with `term`.
pub async fn search(db: &PgPool, term: &str, within: Within<'_>) -> sqlx::Result<Vec<PersonHit>> {
    let like = format!(
        "{}%",
        term.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    sqlx::query_as(&format!(
        "SELECT u.id, u.name, u.account, d.name AS department FROM users u
         LEFT JOIN departments d ON d.id = u.department_id
         WHERE {WITHIN} AND (u.account ILIKE $1 OR u.name LIKE $1 OR d.name LIKE $1)
         ORDER BY u.name, u.account LIMIT 10"
    ))
    .bind(like)
    .bind(within.types)
    .bind(within.college_of)
    .fetch_all(db)
    .await
}

/// Which of `ids` are active people within `within` (what a scoped person field accepts).
pub async fn in_scope(db: &PgPool, ids: &[i64], within: Within<'_>) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(&format!(
        "SELECT u.id FROM users u WHERE u.id = ANY($1) AND {WITHIN}"
    ))
    .bind(ids)
    .bind(within.types)
    .bind(within.college_of)
    .fetch_all(db)
    .await
}

/// The 部门负责人 of the person's own department (not the person themself).
pub async fn heads_of(conn: &mut sqlx::PgConnection, person: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT DISTINCT ur.user_id FROM users u
         JOIN user_roles ur ON ur.department_id = u.department_id
         JOIN roles r ON r.id = ur.role_id AND r.code = 'dept_head'
         WHERE u.id = $1 AND ur.user_id <> $1",
    )
    .bind(person)
    .fetch_all(conn)
    .await
}

/// The person's name.
pub async fn name(conn: &mut sqlx::PgConnection, person: i64) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
        .bind(person)
        .fetch_one(conn)
        .await
}
