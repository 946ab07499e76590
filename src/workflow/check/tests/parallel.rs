//! Parallel blocks and their joins.

use serde_json::json;

use super::*;

#[test]
fn each_join_closes_one_parallel_node() {
    // Sound: two branches, and a nested block inside one of them.
    assert_problems(
        json!([
            start("p"),
            parallel("p", &["a", "b"]),
            approval("a", "j"),
            approval("b", "j"),
            join("j", "end"),
            end()
        ]),
        &[],
    );
    assert_problems(
        json!([
            start("p"),
            parallel("p", &["a", "q"]),
            approval("a", "j"),
            parallel("q", &["b", "c"]),
            approval("b", "k"),
            approval("c", "k"),
            join("k", "d"),
            approval("d", "j"),
            join("j", "end"),
            end()
        ]),
        &[],
    );
    // A condition inside a branch whose routes meet before the join.
    assert_problems(
        json!([
            start("p"),
            parallel("p", &["c", "b"]),
            condition(
                json!([{ "name": "长", "when": { "op": "gt", "field": "days", "value": 3 }, "next": "a" }]),
                "m"
            ),
            approval("a", "m"),
            approval("m", "j"),
            approval("b", "j"),
            join("j", "end"),
            end()
        ]),
        &[],
    );
}

#[test]
fn parallel_branches_must_meet_at_their_join() {
    assert_problems(
        json!([
            start("p"),
            parallel("p", &["a"]),
            approval("a", "end"),
            end()
        ]),
        &["并行节点“并行p”（p）至少需要两个分支"],
    );
    assert_problems(
        json!([
            start("p"),
            parallel("p", &["a", "a"]),
            approval("a", "j"),
            join("j", "end"),
            end()
        ]),
        &["并行节点“并行p”（p）有两个分支指向同一节点 “审批a”（a）"],
    );
    assert_problems(
        json!([
            start("p"),
            parallel("p", &["a", "b"]),
            approval("a", "j"),
            approval("b", "end"),
            join("j", "end"),
            end()
        ]),
        &[
            "并行节点“并行p”（p）的第 2 个分支（“审批b”（b））在汇聚之前就到达了结束节点 “办结”（end）",
        ],
    );
    assert_problems(
        json!([
            start("p"),
            parallel("p", &["a", "b"]),
            approval("a", "j"),
            approval("b", "k"),
            join("j", "end"),
            join("k", "end"),
            end()
        ]),
        &[
            "并行节点“并行p”（p）的分支汇聚到了不同的汇聚节点：“汇聚j”（j）、“汇聚k”（k）（各分支须汇聚到同一个汇聚节点）",
        ],
    );
    // A condition's two routes straight into the join: it would wait for three arrivals.
    assert_problems(
        json!([
            start("p"),
            parallel("p", &["c", "b"]),
            condition(
                json!([{ "name": "长", "when": { "op": "gt", "field": "days", "value": 3 }, "next": "a" }]),
                "j"
            ),
            approval("a", "j"),
            approval("b", "j"),
            join("j", "end"),
            end()
        ]),
        &[
            "并行节点“并行p”（p）的第 1 个分支有 2 条路线进入汇聚节点 “汇聚j”（j）（分支内条件的各路线须先指向同一节点，再由它进入汇聚节点）",
        ],
    );
    assert_problems(
        json!([
            start("p"),
            parallel("p", &["a", "b"]),
            approval("a", "m"),
            approval("b", "m"),
            approval("m", "j"),
            join("j", "end"),
            end()
        ]),
        &[
            "并行节点“并行p”（p）的第 1 个和第 2 个分支经过同一节点 “审批m”（m）（并行分支不能共用节点）",
        ],
    );
}

#[test]
fn joins_without_their_own_parallel_node() {
    // Entered from outside the block as well.
    assert_problems(
        json!([
            start("c"),
            condition(
                json!([{ "name": "长", "when": { "op": "gt", "field": "days", "value": 3 }, "next": "p" }]),
                "j"
            ),
            parallel("p", &["a", "b"]),
            approval("a", "j"),
            approval("b", "j"),
            join("j", "end"),
            end()
        ]),
        &[
            "汇聚节点 “汇聚j”（j） 还有来自并行节点“并行p”（p）之外的入边（它只能汇聚这一并行节点的分支，否则会一直等待）",
        ],
    );
    // Two parallel nodes into one join: it would wait for all four branches.
    assert_problems(
        json!([
            start("c"),
            condition(
                json!([{ "name": "长", "when": { "op": "gt", "field": "days", "value": 3 }, "next": "p" }]),
                "q"
            ),
            parallel("p", &["a", "b"]),
            approval("a", "j"),
            approval("b", "j"),
            parallel("q", &["x", "y"]),
            approval("x", "j"),
            approval("y", "j"),
            join("j", "end"),
            end()
        ]),
        &[
            "汇聚节点 “汇聚j”（j） 还有来自并行节点“并行p”（p）之外的入边（它只能汇聚这一并行节点的分支，否则会一直等待）",
            "汇聚节点 “汇聚j”（j） 还有来自并行节点“并行q”（q）之外的入边（它只能汇聚这一并行节点的分支，否则会一直等待）",
        ],
    );
    // No parallel node at all.
    assert_problems(
        json!([
            start("c"),
            condition(
                json!([{ "name": "长", "when": { "op": "gt", "field": "days", "value": 3 }, "next": "a" }]),
                "b"
            ),
            approval("a", "j"),
            approval("b", "j"),
            join("j", "end"),
            end()
        ]),
        &["汇聚节点“汇聚j”（j）不对应任何并行节点（汇聚节点只用于合并同一并行节点的各分支）"],
    );
}
