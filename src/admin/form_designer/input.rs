//! The field editor's inputs: what was typed (kept as typed, to be shown again), and the
//! field built from it with a message per input for whatever is wrong.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::forms::{
    DateLimit, Field, FieldKind, PersonScope,
    check::{self, Part},
};

/// The 可选人员 list's value for a scope (`scope:staff`); any other value is a role code.
pub const SCOPE: &str = "scope:";

/// The posted pairs of a form (`Form<Vec<(String, String)>>`), repeated names kept.
pub struct Posted(pub Vec<(String, String)>);

impl Posted {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// PostgreSQL stores no NUL character, in text or JSON.
    pub fn has_nul(&self) -> bool {
        self.0
            .iter()
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    }

    /// The revision the page showed: `Ok(None)` when it showed no saved draft.
    pub fn revision(&self) -> Result<Option<i32>, ()> {
        match self.get("revision").trim() {
            "" => Ok(None),
            r => r.parse().map(Some).map_err(|_| ()),
        }
    }
}

/// What the editor shows, as typed.
#[derive(Debug, Clone, Default)]
pub struct FieldForm {
    pub kind: String,
    pub label: String,
    pub key: String,
    pub required: bool,
    pub help: String,
    pub placeholder: String,
    /// One per line.
    pub options: String,
    pub min: String,
    pub max: String,
    pub min_len: String,
    pub max_len: String,
    pub pattern: String,
    pub pattern_message: String,
    /// Checkboxes: one per line.
    pub default: String,
    pub autofill: String,
    pub locked: bool,
    pub role: String,
    pub text: String,
    /// A `DateLimit` code, or empty.
    pub date_limit: String,
    /// The 身份证号 field's key, or empty.
    pub birth_of: String,
}

fn number_text(n: Option<f64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join("\n"),
        other => other.to_string(),
    }
}

impl FieldForm {
    pub fn of(f: &Field) -> FieldForm {
        FieldForm {
            kind: f.kind.code().to_owned(),
            label: f.label.clone(),
            key: f.key.clone(),
            required: f.required,
            help: f.help.clone(),
            placeholder: f.placeholder.clone(),
            options: f.options.join("\n"),
            min: number_text(f.min),
            max: number_text(f.max),
            min_len: f.min_len.map(|n| n.to_string()).unwrap_or_default(),
            max_len: f.max_len.map(|n| n.to_string()).unwrap_or_default(),
            pattern: f.pattern.clone().unwrap_or_default(),
            pattern_message: f.pattern_message.clone().unwrap_or_default(),
            default: f.default.as_ref().map(value_text).unwrap_or_default(),
            autofill: f.autofill.clone().unwrap_or_default(),
            locked: f.locked,
            role: match (&f.role, f.scope) {
                (Some(r), _) => r.clone(),
                (None, Some(sc)) if sc != PersonScope::All => format!("{SCOPE}{}", sc.code()),
                _ => String::new(),
            },
            text: f.text.clone(),
            date_limit: f
                .date_limit
                .map(|d| d.code().to_owned())
                .unwrap_or_default(),
            birth_of: f.birth_of.clone().unwrap_or_default(),
        }
    }

    pub fn posted(p: &Posted) -> FieldForm {
        let s = |n: &str| p.get(n).to_owned();
        FieldForm {
            kind: s("kind"),
            label: s("label"),
            key: s("key"),
            required: p.has("required"),
            help: s("help"),
            placeholder: s("placeholder"),
            options: s("options"),
            min: s("min"),
            max: s("max"),
            min_len: s("min_len"),
            max_len: s("max_len"),
            pattern: s("pattern"),
            pattern_message: s("pattern_message"),
            default: s("default"),
            autofill: s("autofill"),
            locked: p.has("locked"),
            role: s("role"),
            text: s("text"),
            date_limit: s("date_limit"),
            birth_of: s("birth_of"),
        }
    }
}

/// Which inputs the editor shows for a kind (top-level field or sub-table column).
#[derive(Debug, Clone, Copy, Default)]
pub struct Shown {
    pub required: bool,
    pub help: bool,
    pub placeholder: bool,
    pub options: bool,
    pub limits: bool,
    pub length: bool,
    pub pattern: bool,
    pub default: bool,
    pub autofill: bool,
    pub role: bool,
    pub text: bool,
    /// Dates: 日期限制.
    pub date_limit: bool,
    /// A date field: 核对身份证号中的出生日期.
    pub birth_of: bool,
}

