//! The one source of truth for "locked": a row in `lockouts` whose `locked_until` is still
//! ahead, written after too many failed passwords (sign-in or 再次确认密码) and lifted by
//! time, by 找回密码 or by an administrator's 解锁. An administrator switching a person
//! off is something else, `users.status = 'disabled'` (停用), and never called locked.
//! Every reader of a lockout goes through this module.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

/// The lockout subject of a known account (unknown identifiers lock under `i:<hash>`).
pub fn subject(user_id: i64) -> String {
    format!("u:{user_id}")
}

/// Until when `subject` is locked, if it is at `now`.
pub async fn locked_until<'c>(
    db: impl PgExecutor<'c>,
    subject: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT locked_until FROM lockouts WHERE subject = $1 AND locked_until > $2")
        .bind(subject)
        .bind(now)
        .fetch_optional(db)
        .await
}

/// Which of these people are locked at `now`, and until when.
pub async fn locked_people<'c>(
    db: impl PgExecutor<'c>,
    ids: &[i64],
    now: DateTime<Utc>,
) -> sqlx::Result<HashMap<i64, DateTime<Utc>>> {
    let subjects: Vec<String> = ids.iter().map(|&i| subject(i)).collect();
    let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT subject, locked_until FROM lockouts WHERE subject = ANY($1) AND locked_until > $2",
    )
    .bind(&subjects)
    .bind(now)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(s, t)| Some((s.strip_prefix("u:")?.parse().ok()?, t)))
        .collect())
}

/// The people locked at `now` (for the people list's 已锁定 filter): their ids.
pub async fn locked_ids<'c>(db: impl PgExecutor<'c>, now: DateTime<Utc>) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT subject FROM lockouts WHERE subject LIKE 'u:%' AND locked_until > $1",
    )
    .bind(now)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|s| s.strip_prefix("u:")?.parse().ok())
        .collect())
}

/// Locks `subject` until `until`.
pub async fn lock(
    conn: &mut PgConnection,
    subject: &str,
    until: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO lockouts (subject, locked_until) VALUES ($1, $2)
         ON CONFLICT (subject) DO UPDATE SET locked_until = EXCLUDED.locked_until",
    )
    .bind(subject)
    .bind(until)
    .execute(conn)
    .await?;
    Ok(())
}

/// Lifts `subject`'s lockout (a successful sign-in, 找回密码).
pub async fn clear(conn: &mut PgConnection, subject: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM lockouts WHERE subject = $1")
        .bind(subject)
        .execute(conn)
        .await?;
    Ok(())
}

/// An administrator's 解锁: the lockout goes, and so does the run of failures behind it
/// (a marker attempt counts as the last success), or the next wrong password would lock
/// the account again at once. Whether there was a lockout to lift.
pub async fn release(
    conn: &mut PgConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let s = subject(user_id);
    let was = locked_until(&mut *conn, &s, now).await?.is_some();
    clear(conn, &s).await?;
    sqlx::query(
        "INSERT INTO login_attempts (at, subject, ip, success) VALUES ($1, $2, NULL, true)",
    )
    .bind(now)
    .bind(&s)
    .execute(conn)
    .await?;
    Ok(was)
}
