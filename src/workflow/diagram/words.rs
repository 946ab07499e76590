//! The diagram's words: who approves, conditions as the form calls them, and text sizes
//! (estimated: the server has no fonts, so CJK counts a full em and the rest a little over
//! half, which errs on the wide side).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    forms::{FieldKind, FormSchema},
    workflow::model::{ApproverRule, Cond, Mode, RoleScope},
};

/// Estimated width of `s` at `px`.
pub fn width(s: &str, px: f64) -> f64 {
    s.chars()
        .map(|c| match c {
            ' ' => 0.3,
            'A'..='Z' | 'm' | 'w' | '%' | '@' => 0.72,
            '\u{20}'..='\u{7e}' => 0.58,
            // Latin-1 and general punctuation (…, ·) are narrow in most fonts.
            '\u{a0}'..='\u{1fff}' => 0.6,
            _ => 1.0,
        })
        .sum::<f64>()
        * px
}

/// `s` cut to fit `max` at `px` with an ellipsis, and whether it was cut.
pub fn fit(s: &str, px: f64, max: f64) -> (String, bool) {
    if width(s, px) <= max {
        return (s.to_owned(), false);
    }
    let room = max - width("…", px);
    let mut out = String::new();
    let mut w = 0.0;
    for c in s.chars() {
        let cw = width(c.encode_utf8(&mut [0; 4]), px);
        if w + cw > room {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    (out, true)
}

/// `s` in at most `lines` lines of at most `max` at `px`, broken between characters but
/// not inside a run of letters and digits, the lines about even (no lone last character);
/// the last line cut with an ellipsis if need be.
pub fn wrap(s: &str, px: f64, max: f64, lines: usize) -> Vec<String> {
    let wordy = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | ',' | '%' | '_' | '-');
    let mut tokens: Vec<String> = Vec::new();
    for c in s.chars() {
        match tokens.last_mut() {
            Some(t) if wordy(c) && t.chars().last().is_some_and(wordy) => t.push(c),
            _ => tokens.push(c.to_string()),
        }
    }
    let total = width(s, px);
    let needed = (total / max).ceil().max(1.0) as usize;
    if needed <= lines {
        // Even lines: the share of each, plus a character of slack.
        let even = greedy(
            &tokens,
            px,
            (total / needed as f64 + px).min(max),
            usize::MAX,
        );
        if even.len() <= needed {
            return even;
        }
    }
    greedy(&tokens, px, max, lines)
}

fn greedy(tokens: &[String], px: f64, max: f64, lines: usize) -> Vec<String> {
    let mut out: Vec<String> = vec![String::new()];
    for (k, t) in tokens.iter().enumerate() {
        let line = out.last_mut().expect("one line");
        if width(&format!("{line}{t}"), px) <= max || line.is_empty() {
            line.push_str(t);
            continue;
        }
        if out.len() == lines {
            let rest: String = tokens[k..].concat();
            let last = out.last_mut().expect("one line");
            *last = fit(&format!("{last}{rest}"), px, max).0;
            break;
        }
        out.push(t.trim_start().to_owned());
    }
    // A single token wider than a line.
    for l in &mut out {
        *l = fit(l.trim_end(), px, max).0;
    }
    out
}

/// Role code → name, for approver rules; without it the code is shown.
pub type RoleNames = BTreeMap<String, String>;

fn field_label<'a>(form: Option<&'a FormSchema>, key: &'a str) -> &'a str {
    form.and_then(|f| f.fields.iter().find(|x| x.key == key))
        .map(|x| x.label.as_str())
        .filter(|l| !l.is_empty())
        .unwrap_or(key)
}

/// Who approves (or receives a copy), in words: 部门负责人, 辅导员（本学院）, 指定人员 …
pub fn approvers(rule: &ApproverRule, form: Option<&FormSchema>, roles: &RoleNames) -> String {
    match rule {
        ApproverRule::Users { accounts } if accounts.len() > 1 => {
            format!("指定人员（{}人）", accounts.len())
        }
        ApproverRule::Users { .. } => "指定人员".into(),
        ApproverRule::Role { role, scope } => {
            let name = roles.get(role).map_or(role.as_str(), String::as_str);
            match scope {
                RoleScope::Global => name.to_owned(),
                RoleScope::ApplicantDepartment => format!("{name}（本部门）"),
                RoleScope::ApplicantCollege => format!("{name}（本学院）"),
            }
        }
        ApproverRule::DeptHead { levels_up: 0 } => "部门负责人".into(),
        ApproverRule::DeptHead { levels_up: 1 } => "上级部门负责人".into(),
        ApproverRule::DeptHead { levels_up } => format!("上{levels_up}级部门负责人"),
        ApproverRule::FormField { field } => {
            format!("{}（申请人选定）", field_label(form, field))
        }
        ApproverRule::Applicant => "申请人本人".into(),
    }
}

/// The mode, when it is not the usual 或签.
pub fn mode(m: Mode) -> Option<&'static str> {
    match m {
        Mode::Any => None,
        Mode::All => Some("会签"),
        Mode::Sequential => Some("依次"),
    }
}

