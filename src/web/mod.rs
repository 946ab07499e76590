//! The web kernel: the layers every request passes through, the page context, the
//! signed-in person's extractors, flash messages, static files and error pages. It imports
//! no feature module; `crate::routes` assembles the features' routers with these layers.

pub mod assets;
pub mod errors;
pub mod limit;
pub mod middleware;
pub mod page;
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

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(&state.db)
        .await
    {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
