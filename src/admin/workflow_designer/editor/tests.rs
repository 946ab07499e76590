//! The node editor: a node survives the round trip through the form, the buttons change
//! the form, and bad input is refused at its field.

use serde_json::json;

use super::*;
use crate::forms::FormSchema;

fn form() -> FormSchema {
    serde_json::from_value(json!({ "fields": [
        { "key": "days", "type": "number", "label": "请假天数", "required": true },
        { "key": "kind", "type": "radio", "label": "请假类型", "options": ["事假", "病假"] },
        { "key": "at", "type": "datetime", "label": "时间" },
        { "key": "counselor", "type": "person", "label": "辅导员", "required": true },
        { "key": "sec", "type": "section", "label": "部门意见" },
        { "key": "opinion", "type": "textarea", "label": "意见" }
    ]}))
    .unwrap()
}

fn def() -> Definition {
    serde_json::from_value(json!({
        "applicant_fields": { "sec": "hidden" },
        "nodes": [
            { "id": "start", "type": "start", "name": "提交", "next": "a" },
            { "id": "a", "type": "approval", "name": "辅导员审批", "mode": "sequential",
              "approvers": { "kind": "form_field", "field": "counselor" },
              "fallback": { "kind": "service_admins" }, "comment_required": true,
              "time_limit_hours": 24, "escalate": true, "fields": { "sec": "editable", "gone": "hidden" },
              "next": "c" },
            { "id": "c", "type": "condition", "name": "判断", "default": "end", "branches": [
                { "name": "长", "when": { "op": "gt", "field": "days", "value": 3 }, "next": "b" },
                { "name": "", "when": { "op": "any", "of": [
                    { "op": "in", "field": "kind", "values": ["事假", "病假"] },
                    { "op": "empty", "field": "opinion" } ] }, "next": "p" },
                { "name": "复杂", "when": { "op": "all", "of": [
                    { "op": "any", "of": [{ "op": "gt", "field": "days", "value": 1 }] } ] }, "next": "end" }
            ] },
            { "id": "b", "type": "approval", "name": "副书记", "allow_self": true,
              "approvers": { "kind": "role", "role": "deputy_secretary", "scope": "applicant_college" },
              "fallback": { "kind": "skip", "reason": "没有就算了" }, "next": "end" },
            { "id": "p", "type": "parallel", "name": "并行", "branches": ["x", "y"] },
            { "id": "x", "type": "cc", "name": "抄送", "approvers": { "kind": "users", "accounts": ["T1", "T2"] }, "next": "j" },
            { "id": "y", "type": "approval", "name": "领导", "approvers": { "kind": "dept_head", "levels_up": 1 },
              "fallback": { "kind": "user", "account": "T9" }, "next": "j" },
            { "id": "j", "type": "join", "name": "汇聚", "next": "end" },
            { "id": "end", "type": "end", "name": "办结" }
        ]
    }))
    .unwrap()
}

fn roles() -> Vec<String> {
    vec!["deputy_secretary".into(), "counselor".into()]
}

/// The pairs the editor's form posts (as the template names them).
fn pairs(f: &NodeForm) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = vec![];
    let mut put = |k: &str, v: &str| p.push((k.to_owned(), v.to_owned()));
    for (k, v) in [
        ("name", &f.name),
        ("next", &f.next),
        ("rule", &f.rule),
        ("role", &f.role),
        ("scope", &f.scope),
        ("levels_up", &f.levels_up),
        ("field", &f.field),
        ("accounts", &f.accounts),
        ("mode", &f.mode),
        ("time_limit", &f.time_limit),
        ("fallback", &f.fallback),
        ("fallback_account", &f.fallback_account),
        ("skip_reason", &f.skip_reason),
        ("default", &f.default),
    ] {
        put(k, v);
    }
    for (k, on) in [
        ("comment_required", f.comment_required),
        ("escalate", f.escalate),
        ("allow_self", f.allow_self),
    ] {
        if on {
            put(k, "1");
        }
    }
    for (k, v) in &f.perms {
        put(&format!("perm.{k}"), v);
    }
    put("branches", &f.branches.len().to_string());
    for (i, b) in f.branches.iter().enumerate() {
        put(&format!("b.{i}.name"), &b.name);
        put(&format!("b.{i}.combine"), &b.combine);
        put(&format!("b.{i}.next"), &b.next);
        put(&format!("b.{i}.raw"), &b.raw);
        put(&format!("b.{i}.conds"), &b.conds.len().to_string());
        for (j, c) in b.conds.iter().enumerate() {
            put(&format!("b.{i}.c.{j}.field"), &c.field);
            put(&format!("b.{i}.c.{j}.op"), &c.op);
            put(&format!("b.{i}.c.{j}.value"), &c.value);
        }
    }
    put("targets", &f.targets.len().to_string());
    for (i, t) in f.targets.iter().enumerate() {
        put(&format!("t.{i}"), t);
    }
    p
}

