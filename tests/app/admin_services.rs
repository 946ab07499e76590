//! 管理后台 › 服务管理: the list, creating and editing a service, its status (发布, 下线),
//! deleting, the guide preview as another kind of person, and who may do any of it.

use std::time::Duration;

use reqwest::{Client, Response};

use crate::{
    forms::{act, apply_leave, id_of, service},
    helpers::*,
};

/// The CSRF token of `c`'s session (from a page with a form).
async fn token(app: &TestApp, c: &Client) -> String {
    let html = app.get_with(c, "/login").await.text().await.unwrap();
    if html.contains("name=\"_csrf\"") {
        return csrf_from(&html);
    }
    let html = app.get_with(c, "/").await.text().await.unwrap();
    csrf_from(&html)
}

/// POST `fields` (+ the session's token) to `path` as `c`.
async fn post(app: &TestApp, c: &Client, path: &str, fields: &[(&str, String)]) -> Response {
    let mut form: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    form.push(("_csrf".into(), token(app, c).await));
    c.post(app.url(path)).form(&form).send().await.unwrap()
}

async fn category(app: &TestApp, code: &str) -> String {
    id_of(
        app,
        "SELECT id FROM service_categories WHERE code = $1",
        code,
    )
    .await
    .to_string()
}

async fn department(app: &TestApp, code: &str) -> String {
    id_of(app, "SELECT id FROM departments WHERE code = $1", code)
        .await
        .to_string()
}

/// Every field of the editor, filled in.
async fn full_form(app: &TestApp, code: &str, name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", name.into()),
        ("code", code.into()),
        ("category", category(app, "LOGS").await),
        ("department", department(app, "ACA").await),
        ("audiences", "student".into()),
        ("audiences", "staff".into()),
        ("kind", "guide".into()),
        ("external_url", String::new()),
        ("summary", "校园卡遗失或损坏后补办新卡。".into()),
        ("tags", "校园卡 补卡，一卡通".into()),
        ("conditions", "在校学生和在职教职工。".into()),
        ("materials", "1. 本人身份证\n2. 补卡费 20 元".into()),
        ("process", "- 挂失旧卡\n- 到服务大厅补办".into()),
        ("time_limit", "当场办结".into()),
        ("location", "行政楼一楼 **一卡通服务大厅**".into()),
        ("phone", "0531-89630000".into()),
        (
            "faq",
            "问：补卡后余额还在吗？\n答：余额自动转入新卡。".into(),
        ),
        ("start_user_types", "student".into()),
        ("start_user_types", "staff".into()),
        ("start_departments", department(app, "CS").await),
        ("start_roles", "counselor".into()),
        ("recommend_for", "student".into()),
        ("recommend_order", "0".into()),
        ("intent", "save".into()),
    ]
}

