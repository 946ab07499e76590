//! Every state-changing action of 管理后台, done once by a 系统管理员 through the real
//! pages (their form as a browser would post it, with the CSRF token), each checked for its
//! audit row: the action, the admin as actor, the target. The walk is a table: a new admin
//! action is one more `Step`, and one that leaves no audit row fails naming it.
//!
//! Placeholders in paths, fields and targets (`{user:S2024001}`, `{dept:CS}`, …) are looked
//! up in the database when the step runs (see `resolve`).

use reqwest::{
    Client, Response,
    multipart::{Form, Part},
};
use service_hall::clock::Clock;
use service_hall::workflow::usecase::versions as uc;

use crate::helpers::*;

/// How an action is done.
enum How {
    /// GET `page`, take the form posting to `path` with its current values (hidden fields
    /// such as a stamp or a revision included), put `fields` over them, POST.
    Form {
        page: &'static str,
        path: &'static str,
        fields: &'static [(&'static str, &'static str)],
    },
    /// Upload this CSV on 批量导入, then press 确认导入 on the preview.
    PeopleImport(&'static str),
    /// Export the service `from`, change its code to `to`, upload, 确认导入.
    PackageImport {
        from: &'static str,
        to: &'static str,
    },
}

/// What the step needs that is not an admin action of its own.
enum Setup {
    None,
    /// SQL run first (placeholders resolved), e.g. a failed delivery to retry.
    Sql(&'static str),
    /// A saved draft of this service's definition (to be published).
    Draft(&'static str),
    /// A 学生请假 submitted by this student (a task for the counselor T2101).
    Leave(&'static str),
}

struct Step {
    what: &'static str,
    setup: Setup,
    how: How,
    /// The audit action expected.
    action: &'static str,
    /// The audit target expected (placeholders resolved before the action, or after it
    /// for what the action creates).
    target: &'static str,
}

fn step(what: &'static str, how: How, action: &'static str, target: &'static str) -> Step {
    Step {
        what,
        setup: Setup::None,
        how,
        action,
        target,
    }
}

fn with(setup: Setup, s: Step) -> Step {
    Step { setup, ..s }
}

const fn form(
    page: &'static str,
    path: &'static str,
    fields: &'static [(&'static str, &'static str)],
) -> How {
    How::Form { page, path, fields }
}

const PERSON: &str = "/admin/people/{user:W2026001}";
const NOTICE: &str = "/admin/content/notices/{notice:走查通知}";
const SYSTEM: &str = "/admin/content/systems/{system:走查系统}";
const LINK: &str = "/admin/content/links/{link:走查链接}";
const CATEGORY: &str = "/admin/content/categories/{category:WALK}";
const DEPT: &str = "/admin/departments?id={dept:WALK-D}";
const RECOMMEND: &str = "/admin/content/recommend";
const OUTBOX: &str = "/admin/outbox";

fn steps() -> Vec<Step> {
    vec![
        // 人员管理
        step("新增人员", form("/admin/people/new", "/admin/people", &[
            ("account", "W2026001"), ("name", "王走查"), ("user_type", "student"),
            ("department", "{dept:CS}"), ("phone", "13712345001"), ("id_card", "11010519491231002X"),
        ]), "person.create", "user:{user:W2026001}"),
        step("签发激活码", form(PERSON, "/admin/people/{user:W2026001}/activation-code", &[]),
            "account.activation_code", "user:{user:W2026001}"),
        step("编辑人员", form(PERSON, PERSON, &[("name", "王走查二")]), "person.update", "user:{user:W2026001}"),
        step("停用人员", form(PERSON, "/admin/people/{user:W2026001}/disable", &[]),
            "account.disable", "user:{user:W2026001}"),
        step("启用人员", form(PERSON, "/admin/people/{user:W2026001}/enable", &[]),
            "account.enable", "user:{user:W2026001}"),
        with(Setup::Leave("S2024001"),
            step("代为转办", form("/admin/people/{user:T2101}", "/admin/people/{user:T2101}/tasks/{task:T2101}/transfer",
                &[("to", "T2002")]), "application.transfer", "application:{application:S2024001}")),
        with(Setup::Sql("INSERT INTO lockouts (subject, locked_until) VALUES ('u:{user:T2002}', now() + interval '1 hour')"),
            step("解锁", form("/admin/people/{user:T2002}", "/admin/people/{user:T2002}/unlock", &[]),
                "account.unlock", "user:{user:T2002}")),
        step("重置为初始密码", form("/admin/people/{user:S2024001}", "/admin/people/{user:S2024001}/reset-password",
            &[("id_card", "110108200609012342")]), "password.reset_initial", "user:{user:S2024001}"),
        step("授予角色", form("/admin/people/{user:T2002}", "/admin/people/{user:T2002}/roles",
            &[("role", "service_admin"), ("scope", "{dept:ACA}")]), "role.grant", "user:{user:T2002}"),
        step("撤销角色", form("/admin/people/{user:T2002}", "/admin/people/{user:T2002}/roles/{grant:T2002}/revoke", &[]),
            "role.revoke", "user:{user:T2002}"),
        // 组织机构
        step("新增部门", form("/admin/departments", "/admin/departments", &[
            ("parent", "{dept:CS}"), ("name", "走查系"), ("code", "WALK-D"), ("kind", "section"),
        ]), "department.create", "department:{dept:WALK-D}"),
        step("部门改名", form(DEPT, "/admin/departments/{dept:WALK-D}/rename", &[("name", "走查科学系")]),
            "department.rename", "department:{dept:WALK-D}"),
        step("移动部门", form(DEPT, "/admin/departments/{dept:WALK-D}/move", &[("parent", "{dept:ME}")]),
            "department.move", "department:{dept:WALK-D}"),
        step("停用部门", form(DEPT, "/admin/departments/{dept:WALK-D}/deactivate", &[]),
            "department.deactivate", "department:{dept:WALK-D}"),
        step("启用部门", form(DEPT, "/admin/departments/{dept:WALK-D}/activate", &[]),
            "department.activate", "department:{dept:WALK-D}"),
        // 批量导入
        step("确认导入人员", How::PeopleImport("学号/工号,姓名,类型,部门,手机,邮箱,证件号,角色\nW2026101,钱走查,学生,CS,,,,\n"),
            "people.import.confirm", "people_import:{import:last}"),
        // 首页内容
        step("新增通知公告", form("/admin/content/notices/new", "/admin/content/notices", &[
            ("title", "走查通知"), ("body", "走查的**正文**"), ("from", "2026-01-01T08:00"), ("until", ""),
            ("audiences", "student"),
        ]), "notice.create", "notice:{notice:走查通知}"),
        step("编辑通知公告", form(NOTICE, NOTICE, &[("body", "改过的正文")]), "notice.update", "notice:{notice:走查通知}"),
        step("删除通知公告", form("/admin/content/notices", "/admin/content/notices/{notice:走查通知}/delete", &[]),
            "notice.delete", "notice:{notice:走查通知}"),
        step("新增推荐系统", form("/admin/content/systems", "/admin/content/systems", &[
            ("name", "走查系统"), ("url", "https://walk.example.edu.cn/"), ("icon", "default"),
            ("description", "走查用"), ("audiences", "student"),
        ]), "system.create", "system:{system:走查系统}"),
        step("编辑推荐系统", form(SYSTEM, SYSTEM, &[("description", "改过")]), "system.update", "system:{system:走查系统}"),
        step("推荐系统排序", form("/admin/content/systems", "/admin/content/systems/{system:走查系统}/move", &[("dir", "up")]),
            "system.move", "system:{system:走查系统}"),
        step("删除推荐系统", form("/admin/content/systems", "/admin/content/systems/{system:走查系统}/delete", &[]),
            "system.delete", "system:{system:走查系统}"),
        step("新增便民服务", form("/admin/content/links", "/admin/content/links", &[
            ("name", "走查链接"), ("url", "https://walk.example.edu.cn/link"),
        ]), "link.create", "link:{link:走查链接}"),
        step("编辑便民服务", form(LINK, LINK, &[("url", "https://walk.example.edu.cn/other")]), "link.update", "link:{link:走查链接}"),
        step("便民服务排序", form("/admin/content/links", "/admin/content/links/{link:走查链接}/move", &[("dir", "up")]),
            "link.move", "link:{link:走查链接}"),
        step("删除便民服务", form("/admin/content/links", "/admin/content/links/{link:走查链接}/delete", &[]),
            "link.delete", "link:{link:走查链接}"),
        step("新增服务分类", form("/admin/content/categories", "/admin/content/categories", &[
            ("name", "走查分类"), ("code", "WALK"), ("icon", "default"),
        ]), "category.create", "category:{category:WALK}"),
        step("编辑服务分类", form(CATEGORY, CATEGORY, &[("name", "走查分类二")]), "category.update", "category:{category:WALK}"),
        step("服务分类排序", form("/admin/content/categories", "/admin/content/categories/{category:WALK}/move", &[("dir", "up")]),
            "category.move", "category:{category:WALK}"),
        step("删除服务分类", form("/admin/content/categories", "/admin/content/categories/{category:WALK}/delete", &[]),
            "category.delete", "category:{category:WALK}"),
        // 消息投递
        with(Setup::Sql("INSERT INTO outbox (idempotency_key, channel, recipient_id, kind, payload, created_at, attempts, failed_at, last_error)
                          VALUES ('walk-1', 'sms', {user:T2002}, 'new_task', '{}', now(), 3, now(), 'gateway answered 500')"),
            step("重试一条投递", form(OUTBOX, "/admin/outbox/{outbox:walk-1}/retry", &[]), "outbox.retry", "outbox:{outbox:walk-1}")),
        with(Setup::Sql("INSERT INTO outbox (idempotency_key, channel, recipient_id, kind, payload, created_at, attempts, failed_at, last_error)
                          VALUES ('walk-2', 'sms', {user:T2002}, 'new_task', '{}', now(), 3, now(), 'gateway answered 500')"),
            step("重试一个渠道的全部投递", form(OUTBOX, "/admin/outbox/retry", &[("channel", "sms")]), "outbox.retry", "channel:sms")),
        // 服务管理
        step("新建服务", form("/admin/services/new", "/admin/services", &[
            ("name", "走查服务"), ("code", "WALK"), ("category", "{category:LOGS}"), ("department", "{dept:ACA}"),
            ("audiences", "student"), ("kind", "guide"), ("summary", "走查用的服务。"), ("intent", "save"),
        ]), "service.create", "service:{service:WALK}"),
        step("编辑服务", form("/admin/services/{service:WALK}", "/admin/services/{service:WALK}",
            &[("summary", "改过的简介。"), ("intent", "save")]), "service.update", "service:{service:WALK}"),
        step("改变服务状态（发布）", form("/admin/services/{service:WALK}", "/admin/services/{service:WALK}/status",
            &[("from", "draft"), ("to", "published"), ("confirm_password", DEMO_PASSWORD)]),
            "service.status", "service:{service:WALK}"),
        step("推荐服务（加入）", form(RECOMMEND, RECOMMEND, &[("aud", "student"), ("service", "{service:WALK}"), ("op", "add")]),
            "recommend.add", "service:{service:WALK}"),
        step("推荐服务排序", form(RECOMMEND, RECOMMEND, &[("aud", "student"), ("service", "{service:WALK}"), ("op", "up")]),
            "recommend.move", "service:{service:WALK}"),
        step("推荐服务（移除）", form(RECOMMEND, RECOMMEND, &[("aud", "student"), ("service", "{service:WALK}"), ("op", "remove")]),
            "recommend.remove", "service:{service:WALK}"),
        with(Setup::Draft("XSQJ"),
            step("发布新版本", form("/admin/services/{service:XSQJ}/versions", "/admin/services/{service:XSQJ}/publish",
                &[("note", "走查发布"), ("confirm_password", DEMO_PASSWORD)]), "service.publish", "service:{service:XSQJ}")),
        step("回退版本", form("/admin/services/{service:XSQJ}/versions", "/admin/services/{service:XSQJ}/rollback",
            &[("number", "1"), ("confirm_password", DEMO_PASSWORD)]), "service.rollback", "service:{service:XSQJ}"),
        step("导入服务包", How::PackageImport { from: "XSQJ", to: "WALKPKG" }, "service.import", "service:{service:WALKPKG}"),
        step("删除服务", form("/admin/services/{service:WALKPKG}", "/admin/services/{service:WALKPKG}/delete",
            &[("confirm", "yes"), ("confirm_password", DEMO_PASSWORD)]), "service.delete", "service:{service:WALKPKG}"),
    ]
}

/// The value of one placeholder (`kind:key`), if what it names exists.
async fn lookup(app: &TestApp, name: &str) -> Option<String> {
    let (kind, key) = name.split_once(':')?;
    let sql = match kind {
        "user" => "SELECT id FROM users WHERE account = $1",
        "dept" => "SELECT id FROM departments WHERE code = $1",
        "service" => "SELECT id FROM services WHERE code = $1",
        "category" => "SELECT id FROM service_categories WHERE code = $1",
        "notice" => "SELECT max(id) FROM announcements WHERE title = $1",
        "system" => "SELECT max(id) FROM campus_systems WHERE name = $1",
        "link" => "SELECT max(id) FROM convenience_links WHERE name = $1",
        "grant" => {
            "SELECT max(r.id) FROM user_roles r JOIN users u ON u.id = r.user_id WHERE u.account = $1"
        }
        "outbox" => "SELECT id FROM outbox WHERE idempotency_key = $1",
        "task" => {
            "SELECT max(t.id) FROM tasks t JOIN users u ON u.id = t.assignee_id
             WHERE u.account = $1 AND t.kind = 'approve' AND t.status = 'pending'"
        }
        "application" => {
            "SELECT max(a.id) FROM applications a JOIN users u ON u.id = a.applicant_id
             WHERE u.account = $1"
        }
        "import" => "SELECT max(id) FROM people_imports WHERE $1 = 'last'",
        _ => panic!("unknown placeholder {{{name}}}"),
    };
    let id: Option<i64> = sqlx::query_scalar(sql)
        .bind(key)
        .fetch_optional(&app.db)
        .await
        .unwrap()
        .flatten();
    id.map(|i| i.to_string())
}

/// `text` with its placeholders replaced; `None` when one names nothing (yet).
async fn resolve(app: &TestApp, text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    // SQL literals such as '{}' are not placeholders: those have a `kind:` inside.
    while let Some(start) = rest.find('{') {
        let end = start + rest[start..].find('}')?;
        let inner = &rest[start + 1..end];
        out.push_str(&rest[..start]);
        if inner.contains(':') {
            out.push_str(&lookup(app, inner).await?);
        } else {
            out.push_str(&rest[start..=end]);
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

async fn must_resolve(app: &TestApp, what: &str, text: &str) -> String {
    resolve(app, text)
        .await
        .unwrap_or_else(|| panic!("{what}: a placeholder in {text:?} names nothing"))
}

/// The fields of the form in `html` that posts to `action`, as a browser would send them
/// untouched (submit buttons left out: the step names the one it presses).
fn form_values(html: &str, action: &str) -> Option<Vec<(String, String)>> {
    let doc = scraper::Html::parse_document(html);
    let forms = scraper::Selector::parse("form").unwrap();
    let controls = scraper::Selector::parse("input, select, textarea").unwrap();
    let options = scraper::Selector::parse("option").unwrap();
    let form = doc
        .select(&forms)
        .find(|f| f.value().attr("action") == Some(action))?;
    let mut out = Vec::new();
    for c in form.select(&controls) {
        let e = c.value();
        let Some(name) = e.attr("name") else {
            continue;
        };
        let value = match e.name() {
            "input" => {
                let ty = e.attr("type").unwrap_or("text");
                if matches!(ty, "submit" | "button" | "reset" | "image" | "file") {
                    continue;
                }
                if matches!(ty, "checkbox" | "radio") && e.attr("checked").is_none() {
                    continue;
                }
                e.attr("value").unwrap_or("on").to_owned()
            }
            "select" => {
                let mut opts = c.select(&options);
                let chosen = c
                    .select(&options)
                    .find(|o| o.value().attr("selected").is_some())
                    .or_else(|| opts.next());
                match chosen {
                    Some(o) => o
                        .value()
                        .attr("value")
                        .map(str::to_owned)
                        .unwrap_or_else(|| o.text().collect()),
                    None => continue,
                }
            }
            _ => c.text().collect(),
        };
        out.push((name.to_owned(), value));
    }
    Some(out)
}

async fn post_form(
    app: &TestApp,
    c: &Client,
    what: &str,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Response {
    let page = must_resolve(app, what, page).await;
    let path = must_resolve(app, what, path).await;
    let html = app.get_with(c, &page).await.text().await.unwrap();
    let mut values = form_values(&html, &path).unwrap_or_else(|| {
        panic!("{what}: no form posting to {path} on {page}");
    });
    let mut given = Vec::new();
    for (k, v) in fields {
        given.push(((*k).to_owned(), must_resolve(app, what, v).await));
    }
    values.retain(|(k, _)| !given.iter().any(|(g, _)| g == k));
    values.extend(given);
    if !values.iter().any(|(k, _)| k == "_csrf") {
        values.push(("_csrf".into(), csrf_from(&html)));
    }
    c.post(app.url(&path)).form(&values).send().await.unwrap()
}

async fn import_people(app: &TestApp, c: &Client, what: &str, csv: &str) -> Response {
    let html = app
        .get_with(c, "/admin/people/import")
        .await
        .text()
        .await
        .unwrap();
    let token = csrf_from(&html);
    let part = Part::bytes(csv.as_bytes().to_vec()).file_name("walk.csv");
    let r = c
        .post(app.url(&format!("/admin/people/import?_csrf={token}")))
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{what}: the upload is taken");
    let preview = location(&r);
    let confirm = format!("{preview}/confirm");
    post_form(app, c, what, &preview, &confirm, &[]).await
}

async fn import_package(app: &TestApp, c: &Client, what: &str, from: &str, to: &str) -> Response {
    let sid = must_resolve(app, what, &format!("{{service:{from}}}")).await;
    let r = app
        .get_with(c, &format!("/admin/services/{sid}/export"))
        .await;
    assert_eq!(r.status(), 200, "{what}: export");
    let text = r
        .text()
        .await
        .unwrap()
        .replace(&format!("code = \"{from}\""), &format!("code = \"{to}\""));
    assert!(text.contains(to), "{what}: the package names its code");
    let html = app
        .get_with(c, "/admin/services/import")
        .await
        .text()
        .await
        .unwrap();
    let part = Part::bytes(text.clone().into_bytes()).file_name(format!("{to}.toml"));
    let r = c
        .post(app.url(&format!(
            "/admin/services/import?_csrf={}",
            csrf_from(&html)
        )))
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{what}: the preview");
    let preview = r.text().await.unwrap();
    let mut values = form_values(&preview, "/admin/services/import/confirm")
        .unwrap_or_else(|| panic!("{what}: no 确认导入 on the preview: {preview}"));
    if !values.iter().any(|(k, _)| k == "package") {
        values.push(("package".into(), text));
    }
    c.post(app.url("/admin/services/import/confirm"))
        .form(&values)
        .send()
        .await
        .unwrap()
}

/// A saved draft of `code`'s definition with a changed condition, by `by`.
async fn save_draft(app: &TestApp, code: &str, by: i64) {
    let sid: i64 = must_resolve(app, "draft", &format!("{{service:{code}}}"))
        .await
        .parse()
        .unwrap();
    let copy = uc::working_copy(&app.db, sid).await.unwrap();
    let mut wf = serde_json::to_value(&copy.workflow).unwrap();
    for n in wf["nodes"].as_array_mut().unwrap() {
        if let Some(b) = n["branches"].get_mut(0) {
            b["name"] = "走查改过的条件".into();
        }
    }
    let wf = serde_json::from_value(wf).unwrap();
    uc::save(
        &app.db,
        sid,
        &copy.form,
        &wf,
        copy.base_number,
        copy.revision,
        by,
        None,
        app.clock.now(),
    )
    .await
    .unwrap();
}

async fn last_audit_id(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM audit_log")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_admin_action_of_the_walk_leaves_its_audit_row() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let admin_id: i64 = must_resolve(&app, "admin", "{user:admin}")
        .await
        .parse()
        .unwrap();
    let mut missing = Vec::new();
    for s in steps() {
        match s.setup {
            Setup::None => {}
            Setup::Sql(sql) => {
                let sql = must_resolve(&app, s.what, sql).await;
                sqlx::query(&sql).execute(&app.db).await.unwrap();
            }
            Setup::Draft(code) => save_draft(&app, code, admin_id).await,
            Setup::Leave(student) => {
                crate::forms::apply_leave(&app, &signed_in(&app, student).await, "1").await;
            }
        }
        // What the action deletes is named before it; what it creates, after.
        let target_before = resolve(&app, s.target).await;
        let before = last_audit_id(&app).await;
        let r = match &s.how {
            How::Form { page, path, fields } => {
                post_form(&app, &admin, s.what, page, path, fields).await
            }
            How::PeopleImport(csv) => import_people(&app, &admin, s.what, csv).await,
            How::PackageImport { from, to } => import_package(&app, &admin, s.what, from, to).await,
        };
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(
            status.is_success() || status.is_redirection(),
            "{}: answered {status}: {body}",
            s.what
        );
        let target = match target_before {
            Some(t) => t,
            None => must_resolve(&app, s.what, s.target).await,
        };
        let rows: Vec<(String, Option<i64>, String, String)> = sqlx::query_as(
            "SELECT action, actor_id, target, outcome FROM audit_log WHERE id > $1 ORDER BY id",
        )
        .bind(before)
        .fetch_all(&app.db)
        .await
        .unwrap();
        let found = rows.iter().any(|(a, by, t, o)| {
            a == s.action && *by == Some(admin_id) && *t == target && o == "success"
        });
        if !found {
            missing.push(format!(
                "{} — no audit row {} by user {admin_id} about {target}; written: {rows:?}",
                s.what, s.action
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "admin actions without their audit row:\n{}",
        missing.join("\n")
    );
}
