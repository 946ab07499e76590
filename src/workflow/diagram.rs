//! The 流程 view: the whole definition as a server-rendered SVG (top to bottom, so it
//! reads on a phone), with completed and current nodes marked.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{
    engine::State,
    model::{Definition, NodeKind},
};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const W: i32 = 140;
const H: i32 = 40;
const GAP_X: i32 = 16;
const GAP_Y: i32 = 36;

/// Layer = longest distance from the start (definitions are acyclic).
fn layers(def: &Definition) -> Vec<Vec<&str>> {
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    let Some(start) = def.start() else {
        return Vec::new();
    };
    depth.insert(start.id.as_str(), 0);
    // Relax edges |nodes| times (tiny graphs).
    for _ in 0..def.nodes.len() {
        let snapshot: Vec<(&str, usize)> = depth.iter().map(|(k, v)| (*k, *v)).collect();
        for (id, d) in snapshot {
            for s in def.successors(id) {
                let e = depth.entry(s).or_insert(0);
                if *e < d + 1 {
                    *e = d + 1;
                }
            }
        }
    }
    let max = depth.values().copied().max().unwrap_or(0);
    let mut out = vec![Vec::new(); max + 1];
    for n in &def.nodes {
        if let Some(d) = depth.get(n.id.as_str()) {
            out[*d].push(n.id.as_str());
        }
    }
    out
}

pub fn svg(def: &Definition, st: Option<&State>) -> String {
    let layers = layers(def);
    let widest = layers.iter().map(Vec::len).max().unwrap_or(1) as i32;
    let width = widest * (W + GAP_X) + GAP_X;
    let height = layers.len() as i32 * (H + GAP_Y) + GAP_Y / 2;
    let mut pos: BTreeMap<&str, (i32, i32)> = BTreeMap::new();
    for (li, layer) in layers.iter().enumerate() {
        let row_w = layer.len() as i32 * (W + GAP_X) - GAP_X;
        let x0 = (width - row_w) / 2;
        for (i, id) in layer.iter().enumerate() {
            pos.insert(
                id,
                (
                    x0 + i as i32 * (W + GAP_X),
                    GAP_Y / 2 + li as i32 * (H + GAP_Y),
                ),
            );
        }
    }
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="flow-diagram" viewBox="0 0 {width} {height}" role="img" aria-label="流程图" xmlns="http://www.w3.org/2000/svg">"#
    );
    out.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#8a96a8"/></marker></defs>"##);
    for n in &def.nodes {
        let Some(&(x, y)) = pos.get(n.id.as_str()) else {
            continue;
        };
        for s in def.successors(&n.id) {
            if let Some(&(sx, sy)) = pos.get(s) {
                let _ = write!(
                    out,
                    r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#8a96a8" stroke-width="1.5" marker-end="url(#arrow)"/>"##,
                    x + W / 2,
                    y + H,
                    sx + W / 2,
                    sy - 2
                );
            }
        }
    }
    for n in &def.nodes {
        let Some(&(x, y)) = pos.get(n.id.as_str()) else {
            continue;
        };
        let current = st.is_some_and(|s| {
            s.tokens.iter().any(|t| t.node == n.id)
                || s.returned_from.as_deref() == Some(n.id.as_str())
        });
        let done = st.is_some_and(|s| s.done.contains(&n.id));
        let (fill, stroke) = if current {
            ("#1a5fb4", "#134a8e")
        } else if done {
            ("#e6f4ec", "#1e7d4f")
        } else {
            ("#ffffff", "#b8c2d0")
        };
        let text_fill = if current { "#ffffff" } else { "#1f2933" };
        let (label, rx, dash) = match &n.kind {
            NodeKind::Start { .. } => (
                if n.name.is_empty() {
                    "开始".to_owned()
                } else {
                    n.name.clone()
                },
                20,
                "",
            ),
            NodeKind::End => (
                if n.name.is_empty() {
                    "结束".to_owned()
                } else {
                    n.name.clone()
                },
                20,
                "",
            ),
            NodeKind::Approval { mode, .. } => (
                format!(
                    "{}{}",
                    n.name,
                    if *mode == super::model::Mode::Any {
                        ""
                    } else {
                        "·"
                    }
                ),
                6,
                "",
            ),
            NodeKind::Cc { .. } => (
                format!("抄送：{}", n.name.trim_start_matches("抄送")),
                6,
                r#" stroke-dasharray="4 3""#,
            ),
            NodeKind::Condition { .. } => {
                (format!("◇ {}", n.name), 6, r#" stroke-dasharray="2 2""#)
            }
            NodeKind::Parallel { .. } => ("并行分支".to_owned(), 6, ""),
            NodeKind::Join { .. } => ("汇聚".to_owned(), 6, ""),
        };
        let label: String = label.chars().take(11).collect();
        let _ = write!(
            out,
            r#"<g class="node{}"><rect x="{x}" y="{y}" width="{W}" height="{H}" rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/><text x="{}" y="{}" text-anchor="middle" font-size="13" fill="{text_fill}">{}</text></g>"#,
            if current {
                " current"
            } else if done {
                " done"
            } else {
                ""
            },
            x + W / 2,
            y + H / 2 + 5,
            esc(&label)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn marks_current_and_escapes_names() {
        let d: super::Definition = serde_json::from_value(json!({"nodes": [
            {"id": "start", "type": "start", "next": "a"},
            {"id": "a", "type": "approval", "name": "<b>审批</b>", "approvers": {"kind": "applicant"}, "next": "end"},
            {"id": "end", "type": "end"}
        ]}))
        .unwrap();
        let st: super::State = serde_json::from_value(json!({
            "status": "running", "tokens": [{"node": "a", "slots": [{"user": 2, "state": {"s": "pending"}}]}]
        }))
        .unwrap();
        let svg = super::svg(&d, Some(&st));
        assert!(svg.contains("&lt;b&gt;审批") && !svg.contains("<b>"));
        assert!(svg.contains(r#"class="node current""#));
        assert_eq!(svg.matches("<line").count(), 2);
    }
}
