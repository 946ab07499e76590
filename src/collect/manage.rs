//! The owner's pages of 填报任务 (`/admin/collections`): the list, a new task, its
//! settings (group, window, rules, reminders), 发布 and deleting one not yet published.
//! The form is made in the form designer (`/admin/collections/{id}/form`).

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::json;

use super::{
    may_create, owned_task,
    store::{self, Settings, TaskRow},
    target::{self, KINDS, MAX_ACCOUNTS, Target},
};
use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    forms::input::FormInput,
    org::{directory, people},
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::{ClientIp, CurrentUser},
    },
};

const TITLE_MAX: usize = 100;
const TEXT_MAX: usize = 2000;
const FORBIDDEN: &str = "只有系统管理员和服务管理员可以发布填报任务";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/collections", get(list).post(create))
        .route("/admin/collections/new", get(new_page))
        .route("/admin/collections/{id}", get(edit_page).post(save))
        .route("/admin/collections/{id}/publish", post(publish))
        .route("/admin/collections/{id}/delete", post(delete))
}

pub struct ListRow {
    pub id: i64,
    pub title: String,
    pub owner: String,
    pub window: String,
    pub state: &'static str,
    pub progress: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "collect/manage_list.html")]
pub struct ListTemplate {
    pub page: Page,
    pub rows: Vec<ListRow>,
}

fn window(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format!(
        "{} 至 {}",
        from.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
        to.with_timezone(&tz).format("%Y-%m-%d %H:%M")
    )
}

fn creator(user: &CurrentUser) -> AppResult<()> {
    if may_create(user) {
        Ok(())
    } else {
        Err(AppError::Forbidden(FORBIDDEN))
    }
}

/// `GET /admin/collections`: my tasks (every task for a 系统管理员).
async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
) -> AppResult<ListTemplate> {
    creator(&user)?;
    let tz = state.settings.time_zone;
    let now = state.now();
    let rows = store::owned(&state.db, (!user.is_admin).then_some(user.id))
        .await?
        .into_iter()
        .map(|r| ListRow {
            id: r.id,
            window: window(tz, r.opens_at, r.closes_at),
            state: match r.published_at {
                None => "未发布",
                Some(_) if now < r.opens_at => "未开始",
                Some(_) if now < r.closes_at => "填报中",
                Some(_) => "已截止",
            },
            progress: if r.published_at.is_some() {
                format!("{} / {}", r.filled, r.members)
            } else {
                "—".into()
            },
            title: r.title,
            owner: r.owner,
        })
        .collect();
    Ok(ListTemplate { page, rows })
}

/// The settings as typed (kept when refused).
#[derive(Default, Clone)]
pub struct SettingsForm {
    pub title: String,
    pub explanation: String,
    pub departments: Vec<i64>,
    pub kinds: Vec<String>,
    pub roles: Vec<String>,
    pub accounts: String,
    pub opens_at: String,
    pub closes_at: String,
    pub late_allowed: bool,
    pub editable: bool,
    pub needs_confirmation: bool,
    pub remind_days: String,
    pub revision: i32,
}

impl SettingsForm {
    fn of(t: &TaskRow, tz: Tz) -> SettingsForm {
        let at = |d: DateTime<Utc>| d.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string();
        SettingsForm {
            title: t.title.clone(),
            explanation: t.explanation.clone(),
            departments: t.target.departments.clone(),
            kinds: t.target.kinds.clone(),
            roles: t.target.roles.clone(),
            accounts: t.target.accounts.join("\n"),
            opens_at: at(t.opens_at),
            closes_at: at(t.closes_at),
            late_allowed: t.late_allowed,
            editable: t.editable,
            needs_confirmation: t.needs_confirmation,
            remind_days: t
                .remind_days
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(","),
            revision: t.revision,
        }
    }

