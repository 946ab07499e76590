//! Append-only audit log, written inside the transaction of the change it records.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

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

pub async fn record(conn: &mut PgConnection, e: Entry<'_>) -> sqlx::Result<()> {
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
    .execute(conn)
    .await?;
    Ok(())
}
