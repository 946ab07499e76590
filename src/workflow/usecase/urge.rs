//! What the applicant does beside the flow: 催办 (nudge the people at a node) and 评价
//! (rate a completed application). Records and notices, no transition.

use chrono::Duration;
use serde_json::json;
use sqlx::PgPool;

use super::ActCtx;
use crate::{
    audit::{self, Entry, Outcome as AuditOutcome},
    workflow::{
        engine::EngineError,
        store::{
            self, AppStatus, StoreError,
            records::{insert_flow, insert_notice},
        },
    },
};

/// 催办: the applicant nudges the people at a node; once per node per 12 hours.
#[tracing::instrument(skip_all, fields(app = app_id))]
pub async fn urge(db: &PgPool, app_id: i64, node: &str, c: &ActCtx) -> Result<usize, StoreError> {
    let mut tx = db.begin().await?;
    let app = store::load_app(&mut tx, app_id)
        .await?
        .ok_or(StoreError::Stale)?;
    if app.applicant_id != c.actor || app.status != AppStatus::Running {
        return Err(StoreError::Engine(EngineError::NotAllowed(
            "只有进行中的申请可以催办",
        )));
    }
    // Serialise urges of one application so two clicks cannot both pass the check.
    store::records::lock_app(&mut tx, app.id).await?;
    let last = store::records::last_urge(&mut tx, app.id, node).await?;
    if last.is_some_and(|t| c.now - t < Duration::hours(12)) {
        return Err(StoreError::Engine(EngineError::NotAllowed(
            "该环节 12 小时内已催办过，请稍后再试",
        )));
    }
    let assignees = store::records::pending_at(&mut tx, app.id, node).await?;
    if assignees.is_empty() {
        return Err(StoreError::Engine(EngineError::NotAllowed(
            "该环节没有待办人",
        )));
    }
    store::records::insert_urge(&mut tx, app.id, node, c.now).await?;
    for a in &assignees {
        let (u, name) = (&a.assignee_id, &a.node_name);
        insert_notice(
            &mut tx,
            format!("urge:{}:{}:{}:{}", app.id, node, u, c.now.timestamp()),
            *u,
            &app,
            "urge",
            format!(
                "申请人催办：{}（{}），环节：{}",
                app.title,
                app.serial_no.as_deref().unwrap_or(""),
                name
            ),
            c.now,
        )
        .await?;
    }
    let name = assignees[0].node_name.clone();
    insert_flow(
        &mut tx,
        app.id,
        node,
        &name,
        Some(c.actor),
        "urge",
        "",
        json!({}),
        c.now,
    )
    .await?;
    audit::record(
        &mut tx,
        Entry {
            at: c.now,
            actor_id: Some(c.actor),
            action: "application.urge",
            target: &format!("application:{}", app.id),
            ip: c.ip,
            outcome: AuditOutcome::Success,
            details: json!({ "node": node }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(assignees.len())
}

/// 评价: the applicant rates a completed application, once.
#[tracing::instrument(skip_all, fields(app = app_id))]
pub async fn rate(
    db: &PgPool,
    app_id: i64,
    stars: i16,
    comment: &str,
    c: &ActCtx,
) -> Result<(), StoreError> {
    if !(1..=5).contains(&stars) {
        return Err(StoreError::Engine(EngineError::NotAllowed("请选择 1–5 星")));
    }
    let mut tx = db.begin().await?;
    if !store::records::set_rating(&mut tx, app_id, c.actor, stars, comment, c.now).await? {
        return Err(StoreError::Engine(EngineError::NotAllowed(
            "已办结的申请才能评价，且只能评价一次",
        )));
    }
    insert_flow(
        &mut tx,
        app_id,
        "end",
        "评价",
        Some(c.actor),
        "rate",
        comment,
        json!({ "stars": stars }),
        c.now,
    )
    .await?;
    audit::record(
        &mut tx,
        Entry {
            at: c.now,
            actor_id: Some(c.actor),
            action: "application.rate",
            target: &format!("application:{app_id}"),
            ip: c.ip,
            outcome: AuditOutcome::Success,
            details: json!({ "stars": stars }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