    fn read(input: &FormInput) -> SettingsForm {
        let one = |k: &str| {
            input
                .pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let all = |k: &str| -> Vec<String> {
            input
                .pairs
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.trim().to_owned())
                .collect()
        };
        let mut accounts = one("accounts");
        // An uploaded list (CSV or text) is added to what was pasted.
        for f in input.files.iter().filter(|f| f.field == "accounts_file") {
            let text = String::from_utf8_lossy(&f.data);
            let list = target::parse_accounts(&text).join("\n");
            if !list.is_empty() {
                if !accounts.is_empty() {
                    accounts.push('\n');
                }
                accounts.push_str(&list);
            }
        }
        SettingsForm {
            title: one("title"),
            explanation: one("explanation"),
            departments: all("dept").iter().filter_map(|v| v.parse().ok()).collect(),
            kinds: all("kind"),
            roles: all("role"),
            accounts,
            opens_at: one("opens_at"),
            closes_at: one("closes_at"),
            late_allowed: !one("late_allowed").is_empty(),
            editable: !one("editable").is_empty(),
            needs_confirmation: !one("needs_confirmation").is_empty(),
            remind_days: one("remind_days"),
            revision: one("revision").parse().unwrap_or(-1),
        }
    }
}

/// Settings that passed every check.
struct Checked {
    target: Target,
    opens_at: DateTime<Utc>,
    closes_at: DateTime<Utc>,
    remind_days: Vec<i32>,
}

