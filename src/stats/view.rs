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
    let svg = charts::columns(id, title, "件", &bars);
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
    let svg = charts::columns("weeks", title, "件", &bars);
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
    charts::rows("nodes", "各环节用时中位数", &bars)
}