impl Shown {
    pub fn of(kind: FieldKind, column: bool) -> Shown {
        let top = !column;
        Shown {
            required: !kind.is_decoration(),
            help: top && !kind.is_decoration(),
            placeholder: top && kind.has_placeholder(),
            options: kind.has_options(),
            limits: kind.has_limits(),
            length: kind.has_length(),
            pattern: kind.has_pattern(),
            default: top && kind.has_default(),
            autofill: top && kind.has_autofill(),
            role: top && kind == FieldKind::Person,
            text: top && kind == FieldKind::Static,
            date_limit: kind.has_date_limit(),
            birth_of: top && kind == FieldKind::Date,
        }
    }

    /// The input a problem is shown next to, if this editor has it.
    fn input(&self, part: Part) -> Option<&'static str> {
        Some(match part {
            Part::Kind => "kind",
            Part::Key => "key",
            Part::Label => "label",
            Part::Help if self.help => "help",
            Part::Placeholder if self.placeholder => "placeholder",
            Part::Options if self.options => "options",
            Part::Limits if self.limits => "limits",
            Part::Length if self.length => "length",
            Part::Pattern if self.pattern => "pattern",
            Part::PatternMessage if self.pattern => "pattern_message",
            Part::Default if self.default => "default",
            Part::Autofill | Part::Locked if self.autofill => "autofill",
            Part::Text if self.text => "text",
            Part::Role if self.role => "role",
            Part::DateLimit if self.date_limit => "date_limit",
            Part::BirthOf if self.birth_of => "birth_of",
            _ => return None,
        })
    }
}

/// Input name → messages; `""` for problems of attributes this editor does not show.
pub type InputErrors = BTreeMap<&'static str, Vec<String>>;

fn err(errors: &mut InputErrors, input: &'static str, message: impl Into<String>) {
    errors.entry(input).or_default().push(message.into());
}

/// Typed text far beyond any limit is refused before it is looked at further.
const RAW_MAX: usize = 20_000;

