//! The designer's changes to a definition, without a canvas: insert a node after another
//! (taking over its edge), delete a node (its predecessors then lead where it led, when
//! that is one place), and point a node at another. Pure; each change is then saved as
//! the working copy.

use crate::workflow::model::{ApproverRule, Definition, Fallback, Mode, Node, NodeId, NodeKind};

/// The kinds of node the designer adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewKind {
    Approval,
    Cc,
    Condition,
    Parallel,
    Join,
}

impl NewKind {
    pub fn parse(s: &str) -> Option<NewKind> {
        Some(match s {
            "approval" => NewKind::Approval,
            "cc" => NewKind::Cc,
            "condition" => NewKind::Condition,
            "parallel" => NewKind::Parallel,
            "join" => NewKind::Join,
            _ => return None,
        })
    }

    /// (value, label) for the designer's select.
    pub const ALL: [(&'static str, &'static str); 5] = [
        ("approval", "审批"),
        ("cc", "抄送"),
        ("condition", "条件"),
        ("parallel", "并行（含两个分支和汇聚）"),
        ("join", "汇聚"),
    ];
}

/// Which edge of a node: its `next`, a branch of a condition or parallel node, or a
/// condition's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Next,
    Branch(usize),
    Default,
}

impl Edge {
    pub fn parse(s: &str) -> Option<Edge> {
        match s {
            "" | "next" => Some(Edge::Next),
            "default" => Some(Edge::Default),
            b => b
                .strip_prefix("branch.")
                .and_then(|i| i.parse().ok())
                .map(Edge::Branch),
        }
    }
}

/// `approval_2`: the first free id of this kind.
pub fn fresh_id(def: &Definition, prefix: &str) -> String {
    (1..)
        .map(|n| format!("{prefix}_{n}"))
        .find(|id| def.node(id).is_none())
        .expect("a free id")
}

fn number(id: &str) -> &str {
    id.rsplit('_').next().unwrap_or(id)
}

/// The target of `edge` of `node`, mutable.
fn edge_mut(node: &mut Node, edge: Edge) -> Option<&mut NodeId> {
    match (&mut node.kind, edge) {
        (
            NodeKind::Start { next }
            | NodeKind::Approval { next, .. }
            | NodeKind::Cc { next, .. }
            | NodeKind::Join { next },
            Edge::Next,
        ) => Some(next),
        (NodeKind::Condition { branches, .. }, Edge::Branch(i)) => {
            branches.get_mut(i).map(|b| &mut b.next)
        }
        (NodeKind::Condition { default, .. }, Edge::Default) => Some(default),
        (NodeKind::Parallel { branches }, Edge::Branch(i)) => branches.get_mut(i),
        _ => None,
    }
}

/// Every edge a node has, for the insert form: (value, label).
pub fn edges(n: &Node) -> Vec<(String, String)> {
    match &n.kind {
        NodeKind::End => vec![],
        NodeKind::Condition { branches, .. } => branches
            .iter()
            .enumerate()
            .map(|(i, b)| {
                (
                    format!("branch.{i}"),
                    format!(
                        "分支“{}”上",
                        crate::workflow::check::branch_name(&b.name, i)
                    ),
                )
            })
            .chain(std::iter::once(("default".into(), "默认分支上".into())))
            .collect(),
        NodeKind::Parallel { branches } => (0..branches.len())
            .map(|i| (format!("branch.{i}"), format!("第 {} 个分支上", i + 1)))
            .collect(),
        _ => vec![("next".into(), "之后".into())],
    }
}

fn approval(id: String, name: String, next: NodeId) -> Node {
    Node {
        id,
        name,
        kind: NodeKind::Approval {
            approvers: ApproverRule::DeptHead { levels_up: 0 },
            mode: Mode::Any,
            // A new node asks someone when its rule finds nobody.
            fallback: Fallback::ServiceAdmins,
            allow_self: false,
            comment_required: false,
            signature: false,
            time_limit_hours: None,
            escalate: false,
            fields: Default::default(),
            next,
        },
    }
}

