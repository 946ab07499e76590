//! The document as a PDF: one A4 page of real, selectable text in a subset of Noto CJK
//! (krilla embeds only the glyphs used), the seal image where the stamping node approved,
//! the approvers with their times, and a QR code to the public verify page.

use std::sync::{Arc, OnceLock};

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

/// Where Debian's fonts-noto-cjk puts the face used (a collection; index 2 is SC).
pub const FONT_PATH: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
const FONT_INDEX: u32 = 2;

/// The font, read once per process (about 20 MB; only the used glyphs go into a PDF).
pub fn font() -> anyhow::Result<Font> {
    static FONT: OnceLock<Option<Font>> = OnceLock::new();
    FONT.get_or_init(|| {
        let data = std::fs::read(FONT_PATH).ok()?;
        Font::new(Arc::new(data).into(), FONT_INDEX)
    })
    .clone()
    .ok_or_else(|| {
        anyhow::anyhow!("the CJK font {FONT_PATH} is missing (apt-get install fonts-noto-cjk)")
    })
}

pub struct Content {
    pub portal: String,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub rows: Vec<(String, String)>,
    pub approvals: Vec<(String, String, String)>,
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

fn fill(r: u8, g: u8, b: u8) -> Option<Fill> {
    Some(Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    })
}

pub fn render(font: &Font, c: &Content) -> anyhow::Result<Vec<u8>> {
    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new()
            .title(format!("{} {}", c.title, c.serial))
            .creator(c.portal.clone()),
    );
    let mut page = doc
        .start_page_with(PageSettings::from_wh(W, H).ok_or_else(|| anyhow::anyhow!("page size"))?);
    let mut s = page.surface();
    let text = |s: &mut krilla::surface::Surface, x: f32, y: f32, size: f32, t: &str| {
        s.draw_text(
            Point::from_xy(x, y),
            font.clone(),
            size,
            t,
            false,
            TextDirection::Auto,
        );
    };
    s.set_fill(fill(0x1f, 0x29, 0x33));
    text(&mut s, LEFT, 60.0, 10.0, &c.portal);
    text(
        &mut s,
        RIGHT - width(&format!("流水号：{}", c.serial), 10.0),
        60.0,
        10.0,
        &format!("流水号：{}", c.serial),
    );
    let title_size = 26.0;
    text(
        &mut s,
        (W - width(&c.title, title_size)) / 2.0,
        130.0,
        title_size,
        &c.title,
    );

    let mut y = 190.0;
    let size = 14.0;
    for p in &c.paragraphs {
        for (i, line) in wrap(p, size, RIGHT - LEFT - 2.0 * size).iter().enumerate() {
            let x = if i == 0 { LEFT + 2.0 * size } else { LEFT };
            text(&mut s, x, y, size, line);
            y += size * 1.9;
        }
        y += 6.0;
    }
    if !c.rows.is_empty() {
        y += 6.0;
        for (label, value) in &c.rows {
            text(&mut s, LEFT, y, 12.0, &format!("{label}："));
            for line in wrap(value, 12.0, RIGHT - LEFT - 110.0) {
                text(&mut s, LEFT + 110.0, y, 12.0, &line);
                y += 21.0;
            }
        }
    }
    if !c.approvals.is_empty() {
        y += 14.0;
        text(&mut s, LEFT, y, 12.0, "审批记录");
        y += 22.0;
        for (node, who, at) in &c.approvals {
            text(&mut s, LEFT, y, 10.5, &format!("{node}　{who}　通过　{at}"));
            y += 18.0;
        }
    }

    // The issuer and date, bottom right, with the seal over them.
    let sign_y = (y + 80.0).clamp(600.0, 700.0);
    let dept_x = RIGHT - width(&c.department, 14.0);
    let date_x = RIGHT - width(&c.issued, 12.0);
    if let Some(png) = &c.seal {
        let img = Image::from_png(png.clone().into(), true)
            .map_err(|e| anyhow::anyhow!("seal image: {e}"))?;
        s.push_transform(&Transform::from_translate(RIGHT - 135.0, sign_y - 85.0));
        s.draw_image(
            img,
            Size::from_wh(120.0, 120.0).ok_or_else(|| anyhow::anyhow!("size"))?,
        );
        s.pop();
    }
    s.set_fill(fill(0x1f, 0x29, 0x33));
    text(&mut s, dept_x, sign_y, 14.0, &c.department);
    text(&mut s, date_x, sign_y + 24.0, 12.0, &c.issued);

    // The QR code to the verify page, bottom left, with the short code under it.
    let qr = qrcode::QrCode::new(c.verify_url.as_bytes())?;
    let n = qr.width();
    let colors = qr.to_colors();
    let box_size = 92.0;
    let m = box_size / (n as f32 + 2.0);
    let (qx, qy) = (LEFT, H - 70.0 - box_size - 34.0);
    let mut pb = PathBuilder::new();
    for (i, col) in colors.iter().enumerate() {
        if *col == qrcode::Color::Dark {
            let (cx, cy) = ((i % n) as f32 + 1.0, (i / n) as f32 + 1.0);
            if let Some(r) = Rect::from_xywh(qx + cx * m, qy + cy * m, m, m) {
                pb.push_rect(r);
            }
        }
    }
    if let Some(path) = pb.finish() {
        s.set_fill(fill(0, 0, 0));
        s.draw_path(&path);
    }
    s.set_fill(fill(0x1f, 0x29, 0x33));
    text(
        &mut s,
        qx + box_size + 12.0,
        qy + 30.0,
        10.5,
        &format!("验证码：{}", c.code),
    );
    text(
        &mut s,
        qx + box_size + 12.0,
        qy + 50.0,
        9.0,
        "扫描二维码或访问以下地址查验真伪：",
    );
    text(&mut s, qx + box_size + 12.0, qy + 66.0, 9.0, &c.verify_url);
    s.finish();
    page.finish();
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
}
