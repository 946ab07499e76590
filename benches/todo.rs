//! 我待办的 at 64 connections with real sessions, for the busiest approvers (thousands of
//! open tasks) and for typical people, next to a benchmark-only axum handler doing
//! `SELECT 1` through the same pool in the same run; then `EXPLAIN ANALYZE` of the page's
//! queries for the busiest approver.
//!
//! On generated data (`service-hall generate`):
//!   DATABASE_URL=postgres://…/hall_gen cargo bench --bench todo
//! Without DATABASE_URL an embedded cluster is made and filled first (BENCH_APPLICATIONS,
//! default 1,000,000, with people, tasks and flow records in the generator's ratios).
//! BENCH_CLIENTS (64), BENCH_SECS (10 per row).

mod common;

use std::time::{Duration, Instant};

use axum::{Router, extract::State, routing::get};
use common::{env, pct, session};
use service_hall::{
    center::lists::{TODO_FLAT_SQL, TODO_GROUPED_SQL},
    config::Settings,
    db,
    generate::{self, Sizes},
    identity::session::USER_SQL,
    secret::SecretKey,
    seed,
};
use sqlx::{PgPool, postgres::PgConnectOptions};

fn main() -> anyhow::Result<()> {
    service_hall::init_tls();
    service_hall::telemetry::init();
    let server = common::Server::open()?;
    let rt = common::Server::runtime()?;
    rt.block_on(run(server.opts.clone(), server.embedded.is_some()))
}

struct Row {
    name: String,
    rate: f64,
    lat: Vec<Duration>,
}

/// `clients` loops of GET `path` (client i uses `clients[i % len]`) for `secs`.
async fn load(
    name: &str,
    base: &str,
    clients: &[reqwest::Client],
    n: usize,
    path: &str,
    must_contain: &'static str,
    secs: u64,
) -> Row {
    // Warm-up: every connection once.
    for c in clients.iter().take(n) {
        let _ = c.get(format!("{base}{path}")).send().await;
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let c = clients[i % clients.len()].clone();
        let url = format!("{base}{path}");
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = c.get(&url).send().await.expect("request");
                let ok = r.status() == 200;
                let body = r.text().await.expect("body");
                lat.push(t.elapsed());
                assert!(ok && body.contains(must_contain), "{url}: unexpected page");
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("client"));
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    Row {
        name: name.to_owned(),
        rate: lat.len() as f64 / secs,
        lat,
    }
}

async fn select1(State(db): State<PgPool>) -> &'static str {
    let _: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&db)
        .await
        .expect("select 1");
    "1"
}

