//! Conditions: each compares an existing field, of a type its operator can compare,
//! with a value of that type.

use serde_json::Value;

use super::{field_label, op_label, value_text};
use crate::{
    forms::{Field, FieldKind, FormSchema},
    workflow::model::Cond,
};

/// What a condition can compare a field's value with.
enum Class<'a> {
    Number,
    Date,
    Datetime,
    Choice(&'a [String]),
    Text,
    /// Only 为空 / 不为空 (several choices, people, departments, files, rows, ranges).
    Presence,
}

fn class(f: &Field) -> Class<'_> {
    match f.kind {
        FieldKind::Number | FieldKind::Money => Class::Number,
        FieldKind::Date => Class::Date,
        FieldKind::Datetime => Class::Datetime,
        FieldKind::Select | FieldKind::Radio => Class::Choice(&f.options),
        FieldKind::Text
        | FieldKind::Textarea
        | FieldKind::Phone
        | FieldKind::Email
        | FieldKind::IdCard => Class::Text,
        _ => Class::Presence,
    }
}

pub fn is_number(v: &Value) -> bool {
    match v {
        Value::Number(_) => true,
        Value::String(s) => s.trim().parse::<f64>().is_ok_and(f64::is_finite),
        _ => false,
    }
}

pub fn is_date(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
}

pub fn is_datetime(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").is_ok()
            || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
    })
}

/// Whether `v` can be compared with field `f` by `=`: the problem if not.
fn value_problem(f: &Field, v: &Value) -> Option<String> {
    let label = if f.label.is_empty() { &f.key } else { &f.label };
    let text = value_text(v);
    match class(f) {
        Class::Number if !is_number(v) => Some(format!("“{label}”是数字字段，值“{text}”须为数字")),
        Class::Date if !is_date(v) => Some(format!(
            "“{label}”是日期字段，值“{text}”须为日期，如 2026-11-21"
        )),
        Class::Datetime if !is_datetime(v) => Some(format!(
            "“{label}”是日期时间字段，值“{text}”须为日期时间，如 2026-11-21T08:30"
        )),
        Class::Choice(options) if !options.contains(&text) => Some(format!(
            "值“{text}”不是“{label}”的选项（{}）",
            options.join("、")
        )),
        Class::Text if text.trim().is_empty() => Some(format!(
            "“{label}”的比较值为空（判断是否填写请用“为空”或“不为空”）"
        )),
        _ => None,
    }
}

pub fn cond_problems(c: &Cond, form: &FormSchema) -> Vec<String> {
    let mut out = Vec::new();
    let find = |field: &str, out: &mut Vec<String>| -> Option<&Field> {
        match form.fields.iter().find(|f| f.key == field) {
            _ if field.trim().is_empty() => {
                out.push("未选择比较的字段".into());
                None
            }
            None => {
                out.push(format!("条件引用的字段 {field} 在表单中不存在"));
                None
            }
            Some(f) if f.kind.is_decoration() => {
                out.push(format!(
                    "“{}”是分节标题或说明文字，没有可比较的值",
                    field_label(form, field)
                ));
                None
            }
            Some(f) => Some(f),
        }
    };
    match c {
        Cond::All { of } | Cond::Any { of } => {
            if of.is_empty() {
                out.push(format!("“{}”的条件为空", op_label(c)));
            }
            for x in of {
                out.extend(cond_problems(x, form));
            }
        }
        Cond::Gt { field, value }
        | Cond::Ge { field, value }
        | Cond::Lt { field, value }
        | Cond::Le { field, value } => {
            if let Some(f) = find(field, &mut out) {
                match class(f) {
                    Class::Number | Class::Date | Class::Datetime => {
                        out.extend(value_problem(f, value));
                    }
                    _ => out.push(format!(
                        "“{}”不是数字、金额、日期或日期时间字段，不能用“{}”比较",
                        field_label(form, field),
                        op_label(c)
                    )),
                }
            }
        }
        Cond::Eq { field, value } | Cond::Ne { field, value } => {
            if let Some(f) = find(field, &mut out) {
                match class(f) {
                    Class::Presence => out.push(presence_only(form, field)),
                    _ => out.extend(value_problem(f, value)),
                }
            }
        }
        Cond::In { field, values } => {
            if let Some(f) = find(field, &mut out) {
                match class(f) {
                    Class::Presence => out.push(presence_only(form, field)),
                    _ if values.is_empty() => out.push("“属于”至少需要一个值".into()),
                    _ => out.extend(values.iter().filter_map(|v| value_problem(f, v))),
                }
            }
        }
        Cond::Empty { field } | Cond::NotEmpty { field } => {
            find(field, &mut out);
        }
    }
    out
}

fn presence_only(form: &FormSchema, field: &str) -> String {
    format!(
        "“{}”只能判断“为空”或“不为空”（多选、人员、部门、附件、子表和日期范围字段不能比较取值）",
        field_label(form, field)
    )
}
