//! 效能数据 on generated data: how long `refresh_all` takes to build the read model
//! (`stats_apps`, `stats_tasks`) from a million applications, then the pages at 64
//! connections with real sessions — a department's page (the busiest department, and the
//! whole school), the busiest service's page and the busiest approver's 个人中心 tab —
//! next to a benchmark-only axum handler doing `SELECT 1` through the same pool in the
//! same run; with BENCH_EXPLAIN=1, `EXPLAIN (ANALYZE, BUFFERS)` of the figures' queries
//! for the slowest page.
//!
//! On generated data (`service-hall generate`):
//!   DATABASE_URL=postgres://…/hall_gen cargo bench --bench stats
//! Without DATABASE_URL an embedded cluster is made and filled first (BENCH_APPLICATIONS,
//! default 1,000,000, with people, tasks and flow records in the generator's ratios).
//! BENCH_CLIENTS (64), BENCH_SECS (10 per row). BENCH_SKIP_REFRESH=1 skips the timed
//! rebuild when the read model is already complete.

mod common;

use std::time::{Duration, Instant};

use axum::{Router, extract::State, routing::get};
use chrono::Utc;
use common::{env, pct, session};
use service_hall::{
    calendar,
    config::Settings,
    db,
    generate::{self, Sizes},
    secret::SecretKey,
    seed,
    stats::{PeriodQuery, refresh},
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
    /// Answers other than a 200 with the expected content (e.g. 503 when the pool's
    /// connections stay busy past its 5 s acquire timeout).
    errors: usize,
    sample: Option<String>,
}

