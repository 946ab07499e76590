//! The layout of real definitions: the demo services' workflows, read from their packages'
//! `[form]` and `[workflow]` tables.

use serde_json::{Value, json};

use super::{Diagram, Mark, Plan, Shape, layout::Route};
use crate::{
    forms::FormSchema,
    workflow::{engine::State, model::Definition},
};

fn demo(code: &str) -> (Definition, FormSchema) {
    let path = format!("{}/demo/services/{code}.toml", env!("CARGO_MANIFEST_DIR"));
    package(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn package(text: &str) -> Option<(Definition, FormSchema)> {
    let t: toml::Value = toml::from_str(text).unwrap();
    let wf = t.get("workflow")?;
    let def = serde_json::from_value(serde_json::to_value(wf).unwrap()).unwrap();
    let form = match t.get("form") {
        Some(f) => serde_json::from_value(serde_json::to_value(f).unwrap()).unwrap(),
        None => FormSchema { fields: Vec::new() },
    };
    Some((def, form))
}

fn every_demo() -> Vec<(String, Definition, FormSchema)> {
    let dir = format!("{}/demo/services", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let (d, f) = package(&std::fs::read_to_string(&p).unwrap())?;
            Some((p.file_stem().unwrap().to_string_lossy().into_owned(), d, f))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() > 20, "the demo services were read");
    out
}

fn def(v: Value) -> Definition {
    serde_json::from_value(v).unwrap()
}

/// A box's rectangle: x0, y0, x1, y1 (gateways with their side text).
fn rect(p: &Plan, i: usize) -> (f64, f64, f64, f64) {
    let (sh, at) = (&p.shown[i], &p.layout.nodes[i]);
    let right = match sh.shape {
        Shape::Condition | Shape::Parallel => {
            super::GATE
                + super::SIDE_GAP
                + super::words::width(&sh.name, super::SMALL_PX).min(super::SIDE_MAX_W)
        }
        _ => sh.w / 2.0,
    };
    (at.x - sh.w / 2.0, at.y, at.x + right, at.y + sh.h)
}

fn label_rect(p: &Plan, i: usize) -> Option<(f64, f64, f64, f64)> {
    let text = p.links[i].label.as_ref()?;
    let Some(Route {
        label: Some((x, y)),
        ..
    }) = &p.layout.edges[i]
    else {
        return None;
    };
    let (w, h) = super::label_size(&super::label_lines(text));
    Some((x - w / 2.0, y - h / 2.0, x + w / 2.0, y + h / 2.0))
}

fn overlap(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

fn find(p: &Plan, id: &str) -> usize {
    p.shown
        .iter()
        .position(|s| s.ids.iter().any(|i| i == id))
        .unwrap_or_else(|| panic!("no box for {id}"))
}

fn link(p: &Plan, from: &str, to: &str) -> usize {
    let (f, t) = (find(p, from), find(p, to));
    p.links
        .iter()
        .position(|l| l.from == f && l.to == t)
        .unwrap_or_else(|| panic!("no edge {from} → {to}"))
}

/// Everything a drawing must be, whatever the definition: boxes and labels apart, inside
/// the canvas, edges at right angles from their source's bottom to their target's top.
fn assert_clean(name: &str, p: &Plan) {
    let (w, h) = (p.layout.width, p.layout.height);
    let n = p.shown.len();
    for i in 0..n {
        let a = rect(p, i);
        assert!(
            a.0 >= 0.0 && a.1 >= 0.0 && a.2 <= w && a.3 <= h,
            "{name}: {} inside {w}×{h}: {a:?}",
            p.shown[i].name
        );
        for j in i + 1..n {
            assert!(
                !overlap(a, rect(p, j)),
                "{name}: {} and {} overlap",
                p.shown[i].name,
                p.shown[j].name
            );
        }
    }
    let labels: Vec<_> = (0..p.links.len())
        .filter_map(|i| label_rect(p, i))
        .collect();
    for (k, l) in labels.iter().enumerate() {
        for i in 0..n {
            assert!(
                !overlap(*l, rect(p, i)),
                "{name}: a label on {}",
                p.shown[i].name
            );
        }
        for m in &labels[k + 1..] {
            assert!(!overlap(*l, *m), "{name}: two labels overlap");
        }
    }
    for (l, r) in p.links.iter().zip(&p.layout.edges) {
        let r = r.as_ref().expect("every edge drawn");
        for s in r.points.windows(2) {
            assert!(
                s[0].0 == s[1].0 || s[0].1 == s[1].1,
                "{name}: a slanted segment {s:?}"
            );
        }
        let (from, to) = (&p.layout.nodes[l.from], &p.layout.nodes[l.to]);
        assert_eq!(
            r.points[0],
            (from.x, from.y + p.shown[l.from].h),
            "{name}: leaves {}'s bottom",
            p.shown[l.from].name
        );
        assert_eq!(
            *r.points.last().unwrap(),
            (to.x, to.y),
            "{name}: enters {}'s top",
            p.shown[l.to].name
        );
        assert!(from.layer < to.layer, "{name}: edges run downwards");
    }
}

fn parses(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML ({e}): {svg}"))
}

#[test]
fn student_leave_branches_side_by_side_with_their_conditions() {
    let (d, form) = demo("XSQJ");
    let p = Diagram::new(&d).form(Some(&form)).plan();
    assert_clean("XSQJ", &p);
    let (deputy, end) = (find(&p, "deputy"), find(&p, "end"));
    let long = link(&p, "check", "deputy");
    let short = link(&p, "check", "end");
    assert_eq!(p.links[long].label.as_deref(), Some("超过3天"));
    assert_eq!(
        p.links[long].detail.as_deref(),
        Some("请假天数 > 3"),
        "the named branch's condition in its title"
    );
    assert_eq!(p.links[short].label.as_deref(), Some("请假天数 ≤ 3"));
    // Both labels at one depth, side by side, the short way beside the 副书记 box.
    let (a, b) = (
        label_rect(&p, long).unwrap(),
        label_rect(&p, short).unwrap(),
    );
    assert_eq!(a.1, b.1);
    assert!(a.2 <= b.0, "超过3天 left of ≤ 3: {a:?} {b:?}");
    let short_route = p.layout.edges[short].as_ref().unwrap();
    let dep = rect(&p, deputy);
    let beside = short_route
        .points
        .iter()
        .any(|&(x, y)| y >= dep.1 && y <= dep.3 && x > dep.2);
    let passes_by = short_route
        .points
        .windows(2)
        .any(|s| s[0].0 == s[1].0 && s[0].0 > dep.2 && s[0].1 <= dep.1 && s[1].1 >= dep.3);
    assert!(
        beside || passes_by,
        "the ≤ 3 天 edge runs beside 学院副书记审批: {short_route:?}"
    );
    // One end, at the bottom, centred under the two ways.
    let at = &p.layout.nodes;
    assert!(p.shown.iter().filter(|s| s.shape == Shape::End).count() == 1);
    assert!(at.iter().all(|n| n.layer <= at[end].layer));
    assert!(at[end].x > dep.0 && at[end].x < b.2);
    // Compact: 40–48 px boxes, and it fits a 390 px phone without shrinking.
    assert_eq!(p.shown[deputy].h, 44.0);
    assert!(p.layout.width <= 340.0, "width {}", p.layout.width);
    assert_eq!(p.shown[deputy].sub, "deputy_secretary（本学院）");
    let roles = [("deputy_secretary".to_owned(), "学院副书记".to_owned())].into();
    let p = Diagram::new(&d).form(Some(&form)).roles(&roles).plan();
    assert_eq!(p.shown[deputy].sub, "学院副书记（本学院）");
    assert_eq!(p.shown[find(&p, "counselor")].sub, "辅导员（申请人选定）");
}

#[test]
fn three_parallel_branches_side_by_side_and_joined() {
    let d = def(json!({"nodes": [
        {"id": "start", "type": "start", "name": "发起", "next": "split"},
        {"id": "split", "type": "parallel", "name": "三方会签", "branches": ["a", "b", "c"]},
        {"id": "a", "type": "approval", "name": "财务处", "approvers": {"kind": "dept_head"}, "next": "join"},
        {"id": "b", "type": "approval", "name": "人事处", "approvers": {"kind": "dept_head"}, "mode": "all", "next": "join"},
        {"id": "c", "type": "cc", "name": "抄送保卫处", "approvers": {"kind": "applicant"}, "next": "join"},
        {"id": "join", "type": "join", "next": "end"},
        {"id": "end", "type": "end", "name": "办结"}
    ]}));
    let p = Diagram::new(&d).plan();
    assert_clean("parallel", &p);
    let at = |id: &str| p.layout.nodes[find(&p, id)];
    let (a, b, c) = (at("a"), at("b"), at("c"));
    assert!(a.y == b.y && b.y == c.y, "one row");
    assert!(a.x < b.x && b.x < c.x, "in order");
    assert_eq!(at("split").x, b.x, "the split centred over its branches");
    assert_eq!(at("join").x, b.x, "and the join under them");
    assert!(at("join").y > a.y && at("end").y > at("join").y);
    for x in ["a", "b", "c"] {
        link(&p, "split", x);
        link(&p, x, "join");
    }
    assert_eq!(p.shown[find(&p, "b")].sub, "部门负责人 · 会签");
    assert_eq!(p.shown[find(&p, "c")].shape, Shape::Cc);
    let svg = Diagram::new(&d).svg();
    let doc = parses(&svg);
    let cc = doc
        .descendants()
        .find(|n| n.attribute("data-node") == Some("c"))
        .unwrap();
    assert!(cc.attribute("class").unwrap().contains("cc"));
    assert!(
        cc.descendants()
            .any(|n| n.attribute("stroke-dasharray").is_some()),
        "抄送 drawn dashed"
    );
}

#[test]
fn every_demo_workflow_is_drawn_cleanly() {
    for (code, d, form) in every_demo() {
        let p = Diagram::new(&d).form(Some(&form)).plan();
        assert_clean(&code, &p);
        // Every condition edge says when it is taken.
        for n in &d.nodes {
            if let crate::workflow::model::NodeKind::Condition { branches, default } = &n.kind {
                for next in branches.iter().map(|b| &b.next).chain([default]) {
                    let l = &p.links[link(&p, &n.id, next)];
                    assert!(
                        l.label.as_ref().is_some_and(|t| !t.is_empty()),
                        "{code}: {} → {next} labelled",
                        n.id
                    );
                }
            }
        }
        let svg = Diagram::new(&d).form(Some(&form)).svg();
        // For looking at them: DIAGRAM_SVG_DIR=/tmp/x cargo test --lib diagram
        if let Some(dir) = std::env::var_os("DIAGRAM_SVG_DIR") {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(std::path::Path::new(&dir).join(format!("{code}.svg")), &svg).unwrap();
        }
        let doc = parses(&svg);
        let root = doc.root_element();
        let view = root.attribute("viewBox").unwrap();
        assert_eq!(
            view,
            format!(
                "0 0 {} {}",
                root.attribute("width").unwrap(),
                root.attribute("height").unwrap()
            ),
            "{code}: drawn at its own size"
        );
        // Legible at its own size.
        for t in doc.descendants().filter(|n| n.has_tag_name("text")) {
            let px: f64 = t.attribute("font-size").unwrap().parse().unwrap();
            assert!(px >= 12.0, "{code}: text at {px}px");
        }
    }
}

#[test]
fn a_five_step_flow_fits_a_phone_screen() {
    let (d, form) = demo("ZXJSQ");
    let p = Diagram::new(&d).form(Some(&form)).plan();
    assert!(p.layout.width <= 340.0, "{}", p.layout.width);
    assert!(p.layout.height <= 620.0, "{}", p.layout.height);
}

#[test]
fn names_are_escaped() {
    let evil = r#"<script>&"'"#;
    let d = def(json!({"nodes": [
        {"id": "s\"t", "type": "start", "name": evil, "next": "c"},
        {"id": "c", "type": "condition", "name": evil, "default": "end",
         "branches": [{"name": evil, "when": {"op": "eq", "field": "f", "value": "<b>"}, "next": "a"}]},
        {"id": "a", "type": "approval", "name": evil, "approvers": {"kind": "role", "role": evil}, "next": "end"},
        {"id": "end", "type": "end", "name": evil}
    ]}));
    let form: FormSchema = serde_json::from_value(json!({"fields": [
        {"key": "f", "type": "text", "label": "<i>字段</i>"}
    ]}))
    .unwrap();
    let svg = Diagram::new(&d).form(Some(&form)).svg();
    assert!(!svg.contains("<script") && !svg.contains("<b>") && !svg.contains("<i>"));
    let doc = parses(&svg);
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        texts.contains(&evil),
        "the name reads as written: {texts:?}"
    );
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        titles.iter().any(|t| t.contains("<i>字段</i>为<b>")),
        "{titles:?}"
    );
    assert!(
        doc.descendants()
            .any(|n| n.attribute("data-node") == Some("s\"t"))
    );
}

#[test]
fn long_names_are_cut_with_the_full_name_in_a_title() {
    let long = "学院学生工作办公室主任及分管学生工作副书记联合审批";
    let d = def(json!({"nodes": [
        {"id": "start", "type": "start", "next": "a"},
        {"id": "a", "type": "approval", "name": long, "approvers": {"kind": "dept_head"}, "next": "end"},
        {"id": "end", "type": "end"}
    ]}));
    let svg = Diagram::new(&d).svg();
    let doc = parses(&svg);
    let g = doc
        .descendants()
        .find(|n| n.attribute("data-node") == Some("a"))
        .unwrap();
    let title = g.descendants().find(|n| n.has_tag_name("title")).unwrap();
    assert!(title.text().unwrap().starts_with(long));
    let name = g.descendants().find(|n| n.has_tag_name("text")).unwrap();
    assert!(name.text().unwrap().ends_with('…'));
    let p = Diagram::new(&d).plan();
    assert!(p.shown[find(&p, "a")].w <= super::BOX_MAX_W);
    assert_eq!(p.shown[find(&p, "start")].name, "开始");
    assert_eq!(p.shown[find(&p, "end")].name, "结束");
}

#[test]
fn ends_of_one_name_are_one_box_at_the_bottom() {
    let d = def(json!({"nodes": [
        {"id": "start", "type": "start", "next": "c"},
        {"id": "c", "type": "condition", "default": "e1",
         "branches": [{"when": {"op": "gt", "field": "n", "value": 1}, "next": "a"}]},
        {"id": "a", "type": "approval", "name": "审批", "approvers": {"kind": "dept_head"}, "next": "b"},
        {"id": "b", "type": "approval", "name": "复核", "approvers": {"kind": "dept_head"}, "next": "e2"},
        {"id": "e1", "type": "end", "name": "办结"},
        {"id": "e2", "type": "end", "name": "办结"},
        {"id": "x", "type": "end", "name": "不予受理"}
    ]}));
    let p = Diagram::new(&d).plan();
    assert_clean("ends", &p);
    let e = find(&p, "e1");
    assert_eq!(find(&p, "e2"), e, "one 办结");
    assert_ne!(find(&p, "x"), e);
    let bottom = p.layout.nodes.iter().map(|n| n.layer).max().unwrap();
    assert_eq!(p.layout.nodes[e].layer, bottom);
    assert_eq!(p.links[link(&p, "c", "e1")].label.as_deref(), Some("n ≤ 1"));
}

#[test]
fn marks_done_current_and_the_way_not_taken() {
    let (d, form) = demo("XSQJ");
    let st: State = serde_json::from_value(json!({
        "status": "running", "done": ["counselor"],
        "tokens": [{"node": "deputy", "slots": [{"user": 2, "state": {"s": "pending"}}]}]
    }))
    .unwrap();
    let data = json!({"days": 5});
    let all = |_: &str| true;
    let p = Diagram::new(&d)
        .form(Some(&form))
        .state(Some(&st))
        .decided(&data, &all)
        .plan();
    let mark = |id: &str| p.shown[find(&p, id)].mark;
    assert_eq!(mark("start"), Mark::Done);
    assert_eq!(mark("counselor"), Mark::Done);
    assert_eq!(mark("check"), Mark::Done, "the condition was passed");
    assert_eq!(mark("deputy"), Mark::Current);
    assert_eq!(mark("end"), Mark::Plain);
    assert!(p.links[link(&p, "start", "counselor")].passed);
    assert!(p.links[link(&p, "counselor", "check")].passed);
    assert!(
        p.links[link(&p, "check", "deputy")].passed,
        "the way to where it is"
    );
    assert!(!p.links[link(&p, "deputy", "end")].passed, "not yet");
    assert!(!p.links[link(&p, "check", "end")].passed);
    let (long, short) = (link(&p, "check", "deputy"), link(&p, "check", "end"));
    assert!(p.links[long].taken && !p.links[long].off);
    assert!(p.links[short].off && !p.links[short].taken);
    let svg = Diagram::new(&d)
        .form(Some(&form))
        .state(Some(&st))
        .decided(&data, &all)
        .svg();
    assert!(svg.contains(r#"class="node approval current" data-node="deputy""#));
    assert!(svg.contains(r#"class="edge-label off""#));

    // A short leave, done: the 副书记 is off the way, the end reached.
    let st: State = serde_json::from_value(json!({
        "status": "completed", "done": ["counselor"], "tokens": []
    }))
    .unwrap();
    let data = json!({"days": 1});
    let p = Diagram::new(&d)
        .form(Some(&form))
        .state(Some(&st))
        .decided(&data, &all)
        .plan();
    let mark = |id: &str| p.shown[find(&p, id)].mark;
    assert_eq!(mark("deputy"), Mark::Off);
    assert_eq!(mark("end"), Mark::Done);
    assert_eq!(mark("check"), Mark::Done);

    // A field the viewer may not see decides nothing.
    let none = |_: &str| false;
    let p = Diagram::new(&d)
        .state(Some(&st))
        .decided(&data, &none)
        .plan();
    assert_eq!(p.shown[find(&p, "deputy")].mark, Mark::Plain);
    assert!(p.links.iter().all(|l| !l.off && !l.taken));
    assert_eq!(
        p.shown[find(&p, "end")].mark,
        Mark::Done,
        "one end to reach"
    );
}

#[test]
fn the_public_entry_points_still_work() {
    let (d, form) = demo("XSQJ");
    let st: State = serde_json::from_value(json!({
        "status": "running", "tokens": [{"node": "counselor", "slots": [{"user": 2, "state": {"s": "pending"}}]}]
    }))
    .unwrap();
    let plain = super::svg(&d, Some(&st));
    assert!(plain.contains(r#"class="node approval current""#));
    assert!(
        plain.contains("days ≤ 3"),
        "without the form, the field's key"
    );
    let with = super::svg_with(&d, Some(&form), Some(&st));
    assert!(with.contains("请假天数 ≤ 3") && with.contains("超过3天"));
    parses(&with);
}

#[test]
fn a_draft_with_a_cycle_or_a_dangling_edge_still_draws() {
    let d = def(json!({"nodes": [
        {"id": "start", "type": "start", "next": "a"},
        {"id": "a", "type": "approval", "name": "一", "approvers": {"kind": "dept_head"}, "next": "b"},
        {"id": "b", "type": "approval", "name": "二", "approvers": {"kind": "dept_head"}, "next": "a"},
        {"id": "c", "type": "approval", "name": "孤立", "approvers": {"kind": "dept_head"}, "next": "nowhere"},
        {"id": "end", "type": "end"}
    ]}));
    let svg = Diagram::new(&d).svg();
    parses(&svg);
    let p = Diagram::new(&d).plan();
    let n = p.shown.len();
    for i in 0..n {
        for j in i + 1..n {
            assert!(!overlap(rect(&p, i), rect(&p, j)));
        }
    }
    let empty = def(json!({"nodes": []}));
    parses(&super::svg(&empty, None));
}

#[test]
fn arrowheads_point_along_the_last_segment() {
    let mut down = String::new();
    super::draw::arrow(&mut down, &[(10.0, 0.0), (10.0, 50.0)], "#000");
    assert_eq!(down, r##"<path d="M5.5 43L10 50L14.5 43Z" fill="#000"/>"##);
    let mut up = String::new();
    super::draw::arrow(&mut up, &[(10.0, 50.0), (10.0, 20.0)], "#000");
    assert_eq!(up, r##"<path d="M5.5 27L10 20L14.5 27Z" fill="#000"/>"##);
}
