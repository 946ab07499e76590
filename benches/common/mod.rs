//! Shared by the HTTP benchmarks: settings, percentiles, signed-in clients.
#![allow(dead_code)]

use std::time::Duration;

use service_hall::seed;

pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Milliseconds at percentile `p` of sorted latencies.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

/// A client signed in as `account` (demo password) with its own cookie jar, and the
/// session's CSRF token.
pub async fn session(base: &str, account: &str) -> anyhow::Result<(reqwest::Client, String)> {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let html = c.get(format!("{base}/login")).send().await?.text().await?;
    let login_token = token(&html);
    let r = c
        .post(format!("{base}/login"))
        .form(&[
            ("account", account),
            ("password", seed::DEMO_PASSWORD),
            ("_csrf", &login_token),
        ])
        .send()
        .await?;
    anyhow::ensure!(r.status() == 303, "login {account}: {}", r.status());
    // The token is renewed at sign-in: read it from a signed-in page.
    let html = c.get(format!("{base}/center")).send().await?.text().await?;
    Ok((c, token(&html)))
}

/// The 学生请假 form the benches submit: one day, naming counselor `counselor` (an id),
/// with the one-time key a browser's form carries (`once`, a fresh UUID per 提交).
pub fn leave_form<'a>(
    token: &'a str,
    counselor: &'a str,
    once: &'a str,
) -> [(&'static str, &'a str); 11] {
    [
        ("_csrf", token),
        ("once", once),
        ("intent", "submit"),
        ("f.phone", "13800138000"),
        ("f.kind", "事假"),
        ("f.period.from", "2026-12-01"),
        ("f.period.to", "2026-12-01"),
        ("f.days", "1"),
        ("f.reason", "基准测试"),
        ("f.leave_campus", "否"),
        ("f.counselor", counselor),
    ]
}

pub fn token(html: &str) -> String {
    let m = "name=\"_csrf\" value=\"";
    let s = html.find(m).map(|i| i + m.len()).unwrap_or(0);
    html[s..s + html[s..].find('"').unwrap_or(0)].to_owned()
}

/// The server to measure: `DATABASE_URL` when set, else a fresh embedded cluster in a
/// temporary folder (removed when the guard drops).
pub struct Server {
    pub opts: sqlx::postgres::PgConnectOptions,
    pub embedded: Option<service_hall::db::EmbeddedPostgres>,
    dir: Option<std::path::PathBuf>,
}

impl Server {
    pub fn open() -> anyhow::Result<Server> {
        use std::str::FromStr;
        Ok(
            match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
                Some(url) => Server {
                    opts: sqlx::postgres::PgConnectOptions::from_str(&url)?,
                    embedded: None,
                    dir: None,
                },
                None => {
                    let dir = std::env::temp_dir()
                        .join(format!("service-hall-bench-{}", std::process::id()));
                    let pg = service_hall::db::EmbeddedPostgres::start(&dir)?;
                    // BENCH_STATEMENTS=1: restart with pg_stat_statements loaded, to read
                    // which statements cost PostgreSQL's time (diagnostic; it adds overhead).
                    if statements_wanted() {
                        drop(pg); // stops it; a stopped guard dropped later would stop the new one
                        use std::io::Write;
                        std::fs::OpenOptions::new()
                            .append(true)
                            .open(dir.join("postgresql.conf"))?
                            .write_all(
                                b"\nshared_preload_libraries = 'pg_stat_statements,auto_explain'\npg_stat_statements.track = all\npg_stat_statements.track_planning = on\nauto_explain.log_min_duration = '1ms'\nauto_explain.sample_rate = 0.05\nauto_explain.log_analyze = on\nauto_explain.log_buffers = on\n",
                            )?;
                        let pg = service_hall::db::EmbeddedPostgres::start(&dir)?;
                        return Ok(Server {
                            opts: pg.connect_options("postgres"),
                            embedded: Some(pg),
                            dir: Some(dir),
                        });
                    }
                    Server {
                        opts: pg.connect_options("postgres"),
                        embedded: Some(pg),
                        dir: Some(dir),
                    }
                }
            },
        )
    }

    /// A two-thread runtime, like the 2-core machines the figures come from.
    pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
        Ok(tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.embedded.take();
        if let Some(d) = self.dir.take() {
            if statements_wanted() {
                // The slow plans auto_explain logged outlive the cluster's folder.
                let _ = std::fs::copy(d.join("server.log"), "/tmp/bench-server.log");
            }
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// CPU used so far, from Linux's `/proc` (clock ticks): the whole machine's busy time and
/// the time of every process named `postgres` (the server's backends). `None` elsewhere.
/// Two samples around a phase split its CPU per request between PostgreSQL and the rest
/// (the app, the load generator, the kernel's networking).
#[derive(Clone, Copy)]
pub struct Cpu {
    at: std::time::Instant,
    busy: u64,
    pg: u64,
}

/// Linux's USER_HZ, which `/proc` counts in on every common platform.
const TICKS_PER_SEC: f64 = 100.0;

impl Cpu {
    pub fn sample() -> Option<Cpu> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let f: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let busy = f.iter().take(8).sum::<u64>() - f.get(3)? - f.get(4)?;
        let mut pg = 0;
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(s) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
            let Some((head, rest)) = s.rsplit_once(')') else {
                continue;
            };
            if !head.ends_with("(postgres") {
                continue;
            }
            let v: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the line, 12 and 13 after comm.
            pg += v.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
                + v.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        }
        Some(Cpu {
            at: std::time::Instant::now(),
            busy,
            pg,
        })
    }

    /// Seconds from `self` to the later sample `end`.
    pub fn secs_to(&self, end: &Cpu) -> f64 {
        (end.at - self.at).as_secs_f64().max(1e-9)
    }

    /// (machine ms, PostgreSQL ms) of CPU per event, at `rate` events per second, between
    /// `self` and the later sample `end`.
    pub fn per_event(&self, end: &Cpu, rate: f64) -> (f64, f64) {
        let secs = self.secs_to(end);
        let ms = |ticks: u64| ticks as f64 / TICKS_PER_SEC * 1000.0 / secs / rate;
        (
            ms(end.busy.saturating_sub(self.busy)),
            ms(end.pg.saturating_sub(self.pg)),
        )
    }
}

