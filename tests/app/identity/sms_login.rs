//! 手机验证码登录.

use super::{last_code, post, spawn_with_sms};
use crate::helpers::*;

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
