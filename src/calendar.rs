//! The school calendar (校历): which days are working days, and the terms (学期).
//!
//! Time limits run on working days only: a node's clock stops on weekends, holidays and
//! 寒暑假, and runs on make-up working days (调休上班). A working day counts in full
//! (24 hours), so a 24-hour limit that starts on a Friday at 15:00 ends on Monday at
//! 15:00. The rows are kept by 管理后台 (`admin::calendar`) in `calendar_ranges`; every
//! instance keeps them in memory (`CalendarCache`), dropped when any instance announces a
//! change on the catalog channel.

use std::{
    collections::BTreeSet,
    sync::{Arc, RwLock},
    time::Instant,
};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;

/// Kinds of `calendar_ranges` rows, with their labels.
pub const KINDS: [(&str, &str); 4] = [
    ("holiday", "节假日"),
    ("vacation", "寒暑假"),
    ("workday", "调休上班"),
    ("term", "学期"),
];

pub fn kind_label(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, l)| *l)
        .unwrap_or("其他")
}

/// The longest stretch a computation walks (about ten years): a clock that would need more
/// is treated as never ending there.
const MAX_DAYS: i64 = 3660;

#[derive(Clone, Debug)]
pub struct Term {
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

/// One row of `calendar_ranges`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Range {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

#[derive(Clone, Debug)]
pub struct Calendar {
    tz: Tz,
    /// Working weekdays, Monday first (`HALL_WORK_WEEK`).
    week: [bool; 7],
    off: BTreeSet<NaiveDate>,
    work: BTreeSet<NaiveDate>,
    pub terms: Vec<Term>,
}

impl Calendar {
    /// The working week alone, no 校历 rows.
    pub fn plain(tz: Tz, week: [bool; 7]) -> Calendar {
        Calendar {
            tz,
            week,
            off: BTreeSet::new(),
            work: BTreeSet::new(),
            terms: vec![],
        }
    }

    pub fn from_ranges(tz: Tz, week: [bool; 7], ranges: &[Range]) -> Calendar {
        let mut c = Calendar::plain(tz, week);
        for r in ranges {
            let days = r
                .starts_on
                .iter_days()
                .take_while(|d| *d <= r.ends_on)
                .take(MAX_DAYS as usize);
            match r.kind.as_str() {
                "holiday" | "vacation" => c.off.extend(days),
                "workday" => c.work.extend(days),
                "term" => c.terms.push(Term {
                    name: r.name.clone(),
                    starts_on: r.starts_on,
                    ends_on: r.ends_on,
                }),
                _ => {}
            }
        }
        c.terms.sort_by_key(|t| t.starts_on);
        c
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// A make-up working day wins over a holiday or a weekend.
    pub fn is_working(&self, d: NaiveDate) -> bool {
        if self.work.contains(&d) {
            return true;
        }
        !self.off.contains(&d) && self.week[d.weekday().num_days_from_monday() as usize]
    }

    /// Midnight starting `d` in the calendar's zone (the earliest, around a DST change).
    fn start_of(&self, d: NaiveDate) -> DateTime<Utc> {
        let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        match self.tz.from_local_datetime(&midnight) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                t.with_timezone(&Utc)
            }
            // A zone that skips midnight: the day starts an hour later.
            chrono::LocalResult::None => self
                .tz
                .from_local_datetime(&(midnight + Duration::hours(1)))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| midnight.and_utc()),
        }
    }

    fn day_of(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// Seconds of working days between `a` and `b` (0 when `b` is not after `a`).
    pub fn work_seconds(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
        if b <= a {
            return 0;
        }
        let mut total = 0;
        let mut day = self.day_of(a);
        for _ in 0..MAX_DAYS {
            let (start, end) = (self.start_of(day), self.start_of(day + Duration::days(1)));
            if start >= b {
                break;
            }
            if self.is_working(day) {
                total += (end.min(b) - start.max(a)).num_seconds().max(0);
            }
            day += Duration::days(1);
        }
        total
    }

    /// The moment `secs` seconds of working days after `a`: when a time limit that starts at
    /// `a` runs out. `None` past ten years of days off.
    pub fn add_work(&self, a: DateTime<Utc>, secs: i64) -> Option<DateTime<Utc>> {
        let mut left = secs.max(0);
        let mut day = self.day_of(a);
        for _ in 0..MAX_DAYS {
            let (start, end) = (self.start_of(day), self.start_of(day + Duration::days(1)));
            if self.is_working(day) {
                let from = start.max(a);
                let room = (end - from).num_seconds().max(0);
                if left <= room {
                    return Some(from + Duration::seconds(left));
                }
                left -= room;
            }
            day += Duration::days(1);
        }
        None
    }

    /// The term that holds `d`, else the last one that began before it.
    pub fn term_at(&self, d: NaiveDate) -> Option<&Term> {
        self.terms
            .iter()
            .find(|t| t.starts_on <= d && d <= t.ends_on)
            .or_else(|| self.terms.iter().rev().find(|t| t.starts_on <= d))
    }
}

pub async fn load(db: &PgPool, tz: Tz, week: [bool; 7]) -> sqlx::Result<Calendar> {
    Ok(Calendar::from_ranges(tz, week, &ranges(db).await?))
}

pub async fn ranges(db: &PgPool) -> sqlx::Result<Vec<Range>> {
    sqlx::query_as(
        "SELECT id, kind, name, starts_on, ends_on FROM calendar_ranges ORDER BY starts_on, id",
    )
    .fetch_all(db)
    .await
}

/// An instance's copy of the calendar. `current` never waits for the database: a stale or
/// missing copy is reloaded in the background (and by `reload` after a change here).
pub struct CalendarCache {
    db: PgPool,
    tz: Tz,
    week: [bool; 7],
    cur: RwLock<(Arc<Calendar>, Option<Instant>)>,
}

