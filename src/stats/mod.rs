//! 效能数据分享: how fast and how well services are handled — each person's own figures
//! in 个人中心, a table per service and per department that every signed-in person may
//! read, and the detailed pages of a service or a department for the people who run them.
//!
//! A read model like `center`: the figures come from `stats_apps` and `stats_tasks`, which
//! `refresh` (a background job) derives from workflow's applications and tasks, so the
//! pages add nothing to the write path of 提交 and 通过.

use axum::{Router, routing::get};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Deserialize;

use crate::{calendar::Calendar, web::AppState};

pub mod charts;
pub mod figures;
pub mod refresh;
mod view;
mod web;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/center/stats", get(web::center))
        .route("/stats/services/{id}", get(web::service))
        .route("/stats/departments/{id}", get(web::department))
}

/// The period picker's query: `period` = week | month | term | custom (`from`, `to`), plus
/// `export` (csv | xlsx) with `table` for a download.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct PeriodQuery {
    pub period: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub export: Option<String>,
    pub table: Option<String>,
}

/// A period of whole days in the hall's time zone, both ends included.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub kind: &'static str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub label: String,
}

/// What was wrong with a custom period, per field.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PeriodErrors {
    pub from: Option<&'static str>,
    pub to: Option<&'static str>,
    pub term: Option<&'static str>,
}

impl PeriodErrors {
    pub fn any(&self) -> bool {
        self.from.is_some() || self.to.is_some() || self.term.is_some()
    }
}

/// The longest custom period (a bound on the work one page asks of the database).
pub const MAX_DAYS: i64 = 3 * 366;

impl PeriodQuery {
    /// The period asked for; on a mistake, this month with the messages.
    pub fn period(&self, today: NaiveDate, cal: &Calendar) -> (Period, PeriodErrors) {
        let mut e = PeriodErrors::default();
        let month = || Period {
            kind: "month",
            from: today.with_day(1).unwrap_or(today),
            to: today,
            label: format!("{}年{}月", today.year(), today.month()),
        };
        let p = match self.period.as_deref().unwrap_or("month") {
            "week" => {
                let monday =
                    today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
                Period {
                    kind: "week",
                    from: monday,
                    to: today,
                    label: "本周".into(),
                }
            }
            "term" => match cal.term_at(today) {
                Some(t) => Period {
                    kind: "term",
                    from: t.starts_on,
                    to: t.ends_on.min(today),
                    label: t.name.clone(),
                },
                None => {
                    e.term = Some("管理员尚未在校历中设置学期，已显示本月。");
                    month()
                }
            },
            "custom" => {
                let parse = |v: &Option<String>| {
                    v.as_deref()
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d"))
                };
                let from = match parse(&self.from) {
                    None => {
                        e.from = Some("请填写开始日期。");
                        None
                    }
                    Some(Err(_)) => {
                        e.from = Some("日期格式应为 2026-09-01。");
                        None
                    }
                    Some(Ok(d)) => Some(d),
                };
                let to = match parse(&self.to) {
                    None => {
                        e.to = Some("请填写结束日期。");
                        None
                    }
                    Some(Err(_)) => {
                        e.to = Some("日期格式应为 2026-09-30。");
                        None
                    }
                    Some(Ok(d)) => Some(d),
                };
                match (from, to) {
                    (Some(f), Some(t)) if t < f => {
                        e.to = Some("结束日期不能早于开始日期。");
                        month()
                    }
                    (Some(f), Some(t)) if (t - f).num_days() >= MAX_DAYS => {
                        e.to = Some("时间段最长三年。");
                        month()
                    }
                    (Some(f), Some(t)) => Period {
                        kind: "custom",
                        from: f,
                        to: t,
                        label: format!("{f} 至 {t}"),
                    },
                    _ => month(),
                }
            }
            _ => month(),
        };
        (p, e)
    }
}

