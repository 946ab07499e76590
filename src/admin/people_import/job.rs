//! The job that writes a confirmed import: claimed by one worker (`FOR UPDATE SKIP
//! LOCKED`, a lease renewed at every batch), written 1,000 rows a transaction with the
//! progress in the same transaction, so a worker that dies leaves an exact place to go on
//! from.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::check::Refused;
use crate::{
    audit::Entry,
    clock::Clock,
    org::import::{self, Person, Verdict},
};

pub const BATCH: usize = 1000;

/// A running job whose worker has not written for this long is taken over.
const LEASE_MINUTES: i64 = 5;

/// Claims the next confirmed import; `None` when there is none (or all are taken).
async fn claim(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "UPDATE people_imports SET status = 'running', claimed_at = $1
         WHERE id = (SELECT id FROM people_imports
                     WHERE status = 'queued'
                        OR (status = 'running' AND claimed_at < $1 - make_interval(mins => $2))
                     ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING id",
    )
    .bind(now)
    .bind(LEASE_MINUTES as i32)
    .fetch_optional(db)
    .await
}

/// Runs confirmed imports until none is left. Called by the schedule and, so the admin
/// need not wait for its tick, right after 确认导入.
pub async fn work(db: PgPool, clock: Arc<dyn Clock>) {
    loop {
        let id = match claim(&db, clock.now()).await {
            Ok(Some(id)) => id,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "claiming a people import failed");
                return;
            }
        };
        if let Err(e) = run(&db, clock.as_ref(), id).await {
            tracing::error!(error = %e, import = id, "people import failed");
            let _ = sqlx::query(
                "UPDATE people_imports SET status = 'failed', error = $2, finished_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(e.to_string())
            .bind(clock.now())
            .execute(&db)
            .await;
        }
    }
}

async fn run(db: &PgPool, clock: &dyn Clock, id: i64) -> anyhow::Result<()> {
    let (rows, done, by): (sqlx::types::Json<Vec<Person>>, i32, i64) =
        sqlx::query_as("SELECT rows, done_rows, created_by FROM people_imports WHERE id = $1")
            .bind(id)
            .fetch_one(db)
            .await?;
    let people = rows.0;
    let mut done = done as usize;
    while done < people.len() {
        let batch = &people[done..(done + BATCH).min(people.len())];
        let mut tx = db.begin().await?;
        let verdicts = import::judge(&mut tx, batch, true).await?;
        let created = import::write(&mut tx, batch, &verdicts).await?;
        let count = |f: fn(&Verdict) -> bool| verdicts.iter().filter(|v| f(v)).count() as i32;
        let refused: Vec<Refused> = batch
            .iter()
            .zip(&verdicts)
            .filter_map(|(p, v)| match v {
                Verdict::Refused(r) => Some(Refused {
                    row: p.row,
                    account: p.account.clone(),
                    name: p.name.clone(),
                    reasons: vec![r.clone()],
                }),
                _ => None,
            })
            .collect();
        let n = sqlx::query(
            "UPDATE people_imports SET done_rows = done_rows + $2,
                    new_count = new_count + $3, changed_count = changed_count + $4,
                    unchanged_count = unchanged_count + $5, refused_count = refused_count + $6,
                    refused = refused || $7, created_accounts = created_accounts || $8,
                    claimed_at = $9
             WHERE id = $1 AND status = 'running' AND done_rows = $10",
        )
        .bind(id)
        .bind(batch.len() as i32)
        .bind(created.len() as i32)
        .bind(count(|v| *v == Verdict::Changed))
        .bind(count(|v| *v == Verdict::Unchanged))
        .bind(refused.len() as i32)
        .bind(sqlx::types::Json(&refused))
        .bind(&created)
        .bind(clock.now())
        .bind(done as i32)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            // Another worker took the job over (our lease ran out): leave it to them.
            tx.rollback().await?;
            return Ok(());
        }
        tx.commit().await?;
        done += batch.len();
    }
    let mut tx = db.begin().await?;
    let counts: Option<(i32, i32, i32, i32)> = sqlx::query_as(
        "UPDATE people_imports SET status = 'done', finished_at = $2, rows = '[]'::jsonb
         WHERE id = $1 AND status = 'running'
         RETURNING new_count, changed_count, unchanged_count, refused_count",
    )
    .bind(id)
    .bind(clock.now())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((new, changed, unchanged, refused)) = counts {
        Entry::about(format!("people_import:{id}"), "people.import.done")
            .by(Some(by))
            .detail(serde_json::json!({
                "new": new, "changed": changed, "unchanged": unchanged, "refused": refused,
            }))
            .record(&mut *tx, clock.now())
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
