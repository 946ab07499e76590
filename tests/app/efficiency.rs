//! 效能数据分享 and the 校历: figures checked against values worked out by hand on a small,
//! fixed week (a node's clock stopping on a holiday), who may see what, and the exports.

use std::time::Duration;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use reqwest::Client;
use service_hall::clock::Clock;

use crate::{forms::*, helpers::*};

const MON_FRI: [bool; 7] = [true, true, true, true, true, false, false];
const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// Moves the test clock to the next Monday 09:00 in Shanghai; that Monday.
fn to_next_monday(app: &TestApp) -> NaiveDate {
    let now = app.clock.now();
    let today = now.with_timezone(&TZ).date_naive();
    let monday =
        today + chrono::Duration::days(7 - i64::from(today.weekday().num_days_from_monday()));
    let at = TZ
        .from_local_datetime(&monday.and_hms_opt(9, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc);
    app.clock.advance((at - now).to_std().unwrap());
    monday
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

async fn refresh(app: &TestApp) {
    let cal = service_hall::calendar::load(&app.db, TZ, MON_FRI)
        .await
        .unwrap();
    service_hall::stats::refresh::refresh_all(&app.db, &cal, app.clock.now())
        .await
        .unwrap();
}

/// The cells of the table whose heading is `title`, row by row (first cell = the row's
/// heading).
fn table(html: &str, title: &str) -> Vec<Vec<String>> {
    let doc = scraper::Html::parse_document(html);
    let head = scraper::Selector::parse(".grid-head").unwrap();
    let cells = scraper::Selector::parse("tbody tr").unwrap();
    let cell = scraper::Selector::parse("th, td").unwrap();
    for h in doc.select(&head) {
        if h.text().collect::<String>().contains(title) {
            let mut next = h.next_siblings().filter_map(scraper::ElementRef::wrap);
            let Some(wrap) = next.next() else {
                return vec![];
            };
            return wrap
                .select(&cells)
                .map(|r| {
                    r.select(&cell)
                        .map(|c| c.text().collect::<String>().trim().to_owned())
                        .collect()
                })
                .collect();
        }
    }
    panic!("no table {title}");
}

/// The figure cards: label → value.
fn cards(html: &str) -> Vec<(String, String)> {
    let doc = scraper::Html::parse_document(html);
    let stat = scraper::Selector::parse(".stat-cards .stat").unwrap();
    let span = scraper::Selector::parse("span").unwrap();
    let b = scraper::Selector::parse("b").unwrap();
    doc.select(&stat)
        .map(|s| {
            let t = |sel| {
                s.select(sel)
                    .next()
                    .map(|e| e.text().collect::<String>())
                    .unwrap_or_default()
            };
            (t(&span), t(&b))
        })
        .collect()
}

fn card<'a>(cards: &'a [(String, String)], label: &str) -> &'a str {
    &cards
        .iter()
        .find(|c| c.0 == label)
        .unwrap_or_else(|| panic!("no card {label}"))
        .1
}

