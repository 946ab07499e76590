//! Random walks over the allowed actions: the invariants hold after every step.

use super::*;

/// Every action a participant could take now (with a small pool of other people).
fn allowed(st: &State) -> Vec<Action> {
    let mut v = Vec::new();
    match st.status {
        Status::Running if !st.acted => v.push(Action::Withdraw { user: APPLICANT }),
        Status::Returned => v.push(Action::Resubmit { user: APPLICANT }),
        _ => {}
    }
    for (node, user) in engine::pending(st) {
        v.push(Action::Approve {
            node: node.clone(),
            user,
        });
        v.push(Action::Approve {
            node: node.clone(),
            user,
        });
        v.push(Action::Approve {
            node: node.clone(),
            user,
        });
        v.push(Action::Return {
            node: node.clone(),
            user,
            to: ReturnTo::Applicant,
        });
        v.push(Action::Terminate {
            node: node.clone(),
            user,
        });
        if st.tokens.len() == 1 {
            for d in &st.done {
                v.push(Action::Return {
                    node: node.clone(),
                    user,
                    to: ReturnTo::Node(d.clone()),
                });
            }
        }
        let busy: Vec<UserId> = st
            .tokens
            .iter()
            .filter(|t| t.node == node)
            .flat_map(|t| t.slots.iter())
            .filter(|s| {
                matches!(
                    s.state,
                    SlotState::Pending | SlotState::Waiting { .. } | SlotState::Approved
                )
            })
            .map(|s| s.user)
            .collect();
        if let Some(other) = (100..106).find(|u| !busy.contains(u)) {
            v.push(Action::Transfer {
                node: node.clone(),
                user,
                to: other,
            });
            v.push(Action::AddSigner {
                node: node.clone(),
                user,
                signer: other,
                before: true,
            });
            v.push(Action::AddSigner {
                node: node.clone(),
                user,
                signer: other,
                before: false,
            });
        }
    }
    v
}

#[test]
fn random_walks_never_reach_an_invalid_state_and_always_end_once() {
    let defs = [
        linear("any"),
        linear("all"),
        linear("sequential"),
        parallel(),
        travel(),
    ];
    let worlds = [
        World::new(&[("a", &[2, 3]), ("b", &[4, 5])]),
        World::new(&[("a", &[2, 3]), ("b", &[4, 5])]),
        World::new(&[("a", &[2, 3, 6]), ("b", &[4])]),
        World::new(&[("x", &[2]), ("y", &[3, 7]), ("z", &[4]), ("final", &[5])]),
        World {
            form: json!({"days": 40}),
            ..World::new(&[("head", &[2]), ("cc", &[7]), ("leader", &[9, 10])])
        },
    ];
    let mut terminals = BTreeMap::new();
    for seed in 0..2000u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let i = rng.gen_range(0..defs.len());
        let (d, w) = (&defs[i], &worlds[i]);
        let (mut st, _) = engine::start(d, &w.ctx()).unwrap();
        engine::check_invariants(&st).unwrap();
        let mut steps = 0;
        // A random prefix, then everyone approves and the applicant resubmits.
        while !st.status.is_terminal() {
            steps += 1;
            assert!(steps < 500, "seed {seed}: no end in sight: {st:?}");
            let actions = allowed(&st);
            assert!(!actions.is_empty(), "seed {seed}: stuck in {st:?}");
            let action = if steps < 25 {
                actions.choose(&mut rng).unwrap().clone()
            } else {
                actions
                    .iter()
                    .find(|a| matches!(a, Action::Approve { .. } | Action::Resubmit { .. }))
                    .unwrap_or(&actions[0])
                    .clone()
            };
            let (next, fx) = engine::apply(d, &st, &action, &w.ctx())
                .unwrap_or_else(|e| panic!("seed {seed}: allowed action {action:?} failed: {e}"));
            engine::check_invariants(&next)
                .unwrap_or_else(|e| panic!("seed {seed}: after {action:?}: {e}\n{next:?}"));
            let ends = fx
                .iter()
                .filter(|f| {
                    matches!(
                        f,
                        Effect::Completed | Effect::Terminated | Effect::Withdrawn
                    )
                })
                .count();
            assert_eq!(
                ends,
                usize::from(next.status.is_terminal() && !st.status.is_terminal()),
                "seed {seed}"
            );
            st = next;
        }
        // Terminal means terminal: nothing further applies.
        assert!(allowed(&st).is_empty());
        for (node, user) in [("a", 2), ("b", 4), ("x", 2)] {
            assert!(
                engine::apply(
                    d,
                    &st,
                    &Action::Approve {
                        node: node.into(),
                        user
                    },
                    &w.ctx()
                )
                .is_err()
            );
        }
        assert!(engine::apply(d, &st, &Action::Resubmit { user: APPLICANT }, &w.ctx()).is_err());
        *terminals.entry(st.status.code()).or_insert(0) += 1;
    }
    // The walk really explores: every kind of ending occurs.
    for s in ["completed", "terminated", "withdrawn"] {
        assert!(terminals.get(s).copied().unwrap_or(0) > 20, "{terminals:?}");
    }
}

#[test]
fn state_round_trips_through_json() {
    let d = parallel();
    let w = World::new(&[("x", &[2]), ("y", &[3]), ("z", &[4]), ("final", &[5])]);
    let (st, _) = engine::start(&d, &w.ctx()).unwrap();
    let (st, _) = approve(&d, &st, &w, "x", 2);
    let back: State = serde_json::from_value(serde_json::to_value(&st).unwrap()).unwrap();
    assert_eq!(back, st);
}
