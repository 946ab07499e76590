//! The 流程图: a definition drawn as a flow chart in server-rendered SVG, top to bottom so
//! it reads on a phone. Condition branches stand side by side with their conditions on the
//! edges, parallel branches side by side until they join, one end at the bottom; an
//! application's completed and current nodes are marked, and with its data the branches
//! its conditions left out are dimmed.
//!
//! Names come from admins and the page prints this with `|safe`: every text goes through
//! `esc` in `draw.rs`, which is the security boundary.

mod draw;
pub mod layout;
mod words;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub use words::RoleNames;

use self::layout::{Edge, Layout, Vertex};
use super::{
    engine::{State, Status},
    model::{Definition, Node, NodeKind},
};
use crate::forms::FormSchema;

/// The flow chart without condition labels from the form (branch names, else field keys).
pub fn svg(def: &Definition, st: Option<&State>) -> String {
    Diagram::new(def).state(st).svg()
}

/// The flow chart with conditions in the form's words (请假天数 ≤ 3).
pub fn svg_with(def: &Definition, form: Option<&FormSchema>, st: Option<&State>) -> String {
    Diagram::new(def).form(form).state(st).svg()
}

/// Which form fields the viewer may see.
pub type Visible<'a> = &'a dyn Fn(&str) -> bool;

/// What to draw, for callers that know more: the form (condition labels), role names
/// (approvers), the engine state (marks) and the application's data (the path not taken).
pub struct Diagram<'a> {
    def: &'a Definition,
    form: Option<&'a FormSchema>,
    roles: Option<&'a RoleNames>,
    state: Option<&'a State>,
    decided: Option<(&'a Value, Visible<'a>)>,
}

const NAME_PX: f64 = 14.0;
const SMALL_PX: f64 = 12.0;
const BOX_H: f64 = 44.0;
const BOX_MIN_W: f64 = 104.0;
const BOX_MAX_W: f64 = 200.0;
const BOX_PAD: f64 = 14.0;
const PILL_H: f64 = 34.0;
const PILL_MIN_W: f64 = 88.0;
const GATE: f64 = 15.0;
const SIDE_GAP: f64 = 6.0;
const SIDE_MAX_W: f64 = 150.0;
const LABEL_H: f64 = 20.0;
const LABEL_PAD: f64 = 8.0;
const LABEL_MAX_W: f64 = 132.0;
const LINE_H: f64 = 14.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Approval,
    Cc,
    Start,
    End,
    Condition,
    Parallel,
    Join,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Plain,
    Done,
    Current,
    /// Off the path the application's data decided.
    Off,
}

/// One box of the drawing: a node, or every end node of one name.
#[derive(Debug, Clone)]
struct Shown {
    pub ids: Vec<String>,
    pub shape: Shape,
    pub name: String,
    /// Who approves (boxes).
    pub sub: String,
    pub mark: Mark,
    pub w: f64,
    pub h: f64,
}

#[derive(Debug, Clone)]
struct Link {
    pub from: usize,
    pub to: usize,
    pub label: Option<String>,
    /// The full condition, when the label is a branch name.
    pub detail: Option<String>,
    pub off: bool,
    /// The branch the data decided on.
    pub taken: bool,
    /// Between two nodes the application has passed (or is at).
    pub passed: bool,
}

/// The drawing before it is written out.
struct Plan {
    pub shown: Vec<Shown>,
    pub links: Vec<Link>,
    pub layout: Layout,
}

impl<'a> Diagram<'a> {
    pub fn new(def: &'a Definition) -> Self {
        Diagram {
            def,
            form: None,
            roles: None,
            state: None,
            decided: None,
        }
    }

    pub fn form(mut self, form: Option<&'a FormSchema>) -> Self {
        self.form = form;
        self
    }

    pub fn roles(mut self, roles: &'a RoleNames) -> Self {
        self.roles = Some(roles);
        self
    }

    pub fn state(mut self, st: Option<&'a State>) -> Self {
        self.state = st;
        self
    }

