//! 安全提醒: when a password or a security contact changes, the person hears of it on the
//! contacts they had before the change, so that whoever took over an account cannot
//! silence the real owner by replacing the phone or the 安全邮箱 first. Written in the
//! transaction that makes the change: no change without its notice, and no notice for a
//! change that rolled back.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;

use crate::{
    mask::{mask_email, mask_phone},
    web::AppState,
};

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
        let phone = || new.phone.as_deref().map(mask_phone).unwrap_or_default();
        let email = || new.email.as_deref().map(mask_email).unwrap_or_default();
        match self {
            Change::Password => "修改了登录密码".into(),
            Change::PasswordReset => "通过“找回密码”重置了登录密码".into(),
            Change::Phone { old: Some(_) } => format!("将安全手机更换为 {}", phone()),
            Change::Phone { old: None } => format!("绑定了安全手机 {}", phone()),
            Change::Email { old: Some(_) } => format!("将安全邮箱更换为 {}", email()),
            Change::Email { old: None } => format!("绑定了安全邮箱 {}", email()),
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
/// e-mail change, the old address; a first phone or address is told to the other
/// contact, since either one can recover the account), each where that channel is
/// configured here. These go out whatever the person chose in 个人设置: they are about
/// the account itself. The outside copies name no account (a replaced number may belong
/// to someone else by now); for password changes they go out at most once per 10
/// minutes, so switching back and forth cannot flood a phone. 消息中心 gets every one.
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
    let advice = "如非本人操作，请立即通过“找回密码”重置密码，并联系学校网络信息中心。";
    let text = format!(
        "您的账号 {} 于 {at} {}。{advice}",
        new.account,
        change.what(&new)
    );
    let outside = format!("您的账号于 {at} {}。{advice}", change.what(&new));
    // Password changes need nothing but the password, so one could switch back and forth:
    // their outside copies go out once per 10 minutes (the other changes need a code or a
    // link, which are limited already). Read before this change's own message is written.
    let recent = matches!(change, Change::Password)
        && sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE user_id = $1 AND kind = 'security'
                            AND created_at > $2 - interval '10 minutes' AND text LIKE $3)",
        )
        .bind(uid)
        .bind(now)
        .bind(format!("%{}%", Change::Password.what(&new)))
        .fetch_one(&mut *tx)
        .await?;
    // The message is the in-app delivery; the outbox holds only the outside copies.
    let key: String = sqlx::query_scalar(
        "INSERT INTO messages (idempotency_key, user_id, kind, text, link, created_at)
         VALUES ('security:' || $1 || ':' || $2 || ':' || txid_current(), $1, 'security', $3, '/security', $4)
         RETURNING idempotency_key",
    )
    .bind(uid)
    .bind(change.code())
    .bind(&text)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let portal = &state.settings.portal_name;
    let mut copies = Vec::new();
    if let (Some(p), true, false) = (phone, state.settings.sms.is_some(), recent) {
        copies.push((
            "sms",
            json!({ "phone": p, "text": format!("【{portal}】{outside}") }),
        ));
    }
    if let (Some(e), true, false) = (email, state.settings.smtp.is_some(), recent) {
        copies.push((
            "email",
            json!({
                "email": e,
                "subject": format!("【{portal}】安全提醒"),
                "text": format!("{outside}\n\n—— {portal}"),
            }),
        ));
    }
    for (channel, payload) in copies {
        sqlx::query(
            "INSERT INTO outbox (idempotency_key, channel, recipient_id, kind, payload, created_at, next_attempt_at)
             VALUES ($1, $2, $3, 'security', $4, $5, $5)",
        )
        .bind(format!("{key}:{channel}"))
        .bind(channel)
        .bind(uid)
        .bind(payload)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
