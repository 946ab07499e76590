//! Time source. Production uses the system clock; tests inject a clock they can move, so
//! lockout windows and session lifetimes are tested without sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock plus an adjustable offset.
#[derive(Clone, Default)]
pub struct TestClock {
    offset: Arc<Mutex<Duration>>,
}

impl TestClock {
    pub fn advance(&self, by: std::time::Duration) {
        let mut o = self.offset.lock().expect("clock lock");
        *o += Duration::from_std(by).expect("duration in range");
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.offset.lock().expect("clock lock")
    }
}
