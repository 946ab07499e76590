//! The engine as pure unit tests, plus a randomised walk over allowed actions.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde_json::{Value, json};

use super::{
    engine::{self, Action, Ctx, Effect, EngineError, ReturnTo, SlotState, State, Status, UserId},
    model::Definition,
};

// Returns, 中止/撤回, 转办, 加签 and definition checks; the randomised walk.
mod actions;
mod walk;

const APPLICANT: UserId = 1;

fn def(v: Value) -> Definition {
    let d: Definition = serde_json::from_value(v).expect("definition parses");
    d.validate().expect("definition is valid");
    d
}

struct World {
    approvers: BTreeMap<String, Vec<UserId>>,
    fallback: BTreeMap<String, Vec<UserId>>,
    form: Value,
}

impl World {
    fn new(approvers: &[(&str, &[UserId])]) -> Self {
        World {
            approvers: approvers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
                .collect(),
            fallback: BTreeMap::new(),
            form: json!({}),
        }
    }
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            applicant: APPLICANT,
            form: &self.form,
            approvers: &self.approvers,
            fallback: &self.fallback,
        }
    }
}

fn linear(mode: &str) -> Definition {
    def(json!({"nodes": [
        {"id": "start", "type": "start", "next": "a"},
        {"id": "a", "type": "approval", "name": "A", "approvers": {"kind": "applicant"}, "mode": mode, "next": "b"},
        {"id": "b", "type": "approval", "name": "B", "approvers": {"kind": "applicant"}, "next": "end"},
        {"id": "end", "type": "end"}
    ]}))
}

fn approve(
    d: &Definition,
    st: &State,
    w: &World,
    node: &str,
    user: UserId,
) -> (State, Vec<Effect>) {
    engine::apply(
        d,
        st,
        &Action::Approve {
            node: node.into(),
            user,
        },
        &w.ctx(),
    )
    .expect("approve")
}

fn pending(st: &State) -> Vec<(String, UserId)> {
    engine::pending(st)
}

#[test]
fn or_sign_closes_the_others_tasks() {
    let d = linear("any");
    let w = World::new(&[("a", &[2, 3]), ("b", &[4])]);
    let (st, fx) = engine::start(&d, &w.ctx()).unwrap();
    assert_eq!(pending(&st), vec![("a".into(), 2), ("a".into(), 3)]);
    assert!(fx.contains(&Effect::Entered { node: "a".into() }));
    let (st, fx) = approve(&d, &st, &w, "a", 3);
    assert!(fx.contains(&Effect::DecidedBy {
        node: "a".into(),
        by: 3,
        cancelled: vec![2]
    }));
    assert_eq!(pending(&st), vec![("b".into(), 4)]);
    // 2's task is gone: acting on it now is "already handled".
    let err = engine::apply(
        &d,
        &st,
        &Action::Approve {
            node: "a".into(),
            user: 2,
        },
        &w.ctx(),
    )
    .unwrap_err();
    assert_eq!(err, EngineError::AlreadyHandled);
    let (st, fx) = approve(&d, &st, &w, "b", 4);
    assert_eq!(st.status, Status::Completed);
    assert!(fx.contains(&Effect::Completed));
    assert_eq!(st.done, vec!["a", "b"]);
}

