//! Form values ⇄ HTML: the posted fields parsed into JSON values, and view models the
//! templates render (one per field, with its access at the current step).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Errors, FieldAccess, FieldKind, FormSchema};
use crate::identity::idcard;

/// Blank rows offered in a sub-table (more with 添加一行).
pub const BLANK_ROWS: usize = 2;
/// At most this many blank rows beyond `BLANK_ROWS` (添加一行 adds one per click), so a
/// request cannot ask the server to build millions of rows.
pub const MAX_EXTRA_ROWS: usize = 50;

/// Parse `f.<key>` (+ `.from` / `.to`, `.<row>.<col>`) pairs into form data.
pub fn parse_post(schema: &FormSchema, pairs: &[(String, String)]) -> Map<String, Value> {
    let mut data = Map::new();
    let get_all = |name: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let get = |name: &str| get_all(name).into_iter().next().unwrap_or_default();
    for f in &schema.fields {
        let base = format!("f.{}", f.key);
        let v = match f.kind {
            FieldKind::Section | FieldKind::Static | FieldKind::Attachments => continue,
            FieldKind::Checkboxes => json!(get_all(&base)),
            FieldKind::DateRange => {
                json!({ "from": get(&format!("{base}.from")), "to": get(&format!("{base}.to")) })
            }
            FieldKind::Table => {
                let mut rows: BTreeMap<usize, Map<String, Value>> = BTreeMap::new();
                let prefix = format!("{base}.");
                for (k, val) in pairs {
                    if let Some(rest) = k.strip_prefix(&prefix)
                        && let Some((row, col)) = rest.split_once('.')
                        && let Ok(row) = row.parse::<usize>()
                        && row < 200
                        && f.columns.iter().any(|c| c.key == col)
                    {
                        rows.entry(row)
                            .or_default()
                            .insert(col.to_owned(), Value::String(val.clone()));
                    }
                }
                Value::Array(rows.into_values().map(Value::Object).collect())
            }
            _ => Value::String(get(&base)),
        };
        data.insert(f.key.clone(), v);
    }
    data
}

pub struct OptionView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct FileView {
    pub id: i64,
    pub name: String,
    pub size: String,
    /// Where the file downloads from.
    pub href: String,
}

pub struct CellView {
    pub name: String,
    pub value: String,
    pub input_type: &'static str,
}

pub struct FieldView {
    pub key: String,
    pub name: String,
    pub kind: &'static str,
    pub label: String,
    pub required: bool,
    pub help: String,
    pub placeholder: String,
    /// "editable" | "readonly"
    pub access: &'static str,
    pub value: String,
    pub from: String,
    pub to: String,
    pub options: Vec<OptionView>,
    pub errors: Vec<String>,
    pub min: String,
    pub max: String,
    pub maxlength: String,
    pub pattern: String,
    pub text: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<CellView>>,
    /// Blank rows shown beyond `BLANK_ROWS` (posted back, so 添加一行 can add one more).
    pub extra_rows: usize,
    /// Shown instead of the raw value when read-only (a person's name, a department).
    pub display: String,
    pub changed: bool,
    pub files: Vec<FileView>,
    /// Shown under a read-only value (where a value on file comes from).
    pub note: String,
}

impl FieldView {
    pub fn editable(&self) -> bool {
        self.access == "editable"
    }
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

fn kind_code(k: FieldKind) -> &'static str {
    match k {
        FieldKind::Text => "text",
        FieldKind::Textarea => "textarea",
        FieldKind::Number => "number",
        FieldKind::Money => "money",
        FieldKind::Date => "date",
        FieldKind::Datetime => "datetime",
        FieldKind::DateRange => "date_range",
        FieldKind::Select => "select",
        FieldKind::Radio => "radio",
        FieldKind::Checkboxes => "checkboxes",
        FieldKind::Phone => "phone",
        FieldKind::Email => "email",
        FieldKind::IdCard => "id_card",
        FieldKind::Person => "person",
        FieldKind::Department => "department",
        FieldKind::Attachments => "attachments",
        FieldKind::Table => "table",
        FieldKind::Section => "section",
        FieldKind::Static => "static",
    }
}

fn as_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn cell_type(k: FieldKind) -> &'static str {
    match k {
        FieldKind::Number | FieldKind::Money => "number",
        FieldKind::Date => "date",
        FieldKind::Datetime => "datetime-local",
        _ => "text",
    }
}

