use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{render::parse_post, *};

fn schema() -> FormSchema {
    let s: FormSchema = serde_json::from_value(json!({"fields": [
        {"key": "name", "type": "text", "label": "姓名", "autofill": "name", "locked": true},
        {"key": "reason", "type": "textarea", "label": "事由", "required": true, "max_len": 150},
        {"key": "days", "type": "number", "label": "天数", "required": true, "min": 0.5, "max": 60},
        {"key": "cost", "type": "money", "label": "费用"},
        {"key": "start", "type": "date", "label": "开始日期"},
        {"key": "at", "type": "datetime", "label": "时间"},
        {"key": "period", "type": "date_range", "label": "起止日期"},
        {"key": "kind", "type": "select", "label": "类型", "options": ["事假", "病假"]},
        {"key": "way", "type": "radio", "label": "方式", "options": ["火车", "飞机"]},
        {"key": "tags", "type": "checkboxes", "label": "标签", "options": ["A", "B"]},
        {"key": "phone", "type": "phone", "label": "手机号"},
        {"key": "email", "type": "email", "label": "电子邮箱"},
        {"key": "idno", "type": "id_card", "label": "身份证号"},
        {"key": "who", "type": "person", "label": "审批人"},
        {"key": "dept", "type": "department", "label": "部门"},
        {"key": "code", "type": "text", "label": "编号", "pattern": "[A-Z]{2}[0-9]{4}", "pattern_message": "编号须为两个大写字母加四位数字"},
        {"key": "trip", "type": "table", "label": "行程", "columns": [
            {"key": "city", "type": "text", "label": "城市", "required": true},
            {"key": "day", "type": "date", "label": "日期"}
        ]},
        {"key": "sec_hr", "type": "section", "label": "人事处意见"},
        {"key": "hr_note", "type": "textarea", "label": "意见"}
    ]})).unwrap();
    s.validate().unwrap();
    s
}

fn all_editable(s: &FormSchema) -> BTreeMap<String, FieldAccess> {
    s.access(&BTreeMap::new(), FieldAccess::Editable)
}

