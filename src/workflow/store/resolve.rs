//! Who approves: each node's approvers and fallback, for one applicant and form.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sqlx::QueryBuilder;

use crate::workflow::{
    engine::UserId,
    model::{ApproverRule, Definition, Fallback, NodeKind, RoleScope},
};

/// One person of one branch (`k`) of the resolver's query.
#[derive(sqlx::FromRow)]
struct SlotRow {
    k: i32,
    uid: i64,
}

/// Who approves each node, and each node's fallback, for this applicant and form.
/// Every approval and CC node's approvers, and every approval node's fallback, in one
/// round trip: each rule that needs the database becomes one branch of a `UNION ALL`,
/// tagged with its slot. Rules answered from the form or the applicant need no query.
pub async fn resolve<'e, E>(
    exec: E,
    def: &Definition,
    applicant: UserId,
    service_id: i64,
    form: &Value,
    only: Option<&BTreeSet<String>>,
) -> sqlx::Result<(BTreeMap<String, Vec<UserId>>, BTreeMap<String, Vec<UserId>>)>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let mut approvers = BTreeMap::new();
    let mut fallback = BTreeMap::new();
    // Slot k of the query → (node, is_fallback).
    let mut slots: Vec<(String, bool)> = Vec::new();
    let mut qb = QueryBuilder::<sqlx::Postgres>::new(
        "WITH d AS (SELECT department_id AS id FROM users WHERE id = ",
    );
    qb.push_bind(applicant);
    qb.push(") SELECT k, uid FROM (");
    for n in &def.nodes {
        let (rule, fb) = match &n.kind {
            NodeKind::Approval {
                approvers,
                fallback,
                ..
            } => (approvers, Some(fallback)),
            NodeKind::Cc { approvers, .. } => (approvers, None),
            _ => continue,
        };
        if only.is_some_and(|o| !o.contains(&n.id)) {
            continue;
        }
        approvers.insert(n.id.clone(), Vec::new());
        match rule {
            ApproverRule::Users { accounts } => {
                branch(&mut qb, &mut slots, &n.id, false);
                qb.push(
                    "id AS uid, row_number() OVER (ORDER BY account) AS ord FROM users
                     WHERE status = 'active' AND account = ANY(",
                );
                qb.push_bind(accounts.clone());
                qb.push("))");
            }
            ApproverRule::Role { role, scope } => {
                branch(&mut qb, &mut slots, &n.id, false);
                qb.push(
                    "ur.user_id AS uid, ur.user_id AS ord FROM user_roles ur
                     JOIN roles r ON r.id = ur.role_id JOIN users u ON u.id = ur.user_id
                     WHERE u.status = 'active' AND r.code = ",
                );
                qb.push_bind(role.clone());
                qb.push(match scope {
                    RoleScope::Global => "",
                    // The tree walks are written out rather than calling `dept_ancestors`
                    // / `dept_subtree` in a select list: there PostgreSQL plans the SQL
                    // function's body on every call, about 1 ms per 提交 (issue 16).
                    RoleScope::ApplicantDepartment => {
                        " AND (ur.department_id IS NULL OR ur.department_id IN (
                             WITH RECURSIVE up(id, parent_id) AS (
                                 SELECT x.id, x.parent_id FROM departments x, d WHERE x.id = d.id
                                 UNION ALL
                                 SELECT x.id, x.parent_id FROM departments x JOIN up ON x.id = up.parent_id
                             ) SELECT id FROM up))"
                    }
                    // The college: the applicant's ancestor directly below the school; its
                    // subtree and its ancestors (itself and the school).
                    RoleScope::ApplicantCollege => {
                        " AND ur.department_id IN (
                             WITH RECURSIVE up(id, parent_id) AS (
                                 SELECT x.id, x.parent_id FROM departments x, d WHERE x.id = d.id
                                 UNION ALL
                                 SELECT x.id, x.parent_id FROM departments x JOIN up ON x.id = up.parent_id
                             ), college(id, parent_id) AS (
                                 SELECT up.id, up.parent_id FROM up
                                 JOIN departments p ON p.id = up.parent_id AND p.parent_id IS NULL
                             ), sub(id) AS (
                                 SELECT id FROM college
                                 UNION ALL
                                 SELECT x.id FROM departments x JOIN sub ON x.parent_id = sub.id
                             )
                             SELECT id FROM sub UNION SELECT parent_id FROM college)"
                    }
                });
                qb.push(" GROUP BY ur.user_id)");
            }
            ApproverRule::DeptHead { levels_up } => {
                branch(&mut qb, &mut slots, &n.id, false);
                qb.push(
                    "ur.user_id AS uid, ur.user_id AS ord FROM (
                         WITH RECURSIVE up(id, parent_id, depth) AS (
                             SELECT dp.id, dp.parent_id, 0 FROM departments dp, d WHERE dp.id = d.id
                             UNION ALL
                             SELECT x.id, x.parent_id, up.depth + 1 FROM departments x JOIN up ON x.id = up.parent_id
                         ) SELECT id FROM up WHERE depth = ",
                );
                qb.push_bind(*levels_up as i32);
                qb.push(
                    ") h JOIN user_roles ur ON ur.department_id = h.id
                     JOIN roles r ON r.id = ur.role_id AND r.code = 'dept_head'
                     JOIN users u ON u.id = ur.user_id AND u.status = 'active'
                     GROUP BY ur.user_id)",
                );
            }
            ApproverRule::FormField { field } => {
                approvers.insert(
                    n.id.clone(),
                    form.get(field)
                        .and_then(|v| {
                            v.as_i64()
                                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        })
                        .into_iter()
                        .collect(),
                );
            }
            ApproverRule::Applicant => {
                approvers.insert(n.id.clone(), vec![applicant]);
            }
        }
        if let Some(fb) = fb {
            fallback.insert(n.id.clone(), Vec::new());
            match fb {
                Fallback::Skip { .. } => {}
                Fallback::User { account } => {
                    branch(&mut qb, &mut slots, &n.id, true);
                    qb.push(
                        "id AS uid, id AS ord FROM users WHERE status = 'active' AND account = ",
                    );
                    qb.push_bind(account.clone());
                    qb.push(")");
                }
                Fallback::ServiceAdmins => {
                    branch(&mut qb, &mut slots, &n.id, true);
                    qb.push(
                        "sa.user_id AS uid, sa.user_id AS ord FROM service_admins sa
                         JOIN users u ON u.id = sa.user_id WHERE u.status = 'active' AND sa.service_id = ",
                    );
                    qb.push_bind(service_id);
                    qb.push(")");
                }
            }
        }
    }
    if slots.is_empty() {
        return Ok((approvers, fallback));
    }
    qb.push(") x ORDER BY k, ord");
    let rows: Vec<SlotRow> = qb.build_query_as().fetch_all(exec).await?;
    for r in rows {
        let (node, fb) = &slots[r.k as usize];
        let map = if *fb { &mut fallback } else { &mut approvers };
        map.entry(node.clone()).or_default().push(r.uid);
    }
    Ok((approvers, fallback))
}

/// Opens branch `k` of the resolver's `UNION ALL`.
fn branch(
    qb: &mut QueryBuilder<'_, sqlx::Postgres>,
    slots: &mut Vec<(String, bool)>,
    node: &str,
    fb: bool,
) {
    if !slots.is_empty() {
        qb.push(" UNION ALL ");
    }
    let k = slots.len();
    slots.push((node.to_owned(), fb));
    // `k` is our own counter, never user input.
    qb.push(format!("(SELECT {k}::int4 AS k, "));
}