/// Builds the field the editor's inputs describe, starting from `base` (what is saved),
/// with a message per input for everything wrong. The field is built even when there are
/// errors (the live preview shows it as typed); it is saved only without them.
/// `siblings`: the other fields' (or columns') keys and labels; `roles`: role codes;
/// `id_cards`: the keys of the form's 身份证号 fields (a birth date may name one).
pub fn build(
    form: &FieldForm,
    base: &Field,
    column: bool,
    siblings: &[(&str, &str)],
    roles: &[String],
    id_cards: &[&str],
) -> (Field, InputErrors) {
    let mut errors = InputErrors::new();
    let kind = match FieldKind::from_code(form.kind.trim()) {
        // A sub-table keeps its type: changing it would drop its columns.
        Some(k) if base.kind == FieldKind::Table && k != FieldKind::Table => {
            err(&mut errors, "kind", "子表不能改为其他类型");
            base.kind
        }
        Some(FieldKind::Table) if base.kind != FieldKind::Table => {
            err(
                &mut errors,
                "kind",
                "请新建子表字段，而不是修改已有字段的类型",
            );
            base.kind
        }
        Some(k) => k,
        None => {
            err(&mut errors, "kind", "请选择类型");
            base.kind
        }
    };
    let show = Shown::of(kind, column);
    let mut f = base.clone();
    if kind != base.kind {
        // Whatever the new type does not use goes (it would be invisible in the editor).
        let keep = Field {
            key: f.key.clone(),
            kind,
            label: f.label.clone(),
            required: f.required && show.required,
            help: if show.help {
                f.help.clone()
            } else {
                String::new()
            },
            placeholder: String::new(),
            min: None,
            max: None,
            min_len: None,
            max_len: None,
            pattern: None,
            pattern_message: None,
            default: None,
            options: if show.options {
                f.options.clone()
            } else {
                vec![]
            },
            autofill: None,
            locked: false,
            columns: vec![],
            text: String::new(),
            role: None,
            scope: None,
            date_limit: None,
            birth_of: None,
        };
        f = keep;
    }
    let too_long = |s: &str| s.len() > RAW_MAX;
    for (name, value) in [
        ("label", &form.label),
        ("key", &form.key),
        ("help", &form.help),
        ("placeholder", &form.placeholder),
        ("options", &form.options),
        ("pattern", &form.pattern),
        ("pattern_message", &form.pattern_message),
        ("default", &form.default),
        ("text", &form.text),
    ] {
        if too_long(value) {
            err(&mut errors, name, "内容过长");
        }
    }
    f.label = form.label.trim().to_owned();
    f.key = form.key.trim().to_owned();
    f.required = show.required && form.required;
    if show.help {
        f.help = form.help.trim().to_owned();
    }
    if show.placeholder {
        f.placeholder = form.placeholder.trim().to_owned();
    }
    if show.options {
        f.options = form
            .options
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if show.limits {
        f.min = number(&form.min, "min", &mut errors);
        f.max = number(&form.max, "max", &mut errors);
    }
    if show.length {
        f.min_len = count(&form.min_len, "min_len", &mut errors);
        f.max_len = count(&form.max_len, "max_len", &mut errors);
    }
    if show.pattern {
        f.pattern = Some(form.pattern.trim().to_owned()).filter(|s| !s.is_empty());
        f.pattern_message = Some(form.pattern_message.trim().to_owned()).filter(|s| !s.is_empty());
    }
    if show.default {
        f.default = default_value(kind, &form.default);
    }
    if show.autofill {
        f.autofill = Some(form.autofill.trim().to_owned()).filter(|s| !s.is_empty());
        f.locked = form.locked;
    }
    if show.role {
        // One list offers both: a role around the applicant's college, or a scope.
        let picked = form.role.trim();
        (f.role, f.scope) = (None, None);
        if let Some(code) = picked.strip_prefix(SCOPE) {
            f.scope = PersonScope::from_code(code);
            if f.scope.is_none() {
                err(&mut errors, "role", "没有这个人员范围");
            }
        } else if !picked.is_empty() {
            f.role = Some(picked.to_owned());
            if !roles.iter().any(|r| r == picked) {
                err(&mut errors, "role", "没有这个角色");
            }
        }
    }
    if show.text {
        f.text = form.text.trim().to_owned();
    }
    if show.date_limit {
        let code = form.date_limit.trim();
        f.date_limit = DateLimit::from_code(code);
        if f.date_limit.is_none() && !code.is_empty() {
            err(&mut errors, "date_limit", "没有这个日期限制");
        }
    } else {
        f.date_limit = None;
    }
    if show.birth_of {
        let key = form.birth_of.trim();
        f.birth_of = Some(key.to_owned()).filter(|k| !k.is_empty());
        if !key.is_empty() && !id_cards.contains(&key) {
            err(&mut errors, "birth_of", "请选择表单中的身份证号字段");
        }
    } else {
        f.birth_of = None;
    }
    // The same checks as publishing, each next to its input.
    let problems = if column {
        check::column(&f)
    } else {
        check::field(&f)
    };
    for pr in problems {
        if pr.part == Part::Columns {
            // A sub-table is saved before its columns are added.
            continue;
        }
        err(&mut errors, show.input(pr.part).unwrap_or(""), pr.message);
    }
    if let Some((_, label)) = siblings.iter().find(|(k, _)| *k == f.key) {
        let what = if column { "列" } else { "字段" };
        err(&mut errors, "key", format!("标识与{what}“{label}”重复"));
    }
    (f, errors)
}

fn number(s: &str, input: &'static str, errors: &mut InputErrors) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    match s.parse::<f64>() {
        Ok(n) if n.is_finite() && n.abs() < 1e15 => Some(n),
        _ => {
            err(errors, input, "请填写数字");
            None
        }
    }
}

fn count(s: &str, input: &'static str, errors: &mut InputErrors) -> Option<usize> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    match s.parse::<usize>() {
        Ok(n) if n <= 100_000 => Some(n),
        _ => {
            err(errors, input, "请填写 0 到 100000 之间的整数");
            None
        }
    }
}

