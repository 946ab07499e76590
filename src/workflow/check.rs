//! The checks before publishing: every problem of a workflow definition against the form
//! it goes with, each naming its node (审批节点“辅导员审批”（counselor）). Pure: the checks
//! that need the database (people, roles, the service's admins) are
//! `usecase::versions::problems_in_db`. Also the words for conditions and rules that the
//! messages, the designer and 试算 share.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::model::{ApproverRule, Cond, Definition, Fallback, Node, NodeKind, RoleScope};
use crate::forms::{FieldKind, FormSchema};

/// 审批节点 / 条件节点 …
pub fn kind_label(k: &NodeKind) -> &'static str {
    match k {
        NodeKind::Start { .. } => "开始节点",
        NodeKind::Approval { .. } => "审批节点",
        NodeKind::Cc { .. } => "抄送节点",
        NodeKind::Condition { .. } => "条件节点",
        NodeKind::Parallel { .. } => "并行节点",
        NodeKind::Join { .. } => "汇聚节点",
        NodeKind::End => "结束节点",
    }
}

/// `审批节点“辅导员审批”（counselor）`: how every message names a node.
pub fn who(n: &Node) -> String {
    if n.name.trim().is_empty() {
        format!("{}（{}）", kind_label(&n.kind), n.id)
    } else {
        format!("{}“{}”（{}）", kind_label(&n.kind), n.name, n.id)
    }
}

/// A node by id as messages name it; the bare id when there is no such node.
fn named(def: &Definition, id: &str) -> String {
    match def.node(id) {
        Some(n) if !n.name.trim().is_empty() => format!("“{}”（{}）", n.name, n.id),
        _ => id.to_owned(),
    }
}

pub fn op_label(c: &Cond) -> &'static str {
    match c {
        Cond::All { .. } => "全部满足",
        Cond::Any { .. } => "任一满足",
        Cond::Eq { .. } => "=",
        Cond::Ne { .. } => "≠",
        Cond::Gt { .. } => ">",
        Cond::Ge { .. } => "≥",
        Cond::Lt { .. } => "<",
        Cond::Le { .. } => "≤",
        Cond::In { .. } => "属于",
        Cond::Empty { .. } => "为空",
        Cond::NotEmpty { .. } => "不为空",
    }
}

pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn field_label<'a>(form: &'a FormSchema, key: &'a str) -> &'a str {
    form.fields
        .iter()
        .find(|f| f.key == key)
        .map(|f| f.label.as_str())
        .filter(|l| !l.is_empty())
        .unwrap_or(key)
}

/// `请假天数 > 3`, `请假类型 属于 事假、病假`, `(A 或 B) 且 C`.
pub fn cond_text(c: &Cond, form: &FormSchema) -> String {
    let part = |c: &Cond| match c {
        Cond::All { of } | Cond::Any { of } if of.len() > 1 => {
            format!("（{}）", cond_text(c, form))
        }
        _ => cond_text(c, form),
    };
    match c {
        Cond::All { of } => of.iter().map(part).collect::<Vec<_>>().join(" 且 "),
        Cond::Any { of } => of.iter().map(part).collect::<Vec<_>>().join(" 或 "),
        Cond::Eq { field, value }
        | Cond::Ne { field, value }
        | Cond::Gt { field, value }
        | Cond::Ge { field, value }
        | Cond::Lt { field, value }
        | Cond::Le { field, value } => format!(
            "{} {} {}",
            field_label(form, field),
            op_label(c),
            value_text(value)
        ),
        Cond::In { field, values } => format!(
            "{} 属于 {}",
            field_label(form, field),
            values.iter().map(value_text).collect::<Vec<_>>().join("、")
        ),
        Cond::Empty { field } | Cond::NotEmpty { field } => {
            format!("{} {}", field_label(form, field), op_label(c))
        }
    }
}

pub fn scope_label(s: RoleScope) -> &'static str {
    match s {
        RoleScope::Global => "全校",
        RoleScope::ApplicantDepartment => "申请人所在部门",
        RoleScope::ApplicantCollege => "申请人所在学院",
    }
}

