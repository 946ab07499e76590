//! Cross-cutting layers: security headers, CSRF protection, request spans, caching.

use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower_sessions::Session;
use tracing::Span;

use crate::{error::AppError, web::AppState, web::user::CSRF};

/// Largest urlencoded form the CSRF check buffers.
const FORM_LIMIT: usize = 1024 * 1024;

pub fn make_span(req: &Request) -> Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Path only: query strings can carry personal data.
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
             base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if state.settings.secure_cookies() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    res
}

/// Pages show personal data: unless a handler chose otherwise, nothing is cached.
pub async fn no_store_default(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if !res.headers().contains_key(header::CACHE_CONTROL) {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

fn same_origin(value: &str, ours: &str) -> bool {
    url::Url::parse(value)
        .map(|u| u.origin().ascii_serialization() == ours)
        .unwrap_or(false)
}

/// Every state-changing request must come from our own pages: the browser's `Origin`
/// (or `Referer`) must be ours and, for forms, the session's token must be in `_csrf`.
pub async fn csrf(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(next.run(req).await);
    }
    const REJECTED: &str = "请求来源校验失败，请刷新页面后重试。";
    let ours = state.settings.origin();
    let headers = req.headers();
    let origin_ok = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(o) => o == ours,
        None => {
            let cross_site = headers
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == "cross-site");
            let referer_ok = headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|r| same_origin(r, &ours));
            !cross_site && referer_ok
        }
    };
    if !origin_ok {
        tracing::warn!("cross-origin state-changing request refused");
        return Err(AppError::Forbidden(REJECTED));
    }

    let expected = session.get::<String>(CSRF).await?;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let header_token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Multipart forms (attachments) carry the token in the action URL, as a plain
    // HTML form cannot set headers and the body is too large to buffer here.
    let query_token = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.into_owned())
    });
    let header_token = header_token.or(query_token);
    let (parts, body) = req.into_parts();
    let (token, body) = if is_form {
        let bytes = to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| AppError::BadRequest("提交的内容过大。"))?;
        let token = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.into_owned());
        (token, Body::from(bytes))
    } else {
        (header_token, body)
    };
    let valid = match (expected, token) {
        (Some(e), Some(t)) => crate::secret::constant_eq(e.as_bytes(), t.as_bytes()),
        _ => false,
    };
    if !valid {
        tracing::warn!("state-changing request without a valid CSRF token refused");
        return Err(AppError::Forbidden(REJECTED));
    }
    Ok(next
        .run(Request::from_parts(parts, body))
        .await
        .into_response())
}
