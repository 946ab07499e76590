//! 管理后台 › 批量导入 (people): CSV in UTF-8 and GBK and XLSX through the real upload →
//! preview → 确认导入 → job → result path; a second import of the same file changes
//! nothing; refused rows with their reasons (page and CSV); bulk 激活码; who may.

use std::time::Duration;

use reqwest::{
    Client,
    multipart::{Form, Part},
};

use crate::helpers::*;

const HEADER: &str = "学号/工号,姓名,类型,部门,手机,邮箱,证件号,角色";

/// A valid GB 11643 number, different for every `seq` below 10,000.
pub fn id_number(seq: u32) -> String {
    let body = format!("110105{}0101{:03}", 1980 + seq / 1000, seq % 1000);
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    format!("{body}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// `n` people P000000…: students of CS, each with phone, e-mail and ID number.
pub fn people_csv(n: u32) -> String {
    let mut s = format!("{HEADER}\n");
    for i in 0..n {
        s.push_str(&format!(
            "P{i:06},学生{i},学生,CS,186{i:08},p{i}@example.edu.cn,{},\n",
            id_number(i)
        ));
    }
    s
}

/// Uploads through the page's form; the response (a redirect to the import on success).
async fn upload(app: &TestApp, c: &Client, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    let html = app
        .get_with(c, "/admin/people/import")
        .await
        .text()
        .await
        .unwrap();
    let token = csrf_from(&html);
    c.post(app.url(&format!("/admin/people/import?_csrf={token}")))
        .multipart(Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned())))
        .send()
        .await
        .unwrap()
}

/// Uploads and follows to the preview: (import path, preview page).
async fn preview(app: &TestApp, c: &Client, name: &str, bytes: Vec<u8>) -> (String, String) {
    let r = upload(app, c, name, bytes).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let path = location(&r);
    let html = app.get_with(c, &path).await.text().await.unwrap();
    (path, html)
}

fn count(html: &str, cls: &str) -> i64 {
    text_of_class(html, cls).unwrap().trim().parse().unwrap()
}

