//! Every check before publishing, each refused with its message.

use serde_json::{Value, json};

use super::*;

fn form() -> FormSchema {
    serde_json::from_value(json!({ "fields": [
        { "key": "days", "type": "number", "label": "请假天数", "required": true },
        { "key": "amount", "type": "money", "label": "金额" },
        { "key": "day", "type": "date", "label": "日期" },
        { "key": "at", "type": "datetime", "label": "时间" },
        { "key": "kind", "type": "radio", "label": "请假类型", "options": ["事假", "病假"] },
        { "key": "reason", "type": "textarea", "label": "事由" },
        { "key": "tags", "type": "checkboxes", "label": "标签", "options": ["a", "b"] },
        { "key": "counselor", "type": "person", "label": "辅导员", "required": true },
        { "key": "contact", "type": "person", "label": "联系人" },
        { "key": "sec_dept", "type": "section", "label": "部门意见" },
        { "key": "opinion", "type": "textarea", "label": "意见" }
    ]}))
    .unwrap()
}

fn def(nodes: Value) -> Definition {
    serde_json::from_value(json!({ "nodes": nodes })).unwrap()
}

fn approval(id: &str, next: &str) -> Value {
    json!({ "id": id, "type": "approval", "name": format!("审批{id}"),
            "approvers": { "kind": "users", "accounts": ["T2001"] }, "next": next })
}

/// An approval node with these extra keys.
fn approval_with(id: &str, next: &str, extra: Value) -> Value {
    let mut n = approval(id, next);
    for (k, v) in extra.as_object().unwrap() {
        n[k] = v.clone();
    }
    n
}

fn start(next: &str) -> Value {
    json!({ "id": "start", "type": "start", "name": "提交", "next": next })
}

fn end() -> Value {
    json!({ "id": "end", "type": "end", "name": "办结" })
}

fn condition(branches: Value, default: &str) -> Value {
    json!({ "id": "c", "type": "condition", "name": "判断", "branches": branches, "default": default })
}

fn parallel(id: &str, branches: &[&str]) -> Value {
    json!({ "id": id, "type": "parallel", "name": format!("并行{id}"), "branches": branches })
}

fn join(id: &str, next: &str) -> Value {
    json!({ "id": id, "type": "join", "name": format!("汇聚{id}"), "next": next })
}

#[track_caller]
fn assert_problems(nodes: Value, expected: &[&str]) {
    assert_eq!(problems(&def(nodes), &form()), expected);
}

#[test]
fn a_sound_definition_has_no_problems() {
    assert_problems(json!([start("a"), approval("a", "end"), end()]), &[]);
    assert!(problems(&Definition::minimal(), &form()).is_empty());
    // The model's entry point is these checks.
    let d = def(json!([start("a"), approval("a", "nowhere"), end()]));
    assert_eq!(d.problems(&form()), problems(&d, &form()));
    assert!(!d.problems(&form()).is_empty());
}

#[test]
fn one_start_and_an_end() {
    assert_problems(
        json!([approval("a", "end"), end()]),
        &["流程必须有且只有一个开始节点（现有 0 个）"],
    );
    let mut second = start("end");
    second["id"] = json!("start2");
    assert_problems(
        json!([start("end"), second, end()]),
        &[
            "流程必须有且只有一个开始节点（现有 2 个）",
            "开始节点“提交”（start2）无法从开始节点到达",
        ],
    );
    assert_problems(
        json!([start("a"), approval("a", "start2"), { "id": "start2", "type": "join", "name": "汇", "next": "a" }]),
        &[
            "流程至少需要一个结束节点",
            "流程存在回路：“审批a”（a） → “汇”（start2） → “审批a”（a）",
        ],
    );
}

#[test]
fn ids_and_names() {
    assert_problems(
        json!([
            start("a"),
            approval("a", "end"),
            approval("a", "end"),
            end()
        ]),
        &["节点标识重复：a"],
    );
    assert_problems(
        json!([start("end"), { "id": "", "type": "end", "name": "结束" }, end()]),
        &["结束节点缺少节点标识"],
    );
    assert_problems(
        json!([
            start("a"),
            approval_with("a", "end", json!({ "name": " " })),
            end()
        ]),
        &["审批节点（a）没有名称"],
    );
}

#[test]
fn targets_must_exist() {
    assert_problems(
        json!([start("a"), approval("a", "nowhere"), end()]),
        &[
            "审批节点“审批a”（a）指向不存在的节点 nowhere",
            "结束节点“办结”（end）无法从开始节点到达",
        ],
    );
    assert_problems(
        json!([start(""), end()]),
        &[
            "开始节点“提交”（start）没有指定去向",
            "结束节点“办结”（end）无法从开始节点到达",
        ],
    );
}

