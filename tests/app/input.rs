//! Bad input and small protocol defects (issue 15): characters PostgreSQL or the pages
//! cannot take, oversized uploads, bidi tricks in file names, keep-alive after a
//! refusal, and acting where one has no task.

use reqwest::{
    Client,
    multipart::{Form, Part},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    forms::{act, apply_leave, leave_fields, service},
    helpers::*,
};

/// Unfit characters, percent-encoded as they travel: NUL, other C0 controls, DEL, a C1
/// control, the noncharacters U+FFFE/U+FFFF, and bytes that are not UTF-8 (a lone
/// surrogate in UTF-8 form, a stray byte, an overlong NUL).
const BAD: &[&str] = &[
    "%00",
    "%01",
    "%08",
    "%1B",
    "%7F",
    "%C2%85",
    "%EF%BF%BE",
    "%EF%BF%BF",
    "%ED%A0%80",
    "%FF",
    "%C0%80",
];

const MESSAGE: &str = "输入中含有无法处理的字符（如空字符），请删除后重试";

fn decode(enc: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = enc.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&enc[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// An urlencoded body from already-encoded pairs.
fn body(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn token(app: &TestApp, c: &Client, page: &str) -> String {
    csrf_from(&app.get_with(c, page).await.text().await.unwrap())
}

async fn post_raw(app: &TestApp, c: &Client, action: &str, body: String) -> reqwest::Response {
    c.post(app.url(action))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The refusal: 400, the styled page with the message and 返回修改.
async fn assert_refused(r: reqwest::Response, what: &str) {
    let status = r.status();
    let html = r.text().await.unwrap();
    assert_eq!(status, 400, "{what}: {html}");
    assert!(html.contains(MESSAGE), "{what}: {html}");
    assert!(html.contains("返回修改"), "{what}");
    assert!(html.contains("data-history-back"), "{what}");
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn unfit_characters_are_refused_everywhere_with_one_message() {
    let app = spawn_app().await;
    let visitor = new_client();
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let sid = service(&app, "XSQJ").await;
    let apply = format!("/services/{sid}/apply");
    let id = apply_leave(&app, &student, "1").await;
    let before = count(&app, "SELECT count(*) FROM applications").await;
    let flow = count(&app, "SELECT count(*) FROM flow_records").await;
    let fields = leave_fields(&app, "1").await;
    for bad in BAD {
        // GET query strings and path segments, signed out and signed in.
        for (who, c) in [("visitor", &visitor), ("student", &student)] {
            for path in [
                format!("/services?q=a{bad}b"),
                format!("/center?q=a{bad}b"),
                format!("/people?q=a{bad}b"),
                format!("/?q{bad}=1"),
                format!("/applications/{bad}"),
                format!("/services/1{bad}"),
            ] {
                let r = app.get_with(c, &path).await;
                assert_refused(r, &format!("{who} GET {path}")).await;
            }
        }
        // 登录, before sign-in.
        let t = token(&app, &visitor, "/login").await;
        let form = body(&[
            ("account", format!("S2024{bad}001")),
            ("password", enc(DEMO_PASSWORD)),
            ("_csrf", enc(&t)),
        ]);
        assert_refused(post_raw(&app, &visitor, "/login", form).await, "login").await;
        // 提交 and 存草稿, urlencoded and multipart.
        for intent in ["submit", "draft"] {
            let t = token(&app, &student, &apply).await;
            let mut pairs: Vec<(&str, String)> = fields
                .iter()
                .filter(|(k, _)| *k != "f.reason")
                .map(|(k, v)| (*k, enc(v)))
                .collect();
            pairs.push(("f.reason", format!("a{bad}b")));
            pairs.push(("intent", intent.into()));
            pairs.push(("_csrf", enc(&t)));
            let r = post_raw(&app, &student, &apply, body(&pairs)).await;
            assert_refused(r, &format!("{intent} {bad}")).await;
            let mut form = Form::new();
            for (k, v) in fields.iter().filter(|(k, _)| *k != "f.reason") {
                form = form.text(k.to_string(), v.clone());
            }
            let mut reason = b"a".to_vec();
            reason.extend(decode(bad));
            form = form
                .part("f.reason", Part::bytes(reason))
                .text("intent", intent);
            let r = student
                .post(app.url(&format!("{apply}?_csrf={}", enc(&t))))
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert_refused(r, &format!("multipart {intent} {bad}")).await;
        }
        // 审批意见 and 转办 to an account.
        let page = format!("/applications/{id}");
        let action = format!("{page}/act");
        let t = token(&app, &counselor, &page).await;
        for (op, extra) in [
            ("return", ("comment", format!("x{bad}y"))),
            ("transfer", ("account", format!("T2{bad}102"))),
        ] {
            let form = body(&[
                ("_csrf", enc(&t)),
                ("version", "1".into()),
                ("op", op.into()),
                ("node", "counselor".into()),
                extra,
            ]);
            let r = post_raw(&app, &counselor, &action, form).await;
            assert_refused(r, &format!("{op} {bad}")).await;
        }
    }
    // Nothing was written by any of them.
    assert_eq!(
        count(&app, "SELECT count(*) FROM applications").await,
        before
    );
    assert_eq!(count(&app, "SELECT count(*) FROM flow_records").await, flow);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM applications WHERE status = 'draft'"
        )
        .await,
        0
    );
    assert_eq!(app.audit_count("login", "failure").await, 0);
    // Tabs, line breaks and characters beyond the BMP still go through.
    let t = token(&app, &student, &apply).await;
    let mut pairs: Vec<(&str, String)> = fields
        .iter()
        .filter(|(k, _)| *k != "f.reason")
        .map(|(k, v)| (*k, enc(v)))
        .collect();
    pairs.push(("f.reason", enc("回家\t办理\r\n户籍迁移 😀")));
    pairs.push(("intent", "draft".into()));
    pairs.push(("_csrf", enc(&t)));
    let r = post_raw(&app, &student, &apply, body(&pairs)).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let r = app
        .get_with(&student, "/services?q=%E8%AF%B7%E5%81%87")
        .await;
    assert_eq!(r.status(), 200);
}

/// The multipart post the browser makes: token in the action URL.
async fn post_files(
    app: &TestApp,
    c: &Client,
    page: &str,
    fields: &[(&str, &str)],
    files: Vec<(&str, String, Vec<u8>)>,
) -> reqwest::Response {
    let html = app.get_with(c, page).await.text().await.unwrap();
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    for (field, name, data) in files {
        form = form.part(format!("file.{field}"), Part::bytes(data).file_name(name));
    }
    c.post(app.url(&format!("{page}?_csrf={}", enc(&csrf_from(&html)))))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 1, 2, 3,
    4,
];

async fn travel_page(app: &TestApp) -> String {
    format!("/services/{}/apply", service(app, "CGCJ").await)
}

#[tokio::test]
async fn an_upload_past_the_limit_is_413_saying_the_limit() {
    let app = spawn_app_with(|s| {
        s.upload_max_file = 1024 * 1024;
        s.upload_max_total = 1024 * 1024;
    })
    .await;
    let teacher = signed_in(&app, "T2002").await;
    let page = travel_page(&app).await;
    let mut huge = PNG.to_vec();
    huge.resize(4 * 1024 * 1024, 0);
    let r = post_files(
        &app,
        &teacher,
        &page,
        &[("intent", "draft")],
        vec![("files", "大.png".into(), huge)],
    )
    .await;
    assert_eq!(r.status(), 413);
    let html = r.text().await.unwrap();
    assert!(html.contains("内容过大"), "{html}");
    assert!(html.contains("总大小不能超过 1 MB"), "{html}");
    assert!(html.contains("返回修改"));
    assert_eq!(count(&app, "SELECT count(*) FROM applications").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM attachments").await, 0);
}

const BIDI: &[char] = &[
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
];

#[tokio::test]
async fn bidi_controls_are_stripped_from_file_names() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let page = travel_page(&app).await;
    // "邀请函" + U+202E + "fdp.png" shows as "邀请函gnp.pdf"; every other control rides along.
    let mut name = String::from("邀请函");
    for c in BIDI {
        name.push(*c);
    }
    name.push_str("\u{202E}fdp.png");
    let r = post_files(
        &app,
        &teacher,
        &page,
        &[("intent", "draft")],
        vec![("files", name, PNG.to_vec())],
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let (att, stored): (i64, String) = sqlx::query_as("SELECT id, file_name FROM attachments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, "邀请函fdp.png");
    let edit = location(&r);
    let html = app.get_with(&teacher, &edit).await.text().await.unwrap();
    assert!(html.contains("邀请函fdp.png"));
    assert!(!html.contains(BIDI), "no bidi control on the page");
    let r = app.get_with(&teacher, &format!("/attachments/{att}")).await;
    assert_eq!(r.status(), 200);
    let cd = r
        .headers()
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cd.starts_with("attachment;"), "{cd}");
    assert!(cd.ends_with("fdp.png"), "{cd}");
    for c in BIDI {
        let mut b = [0; 4];
        let encoded: String = enc(c.encode_utf8(&mut b));
        assert!(!cd.contains(&encoded), "{cd} has {encoded}");
    }
    // A name stored before the fix is sent without them too.
    sqlx::query("UPDATE attachments SET file_name = $1 WHERE id = $2")
        .bind("报告\u{202E}fdp.exe")
        .bind(att)
        .execute(&app.db)
        .await
        .unwrap();
    let r = app.get_with(&teacher, &format!("/attachments/{att}")).await;
    let cd = r.headers().get("content-disposition").unwrap();
    assert!(!cd.to_str().unwrap().contains("%E2%80%AE"), "{cd:?}");
}

/// One HTTP/1.1 response from a raw connection: status, headers (lowercased), body.
async fn read_response(s: &mut tokio::net::TcpStream) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status: u16 = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("a content-length");
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside a body");
        body.extend_from_slice(&chunk[..n]);
    }
    (status, head, body)
}

fn refused_post(app: &TestApp, body_len: usize) -> Vec<u8> {
    let host = app.address.trim_start_matches("http://");
    let mut req = format!(
        "POST /login HTTP/1.1\r\nHost: {host}\r\nOrigin: http://evil.example\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {body_len}\r\n\r\n"
    )
    .into_bytes();
    req.extend(std::iter::repeat_n(b'a', body_len));
    req
}

#[tokio::test]
async fn a_refused_request_leaves_the_connection_usable() {
    let app = spawn_app().await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    // Refused on its Origin, before its 20 KB body is read.
    s.write_all(&refused_post(&app, 20 * 1024)).await.unwrap();
    let (status, head, _) = read_response(&mut s).await;
    assert_eq!(status, 403);
    assert!(!head.contains("connection: close"), "{head}");
    // The next request on the same connection gets its answer.
    s.write_all(format!("GET /login HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (status, _, body) = read_response(&mut s).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("name=\"password\""));
    // A body that does not come in time (the client stalls) is given up on with
    // `Connection: close`, so the client knows to open a new connection.
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    let mut stalled = refused_post(&app, 512 * 1024);
    stalled.truncate(stalled.len() - 500 * 1024);
    s.write_all(&stalled).await.unwrap();
    let (status, head, _) = read_response(&mut s).await;
    assert_eq!(status, 403);
    assert!(head.contains("connection: close"), "{head}");
}

#[tokio::test]
async fn only_assignees_hear_already_handled() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let id = apply_leave(&app, &student, "1").await;
    // The applicant has no task at the node: refused as anyone without one.
    let r = act(&app, &student, id, "approve", "counselor", &[]).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("不是该环节的办理人"));
    let r = act(
        &app,
        &student,
        id,
        "return",
        "counselor",
        &[("comment", "x")],
    )
    .await;
    assert_eq!(r.status(), 403);
    // The counselor's task, once handled, is 已被处理.
    let counselor = signed_in(&app, "T2101").await;
    let r = act(&app, &counselor, id, "approve", "counselor", &[]).await;
    assert_eq!(r.status(), 303);
    let r = act(&app, &counselor, id, "approve", "counselor", &[]).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("已被处理"));
}
