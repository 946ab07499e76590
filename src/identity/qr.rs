//! 扫码登录: the computer's login page shows a QR code (server-made SVG) for a URL on this
//! portal. A phone signed in to the portal opens it, sees 确认登录到电脑端？ with the
//! computer's browser and IP, and taps 允许; the computer, polling every second, is then
//! signed in. A code lives two minutes, works once, and only for the computer session that
//! asked for it (a secret kept in that session). A WeChat / WeCom OAuth provider can later
//! stand behind the same screen.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use qrcode::{QrCode, render::svg};
use serde::Deserialize;
use serde_json::json;
use sqlx::types::ipnetwork::IpNetwork;
use tower_sessions::Session;

use crate::{
    audit::{self, Entry, Outcome},
    error::{AppError, AppResult},
    identity::{
        login::start_session,
        security::browser_label,
        session::{ClientIp, CurrentUser, MaybeUser, user_agent},
    },
    state::AppState,
    web::page::{Flashes, Page, flash, new_token},
};

const TAG: &str = "qr login v1";
const QR_ID: &str = "qr.id";
const QR_TOKEN: &str = "qr.token";
const QR_BIND: &str = "qr.bind";
const LIFETIME_SECS: i64 = 120;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login/qr", get(qr_page))
        .route("/login/qr.svg", get(qr_svg))
        .route("/login/qr/poll", post(poll))
        .route("/qr/{token}", get(confirm_page))
        .route("/qr/{token}/approve", post(approve))
        .route("/qr/{token}/deny", post(deny))
}

fn hash(state: &AppState, what: &str, v: &str) -> Vec<u8> {
    state.id_key.tag(TAG, format!("{what}\0{v}").as_bytes())
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/qr_login.html")]
pub struct QrTemplate {
    pub page: Page,
    pub id: i64,
    pub expires_in: i64,
    /// What the QR code holds, also as text for people who cannot scan.
    pub url: String,
}

fn code_url(state: &AppState, token: &str) -> AppResult<url::Url> {
    state
        .settings
        .base_url
        .join(&format!("qr/{token}"))
        .map_err(|e| AppError::Internal(e.into()))
}

/// The session's current code if still fresh, else a new one.
async fn current_or_new(
    state: &AppState,
    session: &Session,
    ip: Option<std::net::IpAddr>,
    ua: &str,
) -> AppResult<(i64, i64)> {
    let now = state.now();
    if let (Some(id), Some(_)) = (
        session.get::<i64>(QR_ID).await?,
        session.get::<String>(QR_TOKEN).await?,
    ) {
        let left: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM expires_at - $2)::float8 FROM qr_logins
             WHERE id = $1 AND expires_at > $2 AND consumed_at IS NULL AND denied_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&state.db)
        .await?;
        if let Some(left) = left
            && left > 20.0
        {
            return Ok((id, left as i64));
        }
    }
    let token = new_token();
    let bind = new_token();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO qr_logins (token_hash, bind_hash, created_at, expires_at, computer_ip, computer_ua)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(hash(state, "token", &token))
    .bind(hash(state, "bind", &bind))
    .bind(now)
    .bind(now + chrono::Duration::seconds(LIFETIME_SECS))
    .bind(ip.map(IpNetwork::from))
    .bind(ua)
    .fetch_one(&state.db)
    .await?;
    session.insert(QR_ID, id).await?;
    session.insert(QR_TOKEN, token).await?;
    session.insert(QR_BIND, bind).await?;
    Ok((id, LIFETIME_SECS))
}

async fn qr_page(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    mut page: Page,
) -> AppResult<Response> {
    if user.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    page.ensure_csrf(&session).await?;
    let (id, expires_in) = current_or_new(&state, &session, ip, &user_agent(&headers)).await?;
    let token = session.get::<String>(QR_TOKEN).await?.unwrap_or_default();
    Ok(QrTemplate {
        page,
        id,
        expires_in,
        url: code_url(&state, &token)?.to_string(),
    }
    .into_response())
}