#[test]
fn every_node_survives_the_round_trip_through_the_form() {
    let d = def();
    for n in &d.nodes {
        let shown = NodeForm::from_node(n, &d);
        let posted = NodeForm::from_post(n, &pairs(&shown));
        assert_eq!(posted, shown, "{}", n.id);
        let (built, applicant) = posted
            .build(&d, &form(), &roles())
            .unwrap_or_else(|e| panic!("{}: {e:?}", n.id));
        assert_eq!(&built, n, "{}", n.id);
        if n.id == "start" {
            assert_eq!(applicant.as_ref(), Some(&d.applicant_fields));
        }
    }
    // The nested condition is kept as it was.
    let c = NodeForm::from_node(d.node("c").unwrap(), &d);
    assert!(c.branches[2].conds.is_empty() && c.branches[2].raw.contains("\"any\""));
    assert_eq!(c.branches[1].combine, "any");
    assert_eq!(c.branches[1].conds[0].value, "事假、病假");
}

fn edited(id: &str, change: impl FnOnce(&mut NodeForm)) -> Result<Node, BTreeMap<String, String>> {
    let d = def();
    let mut f = NodeForm::from_node(d.node(id).unwrap(), &d);
    change(&mut f);
    let f = NodeForm::from_post(d.node(id).unwrap(), &pairs(&f));
    f.build(&d, &form(), &roles()).map(|(n, _)| n)
}

#[track_caller]
fn refused(id: &str, change: impl FnOnce(&mut NodeForm), key: &str, message: &str) {
    let errs = edited(id, change).unwrap_err();
    assert_eq!(errs.get(key).map(String::as_str), Some(message), "{errs:?}");
}

#[test]
fn bad_input_is_refused_at_its_field() {
    refused("a", |f| f.name = " ".into(), "name", "请填写节点名称");
    refused(
        "a",
        |f| f.name = "长".repeat(41),
        "name",
        "节点名称不超过 40 个字",
    );
    refused("a", |f| f.next = "a".into(), "next", "节点不能指向自己");
    refused("a", |f| f.next = "gone".into(), "next", "请选择下一节点");
    refused(
        "a",
        |f| f.field = "days".into(),
        "field",
        "请选择表单中的人员字段",
    );
    refused(
        "a",
        |f| f.time_limit = "0".into(),
        "time_limit",
        "时限须为 1–720 的整数（小时），不限时请留空",
    );
    refused(
        "a",
        |f| f.time_limit = "abc".into(),
        "time_limit",
        "时限须为 1–720 的整数（小时），不限时请留空",
    );
    refused(
        "a",
        |f| f.time_limit = String::new(),
        "escalate",
        "超时提醒部门负责人需要先填写时限",
    );
    refused(
        "a",
        |f| {
            f.fallback = "user".into();
            f.fallback_account = String::new();
        },
        "fallback_account",
        "请填写兜底审批人的学号/工号",
    );
    refused("b", |f| f.role = "nobody".into(), "role", "请选择角色");
    refused(
        "y",
        |f| f.levels_up = "9".into(),
        "levels_up",
        "请填写 0–5 的整数（0 为申请人所在部门）",
    );
    refused(
        "x",
        |f| f.accounts = " 、 ".into(),
        "accounts",
        "请填写审批人的学号/工号",
    );
    refused(
        "c",
        |f| f.branches[0].conds[0].value = "三".into(),
        "b.0.c.0.value",
        "“请假天数”是数字字段，值“三”须为数字",
    );
    refused(
        "c",
        |f| f.branches[0].conds[0].field = "nope".into(),
        "b.0.c.0.field",
        "条件引用的字段 nope 在表单中不存在",
    );
    refused(
        "c",
        |f| {
            f.branches[1].conds[0].op = "eq".into();
            f.branches[1].conds[0].value = "婚假".into();
        },
        "b.1.c.0.value",
        "值“婚假”不是“请假类型”的选项（事假、病假）",
    );
    refused(
        "c",
        |f| f.branches[1].conds[0].op = "gt".into(),
        "b.1.c.0.field",
        "“请假类型”不是数字、金额、日期或日期时间字段，不能用“>”比较",
    );
    refused(
        "c",
        |f| f.branches[0].conds.clear(),
        "b.0.conds",
        "请至少添加一个条件",
    );
    refused(
        "c",
        |f| f.branches[2].raw = "{".into(),
        "b.2.conds",
        "条件无法读取，请删除此分支后重新添加",
    );
    refused(
        "c",
        |f| f.default = String::new(),
        "default",
        "请选择下一节点",
    );
    refused(
        "p",
        |f| f.targets.clear(),
        "targets",
        "并行节点至少需要一个分支",
    );
    refused(
        "p",
        |f| f.targets[1] = "p".into(),
        "t.1",
        "节点不能指向自己",
    );
}

