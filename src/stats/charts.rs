//! Server-rendered SVG charts for the efficiency-statistics page (效能数据). Pure: markup
//! in, markup out. The page prints the result with `|safe`, so every text goes through
//! `esc`. Charts scale to their container (`viewBox`, `width="100%"`); the page's CSS caps
//! their width (the CSP forbids inline styles, so none are written here).

use std::fmt::Write;

/// One bar: its label (x axis or row label), its value, and how the value is written
/// next to/above the bar (e.g. "12" or "3.5 天").
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub shown: String,
    pub highlight: bool,
}

const BRAND: &str = "#1a5fb4";
const SOFT: &str = "#e8f0fb";
const TEXT: &str = "#1f2933";
const MUTED: &str = "#667085";
const LINE: &str = "#e3e8ef";
const DANGER: &str = "#c0362c";

const FONTS: &str = "-apple-system,BlinkMacSystemFont,'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Noto Sans SC','WenQuanYi Micro Hei',sans-serif";

/// viewBox width of both charts. Text sizes are large for it on purpose: on a 390 px
/// phone the drawing is shrunk to about 0.55.
const W: f64 = 640.0;
/// Font size of labels and values.
const FONT: f64 = 16.0;
/// Font size of axis notes (ticks, unit).
const SMALL: f64 = 14.0;
/// Width of one half-width character as a share of the font size (a rough estimate:
/// only used to keep texts apart, never to fit them exactly).
const HALF_EM: f64 = 0.56;

/// Columns with their value written above only up to this many (past it, the table
/// beneath the chart carries the numbers).
const MAX_VALUED_COLUMNS: usize = 16;
/// Longest row label, in half-width units (a CJK character counts 2): 12 CJK characters.
const ROW_LABEL_UNITS: usize = 24;
/// Longest x-axis label, in half-width units.
const COLUMN_LABEL_UNITS: usize = 12;
const ROW_H: f64 = 28.0;
const ROW_BAR_H: f64 = 16.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A coordinate: at most one decimal, no ".0".
fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// NaN, infinite and negative values are drawn as 0; huge ones are capped so the scale
/// computed from them stays finite.
fn clean(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v.min(1e15)
    } else {
        0.0
    }
}

/// Element ids are built from `id`: only [a-z0-9-] (ASCII capitals lowered).
fn sanitize_id(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    if s.is_empty() { "chart".to_owned() } else { s }
}

fn char_units(c: char) -> usize {
    // CJK, full-width forms and the like are about twice a Latin letter.
    if (c as u32) >= 0x2E80 { 2 } else { 1 }
}

/// Display width in half-width units.
fn units(s: &str) -> usize {
    s.chars().map(char_units).sum()
}

