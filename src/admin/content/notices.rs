//! 通知公告: list, 发布公告, edit, delete. The body is Markdown, previewed exactly as the
//! notice page shows it (`catalog::notices::render_markdown`, sanitised by ammonia): live
//! through `preview` with app.js's Markdown preview, by the 预览 button without it.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::json;

use super::Posted;
use crate::{
    audit::Entry,
    catalog::{
        content::{self, NoticeInput, VIEWERS, viewer_label},
        notices::render_markdown,
    },
    error::{AppError, AppResult},
    org,
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::{AdminUser, ClientIp},
    },
};

pub const TITLE_MAX: usize = 100;
pub const BODY_MAX: usize = 20_000;
const PAGE_SIZE: i64 = 30;

pub struct NoticeLine {
    pub id: i64,
    pub title: String,
    pub department: String,
    pub window: String,
    /// 未开始 / 展示中 / 已结束, and whether it is shown now.
    pub state: &'static str,
    pub live: bool,
    pub pinned: bool,
    pub audience: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/content_notices.html")]
pub struct ListTemplate {
    pub page: Page,
    pub tab: &'static str,
    pub rows: Vec<NoticeLine>,
    pub page_no: i64,
    pub has_next: bool,
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}

fn audience_text(a: &[String]) -> String {
    if a.is_empty() {
        "所有人".into()
    } else {
        a.iter()
            .map(|c| viewer_label(c))
            .collect::<Vec<_>>()
            .join("、")
    }
}

fn local(at: DateTime<Utc>, tz: Tz, fmt: &str) -> String {
    at.with_timezone(&tz).format(fmt).to_string()
}

/// `GET /admin/content/notices`
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Query(q): Query<PageQuery>,
) -> AppResult<ListTemplate> {
    let page_no = q
        .page
        .and_then(|p| p.parse().ok())
        .unwrap_or(1i64)
        .clamp(1, 10_000);
    let mut rows = content::notices(&state.db, PAGE_SIZE + 1, (page_no - 1) * PAGE_SIZE).await?;
    let has_next = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let tz = state.settings.time_zone;
    let now = state.now();
    let rows = rows
        .into_iter()
        .map(|n| {
            let (state, live) = if n.published_at > now {
                ("未开始", false)
            } else if n.visible_until.is_some_and(|u| u <= now) {
                ("已结束", false)
            } else {
                ("展示中", true)
            };
            NoticeLine {
                id: n.id,
                window: match n.visible_until {
                    Some(u) => format!(
                        "{} 至 {}",
                        local(n.published_at, tz, "%Y-%m-%d %H:%M"),
                        local(u, tz, "%Y-%m-%d %H:%M")
                    ),
                    None => format!("{} 起", local(n.published_at, tz, "%Y-%m-%d %H:%M")),
                },
                title: n.title,
                department: n.department.unwrap_or_default(),
                state,
                live,
                pinned: n.pinned,
                audience: audience_text(&n.audiences),
            }
        })
        .collect();
    Ok(ListTemplate {
        page,
        tab: "notices",
        rows,
        page_no,
        has_next,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/content_notice.html")]
pub struct EditTemplate {
    pub page: Page,
    pub tab: &'static str,
    /// `None`: 发布公告.
    pub id: Option<i64>,
    pub form: Posted,
    pub departments: Vec<(i64, String)>,
    pub viewers: &'static [(&'static str, &'static str)],
    /// Sanitised by `render_markdown`.
    pub preview_html: String,
    pub alert: Option<String>,
    pub title_max: usize,
    pub body_max: usize,
}

impl EditTemplate {
    pub fn dept_selected(&self, id: &i64) -> bool {
        self.form.v("department") == id.to_string()
    }
}

async fn render(
    state: &AppState,
    page: Page,
    id: Option<i64>,
    form: Posted,
    alert: Option<String>,
) -> AppResult<EditTemplate> {
    Ok(EditTemplate {
        page,
        tab: "notices",
        id,
        preview_html: render_markdown(form.v("body")),
        // Active departments, and the one the form names even if retired since (marked).
        departments: org::people::department_choices(
            &state.db,
            &form
                .v("department")
                .trim()
                .parse()
                .map_or(vec![], |d| vec![d]),
        )
        .await?,
        form,
        viewers: &VIEWERS,
        alert,
        title_max: TITLE_MAX,
        body_max: BODY_MAX,
    })
}

const INPUT_TIME: &str = "%Y-%m-%dT%H:%M";

/// A `datetime-local` value in the portal's time zone.
fn parse_local(v: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let v = v.trim();
    let n = NaiveDateTime::parse_from_str(v, INPUT_TIME)
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    Some(tz.from_local_datetime(&n).earliest()?.with_timezone(&Utc))
}

/// Checks what was posted; the messages go next to the fields of `form`.
pub fn validate(form: &mut Posted, departments: &[(i64, String)], tz: Tz) -> Option<NoticeInput> {
    form.check_nul();
    let title = form.text("title", "标题", TITLE_MAX, true);
    let body = form.v("body").to_string();
    if body.trim().is_empty() {
        form.add_error("body", "请填写正文");
    } else if body.chars().count() > BODY_MAX {
        form.add_error("body", format!("正文不能超过 {BODY_MAX} 个字"));
    }
    let department_id = match form.v("department").trim() {
        "" => None,
        d => match d.parse::<i64>() {
            Ok(id) if departments.iter().any(|(x, _)| *x == id) => Some(id),
            _ => {
                form.add_error("department", "请从列表中选择发布部门");
                None
            }
        },
    };
    let from = parse_local(form.v("from"), tz);
    if from.is_none() {
        form.add_error("from", "请填写开始展示的时间，如 2026-03-01 08:00");
    }
    let until = match form.v("until").trim() {
        "" => None,
        u => match parse_local(u, tz) {
            Some(u) if from.is_some_and(|f| u <= f) => {
                form.add_error("until", "结束时间须晚于开始时间");
                None
            }
            Some(u) => Some(u),
            None => {
                form.add_error("until", "请填写有效的时间，或留空表示一直展示");
                None
            }
        },
    };
    let audiences = form.viewers("audiences");
    let pinned = match form.v("pinned") {
        "" => false,
        "1" => true,
        _ => {
            form.add_error("pinned", "置顶的值无效");
            false
        }
    };
    if form.has_errors() {
        return None;
    }
    Some(NoticeInput {
        title,
        body,
        department_id,
        published_at: from?,
        visible_until: until,
        pinned,
        audiences,
    })
}

/// `GET /admin/content/notices/new`
pub(super) async fn new(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
) -> AppResult<EditTemplate> {
    let mut form = Posted::default();
    let tz = state.settings.time_zone;
    form.set("from", local(state.now(), tz, INPUT_TIME));
    render(&state, page, None, form, None).await
}

fn previewing(form: &Posted) -> bool {
    form.v("intent") == "preview"
}

/// `POST /admin/content/notices`: 发布 (or 预览 what was typed).
pub(super) async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let mut form = Posted::from_pairs(pairs);
    if previewing(&form) {
        return Ok(render(&state, page, None, form, None)
            .await?
            .into_response());
    }
    // A new notice names an active department only.
    let departments = org::people::department_choices(&state.db, &[]).await?;
    let Some(n) = validate(&mut form, &departments, state.settings.time_zone) else {
        let t = render(&state, page, None, form, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response());
    };
    let mut tx = state.db.begin().await?;
    let id = content::insert_notice(&mut tx, &n, state.now()).await?;
    Entry::about(format!("notice:{id}"), "notice.create")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "title": n.title, "pinned": n.pinned, "audiences": n.audiences }))
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", format!("已保存公告“{}”。", n.title));
    Ok(Redirect::to("/admin/content/notices").into_response())
}

