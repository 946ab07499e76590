//! Reminders before a 填报任务 closes: for each of the task's `remind_days`, once, to
//! everyone who has not filled. Claiming the reminder (its row in
//! `collection_reminders`) and queueing the notices is one transaction, so several
//! instances never remind twice.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::store;

#[tracing::instrument(skip_all)]
pub async fn remind_before_close(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    let due: Vec<(i64, i32, String, DateTime<Utc>)> = sqlx::query_as(
        "WITH due AS (
             INSERT INTO collection_reminders (collection_id, days_before, sent_at)
             SELECT c.id, d, $1 FROM collections c, unnest(c.remind_days) d
             WHERE c.published_at IS NOT NULL AND c.opens_at <= $1 AND c.closes_at > $1
               AND c.closes_at - d * interval '1 day' <= $1
             ON CONFLICT DO NOTHING
             RETURNING collection_id, days_before
         )
         SELECT c.id, due.days_before, c.title, c.closes_at
         FROM due JOIN collections c ON c.id = due.collection_id",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut sent = 0;
    for (id, days, title, closes_at) in due {
        let pending: Vec<i64> = sqlx::query_scalar(
            "SELECT user_id FROM collection_members
             WHERE collection_id = $1 AND state IN ('pending', 'draft')",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        if pending.is_empty() {
            continue;
        }
        let left = (closes_at - now).num_hours();
        let when = if left >= 24 {
            format!("{} 天", (left + 12) / 24)
        } else {
            format!("{} 小时", left.max(1))
        };
        sent += store::notify_members(
            &mut tx,
            id,
            &format!("collect-remind:{id}:{days}"),
            "collect_reminder",
            &format!("提醒：填报任务“{title}”将在 {when}后截止，您还没有提交。"),
            Some(&pending),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(sent)
}
