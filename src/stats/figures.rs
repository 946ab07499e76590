//! The figures of 效能数据, each one query over the read model (`stats_apps`,
//! `stats_tasks`) for a set of services or one person and a period `[lo, hi)`.
//! Durations are working-day seconds (see `calendar`).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;

/// Buckets of the handling-time distribution (upper bounds in seconds; the last is open).
pub const BUCKETS: [(i64, &str); 8] = [
    (3_600, "<1小时"),
    (4 * 3_600, "1–4小时"),
    (8 * 3_600, "4–8小时"),
    (86_400, "8–24小时"),
    (2 * 86_400, "1–2天"),
    (3 * 86_400, "2–3天"),
    (5 * 86_400, "3–5天"),
    (i64::MAX, ">5天"),
];

#[derive(Debug, Default, Clone, sqlx::FromRow)]
pub struct Apps {
    pub started: i64,
    pub finished: i64,
    pub stopped: i64,
    pub withdrawn: i64,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub rating: Option<f64>,
    pub rated: i64,
}

#[derive(Debug, Default, Clone, sqlx::FromRow)]
pub struct Tasks {
    pub decided: i64,
    /// Applications returned (退回) at least once in the period.
    pub returned_apps: i64,
    pub returns: i64,
    pub approvals: i64,
    /// 通过 within the threshold of opening, out of the 通过 whose opening is known.
    pub quick: i64,
    pub quick_known: i64,
    pub overdue: i64,
    pub urges: i64,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    /// Counts per `BUCKETS` entry.
    pub spread: Vec<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeRow {
    pub service_id: i64,
    pub service: String,
    pub node_id: String,
    pub node_name: String,
    pub decided: i64,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub overdue: i64,
    pub returns: i64,
    pub quick: i64,
    pub quick_known: i64,
}

/// One row of a per-service or per-department table.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub department: String,
    #[sqlx(flatten)]
    pub apps: Apps,
    #[sqlx(skip)]
    pub returned_apps: i64,
    #[sqlx(skip)]
    pub overdue_now: i64,
}

/// Which tasks or applications a figure covers.
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    Services(&'a [i64]),
    Person(i64),
}

const APPS_COLUMNS: &str = "
    count(*) FILTER (WHERE a.submitted_at >= $2 AND a.submitted_at < $3) AS started,
    count(*) FILTER (WHERE a.status = 'completed' AND a.ended_at >= $2 AND a.ended_at < $3) AS finished,
    count(*) FILTER (WHERE a.status = 'terminated' AND a.ended_at >= $2 AND a.ended_at < $3) AS stopped,
    count(*) FILTER (WHERE a.status = 'withdrawn' AND a.ended_at >= $2 AND a.ended_at < $3) AS withdrawn,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY a.work_seconds)
        FILTER (WHERE a.status = 'completed' AND a.ended_at >= $2 AND a.ended_at < $3) AS median,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY a.work_seconds)
        FILTER (WHERE a.status = 'completed' AND a.ended_at >= $2 AND a.ended_at < $3) AS p90,
    (avg(a.rating) FILTER (WHERE a.rating IS NOT NULL AND a.ended_at >= $2 AND a.ended_at < $3))::float8 AS rating,
    count(a.rating) FILTER (WHERE a.ended_at >= $2 AND a.ended_at < $3) AS rated";

/// Rows of `stats_apps` of the services `$1` that began or ended in the period, each once:
/// those submitted in it, then those that ended in it but began before or after. Two
/// index ranges whose indexes carry the columns the figures read (index-only scans); an
/// `OR` of the two would need a bitmap of heap pages instead.
fn apps_in_period(services: &str) -> String {
    format!(
        "(SELECT service_id, status, submitted_at, ended_at, work_seconds, rating FROM stats_apps
          WHERE service_id = ANY({services}) AND submitted_at >= $2 AND submitted_at < $3
          UNION ALL
          SELECT service_id, status, submitted_at, ended_at, work_seconds, rating FROM stats_apps
          WHERE service_id = ANY({services}) AND ended_at >= $2 AND ended_at < $3
            AND NOT (submitted_at >= $2 AND submitted_at < $3)) a"
    )
}

/// Runs `query` with JIT compilation off: the figures aggregate tens of thousands of rows,
/// enough for PostgreSQL's cost estimate to ask for JIT, whose compilation (70–100 ms per
/// statement here) costs more than the aggregation it speeds up.
macro_rules! without_jit {
    ($db:expr, |$conn:ident| $query:expr) => {{
        let mut tx = $db.begin().await?;
        sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
        let $conn = &mut *tx;
        let out = $query.await?;
        tx.commit().await?;
        out
    }};
}