/// The QR image of this session's code (no code: 404).
async fn qr_svg(State(state): State<AppState>, session: Session) -> AppResult<Response> {
    let Some(token) = session.get::<String>(QR_TOKEN).await? else {
        return Err(AppError::NotFound);
    };
    let url = code_url(&state, &token)?;
    let code =
        QrCode::new(url.as_str().as_bytes()).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(220, 220)
        .dark_color(svg::Color("#1f2d3d"))
        .light_color(svg::Color("#ffffff"))
        .build();
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        image,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct Empty {}

/// The computer asks whether its code was approved; if so, it is signed in now.
async fn poll(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> AppResult<Response> {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let answer = |s: &str| {
        if wants_json {
            Json(json!({ "state": s })).into_response()
        } else if s == "ok" {
            Redirect::to("/").into_response()
        } else {
            Redirect::to("/login/qr").into_response()
        }
    };
    let (Some(id), Some(bind)) = (
        session.get::<i64>(QR_ID).await?,
        session.get::<String>(QR_BIND).await?,
    ) else {
        return Ok(answer("expired"));
    };
    let now = state.now();
    // Consumed in the same statement that checks it: two polls cannot both sign in.
    let row: Option<(i64, i32)> = sqlx::query_as(
        "UPDATE qr_logins q SET consumed_at = $3
         FROM users u
         WHERE q.id = $1 AND q.bind_hash = $2 AND q.approved_by = u.id AND u.status = 'active'
           AND q.approved_epoch = u.auth_epoch
           AND q.consumed_at IS NULL AND q.denied_at IS NULL AND q.expires_at > $3
         RETURNING u.id, u.auth_epoch",
    )
    .bind(id)
    .bind(hash(&state, "bind", &bind))
    .bind(now)
    .fetch_optional(&state.db)
    .await?;
    let Some((uid, epoch)) = row else {
        let st: Option<(bool, bool)> = sqlx::query_as(
            "SELECT expires_at <= $2 OR consumed_at IS NOT NULL, denied_at IS NOT NULL
             FROM qr_logins WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&state.db)
        .await?;
        return Ok(answer(match st {
            Some((false, false)) => "pending",
            Some((_, true)) => "denied",
            _ => "expired",
        }));
    };
    start_session(
        &state,
        &session,
        uid,
        epoch,
        ip,
        &user_agent(&headers),
        "qr",
    )
    .await?;
    Ok(answer("ok"))
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/qr_confirm.html")]
pub struct ConfirmTemplate {
    pub page: Page,
    pub token: String,
    pub browser: String,
    pub ip: String,
    pub valid: bool,
}

type Pending = (i64, Option<IpNetwork>, String);

async fn pending(state: &AppState, token: &str) -> sqlx::Result<Option<Pending>> {
    sqlx::query_as(
        "SELECT id, computer_ip, computer_ua FROM qr_logins
         WHERE token_hash = $1 AND expires_at > $2 AND approved_at IS NULL AND denied_at IS NULL
           AND consumed_at IS NULL",
    )
    .bind(hash(state, "token", token))
    .bind(state.now())
    .fetch_optional(&state.db)
    .await
}

/// On the phone (signed in; else 登录 brings the person back here).
async fn confirm_page(
    State(state): State<AppState>,
    _user: CurrentUser,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let p = pending(&state, &token).await?;
    Ok(ConfirmTemplate {
        page,
        browser: p.as_ref().map(|p| browser_label(&p.2)).unwrap_or_default(),
        ip: p
            .as_ref()
            .and_then(|p| p.1.map(|i| i.ip().to_string()))
            .unwrap_or_default(),
        valid: p.is_some(),
        token,
    }
    .into_response())
}

async fn decide(
    state: &AppState,
    user: &CurrentUser,
    token: &str,
    ip: Option<std::net::IpAddr>,
    allow: bool,
) -> AppResult<bool> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(if allow {
        "UPDATE qr_logins SET approved_by = $2, approved_at = $3,
                approved_epoch = (SELECT auth_epoch FROM users WHERE id = $2)
         WHERE token_hash = $1 AND expires_at > $3 AND approved_at IS NULL AND denied_at IS NULL
           AND consumed_at IS NULL RETURNING id"
    } else {
        "UPDATE qr_logins SET denied_at = $3
         WHERE token_hash = $1 AND expires_at > $3 AND approved_at IS NULL AND denied_at IS NULL
           AND consumed_at IS NULL AND $2::int8 IS NOT NULL RETURNING id"
    })
    .bind(hash(state, "token", token))
    .bind(user.id)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = id {
        audit::record(
            &mut tx,
            Entry {
                at: now,
                actor_id: Some(user.id),
                action: if allow { "qr.approve" } else { "qr.deny" },
                target: &format!("qr_login:{id}"),
                ip,
                outcome: Outcome::Success,
                details: json!({}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(id.is_some())
}

async fn approve(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Form(_): Form<Empty>,
) -> AppResult<Response> {
    if decide(&state, &user, &token, ip, true).await? {
        flash(&flashes, "success", "已允许，电脑端即将登录。");
    } else {
        flash(
            &flashes,
            "error",
            "二维码已失效，请在电脑上刷新后重新扫码。",
        );
    }
    Ok(Redirect::to("/").into_response())
}

async fn deny(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Form(_): Form<Empty>,
) -> AppResult<Response> {
    decide(&state, &user, &token, ip, false).await?;
    flash(&flashes, "info", "已取消，电脑端不会登录。");
    Ok(Redirect::to("/").into_response())
}