/// Creates a service as `c`; its id.
async fn create(app: &TestApp, c: &Client, fields: &[(&str, String)]) -> i64 {
    let r = post(app, c, "/admin/services", fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    location(&r)
        .trim_start_matches("/admin/services/")
        .parse()
        .unwrap()
}

async fn status_of(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM services WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Changes the status as `c`, with the password when asked.
async fn set_status(app: &TestApp, c: &Client, id: i64, from: &str, to: &str) -> Response {
    post(
        app,
        c,
        &format!("/admin/services/{id}/status"),
        &[
            ("from", from.into()),
            ("to", to.into()),
            ("confirm_password", DEMO_PASSWORD.into()),
        ],
    )
    .await
}

/// The edit page's form as posted back unchanged, with `changes`.
async fn edit_fields(
    app: &TestApp,
    c: &Client,
    id: i64,
    changes: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let html = app
        .get_with(c, &format!("/admin/services/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse(
        "form.svc-form input, form.svc-form textarea, form.svc-form select",
    )
    .unwrap();
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for e in doc.select(&sel) {
        let Some(name) = e.value().attr("name") else {
            continue;
        };
        if name == "_csrf" {
            continue;
        }
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        let value = match e.value().name() {
            "textarea" => e
                .text()
                .collect::<String>()
                .trim_start_matches('\n')
                .to_owned(),
            "select" => {
                let opt = scraper::Selector::parse("option[selected]").unwrap();
                match e.select(&opt).next() {
                    Some(o) => o.value().attr("value").unwrap_or("").to_owned(),
                    None => continue,
                }
            }
            _ => {
                let t = e.value().attr("type").unwrap_or("text");
                if (t == "checkbox" || t == "radio") && e.value().attr("checked").is_none() {
                    continue;
                }
                e.value().attr("value").unwrap_or("").to_owned()
            }
        };
        out.push((name, value));
    }
    for (k, v) in changes {
        out.retain(|(name, _)| name != k);
        out.push((k, (*v).to_owned()));
    }
    out.push(("intent", "save".into()));
    out
}

fn errors(html: &str) -> Vec<String> {
    texts_of_class(html, "field-error")
}

#[tokio::test]
async fn who_may_use_the_service_pages() {
    let app = spawn_app().await;
    let aca = service(&app, "HKSQ").await; // 教务处
    let cs = service(&app, "SJKF").await; // 计算机学院
    let admin = signed_in(&app, "admin").await;
    let manager = signed_in(&app, "T4401").await; // 服务管理员 of 教务处
    let teacher = signed_in(&app, "T2002").await;
    let student = signed_in(&app, "S2024001").await;
    let visitor = new_client();

    // The header offers 管理后台 to both kinds of administrator only.
    for (c, shown) in [
        (&admin, true),
        (&manager, true),
        (&teacher, false),
        (&student, false),
    ] {
        let html = app.get_with(c, "/").await.text().await.unwrap();
        assert_eq!(html.contains("href=\"/admin\""), shown);
    }
    // The 服务管理员's overview has 服务管理 and nothing else.
    let html = app.get_with(&manager, "/admin").await.text().await.unwrap();
    assert!(html.contains("href=\"/admin/services\""));
    assert!(!html.contains("/admin/people") && !html.contains("/admin/audit"));
    let html = app.get_with(&admin, "/admin").await.text().await.unwrap();
    assert!(html.contains("href=\"/admin/services\"") && html.contains("/admin/people"));

    let gets = [
        "/admin".to_owned(),
        "/admin/services".into(),
        "/admin/services?status=published&q=hk".into(),
        "/admin/services/new".into(),
        format!("/admin/services/{aca}"),
        format!("/admin/services/{aca}/preview?as=student"),
        format!("/admin/services/{aca}/export"),
        format!("/admin/services/{aca}/versions"),
    ];
    for path in &gets {
        for (who, c, expected) in [
            ("admin", &admin, 200),
            ("T4401", &manager, 200),
            ("T2002", &teacher, 403),
            ("S2024001", &student, 403),
        ] {
            let r = app.get_with(c, path).await;
            assert_eq!(r.status(), expected, "{who} GET {path}");
        }
        let r = app.get_with(&visitor, path).await;
        assert_eq!(r.status(), 303, "visitor GET {path}");
        assert!(location(&r).starts_with("/login?next="), "{path}");
    }
    // A service of another department.
    for path in [
        format!("/admin/services/{cs}"),
        format!("/admin/services/{cs}/preview?as=teacher"),
        format!("/admin/services/{cs}/export"),
    ] {
        assert_eq!(app.get_with(&admin, &path).await.status(), 200, "{path}");
        assert_eq!(app.get_with(&manager, &path).await.status(), 403, "{path}");
    }
    // People, the audit log and the outbox stay with the 系统管理员.
    for path in ["/admin/users", "/admin/audit", "/admin/outbox"] {
        assert_eq!(app.get_with(&manager, path).await.status(), 403, "{path}");
        assert_eq!(app.get_with(&admin, path).await.status(), 200, "{path}");
    }
    // The 服务管理员's list holds 教务处's services only.
    let html = app
        .get_with(&manager, "/admin/services")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("/admin/services/{aca}\"")));
    assert!(!html.contains(&format!("/admin/services/{cs}\"")));
    let html = app
        .get_with(&admin, "/admin/services?q=SJKF")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("/admin/services/{cs}\"")));

    // Actions: refused for the wrong people, and nothing changes.
    let before: (String, String) =
        sqlx::query_as("SELECT name, status FROM services WHERE id = $1")
            .bind(cs)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let form = edit_fields(&app, &admin, cs, &[("name", "改名")]).await;
    let actions: Vec<(String, Vec<(&str, String)>)> = vec![
        (format!("/admin/services/{cs}"), form.clone()),
        (
            format!("/admin/services/{cs}/status"),
            vec![("from", "published".into()), ("to", "offline".into())],
        ),
        (
            format!("/admin/services/{cs}/delete"),
            vec![("confirm", "yes".into())],
        ),
    ];
    for (path, fields) in &actions {
        for (who, c) in [
            ("T4401", &manager),
            ("T2002", &teacher),
            ("S2024001", &student),
        ] {
            let r = post(&app, c, path, fields).await;
            assert_eq!(r.status(), 403, "{who} POST {path}");
        }
        let r = post(&app, &visitor, path, fields).await;
        assert_eq!(r.status(), 303, "visitor POST {path}");
        assert_eq!(location(&r), "/login");
    }
    // Creating: a 服务管理员 only in their own departments; the others not at all.
    let mut fields = full_form(&app, "XYKBB", "校园卡补办").await;
    for (who, c) in [("T2002", &teacher), ("S2024001", &student)] {
        assert_eq!(
            post(&app, c, "/admin/services", &fields).await.status(),
            403,
            "{who}"
        );
        let r = post(&app, c, "/admin/services/preview", &[("text", "x".into())]).await;
        assert_eq!(r.status(), 403, "{who}");
    }
    let r = post(&app, &visitor, "/admin/services", &fields).await;
    assert_eq!(location(&r), "/login");
    fields.retain(|(k, _)| *k != "department");
    fields.push(("department", department(&app, "CS").await));
    let r = post(&app, &manager, "/admin/services", &fields).await;
    assert_eq!(r.status(), 422);
    assert!(
        errors(&r.text().await.unwrap())
            .iter()
            .any(|e| e.contains("管理范围"))
    );
    let after: (String, String) = sqlx::query_as("SELECT name, status FROM services WHERE id = $1")
        .bind(cs)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(before, after);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM services WHERE code = 'XYKBB'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);

    // The 服务管理员 works on a service of their department.
    let form = edit_fields(&app, &manager, aca, &[("summary", "教务处修改的简介")]).await;
    let r = post(&app, &manager, &format!("/admin/services/{aca}"), &form).await;
    assert_eq!(r.status(), 303);
    let summary: String = sqlx::query_scalar("SELECT summary FROM services WHERE id = $1")
        .bind(aca)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(summary, "教务处修改的简介");
    fields.retain(|(k, _)| *k != "department");
    fields.push(("department", department(&app, "ACA-EXAM").await));
    let id = create(&app, &manager, &fields).await;
    assert_eq!(
        app.get_with(&manager, &format!("/admin/services/{id}"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_new_service_with_every_field_reaches_the_catalog_once_published() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let student = signed_in(&app, "S2024001").await;
    let fields = full_form(&app, "XYKBB", "校园卡补办").await;
    let id = create(&app, &admin, &fields).await;
    #[allow(clippy::type_complexity)]
    let row: (String, String, Vec<String>, Vec<String>, String, String, Vec<String>, Vec<i64>, Vec<String>, Vec<String>, String) = sqlx::query_as(
        "SELECT code, status, audiences, tags, materials, kind, start_user_types, start_department_ids,
                start_roles, recommend_for, pinyin_full
         FROM services WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(row.0, "XYKBB");
    assert_eq!(row.1, "draft");
    assert_eq!(row.2, vec!["student", "staff"]);
    assert_eq!(row.3, vec!["校园卡", "补卡", "一卡通"]);
    assert_eq!(row.4, "1. 本人身份证\n2. 补卡费 20 元");
    assert_eq!(row.5, "guide");
    assert_eq!(row.6, vec!["student", "staff"]);
    assert_eq!(
        row.7,
        vec![department(&app, "CS").await.parse::<i64>().unwrap()]
    );
    assert_eq!(row.8, vec!["counselor"]);
    assert_eq!(row.9, vec!["student"]);
    assert_eq!(row.10, "xiaoyuankabuban");
    assert_eq!(app.audit_count("service.create", "success").await, 1);
    // A draft: not public yet.
    let r = app.get_with(&student, &format!("/services/{id}")).await;
    assert_eq!(r.status(), 404);
    let html = app
        .get_with(&student, "/services?q=xiaoyuanka")
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains(&format!("/services/{id}\"")));
    // The editor shows it back, with the guide's previews.
    let html = app
        .get_with(&admin, &format!("/admin/services/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<li>本人身份证</li>") && html.contains("<strong>一卡通服务大厅</strong>")
    );
    assert!(html.contains("value=\"校园卡 补卡 一卡通\""));

    let r = set_status(&app, &admin, id, "draft", "published").await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(status_of(&app, id).await, "published");
    // In 服务中心 (by pinyin too), on the student's 首页, and its guide in Markdown.
    for q in ["校园卡补办", "xiaoyuanka", "xykbb"] {
        let html = app
            .get_with(&student, &format!("/services?q={q}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains(&format!("/services/{id}\"")), "{q}");
    }
    let html = app.get_with(&student, "/").await.text().await.unwrap();
    assert!(html.contains("校园卡补办"));
    let html = app
        .get_with(&student, &format!("/services/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("<li>本人身份证</li>"));
    assert!(html.contains("问：补卡后余额还在吗？<br>"));
    assert!(html.contains("0531-89630000"));
    assert_eq!(app.audit_count("service.status", "success").await, 1);

    // An edit is audited with the names of the fields it changed.
    let form = edit_fields(
        &app,
        &admin,
        id,
        &[("name", "校园卡补办（新）"), ("faq", "")],
    )
    .await;
    let r = post(&app, &admin, &format!("/admin/services/{id}"), &form).await;
    assert_eq!(r.status(), 303);
    let fields: serde_json::Value = sqlx::query_scalar(
        "SELECT details->'fields' FROM audit_log WHERE action = 'service.update' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(fields, serde_json::json!(["name", "faq"]));
    let html = app
        .get_with(&student, "/services?q=xiaoyuanka")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("校园卡补办（新）"));
}

#[tokio::test]
async fn each_field_says_what_is_wrong_and_keeps_what_was_typed() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let mut fields = full_form(&app, "XSQJ", "").await;
    let set = |fields: &mut Vec<(&'static str, String)>, k: &'static str, v: &str| {
        fields.retain(|(name, _)| *name != k);
        fields.push((k, v.to_owned()));
    };
    set(&mut fields, "summary", "我输入的简介");
    set(&mut fields, "kind", "external");
    set(&mut fields, "external_url", "javascript:alert(1)");
    set(&mut fields, "category", "");
    set(&mut fields, "recommend_order", "第一");
    set(&mut fields, "tags", &"很长的关键词".repeat(5));
    fields.retain(|(k, _)| *k != "audiences");
    let r = post(&app, &admin, "/admin/services", &fields).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    let messages = errors(&html);
    for expected in [
        "请填写服务名称",
        "该编码已被服务“学生请假”使用",
        "请选择服务类别",
        "请至少选择一个服务对象",
        "http:// 或 https://",
        "推荐顺序请填写",
        "太长",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{expected}: {messages:?}"
        );
    }
    // What was typed is still there.
    assert!(html.contains("我输入的简介"));
    assert!(html.contains("value=\"javascript:alert(1)\""));
    assert!(html.contains("1. 本人身份证"));
    assert!(html.contains("value=\"第一\""));
    // A bad code, a missing URL.
    set(&mut fields, "code", "xs-1");
    set(&mut fields, "external_url", "");
    let html = post(&app, &admin, "/admin/services", &fields)
        .await
        .text()
        .await
        .unwrap();
    let messages = errors(&html);
    assert!(
        messages.iter().any(|m| m.contains("大写英文字母开头")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("须填写业务系统地址")),
        "{messages:?}"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM services")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 46, "nothing saved");
}

#[tokio::test]
async fn an_edit_of_a_stale_page_is_refused_and_keeps_the_input() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let other = signed_in(&app, "admin").await;
    let id = service(&app, "HKSQ").await;
    let mine = edit_fields(&app, &admin, id, &[("summary", "我的修改")]).await;
    let theirs = edit_fields(&app, &other, id, &[("summary", "对方的修改")]).await;
    assert_eq!(
        post(&app, &other, &format!("/admin/services/{id}"), &theirs)
            .await
            .status(),
        303
    );
    let r = post(&app, &admin, &format!("/admin/services/{id}"), &mine).await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("已被他人修改"));
    assert!(html.contains("我的修改"));
    let summary = || async {
        sqlx::query_scalar::<_, String>("SELECT summary FROM services WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    assert_eq!(summary().await, "对方的修改");
    // Saving again from the conflict page overwrites knowingly.
    let stamp = {
        let doc = scraper::Html::parse_document(&html);
        let sel = scraper::Selector::parse("input[name=stamp]").unwrap();
        doc.select(&sel)
            .next()
            .unwrap()
            .value()
            .attr("value")
            .unwrap()
            .to_owned()
    };
    let mut again = mine.clone();
    again.retain(|(k, _)| *k != "stamp");
    again.push(("stamp", stamp));
    assert_eq!(
        post(&app, &admin, &format!("/admin/services/{id}"), &again)
            .await
            .status(),
        303
    );
    assert_eq!(summary().await, "我的修改");
    // A page without its stamp cannot save blindly either.
    let mut blind = mine.clone();
    blind.retain(|(k, _)| *k != "stamp");
    assert_eq!(
        post(&app, &admin, &format!("/admin/services/{id}"), &blind)
            .await
            .status(),
        409
    );
}

#[tokio::test]
async fn nul_characters_and_huge_fields_get_a_message_not_a_server_error() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let id = service(&app, "HKSQ").await;
    let mut fields = full_form(&app, "NULTEST", "空\0字符").await;
    fields.retain(|(k, _)| *k != "faq" && *k != "summary");
    fields.push(("summary", "x".repeat(100_000)));
    fields.push(("faq", "问".repeat(20_001)));
    // The NUL is refused at the input gate (the page offers 返回修改, which brings the
    // form back as typed); without it the form answers with its messages.
    let r = post(&app, &admin, "/admin/services", &fields).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("无法处理的字符"));
    fields.retain(|(k, _)| *k != "name");
    fields.push(("name", "空字符".into()));
    let r = post(&app, &admin, "/admin/services", &fields).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    let messages = errors(&html);
    assert!(
        messages.iter().any(|m| m.contains("服务简介最多 500 个字")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("常见问题最多 20000 个字")),
        "{messages:?}"
    );
    assert!(html.contains("value=\"空字符\""));
    // An edit too, and the preview.
    let form = edit_fields(&app, &admin, id, &[("process", "第一步\0")]).await;
    let r = post(&app, &admin, &format!("/admin/services/{id}"), &form).await;
    assert_eq!(r.status(), 400);
    let r = post(
        &app,
        &admin,
        "/admin/services/preview",
        &[("text", "a\0b".into())],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post(
        &app,
        &admin,
        "/admin/services/preview",
        &[("text", "长".repeat(20_001))],
    )
    .await;
    assert_eq!(r.status(), 400);
    // More than a form may carry at all.
    let r = post(
        &app,
        &admin,
        "/admin/services",
        &[("summary", "x".repeat(1_200_000))],
    )
    .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM services WHERE code = 'NULTEST'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

/// The count shown on 首页 for a category.
async fn home_count(app: &TestApp, c: &Client, category: &str) -> i64 {
    let html = app.get_with(c, "/").await.text().await.unwrap();
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse(&format!(
        "a.tile.cat[href=\"/services?cat={category}\"] small"
    ))
    .unwrap();
    let text: String = doc.select(&sel).next().unwrap().text().collect();
    text.trim_end_matches(" 项服务").parse().unwrap()
}

#[tokio::test]
async fn offline_leaves_the_catalog_at_once_and_running_applications_finish() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let student = signed_in(&app, "S2024001").await;
    let id = service(&app, "XSQJ").await;
    let cat = category(&app, "STU").await;
    let running = apply_leave(&app, &student, "1").await;
    let before = home_count(&app, &student, &cat).await;
    let html = app
        .get_with(&student, "/services?q=xsqj")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("/services/{id}\"")));

    let r = set_status(&app, &admin, id, "published", "offline").await;
    assert_eq!(r.status(), 303);
    assert_eq!(status_of(&app, id).await, "offline");
    let details: serde_json::Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'service.status' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(details["from"], "published");
    assert_eq!(details["to"], "offline");

    // Gone from search, 首页's counts (no waiting for the cache) and the guide.
    assert_eq!(home_count(&app, &student, &cat).await, before - 1);
    let html = app
        .get_with(&student, "/services?q=xsqj")
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains(&format!("/services/{id}\"")));
    assert_eq!(
        app.get_with(&student, &format!("/services/{id}"))
            .await
            .status(),
        404
    );
    // 立即办理 says why, also to the 系统管理员.
    for c in [&student, &admin] {
        let r = app.get_with(c, &format!("/services/{id}/apply")).await;
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("该服务已下线"));
    }
    let fields = crate::forms::leave_fields(&app, "1").await;
    let page = format!("/services/{id}/apply");
    let r = post(&app, &student, &page, &{
        let mut f = fields.clone();
        f.push(("intent", "submit".into()));
        f
    })
    .await;
    assert_eq!(r.status(), 403);

    // The running application goes on to 已办结, and its page still opens.
    let counselor = signed_in(&app, "T2101").await;
    let r = act(&app, &counselor, running, "approve", "counselor", &[]).await;
    assert_eq!(r.status(), 303);
    let status: String = sqlx::query_scalar("SELECT status FROM applications WHERE id = $1")
        .bind(running)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "completed");
    let r = app
        .get_with(&student, &format!("/applications/{running}"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("已办结"));

    // Back online: the counts return.
    let r = set_status(&app, &admin, id, "offline", "published").await;
    assert_eq!(r.status(), 303);
    assert_eq!(home_count(&app, &student, &cat).await, before);
}

