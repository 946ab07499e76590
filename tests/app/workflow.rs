use crate::{forms::*, helpers::*};

async fn status(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn pending_accounts(app: &TestApp, id: i64) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT u.account FROM tasks t JOIN users u ON u.id = t.assignee_id
         WHERE t.application_id = $1 AND t.status = 'pending' ORDER BY u.account",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn student_leave_short_and_long() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let sid = service(&app, "XSQJ").await;
    let form = app
        .get_with(&student, &format!("/services/{sid}/apply"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("陈静（T2101）"),
        "counselors of the student's college are offered"
    );
    assert!(form.contains(">张三<"), "auto-filled, locked name");
    // The 里程碑 bar before any data: 学院副书记 comes in only for more than 3 days.
    let bar = milestone_bar(&form);
    let deputy: Vec<&(String, String)> = bar.iter().filter(|(t, _)| t.contains("副书记")).collect();
    assert_eq!(deputy.len(), 1, "{bar:?}");
    assert!(deputy[0].0.contains("视情况"), "{bar:?}");
    assert_eq!(
        bar.iter().filter(|(t, _)| t.contains("视情况")).count(),
        1,
        "{bar:?}"
    );

    let id = apply_leave(&app, &student, "2").await;
    let serial: String = sqlx::query_scalar("SELECT serial_no FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(regex_like(&serial), "{serial}");
    assert_eq!(pending_accounts(&app, id).await, vec!["T2101"]);
    let counselor = signed_in(&app, "T2101").await;
    let center = app
        .get_with(&counselor, "/center/todo?view=flat")
        .await
        .text()
        .await
        .unwrap();
    assert!(center.contains(&serial), "the task is in 我待办的");
    let r = act(
        &app,
        &counselor,
        id,
        "approve",
        "counselor",
        &[("comment", "同意")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        status(&app, id).await,
        "completed",
        "2 days: no deputy secretary"
    );
    let page = app
        .get_with(&student, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("已办结") && page.contains("同意"));
    // 2 days never went past the counselor: the bar shows no 学院副书记, all steps done.
    let bar = milestone_bar(&page);
    assert!(!bar.iter().any(|(t, _)| t.contains("副书记")), "{bar:?}");
    assert!(bar.iter().all(|(_, c)| c.contains("done")), "{bar:?}");

    let long = apply_leave(&app, &student, "5").await;
    act(&app, &counselor, long, "approve", "counselor", &[]).await;
    assert_eq!(
        pending_accounts(&app, long).await,
        vec!["T2102"],
        "more than 3 days: 学院副书记"
    );
    let page = app
        .get_with(&student, &format!("/applications/{long}"))
        .await
        .text()
        .await
        .unwrap();
    let bar = milestone_bar(&page);
    let step = bar
        .iter()
        .find(|(t, _)| t.contains("副书记"))
        .expect("on the path");
    assert!(
        step.1.contains("current") && !step.0.contains("视情况"),
        "{bar:?}"
    );
    let deputy = signed_in(&app, "T2102").await;
    act(&app, &deputy, long, "approve", "deputy", &[]).await;
    assert_eq!(status(&app, long).await, "completed");
    let serial2: String = sqlx::query_scalar("SELECT serial_no FROM applications WHERE id = $1")
        .bind(long)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(&serial2[serial2.len() - 6..], "000002");
    // Notices were written with the events.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE application_id = $1")
        .bind(long)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(n >= 3, "new tasks and completion notices: {n}");
    assert_task_counts(&app).await;
}

/// The 里程碑 bar's steps: (text, class).
fn milestone_bar(html: &str) -> Vec<(String, String)> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("ol.milestones li").unwrap();
    doc.select(&sel)
        .map(|li| {
            (
                li.text().collect::<String>().trim().to_owned(),
                li.value().attr("class").unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn regex_like(serial: &str) -> bool {
    let parts: Vec<&str> = serial.split('-').collect();
    parts.len() == 3
        && parts[0] == "XSQJ"
        && parts[1].len() == 4
        && parts[2].len() == 6
        && parts[2].chars().all(|c| c.is_ascii_digit())
}

#[tokio::test]
async fn validation_errors_keep_what_was_typed() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let sid = service(&app, "XSQJ").await;
    let page = format!("/services/{sid}/apply");
    let fields = vec![
        ("f.phone", "1380013800".to_owned()),
        ("f.kind", "事假".into()),
        ("f.period.from", "2026-12-03".into()),
        ("f.period.to", "2026-12-01".into()),
        ("f.days", "99".into()),
        ("f.reason", "我写的事由".into()),
    ];
    let r = post_form(&app, &student, &page, &page, "submit", &fields).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    let errors = texts_of_class(&html, "field-error");
    for e in [
        "手机号须为 11 位手机号",
        "请假起止日期的结束日期不能早于开始日期",
        "请假天数不能大于 60",
        "请选择是否离校",
        "请选择辅导员",
    ] {
        assert!(errors.iter().any(|x| x == e), "{e}: {errors:?}");
    }
    assert!(html.contains("请修改以下"), "summary at the top");
    assert!(
        html.contains("我写的事由")
            && html.contains("value=\"1380013800\"")
            && html.contains("value=\"99\"")
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing saved");
}

#[tokio::test]
async fn drafts_can_be_continued_submitted_and_deleted() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let sid = service(&app, "XSQJ").await;
    let page = format!("/services/{sid}/apply");
    let r = post_form(
        &app,
        &student,
        &page,
        &page,
        "draft",
        &[("f.reason", "先写一半".to_owned())],
    )
    .await;
    assert_eq!(r.status(), 303);
    let edit = location(&r);
    assert!(edit.ends_with("/edit"));
    let center = app
        .get_with(&student, "/center/drafts")
        .await
        .text()
        .await
        .unwrap();
    assert!(center.contains("草稿箱") && center.contains(&edit));
    assert!(
        center.contains("草稿箱 <span class=\"nav-badge\">1</span>"),
        "the tab counts the draft"
    );
    let html = app.get_with(&student, &edit).await.text().await.unwrap();
    assert!(html.contains("先写一半"));
    // Someone else cannot open it.
    let other = signed_in(&app, "T2002").await;
    assert_eq!(app.get_with(&other, &edit).await.status(), 404);
    // Continue and submit.
    let fields = leave_fields(&app, "1").await;
    let r = post_form(&app, &student, &edit, &edit, "submit", &fields).await;
    assert_eq!(r.status(), 303);
    let id: i64 = location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    assert_eq!(status(&app, id).await, "running");
    let drafts = app
        .get_with(&student, "/center/drafts")
        .await
        .text()
        .await
        .unwrap();
    assert!(!drafts.contains("草稿箱 <span"), "submitted: no draft left");
    // A second draft, deleted.
    let r = post_form(&app, &student, &page, &page, "draft", &[]).await;
    let edit2 = location(&r);
    assert_draft_counts(&app).await;
    let draft_id: i64 = edit2
        .trim_start_matches("/applications/")
        .trim_end_matches("/edit")
        .parse()
        .unwrap();
    let r = app
        .submit(
            &student,
            &edit2,
            &format!("/applications/{draft_id}/delete"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM applications WHERE id = $1")
        .bind(draft_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_draft_counts(&app).await;
    let n: i64 = sqlx::query_scalar(
        "SELECT d.drafts::int8 FROM draft_counts d JOIN users u ON u.id = d.user_id WHERE u.account = 'S2024001'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(n, 0, "one made and submitted, one made and deleted");
}

#[tokio::test]
async fn someone_elses_application_is_not_found() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let id = apply_leave(&app, &student, "1").await;
    for account in ["T2002", "T2102", "T3001"] {
        let c = signed_in(&app, account).await;
        assert_eq!(
            app.get_with(&c, &format!("/applications/{id}"))
                .await
                .status(),
            404,
            "{account}"
        );
        let r = act(&app, &student, id, "approve", "counselor", &[]).await; // the student has no task either
        assert_ne!(r.status(), 303);
    }
    let counselor = signed_in(&app, "T2101").await;
    assert_eq!(
        app.get_with(&counselor, &format!("/applications/{id}"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get(&format!("/applications/{id}")).await.status(),
        303,
        "visitors sign in first"
    );
}

#[tokio::test]
async fn return_and_resubmit_shows_what_changed() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let id = apply_leave(&app, &student, "2").await;
    // 退回 needs 审批意见.
    let r = act(&app, &counselor, id, "return", "counselor", &[]).await;
    assert_eq!(r.status(), 303);
    let page = app
        .get_with(&counselor, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("退回时须填写审批意见"));
    assert_eq!(status(&app, id).await, "running");
    act(
        &app,
        &counselor,
        id,
        "return",
        "counselor",
        &[("comment", "请补充详细事由")],
    )
    .await;
    assert_eq!(status(&app, id).await, "returned");
    let mine = app
        .get_with(&student, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        mine.contains("已退回")
            && mine.contains("修改并重新提交")
            && mine.contains("请补充详细事由")
    );
    let edit = format!("/applications/{id}/edit");
    let mut fields = leave_fields(&app, "2").await;
    fields.retain(|(k, _)| *k != "f.reason");
    fields.push(("f.reason", "回家办理户籍迁移手续，需本人到场".into()));
    // No 存草稿 for a returned application: said plainly, nothing changes.
    let r = post_form(&app, &student, &edit, &edit, "draft", &fields).await;
    assert_eq!(location(&r), edit);
    let again = app.get_with(&student, &edit).await.text().await.unwrap();
    assert!(again.contains("已退回的申请请修改后直接提交"));
    assert_eq!(status(&app, id).await, "returned");
    let r = post_form(&app, &student, &edit, &edit, "submit", &fields).await;
    assert_eq!(r.status(), 303);
    assert_eq!(pending_accounts(&app, id).await, vec!["T2101"]);
    let page = app
        .get_with(&counselor, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("已修改"),
        "the approver sees which fields changed"
    );
    let serial_count: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT serial_no) FROM applications")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(serial_count, 1, "the 流水号 stays");
    assert_task_counts(&app).await;
}

#[tokio::test]
async fn fifty_simultaneous_approvals_apply_exactly_once() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let id = apply_leave(&app, &student, "1").await;
    let html = app
        .get_with(&counselor, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let form = vec![
        ("_csrf".to_owned(), csrf_from(&html)),
        ("version".to_owned(), version_from(&html).unwrap()),
        ("op".to_owned(), "approve".to_owned()),
        ("node".to_owned(), "counselor".to_owned()),
    ];
    let url = app.url(&format!("/applications/{id}/act"));
    let requests = (0..50).map(|_| {
        let c = counselor.clone();
        let form = form.clone();
        let url = url.clone();
        tokio::spawn(async move {
            c.post(url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let mut codes = Vec::new();
    for r in requests {
        codes.push(r.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 303).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 409).count(), 49, "{codes:?}");
    let approvals: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM flow_records WHERE application_id = $1 AND action = 'approve'",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(approvals, 1);
    assert_eq!(status(&app, id).await, "completed");
    assert_task_counts(&app).await;
}

#[tokio::test]
async fn withdraw_only_before_anyone_acted() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let id = apply_leave(&app, &student, "5").await;
    let r = act(&app, &student, id, "withdraw", "", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(status(&app, id).await, "withdrawn");
    assert!(pending_accounts(&app, id).await.is_empty());
    // The counselor's 待办 notice is done with, and one line says why (issue 17, item 2).
    let notices = messages_of(&app, "T2101", id).await;
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_eq!((notices[0].0.as_str(), notices[0].2), ("new_task", true));
    assert_eq!(
        (notices[1].0.as_str(), notices[1].2),
        ("task_closed", false)
    );
    assert!(notices[1].1.contains("已被申请人撤回"), "{notices:?}");
    let id2 = apply_leave(&app, &student, "5").await;
    let counselor = signed_in(&app, "T2101").await;
    act(&app, &counselor, id2, "approve", "counselor", &[]).await;
    let page = app
        .get_with(&student, &format!("/applications/{id2}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("value=\"withdraw\""),
        "no 撤回 button after an approval"
    );
    assert_task_counts(&app).await;
}

#[tokio::test]
async fn seal_or_sign_and_add_signer() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let sid = service(&app, "GZSY").await;
    let page = format!("/services/{sid}/apply");
    let fields = vec![
        ("f.seal", "校章".to_owned()),
        ("f.document", "合作协议".into()),
        ("f.copies", "2".into()),
        ("f.date", "2026-12-01".into()),
        ("f.reason", "与企业签订联合实验室协议".into()),
    ];
    let r = post_form(&app, &teacher, &page, &page, "submit", &fields).await;
    assert_eq!(r.status(), 303);
    let id: i64 = location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    assert_eq!(
        pending_accounts(&app, id).await,
        vec!["T2001"],
        "the 部门负责人 first"
    );
    let head = signed_in(&app, "T2001").await;
    // 加签: 李老师's head asks 张三's counselor to look first? No — asks 周明 after him.
    act(
        &app,
        &head,
        id,
        "add_signer",
        "head",
        &[("account", "T2102"), ("position", "after")],
    )
    .await;
    // 部门负责人审批 takes a handwritten signature: 通过 without one changes nothing and
    // says why; a blank pad is refused too.
    act(&app, &head, id, "approve", "head", &[]).await;
    let page = app
        .get_with(&head, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("本环节通过时须手写签名"), "{page}");
    assert!(
        page.contains("data-signature-pad"),
        "the pad is on the page"
    );
    assert_eq!(pending_accounts(&app, id).await, vec!["T2001"]);
    let mut png = Vec::new();
    image::RgbaImage::new(600, 200)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let blank = format!(
        "data:image/png;base64,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, png)
    );
    act(&app, &head, id, "approve", "head", &[("signature", &blank)]).await;
    let page = app
        .get_with(&head, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("签名过小或为空白"), "{page}");
    assert_eq!(pending_accounts(&app, id).await, vec!["T2001"]);
    let signature = drawn_signature();
    act(
        &app,
        &head,
        id,
        "approve",
        "head",
        &[("signature", &signature)],
    )
    .await;
    assert_eq!(
        pending_accounts(&app, id).await,
        vec!["T2102"],
        "the added signer comes next"
    );
    let added = signed_in(&app, "T2102").await;
    act(
        &app,
        &added,
        id,
        "approve",
        "head",
        &[("signature", &signature)],
    )
    .await;
    // Each 通过 keeps its own signature with its flow record, shown in the 流转记录 to
    // whoever sees the application; a stranger gets 404.
    let signed: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM flow_records WHERE application_id = $1 AND signature IS NOT NULL ORDER BY id",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(signed.len(), 2);
    let img = format!("/applications/{id}/signatures/{}", signed[0]);
    let r = app.get_with(&teacher, &img).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    let png = r.bytes().await.unwrap();
    let decoded = image::load_from_memory(&png).unwrap();
    assert!(decoded.width() >= 100 && decoded.width() <= 800);
    let stranger = signed_in(&app, "S2024001").await;
    assert_eq!(app.get_with(&stranger, &img).await.status(), 404);
    let page = app
        .get_with(&teacher, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&img), "the 流转记录 shows the signature");
    assert_eq!(
        pending_accounts(&app, id).await,
        vec!["T3004", "T3005"],
        "或签 among the seal keepers"
    );
    let k1 = signed_in(&app, "T3004").await;
    let k2 = signed_in(&app, "T3005").await;
    let stale = app
        .get_with(&k2, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    act(&app, &k1, id, "approve", "seal", &[]).await;
    assert_eq!(status(&app, id).await, "completed");
    // The other keeper's page was open: their 通过 now finds it handled.
    let r = k2
        .post(app.url(&format!("/applications/{id}/act")))
        .form(&[
            ("_csrf", csrf_from(&stale)),
            ("version", version_from(&stale).unwrap()),
            ("op", "approve".into()),
            ("node", "seal".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("该事项已被处理"));
    let decided: Option<i64> = sqlx::query_scalar(
        "SELECT decided_by FROM tasks t JOIN users u ON u.id = t.assignee_id WHERE t.application_id = $1 AND u.account = 'T3005'",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(decided, Some(user(&app, "T3004").await), "由 钱印 处理");
    // Issue 17, items 2 and 3: the other keeper is told, their 待办 notice is done with,
    // and the application page and 我已办的 say who handled it.
    let notices = messages_of(&app, "T3005", id).await;
    assert_eq!(
        notices
            .iter()
            .map(|(k, _, read)| (k.as_str(), *read))
            .collect::<Vec<_>>(),
        vec![("new_task", true), ("task_closed", false)],
        "{notices:?}"
    );
    assert!(notices[1].1.contains("已由 钱印 处理"), "{notices:?}");
    let page = app
        .get_with(&k2, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("您在“印章管理员用印”的待办已由 钱印 处理"));
    let done = app
        .get_with(&k2, "/center/done")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        done.contains(&format!("href=\"/applications/{id}\"")) && done.contains("由 钱印 处理"),
        "{done}"
    );
    // The one who approved is told nothing of the kind.
    let own = messages_of(&app, "T3004", id).await;
    assert!(own.iter().all(|(k, _, _)| k != "task_closed"), "{own:?}");
    assert_task_counts(&app).await;
}

/// `account`'s messages about application `id`, oldest first: (kind, text, read).
async fn messages_of(app: &TestApp, account: &str, id: i64) -> Vec<(String, String, bool)> {
    sqlx::query_as(
        "SELECT m.kind, m.text, m.read_at IS NOT NULL FROM messages m JOIN users u ON u.id = m.user_id
         WHERE u.account = $1 AND m.application_id = $2 ORDER BY m.id",
    )
    .bind(account)
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn travel_abroad_condition_and_cc() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let sid = service(&app, "CGCJ").await;
    let page = format!("/services/{sid}/apply");
    let fields = vec![
        ("f.ethnicity", "汉族".to_owned()),
        ("f.birth_date", "1998-05-12".into()),
        ("f.birth_place", "广东深圳".into()),
        ("f.id_card", "44030619980512341X".into()),
        ("f.phone", "13900001002".into()),
        ("f.email", "lixm@demo.edu.cn".into()),
        ("f.passport", "因公护照".into()),
        ("f.profile", "计算机学院讲师，研究方向为分布式系统".into()),
        ("f.task", "参加国际学术会议并作报告".into()),
        ("f.funding", "科研项目经费".into()),
        ("f.itinerary.0.date", "2026-12-10".into()),
        ("f.itinerary.0.country", "新加坡".into()),
        ("f.itinerary.0.city", "新加坡".into()),
        ("f.days", "40".into()),
        ("f.cost", "38000".into()),
    ];
    let r = post_form(&app, &teacher, &page, &page, "submit", &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let id: i64 = location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    let head = signed_in(&app, "T2001").await;
    act(&app, &head, id, "approve", "head", &[]).await;
    assert_eq!(pending_accounts(&app, id).await, vec!["T3001"]);
    let intl = signed_in(&app, "T3001").await;
    act(&app, &intl, id, "approve", "intl", &[]).await;
    assert_eq!(
        pending_accounts(&app, id).await,
        vec!["T3001"],
        "审批意见 is required at this node"
    );
    act(
        &app,
        &intl,
        id,
        "approve",
        "intl",
        &[("comment", "同意，按规定办理")],
    )
    .await;
    assert_eq!(
        pending_accounts(&app, id).await,
        vec!["T3002"],
        "40 days: 校领导"
    );
    let cc: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks t JOIN users u ON u.id = t.assignee_id WHERE t.application_id = $1 AND t.kind = 'cc' AND u.account = 'T3003'",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(cc, 1, "抄送 人事处");
    let hr = signed_in(&app, "T3003").await;
    assert_eq!(
        app.get_with(&hr, &format!("/applications/{id}"))
            .await
            .status(),
        200,
        "CC recipients may read it"
    );
    // 校领导 returns it to 国际交流处; approved again, the same node copies 人事处 once more,
    // with a new CC task but no second notice (the message's key is per node and person).
    let leader = signed_in(&app, "T3002").await;
    let r = act(
        &app,
        &leader,
        id,
        "return",
        "leader",
        &[("to", "intl"), ("comment", "请核对行程")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(pending_accounts(&app, id).await, vec!["T3001"]);
    act(&app, &intl, id, "approve", "intl", &[("comment", "已核对")]).await;
    assert_eq!(pending_accounts(&app, id).await, vec!["T3002"]);
    let (tasks, notices, outbox): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM tasks t JOIN users u ON u.id = t.assignee_id
                 WHERE t.application_id = $1 AND t.kind = 'cc' AND u.account = 'T3003'),
                (SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
                 WHERE m.application_id = $1 AND m.kind = 'cc' AND u.account = 'T3003'),
                (SELECT count(*) FROM outbox WHERE application_id = $1)",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((tasks, notices), (2, 1));
    // In-app notices are their own record: nothing was left for the worker to deliver.
    assert_eq!(outbox, 0);
    assert_task_counts(&app).await;
}

#[tokio::test]
async fn onboarding_parallel_sections() {
    let app = spawn_app().await;
    let hr = signed_in(&app, "T3003").await;
    let sid = service(&app, "RXSX").await;
    let page = format!("/services/{sid}/apply");
    let form = app.get_with(&hr, &page).await.text().await.unwrap();
    assert!(
        !form.contains("机构编制管理科意见"),
        "departments' sections are not the applicant's"
    );
    let fields = vec![
        ("f.ref_no", "人调字〔2026〕18号".to_owned()),
        ("f.person", "刘洋".into()),
        ("f.post", "专任教师".into()),
        ("f.reason", "新进博士".into()),
    ];
    // Fields of the departments' sections, slipped into the applicant's request, are not
    // taken: each department fills its own at its own step.
    let mut forged = fields.clone();
    forged.push(("f.org_note", "伪造的意见".into()));
    forged.push(("f.oa_account", "forged".into()));
    let r = post_form(&app, &hr, &page, &page, "submit", &forged).await;
    assert_eq!(r.status(), 303);
    let id: i64 = location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    assert_eq!(
        pending_accounts(&app, id).await,
        vec!["T3006", "T3007", "T3008", "T3009", "T3010", "T3011"]
    );
    let org = signed_in(&app, "T3006").await;
    // Its own section must be filled before 通过; what was typed comes back with the message.
    let r = act(&app, &org, id, "approve", "org", &[("comment", "先看看")]).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("请填写机构编制管理科意见") && html.contains("先看看"));
    assert!(
        pending_accounts(&app, id)
            .await
            .contains(&"T3006".to_owned())
    );
    let data: serde_json::Value = sqlx::query_scalar("SELECT data FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    for key in ["org_note", "oa_account"] {
        assert!(
            data.get(key)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .is_empty(),
            "{key}: {data}"
        );
    }
    for (account, node, key, value) in [
        ("T3006", "org", "f.org_note", "编制已核定"),
        ("T3007", "fin", "f.fin_note", "工资关系已转入"),
        ("T3008", "union", "f.union_note", "已办理入会"),
        ("T3009", "sec", "f.sec_note", "门禁已开通"),
        ("T3010", "med", "f.med_note", "医疗关系已转入"),
    ] {
        let c = signed_in(&app, account).await;
        let r = act(&app, &c, id, "approve", node, &[(key, value)]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(status(&app, id).await, "running", "join waits for everyone");
    }
    // 里程碑 (issue 17, item 7): the six departments are one step, 各部门会签, listing them
    // with their own states — five done, 网络信息中心 still at it — not six numbered steps.
    let page = app
        .get_with(&hr, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let doc = scraper::Html::parse_document(&page);
    let steps = scraper::Selector::parse("ol.milestones > li").unwrap();
    let steps: Vec<String> = doc
        .select(&steps)
        .map(|li| li.value().attr("class").unwrap_or("").to_owned())
        .collect();
    assert_eq!(steps.len(), 3, "提交申请, 各部门会签, 办结: {steps:?}");
    assert_eq!(steps[1], "ms current ms-group");
    let branch = scraper::Selector::parse("ol.milestones > li.ms-group .ms-branch").unwrap();
    let branches: Vec<(String, String)> = doc
        .select(&branch)
        .map(|li| {
            (
                li.text().next().unwrap_or("").to_owned(),
                li.value().attr("class").unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(branches.len(), 6, "{branches:?}");
    assert_eq!(
        branches
            .iter()
            .filter(|(_, c)| c == "ms-branch done")
            .count(),
        5,
        "{branches:?}"
    );
    assert!(
        branches
            .iter()
            .any(|(n, c)| n.contains("网络信息中心") && c == "ms-branch current"),
        "{branches:?}"
    );
    // 网络信息中心 returns it; the resubmission keeps what the departments filled in (the
    // applicant's form has no say over their sections) and marks nothing of theirs changed.
    let nic = signed_in(&app, "T3011").await;
    let r = act(
        &app,
        &nic,
        id,
        "return",
        "nic",
        &[("comment", "请补充调令文号")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(status(&app, id).await, "returned");
    let edit = format!("/applications/{id}/edit");
    let mut again = fields.clone();
    again.retain(|(k, _)| *k != "f.ref_no");
    again.push(("f.ref_no", "人调字〔2026〕19号".into()));
    again.push(("f.org_note", "".into()));
    let r = post_form(&app, &hr, &edit, &edit, "submit", &again).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let (data, changed): (serde_json::Value, Vec<String>) =
        sqlx::query_as("SELECT data, changed_fields FROM applications WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(data["org_note"], "编制已核定", "{data}");
    assert_eq!(data["ref_no"], "人调字〔2026〕19号");
    assert_eq!(changed, vec!["ref_no".to_owned()]);
    assert_eq!(pending_accounts(&app, id).await, vec!["T3011"]);
    act(
        &app,
        &nic,
        id,
        "approve",
        "nic",
        &[("f.oa_account", "liuyang"), ("f.card_no", "20261800")],
    )
    .await;
    assert_eq!(status(&app, id).await, "completed");
    let data: serde_json::Value = sqlx::query_scalar("SELECT data FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(data["org_note"], "编制已核定");
    assert_eq!(data["oa_account"], "liuyang");
    assert_eq!(data["person"], "刘洋", "the applicant's data stands");
    assert_task_counts(&app).await;
}

#[tokio::test]
async fn weekly_report_and_transfer() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let sid = service(&app, "GZZB").await;
    let page = format!("/services/{sid}/apply");
    let fields = vec![
        ("f.week.from", "2026-11-16".to_owned()),
        ("f.week.to", "2026-11-20".into()),
        ("f.done", "完成课程建设材料".into()),
        ("f.plan", "准备期末考试".into()),
    ];
    let r = post_form(&app, &teacher, &page, &page, "submit", &fields).await;
    let id: i64 = location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    assert_eq!(pending_accounts(&app, id).await, vec!["T2001"]);
    let head = signed_in(&app, "T2001").await;
    act(&app, &head, id, "transfer", "head", &[("account", "T2102")]).await;
    assert_eq!(pending_accounts(&app, id).await, vec!["T2102"]);
    let deputy = signed_in(&app, "T2102").await;
    act(&app, &deputy, id, "approve", "head", &[]).await;
    assert_eq!(status(&app, id).await, "completed");
    // A student may not start it.
    let student = signed_in(&app, "S2024001").await;
    assert_eq!(app.get_with(&student, &page).await.status(), 403);
    let r = post_form(&app, &student, "/", &page, "submit", &fields).await;
    assert_eq!(r.status(), 403);
    assert_task_counts(&app).await;
}

#[tokio::test]
async fn urge_once_per_node_per_twelve_hours_and_rate_once() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let id = apply_leave(&app, &student, "1").await;
    let urges = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM outbox WHERE application_id = $1 AND kind = 'urge'",
        )
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    act(&app, &student, id, "urge", "counselor", &[]).await;
    assert_eq!(urges().await, 1);
    let r = act(&app, &student, id, "urge", "counselor", &[]).await;
    assert_eq!(r.status(), 303);
    let page = app
        .get_with(&student, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("12 小时内已催办过"));
    assert_eq!(urges().await, 1);
    app.clock
        .advance(std::time::Duration::from_secs(12 * 3600 + 60));
    // The session outlives 12 h of idleness only by signing in again.
    let student = signed_in(&app, "S2024001").await;
    act(&app, &student, id, "urge", "counselor", &[]).await;
    assert_eq!(urges().await, 2);
    // Someone else cannot urge or rate.
    let counselor = signed_in(&app, "T2101").await;
    act(&app, &counselor, id, "urge", "counselor", &[]).await;
    assert_eq!(urges().await, 2);

    let r = act(
        &app,
        &student,
        id,
        "rate",
        "",
        &[("stars", "5"), ("comment", "很快")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let rating: Option<i16> = sqlx::query_scalar("SELECT rating FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rating, None, "only after completion");
    act(&app, &counselor, id, "approve", "counselor", &[]).await;
    act(
        &app,
        &student,
        id,
        "rate",
        "",
        &[("stars", "4"), ("comment", "很快")],
    )
    .await;
    act(
        &app,
        &student,
        id,
        "rate",
        "",
        &[("stars", "1"), ("comment", "改主意")],
    )
    .await;
    let (rating, comment): (Option<i16>, Option<String>) =
        sqlx::query_as("SELECT rating, rating_comment FROM applications WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (rating, comment.as_deref()),
        (Some(4), Some("很快")),
        "rated once"
    );
    let page = app
        .get_with(&student, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("★★★★☆"));
    assert!(page.contains("flow-diagram"), "the 流程 view");
}

#[tokio::test]
async fn person_picker_search_and_name_with_account() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    // 毕业设计选题申请's 指导教师: the picker names its form and field.
    let ask = format!(
        "&service={}&field=supervisor",
        service(&app, "BYSJXT").await
    );
    let hits: serde_json::Value = app
        .get_with(&student, &format!("/people?q=%E9%99%88{ask}"))
        .await
        .json()
        .await
        .unwrap(); // 陈
    assert!(
        hits.as_array()
            .unwrap()
            .iter()
            .any(|h| h["account"] == "T2101" && h["name"] == "陈静")
    );
    assert!(
        hits.to_string().find("13900002101").is_none(),
        "no phone numbers"
    );
    let hits: serde_json::Value = app
        .get_with(&student, &format!("/people?q=t21{ask}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 2, "T2101, T2102");
    assert_eq!(
        app.get("/people?q=%E9%99%88").await.status(),
        303,
        "visitors sign in first"
    );
    // A value picked from the list ("陈静（T2101）") is understood.
    let sid = service(&app, "XSQJ").await;
    let page = format!("/services/{sid}/apply");
    let mut fields = leave_fields(&app, "1").await;
    fields.retain(|(k, _)| *k != "f.counselor");
    fields.push(("f.counselor", "陈静（T2101）".into()));
    let r = post_form(&app, &student, &page, &page, "submit", &fields).await;
    assert_eq!(r.status(), 303);
    let id: i64 = location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    assert_eq!(pending_accounts(&app, id).await, vec!["T2101"]);
}

#[tokio::test]
async fn home_lists_the_services_i_use_most() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let home = app.get_with(&student, "/").await.text().await.unwrap();
    assert!(home.contains("我常用的") && home.contains("办理过的服务会按次数排在这里"));
    apply_leave(&app, &student, "1").await;
    apply_leave(&app, &student, "1").await;
    let home = app.get_with(&student, "/").await.text().await.unwrap();
    let doc = scraper::Html::parse_document(&home);
    let sel = scraper::Selector::parse("#frequent .tile").unwrap();
    let tiles: Vec<String> = doc.select(&sel).map(|e| e.text().collect()).collect();
    assert_eq!(tiles.len(), 1);
    assert!(tiles[0].starts_with("学生请假"));
}

#[tokio::test]
async fn the_guide_previews_the_steps() {
    let app = spawn_app().await;
    let sid = service(&app, "CGCJ").await;
    let html = app
        .get(&format!("/services/{sid}"))
        .await
        .text()
        .await
        .unwrap();
    for step in ["部门负责人审批", "国际交流处审核", "校领导审批"] {
        assert!(html.contains(step), "{step}");
    }
    // Parallel branches are one step naming them, as in the 里程碑 bar (issue 17, item 7).
    let sid = service(&app, "RXSX").await;
    let html = app
        .get(&format!("/services/{sid}"))
        .await
        .text()
        .await
        .unwrap();
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse("ol.milestones > li").unwrap();
    let steps: Vec<String> = doc
        .select(&sel)
        .map(|li| li.text().collect::<String>().trim().to_owned())
        .collect();
    assert_eq!(
        steps,
        [
            "提交申请",
            "各部门会签：组织处、财务处、工会、保卫处、医政处、网络信息中心",
            "办结"
        ]
    );
}

#[tokio::test]
async fn terminate_needs_a_comment_and_ends_everything_in_one_write() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let id = apply_leave(&app, &student, "1").await;
    let flows_before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM flow_records WHERE application_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    // Refused without 审批意见: nothing written.
    let r = act(&app, &counselor, id, "terminate", "counselor", &[]).await;
    assert_eq!(r.status(), 303);
    let page = app
        .get_with(&counselor, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("中止时须填写审批意见"), "{page}");
    assert_eq!(status(&app, id).await, "running");
    let r = act(
        &app,
        &counselor,
        id,
        "terminate",
        "counselor",
        &[("comment", "材料不全")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(status(&app, id).await, "terminated");
    assert!(pending_accounts(&app, id).await.is_empty());
    let (flows, audit, notes): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM flow_records WHERE application_id = $1 AND action = 'terminate'
                   AND comment = '材料不全'),
                (SELECT count(*) FROM audit_log WHERE target = 'application:' || $1
                   AND action = 'application.terminate'),
                (SELECT count(*) FROM messages WHERE application_id = $1 AND kind = 'terminated')",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((flows, audit, notes), (1, 1, 1));
    let flows_after: i64 =
        sqlx::query_scalar("SELECT count(*) FROM flow_records WHERE application_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(flows_after, flows_before + 1);
    // A second, stale attempt changes nothing.
    let r = act(
        &app,
        &counselor,
        id,
        "approve",
        "counselor",
        &[("version", "1")],
    )
    .await;
    assert_ne!(r.status(), 500);
    let flows_last: i64 =
        sqlx::query_scalar("SELECT count(*) FROM flow_records WHERE application_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(flows_last, flows_after);
    assert_task_counts(&app).await;
}

/// The 辅导员 is picked from the counselors of the student's college; a request naming
/// anyone else (a friend, the deputy secretary) is refused next to the field, and nothing
/// is submitted.
#[tokio::test]
async fn only_a_counselor_of_ones_college_can_be_picked() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let sid = service(&app, "XSQJ").await;
    let page = format!("/services/{sid}/apply");
    for account in ["T2002", "T2102"] {
        let mut fields = leave_fields(&app, "2").await;
        fields.retain(|(k, _)| *k != "f.counselor");
        fields.push(("f.counselor", user(&app, account).await.to_string()));
        let r = post_form(&app, &student, &page, &page, "submit", &fields).await;
        assert_eq!(r.status(), 422, "{account}");
        let html = r.text().await.unwrap();
        let errors = texts_of_class(&html, "field-error");
        assert!(
            errors.iter().any(|e| e.contains("辅导员")),
            "{account}: {errors:?}"
        );
    }
    let submitted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM applications WHERE status <> 'draft'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(submitted, 0);
    apply_leave(&app, &student, "2").await;
}

/// 添加一行 adds one row a click, and the row count in the request is bounded: asking for
/// a hundred million rows gets the usual form back.
#[tokio::test]
async fn adding_rows_is_one_a_click_and_bounded() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let sid = service(&app, "CGCJ").await;
    let page = format!("/services/{sid}/apply");
    let rows_of = |html: &str| {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse("table.subtable tbody tr").unwrap();
        doc.select(&sel).count()
    };
    let form = app.get_with(&teacher, &page).await.text().await.unwrap();
    let first = rows_of(&form);
    assert!(first >= 2, "{first}");
    let mut html = form;
    for click in 1..=3 {
        let mut f: Vec<(String, String)> = vec![
            ("_csrf".into(), csrf_from(&html)),
            ("intent".into(), "add_row".into()),
        ];
        let marker = "name=\"rows\" value=\"";
        let i = html.find(marker).expect("the rows field") + marker.len();
        f.push((
            "rows".into(),
            html[i..i + html[i..].find('"').unwrap()].to_owned(),
        ));
        let r = teacher.post(app.url(&page)).form(&f).send().await.unwrap();
        html = r.text().await.unwrap();
        assert_eq!(rows_of(&html), first + click, "click {click}");
    }
    let f = [
        ("_csrf", csrf_from(&html)),
        ("intent", "add_row".to_owned()),
        ("rows", "itinerary:100000000".to_owned()),
    ];
    let r = teacher.post(app.url(&page)).form(&f).send().await.unwrap();
    let html = r.text().await.unwrap();
    assert!(rows_of(&html) <= first + 51, "{}", rows_of(&html));
}

/// One person keeps at most 100 drafts (each may hold 50 MB of files): the 101st is
/// refused with a message saying what to do; deleting one makes room.
#[tokio::test]
async fn the_drafts_box_has_a_bound() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let sid = service(&app, "XSQJ").await;
    sqlx::query(
        "INSERT INTO applications (service_id, applicant_id, form_def_id, workflow_def_id, title, status, data, created_at, updated_at)
         SELECT s.id, u.id, f.id, w.id, '学生请假（张三）', 'draft', '{}', now(), now()
         FROM services s, users u, form_definitions f, workflow_definitions w, generate_series(1, 100)
         WHERE s.code = 'XSQJ' AND u.account = 'S2024001' AND f.service_id = s.id AND w.service_id = s.id",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let page = format!("/services/{sid}/apply");
    let fields = leave_fields(&app, "2").await;
    let r = post_form(&app, &student, &page, &page, "draft", &fields).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("草稿箱已满"));
    assert_draft_counts(&app).await;
    let drafts = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM applications WHERE status = 'draft'")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    assert_eq!(drafts().await, 100);
    sqlx::query("DELETE FROM applications WHERE id = (SELECT min(id) FROM applications)")
        .execute(&app.db)
        .await
        .unwrap();
    let r = post_form(&app, &student, &page, &page, "draft", &fields).await;
    assert_eq!(r.status(), 303);
    assert_eq!(drafts().await, 100);
}

/// The person picker's search is for picking, not for copying the directory: 300
/// searches per person per 10 minutes, then 429 until the window has passed; others
/// are not affected.
#[tokio::test]
async fn the_person_search_has_a_budget() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let ask = format!(
        "&service={}&field=supervisor",
        service(&app, "BYSJXT").await
    );
    for i in 0..300 {
        let r = app
            .get_with(&student, &format!("/people?q=t{}{ask}", i % 10))
            .await;
        assert_eq!(r.status(), 200, "search {i}");
    }
    assert_eq!(
        app.get_with(&student, &format!("/people?q=t2{ask}"))
            .await
            .status(),
        429
    );
    let admin = signed_in(&app, "admin").await;
    assert_eq!(app.get_with(&admin, "/people?q=t2").await.status(), 200);
    app.clock.advance(std::time::Duration::from_secs(10 * 60));
    assert_eq!(
        app.get_with(&student, &format!("/people?q=t2{ask}"))
            .await
            .status(),
        200
    );
}

/// The picker lists only whom the asking field takes, and the form accepts no one else
/// (issue 15: `/people?q=` listed the staff to students). Accounts by the search `张`:
/// 张三 (S2024001, a student of 计算机学院), 张振宇 (T4104, staff of 教务处).
#[tokio::test]
async fn the_person_picker_lists_only_whom_the_field_takes() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let hits = |c: reqwest::Client, url: String| {
        let app = &app;
        async move {
            let r = app.get_with(&c, &url).await;
            assert_eq!(r.status(), 200, "{url}");
            let v: serde_json::Value = r.json().await.unwrap();
            let mut a: Vec<String> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["account"].as_str().unwrap().to_owned())
                .collect();
            a.sort();
            a
        }
    };
    let bysj = service(&app, "BYSJXT").await;
    let wjcf = service(&app, "WJCF").await;
    // 指导教师 (教职工) to a student; 违纪学生 (学生) to a 辅导员.
    let q = "/people?q=%E5%BC%A0"; // 张
    assert_eq!(
        hits(
            student.clone(),
            format!("{q}&service={bysj}&field=supervisor")
        )
        .await,
        vec!["T4104"]
    );
    assert_eq!(
        hits(
            counselor.clone(),
            format!("{q}&service={wjcf}&field=student")
        )
        .await,
        vec!["S2024001"]
    );
    // No form, a form they may not start, a field that is no person picker: nothing.
    for (c, url) in [
        (&student, q.to_owned()),
        (&student, format!("{q}&field=supervisor")),
        (&student, format!("{q}&service={wjcf}&field=student")),
        (&student, format!("{q}&service={bysj}&field=title")),
        (&student, format!("{q}&service={bysj}&field=nope")),
        (&student, format!("{q}&app=999999&field=supervisor")),
    ] {
        let status = app.get_with(c, &url).await.status().as_u16();
        assert!([403, 404].contains(&status), "{url}: {status}");
    }
    // 申请人所在学院: 王建华 (T2001, 计算机学院) yes, 王丽娟 (T4103, 教务处) no.
    republish_form(&app, bysj, "学院", |form| {
        let f = form
            .fields
            .iter_mut()
            .find(|f| f.key == "supervisor")
            .unwrap();
        f.scope = Some(service_hall::forms::PersonScope::College);
    })
    .await;
    assert_eq!(
        hits(
            student.clone(),
            format!("/people?q=%E7%8E%8B&service={bysj}&field=supervisor")
        )
        .await,
        vec!["T2001"]
    );
    // A draft names its own application; someone else's draft is not theirs to search.
    let page = format!("/services/{bysj}/apply");
    let r = post_form(
        &app,
        &student,
        &page,
        &page,
        "draft",
        &[("f.supervisor", "T2001".into())],
    )
    .await;
    assert_eq!(r.status(), 303);
    let draft = location(&r);
    let id: i64 = draft
        .trim_start_matches("/applications/")
        .trim_end_matches("/edit")
        .parse()
        .unwrap();
    let html = app.get_with(&student, &draft).await.text().await.unwrap();
    assert!(
        html.contains(&format!("data-people=\"app={id}\"")),
        "the draft's form names itself"
    );
    assert!(
        html.contains("王建华（T2001）"),
        "the draft shows whom it names"
    );
    assert_eq!(
        hits(
            student.clone(),
            format!("/people?q=%E7%8E%8B&app={id}&field=supervisor")
        )
        .await,
        vec!["T2001"]
    );
    let other = signed_in(&app, "T2002").await;
    assert_eq!(
        app.get_with(
            &other,
            &format!("/people?q=%E7%8E%8B&app={id}&field=supervisor")
        )
        .await
        .status(),
        404
    );
    // The form refuses whoever the request names outside the scope, with whom it takes.
    for (who, refused) in [
        ("T3001", true),
        ("T4103", true),
        ("T4105", false),
        ("T2001", false),
    ] {
        let r = post_form(
            &app,
            &student,
            &page,
            &page,
            "submit",
            &[("f.supervisor", who.into())],
        )
        .await;
        assert_eq!(r.status(), 422, "{who}");
        let html = r.text().await.unwrap();
        assert_eq!(
            html.contains("指导教师只能选择申请人所在学院的人员"),
            refused,
            "{who}"
        );
        assert!(!html.contains("请选择有效的指导教师"), "{who}");
    }
}

/// No dead end: every published 在线办理 service opens its form for the people it is meant
/// for, and refuses the others with the reason; none answers "在线表单尚未开放".
#[tokio::test]
async fn every_online_service_opens_a_form() {
    let app = spawn_app().await;
    let services: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, code FROM services WHERE kind = 'online' AND status = 'published' ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(services.len(), 36);
    // A student, a teacher, a counselor and 人事处's officer: between them, every start rule.
    let mut people = Vec::new();
    for account in ["S2024001", "T2002", "T2101", "T3003"] {
        people.push((account, signed_in(&app, account).await));
    }
    for (id, code) in services {
        let mut opened = 0;
        for (account, c) in &people {
            let page = format!("/services/{id}/apply");
            let r = app.get_with(c, &page).await;
            let status = r.status().as_u16();
            let html = r.text().await.unwrap();
            assert!(!html.contains("尚未开放"), "{code} as {account}");
            match status {
                200 => {
                    assert!(
                        html.contains(&format!("action=\"{page}")),
                        "{code}: the form"
                    );
                    opened += 1;
                }
                403 => assert!(html.contains("您没有权限发起该流程"), "{code} as {account}"),
                other => panic!("{code} as {account}: {other}"),
            }
        }
        assert!(opened > 0, "{code} opens for someone");
    }
}

/// A NUL character (which PostgreSQL cannot store) in a form or an 审批意见 is a bad
/// request with a message, not a server error; nothing is saved.
#[tokio::test]
async fn nul_characters_are_refused_with_a_message() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let sid = service(&app, "XSQJ").await;
    let page = format!("/services/{sid}/apply");
    let mut fields = leave_fields(&app, "1").await;
    fields.retain(|(k, _)| *k != "f.reason");
    fields.push(("f.reason", "回家\u{0}办事".into()));
    let r = post_form(&app, &student, &page, &page, "draft", &fields).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("无法处理的字符"));
    let drafts: i64 = sqlx::query_scalar("SELECT count(*) FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(drafts, 0);
    let id = apply_leave(&app, &student, "1").await;
    let counselor = signed_in(&app, "T2101").await;
    let r = act(
        &app,
        &counselor,
        id,
        "return",
        "counselor",
        &[("comment", "请\u{0}补充")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("无法处理的字符"));
    assert_eq!(pending_accounts(&app, id).await, vec!["T2101"]);
}

/// 流水号 come from a sequence per service and year (issue 16): submissions of one service
/// at the same moment share no counter row, each gets its own number, consecutive when none
/// fails, and the first of the year continues after what the old counter gave.
#[tokio::test]
async fn serial_numbers_stay_unique_under_concurrent_submissions() {
    use service_hall::clock::Clock;
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let year = app
        .clock
        .now()
        .with_timezone(&test_settings().time_zone)
        .format("%Y")
        .to_string();
    let y: i32 = year.parse().unwrap();
    let made: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("serial_xsqj_{year}"))
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!made, "no 学生请假 submitted yet this year");
    // Numbers the counter row gave before sequences.
    sqlx::query(
        "INSERT INTO serial_counters (service_code, year, last) VALUES ('XSQJ', $1, 41)
         ON CONFLICT (service_code, year) DO UPDATE SET last = 41",
    )
    .bind(y)
    .execute(&app.db)
    .await
    .unwrap();
    let sid = service(&app, "XSQJ").await;
    let page = format!("/services/{sid}/apply");
    let html = app.get_with(&student, &page).await.text().await.unwrap();
    let mut form: Vec<(String, String)> = leave_fields(&app, "1")
        .await
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    form.push(("_csrf".into(), csrf_from(&html)));
    form.push(("intent".into(), "submit".into()));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (c, url, form) = (student.clone(), app.url(&page), form.clone());
        set.spawn(async move { c.post(url).form(&form).send().await.unwrap().status() });
    }
    for s in set.join_all().await {
        assert_eq!(s, 303);
    }
    let serials: Vec<String> = sqlx::query_scalar(
        "SELECT serial_no FROM applications WHERE service_id = $1 AND serial_no IS NOT NULL
         ORDER BY serial_no",
    )
    .bind(sid)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let want: Vec<String> = (42..62).map(|n| format!("XSQJ-{year}-{n:06}")).collect();
    assert_eq!(serials, want);
}

/// The 流转记录's 办结 line is read from the application row, not stored (issue 16, goal
/// 2: two WAL records fewer per 通过 that ends one); one stored before still shows once.
#[tokio::test]
async fn the_end_line_comes_from_the_application_row() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let id = apply_leave(&app, &student, "1").await;
    let r = act(&app, &counselor, id, "approve", "counselor", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(status(&app, id).await, "completed");
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT action FROM flow_records WHERE application_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, ["submit", "approve"]);
    let rows = |html: &str| -> Vec<String> {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse(".flow-table tbody tr td:first-child").unwrap();
        doc.select(&sel)
            .map(|e| e.text().collect::<String>().trim().to_owned())
            .collect()
    };
    let page = |c: &reqwest::Client| {
        let c = c.clone();
        let url = app.url(&format!("/applications/{id}"));
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let shown = rows(&page(&student).await);
    assert_eq!(shown.last().map(String::as_str), Some("办结"), "{shown:?}");
    assert_eq!(shown.len(), 3);
    sqlx::query(
        "INSERT INTO flow_records (application_id, node_id, node_name, action, comment, details, at)
         VALUES ($1, 'end', '办结', 'complete', '', '{}', now())",
    )
    .bind(id)
    .execute(&app.db)
    .await
    .unwrap();
    let shown = rows(&page(&counselor).await);
    assert_eq!(
        shown.iter().filter(|r| *r == "办结").count(),
        1,
        "{shown:?}"
    );
}

/// 提交 of a new application posted twice — a double click, a retried request, or both
/// at once — makes one application; the repeat is sent to it.
#[tokio::test]
async fn a_new_application_posted_twice_is_submitted_once() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let sid = crate::forms::service(&app, "XSQJ").await;
    let page = format!("/services/{sid}/apply");
    let fields = leave_fields(&app, "1").await;
    let mut fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    fields.push(("intent".into(), "submit".into()));
    let (first, again) = crate::forms::post_twice(&app, &student, &page, &fields, false).await;
    assert_eq!(first, again);
    // Read the flash the repeat left now: the parallel pair below sets its own, and which
    // of its two answers lands last (the winner's or the repeat's) is up to the scheduler.
    let said = app.get_with(&student, &first).await.text().await.unwrap();
    assert!(said.contains("这份申请已经提交过"), "the repeat is told so");
    let (one, two) = crate::forms::post_twice(&app, &student, &page, &fields, true).await;
    assert_eq!(one, two);
    assert_ne!(one, first);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_task_counts(&app).await;
    // A week on, the worker's hourly pruning forgets the first form's key; the second's,
    // a day old, still sends a repeat to its application.
    let key_of = |id: &str| {
        let id: i64 = id.rsplit('/').next().unwrap().parse().unwrap();
        sqlx::query_scalar::<_, uuid::Uuid>(
            "SELECT key FROM submission_keys WHERE application_id = $1",
        )
        .bind(id)
        .fetch_one(&app.db)
    };
    let (old_key, day_key) = (key_of(&first).await.unwrap(), key_of(&one).await.unwrap());
    sqlx::query(
        "UPDATE submission_keys SET created_at = created_at - CASE WHEN key = $1
             THEN interval '7 days 1 minute' ELSE interval '1 day' END",
    )
    .bind(old_key)
    .execute(&app.db)
    .await
    .unwrap();
    use service_hall::clock::Clock as _;
    let pruned = service_hall::workflow::usecase::submit::prune_keys(&app.db, app.clock.now())
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let html = app.get_with(&student, &page).await.text().await.unwrap();
    let post_with = |key: uuid::Uuid| {
        let mut form = fields.clone();
        form.push(("_csrf".into(), csrf_from(&html)));
        form.push(("once".into(), key.to_string()));
        student.post(app.url(&page)).form(&form).send()
    };
    assert_eq!(location(&post_with(day_key).await.unwrap()), one);
    let again = location(&post_with(old_key).await.unwrap());
    assert!(
        again != first && again != one,
        "a forgotten key submits anew"
    );
}
