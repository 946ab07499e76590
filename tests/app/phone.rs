//! Issue 17, item 8: what a phone hid or covered. In Chromium at 390 px (and 1280 px where
//! the wide layout matters): nothing wider than the window, 个人中心's tabs all on screen,
//! 服务中心's chip rows showing there is more, 通知公告 before the department tiles, the
//! 流转记录's times on screen, 里程碑 labels apart, and a field focused under the sticky
//! 提交 bar scrolled clear of it. Screenshots in `target/screenshots/phone-*`.

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::{
    browser::{Browser, sign_in},
    forms::{apply_leave, service},
    helpers::*,
};

async fn js(c: &Client, script: &str, args: Vec<Value>) -> Value {
    c.execute(script, args).await.unwrap()
}

async fn fits(c: &Client, what: &str) {
    let ok = js(
        c,
        "return document.documentElement.scrollWidth <= window.innerWidth;",
        vec![],
    )
    .await;
    assert_eq!(ok, json!(true), "{what} is wider than the window");
}

/// (left, top, right, bottom) of the first element matching `css`.
async fn rect(c: &Client, css: &str) -> (f64, f64, f64, f64) {
    let r = js(
        c,
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();
         return [r.left, r.top, r.right, r.bottom];",
        vec![json!(css)],
    )
    .await;
    let n = |i: usize| r[i].as_f64().unwrap();
    (n(0), n(1), n(2), n(3))
}

