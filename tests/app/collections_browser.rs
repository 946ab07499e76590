//! 填报任务 in Chromium: a student on a phone finds the task in 个人中心, fills it with a
//! file and submits; the owner's 填报情况 counts move without reloading the page when
//! someone else submits; screenshots of both at 1280 and 390 px.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use service_hall::clock::Clock;

use crate::{
    browser::{Browser, click, fill, sign_in},
    helpers::*,
};

/// A published task for S2024001, T2101 and S2025001 with a text, a choice and a file.
async fn task(app: &TestApp) -> i64 {
    let now = app.clock.now();
    let id: i64 = sqlx::query_scalar(
        r#"INSERT INTO collections (title, explanation, owner_id, target, opens_at, closes_at,
                                    editable, published_at, form)
           SELECT '2026 年寒假留校登记', '寒假期间留校的同学请如实填写，便于学院安排住宿与安全管理。',
                  id, '{"accounts": ["S2024001", "T2101", "S2025001"]}', $1, $2, true, $1,
                  '{"fields": [
                     {"key": "stay", "type": "radio", "label": "是否留校", "required": true, "options": ["留校", "离校"]},
                     {"key": "room", "type": "text", "label": "宿舍号", "placeholder": "例如：6-302"},
                     {"key": "mobile", "type": "phone", "label": "联系电话", "required": true, "autofill": "phone"},
                     {"key": "proof", "type": "attachments", "label": "证明材料"}]}'
           FROM users WHERE account = 'admin' RETURNING id"#,
    )
    .bind(now - chrono::Duration::hours(1))
    .bind(now + chrono::Duration::days(4))
    .fetch_one(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO collection_members (collection_id, user_id, department_id)
         SELECT $1, id, department_id FROM users WHERE account IN ('S2024001', 'T2101', 'S2025001')",
    )
    .bind(id)
    .execute(&app.db)
    .await
    .unwrap();
    id
}

async fn fill_on(width: u32, height: u32) {
    let app = spawn_app().await;
    crate::collections::without_demo_tasks(&app).await;
    let id = task(&app).await;
    let Some(b) = Browser::start(width, height).await else {
        return;
    };
    sign_in(&b, &app, "S2024001").await;
    let c = &b.client;
    c.goto(&app.url("/center/collect")).await.unwrap();
    b.shot("collect", &format!("mine-{width}")).await;
    click(c, &format!("a[href='/collect/{id}']")).await;
    c.wait()
        .for_element(Locator::Css("form.app-form"))
        .await
        .unwrap();
    // The phone number comes from the profile.
    let mobile = c
        .find(Locator::Css("input[name='f.mobile']"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(!mobile.is_empty(), "auto-filled from the profile");
    click(c, "input[name='f.stay'][value='留校']").await;
    fill(c, "input[name='f.room']", "6-302").await;
    let path = std::env::temp_dir().join(format!("proof-{width}.pdf"));
    std::fs::write(
        &path,
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
    )
    .unwrap();
    c.find(Locator::Css("input[type=file][name='file.proof']"))
        .await
        .unwrap()
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
    b.shot("collect", &format!("fill-{width}")).await;
    click(c, "button[name=intent][value=submit]").await;
    c.wait()
        .for_element(Locator::Css(".flash, .alert"))
        .await
        .unwrap();
    let html = c.source().await.unwrap();
    assert!(
        html.contains("已提交") && html.contains("已填"),
        "submitted"
    );
    assert!(html.contains(&format!("proof-{width}.pdf")));
    b.shot("collect", &format!("filled-{width}")).await;
    let state: String = sqlx::query_scalar(
        "SELECT m.state FROM collection_members m JOIN users u ON u.id = m.user_id
         WHERE u.account = 'S2024001'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(state, "submitted");
    b.close().await;

    // The owner's page follows completion live.
    let Some(owner) = Browser::start(width, height).await else {
        return;
    };
    sign_in(&owner, &app, "admin").await;
    let o = &owner.client;
    o.goto(&app.url(&format!("/collect/{id}/responses")))
        .await
        .unwrap();
    let totals = || async {
        o.find(Locator::Id("collect-totals"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .split_whitespace()
            .collect::<String>()
    };
    assert!(totals().await.contains("已填1"), "{}", totals().await);
    owner.shot("collect", &format!("responses-{width}")).await;
    if width >= 1000 {
        sqlx::query(
        "UPDATE collection_members m SET state = 'submitted', submitted_at = now(), version = 1,
                data = '{\"stay\": \"离校\", \"mobile\": \"13800000000\"}'
         FROM users u WHERE u.id = m.user_id AND u.account = 'T2101'",
    )
    .execute(&app.db)
    .await
    .unwrap();
        let deadline = Instant::now() + Duration::from_secs(45);
        while !totals().await.contains("已填2") {
            assert!(Instant::now() < deadline, "the counts did not follow");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    for (path, name) in [
        ("/admin/collections".to_owned(), "list"),
        ("/admin/collections/new".to_owned(), "new"),
        (format!("/admin/collections/{id}"), "settings"),
    ] {
        o.goto(&app.url(&path)).await.unwrap();
        let wide: bool = o
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                vec![],
            )
            .await
            .unwrap()
            .as_bool()
            .unwrap();
        assert!(!wide, "{path} scrolls sideways at {width}");
        owner.shot("collect", &format!("{name}-{width}")).await;
    }
    owner.close().await;
}

#[tokio::test]
async fn browser_collect_phone() {
    fill_on(390, 844).await;
}

#[tokio::test]
async fn browser_collect_desktop() {
    fill_on(1280, 900).await;
}
