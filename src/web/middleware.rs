//! Cross-cutting layers: security headers, CSRF protection, the one check of input
//! characters, request spans, caching, and keeping connections usable after a refusal.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body::{Frame, SizeHint};
use tower_sessions::Session;
use tracing::Span;

use crate::{
    error::{AppError, ErrorPage},
    web::AppState,
    web::user::CSRF,
};

/// Largest urlencoded form the CSRF check buffers.
const FORM_LIMIT: usize = 1024 * 1024;

/// Said whenever input holds a character refused by [`unfit_char`].
pub const UNFIT_INPUT_MESSAGE: &str = "输入中含有无法处理的字符（如空字符），请删除后重试。";

/// A character PostgreSQL cannot store (NUL) or a page should not carry: control
/// characters other than tab, line feed and carriage return, and the noncharacters
/// U+FFFE/U+FFFF. (Lone surrogates cannot be in a `str`: they arrive as invalid UTF-8,
/// refused by [`unfit_bytes`].)
pub fn unfit_char(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

/// Whether text holds an [`unfit_char`].
pub fn unfit_text(s: &str) -> bool {
    s.chars().any(unfit_char)
}

/// Whether raw bytes are not UTF-8 or hold an [`unfit_char`].
pub fn unfit_bytes(b: &[u8]) -> bool {
    !std::str::from_utf8(b).is_ok_and(|s| !unfit_text(s))
}

/// The refusal of unfit input, the same everywhere: 400 with [`UNFIT_INPUT_MESSAGE`]
/// (the page offers 返回修改, which brings the form back as it was typed).
pub fn refuse_unfit() -> AppError {
    AppError::BadRequest(UNFIT_INPUT_MESSAGE)
}

/// Percent-decodes `raw` (`+` needs no decoding: a space is fine either way).
fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && i + 2 < raw.len()
            && let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2]))
        {
            out.push((h << 4) | l);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// Whether a query string or an urlencoded body decodes to unfit text, pair by pair.
fn unfit_encoded(raw: &[u8]) -> bool {
    raw.split(|b| *b == b'&')
        .any(|pair| unfit_bytes(&percent_decode(pair)))
}

/// The one gate for characters in what people send: the path, the query string and
/// urlencoded bodies here; multipart text fields where they are read
/// (`forms::input`, with [`unfit_text`]). Runs inside the CSRF check, so forged requests
/// are refused as such first.
pub async fn refuse_unfit_input(req: Request, next: Next) -> Result<Response, AppError> {
    let uri = req.uri();
    if unfit_bytes(&percent_decode(uri.path().as_bytes()))
        || uri.query().is_some_and(|q| unfit_encoded(q.as_bytes()))
    {
        tracing::info!("request with unfit characters refused");
        return Err(refuse_unfit());
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok(next.run(req).await);
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, FORM_LIMIT).await.map_err(|_| too_large())?;
    if unfit_encoded(&bytes) {
        tracing::info!("form with unfit characters refused");
        return Err(refuse_unfit());
    }
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

fn too_large() -> AppError {
    AppError::PayloadTooLarge("提交的内容过大（表单最多 1 MB），请删减后重试。")
}

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
    // A page that frames other origins (single logout) sets its own, stricter-than-none.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
             base-uri 'none'; object-src 'none'",
        ));
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
        let bytes = to_bytes(body, FORM_LIMIT).await.map_err(|_| too_large())?;
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

/// How much of an unread request body is read after the response, so the connection
/// can serve the client's next request (HTTP/1.1 keep-alive).
const DRAIN_LIMIT: usize = 64 * 1024;

struct Tracked {
    body: Body,
    /// The body was read to its end.
    done: bool,
}

/// The request body, shared with [`keep_alive_after_refusal`], which finishes reading it
/// when the handler did not.
struct SharedBody(Arc<Mutex<Tracked>>);

fn lock(m: &Mutex<Tracked>) -> std::sync::MutexGuard<'_, Tracked> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HttpBody for SharedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut t = lock(&self.0);
        let r = Pin::new(&mut t.body).poll_frame(cx);
        if let Poll::Ready(None) = r {
            t.done = true;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        let t = lock(&self.0);
        t.done || t.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        lock(&self.0).body.size_hint()
    }
}

/// A request refused before its body was read (403, 404, a CSRF refusal, an upload past
/// the limit) would otherwise leave the body's bytes on the connection: hyper then drops
/// the connection and the client's next request on it fails. After the response is
/// made, up to [`DRAIN_LIMIT`] of what is left is read (within a second); a longer body
/// gets `Connection: close`, so the client knows to open a new connection.
pub async fn keep_alive_after_refusal(req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let shared = Arc::new(Mutex::new(Tracked { body, done: false }));
    let req = Request::from_parts(parts, Body::new(SharedBody(shared.clone())));
    let mut res = next.run(req).await;
    let drained = tokio::time::timeout(Duration::from_secs(1), drain(&shared))
        .await
        .unwrap_or(false);
    if !drained {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// Reads the rest of the body, giving up past [`DRAIN_LIMIT`]; whether it ended.
async fn drain(shared: &Mutex<Tracked>) -> bool {
    let mut left = DRAIN_LIMIT;
    std::future::poll_fn(|cx| {
        let mut t = lock(shared);
        loop {
            if t.done || t.body.is_end_stream() {
                return Poll::Ready(true);
            }
            match Pin::new(&mut t.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let n = frame.data_ref().map_or(0, Bytes::len);
                    if n > left {
                        return Poll::Ready(false);
                    }
                    left -= n;
                }
                Poll::Ready(Some(Err(_))) => return Poll::Ready(false),
                Poll::Ready(None) => return Poll::Ready(true),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// The 413 of a body past a limit, with the limit in the message.
pub fn payload_too_large(detail: String) -> Response {
    let mut res = ErrorPage::response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "提交的内容超过了大小上限，请减少或压缩附件后重试。",
    );
    res.extensions_mut()
        .insert(crate::web::errors::ErrorDetail(detail));
    res
}
