//! 安全提醒: when a password or a security contact changes, the person hears of it on the
//! contacts they had before the change, so that whoever took over an account cannot
//! silence the real owner by replacing the phone or the 安全邮箱 first. Written in the
//! transaction that makes the change: no change without its notice, and no notice for a
//! change that rolled back.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;

use super::{codes::mask_phone, email::mask_email};
use crate::state::AppState;

/// What changed, with the contact it replaced where there was one.
pub enum Change<'a> {
    /// In 安全中心 (not the first change of an issued initial password).
    Password,
    /// Through 找回密码.
    PasswordReset,
    Phone {
        old: Option<&'a str>,
    },
    Email {
        old: Option<&'a str>,
    },
}

impl Change<'_> {
    fn what(&self, new: &Contacts) -> String {
        match self {
            Change::Password => "修改了登录密码".into(),
            Change::PasswordReset => "通过“找回密码”重置了登录密码".into(),
            Change::Phone { .. } => format!(
                "将安全手机更换为 {}",
                new.phone.as_deref().map(mask_phone).unwrap_or_default()
            ),
            Change::Email { .. } => format!(
                "将安全邮箱更换为 {}",
                new.email.as_deref().map(mask_email).unwrap_or_default()
            ),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Change::Password => "password",
            Change::PasswordReset => "password_reset",
            Change::Phone { .. } => "phone",
            Change::Email { .. } => "email",
        }
    }
}

struct Contacts {
    account: String,
    phone: Option<String>,
    email: Option<String>,
}

/// Queues the 安全提醒 for `uid` after `change` (call it after the change's own update, in
/// the same transaction): a message in 消息中心, an SMS to the phone and an e-mail to the
/// 安全邮箱 the person had before the change (for a phone change, the old phone; for an
/// e-mail change, the old address), each where that channel is configured here. These
/// go out whatever the person chose in 个人设置: they are about the account itself.
pub async fn queue(
    tx: &mut PgConnection,
    state: &AppState,
    uid: i64,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let new: Contacts = {
        let (account, phone, email): (String, Option<String>, Option<String>) =
            sqlx::query_as("SELECT account, phone, email FROM users WHERE id = $1")
                .bind(uid)
                .fetch_one(&mut *tx)
                .await?;
        Contacts {
            account,
            phone,
            email,
        }
    };
    // The contacts that knew the person before this change.
    let (phone, email) = match &change {
        Change::Phone { old } => (old.map(str::to_owned), new.email.clone()),
        Change::Email { old } => (new.phone.clone(), old.map(str::to_owned)),
        Change::Password | Change::PasswordReset => (new.phone.clone(), new.email.clone()),
    };
    let at = now
        .with_timezone(&state.settings.time_zone)
        .format("%Y-%m-%d %H:%M");
    let text = format!(
        "您的账号 {} 于 {at} {}。如非本人操作，请立即通过“找回密码”重置密码，并联系学校网络信息中心。",
        new.account,
        change.what(&new)
    );
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (idempotency_key, recipient_id, kind, payload, created_at, next_attempt_at, delivered_at, attempts)
         VALUES ('security:' || $1 || ':' || $2 || ':' || txid_current(), $1, 'security', $3, $4, $4, $4, 1)
         RETURNING id",
    )
    .bind(uid)
    .bind(change.code())
    .bind(json!({ "text": text, "link": "/security" }))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO messages (outbox_id, user_id, kind, text, link, created_at)
         VALUES ($1, $2, 'security', $3, '/security', $4)",
    )
    .bind(id)
    .bind(uid)
    .bind(&text)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let portal = &state.settings.portal_name;
    let mut copies = Vec::new();
    if let (Some(p), true) = (phone, state.settings.sms.is_some()) {
        copies.push((
            "sms",
            json!({ "phone": p, "text": format!("【{portal}】{text}") }),
        ));
    }
    if let (Some(e), true) = (email, state.settings.smtp.is_some()) {
        copies.push((
            "email",
            json!({
                "email": e,
                "subject": format!("【{portal}】安全提醒"),
                "text": format!("{text}\n\n—— {portal}"),
            }),
        ));
    }
    for (channel, payload) in copies {
        sqlx::query(
            "INSERT INTO outbox (idempotency_key, channel, recipient_id, kind, payload, created_at, next_attempt_at)
             VALUES ($1, $2, $3, 'security', $4, $5, $5)",
        )
        .bind(format!("security:{id}:{channel}"))
        .bind(channel)
        .bind(uid)
        .bind(payload)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
