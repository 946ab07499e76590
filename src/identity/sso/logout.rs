//! Signing out of the hall and of the systems signed in to through it: the hall's 退出
//! offers to sign out of them too; a system's own logout (`/cas/logout`, OIDC's
//! end-session endpoint) asks for confirmation, then signs out of the hall and every system
//! of that session. OIDC systems are told in hidden frames (front-channel logout), CAS
//! systems by a `logoutRequest` posted to their service URL (CAS single logout).

use std::{net::IpAddr, time::Duration};

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{clients, signins};
use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    identity::session::{CSRF, ClientIp, DEVICE, MaybeUser},
    web::{
        AppState,
        page::{Flashes, Page, flash, new_token},
    },
};

/// Session key (in the signed-out session) of the systems the 退出 page offers to end:
/// the person and their sign-in ids.
const PENDING: &str = "sso.pending_logout";

#[derive(Template, WebTemplate)]
#[template(path = "identity/sso_logout_confirm.html")]
pub struct ConfirmTemplate {
    pub page: Page,
    /// The system asking (OIDC), if known.
    pub client_id: String,
    pub back: String,
    pub back_name: String,
    pub state: String,
}

/// "退出网上办事服务大厅？" for a system's logout request; `back`: where to return after
/// (already checked to belong to a registered system) and that system's name.
pub fn confirm_page(
    page: Page,
    client: Option<&clients::Client>,
    back: Option<(String, String)>,
) -> ConfirmTemplate {
    confirm_with_state(page, client, back, String::new())
}

pub fn confirm_with_state(
    page: Page,
    client: Option<&clients::Client>,
    back: Option<(String, String)>,
    state: String,
) -> ConfirmTemplate {
    let (back, back_name) = back.unwrap_or_default();
    ConfirmTemplate {
        page,
        client_id: client.map(|c| c.client_id.clone()).unwrap_or_default(),
        back,
        back_name,
        state,
    }
}

/// Ends the hall session: the audit entry, 安全中心's device row, the session row. Returns
/// the person and the systems still signed in from this session.
pub async fn end_hall_session(
    state: &AppState,
    session: &Session,
    user: Option<i64>,
    ip: Option<IpAddr>,
) -> AppResult<Vec<signins::Open>> {
    if let Some(u) = user {
        Entry::user(u, "logout")
            .ip(ip)
            .record(&state.db, state.now())
            .await?;
    }
    let mut open = Vec::new();
    if let Some(device) = session.get::<String>(DEVICE).await? {
        sqlx::query("UPDATE sign_ins SET ended_at = $2 WHERE device = $1 AND ended_at IS NULL")
            .bind(&device)
            .bind(state.now())
            .execute(&state.db)
            .await?;
        if user.is_some() {
            open = signins::open_for_device(&state.db, &device).await?;
        }
    }
    // Deletes the session row: the old cookie is worthless from now on.
    session.flush().await?;
    Ok(open)
}

