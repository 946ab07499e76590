//! 人员管理 (`/admin/people`, also at `/admin/users`; 系统管理员 only): the list with search
//! and filters (`list`), a person's page with the profile and everything done to the
//! account (`person.rs`, `actions.rs`), and adding someone.
//!
//! "Locked" has one meaning here and everywhere: the temporary sign-in lock after failed
//! passwords (`identity::lockout`, read only through it). An administrator's 停用 is a
//! status (`disabled`), shown and filtered as such.

mod actions;
mod form;
mod person;

pub use actions::{
    activation_code, disable, enable, grant, reset_password, revoke, transfer, transfer_all, unlock,
};
pub use person::{create, edit, new, show};

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;

use crate::{
    error::AppResult,
    identity::lockout,
    org::{departments, directory},
    web::AppState,
    web::page::Page,
    web::user::{AdminUser, urlencode, user_type_label},
};

const PAGE_SIZE: i64 = 50;

/// 正常 / 未激活 / 已停用.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "active" => "正常",
        "inactive" => "未激活",
        _ => "已停用",
    }
}

pub const KINDS: [(&str, &str); 3] = [("student", "学生"), ("teacher", "教师"), ("staff", "职工")];
pub const STATUSES: [(&str, &str); 4] = [
    ("active", "正常"),
    ("inactive", "未激活"),
    ("disabled", "已停用"),
    ("locked", "已锁定"),
];

/// The list's query string, parsed leniently: anything unknown is no filter.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    dept: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: Option<i64>,
}

pub struct Row {
    pub id: i64,
    pub account: String,
    pub name: String,
    pub user_type: &'static str,
    pub department: String,
    pub status: &'static str,
    pub disabled: bool,
    pub phone: String,
    pub locked_until: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/people.html")]
pub struct PeopleTemplate {
    pub page: Page,
    pub q: String,
    pub kind: String,
    pub dept: String,
    pub status: String,
    pub depts: Vec<(i64, String)>,
    pub kinds: &'static [(&'static str, &'static str)],
    pub statuses: &'static [(&'static str, &'static str)],
    pub rows: Vec<Row>,
    pub total: i64,
    pub page_no: i64,
    pub has_next: bool,
}

impl PeopleTemplate {
    /// This list's link with another page number (every filter kept).
    fn link(&self, page_no: i64) -> String {
        format!(
            "/admin/people?q={}&kind={}&dept={}&status={}&page={page_no}",
            urlencode(&self.q),
            urlencode(&self.kind),
            urlencode(&self.dept),
            urlencode(&self.status)
        )
    }
}

pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<PeopleTemplate> {
    let page_no = q.page.unwrap_or(1).clamp(1, 100_000);
    let term: String = q.q.trim().chars().take(64).collect();
    let kind = KINDS.iter().find(|(k, _)| *k == q.kind).map(|(k, _)| *k);
    let status = STATUSES
        .iter()
        .find(|(k, _)| *k == q.status)
        .map(|(k, _)| *k);
    let dept = q.dept.parse::<i64>().ok();
    let now = state.now();
    let only = match status {
        Some("locked") => Some(lockout::locked_ids(&state.db, now).await?),
        _ => None,
    };
    let filter = directory::Filter {
        q: term.clone(),
        kind: kind.map(str::to_owned),
        dept,
        status: status.filter(|s| *s != "locked").map(str::to_owned),
        only,
    };
    let (rows, total) =
        directory::list(&state.db, &filter, PAGE_SIZE, (page_no - 1) * PAGE_SIZE).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let locked = lockout::locked_people(&state.db, &ids, now).await?;
    let tz = state.settings.time_zone;
    let rows = rows
        .into_iter()
        .map(|r| Row {
            locked_until: locked
                .get(&r.id)
                .map(|l| l.with_timezone(&tz).format("%m-%d %H:%M").to_string()),
            id: r.id,
            account: r.account,
            name: r.name,
            user_type: user_type_label(&r.user_type),
            department: r.department.unwrap_or_default(),
            status: status_label(&r.status),
            disabled: r.status == "disabled",
            phone: r
                .phone
                .as_deref()
                .map(crate::mask::mask_phone)
                .unwrap_or_default(),
        })
        .collect();
    let tree = departments::tree(&state.db).await?;
    Ok(PeopleTemplate {
        page,
        q: term,
        kind: kind.unwrap_or_default().to_owned(),
        dept: dept.map(|d| d.to_string()).unwrap_or_default(),
        status: status.unwrap_or_default().to_owned(),
        // Retired departments stay in the filter, labelled: it finds the people still
        // there, to move them.
        depts: tree
            .iter()
            .map(|d| (d.id, departments::picker_label(d)))
            .collect(),
        kinds: &KINDS,
        statuses: &STATUSES,
        rows,
        total,
        page_no,
        has_next: page_no * PAGE_SIZE < total,
    })
}