#[test]
fn cycles_unreachable_nodes_and_no_way_to_an_end() {
    assert_problems(
        json!([start("a"), approval("a", "b"), approval("b", "a"), end()]),
        &[
            "流程存在回路：“审批a”（a） → “审批b”（b） → “审批a”（a）",
            "结束节点“办结”（end）无法从开始节点到达",
            "从开始节点“提交”（start）出发无法到达结束节点",
            "从审批节点“审批a”（a）出发无法到达结束节点",
            "从审批节点“审批b”（b）出发无法到达结束节点",
        ],
    );
    assert_problems(
        json!([start("end"), approval("a", "end"), end()]),
        &["审批节点“审批a”（a）无法从开始节点到达"],
    );
}

#[test]
fn condition_nodes_need_branches_and_a_default() {
    let when = json!({ "op": "gt", "field": "days", "value": 3 });
    assert_problems(
        json!([
            start("c"),
            condition(json!([{ "name": "长", "when": when, "next": "a" }]), "end"),
            approval("a", "end"),
            end()
        ]),
        &[],
    );
    assert_problems(
        json!([
            start("c"),
            condition(json!([{ "name": "长", "when": when, "next": "a" }]), ""),
            approval("a", "end"),
            end()
        ]),
        &["条件节点“判断”（c）缺少默认分支（所有条件都不成立时的去向）"],
    );
    assert_problems(
        json!([start("c"), condition(json!([]), "end"), end()]),
        &["条件节点“判断”（c）没有条件分支（至少添加一个分支，否则请删除该节点）"],
    );
    assert_problems(
        json!([
            start("c"),
            condition(json!([{ "name": "长", "when": when, "next": "x" }]), "y"),
            end()
        ]),
        &[
            "条件节点“判断”（c）的分支“长”指向不存在的节点 x",
            "条件节点“判断”（c）的默认分支指向不存在的节点 y",
            "结束节点“办结”（end）无法从开始节点到达",
        ],
    );
}

/// The problems of one branch condition in an otherwise sound definition.
fn when(cond: Value) -> Vec<String> {
    problems(
        &def(json!([
            start("c"),
            condition(json!([{ "when": cond, "next": "end" }]), "end"),
            end()
        ])),
        &form(),
    )
    .into_iter()
    .map(|p| {
        p.strip_prefix("条件节点“判断”（c）的分支“分支 1”：")
            .unwrap_or_else(|| panic!("{p}"))
            .to_owned()
    })
    .collect()
}