/// `GET /admin/content/notices/{id}`
pub(super) async fn edit(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<EditTemplate> {
    let n = content::notice(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let tz = state.settings.time_zone;
    let mut form = Posted::default();
    form.set("title", n.title);
    form.set("body", n.body_markdown);
    form.set(
        "department",
        n.department_id.map(|d| d.to_string()).unwrap_or_default(),
    );
    form.set("from", local(n.published_at, tz, INPUT_TIME));
    form.set(
        "until",
        n.visible_until
            .map(|u| local(u, tz, INPUT_TIME))
            .unwrap_or_default(),
    );
    if n.pinned {
        form.set("pinned", "1".into());
    }
    for a in n.audiences {
        form.push("audiences", a);
    }
    form.set("stamp", n.updated_at.timestamp_micros().to_string());
    render(&state, page, Some(id), form, None).await
}

const STALE: &str = "保存失败：这条公告已被他人修改。您填写的内容仍在下方，尚未保存；再次保存将以您的内容覆盖对方的修改。";

/// `POST /admin/content/notices/{id}`: saves, if the notice is still as the page showed
/// it (else 409 with what was typed and the newer stamp).
pub(super) async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let stored = content::notice(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut form = Posted::from_pairs(pairs);
    if previewing(&form) {
        return Ok(render(&state, page, Some(id), form, None)
            .await?
            .into_response());
    }
    // An edit may keep the department the notice names, retired since or not.
    let keep: Vec<i64> = stored.department_id.into_iter().collect();
    let departments = org::people::department_choices(&state.db, &keep).await?;
    let Some(n) = validate(&mut form, &departments, state.settings.time_zone) else {
        let t = render(&state, page, Some(id), form, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response());
    };
    let stamp = stored.updated_at.timestamp_micros();
    if form.v("stamp") != stamp.to_string() {
        form.set("stamp", stamp.to_string());
        let t = render(&state, page, Some(id), form, Some(STALE.into())).await?;
        return Ok((StatusCode::CONFLICT, t).into_response());
    }
    let mut tx = state.db.begin().await?;
    if !content::update_notice(&mut tx, id, &n, stored.updated_at, state.now()).await? {
        drop(tx);
        let fresh = content::notice(&state.db, id)
            .await?
            .ok_or(AppError::NotFound)?;
        form.set("stamp", fresh.updated_at.timestamp_micros().to_string());
        let t = render(&state, page, Some(id), form, Some(STALE.into())).await?;
        return Ok((StatusCode::CONFLICT, t).into_response());
    }
    Entry::about(format!("notice:{id}"), "notice.update")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "title": n.title, "pinned": n.pinned, "audiences": n.audiences }))
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", format!("已保存公告“{}”。", n.title));
    Ok(Redirect::to("/admin/content/notices").into_response())
}

/// `POST /admin/content/notices/{id}/delete`
pub(super) async fn delete(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let title = content::delete_notice(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Entry::about(format!("notice:{id}"), "notice.delete")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "title": title }))
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", format!("已删除公告“{title}”。"));
    Ok(Redirect::to("/admin/content/notices").into_response())
}

/// `POST /admin/content/notices/preview` (`text`): the sanitised HTML of a body, for the
/// live preview.
pub(super) async fn preview(
    _admin: AdminUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let text = pairs
        .iter()
        .find(|(k, _)| k == "text")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if text.contains('\0') {
        return Err(AppError::BadRequest(crate::forms::input::NUL_MESSAGE));
    }
    if text.chars().count() > BODY_MAX {
        return Err(AppError::BadRequest("内容过长，无法预览。"));
    }
    Ok((
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        render_markdown(text),
    )
        .into_response())
}
