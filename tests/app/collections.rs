//! 填报任务: a task to 200 people through real HTTP — the settings' checks, publishing to
//! the group, filling (draft, validation, edits), completion counts by department,
//! reminders before the close, 一键催办 once a day (also when clicked twice at once),
//! 部门负责人 confirmation in their departments only, CSV / XLSX export, 逾期 after the
//! close, and 404 for everyone outside.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Client;
use service_hall::clock::Clock;

use crate::{forms::user, helpers::*};

const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

fn local(d: DateTime<Utc>) -> String {
    d.with_timezone(&TZ).format("%Y-%m-%dT%H:%M").to_string()
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

/// Two departments (甲 with a sub-department holding its people, 乙), 120 + 80 students who
/// can sign in with the demo password, and T2002 as 部门负责人 of 甲. Returns (甲, 乙).
async fn people(app: &TestApp) -> (i64, i64) {
    let dept = |code: &'static str, name: &'static str, parent: Option<i64>| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO departments (parent_id, code, name, kind)
                 VALUES (COALESCE($1, (SELECT id FROM departments WHERE parent_id IS NULL LIMIT 1)), $2, $3,
                         CASE WHEN $1::bigint IS NULL THEN 'college' ELSE 'section' END)
                 RETURNING id",
            )
            .bind(parent)
            .bind(code)
            .bind(name)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    let a = dept("TJA", "填报甲院", None).await;
    let a1 = dept("TJA1", "填报甲院一系", Some(a)).await;
    let b = dept("TJB", "填报乙院", None).await;
    sqlx::query(
        "INSERT INTO users (account, name, user_type, department_id, phone, status, password_hash)
         SELECT 'C' || lpad(i::text, 4, '0'), '填报人' || i, 'student',
                CASE WHEN i <= 120 THEN $1 ELSE $2 END, '1390000' || lpad(i::text, 4, '0'), 'active',
                (SELECT password_hash FROM users WHERE account = 'S2024001')
         FROM generate_series(1, 200) i",
    )
    .bind(a1)
    .bind(b)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO user_roles (user_id, role_id, department_id)
         SELECT u.id, r.id, $1 FROM users u, roles r WHERE u.account = 'T2002' AND r.code = 'dept_head'",
    )
    .bind(a)
    .execute(&app.db)
    .await
    .unwrap();
    (a, b)
}

const FORM: &str = r#"{"fields": [
    {"key": "mobile", "type": "phone", "label": "联系电话", "required": true},
    {"key": "nights", "type": "number", "label": "住宿天数", "min": 0, "max": 10},
    {"key": "family", "type": "table", "label": "家庭成员", "columns": [
        {"key": "who", "type": "text", "label": "姓名"},
        {"key": "rel", "type": "text", "label": "关系"}]}
]}"#;

async fn post(
    app: &TestApp,
    c: &Client,
    page: &str,
    action: &str,
    f: &[(&str, &str)],
) -> reqwest::Response {
    let r = app.get_with(c, page).await;
    let status = r.status();
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"_csrf\""), "{page}: {status} {html}");
    app.submit(c, page, action, f).await
}

/// The demo's own 填报任务 (`demo/collections.toml`) and its notices removed, so each test
/// counts only the tasks it makes.
pub async fn without_demo_tasks(app: &TestApp) {
    sqlx::query("DELETE FROM outbox WHERE kind LIKE 'collect%'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM collections")
        .execute(&app.db)
        .await
        .unwrap();
}