#[test]
fn conditions_compare_existing_fields_by_their_type() {
    for ok in [
        json!({ "op": "gt", "field": "days", "value": 3 }),
        json!({ "op": "le", "field": "amount", "value": "5000.5" }),
        json!({ "op": "ge", "field": "day", "value": "2026-11-21" }),
        json!({ "op": "lt", "field": "at", "value": "2026-11-21T08:30" }),
        json!({ "op": "eq", "field": "kind", "value": "病假" }),
        json!({ "op": "ne", "field": "reason", "value": "无" }),
        json!({ "op": "in", "field": "kind", "values": ["事假", "病假"] }),
        json!({ "op": "empty", "field": "contact" }),
        json!({ "op": "not_empty", "field": "tags" }),
        json!({ "op": "any", "of": [{ "op": "gt", "field": "days", "value": 3 }, { "op": "eq", "field": "kind", "value": "事假" }] }),
    ] {
        assert_eq!(when(ok.clone()), Vec::<String>::new(), "{ok}");
    }
    let cases = [
        (
            json!({ "op": "gt", "field": "nope", "value": 3 }),
            "条件引用的字段 nope 在表单中不存在",
        ),
        (
            json!({ "op": "eq", "field": "", "value": 3 }),
            "未选择比较的字段",
        ),
        (
            json!({ "op": "empty", "field": "sec_dept" }),
            "“部门意见”是分节标题或说明文字，没有可比较的值",
        ),
        (
            json!({ "op": "gt", "field": "kind", "value": "事假" }),
            "“请假类型”不是数字、金额、日期或日期时间字段，不能用“>”比较",
        ),
        (
            json!({ "op": "le", "field": "reason", "value": "a" }),
            "“事由”不是数字、金额、日期或日期时间字段，不能用“≤”比较",
        ),
        (
            json!({ "op": "gt", "field": "days", "value": "三" }),
            "“请假天数”是数字字段，值“三”须为数字",
        ),
        (
            json!({ "op": "ge", "field": "day", "value": "2026/11/21" }),
            "“日期”是日期字段，值“2026/11/21”须为日期，如 2026-11-21",
        ),
        (
            json!({ "op": "lt", "field": "at", "value": "2026-11-21" }),
            "“时间”是日期时间字段，值“2026-11-21”须为日期时间，如 2026-11-21T08:30",
        ),
        (
            json!({ "op": "eq", "field": "kind", "value": "婚假" }),
            "值“婚假”不是“请假类型”的选项（事假、病假）",
        ),
        (
            json!({ "op": "eq", "field": "days", "value": "x" }),
            "“请假天数”是数字字段，值“x”须为数字",
        ),
        (
            json!({ "op": "eq", "field": "reason", "value": "" }),
            "“事由”的比较值为空（判断是否填写请用“为空”或“不为空”）",
        ),
        (
            json!({ "op": "eq", "field": "tags", "value": "a" }),
            "“标签”只能判断“为空”或“不为空”（多选、人员、部门、附件、子表和日期范围字段不能比较取值）",
        ),
        (
            json!({ "op": "ne", "field": "counselor", "value": 1 }),
            "“辅导员”只能判断“为空”或“不为空”（多选、人员、部门、附件、子表和日期范围字段不能比较取值）",
        ),
        (
            json!({ "op": "in", "field": "kind", "values": [] }),
            "“属于”至少需要一个值",
        ),
        (
            json!({ "op": "in", "field": "kind", "values": ["事假", "公假"] }),
            "值“公假”不是“请假类型”的选项（事假、病假）",
        ),
        (json!({ "op": "all", "of": [] }), "“全部满足”的条件为空"),
        (
            json!({ "op": "any", "of": [{ "op": "gt", "field": "days", "value": 3 }, { "op": "gt", "field": "kind", "value": 1 }] }),
            "“请假类型”不是数字、金额、日期或日期时间字段，不能用“>”比较",
        ),
    ];
    for (cond, message) in cases {
        assert_eq!(when(cond.clone()), vec![message.to_owned()], "{cond}");
    }
}

#[test]
fn approver_rules_must_work() {
    let cases = [
        (
            json!({ "approvers": { "kind": "users", "accounts": [] } }),
            "审批节点“审批a”（a）：未填写指定人员",
        ),
        (
            json!({ "approvers": { "kind": "role", "role": "" } }),
            "审批节点“审批a”（a）：未选择角色",
        ),
        (
            json!({ "approvers": { "kind": "form_field", "field": "" } }),
            "审批节点“审批a”（a）：未选择人员字段",
        ),
        (
            json!({ "approvers": { "kind": "form_field", "field": "boss" }, "fallback": { "kind": "service_admins" } }),
            "审批节点“审批a”（a）：审批人取自表单字段 boss，但表单中没有该字段",
        ),
        (
            json!({ "approvers": { "kind": "form_field", "field": "days" } }),
            "审批节点“审批a”（a）：审批人取自字段“请假天数”（days），但它不是人员字段",
        ),
        (
            json!({ "approvers": { "kind": "applicant" } }),
            "审批节点“审批a”（a）：审批人为申请人本人，但未允许申请人审批自己的申请（此环节将总是无人审批）",
        ),
        (
            json!({ "fallback": { "kind": "user", "account": " " } }),
            "审批节点“审批a”（a）：兜底的指定人员未填写账号",
        ),
        (
            json!({ "time_limit_hours": 0 }),
            "审批节点“审批a”（a）：时限须大于 0 小时",
        ),
        (
            json!({ "escalate": true }),
            "审批节点“审批a”（a）：超时提醒部门负责人需要先设置时限",
        ),
        (
            json!({ "fields": { "opinion": "editable", "sec_dept": "hidden", "gone": "hidden", "old": "readonly" } }),
            "审批节点“审批a”（a）：字段权限引用了表单中不存在的字段或分节：gone、old",
        ),
    ];
    for (extra, message) in cases {
        assert_problems(
            json!([start("a"), approval_with("a", "end", extra.clone()), end()]),
            &[message],
        );
    }
    // Allowed: the applicant approving their own, with the permission.
    assert_problems(
        json!([
            start("a"),
            approval_with(
                "a",
                "end",
                json!({ "approvers": { "kind": "applicant" }, "allow_self": true })
            ),
            end()
        ]),
        &[],
    );
}

