//! The 里程碑 bar: the steps of a flow and how far an application has come.

use serde_json::Value;

use super::{engine, model::Definition};

pub struct Milestone {
    pub name: String,
    /// "done" | "current" | "todo"
    pub state: &'static str,
    /// Only a condition on the form brings this step in (视情况).
    pub maybe: bool,
    /// Steps that run at the same time (branches of one parallel split) are one milestone
    /// listing them, each with its state; empty for an ordinary step.
    pub branches: Vec<Branch>,
    split: Option<String>,
}

pub struct Branch {
    pub name: String,
    pub state: &'static str,
}

/// The 里程碑 bar. With the application's data (`form`), steps its conditions leave out
/// are not shown, unless already reached; steps that depend on conditions the viewer may
/// not see (`visible` fields), or on data not yet filled in (no `form`), say 视情况.
pub fn milestones(
    def: &Definition,
    st: Option<&engine::State>,
    form: Option<&Value>,
    visible: &dyn Fn(&str) -> bool,
) -> Vec<Milestone> {
    let completed = st.is_some_and(|s| s.status == engine::Status::Completed);
    let parallel = def.parallel_branch_of();
    let steps = def
        .milestones_on(form, visible)
        .into_iter()
        .filter_map(|(n, on_path)| {
            let state = match st {
                Some(s) if s.tokens.iter().any(|t| t.node == n.id) => "current",
                Some(s) if s.returned_from.as_deref() == Some(n.id.as_str()) => "current",
                Some(s) if s.done.contains(&n.id) => "done",
                _ if completed && on_path == Some(true) => "done",
                _ => "todo",
            };
            // Off the path, or (once completed) never reached: not part of this application.
            if state == "todo" && (on_path == Some(false) || completed) {
                return None;
            }
            Some(Milestone {
                name: if n.name.is_empty() {
                    n.id.clone()
                } else {
                    n.name.clone()
                },
                state,
                maybe: on_path.is_none() && state == "todo",
                branches: Vec::new(),
                split: parallel.get(n.id.as_str()).map(|(p, _)| p.id.clone()),
            })
        });
    // The branches of one split become one step: current while any branch is, done when
    // all are.
    let mut out: Vec<Milestone> = Vec::new();
    for m in steps {
        let Some(split) = m.split.clone() else {
            out.push(m);
            continue;
        };
        let branch = Branch {
            name: m.name,
            state: m.state,
        };
        match out.last_mut() {
            Some(g) if g.split.as_deref() == Some(split.as_str()) => {
                g.branches.push(branch);
                g.state = group_state(&g.branches);
                g.maybe = g.maybe && m.maybe;
            }
            _ => {
                let name = def
                    .node(&split)
                    .map(|p| p.name.clone())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "同时办理".to_owned());
                out.push(Milestone {
                    name,
                    state: group_state(std::slice::from_ref(&branch)),
                    maybe: m.maybe,
                    branches: vec![branch],
                    split: Some(split),
                });
            }
        }
    }
    out
}

fn group_state(branches: &[Branch]) -> &'static str {
    if branches.iter().any(|b| b.state == "current") {
        "current"
    } else if branches.iter().all(|b| b.state == "done") {
        "done"
    } else if branches.iter().any(|b| b.state == "done") {
        "current"
    } else {
        "todo"
    }
}

/// For pages without an application's data: no field decides anything.
pub fn nothing_visible(_: &str) -> bool {
    false
}
