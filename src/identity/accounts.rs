//! What 管理后台 changes about an account's credentials and status (identity owns both):
//! 停用 and 启用, the ID-card number's keyed hash, and 重置为初始密码. Each runs inside the
//! caller's transaction, which also writes the audit row.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::{identity::idcard, secret::SecretKey};

/// 停用: the person cannot sign in (every way in asks for `status = 'active'`) and every
/// session of theirs ends now — the session rows go, and the auth epoch moves in case a
/// session is loaded from elsewhere. False if the person was already disabled.
pub async fn disable(conn: &mut PgConnection, uid: i64, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET status = 'disabled', auth_epoch = auth_epoch + 1, updated_at = $2
         WHERE id = $1 AND status <> 'disabled'",
    )
    .bind(uid)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if done {
        end_sessions(conn, uid, now).await?;
    }
    Ok(done)
}

/// 启用: back to active, or to 未激活 for someone who never set a password. False if the
/// person was not disabled.
pub async fn enable(conn: &mut PgConnection, uid: i64, now: DateTime<Utc>) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE users SET status = CASE WHEN password_hash IS NULL THEN 'inactive' ELSE 'active' END,
                updated_at = $2
         WHERE id = $1 AND status = 'disabled'",
    )
    .bind(uid)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

async fn end_sessions(conn: &mut PgConnection, uid: i64, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM tower_sessions.session WHERE user_id = $1")
        .bind(uid)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE sign_ins SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL")
        .bind(uid)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets (or, with `None`, removes) the person's ID-card number: stored as the keyed hash,
/// the masked form and the sealed copy forms fill in, never in the clear. `Err(Taken)`
/// when another person has it.
pub async fn set_id_card(
    conn: &mut PgConnection,
    key: &SecretKey,
    uid: i64,
    number: Option<&str>,
) -> sqlx::Result<Result<(), Taken>> {
    let r = sqlx::query(
        "UPDATE users SET id_card_hash = $2, id_card_masked = $3, id_card_sealed = $4
         WHERE id = $1",
    )
    .bind(uid)
    .bind(number.map(|n| idcard::hash(key, n)))
    .bind(number.map(idcard::mask))
    .bind(number.map(|n| idcard::seal(key, n)))
    .execute(conn)
    .await;
    match r {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(Err(Taken)),
        other => other.map(|_| Ok(())),
    }
}

/// Another person already has this ID-card number.
#[derive(Debug)]
pub struct Taken;

/// Why 重置为初始密码 did nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum ResetRefused {
    /// No ID-card number on file: there is no initial password.
    NoIdCard,
    /// The number typed is not the one on file (only its keyed hash is kept, so the
    /// administrator types it from the person's papers).
    Mismatch,
    /// Not an active account: 未激活 people use 激活账号, disabled ones are 启用 first.
    NotActive,
}

/// 重置为初始密码: the last six characters of the ID-card number, to be changed at the next
/// sign-in; every session ends. `number` must match the hash on file.
pub async fn reset_to_initial(
    conn: &mut PgConnection,
    key: &SecretKey,
    uid: i64,
    number: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<(), ResetRefused>> {
    let (status, stored): (String, Option<Vec<u8>>) =
        sqlx::query_as("SELECT status, id_card_hash FROM users WHERE id = $1 FOR UPDATE")
            .bind(uid)
            .fetch_one(&mut *conn)
            .await?;
    let Some(stored) = stored else {
        return Ok(Err(ResetRefused::NoIdCard));
    };
    if status != "active" {
        return Ok(Err(ResetRefused::NotActive));
    }
    if !idcard::matches(key, number, &stored) {
        return Ok(Err(ResetRefused::Mismatch));
    }
    // An administrator's one-off: waits its turn rather than being told to retry.
    let hash = super::password::hash_patiently(idcard::initial_password(number)).await?;
    sqlx::query(
        "UPDATE users SET password_hash = $2, must_change_password = true, password_changed_at = $3,
                auth_epoch = auth_epoch + 1, updated_at = $3
         WHERE id = $1",
    )
    .bind(uid)
    .bind(hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    end_sessions(conn, uid, now).await?;
    Ok(Ok(()))
}

/// What a bulk import (`org::import`) sets of one person's credentials: the 安全手机 and
/// the ID-card number's keyed hash and masked form (`None` keeps what is there).
pub struct Imported<'a> {
    pub account: &'a str,
    pub phone: Option<&'a str>,
    pub id_card_hash: Option<Vec<u8>>,
    pub id_card_masked: Option<&'a str>,
    pub id_card_sealed: Option<Vec<u8>>,
}

/// Writes an import batch's credentials inside the caller's transaction, after the
/// profiles: `created` accounts (no password yet) become 未激活, to go through 激活账号.
/// The caller has checked that every phone is free or held by a person of this batch
/// who moves off it; those phones are cleared first, because the unique index on
/// `users.phone` is checked row by row and a swap in one UPDATE would hit it midway.
pub async fn write_imported(
    conn: &mut PgConnection,
    rows: &[Imported<'_>],
    created: &[String],
) -> sqlx::Result<()> {
    if !created.is_empty() {
        sqlx::query(
            "UPDATE users SET status = 'inactive' WHERE account = ANY($1) AND password_hash IS NULL",
        )
        .bind(created)
        .execute(&mut *conn)
        .await?;
    }
    let accounts: Vec<&str> = rows.iter().map(|r| r.account).collect();
    let phones: Vec<Option<&str>> = rows.iter().map(|r| r.phone).collect();
    let hashes: Vec<Option<Vec<u8>>> = rows.iter().map(|r| r.id_card_hash.clone()).collect();
    let masked: Vec<Option<&str>> = rows.iter().map(|r| r.id_card_masked).collect();
    let sealed: Vec<Option<Vec<u8>>> = rows.iter().map(|r| r.id_card_sealed.clone()).collect();
    sqlx::query(
        "UPDATE users u SET phone = NULL
         FROM UNNEST($1::text[], $2::text[]) AS v(a, ph)
         WHERE u.account = v.a AND v.ph IS NOT NULL AND u.phone IS DISTINCT FROM v.ph",
    )
    .bind(&accounts)
    .bind(&phones)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE users u SET phone = COALESCE(v.ph, u.phone),
                id_card_hash = COALESCE(v.h, u.id_card_hash),
                id_card_masked = COALESCE(v.m, u.id_card_masked),
                id_card_sealed = COALESCE(v.s, u.id_card_sealed)
         FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::text[], $5::bytea[])
              AS v(a, ph, h, m, s)
         WHERE u.account = v.a
           AND (v.ph IS NOT NULL AND u.phone IS DISTINCT FROM v.ph
                OR v.h IS NOT NULL AND u.id_card_hash IS DISTINCT FROM v.h
                OR v.s IS NOT NULL AND u.id_card_sealed IS NULL)",
    )
    .bind(&accounts)
    .bind(&phones)
    .bind(&hashes)
    .bind(&masked)
    .bind(&sealed)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
