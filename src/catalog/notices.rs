//! 通知公告: Markdown bodies rendered to sanitised HTML.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{content, model::viewer_audience};
use crate::{
    error::{AppError, AppResult},
    web::AppState,
    web::{page::Page, user::MaybeUser},
};

const PAGE_SIZE: i64 = 20;

/// Markdown → HTML with pulldown-cmark, then ammonia keeps only safe tags and attributes
/// (no scripts, event handlers or `javascript:` links). The result is the only HTML a
/// template prints unescaped.
pub fn render_markdown(md: &str) -> String {
    render(md, false)
}

/// The same for the sections of a 服务指南, where a single line break is kept as one
/// (`问：…` and `答：…` on lines of their own), as the guides were written.
pub fn render_guide(md: &str) -> String {
    render(md, true)
}

fn render(md: &str, line_breaks: bool) -> String {
    use pulldown_cmark::{Event, Options, Parser, html};
    let mut out = String::new();
    let events = Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(
        |e| match e {
            Event::SoftBreak if line_breaks => Event::HardBreak,
            e => e,
        },
    );
    html::push_html(&mut out, events);
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .clean(&out)
        .to_string()
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NoticeRow {
    pub id: i64,
    pub title: String,
    pub department: Option<String>,
    pub published_at: DateTime<Utc>,
    pub pinned: bool,
}

pub struct NoticeItem {
    pub id: i64,
    pub title: String,
    pub department: String,
    pub date: String,
    pub pinned: bool,
}

/// The notices shown now to a viewer of kind `aud` (`model::viewer_audience`): inside
/// their publish window and meant for everyone or for this kind. Read per request, so an
/// edit shows on every instance at once.
pub async fn latest(
    state: &AppState,
    aud: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<NoticeItem>> {
    let rows: Vec<NoticeRow> = sqlx::query_as(&format!(
        "SELECT a.id, a.title, d.name AS department, a.published_at, a.pinned
         FROM announcements a LEFT JOIN departments d ON d.id = a.department_id
         WHERE {}
         ORDER BY a.pinned DESC, a.published_at DESC, a.id DESC LIMIT $1 OFFSET $2",
        content::notice_visible("$3", "$4")
    ))
    .bind(limit)
    .bind(offset)
    .bind(state.now())
    .bind(aud)
    .fetch_all(&state.db)
    .await?;
    let tz = state.settings.time_zone;
    Ok(rows
        .into_iter()
        .map(|r| NoticeItem {
            id: r.id,
            title: r.title,
            department: r.department.unwrap_or_default(),
            date: r
                .published_at
                .with_timezone(&tz)
                .format("%Y-%m-%d")
                .to_string(),
            pinned: r.pinned,
        })
        .collect())
}

#[derive(Template, WebTemplate)]
#[template(path = "catalog/notices.html")]
pub struct ListTemplate {
    pub page: Page,
    pub items: Vec<NoticeItem>,
    pub page_no: i64,
    pub has_next: bool,
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    page: Page,
    Query(q): Query<PageQuery>,
) -> AppResult<ListTemplate> {
    let page_no = q
        .page
        .and_then(|p| p.parse().ok())
        .unwrap_or(1i64)
        .clamp(1, 10_000);
    let mut items = latest(
        &state,
        viewer_audience(user.as_ref()),
        PAGE_SIZE + 1,
        (page_no - 1) * PAGE_SIZE,
    )
    .await?;
    let has_next = items.len() as i64 > PAGE_SIZE;
    items.truncate(PAGE_SIZE as usize);
    Ok(ListTemplate {
        page,
        items,
        page_no,
        has_next,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "catalog/notice.html")]
pub struct DetailTemplate {
    pub page: Page,
    pub title: String,
    pub department: String,
    pub date: String,
    /// Sanitised by `render_markdown`.
    pub body_html: String,
}

/// One notice, for whom it is shown now; 404 for anyone else (not yet, no longer, or
/// meant for others).
pub async fn detail(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<DetailTemplate> {
    let row: Option<(String, String, Option<String>, DateTime<Utc>)> = sqlx::query_as(&format!(
        "SELECT a.title, a.body_markdown, d.name, a.published_at
         FROM announcements a LEFT JOIN departments d ON d.id = a.department_id
         WHERE a.id = $1 AND {}",
        content::notice_visible("$2", "$3")
    ))
    .bind(id)
    .bind(state.now())
    .bind(viewer_audience(user.as_ref()))
    .fetch_optional(&state.db)
    .await?;
    let (title, body, department, at) = row.ok_or(AppError::NotFound)?;
    Ok(DetailTemplate {
        page,
        title,
        department: department.unwrap_or_default(),
        date: at
            .with_timezone(&state.settings.time_zone)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        body_html: render_markdown(&body),
    })
}

#[cfg(test)]
mod tests {
    use super::{render_guide, render_markdown};

    #[test]
    fn markdown_is_sanitised() {
        let html = render_markdown(
            "**重要**\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<strong>重要</strong>"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("javascript:"));
        assert!(!html.contains("onerror"));
    }

    #[test]
    fn guide_sections_keep_line_breaks_and_are_sanitised() {
        let html = render_guide(
            "1. 材料\n2. 证件\n\n问：可以吗？\n答：可以。\n\n<script>alert(1)</script><img src=x onerror=alert(1)>\n\n[x](javascript:alert(1))",
        );
        assert!(
            html.contains("<ol>") && html.contains("<li>材料</li>"),
            "{html}"
        );
        assert!(html.contains("问：可以吗？<br>"), "{html}");
        assert!(
            !html.contains("<script") && !html.contains("onerror"),
            "{html}"
        );
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!render_markdown("a\nb").contains("<br"));
    }
}
