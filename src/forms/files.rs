//! Attachments: stored in PostgreSQL (inside the backup), type checked by content, always
//! downloaded as an attachment with its UTF-8 name, never rendered inline.

use sha2::{Digest, Sha256};

/// Allowed kinds: (extensions, what the content must be).
const ALLOWED: &[(&[&str], &str)] = &[
    (&["pdf"], "application/pdf"),
    (&["jpg", "jpeg"], "image/jpeg"),
    (&["png"], "image/png"),
    (&["gif"], "image/gif"),
    (&["webp"], "image/webp"),
    (
        &["docx"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        &["xlsx"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (
        &["pptx"],
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    (&["doc", "xls", "ppt"], "application/x-ole-storage"),
    (&["zip"], "application/zip"),
    (&["txt", "csv"], "text/plain"),
];

pub const ALLOWED_EXTENSIONS: &str =
    "pdf、jpg、png、gif、webp、doc、docx、xls、xlsx、ppt、pptx、zip、txt、csv";

#[derive(Debug, PartialEq, Eq)]
pub enum FileError {
    Empty,
    TooLarge { max_mb: u64 },
    BadType,
    BadName,
}

impl FileError {
    pub fn message(&self, name: &str) -> String {
        match self {
            FileError::Empty => format!("“{name}”是空文件"),
            FileError::TooLarge { max_mb } => format!("“{name}”超过 {max_mb} MB"),
            FileError::BadType => format!("“{name}”的类型不允许上传，支持：{ALLOWED_EXTENSIONS}"),
            FileError::BadName => "文件名无效".to_owned(),
        }
    }
}

/// A file name safe to store and send back: no path, no control characters, ≤ 120 chars.
pub fn clean_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .take(120)
        .collect();
    (!cleaned.is_empty() && cleaned != "." && cleaned != "..").then_some(cleaned)
}

/// Bidirectional formatting characters: kept, they can show `gpj.exe` as `exe.jpg` (the
/// "right-to-left override" trick), so names lose them.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The content type to record, if the content is what the name says and is allowed.
pub fn check(name: &str, data: &[u8], max_bytes: u64) -> Result<&'static str, FileError> {
    // The type is judged on the name as it will be stored and shown.
    let Some(name) = clean_name(name) else {
        return Err(FileError::BadName);
    };
    let name = name.as_str();
    if data.is_empty() {
        return Err(FileError::Empty);
    }
    if data.len() as u64 > max_bytes {
        return Err(FileError::TooLarge {
            max_mb: max_bytes / (1024 * 1024),
        });
    }
    let ext = extension(name);
    let (_, expected) = ALLOWED
        .iter()
        .find(|(exts, _)| exts.contains(&ext.as_str()))
        .ok_or(FileError::BadType)?;
    let detected = infer::get(data).map(|t| t.mime_type());
    let ok = match *expected {
        "text/plain" => detected.is_none() && std::str::from_utf8(data).is_ok(),
        // Office documents are ZIP or OLE containers; `infer` names the specific kind when
        // it can and the container otherwise.
        e if e.starts_with("application/vnd.openxmlformats") => {
            detected == Some(e) || detected == Some("application/zip")
        }
        "application/x-ole-storage" => matches!(
            detected,
            Some(
                "application/x-ole-storage"
                    | "application/msword"
                    | "application/vnd.ms-excel"
                    | "application/vnd.ms-powerpoint"
            )
        ),
        e => detected == Some(e),
    };
    if ok {
        Ok(expected)
    } else {
        Err(FileError::BadType)
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `attachment; filename="..."; filename*=UTF-8''...` (RFC 6266 / 5987).
pub fn content_disposition(name: &str) -> String {
    // Names stored before bidi controls were stripped lose them here too.
    let name: String = name.chars().filter(|c| !is_bidi_control(*c)).collect();
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R',
    ];

    #[test]
    fn type_is_checked_by_content() {
        assert_eq!(check("照片.png", PNG, 1024), Ok("image/png"));
        assert_eq!(check("照片.PNG", PNG, 1024), Ok("image/png"));
        assert_eq!(
            check("伪装.pdf", PNG, 1024),
            Err(FileError::BadType),
            "a PNG named .pdf"
        );
        assert_eq!(
            check("病毒.exe", b"MZ\x90\x00", 1024),
            Err(FileError::BadType)
        );
        assert_eq!(
            check("说明.txt", "中文说明".as_bytes(), 1024),
            Ok("text/plain")
        );
        assert_eq!(check("说明.txt", PNG, 1024), Err(FileError::BadType));
        assert_eq!(
            check("大.png", PNG, 8),
            Err(FileError::TooLarge { max_mb: 0 })
        );
        assert_eq!(check("空.png", b"", 1024), Err(FileError::Empty));
        assert_eq!(
            check("%PDF.pdf", b"%PDF-1.7\n", 1024),
            Ok("application/pdf")
        );
    }

    #[test]
    fn names_and_disposition() {
        assert_eq!(
            clean_name("C:\\Users\\x\\邀请函.pdf").as_deref(),
            Some("邀请函.pdf")
        );
        assert_eq!(clean_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(clean_name("..").as_deref(), None);
        let cd = content_disposition("邀请函 2026.pdf");
        assert!(cd.starts_with("attachment; "));
        assert!(cd.contains("filename*=UTF-8''%E9%82%80%E8%AF%B7%E5%87%BD%202026.pdf"));
    }
}