#[tokio::test]
async fn an_online_service_needs_a_published_form_before_it_is_published() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let mut fields = full_form(&app, "ZXBL", "在线办理测试").await;
    fields.retain(|(k, _)| *k != "kind");
    fields.push(("kind", "online".into()));
    let id = create(&app, &admin, &fields).await;
    let html = app
        .get_with(&admin, &format!("/admin/services/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("须先在“表单设计”“流程设计”中设计表单与流程"));
    let r = set_status(&app, &admin, id, "draft", "published").await;
    assert_eq!(r.status(), 303);
    assert_eq!(status_of(&app, id).await, "draft");
    let html = app
        .get_with(&admin, &location(&r))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text_of_class(&html, "flash-error")
            .unwrap()
            .contains("设计表单与流程")
    );

    // A published guide-only service cannot become 在线办理 without a form either.
    let fields = full_form(&app, "XXBL", "线下办理测试").await;
    let id = create(&app, &admin, &fields).await;
    assert_eq!(
        set_status(&app, &admin, id, "draft", "published")
            .await
            .status(),
        303
    );
    let form = edit_fields(&app, &admin, id, &[("kind", "online")]).await;
    let r = post(&app, &admin, &format!("/admin/services/{id}"), &form).await;
    assert_eq!(r.status(), 422);
    assert!(
        errors(&r.text().await.unwrap())
            .iter()
            .any(|e| e.contains("改为在线办理前"))
    );
    let kind: String = sqlx::query_scalar("SELECT kind FROM services WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(kind, "guide");
    // Transitions that do not exist are refused.
    let r = set_status(&app, &admin, id, "published", "draft").await;
    assert_eq!(r.status(), 303);
    assert_eq!(status_of(&app, id).await, "published");
    // A page that showed another status changes nothing.
    let r = set_status(&app, &admin, id, "draft", "offline").await;
    assert_eq!(r.status(), 303);
    assert_eq!(status_of(&app, id).await, "published");
}

#[tokio::test]
async fn only_a_service_never_applied_for_may_be_deleted() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let student = signed_in(&app, "S2024001").await;
    let xsqj = service(&app, "XSQJ").await;
    apply_leave(&app, &student, "1").await;
    let r = post(
        &app,
        &admin,
        &format!("/admin/services/{xsqj}/delete"),
        &[
            ("confirm", "yes".into()),
            ("confirm_password", DEMO_PASSWORD.into()),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let html = app
        .get_with(&admin, &location(&r))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text_of_class(&html, "flash-error")
            .unwrap()
            .contains("下线")
    );
    assert_eq!(status_of(&app, xsqj).await, "published");

    // A new service with a version, a working copy, a favorite and a 服务管理员.
    let id = create(&app, &admin, &full_form(&app, "SCCS", "删除测试").await).await;
    assert_eq!(
        set_status(&app, &admin, id, "draft", "published")
            .await
            .status(),
        303
    );
    {
        let mut conn = app.db.acquire().await.unwrap();
        let (form, flow) = service_hall::workflow::store::versions::definitions(&app.db, xsqj, 1)
            .await
            .unwrap()
            .unwrap();
        service_hall::workflow::store::versions::publish(
            &mut conn,
            id,
            &form,
            &flow,
            None,
            chrono::Utc::now(),
            "",
            None,
        )
        .await
        .unwrap();
        sqlx::query("INSERT INTO service_drafts (service_id, form, workflow, updated_at) VALUES ($1, $2, $3, now())")
            .bind(id)
            .bind(&form)
            .bind(&flow)
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO service_admins (service_id, user_id) SELECT $1, id FROM users WHERE account = 'T2002'")
            .bind(id)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let r = post(
        &app,
        &student,
        "/favorites",
        &[("kind", "service".into()), ("id", id.to_string())],
    )
    .await;
    assert_eq!(r.status(), 303);
    // Not without ticking the box.
    let r = post(&app, &admin, &format!("/admin/services/{id}/delete"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(status_of(&app, id).await, "published");
    let r = post(
        &app,
        &admin,
        &format!("/admin/services/{id}/delete"),
        &[
            ("confirm", "yes".into()),
            ("confirm_password", DEMO_PASSWORD.into()),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/services");
    for table in [
        "services WHERE id = $1",
        "service_versions WHERE service_id = $1",
        "service_drafts WHERE service_id = $1",
        "form_definitions WHERE service_id = $1",
        "workflow_definitions WHERE service_id = $1",
        "service_admins WHERE service_id = $1",
        "favorites WHERE kind = 'service' AND target_id = $1",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    assert_eq!(app.audit_count("service.delete", "success").await, 1);
    assert_eq!(
        app.get_with(&admin, &format!("/admin/services/{id}"))
            .await
            .status(),
        404
    );
}

/// Applications name their service without a foreign key (migration 0017): a first
/// application still being submitted when the service is deleted holds the delete off,
/// which then sees it and refuses — no application is left without its service.
#[tokio::test]
async fn a_delete_waits_for_a_first_application_in_flight() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let id = create(&app, &admin, &full_form(&app, "SCCS", "删除测试").await).await;
    // The submission's row is written; its transaction has not committed yet.
    let mut tx = app.db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO applications (service_id, applicant_id, form_def_id, workflow_def_id, title,
                                   status, created_at, updated_at)
         SELECT $1, u.id, (SELECT min(id) FROM form_definitions),
                (SELECT min(id) FROM workflow_definitions), '删除测试', 'draft', now(), now()
         FROM users u WHERE u.account = 'S2024001'",
    )
    .bind(id)
    .execute(&mut *tx)
    .await
    .unwrap();
    let path = format!("/admin/services/{id}/delete");
    let fields = [
        ("confirm", "yes".to_owned()),
        ("confirm_password", DEMO_PASSWORD.to_owned()),
    ];
    let delete = post(&app, &admin, &path, &fields);
    let commit = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        tx.commit().await.unwrap();
    };
    let (r, ()) = tokio::join!(delete, commit);
    assert_eq!(r.status(), 303);
    let html = app
        .get_with(&admin, &location(&r))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text_of_class(&html, "flash-error")
            .unwrap_or_default()
            .contains("下线"),
        "{html}"
    );
    assert_eq!(status_of(&app, id).await, "draft");
}

#[tokio::test]
async fn publishing_and_deleting_ask_for_the_password_after_fifteen_minutes() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let a = create(&app, &admin, &full_form(&app, "QRCS", "确认测试").await).await;
    let path = format!("/admin/services/{a}/status");
    let publish = |password: Option<&str>| {
        let mut f: Vec<(&str, String)> = vec![("from", "draft".into()), ("to", "published".into())];
        if let Some(p) = password {
            f.push(("confirm_password", p.into()));
        }
        f
    };
    // Asked, nothing changed.
    let r = post(&app, &admin, &path, &publish(None)).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("确认身份") && html.contains("发布服务“确认测试”"));
    assert_eq!(status_of(&app, a).await, "draft");
    // A wrong password: asked again with the reason.
    let r = post(&app, &admin, &path, &publish(Some("Wrong@2026"))).await;
    assert_eq!(r.status(), 200);
    assert!(text_of_class(&r.text().await.unwrap(), "field-error").is_some());
    assert_eq!(status_of(&app, a).await, "draft");
    // The right one: done, and not asked again within 15 minutes.
    let r = post(&app, &admin, &path, &publish(Some(DEMO_PASSWORD))).await;
    assert_eq!(r.status(), 303);
    assert_eq!(status_of(&app, a).await, "published");
    assert_eq!(
        set_status_plain(&app, &admin, a, "published", "offline").await,
        303
    );
    assert_eq!(
        set_status_plain(&app, &admin, a, "offline", "published").await,
        303
    );
    assert_eq!(status_of(&app, a).await, "published");

    // 16 minutes later: asked again, to publish and to delete.
    app.clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(
        set_status_plain(&app, &admin, a, "published", "offline").await,
        303
    );
    let r = post(
        &app,
        &admin,
        &path,
        &[("from", "offline".into()), ("to", "published".into())],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("确认身份"));
    assert_eq!(status_of(&app, a).await, "offline");
    let del = format!("/admin/services/{a}/delete");
    let r = post(&app, &admin, &del, &[("confirm", "yes".into())]).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("删除服务“确认测试”"));
    // The confirmation page posts the same fields again.
    assert!(html.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(status_of(&app, a).await, "offline");
    let r = post(
        &app,
        &admin,
        &del,
        &[
            ("confirm", "yes".into()),
            ("confirm_password", DEMO_PASSWORD.into()),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM services WHERE id = $1")
        .bind(a)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

/// A status change without the password field.
async fn set_status_plain(app: &TestApp, c: &Client, id: i64, from: &str, to: &str) -> u16 {
    post(
        app,
        c,
        &format!("/admin/services/{id}/status"),
        &[("from", from.into()), ("to", to.into())],
    )
    .await
    .status()
    .as_u16()
}

#[tokio::test]
async fn the_markdown_preview_is_sanitised_and_works_without_script() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let evil = "**粗体**\n\n<script>alert(1)</script><img src=x onerror=\"alert(2)\"><a href=\"javascript:alert(3)\">x</a>";
    let r = post(
        &app,
        &admin,
        "/admin/services/preview",
        &[("text", evil.into())],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("<strong>粗体</strong>"));
    assert!(
        !html.contains("<script") && !html.contains("onerror") && !html.contains("javascript:")
    );

    // 预览 without script: the page again, everything typed kept and previewed, nothing saved.
    let id = service(&app, "HKSQ").await;
    let form = edit_fields(
        &app,
        &admin,
        id,
        &[("materials", evil), ("name", "未保存的名称")],
    )
    .await;
    let mut form: Vec<(&str, String)> = form.into_iter().filter(|(k, _)| *k != "intent").collect();
    form.push(("intent", "preview".into()));
    let r = post(&app, &admin, &format!("/admin/services/{id}"), &form).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"未保存的名称\""));
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse("#pv-materials").unwrap();
    let preview = doc.select(&sel).next().unwrap().inner_html();
    assert!(preview.contains("<strong>粗体</strong>"), "{preview}");
    assert!(
        !preview.contains("<script") && !preview.contains("onerror"),
        "{preview}"
    );
    let name: String = sqlx::query_scalar("SELECT name FROM services WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "缓考申请");
}

#[tokio::test]
async fn the_guide_preview_shows_what_each_kind_of_person_would_see() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let student = signed_in(&app, "S2024001").await;
    // 出差审批: 教职工 only.
    let ccsp = service(&app, "CCSP").await;
    let html = app
        .get_with(
            &admin,
            &format!("/admin/services/{ccsp}/preview?as=student"),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("预览（以学生身份）"));
    assert!(
        text_of_class(&html, "guide-actions")
            .unwrap()
            .contains("该服务仅限教职工发起")
    );
    for who in ["teacher", "staff"] {
        let html = app
            .get_with(&admin, &format!("/admin/services/{ccsp}/preview?as={who}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(!html.contains("仅限教职工发起"), "{who}");
        assert!(html.contains("title=\"预览中不可办理\">立即办理"), "{who}");
    }
    let html = app
        .get_with(
            &admin,
            &format!("/admin/services/{ccsp}/preview?as=visitor"),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("预览（以访客身份）") && html.contains("登录后收藏"));
    assert!(html.contains("会先转到登录页"));
    // 实验室开放申请: 计算机学院 only, said for the types that pass.
    let sjkf = service(&app, "SJKF").await;
    let html = app
        .get_with(
            &admin,
            &format!("/admin/services/{sjkf}/preview?as=student"),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("此外仅限计算机学院（含下属单位）发起"),
        "{html}"
    );
    assert!(html.contains("title=\"预览中不可办理\">立即办理"));
    // A draft: previewed, though the public guide is 404.
    let id = create(&app, &admin, &full_form(&app, "CGYL", "草稿预览").await).await;
    let r = app
        .get_with(&admin, &format!("/admin/services/{id}/preview?as=student"))
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("该服务是草稿") && html.contains("<li>本人身份证</li>"));
    assert_eq!(
        app.get_with(&student, &format!("/services/{id}"))
            .await
            .status(),
        404
    );
    // An unknown kind of person is a student.
    let html = app
        .get_with(&admin, &format!("/admin/services/{id}/preview?as=martian"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("预览（以学生身份）"));
}

#[tokio::test]
async fn the_list_filters_combine_and_page() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let list = |q: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            let html = app
                .get_with(admin, &format!("/admin/services{q}"))
                .await
                .text()
                .await
                .unwrap();
            let doc = scraper::Html::parse_document(&html);
            let sel = scraper::Selector::parse(".svc-table td.svc-name code").unwrap();
            let codes: Vec<String> = doc.select(&sel).map(|e| e.text().collect()).collect();
            (codes, html)
        }
    };
    let (codes, html) = list("").await;
    assert_eq!(codes.len(), 20);
    assert!(html.contains("共 46 项服务"));
    assert!(html.contains("page=2"));
    let (codes, _) = list("?q=xsqj").await;
    assert_eq!(codes, vec!["XSQJ"]);
    let (codes, _) = list("?q=学生请假").await;
    assert_eq!(codes, vec!["XSQJ"]);
    let aca = department(&app, "ACA").await;
    let acad = category(&app, "ACAD").await;
    let q: &'static str =
        Box::leak(format!("?dept={aca}&cat={acad}&mode=online&form=yes").into_boxed_str());
    let (codes, html) = list(q).await;
    assert!(codes.contains(&"HKSQ".to_owned()), "{codes:?}");
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse(".svc-table td[data-label=办理方式]").unwrap();
    let kinds: Vec<String> = doc.select(&sel).map(|e| e.text().collect()).collect();
    assert_eq!(kinds.len(), codes.len());
    assert!(kinds.iter().all(|k| k == "在线办理"), "{kinds:?}");
    let sel = scraper::Selector::parse(".svc-table td[data-label=服务部门]").unwrap();
    assert!(
        doc.select(&sel)
            .all(|e| e.text().collect::<String>().starts_with("教务处"))
    );
    // The filters stay selected.
    assert!(html.contains(&format!("<option value=\"{aca}\" selected>")));
    assert!(html.contains("<option value=\"online\" selected>"));
    let (codes, _) = list("?form=no&mode=online").await;
    assert!(
        codes.is_empty(),
        "every online demo service has a form: {codes:?}"
    );
    let (codes, _) = list("?status=offline").await;
    assert!(codes.is_empty());
    // Odd values are ignored, not errors; a NUL is refused at the input gate.
    let r = app
        .get_with(&admin, "/admin/services?dept=x&page=-3&status=zz&q=")
        .await;
    assert_eq!(r.status(), 200);
    let r = app.get_with(&admin, "/admin/services?q=%00").await;
    assert_eq!(r.status(), 400);
}

