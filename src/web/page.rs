//! What every page's layout (`base.html`) needs: portal name, the signed-in person, the
//! CSRF token for forms, one-time flash messages and asset URLs.

use std::sync::{Arc, Mutex};

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderValue, header, request::Parts},
    middleware::Next,
    response::Response,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{
    error::AppError,
    secret::SecretKey,
    web::AppState,
    web::user::{CSRF, CurrentUser},
};

/// One-time messages travel in a signed cookie, not in the session: showing "已通过。"
/// after a redirect then costs no session write on either request.
pub const FLASH_COOKIE: &str = "hall_flash";
const FLASH_TAG: &str = "flash v1";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Flash {
    /// "success" | "info" | "error"
    pub kind: String,
    pub text: String,
}

#[derive(Default)]
struct FlashBox {
    /// Arrived with the request, not yet shown.
    incoming: Vec<Flash>,
    taken: bool,
    /// Added by this request's handler, for the next page.
    outgoing: Vec<Flash>,
}

/// The request's flash messages (put in by `flash_cookies`).
#[derive(Clone, Default)]
pub struct Flashes(Arc<Mutex<FlashBox>>);

impl Flashes {
    pub fn push(&self, kind: &str, text: impl Into<String>) {
        self.0.lock().expect("flash lock").outgoing.push(Flash {
            kind: kind.into(),
            text: text.into(),
        });
    }

    fn take(&self) -> Vec<Flash> {
        let mut b = self.0.lock().expect("flash lock");
        b.taken = true;
        std::mem::take(&mut b.incoming)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Flashes {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Flashes>()
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("flash layer missing")))
    }
}

/// A message for the next page the person sees.
pub fn flash(f: &Flashes, kind: &str, text: impl Into<String>) {
    f.push(kind, text);
}

fn encode_flashes(key: &SecretKey, list: &[Flash]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json = serde_json::to_vec(list).unwrap_or_default();
    let tag = key.tag(FLASH_TAG, &json);
    format!("{}.{}", b64.encode(&json), b64.encode(tag))
}

/// The messages in a cookie value, if it carries our tag: a cookie planted by someone
/// else (say, from a sibling subdomain) shows nothing.
fn decode_flashes(key: &SecretKey, value: &str) -> Vec<Flash> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let Some((data, tag)) = value.split_once('.') else {
        return Vec::new();
    };
    let (Ok(json), Ok(tag)) = (b64.decode(data), b64.decode(tag)) else {
        return Vec::new();
    };
    if !key.verify_tag(FLASH_TAG, &json, &tag) {
        return Vec::new();
    }
    let mut list: Vec<Flash> = serde_json::from_slice(&json).unwrap_or_default();
    list.truncate(5);
    list
}

/// Reads the flash cookie into the request and writes the next one (or its removal) on
/// the response.
pub async fn flash_cookies(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let incoming = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == FLASH_COOKIE)
        .map(|(_, v)| decode_flashes(&state.secret_key, v));
    let had_cookie = incoming.is_some();
    let flashes = Flashes::default();
    flashes.0.lock().expect("flash lock").incoming = incoming.unwrap_or_default();
    req.extensions_mut().insert(flashes.clone());
    let mut res = next.run(req).await;
    let b = std::mem::take(&mut *flashes.0.lock().expect("flash lock"));
    // What was not shown yet stays for the next page (e.g. across a redirect).
    let mut keep = if b.taken { Vec::new() } else { b.incoming };
    keep.extend(b.outgoing);
    keep.truncate(5);
    let secure = if state.settings.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let cookie = if !keep.is_empty() {
        Some(format!(
            "{FLASH_COOKIE}={}; Path=/; Max-Age=300; HttpOnly; SameSite=Lax{secure}",
            encode_flashes(&state.secret_key, &keep)
        ))
    } else if had_cookie {
        Some(format!(
            "{FLASH_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"
        ))
    } else {
        None
    };
    if let Some(c) = cookie
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, AppError> {
    if let Some(t) = session.get::<String>(CSRF).await? {
        return Ok(t);
    }
    let t = new_token();
    session.insert(CSRF, &t).await?;
    Ok(t)
}

pub fn new_token() -> String {
    let bytes: [u8; 24] = rand::rngs::OsRng.r#gen();
    hex::encode(bytes)
}

#[derive(Clone)]
pub struct Page {
    pub portal_name: String,
    pub user: Option<CurrentUser>,
    pub csrf: String,
    pub flashes: Vec<Flash>,
    pub css: String,
    pub js: String,
    /// Current path, for the active nav item.
    pub path: String,
}

impl Page {
    /// For pages with a form that visitors submit (登录).
    pub async fn ensure_csrf(&mut self, session: &Session) -> Result<(), AppError> {
        if self.csrf.is_empty() {
            self.csrf = csrf_token(session).await?;
        }
        Ok(())
    }

    pub fn nav_class(&self, prefix: &str) -> &'static str {
        let active = if prefix == "/" {
            self.path == "/"
        } else {
            self.path.starts_with(prefix)
        };
        if active { "active" } else { "" }
    }
}

impl FromRequestParts<AppState> for Page {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
        let flashes = match parts.extensions.get::<Flashes>() {
            Some(f) => f.take(),
            None => Vec::new(),
        };
        let user = parts.extensions.get::<CurrentUser>().cloned();
        // Visitors get a session (a database row) only when a page needs a token for a
        // form (see `ensure_csrf`): browsing and crawlers write nothing.
        let csrf = if user.is_some() {
            csrf_token(&session).await?
        } else {
            session.get::<String>(CSRF).await?.unwrap_or_default()
        };
        Ok(Page {
            portal_name: state.settings.portal_name.clone(),
            user,
            csrf,
            flashes,
            css: state.assets.url("css/app.css"),
            js: state.assets.url("js/app.js"),
            path: parts.uri.path().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_cookie_round_trips_and_refuses_forgeries() {
        let key = SecretKey::from_secret("test");
        let list = vec![Flash {
            kind: "success".into(),
            text: "已通过。".into(),
        }];
        let value = encode_flashes(&key, &list);
        assert_eq!(decode_flashes(&key, &value), list);
        // Another key's cookie, an edited payload, garbage: nothing shown.
        let other = encode_flashes(&SecretKey::from_secret("other"), &list);
        assert!(decode_flashes(&key, &other).is_empty());
        let (_, tag) = value.split_once('.').unwrap();
        use base64::Engine;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"[{"kind":"error","text":"x"}]"#);
        assert!(decode_flashes(&key, &format!("{forged}.{tag}")).is_empty());
        assert!(decode_flashes(&key, "garbage").is_empty());
    }
}
