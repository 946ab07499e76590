//! 统一身份认证 over HTTP, split like `src/identity`: activation, recovery, SMS-code login,
//! the identity check, one-time codes, 安全中心 and 扫码登录. Codes reach a real local SMS
//! gateway the test starts. (The Chromium tests are in `browser`.)

mod activate;
mod check;
mod codes;
mod plan;
pub(crate) mod qr;
mod recover;
mod security;
mod sms_login;

use std::sync::{Arc, Mutex};

use axum::{Router, extract::State, http::StatusCode, routing};
use reqwest::Client;
use service_hall::{
    clock::Clock,
    config::SmsConfig,
    notify::{Gateways, deliver_external},
};

use crate::helpers::*;

/// A local SMS gateway that keeps every (phone, text) it receives.
#[derive(Clone, Default)]
pub(crate) struct Sms {
    url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

pub(crate) async fn sms_gateway() -> Sms {
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

pub(crate) fn sms_config(s: &Sms) -> SmsConfig {
    SmsConfig::Http {
        url: s.url.clone(),
        body: r#"{"mobile":"{phone}","content":"{text}"}"#.into(),
        header: None,
    }
}

pub(crate) async fn spawn_with_sms() -> (TestApp, Sms) {
    let sms = sms_gateway().await;
    let cfg = sms_config(&sms);
    let app = spawn_app_with(move |s| s.sms = Some(cfg)).await;
    (app, sms)
}

/// Runs the outbox's outside delivery once, then returns the last code sent to `phone`.
pub(crate) async fn last_code(app: &TestApp, sms: &Sms, phone: &str) -> Option<String> {
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

pub(super) fn alert(html: &str) -> Option<String> {
    text_of_class(html, "alert-error")
}

pub(super) async fn post(
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

pub(super) async fn signed_in_status(app: &TestApp, account: &str, password: &str) -> u16 {
    app.login_with(&new_client(), account, password)
        .await
        .status()
        .as_u16()
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
