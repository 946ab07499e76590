//! 审计日志 and 消息投递 (系统管理员 only): filters that combine, dates in the portal's
//! time zone, keyset paging, the CSV export holding exactly the filtered rows, retries of
//! failed deliveries under their idempotency key, every admin action in the log, and who
//! may do any of it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use reqwest::{Client, StatusCode};
use service_hall::notify::deliver_external;

use crate::{
    forms::user,
    gateways::{Gateway, Mode, gateways, queue_sms, sms},
    helpers::*,
};

/// An entry written straight into the log (inserting is what the log allows).
async fn put(
    app: &TestApp,
    at: DateTime<Utc>,
    actor: Option<i64>,
    action: &str,
    target: &str,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO audit_log (at, actor_id, action, target, outcome, details)
         VALUES ($1, $2, $3, $4, 'success', '{\"reason\": \"测试\"}') RETURNING id",
    )
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(target)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// The ids of the rows a 审计日志 page shows, in order.
fn page_ids(html: &str) -> Vec<i64> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(".audit-table tbody tr").unwrap();
    doc.select(&sel)
        .map(|tr| tr.value().attr("id").unwrap()[1..].parse().unwrap())
        .collect()
}

/// The href of the pager link named `text`, if the page has one.
fn pager_link(html: &str, text: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(".pager a").unwrap();
    doc.select(&sel)
        .find(|a| a.text().collect::<String>() == text)
        .map(|a| a.value().attr("href").unwrap().to_owned())
}

async fn ids_on(app: &TestApp, c: &Client, path: &str) -> Vec<i64> {
    let r = app.get_with(c, path).await;
    assert_eq!(r.status(), 200, "{path}");
    page_ids(&r.text().await.unwrap())
}

/// The export for `qs`: its rows (header checked, BOM removed).
async fn export(app: &TestApp, c: &Client, qs: &str) -> Vec<csv::StringRecord> {
    let r = app.get_with(c, &format!("/admin/audit/export?{qs}")).await;
    assert_eq!(r.status(), 200, "export {qs}");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 with BOM, for Excel");
    let mut rd = csv::Reader::from_reader(&bytes[3..]);
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "编号",
            "时间",
            "操作人账号",
            "操作人姓名",
            "操作",
            "操作说明",
            "对象",
            "IP",
            "结果",
            "详情"
        ]
    );
    rd.records().map(|r| r.unwrap()).collect()
}

fn csv_ids(rows: &[csv::StringRecord]) -> Vec<i64> {
    rows.iter().map(|r| r[0].parse().unwrap()).collect()
}

