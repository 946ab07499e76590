//! 立即办理 (the form), 草稿箱 drafts, the application page and its actions.

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
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{
    engine::{self, Action, ReturnTo},
    model::{Definition, FieldAccess, NodeKind},
    store::{self, APP_COLUMNS, ActCtx, AppRow, StoreError, action_label, status_label},
};
use crate::{
    catalog::{self, ServiceDetail, model::start_refusal},
    error::{AppError, AppResult},
    forms::{
        self, CheckCtx, Errors, FormSchema, Profile, files,
        input::{FormInput, Upload},
        render::{FieldView, Lookups, parse_post, views},
    },
    identity::session::{ClientIp, CurrentUser},
    state::AppState,
    web::page::{Flashes, Page, flash},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/services/{id}/apply", post(apply_post))
        .route("/applications/{id}", get(show))
        .route("/applications/{id}/edit", get(edit_page).post(edit_post))
        .route("/applications/{id}/act", post(act_post))
        .route("/applications/{id}/delete", post(delete_draft))
        .route("/attachments/{id}", get(download))
        .route("/people", get(people_search))
}

pub struct Milestone {
    pub name: String,
    /// "done" | "current" | "todo"
    pub state: &'static str,
    /// Only a condition on the form brings this step in (视情况).
    pub maybe: bool,
}

/// The 里程碑 bar. With the application's data (`form`), steps its conditions leave out
/// are not shown, unless already reached; steps that depend on conditions the viewer may
/// not see (`visible` fields), or on data not yet filled in (no `form`), say 视情况.
fn milestones(
    def: &Definition,
    st: Option<&engine::State>,
    form: Option<&Value>,
    visible: &dyn Fn(&str) -> bool,
) -> Vec<Milestone> {
    let completed = st.is_some_and(|s| s.status == engine::Status::Completed);
    def.milestones_on(form, visible)
        .into_iter()
        .filter_map(|(n, on_path)| {
            let state = match st {
                Some(s) if s.tokens.iter().any(|t| t.node == n.id) => "current",
                Some(s) if s.returned_from.as_deref() == Some(n.id.as_str()) => "current",
                Some(s) if s.done.contains(&n.id) => "done",
                _ if completed && on_path == Some(true) => "done",
                _ => "todo",
            };
            // Off the path, or (once completed) never reached: not part of this application.
            if state == "todo" && (on_path == Some(false) || completed) {
                return None;
            }
            Some(Milestone {
                name: if n.name.is_empty() {
                    n.id.clone()
                } else {
                    n.name.clone()
                },
                state,
                maybe: on_path.is_none() && state == "todo",
            })
        })
        .collect()
}

/// For pages without an application's data: no field decides anything.
fn nothing_visible(_: &str) -> bool {
    false
}

#[derive(sqlx::FromRow)]
struct ProfileRow {
    name: String,
    account: String,
    gender: Option<String>,
    department: Option<String>,
    title: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    user_type: String,
}

async fn profile(state: &AppState, user_id: i64) -> sqlx::Result<Profile> {
    let r: ProfileRow = sqlx::query_as(
        "SELECT u.name, u.account, u.gender, d.name AS department, u.title, u.phone, u.email, u.user_type
         FROM users u LEFT JOIN departments d ON d.id = u.department_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_one(&state.db)
    .await?;
    Ok(Profile {
        name: r.name,
        account: r.account,
        gender: r.gender.unwrap_or_default(),
        department: r.department.unwrap_or_default(),
        title: r.title.unwrap_or_default(),
        phone: r.phone.unwrap_or_default(),
        email: r.email.unwrap_or_default(),
        user_type: crate::identity::session::user_type_label(&r.user_type).into(),
    })
}

/// Names for people and departments shown in the form, and pickers' choices.
async fn lookups(
    state: &AppState,
    schema: &FormSchema,
    data: &Map<String, Value>,
    applicant: i64,
    app_id: Option<i64>,
) -> sqlx::Result<Lookups> {
    let mut l = Lookups::default();
    if let Some(app_id) = app_id {
        let files: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT id, field_key, file_name, size FROM attachments WHERE application_id = $1 ORDER BY id",
        )
        .bind(app_id)
        .fetch_all(&state.db)
        .await?;
        for (id, key, name, size) in files {
            l.attachments.entry(key).or_default().push((id, name, size));
        }
    }
    let ids: Vec<i64> = data.values().filter_map(Value::as_i64).collect();
    let people: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, name, account FROM users WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&state.db)
            .await?;
    for (id, name, account) in people {
        l.people.insert(id, format!("{name}（{account}）"));
    }
    l.departments = sqlx::query_as("SELECT id, name FROM departments ORDER BY sort_order, id")
        .fetch_all(&state.db)
        .await?;
    for f in &schema.fields {
        if f.kind == forms::FieldKind::Person
            && let Some(role) = &f.role
        {
            // Holders of the role whose scope covers the applicant's college.
            let choices: Vec<(i64, String)> = sqlx::query_as(
                "WITH college AS (
                     SELECT a.id FROM users u, dept_ancestors(u.department_id) a(id)
                     JOIN departments d ON d.id = a.id
                     JOIN departments p ON p.id = d.parent_id AND p.parent_id IS NULL
                     WHERE u.id = $2
                 )
                 SELECT DISTINCT u.id, u.name || '（' || u.account || '）' FROM user_roles ur
                 JOIN roles r ON r.id = ur.role_id AND r.code = $1
                 JOIN users u ON u.id = ur.user_id AND u.status = 'active'
                 WHERE ur.department_id IS NULL
                    OR ur.department_id IN (SELECT dept_subtree(id) FROM college)
                 ORDER BY 2",
            )
            .bind(role)
            .bind(applicant)
            .fetch_all(&state.db)
            .await?;
            l.person_choices.insert(f.key.clone(), choices);
        }
    }
    Ok(l)
}

