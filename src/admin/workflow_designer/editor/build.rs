//! The node built from its editor: every value checked, a message per field.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    BranchForm, MAX_ACCOUNTS, MAX_HOURS, MAX_LEVELS, MAX_NAME, MAX_RAW, MAX_TEXT, NodeForm,
    split_accounts,
};
use crate::{
    forms::{FieldAccess, FieldKind, FormSchema},
    workflow::{
        check,
        model::{
            ApproverRule, Branch, Cond, Definition, Fallback, Mode, Node, NodeKind, RoleScope,
        },
    },
};

/// The node as edited, with the applicant's field rules for the start node.
pub type Built = (Node, Option<BTreeMap<String, FieldAccess>>);

impl NodeForm {
    /// The node as edited (and, for the start node, the applicant's field rules), or a
    /// message per field.
    pub fn build(
        &self,
        def: &Definition,
        form: &FormSchema,
        roles: &[String],
    ) -> Result<Built, BTreeMap<String, String>> {
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
                    signature: self.signature,
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