async fn run(opts: PgConnectOptions, fresh: bool) -> anyhow::Result<()> {
    let n = env("BENCH_CLIENTS", 64);
    let secs = env("BENCH_SECS", 10) as u64;
    let mut settings = Settings::defaults();
    let pool = db::pool(opts.clone(), settings.db_max_connections).await?;
    db::migrate(&pool).await?;
    if fresh {
        seed::seed_demo(&pool, &SecretKey::from_secret("bench")).await?;
        let apps = env("BENCH_APPLICATIONS", 1_000_000) as i64;
        let r = generate::generate(
            &pool,
            Sizes {
                users: (apps * 3 / 100).max(1_000),
                applications: apps,
                tasks: apps * 5,
                flow_records: apps * 10,
            },
            0.42,
        )
        .await?;
        println!("generated in {:.0} s", r.seconds);
    }
    let (users, apps, tasks, flows): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM applications),
                (SELECT count(*) FROM tasks), (SELECT count(*) FROM flow_records)",
    )
    .fetch_one(&pool)
    .await?;
    println!("data: {users} users, {apps} applications, {tasks} tasks, {flows} flow records");
    let heavy: Vec<(String, i64)> = generate::heaviest(&pool, generate::HEAVY_APPROVERS)
        .await?
        .into_iter()
        .filter(|(_, p)| *p >= 3_000)
        .collect();
    anyhow::ensure!(
        !heavy.is_empty(),
        "no approver with ≥ 3,000 open tasks: generate data first"
    );
    let typical: Vec<(String, i64)> = sqlx::query_as(
        "SELECT u.account, sum(c.pending)::int8 FROM task_counts c JOIN users u ON u.id = c.assignee_id
         WHERE u.account LIKE 'G%' GROUP BY u.account HAVING sum(c.pending) BETWEEN 3 AND 30
         ORDER BY md5(u.account) LIMIT $1",
    )
    .bind(n as i64)
    .fetch_all(&pool)
    .await?;
    println!(
        "heavy approvers (open tasks): {}",
        heavy
            .iter()
            .map(|(a, p)| format!("{a} {p}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "typical people: {} with 3–30 open tasks (median {})",
        typical.len(),
        typical.get(typical.len() / 2).map(|t| t.1).unwrap_or(0)
    );

    // The product, on its own port.
    settings.ip_max_failures = 1_000_000;
    settings.background_jobs = false;
    let served = common::serve(&pool, settings).await?;
    let base = served.base.clone();
    // The reference: a bare axum handler doing `SELECT 1` through the same pool. Not part
    // of the product; it exists only in this benchmark.
    let ref_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ref_base = format!("http://127.0.0.1:{}", ref_listener.local_addr()?.port());
    let reference = Router::new()
        .route("/select1", get(select1))
        .with_state(pool.clone());
    tokio::spawn(async move { axum::serve(ref_listener, reference).await });

    let mut heavy_clients = Vec::new();
    for i in 0..n {
        heavy_clients.push(session(&base, &heavy[i % heavy.len()].0).await?.0);
    }
    let mut typical_clients = Vec::new();
    for (account, _) in &typical {
        typical_clients.push(session(&base, account).await?.0);
    }
    let plain: Vec<reqwest::Client> = (0..n).map(|_| reqwest::Client::new()).collect();

    let rows = vec![
        load(
            "reference: GET /select1 (axum, SELECT 1)",
            &ref_base,
            &plain,
            n,
            "/select1",
            "1",
            secs,
        )
        .await,
        load(
            "我待办的, heavy approvers (grouped)",
            &base,
            &heavy_clients,
            n,
            "/center/todo",
            "我待办的",
            secs,
        )
        .await,
        load(
            "我待办的, heavy approvers (flat list)",
            &base,
            &heavy_clients,
            n,
            "/center/todo?view=flat",
            "我待办的",
            secs,
        )
        .await,
        load(
            "我待办的, typical people (grouped)",
            &base,
            &typical_clients,
            n,
            "/center/todo",
            "我待办的",
            secs,
        )
        .await,
        load(
            "我待办的, typical people (flat list)",
            &base,
            &typical_clients,
            n,
            "/center/todo?view=flat",
            "我待办的",
            secs,
        )
        .await,
    ];
    let reference_rate = rows[0].rate;
    println!("\n{n} clients, {secs} s per row");
    println!("| measurement | requests/s | vs SELECT 1 | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} |",
            r.name,
            r.rate,
            r.rate / reference_rate,
            pct(&r.lat, 0.5),
            pct(&r.lat, 0.99)
        );
    }

    // The plans, for the busiest approver.
    let uid: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = $1")
        .bind(&heavy[0].0)
        .fetch_one(&pool)
        .await?;
    let now = chrono::Utc::now();
    let plans: Vec<(&str, Vec<String>)> = vec![
        (
            "the person, header badges and tab counts (USER_SQL)",
            explain(&pool, USER_SQL, |q| q.bind(uid)).await?,
        ),
        (
            "grouped (TODO_GROUPED_SQL)",
            explain(&pool, TODO_GROUPED_SQL, |q| q.bind(uid)).await?,
        ),
        (
            "flat, page 1 (TODO_FLAT_SQL)",
            explain(&pool, TODO_FLAT_SQL, |q| {
                q.bind(uid).bind(now).bind(21i64).bind(0i64)
            })
            .await?,
        ),
    ];
    println!(
        "\nEXPLAIN (ANALYZE, BUFFERS) for {} ({} open tasks):",
        heavy[0].0, heavy[0].1
    );
    for (name, plan) in &plans {
        let seq = plan.iter().any(|l| l.contains("Seq Scan on tasks"));
        let removed = plan
            .iter()
            .filter_map(|l| l.split("Rows Removed by Filter: ").nth(1))
            .filter_map(|v| v.trim().parse::<i64>().ok())
            .max()
            .unwrap_or(0);
        println!(
            "\n-- {name}: {} sequential scan of tasks; most rows removed by a filter: {removed}",
            if seq { "HAS a" } else { "no" }
        );
        for l in plan {
            println!("   {l}");
        }
    }
    served.stop().await?;
    pool.close().await;
    Ok(())
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

async fn explain<'q>(
    pool: &PgPool,
    sql: &str,
    bind: impl FnOnce(PgQuery<'q>) -> PgQuery<'q>,
) -> anyhow::Result<Vec<String>> {
    let text = format!("EXPLAIN (ANALYZE, BUFFERS) {sql}");
    // Leaked so the query may borrow it for 'q: a handful of strings, once per run.
    let text: &'q str = Box::leak(text.into_boxed_str());
    let rows: Vec<(String,)> = bind(sqlx::query(text))
        .try_map(|r: sqlx::postgres::PgRow| {
            use sqlx::Row;
            r.try_get::<String, _>(0).map(|s| (s,))
        })
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}