#[test]
fn countersign_needs_everyone_and_one_return_decides() {
    let d = linear("all");
    let w = World::new(&[("a", &[2, 3]), ("b", &[4])]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    let (st1, _) = approve(&d, &st, &w, "a", 2);
    assert_eq!(pending(&st1), vec![("a".into(), 3)]);
    let (st2, _) = approve(&d, &st1, &w, "a", 3);
    assert_eq!(pending(&st2), vec![("b".into(), 4)]);
    // One 退回 decides the node even though 2 approved.
    let (st3, _) = engine::apply(
        &d,
        &st1,
        &Action::Return {
            node: "a".into(),
            user: 3,
            to: ReturnTo::Applicant,
        },
        &w.ctx(),
    )
    .unwrap();
    assert_eq!(st3.status, Status::Returned);
    assert!(pending(&st3).is_empty());
    // 3 cannot hand the task, or a second signature, to 2, who has already signed.
    for action in [
        Action::Transfer {
            node: "a".into(),
            user: 3,
            to: 2,
        },
        Action::AddSigner {
            node: "a".into(),
            user: 3,
            signer: 2,
            before: true,
        },
        Action::AddSigner {
            node: "a".into(),
            user: 3,
            signer: 2,
            before: false,
        },
    ] {
        assert!(
            matches!(
                engine::apply(&d, &st1, &action, &w.ctx()),
                Err(engine::EngineError::NotAllowed(_))
            ),
            "{action:?}"
        );
    }
}

#[test]
fn sequential_goes_in_order() {
    let d = linear("sequential");
    let w = World::new(&[("a", &[2, 3, 4]), ("b", &[5])]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    assert_eq!(pending(&st), vec![("a".into(), 2)]);
    assert_eq!(
        engine::apply(
            &d,
            &st,
            &Action::Approve {
                node: "a".into(),
                user: 3
            },
            &w.ctx()
        )
        .unwrap_err(),
        EngineError::AlreadyHandled,
        "3 is not yet due"
    );
    let (st, _) = approve(&d, &st, &w, "a", 2);
    assert_eq!(pending(&st), vec![("a".into(), 3)]);
    let (st, _) = approve(&d, &st, &w, "a", 3);
    let (st, _) = approve(&d, &st, &w, "a", 4);
    assert_eq!(pending(&st), vec![("b".into(), 5)]);
}

#[test]
fn empty_approvers_use_the_fallback_or_skip() {
    let d = linear("any");
    let w = World::new(&[("a", &[]), ("b", &[4])]);
    let (st, fx) = engine::start(&d, &w.ctx()).unwrap();
    assert!(fx.contains(&Effect::Skipped { node: "a".into() }));
    assert_eq!(pending(&st), vec![("b".into(), 4)]);
    let mut w = World::new(&[("a", &[]), ("b", &[4])]);
    w.fallback.insert("a".into(), vec![9]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    assert_eq!(pending(&st), vec![("a".into(), 9)]);
    // Nobody anywhere: straight to completion.
    let w = World::new(&[]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    assert_eq!(st.status, Status::Completed);
}

#[test]
fn nobody_approves_their_own_application_unless_allowed() {
    let d = linear("any");
    let w = World::new(&[("a", &[APPLICANT, 2]), ("b", &[APPLICANT])]);
    let (st, fx) = engine::start(&d, &w.ctx()).unwrap();
    assert_eq!(pending(&st), vec![("a".into(), 2)]);
    let (st, fx2) = approve(&d, &st, &w, "a", 2);
    assert!(
        fx2.contains(&Effect::Skipped { node: "b".into() }),
        "{fx:?} {fx2:?}"
    );
    assert_eq!(st.status, Status::Completed);
    let d2 = def(json!({"nodes": [
        {"id": "start", "type": "start", "next": "a"},
        {"id": "a", "type": "approval", "approvers": {"kind": "applicant"}, "allow_self": true, "next": "end"},
        {"id": "end", "type": "end"}
    ]}));
    let w = World::new(&[("a", &[APPLICANT])]);
    let (st, _) = engine::start(&d2, &w.ctx()).unwrap();
    assert_eq!(pending(&st), vec![("a".into(), APPLICANT)]);
}

fn travel() -> Definition {
    def(json!({"nodes": [
        {"id": "start", "type": "start", "next": "head"},
        {"id": "head", "type": "approval", "approvers": {"kind": "dept_head"}, "next": "cc"},
        {"id": "cc", "type": "cc", "approvers": {"kind": "role", "role": "hr"}, "next": "check"},
        {"id": "check", "type": "condition", "branches": [
            {"when": {"op": "any", "of": [
                {"op": "gt", "field": "days", "value": 30},
                {"op": "gt", "field": "cost", "value": 50000}
            ]}, "next": "leader"}
        ], "default": "end"},
        {"id": "leader", "type": "approval", "approvers": {"kind": "role", "role": "leader"}, "next": "end"},
        {"id": "end", "type": "end"}
    ]}))
}

#[test]
fn cc_and_condition_branches_with_a_default() {
    let d = travel();
    for (form, expect_leader) in [
        (json!({"days": 31, "cost": 100}), true),
        (json!({"days": "10", "cost": "50000.01"}), true),
        (json!({"days": 30, "cost": 50000}), false),
        (json!({}), false),
    ] {
        let mut w = World::new(&[("head", &[2]), ("cc", &[7, 8]), ("leader", &[9])]);
        w.form = form.clone();
        let (st, _) = engine::start(&d, &w.ctx()).unwrap();
        let (st, fx) = approve(&d, &st, &w, "head", 2);
        assert!(fx.contains(&Effect::Cc {
            node: "cc".into(),
            users: vec![7, 8]
        }));
        if expect_leader {
            assert_eq!(pending(&st), vec![("leader".into(), 9)], "{form}");
        } else {
            assert_eq!(st.status, Status::Completed, "{form}");
        }
    }
}

/// The 里程碑 bar: without data, a step only a condition brings in is marked; with the
/// application's data, it is on the path or not as the engine would decide, unless the
/// condition tests a field the viewer may not see.
#[test]
fn milestones_follow_the_conditions() {
    let ids = |v: Vec<(&crate::workflow::model::Node, Option<bool>)>| {
        v.into_iter()
            .map(|(n, on)| (n.id.clone(), on))
            .collect::<Vec<_>>()
    };
    let all = |_: &str| true;
    let none = |_: &str| false;
    let d = travel();
    assert_eq!(
        ids(d.milestones_on(None, &none)),
        vec![("head".into(), Some(true)), ("leader".into(), None)]
    );
    assert_eq!(
        ids(d.milestones_on(Some(&json!({"days": 31})), &all)),
        vec![("head".into(), Some(true)), ("leader".into(), Some(true))]
    );
    assert_eq!(
        ids(d.milestones_on(Some(&json!({"days": 30, "cost": 50000})), &all)),
        vec![("head".into(), Some(true)), ("leader".into(), Some(false))]
    );
    // 费用 hidden from this viewer: the path would give it away, so it stays 视情况.
    assert_eq!(
        ids(
            d.milestones_on(Some(&json!({"days": 30, "cost": 60000})), &|k: &str| k
                != "cost")
        ),
        vec![("head".into(), Some(true)), ("leader".into(), None)]
    );
    // Parallel branches are all taken: none is conditional...
    assert!(
        parallel()
            .milestones_on(None, &none)
            .iter()
            .all(|(_, on)| *on == Some(true))
    );
    // ...but a condition inside one branch makes its step conditional, not the others.
    let d = def(json!({"nodes": [
        {"id": "start", "type": "start", "next": "split"},
        {"id": "split", "type": "parallel", "branches": ["x", "check"]},
        {"id": "x", "type": "approval", "approvers": {"kind": "applicant"}, "next": "join"},
        {"id": "check", "type": "condition", "branches": [
            {"when": {"op": "gt", "field": "days", "value": 3}, "next": "y"}
        ], "default": "join"},
        {"id": "y", "type": "approval", "approvers": {"kind": "applicant"}, "next": "join"},
        {"id": "join", "type": "join", "next": "end"},
        {"id": "end", "type": "end"}
    ]}));
    assert_eq!(
        ids(d.milestones_on(None, &none)),
        vec![("x".into(), Some(true)), ("y".into(), None)]
    );
    // A step every branch leads to is not conditional either.
    let d = def(json!({"nodes": [
        {"id": "start", "type": "start", "next": "check"},
        {"id": "check", "type": "condition", "branches": [
            {"when": {"op": "gt", "field": "days", "value": 3}, "next": "a"}
        ], "default": "b"},
        {"id": "a", "type": "approval", "approvers": {"kind": "applicant"}, "next": "last"},
        {"id": "b", "type": "approval", "approvers": {"kind": "applicant"}, "next": "last"},
        {"id": "last", "type": "approval", "approvers": {"kind": "applicant"}, "next": "end"},
        {"id": "end", "type": "end"}
    ]}));
    assert_eq!(
        ids(d.milestones_on(None, &none)),
        vec![
            ("a".into(), None),
            ("b".into(), None),
            ("last".into(), Some(true))
        ]
    );
    // Forty conditions in a row, each with two ways to the next: 2^40 paths, which only a
    // memoised walk gets through; the final step is on every one of them.
    let mut nodes = vec![json!({"id": "start", "type": "start", "next": "c0"})];
    for i in 0..40 {
        nodes.push(
            json!({"id": format!("c{i}"), "type": "condition", "branches": [
            {"when": {"op": "gt", "field": "days", "value": i}, "next": format!("a{i}")}
        ], "default": format!("c{}", i + 1)}),
        );
        nodes.push(json!({"id": format!("a{i}"), "type": "approval",
            "approvers": {"kind": "applicant"}, "next": format!("c{}", i + 1)}));
    }
    nodes.push(
        json!({"id": "c40", "type": "approval", "approvers": {"kind": "applicant"}, "next": "end"}),
    );
    nodes.push(json!({"id": "end", "type": "end"}));
    let d = def(json!({ "nodes": nodes }));
    let steps = d.milestones_on(None, &none);
    assert_eq!(steps.len(), 41);
    assert_eq!(
        steps.last().map(|(n, on)| (n.id.as_str(), *on)),
        Some(("c40", Some(true)))
    );
    assert!(steps[..40].iter().all(|(_, on)| on.is_none()));
}

fn parallel() -> Definition {
    def(json!({"nodes": [
        {"id": "start", "type": "start", "next": "split"},
        {"id": "split", "type": "parallel", "branches": ["x", "y", "z"]},
        {"id": "x", "type": "approval", "approvers": {"kind": "applicant"}, "next": "join"},
        {"id": "y", "type": "approval", "approvers": {"kind": "applicant"}, "next": "join"},
        {"id": "z", "type": "approval", "approvers": {"kind": "applicant"}, "next": "join"},
        {"id": "join", "type": "join", "next": "final"},
        {"id": "final", "type": "approval", "approvers": {"kind": "applicant"}, "next": "end"},
        {"id": "end", "type": "end"}
    ]}))
}

#[test]
fn parallel_branches_join_before_going_on() {
    let d = parallel();
    let w = World::new(&[("x", &[2]), ("y", &[3]), ("z", &[4]), ("final", &[5])]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    assert_eq!(pending(&st).len(), 3);
    let (st, _) = approve(&d, &st, &w, "y", 3);
    let (st, _) = approve(&d, &st, &w, "x", 2);
    assert_eq!(pending(&st), vec![("z".into(), 4)], "join waits for z");
    let (st, _) = approve(&d, &st, &w, "z", 4);
    assert_eq!(pending(&st), vec![("final".into(), 5)]);
    let (st, _) = approve(&d, &st, &w, "final", 5);
    assert_eq!(st.status, Status::Completed);
}
