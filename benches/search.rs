//! 服务中心 search over generated services: server-side query time (p50/p99) for Chinese,
//! full-pinyin and initials queries, and the full HTTP round trip through the real router,
//! next to references measured in the same run: `SELECT 1` on the same pool and axum's
//! `/readyz` handler (one `SELECT 1`) over HTTP.
//!
//! cargo bench --bench search            (BENCH_SERVICES=10000, BENCH_ITERS=300)
//! Uses DATABASE_URL when set, else an embedded cluster in a temp folder.

mod common;

use std::time::{Duration, Instant};

use service_hall::{
    catalog::{generate::generate_services, search},
    config::Settings,
};
use sqlx::postgres::PgConnectOptions;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Stat {
    name: String,
    p50: f64,
    p99: f64,
}

fn stat(name: &str, mut v: Vec<Duration>) -> Stat {
    v.sort();
    Stat {
        name: name.into(),
        p50: percentile(&v, 0.5),
        p99: percentile(&v, 0.99),
    }
}

fn main() -> anyhow::Result<()> {
    service_hall::init_tls();
    let n: usize = std::env::var("BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let server = common::Server::open()?;
    let rt = common::Server::runtime()?;
    rt.block_on(run(server.opts.clone(), n, iters))
}

async fn run(opts: PgConnectOptions, n: usize, iters: usize) -> anyhow::Result<()> {
    let db =
        common::BenchDb::demo(&opts, "hall_bench", Settings::defaults().db_max_connections).await?;
    let pool = db.pool.clone();
    let t = Instant::now();
    generate_services(&pool, n, 42).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM services")
        .fetch_one(&pool)
        .await?;
    eprintln!(
        "generated {n} services in {:.1}s ({total} in all)",
        t.elapsed().as_secs_f64()
    );

    let settings = Settings::defaults();
    let served = common::serve(&pool, settings).await?;
    let client = reqwest::Client::new();
    let base = served.base.clone();

    let queries = [
        ("chinese 请假", "请假"),
        ("chinese 学生证明", "学生 证明"),
        ("full pinyin qingjia", "qingjia"),
        ("pinyin spaced qing jia", "qing jia"),
        ("initials xsqj", "xsqj"),
        ("no query (list)", ""),
    ];
    let mut stats = Vec::new();
    // References first.
    let mut v = Vec::new();
    for i in 0..iters + 20 {
        let t = Instant::now();
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&pool)
            .await?;
        if i >= 20 {
            v.push(t.elapsed());
        }
    }
    stats.push(stat("reference: SELECT 1 (pool)", v));
    let mut v = Vec::new();
    for i in 0..iters + 20 {
        let t = Instant::now();
        let r = client.get(format!("{base}/readyz")).send().await?;
        r.bytes().await?;
        if i >= 20 {
            v.push(t.elapsed());
        }
    }
    stats.push(stat("reference: GET /readyz (axum, SELECT 1)", v));

    for (label, q) in queries {
        let filters: search::Filters = search::RawFilters {
            q: Some(q.into()),
            ..Default::default()
        }
        .into();
        let hits = search::search(&pool, &filters).await?.total;
        let mut v = Vec::new();
        for i in 0..iters + 20 {
            let t = Instant::now();
            search::search(&pool, &filters).await?;
            if i >= 20 {
                v.push(t.elapsed());
            }
        }
        stats.push(stat(&format!("search query: {label} ({hits} hits)"), v));
        let path = format!(
            "{base}/services?q={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        );
        let mut v = Vec::new();
        for i in 0..iters + 20 {
            let t = Instant::now();
            let r = client.get(&path).send().await?;
            anyhow::ensure!(r.status() == 200);
            r.bytes().await?;
            if i >= 20 {
                v.push(t.elapsed());
            }
        }
        stats.push(stat(&format!("GET /services: {label}"), v));
    }
    println!("services: {total}, iterations: {iters}");
    println!("{:<58} {:>9} {:>9}", "measurement", "p50 ms", "p99 ms");
    for s in &stats {
        println!("{:<58} {:>9.3} {:>9.3}", s.name, s.p50, s.p99);
    }
    served.stop().await?;
    db.drop_db().await?;
    Ok(())
}
