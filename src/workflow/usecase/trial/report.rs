//! A 试算 in words: the trial's steps with the people's names, each condition's branches
//! with the sample values they tested, the rules and fallbacks as the designer shows them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use sqlx::PgPool;

use super::{What, trace};
use crate::{
    forms::FormSchema,
    org::{self, people},
    workflow::{
        check::{branch_name, cond_text, fallback_text, rule_text, value_text},
        engine::Ctx,
        model::{ApproverRule, Definition, Fallback, Mode, NodeKind},
        store,
    },
};

/// A 试算 as the page shows it.
pub struct TrialView {
    pub steps: Vec<StepView>,
    pub completed: bool,
    pub error: Option<String>,
}

pub struct StepView {
    pub id: String,
    pub name: String,
    /// 开始 / 审批 / 抄送 / 条件 / 并行 / 汇聚 / 结束
    pub kind: &'static str,
    pub lines: Vec<String>,
    /// The people asked or copied: 姓名（账号）.
    pub people: Vec<String>,
    /// 办理人 / 抄送给
    pub people_label: &'static str,
    /// Nobody matched the rule (the fallback acted, or the node was passed).
    pub warn: bool,
}

/// Runs the trial for `applicant` on `data` with the real resolver. Reads only.
pub async fn run(
    db: &PgPool,
    service: i64,
    form: &FormSchema,
    def: &Definition,
    applicant: i64,
    data: &Map<String, Value>,
) -> anyhow::Result<TrialView> {
    let value = Value::Object(data.clone());
    let (approvers, fallback) =
        store::resolve::resolve(db, def, applicant, service, &value, None).await?;
    let ctx = Ctx {
        applicant,
        form: &value,
        approvers: &approvers,
        fallback: &fallback,
    };
    let t = trace(def, &ctx);
    let mut ids: BTreeSet<i64> = BTreeSet::from([applicant]);
    for s in &t.steps {
        if let What::Approval {
            asked,
            approved,
            closed,
            ..
        } = &s.what
        {
            ids.extend(asked.iter().chain(approved).chain(closed));
        }
        if let What::Cc { users } = &s.what {
            ids.extend(users);
        }
    }
    let labels: BTreeMap<i64, String> = people::labels(db, &ids.into_iter().collect::<Vec<_>>())
        .await?
        .into_iter()
        .map(|p| (p.id, p.label))
        .collect();
    let roles: BTreeMap<String, String> = org::roles(db)
        .await?
        .into_iter()
        .map(|r| (r.code, r.name))
        .collect();
    let role_name = |c: &str| roles.get(c).cloned().unwrap_or_else(|| c.to_owned());
    // The people rules and fallbacks name, by account.
    let mut named: Vec<String> = Vec::new();
    for n in &def.nodes {
        match &n.kind {
            NodeKind::Approval {
                approvers,
                fallback,
                ..
            } => {
                if let ApproverRule::Users { accounts } = approvers {
                    named.extend(accounts.iter().cloned());
                }
                if let Fallback::User { account } = fallback {
                    named.push(account.clone());
                }
            }
            NodeKind::Cc {
                approvers: ApproverRule::Users { accounts },
                ..
            } => named.extend(accounts.iter().cloned()),
            _ => {}
        }
    }
    let by_account: BTreeMap<String, String> = people::by_accounts(db, &named)
        .await?
        .into_iter()
        .map(|p| (p.account, p.label))
        .collect();
    let account = |a: &String| by_account.get(a).cloned().unwrap_or_else(|| a.clone());
    let rule_words = |r: &ApproverRule| match r {
        ApproverRule::Users { accounts } => format!(
            "指定人员：{}",
            accounts.iter().map(account).collect::<Vec<_>>().join("、")
        ),
        r => rule_text(r, form, &role_name),
    };
    let fallback_words = |f: &Fallback| match f {
        Fallback::User { account: a } => format!("指定人员 {}", account(a)),
        f => fallback_text(f),
    };
    let label = |u: &i64| labels.get(u).cloned().unwrap_or_else(|| format!("#{u}"));
    let name_of = |id: &str| {
        def.node(id)
            .map(|n| format!("“{}”", if n.name.is_empty() { &n.id } else { &n.name }))
            .unwrap_or_else(|| id.to_owned())
    };
    let mut steps = Vec::new();
    for s in &t.steps {
        let Some(n) = def.node(&s.node) else { continue };
        let mut v = StepView {
            id: n.id.clone(),
            name: n.name.clone(),
            kind: short_kind(&n.kind),
            lines: Vec::new(),
            people: Vec::new(),
            people_label: "",
            warn: false,
        };
        match (&s.what, &n.kind) {
            (What::Start, _) => v.lines.push(format!("申请人 {} 提交", label(&applicant))),
            (What::Condition { tested, taken, to }, NodeKind::Condition { branches, .. }) => {
                for (i, holds) in tested {
                    let b = &branches[*i];
                    let mut fields = Vec::new();
                    b.when.fields(&mut fields);
                    fields.dedup();
                    let samples: Vec<String> = fields
                        .iter()
                        .map(|f| {
                            let l = form
                                .fields
                                .iter()
                                .find(|x| x.key == *f)
                                .map_or(*f, |x| x.label.as_str());
                            match data
                                .get(*f)
                                .map(value_text)
                                .filter(|t| !t.trim().is_empty())
                            {
                                Some(t) => format!("{l} 为 {t}"),
                                None => format!("{l} 未填写"),
                            }
                        })
                        .collect();
                    v.lines.push(format!(
                        "分支“{}”：{}（样例中{}）→ {}",
                        branch_name(&b.name, *i),
                        cond_text(&b.when, form),
                        samples.join("，"),
                        if *holds { "成立" } else { "不成立" }
                    ));
                }
                v.lines.push(match taken {
                    Some(i) => format!(
                        "走分支“{}”，进入{}",
                        branch_name(&branches[*i].name, *i),
                        name_of(to)
                    ),
                    None if branches.is_empty() => {
                        format!("没有条件分支，走默认分支，进入{}", name_of(to))
                    }
                    None => format!("条件均不成立，走默认分支，进入{}", name_of(to)),
                });
            }
            (What::Parallel, NodeKind::Parallel { branches }) => v.lines.push(format!(
                "同时进入 {} 个分支：{}",
                branches.len(),
                branches
                    .iter()
                    .map(|b| name_of(b))
                    .collect::<Vec<_>>()
                    .join("、")
            )),
            (What::Join { arrived, needed }, _) => v.lines.push(if arrived >= needed {
                format!("{needed} 个分支均已到达，继续")
            } else {
                format!("已到达 {arrived} / {needed} 个分支，仍在等待")
            }),
            (
                What::Approval {
                    only_self,
                    fell_back,
                    asked,
                    skipped,
                    approved,
                    closed,
                    ..
                },
                NodeKind::Approval {
                    approvers,
                    mode,
                    fallback: fb,
                    ..
                },
            ) => {
                v.lines.push(format!("审批人：{}", rule_words(approvers)));
                if *only_self {
                    v.lines
                        .push("规则只找到申请人本人，不允许审批自己的申请，已排除".into());
                }
                if *fell_back {
                    v.warn = true;
                    v.lines
                        .push(format!("无人匹配 → 按兜底规则：{}", fallback_words(fb)));
                    if *skipped && !matches!(fb, Fallback::Skip { .. }) {
                        v.lines.push("兜底规则也没有可用的人员，此环节跳过".into());
                    } else if *skipped {
                        v.lines.push("此环节跳过".into());
                    }
                } else if *skipped {
                    v.warn = true;
                    v.lines.push("此环节跳过".into());
                }
                if !skipped {
                    v.lines.push(format!("办理方式：{}", mode_text(*mode)));
                    v.people = asked.iter().map(label).collect();
                    v.people_label = "办理人";
                    if approved.len() > 1 {
                        v.lines.push(format!(
                            "试算中依次通过：{}",
                            approved.iter().map(label).collect::<Vec<_>>().join(" → ")
                        ));
                    }
                    if !closed.is_empty() {
                        v.lines.push(format!(
                            "或签：一人通过后，{} 的待办随之关闭",
                            closed.iter().map(label).collect::<Vec<_>>().join("、")
                        ));
                    }
                }
            }
            (What::Cc { users }, NodeKind::Cc { approvers, .. }) => {
                v.lines.push(format!("抄送：{}", rule_words(approvers)));
                if users.is_empty() {
                    v.warn = true;
                    v.lines
                        .push("无人匹配，不抄送（抄送节点无需兜底，流程继续）".into());
                }
                v.people = users.iter().map(label).collect();
                v.people_label = "抄送给";
            }
            (What::End, _) => v.lines.push("办结".into()),
            _ => {}
        }
        steps.push(v);
    }
    Ok(TrialView {
        steps,
        completed: t.completed,
        error: t.error,
    })
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

fn mode_text(m: Mode) -> &'static str {
    match m {
        Mode::Any => "或签（任一人通过即可）",
        Mode::All => "会签（全部通过）",
        Mode::Sequential => "依次审批（按顺序逐一通过）",
    }
}
