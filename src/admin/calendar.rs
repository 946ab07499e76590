//! 校历 (`/admin/calendar`, 系统管理员 only): holidays, 寒暑假, make-up working days and
//! terms. Time limits run on working days only, and 效能数据 counts time the same way, so a
//! change recomputes the figures (a rebuild by the background job) and every instance
//! reloads the calendar (announced on the catalog channel in the same transaction).

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use serde_json::json;

use crate::{
    audit::Entry,
    calendar::{self, KINDS, Range},
    error::{AppError, AppResult},
    web::AppState,
    web::page::{Flashes, Page, flash},
    web::user::{AdminUser, ClientIp},
    workflow::store::versions::CHANNEL,
};

const NAME_MAX: usize = 50;
const SPAN_MAX: i64 = 366;

#[derive(Deserialize, Default, Clone)]
pub struct RangeForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub starts_on: String,
    #[serde(default)]
    pub ends_on: String,
}

pub struct Shown {
    pub id: i64,
    pub kind: &'static str,
    pub kind_code: String,
    pub name: String,
    pub starts_on: String,
    pub ends_on: String,
    pub days: i64,
    pub working: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/calendar.html")]
pub struct CalendarTemplate {
    pub page: Page,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub ranges: Vec<Shown>,
    pub form: RangeForm,
    /// (input, message)
    pub errors: Vec<(&'static str, String)>,
    pub today: String,
    pub term_now: String,
}

impl CalendarTemplate {
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

async fn page_of(
    state: &AppState,
    page: Page,
    form: RangeForm,
    errors: Vec<(&'static str, String)>,
) -> AppResult<CalendarTemplate> {
    let rows = calendar::ranges(&state.db).await?;
    let cal =
        calendar::Calendar::from_ranges(state.settings.time_zone, state.settings.work_week, &rows);
    let today = state.today();
    let mut ranges: Vec<Shown> = rows
        .into_iter()
        .map(|r| {
            let days = (r.ends_on - r.starts_on).num_days() + 1;
            let working = r
                .starts_on
                .iter_days()
                .take(days as usize)
                .filter(|d| cal.is_working(*d))
                .count() as i64;
            Shown {
                id: r.id,
                kind: calendar::kind_label(&r.kind),
                kind_code: r.kind,
                name: r.name,
                starts_on: r.starts_on.to_string(),
                ends_on: r.ends_on.to_string(),
                days,
                working,
            }
        })
        .collect();
    // Newest first: this year's rows are the ones edited.
    ranges.reverse();
    Ok(CalendarTemplate {
        page,
        kinds: KINDS.to_vec(),
        ranges,
        form,
        errors,
        today: format!("{today}（{}）", weekday(today)),
        term_now: cal
            .term_at(today)
            .map(|t| format!("{}（{} 至 {}）", t.name, t.starts_on, t.ends_on))
            .unwrap_or_else(|| "未设置".into()),
    })
}

fn weekday(d: NaiveDate) -> &'static str {
    ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
        [d.weekday().num_days_from_monday() as usize]
}

pub(super) async fn page(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    page: Page,
) -> AppResult<CalendarTemplate> {
    page_of(&state, page, RangeForm::default(), vec![]).await
}

/// A posted range that passed: kind, name, first and last day.
pub type Checked = (String, String, NaiveDate, NaiveDate);

/// Checks a posted range (pure but for the other terms, passed in).
pub fn check(f: &RangeForm, terms: &[Range]) -> Result<Checked, Vec<(&'static str, String)>> {
    let mut e = vec![];
    let kind = f.kind.trim();
    if !KINDS.iter().any(|(k, _)| *k == kind) {
        e.push(("kind", "请选择类型。".to_owned()));
    }
    let name = f.name.trim();
    if name.is_empty() {
        e.push(("name", "请填写名称，例如“国庆节”。".to_owned()));
    } else if name.chars().count() > NAME_MAX {
        e.push(("name", format!("名称最多 {NAME_MAX} 个字。")));
    }
    let date = |v: &str, field: &'static str, e: &mut Vec<(&'static str, String)>| {
        match NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) if v.trim().is_empty() => {
                e.push((field, "请选择日期。".to_owned()));
                None
            }
            Err(_) => {
                e.push((field, "日期格式应为 2026-10-01。".to_owned()));
                None
            }
        }
    };
    let start = date(&f.starts_on, "starts_on", &mut e);
    let end = date(&f.ends_on, "ends_on", &mut e);
    if let (Some(s), Some(t)) = (start, end) {
        if t < s {
            e.push(("ends_on", "结束日期不能早于开始日期。".to_owned()));
        } else if (t - s).num_days() + 1 > SPAN_MAX {
            e.push(("ends_on", format!("一段最长 {SPAN_MAX} 天。")));
        } else if kind == "term"
            && let Some(o) = terms
                .iter()
                .find(|o| o.kind == "term" && o.starts_on <= t && s <= o.ends_on)
        {
            e.push((
                "starts_on",
                format!(
                    "与学期“{}”（{} 至 {}）重叠。",
                    o.name, o.starts_on, o.ends_on
                ),
            ));
        }
    }
    match (e.is_empty(), start, end) {
        (true, Some(s), Some(t)) => Ok((kind.to_owned(), name.to_owned(), s, t)),
        _ => Err(e),
    }
}

