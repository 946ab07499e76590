//! Outside channels against a real local HTTP server that records what it receives
//! (also used by `admin_audit` for 消息投递's retries).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use chrono::Utc;
use service_hall::{
    config::{Secret, SmsConfig},
    notify::{Fanout, Gateways, deliver_due_with, deliver_external},
};

use crate::helpers::*;

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    Ok,
    Fail,
    Hang,
}

#[derive(Clone)]
pub(crate) struct Gateway {
    url: String,
    pub(crate) seen: Arc<Mutex<Vec<(HeaderMap, serde_json::Value)>>>,
    mode: Arc<Mutex<Mode>>,
}

impl Gateway {
    pub(crate) async fn start() -> Gateway {
        let g = Gateway {
            url: String::new(),
            seen: Arc::default(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
        };
        async fn receive(State(g): State<Gateway>, headers: HeaderMap, body: String) -> StatusCode {
            let mode = *g.mode.lock().unwrap();
            if mode == Mode::Hang {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            g.seen
                .lock()
                .unwrap()
                .push((headers, serde_json::from_str(&body).unwrap_or_default()));
            if mode == Mode::Fail {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms/send", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/sms/send", post(receive))
            .with_state(g.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Gateway { url, ..g }
    }
    pub(crate) fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
    pub(crate) fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

pub(crate) fn sms(g: &Gateway) -> SmsConfig {
    SmsConfig::Http {
        url: g.url.clone(),
        body: r#"{"mobile":"{phone}","content":"{text}","requestId":"{key}","sign":"示范大学"}"#
            .into(),
        header: Some(("X-Api-Key".into(), Secret("k-123".into()))),
    }
}

pub(crate) async fn queue_sms(app: &TestApp) -> i64 {
    let uid: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = 'T2101'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, recipient_id, kind, payload, created_at, next_attempt_at)
         VALUES ('ev-' || $2, $1, 'new_task', $3, now(), now())",
    )
    .bind(uid)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(serde_json::json!({"text": "您有一条待办：学生请假（张三）\"测试\"", "link": "/applications/7"}))
    .execute(&app.db)
    .await
    .unwrap();
    let fanout = Fanout {
        sms: true,
        wecom: false,
        email: false,
        base_url: "https://hall.example.edu.cn/".into(),
    };
    deliver_due_with(
        &app.db,
        Utc::now() + chrono::Duration::seconds(1),
        100,
        &fanout,
    )
    .await
    .unwrap();
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE channel = 'sms'")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

pub(crate) fn gateways(app_settings: impl FnOnce(&mut service_hall::config::Settings)) -> Gateways {
    let mut s = test_settings();
    app_settings(&mut s);
    Gateways::from_settings(&s)
}

#[tokio::test]
async fn sms_reaches_the_gateway_as_configured() {
    let g = Gateway::start().await;
    let app = spawn_app().await;
    assert_eq!(queue_sms(&app).await, 1);
    let gw = gateways(|s| s.sms = Some(sms(&g)));
    let (ok, failed) =
        deliver_external(&app.db, &gw, Utc::now() + chrono::Duration::seconds(2), 10)
            .await
            .unwrap();
    assert_eq!((ok, failed), (1, 0));
    let seen = g.seen.lock().unwrap();
    let (headers, body) = &seen[0];
    assert_eq!(body["mobile"], "13900002101");
    assert_eq!(
        body["content"],
        "【网上办事服务大厅】您有一条待办：学生请假（张三）\"测试\" https://hall.example.edu.cn/applications/7"
    );
    assert_eq!(body["sign"], "示范大学");
    let key = body["requestId"].as_str().unwrap();
    assert!(key.ends_with(":sms"));
    assert_eq!(headers["x-api-key"], "k-123");
    assert_eq!(headers["idempotency-key"], key);
    assert_eq!(headers["content-type"], "application/json");
}

#[tokio::test]
async fn a_failing_gateway_is_retried_with_backoff_and_given_up_after_n() {
    let g = Gateway::start().await;
    let app = spawn_app().await;
    queue_sms(&app).await;
    let gw = gateways(|s| {
        s.sms = Some(sms(&g));
        s.notify_max_attempts = 3;
    });
    let t0 = Utc::now() + chrono::Duration::seconds(2);
    g.set(Mode::Fail);
    assert_eq!(
        deliver_external(&app.db, &gw, t0, 10).await.unwrap(),
        (0, 0)
    );
    let (attempts, err): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM outbox WHERE channel = 'sms'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(attempts, 1);
    assert!(err.unwrap().starts_with("gateway answered 500"));
    // Not yet due: 30 s back-off.
    assert_eq!(
        deliver_external(&app.db, &gw, t0 + chrono::Duration::seconds(10), 10)
            .await
            .unwrap(),
        (0, 0)
    );
    assert_eq!(g.count(), 1);
    // Recovers: delivered on the next due try.
    g.set(Mode::Ok);
    assert_eq!(
        deliver_external(&app.db, &gw, t0 + chrono::Duration::seconds(31), 10)
            .await
            .unwrap(),
        (1, 0)
    );
    assert_eq!(g.count(), 2);

    // Another message against a gateway that keeps failing: given up after 3 tries.
    queue_sms(&app).await;
    g.set(Mode::Fail);
    let mut t = t0 + chrono::Duration::seconds(40);
    for _ in 0..3 {
        deliver_external(&app.db, &gw, t, 10).await.unwrap();
        t += chrono::Duration::hours(2);
    }
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE channel = 'sms' AND failed_at IS NOT NULL AND attempts = 3")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(failed, 1);
}

#[tokio::test]
async fn a_hanging_gateway_times_out() {
    let g = Gateway::start().await;
    let app = spawn_app().await;
    queue_sms(&app).await;
    g.set(Mode::Hang);
    let gw = gateways(|s| {
        s.sms = Some(sms(&g));
        s.notify_timeout = Duration::from_millis(300);
    });
    let started = std::time::Instant::now();
    deliver_external(&app.db, &gw, Utc::now() + chrono::Duration::seconds(2), 10)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "did not wait for the gateway"
    );
    let err: Option<String> =
        sqlx::query_scalar("SELECT last_error FROM outbox WHERE channel = 'sms'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(err.as_deref(), Some("gateway timed out"));
}

#[tokio::test]
async fn two_workers_and_a_dead_worker_deliver_each_message_once() {
    let g = Gateway::start().await;
    let app = spawn_app().await;
    for _ in 0..10 {
        queue_sms(&app).await;
    }
    let gw = gateways(|s| s.sms = Some(sms(&g)));
    let now = Utc::now() + chrono::Duration::seconds(2);
    // A worker claimed three rows and died before sending them.
    sqlx::query(
        "UPDATE outbox SET lease_until = $1 + interval '2 minutes', attempts = 1
         WHERE id IN (SELECT id FROM outbox WHERE channel = 'sms' ORDER BY id LIMIT 3)",
    )
    .bind(now)
    .execute(&app.db)
    .await
    .unwrap();
    let (a, b) = tokio::join!(
        deliver_external(&app.db, &gw, now, 4),
        deliver_external(&app.db, &gw, now, 4)
    );
    let _ = (a.unwrap(), b.unwrap());
    while deliver_external(&app.db, &gw, now, 4).await.unwrap().0 > 0 {}
    assert_eq!(g.count(), 7, "the dead worker's rows wait for its lease");
    while deliver_external(&app.db, &gw, now + chrono::Duration::minutes(3), 4)
        .await
        .unwrap()
        .0
        > 0
    {}
    let mut keys: Vec<String> = g
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b["requestId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 10);
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 10, "no message twice");
}

#[tokio::test]
async fn people_without_a_phone_or_who_opted_out_get_no_sms() {
    let app = spawn_app().await;
    sqlx::query("INSERT INTO notify_prefs (user_id, sms) SELECT id, false FROM users WHERE account = 'T2101'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(queue_sms(&app).await, 0);
}
