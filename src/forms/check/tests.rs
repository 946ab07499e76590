//! One test per check of `check.rs`, and the demo forms against all of them.

use serde_json::json;

use super::*;

fn field_of(v: Value) -> Field {
    serde_json::from_value(v).unwrap()
}

fn form_of(fields: Vec<Value>) -> FormSchema {
    serde_json::from_value(json!({ "fields": fields })).unwrap()
}

/// The problems of a form of one field.
fn one(v: Value) -> Vec<String> {
    form_of(vec![v]).problems()
}

#[test]
fn a_good_form_has_no_problems() {
    let f = form_of(vec![
        json!({"key": "name", "type": "text", "label": "姓名", "autofill": "name", "locked": true}),
        json!({"key": "days", "type": "number", "label": "请假天数", "min": 0.5, "max": 60, "default": 1}),
        json!({"key": "kind", "type": "radio", "label": "类型", "options": ["事假", "病假"], "default": "事假"}),
        json!({"key": "trip", "type": "table", "label": "行程", "columns": [
            {"key": "date", "type": "date", "label": "日期"},
            {"key": "to", "type": "select", "label": "去向", "options": ["北京", "上海"]}
        ]}),
        json!({"key": "s1", "type": "section", "label": "学院意见"}),
        json!({"key": "note", "type": "static", "text": "请如实填写。"}),
    ]);
    assert_eq!(f.problems(), Vec::<String>::new());
}

#[test]
fn duplicate_keys() {
    let f = form_of(vec![
        json!({"key": "days", "type": "number", "label": "天数"}),
        json!({"key": "days", "type": "text", "label": "请假天数"}),
    ]);
    assert_eq!(
        f.problems(),
        vec!["字段“请假天数”（days）：标识与前面的字段重复"]
    );
}

#[test]
fn bad_key_characters() {
    for key in ["请假", "a-b", "1days", "a b", ""] {
        let p = one(json!({"key": key, "type": "text", "label": "事由"}));
        assert_eq!(p.len(), 1, "{key}: {p:?}");
        assert!(
            p[0].starts_with(&format!("字段“事由”（{key}）：标识")),
            "{p:?}"
        );
    }
    let long = "a".repeat(KEY_MAX + 1);
    assert!(
        one(json!({"key": long, "type": "text", "label": "事由"}))[0]
            .contains("不能超过 64 个字符")
    );
    assert!(one(json!({"key": "leave_days2", "type": "text", "label": "事由"})).is_empty());
}

#[test]
fn empty_label() {
    assert_eq!(
        one(json!({"key": "reason", "type": "text", "label": "  "})),
        vec!["字段（reason）：标题不能为空"]
    );
    // A static text needs its text or a label, not both.
    assert_eq!(
        one(json!({"key": "note", "type": "static"})),
        vec!["字段（note）：说明文字不能为空"]
    );
    assert!(one(json!({"key": "note", "type": "static", "text": "须知"})).is_empty());
}

#[test]
fn options_missing_or_duplicated() {
    for kind in ["select", "radio", "checkboxes"] {
        assert_eq!(
            one(json!({"key": "kind", "type": kind, "label": "类型"})),
            vec!["字段“类型”（kind）：缺少选项"]
        );
    }
    assert_eq!(
        one(
            json!({"key": "kind", "type": "select", "label": "类型", "options": ["事假", "病假", "事假"]})
        ),
        vec!["字段“类型”（kind）：选项“事假”重复"]
    );
    assert_eq!(
        one(json!({"key": "kind", "type": "radio", "label": "类型", "options": ["事假", " "]})),
        vec!["字段“类型”（kind）：选项不能为空"]
    );
}

#[test]
fn min_above_max() {
    assert_eq!(
        one(json!({"key": "days", "type": "number", "label": "请假天数", "min": 5, "max": 1})),
        vec!["字段“请假天数”（days）：最小值大于最大值"]
    );
    assert_eq!(
        one(json!({"key": "fee", "type": "money", "label": "金额", "min": 100.5, "max": 100})),
        vec!["字段“金额”（fee）：最小值大于最大值"]
    );
    assert!(
        one(json!({"key": "fee", "type": "money", "label": "金额", "min": 3, "max": 3})).is_empty()
    );
}

#[test]
fn min_len_above_max_len() {
    assert_eq!(
        one(
            json!({"key": "reason", "type": "textarea", "label": "事由", "min_len": 20, "max_len": 10})
        ),
        vec!["字段“事由”（reason）：最少字数大于最多字数"]
    );
    assert_eq!(
        one(json!({"key": "reason", "type": "text", "label": "事由", "max_len": 0})),
        vec!["字段“事由”（reason）：最多字数须大于 0"]
    );
}

