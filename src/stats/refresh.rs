//! Keeping the read model (`stats_apps`, `stats_tasks`) in step with the applications.
//!
//! Every transition writes an audit row `application:<id>` in its own transaction, so the
//! job follows `audit_log` by id from a mark and recomputes each named application whole
//! (idempotent: its rows are deleted and written again). Ids are drawn before commit, so a
//! row may become visible after a higher one: the mark only moves past rows older than
//! `LAG`, and the newer ones are read again next time. A rebuild (first run, a calendar
//! change) walks every application by id, a batch per transaction, beside the follow-up.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};

use crate::calendar::Calendar;

/// How long after its audit row a transition is surely committed.
const LAG: Duration = Duration::seconds(30);
const AUDIT_BATCH: i64 = 20_000;
pub const REBUILD_BATCH: i64 = 2_000;

#[derive(Debug, Default, PartialEq)]
pub struct Refreshed {
    /// Applications recomputed because an action named them.
    pub followed: usize,
    /// Applications recomputed by a rebuild in progress.
    pub rebuilt: usize,
    /// Audit rows read (those not yet settled are read again next round).
    pub read: usize,
    /// Whether a rebuild is still under way.
    pub rebuilding: bool,
    /// Another instance holds the job; nothing was done.
    pub busy: bool,
}

