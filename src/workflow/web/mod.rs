//! The workflow's pages and actions: each handler parses the request, makes one call to a
//! use case (`super::usecase`) and renders what it returns.

mod act;
mod application;
mod apply;
mod attachments;
mod bundles;
mod people;

use axum::{
    Router,
    routing::{get, post},
};

use super::usecase::ActCtx;
use crate::{web::AppState, web::user::CurrentUser};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/services/{id}/apply",
            get(apply::open).post(apply::post_new),
        )
        .route("/applications/{id}", get(application::show))
        .route(
            "/applications/{id}/edit",
            get(apply::edit_page).post(apply::post_existing),
        )
        .route("/applications/{id}/act", post(act::post))
        .route(
            "/applications/{id}/signatures/{flow}",
            get(application::signature),
        )
        .route("/applications/{id}/delete", post(apply::delete_draft))
        .route("/attachments/{id}", get(attachments::download))
        .route("/people", get(people::search))
        .route("/bundles", get(bundles::list))
        .route("/bundles/{id}", get(bundles::guide))
        .route(
            "/bundles/{id}/apply",
            get(bundles::form).post(bundles::submit),
        )
        .route("/bundles/runs/{id}", get(bundles::run))
}

/// The use cases' context for a request by `user`.
pub async fn ctx(state: &AppState, user: &CurrentUser, ip: Option<std::net::IpAddr>) -> ActCtx {
    let s = &state.settings;
    ActCtx {
        now: state.now(),
        actor: user.id,
        actor_name: user.name.clone(),
        ip,
        tz: s.time_zone,
        fanout: crate::notify::Fanout::from_settings(s),
        upload_max_file: s.upload_max_file,
        upload_max_total: s.upload_max_total,
        secret: state.secret_key.clone(),
        calendar: state.calendar.get().await,
    }
}
