//! 信息完善 and 安全中心: binding and changing the 安全手机, 安全提醒, devices.

use std::time::Duration;

use super::{last_code, spawn_with_sms};
use crate::helpers::*;

#[tokio::test]
async fn information_completion_binds_a_phone_before_anything_else() {
    let (app, sms) = spawn_with_sms().await;
    let c = new_client();
    // T2003 has neither a changed password nor a phone: password first, then the phone.
    app.login_with(&c, "T2003", "151004").await;
    let r = app.get_with(&c, "/center").await;
    assert_eq!(location(&r), "/password/change");
    let r = app
        .submit(
            &c,
            "/password/change",
            "/password/change",
            &[
                ("current", "151004"),
                ("new_password", "Zm5#pLq8!wTe"),
                ("confirm", "Zm5#pLq8!wTe"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    for path in ["/", "/center", "/services"] {
        let r = app.get_with(&c, path).await;
        assert_eq!(location(&r), "/security/phone", "{path}");
    }
    let page = app
        .get_with(&c, "/security/phone")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("信息完善"));
    // The seed's progress bar: signed in (done), 信息完善 (here), then into the hall.
    let doc = scraper::Html::parse_document(&page);
    let sel = scraper::Selector::parse("ol.steps li").unwrap();
    let steps: Vec<(String, String)> = doc
        .select(&sel)
        .map(|e| {
            let class = e.value().attr("class").unwrap_or("").to_owned();
            (e.text().collect(), class)
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("基础信息验证".to_owned(), "ms done".to_owned()),
            ("信息完善".to_owned(), "ms current".to_owned()),
            ("完成".to_owned(), "ms ".to_owned()),
        ]
    );
    app.submit(
        &c,
        "/security/phone",
        "/security/phone/send",
        &[("phone", "13612345678")],
    )
    .await;
    let code = last_code(&app, &sms, "13612345678").await.unwrap();
    let r = app
        .submit(
            &c,
            "/security/phone",
            "/security/phone",
            &[("phone", "13612345678"), ("code", &code)],
        )
        .await;
    assert_eq!((r.status().as_u16(), location(&r).as_str()), (303, "/"));
    assert_eq!(app.get_with(&c, "/center").await.status(), 200);
    assert_eq!(app.audit_count("phone.bind", "success").await, 1);
}

#[tokio::test]
async fn changing_the_phone_needs_the_old_one_first() {
    let (app, sms) = spawn_with_sms().await;
    let c = signed_in(&app, "S2024001").await;
    let page = app
        .get_with(&c, "/security/phone")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("第一步") && page.contains("138****8000"));
    // Binding a new number before proving the old one goes back to the first step.
    let r = app
        .submit(
            &c,
            "/security/phone",
            "/security/phone/send",
            &[("phone", "13612345678")],
        )
        .await;
    assert_eq!(location(&r), "/security/phone");
    assert!(last_code(&app, &sms, "13612345678").await.is_none());
    app.submit(&c, "/security/phone", "/security/phone/old/send", &[])
        .await;
    let old = last_code(&app, &sms, "13800138000").await.unwrap();
    let r = app
        .submit(
            &c,
            "/security/phone",
            "/security/phone/old",
            &[("code", &old)],
        )
        .await;
    assert_eq!(location(&r), "/security/phone");
    app.submit(
        &c,
        "/security/phone",
        "/security/phone/send",
        &[("phone", "13612345678")],
    )
    .await;
    let new = last_code(&app, &sms, "13612345678").await.unwrap();
    let r = app
        .submit(
            &c,
            "/security/phone",
            "/security/phone",
            &[("phone", "13612345678"), ("code", &new)],
        )
        .await;
    assert_eq!(location(&r), "/security");
    let phone: String = sqlx::query_scalar("SELECT phone FROM users WHERE account = 'S2024001'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(phone, "13612345678");
    // 安全提醒: the old phone hears of its replacement (the new one needs no telling), and
    // so does 消息中心.
    last_code(&app, &sms, "13612345678").await;
    {
        let seen = sms.seen.lock().unwrap();
        let to_old: Vec<&String> = seen
            .iter()
            .filter(|(p, t)| p == "13800138000" && t.contains("更换为"))
            .map(|(_, t)| t)
            .collect();
        assert_eq!(to_old.len(), 1, "{seen:?}");
        // Outside copies name no account: the old number may be someone else's by now.
        assert!(
            !to_old[0].contains("S2024001") && to_old[0].contains("将安全手机更换为 136****5678"),
            "{}",
            to_old[0]
        );
        assert!(
            !seen
                .iter()
                .any(|(p, t)| p == "13612345678" && t.contains("更换为")),
            "{seen:?}"
        );
    }
    let inbox = app.get_with(&c, "/messages").await.text().await.unwrap();
    assert!(
        inbox.contains("安全提醒")
            && inbox.contains("您的账号 S2024001 于")
            && inbox.contains("将安全手机更换为 136****5678")
    );
}

/// Password changes need only the password: their SMS copies go out once per 10 minutes,
/// while 消息中心 records every one.
#[tokio::test]
async fn password_change_alerts_cannot_flood_the_phone() {
    let (app, sms) = spawn_with_sms().await;
    let c = signed_in(&app, "S2024001").await;
    let mut current = DEMO_PASSWORD.to_owned();
    for (i, new) in ["Qw8#zLm2!vRt", "Er7$xKp3@nBy", "Ty6%cJn4#mVu"]
        .iter()
        .enumerate()
    {
        if i == 2 {
            app.clock.advance(Duration::from_secs(11 * 60));
        }
        let r = app
            .submit(
                &c,
                "/password/change",
                "/password/change",
                &[
                    ("current", &current),
                    ("new_password", new),
                    ("confirm", new),
                ],
            )
            .await;
        assert_eq!(r.status(), 303, "change {i}");
        current = new.to_string();
    }
    last_code(&app, &sms, "13800138000").await;
    let texts: Vec<String> = sms
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, t)| p == "13800138000" && t.contains("修改了登录密码"))
        .map(|(_, t)| t.clone())
        .collect();
    assert_eq!(
        texts.len(),
        2,
        "the first, and the one 11 minutes later: {texts:?}"
    );
    let inbox: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
         WHERE u.account = 'S2024001' AND m.kind = 'security'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(inbox, 3);
}

