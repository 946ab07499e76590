use reqwest::Client;

use crate::{
    forms::{self, apply_leave},
    helpers::*,
};

async fn leave(app: &TestApp, student: &Client, days: &str) -> (i64, String) {
    let id = apply_leave(app, student, days).await;
    let serial: String = sqlx::query_scalar("SELECT serial_no FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    (id, serial)
}

async fn act(app: &TestApp, c: &Client, id: i64, op: &str, node: &str, extra: &[(&str, &str)]) {
    let r = forms::act(app, c, id, op, node, extra).await;
    assert_eq!(r.status(), 303);
}

fn items(html: &str) -> Vec<String> {
    texts_of_class(html, "item-list")
        .first()
        .map(|_| ())
        .map_or_else(Vec::new, |_| {
            let doc = scraper::Html::parse_document(html);
            let sel = scraper::Selector::parse(".item-list li").unwrap();
            doc.select(&sel)
                .map(|e| e.text().collect::<String>())
                .collect()
        })
}

#[tokio::test]
async fn todo_grouped_flat_overdue_and_the_header_badge() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let (a, _) = leave(&app, &student, "1").await;
    leave(&app, &student, "1").await;
    let (c, _) = leave(&app, &student, "1").await;
    act(&app, &counselor, c, "approve", "counselor", &[]).await;
    let home = app.get_with(&counselor, "/").await.text().await.unwrap();
    let badge = |sel: &str| {
        let doc = scraper::Html::parse_document(&home);
        let sel = scraper::Selector::parse(sel).unwrap();
        doc.select(&sel)
            .map(|e| e.text().collect::<String>())
            .collect::<Vec<_>>()
    };
    assert_eq!(badge(".main-nav .nav-badge"), vec!["2"], "two open tasks");
    // The three 待办 notices arrived with the tasks, in the same transaction; the one
    // whose application the counselor opened to approve it has been read there.
    assert_eq!(badge(".bell .nav-badge"), vec!["2"], "two unread messages");
    let notices: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
         WHERE u.account = 'T2101' AND m.kind = 'new_task'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(notices, 3);
    let grouped = app
        .get_with(&counselor, "/center/todo")
        .await
        .text()
        .await
        .unwrap();
    let doc = scraper::Html::parse_document(&grouped);
    let sel = scraper::Selector::parse(".group-table tbody tr td").unwrap();
    let cells: Vec<String> = doc
        .select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect();
    assert_eq!(cells[0], "学生请假");
    assert_eq!(
        &cells[2..],
        &["3", "2", "1", "2"],
        "全部 / 进行中 / 已办结 / 待我处理"
    );
    let flat = app
        .get_with(&counselor, "/center/todo?view=flat")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(items(&flat).len(), 2);
    assert!(!flat.contains("已超时"));
    // 学生请假's counselor step has a 24-hour limit.
    app.clock.advance(std::time::Duration::from_secs(25 * 3600));
    let counselor = signed_in(&app, "T2101").await;
    let flat = app
        .get_with(&counselor, "/center/todo?view=flat")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(flat.matches("已超时").count(), 2);
    // Done: my action.
    let done = app
        .get_with(&counselor, "/center/done")
        .await
        .text()
        .await
        .unwrap();
    let done_items = items(&done);
    assert_eq!(done_items.len(), 1);
    assert!(done_items[0].contains("我的处理：通过"));
    let _ = a;
    assert_task_counts(&app).await;
}

/// A 公章使用 application by 李小明 (T2002), approved by his 部门负责人: waiting for the two
/// seal keepers (或签).
async fn seal_waiting_for_the_keepers(app: &TestApp) -> i64 {
    let id = seal_submitted(app).await;
    let head = signed_in(app, "T2001").await;
    let signature = drawn_signature();
    act(
        app,
        &head,
        id,
        "approve",
        "head",
        &[("signature", &signature)],
    )
    .await;
    id
}

