use reqwest::Client;

use crate::{forms::apply_leave, helpers::*};
use service_hall::notify::{Gateways, deliver_due, deliver_external};

fn no_gateways() -> Gateways {
    Gateways::from_settings(&test_settings())
}

async fn submit_leave(app: &TestApp, student: &Client) -> i64 {
    apply_leave(app, student, "1").await
}

#[tokio::test]
async fn a_new_task_reaches_the_approvers_message_center() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let id = submit_leave(&app, &student).await;
    // Delivered by the submission itself, in its transaction: the worker finds nothing.
    let left = deliver_due(
        &app.db,
        chrono::Utc::now() + chrono::Duration::seconds(1),
        100,
    )
    .await
    .unwrap();
    assert_eq!(left, 0);
    let counselor = signed_in(&app, "T2101").await;
    let home = app.get_with(&counselor, "/").await.text().await.unwrap();
    let doc = scraper::Html::parse_document(&home);
    let sel = scraper::Selector::parse(".bell .nav-badge").unwrap();
    assert_eq!(
        doc.select(&sel)
            .next()
            .map(|e| e.text().collect::<String>()),
        Some("1".into())
    );
    let inbox = app
        .get_with(&counselor, "/messages")
        .await
        .text()
        .await
        .unwrap();
    assert!(inbox.contains("您有一条待办：学生请假（张三）") && inbox.contains("XSQJ-"));
    let mid: i64 = sqlx::query_scalar(
        "SELECT m.id FROM messages m JOIN users u ON u.id = m.user_id WHERE u.account = 'T2101'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    // Someone else cannot open it.
    let r = app
        .submit(&student, "/messages", &format!("/messages/{mid}/open"), &[])
        .await;
    assert_eq!(r.status(), 404);
    let r = app
        .submit(
            &counselor,
            "/messages",
            &format!("/messages/{mid}/open"),
            &[],
        )
        .await;
    assert_eq!(location(&r), format!("/applications/{id}"));
    let unread: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE read_at IS NULL AND id = $1")
            .bind(mid)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(unread, 0);
}

#[tokio::test]
async fn two_workers_never_deliver_one_row_twice() {
    let app = spawn_app().await;
    // Rows the worker delivers (reminders, escalations, 催办): transitions deliver their
    // own notices in their transaction.
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, recipient_id, kind, payload, created_at, next_attempt_at)
         SELECT 'remind-' || i, u.id, 'reminder', jsonb_build_object('text', '提醒 ' || i, 'link', '/center/todo'), now(), now()
         FROM users u, generate_series(1, 15) i WHERE u.account = 'T2101'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let later = chrono::Utc::now() + chrono::Duration::seconds(1);
    let (a, b) = tokio::join!(
        deliver_due(&app.db, later, 4),
        deliver_due(&app.db, later, 4)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    // Each took a batch of its own.
    assert_eq!(a + b, 8);
    while deliver_due(&app.db, later, 4).await.unwrap() > 0 {}
    let (outbox, messages, undelivered): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM messages),
                (SELECT count(*) FROM outbox WHERE delivered_at IS NULL)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (messages, undelivered),
        (outbox, 0),
        "each row exactly once"
    );
    assert_eq!(messages, 15);
    // Mark all read.
    let counselor = signed_in(&app, "T2101").await;
    app.submit(&counselor, "/messages", "/messages/read-all", &[])
        .await;
    let unread: i64 = sqlx::query_scalar("SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id WHERE u.account = 'T2101' AND m.read_at IS NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(unread, 0);
}

#[tokio::test]
async fn rows_for_an_unconfigured_channel_are_parked_with_the_reason() {
    let app = spawn_app().await;
    let uid: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = 'T2101'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, channel, recipient_id, kind, payload, created_at, next_attempt_at)
         VALUES ('sms-test', 'sms', $1, 'new_task', '{\"text\": \"x\"}', now(), now())",
    )
    .bind(uid)
    .execute(&app.db)
    .await
    .unwrap();
    deliver_external(
        &app.db,
        &no_gateways(),
        chrono::Utc::now() + chrono::Duration::seconds(1),
        10,
    )
    .await
    .unwrap();
    let err: Option<String> =
        sqlx::query_scalar("SELECT last_error FROM outbox WHERE idempotency_key = 'sms-test'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(err.as_deref(), Some("channel sms is not configured"));
}

