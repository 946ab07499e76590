//! Result documents, part 2: handwritten signatures kept with the approval that made them
//! and placed where the document's template says; whole sections of the form; the
//! document box on the application page (作废证明 for the service's admins); a missing
//! font is a clear 503.

use reqwest::Client;

use crate::{
    documents::{finished_certificate, images_in, qr_of, text_of, tool},
    forms::{act, post_form, service},
    helpers::*,
};

fn poppler() -> bool {
    if tool("pdftotext") {
        return true;
    }
    assert!(
        !std::env::var("E2E_REQUIRED").is_ok_and(|v| v == "1"),
        "poppler-utils missing"
    );
    false
}

/// 李小明 (T2002) asks to use the seal on `doc`: the application, waiting for his
/// 部门负责人 (T2001), whose 通过 takes a signature.
pub async fn seal_submitted(app: &TestApp, doc: &str) -> (i64, Client) {
    let teacher = signed_in(app, "T2002").await;
    let sid = service(app, "GZSY").await;
    let page = format!("/services/{sid}/apply");
    let fields = vec![
        ("f.seal", "校章".to_owned()),
        ("f.document", doc.to_owned()),
        ("f.copies", "2".into()),
        ("f.date", "2026-12-01".into()),
        ("f.reason", "与企业签订联合实验室协议".into()),
    ];
    let r = post_form(app, &teacher, &page, &page, "submit", &fields).await;
    assert_eq!(r.status(), 303);
    let id: i64 = location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    (id, teacher)
}

