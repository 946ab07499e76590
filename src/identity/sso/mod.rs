//! The hall as the campus sign-in (统一身份认证 for the 推荐系统): a CAS 3.0 server and an
//! OpenID Connect provider over the hall's own accounts and sessions, so lockout,
//! throttling and session lifetimes are the hall's. Systems are registered as clients by
//! 系统管理员 (管理后台 or the CLI). Tickets, codes and tokens are random 256-bit values
//! kept only as hashes and never logged.

pub mod cas;
pub mod claims;
pub mod clients;
pub mod keys;
pub mod logout;
pub mod oidc;
pub mod signins;
pub mod token;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Router,
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::Duration;
use sha2::{Digest, Sha256};
use tower_sessions::Session;

use crate::{
    audit::Entry,
    error::AppResult,
    identity::session::AUTH_AT,
    web::{AppState, page::Page},
};

/// Pages a browser visits (with the session and CSRF layers).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cas/login", get(cas::login))
        .route("/cas/login/consent", post(cas::consent))
        .route("/cas/logout", get(cas::logout))
        .route("/oauth/authorize", get(oidc::authorize))
        .route("/oauth/authorize/consent", post(oidc::consent))
        .route("/oauth/logout", get(oidc::logout))
        .route("/sso/logout", post(logout::system_logout))
        .route("/logout", post(logout::hall_logout))
        .route(
            "/logout/systems",
            get(logout::offer).post(logout::offer_accept),
        )
        .route("/systems/{id}/go", get(launch))
}

