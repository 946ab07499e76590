//! 扫码登录.

use std::time::Duration;

use reqwest::Client;

use crate::helpers::*;

/// The computer's code: (path of its URL, the page's CSRF token, the number to pick).
pub(crate) async fn qr_code_of(app: &TestApp, computer: &Client) -> (String, String, String) {
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
pub(crate) fn offered(page: &str) -> Vec<String> {
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
