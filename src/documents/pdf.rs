//! The document as a PDF: A4 pages of real, selectable text in a subset of Noto CJK
//! (krilla embeds only the glyphs used), the seal image where the stamping node approved,
//! the approvers with their times and handwritten signatures, and a QR code to the public
//! verify page. Laid out first (`layout`: what goes where on which page), then drawn, so a
//! long form flows onto further pages and the issuer's block always stays whole on the last.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use krilla::{
    Document,
    color::rgb,
    geom::{PathBuilder, Point, Rect, Size, Transform},
    image::Image,
    metadata::Metadata,
    num::NormalizedF32,
    page::PageSettings,
    paint::{Fill, FillRule},
    text::{Font, TextDirection},
};

/// In Debian's fonts-noto-cjk collections, the Simplified Chinese face.
const COLLECTION_SC: u32 = 2;

/// The font at `path` (`HALL_DOCUMENT_FONT`), read once per process (about 20 MB; only
/// the used glyphs go into a PDF). A font that is missing is looked for again next time,
/// so installing it needs no restart.
pub fn font(path: &Path) -> anyhow::Result<Font> {
    static FONTS: Mutex<Vec<(PathBuf, Font)>> = Mutex::new(Vec::new());
    let mut fonts = FONTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, f)) = fonts.iter().find(|(p, _)| p == path) {
        return Ok(f.clone());
    }
    let data = std::fs::read(path).map_err(|e| {
        anyhow::anyhow!(
            "the CJK font {} cannot be read ({e}): apt-get install fonts-noto-cjk, or set HALL_DOCUMENT_FONT",
            path.display()
        )
    })?;
    let index = if data.starts_with(b"ttcf") {
        COLLECTION_SC
    } else {
        0
    };
    let font = Font::new(Arc::new(data).into(), index)
        .ok_or_else(|| anyhow::anyhow!("{} is not a usable font", path.display()))?;
    fonts.push((path.to_owned(), font.clone()));
    Ok(font)
}

/// A line of the form part: a section's heading, or a field and its value.
pub enum Row {
    Heading(String),
    Field(String, String),
}

pub struct Approval {
    pub node: String,
    pub who: String,
    pub at: String,
    /// The handwritten signature (PNG), where the node asked for one.
    pub signature: Option<Vec<u8>>,
}

/// Where the template places the handwritten signatures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SignaturePlace {
    /// Beside each approval in the 审批记录.
    Records,
    /// At the foot, beside the issuing department and its seal.
    Footer,
}

pub struct Content {
    pub portal: String,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub rows: Vec<Row>,
    pub approvals: Vec<Approval>,
    pub signature_place: SignaturePlace,
    pub department: String,
    pub serial: String,
    pub issued: String,
    pub code: String,
    pub verify_url: String,
    /// The seal's PNG, when the stamping node approved.
    pub seal: Option<Vec<u8>>,
}

const W: f32 = 595.0;
const H: f32 = 842.0;
const LEFT: f32 = 70.0;
const RIGHT: f32 = W - 70.0;
/// Text runs down to here on a page that is not the last.
const BOTTOM: f32 = H - 80.0;
/// On the last page, the form part must end above the issuer's block and the QR code.
const FOOT_TOP: f32 = 620.0;

/// An approximate advance: CJK full width, ASCII about half (good enough to wrap and align).
fn width(s: &str, size: f32) -> f32 {
    s.chars()
        .map(|c| if c.is_ascii() { 0.55 } else { 1.0 })
        .sum::<f32>()
        * size
}

/// `s` broken into lines no wider than `max`.
fn wrap(s: &str, size: f32, max: f32) -> Vec<String> {
    let mut lines = vec![String::new()];
    for c in s.chars() {
        let cur = lines.last_mut().expect("one line");
        // Closing punctuation never starts a line (it hangs at the end of this one).
        let hangs = "，。、；：？！）」』”’》".contains(c);
        if width(cur, size) + width(&c.to_string(), size) > max && !cur.is_empty() && !hangs {
            lines.push(c.to_string());
        } else {
            cur.push(c);
        }
    }
    lines
}

/// A PNG's size in pixels, from its header.
fn png_size(png: &[u8]) -> Option<(f32, f32)> {
    let w = u32::from_be_bytes(png.get(16..20)?.try_into().ok()?);
    let h = u32::from_be_bytes(png.get(20..24)?.try_into().ok()?);
    (w > 0 && h > 0).then_some((w as f32, h as f32))
}

/// A signature's width when drawn `h` high, no wider than `max_w`: (width, height).
fn fit(png: &[u8], h: f32, max_w: f32) -> (f32, f32) {
    let (pw, ph) = png_size(png).unwrap_or((3.0, 1.0));
    let w = h * pw / ph;
    if w > max_w {
        (max_w, max_w * ph / pw)
    } else {
        (w, h)
    }
}

enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
    },
    /// A PNG with its top-left corner at (x, y).
    Image {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        png: Vec<u8>,
    },
    Qr {
        x: f32,
        y: f32,
        size: f32,
    },
}

/// What goes where, page by page.
struct Pages {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Pages {
    fn op(&mut self, op: Op) {
        self.pages.last_mut().expect("a page").push(op);
    }

