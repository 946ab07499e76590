//! The trial's walk beside the engine: conditions, parallel branches, 会签, 或签, 依次,
//! fallbacks and CC nodes, on fixed approvers (the resolver is the database's part).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

fn def(nodes: Value) -> Definition {
    serde_json::from_value(json!({ "nodes": nodes })).unwrap()
}

const APPLICANT: i64 = 7;

fn run(
    d: &Definition,
    form: Value,
    approvers: &[(&str, &[i64])],
    fallback: &[(&str, &[i64])],
) -> Trace {
    let map = |l: &[(&str, &[i64])]| -> BTreeMap<String, Vec<i64>> {
        l.iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
            .collect()
    };
    let (a, f) = (map(approvers), map(fallback));
    trace(
        d,
        &Ctx {
            applicant: APPLICANT,
            form: &form,
            approvers: &a,
            fallback: &f,
        },
    )
}

fn approval(id: &str, next: &str, mode: &str) -> Value {
    json!({ "id": id, "type": "approval", "name": id, "mode": mode,
            "approvers": { "kind": "users", "accounts": [] }, "next": next })
}

fn leave() -> Definition {
    def(json!([
        { "id": "start", "type": "start", "name": "提交", "next": "counselor" },
        approval("counselor", "check", "any"),
        { "id": "check", "type": "condition", "name": "是否超过3天", "default": "end",
          "branches": [{ "name": "超过3天", "when": { "op": "gt", "field": "days", "value": 3 }, "next": "deputy" }] },
        approval("deputy", "end", "any"),
        { "id": "end", "type": "end", "name": "办结" }
    ]))
}

fn approved(asked: &[i64], approved: &[i64]) -> What {
    What::Approval {
        matched: asked.to_vec(),
        only_self: false,
        fell_back: false,
        asked: asked.to_vec(),
        skipped: false,
        approved: approved.to_vec(),
        closed: vec![],
    }
}

fn step(node: &str, what: What) -> Step {
    Step {
        node: node.into(),
        what,
    }
}

#[test]
fn a_condition_takes_its_branch_or_the_default() {
    let d = leave();
    let people: &[(&str, &[i64])] = &[("counselor", &[10]), ("deputy", &[20])];
    let long = run(&d, json!({ "days": 5 }), people, &[]);
    assert_eq!(
        long,
        Trace {
            steps: vec![
                step("start", What::Start),
                step("counselor", approved(&[10], &[10])),
                step(
                    "check",
                    What::Condition {
                        tested: vec![(0, true)],
                        taken: Some(0),
                        to: "deputy".into()
                    }
                ),
                step("deputy", approved(&[20], &[20])),
                step("end", What::End),
            ],
            completed: true,
            error: None,
        }
    );
    // Days typed as text compare as numbers, as the engine does.
    let short = run(&d, json!({ "days": "3" }), people, &[]);
    assert_eq!(
        short.steps,
        vec![
            step("start", What::Start),
            step("counselor", approved(&[10], &[10])),
            step(
                "check",
                What::Condition {
                    tested: vec![(0, false)],
                    taken: None,
                    to: "end".into()
                }
            ),
            step("end", What::End),
        ]
    );
    assert!(short.completed);
}

#[test]
fn nobody_matched_goes_to_the_fallback_or_passes_the_node() {
    let d = leave();
    let t = run(
        &d,
        json!({ "days": 1 }),
        &[("counselor", &[])],
        &[("counselor", &[99])],
    );
    assert_eq!(
        t.steps[1].what,
        What::Approval {
            matched: vec![],
            only_self: false,
            fell_back: true,
            asked: vec![99],
            skipped: false,
            approved: vec![99],
            closed: vec![],
        }
    );
    // No fallback either: the node is passed and the run goes on.
    let t = run(
        &d,
        json!({ "days": 1 }),
        &[("counselor", &[APPLICANT])],
        &[],
    );
    assert_eq!(
        t.steps[1].what,
        What::Approval {
            matched: vec![],
            only_self: true,
            fell_back: true,
            asked: vec![],
            skipped: true,
            approved: vec![],
            closed: vec![],
        }
    );
    assert_eq!(t.steps.len(), 4);
    assert!(t.completed);
}

#[test]
fn parallel_branches_and_countersigning_run_as_the_engine_runs_them() {
    let d = def(json!([
        { "id": "start", "type": "start", "name": "提交", "next": "p" },
        { "id": "p", "type": "parallel", "name": "并行", "branches": ["a", "b"] },
        approval("a", "a2", "all"),
        approval("a2", "j", "sequential"),
        approval("b", "j", "any"),
        { "id": "j", "type": "join", "name": "汇聚", "next": "cc" },
        { "id": "cc", "type": "cc", "name": "抄送", "approvers": { "kind": "applicant" }, "next": "end" },
        { "id": "end", "type": "end", "name": "办结" }
    ]));
    let t = run(
        &d,
        json!({}),
        &[
            ("a", &[1, 2]),
            ("a2", &[4, 5]),
            ("b", &[3, 6]),
            ("cc", &[APPLICANT]),
        ],
        &[],
    );
    assert!(t.completed, "{t:?}");
    let order: Vec<&str> = t.steps.iter().map(|s| s.node.as_str()).collect();
    assert_eq!(order, ["start", "p", "a", "b", "a2", "j", "cc", "end"]);
    // 会签: both approve; 或签: the first decides and the other's task closes; 依次: in turn.
    assert_eq!(t.steps[2].what, approved(&[1, 2], &[1, 2]));
    let What::Approval {
        approved: by,
        closed,
        ..
    } = &t.steps[3].what
    else {
        panic!()
    };
    assert_eq!((by.as_slice(), closed.as_slice()), (&[3][..], &[6][..]));
    assert_eq!(t.steps[4].what, approved(&[4, 5], &[4, 5]));
    assert_eq!(
        t.steps[5].what,
        What::Join {
            arrived: 2,
            needed: 2
        }
    );
    assert_eq!(
        t.steps[6].what,
        What::Cc {
            users: vec![APPLICANT]
        }
    );
}

#[test]
fn a_broken_definition_stops_with_the_engines_reason() {
    let d = def(json!([
        { "id": "start", "type": "start", "name": "提交", "next": "nowhere" },
        { "id": "end", "type": "end", "name": "办结" }
    ]));
    let t = run(&d, json!({}), &[], &[]);
    assert!(!t.completed);
    assert_eq!(
        t.error.as_deref(),
        Some("流程定义有误：节点 nowhere 不存在")
    );
}