/// The default as the form stores it: a number for numbers and money (when it is one; the
/// checks report it otherwise), a list for check boxes, else text.
fn default_value(kind: FieldKind, typed: &str) -> Option<Value> {
    let t = typed.trim();
    if t.is_empty() {
        return None;
    }
    Some(match kind {
        FieldKind::Number | FieldKind::Money => match t.parse::<f64>() {
            Ok(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 => json!(n as i64),
            Ok(n) if n.is_finite() => json!(n),
            _ => json!(t),
        },
        FieldKind::Checkboxes => json!(
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
        ),
        _ => json!(t),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(kind: &str) -> Field {
        serde_json::from_value(json!({"key": "days", "type": kind, "label": "请假天数"})).unwrap()
    }

    fn typed(kind: &str) -> FieldForm {
        FieldForm {
            kind: kind.into(),
            label: "请假天数".into(),
            key: "days".into(),
            ..FieldForm::default()
        }
    }

    #[test]
    fn messages_go_next_to_their_inputs() {
        let mut t = typed("number");
        t.min = "5".into();
        t.max = "1".into();
        t.default = "abc".into();
        let (f, e) = build(&t, &base("number"), false, &[], &[], &[]);
        assert_eq!(f.min, Some(5.0));
        assert_eq!(
            e.get("limits").unwrap(),
            &vec!["最小值大于最大值".to_owned()]
        );
        assert_eq!(
            e.get("default").unwrap(),
            &vec!["默认值“abc”不是数字".to_owned()]
        );
        t.min = "五".into();
        let (_, e) = build(&t, &base("number"), false, &[], &[], &[]);
        assert_eq!(e.get("min").unwrap(), &vec!["请填写数字".to_owned()]);
    }

    #[test]
    fn keys_are_unique_among_siblings() {
        let (_, e) = build(
            &typed("text"),
            &base("text"),
            false,
            &[("days", "天数")],
            &[],
            &[],
        );
        assert_eq!(
            e.get("key").unwrap(),
            &vec!["标识与字段“天数”重复".to_owned()]
        );
        let mut t = typed("text");
        t.key = "请假".into();
        let (_, e) = build(&t, &base("text"), false, &[], &[], &[]);
        assert!(e.get("key").unwrap()[0].starts_with("标识只能"));
    }

    #[test]
    fn a_type_change_drops_what_the_new_type_does_not_use() {
        let mut b = base("text");
        b.max_len = Some(10);
        b.pattern = Some("[a-z]+".into());
        let mut t = typed("radio");
        t.options = "是\n\n否\n".into();
        let (f, e) = build(&t, &b, false, &[], &[], &[]);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(f.options, vec!["是", "否"]);
        assert_eq!((f.max_len, f.pattern), (None, None));
        // Without options a choice is refused, next to the options.
        let (_, e) = build(&typed("select"), &b, false, &[], &[], &[]);
        assert_eq!(e.get("options").unwrap().len(), 1);
        // A sub-table keeps its type; other fields do not become one.
        let (_, e) = build(&typed("text"), &base("table"), false, &[], &[], &[]);
        assert!(e.contains_key("kind"));
        let (_, e) = build(&typed("table"), &b, false, &[], &[], &[]);
        assert!(e.contains_key("kind"));
    }

    #[test]
    fn columns_refuse_kinds_a_cell_cannot_hold() {
        let (_, e) = build(&typed("person"), &base("text"), true, &[], &[], &[]);
        assert_eq!(
            e.get("kind").unwrap(),
            &vec!["子表的列不能是人员".to_owned()]
        );
    }

    #[test]
    fn roles_must_exist_and_unused_inputs_are_ignored() {
        let mut t = typed("person");
        t.role = "counselor".into();
        t.min = "x".into();
        let roles = vec!["counselor".to_owned()];
        let (f, e) = build(&t, &base("person"), false, &[], &roles, &[]);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(f.role.as_deref(), Some("counselor"));
        t.role = "wizard".into();
        let (_, e) = build(&t, &base("person"), false, &[], &roles, &[]);
        assert_eq!(e.get("role").unwrap(), &vec!["没有这个角色".to_owned()]);
    }

    #[test]
    fn defaults_take_the_field_type() {
        assert_eq!(default_value(FieldKind::Number, "2"), Some(json!(2)));
        assert_eq!(default_value(FieldKind::Money, "2.5"), Some(json!(2.5)));
        assert_eq!(
            default_value(FieldKind::Checkboxes, "a\nb"),
            Some(json!(["a", "b"]))
        );
        assert_eq!(default_value(FieldKind::Text, "  "), None);
    }
}
