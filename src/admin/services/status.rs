//! 发布, 下线, 重新发布, 转为草稿 and 删除 of a service. Publishing and deleting ask for the
//! password again after 15 minutes (`confirm::require`). A status change is announced to
//! every instance (`versions::announce`, in its transaction) and drops this instance's
//! facet counts at once; applications already running are not touched and go on to the end.

use std::sync::Arc;

use axum::{
    Extension, Form,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use super::edit::{NEEDS_VERSION, moves};
use crate::{
    admin::{access::Manager, confirm, head::status_label},
    audit::Entry,
    catalog::{FacetCache, store},
    error::{AppError, AppResult},
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::ClientIp,
    },
    workflow::store::versions,
};

#[derive(Deserialize)]
pub(in crate::admin) struct StatusForm {
    to: String,
    /// The status the page showed.
    #[serde(default)]
    from: String,
    #[serde(default)]
    confirm_password: Option<String>,
}

const CHANGED: &str = "服务状态已被他人修改，请查看当前状态后再操作。";

/// `POST /admin/services/{id}/status` (`to` = published | offline | draft).
#[allow(clippy::too_many_arguments)]
pub(in crate::admin) async fn status(
    State(state): State<AppState>,
    Extension(facets): Extension<Arc<FacetCache>>,
    m: Manager,
    page: Page,
    session: Session,
    flashes: Flashes,
    ip: ClientIp,
    Path(id): Path<i64>,
    Form(form): Form<StatusForm>,
) -> AppResult<Response> {
    m.service(&state.db, id).await?;
    if !["draft", "published", "offline"].contains(&form.to.as_str()) {
        return Err(AppError::BadRequest("请求有误。"));
    }
    let back = format!("/admin/services/{id}");
    let s = store::summary(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let refuse = |message: &str| -> AppResult<Response> {
        flash(&flashes, "error", message);
        Ok(Redirect::to(&back).into_response())
    };
    if !form.from.is_empty() && form.from != s.status {
        return refuse(CHANGED);
    }
    let Some(&(to, _, _)) = moves(&s.status).iter().find(|(to, _, _)| *to == form.to) else {
        return refuse(&format!(
            "“{}”状态的服务不能改为“{}”。",
            status_label(&s.status),
            status_label(&form.to)
        ));
    };
    if to == "published"
        && s.kind == "online"
        && versions::current_number(&state.db, id).await?.is_none()
    {
        return refuse(NEEDS_VERSION);
    }
    if to == "published"
        && let Some(confirm_page) = confirm::require(
            &state,
            &session,
            page,
            m.id(),
            ip,
            &format!("/admin/services/{id}/status"),
            &back,
            format!("发布服务“{}”", s.name),
            vec![("to".into(), to.into()), ("from".into(), s.status.clone())],
            form.confirm_password.as_deref(),
        )
        .await?
    {
        return Ok(confirm_page);
    }
    let mut tx = state.db.begin().await?;
    if !store::set_status(&mut tx, id, &s.status, to, state.now()).await? {
        drop(tx);
        return refuse(CHANGED);
    }
    Entry::about(format!("service:{id}"), "service.status")
        .by(Some(m.id()))
        .ip(ip.0)
        .detail(json!({ "code": s.code, "from": s.status, "to": to }))
        .record(&mut *tx, state.now())
        .await?;
    versions::announce(&mut tx, id).await?;
    tx.commit().await?;
    facets.invalidate();
    let message = match (s.status.as_str(), to) {
        (_, "offline") => format!(
            "“{}”已下线：已从服务中心、搜索和首页移除，不再受理新的申请；进行中的申请将继续办理至办结。",
            s.name
        ),
        (_, "draft") => format!("“{}”已转为草稿。", s.name),
        _ => format!("“{}”已发布，已出现在服务中心。", s.name),
    };
    flash(&flashes, "success", message);
    Ok(Redirect::to(&back).into_response())
}

#[derive(Deserialize)]
pub(in crate::admin) struct DeleteForm {
    /// The box 我已确认 ("yes").
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    confirm_password: Option<String>,
}

const IN_USE: &str = "该服务已有申请记录，不能删除（申请须保留可查）。如不再办理，请将其下线。";

/// `POST /admin/services/{id}/delete`: only a service nobody ever applied for; its working
/// copy, versions, definitions, favorites and 服务管理员 go with it, in one transaction.
#[allow(clippy::too_many_arguments)]
pub(in crate::admin) async fn delete(
    State(state): State<AppState>,
    Extension(facets): Extension<Arc<FacetCache>>,
    m: Manager,
    page: Page,
    session: Session,
    flashes: Flashes,
    ip: ClientIp,
    Path(id): Path<i64>,
    Form(form): Form<DeleteForm>,
) -> AppResult<Response> {
    m.service(&state.db, id).await?;
    let back = format!("/admin/services/{id}");
    let s = store::summary(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if form.confirm != "yes" {
        flash(&flashes, "error", "请先勾选“确认删除该服务”。");
        return Ok(Redirect::to(&back).into_response());
    }
    if versions::has_applications(&state.db, id).await? {
        flash(&flashes, "error", IN_USE);
        return Ok(Redirect::to(&back).into_response());
    }
    if let Some(confirm_page) = confirm::require(
        &state,
        &session,
        page,
        m.id(),
        ip,
        &format!("/admin/services/{id}/delete"),
        &back,
        format!("删除服务“{}”（不可恢复）", s.name),
        vec![("confirm".into(), "yes".into())],
        form.confirm_password.as_deref(),
    )
    .await?
    {
        return Ok(confirm_page);
    }
    let mut tx = state.db.begin().await?;
    store::lock(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    // Applications name their service without a foreign key (migration 0017: its check
    // locked the service's row on every 提交). This lock waits for the submissions in
    // flight, so the check below sees them, and holds off new ones until the delete
    // commits: a moment's pause for everyone, on a rare administrator's action.
    sqlx::query("LOCK TABLE applications IN SHARE MODE")
        .execute(&mut *tx)
        .await?;
    if versions::has_applications(&mut *tx, id).await? {
        drop(tx);
        flash(&flashes, "error", IN_USE);
        return Ok(Redirect::to(&back).into_response());
    }
    versions::delete_service(&mut tx, id).await?;
    store::delete_service(&mut tx, id).await?;
    Entry::about(format!("service:{id}"), "service.delete")
        .by(Some(m.id()))
        .ip(ip.0)
        .detail(json!({ "code": s.code, "name": s.name, "status": s.status }))
        .record(&mut *tx, state.now())
        .await?;
    versions::announce(&mut tx, id).await?;
    tx.commit().await?;
    facets.invalidate();
    flash(&flashes, "success", format!("已删除服务“{}”。", s.name));
    Ok(Redirect::to("/admin/services").into_response())
}