/// A label's unit in brackets at its end, for comparisons: 接待经费预算（元） > 5万元.
fn split_unit(label: &str) -> (&str, &str) {
    for (open, close) in [('（', '）'), ('(', ')')] {
        if let Some(head) = label.strip_suffix(close)
            && let Some(at) = head.rfind(open)
        {
            let unit = &head[at + open.len_utf8()..];
            if (1..=3).contains(&unit.chars().count()) && at > 0 {
                return (&head[..at], unit);
            }
        }
    }
    (label, "")
}

fn value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        // Large round amounts read in 万, as people say them.
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.abs() >= 10_000.0 && (f / 100.0).fract() == 0.0 && f.abs() < 1e15 => {
                let w = f / 10_000.0;
                let s = format!("{w:.2}");
                format!("{}万", s.trim_end_matches('0').trim_end_matches('.'))
            }
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::Bool(true) => "是".into(),
        Value::Bool(false) => "否".into(),
        Value::Null => "空".into(),
        Value::Array(a) => a.iter().map(value).collect::<Vec<_>>().join("、"),
        Value::Object(_) => v.to_string(),
    }
}

/// Numbers read best with signs (请假天数 ≤ 3), choices with words (请假类型为病假).
fn numeric(form: Option<&FormSchema>, field: &str, v: &Value) -> bool {
    let kind = form
        .and_then(|f| f.fields.iter().find(|x| x.key == field))
        .map(|x| x.kind);
    match kind {
        Some(FieldKind::Number | FieldKind::Money) => true,
        Some(FieldKind::Date | FieldKind::Datetime) => true,
        Some(_) => false,
        None => v.is_number(),
    }
}

fn compare(form: Option<&FormSchema>, field: &str, sign: &str, v: &Value) -> String {
    let (label, unit) = split_unit(field_label(form, field));
    // A unit that begins with 万 already counts in it (经费（万元） > 5).
    let shown = match v.as_f64() {
        Some(f) if unit.starts_with('万') && f.fract() == 0.0 && f.abs() < 1e15 => {
            format!("{}", f as i64)
        }
        _ => value(v),
    };
    format!("{label} {sign} {shown}{unit}")
}