    fn text(&mut self, x: f32, y: f32, size: f32, text: impl Into<String>) {
        self.op(Op::Text {
            x,
            y,
            size,
            text: text.into(),
        });
    }

    /// Room for `h` more below the cursor, else a new page.
    fn room(&mut self, h: f32) {
        if self.y + h > BOTTOM {
            self.pages.push(Vec::new());
            self.y = 100.0;
        }
    }
}

fn layout(c: &Content) -> Pages {
    let mut p = Pages {
        pages: vec![Vec::new()],
        y: 190.0,
    };
    let title_size = 26.0;
    p.text(
        (W - width(&c.title, title_size)) / 2.0,
        130.0,
        title_size,
        &c.title,
    );
    let size = 14.0;
    for para in &c.paragraphs {
        for (i, line) in wrap(para, size, RIGHT - LEFT - 2.0 * size)
            .into_iter()
            .enumerate()
        {
            p.room(size * 1.9);
            let x = if i == 0 { LEFT + 2.0 * size } else { LEFT };
            p.text(x, p.y, size, line);
            p.y += size * 1.9;
        }
        p.y += 6.0;
    }
    if !c.rows.is_empty() {
        p.y += 6.0;
        for row in &c.rows {
            match row {
                Row::Heading(h) => {
                    p.room(40.0);
                    p.y += 6.0;
                    p.text(LEFT, p.y, 13.0, format!("【{h}】"));
                    p.y += 23.0;
                }
                Row::Field(label, value) => {
                    let label_w = 110.0;
                    let mut first = true;
                    for part in value.lines().filter(|l| !l.is_empty()).chain(
                        // An empty value still gets its line.
                        value.trim().is_empty().then_some("—"),
                    ) {
                        for line in wrap(part, 12.0, RIGHT - LEFT - label_w) {
                            p.room(21.0);
                            if first {
                                p.text(LEFT, p.y, 12.0, format!("{label}："));
                                first = false;
                            }
                            p.text(LEFT + label_w, p.y, 12.0, line);
                            p.y += 21.0;
                        }
                    }
                }
            }
        }
    }
    if !c.approvals.is_empty() {
        p.room(60.0);
        p.y += 14.0;
        p.text(LEFT, p.y, 12.0, "审批记录");
        p.y += 22.0;
        for a in &c.approvals {
            let signed = c.signature_place == SignaturePlace::Records && a.signature.is_some();
            let line_h = if signed { 32.0 } else { 18.0 };
            p.room(line_h);
            let y = p.y + if signed { 8.0 } else { 0.0 };
            let line = format!("{}　{}　通过　{}", a.node, a.who, a.at);
            let end = LEFT + width(&line, 10.5);
            p.text(LEFT, y, 10.5, line);
            if let (true, Some(png)) = (signed, &a.signature) {
                // Right after the line it signs, as one would sign on paper.
                let (w, h) = fit(png, 28.0, 130.0);
                p.op(Op::Image {
                    x: (end + 18.0).min(RIGHT - w),
                    y: y - 8.0 - h / 2.0 - 2.0,
                    w,
                    h,
                    png: png.clone(),
                });
            }
            p.y += line_h;
        }
    }

    // The issuer and date, bottom right, with the seal over them; on a page of its own if
    // the form part reached too far down.
    if p.y > FOOT_TOP {
        p.pages.push(Vec::new());
        p.y = 100.0;
    }
    let sign_y = (p.y + 80.0).clamp(600.0, 700.0);
    if let Some(png) = &c.seal {
        p.op(Op::Image {
            x: RIGHT - 135.0,
            y: sign_y - 85.0,
            w: 120.0,
            h: 120.0,
            png: png.clone(),
        });
    }
    if c.signature_place == SignaturePlace::Footer {
        // The approvers' signatures side by side, right to left, left of the seal.
        let mut x = RIGHT - 150.0;
        let signatures: Vec<&Vec<u8>> = c
            .approvals
            .iter()
            .filter_map(|a| a.signature.as_ref())
            .collect();
        for png in signatures.iter().rev() {
            let (w, h) = fit(png, 36.0, 120.0);
            if x - w < LEFT + 90.0 {
                break;
            }
            x -= w;
            p.op(Op::Image {
                x,
                y: sign_y - h + 4.0,
                w,
                h,
                png: (*png).clone(),
            });
            x -= 10.0;
        }
        if !signatures.is_empty() {
            p.text(
                x - width("审批人签名：", 10.5),
                sign_y,
                10.5,
                "审批人签名：",
            );
        }
    }
    p.text(
        RIGHT - width(&c.department, 14.0),
        sign_y,
        14.0,
        &c.department,
    );
    p.text(
        RIGHT - width(&c.issued, 12.0),
        sign_y + 24.0,
        12.0,
        &c.issued,
    );

    // The QR code to the verify page, bottom left, with the short code beside it.
    let box_size = 92.0;
    let (qx, qy) = (LEFT, H - 70.0 - box_size - 34.0);
    p.op(Op::Qr {
        x: qx,
        y: qy,
        size: box_size,
    });
    let tx = qx + box_size + 12.0;
    p.text(tx, qy + 30.0, 10.5, format!("验证码：{}", c.code));
    p.text(tx, qy + 50.0, 9.0, "扫描二维码或访问以下地址查验真伪：");
    p.text(tx, qy + 66.0, 9.0, &c.verify_url);
    p
}

fn fill(r: u8, g: u8, b: u8) -> Option<Fill> {
    Some(Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    })
}

