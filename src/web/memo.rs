//! Values computed from the database and kept per instance until the data under them
//! changes: each entry carries the version of its source it was computed at (a reader
//! passes the current one) and lives at most `TTL`. Concurrent readers of a missing entry
//! wait for one computation instead of each running it.

use std::{
    any::Any,
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::OnceCell;

type Value = Arc<dyn Any + Send + Sync>;

struct Slot {
    version: i64,
    at: Instant,
    cell: Arc<OnceCell<Value>>,
}

pub struct Memo {
    slots: Mutex<HashMap<String, Slot>>,
    max: usize,
    ttl: Duration,
}

impl Memo {
    pub fn new(max: usize, ttl: Duration) -> Memo {
        Memo {
            slots: Mutex::new(HashMap::new()),
            max,
            ttl,
        }
    }

    /// The value of `key` at `version`, computed by `f` if there is none (or an older
    /// one, or one past its time). A failed computation is not kept.
    pub async fn get_or_try<T, E, F, Fut>(
        &self,
        key: String,
        version: i64,
        f: F,
    ) -> Result<Arc<T>, E>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let cell = {
            let mut slots = self.slots.lock().expect("memo lock");
            let fresh = slots
                .get(&key)
                .is_some_and(|s| s.version == version && s.at.elapsed() < self.ttl);
            if !fresh {
                if slots.len() >= self.max {
                    // Full: the oldest entry goes.
                    if let Some(old) = slots
                        .iter()
                        .min_by_key(|(_, s)| s.at)
                        .map(|(k, _)| k.clone())
                    {
                        slots.remove(&old);
                    }
                }
                slots.insert(
                    key.clone(),
                    Slot {
                        version,
                        at: Instant::now(),
                        cell: Arc::new(OnceCell::new()),
                    },
                );
            }
            slots[&key].cell.clone()
        };
        let v = cell
            .get_or_try_init(|| async { f().await.map(|t| Arc::new(t) as Value) })
            .await?;
        Ok(v.clone()
            .downcast::<T>()
            .expect("one type of value per key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_computation_per_version_shared_by_concurrent_readers() {
        let memo = Arc::new(Memo::new(10, Duration::from_secs(60)));
        let runs = Arc::new(AtomicUsize::new(0));
        let read = |version: i64| {
            let memo = memo.clone();
            let runs = runs.clone();
            async move {
                memo.get_or_try::<i64, (), _, _>("k".into(), version, || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(version * 10)
                })
                .await
                .unwrap()
            }
        };
        let (a, b) = tokio::join!(read(1), read(1));
        assert_eq!((*a, *b), (10, 10));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(*read(2).await, 20);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // A failure is not kept.
        let r: Result<Arc<i64>, &str> = memo.get_or_try("e".into(), 1, || async { Err("x") }).await;
        assert!(r.is_err());
        let r: Result<Arc<i64>, &str> = memo.get_or_try("e".into(), 1, || async { Ok(5) }).await;
        assert_eq!(*r.unwrap(), 5);
    }

    #[tokio::test]
    async fn the_oldest_entry_makes_room() {
        let memo = Memo::new(2, Duration::from_secs(60));
        for k in ["a", "b", "c"] {
            memo.get_or_try::<i64, (), _, _>(k.into(), 0, || async { Ok(1) })
                .await
                .unwrap();
        }
        let slots = memo.slots.lock().unwrap();
        assert_eq!(slots.len(), 2);
        assert!(!slots.contains_key("a"));
    }
}
