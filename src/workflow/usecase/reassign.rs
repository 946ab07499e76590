//! 转办 by an administrator: a pending task of someone who can no longer act (停用, left)
//! goes to another person. The same transition as the holder's own 转办 (`act::apply`:
//! one statement with the task, the 流转记录 naming the administrator, the notice and the
//! audit row; `task_counts` follow by trigger), only the actor is the administrator.

use sqlx::PgPool;

use super::{
    ActCtx,
    act::{Act, Outcome, apply},
    definitions,
};
use crate::{
    error::{AppError, AppResult},
    org::people,
    workflow::{
        engine::{Action, EngineError},
        store::{StoreError, load_app, open_work},
    },
};

/// Moves `holder`'s pending task `task_id` to the active person with account `to`.
#[tracing::instrument(skip_all, fields(task = task_id, holder))]
pub async fn reassign(
    db: &PgPool,
    c: &ActCtx,
    task_id: i64,
    holder: i64,
    to: &str,
    comment: &str,
) -> AppResult<Outcome> {
    let mut conn = db.acquire().await?;
    let Some((app_id, node)) = open_work::pending_task(&mut conn, task_id, holder).await? else {
        return Ok(Outcome::Refused("该待办已办理或已转走。"));
    };
    let Some(to) = people::active_by_account(db, crate::forms::picked_account(to)).await? else {
        return Ok(Outcome::Refused("找不到该账号，请输入对方的学号/工号。"));
    };
    let app = load_app(&mut conn, app_id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    let defs = definitions(db, &app).await?;
    let act = Act {
        action: Action::Transfer {
            node,
            user: holder,
            to,
        },
        comment: comment.trim().chars().take(1000).collect(),
        data: None,
        signature: None,
    };
    match apply(db, &app, &defs.1, app.version, act, c).await {
        Ok(()) => Ok(Outcome::Done("已转办。")),
        Err(StoreError::Engine(EngineError::NotAllowed(m))) => Ok(Outcome::Refused(m)),
        Err(e) => Err(e.into()),
    }
}
