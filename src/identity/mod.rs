//! Accounts and signing in: login with lockout and throttling, logout, password change.

pub mod codes;
pub mod email;
pub mod flows;
pub mod idcard;
pub mod login;
pub mod password;
pub mod qr;
pub mod security;
pub mod session;

use axum::{Router, routing::get};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(flows::routes())
        .merge(security::routes())
        .merge(qr::routes())
        .merge(email::routes())
        .route("/login", get(login::login_page).post(login::login))
        .route("/logout", axum::routing::post(login::logout))
        .route(
            "/password/change",
            get(login::change_password_page).post(login::change_password),
        )
}