/// 确认导入, then the progress page until it says 已完成 (the job starts at once).
async fn confirm(app: &TestApp, c: &Client, path: &str, preview: &str) -> String {
    let r = c
        .post(app.url(&format!("{path}/confirm")))
        .form(&[("_csrf", csrf_from(preview))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    for _ in 0..600 {
        let html = app.get_with(c, path).await.text().await.unwrap();
        let status = text_of_class(&html, "import-status").unwrap();
        match status.trim() {
            "已完成" => return html,
            "排队中" | "导入中" => {
                assert!(html.contains(r#"<meta http-equiv="refresh""#));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("import ended {other}: {html}"),
        }
    }
    panic!("the import did not finish in 60 s");
}

async fn imported(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE account LIKE 'P%'")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn five_thousand_people_twice_the_second_time_changes_nothing() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let file = people_csv(5000).into_bytes();

    let (path, html) = preview(&app, &admin, "people.csv", file.clone()).await;
    assert_eq!(count(&html, "count-new"), 5000);
    assert_eq!(count(&html, "count-refused"), 0);
    assert_eq!(imported(&app).await, 0, "the preview writes no one");
    let html = confirm(&app, &admin, &path, &html).await;
    assert_eq!(count(&html, "count-new"), 5000);
    assert_eq!(imported(&app).await, 5000);
    let (inactive, no_password, masked): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'inactive'), count(*) FILTER (WHERE password_hash IS NULL),
                count(*) FILTER (WHERE id_card_masked LIKE '1101**********%' AND length(id_card_hash) = 32
                                        AND length(id_card_sealed) = 24 + 18 + 16)
         FROM users WHERE account LIKE 'P%'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((inactive, no_password, masked), (5000, 5000, 5000));
    let stamp: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(updated_at) FROM users WHERE account LIKE 'P%'")
            .fetch_one(&app.db)
            .await
            .unwrap();

    // Again: all unchanged, nothing to confirm; confirming anyway writes nothing.
    let (path2, html) = preview(&app, &admin, "people.csv", file).await;
    assert_eq!(count(&html, "count-unchanged"), 5000);
    assert_eq!(count(&html, "count-new") + count(&html, "count-changed"), 0);
    assert!(!html.contains("确认导入</button>"));
    let html = confirm(&app, &admin, &path2, &html).await;
    assert_eq!(count(&html, "count-unchanged"), 5000);
    assert_eq!(count(&html, "count-new") + count(&html, "count-changed"), 0);
    assert_eq!(imported(&app).await, 5000);
    let stamp2: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(updated_at) FROM users WHERE account LIKE 'P%'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stamp, stamp2, "unchanged rows are not written");
    for action in [
        "people.import.upload",
        "people.import.confirm",
        "people.import.done",
    ] {
        assert_eq!(app.audit_count(action, "success").await, 2, "{action}");
    }
}

#[tokio::test]
async fn valid_rows_go_in_refused_rows_are_listed_with_their_reasons() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let mut bad_check = id_number(7);
    bad_check.replace_range(17.., if bad_check.ends_with('0') { "1" } else { "0" });
    let demo_phone: String = sqlx::query_scalar(
        "SELECT phone FROM users WHERE phone IS NOT NULL AND account <> 'PX' LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let file = format!(
        "{HEADER}\n\
         P1,甲,学生,CS,13900000001,,{},\n\
         P2,乙,学生,CS,13900000002,,{bad_check},\n\
         P3,丙,学生,NOPE,13900000003,,,\n\
         P1,丁,学生,CS,13900000004,,,\n\
         P5,戊,学生,CS,12345,,,\n\
         P6,己,校友,CS,,,,\n\
         P7,庚,教师,计算机学院,,,,校长@CS\n\
         P8,辛,职工,ACA,{demo_phone},,,\n\
         P9,壬,教师,CS,13900000009,p9@example.edu.cn,{},辅导员@CS;服务管理员@ACA\n",
        id_number(1),
        id_number(9)
    );
    let (path, html) = preview(&app, &admin, "mixed.csv", file.into_bytes()).await;
    assert_eq!(count(&html, "count-new"), 2);
    assert_eq!(count(&html, "count-refused"), 7);
    let refused = texts_of_class(&html, "import-refused");
    let table = refused.join("");
    for (row, reason) in [
        ("3", "证件号无效"),
        ("4", "部门“NOPE”不存在"),
        ("5", "学号/工号在文件中重复"),
        ("6", "手机号“12345”格式有误"),
        ("7", "类型“校友”无效"),
        ("8", "角色“校长”不存在"),
        ("9", "手机号已被账号"),
    ] {
        assert!(table.contains(reason), "row {row}: {reason} in {table}");
    }
    assert!(!table.contains(&bad_check), "the ID number is never shown");
    let html = confirm(&app, &admin, &path, &html).await;
    assert_eq!(count(&html, "count-new"), 2);
    let accounts: Vec<String> =
        sqlx::query_scalar("SELECT account FROM users WHERE account LIKE 'P%' ORDER BY account")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(accounts, ["P1", "P9"]);
    let name: String = sqlx::query_scalar("SELECT name FROM users WHERE account = 'P1'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "甲", "the first of two rows of one account counts");
    let roles: Vec<String> = sqlx::query_scalar(
        "SELECT r.code || '@' || d.code FROM user_roles ur JOIN roles r ON r.id = ur.role_id
         JOIN departments d ON d.id = ur.department_id JOIN users u ON u.id = ur.user_id
         WHERE u.account = 'P9' ORDER BY r.code",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(roles, ["counselor@CS", "service_admin@ACA"]);

    // The refused rows as CSV, every one with its row number and reasons.
    let r = app.get_with(&admin, &format!("{path}/refused.csv")).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = r.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(body.trim_start_matches('\u{feff}').as_bytes());
    let rows: Vec<(String, String, String)> = rd
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[1].to_owned(), r[3].to_owned())
        })
        .collect();
    let numbers: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(numbers, ["3", "4", "5", "6", "7", "8", "9"]);
    assert!(rows[1].2.contains("部门“NOPE”不存在"));
    assert_eq!(rows[6].1, "P8");

    // 激活码 for the two created: a CSV, codes stored as hashes only.
    let html = app.get_with(&admin, &path).await.text().await.unwrap();
    let r = admin
        .post(app.url(&format!("{path}/codes")))
        .form(&[("_csrf", csrf_from(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(body.trim_start_matches('\u{feff}').as_bytes());
    let codes: Vec<(String, String)> = rd
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[2].to_owned())
        })
        .collect();
    assert_eq!(codes.len(), 2);
    assert_eq!(codes[0].0, "P1");
    assert!(
        codes
            .iter()
            .all(|(_, c)| c.len() == 9 && c.as_bytes()[4] == b'-')
    );
    let hashed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE account IN ('P1', 'P9') AND activation_code_hash IS NOT NULL",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(hashed, 2);
    assert_eq!(app.audit_count("people.import.codes", "success").await, 1);
}

#[tokio::test]
async fn gbk_csv_and_xlsx_read_alike() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let text = format!(
        "{HEADER}\nG1,欧阳娜娜,教师,计算机学院,13900000011,,,辅导员@CS\nG2,张三,学生,CS,,,,\n"
    );
    let (gbk, _, bad) = encoding_rs::GBK.encode(&text);
    assert!(!bad);
    let (path, html) = preview(&app, &admin, "gbk.csv", gbk.into_owned()).await;
    assert_eq!(count(&html, "count-new"), 2, "{html}");
    confirm(&app, &admin, &path, &html).await;
    let name: String = sqlx::query_scalar("SELECT name FROM users WHERE account = 'G1'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "欧阳娜娜");

    // The same people in a workbook, one of them renamed; 手机 typed as a number.
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in HEADER.split(',').enumerate() {
        ws.write_string(0, c as u16, h).unwrap();
    }
    let rows = [
        ["G1", "欧阳娜娜", "教师", "CS", "", "", "", "辅导员@CS"],
        [
            "G2",
            "张叁",
            "学生",
            "CS",
            "",
            "g2@example.edu.cn",
            &id_number(42),
            "",
        ],
        ["G3", "李四", "职工", "教务处", "", "", "", ""],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32 + 1, c as u16, *v).unwrap();
        }
    }
    ws.write_number(3, 4, 13900000033.0).unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let (path, html) = preview(&app, &admin, "people.xlsx", bytes).await;
    assert_eq!(
        (
            count(&html, "count-new"),
            count(&html, "count-changed"),
            count(&html, "count-unchanged")
        ),
        (1, 1, 1),
        "{html}"
    );
    confirm(&app, &admin, &path, &html).await;
    let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT account, name, phone, email FROM users WHERE account LIKE 'G%' ORDER BY account",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        rows[1],
        (
            "G2".into(),
            "张叁".into(),
            None,
            Some("g2@example.edu.cn".into())
        )
    );
    assert_eq!(
        rows[2],
        ("G3".into(), "李四".into(), Some("13900000033".into()), None)
    );
}

