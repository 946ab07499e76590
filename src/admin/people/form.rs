//! The person form (添加人员 and the person page's 基本信息): what was typed, kept as typed,
//! and its check into a profile, field by field.

use serde::Deserialize;

use super::KINDS;
use crate::{identity::idcard, org::directory::Profile};

#[derive(Deserialize, Default, Clone, Debug)]
pub struct PersonInput {
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub user_type: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    /// Blank on an edit: the number on file stays.
    #[serde(default)]
    pub id_card: String,
}

/// Problems by field name.
pub type Errors = Vec<(&'static str, String)>;

pub fn err<'a>(errors: &'a Errors, field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, m)| m.as_str())
}

/// Checks the input against the departments that may be chosen (`depts`); the profile and
/// the ID-card number (normalised) if one was typed.
pub fn check(
    input: &PersonInput,
    depts: &[(i64, String)],
) -> Result<(Profile, Option<String>), Errors> {
    let mut e: Errors = Vec::new();
    let account = input.account.trim();
    if account.is_empty() {
        e.push(("account", "请填写学号/工号。".into()));
    } else if account.len() > 32
        || !account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        e.push((
            "account",
            "学号/工号为 1–32 位英文字母、数字、- 或 _。".into(),
        ));
    }
    let name = input.name.trim();
    if name.is_empty() {
        e.push(("name", "请填写姓名。".into()));
    } else if name.chars().count() > 50 || name.chars().any(char::is_control) {
        e.push(("name", "姓名不超过 50 个字。".into()));
    }
    if !KINDS.iter().any(|(k, _)| *k == input.user_type) {
        e.push(("user_type", "请选择类型。".into()));
    }
    let dept = input.department.parse::<i64>().ok();
    if !dept.is_some_and(|d| depts.iter().any(|(id, _)| *id == d)) {
        e.push(("department", "请选择一个启用中的部门。".into()));
    }
    let phone = input.phone.trim();
    let phone_ok =
        phone.len() == 11 && phone.starts_with('1') && phone.chars().all(|c| c.is_ascii_digit());
    if !phone.is_empty() && !phone_ok {
        e.push(("phone", "手机号应为 11 位数字，以 1 开头。".into()));
    }
    let email = input.email.trim();
    if !email.is_empty() {
        let ok = email.len() <= 100
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email
                .split_once('@')
                .is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !d.contains('@'));
        if !ok {
            e.push(("email", "请填写有效的邮箱地址。".into()));
        }
    }
    let id = idcard::normalize(&input.id_card);
    if !id.is_empty() && !idcard::is_valid(&id) {
        e.push((
            "id_card",
            "证件号应为 18 位居民身份证号，校验位须正确。".into(),
        ));
    }
    if !e.is_empty() {
        return Err(e);
    }
    Ok((
        Profile {
            account: account.to_owned(),
            name: name.to_owned(),
            user_type: input.user_type.clone(),
            department_id: dept.unwrap_or_default(),
            phone: (!phone.is_empty()).then(|| phone.to_owned()),
            email: (!email.is_empty()).then(|| email.to_owned()),
        },
        (!id.is_empty()).then_some(id),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PersonInput {
        PersonInput {
            account: "T9001".into(),
            name: "王五".into(),
            user_type: "teacher".into(),
            department: "2".into(),
            phone: "13800138000".into(),
            email: "w@demo.edu.cn".into(),
            id_card: "11010519491231002x".into(),
        }
    }

    #[test]
    fn a_good_person_passes_and_each_bad_field_is_named() {
        let depts = vec![(2, "计算机学院".to_owned())];
        let (p, id) = check(&input(), &depts).unwrap();
        assert_eq!(p.department_id, 2);
        assert_eq!(id.as_deref(), Some("11010519491231002X"));
        for (field, value) in [
            ("account", "a b"),
            ("name", ""),
            ("user_type", "alien"),
            ("department", "3"),
            ("phone", "12345"),
            ("email", "nobody"),
            ("id_card", "110105194912310021"),
        ] {
            let mut i = input();
            match field {
                "account" => i.account = value.into(),
                "name" => i.name = value.into(),
                "user_type" => i.user_type = value.into(),
                "department" => i.department = value.into(),
                "phone" => i.phone = value.into(),
                "email" => i.email = value.into(),
                _ => i.id_card = value.into(),
            }
            let e = check(&i, &depts).unwrap_err();
            assert_eq!(e.len(), 1, "{field}");
            assert_eq!(e[0].0, field);
        }
    }
}
