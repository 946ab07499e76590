//! Living through a PostgreSQL restart (issue 15, defect 3) and submitting in one
//! transaction (defect 4). The restart test runs the portal on a private embedded
//! cluster, so it can restart and stop that server without touching the shared one.

use std::{
    collections::HashMap,
    os::unix::process::CommandExt,
    path::Path,
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use reqwest::Client;
use service_hall::{
    clock::TestClock,
    db::{self, EmbeddedPostgres, embedded::find_bin_dir},
    secret::SecretKey,
    startup::Application,
};
use sqlx::PgPool;

use crate::{forms::*, helpers::*};

/// A 提交 of a new application that fails inside its transaction leaves no draft: the
/// row, the 流水号, tasks and records are written together or not at all.
#[tokio::test]
async fn a_failed_submission_leaves_no_draft() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let apps = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM applications")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    let before = apps().await;
    // A fault in the middle of the submission: the 流转记录 cannot be written.
    sqlx::query(
        "CREATE FUNCTION refuse_records() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'forced fault'; END $$",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_records BEFORE INSERT ON flow_records
         FOR EACH ROW EXECUTE FUNCTION refuse_records()",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let sid = service(&app, "XSQJ").await;
    let page = format!("/services/{sid}/apply");
    let fields = leave_fields(&app, "2").await;
    let r = post_form(&app, &student, &page, &page, "submit", &fields).await;
    assert_eq!(r.status(), 500);
    assert_eq!(apps().await, before, "no stray draft");
    assert_draft_counts(&app).await;

    // Without the fault the same form goes through, once.
    sqlx::query("DROP TRIGGER refuse_records ON flow_records")
        .execute(&app.db)
        .await
        .unwrap();
    let id = apply_leave(&app, &student, "2").await;
    assert_eq!(apps().await, before + 1);
    let (status, serial): (String, Option<String>) =
        sqlx::query_as("SELECT status, serial_no FROM applications WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(status, "running");
    assert!(serial.is_some());
    assert_task_counts(&app).await;
    assert_draft_counts(&app).await;
}

/// Processes still running (not zombies) whose working folder is `dir`: a postmaster
/// and its children chdir into their data folder.
pub fn servers_in(dir: &Path) -> Vec<i32> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()
                .as_deref()
                == Some(&*dir)
                && !std::fs::read(format!("/proc/{pid}/cmdline"))
                    .unwrap_or_default()
                    .is_empty()
        })
        .collect()
}

