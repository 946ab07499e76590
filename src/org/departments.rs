//! The department tree as 管理后台 edits it: add, rename, move (never under itself),
//! retire (`active = false`) and bring back. Whether something still refers to a
//! department is asked of each owner; this module answers for people, sub-departments
//! and role scopes.

use sqlx::{PgConnection, PgPool};

/// One department in the tree, depth-first in display order.
#[derive(Debug, Clone)]
pub struct DeptNode {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub active: bool,
    pub depth: usize,
    /// People in this department itself (not below), any status but 停用.
    pub people: i64,
}

/// How a picker names a department: indented by depth, a retired one labelled （已停用）.
pub fn picker_label(d: &DeptNode) -> String {
    let retired = if d.active { "" } else { "（已停用）" };
    format!("{}{}{retired}", "　".repeat(d.depth), d.name)
}

/// 学校 / 学院 / 部处 / 科室.
pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "school" => "学校",
        "college" => "学院",
        "office" => "部处",
        _ => "科室",
    }
}

/// The kinds a new department may have (there is one school, the root).
pub const KINDS: [(&str, &str); 3] = [("college", "学院"), ("office", "部处"), ("section", "科室")];

/// A department row as read: id, parent, code, name, kind, active, people.
type Row = (i64, Option<i64>, String, String, String, bool, i64);

/// The whole tree, depth-first, siblings in display order.
pub async fn tree(db: &PgPool) -> sqlx::Result<Vec<DeptNode>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT d.id, d.parent_id, d.code, d.name, d.kind, d.active,
                (SELECT count(*) FROM users u WHERE u.department_id = d.id AND u.status <> 'disabled')
         FROM departments d ORDER BY d.sort_order, d.id",
    )
    .fetch_all(db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    // Roots first; a department whose parent is missing would be a root too.
    let ids: std::collections::HashSet<i64> = rows.iter().map(|r| r.0).collect();
    fn walk(
        rows: &[Row],
        parent: Option<i64>,
        depth: usize,
        ids: &std::collections::HashSet<i64>,
        out: &mut Vec<DeptNode>,
    ) {
        for r in rows {
            let is_child = match parent {
                Some(p) => r.1 == Some(p),
                None => r.1.is_none_or(|p| !ids.contains(&p)),
            };
            if is_child && depth < 32 {
                out.push(DeptNode {
                    id: r.0,
                    parent_id: r.1,
                    code: r.2.clone(),
                    name: r.3.clone(),
                    kind: r.4.clone(),
                    active: r.5,
                    depth,
                    people: r.6,
                });
                walk(rows, Some(r.0), depth + 1, ids, out);
            }
        }
    }
    walk(&rows, None, 0, &ids, &mut out);
    Ok(out)
}

/// Departments of the tree that may be chosen for something new (people, a parent):
/// (id, name indented by depth).
pub fn choices(tree: &[DeptNode]) -> Vec<(i64, String)> {
    tree.iter()
        .filter(|d| d.active)
        .map(|d| (d.id, format!("{}{}", "　".repeat(d.depth), d.name)))
        .collect()
}

/// Serialises changes to the tree's shape, so two moves cannot make a cycle together.
async fn lock_tree(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(7209)")
        .execute(conn)
        .await?;
    Ok(())
}

/// Why a change to the tree was not made.
#[derive(Debug, PartialEq, Eq)]
pub enum TreeRefused {
    /// The code is another department's.
    CodeTaken,
    /// The parent is the department itself or below it.
    Cycle,
    /// No such (active) parent.
    NoParent,
    /// The school has no parent and stays where it is.
    Root,
}

