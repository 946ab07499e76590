//! 首页内容 in 管理后台: 通知公告 (publish window, audience, sanitised Markdown), 推荐系统,
//! 便民服务, 服务分类 and 推荐服务 — each through the pages, checked on the home page and
//! `/notices`, across two instances, and who may.

use std::time::Duration;

use reqwest::{Client, StatusCode};

use crate::helpers::*;

async fn token(app: &TestApp, c: &Client, page: &str) -> String {
    csrf_from(&app.get_with(c, page).await.text().await.unwrap())
}

async fn post(
    app: &TestApp,
    c: &Client,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let t = token(app, c, "/admin/content/notices").await;
    let mut form = fields.to_vec();
    form.push(("_csrf", &t));
    c.post(app.url(action)).form(&form).send().await.unwrap()
}

async fn body(app: &TestApp, c: &Client, path: &str) -> String {
    let r = app.get_with(c, path).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.unwrap()
}

/// The text of the first element of class `cls` whose text contains `needle`.
fn field_error_near(html: &str, id: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("#{id}")).unwrap();
    doc.select(&sel).next().map(|e| e.text().collect())
}

fn local(app: &TestApp, hours: i64) -> String {
    use service_hall::clock::Clock;
    let tz: chrono_tz::Tz = test_settings().time_zone;
    (app.clock.now() + chrono::Duration::hours(hours))
        .with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

async fn notice_id(app: &TestApp, title: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM announcements WHERE title = $1")
        .bind(title)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn notices_are_edited_and_shown_only_in_their_window_to_their_audience() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let student = signed_in(&app, "S2024001").await;
    let teacher = signed_in(&app, "T2002").await;
    let visitor = new_client();

    // Wrong input: messages next to the fields, everything typed kept, nothing saved.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM announcements")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let from = local(&app, -1);
    let r = post(
        &app,
        &admin,
        "/admin/content/notices",
        &[
            ("title", ""),
            ("body", "正文保留 **原样**"),
            ("from", &from),
            ("until", &local(&app, -2)),
            ("audiences", "robots"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert_eq!(field_error_near(&html, "e-title").unwrap(), "请填写标题");
    assert_eq!(
        field_error_near(&html, "e-until").unwrap(),
        "结束时间须晚于开始时间"
    );
    assert!(html.contains("请从列出的对象中选择"));
    assert!(html.contains("正文保留 **原样**"), "body kept");
    assert!(html.contains(&format!("value=\"{from}\"")), "time kept");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM announcements")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(before, after);

    // For students, for the next two hours, with hostile Markdown.
    let md = "**考试安排**\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[点我](javascript:alert(3)) [教务处](https://jwc.example.edu.cn)";
    // 预览 without script: the page again, with the sanitised preview, nothing saved.
    let r = post(
        &app,
        &admin,
        "/admin/content/notices",
        &[
            ("title", "二〇二六春季期末安排"),
            ("body", md),
            ("intent", "preview"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let preview = {
        let doc = scraper::Html::parse_document(&html);
        let sel = scraper::Selector::parse("#pv-body").unwrap();
        doc.select(&sel).next().unwrap().inner_html()
    };
    assert!(preview.contains("<strong>考试安排</strong>"), "{preview}");
    assert!(
        !preview.contains("<script")
            && !preview.contains("onerror")
            && !preview.contains("javascript:"),
        "{preview}"
    );
    // The text as typed stays in the box (escaped).
    let typed: String = {
        let doc = scraper::Html::parse_document(&html);
        let sel = scraper::Selector::parse("textarea[name=body]").unwrap();
        doc.select(&sel).next().unwrap().text().collect()
    };
    assert_eq!(typed.trim_start_matches('\n'), md);
    assert_eq!(
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM announcements WHERE title = '二〇二六春季期末安排'"
        )
        .fetch_one(&app.db)
        .await
        .unwrap(),
        0
    );
    // The live preview's answer is sanitised the same way.
    let t = token(&app, &admin, "/admin/content/notices/new").await;
    let pv = admin
        .post(app.url("/admin/content/notices/preview"))
        .form(&[("_csrf", t.as_str()), ("text", md)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pv.contains("<strong>考试安排</strong>") && pv.contains("https://jwc.example.edu.cn"));
    assert!(
        !pv.contains("<script") && !pv.contains("onerror") && !pv.contains("javascript:"),
        "{pv}"
    );

    let r = post(
        &app,
        &admin,
        "/admin/content/notices",
        &[
            ("title", "二〇二六春季期末安排"),
            ("body", md),
            ("from", &local(&app, -1)),
            ("until", &local(&app, 2)),
            ("audiences", "student"),
            ("pinned", "1"),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let id = notice_id(&app, "二〇二六春季期末安排").await;
    let detail = format!("/notices/{id}");
    // The student sees it, pinned first, on 首页 and 通知公告, and reads it sanitised.
    let home = body(&app, &student, "/").await;
    assert!(home.contains("二〇二六春季期末安排"));
    assert!(
        body(&app, &student, "/notices")
            .await
            .contains("二〇二六春季期末安排")
    );
    let page = body(&app, &student, &detail).await;
    assert!(page.contains("<strong>考试安排</strong>"));
    assert!(
        !page.contains("<script>alert")
            && !page.contains("onerror")
            && !page.contains("javascript:")
    );
    // Others do not.
    for c in [&teacher, &visitor] {
        assert!(!body(&app, c, "/").await.contains("二〇二六春季期末安排"));
        assert!(
            !body(&app, c, "/notices")
                .await
                .contains("二〇二六春季期末安排")
        );
        assert_eq!(
            app.get_with(c, &detail).await.status(),
            StatusCode::NOT_FOUND
        );
    }

    // Edited: the home page shows the new title at once.
    let edit = body(&app, &admin, &format!("/admin/content/notices/{id}")).await;
    let stamp = {
        let doc = scraper::Html::parse_document(&edit);
        let sel = scraper::Selector::parse("input[name=stamp]").unwrap();
        doc.select(&sel)
            .next()
            .unwrap()
            .value()
            .attr("value")
            .unwrap()
            .to_string()
    };
    let fields = |title: &'static str, stamp: String| {
        vec![
            ("title", title.to_string()),
            ("body", "改期通知".to_string()),
            ("from", local(&app, -1)),
            ("until", local(&app, 2)),
            ("audiences", "student".to_string()),
            ("audiences", "staff".to_string()),
            ("stamp", stamp),
        ]
    };
    let t = csrf_from(&edit);
    let mut f = fields("二〇二六春季改期", stamp.clone());
    f.push(("_csrf", t.clone()));
    let r = admin
        .post(app.url(&format!("/admin/content/notices/{id}")))
        .form(&f)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(body(&app, &student, "/").await.contains("二〇二六春季改期"));
    // Now for staff too.
    assert!(body(&app, &teacher, "/").await.contains("二〇二六春季改期"));
    assert!(!body(&app, &visitor, "/").await.contains("二〇二六春季改期"));
    // A second save from the old page: 409, what was typed kept, nothing written.
    let mut f = fields("另一个标题", stamp);
    f.push(("_csrf", t));
    let r = admin
        .post(app.url(&format!("/admin/content/notices/{id}")))
        .form(&f)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("已被他人修改") && html.contains("另一个标题"));
    assert!(!body(&app, &student, "/").await.contains("另一个标题"));

    // A notice not started yet is not shown; neither is one past its end.
    let r = post(
        &app,
        &admin,
        "/admin/content/notices",
        &[
            ("title", "下周停电通知"),
            ("body", "停电"),
            ("from", &local(&app, 3)),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!body(&app, &visitor, "/").await.contains("下周停电通知"));
    app.clock.advance(Duration::from_secs(4 * 3600));
    // Sessions idle that long have ended: sign in again.
    let admin = signed_in(&app, "admin").await;
    let student = signed_in(&app, "S2024001").await;
    let teacher = signed_in(&app, "T2002").await;
    // Now: the first one has ended, the second one started (for everyone).
    assert!(!body(&app, &student, "/").await.contains("二〇二六春季改期"));
    assert_eq!(
        app.get_with(&student, &detail).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(body(&app, &visitor, "/").await.contains("下周停电通知"));
    assert!(
        body(&app, &teacher, "/notices")
            .await
            .contains("下周停电通知")
    );
    // The admin list still has both, with their states.
    let list = body(&app, &admin, "/admin/content/notices").await;
    assert!(
        list.contains("二〇二六春季改期") && list.contains("已结束") && list.contains("展示中")
    );

    // Deleted.
    let r = post(
        &app,
        &admin,
        &format!("/admin/content/notices/{id}/delete"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let list = body(&app, &admin, "/admin/content/notices").await;
    assert!(list.contains("已删除公告“二〇二六春季改期”"), "told");
    assert!(
        !body(&app, &admin, "/admin/content/notices")
            .await
            .contains("二〇二六春季改期")
    );
    for action in ["notice.create", "notice.update", "notice.delete"] {
        assert!(app.audit_count(action, "success").await >= 1, "{action}");
    }
}

#[tokio::test]
async fn systems_links_and_categories_are_kept_in_order_and_checked() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let student = signed_in(&app, "S2024001").await;
    let visitor = new_client();

    // 推荐系统: a script address is refused next to the field, the input kept.
    let r = post(
        &app,
        &admin,
        "/admin/content/systems",
        &[
            ("name", "图书馆座位预约"),
            ("url", "javascript:alert(1)"),
            ("icon", "library"),
            ("description", "预约自习座位"),
            ("audiences", "student"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        field_error_near(&html, "e-url")
            .unwrap()
            .contains("http://")
    );
    assert!(html.contains("value=\"图书馆座位预约\"") && html.contains("预约自习座位"));
    let r = post(
        &app,
        &admin,
        "/admin/content/systems",
        &[
            ("name", ""),
            ("url", "https://seat.example.edu.cn"),
            ("icon", "../x"),
        ],
    )
    .await;
    let html = r.text().await.unwrap();
    assert_eq!(field_error_near(&html, "e-name").unwrap(), "请填写名称");
    assert!(html.contains("请从列出的图标中选择"));
    let r = post(
        &app,
        &admin,
        "/admin/content/systems",
        &[
            ("name", "图书馆座位预约"),
            ("url", "https://seat.example.edu.cn/"),
            ("icon", "library"),
            ("audiences", "student"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        body(&app, &student, "/")
            .await
            .contains("https://seat.example.edu.cn/")
    );
    assert!(
        !body(&app, &visitor, "/")
            .await
            .contains("https://seat.example.edu.cn/")
    );
    // Last; 上移 twice puts it before the two systems it followed.
    let order = || async {
        sqlx::query_scalar::<_, String>("SELECT name FROM campus_systems ORDER BY sort_order, id")
            .fetch_all(&app.db)
            .await
            .unwrap()
    };
    let names = order().await;
    assert_eq!(names.last().unwrap(), "图书馆座位预约");
    let sys: i64 =
        sqlx::query_scalar("SELECT id FROM campus_systems WHERE name = '图书馆座位预约'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    for _ in 0..2 {
        let r = post(
            &app,
            &admin,
            &format!("/admin/content/systems/{sys}/move"),
            &[("dir", "up")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let moved = order().await;
    let n = names.len();
    assert_eq!(moved[n - 3], "图书馆座位预约");
    assert_eq!(moved[n - 2..], names[n - 3..n - 1]);
    // The home page shows them in that order.
    let home = body(&app, &student, "/").await;
    let at = |s: &str| home.find(s).unwrap_or_else(|| panic!("{s} on home"));
    assert!(at("图书馆座位预约") < at(&names[n - 2]));
    // Edited, then deleted (with the 收藏 pointing at it).
    let r = post(
        &app,
        &admin,
        &format!("/admin/content/systems/{sys}"),
        &[
            ("name", "座位预约系统"),
            ("url", "https://seat2.example.edu.cn/"),
            ("icon", "library"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        body(&app, &visitor, "/").await.contains("座位预约系统"),
        "now for everyone"
    );
    let r = post(
        &app,
        &admin,
        &format!("/admin/content/systems/{sys}/delete"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!body(&app, &visitor, "/").await.contains("座位预约系统"));

    // 便民服务.
    let r = post(
        &app,
        &admin,
        "/admin/content/links",
        &[("name", "校历"), ("url", "ftp://x.cn")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("value=\"ftp://x.cn\""));
    let r = post(
        &app,
        &admin,
        "/admin/content/links",
        &[("name", "校历"), ("url", "https://cal.example.edu.cn")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        body(&app, &visitor, "/")
            .await
            .contains("https://cal.example.edu.cn")
    );

    // 服务分类: code checked and unique; one in use cannot be deleted.
    let r = post(
        &app,
        &admin,
        "/admin/content/categories",
        &[("name", "科研服务"), ("code", "stu"), ("icon", "academic")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert_eq!(
        field_error_near(&html, "e-code").unwrap(),
        "该编码已被其他分类使用，请换一个"
    );
    assert!(html.contains("value=\"科研服务\""));
    let r = post(
        &app,
        &admin,
        "/admin/content/categories",
        &[("name", "科研服务"), ("code", "1x"), ("icon", "academic")],
    )
    .await;
    assert!(
        field_error_near(&r.text().await.unwrap(), "e-code")
            .unwrap()
            .contains("大写英文字母开头")
    );
    let r = post(
        &app,
        &admin,
        "/admin/content/categories",
        &[("name", "科研服务"), ("code", "rsch"), ("icon", "academic")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (new_cat, code): (i64, String) =
        sqlx::query_as("SELECT id, code FROM service_categories WHERE name = '科研服务'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(code, "RSCH");
    // With no published service it is not on 首页 (as before); in the list it is.
    assert!(
        body(&app, &admin, "/admin/content/categories")
            .await
            .contains("科研服务")
    );
    let used: i64 = sqlx::query_scalar("SELECT id FROM service_categories WHERE code = 'STU'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let r = post(
        &app,
        &admin,
        &format!("/admin/content/categories/{used}/delete"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = body(&app, &admin, "/admin/content/categories").await;
    assert!(page.contains("无法删除：还有"), "the refusal is told");
    let still: i64 = sqlx::query_scalar("SELECT count(*) FROM service_categories WHERE id = $1")
        .bind(used)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(still, 1);
    let r = post(
        &app,
        &admin,
        &format!("/admin/content/categories/{new_cat}/delete"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let gone: i64 = sqlx::query_scalar("SELECT count(*) FROM service_categories WHERE id = $1")
        .bind(new_cat)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(gone, 0);
    for action in [
        "system.create",
        "system.move",
        "system.update",
        "system.delete",
        "link.create",
        "category.create",
        "category.delete",
    ] {
        assert!(app.audit_count(action, "success").await >= 1, "{action}");
    }
}

/// The names of the home page's 推荐服务, in order.
fn recommended(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sec = scraper::Selector::parse("section").unwrap();
    let h2 = scraper::Selector::parse("h2").unwrap();
    let a = scraper::Selector::parse("a.tile").unwrap();
    doc.select(&sec)
        .find(|s| {
            s.select(&h2)
                .next()
                .is_some_and(|h| h.text().collect::<String>() == "推荐服务")
        })
        .map(|s| {
            s.select(&a)
                .map(|e| e.text().next().unwrap_or("").trim().to_string())
                .collect()
        })
        .expect("推荐服务 on the home page")
}

#[tokio::test]
async fn recommended_services_per_kind_of_viewer() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let student = signed_in(&app, "S2024001").await;
    let list = || async {
        sqlx::query_as::<_, (i64, String)>(
            "SELECT id, name FROM services WHERE 'student' = ANY(recommend_for) AND status = 'published'
             ORDER BY COALESCE((recommend_positions ->> 'student')::int, recommend_order), id",
        )
        .fetch_all(&app.db)
        .await
        .unwrap()
    };
    let before = list().await;
    assert!(
        before.len() >= 2,
        "demo data recommends services to students"
    );
    let shown = recommended(&body(&app, &student, "/").await);
    assert_eq!(shown.first(), Some(&before[0].1), "{shown:?}");
    // 下移 the first: the second is first now, on the home page too.
    let r = post(
        &app,
        &admin,
        "/admin/content/recommend",
        &[
            ("aud", "student"),
            ("service", &before[0].0.to_string()),
            ("op", "down"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let after = list().await;
    assert_eq!(after[0], before[1]);
    assert_eq!(after[1], before[0]);
    assert_eq!(
        recommended(&body(&app, &student, "/").await).first(),
        Some(&before[1].1)
    );
    // Removed for students: gone from their list, not from staff's if it was there.
    let staff_before: bool =
        sqlx::query_scalar("SELECT 'staff' = ANY(recommend_for) FROM services WHERE id = $1")
            .bind(before[1].0)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let r = post(
        &app,
        &admin,
        "/admin/content/recommend",
        &[
            ("aud", "student"),
            ("service", &before[1].0.to_string()),
            ("op", "remove"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!list().await.iter().any(|(id, _)| *id == before[1].0));
    assert!(!recommended(&body(&app, &student, "/").await).contains(&before[1].1));
    let staff_after: bool =
        sqlx::query_scalar("SELECT 'staff' = ANY(recommend_for) FROM services WHERE id = $1")
            .bind(before[1].0)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(staff_before, staff_after);
    // Added for staff: a published service not yet there goes last.
    let (cand, cand_name): (i64, String) = sqlx::query_as(
        "SELECT id, name FROM services WHERE status = 'published' AND NOT ('staff' = ANY(recommend_for)) ORDER BY id LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let r = post(
        &app,
        &admin,
        "/admin/content/recommend",
        &[
            ("aud", "staff"),
            ("service", &cand.to_string()),
            ("op", "add"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = body(&app, &admin, "/admin/content/recommend").await;
    assert!(page.contains(&cand_name));
    let last: i64 = sqlx::query_scalar(
        "SELECT id FROM services WHERE 'staff' = ANY(recommend_for)
         ORDER BY COALESCE((recommend_positions ->> 'staff')::int, recommend_order) DESC, id DESC
         LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(last, cand);
    for action in ["recommend.move", "recommend.remove", "recommend.add"] {
        assert_eq!(app.audit_count(action, "success").await, 1, "{action}");
    }
}

fn category_names(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("a.tile.cat span").unwrap();
    doc.select(&sel)
        .map(|e| e.text().next().unwrap_or("").to_string())
        .collect()
}

/// A category renamed and moved on one instance shows on the other's home page (which
/// caches categories with their counts) within a second; a notice at once.
#[tokio::test]
async fn a_content_change_on_one_instance_reaches_the_other_within_a_second() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let visitor = new_client();
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let home = || async {
        visitor
            .get(format!("{other}/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let names = category_names(&home().await);
    assert!(names.len() >= 2);
    let (id, code, icon): (i64, String, String) =
        sqlx::query_as("SELECT id, code, icon FROM service_categories WHERE name = $1")
            .bind(&names[1])
            .fetch_one(&app.db)
            .await
            .unwrap();
    // The other instance caches (an unannounced rename is not seen there).
    sqlx::query("UPDATE service_categories SET name = '暗改' WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    assert!(!category_names(&home().await).contains(&"暗改".to_string()));
    // Through the page on this instance: renamed, then 上移 to the first place.
    let admin = signed_in(&app, "admin").await;
    let r = post(
        &app,
        &admin,
        &format!("/admin/content/categories/{id}"),
        &[("name", "学生工作"), ("code", &code), ("icon", &icon)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = post(
        &app,
        &admin,
        &format!("/admin/content/categories/{id}/move"),
        &[("dir", "up")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let started = std::time::Instant::now();
    loop {
        let now = category_names(&home().await);
        if now.first().map(String::as_str) == Some("学生工作") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "still {now:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // A notice is read per request: seen on the other instance at once.
    let r = post(
        &app,
        &admin,
        "/admin/content/notices",
        &[
            ("title", "跨实例公告"),
            ("body", "x"),
            ("from", &local(&app, -1)),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(home().await.contains("跨实例公告"));
}

/// Method, path and the fields posted.
type Route = (&'static str, String, Vec<(&'static str, String)>);

/// Every route of 首页内容 for the 系统管理员 only: a 服务管理员, a teacher and a student
/// get 403, a visitor is sent to 登录 (or refused); none of their posts changes anything.
#[tokio::test]
async fn only_the_system_administrator_may_edit_home_page_content() {
    let app = spawn_app().await;
    let n: i64 = sqlx::query_scalar("SELECT min(id) FROM announcements")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let s: i64 = sqlx::query_scalar("SELECT min(id) FROM campus_systems")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let l: i64 = sqlx::query_scalar("SELECT min(id) FROM convenience_links")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let c: i64 = sqlx::query_scalar("SELECT max(id) FROM service_categories")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let svc: i64 = sqlx::query_scalar("SELECT min(id) FROM services WHERE status = 'published'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let routes: Vec<Route> = vec![
        ("GET", "/admin/content".into(), vec![]),
        ("GET", "/admin/content/notices".into(), vec![]),
        ("GET", "/admin/content/notices/new".into(), vec![]),
        (
            "POST",
            "/admin/content/notices".into(),
            vec![
                ("title", "越权公告".into()),
                ("body", "x".into()),
                ("from", local(&app, -1)),
            ],
        ),
        (
            "POST",
            "/admin/content/notices/preview".into(),
            vec![("text", "x".into())],
        ),
        ("GET", format!("/admin/content/notices/{n}"), vec![]),
        (
            "POST",
            format!("/admin/content/notices/{n}"),
            vec![
                ("title", "越权".into()),
                ("body", "x".into()),
                ("from", local(&app, -1)),
            ],
        ),
        ("POST", format!("/admin/content/notices/{n}/delete"), vec![]),
        ("GET", "/admin/content/recommend".into(), vec![]),
        (
            "POST",
            "/admin/content/recommend".into(),
            vec![
                ("aud", "student".into()),
                ("service", svc.to_string()),
                ("op", "remove".into()),
            ],
        ),
        ("GET", "/admin/content/systems".into(), vec![]),
        (
            "POST",
            "/admin/content/systems".into(),
            vec![
                ("name", "越权".into()),
                ("url", "https://x.cn".into()),
                ("icon", "default".into()),
            ],
        ),
        ("GET", format!("/admin/content/systems/{s}"), vec![]),
        (
            "POST",
            format!("/admin/content/systems/{s}"),
            vec![
                ("name", "越权".into()),
                ("url", "https://x.cn".into()),
                ("icon", "default".into()),
            ],
        ),
        (
            "POST",
            format!("/admin/content/systems/{s}/move"),
            vec![("dir", "down".into())],
        ),
        ("POST", format!("/admin/content/systems/{s}/delete"), vec![]),
        ("GET", "/admin/content/links".into(), vec![]),
        (
            "POST",
            "/admin/content/links".into(),
            vec![("name", "越权".into()), ("url", "https://x.cn".into())],
        ),
        ("GET", format!("/admin/content/links/{l}"), vec![]),
        (
            "POST",
            format!("/admin/content/links/{l}"),
            vec![("name", "越权".into()), ("url", "https://x.cn".into())],
        ),
        (
            "POST",
            format!("/admin/content/links/{l}/move"),
            vec![("dir", "down".into())],
        ),
        ("POST", format!("/admin/content/links/{l}/delete"), vec![]),
        ("GET", "/admin/content/categories".into(), vec![]),
        (
            "POST",
            "/admin/content/categories".into(),
            vec![
                ("name", "越权".into()),
                ("code", "YQ".into()),
                ("icon", "default".into()),
            ],
        ),
        ("GET", format!("/admin/content/categories/{c}"), vec![]),
        (
            "POST",
            format!("/admin/content/categories/{c}"),
            vec![
                ("name", "越权".into()),
                ("code", "YQ".into()),
                ("icon", "default".into()),
            ],
        ),
        (
            "POST",
            format!("/admin/content/categories/{c}/move"),
            vec![("dir", "up".into())],
        ),
        (
            "POST",
            format!("/admin/content/categories/{c}/delete"),
            vec![],
        ),
    ];
    let fingerprint = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT md5(concat_ws('|',
                (SELECT string_agg(to_jsonb(a)::text, ',' ORDER BY id) FROM announcements a),
                (SELECT string_agg(to_jsonb(s)::text, ',' ORDER BY id) FROM campus_systems s),
                (SELECT string_agg(to_jsonb(l)::text, ',' ORDER BY id) FROM convenience_links l),
                (SELECT string_agg(to_jsonb(c)::text, ',' ORDER BY id) FROM service_categories c),
                (SELECT string_agg(id || ':' || recommend_for::text || recommend_order, ',' ORDER BY id) FROM services),
                (SELECT count(*) FROM favorites)))",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    let before = fingerprint().await;
    for who in [Some("T4401"), Some("T2002"), Some("S2024001"), None] {
        let client = match who {
            Some(a) => signed_in(&app, a).await,
            None => new_client(),
        };
        let t = token(
            &app,
            &client,
            if who.is_some() { "/center" } else { "/login" },
        )
        .await;
        for (method, path, fields) in &routes {
            let r = if *method == "GET" {
                client.get(app.url(path)).send().await.unwrap()
            } else {
                let mut f: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                f.push(("_csrf", &t));
                client.post(app.url(path)).form(&f).send().await.unwrap()
            };
            let st = r.status();
            match who {
                Some(_) => assert_eq!(st, StatusCode::FORBIDDEN, "{who:?} {method} {path}"),
                None if *method == "GET" => {
                    assert_eq!(st, StatusCode::SEE_OTHER, "{method} {path}")
                }
                None => assert!(
                    st == StatusCode::FORBIDDEN || st == StatusCode::SEE_OTHER,
                    "{method} {path}: {st}"
                ),
            }
        }
    }
    assert_eq!(
        fingerprint().await,
        before,
        "refused requests changed nothing"
    );
    // The 系统管理员 gets every page.
    let admin = signed_in(&app, "admin").await;
    for (method, path, _) in &routes {
        if *method == "GET" {
            let st = app.get_with(&admin, path).await.status();
            assert!(
                st == StatusCode::OK || (path == "/admin/content" && st == StatusCode::SEE_OTHER),
                "{path}: {st}"
            );
        }
    }
    // The admin overview links here for the 系统管理员, not for a 服务管理员.
    assert!(
        body(&app, &admin, "/admin")
            .await
            .contains("/admin/content")
    );
    let scoped = signed_in(&app, "T4401").await;
    assert!(
        !body(&app, &scoped, "/admin")
            .await
            .contains("/admin/content")
    );
}

/// In Chromium: edit a notice (the preview follows the typing), see it on the home page;
/// screenshots of every 首页内容 page at 1280 and 390 px.
async fn edit_a_notice_in_the_browser(width: u32, height: u32) {
    use crate::browser::{Browser, click, fill, sign_in};
    use fantoccini::Locator;
    let app = spawn_app().await;
    let Some(b) = Browser::start(width, height).await else {
        return;
    };
    let c = &b.client;
    sign_in(&b, &app, "admin").await;
    c.goto(&app.url("/admin")).await.unwrap();
    click(c, "a.tile[href='/admin/content']").await;
    c.wait()
        .for_element(Locator::Css(".cms-table"))
        .await
        .unwrap();
    b.shot("content", &format!("notices-{width}")).await;
    // The first notice of the home page.
    let id: i64 = sqlx::query_scalar(
        "SELECT id FROM announcements ORDER BY pinned DESC, published_at DESC, id DESC LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    click(
        c,
        &format!("#row-{id} a[href='/admin/content/notices/{id}']"),
    )
    .await;
    c.wait()
        .for_element(Locator::Css("form.notice-form #f-title"))
        .await
        .unwrap();
    // With script the 预览 button gives way to the live preview.
    let hidden = c
        .execute("return document.querySelector('.js-hide').hidden;", vec![])
        .await
        .unwrap();
    assert_eq!(hidden, serde_json::json!(true));
    fill(c, "#f-title", &format!("浏览器里改过的公告{width}")).await;
    fill(c, "#f-body", "**已更新** <img src=x onerror=alert(1)>").await;
    let mut seen = String::new();
    for _ in 0..50 {
        seen = c
            .execute(
                "return document.getElementById('pv-body').innerHTML;",
                vec![],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap_or("")
            .to_string();
        if seen.contains("<strong>已更新</strong>") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen.contains("<strong>已更新</strong>") && !seen.contains("onerror"),
        "{seen}"
    );
    b.shot("content", &format!("notice-edit-{width}")).await;
    click(c, "form.notice-form .actions button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css(".cms-table"))
        .await
        .unwrap();
    c.goto(&app.url("/")).await.unwrap();
    let home = c.source().await.unwrap();
    assert!(home.contains(&format!("浏览器里改过的公告{width}")));
    for tab in ["systems", "links", "categories", "recommend"] {
        c.goto(&app.url(&format!("/admin/content/{tab}")))
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Css(".cms-tabs"))
            .await
            .unwrap();
        b.shot("content", &format!("{tab}-{width}")).await;
    }
    // A form with its messages.
    c.goto(&app.url("/admin/content/systems")).await.unwrap();
    fill(c, "#f-name", "图书馆").await;
    c.execute(
        "document.getElementById('f-url').type = 'text'; return null;",
        vec![],
    )
    .await
    .unwrap();
    fill(c, "#f-url", "javascript:alert(1)").await;
    click(c, "#edit form button[type=submit]").await;
    c.wait().for_element(Locator::Css("#e-url")).await.unwrap();
    center(c, "#edit").await;
    b.shot("content", &format!("systems-error-{width}")).await;
    b.close().await;
}

use crate::browser::center;

#[tokio::test]
async fn edit_a_notice_in_the_browser_desktop() {
    edit_a_notice_in_the_browser(1280, 1000).await;
}

#[tokio::test]
async fn edit_a_notice_in_the_browser_phone() {
    edit_a_notice_in_the_browser(390, 844).await;
}

/// Two admins giving two categories one code at the same moment: exactly one is saved,
/// the other is told the code is taken (the savepoint around the update), never a 500.
/// Repeated so the two requests really overlap some of the time.
#[tokio::test]
async fn two_admins_giving_two_categories_one_code_at_once_get_one_taken() {
    let app = spawn_app().await;
    let first = signed_in(&app, "admin").await;
    let second = signed_in(&app, "admin").await;
    let cats: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, name, icon FROM service_categories ORDER BY id LIMIT 2")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(cats.len(), 2, "demo data has categories");
    let t1 = token(&app, &first, "/admin/content/categories").await;
    let t2 = token(&app, &second, "/admin/content/categories").await;
    for round in 0..6 {
        let code = format!("RACE{round}");
        let save = |c: &Client, t: &str, (id, name, icon): &(i64, String, String)| {
            c.post(app.url(&format!("/admin/content/categories/{id}")))
                .form(&[
                    ("name", name.as_str()),
                    ("code", code.as_str()),
                    ("icon", icon.as_str()),
                    ("_csrf", t),
                ])
                .send()
        };
        let (a, b) = tokio::join!(save(&first, &t1, &cats[0]), save(&second, &t2, &cats[1]));
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        let texts = [a.text().await.unwrap(), b.text().await.unwrap()];
        assert_eq!(statuses, [303, 422], "round {round}: {texts:?}");
        let taken = texts
            .iter()
            .filter(|t| field_error_near(t, "e-code").as_deref() == Some(CODE_TAKEN))
            .count();
        assert_eq!(taken, 1, "round {round}");
        let holders: i64 =
            sqlx::query_scalar("SELECT count(*) FROM service_categories WHERE code = $1")
                .bind(&code)
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(holders, 1, "round {round}");
    }
}

const CODE_TAKEN: &str = "该编码已被其他分类使用，请换一个";

/// `aud`'s 推荐服务 in the order its home page shows them (published or not).
async fn recommended_to(app: &TestApp, aud: &str) -> Vec<(i64, String)> {
    sqlx::query_as(
        "SELECT id, name FROM services WHERE $1 = ANY(recommend_for)
         ORDER BY COALESCE((recommend_positions ->> $1)::int, recommend_order), id",
    )
    .bind(aud)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Each kind of viewer has its own 推荐服务 order: moving a service in the students'
/// list leaves the staff's (教职工) list and home page as they were, and the other way round.
#[tokio::test]
async fn reordering_one_kinds_recommendations_leaves_the_others_alone() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let student = signed_in(&app, "S2024001").await;
    let teacher = signed_in(&app, "T2002").await;
    let two: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, name FROM services WHERE status = 'published' ORDER BY id LIMIT 2",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let (a, b) = (&two[0], &two[1]);
    // Both recommended to students and staff, first in both lists.
    sqlx::query(
        "UPDATE services SET recommend_for = ARRAY(SELECT DISTINCT x FROM
                 unnest(recommend_for || ARRAY['student', 'staff']) x),
                recommend_order = CASE WHEN id = $1 THEN -10 ELSE -9 END
         WHERE id IN ($1, $2)",
    )
    .bind(a.0)
    .bind(b.0)
    .execute(&app.db)
    .await
    .unwrap();
    let teachers = recommended_to(&app, "staff").await;
    assert_eq!(&teachers[..2], [a.clone(), b.clone()]);
    assert_eq!(recommended(&body(&app, &teacher, "/").await)[0], a.1);
    assert_eq!(recommended(&body(&app, &student, "/").await)[0], a.1);

    let r = post(
        &app,
        &admin,
        "/admin/content/recommend",
        &[
            ("aud", "student"),
            ("service", &a.0.to_string()),
            ("op", "down"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let students = recommended_to(&app, "student").await;
    assert_eq!(&students[..2], [b.clone(), a.clone()]);
    assert_eq!(
        recommended_to(&app, "staff").await,
        teachers,
        "the staff list is kept"
    );
    assert_eq!(
        recommended(&body(&app, &student, "/").await)[..2],
        [b.1.clone(), a.1.clone()]
    );
    assert_eq!(
        recommended(&body(&app, &teacher, "/").await)[..2],
        [a.1.clone(), b.1.clone()]
    );

    // And the other way round: the staff list's move leaves the students' list.
    let r = post(
        &app,
        &admin,
        "/admin/content/recommend",
        &[
            ("aud", "staff"),
            ("service", &b.0.to_string()),
            ("op", "up"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(recommended_to(&app, "student").await, students);
    assert_eq!(
        &recommended_to(&app, "staff").await[..2],
        [b.clone(), a.clone()]
    );
    assert_eq!(recommended(&body(&app, &teacher, "/").await)[0], b.1);
}

/// A retired department is not offered to a new notice and is refused there; a notice
/// naming it keeps it (marked （已停用）) through an edit.
#[tokio::test]
async fn a_retired_department_stays_only_on_the_notices_that_name_it() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let office: i64 = sqlx::query_scalar("SELECT id FROM departments WHERE code = 'CS-OFFICE'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let options = |html: &str| -> Vec<(String, String)> {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse("select[name=\"department\"] option").unwrap();
        doc.select(&sel)
            .map(|o| {
                (
                    o.value().attr("value").unwrap_or("").to_owned(),
                    o.text().collect(),
                )
            })
            .collect()
    };
    let from = local(&app, -1);
    let office_s = office.to_string();
    let notice = |title: &'static str| {
        [
            ("title", title),
            ("body", "正文"),
            ("department", office_s.as_str()),
            ("from", from.as_str()),
        ]
    };
    let r = post(
        &app,
        &admin,
        "/admin/content/notices",
        &notice("办公室通知"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = notice_id(&app, "办公室通知").await;
    sqlx::query("UPDATE departments SET active = false WHERE id = $1")
        .bind(office)
        .execute(&app.db)
        .await
        .unwrap();

    let new = body(&app, &admin, "/admin/content/notices/new").await;
    assert!(
        !options(&new).iter().any(|(v, _)| *v == office_s),
        "not offered to a new notice"
    );
    let r = post(&app, &admin, "/admin/content/notices", &notice("新通知")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("请从列表中选择发布部门"),
        "refused next to the field"
    );

    let page = format!("/admin/content/notices/{id}");
    let edit = body(&app, &admin, &page).await;
    let named = options(&edit)
        .into_iter()
        .find(|(v, _)| *v == office_s)
        .expect("kept on the notice naming it");
    assert!(named.1.ends_with("（已停用）"), "{}", named.1);
    let doc = scraper::Html::parse_document(&edit);
    let sel = scraper::Selector::parse("input[name=\"stamp\"]").unwrap();
    let stamp = doc
        .select(&sel)
        .next()
        .unwrap()
        .value()
        .attr("value")
        .unwrap()
        .to_owned();
    let mut fields = notice("办公室通知（更新）").to_vec();
    fields.push(("stamp", &stamp));
    let r = post(&app, &admin, &page, &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "an edit keeps it");
}
