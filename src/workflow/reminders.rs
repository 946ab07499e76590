//! Reminders of overdue tasks (办理时限), and escalation to the assignee's 部门负责人.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{
    notify::{self, Notice},
    org::people,
};

#[derive(sqlx::FromRow)]
struct Overdue {
    id: i64,
    application_id: i64,
    assignee_id: i64,
    node_name: String,
    escalate: bool,
    reminders: i32,
    title: String,
    serial_no: Option<String>,
}

/// Overdue tasks: a reminder to the assignee once per time-limit period and, where the node
/// says so, a notice to the assignee's 部门负责人. Claiming and writing the outbox rows is one
/// transaction, so several instances never remind twice for one period.
#[tracing::instrument(skip_all)]
pub async fn remind_overdue(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    let due: Vec<Overdue> = sqlx::query_as(
        "UPDATE tasks t SET reminded_at = $1, reminders = t.reminders + 1
         FROM applications a
         WHERE a.id = t.application_id AND t.status = 'pending' AND t.kind = 'approve'
           AND t.due_at <= $1
           AND (t.reminded_at IS NULL OR t.reminded_at + (t.due_at - t.created_at) <= $1)
         RETURNING t.id, t.application_id, t.assignee_id, t.node_name, t.escalate, t.reminders, a.title, a.serial_no",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let n = due.len() as u64;
    for t in due {
        let serial = t.serial_no.clone().unwrap_or_default();
        let link = format!("/applications/{}", t.application_id);
        notify::enqueue(
            &mut tx,
            Notice {
                key: format!("reminder:{}:{}", t.id, t.reminders),
                recipient: t.assignee_id,
                application_id: Some(t.application_id),
                kind: "reminder",
                payload: serde_json::json!({
                    "text": format!("提醒：{}（{}）在“{}”环节已超过办理时限，请尽快处理。", t.title, serial, t.node_name),
                    "serial_no": serial,
                    "link": link,
                }),
                at: now,
            },
        )
        .await?;
        if t.escalate {
            let heads = people::heads_of(&mut tx, t.assignee_id).await?;
            let assignee = people::name(&mut tx, t.assignee_id).await?;
            for head in heads {
                notify::enqueue(
                    &mut tx,
                    Notice {
                        key: format!("escalation:{}:{}:{}", t.id, t.reminders, head),
                        recipient: head,
                        application_id: Some(t.application_id),
                        kind: "escalation",
                        payload: serde_json::json!({
                            "text": format!("督办：{assignee} 的待办 {}（{}）在“{}”环节已超时。", t.title, serial, t.node_name),
                            "serial_no": serial,
                            "link": link,
                        }),
                        at: now,
                    },
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(n)
}
