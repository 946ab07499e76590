//! What approvers and applicants do on a running application: 通过, 退回, 中止, 转办,
//! 加签, 撤回 (one transition each), and 催办 and 评价 (records beside the flow).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use sqlx::PgPool;

use super::{
    ActCtx, check_ctx, definitions, load_visible,
    read::{self, AppView, Retry},
    resolve_accounts,
    urge::{rate, urge},
};
use crate::{
    error::{AppError, AppResult},
    forms::{self, FieldAccess, render::parse_post},
    org::people,
    web::user::CurrentUser,
    workflow::{
        engine::{self, Action, Ctx, Effect, EngineError, ReturnTo, State, UserId},
        model::{Definition, NodeKind},
        store::{
            self, AppRow, StoreError,
            resolve::resolve,
            transition::{AppUpdate, Plan, node_name, write},
        },
    },
};

/// What the application page posts, parsed once. People are named by account here; the
/// use case turns them into the engine's `Action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Approve {
        node: String,
    },
    Return {
        node: String,
        to: ReturnTo,
    },
    Terminate {
        node: String,
    },
    Transfer {
        node: String,
        account: String,
    },
    AddSigner {
        node: String,
        account: String,
        before: bool,
    },
    Withdraw,
    Urge {
        node: String,
    },
    Rate {
        stars: i16,
    },
    /// An `op` the page never sends (refused after the visibility check, as 400).
    Unknown,
}

/// A posted action: the operation, the 审批意见, the version the page showed, and the
/// fields the node may fill in (`f.…`, checked only on 通过).
#[derive(Debug, Clone)]
pub struct Request {
    pub op: Op,
    pub comment: String,
    pub version: i32,
    pub pairs: Vec<(String, String)>,
    /// The signature pad's PNG data URL, where the node asks for one.
    pub signature: String,
}

impl Request {
    /// Parses the posted pairs: `op` and `version` are required, each known key at most
    /// once; anything else is a bad request.
    pub fn parse(pairs: Vec<(String, String)>) -> AppResult<Request> {
        const KEYS: [&str; 9] = [
            "op",
            "node",
            "comment",
            "to",
            "account",
            "position",
            "stars",
            "version",
            "signature",
        ];
        let bad = || AppError::BadRequest("请求有误。");
        if pairs
            .iter()
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(AppError::BadRequest(crate::forms::input::NUL_MESSAGE));
        }
        let mut seen: [Option<&str>; 9] = [None; 9];
        for (k, v) in &pairs {
            if let Some(i) = KEYS.iter().position(|key| key == k) {
                if seen[i].is_some() {
                    return Err(bad());
                }
                seen[i] = Some(v.as_str());
            }
        }
        let [
            op,
            node,
            comment,
            to,
            account,
            position,
            stars,
            version,
            signature,
        ] = seen;
        let signature = signature.unwrap_or_default().to_owned();
        let (op, version) = (op.ok_or_else(bad)?, version.ok_or_else(bad)?);
        let version: i32 = version.parse().map_err(|_| bad())?;
        let node = node.unwrap_or_default().to_owned();
        let account = account.unwrap_or_default().to_owned();
        let op = match op {
            "approve" => Op::Approve { node },
            "return" => Op::Return {
                node,
                to: match to.unwrap_or_default() {
                    "" | "applicant" => ReturnTo::Applicant,
                    n => ReturnTo::Node(n.to_owned()),
                },
            },
            "terminate" => Op::Terminate { node },
            "transfer" => Op::Transfer { node, account },
            "add_signer" => Op::AddSigner {
                node,
                account,
                before: position == Some("before"),
            },
            "withdraw" => Op::Withdraw,
            "urge" => Op::Urge { node },
            // Out of range is refused with its message by `rate`.
            "rate" => Op::Rate {
                stars: stars.unwrap_or_default().parse().unwrap_or(0),
            },
            _ => Op::Unknown,
        };
        let comment = comment.unwrap_or_default().to_owned();
        Ok(Request {
            op,
            comment,
            version,
            pairs,
            signature,
        })
    }
}