/// `角色“辅导员”（申请人所在学院）`; `role_name` turns a role's code into its name.
pub fn rule_text(
    r: &ApproverRule,
    form: &FormSchema,
    role_name: &dyn Fn(&str) -> String,
) -> String {
    match r {
        ApproverRule::Users { accounts } => format!("指定人员：{}", accounts.join("、")),
        ApproverRule::Role { role, scope } => {
            format!("角色“{}”（{}）", role_name(role), scope_label(*scope))
        }
        ApproverRule::DeptHead { levels_up: 0 } => "申请人的部门负责人".into(),
        ApproverRule::DeptHead { levels_up } => format!("申请人的上 {levels_up} 级部门负责人"),
        ApproverRule::FormField { field } => {
            format!("表单中选择的人员：{}", field_label(form, field))
        }
        ApproverRule::Applicant => "申请人本人".into(),
    }
}

pub fn fallback_text(f: &Fallback) -> String {
    match f {
        Fallback::Skip { reason } if reason.trim().is_empty() => "跳过此环节".into(),
        Fallback::Skip { reason } => format!("跳过此环节（{reason}）"),
        Fallback::User { account } => format!("指定人员 {account}"),
        Fallback::ServiceAdmins => "本服务的服务管理员".into(),
    }
}

/// Every problem; empty when the definition may be published.
pub fn problems(def: &Definition, form: &FormSchema) -> Vec<String> {
    let mut out = Vec::new();
    let sane = structure(def, &mut out);
    if sane {
        parallels(def, &mut out);
    }
    for n in &def.nodes {
        node_problems(n, form, &mut out);
    }
    let unknown = unknown_keys(&def.applicant_fields, form);
    if !unknown.is_empty() {
        out.push(format!(
            "申请人的字段权限引用了表单中不存在的字段或分节：{}",
            unknown.join("、")
        ));
    }
    out
}

/// One start, an end, ids, names, targets, cycles, reachability, a way to an end.
/// Returns whether the graph is sound enough for the parallel checks (known targets, no
/// cycle, one start).
fn structure(def: &Definition, out: &mut Vec<String>) -> bool {
    let mut sane = true;
    let mut ids = BTreeSet::new();
    for n in &def.nodes {
        if n.id.trim().is_empty() {
            out.push(format!("{}缺少节点标识", kind_label(&n.kind)));
            sane = false;
        } else if !ids.insert(n.id.as_str()) {
            out.push(format!("节点标识重复：{}", n.id));
            sane = false;
        }
        if n.name.trim().is_empty() {
            out.push(format!("{}没有名称", who(n)));
        }
    }
    let starts = def
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Start { .. }))
        .count();
    if starts != 1 {
        out.push(format!("流程必须有且只有一个开始节点（现有 {starts} 个）"));
        sane = false;
    }
    if !def.nodes.iter().any(|n| matches!(n.kind, NodeKind::End)) {
        out.push("流程至少需要一个结束节点".into());
    }
    for n in &def.nodes {
        let missing = |out: &mut Vec<String>, what: String, target: &str| {
            if target.trim().is_empty() {
                out.push(format!("{}{what}没有指定去向", who(n)));
            } else {
                out.push(format!("{}{what}指向不存在的节点 {target}", who(n)));
            }
        };
        match &n.kind {
            NodeKind::Condition { branches, default } => {
                if branches.is_empty() {
                    out.push(format!(
                        "{}没有条件分支（至少添加一个分支，否则请删除该节点）",
                        who(n)
                    ));
                }
                for (i, b) in branches.iter().enumerate() {
                    if def.node(&b.next).is_none() {
                        missing(out, format!("的分支“{}”", branch_name(&b.name, i)), &b.next);
                        sane = false;
                    }
                }
                if default.trim().is_empty() {
                    out.push(format!(
                        "{}缺少默认分支（所有条件都不成立时的去向）",
                        who(n)
                    ));
                    sane = false;
                } else if def.node(default).is_none() {
                    missing(out, "的默认分支".into(), default);
                    sane = false;
                }
            }
            NodeKind::Parallel { branches } => {
                if branches.len() < 2 {
                    out.push(format!("{}至少需要两个分支", who(n)));
                }
                let mut seen = BTreeSet::new();
                for (i, b) in branches.iter().enumerate() {
                    if def.node(b).is_none() {
                        missing(out, format!("的第 {} 个分支", i + 1), b);
                        sane = false;
                    } else if !seen.insert(b.as_str()) {
                        out.push(format!(
                            "{}有两个分支指向同一节点 {}",
                            who(n),
                            named(def, b)
                        ));
                        sane = false;
                    }
                }
            }
            NodeKind::End => {}
            _ => {
                for s in def.successors(&n.id) {
                    if def.node(s).is_none() {
                        missing(out, String::new(), s);
                        sane = false;
                    }
                }
            }
        }
    }
    if cycles(def, out) {
        sane = false;
    }
    // Reachable from the start.
    let reached = reach(
        def,
        def.start().map(|s| s.id.as_str()).into_iter().collect(),
    );
    if def.start().is_some() {
        for n in &def.nodes {
            if !n.id.trim().is_empty() && !reached.contains(n.id.as_str()) {
                out.push(format!("{}无法从开始节点到达", who(n)));
            }
        }
    }
    // Every node reached leads to an end (a cycle without a way out does not).
    let mut to_end: BTreeSet<&str> = def
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::End))
        .map(|n| n.id.as_str())
        .collect();
    loop {
        let before = to_end.len();
        for n in &def.nodes {
            if def.successors(&n.id).iter().any(|s| to_end.contains(s)) {
                to_end.insert(n.id.as_str());
            }
        }
        if to_end.len() == before {
            break;
        }
    }
    // Missing targets and a missing end explain themselves; only then is this news.
    let targets_known = def
        .nodes
        .iter()
        .all(|n| def.successors(&n.id).iter().all(|s| def.node(s).is_some()));
    if targets_known && !to_end.is_empty() {
        for n in &def.nodes {
            if reached.contains(n.id.as_str()) && !to_end.contains(n.id.as_str()) {
                out.push(format!("从{}出发无法到达结束节点", who(n)));
            }
        }
    }
    sane
}