/// A 公章使用 application by 李小明 (T2002), waiting for his 部门负责人 (T2001).
async fn seal_submitted(app: &TestApp) -> i64 {
    let teacher = signed_in(app, "T2002").await;
    let sid: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'GZSY'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let page = format!("/services/{sid}/apply");
    let html = app.get_with(&teacher, &page).await.text().await.unwrap();
    let form = [
        ("_csrf", csrf_from(&html)),
        ("intent", "submit".to_owned()),
        ("f.seal", "校章".into()),
        ("f.document", "协议".into()),
        ("f.copies", "1".into()),
        ("f.date", "2026-12-01".into()),
        ("f.reason", "签约".into()),
    ];
    let r = teacher
        .post(app.url(&page))
        .form(&form)
        .send()
        .await
        .unwrap();
    let id: i64 = location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    id
}

#[tokio::test]
async fn an_or_sign_decided_by_someone_else_leaves_my_list() {
    let app = spawn_app().await;
    let id = seal_waiting_for_the_keepers(&app).await;
    let k1 = signed_in(&app, "T3004").await;
    let k2 = signed_in(&app, "T3005").await;
    assert_eq!(
        items(
            &app.get_with(&k2, "/center/todo?view=flat")
                .await
                .text()
                .await
                .unwrap()
        )
        .len(),
        1
    );
    act(&app, &k1, id, "approve", "seal", &[]).await;
    assert!(
        items(
            &app.get_with(&k2, "/center/todo?view=flat")
                .await
                .text()
                .await
                .unwrap()
        )
        .is_empty()
    );
    // In 我已办的, as decided by the other keeper (issue 17, item 3).
    let done = items(
        &app.get_with(&k2, "/center/done")
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(done.len(), 1);
    assert!(
        done[0].contains("由 钱印 处理") && !done[0].contains("我的处理"),
        "{done:?}"
    );
    assert_task_counts(&app).await;
}

#[tokio::test]
async fn cc_unread_and_read_started_tabs_and_transferred() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let (a, _) = leave(&app, &student, "1").await;
    let (b, _) = leave(&app, &student, "1").await;
    act(&app, &counselor, a, "approve", "counselor", &[]).await;
    act(
        &app,
        &counselor,
        b,
        "transfer",
        "counselor",
        &[("account", "T2102")],
    )
    .await;
    let transferred = app
        .get_with(&counselor, "/center/transferred")
        .await
        .text()
        .await
        .unwrap();
    let t = items(&transferred);
    assert_eq!(t.len(), 1);
    assert!(t[0].contains("转办给：周明（T2102）") && t[0].contains("进行中"));
    // 我发起的: tabs and per-service counts.
    let started = app
        .get_with(&student, "/center/started")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(items(&started).len(), 2);
    assert_eq!(
        items(
            &app.get_with(&student, "/center/started?tab=done")
                .await
                .text()
                .await
                .unwrap()
        )
        .len(),
        1
    );
    assert_eq!(
        items(
            &app.get_with(&student, "/center/started?tab=running")
                .await
                .text()
                .await
                .unwrap()
        )
        .len(),
        1
    );
    let doc = scraper::Html::parse_document(&started);
    let sel = scraper::Selector::parse(".group-table tbody td").unwrap();
    let cells: Vec<String> = doc
        .select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect();
    assert_eq!(&cells[2..6], &["2", "1", "1", "0"]);
    // CC: a CC'd application shows unread until marked read.
    sqlx::query(
        "INSERT INTO tasks (application_id, node_id, node_name, assignee_id, kind, status, created_at)
         SELECT $1, 'cc', '抄送', id, 'cc', 'unread', now() FROM users WHERE account = 'T3003'",
    )
    .bind(a)
    .execute(&app.db)
    .await
    .unwrap();
    let hr = signed_in(&app, "T3003").await;
    let cc = app.get_with(&hr, "/center/cc").await.text().await.unwrap();
    assert!(cc.contains("未读") && cc.contains("抄送给我 <span class=\"nav-badge\">1</span>"));
    let task: i64 = sqlx::query_scalar("SELECT id FROM tasks WHERE kind = 'cc'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    // Someone else cannot mark it.
    let r = app
        .submit(
            &student,
            "/center",
            "/center/cc/read",
            &[("which", &task.to_string())],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(
        app.get_with(&hr, "/center/cc")
            .await
            .text()
            .await
            .unwrap()
            .contains("未读")
    );
    app.submit(
        &hr,
        "/center/cc",
        "/center/cc/read",
        &[("which", &task.to_string())],
    )
    .await;
    let cc = app.get_with(&hr, "/center/cc").await.text().await.unwrap();
    assert!(!cc.contains("未读"));
    assert_task_counts(&app).await;
}

#[tokio::test]
async fn search_by_keyword_and_by_serial() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let (id, serial) = leave(&app, &student, "1").await;
    let r = app
        .get_with(&student, &format!("/center?q={}", serial.to_lowercase()))
        .await;
    assert_eq!(r.status(), 303, "an exact 流水号 opens the application");
    assert_eq!(location(&r), format!("/applications/{id}"));
    let html = app
        .get_with(&student, "/center?q=%E8%AF%B7%E5%81%87")
        .await
        .text()
        .await
        .unwrap(); // 请假
    assert_eq!(items(&html).len(), 1);
    let html = app
        .get_with(&student, "/center?q=%E8%AF%B7%E5%81%87&status=done")
        .await
        .text()
        .await
        .unwrap();
    assert!(items(&html).is_empty());
    let html = app
        .get_with(&student, "/center?from=2000-01-01&to=2000-01-02")
        .await
        .text()
        .await
        .unwrap();
    assert!(items(&html).is_empty() && html.contains("没有找到符合条件的事项"));
    // Someone else's 流水号 finds nothing.
    let other = signed_in(&app, "T2002").await;
    let r = app.get_with(&other, &format!("/center?q={serial}")).await;
    assert_eq!(r.status(), 200);
    assert!(items(&r.text().await.unwrap()).is_empty());
}

#[tokio::test]
async fn a_service_group_opens_that_services_open_tasks_only() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    leave(&app, &student, "1").await;
    leave(&app, &student, "1").await;
    let grouped = app
        .get_with(&counselor, "/center/todo")
        .await
        .text()
        .await
        .unwrap();
    let doc = scraper::Html::parse_document(&grouped);
    let sel = scraper::Selector::parse(".group-table tbody tr td a").unwrap();
    let href = doc
        .select(&sel)
        .next()
        .and_then(|a| a.value().attr("href"))
        .expect("a link per service")
        .to_owned();
    assert!(
        href.contains("view=flat") && href.contains("service="),
        "{href}"
    );
    let list = app.get_with(&counselor, &href).await.text().await.unwrap();
    assert_eq!(items(&list).len(), 2);
    // Another service's list is empty for this approver.
    let other: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'GZSY'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let none = app
        .get_with(
            &counselor,
            &format!("/center/todo?view=flat&service={other}"),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(items(&none).is_empty());
}

/// 张三's four 学生请假: 办结, 撤回, 中止 and one still running; his client and the first
/// three ids.
async fn four_outcomes(app: &TestApp) -> (reqwest::Client, [i64; 3]) {
    let student = signed_in(app, "S2024001").await;
    let counselor = signed_in(app, "T2101").await;
    let (done, _) = leave(app, &student, "1").await;
    let (withdrawn, _) = leave(app, &student, "1").await;
    let (stopped, _) = leave(app, &student, "1").await;
    leave(app, &student, "1").await;
    act(app, &counselor, done, "approve", "counselor", &[]).await;
    act(app, &student, withdrawn, "withdraw", "", &[]).await;
    act(
        app,
        &counselor,
        stopped,
        "terminate",
        "counselor",
        &[("comment", "不符合请假条件")],
    )
    .await;
    (student, [done, withdrawn, stopped])
}

/// 我发起的 (issue 17, item 1): withdrawn and stopped applications are neither running nor
/// finished — their own columns, tabs and search filter, and their own badge in the list.
#[tokio::test]
async fn started_shows_withdrawn_and_stopped_as_what_they_are() {
    let app = spawn_app().await;
    let (student, [done, withdrawn, stopped]) = four_outcomes(&app).await;
    let started = app
        .get_with(&student, "/center/started")
        .await
        .text()
        .await
        .unwrap();
    let doc = scraper::Html::parse_document(&started);
    let head = scraper::Selector::parse(".group-table thead th").unwrap();
    let heads: Vec<String> = doc.select(&head).map(|e| e.text().collect()).collect();
    assert_eq!(
        heads,
        [
            "服务",
            "最近日期",
            "全部",
            "进行中",
            "已办结",
            "已撤回",
            "已中止",
            "待办"
        ]
    );
    let cell = scraper::Selector::parse(".group-table tbody tr td").unwrap();
    let cells: Vec<String> = doc
        .select(&cell)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect();
    assert_eq!(cells[0], "学生请假");
    assert_eq!(&cells[2..], &["4", "1", "1", "1", "1", "0"]);
    for (tab, id, label) in [
        ("done", done, "已办结"),
        ("withdrawn", withdrawn, "已撤回"),
        ("terminated", stopped, "已中止"),
    ] {
        for url in [
            format!("/center/started?tab={tab}"),
            format!("/center?status={tab}"),
        ] {
            let html = app.get_with(&student, &url).await.text().await.unwrap();
            let rows = items(&html);
            assert_eq!(rows.len(), 1, "{url}: {rows:?}");
            assert!(rows[0].contains(label), "{url}: {rows:?}");
            assert!(
                html.contains(&format!("href=\"/applications/{id}\"")),
                "{url}"
            );
        }
    }
    let html = app
        .get_with(&student, "/center/started?tab=running")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(items(&html).len(), 1);
}

/// 我发起的 with every kind of outcome, and a 或签 someone else decided (application page,
/// 我已办的, 消息), in Chromium at 1280 and 390 px: nothing wider than the window, and a
/// screenshot of each (issue 17, items 1 to 3).
#[tokio::test]
async fn browser_outcomes_and_a_task_someone_else_handled_at_both_widths() {
    use crate::browser::{Browser, sign_in};
    let app = spawn_app().await;
    four_outcomes(&app).await;
    let seal = seal_waiting_for_the_keepers(&app).await;
    let k1 = signed_in(&app, "T3004").await;
    act(&app, &k1, seal, "approve", "seal", &[]).await;
    for (width, height) in [(1280, 900), (390, 844)] {
        for (account, pages) in [
            ("S2024001", vec![("started", "/center/started".to_owned())]),
            (
                "T3005",
                vec![
                    ("handled", format!("/applications/{seal}")),
                    ("done", "/center/done".to_owned()),
                    ("messages", "/messages".to_owned()),
                ],
            ),
        ] {
            let Some(b) = Browser::start(width, height).await else {
                return;
            };
            sign_in(&b, &app, account).await;
            for (name, path) in pages {
                b.client.goto(&app.url(&path)).await.unwrap();
                let fits: bool = b
                    .client
                    .execute(
                        "return document.documentElement.scrollWidth <= window.innerWidth;",
                        vec![],
                    )
                    .await
                    .unwrap()
                    .as_bool()
                    .unwrap();
                assert!(fits, "{path} at {width} px is wider than the window");
                b.shot("center", &format!("{name}-{width}")).await;
            }
            b.close().await;
        }
    }
}

/// 加签 after oneself leaves one's own task open (one still approves first); a 转办 made
/// then is one's own and shows in 我转办的 (issue 17, item 6).
#[tokio::test]
async fn a_transfer_after_adding_a_signer_is_in_my_transfers() {
    let app = spawn_app().await;
    let id = seal_submitted(&app).await;
    let head = signed_in(&app, "T2001").await;
    act(
        &app,
        &head,
        id,
        "add_signer",
        "head",
        &[("account", "T2102"), ("position", "after")],
    )
    .await;
    let open: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT t.status, t.action FROM tasks t JOIN users u ON u.id = t.assignee_id
         WHERE t.application_id = $1 AND u.account = 'T2001' ORDER BY t.id",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        open,
        vec![("pending".to_owned(), None)],
        "still mine to approve"
    );
    let todo = app
        .get_with(&head, "/center/todo?view=flat")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(items(&todo).len(), 1, "still in 我待办的");
    act(&app, &head, id, "transfer", "head", &[("account", "T2003")]).await;
    let transferred = items(
        &app.get_with(&head, "/center/transferred")
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(transferred.len(), 1, "{transferred:?}");
    assert!(transferred[0].contains("转办给："), "{transferred:?}");
    assert_task_counts(&app).await;
}

/// Plain words on the task panel (issue 17, item 9): the mode only where more than one
/// person is at the node, and 退回至 only where there is a choice — shown, with script,
/// once 退回 is pressed.
#[tokio::test]
async fn the_task_panel_names_the_mode_only_for_several_people() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let (leave_id, _) = leave(&app, &student, "1").await;
    let html = app
        .get_with(&counselor, &format!("/applications/{leave_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("待我审批：辅导员审批</h2>"),
        "no mode for one person"
    );
    assert!(!html.contains("或签") && !html.contains("任一人"));
    assert!(
        !html.contains("name=\"to\"><option") && html.contains("name=\"to\" value=\"applicant\""),
        "one place to return to: no choice shown"
    );
    let seal = seal_waiting_for_the_keepers(&app).await;
    let keeper = signed_in(&app, "T3004").await;
    let html = app
        .get_with(&keeper, &format!("/applications/{seal}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("共 2 人，任一人审批即可"), "{html}");
    assert!(html.contains("data-return-to") && html.contains("<option value=\"head\">"));

    use crate::browser::{Browser, sign_in};
    use fantoccini::Locator;
    for (width, height) in [(1280, 900), (390, 844)] {
        let Some(b) = Browser::start(width, height).await else {
            return;
        };
        sign_in(&b, &app, "T3004").await;
        let c = &b.client;
        c.goto(&app.url(&format!("/applications/{seal}")))
            .await
            .unwrap();
        let select = c
            .find(Locator::Css("[data-return-to] select"))
            .await
            .unwrap();
        assert!(!select.is_displayed().await.unwrap(), "hidden until 退回");
        crate::browser::click(c, ".task-panel button[value=return]").await;
        assert!(
            select.is_displayed().await.unwrap(),
            "shown once 退回 is pressed"
        );
        let label = c
            .find(Locator::Css(".task-panel button[value=return]"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(label, "确认退回");
        assert_eq!(status_of(&app, seal).await, "running", "nothing sent yet");
        b.shot("center", &format!("return-to-{width}")).await;
        // 转办 / 加签: the person picker suggests colleagues as one types (item 4).
        crate::browser::click(c, ".more-actions summary").await;
        c.find(Locator::Css("#acct-seal"))
            .await
            .unwrap()
            .send_keys("周")
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Css("#acct-list-seal option"))
            .await
            .unwrap();
        let mut offered = Vec::new();
        for o in c
            .find_all(Locator::Css("#acct-list-seal option"))
            .await
            .unwrap()
        {
            offered.push(o.attr("value").await.unwrap().unwrap_or_default());
        }
        assert!(offered.contains(&"周明（T2102）".to_owned()), "{offered:?}");
        b.shot("center", &format!("handover-{width}")).await;
        b.close().await;
    }
}

async fn status_of(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// 转办 and 加签 pick a colleague the way forms pick people (issue 17, item 4): by name,
/// department or account, from suggestions naming their department; only someone with an
/// open task on the application may search, and what the list fills in is accepted.
#[tokio::test]
async fn handover_picks_a_colleague_by_name_or_department() {
    let app = spawn_app().await;
    let seal = seal_waiting_for_the_keepers(&app).await;
    let keeper = signed_in(&app, "T3004").await;
    let search = |c: reqwest::Client, q: &str| {
        let req = c.get(app.url("/people")).query(&[
            ("q", q.to_owned()),
            ("app", seal.to_string()),
            ("field", "_handover".to_owned()),
        ]);
        async move { req.send().await.unwrap() }
    };
    let hits: Vec<serde_json::Value> = search(keeper.clone(), "周").await.json().await.unwrap();
    assert!(
        hits.iter()
            .any(|h| h["account"] == "T2102" && h["department"].is_string()),
        "{hits:?}"
    );
    let by_dept: Vec<serde_json::Value> =
        search(keeper.clone(), "计算机").await.json().await.unwrap();
    assert!(!by_dept.is_empty(), "by department");
    assert!(
        by_dept
            .iter()
            .all(|h| !h["account"].as_str().unwrap().starts_with('S')),
        "colleagues only: {by_dept:?}"
    );
    // Someone without a task here may not search this way.
    let student = signed_in(&app, "S2024001").await;
    assert_eq!(search(student, "周").await.status(), 404);
    // What the suggestion list fills in is taken.
    act(
        &app,
        &keeper,
        seal,
        "transfer",
        "seal",
        &[("account", "周明（T2102）")],
    )
    .await;
    let pending: Vec<String> = sqlx::query_scalar(
        "SELECT u.account FROM tasks t JOIN users u ON u.id = t.assignee_id
         WHERE t.application_id = $1 AND t.status = 'pending' ORDER BY u.account",
    )
    .bind(seal)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(pending, vec!["T2102", "T3005"]);
}