/// The list, the editor with its live Markdown preview, and the guide preview, as a
/// 系统管理员 sees them at desktop and phone widths (screenshots in target/screenshots).
#[tokio::test]
async fn browser_service_pages_at_both_widths() {
    use crate::browser::{Browser, center, fill, sign_in};
    use fantoccini::Locator;
    let app = spawn_app().await;
    let id = service(&app, "HKSQ").await;
    for (w, h) in [(1280, 900), (390, 844)] {
        let Some(b) = Browser::start(w, h).await else {
            return;
        };
        sign_in(&b, &app, "admin").await;
        let c = &b.client;
        c.goto(&app.url("/admin")).await.unwrap();
        b.screenshot(&format!("admin-overview-{w}")).await;
        c.goto(&app.url("/admin/services")).await.unwrap();
        c.wait()
            .for_element(Locator::Css(".svc-table"))
            .await
            .unwrap();
        b.screenshot(&format!("admin-services-{w}")).await;

        c.goto(&app.url(&format!("/admin/services/{id}")))
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Css("form.svc-form"))
            .await
            .unwrap();
        b.screenshot(&format!("admin-service-edit-{w}")).await;
        // With script, the preview follows the text and the 预览 button goes away.
        let preview_button = c
            .find(Locator::Css("button[name=intent][value=preview]"))
            .await
            .unwrap();
        assert!(!preview_button.is_displayed().await.unwrap());
        fill(
            c,
            "#f-materials",
            "**学生证**\n- 缓考申请表\n<img src=x onerror=alert(1)>",
        )
        .await;
        let mut shown = String::new();
        for _ in 0..50 {
            shown = c
                .find(Locator::Id("pv-materials"))
                .await
                .unwrap()
                .html(true)
                .await
                .unwrap();
            if shown.contains("<strong>学生证</strong>") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            shown.contains("<strong>学生证</strong>") && shown.contains("<li>缓考申请表"),
            "{shown}"
        );
        assert!(!shown.contains("onerror"), "{shown}");
        center(c, "#f-materials").await;
        b.screenshot(&format!("admin-service-edit-guide-{w}")).await;
        center(c, ".check-list").await;
        b.screenshot(&format!("admin-service-edit-scope-{w}")).await;

        c.goto(&app.url(&format!("/admin/services/{id}/preview?as=teacher")))
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Css(".preview-banner"))
            .await
            .unwrap();
        b.screenshot(&format!("admin-service-preview-{w}")).await;
        // The 办事指南 in Markdown, as the public page shows it.
        center(c, ".guide h2").await;
        b.screenshot(&format!("admin-service-preview-guide-{w}"))
            .await;
        c.goto(&app.url("/admin/services/new")).await.unwrap();
        b.screenshot(&format!("admin-service-new-{w}")).await;
        b.close().await;
    }
}

