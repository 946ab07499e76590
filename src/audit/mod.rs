//! Append-only audit log, written inside the transaction of the change it records.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

/// One row. Built with `Entry::user(..)` / `Entry::about(..)`; a struct literal with
/// `record` works too.
pub struct Entry<'a> {
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub target: &'a str,
    pub ip: Option<IpAddr>,
    pub outcome: Outcome,
    pub details: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

impl Entry<'_> {
    /// About a person's account, by that person: actor and target `user:<id>`. `None`:
    /// nobody known (e.g. a failed identity check), target `user:0`.
    pub fn user(user: impl Into<Option<i64>>, action: &'static str) -> EntryBuilder {
        let user = user.into();
        EntryBuilder {
            actor_id: user,
            action,
            target: format!("user:{}", user.unwrap_or(0)),
            ip: None,
            outcome: Outcome::Success,
            details: Value::Object(Default::default()),
        }
    }

    /// About `target` (`qr_login:7`; empty for a sign-in attempt), by nobody known until
    /// `by`.
    pub fn about(target: impl Into<String>, action: &'static str) -> EntryBuilder {
        EntryBuilder {
            target: target.into(),
            ..Entry::user(None, action)
        }
    }
}

/// An entry being built: a success with no details, from no known address, until told
/// otherwise.
#[must_use = "an audit entry is written only by `record`"]
pub struct EntryBuilder {
    actor_id: Option<i64>,
    action: &'static str,
    target: String,
    ip: Option<IpAddr>,
    outcome: Outcome,
    details: Value,
}

impl EntryBuilder {
    /// Who did it, where that is not the person the entry is about (an administrator), or
    /// nobody known (`None`: the command line, an anonymous visitor).
    pub fn by(mut self, actor: Option<i64>) -> Self {
        self.actor_id = actor;
        self
    }

    pub fn ip(mut self, ip: Option<IpAddr>) -> Self {
        self.ip = ip;
        self
    }

    pub fn detail(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn failure(self) -> Self {
        self.outcome(Outcome::Failure)
    }

    pub fn denied(self) -> Self {
        self.outcome(Outcome::Denied)
    }

    /// Writes the entry, stamped `at` (the app's clock, not the database's): in the
    /// transaction of the change it records (`&mut *tx`), or alone (`&state.db`).
    pub async fn record<'c>(self, db: impl PgExecutor<'c>, at: DateTime<Utc>) -> sqlx::Result<()> {
        insert(
            db,
            Entry {
                at,
                actor_id: self.actor_id,
                action: self.action,
                target: &self.target,
                ip: self.ip,
                outcome: self.outcome,
                details: self.details,
            },
        )
        .await
    }
}

pub async fn record(conn: &mut PgConnection, e: Entry<'_>) -> sqlx::Result<()> {
    insert(conn, e).await
}

async fn insert<'c>(db: impl PgExecutor<'c>, e: Entry<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, action, target, ip, outcome, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.at)
    .bind(e.actor_id)
    .bind(e.action)
    .bind(e.target)
    .bind(e.ip.map(sqlx::types::ipnetwork::IpNetwork::from))
    .bind(e.outcome.as_str())
    .bind(e.details)
    .execute(db)
    .await?;
    Ok(())
}