async fn outbox(app: &TestApp, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = $1")
        .bind(kind)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_task_to_200_people_from_settings_to_export() {
    let app = spawn_app().await;
    without_demo_tasks(&app).await;
    let (a, b) = people(&app).await;
    let mut owner = signed_in(&app, "T4402").await; // 服务管理员
    let now = app.clock.now();
    let opens = local(now - chrono::Duration::hours(1));
    let closes_at = now + chrono::Duration::days(5);
    let closes = local(closes_at);
    let (a_s, b_s) = (a.to_string(), b.to_string());

    // Bad input: messages next to the fields, what was typed kept, nothing saved.
    let r = post(
        &app,
        &owner,
        "/admin/collections/new",
        "/admin/collections",
        &[
            ("title", ""),
            ("explanation", "说明保留"),
            ("opens_at", &closes),
            ("closes_at", &opens),
            ("accounts", "NOPE123\nT2101"),
            ("remind_days", "3,x"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    for m in [
        "请填写标题",
        "截止时间须晚于开始时间",
        "以下账号不存在：NOPE123",
        "提醒天数为 1 到 30",
    ] {
        assert!(html.contains(m), "{m}");
    }
    assert!(html.contains("说明保留") && html.contains("T2101"));
    assert_eq!(scalar(&app, "SELECT count(*) FROM collections").await, 0);

    // Students of 甲 (through its sub-department) and 乙, plus one teacher by account.
    let r = post(
        &app,
        &owner,
        "/admin/collections/new",
        "/admin/collections",
        &[
            ("title", "2026 年寒假留校登记"),
            ("explanation", "请如实填写。"),
            ("dept", &a_s),
            ("dept", &b_s),
            ("kind", "student"),
            ("accounts", "T2101"),
            ("opens_at", &opens),
            ("closes_at", &closes),
            ("editable", "1"),
            ("needs_confirmation", "1"),
            ("remind_days", "3,1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let id: i64 = scalar(&app, "SELECT max(id) FROM collections").await;
    assert_eq!(location(&r), format!("/admin/collections/{id}/form"));
    assert_eq!(app.audit_count("collection.create", "success").await, 1);

    // Publishing needs a form; then the group is fixed and told.
    let settings = format!("/admin/collections/{id}");
    let html = app.get_with(&owner, &settings).await.text().await.unwrap();
    assert!(html.contains("按当前设置共 201 人"), "{html}");
    let rev = |html: &str| {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse("input[name=revision]").unwrap();
        doc.select(&sel)
            .next()
            .unwrap()
            .value()
            .attr("value")
            .unwrap()
            .to_owned()
    };
    let r = post(
        &app,
        &owner,
        &settings,
        &format!("{settings}/publish"),
        &[("revision", &rev(&html))],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM collection_members").await,
        0
    );
    sqlx::query("UPDATE collections SET form = $1::jsonb, revision = revision + 1")
        .bind(FORM)
        .execute(&app.db)
        .await
        .unwrap();
    let html = app.get_with(&owner, &settings).await.text().await.unwrap();
    let r = post(
        &app,
        &owner,
        &settings,
        &format!("{settings}/publish"),
        &[("revision", &rev(&html))],
    )
    .await;
    assert_eq!(location(&r), format!("/collect/{id}/responses"));
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM collection_members").await,
        201
    );
    assert_eq!(outbox(&app, "collect_open").await, 201);

    // Outside the group, or not the owner: 404.
    let student = signed_in(&app, "S2024001").await;
    assert_eq!(
        app.get_with(&student, &format!("/collect/{id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_with(&student, &format!("/collect/{id}/responses"))
            .await
            .status(),
        404
    );
    let other_admin = signed_in(&app, "T4401").await;
    assert_eq!(app.get_with(&other_admin, &settings).await.status(), 404);
    assert_eq!(
        app.get_with(&other_admin, &format!("/collect/{id}/responses"))
            .await
            .status(),
        404
    );

    // A member: the tab, a draft, a refused 提交 keeping the input, then 提交 and an edit.
    let m1 = signed_in(&app, "C0001").await;
    let tab = app
        .get_with(&m1, "/center/collect")
        .await
        .text()
        .await
        .unwrap();
    assert!(tab.contains("2026 年寒假留校登记") && tab.contains("未填"));
    // The tab counts the open tasks that wait for me.
    assert!(
        tab.contains("填报任务 <span class=\"nav-badge\">1</span>"),
        "the tab's count"
    );
    let fill = format!("/collect/{id}");
    let r = post(
        &app,
        &m1,
        &fill,
        &fill,
        &[("version", "0"), ("intent", "draft"), ("f.mobile", "139")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(member_state(&app, id, "C0001").await, "draft");
    let r = post(
        &app,
        &m1,
        &fill,
        &fill,
        &[("version", "1"), ("f.mobile", "139"), ("f.nights", "12")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("field-error") && html.contains("value=\"12\""),
        "{html}"
    );
    assert_eq!(member_state(&app, id, "C0001").await, "draft");
    let r = post(
        &app,
        &m1,
        &fill,
        &fill,
        &[
            ("version", "1"),
            ("f.mobile", "13912345678"),
            ("f.nights", "3"),
            ("f.family.0.who", "张父"),
            ("f.family.0.rel", "父亲"),
            ("f.family.1.who", "李母"),
            ("f.family.1.rel", "母亲"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(member_state(&app, id, "C0001").await, "submitted");
    let r = post(
        &app,
        &m1,
        &fill,
        &fill,
        &[
            ("version", "2"),
            ("f.mobile", "13912345679"),
            ("f.nights", "4"),
            ("f.family.0.who", "张父"),
            ("f.family.0.rel", "父亲"),
            ("f.family.1.who", "李母"),
            ("f.family.1.rel", "母亲"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    // A stale version is refused, nothing applied twice.
    let r = post(
        &app,
        &m1,
        &fill,
        &fill,
        &[("version", "2"), ("f.mobile", "13900000000")],
    )
    .await;
    assert_eq!(r.status(), 409);
    let nights: String = sqlx::query_scalar(
        "SELECT m.data->>'nights' FROM collection_members m JOIN users u ON u.id = m.user_id WHERE u.account = 'C0001'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(nights, "4");

    // 149 more fill (100 of 甲, 49 of 乙), directly.
    sqlx::query(
        "UPDATE collection_members m SET state = 'submitted', submitted_at = now(), version = 1,
                data = '{\"mobile\": \"13800000000\", \"nights\": 1}'
         FROM users u WHERE u.id = m.user_id
           AND (u.account BETWEEN 'C0002' AND 'C0101' OR u.account BETWEEN 'C0121' AND 'C0169')",
    )
    .execute(&app.db)
    .await
    .unwrap();

    // Completion: totals and by department; the owner sees everyone.
    let progress = format!("/collect/{id}/responses");
    let html = app.get_with(&owner, &progress).await.text().await.unwrap();
    let totals = texts_of_class(&html, "stat");
    assert_eq!(
        totals,
        ["应填201", "已填150", "已确认0", "未填51"],
        "{totals:?}"
    );
    let rows = table_rows(&html, "stats-table");
    assert!(
        rows.contains(&strs(&["填报甲院一系", "120", "101", "0", "19", "84%"])),
        "{rows:?}"
    );
    assert!(
        rows.contains(&strs(&["填报乙院", "80", "49", "0", "31", "61%"])),
        "{rows:?}"
    );
    let html = app
        .get_with(&owner, &format!("{progress}?status=pending&dept="))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("共 51 人"));

    // Reminders: 3 days before the close, to the 51 who have not filled; once.
    app.clock.advance(Duration::from_secs(2 * 86400 + 3600));
    let remind = || service_hall::collect::reminders::remind_before_close(&app.db, app.clock.now());
    assert_eq!(remind().await.unwrap(), 51);
    assert_eq!(remind().await.unwrap(), 0);
    assert_eq!(outbox(&app, "collect_reminder").await, 51);
    // Sessions ran out while the clock moved on.
    owner = signed_in(&app, "T4402").await;

    // 一键催办: twice at once still urges each person once; again the same day, nobody.
    let urge = format!("/collect/{id}/urge");
    let (r1, r2) = tokio::join!(
        post(&app, &owner, &progress, &urge, &[]),
        post(&app, &owner, &progress, &urge, &[]),
    );
    assert_eq!(
        (r1.status(), r2.status()),
        (303.try_into().unwrap(), 303.try_into().unwrap())
    );
    assert_eq!(outbox(&app, "collect_urge").await, 51);
    post(&app, &owner, &progress, &format!("/collect/{id}/urge"), &[]).await;
    assert_eq!(outbox(&app, "collect_urge").await, 51);
    app.clock.advance(Duration::from_secs(86400));
    owner = signed_in(&app, "T4402").await;
    post(&app, &owner, &progress, &format!("/collect/{id}/urge"), &[]).await;
    assert_eq!(outbox(&app, "collect_urge").await, 102);
    // The 1-day reminder, a day later.
    app.clock.advance(Duration::from_secs(86400));
    assert_eq!(remind().await.unwrap(), 51);

    owner = signed_in(&app, "T4402").await;
    // The 部门负责人 of 甲 sees 甲's people only, confirms there, not in 乙, cannot urge.
    let head = signed_in(&app, "T2002").await;
    let html = app.get_with(&head, &progress).await.text().await.unwrap();
    assert_eq!(
        texts_of_class(&html, "stat"),
        ["应填120", "已填101", "已确认0", "未填19"]
    );
    assert!(!html.contains("一键催办"));
    let c1 = user(&app, "C0001").await.to_string();
    let c121 = user(&app, "C0121").await.to_string();
    post(
        &app,
        &head,
        &progress,
        &format!("/collect/{id}/confirm"),
        &[("user", &c1)],
    )
    .await;
    post(
        &app,
        &head,
        &progress,
        &format!("/collect/{id}/confirm"),
        &[("user", &c121)],
    )
    .await;
    assert_eq!(member_state(&app, id, "C0001").await, "confirmed");
    assert_eq!(member_state(&app, id, "C0121").await, "submitted");
    let r = post(&app, &head, &progress, &format!("/collect/{id}/urge"), &[]).await;
    assert_eq!(r.status(), 404);
    let m1 = signed_in(&app, "C0001").await;
    let tab = app
        .get_with(&m1, "/center/collect")
        .await
        .text()
        .await
        .unwrap();
    assert!(tab.contains("已确认"));
    assert!(
        !tab.contains("填报任务 <span class=\"nav-badge\">"),
        "nothing waits"
    );

    // Export: every member, the sub-table spread over columns.
    let csv = app
        .get_with(&owner, &format!("{progress}?export=csv"))
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 202);
    assert!(lines[0].starts_with("账号,姓名,部门,状态,提交时间,确认,联系电话,住宿天数,家庭成员1·姓名,家庭成员1·关系,家庭成员2·姓名,家庭成员2·关系"), "{}", lines[0]);
    let c1_line = lines.iter().find(|l| l.starts_with("C0001,")).unwrap();
    assert!(
        c1_line.contains("已确认") && c1_line.contains("13912345679,4,张父,父亲,李母,母亲"),
        "{c1_line}"
    );
    let bytes = app
        .get_with(&owner, &format!("{progress}?export=xlsx&status=pending"))
        .await
        .bytes()
        .await
        .unwrap();
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(sheet.rows().count(), 1 + 51);
    assert_eq!(
        app.get_with(&owner, &format!("{progress}?export=pdf"))
            .await
            .status(),
        400
    );
    let head_csv = app
        .get_with(&head, &format!("{progress}?export=csv"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(head_csv.lines().count(), 121);

    // After the close: 逾期, no more filling or editing.
    app.clock.advance(Duration::from_secs(86400));
    let late = signed_in(&app, "C0110").await;
    let m1 = signed_in(&app, "C0001").await;
    let owner = signed_in(&app, "T4402").await;
    let html = app
        .get_with(&late, &format!("/collect/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("逾期") && html.contains("填报已截止"));
    post(
        &app,
        &late,
        &fill,
        &fill,
        &[("version", "0"), ("f.mobile", "13912345678")],
    )
    .await;
    assert_eq!(member_state(&app, id, "C0110").await, "pending");
    post(
        &app,
        &m1,
        &fill,
        &fill,
        &[("version", "3"), ("f.mobile", "13912345670")],
    )
    .await;
    assert_eq!(member_state(&app, id, "C0001").await, "confirmed");
    let html = app.get_with(&owner, &progress).await.text().await.unwrap();
    assert!(texts_of_class(&html, "stat").contains(&"逾期51".to_owned()));
}

fn strs(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| (*x).to_owned()).collect()
}

/// The cells of the rows of the table with class `cls`.
fn table_rows(html: &str, cls: &str) -> Vec<Vec<String>> {
    let doc = scraper::Html::parse_document(html);
    let rows = scraper::Selector::parse(&format!("table.{cls} tbody tr")).unwrap();
    let cell = scraper::Selector::parse("td").unwrap();
    doc.select(&rows)
        .map(|r| {
            r.select(&cell)
                .map(|c| c.text().collect::<String>().trim().to_owned())
                .collect()
        })
        .collect()
}

async fn member_state(app: &TestApp, id: i64, account: &str) -> String {
    sqlx::query_scalar(
        "SELECT m.state FROM collection_members m JOIN users u ON u.id = m.user_id
         WHERE m.collection_id = $1 AND u.account = $2",
    )
    .bind(id)
    .bind(account)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// Late filling where allowed: after the close a member who has not filled may still, and
/// is marked 补填; a task not yet published is nobody's to see but its owner's.
#[tokio::test]
async fn late_filling_where_allowed_and_unpublished_tasks_stay_hidden() {
    let app = spawn_app().await;
    without_demo_tasks(&app).await;
    let owner = signed_in(&app, "admin").await;
    let now = app.clock.now();
    let r = post(
        &app,
        &owner,
        "/admin/collections/new",
        "/admin/collections",
        &[
            ("title", "补填测试"),
            ("accounts", "S2024001"),
            ("opens_at", &local(now - chrono::Duration::hours(2))),
            ("closes_at", &local(now + chrono::Duration::hours(1))),
            ("late_allowed", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let id: i64 = scalar(&app, "SELECT max(id) FROM collections").await;
    sqlx::query("UPDATE collections SET form = $1::jsonb")
        .bind(FORM)
        .execute(&app.db)
        .await
        .unwrap();
    let student = signed_in(&app, "S2024001").await;
    assert_eq!(
        app.get_with(&student, &format!("/collect/{id}"))
            .await
            .status(),
        404
    );
    let html = app
        .get_with(&owner, &format!("/admin/collections/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let token = csrf_from(&html);
    let revision: String = scalar(&app, "SELECT revision::bigint FROM collections")
        .await
        .to_string();
    let r = owner
        .post(app.url(&format!("/admin/collections/{id}/publish")))
        .form(&[("revision", revision.as_str()), ("_csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    app.clock.advance(Duration::from_secs(2 * 3600));
    let student = signed_in(&app, "S2024001").await;
    let owner = signed_in(&app, "admin").await;
    let fill = format!("/collect/{id}");
    let r = post(
        &app,
        &student,
        &fill,
        &fill,
        &[("version", "0"), ("f.mobile", "13912345678")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (state, late): (String, bool) =
        sqlx::query_as("SELECT state, late FROM collection_members WHERE collection_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((state.as_str(), late), ("submitted", true));
    let html = app.get_with(&student, &fill).await.text().await.unwrap();
    assert!(html.contains("截止后补填") && html.contains("填报已截止，不能再修改"));
    // A group by role: everyone holding it, counted before publishing.
    let r = post(
        &app,
        &owner,
        "/admin/collections/new",
        "/admin/collections",
        &[
            ("title", "负责人调查"),
            ("role", "dept_head"),
            ("opens_at", &local(app.clock.now())),
            (
                "closes_at",
                &local(app.clock.now() + chrono::Duration::days(1)),
            ),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let heads = scalar(&app, "SELECT count(DISTINCT ur.user_id) FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE r.code = 'dept_head'").await;
    assert!(heads > 0);
    let second: i64 = scalar(&app, "SELECT max(id) FROM collections").await;
    let html = app
        .get_with(&owner, &format!("/admin/collections/{second}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("按当前设置共 {heads} 人")),
        "{heads}"
    );
    // Deleting is only for unpublished tasks.
    let r = post(
        &app,
        &owner,
        &format!("/admin/collections/{id}"),
        &format!("/admin/collections/{id}/delete"),
        &[],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(scalar(&app, "SELECT count(*) FROM collections").await, 2);
    let r = post(
        &app,
        &owner,
        &format!("/admin/collections/{second}"),
        &format!("/admin/collections/{second}/delete"),
        &[],
    )
    .await;
    assert_eq!(location(&r), "/admin/collections");
    assert_eq!(scalar(&app, "SELECT count(*) FROM collections").await, 1);
    assert_eq!(app.audit_count("collection.delete", "success").await, 1);
}

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 1, 2, 3,
    4,
];

/// Files in responses: uploaded with the form, removed by ticking, downloaded by the person
/// and the owner only, and all of them in one ZIP by person.
#[tokio::test]
async fn response_files_download_only_for_those_who_see_them_and_zip_by_person() {
    use reqwest::multipart::{Form, Part};
    let app = spawn_app().await;
    without_demo_tasks(&app).await;
    let owner = signed_in(&app, "admin").await;
    let now = app.clock.now();
    let r = post(
        &app,
        &owner,
        "/admin/collections/new",
        "/admin/collections",
        &[
            ("title", "材料收集"),
            ("accounts", "S2024001, T2101"),
            ("opens_at", &local(now - chrono::Duration::hours(1))),
            ("closes_at", &local(now + chrono::Duration::days(3))),
            ("editable", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let id: i64 = scalar(&app, "SELECT max(id) FROM collections").await;
    sqlx::query(
        r#"UPDATE collections SET form = '{"fields": [
            {"key": "note", "type": "text", "label": "说明"},
            {"key": "proof", "type": "attachments", "label": "证明材料", "required": true}]}',
           published_at = now()"#,
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO collection_members (collection_id, user_id, department_id)
         SELECT $1, id, department_id FROM users WHERE account IN ('S2024001', 'T2101')",
    )
    .bind(id)
    .execute(&app.db)
    .await
    .unwrap();
    let student = signed_in(&app, "S2024001").await;
    let fill = format!("/collect/{id}");
    let send =
        |c: Client, fields: Vec<(&'static str, String)>, file: Option<(&'static str, Vec<u8>)>| {
            let app = &app;
            let fill = fill.clone();
            async move {
                let html = app.get_with(&c, &fill).await.text().await.unwrap();
                let token = csrf_from(&html);
                let mut form = Form::new();
                for (k, v) in fields {
                    form = form.text(k, v);
                }
                if let Some((name, data)) = file {
                    form = form.part("file.proof", Part::bytes(data).file_name(name));
                }
                c.post(app.url(&format!("{fill}?_csrf={token}")))
                    .multipart(form)
                    .send()
                    .await
                    .unwrap()
            }
        };
    // 提交 without the required file: refused, nothing saved.
    let r = send(
        student.clone(),
        vec![("version", "0".into()), ("f.note", "见附件".into())],
        None,
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("见附件"));
    // A file that is not what its name says is refused next to the field.
    let r = send(
        student.clone(),
        vec![("version", "0".into()), ("intent", "draft".into())],
        Some(("a.png", b"not a png".to_vec())),
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM collection_files").await,
        0
    );
    // The draft with a file, then a second file and the first removed, then 提交.
    let r = send(
        student.clone(),
        vec![("version", "1".into()), ("intent", "draft".into())],
        Some(("first.png", PNG.to_vec())),
    )
    .await;
    assert_eq!(r.status(), 303);
    let first: i64 = scalar(&app, "SELECT max(id) FROM collection_files").await;
    let r = send(
        student.clone(),
        vec![
            ("version", "2".into()),
            ("f.note", "见附件".into()),
            ("remove", first.to_string()),
        ],
        Some(("proof.png", PNG.to_vec())),
    )
    .await;
    assert_eq!(r.status(), 303);
    let (files, state): (i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM collection_files), (SELECT state FROM collection_members m JOIN users u ON u.id = m.user_id WHERE u.account = 'S2024001')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((files, state.as_str()), (1, "submitted"));
    let file: i64 = scalar(&app, "SELECT max(id) FROM collection_files").await;
    let html = app.get_with(&student, &fill).await.text().await.unwrap();
    assert!(html.contains(&format!("/collect/files/{file}")) && html.contains("proof.png"));

    // Who downloads: the person and the owner; another member and anyone else get 404.
    for (c, status) in [(&student, 200), (&owner, 200)] {
        let r = app.get_with(c, &format!("/collect/files/{file}")).await;
        assert_eq!(r.status(), status);
        assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    }
    let teacher = signed_in(&app, "T2101").await;
    assert_eq!(
        app.get_with(&teacher, &format!("/collect/files/{file}"))
            .await
            .status(),
        404
    );
    let other = signed_in(&app, "T4401").await;
    assert_eq!(
        app.get_with(&other, &format!("/collect/files/{file}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_with(&other, &format!("/collect/{id}/responses?export=zip"))
            .await
            .status(),
        404
    );

    // The table names the file; the ZIP holds it under the person's folder.
    let csv = app
        .get_with(&owner, &format!("/collect/{id}/responses?export=csv"))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("见附件,proof.png"), "{csv}");
    let r = app
        .get_with(&owner, &format!("/collect/{id}/responses?export=zip"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let bytes = r.bytes().await.unwrap();
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(z.len(), 1);
    let name = z.by_index(0).unwrap().name().unwrap().to_string();
    assert!(
        name.ends_with("/S2024001-张三/证明材料-proof.png"),
        "{name}"
    );
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut z.by_index(0).unwrap(), &mut data).unwrap();
    assert_eq!(data, PNG);
}

/// 更新名单: people who match the group after 发布 are added and told, once, also when two
/// refreshes run at once; nobody is removed; only those who manage the task may do it.
#[tokio::test]
async fn the_group_is_resolved_again_while_the_task_is_open() {
    let app = spawn_app().await;
    without_demo_tasks(&app).await;
    let (_, b) = people(&app).await;
    let owner = signed_in(&app, "admin").await;
    let now = app.clock.now();
    let b_s = b.to_string();
    let r = post(
        &app,
        &owner,
        "/admin/collections/new",
        "/admin/collections",
        &[
            ("title", "乙院名单测试"),
            ("dept", &b_s),
            ("opens_at", &local(now - chrono::Duration::hours(1))),
            ("closes_at", &local(now + chrono::Duration::days(3))),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let id: i64 = scalar(&app, "SELECT max(id) FROM collections").await;
    sqlx::query("UPDATE collections SET form = $1::jsonb")
        .bind(FORM)
        .execute(&app.db)
        .await
        .unwrap();
    let revision = scalar(&app, "SELECT revision::bigint FROM collections")
        .await
        .to_string();
    let r = post(
        &app,
        &owner,
        &format!("/admin/collections/{id}"),
        &format!("/admin/collections/{id}/publish"),
        &[("revision", revision.as_str())],
    )
    .await;
    assert_eq!(r.status(), 303);
    let members = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM collection_members WHERE collection_id = $1",
            )
            .bind(id)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    assert_eq!(members(&app).await, 80);
    let told = outbox(&app, "collect_open").await;
    assert_eq!(told, 80);

    // C0001 moves to 乙院, C0121 leaves it.
    sqlx::query(
        "UPDATE users SET department_id = CASE account WHEN 'C0001' THEN $1
                          ELSE (SELECT id FROM departments WHERE code = 'TJA1') END
          WHERE account IN ('C0001', 'C0121')",
    )
    .bind(b)
    .execute(&app.db)
    .await
    .unwrap();
    let progress = format!("/collect/{id}/responses");
    let refresh = format!("/collect/{id}/members/refresh");
    // Not the owner's: 404, nothing added.
    let head = signed_in(&app, "T2002").await;
    let r = app.submit(&head, "/", &refresh, &[]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(members(&app).await, 80);

    let page = app.get_with(&owner, &progress).await.text().await.unwrap();
    assert!(page.contains("更新名单"));
    let r = app.submit(&owner, &progress, &refresh, &[]).await;
    assert_eq!(r.status(), 303);
    let page = app.get_with(&owner, &progress).await.text().await.unwrap();
    assert!(page.contains("新增 1 人"), "{page}");
    assert_eq!(members(&app).await, 81, "C0121 stays");
    assert_eq!(
        outbox(&app, "collect_open").await,
        told + 1,
        "only the new one is told"
    );
    let newcomer = signed_in(&app, "C0001").await;
    let tab = app
        .get_with(&newcomer, "/center/collect")
        .await
        .text()
        .await
        .unwrap();
    assert!(tab.contains("乙院名单测试"));

    // Two more join; two refreshes at once add each once.
    sqlx::query("UPDATE users SET department_id = $1 WHERE account IN ('C0002', 'C0003')")
        .bind(b)
        .execute(&app.db)
        .await
        .unwrap();
    let (r1, r2) = tokio::join!(
        app.submit(&owner, &progress, &refresh, &[]),
        app.submit(&owner, &progress, &refresh, &[])
    );
    assert_eq!((r1.status().as_u16(), r2.status().as_u16()), (303, 303));
    assert_eq!(members(&app).await, 83);
    assert_eq!(outbox(&app, "collect_open").await, told + 3);
    let r = app.submit(&owner, &progress, &refresh, &[]).await;
    assert_eq!(r.status(), 303);
    let page = app.get_with(&owner, &progress).await.text().await.unwrap();
    assert!(page.contains("名单已是最新"), "{page}");
    assert_eq!(
        app.audit_count("collection.members.refresh", "success")
            .await,
        4
    );
}

/// The demo's 填报任务 (`demo/collections.toml`) is published when seeding: 计算机学院's
/// students find it waiting in their tab; its owner follows it on 填报情况.
#[tokio::test]
async fn the_demo_task_waits_for_the_demo_students() {
    let app = spawn_app().await;
    let (id, members): (i64, i64) = sqlx::query_as(
        "SELECT c.id, (SELECT count(*) FROM collection_members m WHERE m.collection_id = c.id)
           FROM collections c WHERE c.title = '2027 年寒假留校住宿登记' AND c.published_at IS NOT NULL",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(members, 2, "计算机学院's two demo students");
    let student = signed_in(&app, "S2024001").await;
    let tab = app
        .get_with(&student, "/center/collect")
        .await
        .text()
        .await
        .unwrap();
    assert!(tab.contains("2027 年寒假留校住宿登记") && tab.contains("未填"));
    assert!(tab.contains("填报任务 <span class=\"nav-badge\">1</span>"));
    let form = app
        .get_with(&student, &format!("/collect/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("是否留校") && form.contains("S2024001"),
        "auto-filled"
    );
    let owner = signed_in(&app, "T4402").await;
    let progress = app
        .get_with(&owner, &format!("/collect/{id}/responses"))
        .await;
    assert_eq!(progress.status(), 200);
    // Someone outside the group: 404.
    let other = signed_in(&app, "T2002").await;
    assert_eq!(
        app.get_with(&other, &format!("/collect/{id}"))
            .await
            .status(),
        404
    );
}
