//! 表单设计 of a 填报任务 (`/admin/collections/{id}/form`): the service designer's pages
//! and actions on `collections.form`, through HTTP posts only — building, editing and
//! reordering fields, stale revisions, a published task's form that no longer changes,
//! attachments as for a service, and who may (the owner and a 系统管理员; anyone else 404).

use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::{
    form_designer::{attrs, html, select},
    forms::user,
    helpers::*,
};

const STALE: &str = "草稿已被他人修改，请刷新后再试";
const PUBLISHED: &str = "填报任务已发布，表单不能再修改";

fn designer(id: i64) -> String {
    format!("/admin/collections/{id}/form")
}

fn field(id: i64, key: &str) -> String {
    format!("/admin/collections/{id}/form/fields/{key}")
}

/// A 填报任务 of `owner`, not yet published, with an empty form.
async fn collection(app: &TestApp, owner: &str) -> i64 {
    let owner = user(app, owner).await;
    sqlx::query_scalar(
        "INSERT INTO collections (title, owner_id, opens_at, closes_at)
         VALUES ('毕业生去向调查', $1, now(), now() + interval '7 days') RETURNING id",
    )
    .bind(owner)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// The form and revision as stored.
async fn stored(app: &TestApp, id: i64) -> (Value, i32) {
    sqlx::query_as("SELECT form, revision FROM collections WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn keys(app: &TestApp, id: i64) -> Vec<String> {
    stored(app, id).await.0["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_owned())
        .collect()
}

fn revision_of(html: &str) -> String {
    attrs(html, "input[name='revision']", "value")
        .into_iter()
        .next()
        .expect("a revision input")
}

/// POSTs `fields` with the session's token and `revision`.
async fn post_at(
    app: &TestApp,
    c: &Client,
    action: &str,
    revision: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let home = html(app, c, "/").await;
    let token = csrf_from(&home);
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    form.push(("_csrf", &token));
    form.push(("revision", revision));
    c.post(app.url(action)).form(&form).send().await.unwrap()
}

/// POSTs `fields` with the token and the revision `page` shows.
async fn post(
    app: &TestApp,
    c: &Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let revision = revision_of(&html(app, c, page).await);
    post_at(app, c, action, &revision, fields).await
}

/// Adds a field of `kind` and saves its editor with `settings`; returns the key.
async fn add_and_edit(
    app: &TestApp,
    c: &Client,
    id: i64,
    kind: &str,
    settings: &[(&str, &str)],
) -> String {
    let r = post(
        app,
        c,
        &designer(id),
        &format!("{}/fields", designer(id)),
        &[("kind", kind)],
    )
    .await;
    assert_eq!(r.status(), 303, "add {kind}");
    let editor = location(&r);
    assert!(editor.starts_with(&field(id, "")), "{editor}");
    let mut fields = settings.to_vec();
    fields.push(("kind", kind));
    let r = post(app, c, &editor, &editor, &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    settings
        .iter()
        .find(|(k, _)| *k == "key")
        .map(|(_, v)| (*v).to_owned())
        .unwrap_or_else(|| editor.rsplit('/').next().unwrap().to_owned())
}

#[tokio::test]
async fn the_owner_builds_the_form_of_a_collection() {
    let app = spawn_app().await;
    let id = collection(&app, "T4401").await;
    let c = signed_in(&app, "T4401").await;
    let page = html(&app, &c, &designer(id)).await;
    assert!(page.contains("毕业生去向调查"), "the task's title");
    assert!(page.contains("返回填报任务"));
    assert_eq!(
        attrs(&page, "a", "href")
            .iter()
            .filter(|h| *h == &format!("/admin/collections/{id}"))
            .count(),
        2,
        "the crumbs and the way back"
    );
    assert!(!page.contains("流程设计"), "no service tabs");
    assert_eq!(revision_of(&page), "1");
    assert_eq!(
        attrs(&page, "#fd-add", "action"),
        [format!("{}/fields", designer(id))]
    );
    let kinds = attrs(&page, ".fd-kind", "value");
    assert!(kinds.contains(&"text".to_owned()) && kinds.contains(&"table".to_owned()));
    // Responses keep their own files, so attachments are offered as for a service.
    assert!(kinds.contains(&"attachments".to_owned()), "{kinds:?}");
    let saves = app.audit_count("collection.form.save", "success").await;

    let name = add_and_edit(
        &app,
        &c,
        id,
        "text",
        &[("label", "姓名"), ("key", "name"), ("required", "1")],
    )
    .await;
    let count = add_and_edit(
        &app,
        &c,
        id,
        "number",
        &[
            ("label", "人数"),
            ("key", "count"),
            ("min", "0"),
            ("max", "10"),
        ],
    )
    .await;
    assert_eq!((name.as_str(), count.as_str()), ("name", "count"));
    assert_eq!(keys(&app, id).await, ["name", "count"]);
    assert_eq!(
        app.audit_count("collection.form.save", "success").await,
        saves + 4,
        "two saves per field"
    );

    // The editor: no workflow to speak of; a label changed and kept.
    let editor = field(id, "name");
    let e = html(&app, &c, &editor).await;
    assert!(!e.contains("流程"), "a 填报任务 has no workflow");
    assert!(e.contains("返回填报任务") && e.contains("返回表单设计"));
    let r = post(
        &app,
        &c,
        &editor,
        &editor,
        &[
            ("kind", "text"),
            ("label", "学生姓名"),
            ("key", "name"),
            ("required", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with(&designer(id)));

    // Reordered: by the order endpoint (as the script asks, in JSON), then by a button.
    let revision = revision_of(&html(&app, &c, &designer(id)).await);
    let home = html(&app, &c, "/").await;
    let r = c
        .post(app.url(&format!("{}/order", designer(id))))
        .header("Accept", "application/json")
        .form(&[
            ("key", "count"),
            ("key", "name"),
            ("revision", revision.as_str()),
            ("_csrf", csrf_from(&home).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["revision"], stored(&app, id).await.1);
    assert_eq!(keys(&app, id).await, ["count", "name"]);
    let r = post(
        &app,
        &c,
        &designer(id),
        &format!("{}/move", field(id, "name")),
        &[("dir", "up")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(keys(&app, id).await, ["name", "count"]);

    let (form, _) = stored(&app, id).await;
    let f = &form["fields"];
    assert_eq!(f[0]["type"], "text");
    assert_eq!(f[0]["label"], "学生姓名");
    assert_eq!(f[0]["required"], true);
    assert_eq!(f[1]["type"], "number");
    assert_eq!(f[1]["label"], "人数");
    assert_eq!(f[1]["max"], 10.0);

    // The page: no problems, and the preview as a member sees it, every field editable.
    let page = html(&app, &c, &designer(id)).await;
    assert!(page.contains("表单没有发现问题"), "{page}");
    assert_eq!(select(&page, ".fd-row .fd-meta code"), ["name", "count"]);
    let inputs = attrs(&page, "#fd-preview-body input", "name");
    assert!(inputs.contains(&"f.name".to_owned()), "{inputs:?}");
    assert!(inputs.contains(&"f.count".to_owned()), "{inputs:?}");
    assert!(select(&page, "#fd-preview-body .field.readonly").is_empty());

    // Deleting a field.
    let r = post(
        &app,
        &c,
        &designer(id),
        &format!("{}/delete", field(id, "count")),
        &[],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(keys(&app, id).await, ["name"]);
}

#[tokio::test]
async fn stale_revisions_and_published_forms_are_refused() {
    let app = spawn_app().await;
    let id = collection(&app, "T4401").await;
    let c = signed_in(&app, "T4401").await;
    add_and_edit(&app, &c, id, "text", &[("label", "姓名"), ("key", "name")]).await;
    let old = revision_of(&html(&app, &c, &designer(id)).await);
    // Someone else saves meanwhile (here: the settings page, which bumps the revision).
    sqlx::query("UPDATE collections SET revision = revision + 1 WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    let before = stored(&app, id).await;
    let r = post_at(
        &app,
        &c,
        &format!("{}/fields", designer(id)),
        &old,
        &[("kind", "text")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains(STALE));
    let editor = field(id, "name");
    let r = post_at(
        &app,
        &c,
        &editor,
        &old,
        &[("kind", "text"), ("label", "全名"), ("key", "name")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body = r.text().await.unwrap();
    assert!(body.contains(STALE));
    assert!(body.contains("全名"), "what was typed is kept");
    assert_eq!(stored(&app, id).await, before, "nothing saved");

    // Published: nothing changes any more, whatever the revision.
    sqlx::query("UPDATE collections SET published_at = now() WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    let page = html(&app, &c, &designer(id)).await;
    assert!(page.contains(PUBLISHED));
    assert!(attrs(&page, "#fd-add", "action").is_empty(), "no 添加字段");
    let current = revision_of(&page);
    let add = format!("{}/fields", designer(id));
    let order = format!("{}/order", designer(id));
    let move_up = format!("{}/move", editor);
    let delete = format!("{}/delete", editor);
    for (action, fields) in [
        (add.as_str(), vec![("kind", "text")]),
        (order.as_str(), vec![("key", "name")]),
        (move_up.as_str(), vec![("dir", "down")]),
        (delete.as_str(), vec![]),
        (
            editor.as_str(),
            vec![("kind", "text"), ("label", "全名"), ("key", "name")],
        ),
    ] {
        let r = post_at(&app, &c, action, &current, &fields).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{action}");
        assert!(r.text().await.unwrap().contains(PUBLISHED), "{action}");
    }
    assert_eq!(stored(&app, id).await.0, before.0, "nothing saved");
    // Still to be seen.
    let e = html(&app, &c, &editor).await;
    assert!(e.contains(PUBLISHED));
}

#[tokio::test]
async fn a_collection_form_takes_attachments() {
    let app = spawn_app().await;
    let id = collection(&app, "T4401").await;
    let c = signed_in(&app, "T4401").await;
    let r = post(
        &app,
        &c,
        &designer(id),
        &format!("{}/fields", designer(id)),
        &[("kind", "attachments")],
    )
    .await;
    assert!(
        r.status().is_redirection() || r.status().is_success(),
        "{}",
        r.status()
    );
    let form = stored(&app, id).await.0;
    assert_eq!(form["fields"][0]["type"], "attachments", "{form}");
}

#[tokio::test]
async fn only_the_owner_and_a_system_admin_design_a_collection_form() {
    let app = spawn_app().await;
    let id = collection(&app, "T4401").await;
    let owner = signed_in(&app, "T4401").await;
    add_and_edit(
        &app,
        &owner,
        id,
        "text",
        &[("label", "姓名"), ("key", "name")],
    )
    .await;
    let revision = stored(&app, id).await.1.to_string();
    let before = stored(&app, id).await;
    let editor = field(id, "name");
    // A student and a 服务管理员 who does not own it: as if there were no such task.
    for who in ["S2024001", "T4402"] {
        let c = signed_in(&app, who).await;
        assert_eq!(app.get_with(&c, &designer(id)).await.status(), 404, "{who}");
        assert_eq!(app.get_with(&c, &editor).await.status(), 404, "{who}");
        for (action, fields) in [
            (format!("{}/fields", designer(id)), vec![("kind", "text")]),
            (
                editor.clone(),
                vec![("kind", "text"), ("label", "改"), ("key", "name")],
            ),
            (format!("{editor}/delete"), vec![]),
            (format!("{editor}/preview"), vec![("kind", "text")]),
        ] {
            let r = post_at(&app, &c, &action, &revision, &fields).await;
            assert_eq!(r.status(), 404, "{who}: {action}");
        }
    }
    assert_eq!(stored(&app, id).await, before, "nothing changed");
    // Signed out: to the sign-in page.
    let anon = new_client();
    let r = app.get_with(&anon, &designer(id)).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login"));

    // The 系统管理员 may.
    let admin = signed_in(&app, "admin").await;
    add_and_edit(
        &app,
        &admin,
        id,
        "number",
        &[("label", "年龄"), ("key", "age")],
    )
    .await;
    assert_eq!(keys(&app, id).await, ["name", "age"]);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log a JOIN users u ON u.id = a.actor_id
         WHERE a.action = 'collection.form.save' AND u.account = 'admin'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 2);
    // An unknown task: 404 for everyone.
    assert_eq!(app.get_with(&admin, &designer(999_999)).await.status(), 404);
}
