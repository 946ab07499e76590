//! 提交 and 通过 through HTTP with real sessions at 64 concurrent clients, next to
//! `pgbench -M prepared` (TPC-B) against the same PostgreSQL server in the same run, and
//! next to pgbench running the least SQL any 通过 needs (a floor with no HTTP at all).
//!
//! cargo bench --bench workflow       (BENCH_CLIENTS=64, BENCH_PER_CLIENT=60, BENCH_PGBENCH_SECS=20,
//!                                     BENCH_POOL = the server's default pool size, 20)
//! Uses DATABASE_URL when set, else an embedded cluster in a temp folder.

use std::{process::Command, time::Instant};

mod common;

use common::{env, pct, session};
use service_hall::{
    config::Settings,
    db::{EmbeddedPostgres, embedded::find_bin_dir},
    identity::password,
    seed,
};
use sqlx::postgres::PgConnectOptions;

fn main() -> anyhow::Result<()> {
    service_hall::init_tls();
    service_hall::telemetry::init();
    let clients = env("BENCH_CLIENTS", 64);
    let per_client = env("BENCH_PER_CLIENT", 60);
    let pg_secs = env("BENCH_PGBENCH_SECS", 20);
    let server = common::Server::open()?;
    let rt = common::Server::runtime()?;
    let result = rt.block_on(run(server.opts.clone(), clients, per_client));
    let pg = pgbench(&server.opts, server.embedded.as_ref(), clients, pg_secs);
    match (&result, &pg) {
        (Ok((submit_tps, approve_tps, cpu)), Ok(((tps, tpcb_cpu), (least, least_cpu)))) => {
            println!(
                "pgbench -M prepared (TPC-B, scale 10, {clients} clients, 2 threads, {pg_secs} s): {tps:.0} tps"
            );
            println!(
                "pgbench -M prepared (the least SQL of a 通过, same settings): {least:.0} tps = {:.2} of TPC-B",
                least / tps
            );
            println!(
                "提交 / pgbench: {:.2}   通过 / pgbench: {:.2}   通过 / least SQL: {:.2}",
                submit_tps / tps,
                approve_tps / tps,
                approve_tps / least
            );
            if let (Some((c, sc)), Some(t), Some(l)) = (cpu, tpcb_cpu, least_cpu) {
                println!(
                    "per event                CPU ms: machine   PostgreSQL   the rest   WAL records   WAL bytes"
                );
                for (what, x) in [
                    ("提交 over HTTP", sc),
                    ("通过 over HTTP", c),
                    ("TPC-B transaction", t),
                    ("least-SQL transaction", l),
                ] {
                    println!(
                        "{what:<24} {:>23.3} {:>12.3} {:>10.3} {:>13.1} {:>11.0}",
                        x.machine_ms,
                        x.pg_ms,
                        x.machine_ms - x.pg_ms,
                        x.wal_records,
                        x.wal_bytes
                    );
                }
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
                println!(
                    "At its own PostgreSQL CPU per 通过, with everything else free, 通过 could not pass {:.0}/s = {:.2} of TPC-B on {cores} cores",
                    cores * 1000.0 / c.pg_ms,
                    cores * 1000.0 / c.pg_ms / tps
                );
                println!(
                    "At the whole machine's CPU per event (app, PostgreSQL and this load generator): 提交 could not pass {:.0}/s = {:.2} of TPC-B, 通过 {:.0}/s = {:.2}",
                    cores * 1000.0 / sc.machine_ms,
                    cores * 1000.0 / sc.machine_ms / tps,
                    cores * 1000.0 / c.machine_ms,
                    cores * 1000.0 / c.machine_ms / tps
                );
            }
        }
        (_, Err(e)) => println!("pgbench not run: {e}"),
        _ => {}
    }
    drop(server);
    result.map(|_| ())
}

/// What one event cost: CPU of the machine and of PostgreSQL, and the WAL it wrote.
#[derive(Clone, Copy)]
struct Cost {
    machine_ms: f64,
    pg_ms: f64,
    wal_records: f64,
    wal_bytes: f64,
}

type CpuPer = Option<Cost>;

/// The cost per event between two samples of CPU and of `pg_stat_wal` (records, bytes),
/// at `rate` events per second.
fn cost(
    cpu: (Option<common::Cpu>, Option<common::Cpu>),
    wal: (Option<Wal>, Option<Wal>),
    rate: f64,
) -> CpuPer {
    let (a, b) = (cpu.0?, cpu.1?);
    let ((r0, b0), (r1, b1)) = (wal.0?, wal.1?);
    let (machine_ms, pg_ms) = a.per_event(&b, rate);
    let events = a.secs_to(&b) * rate;
    Some(Cost {
        machine_ms,
        pg_ms,
        wal_records: (r1 - r0) as f64 / events,
        wal_bytes: (b1 - b0) as f64 / events,
    })
}

