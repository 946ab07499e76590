//! Sign-ins and limits under concurrency, on two instances of one database: attempts are
//! counted before any hashing, hashing is bounded (503 + `Retry-After` beyond it), and the
//! limits (sign-in, code sends, the person picker's budget) are one across instances.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use service_hall::clock::Clock;
use tokio::task::JoinSet;

use crate::helpers::*;
use crate::identity::{sms_config, spawn_with_sms};

/// A fresh client with the login form's token from `base`.
async fn ready_client(base: &str) -> (Client, String) {
    let c = new_client();
    let html = c
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_from(&html);
    (c, token)
}

struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: String,
}

async fn post_login(c: &Client, base: &str, token: &str, account: &str, pw: &str) -> Answer {
    let r = c
        .post(format!("{base}/login"))
        .form(&[("_csrf", token), ("account", account), ("password", pw)])
        .send()
        .await
        .unwrap();
    Answer {
        status: r.status(),
        retry_after: r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: r.text().await.unwrap(),
    }
}

/// Fires every (base, account, password) at once, each from its own client that already
/// holds the form; a 503 must carry `Retry-After` and the styled "busy" form with the account
/// kept, and is retried after a pause. Returns the final answers.
async fn burst(jobs: Vec<(String, String, &'static str)>) -> Vec<(String, Answer)> {
    let mut ready = Vec::new();
    for (base, account, pw) in jobs {
        let (c, token) = ready_client(&base).await;
        ready.push((c, token, base, account, pw));
    }
    let mut set = JoinSet::new();
    for (c, token, base, account, pw) in ready {
        set.spawn(async move {
            loop {
                let a = post_login(&c, &base, &token, &account, pw).await;
                if a.status != StatusCode::SERVICE_UNAVAILABLE {
                    return (account, a);
                }
                assert!(a.retry_after.is_some(), "a 503 says when to come back");
                assert!(a.body.contains("系统繁忙，请稍后再试"), "{}", a.body);
                assert!(
                    a.body.contains(&format!("value=\"{account}\"")),
                    "the form keeps the account"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
    }
    set.join_all().await
}

/// `n` active students `<prefix>0001`… with the demo password.
async fn students(app: &TestApp, prefix: &str, n: i32) {
    let hash = service_hall::identity::password::hash_blocking(DEMO_PASSWORD).unwrap();
    sqlx::query(
        "INSERT INTO users (account, name, user_type, status, password_hash)
         SELECT $2 || lpad(n::text, 4, '0'), '同学' || n, 'student', 'active', $1
         FROM generate_series(1, $3) n",
    )
    .bind(hash)
    .bind(prefix)
    .bind(n)
    .execute(&app.db)
    .await
    .unwrap();
}

async fn attempts(app: &TestApp) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE pending) FROM login_attempts")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_on_two_instances_verifies_at_most_the_lockout_limit() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let accounts: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, account FROM users WHERE status = 'active' AND password_hash IS NOT NULL
         ORDER BY id LIMIT 4",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(accounts.len(), 4);
    let jobs = (0..150)
        .map(|i| {
            let base = if i % 2 == 0 { &app.address } else { &other };
            (base.clone(), accounts[i % 4].1.clone(), "Wrong@2026")
        })
        .collect();
    let answers = burst(jobs).await;
    for (_, a) in &answers {
        assert!(
            [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS].contains(&a.status),
            "{}",
            a.status
        );
    }
    // Each verification settles one reserved attempt: at most 5 per account were hashed.
    let (total, pending) = attempts(&app).await;
    assert_eq!(pending, 0);
    assert_eq!(
        total,
        4 * 5,
        "exactly the lockout limit was verified, no more"
    );
    for (id, account) in &accounts {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM login_attempts WHERE subject = $1")
            .bind(format!("u:{id}"))
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(n, 5, "{account}");
        let locked: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM lockouts WHERE subject = $1 AND locked_until > $2)",
        )
        .bind(format!("u:{id}"))
        .bind(app.clock.now())
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert!(locked, "{account} is locked");
        // Even the right password is refused now, without being checked.
        let (c, token) = ready_client(&app.address).await;
        let a = post_login(&c, &app.address, &token, account, DEMO_PASSWORD).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.body.contains("账号已被锁定"), "{account}");
    }
    assert_eq!(
        attempts(&app).await.0,
        20,
        "a locked account costs no hashing"
    );
    // One lockout record per account, however many failures settled at once.
    assert_eq!(app.audit_count("account.lockout", "success").await, 4);
    assert_eq!(app.audit_count("login", "failure").await, 20);
}