/// Existing people and departments, for validating pickers.
async fn check_ctx(
    state: &AppState,
    l: &Lookups,
    data: &Map<String, Value>,
) -> sqlx::Result<CheckCtx> {
    let ids: Vec<i64> = data
        .values()
        .filter_map(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .collect();
    let people: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM users WHERE id = ANY($1) AND status = 'active'")
            .bind(&ids)
            .fetch_all(&state.db)
            .await?;
    Ok(CheckCtx {
        people,
        departments: l.departments.iter().map(|(d, _)| *d).collect(),
        choices: l
            .person_choices
            .iter()
            .map(|(k, c)| (k.clone(), c.iter().map(|(id, _)| *id).collect()))
            .collect(),
    })
}

/// Person fields typed as an account (学号/工号) become the person's id.
async fn resolve_accounts(
    state: &AppState,
    schema: &FormSchema,
    data: &mut Map<String, Value>,
) -> sqlx::Result<()> {
    for f in &schema.fields {
        if f.kind != forms::FieldKind::Person {
            continue;
        }
        if let Some(Value::String(s)) = data.get(&f.key).cloned() {
            // "张三（S2024001）" as picked from the search list, or a bare account.
            let s = match (s.rfind('（'), s.rfind('）')) {
                (Some(a), Some(b)) if a < b => s[a + '（'.len_utf8()..b].trim().to_owned(),
                _ => s.trim().to_owned(),
            };
            if s.is_empty() || s.parse::<i64>().is_ok() && f.role.is_some() {
                continue;
            }
            let id: Option<i64> =
                sqlx::query_scalar("SELECT id FROM users WHERE account = $1 AND status = 'active'")
                    .bind(&s)
                    .fetch_optional(&state.db)
                    .await?;
            if let Some(id) = id {
                data.insert(f.key.clone(), Value::from(id));
            }
        }
    }
    Ok(())
}

#[derive(Template, WebTemplate)]
#[template(path = "workflow/apply.html")]
pub struct ApplyTemplate {
    pub page: Page,
    pub service_id: i64,
    pub service_name: String,
    pub department: String,
    pub action: String,
    pub milestones: Vec<Milestone>,
    pub fields: Vec<FieldView>,
    pub error_summary: Vec<(String, String)>,
    pub draft_id: Option<i64>,
    pub version: i32,
    pub returned: bool,
}

fn summary(schema: &FormSchema, errors: &Errors) -> Vec<(String, String)> {
    schema
        .fields
        .iter()
        .filter_map(|f| {
            errors
                .get(&f.key)
                .map(|e| (f.key.clone(), format!("{}：{}", f.label, e.join("；"))))
        })
        .collect()
}

/// Checks shared by the form and its submission: signed in, published online service,
/// permitted, with definitions.
async fn startable(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
) -> AppResult<(ServiceDetail, i64, FormSchema, i64, Definition)> {
    let s = catalog::load_service(state, id, Some(user)).await?;
    if s.kind != "online" {
        return Err(AppError::NotFound);
    }
    if start_refusal(&state.db, &s.rule(), user).await?.is_some() {
        return Err(AppError::Forbidden("您没有权限发起该流程"));
    }
    let (fid, schema, wid, def) = store::current_definitions(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((s, fid, schema, wid, def))
}

fn applicant_access(schema: &FormSchema, def: &Definition) -> BTreeMap<String, FieldAccess> {
    schema.access(&def.applicant_fields, FieldAccess::Editable)
}

/// The empty form (called by 立即办理 once permission is settled).
pub async fn new_form(
    state: &AppState,
    user: &CurrentUser,
    page: Page,
    id: i64,
) -> AppResult<Response> {
    let (s, _, schema, _, def) = startable(state, user, id).await?;
    let p = profile(state, user.id).await?;
    let data = forms::initial_values(&schema, &p);
    let l = lookups(state, &schema, &data, user.id, None).await?;
    let access = applicant_access(&schema, &def);
    Ok(ApplyTemplate {
        page,
        service_id: s.id,
        service_name: s.name.clone(),
        department: s.department.clone(),
        action: format!("/services/{}/apply", s.id),
        milestones: milestones(&def, None, None, &nothing_visible),
        fields: views(
            &schema,
            &data,
            &access,
            &Errors::new(),
            &l,
            &[],
            &BTreeMap::new(),
        ),
        error_summary: Vec::new(),
        draft_id: None,
        version: 0,
        returned: false,
    }
    .into_response())
}

fn intent(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == "intent")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "submit".into())
}

/// The blank rows each sub-table showed beyond the usual two, one more after 添加一行
/// (bounded: the number comes from the request).
fn extra_rows(pairs: &[(String, String)], add: bool) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (k, v) in pairs {
        if k == "rows"
            && let Some((key, n)) = v.split_once(':')
        {
            let n: usize = n.parse().unwrap_or(0);
            m.insert(
                key.to_owned(),
                (n.min(forms::render::MAX_EXTRA_ROWS) + usize::from(add))
                    .min(forms::render::MAX_EXTRA_ROWS),
            );
        }
    }
    m
}

fn act_ctx<'a>(
    state: &'a AppState,
    user: &CurrentUser,
    ip: Option<std::net::IpAddr>,
) -> ActCtx<'a> {
    ActCtx {
        now: state.now(),
        actor: user.id,
        ip,
        tz: state.settings.time_zone,
        base_url: state.settings.base_url.as_str(),
        fanout: crate::notify::Fanout::from_settings(&state.settings),
    }
}

/// Drafts one person may keep (the message in `insert_draft` names the number).
const MAX_DRAFTS: i64 = 100;

