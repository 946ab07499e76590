//! What the designer page shows: a card per node (what it does, where it leads, its
//! problems) and the open node's editor, every value precomputed for the template.

use std::collections::BTreeMap;

use super::{
    edit,
    editor::{MAX_BRANCHES, MAX_CONDS, NodeForm, OPS},
};
use crate::{
    forms::{FieldAccess, FieldKind, FormSchema},
    workflow::{
        check::{self, branch_name, cond_text, fallback_text, rule_text},
        model::{ApproverRule, Cond, Definition, Mode, Node, NodeKind},
    },
};

/// Names for what a definition refers to: roles by code, people by account.
pub struct Names {
    pub roles: BTreeMap<String, String>,
    /// account → (姓名（账号）, active)
    pub people: BTreeMap<String, (String, bool)>,
}

impl Names {
    pub fn role(&self, code: &str) -> String {
        self.roles
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_owned())
    }

    fn person(&self, account: &str) -> String {
        match self.people.get(account) {
            Some((label, true)) => label.clone(),
            Some((label, false)) => format!("{label}（不可用）"),
            None => format!("{account}（不存在）"),
        }
    }

    fn rule(&self, r: &ApproverRule, form: &FormSchema) -> String {
        match r {
            ApproverRule::Users { accounts } => format!(
                "指定人员：{}",
                accounts
                    .iter()
                    .map(|a| self.person(a))
                    .collect::<Vec<_>>()
                    .join("、")
            ),
            r => rule_text(r, form, &|c| self.role(c)),
        }
    }
}

pub struct NodeCard {
    pub id: String,
    pub name: String,
    /// 审批 / 条件 …
    pub kind: &'static str,
    /// approval / condition …
    pub code: &'static str,
    pub lines: Vec<String>,
    /// The `next` of a node that has exactly one, for the quick select.
    pub next: Option<String>,
    /// Where a node may be inserted: (edge, label).
    pub edges: Vec<(String, String)>,
    pub problems: Vec<String>,
}

fn short_kind(k: &NodeKind) -> &'static str {
    match k {
        NodeKind::Start { .. } => "开始",
        NodeKind::Approval { .. } => "审批",
        NodeKind::Cc { .. } => "抄送",
        NodeKind::Condition { .. } => "条件",
        NodeKind::Parallel { .. } => "并行",
        NodeKind::Join { .. } => "汇聚",
        NodeKind::End => "结束",
    }
}

fn mode_label(m: Mode) -> &'static str {
    match m {
        Mode::Any => "或签（一人通过即可）",
        Mode::All => "会签（全部通过）",
        Mode::Sequential => "依次审批（按顺序）",
    }
}

fn access_label(a: FieldAccess) -> &'static str {
    match a {
        FieldAccess::Hidden => "隐藏",
        FieldAccess::Readonly => "只读",
        FieldAccess::Editable => "可编辑",
    }
}

fn field_rules(map: &BTreeMap<String, FieldAccess>, form: &FormSchema) -> String {
    map.iter()
        .map(|(k, a)| {
            let label = form
                .fields
                .iter()
                .find(|f| &f.key == k)
                .map_or(k.as_str(), |f| f.label.as_str());
            format!("{label} {}", access_label(*a))
        })
        .collect::<Vec<_>>()
        .join("、")
}

/// `“学院副书记审批”（deputy）`, or the id of a node that is not there.
pub fn target_label(def: &Definition, id: &str) -> String {
    match def.node(id) {
        Some(n) => format!("{}（{}）", n.name, n.id),
        None if id.is_empty() => "（未指定）".into(),
        None => format!("{id}（不存在）"),
    }
}

