//! The systems a person signed in to through the hall: recorded when a ticket is validated
//! or a code redeemed, listed in 安全中心, and what single logout ends.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool, types::ipnetwork::IpNetwork};

pub struct New<'a> {
    pub user_id: i64,
    pub client_id: i64,
    pub protocol: &'static str,
    pub ip: Option<IpAddr>,
    pub device: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub session_index: Option<&'a str>,
    pub service: Option<&'a str>,
}

pub async fn record<'c>(
    db: impl PgExecutor<'c>,
    n: New<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sso_sign_ins (user_id, client_id, protocol, at, ip, device, sid,
                                   session_index, service)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(n.user_id)
    .bind(n.client_id)
    .bind(n.protocol)
    .bind(now)
    .bind(n.ip.map(IpNetwork::from))
    .bind(n.device)
    .bind(n.sid)
    .bind(n.session_index)
    .bind(n.service)
    .execute(db)
    .await?;
    Ok(())
}

/// A sign-in to a system, as 安全中心 lists it.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Listed {
    pub id: i64,
    pub system: String,
    pub protocol: String,
    pub at: DateTime<Utc>,
    pub ip: Option<IpNetwork>,
    pub this_device: bool,
    pub logged_out: bool,
}

/// The person's latest sign-ins to systems (at most 20).
pub async fn recent(db: &PgPool, user_id: i64, device: Option<&str>) -> sqlx::Result<Vec<Listed>> {
    sqlx::query_as(
        "SELECT s.id, c.name AS system, s.protocol, s.at, s.ip,
                COALESCE(s.device = $2, false) AS this_device,
                s.logged_out_at IS NOT NULL AS logged_out
           FROM sso_sign_ins s JOIN sso_clients c ON c.id = s.client_id
          WHERE s.user_id = $1 ORDER BY s.at DESC, s.id DESC LIMIT 20",
    )
    .bind(user_id)
    .bind(device)
    .fetch_all(db)
    .await
}

/// A sign-in still open in a hall session, with what its logout needs.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Open {
    pub id: i64,
    pub client_id: i64,
    pub system: String,
    pub protocol: String,
    pub sid: Option<String>,
    pub session_index: Option<String>,
    pub service: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
}

const OPEN_SQL: &str = "SELECT s.id, s.client_id, c.name AS system, s.protocol, s.sid,
        s.session_index, s.service, c.frontchannel_logout_uri
   FROM sso_sign_ins s JOIN sso_clients c ON c.id = s.client_id";

/// The systems signed in to from the hall session marked `device`, not yet signed out.
pub async fn open_for_device(db: &PgPool, device: &str) -> sqlx::Result<Vec<Open>> {
    sqlx::query_as(&format!(
        "{OPEN_SQL} WHERE s.device = $1 AND s.logged_out_at IS NULL ORDER BY s.at, s.id"
    ))
    .bind(device)
    .fetch_all(db)
    .await
}

/// Marks the sign-ins `ids` of `user_id` signed out, returning those that were still open
/// (a second click finds none: each system is told once).
pub async fn end(
    db: &PgPool,
    user_id: i64,
    ids: &[i64],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Open>> {
    sqlx::query_as(&format!(
        "WITH ended AS (
            UPDATE sso_sign_ins SET logged_out_at = $3
             WHERE id = ANY($2) AND user_id = $1 AND logged_out_at IS NULL RETURNING id)
         {OPEN_SQL} WHERE s.id IN (SELECT id FROM ended) ORDER BY s.at, s.id"
    ))
    .bind(user_id)
    .bind(ids)
    .bind(now)
    .fetch_all(db)
    .await
}
