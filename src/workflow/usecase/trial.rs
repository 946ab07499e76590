//! 试算: the path an application would take through a workflow for one applicant and
//! sample data — each node in order, which branch each condition takes and why, who is
//! asked at each approval and CC node, and where nobody matches, what the fallback does.
//! The approvers come from the real resolver (`store::resolve`) and the run from the
//! pure engine (`engine::start`, then `engine::apply` approving every open task in turn),
//! so parallel branches and 会签 go as they would. Nothing is written.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sqlx::PgPool;

use super::{check_ctx, lookups, profile, resolve_accounts, summary};
use crate::{
    forms::{self, Errors, FieldAccess, FormSchema, Profile, render::FieldView},
    mask,
    org::people,
    workflow::{
        check::value_text,
        engine::{self, Action, Ctx, Effect, SlotState, State, Status, UserId},
        model::{Definition, NodeId, NodeKind},
    },
};

/// What happened at one node, in the order the engine got there.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    Start,
    /// Branches evaluated in order up to the first that holds (`taken`; `None`: default).
    Condition {
        tested: Vec<(usize, bool)>,
        taken: Option<usize>,
        to: NodeId,
    },
    Parallel,
    /// Arrivals so far of those it waits for; it goes on when they are all in.
    Join {
        arrived: u32,
        needed: u32,
    },
    Approval {
        /// The rule's people (the applicant left out unless allowed).
        matched: Vec<UserId>,
        /// The rule found only the applicant, who may not approve their own.
        only_self: bool,
        /// Nobody matched: the fallback's people are asked.
        fell_back: bool,
        /// Who the engine opened tasks for, in order (依次: one after another).
        asked: Vec<UserId>,
        skipped: bool,
        /// 通过 in the order the trial gave them.
        approved: Vec<UserId>,
        /// 或签: the tasks closed when someone else decided.
        closed: Vec<UserId>,
    },
    Cc {
        users: Vec<UserId>,
    },
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub node: NodeId,
    pub what: What,
}

/// The run: its steps, and whether it reached the end (else why not).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub steps: Vec<Step>,
    pub completed: bool,
    pub error: Option<String>,
}

/// Enough rounds for any definition a person could draw; a broken one stops here.
const MAX_ROUNDS: usize = 2000;

/// Runs the engine over `def` with these resolved approvers, approving every open task
/// in turn, and follows it node by node. Pure.
pub fn trace(def: &Definition, ctx: &Ctx) -> Trace {
    let mut t = Tracer {
        def,
        ctx,
        steps: Vec::new(),
        arrivals: BTreeMap::new(),
        error: None,
    };
    let Some(start) = def.start() else {
        return Trace {
            steps: Vec::new(),
            completed: false,
            error: Some("流程没有开始节点".into()),
        };
    };
    let mut st = match engine::start(def, ctx) {
        Ok((st, fx)) => {
            t.round(&start.id, &fx, &st);
            st
        }
        Err(e) => return t.fail(e.to_string()),
    };
    for _ in 0..MAX_ROUNDS {
        let Some((node, user)) = engine::pending(&st).into_iter().next() else {
            break;
        };
        let action = Action::Approve {
            node: node.clone(),
            user,
        };
        let (next, fx) = match engine::apply(def, &st, &action, ctx) {
            Ok(x) => x,
            Err(e) => return t.fail(e.to_string()),
        };
        if let Some(What::Approval {
            approved, closed, ..
        }) = t.last_of(&node)
        {
            approved.push(user);
            for f in &fx {
                if let Effect::DecidedBy { cancelled, .. } = f {
                    closed.extend(cancelled);
                }
            }
        }
        if fx
            .iter()
            .any(|f| matches!(f, Effect::NodeDone { node: n } if *n == node))
            && let Some(NodeKind::Approval { next: to, .. }) = def.node(&node).map(|n| &n.kind)
        {
            t.round(to, &fx, &next);
        }
        st = next;
    }
    let completed = st.status == Status::Completed;
    if !completed && t.error.is_none() {
        t.error = Some("试算未能走到结束节点（流程停在等待中的节点）".into());
    }
    Trace {
        steps: t.steps,
        completed,
        error: t.error,
    }
}