async fn insert_draft(
    state: &AppState,
    user: &CurrentUser,
    s: &ServiceDetail,
    fid: i64,
    wid: i64,
    data: &Map<String, Value>,
) -> AppResult<i64> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    // A bound on what one person can store: each draft may hold 50 MB of files.
    let drafts: Option<i64> =
        sqlx::query_scalar("SELECT drafts::int8 FROM draft_counts WHERE user_id = $1")
            .bind(user.id)
            .fetch_optional(&mut *tx)
            .await?;
    if drafts.unwrap_or(0) >= MAX_DRAFTS {
        return Err(AppError::Conflict(
            "草稿箱已满（最多 100 份），请先在个人中心的草稿箱中删除不需要的草稿。",
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO applications (service_id, applicant_id, form_def_id, workflow_def_id, title, status, data, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $7) RETURNING id",
    )
    .bind(s.id)
    .bind(user.id)
    .bind(fid)
    .bind(wid)
    .bind(forms::render::title(&s.name, &user.name))
    .bind(Value::Object(data.clone()))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    crate::audit::record(
        &mut tx,
        crate::audit::Entry {
            at: now,
            actor_id: Some(user.id),
            action: "application.draft",
            target: &format!("application:{id}"),
            ip: None,
            outcome: crate::audit::Outcome::Success,
            details: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// 提交 / 存草稿 / 添加一行 on a new application.
async fn apply_post(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Path(id): Path<i64>,
    input: FormInput,
) -> AppResult<Response> {
    let (s, fid, schema, wid, def) = startable(&state, &user, id).await?;
    handle_form(
        &state,
        &user,
        &flashes,
        ip,
        page,
        s,
        schema,
        def,
        Target::New { fid, wid },
        input,
    )
    .await
}

enum Target {
    New { fid: i64, wid: i64 },
    Existing(Box<AppRow>),
}

/// Files refused, and files stored, for the editable attachment fields.
#[allow(clippy::too_many_arguments)]
async fn save_files(
    state: &AppState,
    app_id: i64,
    version: i32,
    user: &CurrentUser,
    schema: &FormSchema,
    access: &BTreeMap<String, FieldAccess>,
    uploads: Vec<Upload>,
    removals: &[i64],
    errors: &mut Errors,
) -> AppResult<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    // Files change only on the applicant's own draft or returned application, at the
    // version the page showed, under the row's lock: the loser of a race (or a request
    // after the resubmission) changes no files.
    let editable: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM applications
         WHERE id = $1 AND applicant_id = $2 AND version = $3 AND status IN ('draft', 'returned')
         FOR UPDATE",
    )
    .bind(app_id)
    .bind(user.id)
    .bind(version)
    .fetch_optional(&mut *tx)
    .await?;
    if editable.is_none() {
        return Err(AppError::Conflict("该事项已被处理"));
    }
    if !removals.is_empty() {
        // Only files of fields the applicant may edit.
        let fields: Vec<&str> = schema
            .fields
            .iter()
            .filter(|f| {
                f.kind == forms::FieldKind::Attachments
                    && access.get(&f.key) == Some(&FieldAccess::Editable)
            })
            .map(|f| f.key.as_str())
            .collect();
        sqlx::query(
            "DELETE FROM attachments WHERE application_id = $1 AND id = ANY($2) AND field_key = ANY($3)",
        )
        .bind(app_id)
        .bind(removals)
        .bind(&fields)
        .execute(&mut *tx)
        .await?;
    }
    let mut total: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(size), 0)::bigint FROM attachments WHERE application_id = $1",
    )
    .bind(app_id)
    .fetch_one(&mut *tx)
    .await?;
    let s = &state.settings;
    for u in uploads {
        let Some(f) = schema
            .fields
            .iter()
            .find(|f| f.key == u.field && f.kind == forms::FieldKind::Attachments)
        else {
            continue;
        };
        if access.get(&f.key) != Some(&FieldAccess::Editable) {
            continue;
        }
        let content_type = match files::check(&u.name, &u.data, s.upload_max_file) {
            Ok(ct) => ct,
            Err(e) => {
                errors
                    .entry(f.key.clone())
                    .or_default()
                    .push(e.message(&u.name));
                continue;
            }
        };
        if total + u.data.len() as i64 > s.upload_max_total as i64 {
            errors.entry(f.key.clone()).or_default().push(format!(
                "附件总大小不能超过 {} MB，“{}”未能添加",
                s.upload_max_total / (1024 * 1024),
                u.name
            ));
            continue;
        }
        total += u.data.len() as i64;
        sqlx::query(
            "INSERT INTO attachments (application_id, field_key, file_name, content_type, size, sha256, data, uploaded_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(app_id)
        .bind(&f.key)
        .bind(files::clean_name(&u.name).unwrap_or_else(|| "附件".into()))
        .bind(content_type)
        .bind(u.data.len() as i64)
        .bind(files::sha256_hex(&u.data))
        .bind(&u.data)
        .bind(user.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Attachment fields hold the ids of the application's stored files, never posted ids.
async fn attach_ids(
    state: &AppState,
    app_id: i64,
    schema: &FormSchema,
    data: &mut Map<String, Value>,
) -> sqlx::Result<()> {
    for f in schema
        .fields
        .iter()
        .filter(|f| f.kind == forms::FieldKind::Attachments)
    {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM attachments WHERE application_id = $1 AND field_key = $2 ORDER BY id",
        )
        .bind(app_id)
        .bind(&f.key)
        .fetch_all(&state.db)
        .await?;
        data.insert(f.key.clone(), Value::from(ids));
    }
    Ok(())
}

/// The shared path of a new application and an existing draft or returned application:
/// files are kept as soon as they arrive (as a draft), typed input is always shown back,
/// and only a valid form is submitted.
#[allow(clippy::too_many_arguments)]
async fn handle_form(
    state: &AppState,
    user: &CurrentUser,
    flashes: &Flashes,
    ip: Option<std::net::IpAddr>,
    page: Page,
    s: ServiceDetail,
    schema: FormSchema,
    def: Definition,
    target: Target,
    input: FormInput,
) -> AppResult<Response> {
    let FormInput {
        pairs,
        files: uploads,
        file_errors,
    } = input;
    let p = profile(state, user.id).await?;
    let access = applicant_access(&schema, &def);
    // Only what the applicant may edit comes from the request; every other field keeps
    // what the application holds (what a department filled in at its own step, or the
    // defaults of a new form), whatever else the request carries.
    let mut data = match &target {
        Target::Existing(app) => app.data.as_object().cloned().unwrap_or_default(),
        Target::New { .. } => forms::initial_values(&schema, &p),
    };
    for (k, v) in parse_post(&schema, &pairs) {
        if access.get(&k) == Some(&FieldAccess::Editable) {
            data.insert(k, v);
        }
    }
    forms::enforce_locked(&schema, &p, &mut data);
    resolve_accounts(state, &schema, &mut data).await?;
    let intent = intent(&pairs);
    let removals: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "remove")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let mut errors: Errors = file_errors;
    // A returned application is edited and resubmitted; it has no draft to save into
    // (the page offers no 存草稿), so say so instead of pretending.
    if intent == "draft"
        && let Target::Existing(app) = &target
        && app.status == "returned"
    {
        flash(flashes, "error", "已退回的申请请修改后直接提交。");
        return Ok(Redirect::to(&format!("/applications/{}/edit", app.id)).into_response());
    }

    // Where the input lives: an existing application, or a new draft when there is
    // something to keep (存草稿, or files).
    let (mut app_id, mut version, status, st) = match &target {
        Target::Existing(app) => {
            let posted: i32 = pairs
                .iter()
                .find(|(k, _)| k == "version")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(-1);
            if posted != app.version {
                return Err(AppError::Conflict("该事项已被处理"));
            }
            let st: Option<engine::State> = app
                .state
                .clone()
                .and_then(|v| serde_json::from_value(v).ok());
            (app.id, app.version, app.status.clone(), st)
        }
        Target::New { .. } => (0, 0, "draft".to_owned(), None),
    };
    if app_id == 0
        && (intent == "draft" || !uploads.is_empty())
        && let Target::New { fid, wid } = &target
    {
        app_id = insert_draft(state, user, &s, *fid, *wid, &data).await?;
    }
    if app_id != 0 {
        save_files(
            state,
            app_id,
            version,
            user,
            &schema,
            &access,
            uploads,
            &removals,
            &mut errors,
        )
        .await?;
        attach_ids(state, app_id, &schema, &mut data).await?;
        if status == "draft" {
            let v: Option<i32> = sqlx::query_scalar(
                "UPDATE applications SET data = $3, updated_at = $4, version = version + 1
                 WHERE id = $1 AND version = $2 AND status = 'draft' RETURNING version",
            )
            .bind(app_id)
            .bind(version)
            .bind(Value::Object(data.clone()))
            .bind(state.now())
            .fetch_optional(&state.db)
            .await?;
            version = v.ok_or(AppError::Conflict("该事项已被处理"))?;
        }
    }
    if intent == "draft" {
        let msg = if errors.is_empty() {
            "已存草稿，可在个人中心的草稿箱中继续填写。".to_owned()
        } else {
            format!(
                "已存草稿，但有附件未能添加：{}",
                errors
                    .values()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("；")
            )
        };
        flash(
            flashes,
            if errors.is_empty() {
                "success"
            } else {
                "error"
            },
            msg,
        );
        return Ok(Redirect::to(&format!("/applications/{app_id}/edit")).into_response());
    }
    let l = lookups(
        state,
        &schema,
        &data,
        user.id,
        (app_id != 0).then_some(app_id),
    )
    .await?;
    let check = check_ctx(state, &l, &data).await?;
    let validated = if intent == "add_row" {
        Err(Errors::new())
    } else {
        match forms::validate(&schema, &access, &data, &check) {
            Ok(clean) if errors.is_empty() => Ok(clean),
            Ok(_) => Err(Errors::new()),
            Err(e) => Err(e),
        }
    };
    match validated {
        Err(mut field_errors) => {
            for (k, v) in errors {
                field_errors.entry(k).or_default().extend(v);
            }
            let status_code = if field_errors.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            Ok((
                status_code,
                ApplyTemplate {
                    page,
                    service_id: s.id,
                    service_name: s.name.clone(),
                    department: s.department.clone(),
                    action: if app_id == 0 {
                        format!("/services/{}/apply", s.id)
                    } else {
                        format!("/applications/{app_id}/edit")
                    },
                    milestones: milestones(&def, st.as_ref(), None, &nothing_visible),
                    error_summary: summary(&schema, &field_errors),
                    fields: views(
                        &schema,
                        &data,
                        &access,
                        &field_errors,
                        &l,
                        &[],
                        &extra_rows(&pairs, intent == "add_row"),
                    ),
                    draft_id: (app_id != 0 && status == "draft").then_some(app_id),
                    version,
                    returned: status == "returned",
                },
            )
                .into_response())
        }
        Ok(clean) => {
            if app_id == 0
                && let Target::New { fid, wid } = &target
            {
                app_id = insert_draft(state, user, &s, *fid, *wid, &data).await?;
            }
            let app = store::submit(
                &state.db,
                app_id,
                version,
                clean,
                &s.code,
                &act_ctx(state, user, ip),
            )
            .await
            .map_err(store_error)?;
            flash(
                flashes,
                "success",
                format!("已提交，流水号 {}", app.serial_no.as_deref().unwrap_or("")),
            );
            Ok(Redirect::to(&format!("/applications/{}", app.id)).into_response())
        }
    }
}

fn store_error(e: StoreError) -> AppError {
    match e {
        StoreError::Stale | StoreError::Engine(engine::EngineError::AlreadyHandled) => {
            AppError::Conflict("该事项已被处理")
        }
        StoreError::Engine(engine::EngineError::NotAllowed(m)) => AppError::Forbidden(m),
        StoreError::Engine(e @ engine::EngineError::BadDefinition(_)) => {
            AppError::Internal(anyhow::anyhow!(e))
        }
        StoreError::Db(e) => AppError::Internal(e.into()),
        StoreError::Other(e) => AppError::Internal(e),
    }
}

/// Whether `user` may see the application: the applicant, anyone who has or had a task
/// on it (CC included), and the service's admins. Anyone else gets 404.
pub async fn can_view(state: &AppState, app: &AppRow, user: &CurrentUser) -> sqlx::Result<bool> {
    if app.applicant_id == user.id {
        return Ok(true);
    }
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tasks WHERE application_id = $1 AND assignee_id = $2)
             OR EXISTS (SELECT 1 FROM service_admins WHERE service_id = $3 AND user_id = $2)",
    )
    .bind(app.id)
    .bind(user.id)
    .bind(app.service_id)
    .fetch_one(&state.db)
    .await
}

