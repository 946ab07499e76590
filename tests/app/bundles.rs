//! 一事联办 (issue 17, item 11): one form starts each member service's own application —
//! shared answers asked once, each member's rules applied next to the joint field, all
//! submitted or none — and the run's page follows them together; the applicant's only.

use reqwest::Client;

use crate::{forms::post_twice, helpers::*};

async fn bundle_id(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT id FROM bundles WHERE code = 'RZYJS'")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

/// 新教职工入职一件事 as a new teacher fills it: 体检, 邮箱, VPN, 车辆.
fn answers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("f.phone", "13900001002"),
        ("f.exam_type", "教职工年度健康体检"),
        ("f.exam_date", "2026-12-20"),
        ("f.slot", "8:30–9:30"),
        ("f.mailbox_type", "个人邮箱"),
        ("f.prefix", "lixm"),
        ("f.for_whom", "本人"),
        ("f.resources", "教务系统"),
        ("f.resources", "OA 办公系统"),
        ("f.period.from", "2026-12-10"),
        ("f.period.to", "2027-06-30"),
        ("f.purpose", "教学与科研通信"),
        ("f.vpns_purpose", "居家办公访问校内系统"),
        ("f.pass_type", "长期通行"),
        ("f.plate", "鲁A12345"),
        ("f.vehicle_type", "小型汽车"),
        ("f.clrx_period.from", "2026-12-10"),
        ("f.clrx_period.to", "2027-12-09"),
        ("f.reason", "上下班通勤"),
    ]
}

async fn submit(app: &TestApp, c: &Client, fields: &[(&str, &str)]) -> reqwest::Response {
    let page = format!("/bundles/{}/apply", bundle_id(app).await);
    app.submit(c, &page, &page, fields).await
}

