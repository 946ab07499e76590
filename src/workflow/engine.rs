//! The workflow state machine. PURE: a definition, a state and an action in; a new state
//! and effects out. No IO: approvers are resolved by the caller beforehand (`Ctx`), and
//! the store turns the result into tasks, flow records, audit and outbox rows inside one
//! transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{Definition, Mode, NodeId, NodeKind};

pub type UserId = i64;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Returned,
    Completed,
    Terminated,
    Withdrawn,
}

impl Status {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::Terminated | Status::Withdrawn
        )
    }
    pub fn code(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Returned => "returned",
            Status::Completed => "completed",
            Status::Terminated => "terminated",
            Status::Withdrawn => "withdrawn",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "s", rename_all = "snake_case")]
pub enum SlotState {
    /// The person's task is open.
    Pending,
    /// Opens when `on` approves (依次, or 加签).
    Waiting {
        on: UserId,
    },
    Approved,
    /// Closed without acting (或签 decided by someone else, node returned or ended).
    Cancelled,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Slot {
    pub user: UserId,
    pub state: SlotState,
    /// Added by 加签 (not one of the node's own approvers).
    #[serde(default)]
    pub added: bool,
}

/// An approval node that is currently being handled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Token {
    pub node: NodeId,
    pub slots: Vec<Slot>,
}

