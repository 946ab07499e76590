//! Errors of the JSON API as RFC 9457 problem details (`application/problem+json`).

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;

/// A problem: what went wrong, for people (`title`, `detail`) and programs (`type`,
/// `status`, and for invalid input the field `errors`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (relative to the API).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Invalid fields: each field key with its message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str) -> Self {
        Problem {
            kind: format!("/api/v1/problems/{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            errors: Vec::new(),
        }
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    pub fn unauthorized() -> Self {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "需要有效的访问令牌",
        )
    }

    pub fn forbidden(scope: &str) -> Self {
        Problem::new(
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            "访问令牌的授权范围不足",
        )
        .detail(format!("需要授权范围 {scope}"))
    }

    pub fn not_found() -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "没有找到")
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", "请求有误").detail(detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, axum::Json(&self)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match status {
            StatusCode::UNAUTHORIZED => {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"service-hall\""),
                );
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            }
            _ => {}
        }
        r
    }
}

/// The portal's errors, as problems: the same 4xx meanings; internals never shown.
impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound => Problem::not_found(),
            AppError::Forbidden(m) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "没有权限").detail(m)
            }
            AppError::BadRequest(m) => Problem::bad_request(m),
            AppError::Conflict(m) => {
                Problem::new(StatusCode::CONFLICT, "conflict", "该事项已被处理").detail(m)
            }
            AppError::PayloadTooLarge(m) => {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", "请求过大").detail(m)
            }
            AppError::TooManyRequests => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "请求过于频繁",
            ),
            AppError::NotAvailable(m) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "暂时无法提供",
            )
            .detail(m),
            AppError::Busy | AppError::Unavailable { .. } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "系统繁忙，请稍后再试",
            ),
            other => {
                tracing::error!(error = %other, "API request failed");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "服务器内部错误",
                )
            }
        }
    }
}

impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Self {
        Problem::from(AppError::from(e))
    }
}

pub type ApiResult<T> = Result<T, Problem>;

/// Input the extractors refused (malformed JSON, a wrong query or path): problems too.
macro_rules! rejection {
    ($t:ty) => {
        impl From<$t> for Problem {
            fn from(r: $t) -> Self {
                let status = r.status();
                Problem::new(status, "bad-request", "请求有误").detail(r.body_text())
            }
        }
    };
}
rejection!(axum::extract::rejection::JsonRejection);
rejection!(axum::extract::rejection::QueryRejection);
rejection!(axum::extract::rejection::PathRejection);

/// `axum::Json`, refusing with a problem document.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct Json<T>(pub T);

/// `axum::extract::Query`, refusing with a problem document.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct Query<T>(pub T);

/// `axum::extract::Path`, refusing with a problem document.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct Path<T>(pub T);
