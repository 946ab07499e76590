//! CAS 3.0 (the protocol most campus systems in China already speak): `/cas/login` hands a
//! service ticket to a registered service URL, `/cas/serviceValidate` and
//! `/cas/p3/serviceValidate` redeem it once within 10 s for the account and attributes,
//! `/cas/validate` answers CAS 1.0, `/cas/logout` signs out. Proxy tickets are not issued.

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use chrono::Duration;
use serde::Deserialize;
use sqlx::types::ipnetwork::IpNetwork;
use tower_sessions::Session;

use super::{
    Consent, claims, clients, continue_to, fresh_sign_in, login_first, ticket_hash, within_limit,
};
use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    identity::session::{AUTH_AT, ClientIp, DEVICE, MaybeUser},
    web::{AppState, page::Page},
};

/// How long a service ticket may wait to be validated.
pub const TICKET_TTL: Duration = Duration::seconds(10);
const MAX_URL: usize = 2000;

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    service: Option<String>,
    renew: Option<String>,
    gateway: Option<String>,
}

fn truthy(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| !v.is_empty() && v != "false")
}

pub async fn login(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    page: Page,
    uri: axum::http::Uri,
) -> AppResult<Response> {
    let Query(q) = Query::<LoginQuery>::try_from_uri(&uri)
        .map_err(|_| AppError::BadRequest("CAS 登录请求的参数无效"))?;
    let here = format!("/cas/login?{}", uri.query().unwrap_or_default());
    let Some(service) = q.service.filter(|s| !s.is_empty()) else {
        // No system named: CAS's own login, which is the hall's.
        return Ok(match user {
            Some(_) => axum::response::Redirect::to("/").into_response(),
            None => login_first(&here, false),
        });
    };
    if service.len() > MAX_URL {
        return Err(AppError::BadRequest("service 地址过长"));
    }
    let Some(client) = clients::for_service(&state.db, &service).await? else {
        return Err(AppError::BadRequest(
            "该系统未在统一身份认证登记，无法通过大厅登录。请联系系统管理员。",
        ));
    };
    let renew = truthy(&q.renew);
    let Some(user) = user else {
        if truthy(&q.gateway) {
            return Ok(continue_to(&state, &headers, &service, &client.name));
        }
        return Ok(login_first(&here, renew));
    };
    let fresh = fresh_sign_in(&state, &session).await?;
    if renew && !fresh {
        return Ok(login_first(&here, true));
    }
    let scopes = ["openid", "profile", "campus"].map(String::from).to_vec();
    if !client.internal && !super::consented(&state.db, user.id, client.id, &scopes).await? {
        return Ok(super::consent_page(
            page,
            &client,
            &scopes,
            Consent::Cas {
                service: service.clone(),
                renew,
            },
        ));
    }
    issue(
        &state, &session, &headers, user.id, ip, &client, &service, fresh,
    )
    .await
}

#[derive(Deserialize)]
pub struct ConsentForm {
    service: String,
    #[serde(default)]
    renew: String,
    decision: String,
}

