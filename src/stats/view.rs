//! Tables of figures as the pages show them and as CSV / XLSX files: one `Grid` serves
//! both, so a download always holds what the page shows (durations in hours there).

use super::{charts, duration, figures, percent};
use crate::web::export::{Cell, Table};

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Text,
    Count,
    /// Working-day seconds: words on the page, hours in a file.
    Secs,
    Percent,
    Rating,
}

pub enum Val {
    Text(String),
    Int(i64),
    Secs(Option<f64>),
    /// part, whole
    Pct(i64, i64),
    /// average, how many
    Rating(Option<f64>, i64),
}

pub struct Grid {
    /// The `table` parameter of its download.
    pub key: &'static str,
    pub title: String,
    pub cols: Vec<(&'static str, Kind)>,
    pub rows: Vec<Vec<Val>>,
    /// A link for each row's first cell (a page the viewer may open), if any.
    pub links: Vec<Option<String>>,
}

impl Grid {
    pub fn new(key: &'static str, title: &str, cols: Vec<(&'static str, Kind)>) -> Grid {
        Grid {
            key,
            title: title.to_owned(),
            cols,
            rows: vec![],
            links: vec![],
        }
    }

    pub fn push(&mut self, link: Option<String>, row: Vec<Val>) {
        self.rows.push(row);
        self.links.push(link);
    }

    pub fn heads(&self) -> Vec<&'static str> {
        self.cols.iter().map(|c| c.0).collect()
    }

    /// Whether column `i` holds numbers (right-aligned).
    pub fn numeric(&self, i: &usize) -> bool {
        self.cols.get(*i).is_some_and(|c| c.1 != Kind::Text)
    }

    /// The rows as the page writes them.
    pub fn shown(&self) -> Vec<(Option<String>, Vec<String>)> {
        self.rows
            .iter()
            .zip(&self.links)
            .map(|(r, l)| (l.clone(), r.iter().map(show).collect()))
            .collect()
    }

    pub fn table(&self) -> Table {
        Table {
            title: self.title.clone(),
            headers: self
                .cols
                .iter()
                .map(|(h, k)| match k {
                    Kind::Secs => format!("{h}（小时）"),
                    Kind::Percent => format!("{h}（%）"),
                    _ => (*h).to_owned(),
                })
                .collect(),
            rows: self
                .rows
                .iter()
                .map(|r| r.iter().map(cell).collect())
                .collect(),
        }
    }
}

fn show(v: &Val) -> String {
    match v {
        Val::Text(s) => s.clone(),
        Val::Int(n) => n.to_string(),
        Val::Secs(s) => duration(*s),
        Val::Pct(p, w) => percent(*p, *w),
        Val::Rating(Some(a), n) if *n > 0 => format!("{a:.1}（{n} 条）"),
        Val::Rating(..) => "—".into(),
    }
}

fn cell(v: &Val) -> Cell {
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    match v {
        Val::Text(s) => Cell::Text(s.clone()),
        Val::Int(n) => Cell::Int(*n),
        Val::Secs(Some(s)) => Cell::Num(round2(s / 3_600.0)),
        Val::Pct(p, w) if *w > 0 => Cell::Num(round2(*p as f64 * 100.0 / *w as f64)),
        Val::Rating(Some(a), n) if *n > 0 => Cell::Num(round2(*a)),
        _ => Cell::Empty,
    }
}

/// The columns every per-service or per-department table has.
pub fn group_grid(key: &'static str, title: &str, first: &'static str, with_dept: bool) -> Grid {
    let mut cols = vec![(first, Kind::Text)];
    if with_dept {
        cols.push(("服务部门", Kind::Text));
    }
    cols.extend([
        ("发起", Kind::Count),
        ("办结", Kind::Count),
        ("退回", Kind::Count),
        ("中止", Kind::Count),
        ("撤回", Kind::Count),
        ("办结用时中位数", Kind::Secs),
        ("办结用时P90", Kind::Secs),
        ("当前超时待办", Kind::Count),
        ("评价", Kind::Rating),
    ]);
    Grid::new(key, title, cols)
}

pub fn group_row(r: &figures::GroupRow, with_dept: bool) -> Vec<Val> {
    let mut v = vec![Val::Text(r.name.clone())];
    if with_dept {
        v.push(Val::Text(r.department.clone()));
    }
    v.extend([
        Val::Int(r.apps.started),
        Val::Int(r.apps.finished),
        Val::Int(r.returned_apps),
        Val::Int(r.apps.stopped),
        Val::Int(r.apps.withdrawn),
        Val::Secs(r.apps.median),
        Val::Secs(r.apps.p90),
        Val::Int(r.overdue_now),
        Val::Rating(r.apps.rating, r.apps.rated),
    ]);
    v
}

