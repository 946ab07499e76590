//! The identity check's limits.

use std::time::Duration;

use service_hall::identity::flows::IDENTITY_FAILED;

use super::{alert, post, spawn_with_sms};
use crate::helpers::*;

#[tokio::test]
async fn identity_checks_are_limited_per_id_number() {
    let (app, _) = spawn_with_sms().await;
    let c = new_client();
    for _ in 0..5 {
        let (_, _, html) = post(
            &app,
            &c,
            "/activate",
            "/activate",
            &[
                ("account", "S2099999"),
                ("name", "某"),
                ("id_card", "110108200703150514"),
            ],
        )
        .await;
        assert_eq!(alert(&html).as_deref(), Some(IDENTITY_FAILED));
    }
    let (_, _, html) = post(
        &app,
        &c,
        "/activate",
        "/activate",
        &[
            ("account", "S2025001"),
            ("name", "李四"),
            ("id_card", "110108200703150514"),
        ],
    )
    .await;
    assert!(html.contains("尝试次数过多"), "the sixth check in an hour");
    app.clock.advance(Duration::from_secs(3601));
    let (status, _, _) = post(
        &app,
        &c,
        "/activate",
        "/activate",
        &[
            ("account", "S2025001"),
            ("name", "李四"),
            ("id_card", "110108200703150514"),
        ],
    )
    .await;
    assert_eq!(status, 303);
}
