//! 统一身份认证 over HTTP: activation, recovery, SMS-code login, 信息完善, 安全中心, and the
//! abuse limits of one-time codes. Codes reach a real local SMS gateway the test starts.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, extract::State, http::StatusCode, routing};
use reqwest::Client;
use service_hall::{
    clock::Clock,
    config::SmsConfig,
    identity::flows::IDENTITY_FAILED,
    notify::{Gateways, deliver_external},
};

use crate::helpers::*;

/// A local SMS gateway that keeps every (phone, text) it receives.
#[derive(Clone, Default)]
struct Sms {
    url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

async fn sms_gateway() -> Sms {
    async fn receive(State(s): State<Sms>, body: String) -> StatusCode {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        s.seen.lock().unwrap().push((
            v["mobile"].as_str().unwrap_or("").to_owned(),
            v["content"].as_str().unwrap_or("").to_owned(),
        ));
        StatusCode::OK
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = Sms {
        url: format!("http://{}/send", listener.local_addr().unwrap()),
        ..Sms::default()
    };
    let app = Router::new()
        .route("/send", routing::post(receive))
        .with_state(s.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    s
}

fn sms_config(s: &Sms) -> SmsConfig {
    SmsConfig::Http {
        url: s.url.clone(),
        body: r#"{"mobile":"{phone}","content":"{text}"}"#.into(),
        header: None,
    }
}

async fn spawn_with_sms() -> (TestApp, Sms) {
    let sms = sms_gateway().await;
    let cfg = sms_config(&sms);
    let app = spawn_app_with(move |s| s.sms = Some(cfg)).await;
    (app, sms)
}

/// Runs the outbox's outside delivery once, then returns the last code sent to `phone`.
async fn last_code(app: &TestApp, sms: &Sms, phone: &str) -> Option<String> {
    let mut settings = test_settings();
    settings.sms = Some(sms_config(sms));
    deliver_external(
        &app.db,
        &Gateways::from_settings(&settings),
        app.clock.now(),
        100,
    )
    .await
    .unwrap();
    let seen = sms.seen.lock().unwrap();
    seen.iter()
        .rev()
        .find(|(p, text)| p == phone && text.contains("验证码 "))
        .map(|(_, text)| {
            let i = text.find("验证码 ").expect("a code in the text") + "验证码 ".len();
            text[i..i + 6].to_owned()
        })
}

fn alert(html: &str) -> Option<String> {
    text_of_class(html, "alert-error")
}

async fn post(
    app: &TestApp,
    c: &Client,
    page: &str,
    action: &str,
    f: &[(&str, &str)],
) -> (u16, String, String) {
    let r = app.submit(c, page, action, f).await;
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, loc, r.text().await.unwrap())
}

#[tokio::test]
async fn activation_in_three_steps_then_signed_in() {
    let (app, sms) = spawn_with_sms().await;
    let c = new_client();
    // Identity check: wrong name, unknown account, and an already active account all read
    // the same; a bad check digit is caught next to the field.
    let tries = [
        ("S2025001", "王五", "110108200703150514"),
        ("S2099999", "李四", "110108200703150514"),
        ("S2024001", "张三", "110108200609012342"),
    ];
    for (account, name, id) in tries {
        let (status, _, html) = post(
            &app,
            &c,
            "/activate",
            "/activate",
            &[("account", account), ("name", name), ("id_card", id)],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(alert(&html).as_deref(), Some(IDENTITY_FAILED), "{account}");
        assert!(
            html.contains(&format!("value=\"{account}\"")),
            "typed input kept"
        );
    }
    let (_, _, html) = post(
        &app,
        &c,
        "/activate",
        "/activate",
        &[
            ("account", "S2025001"),
            ("name", "李四"),
            ("id_card", "110108200703150513"),
        ],
    )
    .await;
    assert!(html.contains("证件号格式不正确"), "check digit");
    // Later steps cannot be reached first.
    let r = app.get_with(&c, "/activate/password").await;
    assert_eq!(location(&r), "/activate");
    let (status, loc, _) = post(
        &app,
        &c,
        "/activate",
        "/activate",
        &[
            ("account", "S2025001"),
            ("name", "李四"),
            ("id_card", "110108200703150514"),
        ],
    )
    .await;
    assert_eq!((status, loc.as_str()), (303, "/activate/phone"));
    let page = app
        .get_with(&c, "/activate/phone")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("信息完善") && page.contains("aria-current=\"step\""));
    // A phone bound to someone else is refused; a free one gets a code.
    let (_, _, html) = post(
        &app,
        &c,
        "/activate/phone",
        "/activate/phone/send",
        &[("phone", "13800138000")],
    )
    .await;
    assert!(html.contains("该手机号已被其他账号绑定"));
    let (status, _, _) = post(
        &app,
        &c,
        "/activate/phone",
        "/activate/phone/send",
        &[("phone", "13912345678")],
    )
    .await;
    assert_eq!(status, 303);
    let code = last_code(&app, &sms, "13912345678")
        .await
        .expect("code sent");
    let (_, _, html) = post(
        &app,
        &c,
        "/activate/phone",
        "/activate/phone",
        &[
            ("phone", "13912345678"),
            ("code", &code),
            ("email", "not-mail"),
        ],
    )
    .await;
    assert!(
        html.contains("请输入正确的电子邮箱地址"),
        "optional e-mail checked"
    );
    let (_, _, html) = post(
        &app,
        &c,
        "/activate/phone",
        "/activate/phone",
        &[("phone", "13912345678"), ("code", "000000")],
    )
    .await;
    assert!(html.contains("验证码不正确") || code == "000000");
    let (status, loc, _) = post(
        &app,
        &c,
        "/activate/phone",
        "/activate/phone",
        &[("phone", "13912345678"), ("code", &code)],
    )
    .await;
    assert_eq!((status, loc.as_str()), (303, "/activate/password"));
    // Step 3: the policy, then done and signed in.
    let (_, _, html) = post(
        &app,
        &c,
        "/activate/password",
        "/activate/password",
        &[
            ("new_password", "Lisi#2026abc"),
            ("confirm", "Lisi#2026abc"),
        ],
    )
    .await;
    assert!(html.contains("密码不能包含姓名拼音"), "{html}");
    let (status, loc, _) = post(
        &app,
        &c,
        "/activate/password",
        "/activate/password",
        &[
            ("new_password", "Vq8#tLm2!pRz"),
            ("confirm", "Vq8#tLm2!pRz"),
        ],
    )
    .await;
    assert_eq!((status, loc.as_str()), (303, "/"));
    assert_eq!(app.signed_in_as(&c).await.as_deref(), Some("李四"));
    let (status, phone): (String, Option<String>) =
        sqlx::query_as("SELECT status, phone FROM users WHERE account = 'S2025001'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), phone.as_deref()),
        ("active", Some("13912345678"))
    );
    assert_eq!(app.audit_count("account.activate", "success").await, 1);
    // The password works from now on; activating again reads like any failure.
    assert_eq!(
        signed_in_status(&app, "S2025001", "Vq8#tLm2!pRz").await,
        303
    );
    let (_, _, html) = post(
        &app,
        &new_client(),
        "/activate",
        "/activate",
        &[
            ("account", "S2025001"),
            ("name", "李四"),
            ("id_card", "110108200703150514"),
        ],
    )
    .await;
    assert_eq!(alert(&html).as_deref(), Some(IDENTITY_FAILED));
}

async fn signed_in_status(app: &TestApp, account: &str, password: &str) -> u16 {
    app.login_with(&new_client(), account, password)
        .await
        .status()
        .as_u16()
}

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

#[tokio::test]
async fn sms_code_login_and_identical_answers_for_unknown_numbers() {
    let (app, sms) = spawn_with_sms().await;
    let c = new_client();
    let r = app
        .submit(
            &c,
            "/login/sms",
            "/login/sms/send",
            &[("phone", "13800138000")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let known = app.get_with(&c, "/login/sms").await.text().await.unwrap();
    let u = new_client();
    let r = app
        .submit(
            &u,
            "/login/sms",
            "/login/sms/send",
            &[("phone", "13700000009")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let unknown = app.get_with(&u, "/login/sms").await.text().await.unwrap();
    let known = text_of_class(&known, "flash-success").expect("a message");
    let unknown = text_of_class(&unknown, "flash-success").expect("a message");
    assert_eq!(
        known.replace("138****8000", "X"),
        unknown.replace("137****0009", "X")
    );
    let code = last_code(&app, &sms, "13800138000").await.expect("code");
    assert!(last_code(&app, &sms, "13700000009").await.is_none());
    let r = app
        .submit(
            &c,
            "/login/sms",
            "/login/sms",
            &[("phone", "13800138000"), ("code", &code)],
        )
        .await;
    assert_eq!((r.status().as_u16(), location(&r).as_str()), (303, "/"));
    assert_eq!(app.signed_in_as(&c).await.as_deref(), Some("张三"));
    // Used once: the same code again is refused.
    let d = new_client();
    let (_, _, html) = post(
        &app,
        &d,
        "/login/sms",
        "/login/sms",
        &[("phone", "13800138000"), ("code", &code)],
    )
    .await;
    assert!(html.contains("验证码已失效"));
    let method: String = sqlx::query_scalar("SELECT method FROM sign_ins ORDER BY id DESC LIMIT 1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(method, "sms");
}

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

#[tokio::test]
async fn identity_checks_are_limited_per_id_number() {
    let (app, _) = spawn_with_sms().await;
    let c = new_client();
    for _ in 0..5 {
        let (_, _, html) = post(
            &app,
            &c,
            "/activate",
            "/activate",
            &[
                ("account", "S2099999"),
                ("name", "某"),
                ("id_card", "110108200703150514"),
            ],
        )
        .await;
        assert_eq!(alert(&html).as_deref(), Some(IDENTITY_FAILED));
    }
    let (_, _, html) = post(
        &app,
        &c,
        "/activate",
        "/activate",
        &[
            ("account", "S2025001"),
            ("name", "李四"),
            ("id_card", "110108200703150514"),
        ],
    )
    .await;
    assert!(html.contains("尝试次数过多"), "the sixth check in an hour");
    app.clock.advance(Duration::from_secs(3601));
    let (status, _, _) = post(
        &app,
        &c,
        "/activate",
        "/activate",
        &[
            ("account", "S2025001"),
            ("name", "李四"),
            ("id_card", "110108200703150514"),
        ],
    )
    .await;
    assert_eq!(status, 303);
}

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

/// The computer's code: (path of its URL, the page's CSRF token, the number to pick).
async fn qr_code_of(app: &TestApp, computer: &Client) -> (String, String, String) {
    let html = app
        .get_with(computer, "/login/qr")
        .await
        .text()
        .await
        .unwrap();
    let svg = app.get_with(computer, "/login/qr.svg").await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));
    let url = text_of_class(&html, "qr-url").expect("the code's URL");
    let path = url.trim_start_matches(&app.address).to_owned();
    let number = text_of_class(&html, "qr-number").expect("the number to pick");
    (path, csrf_from(&html), number)
}

/// The numbers the phone's page offers, in order.
fn offered(page: &str) -> Vec<String> {
    texts_of_class(page, "qr-choice")
}

async fn poll(app: &TestApp, computer: &Client, token: &str) -> String {
    let r = computer
        .post(app.url("/login/qr/poll"))
        .header("Accept", "application/json")
        .header("X-CSRF-Token", token)
        .header("Origin", &app.address)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    v["state"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn scan_to_login_signs_in_only_the_computer_that_asked_once() {
    let app = spawn_app().await;
    let computer = new_client();
    let (path, token, number) = qr_code_of(&app, &computer).await;
    assert!(path.starts_with("/qr/"), "{path}");
    assert_eq!(poll(&app, &computer, &token).await, "pending");
    // Reloading the computer's page keeps the code and its number.
    assert_eq!(qr_code_of(&app, &computer).await.2, number);
    // The phone, signed in, sees what it is about to allow, and three numbers to pick from:
    // the computer's among them, the same three on every view.
    let phone = signed_in(&app, "S2024001").await;
    let page = app.get_with(&phone, &path).await.text().await.unwrap();
    assert!(page.contains("确认登录到电脑端") && page.contains("127.0.0.1"));
    let choices = offered(&page);
    assert_eq!(choices.len(), 3, "{page}");
    assert!(choices.contains(&number), "{choices:?} {number}");
    let mut distinct = choices.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{choices:?}");
    let again = app.get_with(&phone, &path).await.text().await.unwrap();
    assert_eq!(offered(&again), choices);
    // Another computer session polling gets nothing out of this approval.
    let other = new_client();
    let (_, other_token, other_number) = qr_code_of(&app, &other).await;
    let r = app
        .submit(&phone, &path, &format!("{path}/approve"), &[("n", &number)])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(poll(&app, &other, &other_token).await, "pending");
    assert_eq!(app.signed_in_as(&other).await, None);
    // The computer that asked signs in, once.
    assert_eq!(poll(&app, &computer, &token).await, "ok");
    assert_eq!(app.signed_in_as(&computer).await.as_deref(), Some("张三"));
    // Reuse: the phone's page now says it is no longer valid, approving again does nothing.
    let page = app.get_with(&phone, &path).await.text().await.unwrap();
    assert!(page.contains("二维码已失效"));
    assert_eq!(app.audit_count("qr.approve", "success").await, 1);
    let method: String = sqlx::query_scalar("SELECT method FROM sign_ins ORDER BY id DESC LIMIT 1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(method, "qr");
    // Expired after two minutes: the other computer's code can no longer be approved.
    let other_path = {
        let html = app
            .get_with(&other, "/login/qr")
            .await
            .text()
            .await
            .unwrap();
        text_of_class(&html, "qr-url")
            .unwrap()
            .trim_start_matches(&app.address)
            .to_owned()
    };
    app.clock.advance(Duration::from_secs(121));
    let page = app
        .get_with(&phone, &other_path)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("二维码已失效"));
    app.submit(
        &phone,
        &other_path,
        &format!("{other_path}/approve"),
        &[("n", &other_number)],
    )
    .await;
    assert_eq!(poll(&app, &other, &other_token).await, "expired");
    // Signed out visitors are asked to sign in first, then come back.
    let r = app.get_with(&new_client(), &other_path).await;
    assert!(location(&r).starts_with("/login?next="));
}

/// 激活账号 in Chromium at phone width, a screenshot of every step.
#[tokio::test]
async fn browser_activation_and_recovery_on_a_phone() {
    use crate::browser::{Browser, click, fill};
    use fantoccini::Locator;
    let (app, sms) = spawn_with_sms().await;
    let Some(b) = Browser::start(390, 844).await else {
        return;
    };
    let c = &b.client;
    c.goto(&app.url("/activate")).await.unwrap();
    b.screenshot("activate-1-390").await;
    fill(c, "#account", "S2025001").await;
    fill(c, "#name", "李四").await;
    fill(c, "#id_card", "110108200703150514").await;
    click(c, "main form button.block").await;
    c.wait().for_element(Locator::Css("#phone")).await.unwrap();
    fill(c, "#phone", "13912345678").await;
    click(c, "main form button[formaction]").await;
    c.wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    b.screenshot("activate-2-390").await;
    let code = last_code(&app, &sms, "13912345678").await.unwrap();
    fill(c, "#code", &code).await;
    click(c, "main form button.block").await;
    c.wait()
        .for_element(Locator::Css("#new_password"))
        .await
        .unwrap();
    fill(c, "#new_password", "Vq8#tLm2!pRz").await;
    // The live meter answers as one types.
    let meter = c.find(Locator::Css("#pw-meter .pw-label")).await.unwrap();
    assert!(meter.text().await.unwrap().starts_with("强度："));
    fill(c, "#confirm", "Vq8#tLm2!pRz").await;
    b.screenshot("activate-3-390").await;
    click(c, "main form button.block").await;
    let who = c
        .wait()
        .for_element(Locator::Css(".account .who"))
        .await
        .unwrap();
    assert_eq!(who.text().await.unwrap(), "李四");
    b.screenshot("activate-done-390").await;
    // 忘记密码 for 张三, from a signed-out browser.
    c.delete_all_cookies().await.unwrap();
    c.goto(&app.url("/recover")).await.unwrap();
    fill(c, "#account", "S2024001").await;
    fill(c, "#name", "张三").await;
    fill(c, "#id_card", "110108200609012342").await;
    b.screenshot("recover-1-390").await;
    click(c, "main form button.block").await;
    c.wait().for_element(Locator::Css("#code")).await.unwrap();
    click(c, "main form button[formaction]").await;
    c.wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    b.screenshot("recover-2-390").await;
    let code = last_code(&app, &sms, "13800138000").await.unwrap();
    fill(c, "#code", &code).await;
    click(c, "main form button.block").await;
    c.wait()
        .for_element(Locator::Css("#new_password"))
        .await
        .unwrap();
    fill(c, "#new_password", "Nw7$kQ2#vXp9").await;
    fill(c, "#confirm", "Nw7$kQ2#vXp9").await;
    b.screenshot("recover-3-390").await;
    click(c, "main form button.block").await;
    c.wait()
        .for_element(Locator::Css(".alert-success"))
        .await
        .unwrap();
    b.screenshot("recover-done-390").await;
    b.close().await;
}

/// The other new pages, for looking at them: login ways, 扫码登录, 安全中心.
#[tokio::test]
async fn browser_identity_pages_at_both_widths() {
    use crate::browser::{Browser, sign_in};
    for (w, h) in [(1280, 900), (390, 844)] {
        let app = spawn_app().await;
        let Some(b) = Browser::start(w, h).await else {
            return;
        };
        let c = &b.client;
        c.goto(&app.url("/login")).await.unwrap();
        b.screenshot(&format!("login-ways-{w}")).await;
        c.goto(&app.url("/login/qr")).await.unwrap();
        b.screenshot(&format!("qr-login-{w}")).await;
        c.goto(&app.url("/login/sms")).await.unwrap();
        b.screenshot(&format!("sms-login-{w}")).await;
        sign_in(&b, &app, "S2024001").await;
        // The phone's side of 扫码登录: three numbers to pick from.
        let (path, _, number) = qr_code_of(&app, &new_client()).await;
        c.goto(&app.url(&path)).await.unwrap();
        let shown = c.source().await.unwrap();
        assert!(offered(&shown).contains(&number));
        b.screenshot(&format!("qr-confirm-{w}")).await;
        c.goto(&app.url("/security")).await.unwrap();
        let html = c.source().await.unwrap();
        assert!(html.contains("本机"));
        b.screenshot(&format!("security-{w}")).await;
        b.close().await;
    }
}

#[tokio::test]
async fn an_institution_may_require_the_activation_code() {
    let sms = sms_gateway().await;
    let cfg = sms_config(&sms);
    let app = spawn_app_with(move |s| {
        s.sms = Some(cfg);
        s.require_activation_code = true;
    })
    .await;
    let key = service_hall::secret::SecretKey::from_secret(TEST_SECRET);
    let issued = service_hall::identity::flows::issue_activation_code(&app.db, &key, "S2025001")
        .await
        .unwrap()
        .expect("a code for an account waiting for activation");
    assert!(
        service_hall::identity::flows::issue_activation_code(&app.db, &key, "S2024001")
            .await
            .unwrap()
            .is_none(),
        "active accounts get none"
    );
    let c = new_client();
    let page = app.get_with(&c, "/activate").await.text().await.unwrap();
    assert!(page.contains("激活码"));
    let who = [
        ("account", "S2025001"),
        ("name", "李四"),
        ("id_card", "110108200703150514"),
    ];
    let mut missing = who.to_vec();
    missing.push(("activation_code", ""));
    let (_, _, html) = post(&app, &c, "/activate", "/activate", &missing).await;
    assert!(html.contains("请输入激活码"));
    let mut wrong = who.to_vec();
    wrong.push(("activation_code", "K7Q2-0000"));
    let (_, _, html) = post(&app, &c, "/activate", "/activate", &wrong).await;
    assert_eq!(alert(&html).as_deref(), Some(IDENTITY_FAILED));
    let mut right = who.to_vec();
    // Typed in lower case from the letter: still right.
    let typed = issued.to_lowercase();
    right.push(("activation_code", typed.as_str()));
    let (status, loc, _) = post(&app, &c, "/activate", "/activate", &right).await;
    assert_eq!((status, loc.as_str()), (303, "/activate/phone"));
}

#[tokio::test]
async fn housekeeping_forgets_spent_codes_and_old_counters() {
    let (app, sms) = spawn_with_sms().await;
    let c = new_client();
    app.submit(
        &c,
        "/login/sms",
        "/login/sms/send",
        &[("phone", "13800138000")],
    )
    .await;
    assert!(last_code(&app, &sms, "13800138000").await.is_some());
    let count = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT count(*) FROM one_time_codes) + (SELECT count(*) FROM code_sends)",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    service_hall::identity::housekeeping(&app.db, app.clock.now())
        .await
        .unwrap();
    assert_eq!(count().await, 2, "fresh rows stay");
    service_hall::identity::housekeeping(&app.db, app.clock.now() + chrono::Duration::days(3))
        .await
        .unwrap();
    assert_eq!(count().await, 0);
}

/// Findings of a review, each pinned down: a verified number cannot be swapped for another,
/// look-alike numbers answer like real ones, a QR approval dies with the approver's sessions.
#[tokio::test]
async fn no_phone_swap_after_verification_and_look_alikes_answer_alike() {
    let (app, sms) = spawn_with_sms().await;
    let c = new_client();
    post(
        &app,
        &c,
        "/activate",
        "/activate",
        &[
            ("account", "S2025001"),
            ("name", "李四"),
            ("id_card", "110108200703150514"),
        ],
    )
    .await;
    post(
        &app,
        &c,
        "/activate/phone",
        "/activate/phone/send",
        &[("phone", "13912345678")],
    )
    .await;
    let code = last_code(&app, &sms, "13912345678").await.unwrap();
    let (_, loc, _) = post(
        &app,
        &c,
        "/activate/phone",
        "/activate/phone",
        &[("phone", "13912345678"), ("code", &code)],
    )
    .await;
    assert_eq!(loc, "/activate/password");
    // Typing another number afterwards undoes the verification.
    post(
        &app,
        &c,
        "/activate/phone",
        "/activate/phone/send",
        &[("phone", "13700000001")],
    )
    .await;
    let (status, loc, _) = post(
        &app,
        &c,
        "/activate/phone",
        "/activate/password",
        &[
            ("new_password", "Vq8#tLm2!pRz"),
            ("confirm", "Vq8#tLm2!pRz"),
        ],
    )
    .await;
    assert_eq!((status, loc.as_str()), (303, "/activate"));
    let status: String = sqlx::query_scalar("SELECT status FROM users WHERE account = 'S2025001'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "inactive");

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

#[tokio::test]
async fn a_qr_approval_dies_with_the_approvers_other_sessions() {
    let app = spawn_app().await;
    let computer = new_client();
    let (path, token, number) = qr_code_of(&app, &computer).await;
    let phone = signed_in(&app, "S2024001").await;
    app.submit(&phone, &path, &format!("{path}/approve"), &[("n", &number)])
        .await;
    // Before the computer picks it up, the person signs out everywhere else.
    app.submit(&phone, "/security", "/security/sessions/end-others", &[])
        .await;
    assert_ne!(poll(&app, &computer, &token).await, "ok");
    assert_eq!(app.signed_in_as(&computer).await, None);
}

/// Number matching: a forwarded /qr/ link cannot be approved by a tap alone. A wrong pick
/// voids the code at once (one guess), nobody is signed in, and the audit says why.
#[tokio::test]
async fn a_wrong_number_voids_the_qr_code() {
    let app = spawn_app().await;
    let computer = new_client();
    let (path, token, number) = qr_code_of(&app, &computer).await;
    let phone = signed_in(&app, "S2024001").await;
    let page = app.get_with(&phone, &path).await.text().await.unwrap();
    assert!(page.contains("请点选电脑屏幕上显示的数字"));
    let wrong = offered(&page)
        .into_iter()
        .find(|n| *n != number)
        .expect("a decoy");
    // A decoy: no approval, and the code is gone.
    let r = app
        .submit(&phone, &path, &format!("{path}/approve"), &[("n", &wrong)])
        .await;
    assert_eq!(location(&r), "/");
    let home = app.get_with(&phone, "/").await.text().await.unwrap();
    assert!(home.contains("所选数字与电脑上显示的不一致"), "{home}");
    assert_eq!(poll(&app, &computer, &token).await, "denied");
    assert_eq!(app.signed_in_as(&computer).await, None);
    // The right number afterwards is too late: the code is void.
    app.submit(&phone, &path, &format!("{path}/approve"), &[("n", &number)])
        .await;
    assert_eq!(poll(&app, &computer, &token).await, "denied");
    assert_eq!(app.signed_in_as(&computer).await, None);
    let page = app.get_with(&phone, &path).await.text().await.unwrap();
    assert!(page.contains("二维码已失效"));
    assert_eq!(app.audit_count("qr.approve", "failure").await, 1);
    assert_eq!(app.audit_count("qr.approve", "success").await, 0);
    // A fresh code on the computer works with its own number; an empty pick voids it too.
    let (path, token, _) = qr_code_of(&app, &computer).await;
    app.submit(&phone, &path, &format!("{path}/approve"), &[])
        .await;
    assert_eq!(poll(&app, &computer, &token).await, "denied");
    // A code from before number matching (number 0) cannot be approved at all.
    let (path, token, _) = qr_code_of(&app, &computer).await;
    sqlx::query(
        "UPDATE qr_logins SET match_number = 0 WHERE consumed_at IS NULL AND denied_at IS NULL",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let page = app.get_with(&phone, &path).await.text().await.unwrap();
    assert!(page.contains("二维码已失效"));
    app.submit(&phone, &path, &format!("{path}/approve"), &[("n", "0")])
        .await;
    assert_eq!(poll(&app, &computer, &token).await, "pending");
    let (path2, token, number) = qr_code_of(&app, &computer).await;
    assert_ne!(path2, path, "the computer gets a new code instead");
    app.submit(
        &phone,
        &path2,
        &format!("{path2}/approve"),
        &[("n", &number)],
    )
    .await;
    assert_eq!(poll(&app, &computer, &token).await, "ok");
    assert_eq!(app.signed_in_as(&computer).await.as_deref(), Some("张三"));
}
