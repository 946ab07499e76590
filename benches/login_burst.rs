//! Memory and limits under a crowd signing in at once, in-process (the server and its
//! clients share the process, so its peak RSS bounds the server's):
//! 1. 150 simultaneous wrong-password sign-ins from one address on four accounts;
//! 2. 100 people signing in together (retrying after a 503 as told by `Retry-After`).
//!
//! Prints the argon2 verifications (settled `login_attempts` rows), the answers by status,
//! the wall time and VmHWM / VmRSS from `/proc/self/status` after each phase.
//!
//! `cargo bench --bench login_burst` (`DATABASE_URL` or an embedded cluster).

mod common;

use std::{collections::BTreeMap, time::Instant};

use service_hall::{config::Settings, identity::password, seed};
use sqlx::{PgPool, postgres::PgConnectOptions};

fn memory() -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .map(|l| l[k.len()..].trim().to_owned())
            .unwrap_or_default()
    };
    format!("VmHWM {} VmRSS {}", field("VmHWM:"), field("VmRSS:"))
}

fn main() -> anyhow::Result<()> {
    service_hall::init_tls();
    let server = common::Server::open()?;
    let rt = common::Server::runtime()?;
    rt.block_on(run(server.opts.clone()))
}

/// Fires all `(account, password)` sign-ins at once; the final status of each.
async fn burst(base: &str, jobs: Vec<(String, &'static str)>) -> anyhow::Result<Vec<u16>> {
    let mut ready = Vec::new();
    for (account, pw) in jobs {
        let c = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let html = c.get(format!("{base}/login")).send().await?.text().await?;
        ready.push((c, common::token(&html), account, pw));
    }
    let mut set = tokio::task::JoinSet::new();
    for (c, token, account, pw) in ready {
        let url = format!("{base}/login");
        set.spawn(async move {
            loop {
                let r = c
                    .post(&url)
                    .form(&[
                        ("_csrf", token.as_str()),
                        ("account", &account),
                        ("password", pw),
                    ])
                    .send()
                    .await?;
                let status = r.status().as_u16();
                if status != 503 {
                    return anyhow::Ok(status);
                }
                let wait: u64 = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .ok_or_else(|| anyhow::anyhow!("503 without Retry-After"))?;
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            }
        });
    }
    set.join_all().await.into_iter().collect()
}

fn tally(statuses: &[u16]) -> BTreeMap<u16, usize> {
    let mut m = BTreeMap::new();
    for s in statuses {
        *m.entry(*s).or_default() += 1;
    }
    m
}

async fn verified(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM login_attempts WHERE NOT pending")
            .fetch_one(pool)
            .await?,
    )
}

async fn run(opts: PgConnectOptions) -> anyhow::Result<()> {
    let db =
        common::BenchDb::demo(&opts, "hall_bench", Settings::defaults().db_max_connections).await?;
    let pool = db.pool.clone();
    let hash = password::hash_blocking(seed::DEMO_PASSWORD)?;
    sqlx::query(
        "INSERT INTO users (account, name, user_type, status, password_hash)
         SELECT 'B' || lpad(n::text, 4, '0'), '同学' || n, 'student', 'active', $1
         FROM generate_series(1, 100) n",
    )
    .bind(&hash)
    .execute(&pool)
    .await?;

    let settings = Settings::defaults();
    let served = common::serve(&pool, settings).await?;
    let base = served.base.clone();
    println!(
        "hash concurrency {}; start: {}",
        password::concurrency(),
        memory()
    );

    let accounts: Vec<String> = sqlx::query_scalar(
        "SELECT account FROM users WHERE status = 'active' AND password_hash IS NOT NULL
         AND account NOT LIKE 'B%' ORDER BY id LIMIT 4",
    )
    .fetch_all(&pool)
    .await?;
    let t = Instant::now();
    let s = burst(
        &base,
        (0..150)
            .map(|i| (accounts[i % 4].clone(), "Wrong@2026"))
            .collect(),
    )
    .await?;
    println!(
        "150 wrong passwords, 4 accounts, one address: {:?} in {:.1}s; verified {}; {}",
        tally(&s),
        t.elapsed().as_secs_f64(),
        verified(&pool).await?,
        memory()
    );

    let t = Instant::now();
    let s = burst(
        &base,
        (1..=100)
            .map(|n| (format!("B{n:04}"), seed::DEMO_PASSWORD))
            .collect(),
    )
    .await?;
    println!(
        "100 people signing in together: {:?} in {:.1}s; verified {} in all; {}",
        tally(&s),
        t.elapsed().as_secs_f64(),
        verified(&pool).await?,
        memory()
    );

    served.stop().await?;
    db.drop_db().await?;
    Ok(())
}
