use reqwest::{
    Client,
    multipart::{Form, Part},
};

use crate::helpers::*;

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 1, 2, 3,
    4,
];

fn travel_fields() -> Vec<(&'static str, &'static str)> {
    vec![
        ("f.ethnicity", "汉族"),
        ("f.birth_date", "1998-05-12"),
        ("f.birth_place", "广东深圳"),
        ("f.id_card", "44030619980512341X"),
        ("f.phone", "13900001002"),
        ("f.email", "lixm@demo.edu.cn"),
        ("f.passport", "因公护照"),
        ("f.profile", "计算机学院讲师"),
        ("f.task", "参加国际学术会议"),
        ("f.funding", "科研项目经费"),
        ("f.itinerary.0.date", "2026-12-10"),
        ("f.itinerary.0.country", "新加坡"),
        ("f.days", "5"),
        ("f.cost", "12000"),
        ("intent", "submit"),
    ]
}

/// The multipart post the browser makes: token in the action URL.
async fn post_multipart(
    app: &TestApp,
    c: &Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
    files: Vec<(&str, &str, Vec<u8>)>,
) -> reqwest::Response {
    let html = app.get_with(c, page).await.text().await.unwrap();
    let token = csrf_from(&html);
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    if let Some(v) = version(&html) {
        form = form.text("version", v);
    }
    for (field, name, data) in files {
        form = form.part(
            format!("file.{field}"),
            Part::bytes(data).file_name(name.to_owned()),
        );
    }
    c.post(app.url(&format!("{action}?_csrf={token}")))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn version(html: &str) -> Option<String> {
    let m = "name=\"version\" value=\"";
    let s = html.find(m)? + m.len();
    Some(html[s..s + html[s..].find('"')?].to_owned())
}

/// Submits the travel form with one PNG named `name`; the application's id.
async fn apply_with_file(app: &TestApp, teacher: &Client, page: &str, name: &str) -> i64 {
    let r = post_multipart(
        app,
        teacher,
        page,
        page,
        &travel_fields(),
        vec![("files", name, PNG.to_vec())],
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap()
}

async fn travel_page(app: &TestApp) -> String {
    let sid: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'CGCJ'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    format!("/services/{sid}/apply")
}

#[tokio::test]
async fn attachments_are_stored_and_downloaded_only_by_those_who_may_see() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let page = travel_page(&app).await;
    let id = apply_with_file(&app, &teacher, &page, "邀请函 2026.png").await;
    let (att, sha): (i64, String) =
        sqlx::query_as("SELECT id, sha256 FROM attachments WHERE application_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(sha.len(), 64);
    let data: serde_json::Value = sqlx::query_scalar("SELECT data FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(data["files"], serde_json::json!([att]));
    let page_html = app
        .get_with(&teacher, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page_html.contains(&format!("/attachments/{att}")) && page_html.contains("邀请函 2026.png")
    );

    let r = app.get_with(&teacher, &format!("/attachments/{att}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cd.starts_with("attachment;")
            && cd.contains("filename*=UTF-8''%E9%82%80%E8%AF%B7%E5%87%BD%202026.png"),
        "{cd}"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    // The approver may; a stranger gets 404, as for a file that does not exist.
    let head = signed_in(&app, "T2001").await;
    assert_eq!(
        app.get_with(&head, &format!("/attachments/{att}"))
            .await
            .status(),
        200
    );
    let stranger = signed_in(&app, "S2024001").await;
    assert_eq!(
        app.get_with(&stranger, &format!("/attachments/{att}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_with(&stranger, "/attachments/999999")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn the_type_is_checked_by_content_and_input_is_kept() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let page = travel_page(&app).await;
    let r = post_multipart(
        &app,
        &teacher,
        &page,
        &page,
        &travel_fields(),
        vec![("files", "邀请函.pdf", PNG.to_vec())],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("“邀请函.pdf”的类型不允许上传"),
        "message next to the field"
    );
    assert!(html.contains("参加国际学术会议"), "typed input kept");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    let running: i64 =
        sqlx::query_scalar("SELECT count(*) FROM applications WHERE status <> 'draft'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(running, 0, "nothing submitted");
}

#[tokio::test]
async fn size_limits_per_file_and_per_application() {
    let app = spawn_app_with(|s| {
        s.upload_max_file = 1024 * 1024;
        s.upload_max_total = 1024 * 1024;
    })
    .await;
    let teacher = signed_in(&app, "T2002").await;
    let page = travel_page(&app).await;
    let mut big = PNG.to_vec();
    big.resize(1024 * 1024 + 10, 0);
    let r = post_multipart(
        &app,
        &teacher,
        &page,
        &page,
        &travel_fields(),
        vec![("files", "大图.png", big)],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("“大图.png”超过 1 MB"));
    let mut half = PNG.to_vec();
    half.resize(600 * 1024, 0);
    let r = post_multipart(
        &app,
        &teacher,
        &page,
        &page,
        &travel_fields(),
        vec![("files", "一.png", half.clone()), ("files", "二.png", half)],
    )
    .await;
    assert_eq!(r.status(), 422, "the second file breaks the total");
    let html = r.text().await.unwrap();
    assert!(html.contains("附件总大小不能超过 1 MB，“二.png”未能添加"));
    assert!(
        html.contains("一.png"),
        "the first file is kept, in a draft"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn multipart_posts_need_the_token() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let page = travel_page(&app).await;
    let form = Form::new().text("intent", "draft");
    let r = teacher
        .post(app.url(&page))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn a_large_file_comes_back_byte_for_byte() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let page = travel_page(&app).await;
    let mut big = PNG.to_vec();
    big.extend((0..900_000u32).map(|i| (i % 251) as u8));
    let r = post_multipart(
        &app,
        &teacher,
        &page,
        &page,
        &travel_fields(),
        vec![("files", "扫描件.png", big.clone())],
    )
    .await;
    assert_eq!(r.status(), 303);
    let att: i64 = sqlx::query_scalar("SELECT id FROM attachments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let r = app.get_with(&teacher, &format!("/attachments/{att}")).await;
    assert_eq!(
        r.headers()["content-length"],
        big.len().to_string().as_str()
    );
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        big.as_slice(),
        "several slices, in order"
    );
}

/// A field a node hides from its approver stays hidden from them once their task is
/// closed: not on the page, and its files are 404. Others still see it.
#[tokio::test]
async fn a_field_hidden_at_a_node_stays_hidden_from_its_approver() {
    let app = spawn_app().await;
    // A new version of the travel flow: 部门负责人 sees neither the files nor the funding.
    let sid: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'CGCJ'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (form, mut def) = service_hall::workflow::store::definitions::current_raw(&app.db, sid)
        .await
        .unwrap()
        .unwrap();
    for n in def["nodes"].as_array_mut().unwrap() {
        if n["id"] == "head" {
            n["fields"] = serde_json::json!({ "files": "hidden", "funding": "hidden" });
        }
    }
    let mut tx = app.db.begin().await.unwrap();
    service_hall::workflow::store::versions::publish(
        &mut tx,
        sid,
        &form,
        &def,
        None,
        chrono::Utc::now(),
        "",
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let teacher = signed_in(&app, "T2002").await;
    let page = travel_page(&app).await;
    let id = apply_with_file(&app, &teacher, &page, "邀请函.png").await;
    let att: i64 = sqlx::query_scalar("SELECT id FROM attachments WHERE application_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let head = signed_in(&app, "T2001").await;
    let seen_by = |c: Client| {
        let app = &app;
        async move {
            let html = app
                .get_with(&c, &format!("/applications/{id}"))
                .await
                .text()
                .await
                .unwrap();
            let file = app
                .get_with(&c, &format!("/attachments/{att}"))
                .await
                .status();
            (html, file.as_u16())
        }
    };
    let (html, file) = seen_by(head.clone()).await;
    assert!(!html.contains("科研项目经费") && !html.contains("邀请函.png"));
    assert_eq!(file, 404, "while the task is open");
    // 通过, then read again: still hidden.
    let token = csrf_from(&html);
    let v = version(&html).expect("the action form");
    let r = head
        .post(app.url(&format!("/applications/{id}/act")))
        .form(&[
            ("_csrf", token.as_str()),
            ("version", v.as_str()),
            ("op", "approve"),
            ("node", "head"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (html, file) = seen_by(head).await;
    assert!(html.contains("国际交流处"), "the page is the application's");
    assert!(!html.contains("科研项目经费") && !html.contains("邀请函.png"));
    assert_eq!(file, 404, "after the task is closed");
    // The applicant and the next approver see both.
    for c in [teacher, signed_in(&app, "T3001").await] {
        let (html, file) = seen_by(c).await;
        assert!(html.contains("科研项目经费") && html.contains("邀请函.png"));
        assert_eq!(file, 200);
    }
}

/// Files change only at the version the page showed: a second post from a stale page
/// (another tab, a double click) is 该事项已被处理 and adds or removes nothing.
#[tokio::test]
async fn a_stale_page_changes_no_files() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let page = travel_page(&app).await;
    let mut fields = travel_fields();
    fields.retain(|(k, _)| *k != "intent");
    fields.push(("intent", "draft"));
    let r = post_multipart(
        &app,
        &teacher,
        &page,
        &page,
        &fields,
        vec![("files", "a.png", PNG.to_vec())],
    )
    .await;
    assert_eq!(r.status(), 303);
    let edit = location(&r);
    let html = app.get_with(&teacher, &edit).await.text().await.unwrap();
    let (token, v) = (csrf_from(&html), version(&html).unwrap());
    let post = |file: &'static str| {
        let mut form = Form::new();
        for (k, val) in &fields {
            form = form.text(k.to_string(), val.to_string());
        }
        form = form.text("version", v.clone()).part(
            "file.files",
            Part::bytes(PNG.to_vec()).file_name(file.to_owned()),
        );
        teacher
            .post(app.url(&format!("{edit}?_csrf={token}")))
            .multipart(form)
            .send()
    };
    assert_eq!(post("b.png").await.unwrap().status(), 303);
    assert_eq!(post("c.png").await.unwrap().status(), 409, "the stale page");
    let names: Vec<String> = sqlx::query_scalar("SELECT file_name FROM attachments ORDER BY id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(names, vec!["a.png", "b.png"]);
}
