//! Building and running the application: state, router, listener, background tasks.

use std::{future::Future, net::SocketAddr, sync::Arc};

use crate::identity::store::PgSessionStore;
use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::{
    clock::Clock, config::Settings, secret::SecretKey, web::AppState, web::assets::Assets,
};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    store: PgSessionStore,
}

/// The installation's secret key: `HALL_SECRET_KEY`, else `data_dir/secret.key`.
pub fn secret_key(settings: &Settings) -> anyhow::Result<SecretKey> {
    match &settings.secret_key {
        Some(s) => Ok(SecretKey::from_secret(&s.0)),
        None => SecretKey::load_or_create(&settings.data_dir),
    }
}

impl Application {
    /// Binds the listener (port 0 picks a free port) on a migrated database.
    pub async fn build(
        settings: Settings,
        db: PgPool,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        Self::with_listener(settings, listener, db, clock)
    }

    /// For tests: the caller binds first (port 0) so the base URL can name the real port.
    pub fn with_listener(
        settings: Settings,
        listener: TcpListener,
        db: PgPool,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let secret_key = Arc::new(secret_key(&settings)?);
        let store = PgSessionStore::new(db.clone());
        let calendar = Arc::new(crate::calendar::CalendarCache::new(
            db.clone(),
            settings.time_zone,
            settings.work_week,
        ));
        let state = AppState {
            db,
            calendar,
            // A few hundred pages' figures; a minute at most, as "当前超时" moves with time.
            memo: Arc::new(crate::web::memo::Memo::new(
                500,
                std::time::Duration::from_secs(60),
            )),
            settings: Arc::new(settings),
            clock,
            secret_key,
            assets: Arc::new(Assets::load()),
        };
        Ok(Application {
            listener,
            state,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let deletion = tokio::spawn(
            self.store
                .clone()
                .delete_expired_every(std::time::Duration::from_secs(600)),
        );
        let worker = self.state.settings.background_jobs.then(|| {
            tokio::spawn(crate::jobs::run(
                self.state.db.clone(),
                self.state.clock.clone(),
                self.state.settings.clone(),
                self.state.calendar.clone(),
                std::time::Duration::from_secs(1),
            ))
        });
        // Cached catalog counts, dropped when any instance announces a change.
        let facets = Arc::new(crate::catalog::FacetCache::default());
        let listening = tokio::spawn(crate::db::listen::run(
            self.state.db.clone(),
            crate::workflow::store::versions::CHANNEL,
            {
                let facets = facets.clone();
                let calendar = self.state.calendar.clone();
                move |_| {
                    facets.invalidate();
                    calendar.invalidate();
                }
            },
        ));
        let app = crate::routes::router(self.state, self.store, facets);
        let result = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server");
        deletion.abort();
        listening.abort();
        if let Some(w) = worker {
            w.abort();
        }
        result
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
