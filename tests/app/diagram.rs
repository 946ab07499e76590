//! The 流程图 on the application page: a flow chart with the conditions on its edges, the
//! way the application's data took, names escaped, folded on phones.

use std::path::PathBuf;

use fantoccini::Locator;
use serde_json::{Value, json};
use service_hall::{
    org,
    workflow::{diagram::Diagram, store::definitions, usecase::versions},
};

use crate::{
    browser::{Browser, click, sign_in},
    forms::{act, apply_leave, service, user},
    helpers::*,
};

fn select(html: &str, css: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(css).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>())
        .collect()
}

/// The page's SVG, which must be well-formed XML on its own.
fn svg_of(html: &str) -> String {
    let start = html.find("<svg class=\"flow-diagram\"").expect("a 流程图");
    let end = start + html[start..].find("</svg>").unwrap() + "</svg>".len();
    let svg = html[start..end].to_owned();
    roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("not XML ({e}): {svg}"));
    svg
}

async fn page(app: &TestApp, c: &reqwest::Client, id: i64) -> String {
    let r = app.get_with(c, &format!("/applications/{id}")).await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test]
async fn the_leave_page_draws_both_conditions_and_the_way_taken() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let long = apply_leave(&app, &student, "5").await;
    let html = page(&app, &student, long).await;
    svg_of(&html);
    assert_eq!(
        select(&html, "details.flow-view[open] summary h2"),
        vec!["流程图"],
        "sent open: it reads without script"
    );
    let labels = select(&html, ".flow-diagram .edge-label text");
    assert!(
        labels.contains(&"超过3天".to_owned()) && labels.contains(&"请假天数 ≤ 3".to_owned()),
        "both conditions on their edges: {labels:?}"
    );
    // Five days: the long way is taken, the short one dimmed; the counselor has it now.
    assert_eq!(
        select(&html, ".flow-diagram .edge-label.taken text"),
        vec!["超过3天"]
    );
    assert_eq!(
        select(&html, ".flow-diagram .edge-label.off text"),
        vec!["请假天数 ≤ 3"]
    );
    assert_eq!(
        select(&html, ".flow-diagram .node.current > text:first-of-type"),
        vec!["辅导员审批"]
    );
    assert_eq!(select(&html, ".flow-diagram .node.start.done").len(), 1);
    // Who approves, with the role's name from the portal.
    let texts = select(&html, ".flow-diagram .node.approval text");
    assert!(
        texts.contains(&"学院副书记（本学院）".to_owned()),
        "{texts:?}"
    );
    assert!(texts.contains(&"辅导员（申请人选定）".to_owned()));

    // One day: the 副书记 is not on this application's way.
    let short = apply_leave(&app, &student, "1").await;
    let html = page(&app, &student, short).await;
    assert_eq!(
        select(&html, ".flow-diagram .node.off > text:first-of-type"),
        vec!["学院副书记审批"]
    );
    assert_eq!(
        select(&html, ".flow-diagram .edge-label.taken text"),
        vec!["请假天数 ≤ 3"]
    );
}

