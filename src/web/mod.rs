//! Router assembly and the layers every request passes through.

pub mod assets;
pub mod errors;
pub mod limit;
pub mod middleware;
pub mod page;

use std::time::Duration;

use crate::identity::store::PgSessionStore;
use axum::{
    Router,
    extract::State,
    http::StatusCode,
    middleware::{from_fn, from_fn_with_state},
    response::IntoResponse,
    routing::get,
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};

use crate::{error::AppError, state::AppState};

pub const SESSION_COOKIE: &str = "hall_session";

pub fn router(state: AppState, store: PgSessionStore) -> Router {
    let settings = &state.settings;
    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.secure_cookies())
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(
            time::Duration::try_from(settings.session_idle).unwrap_or(time::Duration::minutes(30)),
        ));

    let pages = Router::new()
        .merge(crate::home::routes())
        .merge(crate::identity::routes())
        .merge(crate::catalog::routes())
        .merge(
            // Forms with attachments: the body may hold every file of an application.
            crate::workflow::handlers::routes().layer(axum::extract::DefaultBodyLimit::max(
                (settings.upload_max_total + 2 * 1024 * 1024) as usize,
            )),
        )
        .merge(crate::center::routes())
        .merge(crate::notify::inbox::routes())
        .merge(crate::admin::routes())
        .fallback(not_found)
        // Innermost first: panics become marked 500s, then the CSRF check, then the
        // styled error pages around both.
        .layer(CatchPanicLayer::custom(errors::panic_response))
        .layer(from_fn_with_state(state.clone(), middleware::csrf))
        .layer(from_fn_with_state(
            state.clone(),
            errors::render_error_pages,
        ))
        .layer(from_fn_with_state(
            state.clone(),
            crate::identity::session::load_user,
        ))
        .layer(from_fn_with_state(state.clone(), page::flash_cookies))
        .layer(sessions);

    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/static/{*path}", get(assets::serve))
        .merge(pages)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(middleware::make_span))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(from_fn_with_state(
                    state.clone(),
                    middleware::security_headers,
                ))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(60),
                ))
                .layer(axum::extract::DefaultBodyLimit::max(2 * 1024 * 1024))
                .layer(from_fn(middleware::no_store_default)),
        )
        .with_state(state)
}

async fn not_found() -> AppError {
    AppError::NotFound
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
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
