//! A person's page (`/admin/people/{id}`): 基本信息 (edit), the account's state with 停用 /
//! 启用, 解锁, 重置为初始密码 and 激活码, roles with their scope, and the open tasks with
//! 转办. Also 添加人员 (`/admin/people/new`).

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde_json::json;

use super::{
    KINDS,
    form::{Errors, PersonInput, check, err},
    status_label,
};
use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    identity::{accounts, lockout},
    org::{
        departments,
        directory::{self, Clash, Grant, Person},
    },
    web::AppState,
    web::page::{Flashes, Page, flash},
    web::user::{AdminUser, ClientIp, user_type_label},
    workflow::store::open_work,
};

pub struct TaskRow {
    pub task_id: i64,
    pub application_id: i64,
    pub serial: String,
    pub title: String,
    pub node: String,
    pub since: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/person.html")]
pub struct PersonTemplate {
    pub page: Page,
    /// `None`: 添加人员.
    pub person: Option<Person>,
    pub input: PersonInput,
    pub errors: Errors,
    pub depts: Vec<(i64, String)>,
    pub kinds: &'static [(&'static str, &'static str)],
    pub locked_until: Option<String>,
    pub grants: Vec<Grant>,
    pub roles: Vec<(String, String)>,
    pub tasks: Vec<TaskRow>,
    /// A 激活码 just issued: shown this once.
    pub issued_code: Option<String>,
    /// Why the last action on this page did nothing.
    pub notice: Option<String>,
    pub reset_error: Option<String>,
}

impl PersonTemplate {
    fn err(&self, field: &str) -> Option<&str> {
        err(&self.errors, field)
    }
    fn status_label(&self, s: &str) -> &'static str {
        status_label(s)
    }
    fn type_label(&self, t: &str) -> &'static str {
        user_type_label(t)
    }
}

fn input_of(p: &Person) -> PersonInput {
    PersonInput {
        account: p.account.clone(),
        name: p.name.clone(),
        user_type: p.user_type.clone(),
        department: p.department_id.map(|d| d.to_string()).unwrap_or_default(),
        phone: p.phone.clone().unwrap_or_default(),
        email: p.email.clone().unwrap_or_default(),
        id_card: String::new(),
    }
}

/// Departments a person may be put in: the active ones, plus their current one, which a
/// retired department stays (labelled （已停用）) so an edit does not silently move them.
async fn dept_choices(state: &AppState, current: Option<i64>) -> AppResult<Vec<(i64, String)>> {
    let tree = departments::tree(&state.db).await?;
    Ok(tree
        .iter()
        .filter(|d| d.active || Some(d.id) == current)
        .map(|d| (d.id, departments::picker_label(d)))
        .collect())
}