/// A fresh database `<prefix>_<pid>` on `opts`' server (dropped first if a crashed run
/// left it), migrated and seeded with the demo, with a pool of `pool_size` (the server's
/// own: `Settings::defaults().db_max_connections`).
pub struct BenchDb {
    pub pool: sqlx::PgPool,
    name: String,
    admin: sqlx::PgConnection,
}

impl BenchDb {
    pub async fn demo(
        opts: &sqlx::postgres::PgConnectOptions,
        prefix: &str,
        pool_size: u32,
    ) -> anyhow::Result<BenchDb> {
        use sqlx::{Connection, Executor};
        let name = format!("{prefix}_{}", std::process::id());
        let mut admin =
            sqlx::PgConnection::connect_with(&opts.clone().database("postgres")).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
            .await?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        let pool = service_hall::db::pool(opts.clone().database(&name), pool_size).await?;
        service_hall::db::migrate(&pool).await?;
        seed::seed_demo(
            &pool,
            &service_hall::secret::SecretKey::from_secret("bench"),
        )
        .await?;
        Ok(BenchDb { pool, name, admin })
    }

    /// Closes the pool and drops the database.
    pub async fn drop_db(mut self) -> anyhow::Result<()> {
        use sqlx::Executor;
        self.pool.close().await;
        self.admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await?;
        Ok(())
    }
}

/// The product serving `pool` on a free local port, as `serve` runs it, with the bench's
/// secret and base URL set on `settings`.
pub struct Served {
    pub base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn serve(
    pool: &sqlx::PgPool,
    mut settings: service_hall::config::Settings,
) -> anyhow::Result<Served> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    settings.base_url = url::Url::parse(&format!("http://127.0.0.1:{port}/"))?;
    settings.secret_key = Some(service_hall::config::Secret("bench".into()));
    let app = service_hall::startup::Application::with_listener(
        settings,
        listener,
        pool.clone(),
        std::sync::Arc::new(service_hall::clock::SystemClock),
    )?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until_stopped(async {
        stopped.await.ok();
    }));
    Ok(Served {
        base: format!("http://127.0.0.1:{port}"),
        stop,
        serving,
    })
}

impl Served {
    /// Stops the server and its background worker (before their pool closes).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.send(()).ok();
        self.serving.await?
    }
}

/// Whether `BENCH_STATEMENTS=1` asks for a per-statement breakdown.
pub fn statements_wanted() -> bool {
    std::env::var("BENCH_STATEMENTS").is_ok_and(|v| v == "1")
}

/// Starts counting statements (`BENCH_STATEMENTS=1` only): creates the extension in the
/// bench's database and resets it.
pub async fn statements_reset(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    if statements_wanted() {
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(pool)
            .await?;
        sqlx::query("SELECT pg_stat_statements_reset()")
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Prints the statements that took the most execution time since the reset, per event.
pub async fn statements_print(pool: &sqlx::PgPool, events: f64) -> anyhow::Result<()> {
    if !statements_wanted() {
        return Ok(());
    }
    let rows: Vec<(String, i64, f64, i64, i64, i64, f64)> = sqlx::query_as(
        "SELECT regexp_replace(query, '\\s+', ' ', 'g'), calls, total_exec_time,
                rows, wal_records, plans, total_plan_time
         FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 25",
    )
    .fetch_all(pool)
    .await?;
    let (total, planning): (f64, f64) =
        sqlx::query_as("SELECT sum(total_exec_time), sum(total_plan_time) FROM pg_stat_statements")
            .fetch_one(pool)
            .await?;
    println!(
        "statements (pg_stat_statements), per event: all {:.3} ms of execution, {:.3} ms of planning",
        total / events,
        planning / events
    );
    println!(
        "{:>8} {:>9} {:>7} {:>9} {:>7} {:>6}  statement",
        "calls", "ms", "rows", "plan ms", "plans", "WAL"
    );
    for (q, calls, ms, rows, wal, plans, plan_ms) in rows {
        println!(
            "{:>8.2} {:>9.3} {:>7.2} {:>9.3} {:>7.2} {:>6.1}  {}",
            calls as f64 / events,
            ms / events,
            rows as f64 / events,
            plan_ms / events,
            plans as f64 / events,
            wal as f64 / events,
            q.chars().take(160).collect::<String>()
        );
    }
    Ok(())
}
