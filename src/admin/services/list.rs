//! `GET /admin/services`: the services this person manages, filtered by 服务部门, 服务类别,
//! status, 办理方式, whether a form is published and a search over name, code and pinyin.
//! Filters live in the query string (shareable, back-button safe) and combine.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::{departments, editor::KINDS, in_scope};
use crate::{
    admin::{access::Manager, head::status_label},
    catalog::store::{self, AdminFilter},
    error::AppResult,
    web::{AppState, page::Page, user::urlencode},
    workflow::store::versions,
};

const PAGE_SIZE: i64 = 20;

/// The query string as typed; anything unreadable is ignored.
#[derive(Debug, Default, Deserialize)]
pub(in crate::admin) struct RawQuery {
    q: Option<String>,
    dept: Option<String>,
    cat: Option<String>,
    status: Option<String>,
    mode: Option<String>,
    form: Option<String>,
    page: Option<String>,
}

/// The filters as understood, each kept as its query-string value ("" = not set).
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub q: String,
    pub dept: String,
    pub cat: String,
    pub status: String,
    pub mode: String,
    pub form: String,
    pub page: i64,
}

impl From<RawQuery> for Filters {
    fn from(r: RawQuery) -> Self {
        let id = |v: Option<String>| {
            v.and_then(|v| v.trim().parse::<i64>().ok())
                .map(|n| n.to_string())
                .unwrap_or_default()
        };
        let one_of = |v: Option<String>, allowed: &[&str]| {
            v.filter(|v| allowed.contains(&v.as_str()))
                .unwrap_or_default()
        };
        Filters {
            q: r.q
                .unwrap_or_default()
                .replace('\0', "")
                .trim()
                .chars()
                .take(50)
                .collect(),
            dept: id(r.dept),
            cat: id(r.cat),
            status: one_of(r.status, &["draft", "published", "offline"]),
            mode: one_of(r.mode, &["online", "offline"]),
            form: one_of(r.form, &["yes", "no"]),
            page: r
                .page
                .and_then(|p| p.parse().ok())
                .unwrap_or(1)
                .clamp(1, 10_000),
        }
    }
}

impl Filters {
    /// This list's URL with these filters on `page`.
    pub fn href(&self, page: i64) -> String {
        let mut parts: Vec<String> = [
            ("q", &self.q),
            ("dept", &self.dept),
            ("cat", &self.cat),
            ("status", &self.status),
            ("mode", &self.mode),
            ("form", &self.form),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        if parts.is_empty() {
            "/admin/services".into()
        } else {
            format!("/admin/services?{}", parts.join("&"))
        }
    }

    pub fn any(&self) -> bool {
        !(self.q.is_empty()
            && self.dept.is_empty()
            && self.cat.is_empty()
            && self.status.is_empty()
            && self.mode.is_empty()
            && self.form.is_empty())
    }
}

pub struct Row {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub department: String,
    pub category: String,
    pub status: String,
    pub status_label: &'static str,
    pub kind_label: &'static str,
    pub current: Option<i32>,
    pub draft: bool,
    pub updated: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/services.html")]
pub struct ListTemplate {
    pub page: Page,
    pub f: Filters,
    pub rows: Vec<Row>,
    pub total: i64,
    pub last_page: i64,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    pub departments: Vec<(i64, String)>,
    pub categories: Vec<(i64, String)>,
    pub may_create: bool,
}

impl ListTemplate {
    pub fn picked(&self, value: &str, id: &i64) -> bool {
        value == id.to_string()
    }
}

pub(in crate::admin) async fn list(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    Query(raw): Query<RawQuery>,
) -> AppResult<ListTemplate> {
    let f: Filters = raw.into();
    let db = &state.db;
    let all = departments(db).await?;
    let departments = in_scope(db, &m, &all).await?;
    let among = match f.form.as_str() {
        "" => None,
        yes => Some((yes == "yes", versions::versioned(db).await?)),
    };
    let filter = AdminFilter {
        q: f.q.clone(),
        department: f.dept.parse().ok(),
        category: f.cat.parse().ok(),
        status: (!f.status.is_empty()).then(|| f.status.clone()),
        online: match f.mode.as_str() {
            "" => None,
            mode => Some(mode == "online"),
        },
        only: m.service_ids(db).await?,
        among,
    };
    let (found, total) =
        store::admin_list(db, &filter, PAGE_SIZE, (f.page - 1) * PAGE_SIZE).await?;
    let ids: Vec<i64> = found.iter().map(|r| r.id).collect();
    let summaries = versions::summaries(db, &ids).await?;
    let tz = state.settings.time_zone;
    let rows = found
        .into_iter()
        .map(|r| {
            let v = summaries.iter().find(|v| v.service_id == r.id);
            Row {
                status_label: status_label(&r.status),
                kind_label: KINDS
                    .iter()
                    .find(|(k, _)| *k == r.kind)
                    .map_or("线下办理", |(_, l)| *l),
                current: v.and_then(|v| v.current),
                draft: v.is_some_and(|v| v.draft),
                updated: r
                    .updated_at
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
                id: r.id,
                code: r.code,
                name: r.name,
                department: r.department,
                category: r.category,
                status: r.status,
            }
        })
        .collect();
    let last_page = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    Ok(ListTemplate {
        page,
        prev_href: (f.page > 1).then(|| f.href(f.page - 1)),
        next_href: (f.page < last_page).then(|| f.href(f.page + 1)),
        may_create: m.all || !departments.is_empty(),
        f,
        rows,
        total,
        last_page,
        departments: if m.all { all } else { departments },
        categories: store::categories(db).await?,
    })
}
