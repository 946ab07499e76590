use crate::helpers::*;
use service_hall::catalog::store::{NewService, insert_service};

/// Names of the services listed on a 服务中心 page, in order.
fn names(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(".service-item h2 a").unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>())
        .collect()
}

fn total(html: &str) -> i64 {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(".count b").unwrap();
    doc.select(&sel)
        .next()
        .unwrap()
        .text()
        .collect::<String>()
        .parse()
        .unwrap()
}

async fn service_id(app: &TestApp, code: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM services WHERE code = $1")
        .bind(code)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql_where: &str) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM services s WHERE s.status = 'published' AND {sql_where}"
    ))
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn page(app: &TestApp, path: &str) -> String {
    let r = app.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn search_by_chinese_full_pinyin_and_initials() {
    let app = spawn_app().await;
    for q in [
        "工作周报",
        "gongzuozhoubao",
        "gong%20zuo%20zhou%20bao",
        "gong%20zuo",
        "GZZB",
        "gzzb",
        "GongZuo",
    ] {
        let html = page(&app, &format!("/services?q={q}")).await;
        let found = names(&html);
        assert_eq!(
            found.first().map(String::as_str),
            Some("工作周报"),
            "q={q}: {found:?}"
        );
    }
    // Department names and summaries match too.
    let html = page(
        &app,
        "/services?q=%E5%85%9A%E6%94%BF%E5%8A%9E%E5%85%AC%E5%AE%A4",
    )
    .await; // 党政办公室
    assert!(names(&html).contains(&"工作周报".to_owned()));
    assert_eq!(
        total(&html),
        count(&app, "s.search_doc LIKE '%党政办公室%'").await
    );
}

#[tokio::test]
async fn ranking_is_name_then_tags_then_summary() {
    let app = spawn_app().await;
    let (dept, cat): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT id FROM departments WHERE code = 'NIC'), (SELECT id FROM service_categories WHERE code = 'IT')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let mut conn = app.db.acquire().await.unwrap();
    for (code, name, tags, summary) in [
        ("ZZC", "摘要类服务", vec![], "这里提到蓝鲸"),
        ("ZZB", "标签里有的服务", vec!["蓝鲸".to_owned()], ""),
        ("ZZA", "蓝鲸服务申请", vec![], ""),
    ] {
        let s = NewService {
            code: code.into(),
            name: name.into(),
            department_id: dept,
            category_id: cat,
            tags,
            summary: summary.into(),
            kind: "guide".into(),
            status: "published".into(),
            ..Default::default()
        };
        insert_service(&mut conn, &s, chrono::Utc::now())
            .await
            .unwrap();
    }
    let html = page(&app, "/services?q=%E8%93%9D%E9%B2%B8").await; // 蓝鲸
    let found = names(&html);
    assert_eq!(found, vec!["蓝鲸服务申请", "标签里有的服务", "摘要类服务"]);
}

#[tokio::test]
async fn every_filter_and_combinations_match_the_database() {
    let app = spawn_app().await;
    let (cat, dept): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT id FROM service_categories WHERE code = 'ADMIN'), (SELECT id FROM departments WHERE code = 'NIC')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let cases = [
        ("/services".to_owned(), "true".to_owned()),
        (
            "/services?aud=visitor".into(),
            "'visitor' = ANY(s.audiences)".into(),
        ),
        (
            "/services?aud=alumni".into(),
            "'alumni' = ANY(s.audiences)".into(),
        ),
        (
            format!("/services?cat={cat}"),
            format!("s.category_id = {cat}"),
        ),
        (
            format!("/services?dept={dept}"),
            format!("s.department_id IN (SELECT dept_subtree({dept}))"),
        ),
        ("/services?letter=X".into(), "s.initial = 'X'".into()),
        (
            format!("/services?aud=staff&cat={cat}"),
            format!("'staff' = ANY(s.audiences) AND s.category_id = {cat}"),
        ),
        (
            format!("/services?aud=student&dept={dept}&letter=W"),
            format!(
                "'student' = ANY(s.audiences) AND s.department_id IN (SELECT dept_subtree({dept})) AND s.initial = 'W'"
            ),
        ),
        (
            "/services?q=shenqing&aud=student".into(),
            "s.search_doc LIKE '%shenqing%' AND 'student' = ANY(s.audiences)".into(),
        ),
        ("/services?aud=martian&cat=&dept=abc".into(), "true".into()),
    ];
    for (path, sql) in cases {
        let html = page(&app, &path).await;
        let expected = count(&app, &sql).await;
        assert_eq!(total(&html), expected, "{path}");
        assert_eq!(names(&html).len() as i64, expected.min(20), "{path}");
    }
    // The A–Z bar: every letter's count adds up to all services (plus '#').
    let mut sum = 0;
    for l in 'A'..='Z' {
        sum += total(&page(&app, &format!("/services?letter={l}")).await);
    }
    assert_eq!(
        sum + count(&app, "s.initial = '#'").await,
        count(&app, "true").await
    );
    // Links keep the other filters.
    let html = page(&app, &format!("/services?aud=staff&cat={cat}"))
        .await
        .replace("&#38;", "&amp;");
    assert!(html.contains(&format!(
        "href=\"/services?aud=staff&amp;cat={cat}&amp;letter=G\""
    )));
}