#[tokio::test]
async fn overdue_tasks_remind_once_per_period_and_escalate() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    submit_leave(&app, &student).await;
    let start = chrono::Utc::now();
    let hours = |h: i64| start + chrono::Duration::hours(h);
    use service_hall::workflow::reminders::remind_overdue;
    assert_eq!(
        remind_overdue(&app.db, hours(23)).await.unwrap(),
        0,
        "within the 24-hour limit"
    );
    assert_eq!(remind_overdue(&app.db, hours(25)).await.unwrap(), 1);
    assert_eq!(
        remind_overdue(&app.db, hours(26)).await.unwrap(),
        0,
        "once per period"
    );
    assert_eq!(
        remind_overdue(&app.db, hours(50)).await.unwrap(),
        1,
        "the next period"
    );
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT o.kind, u.account FROM outbox o JOIN users u ON u.id = o.recipient_id
         WHERE o.kind IN ('reminder', 'escalation') ORDER BY o.id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let rows: Vec<(&str, &str)> = rows.iter().map(|(k, a)| (k.as_str(), a.as_str())).collect();
    assert_eq!(
        rows,
        vec![
            ("reminder", "T2101"),
            ("escalation", "T2001"),
            ("reminder", "T2101"),
            ("escalation", "T2001")
        ],
        "the counselor, and 计算机学院's 部门负责人"
    );
    deliver_due(&app.db, hours(50), 100).await.unwrap();
    let head = signed_in(&app, "T2001").await;
    let inbox = app.get_with(&head, "/messages").await.text().await.unwrap();
    assert!(inbox.contains("督办：陈静 的待办 学生请假（张三）"));
}

#[tokio::test]
async fn administrators_see_undelivered_notifications_with_the_reason() {
    let app = spawn_app().await;
    let uid: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = 'T2101'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, channel, recipient_id, kind, payload, created_at, next_attempt_at)
         VALUES ('sms-x', 'sms', $1, 'new_task', '{}', now(), now())",
    )
    .bind(uid)
    .execute(&app.db)
    .await
    .unwrap();
    deliver_external(
        &app.db,
        &no_gateways(),
        chrono::Utc::now() + chrono::Duration::seconds(1),
        10,
    )
    .await
    .unwrap();
    let admin = signed_in(&app, "admin").await;
    let html = app
        .get_with(&admin, "/admin/outbox")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("channel sms is not configured") && html.contains("已失败"));
    let student = signed_in(&app, "S2024001").await;
    assert_eq!(app.get_with(&student, "/admin/outbox").await.status(), 403);
}

#[tokio::test]
async fn people_choose_their_channels() {
    let app = spawn_app_with(|s| s.sms = Some(service_hall::config::SmsConfig::Log)).await;
    let c = signed_in(&app, "T2101").await;
    let html = app
        .get_with(&c, "/center/settings")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("name=\"sms\" value=\"1\" checked"),
        "on by default"
    );
    // Unticked boxes are simply absent from the form.
    let r = app
        .submit(&c, "/center/settings", "/center/settings", &[])
        .await;
    assert_eq!(r.status(), 303);
    let sms: bool = sqlx::query_scalar("SELECT p.sms FROM notify_prefs p JOIN users u ON u.id = p.user_id WHERE u.account = 'T2101'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!sms);
    let html = app
        .get_with(&c, "/center/settings")
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("name=\"sms\" value=\"1\" checked"));
    // 周明 has a security phone: no hint about binding one.
    let html = app
        .get_with(&signed_in(&app, "T2102").await, "/center/settings")
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("您还没有绑定安全手机"));
}

