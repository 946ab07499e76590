//! The node editor: a node as the form shows it (text as typed, so a refused save shows
//! everything again), the posted form read back, the editor's own buttons (添加分支,
//! 删除条件 …), and the node built from it, with a message per field.

use std::collections::BTreeMap;

use crate::{
    forms::FieldAccess,
    workflow::{
        check,
        model::{
            ApproverRule, Branch, Cond, Definition, Fallback, Mode, Node, NodeKind, RoleScope,
        },
    },
};

/// Limits on what one editor post may hold.
pub const MAX_NAME: usize = 40;
pub(super) const MAX_TEXT: usize = 200;
pub(super) const MAX_RAW: usize = 4000;
pub const MAX_BRANCHES: usize = 20;
pub const MAX_CONDS: usize = 10;
pub(super) const MAX_ACCOUNTS: usize = 20;
pub(super) const MAX_HOURS: u32 = 720;
pub(super) const MAX_LEVELS: u32 = 5;

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
    pub signature: bool,
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
                signature,
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
                f.signature = *signature;
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
            signature: on("signature"),
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

mod build;

#[cfg(test)]
mod tests;
