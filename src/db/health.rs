//! Telling "the database is unreachable" apart from other errors, and living through a
//! PostgreSQL restart.
//!
//! A restart (or crash) kills every server process: the pool's idle connections are then
//! dead, and each fails the first statement sent on it. Three things keep that from
//! reaching people as errors:
//! - `note_lost` records when a broken connection was last seen, and the pool's
//!   `before_acquire` hook ([`check_on_acquire`]) drops every connection opened before
//!   that moment without a round trip, so one failure retires all its siblings; a
//!   connection idle for longer than [`PING_AFTER_IDLE`] is pinged first (cheap, and it
//!   catches a restart during a quiet spell before any request fails on it);
//! - [`retry_once`] re-runs an operation that failed on a broken connection *before
//!   anything was committed* (reads, whole transactions that never reached COMMIT);
//! - what still fails is `AppError::Unavailable`: 503 系统繁忙 with `Retry-After`.

use std::{
    future::Future,
    sync::{
        LazyLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{PgConnection, pool::PoolConnectionMetadata};

/// Idle connections older than this are pinged before use.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(2);

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
/// Microseconds after `EPOCH` when a broken connection was last seen; 0: never.
static LAST_LOSS: AtomicU64 = AtomicU64::new(0);

/// The connection itself is broken or the server is going away: a retry on a *new*
/// connection may succeed. SQLSTATE class 08 (connection exception), 57P01/57P02
/// (admin or crash shutdown), 57P03 (cannot connect now, e.g. still starting up).
pub fn is_broken_connection(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// The database cannot serve this request now: a broken connection, or no connection to
/// be had within the acquire timeout (server down, or every connection busy).
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    is_broken_connection(e)
        || matches!(
            e,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed
        )
}

/// The first sqlx error in an error's chain, if it says the database is unavailable.
pub fn unavailable_in(e: &anyhow::Error) -> Option<&sqlx::Error> {
    e.chain()
        .filter_map(|c| c.downcast_ref::<sqlx::Error>())
        .find(|s| is_unavailable(s))
}

/// A broken connection was seen: connections opened before now are not to be trusted.
pub fn note_lost() {
    let micros = EPOCH.elapsed().as_micros() as u64;
    LAST_LOSS.fetch_max(micros.max(1), Ordering::Relaxed);
}

/// When a broken connection was last seen, if ever.
pub fn last_loss() -> Option<Instant> {
    match LAST_LOSS.load(Ordering::Relaxed) {
        0 => None,
        m => Some(*EPOCH + Duration::from_micros(m)),
    }
}

/// The pool's `before_acquire` check: `false` drops the connection (the pool opens or
/// takes another); an error drops it too.
pub async fn check_on_acquire(
    conn: &mut PgConnection,
    meta: PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if let Some(lost) = last_loss() {
        let opened = Instant::now().checked_sub(meta.age);
        if opened.is_none_or(|o| o <= lost) {
            return Ok(false);
        }
    }
    if meta.idle_for > PING_AFTER_IDLE {
        use sqlx::Connection;
        if let Err(e) = conn.ping().await {
            note_lost();
            return Err(e);
        }
    }
    Ok(true)
}

/// Runs `op`; when it fails on a broken connection, runs it once more (on a fresh
/// connection: the pool drops the old ones). Only for operations that commit nothing
/// unless they succeed: reads, idempotent upserts, a whole transaction whose COMMIT
/// was never sent — `retryable` must say `false` for an error of COMMIT itself.
pub async fn retry_once<T, E, F, Fut>(
    what: &'static str,
    retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    match op().await {
        Err(e) if retryable(&e) => {
            note_lost();
            tracing::warn!(what, "broken database connection; retrying once");
            op().await
        }
        r => r,
    }
}

/// [`retry_once`] for plain sqlx operations.
pub async fn retry_sqlx<T, F, Fut>(what: &'static str, op: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    retry_once(what, is_broken_connection, op).await
}
