//! The signed-in person as every page sees them, and the extractors handlers use:
//! `CurrentUser` (required sign-in), `MaybeUser`, `AdminUser`, `ClientIp`. Identity's
//! session layer puts the person into the request; this kernel module only reads it, so
//! features depend on it without depending on identity.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};

use crate::{error::AppError, web::AppState};

/// The session key of the CSRF token (`middleware::csrf` checks it; sign-in cycles it).
pub const CSRF: &str = "csrf";

#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: i64,
    pub account: String,
    pub name: String,
    pub user_type: String,
    pub department: Option<String>,
    pub is_admin: bool,
    /// A 服务管理员: holds the `service_admin` role or administers a service
    /// (`service_admins`); 管理后台 opens its 服务管理 for them.
    pub manages_services: bool,
    pub must_change_password: bool,
    /// Open tasks (我待办的), for the badge in the header.
    pub pending: i64,
    /// Unread in-app messages (消息中心), counted up to 100.
    pub unread_messages: i64,
    /// 抄送给我 not yet read, and drafts: the 个人中心 tab counts.
    pub cc_unread: i64,
    pub drafts: i64,
    /// Has a 安全手机 (without one, 信息完善 comes first).
    pub has_phone: bool,
}

impl CurrentUser {
    pub fn user_type_label(&self) -> &'static str {
        user_type_label(&self.user_type)
    }

    /// Sees 管理后台 in the header: a 系统管理员 or a 服务管理员.
    pub fn may_enter_admin(&self) -> bool {
        self.is_admin || self.manages_services
    }

    /// The unread-messages badge: the number, or 99+ (the count stops at 100).
    pub fn unread_label(&self) -> String {
        badge_label(self.unread_messages)
    }
}

pub fn badge_label(n: i64) -> String {
    if n > 99 {
        "99+".to_owned()
    } else {
        n.to_string()
    }
}

pub fn user_type_label(t: &str) -> &'static str {
    match t {
        "student" => "学生",
        "teacher" => "教师",
        "staff" => "职工",
        _ => "其他",
    }
}

/// Required sign-in: anonymous visitors are sent to 登录 and brought back afterwards.
impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(u) = parts.extensions.get::<CurrentUser>() {
            return Ok(u.clone());
        }
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let target = if parts.method == axum::http::Method::GET {
            format!("/login?next={}", urlencode(here))
        } else {
            "/login".to_owned()
        };
        Err(Redirect::to(&target).into_response())
    }
}

pub struct MaybeUser(pub Option<CurrentUser>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(parts.extensions.get::<CurrentUser>().cloned()))
    }
}

/// A 系统管理员; anyone else gets 403.
pub struct AdminUser(pub CurrentUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.is_admin {
            Ok(AdminUser(user))
        } else {
            Err(AppError::Forbidden("您没有访问管理后台的权限。").into_response())
        }
    }
}

/// The client's address: the socket peer, or the right-most `X-Forwarded-For` entry (the one
/// the trusted proxy appended) when the portal is configured to sit behind one.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.settings.trust_proxy
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                // The entry our proxy appended (the right-most): the ones before it are
                // whatever the client chose to send.
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse().ok())
        {
            return Ok(ClientIp(Some(ip)));
        }
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Browser name for the audit details (not a security decision).
pub fn user_agent(parts: &axum::http::HeaderMap) -> String {
    parts
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Only local paths: `/center?x=1` yes; `//evil.example`, `/\evil`, `https://…` no.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/center?tab=1")), "/center?tab=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/a\r\nLocation: x")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
