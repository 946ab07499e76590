//! 人员管理 and 组织机构: who may, 停用 (sign-in refused, sessions end, open tasks 转办 by
//! the administrator), departments (refused while referred to, no cycles), roles taking
//! effect, 重置为初始密码, 激活码, 解锁; every action audited.

use reqwest::{Client, StatusCode};

use crate::{
    forms::{apply_leave, service, user},
    helpers::*,
};

async fn dept(app: &TestApp, code: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM departments WHERE code = $1")
        .bind(code)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Everything these pages could change.
async fn fingerprint(app: &TestApp) -> String {
    sqlx::query_scalar(
        "SELECT md5(concat_ws('|',
            (SELECT string_agg(concat_ws(',', id, account, name, user_type, department_id, phone, email,
                 encode(id_card_hash, 'hex'), status, password_hash, must_change_password, auth_epoch,
                 encode(activation_code_hash, 'hex')), ';' ORDER BY id) FROM users),
            (SELECT string_agg(concat_ws(',', user_id, role_id, department_id), ';' ORDER BY id) FROM user_roles),
            (SELECT string_agg(concat_ws(',', id, parent_id, code, name, kind, active), ';' ORDER BY id) FROM departments),
            (SELECT string_agg(concat_ws(',', id, assignee_id, status), ';' ORDER BY id) FROM tasks),
            (SELECT string_agg(subject, ',' ORDER BY subject) FROM lockouts),
            (SELECT count(*) FROM tower_sessions.session)))",
    )
    .fetch_one(&app.db)
    .await
    .unwrap()
}

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin/people"),
    (
        "GET",
        "/admin/people?q=张&kind=student&dept={dept}&status=locked",
    ),
    ("GET", "/admin/users"),
    ("GET", "/admin/people/new"),
    ("GET", "/admin/people/{id}"),
    ("GET", "/admin/departments"),
    ("GET", "/admin/departments?id={dept}"),
    ("POST", "/admin/people"),
    ("POST", "/admin/people/{id}"),
    ("POST", "/admin/people/{id}/unlock"),
    ("POST", "/admin/users/{id}/unlock"),
    ("POST", "/admin/people/{id}/reset-password"),
    ("POST", "/admin/people/{id}/activation-code"),
    ("POST", "/admin/people/{id}/roles"),
    ("POST", "/admin/people/{id}/roles/{grant}/revoke"),
    ("POST", "/admin/people/{id}/tasks/transfer"),
    ("POST", "/admin/people/{id}/tasks/{task}/transfer"),
    ("POST", "/admin/people/{id}/disable"),
    ("POST", "/admin/people/{id}/enable"),
    ("POST", "/admin/departments"),
    ("POST", "/admin/departments/{dept}/rename"),
    ("POST", "/admin/departments/{dept}/move"),
    ("POST", "/admin/departments/{dept}/deactivate"),
    ("POST", "/admin/departments/{dept}/activate"),
];