/// `pg_stat_wal`'s (records, bytes) so far.
type Wal = (i64, i64);

const WAL_SQL: &str = "SELECT wal_records::int8, wal_bytes::int8 FROM pg_stat_wal";

/// (提交 per second, 通过 per second, costs per 通过 and per 提交)
async fn run(
    opts: PgConnectOptions,
    clients: usize,
    per_client: usize,
) -> anyhow::Result<(f64, f64, Option<(Cost, Cost)>)> {
    let db = common::BenchDb::demo(
        &opts,
        "hall_wfbench",
        env(
            "BENCH_POOL",
            Settings::defaults().db_max_connections as usize,
        ) as u32,
    )
    .await?;
    let pool = db.pool.clone();
    // One student and one counselor per client; student i names counselor i.
    let hash = password::hash_blocking(seed::DEMO_PASSWORD)?;
    sqlx::query(
        "INSERT INTO users (account, name, user_type, department_id, status, password_hash, phone)
         SELECT 'BS' || i, '学生' || i, 'student', d.id, 'active', $2, '167' || lpad(i::text, 8, '0')
         FROM generate_series(1, $1) i, departments d WHERE d.code = 'CS'
         UNION ALL
         SELECT 'BC' || i, '辅导员' || i, 'staff', d.id, 'active', $2, '168' || lpad(i::text, 8, '0')
         FROM generate_series(1, $1) i, departments d WHERE d.code = 'CS'",
    )
    .bind(clients as i32)
    .bind(&hash)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO user_roles (user_id, role_id, department_id)
         SELECT u.id, r.id, d.id FROM users u, roles r, departments d
         WHERE u.account LIKE 'BC%' AND r.code = 'counselor' AND d.code = 'CS'",
    )
    .execute(&pool)
    .await?;
    // As autovacuum would have by the time anyone signs in: without statistics on the
    // people just inserted, plans fit a table of a few rows (issue 16's first finding).
    sqlx::query("ANALYZE").execute(&pool).await?;
    let service: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'XSQJ'")
        .fetch_one(&pool)
        .await?;

    let mut settings = Settings::defaults();
    settings.ip_max_failures = 1_000_000;
    let served = common::serve(&pool, settings).await?;
    let base = served.base.clone();

    let mut students = Vec::new();
    let mut counselors = Vec::new();
    for i in 1..=clients {
        students.push(session(&base, &format!("BS{i}")).await?);
        counselors.push(session(&base, &format!("BC{i}")).await?);
    }
    let counselor_ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM users WHERE account LIKE 'BC%' ORDER BY substr(account, 3)::int",
    )
    .fetch_all(&pool)
    .await?;

    // 提交
    common::statements_reset(&pool).await?;
    let submit_wal_before: Option<Wal> = sqlx::query_as(WAL_SQL).fetch_one(&pool).await.ok();
    let submit_cpu_before = common::Cpu::sample();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, (c, token)) in students.into_iter().enumerate() {
        let url = format!("{base}/services/{service}/apply");
        let counselor = counselor_ids[i].to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut ids = Vec::new();
            for _ in 0..per_client {
                let once = uuid::Uuid::new_v4().to_string();
                let form = common::leave_form(&token, &counselor, &once);
                let t = Instant::now();
                let r = c.post(&url).form(&form).send().await.expect("submit");
                lat.push(t.elapsed());
                assert_eq!(r.status(), 303, "submit");
                let id: i64 = r.headers()["location"]
                    .to_str()
                    .unwrap()
                    .trim_start_matches("/applications/")
                    .parse()
                    .unwrap();
                ids.push(id);
            }
            (lat, ids)
        }));
    }
    let mut submit_lat = Vec::new();
    let mut per_client_ids = Vec::new();
    for t in tasks {
        let (lat, ids) = t.await?;
        submit_lat.extend(lat);
        per_client_ids.push(ids);
    }
    let submit_secs = started.elapsed().as_secs_f64();
    let submit_cpu_after = common::Cpu::sample();
    let submit_wal_after: Option<Wal> = sqlx::query_as(WAL_SQL).fetch_one(&pool).await.ok();
    common::statements_print(&pool, (clients * per_client) as f64).await?;

    // 通过
    common::statements_reset(&pool).await?;
    let wal_before: Option<Wal> = sqlx::query_as(WAL_SQL).fetch_one(&pool).await.ok();
    let cpu_before = common::Cpu::sample();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for ((c, token), ids) in counselors.into_iter().zip(per_client_ids) {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for id in ids {
                let form = [
                    ("_csrf", token.as_str()),
                    ("op", "approve"),
                    ("node", "counselor"),
                    ("version", "1"),
                ];
                let t = Instant::now();
                let r = c
                    .post(format!("{base}/applications/{id}/act"))
                    .form(&form)
                    .send()
                    .await
                    .expect("approve");
                lat.push(t.elapsed());
                if r.status() != 303 {
                    let code = r.status();
                    let body = r.text().await.unwrap_or_default();
                    panic!(
                        "approve {id}: {code} {}",
                        body.chars()
                            .filter(|c| !c.is_whitespace())
                            .skip(1500)
                            .take(600)
                            .collect::<String>()
                    );
                }
            }
            lat
        }));
    }
    let mut approve_lat = Vec::new();
    for t in tasks {
        approve_lat.extend(t.await?);
    }
    let approve_secs = started.elapsed().as_secs_f64();
    let cpu_after = common::Cpu::sample();
    let wal_after: Option<Wal> = sqlx::query_as(WAL_SQL).fetch_one(&pool).await.ok();
    common::statements_print(&pool, (clients * per_client) as f64).await?;
    let done: i64 =
        sqlx::query_scalar("SELECT count(*) FROM applications WHERE status = 'completed'")
            .fetch_one(&pool)
            .await?;
    anyhow::ensure!(
        done as usize == clients * per_client,
        "every application completed once ({done})"
    );

    submit_lat.sort();
    approve_lat.sort();
    let n = (clients * per_client) as f64;
    let (s_tps, a_tps) = (n / submit_secs, n / approve_secs);
    println!("{clients} clients × {per_client} applications each");
    println!("{:<10} {:>9} {:>9} {:>9}", "", "per s", "p50 ms", "p99 ms");
    println!(
        "{:<10} {:>9.0} {:>9.2} {:>9.2}",
        "提交",
        s_tps,
        pct(&submit_lat, 0.5),
        pct(&submit_lat, 0.99)
    );
    println!(
        "{:<10} {:>9.0} {:>9.2} {:>9.2}",
        "通过",
        a_tps,
        pct(&approve_lat, 0.5),
        pct(&approve_lat, 0.99)
    );
    served.stop().await?;
    db.drop_db().await?;
    let cpu = cost((cpu_before, cpu_after), (wal_before, wal_after), a_tps);
    let submit_cpu = cost(
        (submit_cpu_before, submit_cpu_after),
        (submit_wal_before, submit_wal_after),
        s_tps,
    );
    Ok((s_tps, a_tps, cpu.zip(submit_cpu)))
}