fn words(c: &Cond, form: Option<&FormSchema>, nested: bool) -> String {
    let l = |f: &str| field_label(form, f).to_owned();
    let group = |of: &[Cond], joint: &str| {
        let s = of
            .iter()
            .map(|c| words(c, form, true))
            .collect::<Vec<_>>()
            .join(joint);
        if nested && of.len() > 1 {
            format!("（{s}）")
        } else {
            s
        }
    };
    match c {
        Cond::All { of } => group(of, " 且 "),
        Cond::Any { of } => group(of, " 或 "),
        Cond::Eq { field, value: v } if numeric(form, field, v) => compare(form, field, "=", v),
        Cond::Ne { field, value: v } if numeric(form, field, v) => compare(form, field, "≠", v),
        Cond::Eq { field, value: v } => format!("{}为{}", l(field), value(v)),
        Cond::Ne { field, value: v } => format!("{}不为{}", l(field), value(v)),
        Cond::Gt { field, value: v } => compare(form, field, ">", v),
        Cond::Ge { field, value: v } => compare(form, field, "≥", v),
        Cond::Lt { field, value: v } => compare(form, field, "<", v),
        Cond::Le { field, value: v } => compare(form, field, "≤", v),
        Cond::In { field, values } => format!(
            "{}为{}",
            l(field),
            values.iter().map(value).collect::<Vec<_>>().join("或")
        ),
        Cond::Empty { field } => format!("{}未填写", l(field)),
        Cond::NotEmpty { field } => format!("{}已填写", l(field)),
    }
}

/// A condition in words, with the form's labels: 请假天数 > 3, 请假类型为病假.
pub fn condition(c: &Cond, form: Option<&FormSchema>) -> String {
    words(c, form, false)
}

