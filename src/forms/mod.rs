//! Form definitions (versioned JSON), server-side validation, auto-fill and per-node
//! field access.

pub mod check;
mod dates;
pub mod files;
pub mod input;
pub mod render;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub use dates::{DateLimit, id_card_birth};
use dates::{cross_check, limit};

use crate::identity::idcard;

/// What a person may do with a field or section: set per node by a workflow definition
/// (and for the applicant), applied by the form's rendering and validation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldAccess {
    Hidden,
    Readonly,
    Editable,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FormSchema {
    pub fields: Vec<Field>,
}

// Definitions are written without their defaults (and whole numbers as integers), so what
// the designers publish reads, stores and exports like a hand-written package.
fn is_false(b: &bool) -> bool {
    !*b
}

fn whole<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => s.serialize_some(&(*x as i64)),
        other => other.serialize(s),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Field {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub label: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub placeholder: String,
    /// Numbers and money: bounds. Text: length bounds (characters).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "whole"
    )]
    pub min: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "whole"
    )]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// A regular expression the whole text must match (single-line text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Choices for select / radio / checkboxes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Filled from the applicant's profile: name, account, gender, department, title,
    /// phone, email, user_type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autofill: Option<String>,
    /// An auto-filled value the applicant cannot change.
    #[serde(default, skip_serializing_if = "is_false")]
    pub locked: bool,
    /// Sub-table columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Field>,
    /// Read-only text shown in the form.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Person fields: offer the holders of this role around the applicant's college as a
    /// list, instead of an account box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Person fields without a role: whom the picker searches and the form accepts.
    /// Absent: anyone (the forms made before scopes keep working as they did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<PersonScope>,
    /// Date fields: which days relative to the day of submission are accepted (a birth
    /// date lies before today, a past leave not after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_limit: Option<DateLimit>,
    /// A date field holding the birth date written in the 身份证号 field with this key:
    /// the two must agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_of: Option<String>,
}

/// Whom a person field may name. The picker's search (`/people`) is limited to it, so a
/// form asking for a teacher does not let a student list the students, and the same
/// limit is checked on submit, whatever the request says.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PersonScope {
    /// 全校人员.
    All,
    /// 教职工: teachers and staff.
    Staff,
    /// 学生.
    Student,
    /// The people of the applicant's college (the top department above theirs).
    College,
}

impl PersonScope {
    pub const ALL: [PersonScope; 4] = [
        PersonScope::Staff,
        PersonScope::Student,
        PersonScope::College,
        PersonScope::All,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PersonScope::All => "all",
            PersonScope::Staff => "staff",
            PersonScope::Student => "student",
            PersonScope::College => "college",
        }
    }

    pub fn from_code(code: &str) -> Option<PersonScope> {
        PersonScope::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Whom it names, as the designer's list and the refusal say it.
    pub fn label(self) -> &'static str {
        match self {
            PersonScope::All => "全校人员",
            PersonScope::Staff => "本校教职工",
            PersonScope::Student => "本校学生",
            PersonScope::College => "申请人所在学院的人员",
        }
    }

    /// The person types it admits (`users.user_type`).
    pub fn user_types(self) -> &'static [&'static str] {
        match self {
            PersonScope::Staff => &["teacher", "staff"],
            PersonScope::Student => &["student"],
            PersonScope::All | PersonScope::College => &["student", "teacher", "staff"],
        }
    }

    /// Limited to the applicant's college.
    pub fn by_college(self) -> bool {
        self == PersonScope::College
    }

    /// The picker's hint.
    pub fn placeholder(self) -> &'static str {
        match self {
            PersonScope::Staff => "输入教职工姓名或工号",
            PersonScope::Student => "输入学生姓名或学号",
            PersonScope::All | PersonScope::College => "输入姓名或学号/工号",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Textarea,
    Number,
    Money,
    Date,
    Datetime,
    DateRange,
    Select,
    Radio,
    Checkboxes,
    Phone,
    Email,
    IdCard,
    Person,
    Department,
    Attachments,
    Table,
    Section,
    Static,
}

impl FieldKind {
    /// Kinds that hold no value.
    pub fn is_decoration(self) -> bool {
        matches!(self, FieldKind::Section | FieldKind::Static)
    }
}

