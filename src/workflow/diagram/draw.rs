//! Writing a planned drawing out as SVG. Every text goes through `esc`: the page prints
//! the result with `|safe`.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{
    BOX_PAD, GATE, LINE_H, Mark, NAME_PX, PILL_H, Plan, SIDE_GAP, SIDE_MAX_W, SMALL_PX, Shape,
    Shown, label_lines, label_size,
    layout::{Placed, Route},
    name_text, words,
};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const FONTS: &str = "-apple-system,BlinkMacSystemFont,'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Noto Sans SC','WenQuanYi Micro Hei',sans-serif";

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

struct Palette {
    fill: &'static str,
    stroke: &'static str,
    text: &'static str,
    sub: &'static str,
}

fn palette(sh: &Shown) -> Palette {
    match (sh.mark, sh.shape) {
        (Mark::Current, _) => Palette {
            fill: "#1a5fb4",
            stroke: "#124a8f",
            text: "#ffffff",
            sub: "#dce8f8",
        },
        (Mark::Done, _) => Palette {
            fill: "#e8f5ee",
            stroke: "#2f8f5b",
            text: "#14532d",
            sub: "#3b6e50",
        },
        (_, Shape::Cc) => Palette {
            fill: "#f7f6fe",
            stroke: "#9189d4",
            text: "#1f2933",
            sub: "#5b528f",
        },
        (_, Shape::Start | Shape::End) => Palette {
            fill: "#eef3fa",
            stroke: "#8ba5c8",
            text: "#1f3a5f",
            sub: "#5f6b7a",
        },
        (_, Shape::Condition) => Palette {
            fill: "#fff6e0",
            stroke: "#d19a00",
            text: "#475467",
            sub: "#475467",
        },
        (_, Shape::Parallel | Shape::Join) => Palette {
            fill: "#eef0ff",
            stroke: "#6f78d0",
            text: "#475467",
            sub: "#475467",
        },
        _ => Palette {
            fill: "#ffffff",
            stroke: "#b8c2d0",
            text: "#1f2933",
            sub: "#5f6b7a",
        },
    }
}

const EDGE: &str = "#98a2b3";
const EDGE_PASSED: &str = "#3f9a6b";

