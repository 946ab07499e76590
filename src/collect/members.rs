//! 更新名单 on 填报情况: the group of a published task resolved again while it is open, so
//! people who joined a department, got a role or came with a new account since 发布 are
//! added and told; nobody is removed.

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use serde_json::json;

use super::{progress::viewer, store};
use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    web::{
        AppState,
        page::{Flashes, flash},
        user::{ClientIp, CurrentUser},
    },
};

/// `POST /collect/{id}/members/refresh`: the owner or 系统管理员, before the close.
pub async fn refresh(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let t = store::task(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if t.published_at.is_none() || !viewer(&state.db, &user, &t).await?.manages {
        return Err(AppError::NotFound);
    }
    let back = Redirect::to(&format!("/collect/{id}/responses")).into_response();
    let now = state.now();
    if now >= t.closes_at {
        flash(&flashes, "error", "填报已截止，名单不再更新。");
        return Ok(back);
    }
    let mut tx = state.db.begin().await?;
    let added = store::refresh_members(&mut tx, id, &t.title, now).await?;
    Entry::about(format!("collection:{id}"), "collection.members.refresh")
        .by(Some(user.id))
        .ip(ip)
        .detail(json!({ "added": added.len() }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    if added.is_empty() {
        flash(
            &flashes,
            "info",
            "名单已是最新：没有新符合填报对象条件的人员。",
        );
    } else {
        flash(
            &flashes,
            "success",
            format!(
                "已更新名单：新增 {} 人，并已通知他们填报。原有人员不变。",
                added.len()
            ),
        );
    }
    Ok(back)
}
