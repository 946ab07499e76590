//! Dates a field accepts (before or after the day of submission) and the birth date
//! written in a 身份证号, checked against a date field that names it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{CheckCtx, Errors, Field, FieldAccess, FormSchema, text};
use crate::identity::idcard;

/// Which dates a date field accepts, relative to the day of submission (in the hall's
/// time zone).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DateLimit {
    /// Before today (a birth date).
    Past,
    /// Today or earlier (a leave already taken).
    NotFuture,
    /// Today or later (a planned trip).
    NotPast,
    /// After today.
    Future,
}

impl DateLimit {
    pub const ALL: [DateLimit; 4] = [
        DateLimit::Past,
        DateLimit::NotFuture,
        DateLimit::NotPast,
        DateLimit::Future,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DateLimit::Past => "past",
            DateLimit::NotFuture => "not_future",
            DateLimit::NotPast => "not_past",
            DateLimit::Future => "future",
        }
    }

    pub fn from_code(code: &str) -> Option<DateLimit> {
        DateLimit::ALL.into_iter().find(|d| d.code() == code)
    }

    /// The designer's words.
    pub fn label(self) -> &'static str {
        match self {
            DateLimit::Past => "早于今天（如出生日期）",
            DateLimit::NotFuture => "不晚于今天（已发生的事）",
            DateLimit::NotPast => "不早于今天（计划中的事）",
            DateLimit::Future => "晚于今天",
        }
    }

    /// The earliest and latest accepted day.
    pub fn bounds(
        self,
        today: chrono::NaiveDate,
    ) -> (Option<chrono::NaiveDate>, Option<chrono::NaiveDate>) {
        match self {
            DateLimit::Past => (None, today.pred_opt()),
            DateLimit::NotFuture => (None, Some(today)),
            DateLimit::NotPast => (Some(today), None),
            DateLimit::Future => (today.succ_opt(), None),
        }
    }

    /// What the applicant is told when a date is outside.
    pub(super) fn message(self, label: &str) -> String {
        match self {
            DateLimit::Past => format!("{label}须早于今天"),
            DateLimit::NotFuture => format!("{label}不能晚于今天"),
            DateLimit::NotPast => format!("{label}不能早于今天"),
            DateLimit::Future => format!("{label}须晚于今天"),
        }
    }

    pub(super) fn accepts(self, day: chrono::NaiveDate, today: chrono::NaiveDate) -> bool {
        let (lo, hi) = self.bounds(today);
        lo.is_none_or(|l| day >= l) && hi.is_none_or(|h| day <= h)
    }
}

/// A valid date (`YYYY-MM-DD`) outside the field's `date_limit`.
pub(super) fn limit(f: &Field, label: &str, day: &str, ctx: &CheckCtx, errs: &mut Vec<String>) {
    if let (Some(l), Some(today)) = (f.date_limit, ctx.today)
        && let Ok(d) = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        && !l.accepts(d, today)
    {
        errs.push(l.message(label));
    }
}

/// The birth date written in a valid 身份证号 (characters 7–14).
pub fn id_card_birth(id: &str) -> Option<chrono::NaiveDate> {
    let id = idcard::normalize(id);
    if !idcard::is_valid(&id) {
        return None;
    }
    chrono::NaiveDate::parse_from_str(&id[6..14], "%Y%m%d").ok()
}

/// Checks between fields: a birth date against the 身份证号 it names.
pub(super) fn cross_check(
    schema: &FormSchema,
    access: &BTreeMap<String, FieldAccess>,
    data: &Map<String, Value>,
    errors: &mut Errors,
) {
    for f in &schema.fields {
        let Some(of) = &f.birth_of else { continue };
        // Only where the person submitting can correct it.
        if access.get(&f.key) != Some(&FieldAccess::Editable) || errors.contains_key(&f.key) {
            continue;
        }
        let day = text(data.get(&f.key));
        let Ok(day) = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d") else {
            continue;
        };
        if let Some(born) = id_card_birth(&text(data.get(of)))
            && born != day
        {
            let label = if f.label.is_empty() { &f.key } else { &f.label };
            errors.entry(f.key.clone()).or_default().push(format!(
                "{label}与身份证号中的出生日期（{}）不一致",
                born.format("%Y-%m-%d")
            ));
        }
    }
}
