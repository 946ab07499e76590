//! Result documents: 在读证明 as a PDF with real text (pdftotext), a QR code that decodes to
//! the verify page, the seal only where its node approved, the same file every time,
//! verification by code and by upload (a changed byte is not issued), revocation and who
//! may download.

use std::process::Command;

use reqwest::Client;
use sha2::Digest;

use crate::{
    forms::{act, apply_leave, post_form, service},
    helpers::*,
};

/// 张三 applies for 在读证明 and the registrar approves: the application's id.
pub async fn finished_certificate(app: &TestApp) -> (i64, Client) {
    let student = signed_in(app, "S2024001").await;
    let sid = service(app, "ZDZM").await;
    let page = format!("/services/{sid}/apply");
    let fields = [
        ("f.lang", "中文".to_owned()),
        ("f.purpose", "实习就业".to_owned()),
        ("f.copies", "1".to_owned()),
        ("f.delivery", "下载电子版".to_owned()),
    ];
    let r = post_form(app, &student, &page, &page, "submit", &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let id: i64 = location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    let registrar = signed_in(app, "T4101").await;
    let r = act(
        app,
        &registrar,
        id,
        "approve",
        "registrar",
        &[("comment", "学籍在读")],
    )
    .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    (id, student)
}

pub fn tool(name: &str) -> bool {
    Command::new(name).arg("-v").output().is_ok()
}

pub fn text_of(pdf: &[u8]) -> String {
    let f = std::env::temp_dir().join(format!("doc-{}.pdf", uuid::Uuid::new_v4().simple()));
    std::fs::write(&f, pdf).unwrap();
    let out = Command::new("pdftotext").arg(&f).arg("-").output().unwrap();
    let _ = std::fs::remove_file(&f);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn images_in(pdf: &[u8]) -> usize {
    let f = std::env::temp_dir().join(format!("doc-{}.pdf", uuid::Uuid::new_v4().simple()));
    std::fs::write(&f, pdf).unwrap();
    let out = Command::new("pdfimages")
        .arg("-list")
        .arg(&f)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&f);
    // Two header lines, then one line per image (a PNG with transparency lists its mask too).
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(2)
        .filter(|l| l.split_whitespace().nth(2) == Some("image"))
        .count()
}

/// The first page as PNG (pdftoppm), kept in /tmp/shots/documents for looking at, and the
/// text of the QR code found on it.
pub fn qr_of(pdf: &[u8], name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("doc-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("d.pdf");
    std::fs::write(&f, pdf).unwrap();
    let ok = Command::new("pdftoppm")
        .args(["-r", "150", "-png", "-singlefile"])
        .arg(&f)
        .arg(dir.join("page"))
        .status()
        .unwrap();
    assert!(ok.success());
    let png = std::fs::read(dir.join("page.png")).unwrap();
    if std::fs::create_dir_all("/tmp/shots/documents").is_ok() {
        let _ = std::fs::write(format!("/tmp/shots/documents/{name}.png"), &png);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let img = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    grids[0].decode().unwrap().1
}

#[tokio::test]
async fn a_certificate_is_issued_once_verifiable_and_revocable() {
    if !tool("pdftotext") {
        assert!(
            !std::env::var("E2E_REQUIRED").is_ok_and(|v| v == "1"),
            "poppler-utils missing"
        );
        return;
    }
    let app = spawn_app().await;
    let (id, student) = finished_certificate(&app).await;
    let html = app
        .get_with(&student, &format!("/applications/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("下载 PDF"));
    let r = app
        .get_with(&student, &format!("/applications/{id}/document.pdf"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap().to_vec();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.len() < 300 * 1024, "{} bytes", pdf.len());

    // Real text: the holder, the 流水号, the service, the department.
    let serial: String = sqlx::query_scalar("SELECT serial_no FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let text = text_of(&pdf);
    for want in [
        "在读证明",
        "张三",
        "S2024001",
        serial.as_str(),
        "教务处",
        "实习就业",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
    // The registrar approved: the seal is on it.
    assert!(images_in(&pdf) >= 1, "the seal image");

    // The QR code leads to the verify page, which anyone can open.
    let url = qr_of(&pdf, "certificate");
    let code: String = sqlx::query_scalar("SELECT code FROM documents WHERE application_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(url, app.url(&format!("/verify/{code}")));
    let anon = new_client();
    let page = anon.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(
        text_of_class(&page, "verify-status").as_deref(),
        Some("有效")
    );
    assert!(
        page.contains("张*") && !page.contains("张三"),
        "the holder's name is masked"
    );
    let hash = hex::encode(sha2::Sha256::digest(&pdf));
    assert!(page.contains(&hash));

    // The same file every time.
    let again = app
        .get_with(&student, &format!("/applications/{id}/document.pdf"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(again.to_vec(), pdf);

    // The signature checks offline with the published key.
    let key: serde_json::Value = anon
        .get(app.url("/verify/key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    use base64::Engine;
    let pk = base64::engine::general_purpose::STANDARD
        .decode(key["public_key"].as_str().unwrap())
        .unwrap();
    let sig: Vec<u8> =
        sqlx::query_scalar("SELECT signature FROM documents WHERE application_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk.try_into().unwrap()).unwrap();
    vk.verify_strict(
        &sha2::Sha256::digest(&pdf),
        &ed25519_dalek::Signature::from_slice(&sig).unwrap(),
    )
    .expect("the signature verifies");

    // Upload: the file is recognised; one changed byte is not.
    let upload = |bytes: Vec<u8>| {
        let anon = anon.clone();
        let u = app.url("/verify");
        async move {
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name("d.pdf"),
            );
            anon.post(u)
                .header("accept", "application/json")
                .multipart(form)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let v = upload(pdf.clone()).await;
    assert_eq!(v["issued"], true);
    assert_eq!(v["valid"], true);
    assert_eq!(v["code"], code.as_str());
    let mut changed = pdf.clone();
    let at = changed.len() / 2;
    changed[at] ^= 1;
    let v = upload(changed).await;
    assert_eq!(v["issued"], false);

    // Who may download: the holder and the approver; anyone else 404.
    let registrar = signed_in(&app, "T4101").await;
    assert_eq!(
        app.get_with(&registrar, &format!("/applications/{id}/document.pdf"))
            .await
            .status(),
        200
    );
    let other = signed_in(&app, "T2002").await;
    assert_eq!(
        app.get_with(&other, &format!("/applications/{id}/document.pdf"))
            .await
            .status(),
        404
    );

    // Only a service admin or 系统管理员 revokes; then the page says so.
    let r = app
        .submit(
            &other,
            "/",
            &format!("/applications/{id}/document/revoke"),
            &[("reason", "x")],
        )
        .await;
    assert_eq!(r.status(), 404);
    let admin = signed_in(&app, "admin").await;
    let r = app
        .submit(
            &admin,
            "/",
            &format!("/applications/{id}/document/revoke"),
            &[("reason", "学籍状态变更")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = anon.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(
        text_of_class(&page, "verify-status").as_deref(),
        Some("已作废")
    );
    assert!(page.contains("学籍状态变更"));
    assert_eq!(upload(pdf).await["valid"], false);
    assert_eq!(app.audit_count("document.revoke", "success").await, 1);
    assert_eq!(
        anon.get(app.url("/verify/ABCD-EFGH-JKMN"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn the_seal_only_where_its_node_approved_and_nothing_for_an_unfinished_application() {
    if !tool("pdftotext") {
        assert!(
            !std::env::var("E2E_REQUIRED").is_ok_and(|v| v == "1"),
            "poppler-utils missing"
        );
        return;
    }
    let app = spawn_app().await;
    // 学生请假 issues a note sealed at the 副书记's node, which only leaves over 3 days visit.
    sqlx::query(
        "INSERT INTO document_settings (service_id, title, body, seal_node, seal_id)
         SELECT s.id, '请假证明', '{name} 的请假已获批准。', 'deputy', (SELECT min(id) FROM seals)
           FROM services s WHERE s.code = 'XSQJ'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let short = apply_leave(&app, &student, "1").await;
    assert!(
        act(
            &app,
            &counselor,
            short,
            "approve",
            "counselor",
            &[("comment", "同意")]
        )
        .await
        .status()
        .is_redirection()
    );
    let pdf = app
        .get_with(&student, &format!("/applications/{short}/document.pdf"))
        .await
        .bytes()
        .await
        .unwrap();
    assert!(text_of(&pdf).contains("请假证明"));
    assert_eq!(images_in(&pdf), 0, "the deputy never approved: no seal");

    // Still running: nothing to download.
    let long = apply_leave(&app, &student, "5").await;
    assert_eq!(
        app.get_with(&student, &format!("/applications/{long}/document.pdf"))
            .await
            .status(),
        404
    );
    assert!(
        act(
            &app,
            &counselor,
            long,
            "approve",
            "counselor",
            &[("comment", "同意")]
        )
        .await
        .status()
        .is_redirection()
    );
    let deputy: String = sqlx::query_scalar(
        "SELECT u.account FROM tasks t JOIN users u ON u.id = t.assignee_id
          WHERE t.application_id = $1 AND t.status = 'pending' LIMIT 1",
    )
    .bind(long)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let deputy = signed_in(&app, &deputy).await;
    assert!(
        act(
            &app,
            &deputy,
            long,
            "approve",
            "deputy",
            &[("comment", "同意")]
        )
        .await
        .status()
        .is_redirection()
    );
    let pdf = app
        .get_with(&student, &format!("/applications/{long}/document.pdf"))
        .await
        .bytes()
        .await
        .unwrap();
    assert!(images_in(&pdf) >= 1, "sealed after the deputy approved");

    // Terminated: no document.
    let stopped = apply_leave(&app, &student, "1").await;
    assert!(
        act(
            &app,
            &counselor,
            stopped,
            "terminate",
            "counselor",
            &[("comment", "材料不全")]
        )
        .await
        .status()
        .is_redirection()
    );
    assert_eq!(
        app.get_with(&student, &format!("/applications/{stopped}/document.pdf"))
            .await
            .status(),
        404
    );
}

/// 出具证明 in 服务管理: settings checked next to their fields, a seal uploaded (PNG only),
/// and the next finished application's document follows them.
#[tokio::test]
async fn a_service_admin_sets_up_the_document_and_uploads_a_seal() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let sid = service(&app, "XSQJ").await;
    let page = format!("/admin/services/{sid}/document");
    let html = app.get_with(&admin, &page).await.text().await.unwrap();
    assert!(
        html.contains("出具证明") && html.contains("辅导员"),
        "the workflow's nodes are offered"
    );
    // A missing title: 422, what was typed kept, nothing saved.
    let r = app
        .submit(
            &admin,
            &page,
            &page,
            &[("enabled", "on"), ("title", ""), ("body", "正文保留")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("正文保留") && html.contains("请填写证明名称"));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM document_settings WHERE service_id = $1")
        .bind(sid)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);

    // A seal: not a PNG is refused; a PNG is kept (and never served).
    let html = app.get_with(&admin, &page).await.text().await.unwrap();
    let token = csrf_from(&html);
    let upload = |bytes: Vec<u8>| {
        let form = reqwest::multipart::Form::new()
            .text("name", "示范大学学生工作部")
            .part(
                "seal",
                reqwest::multipart::Part::bytes(bytes).file_name("seal.png"),
            );
        admin
            .post(app.url(&format!("{page}/seal?_csrf={token}")))
            .multipart(form)
            .send()
    };
    assert_eq!(
        upload(b"GIF89a not a png".to_vec()).await.unwrap().status(),
        303
    );
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM seals")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let png = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/seals/HR.png")).unwrap();
    assert_eq!(upload(png).await.unwrap().status(), 303);
    let (seal, after): (i64, i64) = sqlx::query_as("SELECT max(id), count(*) FROM seals")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(after, before + 1, "only the PNG was kept");
    assert_eq!(app.audit_count("seal.upload", "success").await, 1);

    let seal = seal.to_string();
    let r = app
        .submit(
            &admin,
            &page,
            &page,
            &[
                ("enabled", "on"),
                ("title", "请假证明"),
                ("body", "{name} 的请假已获批准。"),
                ("fields", "reason"),
                ("seal_node", "counselor"),
                ("seal_id", seal.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let student = signed_in(&app, "S2024001").await;
    let counselor = signed_in(&app, "T2101").await;
    let id = apply_leave(&app, &student, "1").await;
    assert!(
        act(
            &app,
            &counselor,
            id,
            "approve",
            "counselor",
            &[("comment", "同意")]
        )
        .await
        .status()
        .is_redirection()
    );
    let r = app
        .get_with(&student, &format!("/applications/{id}/document.pdf"))
        .await;
    assert_eq!(r.status(), 200);
    let sealed: bool = sqlx::query_scalar("SELECT sealed FROM documents WHERE application_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(sealed);
    // Turned off: later applications get none.
    let r = app
        .submit(&admin, &page, &page, &[("title", "请假证明")])
        .await;
    assert_eq!(r.status(), 303);
    let id2 = apply_leave(&app, &student, "1").await;
    assert!(
        act(
            &app,
            &counselor,
            id2,
            "approve",
            "counselor",
            &[("comment", "同意")]
        )
        .await
        .status()
        .is_redirection()
    );
    assert_eq!(
        app.get_with(&student, &format!("/applications/{id2}/document.pdf"))
            .await
            .status(),
        404
    );
}