#[tokio::test]
async fn browser_phone_pages_hide_and_cover_nothing() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let id = apply_leave(&app, &student, "1").await;
    let counselor = signed_in(&app, "T2101").await;
    crate::forms::act(
        &app,
        &counselor,
        id,
        "approve",
        "counselor",
        &[("comment", "同意，注意安全")],
    )
    .await;
    let Some(b) = Browser::start(390, 844).await else {
        return;
    };
    sign_in(&b, &app, "S2024001").await;
    let c = &b.client;

    // 个人中心: every tab on screen, none past the edge.
    c.goto(&app.url("/center/started")).await.unwrap();
    fits(c, "/center/started").await;
    let past_edge = js(
        c,
        "return [...document.querySelectorAll('.center-tabs a')]
           .filter(a => a.getBoundingClientRect().right > window.innerWidth)
           .map(a => a.textContent);",
        vec![],
    )
    .await;
    assert_eq!(past_edge, json!([]), "tabs past the edge");
    b.shot("phone", "center-tabs-390").await;

    // 服务中心: a chip row with more past the edge fades there, and stops when scrolled.
    c.goto(&app.url("/services")).await.unwrap();
    fits(c, "/services").await;
    let rows = js(
        c,
        "return [...document.querySelectorAll('.chips')].map(r =>
           [r.scrollWidth > r.clientWidth, r.classList.contains('overflows-right')]);",
        vec![],
    )
    .await;
    let rows = rows.as_array().unwrap();
    assert!(
        rows.iter().any(|r| r[0] == json!(true)),
        "some row scrolls: {rows:?}"
    );
    for r in rows {
        assert_eq!(
            r[0], r[1],
            "a row that scrolls shows it, one that does not, not: {rows:?}"
        );
    }
    b.shot("phone", "service-chips-390").await;
    let after = js(
        c,
        "const r = [...document.querySelectorAll('.chips')].find(r => r.scrollWidth > r.clientWidth);
         r.scrollLeft = r.scrollWidth;
         return new Promise(done => setTimeout(() => done(r.classList.contains('overflows-right')), 100));",
        vec![],
    )
    .await;
    assert_eq!(after, json!(false), "at the end of the row, no fade");

    // 首页: 通知公告 before the 16 department tiles.
    c.goto(&app.url("/")).await.unwrap();
    fits(c, "/").await;
    let notices = js(
        c,
        "const h = [...document.querySelectorAll('h2')].find(h => h.textContent === '通知公告');
         return h.getBoundingClientRect().top;",
        vec![],
    )
    .await;
    let (_, depts_top, _, _) = rect(c, ".home-depts").await;
    assert!(
        notices.as_f64().unwrap() < depts_top,
        "通知公告 at {notices}, 直通部门 at {depts_top}"
    );

    // The application: 流转记录's times and 里程碑's labels on screen and apart.
    c.goto(&app.url(&format!("/applications/{id}")))
        .await
        .unwrap();
    fits(c, "the application").await;
    let times_past_edge = js(
        c,
        "return [...document.querySelectorAll('.flow-table td:nth-child(5)')]
           .filter(td => td.getBoundingClientRect().right > window.innerWidth).length;",
        vec![],
    )
    .await;
    assert_eq!(times_past_edge, json!(0), "操作时间 past the edge");
    let overlaps = js(
        c,
        "const s = [...document.querySelectorAll('.milestones .ms > span')]
           .map(e => e.getBoundingClientRect());
         return s.slice(1).filter((r, i) => r.left < s[i].right - 1 && r.top < s[i].bottom - 1).length;",
        vec![],
    )
    .await;
    assert_eq!(overlaps, json!(0), "里程碑 labels run together");
    crate::browser::center(c, ".flow-table").await;
    b.shot("phone", "flow-390").await;

    // The form: a field focused from above lands clear of the sticky 提交 bar.
    let sid = service(&app, "XSQJ").await;
    c.goto(&app.url(&format!("/services/{sid}/apply")))
        .await
        .unwrap();
    let field = "textarea[name='f.reason']";
    // The field under the bar, as the next one is when tabbing down the form: inside the
    // window, so the browser does not scroll to it.
    js(
        c,
        "const f = document.querySelector(arguments[0]);
         const bar = document.querySelector('.form-actions').getBoundingClientRect();
         window.scrollBy(0, f.getBoundingClientRect().top - bar.top - 8);
         return null;",
        vec![json!(field)],
    )
    .await;
    let (_, field_top, _, _) = rect(c, field).await;
    let (_, bar_top, _, bar_bottom) = rect(c, ".form-actions").await;
    assert!(
        field_top > bar_top && field_top < bar_bottom,
        "set-up: the field ({field_top}) starts under the bar ({bar_top}–{bar_bottom})"
    );
    js(
        c,
        "document.querySelector(arguments[0]).focus(); return null;",
        vec![json!(field)],
    )
    .await;
    let (_, field_top, _, field_bottom) = rect(c, field).await;
    let (_, bar_top, _, bar_bottom) = rect(c, ".form-actions").await;
    assert!(
        field_bottom <= bar_top + 1.0 || field_top >= bar_bottom - 1.0,
        "the focused field ({field_top}–{field_bottom}) under the bar ({bar_top}–{bar_bottom})"
    );
    b.shot("phone", "focused-field-390").await;
    let _ = c.find(Locator::Css(field)).await.unwrap();
    b.close().await;
}

/// 里程碑 with parallel branches (issue 17, item 7): one step listing the departments, on
/// screen at both widths, labels apart.
#[tokio::test]
async fn browser_parallel_branches_are_one_milestone_at_both_widths() {
    let app = spawn_app().await;
    let sid = service(&app, "RXSX").await;
    for (width, height) in [(1280, 900), (390, 844)] {
        let Some(b) = Browser::start(width, height).await else {
            return;
        };
        sign_in(&b, &app, "T3003").await;
        let c = &b.client;
        c.goto(&app.url(&format!("/services/{sid}/apply")))
            .await
            .unwrap();
        fits(c, "the 入校 form").await;
        let shape = js(
            c,
            "return [document.querySelectorAll('ol.milestones > li').length,
                     document.querySelectorAll('ol.milestones .ms-branch').length];",
            vec![],
        )
        .await;
        assert_eq!(shape, json!([3, 6]), "提交申请, 各部门会签 (six), 办结");
        let past_edge = js(
            c,
            "return [...document.querySelectorAll('ol.milestones .ms-branch')]
               .filter(e => e.getBoundingClientRect().right > window.innerWidth).length;",
            vec![],
        )
        .await;
        assert_eq!(past_edge, json!(0));
        crate::browser::center(c, "ol.milestones").await;
        b.shot("phone", &format!("parallel-milestone-{width}"))
            .await;
        b.close().await;
    }
}