/// Applications of `services`: started, ended, end-to-end time and 评价.
pub async fn apps(
    db: &PgPool,
    services: &[i64],
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> sqlx::Result<Apps> {
    let sql = format!("SELECT {APPS_COLUMNS} FROM {}", apps_in_period("$1"));
    Ok(without_jit!(db, |conn| sqlx::query_as(&sql)
        .bind(services)
        .bind(lo)
        .bind(hi)
        .fetch_one(conn)))
}

fn scope_where(scope: Scope<'_>) -> &'static str {
    match scope {
        Scope::Services(_) => "t.service_id = ANY($1)",
        Scope::Person(_) => "t.assignee_id = $1",
    }
}

fn bind_scope<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    scope: Scope<'q>,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    match scope {
        Scope::Services(s) => q.bind(s),
        Scope::Person(p) => q.bind(p),
    }
}

/// Decisions made in the period, with the time they took and how they went.
pub async fn tasks(
    db: &PgPool,
    scope: Scope<'_>,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    quick_secs: i64,
) -> sqlx::Result<Tasks> {
    let spread: Vec<String> = BUCKETS
        .iter()
        .scan(0i64, |low, (high, _)| {
            let f = if *high == i64::MAX {
                format!("count(*) FILTER (WHERE work_seconds >= {low})")
            } else {
                format!("count(*) FILTER (WHERE work_seconds >= {low} AND work_seconds < {high})")
            };
            *low = *high;
            Some(f)
        })
        .collect();
    let sql = format!(
        "SELECT count(*) AS decided,
                count(DISTINCT application_id) FILTER (WHERE action = 'return') AS returned_apps,
                count(*) FILTER (WHERE action = 'return') AS returns,
                count(*) FILTER (WHERE action = 'approve') AS approvals,
                count(*) FILTER (WHERE action = 'approve' AND read_seconds <= $4) AS quick,
                count(*) FILTER (WHERE action = 'approve' AND read_seconds IS NOT NULL) AS quick_known,
                count(*) FILTER (WHERE overdue) AS overdue,
                COALESCE(sum(urges), 0)::int8 AS urges,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY work_seconds) AS median,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY work_seconds) AS p90,
                ARRAY[{}]::int8[] AS spread
         FROM stats_tasks t
         WHERE {} AND t.decided_at >= $2 AND t.decided_at < $3",
        spread.join(", "),
        scope_where(scope)
    );
    Ok(without_jit!(db, |conn| bind_scope(
        sqlx::query_as(&sql),
        scope
    )
    .bind(lo)
    .bind(hi)
    .bind(quick_secs)
    .fetch_one(conn)))
}

/// Open tasks now, and those past their time limit.
pub async fn open_now(
    db: &PgPool,
    scope: Scope<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<(i64, i64)> {
    let sql = format!(
        "SELECT count(*), count(*) FILTER (WHERE due_at < $2)
         FROM stats_tasks t WHERE {} AND t.decided_at IS NULL",
        scope_where(scope)
    );
    bind_scope(sqlx::query_as(&sql), scope)
        .bind(now)
        .fetch_one(db)
        .await
}

/// Per node of `services`: decisions, time, overdue, 退回 and 秒批; slowest first.
pub async fn nodes(
    db: &PgPool,
    services: &[i64],
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    quick_secs: i64,
) -> sqlx::Result<Vec<NodeRow>> {
    Ok(without_jit!(db, |conn| {
        sqlx::query_as(
        "SELECT t.service_id, s.name AS service, t.node_id, max(t.node_name) AS node_name,
                count(*) AS decided,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY t.work_seconds) AS median,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY t.work_seconds) AS p90,
                count(*) FILTER (WHERE t.overdue) AS overdue,
                count(*) FILTER (WHERE t.action = 'return') AS returns,
                count(*) FILTER (WHERE t.action = 'approve' AND t.read_seconds <= $4) AS quick,
                count(*) FILTER (WHERE t.action = 'approve' AND t.read_seconds IS NOT NULL) AS quick_known
         FROM stats_tasks t JOIN services s ON s.id = t.service_id
         WHERE t.service_id = ANY($1) AND t.decided_at >= $2 AND t.decided_at < $3
         GROUP BY t.service_id, s.name, t.node_id
         ORDER BY median DESC NULLS LAST, decided DESC, t.node_id",
    )
    .bind(services)
    .bind(lo)
    .bind(hi)
    .bind(quick_secs)
    .fetch_all(conn)
    }))
}

/// 办结 per week (the Monday that starts it), weeks without any left out.
pub async fn weekly_finished(
    db: &PgPool,
    services: &[i64],
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    tz: Tz,
) -> sqlx::Result<Vec<(NaiveDate, i64)>> {
    Ok(without_jit!(db, |conn| sqlx::query_as(
        "SELECT date_trunc('week', a.ended_at AT TIME ZONE $4)::date AS week, count(*)
         FROM stats_apps a
         WHERE a.service_id = ANY($1) AND a.status = 'completed'
           AND a.ended_at >= $2 AND a.ended_at < $3
         GROUP BY 1 ORDER BY 1",
    )
    .bind(services)
    .bind(lo)
    .bind(hi)
    .bind(tz.name())
    .fetch_all(conn)))
}

