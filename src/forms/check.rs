//! The full checks of a form definition (`FormSchema::problems`), run before publishing
//! and shown by the form designer. Each problem names its field by label and key
//! (`字段“请假天数”（days）：最小值大于最大值`); the designer also asks for one field's
//! own problems (`field`, `column`) to put each message next to its input.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{CheckCtx, Field, FieldKind, FormSchema, ID_CARD_SOURCE};

/// Most fields in one form, columns in one sub-table, options of one field.
pub const MAX_FIELDS: usize = 200;
pub const MAX_COLUMNS: usize = 30;
pub const MAX_OPTIONS: usize = 200;
/// Longest key (characters), label, option, help text, placeholder, pattern, pattern
/// message, static text.
pub const KEY_MAX: usize = 64;
pub const LABEL_MAX: usize = 100;
pub const OPTION_MAX: usize = 100;
pub const HELP_MAX: usize = 500;
pub const PLACEHOLDER_MAX: usize = 100;
pub const PATTERN_MAX: usize = 300;
pub const PATTERN_MESSAGE_MAX: usize = 200;
pub const TEXT_MAX: usize = 5000;

/// The profile keys auto-fill takes values from (`Profile`), with their names.
pub const AUTOFILL: [(&str, &str); 9] = [
    ("name", "姓名"),
    ("account", "学号/工号"),
    ("gender", "性别"),
    ("department", "所在单位"),
    ("title", "职务/职称"),
    ("phone", "手机号"),
    ("email", "邮箱"),
    ("user_type", "人员类别"),
    ("id_card", "在册身份证号"),
];

impl FieldKind {
    pub const ALL: [FieldKind; 19] = [
        FieldKind::Text,
        FieldKind::Textarea,
        FieldKind::Number,
        FieldKind::Money,
        FieldKind::Date,
        FieldKind::Datetime,
        FieldKind::DateRange,
        FieldKind::Select,
        FieldKind::Radio,
        FieldKind::Checkboxes,
        FieldKind::Phone,
        FieldKind::Email,
        FieldKind::IdCard,
        FieldKind::Person,
        FieldKind::Department,
        FieldKind::Attachments,
        FieldKind::Table,
        FieldKind::Section,
        FieldKind::Static,
    ];

