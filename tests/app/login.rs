use std::time::Duration;

use crate::{forms::apply_leave, helpers::*};

const ZHANG_PHONE: &str = "13800138000";
const ZHANG_ID: &str = "110108200609012342";

#[tokio::test]
async fn login_by_account_phone_and_id_card() {
    let app = spawn_app().await;
    for identifier in ["S2024001", ZHANG_PHONE, ZHANG_ID, "110108200609012342 "] {
        let client = new_client();
        let r = app.login_with(&client, identifier, DEMO_PASSWORD).await;
        assert_eq!(r.status(), 303, "login with {identifier}");
        assert_eq!(location(&r), "/");
        assert_eq!(
            app.signed_in_as(&client).await.as_deref(),
            Some("张三"),
            "{identifier}"
        );
    }
    assert_eq!(app.audit_count("login", "success").await, 4);
}

#[tokio::test]
async fn failures_look_identical_whatever_the_reason() {
    let app = spawn_app().await;
    sqlx::query("UPDATE users SET status = 'inactive' WHERE account = 'T2002'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET status = 'disabled' WHERE account = 'T2001'")
        .execute(&app.db)
        .await
        .unwrap();
    let mut seen = Vec::new();
    // Wrong password, unknown account, inactive account (right password), disabled account.
    for (account, password) in [
        ("S2024001", "Wrong@2026"),
        ("NOBODY99", DEMO_PASSWORD),
        ("T2002", DEMO_PASSWORD),
        ("T2001", DEMO_PASSWORD),
    ] {
        let r = app.login_with(&new_client(), account, password).await;
        let status = r.status();
        let html = r.text().await.unwrap();
        let alert = text_of_class(&html, "alert-error");
        // The form echoes the typed account; apart from that and the token, same page.
        let normalised = html
            .replace(&csrf_from(&html), "TOKEN")
            .replace(&format!("value=\"{account}\""), "value=\"ACCOUNT\"");
        seen.push((status, alert, normalised));
    }
    assert_eq!(seen[0].1.as_deref(), Some("账号或密码错误"));
    for s in &seen[1..] {
        assert_eq!(s.0, seen[0].0);
        assert_eq!(s.1, seen[0].1);
        assert_eq!(s.2, seen[0].2, "pages differ");
    }
    assert_eq!(app.audit_count("login", "failure").await, 4);
}

#[tokio::test]
async fn empty_fields_get_messages_next_to_them_and_keep_input() {
    let app = spawn_app().await;
    let html = app.login("S2024001", "").await.text().await.unwrap();
    assert_eq!(texts_of_class(&html, "field-error"), vec!["请输入密码"]);
    assert!(html.contains("value=\"S2024001\""), "typed account is kept");
    let html = app.login("", "x").await.text().await.unwrap();
    assert_eq!(texts_of_class(&html, "field-error"), vec!["请输入账号"]);
}

#[tokio::test]
async fn five_failures_lock_the_account_until_the_window_passes() {
    let app = spawn_app().await;
    for i in 1..=4 {
        let html = app
            .login("S2024001", "Wrong@2026")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(
            text_of_class(&html, "alert-error").as_deref(),
            Some("账号或密码错误"),
            "try {i}"
        );
    }
    let html = app
        .login("S2024001", "Wrong@2026")
        .await
        .text()
        .await
        .unwrap();
    let msg = text_of_class(&html, "alert-error").unwrap();
    assert!(msg.starts_with("账号已被锁定，请于 "), "{msg}");
    assert!(msg.ends_with(" 后再试"));
    // Locked: even the right password is refused, by any identifier of the account.
    let r = app
        .login_with(&new_client(), ZHANG_PHONE, DEMO_PASSWORD)
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        text_of_class(&html, "alert-error")
            .unwrap()
            .starts_with("账号已被锁定")
    );
    assert_eq!(app.audit_count("account.lockout", "success").await, 1);

    app.clock.advance(Duration::from_secs(14 * 60));
    let r = app
        .login_with(&new_client(), "S2024001", DEMO_PASSWORD)
        .await;
    assert_eq!(r.status(), 200, "still locked after 14 minutes");

    app.clock.advance(Duration::from_secs(2 * 60));
    let client = new_client();
    let r = app.login_with(&client, "S2024001", DEMO_PASSWORD).await;
    assert_eq!(r.status(), 303, "released after 15 minutes");
    assert_eq!(app.signed_in_as(&client).await.as_deref(), Some("张三"));
}

