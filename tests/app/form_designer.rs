//! 表单设计 (`/admin/services/{id}/form`): building a form through HTTP posts only, the
//! orders (buttons and the endpoint the drag and drop posts to), the field editor's
//! refusals next to the inputs, renaming with the workflow's references, stale revisions,
//! the permission matrix, bad bodies; and in Chromium dragging, adding and the preview.

use std::time::Duration;

use fantoccini::{
    Locator,
    actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction},
};
use reqwest::Client;
use serde_json::Value;

use crate::{
    browser::{Browser, click, fill, sign_in},
    forms::service,
    helpers::*,
};

const STALE: &str = "草稿已被他人修改，请刷新后再试";

fn designer(id: i64) -> String {
    format!("/admin/services/{id}/form")
}

fn field(id: i64, key: &str) -> String {
    format!("/admin/services/{id}/form/fields/{key}")
}

/// The value of the first input named `name` in a page.
fn input_value(html: &str, name: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("[name=\"{name}\"]")).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value").map(str::to_owned))
        .unwrap_or_else(|| panic!("no input {name}"))
}

pub fn select(html: &str, css: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(css).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

pub fn attrs(html: &str, css: &str, attr: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(css).unwrap();
    doc.select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_owned))
        .collect()
}

/// Whether any input of the preview belongs to a form (could be submitted).
fn submittable(html: &str) -> bool {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("#fd-preview-body input, #fd-preview-body select, #fd-preview-body textarea, #fd-preview-body button").unwrap();
    let mut n = 0;
    let any = doc.select(&sel).any(|e| {
        n += 1;
        e.value().attr("form").is_some()
            || e.ancestors()
                .any(|a| a.value().as_element().is_some_and(|x| x.name() == "form"))
    });
    assert!(n > 0, "the preview has inputs");
    any
}

pub async fn html(app: &TestApp, c: &Client, path: &str) -> String {
    let r = app.get_with(c, path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.text().await.unwrap()
}

/// POSTs `fields` with the session's token and the revision `page` shows.
async fn post(
    app: &TestApp,
    c: &Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let h = html(app, c, page).await;
    let revision = input_value(&h, "revision");
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    let token = csrf_from(&h);
    form.push(("_csrf", &token));
    form.push(("revision", &revision));
    c.post(app.url(action)).form(&form).send().await.unwrap()
}

/// The working copy as stored: form, workflow, revision.
async fn draft(app: &TestApp, id: i64) -> Option<(Value, Value, i32)> {
    sqlx::query_as("SELECT form, workflow, revision FROM service_drafts WHERE service_id = $1")
        .bind(id)
        .fetch_optional(&app.db)
        .await
        .unwrap()
}

async fn keys(app: &TestApp, id: i64) -> Vec<String> {
    let (form, _, _) = draft(app, id).await.expect("a draft");
    form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_owned())
        .collect()
}

/// The key a 303 to an editor names.
fn edited_key(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), 303);
    location(r).rsplit('/').next().unwrap().to_owned()
}

/// Adds a field of `kind` and saves its editor with `settings` (+ kind); returns the key.
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
    let key = edited_key(&r);
    let editor = field(id, &key);
    assert!(location(&r).ends_with(&editor), "{}", location(&r));
    let mut fields = settings.to_vec();
    fields.push(("kind", kind));
    let r = post(app, c, &editor, &editor, &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    key
}

