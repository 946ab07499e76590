//! One-time SMS codes: 6 digits from the OS's CSPRNG, kept only as a keyed hash bound to
//! purpose and phone, valid for a few minutes, used once, void after too many wrong tries.
//! They leave through the notification outbox's SMS channel (the `log` provider shows them
//! in development) and are written nowhere else.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::json;
use sqlx::PgPool;

use crate::{audit::Entry, mask::mask_phone, web::AppState};

const TAG: &str = "one-time code v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Activate,
    Login,
    Recover,
    /// Proving the current 安全手机 before changing it.
    OldPhone,
    /// Binding a (new) 安全手机.
    BindPhone,
}

impl Purpose {
    pub fn code(self) -> &'static str {
        match self {
            Purpose::Activate => "activate",
            Purpose::Login => "login",
            Purpose::Recover => "recover",
            Purpose::OldPhone => "old_phone",
            Purpose::BindPhone => "bind_phone",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Purpose::Activate => "激活账号",
            Purpose::Login => "登录",
            Purpose::Recover => "找回密码",
            Purpose::OldPhone => "验证原安全手机",
            Purpose::BindPhone => "绑定安全手机",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// Seconds until another code may go to this phone.
    TooSoon(i64),
    DailyLimit,
    IpLimit,
    /// No SMS channel is configured: a code could not arrive.
    NoChannel,
}

impl SendError {
    pub fn message(&self) -> String {
        match self {
            SendError::TooSoon(s) => format!("验证码已发送，请 {s} 秒后再试"),
            SendError::DailyLimit => "该手机号今日获取验证码次数已达上限，请明天再试".into(),
            SendError::IpLimit => "获取验证码过于频繁，请稍后再试".into(),
            SendError::NoChannel => "短信服务尚未开通，暂时无法发送验证码，请联系管理员".into(),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// Wrong code; the code stays valid for the remaining tries.
    Wrong,
    /// None sent, expired, used, or void after too many tries.
    Invalid,
}

impl VerifyError {
    pub fn message(&self) -> &'static str {
        match self {
            VerifyError::Wrong => "验证码不正确",
            VerifyError::Invalid => "验证码已失效，请重新获取",
        }
    }
}

/// "验证码已发送至 139****5678，5 分钟内有效。"
pub fn sent_message(state: &AppState, phone: &str) -> String {
    format!(
        "验证码已发送至 {}，{} 分钟内有效。",
        mask_phone(phone),
        state.settings.code_ttl.as_secs() / 60
    )
}

/// Mainland mobile number: 11 digits starting with 1[3-9].
pub fn is_mobile(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && p.bytes().all(|c| c.is_ascii_digit())
}

fn digest(state: &AppState, purpose: Purpose, phone: &str, code: &str) -> Vec<u8> {
    state.secret_key.tag(
        TAG,
        format!("{}\0{phone}\0{code}", purpose.code()).as_bytes(),
    )
}

/// Checks the send limits and records the send. Used alone for look-alike sends to numbers
/// that belong to nobody, so they are limited (and timed) like real ones.
pub async fn check_and_count(
    db: &PgPool,
    state: &AppState,
    phone: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<(), CodeError> {
    let now = state.now();
    let s = &state.settings;
    if s.sms.is_none() {
        return Err(CodeError::Send(SendError::NoChannel));
    }
    let mut tx = db.begin().await?;
    // One sender per address, then per phone, at a time (on every instance): neither the
    // per-address limit (many phones from one address at once) nor the cooldown can be
    // raced. Always in this order, so two senders never wait on each other.
    if let Some(ip) = ip {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('code-ip:' || $1))")
            .bind(ip.to_string())
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('code:' || $1))")
        .bind(phone)
        .execute(&mut *tx)
        .await?;
    let (last, today, from_ip): (Option<DateTime<Utc>>, i64, i64) = sqlx::query_as(
        "SELECT (SELECT max(at) FROM code_sends WHERE phone = $1),
                (SELECT count(*) FROM code_sends WHERE phone = $1 AND at > $2 - interval '1 day'),
                (SELECT count(*) FROM code_sends WHERE ip = $3 AND at > $2 - interval '1 hour')",
    )
    .bind(phone)
    .bind(now)
    .bind(ip.map(sqlx::types::ipnetwork::IpNetwork::from))
    .fetch_one(&mut *tx)
    .await?;
    let cooldown = chrono::Duration::from_std(s.code_cooldown).unwrap_or_default();
    if let Some(last) = last
        && now - last < cooldown
    {
        let wait = (cooldown - (now - last)).num_seconds().max(1);
        return Err(CodeError::Send(SendError::TooSoon(wait)));
    }
    if today >= s.code_per_phone_day {
        return Err(CodeError::Send(SendError::DailyLimit));
    }
    if ip.is_some() && from_ip >= s.code_per_ip_hour {
        return Err(CodeError::Send(SendError::IpLimit));
    }
    sqlx::query("INSERT INTO code_sends (phone, ip, at) VALUES ($1, $2, $3)")
        .bind(phone)
        .bind(ip.map(sqlx::types::ipnetwork::IpNetwork::from))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("send limit")]
    Send(SendError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Sends a new code for `purpose` to `phone` (for `user`), replacing any earlier one.
pub async fn send(
    state: &AppState,
    purpose: Purpose,
    user: i64,
    phone: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<(), CodeError> {
    check_and_count(&state.db, state, phone, ip).await?;
    issue(state, purpose, user, phone, ip).await?;
    Ok(())
}

/// For a number that belongs to nobody (or a look-alike): after `check_and_count`, a code
/// row like a real one, of a random code that is sent nowhere. Verifying against it then
/// answers exactly as for a real number (wrong, void after five tries, expired).
pub async fn issue_decoy(state: &AppState, purpose: Purpose, phone: &str) -> sqlx::Result<()> {
    let now = state.now();
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let ttl = chrono::Duration::from_std(state.settings.code_ttl).unwrap_or_default();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "UPDATE one_time_codes SET voided_at = $3
         WHERE purpose = $1 AND phone = $2 AND used_at IS NULL AND voided_at IS NULL",
    )
    .bind(purpose.code())
    .bind(phone)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO one_time_codes (purpose, phone, user_id, code_hash, created_at, expires_at)
         VALUES ($1, $2, NULL, $3, $4, $5)",
    )
    .bind(purpose.code())
    .bind(phone)
    .bind(digest(state, purpose, phone, &code))
    .bind(now)
    .bind(now + ttl)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Issues and queues a code, without counting a send (the caller has, `check_and_count`).
pub async fn issue(
    state: &AppState,
    purpose: Purpose,
    user: i64,
    phone: &str,
    ip: Option<std::net::IpAddr>,
) -> sqlx::Result<()> {
    let db = &state.db;
    let now = state.now();
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let ttl = chrono::Duration::from_std(state.settings.code_ttl).unwrap_or_default();
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE one_time_codes SET voided_at = $3
         WHERE purpose = $1 AND phone = $2 AND used_at IS NULL AND voided_at IS NULL",
    )
    .bind(purpose.code())
    .bind(phone)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO one_time_codes (purpose, phone, user_id, code_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(purpose.code())
    .bind(phone)
    .bind(user)
    .bind(digest(state, purpose, phone, &code))
    .bind(now)
    .bind(now + ttl)
    .fetch_one(&mut *tx)
    .await?;
    let minutes = state.settings.code_ttl.as_secs() / 60;
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, channel, recipient_id, kind, payload, created_at, next_attempt_at)
         VALUES ($1, 'sms', $2, 'code', $3, $4, $4)",
    )
    .bind(format!("code:{id}"))
    .bind(user)
    .bind(json!({
        "phone": phone,
        "text": format!("【{}】您正在{}，验证码 {code}，{minutes} 分钟内有效。请勿告诉他人。", state.settings.portal_name, purpose.label()),
    }))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Entry::user(user, "code.sent")
        .ip(ip)
        .detail(json!({ "purpose": purpose.code(), "phone": mask_phone(phone) }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await
}

/// Uses the code for (`purpose`, `phone`): the user it was sent for, or why not. A wrong
/// code counts a try; the last allowed wrong try voids the code.
pub async fn verify(
    state: &AppState,
    purpose: Purpose,
    phone: &str,
    code: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<Result<i64, VerifyError>, sqlx::Error> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    type CodeRow = (i64, Option<i64>, Vec<u8>, DateTime<Utc>, i32);
    let row: Option<CodeRow> = sqlx::query_as(
        "SELECT id, user_id, code_hash, expires_at, attempts FROM one_time_codes
         WHERE purpose = $1 AND phone = $2 AND used_at IS NULL AND voided_at IS NULL
         ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
    )
    .bind(purpose.code())
    .bind(phone)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, user, hash, expires, attempts)) = row else {
        return Ok(Err(VerifyError::Invalid));
    };
    if expires <= now || attempts >= state.settings.code_max_attempts {
        return Ok(Err(VerifyError::Invalid));
    }
    let code = code.trim();
    let right = code.len() == 6
        && code.bytes().all(|c| c.is_ascii_digit())
        && state.secret_key.verify_tag(
            TAG,
            format!("{}\0{phone}\0{code}", purpose.code()).as_bytes(),
            &hash,
        );
    if !right {
        let tries = attempts + 1;
        sqlx::query(
            "UPDATE one_time_codes SET attempts = $2,
                    voided_at = CASE WHEN $2 >= $3 THEN $4 END
             WHERE id = $1",
        )
        .bind(id)
        .bind(tries)
        .bind(state.settings.code_max_attempts)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Entry::user(user, "code.failed")
            .ip(ip)
            .failure()
            .detail(json!({ "purpose": purpose.code(), "tries": tries }))
            .record(&mut *tx, now)
            .await?;
        tx.commit().await?;
        return Ok(Err(if tries >= state.settings.code_max_attempts {
            VerifyError::Invalid
        } else {
            VerifyError::Wrong
        }));
    }
    sqlx::query("UPDATE one_time_codes SET used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(user.ok_or(VerifyError::Invalid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert!(is_mobile("19912341339"));
        assert!(!is_mobile("12912341339"));
        assert!(!is_mobile("1991234133"));
        assert!(!is_mobile("1991234133x"));
    }
}