/// (value, text) of every option of `select`, and the values of the checked boxes named
/// `name` — what a page offers.
fn options(html: &str, select: &str) -> Vec<(String, String)> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("{select} option")).unwrap();
    doc.select(&sel)
        .map(|o| {
            (
                o.value().attr("value").unwrap_or("").to_owned(),
                o.text().collect::<String>(),
            )
        })
        .collect()
}

fn boxes(html: &str, name: &str) -> Vec<(String, String)> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("label.choice").unwrap();
    let input = scraper::Selector::parse(&format!("input[name={name}]")).unwrap();
    doc.select(&sel)
        .filter_map(|l| {
            let i = l.select(&input).next()?;
            Some((
                i.value().attr("value").unwrap_or("").to_owned(),
                l.text().collect::<String>().trim().to_owned(),
            ))
        })
        .collect()
}

/// A retired department is offered nowhere new; a service that names one keeps it
/// (labelled （已停用）) when edited; choosing one anew is refused next to the field.
#[tokio::test]
async fn retired_departments_stay_on_old_services_and_are_refused_for_new_choices() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let id = create(
        &app,
        &admin,
        &full_form(&app, "RETIRE1", "旧部门的服务").await,
    )
    .await;
    let (aca, cs) = (department(&app, "ACA").await, department(&app, "CS").await);
    // Retired after the service was made (the tree page refuses while services refer
    // to a department; a package import or an old record gets here anyway).
    sqlx::query("UPDATE departments SET active = false WHERE code IN ('ACA', 'CS')")
        .execute(&app.db)
        .await
        .unwrap();

    let html = app
        .get_with(&admin, "/admin/services/new")
        .await
        .text()
        .await
        .unwrap();
    let offered = options(&html, "#f-department");
    assert!(!offered.is_empty());
    assert!(!offered.iter().any(|(v, _)| *v == aca), "{offered:?}");
    let starts = boxes(&html, "start_departments");
    assert!(!starts.is_empty());
    assert!(
        !starts.iter().any(|(v, _)| *v == aca || *v == cs),
        "{starts:?}"
    );
    assert!(!html.contains("（已停用）"));

    let html = app
        .get_with(&admin, &format!("/admin/services/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let current = options(&html, "#f-department");
    let (_, label) = current.iter().find(|(v, _)| *v == aca).expect("kept");
    assert!(label.ends_with("（已停用）"), "{label}");
    let (_, label) = boxes(&html, "start_departments")
        .into_iter()
        .find(|(v, _)| *v == cs)
        .expect("kept");
    assert!(label.ends_with("（已停用）"), "{label}");
    let r = post(
        &app,
        &admin,
        &format!("/admin/services/{id}"),
        &edit_fields(&app, &admin, id, &[("name", "旧部门的服务（改）")]).await,
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let (dept, starts, name): (i64, Vec<i64>, String) = sqlx::query_as(
        "SELECT department_id, start_department_ids, name FROM services WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(name, "旧部门的服务（改）");
    assert_eq!(dept.to_string(), aca, "the retired department is kept");
    assert_eq!(starts, [cs.parse::<i64>().unwrap()]);

    // Chosen anew: refused, next to the field.
    let r = post(
        &app,
        &admin,
        "/admin/services",
        &full_form(&app, "RETIRE2", "新服务").await,
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    let errs = errors(&html);
    assert!(
        errs.iter()
            .any(|e| e.contains("已停用") && e.contains("请选择启用中的部门")),
        "{errs:?}"
    );
    assert_eq!(
        errs.iter().filter(|e| e.contains("已停用")).count(),
        2,
        "服务部门 and 可发起部门: {errs:?}"
    );
    let created: i64 = sqlx::query_scalar("SELECT count(*) FROM services WHERE code = 'RETIRE2'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(created, 0);
}