/// `s` cut to at most `max` units, with "…" when cut.
fn truncate(s: &str, max: usize) -> String {
    if units(s) <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 1; // the ellipsis
    for c in s.chars() {
        used += char_units(c);
        if used > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

fn text_px(s: &str, font: f64) -> f64 {
    units(s) as f64 * font * HALF_EM
}

/// Grid values from 0 up to the first multiple of a 1/2/5 × 10^k step at or above `max`,
/// in at most 4 steps (e.g. 37 → 0, 10, 20, 30, 40). `max` must be positive and finite.
fn nice_ticks(max: f64) -> Vec<f64> {
    // m × 10^e, divided rather than multiplied for e < 0 so 3 × 0.1 comes out as 0.3.
    let value = |m: f64, e: i32| {
        if e >= 0 {
            m * 10f64.powi(e)
        } else {
            m / 10f64.powi(-e)
        }
    };
    let steps = |step: f64| (max / step - 1e-9).ceil().max(1.0);
    let (mut mant, mut exp) = (1u8, (max / 4.0).log10().floor() as i32);
    while steps(value(f64::from(mant), exp)) > 4.0 {
        (mant, exp) = match mant {
            1 => (2, exp),
            2 => (5, exp),
            _ => (1, exp + 1),
        };
    }
    let n = steps(value(f64::from(mant), exp)) as u32;
    (0..=n)
        .map(|i| value(f64::from(i) * f64::from(mant), exp))
        .collect()
}

/// A tick value, with as many decimals as its step needs.
fn tick_text(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{v:.decimals$}")
}

fn open(out: &mut String, id: &str, class: &str, title: &str, h: f64) {
    let _ = write!(
        out,
        r#"<svg class="chart {class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-labelledby="{id}-title" font-family="{FONTS}"><title id="{id}-title">{title}</title>"#,
        w = num(W),
        h = num(h),
        title = esc(title),
    );
}

/// The small drawing shown instead of a chart with nothing to draw.
fn no_data(id: &str, class: &str, title: &str) -> String {
    let mut out = String::new();
    open(&mut out, id, class, title, 80.0);
    let _ = write!(
        out,
        r#"<text class="empty" x="{}" y="46" text-anchor="middle" font-size="{}" fill="{MUTED}">暂无数据</text></svg>"#,
        num(W / 2.0),
        num(FONT)
    );
    out
}

/// The hover tooltip of one bar.
fn bar_title(b: &Bar) -> String {
    format!("<title>{}：{}</title>", esc(&b.label), esc(&b.shown))
}

/// Indexes of the x labels to write when `n` labels of at most `label_px` share `slot`
/// each: every `step`-th, always the first and the last.
fn shown_labels(n: usize, slot: f64, label_px: f64) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let step = (((label_px + 8.0) / slot).ceil() as usize).max(1);
    let last = n - 1;
    let mut out: Vec<usize> = (0..n)
        .step_by(step)
        .filter(|&i| i == last || last - i >= step)
        .collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// Vertical columns (a weekly trend, a distribution). `title` becomes the SVG <title>
/// (accessible name, with role="img" and aria-labelledby); `unit` is a short axis note
/// written top-left (e.g. "件"). Returns the SVG markup as a String.
pub fn columns(id: &str, title: &str, unit: &str, bars: &[Bar]) -> String {
    let id = sanitize_id(id);
    let values: Vec<f64> = bars.iter().map(|b| clean(b.value)).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return no_data(&id, "chart-columns", title);
    }
    const H: f64 = 260.0;
    let ticks = nice_ticks(max);
    let step = ticks.get(1).copied().unwrap_or(max);
    let top_value = ticks.last().copied().unwrap_or(max);
    let tick_texts: Vec<String> = ticks.iter().map(|&t| tick_text(t, step)).collect();
    let tick_w = tick_texts
        .iter()
        .map(|t| text_px(t, SMALL))
        .fold(0.0, f64::max);
    let (x0, x1) = ((tick_w + 14.0).max(36.0), W - 16.0);
    let (y_top, y_base) = (34.0, H - 30.0);
    let plot_h = y_base - y_top;
    let y_of = |v: f64| y_base - v / top_value * plot_h;

    let mut out = String::new();
    open(&mut out, &id, "chart-columns", title, H);
    if !unit.is_empty() {
        let _ = write!(
            out,
            r#"<text class="unit" x="4" y="16" font-size="{}" fill="{MUTED}">{}</text>"#,
            num(SMALL),
            esc(unit)
        );
    }
    out.push_str(r#"<g class="grid">"#);
    for (t, text) in ticks.iter().zip(&tick_texts) {
        let y = num(y_of(*t));
        if *t > 0.0 {
            let _ = write!(
                out,
                r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{LINE}" stroke-width="1"/>"#,
                num(x0),
                num(x1)
            );
        }
        let _ = write!(
            out,
            r#"<text x="{}" y="{y}" dy="0.35em" text-anchor="end" font-size="{}" fill="{MUTED}">{text}</text>"#,
            num(x0 - 6.0),
            num(SMALL)
        );
    }
    out.push_str("</g>");

    let n = bars.len();
    let slot = (x1 - x0) / n as f64;
    let bar_w = (slot * 0.64).min(48.0);
    let with_values = n <= MAX_VALUED_COLUMNS;
    out.push_str(r#"<g class="bars">"#);
    for (i, (b, &v)) in bars.iter().zip(&values).enumerate() {
        let cx = x0 + slot * (i as f64 + 0.5);
        // A value above zero always shows as at least a sliver.
        let h = if v > 0.0 {
            (v / top_value * plot_h).max(1.0)
        } else {
            0.0
        };
        let fill = if b.highlight { DANGER } else { BRAND };
        let _ = write!(
            out,
            r#"<rect class="bar{}" x="{}" y="{}" width="{}" height="{}" rx="2" fill="{fill}">{}</rect>"#,
            if b.highlight { " highlight" } else { "" },
            num(cx - bar_w / 2.0),
            num(y_base - h),
            num(bar_w),
            num(h),
            bar_title(b)
        );
        if with_values {
            let _ = write!(
                out,
                r#"<text class="value" x="{}" y="{}" text-anchor="middle" font-size="{}" fill="{}">{}</text>"#,
                num(cx),
                num(y_base - h - 6.0),
                num(SMALL),
                if b.highlight { DANGER } else { TEXT },
                esc(&b.shown)
            );
        }
    }
    out.push_str("</g>");
    let _ = write!(
        out,
        r#"<line class="baseline" x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{MUTED}" stroke-width="1"/>"#,
        num(x0),
        num(x1),
        y = num(y_base)
    );

    let labels: Vec<String> = bars
        .iter()
        .map(|b| truncate(&b.label, COLUMN_LABEL_UNITS))
        .collect();
    let label_px = labels.iter().map(|l| text_px(l, SMALL)).fold(0.0, f64::max);
    out.push_str(r#"<g class="x-labels">"#);
    for i in shown_labels(n, slot, label_px) {
        let _ = write!(
            out,
            r#"<text class="x-label" x="{}" y="{}" text-anchor="middle" font-size="{}" fill="{MUTED}">{}</text>"#,
            num(x0 + slot * (i as f64 + 0.5)),
            num(y_base + 20.0),
            num(SMALL),
            esc(&labels[i])
        );
    }
    out.push_str("</g></svg>");
    out
}

/// Horizontal bars, one row per bar (label left, bar, value right): time per node etc.
pub fn rows(id: &str, title: &str, bars: &[Bar]) -> String {
    let id = sanitize_id(id);
    let values: Vec<f64> = bars.iter().map(|b| clean(b.value)).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return no_data(&id, "chart-rows", title);
    }
    let labels: Vec<String> = bars
        .iter()
        .map(|b| truncate(&b.label, ROW_LABEL_UNITS))
        .collect();
    // The label column is as wide as the widest label needs; the value column leaves
    // room for the longest value right of the longest bar.
    let label_w = labels.iter().map(|l| text_px(l, FONT)).fold(0.0, f64::max) + 12.0;
    let value_w = bars
        .iter()
        .map(|b| text_px(&b.shown, FONT))
        .fold(0.0, f64::max)
        + 12.0;
    let (x0, right) = (4.0 + label_w, 8.0);
    let bar_area = (W - x0 - value_w - right).max(80.0);
    let pad = 8.0;
    let h = bars.len() as f64 * ROW_H + 2.0 * pad;

    let mut out = String::new();
    open(&mut out, &id, "chart-rows", title, h);
    for (i, ((b, &v), label)) in bars.iter().zip(&values).zip(&labels).enumerate() {
        let mid = pad + ROW_H * (i as f64 + 0.5);
        let y = mid - ROW_BAR_H / 2.0;
        let w = if v > 0.0 {
            (v / max * bar_area).max(1.0)
        } else {
            0.0
        };
        let (fill, ink) = if b.highlight {
            (DANGER, DANGER)
        } else {
            (BRAND, TEXT)
        };
        let weight = if b.highlight {
            r#" font-weight="600""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<g class="row{}"><text class="label" x="{}" y="{}" dy="0.35em" text-anchor="end" font-size="{}" fill="{ink}"{weight}>{}</text><rect class="track" x="{}" y="{}" width="{}" height="{}" rx="2" fill="{SOFT}"/><rect class="bar" x="{}" y="{}" width="{}" height="{}" rx="2" fill="{fill}">{}</rect><text class="value" x="{}" y="{}" dy="0.35em" font-size="{}" fill="{ink}"{weight}>{}</text></g>"#,
            if b.highlight { " highlight" } else { "" },
            num(x0 - 8.0),
            num(mid),
            num(FONT),
            esc(label),
            num(x0),
            num(y),
            num(bar_area),
            num(ROW_BAR_H),
            num(x0),
            num(y),
            num(w),
            num(ROW_BAR_H),
            bar_title(b),
            num(x0 + w + 6.0),
            num(mid),
            num(FONT),
            esc(&b.shown)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(rects[1].attribute("fill"), Some(DANGER));
            assert_eq!(rects[0].attribute("fill"), Some(BRAND));
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
    fn thinning_always_keeps_first_and_last() {
        for n in 1..60 {
            for label_px in [10.0, 40.0, 90.0] {
                let shown = shown_labels(n, 584.0 / n as f64, label_px);
                assert_eq!(shown.first(), Some(&0));
                assert_eq!(shown.last(), Some(&(n - 1)));
                assert!(shown.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn ticks_are_nice_numbers() {
        assert_eq!(nice_ticks(37.0), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(nice_ticks(40.0), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(nice_ticks(41.0), vec![0.0, 20.0, 40.0, 60.0]);
        assert_eq!(nice_ticks(5.0), vec![0.0, 2.0, 4.0, 6.0]);
        assert_eq!(nice_ticks(1.0), vec![0.0, 0.5, 1.0]);
        assert_eq!(nice_ticks(0.3), vec![0.0, 0.1, 0.2, 0.3]);
        assert_eq!(nice_ticks(930.0).last(), Some(&1000.0));
        for max in [0.07, 1.3, 3.0, 7.5, 12.0, 99.0, 101.0, 12_345.0] {
            let t = nice_ticks(max);
            assert!((3..=5).contains(&t.len()), "{max}: {t:?}");
            assert!(*t.last().unwrap_or(&0.0) >= max, "{max}: {t:?}");
        }
        assert_eq!(tick_text(0.3, 0.1), "0.3");
        assert_eq!(tick_text(0.5, 0.5), "0.5");
        assert_eq!(tick_text(40.0, 10.0), "40");
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
    fn long_row_labels_are_cut() {
        assert_eq!(truncate("学院审核", 24), "学院审核");
        assert_eq!(
            truncate("研究生院培养办公室主任审核意见汇总", 24),
            "研究生院培养办公室主任…"
        );
        assert_eq!(truncate("abcdefghijklmnopqrstuvwxyz", 12), "abcdefghijk…");
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

    #[test]
    fn ids_are_sanitized() {
        assert_eq!(sanitize_id("Weekly trend_2"), "weekly-trend-2");
        assert_eq!(sanitize_id("\"><x"), "---x");
        assert_eq!(sanitize_id("效能"), "--");
        assert_eq!(sanitize_id(""), "chart");
    }
}
