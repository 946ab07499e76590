//! The one source of truth for "locked": a row in `lockouts` whose `locked_until` is still
//! ahead, written after too many failed passwords (sign-in or 再次确认密码) and lifted by
//! time, by 找回密码 or by an administrator's 解锁. An administrator switching a person
//! off is something else, `users.status = 'disabled'` (停用), and never called locked.
//! Every reader of a lockout goes through this module.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, types::ipnetwork::IpNetwork};

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

/// What a password check may do, decided before any hashing.
#[derive(Debug)]
pub enum Gate {
    /// Too many failures from this address (sign-in's per-address limit).
    Throttled,
    /// The subject is locked until then.
    Locked(DateTime<Utc>),
    /// Attempts already in flight fill what is left before the address's or the subject's
    /// limit: nothing is checked now; try again once they have settled (503, `Retry-After`).
    Crowded,
    /// Go ahead: verify the password, then `settle` (or `cancel`) this attempt.
    Reserved(Attempt),
}

/// A reserved attempt: a `login_attempts` row counted as a failure (and `pending`) until
/// settled, so requests arriving meanwhile see it.
#[derive(Debug)]
pub struct Attempt {
    pub id: i64,
    pub subject: String,
}

/// The limits a reservation checks.
pub struct Limits {
    /// Failed passwords since the last success (within `window`) that lock the subject.
    pub threshold: i64,
    pub window: std::time::Duration,
    /// Failures from one address within a window that throttle it: `(max, window)`;
    /// `None` leaves the address alone (再次确认密码 is for someone signed in).
    pub per_ip: Option<(i64, std::time::Duration)>,
}

/// Serialises the password checks on one key (a subject, an address) across instances,
/// until the transaction ends.
async fn serialise(conn: &mut PgConnection, key: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Failures of `subject` since its last success within `window`: (settled, pending).
async fn failures(
    conn: &mut PgConnection,
    subject: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE NOT pending), count(*) FILTER (WHERE pending)
         FROM login_attempts
         WHERE subject = $1 AND NOT success AND at > $2
           AND id > COALESCE((SELECT max(id) FROM login_attempts WHERE subject = $1 AND success), 0)",
    )
    .bind(subject)
    .bind(since)
    .fetch_one(conn)
    .await
}

/// Checks the limits and, when they allow, reserves the attempt — all before the (slow,
/// memory-hungry) hash, in one short transaction serialised per address and per subject,
/// so N requests at once verify at most the limits, on any number of instances.
pub async fn reserve(
    db: &sqlx::PgPool,
    subject: &str,
    ip: Option<IpNetwork>,
    limits: &Limits,
    now: DateTime<Utc>,
) -> sqlx::Result<Gate> {
    let mut tx = db.begin().await?;
    // Always the address first, then the subject: no two checks wait on each other.
    if let (Some(ip), Some((max, window))) = (ip, limits.per_ip) {
        serialise(&mut tx, &format!("login-ip:{ip}")).await?;
        let (settled, pending): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE NOT pending), count(*) FILTER (WHERE pending)
             FROM login_attempts WHERE ip = $1 AND NOT success AND at > $2",
        )
        .bind(ip)
        .bind(now - window)
        .fetch_one(&mut *tx)
        .await?;
        if settled >= max {
            return Ok(Gate::Throttled);
        }
        // Many people behind one address (a campus NAT) sign in at once: the ones past the
        // limit wait for those in flight to settle rather than being throttled for them.
        if settled + pending >= max {
            return Ok(Gate::Crowded);
        }
    }
    serialise(&mut tx, &format!("login:{subject}")).await?;
    if let Some(until) = locked_until(&mut *tx, subject, now).await? {
        return Ok(Gate::Locked(until));
    }
    let (settled, pending) = failures(&mut tx, subject, now - limits.window).await?;
    // Settled failures alone never refuse: one more try is what decides the lockout.
    if pending > 0 && settled + pending >= limits.threshold {
        return Ok(Gate::Crowded);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO login_attempts (at, subject, ip, success, pending)
         VALUES ($1, $2, $3, false, true) RETURNING id",
    )
    .bind(now)
    .bind(subject)
    .bind(ip)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Gate::Reserved(Attempt {
        id,
        subject: subject.to_owned(),
    }))
}