#[tokio::test]
async fn pagination_covers_every_service_once() {
    let app = spawn_app().await;
    let all = count(&app, "true").await;
    assert!(all >= 40, "demo data has at least 40 services");
    let mut seen = Vec::new();
    let pages = (all + 19) / 20;
    for p in 1..=pages {
        let html = page(&app, &format!("/services?sort=name&page={p}")).await;
        assert_eq!(total(&html), all);
        seen.extend(names(&html));
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len() as i64, all);
    assert_eq!(unique.len(), seen.len(), "no service on two pages");
    let html = page(&app, "/services?page=99").await;
    assert!(names(&html).is_empty());
    assert_eq!(total(&html), all);
}

#[tokio::test]
async fn sorting_by_name_and_by_update() {
    let app = spawn_app().await;
    sqlx::query("UPDATE services SET updated_at = now() + interval '1 hour' WHERE code = 'YXSQ'")
        .execute(&app.db)
        .await
        .unwrap();
    let html = page(&app, "/services?sort=updated").await;
    assert_eq!(names(&html)[0], "邮箱申请");
    let html = page(&app, "/services?sort=name&letter=A").await;
    let expected: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM services WHERE status = 'published' AND initial = 'A' ORDER BY pinyin_full, id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(names(&html), expected);
}

#[tokio::test]
async fn an_empty_result_says_so_and_offers_to_clear() {
    let app = spawn_app().await;
    let html = page(&app, "/services?q=zzzzqqqq").await;
    assert_eq!(total(&html), 0);
    assert!(html.contains("没有找到符合条件的服务"));
    assert!(html.contains("清除全部筛选条件"));
}

async fn login_new(app: &TestApp, account: &str) -> reqwest::Client {
    let c = new_client();
    assert_eq!(
        app.login_with(&c, account, DEMO_PASSWORD).await.status(),
        303,
        "{account}"
    );
    c
}

