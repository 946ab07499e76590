//! 批量导入 of people: a 50,000-row CSV uploaded through `POST /admin/people/import`
//! (preview), then 确认导入 and the job until the page says 已完成, then the same file
//! again (all unchanged). Prints each phase's time and the process's peak RSS (VmHWM:
//! the server and this client share the process; the client holds the ~4 MB file).
//!
//! cargo bench --bench people_import   (BENCH_ROWS=50000)
//! Uses DATABASE_URL when set, else an embedded cluster in a temp folder.

mod common;

use std::time::{Duration, Instant};

use common::{env, session, token};
use service_hall::config::Settings;

fn main() -> anyhow::Result<()> {
    service_hall::init_tls();
    service_hall::telemetry::init();
    let server = common::Server::open()?;
    let rt = common::Server::runtime()?;
    let r = rt.block_on(run(server.opts.clone()));
    drop(server);
    r
}

/// Peak resident set of this process so far, in MiB (Linux).
fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn id_number(seq: u32) -> String {
    // Unique below 50,000: born 1950–1999, sequence 000–999.
    let body = format!("11010519{:02}0101{:03}", 50 + seq / 1000, seq % 1000);
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    format!("{body}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

fn file(rows: u32) -> Vec<u8> {
    let mut s = String::from("学号/工号,姓名,类型,部门,手机,邮箱,证件号,角色\n");
    for i in 0..rows {
        s.push_str(&format!(
            "B{i:07},学生{i},学生,CS,187{i:08},b{i}@example.edu.cn,{},\n",
            id_number(i)
        ));
    }
    s.into_bytes()
}

/// Upload, preview, 确认导入, wait: (preview secs, job secs, counts line).
async fn import(
    base: &str,
    c: &reqwest::Client,
    csrf: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<(f64, f64, String)> {
    let t = Instant::now();
    let part = reqwest::multipart::Part::bytes(bytes).file_name("people.csv");
    let r = c
        .post(format!("{base}/admin/people/import?_csrf={csrf}"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 303, "upload: {}", r.status());
    let path = r.headers()["location"].to_str()?.to_owned();
    let html = c.get(format!("{base}{path}")).send().await?.text().await?;
    let preview = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r = c
        .post(format!("{base}{path}/confirm"))
        .form(&[("_csrf", token(&html))])
        .send()
        .await?;
    anyhow::ensure!(r.status() == 303, "confirm: {}", r.status());
    loop {
        let html = c.get(format!("{base}{path}")).send().await?.text().await?;
        if html.contains("已完成</span>") {
            let grab = |cls: &str| {
                let m = format!("class=\"{cls}\">");
                html.find(&m)
                    .map(|i| {
                        html[i + m.len()..]
                            .split('<')
                            .next()
                            .unwrap_or("")
                            .to_owned()
                    })
                    .unwrap_or_default()
            };
            let counts = format!(
                "new {} changed {} unchanged {} refused {}",
                grab("count-new"),
                grab("count-changed"),
                grab("count-unchanged"),
                grab("count-refused")
            );
            return Ok((preview, t.elapsed().as_secs_f64(), counts));
        }
        anyhow::ensure!(!html.contains("失败</span>"), "the import failed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn run(opts: sqlx::postgres::PgConnectOptions) -> anyhow::Result<()> {
    let rows = env("BENCH_ROWS", 50_000) as u32;
    let db = common::BenchDb::demo(
        &opts,
        "hall_pibench",
        Settings::defaults().db_max_connections,
    )
    .await?;
    let pool = db.pool.clone();

    let mut settings = Settings::defaults();
    settings.background_jobs = false;
    let served = common::serve(&pool, settings).await?;
    let base = served.base.clone();
    let (admin, csrf) = session(&base, "admin").await?;

    let bytes = file(rows);
    println!(
        "{rows} rows, {:.1} MB of CSV; peak RSS before: {:.0} MiB",
        bytes.len() as f64 / 1e6,
        vm_hwm_mib()
    );
    for run in ["first import", "same file again"] {
        let (preview, job, counts) = import(&base, &admin, &csrf, bytes.clone()).await?;
        println!(
            "{run:<16} upload+preview {preview:>6.2} s   job {job:>6.2} s   {counts}   peak RSS {:.0} MiB",
            vm_hwm_mib()
        );
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE account LIKE 'B%'")
        .fetch_one(&pool)
        .await?;
    anyhow::ensure!(n == i64::from(rows), "{n} people imported of {rows}");

    served.stop().await?;
    db.drop_db().await?;
    Ok(())
}
