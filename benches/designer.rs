//! 管理后台's service pages (list, 基本信息, 表单设计, 流程设计, 版本) and a publish, next to
//! `/readyz` in the same run; then what the first application after a publish costs
//! against the ones after it.
//!
//! cargo bench --bench designer   (BENCH_CLIENTS=8, BENCH_SECS=5, BENCH_PUBLISHES=30)
//! Uses DATABASE_URL when set, else an embedded cluster in a temp folder.

mod common;

use std::time::{Duration, Instant};

use common::{env, pct, session};
use service_hall::{config::Settings, seed, workflow::usecase::versions as uc};

fn main() -> anyhow::Result<()> {
    service_hall::init_tls();
    service_hall::telemetry::init();
    let server = common::Server::open()?;
    let rt = common::Server::runtime()?;
    let r = rt.block_on(run(server.opts.clone()));
    drop(server);
    r
}

fn summary(lat: &mut [Duration]) -> (f64, f64) {
    lat.sort();
    (pct(lat, 0.5), pct(lat, 0.99))
}

/// `clients` loops of GET `path` for `secs`: (requests per second, latencies).
async fn load(
    base: &str,
    c: &reqwest::Client,
    clients: usize,
    path: &str,
    secs: u64,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let r = c.get(format!("{base}{path}")).send().await?;
    anyhow::ensure!(r.status() == 200, "{path}: {}", r.status());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (c, url) = (c.clone(), format!("{base}{path}"));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = c.get(&url).send().await.expect("request");
                assert_eq!(r.status(), 200, "{url}");
                r.bytes().await.expect("body");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    Ok((all.len() as f64 / started.elapsed().as_secs_f64(), all))
}

async fn run(opts: sqlx::postgres::PgConnectOptions) -> anyhow::Result<()> {
    let clients = env("BENCH_CLIENTS", 8);
    let secs = env("BENCH_SECS", 5) as u64;
    let publishes = env("BENCH_PUBLISHES", 30);
    let db = common::BenchDb::demo(
        &opts,
        "hall_dsbench",
        Settings::defaults().db_max_connections,
    )
    .await?;
    let pool = db.pool.clone();
    let sid: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'XSQJ'")
        .fetch_one(&pool)
        .await?;
    let admin_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = 'admin'")
        .fetch_one(&pool)
        .await?;

    let mut settings = Settings::defaults();
    settings.ip_max_failures = 1_000_000;
    settings.background_jobs = false;
    let served = common::serve(&pool, settings).await?;
    let base = served.base.clone();
    let (admin, token) = session(&base, "admin").await?;
    let (student, _) = session(&base, "S2024001").await?;

    println!(
        "{clients} clients, {secs} s per row; machine: {} cores",
        num_cpus()
    );
    println!(
        "{:<34} {:>9} {:>8} {:>8} {:>10}",
        "page", "req/s", "p50 ms", "p99 ms", "/ readyz"
    );
    let mut reference = 0.0;
    let pages = [
        ("/readyz (reference)", "/readyz".to_owned()),
        ("服务管理 list", "/admin/services".to_owned()),
        ("基本信息", format!("/admin/services/{sid}")),
        ("表单设计", format!("/admin/services/{sid}/form")),
        ("流程设计", format!("/admin/services/{sid}/workflow")),
        ("版本", format!("/admin/services/{sid}/versions")),
    ];
    for (label, path) in pages {
        let (rate, mut lat) = load(&base, &admin, clients, &path, secs).await?;
        let (p50, p99) = summary(&mut lat);
        if reference == 0.0 {
            reference = rate;
        }
        println!(
            "{label:<34} {rate:>9.0} {p50:>8.1} {p99:>8.1} {:>10.2}",
            rate / reference
        );
    }

    // Publishes: each saves a changed draft (a new help text on one field, so the form
    // half is new), then 发布 over HTTP; right after, the first 立即办理 and 提交-ready form
    // page of a student, then five more.
    let mut publish_lat = Vec::new();
    let mut first = Vec::new();
    let mut steady = Vec::new();
    let apply = format!("{base}/services/{sid}/apply");
    let counselor: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = 'T2101'")
        .fetch_one(&pool)
        .await?;
    // Confirm the password once (the window is 15 minutes).
    for i in 0..publishes {
        let copy = uc::working_copy(&pool, sid).await?;
        let mut form = copy.form.clone();
        form.fields[0].help = format!("第 {i} 次修改");
        let rev = uc::save(
            &pool,
            sid,
            &form,
            &copy.workflow,
            copy.base_number,
            copy.revision,
            admin_id,
            None,
            chrono::Utc::now(),
        )
        .await?;
        let mut fields = vec![
            ("_csrf", token.clone()),
            ("revision", rev.to_string()),
            ("note", String::new()),
        ];
        if i == 0 {
            fields.push(("confirm_password", seed::DEMO_PASSWORD.to_owned()));
        }
        let t = Instant::now();
        let r = admin
            .post(format!("{base}/admin/services/{sid}/publish"))
            .form(&fields)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 303, "publish: {}", r.status());
        publish_lat.push(t.elapsed());
        // The first application on the new version, then the next one.
        first.push(submit(&student, &apply, counselor).await?);
        steady.push(submit(&student, &apply, counselor).await?);
    }
    let (p50, p99) = summary(&mut publish_lat);
    println!("发布 ({publishes}, one after another): p50 {p50:.1} ms, p99 {p99:.1} ms");
    let (f50, _) = summary(&mut first);
    let (s50, _) = summary(&mut steady);
    println!(
        "立即办理 + 提交, the first application after a publish: p50 {f50:.2} ms; the next one: p50 {s50:.2} ms; ratio {:.2}",
        f50 / s50
    );
    served.stop().await?;
    db.drop_db().await?;
    Ok(())
}

/// GET the 学生请假 form, then 提交 it: the time of both.
async fn submit(c: &reqwest::Client, apply: &str, counselor: i64) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let html = c.get(apply).send().await?.text().await?;
    let mut form = vec![
        ("_csrf", common::token(&html)),
        ("intent", "submit".into()),
        ("f.phone", "13800138000".into()),
        ("f.kind", "事假".into()),
        ("f.period.from", "2026-12-01".into()),
        ("f.period.to", "2026-12-02".into()),
        ("f.days", "2".into()),
        ("f.reason", "回家办理户籍迁移手续".into()),
        ("f.leave_campus", "否".into()),
        ("f.counselor", counselor.to_string()),
    ];
    let m = "name=\"version\" value=\"";
    if let Some(i) = html.find(m) {
        let v = &html[i + m.len()..];
        form.push(("version", v[..v.find('"').unwrap_or(0)].to_owned()));
    }
    let r = c.post(apply).form(&form).send().await?;
    anyhow::ensure!(r.status() == 303, "提交: {}", r.status());
    Ok(t.elapsed())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
