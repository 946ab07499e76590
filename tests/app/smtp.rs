//! E-mail against a local SMTP server that the test starts (it speaks enough of RFC 5321
//! for a client: greeting, EHLO, MAIL, RCPT, DATA, QUIT) and keeps what it receives.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::json;
use service_hall::{
    config::{Secret, SmtpConfig},
    notify::{Fanout, Gateways, deliver_due_with, deliver_external},
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::*;

/// (MAIL FROM, RCPT TO, DATA)
type Mail = (String, Vec<String>, String);

#[derive(Default, Clone)]
struct Mailbox {
    mails: Arc<Mutex<Vec<Mail>>>,
}

/// The settings for the local server on `port`.
fn local_smtp(port: u16) -> SmtpConfig {
    SmtpConfig {
        url: Secret(format!("smtp://127.0.0.1:{port}")),
        from: "网上办事服务大厅 <noreply@hall.test>".into(),
    }
}

async fn smtp_server() -> (Mailbox, u16) {
    let mailbox = Mailbox::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mb = mailbox.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let mb = mb.clone();
            tokio::spawn(async move {
                let (r, mut w) = socket.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 mail.test ESMTP\r\n").await.unwrap();
                let (mut from, mut to) = (String::new(), Vec::new());
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        w.write_all(b"250-mail.test\r\n250 8BITMIME\r\n")
                            .await
                            .unwrap();
                    } else if upper.starts_with("MAIL FROM:") {
                        from = line[10..].trim().to_owned();
                        w.write_all(b"250 OK\r\n").await.unwrap();
                    } else if upper.starts_with("RCPT TO:") {
                        to.push(line[8..].trim().to_owned());
                        w.write_all(b"250 OK\r\n").await.unwrap();
                    } else if upper == "DATA" {
                        w.write_all(b"354 end with .\r\n").await.unwrap();
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        mb.mails
                            .lock()
                            .unwrap()
                            .push((from.clone(), to.clone(), data));
                        w.write_all(b"250 queued\r\n").await.unwrap();
                    } else if upper == "QUIT" {
                        w.write_all(b"221 bye\r\n").await.unwrap();
                        return;
                    } else {
                        w.write_all(b"250 OK\r\n").await.unwrap();
                    }
                }
            });
        }
    });
    (mailbox, port)
}

#[tokio::test]
async fn notifications_go_out_by_email_to_those_who_chose_it() {
    let (mailbox, port) = smtp_server().await;
    let app = spawn_app().await;
    // 陈静 chose e-mail; 周明 did not (e-mail is opt-in).
    sqlx::query("INSERT INTO notify_prefs (user_id, sms, email) SELECT id, false, true FROM users WHERE account = 'T2101'")
        .execute(&app.db)
        .await
        .unwrap();
    for account in ["T2101", "T2102"] {
        let uid: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = $1")
            .bind(account)
            .fetch_one(&app.db)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO outbox (idempotency_key, recipient_id, kind, payload, created_at, next_attempt_at)
             VALUES ($1, $2, 'new_task', $3, now(), now())",
        )
        .bind(format!("mail-test-{account}"))
        .bind(uid)
        .bind(json!({"text": "您有一条待办：学生请假（张三）", "link": "/applications/5"}))
        .execute(&app.db)
        .await
        .unwrap();
    }
    let fanout = Fanout {
        sms: false,
        wecom: false,
        email: true,
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
    let mut s = test_settings();
    s.smtp = Some(local_smtp(port));
    let gw = Gateways::from_settings(&s);
    assert_eq!(
        deliver_external(&app.db, &gw, Utc::now() + chrono::Duration::seconds(2), 10)
            .await
            .unwrap(),
        (1, 0)
    );
    let mails = mailbox.mails.lock().unwrap();
    assert_eq!(mails.len(), 1);
    let (from, to, data) = &mails[0];
    assert_eq!(from, "<noreply@hall.test>");
    assert_eq!(to, &vec!["<chenjing@demo.edu.cn>".to_owned()]);
    assert!(
        data.contains("Message-ID: <mail-test-T2101:email@service-hall>"),
        "{data}"
    );
    assert!(data.contains("Subject: =?utf-8?"), "UTF-8 subject, encoded");
    let decoded = decode_body(data);
    assert!(
        decoded.contains("您有一条待办：学生请假（张三）"),
        "{decoded}"
    );
    assert!(decoded.contains("https://hall.example.edu.cn/applications/5"));
}

