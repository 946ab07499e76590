//! 管理后台 › 服务管理: the list of services (`list.rs`), creating and editing a service's
//! catalog entry and 办事指南 (`edit.rs`, checks in `editor.rs`), publishing, taking
//! offline and deleting (`status.rs`), and the guide as a student, a teacher, a member of
//! staff or a visitor would see it (`preview.rs`). A 系统管理员 sees every service, a
//! 服务管理员 those of their scope (`access::Manager`).

mod edit;
mod editor;
mod list;
mod preview;
mod status;

pub(super) use edit::{create, edit, markdown, new, update};
pub(super) use list::list;
pub(super) use preview::guide;
pub(super) use status::{delete, status};

use sqlx::PgPool;

use super::access::Manager;
use crate::{catalog, error::AppResult, org};
use editor::Choices;

/// Departments as the pages name them: a section with its parent (计算机学院 / 软件工程系);
/// a retired one says so (（已停用）), for the records that still name it.
async fn departments(db: &PgPool) -> AppResult<Vec<(i64, String)>> {
    Ok(labelled(db)
        .await?
        .into_iter()
        .map(|(id, name, _)| (id, name))
        .collect())
}

/// `departments` with whether each is active.
async fn labelled(db: &PgPool) -> AppResult<Vec<(i64, String, bool)>> {
    Ok(sqlx::query_as(
        "SELECT d.id, CASE WHEN p.parent_id IS NULL THEN d.name ELSE p.name || ' / ' || d.name END
                      || CASE WHEN d.active THEN '' ELSE '（已停用）' END,
                d.active
         FROM departments d LEFT JOIN departments p ON p.id = d.parent_id
         ORDER BY p.id IS NULL DESC,
                  CASE WHEN p.parent_id IS NULL THEN d.sort_order ELSE p.sort_order END,
                  CASE WHEN p.parent_id IS NULL THEN d.id ELSE p.id END,
                  p.parent_id IS NOT NULL, d.sort_order, d.id",
    )
    .fetch_all(db)
    .await?)
}

/// The departments `m` may put services in (each with everything below it), in the
/// order of `all`.
async fn in_scope(
    db: &PgPool,
    m: &Manager,
    all: &[(i64, String)],
) -> AppResult<Vec<(i64, String)>> {
    if m.all {
        return Ok(all.to_vec());
    }
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT DISTINCT dept_subtree(d) FROM unnest($1::bigint[]) d")
            .bind(&m.departments)
            .fetch_all(db)
            .await?;
    Ok(all
        .iter()
        .filter(|(id, _)| ids.contains(id))
        .cloned()
        .collect())
}

/// `choices` for editing the stored service `s`.
async fn choices_for(
    db: &PgPool,
    m: &Manager,
    s: &catalog::store::NewService,
) -> AppResult<Choices> {
    choices(db, m, Some(s.department_id), &s.start_department_ids).await
}

/// What the editor offers `m`: active departments only, plus what the service names
/// now (`current`, `current_starts`), which may always be kept — a 服务管理员 of one
/// service may hold it outside their departments, and an old service may name a retired
/// department, which editing must not silently change.
async fn choices(
    db: &PgPool,
    m: &Manager,
    current: Option<i64>,
    current_starts: &[i64],
) -> AppResult<Choices> {
    let labelled = labelled(db).await?;
    let retired: Vec<(i64, String)> = labelled
        .iter()
        .filter(|d| !d.2)
        .map(|(id, name, _)| (*id, name.clone()))
        .collect();
    let all: Vec<(i64, String)> = labelled
        .iter()
        .filter(|(id, _, active)| *active || current_starts.contains(id))
        .map(|(id, name, _)| (*id, name.clone()))
        .collect();
    let active: Vec<(i64, String)> = labelled
        .iter()
        .filter(|d| d.2)
        .map(|(id, name, _)| (*id, name.clone()))
        .collect();
    let mut mine = in_scope(db, m, &active).await?;
    if let Some(c) = current
        && !mine.iter().any(|(id, _)| *id == c)
        && let Some((id, name, _)) = labelled.iter().find(|(id, _, _)| *id == c)
    {
        mine.insert(0, (*id, name.clone()));
    }
    Ok(Choices {
        retired,
        categories: catalog::store::categories(db).await?,
        departments: mine,
        all_departments: all,
        roles: org::roles(db)
            .await?
            .into_iter()
            .map(|r| (r.code, r.name))
            .collect(),
    })
}