/// The least any 通过 must ask of PostgreSQL, as a pgbench script: one statement reading
/// the session, the person and the application (by key), and one statement writing the
/// application row, the task, a 流转记录, an audit row and an outbox row — no HTTP, no
/// triggers, no secondary indexes. Every transaction writes (no version check fails).
const LEAST_SETUP: &str = "
CREATE TABLE sess (id text PRIMARY KEY, data bytea, user_id bigint, expiry timestamptz);
CREATE TABLE usr (id bigint PRIMARY KEY, account text, name text, epoch int, status text);
CREATE TABLE app (id bigint PRIMARY KEY, status text, version int, state jsonb, updated_at timestamptz) WITH (fillfactor = 85);
CREATE TABLE task (id bigint PRIMARY KEY, app_id bigint, status text, acted_at timestamptz) WITH (fillfactor = 85);
CREATE TABLE flow (id bigserial PRIMARY KEY, app_id bigint, actor bigint, action text, comment text, at timestamptz);
CREATE TABLE audit (id bigserial PRIMARY KEY, at timestamptz, actor bigint, action text, target text);
CREATE TABLE outbox (id bigserial PRIMARY KEY, key text UNIQUE, recipient bigint, payload jsonb, created_at timestamptz);
INSERT INTO usr SELECT i, 'u' || i, '用户', 0, 'active' FROM generate_series(1, 1000) i;
INSERT INTO sess SELECT 's' || i, decode(repeat('ab', 150), 'hex'), i, now() + interval '1 day' FROM generate_series(1, 1000) i;
INSERT INTO app SELECT i, 'running', 1, '{\"nodes\": {\"counselor\": \"active\"}}', now() FROM generate_series(1, 200000) i;
INSERT INTO task SELECT i, i, 'pending', NULL FROM generate_series(1, 200000) i;";