async fn page(app: &TestApp, c: &Client, path: &str) -> (u16, String) {
    let r = app.get_with(c, path).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Monday 09:00 three 学生请假 arrive at the counselor; Tuesday is a holiday. One is
/// returned after 2 hours, one withdrawn, one urged and passed on Wednesday at 09:00:05
/// (5 seconds after opening it: 秒批) and rated 5.
#[tokio::test]
async fn figures_follow_the_working_day_clock() {
    // Sessions that outlast the test's week.
    let app = spawn_app_with(|s| {
        s.work_week = MON_FRI;
        s.session_idle = Duration::from_secs(10 * 86_400);
        s.session_absolute = Duration::from_secs(10 * 86_400);
    })
    .await;
    let monday = to_next_monday(&app);
    let tuesday = monday + chrono::Duration::days(1);
    let admin = signed_in(&app, "admin").await;
    let holiday = [
        ("kind", "holiday".to_owned()),
        ("name", "测试假日".to_owned()),
        ("starts_on", tuesday.to_string()),
        ("ends_on", tuesday.to_string()),
    ];
    let r = post_form(
        &app,
        &admin,
        "/admin/calendar",
        "/admin/calendar",
        "",
        &holiday,
    )
    .await;
    assert_eq!(r.status(), 303);

    let student = signed_in(&app, "S2024001").await;
    let passed = apply_leave(&app, &student, "1").await;
    let returned = apply_leave(&app, &student, "1").await;
    let withdrawn = apply_leave(&app, &student, "1").await;
    // The 24-hour limit skips the holiday: Monday 09:00 → Wednesday 09:00.
    let due: chrono::DateTime<Utc> = sqlx::query_scalar(
        "SELECT due_at FROM tasks WHERE application_id = $1 AND status = 'pending'",
    )
    .bind(passed)
    .fetch_one(&app.db)
    .await
    .unwrap();
    // (The test clock runs on from where it was put: seconds pass between steps.)
    let wednesday_nine = (monday + chrono::Duration::days(2))
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let off = due.with_timezone(&TZ).naive_local() - wednesday_nine;
    assert!(off.num_seconds().abs() < 60, "due {due}");

    let counselor = signed_in(&app, "T2101").await;
    app.clock.advance(hours(1));
    page(&app, &counselor, &format!("/applications/{returned}")).await;
    app.clock.advance(hours(1));
    let r = act(
        &app,
        &counselor,
        returned,
        "return",
        "counselor",
        &[("comment", "请补充材料")],
    )
    .await;
    assert_eq!(r.status(), 303);
    app.clock.advance(hours(1));
    act(&app, &student, withdrawn, "withdraw", "", &[]).await;
    app.clock.advance(hours(3));
    act(&app, &student, passed, "urge", "counselor", &[]).await;

    // Wednesday 09:00: opened; five seconds later, passed.
    app.clock.advance(hours(42));
    page(&app, &counselor, &format!("/applications/{passed}")).await;
    app.clock.advance(Duration::from_secs(5));
    let r = act(&app, &counselor, passed, "approve", "counselor", &[]).await;
    assert_eq!(r.status(), 303);
    let r = act(
        &app,
        &student,
        passed,
        "rate",
        "",
        &[("stars", "5"), ("comment", "快")],
    )
    .await;
    assert_eq!(r.status(), 303);
    refresh(&app).await;

    let week = format!(
        "period=custom&from={monday}&to={}",
        monday + chrono::Duration::days(2)
    );
    // The counselor's own figures: 2 decisions of 2 h and 24 h + 5 s (the holiday not
    // counted); median 13.0 h, P90 21.8 h; one overdue; one 退回 of two; one 催办.
    let (status, mine) = page(&app, &counselor, &format!("/center/stats?{week}")).await;
    assert_eq!(status, 200);
    let c = cards(&mine);
    assert_eq!(card(&c, "办理"), "2 件");
    assert_eq!(card(&c, "用时中位数"), "13.0 小时");
    assert!(mine.contains("P90 21.8 小时"), "{mine}");
    assert_eq!(card(&c, "超时办理"), "1 件");
    assert_eq!(card(&c, "退回率"), "50.0%");
    assert_eq!(card(&c, "收到催办"), "1 次");
    assert_eq!(card(&c, "秒批"), "1 件");
    assert!(mine.contains("占可统计通过的 100.0%"));
    assert_eq!(card(&c, "评价"), "5.0 分");
    assert_eq!(card(&c, "当前待办"), "0 件");
    let compared = table(&mine, "与同环节相比");
    assert_eq!(
        compared[0][..4],
        ["学生请假", "辅导员审批", "2", "13.0 小时"]
    );

    // The public table, seen by the student: the service's counts, nobody's own figures.
    let (_, public) = page(&app, &student, &format!("/center/stats?{week}")).await;
    assert!(public.contains("本时间段内您没有审批记录"));
    let services = table(&public, "各服务效能");
    let row = services
        .iter()
        .find(|r| r[0] == "学生请假")
        .expect("学生请假's row");
    assert_eq!(
        row[1..],
        [
            "学生工作处",
            "3",
            "1",
            "1",
            "0",
            "1",
            "1.0 天",
            "1.0 天",
            "0",
            "5.0（1 条）"
        ]
    );
    assert!(!public.contains("辅导员审批") && !public.contains("13.0 小时"));
    assert!(
        !public.contains("/stats/services/"),
        "no links for a student"
    );

    // The service's page: for those who run it; 404 for anyone else.
    let sid = service(&app, "XSQJ").await;
    let path = format!("/stats/services/{sid}?{week}");
    for who in [&student, &counselor] {
        assert_eq!(page(&app, who, &path).await.0, 404);
    }
    let (status, detail) = page(&app, &admin, &path).await;
    assert_eq!(status, 200);
    let c = cards(&detail);
    assert_eq!(card(&c, "发起"), "3 件");
    assert_eq!(card(&c, "办结"), "1 件");
    assert_eq!(card(&c, "退回"), "1 件");
    assert_eq!(card(&c, "最慢环节"), "辅导员审批");
    assert_eq!(card(&c, "秒批"), "1 件");
    assert_eq!(
        table(&detail, "每周办结件数")[0],
        [monday.to_string(), "1".into()]
    );
    let nodes = table(&detail, "各环节用时");
    assert_eq!(
        nodes[0][..6],
        ["辅导员审批", "2", "13.0 小时", "21.8 小时", "1", "1"]
    );
    let spread = table(&detail, "办理用时分布");
    assert_eq!(spread[1], ["1–4小时", "1"]);
    assert_eq!(spread[5], ["2–3天", "0"]);
    assert_eq!(spread[3], ["8–24小时", "0"]);
    assert_eq!(spread[4], ["1–2天", "1"]);
    assert!(detail.contains("<svg") && detail.contains("class=\"bar"));

    // Downloads hold what the page shows (durations in hours).
    let r = app
        .get_with(&admin, &format!("{path}&export=csv&table=nodes"))
        .await;
    assert_eq!(r.status(), 200);
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'), "BOM for Excel");
    assert!(csv.contains("辅导员审批,2,13,21.8,1,1,1,100"), "{csv}");
    let r = app
        .get_with(
            &admin,
            &format!("/center/stats?{week}&export=xlsx&table=services"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows[0][0], "服务");
    let xrow = rows.iter().find(|r| r[0] == "学生请假").unwrap();
    assert_eq!(xrow[2..4], ["3".to_owned(), "1".to_owned()]);
    assert_eq!(
        app.get_with(&admin, &format!("{path}&export=pdf&table=nodes"))
            .await
            .status(),
        400
    );
    assert_eq!(
        app.get_with(&admin, &format!("{path}&export=csv&table=nobody"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn department_pages_follow_roles_and_periods_are_checked() {
    let app = spawn_app_with(|s| s.work_week = MON_FRI).await;
    let cs: i64 = sqlx::query_scalar("SELECT id FROM departments WHERE code = 'CS'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let sa: i64 = sqlx::query_scalar("SELECT id FROM departments WHERE code = 'SA'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    // T2001 heads 计算机学院: its page, and no other department's.
    let head = signed_in(&app, "T2001").await;
    assert_eq!(
        page(&app, &head, &format!("/stats/departments/{cs}"))
            .await
            .0,
        200
    );
    assert_eq!(
        page(&app, &head, &format!("/stats/departments/{sa}"))
            .await
            .0,
        404
    );
    assert_eq!(page(&app, &head, "/stats/departments/999999").await.0, 404);
    let (_, center) = page(&app, &head, "/center/stats").await;
    assert!(
        center.contains(&format!("/stats/departments/{cs}?")),
        "我负责的部门"
    );
    let student = signed_in(&app, "S2024001").await;
    assert_eq!(
        page(&app, &student, &format!("/stats/departments/{cs}"))
            .await
            .0,
        404
    );
    let visitor = new_client();
    let r = app.get_with(&visitor, "/center/stats").await;
    assert_eq!(r.status(), 303, "sign in first");

    // A custom period with mistakes: messages at the fields, what was typed kept.
    let (status, html) = page(
        &app,
        &head,
        "/center/stats?period=custom&from=2026-09-30&to=2026-09-01",
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("结束日期不能早于开始日期。"));
    assert!(html.contains("value=\"2026-09-30\"") && html.contains("value=\"2026-09-01\""));
    let (_, html) = page(
        &app,
        &head,
        "/center/stats?period=custom&from=%E4%B9%9D%E6%9C%88&to=",
    )
    .await;
    assert!(html.contains("日期格式应为") && html.contains("请填写结束日期。"));
    assert!(html.contains("value=\"九月\""));
    let (_, html) = page(&app, &head, "/center/stats?period=term").await;
    assert!(html.contains("管理员尚未在校历中设置学期"));
}

#[tokio::test]
async fn the_calendar_page_checks_audits_and_recomputes() {
    let app = spawn_app_with(|s| s.work_week = MON_FRI).await;
    let admin = signed_in(&app, "admin").await;
    let bad = [
        ("kind", "term".to_owned()),
        ("name", "".to_owned()),
        ("starts_on", "2026-09-30".to_owned()),
        ("ends_on", "2026-09-01".to_owned()),
    ];
    let r = post_form(&app, &admin, "/admin/calendar", "/admin/calendar", "", &bad).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("请填写名称") && html.contains("结束日期不能早于开始日期。"));
    assert!(html.contains("value=\"2026-09-30\""));
    let term = [
        ("kind", "term".to_owned()),
        ("name", "2026-2027学年第一学期".to_owned()),
        ("starts_on", "2026-08-31".to_owned()),
        ("ends_on", "2027-01-15".to_owned()),
    ];
    let r = post_form(
        &app,
        &admin,
        "/admin/calendar",
        "/admin/calendar",
        "",
        &term,
    )
    .await;
    assert_eq!(r.status(), 303);
    // An overlapping term is refused.
    let mut overlap = term.clone();
    overlap[1].1 = "重叠".into();
    overlap[2].1 = "2027-01-10".into();
    overlap[3].1 = "2027-03-01".into();
    let r = post_form(
        &app,
        &admin,
        "/admin/calendar",
        "/admin/calendar",
        "",
        &overlap,
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("与学期“2026-2027学年第一学期”")
    );
    // Not for a teacher.
    let teacher = signed_in(&app, "T2001").await;
    assert_eq!(
        app.get_with(&teacher, "/admin/calendar").await.status(),
        403
    );

    let (id, rebuild): (i64, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT id FROM calendar_ranges), (SELECT rebuild_after FROM stats_meta)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(rebuild, Some(0), "the figures are computed again");
    let html = app
        .get_with(&admin, "/admin/calendar")
        .await
        .text()
        .await
        .unwrap();
    let r = admin
        .post(app.url(&format!("/admin/calendar/{id}/delete")))
        .form(&[("_csrf", csrf_from(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'calendar.%' ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(audit, ["calendar.add", "calendar.delete"]);
}