pub fn card(
    def: &Definition,
    n: &Node,
    form: &FormSchema,
    names: &Names,
    problems: &[String],
) -> NodeCard {
    let to = |id: &str| target_label(def, id);
    let mut lines = Vec::new();
    let mut next = None;
    match &n.kind {
        NodeKind::Start { next: x } => {
            if !def.applicant_fields.is_empty() {
                lines.push(format!(
                    "申请人字段权限：{}",
                    field_rules(&def.applicant_fields, form)
                ));
            }
            lines.push(format!("下一节点：{}", to(x)));
            next = Some(x.clone());
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
            next: x,
        } => {
            lines.push(format!("审批人：{}", names.rule(approvers, form)));
            lines.push(format!("办理方式：{}", mode_label(*mode)));
            lines.push(format!("无人匹配时：{}", fallback_text(fallback)));
            if let Some(h) = time_limit_hours {
                lines.push(format!(
                    "时限 {h} 小时{}",
                    if *escalate {
                        "，超时提醒部门负责人"
                    } else {
                        ""
                    }
                ));
            }
            if *comment_required {
                lines.push("审批意见必填".into());
            }
            if *signature {
                lines.push("通过时须手写签名".into());
            }
            if *allow_self {
                lines.push("允许申请人审批自己的申请".into());
            }
            if !fields.is_empty() {
                lines.push(format!("字段权限：{}", field_rules(fields, form)));
            }
            lines.push(format!("下一节点：{}", to(x)));
            next = Some(x.clone());
        }
        NodeKind::Cc { approvers, next: x } => {
            lines.push(format!("抄送：{}", names.rule(approvers, form)));
            lines.push(format!("下一节点：{}", to(x)));
            next = Some(x.clone());
        }
        NodeKind::Condition { branches, default } => {
            for (i, b) in branches.iter().enumerate() {
                lines.push(format!(
                    "分支“{}”：{} → {}",
                    branch_name(&b.name, i),
                    cond_text(&b.when, form),
                    to(&b.next)
                ));
            }
            lines.push(format!("默认（以上都不成立）→ {}", to(default)));
        }
        NodeKind::Parallel { branches } => {
            lines.push(format!(
                "同时进入：{}",
                branches
                    .iter()
                    .map(|b| to(b))
                    .collect::<Vec<_>>()
                    .join("、")
            ));
        }
        NodeKind::Join { next: x } => {
            lines.push("等所有并行分支都到达后继续".into());
            lines.push(format!("下一节点：{}", to(x)));
            next = Some(x.clone());
        }
        NodeKind::End => lines.push("流程在此办结".into()),
    }
    let tag = format!("（{}）", n.id);
    NodeCard {
        id: n.id.clone(),
        name: n.name.clone(),
        kind: short_kind(&n.kind),
        code: super::editor::kind_code(&n.kind),
        lines,
        next,
        edges: edit::edges(n),
        problems: problems
            .iter()
            .filter(|p| p.contains(&tag))
            .cloned()
            .collect(),
    }
}

pub struct RowView {
    pub j: usize,
    pub field: String,
    pub op: String,
    pub value: String,
    pub field_err: String,
    pub value_err: String,
    /// The datalist of the field's options (select / radio), or "".
    pub list: String,
}

pub struct BranchView {
    pub i: usize,
    pub name: String,
    pub combine: String,
    pub next: String,
    pub raw: String,
    /// The kept nested condition in words.
    pub raw_text: String,
    pub rows: Vec<RowView>,
    pub name_err: String,
    pub next_err: String,
    pub conds_err: String,
    pub can_add_cond: bool,
}

pub struct TargetView {
    pub i: usize,
    pub to: String,
    pub err: String,
}

pub struct PermRow {
    pub key: String,
    pub label: String,
    /// 分节 / 说明 / the field's type
    pub what: &'static str,
    pub section: bool,
    pub value: String,
    /// Set on a key the form no longer has.
    pub missing: bool,
}

pub struct ChoiceList {
    pub id: String,
    pub options: Vec<String>,
}

/// The open node's editor.
pub struct EditorView {
    pub f: NodeForm,
    pub errors: BTreeMap<String, String>,
    pub roles: Vec<(String, String)>,
    pub person_fields: Vec<(String, String)>,
    /// Fields a condition may test: (key, 标签（类型）).
    pub cond_fields: Vec<(String, String)>,
    pub ops: Vec<(&'static str, &'static str)>,
    pub lists: Vec<ChoiceList>,
    pub branches: Vec<BranchView>,
    pub targets: Vec<TargetView>,
    pub perm_rows: Vec<PermRow>,
    /// 只读 for approvers, 可编辑 for the applicant.
    pub perm_default: &'static str,
    pub can_add_branch: bool,
}

impl EditorView {
    /// The message for field `k`, or "".
    pub fn err(&self, k: &str) -> &str {
        self.errors.get(k).map_or("", String::as_str)
    }
}

