//! 再次输入密码: a signed-in person confirms a sensitive action (publishing, deleting) with
//! their password. The confirmation is kept in the session for `WINDOW`; wrong passwords
//! count towards the same lockout as signing in, so the box is no way around it.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::types::ipnetwork::IpNetwork;
use tower_sessions::Session;

use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    identity::{lockout, password},
    web::AppState,
};

/// How long a confirmation holds.
pub const WINDOW: Duration = Duration::minutes(15);
const KEY: &str = "reconfirmed_at";

/// Whether the session's last confirmation is younger than `WINDOW`.
pub async fn fresh(session: &Session, now: DateTime<Utc>) -> bool {
    match session.get::<i64>(KEY).await {
        Ok(Some(at)) => {
            DateTime::from_timestamp(at, 0).is_some_and(|at| at <= now && now - at < WINDOW)
        }
        _ => false,
    }
}

/// Checks `password` for `user_id`. `Ok(None)`: confirmed (and remembered in the session);
/// `Ok(Some(message))`: refused, with what to show next to the box.
pub async fn confirm(
    state: &AppState,
    session: &Session,
    user_id: i64,
    password: &str,
    ip: Option<IpAddr>,
) -> AppResult<Option<String>> {
    if password.is_empty() {
        return Ok(Some("请输入登录密码".into()));
    }
    if password.chars().count() > 256 {
        return Ok(Some("密码不正确".into()));
    }
    let now = state.now();
    let s = &state.settings;
    let subject = lockout::subject(user_id);
    let hash: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&state.db)
        .await?;
    // Counted before hashing, like signing in: concurrent tries verify at most the limit.
    let limits = lockout::Limits {
        threshold: s.lockout_threshold,
        window: s.lockout_window,
        per_ip: None,
    };
    let ip_net = ip.map(IpNetwork::from);
    let attempt = match lockout::reserve(&state.db, &subject, ip_net, &limits, now).await? {
        lockout::Gate::Reserved(a) => a,
        lockout::Gate::Locked(until) => return Ok(Some(locked(state, until))),
        lockout::Gate::Throttled => return Err(AppError::TooManyRequests),
        lockout::Gate::Crowded => return Err(AppError::Busy),
    };
    let ok = match password::verify(password.to_owned(), hash).await {
        Ok(ok) => ok,
        Err(e) => {
            if matches!(e, password::HashError::Busy) {
                lockout::cancel(&state.db, attempt).await?;
            }
            return Err(e.into());
        }
    };
    let mut tx = state.db.begin().await?;
    let lock = lockout::settle(
        &mut tx,
        &attempt,
        ok,
        s.lockout_threshold,
        s.lockout_window,
        s.lockout_duration,
        now,
    )
    .await?;
    let entry = Entry::user(user_id, "reconfirm").ip(ip);
    if ok {
        entry.record(&mut *tx, now).await?;
        tx.commit().await?;
        lockout::wake_one();
        session
            .insert(KEY, now.timestamp())
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
        return Ok(None);
    }
    entry.failure().record(&mut *tx, now).await?;
    let mut message = "密码不正确".to_owned();
    if let Some(lock) = lock {
        if lock.new {
            Entry::user(user_id, "account.lockout")
                .ip(ip)
                .detail(json!({ "until": lock.until, "failures": lock.failures }))
                .record(&mut *tx, now)
                .await?;
        }
        message = locked(state, lock.until);
    }
    tx.commit().await?;
    lockout::wake_one();
    Ok(Some(message))
}

fn locked(state: &AppState, until: DateTime<Utc>) -> String {
    format!(
        "密码错误次数过多，账号已被锁定，请于 {} 后再试",
        until
            .with_timezone(&state.settings.time_zone)
            .format("%H:%M")
    )
}