impl FormSchema {
    /// Checks when a definition is saved.
    pub fn validate(&self) -> Result<(), String> {
        let mut keys = std::collections::BTreeSet::new();
        for f in &self.fields {
            if f.key.trim().is_empty()
                || !f.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(format!("字段标识“{}”只能包含字母、数字和下划线", f.key));
            }
            if !keys.insert(f.key.as_str()) {
                return Err(format!("字段标识重复：{}", f.key));
            }
            if matches!(
                f.kind,
                FieldKind::Select | FieldKind::Radio | FieldKind::Checkboxes
            ) && f.options.is_empty()
            {
                return Err(format!("字段“{}”缺少选项", f.label));
            }
            if f.kind == FieldKind::Table {
                if f.columns.is_empty() {
                    return Err(format!("子表“{}”缺少列", f.label));
                }
                for c in &f.columns {
                    if matches!(
                        c.kind,
                        FieldKind::Table | FieldKind::Attachments | FieldKind::Section
                    ) {
                        return Err(format!("子表“{}”的列不能是子表、附件或分节", f.label));
                    }
                }
            }
            if let Some(p) = &f.pattern {
                regex_lite::Regex::new(p)
                    .map_err(|_| format!("字段“{}”的格式规则无效", f.label))?;
            }
        }
        Ok(())
    }

    /// Every problem of the definition, each naming its field by label and key (the full
    /// checks of `check.rs`); empty when it may be published.
    pub fn problems(&self) -> Vec<String> {
        check::form(self)
    }

    /// The section each field belongs to (the nearest section heading above it).
    pub fn sections(&self) -> BTreeMap<&str, Option<&str>> {
        let mut current = None;
        let mut out = BTreeMap::new();
        for f in &self.fields {
            if f.kind == FieldKind::Section {
                current = Some(f.key.as_str());
                out.insert(f.key.as_str(), None);
            } else {
                out.insert(f.key.as_str(), current);
            }
        }
        out
    }

    /// Access to each field under a node's map: the field's own entry, else its section's,
    /// else `default`.
    pub fn access(
        &self,
        map: &BTreeMap<String, FieldAccess>,
        default: FieldAccess,
    ) -> BTreeMap<String, FieldAccess> {
        let sections = self.sections();
        self.fields
            .iter()
            .map(|f| {
                let a = map
                    .get(&f.key)
                    .or_else(|| {
                        sections
                            .get(f.key.as_str())
                            .copied()
                            .flatten()
                            .and_then(|s| map.get(s))
                    })
                    .copied()
                    .unwrap_or(default);
                (f.key.clone(), a)
            })
            .collect()
    }
}

/// The applicant's profile, for auto-fill.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub name: String,
    pub account: String,
    pub gender: String,
    pub department: String,
    pub title: String,
    pub phone: String,
    pub email: String,
    pub user_type: String,
    /// The 身份证号 on file (decrypted), empty when none is.
    pub id_card: String,
}

/// The 身份证号 source: filled only where a number is on file, and then always the one on
/// file (it is who the applicant is, not something to edit).
pub const ID_CARD_SOURCE: &str = "id_card";

impl Profile {
    fn get(&self, key: &str) -> Option<&str> {
        if key == ID_CARD_SOURCE {
            return Some(self.id_card.as_str()).filter(|s| !s.is_empty());
        }
        Some(match key {
            "name" => &self.name,
            "account" => &self.account,
            "gender" => &self.gender,
            "department" => &self.department,
            "title" => &self.title,
            "phone" => &self.phone,
            "email" => &self.email,
            "user_type" => &self.user_type,
            _ => return None,
        })
    }
}

/// Initial values: defaults, then auto-fill from the profile.
pub fn initial_values(schema: &FormSchema, profile: &Profile) -> Map<String, Value> {
    let mut m = Map::new();
    for f in &schema.fields {
        if f.kind.is_decoration() {
            continue;
        }
        if let Some(v) = f.autofill.as_deref().and_then(|k| profile.get(k)) {
            m.insert(f.key.clone(), Value::String(v.to_owned()));
        } else if let Some(d) = &f.default {
            m.insert(f.key.clone(), d.clone());
        }
    }
    m
}

/// Locked auto-filled fields always carry the profile's value, whatever was posted; so does
/// a 身份证号 filled from the one on file.
pub fn enforce_locked(schema: &FormSchema, profile: &Profile, data: &mut Map<String, Value>) {
    for f in &schema.fields {
        if (f.locked || f.autofill.as_deref() == Some(ID_CARD_SOURCE))
            && let Some(v) = f.autofill.as_deref().and_then(|k| profile.get(k))
        {
            data.insert(f.key.clone(), Value::String(v.to_owned()));
        }
    }
}

/// Field key → messages; `""` holds form-level messages.
pub type Errors = BTreeMap<String, Vec<String>>;

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

pub(crate) fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.values().all(|x| is_blank(Some(x))),
        _ => false,
    }
}

fn valid_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

fn valid_datetime(s: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
}

