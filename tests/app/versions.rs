//! Versions of a service (publish, re-confirmation, rollback, isolation of running
//! applications) and service packages into the portal (导入服务 with preview and 确认导入).

use reqwest::Client;
use service_hall::clock::Clock;
use service_hall::workflow::{store::definitions, usecase::versions as uc};

use crate::{forms::*, helpers::*};

/// Saves a working copy of XSQJ whose condition sends leaves over `threshold` days to the
/// 副书记; returns the draft's revision.
async fn draft_with_threshold(app: &TestApp, sid: i64, threshold: i64) -> i32 {
    let copy = uc::working_copy(&app.db, sid).await.unwrap();
    let mut wf = serde_json::to_value(&copy.workflow).unwrap();
    for n in wf["nodes"].as_array_mut().unwrap() {
        if n["id"] == "check" {
            n["branches"][0]["when"]["value"] = threshold.into();
            n["branches"][0]["name"] = format!("超过{threshold}天").into();
        }
    }
    let wf = serde_json::from_value(wf).unwrap();
    uc::save(
        &app.db,
        sid,
        &copy.form,
        &wf,
        copy.base_number,
        copy.revision,
        user(app, "admin").await,
        None,
        app.clock.now(),
    )
    .await
    .unwrap()
}

/// POSTs a form built from `fields` plus the page's CSRF token.
async fn post(
    app: &TestApp,
    c: &Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = app.get_with(c, page).await.text().await.unwrap();
    let mut form: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    form.push(("_csrf".into(), csrf_from(&html)));
    c.post(app.url(action)).form(&form).send().await.unwrap()
}

