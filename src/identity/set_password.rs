//! Setting a new password, the one way all flows do it (激活账号, 找回密码, 修改密码): hash it
//! on the blocking pool, then in one transaction write it, clear 须修改初始密码, move the auth
//! epoch (sessions signed in before end), end the sign-ins that go with them, audit, and
//! queue the 安全提醒. What each flow does with its own session stays with the flow.

use std::net::IpAddr;

use serde_json::json;

use crate::{
    audit::Entry,
    error::AppResult,
    identity::{alerts, lockout, password},
    mask::mask_phone,
    web::AppState,
};

/// Why the password is set: what else changes with it.
#[derive(Clone, Copy)]
pub enum Why<'a> {
    /// 激活账号: the waiting account becomes active with its verified 安全手机.
    Activate { phone: &'a str },
    /// 找回密码: every sign-in ends and lockouts lift.
    Recover,
    /// 修改密码, signed in: this device (`device`) moves to the new epoch, the others end.
    /// `forced`: replacing an issued initial password, the first sign-in's chore, not news.
    Change {
        device: Option<&'a str>,
        forced: bool,
    },
}

/// Why 激活账号 could not set the password; nothing changed. (The other ways always can.)
#[derive(Debug)]
pub enum Refused {
    /// The number was bound by someone else meanwhile.
    PhoneTaken,
    /// The account is not waiting for activation any more (another tab).
    NotInactive,
}

/// Sets `password` (already checked against the policy) as `uid`'s: the person's new auth
/// epoch.
pub async fn set_password(
    state: &AppState,
    uid: i64,
    password: String,
    why: Why<'_>,
    ip: Option<IpAddr>,
) -> AppResult<Result<i32, Refused>> {
    let hash = password::hash(password).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    // A new epoch: every session signed in before ends (the one `Change` keeps moves along).
    let epoch: Option<i32> = match why {
        Why::Activate { phone } => {
            let epoch = sqlx::query_scalar(
                "UPDATE users SET status = 'active', activated_at = $3, phone = $4, password_hash = $2,
                        must_change_password = false, password_changed_at = $3, auth_epoch = auth_epoch + 1,
                        updated_at = $3
                 WHERE id = $1 AND status = 'inactive' RETURNING auth_epoch",
            )
            .bind(uid)
            .bind(&hash)
            .bind(now)
            .bind(phone)
            .fetch_optional(&mut *tx)
            .await;
            match epoch {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Ok(Err(Refused::PhoneTaken));
                }
                other => other?,
            }
        }
        Why::Recover | Why::Change { .. } => Some(
            sqlx::query_scalar(
                "UPDATE users SET password_hash = $2, must_change_password = false,
                        password_changed_at = $3, updated_at = $3, auth_epoch = auth_epoch + 1
                 WHERE id = $1 RETURNING auth_epoch",
            )
            .bind(uid)
            .bind(&hash)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?,
        ),
    };
    let Some(epoch) = epoch else {
        return Ok(Err(Refused::NotInactive));
    };
    let entry = match why {
        Why::Activate { phone } => {
            Entry::user(uid, "account.activate").detail(json!({ "phone": mask_phone(phone) }))
        }
        Why::Recover => {
            sqlx::query(
                "UPDATE sign_ins SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL",
            )
            .bind(uid)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            lockout::clear(&mut tx, &lockout::subject(uid)).await?;
            Entry::user(uid, "password.recover").detail(json!({ "step": "reset" }))
        }
        Why::Change { device, .. } => {
            sqlx::query(
                "UPDATE sign_ins SET ended_at = CASE WHEN device IS NOT DISTINCT FROM $3 THEN NULL ELSE $4 END,
                        auth_epoch = CASE WHEN device IS NOT DISTINCT FROM $3 THEN $2 ELSE auth_epoch END
                 WHERE user_id = $1 AND ended_at IS NULL",
            )
            .bind(uid)
            .bind(epoch)
            .bind(device)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Entry::user(uid, "password.change")
        }
    };
    entry.ip(ip).record(&mut *tx, now).await?;
    let alert = match why {
        Why::Activate { .. } | Why::Change { forced: true, .. } => None,
        Why::Recover => Some(alerts::Change::PasswordReset),
        Why::Change { forced: false, .. } => Some(alerts::Change::Password),
    };
    if let Some(change) = alert {
        alerts::queue(&mut tx, state, uid, change, now).await?;
    }
    tx.commit().await?;
    Ok(Ok(epoch))
}