fn kind_label(k: FieldKind) -> &'static str {
    match k {
        FieldKind::Text => "文本",
        FieldKind::Textarea => "多行文本",
        FieldKind::Number => "数字",
        FieldKind::Money => "金额",
        FieldKind::Date => "日期",
        FieldKind::Datetime => "日期时间",
        FieldKind::DateRange => "日期范围",
        FieldKind::Select => "下拉选择",
        FieldKind::Radio => "单选",
        FieldKind::Checkboxes => "多选",
        FieldKind::Phone => "手机号",
        FieldKind::Email => "邮箱",
        FieldKind::IdCard => "身份证号",
        FieldKind::Person => "人员",
        FieldKind::Department => "部门",
        FieldKind::Attachments => "附件",
        FieldKind::Table => "子表",
        FieldKind::Section => "分节",
        FieldKind::Static => "说明",
    }
}

pub fn editor(
    f: NodeForm,
    errors: BTreeMap<String, String>,
    form: &FormSchema,
    names: &Names,
) -> EditorView {
    let err = |k: String| errors.get(&k).cloned().unwrap_or_default();
    let choice = |key: &str| {
        form.fields
            .iter()
            .find(|x| x.key == key && matches!(x.kind, FieldKind::Select | FieldKind::Radio))
            .map(|x| format!("opts-{}", x.key))
            .unwrap_or_default()
    };
    let branches = f
        .branches
        .iter()
        .enumerate()
        .map(|(i, b)| BranchView {
            i,
            name: b.name.clone(),
            combine: b.combine.clone(),
            next: b.next.clone(),
            raw: b.raw.clone(),
            raw_text: serde_json::from_str::<Cond>(&b.raw)
                .map(|c| cond_text(&c, form))
                .unwrap_or_default(),
            rows: b
                .conds
                .iter()
                .enumerate()
                .map(|(j, r)| RowView {
                    j,
                    field: r.field.clone(),
                    op: r.op.clone(),
                    value: r.value.clone(),
                    field_err: err(format!("b.{i}.c.{j}.field")),
                    value_err: err(format!("b.{i}.c.{j}.value")),
                    list: choice(&r.field),
                })
                .collect(),
            name_err: err(format!("b.{i}.name")),
            next_err: err(format!("b.{i}.next")),
            conds_err: err(format!("b.{i}.conds")),
            can_add_cond: b.raw.is_empty() && b.conds.len() < MAX_CONDS,
        })
        .collect();
    let targets = f
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| TargetView {
            i,
            to: t.clone(),
            err: err(format!("t.{i}")),
        })
        .collect();
    let mut perm_rows: Vec<PermRow> = form
        .fields
        .iter()
        .map(|x| PermRow {
            key: x.key.clone(),
            label: if x.label.is_empty() {
                x.key.clone()
            } else {
                x.label.clone()
            },
            what: kind_label(x.kind),
            section: x.kind == FieldKind::Section,
            value: f.perms.get(&x.key).cloned().unwrap_or_default(),
            missing: false,
        })
        .collect();
    for (k, v) in &f.perms {
        if !form.fields.iter().any(|x| &x.key == k) && !v.is_empty() {
            perm_rows.push(PermRow {
                key: k.clone(),
                label: k.clone(),
                what: "已不在表单中",
                section: false,
                value: v.clone(),
                missing: true,
            });
        }
    }
    EditorView {
        roles: names
            .roles
            .iter()
            .map(|(c, n)| (c.clone(), format!("{n}（{c}）")))
            .collect(),
        person_fields: form
            .fields
            .iter()
            .filter(|x| x.kind == FieldKind::Person)
            .map(|x| {
                (
                    x.key.clone(),
                    format!(
                        "{}（{}{}）",
                        x.label,
                        x.key,
                        if x.required { "，必填" } else { "" }
                    ),
                )
            })
            .collect(),
        cond_fields: form
            .fields
            .iter()
            .filter(|x| !x.kind.is_decoration())
            .map(|x| {
                (
                    x.key.clone(),
                    format!("{}（{}）", x.label, kind_label(x.kind)),
                )
            })
            .collect(),
        ops: OPS.to_vec(),
        lists: form
            .fields
            .iter()
            .filter(|x| matches!(x.kind, FieldKind::Select | FieldKind::Radio))
            .map(|x| ChoiceList {
                id: format!("opts-{}", x.key),
                options: x.options.clone(),
            })
            .collect(),
        branches,
        targets,
        perm_rows,
        perm_default: if f.kind == "start" {
            "默认（可编辑）"
        } else {
            "默认（只读）"
        },
        can_add_branch: f.branches.len() < MAX_BRANCHES,
        f,
        errors,
    }
}

pub use check::who;