#[tokio::test]
async fn a_form_is_built_through_posts_only() {
    let app = spawn_app().await;
    // 成绩单打印 is 线下办理: its designer works all the same, for a 服务管理员 of 教务处.
    let id = service(&app, "CJDY").await;
    let c = signed_in(&app, "T4401").await;
    let page = html(&app, &c, &designer(id)).await;
    assert!(page.contains("线下办理"), "the kind is named");
    assert_eq!(input_value(&page, "revision"), "", "no draft yet");
    assert!(draft(&app, id).await.is_none());
    let saves = app.audit_count("service.draft.save", "success").await;

    let name = add_and_edit(
        &app,
        &c,
        id,
        "text",
        &[
            ("label", "姓名"),
            ("key", "name"),
            ("required", "1"),
            ("autofill", "name"),
            ("locked", "1"),
        ],
    )
    .await;
    assert_eq!(name, "field_1", "a unique default key");
    let r = post(
        &app,
        &c,
        &designer(id),
        &format!("{}/fields", designer(id)),
        &[("kind", "table")],
    )
    .await;
    let table = edited_key(&r);
    assert_eq!(table, "field_2", "a unique default key");
    let editor = field(id, &table);
    let r = post(
        &app,
        &c,
        &editor,
        &editor,
        &[
            ("kind", "table"),
            ("label", "行程"),
            ("key", "trip"),
            ("required", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let trip = field(id, "trip");
    for (kind, settings) in [
        (
            "date",
            vec![("label", "出发日期"), ("key", "date"), ("required", "1")],
        ),
        (
            "money",
            vec![
                ("label", "费用"),
                ("key", "cost"),
                ("min", "0"),
                ("max", "5000"),
            ],
        ),
    ] {
        let r = post(
            &app,
            &c,
            &trip,
            &format!("{trip}/columns"),
            &[("kind", kind)],
        )
        .await;
        let col = edited_key(&r);
        let editor = format!("{trip}/columns/{col}");
        assert!(location(&r).ends_with(&editor));
        let mut fields = settings.clone();
        fields.push(("kind", kind));
        let r = post(&app, &c, &editor, &editor, &fields).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        assert!(location(&r).starts_with(&trip), "back to the sub-table");
    }
    add_and_edit(
        &app,
        &c,
        id,
        "person",
        &[
            ("label", "辅导员"),
            ("key", "counselor"),
            ("required", "1"),
            ("role", "counselor"),
        ],
    )
    .await;
    add_and_edit(
        &app,
        &c,
        id,
        "department",
        &[("label", "所在部门"), ("key", "dept")],
    )
    .await;

    let (form, _, _) = draft(&app, id).await.unwrap();
    assert_eq!(keys(&app, id).await, ["name", "trip", "counselor", "dept"]);
    let f = &form["fields"];
    assert_eq!(f[0]["autofill"], "name");
    assert_eq!(f[0]["locked"], true);
    assert_eq!(f[1]["type"], "table");
    assert_eq!(f[1]["columns"][0]["key"], "date");
    assert_eq!(f[1]["columns"][0]["type"], "date");
    assert_eq!(f[1]["columns"][1]["key"], "cost");
    assert_eq!(f[1]["columns"][1]["max"], 5000.0);
    assert_eq!(f[2]["type"], "person");
    assert_eq!(f[2]["role"], "counselor");
    assert_eq!(f[3]["type"], "department");
    // Adding and saving: two saves per field and per column.
    assert_eq!(
        app.audit_count("service.draft.save", "success").await,
        saves + 12
    );

    let page = html(&app, &c, &designer(id)).await;
    assert_eq!(
        select(&page, ".fd-row .fd-kind-badge"),
        ["单行文本", "子表", "人员", "部门"]
    );
    assert_eq!(
        select(&page, ".fd-row .fd-meta code"),
        ["name", "trip", "counselor", "dept"]
    );
    assert!(
        page.contains("表单与流程没有发现问题"),
        "{:?}",
        select(&page, ".fd-problems li")
    );
    // The preview is the applicant's form: locked name, the sub-table's cells, the
    // counselors to pick from, the departments; and nothing to submit it with.
    let preview = select(&page, "#fd-preview-body").join("");
    assert!(preview.contains("出发日期") && preview.contains("费用"));
    assert_eq!(
        attrs(
            &page,
            "#fd-preview-body input[name='f.trip.0.date']",
            "type"
        ),
        ["date"]
    );
    assert!(attrs(&page, "#fd-preview-body select", "name").contains(&"f.counselor".to_owned()));
    assert!(attrs(&page, "#fd-preview-body select", "name").contains(&"f.dept".to_owned()));
    assert!(select(&page, "#fd-preview-body .field.readonly .label").contains(&"姓名".to_owned()));
    assert!(!submittable(&page), "the preview is in no form");
    assert_eq!(attrs(&page, ".fd-fake-actions button", "disabled").len(), 2);
}

#[tokio::test]
async fn fields_are_reordered_by_buttons_and_by_the_order_endpoint() {
    let app = spawn_app().await;
    let id = service(&app, "XSQJ").await;
    let c = signed_in(&app, "admin").await;
    let start = [
        "name",
        "account",
        "college",
        "phone",
        "kind",
        "period",
        "days",
        "reason",
        "leave_campus",
        "counselor",
    ];
    let page = html(&app, &c, &designer(id)).await;
    assert_eq!(select(&page, ".fd-row .fd-meta code"), start);
    // 上移: the first save makes the draft from the current version.
    let r = post(
        &app,
        &c,
        &designer(id),
        &format!("{}/move", field(id, "days")),
        &[("dir", "up")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("{}#fd-row-days", designer(id)));
    let mut want = start.to_vec();
    want.swap(5, 6);
    assert_eq!(keys(&app, id).await, want);
    let r = post(
        &app,
        &c,
        &designer(id),
        &format!("{}/move", field(id, "counselor")),
        &[("dir", "down")],
    )
    .await;
    assert_eq!(r.status(), 422, "the last one cannot go down");
    assert!(r.text().await.unwrap().contains("该字段已在最后面"));
    let r = post(
        &app,
        &c,
        &designer(id),
        &format!("{}/move", field(id, "name")),
        &[("dir", "down")],
    )
    .await;
    assert_eq!(r.status(), 303);
    want.swap(0, 1);
    assert_eq!(keys(&app, id).await, want);
    let page = html(&app, &c, &location(&r)).await;
    assert!(
        select(&page, ".flash-success")
            .join("")
            .contains("已移动字段“姓名”")
    );
    // The buttons at the ends are off.
    assert_eq!(
        attrs(
            &page,
            ".fd-row:first-child button[aria-label^='上移']",
            "disabled"
        )
        .len(),
        1
    );

    // What the drag and drop posts: every key once, in the new order; JSON back.
    let token = csrf_from(&page);
    let order_url = app.url(&format!("{}/order", designer(id)));
    let mut reversed = want.clone();
    reversed.reverse();
    let send = |keys: Vec<&'static str>, revision: String| {
        let mut form: Vec<(&str, String)> = vec![("_csrf", token.clone()), ("revision", revision)];
        form.extend(keys.into_iter().map(|k| ("key", k.to_owned())));
        c.post(&order_url)
            .header("Accept", "application/json")
            .form(&form)
            .send()
    };
    let rev = draft(&app, id).await.unwrap().2;
    let r = send(reversed.clone(), rev.to_string()).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["revision"], rev + 1);
    assert_eq!(keys(&app, id).await, reversed);
    // Not exactly the draft's keys: refused, nothing saved.
    for bad in [
        reversed[1..].to_vec(),
        [reversed.clone(), vec!["name"]].concat(),
        [reversed[1..].to_vec(), vec!["nope"]].concat(),
        [reversed[1..].to_vec(), vec!["days"]].concat(),
    ] {
        let r = send(bad, (rev + 1).to_string()).await.unwrap();
        assert_eq!(r.status(), 422);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("提交的字段与草稿中的字段不一致")
        );
    }
    assert_eq!(draft(&app, id).await.unwrap().2, rev + 1);
    // A stale revision: 409 with the reason.
    let r = send(want.clone(), rev.to_string()).await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains(STALE));
    // Without JavaScript the same endpoint answers with a redirect.
    let mut form: Vec<(&str, String)> = vec![
        ("_csrf", token.clone()),
        ("revision", (rev + 1).to_string()),
    ];
    form.extend(want.iter().map(|k| ("key", (*k).to_owned())));
    let r = c.post(&order_url).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(keys(&app, id).await, want);
}