/// `n` loops of GET `path` (client i uses `clients[i % len]`) for `secs`; every answer
/// must be a 200 holding each of `must_contain`. With `cold`, the read model's version
/// moves before each request, so the server computes the figures again.
#[allow(clippy::too_many_arguments)]
async fn load(
    name: &str,
    base: &str,
    clients: &[reqwest::Client],
    n: usize,
    path: &str,
    must_contain: &[String],
    secs: u64,
    cold: Option<&PgPool>,
) -> Row {
    // Warm-up: a few requests (a page may take seconds; connections open as they go).
    for c in clients.iter().take(n.min(3)) {
        let _ = c.get(format!("{base}{path}")).send().await;
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let c = clients[i % clients.len()].clone();
        let url = format!("{base}{path}");
        let must: Vec<String> = must_contain.to_vec();
        let cold = cold.cloned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut sample = None;
            while Instant::now() < deadline {
                if let Some(db) = &cold {
                    // As after a refresh that wrote rows: the instance's kept figures are
                    // stale, so this request computes them (not timed).
                    sqlx::query("UPDATE stats_meta SET version = version + 1 WHERE id = 1")
                        .execute(db)
                        .await
                        .expect("bump the read model's version");
                }
                let t = Instant::now();
                let r = c.get(&url).send().await.expect("request");
                let status = r.status();
                let body = r.text().await.expect("body");
                lat.push(t.elapsed());
                if status != 200 || !must.iter().all(|m| body.contains(m.as_str())) {
                    errors += 1;
                    sample.get_or_insert_with(|| format!("{url}: {status}"));
                }
            }
            (lat, errors, sample)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut sample = None;
    for t in tasks {
        let (l, e, s) = t.await.expect("client");
        lat.extend(l);
        errors += e;
        sample = sample.or(s);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    Row {
        name: name.to_owned(),
        rate: lat.len() as f64 / secs,
        lat,
        errors,
        sample,
    }
}

/// `n` clients signed in as `account`, each with its own session.
async fn sessions(base: &str, account: &str, n: usize) -> anyhow::Result<Vec<reqwest::Client>> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(session(base, account).await?.0);
    }
    Ok(v)
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

    // (1) The read model, built over the whole data.
    let cal = calendar::load(&pool, settings.time_zone, settings.work_week).await?;
    let (complete, refreshed_at): (bool, Option<chrono::DateTime<Utc>>) = sqlx::query_as(
        "SELECT rebuild_after IS NULL AND refreshed_at IS NOT NULL, refreshed_at
         FROM stats_meta WHERE id = 1",
    )
    .fetch_one(&pool)
    .await?;
    if complete && std::env::var("BENCH_SKIP_REFRESH").is_ok_and(|v| v == "1") {
        println!(
            "refresh_all: skipped (BENCH_SKIP_REFRESH=1; read model complete, refreshed at {})",
            refreshed_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        );
    } else {
        // Everything again, as after a calendar change or a first start.
        let mut conn = pool.acquire().await?;
        refresh::start_rebuild(&mut conn).await?;
        drop(conn);
        let t = Instant::now();
        refresh::refresh_all(&pool, &cal, Utc::now()).await?;
        let took = t.elapsed().as_secs_f64();
        println!(
            "refresh_all: {took:.1} s over {apps} applications (batches of {})",
            refresh::REBUILD_BATCH,
        );
    }
    // As autovacuum does soon after a bulk write (PostgreSQL 13+ also vacuums after
    // inserts): statistics for the plans, the visibility map for index-only scans.
    let t = Instant::now();
    sqlx::query("VACUUM (ANALYZE) stats_apps, stats_tasks")
        .execute(&pool)
        .await?;
    println!(
        "VACUUM (ANALYZE) of the read model: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (stats_apps, stats_tasks, open): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM stats_apps), (SELECT count(*) FROM stats_tasks),
                (SELECT count(*) FROM stats_tasks WHERE decided_at IS NULL)",
    )
    .fetch_one(&pool)
    .await?;
    println!(
        "read model: {stats_apps} stats_apps rows, {stats_tasks} stats_tasks rows ({open} open)"
    );

    // (2) The period: this term if today is in one, else the last 120 days.
    let today = Utc::now().with_timezone(&settings.time_zone).date_naive();
    let in_term = cal
        .terms
        .iter()
        .any(|t| t.starts_on <= today && today <= t.ends_on);
    let q = if in_term {
        PeriodQuery {
            period: Some("term".into()),
            ..Default::default()
        }
    } else {
        PeriodQuery {
            period: Some("custom".into()),
            from: Some((today - chrono::Duration::days(120)).to_string()),
            to: Some(today.to_string()),
            ..Default::default()
        }
    };
    let (period, errors) = q.period(today, &cal);
    anyhow::ensure!(!errors.any(), "period: {errors:?}");
    let query = if in_term {
        "period=term".to_owned()
    } else {
        format!("period=custom&from={}&to={}", period.from, period.to)
    };
    let (lo, hi) = period.bounds(&cal);
    println!(
        "period: {} ({} to {}){}",
        period.label,
        period.from,
        period.to,
        if in_term {
            ""
        } else {
            " — today is in no term: the last 120 days instead"
        }
    );

    // The busiest department (by its services and those below it), the whole school, the
    // busiest service and the approver with the most decisions, all in the period.
    let by_department: Vec<(i64, String, bool, i64, i64)> = sqlx::query_as(
        "SELECT d.id, d.name, d.parent_id IS NULL,
                (SELECT count(*) FROM services s WHERE s.department_id IN (SELECT dept_subtree(d.id))),
                (SELECT count(*) FROM stats_apps a JOIN services s ON s.id = a.service_id
                  WHERE s.department_id IN (SELECT dept_subtree(d.id))
                    AND a.submitted_at >= $1 AND a.submitted_at < $2)
         FROM departments d ORDER BY 5 DESC, d.id",
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(&pool)
    .await?;
    let dept = by_department
        .iter()
        .find(|d| !d.2)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no department below the top"))?;
    let school = by_department
        .iter()
        .find(|d| d.2)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no top department"))?;
    let (service_id, service_name, service_apps): (i64, String, i64) = sqlx::query_as(
        "SELECT s.id, s.name, count(*) FROM stats_apps a JOIN services s ON s.id = a.service_id
         WHERE a.submitted_at >= $1 AND a.submitted_at < $2
         GROUP BY s.id ORDER BY 3 DESC, 1 LIMIT 1",
    )
    .bind(lo)
    .bind(hi)
    .fetch_one(&pool)
    .await?;
    let (approver, approver_decided, approver_open): (String, i64, i64) = sqlx::query_as(
        "SELECT u.account, x.n,
                (SELECT count(*) FROM stats_tasks o WHERE o.assignee_id = u.id AND o.decided_at IS NULL)
         FROM (SELECT assignee_id, count(*) AS n FROM stats_tasks
               WHERE decided_at >= $1 AND decided_at < $2
               GROUP BY assignee_id ORDER BY 2 DESC, 1 LIMIT 1) x
         JOIN users u ON u.id = x.assignee_id",
    )
    .bind(lo)
    .bind(hi)
    .fetch_one(&pool)
    .await?;
    // Who may open the department page: one of its 部门负责人 / 服务管理员 (or of a
    // department above it) with a password, else the 系统管理员 `admin`.
    let head: Option<String> = sqlx::query_scalar(
        "SELECT u.account FROM user_roles ur JOIN roles r ON r.id = ur.role_id
         JOIN users u ON u.id = ur.user_id
         WHERE r.code IN ('dept_head', 'service_admin') AND u.status = 'active'
           AND u.password_hash IS NOT NULL AND NOT u.must_change_password
           AND $1 IN (SELECT dept_subtree(ur.department_id))
         ORDER BY (r.code = 'dept_head') DESC, u.account LIMIT 1",
    )
    .bind(dept.0)
    .fetch_optional(&pool)
    .await?;
    let dept_viewer = head.clone().unwrap_or_else(|| "admin".to_owned());
    println!(
        "busiest department: {} (id {}, {} services, {} applications submitted in the period), seen as {}{}",
        dept.1,
        dept.0,
        dept.3,
        dept.4,
        dept_viewer,
        if head.is_some() {
            " (部门负责人/服务管理员)"
        } else {
            " (系统管理员: the department has no 部门负责人)"
        }
    );
    println!(
        "whole school: {} (id {}, {} services, {} applications), seen as admin",
        school.1, school.0, school.3, school.4
    );
    println!(
        "busiest service: {service_name} (id {service_id}, {service_apps} applications), seen as admin"
    );
    println!(
        "busiest approver: {approver} ({approver_decided} decisions in the period, {approver_open} open)"
    );

    // The product, on its own port, without its background jobs (nothing refreshes the
    // read model under the measurement).
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

    let dept_clients = sessions(&base, &dept_viewer, n).await?;
    let admin_clients = if dept_viewer == "admin" {
        dept_clients.clone()
    } else {
        sessions(&base, "admin", n).await?
    };
    let approver_clients = sessions(&base, &approver, n).await?;
    let plain: Vec<reqwest::Client> = (0..n).map(|_| reqwest::Client::new()).collect();

    let label = period.label.clone();
    // (name, clients, path, what the page must hold)
    let pages: Vec<(String, &[reqwest::Client], String, Vec<String>)> = vec![
        (
            format!("department page, busiest ({})", dept.1),
            &dept_clients,
            format!("/stats/departments/{}?{query}", dept.0),
            vec![format!("{} · 效能数据", dept.1), label.clone()],
        ),
        (
            format!("department page, whole school ({})", school.1),
            &admin_clients,
            format!("/stats/departments/{}?{query}", school.0),
            vec![format!("{} · 效能数据", school.1), label.clone()],
        ),
        (
            format!("service page, busiest ({service_name})"),
            &admin_clients,
            format!("/stats/services/{service_id}?{query}"),
            vec![format!("{service_name} · 效能数据"), label.clone()],
        ),
        (
            format!("个人中心 效能数据, busiest approver ({approver})"),
            &approver_clients,
            format!("/center/stats?{query}"),
            vec!["效能数据分享".to_owned(), label.clone()],
        ),
    ];
    let mut rows = vec![(
        load(
            "reference: GET /select1 (axum, SELECT 1)",
            &ref_base,
            &plain,
            n,
            "/select1",
            &["1".to_owned()],
            secs,
            None,
        )
        .await,
        n,
    )];
    for (name, clients, path, must) in &pages {
        rows.push((
            load(name, &base, clients, n, path, must, secs, None).await,
            n,
        ));
    }
    // One client at a time, each request after the read model's version moved: what a
    // page costs when its figures must be computed (the first view after a change).
    for (name, clients, path, must) in &pages {
        let name = format!("{name}, cold");
        let row = load(&name, &base, clients, 1, path, must, secs, Some(&pool)).await;
        rows.push((row, 1));
    }
    let reference_rate = rows[0].0.rate;
    println!("\n{n} clients, {secs} s per row, period {label}");
    println!("| measurement | clients | requests/s | vs SELECT 1 | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (r, c) in &rows {
        println!(
            "| {} | {c} | {:.1} | {:.4} | {:.2} | {:.2} | {} |",
            r.name,
            r.rate,
            r.rate / reference_rate,
            pct(&r.lat, 0.5),
            pct(&r.lat, 0.99),
            r.errors
        );
    }
    for (r, _) in &rows {
        if let Some(s) = &r.sample {
            println!("  first error of {}: {s}", r.name);
        }
    }
    served.stop().await?;

    // (3) The plans of the slowest page's figures.
    if std::env::var("BENCH_EXPLAIN").is_ok_and(|v| v == "1") {
        let slowest = rows[1..=pages.len()]
            .iter()
            .enumerate()
            .max_by(|a, b| pct(&a.1.0.lat, 0.99).total_cmp(&pct(&b.1.0.lat, 0.99)))
            .map(|(i, _)| i)
            .unwrap_or(0);
        println!(
            "\nEXPLAIN (ANALYZE, BUFFERS), slowest page: {}",
            rows[slowest + 1].0.name
        );
        let services: Vec<i64> = match slowest {
            0 | 1 => {
                let d = if slowest == 0 { dept.0 } else { school.0 };
                sqlx::query_scalar(
                    "SELECT id FROM services WHERE department_id IN (SELECT dept_subtree($1))",
                )
                .bind(d)
                .fetch_all(&pool)
                .await?
            }
            _ => vec![service_id],
        };
        if slowest == 3 {
            let uid: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = $1")
                .bind(&approver)
                .fetch_one(&pool)
                .await?;
            explain_person(&pool, uid, lo, hi).await?;
        } else {
            explain_services(&pool, &services, lo, hi).await?;
        }
    }
    pool.close().await;
    Ok(())
}

/// Times each figure of a detail page in turn (one call each, warm), then prints the
/// plans of the queries behind them, slowest first.
async fn explain_services(
    pool: &PgPool,
    services: &[i64],
    lo: chrono::DateTime<Utc>,
    hi: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    use service_hall::stats::figures::{self, Scope};
    let now = Utc::now();
    let tz = Settings::defaults().time_zone;
    let scope = Scope::Services(services);
    let mut times = Vec::new();
    let t = Instant::now();
    figures::apps(pool, services, lo, hi).await?;
    times.push(("figures::apps", t.elapsed()));
    let t = Instant::now();
    figures::tasks(pool, scope, lo, hi, 10).await?;
    times.push(("figures::tasks", t.elapsed()));
    let t = Instant::now();
    figures::open_now(pool, scope, now).await?;
    times.push(("figures::open_now", t.elapsed()));
    let t = Instant::now();
    figures::nodes(pool, services, lo, hi, 10).await?;
    times.push(("figures::nodes", t.elapsed()));
    let t = Instant::now();
    figures::weekly_finished(pool, services, lo, hi, tz).await?;
    times.push(("figures::weekly_finished", t.elapsed()));
    let t = Instant::now();
    figures::groups(pool, false, Some(services), lo, hi, now).await?;
    times.push(("figures::groups (per service)", t.elapsed()));
    times.sort_by_key(|t| std::cmp::Reverse(t.1));
    println!("one call each, {} services:", services.len());
    for (name, d) in &times {
        println!("  {name}: {:.1} ms", d.as_secs_f64() * 1000.0);
    }
    // The shapes of the two heaviest (as in `figures`): the decisions of the period and
    // the applications begun or ended in it.
    let plans = [
        (
            "decisions in the period (figures::tasks, ::nodes)",
            "SELECT t.service_id, t.node_id, count(*), max(t.node_name),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY t.work_seconds),
                    count(DISTINCT t.application_id) FILTER (WHERE t.action = 'return'),
                    count(*) FILTER (WHERE t.action = 'approve' AND t.read_seconds <= 10),
                    count(*) FILTER (WHERE t.overdue), sum(t.urges)
             FROM stats_tasks t
             WHERE t.service_id = ANY($1) AND t.decided_at >= $2 AND t.decided_at < $3
             GROUP BY t.service_id, t.node_id",
        ),
        (
            "applications begun or ended in the period (figures::apps, ::groups)",
            "SELECT count(*) FILTER (WHERE a.submitted_at >= $2 AND a.submitted_at < $3),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY a.work_seconds)
                      FILTER (WHERE a.status = 'completed' AND a.ended_at >= $2 AND a.ended_at < $3),
                    avg(a.rating) FILTER (WHERE a.ended_at >= $2 AND a.ended_at < $3)
             FROM (SELECT service_id, status, submitted_at, ended_at, work_seconds, rating
                   FROM stats_apps
                   WHERE service_id = ANY($1) AND submitted_at >= $2 AND submitted_at < $3
                   UNION ALL
                   SELECT service_id, status, submitted_at, ended_at, work_seconds, rating
                   FROM stats_apps
                   WHERE service_id = ANY($1) AND ended_at >= $2 AND ended_at < $3
                     AND NOT (submitted_at >= $2 AND submitted_at < $3)) a",
        ),
    ];
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    for (name, sql) in plans {
        let text = format!("EXPLAIN (ANALYZE, BUFFERS) {sql}");
        let plan: Vec<String> = sqlx::query_scalar(&text)
            .bind(services)
            .bind(lo)
            .bind(hi)
            .fetch_all(&mut *tx)
            .await?;
        println!("\n-- {name}");
        for l in plan {
            println!("   {l}");
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The same for 个人中心's tab: the person's figures and the school-wide tables.
async fn explain_person(
    pool: &PgPool,
    person: i64,
    lo: chrono::DateTime<Utc>,
    hi: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    use service_hall::stats::figures::{self, Scope};
    let now = Utc::now();
    let mut times = Vec::new();
    let t = Instant::now();
    figures::tasks(pool, Scope::Person(person), lo, hi, 10).await?;
    times.push(("figures::tasks (person)", t.elapsed()));
    let t = Instant::now();
    figures::compared(pool, person, lo, hi).await?;
    times.push(("figures::compared", t.elapsed()));
    let t = Instant::now();
    figures::ratings_of(pool, person, lo, hi).await?;
    times.push(("figures::ratings_of", t.elapsed()));
    let t = Instant::now();
    figures::groups(pool, true, None, lo, hi, now).await?;
    times.push(("figures::groups (per department)", t.elapsed()));
    let t = Instant::now();
    figures::groups(pool, false, None, lo, hi, now).await?;
    times.push(("figures::groups (per service)", t.elapsed()));
    times.sort_by_key(|t| std::cmp::Reverse(t.1));
    println!("one call each:");
    for (name, d) in &times {
        println!("  {name}: {:.1} ms", d.as_secs_f64() * 1000.0);
    }
    let text = "EXPLAIN (ANALYZE, BUFFERS)
        SELECT s.id, count(*) FILTER (WHERE a.submitted_at >= $1 AND a.submitted_at < $2),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY a.work_seconds)
                 FILTER (WHERE a.status = 'completed' AND a.ended_at >= $1 AND a.ended_at < $2)
        FROM stats_apps a JOIN services s ON s.id = a.service_id
        WHERE (a.submitted_at >= $1 AND a.submitted_at < $2 OR a.ended_at >= $1 AND a.ended_at < $2)
        GROUP BY s.id";
    let plan: Vec<String> = sqlx::query_scalar(text)
        .bind(lo)
        .bind(hi)
        .fetch_all(pool)
        .await?;
    println!("\n-- groups (per service, every service)");
    for l in plan {
        println!("   {l}");
    }
    Ok(())
}
