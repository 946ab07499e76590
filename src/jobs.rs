//! The background work of an instance, on one schedule: each job's code lives with its
//! feature. Every instance runs it; the jobs claim their rows (`UPDATE … RETURNING`,
//! `SKIP LOCKED`, leases), so several instances never do one piece of work twice.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{
    admin, calendar::CalendarCache, clock::Clock, collect, config::Settings, identity, notify,
    stats, workflow,
};

/// Polls every `every` until the process stops: identity's housekeeping hourly, the
/// efficiency figures, reminders of overdue tasks, then delivery of notifications.
pub async fn run(
    db: PgPool,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    calendar: Arc<CalendarCache>,
    every: Duration,
) {
    let gw = notify::Gateways::from_settings(&settings);
    let fanout = notify::Fanout::from_settings(&settings);
    let mut swept_at: Option<DateTime<Utc>> = None;
    let mut counted_at: Option<DateTime<Utc>> = None;
    loop {
        let now = clock.now();
        // 效能数据's read model: every 15 s, or sooner while a rebuild has batches left.
        if counted_at.is_none_or(|t| now - t >= chrono::Duration::seconds(15)) {
            let cal = calendar.get().await;
            match stats::refresh::refresh(&db, &cal, now).await {
                Ok(r) if r.rebuilding => counted_at = None,
                Ok(_) => counted_at = Some(now),
                Err(e) => {
                    tracing::warn!(error = %e, "efficiency figures not refreshed; will retry")
                }
            }
        }
        if swept_at.is_none_or(|t| now - t > chrono::Duration::hours(1)) {
            match identity::housekeeping(&db, now).await {
                Ok(()) => swept_at = Some(now),
                Err(e) => tracing::warn!(error = %e, "identity housekeeping failed; will retry"),
            }
            if let Err(e) = crate::web::limit::prune(&db, now).await {
                tracing::warn!(error = %e, "pruning request budgets failed; will retry");
            }
            if let Err(e) = workflow::usecase::submit::prune_keys(&db, now).await {
                tracing::warn!(error = %e, "pruning one-time submission keys failed; will retry");
            }
        }
        if let Err(e) = workflow::reminders::remind_overdue(&db, now).await {
            tracing::warn!(error = %e, "reminders failed; will retry");
        }
        if let Err(e) = collect::reminders::remind_before_close(&db, now).await {
            tracing::warn!(error = %e, "填报任务 reminders failed; will retry");
        }
        notify::deliver_round(&db, &gw, &fanout, now).await;
        // Confirmed people imports, in their own task: a large one takes a while.
        tokio::spawn(admin::people_import::work(db.clone(), clock.clone()));
        tokio::time::sleep(every).await;
    }
}