/// The id of the latest `audit.export` entry (rows after it are not in that export).
async fn last_export(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT max(id) FROM audit_log WHERE action = 'audit.export'")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn filters_combine_respect_the_time_zone_and_the_export_holds_exactly_those_rows() {
    let app = spawn_app_with(|s| s.time_zone = Shanghai).await;
    let admin = signed_in(&app, "admin").await;
    let _ = signed_in(&app, "T4401").await;
    let (admin_id, t_id, s_id) = (
        user(&app, "admin").await,
        user(&app, "T4401").await,
        user(&app, "S2024001").await,
    );
    // 2026-03-02 starts at 16:00 UTC the day before in Shanghai.
    let midnight = Shanghai
        .with_ymd_and_hms(2026, 3, 2, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let sec = Duration::seconds(1);
    let before = put(
        &app,
        midnight - sec,
        Some(admin_id),
        "test.probe",
        "application:7",
    )
    .await;
    let first = put(
        &app,
        midnight,
        Some(admin_id),
        "test.probe",
        "application:8",
    )
    .await;
    let last = put(
        &app,
        midnight + Duration::days(1) - sec,
        Some(t_id),
        "test.probe",
        &format!("user:{s_id}"),
    )
    .await;
    let next_day = put(
        &app,
        midnight + Duration::days(1),
        Some(admin_id),
        "test.probe.sub",
        "application:9",
    )
    .await;
    let other = put(
        &app,
        midnight + Duration::hours(2),
        Some(s_id),
        "test.other",
        "service:1",
    )
    .await;
    let evil = put(
        &app,
        midnight + Duration::hours(3),
        None,
        "test.evil",
        "=HYPERLINK(\"x\")",
    )
    .await;

    let day = "from=2026-03-02&to=2026-03-02";
    let cases: Vec<(String, Vec<i64>)> = vec![
        // One local day: not a second before its midnight, up to a second before the next.
        (format!("action=test.probe&{day}"), vec![last, first]),
        (format!("action=test&{day}"), vec![evil, other, last, first]),
        // The family of an action, over two days.
        (
            "action=test.probe&from=2026-03-02&to=2026-03-03".into(),
            vec![next_day, last, first],
        ),
        ("action=test.probe&to=2026-03-01".into(), vec![before]),
        // Person by account, with action and dates.
        (
            "person=admin&action=test.probe&from=2026-03-02&to=2026-03-03".into(),
            vec![next_day, first],
        ),
        // Target: all of a kind, and one exactly.
        (
            "action=test&target=application&from=2026-03-02".into(),
            vec![next_day, first],
        ),
        (format!("target=user:{s_id}&action=test"), vec![last]),
        (format!("target=application:8&{day}"), vec![first]),
    ];
    for (qs, want) in &cases {
        assert_eq!(
            &ids_on(&app, &admin, &format!("/admin/audit?{qs}")).await,
            want,
            "page {qs}"
        );
        assert_eq!(
            &csv_ids(&export(&app, &admin, qs).await),
            want,
            "export {qs}"
        );
    }
    // Person by a part of a name.
    let t_name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
        .bind(t_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let part: String = t_name.chars().skip(1).collect();
    assert_eq!(
        ids_on(
            &app,
            &admin,
            &format!("/admin/audit?action=test&person={}", urlencoding(&part))
        )
        .await,
        vec![last]
    );

    // The export's columns: local time, the actor, labels; formulas defused.
    let rows = export(&app, &admin, &format!("action=test&{day}")).await;
    let r = rows.iter().find(|r| r[0] == first.to_string()).unwrap();
    assert_eq!(&r[1], "2026-03-02 00:00:00");
    assert_eq!(
        (&r[2], &r[4], &r[6], &r[8]),
        ("admin", "test.probe", "application:8", "成功")
    );
    assert!(r[9].contains("测试"));
    let e = rows.iter().find(|r| r[0] == evil.to_string()).unwrap();
    assert_eq!(&e[6], "'=HYPERLINK(\"x\")");

    // Broad filters against the database itself: everything by admin, and everything.
    let by_admin = csv_ids(&export(&app, &admin, "person=admin").await);
    let want: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM audit_log WHERE actor_id = $1 AND id < $2 ORDER BY id DESC",
    )
    .bind(admin_id)
    .bind(last_export(&app).await)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(want.len() > 10, "admin's sign-in and exports are in it");
    assert_eq!(by_admin, want);
    let all = csv_ids(&export(&app, &admin, "").await);
    let want: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM audit_log WHERE id < $1 ORDER BY id DESC")
            .bind(last_export(&app).await)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(all, want);

    // Each export is audited with its filters.
    let exports = cases.len() as i64 + 3;
    assert_eq!(app.audit_count("audit.export", "success").await, exports);
    let filters: String = sqlx::query_scalar(
        "SELECT details->>'filters' FROM audit_log WHERE action = 'audit.export' AND actor_id = $1 ORDER BY id LIMIT 1",
    )
    .bind(admin_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(filters, "action=test.probe&from=2026-03-02&to=2026-03-02");

    // A bad date: said next to the field, what was typed kept, nothing listed or exported.
    let r = app
        .get_with(&admin, "/admin/audit?person=admin&from=2026-13-01")
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        text_of_class(&html, "field-error")
            .unwrap()
            .contains("年-月-日")
    );
    assert!(html.contains("value=\"admin\"") && html.contains("value=\"2026-13-01\""));
    assert!(page_ids(&html).is_empty());
    let r = app
        .get_with(&admin, "/admin/audit?from=2026-03-05&to=2026-03-01")
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("截止日期不能早于起始日期"));
    let r = app
        .get_with(&admin, "/admin/audit/export?from=yesterday")
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(app.audit_count("audit.export", "success").await, exports);

    // Rows link to what they concern; details are labelled.
    let html = app
        .get_with(&admin, &format!("/admin/audit?action=test&{day}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("href=\"/applications/8\""));
    assert!(html.contains("href=\"/admin/users?q=S2024001\""));
    assert!(html.contains("href=\"/admin/services/1\""));
    assert!(html.contains("<dt>原因</dt><dd>测试</dd>"));
    // The action filter offers the actions that occur.
    assert!(html.contains("<option value=\"test.probe.sub\">"));
    assert!(html.contains("<option value=\"login\">登录</option>"));
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn pages_go_by_id_forward_and_back() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    sqlx::query(
        "INSERT INTO audit_log (at, action, target, outcome)
         SELECT now() - n * interval '1 minute', 'test.bulk', 'application:' || n, 'success'
         FROM generate_series(1, 120) n",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let want: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM audit_log WHERE action = 'test.bulk' ORDER BY id DESC")
            .fetch_all(&app.db)
            .await
            .unwrap();
    let mut path = "/admin/audit?action=test.bulk".to_owned();
    let mut pages = Vec::new();
    loop {
        let html = app.get_with(&admin, &path).await.text().await.unwrap();
        pages.push(page_ids(&html));
        match pager_link(&html, "下一页") {
            Some(next) => {
                assert!(next.contains("action=test.bulk"), "the filter goes along");
                path = next;
            }
            None => break,
        }
        assert!(pages.len() < 5);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 50, 20]);
    assert_eq!(pages.concat(), want);
    // Back from the last page: the middle one again, then the first, which has no 上一页.
    let html = app.get_with(&admin, &path).await.text().await.unwrap();
    let back = pager_link(&html, "上一页").unwrap();
    let html = app.get_with(&admin, &back).await.text().await.unwrap();
    assert_eq!(page_ids(&html), pages[1]);
    let back = pager_link(&html, "上一页").unwrap();
    let html = app.get_with(&admin, &back).await.text().await.unwrap();
    assert_eq!(page_ids(&html), pages[0]);
    assert!(pager_link(&html, "上一页").is_none());
    // Garbage positions are ignored, not an error.
    assert_eq!(
        ids_on(
            &app,
            &admin,
            "/admin/audit?action=test.bulk&before=x&after="
        )
        .await,
        pages[0]
    );
}