impl Token {
    fn open(&self) -> bool {
        self.slots
            .iter()
            .any(|s| matches!(s.state, SlotState::Pending | SlotState::Waiting { .. }))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct State {
    pub status: Status,
    pub tokens: Vec<Token>,
    /// Other branches' tokens while the application is back with the applicant.
    #[serde(default)]
    pub suspended: Vec<Token>,
    /// Arrivals at joins whose other branches are still running.
    #[serde(default)]
    pub arrivals: BTreeMap<NodeId, u32>,
    /// Approval nodes completed, in order (里程碑; targets for 退回 to an earlier node).
    #[serde(default)]
    pub done: Vec<NodeId>,
    /// The node that returned the application: a resubmission goes straight back to it.
    #[serde(default)]
    pub returned_from: Option<NodeId>,
    /// An approver acted since the last submission (then 撤回 is no longer possible).
    #[serde(default)]
    pub acted: bool,
}

/// What the engine needs to know about the world, resolved by the caller.
pub struct Ctx<'a> {
    pub applicant: UserId,
    pub form: &'a Value,
    /// Approvers (approval nodes) or recipients (CC nodes) per node, before fallback.
    pub approvers: &'a BTreeMap<NodeId, Vec<UserId>>,
    /// The fallback people per approval node (named person or the service's admins).
    pub fallback: &'a BTreeMap<NodeId, Vec<UserId>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnTo {
    Applicant,
    Node(NodeId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Approve {
        node: NodeId,
        user: UserId,
    },
    Return {
        node: NodeId,
        user: UserId,
        to: ReturnTo,
    },
    Terminate {
        node: NodeId,
        user: UserId,
    },
    Transfer {
        node: NodeId,
        user: UserId,
        to: UserId,
    },
    AddSigner {
        node: NodeId,
        user: UserId,
        signer: UserId,
        before: bool,
    },
    Withdraw {
        user: UserId,
    },
    Resubmit {
        user: UserId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// An approval node became active.
    Entered {
        node: NodeId,
    },
    /// An approval node had nobody to approve and was passed.
    Skipped {
        node: NodeId,
    },
    /// An approval node was completed.
    NodeDone {
        node: NodeId,
    },
    /// 抄送.
    Cc {
        node: NodeId,
        users: Vec<UserId>,
    },
    /// 或签: the other approvers' tasks closed, decided by `by`.
    DecidedBy {
        node: NodeId,
        by: UserId,
        cancelled: Vec<UserId>,
    },
    Completed,
    Terminated,
    Returned {
        to: ReturnTo,
    },
    Withdrawn,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The task is not open any more: someone else decided, or the state moved on.
    #[error("该事项已被处理")]
    AlreadyHandled,
    #[error("{0}")]
    NotAllowed(&'static str),
    #[error("流程定义有误：{0}")]
    BadDefinition(String),
}

type Out = Result<(State, Vec<Effect>), EngineError>;

/// Start a submitted application: walk from the start node to the first approval nodes.
pub fn start(def: &Definition, ctx: &Ctx) -> Out {
    let start = def
        .start()
        .ok_or_else(|| EngineError::BadDefinition("没有开始节点".into()))?;
    let mut st = State {
        status: Status::Running,
        tokens: Vec::new(),
        suspended: Vec::new(),
        arrivals: BTreeMap::new(),
        done: Vec::new(),
        returned_from: None,
        acted: false,
    };
    let mut fx = Vec::new();
    enter(def, &mut st, &start.id.clone(), ctx, &mut fx, 0)?;
    finish(&mut st, &mut fx);
    Ok((st, fx))
}

const MAX_DEPTH: usize = 256;

fn enter(
    def: &Definition,
    st: &mut State,
    id: &str,
    ctx: &Ctx,
    fx: &mut Vec<Effect>,
    depth: usize,
) -> Result<(), EngineError> {
    if depth > MAX_DEPTH {
        return Err(EngineError::BadDefinition("流程存在回路".into()));
    }
    let node = def
        .node(id)
        .ok_or_else(|| EngineError::BadDefinition(format!("节点 {id} 不存在")))?;
    match &node.kind {
        NodeKind::Start { next } => enter(def, st, next, ctx, fx, depth + 1),
        NodeKind::Approval {
            mode,
            allow_self,
            next,
            ..
        } => {
            let pick = |list: Option<&Vec<UserId>>| -> Vec<UserId> {
                let mut out: Vec<UserId> = Vec::new();
                for u in list.into_iter().flatten() {
                    if (*allow_self || *u != ctx.applicant) && !out.contains(u) {
                        out.push(*u);
                    }
                }
                out
            };
            let mut users = pick(ctx.approvers.get(id));
            if users.is_empty() {
                users = pick(ctx.fallback.get(id));
            }
            if users.is_empty() {
                fx.push(Effect::Skipped {
                    node: id.to_owned(),
                });
                return enter(def, st, next, ctx, fx, depth + 1);
            }
            let slots = match mode {
                Mode::Any | Mode::All => users
                    .iter()
                    .map(|u| Slot {
                        user: *u,
                        state: SlotState::Pending,
                        added: false,
                    })
                    .collect(),
                Mode::Sequential => users
                    .iter()
                    .enumerate()
                    .map(|(i, u)| Slot {
                        user: *u,
                        state: if i == 0 {
                            SlotState::Pending
                        } else {
                            SlotState::Waiting { on: users[i - 1] }
                        },
                        added: false,
                    })
                    .collect(),
            };
            // Re-entering a node replaces its token (退回 to it).
            st.tokens.retain(|t| t.node != id);
            st.tokens.push(Token {
                node: id.to_owned(),
                slots,
            });
            fx.push(Effect::Entered {
                node: id.to_owned(),
            });
            Ok(())
        }
        NodeKind::Cc { next, .. } => {
            let users: Vec<UserId> = ctx.approvers.get(id).cloned().unwrap_or_default();
            if !users.is_empty() {
                fx.push(Effect::Cc {
                    node: id.to_owned(),
                    users,
                });
            }
            enter(def, st, next, ctx, fx, depth + 1)
        }
        NodeKind::Condition { branches, default } => {
            let target = branches
                .iter()
                .find(|b| b.when.eval(ctx.form))
                .map(|b| b.next.as_str())
                .unwrap_or(default.as_str());
            enter(def, st, target, ctx, fx, depth + 1)
        }
        NodeKind::Parallel { branches } => {
            for b in branches {
                enter(def, st, b, ctx, fx, depth + 1)?;
            }
            Ok(())
        }
        NodeKind::Join { next } => {
            let needed = def.incoming(id) as u32;
            let n = st.arrivals.entry(id.to_owned()).or_insert(0);
            *n += 1;
            if *n >= needed {
                st.arrivals.remove(id);
                enter(def, st, next, ctx, fx, depth + 1)
            } else {
                Ok(())
            }
        }
        NodeKind::End => Ok(()),
    }
}

/// A running application with nothing left to handle is complete.
fn finish(st: &mut State, fx: &mut Vec<Effect>) {
    if st.status == Status::Running && st.tokens.is_empty() {
        st.status = Status::Completed;
        st.arrivals.clear();
        fx.push(Effect::Completed);
    }
}

fn close_all(st: &mut State) {
    st.tokens.clear();
    st.suspended.clear();
    st.arrivals.clear();
}

fn mode_of(def: &Definition, node: &str) -> Result<Mode, EngineError> {
    match def.node(node).map(|n| &n.kind) {
        Some(NodeKind::Approval { mode, .. }) => Ok(*mode),
        _ => Err(EngineError::BadDefinition(format!("{node} 不是审批节点"))),
    }
}

fn next_of(def: &Definition, node: &str) -> Result<NodeId, EngineError> {
    match def.node(node).map(|n| &n.kind) {
        Some(NodeKind::Approval { next, .. }) => Ok(next.clone()),
        _ => Err(EngineError::BadDefinition(format!("{node} 不是审批节点"))),
    }
}

/// The token and slot index of `user`'s open task at `node`.
fn open_slot(st: &State, node: &str, user: UserId) -> Result<(usize, usize), EngineError> {
    if st.status != Status::Running {
        return Err(EngineError::AlreadyHandled);
    }
    let t = st
        .tokens
        .iter()
        .position(|t| t.node == node)
        .ok_or(EngineError::AlreadyHandled)?;
    let s = st.tokens[t]
        .slots
        .iter()
        .position(|s| s.user == user && s.state == SlotState::Pending)
        .ok_or(EngineError::AlreadyHandled)?;
    Ok((t, s))
}

pub fn apply(def: &Definition, state: &State, action: &Action, ctx: &Ctx) -> Out {
    let mut st = state.clone();
    let mut fx = Vec::new();
    match action {
        Action::Approve { node, user } => {
            let (t, s) = open_slot(&st, node, *user)?;
            let mode = mode_of(def, node)?;
            st.acted = true;
            let token = &mut st.tokens[t];
            token.slots[s].state = SlotState::Approved;
            if mode == Mode::Any && !token.slots[s].added {
                // 或签: this decision closes everyone else's task at the node, except
                // people this approver chained after themselves (加签 after).
                let mut cancelled = Vec::new();
                for (i, slot) in token.slots.iter_mut().enumerate() {
                    let chained = slot.state == SlotState::Waiting { on: *user };
                    if i != s
                        && !chained
                        && matches!(slot.state, SlotState::Pending | SlotState::Waiting { .. })
                    {
                        slot.state = SlotState::Cancelled;
                        cancelled.push(slot.user);
                    }
                }
                if !cancelled.is_empty() {
                    fx.push(Effect::DecidedBy {
                        node: node.clone(),
                        by: *user,
                        cancelled,
                    });
                }
            }
            for slot in token.slots.iter_mut() {
                if slot.state == (SlotState::Waiting { on: *user }) {
                    slot.state = SlotState::Pending;
                }
            }
            if !token.open() {
                st.tokens.remove(t);
                st.done.push(node.clone());
                fx.push(Effect::NodeDone { node: node.clone() });
                let next = next_of(def, node)?;
                enter(def, &mut st, &next, ctx, &mut fx, 0)?;
            }
            finish(&mut st, &mut fx);
        }
        Action::Return { node, user, to } => {
            let (t, _) = open_slot(&st, node, *user)?;
            st.acted = true;
            match to {
                ReturnTo::Applicant => {
                    let mut others = st.tokens.clone();
                    others.remove(t);
                    st.suspended = others;
                    st.tokens.clear();
                    st.status = Status::Returned;
                    st.returned_from = Some(node.clone());
                }
                ReturnTo::Node(target) => {
                    if st.tokens.len() > 1 {
                        return Err(EngineError::NotAllowed(
                            "多个环节并行办理中，只能退回申请人",
                        ));
                    }
                    let pos = st
                        .done
                        .iter()
                        .rposition(|d| d == target)
                        .ok_or(EngineError::NotAllowed("只能退回到已经办理过的环节"))?;
                    st.done.truncate(pos);
                    st.tokens.clear();
                    st.arrivals.clear();
                    enter(def, &mut st, target, ctx, &mut fx, 0)?;
                    finish(&mut st, &mut fx);
                }
            }
            fx.push(Effect::Returned { to: to.clone() });
        }
        Action::Terminate { node, user } => {
            open_slot(&st, node, *user)?;
            st.acted = true;
            close_all(&mut st);
            st.status = Status::Terminated;
            fx.push(Effect::Terminated);
        }
        Action::Transfer { node, user, to } => {
            let (t, s) = open_slot(&st, node, *user)?;
            if to == user {
                return Err(EngineError::NotAllowed("不能转办给自己"));
            }
            if *to == ctx.applicant {
                return Err(EngineError::NotAllowed("不能转办给申请人"));
            }
            let token = &mut st.tokens[t];
            // Someone who already approved here would sign a 会签 twice.
            if token.slots.iter().any(|x| {
                x.user == *to
                    && matches!(
                        x.state,
                        SlotState::Pending | SlotState::Waiting { .. } | SlotState::Approved
                    )
            }) {
                return Err(EngineError::NotAllowed("对方已在本环节办理人中"));
            }
            st.acted = true;
            token.slots[s].user = *to;
            for slot in token.slots.iter_mut() {
                if slot.state == (SlotState::Waiting { on: *user }) {
                    slot.state = SlotState::Waiting { on: *to };
                }
            }
        }
        Action::AddSigner {
            node,
            user,
            signer,
            before,
        } => {
            let (t, s) = open_slot(&st, node, *user)?;
            if signer == user {
                return Err(EngineError::NotAllowed("不能给自己加签"));
            }
            if *signer == ctx.applicant {
                return Err(EngineError::NotAllowed("不能加签申请人"));
            }
            let token = &mut st.tokens[t];
            if token.slots.iter().any(|x| {
                x.user == *signer
                    && matches!(
                        x.state,
                        SlotState::Pending | SlotState::Waiting { .. } | SlotState::Approved
                    )
            }) {
                return Err(EngineError::NotAllowed("对方已在本环节办理人中"));
            }
            st.acted = true;
            if *before {
                token.slots[s].state = SlotState::Waiting { on: *signer };
                token.slots.insert(
                    s,
                    Slot {
                        user: *signer,
                        state: SlotState::Pending,
                        added: true,
                    },
                );
            } else {
                // Whoever came after me now comes after the added person.
                for slot in token.slots.iter_mut() {
                    if slot.state == (SlotState::Waiting { on: *user }) {
                        slot.state = SlotState::Waiting { on: *signer };
                    }
                }
                token.slots.insert(
                    s + 1,
                    Slot {
                        user: *signer,
                        state: SlotState::Waiting { on: *user },
                        added: true,
                    },
                );
            }
        }
        Action::Withdraw { user } => {
            if *user != ctx.applicant {
                return Err(EngineError::NotAllowed("只有申请人可以撤回"));
            }
            if st.status != Status::Running {
                return Err(EngineError::AlreadyHandled);
            }
            if st.acted {
                return Err(EngineError::NotAllowed("审批人已处理，不能撤回"));
            }
            close_all(&mut st);
            st.status = Status::Withdrawn;
            fx.push(Effect::Withdrawn);
        }
        Action::Resubmit { user } => {
            if *user != ctx.applicant {
                return Err(EngineError::NotAllowed("只有申请人可以重新提交"));
            }
            if st.status != Status::Returned {
                return Err(EngineError::AlreadyHandled);
            }
            let target = st
                .returned_from
                .clone()
                .ok_or_else(|| EngineError::BadDefinition("缺少退回环节".into()))?;
            st.status = Status::Running;
            st.acted = false;
            st.tokens = std::mem::take(&mut st.suspended);
            st.returned_from = None;
            enter(def, &mut st, &target, ctx, &mut fx, 0)?;
            finish(&mut st, &mut fx);
        }
    }
    Ok((st, fx))
}

/// Open tasks: (node, user) for every pending slot.
pub fn pending(st: &State) -> Vec<(NodeId, UserId)> {
    st.tokens
        .iter()
        .flat_map(|t| {
            t.slots
                .iter()
                .filter(|s| s.state == SlotState::Pending)
                .map(move |s| (t.node.clone(), s.user))
        })
        .collect()
}

/// Checks that hold for every reachable state; used by the tests.
pub fn check_invariants(st: &State) -> Result<(), String> {
    match st.status {
        Status::Running => {
            if st.tokens.is_empty() {
                return Err("running without active nodes".into());
            }
            if !st.suspended.is_empty() {
                return Err("running with suspended tokens".into());
            }
        }
        Status::Returned => {
            if !st.tokens.is_empty() {
                return Err("returned with active nodes".into());
            }
            if st.returned_from.is_none() {
                return Err("returned without a node to go back to".into());
            }
        }
        _ => {
            if !st.tokens.is_empty() || !st.suspended.is_empty() {
                return Err("terminal state with open work".into());
            }
        }
    }
    for t in st.tokens.iter().chain(st.suspended.iter()) {
        if !t.slots.iter().any(|s| s.state == SlotState::Pending) {
            return Err(format!("node {} has no open task", t.node));
        }
        let mut open: Vec<UserId> = t
            .slots
            .iter()
            .filter(|s| matches!(s.state, SlotState::Pending | SlotState::Waiting { .. }))
            .map(|s| s.user)
            .collect();
        let n = open.len();
        open.sort();
        open.dedup();
        if open.len() != n {
            return Err(format!("node {} has a person twice", t.node));
        }
        for s in &t.slots {
            if let SlotState::Waiting { on } = s.state {
                let ok = t.slots.iter().any(|o| {
                    o.user == on
                        && matches!(o.state, SlotState::Pending | SlotState::Waiting { .. })
                });
                if !ok {
                    return Err(format!(
                        "node {}: {} waits for someone who will never act",
                        t.node, s.user
                    ));
                }
            }
        }
    }
    let mut nodes: Vec<&str> = st.tokens.iter().map(|t| t.node.as_str()).collect();
    let n = nodes.len();
    nodes.sort();
    nodes.dedup();
    if nodes.len() != n {
        return Err("a node is active twice".into());
    }
    Ok(())
}
