//! OpenID Connect provider: authorization code flow with PKCE (S256, required of every
//! client), discovery, JWKS, RS256 id_tokens, userinfo, RP-initiated logout, and the
//! client-credentials grant for integrations (the JSON API's machine tokens).

use axum::{
    Form, Json,
    extract::{Query, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use chrono::Duration;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::types::ipnetwork::IpNetwork;
use tower_sessions::Session;

use super::{
    Consent, clients, continue_to, fresh_sign_in_within, issuer, keys, login_first, ticket_hash,
};
use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    identity::session::{AUTH_AT, ClientIp, DEVICE, MaybeUser},
    web::{AppState, page::Page},
};

pub const CODE_TTL: Duration = Duration::seconds(60);
pub const ACCESS_TTL: Duration = Duration::hours(1);
pub const ID_TOKEN_TTL: Duration = Duration::minutes(10);

pub async fn discovery(State(state): State<AppState>) -> Response {
    let iss = issuer(&state);
    let scopes: Vec<&str> = clients::SCOPES.iter().map(|(s, _)| *s).collect();
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}/oauth/authorize"),
            "token_endpoint": format!("{iss}/oauth/token"),
            "userinfo_endpoint": format!("{iss}/oauth/userinfo"),
            "jwks_uri": format!("{iss}/oauth/jwks"),
            "end_session_endpoint": format!("{iss}/oauth/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": scopes,
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid",
                "name", "preferred_username", "kind", "email", "email_verified", "phone_number",
                "phone_number_verified", "department", "department_code", "roles"],
            "frontchannel_logout_supported": true,
            "frontchannel_logout_session_supported": true,
            "authorization_response_iss_parameter_supported": true,
            "prompt_values_supported": ["none", "login", "consent"],
        })),
    )
        .into_response()
}

pub async fn jwks(State(state): State<AppState>) -> AppResult<Response> {
    let set = keys::jwks(&state.db, &state.secret_key, state.now()).await?;
    Ok(([(header::CACHE_CONTROL, "public, max-age=300")], Json(set)).into_response())
}

/// The authorization request's parameters, as received (also the consent form's fields).
#[derive(Deserialize, Default, Clone)]
pub struct AuthParams {
    #[serde(default)]
    pub response_type: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub redirect_uri: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub nonce: String,
    #[serde(default)]
    pub code_challenge: String,
    #[serde(default)]
    pub code_challenge_method: String,
    #[serde(default)]
    pub prompt: String,
    #[serde(default)]
    pub max_age: String,
}

impl AuthParams {
    fn query(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("max_age", &self.max_age),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }
}

/// A request whose client and redirect URI are known: from here on errors go back to the
/// client (RFC 6749 4.1.2.1); before, they are shown here, never redirected.
struct Checked {
    client: clients::Client,
    scopes: Vec<String>,
}

fn error_redirect(
    headers: &HeaderMap,
    c: &clients::Client,
    p: &AuthParams,
    state: &AppState,
    error: &str,
    description: &str,
) -> Response {
    let Ok(mut u) = url::Url::parse(&p.redirect_uri) else {
        return AppError::BadRequest("redirect_uri 无效").into_response();
    };
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("error", error);
        q.append_pair("error_description", description);
        if !p.state.is_empty() {
            q.append_pair("state", &p.state);
        }
        q.append_pair("iss", &issuer(state));
    }
    continue_to(state, headers, u.as_str(), &c.name)
}