    /// The type's name in the designer.
    pub fn label(self) -> &'static str {
        match self {
            FieldKind::Text => "单行文本",
            FieldKind::Textarea => "多行文本",
            FieldKind::Number => "数字",
            FieldKind::Money => "金额",
            FieldKind::Date => "日期",
            FieldKind::Datetime => "日期时间",
            FieldKind::DateRange => "日期范围",
            FieldKind::Select => "下拉选择",
            FieldKind::Radio => "单选",
            FieldKind::Checkboxes => "多选",
            FieldKind::Phone => "手机号",
            FieldKind::Email => "邮箱",
            FieldKind::IdCard => "身份证号",
            FieldKind::Person => "人员",
            FieldKind::Department => "部门",
            FieldKind::Attachments => "附件",
            FieldKind::Table => "子表",
            FieldKind::Section => "分节标题",
            FieldKind::Static => "说明文字",
        }
    }

    /// The name stored in definitions (`type = "date_range"`).
    pub fn code(self) -> &'static str {
        match self {
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

    pub fn from_code(code: &str) -> Option<FieldKind> {
        FieldKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// May be a sub-table's column. A cell is one text box (`render::cell_type`) holding
    /// one plain value, so kinds needing a picker, a list, a pair of dates or files cannot
    /// be columns, nor can headings.
    pub fn column_allowed(self) -> bool {
        !matches!(
            self,
            FieldKind::Table
                | FieldKind::Attachments
                | FieldKind::Section
                | FieldKind::Static
                | FieldKind::DateRange
                | FieldKind::Checkboxes
                | FieldKind::Person
                | FieldKind::Department
        )
    }

    pub fn has_options(self) -> bool {
        matches!(
            self,
            FieldKind::Select | FieldKind::Radio | FieldKind::Checkboxes
        )
    }

    /// Min / max apply.
    pub fn has_limits(self) -> bool {
        matches!(self, FieldKind::Number | FieldKind::Money)
    }

    /// Min / max length apply.
    pub fn has_length(self) -> bool {
        matches!(self, FieldKind::Text | FieldKind::Textarea)
    }

    /// A pattern applies (single-line text only, as `forms::validate` checks it).
    pub fn has_pattern(self) -> bool {
        self == FieldKind::Text
    }

    /// Shown with a placeholder by the form.
    pub fn has_placeholder(self) -> bool {
        matches!(
            self,
            FieldKind::Text | FieldKind::Textarea | FieldKind::Number | FieldKind::Money
        )
    }

    /// May carry a default value (one the form can show and validation accepts).
    pub fn has_default(self) -> bool {
        matches!(
            self,
            FieldKind::Text
                | FieldKind::Textarea
                | FieldKind::Number
                | FieldKind::Money
                | FieldKind::Date
                | FieldKind::Datetime
                | FieldKind::Select
                | FieldKind::Radio
                | FieldKind::Checkboxes
                | FieldKind::Phone
                | FieldKind::Email
                | FieldKind::IdCard
        )
    }

    /// Takes a 日期限制 (before / after today).
    pub fn has_date_limit(self) -> bool {
        matches!(
            self,
            FieldKind::Date | FieldKind::Datetime | FieldKind::DateRange
        )
    }

    /// May be filled from the profile (a text value).
    pub fn has_autofill(self) -> bool {
        matches!(
            self,
            FieldKind::IdCard
                | FieldKind::Text
                | FieldKind::Textarea
                | FieldKind::Select
                | FieldKind::Radio
                | FieldKind::Phone
                | FieldKind::Email
        )
    }
}

/// The part of a field a problem is about (the designer's input it is shown next to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Kind,
    Key,
    Label,
    Help,
    Placeholder,
    Options,
    Limits,
    Length,
    Pattern,
    PatternMessage,
    Default,
    Autofill,
    Locked,
    Text,
    Columns,
    /// A person field's 可选人员 (a role or a scope).
    Role,
    /// A date's 日期限制.
    DateLimit,
    /// A birth date's 身份证号 field.
    BirthOf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub part: Part,
    pub message: String,
}

fn p(part: Part, message: impl Into<String>) -> Problem {
    Problem {
        part,
        message: message.into(),
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `字段“请假天数”（days）`, or `字段（days）` without a label.
pub fn name_of(f: &Field) -> String {
    if f.label.trim().is_empty() {
        format!("字段（{}）", f.key)
    } else {
        format!("字段“{}”（{}）", f.label, f.key)
    }
}

fn column_name(table: &Field, c: &Field) -> String {
    let col = if c.label.trim().is_empty() {
        format!("列（{}）", c.key)
    } else {
        format!("列“{}”（{}）", c.label, c.key)
    };
    if table.label.trim().is_empty() {
        format!("子表（{}）的{col}", table.key)
    } else {
        format!("子表“{}”（{}）的{col}", table.label, table.key)
    }
}

/// A key's own problem, if any: letters, digits and `_`, starting with a letter.
pub fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("标识不能为空".into());
    }
    if chars(key) > KEY_MAX {
        return Some(format!("标识不能超过 {KEY_MAX} 个字符"));
    }
    let ok = key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (!ok).then(|| "标识只能由字母、数字和下划线组成，并以字母开头".into())
}

/// The value of a default as text, for messages.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(shown).collect::<Vec<_>>().join("、"),
        other => other.to_string(),
    }
}

