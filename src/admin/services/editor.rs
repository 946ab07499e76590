//! The service editor's input: what was posted, kept exactly as typed (less NUL
//! characters, which PostgreSQL cannot store), and its checks. Pure: the lists to choose
//! from come in as `Choices`, the database checks (code taken, stale page) are the
//! handler's.

use std::collections::BTreeMap;

use crate::catalog::{model::AUDIENCES, store::NewService};

/// The 办事指南 sections: posted key (the column) and label, in the guide's order.
pub const SECTIONS: [(&str, &str); 7] = [
    ("conditions", "办理条件"),
    ("materials", "所需材料"),
    ("process", "办理流程"),
    ("time_limit", "办理时限"),
    ("location", "办理地点"),
    ("phone", "咨询电话"),
    ("faq", "常见问题"),
];

/// 办理方式: kind and label.
pub const KINDS: [(&str, &str); 3] = [
    ("online", "在线办理"),
    ("guide", "线下办理"),
    ("external", "业务系统办理"),
];

/// Who may start: user types.
pub const START_TYPES: [(&str, &str); 3] =
    [("student", "学生"), ("teacher", "教师"), ("staff", "职工")];

/// 推荐服务 is shown to these viewers.
pub const RECOMMEND_FOR: [(&str, &str); 3] = [
    ("student", "学生"),
    ("staff", "教职工"),
    ("visitor", "访客"),
];

pub const NAME_MAX: usize = 100;
pub const SUMMARY_MAX: usize = 500;
pub const SECTION_MAX: usize = 20_000;
pub const URL_MAX: usize = 500;
pub const TAGS_MAX: usize = 10;
pub const TAG_MAX: usize = 20;

/// The message for a field that held NUL characters (removed from what is shown back).
pub const NUL: &str = "含有无效字符（空字符），已删除，请检查后重新保存";

/// What the form posted, as typed.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pairs: Vec<(String, String)>,
    /// Fields that held NUL characters.
    nul: Vec<String>,
}

impl Input {
    /// The posted pairs; NUL characters are taken out and remembered per field.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Input {
        let mut nul = Vec::new();
        let pairs = pairs
            .into_iter()
            .filter(|(k, _)| k != "_csrf")
            .map(|(k, v)| {
                let k: String = k.chars().filter(|c| *c != '\0').take(64).collect();
                if v.contains('\0') {
                    nul.push(k.clone());
                    (k, v.replace('\0', ""))
                } else {
                    (k, v)
                }
            })
            .collect();
        Input { pairs, nul }
    }

    /// The form filled in from a stored service.
    pub fn from_service(s: &NewService, stamp: Option<i64>) -> Input {
        let mut p: Vec<(String, String)> = vec![
            ("name".into(), s.name.clone()),
            ("code".into(), s.code.clone()),
            ("category".into(), s.category_id.to_string()),
            ("department".into(), s.department_id.to_string()),
            ("kind".into(), s.kind.clone()),
            (
                "external_url".into(),
                s.external_url.clone().unwrap_or_default(),
            ),
            ("summary".into(), s.summary.clone()),
            ("tags".into(), s.tags.join(" ")),
            ("recommend_order".into(), s.recommend_order.to_string()),
        ];
        for (key, _) in SECTIONS {
            p.push((key.into(), section(s, key).to_owned()));
        }
        let many = |p: &mut Vec<(String, String)>, key: &str, values: &[String]| {
            p.extend(values.iter().map(|v| (key.to_owned(), v.clone())));
        };
        many(&mut p, "audiences", &s.audiences);
        many(&mut p, "start_user_types", &s.start_user_types);
        let depts: Vec<String> = s
            .start_department_ids
            .iter()
            .map(|d| d.to_string())
            .collect();
        many(&mut p, "start_departments", &depts);
        many(&mut p, "start_roles", &s.start_roles);
        many(&mut p, "recommend_for", &s.recommend_for);
        if let Some(stamp) = stamp {
            p.push(("stamp".into(), stamp.to_string()));
        }
        Input {
            pairs: p,
            nul: Vec::new(),
        }
    }

    /// The first value of `key`, or "".
    pub fn v(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of `key` (check boxes).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn checked(&self, key: &str, value: &str) -> bool {
        self.pairs.iter().any(|(k, v)| k == key && v == value)
    }

    /// `checked` for a numeric value (a department id).
    pub fn checked_id(&self, key: &str, id: &i64) -> bool {
        self.checked(key, &id.to_string())
    }

    /// The chosen option of a select.
    pub fn selected(&self, key: &str, id: &i64) -> bool {
        self.v(key) == id.to_string()
    }

    /// The page's stamp of the stored service (its `updated_at` in microseconds).
    pub fn stamp(&self) -> Option<i64> {
        self.v("stamp").trim().parse().ok()
    }

    pub fn set(&mut self, key: &str, value: String) {
        self.pairs.retain(|(k, _)| k != key);
        self.pairs.push((key.to_owned(), value));
    }
}