/// The public table: one row per service, or per 服务部门 (`by_department`), of every
/// service with applications in the period.
pub async fn groups(
    db: &PgPool,
    by_department: bool,
    only: Option<&[i64]>,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<GroupRow>> {
    let (key, name, dept, join) = if by_department {
        (
            "s.department_id",
            "d.name",
            "''",
            "JOIN departments d ON d.id = s.department_id",
        )
    } else {
        (
            "s.id",
            "s.name",
            "d.name",
            "JOIN departments d ON d.id = s.department_id",
        )
    };
    // Every service when `only` is None (the rows of services that no longer exist fall
    // out at the join either way).
    let services = if only.is_some() {
        "$1"
    } else {
        "ARRAY(SELECT id FROM services WHERE $1::int8[] IS NULL)"
    };
    let sql = format!(
        "SELECT {key} AS id, {name} AS name, max({dept}) AS department, {APPS_COLUMNS}
         FROM {} JOIN services s ON s.id = a.service_id {join}
         GROUP BY {key}, {name}
         ORDER BY started DESC, name",
        apps_in_period(services)
    );
    let mut rows: Vec<GroupRow> = without_jit!(db, |conn| sqlx::query_as(&sql)
        .bind(only)
        .bind(lo)
        .bind(hi)
        .fetch_all(conn));
    // The decisions in the period and the open tasks: two index ranges, each index-only
    // (an open task counts only towards `overdue_now`, a decided one only towards the
    // returned applications, so each side carries only what its count reads).
    let sql = format!(
        "SELECT {key} AS id,
                count(DISTINCT t.application_id) FILTER (WHERE t.action = 'return'
                    AND t.decided_at >= $2 AND t.decided_at < $3),
                count(*) FILTER (WHERE t.decided_at IS NULL AND t.due_at < $4)
         FROM (SELECT service_id, application_id, action, decided_at, NULL::timestamptz AS due_at
               FROM stats_tasks
               WHERE service_id = ANY({services}) AND decided_at >= $2 AND decided_at < $3
               UNION ALL
               SELECT service_id, NULL::int8, NULL::text, NULL::timestamptz, due_at
               FROM stats_tasks
               WHERE service_id = ANY({services}) AND decided_at IS NULL) t
         JOIN services s ON s.id = t.service_id
         GROUP BY {key}"
    );
    let extra: Vec<(i64, i64, i64)> = without_jit!(db, |conn| sqlx::query_as(&sql)
        .bind(only)
        .bind(lo)
        .bind(hi)
        .bind(now)
        .fetch_all(conn));
    for r in &mut rows {
        if let Some((_, returned, overdue)) = extra.iter().find(|e| e.0 == r.id) {
            r.returned_apps = *returned;
            r.overdue_now = *overdue;
        }
    }
    Ok(rows)
}

/// The person's median against everyone's at the same node, per node they decided at.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Compared {
    pub service: String,
    pub node_name: String,
    pub mine: i64,
    pub my_median: Option<f64>,
    pub all: i64,
    pub all_median: Option<f64>,
}

pub async fn compared(
    db: &PgPool,
    person: i64,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> sqlx::Result<Vec<Compared>> {
    Ok(without_jit!(db, |conn| sqlx::query_as(
        "WITH mine AS (
             SELECT service_id, node_id, max(node_name) AS node_name, count(*) AS n,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY work_seconds) AS m
             FROM stats_tasks
             WHERE assignee_id = $1 AND decided_at >= $2 AND decided_at < $3
             GROUP BY service_id, node_id)
         SELECT s.name AS service, mine.node_name, mine.n AS mine, mine.m AS my_median,
                x.n AS all, x.m AS all_median
         FROM mine JOIN services s ON s.id = mine.service_id,
         LATERAL (SELECT count(*) AS n,
                         percentile_cont(0.5) WITHIN GROUP (ORDER BY work_seconds) AS m
                  FROM stats_tasks o
                  WHERE o.service_id = mine.service_id AND o.node_id = mine.node_id
                    AND o.decided_at >= $2 AND o.decided_at < $3) x
         ORDER BY mine.n DESC, s.name, mine.node_name",
    )
    .bind(person)
    .bind(lo)
    .bind(hi)
    .fetch_all(conn)))
}

/// 评价 of the applications the person decided at in the period (those rated).
pub async fn ratings_of(
    db: &PgPool,
    person: i64,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> sqlx::Result<(Option<f64>, i64)> {
    Ok(without_jit!(db, |conn| sqlx::query_as(
        "SELECT avg(a.rating)::float8, count(a.rating) FROM stats_apps a
         WHERE a.application_id IN (
             SELECT application_id FROM stats_tasks
             WHERE assignee_id = $1 AND decided_at >= $2 AND decided_at < $3)",
    )
    .bind(person)
    .bind(lo)
    .bind(hi)
    .fetch_one(conn)))
}

/// When the read model was last brought up to date, whether a rebuild is running, and its
/// version (raised whenever a refresh wrote rows: computed figures keep until it moves).
pub async fn freshness(db: &PgPool) -> sqlx::Result<(Option<DateTime<Utc>>, bool, i64)> {
    sqlx::query_as(
        "SELECT refreshed_at, rebuild_after IS NOT NULL, version FROM stats_meta WHERE id = 1",
    )
    .fetch_one(db)
    .await
}