#[tokio::test]
async fn a_transition_delivers_its_notices_and_queues_the_chosen_copies() {
    let app = spawn_app_with(|s| s.sms = Some(service_hall::config::SmsConfig::Log)).await;
    let student = signed_in(&app, "S2024001").await;
    let id = submit_leave(&app, &student).await;
    // 王老师 (T2101) has a security phone and the defaults: the message and an SMS copy
    // queued for the worker, both written by the submission.
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT o.channel, o.idempotency_key, o.payload->>'text' FROM outbox o JOIN users u ON u.id = o.recipient_id
         WHERE u.account = 'T2101' ORDER BY o.id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "sms");
    let key: String = sqlx::query_scalar(
        "SELECT m.idempotency_key FROM messages m JOIN users u ON u.id = m.user_id
         WHERE u.account = 'T2101'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(rows[0].1, format!("{key}:sms"));
    let sms = rows[0].2.clone().unwrap();
    assert!(
        sms.starts_with("【网上办事服务大厅】您有一条待办：学生请假（张三）")
            && sms.ends_with(&format!("/applications/{id}")),
        "{sms}"
    );
    let messages: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
         WHERE u.account = 'T2101' AND m.link = '/applications/' || $1::text",
    )
    .bind(id.to_string())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(messages, 1);
    // With SMS turned off in 个人设置, the next notice comes without a copy.
    let counselor = signed_in(&app, "T2101").await;
    app.submit(&counselor, "/center/settings", "/center/settings", &[])
        .await;
    submit_leave(&app, &student).await;
    let (inapp, sms): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id WHERE u.account = 'T2101'),
                (SELECT count(*) FROM outbox o JOIN users u ON u.id = o.recipient_id
                 WHERE u.account = 'T2101' AND o.channel = 'sms')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((inapp, sms), (2, 1));
}

#[tokio::test]
async fn a_busy_approvers_unread_count_stops_at_99_plus() {
    let app = spawn_app().await;
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, recipient_id, kind, payload, created_at, next_attempt_at)
         SELECT 'remind-' || i, u.id, 'reminder', jsonb_build_object('text', '提醒 ' || i, 'link', '/center/todo'), now(), now()
         FROM users u, generate_series(1, 150) i WHERE u.account = 'T2101'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let later = chrono::Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(deliver_due(&app.db, later, 200).await.unwrap(), 150);
    let c = signed_in(&app, "T2101").await;
    let bell = |html: &str| {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse(".bell .nav-badge").unwrap();
        doc.select(&sel)
            .next()
            .map(|e| e.text().collect::<String>())
    };
    let home = app.get_with(&c, "/").await.text().await.unwrap();
    assert_eq!(bell(&home).as_deref(), Some("99+"));
    let inbox = app.get_with(&c, "/messages").await.text().await.unwrap();
    assert!(
        inbox.contains("消息中心 <span class=\"nav-badge\">99+</span>"),
        "{inbox}"
    );
    // All read: no badge at all.
    app.submit(&c, "/messages", "/messages/read-all", &[]).await;
    let home = app.get_with(&c, "/").await.text().await.unwrap();
    assert_eq!(bell(&home), None);
}

/// Opening an application's page reads the person's notices about it — the approver's
/// 待办 notice, the applicant's outcome — and nothing else: other applications' notices stay
/// unread, and someone who may not see the application gets 404 and changes nothing.
#[tokio::test]
async fn opening_an_application_reads_its_notices_and_no_others() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let (first, second) = (
        submit_leave(&app, &student).await,
        submit_leave(&app, &student).await,
    );
    let unread = |account: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT m.application_id FROM messages m JOIN users u ON u.id = m.user_id
             WHERE u.account = $1 AND m.read_at IS NULL ORDER BY m.application_id",
        )
        .bind(account)
        .fetch_all(&app.db)
    };
    assert_eq!(unread("T2101").await.unwrap(), [first, second]);
    let stranger = signed_in(&app, "T2002").await;
    let page = format!("/applications/{first}");
    assert_eq!(app.get_with(&stranger, &page).await.status(), 404);
    assert_eq!(unread("T2101").await.unwrap(), [first, second]);
    let counselor = signed_in(&app, "T2101").await;
    assert_eq!(app.get_with(&counselor, &page).await.status(), 200);
    assert_eq!(unread("T2101").await.unwrap(), [second], "only this one's");
    // The bell on the next page counts what is left.
    let home = app.get_with(&counselor, "/").await.text().await.unwrap();
    assert!(
        home.contains("title=\"消息中心\">消息 <span class=\"nav-badge\">1</span>"),
        "{home}"
    );
    let r = crate::forms::act(&app, &counselor, first, "approve", "counselor", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(unread("S2024001").await.unwrap(), [first], "the outcome");
    assert_eq!(app.get_with(&student, &page).await.status(), 200);
    assert!(unread("S2024001").await.unwrap().is_empty());
}
