//! Returns and resubmission, 中止 and 撤回, 转办, 加签, and checking definitions.

use super::*;

#[test]
fn return_and_resubmit_goes_straight_back_and_earlier_approvals_stand() {
    let d = linear("any");
    let w = World::new(&[("a", &[2]), ("b", &[4])]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    let (st, _) = approve(&d, &st, &w, "a", 2);
    let (st, _) = engine::apply(
        &d,
        &st,
        &Action::Return {
            node: "b".into(),
            user: 4,
            to: ReturnTo::Applicant,
        },
        &w.ctx(),
    )
    .unwrap();
    assert_eq!(st.status, Status::Returned);
    assert_eq!(
        engine::apply(&d, &st, &Action::Resubmit { user: 2 }, &w.ctx()).unwrap_err(),
        EngineError::NotAllowed("只有申请人可以重新提交")
    );
    let (st, _) = engine::apply(&d, &st, &Action::Resubmit { user: APPLICANT }, &w.ctx()).unwrap();
    assert_eq!(pending(&st), vec![("b".into(), 4)], "not back to a");
    assert_eq!(st.done, vec!["a"]);
    assert!(!st.acted, "a fresh submission can be withdrawn again");
}

#[test]
fn return_to_an_earlier_node() {
    let d = linear("any");
    let w = World::new(&[("a", &[2]), ("b", &[4])]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    assert_eq!(
        engine::apply(
            &d,
            &st,
            &Action::Return {
                node: "a".into(),
                user: 2,
                to: ReturnTo::Node("b".into())
            },
            &w.ctx()
        )
        .unwrap_err(),
        EngineError::NotAllowed("只能退回到已经办理过的环节")
    );
    let (st, _) = approve(&d, &st, &w, "a", 2);
    let (st, _) = engine::apply(
        &d,
        &st,
        &Action::Return {
            node: "b".into(),
            user: 4,
            to: ReturnTo::Node("a".into()),
        },
        &w.ctx(),
    )
    .unwrap();
    assert_eq!(st.status, Status::Running);
    assert_eq!(pending(&st), vec![("a".into(), 2)]);
    assert!(st.done.is_empty());
    let (st, _) = approve(&d, &st, &w, "a", 2);
    assert_eq!(pending(&st), vec![("b".into(), 4)]);
}

#[test]
fn returning_one_parallel_branch_keeps_the_others() {
    let d = parallel();
    let w = World::new(&[("x", &[2]), ("y", &[3]), ("z", &[4]), ("final", &[5])]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    let (st, _) = approve(&d, &st, &w, "x", 2);
    let (st, _) = engine::apply(
        &d,
        &st,
        &Action::Return {
            node: "y".into(),
            user: 3,
            to: ReturnTo::Applicant,
        },
        &w.ctx(),
    )
    .unwrap();
    assert!(pending(&st).is_empty());
    engine::check_invariants(&st).unwrap();
    let (st, _) = engine::apply(&d, &st, &Action::Resubmit { user: APPLICANT }, &w.ctx()).unwrap();
    let mut p = pending(&st);
    p.sort();
    assert_eq!(
        p,
        vec![("y".into(), 3), ("z".into(), 4)],
        "x stays approved, z is still open"
    );
    let (st, _) = approve(&d, &st, &w, "y", 3);
    let (st, _) = approve(&d, &st, &w, "z", 4);
    assert_eq!(pending(&st), vec![("final".into(), 5)]);
}

#[test]
fn terminate_and_withdraw() {
    let d = linear("any");
    let w = World::new(&[("a", &[2]), ("b", &[4])]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    let (t, fx) = engine::apply(
        &d,
        &st,
        &Action::Terminate {
            node: "a".into(),
            user: 2,
        },
        &w.ctx(),
    )
    .unwrap();
    assert_eq!(t.status, Status::Terminated);
    assert!(fx.contains(&Effect::Terminated));
    let (wd, _) = engine::apply(&d, &st, &Action::Withdraw { user: APPLICANT }, &w.ctx()).unwrap();
    assert_eq!(wd.status, Status::Withdrawn);
    let (after, _) = approve(&d, &st, &w, "a", 2);
    assert_eq!(
        engine::apply(&d, &after, &Action::Withdraw { user: APPLICANT }, &w.ctx()).unwrap_err(),
        EngineError::NotAllowed("审批人已处理，不能撤回")
    );
}

#[test]
fn transfer_hands_the_task_over() {
    let d = linear("sequential");
    let w = World::new(&[("a", &[2, 3]), ("b", &[4])]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    let (st, _) = engine::apply(
        &d,
        &st,
        &Action::Transfer {
            node: "a".into(),
            user: 2,
            to: 7,
        },
        &w.ctx(),
    )
    .unwrap();
    assert_eq!(pending(&st), vec![("a".into(), 7)]);
    assert_eq!(
        engine::apply(
            &d,
            &st,
            &Action::Approve {
                node: "a".into(),
                user: 2
            },
            &w.ctx()
        )
        .unwrap_err(),
        EngineError::AlreadyHandled
    );
    assert!(
        engine::apply(
            &d,
            &st,
            &Action::Transfer {
                node: "a".into(),
                user: 7,
                to: 3
            },
            &w.ctx()
        )
        .is_err(),
        "3 is already on the node"
    );
    let (st, _) = approve(&d, &st, &w, "a", 7);
    assert_eq!(
        pending(&st),
        vec![("a".into(), 3)],
        "the order after the transferred task stands"
    );
}

#[test]
fn add_signer_before_and_after() {
    let d = linear("any");
    let w = World::new(&[("a", &[2, 3]), ("b", &[4])]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    // Before me: 8 first, then me.
    let (s1, _) = engine::apply(
        &d,
        &st,
        &Action::AddSigner {
            node: "a".into(),
            user: 2,
            signer: 8,
            before: true,
        },
        &w.ctx(),
    )
    .unwrap();
    assert_eq!(pending(&s1), vec![("a".into(), 8), ("a".into(), 3)]);
    let (s1, _) = approve(&d, &s1, &w, "a", 8);
    assert_eq!(pending(&s1), vec![("a".into(), 2), ("a".into(), 3)]);
    // After me: my approval closes 3's task (或签) but the node waits for 8.
    let (s2, _) = engine::apply(
        &d,
        &st,
        &Action::AddSigner {
            node: "a".into(),
            user: 2,
            signer: 8,
            before: false,
        },
        &w.ctx(),
    )
    .unwrap();
    let (s2, _) = approve(&d, &s2, &w, "a", 2);
    assert_eq!(pending(&s2), vec![("a".into(), 8)]);
    let (s2, _) = approve(&d, &s2, &w, "a", 8);
    assert_eq!(pending(&s2), vec![("b".into(), 4)]);
}

#[test]
fn definitions_are_checked_when_saved() {
    let bad = |v: Value| {
        serde_json::from_value::<Definition>(v)
            .unwrap()
            .validate()
            .unwrap_err()
    };
    assert!(bad(json!({"nodes": [{"id": "end", "type": "end"}]})).contains("开始节点"));
    assert!(
        bad(json!({"nodes": [
            {"id": "start", "type": "start", "next": "nowhere"}, {"id": "end", "type": "end"}
        ]}))
        .contains("不存在")
    );
    assert!(
        bad(json!({"nodes": [
            {"id": "start", "type": "start", "next": "a"},
            {"id": "a", "type": "approval", "approvers": {"kind": "applicant"}, "next": "b"},
            {"id": "b", "type": "approval", "approvers": {"kind": "applicant"}, "next": "a"},
            {"id": "end", "type": "end"}
        ]}))
        .contains("回路")
    );
    assert!(
        bad(json!({"nodes": [
            {"id": "start", "type": "start", "next": "end"},
            {"id": "lost", "type": "approval", "approvers": {"kind": "applicant"}, "next": "end"},
            {"id": "end", "type": "end"}
        ]}))
        .contains("无法从开始节点到达")
    );
}