#[test]
fn invalid_pattern() {
    assert_eq!(
        one(json!({"key": "plate", "type": "text", "label": "车牌号", "pattern": "[A-Z"})),
        vec!["字段“车牌号”（plate）：格式规则不是有效的正则表达式"]
    );
    // A pattern that compiles only inside the form's anchors would escape them.
    assert!(
        !one(json!({"key": "plate", "type": "text", "label": "车牌号", "pattern": "a)|(b"}))
            .is_empty()
    );
    assert!(
        one(json!({"key": "plate", "type": "text", "label": "车牌号", "pattern": "[A-Z][0-9]{5}"}))
            .is_empty()
    );
}

#[test]
fn sub_table_without_columns_or_with_forbidden_kinds() {
    assert_eq!(
        one(json!({"key": "trip", "type": "table", "label": "行程"})),
        vec!["字段“行程”（trip）：子表缺少列"]
    );
    for kind in [
        "table",
        "attachments",
        "section",
        "static",
        "date_range",
        "checkboxes",
        "person",
        "department",
    ] {
        let p = one(
            json!({"key": "trip", "type": "table", "label": "行程", "columns": [
                {"key": "c", "type": kind, "label": "列", "options": ["a"], "text": "x",
                 "columns": [{"key": "x", "type": "text", "label": "x"}]}
            ]}),
        );
        let label = FieldKind::from_code(kind).unwrap().label();
        assert_eq!(
            p,
            vec![format!(
                "子表“行程”（trip）的列“列”（c）：子表的列不能是{label}"
            )],
            "{kind}"
        );
    }
    for kind in FieldKind::ALL.into_iter().filter(|k| k.column_allowed()) {
        let p = one(
            json!({"key": "trip", "type": "table", "label": "行程", "columns": [
                {"key": "c", "type": kind.code(), "label": "列", "options": ["a"]}
            ]}),
        );
        assert!(p.is_empty(), "{kind:?}: {p:?}");
    }
}

#[test]
fn duplicate_column_keys_and_column_problems() {
    let p = one(
        json!({"key": "trip", "type": "table", "label": "行程", "columns": [
            {"key": "date", "type": "date", "label": "出发日期"},
            {"key": "date", "type": "date", "label": "到达日期"},
            {"key": "cost", "type": "money", "label": "", "min": 9, "max": 1}
        ]}),
    );
    assert_eq!(
        p,
        vec![
            "子表“行程”（trip）的列“到达日期”（date）：列标识重复",
            "子表“行程”（trip）的列（cost）：标题不能为空",
            "子表“行程”（trip）的列（cost）：最小值大于最大值",
        ]
    );
}

#[test]
fn unknown_autofill_source() {
    assert_eq!(
        one(json!({"key": "n", "type": "text", "label": "姓名", "autofill": "nickname"})),
        vec!["字段“姓名”（n）：自动填充来源“nickname”不受支持"]
    );
    // Every source offered is one the profile has; the 身份证号 on file goes only into a
    // 身份证号 field, and such a field takes nothing else.
    for (k, _) in AUTOFILL {
        let kind = if k == "id_card" { "id_card" } else { "text" };
        assert!(one(json!({"key": "n", "type": kind, "label": "x", "autofill": k})).is_empty());
    }
    let both = "身份证号字段只能填入在册身份证号，在册身份证号也只能填入身份证号字段";
    assert_eq!(
        one(json!({"key": "n", "type": "text", "label": "x", "autofill": "id_card"})),
        vec![format!("字段“x”（n）：{both}")]
    );
    assert_eq!(
        one(json!({"key": "n", "type": "id_card", "label": "x", "autofill": "name"})),
        vec![format!("字段“x”（n）：{both}")]
    );
}

#[test]
fn date_limits_and_birth_dates_belong_to_dates() {
    assert_eq!(
        one(json!({"key": "n", "type": "text", "label": "x", "date_limit": "past"})),
        vec!["字段“x”（n）：只有日期字段能设置日期限制"]
    );
    for kind in ["date", "datetime", "date_range"] {
        assert!(
            one(json!({"key": "n", "type": kind, "label": "x", "date_limit": "not_future"}))
                .is_empty()
        );
    }
    assert_eq!(
        one(json!({"key": "n", "type": "datetime", "label": "x", "birth_of": "id"})),
        vec![
            "字段“x”（n）：只有日期字段能核对身份证号中的出生日期",
            "字段“x”（n）：核对出生日期的身份证号字段（id）不存在",
        ]
    );
    // The named field must be a 身份证号 of the same form.
    let form = |id_kind: &str| FormSchema {
        fields: vec![
            field_of(json!({"key": "born", "type": "date", "label": "出生日期", "birth_of": "id"})),
            field_of(json!({"key": "id", "type": id_kind, "label": "证件"})),
        ],
    };
    assert!(super::form(&form("id_card")).is_empty());
    assert_eq!(
        super::form(&form("text")),
        vec!["字段“出生日期”（born）：核对出生日期的身份证号字段（id）不存在"]
    );
}