#[tokio::test]
async fn one_form_starts_every_services_own_application() {
    let app = spawn_app().await;
    let id = bundle_id(&app).await;
    let teacher = signed_in(&app, "T2002").await;
    let list = app
        .get_with(&teacher, "/bundles")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("新教职工入职一件事") && list.contains("体检预约（校医院）"),
        "{list}"
    );
    let guide = app
        .get_with(&teacher, &format!("/bundles/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        guide.contains(&format!("href=\"/bundles/{id}/apply\"")),
        "{guide}"
    );
    let form = app
        .get_with(&teacher, &format!("/bundles/{id}/apply"))
        .await
        .text()
        .await
        .unwrap();
    // The phone all four ask for, once; the two 用途 and the two 期限 apart.
    assert_eq!(form.matches("name=\"f.phone\"").count(), 1);
    assert!(form.contains("name=\"f.purpose\"") && form.contains("name=\"f.vpns_purpose\""));
    assert!(form.contains("name=\"f.clrx_period.from\""));
    for name in ["体检预约", "邮箱申请", "VPN 账号申请", "车辆入校"] {
        assert!(form.contains(name), "{name}");
    }
    // A member's own rule refuses, next to the joint field; nothing is created.
    let mut bad = answers();
    bad.retain(|(k, _)| *k != "f.plate");
    bad.push(("f.plate", "abc"));
    bad.retain(|(k, _)| *k != "f.prefix");
    let r = submit(&app, &teacher, &bad).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("请填写正确的车牌号"), "{html}");
    assert!(html.contains("请填写期望的邮箱前缀"));
    assert!(
        html.contains(">居家办公访问校内系统</textarea>"),
        "typed answers kept"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM applications").await, 0);
    // All four at once, each in its service with its own 流水号, and the run.
    let r = submit(&app, &teacher, &answers()).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let run = location(&r);
    assert!(run.starts_with("/bundles/runs/"), "{run}");
    let serials: Vec<String> = sqlx::query_scalar(
        "SELECT a.serial_no FROM bundle_run_apps ra JOIN applications a ON a.id = ra.application_id
         ORDER BY ra.position",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(serials.len(), 4);
    for (s, code) in serials.iter().zip(["TJYY", "YXSQ", "VPNS", "CLRX"]) {
        assert!(s.starts_with(&format!("{code}-")), "{s}");
    }
    let shared: Vec<String> =
        sqlx::query_scalar("SELECT data->>'phone' FROM applications ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(shared.iter().all(|p| p == "13900001002"));
    let purposes: (String, String) = sqlx::query_as(
        "SELECT (SELECT data->>'purpose' FROM applications a JOIN services s ON s.id = a.service_id WHERE s.code = 'VPNS'),
                (SELECT data->>'reason' FROM applications a JOIN services s ON s.id = a.service_id WHERE s.code = 'CLRX')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        purposes,
        ("居家办公访问校内系统".into(), "上下班通勤".into())
    );
    assert!(count(&app, "SELECT count(*) FROM tasks WHERE status = 'pending'").await >= 4);
    let page = app.get_with(&teacher, &run).await.text().await.unwrap();
    assert!(page.contains("已办结 0 / 4 项"), "{page}");
    for s in &serials {
        assert!(page.contains(s.as_str()));
    }
    // Each application names its run; the run is the applicant's alone.
    let app_id: i64 = count(&app, "SELECT min(application_id) FROM bundle_run_apps").await;
    let one = app
        .get_with(&teacher, &format!("/applications/{app_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(one.contains(&format!("href=\"{run}\"")), "{one}");
    let other = signed_in(&app, "T2001").await;
    assert_eq!(app.get_with(&other, &run).await.status(), 404);
    assert_eq!(
        app.get("/bundles/runs/999999").await.status().as_u16() / 100,
        3
    );
}

#[tokio::test]
async fn a_member_this_person_may_not_start_keeps_them_out() {
    let app = spawn_app().await;
    let id = bundle_id(&app).await;
    let student = signed_in(&app, "S2024001").await;
    let guide = app
        .get_with(&student, &format!("/bundles/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        guide.contains("您暂不能在线发起这项联办") && guide.contains("车辆入校"),
        "{guide}"
    );
    assert!(!guide.contains(&format!("href=\"/bundles/{id}/apply\"")));
    let r = app
        .get_with(&student, &format!("/bundles/{id}/apply"))
        .await;
    assert_eq!(location(&r), format!("/bundles/{id}"));
    // A forged post changes nothing either.
    let home = app.get_with(&student, "/").await.text().await.unwrap();
    let mut form: Vec<(&str, String)> = answers()
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    form.push(("_csrf", csrf_from(&home)));
    let r = student
        .post(app.url(&format!("/bundles/{id}/apply")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(count(&app, "SELECT count(*) FROM applications").await, 0);
}

#[tokio::test]
async fn a_failure_in_any_member_submits_none() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    // The database refuses the last member's application (a fault injected for the test).
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_clrx() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.title LIKE '车辆入校%' THEN RAISE EXCEPTION 'injected'; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_clrx BEFORE INSERT OR UPDATE ON applications
           FOR EACH ROW EXECUTE FUNCTION refuse_clrx();",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let r = submit(&app, &teacher, &answers()).await;
    let status = r.status();
    assert!(
        status.is_server_error(),
        "{status}: {}",
        r.text().await.unwrap()
    );
    for table in [
        "applications",
        "tasks",
        "bundle_runs",
        "bundle_run_apps",
        "flow_records",
    ] {
        assert_eq!(
            count(&app, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
}

/// In Chromium at 1280 and 390 px: the joint form and the run's page no wider than the
/// window, the joint form submitted through the browser (its own validation passing).
#[tokio::test]
async fn browser_the_joint_form_and_the_run_at_both_widths() {
    use fantoccini::Locator;
    let app = spawn_app().await;
    let id = bundle_id(&app).await;
    for (width, height) in [(1280, 900), (390, 844)] {
        let Some(b) = crate::browser::Browser::start(width, height).await else {
            return;
        };
        crate::browser::sign_in(&b, &app, "T2002").await;
        let c = &b.client;
        c.goto(&app.url(&format!("/bundles/{id}"))).await.unwrap();
        b.shot("bundle", &format!("guide-{width}")).await;
        c.goto(&app.url(&format!("/bundles/{id}/apply")))
            .await
            .unwrap();
        let fits = "return document.documentElement.scrollWidth <= window.innerWidth;";
        assert_eq!(
            c.execute(fits, vec![]).await.unwrap(),
            serde_json::json!(true),
            "form at {width}"
        );
        b.shot("bundle", &format!("form-{width}")).await;
        // Fill it the way a person does, then 提交.
        let set = "const [name, value] = arguments;
             const els = document.getElementsByName(name);
             for (const e of els) {
               if (e.type === 'radio' || e.type === 'checkbox') { if (e.value === value) e.checked = true; }
               else e.value = value;
             }";
        for (k, v) in answers() {
            c.execute(set, vec![serde_json::json!(k), serde_json::json!(v)])
                .await
                .unwrap();
        }
        c.find(Locator::Css(".form-actions button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !c
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/bundles/runs/")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no run page at {width}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(
            c.execute(fits, vec![]).await.unwrap(),
            serde_json::json!(true),
            "run at {width}"
        );
        let items = c.find_all(Locator::Css(".bundle-run li")).await.unwrap();
        assert_eq!(items.len(), 4);
        b.shot("bundle", &format!("run-{width}")).await;
        b.close().await;
    }
}

/// 一事联办管理: a 系统管理员 builds a bundle from service codes, sees every mistake next to
/// its input with what was typed kept, and publishes it; nobody else may; all audited.
#[tokio::test]
async fn an_administrator_builds_and_publishes_a_bundle() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let teacher = signed_in(&app, "T2002").await;
    assert_eq!(app.get_with(&teacher, "/admin/bundles").await.status(), 403);
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("code", "XX"), ("name", "网络一件事"), ("services", "YXSQ")],
            "请填写 2–8 个服务编码，每行一个",
        ),
        (
            &[
                ("code", "XX"),
                ("name", "网络一件事"),
                ("services", "YXSQ\nNOPE"),
            ],
            "没有服务编码 NOPE（或已下线）",
        ),
        (
            &[
                ("code", "XX"),
                ("name", "网络一件事"),
                ("services", "YXSQ\nXFJN"),
            ],
            "XFJN 不是在线办理的服务",
        ),
        (
            &[
                ("code", "RZYJS"),
                ("name", "网络一件事"),
                ("services", "YXSQ VPNS"),
            ],
            "编码已被其他联办事项使用",
        ),
    ];
    for (fields, message) in cases {
        let r = app
            .submit(&admin, "/admin/bundles", "/admin/bundles", fields)
            .await;
        assert_eq!(r.status(), 422, "{message}");
        let html = r.text().await.unwrap();
        assert!(html.contains(message), "{message}: {html}");
        assert!(html.contains("value=\"网络一件事\""), "typed kept");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM bundles").await, 1);
    let r = app
        .submit(
            &admin,
            "/admin/bundles",
            "/admin/bundles",
            &[
                ("code", "wlyjs"),
                ("name", "网络一件事"),
                ("services", "YXSQ、VPNS"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let edit = location(&r);
    let id: i64 = edit.rsplit('/').next().unwrap().parse().unwrap();
    // A draft until published: not listed, its page 404.
    let list = app
        .get_with(&teacher, "/bundles")
        .await
        .text()
        .await
        .unwrap();
    assert!(!list.contains("网络一件事"));
    assert_eq!(
        app.get_with(&teacher, &format!("/bundles/{id}"))
            .await
            .status(),
        404
    );
    let r = app
        .submit(
            &admin,
            &edit,
            &format!("{edit}/status"),
            &[("to", "published")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let list = app
        .get_with(&teacher, "/bundles")
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("网络一件事") && list.contains("邮箱申请（网络与信息中心）"));
    // Reordered: the form follows.
    let rev = revision_on(&app, &admin, &edit).await;
    let r = app
        .submit(
            &admin,
            &edit,
            &edit,
            &[
                ("code", "WLYJS"),
                ("name", "网络一件事"),
                ("services", "VPNS\nYXSQ"),
                ("revision", &rev),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let form = app
        .get_with(&teacher, &format!("/bundles/{id}/apply"))
        .await
        .text()
        .await
        .unwrap();
    assert!(form.find("VPN 账号申请").unwrap() < form.find("邮箱申请").unwrap());
    let audited: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target = $1 ORDER BY id")
            .bind(format!("bundle:{id}"))
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        audited,
        ["bundle.create", "bundle.publish", "bundle.update"]
    );
}

/// The revision an edit form in `html` carries.
fn revision_in(html: &str) -> String {
    let marker = "name=\"revision\" value=\"";
    let at = html.find(marker).expect("the edit form's revision") + marker.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// The revision the edit form at `page` carries.
async fn revision_on(app: &TestApp, c: &Client, page: &str) -> String {
    revision_in(&app.get_with(c, page).await.text().await.unwrap())
}

/// Two administrators edit one bundle from pages opened at the same time: the second save
/// is refused with a 409 that keeps what they typed and says why, nothing of theirs is
/// stored, and saving again from that page knowingly overwrites — with both saves audited.
#[tokio::test]
async fn a_save_from_a_page_opened_before_anothers_save_is_not_silently_lost() {
    let app = spawn_app().await;
    let (a, b) = (
        signed_in(&app, "admin").await,
        signed_in(&app, "admin").await,
    );
    let id = bundle_id(&app).await;
    let edit = format!("/admin/bundles/{id}");
    let opened = revision_on(&app, &b, &edit).await;
    let rev = revision_on(&app, &a, &edit).await;
    assert_eq!(opened, rev);
    let fields = |name: &'static str, rev: &str| {
        vec![
            ("code", "RZYJS".to_owned()),
            ("name", name.to_owned()),
            ("services", "YXSQ\nVPNS".to_owned()),
            ("revision", rev.to_owned()),
        ]
    };
    let post = |c: &Client, f: Vec<(&'static str, String)>| {
        let (app, c, edit) = (&app, c.clone(), edit.clone());
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.submit(&c, &edit, &edit, &f).await
        }
    };
    assert_eq!(
        post(&a, fields("入职一件事（甲）", &rev)).await.status(),
        303
    );
    let r = post(&b, fields("入职一件事（乙）", &opened)).await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("该联办事项已被他人修改"), "{html}");
    assert!(
        html.contains("value=\"入职一件事（乙）\""),
        "what was typed is kept"
    );
    let name = || {
        sqlx::query_scalar::<_, String>("SELECT name FROM bundles WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
    };
    assert_eq!(
        name().await.unwrap(),
        "入职一件事（甲）",
        "nothing of 乙's stored"
    );
    // The conflict page carries the stored revision: saving from it overwrites, knowingly.
    let now = revision_in(&html);
    assert_ne!(now, opened);
    assert_eq!(
        post(&b, fields("入职一件事（乙）", &now)).await.status(),
        303
    );
    assert_eq!(name().await.unwrap(), "入职一件事（乙）");
    // A form without a revision (or a made-up one) is refused the same way.
    assert_eq!(post(&a, fields("入职一件事（丙）", "")).await.status(), 409);
    let odd = post(&a, fields("入职一件事（丙）", "x\0")).await.status();
    assert!(odd.is_client_error(), "{odd}");
    assert_eq!(name().await.unwrap(), "入职一件事（乙）");
    let updates: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE target = $1 AND action = 'bundle.update'",
    )
    .bind(format!("bundle:{id}"))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(updates, 2);
}

/// The admin pages touched by issue 17.10–11 in Chromium at both widths: 一事联办管理 and
/// the field editor's 日期限制 / 核对出生日期; nothing wider than the window.
#[tokio::test]
async fn browser_admin_pages_of_bundles_and_dates_at_both_widths() {
    let app = spawn_app().await;
    let id = bundle_id(&app).await;
    let cgcj: i64 = count(&app, "SELECT id FROM services WHERE code = 'CGCJ'").await;
    for (width, height) in [(1280, 900), (390, 844)] {
        let Some(b) = crate::browser::Browser::start(width, height).await else {
            return;
        };
        crate::browser::sign_in(&b, &app, "admin").await;
        let c = &b.client;
        for (path, name) in [
            (format!("/admin/bundles/{id}"), "admin-bundles"),
            (
                format!("/admin/services/{cgcj}/form/fields/birth_date"),
                "designer-birth-date",
            ),
        ] {
            c.goto(&app.url(&path)).await.unwrap();
            let fits = c
                .execute(
                    "return document.documentElement.scrollWidth <= window.innerWidth;",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(fits, serde_json::json!(true), "{path} at {width}");
            if name == "designer-birth-date" {
                crate::browser::center(c, "#fd-birth-of").await;
            }
            b.shot("bundle", &format!("{name}-{width}")).await;
        }
        // Saved by someone else while this page was open: 保存 is refused above the form,
        // what was typed still in it.
        c.goto(&app.url(&format!("/admin/bundles/{id}")))
            .await
            .unwrap();
        sqlx::query("UPDATE bundles SET revision = revision + 1 WHERE id = $1")
            .bind(id)
            .execute(&app.db)
            .await
            .unwrap();
        crate::browser::fill(c, "#b-name", "入职一件事（改）").await;
        crate::browser::click(c, ".app-form button[type=submit]").await;
        let alert = c
            .wait()
            .for_element(fantoccini::Locator::Css(".alert-error"))
            .await
            .unwrap();
        assert!(alert.text().await.unwrap().contains("已被他人修改"));
        let kept = c
            .find(fantoccini::Locator::Css("#b-name"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some("入职一件事（改）"));
        b.shot("bundle", &format!("admin-bundles-stale-{width}"))
            .await;
        b.close().await;
    }
}

/// A joint form posted twice — one after the other, or at the same moment — starts its
/// applications once; the second post lands on the same run.
#[tokio::test]
async fn a_form_posted_twice_starts_once() {
    let app = spawn_app().await;
    let id = bundle_id(&app).await;
    let teacher = signed_in(&app, "T2002").await;
    let page = format!("/bundles/{id}/apply");
    let fields: Vec<(String, String)> = answers()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let (first, again) = post_twice(&app, &teacher, &page, &fields, false).await;
    assert_eq!(first, again);
    assert!(first.starts_with("/bundles/runs/"));
    let (one, two) = post_twice(&app, &teacher, &page, &fields, true).await;
    assert_eq!(one, two);
    assert_ne!(one, first);
    assert_eq!(count(&app, "SELECT count(*) FROM bundle_runs").await, 2);
    assert_eq!(count(&app, "SELECT count(*) FROM applications").await, 8);
    let said = app.get_with(&teacher, &first).await.text().await.unwrap();
    assert!(said.contains("已办结 0 / 4 项"));
}