#[tokio::test]
async fn names_from_the_designers_are_escaped_on_the_page() {
    let app = spawn_app().await;
    let sid = service(&app, "XSQJ").await;
    let admin = user(&app, "admin").await;
    let wc = versions::working_copy(&app.db, sid).await.unwrap();
    let mut wf: Value = serde_json::to_value(&wc.workflow).unwrap();
    for n in wf["nodes"].as_array_mut().unwrap() {
        if n["id"] == "deputy" {
            n["name"] = json!(r#"<script>alert(1)</script>&"审批"#);
        }
        if n["id"] == "check" {
            n["branches"][0]["name"] = json!(r#"<img src=x>"#);
        }
    }
    let wf = serde_json::from_value(wf).unwrap();
    let now = chrono::Utc::now();
    let rev = versions::save(
        &app.db,
        sid,
        &wc.form,
        &wf,
        wc.base_number,
        wc.revision,
        admin,
        None,
        now,
    )
    .await
    .unwrap();
    versions::publish(&app.db, sid, rev, "escaping", admin, None, now)
        .await
        .unwrap();
    let student = signed_in(&app, "S2024001").await;
    let id = apply_leave(&app, &student, "5").await;
    let html = page(&app, &student, id).await;
    let svg = svg_of(&html);
    assert!(!html.contains("<script>alert") && !html.contains("<img src=x"));
    assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;审批"));
    assert!(
        select(&html, ".flow-diagram .edge-label text").contains(&"<img src=x>".to_owned()),
        "read as written"
    );
}

/// The page at 1280 and 390 px: open on a desktop, folded on a phone until tapped, drawn
/// at its own size (never shrunk: text stays at 12 px and more), 学生请假 without sideways
/// scrolling; and the demo flows with parallel branches drawn to PNG.
#[tokio::test]
async fn browser_diagram_on_desktop_and_phone() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let id = apply_leave(&app, &student, "5").await;
    // And a short leave, approved: done to the end, the 副书记 left out.
    let done = apply_leave(&app, &student, "1").await;
    let counselor = signed_in(&app, "T2101").await;
    let r = act(&app, &counselor, done, "approve", "counselor", &[]).await;
    assert_eq!(r.status(), 303);
    let dir = PathBuf::from("/tmp/shots/diagram");
    std::fs::create_dir_all(&dir).unwrap();
    for (width, height) in [(1280u32, 900u32), (390, 844)] {
        let Some(b) = Browser::start(width, height).await else {
            return;
        };
        let c = &b.client;
        sign_in(&b, &app, "S2024001").await;
        c.goto(&app.url(&format!("/applications/{id}")))
            .await
            .unwrap();
        let open = c
            .execute(
                "return document.querySelector('details.flow-view').open",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(open, json!(width >= 768), "open at {width}");
        std::fs::write(
            dir.join(format!("application-{width}.png")),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        if width < 768 {
            click(c, ".flow-view summary").await;
        }
        let sizes = c
            .execute(
                "var s = document.querySelector('.flow-diagram');
                 var w = s.closest('.diagram-wrap');
                 return [s.getBoundingClientRect().width, s.width.baseVal.value,
                         w.scrollWidth, w.clientWidth];",
                vec![],
            )
            .await
            .unwrap();
        let s: Vec<f64> = serde_json::from_value(sizes).unwrap();
        assert_eq!(s[0], s[1], "drawn at its own size at {width}: {s:?}");
        assert!(s[2] <= s[3], "no sideways scrolling at {width}: {s:?}");
        c.execute(
            "document.querySelector('#flow').scrollIntoView(); return null;",
            vec![],
        )
        .await
        .unwrap();
        std::fs::write(
            dir.join(format!("flow-{width}.png")),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        let el = c.find(Locator::Css(".flow-diagram")).await.unwrap();
        std::fs::write(
            dir.join(format!("leave-svg-{width}.png")),
            el.screenshot().await.unwrap(),
        )
        .unwrap();
        c.goto(&app.url(&format!("/applications/{done}")))
            .await
            .unwrap();
        if width < 768 {
            click(c, ".flow-view summary").await;
        }
        c.execute(
            "document.querySelector('#flow').scrollIntoView(); return null;",
            vec![],
        )
        .await
        .unwrap();
        std::fs::write(
            dir.join(format!("flow-done-{width}.png")),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
        b.close().await;
    }

    // The demo flows with parallel branches and chained conditions, as published.
    let roles = org::role_names(&app.db).await.unwrap();
    let mut gallery = String::from(
        "<!doctype html><meta charset=utf-8><title>流程图</title>\
         <body style=\"margin:12px;background:#f5f7fa;font-family:sans-serif\">",
    );
    for code in ["LXSX", "RXSX", "WJZJ", "JZGQJ", "CGCJ"] {
        let cur = definitions::current(&app.db, service(&app, code).await)
            .await
            .unwrap()
            .unwrap();
        let svg = Diagram::new(&cur.def)
            .form(Some(&cur.schema))
            .roles(&roles)
            .svg();
        roxmltree::Document::parse(&svg).unwrap();
        gallery.push_str(&format!(
            "<section id=\"{code}\" style=\"background:#fff;margin:0 0 12px;padding:8px;overflow-x:auto\">{svg}</section>"
        ));
    }
    let file = dir.join("demo-flows.html");
    std::fs::write(&file, gallery).unwrap();
    for width in [1280u32, 390] {
        let Some(b) = Browser::start(width, 1400).await else {
            return;
        };
        let c = &b.client;
        c.goto(&format!("file://{}", file.display())).await.unwrap();
        for code in ["LXSX", "RXSX", "WJZJ", "JZGQJ", "CGCJ"] {
            let el = c.find(Locator::Css(&format!("#{code} svg"))).await.unwrap();
            std::fs::write(
                dir.join(format!("{code}-{width}.png")),
                el.screenshot().await.unwrap(),
            )
            .unwrap();
        }
        b.close().await;
    }
}