#[tokio::test]
async fn security_center_lists_devices_and_signs_out_the_others() {
    let app = spawn_app().await;
    let phone = signed_in(&app, "S2024001").await;
    let desk = signed_in(&app, "S2024001").await;
    let html = app.get_with(&desk, "/security").await.text().await.unwrap();
    assert_eq!(html.matches("本机").count(), 1);
    assert!(html.contains("账号密码"));
    let r = app
        .submit(&desk, "/security", "/security/sessions/end-others", &[])
        .await;
    assert_eq!(location(&r), "/security");
    assert_eq!(
        app.signed_in_as(&desk).await.as_deref(),
        Some("张三"),
        "this one stays"
    );
    assert_eq!(app.signed_in_as(&phone).await, None, "the other one is out");
    assert_eq!(app.audit_count("session.end_others", "success").await, 1);
    // Someone else's page is theirs: the list shows only my sign-ins.
    let html = app.get_with(&desk, "/security").await.text().await.unwrap();
    assert_eq!(html.matches("本机").count(), 1);
}

/// 信息完善 with the seed's progress bar, in Chromium at 1280 and 390 px (issue 17.11):
/// nothing wider than the window; screenshots `info-*`.
#[tokio::test]
async fn browser_information_completion_at_both_widths() {
    let (app, _sms) = spawn_with_sms().await;
    // A person with a password of their own and no phone.
    sqlx::query("UPDATE users SET must_change_password = false WHERE account = 'T2003'")
        .execute(&app.db)
        .await
        .unwrap();
    for (width, height) in [(1280, 900), (390, 844)] {
        let Some(b) = crate::browser::Browser::start(width, height).await else {
            return;
        };
        let c = &b.client;
        crate::browser::sign_in_with(&b, &app, "T2003", "151004").await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while c.current_url().await.unwrap().path() != "/security/phone" {
            assert!(std::time::Instant::now() < deadline, "信息完善 at {width}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let fits = c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth
                   && document.querySelectorAll('ol.steps li').length === 3;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, serde_json::json!(true), "{width}");
        b.shot("info", &format!("complete-{width}")).await;
        b.close().await;
    }
}
