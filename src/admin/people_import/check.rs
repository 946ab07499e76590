//! The rows of a people file, checked one by one and against each other (no database):
//! each becomes an `org::import::Person` or a refusal with its reasons.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::parse::Table;
use crate::{identity::idcard, org::import::Person, secret::SecretKey};

/// A refused row, shown on the page and in the CSV of refused rows.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Refused {
    pub row: u32,
    pub account: String,
    pub name: String,
    pub reasons: Vec<String>,
}

pub struct Checked {
    pub people: Vec<Person>,
    pub refused: Vec<Refused>,
}

const COLUMNS: [(&str, &[&str]); 8] = [
    ("account", &["学号/工号", "学号", "工号", "账号"]),
    ("name", &["姓名"]),
    ("type", &["类型", "人员类型"]),
    ("dept", &["部门", "院系", "单位"]),
    ("phone", &["手机", "手机号"]),
    ("email", &["邮箱", "电子邮箱"]),
    ("id", &["证件号", "身份证号"]),
    ("roles", &["角色"]),
];

/// Where each known column is; the required ones must be there.
fn columns(header: &[String]) -> Result<HashMap<&'static str, usize>, String> {
    let mut at = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        if let Some((key, _)) = COLUMNS
            .iter()
            .find(|(_, names)| names.contains(&h.as_str()))
        {
            at.entry(*key).or_insert(i);
        }
    }
    let missing: Vec<&str> = [
        ("account", "学号/工号"),
        ("name", "姓名"),
        ("type", "类型"),
        ("dept", "部门"),
    ]
    .iter()
    .filter(|(k, _)| !at.contains_key(k))
    .map(|(_, n)| *n)
    .collect();
    if missing.is_empty() {
        Ok(at)
    } else {
        Err(format!(
            "表头缺少列：{}（第一行应为：学号/工号, 姓名, 类型, 部门, 手机, 邮箱, 证件号, 角色）",
            missing.join("、")
        ))
    }
}

fn user_type(s: &str) -> Option<&'static str> {
    match s {
        "学生" | "student" => Some("student"),
        "教师" | "teacher" => Some("teacher"),
        "职工" | "staff" => Some("staff"),
        _ => None,
    }
}

fn phone_ok(p: &str) -> bool {
    p.len() == 11 && p.starts_with('1') && p.bytes().all(|b| b.is_ascii_digit())
}

fn email_ok(e: &str) -> bool {
    e.len() <= 100
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@').is_some_and(|(u, d)| {
            !u.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
}

pub fn check(
    table: &Table,
    depts: &HashMap<String, i64>,
    roles: &HashMap<String, i64>,
    key: &SecretKey,
) -> Result<Checked, String> {
    let at = columns(&table.header)?;
    let mut out = Checked {
        people: Vec::new(),
        refused: Vec::new(),
    };
    let (mut accounts, mut phones, mut ids) = (HashSet::new(), HashSet::new(), HashSet::new());
    for (row, cells) in &table.rows {
        let get = |k: &str| -> String {
            at.get(k)
                .and_then(|&i| cells.get(i))
                .map(|c| c.trim().to_owned())
                .unwrap_or_default()
        };
        let (account, name) = (get("account"), get("name"));
        let mut reasons = Vec::new();
        if account.is_empty() {
            reasons.push("学号/工号为空".to_owned());
        } else if account.chars().count() > 32
            || !account
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            reasons.push("学号/工号只能由字母、数字、-、_ 组成（最多 32 位）".to_owned());
        } else if !accounts.insert(account.clone()) {
            reasons.push("学号/工号在文件中重复".to_owned());
        }
        if name.is_empty() {
            reasons.push("姓名为空".to_owned());
        } else if name.chars().count() > 50 || name.chars().any(char::is_control) {
            reasons.push("姓名过长（最多 50 字）".to_owned());
        }
        let t = get("type");
        let user_type = user_type(&t);
        if user_type.is_none() {
            reasons.push(format!("类型“{t}”无效（应为 学生、教师 或 职工）"));
        }
        let d = get("dept");
        let department_id = depts.get(&d).copied();
        if department_id.is_none() {
            reasons.push(if d.is_empty() {
                "部门为空".to_owned()
            } else {
                format!("部门“{d}”不存在")
            });
        }
        let phone = get("phone");
        if !phone.is_empty() {
            if !phone_ok(&phone) {
                reasons.push(format!("手机号“{phone}”格式有误（11 位，以 1 开头）"));
            } else if !phones.insert(phone.clone()) {
                reasons.push("手机号在文件中重复".to_owned());
            }
        }
        let email = get("email");
        if !email.is_empty() && !email_ok(&email) {
            reasons.push("邮箱格式有误".to_owned());
        }
        let id = idcard::normalize(&get("id"));
        if !id.is_empty() {
            if !idcard::is_valid(&id) {
                // The number itself is not repeated: it goes nowhere but the hash.
                reasons.push("证件号无效（位数或校验位有误）".to_owned());
            } else if !ids.insert(id.clone()) {
                reasons.push("证件号在文件中重复".to_owned());
            }
        }
        let mut grants = Vec::new();
        for g in get("roles")
            .split([';', '；', ',', '，'])
            .map(str::trim)
            .filter(|g| !g.is_empty())
        {
            let (r, scope) = match g.split_once('@') {
                Some((r, s)) => (r.trim(), Some(s.trim())),
                None => (g, None),
            };
            let Some(&role_id) = roles.get(r) else {
                reasons.push(format!("角色“{r}”不存在"));
                continue;
            };
            let scope_id = match scope {
                None => None,
                Some(s) => match depts.get(s) {
                    Some(&id) => Some(id),
                    None => {
                        reasons.push(format!("角色“{g}”的部门“{s}”不存在"));
                        continue;
                    }
                },
            };
            if !grants.contains(&(role_id, scope_id)) {
                grants.push((role_id, scope_id));
            }
        }
        if !reasons.is_empty() {
            out.refused.push(Refused {
                row: *row,
                account,
                name,
                reasons,
            });
            continue;
        }
        let valid_id = (!id.is_empty()).then_some(id);
        out.people.push(Person {
            row: *row,
            account,
            name,
            user_type: user_type.unwrap_or_default().to_owned(),
            department_id: department_id.unwrap_or_default(),
            phone: (!phone.is_empty()).then_some(phone),
            email: (!email.is_empty()).then_some(email),
            id_hash: valid_id
                .as_deref()
                .map(|i| hex::encode(idcard::hash(key, i))),
            id_masked: valid_id.as_deref().map(idcard::mask),
            id_sealed: valid_id
                .as_deref()
                .map(|i| hex::encode(idcard::seal(key, i))),
            roles: grants,
        });
    }
    Ok(out)
}