/// `POST /admin/calendar`: adds a range.
pub(super) async fn add(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Form(form): Form<RangeForm>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    // One change at a time: two overlapping terms added at once would both pass the check.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('calendar_ranges'))")
        .execute(&mut *tx)
        .await?;
    let terms: Vec<Range> = sqlx::query_as(
        "SELECT id, kind, name, starts_on, ends_on FROM calendar_ranges WHERE kind = 'term'",
    )
    .fetch_all(&mut *tx)
    .await?;
    let (kind, name, s, t) = match check(&form, &terms) {
        Ok(v) => v,
        Err(e) => {
            drop(tx);
            let p = page_of(&state, page, form, e).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, p).into_response());
        }
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO calendar_ranges (kind, name, starts_on, ends_on, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&kind)
    .bind(&name)
    .bind(s)
    .bind(t)
    .bind(state.now())
    .fetch_one(&mut *tx)
    .await?;
    Entry::about(format!("calendar:{id}"), "calendar.add")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "kind": kind, "name": name, "from": s, "to": t }))
        .record(&mut *tx, state.now())
        .await?;
    changed(&mut tx).await?;
    tx.commit().await?;
    state.calendar.reload().await;
    flash(
        &flashes,
        "success",
        format!(
            "已添加{}“{name}”（{s} 至 {t}）。",
            calendar::kind_label(&kind)
        ),
    );
    Ok(Redirect::to("/admin/calendar").into_response())
}

/// `POST /admin/calendar/{id}/delete`.
pub(super) async fn delete(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let gone: Option<Range> = sqlx::query_as(
        "DELETE FROM calendar_ranges WHERE id = $1
         RETURNING id, kind, name, starts_on, ends_on",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(r) = gone else {
        return Err(AppError::NotFound);
    };
    Entry::about(format!("calendar:{id}"), "calendar.delete")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "kind": r.kind, "name": r.name, "from": r.starts_on, "to": r.ends_on }))
        .record(&mut *tx, state.now())
        .await?;
    changed(&mut tx).await?;
    tx.commit().await?;
    state.calendar.reload().await;
    flash(&flashes, "success", format!("已删除“{}”。", r.name));
    Ok(Redirect::to("/admin/calendar").into_response())
}

/// Every instance reloads the calendar, and the figures are computed again.
async fn changed(tx: &mut sqlx::PgConnection) -> AppResult<()> {
    sqlx::query("SELECT pg_notify($1, 'calendar')")
        .bind(CHANNEL)
        .execute(&mut *tx)
        .await?;
    crate::stats::refresh::start_rebuild(tx).await?;
    Ok(())
}