/// `pg_ctl` on a private cluster, as the account that owns it.
pub fn pg_ctl(dir: &Path, args: &[&str]) {
    let bin = find_bin_dir().unwrap();
    let mut cmd = Command::new(bin.join("pg_ctl"));
    cmd.arg("-D").arg(dir).args(args).env("LC_ALL", "C.UTF-8");
    if nix::unistd::Uid::effective().is_root() {
        let u = nix::unistd::User::from_name("postgres").unwrap().unwrap();
        cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
    }
    let out = cmd.output().expect("run pg_ctl");
    assert!(
        out.status.success(),
        "pg_ctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Portal {
    base: String,
}

impl Portal {
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    async fn signed_in(&self, account: &str) -> Client {
        let c = new_client();
        let html = c.get(self.url("/login")).send().await.unwrap();
        let token = csrf_from(&html.text().await.unwrap());
        let r = c
            .post(self.url("/login"))
            .form(&[
                ("account", account),
                ("password", DEMO_PASSWORD),
                ("_csrf", &token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "sign in as {account}");
        c
    }
}

/// What one request came to.
#[derive(Debug)]
struct Outcome {
    what: String,
    status: u16,
    /// For a 提交: the token typed into the form, and where the answer led.
    token: Option<String>,
    location: Option<String>,
}

async fn submit_once(p: &Portal, c: &Client, sid: i64, counselor: i64, token: &str) -> Outcome {
    let page = format!("/services/{sid}/apply");
    let r = c.get(p.url(&page)).send().await.unwrap();
    let status = r.status().as_u16();
    if status != 200 {
        return Outcome {
            what: "form".into(),
            status,
            token: None,
            location: None,
        };
    }
    let csrf = csrf_from(&r.text().await.unwrap());
    let form = [
        ("f.phone", "13800138000".to_owned()),
        ("f.kind", "事假".into()),
        ("f.period.from", "2026-12-01".into()),
        ("f.period.to", "2026-12-02".into()),
        ("f.days", "2".into()),
        ("f.reason", token.to_owned()),
        ("f.leave_campus", "是".into()),
        ("f.counselor", counselor.to_string()),
        ("_csrf", csrf),
        ("intent", "submit".into()),
    ];
    let r = c.post(p.url(&page)).form(&form).send().await.unwrap();
    Outcome {
        what: "submit".into(),
        status: r.status().as_u16(),
        token: Some(token.to_owned()),
        location: r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned()),
    }
}

async fn approve_one(p: &Portal, c: &Client, db: &PgPool, counselor: i64) -> Option<Outcome> {
    let row: Option<(i64, String, i32)> = sqlx::query_as(
        "SELECT a.id, t.node_id, a.version FROM tasks t JOIN applications a ON a.id = t.application_id
         WHERE t.assignee_id = $1 AND t.status = 'pending' AND t.kind = 'approve'
         ORDER BY random() LIMIT 1",
    )
    .bind(counselor)
    .fetch_optional(db)
    .await
    .ok()?;
    let (id, node, _) = row?;
    let r = c
        .get(p.url(&format!("/applications/{id}")))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status != 200 {
        return Some(Outcome {
            what: "application page".into(),
            status,
            token: None,
            location: None,
        });
    }
    let html = r.text().await.unwrap();
    let form = [
        ("_csrf", csrf_from(&html)),
        ("version", version_from(&html).unwrap_or_else(|| "0".into())),
        ("op", "approve".into()),
        ("node", node),
    ];
    let r = c
        .post(p.url(&format!("/applications/{id}/act")))
        .form(&form)
        .send()
        .await
        .unwrap();
    Some(Outcome {
        what: format!("approve {id}"),
        status: r.status().as_u16(),
        token: None,
        location: r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned()),
    })
}

/// Under load, `pg_ctl restart -m immediate`: no 500, every acknowledged submission
/// stored once, nothing stored twice; while the server is down, a styled 503 系统繁忙 with
/// `Retry-After` and `/readyz` 503; afterwards every page works without restarting the
/// portal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_shows_no_500() {
    if find_bin_dir().is_none() {
        if std::env::var("E2E_REQUIRED").is_ok_and(|v| v == "1") {
            panic!("PostgreSQL server binaries are required (E2E_REQUIRED=1)");
        }
        eprintln!("skipped: no PostgreSQL server binaries");
        return;
    }
    service_hall::init_tls();
    let dir = std::env::temp_dir().join(format!("hall-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pg = tokio::task::block_in_place(|| EmbeddedPostgres::start(&dir)).expect("start");
    let opts = pg.connect_options(db::EMBEDDED_DB);
    db::ensure_database(&opts).await.unwrap();
    let pool = db::pool(opts.clone(), 5).await.unwrap();
    db::migrate(&pool).await.unwrap();
    service_hall::seed::seed_demo(&pool, &SecretKey::from_secret(TEST_SECRET))
        .await
        .unwrap();
    // The test's own reads go through a pool of their own.
    let check = db::pool(opts, 2).await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut settings = test_settings();
    settings.base_url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let app = Application::with_listener(
        settings,
        listener,
        pool.clone(),
        Arc::new(TestClock::default()),
    )
    .unwrap();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let p = Arc::new(Portal {
        base: format!("http://127.0.0.1:{port}"),
    });

    let id = |sql: &'static str, key: &'static str| {
        let check = check.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(key)
                .fetch_one(&check)
                .await
                .unwrap()
        }
    };
    let sid = id("SELECT id FROM services WHERE code = $1", "XSQJ").await;
    let counselor = id("SELECT id FROM users WHERE account = $1", "T2101").await;
    let student = id("SELECT id FROM users WHERE account = $1", "S2024001").await;

    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4 {
        let c = p.signed_in("S2024001").await;
        let (p, outcomes, stop) = (p.clone(), outcomes.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let o = submit_once(&p, &c, sid, counselor, &format!("restart-{w}-{n}")).await;
                let r = c.get(p.url("/center/started")).send().await.unwrap();
                let page = Outcome {
                    what: "/center/started".into(),
                    status: r.status().as_u16(),
                    token: None,
                    location: None,
                };
                outcomes.lock().unwrap().extend([o, page]);
            }
        }));
    }
    {
        let c = p.signed_in("T2101").await;
        let (p, outcomes, stop, check) = (p.clone(), outcomes.clone(), stop.clone(), check.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match approve_one(&p, &c, &check, counselor).await {
                    Some(o) => outcomes.lock().unwrap().push(o),
                    None => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::block_in_place(|| {
        pg_ctl(
            &dir,
            &[
                "restart",
                "-m",
                "immediate",
                "-w",
                "-l",
                dir.join("server.log").to_str().unwrap(),
            ],
        )
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let stored: HashMap<String, (i64, i64)> = sqlx::query_as::<_, (String, i64, i64)>(
        "SELECT data->>'reason', count(*), min(id) FROM applications
         WHERE applicant_id = $1 AND data->>'reason' LIKE 'restart-%' GROUP BY 1",
    )
    .bind(student)
    .fetch_all(&check)
    .await
    .unwrap()
    .into_iter()
    .map(|(t, n, id)| (t, (n, id)))
    .collect();
    let submits = outcomes.iter().filter(|o| o.what == "submit").count();
    let acked = outcomes
        .iter()
        .filter(|o| o.what == "submit" && o.status == 303)
        .count();
    eprintln!(
        "{} requests, {submits} submissions ({acked} acknowledged), {} refused with 503, {} approvals",
        outcomes.len(),
        outcomes.iter().filter(|o| o.status == 503).count(),
        outcomes
            .iter()
            .filter(|o| o.what.starts_with("approve") && o.status == 303)
            .count(),
    );
    assert!(acked > 4, "the load ran: {acked} acknowledged");
    for o in &outcomes {
        assert!(
            matches!(o.status, 200 | 303 | 503),
            "no 500 and nothing else unexpected: {o:?}"
        );
        let Some(token) = &o.token else { continue };
        match o.status {
            303 => {
                let (n, id) = stored.get(token).copied().unwrap_or((0, 0));
                assert_eq!(n, 1, "an acknowledged submission is stored once: {o:?}");
                assert_eq!(
                    o.location.as_deref(),
                    Some(format!("/applications/{id}").as_str()),
                    "and leads to its page"
                );
            }
            _ => assert!(stored.get(token).is_none_or(|(n, _)| *n == 1), "{o:?}"),
        }
    }
    assert!(stored.values().all(|(n, _)| *n == 1), "nothing twice");

    // Down: a styled 503 with Retry-After, and /readyz says so.
    let c = p.signed_in("S2024001").await;
    tokio::task::block_in_place(|| pg_ctl(&dir, &["stop", "-m", "immediate", "-w"]));
    for path in ["/", "/center", "/services"] {
        let r = c.get(p.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 503, "{path}");
        assert_eq!(r.headers()["retry-after"], "5");
        let html = r.text().await.unwrap();
        assert!(html.contains("系统繁忙"), "{html}");
        assert!(html.contains("css/app"), "styled: {html}");
    }
    let r = reqwest::get(p.url("/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));

    // Up again (as the portal started it): everything works, no portal restart.
    let opts = std::fs::read_to_string(dir.join("postmaster.opts")).unwrap();
    assert!(opts.contains("unix_socket_directories"), "{opts}");
    tokio::task::block_in_place(|| {
        pg_ctl(
            &dir,
            &[
                "start",
                "-w",
                "-l",
                dir.join("server.log").to_str().unwrap(),
                "-o",
                &format!(
                    "-c listen_addresses= -c unix_socket_directories={} -c port=5432 -c unix_socket_permissions=0700",
                    dir.display()
                ),
            ],
        )
    });
    assert_eq!(reqwest::get(p.url("/readyz")).await.unwrap().status(), 200);
    for path in ["/", "/center", "/center/started", "/services"] {
        assert_eq!(
            c.get(p.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
    let o = submit_once(&p, &c, sid, counselor, "after-restart").await;
    assert_eq!(o.status, 303, "{o:?}");

    pool.close().await;
    check.close().await;
    drop(pg); // stops the server started from outside too (postmaster.pid)
    assert!(!dir.join("postmaster.pid").exists());
    assert_eq!(servers_in(&dir), Vec::<i32>::new());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A pooled connection whose server process died while it sat idle (what a PostgreSQL
/// restart leaves) costs a read nothing: the read fails on it once and runs again on a new
/// connection, so the page is 200, not 503 (issue 15, defect 3).
#[tokio::test]
async fn a_read_on_a_dead_pooled_connection_is_retried() {
    let app = spawn_app().await;
    let base = app.instance_as_served().await;
    let visitor = new_client();
    let search = format!("{base}/services?q=%E8%AF%B7%E5%81%87");
    for _ in 0..3 {
        assert_eq!(visitor.get(&search).send().await.unwrap().status(), 200);
    }
    // Every server process of this database but ours goes, the instance's idle ones too.
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(killed > 0);
    let r = visitor.get(&search).send().await.unwrap();
    assert_eq!(r.status(), 200, "retried on a new connection");
    assert!(r.text().await.unwrap().contains("学生请假"));
}
