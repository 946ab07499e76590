//! Filling in the standard forms and acting on applications, as the tests' people do.

use reqwest::Client;

use crate::helpers::*;

pub async fn id_of(app: &TestApp, sql: &str, key: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(key)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

pub async fn service(app: &TestApp, code: &str) -> i64 {
    id_of(app, "SELECT id FROM services WHERE code = $1", code).await
}

pub async fn user(app: &TestApp, account: &str) -> i64 {
    id_of(app, "SELECT id FROM users WHERE account = $1", account).await
}

/// GET the form, then POST it with `fields` (+ token, intent).
pub async fn post_form(
    app: &TestApp,
    c: &Client,
    page: &str,
    action: &str,
    intent: &str,
    fields: &[(&str, String)],
) -> reqwest::Response {
    let html = app.get_with(c, page).await.text().await.unwrap();
    let mut form: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    form.push(("_csrf".into(), csrf_from(&html)));
    form.push(("intent".into(), intent.into()));
    if let Some(v) = version_from(&html) {
        form.push(("version".into(), v));
    }
    c.post(app.url(action)).form(&form).send().await.unwrap()
}

pub fn version_from(html: &str) -> Option<String> {
    let marker = "name=\"version\" value=\"";
    let start = html.find(marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_owned())
}

/// The 学生请假 form: `days` decides whether the 副书记 comes in (over 3).
pub async fn leave_fields(app: &TestApp, days: &str) -> Vec<(&'static str, String)> {
    vec![
        ("f.phone", "13800138000".into()),
        ("f.kind", "事假".into()),
        ("f.period.from", "2026-12-01".into()),
        ("f.period.to", "2026-12-02".into()),
        ("f.days", days.into()),
        ("f.reason", "回家办理户籍迁移手续".into()),
        ("f.leave_campus", "是".into()),
        ("f.counselor", user(app, "T2101").await.to_string()),
    ]
}

/// Submits a 学生请假 as `student`; the new application's id.
pub async fn apply_leave(app: &TestApp, student: &Client, days: &str) -> i64 {
    let sid = service(app, "XSQJ").await;
    let page = format!("/services/{sid}/apply");
    let fields = leave_fields(app, days).await;
    let r = post_form(app, student, &page, &page, "submit", &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap()
}

/// POST an action on the application as `c`.
pub async fn act(
    app: &TestApp,
    c: &Client,
    id: i64,
    op: &str,
    node: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let html = app
        .get_with(c, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let mut form: Vec<(String, String)> = vec![
        ("_csrf".into(), csrf_from(&html)),
        (
            "version".into(),
            // Pages without any action form carry no version; the server decides.
            version_from(&html).unwrap_or_else(|| "0".into()),
        ),
        ("op".into(), op.into()),
        ("node".into(), node.into()),
    ];
    form.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    c.post(app.url(&format!("/applications/{id}/act")))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Publishes the service again, its form changed by `change`, as 系统管理员 through the
/// versions use case (save the working copy, then publish); the workflow as it was.
pub async fn republish_form(
    app: &TestApp,
    sid: i64,
    note: &str,
    change: impl FnOnce(&mut service_hall::forms::FormSchema),
) {
    use service_hall::{clock::Clock, workflow::usecase::versions as uc};
    let copy = uc::working_copy(&app.db, sid).await.unwrap();
    let mut form = copy.form.clone();
    change(&mut form);
    let admin = user(app, "admin").await;
    let rev = uc::save(
        &app.db,
        sid,
        &form,
        &copy.workflow,
        copy.base_number,
        copy.revision,
        admin,
        None,
        app.clock.now(),
    )
    .await
    .unwrap();
    uc::publish(&app.db, sid, rev, note, admin, None, app.clock.now())
        .await
        .unwrap();
}

/// GETs `page` for its token and one-time key, then POSTs `fields` with them twice to
/// `page` — one after the other, or at the same moment. Both must answer 303; where.
pub async fn post_twice(
    app: &TestApp,
    c: &Client,
    page: &str,
    fields: &[(String, String)],
    parallel: bool,
) -> (String, String) {
    let html = app.get_with(c, page).await.text().await.unwrap();
    let marker = "name=\"once\" value=\"";
    let at = html.find(marker).expect("a one-time key") + marker.len();
    let mut form = fields.to_vec();
    form.push(("_csrf".into(), csrf_from(&html)));
    form.push(("once".into(), html[at..at + 36].to_owned()));
    let send = || c.post(app.url(page)).form(&form).send();
    let (a, b) = if parallel {
        let (a, b) = tokio::join!(send(), send());
        (a.unwrap(), b.unwrap())
    } else {
        let a = send().await.unwrap();
        (a, send().await.unwrap())
    };
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (303, 303));
    (location(&a), location(&b))
}
