//! Demo data from the `demo/` folder (idempotent) and the `create-admin` command.
//!
//! `files` reads and checks the folder; this module and `catalog` write what is missing.

mod catalog;
mod collections;
mod documents;
pub mod files;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use anyhow::{Context, bail};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use crate::{
    audit::Entry,
    identity::{idcard, password},
    secret::SecretKey,
};
use files::Password;

/// The password of the demo accounts with `password = "demo"`.
pub const DEMO_PASSWORD: &str = "Demo@2026";

pub(crate) async fn dept_id(conn: &mut PgConnection, code: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT id FROM departments WHERE code = $1")
        .bind(code)
        .fetch_one(conn)
        .await
        .with_context(|| format!("department {code}"))
}

async fn grant(
    conn: &mut PgConnection,
    user_id: i64,
    role: &str,
    dept: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO user_roles (user_id, role_id, department_id)
         SELECT $1, r.id, $3 FROM roles r WHERE r.code = $2
         ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(role)
    .bind(dept)
    .execute(conn)
    .await?;
    Ok(())
}

/// The demo folder, checked against the roles the database has.
async fn load_demo(db: &PgPool) -> anyhow::Result<files::Demo> {
    let roles: BTreeSet<String> = sqlx::query_scalar("SELECT code FROM roles")
        .fetch_all(db)
        .await?
        .into_iter()
        .collect();
    files::load(Some(&roles)).map_err(|e| anyhow::anyhow!("the demo data is malformed:\n{e}"))
}

/// Insert the demo data that is missing; never changes existing rows.
pub async fn seed_demo(db: &PgPool, key: &SecretKey) -> anyhow::Result<()> {
    let demo = load_demo(db).await?;
    // Hash outside the transaction (slow, CPU-bound).
    let mut hashes = Vec::new();
    for u in &demo.people {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE account = $1)")
                .bind(&u.account)
                .fetch_one(db)
                .await?;
        // Outer None: exists already; inner None: no password (not activated).
        hashes.push(if exists {
            None
        } else {
            match (u.password, &u.id_card) {
                (Password::Demo, _) => Some(Some(password::hash(DEMO_PASSWORD.to_owned()).await?)),
                (Password::Initial, Some(c)) => {
                    Some(Some(password::hash(idcard::initial_password(c)).await?))
                }
                (Password::None, _) => Some(None),
                (Password::Initial, None) => unreachable!("checked by files::load"),
            }
        });
    }

    let mut tx = db.begin().await?;
    // One seeder at a time (several instances may start together).
    sqlx::query("SELECT pg_advisory_xact_lock(7201)")
        .execute(&mut *tx)
        .await?;
    for d in &demo.departments {
        let parent_id = match &d.parent {
            Some(p) => Some(dept_id(&mut tx, p).await?),
            None => None,
        };
        sqlx::query(
            "INSERT INTO departments (code, parent_id, name, kind, sort_order)
             VALUES ($1, $2, $3, $4, (SELECT count(*) FROM departments))
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(&d.code)
        .bind(parent_id)
        .bind(&d.name)
        .bind(d.kind.as_str())
        .execute(&mut *tx)
        .await?;
    }
    for (u, hash) in demo.people.iter().zip(hashes) {
        let Some(hash) = hash else { continue };
        let dept = dept_id(&mut tx, &u.department).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (account, name, user_type, department_id, gender, title, phone, email,
                                id_card_hash, id_card_masked, status, password_hash, must_change_password,
                                activated_at, id_card_sealed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                     CASE WHEN $11::text IS NULL THEN 'inactive' ELSE 'active' END, $11,
                     $12 AND $11::text IS NOT NULL,
                     CASE WHEN $11::text IS NULL THEN NULL ELSE now() END, $13)
             ON CONFLICT (account) DO NOTHING RETURNING id",
        )
        .bind(&u.account)
        .bind(&u.name)
        .bind(u.user_type.as_str())
        .bind(dept)
        .bind(u.gender.map(|g| g.as_str()))
        .bind(&u.title)
        .bind(&u.phone)
        .bind(&u.email)
        .bind(u.id_card.as_deref().map(|c| idcard::hash(key, c)))
        .bind(u.id_card.as_deref().map(idcard::mask))
        .bind(&hash)
        .bind(u.password != Password::Demo)
        .bind(u.id_card.as_deref().map(|c| idcard::seal(key, c)))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { continue };
        for g in &u.roles {
            let scope_id = match &g.department {
                Some(c) => Some(dept_id(&mut tx, c).await?),
                None => None,
            };
            grant(&mut tx, id, &g.role, scope_id).await?;
        }
    }
    catalog::seed_catalog(&mut tx, &demo).await?;
    catalog::seed_flows(&mut tx, &demo).await?;
    catalog::seed_bundles(&mut tx, &demo).await?;
    catalog::seed_calendar(&mut tx, &demo, chrono::Utc::now()).await?;
    documents::seed_documents(&mut tx).await?;
    collections::seed_collections(&mut tx, chrono::Utc::now()).await?;
    sqlx::query(
        "INSERT INTO app_meta (key, value) VALUES ('demo_data', 'present')
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The demo accounts and how to sign in with each, one line per account (for `seed-demo`).
pub fn demo_account_lines() -> Vec<String> {
    let Ok(demo) = files::load(None) else {
        return Vec::new();
    };
    demo.people
        .iter()
        .map(|u| match (u.password, &u.id_card) {
            (Password::Demo, _) => format!("{:<10} {}", u.account, u.name),
            (Password::Initial, Some(c)) => format!(
                "{:<10} {} (imported, no password: initial password {}, must change it)",
                u.account,
                u.name,
                idcard::initial_password(c)
            ),
            _ => format!(
                "{:<10} {} (not activated: 激活账号 first)",
                u.account, u.name
            ),
        })
        .collect()
}

/// True when the database has no people yet (a fresh install).
pub async fn is_empty(db: &PgPool) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM users)")
        .fetch_one(db)
        .await
}

/// Create a 系统管理员, or make an existing account one and set its password.
pub async fn create_admin(db: &PgPool, account: &str, name: &str, pw: &str) -> anyhow::Result<()> {
    let account = account.trim();
    if account.is_empty() || name.trim().is_empty() {
        bail!("account and name must not be empty");
    }
    let problems = password::policy_violations(pw, account);
    if !problems.is_empty() {
        bail!("password rejected: {}", problems.join("; "));
    }
    let hash = password::hash(pw.to_owned()).await?;
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (account, name, user_type, status, password_hash)
         VALUES ($1, $2, 'staff', 'active', $3)
         ON CONFLICT (account) DO UPDATE SET password_hash = EXCLUDED.password_hash,
             status = 'active', must_change_password = false, updated_at = now(),
             auth_epoch = users.auth_epoch + 1
         RETURNING id",
    )
    .bind(account)
    .bind(name.trim())
    .bind(hash)
    .fetch_one(&mut *tx)
    .await?;
    grant(&mut tx, id, "system_admin", None).await?;
    Entry::user(id, "admin.create")
        .by(None)
        .detail(json!({ "via": "cli" }))
        .record(&mut *tx, chrono::Utc::now())
        .await?;
    tx.commit().await?;
    Ok(())
}
