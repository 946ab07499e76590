//! The node editor: a node as the form shows it (text as typed, so a refused save shows
//! everything again), the posted form read back, the editor's own buttons (添加分支,
//! 删除条件 …), and the node built from it, with a message per field.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    forms::{FieldAccess, FieldKind, FormSchema},
    workflow::{
        check,
        model::{
            ApproverRule, Branch, Cond, Definition, Fallback, Mode, Node, NodeKind, RoleScope,
        },
    },
};

/// Limits on what one editor post may hold.
pub const MAX_NAME: usize = 40;
const MAX_TEXT: usize = 200;
const MAX_RAW: usize = 4000;
pub const MAX_BRANCHES: usize = 20;
pub const MAX_CONDS: usize = 10;
const MAX_ACCOUNTS: usize = 20;
const MAX_HOURS: u32 = 720;
const MAX_LEVELS: u32 = 5;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CondRow {
    pub field: String,
    pub op: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BranchForm {
    pub name: String,
    /// all / any, when there is more than one condition.
    pub combine: String,
    pub conds: Vec<CondRow>,
    pub next: String,
    /// A condition the rows cannot show (nested 且/或), kept as JSON.
    pub raw: String,
}

/// One node's editor, as typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeForm {
    pub id: String,
    /// start / approval / cc / condition / parallel / join / end
    pub kind: &'static str,
    pub name: String,
    pub next: String,
    pub rule: String,
    pub role: String,
    pub scope: String,
    pub levels_up: String,
    pub field: String,
    pub accounts: String,
    pub mode: String,
    pub comment_required: bool,
    pub time_limit: String,
    pub escalate: bool,
    pub allow_self: bool,
    pub fallback: String,
    pub fallback_account: String,
    pub skip_reason: String,
    /// Field or section key → hidden / readonly / editable ("" = the default).
    pub perms: BTreeMap<String, String>,
    pub branches: Vec<BranchForm>,
    pub default: String,
    pub targets: Vec<String>,
}

pub fn kind_code(k: &NodeKind) -> &'static str {
    match k {
        NodeKind::Start { .. } => "start",
        NodeKind::Approval { .. } => "approval",
        NodeKind::Cc { .. } => "cc",
        NodeKind::Condition { .. } => "condition",
        NodeKind::Parallel { .. } => "parallel",
        NodeKind::Join { .. } => "join",
        NodeKind::End => "end",
    }
}

pub fn op_code(c: &Cond) -> &'static str {
    match c {
        Cond::All { .. } => "all",
        Cond::Any { .. } => "any",
        Cond::Eq { .. } => "eq",
        Cond::Ne { .. } => "ne",
        Cond::Gt { .. } => "gt",
        Cond::Ge { .. } => "ge",
        Cond::Lt { .. } => "lt",
        Cond::Le { .. } => "le",
        Cond::In { .. } => "in",
        Cond::Empty { .. } => "empty",
        Cond::NotEmpty { .. } => "not_empty",
    }
}

/// (code, label) of the operators, for the select.
pub const OPS: [(&str, &str); 9] = [
    ("eq", "="),
    ("ne", "≠"),
    ("gt", ">"),
    ("ge", "≥"),
    ("lt", "<"),
    ("le", "≤"),
    ("in", "属于"),
    ("empty", "为空"),
    ("not_empty", "不为空"),
];

fn access_code(a: FieldAccess) -> &'static str {
    match a {
        FieldAccess::Hidden => "hidden",
        FieldAccess::Readonly => "readonly",
        FieldAccess::Editable => "editable",
    }
}

