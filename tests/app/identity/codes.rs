//! One-time codes: tries, expiry and the send limits.

use std::time::Duration;

use super::{last_code, post, spawn_with_sms};
use crate::helpers::*;

#[tokio::test]
async fn codes_void_after_five_wrong_tries_expire_and_obey_send_limits() {
    let (app, sms) = spawn_with_sms().await;
    let c = new_client();
    app.submit(
        &c,
        "/login/sms",
        "/login/sms/send",
        &[("phone", "13800138000")],
    )
    .await;
    let code = last_code(&app, &sms, "13800138000").await.unwrap();
    let wrong = if code == "999999" { "999998" } else { "999999" };
    for i in 1..=5 {
        let (_, _, html) = post(
            &app,
            &c,
            "/login/sms",
            "/login/sms",
            &[("phone", "13800138000"), ("code", wrong)],
        )
        .await;
        let expected = if i < 5 {
            "验证码不正确"
        } else {
            "验证码已失效"
        };
        assert!(html.contains(expected), "try {i}");
    }
    let (_, _, html) = post(
        &app,
        &c,
        "/login/sms",
        "/login/sms",
        &[("phone", "13800138000"), ("code", &code)],
    )
    .await;
    assert!(html.contains("验证码已失效"), "void after five wrong tries");
    assert_eq!(app.audit_count("code.failed", "failure").await, 5);
    // Cooldown: a second code within 60 s is refused, after it allowed.
    let (_, _, html) = post(
        &app,
        &c,
        "/login/sms",
        "/login/sms/send",
        &[("phone", "13800138000")],
    )
    .await;
    assert!(html.contains("秒后再试"), "{html}");
    app.clock.advance(Duration::from_secs(61));
    app.submit(
        &c,
        "/login/sms",
        "/login/sms/send",
        &[("phone", "13800138000")],
    )
    .await;
    let code = last_code(&app, &sms, "13800138000").await.unwrap();
    // Expired after 5 minutes.
    app.clock.advance(Duration::from_secs(5 * 60 + 1));
    let (_, _, html) = post(
        &app,
        &c,
        "/login/sms",
        "/login/sms",
        &[("phone", "13800138000"), ("code", &code)],
    )
    .await;
    assert!(html.contains("验证码已失效"), "expired");
    // Ten a day per phone.
    for _ in 0..8 {
        app.clock.advance(Duration::from_secs(61));
        let r = app
            .submit(
                &c,
                "/login/sms",
                "/login/sms/send",
                &[("phone", "13800138000")],
            )
            .await;
        assert_eq!(r.status(), 303);
    }
    app.clock.advance(Duration::from_secs(61));
    let (_, _, html) = post(
        &app,
        &c,
        "/login/sms",
        "/login/sms/send",
        &[("phone", "13800138000")],
    )
    .await;
    assert!(html.contains("今日获取验证码次数已达上限"), "{html}");
    // Codes are stored only as hashes.
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM one_time_codes WHERE encode(code_hash, 'escape') ~ '^[0-9]{6}$'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(plain, 0);
}