/// Validate one value; also normalises numbers (money to two decimals).
fn check(f: &Field, v: Option<&Value>, ctx: &CheckCtx) -> (Vec<String>, Option<Value>) {
    let mut errs = Vec::new();
    let label = if f.label.is_empty() { &f.key } else { &f.label };
    if is_blank(v) {
        if f.required {
            errs.push(match f.kind {
                FieldKind::Attachments => format!("请添加{label}"),
                FieldKind::Select
                | FieldKind::Radio
                | FieldKind::Checkboxes
                | FieldKind::Person
                | FieldKind::Department => {
                    format!("请选择{label}")
                }
                _ => format!("请填写{label}"),
            });
        }
        return (errs, None);
    }
    let s = text(v);
    let mut normalised = None;
    let len = s.chars().count();
    match f.kind {
        FieldKind::Text | FieldKind::Textarea => {
            if let Some(max) = f.max_len.filter(|m| len > *m) {
                errs.push(format!("{label}不能超过 {max} 个字（当前 {len} 个）"));
            }
            if let Some(min) = f.min_len.filter(|m| len < *m) {
                errs.push(format!("{label}至少 {min} 个字"));
            }
            if f.kind == FieldKind::Text
                && let Some(p) = &f.pattern
                && let Ok(re) = regex_lite::Regex::new(&format!("^(?:{p})$"))
                && !re.is_match(&s)
            {
                errs.push(
                    f.pattern_message
                        .clone()
                        .unwrap_or_else(|| format!("{label}格式不正确")),
                );
            }
        }
        FieldKind::Number | FieldKind::Money => match s.parse::<f64>() {
            Ok(n) if n.is_finite() => {
                if f.kind == FieldKind::Money {
                    let cents = (n * 100.0).round();
                    if (n * 100.0 - cents).abs() > 1e-6 {
                        errs.push(format!("{label}最多保留两位小数"));
                    }
                    normalised = serde_json::Number::from_f64(cents / 100.0).map(Value::Number);
                } else if n.fract() == 0.0 && n.abs() < 1e15 {
                    // Whole numbers stay whole: 2, not 2.0.
                    normalised = Some(json!(n as i64));
                } else {
                    normalised = serde_json::Number::from_f64(n).map(Value::Number);
                }
                if let Some(min) = f.min.filter(|m| n < *m) {
                    errs.push(format!("{label}不能小于 {min}"));
                }
                if let Some(max) = f.max.filter(|m| n > *m) {
                    errs.push(format!("{label}不能大于 {max}"));
                }
            }
            _ => errs.push(format!("{label}须为数字")),
        },
        FieldKind::Date => {
            if !valid_date(&s) {
                errs.push(format!("{label}须为日期，如 2026-11-21"));
            } else {
                limit(f, label, &s, ctx, &mut errs);
            }
        }
        FieldKind::Datetime => {
            if !valid_datetime(&s) {
                errs.push(format!("{label}须为日期时间"));
            } else {
                limit(f, label, &s[..10], ctx, &mut errs);
            }
        }
        FieldKind::DateRange => {
            let from = text(v.and_then(|x| x.get("from")));
            let to = text(v.and_then(|x| x.get("to")));
            if !valid_date(&from) || !valid_date(&to) {
                errs.push(format!("请完整填写{label}的开始和结束日期"));
            } else if from > to {
                errs.push(format!("{label}的结束日期不能早于开始日期"));
            } else {
                // Both ends: a past leave must have ended, a planned one not yet begun.
                limit(f, &format!("{label}的开始日期"), &from, ctx, &mut errs);
                limit(f, &format!("{label}的结束日期"), &to, ctx, &mut errs);
            }
        }
        FieldKind::Select | FieldKind::Radio => {
            if !f.options.contains(&s) {
                errs.push(format!("请从选项中选择{label}"));
            }
        }
        FieldKind::Checkboxes => {
            let picked: Vec<String> = match v {
                Some(Value::Array(a)) => a.iter().map(|x| text(Some(x))).collect(),
                _ => vec![s.clone()],
            };
            if picked.iter().any(|p| !f.options.contains(p)) {
                errs.push(format!("请从选项中选择{label}"));
            }
            normalised = Some(json!(picked));
        }
        FieldKind::Phone => {
            let ok = s.len() == 11
                && s.starts_with('1')
                && s.chars().all(|c| c.is_ascii_digit())
                && s.as_bytes()[1] >= b'3';
            if !ok {
                errs.push(format!("{label}须为 11 位手机号"));
            }
        }
        FieldKind::Email => {
            let ok = s.len() <= 254
                && s.split_once('@').is_some_and(|(a, d)| {
                    !a.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
                })
                && !s.contains(char::is_whitespace);
            if !ok {
                errs.push(format!("{label}格式不正确"));
            }
        }
        FieldKind::IdCard => {
            if !idcard::is_valid(&s) {
                errs.push(format!("{label}不是有效的身份证号（校验位不符）"));
            } else {
                normalised = Some(Value::String(idcard::normalize(&s)));
            }
        }
        FieldKind::Person => match s.parse::<i64>() {
            Ok(id)
                if ctx.people.contains(&id)
                    && ctx.choices.get(&f.key).is_none_or(|c| c.contains(&id)) =>
            {
                normalised = Some(json!(id))
            }
            // A real person outside the field's scope: say whom it takes.
            Ok(id) if ctx.people.contains(&id) && f.role.is_none() && f.scope.is_some() => {
                let who = f.scope.map_or("", PersonScope::label);
                errs.push(format!("{label}只能选择{who}"))
            }
            _ => errs.push(format!("请选择有效的{label}")),
        },
        FieldKind::Department => match s.parse::<i64>() {
            Ok(id) if ctx.departments.contains(&id) => normalised = Some(json!(id)),
            _ => errs.push(format!("请选择有效的{label}")),
        },
        FieldKind::Attachments => {
            // Attachment ids are checked against the application's files by the caller.
        }
        FieldKind::Table => {
            let rows = match v {
                Some(Value::Array(rows)) => rows.clone(),
                _ => Vec::new(),
            };
            let mut out_rows = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                if is_blank(Some(row)) {
                    continue;
                }
                let mut out = Map::new();
                for c in &f.columns {
                    let (e, n) = check(c, row.get(&c.key), ctx);
                    for m in e {
                        errs.push(format!("第 {} 行：{m}", i + 1));
                    }
                    if let Some(val) = n.or_else(|| row.get(&c.key).cloned()) {
                        out.insert(c.key.clone(), val);
                    }
                }
                out_rows.push(Value::Object(out));
            }
            if f.required && out_rows.is_empty() {
                errs.push(format!("请至少填写一行{label}"));
            }
            normalised = Some(Value::Array(out_rows));
        }
        FieldKind::Section | FieldKind::Static => {}
    }
    (errs, normalised)
}