pub fn nodes_grid(rows: &[figures::NodeRow], with_service: bool, quick_secs: i64) -> Grid {
    let mut cols = vec![];
    if with_service {
        cols.push(("服务", Kind::Text));
    }
    cols.extend([
        ("环节", Kind::Text),
        ("办理", Kind::Count),
        ("用时中位数", Kind::Secs),
        ("用时P90", Kind::Secs),
        ("超时", Kind::Count),
        ("退回", Kind::Count),
        ("秒批", Kind::Count),
        ("秒批占比", Kind::Percent),
    ]);
    let mut g = Grid::new(
        "nodes",
        &format!("各环节用时（秒批：打开后 {quick_secs} 秒内通过）"),
        cols,
    );
    for r in rows {
        let mut v = vec![];
        if with_service {
            v.push(Val::Text(r.service.clone()));
        }
        v.extend([
            Val::Text(r.node_name.clone()),
            Val::Int(r.decided),
            Val::Secs(r.median),
            Val::Secs(r.p90),
            Val::Int(r.overdue),
            Val::Int(r.returns),
            Val::Int(r.quick),
            Val::Pct(r.quick, r.quick_known),
        ]);
        g.push(None, v);
    }
    g
}

/// The distribution of handling time, as a grid and a chart.
pub fn spread(t: &figures::Tasks, id: &str, title: &str) -> (Grid, String) {
    let mut g = Grid::new(
        "spread",
        title,
        vec![("办理用时", Kind::Text), ("办理件数", Kind::Count)],
    );
    let mut bars = vec![];
    for (i, (_, label)) in figures::BUCKETS.iter().enumerate() {
        let n = t.spread.get(i).copied().unwrap_or(0);
        g.push(None, vec![Val::Text((*label).to_owned()), Val::Int(n)]);
        bars.push(charts::Bar {
            label: (*label).to_owned(),
            value: n as f64,
            shown: n.to_string(),
            highlight: false,
        });
    }
    let svg = charts::columns_responsive(id, title, "件", &bars);
    (g, svg)
}

/// 办结 per week over the period, weeks without any shown as 0.
pub fn weeks(mondays: &[chrono::NaiveDate], counts: &[(chrono::NaiveDate, i64)]) -> (Grid, String) {
    let title = "每周办结件数";
    let mut g = Grid::new(
        "weeks",
        title,
        vec![("周（自周一起）", Kind::Text), ("办结", Kind::Count)],
    );
    let mut bars = vec![];
    for m in mondays {
        let n = counts
            .iter()
            .find(|(w, _)| w == m)
            .map(|c| c.1)
            .unwrap_or(0);
        g.push(None, vec![Val::Text(m.to_string()), Val::Int(n)]);
        bars.push(charts::Bar {
            label: m.format("%m-%d").to_string(),
            value: n as f64,
            shown: n.to_string(),
            highlight: false,
        });
    }
    let svg = charts::columns_responsive("weeks", title, "件", &bars);
    (g, svg)
}

/// Time per node as bars, the slowest marked.
pub fn node_chart(rows: &[figures::NodeRow], with_service: bool) -> String {
    let slowest = rows
        .iter()
        .filter_map(|r| r.median)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let bars: Vec<charts::Bar> = rows
        .iter()
        .take(12)
        .map(|r| charts::Bar {
            label: if with_service {
                format!("{}·{}", r.service, r.node_name)
            } else {
                r.node_name.clone()
            },
            value: r.median.unwrap_or(0.0) / 3_600.0,
            shown: duration(r.median),
            highlight: slowest.is_some() && r.median == slowest,
        })
        .collect();
    charts::rows_responsive("nodes", "各环节用时中位数", &bars)
}

/// The SVG drawings as the pages get them (`charts`' public functions).
#[cfg(test)]
mod chart_tests {
    use super::charts::*;