const LEAST_SCRIPT: &str = "\\set id random(1, 200000)
\\set u random(1, 1000)
SELECT s.data, u.id, u.epoch, a.status, a.version, a.state FROM sess s JOIN usr u ON u.id = s.user_id, app a WHERE s.id = 's' || :u AND s.expiry > now() AND u.status = 'active' AND a.id = :id;
WITH upd AS (UPDATE app SET status = 'completed', version = version + 1, state = '{\"nodes\": {\"counselor\": \"done\"}}', updated_at = now() WHERE id = :id RETURNING id), t AS (UPDATE task SET status = 'done', acted_at = now() FROM upd WHERE task.id = upd.id), f AS (INSERT INTO flow (app_id, actor, action, comment, at) SELECT upd.id, :u, 'approve', '', now() FROM upd), au AS (INSERT INTO audit (at, actor, action, target) SELECT now(), :u, 'application.approve', 'application:' || upd.id FROM upd), o AS (INSERT INTO outbox (key, recipient, payload, created_at) SELECT 'done:' || upd.id || ':' || :client_id || ':' || random(), :u, '{\"text\": \"您的申请已办结\"}', now() FROM upd) SELECT count(*) FROM upd;
";

/// TPC-B by pgbench against the same server, then pgbench on the least SQL of a 通过
/// (`LEAST_SCRIPT`): ((TPC-B tps, its CPU per transaction), (least-SQL tps, its CPU)).
fn pgbench(
    opts: &PgConnectOptions,
    embedded: Option<&EmbeddedPostgres>,
    clients: usize,
    secs: usize,
) -> anyhow::Result<((f64, CpuPer), (f64, CpuPer))> {
    let bin = find_bin_dir()
        .map(|d| d.join("pgbench"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "pgbench".into());
    let db = format!("hall_pgbench_{}", std::process::id());
    let (host, port, user) = match embedded {
        Some(pg) => (
            pg.socket_dir().display().to_string(),
            "5432".to_owned(),
            service_hall::db::embedded::SUPERUSER.to_owned(),
        ),
        None => (
            opts.get_host().to_owned(),
            opts.get_port().to_string(),
            opts.get_username().to_owned(),
        ),
    };
    let psql = |database: &str, sql: &str| {
        Command::new(bin.with_file_name("psql"))
            .args([
                "-h",
                &host,
                "-p",
                &port,
                "-U",
                &user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atqc",
                sql,
            ])
            .output()
    };
    psql("postgres", &format!("DROP DATABASE IF EXISTS {db}"))?;
    psql("postgres", &format!("CREATE DATABASE {db}"))?;
    let base = |c: &mut Command| {
        c.args(["-h", &host, "-p", &port, "-U", &user]);
    };
    let mut init = Command::new(&bin);
    base(&mut init);
    let out = init.args(["-i", "-q", "-s", "10", &db]).output()?;
    anyhow::ensure!(
        out.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // CPU is sampled inside the run, away from its connection start-up and ending.
    let tps = |extra: &[&str]| -> anyhow::Result<(f64, CpuPer)> {
        let mut run = Command::new(&bin);
        base(&mut run);
        let child = run
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .args([
                "-M",
                "prepared",
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &secs.to_string(),
            ])
            .args(extra)
            .arg(&db)
            .spawn()?;
        let margin = std::time::Duration::from_secs_f64((secs as f64 / 5.0).min(2.0));
        std::thread::sleep(margin);
        let wal = || -> Option<Wal> {
            let out = psql(&db, WAL_SQL).ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let (r, b) = text.trim().split_once('|')?;
            Some((r.parse().ok()?, b.parse().ok()?))
        };
        let w0 = wal();
        let a = common::Cpu::sample();
        std::thread::sleep(std::time::Duration::from_secs(secs as u64).saturating_sub(margin * 2));
        let b = common::Cpu::sample();
        let w1 = wal();
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let tps = text
            .lines()
            .find(|l| l.starts_with("tps ="))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no tps in pgbench output: {text} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        Ok((tps, cost((a, b), (w0, w1), tps)))
    };
    let result = (|| {
        let tpcb = tps(&[])?;
        let out = psql(&db, LEAST_SETUP)?;
        anyhow::ensure!(
            out.status.success(),
            "least-SQL setup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        psql(&db, "VACUUM ANALYZE")?;
        let script = std::env::temp_dir().join(format!("hall-least-{}.sql", std::process::id()));
        std::fs::write(&script, LEAST_SCRIPT)?;
        let least = tps(&["-n", "-f", &script.display().to_string()]);
        std::fs::remove_file(&script).ok();
        Ok((tpcb, least?))
    })();
    psql("postgres", &format!("DROP DATABASE IF EXISTS {db}"))?;
    result
}