/// The page of person `id`, then `f` on it (what an action adds: a code, a message).
pub(super) async fn render(
    state: &AppState,
    page: Page,
    id: i64,
    f: impl FnOnce(&mut PersonTemplate),
) -> AppResult<PersonTemplate> {
    let p = directory::person(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = state.now();
    let tz = state.settings.time_zone;
    let locked_until = lockout::locked_until(&state.db, &lockout::subject(id), now)
        .await?
        .map(|l| l.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string());
    let tasks = open_work::pending_of(&mut *state.db.acquire().await?, id)
        .await?
        .into_iter()
        .map(|t| TaskRow {
            task_id: t.task_id,
            application_id: t.application_id,
            serial: t.serial_no.unwrap_or_default(),
            title: t.title,
            node: t.node_name,
            since: t
                .created_at
                .with_timezone(&tz)
                .format("%Y-%m-%d")
                .to_string(),
        })
        .collect();
    let mut t = PersonTemplate {
        page,
        input: input_of(&p),
        errors: Vec::new(),
        depts: dept_choices(state, p.department_id).await?,
        kinds: &KINDS,
        locked_until,
        grants: directory::grants(&state.db, id).await?,
        roles: directory::all_roles(&state.db).await?,
        tasks,
        issued_code: None,
        notice: None,
        reset_error: None,
        person: Some(p),
    };
    f(&mut t);
    Ok(t)
}

pub async fn show(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<PersonTemplate> {
    render(&state, page, id, |_| {}).await
}

pub async fn new(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
) -> AppResult<PersonTemplate> {
    Ok(PersonTemplate {
        page,
        person: None,
        input: PersonInput {
            user_type: "student".into(),
            ..Default::default()
        },
        errors: Vec::new(),
        depts: dept_choices(&state, None).await?,
        kinds: &KINDS,
        locked_until: None,
        grants: Vec::new(),
        roles: Vec::new(),
        tasks: Vec::new(),
        issued_code: None,
        notice: None,
        reset_error: None,
    })
}

fn clash_error(c: Clash) -> (&'static str, String) {
    match c {
        Clash::Account => ("account", "该学号/工号已被其他人使用。".into()),
        Clash::Phone => ("phone", "该手机号已是其他人的安全手机。".into()),
    }
}

const ID_TAKEN: (&str, &str) = ("id_card", "该证件号已登记在其他人名下。");

pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Form(input): Form<PersonInput>,
) -> AppResult<Response> {
    let depts = dept_choices(&state, None).await?;
    let again = |page, input: PersonInput, errors: Errors, depts| {
        let t = PersonTemplate {
            page,
            person: None,
            input: PersonInput {
                id_card: String::new(),
                ..input
            },
            errors,
            depts,
            kinds: &KINDS,
            locked_until: None,
            grants: Vec::new(),
            roles: Vec::new(),
            tasks: Vec::new(),
            issued_code: None,
            notice: None,
            reset_error: None,
        };
        Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response())
    };
    let (profile, id_card) = match check(&input, &depts) {
        Ok(x) => x,
        Err(e) => return again(page, input, e, depts),
    };
    let mut tx = state.db.begin().await?;
    let id = match directory::create(&mut tx, &profile).await? {
        Ok(id) => id,
        Err(c) => return again(page, input, vec![clash_error(c)], depts),
    };
    if let Some(n) = &id_card
        && accounts::set_id_card(&mut tx, &state.secret_key, id, Some(n))
            .await?
            .is_err()
    {
        return again(page, input, vec![(ID_TAKEN.0, ID_TAKEN.1.into())], depts);
    }
    Entry::user(id, "person.create")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "account": profile.account, "id_card": id_card.is_some() }))
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(
        &flashes,
        "success",
        format!(
            "已添加 {}（{}），待本人激活账号。",
            profile.name, profile.account
        ),
    );
    Ok(Redirect::to(&format!("/admin/people/{id}")).into_response())
}

pub async fn edit(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
    Form(input): Form<PersonInput>,
) -> AppResult<Response> {
    let p = directory::person(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let depts = dept_choices(&state, p.department_id).await?;
    let again = |page, input: PersonInput, errors: Errors| async {
        let t = render(&state, page, id, |t| {
            t.input = PersonInput {
                id_card: String::new(),
                ..input
            };
            t.errors = errors;
        })
        .await?;
        Ok::<_, AppError>((StatusCode::UNPROCESSABLE_ENTITY, t).into_response())
    };
    let (profile, id_card) = match check(&input, &depts) {
        Ok(x) => x,
        Err(e) => return again(page, input, e).await,
    };
    let mut tx = state.db.begin().await?;
    let mut changed = match directory::update(&mut tx, id, &profile).await? {
        Ok(c) => c,
        Err(c) => return again(page, input, vec![clash_error(c)]).await,
    };
    if let Some(n) = &id_card {
        if accounts::set_id_card(&mut tx, &state.secret_key, id, Some(n))
            .await?
            .is_err()
        {
            return again(page, input, vec![(ID_TAKEN.0, ID_TAKEN.1.into())]).await;
        }
        changed.push("id_card");
    }
    if changed.is_empty() {
        flash(&flashes, "info", "没有修改。");
        return Ok(Redirect::to(&format!("/admin/people/{id}")).into_response());
    }
    Entry::user(id, "person.update")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "changed": changed }))
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", "已保存基本信息。");
    Ok(Redirect::to(&format!("/admin/people/{id}")).into_response())
}