#[test]
fn rules_that_can_find_nobody_need_a_fallback_or_a_reason() {
    let ask = "；请设置无人匹配时的兜底（指定人员或服务管理员），或说明为何可以跳过此环节";
    let cases = [
        (
            json!({ "kind": "role", "role": "deputy_secretary", "scope": "applicant_college" }),
            format!(
                "审批节点“审批a”（a）：审批人按角色 deputy_secretary 在申请人所在学院中查找，可能无人匹配{ask}"
            ),
        ),
        (
            json!({ "kind": "role", "role": "counselor", "scope": "applicant_department" }),
            format!(
                "审批节点“审批a”（a）：审批人按角色 counselor 在申请人所在部门中查找，可能无人匹配{ask}"
            ),
        ),
        (
            json!({ "kind": "dept_head" }),
            format!("审批节点“审批a”（a）：审批人为申请人的部门负责人，部门可能没有负责人{ask}"),
        ),
        (
            json!({ "kind": "dept_head", "levels_up": 2 }),
            format!(
                "审批节点“审批a”（a）：审批人为申请人的上 2 级部门负责人，可能没有这一级或没有负责人{ask}"
            ),
        ),
        (
            json!({ "kind": "form_field", "field": "contact" }),
            format!(
                "审批节点“审批a”（a）：审批人取自人员字段“联系人”，它不是必填项，可能未填写{ask}"
            ),
        ),
    ];
    for (rule, message) in cases {
        assert_problems(
            json!([
                start("a"),
                approval_with("a", "end", json!({ "approvers": rule })),
                end()
            ]),
            &[message.as_str()],
        );
        // A fallback, or a reason to skip, settles it.
        for fallback in [
            json!({ "kind": "service_admins" }),
            json!({ "kind": "user", "account": "T4401" }),
            json!({ "kind": "skip", "reason": "只有部分学院设此岗位，没有时无需审批" }),
        ] {
            assert_problems(
                json!([
                    start("a"),
                    approval_with(
                        "a",
                        "end",
                        json!({ "approvers": rule, "fallback": fallback })
                    ),
                    end()
                ]),
                &[],
            );
        }
        // Nothing waits on a CC node: nobody to copy is acceptable there.
        assert_problems(
            json!([start("cc"), { "id": "cc", "type": "cc", "name": "抄送", "approvers": rule, "next": "end" }, end()]),
            &[],
        );
    }
    // Rules that always find someone (or are checked against the database) need none.
    for rule in [
        json!({ "kind": "role", "role": "school_leader" }),
        json!({ "kind": "form_field", "field": "counselor" }),
        json!({ "kind": "users", "accounts": ["T2001"] }),
    ] {
        assert_problems(
            json!([
                start("a"),
                approval_with("a", "end", json!({ "approvers": rule })),
                end()
            ]),
            &[],
        );
    }
    assert_problems(
        json!([start("cc"), { "id": "cc", "type": "cc", "name": "抄送", "approvers": { "kind": "users", "accounts": [] }, "next": "end" }, end()]),
        &["抄送节点“抄送”（cc）：未填写指定人员"],
    );
}

#[test]
fn applicant_fields_name_fields_or_sections() {
    let mut d = def(json!([start("end"), end()]));
    d.applicant_fields = serde_json::from_value(
        json!({ "sec_dept": "hidden", "opinion": "readonly", "x": "hidden" }),
    )
    .unwrap();
    assert_eq!(
        problems(&d, &form()),
        vec!["申请人的字段权限引用了表单中不存在的字段或分节：x"]
    );
}

#[test]
fn words_for_conditions_and_rules() {
    let f = form();
    let c: Cond = serde_json::from_value(json!({ "op": "all", "of": [
        { "op": "any", "of": [{ "op": "gt", "field": "days", "value": 3 }, { "op": "in", "field": "kind", "values": ["事假", "病假"] }] },
        { "op": "not_empty", "field": "contact" }
    ]}))
    .unwrap();
    assert_eq!(
        cond_text(&c, &f),
        "（请假天数 > 3 或 请假类型 属于 事假、病假） 且 联系人 不为空"
    );
    let role = |c: &str| {
        if c == "counselor" {
            "辅导员".to_owned()
        } else {
            c.to_owned()
        }
    };
    let r: ApproverRule = serde_json::from_value(
        json!({ "kind": "role", "role": "counselor", "scope": "applicant_college" }),
    )
    .unwrap();
    assert_eq!(rule_text(&r, &f, &role), "角色“辅导员”（申请人所在学院）");
    assert_eq!(fallback_text(&Fallback::default()), "跳过此环节");
    // A skip without a reason is written as before: `{ kind = "skip" }`.
    assert_eq!(
        serde_json::to_value(Fallback::default()).unwrap(),
        json!({ "kind": "skip" })
    );
}

mod parallel;
