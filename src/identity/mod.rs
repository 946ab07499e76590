//! Accounts and signing in: login with lockout and throttling, logout, password change.

pub mod accounts;
pub mod alerts;
pub mod codes;
pub mod email;
mod flow_state;
pub mod flows;
pub mod idcard;
pub mod lockout;
pub mod login;
pub mod password;
pub mod qr;
pub mod reconfirm;
pub mod security;
pub mod session;
pub mod set_password;
pub mod sso;
pub mod store;

use axum::{Router, routing::get};

use crate::web::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(flows::routes())
        .merge(security::routes())
        .merge(qr::routes())
        .merge(email::routes())
        .merge(sso::routes())
        .route("/login", get(login::login_page).post(login::login))
        .route(
            "/password/change",
            get(login::change_password_page).post(login::change_password),
        )
}

/// Deletes what the identity flows no longer need: send and check counters past their
/// windows, spent or expired codes, QR codes and e-mail links. Run hourly by the worker.
pub async fn housekeeping(
    db: &sqlx::PgPool,
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<()> {
    for sql in [
        "DELETE FROM code_sends WHERE at < $1 - interval '2 days'",
        "DELETE FROM identity_checks WHERE at < $1 - interval '2 days'",
        "DELETE FROM one_time_codes WHERE expires_at < $1 - interval '1 day'",
        "DELETE FROM qr_logins WHERE expires_at < $1 - interval '1 day'",
        "DELETE FROM email_links WHERE expires_at < $1 - interval '7 days'",
    ] {
        sqlx::query(sql).bind(now).execute(db).await?;
    }
    sso::housekeeping(db, now).await
}