#[derive(sqlx::FromRow)]
struct Visible {
    #[sqlx(flatten)]
    app: AppRow,
    visible: bool,
}

/// The application if `user` may see it (the rule of `can_view`), in one query.
/// The nodes where `user` has an open task.
fn open_nodes(st: Option<&engine::State>, user: &CurrentUser) -> Vec<String> {
    st.map(|s| {
        engine::pending(s)
            .into_iter()
            .filter(|(_, u)| *u == user.id)
            .map(|(n, _)| n)
            .collect()
    })
    .unwrap_or_default()
}

/// The field rules `user` sees `app` under, for the page and for its files: what is
/// hidden from them as a reader (`reader_hidden`), with the rules of the nodes where they
/// have an open task (`my_nodes`) laid over it.
async fn viewer_rules(
    state: &AppState,
    app: &AppRow,
    def: &Definition,
    my_nodes: &[String],
    user: &CurrentUser,
) -> sqlx::Result<BTreeMap<String, FieldAccess>> {
    let mut map = reader_hidden(state, app, def, user).await?;
    for n in my_nodes {
        if let Some(NodeKind::Approval { fields, .. }) = def.node(n).map(|n| &n.kind) {
            map.extend(fields.clone());
        }
    }
    Ok(map)
}

/// The fields and sections hidden from `user` when reading `app`: what is hidden at any
/// node where they have or had a task, so that closing a task (通过, another's 或签, 转办)
/// does not reveal it. The service's admins see everything. The applicant's own hidden
/// rules only shape the form they fill in (the departments' sections of 入校手续, say):
/// once submitted, the applicant reads what the departments wrote.
async fn reader_hidden(
    state: &AppState,
    app: &AppRow,
    def: &Definition,
    user: &CurrentUser,
) -> sqlx::Result<BTreeMap<String, FieldAccess>> {
    let (admin, nodes): (bool, Vec<String>) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM service_admins WHERE service_id = $2 AND user_id = $3),
                ARRAY(SELECT DISTINCT node_id FROM tasks WHERE application_id = $1 AND assignee_id = $3)",
    )
    .bind(app.id)
    .bind(app.service_id)
    .bind(user.id)
    .fetch_one(&state.db)
    .await?;
    let mut hidden = BTreeMap::new();
    if admin {
        return Ok(hidden);
    }
    for n in &nodes {
        if let Some(NodeKind::Approval { fields, .. }) = def.node(n).map(|n| &n.kind) {
            for (k, a) in fields {
                if *a == FieldAccess::Hidden {
                    hidden.insert(k.clone(), FieldAccess::Hidden);
                }
            }
        }
    }
    Ok(hidden)
}