pub(super) fn arrow(out: &mut String, pts: &[(f64, f64)], colour: &str) {
    let n = pts.len();
    if n < 2 {
        return;
    }
    let ((ax, ay), (bx, by)) = (pts[n - 2], pts[n - 1]);
    // Not `signum`: it calls 0.0 positive.
    let sign = |v: f64| {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let (dx, dy) = (sign(bx - ax), sign(by - ay));
    let (len, half) = (7.0, 4.5);
    // Tip at the end point, base `len` back along the line.
    let (px, py) = (bx - dx * len, by - dy * len);
    let (ox, oy) = (dy.abs() * half, dx.abs() * half);
    let _ = write!(
        out,
        r#"<path d="M{} {}L{} {}L{} {}Z" fill="{colour}"/>"#,
        num(px - ox),
        num(py - oy),
        num(bx),
        num(by),
        num(px + ox),
        num(py + oy)
    );
}

pub(super) fn render(p: &Plan) -> String {
    let (w, h) = (num(p.layout.width), num(p.layout.height));
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="flow-diagram" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="流程图" font-family="{FONTS}">"#
    );
    // Edges: the dimmed first, so a line shared with a live one shows live.
    let mut order: Vec<usize> = (0..p.links.len()).collect();
    order.sort_by_key(|&i| (!p.links[i].off, p.links[i].passed));
    out.push_str(r#"<g class="edges" fill="none">"#);
    // Arrowheads, one per point of arrival: (any live edge, any passed edge).
    let mut tips: BTreeMap<(i64, i64), (bool, bool)> = BTreeMap::new();
    for &i in &order {
        let (l, Some(r)) = (&p.links[i], &p.layout.edges[i]) else {
            continue;
        };
        let mut d = String::new();
        for (k, (x, y)) in r.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{} {}",
                if k == 0 { "M" } else { "L" },
                num(*x),
                num(*y)
            );
        }
        let _ = write!(
            out,
            r#"<path class="edge{}{}" d="{d}" stroke="{}" stroke-width="1.5"{}/>"#,
            if l.off { " off" } else { "" },
            if l.passed { " passed" } else { "" },
            if l.passed { EDGE_PASSED } else { EDGE },
            if l.off { r#" opacity="0.35""# } else { "" }
        );
        if let Some(&(x, y)) = r.points.last() {
            let tip = tips.entry((x as i64, y as i64)).or_insert((false, false));
            tip.0 |= !l.off;
            tip.1 |= l.passed;
        }
    }
    for &i in &order {
        let Some(r) = &p.layout.edges[i] else {
            continue;
        };
        if let Some(&(x, y)) = r.points.last()
            && let Some((live, passed)) = tips.remove(&(x as i64, y as i64))
        {
            if !live {
                out.push_str(r#"<g opacity="0.35">"#);
            }
            arrow(&mut out, &r.points, if passed { EDGE_PASSED } else { EDGE });
            if !live {
                out.push_str("</g>");
            }
        }
    }
    out.push_str("</g>");

    // Edge labels.
    for (l, r) in p.links.iter().zip(&p.layout.edges) {
        let (
            Some(text),
            Some(Route {
                label: Some((cx, cy)),
                ..
            }),
        ) = (&l.label, r)
        else {
            continue;
        };
        let lines = label_lines(text);
        let (lw, lh) = label_size(&lines);
        let title = match &l.detail {
            Some(d) => format!("{text}：{d}"),
            None => text.clone(),
        };
        let (fill, stroke, ink) = if l.taken {
            ("#eaf2fc", "#8fb3e3", "#1a5fb4")
        } else {
            ("#ffffff", "#d0d5dd", "#344054")
        };
        let top = cy - lh / 2.0;
        let _ = write!(
            out,
            r#"<g class="edge-label{}{}"{}><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" rx="10" fill="{fill}" stroke="{stroke}"/>"#,
            if l.off { " off" } else { "" },
            if l.taken { " taken" } else { "" },
            if l.off { r#" opacity="0.45""# } else { "" },
            esc(&title),
            num(cx - lw / 2.0),
            num(top),
            num(lw),
            num(lh),
        );
        for (k, line) in lines.iter().enumerate() {
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" text-anchor="middle" font-size="{SMALL_PX}" fill="{ink}">{}</text>"#,
                num(*cx),
                num(top + 14.0 + LINE_H * k as f64),
                esc(line)
            );
        }
        out.push_str("</g>");
    }

    // Boxes.
    for (sh, at) in p.shown.iter().zip(&p.layout.nodes) {
        node(&mut out, sh, at);
    }
    out.push_str("</svg>");
    out
}

fn node(out: &mut String, sh: &Shown, at: &Placed) {
    let c = palette(sh);
    let (x, y, cx) = (at.x - sh.w / 2.0, at.y, at.x);
    let state = match sh.mark {
        Mark::Current => " current",
        Mark::Done => " done",
        Mark::Off => " off",
        Mark::Plain => "",
    };
    let kind = match sh.shape {
        Shape::Approval => "approval",
        Shape::Cc => "cc",
        Shape::Start => "start",
        Shape::End => "end",
        Shape::Condition => "condition",
        Shape::Parallel => "parallel",
        Shape::Join => "join",
    };
    let said = match sh.mark {
        Mark::Current => "（当前环节）",
        Mark::Done => "（已办）",
        Mark::Off => "（本申请不经过）",
        Mark::Plain => "",
    };
    let title = if sh.sub.is_empty() {
        format!("{}{said}", sh.name)
    } else {
        format!("{}：{}{said}", sh.name, sh.sub)
    };
    let _ = write!(
        out,
        r#"<g class="node {kind}{state}" data-node="{}"{}><title>{}</title>"#,
        esc(&sh.ids[0]),
        if sh.mark == Mark::Off {
            r#" opacity="0.4""#
        } else {
            ""
        },
        esc(&title)
    );
    let stroke_w = if sh.mark == Mark::Current { "2" } else { "1.5" };
    match sh.shape {
        Shape::Approval | Shape::Cc => {
            let dash = if sh.shape == Shape::Cc {
                r#" stroke-dasharray="5 3""#
            } else {
                ""
            };
            let room = sh.w - 2.0 * BOX_PAD + 2.0;
            let (name, _) = words::fit(&name_text(sh), NAME_PX, room);
            let (sub, _) = words::fit(&sh.sub, SMALL_PX, room);
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="{}" stroke="{}" stroke-width="{stroke_w}"{dash}/><text x="{}" y="{}" text-anchor="middle" font-size="{NAME_PX}" font-weight="600" fill="{}">{}</text><text x="{}" y="{}" text-anchor="middle" font-size="{SMALL_PX}" fill="{}">{}</text>"#,
                num(x),
                num(y),
                num(sh.w),
                num(sh.h),
                c.fill,
                c.stroke,
                num(cx),
                num(y + 19.0),
                c.text,
                esc(&name),
                num(cx),
                num(y + 35.0),
                c.sub,
                esc(&sub)
            );
        }
        Shape::Start | Shape::End => {
            let (name, _) = words::fit(&sh.name, NAME_PX, sh.w - PILL_H + 4.0);
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="{}" stroke="{}" stroke-width="{stroke_w}"/><text x="{}" y="{}" text-anchor="middle" font-size="{NAME_PX}" font-weight="600" fill="{}">{}</text>"#,
                num(x),
                num(y),
                num(sh.w),
                num(sh.h),
                num(sh.h / 2.0),
                c.fill,
                c.stroke,
                num(cx),
                num(y + sh.h / 2.0 + 5.0),
                c.text,
                esc(&name)
            );
        }
        Shape::Condition | Shape::Parallel | Shape::Join => {
            let cy = y + GATE;
            let _ = write!(
                out,
                r#"<path d="M{} {}L{} {}L{} {}L{} {}Z" fill="{}" stroke="{}" stroke-width="{stroke_w}"/>"#,
                num(cx),
                num(y),
                num(cx + GATE),
                num(cy),
                num(cx),
                num(y + 2.0 * GATE),
                num(cx - GATE),
                num(cy),
                c.fill,
                c.stroke
            );
            if sh.shape != Shape::Condition {
                // The parallel gateway's plus.
                let _ = write!(
                    out,
                    r#"<path d="M{} {}H{}M{} {}V{}" stroke="{}" stroke-width="2"/>"#,
                    num(cx - 6.0),
                    num(cy),
                    num(cx + 6.0),
                    num(cx),
                    num(cy - 6.0),
                    num(cy + 6.0),
                    c.stroke
                );
            }
            if sh.shape != Shape::Join {
                let (side, _) = words::fit(&sh.name, SMALL_PX, SIDE_MAX_W);
                let _ = write!(
                    out,
                    r#"<text x="{}" y="{}" font-size="{SMALL_PX}" fill="{}">{}</text>"#,
                    num(cx + GATE + SIDE_GAP),
                    num(cy + 4.0),
                    c.text,
                    esc(&side)
                );
            }
        }
    }
    out.push_str("</g>");
}
