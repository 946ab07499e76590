//! The 里程碑 bar: the steps of a flow and how far an application has come.

use serde_json::Value;

use super::{engine, model::Definition};

pub struct Milestone {
    pub name: String,
    /// "done" | "current" | "todo"
    pub state: &'static str,
    /// Only a condition on the form brings this step in (视情况).
    pub maybe: bool,
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
    def.milestones_on(form, visible)
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
            })
        })
        .collect()
}

/// For pages without an application's data: no field decides anything.
pub fn nothing_visible(_: &str) -> bool {
    false
}