#[tokio::test]
async fn the_progress_page_refreshes_and_a_stale_job_is_taken_over() {
    // The schedule's worker (off in other tests) is what takes the stale job over.
    let app = spawn_app_with(|s| s.background_jobs = true).await;
    let admin = signed_in(&app, "admin").await;
    let (path, html) = preview(&app, &admin, "p.csv", people_csv(30).into_bytes()).await;
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    // As if a worker had claimed it just now and written 10 rows.
    sqlx::query("UPDATE people_imports SET status = 'running', claimed_at = now(), done_rows = 10 WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    let page = app.get_with(&admin, &path).await.text().await.unwrap();
    assert!(page.contains(r#"<meta http-equiv="refresh" content="2">"#));
    assert_eq!(text_of_class(&page, "import-done").unwrap(), "10");
    assert!(page.contains(r#"<progress class="import-progress" max="30" value="10">"#));
    // 确认导入 again does not queue it twice.
    let r = admin
        .post(app.url(&format!("{path}/confirm")))
        .form(&[("_csrf", csrf_from(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // That worker died: after its lease the schedule's worker goes on from row 10.
    sqlx::query("UPDATE people_imports SET claimed_at = now() - interval '1 hour' WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    let mut done = false;
    for _ in 0..100 {
        let page = app.get_with(&admin, &path).await.text().await.unwrap();
        if text_of_class(&page, "import-status").unwrap() == "已完成" {
            assert!(!page.contains("http-equiv"));
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "the stale job was taken over");
    assert_eq!(
        imported(&app).await,
        20,
        "rows 11–30; the first ten were 'written' by the dead worker"
    );
}

#[tokio::test]
async fn only_the_system_administrator_may_import() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let (path, html) = preview(&app, &admin, "p.csv", people_csv(3).into_bytes()).await;
    let done_path = {
        let (p, h) = preview(
            &app,
            &admin,
            "q.csv",
            format!("{HEADER}\nQ1,某,学生,CS,,,,\n").into_bytes(),
        )
        .await;
        confirm(&app, &admin, &p, &h).await;
        p
    };
    let _ = html;
    let state = || async {
        let s: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> =
            sqlx::query_as("SELECT status, codes_issued_at FROM people_imports ORDER BY id")
                .fetch_all(&app.db)
                .await
                .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM people_imports")
            .fetch_one(&app.db)
            .await
            .unwrap();
        (s, n)
    };
    let before = state().await;
    for who in ["T4401", "T2002", "S2024001", ""] {
        let c = if who.is_empty() {
            new_client()
        } else {
            signed_in(&app, who).await
        };
        // A token of this session, from a page everyone signed in can see.
        let token = if who.is_empty() {
            String::new()
        } else {
            csrf_from(&app.get_with(&c, "/center").await.text().await.unwrap())
        };
        let expect = |r: &reqwest::Response| {
            if who.is_empty() {
                assert!(
                    r.status() == 303 || r.status() == 403,
                    "signed out: {} {}",
                    r.url(),
                    r.status()
                );
            } else {
                assert_eq!(r.status(), 403, "{who}: {}", r.url());
            }
        };
        for get in [
            "/admin/people/import".to_owned(),
            path.clone(),
            format!("{done_path}/refused.csv"),
        ] {
            expect(&app.get_with(&c, &get).await);
        }
        let r = c
            .post(app.url(&format!("/admin/people/import?_csrf={token}")))
            .multipart(Form::new().part(
                "file",
                Part::bytes(people_csv(2).into_bytes()).file_name("x.csv"),
            ))
            .send()
            .await
            .unwrap();
        expect(&r);
        for post in [format!("{path}/confirm"), format!("{done_path}/codes")] {
            let r = c
                .post(app.url(&post))
                .form(&[("_csrf", &token)])
                .send()
                .await
                .unwrap();
            expect(&r);
        }
    }
    assert_eq!(state().await, before, "refused requests change nothing");
    assert_eq!(imported(&app).await, 0);
    // And the administrator's own: 200 on each page.
    for get in [
        "/admin/people/import".to_owned(),
        path.clone(),
        format!("{done_path}/refused.csv"),
    ] {
        assert_eq!(app.get_with(&admin, &get).await.status(), 200, "{get}");
    }
    assert_eq!(
        app.get_with(&admin, "/admin/people/import/999999")
            .await
            .status(),
        404
    );
}

/// Through the pages in Chromium: 用户管理 › 批量导入, a file with a bad row, the preview,
/// 确认导入, the progress page until the result; at 1280 and 390 px.
#[tokio::test]
async fn browser_imports_a_small_file() {
    use fantoccini::Locator;
    for (width, height) in [(1280, 900), (390, 844)] {
        let app = spawn_app().await;
        let Some(b) = crate::browser::Browser::start(width, height).await else {
            return;
        };
        let c = &b.client;
        crate::browser::sign_in(&b, &app, "admin").await;
        c.goto(&app.url("/admin/users")).await.unwrap();
        crate::browser::click(c, "a[href='/admin/people/import']").await;
        let input = c
            .wait()
            .for_element(Locator::Css("input#file"))
            .await
            .unwrap();
        let path =
            std::env::temp_dir().join(format!("people-{}.csv", uuid::Uuid::new_v4().simple()));
        std::fs::write(
            &path,
            format!("{HEADER}\nW1,王五,学生,CS,18600000001,,{},\nW2,赵六,教师,计算机学院,,,,辅导员@CS\nW3,孙七,学生,NOPE,,,,\n", id_number(3)),
        )
        .unwrap();
        input.send_keys(path.to_str().unwrap()).await.unwrap();
        b.shot("pimport", &format!("pimport-upload-{width}")).await;
        crate::browser::click(c, "main form[enctype] button[type=submit]").await;
        c.wait()
            .for_element(Locator::Css(".import-counts"))
            .await
            .unwrap();
        let html = c.source().await.unwrap();
        assert_eq!(count(&html, "count-new"), 2);
        assert_eq!(count(&html, "count-refused"), 1);
        assert!(html.contains("部门“NOPE”不存在"));
        b.shot("pimport", &format!("pimport-preview-{width}")).await;
        crate::browser::click(c, "form[action$='/confirm'] button[type=submit]").await;
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(".import-finished"))
            .await
            .unwrap();
        b.shot("pimport", &format!("pimport-result-{width}")).await;
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM users WHERE account IN ('W1', 'W2', 'W3')")
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(n, 2);
        let _ = std::fs::remove_file(path);
        b.close().await;
    }
}

async fn phones(app: &TestApp, prefix: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT account, phone FROM users WHERE account LIKE $1 ORDER BY account")
        .bind(format!("{prefix}%"))
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// Two people of one file swapping phones both import (the unique index on phones is
/// checked row by row, so the moving phones are cleared first); a phone held by someone
/// outside the file refuses that row — and the row that wanted its phone in turn — with
/// a reason, and the job still finishes, even when the clash appears after the preview.
#[tokio::test]
async fn a_phone_swap_within_a_file_imports_and_an_outside_clash_is_refused_per_row() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let (outsider, taken): (String, String) = sqlx::query_as(
        "SELECT account, phone FROM users WHERE phone IS NOT NULL ORDER BY account LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let first = format!(
        "{HEADER}\n\
         Q1,甲,学生,CS,13900000101,,,\n\
         Q2,乙,学生,CS,13900000102,,,\n\
         Q3,丙,学生,CS,13900000103,,,\n\
         Q4,丁,学生,CS,13900000104,,,\n\
         Q5,戊,学生,CS,13900000105,,,\n"
    );
    let (path, html) = preview(&app, &admin, "first.csv", first.into_bytes()).await;
    confirm(&app, &admin, &path, &html).await;
    assert_eq!(phones(&app, "Q").await.len(), 5);

    // Q1 and Q2 swap; Q3 wants the outsider's phone (refused, so Q3 keeps 103, and Q4,
    // which wants 103, is refused too); Q5 moves to a free number taken after the preview.
    let second = format!(
        "{HEADER}\n\
         Q1,甲,学生,CS,13900000102,,,\n\
         Q2,乙,学生,CS,13900000101,,,\n\
         Q4,丁,学生,CS,13900000103,,,\n\
         Q3,丙,学生,CS,{taken},,,\n\
         Q5,戊,学生,CS,13900000199,,,\n"
    );
    let (path, html) = preview(&app, &admin, "swap.csv", second.into_bytes()).await;
    assert_eq!(count(&html, "count-changed"), 3, "Q1, Q2 and Q5");
    assert_eq!(count(&html, "count-refused"), 2, "Q3 and Q4");
    let table = texts_of_class(&html, "import-refused").join("");
    assert!(
        table.contains(&format!("手机号已被账号 {outsider} 使用")),
        "{table}"
    );
    assert!(table.contains("手机号已被账号 Q3 使用"), "{table}");
    sqlx::query("UPDATE users SET phone = '13900000199' WHERE account = $1")
        .bind(&outsider)
        .execute(&app.db)
        .await
        .unwrap();
    let html = confirm(&app, &admin, &path, &html).await;
    assert_eq!(count(&html, "count-changed"), 2);
    assert_eq!(count(&html, "count-refused"), 3);
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        phones(&app, "Q").await,
        [
            ("Q1".to_owned(), some("13900000102")),
            ("Q2".to_owned(), some("13900000101")),
            ("Q3".to_owned(), some("13900000103")),
            ("Q4".to_owned(), some("13900000104")),
            ("Q5".to_owned(), some("13900000105")),
        ]
    );
    let r = app.get_with(&admin, &format!("{path}/refused.csv")).await;
    let body = r.text().await.unwrap();
    assert!(
        body.contains(&format!("手机号已被账号 {outsider} 使用")),
        "{body}"
    );
    assert_eq!(app.audit_count("people.import.done", "success").await, 2);
}

/// Credentials are identity's: the import's own SQL writes profiles only and leaves
/// status, phone and ID number to `identity::accounts::write_imported`, in its transaction.
#[test]
fn the_import_leaves_credentials_to_identity() {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/org/import.rs")).unwrap();
    let writes: Vec<&str> = src
        .split('"')
        .filter(|s| s.contains("INSERT INTO users") || s.contains("UPDATE users"))
        .collect();
    assert!(!writes.is_empty());
    for stmt in writes {
        for col in [
            "status",
            "phone",
            "id_card",
            "password",
            "must_change",
            "activation",
            "auth_epoch",
        ] {
            assert!(!stmt.contains(col), "org::import writes {col}: {stmt}");
        }
    }
    assert!(src.contains("accounts::write_imported(conn"));
}