fn ctx() -> CheckCtx {
    CheckCtx {
        people: vec![7],
        departments: vec![3],
        choices: BTreeMap::new(),
        today: Some(chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()),
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn every_rule_reports_next_to_its_field() {
    let s = schema();
    let data = obj(json!({
        "reason": "字".repeat(151), "days": "0", "cost": "12.345", "start": "2026-02-30",
        "at": "tomorrow", "period": {"from": "2026-03-02", "to": "2026-03-01"}, "kind": "婚假",
        "way": "船", "tags": ["A", "Z"], "phone": "12345678901", "email": "a@b", "idno": "110105194912310021",
        "who": "8", "dept": "x", "code": "ab12", "trip": [{"city": "", "day": "2026-01-01"}]
    }));
    let errors = validate(&s, &all_editable(&s), &data, &ctx()).unwrap_err();
    let first = |k: &str| {
        errors
            .get(k)
            .and_then(|e| e.first())
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(first("reason"), "事由不能超过 150 个字（当前 151 个）");
    assert_eq!(first("days"), "天数不能小于 0.5");
    assert_eq!(first("cost"), "费用最多保留两位小数");
    assert_eq!(first("start"), "开始日期须为日期，如 2026-11-21");
    assert_eq!(first("at"), "时间须为日期时间");
    assert_eq!(first("period"), "起止日期的结束日期不能早于开始日期");
    assert_eq!(first("kind"), "请从选项中选择类型");
    assert_eq!(first("way"), "请从选项中选择方式");
    assert_eq!(first("tags"), "请从选项中选择标签");
    assert_eq!(first("phone"), "手机号须为 11 位手机号");
    assert_eq!(first("email"), "电子邮箱格式不正确");
    assert_eq!(first("idno"), "身份证号不是有效的身份证号（校验位不符）");
    assert_eq!(first("who"), "请选择有效的审批人");
    assert_eq!(first("dept"), "请选择有效的部门");
    assert_eq!(first("code"), "编号须为两个大写字母加四位数字");
    assert_eq!(first("trip"), "第 1 行：请填写城市");
}

/// A person field limited to a role (辅导员 of the applicant's college) takes only those
/// people, whatever id the request names; without a limit any active person will do.
#[test]
fn a_role_limited_person_field_takes_only_its_choices() {
    let s = schema();
    let mut c = ctx();
    c.people = vec![7, 8];
    let only_who = |v: &str| obj(json!({ "who": v }));
    let who_error = |c: &CheckCtx, v: &str| {
        validate(&s, &all_editable(&s), &only_who(v), c)
            .err()
            .and_then(|e| e.get("who").cloned())
            .unwrap_or_default()
    };
    assert!(who_error(&c, "8").is_empty(), "no limit: any active person");
    c.choices.insert("who".into(), vec![7]);
    assert_eq!(who_error(&c, "8"), vec!["请选择有效的审批人".to_owned()]);
    assert!(who_error(&c, "7").is_empty());
}

#[test]
fn valid_input_is_normalised() {
    let s = schema();
    let data = obj(json!({
        "reason": "参加学术会议", "days": "3", "cost": "1200.5", "start": "2026-03-01",
        "at": "2026-03-01T08:30", "period": {"from": "2026-03-01", "to": "2026-03-03"}, "kind": "病假",
        "way": "火车", "tags": ["B"], "phone": "13800138000", "email": "a@b.cn", "idno": "11010519491231002x",
        "who": "7", "dept": "3", "code": "AB1234", "trip": [{"city": "北京", "day": "2026-03-01"}, {"city": "", "day": ""}]
    }));
    let out = validate(&s, &all_editable(&s), &data, &ctx()).unwrap();
    assert_eq!(out["days"], json!(3));
    assert_eq!(out["cost"], json!(1200.5));
    assert_eq!(out["idno"], json!("11010519491231002X"));
    assert_eq!(out["who"], json!(7));
    assert_eq!(
        out["trip"],
        json!([{"city": "北京", "day": "2026-03-01"}]),
        "blank rows dropped"
    );
}

#[test]
fn required_fields_and_access() {
    let s = schema();
    let errors = validate(&s, &all_editable(&s), &Map::new(), &ctx()).unwrap_err();
    assert_eq!(errors["reason"], vec!["请填写事由"]);
    assert_eq!(errors["days"], vec!["请填写天数"]);
    // At a node where only the HR section is editable, nothing else is checked.
    let mut map = BTreeMap::new();
    map.insert("sec_hr".to_owned(), FieldAccess::Editable);
    let access = s.access(&map, FieldAccess::Readonly);
    assert_eq!(
        access["hr_note"],
        FieldAccess::Editable,
        "inherits its section"
    );
    assert_eq!(access["reason"], FieldAccess::Readonly);
    assert!(validate(&s, &access, &Map::new(), &ctx()).is_ok());
}

#[test]
fn autofill_and_locked_values() {
    let s = schema();
    let p = Profile {
        name: "张三".into(),
        ..Default::default()
    };
    let init = initial_values(&s, &p);
    assert_eq!(init["name"], json!("张三"));
    let mut posted = obj(json!({"name": "李四"}));
    enforce_locked(&s, &p, &mut posted);
    assert_eq!(
        posted["name"],
        json!("张三"),
        "a locked field cannot be changed"
    );
}

#[test]
fn posted_pairs_become_values() {
    let s = schema();
    let pairs: Vec<(String, String)> = [
        ("f.reason", "x"),
        ("f.tags", "A"),
        ("f.tags", "B"),
        ("f.period.from", "2026-01-01"),
        ("f.period.to", "2026-01-02"),
        ("f.trip.0.city", "上海"),
        ("f.trip.1.city", "杭州"),
        ("f.trip.1.evil", "x"),
        ("f.trip.999.city", "x"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    let d = parse_post(&s, &pairs);
    assert_eq!(d["reason"], json!("x"));
    assert_eq!(d["tags"], json!(["A", "B"]));
    assert_eq!(
        d["period"],
        json!({"from": "2026-01-01", "to": "2026-01-02"})
    );
    assert_eq!(d["trip"], json!([{"city": "上海"}, {"city": "杭州"}]));
}

#[test]
fn changed_fields_are_listed() {
    let s = schema();
    let a = obj(json!({"reason": "a", "days": 1}));
    let b = obj(json!({"reason": "b", "days": 1}));
    assert_eq!(changed_fields(&s, &a, &b), vec!["reason"]);
}

#[test]
fn bad_schemas_are_refused() {
    let bad = |v: Value| {
        serde_json::from_value::<FormSchema>(v)
            .unwrap()
            .validate()
            .unwrap_err()
    };
    assert!(
        bad(json!({"fields": [{"key": "a", "type": "text"}, {"key": "a", "type": "text"}]}))
            .contains("重复")
    );
    assert!(bad(json!({"fields": [{"key": "a b", "type": "text"}]})).contains("字母"));
    assert!(
        bad(json!({"fields": [{"key": "s", "type": "select", "label": "S"}]})).contains("选项")
    );
}

/// A form of dates with limits and a birth date checked against a 身份证号; `ctx()`'s
/// today is 2026-12-02.
fn dated() -> FormSchema {
    serde_json::from_value(json!({"fields": [
        {"key": "born", "type": "date", "label": "出生日期", "date_limit": "past", "birth_of": "id"},
        {"key": "id", "type": "id_card", "label": "身份证号"},
        {"key": "done", "type": "date", "label": "请假日期", "date_limit": "not_future"},
        {"key": "trip", "type": "date_range", "label": "出行日期", "date_limit": "not_past"},
        {"key": "at", "type": "datetime", "label": "出发时间", "date_limit": "future"}
    ]}))
    .unwrap()
}

fn errors_of(data: Value) -> Errors {
    let s = dated();
    validate(&s, &all_editable(&s), &obj(data), &ctx()).unwrap_err()
}

#[test]
fn dates_outside_their_limit_are_refused_with_the_rule() {
    let e = errors_of(json!({
        "born": "2026-12-02", "done": "2026-12-03",
        "trip": {"from": "2026-12-01", "to": "2026-12-05"}, "at": "2026-12-02T23:00"
    }));
    assert_eq!(e["born"], vec!["出生日期须早于今天"]);
    assert_eq!(e["done"], vec!["请假日期不能晚于今天"]);
    assert_eq!(e["trip"], vec!["出行日期的开始日期不能早于今天"]);
    assert_eq!(e["at"], vec!["出发时间须晚于今天"]);
    // The edges: yesterday, today, today, tomorrow.
    let s = dated();
    let ok = validate(
        &s,
        &all_editable(&s),
        &obj(json!({
            "born": "2026-12-01", "done": "2026-12-02",
            "trip": {"from": "2026-12-02", "to": "2026-12-02"}, "at": "2026-12-03T00:00"
        })),
        &ctx(),
    );
    assert!(ok.is_ok(), "{ok:?}");
    // Without a day to compare with (a designer's default), no limit applies.
    let f = &s.fields[0];
    assert!(
        check(f, Some(&json!("2030-01-01")), &CheckCtx::default())
            .0
            .is_empty()
    );
}

#[test]
fn a_birth_date_must_agree_with_the_id_number() {
    assert_eq!(
        id_card_birth("11010519491231002x")
            .map(|d| d.to_string())
            .as_deref(),
        Some("1949-12-31")
    );
    assert_eq!(id_card_birth("110105194912310021"), None, "bad check digit");
    let e = errors_of(json!({"born": "1949-12-30", "id": "11010519491231002X", "done": "x"}));
    assert_eq!(
        e["born"],
        vec!["出生日期与身份证号中的出生日期（1949-12-31）不一致"]
    );
    // A matching date passes; an invalid number is reported at the number, not the date.
    let e = errors_of(json!({"born": "1949-12-31", "id": "11010519491231002X", "done": "x"}));
    assert!(!e.contains_key("born"), "{e:?}");
    let e = errors_of(json!({"born": "1949-12-30", "id": "110105194912310021", "done": "x"}));
    assert!(!e.contains_key("born") && e.contains_key("id"), "{e:?}");
    // A birth date the submitter cannot change is not held against them.
    let s = dated();
    let mut access = all_editable(&s);
    access.insert("born".into(), FieldAccess::Readonly);
    let r = validate(
        &s,
        &access,
        &obj(json!({"born": "1949-12-30", "id": "11010519491231002X"})),
        &ctx(),
    );
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn the_id_number_on_file_fills_its_field_whatever_is_posted() {
    let s: FormSchema = serde_json::from_value(json!({"fields": [
        {"key": "id", "type": "id_card", "label": "身份证号", "autofill": "id_card"}
    ]}))
    .unwrap();
    let on_file = Profile {
        id_card: "11010519491231002X".into(),
        ..Profile::default()
    };
    assert_eq!(
        initial_values(&s, &on_file)["id"],
        json!("11010519491231002X")
    );
    let mut posted = obj(json!({"id": "44030619980512341X"}));
    enforce_locked(&s, &on_file, &mut posted);
    assert_eq!(
        posted["id"],
        json!("11010519491231002X"),
        "not locked, still enforced"
    );
    // Nothing on file: the applicant's own typing stands.
    let mut posted = obj(json!({"id": "44030619980512341X"}));
    enforce_locked(&s, &Profile::default(), &mut posted);
    assert_eq!(posted["id"], json!("44030619980512341X"));
    assert!(!initial_values(&s, &Profile::default()).contains_key("id"));
}