pub fn branch_name(name: &str, i: usize) -> String {
    if name.trim().is_empty() {
        format!("分支 {}", i + 1)
    } else {
        name.to_owned()
    }
}

fn reach<'a>(def: &'a Definition, from: Vec<&'a str>) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut stack = from;
    while let Some(id) = stack.pop() {
        if def.node(id).is_some() && seen.insert(id) {
            stack.extend(def.successors(id));
        }
    }
    seen
}

/// Reports each cycle once (the path around it); true if there is one.
fn cycles(def: &Definition, out: &mut Vec<String>) -> bool {
    // 0 new, 1 on the path, 2 done.
    let mut colour: BTreeMap<&str, u8> = BTreeMap::new();
    let mut found = false;
    fn visit<'a>(
        def: &'a Definition,
        id: &'a str,
        path: &mut Vec<&'a str>,
        colour: &mut BTreeMap<&'a str, u8>,
        out: &mut Vec<String>,
        found: &mut bool,
    ) {
        colour.insert(id, 1);
        path.push(id);
        for s in def.successors(id) {
            if def.node(s).is_none() {
                continue;
            }
            match colour.get(s).copied().unwrap_or(0) {
                0 => visit(def, s, path, colour, out, found),
                1 => {
                    let from = path.iter().position(|p| *p == s).unwrap_or(0);
                    let mut ring: Vec<String> =
                        path[from..].iter().map(|p| named(def, p)).collect();
                    ring.push(named(def, s));
                    out.push(format!("流程存在回路：{}", ring.join(" → ")));
                    *found = true;
                }
                _ => {}
            }
        }
        path.pop();
        colour.insert(id, 2);
    }
    let roots: Vec<&str> = def
        .start()
        .map(|s| s.id.as_str())
        .into_iter()
        .chain(def.nodes.iter().map(|n| n.id.as_str()))
        .collect();
    for r in roots {
        if colour.get(r).copied().unwrap_or(0) == 0 {
            visit(def, r, &mut Vec::new(), &mut colour, out, &mut found);
        }
    }
    found
}

/// Field and section keys in `map` that the form does not have.
fn unknown_keys(
    map: &BTreeMap<String, crate::forms::FieldAccess>,
    form: &FormSchema,
) -> Vec<String> {
    map.keys()
        .filter(|k| !form.fields.iter().any(|f| &f.key == *k))
        .cloned()
        .collect()
}

