//! 扫码登录: the computer's login page shows a QR code (server-made SVG) for a URL on this
//! portal. A phone signed in to the portal opens it, sees 确认登录到电脑端？ with the
//! computer's browser and IP, and taps 允许; the computer, polling every second, is then
//! signed in. A code lives two minutes, works once, and only for the computer session that
//! asked for it (a secret kept in that session). A WeChat / WeCom OAuth provider can later
//! stand behind the same screen.
//!
//! Number matching: the computer shows a two-digit number and the phone offers three; only
//! the right one approves, and a wrong one voids the code. Someone who sends a victim the
//! `/qr/...` link (to be signed in as them) has to make them pick a number they cannot see,
//! and the page tells them never to take a number from anyone. The two decoys are derived
//! from the code, so reloading the page does not reveal the right one. What it does not
//! stop: a phishing page that relays a live code together with its number.

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
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::types::ipnetwork::IpNetwork;
use tower_sessions::Session;

use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    identity::{
        flow_state::FlowState,
        login::start_session,
        security::browser_label,
        session::{ClientIp, CurrentUser, MaybeUser, user_agent},
    },
    web::AppState,
    web::page::{Flashes, Page, flash, new_token},
};

const TAG: &str = "qr login v1";
const LIFETIME_SECS: i64 = 120;

/// The computer's current code, kept in its session: the row, the token its QR code
/// holds, and the bind secret only this session knows (the row keeps hashes of both).
#[derive(Serialize, Deserialize)]
struct QrState {
    id: i64,
    token: String,
    bind: String,
}

