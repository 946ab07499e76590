//! Parallel blocks: each parallel node's branches meet at one join, each by exactly one
//! edge (the join waits for as many arrivals as it has incoming edges), without sharing a
//! node and without ending first; each join closes exactly one parallel node.

use std::collections::{BTreeMap, BTreeSet};

use super::{named, who};
use crate::workflow::model::{Definition, NodeKind};

/// What the branches of one parallel node come to.
struct Block<'a> {
    join: &'a str,
    /// Every node inside the block (its branches, nested blocks and their joins).
    inside: BTreeSet<&'a str>,
}

/// Each parallel node's branches must meet at one join, each by exactly one edge (the
/// join waits for as many arrivals as it has incoming edges), without sharing a node and
/// without ending first; each join closes exactly one parallel node.
pub(super) fn parallels(def: &Definition, out: &mut Vec<String>) {
    let mut memo: BTreeMap<&str, Option<Block>> = BTreeMap::new();
    for n in &def.nodes {
        if matches!(n.kind, NodeKind::Parallel { .. }) {
            block(def, &n.id, &mut memo, out);
        }
    }
    // A join two blocks both claimed would have more incoming edges than either block's
    // branches (reported above), so each join here closes at most one block.
    let closed: BTreeSet<&str> = memo.values().flatten().map(|b| b.join).collect();
    let broken = memo.values().any(Option::is_none);
    for n in &def.nodes {
        // A broken block has been reported; its join would only repeat it.
        if matches!(n.kind, NodeKind::Join { .. }) && !broken && !closed.contains(n.id.as_str()) {
            out.push(format!(
                "{}不对应任何并行节点（汇聚节点只用于合并同一并行节点的各分支）",
                who(n)
            ));
        }
    }
}

fn block<'a>(
    def: &'a Definition,
    p: &'a str,
    memo: &mut BTreeMap<&'a str, Option<Block<'a>>>,
    out: &mut Vec<String>,
) -> Option<(&'a str, BTreeSet<&'a str>)> {
    if let Some(b) = memo.get(p) {
        return b.as_ref().map(|b| (b.join, b.inside.clone()));
    }
    // Guards a (reported) cycle through nested blocks.
    memo.insert(p, None);
    let node = def.node(p)?;
    let NodeKind::Parallel { branches } = &node.kind else {
        return None;
    };
    // Fewer than two branches is reported as such.
    if branches.len() < 2 {
        return None;
    }
    let mut ok = true;
    let mut regions: Vec<BTreeSet<&str>> = Vec::new();
    let mut entries: Vec<Vec<(&str, &str)>> = Vec::new();
    for (i, b) in branches.iter().enumerate() {
        let mut region = BTreeSet::new();
        let mut into = Vec::new();
        let mut ends = BTreeSet::new();
        let mut stack: Vec<(&str, &str)> = vec![(p, b.as_str())];
        while let Some((from, to)) = stack.pop() {
            let Some(n) = def.node(to) else { continue };
            match &n.kind {
                NodeKind::Join { .. } => into.push((from, to)),
                NodeKind::End => {
                    ends.insert(to);
                }
                _ if region.contains(to) => {}
                NodeKind::Parallel { .. } => {
                    region.insert(to);
                    let (inner, inside) = block(def, to, memo, out)?;
                    region.extend(inside);
                    region.insert(inner);
                    for s in def.successors(inner) {
                        stack.push((inner, s));
                    }
                }
                _ => {
                    region.insert(to);
                    for s in def.successors(to) {
                        stack.push((to, s));
                    }
                }
            }
        }
        let label = format!("第 {} 个分支（{}）", i + 1, named(def, b));
        for e in &ends {
            out.push(format!(
                "{}的{label}在汇聚之前就到达了结束节点 {}",
                who(node),
                named(def, e)
            ));
            ok = false;
        }
        regions.push(region);
        entries.push(into);
    }
    let joins: BTreeSet<&str> = entries.iter().flatten().map(|(_, j)| *j).collect();
    if joins.len() > 1 {
        out.push(format!(
            "{}的分支汇聚到了不同的汇聚节点：{}（各分支须汇聚到同一个汇聚节点）",
            who(node),
            joins
                .iter()
                .map(|j| named(def, j))
                .collect::<Vec<_>>()
                .join("、")
        ));
        return None;
    }
    let join = joins.into_iter().next()?;
    for (i, e) in entries.iter().enumerate() {
        if e.len() > 1 {
            out.push(format!(
                "{}的第 {} 个分支有 {} 条路线进入汇聚节点 {}（分支内条件的各路线须先指向同一节点，再由它进入汇聚节点）",
                who(node),
                i + 1,
                e.len(),
                named(def, join)
            ));
            ok = false;
        }
    }
    for i in 0..regions.len() {
        for j in i + 1..regions.len() {
            if let Some(shared) = regions[i].intersection(&regions[j]).next() {
                out.push(format!(
                    "{}的第 {} 个和第 {} 个分支经过同一节点 {}（并行分支不能共用节点）",
                    who(node),
                    i + 1,
                    j + 1,
                    named(def, shared)
                ));
                ok = false;
            }
        }
    }
    let arriving: usize = entries.iter().map(Vec::len).sum();
    if def.incoming(join) > arriving {
        out.push(format!(
            "汇聚节点 {} 还有来自{}之外的入边（它只能汇聚这一并行节点的分支，否则会一直等待）",
            named(def, join),
            who(node)
        ));
        ok = false;
    }
    if !ok {
        return None;
    }
    let inside: BTreeSet<&str> = regions.into_iter().flatten().collect();
    memo.insert(
        p,
        Some(Block {
            join,
            inside: inside.clone(),
        }),
    );
    Some((join, inside))
}