/// Names for ids shown read-only (people, departments) and choices for pickers.
#[derive(Default)]
pub struct Lookups {
    pub people: BTreeMap<i64, String>,
    pub departments: Vec<(i64, String)>,
    /// Person fields offered as a list (e.g. the counselors of the applicant's college).
    pub person_choices: BTreeMap<String, Vec<(i64, String)>>,
    /// Attachments per field: (id, file name, size in bytes).
    pub attachments: BTreeMap<String, Vec<(i64, String, i64)>>,
    /// The applicant has a 身份证号 on file: fields filled from it are read-only.
    pub id_card_on_file: bool,
    /// The page is the applicant's own: a 身份证号 filled from the one on file is shown
    /// masked (approvers, who need the number, see it whole).
    pub mask_id_card: bool,
    /// The day in the hall's time zone: date pickers offer only what `date_limit` accepts.
    pub today: Option<chrono::NaiveDate>,
    /// Where attachments download from (`/attachments/` when empty; a 填报任务's
    /// files live elsewhere).
    pub files_at: &'static str,
}

impl Lookups {
    fn file_base(&self) -> &'static str {
        if self.files_at.is_empty() {
            "/attachments/"
        } else {
            self.files_at
        }
    }
}

fn size_text(bytes: i64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / 1048576.0)
    } else {
        format!("{} KB", (bytes + 1023) / 1024)
    }
}

