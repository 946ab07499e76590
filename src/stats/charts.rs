//! Server-rendered SVG charts for the efficiency-statistics page (效能数据). Pure: markup
//! in, markup out. The page prints the result with `|safe`, so every text goes through
//! `esc`. Charts scale to their container (`viewBox`, `width="100%"`); the page's CSS caps
//! their width (the CSP forbids inline styles, so none are written here).
//!
//! A chart comes in two sizes (`Size`): a wide drawing for screens and a narrow one
//! (its own viewBox and layout) for phones, where the wide one would be shrunk to about
//! half and its text to 8 px. `*_responsive` writes both, classed `chart-wide` and
//! `chart-narrow`; the page's CSS shows one of them.

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

/// Which drawing: for a screen about 600–760 px wide for the chart, or for a phone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Size {
    Wide,
    Narrow,
}

/// The measures of one size, in viewBox units.
struct Dims {
    /// viewBox width.
    w: f64,
    /// Font size of labels and values.
    font: f64,
    /// Font size of axis notes (ticks, unit) and column labels and values.
    small: f64,
    /// The class naming the size.
    class: &'static str,
}

impl Size {
    fn dims(self) -> Dims {
        match self {
            // Drawn at up to 760 px (the page's cap): 16 → 19 px, 14 → 16.6 px; at
            // 600 px still 13 / 11.5 px.
            Size::Wide => Dims {
                w: 640.0,
                font: 16.0,
                small: 14.0,
                class: "chart-wide",
            },
            // A 390 px phone gives the chart about 318 px (0.94): 15 → 14 px, 14 → 13 px.
            Size::Narrow => Dims {
                w: 340.0,
                font: 15.0,
                small: 14.0,
                class: "chart-narrow",
            },
        }
    }
}

/// Width of one half-width character as a share of the font size (a rough estimate:
/// only used to keep texts apart, never to fit them exactly).
const HALF_EM: f64 = 0.56;

/// Columns with their value written above only up to this many (past it, the table
/// beneath the chart carries the numbers).
const MAX_VALUED_COLUMNS: usize = 16;
/// Longest row label of the wide drawing, in half-width units (a CJK character counts
/// 2): 12 CJK characters. The narrow drawing writes labels above their bars, as long
/// as its width allows.
const ROW_LABEL_UNITS: usize = 24;
/// Longest x-axis label, in half-width units.
const COLUMN_LABEL_UNITS: usize = 12;
const ROW_H: f64 = 28.0;
const ROW_BAR_H: f64 = 16.0;
/// The narrow rows: a label line, then the bar.
const NARROW_ROW_H: f64 = 46.0;
const NARROW_BAR_H: f64 = 14.0;

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

/// `s` split in two where half-width text meets CJK text ("8–24小时" → "8–24", "小时"),
/// the first such place; `None` when there is none.
fn two_lines(s: &str) -> Option<(&str, &str)> {
    let mut prev: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let wide = char_units(c) == 2;
        if prev.is_some_and(|p| p != wide) {
            return Some((&s[..i], &s[i..]));
        }
        prev = Some(wide);
    }
    None
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

fn open(out: &mut String, id: &str, class: &str, d: &Dims, title: &str, h: f64) {
    let _ = write!(
        out,
        r#"<svg class="chart {class} {size}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-labelledby="{id}-title" font-family="{FONTS}"><title id="{id}-title">{title}</title>"#,
        size = d.class,
        w = num(d.w),
        h = num(h),
        title = esc(title),
    );
}