#[test]
fn values_are_typed_by_their_field() {
    let n = edited("c", |f| {
        f.branches[0].conds[0].value = "2.5".into();
        f.branches[1].conds = vec![CondRow {
            field: "at".into(),
            op: "ge".into(),
            value: "2026-11-21 08:30".into(),
        }];
    })
    .unwrap();
    let NodeKind::Condition { branches, .. } = n.kind else {
        panic!()
    };
    assert_eq!(
        branches[0].when,
        Cond::Gt {
            field: "days".into(),
            value: json!(2.5)
        }
    );
    assert_eq!(
        branches[1].when,
        Cond::Ge {
            field: "at".into(),
            value: json!("2026-11-21T08:30")
        }
    );
}

#[test]
fn field_rules_keep_only_the_forms_keys_and_those_already_set() {
    let n = edited("a", |f| {
        f.perms.insert("opinion".into(), "readonly".into());
        f.perms.insert("forged".into(), "editable".into());
        f.perms.insert("sec".into(), String::new());
    })
    .unwrap();
    let NodeKind::Approval { fields, .. } = n.kind else {
        panic!()
    };
    assert_eq!(
        fields,
        BTreeMap::from([
            ("gone".to_owned(), FieldAccess::Hidden),
            ("opinion".to_owned(), FieldAccess::Readonly),
        ])
    );
}

#[test]
fn the_editors_buttons() {
    let d = def();
    let mut f = NodeForm::from_node(d.node("c").unwrap(), &d);
    assert!(f.apply_button("add_branch"));
    assert_eq!(f.branches.len(), 4);
    assert_eq!(f.branches[3].next, "end");
    assert!(f.apply_button("add_cond.0"));
    assert_eq!(f.branches[0].conds.len(), 2);
    assert!(f.apply_button("del_cond.0.0"));
    assert_eq!(f.branches[0].conds.len(), 1);
    assert!(f.apply_button("del_branch.1"));
    assert_eq!(f.branches.len(), 3);
    // A kept nested condition gets no rows.
    assert!(f.apply_button("add_cond.1"));
    assert!(f.branches[1].conds.is_empty());
    let mut p = NodeForm::from_node(d.node("p").unwrap(), &d);
    assert!(p.apply_button("add_target"));
    assert_eq!(p.targets, ["x", "y", ""]);
    assert!(p.apply_button("del_target.0"));
    assert_eq!(p.targets, ["y", ""]);
    assert!(!p.apply_button("save"));
    assert!(
        p.apply_button("del_target.9"),
        "out of range: nothing happens"
    );
}

#[test]
fn accounts_to_look_up() {
    assert_eq!(split_accounts("T1、T2 T1,，T3\n"), ["T1", "T2", "T3"]);
    let d = def();
    let y = NodeForm::from_node(d.node("y").unwrap(), &d);
    assert_eq!(y.accounts(), [("fallback_account", "T9".to_owned())]);
    let x = NodeForm::from_node(d.node("x").unwrap(), &d);
    assert_eq!(
        x.accounts(),
        [("accounts", "T1".to_owned()), ("accounts", "T2".to_owned())]
    );
}
