//! End to end in Chromium: a 系统管理员 builds a new service entirely through 管理后台
//! (基本信息, 表单设计, 流程设计, 试算, 版本, 发布), then a student finds it in 服务中心 and
//! applies, and the approvers pass it along the designed path to 已办结. Screenshots of
//! the designers and the application page at 1280 and 390 px go to target/screenshots
//! (and /tmp/shots/e2e for review).

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use service_hall::workflow::{
    model::{ApproverRule, Cond, Fallback, NodeKind},
    usecase::versions,
};

use crate::{
    browser::{Browser, center, click, fill, sign_in},
    helpers::*,
};

/// Waits until an element matching `css` says `needle`; returns its text. On time-out,
/// a screenshot and the page's messages say where the flow stopped.
async fn wait_text(b: &Browser, css: &str, needle: &str) -> String {
    let c = &b.client;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for e in c.find_all(Locator::Css(css)).await.unwrap_or_default() {
            if let Ok(t) = e.text().await
                && t.contains(needle)
            {
                return t;
            }
        }
        if Instant::now() > deadline {
            b.screenshot("e2e-stuck").await;
            let url = c.current_url().await.map(|u| u.to_string());
            let said = c
                .execute(
                    "return Array.from(document.querySelectorAll('.alert, .flash, .field-error, h1')).map(e => e.textContent.trim()).join(' | ');",
                    vec![],
                )
                .await
                .unwrap_or(Value::Null);
            panic!("{css} never said {needle:?} at {url:?}: {said}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The texts of every element matching `css`. A page still being redrawn (the designers'
/// scripts replace parts of it) may drop an element between finding and reading it: then
/// read them all again.
async fn texts(c: &Client, css: &str) -> Vec<String> {
    'again: for _ in 0..50 {
        let mut out = vec![];
        for e in c.find_all(Locator::Css(css)).await.unwrap() {
            match e.text().await {
                Ok(t) => out.push(t),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'again;
                }
            }
        }
        return out;
    }
    panic!("{css} kept changing under the reader")
}

async fn choose(c: &Client, css: &str, value: &str) {
    center(c, css).await;
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

async fn choose_label(c: &Client, css: &str, label: &str) {
    center(c, css).await;
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .select_by_label(label)
        .await
        .unwrap();
}

/// Nothing on the page is wider than the window.
async fn fits(c: &Client) -> bool {
    c.execute(
        "return document.documentElement.scrollWidth <= window.innerWidth;",
        vec![],
    )
    .await
    .unwrap()
    .as_bool()
    .unwrap()
}

async fn switch_to(b: &Browser, app: &TestApp, account: &str) {
    b.client.delete_all_cookies().await.unwrap();
    sign_in(b, app, account).await;
}

/// In the 表单设计 list: a new field of `kind`, set up through its editor.
async fn add_field(b: &Browser, kind: &str, label: &str, key: &str, required: bool) {
    let c = &b.client;
    click(c, &format!("button.fd-kind[value={kind}]")).await;
    wait_text(b, ".flash-success", "请完成设置").await;
    fill(c, "#fd-label", label).await;
    fill(c, "#fd-key", key).await;
    if required {
        click(c, "form.fd-editor input[name=required]").await;
    }
}

async fn save_field(b: &Browser, what: &str, label: &str) {
    click(&b.client, "form.fd-editor .actions button[type=submit]").await;
    wait_text(b, ".flash-success", &format!("已保存{what}“{label}”")).await;
}

/// 在此后插入 (on `edge`, when the node has several) a node of `kind` after `node`; its
/// editor opens.
async fn insert_after(b: &Browser, node: &str, edge: Option<&str>, kind: &str) {
    let c = &b.client;
    let form = format!("#node-{node} .wf-insert-form");
    if let Some(e) = edge {
        choose(c, &format!("{form} select[name=edge]"), e).await;
    }
    choose(c, &format!("{form} select[name=type]"), kind).await;
    click(c, &format!("{form} button[type=submit]")).await;
    wait_text(b, ".flash-success", "已插入新节点").await;
    c.wait()
        .for_element(Locator::Css("form.wf-editor #wf-name"))
        .await
        .unwrap();
}

async fn save_node(b: &Browser, name: &str) {
    click(&b.client, ".wf-save button[value=save]").await;
    wait_text(b, ".flash-success", &format!("已保存节点“{name}”")).await;
}

/// 试算 with `days`: the steps' texts once the page shows a path of `steps` of them.
async fn trial(b: &Browser, days: &str, steps: usize) -> Vec<String> {
    let c = &b.client;
    fill(c, "form.app-form input[name='f.days']", days).await;
    click(c, "form.app-form button[value=trial]").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = texts(c, ".wf-path .wf-step").await;
        // This run's answer (a path of another length than the one shown before).
        if s.len() == steps {
            return s;
        }
        assert!(Instant::now() < deadline, "试算 with {days} days: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens 流程图 on the application page (folded on a phone) and scrolls to it.
async fn show_flow(c: &Client) {
    let open = c
        .execute("return document.querySelector('.flow-view').open", vec![])
        .await
        .unwrap();
    if open != json!(true) {
        click(c, ".flow-view summary").await;
    }
    c.execute(
        "document.getElementById('flow').scrollIntoView(); return null;",
        vec![],
    )
    .await
    .unwrap();
}

async fn approve(b: &Browser, app: &TestApp, account: &str, node_name: &str, comment: &str) {
    switch_to(b, app, account).await;
    let c = &b.client;
    c.goto(&app.url("/center/todo?view=flat")).await.unwrap();
    c.find(Locator::XPath(
        "//ul[contains(@class,'item-list')]//a[contains(., '设备借用')]",
    ))
    .await
    .expect("the application in 我待办的")
    .click()
    .await
    .unwrap();
    wait_text(b, ".task-panel h2", node_name).await;
    fill(c, ".task-panel textarea[name=comment]", comment).await;
    click(c, ".task-panel button[value=approve]").await;
    wait_text(b, ".flash-success", "已通过").await;
}

/// (node, assignee's account, status, action) of the application's tasks in order.
async fn tasks(app: &TestApp, id: i64) -> Vec<(String, String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT t.node_id, u.account, t.status, t.action FROM tasks t
         JOIN users u ON u.id = t.assignee_id
         WHERE t.application_id = $1 ORDER BY t.id",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn browser_admin_builds_a_service_and_a_student_uses_it() {
    let app = spawn_app().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let c = &b.client;

    // 1. 管理后台 › 服务管理 › 新建服务.
    sign_in(&b, &app, "admin").await;
    c.find(Locator::LinkText("管理后台"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("a.tile[href='/admin/services']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("a.button[href='/admin/services/new']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("form.svc-form #f-code"))
        .await
        .unwrap();
    fill(c, "#f-name", "设备借用").await;
    fill(c, "#f-code", "SBJY").await;
    choose_label(c, "#f-category", "教学教务").await;
    choose_label(c, "#f-department", "计算机学院").await;
    click(c, "input[name=audiences][value=student]").await;
    click(c, "input[name=kind][value=online]").await;
    fill(
        c,
        "#f-summary",
        "学生借用学院实验设备，在线申请、审批后领取。",
    )
    .await;
    fill(c, "#f-tags", "设备 借用 实验").await;
    fill(
        c,
        "#f-process",
        "1. 在线填写借用申请\n2. **部门负责人**审批；借用超过 3 天还需设备管理员审批\n3. 凭审批结果到实验中心领取设备",
    )
    .await;
    fill(c, "#f-materials", "- 学生证\n- 设备清单").await;
    click(c, "form.svc-form button[name=intent][value=save]").await;
    wait_text(&b, ".flash-success", "已创建服务“设备借用”（草稿）").await;
    let url = c.current_url().await.unwrap();
    let sid: i64 = url
        .path()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .expect("the new service's page");
    let (code, status, kind, audiences, dept, process): (
        String,
        String,
        String,
        Vec<String>,
        String,
        String,
    ) = sqlx::query_as(
        "SELECT s.code, s.status, s.kind, s.audiences, d.name, s.process
         FROM services s JOIN departments d ON d.id = s.department_id WHERE s.id = $1",
    )
    .bind(sid)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (code.as_str(), status.as_str(), kind.as_str(), dept.as_str()),
        ("SBJY", "draft", "online", "计算机学院")
    );
    assert_eq!(audiences, ["student"]);
    assert!(process.starts_with("1. 在线填写借用申请\n2. **部门负责人**"));

    // 2. 表单设计: four fields, one a sub-table with two columns.
    click(c, ".center-tabs a[href$='/form']").await;
    c.wait().for_element(Locator::Css("#fd-add")).await.unwrap();
    add_field(&b, "text", "借用事由", "reason", true).await;
    fill(c, "#fd-help", "如课程设计、毕业设计").await;
    save_field(&b, "字段", "借用事由").await;
    add_field(&b, "number", "借用天数", "days", true).await;
    fill(c, "#fd-min", "1").await;
    fill(c, "#fd-max", "30").await;
    save_field(&b, "字段", "借用天数").await;
    add_field(&b, "table", "设备清单", "devices", true).await;
    save_field(&b, "字段", "设备清单").await;
    click(c, "#fd-row-devices a[aria-label='编辑 设备清单']").await;
    c.wait()
        .for_element(Locator::Css("#fd-columns"))
        .await
        .unwrap();
    for (kind, label, key) in [("text", "设备名称", "name"), ("number", "数量", "qty")] {
        choose(c, "#fd-column-kind", kind).await;
        click(c, ".fd-add-column button[type=submit]").await;
        wait_text(&b, ".flash-success", "请完成设置").await;
        fill(c, "#fd-label", label).await;
        fill(c, "#fd-key", key).await;
        click(c, "form.fd-editor input[name=required]").await;
        if key == "qty" {
            fill(c, "#fd-min", "1").await;
        }
        save_field(&b, "列", label).await;
    }
    assert_eq!(
        texts(c, "#fd-columns .fd-name").await,
        ["设备名称 *", "数量 *"]
    );
    click(c, ".fd-back a").await;
    c.wait().for_element(Locator::Css("#fd-add")).await.unwrap();
    add_field(&b, "person", "指导教师", "advisor", true).await;
    save_field(&b, "字段", "指导教师").await;
    let problems = c
        .find(Locator::Css("#fd-problems"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(problems.contains("没有发现问题"), "{problems}");
    let wc = versions::working_copy(&app.db, sid).await.unwrap();
    let keys: Vec<&str> = wc.form.fields.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["reason", "days", "devices", "advisor"]);
    let kinds: Vec<&str> = wc.form.fields.iter().map(|f| f.kind.code()).collect();
    assert_eq!(kinds, ["text", "number", "table", "person"]);
    assert!(wc.form.fields.iter().all(|f| f.required));
    assert_eq!(wc.form.fields[1].min, Some(1.0));
    let cols: Vec<(&str, &str)> = wc.form.fields[2]
        .columns
        .iter()
        .map(|x| (x.key.as_str(), x.label.as_str()))
        .collect();
    assert_eq!(cols, [("name", "设备名称"), ("qty", "数量")]);
    c.execute("window.scrollTo(0, 0); return null;", vec![])
        .await
        .unwrap();
    b.shot("e2e", "e2e-form-designer-1280").await;

    // 3. 流程设计: 开始 → 部门负责人审批 → 借用天数 > 3 ? 设备管理员审批 → 结束 : 结束.
    click(c, ".center-tabs a[href$='/workflow']").await;
    c.wait()
        .for_element(Locator::Css(".wf-diagram svg"))
        .await
        .unwrap();
    insert_after(&b, "start", None, "approval").await;
    fill(c, "#wf-name", "部门负责人审批").await;
    click(c, "input[name=rule][value=dept_head]").await;
    fill(c, "input[name=levels_up]", "0").await;
    save_node(&b, "部门负责人审批").await;
    insert_after(&b, "approval_1", None, "condition").await;
    fill(c, "#wf-name", "借用天数判断").await;
    click(c, "button[value=add_branch]").await;
    c.wait()
        .for_element(Locator::Css("select[name='b.0.c.0.field']"))
        .await
        .unwrap();
    fill(c, "input[name='b.0.name']", "超过3天").await;
    choose(c, "select[name='b.0.c.0.field']", "days").await;
    choose(c, "select[name='b.0.c.0.op']", "gt").await;
    fill(c, "input[name='b.0.c.0.value']", "3").await;
    choose(c, "select[name='b.0.next']", "end").await;
    choose(c, "#wf-default", "end").await;
    save_node(&b, "借用天数判断").await;
    insert_after(&b, "condition_1", Some("branch.0"), "approval").await;
    fill(c, "#wf-name", "设备管理员审批").await;
    click(c, "input[name=rule][value=users]").await;
    fill(c, "#wf-accounts", "T2002").await;
    save_node(&b, "设备管理员审批").await;
    let card = wait_text(&b, "#node-approval_2 .wf-lines", "李晓梅（T2002）").await;
    assert!(card.contains("指定人员"), "{card}");
    wait_text(&b, ".wf-ok", "检查通过").await;
    let wc = versions::working_copy(&app.db, sid).await.unwrap();
    let ids: Vec<&str> = wc.workflow.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        ["start", "approval_1", "condition_1", "approval_2", "end"]
    );
    let node = |id: &str| &wc.workflow.node(id).unwrap().kind;
    assert!(matches!(node("start"), NodeKind::Start { next } if next == "approval_1"));
    assert!(matches!(
        node("approval_1"),
        NodeKind::Approval { approvers: ApproverRule::DeptHead { levels_up: 0 }, next, .. }
            if next == "condition_1"
    ));
    let NodeKind::Condition { branches, default } = node("condition_1") else {
        panic!("a condition node");
    };
    assert_eq!(default, "end");
    assert_eq!(branches.len(), 1);
    assert_eq!(branches[0].next, "approval_2");
    assert!(
        matches!(&branches[0].when, Cond::Gt { field, value } if field == "days" && value == &json!(3)),
        "{:?}",
        branches[0].when
    );
    assert!(matches!(
        node("approval_2"),
        NodeKind::Approval { approvers: ApproverRule::Users { accounts }, next, .. }
            if accounts == &["T2002".to_owned()] && next == "end"
    ));
    // The diagram in the form's words, as on the application page.
    let labels = texts(c, ".wf-diagram svg text").await;
    assert!(
        labels.iter().any(|l| l.contains("借用天数 ≤ 3")),
        "the default branch by the field's label: {labels:?}"
    );
    assert!(!labels.iter().any(|l| l.contains("days")), "{labels:?}");
    center(c, ".wf-diagram").await;
    b.shot("e2e", "e2e-workflow-designer-1280").await;

    // 4. 试算 for 张三: 5 days goes through both approvals, 2 days only the first.
    click(c, ".wf-links a[href$='/workflow/trial']").await;
    fill(c, "#applicant", "S2024001").await;
    click(c, ".wf-pick button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css("form.app-form input[name='f.days']"))
        .await
        .unwrap();
    fill(c, "form.app-form input[name='f.reason']", "课程设计").await;
    fill(c, "form.app-form input[name='f.devices.0.name']", "示波器").await;
    fill(c, "form.app-form input[name='f.devices.0.qty']", "2").await;
    fill(c, "form.app-form input[name='f.advisor']", "T2002").await;
    let long = trial(&b, "5", 5).await;
    assert!(long[0].contains("开始"), "{long:?}");
    assert!(
        long[1].contains("部门负责人审批") && long[1].contains("王建华（T2001）"),
        "{long:?}"
    );
    assert!(
        long[2].contains("借用天数判断") && long[2].contains("超过3天"),
        "{long:?}"
    );
    assert!(
        long[3].contains("设备管理员审批") && long[3].contains("李晓梅（T2002）"),
        "{long:?}"
    );
    assert!(long[4].contains("结束"), "{long:?}");
    wait_text(&b, ".wf-trial .wf-ok", "流程可以走到结束节点").await;
    assert!(
        c.find(Locator::Css(".wf-trial .alert-info")).await.is_err(),
        "the sample is a valid form"
    );
    center(c, ".wf-trial").await;
    b.shot("e2e", "e2e-trial-1280").await;
    let short = trial(&b, "2", 4).await;
    assert!(short[1].contains("王建华（T2001）"), "{short:?}");
    assert!(short[2].contains("默认分支"), "{short:?}");
    assert!(short[3].contains("结束"), "{short:?}");
    assert!(
        !short.iter().any(|s| s.contains("T2002")),
        "only the first approval: {short:?}"
    );

    // 5. 版本 › 发布 (with the password again), then the service itself on 基本信息.
    click(c, ".center-tabs a[href$='/versions']").await;
    fill(c, "#note", "首个版本").await;
    click(c, "form[action$='/publish'] button[type=submit]").await;
    c.wait()
        .for_element(Locator::Id("confirm-password"))
        .await
        .expect("the password is asked for again");
    b.shot("e2e", "e2e-confirm-1280").await;
    fill(c, "#confirm-password", DEMO_PASSWORD).await;
    click(c, "main form .actions button[type=submit]").await;
    wait_text(&b, ".flash-success", "已发布版本 1").await;
    click(c, ".center-tabs a:first-child").await;
    c.wait()
        .for_element(Locator::Css(".svc-status"))
        .await
        .unwrap();
    click(c, ".svc-status form.svc-move button[type=submit]").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if c.find(Locator::Id("confirm-password")).await.is_ok() {
            fill(c, "#confirm-password", DEMO_PASSWORD).await;
            click(c, "main form .actions button[type=submit]").await;
            break;
        }
        if c.find(Locator::Css(".flash-success")).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "publishing the service");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_text(&b, ".flash-success", "已发布，已出现在服务中心").await;
    wait_text(&b, ".svc-status .badge", "已发布").await;
    let (status, version): (String, i32) = sqlx::query_as(
        "SELECT s.status, v.number FROM services s JOIN service_versions v ON v.service_id = s.id
         WHERE s.id = $1",
    )
    .bind(sid)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((status.as_str(), version), ("published", 1));

    // 6. 张三 finds it in 服务中心 and applies for 5 days with two devices.
    switch_to(&b, &app, "S2024001").await;
    c.goto(&app.url("/services")).await.unwrap();
    fill(c, "form.search-bar input[name=q]", "设备借用").await;
    click(c, "form.search-bar button").await;
    wait_text(&b, ".service-item h2 a", "设备借用").await;
    click(c, ".service-item h2 a").await;
    c.wait()
        .for_element(Locator::Css(".guide-actions"))
        .await
        .unwrap();
    let guide = c.source().await.unwrap();
    assert!(
        guide.contains("<strong>部门负责人</strong>") && guide.contains("<li>学生证</li>"),
        "the 办事指南 in Markdown"
    );
    c.find(Locator::LinkText("立即办理"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".app-form input[name='f.devices.1.name']"))
        .await
        .unwrap();
    fill(c, "input[name='f.reason']", "课程设计需要示波器").await;
    fill(c, "input[name='f.days']", "5").await;
    fill(c, "input[name='f.devices.0.name']", "示波器").await;
    fill(c, "input[name='f.devices.0.qty']", "2").await;
    fill(c, "input[name='f.devices.1.name']", "信号发生器").await;
    fill(c, "input[name='f.devices.1.qty']", "1").await;
    fill(c, "input[name='f.advisor']", "T2002").await;
    click(c, "button[value=submit]").await;
    wait_text(&b, ".flash-success", "流水号 SBJY-").await;
    let application = c.current_url().await.unwrap();
    let advisor: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = 'T2002'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (aid, data, form_def, v_form): (i64, Value, i64, i64) = sqlx::query_as(
        "SELECT a.id, a.data, a.form_def_id, v.form_def_id FROM applications a
         JOIN service_versions v ON v.service_id = a.service_id AND v.number = 1
         WHERE a.service_id = $1",
    )
    .bind(sid)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(application.path(), format!("/applications/{aid}"));
    assert_eq!(form_def, v_form, "the published version's form");
    assert_eq!(
        (&data["days"], &data["devices"], &data["advisor"]),
        (
            &json!(5),
            &json!([{ "name": "示波器", "qty": 2 }, { "name": "信号发生器", "qty": 1 }]),
            &json!(advisor)
        ),
        "the form as typed, numbers as numbers and 指导教师 as the person's id"
    );
    assert_eq!(
        tasks(&app, aid).await,
        [("approval_1".into(), "T2001".into(), "pending".into(), None)],
        "the 部门负责人 first, nobody else yet"
    );

    // The approvers, in order.
    approve(&b, &app, "T2001", "部门负责人审批", "同意借用").await;
    assert_eq!(
        tasks(&app, aid).await,
        [
            (
                "approval_1".into(),
                "T2001".into(),
                "done".into(),
                Some("approve".into())
            ),
            ("approval_2".into(), "T2002".into(), "pending".into(), None),
        ],
        "more than 3 days: on to 设备管理员审批"
    );
    approve(&b, &app, "T2002", "设备管理员审批", "按时归还").await;
    assert_eq!(
        tasks(&app, aid).await,
        [
            (
                "approval_1".into(),
                "T2001".into(),
                "done".into(),
                Some("approve".into())
            ),
            (
                "approval_2".into(),
                "T2002".into(),
                "done".into(),
                Some("approve".into())
            ),
        ]
    );
    let status: String = sqlx::query_scalar("SELECT status FROM applications WHERE id = $1")
        .bind(aid)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "completed");

    // 7. 张三 sees 已办结 and the 流程图; then every page again at 390 px.
    switch_to(&b, &app, "S2024001").await;
    c.goto(application.as_str()).await.unwrap();
    wait_text(&b, ".app-head .badge", "已办结").await;
    let labels = texts(c, ".flow-diagram text").await;
    for name in ["部门负责人审批", "设备管理员审批", "借用天数判断"] {
        assert!(
            labels.iter().any(|l| l.contains(name)),
            "{name} in the 流程图: {labels:?}"
        );
    }
    show_flow(c).await;
    b.shot("e2e", "e2e-application-1280").await;

    c.set_window_size(390, 844).await.unwrap();
    c.goto(application.as_str()).await.unwrap();
    wait_text(&b, ".app-head .badge", "已办结").await;
    show_flow(c).await;
    assert!(fits(c).await, "the application page fits a phone");
    b.shot("e2e", "e2e-application-390").await;
    // 流转记录 without sideways scrolling: every row's time in sight.
    center(c, ".flow-table").await;
    b.shot("e2e", "e2e-application-records-390").await;
    let hidden: bool = c
        .execute(
            "var w = document.querySelector('.flow-table').closest('.table-wrap');
             return w.scrollWidth > w.clientWidth;",
            vec![],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap();
    assert!(!hidden, "流转记录 fits the phone");
    switch_to(&b, &app, "admin").await;
    c.goto(&app.url(&format!("/admin/services/{sid}/form")))
        .await
        .unwrap();
    c.wait().for_element(Locator::Css("#fd-add")).await.unwrap();
    assert!(fits(c).await, "表单设计 fits a phone");
    b.shot("e2e", "e2e-form-designer-390").await;
    center(c, "#fd-frame").await;
    b.shot("e2e", "e2e-form-designer-preview-390").await;
    c.goto(&app.url(&format!("/admin/services/{sid}/workflow")))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".wf-diagram svg"))
        .await
        .unwrap();
    assert!(fits(c).await, "流程设计 fits a phone");
    b.shot("e2e", "e2e-workflow-designer-390").await;
    center(c, ".wf-diagram").await;
    b.shot("e2e", "e2e-workflow-diagram-390").await;
    b.close().await;
}

/// The accounts of the service's administrators (`service_admins`).
async fn admins_of(app: &TestApp, sid: i64) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT u.account FROM service_admins sa JOIN users u ON u.id = sa.user_id
         WHERE sa.service_id = $1 ORDER BY u.account",
    )
    .bind(sid)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

const NO_ADMIN: &str = "兜底为服务管理员，但本服务没有设置可用的服务管理员";

/// Regression: a service created in 管理后台 (or imported as a new one) had no
/// administrators, and nothing in 管理后台 could name any; every approval node the
/// designer inserted (its fallback: 本服务的服务管理员) then stood in the way of
/// publishing. Whoever creates or imports it now administers it.
#[tokio::test]
async fn the_creator_of_a_service_administers_it() {
    let app = spawn_app().await;
    let c = signed_in(&app, "T4402").await;
    let (cs, cat): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT id FROM departments WHERE code = 'CS'),
                (SELECT id FROM service_categories ORDER BY id LIMIT 1)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let html = app
        .get_with(&c, "/admin/services/new")
        .await
        .text()
        .await
        .unwrap();
    let r = c
        .post(app.url("/admin/services"))
        .form(&[
            ("_csrf", csrf_from(&html)),
            ("name", "实验室开放预约".into()),
            ("code", "SYSKF".into()),
            ("category", cat.to_string()),
            ("department", cs.to_string()),
            ("audiences", "student".into()),
            ("kind", "online".into()),
            ("intent", "save".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let sid: i64 = location(&r).rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(admins_of(&app, sid).await, ["T4402"]);

    // The designer's new approval node, as inserted: nothing in the way of publishing.
    let page = app
        .get_with(&c, &format!("/admin/services/{sid}/workflow"))
        .await
        .text()
        .await
        .unwrap();
    let r = c
        .post(app.url(&format!("/admin/services/{sid}/workflow")))
        .form(&[
            ("_csrf", csrf_from(&page)),
            ("revision", String::new()),
            ("op", "insert".into()),
            ("node", "start".into()),
            ("edge", "next".into()),
            ("type", "approval".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let wc = versions::working_copy(&app.db, sid).await.unwrap();
    assert!(matches!(
        &wc.workflow.node("approval_1").unwrap().kind,
        NodeKind::Approval {
            fallback: Fallback::ServiceAdmins,
            ..
        }
    ));
    let page = app.get_with(&c, &location(&r)).await.text().await.unwrap();
    assert!(!page.contains(NO_ADMIN), "the creator is asked");
    assert!(page.contains("检查通过"));
    let problems = versions::problems_in_db(&app.db, sid, &wc.workflow)
        .await
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");

    // A new service from a package: the importer administers it too.
    let sjkf: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'SJKF'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let package = app
        .get_with(&c, &format!("/admin/services/{sjkf}/export"))
        .await
        .text()
        .await
        .unwrap();
    assert!(package.contains("kind = \"service_admins\""));
    let copy = package.replacen("code = \"SJKF\"", "code = \"SJKF2\"", 1);
    let html = app
        .get_with(&c, "/admin/services/import")
        .await
        .text()
        .await
        .unwrap();
    let part = reqwest::multipart::Part::bytes(copy.as_bytes().to_vec()).file_name("SJKF2.toml");
    let r = c
        .post(app.url(&format!(
            "/admin/services/import?_csrf={}",
            csrf_from(&html)
        )))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let r = c
        .post(app.url("/admin/services/import/confirm"))
        .form(&[
            ("_csrf", csrf_from(&html)),
            ("file", "SJKF2.toml".into()),
            ("package", copy),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let new: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'SJKF2'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(admins_of(&app, new).await, ["T4402"]);
    let page = app
        .get_with(&c, &format!("/admin/services/{new}/versions"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains(NO_ADMIN), "the importer is asked");
    assert!(!page.contains("发布前需要修正"), "{page}");
}

/// Regression: 流程设计 drew conditions and approvers with keys and role codes (days ≤ 3,
/// counselor（申请人选定）) where the application's 流程图 says 请假天数 ≤ 3 and 辅导员.
#[tokio::test]
async fn the_designers_diagram_names_fields_by_their_labels() {
    let app = spawn_app().await;
    let c = signed_in(&app, "admin").await;
    let sid: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'XSQJ'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let html = app
        .get_with(&c, &format!("/admin/services/{sid}/workflow"))
        .await
        .text()
        .await
        .unwrap();
    let doc = scraper::Html::parse_document(&html);
    let labels: Vec<String> = doc
        .select(&scraper::Selector::parse(".wf-diagram svg text").unwrap())
        .map(|t| t.text().collect())
        .collect();
    assert!(labels.iter().any(|l| l.contains("请假天数")), "{labels:?}");
    // Roles and person fields by name too (counselor, deputy_secretary before).
    assert!(
        !labels
            .iter()
            .any(|l| l.contains("days") || l.contains("counselor") || l.contains("deputy")),
        "{labels:?}"
    );
}
