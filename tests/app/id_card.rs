//! Issue 17.10: the 身份证号 on file fills forms (masked to the applicant and read-only,
//! whole for the approvers); dates keep to their field's limit, and a birth date agrees
//! with the ID number.

use crate::{forms::*, helpers::*};

/// 教职工因公出国 as 李晓梅 (T2002, 身份证号 44030619980512341X on file) fills it.
fn travel(birth: &str, id: &str) -> Vec<(&'static str, String)> {
    [
        ("f.ethnicity", "汉族"),
        ("f.birth_date", birth),
        ("f.birth_place", "广东深圳"),
        ("f.id_card", id),
        ("f.phone", "13900001002"),
        ("f.email", "lixm@demo.edu.cn"),
        ("f.passport", "因公护照"),
        ("f.profile", "计算机学院讲师"),
        ("f.task", "参加国际学术会议"),
        ("f.funding", "科研项目经费"),
        ("f.itinerary.0.date", "2026-12-10"),
        ("f.itinerary.0.country", "新加坡"),
        ("f.days", "5"),
        ("f.cost", "12000"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

async fn applications(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
}

#[tokio::test]
async fn the_id_number_on_file_is_filled_masked_and_cannot_be_changed() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let page = format!("/services/{}/apply", service(&app, "CGCJ").await);
    let html = app.get_with(&teacher, &page).await.text().await.unwrap();
    assert!(html.contains("4403**********341X"), "{html}");
    assert!(html.contains("在册身份证号，不能修改"));
    assert!(
        !html.contains("44030619980512341X"),
        "the whole number is not on the page"
    );
    assert!(!html.contains("name=\"f.id_card\""), "no input for it");
    // Someone else's number posted anyway: the one on file is what is stored.
    let r = post_form(
        &app,
        &teacher,
        &page,
        &page,
        "submit",
        &travel("1998-05-12", "11010519491231002X"),
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let to = location(&r);
    let stored: String = sqlx::query_scalar("SELECT data->>'id_card' FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, "44030619980512341X");
    // The applicant's own page masks it; the approver sees the number they check.
    let mine = app.get_with(&teacher, &to).await.text().await.unwrap();
    assert!(mine.contains("4403**********341X") && !mine.contains(&stored));
    let head = signed_in(&app, "T2001").await;
    let theirs = app.get_with(&head, &to).await.text().await.unwrap();
    assert!(theirs.contains(&stored), "{theirs}");
}

#[tokio::test]
async fn without_a_number_on_file_the_applicant_types_it() {
    let app = spawn_app().await;
    sqlx::query("UPDATE users SET id_card_sealed = NULL WHERE account = 'T2002'")
        .execute(&app.db)
        .await
        .unwrap();
    let teacher = signed_in(&app, "T2002").await;
    let page = format!("/services/{}/apply", service(&app, "CGCJ").await);
    let html = app.get_with(&teacher, &page).await.text().await.unwrap();
    assert!(
        html.contains("name=\"f.id_card\""),
        "an input to type it in"
    );
    let r = post_form(
        &app,
        &teacher,
        &page,
        &page,
        "submit",
        &travel("1998-05-12", "44030619980512341x"),
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_birth_date_is_in_the_past_and_agrees_with_the_id_number() {
    let app = spawn_app().await;
    let teacher = signed_in(&app, "T2002").await;
    let page = format!("/services/{}/apply", service(&app, "CGCJ").await);
    // The picker offers nothing from today on.
    let html = app.get_with(&teacher, &page).await.text().await.unwrap();
    let yesterday = today().pred_opt().unwrap().format("%Y-%m-%d").to_string();
    assert!(
        html.contains(&format!(
            "name=\"f.birth_date\" type=\"date\" value=\"\" max=\"{yesterday}\""
        )),
        "{html}"
    );
    let cases = [
        (
            "1998-05-13".to_owned(),
            "出生日期与身份证号中的出生日期（1998-05-12）不一致",
        ),
        (today().format("%Y-%m-%d").to_string(), "出生日期须早于今天"),
    ];
    for (birth, message) in cases {
        let r = post_form(&app, &teacher, &page, &page, "submit", &travel(&birth, "")).await;
        assert_eq!(r.status(), 422, "{birth}");
        let html = r.text().await.unwrap();
        // The message next to the field, the date as typed kept.
        let at = html.find("id=\"field-birth_date\"").expect("the field");
        let field = &html[at..at + html[at..].find("</div>\n").unwrap_or(2000)];
        assert!(field.contains(message), "{birth}: {field}");
        assert!(field.contains(&format!("value=\"{birth}\"")), "{field}");
        assert_eq!(applications(&app).await, 0);
    }
}

/// In Chromium at both widths: the masked number read-only, the date picker refusing
/// today (the browser's own check stops the 提交), nothing wider than the window.
#[tokio::test]
async fn browser_the_travel_form_shows_the_number_masked_and_bounds_the_birth_date() {
    use fantoccini::Locator;
    let app = spawn_app().await;
    let sid = service(&app, "CGCJ").await;
    for (width, height) in [(1280, 900), (390, 844)] {
        let Some(b) = crate::browser::Browser::start(width, height).await else {
            return;
        };
        crate::browser::sign_in(&b, &app, "T2002").await;
        let c = &b.client;
        c.goto(&app.url(&format!("/services/{sid}/apply")))
            .await
            .unwrap();
        let wide = c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(wide, serde_json::json!(true), "{width}: fits");
        let shown = c
            .find(Locator::Css(".field.readonly .value"))
            .await
            .unwrap();
        let mut texts = Vec::new();
        for e in c.find_all(Locator::Css(".field.readonly")).await.unwrap() {
            texts.push(e.text().await.unwrap());
        }
        assert!(
            texts.iter().any(|t| t.contains("4403**********341X")),
            "{texts:?} ({})",
            shown.text().await.unwrap()
        );
        // Today is out of range for the picker: the browser says so before posting.
        let birth = c.find(Locator::Css("#in-birth_date")).await.unwrap();
        let valid = c
            .execute(
                "const e = document.querySelector('#in-birth_date');
                 e.value = arguments[0]; return e.checkValidity();",
                vec![serde_json::json!(today().format("%Y-%m-%d").to_string())],
            )
            .await
            .unwrap();
        assert_eq!(valid, serde_json::json!(false));
        assert!(birth.attr("max").await.unwrap().is_some());
        crate::browser::center(c, "#in-birth_date").await;
        b.shot("id-card", &format!("travel-form-{width}")).await;
        b.close().await;
    }
}
