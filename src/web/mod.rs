//! The web kernel: the layers every request passes through, the page context, the
//! signed-in person's extractors, flash messages, static files and error pages. It imports
//! no feature module; `crate::routes` assembles the features' routers with these layers.

pub mod assets;
pub mod errors;
pub mod export;
pub mod limit;
pub mod memo;
pub mod middleware;
pub mod page;
pub mod retry;
pub mod state;
pub mod user;

use axum::{extract::State, http::StatusCode, response::IntoResponse};

use crate::error::AppError;
pub use state::AppState;

pub const SESSION_COOKIE: &str = "hall_session";

pub async fn not_found() -> AppError {
    AppError::NotFound
}

pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when a statement goes through within 2 s, else 503 with `Retry-After` (a load
/// balancer takes the instance out while its database is unreachable).
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let check = crate::db::health::retry_sqlx("readiness check", || {
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.db)
    });
    let failure = match tokio::time::timeout(std::time::Duration::from_secs(2), check).await {
        Ok(Ok(_)) => return (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".to_owned(),
    };
    tracing::warn!(error = %failure, "readiness check failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(
            axum::http::header::RETRY_AFTER,
            crate::error::RETRY_AFTER_SECS.to_string(),
        )],
        "database unavailable",
    )
        .into_response()
}