#[tokio::test]
async fn failures_outside_the_window_do_not_add_up() {
    let app = spawn_app().await;
    for _ in 0..4 {
        app.login("S2024001", "Wrong@2026").await;
    }
    app.clock.advance(Duration::from_secs(16 * 60));
    let html = app
        .login("S2024001", "Wrong@2026")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        text_of_class(&html, "alert-error").as_deref(),
        Some("账号或密码错误")
    );
}

#[tokio::test]
async fn unknown_accounts_lock_exactly_like_real_ones() {
    let app = spawn_app().await;
    let mut messages = Vec::new();
    for _ in 0..5 {
        let html = app
            .login("NOBODY99", "Wrong@2026")
            .await
            .text()
            .await
            .unwrap();
        messages.push(text_of_class(&html, "alert-error").unwrap());
    }
    assert_eq!(messages[3], "账号或密码错误");
    assert!(messages[4].starts_with("账号已被锁定"), "{}", messages[4]);
}

#[tokio::test]
async fn many_failures_from_one_ip_are_throttled() {
    let app = spawn_app_with(|s| s.ip_max_failures = 6).await;
    for i in 0..6 {
        let r = app.login(&format!("X{i}"), "Wrong@2026").await;
        assert_eq!(r.status(), 200);
    }
    let r = app.login("S2024001", DEMO_PASSWORD).await;
    assert_eq!(r.status(), 429);
    let html = r.text().await.unwrap();
    assert!(html.contains("操作过于频繁"), "styled 429 page");
    assert!(html.contains("class=\"site-header\""));
    assert_eq!(app.audit_count("login.throttled", "denied").await, 1);
    app.clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(app.login("S2024001", DEMO_PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn imported_account_must_change_its_initial_password_first() {
    let app = spawn_app().await;
    let r = app.login("T2003", "151004").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/password/change");
    // Nothing else is reachable before the change.
    for path in ["/", "/center", "/services"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(location(&r), "/password/change");
    }
    let html = app.get("/password/change").await.text().await.unwrap();
    assert!(html.contains("首次登录须先修改初始密码"));

    let r = app
        .submit(
            &app.client,
            "/password/change",
            "/password/change",
            &[
                ("current", "151004"),
                ("new_password", "Zhao#Lan2026x"),
                ("confirm", "Zhao#Lan2026x"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    assert_eq!(app.get("/center").await.status(), 200);
    let must: bool =
        sqlx::query_scalar("SELECT must_change_password FROM users WHERE account = 'T2003'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!must);
    assert_eq!(
        app.login_with(&new_client(), "T2003", "151004")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.login_with(&new_client(), "T2003", "Zhao#Lan2026x")
            .await
            .status(),
        303
    );
    assert_eq!(app.audit_count("password.change", "success").await, 1);
    // Replacing the issued initial password is no 安全提醒.
    let alerts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
         WHERE u.account = 'T2003' AND m.kind = 'security'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(alerts, 0);
}

#[tokio::test]
async fn each_password_policy_rule_is_enforced() {
    let app = spawn_app().await;
    app.login("S2024001", DEMO_PASSWORD).await;
    let cases: &[(&str, &str, &str, &str)] = &[
        (DEMO_PASSWORD, "Ab1#x", "Ab1#x", "密码长度须为 8–64 个字符"),
        (
            DEMO_PASSWORD,
            "abcdefgh123",
            "abcdefgh123",
            "密码须同时包含字母、数字和特殊符号",
        ),
        (
            DEMO_PASSWORD,
            "My#S2024001",
            "My#S2024001",
            "密码不能包含账号",
        ),
        (
            DEMO_PASSWORD,
            "Password1!",
            "Password1!",
            "该密码过于常见，容易被猜中，请换一个",
        ),
        (
            DEMO_PASSWORD,
            "Zx9#mQ2vLp",
            "Zx9#mQ2vLq",
            "两次输入的新密码不一致",
        ),
        ("Wrong@2026", "Zx9#mQ2vLp", "Zx9#mQ2vLp", "当前密码不正确"),
        (
            DEMO_PASSWORD,
            DEMO_PASSWORD,
            DEMO_PASSWORD,
            "该密码过于常见，容易被猜中，请换一个",
        ),
    ];
    for (current, new, confirm, expected) in cases {
        let r = app
            .submit(
                &app.client,
                "/password/change",
                "/password/change",
                &[
                    ("current", current),
                    ("new_password", new),
                    ("confirm", confirm),
                ],
            )
            .await;
        assert_eq!(r.status(), 200, "{new}");
        let html = r.text().await.unwrap();
        let errors = texts_of_class(&html, "field-error");
        assert!(errors.iter().any(|e| e == expected), "{new}: {errors:?}");
    }
    // Nothing changed: the old password still works.
    assert_eq!(
        app.login_with(&new_client(), "S2024001", DEMO_PASSWORD)
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let app = spawn_app().await;
    let phone = new_client();
    app.login_with(&phone, "S2024001", DEMO_PASSWORD).await;
    app.login("S2024001", DEMO_PASSWORD).await;
    let r = app
        .submit(
            &app.client,
            "/password/change",
            "/password/change",
            &[
                ("current", DEMO_PASSWORD),
                ("new_password", "Zx9#mQ2vLp"),
                ("confirm", "Zx9#mQ2vLp"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.signed_in_as(&app.client).await.as_deref(),
        Some("张三"),
        "this session stays"
    );
    assert_eq!(app.signed_in_as(&phone).await, None, "the other one ended");
    let r = app.get_with(&phone, "/center").await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?next="));
    // A 安全提醒 in 消息中心; no outside copy, as no SMS or mail server is configured here.
    let inbox = app.get("/messages").await.text().await.unwrap();
    assert!(
        inbox.contains("安全提醒")
            && inbox.contains("您的账号 S2024001 于")
            && inbox.contains("修改了登录密码"),
        "{inbox}"
    );
    let outside: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'security'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(outside, 0);
}

#[tokio::test]
async fn a_session_is_stored_with_its_person_and_follows_the_persons_status() {
    let app = spawn_app().await;
    let c = signed_in(&app, "S2024001").await;
    assert_eq!(app.signed_in_as(&c).await.as_deref(), Some("张三"));
    // The row names its person; the person loaded alongside is never written back.
    let (data, user_id, id): (Vec<u8>, Option<i64>, i64) = sqlx::query_as(
        "SELECT s.data, s.user_id, u.id FROM tower_sessions.session s, users u
         WHERE u.account = 'S2024001' AND s.user_id IS NOT NULL",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(user_id, Some(id));
    let record: tower_sessions::session::Record = rmp_serde::from_slice(&data).unwrap();
    assert_eq!(record.data.get("uid").and_then(|v| v.as_i64()), Some(id));
    assert!(
        !record.data.contains_key("__user"),
        "{:?}",
        record.data.keys()
    );
    // A row from before the column (no person recorded) still signs its holder in.
    sqlx::query("UPDATE tower_sessions.session SET user_id = NULL")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.signed_in_as(&c).await.as_deref(), Some("张三"));
    // The badge counts come fresh with every request's session load.
    let counselor = signed_in(&app, "T2101").await;
    let home = app.get_with(&counselor, "/").await.text().await.unwrap();
    assert!(texts_of_class(&home, "nav-badge").is_empty());
    // Submitted as the student: one task for the counselor.
    apply_leave(&app, &c, "1").await;
    let home = app.get_with(&counselor, "/").await.text().await.unwrap();
    assert_eq!(texts_of_class(&home, "nav-badge"), vec!["1", "1"]);
    // Locked by an administrator: the next request ends the session.
    sqlx::query("UPDATE users SET status = 'disabled' WHERE account = 'S2024001'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.signed_in_as(&c).await, None);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM tower_sessions.session")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 1, "only the counselor's is left");
}
