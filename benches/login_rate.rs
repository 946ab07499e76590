//! Sign-ins at a steady rate while signed-in people browse (issue 16, goal 5): 64 clients
//! load 首页 and 我待办的 in a loop for `BENCH_SECS`, first alone, then while new clients
//! sign in at `BENCH_LOGIN_RATE` per second (each: GET /login, POST /login with the demo
//! password on its own account; argon2id at the OWASP parameters, as the server hashes).
//! Prints the sign-ins achieved per second and their latency, and the pages' p50/p99 in
//! both phases, with the ratio — all from one run.
//!
//! cargo bench --bench login_rate   (BENCH_CLIENTS=64, BENCH_SECS=15, BENCH_LOGIN_RATE=50;
//!                                   HALL_PASSWORD_THREADS as the server reads it;
//!                                   DATABASE_URL or an embedded cluster)

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{env, pct, session};
use service_hall::{config::Settings, identity::password, seed};

fn main() -> anyhow::Result<()> {
    service_hall::init_tls();
    let server = common::Server::open()?;
    let rt = common::Server::runtime()?;
    rt.block_on(run(server.opts.clone()))
}

/// 64 clients loading 首页 and 我待办的 in turn until `stop`; every latency (each response
/// checked to be 200).
async fn browse(
    base: &str,
    clients: &[(reqwest::Client, String)],
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let mut set = tokio::task::JoinSet::new();
    for (i, (c, _)) in clients.iter().enumerate() {
        let (c, base, stop) = (c.clone(), base.to_owned(), stop.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            let mut n = i;
            while !stop.load(Ordering::Relaxed) {
                let path = if n % 2 == 0 { "/" } else { "/center/todo" };
                n += 1;
                let t = Instant::now();
                let r = c.get(format!("{base}{path}")).send().await.expect("page");
                assert_eq!(r.status(), 200, "{path}");
                r.bytes().await.expect("body");
                lat.push(t.elapsed());
            }
            lat
        });
    }
    let mut all: Vec<Duration> = set.join_all().await.into_iter().flatten().collect();
    all.sort();
    all
}

/// One sign-in on a fresh client; its latency (POST only) and whether it got in (303).
async fn sign_in(base: String, account: String) -> anyhow::Result<(Duration, bool)> {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let html = c.get(format!("{base}/login")).send().await?.text().await?;
    let token = common::token(&html);
    let t = Instant::now();
    let r = c
        .post(format!("{base}/login"))
        .form(&[
            ("_csrf", token.as_str()),
            ("account", account.as_str()),
            ("password", seed::DEMO_PASSWORD),
        ])
        .send()
        .await?;
    Ok((t.elapsed(), r.status() == 303))
}

fn line(what: &str, lat: &[Duration], secs: f64) {
    println!(
        "{what:<44} {:>8.0} {:>9.2} {:>9.2}",
        lat.len() as f64 / secs,
        pct(lat, 0.5),
        pct(lat, 0.99)
    );
}

async fn run(opts: sqlx::postgres::PgConnectOptions) -> anyhow::Result<()> {
    let clients_n = env("BENCH_CLIENTS", 64);
    let secs = env("BENCH_SECS", 15) as u64;
    let rate = env("BENCH_LOGIN_RATE", 50);
    // The operator's trade, as `serve` applies it.
    if let Some(n) = Settings::from_env()?.password_threads {
        password::set_concurrency(n);
    }
    let db = common::BenchDb::demo(
        &opts,
        "hall_loginrate",
        Settings::defaults().db_max_connections,
    )
    .await?;
    let pool = db.pool.clone();
    let t = Instant::now();
    let hash = password::hash_blocking(seed::DEMO_PASSWORD)?;
    let one_hash = t.elapsed();
    // Browsing people (R…) and the accounts that sign in (L…), one sign-in each.
    let logins = rate * secs as usize + rate;
    sqlx::query(
        "INSERT INTO users (account, name, user_type, department_id, status, password_hash)
         SELECT 'R' || i, '学生' || i, 'student', d.id, 'active', $3
         FROM generate_series(1, $1) i, departments d WHERE d.code = 'CS'
         UNION ALL
         SELECT 'L' || i, '同学' || i, 'student', d.id, 'active', $3
         FROM generate_series(1, $2) i, departments d WHERE d.code = 'CS'",
    )
    .bind(clients_n as i32)
    .bind(logins as i32)
    .bind(&hash)
    .execute(&pool)
    .await?;
    sqlx::query("ANALYZE").execute(&pool).await?;

    let served = common::serve(&pool, Settings::defaults()).await?;
    let base = served.base.clone();
    let mut clients = Vec::new();
    for i in 1..=clients_n {
        clients.push(session(&base, &format!("R{i}")).await?);
    }
    println!(
        "argon2id, one hash: {:.1} ms; hashing threads: {}",
        one_hash.as_secs_f64() * 1000.0,
        password::concurrency()
    );
    println!(
        "{clients_n} browsing clients, {secs} s per phase, sign-ins offered at {rate}/s in phase 2"
    );
    println!("{:<44} {:>8} {:>9} {:>9}", "", "per s", "p50 ms", "p99 ms");

    // Phase 1: pages alone.
    let stop = Arc::new(AtomicBool::new(false));
    let browsing = {
        let (base, clients, stop) = (base.clone(), clients.clone(), stop.clone());
        tokio::spawn(async move { browse(&base, &clients, stop).await })
    };
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let alone = browsing.await?;
    line("pages (首页, 我待办的), no sign-ins", &alone, secs as f64);

    // Phase 2: the same, with sign-ins arriving at a steady rate (open loop: one starts
    // every 1/rate s whether or not the ones before have finished).
    let stop = Arc::new(AtomicBool::new(false));
    let browsing = {
        let (base, clients, stop) = (base.clone(), clients.clone(), stop.clone());
        tokio::spawn(async move { browse(&base, &clients, stop).await })
    };
    let mut set = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        i += 1;
        set.spawn(sign_in(base.clone(), format!("L{i}")));
    }
    stop.store(true, Ordering::Relaxed);
    let with = browsing.await?;
    let results: Vec<(Duration, bool)> = set
        .join_all()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let wall = started.elapsed().as_secs_f64();
    let mut ok: Vec<Duration> = results.iter().filter(|r| r.1).map(|r| r.0).collect();
    ok.sort();
    let refused = results.len() - ok.len();
    line("pages (首页, 我待办的), with sign-ins", &with, secs as f64);
    if ok.is_empty() {
        println!("sign-ins (POST /login → 303): none got in");
    } else {
        line("sign-ins (POST /login → 303)", &ok, wall);
    }
    println!(
        "sign-ins offered {}, signed in {}, refused {refused}",
        results.len(),
        ok.len()
    );
    println!(
        "pages p99 with / without sign-ins: {:.2}   p50: {:.2}   sign-ins per second: {:.1}",
        pct(&with, 0.99) / pct(&alone, 0.99),
        pct(&with, 0.5) / pct(&alone, 0.5),
        ok.len() as f64 / wall
    );
    served.stop().await?;
    db.drop_db().await?;
    Ok(())
}