fn default_problems(f: &Field, out: &mut Vec<Problem>) {
    let Some(d) = &f.default else { return };
    if d.is_null() {
        return;
    }
    if !f.kind.has_default() {
        out.push(p(
            Part::Default,
            format!("{}不能设置默认值", f.kind.label()),
        ));
        return;
    }
    if super::is_blank(Some(d)) {
        return;
    }
    let text = shown(d);
    match f.kind {
        FieldKind::Select | FieldKind::Radio => match d {
            Value::String(s) if f.options.contains(s) => {}
            _ => out.push(p(Part::Default, format!("默认值“{text}”不在选项中"))),
        },
        FieldKind::Checkboxes => {
            let all = match d {
                Value::Array(a) => a
                    .iter()
                    .all(|x| x.as_str().is_some_and(|s| f.options.iter().any(|o| o == s))),
                _ => false,
            };
            if !all {
                out.push(p(Part::Default, format!("默认值“{text}”不在选项中")));
            }
        }
        FieldKind::Number | FieldKind::Money => {
            let n = match d {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
                _ => None,
            };
            match n {
                None => out.push(p(Part::Default, format!("默认值“{text}”不是数字"))),
                Some(n) => {
                    if let Some(min) = f.min.filter(|m| n < *m) {
                        out.push(p(Part::Default, format!("默认值 {n} 小于最小值 {min}")));
                    }
                    if let Some(max) = f.max.filter(|m| n > *m) {
                        out.push(p(Part::Default, format!("默认值 {n} 大于最大值 {max}")));
                    }
                }
            }
        }
        _ => {
            if !d.is_string() {
                out.push(p(Part::Default, format!("默认值“{text}”须为文字")));
                return;
            }
            // The same rules as a submitted value (lengths, pattern, dates, phone …),
            // whatever `required` says.
            let probe = Field {
                required: false,
                ..f.clone()
            };
            let (errs, _) = super::check(&probe, Some(d), &CheckCtx::default());
            if let Some(e) = errs.first() {
                out.push(p(Part::Default, format!("默认值“{text}”不符合规则：{e}")));
            }
        }
    }
}

/// One field's own problems (not those it has with its neighbours, such as a duplicate
/// key). `column`: checked as a sub-table's column.
fn own(f: &Field, column: bool) -> Vec<Problem> {
    let mut out = Vec::new();
    if column && !f.kind.column_allowed() {
        out.push(p(Part::Kind, format!("子表的列不能是{}", f.kind.label())));
    }
    if let Some(m) = key_problem(&f.key) {
        out.push(p(Part::Key, m));
    }
    if f.kind == FieldKind::Static {
        if f.label.trim().is_empty() && f.text.trim().is_empty() {
            out.push(p(Part::Text, "说明文字不能为空"));
        }
    } else if f.label.trim().is_empty() {
        out.push(p(Part::Label, "标题不能为空"));
    }
    if chars(&f.label) > LABEL_MAX {
        out.push(p(Part::Label, format!("标题不能超过 {LABEL_MAX} 个字")));
    }
    if chars(&f.help) > HELP_MAX {
        out.push(p(Part::Help, format!("填写说明不能超过 {HELP_MAX} 个字")));
    }
    if chars(&f.placeholder) > PLACEHOLDER_MAX {
        out.push(p(
            Part::Placeholder,
            format!("占位提示不能超过 {PLACEHOLDER_MAX} 个字"),
        ));
    }
    if chars(&f.text) > TEXT_MAX {
        out.push(p(Part::Text, format!("说明文字不能超过 {TEXT_MAX} 个字")));
    }
    if f.kind.has_options() {
        if f.options.is_empty() {
            out.push(p(Part::Options, "缺少选项"));
        }
        if f.options.len() > MAX_OPTIONS {
            out.push(p(Part::Options, format!("选项不能超过 {MAX_OPTIONS} 个")));
        }
        let mut seen = BTreeSet::new();
        for o in &f.options {
            if o.trim().is_empty() {
                out.push(p(Part::Options, "选项不能为空"));
            } else if chars(o) > OPTION_MAX {
                out.push(p(Part::Options, format!("选项不能超过 {OPTION_MAX} 个字")));
            } else if !seen.insert(o.as_str()) {
                out.push(p(Part::Options, format!("选项“{o}”重复")));
            }
        }
    }
    if let (Some(min), Some(max)) = (f.min, f.max)
        && min > max
    {
        out.push(p(Part::Limits, "最小值大于最大值"));
    }
    if let (Some(min), Some(max)) = (f.min_len, f.max_len)
        && min > max
    {
        out.push(p(Part::Length, "最少字数大于最多字数"));
    }
    if f.max_len == Some(0) {
        out.push(p(Part::Length, "最多字数须大于 0"));
    }
    if let Some(pat) = &f.pattern {
        if chars(pat) > PATTERN_MAX {
            out.push(p(
                Part::Pattern,
                format!("格式规则不能超过 {PATTERN_MAX} 个字符"),
            ));
        } else if regex_lite::Regex::new(pat).is_err()
            // Alone too: `a)|(b` only compiles inside the form's `^(?:…)$`, and unanchored.
            || regex_lite::Regex::new(&format!("^(?:{pat})$")).is_err()
        {
            out.push(p(Part::Pattern, "格式规则不是有效的正则表达式"));
        }
    }
    if f.pattern_message
        .as_deref()
        .is_some_and(|m| chars(m) > PATTERN_MESSAGE_MAX)
    {
        out.push(p(
            Part::PatternMessage,
            format!("格式提示不能超过 {PATTERN_MESSAGE_MAX} 个字"),
        ));
    }
    if let Some(a) = &f.autofill {
        if !AUTOFILL.iter().any(|(k, _)| k == a) {
            out.push(p(Part::Autofill, format!("自动填充来源“{a}”不受支持")));
        } else if (a == ID_CARD_SOURCE) != (f.kind == FieldKind::IdCard) {
            out.push(p(
                Part::Autofill,
                "身份证号字段只能填入在册身份证号，在册身份证号也只能填入身份证号字段",
            ));
        }
    }
    if f.date_limit.is_some() && !f.kind.has_date_limit() {
        out.push(p(Part::DateLimit, "只有日期字段能设置日期限制"));
    }
    if f.birth_of.is_some() && f.kind != FieldKind::Date {
        out.push(p(Part::BirthOf, "只有日期字段能核对身份证号中的出生日期"));
    }
    if f.locked && f.autofill.is_none() {
        out.push(p(Part::Locked, "已锁定但没有设置自动填充来源"));
    }
    if (f.role.is_some() || f.scope.is_some()) && f.kind != FieldKind::Person {
        out.push(p(Part::Role, "只有人员字段能限定可选人员"));
    } else if f.role.is_some() && f.scope.is_some() {
        out.push(p(
            Part::Role,
            "可选人员只能是一个角色或一个人员范围，不能同时设置",
        ));
    }
    default_problems(f, &mut out);
    if f.kind == FieldKind::Table {
        if f.columns.is_empty() {
            out.push(p(Part::Columns, "子表缺少列"));
        }
        if f.columns.len() > MAX_COLUMNS {
            out.push(p(Part::Columns, format!("子表最多 {MAX_COLUMNS} 列")));
        }
    }
    out
}