/// 同意 / 拒绝 on the consent screen for a CAS service.
pub async fn consent(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<ConsentForm>,
) -> AppResult<Response> {
    let Some(user) = user else {
        return Ok(login_first(
            &format!("/cas/login?service={}", super::urlencode(&f.service)),
            false,
        ));
    };
    if f.service.len() > MAX_URL {
        return Err(AppError::BadRequest("service 地址过长"));
    }
    let Some(client) = clients::for_service(&state.db, &f.service).await? else {
        return Err(AppError::NotFound);
    };
    if f.decision != "allow" {
        Entry::user(user.id, "sso.consent_denied")
            .ip(ip)
            .detail(serde_json::json!({ "client": client.client_id }))
            .record(&state.db, state.now())
            .await?;
        return Ok(continue_to(&state, &headers, &f.service, &client.name));
    }
    let scopes = ["openid", "profile", "campus"].map(String::from).to_vec();
    super::record_consent(&state, user.id, &client, &scopes, ip).await?;
    let fresh = fresh_sign_in(&state, &session).await?;
    if !f.renew.is_empty() && !fresh {
        return Ok(login_first(
            &format!(
                "/cas/login?service={}&renew=true",
                super::urlencode(&f.service)
            ),
            true,
        ));
    }
    issue(
        &state, &session, &headers, user.id, ip, &client, &f.service, fresh,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn issue(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    user_id: i64,
    ip: Option<std::net::IpAddr>,
    client: &clients::Client,
    service: &str,
    fresh: bool,
) -> AppResult<Response> {
    let ticket = format!("ST-{}", clients::random_token());
    let device = session.get::<String>(DEVICE).await?;
    let now = state.now();
    sqlx::query(
        "INSERT INTO sso_tickets (hash, client_id, user_id, service, device, fresh, ip, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ticket_hash(&ticket))
    .bind(client.id)
    .bind(user_id)
    .bind(service)
    .bind(device)
    .bind(fresh)
    .bind(ip.map(IpNetwork::from))
    .bind(now + TICKET_TTL)
    .execute(&state.db)
    .await?;
    let mut target =
        url::Url::parse(service).map_err(|_| AppError::BadRequest("service 地址无效"))?;
    target.query_pairs_mut().append_pair("ticket", &ticket);
    Ok(continue_to(state, headers, target.as_str(), &client.name))
}

#[derive(Deserialize, Default)]
pub struct ValidateQuery {
    service: Option<String>,
    ticket: Option<String>,
    format: Option<String>,
    #[serde(rename = "pgtUrl")]
    pgt_url: Option<String>,
    renew: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TicketRow {
    client_id: i64,
    user_id: i64,
    service: String,
    device: Option<String>,
    fresh: bool,
    expires_at: chrono::DateTime<chrono::Utc>,
}

enum Outcome {
    Success {
        person: claims::Person,
        fresh: bool,
        auth_at: chrono::DateTime<chrono::Utc>,
    },
    Failure(&'static str, &'static str),
}

async fn validate(
    state: &AppState,
    q: &ValidateQuery,
    ip: Option<std::net::IpAddr>,
) -> AppResult<Outcome> {
    let (Some(service), Some(ticket)) = (
        q.service.as_deref().filter(|s| !s.is_empty()),
        q.ticket.as_deref().filter(|s| !s.is_empty()),
    ) else {
        return Ok(Outcome::Failure(
            "INVALID_REQUEST",
            "service 和 ticket 参数是必需的",
        ));
    };
    if !within_limit(state, "cas_validate", ip).await? {
        return Ok(Outcome::Failure(
            "INTERNAL_ERROR",
            "请求过于频繁，请稍后再试",
        ));
    }
    if !ticket.starts_with("ST-") || ticket.len() > 256 || service.len() > MAX_URL {
        return Ok(Outcome::Failure("INVALID_TICKET", "票据无效"));
    }
    let now = state.now();
    // Spent by this statement whatever follows: a ticket is tried once (CAS 3.0, 3.1.1).
    let row: Option<TicketRow> = sqlx::query_as(
        "UPDATE sso_tickets SET used_at = $2 WHERE hash = $1 AND used_at IS NULL
             RETURNING client_id, user_id, service, device, fresh, expires_at",
    )
    .bind(ticket_hash(ticket))
    .bind(now)
    .fetch_optional(&state.db)
    .await?;
    let Some(TicketRow {
        client_id,
        user_id,
        service: issued_for,
        device,
        fresh,
        expires_at,
    }) = row
    else {
        return Ok(Outcome::Failure("INVALID_TICKET", "票据无效或已使用"));
    };
    let client = clients::by_id(&state.db, client_id).await?;
    let Some(client) = client.filter(|c| c.enabled()) else {
        return Ok(Outcome::Failure("INVALID_SERVICE", "该系统已停用"));
    };
    if issued_for != service {
        Entry::user(user_id, "sso.cas_ticket_refused")
            .ip(ip)
            .failure()
            .detail(serde_json::json!({ "client": client.client_id, "why": "service" }))
            .record(&state.db, now)
            .await?;
        return Ok(Outcome::Failure(
            "INVALID_SERVICE",
            "票据不是签发给该 service 的",
        ));
    }
    if expires_at <= now {
        return Ok(Outcome::Failure("INVALID_TICKET", "票据已过期"));
    }
    if truthy(&q.renew) && !fresh {
        return Ok(Outcome::Failure("INVALID_TICKET", "票据并非来自重新登录"));
    }
    let Some(person) = claims::person(&state.db, user_id).await? else {
        return Ok(Outcome::Failure("INVALID_TICKET", "账号不可用"));
    };
    let mut tx = state.db.begin().await?;
    super::signins::record(
        &mut *tx,
        super::signins::New {
            user_id,
            client_id,
            protocol: "cas",
            ip: None,
            device: device.as_deref(),
            sid: None,
            session_index: Some(ticket),
            service: Some(service),
        },
        now,
    )
    .await?;
    Entry::user(user_id, "sso.sign_in")
        .detail(serde_json::json!({ "client": client.client_id, "protocol": "cas" }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(Outcome::Success {
        person,
        fresh,
        auth_at: expires_at - TICKET_TTL,
    })
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

fn render(outcome: &Outcome, json: bool, with_attributes: bool) -> Response {
    if json {
        let body = match outcome {
            Outcome::Success {
                person,
                fresh,
                auth_at,
            } => {
                let mut attrs = serde_json::Map::new();
                if with_attributes {
                    for (k, v) in claims::cas_attributes(person) {
                        let e = attrs.entry(k).or_insert_with(|| serde_json::json!([]));
                        if let Some(a) = e.as_array_mut() {
                            a.push(serde_json::json!(v));
                        }
                    }
                    attrs.insert("isFromNewLogin".into(), serde_json::json!([fresh]));
                    attrs.insert(
                        "authenticationDate".into(),
                        serde_json::json!([auth_at.to_rfc3339()]),
                    );
                }
                serde_json::json!({ "serviceResponse": { "authenticationSuccess": {
                    "user": person.account, "attributes": attrs } } })
            }
            Outcome::Failure(code, text) => serde_json::json!({ "serviceResponse": {
                "authenticationFailure": { "code": code, "description": text } } }),
        };
        return axum::Json(body).into_response();
    }
    let mut x = String::from("<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">\n");
    match outcome {
        Outcome::Success {
            person,
            fresh,
            auth_at,
        } => {
            x.push_str("  <cas:authenticationSuccess>\n");
            x.push_str(&format!(
                "    <cas:user>{}</cas:user>\n",
                xml_escape(&person.account)
            ));
            if with_attributes {
                x.push_str("    <cas:attributes>\n");
                x.push_str(&format!(
                    "      <cas:authenticationDate>{}</cas:authenticationDate>\n",
                    auth_at.to_rfc3339()
                ));
                x.push_str(&format!(
                    "      <cas:isFromNewLogin>{fresh}</cas:isFromNewLogin>\n"
                ));
                x.push_str("      <cas:longTermAuthenticationRequestTokenUsed>false</cas:longTermAuthenticationRequestTokenUsed>\n");
                for (k, v) in claims::cas_attributes(person) {
                    x.push_str(&format!("      <cas:{k}>{}</cas:{k}>\n", xml_escape(&v)));
                }
                x.push_str("    </cas:attributes>\n");
            }
            x.push_str("  </cas:authenticationSuccess>\n");
        }
        Outcome::Failure(code, text) => {
            x.push_str(&format!(
                "  <cas:authenticationFailure code=\"{code}\">{}</cas:authenticationFailure>\n",
                xml_escape(text)
            ));
        }
    }
    x.push_str("</cas:serviceResponse>\n");
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        x,
    )
        .into_response()
}

fn wants_json(q: &ValidateQuery) -> bool {
    q.format
        .as_deref()
        .is_some_and(|f| f.eq_ignore_ascii_case("json"))
}

/// `/cas/serviceValidate` and `/cas/p3/serviceValidate` (both with attributes, as CAS 3.0
/// servers do), and `/cas/proxyValidate`, which validates service tickets the same way
/// (this server issues no proxy tickets, so a `pgtUrl` gets no PGT).
pub async fn service_validate(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(q): Query<ValidateQuery>,
) -> AppResult<Response> {
    let _ = &q.pgt_url;
    let outcome = validate(&state, &q, ip).await?;
    Ok(render(&outcome, wants_json(&q), true))
}

/// CAS 1.0: `yes\n<account>\n` or `no\n`.
pub async fn validate_v1(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(q): Query<ValidateQuery>,
) -> AppResult<Response> {
    Ok(match validate(&state, &q, ip).await? {
        Outcome::Success { person, .. } => format!("yes\n{}\n", person.account),
        Outcome::Failure(..) => "no\n".to_owned(),
    }
    .into_response())
}

/// `/cas/proxy`: proxy tickets are not supported.
pub async fn proxy() -> Response {
    render(
        &Outcome::Failure("UNAUTHORIZED_SERVICE", "本服务器不签发代理票据"),
        false,
        false,
    )
}

#[derive(Deserialize, Default)]
pub struct LogoutQuery {
    service: Option<String>,
}

/// `/cas/logout`: the hall's 退出 (a confirmation page: GET changes nothing), returning to
/// `service` afterwards if it belongs to a registered system.
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    page: Page,
    Query(q): Query<LogoutQuery>,
) -> AppResult<Response> {
    let back = match q.service.filter(|s| s.len() <= MAX_URL) {
        Some(s) => clients::for_service(&state.db, &s)
            .await?
            .map(|c| (s, c.name)),
        None => None,
    };
    let _ = session.get::<i64>(AUTH_AT).await?;
    Ok(super::logout::confirm_page(page, None, back).into_response())
}
