//! Where the working copy's workflow names a form field: branch conditions, a node's
//! field permissions, the applicant's field permissions, approvers taken from a person
//! field. Renaming a field's key renames these too (the designer's choice: a rename is
//! never refused, and nothing is left pointing at the old key); deleting a field reports
//! them, since the workflow designer is where they are changed.

use std::collections::BTreeMap;

use crate::workflow::model::{ApproverRule, Cond, Definition, FieldAccess, NodeKind};

fn node_name(name: &str, id: &str) -> String {
    if name.trim().is_empty() {
        format!("节点（{id}）")
    } else {
        format!("节点“{name}”")
    }
}

fn cond_mentions(c: &Cond, key: &str) -> bool {
    let mut fields = Vec::new();
    c.fields(&mut fields);
    fields.contains(&key)
}

/// Where `key` is referred to, one line each: `节点“辅导员审批”的审批人`.
pub fn references(def: &Definition, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    if def.applicant_fields.contains_key(key) {
        out.push("申请人的字段权限".to_owned());
    }
    for n in &def.nodes {
        let name = node_name(&n.name, &n.id);
        match &n.kind {
            NodeKind::Approval {
                approvers, fields, ..
            } => {
                if matches!(approvers, ApproverRule::FormField { field } if field == key) {
                    out.push(format!("{name}的审批人"));
                }
                if fields.contains_key(key) {
                    out.push(format!("{name}的字段权限"));
                }
            }
            NodeKind::Cc { approvers, .. } => {
                if matches!(approvers, ApproverRule::FormField { field } if field == key) {
                    out.push(format!("{name}的抄送人"));
                }
            }
            NodeKind::Condition { branches, .. } => {
                for b in branches {
                    if cond_mentions(&b.when, key) {
                        let branch = if b.name.trim().is_empty() {
                            format!("通往 {} 的分支", b.next)
                        } else {
                            format!("分支“{}”", b.name)
                        };
                        out.push(format!("{name}的{branch}条件"));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn rename_in_map(map: &mut BTreeMap<String, FieldAccess>, from: &str, to: &str) -> usize {
    match map.remove(from) {
        Some(a) => {
            map.insert(to.to_owned(), a);
            1
        }
        None => 0,
    }
}

fn rename_in_cond(c: &mut Cond, from: &str, to: &str) -> usize {
    match c {
        Cond::All { of } | Cond::Any { of } => {
            of.iter_mut().map(|c| rename_in_cond(c, from, to)).sum()
        }
        Cond::Eq { field, .. }
        | Cond::Ne { field, .. }
        | Cond::Gt { field, .. }
        | Cond::Ge { field, .. }
        | Cond::Lt { field, .. }
        | Cond::Le { field, .. }
        | Cond::In { field, .. }
        | Cond::Empty { field }
        | Cond::NotEmpty { field } => {
            if field == from {
                *field = to.to_owned();
                1
            } else {
                0
            }
        }
    }
}

fn rename_in_rule(rule: &mut ApproverRule, from: &str, to: &str) -> usize {
    match rule {
        ApproverRule::FormField { field } if field == from => {
            *field = to.to_owned();
            1
        }
        _ => 0,
    }
}

/// Renames every reference to field `from` into `to`; returns how many changed.
pub fn rename(def: &mut Definition, from: &str, to: &str) -> usize {
    let mut n = rename_in_map(&mut def.applicant_fields, from, to);
    for node in &mut def.nodes {
        match &mut node.kind {
            NodeKind::Approval {
                approvers, fields, ..
            } => {
                n += rename_in_rule(approvers, from, to);
                n += rename_in_map(fields, from, to);
            }
            NodeKind::Cc { approvers, .. } => n += rename_in_rule(approvers, from, to),
            NodeKind::Condition { branches, .. } => {
                for b in branches {
                    n += rename_in_cond(&mut b.when, from, to);
                }
            }
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn leave() -> Definition {
        serde_json::from_value(json!({
            "applicant_fields": {"result": "hidden"},
            "nodes": [
                {"id": "start", "type": "start", "next": "counselor"},
                {"id": "counselor", "type": "approval", "name": "辅导员审批",
                 "approvers": {"kind": "form_field", "field": "counselor"},
                 "fields": {"result": "editable", "days": "readonly"}, "next": "check"},
                {"id": "check", "type": "condition", "name": "是否超过3天", "default": "cc",
                 "branches": [{"name": "超过3天", "when": {"op": "all", "of": [
                     {"op": "gt", "field": "days", "value": 3},
                     {"op": "not_empty", "field": "days"}]}, "next": "cc"}]},
                {"id": "cc", "type": "cc", "approvers": {"kind": "form_field", "field": "counselor"}, "next": "end"},
                {"id": "end", "type": "end"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn references_are_listed_and_renamed() {
        let mut d = leave();
        assert_eq!(
            references(&d, "days"),
            vec![
                "节点“辅导员审批”的字段权限",
                "节点“是否超过3天”的分支“超过3天”条件"
            ]
        );
        assert_eq!(
            references(&d, "counselor"),
            vec!["节点“辅导员审批”的审批人", "节点（cc）的抄送人"]
        );
        assert_eq!(references(&d, "result").len(), 2);
        assert!(references(&d, "reason").is_empty());

        assert_eq!(rename(&mut d, "days", "leave_days"), 3);
        assert_eq!(rename(&mut d, "counselor", "tutor"), 2);
        assert_eq!(rename(&mut d, "result", "outcome"), 2);
        assert!(references(&d, "days").is_empty());
        assert_eq!(references(&d, "leave_days").len(), 2);
        assert_eq!(references(&d, "tutor").len(), 2);
        assert_eq!(
            d.applicant_fields.get("outcome"),
            Some(&FieldAccess::Hidden)
        );
        // Fields are renamed, not the node that shares a field's name.
        assert!(!serde_json::to_string(&d).unwrap().contains("\"days\""));
        assert!(d.node("counselor").is_some());
        assert_eq!(rename(&mut d, "nothing", "x"), 0);
    }
}
