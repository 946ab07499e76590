//! The OAuth token endpoint (authorization code with PKCE; client credentials for
//! integrations), bearer tokens, and userinfo.

use axum::{
    Form, Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    claims, clients, issuer, keys,
    oidc::{ACCESS_TTL, ID_TOKEN_TTL},
    ticket_hash, within_limit,
};
use crate::{audit::Entry, error::AppResult, identity::session::ClientIp, web::AppState};

/// An OAuth error from the token endpoint (RFC 6749 5.2).
fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"service-hall\""),
        );
    }
    r
}

#[derive(Deserialize, Default)]
pub struct TokenForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    code_verifier: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    scope: String,
}

/// The client authenticating at the token endpoint: HTTP Basic (client_secret_basic) or
/// the form's fields (client_secret_post).
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    f: &TokenForm,
) -> AppResult<Option<clients::Client>> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let dec = |x: &str| {
                url::form_urlencoded::parse(format!("x={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((dec(id)?, dec(secret)?))
        });
    let (id, secret) = match basic {
        Some(b) => b,
        None => (f.client_id.clone(), f.client_secret.clone()),
    };
    if id.is_empty() || secret.is_empty() || secret.len() > 200 {
        return Ok(None);
    }
    let c = clients::by_client_id(&state.db, &id).await?;
    Ok(c.filter(|c| c.enabled() && c.secret_matches(&secret)))
}

/// POST /oauth/token. Outside the session and CSRF layers: clients call it server to
/// server, authenticated by their secret.
pub async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> AppResult<Response> {
    // Budgeted per address before any secret is checked: guessing stays slow, and failed
    // attempts cannot flood the audit log.
    if !within_limit(&state, "oauth_token_ip", ip).await? {
        return Ok(token_error(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            "too many token requests",
        ));
    }
    let Some(client) = authenticate(&state, &headers, &f).await? else {
        Entry::about("sso_client:0", "sso.client_auth")
            .ip(ip)
            .failure()
            .record(&state.db, state.now())
            .await?;
        return Ok(token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        ));
    };
    if !within_limit(&state, "oauth_token", client.id).await? {
        return Ok(token_error(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            "too many token requests",
        ));
    }
    match f.grant_type.as_str() {
        "authorization_code" => code_grant(&state, ip, &client, &f).await,
        "client_credentials" => client_grant(&state, &client, &f).await,
        _ => Ok(token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "authorization_code or client_credentials",
        )),
    }
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    client_id: i64,
    user_id: i64,
    redirect_uri: String,
    scopes: Vec<String>,
    nonce: Option<String>,
    code_challenge: String,
    auth_time: chrono::DateTime<chrono::Utc>,
    device: Option<String>,
    expires_at: chrono::DateTime<chrono::Utc>,
}

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    // RFC 7636 4.1: 43–128 unreserved characters.
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    well_formed && crate::secret::constant_eq(computed.as_bytes(), challenge.as_bytes())
}

