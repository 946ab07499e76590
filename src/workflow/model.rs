//! Workflow definitions: nodes, approver rules, modes, conditions. Stored as versioned
//! JSON; a running application keeps the version it started with.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

// Field rules belong to forms; definitions name them per node.
pub use crate::forms::FieldAccess;

pub type NodeId = String;

// Definitions are written without their defaults, so what the designers publish stores
// and exports like a hand-written package.
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Definition {
    pub nodes: Vec<Node>,
    /// Field or section access for the applicant (default: editable), e.g. the sections
    /// other departments fill at their own step are hidden or read-only here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub applicant_fields: BTreeMap<String, FieldAccess>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Node {
    pub id: NodeId,
    #[serde(default)]
    pub name: String,
    #[serde(flatten)]
    pub kind: NodeKind,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeKind {
    Start {
        next: NodeId,
    },
    Approval {
        approvers: ApproverRule,
        #[serde(default, skip_serializing_if = "is_default")]
        mode: Mode,
        #[serde(default, skip_serializing_if = "is_default")]
        fallback: Fallback,
        /// The applicant may approve their own application at this node.
        #[serde(default, skip_serializing_if = "is_default")]
        allow_self: bool,
        /// 审批意见 required for 通过.
        #[serde(default, skip_serializing_if = "is_default")]
        comment_required: bool,
        /// 通过 here takes a handwritten signature, kept with the action (result documents
        /// place it on the PDF).
        #[serde(default, skip_serializing_if = "is_default")]
        signature: bool,
        /// For reminders (notifications module).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_limit_hours: Option<u32>,
        /// Overdue tasks also notify the assignee's 部门负责人.
        #[serde(default, skip_serializing_if = "is_default")]
        escalate: bool,
        /// Field or section key → "hidden" | "readonly" | "editable" at this node.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        fields: BTreeMap<String, FieldAccess>,
        next: NodeId,
    },
    Cc {
        approvers: ApproverRule,
        next: NodeId,
    },
    Condition {
        branches: Vec<Branch>,
        default: NodeId,
    },
    Parallel {
        branches: Vec<NodeId>,
    },
    Join {
        next: NodeId,
    },
    End,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// 或签: any one decides.
    #[default]
    Any,
    /// 会签: all must approve; one 退回/中止 decides the node.
    All,
    /// 依次: one after another, in order.
    Sequential,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Any => "或签",
            Mode::All => "会签",
            Mode::Sequential => "依次审批",
        }
    }

    /// What the mode asks of the approvers, in plain words (shown where more than one
    /// person is at the node).
    pub fn plain(self) -> &'static str {
        match self {
            Mode::Any => "任一人审批即可",
            Mode::All => "需全部审批",
            Mode::Sequential => "需按顺序依次审批",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApproverRule {
    /// Named people, by account.
    Users {
        accounts: Vec<String>,
    },
    /// Holders of a role: anywhere, or scoped to the applicant's department or college.
    Role {
        role: String,
        #[serde(default, skip_serializing_if = "is_default")]
        scope: RoleScope,
    },
    /// The applicant's 部门负责人 (`levels_up` 0), or the head N levels up.
    DeptHead {
        #[serde(default, skip_serializing_if = "is_default")]
        levels_up: u32,
    },
    /// The person chosen in a person-picker form field.
    FormField {
        field: String,
    },
    Applicant,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RoleScope {
    #[default]
    Global,
    /// Holders whose scope contains the applicant's department.
    ApplicantDepartment,
    /// Holders whose scope contains the applicant's college (the top department under the school).
    ApplicantCollege,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fallback {
    /// Nobody to approve: the node is passed. Where the rule can come up empty, the
    /// checks before publishing want the reason this is acceptable.
    Skip {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    User {
        account: String,
    },
    ServiceAdmins,
}

impl Default for Fallback {
    fn default() -> Self {
        Fallback::Skip {
            reason: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Branch {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub when: Cond,
    pub next: NodeId,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Cond {
    All { of: Vec<Cond> },
    Any { of: Vec<Cond> },
    Eq { field: String, value: Value },
    Ne { field: String, value: Value },
    Gt { field: String, value: Value },
    Ge { field: String, value: Value },
    Lt { field: String, value: Value },
    Le { field: String, value: Value },
    In { field: String, values: Vec<Value> },
    Empty { field: String },
    NotEmpty { field: String },
}

/// Numbers compare as numbers (also when typed as text), ISO dates (`2026-11-21`) and
/// date-times compare as text, which orders them correctly.
fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return x.partial_cmp(&y);
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => None,
    }
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

impl Cond {
    /// The form fields this condition tests.
    pub fn fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Cond::All { of } | Cond::Any { of } => of.iter().for_each(|c| c.fields(out)),
            Cond::Eq { field, .. }
            | Cond::Ne { field, .. }
            | Cond::Gt { field, .. }
            | Cond::Ge { field, .. }
            | Cond::Lt { field, .. }
            | Cond::Le { field, .. }
            | Cond::In { field, .. }
            | Cond::Empty { field }
            | Cond::NotEmpty { field } => out.push(field),
        }
    }

    pub fn eval(&self, form: &Value) -> bool {
        use std::cmp::Ordering::*;
        let get = |f: &str| form.get(f);
        let cmp = |f: &str, v: &Value| get(f).and_then(|x| compare(x, v));
        match self {
            Cond::All { of } => of.iter().all(|c| c.eval(form)),
            Cond::Any { of } => of.iter().any(|c| c.eval(form)),
            Cond::Eq { field, value } => {
                cmp(field, value) == Some(Equal) || get(field) == Some(value)
            }
            Cond::Ne { field, value } => {
                !(cmp(field, value) == Some(Equal) || get(field) == Some(value))
            }
            Cond::Gt { field, value } => cmp(field, value) == Some(Greater),
            Cond::Ge { field, value } => matches!(cmp(field, value), Some(Greater | Equal)),
            Cond::Lt { field, value } => cmp(field, value) == Some(Less),
            Cond::Le { field, value } => matches!(cmp(field, value), Some(Less | Equal)),
            Cond::In { field, values } => get(field).is_some_and(|x| {
                values
                    .iter()
                    .any(|v| compare(x, v) == Some(Equal) || x == v)
            }),
            Cond::Empty { field } => is_empty(get(field)),
            Cond::NotEmpty { field } => !is_empty(get(field)),
        }
    }
}

impl Definition {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn start(&self) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| matches!(n.kind, NodeKind::Start { .. }))
    }

    pub fn successors(&self, id: &str) -> Vec<&str> {
        match self.node(id).map(|n| &n.kind) {
            Some(NodeKind::Start { next })
            | Some(NodeKind::Approval { next, .. })
            | Some(NodeKind::Cc { next, .. })
            | Some(NodeKind::Join { next }) => vec![next.as_str()],
            Some(NodeKind::Condition { branches, default }) => branches
                .iter()
                .map(|b| b.next.as_str())
                .chain(std::iter::once(default.as_str()))
                .collect(),
            Some(NodeKind::Parallel { branches }) => branches.iter().map(String::as_str).collect(),
            Some(NodeKind::End) | None => Vec::new(),
        }
    }

    /// How many edges lead into a node (a join waits for all of them).
    pub fn incoming(&self, id: &str) -> usize {
        self.nodes
            .iter()
            .map(|n| {
                self.successors(&n.id)
                    .into_iter()
                    .filter(|s| *s == id)
                    .count()
            })
            .sum()
    }

    /// Structural checks when a definition is saved: one start, at least one end, unique
    /// ids, every edge to an existing node, every node reachable, no cycles, parallel
    /// branches joined.
    /// The smallest workflow: 开始 → 结束 (a new service's first draft).
    pub fn minimal() -> Definition {
        Definition {
            nodes: vec![
                Node {
                    id: "start".into(),
                    name: "开始".into(),
                    kind: NodeKind::Start { next: "end".into() },
                },
                Node {
                    id: "end".into(),
                    name: "结束".into(),
                    kind: NodeKind::End,
                },
            ],
            applicant_fields: Default::default(),
        }
    }

    /// Every problem of the definition against the form it goes with, each naming its
    /// node; empty when it may be published (`check.rs`).
    pub fn problems(&self, form: &crate::forms::FormSchema) -> Vec<String> {
        super::check::problems(self, form)
    }

    pub fn validate(&self) -> Result<(), String> {
        let mut ids = BTreeSet::new();
        for n in &self.nodes {
            if n.id.trim().is_empty() {
                return Err("节点标识不能为空".into());
            }
            if !ids.insert(n.id.as_str()) {
                return Err(format!("节点标识重复：{}", n.id));
            }
        }
        let starts = self
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Start { .. }))
            .count();
        if starts != 1 {
            return Err("流程必须有且只有一个开始节点".into());
        }
        if !self.nodes.iter().any(|n| matches!(n.kind, NodeKind::End)) {
            return Err("流程至少需要一个结束节点".into());
        }
        for n in &self.nodes {
            for s in self.successors(&n.id) {
                if self.node(s).is_none() {
                    return Err(format!("节点 {} 指向不存在的节点 {}", n.id, s));
                }
            }
            if let NodeKind::Parallel { branches } = &n.kind
                && branches.len() < 2
            {
                return Err(format!("并行节点 {} 至少需要两个分支", n.id));
            }
            if let NodeKind::Join { .. } = n.kind
                && self.incoming(&n.id) < 2
            {
                return Err(format!("汇聚节点 {} 至少需要两条入边", n.id));
            }
        }
        // Reachability and acyclicity (depth-first, with colours).
        let start = self.start().expect("checked").id.clone();
        let mut state: BTreeMap<&str, u8> = BTreeMap::new();
        fn visit<'a>(
            d: &'a Definition,
            id: &'a str,
            state: &mut BTreeMap<&'a str, u8>,
        ) -> Result<(), String> {
            match state.get(id) {
                Some(1) => return Err(format!("流程存在回路（经过 {id}）")),
                Some(2) => return Ok(()),
                _ => {}
            }
            state.insert(id, 1);
            for s in d.successors(id) {
                visit(d, s, state)?;
            }
            state.insert(id, 2);
            Ok(())
        }
        visit(self, &start, &mut state)?;
        for n in &self.nodes {
            if !state.contains_key(n.id.as_str()) {
                return Err(format!("节点 {} 无法从开始节点到达", n.id));
            }
        }
        Ok(())
    }

    /// Where a condition node leads for `form`, if that can be told: only with the form's
    /// data, and only if every field its branches test is one the viewer may see (else the
    /// path would tell them something about a hidden field).
    fn fixed_branch<'a>(
        &'a self,
        n: &'a Node,
        form: Option<&Value>,
        visible: &dyn Fn(&str) -> bool,
    ) -> Option<&'a str> {
        let (NodeKind::Condition { branches, default }, Some(f)) = (&n.kind, form) else {
            return None;
        };
        let mut fields = Vec::new();
        for b in branches {
            b.when.fields(&mut fields);
        }
        if !fields.iter().all(|k| visible(k)) {
            return None;
        }
        Some(
            branches
                .iter()
                .find(|b| b.when.eval(f))
                .map_or(default.as_str(), |b| b.next.as_str()),
        )
    }

    /// Approval nodes a breadth-first walk from the start enters, in that order. A
    /// condition node leads to its `fixed_branch` where there is one, else to every branch.
    fn walk(&self, form: Option<&Value>, visible: &dyn Fn(&str) -> bool) -> Vec<&Node> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut queue = std::collections::VecDeque::new();
        if let Some(s) = self.start() {
            queue.push_back(s.id.as_str());
        }
        while let Some(id) = queue.pop_front() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(n) = self.node(id) {
                if matches!(n.kind, NodeKind::Approval { .. }) {
                    out.push(n);
                }
                match self.fixed_branch(n, form, visible) {
                    Some(next) => queue.push_back(next),
                    None => queue.extend(self.successors(id)),
                }
            }
        }
        out
    }

    /// The parallel split each node runs under, with its branch's index: the nodes from a
    /// branch's first node up to the join (a nested split or a condition ends the walk, so
    /// what lies past them shows as steps of their own).
    pub fn parallel_branch_of(&self) -> BTreeMap<&str, (&Node, usize)> {
        let mut out = BTreeMap::new();
        for p in &self.nodes {
            let NodeKind::Parallel { branches } = &p.kind else {
                continue;
            };
            for (i, first) in branches.iter().enumerate() {
                let mut at = Some(first.as_str());
                // Definitions are acyclic when saved; a broken one must not loop here.
                for _ in 0..self.nodes.len() {
                    let Some(n) = at.and_then(|id| self.node(id)) else {
                        break;
                    };
                    if !matches!(n.kind, NodeKind::Approval { .. } | NodeKind::Cc { .. }) {
                        break;
                    }
                    out.entry(n.id.as_str()).or_insert((p, i));
                    at = self.successors(&n.id).first().copied();
                }
            }
        }
        out
    }

    /// The 里程碑 of an application: every approval node with whether it lies on the path:
    /// `Some(true)` surely, `None` depending on conditions not decided here (视情况),
    /// `Some(false)` not at all. Conditions are decided on `form` (the application's data)
    /// where the viewer may see every field they test; without data, none is.
    pub fn milestones_on(
        &self,
        form: Option<&Value>,
        visible: &dyn Fn(&str) -> bool,
    ) -> Vec<(&Node, Option<bool>)> {
        let reached: BTreeSet<&str> = self
            .walk(form, visible)
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        let Some(start) = self.start() else {
            return Vec::new();
        };
        self.walk(None, visible)
            .into_iter()
            .map(|n| {
                let on = if !reached.contains(n.id.as_str()) {
                    Some(false)
                } else {
                    let mut memo = BTreeMap::new();
                    if self.avoids(&start.id, &n.id, form, visible, &mut memo) {
                        None
                    } else {
                        Some(true)
                    }
                };
                (n, on)
            })
            .collect()
    }

    /// Whether, from `from`, the run can reach the end without entering `node`, where the
    /// undecided condition nodes may take any branch (parallel branches are all taken, so
    /// each must avoid it). Memoised per node: definitions are acyclic (checked when
    /// saved), and without it a chain of conditions would be walked once per path.
    fn avoids<'a>(
        &'a self,
        from: &'a str,
        node: &str,
        form: Option<&Value>,
        visible: &dyn Fn(&str) -> bool,
        memo: &mut BTreeMap<&'a str, bool>,
    ) -> bool {
        if from == node {
            return false;
        }
        if let Some(v) = memo.get(from) {
            return *v;
        }
        // A broken (cyclic) definition must not loop: assume the way out exists.
        memo.insert(from, true);
        let v = match self.node(from) {
            None => true,
            Some(n) => match (&n.kind, self.fixed_branch(n, form, visible)) {
                (NodeKind::End, _) => true,
                (_, Some(next)) => self.avoids(next, node, form, visible, memo),
                (NodeKind::Condition { .. }, None) => self
                    .successors(from)
                    .into_iter()
                    .any(|s| self.avoids(s, node, form, visible, memo)),
                _ => self
                    .successors(from)
                    .into_iter()
                    .all(|s| self.avoids(s, node, form, visible, memo)),
            },
        };
        memo.insert(from, v);
        v
    }
}