/// The words for "otherwise" when that is one simple condition: the default edge of a
/// condition with one branch on 请假天数 > 3 reads 请假天数 ≤ 3; `None` when it is not
/// (then it reads 其他).
pub fn otherwise(c: &Cond, form: Option<&FormSchema>) -> Option<String> {
    let options = |field: &str| {
        form.and_then(|f| f.fields.iter().find(|x| x.key == field))
            .filter(|x| {
                matches!(x.kind, FieldKind::Radio | FieldKind::Select) && !x.options.is_empty()
            })
            .map(|x| x.options.clone())
    };
    // The choices left over, when the field has a list of them.
    let rest = |field: &str, taken: &[&Value]| -> Option<String> {
        let opts = options(field)?;
        let left: Vec<String> = opts
            .into_iter()
            .filter(|o| !taken.iter().any(|t| value(t) == *o))
            .collect();
        (!left.is_empty() && left.len() <= 3)
            .then(|| format!("{}为{}", field_label(form, field), left.join("或")))
    };
    let flip = |c: Cond| Some(condition(&c, form));
    match c.clone() {
        Cond::Gt { field, value } => flip(Cond::Le { field, value }),
        Cond::Ge { field, value } => flip(Cond::Lt { field, value }),
        Cond::Lt { field, value } => flip(Cond::Ge { field, value }),
        Cond::Le { field, value } => flip(Cond::Gt { field, value }),
        Cond::Eq { field, value } => {
            rest(&field, &[&value]).or_else(|| flip(Cond::Ne { field, value }))
        }
        Cond::Ne { field, value } => flip(Cond::Eq { field, value }),
        Cond::In { field, values } => rest(&field, &values.iter().collect::<Vec<_>>()),
        Cond::Empty { field } => flip(Cond::NotEmpty { field }),
        Cond::NotEmpty { field } => flip(Cond::Empty { field }),
        Cond::All { .. } | Cond::Any { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn form() -> FormSchema {
        serde_json::from_value(json!({"fields": [
            {"key": "days", "type": "number", "label": "请假天数"},
            {"key": "kind", "type": "radio", "label": "请假类型", "options": ["事假", "病假", "其他"]},
            {"key": "cadre", "type": "radio", "label": "是否处级干部", "options": ["是", "否"]},
            {"key": "boss", "type": "person", "label": "导师"}
        ]}))
        .unwrap()
    }

    fn cond(v: Value) -> Cond {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn conditions_read_with_the_forms_labels() {
        let f = form();
        let gt = cond(json!({"op": "gt", "field": "days", "value": 3}));
        assert_eq!(condition(&gt, Some(&f)), "请假天数 > 3");
        assert_eq!(otherwise(&gt, Some(&f)).unwrap(), "请假天数 ≤ 3");
        assert_eq!(
            condition(&gt, None),
            "days > 3",
            "without the form, the key"
        );
        let eq = cond(json!({"op": "eq", "field": "cadre", "value": "是"}));
        assert_eq!(condition(&eq, Some(&f)), "是否处级干部为是");
        assert_eq!(otherwise(&eq, Some(&f)).unwrap(), "是否处级干部为否");
        let kind = cond(json!({"op": "in", "field": "kind", "values": ["事假", "其他"]}));
        assert_eq!(condition(&kind, Some(&f)), "请假类型为事假或其他");
        assert_eq!(otherwise(&kind, Some(&f)).unwrap(), "请假类型为病假");
        let any = cond(json!({"op": "any", "of": [
            {"op": "ge", "field": "days", "value": 30},
            {"op": "all", "of": [
                {"op": "eq", "field": "kind", "value": "病假"},
                {"op": "not_empty", "field": "boss"}
            ]}
        ]}));
        assert_eq!(
            condition(&any, Some(&f)),
            "请假天数 ≥ 30 或 （请假类型为病假 且 导师已填写）"
        );
        assert_eq!(otherwise(&any, Some(&f)), None, "其他");
        let money: FormSchema = serde_json::from_value(json!({"fields": [
            {"key": "budget", "type": "money", "label": "接待经费预算（元）"}
        ]}))
        .unwrap();
        let big = cond(json!({"op": "gt", "field": "budget", "value": 50000}));
        assert_eq!(condition(&big, Some(&money)), "接待经费预算 > 5万元");
        let odd = cond(json!({"op": "le", "field": "budget", "value": 12345}));
        assert_eq!(condition(&odd, Some(&money)), "接待经费预算 ≤ 12345元");
        let half = cond(json!({"op": "ge", "field": "budget", "value": 15000}));
        assert_eq!(condition(&half, Some(&money)), "接待经费预算 ≥ 1.5万元");
    }

    #[test]
    fn approvers_in_words() {
        let roles: RoleNames = [("counselor".to_owned(), "辅导员".to_owned())].into();
        let r = |v: Value| approvers(&serde_json::from_value(v).unwrap(), Some(&form()), &roles);
        assert_eq!(
            r(json!({"kind": "role", "role": "counselor", "scope": "applicant_college"})),
            "辅导员（本学院）"
        );
        assert_eq!(r(json!({"kind": "role", "role": "x_officer"})), "x_officer");
        assert_eq!(r(json!({"kind": "dept_head"})), "部门负责人");
        assert_eq!(
            r(json!({"kind": "dept_head", "levels_up": 2})),
            "上2级部门负责人"
        );
        assert_eq!(r(json!({"kind": "users", "accounts": ["T1"]})), "指定人员");
        assert_eq!(
            r(json!({"kind": "form_field", "field": "boss"})),
            "导师（申请人选定）"
        );
    }

    #[test]
    fn labels_wrap_onto_two_lines() {
        assert_eq!(wrap("请假天数 ≤ 3", 12.0, 132.0, 2), vec!["请假天数 ≤ 3"]);
        let two = wrap("住宿安排为校外宾馆或不在校住宿", 12.0, 132.0, 2);
        assert_eq!(
            two,
            vec!["住宿安排为校外宾", "馆或不在校住宿"],
            "even lines"
        );
        let cut = wrap(&"超过三十天".repeat(8), 12.0, 132.0, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].ends_with('…') && width(&cut[1], 12.0) <= 132.0);
        assert_eq!(
            wrap("经费 > 50000元 或 天数 > 30", 12.0, 96.0, 2),
            vec!["经费 > 50000元", "或 天数 > 30"],
            "numbers stay whole"
        );
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(
            fit("学院副书记审批", 14.0, 200.0),
            ("学院副书记审批".into(), false)
        );
        let (s, cut) = fit("一二三四五六七八九十一二三四五六七八九十", 14.0, 100.0);
        assert!(cut && s.ends_with('…'));
        assert!(width(&s, 14.0) <= 100.0);
    }
}