/// A 推荐系统 tile linked to a registered system: opens it signed in. A CAS system gets a
/// ticket for its launch address; an OIDC system is asked to start its sign-in (OIDC
/// third-party-initiated login: `iss` and `target_link_uri`). Without a launch address,
/// or while the system is disabled, the tile's own address.
async fn launch(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> AppResult<Response> {
    let row: Option<(String, Option<i64>)> =
        sqlx::query_as("SELECT url, sso_client_id FROM campus_systems WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.db)
            .await?;
    let Some((url, client)) = row else {
        return Err(crate::error::AppError::NotFound);
    };
    let client = match client {
        Some(c) => clients::by_id(&state.db, c).await?,
        None => None,
    };
    let to = match client.filter(|c| c.enabled()) {
        Some(c) => match (&c.launch_url, c.redirect_uris.is_empty()) {
            (Some(l), true) => format!("/cas/login?service={}", urlencode(l)),
            (Some(l), false) => match url::Url::parse(l) {
                Ok(mut u) => {
                    u.query_pairs_mut()
                        .append_pair("iss", &issuer(&state))
                        .append_pair("target_link_uri", &url);
                    u.to_string()
                }
                Err(_) => url,
            },
            (None, _) => url,
        },
        None => url,
    };
    Ok(Redirect::to(&to).into_response())
}

/// Endpoints systems call server to server: no session, no CSRF token (the client's
/// secret or the ticket is the credential).
pub fn machine_routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/oauth/jwks", get(oidc::jwks))
        .route("/oauth/token", post(token::token))
        .route(
            "/oauth/userinfo",
            get(token::userinfo).post(token::userinfo),
        )
        .route("/cas/serviceValidate", get(cas::service_validate))
        .route("/cas/p3/serviceValidate", get(cas::service_validate))
        .route("/cas/proxyValidate", get(cas::service_validate))
        .route("/cas/p3/proxyValidate", get(cas::service_validate))
        .route("/cas/validate", get(cas::validate_v1))
        .route("/cas/proxy", get(cas::proxy))
}

/// The name of the system a sign-in's `next` leads to (`/oauth/authorize` or
/// `/cas/login`), for the login page's "登录后进入…".
pub async fn system_of_next(db: &sqlx::PgPool, next: &str) -> sqlx::Result<Option<String>> {
    let Ok(u) = url::Url::parse(&format!("http://hall{next}")) else {
        return Ok(None);
    };
    let param = |k: &str| {
        u.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let client = match u.path() {
        "/oauth/authorize" => match param("client_id") {
            Some(id) => clients::by_client_id(db, &id).await?,
            None => None,
        },
        "/cas/login" => match param("service").filter(|s| s.len() <= 2000) {
            Some(s) => clients::for_service(db, &s).await?,
            None => None,
        },
        _ => None,
    };
    Ok(client.filter(|c| c.enabled()).map(|c| c.name))
}

/// The issuer: the hall's base URL without its trailing slash.
pub fn issuer(state: &AppState) -> String {
    state
        .settings
        .base_url
        .as_str()
        .trim_end_matches('/')
        .to_owned()
}

pub fn ticket_hash(t: &str) -> Vec<u8> {
    Sha256::digest(t.as_bytes()).to_vec()
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Requests per minute a client (token endpoint) or an address (ticket validation) may make.
const PER_MINUTE: u32 = 600;

/// Spends one request of `who`'s budget for `scope`; false when it is used up.
async fn within_limit(state: &AppState, scope: &str, who: impl Into<Who>) -> AppResult<bool> {
    let who = match who.into() {
        Who::Id(i) => i,
        Who::Ip(ip) => crate::web::limit::ip_key(ip),
    };
    Ok(crate::web::limit::allow(
        &state.db,
        scope,
        who,
        state.now(),
        PER_MINUTE,
        Duration::minutes(1),
    )
    .await?)
}

enum Who {
    Id(i64),
    Ip(Option<std::net::IpAddr>),
}

impl From<i64> for Who {
    fn from(i: i64) -> Self {
        Who::Id(i)
    }
}

impl From<Option<std::net::IpAddr>> for Who {
    fn from(ip: Option<std::net::IpAddr>) -> Self {
        Who::Ip(ip)
    }
}

/// To 登录 first, then back to `here` (a path on the hall). `again`: even when signed in
/// (CAS renew, OIDC prompt=login or max_age), the form is shown and must be filled.
fn login_first(here: &str, again: bool) -> Response {
    let mut to = format!("/login?next={}", urlencode(here));
    if again {
        to.push_str("&renew=1");
    }
    Redirect::to(&to).into_response()
}

/// Whether this session's sign-in is at most two minutes old.
async fn fresh_sign_in(state: &AppState, session: &Session) -> AppResult<bool> {
    fresh_sign_in_within(state, session, 120).await
}

async fn fresh_sign_in_within(state: &AppState, session: &Session, secs: i64) -> AppResult<bool> {
    let at = session.get::<i64>(AUTH_AT).await?.unwrap_or(0);
    Ok(state.now().timestamp() - at <= secs.max(0))
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/sso_continue.html")]
pub struct ContinueTemplate {
    pub url: String,
    pub system: String,
    pub portal_name: String,
    pub css: String,
}

/// Sends the browser on to a system. After the hall's own forms (登录, 同意) this is a
/// page that moves on by itself: the hall's `form-action 'self'` would stop a redirect to
/// another origin at the end of a form's redirect chain. Otherwise a plain redirect.
fn continue_to(state: &AppState, headers: &HeaderMap, url: &str, system: &str) -> Response {
    let same_origin = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "same-origin");
    if same_origin {
        ContinueTemplate {
            url: url.to_owned(),
            system: system.to_owned(),
            portal_name: state.settings.portal_name.clone(),
            css: state.assets.url("css/app.css"),
        }
        .into_response()
    } else {
        Redirect::to(url).into_response()
    }
}

/// What the consent form carries back.
pub enum Consent {
    Cas { service: String, renew: bool },
    Oidc(Box<oidc::AuthParams>),
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/sso_consent.html")]
pub struct ConsentTemplate {
    pub page: Page,
    pub system: String,
    pub scopes: Vec<(String, &'static str)>,
    pub action: &'static str,
    pub fields: Vec<(&'static str, String)>,
}

fn consent_page(page: Page, client: &clients::Client, scopes: &[String], c: Consent) -> Response {
    let (action, fields) = match c {
        Consent::Cas { service, renew } => (
            "/cas/login/consent",
            vec![
                ("service", service),
                ("renew", if renew { "true".into() } else { String::new() }),
            ],
        ),
        Consent::Oidc(p) => {
            let p = *p;
            (
                "/oauth/authorize/consent",
                vec![
                    ("response_type", p.response_type),
                    ("client_id", p.client_id),
                    ("redirect_uri", p.redirect_uri),
                    ("scope", p.scope),
                    ("state", p.state),
                    ("nonce", p.nonce),
                    ("code_challenge", p.code_challenge),
                    ("code_challenge_method", p.code_challenge_method),
                ],
            )
        }
    };
    ConsentTemplate {
        page,
        system: client.name.clone(),
        scopes: scopes
            .iter()
            .map(|s| (s.clone(), clients::scope_label(s)))
            .filter(|(_, l)| !l.is_empty())
            .collect(),
        action,
        fields,
    }
    .into_response()
}

/// Whether the person already agreed to give `client` every one of `scopes`.
async fn consented(
    db: &sqlx::PgPool,
    user_id: i64,
    client_id: i64,
    scopes: &[String],
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sso_consents
                         WHERE user_id = $1 AND client_id = $2 AND scopes @> $3)",
    )
    .bind(user_id)
    .bind(client_id)
    .bind(scopes)
    .fetch_one(db)
    .await
}

async fn record_consent(
    state: &AppState,
    user_id: i64,
    client: &clients::Client,
    scopes: &[String],
    ip: Option<std::net::IpAddr>,
) -> AppResult<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO sso_consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, client_id) DO UPDATE
            SET scopes = ARRAY(SELECT DISTINCT unnest(sso_consents.scopes || EXCLUDED.scopes)),
                granted_at = EXCLUDED.granted_at",
    )
    .bind(user_id)
    .bind(client.id)
    .bind(scopes)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Entry::user(user_id, "sso.consent")
        .ip(ip)
        .detail(serde_json::json!({ "client": client.client_id, "scopes": scopes }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes spent or expired tickets, codes and tokens. Run hourly by the worker.
pub async fn housekeeping(
    db: &sqlx::PgPool,
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<()> {
    for sql in [
        "DELETE FROM sso_tickets WHERE expires_at < $1 - interval '1 day'",
        "DELETE FROM oidc_codes WHERE expires_at < $1 - interval '1 day'",
        "DELETE FROM oauth_tokens WHERE expires_at < $1 - interval '1 day'",
    ] {
        sqlx::query(sql).bind(now).execute(db).await?;
    }
    keys::housekeeping(db, now).await
}