#[test]
fn default_outside_options_or_limits() {
    assert_eq!(
        one(
            json!({"key": "kind", "type": "radio", "label": "类型", "options": ["事假"], "default": "年假"})
        ),
        vec!["字段“类型”（kind）：默认值“年假”不在选项中"]
    );
    assert_eq!(
        one(
            json!({"key": "kind", "type": "checkboxes", "label": "类型", "options": ["a", "b"], "default": ["a", "c"]})
        ),
        vec!["字段“类型”（kind）：默认值“a、c”不在选项中"]
    );
    assert_eq!(
        one(
            json!({"key": "days", "type": "number", "label": "天数", "min": 1, "max": 5, "default": 9})
        ),
        vec!["字段“天数”（days）：默认值 9 大于最大值 5"]
    );
    assert_eq!(
        one(json!({"key": "days", "type": "number", "label": "天数", "min": 1, "default": 0})),
        vec!["字段“天数”（days）：默认值 0 小于最小值 1"]
    );
    assert_eq!(
        one(json!({"key": "days", "type": "number", "label": "天数", "default": "许多"})),
        vec!["字段“天数”（days）：默认值“许多”不是数字"]
    );
    let p = one(
        json!({"key": "r", "type": "text", "label": "事由", "max_len": 2, "default": "太长了"}),
    );
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("字段“事由”（r）：默认值“太长了”不符合规则："),
        "{p:?}"
    );
    assert_eq!(
        one(json!({"key": "d", "type": "date", "label": "日期", "default": "明天"})).len(),
        1
    );
    assert_eq!(
        one(json!({"key": "p", "type": "person", "label": "辅导员", "default": "T1"})),
        vec!["字段“辅导员”（p）：人员不能设置默认值"]
    );
}

#[test]
fn locked_without_autofill() {
    assert_eq!(
        one(json!({"key": "n", "type": "text", "label": "姓名", "locked": true})),
        vec!["字段“姓名”（n）：已锁定但没有设置自动填充来源"]
    );
}

#[test]
fn over_long_values() {
    let p = one(
        json!({"key": "n", "type": "text", "label": "标".repeat(101), "help": "x".repeat(501)}),
    );
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].ends_with("标题不能超过 100 个字"));
    assert!(p[1].ends_with("填写说明不能超过 500 个字"));
}

#[test]
fn every_problem_is_found_not_only_the_first() {
    let f = form_of(vec![
        json!({"key": "a", "type": "select", "label": "甲"}),
        json!({"key": "b", "type": "number", "label": "乙", "min": 2, "max": 1}),
        json!({"key": "a", "type": "text", "label": ""}),
    ]);
    assert_eq!(f.problems().len(), 4, "{:?}", f.problems());
    // `validate` keeps answering its callers with the first structural problem.
    assert!(f.validate().is_err());
}

#[test]
fn kinds_have_names_and_codes() {
    let names: BTreeSet<_> = FieldKind::ALL.iter().map(|k| k.label()).collect();
    assert_eq!(names.len(), 19);
    for k in FieldKind::ALL {
        assert_eq!(serde_json::to_value(k).unwrap(), json!(k.code()));
        assert_eq!(FieldKind::from_code(k.code()), Some(k));
    }
    assert_eq!(FieldKind::from_code("nope"), None);
    assert_eq!(
        field_of(json!({"key": "x", "type": "id_card"}))
            .kind
            .label(),
        "身份证号"
    );
}

/// Every demo service's form passes the full checks (they are published as they are).
#[test]
fn demo_forms_have_no_problems() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/services");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: toml::Value = toml::from_str(&text).unwrap();
        let Some(form) = doc.get("form") else {
            continue;
        };
        let form: FormSchema = form.clone().try_into().unwrap();
        assert_eq!(form.problems(), Vec::<String>::new(), "{}", path.display());
        seen += 1;
    }
    assert!(seen > 30, "only {seen} demo forms");
}
