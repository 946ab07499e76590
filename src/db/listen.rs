//! LISTEN on a PostgreSQL channel for the life of the process: how one instance hears that
//! another changed something it caches (a publish, a service taken offline). A lost
//! connection may have lost notifications, so it counts as "everything changed".

use std::time::Duration;

use sqlx::{PgPool, postgres::PgListener};

/// Calls `on(Some(payload))` for every notification on `channel`, and `on(None)` whenever
/// the connection was lost (notifications may have been missed), until the task is dropped.
pub async fn run(pool: PgPool, channel: &'static str, on: impl Fn(Option<&str>) + Send + 'static) {
    // Whether notifications may have been missed since the last connection.
    let mut missed = false;
    let mut warned = false;
    loop {
        let connected = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(channel).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let mut listener = match connected.await {
            Ok(l) => l,
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, channel, "cannot listen; retrying every second");
                    warned = true;
                }
                missed = true;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        warned = false;
        if std::mem::take(&mut missed) {
            on(None);
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => on(Some(n.payload())),
                // The connection was lost; the next call reconnects and listens again.
                Ok(None) => on(None),
                Err(e) => {
                    tracing::warn!(error = %e, channel, "listening stopped; reconnecting");
                    missed = true;
                    break;
                }
            }
        }
    }
}