/// What validation needs to know beyond the form: which people and departments exist.
#[derive(Default)]
pub struct CheckCtx {
    pub people: Vec<i64>,
    pub departments: Vec<i64>,
    /// For person fields limited to a role (辅导员 of the applicant's college) or a scope
    /// (教职工): the people who may be picked (for a scope, those of the posted ones in
    /// it). Anyone else is refused, whatever the request says.
    pub choices: BTreeMap<String, Vec<i64>>,
    /// The day of submission in the hall's time zone, for `date_limit` (none: not checked,
    /// as for a designer's default value, which is checked on the day it is used).
    pub today: Option<chrono::NaiveDate>,
}

/// Validate the fields that `access` makes editable; returns normalised data (values of
/// other fields kept as they were) or the errors.
/// A picker's id as stored: a number once validated, the posted string in a draft.
/// The account in what a person picker posts: "张三（S2024001）" as picked from the
/// suggestions, or a bare account as typed.
pub fn picked_account(s: &str) -> &str {
    match (s.rfind('（'), s.rfind('）')) {
        (Some(a), Some(b)) if a < b => s[a + '（'.len_utf8()..b].trim(),
        _ => s.trim(),
    }
}

pub fn id_value(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

pub fn validate(
    schema: &FormSchema,
    access: &BTreeMap<String, FieldAccess>,
    data: &Map<String, Value>,
    ctx: &CheckCtx,
) -> Result<Map<String, Value>, Errors> {
    let mut out = data.clone();
    let mut errors = Errors::new();
    for f in &schema.fields {
        if f.kind.is_decoration() || access.get(&f.key) != Some(&FieldAccess::Editable) {
            continue;
        }
        let (errs, normalised) = check(f, data.get(&f.key), ctx);
        if !errs.is_empty() {
            errors.insert(f.key.clone(), errs);
        }
        if let Some(n) = normalised {
            out.insert(f.key.clone(), n);
        }
    }
    cross_check(schema, access, &out, &mut errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Keys whose values differ between two versions (for the approver after a resubmission).
pub fn changed_fields(
    schema: &FormSchema,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Vec<String> {
    schema
        .fields
        .iter()
        .filter(|f| !f.kind.is_decoration())
        .filter(|f| before.get(&f.key) != after.get(&f.key))
        .map(|f| f.key.clone())
        .collect()
}

#[cfg(test)]
mod tests;
