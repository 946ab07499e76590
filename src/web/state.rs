//! The state every handler shares.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::{
    calendar::CalendarCache, clock::Clock, config::Settings, secret::SecretKey, web::assets::Assets,
};

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub settings: Arc<Settings>,
    pub clock: Arc<dyn Clock>,
    pub secret_key: Arc<SecretKey>,
    pub assets: Arc<Assets>,
    /// The school calendar (time limits run on working days), per instance.
    pub calendar: Arc<CalendarCache>,
    /// Figures computed from the database, kept until their source changes (效能数据).
    pub memo: Arc<crate::web::memo::Memo>,
}

impl FromRef<AppState> for PgPool {
    fn from_ref(s: &AppState) -> Self {
        s.db.clone()
    }
}

impl AppState {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Today in the hall's time zone (for dates a form accepts).
    pub fn today(&self) -> chrono::NaiveDate {
        self.now()
            .with_timezone(&self.settings.time_zone)
            .date_naive()
    }
}