/// Whether a rule may find nobody for some applicant, and why (for the message).
fn may_be_empty(rule: &ApproverRule, form: &FormSchema) -> Option<String> {
    match rule {
        ApproverRule::Role { role, scope } if *scope != RoleScope::Global => Some(format!(
            "审批人按角色 {role} 在{}中查找，可能无人匹配",
            scope_label(*scope)
        )),
        ApproverRule::DeptHead { levels_up } => Some(if *levels_up == 0 {
            "审批人为申请人的部门负责人，部门可能没有负责人".into()
        } else {
            format!("审批人为申请人的上 {levels_up} 级部门负责人，可能没有这一级或没有负责人")
        }),
        // A missing or wrong field is reported as such.
        ApproverRule::FormField { field } => match form.fields.iter().find(|f| &f.key == field) {
            Some(f) if f.kind == FieldKind::Person && !f.required => Some(format!(
                "审批人取自人员字段“{}”，它不是必填项，可能未填写",
                field_label(form, field)
            )),
            _ => None,
        },
        _ => None,
    }
}

fn rule_problems(rule: &ApproverRule, form: &FormSchema) -> Vec<String> {
    let mut out = Vec::new();
    match rule {
        ApproverRule::Users { accounts } if accounts.iter().all(|a| a.trim().is_empty()) => {
            out.push("未填写指定人员".into())
        }
        ApproverRule::Role { role, .. } if role.trim().is_empty() => out.push("未选择角色".into()),
        ApproverRule::FormField { field } => match form.fields.iter().find(|f| &f.key == field) {
            _ if field.trim().is_empty() => out.push("未选择人员字段".into()),
            None => out.push(format!("审批人取自表单字段 {field}，但表单中没有该字段")),
            Some(f) if f.kind != FieldKind::Person => out.push(format!(
                "审批人取自字段“{}”（{field}），但它不是人员字段",
                field_label(form, field)
            )),
            Some(_) => {}
        },
        _ => {}
    }
    out
}

fn node_problems(n: &Node, form: &FormSchema, out: &mut Vec<String>) {
    let at = who(n);
    match &n.kind {
        NodeKind::Approval {
            approvers,
            fallback,
            allow_self,
            time_limit_hours,
            escalate,
            fields,
            ..
        } => {
            for p in rule_problems(approvers, form) {
                out.push(format!("{at}：{p}"));
            }
            if let (Some(why), Fallback::Skip { reason }) =
                (may_be_empty(approvers, form), fallback)
                && reason.trim().is_empty()
            {
                out.push(format!(
                    "{at}：{why}；请设置无人匹配时的兜底（指定人员或服务管理员），或说明为何可以跳过此环节"
                ));
            }
            if matches!(approvers, ApproverRule::Applicant) && !allow_self {
                out.push(format!(
                    "{at}：审批人为申请人本人，但未允许申请人审批自己的申请（此环节将总是无人审批）"
                ));
            }
            if let Fallback::User { account } = fallback
                && account.trim().is_empty()
            {
                out.push(format!("{at}：兜底的指定人员未填写账号"));
            }
            if *time_limit_hours == Some(0) {
                out.push(format!("{at}：时限须大于 0 小时"));
            }
            if *escalate && time_limit_hours.is_none() {
                out.push(format!("{at}：超时提醒部门负责人需要先设置时限"));
            }
            let unknown = unknown_keys(fields, form);
            if !unknown.is_empty() {
                out.push(format!(
                    "{at}：字段权限引用了表单中不存在的字段或分节：{}",
                    unknown.join("、")
                ));
            }
        }
        // Nobody to copy is acceptable: nothing waits on a CC node, so it needs no
        // fallback; only a rule that cannot work at all is a problem.
        NodeKind::Cc { approvers, .. } => {
            for p in rule_problems(approvers, form) {
                out.push(format!("{at}：{p}"));
            }
        }
        NodeKind::Condition { branches, .. } => {
            for (i, b) in branches.iter().enumerate() {
                for p in cond_problems(&b.when, form) {
                    out.push(format!("{at}的分支“{}”：{p}", branch_name(&b.name, i)));
                }
            }
        }
        _ => {}
    }
}

mod cond;
mod parallel;

pub use cond::{cond_problems, is_date, is_datetime, is_number};
use parallel::parallels;

#[cfg(test)]
mod tests;