async fn check(
    state: &AppState,
    headers: &HeaderMap,
    p: &AuthParams,
) -> AppResult<Result<Checked, Response>> {
    let client = clients::by_client_id(&state.db, &p.client_id).await?;
    let Some(client) = client.filter(|c| c.enabled()) else {
        return Err(AppError::BadRequest(
            "未登记或已停用的系统（client_id 无效），无法登录。",
        ));
    };
    if !client.redirect_allowed(&p.redirect_uri) {
        return Err(AppError::BadRequest(
            "回调地址（redirect_uri）未为该系统登记，无法登录。",
        ));
    }
    let fail = |e: &str, d: &str| Ok(Err(error_redirect(headers, &client, p, state, e, d)));
    if p.response_type != "code" {
        return fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    if p.state.len() > 1000 || p.nonce.len() > 500 || p.scope.len() > 500 {
        return fail("invalid_request", "parameter too long");
    }
    if p.code_challenge_method != "S256" || !(43..=128).contains(&p.code_challenge.len()) {
        return fail(
            "invalid_request",
            "PKCE with code_challenge_method=S256 is required",
        );
    }
    let requested: Vec<&str> = p.scope.split_whitespace().collect();
    if !requested.contains(&"openid") {
        return fail("invalid_scope", "the openid scope is required");
    }
    // Scopes the client may not have are left out (RFC 6749 3.3), not refused.
    let mut scopes: Vec<String> = Vec::new();
    for s in requested {
        if client.allowed_scopes.iter().any(|a| a == s) && !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    if !scopes.iter().any(|s| s == "openid") {
        return fail("invalid_scope", "the client may not use the openid scope");
    }
    Ok(Ok(Checked { client, scopes }))
}

pub async fn authorize(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    page: Page,
    Query(p): Query<AuthParams>,
) -> AppResult<Response> {
    let checked = match check(&state, &headers, &p).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let prompts: Vec<&str> = p.prompt.split_whitespace().collect();
    let none = prompts.contains(&"none");
    let Some(user) = user else {
        if none {
            return Ok(error_redirect(
                &headers,
                &checked.client,
                &p,
                &state,
                "login_required",
                "not signed in",
            ));
        }
        // Signing in satisfies prompt=login, so it is not asked twice.
        let back = format!("/oauth/authorize?{}", p.query());
        return Ok(login_first(&back, false));
    };
    let max_age = p.max_age.parse::<i64>().ok();
    let fresh = fresh_sign_in_within(&state, &session, max_age.unwrap_or(120)).await?;
    if (prompts.contains(&"login") || max_age.is_some()) && !fresh {
        if none {
            return Ok(error_redirect(
                &headers,
                &checked.client,
                &p,
                &state,
                "login_required",
                "a fresh sign-in is needed",
            ));
        }
        let back = format!("/oauth/authorize?{}", p.query());
        return Ok(login_first(&back, true));
    }
    let consented =
        super::consented(&state.db, user.id, checked.client.id, &checked.scopes).await?;
    if !checked.client.internal && (!consented || prompts.contains(&"consent")) {
        if none {
            return Ok(error_redirect(
                &headers,
                &checked.client,
                &p,
                &state,
                "consent_required",
                "consent is needed",
            ));
        }
        return Ok(super::consent_page(
            page,
            &checked.client,
            &checked.scopes,
            Consent::Oidc(Box::new(p.clone())),
        ));
    }
    issue_code(&state, &session, &headers, user.id, ip, &checked, &p).await
}

/// 同意 / 拒绝 on the consent screen of an OIDC client.
pub async fn consent(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<ConsentForm>,
) -> AppResult<Response> {
    let p = f.params;
    let checked = match check(&state, &headers, &p).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let Some(user) = user else {
        return Ok(login_first(
            &format!("/oauth/authorize?{}", p.query()),
            false,
        ));
    };
    if f.decision != "allow" {
        Entry::user(user.id, "sso.consent_denied")
            .ip(ip)
            .detail(json!({ "client": checked.client.client_id }))
            .record(&state.db, state.now())
            .await?;
        return Ok(error_redirect(
            &headers,
            &checked.client,
            &p,
            &state,
            "access_denied",
            "the person declined",
        ));
    }
    super::record_consent(&state, user.id, &checked.client, &checked.scopes, ip).await?;
    issue_code(&state, &session, &headers, user.id, ip, &checked, &p).await
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(flatten)]
    params: AuthParams,
    #[serde(default)]
    decision: String,
}

async fn issue_code(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    user_id: i64,
    ip: Option<std::net::IpAddr>,
    c: &Checked,
    p: &AuthParams,
) -> AppResult<Response> {
    let code = clients::random_token();
    let now = state.now();
    let auth_time = session
        .get::<i64>(AUTH_AT)
        .await?
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .unwrap_or(now);
    sqlx::query(
        "INSERT INTO oidc_codes (hash, client_id, user_id, redirect_uri, scopes, nonce,
             code_challenge, auth_time, device, ip, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(ticket_hash(&code))
    .bind(c.client.id)
    .bind(user_id)
    .bind(&p.redirect_uri)
    .bind(&c.scopes)
    .bind((!p.nonce.is_empty()).then_some(&p.nonce))
    .bind(&p.code_challenge)
    .bind(auth_time)
    .bind(session.get::<String>(DEVICE).await?)
    .bind(ip.map(IpNetwork::from))
    .bind(now + CODE_TTL)
    .execute(&state.db)
    .await?;
    let mut u =
        url::Url::parse(&p.redirect_uri).map_err(|_| AppError::BadRequest("redirect_uri 无效"))?;
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("code", &code);
        if !p.state.is_empty() {
            q.append_pair("state", &p.state);
        }
        q.append_pair("iss", &issuer(state));
    }
    Ok(continue_to(state, headers, u.as_str(), &c.client.name))
}

#[derive(Deserialize, Default)]
pub struct LogoutQuery {
    #[serde(default)]
    id_token_hint: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    post_logout_redirect_uri: String,
    #[serde(default)]
    state: String,
}

/// RP-initiated logout: asks "退出网上办事服务大厅？"; the answer is posted to /sso/logout.
pub async fn logout(
    State(state): State<AppState>,
    page: Page,
    Query(q): Query<LogoutQuery>,
) -> AppResult<Response> {
    // The client: named, or the audience of an id_token we signed (expired or not).
    let mut client_id = q.client_id.clone();
    if client_id.is_empty() && !q.id_token_hint.is_empty() && q.id_token_hint.len() < 8000 {
        client_id = hint_audience(&state, &q.id_token_hint)
            .await?
            .unwrap_or_default();
    }
    let client = match client_id.is_empty() {
        true => None,
        false => clients::by_client_id(&state.db, &client_id)
            .await?
            .filter(|c| c.enabled()),
    };
    let back = client.as_ref().and_then(|c| {
        c.post_logout_redirect_uris
            .contains(&q.post_logout_redirect_uri)
            .then(|| (q.post_logout_redirect_uri.clone(), c.name.clone()))
    });
    let st = if q.state.len() <= 500 {
        q.state
    } else {
        String::new()
    };
    Ok(super::logout::confirm_with_state(page, client.as_ref(), back, st).into_response())
}

/// The `aud` of an id_token this hall signed with a published key.
async fn hint_audience(state: &AppState, token: &str) -> AppResult<Option<String>> {
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return Ok(None);
    };
    let set = keys::jwks(&state.db, &state.secret_key, state.now()).await?;
    let Ok(set) = serde_json::from_value::<jsonwebtoken::jwk::JwkSet>(set) else {
        return Ok(None);
    };
    let Some(jwk) = header.kid.as_deref().and_then(|k| set.find(k)) else {
        return Ok(None);
    };
    let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(jwk) else {
        return Ok(None);
    };
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.set_issuer(&[issuer(state)]);
    v.required_spec_claims.clear();
    Ok(jsonwebtoken::decode::<Value>(token, &key, &v)
        .ok()
        .and_then(|d| {
            d.claims
                .get("aud")
                .and_then(|a| a.as_str())
                .map(str::to_owned)
        }))
}