/// How long a sign-in waits for the attempts ahead of it to settle (`Gate::Crowded`)
/// before it is answered 503: a hash takes tens of milliseconds on one core, so a crowd
/// behind one address (a campus NAT, the first morning of term) is through in a second or
/// two, while a burst of wrong passwords still meets the address's limit (`Throttled`).
pub const CROWDED_WAIT: std::time::Duration = std::time::Duration::from_secs(4);

/// Wakes one sign-in of this instance waiting in `reserve_waiting`: call it once an
/// attempt's settlement (or cancellation) is committed, so a crowd moves at hashing speed.
/// Waiters on other instances find out by polling.
pub fn wake_one() {
    settled().notify_one();
}

fn settled() -> &'static tokio::sync::Notify {
    static N: std::sync::OnceLock<tokio::sync::Notify> = std::sync::OnceLock::new();
    N.get_or_init(tokio::sync::Notify::new)
}

/// `reserve`, trying again while it is `Crowded`, for at most `wait`: when an attempt of
/// this instance settles (`wake_one`), else every 50–150 ms (jittered, so the waiters do not
/// all come back at once).
pub async fn reserve_waiting(
    db: &sqlx::PgPool,
    subject: &str,
    ip: Option<IpNetwork>,
    limits: &Limits,
    now: DateTime<Utc>,
    wait: std::time::Duration,
) -> sqlx::Result<Gate> {
    use rand::Rng;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let gate = reserve(db, subject, ip, limits, now).await?;
        if !matches!(gate, Gate::Crowded) || tokio::time::Instant::now() >= deadline {
            return Ok(gate);
        }
        let pause = rand::thread_rng().gen_range(50..150);
        tokio::select! {
            _ = settled().notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_millis(pause)) => {}
        }
    }
}

/// The attempt was never checked (hashing was saturated): it counts for nothing.
pub async fn cancel(db: &sqlx::PgPool, attempt: Attempt) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_attempts WHERE id = $1")
        .bind(attempt.id)
        .execute(db)
        .await?;
    wake_one();
    Ok(())
}

/// A lockout in force after a failed attempt.
pub struct Lock {
    pub until: DateTime<Utc>,
    /// This failure locked the subject (the others in flight found it locked).
    pub new: bool,
    pub failures: i64,
}

/// Records the outcome of a reserved attempt in `conn`'s transaction. A failure that
/// brings the settled failures to `threshold` locks the subject until `now + duration`
/// (once: failures settling after it find the lock); a success lifts any lockout.
pub async fn settle(
    conn: &mut PgConnection,
    attempt: &Attempt,
    ok: bool,
    threshold: i64,
    window: std::time::Duration,
    duration: std::time::Duration,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Lock>> {
    serialise(conn, &format!("login:{}", attempt.subject)).await?;
    sqlx::query("UPDATE login_attempts SET pending = false, success = $2 WHERE id = $1")
        .bind(attempt.id)
        .bind(ok)
        .execute(&mut *conn)
        .await?;
    if ok {
        clear(conn, &attempt.subject).await?;
        return Ok(None);
    }
    let (failures, _) = failures(conn, &attempt.subject, now - window).await?;
    if failures < threshold {
        return Ok(None);
    }
    if let Some(until) = locked_until(&mut *conn, &attempt.subject, now).await? {
        return Ok(Some(Lock {
            until,
            new: false,
            failures,
        }));
    }
    let until = now + duration;
    lock(conn, &attempt.subject, until).await?;
    Ok(Some(Lock {
        until,
        new: true,
        failures,
    }))
}