#[tokio::test]
async fn a_burst_on_many_accounts_from_one_address_verifies_at_most_the_address_limit() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let jobs = (0..150)
        .map(|i| {
            let base = if i % 2 == 0 { &app.address } else { &other };
            (base.clone(), format!("X{i:03}"), "Wrong@2026")
        })
        .collect();
    let answers = burst(jobs).await;
    let throttled = answers
        .iter()
        .filter(|(_, a)| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let failed = answers
        .iter()
        .filter(|(_, a)| a.status == StatusCode::OK && a.body.contains("账号或密码错误"))
        .count();
    assert_eq!((failed, throttled), (30, 120));
    assert_eq!(attempts(&app).await, (30, 0));
}

#[tokio::test]
async fn a_hundred_people_signing_in_together_all_get_in() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    students(&app, "B", 100).await;
    let jobs = (1..=100)
        .map(|n| {
            let base = if n % 2 == 0 { &app.address } else { &other };
            (base.clone(), format!("B{n:04}"), DEMO_PASSWORD)
        })
        .collect();
    let answers = burst(jobs).await;
    for (account, a) in &answers {
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{account}");
    }
    let signed_in: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT user_id) FROM sign_ins s JOIN users u ON u.id = s.user_id
         WHERE u.account LIKE 'B%'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(signed_in, 100);
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM login_attempts WHERE NOT success")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(failed, 0, "a busy answer counts as no attempt");
}

#[tokio::test]
async fn the_people_search_budget_is_one_across_instances() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    // Sessions live in the database: one cookie works on both instances. 系统管理员
    // (试算's applicant picker) may search without naming a form.
    let c = signed_in(&app, "admin").await;
    let mut set = JoinSet::new();
    for i in 0..320 {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            other.clone()
        };
        let c = c.clone();
        set.spawn(async move {
            c.get(format!("{base}/people?q="))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let statuses = set.join_all().await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, refused), (300, 20), "spent exactly once across both");
    let used: i32 = sqlx::query_scalar("SELECT sum(used)::int FROM request_budgets")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(used, 300);
    // A new window, a new budget; the finished one is pruned a day later.
    app.clock.advance(Duration::from_secs(10 * 60));
    assert_eq!(
        app.get_with(&c, "/people?q=").await.status(),
        StatusCode::OK
    );
    let now = app.clock.now();
    let pruned = service_hall::web::limit::prune(&app.db, now + chrono::Duration::hours(25))
        .await
        .unwrap();
    assert_eq!(pruned, 2);
}

#[tokio::test]
async fn code_sends_from_one_address_hold_across_instances() {
    let (app, sms) = spawn_with_sms().await;
    let cfg = sms_config(&sms);
    let other = app.another_instance_with(move |s| s.sms = Some(cfg)).await;
    let mut ready = Vec::new();
    for i in 0..40 {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            other.clone()
        };
        let c = new_client();
        let html = c
            .get(format!("{base}/login/sms"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        ready.push((c, csrf_from(&html), base, format!("1370000{i:04}")));
    }
    let mut set = JoinSet::new();
    for (c, token, base, phone) in ready {
        set.spawn(async move {
            c.post(format!("{base}/login/sms/send"))
                .form(&[("_csrf", token.as_str()), ("phone", phone.as_str())])
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    for s in set.join_all().await {
        assert!(s.is_redirection() || s.is_success(), "{s}");
    }
    let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM code_sends")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        sent, 30,
        "HALL_CODE_PER_IP_HOUR holds on both instances together"
    );
}

/// Twice the address's failure limit of people behind one address (a campus NAT) sign in
/// at the same moment: each gets in at the first try. Those finding the attempts in
/// flight filling the limit wait for them to settle instead of being told 系统繁忙.
#[tokio::test]
async fn a_crowd_behind_one_address_gets_in_at_the_first_try() {
    let app = spawn_app().await;
    students(&app, "N", 60).await;
    let mut ready = Vec::new();
    for n in 1..=60 {
        let (c, token) = ready_client(&app.address).await;
        ready.push((c, token, format!("N{n:04}")));
    }
    let mut set = JoinSet::new();
    for (c, token, account) in ready {
        let base = app.address.clone();
        set.spawn(async move {
            let a = post_login(&c, &base, &token, &account, DEMO_PASSWORD).await;
            (account, a.status)
        });
    }
    let answers = set.join_all().await;
    let busy: Vec<&String> = answers
        .iter()
        .filter(|(_, s)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .map(|(a, _)| a)
        .collect();
    assert!(busy.is_empty(), "told 系统繁忙: {busy:?}");
    for (account, status) in &answers {
        assert_eq!(*status, StatusCode::SEE_OTHER, "{account}");
    }
}