async fn status(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn current_number(app: &TestApp, sid: i64) -> i32 {
    service_hall::workflow::store::versions::current_number(&app.db, sid)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_running_application_finishes_on_its_version_and_a_new_one_takes_the_new() {
    let app = spawn_app().await;
    let sid = service(&app, "XSQJ").await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let admin = signed_in(&app, "admin").await;
    // Two days: under version 1 only the 辅导员 approves.
    let old = apply_leave(&app, &student, "2").await;

    let rev = draft_with_threshold(&app, sid, 1).await;
    let versions_page = format!("/admin/services/{sid}/versions");
    let html = app
        .get_with(&admin, &versions_page)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("修改节点：是否超过3天（check）"), "{html}");
    // Publishing asks for the password first; nothing is published until then.
    let publish = format!("/admin/services/{sid}/publish");
    let r = post(
        &app,
        &admin,
        &versions_page,
        &publish,
        &[
            ("revision", &rev.to_string()),
            ("note", "一天以上需副书记审批"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("请再次输入登录密码"), "{html}");
    assert_eq!(current_number(&app, sid).await, 1);
    // A wrong password is refused next to the box, and counts towards the lockout.
    let r = post(
        &app,
        &admin,
        &versions_page,
        &publish,
        &[
            ("revision", &rev.to_string()),
            ("note", "x"),
            ("confirm_password", "wrong"),
        ],
    )
    .await;
    let html = r.text().await.unwrap();
    assert_eq!(
        text_of_class(&html, "field-error").as_deref(),
        Some("密码不正确")
    );
    assert_eq!(current_number(&app, sid).await, 1);
    let r = post(
        &app,
        &admin,
        &versions_page,
        &publish,
        &[
            ("revision", &rev.to_string()),
            ("note", "一天以上需副书记审批"),
            ("confirm_password", DEMO_PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(current_number(&app, sid).await, 2);
    let audit: serde_json::Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'service.publish' AND target = $1",
    )
    .bind(format!("service:{sid}"))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(audit["version_before"].as_i64().unwrap() < audit["version_after"].as_i64().unwrap());
    assert_eq!(audit["number"], 2);

    // The running application goes on under version 1: done after the 辅导员.
    act(&app, &counselor, old, "approve", "counselor", &[]).await;
    assert_eq!(status(&app, old).await, "completed");
    // A new one with the same two days takes version 2: on to the 副书记.
    let new = apply_leave(&app, &student, "2").await;
    act(&app, &counselor, new, "approve", "counselor", &[]).await;
    assert_eq!(status(&app, new).await, "running");
    let at_deputy: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tasks WHERE application_id = $1 AND node_id = 'deputy' AND status = 'pending')",
    )
    .bind(new)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(at_deputy);
    let (old_def, new_def): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT workflow_def_id FROM applications WHERE id = $1), (SELECT workflow_def_id FROM applications WHERE id = $2)",
    )
    .bind(old)
    .bind(new)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_ne!(old_def, new_def);
    // The form was unchanged: both versions share its row.
    let forms: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT form_def_id) FROM service_versions WHERE service_id = $1",
    )
    .bind(sid)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(forms, 1);

    // Within 15 minutes no second question: 回退 publishes version 1 again as version 3.
    let r = post(
        &app,
        &admin,
        &versions_page,
        &format!("/admin/services/{sid}/rollback"),
        &[("number", "1")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(current_number(&app, sid).await, 3);
    let html = app
        .get_with(&admin, &versions_page)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("回退到版本 1"), "{html}");
    let cur = definitions::current(&app.db, sid).await.unwrap().unwrap();
    assert_eq!(
        cur.workflow_id, old_def,
        "a rollback republishes the same definition row"
    );
    // After 15 minutes the password is asked again.
    app.clock.advance(std::time::Duration::from_secs(16 * 60));
    let r = post(
        &app,
        &admin,
        &versions_page,
        &format!("/admin/services/{sid}/rollback"),
        &[("number", "2")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("请再次输入登录密码"));
    assert_eq!(current_number(&app, sid).await, 3);
}

#[tokio::test]
async fn a_stale_or_invalid_draft_is_not_published() {
    let app = spawn_app().await;
    let sid = service(&app, "XSQJ").await;
    let admin = signed_in(&app, "admin").await;
    let rev = draft_with_threshold(&app, sid, 5).await;
    // Someone saves again: the page's revision is stale.
    let newer = draft_with_threshold(&app, sid, 6).await;
    assert_eq!(newer, rev + 1);
    let page = format!("/admin/services/{sid}/versions");
    let publish = format!("/admin/services/{sid}/publish");
    let r = post(
        &app,
        &admin,
        &page,
        &publish,
        &[
            ("revision", &rev.to_string()),
            ("confirm_password", DEMO_PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 409);
    assert_eq!(current_number(&app, sid).await, 1);
    // A draft whose workflow points nowhere is refused with the reason.
    let copy = uc::working_copy(&app.db, sid).await.unwrap();
    let mut wf = copy.workflow.clone();
    if let service_hall::workflow::model::NodeKind::Start { next } = &mut wf.nodes[0].kind {
        *next = "nowhere".into();
    }
    let rev = uc::save(
        &app.db,
        sid,
        &copy.form,
        &wf,
        copy.base_number,
        copy.revision,
        user(&app, "admin").await,
        None,
        app.clock.now(),
    )
    .await
    .unwrap();
    let html = app.get_with(&admin, &page).await.text().await.unwrap();
    assert!(
        html.contains("nowhere"),
        "the 版本 page lists the problem: {html}"
    );
    let r = post(
        &app,
        &admin,
        &page,
        &publish,
        &[("revision", &rev.to_string())],
    )
    .await;
    let html = r.text().await.unwrap();
    assert!(
        html.contains("未能发布") && html.contains("nowhere"),
        "{html}"
    );
    assert_eq!(current_number(&app, sid).await, 1);
    // 放弃草稿.
    let r = post(
        &app,
        &admin,
        &page,
        &format!("/admin/services/{sid}/draft/discard"),
        &[("revision", &rev.to_string())],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(
        uc::working_copy(&app.db, sid)
            .await
            .unwrap()
            .revision
            .is_none()
    );
}

async fn export(app: &TestApp, c: &Client, sid: i64) -> String {
    let r = app
        .get_with(c, &format!("/admin/services/{sid}/export"))
        .await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// Uploads `text` as a package; the preview page.
async fn upload(app: &TestApp, c: &Client, name: &str, text: &str) -> reqwest::Response {
    let html = app
        .get_with(c, "/admin/services/import")
        .await
        .text()
        .await
        .unwrap();
    let csrf = csrf_from(&html);
    let part = reqwest::multipart::Part::bytes(text.as_bytes().to_vec()).file_name(name.to_owned());
    c.post(app.url(&format!("/admin/services/import?_csrf={csrf}")))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap()
}

/// Uploads, then presses 确认导入 with what the preview carries.
async fn import(app: &TestApp, c: &Client, name: &str, text: &str) -> reqwest::Response {
    let r = upload(app, c, name, text).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("确认导入"), "{html}");
    c.post(app.url("/admin/services/import/confirm"))
        .form(&[
            ("_csrf", csrf_from(&html)),
            ("file", name.to_owned()),
            ("package", text.to_owned()),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn import_previews_then_creates_or_updates_and_never_publishes() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let sid = service(&app, "XSQJ").await;
    let original = export(&app, &admin, sid).await;

    // The same file: nothing would change, and there is nothing to confirm.
    let html = upload(&app, &admin, "XSQJ.toml", &original)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("完全相同"), "{html}");
    assert!(!html.contains("确认导入</button>"));

    // A copy under a new code, with a changed field: a new service, as 草稿, with a draft.
    let copy = original
        .replacen("code = \"XSQJ\"", "code = \"XSQJ2\"", 1)
        .replacen("name = \"学生请假\"", "name = \"研究生请假\"", 1)
        .replace("label = \"请假天数\"", "label = \"请假天数（天）\"");
    let html = upload(&app, &admin, "XSQJ2.toml", &copy)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("将新建服务“研究生请假”（XSQJ2）"), "{html}");
    let r = import(&app, &admin, "XSQJ2.toml", &copy).await;
    assert_eq!(r.status(), 303);
    let new_id = service(&app, "XSQJ2").await;
    assert_eq!(location(&r), format!("/admin/services/{new_id}/versions"));
    let (status, versions): (String, i64) = sqlx::query_as(
        "SELECT status, (SELECT count(*) FROM service_versions WHERE service_id = $1) FROM services WHERE id = $1",
    )
    .bind(new_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (status.as_str(), versions),
        ("draft", 0),
        "an import never publishes"
    );
    let draft = uc::working_copy(&app.db, new_id).await.unwrap();
    assert_eq!(draft.revision, Some(1));
    // Importing the same file twice changes nothing the second time.
    let html = upload(&app, &admin, "XSQJ2.toml", &copy)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("完全相同"), "{html}");
    let r = admin
        .post(app.url("/admin/services/import/confirm"))
        .form(&[
            ("_csrf", csrf_from(&html)),
            ("file", "XSQJ2.toml".into()),
            ("package", copy.clone()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        uc::working_copy(&app.db, new_id).await.unwrap().revision,
        Some(1)
    );

    // The original with a changed guide and form: the catalog entry is updated, the form
    // waits as a draft; running and new applications still use version 1.
    let changed = original
        .replace("label = \"请假天数\"", "label = \"请假天数（天）\"")
        .replacen("summary = \"", "summary = \"（新）", 1);
    let html = upload(&app, &admin, "XSQJ.toml", &changed)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("将更新服务“学生请假”（XSQJ）"), "{html}");
    assert!(html.contains("简介"), "{html}");
    assert!(html.contains("修改字段：请假天数（天）（days）"), "{html}");
    let r = import(&app, &admin, "XSQJ.toml", &changed).await;
    assert_eq!(r.status(), 303);
    assert_eq!(current_number(&app, sid).await, 1);
    assert!(
        uc::working_copy(&app.db, sid)
            .await
            .unwrap()
            .revision
            .is_some()
    );
    // Export → import round trip: the exported file (current version) differs from the
    // draft only in the form, and the catalog now matches.
    let after = export(&app, &admin, sid).await;
    assert!(after.contains("summary = \"（新）"));
    let audit: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'service.import'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(audit, 2, "one per import that changed something");
}

#[tokio::test]
async fn invalid_packages_are_refused_with_messages_that_name_the_problem() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let sid = service(&app, "XSQJ").await;
    let original = export(&app, &admin, sid).await;
    let cases: Vec<(String, &str)> = vec![
        ("format = 1\n[service\n".into(), "XSQJ.toml:2"),
        (
            original.replacen("department = \"", "department = \"NOPE", 1),
            "NOPE",
        ),
        (
            original.replace("next = \"counselor\"", "next = \"nowhere\""),
            "nowhere",
        ),
        (
            original.replacen("kind = \"online\"", "kind = \"onlien\"", 1),
            "onlien",
        ),
        (
            original.replacen("[service]", "[service]\nsurprise = 1", 1),
            "surprise",
        ),
        (String::new(), "文件是空的"),
        ("a\0b".into(), "NUL"),
    ];
    for (text, expected) in cases {
        let r = upload(&app, &admin, "XSQJ.toml", &text).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        let problems = texts_of_class(&html, "import-problems").join("\n");
        assert!(problems.contains(expected), "{expected}: {problems}");
        assert!(!html.contains("确认导入</button>"));
    }
    let r = upload(&app, &admin, "big.toml", &"#".repeat(300 * 1024)).await;
    assert!(r.text().await.unwrap().contains("文件过大"));
    // A 确认导入 posted with a broken package writes nothing.
    let html = app
        .get_with(&admin, "/admin/services/import")
        .await
        .text()
        .await
        .unwrap();
    let r = admin
        .post(app.url("/admin/services/import/confirm"))
        .form(&[
            ("_csrf", csrf_from(&html)),
            ("file", "x.toml".into()),
            ("package", "format = 1\n".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM services")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 46);
}

#[tokio::test]
async fn service_admins_import_and_publish_only_within_their_departments() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    // 缓考申请 belongs to 教务处 (ACA); 学生请假 to 学生工作处 or a college.
    let aca: i64 = sqlx::query_scalar(
        "SELECT s.id FROM services s JOIN departments d ON d.id = s.department_id WHERE d.code = 'ACA' AND s.kind = 'online' ORDER BY s.id LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let other: i64 = sqlx::query_scalar(
        "SELECT s.id FROM services s JOIN departments d ON d.id = s.department_id
         WHERE d.id NOT IN (SELECT dept_subtree((SELECT id FROM departments WHERE code = 'ACA'))) AND s.kind = 'online' ORDER BY s.id LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let aca_pkg = export(&app, &admin, aca).await;
    let other_pkg = export(&app, &admin, other).await;
    let t4401 = signed_in(&app, "T4401").await;
    for path in [
        format!("/admin/services/{aca}/versions"),
        format!("/admin/services/{aca}/export"),
        "/admin/services/import".into(),
    ] {
        assert_eq!(app.get_with(&t4401, &path).await.status(), 200, "{path}");
    }
    for path in [
        format!("/admin/services/{other}/versions"),
        format!("/admin/services/{other}/export"),
    ] {
        assert_eq!(app.get_with(&t4401, &path).await.status(), 403, "{path}");
    }
    // An unknown id is 403 for them (they learn nothing), 404 for the 系统管理员.
    assert_eq!(
        app.get_with(&t4401, "/admin/services/999999/versions")
            .await
            .status(),
        403
    );
    assert_eq!(
        app.get_with(&admin, "/admin/services/999999/versions")
            .await
            .status(),
        404
    );
    // Importing over another department's service is refused.
    assert_eq!(
        upload(&app, &t4401, "x.toml", &other_pkg).await.status(),
        403
    );
    let changed = aca_pkg.replacen("summary = \"", "summary = \"（更新）", 1);
    assert_eq!(import(&app, &t4401, "x.toml", &changed).await.status(), 303);
    // Nor may they publish or roll back another department's service.
    let html = app
        .get_with(&t4401, &format!("/admin/services/{aca}/versions"))
        .await
        .text()
        .await
        .unwrap();
    let r = t4401
        .post(app.url(&format!("/admin/services/{other}/rollback")))
        .form(&[("_csrf", csrf_from(&html)), ("number", "1".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Teachers, students and visitors: 403 or 登录 for every one of these pages.
    for account in ["T2002", "S2024001"] {
        let c = signed_in(&app, account).await;
        for path in [
            format!("/admin/services/{aca}/versions"),
            format!("/admin/services/{aca}/export"),
            "/admin/services/import".into(),
        ] {
            assert_eq!(
                app.get_with(&c, &path).await.status(),
                403,
                "{account} {path}"
            );
        }
    }
    let visitor = new_client();
    let r = app.get_with(&visitor, "/admin/services/import").await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login"));
}

/// `n 项服务` of a 服务分类 tile on 首页.
fn category_count(html: &str, name: &str) -> i64 {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("a.tile.cat span").unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>())
        .find(|t| t.starts_with(name))
        .and_then(|t| t[name.len()..].trim_end_matches(" 项服务").parse().ok())
        .unwrap_or_else(|| panic!("no tile {name}"))
}

/// Two instances on one database: 下线 on one reaches the other's cached counts within a
/// second; the same change unannounced would wait for the cache's expiry.
#[tokio::test]
async fn a_change_on_one_instance_reaches_the_other_within_a_second() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let visitor = new_client();
    let home = |base: String| {
        let c = visitor.clone();
        async move {
            c.get(format!("{base}/"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let (cat, sid): (String, i64) = sqlx::query_as(
        "SELECT c.name, s.id FROM services s JOIN service_categories c ON c.id = s.category_id
         WHERE s.status = 'published' ORDER BY s.id LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    // Both instances are listening before anything changes.
    for _ in 0..100 {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if listening >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = category_count(&home(other.clone()).await, &cat);
    // Unannounced, the other instance keeps its cached counts (the cache is real).
    let second: i64 = sqlx::query_scalar(
        "SELECT id FROM services WHERE category_id = (SELECT category_id FROM services WHERE id = $1)
           AND status = 'published' AND id <> $1 ORDER BY id LIMIT 1",
    )
    .bind(sid)
    .fetch_one(&app.db)
    .await
    .unwrap();
    sqlx::query("UPDATE services SET status = 'offline' WHERE id = $1")
        .bind(second)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(category_count(&home(other.clone()).await, &cat), before);
    // 下线 on this instance, through 服务管理: announced in the changing transaction.
    let admin = signed_in(&app, "admin").await;
    let page = format!("/admin/services/{sid}");
    let html = app.get_with(&admin, &page).await.text().await.unwrap();
    let r = admin
        .post(app.url(&format!("/admin/services/{sid}/status")))
        .form(&[
            ("_csrf", csrf_from(&html).as_str()),
            ("to", "offline"),
            ("from", "published"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let start = std::time::Instant::now();
    loop {
        let now = category_count(&home(other.clone()).await, &cat);
        if now == before - 2 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "still {now} after a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Export → import (as a new service) → publish → export: the same form and workflow.
#[tokio::test]
async fn an_exported_package_imports_and_publishes_to_an_identical_definition() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    for code in ["XSQJ", "CGCJ", "LXSX"] {
        let sid = service(&app, code).await;
        let original = export(&app, &admin, sid).await;
        let copy = original.replacen(
            &format!("code = \"{code}\""),
            &format!("code = \"{code}9\""),
            1,
        );
        assert_eq!(import(&app, &admin, "copy.toml", &copy).await.status(), 303);
        let new_id = service(&app, &format!("{code}9")).await;
        let draft = uc::working_copy(&app.db, new_id).await.unwrap();
        uc::publish(
            &app.db,
            new_id,
            draft.revision.unwrap(),
            "",
            user(&app, "admin").await,
            None,
            app.clock.now(),
        )
        .await
        .unwrap();
        let a = definitions::current(&app.db, sid).await.unwrap().unwrap();
        let b = definitions::current(&app.db, new_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.schema, b.schema, "{code}");
        assert_eq!(a.def, b.def, "{code}");
        let again = export(&app, &admin, new_id).await;
        assert_eq!(
            again.replacen(
                &format!("code = \"{code}9\""),
                &format!("code = \"{code}\""),
                1
            ),
            original,
            "{code}"
        );
    }
}
