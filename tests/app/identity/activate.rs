//! 激活账号: the three steps, the optional 激活码, and a verified number that cannot be
//! swapped.

use service_hall::identity::flows::IDENTITY_FAILED;

use super::{alert, last_code, post, signed_in_status, sms_config, sms_gateway, spawn_with_sms};
use crate::helpers::*;

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

/// A finding of a review, pinned down: a verified number cannot be swapped for another.
#[tokio::test]
async fn no_phone_swap_after_verification() {
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
}

#[tokio::test]
async fn proving_the_id_number_keeps_a_sealed_copy_for_forms() {
    // An account imported before copies were kept: the identity step fills it in.
    let (app, _sms) = spawn_with_sms().await;
    let sealed = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, Option<Vec<u8>>>(
                "SELECT id_card_sealed FROM users WHERE account = 'S2025001'",
            )
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    sqlx::query("UPDATE users SET id_card_sealed = NULL WHERE account = 'S2025001'")
        .execute(&app.db)
        .await
        .unwrap();
    let c = new_client();
    // A wrong name proves nothing and keeps nothing.
    post(
        &app,
        &c,
        "/activate",
        "/activate",
        &[
            ("account", "S2025001"),
            ("name", "王五"),
            ("id_card", "110108200703150514"),
        ],
    )
    .await;
    assert_eq!(sealed(&app).await, None);
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
    let s = sealed(&app).await.expect("a sealed copy");
    assert_eq!(s.len(), 24 + 18 + 16);
    assert!(!s.windows(6).any(|w| w == b"110108"));
}