impl FlowState for QrState {
    const KEY: &'static str = "flow.qr";
}

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
    state.secret_key.tag(TAG, format!("{what}\0{v}").as_bytes())
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/qr_login.html")]
pub struct QrTemplate {
    pub page: Page,
    pub id: i64,
    pub expires_in: i64,
    /// The number the phone must pick.
    pub number: i16,
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

/// The session's current code if still fresh, else a new one: (id, seconds left, number).
async fn current_or_new(
    state: &AppState,
    session: &Session,
    ip: Option<std::net::IpAddr>,
    ua: &str,
) -> AppResult<(i64, i64, i16)> {
    let now = state.now();
    if let Some(QrState { id, .. }) = QrState::load(session).await? {
        let left: Option<(f64, i16)> = sqlx::query_as(
            "SELECT extract(epoch FROM expires_at - $2)::float8, match_number FROM qr_logins
             WHERE id = $1 AND expires_at > $2 AND consumed_at IS NULL AND denied_at IS NULL
               AND match_number BETWEEN 10 AND 99",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&state.db)
        .await?;
        if let Some((left, number)) = left
            && left > 20.0
        {
            return Ok((id, left as i64, number));
        }
    }
    let token = new_token();
    let bind = new_token();
    let number: i16 = {
        use rand::Rng;
        rand::rngs::OsRng.gen_range(10..=99)
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO qr_logins (token_hash, bind_hash, created_at, expires_at, computer_ip, computer_ua, match_number)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(hash(state, "token", &token))
    .bind(hash(state, "bind", &bind))
    .bind(now)
    .bind(now + chrono::Duration::seconds(LIFETIME_SECS))
    .bind(ip.map(IpNetwork::from))
    .bind(ua)
    .bind(number)
    .fetch_one(&state.db)
    .await?;
    QrState { id, token, bind }.save(session).await?;
    Ok((id, LIFETIME_SECS, number))
}

/// The three numbers the phone offers for a code whose number is `number`: it and two
/// decoys, all two-digit and different, in an order. Derived from the code (keyed), so
/// every view of one code shows the same three.
fn choices(state: &AppState, token: &str, number: i16) -> [i16; 3] {
    choices_from(&hash(state, "choices", token), number)
}

/// `choices` from the keyed hash `seed`. Every decoy is equally likely (bytes from 180 up
/// are skipped, as 256 is no multiple of 90), so no value gives the right one away.
fn choices_from(seed: &[u8], number: i16) -> [i16; 3] {
    let mut out = vec![number];
    let mut position = None;
    for b in seed.iter().copied() {
        if out.len() < 3 {
            if b < 180 {
                let n = 10 + i16::from(b) % 90;
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        } else if b < 255 {
            position = Some(usize::from(b) % 3);
            break;
        }
    }
    // 32 bytes practically always suffice; fill deterministically if not.
    let mut n = 10;
    while out.len() < 3 {
        if !out.contains(&n) {
            out.push(n);
        }
        n += 1;
    }
    out.swap(0, position.unwrap_or(0));
    [out[0], out[1], out[2]]
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
    let (id, expires_in, number) =
        current_or_new(&state, &session, ip, &user_agent(&headers)).await?;
    let token = QrState::load(&session)
        .await?
        .map(|q| q.token)
        .unwrap_or_default();
    Ok(QrTemplate {
        page,
        id,
        expires_in,
        number,
        url: code_url(&state, &token)?.to_string(),
    }
    .into_response())
}

/// The QR image of this session's code (no code: 404).
async fn qr_svg(State(state): State<AppState>, session: Session) -> AppResult<Response> {
    let Some(QrState { token, .. }) = QrState::load(&session).await? else {
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
    let Some(QrState { id, bind, .. }) = QrState::load(&session).await? else {
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
    pub choices: [i16; 3],
}

type Pending = (i64, Option<IpNetwork>, String, i16);

async fn pending(state: &AppState, token: &str) -> sqlx::Result<Option<Pending>> {
    sqlx::query_as(
        "SELECT id, computer_ip, computer_ua, match_number FROM qr_logins
         WHERE token_hash = $1 AND expires_at > $2 AND approved_at IS NULL AND denied_at IS NULL
           AND consumed_at IS NULL AND match_number BETWEEN 10 AND 99",
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
        choices: p
            .as_ref()
            .map(|p| choices(&state, &token, p.3))
            .unwrap_or_default(),
        token,
    }
    .into_response())
}

/// What a decision did.
#[derive(PartialEq, Debug)]
enum Decided {
    Approved,
    Denied,
    /// The wrong number: the code is void.
    Mismatch,
    /// Expired, used or decided already.
    Gone,
}

/// Approves (with the number picked, `Some`) or denies (`None`) a pending code. A wrong
/// number voids the code in the same statement: one guess only.
async fn decide(
    state: &AppState,
    user: &CurrentUser,
    token: &str,
    ip: Option<std::net::IpAddr>,
    picked: Option<i16>,
) -> AppResult<Decided> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let row: Option<(i64, bool)> = sqlx::query_as(if picked.is_some() {
        "UPDATE qr_logins SET
                approved_by = CASE WHEN match_number = $4 THEN $2 END,
                approved_at = CASE WHEN match_number = $4 THEN $3 END,
                approved_epoch = CASE WHEN match_number = $4
                                 THEN (SELECT auth_epoch FROM users WHERE id = $2) END,
                denied_at = CASE WHEN match_number = $4 THEN NULL ELSE $3 END
         WHERE token_hash = $1 AND expires_at > $3 AND approved_at IS NULL AND denied_at IS NULL
           AND consumed_at IS NULL AND match_number BETWEEN 10 AND 99
         RETURNING id, match_number = $4"
    } else {
        "UPDATE qr_logins SET denied_at = $3
         WHERE token_hash = $1 AND expires_at > $3 AND approved_at IS NULL AND denied_at IS NULL
           AND consumed_at IS NULL AND $2::int8 IS NOT NULL AND $4::int2 IS NULL
         RETURNING id, false"
    })
    .bind(hash(state, "token", token))
    .bind(user.id)
    .bind(now)
    .bind(picked)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, matched)) = row else {
        tx.commit().await?;
        return Ok(Decided::Gone);
    };
    let decided = match (picked, matched) {
        (Some(_), true) => Decided::Approved,
        (Some(_), false) => Decided::Mismatch,
        (None, _) => Decided::Denied,
    };
    let action = if decided == Decided::Denied {
        "qr.deny"
    } else {
        "qr.approve"
    };
    let mut entry = Entry::about(format!("qr_login:{id}"), action)
        .by(Some(user.id))
        .ip(ip);
    if decided == Decided::Mismatch {
        entry = entry
            .failure()
            .detail(json!({ "reason": "number_mismatch" }));
    }
    entry.record(&mut *tx, now).await?;
    tx.commit().await?;
    Ok(decided)
}

#[derive(Deserialize)]
pub struct Pick {
    /// The number tapped; anything unparsable counts as a wrong pick.
    #[serde(default)]
    n: String,
}

async fn approve(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Form(pick): Form<Pick>,
) -> AppResult<Response> {
    let picked = pick.n.trim().parse::<i16>().unwrap_or(-1);
    match decide(&state, &user, &token, ip, Some(picked)).await? {
        Decided::Approved => flash(&flashes, "success", "已允许，电脑端即将登录。"),
        Decided::Mismatch => flash(
            &flashes,
            "error",
            "所选数字与电脑上显示的不一致，本次扫码已作废，电脑端不会登录。如果有人让您选择某个数字，那很可能是诈骗。",
        ),
        Decided::Denied | Decided::Gone => flash(
            &flashes,
            "error",
            "二维码已失效，请在电脑上刷新后重新扫码。",
        ),
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
    decide(&state, &user, &token, ip, None).await?;
    flash(&flashes, "info", "已取消，电脑端不会登录。");
    Ok(Redirect::to("/").into_response())
}

#[cfg(test)]
mod tests {
    use super::choices_from;

    /// Over many seeds: three different two-digit numbers, the right one among them, in
    /// each position about as often, and decoys spread over the whole range.
    #[test]
    fn choices_hold_the_number_and_two_fair_decoys() {
        use sha2::{Digest, Sha256};
        let mut at = [0u32; 3];
        let mut seen = std::collections::BTreeSet::<i16>::new();
        for i in 0..3000u32 {
            let seed = Sha256::digest(i.to_le_bytes());
            let number = 10 + (i % 90) as i16;
            let c = choices_from(&seed, number);
            assert!(c.iter().all(|n| (10..=99).contains(n)), "{c:?}");
            assert!(c[0] != c[1] && c[1] != c[2] && c[0] != c[2], "{c:?}");
            let p = c
                .iter()
                .position(|n| *n == number)
                .expect("the number is offered");
            at[p] += 1;
            seen.extend(c.iter().filter(|n| **n != number));
        }
        assert!(at.iter().all(|n| (850..=1150).contains(n)), "{at:?}");
        assert_eq!(seen.len(), 90, "every two-digit number can be a decoy");
        // Deterministic: the same seed, the same three.
        let seed = Sha256::digest(b"x");
        assert_eq!(choices_from(&seed, 42), choices_from(&seed, 42));
    }
}