pub fn render(font: &Font, c: &Content) -> anyhow::Result<Vec<u8>> {
    let laid = layout(c);
    let qr = qrcode::QrCode::new(c.verify_url.as_bytes())?;
    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new()
            .title(format!("{} {}", c.title, c.serial))
            .creator(c.portal.clone()),
    );
    let count = laid.pages.len();
    for (i, ops) in laid.pages.into_iter().enumerate() {
        let mut page = doc.start_page_with(
            PageSettings::from_wh(W, H).ok_or_else(|| anyhow::anyhow!("page size"))?,
        );
        let mut s = page.surface();
        let text = |s: &mut krilla::surface::Surface, x: f32, y: f32, size: f32, t: &str| {
            s.set_fill(fill(0x1f, 0x29, 0x33));
            s.draw_text(
                Point::from_xy(x, y),
                font.clone(),
                size,
                t,
                false,
                TextDirection::Auto,
            );
        };
        // Every page names the portal and the 流水号; more than one page, its number.
        text(&mut s, LEFT, 60.0, 10.0, &c.portal);
        let serial = format!("流水号：{}", c.serial);
        text(&mut s, RIGHT - width(&serial, 10.0), 60.0, 10.0, &serial);
        if count > 1 {
            let n = format!("第 {} 页 / 共 {count} 页", i + 1);
            text(&mut s, (W - width(&n, 9.0)) / 2.0, H - 40.0, 9.0, &n);
        }
        for op in ops {
            match op {
                Op::Text {
                    x,
                    y,
                    size,
                    text: t,
                } => text(&mut s, x, y, size, &t),
                Op::Image { x, y, w, h, png } => {
                    let img = Image::from_png(png.into(), true)
                        .map_err(|e| anyhow::anyhow!("image: {e}"))?;
                    s.push_transform(&Transform::from_translate(x, y));
                    s.draw_image(
                        img,
                        Size::from_wh(w, h).ok_or_else(|| anyhow::anyhow!("image size"))?,
                    );
                    s.pop();
                }
                Op::Qr { x, y, size } => {
                    let n = qr.width();
                    let m = size / (n as f32 + 2.0);
                    let mut pb = PathBuilder::new();
                    for (i, col) in qr.to_colors().iter().enumerate() {
                        if *col == qrcode::Color::Dark {
                            let (cx, cy) = ((i % n) as f32 + 1.0, (i / n) as f32 + 1.0);
                            if let Some(r) = Rect::from_xywh(x + cx * m, y + cy * m, m, m) {
                                pb.push_rect(r);
                            }
                        }
                    }
                    if let Some(path) = pb.finish() {
                        s.set_fill(fill(0, 0, 0));
                        s.draw_path(&path);
                    }
                }
            }
        }
        s.finish();
        page.finish();
    }
    doc.finish().map_err(|e| anyhow::anyhow!("PDF: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_within_the_width() {
        let lines = wrap(&"字".repeat(70), 14.0, 14.0 * 30.0);
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.chars().count() <= 30));
        assert_eq!(lines.concat().chars().count(), 70);
        let lines = wrap(&format!("{}，好。", "字".repeat(30)), 14.0, 14.0 * 30.0);
        assert_eq!(
            lines,
            vec![format!("{}，", "字".repeat(30)), "好。".to_owned()]
        );
    }

    fn content(rows: usize) -> Content {
        Content {
            portal: "网上办事服务大厅".into(),
            title: "在读证明".into(),
            paragraphs: vec!["兹证明".into()],
            rows: (0..rows)
                .map(|i| Row::Field(format!("字段{i}"), "值".into()))
                .collect(),
            approvals: Vec::new(),
            signature_place: SignaturePlace::Records,
            department: "教务处".into(),
            serial: "ZDZM-2026-000001".into(),
            issued: "2026年12月03日".into(),
            code: "ABCD-EFGH-JKMN".into(),
            verify_url: "https://hall.example/verify/ABCD-EFGH-JKMN".into(),
            seal: None,
        }
    }

    #[test]
    fn a_long_form_flows_onto_more_pages_and_the_issuer_stays_whole_on_the_last() {
        assert_eq!(layout(&content(5)).pages.len(), 1);
        let long = layout(&content(60));
        assert!(long.pages.len() >= 3, "{} pages", long.pages.len());
        // Nothing runs past the bottom margin, and the QR code is on the last page only.
        for (i, page) in long.pages.iter().enumerate() {
            for op in page {
                if let Op::Text { y, .. } = op {
                    assert!(*y <= BOTTOM, "text at {y} on page {i}");
                }
                if let Op::Qr { .. } = op {
                    assert_eq!(i, long.pages.len() - 1);
                }
            }
        }
    }
}