/// A simple comparison as one row, or `None`.
fn row(c: &Cond) -> Option<CondRow> {
    let (field, value) = match c {
        Cond::Eq { field, value }
        | Cond::Ne { field, value }
        | Cond::Gt { field, value }
        | Cond::Ge { field, value }
        | Cond::Lt { field, value }
        | Cond::Le { field, value } => (field, check::value_text(value)),
        Cond::In { field, values } => (
            field,
            values
                .iter()
                .map(check::value_text)
                .collect::<Vec<_>>()
                .join("、"),
        ),
        Cond::Empty { field } | Cond::NotEmpty { field } => (field, String::new()),
        Cond::All { .. } | Cond::Any { .. } => return None,
    };
    Some(CondRow {
        field: field.clone(),
        op: op_code(c).into(),
        value,
    })
}

fn branch_form(b: &Branch) -> BranchForm {
    let mut f = BranchForm {
        name: b.name.clone(),
        combine: "all".into(),
        next: b.next.clone(),
        ..Default::default()
    };
    match &b.when {
        Cond::All { of } | Cond::Any { of } => {
            let rows: Option<Vec<CondRow>> = of.iter().map(row).collect();
            match rows {
                Some(rows) if !rows.is_empty() => {
                    f.combine = op_code(&b.when).into();
                    f.conds = rows;
                }
                _ => f.raw = serde_json::to_string(&b.when).unwrap_or_default(),
            }
        }
        c => f.conds = row(c).into_iter().collect(),
    }
    f
}

impl NodeForm {
    /// The editor of a stored node (the start node also carries the applicant's fields).
    pub fn from_node(n: &Node, def: &Definition) -> NodeForm {
        let mut f = NodeForm {
            id: n.id.clone(),
            kind: kind_code(&n.kind),
            name: n.name.clone(),
            rule: "dept_head".into(),
            scope: "global".into(),
            levels_up: "0".into(),
            mode: "any".into(),
            fallback: "skip".into(),
            ..Default::default()
        };
        let rule = |f: &mut NodeForm, r: &ApproverRule| match r {
            ApproverRule::Users { accounts } => {
                f.rule = "users".into();
                f.accounts = accounts.join("、");
            }
            ApproverRule::Role { role, scope } => {
                f.rule = "role".into();
                f.role = role.clone();
                f.scope = scope_code(*scope).into();
            }
            ApproverRule::DeptHead { levels_up } => {
                f.rule = "dept_head".into();
                f.levels_up = levels_up.to_string();
            }
            ApproverRule::FormField { field } => {
                f.rule = "form_field".into();
                f.field = field.clone();
            }
            ApproverRule::Applicant => f.rule = "applicant".into(),
        };
        match &n.kind {
            NodeKind::Start { next } => {
                f.next = next.clone();
                f.perms = perms(&def.applicant_fields);
            }
            NodeKind::Approval {
                approvers,
                mode,
                fallback,
                allow_self,
                comment_required,
                time_limit_hours,
                escalate,
                fields,
                next,
            } => {
                rule(&mut f, approvers);
                f.mode = match mode {
                    Mode::Any => "any",
                    Mode::All => "all",
                    Mode::Sequential => "sequential",
                }
                .into();
                match fallback {
                    Fallback::Skip { reason } => f.skip_reason = reason.clone(),
                    Fallback::User { account } => {
                        f.fallback = "user".into();
                        f.fallback_account = account.clone();
                    }
                    Fallback::ServiceAdmins => f.fallback = "service_admins".into(),
                }
                f.allow_self = *allow_self;
                f.comment_required = *comment_required;
                f.time_limit = time_limit_hours.map(|h| h.to_string()).unwrap_or_default();
                f.escalate = *escalate;
                f.perms = perms(fields);
                f.next = next.clone();
            }
            NodeKind::Cc { approvers, next } => {
                rule(&mut f, approvers);
                f.next = next.clone();
            }
            NodeKind::Condition { branches, default } => {
                f.branches = branches.iter().map(branch_form).collect();
                f.default = default.clone();
            }
            NodeKind::Parallel { branches } => f.targets = branches.clone(),
            NodeKind::Join { next } => f.next = next.clone(),
            NodeKind::End => {}
        }
        f
    }

