//! Catalog vocabulary: audiences, kinds, search columns (pinyin), start permissions.

use pinyin::ToPinyin;
use sqlx::PgPool;

use crate::web::user::CurrentUser;

/// 服务对象 codes and labels, in display order.
pub const AUDIENCES: &[(&str, &str)] = &[
    ("student", "学生"),
    ("staff", "教职工"),
    ("alumni", "校友"),
    ("visitor", "访客"),
];

pub fn audience_label(code: &str) -> &'static str {
    AUDIENCES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
        .unwrap_or("其他")
}

/// The audience a viewer belongs to, for 推荐服务 and 推荐系统.
pub fn viewer_audience(user: Option<&CurrentUser>) -> &'static str {
    match user.map(|u| u.user_type.as_str()) {
        None => "visitor",
        Some("student") => "student",
        Some(_) => "staff",
    }
}

pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "online" => "在线办理",
        "external" => "系统办理",
        _ => "线下办理",
    }
}

pub fn user_type_plural(t: &str) -> &'static str {
    match t {
        "student" => "学生",
        "teacher" => "教师",
        "staff" => "职工",
        _ => "其他人员",
    }
}

/// Search columns computed when a service is saved.
#[derive(Debug, PartialEq, Eq)]
pub struct SearchColumns {
    pub pinyin_full: String,
    pub pinyin_initials: String,
    pub initial: String,
    pub search_doc: String,
    pub search_grams: Vec<String>,
}

/// Every character and every adjacent pair within each word of `text` (words are split
/// at whitespace and `|`), deduplicated and sorted.
pub fn grams(text: &str) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for word in text.split(|c: char| c.is_whitespace() || c == '|') {
        let chars: Vec<char> = word.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            out.insert(c.to_string());
            if let Some(d) = chars.get(i + 1) {
                out.insert(format!("{c}{d}"));
            }
        }
    }
    out.into_iter().collect()
}

/// The grams a row must contain to match `term`: its pairs, or the character itself.
pub fn query_grams(term: &str) -> Vec<String> {
    let chars: Vec<char> = term.chars().collect();
    if chars.len() == 1 {
        return vec![term.to_owned()];
    }
    let mut out: Vec<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
    out.sort();
    out.dedup();
    out
}

/// `工作周报` → `gongzuozhoubao` / `gzzb` / `G`; ASCII letters and digits are kept as
/// they are (lower-case), so `VPN 账号申请` → `vpnzhanghaoshenqing` / `vpnzhsq` / `V`.
pub fn search_columns(
    name: &str,
    tags: &[String],
    summary: &str,
    department: &str,
) -> SearchColumns {
    let mut full = String::new();
    let mut initials = String::new();
    for ch in name.chars() {
        if let Some(p) = ch.to_pinyin() {
            full.push_str(p.plain());
            initials.push_str(p.first_letter());
        } else if ch.is_ascii_alphanumeric() {
            let c = ch.to_ascii_lowercase();
            full.push(c);
            initials.push(c);
        }
    }
    let initial = full
        .chars()
        .next()
        .filter(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_uppercase().to_string())
        .unwrap_or_else(|| "#".into());
    let search_doc = [
        name.to_lowercase(),
        tags.join(" ").to_lowercase(),
        summary.to_lowercase(),
        department.to_lowercase(),
        full.clone(),
        initials.clone(),
    ]
    .join(" | ");
    let search_grams = grams(&search_doc);
    SearchColumns {
        pinyin_full: full,
        pinyin_initials: initials,
        initial,
        search_doc,
        search_grams,
    }
}

/// Who may start a service: each non-empty list must match.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct StartRule {
    pub start_user_types: Vec<String>,
    pub start_department_ids: Vec<i64>,
    pub start_roles: Vec<String>,
}

impl StartRule {
    pub fn is_open(&self) -> bool {
        self.start_user_types.is_empty()
            && self.start_department_ids.is_empty()
            && self.start_roles.is_empty()
    }
}