/// 李小明's 公章使用 application, signed by his 部门负责人 and stamped by a seal keeper.
async fn stamped(app: &TestApp, doc: &str) -> (i64, Client) {
    let (id, teacher) = seal_submitted(app, doc).await;
    let head = signed_in(app, "T2001").await;
    let signature = drawn_signature();
    act(
        app,
        &head,
        id,
        "approve",
        "head",
        &[("signature", &signature)],
    )
    .await;
    let keeper = signed_in(app, "T3004").await;
    act(app, &keeper, id, "approve", "seal", &[]).await;
    let status: String = sqlx::query_scalar("SELECT status FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "completed");
    (id, teacher)
}

async fn pdf_of(app: &TestApp, c: &Client, id: i64) -> Vec<u8> {
    let r = app
        .get_with(c, &format!("/applications/{id}/document.pdf"))
        .await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_signature_goes_on_the_document_where_its_template_says() {
    if !poppler() {
        return;
    }
    let app = spawn_app().await;
    // 审批记录 (the demo's choice): the signature beside the head's approval.
    let (id, teacher) = stamped(&app, "合作协议").await;
    let pdf = pdf_of(&app, &teacher, id).await;
    let text = text_of(&pdf);
    assert!(
        text.contains("用印审批单") && text.contains("部门负责人审批"),
        "{text}"
    );
    assert!(!text.contains("审批人签名"), "{text}");
    // The seal and the one signature: two images (each with its transparency mask).
    assert_eq!(images_in(&pdf), 2);
    assert!(qr_of(&pdf, "gzsy-signature-records").contains("/verify/"));

    // 落款处: a document issued after the change has the signature at the foot.
    sqlx::query(
        "UPDATE document_settings SET signature_place = 'footer'
          WHERE service_id = (SELECT id FROM services WHERE code = 'GZSY')",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let (id2, _) = stamped(&app, "采购合同").await;
    let pdf2 = pdf_of(&app, &teacher, id2).await;
    let text2 = text_of(&pdf2);
    assert!(text2.contains("审批人签名"), "{text2}");
    assert_eq!(images_in(&pdf2), 2);
    qr_of(&pdf2, "gzsy-signature-footer");
    // The first document was issued once and stays as it was.
    assert_eq!(pdf_of(&app, &teacher, id).await, pdf);
}

#[tokio::test]
async fn a_chosen_section_lists_its_fields_and_nothing_else_is_shown() {
    if !poppler() {
        return;
    }
    let app = spawn_app().await;
    // 在读证明 gets a section of its own (published as a new version), and the document
    // lists that section alone.
    let sid = service(&app, "ZDZM").await;
    let (mut form, def) = service_hall::workflow::store::definitions::current_raw(&app.db, sid)
        .await
        .unwrap()
        .unwrap();
    let fields = form["fields"].as_array_mut().unwrap();
    fields.push(serde_json::json!({ "key": "sec_extra", "type": "section", "label": "补充信息" }));
    fields.push(serde_json::json!({ "key": "school", "type": "text", "label": "原就读学校" }));
    fields.push(serde_json::json!({ "key": "remark", "type": "text", "label": "其他说明" }));
    let mut tx = app.db.begin().await.unwrap();
    service_hall::workflow::store::versions::publish(
        &mut tx,
        sid,
        &form,
        &def,
        None,
        chrono::Utc::now(),
        "",
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("UPDATE document_settings SET fields = '{sec_extra}' WHERE service_id = $1")
        .bind(sid)
        .execute(&app.db)
        .await
        .unwrap();
    let student = signed_in(&app, "S2024001").await;
    let page = format!("/services/{sid}/apply");
    let posted = [
        ("f.lang", "中文".to_owned()),
        ("f.purpose", "实习就业".to_owned()),
        ("f.copies", "1".to_owned()),
        ("f.delivery", "下载电子版".to_owned()),
        ("f.school", "示范中学".to_owned()),
        ("f.remark", "无".to_owned()),
    ];
    let r = post_form(&app, &student, &page, &page, "submit", &posted).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let id: i64 = location(&r)
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    let registrar = signed_in(&app, "T4101").await;
    act(&app, &registrar, id, "approve", "registrar", &[]).await;
    let text = text_of(&pdf_of(&app, &student, id).await);
    for want in ["【补充信息】", "原就读学校", "示范中学", "其他说明"] {
        assert!(text.contains(want), "{want} in {text}");
    }
    assert!(
        !text.contains("实习就业"),
        "a field outside the section: {text}"
    );
}

#[tokio::test]
async fn the_application_page_offers_download_to_its_people_and_revocation_to_its_admins() {
    let app = spawn_app().await;
    let (id, student) = finished_certificate(&app).await;
    let page = |c: Client| {
        let app = &app;
        async move {
            app.get_with(&c, &format!("/applications/{id}"))
                .await
                .text()
                .await
                .unwrap()
        }
    };
    let mine = page(student.clone()).await;
    assert!(mine.contains("id=\"download-pdf\""));
    assert!(!mine.contains("作废证明"), "the holder does not revoke");
    let registrar = signed_in(&app, "T4101").await;
    assert!(page(registrar).await.contains("id=\"download-pdf\""));
    // The service's admin: no download of someone's certificate, and nothing to revoke
    // before one was issued.
    let admin = signed_in(&app, "admin").await;
    let before = page(admin.clone()).await;
    assert!(!before.contains("id=\"download-pdf\"") && !before.contains("作废证明"));
    let r = app
        .get_with(&admin, &format!("/applications/{id}/document.pdf"))
        .await;
    assert_eq!(r.status(), 404);
    pdf_of(&app, &student, id).await;
    let issued = page(admin.clone()).await;
    let code: String = sqlx::query_scalar("SELECT code FROM documents WHERE application_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(issued.contains(&format!("/verify/{code}")));
    assert!(issued.contains("作废证明"));
    // An empty reason is refused with its message; nothing changes.
    let r = app
        .submit(
            &admin,
            &format!("/applications/{id}"),
            &format!("/applications/{id}/document/revoke"),
            &[("reason", "  ")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(page(admin.clone()).await.contains("请填写作废原因"));
    let revoked: bool = sqlx::query_scalar(
        "SELECT revoked_at IS NOT NULL FROM documents WHERE application_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(!revoked);
    let r = app
        .submit(
            &admin,
            &format!("/applications/{id}"),
            &format!("/applications/{id}/document/revoke"),
            &[("reason", "信息有误，已重新出具")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let after = page(admin).await;
    assert!(after.contains("已作废") && after.contains("信息有误，已重新出具"));
    assert!(!after.contains("作废证明"), "nothing left to revoke");
    assert!(
        page(student).await.contains("已作废"),
        "the holder sees it too"
    );
}

#[tokio::test]
async fn without_its_font_a_document_is_a_clear_503_and_nothing_is_stored() {
    let app = spawn_app_with(|s| s.document_font = "/nonexistent/NotoSansCJK.ttc".into()).await;
    let (id, student) = finished_certificate(&app).await;
    let r = app
        .get_with(&student, &format!("/applications/{id}/document.pdf"))
        .await;
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("缺少所需的中文字体"));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM documents")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}