/// Adds a department under `parent`, last among its siblings.
pub async fn create(
    conn: &mut PgConnection,
    parent: i64,
    code: &str,
    name: &str,
    kind: &str,
) -> sqlx::Result<Result<i64, TreeRefused>> {
    lock_tree(conn).await?;
    let parent_ok: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM departments WHERE id = $1 AND active)")
            .bind(parent)
            .fetch_one(&mut *conn)
            .await?;
    if !parent_ok {
        return Ok(Err(TreeRefused::NoParent));
    }
    let id = sqlx::query_scalar(
        "INSERT INTO departments (code, parent_id, name, kind, sort_order)
         VALUES ($1, $2, $3, $4, (SELECT COALESCE(max(sort_order), 0) + 1 FROM departments))
         ON CONFLICT (code) DO NOTHING RETURNING id",
    )
    .bind(code)
    .bind(parent)
    .bind(name)
    .bind(kind)
    .fetch_optional(conn)
    .await?;
    Ok(id.ok_or(TreeRefused::CodeTaken))
}

/// Renames a department; false if there is none.
pub async fn rename(conn: &mut PgConnection, id: i64, name: &str) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("UPDATE departments SET name = $2, updated_at = now() WHERE id = $1")
            .bind(id)
            .bind(name)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Moves `id` under `parent`: refused under itself or anything below it.
pub async fn move_to(
    conn: &mut PgConnection,
    id: i64,
    parent: i64,
) -> sqlx::Result<Result<(), TreeRefused>> {
    lock_tree(conn).await?;
    let (is_root, parent_ok, below): (bool, bool, bool) = sqlx::query_as(
        "SELECT (SELECT parent_id IS NULL FROM departments WHERE id = $1),
                EXISTS (SELECT 1 FROM departments WHERE id = $2 AND active),
                $2 IN (SELECT dept_subtree($1))",
    )
    .bind(id)
    .bind(parent)
    .fetch_one(&mut *conn)
    .await?;
    if is_root {
        return Ok(Err(TreeRefused::Root));
    }
    if !parent_ok {
        return Ok(Err(TreeRefused::NoParent));
    }
    if below {
        return Ok(Err(TreeRefused::Cycle));
    }
    sqlx::query("UPDATE departments SET parent_id = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(parent)
        .execute(conn)
        .await?;
    Ok(Ok(()))
}

/// Retires or brings back a department; false if it was already so.
pub async fn set_active(conn: &mut PgConnection, id: i64, active: bool) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE departments SET active = $2, updated_at = now() WHERE id = $1 AND active <> $2",
    )
    .bind(id)
    .bind(active)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// What refers to a department: how many, and the first few by name.
#[derive(Debug, Default, Clone)]
pub struct Refs {
    pub count: i64,
    pub names: Vec<String>,
}

/// People (not 停用) in the department itself.
pub async fn people_in(conn: &mut PgConnection, id: i64) -> sqlx::Result<Refs> {
    refs(
        conn,
        "SELECT count(*) OVER (), name || '（' || account || '）' FROM users
         WHERE department_id = $1 AND status <> 'disabled' ORDER BY account LIMIT 5",
        id,
    )
    .await
}

/// Active departments directly below.
pub async fn children_of(conn: &mut PgConnection, id: i64) -> sqlx::Result<Refs> {
    refs(
        conn,
        "SELECT count(*) OVER (), name FROM departments WHERE parent_id = $1 AND active
         ORDER BY sort_order, id LIMIT 5",
        id,
    )
    .await
}

/// Roles held within this department.
pub async fn role_scopes_in(conn: &mut PgConnection, id: i64) -> sqlx::Result<Refs> {
    refs(
        conn,
        "SELECT count(*) OVER (), r.name || '：' || u.name || '（' || u.account || '）'
         FROM user_roles ur JOIN roles r ON r.id = ur.role_id JOIN users u ON u.id = ur.user_id
         WHERE ur.department_id = $1 ORDER BY r.id, u.account LIMIT 5",
        id,
    )
    .await
}

async fn refs(conn: &mut PgConnection, sql: &str, id: i64) -> sqlx::Result<Refs> {
    let rows: Vec<(i64, String)> = sqlx::query_as(sql).bind(id).fetch_all(conn).await?;
    Ok(Refs {
        count: rows.first().map(|r| r.0).unwrap_or(0),
        names: rows.into_iter().map(|r| r.1).collect(),
    })
}
