//! Who a role scoped to the applicant's college or department names: the tree walks
//! written out in SQL (issue 16: the `dept_*` functions in a select list were planned anew
//! on every call) must name exactly whom the `dept_ancestors` / `dept_subtree` functions
//! name, for applicants at every depth and for holders above, inside and beside the college.

use std::collections::BTreeSet;

use service_hall::{org::people, workflow::model::Definition, workflow::store::resolve::resolve};

use crate::helpers::*;

async fn exec(app: &TestApp, sql: &str) {
    sqlx::query(sql).execute(&app.db).await.unwrap();
}

#[tokio::test]
async fn college_and_department_scopes_name_whom_the_tree_functions_name() {
    let app = spawn_app().await;
    // A section and a sub-section in CS; deputies scoped to each level and beside it.
    exec(
        &app,
        "INSERT INTO departments (code, name, kind, parent_id)
                SELECT 'CS1', '软件系', 'section', id FROM departments WHERE code = 'CS'",
    )
    .await;
    exec(
        &app,
        "INSERT INTO departments (code, name, kind, parent_id)
                SELECT 'CS1A', '软件一室', 'section', id FROM departments WHERE code = 'CS1'",
    )
    .await;
    exec(
        &app,
        "INSERT INTO users (account, name, user_type, department_id, status)
                SELECT a, a, t, d.id, 'active' FROM (VALUES
                  ('RA0', 'student', 'CS'), ('RA1', 'student', 'CS1'), ('RA2', 'student', 'CS1A'),
                  ('RME', 'student', 'ME'),
                  ('DS', 'staff', 'SCHOOL'), ('DCS1', 'staff', 'CS1'), ('DCS1A', 'staff', 'CS1A'),
                  ('DME', 'staff', 'ME'), ('DALL', 'staff', 'SCHOOL')) v(a, t, c)
                JOIN departments d ON d.code = v.c",
    )
    .await;
    exec(
        &app,
        "INSERT INTO user_roles (user_id, role_id, department_id)
                SELECT u.id, r.id, CASE u.account WHEN 'DALL' THEN NULL ELSE d.id END
                FROM users u JOIN roles r ON r.code = 'deputy_secretary'
                JOIN departments d ON d.code = CASE u.account WHEN 'DS' THEN 'SCHOOL'
                     WHEN 'DCS1' THEN 'CS1' WHEN 'DCS1A' THEN 'CS1A' WHEN 'DME' THEN 'ME'
                     ELSE 'SCHOOL' END
                WHERE u.account IN ('DS', 'DCS1', 'DCS1A', 'DME', 'DALL')",
    )
    .await;
    let def: Definition = serde_json::from_value(serde_json::json!({"nodes": [
        {"id": "start", "type": "start", "name": "提交", "next": "college"},
        {"id": "college", "type": "approval", "name": "学院",
         "approvers": {"kind": "role", "role": "deputy_secretary", "scope": "applicant_college"},
         "next": "dept"},
        {"id": "dept", "type": "approval", "name": "本部门",
         "approvers": {"kind": "role", "role": "deputy_secretary", "scope": "applicant_department"},
         "next": "end"},
        {"id": "end", "type": "end", "name": "办结"}
    ]}))
    .unwrap();
    let service: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'XSQJ'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let ids = |sql: &'static str, who: i64| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(who)
                .fetch_all(&db)
                .await
                .unwrap()
                .into_iter()
                .collect::<BTreeSet<i64>>()
        }
    };
    let mut checked = 0;
    for account in ["RA0", "RA1", "RA2", "RME"] {
        let who: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = $1")
            .bind(account)
            .fetch_one(&app.db)
            .await
            .unwrap();
        // The oracle: the same rules through the tree functions.
        let college = ids(
            "WITH d AS (SELECT department_id AS id FROM users WHERE id = $1),
             college AS (SELECT a.id FROM d CROSS JOIN LATERAL dept_ancestors(d.id) a(id)
                         JOIN departments dd ON dd.id = a.id
                         JOIN departments p ON p.id = dd.parent_id AND p.parent_id IS NULL)
             SELECT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id
             WHERE r.code = 'deputy_secretary' AND ur.department_id IN (
                 SELECT dept_subtree(id) FROM college UNION SELECT dept_ancestors(id) FROM college)",
            who,
        )
        .await;
        let department = ids(
            "SELECT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id
             WHERE r.code = 'deputy_secretary' AND (ur.department_id IS NULL OR ur.department_id IN
                 (SELECT dept_ancestors(department_id) FROM users WHERE id = $1))",
            who,
        )
        .await;
        let listed = ids(
            "SELECT DISTINCT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id
             WHERE r.code = 'deputy_secretary' AND (ur.department_id IS NULL OR ur.department_id IN
                 (SELECT dept_subtree(a.id) FROM users u, dept_ancestors(u.department_id) a(id)
                  JOIN departments d ON d.id = a.id
                  JOIN departments p ON p.id = d.parent_id AND p.parent_id IS NULL
                  WHERE u.id = $1))",
            who,
        )
        .await;
        let (approvers, _) = resolve(&app.db, &def, who, service, &serde_json::json!({}), None)
            .await
            .unwrap();
        let got = |node: &str| approvers[node].iter().copied().collect::<BTreeSet<i64>>();
        assert_eq!(got("college"), college, "college scope for {account}");
        assert_eq!(got("dept"), department, "department scope for {account}");
        let holders: BTreeSet<i64> = people::role_holders_for(&app.db, "deputy_secretary", who)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(holders, listed, "the 副书记 list for {account}");
        let all: Vec<i64> = sqlx::query_scalar("SELECT id FROM users")
            .fetch_all(&app.db)
            .await
            .unwrap();
        let among: BTreeSet<i64> =
            people::role_holders_among(&app.db, "deputy_secretary", who, &all)
                .await
                .unwrap()
                .into_iter()
                .collect();
        assert_eq!(among, listed, "checking a posted 副书记 for {account}");
        assert!(
            !college.is_empty() && college.len() < 6,
            "{account}: a real choice"
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}
