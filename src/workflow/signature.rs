//! Handwritten signatures (手写签名): drawn on the application page's signature pad (a
//! canvas, by finger or mouse), posted as a PNG data URL, checked and normalised here, and
//! kept with the flow record of the 通过 that made them. Result documents place them on
//! the PDF.

use std::io::Cursor;

use base64::Engine;
use image::{ImageFormat, ImageReader, Limits, Rgba, RgbaImage};

/// The posted text (base64 of the PNG) at most: a pad of 1200×400 device pixels with a
/// full name is some 20–60 KB.
pub const MAX_POSTED: usize = 600 * 1024;
/// What the pad may be at most, in pixels.
const MAX_W: u32 = 2400;
const MAX_H: u32 = 1200;
/// The stored image is scaled down to at most this width.
const KEEP_W: u32 = 800;

pub const MISSING: &str = "本环节通过时须手写签名：请在签名框内签名后再通过。";
const INVALID: &str = "签名图片无效，请清除后重新签名。";
const TOO_LITTLE: &str = "签名过小或为空白，请在签名框内写清楚姓名。";

/// The posted pad as a stored PNG: only the ink, cropped to it with a small margin, on a
/// transparent background, in one dark ink colour (so it sits on any page), at most
/// `KEEP_W` wide. Blank or near-blank pads are refused.
pub fn parse(posted: &str) -> Result<Vec<u8>, &'static str> {
    let b64 = posted.trim();
    if b64.is_empty() {
        return Err(MISSING);
    }
    if b64.len() > MAX_POSTED {
        return Err(INVALID);
    }
    let b64 = b64.strip_prefix("data:image/png;base64,").unwrap_or(b64);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| INVALID)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Png);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_W);
    limits.max_image_height = Some(MAX_H);
    limits.max_alloc = Some(32 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|_| INVALID)?.to_rgba8();

    // Ink: visible and dark enough (a white-filled pad counts as paper).
    let ink = |p: &Rgba<u8>| -> u8 {
        let [r, g, b, a] = p.0;
        let lum = (u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000;
        let dark = 255u32.saturating_sub(lum);
        ((u32::from(a) * dark) / 255) as u8
    };
    let (mut x0, mut y0, mut x1, mut y1, mut count) = (u32::MAX, u32::MAX, 0u32, 0u32, 0u32);
    for (x, y, p) in img.enumerate_pixels() {
        if ink(p) > 96 {
            count += 1;
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    // A dot or a stray tap is not a signature.
    if count < 60 || x1.saturating_sub(x0) < 24 {
        return Err(TOO_LITTLE);
    }
    let margin = 6;
    let (x0, y0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
    let (x1, y1) = (
        (x1 + margin).min(img.width() - 1),
        (y1 + margin).min(img.height() - 1),
    );
    let (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
    let mut out = RgbaImage::new(w, h);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let a = ink(img.get_pixel(x0 + x, y0 + y));
        *p = Rgba([0x1a, 0x23, 0x4a, a]);
    }
    if w > KEEP_W {
        let nh = (u64::from(h) * u64::from(KEEP_W) / u64::from(w)).max(1) as u32;
        out = image::imageops::resize(&out, KEEP_W, nh, image::imageops::FilterType::Triangle);
    }
    let mut png = Vec::new();
    out.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|_| INVALID)?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pad(w: u32, h: u32, stroke: bool, fill_white: bool) -> String {
        let mut img = RgbaImage::from_pixel(
            w,
            h,
            if fill_white {
                Rgba([255, 255, 255, 255])
            } else {
                Rgba([0, 0, 0, 0])
            },
        );
        if stroke {
            // A thick diagonal stroke and a bar: ink enough for a name.
            for i in 40..(w - 40) {
                for t in 0..5 {
                    let y = (h / 4 + (i * (h / 2)) / w + t).min(h - 1);
                    img.put_pixel(i, y, Rgba([10, 10, 10, 255]));
                    img.put_pixel(i, h / 2 + t, Rgba([20, 20, 20, 255]));
                }
            }
        }
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .expect("png");
        format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png)
        )
    }

    #[test]
    fn a_drawn_pad_is_kept_cropped_to_its_ink_on_transparent_paper() {
        for white in [false, true] {
            let png = parse(&pad(1200, 400, true, white)).expect("a signature");
            let img = image::load_from_memory(&png).expect("png").to_rgba8();
            // Cropped to the ink (1120 wide plus margins), then scaled to the kept width.
            assert_eq!(img.width(), KEEP_W);
            assert!(img.height() < 400 * KEEP_W / 1120);
            // Paper is transparent whether the pad was filled white or not.
            assert_eq!(img.get_pixel(0, 0).0[3], 0);
            assert!(img.pixels().any(|p| p.0[3] > 200));
        }
    }

    #[test]
    fn blank_tiny_oversized_or_foreign_pads_are_refused_with_a_message() {
        assert_eq!(parse(""), Err(MISSING));
        assert_eq!(parse(&pad(600, 200, false, true)), Err(TOO_LITTLE));
        assert_eq!(parse(&pad(600, 200, false, false)), Err(TOO_LITTLE));
        assert_eq!(parse(&pad(3000, 200, true, false)), Err(INVALID));
        assert_eq!(parse("data:image/png;base64,not base64!"), Err(INVALID));
        // A GIF (or anything not a PNG) under the PNG prefix.
        let gif = base64::engine::general_purpose::STANDARD.encode(b"GIF89a\x01\x00\x01\x00");
        assert_eq!(parse(&format!("data:image/png;base64,{gif}")), Err(INVALID));
        assert_eq!(parse(&"A".repeat(MAX_POSTED + 1)), Err(INVALID));
    }
}