    /// The posted editor of stored node `n` (its id and kind are the stored ones).
    pub fn from_post(n: &Node, pairs: &[(String, String)]) -> NodeForm {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let on = |k: &str| pairs.iter().any(|(name, v)| name == k && v == "1");
        let count = |k: &str, max: usize| get(k).parse::<usize>().unwrap_or(0).min(max);
        let mut f = NodeForm {
            id: n.id.clone(),
            kind: kind_code(&n.kind),
            name: get("name"),
            next: get("next"),
            rule: get("rule"),
            role: get("role"),
            scope: get("scope"),
            levels_up: get("levels_up"),
            field: get("field"),
            accounts: get("accounts"),
            mode: get("mode"),
            comment_required: on("comment_required"),
            time_limit: get("time_limit"),
            escalate: on("escalate"),
            allow_self: on("allow_self"),
            fallback: get("fallback"),
            fallback_account: get("fallback_account"),
            skip_reason: get("skip_reason"),
            perms: pairs
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("perm.").map(|k| (k.to_owned(), v.clone())))
                .collect(),
            default: get("default"),
            ..Default::default()
        };
        for i in 0..count("branches", MAX_BRANCHES) {
            let p = format!("b.{i}.");
            f.branches.push(BranchForm {
                name: get(&format!("{p}name")),
                combine: get(&format!("{p}combine")),
                next: get(&format!("{p}next")),
                raw: get(&format!("{p}raw")),
                conds: (0..count(&format!("{p}conds"), MAX_CONDS))
                    .map(|j| CondRow {
                        field: get(&format!("{p}c.{j}.field")),
                        op: get(&format!("{p}c.{j}.op")),
                        value: get(&format!("{p}c.{j}.value")),
                    })
                    .collect(),
            });
        }
        f.targets = (0..count("targets", MAX_BRANCHES))
            .map(|i| get(&format!("t.{i}")))
            .collect();
        f
    }

    /// The editor's own buttons: add or remove a branch, a condition, a parallel branch.
    /// Returns whether `act` was one of them (the node is saved as it stands either way).
    pub fn apply_button(&mut self, act: &str) -> bool {
        let idx = |s: &str| s.parse::<usize>().ok();
        if act == "add_branch" && self.branches.len() < MAX_BRANCHES {
            self.branches.push(BranchForm {
                combine: "all".into(),
                conds: vec![CondRow {
                    op: "eq".into(),
                    ..Default::default()
                }],
                next: self.default.clone(),
                ..Default::default()
            });
        } else if let Some(i) = act.strip_prefix("del_branch.").and_then(idx) {
            if i < self.branches.len() {
                self.branches.remove(i);
            }
        } else if let Some(i) = act.strip_prefix("add_cond.").and_then(idx) {
            if let Some(b) = self.branches.get_mut(i)
                && b.conds.len() < MAX_CONDS
                && b.raw.is_empty()
            {
                b.conds.push(CondRow {
                    op: "eq".into(),
                    ..Default::default()
                });
            }
        } else if let Some((i, j)) = act
            .strip_prefix("del_cond.")
            .and_then(|r| r.split_once('.'))
            .and_then(|(i, j)| Some((idx(i)?, idx(j)?)))
        {
            if let Some(b) = self.branches.get_mut(i)
                && j < b.conds.len()
            {
                b.conds.remove(j);
            }
        } else if act == "add_target" && self.targets.len() < MAX_BRANCHES {
            self.targets.push(String::new());
        } else if let Some(i) = act.strip_prefix("del_target.").and_then(idx) {
            if i < self.targets.len() {
                self.targets.remove(i);
            }
        } else {
            return false;
        }
        true
    }

    /// Every account the form names (指定人员, the fallback's person) with the key of the
    /// field to report a problem at, for the caller to look up.
    pub fn accounts(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if matches!(self.kind, "approval" | "cc") && self.rule == "users" {
            out.extend(
                split_accounts(&self.accounts)
                    .into_iter()
                    .map(|a| ("accounts", a)),
            );
        }
        if self.kind == "approval" && self.fallback == "user" && !self.fallback_account.is_empty() {
            out.push(("fallback_account", self.fallback_account.clone()));
        }
        out
    }

    /// The node as edited (and, for the start node, the applicant's field rules), or a
    /// message per field.
    pub fn build(
        &self,
        def: &Definition,
        form: &FormSchema,
        roles: &[String],
    ) -> Result<(Node, Option<BTreeMap<String, FieldAccess>>), BTreeMap<String, String>> {
        let mut errs = BTreeMap::new();
        let mut err = |k: &str, m: String| {
            errs.entry(k.to_owned()).or_insert(m);
        };
        let name = self.name.trim();
        if name.is_empty() {
            err("name", "请填写节点名称".into());
        } else if name.chars().count() > MAX_NAME {
            err("name", format!("节点名称不超过 {MAX_NAME} 个字"));
        }
        let target = |k: &str, v: &str, err: &mut dyn FnMut(&str, String)| {
            if v.is_empty() || def.node(v).is_none() {
                err(k, "请选择下一节点".into());
            } else if v == self.id {
                err(k, "节点不能指向自己".into());
            }
            v.to_owned()
        };
        let mut applicant_fields = None;
        let kind = match self.kind {
            "start" => {
                applicant_fields = Some(self.access_map(def, form));
                NodeKind::Start {
                    next: target("next", &self.next, &mut err),
                }
            }
            "approval" => {
                let approvers = self.rule(form, roles, &mut err);
                let time_limit_hours = match self.time_limit.as_str() {
                    "" => None,
                    t => match t.parse::<u32>() {
                        Ok(h) if (1..=MAX_HOURS).contains(&h) => Some(h),
                        _ => {
                            err(
                                "time_limit",
                                format!("时限须为 1–{MAX_HOURS} 的整数（小时），不限时请留空"),
                            );
                            None
                        }
                    },
                };
                if self.escalate && self.time_limit.is_empty() {
                    err("escalate", "超时提醒部门负责人需要先填写时限".into());
                }
                let fallback = match self.fallback.as_str() {
                    "user" => {
                        if self.fallback_account.is_empty() {
                            err("fallback_account", "请填写兜底审批人的学号/工号".into());
                        }
                        Fallback::User {
                            account: self.fallback_account.clone(),
                        }
                    }
                    "service_admins" => Fallback::ServiceAdmins,
                    _ => {
                        if self.skip_reason.chars().count() > MAX_TEXT {
                            err("skip_reason", format!("理由不超过 {MAX_TEXT} 个字"));
                        }
                        Fallback::Skip {
                            reason: self.skip_reason.clone(),
                        }
                    }
                };
                NodeKind::Approval {
                    approvers,
                    mode: match self.mode.as_str() {
                        "all" => Mode::All,
                        "sequential" => Mode::Sequential,
                        _ => Mode::Any,
                    },
                    fallback,
                    allow_self: self.allow_self,
                    comment_required: self.comment_required,
                    time_limit_hours,
                    escalate: self.escalate,
                    fields: self.access_map(def, form),
                    next: target("next", &self.next, &mut err),
                }
            }
            "cc" => NodeKind::Cc {
                approvers: self.rule(form, roles, &mut err),
                next: target("next", &self.next, &mut err),
            },
            "condition" => {
                let mut branches = Vec::new();
                for (i, b) in self.branches.iter().enumerate() {
                    let k = format!("b.{i}");
                    if b.name.chars().count() > MAX_NAME {
                        err(
                            &format!("{k}.name"),
                            format!("分支名称不超过 {MAX_NAME} 个字"),
                        );
                    }
                    let when = self.cond(i, b, form, &mut err);
                    branches.push(Branch {
                        name: b.name.clone(),
                        when,
                        next: target(&format!("{k}.next"), &b.next, &mut err),
                    });
                }
                NodeKind::Condition {
                    branches,
                    default: target("default", &self.default, &mut err),
                }
            }
            "parallel" => {
                if self.targets.is_empty() {
                    err("targets", "并行节点至少需要一个分支".into());
                }
                NodeKind::Parallel {
                    branches: self
                        .targets
                        .iter()
                        .enumerate()
                        .map(|(i, t)| target(&format!("t.{i}"), t, &mut err))
                        .collect(),
                }
            }
            "join" => NodeKind::Join {
                next: target("next", &self.next, &mut err),
            },
            _ => NodeKind::End,
        };
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok((
            Node {
                id: self.id.clone(),
                name: name.to_owned(),
                kind,
            },
            applicant_fields,
        ))
    }

    /// The field rules as chosen: keys of the form (and keys already there, so a rule on
    /// a field since removed is kept until cleared); the default is left out.
    fn access_map(&self, def: &Definition, form: &FormSchema) -> BTreeMap<String, FieldAccess> {
        let existing = match def.node(&self.id).map(|n| &n.kind) {
            Some(NodeKind::Start { .. }) => Some(&def.applicant_fields),
            Some(NodeKind::Approval { fields, .. }) => Some(fields),
            _ => None,
        };
        self.perms
            .iter()
            .filter(|(k, _)| {
                form.fields.iter().any(|f| &f.key == *k)
                    || existing.is_some_and(|e| e.contains_key(*k))
            })
            .filter_map(|(k, v)| {
                let a = match v.as_str() {
                    "hidden" => FieldAccess::Hidden,
                    "readonly" => FieldAccess::Readonly,
                    "editable" => FieldAccess::Editable,
                    _ => return None,
                };
                Some((k.clone(), a))
            })
            .collect()
    }

    fn rule(
        &self,
        form: &FormSchema,
        roles: &[String],
        err: &mut dyn FnMut(&str, String),
    ) -> ApproverRule {
        match self.rule.as_str() {
            "role" => {
                if !roles.contains(&self.role) {
                    err("role", "请选择角色".into());
                }
                ApproverRule::Role {
                    role: self.role.clone(),
                    scope: match self.scope.as_str() {
                        "applicant_department" => RoleScope::ApplicantDepartment,
                        "applicant_college" => RoleScope::ApplicantCollege,
                        _ => RoleScope::Global,
                    },
                }
            }
            "form_field" => {
                let ok = form
                    .fields
                    .iter()
                    .any(|f| f.key == self.field && f.kind == FieldKind::Person);
                if !ok {
                    err(
                        "field",
                        if form.fields.iter().any(|f| f.kind == FieldKind::Person) {
                            "请选择表单中的人员字段".into()
                        } else {
                            "表单中没有人员字段，请先在“表单设计”中添加".into()
                        },
                    );
                }
                ApproverRule::FormField {
                    field: self.field.clone(),
                }
            }
            "users" => {
                let accounts = split_accounts(&self.accounts);
                if accounts.is_empty() {
                    err("accounts", "请填写审批人的学号/工号".into());
                } else if accounts.len() > MAX_ACCOUNTS {
                    err("accounts", format!("最多指定 {MAX_ACCOUNTS} 人"));
                } else if accounts.iter().any(|a| a.chars().count() > 32) {
                    err("accounts", "学号/工号过长".into());
                }
                ApproverRule::Users { accounts }
            }
            "applicant" => ApproverRule::Applicant,
            _ => match self.levels_up.parse::<u32>() {
                Ok(levels_up) if levels_up <= MAX_LEVELS => ApproverRule::DeptHead { levels_up },
                _ => {
                    err(
                        "levels_up",
                        format!("请填写 0–{MAX_LEVELS} 的整数（0 为申请人所在部门）"),
                    );
                    ApproverRule::DeptHead { levels_up: 0 }
                }
            },
        }
    }

    /// Branch `i`'s condition, each row typed by its field and checked like before
    /// publishing.
    fn cond(
        &self,
        i: usize,
        b: &BranchForm,
        form: &FormSchema,
        err: &mut dyn FnMut(&str, String),
    ) -> Cond {
        let k = format!("b.{i}");
        if b.conds.is_empty() {
            if b.raw.is_empty() {
                err(&format!("{k}.conds"), "请至少添加一个条件".into());
                return Cond::All { of: vec![] };
            }
            if b.raw.len() > MAX_RAW {
                err(&format!("{k}.conds"), "条件过长".into());
                return Cond::All { of: vec![] };
            }
            return match serde_json::from_str::<Cond>(&b.raw) {
                Ok(c) => c,
                Err(_) => {
                    err(
                        &format!("{k}.conds"),
                        "条件无法读取，请删除此分支后重新添加".into(),
                    );
                    Cond::All { of: vec![] }
                }
            };
        }
        let mut of = Vec::new();
        for (j, r) in b.conds.iter().enumerate() {
            let rk = format!("{k}.c.{j}");
            if r.value.chars().count() > MAX_TEXT {
                err(
                    &format!("{rk}.value"),
                    format!("比较值不超过 {MAX_TEXT} 个字"),
                );
            }
            let field = form.fields.iter().find(|f| f.key == r.field);
            let typed = |v: &str| -> Value {
                match field.map(|f| f.kind) {
                    Some(FieldKind::Number | FieldKind::Money) => match v.parse::<f64>() {
                        Ok(n) if n.fract() == 0.0 && n.abs() < 1e15 => Value::from(n as i64),
                        Ok(n) => serde_json::Number::from_f64(n)
                            .map(Value::Number)
                            .unwrap_or_else(|| Value::String(v.into())),
                        Err(_) => Value::String(v.into()),
                    },
                    Some(FieldKind::Datetime) => Value::String(v.replacen(' ', "T", 1)),
                    _ => Value::String(v.into()),
                }
            };
            let field_key = r.field.clone();
            let c = match r.op.as_str() {
                "ne" => Cond::Ne {
                    field: field_key,
                    value: typed(&r.value),
                },
                "gt" => Cond::Gt {
                    field: field_key,
                    value: typed(&r.value),
                },
                "ge" => Cond::Ge {
                    field: field_key,
                    value: typed(&r.value),
                },
                "lt" => Cond::Lt {
                    field: field_key,
                    value: typed(&r.value),
                },
                "le" => Cond::Le {
                    field: field_key,
                    value: typed(&r.value),
                },
                "in" => Cond::In {
                    field: field_key,
                    values: r
                        .value
                        .split(['、', ',', '，', ';', '；', '\n'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(typed)
                        .collect(),
                },
                "empty" => Cond::Empty { field: field_key },
                "not_empty" => Cond::NotEmpty { field: field_key },
                _ => Cond::Eq {
                    field: field_key,
                    value: typed(&r.value),
                },
            };
            if let Some(p) = check::cond_problems(&c, form).into_iter().next() {
                let at = if field.is_none() || p.contains("不能用") || p.contains("只能判断")
                {
                    format!("{rk}.field")
                } else {
                    format!("{rk}.value")
                };
                err(&at, p);
            }
            of.push(c);
        }
        if of.len() == 1 {
            of.pop().expect("one")
        } else if b.combine == "any" {
            Cond::Any { of }
        } else {
            Cond::All { of }
        }
    }
}

fn scope_code(s: RoleScope) -> &'static str {
    match s {
        RoleScope::Global => "global",
        RoleScope::ApplicantDepartment => "applicant_department",
        RoleScope::ApplicantCollege => "applicant_college",
    }
}

fn perms(map: &BTreeMap<String, FieldAccess>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, a)| (k.clone(), access_code(*a).to_owned()))
        .collect()
}

/// `T2001、T2002 T2003` → the accounts, without duplicates.
pub fn split_accounts(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in s.split(|c: char| c.is_whitespace() || "、,，;；".contains(c)) {
        if !a.is_empty() && !out.iter().any(|x| x == a) {
            out.push(a.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests;