/// A student of 机械工程学院, to test department-restricted services.
async fn add_student(app: &TestApp, account: &str, dept: &str) {
    let hash = service_hall::identity::password::hash_blocking(DEMO_PASSWORD).unwrap();
    sqlx::query(
        "INSERT INTO users (account, name, user_type, department_id, status, password_hash, phone)
         VALUES ($1, '钱七', 'student', (SELECT id FROM departments WHERE code = $2), 'active', $3,
                 '169' || lpad((abs(hashtext($1)) % 100000000)::text, 8, '0'))",
    )
    .bind(account)
    .bind(dept)
    .bind(hash)
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_start_permission_matrix() {
    let app = spawn_app().await;
    add_student(&app, "S2024999", "ME").await;
    let gzzb = service_id(&app, "GZZB").await; // 教职工 only
    let sjkf = service_id(&app, "SJKF").await; // students of 计算机学院
    let wjcf = service_id(&app, "WJCF").await; // 辅导员 only
    let xsqj = service_id(&app, "XSQJ").await; // students
    let student = login_new(&app, "S2024001").await;
    let other_student = login_new(&app, "S2024999").await;
    let teacher = login_new(&app, "T2002").await;
    let allowed = [(&student, sjkf), (&student, xsqj), (&teacher, gzzb)];
    for (client, id) in allowed {
        let guide = app
            .get_with(client, &format!("/services/{id}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            guide.contains(&format!("href=\"/services/{id}/apply\"")),
            "{id} startable"
        );
        // The form (a service with one) or back to the guide (not designed yet); never refused.
        let r = app.get_with(client, &format!("/services/{id}/apply")).await;
        assert!(matches!(r.status().as_u16(), 200 | 303), "{id}");
        assert!(!r.text().await.unwrap().contains("您没有权限发起该流程"));
    }
    let refused = [
        (&student, gzzb, "该服务仅限教职工发起。"),
        (&teacher, xsqj, "该服务仅限学生发起。"),
        (&teacher, sjkf, "该服务仅限学生发起。"),
        (&other_student, sjkf, "该服务仅限计算机学院人员发起。"),
        (&teacher, wjcf, "该服务仅限辅导员发起。"),
    ];
    for (client, id, reason) in refused {
        let guide = app
            .get_with(client, &format!("/services/{id}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(guide.contains("disabled"), "{id}: button disabled");
        assert!(
            guide.contains(reason),
            "{id}: reason shown before pressing: {reason}"
        );
        let r = app.get_with(client, &format!("/services/{id}/apply")).await;
        assert_eq!(r.status(), 403, "{id}");
        let html = r.text().await.unwrap();
        assert!(html.contains("您没有权限发起该流程"));
        assert!(html.contains(reason));
        assert!(html.contains("可发起人员"));
    }
    // Granting the role opens the service.
    sqlx::query(
        "INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r
         WHERE u.account = 'T2002' AND r.code = 'counselor'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let r = app
        .get_with(&teacher, &format!("/services/{wjcf}/apply"))
        .await;
    assert!(matches!(r.status().as_u16(), 200 | 303));
}

#[tokio::test]
async fn a_visitor_pressing_start_signs_in_and_comes_back() {
    let app = spawn_app().await;
    let id = service_id(&app, "XSQJ").await;
    let guide = page(&app, &format!("/services/{id}")).await;
    assert!(
        guide.contains("立即办理"),
        "visitors see the guide and the button"
    );
    let r = app.get(&format!("/services/{id}/apply")).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert_eq!(to, format!("/login?next=%2Fservices%2F{id}"));
    let html = app.get(&to).await.text().await.unwrap();
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("account", "S2024001"),
            ("password", DEMO_PASSWORD),
            ("next", &format!("/services/{id}")),
            ("_csrf", &csrf_from(&html)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), format!("/services/{id}"));
}

#[tokio::test]
async fn unpublished_services_are_not_found() {
    let app = spawn_app().await;
    let id = service_id(&app, "GZZB").await;
    sqlx::query("UPDATE services SET status = 'offline' WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.get(&format!("/services/{id}")).await.status(), 404);
    // 立即办理 of a service taken offline says so (a bookmark, 我的收藏).
    let r = app.get(&format!("/services/{id}/apply")).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("该服务已下线"));
    assert!(!names(&page(&app, "/services?q=gzzb").await).contains(&"工作周报".to_owned()));
    // A draft is not there at all.
    sqlx::query("UPDATE services SET status = 'draft' WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.get(&format!("/services/{id}")).await.status(), 404);
    assert_eq!(
        app.get(&format!("/services/{id}/apply")).await.status(),
        404
    );
    assert_eq!(app.get("/services/999999").await.status(), 404);
}

#[tokio::test]
async fn favorites_toggle_with_and_without_javascript() {
    let app = spawn_app().await;
    let id = service_id(&app, "XSQJ").await;
    let guide = format!("/services/{id}");
    let r = app
        .submit(
            &app.client,
            "/login",
            "/favorites",
            &[
                ("kind", "service"),
                ("id", &id.to_string()),
                ("back", &guide),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "visitors are sent to sign in");
    assert!(location(&r).starts_with("/login"));

    let student = login_new(&app, "S2024001").await;
    let r = app
        .submit(
            &student,
            &guide,
            "/favorites",
            &[
                ("kind", "service"),
                ("id", &id.to_string()),
                ("back", &guide),
            ],
        )
        .await;
    assert_eq!(location(&r), guide);
    let html = app
        .get_with(&student, "/favorites")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("学生请假"));
    let home = app.get_with(&student, "/").await.text().await.unwrap();
    assert!(home.contains("我的收藏") && home.contains(&format!("href=\"/services/{id}\"")));
    let guide_html = app.get_with(&student, &guide).await.text().await.unwrap();
    assert!(guide_html.contains("已收藏"));

    // The script's request: JSON in, JSON out.
    let token = csrf_from(&guide_html);
    let r = student
        .post(app.url("/favorites"))
        .header("Accept", "application/json")
        .form(&[
            ("kind", "service"),
            ("id", &id.to_string()),
            ("_csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({ "favorited": false })
    );
    let html = app
        .get_with(&student, "/favorites")
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("学生请假"));

    // Systems too; someone else's favorites are not shown to others.
    let sys: i64 = sqlx::query_scalar("SELECT id FROM campus_systems ORDER BY id LIMIT 1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let r = app
        .submit(
            &student,
            "/",
            "/favorites",
            &[("kind", "system"), ("id", &sys.to_string()), ("back", "/")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM favorites")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let teacher = login_new(&app, "T2002").await;
    let html = app
        .get_with(&teacher, "/favorites")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("还没有收藏的系统"));
    // Unknown targets.
    let r = app
        .submit(
            &student,
            "/",
            "/favorites",
            &[("kind", "service"), ("id", "999999"), ("back", "/")],
        )
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn html_in_names_tags_and_announcements_is_escaped_or_sanitised() {
    let app = spawn_app().await;
    let (dept, cat): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT id FROM departments WHERE code = 'NIC'), (SELECT id FROM service_categories WHERE code = 'IT')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let mut conn = app.db.acquire().await.unwrap();
    let s = NewService {
        code: "XSS".into(),
        name: "<script>alert(1)</script>测试".into(),
        department_id: dept,
        category_id: cat,
        tags: vec!["<img src=x onerror=alert(2)>".into()],
        summary: "<b>bold</b>".into(),
        kind: "guide".into(),
        status: "published".into(),
        ..Default::default()
    };
    let id = insert_service(&mut conn, &s, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    for path in ["/services?q=alert".to_owned(), format!("/services/{id}")] {
        let html = page(&app, &path).await;
        assert!(!html.contains("<script>alert(1)"), "{path}");
        assert!(!html.contains("<img src=x"), "{path}");
        assert!(!html.contains("<b>bold</b>"), "{path}");
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{path}"
        );
    }
    let nid: i64 = sqlx::query_scalar(
        "INSERT INTO announcements (title, body_markdown, published_at) VALUES
         ('<i>标题</i>', '正文 **加粗** <script>alert(3)</script> [链接](javascript:alert(4)) <a href=\"https://ok.example/\" onclick=\"x()\">ok</a>', now() - interval '1 minute')
         RETURNING id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let html = page(&app, &format!("/notices/{nid}")).await;
    assert!(html.contains("<strong>加粗</strong>"));
    assert!(!html.contains("<script>alert(3)"));
    assert!(!html.contains("javascript:alert"));
    assert!(!html.contains("onclick"));
    assert!(!html.contains("<i>标题</i>"));
    let list = page(&app, "/notices").await;
    assert!(!list.contains("<i>标题</i>"));
}

#[tokio::test]
async fn home_modules_follow_the_viewer() {
    let app = spawn_app().await;
    let html = page(&app, "/").await;
    for label in [
        "推荐服务",
        "服务分类",
        "直通部门",
        "推荐系统",
        "便民服务",
        "通知公告",
    ] {
        assert!(html.contains(label), "{label}");
    }
    assert!(
        !html.contains("我的收藏"),
        "visitors have no favorites module"
    );
    let visitor_recs: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM services WHERE 'visitor' = ANY(recommend_for) AND status = 'published' ORDER BY recommend_order, id LIMIT 8",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(!visitor_recs.is_empty());
    for n in &visitor_recs {
        assert!(html.contains(n.as_str()), "visitor recommendation {n}");
    }
    let staff_only_system: String = sqlx::query_scalar(
        "SELECT name FROM campus_systems WHERE audiences = ARRAY['staff'] ORDER BY id LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(
        !html.contains(&staff_only_system),
        "visitors do not see staff systems"
    );
    let student = login_new(&app, "S2024001").await;
    let html = app.get_with(&student, "/").await.text().await.unwrap();
    assert!(html.contains("学生请假") && html.contains("我的收藏"));
    assert!(!html.contains(&staff_only_system));
    let teacher = login_new(&app, "T2002").await;
    let html = app.get_with(&teacher, "/").await.text().await.unwrap();
    assert!(html.contains(&staff_only_system));
    assert!(html.contains("工作周报"));
    // Category counts match the database.
    let (cat, n): (i64, i64) = sqlx::query_as(
        "SELECT category_id, count(*) FROM services WHERE status = 'published' GROUP BY category_id ORDER BY category_id LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let html = page(&app, "/").await;
    assert!(html.contains(&format!("href=\"/services?cat={cat}\"")));
    let services = page(&app, &format!("/services?cat={cat}")).await;
    assert_eq!(total(&services), n);
}

#[tokio::test]
async fn notices_list_pinned_first_and_detail() {
    let app = spawn_app().await;
    let html = page(&app, "/notices").await;
    let first_pinned: String = sqlx::query_scalar(
        "SELECT title FROM announcements ORDER BY pinned DESC, published_at DESC, id DESC LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse(".notice-list li a").unwrap();
    let first = doc.select(&sel).next().unwrap().text().collect::<String>();
    assert!(first.ends_with(&first_pinned), "{first}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM announcements")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(count >= 6);
    assert_eq!(doc.select(&sel).count() as i64, count);
    let id: i64 = sqlx::query_scalar("SELECT id FROM announcements ORDER BY id LIMIT 1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let detail = page(&app, &format!("/notices/{id}")).await;
    assert!(detail.contains("notice-body"));
    assert_eq!(app.get("/notices/999999").await.status(), 404);
}
