//! 流程设计 and 试算 over HTTP: building a workflow node by node, inserting, deleting and
//! rewiring, the editor's refusals, a stale revision, the checks before publishing, 试算
//! of 学生请假, who may use these pages, and the pages in Chromium.

use reqwest::{Client, Response};
use serde_json::{Value, json};
use service_hall::{
    catalog::store::{NewService, insert_service},
    forms::FormSchema,
    workflow::{model::Definition, usecase::versions},
};

use crate::{
    forms::{service, user},
    helpers::*,
};

fn designer(sid: i64) -> String {
    format!("/admin/services/{sid}/workflow")
}

fn trial(sid: i64) -> String {
    format!("/admin/services/{sid}/workflow/trial")
}

/// The value of the first hidden `revision` field ("" before anything is saved).
fn revision_from(html: &str) -> String {
    let marker = "name=\"revision\" value=\"";
    let start = html.find(marker).expect("page has a revision field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// GET the designer (for the token and the revision it shows), then POST `fields`.
async fn change(app: &TestApp, c: &Client, sid: i64, fields: &[(&str, &str)]) -> Response {
    let html = app.get_with(c, &designer(sid)).await.text().await.unwrap();
    post_at(app, c, sid, &html, fields).await
}

/// POST `fields` with the token and revision of a page already open.
async fn post_at(
    app: &TestApp,
    c: &Client,
    sid: i64,
    html: &str,
    fields: &[(&str, &str)],
) -> Response {
    let mut form: Vec<(String, String)> = vec![
        ("_csrf".into(), csrf_from(html)),
        ("revision".into(), revision_from(html)),
    ];
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    c.post(app.url(&designer(sid)))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The working copy's workflow as saved.
async fn draft(app: &TestApp, sid: i64) -> Definition {
    let w: Value = sqlx::query_scalar("SELECT workflow FROM service_drafts WHERE service_id = $1")
        .bind(sid)
        .fetch_one(&app.db)
        .await
        .unwrap();
    serde_json::from_value(w).unwrap()
}

async fn draft_revision(app: &TestApp, sid: i64) -> Option<i32> {
    sqlx::query_scalar("SELECT revision FROM service_drafts WHERE service_id = $1")
        .bind(sid)
        .fetch_optional(&app.db)
        .await
        .unwrap()
}

/// A new 在线办理 service of 教务处 whose working copy has a form and the start → end
/// workflow (as the service editor and the form designer would leave it).
async fn fresh_service(app: &TestApp) -> i64 {
    let (dept, cat, admin): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT id FROM departments WHERE code = 'ACA'),
                (SELECT id FROM service_categories ORDER BY id LIMIT 1),
                (SELECT id FROM users WHERE account = 'admin')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let mut conn = app.db.acquire().await.unwrap();
    let s = NewService {
        code: "JXSQ".into(),
        name: "教学经费申请".into(),
        department_id: dept,
        category_id: cat,
        kind: "online".into(),
        status: "draft".into(),
        ..Default::default()
    };
    let sid = insert_service(&mut conn, &s, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    let form: FormSchema = serde_json::from_value(json!({ "fields": [
        { "key": "days", "type": "number", "label": "使用天数", "required": true },
        { "key": "kind", "type": "radio", "label": "经费类型", "options": ["教学", "科研"], "required": true },
        { "key": "leader", "type": "person", "label": "项目负责人" },
        { "key": "sec_office", "type": "section", "label": "教务处意见" },
        { "key": "opinion", "type": "textarea", "label": "意见" }
    ]}))
    .unwrap();
    versions::save(
        &app.db,
        sid,
        &form,
        &Definition::minimal(),
        None,
        None,
        admin,
        None,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    sid
}

/// The lines of the node cards.
fn lines_on(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(".wf-node .wf-lines li").unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>())
        .collect()
}

fn problems_on(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(".wf-problems li").unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>())
        .collect()
}

#[tokio::test]
async fn a_service_admin_builds_a_workflow_with_a_condition_and_two_approvals() {
    let app = spawn_app().await;
    let sid = fresh_service(&app).await;
    let c = signed_in(&app, "T4401").await;
    let html = app.get_with(&c, &designer(sid)).await.text().await.unwrap();
    assert!(html.contains("<svg"), "the diagram");
    assert!(html.contains("草稿（修订 1）"), "the working copy");

    // 审批 after 开始: a new node with a generated id, its editor open.
    let r = change(
        &app,
        &c,
        sid,
        &[
            ("op", "insert"),
            ("node", "start"),
            ("edge", "next"),
            ("type", "approval"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        location(&r),
        format!("{}?node=approval_1#node-approval_1", designer(sid))
    );
    let page = app.get_with(&c, &location(&r)).await.text().await.unwrap();
    assert!(
        page.contains("name=\"op\" value=\"node\""),
        "the editor is open"
    );
    // Its default fallback asks the service's admins, and this new service has none yet.
    assert!(
        problems_on(&page).contains(
            &"审批节点“审批 1”（approval_1）：兜底为服务管理员，但本服务没有设置可用的服务管理员"
                .to_owned()
        ),
        "{:?}",
        problems_on(&page)
    );
    let r = change(
        &app,
        &c,
        sid,
        &[
            ("op", "node"),
            ("node", "approval_1"),
            ("act", "save"),
            ("name", "部门负责人审批"),
            ("rule", "dept_head"),
            ("levels_up", "0"),
            ("mode", "any"),
            ("time_limit", "24"),
            ("escalate", "1"),
            ("fallback", "user"),
            ("fallback_account", "T4401"),
            ("perm.sec_office", "hidden"),
            ("perm.opinion", ""),
            ("next", "end"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());

    // 条件 after it, with one branch added by the editor's button.
    let r = change(
        &app,
        &c,
        sid,
        &[
            ("op", "insert"),
            ("node", "approval_1"),
            ("edge", "next"),
            ("type", "condition"),
        ],
    )
    .await;
    assert_eq!(
        location(&r),
        format!("{}?node=condition_1#node-condition_1", designer(sid))
    );
    let r = change(
        &app,
        &c,
        sid,
        &[
            ("op", "node"),
            ("node", "condition_1"),
            ("act", "add_branch"),
            ("name", "是否超过3天"),
            ("branches", "0"),
            ("default", "end"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200, "the editor again, with a new branch");
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"b.0.c.0.field\""));
    assert!(html.contains("value=\"是否超过3天\""));
    assert_eq!(
        draft(&app, sid).await.successors("condition_1"),
        ["end"],
        "not saved yet"
    );
    let r = change(
        &app,
        &c,
        sid,
        &[
            ("op", "node"),
            ("node", "condition_1"),
            ("act", "save"),
            ("name", "是否超过3天"),
            ("branches", "1"),
            ("b.0.name", "超过3天"),
            ("b.0.combine", "all"),
            ("b.0.conds", "1"),
            ("b.0.c.0.field", "days"),
            ("b.0.c.0.op", "gt"),
            ("b.0.c.0.value", "3"),
            ("b.0.next", "end"),
            ("default", "end"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    // The second 审批 on that branch.
    let r = change(
        &app,
        &c,
        sid,
        &[
            ("op", "insert"),
            ("node", "condition_1"),
            ("edge", "branch.0"),
            ("type", "approval"),
        ],
    )
    .await;
    assert_eq!(
        location(&r),
        format!("{}?node=approval_2#node-approval_2", designer(sid))
    );
    let r = change(
        &app,
        &c,
        sid,
        &[
            ("op", "node"),
            ("node", "approval_2"),
            ("act", "save"),
            ("name", "分管领导审批"),
            ("rule", "users"),
            ("accounts", "T4101、T4103"),
            ("mode", "all"),
            ("comment_required", "1"),
            ("fallback", "skip"),
            ("next", "end"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());

    let expected: Definition = serde_json::from_value(json!({ "nodes": [
        { "id": "start", "type": "start", "name": "开始", "next": "approval_1" },
        { "id": "approval_1", "type": "approval", "name": "部门负责人审批",
          "approvers": { "kind": "dept_head", "levels_up": 0 }, "mode": "any",
          "fallback": { "kind": "user", "account": "T4401" }, "time_limit_hours": 24, "escalate": true,
          "fields": { "sec_office": "hidden" }, "next": "condition_1" },
        { "id": "condition_1", "type": "condition", "name": "是否超过3天", "default": "end",
          "branches": [{ "name": "超过3天", "when": { "op": "gt", "field": "days", "value": 3 }, "next": "approval_2" }] },
        { "id": "approval_2", "type": "approval", "name": "分管领导审批",
          "approvers": { "kind": "users", "accounts": ["T4101", "T4103"] }, "mode": "all",
          "comment_required": true, "next": "end" },
        { "id": "end", "type": "end", "name": "结束" }
    ]}))
    .unwrap();
    assert_eq!(draft(&app, sid).await, expected);
    let page = app.get_with(&c, &designer(sid)).await.text().await.unwrap();
    assert!(page.contains("检查通过"), "{:?}", problems_on(&page));
    let lines = lines_on(&page);
    assert!(
        lines.contains(&"分支“超过3天”：使用天数 > 3 → 分管领导审批（approval_2）".to_owned()),
        "the condition in words: {lines:?}"
    );
    assert!(lines.contains(&"审批人：指定人员：刘芳（T4101）、王丽娟（T4103）".to_owned()));
    assert!(lines.contains(&"时限 24 小时，超时提醒部门负责人".to_owned()));
    assert!(lines.contains(&"字段权限：教务处意见 隐藏".to_owned()));
    // Every change was saved as the working copy, each audited.
    assert_eq!(draft_revision(&app, sid).await, Some(7));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'service.draft.save' AND target = $1
           AND actor_id = (SELECT id FROM users WHERE account = 'T4401')",
    )
    .bind(format!("service:{sid}"))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 6);
}

#[tokio::test]
async fn insert_delete_and_rewire() {
    let app = spawn_app().await;
    let sid = service(&app, "XSQJ").await;
    let c = signed_in(&app, "admin").await;
    // No draft yet: the page shows the current version, and the first change makes one.
    let html = app.get_with(&c, &designer(sid)).await.text().await.unwrap();
    assert!(html.contains("当前版本 1"));
    assert_eq!(revision_from(&html), "");

    let r = change(&app, &c, sid, &[("op", "delete"), ("node", "counselor")]).await;
    assert_eq!(r.status(), 303);
    let d = draft(&app, sid).await;
    assert_eq!(
        d.successors("start"),
        ["check"],
        "its predecessor now leads where it led"
    );
    assert!(d.node("counselor").is_none());

    for (node, message) in [
        (
            "check",
            "条件节点“是否超过3天”（check）有多个去向，删除后无法确定前面的节点该接到哪里",
        ),
        ("start", "开始节点不能删除"),
        (
            "end",
            "结束节点“办结”（end）仍有节点指向它，请先把这些节点改接到其他节点再删除",
        ),
    ] {
        let r = change(&app, &c, sid, &[("op", "delete"), ("node", node)]).await;
        assert_eq!(r.status(), 422, "{node}");
        let html = r.text().await.unwrap();
        assert!(
            text_of_class(&html, "alert-error")
                .unwrap()
                .contains(message),
            "{node}: {html}"
        );
    }
    assert_eq!(
        draft_revision(&app, sid).await,
        Some(1),
        "refusals save nothing"
    );

    // 下一节点: 开始 straight to the 副书记; the condition is then unreachable.
    let r = change(
        &app,
        &c,
        sid,
        &[("op", "next"), ("node", "start"), ("to", "deputy")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(draft(&app, sid).await.successors("start"), ["deputy"]);
    let html = app.get_with(&c, &designer(sid)).await.text().await.unwrap();
    assert!(
        problems_on(&html).contains(&"条件节点“是否超过3天”（check）无法从开始节点到达".to_owned())
    );
    let r = change(
        &app,
        &c,
        sid,
        &[("op", "next"), ("node", "start"), ("to", "start")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("节点不能指向自己"));

    // 并行 after 开始: the node, two approval branches and their join.
    let r = change(
        &app,
        &c,
        sid,
        &[
            ("op", "insert"),
            ("node", "start"),
            ("edge", "next"),
            ("type", "parallel"),
        ],
    )
    .await;
    assert_eq!(
        location(&r),
        format!("{}?node=parallel_1#node-parallel_1", designer(sid))
    );
    let d = draft(&app, sid).await;
    assert_eq!(d.successors("start"), ["parallel_1"]);
    assert_eq!(d.successors("parallel_1"), ["approval_1", "approval_2"]);
    assert_eq!(d.successors("approval_1"), ["join_1"]);
    assert_eq!(d.successors("join_1"), ["deputy"]);
    // A branch's node deleted: the branch goes straight to the join.
    change(&app, &c, sid, &[("op", "delete"), ("node", "approval_1")]).await;
    assert_eq!(
        draft(&app, sid).await.successors("parallel_1"),
        ["join_1", "approval_2"]
    );
    // 插入 on the condition's default branch.
    let r = change(
        &app,
        &c,
        sid,
        &[
            ("op", "insert"),
            ("node", "check"),
            ("edge", "default"),
            ("type", "cc"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let d = draft(&app, sid).await;
    assert_eq!(d.successors("check"), ["deputy", "cc_1"]);
    assert_eq!(d.successors("cc_1"), ["end"]);
    // A join on its own closes no parallel node: the checks say so.
    change(
        &app,
        &c,
        sid,
        &[
            ("op", "insert"),
            ("node", "deputy"),
            ("edge", "next"),
            ("type", "join"),
        ],
    )
    .await;
    let html = app.get_with(&c, &designer(sid)).await.text().await.unwrap();
    assert!(
        problems_on(&html)
            .iter()
            .any(|p| p.starts_with("汇聚节点“汇聚 2”（join_2）不对应任何并行节点")),
        "{:?}",
        problems_on(&html)
    );
    // The 版本 page shows the same problems and will not publish.
    let versions_page = app
        .get_with(&c, &format!("/admin/services/{sid}/versions"))
        .await
        .text()
        .await
        .unwrap();
    assert!(versions_page.contains("不对应任何并行节点"));
    assert!(
        versions_page.contains("/workflow/trial"),
        "试算 is linked from 版本"
    );
}

#[tokio::test]
async fn the_editor_refuses_bad_input_and_keeps_what_was_typed() {
    let app = spawn_app().await;
    let sid = service(&app, "XSQJ").await;
    let c = signed_in(&app, "admin").await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("name", "副书记审批（改）"),
                ("rule", "users"),
                ("accounts", "T9999、T2102"),
                ("fallback", "skip"),
                ("next", "end"),
            ],
            "没有学号/工号为 T9999 的人员",
        ),
        (
            &[
                ("name", "副书记审批（改）"),
                ("rule", "users"),
                ("accounts", "S2025001"),
                ("fallback", "skip"),
                ("next", "end"),
            ],
            "李四（S2025001） 不是可用账号（未激活或已停用）",
        ),
        (
            &[
                ("name", "副书记审批（改）"),
                ("rule", "role"),
                ("role", "deputy_secretary"),
                ("scope", "applicant_college"),
                ("fallback", "user"),
                ("fallback_account", "nobody"),
                ("time_limit", "48"),
                ("next", "end"),
            ],
            "没有学号/工号为 nobody 的人员",
        ),
        (
            &[
                ("name", "副书记审批（改）"),
                ("rule", "role"),
                ("role", "deputy_secretary"),
                ("scope", "applicant_college"),
                ("fallback", "service_admins"),
                ("time_limit", "三天"),
                ("next", "end"),
            ],
            "时限须为 1–720 的整数（小时），不限时请留空",
        ),
    ];
    for (fields, message) in cases {
        let mut f = vec![("op", "node"), ("node", "deputy"), ("act", "save")];
        f.extend_from_slice(fields);
        let r = change(&app, &c, sid, &f).await;
        assert_eq!(r.status(), 422, "{message}");
        let html = r.text().await.unwrap();
        assert!(
            texts_of_class(&html, "field-error").contains(&message.to_owned()),
            "{message}: {:?}",
            texts_of_class(&html, "field-error")
        );
        assert!(
            html.contains("value=\"副书记审批（改）\""),
            "the name as typed"
        );
        assert!(html.contains("未保存：请修改标出的内容"));
    }
    // A condition's value of the wrong type, at its row.
    let r = change(
        &app,
        &c,
        sid,
        &[
            ("op", "node"),
            ("node", "check"),
            ("act", "save"),
            ("name", "是否超过3天"),
            ("branches", "1"),
            ("b.0.name", "超过3天"),
            ("b.0.conds", "1"),
            ("b.0.c.0.field", "days"),
            ("b.0.c.0.op", "gt"),
            ("b.0.c.0.value", "三天"),
            ("b.0.next", "deputy"),
            ("default", "end"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("“请假天数”是数字字段，值“三天”须为数字"));
    assert!(html.contains("value=\"三天\""));
    assert_eq!(draft_revision(&app, sid).await, None, "nothing was saved");
}

#[tokio::test]
async fn a_stale_revision_is_refused_and_what_was_typed_is_kept() {
    let app = spawn_app().await;
    let sid = service(&app, "XSQJ").await;
    let first = signed_in(&app, "admin").await;
    let second = signed_in(&app, "admin").await;
    let open = app
        .get_with(&first, &format!("{}?node=deputy", designer(sid)))
        .await
        .text()
        .await
        .unwrap();
    // Someone else saves meanwhile.
    let r = change(
        &app,
        &second,
        sid,
        &[
            ("op", "insert"),
            ("node", "start"),
            ("edge", "next"),
            ("type", "cc"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = post_at(
        &app,
        &first,
        sid,
        &open,
        &[
            ("op", "node"),
            ("node", "deputy"),
            ("act", "save"),
            ("name", "副书记审批（我改的）"),
            ("rule", "dept_head"),
            ("levels_up", "1"),
            ("fallback", "service_admins"),
            ("next", "end"),
        ],
    )
    .await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(
        text_of_class(&html, "alert-error")
            .unwrap()
            .contains("草稿已被他人修改，请刷新后再试")
    );
    assert!(
        html.contains("value=\"副书记审批（我改的）\""),
        "what was typed"
    );
    let r = post_at(
        &app,
        &first,
        sid,
        &open,
        &[("op", "delete"), ("node", "deputy")],
    )
    .await;
    assert_eq!(r.status(), 409);
    let d = draft(&app, sid).await;
    assert_eq!(
        d.node("deputy").unwrap().name,
        "学院副书记审批",
        "the other's draft stands"
    );
    assert!(d.node("cc_1").is_some());
}

#[tokio::test]
async fn the_checks_that_need_the_database_are_shown_and_stop_publishing() {
    let app = spawn_app().await;
    let sid = fresh_service(&app).await;
    let admin = user(&app, "admin").await;
    let wc = versions::working_copy(&app.db, sid).await.unwrap();
    let def: Definition = serde_json::from_value(json!({ "nodes": [
        { "id": "start", "type": "start", "name": "开始", "next": "a" },
        { "id": "a", "type": "approval", "name": "经办", "approvers": { "kind": "users", "accounts": ["T9999", "S2025001"] },
          "fallback": { "kind": "user", "account": "T4101" }, "next": "b" },
        { "id": "b", "type": "cc", "name": "知会", "approvers": { "kind": "role", "role": "no_such_role" }, "next": "end" },
        { "id": "end", "type": "end", "name": "结束" }
    ]}))
    .unwrap();
    versions::save(
        &app.db,
        sid,
        &wc.form,
        &def,
        None,
        wc.revision,
        admin,
        None,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let c = signed_in(&app, "admin").await;
    let html = app.get_with(&c, &designer(sid)).await.text().await.unwrap();
    assert_eq!(
        problems_on(&html),
        [
            "审批节点“经办”（a）：指定人员 T9999 不存在",
            "审批节点“经办”（a）：指定人员 李四（S2025001） 不是可用账号（未激活或已停用）",
            "抄送节点“知会”（b）：角色 no_such_role 不存在",
        ]
    );
    let r = app
        .submit(
            &c,
            &format!("/admin/services/{sid}/versions"),
            &format!("/admin/services/{sid}/publish"),
            &[
                ("revision", "2"),
                ("note", ""),
                ("confirm_password", DEMO_PASSWORD),
            ],
        )
        .await;
    let page = r.text().await.unwrap();
    assert!(
        page.contains("未能发布") && page.contains("指定人员 T9999 不存在"),
        "{page}"
    );
    let versions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM service_versions WHERE service_id = $1")
            .bind(sid)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(versions, 0);
}

#[tokio::test]
async fn every_demo_workflow_passes_every_check() {
    let app = spawn_app().await;
    let ids: Vec<(i64, String)> = sqlx::query_as(
        "SELECT s.id, s.code FROM services s WHERE EXISTS (SELECT 1 FROM service_versions v WHERE v.service_id = s.id) ORDER BY s.id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(ids.len(), 36);
    for (id, code) in ids {
        let wc = versions::working_copy(&app.db, id).await.unwrap();
        let mut p = versions::problems(&wc.form, &wc.workflow);
        p.extend(
            versions::problems_in_db(&app.db, id, &wc.workflow)
                .await
                .unwrap(),
        );
        assert!(p.is_empty(), "{code}: {p:?}");
    }
}

/// The steps of a 试算 result: (kind, name, text of the whole step).
fn steps(html: &str) -> Vec<(String, String, String)> {
    let doc = scraper::Html::parse_document(html);
    let step = scraper::Selector::parse(".wf-step").unwrap();
    let kind = scraper::Selector::parse(".wf-kind").unwrap();
    let name = scraper::Selector::parse("b").unwrap();
    doc.select(&step)
        .map(|s| {
            (
                s.select(&kind).next().unwrap().text().collect(),
                s.select(&name).next().unwrap().text().collect(),
                s.text().collect(),
            )
        })
        .collect()
}

async fn run_trial(app: &TestApp, c: &Client, sid: i64, fields: &[(&str, String)]) -> String {
    let html = app
        .get_with(c, &format!("{}?applicant=S2024001", trial(sid)))
        .await
        .text()
        .await
        .unwrap();
    let mut form: Vec<(String, String)> = vec![
        ("_csrf".into(), csrf_from(&html)),
        ("applicant".into(), "张三（S2024001）".into()),
    ];
    form.extend(fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let r = c
        .post(app.url(&trial(sid)))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// How many rows the tables a trial could touch hold.
async fn written(app: &TestApp) -> Vec<i64> {
    let mut out = vec![];
    for t in [
        "applications",
        "tasks",
        "flow_records",
        "outbox",
        "messages",
        "audit_log",
        "service_drafts",
        "attachments",
    ] {
        out.push(
            sqlx::query_scalar(&format!("SELECT count(*) FROM {t}"))
                .fetch_one(&app.db)
                .await
                .unwrap(),
        );
    }
    out
}

#[tokio::test]
async fn trial_of_the_student_leave() {
    let app = spawn_app().await;
    let sid = service(&app, "XSQJ").await;
    let c = signed_in(&app, "admin").await;
    let before = written(&app).await;
    // The form for 张三, filled from his profile; his phone number is not shown whole.
    let html = app
        .get_with(&c, &format!("{}?applicant=S2024001", trial(sid)))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(">张三<"), "auto-filled");
    assert!(html.contains("138****8000") && !html.contains("13800138000"));
    let leave = |days: &str, counselor: String| -> Vec<(&'static str, String)> {
        vec![
            ("f.phone", "13800138000".into()),
            ("f.kind", "事假".into()),
            ("f.period.from", "2026-12-01".into()),
            ("f.period.to", "2026-12-05".into()),
            ("f.days", days.into()),
            ("f.reason", "回家办理户籍迁移手续".into()),
            ("f.leave_campus", "是".into()),
            ("f.counselor", counselor),
        ]
    };
    let counselor = user(&app, "T2101").await.to_string();

    // Three days: the 辅导员 (chosen in the form), the condition does not hold, done.
    let html = run_trial(&app, &c, sid, &leave("3", counselor.clone())).await;
    let s = steps(&html);
    let names: Vec<&str> = s.iter().map(|x| x.1.as_str()).collect();
    assert_eq!(
        names,
        ["学生提交", "辅导员审批", "是否超过3天", "办结"],
        "{html}"
    );
    assert!(s[0].2.contains("申请人 张三（S2024001） 提交"));
    assert!(
        s[1].2.contains("审批人：表单中选择的人员：辅导员") && s[1].2.contains("陈静（T2101）"),
        "{}",
        s[1].2
    );
    assert!(
        s[2].2
            .contains("分支“超过3天”：请假天数 > 3（样例中请假天数 为 3）→ 不成立"),
        "{}",
        s[2].2
    );
    assert!(s[2].2.contains("条件均不成立，走默认分支，进入“办结”"));
    assert!(html.contains("流程可以走到结束节点"));

    // Five days: the college's 副书记 as well.
    let html = run_trial(&app, &c, sid, &leave("5", counselor.clone())).await;
    let s = steps(&html);
    let names: Vec<&str> = s.iter().map(|x| x.1.as_str()).collect();
    assert_eq!(
        names,
        [
            "学生提交",
            "辅导员审批",
            "是否超过3天",
            "学院副书记审批",
            "办结"
        ]
    );
    assert!(s[2].2.contains("→ 成立") && s[2].2.contains("走分支“超过3天”，进入“学院副书记审批”"));
    assert!(
        s[3].2.contains("角色“学院副书记”（申请人所在学院）") && s[3].2.contains("周明（T2102）"),
        "{}",
        s[3].2
    );
    assert!(!s[3].2.contains("无人匹配"));

    // No 辅导员 chosen: nobody matches, the fallback asks the service's admins; the form
    // would refuse it, which the trial says without stopping.
    let html = run_trial(&app, &c, sid, &leave("1", String::new())).await;
    let s = steps(&html);
    assert!(
        s[1].2.contains("无人匹配 → 按兜底规则：本服务的服务管理员"),
        "{}",
        s[1].2
    );
    assert!(s[1].2.contains("系统管理员（admin）"));
    assert!(
        texts_of_class(&html, "alert-info")
            .iter()
            .any(|t| t.contains("请选择辅导员"))
    );

    // A person who is not there.
    let r = app
        .get_with(&c, &format!("{}?applicant=NOBODY", trial(sid)))
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("没有找到这个人员"));
    assert_eq!(written(&app).await, before, "a trial writes nothing");
}

#[tokio::test]
async fn trial_shows_parallel_branches_and_countersigning() {
    let app = spawn_app().await;
    let sid = fresh_service(&app).await;
    let admin = user(&app, "admin").await;
    let wc = versions::working_copy(&app.db, sid).await.unwrap();
    let def: Definition = serde_json::from_value(json!({ "nodes": [
        { "id": "start", "type": "start", "name": "提交", "next": "p" },
        { "id": "p", "type": "parallel", "name": "会办", "branches": ["a", "b"] },
        { "id": "a", "type": "approval", "name": "两位科长会签", "mode": "all",
          "approvers": { "kind": "users", "accounts": ["T4101", "T4103"] }, "next": "j" },
        { "id": "b", "type": "approval", "name": "学院负责人", "approvers": { "kind": "dept_head" },
          "fallback": { "kind": "user", "account": "T4104" }, "next": "j" },
        { "id": "j", "type": "join", "name": "汇总", "next": "cc" },
        { "id": "cc", "type": "cc", "name": "抄送负责人", "approvers": { "kind": "form_field", "field": "leader" }, "next": "end" },
        { "id": "end", "type": "end", "name": "结束" }
    ]}))
    .unwrap();
    versions::save(
        &app.db,
        sid,
        &wc.form,
        &def,
        None,
        wc.revision,
        admin,
        None,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let c = signed_in(&app, "T4401").await;
    let html = run_trial(
        &app,
        &c,
        sid,
        &[("f.days", "2".into()), ("f.kind", "教学".into())],
    )
    .await;
    let s = steps(&html);
    let names: Vec<&str> = s.iter().map(|x| x.1.as_str()).collect();
    assert_eq!(
        names,
        [
            "提交",
            "会办",
            "两位科长会签",
            "学院负责人",
            "汇总",
            "抄送负责人",
            "结束"
        ]
    );
    assert!(s[1].2.contains("同时进入 2 个分支"));
    assert!(
        s[2].2.contains("会签（全部通过）") && s[2].2.contains("刘芳（T4101） → 王丽娟（T4103）"),
        "{}",
        s[2].2
    );
    // 张三's department has a 部门负责人 (王建华).
    assert!(s[3].2.contains("王建华（T2001）"), "{}", s[3].2);
    assert!(s[4].2.contains("2 个分支均已到达，继续"));
    assert!(s[5].2.contains("无人匹配，不抄送"));
}

#[tokio::test]
async fn who_may_use_the_designer_and_the_trial() {
    let app = spawn_app().await;
    let db = &app.db;
    let of = |dept: &'static str| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT s.id FROM services s JOIN departments d ON d.id = s.department_id
             WHERE d.code = $1 ORDER BY s.id LIMIT 1",
        )
        .bind(dept)
        .fetch_one(db)
        .await
        .unwrap()
    };
    let (aca, cs) = (of("ACA").await, of("CS").await);
    let urls = |sid: i64| {
        [
            designer(sid),
            format!("{}?node=start", designer(sid)),
            trial(sid),
            format!("{}?applicant=S2024001", trial(sid)),
        ]
    };
    // Signed out: 登录 first.
    let r = app.get(&designer(aca)).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?next="));
    let admin = signed_in(&app, "admin").await;
    let t4401 = signed_in(&app, "T4401").await;
    let t4402 = signed_in(&app, "T4402").await;
    let teacher = signed_in(&app, "T2002").await;
    let student = signed_in(&app, "S2024001").await;
    for (who, c, sid, status) in [
        ("admin", &admin, aca, 200),
        ("admin", &admin, cs, 200),
        ("T4401", &t4401, aca, 200),
        ("T4401", &t4401, cs, 403),
        ("T4402", &t4402, cs, 200),
        ("T4402", &t4402, aca, 403),
        ("T2002", &teacher, aca, 403),
        ("T2002", &teacher, cs, 403),
        ("S2024001", &student, cs, 403),
    ] {
        for url in urls(sid) {
            assert_eq!(
                app.get_with(c, &url).await.status(),
                status,
                "{who} GET {url}"
            );
        }
        // The POSTs: with the token of a page they may open (their own 个人中心).
        let html = app.get_with(c, "/center").await.text().await.unwrap();
        let token = csrf_from(&html);
        let change = c
            .post(app.url(&designer(sid)))
            .form(&[
                ("_csrf", token.as_str()),
                ("revision", ""),
                ("op", "next"),
                ("node", "start"),
                ("to", "end"),
            ])
            .send()
            .await
            .unwrap();
        let run = c
            .post(app.url(&trial(sid)))
            .form(&[("_csrf", token.as_str()), ("applicant", "S2024001")])
            .send()
            .await
            .unwrap();
        if status == 200 {
            assert_ne!(change.status(), 403, "{who} POST designer {sid}");
            assert_eq!(run.status(), 200, "{who} POST trial {sid}");
        } else {
            assert_eq!(change.status(), status, "{who} POST designer {sid}");
            assert_eq!(run.status(), status, "{who} POST trial {sid}");
        }
    }
    // Signed-out POSTs change nothing; an unknown service is 404 for the 系统管理员.
    assert_eq!(app.get_with(&admin, &designer(99_999)).await.status(), 404);
    assert_eq!(app.get_with(&t4401, &designer(99_999)).await.status(), 403);
    let drafts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM service_drafts WHERE service_id = $1")
            .bind(aca)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(drafts, 1, "the permitted changes made a draft");
}

/// In Chromium: open the designer of 学生请假, add an approval node after the 辅导员 and
/// set it up, then run 试算 for 张三 and see the new node with its approver.
async fn design_and_try_in_a_browser(width: u32, height: u32) {
    use crate::browser::{Browser, center, click, fill, sign_in};
    use fantoccini::Locator;
    let app = spawn_app().await;
    let Some(b) = Browser::start(width, height).await else {
        return;
    };
    let sid = service(&app, "XSQJ").await;
    sign_in(&b, &app, "admin").await;
    let c = &b.client;
    c.goto(&app.url(&designer(sid))).await.unwrap();
    c.wait()
        .for_element(Locator::Css(".wf-diagram svg"))
        .await
        .unwrap();
    b.shot("flowd", &format!("designer-{width}")).await;
    center(c, "#node-counselor").await;
    b.shot("flowd", &format!("designer-node-{width}")).await;
    click(c, "#node-counselor .wf-insert-form button").await;
    c.wait()
        .for_element(Locator::Css("form.wf-editor"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("node=approval_1")
    );
    fill(c, "#wf-name", "学院办公室审核").await;
    click(c, "input[name=rule][value=users]").await;
    // The script shows only the chosen rule's settings.
    let role = c.find(Locator::Css("#wf-role")).await.unwrap();
    assert!(
        !role.is_displayed().await.unwrap(),
        "another rule's setting is hidden"
    );
    fill(c, "#wf-accounts", "T4106").await;
    center(c, "form.wf-editor .wf-rule").await;
    b.shot("flowd", &format!("designer-editor-top-{width}"))
        .await;
    center(c, "form.wf-editor .wf-perms").await;
    b.shot("flowd", &format!("designer-editor-{width}")).await;
    click(c, ".wf-save button[value=save]").await;
    let card = c
        .wait()
        .for_element(Locator::Css("#node-approval_1 .wf-lines"))
        .await
        .unwrap();
    let text = card.text().await.unwrap();
    assert!(text.contains("指定人员：黄蕾（T4106）"), "{text}");
    let flash = c.find(Locator::Css(".flash-success")).await.unwrap();
    assert!(
        flash
            .text()
            .await
            .unwrap()
            .contains("已保存节点“学院办公室审核”")
    );
    b.shot("flowd", &format!("designer-saved-{width}")).await;

    // 试算 of the draft for 张三.
    click(c, ".wf-links a[href$='/workflow/trial']").await;
    fill(c, "#applicant", "S2024001").await;
    click(c, ".wf-pick button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css(".app-form"))
        .await
        .unwrap();
    fill(c, "input[name='f.days']", "5").await;
    center(c, "select[name='f.counselor']").await;
    c.find(Locator::Css("select[name='f.counselor']"))
        .await
        .unwrap()
        .select_by_label("陈静（T2101）")
        .await
        .unwrap();
    click(c, "button[value=trial]").await;
    c.wait()
        .for_element(Locator::Css(".wf-path"))
        .await
        .unwrap();
    let steps: Vec<String> = {
        let mut out = vec![];
        for e in c.find_all(Locator::Css(".wf-step")).await.unwrap() {
            out.push(e.text().await.unwrap());
        }
        out
    };
    assert_eq!(steps.len(), 6, "{steps:?}");
    assert!(
        steps[2].contains("学院办公室审核") && steps[2].contains("黄蕾（T4106）"),
        "{steps:?}"
    );
    assert!(steps[4].contains("周明（T2102）"), "{steps:?}");
    center(c, ".wf-trial").await;
    b.shot("flowd", &format!("trial-{width}")).await;
    center(c, ".wf-step:nth-child(4)").await;
    b.shot("flowd", &format!("trial-steps-{width}")).await;
    // The condition's editor: a branch with its condition rows.
    c.goto(&app.url(&format!("{}?node=check", designer(sid))))
        .await
        .unwrap();
    click(c, "button[value='add_cond.0']").await;
    c.wait()
        .for_element(Locator::Css("select[name='b.0.c.1.field']"))
        .await
        .unwrap();
    center(c, ".wf-branch").await;
    b.shot("flowd", &format!("designer-condition-{width}"))
        .await;
    b.close().await;
}

#[tokio::test]
async fn browser_designer_and_trial_desktop() {
    design_and_try_in_a_browser(1280, 900).await;
}

#[tokio::test]
async fn browser_designer_and_trial_phone() {
    design_and_try_in_a_browser(390, 844).await;
}

/// What a browser would post from the form matching `css` as it stands (no button).
fn form_pairs(html: &str, css: &str) -> Vec<(String, String)> {
    let doc = scraper::Html::parse_document(html);
    let form = doc
        .select(&scraper::Selector::parse(css).unwrap())
        .next()
        .expect("the form");
    let fields = scraper::Selector::parse("input, select, textarea").unwrap();
    let option = scraper::Selector::parse("option").unwrap();
    let mut out = vec![];
    for e in form.select(&fields) {
        let Some(name) = e.attr("name") else { continue };
        let v = match e.value().name() {
            "input" => {
                let t = e.attr("type").unwrap_or("text");
                if matches!(t, "radio" | "checkbox") && e.attr("checked").is_none() {
                    continue;
                }
                e.attr("value")
                    .unwrap_or(if t == "checkbox" { "on" } else { "" })
                    .to_owned()
            }
            "select" => {
                let options: Vec<_> = e.select(&option).collect();
                options
                    .iter()
                    .find(|o| o.attr("selected").is_some())
                    .or(options.first())
                    .and_then(|o| o.attr("value"))
                    .unwrap_or("")
                    .to_owned()
            }
            _ => e.text().collect(),
        };
        out.push((name.to_owned(), v));
    }
    out
}

/// The editor shows every node of every demo workflow as it is: saved unchanged, each
/// node comes back exactly as it was.
#[tokio::test]
async fn every_demo_node_saves_unchanged_through_its_editor() {
    let app = spawn_app().await;
    let c = signed_in(&app, "admin").await;
    let services: Vec<(i64, String)> = sqlx::query_as(
        "SELECT s.id, s.code FROM services s WHERE EXISTS (SELECT 1 FROM service_versions v WHERE v.service_id = s.id) ORDER BY s.id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let mut nodes_seen = 0;
    for (sid, code) in services {
        let before = versions::working_copy(&app.db, sid).await.unwrap().workflow;
        for n in &before.nodes {
            let url = format!("{}?node={}", designer(sid), n.id);
            let html = app.get_with(&c, &url).await.text().await.unwrap();
            let mut form = form_pairs(&html, "form.wf-editor");
            form.push(("act".into(), "save".into()));
            let r = c
                .post(app.url(&designer(sid)))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                303,
                "{code} {}: {}",
                n.id,
                r.text().await.unwrap()
            );
            nodes_seen += 1;
        }
        let after = draft(&app, sid).await;
        assert_eq!(after, before, "{code}");
    }
    assert!(
        nodes_seen > 150,
        "every demo workflow's nodes: {nodes_seen}"
    );
}

/// 试算 of every demo service for 张三 with the form as pre-filled: a path for each, and
/// where it ends.
#[tokio::test]
async fn every_demo_service_can_be_tried() {
    let app = spawn_app().await;
    let c = signed_in(&app, "admin").await;
    let services: Vec<(i64, String)> = sqlx::query_as(
        "SELECT s.id, s.code FROM services s WHERE EXISTS (SELECT 1 FROM service_versions v WHERE v.service_id = s.id) ORDER BY s.id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    for (sid, code) in services {
        let html = app
            .get_with(&c, &format!("{}?applicant=S2024001", trial(sid)))
            .await
            .text()
            .await
            .unwrap();
        let mut form = form_pairs(&html, "form.app-form");
        form.push(("intent".into(), "trial".into()));
        let r = c
            .post(app.url(&trial(sid)))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{code}");
        let html = r.text().await.unwrap();
        let s = steps(&html);
        assert_eq!(s.first().map(|x| x.0.as_str()), Some("开始"), "{code}");
        assert_eq!(
            s.last().map(|x| x.0.as_str()),
            Some("结束"),
            "{code}: {s:?}"
        );
        assert!(html.contains("流程可以走到结束节点"), "{code}");
    }
}
