//! Result documents in Chromium: the holder downloads the PDF from the application page,
//! and the verify page its QR code leads to reads on a phone and a desktop; approvers sign
//! on the pad with a finger or the mouse. Screenshots at 1280
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
    // The holder's download in Chromium makes the document: the file saved is the one
    // stored, under the certificate's name, and the same file comes on every download.
    link.click().await.unwrap();
    let (name, saved) = b.downloaded().await;
    assert!(
        name.starts_with("在读证明-") && name.ends_with(".pdf"),
        "{name}"
    );
    assert!(saved.starts_with(b"%PDF"));
    let (code, stored): (String, Vec<u8>) =
        sqlx::query_as("SELECT code, pdf FROM documents WHERE application_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(saved, stored);
    let again = app
        .get_with(&student, &format!("/applications/{id}/document.pdf"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(again.as_ref(), saved.as_slice());
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
    // The verify page as a phone's camera finds it: the URL read from the saved file's QR
    // code.
    let url = crate::documents::qr_of(&saved, &format!("downloaded-{width}"));
    assert_eq!(url, app.url(&format!("/verify/{code}")));
    c.goto(&url).await.unwrap();
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

/// The 部门负责人 signs 公章使用 on the pad: with a finger on a phone, with the mouse on a
/// desktop. 通过 with an empty pad stops at the pad with its message; after signing, the
/// signature is kept with the approval and shown in the 流转记录.
async fn pad(width: u32, height: u32, touch: bool) {
    use fantoccini::actions::{
        InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction, TouchActions,
    };
    let app = spawn_app().await;
    let (id, _) = crate::documents_signatures::seal_submitted(&app, "合作协议").await;
    let Some(b) = Browser::start(width, height).await else {
        return;
    };
    let c = &b.client;
    sign_in(&b, &app, "T2001").await;
    c.goto(&app.url(&format!("/applications/{id}")))
        .await
        .unwrap();
    let canvas = c.find(Locator::Css("canvas.signature-pad")).await.unwrap();
    c.execute(
        "arguments[0].scrollIntoView({block: 'center'});",
        vec![serde_json::to_value(&canvas).unwrap()],
    )
    .await
    .unwrap();
    // 通过 with nothing drawn: the message beside the pad, nothing sent.
    c.find(Locator::Css(".task-panel button[value='approve']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = c
        .find(Locator::Css("[data-signature-error]"))
        .await
        .unwrap();
    assert!(error.is_displayed().await.unwrap());
    let signed = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM flow_records WHERE application_id = $1 AND signature IS NOT NULL",
        )
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    assert_eq!(signed().await, 0);
    // Two strokes across the pad.
    let strokes = |start: (f64, f64), moves: &[(f64, f64)]| {
        let mut acts = vec![
            PointerAction::MoveToElement {
                element: canvas.clone(),
                duration: None,
                x: start.0,
                y: start.1,
            },
            PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            },
        ];
        for (x, y) in moves {
            acts.push(PointerAction::MoveBy {
                duration: Some(std::time::Duration::from_millis(30)),
                x: *x,
                y: *y,
            });
        }
        acts.push(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
        acts
    };
    let moves = [
        (25.0, -20.0),
        (25.0, 30.0),
        (25.0, -30.0),
        (25.0, 25.0),
        (25.0, -15.0),
    ];
    for (i, acts) in [
        strokes((-120.0, 0.0), &moves),
        strokes(
            (-90.0, -30.0),
            &[(0.0, 30.0), (0.0, 30.0), (30.0, 0.0), (30.0, 0.0)],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        if touch {
            let mut t = TouchActions::new(format!("finger{i}"));
            for a in acts {
                t = t.then(a);
            }
            c.perform_actions(t).await.unwrap();
        } else {
            let mut m = MouseActions::new(format!("mouse{i}"));
            for a in acts {
                m = m.then(a);
            }
            c.perform_actions(m).await.unwrap();
        }
    }
    let posted = c
        .find(Locator::Css("input[name=signature]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(posted.starts_with("data:image/png;base64,"), "{posted:.40}");
    assert!(!error.is_displayed().await.unwrap());
    b.shot("documents", &format!("pad-{width}")).await;
    c.find(Locator::Css(".task-panel button[value='approve']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let img = c
        .wait()
        .for_element(Locator::Css("img.signature-img"))
        .await
        .unwrap();
    // The image loads lazily: scrolled to, it loads (waited for, up to 10 s).
    c.execute(
        "arguments[0].scrollIntoView({block: 'center'});",
        vec![serde_json::to_value(&img).unwrap()],
    )
    .await
    .unwrap();
    let mut loaded = serde_json::Value::Null;
    for _ in 0..100 {
        loaded = c
            .execute(
                "return arguments[0].complete && arguments[0].naturalWidth;",
                vec![serde_json::to_value(&img).unwrap()],
            )
            .await
            .unwrap();
        if loaded.as_u64().unwrap_or(0) > 40 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(loaded.as_u64().unwrap_or(0) > 40, "{loaded}");
    assert_eq!(signed().await, 1);
    b.shot("documents", &format!("signed-{width}")).await;
    b.close().await;
}

#[tokio::test]
async fn the_signature_pad_with_a_finger_on_a_phone() {
    pad(390, 844, true).await;
}

#[tokio::test]
async fn the_signature_pad_with_the_mouse_on_a_desktop() {
    pad(1280, 900, false).await;
}
