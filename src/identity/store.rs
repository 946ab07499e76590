//! Sessions in PostgreSQL, loaded together with their person: one query per request finds
//! the session and the signed-in person with the header's badge counts, where a generic
//! store and a separate user query took two round trips.
//!
//! The table is the one `tower-sessions-sqlx-store` used (same msgpack encoding, so
//! sessions survive the switch) plus `user_id`, copied from the session's `uid` on save.

use async_trait::async_trait;
use sqlx::{FromRow, PgPool, Row};
use time::OffsetDateTime;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store,
};

use super::session::{UID, USER_KEY, UserRow, user_sql};

#[derive(Clone, Debug)]
pub struct PgSessionStore {
    pool: PgPool,
}

impl PgSessionStore {
    pub fn new(pool: PgPool) -> Self {
        PgSessionStore { pool }
    }
}

fn at(t: OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default()
}

fn backend(e: sqlx::Error) -> session_store::Error {
    if crate::db::health::is_unavailable(&e) {
        // Read back by `AppError::from`: 503 系统繁忙, not 500.
        session_store::Error::Backend(format!("{}{e}", crate::error::UNAVAILABLE_TAG))
    } else {
        session_store::Error::Backend(e.to_string())
    }
}

/// Writing the session after the handler answered: when the database is unreachable
/// even after one retry, the write is given up (logged) rather than turning the answer
/// into a 500 — the action the request did has committed, and its page must follow.
/// What is lost is the activity stamp, a step of a flow, or a new sign-in (the person
/// signs in again).
fn best_effort(r: sqlx::Result<()>, what: &'static str) -> session_store::Result<()> {
    match r {
        Err(e) if crate::db::health::is_unavailable(&e) => {
            tracing::warn!(error = %e, what, "session not written: database unavailable");
            Ok(())
        }
        r => r.map_err(backend),
    }
}

/// The record as stored: without the person loaded alongside it.
fn encode(record: &Record) -> session_store::Result<(Vec<u8>, Option<i64>)> {
    let user_id = record.data.get(UID).and_then(|v| v.as_i64());
    let bytes = if record.data.contains_key(USER_KEY) {
        let mut r = record.clone();
        r.data.remove(USER_KEY);
        rmp_serde::to_vec(&r)
    } else {
        rmp_serde::to_vec(record)
    }
    .map_err(|e| session_store::Error::Encode(e.to_string()))?;
    Ok((bytes, user_id))
}

/// The session and its active person (NULL columns when there is none). $1 = session id,
/// $2 = now.
pub const LOAD_SQL: &str = user_sql!(
    "SELECT s.data, p.* FROM tower_sessions.session s
     LEFT JOIN LATERAL (",
    "u.id = s.user_id",
    ") p ON p.active WHERE s.id = $1 AND s.expiry_date > $2"
);

#[async_trait]
impl SessionStore for PgSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh random id practically never collides; if it does, draw again.
        loop {
            let (bytes, user_id) = encode(record)?;
            let id = record.id.to_string();
            let expiry = at(record.expiry_date);
            // A retry after a broken connection may find its own first insert: that
            // counts as inserted (same id, same data).
            let mut tries = 0;
            let inserted = crate::db::health::retry_sqlx("create a session", || {
                tries += 1;
                let (bytes, id) = (bytes.clone(), id.clone());
                let retry = tries > 1;
                async move {
                    sqlx::query(
                        "INSERT INTO tower_sessions.session (id, data, expiry_date, user_id)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (id) DO UPDATE SET data = excluded.data
                         WHERE $5 AND session.data = excluded.data",
                    )
                    .bind(id)
                    .bind(bytes)
                    .bind(expiry)
                    .bind(user_id)
                    .bind(retry)
                    .execute(&self.pool)
                    .await
                    .map(|r| r.rows_affected())
                }
            })
            .await;
            let inserted = match inserted {
                Ok(n) => n,
                Err(e) => return best_effort(Err(e), "create"),
            };
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (bytes, user_id) = encode(record)?;
        let id = record.id.to_string();
        let expiry = at(record.expiry_date);
        // An upsert: running it twice is running it once.
        let r = crate::db::health::retry_sqlx("save a session", || {
            sqlx::query(
                "INSERT INTO tower_sessions.session (id, data, expiry_date, user_id)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE
                 SET data = excluded.data, expiry_date = excluded.expiry_date, user_id = excluded.user_id",
            )
            .bind(id.clone())
            .bind(bytes.clone())
            .bind(expiry)
            .bind(user_id)
            .execute(&self.pool)
        })
        .await;
        best_effort(r.map(|_| ()), "save")
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row = crate::db::health::retry_sqlx("load a session", || {
            sqlx::query(LOAD_SQL)
                .bind(id.to_string())
                .bind(at(OffsetDateTime::now_utc()))
                .fetch_optional(&self.pool)
        })
        .await
        .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let data: Vec<u8> = row.try_get("data").map_err(backend)?;
        let user = match row.try_get::<Option<i64>, _>("id").map_err(backend)? {
            Some(_) => Some(UserRow::from_row(&row).map_err(backend)?),
            None => None,
        };
        let mut record: Record = rmp_serde::from_slice(&data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        // The person rides along in memory only (`encode` drops it again), for
        // `load_user`; a session whose person is gone or disabled gets none.
        if let Some(user) = user {
            let v = serde_json::to_value(user)
                .map_err(|e| session_store::Error::Encode(e.to_string()))?;
            record.data.insert(USER_KEY.to_owned(), v);
        }
        Ok(Some(record))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        crate::db::health::retry_sqlx("delete a session", || {
            sqlx::query("DELETE FROM tower_sessions.session WHERE id = $1")
                .bind(id.to_string())
                .execute(&self.pool)
        })
        .await
        .map_err(backend)?;
        Ok(())
    }
}

impl PgSessionStore {
    /// Deletes expired sessions every `every`, until the process stops.
    pub async fn delete_expired_every(self, every: std::time::Duration) {
        loop {
            if let Err(e) =
                sqlx::query("DELETE FROM tower_sessions.session WHERE expiry_date < now()")
                    .execute(&self.pool)
                    .await
            {
                tracing::warn!(error = %e, "deleting expired sessions failed; will retry");
            }
            tokio::time::sleep(every).await;
        }
    }
}
