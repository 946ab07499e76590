//! One error type for every handler. Responses carry only a status and an
//! [`ErrorPage`] marker; `web::errors::render_error_pages` turns them into styled pages
//! (it has the state and the session the page needs). Internals are logged, never shown.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden(&'static str),
    #[error("too many requests")]
    TooManyRequests,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// Someone else changed the record first (optimistic lock): nothing was applied.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
    /// A body past a size limit (413); the message says the limit.
    #[error("payload too large: {0}")]
    PayloadTooLarge(&'static str),
    /// Too much CPU-heavy work at once (password hashing): nothing was done; 503 with
    /// `Retry-After`.
    #[error("busy")]
    Busy,
    /// Something this installation lacks (the CJK font documents are set in): 503 with
    /// the message; what the operator must do is logged where it is raised.
    #[error("not available: {0}")]
    NotAvailable(&'static str),
    /// The database cannot be reached now (restarting, down, or no free connection):
    /// 503 系统繁忙 with `Retry-After`.
    /// `broken`: a broken connection (worth one immediate retry), not a timeout.
    #[error("database unavailable: {detail}")]
    Unavailable { detail: String, broken: bool },
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if crate::db::health::is_unavailable(&e) {
            unavailable(&e)
        } else {
            AppError::Internal(e.into())
        }
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        // The session store marks an unreachable database (`UNAVAILABLE_TAG`).
        let text = e.to_string();
        if text.contains(UNAVAILABLE_TAG) {
            AppError::Unavailable {
                detail: text,
                broken: false,
            }
        } else {
            AppError::Internal(anyhow::anyhow!("session store: {e}"))
        }
    }
}

/// Put by the session store in front of a backend error that is the database being
/// unreachable (its errors are strings).
pub const UNAVAILABLE_TAG: &str = "[database unavailable] ";

fn unavailable(e: &sqlx::Error) -> AppError {
    let broken = crate::db::health::is_broken_connection(e);
    if broken {
        crate::db::health::note_lost();
    }
    AppError::Unavailable {
        detail: e.to_string(),
        broken,
    }
}

/// Marker on a 503 answered because the database was unreachable; `broken`: a broken
/// connection (a GET may be tried again at once), not a timeout.
#[derive(Clone, Copy, Debug)]
pub struct DbUnavailable {
    pub broken: bool,
}

/// Seconds a client is asked to wait while the database is unreachable.
pub const RETRY_AFTER_SECS: u32 = 5;

/// `Retry-After` of a [`AppError::Busy`] answer: a password hash takes well under a second,
/// so a short wait usually finds a free slot.
pub const BUSY_RETRY_AFTER_SECONDS: u64 = 2;

pub type AppResult<T> = Result<T, AppError>;

/// Marker put on error responses; the message is safe to show.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub message: &'static str,
}

impl ErrorPage {
    pub fn response(status: StatusCode, message: &'static str) -> Response {
        let mut res = status.into_response();
        res.extensions_mut().insert(ErrorPage { message });
        res
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::NotFound => ErrorPage::response(
                StatusCode::NOT_FOUND,
                "您访问的页面不存在，或您没有查看它的权限。",
            ),
            AppError::Forbidden(msg) => ErrorPage::response(StatusCode::FORBIDDEN, msg),
            AppError::TooManyRequests => {
                ErrorPage::response(StatusCode::TOO_MANY_REQUESTS, "操作过于频繁，请稍后再试。")
            }
            AppError::BadRequest(msg) => ErrorPage::response(StatusCode::BAD_REQUEST, msg),
            AppError::Conflict(msg) => ErrorPage::response(StatusCode::CONFLICT, msg),
            AppError::Unavailable { detail, broken } => unavailable_response(&detail, broken),
            AppError::Internal(e) if crate::db::health::unavailable_in(&e).is_some() => {
                let broken = crate::db::health::unavailable_in(&e)
                    .is_some_and(crate::db::health::is_broken_connection);
                if broken {
                    crate::db::health::note_lost();
                }
                unavailable_response(&format!("{e:#}"), broken)
            }
            AppError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                ErrorPage::response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "服务器开小差了，请稍后再试。问题已记录。",
                )
            }
            AppError::PayloadTooLarge(msg) => {
                ErrorPage::response(StatusCode::PAYLOAD_TOO_LARGE, msg)
            }
            AppError::NotAvailable(msg) => {
                ErrorPage::response(StatusCode::SERVICE_UNAVAILABLE, msg)
            }
            AppError::Busy => {
                let mut res =
                    ErrorPage::response(StatusCode::SERVICE_UNAVAILABLE, "系统繁忙，请稍后再试。");
                res.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    BUSY_RETRY_AFTER_SECONDS.into(),
                );
                res
            }
        }
    }
}

/// What a person meeting an unreachable database reads: wait, and look before sending
/// again (what they sent may have been stored before the connection broke).
pub const UNAVAILABLE_MESSAGE: &str = "系统繁忙，请稍等几秒后重试。如果刚才提交过申请或办理过审批，请先到个人中心查看是否已经完成，不要重复提交。";

fn unavailable_response(detail: &str, broken: bool) -> Response {
    tracing::warn!(error = detail, "database unavailable");
    let mut res = ErrorPage::response(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE);
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(RETRY_AFTER_SECS),
    );
    res.extensions_mut().insert(DbUnavailable { broken });
    res
}