/// The hall's own 退出 (POST /logout). With systems signed in from this session, the next
/// page offers to sign out of them as well.
pub async fn hall_logout(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    MaybeUser(user): MaybeUser,
) -> AppResult<Response> {
    let uid = user.as_ref().map(|u| u.id);
    let open = end_hall_session(&state, &session, uid, ip).await?;
    flash(&flashes, "success", "您已安全退出。");
    if let (Some(uid), false) = (uid, open.is_empty()) {
        let ids: Vec<i64> = open.iter().map(|o| o.id).collect();
        session.insert(PENDING, (uid, ids)).await?;
        session.insert(CSRF, new_token()).await?;
        return Ok(Redirect::to("/logout/systems").into_response());
    }
    Ok(Redirect::to("/").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/sso_logout_offer.html")]
pub struct OfferTemplate {
    pub page: Page,
    pub systems: Vec<String>,
}

/// GET /logout/systems: "您还登录了以下系统".
pub async fn offer(
    State(state): State<AppState>,
    session: Session,
    mut page: Page,
) -> AppResult<Response> {
    let Some((uid, ids)) = session.get::<(i64, Vec<i64>)>(PENDING).await? else {
        return Ok(Redirect::to("/").into_response());
    };
    page.ensure_csrf(&session).await?;
    let systems: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT c.name FROM sso_sign_ins s JOIN sso_clients c ON c.id = s.client_id
          WHERE s.id = ANY($1) AND s.user_id = $2 AND s.logged_out_at IS NULL ORDER BY c.name",
    )
    .bind(&ids)
    .bind(uid)
    .fetch_all(&state.db)
    .await?;
    if systems.is_empty() {
        session.remove::<(i64, Vec<i64>)>(PENDING).await?;
        return Ok(Redirect::to("/").into_response());
    }
    Ok(OfferTemplate { page, systems }.into_response())
}

/// POST /logout/systems: signs out of the systems the 退出 page listed.
pub async fn offer_accept(
    State(state): State<AppState>,
    session: Session,
    page: Page,
) -> AppResult<Response> {
    let Some((uid, ids)) = session.remove::<(i64, Vec<i64>)>(PENDING).await? else {
        return Ok(Redirect::to("/").into_response());
    };
    let ended = signins::end(&state.db, uid, &ids, state.now()).await?;
    Ok(done_page(&state, page, ended, None))
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/sso_logout_done.html")]
pub struct DoneTemplate {
    pub page: Page,
    pub systems: Vec<String>,
    pub frames: Vec<String>,
    pub back: String,
    pub back_name: String,
}

/// The page that tells each OIDC system in a hidden frame and each CAS system by a posted
/// `logoutRequest`, then offers the way back (`back`, already checked).
fn done_page(
    state: &AppState,
    page: Page,
    ended: Vec<signins::Open>,
    back: Option<(String, String)>,
) -> Response {
    let issuer = super::issuer(state);
    let mut frames = Vec::new();
    let mut origins: Vec<String> = Vec::new();
    let mut systems: Vec<String> = Vec::new();
    for o in &ended {
        if !systems.contains(&o.system) {
            systems.push(o.system.clone());
        }
        match o.protocol.as_str() {
            "oidc" => {
                let (Some(uri), Some(sid)) = (&o.frontchannel_logout_uri, &o.sid) else {
                    continue;
                };
                let Ok(mut u) = url::Url::parse(uri) else {
                    continue;
                };
                u.query_pairs_mut()
                    .append_pair("iss", &issuer)
                    .append_pair("sid", sid);
                let origin = u.origin().ascii_serialization();
                if !origins.contains(&origin) {
                    origins.push(origin);
                }
                frames.push(u.to_string());
            }
            _ => {
                if let (Some(service), Some(index)) = (o.service.clone(), o.session_index.clone()) {
                    tokio::spawn(post_cas_logout(service, index, state.now()));
                }
            }
        }
    }
    let (back, back_name) = back.unwrap_or_default();
    let mut res = DoneTemplate {
        page,
        systems,
        frames,
        back,
        back_name,
    }
    .into_response();
    if !origins.is_empty() {
        // The frames' origins, on this page only (the hall's own policy allows no frames).
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-src {}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'",
            origins.join(" ")
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    res
}

/// CAS single logout: POST `logoutRequest` to the service URL the ticket was issued for.
/// Best effort, as the protocol has it: a system that is down keeps its own session.
async fn post_cas_logout(
    service: String,
    session_index: String,
    now: chrono::DateTime<chrono::Utc>,
) {
    let id = format!("LR-{}", super::clients::random_token());
    let body = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"{}\"><saml:NameID>@NOT_USED@</saml:NameID>\
         <samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>",
        now.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build();
    let Ok(client) = client else { return };
    let r = client
        .post(&service)
        .form(&[("logoutRequest", body)])
        .send()
        .await;
    if let Err(e) = r {
        // The URL only: its query may carry personal data.
        let host = url::Url::parse(&service)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        tracing::warn!(host, error = %e.without_url(), "CAS single logout not delivered");
    }
}

#[derive(Deserialize)]
pub struct SystemLogoutForm {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    back: String,
    #[serde(default)]
    state: String,
}

/// POST /sso/logout: a system's logout, confirmed: the hall and every system of this
/// session are signed out, then back to the system if its address was registered.
pub async fn system_logout(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    MaybeUser(user): MaybeUser,
    Form(f): Form<SystemLogoutForm>,
) -> AppResult<Response> {
    let back = checked_back(&state, &f.client_id, &f.back, &f.state).await?;
    let uid = user.as_ref().map(|u| u.id);
    let open = end_hall_session(&state, &session, uid, ip).await?;
    let ended = match uid {
        Some(uid) => {
            let ids: Vec<i64> = open.iter().map(|o| o.id).collect();
            signins::end(&state.db, uid, &ids, state.now()).await?
        }
        None => Vec::new(),
    };
    // A fresh, anonymous page context: the person is signed out now.
    let page = Page {
        portal_name: state.settings.portal_name.clone(),
        user: None,
        csrf: String::new(),
        flashes: Vec::new(),
        css: state.assets.url("css/app.css"),
        js: state.assets.url("js/app.js"),
        path: "/sso/logout".into(),
    };
    Ok(done_page(&state, page, ended, back))
}

/// The return address of a system's logout, if it is registered for that system: an
/// OIDC post-logout redirect URI (with `state`), or a CAS service URL.
async fn checked_back(
    state: &AppState,
    client_id: &str,
    back: &str,
    st: &str,
) -> AppResult<Option<(String, String)>> {
    if back.is_empty() {
        return Ok(None);
    }
    if back.len() > 2000 || st.len() > 500 {
        return Err(AppError::BadRequest("返回地址过长"));
    }
    if !client_id.is_empty() {
        let c = clients::by_client_id(&state.db, client_id).await?;
        return Ok(c
            .filter(|c| c.enabled() && c.post_logout_redirect_uris.iter().any(|u| u == back))
            .and_then(|c| {
                let mut u = url::Url::parse(back).ok()?;
                if !st.is_empty() {
                    u.query_pairs_mut().append_pair("state", st);
                }
                Some((u.to_string(), c.name))
            }));
    }
    Ok(clients::for_service(&state.db, back)
        .await?
        .map(|c| (back.to_owned(), c.name)))
}