    /// Dims what the application's `data` leaves out, deciding only conditions whose
    /// fields are all `visible` to the viewer (else the drawing would tell them).
    pub fn decided(mut self, data: &'a Value, visible: Visible<'a>) -> Self {
        self.decided = Some((data, visible));
        self
    }

    /// Where a condition node leads, when the data decides it.
    fn fixed(&self, n: &'a Node) -> Option<&'a str> {
        let (NodeKind::Condition { branches, default }, Some((data, visible))) =
            (&n.kind, self.decided)
        else {
            return None;
        };
        let mut fields = Vec::new();
        for b in branches {
            b.when.fields(&mut fields);
        }
        if !fields.iter().all(|f| visible(f)) {
            return None;
        }
        Some(
            branches
                .iter()
                .find(|b| b.when.eval(data))
                .map_or(default.as_str(), |b| b.next.as_str()),
        )
    }

    fn taken(&self, n: &'a Node, next: &str) -> bool {
        self.fixed(n).is_none_or(|t| t == next)
    }

    /// Nodes the run can enter, following only decided branches.
    fn reachable(&self) -> BTreeSet<&'a str> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = self
            .def
            .start()
            .map(|s| s.id.as_str())
            .into_iter()
            .collect();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(n) = self.def.node(id) {
                stack.extend(
                    self.def
                        .successors(id)
                        .into_iter()
                        .filter(|s| self.taken(n, s)),
                );
            }
        }
        seen
    }

    /// Nodes surely passed: every node that lies on each way from the start to one that
    /// was reached (its dominators), over the decided branches.
    fn passed(&self, reached: &BTreeSet<&'a str>, live: &BTreeSet<&'a str>) -> BTreeSet<&'a str> {
        let mut preds: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut indeg: BTreeMap<&str, usize> = live.iter().map(|id| (*id, 0)).collect();
        for n in &self.def.nodes {
            if !live.contains(n.id.as_str()) {
                continue;
            }
            for s in self.def.successors(&n.id) {
                if live.contains(s) && self.taken(n, s) {
                    preds.entry(s).or_default().push(n.id.as_str());
                    *indeg.entry(s).or_default() += 1;
                }
            }
        }
        let mut dom: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut ready: Vec<&str> = indeg
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(id, _)| *id)
            .collect();
        while let Some(id) = ready.pop() {
            let mut d: Option<BTreeSet<&str>> = None;
            for p in preds.get(id).into_iter().flatten() {
                let pd = dom.get(p).cloned().unwrap_or_default();
                d = Some(match d {
                    None => pd,
                    Some(acc) => acc.intersection(&pd).copied().collect(),
                });
            }
            let mut d = d.unwrap_or_default();
            d.insert(id);
            dom.insert(id, d);
            if let Some(n) = self.def.node(id) {
                for s in self.def.successors(id) {
                    if live.contains(s)
                        && self.taken(n, s)
                        && let Some(k) = indeg.get_mut(s)
                    {
                        *k -= 1;
                        if *k == 0 {
                            ready.push(s);
                        }
                    }
                }
            }
        }
        reached
            .iter()
            .filter_map(|r| dom.get(r))
            .flatten()
            .copied()
            .collect()
    }

    fn plan(&self) -> Plan {
        let def = self.def;
        let no_roles = RoleNames::new();
        let roles = self.roles.unwrap_or(&no_roles);
        let live = self.reachable();
        let decided = self.decided.is_some();
        let st = self.state;
        let is_current = |id: &str| {
            st.is_some_and(|s| {
                s.tokens.iter().any(|t| t.node == id) || s.returned_from.as_deref() == Some(id)
            })
        };
        // The boxes: one per node, and one per name for the end nodes.
        let mut shown: Vec<Shown> = Vec::new();
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        let mut ends: BTreeMap<String, usize> = BTreeMap::new();
        for n in &def.nodes {
            let (shape, name, sub) = match &n.kind {
                NodeKind::Start { .. } => (Shape::Start, or(&n.name, "开始"), String::new()),
                NodeKind::End => (Shape::End, or(&n.name, "结束"), String::new()),
                NodeKind::Approval {
                    approvers, mode, ..
                } => {
                    let who = words::approvers(approvers, self.form, roles);
                    let sub = match words::mode(*mode) {
                        Some(m) => format!("{who} · {m}"),
                        None => who,
                    };
                    (Shape::Approval, or(&n.name, &n.id), sub)
                }
                NodeKind::Cc { approvers, .. } => (
                    Shape::Cc,
                    or(&n.name, "抄送"),
                    format!("抄送 · {}", words::approvers(approvers, self.form, roles)),
                ),
                NodeKind::Condition { .. } => {
                    (Shape::Condition, or(&n.name, "条件判断"), String::new())
                }
                NodeKind::Parallel { .. } => {
                    (Shape::Parallel, or(&n.name, "并行办理"), String::new())
                }
                NodeKind::Join { .. } => (Shape::Join, or(&n.name, "汇聚"), String::new()),
            };
            if shape == Shape::End
                && let Some(&i) = ends.get(&name)
            {
                shown[i].ids.push(n.id.clone());
                index.insert(n.id.as_str(), i);
                continue;
            }
            if shape == Shape::End {
                ends.insert(name.clone(), shown.len());
            }
            index.entry(n.id.as_str()).or_insert(shown.len());
            shown.push(Shown {
                ids: vec![n.id.clone()],
                shape,
                name,
                sub,
                mark: Mark::Plain,
                w: 0.0,
                h: 0.0,
            });
        }

        // Marks.
        if let Some(s) = st {
            let mut reached: BTreeSet<&str> = s
                .done
                .iter()
                .map(String::as_str)
                .chain(s.tokens.iter().map(|t| t.node.as_str()))
                .chain(s.returned_from.as_deref())
                .filter(|id| live.contains(id))
                .collect();
            if s.status == Status::Completed {
                let live_ends: BTreeSet<usize> = def
                    .nodes
                    .iter()
                    .filter(|n| matches!(n.kind, NodeKind::End) && live.contains(n.id.as_str()))
                    .filter_map(|n| index.get(n.id.as_str()).copied())
                    .collect();
                // Which end was reached is told only when there is one to reach.
                if live_ends.len() == 1 {
                    for id in &shown[*live_ends.iter().next().expect("one")].ids {
                        if let Some(n) = def.node(id) {
                            reached.insert(n.id.as_str());
                        }
                    }
                }
            }
            let passed = self.passed(&reached, &live);
            for sh in &mut shown {
                let ids = || sh.ids.iter().map(String::as_str);
                sh.mark = if ids().any(is_current) {
                    Mark::Current
                } else if match sh.shape {
                    Shape::Approval => ids().any(|id| s.done.iter().any(|d| d == id)),
                    Shape::Start => true,
                    Shape::End => ids().any(|id| reached.contains(id)),
                    _ => ids().any(|id| passed.contains(id)),
                } {
                    Mark::Done
                } else {
                    Mark::Plain
                };
            }
        }
        if decided {
            for sh in &mut shown {
                if sh.mark == Mark::Plain && !sh.ids.iter().any(|id| live.contains(id.as_str())) {
                    sh.mark = Mark::Off;
                }
            }
        }

        // The edges, one per pair of boxes (two branches to one node share a line).
        let mut links: Vec<Link> = Vec::new();
        for n in &def.nodes {
            let Some(&from) = index.get(n.id.as_str()) else {
                continue;
            };
            let labelled: Vec<(&str, Option<String>, Option<String>)> = match &n.kind {
                NodeKind::Condition { branches, default } => {
                    let mut v: Vec<_> = branches
                        .iter()
                        .map(|b| {
                            let c = words::condition(&b.when, self.form);
                            if b.name.trim().is_empty() {
                                (b.next.as_str(), Some(c), None)
                            } else {
                                (b.next.as_str(), Some(b.name.trim().to_owned()), Some(c))
                            }
                        })
                        .collect();
                    let other = match branches.as_slice() {
                        [one] => words::otherwise(&one.when, self.form),
                        _ => None,
                    };
                    v.push((
                        default.as_str(),
                        Some(other.unwrap_or_else(|| "其他".into())),
                        None,
                    ));
                    v
                }
                _ => def
                    .successors(&n.id)
                    .into_iter()
                    .map(|s| (s, None, None))
                    .collect(),
            };
            let fixed = self.fixed(n);
            for (next, label, detail) in labelled {
                let Some(&to) = index.get(next) else {
                    continue;
                };
                let off = decided && (!live.contains(n.id.as_str()) || !self.taken(n, next));
                let taken = fixed == Some(next) && live.contains(n.id.as_str());
                if let Some(l) = links.iter_mut().find(|l| l.from == from && l.to == to) {
                    l.label = match (l.label.take(), label) {
                        (Some(a), Some(b)) => Some(format!("{a}；{b}")),
                        (a, b) => a.or(b),
                    };
                    l.detail = l.detail.take().or(detail);
                    l.off &= off;
                    l.taken |= taken;
                } else {
                    links.push(Link {
                        from,
                        to,
                        label,
                        detail,
                        off,
                        taken,
                        passed: false,
                    });
                }
            }
        }

        for l in &mut links {
            l.passed = shown[l.from].mark == Mark::Done
                && matches!(shown[l.to].mark, Mark::Done | Mark::Current);
        }

        // Sizes.
        let mut vertices = Vec::with_capacity(shown.len());
        for sh in &mut shown {
            let (w, h, left, right) = match sh.shape {
                Shape::Approval | Shape::Cc => {
                    let tw =
                        words::width(&name_text(sh), NAME_PX).max(words::width(&sh.sub, SMALL_PX));
                    let w = (tw + 2.0 * BOX_PAD).clamp(BOX_MIN_W, BOX_MAX_W).ceil();
                    (w, BOX_H, w / 2.0, w / 2.0)
                }
                Shape::Start | Shape::End => {
                    let tw = words::width(&name_text(sh), NAME_PX);
                    let w = (tw + 2.0 * PILL_H / 2.0)
                        .clamp(PILL_MIN_W, BOX_MAX_W)
                        .ceil();
                    (w, PILL_H, w / 2.0, w / 2.0)
                }
                Shape::Condition | Shape::Parallel => {
                    let side = words::width(&sh.name, SMALL_PX).min(SIDE_MAX_W);
                    (
                        2.0 * GATE,
                        2.0 * GATE,
                        GATE,
                        (GATE + SIDE_GAP + side).ceil(),
                    )
                }
                Shape::Join => (2.0 * GATE, 2.0 * GATE, GATE, GATE),
            };
            sh.w = w;
            sh.h = h;
            vertices.push(Vertex {
                left,
                right,
                height: h,
                bottom: sh.shape == Shape::End,
            });
        }
        let edges: Vec<Edge> = links
            .iter()
            .map(|l| Edge {
                from: l.from,
                to: l.to,
                label: l.label.as_ref().map(|t| label_size(&label_lines(t))),
            })
            .collect();
        let layout = layout::layout(&vertices, &edges);
        Plan {
            shown,
            links,
            layout,
        }
    }

    pub fn svg(&self) -> String {
        draw::render(&self.plan())
    }
}

fn label_lines(text: &str) -> Vec<String> {
    words::wrap(text, SMALL_PX, LABEL_MAX_W, 2)
}

/// A label's pill: its widest line and 14 px a line.
fn label_size(lines: &[String]) -> (f64, f64) {
    let tw = lines
        .iter()
        .map(|l| words::width(l, SMALL_PX))
        .fold(0.0, f64::max);
    (
        (tw + 2.0 * LABEL_PAD).ceil(),
        LABEL_H + LINE_H * (lines.len().max(1) - 1) as f64,
    )
}

fn or(name: &str, fallback: &str) -> String {
    let t = name.trim();
    if t.is_empty() {
        fallback.to_owned()
    } else {
        t.to_owned()
    }
}

/// The name as written in the box: done nodes carry a tick (not only colour tells).
fn name_text(sh: &Shown) -> String {
    if sh.mark == Mark::Done && !matches!(sh.shape, Shape::Start | Shape::End) {
        format!("✓ {}", sh.name)
    } else {
        sh.name.clone()
    }
}

#[cfg(test)]
mod tests;
