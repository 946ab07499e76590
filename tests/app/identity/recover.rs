//! 忘记密码: the reset ends every session; look-alike numbers answer like real ones.

use reqwest::Client;

use super::{last_code, post, signed_in_status, spawn_with_sms};
use crate::helpers::*;

#[tokio::test]
async fn recovery_resets_the_password_and_ends_every_session() {
    let (app, sms) = spawn_with_sms().await;
    let elsewhere = signed_in(&app, "S2024001").await;
    let c = new_client();
    let (status, loc, _) = post(
        &app,
        &c,
        "/recover",
        "/recover",
        &[
            ("account", "S2024001"),
            ("name", "张三"),
            ("id_card", "110108200609012342"),
        ],
    )
    .await;
    assert_eq!((status, loc.as_str()), (303, "/recover/verify"));
    let page = app
        .get_with(&c, "/recover/verify")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("138****8000"), "the phone on file, masked");
    // Someone unknown goes through the same door, to a look-alike number.
    let other = new_client();
    let (status2, loc2, _) = post(
        &app,
        &other,
        "/recover",
        "/recover",
        &[
            ("account", "S2099999"),
            ("name", "张三"),
            ("id_card", "110108200609012342"),
        ],
    )
    .await;
    assert_eq!((status2, loc2.as_str()), (303, "/recover/verify"));
    let fake = app
        .get_with(&other, "/recover/verify")
        .await
        .text()
        .await
        .unwrap();
    assert!(fake.contains("****") && !fake.contains("138****8000"));
    let r = app
        .submit(&other, "/recover/verify", "/recover/verify/send", &[])
        .await;
    assert_eq!(r.status(), 303);
    // The real one.
    let r = app
        .submit(&c, "/recover/verify", "/recover/verify/send", &[])
        .await;
    assert_eq!(
        (r.status().as_u16(), location(&r).as_str()),
        (303, "/recover/verify")
    );
    let code = last_code(&app, &sms, "13800138000").await.expect("code");
    assert_eq!(
        sms.seen.lock().unwrap().len(),
        1,
        "nothing went to the look-alike number"
    );
    let (status, loc, _) = post(
        &app,
        &c,
        "/recover/verify",
        "/recover/verify",
        &[("code", &code)],
    )
    .await;
    assert_eq!((status, loc.as_str()), (303, "/recover/password"));
    let (status, _, html) = post(
        &app,
        &c,
        "/recover/password",
        "/recover/password",
        &[
            ("new_password", "Nw7$kQ2#vXp9"),
            ("confirm", "Nw7$kQ2#vXp9"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("密码已重置"));
    assert_eq!(
        signed_in_status(&app, "S2024001", DEMO_PASSWORD).await,
        200,
        "old password refused"
    );
    assert_eq!(
        signed_in_status(&app, "S2024001", "Nw7$kQ2#vXp9").await,
        303
    );
    // The session signed in before the reset is over.
    assert_eq!(app.signed_in_as(&elsewhere).await, None);
    assert_eq!(app.audit_count("password.recover", "success").await, 2);
    // The phone on file hears of the reset, without any code in the text.
    last_code(&app, &sms, "13800138000").await;
    let seen = sms.seen.lock().unwrap();
    let (phone, text) = seen.last().unwrap();
    assert_eq!(phone, "13800138000");
    assert!(
        text.contains("您的账号于") && text.contains("通过“找回密码”重置了登录密码"),
        "{text}"
    );
    assert!(
        text.contains("如非本人操作") && !text.contains("验证码"),
        "{text}"
    );
}

/// A finding of a review, pinned down: look-alike numbers answer like real ones.
#[tokio::test]
async fn look_alikes_answer_alike() {
    let (app, sms) = spawn_with_sms().await;
    // 找回密码: a real account and a look-alike give the same answers to the same moves.
    let answers = |client: Client| {
        let app = &app;
        async move {
            let mut out = Vec::new();
            let (_, _, html) = post(
                app,
                &client,
                "/recover/verify",
                "/recover/verify",
                &[("code", "000000")],
            )
            .await;
            out.push(text_of_class(&html, "field-error"));
            app.submit(&client, "/recover/verify", "/recover/verify/send", &[])
                .await;
            let (_, _, html) = post(
                app,
                &client,
                "/recover/verify",
                "/recover/verify",
                &[("code", "000000")],
            )
            .await;
            out.push(text_of_class(&html, "field-error"));
            out
        }
    };
    let real = new_client();
    post(
        &app,
        &real,
        "/recover",
        "/recover",
        &[
            ("account", "S2024001"),
            ("name", "张三"),
            ("id_card", "110108200609012342"),
        ],
    )
    .await;
    let fake = new_client();
    post(
        &app,
        &fake,
        "/recover",
        "/recover",
        &[
            ("account", "S2099998"),
            ("name", "张三"),
            ("id_card", "110108200609012342"),
        ],
    )
    .await;
    let real_answers = answers(real).await;
    let fake_answers = answers(fake).await;
    // A real code could be 000000 once in a million runs; then the second answer differs.
    if last_code(&app, &sms, "13800138000").await.as_deref() != Some("000000") {
        assert_eq!(real_answers, fake_answers);
    }
    assert_eq!(real_answers[0].as_deref(), Some("验证码已失效，请重新获取"));
}
