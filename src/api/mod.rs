//! The open JSON API (`/api/v1/…`): the catalog, a person's own applications, 待办 and
//! messages, submitting and acting with the same use cases (and so the same checks and the
//! one-transaction rule) as the pages, and, for integrations, an application's state and
//! history. Bearer tokens come from the sign-in provider (`identity::sso`): a person's
//! (authorization code) with scopes, or a system's own (client credentials, scope
//! `integration`). Errors are RFC 9457 problem details, lists page by cursor, each system
//! has a request budget. The OpenAPI document is generated from the handlers (utoipa).

mod catalog;
mod integration;
mod me;
pub mod problem;

use axum::{
    Router,
    extract::FromRequestParts,
    http::{StatusCode, header, request::Parts},
    response::IntoResponse,
    routing::get,
};
use base64::Engine;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{identity::sso, web::AppState};
use problem::{ApiResult, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "网上办事服务大厅 API",
        version = "1",
        description = "Bearer tokens from the hall's OpenID Connect provider (/.well-known/openid-configuration). Errors are RFC 9457 problem details; lists page by `cursor`."
    ),
    modifiers(&Bearer),
    tags(
        (name = "catalog", description = "服务中心"),
        (name = "me", description = "The token's person: 我发起的, 我待办的, 消息"),
        (name = "integration", description = "A system's own token (client credentials)")
    )
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(catalog::services))
        .routes(routes!(catalog::service))
        .routes(routes!(me::applications, me::submit))
        .routes(routes!(me::application))
        .routes(routes!(me::act))
        .routes(routes!(me::tasks))
        .routes(routes!(me::messages))
        .routes(routes!(integration::application))
        .split_for_parts()
}

/// The OpenAPI document, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The API's routes (outside the session and CSRF layers: a bearer token is the
/// credential, never a cookie).
pub fn routes() -> Router<AppState> {
    let (router, doc) = api();
    let json = std::sync::Arc::new(doc.to_json().expect("the OpenAPI document serializes"));
    router
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [
                            (header::CONTENT_TYPE, "application/json"),
                            (header::CACHE_CONTROL, "public, max-age=300"),
                        ],
                        json.as_str().to_owned(),
                    )
                }
            }),
        )
        // Anything else under the API is a problem document too, not the hall's 404 page.
        .route(
            "/api/v1/{*rest}",
            axum::routing::any(|| async { Problem::not_found() }),
        )
}

/// Requests per minute one system may make through the API (all its tokens together).
const PER_MINUTE: u32 = 1200;

/// A valid bearer token: the system it was issued to, the person (none for a system's
/// own token) and its scopes. Spends one request of the system's budget.
pub struct Token {
    pub client: i64,
    pub user: Option<i64>,
    pub scopes: Vec<String>,
}

impl Token {
    /// The person, if the token is a person's with `scope`.
    pub fn person(&self, scope: &str) -> ApiResult<i64> {
        match self.user {
            Some(u) if self.scopes.iter().any(|s| s == scope) => Ok(u),
            _ => Err(Problem::forbidden(scope)),
        }
    }
}

impl FromRequestParts<AppState> for Token {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let found = sso::token::bearer(state, &parts.headers)
            .await
            .map_err(|e| Problem::from(e).into_response())?;
        let Some((client, user, scopes)) = found else {
            return Err(Problem::unauthorized().into_response());
        };
        let allowed = crate::web::limit::allow(
            &state.db,
            "api",
            client,
            state.now(),
            PER_MINUTE,
            chrono::Duration::minutes(1),
        )
        .await
        .map_err(|e| Problem::from(e).into_response())?;
        if !allowed {
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "请求过于频繁",
            )
            .detail(format!("每个系统每分钟最多 {PER_MINUTE} 次请求"))
            .into_response());
        }
        Ok(Token {
            client,
            user,
            scopes,
        })
    }
}

/// Page sizes: `limit` between 1 and 100, 20 by default.
pub fn limit(l: Option<i64>) -> i64 {
    l.unwrap_or(20).clamp(1, 100)
}

/// Cursors are opaque to clients: the last id of the previous page.
pub fn cursor_after(c: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(c) = c.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("after:").and_then(|n| n.parse().ok()))
        .map(Some)
        .ok_or_else(|| Problem::bad_request("cursor 无效"))
}

pub fn cursor_of(last: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{last}"))
}

/// The next cursor of a page fetched with one row more than `limit`.
pub fn page<T>(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|r| cursor_of(id(r)))
    } else {
        None
    };
    (rows, next)
}