async fn load_visible(state: &AppState, id: i64, user: &CurrentUser) -> AppResult<AppRow> {
    let row: Option<Visible> = sqlx::query_as(&format!(
        "SELECT {APP_COLUMNS},
                (applicant_id = $2
                 OR (status <> 'draft'
                     AND (EXISTS (SELECT 1 FROM tasks t WHERE t.application_id = a.id AND t.assignee_id = $2)
                          OR EXISTS (SELECT 1 FROM service_admins sa
                                     WHERE sa.service_id = a.service_id AND sa.user_id = $2)))) AS visible
         FROM applications a WHERE id = $1"
    ))
    .bind(id)
    .bind(user.id)
    .fetch_optional(&state.db)
    .await?;
    match row {
        Some(Visible { app, visible: true }) => Ok(app),
        _ => Err(AppError::NotFound),
    }
}

pub struct FlowView {
    pub node: String,
    pub actor: String,
    pub action: &'static str,
    pub comment: String,
    pub at: String,
}

pub struct TaskView {
    pub node_id: String,
    pub node_name: String,
    pub comment_required: bool,
    pub return_targets: Vec<(String, String)>,
    pub mode: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "workflow/application.html")]
pub struct ShowTemplate {
    pub page: Page,
    pub app_id: i64,
    pub serial_no: String,
    pub title: String,
    pub service_id: i64,
    pub service_name: String,
    pub applicant: String,
    pub status: &'static str,
    pub status_code: String,
    pub submitted: String,
    pub version: i32,
    pub milestones: Vec<Milestone>,
    pub fields: Vec<FieldView>,
    pub flows: Vec<FlowView>,
    pub tasks: Vec<TaskView>,
    pub current: Vec<String>,
    pub can_withdraw: bool,
    pub can_edit: bool,
    pub is_applicant: bool,
    pub changed_note: bool,
    /// Nodes with open tasks the applicant may 催办: (id, name).
    pub urge_nodes: Vec<(String, String)>,
    /// Generated by `diagram::svg`, every name escaped there.
    pub diagram: String,
    pub can_rate: bool,
    pub rating: Option<i16>,
    pub rating_comment: String,
    pub error_summary: Vec<(String, String)>,
    /// 审批意见 typed before a refused 通过.
    pub comment: String,
}