/// One round: what the audit log names since the mark, then one rebuild batch. Several
/// instances may call it: the meta row is taken with `SKIP LOCKED`, so one works at a time.
#[tracing::instrument(skip_all)]
pub async fn refresh(db: &PgPool, cal: &Calendar, now: DateTime<Utc>) -> sqlx::Result<Refreshed> {
    let mut out = Refreshed::default();
    let mut tx = db.begin().await?;
    let Some((mark, rebuild_after, opened_since)) =
        sqlx::query_as::<_, (i64, Option<i64>, DateTime<Utc>)>(
            "SELECT audit_mark, rebuild_after, opened_since FROM stats_meta WHERE id = 1
             FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?
    else {
        out.busy = true;
        return Ok(out);
    };
    let rows: Vec<(i64, DateTime<Utc>, String)> =
        sqlx::query_as("SELECT id, at, target FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(mark)
            .bind(AUDIT_BATCH)
            .fetch_all(&mut *tx)
            .await?;
    out.read = rows.len();
    let ids: BTreeSet<i64> = rows
        .iter()
        .filter_map(|(_, _, t)| t.strip_prefix("application:")?.parse().ok())
        .collect();
    let ids: Vec<i64> = ids.into_iter().collect();
    out.followed = recompute(&mut tx, cal, opened_since, &ids).await?;
    let settled = rows
        .iter()
        .take_while(|(_, at, _)| *at < now - LAG)
        .last()
        .map(|(id, _, _)| *id)
        .unwrap_or(mark);
    let mut next_rebuild = rebuild_after;
    if let Some(after) = rebuild_after {
        let batch: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM applications WHERE id > $1 AND submitted_at IS NOT NULL
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(REBUILD_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        out.rebuilt = recompute(&mut tx, cal, opened_since, &batch).await?;
        next_rebuild = match batch.last() {
            Some(last) if batch.len() as i64 == REBUILD_BATCH => Some(*last),
            _ => None,
        };
    }
    out.rebuilding = next_rebuild.is_some();
    sqlx::query(
        "UPDATE stats_meta SET audit_mark = $1, rebuild_after = $2, refreshed_at = $3,
                version = version + CASE WHEN $4 THEN 1 ELSE 0 END
         WHERE id = 1",
    )
    .bind(settled)
    .bind(next_rebuild)
    .bind(now)
    .bind(out.followed + out.rebuilt > 0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// Rounds until no rebuild is left and the audit log is followed to its end (the
/// benchmark's data generator, tests, a first start).
pub async fn refresh_all(db: &PgPool, cal: &Calendar, now: DateTime<Utc>) -> sqlx::Result<()> {
    loop {
        let r = refresh(db, cal, now).await?;
        if !r.rebuilding && r.read < AUDIT_BATCH as usize && !r.busy {
            return Ok(());
        }
        if r.busy {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// Everything is computed again (the calendar changed): from the next round on, batch by
/// batch. Called in the transaction of the change.
pub async fn start_rebuild(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("UPDATE stats_meta SET rebuild_after = 0 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AppFacts {
    id: i64,
    service_id: i64,
    status: String,
    submitted_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    rating: Option<i16>,
}

#[derive(sqlx::FromRow)]
struct TaskFacts {
    id: i64,
    application_id: i64,
    service_id: i64,
    node_id: String,
    node_name: String,
    assignee_id: i64,
    created_at: DateTime<Utc>,
    acted_at: Option<DateTime<Utc>>,
    status: String,
    action: Option<String>,
    due_at: Option<DateTime<Utc>>,
    opened_at: Option<DateTime<Utc>>,
    urges: i32,
}

/// Replaces the rows of applications `ids`; returns how many were written.
async fn recompute(
    conn: &mut PgConnection,
    cal: &Calendar,
    opened_since: DateTime<Utc>,
    ids: &[i64],
) -> sqlx::Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let apps: Vec<AppFacts> = sqlx::query_as(
        "SELECT id, service_id, status, submitted_at, finished_at, rating FROM applications
         WHERE id = ANY($1) AND submitted_at IS NOT NULL AND status <> 'draft'",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let tasks: Vec<TaskFacts> = sqlx::query_as(
        "SELECT t.id, t.application_id, t.service_id, t.node_id, t.node_name, t.assignee_id,
                t.created_at, t.acted_at, t.status, t.action, t.due_at, t.opened_at,
                (SELECT count(*) FROM urges u
                  WHERE u.application_id = t.application_id AND u.node_id = t.node_id
                    AND u.at >= t.created_at AND (t.acted_at IS NULL OR u.at <= t.acted_at))::int AS urges
         FROM tasks t
         WHERE t.application_id = ANY($1) AND t.kind = 'approve'
           AND (t.status = 'pending'
                OR (t.status = 'done' AND t.action IN ('approve', 'return', 'terminate')))",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM stats_tasks WHERE application_id = ANY($1)")
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM stats_apps WHERE application_id = ANY($1)")
        .bind(ids)
        .execute(&mut *conn)
        .await?;

    let mut a = AppCols::default();
    for x in &apps {
        let ended = matches!(x.status.as_str(), "completed" | "terminated" | "withdrawn");
        let ended_at = if ended { x.finished_at } else { None };
        a.id.push(x.id);
        a.service.push(x.service_id);
        a.status.push(x.status.clone());
        a.submitted.push(x.submitted_at);
        a.ended.push(ended_at);
        a.work.push(match (x.status.as_str(), ended_at) {
            ("completed", Some(end)) => Some(cal.work_seconds(x.submitted_at, end)),
            _ => None,
        });
        a.rating.push(x.rating);
    }
    sqlx::query(
        "INSERT INTO stats_apps (application_id, service_id, status, submitted_at, ended_at,
                                 work_seconds, rating)
         SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::timestamptz[],
                              $5::timestamptz[], $6::int8[], $7::int2[])",
    )
    .bind(&a.id)
    .bind(&a.service)
    .bind(&a.status)
    .bind(&a.submitted)
    .bind(&a.ended)
    .bind(&a.work)
    .bind(&a.rating)
    .execute(&mut *conn)
    .await?;

    let mut t = TaskCols::default();
    for x in &tasks {
        let decided = if x.status == "done" { x.acted_at } else { None };
        t.id.push(x.id);
        t.app.push(x.application_id);
        t.service.push(x.service_id);
        t.node.push(x.node_id.clone());
        t.name.push(x.node_name.clone());
        t.assignee.push(x.assignee_id);
        t.arrived.push(x.created_at);
        t.decided.push(decided);
        t.action.push(decided.and(x.action.clone()));
        t.due.push(x.due_at);
        t.work
            .push(decided.map(|d| cal.work_seconds(x.created_at, d)));
        t.overdue
            .push(matches!((decided, x.due_at), (Some(d), Some(due)) if d > due));
        t.read.push(decided.and_then(|d| match x.opened_at {
            Some(o) => Some((d - o).num_seconds().max(0)),
            // Decided without opening the page (a task from before openings were kept
            // is simply unknown).
            None if x.created_at >= opened_since => Some(0),
            None => None,
        }));
        t.urges.push(x.urges);
    }
    sqlx::query(
        "INSERT INTO stats_tasks (task_id, application_id, service_id, node_id, node_name,
                                  assignee_id, arrived_at, decided_at, action, due_at,
                                  work_seconds, overdue, read_seconds, urges)
         SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::text[],
                              $6::int8[], $7::timestamptz[], $8::timestamptz[], $9::text[],
                              $10::timestamptz[], $11::int8[], $12::bool[], $13::int8[],
                              $14::int4[])",
    )
    .bind(&t.id)
    .bind(&t.app)
    .bind(&t.service)
    .bind(&t.node)
    .bind(&t.name)
    .bind(&t.assignee)
    .bind(&t.arrived)
    .bind(&t.decided)
    .bind(&t.action)
    .bind(&t.due)
    .bind(&t.work)
    .bind(&t.overdue)
    .bind(&t.read)
    .bind(&t.urges)
    .execute(&mut *conn)
    .await?;
    Ok(apps.len())
}

#[derive(Default)]
struct AppCols {
    id: Vec<i64>,
    service: Vec<i64>,
    status: Vec<String>,
    submitted: Vec<DateTime<Utc>>,
    ended: Vec<Option<DateTime<Utc>>>,
    work: Vec<Option<i64>>,
    rating: Vec<Option<i16>>,
}

#[derive(Default)]
struct TaskCols {
    id: Vec<i64>,
    app: Vec<i64>,
    service: Vec<i64>,
    node: Vec<String>,
    name: Vec<String>,
    assignee: Vec<i64>,
    arrived: Vec<DateTime<Utc>>,
    decided: Vec<Option<DateTime<Utc>>>,
    action: Vec<Option<String>>,
    due: Vec<Option<DateTime<Utc>>>,
    work: Vec<Option<i64>>,
    overdue: Vec<bool>,
    read: Vec<Option<i64>>,
    urges: Vec<i32>,
}
