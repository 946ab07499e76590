//! The background work of an instance, on one schedule: each job's code lives with its
//! feature. Every instance runs it; the jobs claim their rows (`UPDATE … RETURNING`,
//! `SKIP LOCKED`, leases), so several instances never do one piece of work twice.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{admin, clock::Clock, config::Settings, identity, notify, workflow};

/// Polls every `every` until the process stops: identity's housekeeping hourly,
/// reminders of overdue tasks, then delivery of notifications.
pub async fn run(db: PgPool, clock: Arc<dyn Clock>, settings: Arc<Settings>, every: Duration) {
    let gw = notify::Gateways::from_settings(&settings);
    let fanout = notify::Fanout::from_settings(&settings);
    let mut swept_at: Option<DateTime<Utc>> = None;
    loop {
        let now = clock.now();
        if swept_at.is_none_or(|t| now - t > chrono::Duration::hours(1)) {
            match identity::housekeeping(&db, now).await {
                Ok(()) => swept_at = Some(now),
                Err(e) => tracing::warn!(error = %e, "identity housekeeping failed; will retry"),
            }
            if let Err(e) = crate::web::limit::prune(&db, now).await {
                tracing::warn!(error = %e, "pruning request budgets failed; will retry");
            }
        }
        if let Err(e) = workflow::reminders::remind_overdue(&db, now).await {
            tracing::warn!(error = %e, "reminders failed; will retry");
        }
        notify::deliver_round(&db, &gw, &fanout, now).await;
        // Confirmed people imports, in their own task: a large one takes a while.
        tokio::spawn(admin::people_import::work(db.clone(), clock.clone()));
        tokio::time::sleep(every).await;
    }
}