/// Why `user` may not start a service under `rule`, or `None` when they may.
pub async fn start_refusal(
    db: &PgPool,
    rule: &StartRule,
    user: &CurrentUser,
) -> sqlx::Result<Option<String>> {
    if let Some(refusal) = type_refusal(rule, &user.user_type) {
        return Ok(Some(refusal));
    }
    if !rule.start_department_ids.is_empty() {
        let inside: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND u.department_id IS NOT NULL
                 AND EXISTS (SELECT 1 FROM dept_ancestors(u.department_id) a WHERE a = ANY($2)))",
        )
        .bind(user.id)
        .bind(&rule.start_department_ids)
        .fetch_one(db)
        .await?;
        if !inside {
            let names = department_names(db, &rule.start_department_ids).await?;
            return Ok(Some(format!("该服务仅限{}人员发起。", names.join("、"))));
        }
    }
    if !rule.start_roles.is_empty() {
        let holds: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                 WHERE ur.user_id = $1 AND r.code = ANY($2))",
        )
        .bind(user.id)
        .bind(&rule.start_roles)
        .fetch_one(db)
        .await?;
        if !holds {
            let names = role_names(db, &rule.start_roles).await?;
            return Ok(Some(format!("该服务仅限{}发起。", names.join("、"))));
        }
    }
    Ok(None)
}

/// Why a person of `user_type` (student / teacher / staff) may not start a service under
/// `rule`, judged on the type alone: the first check of `start_refusal`.
pub fn type_refusal(rule: &StartRule, user_type: &str) -> Option<String> {
    (!rule.start_user_types.is_empty() && !rule.start_user_types.iter().any(|t| t == user_type))
        .then(|| {
            format!(
                "该服务仅限{}发起。",
                user_types_text(&rule.start_user_types)
            )
        })
}

fn user_types_text(types: &[String]) -> String {
    // 教师 + 职工 read better as 教职工.
    let has = |t: &str| types.iter().any(|x| x == t);
    let mut parts = Vec::new();
    if has("student") {
        parts.push("学生");
    }
    match (has("teacher"), has("staff")) {
        (true, true) => parts.push("教职工"),
        (true, false) => parts.push("教师"),
        (false, true) => parts.push("职工"),
        _ => {}
    }
    parts.join("、")
}

async fn department_names(db: &PgPool, ids: &[i64]) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT name FROM departments WHERE id = ANY($1) ORDER BY sort_order, id")
        .bind(ids)
        .fetch_all(db)
        .await
}

async fn role_names(db: &PgPool, codes: &[String]) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT name FROM roles WHERE code = ANY($1) ORDER BY id")
        .bind(codes)
        .fetch_all(db)
        .await
}

/// "教职工；计算机学院（含下属单位）；辅导员" — who may start, for the guide and the
/// refusal page. "所有登录用户" when unrestricted.
pub async fn who_may_start(db: &PgPool, rule: &StartRule) -> sqlx::Result<String> {
    if rule.is_open() {
        return Ok("所有登录用户".into());
    }
    let mut parts = Vec::new();
    if !rule.start_user_types.is_empty() {
        parts.push(user_types_text(&rule.start_user_types));
    }
    if !rule.start_department_ids.is_empty() {
        parts.push(format!(
            "{}（含下属单位）",
            department_names(db, &rule.start_department_ids)
                .await?
                .join("、")
        ));
    }
    if !rule.start_roles.is_empty() {
        parts.push(role_names(db, &rule.start_roles).await?.join("、"));
    }
    Ok(parts.join("；"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinyin_columns() {
        let c = search_columns("工作周报", &["周报".into()], "每周工作汇报", "党政办公室");
        assert_eq!(c.pinyin_full, "gongzuozhoubao");
        assert_eq!(c.pinyin_initials, "gzzb");
        assert_eq!(c.initial, "G");
        assert!(c.search_doc.contains("gongzuozhoubao") && c.search_doc.contains("党政办公室"));
        let v = search_columns("VPN 账号申请", &[], "", "");
        assert_eq!(v.pinyin_full, "vpnzhanghaoshenqing");
        assert_eq!(v.pinyin_initials, "vpnzhsq");
        assert_eq!(v.initial, "V");
        assert_eq!(search_columns("（测试）", &[], "", "").initial, "C");
        assert_eq!(search_columns("123", &[], "", "").initial, "#");
        assert!(
            c.search_grams.contains(&"周报".to_owned())
                && c.search_grams.contains(&"gz".to_owned())
        );
        assert_eq!(query_grams("请假"), vec!["请假"]);
        assert_eq!(query_grams("gzzb"), vec!["gz", "zb", "zz"]);
        assert_eq!(query_grams("请"), vec!["请"]);
    }

    #[test]
    fn user_type_wording() {
        assert_eq!(
            user_types_text(&["teacher".into(), "staff".into()]),
            "教职工"
        );
        assert_eq!(user_types_text(&["student".into()]), "学生");
    }
}