/// The small drawing shown instead of a chart with nothing to draw.
fn no_data(id: &str, class: &str, d: &Dims, title: &str) -> String {
    let mut out = String::new();
    open(&mut out, id, class, d, title, 80.0);
    let _ = write!(
        out,
        r#"<text class="empty" x="{}" y="46" text-anchor="middle" font-size="{}" fill="{MUTED}">暂无数据</text></svg>"#,
        num(d.w / 2.0),
        num(d.font)
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

/// The id of a chart's narrow drawing, next to the wide one on the same page.
fn narrow_id(id: &str) -> String {
    format!("{}-narrow", sanitize_id(id))
}

/// Vertical columns (a weekly trend, a distribution), the wide drawing. `title` becomes
/// the SVG <title> (accessible name, with role="img" and aria-labelledby); `unit` is a
/// short axis note written top-left (e.g. "件"). Returns the SVG markup as a String.
pub fn columns(id: &str, title: &str, unit: &str, bars: &[Bar]) -> String {
    columns_sized(Size::Wide, id, title, unit, bars)
}

/// Both drawings of `columns`, the wide then the narrow (its id suffixed `-narrow`).
pub fn columns_responsive(id: &str, title: &str, unit: &str, bars: &[Bar]) -> String {
    columns_sized(Size::Wide, id, title, unit, bars)
        + &columns_sized(Size::Narrow, &narrow_id(id), title, unit, bars)
}

/// Vertical columns in one size. Labels too wide for their column are written on two
/// lines where figures meet words ("8–24" over "小时"), or else only every so many.
pub fn columns_sized(size: Size, id: &str, title: &str, unit: &str, bars: &[Bar]) -> String {
    let d = size.dims();
    let id = sanitize_id(id);
    let values: Vec<f64> = bars.iter().map(|b| clean(b.value)).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return no_data(&id, "chart-columns", &d, title);
    }
    let ticks = nice_ticks(max);
    let step = ticks.get(1).copied().unwrap_or(max);
    let top_value = ticks.last().copied().unwrap_or(max);
    let tick_texts: Vec<String> = ticks.iter().map(|&t| tick_text(t, step)).collect();
    let tick_w = tick_texts
        .iter()
        .map(|t| text_px(t, d.small))
        .fold(0.0, f64::max);
    let (x0, x1) = ((tick_w + 14.0).max(30.0), d.w - 16.0);
    let n = bars.len();
    let slot = (x1 - x0) / n as f64;

    // The x labels: one line each when they all fit, else two lines when that fits,
    // else one line for every few columns.
    let labels: Vec<String> = bars
        .iter()
        .map(|b| truncate(&b.label, COLUMN_LABEL_UNITS))
        .collect();
    let label_px = labels
        .iter()
        .map(|l| text_px(l, d.small))
        .fold(0.0, f64::max);
    let split: Option<Vec<(String, String)>> = if label_px + 4.0 <= slot {
        None
    } else {
        labels
            .iter()
            .map(|l| match two_lines(l) {
                Some((a, b)) => Some((a.to_owned(), b.to_owned())),
                None if text_px(l, d.small) + 4.0 <= slot => Some((l.clone(), String::new())),
                None => None,
            })
            .collect::<Option<Vec<_>>>()
            .filter(|parts| {
                parts
                    .iter()
                    .all(|(a, b)| text_px(a, d.small).max(text_px(b, d.small)) + 4.0 <= slot)
            })
    };
    let line_h = d.small * 1.2;
    // A second line of labels makes the drawing taller by that line.
    let extra = if split.is_some() { line_h } else { 0.0 };
    let h = 260.0 + extra;
    let (y_top, y_base) = (34.0, h - 30.0 - extra);
    let plot_h = y_base - y_top;
    let y_of = |v: f64| y_base - v / top_value * plot_h;

    let mut out = String::new();
    open(&mut out, &id, "chart-columns", &d, title, h);
    if !unit.is_empty() {
        let _ = write!(
            out,
            r#"<text class="unit" x="4" y="16" font-size="{}" fill="{MUTED}">{}</text>"#,
            num(d.small),
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
            num(d.small)
        );
    }
    out.push_str("</g>");

    let bar_w = (slot * 0.64).min(48.0);
    let value_px = bars
        .iter()
        .map(|b| text_px(&b.shown, d.small))
        .fold(0.0, f64::max);
    let with_values = n <= MAX_VALUED_COLUMNS && value_px <= slot;
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
                num(d.small),
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

    out.push_str(r#"<g class="x-labels">"#);
    let label_y = num(y_base + 20.0);
    match &split {
        Some(parts) => {
            for (i, (a, b)) in parts.iter().enumerate() {
                let x = num(x0 + slot * (i as f64 + 0.5));
                let _ = write!(
                    out,
                    r#"<text class="x-label" x="{x}" y="{label_y}" text-anchor="middle" font-size="{}" fill="{MUTED}"><tspan x="{x}">{}</tspan>"#,
                    num(d.small),
                    esc(a)
                );
                if !b.is_empty() {
                    let _ = write!(out, r#"<tspan x="{x}" dy="1.2em">{}</tspan>"#, esc(b));
                }
                out.push_str("</text>");
            }
        }
        None => {
            for i in shown_labels(n, slot, label_px) {
                let _ = write!(
                    out,
                    r#"<text class="x-label" x="{}" y="{label_y}" text-anchor="middle" font-size="{}" fill="{MUTED}">{}</text>"#,
                    num(x0 + slot * (i as f64 + 0.5)),
                    num(d.small),
                    esc(&labels[i])
                );
            }
        }
    }
    out.push_str("</g></svg>");
    out
}

/// Horizontal bars, one row per bar (label left, bar, value right): time per node etc.
/// The wide drawing.
pub fn rows(id: &str, title: &str, bars: &[Bar]) -> String {
    rows_sized(Size::Wide, id, title, bars)
}

/// Both drawings of `rows`, the wide then the narrow (its id suffixed `-narrow`).
pub fn rows_responsive(id: &str, title: &str, bars: &[Bar]) -> String {
    rows_sized(Size::Wide, id, title, bars) + &rows_sized(Size::Narrow, &narrow_id(id), title, bars)
}

/// Horizontal bars in one size: the wide drawing keeps the labels in a column left of
/// the bars; the narrow one writes each label on its own line above its bar, so the
/// bars keep the whole width.
pub fn rows_sized(size: Size, id: &str, title: &str, bars: &[Bar]) -> String {
    let d = size.dims();
    let id = sanitize_id(id);
    let values: Vec<f64> = bars.iter().map(|b| clean(b.value)).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return no_data(&id, "chart-rows", &d, title);
    }
    let narrow = size == Size::Narrow;
    let label_units = if narrow {
        ((d.w - 8.0) / (d.font * HALF_EM)).floor() as usize
    } else {
        ROW_LABEL_UNITS
    };
    let labels: Vec<String> = bars
        .iter()
        .map(|b| truncate(&b.label, label_units))
        .collect();
    // The label column is as wide as the widest label needs (none when the labels are
    // above the bars); the value column leaves room for the longest value right of the
    // longest bar.
    let label_w = if narrow {
        0.0
    } else {
        labels
            .iter()
            .map(|l| text_px(l, d.font))
            .fold(0.0, f64::max)
            + 12.0
    };
    let value_w = bars
        .iter()
        .map(|b| text_px(&b.shown, d.font))
        .fold(0.0, f64::max)
        + 12.0;
    let (x0, right) = (4.0 + label_w, 8.0);
    let bar_area = (d.w - x0 - value_w - right).max(80.0);
    let pad = 8.0;
    let (row_h, bar_h) = if narrow {
        (NARROW_ROW_H, NARROW_BAR_H)
    } else {
        (ROW_H, ROW_BAR_H)
    };
    let h = bars.len() as f64 * row_h + 2.0 * pad;

    let mut out = String::new();
    open(&mut out, &id, "chart-rows", &d, title, h);
    for (i, ((b, &v), label)) in bars.iter().zip(&values).zip(&labels).enumerate() {
        let top = pad + row_h * i as f64;
        // Where the bar's middle is, and where the label sits (its baseline-ish middle).
        let (mid, label_x, label_y, anchor) = if narrow {
            let label_mid = top + d.font * 0.6;
            (top + row_h - 8.0 - bar_h / 2.0, x0, label_mid, "start")
        } else {
            let mid = top + row_h / 2.0;
            (mid, x0 - 8.0, mid, "end")
        };
        let y = mid - bar_h / 2.0;
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
            r#"<g class="row{}"><text class="label" x="{}" y="{}" dy="0.35em" text-anchor="{anchor}" font-size="{}" fill="{ink}"{weight}>{}</text><rect class="track" x="{}" y="{}" width="{}" height="{}" rx="2" fill="{SOFT}"/><rect class="bar" x="{}" y="{}" width="{}" height="{}" rx="2" fill="{fill}">{}</rect><text class="value" x="{}" y="{}" dy="0.35em" font-size="{}" fill="{ink}"{weight}>{}</text></g>"#,
            if b.highlight { " highlight" } else { "" },
            num(label_x),
            num(label_y),
            num(d.font),
            esc(label),
            num(x0),
            num(y),
            num(bar_area),
            num(bar_h),
            num(x0),
            num(y),
            num(w),
            num(bar_h),
            bar_title(b),
            num(x0 + w + 6.0),
            num(mid),
            num(d.font),
            esc(&b.shown)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    //! The helpers; the drawings are tested through the public functions in
    //! `view::chart_tests`.
    use super::*;

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
    fn long_labels_are_cut() {
        assert_eq!(truncate("学院审核", 24), "学院审核");
        assert_eq!(
            truncate("研究生院培养办公室主任审核意见汇总", 24),
            "研究生院培养办公室主任…"
        );
        assert_eq!(truncate("abcdefghijklmnopqrstuvwxyz", 12), "abcdefghijk…");
    }

    #[test]
    fn two_lines_split_where_figures_meet_words() {
        assert_eq!(two_lines("8–24小时"), Some(("8–24", "小时")));
        assert_eq!(two_lines("学院审核"), None);
        assert_eq!(two_lines("09-14"), None);
    }

    #[test]
    fn ids_are_sanitized() {
        assert_eq!(sanitize_id("Weekly trend_2"), "weekly-trend-2");
        assert_eq!(sanitize_id("\"><x"), "---x");
        assert_eq!(sanitize_id("效能"), "--");
        assert_eq!(sanitize_id(""), "chart");
    }
}