#[tokio::test]
async fn columns_are_added_reordered_and_deleted() {
    let app = spawn_app().await;
    let id = service(&app, "CCSP").await;
    let c = signed_in(&app, "admin").await;
    let form: Value = sqlx::query_scalar(
        "SELECT schema FROM form_definitions WHERE service_id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let table = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "table")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let editor = field(id, &table);
    let page = html(&app, &c, &editor).await;
    let cols = select(&page, ".fd-columns .fd-meta code");
    assert_eq!(cols, ["date", "from", "to", "transport"]);
    // No column may be a person picker (a cell is one text box).
    let r = post(
        &app,
        &c,
        &editor,
        &format!("{editor}/columns"),
        &[("kind", "person")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("子表的列不能是人员"));
    let r = post(
        &app,
        &c,
        &editor,
        &format!("{editor}/columns/to/move"),
        &[("dir", "up")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = post(
        &app,
        &c,
        &editor,
        &format!("{editor}/columns/date/delete"),
        &[],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (form, _, _) = draft(&app, id).await.unwrap();
    let t = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == table.as_str())
        .unwrap();
    let now: Vec<&str> = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(now, ["to", "from", "transport"]);
    // The column order endpoint, as the drag and drop uses it.
    let page = html(&app, &c, &editor).await;
    let r = c
        .post(app.url(&format!("{editor}/column-order")))
        .header("Accept", "application/json")
        .form(&[
            ("_csrf", csrf_from(&page).as_str()),
            ("revision", input_value(&page, "revision").as_str()),
            ("key", "transport"),
            ("key", "to"),
            ("key", "from"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (form, _, _) = draft(&app, id).await.unwrap();
    let t = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == table.as_str())
        .unwrap();
    let now: Vec<&str> = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(now, ["transport", "to", "from"]);
    // A column keeps a unique key among its table's columns.
    let col = format!("{editor}/columns/to");
    let r = post(
        &app,
        &c,
        &col,
        &col,
        &[("kind", "text"), ("label", "到达地"), ("key", "from")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        select(&r.text().await.unwrap(), ".field-error")
            .contains(&"标识与列“出发地”重复".to_owned())
    );
}

/// The messages next to the editor's inputs.
fn errors(html: &str) -> Vec<String> {
    select(html, ".field-error")
}

/// An editor, what is posted to it, the message expected next to an input.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

/// 可选人员 offers a scope beside the roles: saved as the field's scope, shown selected
/// again, and the preview's picker says whom it takes.
#[tokio::test]
async fn a_person_field_takes_a_scope() {
    let app = spawn_app().await;
    let id = service(&app, "CJDY").await;
    let c = signed_in(&app, "T4401").await;
    add_and_edit(
        &app,
        &c,
        id,
        "person",
        &[
            ("label", "指导教师"),
            ("key", "tutor"),
            ("role", "scope:staff"),
        ],
    )
    .await;
    let key = "tutor";
    let (form, _, _) = draft(&app, id).await.unwrap();
    let f = &form["fields"][0];
    assert_eq!(
        (f["key"].as_str(), f["scope"].as_str()),
        (Some("tutor"), Some("staff"))
    );
    assert!(f.get("role").is_none());
    let page = html(&app, &c, &field(id, key)).await;
    assert_eq!(
        select(&page, "#fd-role option[selected]"),
        vec!["仅限本校教职工"]
    );
    assert_eq!(
        attrs(&page, "input[data-person-search]", "placeholder"),
        vec!["输入教职工姓名或工号"],
        "the preview's picker"
    );
    // A role replaces the scope, and 全校人员 clears both.
    let editor = field(id, key);
    for (role, scope, want) in [("counselor", None, Some("counselor")), ("", None, None)] {
        let r = post(
            &app,
            &c,
            &editor,
            &editor,
            &[
                ("kind", "person"),
                ("label", "指导教师"),
                ("key", "tutor"),
                ("role", role),
            ],
        )
        .await;
        assert_eq!(r.status(), 303);
        let (form, _, _) = draft(&app, id).await.unwrap();
        assert_eq!(form["fields"][0]["scope"].as_str(), scope);
        assert_eq!(form["fields"][0]["role"].as_str(), want);
    }
}

/// 日期限制 and 核对出生日期 (issue 17.10): saved on the field, offered again, refused
/// next to their input when they name no 身份证号 field, and the preview shows the number
/// on file masked.
#[tokio::test]
async fn a_birth_date_takes_a_limit_and_an_id_number_to_agree_with() {
    let app = spawn_app().await;
    let id = service(&app, "CJDY").await;
    let c = signed_in(&app, "T4401").await;
    add_and_edit(
        &app,
        &c,
        id,
        "id_card",
        &[
            ("label", "身份证号"),
            ("key", "idno"),
            ("autofill", "id_card"),
        ],
    )
    .await;
    let born = [
        ("kind", "date"),
        ("label", "出生日期"),
        ("key", "born"),
        ("date_limit", "past"),
        ("birth_of", "idno"),
    ];
    add_and_edit(&app, &c, id, "date", &born).await;
    let (form, _, _) = draft(&app, id).await.unwrap();
    assert_eq!(form["fields"][0]["autofill"], "id_card");
    let f = &form["fields"][1];
    assert_eq!(
        (f["date_limit"].as_str(), f["birth_of"].as_str()),
        (Some("past"), Some("idno"))
    );
    let editor = field(id, "born");
    let page = html(&app, &c, &editor).await;
    assert_eq!(
        select(&page, "#fd-date-limit option[selected]"),
        vec!["早于今天（如出生日期）"]
    );
    assert_eq!(
        select(&page, "#fd-birth-of option[selected]"),
        vec!["与身份证号（idno）中的出生日期一致"]
    );
    // The preview: the sample number masked and read-only.
    assert!(page.contains("1101**********002X"), "{page}");
    // A field that is not a 身份证号, an unknown limit: refused, nothing saved.
    for (name, value, message) in [
        ("birth_of", "born", "请选择表单中的身份证号字段"),
        ("date_limit", "someday", "没有这个日期限制"),
    ] {
        let mut fields = born.to_vec();
        fields.retain(|(k, _)| *k != name);
        fields.push((name, value));
        let r = post(&app, &c, &editor, &editor, &fields).await;
        assert_eq!(r.status(), 422, "{message}");
        let page = r.text().await.unwrap();
        assert!(
            errors(&page).contains(&message.to_owned()),
            "{:?}",
            errors(&page)
        );
    }
    let (after, _, _) = draft(&app, id).await.unwrap();
    assert_eq!(after, form, "nothing saved");
}

#[tokio::test]
async fn invalid_field_settings_are_refused_next_to_their_inputs() {
    let app = spawn_app().await;
    let id = service(&app, "XSQJ").await;
    let c = signed_in(&app, "admin").await;
    let days = field(id, "days");
    let kind = field(id, "kind");
    let reason = field(id, "reason");
    let name = field(id, "name");
    let counselor = field(id, "counselor");
    let cases: Vec<Case> = vec![
        (
            &days,
            vec![
                ("kind", "number"),
                ("label", "请假天数"),
                ("key", "days"),
                ("min", "10"),
                ("max", "1"),
            ],
            "最小值大于最大值",
        ),
        (
            &days,
            vec![
                ("kind", "number"),
                ("label", "请假天数"),
                ("key", "days"),
                ("min", "十"),
            ],
            "请填写数字",
        ),
        (
            &days,
            vec![
                ("kind", "number"),
                ("label", "请假天数"),
                ("key", "days"),
                ("max", "5"),
                ("default", "9"),
            ],
            "默认值 9 大于最大值 5",
        ),
        (
            &days,
            vec![("kind", "number"), ("label", ""), ("key", "days")],
            "标题不能为空",
        ),
        (
            &days,
            vec![
                ("kind", "number"),
                ("label", "请假天数"),
                ("key", "请假天数"),
            ],
            "标识只能由字母、数字和下划线组成，并以字母开头",
        ),
        (
            &days,
            vec![("kind", "number"), ("label", "请假天数"), ("key", "reason")],
            "标识与字段“请假事由”重复",
        ),
        (
            &kind,
            vec![
                ("kind", "radio"),
                ("label", "请假类型"),
                ("key", "kind"),
                ("options", "事假\n病假\n事假"),
            ],
            "选项“事假”重复",
        ),
        (
            &kind,
            vec![
                ("kind", "radio"),
                ("label", "请假类型"),
                ("key", "kind"),
                ("options", ""),
            ],
            "缺少选项",
        ),
        (
            &kind,
            vec![
                ("kind", "radio"),
                ("label", "请假类型"),
                ("key", "kind"),
                ("options", "事假\n病假"),
                ("default", "年假"),
            ],
            "默认值“年假”不在选项中",
        ),
        (
            &reason,
            vec![
                ("kind", "textarea"),
                ("label", "请假事由"),
                ("key", "reason"),
                ("min_len", "200"),
                ("max_len", "150"),
            ],
            "最少字数大于最多字数",
        ),
        (
            &name,
            vec![
                ("kind", "text"),
                ("label", "姓名"),
                ("key", "name"),
                ("pattern", "[A-Z"),
            ],
            "格式规则不是有效的正则表达式",
        ),
        (
            &name,
            vec![
                ("kind", "text"),
                ("label", "姓名"),
                ("key", "name"),
                ("autofill", "nickname"),
                ("locked", "1"),
            ],
            "自动填充来源“nickname”不受支持",
        ),
        (
            &name,
            vec![
                ("kind", "text"),
                ("label", "姓名"),
                ("key", "name"),
                ("locked", "1"),
            ],
            "已锁定但没有设置自动填充来源",
        ),
        (
            &counselor,
            vec![
                ("kind", "person"),
                ("label", "辅导员"),
                ("key", "counselor"),
                ("role", "wizard"),
            ],
            "没有这个角色",
        ),
        (
            &counselor,
            vec![
                ("kind", "person"),
                ("label", "辅导员"),
                ("key", "counselor"),
                ("role", "scope:everyone"),
            ],
            "没有这个人员范围",
        ),
        (
            &reason,
            vec![("kind", "table"), ("label", "请假事由"), ("key", "reason")],
            "请新建子表字段，而不是修改已有字段的类型",
        ),
    ];
    for (editor, fields, message) in cases {
        let r = post(&app, &c, editor, editor, &fields).await;
        assert_eq!(r.status(), 422, "{message}");
        let page = r.text().await.unwrap();
        assert!(
            errors(&page).contains(&message.to_owned()),
            "{message}: {:?}",
            errors(&page)
        );
        // Everything typed is kept.
        for (k, v) in &fields {
            if [
                "label", "key", "min", "max", "default", "pattern", "min_len", "max_len",
            ]
            .contains(k)
            {
                assert_eq!(input_value(&page, k), *v, "{message}: {k}");
            }
        }
        assert!(draft(&app, id).await.is_none(), "{message}: nothing saved");
    }
}

#[tokio::test]
async fn a_rename_renames_the_workflow_references() {
    let app = spawn_app().await;
    let id = service(&app, "XSQJ").await;
    let c = signed_in(&app, "admin").await;
    let days = field(id, "days");
    let page = html(&app, &c, &days).await;
    assert!(page.contains("流程中引用了该字段：节点“是否超过3天”的分支“超过3天”条件"));
    let r = post(
        &app,
        &c,
        &days,
        &days,
        &[
            ("kind", "number"),
            ("label", "请假天数"),
            ("key", "leave_days"),
            ("required", "1"),
            ("min", "0.5"),
            ("max", "30"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let page = html(&app, &c, &location(&r)).await;
    assert!(
        select(&page, ".flash-success")
            .join("")
            .contains("标识已由 days 改为 leave_days，流程中的 1 处引用已一并修改"),
        "{:?}",
        select(&page, ".flash-success")
    );
    let counselor = field(id, "counselor");
    let r = post(
        &app,
        &c,
        &counselor,
        &counselor,
        &[
            ("kind", "person"),
            ("label", "辅导员"),
            ("key", "tutor"),
            ("role", "counselor"),
            ("required", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (form, workflow, _) = draft(&app, id).await.unwrap();
    assert_eq!(form["fields"][6]["key"], "leave_days");
    assert_eq!(form["fields"][6]["max"], 30.0);
    let check = workflow["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "check")
        .unwrap();
    assert_eq!(check["branches"][0]["when"]["field"], "leave_days");
    let node = workflow["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "counselor")
        .unwrap();
    assert_eq!(node["approvers"]["field"], "tutor");
    assert!(!workflow.to_string().contains("\"days\""));
    // Nothing the workflow needs is missing: the draft may be published.
    let page = html(&app, &c, &designer(id)).await;
    assert!(
        page.contains("表单与流程没有发现问题"),
        "{:?}",
        select(&page, ".fd-problems li")
    );
}

#[tokio::test]
async fn problems_are_listed_and_a_half_built_draft_is_kept() {
    let app = spawn_app().await;
    let id = service(&app, "XSQJ").await;
    let c = signed_in(&app, "admin").await;
    // A new sub-table without columns and a new select are saved as they are …
    let r = post(
        &app,
        &c,
        &designer(id),
        &format!("{}/fields", designer(id)),
        &[("kind", "table"), ("after", "name")],
    )
    .await;
    assert_eq!(edited_key(&r), "field_11");
    assert_eq!(keys(&app, id).await[1], "field_11", "inserted after 姓名");
    let page = html(&app, &c, &designer(id)).await;
    assert_eq!(
        select(&page, ".fd-problems li"),
        ["字段“子表”（field_11）：子表缺少列"]
    );
    assert!(page.contains("发布前需要修正（1 处）"));
    // … and publishing refuses it with the same words.
    let versions = html(&app, &c, &format!("/admin/services/{id}/versions")).await;
    assert!(versions.contains("字段“子表”（field_11）：子表缺少列"));
    // The editor of the table saves its label without columns, and says what is missing.
    let t = field(id, "field_11");
    let r = post(
        &app,
        &c,
        &t,
        &t,
        &[
            ("kind", "table"),
            ("label", "同行人员"),
            ("key", "companions"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let page = html(&app, &c, &field(id, "companions")).await;
    assert!(
        select(&page, ".fd-column-problems li")
            .join("")
            .contains("子表还没有列")
    );
    // Deleting a field the workflow uses says where it is still used.
    let r = post(
        &app,
        &c,
        &designer(id),
        &format!("{}/delete", field(id, "days")),
        &[],
    )
    .await;
    assert_eq!(r.status(), 303);
    let page = html(&app, &c, &location(&r)).await;
    let flashed = select(&page, ".flash-success").join("");
    assert!(flashed.contains("已删除字段“请假天数”"), "{flashed}");
    assert!(
        flashed.contains("流程中仍引用了它（节点“是否超过3天”的分支“超过3天”条件）"),
        "{flashed}"
    );
    assert!(!keys(&app, id).await.contains(&"days".to_owned()));
}

#[tokio::test]
async fn a_stale_revision_is_refused_and_what_was_typed_is_kept() {
    let app = spawn_app().await;
    let id = service(&app, "XSQJ").await;
    let a = signed_in(&app, "admin").await;
    let b = signed_in(&app, "admin").await;
    let reason = field(id, "reason");
    // Both open the editor; the first saves.
    let page_a = html(&app, &a, &reason).await;
    let page_b = html(&app, &b, &reason).await;
    let send = |c: &Client, page: &str, label: &str| {
        let form = vec![
            ("_csrf".to_owned(), csrf_from(page)),
            ("revision".to_owned(), input_value(page, "revision")),
            ("kind".to_owned(), "textarea".to_owned()),
            ("label".to_owned(), label.to_owned()),
            ("key".to_owned(), "reason".to_owned()),
        ];
        c.post(app.url(&reason)).form(&form).send()
    };
    assert_eq!(send(&a, &page_a, "事由").await.unwrap().status(), 303);
    let r = send(&b, &page_b, "请假原因").await.unwrap();
    assert_eq!(r.status(), 409);
    let page = r.text().await.unwrap();
    assert!(select(&page, ".alert-error").join("").contains(STALE));
    assert_eq!(
        input_value(&page, "label"),
        "请假原因",
        "what was typed stays"
    );
    let (form, _, revision) = draft(&app, id).await.unwrap();
    assert_eq!(form["fields"][7]["label"], "事由");
    assert_eq!(revision, 1);
    // A button of a page shown before the save: refused, the list as it is now.
    let list = html(&app, &b, &designer(id)).await;
    let stale_token = csrf_from(&list);
    let r = b
        .post(app.url(&format!("{}/move", field(id, "days"))))
        .form(&[
            ("_csrf", stale_token.as_str()),
            ("revision", ""),
            ("dir", "up"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let page = r.text().await.unwrap();
    assert!(page.contains(STALE));
    // Shown at the action's address, its links still lead to the designer.
    assert_eq!(
        attrs(&page, ".fd-switch a", "href"),
        [
            format!("{}?preview=desktop", designer(id)),
            format!("{}?preview=phone", designer(id))
        ]
    );
    assert_eq!(attrs(&page, ".fd-list", "data-page-url"), [designer(id)]);
    assert_eq!(draft(&app, id).await.unwrap().2, 1);
    // A burst of the same action from one page: one is done, the others are stale.
    let list = html(&app, &a, &designer(id)).await;
    let token = csrf_from(&list);
    let move_down = app.url(&format!("{}/move", field(id, "name")));
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let send = a
                .post(&move_down)
                .form(&[
                    ("_csrf", token.as_str()),
                    ("revision", "1"),
                    ("dir", "down"),
                ])
                .send();
            tokio::spawn(async move { send.await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = vec![];
    for t in burst {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(draft(&app, id).await.unwrap().2, 2);
    assert_eq!(keys(&app, id).await[..2], ["account", "name"]);
}

/// A route of the designer: method, path, the form it posts.
type Route = (&'static str, String, Vec<(&'static str, String)>);

/// Every route of the designer, for one service.
fn routes(id: i64, key: &str, table: &str, col: &str) -> Vec<Route> {
    let f = field(id, key);
    let t = field(id, table);
    let c = format!("{t}/columns/{col}");
    let text = |k: &str| {
        vec![
            ("kind", "text".to_owned()),
            ("label", "甲".to_owned()),
            ("key", k.to_owned()),
        ]
    };
    vec![
        ("GET", designer(id), vec![]),
        ("GET", format!("{}?preview=phone", f), vec![]),
        ("GET", c.clone(), vec![]),
        (
            "POST",
            format!("{}/fields", designer(id)),
            vec![("kind", "text".to_owned())],
        ),
        (
            "POST",
            format!("{}/order", designer(id)),
            vec![("key", key.to_owned())],
        ),
        ("POST", f.clone(), text(key)),
        ("POST", format!("{f}/preview"), text(key)),
        (
            "POST",
            format!("{f}/move"),
            vec![("dir", "down".to_owned())],
        ),
        (
            "POST",
            format!("{t}/columns"),
            vec![("kind", "text".to_owned())],
        ),
        (
            "POST",
            format!("{t}/column-order"),
            vec![("key", col.to_owned())],
        ),
        ("POST", c.clone(), text(col)),
        ("POST", format!("{c}/preview"), text(col)),
        (
            "POST",
            format!("{c}/move"),
            vec![("dir", "down".to_owned())],
        ),
        ("POST", format!("{c}/delete"), vec![]),
        ("POST", format!("{f}/delete"), vec![]),
    ]
}

async fn statuses(
    app: &TestApp,
    c: &Client,
    id: i64,
    key: &str,
    table: &str,
    col: &str,
) -> Vec<(String, u16)> {
    // A token for this session (any page with a form has it).
    let home = app.get_with(c, "/").await.text().await.unwrap();
    let token = if home.contains("name=\"_csrf\"") {
        csrf_from(&home)
    } else {
        String::new()
    };
    let mut out = vec![];
    for (method, path, mut form) in routes(id, key, table, col) {
        let r = if method == "GET" {
            app.get_with(c, &path).await
        } else {
            form.push(("_csrf", token.clone()));
            form.push(("revision", String::new()));
            c.post(app.url(&path)).form(&form).send().await.unwrap()
        };
        out.push((format!("{method} {path}"), r.status().as_u16()));
    }
    out
}

/// Allowed: every GET answers 200 and every action is done or refused for its contents
/// (stale, not found), never for the person. Refused: 403 everywhere.
fn assert_all(got: &[(String, u16)], allowed: bool, who: &str) {
    for (route, status) in got {
        if allowed {
            assert!(
                ![401, 403].contains(status) && *status < 500,
                "{who}: {route} → {status}"
            );
            if route.starts_with("GET") {
                assert_eq!(*status, 200, "{who}: {route}");
            }
        } else {
            assert_eq!(*status, 403, "{who}: {route}");
        }
    }
}

#[tokio::test]
async fn who_may_use_the_designer() {
    let app = spawn_app().await;
    // 缓考申请 (教务处) and 实验室开放申请 (计算机学院), each with a sub-table added first.
    let aca = service(&app, "HKSQ").await;
    let cs = service(&app, "SJKF").await;
    let admin = signed_in(&app, "admin").await;
    let mut first = std::collections::BTreeMap::new();
    for id in [aca, cs] {
        let r = post(
            &app,
            &admin,
            &designer(id),
            &format!("{}/fields", designer(id)),
            &[("kind", "table")],
        )
        .await;
        let table = edited_key(&r);
        let t = field(id, &table);
        let r = post(
            &app,
            &admin,
            &t,
            &format!("{t}/columns"),
            &[("kind", "text")],
        )
        .await;
        let col = edited_key(&r);
        first.insert(id, (keys(&app, id).await[0].clone(), table, col));
    }
    let args = |id: i64| first.get(&id).cloned().unwrap();
    for (who, allowed) in [
        ("admin", vec![aca, cs]),
        ("T4401", vec![aca]),
        ("T4402", vec![cs]),
        ("T2002", vec![]),
        ("S2024001", vec![]),
    ] {
        for id in [aca, cs] {
            let c = signed_in(&app, who).await;
            let (key, table, col) = args(id);
            let before = draft(&app, id).await.unwrap().2;
            let got = statuses(&app, &c, id, &key, &table, &col).await;
            assert_all(&got, allowed.contains(&id), &format!("{who} on {id}"));
            if !allowed.contains(&id) {
                assert_eq!(
                    draft(&app, id).await.unwrap().2,
                    before,
                    "{who} changed nothing"
                );
            }
        }
    }
    // Signed out: to the sign-in page, or refused; nothing changes.
    let anon = new_client();
    let before = draft(&app, aca).await.unwrap().2;
    let (key, table, col) = args(aca);
    for (route, status) in statuses(&app, &anon, aca, &key, &table, &col).await {
        assert!(
            [303, 403].contains(&status),
            "signed out: {route} → {status}"
        );
    }
    assert_eq!(draft(&app, aca).await.unwrap().2, before);
    // An unknown service: 404 for the 系统管理员, 403 for a 服务管理员.
    assert_eq!(app.get_with(&admin, &designer(999_999)).await.status(), 404);
    let t4401 = signed_in(&app, "T4401").await;
    assert_eq!(app.get_with(&t4401, &designer(999_999)).await.status(), 403);
    // An unknown field: 404.
    assert_eq!(
        app.get_with(&admin, &field(aca, "nope")).await.status(),
        404
    );
}

#[tokio::test]
async fn nul_characters_and_huge_values_are_refused_with_a_message() {
    let app = spawn_app().await;
    let id = service(&app, "XSQJ").await;
    let c = signed_in(&app, "admin").await;
    let reason = field(id, "reason");
    let r = post(
        &app,
        &c,
        &reason,
        &reason,
        &[("kind", "textarea"), ("label", "事\0由"), ("key", "reason")],
    )
    .await;
    assert_eq!(r.status(), 400);
    // Refused at the input gate, with its message.
    assert!(r.text().await.unwrap().contains("无法处理的字符"));
    let r = post(
        &app,
        &c,
        &designer(id),
        &format!("{}/fields", designer(id)),
        &[("kind", "text\0")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let huge = "长".repeat(50_000);
    let r = post(
        &app,
        &c,
        &reason,
        &reason,
        &[("kind", "textarea"), ("label", &huge), ("key", "reason")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        errors(&page).contains(&"标题不能超过 100 个字".to_owned()),
        "{:?}",
        errors(&page)
    );
    let r = post(
        &app,
        &c,
        &reason,
        &reason,
        &[
            ("kind", "textarea"),
            ("label", "事由"),
            ("key", "reason"),
            ("max_len", "99999999999999999999"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(errors(&r.text().await.unwrap()).contains(&"请填写 0 到 100000 之间的整数".to_owned()));
    let r = post(
        &app,
        &c,
        &reason,
        &reason,
        &[
            ("kind", "textarea"),
            ("label", "事由"),
            ("key", &"k".repeat(5000)),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let options = (0..300)
        .map(|i| format!("选项{i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let kind = field(id, "kind");
    let r = post(
        &app,
        &c,
        &kind,
        &kind,
        &[
            ("kind", "radio"),
            ("label", "类型"),
            ("key", "kind"),
            ("options", &options),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(errors(&r.text().await.unwrap()).contains(&"选项不能超过 200 个".to_owned()));
    // Beyond what a form may be: refused before anything is read.
    let r = post(
        &app,
        &c,
        &reason,
        &reason,
        &[
            ("kind", "textarea"),
            ("label", &"x".repeat(1024 * 1024)),
            ("key", "reason"),
        ],
    )
    .await;
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("提交的内容过大"));
    assert!(draft(&app, id).await.is_none(), "nothing saved");
}

#[tokio::test]
async fn the_preview_follows_the_editor_and_switches_to_phone_width() {
    let app = spawn_app().await;
    let id = service(&app, "XSQJ").await;
    let c = signed_in(&app, "admin").await;
    let page = html(&app, &c, &designer(id)).await;
    assert!(
        attrs(&page, "#fd-frame", "class")[0]
            .split(' ')
            .all(|c| c != "phone")
    );
    assert!(!submittable(&page));
    let page = html(&app, &c, &format!("{}?preview=phone", designer(id))).await;
    assert!(
        attrs(&page, "#fd-frame", "class")[0]
            .split(' ')
            .any(|c| c == "phone")
    );
    // The editor's preview: the field as typed, nothing saved.
    let days = field(id, "days");
    let page = html(&app, &c, &days).await;
    assert!(!submittable(&page));
    let r = c
        .post(app.url(&format!("{days}/preview")))
        .form(&[
            ("_csrf", csrf_from(&page).as_str()),
            ("kind", "number"),
            ("label", "请假时长（天）"),
            ("key", "days"),
            ("required", "1"),
            ("max", "15"),
            ("placeholder", "最多 15 天"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let fragment = r.text().await.unwrap();
    assert!(!fragment.contains("<html"), "a fragment");
    assert!(fragment.contains("请假时长（天）"));
    assert!(fragment.contains("max=\"15\"") && fragment.contains("最多 15 天"));
    assert!(draft(&app, id).await.is_none());
    // 更换类型 without script: the editor again with the new type's settings, what was
    // typed kept, nothing saved.
    let reason = field(id, "reason");
    let r = post(
        &app,
        &c,
        &reason,
        &reason,
        &[
            ("kind", "select"),
            ("label", "请假原因"),
            ("key", "reason"),
            ("intent", "kind"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert_eq!(input_value(&page, "label"), "请假原因");
    assert_eq!(
        attrs(&page, "#fd-options", "name"),
        ["options"],
        "the options are asked for"
    );
    assert!(
        attrs(&page, "#fd-max-len", "name").is_empty(),
        "lengths are not a select's"
    );
    assert!(draft(&app, id).await.is_none());
    // What the workflow hides from the applicant (whole sections here) is not in the
    // preview; everything else is.
    let sections = service(&app, "LXSX").await;
    let (hidden, visible) = applicant_view(&app, sections).await;
    assert!(!hidden.is_empty() && visible > 0);
    let page = html(&app, &c, &designer(sections)).await;
    assert_eq!(select(&page, "#fd-preview-body .field").len(), visible);
    let names = attrs(&page, "#fd-preview-body [name]", "name");
    for key in hidden {
        assert!(
            !names.iter().any(|n| n.starts_with(&format!("f.{key}"))),
            "{key} is not the applicant's"
        );
    }
}

/// The keys of the value fields a service's current workflow hides from the applicant
/// (by their own entry or their section's), and how many value fields the applicant sees.
async fn applicant_view(app: &TestApp, id: i64) -> (Vec<String>, usize) {
    let (form, workflow): (Value, Value) = sqlx::query_as(
        "SELECT f.schema, w.definition FROM service_versions v
         JOIN form_definitions f ON f.id = v.form_def_id JOIN workflow_definitions w ON w.id = v.workflow_def_id
         WHERE v.service_id = $1 ORDER BY v.number DESC LIMIT 1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let rules = workflow["applicant_fields"].as_object().unwrap();
    let (mut hidden, mut visible, mut section) = (vec![], 0, None::<String>);
    for f in form["fields"].as_array().unwrap() {
        let key = f["key"].as_str().unwrap().to_owned();
        if f["type"] == "section" {
            section = Some(key);
            continue;
        }
        if f["type"] == "static" {
            continue;
        }
        let rule = rules
            .get(&key)
            .or_else(|| section.as_ref().and_then(|s| rules.get(s)));
        if rule.is_some_and(|r| r == "hidden") {
            hidden.push(key);
        } else {
            visible += 1;
        }
    }
    (hidden, visible)
}

/// The text of `css`, found again if the live preview redrew it between the finding and
/// the reading (a stale element under load).
async fn text_of(b: &Browser, css: &str) -> String {
    for _ in 0..20 {
        let e = b.client.find(Locator::Css(css)).await.unwrap();
        match e.text().await {
            Ok(t) => return t,
            Err(fantoccini::error::CmdError::Standard(w))
                if w.error == fantoccini::error::ErrorStatus::StaleElementReference =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{css}: {e}"),
        }
    }
    panic!("{css} kept being redrawn")
}

/// Waits until the text of `css` contains `needle`.
async fn wait_text(b: &Browser, css: &str, needle: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(e) = b.client.find(Locator::Css(css)).await
            && e.text().await.is_ok_and(|t| t.contains(needle))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} never showed {needle}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn drag_add_and_the_live_preview_in_chromium() {
    let app = spawn_app().await;
    let Some(b) = Browser::start(1280, 900).await else {
        return;
    };
    let id = service(&app, "XSQJ").await;
    sign_in(&b, &app, "admin").await;
    let c = &b.client;
    c.goto(&app.url(&designer(id))).await.unwrap();
    c.wait()
        .for_element(Locator::Css(".fd-js .fd-handle"))
        .await
        .unwrap();
    b.shot("formd", "form-designer-1280").await;

    // Drag 请假天数 above 姓名 by its handle.
    let handle = c
        .find(Locator::Css("#fd-row-days .fd-handle"))
        .await
        .unwrap();
    let target = c.find(Locator::Css("#fd-row-name")).await.unwrap();
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: handle,
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveToElement {
            element: target.clone(),
            duration: Some(Duration::from_millis(200)),
            x: 0.0,
            y: 10.0,
        })
        .then(PointerAction::MoveToElement {
            element: target,
            duration: Some(Duration::from_millis(200)),
            x: 0.0,
            y: -15.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(drag).await.unwrap();
    wait_text(&b, "#fd-status", "已调整字段顺序").await;
    let order = keys(&app, id).await;
    assert_eq!(
        &order[..3],
        ["days", "name", "account"],
        "saved in the dragged order"
    );
    // The list and the preview follow without a reload.
    wait_text(&b, "#fd-preview-body .field", "请假天数").await;
    assert!(
        text_of(&b, ".fd-list .fd-row:first-child")
            .await
            .contains("请假天数")
    );
    // The buttons of the replaced list carry the new revision: 下移 works at once.
    let revision = draft(&app, id).await.unwrap().2;
    let shown: String = c
        .find(Locator::Css(".fd-list [name=revision]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown, revision.to_string());

    // Add a 单行文本 after 请假事由; its editor opens and the preview follows the typing.
    c.find(Locator::Css("#fd-after"))
        .await
        .unwrap()
        .select_by_value("reason")
        .await
        .unwrap();
    click(c, "button.fd-kind[value=text]").await;
    c.wait()
        .for_element(Locator::Css("form.fd-editor #fd-label"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/form/fields/field_11")
    );
    fill(c, "#fd-label", "紧急联系人").await;
    fill(c, "#fd-key", "contact").await;
    wait_text(&b, "#fd-preview-body", "紧急联系人").await;
    assert!(
        draft(&app, id).await.unwrap().2 == revision + 1,
        "typing saves nothing"
    );
    b.shot("formd", "form-designer-editor-1280").await;
    click(c, "form.fd-editor .actions button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    assert!(
        text_of(&b, ".flash-success")
            .await
            .contains("已保存字段“紧急联系人”")
    );
    let order = keys(&app, id).await;
    let at = order.iter().position(|k| k == "reason").unwrap();
    assert_eq!(order[at + 1], "contact");
    assert!(text_of(&b, "#fd-preview-body").await.contains("紧急联系人"));

    // 手机: the preview at phone width, without a reload.
    click(c, "[data-fd-width=phone]").await;
    let class: String = c
        .find(Locator::Css("#fd-frame"))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap()
        .unwrap();
    assert!(class.contains("phone"));
    let width: f64 = c
        .execute(
            "return document.getElementById('fd-frame').getBoundingClientRect().width;",
            vec![],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!((width - 390.0).abs() < 1.0, "a 390 px frame, not {width}");
    c.execute(
        "document.getElementById('fd-frame').scrollIntoView(); return null;",
        vec![],
    )
    .await
    .unwrap();
    b.shot("formd", "form-designer-phone-preview-1280").await;
    b.close().await;

    // On a phone: the list, then the preview below it; the editor; a sub-table's columns.
    let Some(p) = Browser::start(390, 844).await else {
        return;
    };
    sign_in(&p, &app, "admin").await;
    let c = &p.client;
    c.goto(&app.url(&designer(id))).await.unwrap();
    p.shot("formd", "form-designer-390").await;
    let overflow: bool = c
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            vec![],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap();
    assert!(!overflow, "nothing wider than the phone");
    c.execute(
        "document.getElementById('fd-add').scrollIntoView(); return null;",
        vec![],
    )
    .await
    .unwrap();
    p.shot("formd", "form-designer-add-390").await;
    c.execute(
        "document.getElementById('fd-frame').scrollIntoView(); return null;",
        vec![],
    )
    .await
    .unwrap();
    p.shot("formd", "form-designer-preview-390").await;
    c.goto(&app.url(&field(id, "days"))).await.unwrap();
    p.shot("formd", "form-designer-editor-390").await;
    // A refused edit on a phone: the messages next to the inputs.
    fill(c, "#fd-min", "10").await;
    fill(c, "#fd-max", "1").await;
    click(c, "form.fd-editor .actions button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css(".fd-pair-error"))
        .await
        .unwrap();
    assert_eq!(text_of(&p, ".fd-pair-error").await, "最小值大于最大值");
    c.execute(
        "document.querySelector('.fd-pair-error').scrollIntoView({block: 'center'}); return null;",
        vec![],
    )
    .await
    .unwrap();
    p.shot("formd", "form-designer-editor-error-390").await;
    let ccsp = service(&app, "CCSP").await;
    c.goto(&app.url(&designer(ccsp))).await.unwrap();
    let href = c
        .execute(
            "var rows = document.querySelectorAll('.fd-row'); for (var i = 0; i < rows.length; i++) { if (rows[i].textContent.indexOf('子表') >= 0) return rows[i].querySelector('.fd-actions a').getAttribute('href'); } return null;",
            vec![],
        )
        .await
        .unwrap();
    c.goto(&app.url(href.as_str().unwrap())).await.unwrap();
    c.execute(
        "document.getElementById('fd-columns').scrollIntoView(); return null;",
        vec![],
    )
    .await
    .unwrap();
    p.shot("formd", "form-designer-columns-390").await;
    let overflow: bool = c
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            vec![],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap();
    assert!(!overflow, "the sub-table editor fits the phone");
    p.close().await;
}
