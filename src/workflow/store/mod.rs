//! Every SQL statement on workflow's tables (applications, tasks, 流转记录, attachments,
//! urges, serial counters), with named row types. Reads of other features' tables go
//! through their modules; the transition statement is the one exception (see
//! `transition`): it writes the outbox, messages and audit rows of the transition in the
//! same statement, so nothing is ever half-applied.

pub mod attachments;
pub mod definitions;
pub mod drafts;
pub mod open_work;
pub mod records;
pub mod resolve;
pub mod serial;
pub mod transition;
pub mod versions;

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, postgres::PgTypeInfo};

use super::engine::{self, EngineError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("该事项已被处理")]
    Stale,
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// An application's status (`applications.status`, a text column with a CHECK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStatus {
    Draft,
    Running,
    Returned,
    Completed,
    Terminated,
    Withdrawn,
}

impl AppStatus {
    pub fn code(self) -> &'static str {
        match self {
            AppStatus::Draft => "draft",
            AppStatus::Running => "running",
            AppStatus::Returned => "returned",
            AppStatus::Completed => "completed",
            AppStatus::Terminated => "terminated",
            AppStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AppStatus::Draft => "草稿",
            AppStatus::Running => "进行中",
            AppStatus::Returned => "已退回",
            AppStatus::Completed => "已办结",
            AppStatus::Terminated => "已中止",
            AppStatus::Withdrawn => "已撤回",
        }
    }

    /// The applicant may still change it (a draft, or returned for changes).
    pub fn editable(self) -> bool {
        matches!(self, AppStatus::Draft | AppStatus::Returned)
    }
}

impl From<engine::Status> for AppStatus {
    fn from(s: engine::Status) -> Self {
        match s {
            engine::Status::Running => AppStatus::Running,
            engine::Status::Returned => AppStatus::Returned,
            engine::Status::Completed => AppStatus::Completed,
            engine::Status::Terminated => AppStatus::Terminated,
            engine::Status::Withdrawn => AppStatus::Withdrawn,
        }
    }
}

impl FromStr for AppStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "draft" => AppStatus::Draft,
            "running" => AppStatus::Running,
            "returned" => AppStatus::Returned,
            "completed" => AppStatus::Completed,
            "terminated" => AppStatus::Terminated,
            "withdrawn" => AppStatus::Withdrawn,
            other => return Err(format!("unknown application status {other:?}")),
        })
    }
}

// Stored as text (the column predates the type), so the impls delegate to `&str` rather
// than derive, which would name a PostgreSQL enum type.
impl sqlx::Type<Postgres> for AppStatus {
    fn type_info() -> PgTypeInfo {
        <&str as sqlx::Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as sqlx::Type<Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for AppStatus {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(<&str as sqlx::Decode<Postgres>>::decode(value)?.parse()?)
    }
}

impl sqlx::Encode<'_, Postgres> for AppStatus {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<Postgres>>::encode_by_ref(&self.code(), buf)
    }
}

/// The label of a status code as stored (lists that read the column as text).
pub fn status_label(status: &str) -> &'static str {
    status.parse::<AppStatus>().map_or("未知", AppStatus::label)
}

/// The label of a 流转记录's action code.
pub fn action_label(action: &str) -> &'static str {
    match action {
        "submit" => "提交",
        "resubmit" => "重新提交",
        "approve" => "通过",
        "return" => "退回",
        "terminate" => "中止",
        "transfer" => "转办",
        "add_signer" => "加签",
        "withdraw" => "撤回",
        "cc" => "抄送",
        "skip" => "跳过",
        "complete" => "办结",
        "urge" => "催办",
        "rate" => "评价",
        _ => "操作",
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppRow {
    pub id: i64,
    pub service_id: i64,
    pub applicant_id: i64,
    pub form_def_id: i64,
    pub workflow_def_id: i64,
    pub serial_no: Option<String>,
    pub title: String,
    pub status: AppStatus,
    pub data: Value,
    pub submitted_data: Option<Value>,
    pub changed_fields: Vec<String>,
    pub state: Option<Value>,
    pub version: i32,
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl AppRow {
    /// The engine's state (none for a draft).
    pub fn engine_state(&self) -> Option<engine::State> {
        self.state
            .clone()
            .and_then(|s| serde_json::from_value(s).ok())
    }

    /// The form data as a map.
    pub fn data_map(&self) -> serde_json::Map<String, Value> {
        self.data.as_object().cloned().unwrap_or_default()
    }
}

pub const APP_COLUMNS: &str = "id, service_id, applicant_id, form_def_id, workflow_def_id, serial_no, title, status,
    data, submitted_data, changed_fields, state, version, rating, rating_comment, created_at, updated_at,
    submitted_at, finished_at";

pub async fn load_app(conn: &mut PgConnection, id: i64) -> sqlx::Result<Option<AppRow>> {
    sqlx::query_as(&format!(
        "SELECT {APP_COLUMNS} FROM applications WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

#[derive(sqlx::FromRow)]
struct Visible {
    #[sqlx(flatten)]
    app: AppRow,
    visible: bool,
}

/// The application if `user` may see it, in one query: the applicant; once submitted,
/// anyone who has or had a task on it (CC included) and the service's admins.
pub async fn load_visible(
    conn: &mut PgConnection,
    id: i64,
    user: i64,
) -> sqlx::Result<Option<AppRow>> {
    let row: Option<Visible> = sqlx::query_as(&format!(
        "SELECT {APP_COLUMNS},
                (applicant_id = $2
                 OR (status <> 'draft'
                     AND (EXISTS (SELECT 1 FROM tasks t WHERE t.application_id = a.id AND t.assignee_id = $2)
                          OR EXISTS (SELECT 1 FROM service_admins sa
                                     WHERE sa.service_id = a.service_id AND sa.user_id = $2)))) AS visible
         FROM applications a WHERE id = $1"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(conn)
    .await?;
    Ok(row.filter(|r| r.visible).map(|r| r.app))
}

/// Whether `user` administers the service, and the nodes where they have or had a task
/// on the application.
pub async fn reader_nodes(
    conn: &mut PgConnection,
    app: &AppRow,
    user: i64,
) -> sqlx::Result<(bool, Vec<String>)> {
    sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM service_admins WHERE service_id = $2 AND user_id = $3),
                ARRAY(SELECT DISTINCT node_id FROM tasks WHERE application_id = $1 AND assignee_id = $3)",
    )
    .bind(app.id)
    .bind(app.service_id)
    .bind(user)
    .fetch_one(conn)
    .await
}
