//! Per-person request budgets for endpoints that hand out data in bulk (the person picker's
//! search): enough for anyone typing, too little for scraping the directory. Kept in
//! PostgreSQL, so the budget is one across every instance behind the load balancer: a row
//! per (scope, person, fixed window), spent by one atomic upsert.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

/// The start of the fixed window of length `window` that `now` falls in.
fn window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let len = window.num_seconds().max(1);
    let start = now.timestamp().div_euclid(len) * len;
    DateTime::from_timestamp(start, 0).unwrap_or(now)
}

/// Whether `who` may make one more `scope` request at `now` (at most `max` per `window`),
/// spending one if so. Concurrent requests on any instance never spend more than `max`.
pub async fn allow(
    db: &PgPool,
    scope: &str,
    who: i64,
    now: DateTime<Utc>,
    max: u32,
    window: Duration,
) -> sqlx::Result<bool> {
    // The row lock of ON CONFLICT makes the check and the increment one step.
    let used: Option<i32> = sqlx::query_scalar(
        "INSERT INTO request_budgets (scope, who, window_start, used) VALUES ($1, $2, $3, 1)
         ON CONFLICT (scope, who, window_start) DO UPDATE SET used = request_budgets.used + 1
             WHERE request_budgets.used < $4
         RETURNING used",
    )
    .bind(scope)
    .bind(who)
    .bind(window_start(now, window))
    .bind(i32::try_from(max).unwrap_or(i32::MAX))
    .fetch_optional(db)
    .await?;
    Ok(used.is_some_and(|u| i64::from(u) <= i64::from(max)))
}

/// The budget key of a client address (budgets are per person elsewhere): the first 8
/// bytes of its SHA-256, so no address is stored.
pub fn ip_key(ip: Option<std::net::IpAddr>) -> i64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(ip.map(|i| i.to_string()).unwrap_or_default().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    i64::from_be_bytes(first)
}

/// Drops the windows that finished long ago (the longest budget window is well under a day).
pub async fn prune(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM request_budgets WHERE window_start < $1 - interval '1 day'")
            .bind(now)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_windows() {
        let w = Duration::minutes(10);
        let t = DateTime::parse_from_rfc3339("2026-03-01T08:17:42Z")
            .unwrap()
            .to_utc();
        let start = window_start(t, w);
        assert_eq!(start.to_rfc3339(), "2026-03-01T08:10:00+00:00");
        assert_eq!(window_start(start + w - Duration::seconds(1), w), start);
        assert_eq!(window_start(start + w, w), start + w);
    }
}