    fn bar(label: &str, value: f64, shown: &str) -> Bar {
        Bar {
            label: label.to_owned(),
            value,
            shown: shown.to_owned(),
            highlight: false,
        }
    }

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML ({e}): {svg}"))
    }

    fn count_class(doc: &roxmltree::Document, class: &str) -> usize {
        doc.descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|c| c.split(' ').any(|p| p == class))
            })
            .count()
    }

    fn texts_of_class(doc: &roxmltree::Document, class: &str) -> Vec<String> {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .map(|n| n.text().unwrap_or("").to_owned())
            .collect()
    }

    const EVIL: &str = "<script>alert('x')</script> & \"q\"";

    fn evil_bars(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| Bar {
                label: format!("{EVIL}{i}"),
                value: i as f64 + 1.0,
                shown: format!("{i} <b>&'\""),
                highlight: i == 1,
            })
            .collect()
    }

    #[test]
    fn hostile_text_is_escaped_and_the_output_is_xml() {
        for svg in [
            columns("Weekly <x>", EVIL, EVIL, &evil_bars(5)),
            rows("nodes\"", EVIL, &evil_bars(5)),
            columns("e", EVIL, "", &[]),
            columns_sized(Size::Narrow, "n", EVIL, EVIL, &evil_bars(5)),
            rows_sized(Size::Narrow, "n", EVIL, &evil_bars(5)),
        ] {
            assert!(!svg.contains("<script"), "{svg}");
            assert!(!svg.contains("<b>"), "{svg}");
            let doc = parse(&svg);
            let root = doc.root_element();
            assert_eq!(root.tag_name().name(), "svg");
            assert_eq!(root.attribute("role"), Some("img"));
            assert_eq!(root.attribute("width"), Some("100%"));
            assert!(root.attribute("height").is_none());
            let labelled = root.attribute("aria-labelledby").unwrap_or_default();
            assert!(
                labelled
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{labelled}"
            );
            let title = doc
                .descendants()
                .find(|n| n.attribute("id") == Some(labelled))
                .expect("the accessible name");
            // The parser gives back the text exactly as given: escaped, not lost.
            assert_eq!(title.text(), Some(EVIL));
        }
    }

    #[test]
    fn one_bar_rect_per_bar_each_with_its_tooltip() {
        let bars = evil_bars(7);
        for svg in [columns("c", "t", "件", &bars), rows("r", "t", &bars)] {
            let doc = parse(&svg);
            let rects: Vec<_> = doc
                .descendants()
                .filter(|n| {
                    n.attribute("class")
                        .is_some_and(|c| c.split(' ').any(|p| p == "bar"))
                })
                .collect();
            assert_eq!(rects.len(), bars.len());
            assert_eq!(count_class(&doc, "bar"), bars.len());
            assert!(count_class(&doc, "highlight") >= 1);
            let tip = rects[1]
                .children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|t| t.text())
                .unwrap_or_default()
                .to_owned();
            assert_eq!(tip, format!("{}：{}", bars[1].label, bars[1].shown));
            assert_eq!(rects[1].attribute("fill"), Some("#c0362c"));
            assert_eq!(rects[0].attribute("fill"), Some("#1a5fb4"));
        }
    }

    #[test]
    fn many_columns_thin_their_labels_and_drop_the_values() {
        let bars: Vec<Bar> = (0..30)
            .map(|i| {
                bar(
                    &format!("{:02}-{:02}", 9 + i / 4, 1 + i % 28),
                    i as f64,
                    "x",
                )
            })
            .collect();
        let svg = columns("weeks", "每周办件量", "件", &bars);
        let doc = parse(&svg);
        let labels = texts_of_class(&doc, "x-label");
        assert!(labels.len() < 30 && labels.len() >= 4, "{labels:?}");
        assert_eq!(labels.first(), Some(&bars[0].label));
        assert_eq!(labels.last(), Some(&bars[29].label));
        assert_eq!(count_class(&doc, "value"), 0);
        assert_eq!(count_class(&doc, "bar"), 30);
        // Few columns: every label and every value.
        let svg = columns("w", "t", "件", &bars[..6]);
        let doc = parse(&svg);
        assert_eq!(texts_of_class(&doc, "x-label").len(), 6);
        assert_eq!(count_class(&doc, "value"), 6);
    }

    #[test]
    fn nothing_to_draw_says_so() {
        let zeros = vec![
            bar("a", 0.0, "0"),
            bar("b", -3.0, "-3"),
            bar("c", f64::NAN, ""),
        ];
        for svg in [
            columns("x", "标题", "件", &[]),
            rows("x", "标题", &[]),
            columns("x", "标题", "件", &zeros),
            rows("x", "标题", &zeros),
        ] {
            assert!(svg.contains("暂无数据"));
            let doc = parse(&svg);
            assert!(doc.descendants().any(|n| n.has_tag_name("title")
                && n.attribute("id") == Some("x-title")
                && n.text() == Some("标题")));
            assert_eq!(count_class(&doc, "bar"), 0);
        }
    }

    #[test]
    fn bad_numbers_are_drawn_as_zero() {
        let bars = vec![
            bar("a", f64::NAN, "—"),
            bar("b", f64::INFINITY, "—"),
            bar("c", f64::NEG_INFINITY, "—"),
            bar("d", -5.0, "—"),
            bar("e", 2.5, "2.5 天"),
            bar("f", f64::MAX, "很多"),
        ];
        for svg in [columns("n", "t", "天", &bars), rows("n", "t", &bars)] {
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            let doc = parse(&svg);
            assert_eq!(count_class(&doc, "bar"), 6);
        }
    }

    #[test]
    fn long_row_labels_are_cut_with_the_tooltip_whole() {
        let long = "研究生院培养办公室主任审核意见汇总";
        let svg = rows("r", "t", &[bar(long, 3.0, "3 天")]);
        let doc = parse(&svg);
        assert_eq!(
            texts_of_class(&doc, "label"),
            vec!["研究生院培养办公室主任…"]
        );
        // The tooltip keeps the whole name.
        assert!(
            doc.descendants()
                .any(|n| n.text() == Some("研究生院培养办公室主任审核意见汇总：3 天"))
        );
    }

    fn buckets() -> Vec<Bar> {
        [
            "<1小时",
            "1–4小时",
            "4–8小时",
            "8–24小时",
            "1–2天",
            "2–3天",
            "3–5天",
            ">5天",
        ]
        .iter()
        .enumerate()
        .map(|(i, l)| bar(l, (i * 7 % 5 + 1) as f64, &format!("{}", i * 7 % 5 + 1)))
        .collect()
    }

    #[test]
    fn responsive_charts_hold_both_drawings_with_their_own_ids() {
        for (svg, class) in [
            (
                columns_responsive("spread", "办理用时分布", "件", &buckets()),
                "chart-columns",
            ),
            (rows_responsive("nodes", "各环节", &buckets()), "chart-rows"),
        ] {
            let (wide, narrow) = svg.split_at(svg.find("</svg>").unwrap() + "</svg>".len());
            for (part, size, id, w) in [
                (wide, "chart-wide", "-title\"", "0 0 640 "),
                (narrow, "chart-narrow", "-narrow-title\"", "0 0 340 "),
            ] {
                let doc = parse(part);
                let root = doc.root_element();
                let classes = root.attribute("class").unwrap_or_default();
                assert!(
                    classes.contains(size) && classes.contains(class),
                    "{classes}"
                );
                assert!(root.attribute("viewBox").unwrap_or_default().starts_with(w));
                assert!(part.contains(id), "{part}");
                assert_eq!(count_class(&doc, "bar"), 8);
            }
        }
    }

    #[test]
    fn narrow_columns_write_every_label_on_two_lines_when_one_does_not_fit() {
        let bars = buckets();
        let svg = columns_sized(Size::Narrow, "s", "t", "件", &bars);
        let doc = parse(&svg);
        let labels: Vec<Vec<String>> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("x-label"))
            .map(|n| {
                n.children()
                    .filter(|c| c.has_tag_name("tspan"))
                    .map(|c| c.text().unwrap_or("").to_owned())
                    .collect()
            })
            .collect();
        assert_eq!(labels.len(), 8);
        assert_eq!(labels[0], ["<1", "小时"]);
        assert_eq!(labels[3], ["8–24", "小时"]);
        assert_eq!(labels[7], [">5", "天"]);
        assert_eq!(count_class(&doc, "value"), 8);
        // The wide drawing has the room for one line each.
        let wide = columns("s", "t", "件", &bars);
        let doc = parse(&wide);
        assert_eq!(texts_of_class(&doc, "x-label")[3], "8–24小时");
        // Dates do not split: every few are written instead.
        let weeks: Vec<Bar> = (1..=19)
            .map(|i| bar(&format!("10-{i:02}"), 1.0, "1"))
            .collect();
        let svg = columns_sized(Size::Narrow, "w", "t", "件", &weeks);
        let doc = parse(&svg);
        let shown = texts_of_class(&doc, "x-label");
        assert!(shown.len() >= 4 && shown.len() < 19, "{shown:?}");
        assert_eq!(count_class(&doc, "value"), 0);
    }

    #[test]
    fn narrow_rows_put_the_label_above_the_bar() {
        let long = "研究生院培养办公室主任审核意见汇总";
        let svg = rows_sized(Size::Narrow, "r", "t", &[bar(long, 3.0, "3 天")]);
        let doc = parse(&svg);
        // The whole width is the label's: nothing is cut.
        assert_eq!(texts_of_class(&doc, "label"), vec![long]);
        let label = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("label"))
            .unwrap();
        assert_eq!(label.attribute("text-anchor"), Some("start"));
        let y = |n: roxmltree::Node, a| n.attribute(a).unwrap().parse::<f64>().unwrap();
        let bar = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("bar"))
            .unwrap();
        assert!(y(label, "y") < y(bar, "y"));
    }
}