/// How long a copy is trusted without a notification: a safety net for a missed one.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(300);

impl CalendarCache {
    pub fn new(db: PgPool, tz: Tz, week: [bool; 7]) -> CalendarCache {
        CalendarCache {
            db,
            tz,
            week,
            cur: RwLock::new((Arc::new(Calendar::plain(tz, week)), None)),
        }
    }

    /// The calendar, loading it first when this instance has none yet.
    pub async fn get(&self) -> Arc<Calendar> {
        let (cal, loaded) = self.snapshot();
        match loaded {
            None => self.reload().await.unwrap_or(cal),
            Some(at) if at.elapsed() > STALE_AFTER => self.reload().await.unwrap_or(cal),
            Some(_) => cal,
        }
    }

    fn snapshot(&self) -> (Arc<Calendar>, Option<Instant>) {
        let g = self.cur.read().unwrap_or_else(|e| e.into_inner());
        (g.0.clone(), g.1)
    }

    /// Reads the rows again; keeps the old copy when the database cannot be reached.
    pub async fn reload(&self) -> Option<Arc<Calendar>> {
        match load(&self.db, self.tz, self.week).await {
            Ok(c) => {
                let c = Arc::new(c);
                *self.cur.write().unwrap_or_else(|e| e.into_inner()) =
                    (c.clone(), Some(Instant::now()));
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the school calendar; keeping the old copy");
                None
            }
        }
    }

    /// Another instance changed something: the next `get` reads again.
    pub fn invalidate(&self) {
        self.cur.write().unwrap_or_else(|e| e.into_inner()).1 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MON_FRI: [bool; 7] = [true, true, true, true, true, false, false];

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .from_local_datetime(
                &chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap(),
            )
            .unwrap()
            .with_timezone(&Utc)
    }

    fn range(kind: &str, a: &str, b: &str) -> Range {
        Range {
            id: 0,
            kind: kind.into(),
            name: kind.into(),
            starts_on: d(a),
            ends_on: d(b),
        }
    }

    fn cal() -> Calendar {
        // 2026-10-01 (Thu) … 10-07 holiday, 10-10 (Sat) a make-up working day.
        Calendar::from_ranges(
            chrono_tz::Asia::Shanghai,
            MON_FRI,
            &[
                range("holiday", "2026-10-01", "2026-10-07"),
                range("workday", "2026-10-10", "2026-10-10"),
                range("term", "2026-09-07", "2027-01-15"),
                range("vacation", "2027-01-16", "2027-02-28"),
            ],
        )
    }

    #[test]
    fn working_days() {
        let c = cal();
        assert!(c.is_working(d("2026-09-30")));
        assert!(!c.is_working(d("2026-10-01")));
        assert!(!c.is_working(d("2026-10-04")));
        assert!(c.is_working(d("2026-10-10")), "make-up day on a Saturday");
        assert!(!c.is_working(d("2026-10-11")));
        assert!(!c.is_working(d("2027-02-01")), "寒假");
    }

    #[test]
    fn seconds_skip_days_off() {
        let c = cal();
        // Friday 15:00 → Monday 15:00: 9 h on Friday, 15 h on Monday.
        assert_eq!(
            c.work_seconds(at("2026-09-18 15:00"), at("2026-09-21 15:00")),
            24 * 3600
        );
        // Across the national holiday: 9-30 12:00 → 10-08 12:00 = 12 h + 24 h (10-10 Sat
        // works) + 12 h; 10-08 and 10-09 are ordinary working days too.
        assert_eq!(
            c.work_seconds(at("2026-09-30 12:00"), at("2026-10-08 12:00")),
            (12 + 12) * 3600
        );
        assert_eq!(
            c.work_seconds(at("2026-09-30 12:00"), at("2026-10-12 12:00")),
            (12 + 24 + 24 + 24 + 12) * 3600
        );
        assert_eq!(
            c.work_seconds(at("2026-10-02 09:00"), at("2026-10-03 09:00")),
            0
        );
        assert_eq!(
            c.work_seconds(at("2026-10-02 09:00"), at("2026-10-01 09:00")),
            0
        );
    }

    #[test]
    fn limits_run_on_working_days() {
        let c = cal();
        assert_eq!(
            c.add_work(at("2026-09-18 15:00"), 24 * 3600),
            Some(at("2026-09-21 15:00"))
        );
        // Arriving on a holiday: the clock starts on the next working day.
        assert_eq!(
            c.add_work(at("2026-10-03 10:00"), 8 * 3600),
            Some(at("2026-10-08 08:00"))
        );
        assert_eq!(
            c.add_work(at("2026-09-30 12:00"), 48 * 3600),
            Some(at("2026-10-09 12:00"))
        );
        // The two agree.
        let a = at("2026-09-29 17:30");
        let due = c.add_work(a, 72 * 3600).unwrap();
        assert_eq!(c.work_seconds(a, due), 72 * 3600);
    }

    #[test]
    fn a_six_day_week() {
        let c = Calendar::plain(
            chrono_tz::Asia::Shanghai,
            [true, true, true, true, true, true, false],
        );
        assert!(c.is_working(d("2026-12-05")));
        assert!(!c.is_working(d("2026-12-06")));
    }

    #[test]
    fn terms() {
        let c = cal();
        assert_eq!(
            c.term_at(d("2026-12-02")).unwrap().starts_on,
            d("2026-09-07")
        );
        assert_eq!(
            c.term_at(d("2027-02-10")).unwrap().starts_on,
            d("2026-09-07")
        );
        assert!(c.term_at(d("2026-01-01")).is_none());
    }
}