/// View models for every visible field.
pub fn views(
    schema: &FormSchema,
    data: &Map<String, Value>,
    access: &BTreeMap<String, FieldAccess>,
    errors: &Errors,
    lookups: &Lookups,
    changed: &[String],
    extra_rows: &BTreeMap<String, usize>,
) -> Vec<FieldView> {
    let mut out = Vec::new();
    for f in &schema.fields {
        let acc = access.get(&f.key).copied().unwrap_or(FieldAccess::Readonly);
        if acc == FieldAccess::Hidden {
            continue;
        }
        let v = data.get(&f.key);
        let value = as_text(v);
        let on_file_id =
            f.autofill.as_deref() == Some(super::ID_CARD_SOURCE) && lookups.id_card_on_file;
        let mut view = FieldView {
            key: f.key.clone(),
            name: format!("f.{}", f.key),
            kind: kind_code(f.kind),
            label: f.label.clone(),
            required: f.required,
            help: f.help.clone(),
            placeholder: f.placeholder.clone(),
            access: if acc == FieldAccess::Editable && !f.locked && !on_file_id {
                "editable"
            } else {
                "readonly"
            },
            display: value.clone(),
            value,
            from: as_text(v.and_then(|x| x.get("from"))),
            to: as_text(v.and_then(|x| x.get("to"))),
            options: Vec::new(),
            errors: errors.get(&f.key).cloned().unwrap_or_default(),
            min: f.min.map(|m| m.to_string()).unwrap_or_default(),
            max: f.max.map(|m| m.to_string()).unwrap_or_default(),
            maxlength: f.max_len.map(|m| m.to_string()).unwrap_or_default(),
            pattern: f.pattern.clone().unwrap_or_default(),
            text: f.text.clone(),
            columns: f.columns.iter().map(|c| c.label.clone()).collect(),
            rows: Vec::new(),
            extra_rows: 0,
            changed: changed.contains(&f.key),
            note: String::new(),
            files: lookups
                .attachments
                .get(&f.key)
                .map(|list| {
                    list.iter()
                        .map(|(id, name, size)| FileView {
                            id: *id,
                            name: name.clone(),
                            size: size_text(*size),
                            href: format!("{}{id}", lookups.file_base()),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        if let (Some(l), Some(today)) = (f.date_limit, lookups.today) {
            // The picker's own bounds; the server checks again on submit.
            let (lo, hi) = l.bounds(today);
            let text = |d: Option<chrono::NaiveDate>, time: &str| {
                d.map(|d| format!("{}{time}", d.format("%Y-%m-%d")))
                    .unwrap_or_default()
            };
            let (lo_time, hi_time) = if f.kind == FieldKind::Datetime {
                ("T00:00", "T23:59")
            } else {
                ("", "")
            };
            view.min = text(lo, lo_time);
            view.max = text(hi, hi_time);
        }
        match f.kind {
            FieldKind::IdCard
                if f.autofill.as_deref() == Some(super::ID_CARD_SOURCE)
                    && lookups.mask_id_card
                    && !view.value.is_empty() =>
            {
                // Neither the page nor a hidden input carries the whole number: the
                // server fills it from the one on file.
                view.display = idcard::mask(&view.value);
                view.value = view.display.clone();
                if on_file_id {
                    view.note =
                        "在册身份证号，不能修改；如有误请联系人事处或学生工作部门更正。".into();
                }
            }
            FieldKind::Select | FieldKind::Radio => {
                view.options = f
                    .options
                    .iter()
                    .map(|o| OptionView {
                        value: o.clone(),
                        label: o.clone(),
                        selected: &view.value == o,
                    })
                    .collect();
            }
            FieldKind::Checkboxes => {
                let picked: Vec<String> = match v {
                    Some(Value::Array(a)) => a.iter().map(|x| as_text(Some(x))).collect(),
                    _ => Vec::new(),
                };
                view.display = picked.join("、");
                view.options = f
                    .options
                    .iter()
                    .map(|o| OptionView {
                        value: o.clone(),
                        label: o.clone(),
                        selected: picked.contains(o),
                    })
                    .collect();
            }
            FieldKind::DateRange => {
                view.display = if view.from.is_empty() {
                    String::new()
                } else {
                    format!("{} 至 {}", view.from, view.to)
                };
            }
            FieldKind::Money => {
                if let Some(n) = v.and_then(Value::as_f64) {
                    view.display = format!("{n:.2} 元");
                    view.value = format!("{n:.2}");
                }
            }
            FieldKind::Person => {
                if view.placeholder.is_empty() {
                    view.placeholder = f
                        .scope
                        .unwrap_or(super::PersonScope::All)
                        .placeholder()
                        .to_owned();
                }
                // A draft keeps what was posted (a string); a submitted form, a number.
                let id = v.and_then(super::id_value);
                if let Some(name) = id.and_then(|i| lookups.people.get(&i)) {
                    view.display = name.clone();
                }
                if let Some(choices) = lookups.person_choices.get(&f.key) {
                    view.options = choices
                        .iter()
                        .map(|(cid, n)| OptionView {
                            value: cid.to_string(),
                            label: n.clone(),
                            selected: Some(*cid) == id,
                        })
                        .collect();
                }
            }
            FieldKind::Department => {
                // A draft keeps what was posted (a string); a submitted form, a number.
                let id = v.and_then(super::id_value);
                if let Some((_, n)) = lookups.departments.iter().find(|(d, _)| Some(*d) == id) {
                    view.display = n.clone();
                }
                view.options = lookups
                    .departments
                    .iter()
                    .map(|(d, n)| OptionView {
                        value: d.to_string(),
                        label: n.clone(),
                        selected: Some(*d) == id,
                    })
                    .collect();
            }
            FieldKind::Table => {
                // Rows with something in them; the blanks are added below.
                let rows: Vec<Map<String, Value>> = match v {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter(|r| !super::is_blank(Some(r)))
                        .filter_map(|r| r.as_object().cloned())
                        .collect(),
                    _ => Vec::new(),
                };
                view.extra_rows = extra_rows
                    .get(&f.key)
                    .copied()
                    .unwrap_or(0)
                    .min(MAX_EXTRA_ROWS);
                let blanks = if view.access == "editable" {
                    BLANK_ROWS + view.extra_rows
                } else {
                    0
                };
                for (i, row) in rows
                    .iter()
                    .map(Some)
                    .chain(std::iter::repeat_n(None, blanks))
                    .enumerate()
                {
                    view.rows.push(
                        f.columns
                            .iter()
                            .map(|c| CellView {
                                name: format!("f.{}.{}.{}", f.key, i, c.key),
                                value: as_text(row.and_then(|r| r.get(&c.key))),
                                input_type: cell_type(c.kind),
                            })
                            .collect(),
                    );
                }
            }
            _ => {}
        }
        out.push(view);
    }
    out
}

/// The title of an application: the service name plus the applicant.
pub fn title(service: &str, applicant: &str) -> String {
    format!("{service}（{applicant}）")
}
