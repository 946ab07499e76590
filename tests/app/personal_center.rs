//! Issue 17, item 11: 个人中心 as the seeds describe it — 进行中事项 and 已完成事项 (what I
//! started or approved), 我已办的 one row per application with counts per service, 我的收藏
//! among the tabs, and 首页's 常用系统.

use reqwest::Client;

use crate::{
    forms::{act, apply_leave, leave_fields, post_form},
    helpers::*,
};

fn items(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(".item-list li").unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>())
        .collect()
}

fn cells(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(".group-table tbody tr td").unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

async fn page(app: &TestApp, c: &Client, path: &str) -> String {
    let r = app.get_with(c, path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

async fn ok(r: reqwest::Response) {
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
}

/// The counselor handles one application twice (退回, then 通过 after the resubmission)
/// and another once: 我已办的 lists each application once, with the latest action.
#[tokio::test]
async fn handled_lists_each_application_once_with_counts_per_service() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let twice = apply_leave(&app, &student, "1").await;
    let once = apply_leave(&app, &student, "1").await;
    ok(act(
        &app,
        &counselor,
        twice,
        "return",
        "counselor",
        &[("comment", "请补充")],
    )
    .await)
    .await;
    let edit = format!("/applications/{twice}/edit");
    let fields = leave_fields(&app, "1").await;
    ok(post_form(&app, &student, &edit, &edit, "submit", &fields).await).await;
    ok(act(&app, &counselor, twice, "approve", "counselor", &[]).await).await;
    ok(act(
        &app,
        &counselor,
        once,
        "terminate",
        "counselor",
        &[("comment", "不符合")],
    )
    .await)
    .await;
    let html = page(&app, &counselor, "/center/done").await;
    let rows = items(&html);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let first = rows.iter().find(|r| r.contains("已办结")).unwrap();
    assert!(
        first.contains("我的处理：通过"),
        "the latest action: {rows:?}"
    );
    assert_eq!(
        html.matches(&format!("href=\"/applications/{twice}\""))
            .count(),
        1
    );
    // Per service: 2 handled, 0 running, 1 finished, 0 withdrawn, 1 stopped, 0 mine now.
    assert_eq!(cells(&html)[0], "学生请假");
    assert_eq!(&cells(&html)[2..], &["2", "0", "1", "0", "1", "0"]);
    // The outcome tabs narrow the list.
    let stopped = page(&app, &counselor, "/center/done?tab=terminated").await;
    assert_eq!(items(&stopped).len(), 1);
    assert!(stopped.contains(&format!("href=\"/applications/{once}\"")));
    assert!(items(&page(&app, &counselor, "/center/done?tab=running").await).is_empty());
}

/// 进行中事项 and 已完成事项: the applicant's own and the ones an approver acted on,
/// labelled which; nobody else's.
#[tokio::test]
async fn ongoing_and_finished_are_what_i_started_or_approved() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    // Four days: after the counselor, the 副书记 decides.
    let long = apply_leave(&app, &student, "4").await;
    let short = apply_leave(&app, &student, "1").await;
    ok(act(&app, &counselor, long, "approve", "counselor", &[]).await).await;
    let href = |id: i64| format!("href=\"/applications/{id}\"");
    let mine = page(&app, &student, "/center/ongoing").await;
    assert!(mine.contains(&href(long)) && mine.contains(&href(short)));
    assert!(
        items(&mine).iter().all(|r| r.contains("我发起的")),
        "{mine}"
    );
    // The counselor: the one approved (still running), not those merely waiting for them.
    let theirs = page(&app, &counselor, "/center/ongoing").await;
    assert_eq!(items(&theirs).len(), 1, "{:?}", items(&theirs));
    assert!(theirs.contains(&href(long)) && items(&theirs)[0].contains("我审核的"));
    assert!(items(&page(&app, &counselor, "/center/finished").await).is_empty());
    // Finished: 办结 and 撤回 alike.
    let third = apply_leave(&app, &student, "1").await;
    ok(act(&app, &counselor, short, "approve", "counselor", &[]).await).await;
    ok(act(&app, &student, third, "withdraw", "", &[]).await).await;
    let done = page(&app, &student, "/center/finished").await;
    assert_eq!(items(&done).len(), 2, "{:?}", items(&done));
    assert!(done.contains("已撤回") && done.contains("已办结"));
    let still = page(&app, &student, "/center/ongoing").await;
    assert_eq!(items(&still).len(), 1);
    assert!(still.contains(&href(long)));
    // The counselor finished only what they acted on.
    let done = page(&app, &counselor, "/center/finished").await;
    assert_eq!(items(&done).len(), 1);
    assert!(done.contains(&href(short)) && !done.contains(&href(third)));
    // Another approver's lists hold none of it.
    let other = signed_in(&app, "T2002").await;
    for path in ["/center/ongoing", "/center/finished"] {
        assert!(items(&page(&app, &other, path).await).is_empty(), "{path}");
    }
}

/// Every 个人中心 tab, 我的收藏 included, is on each of their pages, the page's own marked.
#[tokio::test]
async fn every_tab_is_on_every_tab_page() {
    let app = spawn_app().await;
    let c = signed_in(&app, "S2024001").await;
    let tabs = [
        ("/center/todo", "我待办的"),
        ("/center/ongoing", "进行中事项"),
        ("/center/finished", "已完成事项"),
        ("/center/done", "我已办的"),
        ("/center/cc", "抄送给我"),
        ("/center/started", "我发起的"),
        ("/center/drafts", "草稿箱"),
        ("/center/stats", "效能数据分享"),
        ("/center/collect", "填报任务"),
        ("/center/transferred", "我转办的"),
        ("/favorites", "我的收藏"),
    ];
    for (path, label) in tabs {
        let html = page(&app, &c, path).await;
        let doc = scraper::Html::parse_document(&html);
        let sel = scraper::Selector::parse(".center-tabs a").unwrap();
        let shown: Vec<(String, bool)> = doc
            .select(&sel)
            .map(|e| {
                let text: String = e.text().collect();
                let label = text.split_whitespace().next().unwrap_or("").to_owned();
                (label, e.value().attr("class") == Some("active"))
            })
            .collect();
        let want: Vec<(String, bool)> = tabs
            .iter()
            .map(|(p, l)| ((*l).to_owned(), *p == path))
            .collect();
        assert_eq!(shown, want, "{label}");
    }
}

/// 常用系统: systems opened from 首页 are counted (the page script posts each open) and
/// listed most-opened first; only with the session's token; an unknown system is 404.
#[tokio::test]
async fn common_systems_are_the_ones_opened_most() {
    let app = spawn_app().await;
    let c = signed_in(&app, "S2024001").await;
    let home = page(&app, &c, "/").await;
    assert!(home.contains("id=\"common-systems\"") && home.contains("从首页打开过的系统"));
    let ids: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM campus_systems ORDER BY sort_order, id LIMIT 2")
            .fetch_all(&app.db)
            .await
            .unwrap();
    let (a, b) = (&ids[0], &ids[1]);
    let token = csrf_from(&home);
    let open = |id: i64, token: &str| {
        c.post(app.url(&format!("/systems/{id}/opened")))
            .header("x-csrf-token", token)
            .send()
    };
    for id in [b.0, b.0, a.0] {
        assert_eq!(open(id, &token).await.unwrap().status(), 204);
    }
    assert_eq!(open(a.0, "forged").await.unwrap().status(), 403);
    assert_eq!(open(999_999, &token).await.unwrap().status(), 404);
    let home = page(&app, &c, "/").await;
    let at = home.find("id=\"common-systems\"").unwrap();
    let section = &home[at..at + home[at..].find("</section>").unwrap()];
    let (pa, pb) = (section.find(&a.1).unwrap(), section.find(&b.1).unwrap());
    assert!(pb < pa, "{} opened twice comes first: {section}", b.1);
    // Counts fade (halving every 30 days): twice, 90 days ago, is a quarter of one open
    // today — the system opened once this morning comes first now.
    sqlx::query(
        "UPDATE system_opens SET last_at = last_at - interval '90 days' WHERE system_id = $1",
    )
    .bind(b.0)
    .execute(&app.db)
    .await
    .unwrap();
    let home = page(&app, &c, "/").await;
    let at = home.find("id=\"common-systems\"").unwrap();
    let section = &home[at..at + home[at..].find("</section>").unwrap()];
    let (pa, pb) = (section.find(&a.1).unwrap(), section.find(&b.1).unwrap());
    assert!(pa < pb, "{} opened today comes first now: {section}", a.1);
    // Opened again: the old opens count for what is left of them (2 × 1/8 + 1 = 1.25 > 1).
    assert_eq!(open(b.0, &token).await.unwrap().status(), 204);
    let score: f64 = sqlx::query_scalar("SELECT score FROM system_opens WHERE system_id = $1")
        .bind(b.0)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!((score - 1.25).abs() < 0.01, "{score}");
    // Links to the systems carry what the script needs; a visitor's do not.
    assert!(home.contains(&format!("data-system=\"{}\"", a.0)));
    let visitor = app.get("/").await.text().await.unwrap();
    assert!(!visitor.contains("data-system=") && !visitor.contains("常用系统"));
    let other = signed_in(&app, "T2002").await;
    let theirs = page(&app, &other, "/").await;
    assert!(
        theirs.contains("从首页打开过的系统"),
        "counts are per person"
    );
}

/// In Chromium at 1280 and 390 px: the nine tabs all reachable, the lists and 首页 no
/// wider than the window, and a 推荐系统 opened by a click counted into 常用系统.
#[tokio::test]
async fn browser_the_personal_center_and_common_systems_at_both_widths() {
    use fantoccini::Locator;
    use serde_json::json;
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let id = apply_leave(&app, &student, "4").await;
    ok(act(&app, &counselor, id, "approve", "counselor", &[]).await).await;
    let first = apply_leave(&app, &student, "1").await;
    ok(act(&app, &counselor, first, "approve", "counselor", &[]).await).await;
    let system: i64 =
        sqlx::query_scalar("SELECT id FROM campus_systems ORDER BY sort_order, id LIMIT 1")
            .fetch_one(&app.db)
            .await
            .unwrap();
    for (width, height) in [(1280, 900), (390, 844)] {
        let Some(b) = crate::browser::Browser::start(width, height).await else {
            return;
        };
        crate::browser::sign_in(&b, &app, "T2101").await;
        let c = &b.client;
        for (path, name) in [
            ("/center/done", "done"),
            ("/center/ongoing", "ongoing"),
            ("/favorites", "favorites"),
        ] {
            c.goto(&app.url(path)).await.unwrap();
            let fits = c
                .execute(
                    "return document.documentElement.scrollWidth <= window.innerWidth;",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(fits, json!(true), "{path} at {width}");
            let off = c
                .execute(
                    "return [...document.querySelectorAll('.center-tabs a')]
                       .filter(a => a.getBoundingClientRect().right > window.innerWidth).length;",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(off, json!(0), "{path}: every tab on screen at {width}");
            b.shot("center", &format!("{name}-{width}")).await;
        }
        let before: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(opens), 0)::int8 FROM system_opens WHERE system_id = $1",
        )
        .bind(system)
        .fetch_one(&app.db)
        .await
        .unwrap();
        c.goto(&app.url("/")).await.unwrap();
        let link = c
            .find(Locator::Css(&format!("a[data-system=\"{system}\"]")))
            .await
            .unwrap();
        // The link opens in a new tab, as before; the count rides along.
        c.execute(
            "arguments[0].scrollIntoView({block: 'center'});",
            vec![serde_json::to_value(&link).unwrap()],
        )
        .await
        .unwrap();
        link.click().await.unwrap();
        let mut counted = before;
        for _ in 0..50 {
            counted = sqlx::query_scalar(
                "SELECT COALESCE(sum(opens), 0)::int8 FROM system_opens WHERE system_id = $1",
            )
            .bind(system)
            .fetch_one(&app.db)
            .await
            .unwrap();
            if counted > before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(counted, before + 1, "counted once at {width}");
        let main = c.window().await.unwrap();
        for w in c.windows().await.unwrap() {
            if w != main {
                c.switch_to_window(w).await.unwrap();
                c.close_window().await.unwrap();
            }
        }
        c.switch_to_window(main).await.unwrap();
        c.refresh().await.unwrap();
        crate::browser::center(c, "#common-systems").await;
        b.shot("center", &format!("home-common-systems-{width}"))
            .await;
        b.close().await;
    }
}