fn local_time(tz: Tz, s: &str) -> Option<DateTime<Utc>> {
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").ok()?;
    tz.from_local_datetime(&t)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

async fn check(
    state: &AppState,
    f: &SettingsForm,
    errors: &mut BTreeMap<&'static str, String>,
) -> AppResult<Option<Checked>> {
    let tz = state.settings.time_zone;
    let title_len = f.title.chars().count();
    if title_len == 0 {
        errors.insert("title", "请填写标题".into());
    } else if title_len > TITLE_MAX {
        errors.insert("title", format!("标题不能超过 {TITLE_MAX} 个字"));
    }
    if f.explanation.chars().count() > TEXT_MAX {
        errors.insert("explanation", format!("说明不能超过 {TEXT_MAX} 个字"));
    }
    let opens = local_time(tz, &f.opens_at);
    let closes = local_time(tz, &f.closes_at);
    if opens.is_none() {
        errors.insert("opens_at", "请选择开始时间".into());
    }
    match (opens, closes) {
        (_, None) => {
            errors.insert("closes_at", "请选择截止时间".into());
        }
        (Some(o), Some(c)) if c <= o => {
            errors.insert("closes_at", "截止时间须晚于开始时间".into());
        }
        _ => {}
    }
    let mut remind_days = Vec::new();
    for p in f
        .remind_days
        .split([',', '，', ' ', '、'])
        .filter(|p| !p.is_empty())
    {
        match p.parse::<i32>() {
            Ok(d) if (1..=30).contains(&d) && !remind_days.contains(&d) => remind_days.push(d),
            _ => {
                errors.insert(
                    "remind_days",
                    "提醒天数为 1 到 30 之间的整数，用逗号分隔，例如 3,1".into(),
                );
                break;
            }
        }
    }
    if remind_days.len() > 5 {
        errors.insert("remind_days", "最多设置 5 次提醒".into());
    }
    remind_days.sort_unstable_by(|a, b| b.cmp(a));
    let kinds: Vec<String> = f
        .kinds
        .iter()
        .filter(|k| KINDS.iter().any(|(c, _)| c == k))
        .cloned()
        .collect();
    let roles = directory::all_roles(&state.db).await?;
    let roles: Vec<String> = f
        .roles
        .iter()
        .filter(|r| roles.iter().any(|(c, _)| c == *r))
        .cloned()
        .collect();
    let known = people::active_department_ids(&state.db, &f.departments).await?;
    let departments: Vec<i64> = f
        .departments
        .iter()
        .copied()
        .filter(|d| known.contains(d))
        .collect();
    let accounts = target::parse_accounts(&f.accounts);
    if accounts.len() > MAX_ACCOUNTS {
        errors.insert(
            "accounts",
            format!("名单最多 {MAX_ACCOUNTS} 个账号，现有 {} 个", accounts.len()),
        );
    } else if !accounts.is_empty() {
        let unknown = target::unknown_accounts(&state.db, &accounts).await?;
        if !unknown.is_empty() {
            let shown: Vec<&str> = unknown.iter().take(10).map(String::as_str).collect();
            errors.insert(
                "accounts",
                format!(
                    "以下账号不存在：{}{}",
                    shown.join("、"),
                    if unknown.len() > 10 {
                        format!(" 等 {} 个", unknown.len())
                    } else {
                        String::new()
                    }
                ),
            );
        }
    }
    let target = Target {
        departments,
        kinds,
        roles,
        accounts,
    };
    if target.is_empty() {
        errors.insert(
            "target",
            "请选择填报对象：部门、人员类别、角色或账号名单".into(),
        );
    }
    Ok(match (opens, closes) {
        (Some(opens_at), Some(closes_at)) if errors.is_empty() => Some(Checked {
            target,
            opens_at,
            closes_at,
            remind_days,
        }),
        _ => None,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "collect/settings.html")]
pub struct SettingsTemplate {
    pub page: Page,
    /// `None` for a new task.
    pub task: Option<TaskHead>,
    pub form: SettingsForm,
    pub errors: BTreeMap<&'static str, String>,
    pub departments: Vec<(i64, String)>,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub roles: Vec<(String, String)>,
}

impl SettingsTemplate {
    fn error(&self, k: &str) -> Option<&String> {
        self.errors.get(k)
    }

    fn has_kind(&self, k: &str) -> bool {
        self.form.kinds.iter().any(|x| x == k)
    }
}

/// What the settings page says about a saved task.
pub struct TaskHead {
    pub id: i64,
    pub published: bool,
    pub fields: usize,
    pub members: i64,
    pub form_problems: Vec<String>,
}

async fn settings_page(
    state: &AppState,
    page: Page,
    task: Option<&TaskRow>,
    form: SettingsForm,
    errors: BTreeMap<&'static str, String>,
) -> AppResult<Response> {
    let head = match task {
        Some(t) => Some(TaskHead {
            id: t.id,
            published: t.published_at.is_some(),
            fields: t.form.fields.len(),
            members: if t.published_at.is_some() {
                sqlx::query_scalar(
                    "SELECT count(*) FROM collection_members WHERE collection_id = $1",
                )
                .bind(t.id)
                .fetch_one(&state.db)
                .await?
            } else {
                target::count(&state.db, &t.target).await?
            },
            form_problems: t.form.problems(),
        }),
        None => None,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        SettingsTemplate {
            page,
            task: head,
            form,
            errors,
            departments: people::department_choices(&state.db, &[]).await?,
            kinds: KINDS.to_vec(),
            roles: directory::all_roles(&state.db).await?,
        },
    )
        .into_response())
}

/// `GET /admin/collections/new`
async fn new_page(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
) -> AppResult<Response> {
    creator(&user)?;
    let tz = state.settings.time_zone;
    let start = state.now();
    let form = SettingsForm {
        opens_at: start
            .with_timezone(&tz)
            .format("%Y-%m-%dT%H:%M")
            .to_string(),
        closes_at: (start + chrono::Duration::days(7))
            .with_timezone(&tz)
            .format("%Y-%m-%dT18:00")
            .to_string(),
        editable: true,
        remind_days: "3,1".into(),
        ..SettingsForm::default()
    };
    settings_page(&state, page, None, form, BTreeMap::new()).await
}

/// `POST /admin/collections`: a new task, not yet published; next, its form.
async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    input: FormInput,
) -> AppResult<Response> {
    creator(&user)?;
    let form = SettingsForm::read(&input);
    let mut errors = BTreeMap::new();
    let Some(c) = check(&state, &form, &mut errors).await? else {
        return settings_page(&state, page, None, form, errors).await;
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let id = store::create(&mut tx, user.id, &settings(&form, &c), now).await?;
    Entry::about(format!("collection:{id}"), "collection.create")
        .by(Some(user.id))
        .ip(ip)
        .detail(json!({ "title": form.title }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", "已创建填报任务，请设计填报表单。");
    Ok(Redirect::to(&format!("/admin/collections/{id}/form")).into_response())
}

fn settings<'a>(f: &'a SettingsForm, c: &'a Checked) -> Settings<'a> {
    Settings {
        title: &f.title,
        explanation: &f.explanation,
        target: &c.target,
        opens_at: c.opens_at,
        closes_at: c.closes_at,
        late_allowed: f.late_allowed,
        editable: f.editable,
        needs_confirmation: f.needs_confirmation,
        remind_days: &c.remind_days,
    }
}

/// `GET /admin/collections/{id}`
async fn edit_page(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let t = owned_task(&state.db, &user, id).await?;
    let form = SettingsForm::of(&t, state.settings.time_zone);
    settings_page(&state, page, Some(&t), form, BTreeMap::new()).await
}

/// `POST /admin/collections/{id}`: the settings, at the revision the page showed.
async fn save(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Path(id): Path<i64>,
    input: FormInput,
) -> AppResult<Response> {
    let t = owned_task(&state.db, &user, id).await?;
    let mut form = SettingsForm::read(&input);
    if t.published_at.is_some() {
        // The group was fixed when the task was published.
        form.departments = t.target.departments.clone();
        form.kinds = t.target.kinds.clone();
        form.roles = t.target.roles.clone();
        form.accounts = t.target.accounts.join("\n");
    }
    let mut errors = BTreeMap::new();
    let Some(c) = check(&state, &form, &mut errors).await? else {
        return settings_page(&state, page, Some(&t), form, errors).await;
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some(_) = store::update(&mut tx, id, form.revision, &settings(&form, &c), now).await?
    else {
        errors.insert("revision", "填报任务已被他人修改，请刷新后再试".into());
        return Ok((
            StatusCode::CONFLICT,
            settings_page(&state, page, Some(&t), form, errors).await?,
        )
            .into_response());
    };
    Entry::about(format!("collection:{id}"), "collection.update")
        .by(Some(user.id))
        .ip(ip)
        .detail(json!({ "title": form.title, "closes_at": c.closes_at }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", "已保存。");
    Ok(Redirect::to(&format!("/admin/collections/{id}")).into_response())
}

#[derive(Deserialize)]
struct RevisionForm {
    #[serde(default)]
    revision: i32,
}

/// `POST /admin/collections/{id}/publish`: the group is fixed and notified.
async fn publish(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Form(f): Form<RevisionForm>,
) -> AppResult<Response> {
    let t = owned_task(&state.db, &user, id).await?;
    let back = Redirect::to(&format!("/admin/collections/{id}")).into_response();
    if t.published_at.is_some() {
        flash(&flashes, "info", "该填报任务已发布。");
        return Ok(back);
    }
    let problems = t.form.problems();
    if t.form.fields.iter().all(|f| f.kind.is_decoration()) || !problems.is_empty() {
        flash(
            &flashes,
            "error",
            "表单还没有可填写的字段或仍有问题，请先完成表单设计。",
        );
        return Ok(back);
    }
    let now = state.now();
    if t.closes_at <= now {
        flash(&flashes, "error", "截止时间已过，请先修改截止时间。");
        return Ok(back);
    }
    let mut tx = state.db.begin().await?;
    let Some(n) = store::publish(&mut tx, id, f.revision, now).await? else {
        flash(&flashes, "error", "填报任务已被他人修改，请刷新后再试。");
        return Ok(back);
    };
    if n == 0 {
        // Nothing to publish to: undo rather than leave a task nobody can fill.
        tx.rollback().await?;
        flash(&flashes, "error", "填报对象中没有任何人，请修改填报对象。");
        return Ok(back);
    }
    Entry::about(format!("collection:{id}"), "collection.publish")
        .by(Some(user.id))
        .ip(ip)
        .detail(json!({ "members": n }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", format!("已发布，共 {n} 人需要填报。"));
    Ok(Redirect::to(&format!("/collect/{id}/responses")).into_response())
}

/// `POST /admin/collections/{id}/delete`: only before it is published.
async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let t = owned_task(&state.db, &user, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if !store::delete_unpublished(&mut tx, id).await? {
        flash(&flashes, "error", "已发布的填报任务不能删除。");
        return Ok(Redirect::to(&format!("/admin/collections/{id}")).into_response());
    }
    Entry::about(format!("collection:{id}"), "collection.delete")
        .by(Some(user.id))
        .ip(ip)
        .detail(json!({ "title": t.title }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", "已删除。");
    Ok(Redirect::to("/admin/collections").into_response())
}
