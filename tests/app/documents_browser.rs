//! Result documents in Chromium: the holder's application page offers 下载 PDF, and the
//! verify page the QR code leads to reads on a phone and a desktop. Screenshots at 1280
//! and 390 px (with the PDF's first page from the HTTP test in /tmp/shots/documents).

use fantoccini::Locator;

use crate::{
    browser::{Browser, sign_in},
    documents::finished_certificate,
    helpers::*,
};

async fn on(width: u32, height: u32) {
    let app = spawn_app().await;
    let (id, student) = finished_certificate(&app).await;
    let Some(b) = Browser::start(width, height).await else {
        return;
    };
    let c = &b.client;
    sign_in(&b, &app, "S2024001").await;
    c.goto(&app.url(&format!("/applications/{id}")))
        .await
        .unwrap();
    let link = c.find(Locator::Id("download-pdf")).await.unwrap();
    assert_eq!(link.text().await.unwrap(), "下载 PDF");
    b.shot("documents", &format!("application-{width}")).await;
    // The holder's download makes the document; the verify page is public.
    let r = app
        .get_with(&student, &format!("/applications/{id}/document.pdf"))
        .await;
    assert_eq!(r.status(), 200);
    let code: String = sqlx::query_scalar("SELECT code FROM documents WHERE application_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    c.goto(&app.url("/")).await.unwrap();
    c.find(Locator::Css("header form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Signed out (the 退出 navigation finished) before the next page is opened.
    c.wait()
        .for_element(Locator::Css(".account a[href='/login']"))
        .await
        .unwrap();
    c.goto(&app.url(&format!("/verify/{code}"))).await.unwrap();
    let status = c
        .find(Locator::Id("verify-status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status, "有效");
    assert_eq!(
        c.find(Locator::Id("verify-holder"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "张*"
    );
    b.shot("documents", &format!("verify-{width}")).await;
    b.close().await;
}

#[tokio::test]
async fn the_document_and_its_verify_page_on_a_desktop() {
    on(1280, 900).await;
}

#[tokio::test]
async fn the_document_and_its_verify_page_on_a_phone() {
    on(390, 844).await;
}
