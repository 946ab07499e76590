use service_hall::db::{self, EmbeddedPostgres, embedded::find_bin_dir};
use sqlx::{Connection, PgConnection};

use crate::helpers::*;

#[tokio::test]
async fn migrations_are_idempotent() {
    let app = spawn_app().await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    let before = count().await;
    assert!(before >= 1);
    db::migrate(&app.db).await.expect("second run");
    db::migrate(&app.db).await.expect("third run");
    assert_eq!(count().await, before);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 41, "nothing lost");
}

#[tokio::test]
async fn the_audit_log_is_append_only() {
    let app = spawn_app().await;
    app.login("S2024001", DEMO_PASSWORD).await;
    assert!(
        sqlx::query("UPDATE audit_log SET outcome = 'failure'")
            .execute(&app.db)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit_log")
            .execute(&app.db)
            .await
            .is_err()
    );
    assert_eq!(app.audit_count("login", "success").await, 1);
}

/// Every table the demo seeder writes, row by row.
async fn demo_tables(app: &TestApp) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for table in [
        "departments",
        "users",
        "user_roles",
        "service_categories",
        "services",
        "campus_systems",
        "convenience_links",
        "announcements",
        "form_definitions",
        "workflow_definitions",
        "service_versions",
        "service_admins",
        "app_meta",
    ] {
        let (rows, digest): (i64, String) = sqlx::query_as(&format!(
            "SELECT count(*), md5(coalesce(string_agg(to_jsonb(t)::text, '|' ORDER BY to_jsonb(t)::text), ''))
             FROM {table} t"
        ))
        .fetch_one(&app.db)
        .await
        .unwrap();
        out.push((table.to_owned(), rows, digest));
    }
    out
}

#[tokio::test]
async fn seeding_twice_changes_nothing() {
    let app = spawn_app().await;
    let before = demo_tables(&app).await;
    let key = service_hall::secret::SecretKey::from_secret(TEST_SECRET);
    service_hall::seed::seed_demo(&app.db, &key).await.unwrap();
    assert_eq!(demo_tables(&app).await, before);
    let rows = |t: &str| before.iter().find(|r| r.0 == t).unwrap().1;
    assert_eq!(
        (rows("users"), rows("departments"), rows("user_roles")),
        (41, 26, 17)
    );
    assert_eq!(
        (
            rows("services"),
            rows("form_definitions"),
            rows("workflow_definitions")
        ),
        (46, 36, 36)
    );
}

/// The embedded cluster: start, write, stop, start again (and again over a stale
/// `postmaster.pid`, as after a crash): the data is still there.
#[test]
fn embedded_cluster_keeps_data_across_restarts() {
    if find_bin_dir().is_none() {
        if std::env::var("E2E_REQUIRED").is_ok_and(|v| v == "1") {
            panic!("PostgreSQL server binaries are required (E2E_REQUIRED=1)");
        }
        eprintln!("skipped: no PostgreSQL server binaries");
        return;
    }
    let dir = std::env::temp_dir().join(format!("service-hall-boot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut pg = EmbeddedPostgres::start(&dir).expect("first start");
    rt.block_on(async {
        let opts = pg.connect_options(db::EMBEDDED_DB);
        db::ensure_database(&opts).await.unwrap();
        let mut c = PgConnection::connect_with(&opts).await.unwrap();
        sqlx::query("CREATE TABLE kept (v text)")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("INSERT INTO kept VALUES ('still here')")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    });
    // Only a Unix socket: no TCP listener was configured.
    let conf = std::fs::read_to_string(dir.join("postmaster.opts")).unwrap();
    assert!(conf.contains("listen_addresses="), "{conf}");
    pg.stop();
    assert!(
        !dir.join("postmaster.pid").exists(),
        "clean shutdown removes the pid file"
    );

    // A crash leaves a pid file naming a process that is gone.
    std::fs::write(dir.join("postmaster.pid"), "999999\n/tmp\n").unwrap();
    let mut pg = EmbeddedPostgres::start(&dir).expect("start over a stale pid file");
    let v: String = rt.block_on(async {
        let mut c = PgConnection::connect_with(&pg.connect_options(db::EMBEDDED_DB))
            .await
            .unwrap();
        sqlx::query_scalar("SELECT v FROM kept")
            .fetch_one(&mut c)
            .await
            .unwrap()
    });
    assert_eq!(v, "still here");
    pg.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A cluster restarted from outside while the portal ran (`pg_ctl restart`) is not the
/// portal's child any more; stopping the portal stops it all the same (issue 15).
#[test]
fn an_embedded_cluster_restarted_from_outside_stops_with_the_portal() {
    if find_bin_dir().is_none() {
        if std::env::var("E2E_REQUIRED").is_ok_and(|v| v == "1") {
            panic!("PostgreSQL server binaries are required (E2E_REQUIRED=1)");
        }
        eprintln!("skipped: no PostgreSQL server binaries");
        return;
    }
    let dir = std::env::temp_dir().join(format!("service-hall-outside-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pg = EmbeddedPostgres::start(&dir).expect("start");
    let first = std::fs::read_to_string(dir.join("postmaster.pid")).unwrap();
    let log = dir.join("server.log");
    crate::restart::pg_ctl(
        &dir,
        &["restart", "-m", "fast", "-w", "-l", log.to_str().unwrap()],
    );
    let second = std::fs::read_to_string(dir.join("postmaster.pid")).unwrap();
    assert_ne!(
        first.lines().next(),
        second.lines().next(),
        "a new postmaster"
    );
    assert!(!crate::restart::servers_in(&dir).is_empty());
    drop(pg);
    assert_eq!(
        crate::restart::servers_in(&dir),
        Vec::<i32>::new(),
        "no server left on {}",
        dir.display()
    );
    assert!(!dir.join("postmaster.pid").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