fn fmt(state: &AppState, t: DateTime<Utc>) -> String {
    t.with_timezone(&state.settings.time_zone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    show_page(state, user, page, id, None).await
}

/// What an approver typed when 通过 was refused: shown again with the messages.
struct Retry {
    data: Map<String, Value>,
    errors: Errors,
    comment: String,
}

async fn show_page(
    state: AppState,
    user: CurrentUser,
    page: Page,
    id: i64,
    retry: Option<Retry>,
) -> AppResult<Response> {
    let app = load_visible(&state, id, &user).await?;
    if app.status == "draft" {
        return Ok(Redirect::to(&format!("/applications/{id}/edit")).into_response());
    }
    let mut conn = state.db.acquire().await?;
    let (schema, def) = store::load_definitions(&state.db, &mut conn, &app).await?;
    drop(conn);
    let st: Option<engine::State> = app
        .state
        .clone()
        .and_then(|s| serde_json::from_value(s).ok());
    let my_nodes = open_nodes(st.as_ref(), &user);
    // The form as this viewer may see it: at their open node's field rules, else as a
    // reader, with what is hidden from them anywhere in this flow left out.
    let access_map = viewer_rules(&state, &app, &def, &my_nodes, &user).await?;
    let mut tasks = Vec::new();
    for n in &my_nodes {
        if let Some(node) = def.node(n)
            && let NodeKind::Approval {
                comment_required,
                mode,
                ..
            } = &node.kind
        {
            let done = st.as_ref().map(|s| s.done.clone()).unwrap_or_default();
            let mut targets = vec![("applicant".to_owned(), "申请人".to_owned())];
            if st.as_ref().is_some_and(|s| s.tokens.len() == 1) {
                for d in done.iter().rev() {
                    if let Some(dn) = def.node(d) {
                        targets.push((d.clone(), dn.name.clone()));
                    }
                }
            }
            tasks.push(TaskView {
                node_id: n.clone(),
                node_name: node.name.clone(),
                comment_required: *comment_required,
                return_targets: targets,
                mode: mode.label(),
            });
        }
    }
    let access = schema.access(&access_map, FieldAccess::Readonly);
    let mut data = app.data.as_object().cloned().unwrap_or_default();
    let (errors, comment) = match retry {
        Some(r) => {
            data.extend(r.data);
            (r.errors, r.comment)
        }
        None => (Errors::new(), String::new()),
    };
    let l = lookups(&state, &schema, &data, app.applicant_id, Some(app.id)).await?;
    let changed = if my_nodes.is_empty() {
        Vec::new()
    } else {
        app.changed_fields.clone()
    };
    let fields = views(
        &schema,
        &data,
        &access,
        &errors,
        &l,
        &changed,
        &BTreeMap::new(),
    );
    let error_summary = summary(&schema, &errors);
    #[allow(clippy::type_complexity)]
    let records: Vec<(String, Option<String>, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT f.node_name, u.name, f.action, f.comment, f.at FROM flow_records f
         LEFT JOIN users u ON u.id = f.actor_id WHERE f.application_id = $1 ORDER BY f.id",
    )
    .bind(app.id)
    .fetch_all(&state.db)
    .await?;
    let flows = records
        .into_iter()
        .map(|(node, actor, action, comment, at)| FlowView {
            node,
            actor: actor.unwrap_or_else(|| "系统".into()),
            action: action_label(&action),
            comment,
            at: fmt(&state, at),
        })
        .collect();
    let (service_name, applicant): (String, String) = sqlx::query_as(
        "SELECT s.name, u.name || '（' || u.account || '）' FROM services s, users u WHERE s.id = $1 AND u.id = $2",
    )
    .bind(app.service_id)
    .bind(app.applicant_id)
    .fetch_one(&state.db)
    .await?;
    let current: Vec<String> = st
        .as_ref()
        .map(|s| {
            s.tokens
                .iter()
                .map(|t| {
                    def.node(&t.node)
                        .map(|n| n.name.clone())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let is_applicant = app.applicant_id == user.id;
    let urge_nodes: Vec<(String, String)> = if is_applicant && app.status == "running" {
        st.as_ref()
            .map(|s| {
                s.tokens
                    .iter()
                    .map(|t| {
                        (
                            t.node.clone(),
                            def.node(&t.node)
                                .map(|n| n.name.clone())
                                .unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let status_code = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status_code,
        ShowTemplate {
            page,
            error_summary,
            comment,
            app_id: app.id,
            serial_no: app.serial_no.clone().unwrap_or_default(),
            title: app.title.clone(),
            service_id: app.service_id,
            service_name,
            applicant,
            status: status_label(&app.status),
            status_code: app.status.clone(),
            submitted: app.submitted_at.map(|t| fmt(&state, t)).unwrap_or_default(),
            version: app.version,
            // Decided only on fields this viewer may see, else the bar would tell them.
            milestones: milestones(&def, st.as_ref(), Some(&app.data), &|k| {
                access.get(k).is_some_and(|a| *a != FieldAccess::Hidden)
            }),
            fields,
            flows,
            changed_note: !changed.is_empty(),
            tasks,
            current,
            can_withdraw: is_applicant
                && app.status == "running"
                && st.as_ref().is_some_and(|s| !s.acted),
            can_edit: is_applicant && app.status == "returned",
            is_applicant,
            urge_nodes,
            diagram: super::diagram::svg(&def, st.as_ref()),
            can_rate: is_applicant && app.status == "completed" && app.rating.is_none(),
            rating: app.rating,
            rating_comment: app.rating_comment.clone().unwrap_or_default(),
        },
    )
        .into_response())
}

/// A draft or a returned application, opened by its applicant for editing.
async fn editable(
    state: &AppState,
    id: i64,
    user: &CurrentUser,
) -> AppResult<(AppRow, ServiceDetail, FormSchema, Definition)> {
    let app = load_visible(state, id, user).await?;
    if app.applicant_id != user.id || !matches!(app.status.as_str(), "draft" | "returned") {
        return Err(AppError::NotFound);
    }
    let s = catalog::load_service(state, app.service_id, Some(user)).await?;
    let (schema, def) =
        store::load_definitions(&state.db, &mut *state.db.acquire().await?, &app).await?;
    Ok((app, s, schema, def))
}

async fn edit_page(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<ApplyTemplate> {
    let (app, s, schema, def) = editable(&state, id, &user).await?;
    let data = app.data.as_object().cloned().unwrap_or_default();
    let l = lookups(&state, &schema, &data, user.id, Some(app.id)).await?;
    let st: Option<engine::State> = app
        .state
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    Ok(ApplyTemplate {
        page,
        service_id: s.id,
        service_name: s.name.clone(),
        department: s.department.clone(),
        action: format!("/applications/{id}/edit"),
        milestones: milestones(&def, st.as_ref(), None, &nothing_visible),
        fields: views(
            &schema,
            &data,
            &applicant_access(&schema, &def),
            &Errors::new(),
            &l,
            &[],
            &BTreeMap::new(),
        ),
        error_summary: Vec::new(),
        draft_id: (app.status == "draft").then_some(app.id),
        version: app.version,
        returned: app.status == "returned",
    })
}

async fn edit_post(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Path(id): Path<i64>,
    input: FormInput,
) -> AppResult<Response> {
    let (app, s, schema, def) = editable(&state, id, &user).await?;
    handle_form(
        &state,
        &user,
        &flashes,
        ip,
        page,
        s,
        schema,
        def,
        Target::Existing(Box::new(app)),
        input,
    )
    .await
}

async fn delete_draft(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let rows = sqlx::query(
        "DELETE FROM applications WHERE id = $1 AND applicant_id = $2 AND status = 'draft'",
    )
    .bind(id)
    .bind(user.id)
    .execute(&state.db)
    .await?
    .rows_affected();
    if rows == 0 {
        return Err(AppError::NotFound);
    }
    flash(&flashes, "success", "草稿已删除。");
    Ok(Redirect::to("/center").into_response())
}

#[derive(serde::Deserialize)]
pub struct ActForm {
    op: String,
    #[serde(default)]
    node: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    stars: String,
    version: i32,
}

async fn act_post(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    page: Page,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form: ActForm = serde_urlencoded::from_str(
        &serde_urlencoded::to_string(
            pairs
                .iter()
                .filter(|(k, _)| !k.starts_with("f."))
                .collect::<Vec<_>>(),
        )
        .map_err(|_| AppError::BadRequest("请求有误。"))?,
    )
    .map_err(|_| AppError::BadRequest("请求有误。"))?;
    let app = load_visible(&state, id, &user).await?;
    let mut conn = state.db.acquire().await?;
    let (_, def) = store::load_definitions(&state.db, &mut conn, &app).await?;
    drop(conn);
    let comment = form.comment.trim().to_owned();
    if comment.chars().count() > 1000 {
        return Err(AppError::BadRequest("审批意见不能超过 1000 字。"));
    }
    let back = Redirect::to(&format!("/applications/{id}"));
    let node_rules = def.node(&form.node).map(|n| &n.kind);
    // Input problems go back to the page as a message; nothing was applied.
    let refuse = |msg: &'static str| {
        let flashes = flashes.clone();
        async move {
            flash(&flashes, "error", msg);
            Ok::<Response, AppError>(Redirect::to(&format!("/applications/{id}")).into_response())
        }
    };
    let person = |account: &str| {
        let account = account.trim().to_owned();
        let db = state.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT id FROM users WHERE account = $1 AND status = 'active'",
            )
            .bind(account)
            .fetch_optional(&db)
            .await
        }
    };
    let action = match form.op.as_str() {
        "approve" => {
            if let Some(NodeKind::Approval {
                comment_required: true,
                ..
            }) = node_rules
                && comment.is_empty()
            {
                return refuse("本环节通过时须填写审批意见。").await;
            }
            Action::Approve {
                node: form.node.clone(),
                user: user.id,
            }
        }
        "return" => {
            if comment.is_empty() {
                return refuse("退回时须填写审批意见。").await;
            }
            let to = if form.to.is_empty() || form.to == "applicant" {
                ReturnTo::Applicant
            } else {
                ReturnTo::Node(form.to.clone())
            };
            Action::Return {
                node: form.node.clone(),
                user: user.id,
                to,
            }
        }
        "terminate" => {
            if comment.is_empty() {
                return refuse("中止时须填写审批意见。").await;
            }
            Action::Terminate {
                node: form.node.clone(),
                user: user.id,
            }
        }
        "transfer" => {
            let Some(to) = person(&form.account).await? else {
                return refuse("找不到该账号，请输入对方的学号/工号。").await;
            };
            Action::Transfer {
                node: form.node.clone(),
                user: user.id,
                to,
            }
        }
        "add_signer" => {
            let Some(signer) = person(&form.account).await? else {
                return refuse("找不到该账号，请输入对方的学号/工号。").await;
            };
            Action::AddSigner {
                node: form.node.clone(),
                user: user.id,
                signer,
                before: form.position == "before",
            }
        }
        "withdraw" => Action::Withdraw { user: user.id },
        "urge" | "rate" => {
            let c = act_ctx(&state, &user, ip);
            let result = if form.op == "urge" {
                store::urge(&state.db, id, &form.node, &c)
                    .await
                    .map(|_| "已催办，待办人会收到提醒。")
            } else {
                let stars: i16 = form.stars.parse().unwrap_or(0);
                store::rate(&state.db, id, stars, &comment, &c)
                    .await
                    .map(|_| "感谢您的评价！")
            };
            return match result {
                Ok(msg) => {
                    flash(&flashes, "success", msg);
                    Ok(back.into_response())
                }
                Err(StoreError::Engine(engine::EngineError::NotAllowed(m))) => refuse(m).await,
                Err(e) => Err(store_error(e)),
            };
        }
        _ => return Err(AppError::BadRequest("不支持的操作。")),
    };
    // Fields this node fills in (e.g. a department's own section), checked like the
    // applicant's: only on 通过.
    let mut edits = None;
    if form.op == "approve"
        && let Some(NodeKind::Approval { fields, .. }) = node_rules
        && fields.values().any(|a| *a == FieldAccess::Editable)
    {
        let mut conn = state.db.acquire().await?;
        let (schema, _) = store::load_definitions(&state.db, &mut conn, &app).await?;
        drop(conn);
        let access = schema.access(fields, FieldAccess::Readonly);
        let mut data = parse_post(&schema, &pairs);
        data.retain(|k, _| access.get(k) == Some(&FieldAccess::Editable));
        resolve_accounts(&state, &schema, &mut data).await?;
        let l = lookups(&state, &schema, &data, app.applicant_id, Some(app.id)).await?;
        let check = check_ctx(&state, &l, &data).await?;
        match forms::validate(&schema, &access, &data, &check) {
            Ok(clean) => {
                let mut only = Map::new();
                for (k, v) in clean {
                    if access.get(&k) == Some(&FieldAccess::Editable) {
                        only.insert(k, v);
                    }
                }
                edits = Some(only);
            }
            Err(errors) => {
                return show_page(
                    state,
                    user,
                    page,
                    id,
                    Some(Retry {
                        data,
                        errors,
                        comment,
                    }),
                )
                .await;
            }
        }
    }
    let result = store::act(
        &state.db,
        &app,
        form.version,
        store::Act {
            action,
            comment,
            data: edits,
        },
        &act_ctx(&state, &user, ip),
    )
    .await;
    match result {
        Ok(_) => {}
        Err(StoreError::Engine(engine::EngineError::NotAllowed(m))) => return refuse(m).await,
        Err(e) => return Err(store_error(e)),
    }
    let msg = match form.op.as_str() {
        "approve" => "已通过。",
        "return" => "已退回。",
        "terminate" => "已中止。",
        "transfer" => "已转办。",
        "add_signer" => "已加签。",
        _ => "已撤回。",
    };
    flash(&flashes, "success", msg);
    Ok(back.into_response())
}

/// An attachment, for people who may see its application; always as a download, streamed
/// from the database in slices so a large file never sits whole in memory.
async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let row: Option<(i64, String, i64, String)> = sqlx::query_as(
        "SELECT application_id, file_name, size, field_key FROM attachments WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    let (app_id, name, size, field) = row.ok_or(AppError::NotFound)?;
    let app = load_visible(&state, app_id, &user).await?;
    // A file in a field hidden from this viewer is as good as not there.
    if app.status != "draft" {
        let mut conn = state.db.acquire().await?;
        let (schema, def) = store::load_definitions(&state.db, &mut conn, &app).await?;
        drop(conn);
        let st: Option<engine::State> = app
            .state
            .clone()
            .and_then(|s| serde_json::from_value(s).ok());
        let map = viewer_rules(&state, &app, &def, &open_nodes(st.as_ref(), &user), &user).await?;
        if schema.access(&map, FieldAccess::Readonly).get(&field) == Some(&FieldAccess::Hidden) {
            return Err(AppError::NotFound);
        }
    }
    const SLICE: i64 = 256 * 1024;
    let db = state.db.clone();
    let stream = futures_util::stream::unfold(0i64, move |offset| {
        let db = db.clone();
        async move {
            if offset >= size {
                return None;
            }
            // substring() on bytea is 1-based.
            let chunk: Result<Vec<u8>, sqlx::Error> = sqlx::query_scalar(
                "SELECT substring(data FROM $2::int FOR $3::int) FROM attachments WHERE id = $1",
            )
            .bind(id)
            .bind(offset + 1)
            .bind(SLICE)
            .fetch_one(&db)
            .await;
            if let Err(e) = &chunk {
                tracing::error!(error = %e, attachment = id, "attachment read failed mid-download");
            }
            Some((chunk.map(axum::body::Bytes::from), offset + SLICE))
        }
    });
    let mut res = axum::body::Body::from_stream(stream).into_response();
    let h = res.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        axum::http::header::CONTENT_LENGTH,
        axum::http::HeaderValue::from(size),
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&files::content_disposition(&name)) {
        h.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-store"),
    );
    Ok(res)
}

#[derive(serde::Deserialize)]
pub struct PeopleQuery {
    #[serde(default)]
    q: String,
}

#[derive(serde::Serialize, sqlx::FromRow)]
pub struct PersonHit {
    pub id: i64,
    pub name: String,
    pub account: String,
    pub department: Option<String>,
}

/// The person picker's search (name or account), for signed-in people: ten matches, names,
/// accounts and departments only.
/// Searches one person may make per 10 minutes: plenty for picking people as one types
/// (a request per keystroke), too few to page through the whole directory.
const PEOPLE_SEARCHES: u32 = 300;

async fn people_search(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::extract::Query(q): axum::extract::Query<PeopleQuery>,
) -> AppResult<Response> {
    if !state.people_search.allow(
        user.id,
        state.now(),
        PEOPLE_SEARCHES,
        chrono::Duration::minutes(10),
    ) {
        return Err(AppError::TooManyRequests);
    }
    let term: String = q.q.trim().chars().take(30).collect();
    if term.is_empty() {
        return Ok(axum::Json(Vec::<PersonHit>::new()).into_response());
    }
    let like = format!(
        "{}%",
        term.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let hits: Vec<PersonHit> = sqlx::query_as(
        "SELECT u.id, u.name, u.account, d.name AS department FROM users u
         LEFT JOIN departments d ON d.id = u.department_id
         WHERE u.status = 'active' AND (u.account ILIKE $1 OR u.name LIKE $1)
         ORDER BY u.name, u.account LIMIT 10",
    )
    .bind(like)
    .fetch_all(&state.db)
    .await?;
    Ok(axum::Json(hits).into_response())
}