/// Inserts a new node of `kind` on `edge` of `after`; returns the new node's id (the one
/// to edit next). A parallel node comes with two approval branches and their join.
pub fn insert(
    def: &mut Definition,
    after: &str,
    edge: Edge,
    kind: NewKind,
) -> Result<String, String> {
    let pos = def
        .nodes
        .iter()
        .position(|n| n.id == after)
        .ok_or("没有这个节点，页面可能已过期，请刷新")?;
    let target = edge_mut(&mut def.nodes[pos], edge)
        .ok_or("该节点没有这个去向")?
        .clone();
    let mut new = Vec::new();
    match kind {
        NewKind::Approval => {
            let id = fresh_id(def, "approval");
            let name = format!("审批 {}", number(&id));
            new.push(approval(id, name, target));
        }
        NewKind::Cc => {
            let id = fresh_id(def, "cc");
            new.push(Node {
                name: format!("抄送 {}", number(&id)),
                id,
                kind: NodeKind::Cc {
                    approvers: ApproverRule::DeptHead { levels_up: 0 },
                    next: target,
                },
            });
        }
        NewKind::Condition => {
            let id = fresh_id(def, "condition");
            new.push(Node {
                name: format!("条件 {}", number(&id)),
                id,
                kind: NodeKind::Condition {
                    branches: vec![],
                    default: target,
                },
            });
        }
        NewKind::Join => {
            let id = fresh_id(def, "join");
            new.push(Node {
                name: format!("汇聚 {}", number(&id)),
                id,
                kind: NodeKind::Join { next: target },
            });
        }
        NewKind::Parallel => {
            let p = fresh_id(def, "parallel");
            let j = fresh_id(def, "join");
            let a = fresh_id(def, "approval");
            // The second branch's id must not be the first's.
            let b = (1..)
                .map(|n| format!("approval_{n}"))
                .find(|id| def.node(id).is_none() && *id != a)
                .expect("a free id");
            new.push(Node {
                name: format!("并行 {}", number(&p)),
                id: p,
                kind: NodeKind::Parallel {
                    branches: vec![a.clone(), b.clone()],
                },
            });
            new.push(approval(
                a.clone(),
                format!("审批 {}", number(&a)),
                j.clone(),
            ));
            new.push(approval(
                b.clone(),
                format!("审批 {}", number(&b)),
                j.clone(),
            ));
            new.push(Node {
                name: format!("汇聚 {}", number(&j)),
                id: j,
                kind: NodeKind::Join { next: target },
            });
        }
    }
    let first = new[0].id.clone();
    *edge_mut(&mut def.nodes[pos], edge).expect("checked") = first.clone();
    for (i, n) in new.into_iter().enumerate() {
        def.nodes.insert(pos + 1 + i, n);
    }
    Ok(first)
}

/// Deletes a node; every edge into it then leads where it led. Refused where that is not
/// one place (a condition or parallel node going several ways), for the start, and for an
/// end something still leads to.
pub fn delete(def: &mut Definition, id: &str) -> Result<(), String> {
    let pos = def
        .nodes
        .iter()
        .position(|n| n.id == id)
        .ok_or("没有这个节点，页面可能已过期，请刷新")?;
    let node = &def.nodes[pos];
    let label = crate::workflow::check::who(node);
    let mut outs: Vec<&str> = def.successors(id);
    outs.sort();
    outs.dedup();
    let into = def.incoming(id);
    let to: Option<NodeId> = match &node.kind {
        NodeKind::Start { .. } => return Err("开始节点不能删除".into()),
        NodeKind::End => {
            if into > 0 {
                return Err(format!(
                    "{label}仍有节点指向它，请先把这些节点改接到其他节点再删除"
                ));
            }
            let ends = def
                .nodes
                .iter()
                .filter(|n| matches!(n.kind, NodeKind::End))
                .count();
            if ends == 1 {
                return Err("流程至少需要一个结束节点，不能删除最后一个结束节点".into());
            }
            None
        }
        _ if outs.len() != 1 => {
            return Err(format!(
                "{label}有多个去向，删除后无法确定前面的节点该接到哪里；请先把它的分支都指向同一节点（或删去多余的分支）再删除"
            ));
        }
        _ if outs[0] == id => return Err(format!("{label}指向自己，无法改接")),
        _ => Some(outs[0].to_owned()),
    };
    def.nodes.remove(pos);
    if let Some(to) = to {
        for n in &mut def.nodes {
            let edges: Vec<Edge> = match &n.kind {
                NodeKind::Condition { branches, .. } => (0..branches.len())
                    .map(Edge::Branch)
                    .chain(std::iter::once(Edge::Default))
                    .collect(),
                NodeKind::Parallel { branches } => (0..branches.len()).map(Edge::Branch).collect(),
                NodeKind::End => vec![],
                _ => vec![Edge::Next],
            };
            for e in edges {
                if let Some(t) = edge_mut(n, e)
                    && t == id
                {
                    *t = to.clone();
                }
            }
        }
    }
    Ok(())
}

