//! What every page's layout (`base.html`) needs: portal name, the signed-in person, the
//! CSRF token for forms, one-time flash messages and asset URLs.

use axum::{extract::FromRequestParts, http::request::Parts};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{
    error::AppError,
    identity::session::{CSRF, CurrentUser},
    state::AppState,
};

const FLASH: &str = "flash";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flash {
    /// "success" | "info" | "error"
    pub kind: String,
    pub text: String,
}

pub async fn flash(session: &Session, kind: &str, text: impl Into<String>) -> Result<(), AppError> {
    let mut list: Vec<Flash> = session.get(FLASH).await?.unwrap_or_default();
    list.push(Flash {
        kind: kind.into(),
        text: text.into(),
    });
    session.insert(FLASH, list).await?;
    Ok(())
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
        // `remove` marks the session modified even when there is nothing to remove.
        let flashes: Vec<Flash> = match session.get::<Vec<Flash>>(FLASH).await? {
            Some(f) => {
                session.remove_value(FLASH).await?;
                f
            }
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