impl Period {
    /// `[lo, hi)` in UTC: from the first day's midnight to the midnight after the last.
    pub fn bounds(&self, cal: &Calendar) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = |d: NaiveDate| {
            let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
            use chrono::TimeZone;
            cal.tz()
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| midnight.and_utc())
        };
        (at(self.from), at(self.to + Duration::days(1)))
    }

    /// The weeks (their Mondays) the period touches.
    pub fn mondays(&self) -> Vec<NaiveDate> {
        let first =
            self.from - Duration::days(i64::from(self.from.weekday().num_days_from_monday()));
        first
            .iter_weeks()
            .take_while(|w| *w <= self.to)
            .take(160)
            .collect()
    }
}

/// A duration of working-day seconds in words: 45 秒, 12 分钟, 3.5 小时, 2.1 天.
pub fn duration(secs: Option<f64>) -> String {
    let Some(s) = secs.filter(|s| s.is_finite() && *s >= 0.0) else {
        return "—".into();
    };
    if s < 60.0 {
        format!("{} 秒", s.round() as i64)
    } else if s < 3_600.0 {
        format!("{} 分钟", (s / 60.0).round() as i64)
    } else if s < 86_400.0 {
        format!("{:.1} 小时", s / 3_600.0)
    } else {
        format!("{:.1} 天", s / 86_400.0)
    }
}

/// `part` of `whole` as a percentage with one decimal, or "—".
pub fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        "—".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn q(period: &str, from: &str, to: &str) -> PeriodQuery {
        PeriodQuery {
            period: Some(period.into()),
            from: Some(from.into()),
            to: Some(to.into()),
            ..Default::default()
        }
    }

    #[test]
    fn periods() {
        let cal = Calendar::plain(chrono_tz::Asia::Shanghai, [true; 7]);
        let today = d("2026-12-02"); // a Wednesday
        let (p, e) = q("week", "", "").period(today, &cal);
        assert_eq!((p.from, p.to, e.any()), (d("2026-11-30"), today, false));
        let (p, _) = q("month", "", "").period(today, &cal);
        assert_eq!((p.from, p.label.as_str()), (d("2026-12-01"), "2026年12月"));
        let (p, e) = q("term", "", "").period(today, &cal);
        assert_eq!(p.kind, "month");
        assert!(e.term.is_some());
        let (p, e) = q("custom", "2026-09-01", "2026-09-30").period(today, &cal);
        assert_eq!(
            (p.from, p.to, e.any()),
            (d("2026-09-01"), d("2026-09-30"), false)
        );
        let (_, e) = q("custom", "2026-09-30", "2026-09-01").period(today, &cal);
        assert_eq!(e.to, Some("结束日期不能早于开始日期。"));
        let (_, e) = q("custom", "9月1日", "").period(today, &cal);
        assert!(e.from.is_some() && e.to.is_some());
        let (_, e) = q("custom", "2020-01-01", "2026-01-01").period(today, &cal);
        assert_eq!(e.to, Some("时间段最长三年。"));
    }

    #[test]
    fn bounds_and_weeks() {
        let cal = Calendar::plain(chrono_tz::Asia::Shanghai, [true; 7]);
        let p = Period {
            kind: "custom",
            from: d("2026-09-01"),
            to: d("2026-09-30"),
            label: String::new(),
        };
        let (lo, hi) = p.bounds(&cal);
        assert_eq!(lo.to_rfc3339(), "2026-08-31T16:00:00+00:00");
        assert_eq!(hi.to_rfc3339(), "2026-09-30T16:00:00+00:00");
        let w = p.mondays();
        assert_eq!((w[0], w.len()), (d("2026-08-31"), 5));
    }

    #[test]
    fn words() {
        assert_eq!(duration(Some(42.4)), "42 秒");
        assert_eq!(duration(Some(900.0)), "15 分钟");
        assert_eq!(duration(Some(5_400.0)), "1.5 小时");
        assert_eq!(duration(Some(129_600.0)), "1.5 天");
        assert_eq!(duration(None), "—");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(1, 0), "—");
    }
}
