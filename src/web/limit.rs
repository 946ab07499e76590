//! A per-instance, per-person request budget for endpoints that hand out data in bulk
//! (the person picker's search): enough for anyone typing, too little for scraping the
//! directory. Best effort by design: with several instances behind a load balancer the
//! budget is per instance, which still bounds a scraper to a small multiple.

use std::{collections::HashMap, sync::Mutex};

use chrono::{DateTime, Duration, Utc};

#[derive(Default)]
pub struct Budget {
    windows: Mutex<HashMap<i64, (DateTime<Utc>, u32)>>,
}

impl Budget {
    /// Whether `who` may make one more request at `now`: at most `max` per `window`.
    pub fn allow(&self, who: i64, now: DateTime<Utc>, max: u32, window: Duration) -> bool {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        // Forget finished windows now and then, so the map stays as small as the crowd.
        if w.len() > 10_000 {
            w.retain(|_, (start, _)| now - *start < window);
        }
        let entry = w.entry(who).or_insert((now, 0));
        if now - entry.0 >= window {
            *entry = (now, 0);
        }
        if entry.1 >= max {
            return false;
        }
        entry.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_per_person_and_window() {
        let b = Budget::default();
        let t0 = Utc::now();
        let w = Duration::minutes(10);
        assert!((0..3).all(|_| b.allow(1, t0, 3, w)));
        assert!(!b.allow(1, t0 + Duration::minutes(9), 3, w), "spent");
        assert!(b.allow(2, t0, 3, w), "someone else's budget is their own");
        assert!(b.allow(1, t0 + Duration::minutes(10), 3, w), "a new window");
    }
}