/// The outbox row of the last SMS queued.
async fn last_sms(app: &TestApp) -> (i64, String) {
    sqlx::query_as(
        "SELECT id, idempotency_key FROM outbox WHERE channel = 'sms' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn sms_state(app: &TestApp, id: i64) -> (i32, bool, bool, String, Option<String>) {
    sqlx::query_as(
        "SELECT attempts, failed_at IS NOT NULL, delivered_at IS NOT NULL, idempotency_key, last_error
         FROM outbox WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_failed_sms_retried_goes_out_again_with_its_key_and_every_admin_action_is_audited() {
    let g = Gateway::start().await;
    let app = spawn_app().await;
    let gw = gateways(|s| {
        s.sms = Some(sms(&g));
        s.notify_max_attempts = 1;
    });
    let later = |s: i64| Utc::now() + Duration::seconds(s);
    queue_sms(&app).await;
    let (id, key) = last_sms(&app).await;
    g.set(Mode::Fail);
    assert_eq!(
        deliver_external(&app.db, &gw, later(2), 10).await.unwrap(),
        (0, 1)
    );
    let (attempts, failed, _, _, error) = sms_state(&app, id).await;
    assert_eq!((attempts, failed), (1, true));
    assert!(error.unwrap().starts_with("gateway answered 500"));

    let admin = signed_in(&app, "admin").await;
    let html = app
        .get_with(&admin, "/admin/outbox")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("gateway answered 500"), "the reason is shown");
    assert!(html.contains(&format!("action=\"/admin/outbox/{id}/retry\"")));

    let r = app
        .submit(
            &admin,
            "/admin/outbox",
            &format!("/admin/outbox/{id}/retry"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (attempts, failed, delivered, same_key, _) = sms_state(&app, id).await;
    assert_eq!((attempts, failed, delivered), (0, false, false));
    assert_eq!(same_key, key, "a retried row keeps its idempotency key");
    let html = app
        .get_with(&admin, "/admin/outbox")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("已重新排入发送队列"));

    // The gateway works again: the message goes out, under the key of the failed try.
    g.set(Mode::Ok);
    assert_eq!(
        deliver_external(&app.db, &gw, later(3), 10).await.unwrap(),
        (1, 0)
    );
    let seen: Vec<String> = g
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(h, b)| {
            assert_eq!(h["idempotency-key"], b["requestId"].as_str().unwrap());
            b["requestId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(seen, [key.clone(), key.clone()]);
    assert!(sms_state(&app, id).await.2, "delivered");

    // A delivered row is not retried (and nothing is audited); an unknown one is 404.
    let r = app
        .submit(
            &admin,
            "/admin/outbox",
            &format!("/admin/outbox/{id}/retry"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(sms_state(&app, id).await.2);
    let r = app
        .submit(&admin, "/admin/outbox", "/admin/outbox/999999/retry", &[])
        .await;
    assert_eq!(r.status(), 404);

    // All failed SMS at once; a channel that does not exist changes nothing.
    g.set(Mode::Fail);
    queue_sms(&app).await;
    let (a, _) = last_sms(&app).await;
    queue_sms(&app).await;
    let (b, _) = last_sms(&app).await;
    assert_eq!(
        deliver_external(&app.db, &gw, later(4), 10).await.unwrap(),
        (0, 2)
    );
    let r = app
        .submit(
            &admin,
            "/admin/outbox",
            "/admin/outbox/retry",
            &[("channel", "fax")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(sms_state(&app, a).await.1 && sms_state(&app, b).await.1);
    let r = app
        .submit(
            &admin,
            "/admin/outbox",
            "/admin/outbox/retry",
            &[("channel", "sms")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/outbox?channel=sms");
    assert!(!sms_state(&app, a).await.1 && !sms_state(&app, b).await.1);
    g.set(Mode::Ok);
    assert_eq!(
        deliver_external(&app.db, &gw, later(5), 10).await.unwrap(),
        (2, 0)
    );
    // One failed try and one success each: the first, then a and b.
    assert_eq!(g.count(), 6);

    // A 解除锁定 and an export, too.
    let s_id = user(&app, "S2024001").await;
    sqlx::query(
        "INSERT INTO lockouts (subject, locked_until) VALUES ($1, now() + interval '1 hour')",
    )
    .bind(format!("u:{s_id}"))
    .execute(&app.db)
    .await
    .unwrap();
    let r = app
        .submit(
            &admin,
            "/admin/users?q=S2024001",
            &format!("/admin/users/{s_id}/unlock"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    export(&app, &admin, "action=outbox").await;

    // Every one of them is in the log, by the admin, and shown on the page.
    let admin_id = user(&app, "admin").await;
    let logged: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT action, target, details FROM audit_log
         WHERE actor_id = $1 AND action NOT IN ('login') ORDER BY id",
    )
    .bind(admin_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let summary: Vec<(&str, &str)> = logged
        .iter()
        .map(|(a, t, _)| (a.as_str(), t.as_str()))
        .collect();
    let unlock_target = format!("user:{s_id}");
    let one = format!("outbox:{id}");
    assert_eq!(
        summary,
        [
            ("outbox.retry", one.as_str()),
            ("outbox.retry", "channel:sms"),
            ("account.unlock", unlock_target.as_str()),
            ("audit.export", ""),
        ]
    );
    assert_eq!(logged[0].2["idempotency_key"], key.as_str());
    assert_eq!(logged[1].2["count"], 2);
    assert_eq!(logged[1].2["ids"], serde_json::json!([a, b]));
    let html = app
        .get_with(&admin, "/admin/audit?person=admin")
        .await
        .text()
        .await
        .unwrap();
    for code in ["outbox.retry", "account.unlock", "audit.export", "login"] {
        assert!(
            html.contains(&format!("<code>{code}</code>")),
            "{code} on the page"
        );
    }
    assert!(html.contains("href=\"/admin/users?q=S2024001\""));
}

#[tokio::test]
async fn only_the_system_administrator_sees_or_changes_the_log_and_the_deliveries() {
    let g = Gateway::start().await;
    let app = spawn_app().await;
    let gw = gateways(|s| {
        s.sms = Some(sms(&g));
        s.notify_max_attempts = 1;
    });
    g.set(Mode::Fail);
    queue_sms(&app).await;
    let (id, _) = last_sms(&app).await;
    deliver_external(&app.db, &gw, Utc::now() + Duration::seconds(2), 10)
        .await
        .unwrap();
    let one = format!("/admin/outbox/{id}/retry");
    let routes: [(&str, &str); 6] = [
        ("GET", "/admin/audit"),
        ("GET", "/admin/audit?action=login&from=2026-01-01"),
        ("GET", "/admin/audit/export?person=admin"),
        ("GET", "/admin/outbox?channel=sms"),
        ("POST", "/admin/outbox/retry"),
        ("POST", &one),
    ];
    // Everything the routes could change: the outbox, and the entries they write.
    let state = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT md5(concat_ws('|',
                (SELECT string_agg(to_jsonb(o)::text, ',' ORDER BY id) FROM outbox o),
                (SELECT count(*) FROM audit_log WHERE action IN ('audit.export', 'outbox.retry'))))",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    let before = state().await;
    for account in [Some("T4401"), Some("T2002"), Some("S2024001"), None] {
        let c = match account {
            Some(a) => signed_in(&app, a).await,
            None => new_client(),
        };
        let page = if account.is_some() {
            "/center"
        } else {
            "/login"
        };
        let csrf = csrf_from(&app.get_with(&c, page).await.text().await.unwrap());
        for (method, path) in routes {
            let r = if method == "GET" {
                c.get(app.url(path)).send().await.unwrap()
            } else {
                c.post(app.url(path))
                    .form(&[("_csrf", csrf.as_str()), ("channel", "sms")])
                    .send()
                    .await
                    .unwrap()
            };
            match (account, method) {
                (Some(_), _) => assert_eq!(r.status(), StatusCode::FORBIDDEN, "{account:?} {path}"),
                (None, "GET") => {
                    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
                    assert!(location(&r).starts_with("/login"));
                }
                (None, _) => assert!(
                    matches!(r.status(), StatusCode::FORBIDDEN | StatusCode::SEE_OTHER),
                    "{path}: {}",
                    r.status()
                ),
            }
        }
    }
    assert_eq!(state().await, before, "a refused request changed something");
    // A POST without its token is refused too, even for the 系统管理员.
    let admin = signed_in(&app, "admin").await;
    let r = admin
        .post(app.url(&one))
        .form(&[("channel", "sms")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(state().await, before);
    // The 系统管理员: pages open, the actions work.
    let csrf = csrf_from(&app.get_with(&admin, "/center").await.text().await.unwrap());
    for (method, path) in routes {
        let r = if method == "GET" {
            admin.get(app.url(path)).send().await.unwrap()
        } else {
            admin
                .post(app.url(path))
                .form(&[("_csrf", csrf.as_str()), ("channel", "sms")])
                .send()
                .await
                .unwrap()
        };
        let want = if method == "GET" { 200 } else { 303 };
        assert_eq!(r.status(), want, "admin {method} {path}");
    }
    assert_ne!(state().await, before);
    assert_eq!(app.audit_count("outbox.retry", "success").await, 1);
    assert_eq!(app.audit_count("audit.export", "success").await, 1);
}

#[tokio::test]
async fn chromium_filters_the_log_and_retries_a_delivery_at_1280_and_390() {
    use fantoccini::Locator;
    let g = Gateway::start().await;
    let app = spawn_app().await;
    let gw = gateways(|s| {
        s.sms = Some(sms(&g));
        s.notify_max_attempts = 1;
    });
    g.set(Mode::Fail);
    for _ in 0..2 {
        queue_sms(&app).await;
    }
    deliver_external(&app.db, &gw, Utc::now() + Duration::seconds(2), 10)
        .await
        .unwrap();
    let (admin_id, s_id) = (user(&app, "admin").await, user(&app, "S2024001").await);
    let now = Utc::now();
    put(
        &app,
        now - Duration::minutes(5),
        Some(admin_id),
        "account.unlock",
        &format!("user:{s_id}"),
    )
    .await;
    put(
        &app,
        now - Duration::minutes(4),
        Some(s_id),
        "application.submit",
        "application:12",
    )
    .await;
    put(
        &app,
        now - Duration::minutes(3),
        Some(admin_id),
        "service.status",
        "service:1",
    )
    .await;
    for (width, height) in [(1280, 900), (390, 844)] {
        let Some(b) = crate::browser::Browser::start(width, height).await else {
            return;
        };
        crate::browser::sign_in(&b, &app, "admin").await;
        let c = &b.client;
        c.goto(&app.url("/admin/audit")).await.unwrap();
        // Filter through the form: one action, today.
        crate::browser::fill(c, "#f-action", "account").await;
        crate::browser::click(c, ".audit-actions button[type=submit]").await;
        for _ in 0..100 {
            if c.current_url()
                .await
                .unwrap()
                .as_str()
                .contains("action=account")
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let rows = c
            .find_all(Locator::Css(".audit-table tbody tr"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "only the unlock");
        c.goto(&app.url("/admin/audit")).await.unwrap();
        b.shot("audit", &format!("audit-{width}")).await;
        crate::browser::center(c, ".audit-table").await;
        b.shot("audit", &format!("audit-{width}-rows")).await;
        c.goto(&app.url("/admin/outbox")).await.unwrap();
        b.shot("audit", &format!("outbox-{width}")).await;
        crate::browser::center(c, ".outbox-table").await;
        b.shot("audit", &format!("outbox-{width}-rows")).await;
        if width == 1280 {
            crate::browser::click(c, ".outbox-table form button").await;
            c.wait()
                .for_element(Locator::Css(".flash, .alert"))
                .await
                .unwrap();
            b.shot("audit", "outbox-retried-1280").await;
        }
        b.close().await;
    }
    assert_eq!(app.audit_count("outbox.retry", "success").await, 1);
}
