//! What one 提交 and one 通过 write to the WAL, record by record: the workflow bench's WAL
//! figures come from a busy server (autovacuum, checkpoints' full-page images and the
//! worker add to them, ±3 records between runs); this one runs each event alone on a quiet
//! server, with the background worker off, and lists the records of its transaction from
//! `pg_waldump` by kind and relation (issue 16, goal 2).
//!
//! cargo bench --bench wal      (BENCH_ROUNDS=3: events before the measured one, warming
//!                               the caches and prepared statements)
//! Uses DATABASE_URL when set, else an embedded cluster in a temp folder. Reads the WAL
//! files, so it must run on the database's machine as a user who may read them.

use std::{collections::BTreeMap, process::Command};

mod common;

use common::{env, session};
use service_hall::{config::Settings, db::embedded::find_bin_dir};

fn main() -> anyhow::Result<()> {
    let server = common::Server::open()?;
    common::Server::runtime()?.block_on(run(&server))
}

async fn run(server: &common::Server) -> anyhow::Result<()> {
    let db = common::BenchDb::demo(&server.opts, "hall_walbench", 4).await?;
    let pool = db.pool.clone();
    sqlx::query("ANALYZE").execute(&pool).await?;
    let service: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'XSQJ'")
        .fetch_one(&pool)
        .await?;
    let counselor: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = 'T2101'")
        .fetch_one(&pool)
        .await?;
    let mut settings = Settings::defaults();
    // Nothing but the measured request may write.
    settings.background_jobs = false;
    let served = common::serve(&pool, settings).await?;
    let base = served.base.clone();
    let (student, s_token) = session(&base, "S2024001").await?;
    let (approver, a_token) = session(&base, "T2101").await?;
    let wal_dir: String =
        sqlx::query_scalar("SELECT current_setting('data_directory') || '/pg_wal'")
            .fetch_one(&pool)
            .await?;
    let waldump = pg_waldump().ok_or_else(|| anyhow::anyhow!("pg_waldump not found"))?;
    let names: BTreeMap<String, String> = sqlx::query_as(
        "SELECT relfilenode::text, relname::text FROM pg_class WHERE relfilenode <> 0",
    )
    .fetch_all(&pool)
    .await?
    .into_iter()
    .collect();
    let lsn = || async {
        sqlx::query_scalar::<_, String>("SELECT pg_current_wal_insert_lsn()::text")
            .fetch_one(&pool)
            .await
    };

    let counselor = counselor.to_string();
    let rounds = env("BENCH_ROUNDS", 3);
    for round in 0..=rounds {
        let measured = round == rounds;
        let before = lsn().await?;
        let once = uuid::Uuid::new_v4().to_string();
        let r = student
            .post(format!("{base}/services/{service}/apply"))
            .form(&common::leave_form(&s_token, &counselor, &once))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 303, "submit: {}", r.status());
        let after = lsn().await?;
        let id: i64 = r.headers()["location"]
            .to_str()?
            .trim_start_matches("/applications/")
            .parse()?;
        if measured {
            report("提交", &waldump, &wal_dir, &names, &before, &after)?;
        }
        let before = lsn().await?;
        let r = approver
            .post(format!("{base}/applications/{id}/act"))
            .form(&[
                ("_csrf", a_token.as_str()),
                ("op", "approve"),
                ("node", "counselor"),
                ("version", "1"),
            ])
            .send()
            .await?;
        anyhow::ensure!(r.status() == 303, "approve: {}", r.status());
        let after = lsn().await?;
        if measured {
            report(
                "通过 (ends the application)",
                &waldump,
                &wal_dir,
                &names,
                &before,
                &after,
            )?;
        }
    }
    served.stop().await?;
    db.drop_db().await?;
    Ok(())
}

/// `pg_waldump`: beside the server binaries the product uses, or where `pg_config` says
/// (a PATH may hold `postgres` and `initdb` without the client tools).
fn pg_waldump() -> Option<std::path::PathBuf> {
    let pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    [find_bin_dir(), pg_config]
        .into_iter()
        .flatten()
        .map(|d| d.join("pg_waldump"))
        .find(|p| p.is_file())
}

/// Prints the records between two LSNs: per transaction, by resource manager, kind and
/// relation (`names`: file number → relation).
fn report(
    event: &str,
    waldump: &std::path::Path,
    wal_dir: &str,
    names: &BTreeMap<String, String>,
    from: &str,
    to: &str,
) -> anyhow::Result<()> {
    let out = Command::new(waldump)
        .args(["-p", wal_dir, "-s", from, "-e", to])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success() || !text.is_empty(),
        "pg_waldump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let (mut records, mut bytes, mut outside) = (0, 0usize, 0);
    for line in text.lines() {
        let field = |name: &str| {
            line.split(name)
                .nth(1)
                .map(|s| s.trim_start().split([',', ' ']).next().unwrap_or(""))
        };
        // Records of no transaction (xid 0: running-xacts snapshots, checkpoints) are not
        // the event's.
        if field("tx:") == Some("0") {
            outside += 1;
            continue;
        }
        let rmgr = field("rmgr:").unwrap_or("?");
        let desc = field("desc:").unwrap_or("?");
        let rel = line
            .split("rel ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.rsplit('/').next())
            .map_or("-", |n| names.get(n).map_or(n, String::as_str));
        records += 1;
        bytes += line
            .split("len (rec/tot):")
            .nth(1)
            .and_then(|s| s.split('/').nth(1))
            .and_then(|s| s.trim().split(',').next())
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(0);
        *by_kind
            .entry(format!("{rmgr:<12} {desc:<16} {rel}"))
            .or_default() += 1;
    }
    println!("{event}: {records} WAL records, {bytes} bytes ({outside} outside any transaction)");
    for (k, n) in &by_kind {
        println!("  {n:>2} × {k}");
    }
    Ok(())
}