/// The body after the blank line, undoing base64 or quoted-printable if the client used it.
fn decode_body(data: &str) -> String {
    let (head, body) = data.split_once("\n\n").unwrap_or(("", data));
    if head
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: base64")
    {
        use base64::Engine;
        let joined: String = body.lines().collect();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(joined.trim())
                .unwrap_or_default(),
        )
        .unwrap_or_default()
    } else if head.to_ascii_lowercase().contains("quoted-printable") {
        let joined = body.replace("=\n", "");
        let mut out = Vec::new();
        let b = joined.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'='
                && i + 2 < b.len()
                && let Ok(v) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    } else {
        body.to_owned()
    }
}

#[tokio::test]
async fn an_unreachable_mail_server_is_retried() {
    let app = spawn_app().await;
    sqlx::query("INSERT INTO notify_prefs (user_id, email) SELECT id, true FROM users WHERE account = 'T2101'")
        .execute(&app.db)
        .await
        .unwrap();
    let uid: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = 'T2101'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, recipient_id, kind, payload, created_at, next_attempt_at)
         VALUES ('mail-down', $1, 'new_task', '{\"text\": \"x\", \"link\": \"/\"}', now(), now())",
    )
    .bind(uid)
    .execute(&app.db)
    .await
    .unwrap();
    let fanout = Fanout {
        sms: false,
        wecom: false,
        email: true,
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
    // A port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = test_settings();
    s.smtp = Some(SmtpConfig {
        url: Secret(format!("smtp://127.0.0.1:{free}")),
        from: "x <x@hall.test>".into(),
    });
    let gw = Gateways::from_settings(&s);
    assert_eq!(
        deliver_external(&app.db, &gw, Utc::now() + chrono::Duration::seconds(2), 10)
            .await
            .unwrap(),
        (0, 0)
    );
    let (attempts, failed, err): (i32, Option<chrono::DateTime<Utc>>, Option<String>) =
        sqlx::query_as(
            "SELECT attempts, failed_at, last_error FROM outbox WHERE channel = 'email'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((attempts, failed), (1, None), "kept for a retry");
    assert!(err.unwrap().starts_with("mail server"));
}

/// 安全邮箱 in 安全中心 with the right password: a link goes to `email`.
async fn ask_to_bind(app: &TestApp, c: &reqwest::Client, email: &str) -> reqwest::Response {
    app.submit(
        c,
        "/security/email",
        "/security/email",
        &[("email", email), ("password", DEMO_PASSWORD)],
    )
    .await
}

/// Runs the outside delivery once against the local SMTP server on `port`.
async fn deliver_mail(app: &TestApp, port: u16) {
    let mut s = test_settings();
    s.smtp = Some(local_smtp(port));
    deliver_external(
        &app.db,
        &Gateways::from_settings(&s),
        Utc::now() + chrono::Duration::seconds(2),
        10,
    )
    .await
    .unwrap();
}

/// The link in the last mail to `to`, as a path.
async fn mailed_link(app: &TestApp, mailbox: &Mailbox, port: u16, to: &str) -> String {
    deliver_mail(app, port).await;
    let mails = mailbox.mails.lock().unwrap();
    let (_, _, data) = mails
        .iter()
        .rev()
        .find(|(_, rcpt, _)| rcpt.contains(&format!("<{to}>")))
        .expect("a mail to the address");
    let body = decode_body(data);
    let i = body.find("/email/").expect("a link");
    let token: String = body[i + 7..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    format!("/email/{token}")
}

#[tokio::test]
async fn security_email_links_bind_recover_and_stand_in_for_a_lost_phone() {
    let (mailbox, port) = smtp_server().await;
    let app = spawn_app_with(move |s| s.smtp = Some(local_smtp(port))).await;
    // Bind a new 安全邮箱: the link, opened anywhere, shows a button; the button binds.
    let c = signed_in(&app, "S2024001").await;
    let r = app
        .submit(
            &c,
            "/security/email",
            "/security/email",
            &[("email", "zs2026@stu.demo.edu.cn"), ("password", "wrong")],
        )
        .await;
    assert!(
        r.text().await.unwrap().contains("密码不正确"),
        "a session alone is not enough"
    );
    let r = app
        .submit(
            &c,
            "/security/email",
            "/security/email",
            &[("email", "not-an-address"), ("password", DEMO_PASSWORD)],
        )
        .await;
    assert!(r.text().await.unwrap().contains("请输入正确的电子邮箱地址"));
    let r = ask_to_bind(&app, &c, "zs2026@stu.demo.edu.cn").await;
    assert_eq!(location(&r), "/security");
    let link = mailed_link(&app, &mailbox, port, "zs2026@stu.demo.edu.cn").await;
    // Asking again voids the earlier link: only the newest works.
    ask_to_bind(&app, &c, "zs2026@stu.demo.edu.cn").await;
    let newer = mailed_link(&app, &mailbox, port, "zs2026@stu.demo.edu.cn").await;
    assert_ne!(newer, link);
    let stale = app.get(&link).await.text().await.unwrap();
    assert!(stale.contains("链接已失效"));
    let link = newer;
    let other = new_client();
    let page = app.get_with(&other, &link).await.text().await.unwrap();
    assert!(page.contains("绑定安全邮箱") && page.contains("z***@stu.demo.edu.cn"));
    let email: String = sqlx::query_scalar("SELECT email FROM users WHERE account = 'S2024001'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        email, "zhangsan@stu.demo.edu.cn",
        "opening the link alone changes nothing"
    );
    let r = app.submit(&other, &link, &link, &[]).await;
    assert_eq!(location(&r), "/security");
    let email: String = sqlx::query_scalar("SELECT email FROM users WHERE account = 'S2024001'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(email, "zs2026@stu.demo.edu.cn");
    // 安全提醒 to the address that was replaced.
    let alerts = security_alerts(&app, &mailbox, port, "zhangsan@stu.demo.edu.cn").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        !alerts[0].contains("S2024001")
            && alerts[0].contains("您的账号于")
            && alerts[0].contains("将安全邮箱更换为 z***@stu.demo.edu.cn"),
        "{}",
        alerts[0]
    );
    // Once only.
    let page = app.get_with(&other, &link).await.text().await.unwrap();
    assert!(page.contains("链接已失效"));
    // The old phone is gone: the 安全邮箱 proves it is me, then the new phone step follows.
    let r = app
        .submit(&c, "/security/phone", "/security/phone/email", &[])
        .await;
    assert_eq!(location(&r), "/security/phone");
    let link = mailed_link(&app, &mailbox, port, "zs2026@stu.demo.edu.cn").await;
    let r = app.submit(&c, &link, &link, &[]).await;
    assert_eq!(location(&r), "/security/phone");
    let page = app
        .get_with(&c, "/security/phone")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("第二步"), "{page}");
    // 忘记密码 by 安全邮箱 instead of SMS.
    let v = new_client();
    let r = app
        .submit(
            &v,
            "/recover",
            "/recover",
            &[
                ("account", "S2024001"),
                ("name", "张三"),
                ("id_card", "110108200609012342"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/recover/verify");
    let r = app
        .submit(&v, "/recover/verify", "/recover/verify/email", &[])
        .await;
    assert_eq!(location(&r), "/recover/verify");
    let link = mailed_link(&app, &mailbox, port, "zs2026@stu.demo.edu.cn").await;
    let r = app.submit(&v, &link, &link, &[]).await;
    assert_eq!(location(&r), "/recover/password");
    let r = app
        .submit(
            &v,
            "/recover/password",
            "/recover/password",
            &[
                ("new_password", "Ke9!mZ4#rTw2"),
                ("confirm", "Ke9!mZ4#rTw2"),
            ],
        )
        .await;
    assert!(r.text().await.unwrap().contains("密码已重置"));
    assert_eq!(
        app.signed_in_as(&c).await,
        None,
        "every other session ended"
    );
    let alerts = security_alerts(&app, &mailbox, port, "zs2026@stu.demo.edu.cn").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("通过“找回密码”重置了登录密码"));
}

/// Runs the outside delivery, then the decoded bodies of the 安全提醒 mails sent to `to`.
async fn security_alerts(app: &TestApp, mailbox: &Mailbox, port: u16, to: &str) -> Vec<String> {
    deliver_mail(app, port).await;
    let mails = mailbox.mails.lock().unwrap();
    mails
        .iter()
        .filter(|(_, rcpt, _)| rcpt.contains(&format!("<{to}>")))
        .map(|(_, _, data)| decode_body(data))
        .filter(|body| body.contains("如非本人操作"))
        .collect()
}

#[tokio::test]
async fn someone_without_a_phone_recovers_by_security_email() {
    let (mailbox, port) = smtp_server().await;
    let app = spawn_app_with(move |s| s.smtp = Some(local_smtp(port))).await;
    sqlx::query("UPDATE users SET email = 'zhaomin@demo.edu.cn' WHERE account = 'T2003'")
        .execute(&app.db)
        .await
        .unwrap();
    let v = new_client();
    let r = app
        .submit(
            &v,
            "/recover",
            "/recover",
            &[
                ("account", "T2003"),
                ("name", "赵敏"),
                ("id_card", "620102198503151004"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/recover/verify");
    let page = app
        .get_with(&v, "/recover/verify")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("****"), "a masked number, as for anyone");
    let r = app
        .submit(&v, "/recover/verify", "/recover/verify/email", &[])
        .await;
    assert_eq!(location(&r), "/recover/verify");
    let link = mailed_link(&app, &mailbox, port, "zhaomin@demo.edu.cn").await;
    let r = app.submit(&v, &link, &link, &[]).await;
    assert_eq!(location(&r), "/recover/password");
    let r = app
        .submit(
            &v,
            "/recover/password",
            "/recover/password",
            &[
                ("new_password", "Qt5%nWz8!hBc"),
                ("confirm", "Qt5%nWz8!hBc"),
            ],
        )
        .await;
    assert!(r.text().await.unwrap().contains("密码已重置"));
    let must_change: bool =
        sqlx::query_scalar("SELECT must_change_password FROM users WHERE account = 'T2003'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!must_change, "a chosen password, not the initial one");
}

/// A first 安全邮箱 can recover the account, so the phone hears of it (an SMS queued to
/// the number on file, in the binding's transaction).
#[tokio::test]
async fn a_first_security_email_is_told_to_the_phone() {
    let (mailbox, port) = smtp_server().await;
    let app = spawn_app_with(move |s| {
        s.smtp = Some(local_smtp(port));
        s.sms = Some(service_hall::config::SmsConfig::Log);
    })
    .await;
    sqlx::query("UPDATE users SET email = NULL WHERE account = 'S2024001'")
        .execute(&app.db)
        .await
        .unwrap();
    let c = signed_in(&app, "S2024001").await;
    let r = ask_to_bind(&app, &c, "zs-new@stu.demo.edu.cn").await;
    assert_eq!(location(&r), "/security");
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'security'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(none, 0, "asking for the link changes nothing yet");
    let link = mailed_link(&app, &mailbox, port, "zs-new@stu.demo.edu.cn").await;
    let r = app.submit(&c, &link, &link, &[]).await;
    assert_eq!(location(&r), "/security");
    let sms: Vec<(String, String)> = sqlx::query_as(
        "SELECT payload->>'phone', payload->>'text' FROM outbox
         WHERE kind = 'security' AND channel = 'sms'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0].0, "13800138000");
    assert!(
        sms[0].1.contains("绑定了安全邮箱 z***@stu.demo.edu.cn"),
        "{}",
        sms[0].1
    );
    // No e-mail copy: there was no address before this one.
    let mails: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE kind = 'security' AND channel = 'email'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(mails, 0);
}
