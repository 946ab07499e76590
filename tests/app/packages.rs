//! Service packages out of the portal: `GET /admin/services/{id}/export`.

use service_hall::package::{ServicePackage, Source};

use crate::{forms::service, helpers::*};

/// The demo file's text as the portal writes it: comment lines at its top are the
/// author's, not part of the layout.
fn demo_package(code: &str) -> String {
    let path = format!("{}/demo/services/{code}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let body: Vec<&str> = text
        .lines()
        .skip_while(|l| l.starts_with('#') || l.trim().is_empty())
        .collect();
    body.join("\n") + "\n"
}

fn parse(text: &str) -> ServicePackage {
    ServicePackage::parse(&Source {
        file: "export.toml",
        text,
    })
    .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[tokio::test]
async fn every_service_exports_as_the_package_it_was_seeded_from() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    let services: Vec<(i64, String)> = sqlx::query_as("SELECT id, code FROM services ORDER BY id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(services.len(), 46);
    for (id, code) in services {
        let r = app
            .get_with(&admin, &format!("/admin/services/{id}/export"))
            .await;
        assert_eq!(r.status(), 200, "{code}");
        assert_eq!(
            r.headers()["content-type"],
            "application/toml; charset=utf-8"
        );
        let disposition = r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            disposition.contains(&format!("{code}.toml")),
            "{disposition}"
        );
        let text = r.text().await.unwrap();
        let demo = demo_package(&code);
        // The same package, and the same bytes: an export diffs clean against its source.
        assert_eq!(parse(&text), parse(&demo), "{code}");
        assert_eq!(text, demo, "{code}");
    }
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'service.export' AND actor_id = (SELECT id FROM users WHERE account = 'admin')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 46);
}

#[tokio::test]
async fn only_admins_of_the_service_may_export_it() {
    let app = spawn_app().await;
    let xsqj = service(&app, "XSQJ").await;
    let gzzb = service(&app, "GZZB").await;
    // 李晓梅 administers 学生请假 only.
    sqlx::query(
        "INSERT INTO service_admins (service_id, user_id) SELECT $1, id FROM users WHERE account = 'T2002'",
    )
    .bind(xsqj)
    .execute(&app.db)
    .await
    .unwrap();
    let url = |id: i64| format!("/admin/services/{id}/export");
    // Signed out: to 登录 first.
    let r = app.get(&url(xsqj)).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?next="));
    let student = signed_in(&app, "S2024001").await;
    let teacher = signed_in(&app, "T2002").await;
    let counselor = signed_in(&app, "T2101").await;
    let admin = signed_in(&app, "admin").await;
    let cases = [
        (&student, xsqj, 403),
        (&counselor, xsqj, 403),
        (&teacher, xsqj, 200),
        (&teacher, gzzb, 403),
        // No such service: the same 403 as for any service one does not administer.
        (&teacher, 99_999, 403),
        (&admin, gzzb, 200),
        (&admin, 99_999, 404),
    ];
    for (c, id, status) in cases {
        assert_eq!(app.get_with(c, &url(id)).await.status(), status, "{id}");
    }
}
