//! Styled error pages. Handlers return `AppError`; this layer renders the page with the
//! layout (it has the state and the session). Bare framework errors (405, 413, a form
//! that does not parse) get the same treatment, so internals never reach the browser.

use std::any::Any;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    body::Body,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower_sessions::Session;

use crate::{
    error::{DbUnavailable, ErrorPage},
    web::AppState,
    web::page::Page,
    web::user::CurrentUser,
};

#[derive(Template, WebTemplate)]
#[template(path = "errors/error.html")]
pub struct ErrorTemplate {
    pub page: Page,
    pub status: u16,
    pub title: &'static str,
    pub message: &'static str,
    /// More about this case than the marker's fixed message (e.g. the size limit).
    pub detail: Option<String>,
    /// Bad input: offer 返回修改 (the browser's back, which keeps what was typed).
    pub back: bool,
}

/// Put beside an [`ErrorPage`] marker when the message needs a value (a limit).
#[derive(Clone, Debug)]
pub struct ErrorDetail(pub String);

fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "请求有误",
        403 => "没有权限",
        404 => "页面不存在",
        405 => "不支持的操作",
        408 => "请求超时",
        409 => "该事项已被处理",
        413 => "内容过大",
        422 => "请求有误",
        429 => "操作过于频繁",
        503 => "系统繁忙",
        s if s >= 500 => "服务器错误",
        _ => "出错了",
    }
}

fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "您访问的页面不存在，或您没有查看它的权限。",
        405 => "该地址不支持这种操作。",
        408 => "处理时间过长，请稍后再试。",
        413 => "提交的内容过大。",
        429 => "操作过于频繁，请稍后再试。",
        503 => crate::error::UNAVAILABLE_MESSAGE,
        s if s >= 500 => "服务器开小差了，请稍后再试。问题已记录。",
        _ => "请求无法处理，请返回上一页检查后重试。",
    }
}

pub async fn render_error_pages(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let user = req.extensions().get::<CurrentUser>().cloned();
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let marked = res.extensions().get::<ErrorPage>().cloned();
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if marked.is_none() && is_html {
        return res; // a page that already explains itself (e.g. the login form)
    }
    let message = marked
        .map(|m| m.message)
        .unwrap_or_else(|| default_message(status));
    // The database is unreachable: don't wait for the session store again.
    let csrf = if res.extensions().get::<DbUnavailable>().is_some() {
        String::new()
    } else {
        // Only signed-in people see a form here (退出), and they have a token already.
        session
            .get::<String>(crate::web::user::CSRF)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    styled(&state, user, csrf, path, message, res)
}

/// The styled page of an error response (status, `Retry-After` and the database marker
/// kept).
fn styled(
    state: &AppState,
    user: Option<CurrentUser>,
    csrf: String,
    path: String,
    message: &'static str,
    res: Response,
) -> Response {
    let status = res.status();
    let page = Page {
        portal_name: state.settings.portal_name.clone(),
        user,
        csrf,
        flashes: Vec::new(),
        css: state.assets.url("css/app.css"),
        js: state.assets.url("js/app.js"),
        path,
    };
    let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
    let detail = res.extensions().get::<ErrorDetail>().map(|d| d.0.clone());
    let mut out = (
        status,
        ErrorTemplate {
            page,
            status: status.as_u16(),
            title: title(status),
            message,
            detail,
            back: matches!(status.as_u16(), 400 | 413 | 422),
        },
    )
        .into_response();
    if let Some(r) = retry_after {
        out.headers_mut().insert(header::RETRY_AFTER, r);
    }
    if let Some(m) = res.extensions().get::<DbUnavailable>().copied() {
        out.extensions_mut().insert(m);
    }
    out
}

/// The styled page of an error met before the person is known (the session and user
/// load, outside `render_error_pages`), e.g. 503 while the database is unreachable.
pub fn styled_anonymous(state: &AppState, path: String, res: Response) -> Response {
    let message = res
        .extensions()
        .get::<ErrorPage>()
        .map(|m| m.message)
        .unwrap_or_else(|| default_message(res.status()));
    styled(state, None, String::new(), path, message, res)
}

pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    ErrorPage::response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "服务器开小差了，请稍后再试。问题已记录。",
    )
}