async fn code_grant(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    client: &clients::Client,
    f: &TokenForm,
) -> AppResult<Response> {
    let invalid = |d: &str| Ok(token_error(StatusCode::BAD_REQUEST, "invalid_grant", d));
    if f.code.is_empty() || f.code.len() > 200 {
        return invalid("code is missing");
    }
    let now = state.now();
    let hash = ticket_hash(&f.code);
    let row: Option<CodeRow> = sqlx::query_as(
        "UPDATE oidc_codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL
         RETURNING client_id, user_id, redirect_uri, scopes, nonce, code_challenge, auth_time,
                   device, expires_at",
    )
    .bind(&hash)
    .bind(now)
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else {
        // A code presented twice: what the first use gave is revoked (RFC 6749 4.1.2).
        let revoked = sqlx::query(
            "UPDATE oauth_tokens SET revoked_at = $2 WHERE code_hash = $1 AND revoked_at IS NULL",
        )
        .bind(&hash)
        .bind(now)
        .execute(&state.db)
        .await?
        .rows_affected();
        if revoked > 0 {
            Entry::about(format!("sso_client:{}", client.id), "sso.code_replay")
                .ip(ip)
                .denied()
                .record(&state.db, now)
                .await?;
        }
        return invalid("code is invalid or was already used");
    };
    if row.client_id != client.id {
        return invalid("code was issued to another client");
    }
    if row.expires_at <= now {
        return invalid("code expired");
    }
    if row.redirect_uri != f.redirect_uri {
        return invalid("redirect_uri does not match the authorization request");
    }
    if !pkce_matches(&f.code_verifier, &row.code_challenge) {
        return invalid("PKCE verification failed");
    }
    let Some(person) = claims::person(&state.db, row.user_id).await? else {
        return invalid("the account is not available");
    };
    let access = clients::random_token();
    let sid = clients::random_token();
    let mut id_claims = claims::oidc_claims(&person, &row.scopes);
    let extra = json!({
        "iss": issuer(state),
        "aud": client.client_id,
        "iat": now.timestamp(),
        "exp": (now + ID_TOKEN_TTL).timestamp(),
        "auth_time": row.auth_time.timestamp(),
        "sid": sid,
    });
    if let Value::Object(m) = extra {
        id_claims.extend(m);
    }
    if let Some(n) = &row.nonce {
        id_claims.insert("nonce".into(), json!(n));
    }
    let id_token = keys::sign(&state.db, &state.secret_key, now, &Value::Object(id_claims)).await?;
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO oauth_tokens (hash, client_id, user_id, scopes, code_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ticket_hash(&access))
    .bind(client.id)
    .bind(row.user_id)
    .bind(&row.scopes)
    .bind(&hash)
    .bind(now)
    .bind(now + ACCESS_TTL)
    .execute(&mut *tx)
    .await?;
    super::signins::record(
        &mut *tx,
        super::signins::New {
            user_id: row.user_id,
            client_id: client.id,
            protocol: "oidc",
            ip: None,
            device: row.device.as_deref(),
            sid: Some(&sid),
            session_index: None,
            service: None,
        },
        now,
    )
    .await?;
    Entry::user(row.user_id, "sso.sign_in")
        .detail(json!({ "client": client.client_id, "protocol": "oidc" }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL.num_seconds(),
        "id_token": id_token,
        "scope": row.scopes.join(" "),
    }))
    .into_response())
}

/// Scopes of a client's own token: what it asked for among what it may have, less the
/// person-related ones (there is no person).
async fn client_grant(
    state: &AppState,
    client: &clients::Client,
    f: &TokenForm,
) -> AppResult<Response> {
    let personal = ["openid", "profile", "email", "phone"];
    let scopes: Vec<String> = f
        .scope
        .split_whitespace()
        .filter(|s| !personal.contains(s) && client.allowed_scopes.iter().any(|a| a == s))
        .map(str::to_owned)
        .collect();
    let access = clients::random_token();
    let now = state.now();
    sqlx::query(
        "INSERT INTO oauth_tokens (hash, client_id, user_id, scopes, created_at, expires_at)
         VALUES ($1, $2, NULL, $3, $4, $5)",
    )
    .bind(ticket_hash(&access))
    .bind(client.id)
    .bind(&scopes)
    .bind(now)
    .bind(now + ACCESS_TTL)
    .execute(&state.db)
    .await?;
    Ok(Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL.num_seconds(),
        "scope": scopes.join(" "),
    }))
    .into_response())
}

/// A valid bearer token: (client row id, person id if any, scopes).
pub async fn bearer(
    state: &AppState,
    headers: &HeaderMap,
) -> AppResult<Option<(i64, Option<i64>, Vec<String>)>> {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 200)
    else {
        return Ok(None);
    };
    Ok(sqlx::query_as(
        "SELECT t.client_id, t.user_id, t.scopes FROM oauth_tokens t
           JOIN sso_clients c ON c.id = t.client_id AND c.disabled_at IS NULL
          WHERE t.hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2",
    )
    .bind(ticket_hash(token))
    .bind(state.now())
    .fetch_optional(&state.db)
    .await?)
}

pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            Json(json!({ "error": "invalid_token" })),
        )
            .into_response()
    };
    let Some((_, Some(user_id), scopes)) = bearer(&state, &headers).await? else {
        return Ok(unauthorized());
    };
    if !scopes.iter().any(|s| s == "openid") {
        return Ok(unauthorized());
    }
    let Some(person) = claims::person(&state.db, user_id).await? else {
        return Ok(unauthorized());
    };
    Ok(Json(Value::Object(claims::oidc_claims(&person, &scopes))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_as_in_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
    }
}
