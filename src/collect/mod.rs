//! 填报任务: a 服务管理员 or 系统管理员 collects data from a group with a form made in
//! the form designer — each person fills it once (drafts allowed) within a window, the
//! owner follows completion, urges, confirms through 部门负责人, and exports.
//!
//! - `store.rs` — the tables (migration 0026).
//! - `target.rs` — who is in the group.
//! - `manage.rs` — the owner's pages under `/admin/collections` (list, settings, publish).
//! - `fill.rs` — the 填报任务 tab of 个人中心 and the fill page `/collect/{id}`.
//! - `files.rs` — files of responses: stored with the form, downloads, the ZIP.
//! - `progress.rs` — completion, 催办, the responses table, confirmation, export.
//! - `cells.rs` — a response as table cells (sub-tables spread into columns).
//! - `reminders.rs` — reminders before the close (the background job).

pub mod cells;
pub mod files;
pub mod fill;
pub mod manage;
mod members;
pub mod progress;
pub mod reminders;
pub mod store;
pub mod target;

use axum::Router;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{
    error::{AppError, AppResult},
    web::{AppState, user::CurrentUser},
};

pub use store::TaskRow;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(manage::routes())
        .merge(fill::routes())
        .merge(progress::routes())
        .route("/collect/files/{id}", axum::routing::get(files::download))
        .route(
            "/collect/{id}/members/refresh",
            axum::routing::post(members::refresh),
        )
}

/// May `user` create 填报任务: a 系统管理员 or a 服务管理员.
pub fn may_create(user: &CurrentUser) -> bool {
    user.is_admin || user.manages_services
}

/// The task `id` if `user` owns it or is a 系统管理员; anyone else gets 404.
pub async fn owned_task(db: &PgPool, user: &CurrentUser, id: i64) -> AppResult<TaskRow> {
    match store::task(db, id).await? {
        Some(t) if t.owner_id == user.id || user.is_admin => Ok(t),
        _ => Err(AppError::NotFound),
    }
}

/// Where a person's filling stands, as the lists show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 未填 (perhaps with a draft).
    Pending,
    /// 已填.
    Filled,
    /// 已确认 by a 部门负责人.
    Confirmed,
    /// 逾期: not filled by the close.
    Overdue,
}

impl Status {
    pub fn of(state: &str, closes_at: DateTime<Utc>, now: DateTime<Utc>) -> Status {
        match state {
            "submitted" => Status::Filled,
            "confirmed" => Status::Confirmed,
            _ if now >= closes_at => Status::Overdue,
            _ => Status::Pending,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Pending => "未填",
            Status::Filled => "已填",
            Status::Confirmed => "已确认",
            Status::Overdue => "逾期",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Filled => "filled",
            Status::Confirmed => "confirmed",
            Status::Overdue => "overdue",
        }
    }
}