struct Tracer<'a> {
    def: &'a Definition,
    ctx: &'a Ctx<'a>,
    steps: Vec<Step>,
    arrivals: BTreeMap<NodeId, u32>,
    error: Option<String>,
}

impl Tracer<'_> {
    fn fail(self, e: String) -> Trace {
        Trace {
            steps: self.steps,
            completed: false,
            error: Some(e),
        }
    }

    fn last_of(&mut self, node: &str) -> Option<&mut What> {
        self.steps
            .iter_mut()
            .rev()
            .find(|s| s.node == node)
            .map(|s| &mut s.what)
    }

    /// Follows the nodes one engine step passed, from `from`, as `engine::enter` walks
    /// them (depth first, branches in order). Whether an approval node was entered or
    /// passed is the engine's word (`fx`), who it asks is in the new state's token.
    fn round(&mut self, from: &str, fx: &[Effect], st: &State) {
        let mut stack = vec![from.to_owned()];
        let mut guard = 0;
        while let Some(id) = stack.pop() {
            guard += 1;
            if guard > 10_000 {
                self.error = Some("流程存在回路，试算已停止".into());
                return;
            }
            let Some(n) = self.def.node(&id) else {
                self.error = Some(format!("节点 {id} 不存在"));
                return;
            };
            let what = match &n.kind {
                NodeKind::Start { next } => {
                    stack.push(next.clone());
                    What::Start
                }
                NodeKind::Approval {
                    next, allow_self, ..
                } => {
                    let pick = |list: Option<&Vec<UserId>>| -> Vec<UserId> {
                        let mut out: Vec<UserId> = Vec::new();
                        for u in list.into_iter().flatten() {
                            if (*allow_self || *u != self.ctx.applicant) && !out.contains(u) {
                                out.push(*u);
                            }
                        }
                        out
                    };
                    let matched = pick(self.ctx.approvers.get(&id));
                    let only_self = matched.is_empty()
                        && self
                            .ctx
                            .approvers
                            .get(&id)
                            .is_some_and(|l| l.contains(&self.ctx.applicant));
                    let skipped = fx
                        .iter()
                        .any(|f| matches!(f, Effect::Skipped { node } if *node == id));
                    if skipped {
                        stack.push(next.clone());
                    }
                    let asked = st
                        .tokens
                        .iter()
                        .find(|t| t.node == id)
                        .map(|t| {
                            t.slots
                                .iter()
                                .filter(|s| {
                                    matches!(
                                        s.state,
                                        SlotState::Pending | SlotState::Waiting { .. }
                                    )
                                })
                                .map(|s| s.user)
                                .collect()
                        })
                        .unwrap_or_default();
                    What::Approval {
                        fell_back: matched.is_empty(),
                        matched,
                        only_self,
                        asked,
                        skipped,
                        approved: Vec::new(),
                        closed: Vec::new(),
                    }
                }
                NodeKind::Cc { next, .. } => {
                    stack.push(next.clone());
                    let users = fx
                        .iter()
                        .find_map(|f| match f {
                            Effect::Cc { node, users } if *node == id => Some(users.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    What::Cc { users }
                }
                NodeKind::Condition { branches, default } => {
                    let mut tested = Vec::new();
                    let mut taken = None;
                    for (i, b) in branches.iter().enumerate() {
                        let holds = b.when.eval(self.ctx.form);
                        tested.push((i, holds));
                        if holds {
                            taken = Some(i);
                            break;
                        }
                    }
                    let to = taken.map_or(default.clone(), |i| branches[i].next.clone());
                    stack.push(to.clone());
                    What::Condition { tested, taken, to }
                }
                NodeKind::Parallel { branches } => {
                    // Depth first, the first branch first (a stack: pushed in reverse).
                    stack.extend(branches.iter().rev().cloned());
                    What::Parallel
                }
                NodeKind::Join { next } => {
                    let needed = self.def.incoming(&id) as u32;
                    let arrived = {
                        let a = self.arrivals.entry(id.clone()).or_insert(0);
                        *a += 1;
                        *a
                    };
                    if arrived >= needed {
                        self.arrivals.remove(&id);
                        stack.push(next.clone());
                    }
                    // One step per join, updated as the branches arrive.
                    if let Some(What::Join {
                        arrived: a,
                        needed: _,
                    }) = self.last_of(&id)
                        && *a < needed
                    {
                        *a = arrived;
                        continue;
                    }
                    What::Join { arrived, needed }
                }
                NodeKind::End => What::End,
            };
            self.steps.push(Step { node: id, what });
        }
    }
}

/// The sample form of a trial: the applicant's form, pre-filled from their profile.
pub struct Sample {
    pub data: Map<String, Value>,
    pub fields: Vec<FieldView>,
    /// What the real form would refuse (the trial runs anyway), in form order.
    pub refused: Vec<(String, String)>,
}

/// The applicant's profile for a trial: contact details masked (the trial is about the
/// path, and a 服务管理员 has no business reading people's phone numbers).
async fn trial_profile(db: &PgPool, applicant: i64) -> sqlx::Result<Profile> {
    // No key: the 身份证号 on file is not opened for a trial.
    let mut p = profile(db, applicant, None).await?;
    if !p.phone.is_empty() {
        p.phone = mask::mask_phone(&p.phone);
    }
    if !p.email.is_empty() {
        p.email = mask::mask_email(&p.email);
    }
    Ok(p)
}

/// The sample values: the form's defaults and `applicant`'s auto-fill, with `posted`
/// (`f.<key>` pairs) over the fields the applicant may edit.
pub async fn sample(
    db: &PgPool,
    form: &FormSchema,
    def: &Definition,
    applicant: i64,
    posted: Option<&[(String, String)]>,
    today: chrono::NaiveDate,
) -> anyhow::Result<Sample> {
    let p = trial_profile(db, applicant).await?;
    let mut access = form.access(&def.applicant_fields, FieldAccess::Editable);
    // No files in a trial: nothing may be stored, and no condition tests them.
    for f in &form.fields {
        if f.kind == forms::FieldKind::Attachments {
            access.insert(f.key.clone(), FieldAccess::Readonly);
        }
    }
    let mut data = forms::initial_values(form, &p);
    let masked: Vec<String> = form
        .fields
        .iter()
        .filter(|f| matches!(f.autofill.as_deref(), Some("phone" | "email")))
        .filter(|f| data.get(&f.key).is_some_and(|v| !value_text(v).is_empty()))
        .map(|f| f.key.clone())
        .collect();
    let before = data.clone();
    if let Some(pairs) = posted {
        for (k, v) in forms::render::parse_post(form, pairs) {
            if access.get(&k) == Some(&FieldAccess::Editable) {
                data.insert(k, v);
            }
        }
    }
    forms::enforce_locked(form, &p, &mut data);
    resolve_accounts(db, form, &mut data).await?;
    let l = lookups(db, form, &data, applicant, 0, None, today).await?;
    let mut errors = Errors::new();
    if posted.is_some() {
        let ctx = check_ctx(db, form, &data, applicant, today).await?;
        match forms::validate(form, &access, &data, &ctx) {
            Ok(clean) => data = clean,
            Err(e) => errors = e,
        }
        // A masked contact left as filled in is the trial's doing, not the sample's.
        for k in &masked {
            if data.get(k) == before.get(k) {
                errors.remove(k);
            }
        }
    }
    let refused = summary(form, &errors);
    let fields = forms::render::views(form, &data, &access, &errors, &l, &[], &BTreeMap::new());
    Ok(Sample {
        data,
        fields,
        refused,
    })
}

/// The person a trial is for, from `张三（S2024001）` as the picker fills it in or a bare
/// account: (id, label), if active.
pub async fn applicant(db: &PgPool, typed: &str) -> sqlx::Result<Option<(i64, String)>> {
    let s = typed.trim();
    let account = match (s.rfind('（'), s.rfind('）')) {
        (Some(a), Some(b)) if a < b => s[a + '（'.len_utf8()..b].trim(),
        _ => s,
    };
    if account.is_empty() {
        return Ok(None);
    }
    let found = people::by_accounts(db, &[account.to_owned()]).await?;
    Ok(found
        .into_iter()
        .find(|p| p.active)
        .map(|p| (p.id, p.label)))
}

mod report;

pub use report::{StepView, TrialView, run};

#[cfg(test)]
mod tests;
