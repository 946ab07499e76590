//! The composition root of the HTTP side: every feature's routes under the web kernel's
//! layers and identity's session layer. The only module that knows them all.

use std::{sync::Arc, time::Duration};

use axum::{
    Extension, Router,
    http::StatusCode,
    middleware::{from_fn, from_fn_with_state},
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

use crate::{
    identity::store::PgSessionStore,
    web::AppState,
    web::{self, SESSION_COOKIE, assets, errors, middleware, page},
};

/// `facets`: the instance's facet counts, shared with the listener that invalidates them.
pub fn router(
    state: AppState,
    store: PgSessionStore,
    facets: Arc<crate::catalog::FacetCache>,
) -> Router {
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
        .merge(
            Router::new()
                .merge(crate::home::routes())
                .merge(crate::catalog::routes())
                // The facet counts of 首页 and 服务中心, kept per instance; 服务管理 drops
                // them when a service changes here, the listener when on another instance.
                .layer(Extension(facets.clone()))
                // The 办事指南 lists the steps of the service's workflow through this.
                .layer(Extension(crate::catalog::GuideSteps(
                    crate::workflow::usecase::guide_steps_boxed,
                ))),
        )
        .merge(crate::identity::routes())
        .merge(
            // Forms with attachments: the body may hold every file of an application.
            crate::workflow::web::routes().layer(axum::extract::DefaultBodyLimit::max(
                (settings.upload_max_total + 2 * 1024 * 1024) as usize,
            )),
        )
        .merge(crate::center::routes())
        .merge(crate::stats::routes())
        .merge(crate::collect::routes())
        .merge(crate::documents::routes())
        .merge(crate::notify::inbox::routes())
        .merge(crate::admin::routes(&state).layer(Extension(facets)))
        .fallback(web::not_found)
        // Innermost first: panics become marked 500s, then the CSRF check, then the
        // styled error pages around both.
        .layer(CatchPanicLayer::custom(errors::panic_response))
        // Unfit characters (NUL…) in the path, query or form: refused here, once.
        .layer(from_fn(middleware::refuse_unfit_input))
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
        .layer(sessions)
        // A read that met a broken database connection runs once more (web::retry).
        .layer(web::retry::RetryReadsLayer);

    Router::new()
        .route("/healthz", get(web::healthz))
        .route("/readyz", get(web::readyz))
        .route("/static/{*path}", get(assets::serve))
        // CAS validation, the token and userinfo endpoints, discovery: called by systems,
        // without the session and CSRF layers.
        .merge(
            crate::identity::sso::machine_routes()
                .merge(crate::documents::upload_routes())
                .layer(CatchPanicLayer::custom(errors::panic_response))
                .layer(from_fn(middleware::refuse_unfit_input)),
        )
        // The JSON API: bearer tokens, problem details, no session.
        .merge(
            crate::api::routes()
                .layer(CatchPanicLayer::custom(errors::panic_response))
                .layer(from_fn(middleware::refuse_unfit_input)),
        )
        .merge(pages)
        .layer(
            ServiceBuilder::new()
                // Outermost: finishes reading a refused request's body (keep-alive).
                .layer(from_fn(middleware::keep_alive_after_refusal))
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
