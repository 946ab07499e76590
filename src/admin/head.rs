//! The header every page of one service in 管理后台 shares: name, code, status, the
//! current version and whether a draft waits, and the tabs.

use sqlx::PgPool;

use crate::{
    catalog,
    error::{AppError, AppResult},
    workflow::store::versions,
};

pub struct ServiceHead {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub department: String,
    pub department_id: i64,
    /// draft / published / offline.
    pub status: String,
    /// online / external / guide.
    pub kind: String,
    pub current: Option<i32>,
    /// The working copy's revision, if one is saved.
    pub draft: Option<i32>,
    /// Which tab is open: service / form / workflow / versions.
    pub tab: &'static str,
}

impl ServiceHead {
    /// Call after the permission check (`Manager::service`).
    pub async fn load(db: &PgPool, id: i64, tab: &'static str) -> AppResult<ServiceHead> {
        let s = catalog::store::summary(db, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let current = versions::current_number(db, id).await?;
        let draft = versions::draft(db, id).await?.map(|d| d.revision);
        Ok(ServiceHead {
            id: s.id,
            code: s.code,
            name: s.name,
            department: s.department,
            department_id: s.department_id,
            status: s.status,
            kind: s.kind,
            current,
            draft,
            tab,
        })
    }

    pub fn status_label(&self) -> &'static str {
        status_label(&self.status)
    }

    pub fn kind_label(&self) -> &'static str {
        match self.kind.as_str() {
            "online" => "在线办理",
            "external" => "业务系统办理",
            _ => "线下办理",
        }
    }
}

pub fn status_label(status: &str) -> &'static str {
    match status {
        "published" => "已发布",
        "offline" => "已下线",
        _ => "草稿",
    }
}