/// Points `edge` of `id` at `to`.
pub fn set_edge(def: &mut Definition, id: &str, edge: Edge, to: &str) -> Result<(), String> {
    if def.node(to).is_none() {
        return Err("请选择一个存在的节点".into());
    }
    if to == id {
        return Err("节点不能指向自己".into());
    }
    let n = def
        .nodes
        .iter_mut()
        .find(|n| n.id == id)
        .ok_or("没有这个节点，页面可能已过期，请刷新")?;
    *edge_mut(n, edge).ok_or("该节点没有这个去向")? = to.to_owned();
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn leave() -> Definition {
        serde_json::from_value(json!({ "nodes": [
            { "id": "start", "type": "start", "name": "提交", "next": "counselor" },
            { "id": "counselor", "type": "approval", "name": "辅导员审批",
              "approvers": { "kind": "form_field", "field": "counselor" }, "next": "check" },
            { "id": "check", "type": "condition", "name": "是否超过3天", "default": "end",
              "branches": [{ "name": "超过3天", "when": { "op": "gt", "field": "days", "value": 3 }, "next": "deputy" }] },
            { "id": "deputy", "type": "approval", "name": "副书记审批",
              "approvers": { "kind": "users", "accounts": ["T2102"] }, "next": "end" },
            { "id": "end", "type": "end", "name": "办结" }
        ]}))
        .unwrap()
    }

    fn ids(d: &Definition) -> Vec<&str> {
        d.nodes.iter().map(|n| n.id.as_str()).collect()
    }

    #[test]
    fn insert_takes_over_the_edge() {
        let mut d = leave();
        let id = insert(&mut d, "counselor", Edge::Next, NewKind::Approval).unwrap();
        assert_eq!(id, "approval_1");
        assert_eq!(
            ids(&d),
            ["start", "counselor", "approval_1", "check", "deputy", "end"]
        );
        assert_eq!(d.successors("counselor"), ["approval_1"]);
        assert_eq!(d.successors("approval_1"), ["check"]);
        assert_eq!(d.node("approval_1").unwrap().name, "审批 1");
        // The next one gets the next number.
        assert_eq!(
            insert(&mut d, "start", Edge::Next, NewKind::Approval).unwrap(),
            "approval_2"
        );
        // On a condition's branch and default.
        let c = insert(&mut d, "check", Edge::Branch(0), NewKind::Cc).unwrap();
        assert_eq!(d.successors("check"), [c.as_str(), "end"]);
        assert_eq!(d.successors(&c), ["deputy"]);
        let j = insert(&mut d, "check", Edge::Default, NewKind::Condition).unwrap();
        assert_eq!(d.successors("check"), [c.as_str(), j.as_str()]);
        assert_eq!(d.successors(&j), ["end"]);
        assert!(d.validate().is_ok(), "{:?}", d.validate());
        // Nothing after an end; no branch 5.
        assert!(insert(&mut d, "end", Edge::Next, NewKind::Approval).is_err());
        assert!(insert(&mut d, "check", Edge::Branch(5), NewKind::Approval).is_err());
        assert!(insert(&mut d, "nope", Edge::Next, NewKind::Approval).is_err());
    }

    #[test]
    fn a_parallel_node_comes_with_its_branches_and_join() {
        let mut d = leave();
        let p = insert(&mut d, "deputy", Edge::Next, NewKind::Parallel).unwrap();
        assert_eq!(p, "parallel_1");
        assert_eq!(d.successors("deputy"), ["parallel_1"]);
        assert_eq!(d.successors("parallel_1"), ["approval_1", "approval_2"]);
        assert_eq!(d.successors("approval_1"), ["join_1"]);
        assert_eq!(d.successors("approval_2"), ["join_1"]);
        assert_eq!(d.successors("join_1"), ["end"]);
        let form = crate::forms::FormSchema { fields: vec![] };
        // Sound as built (the conditions refer to fields this empty form lacks).
        let problems = crate::workflow::check::problems(&d, &form);
        assert!(problems.iter().all(|p| p.contains("字段")), "{problems:?}");
    }

    #[test]
    fn delete_rewires_predecessors_where_that_is_unambiguous() {
        let mut d = leave();
        delete(&mut d, "deputy").unwrap();
        assert_eq!(d.successors("check"), ["end", "end"]);
        delete(&mut d, "counselor").unwrap();
        assert_eq!(d.successors("start"), ["check"]);
        // A condition whose ways are all one place can go too.
        delete(&mut d, "check").unwrap();
        assert_eq!(d.successors("start"), ["end"]);
        assert_eq!(ids(&d), ["start", "end"]);
    }

    #[test]
    fn delete_refuses_what_it_cannot_rewire() {
        let mut d = leave();
        assert_eq!(delete(&mut d, "start").unwrap_err(), "开始节点不能删除");
        assert!(
            delete(&mut d, "check")
                .unwrap_err()
                .starts_with("条件节点“是否超过3天”（check）有多个去向")
        );
        assert_eq!(
            delete(&mut d, "end").unwrap_err(),
            "结束节点“办结”（end）仍有节点指向它，请先把这些节点改接到其他节点再删除"
        );
        let p = insert(&mut d, "deputy", Edge::Next, NewKind::Parallel).unwrap();
        assert!(delete(&mut d, &p).unwrap_err().contains("有多个去向"));
        // An unused second end may go; the last end may not.
        d.nodes.push(Node {
            id: "end2".into(),
            name: "结束".into(),
            kind: NodeKind::End,
        });
        delete(&mut d, "end2").unwrap();
        let mut lone = Definition::minimal();
        set_edge(&mut lone, "start", Edge::Next, "start").unwrap_err();
        lone.nodes.push(Node {
            id: "x".into(),
            name: "x".into(),
            kind: NodeKind::Join { next: "end".into() },
        });
        set_edge(&mut lone, "start", Edge::Next, "x").unwrap();
        assert_eq!(
            delete(&mut lone, "end").unwrap_err(),
            "结束节点“结束”（end）仍有节点指向它，请先把这些节点改接到其他节点再删除"
        );
        assert!(delete(&mut d, "nope").is_err());
    }

    #[test]
    fn set_edge_points_at_an_existing_other_node() {
        let mut d = leave();
        set_edge(&mut d, "counselor", Edge::Next, "end").unwrap();
        assert_eq!(d.successors("counselor"), ["end"]);
        set_edge(&mut d, "check", Edge::Default, "deputy").unwrap();
        assert_eq!(d.successors("check"), ["deputy", "deputy"]);
        assert_eq!(
            set_edge(&mut d, "counselor", Edge::Next, "counselor").unwrap_err(),
            "节点不能指向自己"
        );
        assert_eq!(
            set_edge(&mut d, "counselor", Edge::Next, "gone").unwrap_err(),
            "请选择一个存在的节点"
        );
        assert!(set_edge(&mut d, "end", Edge::Next, "start").is_err());
        assert_eq!(Edge::parse("branch.2"), Some(Edge::Branch(2)));
        assert_eq!(Edge::parse("x"), None);
    }
}
