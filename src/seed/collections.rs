//! The demo's 填报任务 (`demo/collections.toml`): created and published when seeding, so
//! the 填报任务 tab of the demo students has something to fill and 填报情况 shows counts.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use sqlx::PgConnection;

use crate::{
    collect::{store, target::Target},
    forms::FormSchema,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectionsFile {
    #[allow(dead_code)]
    format: u32,
    #[serde(default)]
    collections: Vec<Collection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Collection {
    title: String,
    #[serde(default)]
    explanation: String,
    owner: String,
    #[serde(default)]
    departments: Vec<String>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    accounts: Vec<String>,
    opens_days: i64,
    closes_days: i64,
    #[serde(default)]
    late_allowed: bool,
    #[serde(default = "yes")]
    editable: bool,
    #[serde(default)]
    needs_confirmation: bool,
    #[serde(default)]
    remind_days: Vec<i32>,
    form: toml::Value,
}

fn yes() -> bool {
    true
}

/// Adds each task of the file that is missing (by title), published at `now`.
pub async fn seed_collections(tx: &mut PgConnection, now: DateTime<Utc>) -> anyhow::Result<()> {
    let Some(text) = super::files::raw("collections.toml") else {
        return Ok(());
    };
    let file: CollectionsFile = toml::from_str(std::str::from_utf8(&text)?)
        .map_err(|e| anyhow::anyhow!("demo/collections.toml: {e}"))?;
    for c in file.collections {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM collections WHERE title = $1)")
                .bind(&c.title)
                .fetch_one(&mut *tx)
                .await?;
        if exists {
            continue;
        }
        let form: FormSchema = serde_json::from_value(serde_json::to_value(&c.form)?)
            .map_err(|e| anyhow::anyhow!("demo/collections.toml, {}: form: {e}", c.title))?;
        let problems = form.problems();
        if !problems.is_empty() {
            anyhow::bail!("demo/collections.toml, {}: form: {problems:?}", c.title);
        }
        let mut departments = Vec::new();
        for code in &c.departments {
            departments.push(super::dept_id(&mut *tx, code).await?);
        }
        let target = Target {
            departments,
            kinds: c.kinds,
            roles: c.roles,
            accounts: c.accounts,
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO collections (title, explanation, form, owner_id, target, opens_at,
                                      closes_at, late_allowed, editable, needs_confirmation,
                                      remind_days, created_at, updated_at)
             SELECT $1, $2, $3, u.id, $4, $5, $6, $7, $8, $9, $10, $11, $11
               FROM users u WHERE u.account = $12
             RETURNING id",
        )
        .bind(&c.title)
        .bind(&c.explanation)
        .bind(sqlx::types::Json(&form))
        .bind(sqlx::types::Json(&target))
        .bind(now + Duration::days(c.opens_days))
        .bind(now + Duration::days(c.closes_days))
        .bind(c.late_allowed)
        .bind(c.editable)
        .bind(c.needs_confirmation)
        .bind(&c.remind_days)
        .bind(now)
        .bind(&c.owner)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo/collections.toml: no person {}", c.owner))?;
        store::publish(&mut *tx, id, 1, now).await?;
        // Seeding is not news to anyone: the members find the task in their tab, and a new
        // portal starts with a quiet outbox (no SMS or mail about demo data).
        sqlx::query("DELETE FROM outbox WHERE idempotency_key LIKE $1")
            .bind(format!("collect-open:{id}:%"))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
