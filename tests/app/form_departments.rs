//! The applicant's department picker: retired departments are not offered on a new form,
//! a saved draft still shows the retired one it names (marked （已停用）), and submitting
//! it is refused with the field's message.

use crate::{forms::*, helpers::*};

/// XSQJ published again with a department field `unit` (所在单位).
async fn with_department_field(app: &TestApp) -> i64 {
    let sid = service(app, "XSQJ").await;
    republish_form(app, sid, "所在单位", |form| {
        form.fields.push(
            serde_json::from_value(serde_json::json!({
                "key": "unit", "type": "department", "label": "所在单位", "required": true
            }))
            .unwrap(),
        );
    })
    .await;
    sid
}

/// The `f.unit` picker's options: (value, label, selected).
fn unit_options(html: &str) -> Vec<(String, String, bool)> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("select[name=\"f.unit\"] option").unwrap();
    doc.select(&sel)
        .map(|o| {
            (
                o.value().attr("value").unwrap_or_default().to_owned(),
                o.text().collect::<String>().trim().to_owned(),
                o.value().attr("selected").is_some(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_retired_department_is_offered_only_where_a_draft_already_names_it() {
    let app = spawn_app().await;
    let sid = with_department_field(&app).await;
    let student = signed_in(&app, "S2024001").await;
    let office = id_of(
        &app,
        "SELECT id FROM departments WHERE code = $1",
        "CS-OFFICE",
    )
    .await;
    let me = id_of(&app, "SELECT id FROM departments WHERE code = $1", "ME").await;
    let apply = format!("/services/{sid}/apply");
    let html = app.get_with(&student, &apply).await.text().await.unwrap();
    let values: Vec<String> = unit_options(&html).into_iter().map(|o| o.0).collect();
    assert!(values.contains(&office.to_string()), "{values:?}");

    // A draft naming the office, then the office retires.
    let mut fields = leave_fields(&app, "1").await;
    fields.push(("f.unit", office.to_string()));
    let r = post_form(&app, &student, &apply, &apply, "draft", &fields).await;
    assert_eq!(r.status(), 303);
    let edit = location(&r);
    sqlx::query("UPDATE departments SET active = false WHERE id = $1")
        .bind(office)
        .execute(&app.db)
        .await
        .unwrap();

    // A new form: not offered; the others are.
    let html = app.get_with(&student, &apply).await.text().await.unwrap();
    let values: Vec<String> = unit_options(&html).into_iter().map(|o| o.0).collect();
    assert!(!values.contains(&office.to_string()), "{values:?}");
    assert!(values.contains(&me.to_string()), "{values:?}");

    // The draft: still shown, chosen, and marked.
    let html = app.get_with(&student, &edit).await.text().await.unwrap();
    let opts = unit_options(&html);
    let kept = opts
        .iter()
        .find(|o| o.0 == office.to_string())
        .expect("the draft's department still shows");
    assert!(kept.2, "and is the chosen one: {opts:?}");
    assert!(kept.1.ends_with("（已停用）"), "{kept:?}");
    assert_eq!(opts.iter().filter(|o| o.2).count(), 1, "{opts:?}");

    // Submitting it is refused by the field; choosing an active one goes through.
    let r = post_form(&app, &student, &edit, &edit, "submit", &fields).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("请选择有效的所在单位"));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM applications WHERE status = 'running'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let mut fields = leave_fields(&app, "1").await;
    fields.push(("f.unit", me.to_string()));
    let r = post_form(&app, &student, &edit, &edit, "submit", &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let after: i64 =
        sqlx::query_scalar("SELECT count(*) FROM applications WHERE status = 'running'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(after, n + 1);
}

/// A reopened draft keeps its person picks (issue 17, item 5): drafts keep what was posted
/// (a string), a submitted form a number; both read back into the same pickers. The
/// counselor (a role's list) comes back selected; a picker typed by account or chosen from
/// the suggestions comes back naming the person.
#[tokio::test]
async fn a_reopened_draft_keeps_its_person_picks() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let counselor = user(&app, "T2101").await.to_string();
    let sid = service(&app, "XSQJ").await;
    let page = format!("/services/{sid}/apply");
    let html = draft_reopened(&app, &student, &page, "f.counselor", &counselor).await;
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse("select[name=\"f.counselor\"] option[selected]").unwrap();
    let chosen: Vec<String> = doc
        .select(&sel)
        .map(|o| o.value().attr("value").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(chosen, vec![counselor], "the counselor comes back selected");

    // 毕业设计: the 指导教师 picker (教职工), typed as the suggestion list fills it in.
    let sid = service(&app, "BYSJXT").await;
    let page = format!("/services/{sid}/apply");
    for typed in ["T2002", "李晓梅（T2002）"] {
        let html = draft_reopened(&app, &student, &page, "f.supervisor", typed).await;
        let doc = scraper::Html::parse_document(&html);
        let sel = scraper::Selector::parse("input[name=\"f.supervisor\"]").unwrap();
        let value = doc
            .select(&sel)
            .next()
            .and_then(|i| i.value().attr("value"))
            .unwrap_or_default()
            .to_owned();
        assert!(
            value.contains("T2002"),
            "typed {typed}: the picker comes back as {value:?}"
        );
    }
}

/// Saves a draft on `page` with `field` set to `value`, and returns the draft's page.
async fn draft_reopened(
    app: &TestApp,
    c: &reqwest::Client,
    page: &str,
    field: &'static str,
    value: &str,
) -> String {
    let r = post_form(app, c, page, page, "draft", &[(field, value.to_owned())]).await;
    assert_eq!(r.status(), 303);
    app.get_with(c, &location(&r)).await.text().await.unwrap()
}