/// What became of an action.
pub enum Outcome {
    /// Applied: say so.
    Done(&'static str),
    /// Not applied, nothing changed: say why.
    Refused(&'static str),
    /// The node's own fields did not validate: the page again, with the messages.
    Invalid(Box<AppView>),
}

/// Applies a posted action to application `id` as `user`.
#[tracing::instrument(skip_all, fields(app = id, user = user.id))]
pub async fn act(
    db: &PgPool,
    c: &ActCtx,
    user: &CurrentUser,
    id: i64,
    mut req: Request,
) -> AppResult<Outcome> {
    let app = load_visible(db, id, user.id).await?;
    let defs = definitions(db, &app).await?;
    let (schema, def) = (&defs.0, &defs.1);
    let comment = req.comment.trim().to_owned();
    if comment.chars().count() > 1000 {
        return Err(AppError::BadRequest("审批意见不能超过 1000 字。"));
    }
    let refused = |m| Ok(Outcome::Refused(m));
    let node_of = |op: &Op| match op {
        Op::Approve { node }
        | Op::Return { node, .. }
        | Op::Terminate { node }
        | Op::Transfer { node, .. }
        | Op::AddSigner { node, .. }
        | Op::Urge { node } => node.clone(),
        _ => String::new(),
    };
    let node = node_of(&req.op);
    let node_rules = def.node(&node).map(|n| &n.kind);
    let mut signature = None;
    let (action, done) = match &req.op {
        Op::Approve { node } => {
            if let Some(NodeKind::Approval {
                comment_required: true,
                ..
            }) = node_rules
                && comment.is_empty()
            {
                return refused("本环节通过时须填写审批意见。");
            }
            if let Some(NodeKind::Approval {
                signature: true, ..
            }) = node_rules
            {
                // Decoding the pad is some milliseconds of one core.
                let posted = std::mem::take(&mut req.signature);
                match tokio::task::spawn_blocking(move || {
                    crate::workflow::signature::parse(&posted)
                })
                .await
                .map_err(|e| AppError::Internal(e.into()))?
                {
                    Ok(png) => signature = Some(png),
                    Err(m) => return refused(m),
                }
            }
            let action = Action::Approve {
                node: node.clone(),
                user: user.id,
            };
            (action, "已通过。")
        }
        Op::Return { node, to } => {
            if comment.is_empty() {
                return refused("退回时须填写审批意见。");
            }
            let action = Action::Return {
                node: node.clone(),
                user: user.id,
                to: to.clone(),
            };
            (action, "已退回。")
        }
        Op::Terminate { node } => {
            if comment.is_empty() {
                return refused("中止时须填写审批意见。");
            }
            let action = Action::Terminate {
                node: node.clone(),
                user: user.id,
            };
            (action, "已中止。")
        }
        Op::Transfer { node, account } => {
            let Some(to) = people::active_by_account(db, forms::picked_account(account)).await?
            else {
                return refused("找不到此人，请输入姓名或学号/工号后从列表中选择。");
            };
            let action = Action::Transfer {
                node: node.clone(),
                user: user.id,
                to,
            };
            (action, "已转办。")
        }
        Op::AddSigner {
            node,
            account,
            before,
        } => {
            let Some(signer) =
                people::active_by_account(db, forms::picked_account(account)).await?
            else {
                return refused("找不到此人，请输入姓名或学号/工号后从列表中选择。");
            };
            let action = Action::AddSigner {
                node: node.clone(),
                user: user.id,
                signer,
                before: *before,
            };
            (action, "已加签。")
        }
        Op::Withdraw => (Action::Withdraw { user: user.id }, "已撤回。"),
        Op::Urge { node } => {
            return match urge(db, id, node, c).await {
                Ok(_) => Ok(Outcome::Done("已催办，待办人会收到提醒。")),
                Err(StoreError::Engine(EngineError::NotAllowed(m))) => refused(m),
                Err(e) => Err(e.into()),
            };
        }
        Op::Rate { stars } => {
            return match rate(db, id, *stars, &comment, c).await {
                Ok(()) => Ok(Outcome::Done("感谢您的评价！")),
                Err(StoreError::Engine(EngineError::NotAllowed(m))) => refused(m),
                Err(e) => Err(e.into()),
            };
        }
        Op::Unknown => return Err(AppError::BadRequest("不支持的操作。")),
    };
    // Fields this node fills in (e.g. a department's own section), checked like the
    // applicant's: only on 通过.
    let mut edits = None;
    if let Op::Approve { .. } = req.op
        && let Some(NodeKind::Approval { fields, .. }) = node_rules
        && fields.values().any(|a| *a == FieldAccess::Editable)
    {
        let access = schema.access(fields, FieldAccess::Readonly);
        let mut data = parse_post(schema, &req.pairs);
        data.retain(|k, _| access.get(k) == Some(&FieldAccess::Editable));
        resolve_accounts(db, schema, &mut data).await?;
        let check = check_ctx(db, schema, &data, app.applicant_id, c.today()).await?;
        match forms::validate(schema, &access, &data, &check) {
            Ok(clean) => {
                let mut only = Map::new();
                for (k, v) in clean {
                    if access.get(&k) == Some(&FieldAccess::Editable) {
                        only.insert(k, v);
                    }
                }
                edits = Some(only);
            }
            Err(errors) => {
                let view = read::application(
                    db,
                    user,
                    c.tz,
                    id,
                    Some(Retry {
                        data,
                        errors,
                        comment,
                    }),
                )
                .await?;
                return match view {
                    read::Page::View(v) => Ok(Outcome::Invalid(v)),
                    // A draft has no approvers' panel: nothing to show again.
                    read::Page::Draft => Err(AppError::Conflict("该事项已被处理")),
                };
            }
        }
    }
    let result = apply(
        db,
        &app,
        def,
        req.version,
        Act {
            action,
            comment,
            data: edits,
            signature,
        },
        c,
    )
    .await;
    match result {
        Ok(()) => Ok(Outcome::Done(done)),
        Err(StoreError::Engine(EngineError::NotAllowed(m))) => refused(m),
        // 已被处理 is for someone whose task at the node was handled already; anyone who
        // never had one there (the applicant posting 通过) may not act on it at all.
        Err(e @ (StoreError::Stale | StoreError::Engine(EngineError::AlreadyHandled)))
            if !node.is_empty() =>
        {
            let (_, nodes) = store::reader_nodes(&mut *db.acquire().await?, &app, user.id).await?;
            if !nodes.contains(&node) {
                return Err(AppError::Forbidden(
                    "您不是该环节的办理人，不能进行此操作。",
                ));
            }
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// An approver's or the applicant's action on a running application.
pub(super) struct Act {
    pub(super) action: Action,
    pub(super) comment: String,
    /// Edited fields (per-node editable sections), already validated.
    pub(super) data: Option<Map<String, Value>>,
    /// The handwritten signature of a 通过 at a node that asks for one (PNG).
    pub(super) signature: Option<Vec<u8>>,
}

fn action_code(a: &Action) -> &'static str {
    match a {
        Action::Approve { .. } => "approve",
        Action::Return { .. } => "return",
        Action::Terminate { .. } => "terminate",
        Action::Transfer { .. } => "transfer",
        Action::AddSigner { .. } => "add_signer",
        Action::Withdraw { .. } => "withdraw",
        Action::Resubmit { .. } => "resubmit",
    }
}

/// The approval and CC nodes a 通过 may enter, found by a dry run of the engine in which
/// every approval node is empty (so it is skipped and the run goes on) and every CC node
/// has a placeholder recipient (so it shows up): a superset of what the real run touches,
/// because that one stops at the first node with approvers. Often nothing at all — the
/// last 通过 of a flow, or one of several 会签 — and then nothing is resolved. Other
/// actions resolve every node (`None`).
fn reachable(
    def: &Definition,
    prev: &State,
    action: &Action,
    applicant: UserId,
    form: &Value,
) -> Option<BTreeSet<String>> {
    if !matches!(action, Action::Approve { .. }) {
        return None;
    }
    let placeholder: BTreeMap<String, Vec<UserId>> = def
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Cc { .. }))
        .map(|n| (n.id.clone(), vec![UserId::MIN]))
        .collect();
    let none = BTreeMap::new();
    let ctx = Ctx {
        applicant,
        form,
        approvers: &placeholder,
        fallback: &none,
    };
    let (_, fx) = engine::apply(def, prev, action, &ctx).ok()?;
    Some(
        fx.iter()
            .filter_map(|f| match f {
                Effect::Skipped { node } | Effect::Cc { node, .. } => Some(node.clone()),
                _ => None,
            })
            .collect(),
    )
}

/// Applies `act` to `app` as the caller read it (`expected_version` is the version the
/// actor saw on the page). No transaction is held while reading: the single write
/// statement applies only if the row is still at that version, else nothing changes.
pub(super) async fn apply(
    db: &PgPool,
    app: &AppRow,
    def: &Definition,
    expected_version: i32,
    act: Act,
    c: &ActCtx,
) -> Result<(), StoreError> {
    if app.version != expected_version {
        return Err(StoreError::Stale);
    }
    let prev: State = match &app.state {
        Some(s) => serde_json::from_value(s.clone()).map_err(anyhow::Error::from)?,
        None => return Err(StoreError::Stale),
    };
    let mut form = app.data.clone();
    if let (Some(obj), Some(edits)) = (form.as_object_mut(), &act.data) {
        for (k, v) in edits {
            obj.insert(k.clone(), v.clone());
        }
    }
    let only = reachable(def, &prev, &act.action, app.applicant_id, &form);
    let (approvers, fallback) = resolve(
        db,
        def,
        app.applicant_id,
        app.service_id,
        &form,
        only.as_ref(),
    )
    .await?;
    let ctx = Ctx {
        applicant: app.applicant_id,
        form: &form,
        approvers: &approvers,
        fallback: &fallback,
    };
    let (st, fx) = engine::apply(def, &prev, &act.action, &ctx)?;
    let before = engine::pending(&prev);
    let code = action_code(&act.action);
    let (node, details) = match &act.action {
        Action::Approve { node, .. } | Action::Terminate { node, .. } => (node.clone(), json!({})),
        Action::Return { node, to, .. } => (
            node.clone(),
            json!({ "to": match to { ReturnTo::Applicant => "applicant".to_owned(), ReturnTo::Node(n) => n.clone() } }),
        ),
        // An administrator's 转办 on someone's behalf names whose task it was.
        Action::Transfer { node, to, user } if *user != c.actor => {
            (node.clone(), json!({ "to": to, "from": user }))
        }
        Action::Transfer { node, to, .. } => (node.clone(), json!({ "to": to })),
        Action::AddSigner {
            node,
            signer,
            before,
            ..
        } => (node.clone(), json!({ "signer": signer, "before": before })),
        Action::Withdraw { .. } | Action::Resubmit { .. } => ("start".to_owned(), json!({})),
    };
    let name = if node == "start" {
        "申请人".to_owned()
    } else {
        node_name(def, &node)
    };
    let mut plan = Plan::default();
    plan.flow(
        &node,
        &name,
        Some(c.actor),
        code,
        act.comment.trim(),
        details,
    );
    if let Some(png) = act.signature {
        plan.sign_last(png);
    }
    let actor_task = match &act.action {
        Action::Withdraw { .. } | Action::Resubmit { .. } => None,
        // The task that ends is the holder's (the actor's own, but for an administrator's
        // 转办 on behalf of someone who left).
        Action::Transfer { to, user, .. } => Some((node.as_str(), *user, code, Some(*to))),
        _ => Some((node.as_str(), c.actor, code, None)),
    };
    plan.sync(def, app, &before, &st, &fx, actor_task, c);
    write(
        db,
        app,
        AppUpdate {
            state: &st,
            data: act.data.as_ref().map(|_| &form),
            submitted_data: None,
            changed_fields: None,
            serial_no: None,
            submitted_at: None,
            new_row: false,
        },
        plan,
        &format!("application.{code}"),
        json!({ "node": node, "status": st.status.code() }),
        c,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The workflow of a demo service package, `demo/services/<code>.toml`.
    fn demo(code: &str) -> Definition {
        let path = format!("{}/demo/services/{code}.toml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).expect("demo package");
        let mut package: toml::Table = toml::from_str(&text).expect("TOML");
        let flow = package.remove("workflow").expect("a workflow");
        flow.try_into().expect("definition")
    }

    /// Started with `first` as the approvers of `node`; the nodes a 通过 there may enter.
    fn after_first_approval(code: &str, node: &str, form: Value) -> Vec<String> {
        let def = demo(code);
        let approvers = BTreeMap::from([(node.to_owned(), vec![10])]);
        let none = BTreeMap::new();
        let ctx = Ctx {
            applicant: 1,
            form: &form,
            approvers: &approvers,
            fallback: &none,
        };
        let (st, _) = engine::start(&def, &ctx).expect("start");
        let approve = Action::Approve {
            node: node.to_owned(),
            user: 10,
        };
        reachable(&def, &st, &approve, 1, &form)
            .expect("a 通过 is dry-run")
            .into_iter()
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_posted_action_is_parsed_once_into_its_type() {
        let r = Request::parse(pairs(&[
            ("_csrf", "t"),
            ("op", "return"),
            ("node", "counselor"),
            ("to", "dean"),
            ("comment", " 请补充材料 "),
            ("version", "3"),
            ("f.reason", "x"),
        ]))
        .expect("parsed");
        assert_eq!(
            r.op,
            Op::Return {
                node: "counselor".into(),
                to: ReturnTo::Node("dean".into())
            }
        );
        assert_eq!((r.version, r.comment.as_str()), (3, " 请补充材料 "));
        // The node's own fields travel with it, for 通过.
        assert!(r.pairs.iter().any(|(k, _)| k == "f.reason"));
        let ok = |p: &[(&str, &str)]| Request::parse(pairs(p)).map(|r| r.op).ok();
        assert_eq!(
            ok(&[("op", "return"), ("node", "n"), ("version", "1")]),
            Some(Op::Return {
                node: "n".into(),
                to: ReturnTo::Applicant
            })
        );
        assert_eq!(
            ok(&[
                ("op", "add_signer"),
                ("account", "T1"),
                ("position", "before"),
                ("version", "1")
            ]),
            Some(Op::AddSigner {
                node: String::new(),
                account: "T1".into(),
                before: true
            })
        );
        assert_eq!(
            ok(&[("op", "rate"), ("stars", "9x"), ("version", "1")]),
            Some(Op::Rate { stars: 0 })
        );
        assert_eq!(ok(&[("op", "fly"), ("version", "1")]), Some(Op::Unknown));
        // Missing or malformed essentials, or a key twice: a bad request.
        assert_eq!(ok(&[("op", "approve")]), None);
        assert_eq!(ok(&[("version", "1")]), None);
        assert_eq!(ok(&[("op", "approve"), ("version", "one")]), None);
        assert_eq!(
            ok(&[("op", "approve"), ("op", "withdraw"), ("version", "1")]),
            None
        );
    }

    #[test]
    fn only_the_nodes_a_pass_may_enter_are_resolved() {
        // 学生请假: the counselor's 通过 ends a short leave; a long one goes to the deputy.
        assert!(after_first_approval("XSQJ", "counselor", json!({"days": 1})).is_empty());
        assert_eq!(
            after_first_approval("XSQJ", "counselor", json!({"days": 5})),
            vec!["deputy"]
        );
        // 因公出国: past the head come 国际交流处, the CC to 人事处, and 校领导 only for
        // long or costly trips.
        assert_eq!(
            after_first_approval("CGCJ", "head", json!({"days": 5, "cost": 100})),
            vec!["cc_hr", "intl"]
        );
        assert_eq!(
            after_first_approval("CGCJ", "head", json!({"days": 40, "cost": 100})),
            vec!["cc_hr", "intl", "leader"]
        );
        // Other actions resolve everything.
        let def = demo("XSQJ");
        let form = json!({"days": 1});
        let approvers = BTreeMap::from([("counselor".to_owned(), vec![10])]);
        let none = BTreeMap::new();
        let ctx = Ctx {
            applicant: 1,
            form: &form,
            approvers: &approvers,
            fallback: &none,
        };
        let (st, _) = engine::start(&def, &ctx).expect("start");
        assert!(reachable(&def, &st, &Action::Withdraw { user: 1 }, 1, &form).is_none());
    }
}
