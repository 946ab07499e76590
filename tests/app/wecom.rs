//! 企业微信 application messages against a local server speaking its HTTP API.

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    extract::{Query, State},
    routing::{get, post},
};
use chrono::Utc;
use serde_json::{Value, json};
use service_hall::{
    config::{Secret, WecomConfig},
    notify::{Fanout, Gateways, deliver_due_with, deliver_external},
};

use crate::helpers::*;

#[derive(Clone, Default)]
struct Wecom {
    /// (corpid, corpsecret) of each token request.
    token_requests: Arc<Mutex<Vec<(String, String)>>>,
    /// (access_token, body) of each message.
    messages: Arc<Mutex<Vec<(String, Value)>>>,
    /// Tokens the server accepts.
    valid: Arc<Mutex<Vec<String>>>,
}

async fn gettoken(
    State(w): State<Wecom>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    let n = {
        let mut t = w.token_requests.lock().unwrap();
        t.push((q["corpid"].clone(), q["corpsecret"].clone()));
        t.len()
    };
    if q["corpsecret"] != "s3cret" {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    let token = format!("TOKEN{n}");
    w.valid.lock().unwrap().push(token.clone());
    Json(json!({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}))
}

async fn send(
    State(w): State<Wecom>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let token = q.get("access_token").cloned().unwrap_or_default();
    w.messages.lock().unwrap().push((token.clone(), body));
    if w.valid.lock().unwrap().contains(&token) {
        Json(json!({"errcode": 0, "errmsg": "ok", "msgid": "m1"}))
    } else {
        Json(json!({"errcode": 42001, "errmsg": "access_token expired"}))
    }
}

async fn start() -> (Wecom, String) {
    let w = Wecom::default();
    let app = Router::new()
        .route("/cgi-bin/gettoken", get(gettoken))
        .route("/cgi-bin/message/send", post(send))
        .with_state(w.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (w, url)
}

async fn queue(app: &TestApp, n: usize) {
    let uid: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = 'T2101'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    for i in 0..n {
        sqlx::query(
            "INSERT INTO outbox (idempotency_key, recipient_id, kind, payload, created_at, next_attempt_at)
             VALUES ($1, $2, 'new_task', $3, now(), now())",
        )
        .bind(format!("wecom-test-{i}-{}", uuid::Uuid::new_v4()))
        .bind(uid)
        .bind(json!({"text": "您有一条待办：学生请假（张三）", "link": "/applications/9"}))
        .execute(&app.db)
        .await
        .unwrap();
    }
    let fanout = Fanout {
        sms: false,
        wecom: true,
        email: false,
        base_url: "https://hall.example.edu.cn".into(),
    };
    deliver_due_with(
        &app.db,
        Utc::now() + chrono::Duration::seconds(1),
        100,
        &fanout,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn messages_use_a_cached_token_and_refresh_it_when_expired() {
    let (w, url) = start().await;
    let app = spawn_app().await;
    queue(&app, 2).await;
    let mut s = test_settings();
    s.wecom = Some(WecomConfig {
        corp_id: "ww123".into(),
        secret: Secret("s3cret".into()),
        agent_id: 1000002,
        base_url: url,
    });
    let gw = Gateways::from_settings(&s);
    let now = Utc::now() + chrono::Duration::seconds(2);
    assert_eq!(
        deliver_external(&app.db, &gw, now, 10).await.unwrap(),
        (2, 0)
    );
    assert_eq!(
        w.token_requests.lock().unwrap().clone(),
        vec![("ww123".to_owned(), "s3cret".to_owned())],
        "one token for both"
    );
    {
        let msgs = w.messages.lock().unwrap();
        assert_eq!(msgs.len(), 2);
        let (token, body) = &msgs[0];
        assert_eq!(token, "TOKEN1");
        assert_eq!(body["touser"], "T2101", "the WeCom userid is the 工号");
        assert_eq!(body["msgtype"], "text");
        assert_eq!(body["agentid"], 1000002);
        assert_eq!(
            body["text"]["content"],
            "您有一条待办：学生请假（张三）\nhttps://hall.example.edu.cn/applications/9"
        );
    }
    // The server forgets the token (expired): the next message fetches a new one and goes out.
    w.valid.lock().unwrap().clear();
    queue(&app, 1).await;
    assert_eq!(
        deliver_external(&app.db, &gw, now, 10).await.unwrap(),
        (1, 0)
    );
    assert_eq!(w.token_requests.lock().unwrap().len(), 2);
    let msgs = w.messages.lock().unwrap();
    assert_eq!(msgs.len(), 4, "refused once with the old token, then sent");
    assert_eq!(msgs[3].0, "TOKEN2");
}

#[tokio::test]
async fn a_wrong_secret_is_retried_not_lost() {
    let (w, url) = start().await;
    let app = spawn_app().await;
    queue(&app, 1).await;
    let mut s = test_settings();
    s.wecom = Some(WecomConfig {
        corp_id: "ww123".into(),
        secret: Secret("wrong".into()),
        agent_id: 1,
        base_url: url,
    });
    let gw = Gateways::from_settings(&s);
    assert_eq!(
        deliver_external(&app.db, &gw, Utc::now() + chrono::Duration::seconds(2), 10)
            .await
            .unwrap(),
        (0, 0)
    );
    let err: Option<String> =
        sqlx::query_scalar("SELECT last_error FROM outbox WHERE channel = 'wecom'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        err.as_deref(),
        Some("企业微信 token refused: invalid credential")
    );
    assert!(w.messages.lock().unwrap().is_empty());
    let secret_logged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE last_error LIKE '%wrong%'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(secret_logged, 0, "the secret never appears in errors");
}