fn section<'a>(s: &'a NewService, key: &str) -> &'a str {
    match key {
        "conditions" => &s.conditions,
        "materials" => &s.materials,
        "process" => &s.process,
        "time_limit" => &s.time_limit,
        "location" => &s.location,
        "phone" => &s.phone,
        _ => &s.faq,
    }
}

fn section_mut<'a>(s: &'a mut NewService, key: &str) -> &'a mut String {
    match key {
        "conditions" => &mut s.conditions,
        "materials" => &mut s.materials,
        "process" => &mut s.process,
        "time_limit" => &mut s.time_limit,
        "location" => &mut s.location,
        "phone" => &mut s.phone,
        _ => &mut s.faq,
    }
}

/// Messages per field (the posted key), shown next to it.
#[derive(Debug, Clone, Default)]
pub struct Errors(pub BTreeMap<String, String>);

impl Errors {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn add(&mut self, key: &str, message: impl Into<String>) {
        self.0
            .entry(key.to_owned())
            .or_insert_with(|| message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// What may be chosen, as this person may choose it.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    pub categories: Vec<(i64, String)>,
    /// Departments the service may be put in (the person's scope, and its current one).
    pub departments: Vec<(i64, String)>,
    /// Every department, for who may start it.
    pub all_departments: Vec<(i64, String)>,
    /// Roles: (code, name).
    pub roles: Vec<(String, String)>,
    /// Retired departments: refused for anything new, with a message saying so.
    pub retired: Vec<(i64, String)>,
}

impl Choices {
    fn retired(&self, id: i64) -> Option<&str> {
        self.retired
            .iter()
            .find(|(d, _)| *d == id)
            .map(|(_, n)| n.as_str())
    }
}

fn too_long(e: &mut Errors, key: &str, label: &str, text: &str, max: usize) {
    let n = text.chars().count();
    if n > max {
        e.add(key, format!("{label}最多 {max} 个字（现有 {n} 个）"));
    }
}

/// Whether `code` may be a service code (it goes into every 流水号).
pub fn code_ok(code: &str) -> bool {
    let b = code.as_bytes();
    (2..=16).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// An `http(s)://` address with a host.
pub fn url_ok(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|p| {
        (p.scheme() == "http" || p.scheme() == "https")
            && p.host_str().is_some_and(|h| !h.is_empty())
    }) && (u.starts_with("http://") || u.starts_with("https://"))
}

/// Keywords typed as one line: split at spaces and commas (also Chinese ones).
pub fn split_tags(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in text.split(|c: char| c.is_whitespace() || ",，、;；".contains(c)) {
        let t = t.trim();
        if !t.is_empty() && !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    out
}

/// The service the input describes, or the messages per field. `creating`: the code is
/// taken from the input (an edit keeps the stored one).
pub fn validate(input: &Input, choices: &Choices, creating: bool) -> Result<NewService, Errors> {
    let mut e = Errors::default();
    for k in &input.nul {
        e.add(k, NUL);
    }
    let mut s = NewService {
        status: "draft".into(),
        ..NewService::default()
    };

    let name = input.v("name").trim();
    if name.is_empty() {
        e.add("name", "请填写服务名称");
    }
    too_long(&mut e, "name", "服务名称", name, NAME_MAX);
    s.name = name.to_owned();

    if creating {
        let code = input.v("code").trim();
        if code.is_empty() {
            e.add("code", "请填写服务编码");
        } else if !code_ok(code) {
            e.add(
                "code",
                "服务编码须以大写英文字母开头，由 2–16 位大写英文字母或数字组成，如 XSQJ",
            );
        }
        s.code = code.to_owned();
    }

    match input.v("category").trim().parse::<i64>() {
        Ok(id) if choices.categories.iter().any(|(c, _)| *c == id) => s.category_id = id,
        _ => e.add("category", "请选择服务类别"),
    }
    let dept = input.v("department").trim();
    match dept.parse::<i64>() {
        Ok(id) if choices.departments.iter().any(|(d, _)| *d == id) => s.department_id = id,
        Ok(id) => match choices.retired(id) {
            Some(name) => e.add(
                "department",
                format!("部门“{name}”已停用，请选择启用中的部门"),
            ),
            None => e.add("department", "只能选择您管理范围内的部门"),
        },
        Err(_) => e.add("department", "请选择服务部门"),
    }

    for a in input.all("audiences") {
        if AUDIENCES.iter().any(|(c, _)| *c == a) {
            if !s.audiences.iter().any(|x| x == a) {
                s.audiences.push(a.to_owned());
            }
        } else {
            e.add("audiences", "服务对象有误，请重新选择");
        }
    }
    if s.audiences.is_empty() {
        e.add("audiences", "请至少选择一个服务对象");
    }
    // In the order the page lists them.
    s.audiences
        .sort_by_key(|a| AUDIENCES.iter().position(|(c, _)| c == a));

    let kind = input.v("kind");
    match KINDS.iter().find(|(k, _)| *k == kind) {
        Some((k, _)) => s.kind = (*k).to_owned(),
        None => e.add("kind", "请选择办理方式"),
    }
    let url = input.v("external_url").trim();
    if s.kind == "external" {
        if url.is_empty() {
            e.add("external_url", "业务系统办理须填写业务系统地址");
        } else if url.chars().count() > URL_MAX {
            too_long(&mut e, "external_url", "业务系统地址", url, URL_MAX);
        } else if !url_ok(url) {
            e.add(
                "external_url",
                "请填写以 http:// 或 https:// 开头的完整地址",
            );
        } else {
            s.external_url = Some(url.to_owned());
        }
    }

    let summary = input.v("summary").trim();
    too_long(&mut e, "summary", "服务简介", summary, SUMMARY_MAX);
    s.summary = summary.to_owned();

    let tags_text = input.v("tags");
    if tags_text.chars().count() > TAGS_MAX * (TAG_MAX + 1) {
        e.add(
            "tags",
            format!("关键词最多 {TAGS_MAX} 个，每个不超过 {TAG_MAX} 个字"),
        );
    } else {
        let tags = split_tags(tags_text);
        if tags.len() > TAGS_MAX {
            e.add(
                "tags",
                format!("关键词最多 {TAGS_MAX} 个（现有 {} 个）", tags.len()),
            );
        } else if let Some(t) = tags.iter().find(|t| t.chars().count() > TAG_MAX) {
            e.add(
                "tags",
                format!("关键词“{t}”太长，每个不超过 {TAG_MAX} 个字"),
            );
        }
        s.tags = tags;
    }

    for (key, label) in SECTIONS {
        let text = input.v(key);
        too_long(&mut e, key, label, text, SECTION_MAX);
        // Trailing blanks only: leading spaces may be Markdown (an indented block).
        *section_mut(&mut s, key) = text.trim_end().replace("\r\n", "\n");
    }

    for t in input.all("start_user_types") {
        if !START_TYPES.iter().any(|(c, _)| *c == t) {
            e.add("start_user_types", "可发起人员的身份有误，请重新选择");
        } else if !s.start_user_types.iter().any(|x| x == t) {
            s.start_user_types.push(t.to_owned());
        }
    }
    for d in input.all("start_departments") {
        match d.parse::<i64>() {
            Ok(id) if choices.all_departments.iter().any(|(x, _)| *x == id) => {
                if !s.start_department_ids.contains(&id) {
                    s.start_department_ids.push(id);
                }
            }
            Ok(id) if choices.retired(id).is_some() => e.add(
                "start_departments",
                format!(
                    "部门“{}”已停用，请选择启用中的部门",
                    choices.retired(id).unwrap_or_default()
                ),
            ),
            _ => e.add("start_departments", "可发起部门有误，请重新选择"),
        }
    }
    for r in input.all("start_roles") {
        if !choices.roles.iter().any(|(c, _)| c == r) {
            e.add("start_roles", "可发起角色有误，请重新选择");
        } else if !s.start_roles.iter().any(|x| x == r) {
            s.start_roles.push(r.to_owned());
        }
    }

    for v in input.all("recommend_for") {
        if !RECOMMEND_FOR.iter().any(|(c, _)| *c == v) {
            e.add("recommend_for", "推荐对象有误，请重新选择");
        } else if !s.recommend_for.iter().any(|x| x == v) {
            s.recommend_for.push(v.to_owned());
        }
    }
    let order = input.v("recommend_order").trim();
    if order.is_empty() {
        s.recommend_order = 0;
    } else {
        match order.parse::<i32>() {
            Ok(n) if (0..=9999).contains(&n) => s.recommend_order = n,
            _ => e.add("recommend_order", "推荐顺序请填写 0–9999 的整数"),
        }
    }

    if e.is_empty() { Ok(s) } else { Err(e) }
}

/// The names of the fields that differ between two versions of a service (for the
/// audit log).
pub fn changed(old: &NewService, new: &NewService) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, same: bool| {
        if !same {
            out.push(name);
        }
    };
    check("name", old.name == new.name);
    check("category", old.category_id == new.category_id);
    check("department", old.department_id == new.department_id);
    check("audiences", old.audiences == new.audiences);
    check("kind", old.kind == new.kind);
    check("external_url", old.external_url == new.external_url);
    check("summary", old.summary == new.summary);
    check("tags", old.tags == new.tags);
    for (key, _) in SECTIONS {
        check(key, section(old, key) == section(new, key));
    }
    check(
        "start_user_types",
        old.start_user_types == new.start_user_types,
    );
    check(
        "start_departments",
        old.start_department_ids == new.start_department_ids,
    );
    check("start_roles", old.start_roles == new.start_roles);
    check("recommend_for", old.recommend_for == new.recommend_for);
    check(
        "recommend_order",
        old.recommend_order == new.recommend_order,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choices() -> Choices {
        Choices {
            categories: vec![(1, "教学教务".into())],
            departments: vec![(10, "教务处".into())],
            all_departments: vec![(10, "教务处".into()), (20, "计算机学院".into())],
            retired: vec![(30, "旧系（已停用）".into())],
            roles: vec![("counselor".into(), "辅导员".into())],
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Input {
        Input::from_pairs(
            list.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("name", " 成绩单打印 "),
            ("code", "CJDY2"),
            ("category", "1"),
            ("department", "10"),
            ("audiences", "staff"),
            ("audiences", "student"),
            ("kind", "external"),
            ("external_url", "https://jw.demo.edu.cn/print"),
            ("tags", "成绩，打印 成绩"),
            ("materials", "1. 校园卡\r\n2. 身份证\n\n"),
            ("start_user_types", "student"),
            ("start_departments", "20"),
            ("start_roles", "counselor"),
            ("recommend_for", "student"),
            ("recommend_order", "3"),
        ]
    }

    #[test]
    fn a_complete_form_becomes_a_service() {
        let s = validate(&pairs(&good()), &choices(), true).unwrap();
        assert_eq!(s.name, "成绩单打印");
        assert_eq!(s.code, "CJDY2");
        assert_eq!(s.audiences, vec!["student", "staff"]);
        assert_eq!(s.tags, vec!["成绩", "打印"]);
        assert_eq!(s.materials, "1. 校园卡\n2. 身份证");
        assert_eq!(
            s.external_url.as_deref(),
            Some("https://jw.demo.edu.cn/print")
        );
        assert_eq!(s.start_department_ids, vec![20]);
        assert_eq!(s.recommend_order, 3);
        assert_eq!(s.status, "draft");
    }

    #[test]
    fn each_field_says_what_is_wrong() {
        let mut bad = good();
        let long = "长".repeat(NAME_MAX + 1);
        let section = "x".repeat(SECTION_MAX + 1);
        for (k, v) in bad.iter_mut() {
            match *k {
                "name" => *v = Box::leak(long.clone().into_boxed_str()),
                "code" => *v = "xs-qj",
                "category" => *v = "99",
                "department" => *v = "20",
                "audiences" => *v = "martian",
                "external_url" => *v = "javascript:alert(1)",
                "materials" => *v = Box::leak(section.clone().into_boxed_str()),
                "start_departments" => *v = "abc",
                "start_roles" => *v = "king",
                "recommend_order" => *v = "-1",
                _ => {}
            }
        }
        let e = validate(&pairs(&bad), &choices(), true).unwrap_err();
        for key in [
            "name",
            "code",
            "category",
            "department",
            "audiences",
            "external_url",
            "materials",
            "start_departments",
            "start_roles",
            "recommend_order",
        ] {
            assert!(e.get(key).is_some(), "{key}: {e:?}");
        }
        assert!(e.get("name").unwrap().contains("100"));
        assert!(e.get("department").unwrap().contains("管理范围"));
    }

    #[test]
    fn nul_characters_are_removed_and_named() {
        let mut list = good();
        list.push(("summary", "简\0介"));
        let input = pairs(&list);
        assert_eq!(input.v("summary"), "简介");
        let e = validate(&input, &choices(), true).unwrap_err();
        assert_eq!(e.get("summary"), Some(NUL));
    }

    #[test]
    fn codes_and_addresses() {
        assert!(code_ok("XSQJ") && code_ok("A1") && code_ok("ABCDEFGHIJKLMNOP"));
        assert!(
            !code_ok("A") && !code_ok("1A") && !code_ok("xsqj") && !code_ok("ABCDEFGHIJKLMNOPQ")
        );
        assert!(!code_ok("学生"));
        assert!(url_ok("http://a.edu.cn/x?y=1") && url_ok("https://a"));
        assert!(!url_ok("javascript:alert(1)") && !url_ok("ftp://a") && !url_ok("https://"));
    }

    #[test]
    fn the_audit_names_what_changed() {
        let a = validate(&pairs(&good()), &choices(), true).unwrap();
        let mut b = a.clone();
        b.name = "新名称".into();
        b.faq = "问：？".into();
        assert_eq!(changed(&a, &b), vec!["name", "faq"]);
        assert!(changed(&a, &a).is_empty());
    }
}