/// A field's own problems, for the designer's field editor.
pub fn field(f: &Field) -> Vec<Problem> {
    own(f, false)
}

/// A sub-table column's own problems, for the designer's column editor.
pub fn column(c: &Field) -> Vec<Problem> {
    own(c, true)
}

/// The problems of a sub-table's columns (each named), including duplicate keys.
pub fn columns(table: &Field) -> Vec<String> {
    let mut out = Vec::new();
    let mut keys = BTreeSet::new();
    for c in &table.columns {
        let name = column_name(table, c);
        if !c.key.is_empty() && !keys.insert(c.key.as_str()) {
            out.push(format!("{name}：列标识重复"));
        }
        for pr in own(c, true) {
            out.push(format!("{name}：{}", pr.message));
        }
    }
    out
}

/// Every problem of the form, each naming its field (and column); empty when it may be
/// published.
pub fn form(schema: &FormSchema) -> Vec<String> {
    let mut out = Vec::new();
    if schema.fields.len() > MAX_FIELDS {
        out.push(format!("表单最多 {MAX_FIELDS} 个字段"));
    }
    let mut keys = BTreeSet::new();
    for f in &schema.fields {
        let name = name_of(f);
        if !f.key.is_empty() && !keys.insert(f.key.as_str()) {
            out.push(format!("{name}：标识与前面的字段重复"));
        }
        for pr in own(f, false) {
            out.push(format!("{name}：{}", pr.message));
        }
        if f.kind == FieldKind::Table {
            out.extend(columns(f));
        }
        if let Some(of) = &f.birth_of
            && !schema
                .fields
                .iter()
                .any(|x| &x.key == of && x.kind == FieldKind::IdCard)
        {
            out.push(format!("{name}：核对出生日期的身份证号字段（{of}）不存在"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