async fn send(app: &TestApp, c: &Client, csrf: &str, method: &str, path: &str) -> StatusCode {
    if method == "GET" {
        c.get(app.url(path)).send().await.unwrap().status()
    } else {
        c.post(app.url(path))
            .form(&[("_csrf", csrf)])
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test]
async fn people_and_departments_are_for_the_system_administrator_only() {
    let app = spawn_app().await;
    // A task of the counselor, so the task routes have something to refuse.
    let student = signed_in(&app, "S2024001").await;
    apply_leave(&app, &student, "1").await;
    let counselor = user(&app, "T2101").await;
    let task: i64 = sqlx::query_scalar("SELECT id FROM tasks WHERE assignee_id = $1")
        .bind(counselor)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let grant: i64 = sqlx::query_scalar("SELECT id FROM user_roles WHERE user_id = $1")
        .bind(counselor)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let fill = |p: &str| {
        p.replace("{id}", &counselor.to_string())
            .replace("{task}", &task.to_string())
            .replace("{grant}", &grant.to_string())
    };
    let se = dept(&app, "CS-SE").await;
    let mut people = Vec::new();
    for account in [
        Some("T4401"),
        Some("T2002"),
        Some("S2024001"),
        None,
        Some("admin"),
    ] {
        let c = match account {
            Some(a) => signed_in(&app, a).await,
            None => new_client(),
        };
        let html = app
            .get_with(
                &c,
                if account.is_some() {
                    "/center"
                } else {
                    "/login"
                },
            )
            .await
            .text()
            .await
            .unwrap();
        people.push((account, c, csrf_from(&html)));
    }
    let before = fingerprint(&app).await;
    for (account, c, csrf) in &people[..4] {
        for (method, path) in ROUTES {
            let path = fill(path).replace("{dept}", &se.to_string());
            let status = send(&app, c, csrf, method, &path).await;
            match account {
                // 服务管理员 too: people are not theirs.
                Some(_) => assert_eq!(status, 403, "{account:?} {method} {path}"),
                None if *method == "GET" => assert_eq!(status, 303, "{method} {path}"),
                None => assert!(status == 403 || status == 303, "{method} {path}: {status}"),
            }
        }
    }
    assert_eq!(
        fingerprint(&app).await,
        before,
        "a refused request changed something"
    );
    let (_, admin, csrf) = &people[4];
    for (method, path) in ROUTES {
        let path = fill(path).replace("{dept}", &se.to_string());
        let status = send(&app, admin, csrf, method, &path).await;
        if *method == "GET" {
            assert_eq!(status, 200, "{method} {path}");
        } else {
            // Posted without their fields: past the permission check, no server error.
            assert!(
                status != 403 && !status.is_server_error(),
                "{method} {path}: {status}"
            );
        }
    }
}

#[tokio::test]
async fn a_disabled_person_is_out_at_once_and_their_tasks_go_to_another() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let app_id = apply_leave(&app, &student, "1").await;
    let counselor = signed_in(&app, "T2101").await;
    assert_eq!(app.signed_in_as(&counselor).await.as_deref(), Some("陈静"));
    let admin = signed_in(&app, "admin").await;
    let id = user(&app, "T2101").await;
    let page = format!("/admin/people/{id}");
    // The open task is listed on the page.
    let html = app.get_with(&admin, &page).await.text().await.unwrap();
    assert!(html.contains(&format!("/applications/{app_id}")), "{html}");

    let r = app
        .submit(&admin, &page, &format!("{page}/disable"), &[])
        .await;
    assert_eq!(r.status(), 303);
    // The session that was open ends on its next request; signing in again fails.
    assert_eq!(app.signed_in_as(&counselor).await, None);
    let r = app.login_with(&new_client(), "T2101", DEMO_PASSWORD).await;
    assert_eq!(
        r.status(),
        200,
        "the sign-in page again, with the generic failure"
    );
    assert_eq!(app.audit_count("account.disable", "success").await, 1);

    // 转办 of the task to T2002, in one click.
    let task: i64 =
        sqlx::query_scalar("SELECT id FROM tasks WHERE assignee_id = $1 AND status = 'pending'")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    // Unknown account: refused, nothing moves.
    let r = app
        .submit(
            &admin,
            &page,
            &format!("{page}/tasks/{task}/transfer"),
            &[("to", "NOBODY")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("找不到该账号"));
    let r = app
        .submit(
            &admin,
            &page,
            &format!("{page}/tasks/{task}/transfer"),
            // As the person picker fills it in.
            &[("to", "李晓梅（T2002）")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let t2002 = user(&app, "T2002").await;
    let (holder, status): (i64, String) = sqlx::query_as(
        "SELECT assignee_id, status FROM tasks WHERE application_id = $1 AND status = 'pending'",
    )
    .bind(app_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((holder, status.as_str()), (t2002, "pending"));
    let (action, transferred): (String, Option<i64>) =
        sqlx::query_as("SELECT action, transferred_to FROM tasks WHERE id = $1")
            .bind(task)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((action.as_str(), transferred), ("transfer", Some(t2002)));
    // The 流转记录 names the administrator.
    let actor: i64 = sqlx::query_scalar(
        "SELECT actor_id FROM flow_records WHERE application_id = $1 AND action = 'transfer'",
    )
    .bind(app_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(actor, user(&app, "admin").await);
    assert_task_counts(&app).await;
    // T2002 sees it in 待办 and can act on it.
    let teacher = signed_in(&app, "T2002").await;
    let html = app
        .get_with(&teacher, &format!("/applications/{app_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("通过"));
    let html = app.get_with(&admin, &page).await.text().await.unwrap();
    assert!(html.contains("没有待办的审批"));

    // 启用 again: signing in works.
    let r = app
        .submit(&admin, &page, &format!("{page}/enable"), &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.login_with(&new_client(), "T2101", DEMO_PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(app.audit_count("account.enable", "success").await, 1);
    assert_eq!(app.audit_count("application.transfer", "success").await, 1);
}

#[tokio::test]
async fn a_department_is_retired_only_when_nothing_refers_to_it() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let cs = dept(&app, "CS").await;
    let page = format!("/admin/departments?id={cs}");
    let r = app
        .submit(
            &admin,
            &page,
            &format!("/admin/departments/{cs}/deactivate"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    for part in [
        "人员",
        "张三（S2024001）",
        "启用中的下级部门",
        "软件工程系",
        "以本部门为范围的角色",
        "服务",
    ] {
        assert!(html.contains(part), "{part}");
    }
    assert_eq!(app.audit_count("department.deactivate", "failure").await, 1);
    // No cycles: CS cannot go under its own 软件工程系.
    let se = dept(&app, "CS-SE").await;
    let r = app
        .submit(
            &admin,
            &page,
            &format!("/admin/departments/{cs}/move"),
            &[("parent", &se.to_string())],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("下级部门之下"));
    let parent: Option<i64> = sqlx::query_scalar("SELECT parent_id FROM departments WHERE id = $1")
        .bind(cs)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_ne!(parent, Some(se));

    // A new department: added, renamed, moved, retired.
    let r = app
        .submit(
            &admin,
            "/admin/departments",
            "/admin/departments",
            &[
                ("parent", &cs.to_string()),
                ("name", "人工智能系"),
                ("code", "cs-ai"),
                ("kind", "section"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let ai = dept(&app, "CS-AI").await;
    // The same code again is refused, with what was typed kept.
    let r = app
        .submit(
            &admin,
            "/admin/departments",
            "/admin/departments",
            &[
                ("parent", &cs.to_string()),
                ("name", "另一个系"),
                ("code", "CS-AI"),
                ("kind", "section"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("已被使用") && html.contains("另一个系"));
    let p = format!("/admin/departments?id={ai}");
    let r = app
        .submit(
            &admin,
            &p,
            &format!("/admin/departments/{ai}/rename"),
            &[("name", "智能科学系")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = app
        .submit(
            &admin,
            &p,
            &format!("/admin/departments/{ai}/move"),
            &[("parent", &se.to_string())],
        )
        .await;
    assert_eq!(r.status(), 303);
    // A person in it holds it up, by name; moved away, it retires.
    let t2002 = user(&app, "T2002").await;
    sqlx::query("UPDATE users SET department_id = $1 WHERE id = $2")
        .bind(ai)
        .bind(t2002)
        .execute(&app.db)
        .await
        .unwrap();
    let r = app
        .submit(
            &admin,
            &p,
            &format!("/admin/departments/{ai}/deactivate"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("李晓梅（T2002）"));
    sqlx::query("UPDATE users SET department_id = $1 WHERE id = $2")
        .bind(cs)
        .bind(t2002)
        .execute(&app.db)
        .await
        .unwrap();
    let r = app
        .submit(
            &admin,
            &p,
            &format!("/admin/departments/{ai}/deactivate"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    let row: (String, i64, bool) =
        sqlx::query_as("SELECT name, parent_id, active FROM departments WHERE id = $1")
            .bind(ai)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(row, ("智能科学系".to_owned(), se, false));
    // A retired department is offered nowhere new.
    let html = app
        .get_with(&admin, "/admin/people/new")
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("智能科学系"));
    for action in [
        "department.create",
        "department.rename",
        "department.move",
        "department.deactivate",
    ] {
        assert_eq!(app.audit_count(action, "success").await, 1, "{action}");
    }
}

#[tokio::test]
async fn a_granted_role_takes_effect_and_a_revoked_one_ends() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let teacher = signed_in(&app, "T2002").await;
    let hksq = service(&app, "HKSQ").await;
    let svc = format!("/admin/services/{hksq}");
    assert_eq!(app.get_with(&teacher, &svc).await.status(), 403);
    let id = user(&app, "T2002").await;
    let page = format!("/admin/people/{id}");
    let aca = dept(&app, "ACA").await;
    let r = app
        .submit(
            &admin,
            &page,
            &format!("{page}/roles"),
            &[("role", "service_admin"), ("scope", &aca.to_string())],
        )
        .await;
    assert_eq!(r.status(), 303);
    // The same session: roles are read with every request.
    assert_eq!(app.get_with(&teacher, &svc).await.status(), 200);
    // Not beyond the scope.
    let cs_service = service(&app, "SJKF").await;
    assert_eq!(
        app.get_with(&teacher, &format!("/admin/services/{cs_service}"))
            .await
            .status(),
        403
    );
    // 系统管理员 is school-wide only.
    let r = app
        .submit(
            &admin,
            &page,
            &format!("{page}/roles"),
            &[("role", "system_admin"), ("scope", &aca.to_string())],
        )
        .await;
    assert_eq!(r.status(), 422);
    let grant: i64 = sqlx::query_scalar("SELECT id FROM user_roles WHERE user_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let r = app
        .submit(&admin, &page, &format!("{page}/roles/{grant}/revoke"), &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.get_with(&teacher, &svc).await.status(), 403);
    assert_eq!(app.audit_count("role.grant", "success").await, 1);
    assert_eq!(app.audit_count("role.revoke", "success").await, 1);
}

#[tokio::test]
async fn reset_to_the_initial_password_forces_a_change() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let student = signed_in(&app, "S2024001").await;
    let id = user(&app, "S2024001").await;
    let page = format!("/admin/people/{id}");
    // The number must match the one on file (only its keyed hash is kept).
    let r = app
        .submit(
            &admin,
            &page,
            &format!("{page}/reset-password"),
            &[("id_card", "11010519491231002X")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("不一致"));
    assert_eq!(
        app.audit_count("password.reset_initial", "failure").await,
        1
    );
    assert_eq!(app.signed_in_as(&student).await.as_deref(), Some("张三"));
    let r = app
        .submit(
            &admin,
            &page,
            &format!("{page}/reset-password"),
            &[("id_card", "110108200609012342")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.audit_count("password.reset_initial", "success").await,
        1
    );
    // Every session ended; the old password is gone; the initial one forces a change.
    assert_eq!(app.signed_in_as(&student).await, None);
    assert_eq!(
        app.login_with(&new_client(), "S2024001", DEMO_PASSWORD)
            .await
            .status(),
        200
    );
    let c = new_client();
    let r = app.login_with(&c, "S2024001", "012342").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/password/change");
    let r = app.get_with(&c, "/center").await;
    assert_eq!(location(&r), "/password/change");
}

#[tokio::test]
async fn a_new_person_gets_an_activation_code_and_a_locked_one_is_released() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let cs = dept(&app, "CS").await.to_string();
    // Bad input: each problem by its field, what was typed kept, nothing written.
    let r = app
        .submit(
            &admin,
            "/admin/people/new",
            "/admin/people",
            &[
                ("account", "S2024999"),
                ("name", "赵六"),
                ("user_type", "student"),
                ("department", &cs),
                ("phone", "12345"),
                ("id_card", "110105194912310021"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("手机号应为 11 位") && html.contains("校验位") && html.contains("赵六"));
    // The account of someone else.
    let r = app
        .submit(
            &admin,
            "/admin/people/new",
            "/admin/people",
            &[
                ("account", "S2024001"),
                ("name", "赵六"),
                ("user_type", "student"),
                ("department", &cs),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("已被其他人使用"));
    let r = app
        .submit(
            &admin,
            "/admin/people/new",
            "/admin/people",
            &[
                ("account", "S2024999"),
                ("name", "赵六"),
                ("user_type", "student"),
                ("department", &cs),
                ("phone", "13712345678"),
                ("id_card", "11010519491231002x"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let id = user(&app, "S2024999").await;
    let (status, masked): (String, Option<String>) =
        sqlx::query_as("SELECT status, id_card_masked FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), masked.as_deref()),
        ("inactive", Some("1101**********002X"))
    );
    // The sealed copy forms fill in: nonce, number, tag; not the number in the clear.
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT id_card_sealed FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sealed.len(), 24 + 18 + 16);
    assert!(!sealed.windows(6).any(|w| w == b"110105"));
    // 激活码: shown once on the page, stored as a keyed hash, audited as the admin's.
    let page = format!("/admin/people/{id}");
    let r = app
        .submit(&admin, &page, &format!("{page}/activation-code"), &[])
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let code = text_of_class(&html, "ppl-code-value").unwrap();
    assert_eq!(code.trim().len(), 9, "{code}");
    let html = app.get_with(&admin, &page).await.text().await.unwrap();
    assert!(!html.contains(code.trim()));
    let by: Option<i64> = sqlx::query_scalar(
        "SELECT actor_id FROM audit_log WHERE action = 'account.activation_code' AND target = $1",
    )
    .bind(format!("user:{id}"))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(by, Some(user(&app, "admin").await));
    // Edit: a changed name, audited with the field.
    let r = app
        .submit(
            &admin,
            &page,
            &page,
            &[
                ("account", "S2024999"),
                ("name", "赵六六"),
                ("user_type", "student"),
                ("department", &cs),
                ("phone", "13712345678"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.audit_count("person.create", "success").await, 1);
    assert_eq!(app.audit_count("person.update", "success").await, 1);

    // Locked by failures: listed under 已锁定, released by 解锁, and signing in works.
    for _ in 0..5 {
        app.login_with(&new_client(), "T2002", "Wrong@2026").await;
    }
    let html = app
        .get_with(&admin, "/admin/people?status=locked")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("T2002") && html.contains("锁定至"));
    assert!(!html.contains("S2024001"));
    let t = user(&app, "T2002").await;
    let r = app
        .submit(
            &admin,
            "/admin/people",
            &format!("/admin/people/{t}/unlock"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    // Released, and the failures behind it too: one more wrong password does not relock.
    app.login_with(&new_client(), "T2002", "Wrong@2026").await;
    assert_eq!(
        signed_in(&app, "T2002")
            .await
            .get(app.url("/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(app.audit_count("account.unlock", "success").await, 1);
    // Search by phone.
    let html = app
        .get_with(&admin, "/admin/people?q=13712345678")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("S2024999") && html.contains("共 1 人"));
}

/// The people list, a person's page (with an open task) and the department tree at
/// desktop and phone widths (screenshots in target/screenshots).
#[tokio::test]
async fn browser_people_pages_at_both_widths() {
    use crate::browser::{Browser, sign_in};
    use fantoccini::Locator;
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    apply_leave(&app, &student, "1").await;
    let id = user(&app, "T2101").await;
    let cs = dept(&app, "CS").await;
    for (w, h) in [(1280, 1400), (390, 2400)] {
        let Some(b) = Browser::start(w, h).await else {
            return;
        };
        sign_in(&b, &app, "admin").await;
        let c = &b.client;
        c.goto(&app.url("/admin/people?dept=2")).await.unwrap();
        c.wait()
            .for_element(Locator::Css(".ppl-table"))
            .await
            .unwrap();
        b.screenshot(&format!("admin-people-{w}")).await;
        c.goto(&app.url(&format!("/admin/people/{id}")))
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Css(".ppl-tasks"))
            .await
            .unwrap();
        b.screenshot(&format!("admin-person-{w}")).await;
        c.goto(&app.url(&format!("/admin/departments?id={cs}")))
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Css(".org-list"))
            .await
            .unwrap();
        b.screenshot(&format!("admin-departments-{w}")).await;
        b.close().await;
    }
}

/// A person in a retired department keeps it on their page (labelled （已停用）), where a
/// new person is never offered it; the people filter names it as retired.
#[tokio::test]
async fn a_retired_department_stays_on_its_people_and_is_offered_to_no_one_new() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let cs = dept(&app, "CS").await;
    let student = user(&app, "S2024001").await;
    sqlx::query("UPDATE users SET department_id = $1 WHERE id = $2")
        .bind(cs)
        .bind(student)
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE departments SET active = false WHERE id = $1")
        .bind(cs)
        .execute(&app.db)
        .await
        .unwrap();
    let select = |html: &str| -> Vec<(String, String)> {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse("#f-dept option").unwrap();
        doc.select(&sel)
            .map(|o| {
                (
                    o.value().attr("value").unwrap_or("").to_owned(),
                    o.text().collect::<String>(),
                )
            })
            .collect()
    };
    let page = |path: String| {
        let (app, admin) = (&app, &admin);
        async move { app.get_with(admin, &path).await.text().await.unwrap() }
    };
    let new = select(&page("/admin/people/new".into()).await);
    assert!(!new.is_empty());
    assert!(!new.iter().any(|(v, _)| *v == cs.to_string()), "{new:?}");
    let theirs = select(&page(format!("/admin/people/{student}")).await);
    let (_, label) = theirs
        .iter()
        .find(|(v, _)| *v == cs.to_string())
        .expect("their own department is kept");
    assert!(label.trim().ends_with("（已停用）"), "{label}");
    let list = page("/admin/people".into()).await;
    assert!(list.contains("（已停用）"));
}
