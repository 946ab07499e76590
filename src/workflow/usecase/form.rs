//! 立即办理 and 草稿箱: the empty form, 存草稿, 添加一行, 提交 and resubmitting a returned
//! application.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sqlx::PgPool;

use super::{
    ActCtx, check_ctx, definitions, files, load_visible, lookups, profile, resolve_accounts,
    submit, summary,
};
use crate::{
    audit,
    catalog::{self, ServiceDetail, model::start_refusal},
    error::{AppError, AppResult},
    forms::{
        self, Errors, FieldAccess, FormSchema,
        input::FormInput,
        render::{FieldView, MAX_EXTRA_ROWS, parse_post, views},
    },
    secret::SecretKey,
    web::user::CurrentUser,
    workflow::{
        milestones::{Milestone, milestones, nothing_visible},
        model::Definition,
        store::{self, AppRow, AppStatus, definitions::Current},
    },
};

/// What the form page shows.
pub struct FormView {
    pub service_id: i64,
    pub service_name: String,
    pub department: String,
    pub action: String,
    pub milestones: Vec<Milestone>,
    pub fields: Vec<FieldView>,
    pub error_summary: Vec<(String, String)>,
    pub draft_id: Option<i64>,
    /// The application being edited (a draft or a returned one); none for a new one.
    pub app_id: Option<i64>,
    pub version: i32,
    pub returned: bool,
    /// Shown again because of errors (answered with 422).
    pub invalid: bool,
    /// A new application's one-time key (kept when the form comes back with messages).
    pub once: String,
}

/// A published online service this person may start, with its current definitions.
pub struct Startable {
    pub service: ServiceDetail,
    pub current: Current,
}

/// Why 立即办理 does not open the form.
pub enum NotStartable {
    /// Not signed in: sign in, then back to the guide.
    SignIn,
    /// Handled elsewhere: the external system, or the guide of an offline-only service.
    Elsewhere(String),
    /// The person may not start it: why, and who may.
    Refused {
        service: Box<ServiceDetail>,
        reason: String,
        who: String,
    },
    /// Marked online, but no form has been designed yet.
    NoForm,
}

/// 立即办理: the service, if this person may start it now. One load of the service and
/// one permission check.
#[tracing::instrument(skip_all, fields(service = id))]
pub async fn open(
    db: &PgPool,
    key: &SecretKey,
    today: chrono::NaiveDate,
    user: Option<&CurrentUser>,
    id: i64,
) -> AppResult<Result<(Startable, FormView), NotStartable>> {
    let s = catalog::load_startable(db, id, user).await?;
    let Some(user) = user else {
        return Ok(Err(NotStartable::SignIn));
    };
    match s.kind.as_str() {
        "external" => {
            return Ok(Err(NotStartable::Elsewhere(
                s.external_url.clone().unwrap_or_default(),
            )));
        }
        "guide" => return Ok(Err(NotStartable::Elsewhere(format!("/services/{id}")))),
        _ => {}
    }
    let rule = s.rule();
    if let Some(reason) = start_refusal(db, &rule, user).await? {
        let who = catalog::model::who_may_start(db, &rule).await?;
        return Ok(Err(NotStartable::Refused {
            service: Box::new(s),
            reason,
            who,
        }));
    }
    let Some(current) = store::definitions::current(db, id).await? else {
        return Ok(Err(NotStartable::NoForm));
    };
    let p = profile(db, user.id, Some(key)).await?;
    let data = forms::initial_values(&current.schema, &p);
    let l = lookups(db, &current.schema, &data, user.id, user.id, None, today).await?;
    let access = applicant_access(&current.schema, &current.def);
    let view = FormView {
        service_id: s.id,
        service_name: s.name.clone(),
        department: s.department.clone(),
        action: format!("/services/{}/apply", s.id),
        milestones: milestones(&current.def, None, None, &nothing_visible),
        fields: views(
            &current.schema,
            &data,
            &access,
            &Errors::new(),
            &l,
            &[],
            &BTreeMap::new(),
        ),
        error_summary: Vec::new(),
        draft_id: None,
        app_id: None,
        version: 0,
        returned: false,
        invalid: false,
        once: uuid::Uuid::new_v4().to_string(),
    };
    Ok(Ok((
        Startable {
            service: s,
            current,
        },
        view,
    )))
}

/// The checks of a posted new application: a published online service this person may
/// start, with definitions.
async fn startable(db: &PgPool, user: &CurrentUser, id: i64) -> AppResult<Startable> {
    let s = catalog::load_startable(db, id, Some(user)).await?;
    if s.kind != "online" {
        return Err(AppError::NotFound);
    }
    if start_refusal(db, &s.rule(), user).await?.is_some() {
        return Err(AppError::Forbidden("您没有权限发起该流程"));
    }
    let current = store::definitions::current(db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Startable {
        service: s,
        current,
    })
}

/// Whom the person picker may list for the person field `field` (no role) of a form
/// this person is filling: the form of a service they may start (`service`), or of an
/// application they can see (`app`: a draft, a returned one, a task's fields). Anything
/// else is 404: the directory is searched only for a form that asks for a person.
/// The picker of 转办 and 加签 names itself with this in place of a form field's key.
pub const HANDOVER_FIELD: &str = "_handover";

pub async fn picker_scope(
    db: &PgPool,
    user: &CurrentUser,
    service: Option<i64>,
    app: Option<i64>,
    field: &str,
) -> AppResult<crate::org::people::Within<'static>> {
    if field == HANDOVER_FIELD {
        // 转办 / 加签: colleagues, for whoever has an open task on the application.
        let app = load_visible(db, app.ok_or(AppError::NotFound)?, user.id).await?;
        if super::open_nodes(app.engine_state().as_ref(), user.id).is_empty() {
            return Err(AppError::NotFound);
        }
        return Ok(super::person_within(
            forms::PersonScope::Staff,
            app.applicant_id,
        ));
    }
    let (schema, applicant) = match (service, app) {
        (Some(id), None) => (startable(db, user, id).await?.current.schema, user.id),
        (None, Some(id)) => {
            let app = load_visible(db, id, user.id).await?;
            (definitions(db, &app).await?.0.clone(), app.applicant_id)
        }
        _ => return Err(AppError::NotFound),
    };
    let f = schema
        .fields
        .iter()
        .find(|f| f.key == field && f.kind == forms::FieldKind::Person && f.role.is_none())
        .ok_or(AppError::NotFound)?;
    Ok(super::person_within(
        f.scope.unwrap_or(forms::PersonScope::All),
        applicant,
    ))
}

fn applicant_access(schema: &FormSchema, def: &Definition) -> BTreeMap<String, FieldAccess> {
    schema.access(&def.applicant_fields, FieldAccess::Editable)
}

/// A draft or a returned application, opened by its applicant for editing.
pub struct Editable {
    app: AppRow,
    service: ServiceDetail,
    schema: FormSchema,
    def: Definition,
}

async fn editable(db: &PgPool, id: i64, user: &CurrentUser) -> AppResult<Editable> {
    let app = load_visible(db, id, user.id).await?;
    if app.applicant_id != user.id || !app.status.editable() {
        return Err(AppError::NotFound);
    }
    // A returned application goes on whatever became of its service since; a draft is
    // a new application yet, which a service no longer published does not take.
    let service = if app.status == AppStatus::Draft {
        catalog::load_startable(db, app.service_id, Some(user)).await?
    } else {
        catalog::service_detail(db, app.service_id)
            .await?
            .ok_or(AppError::NotFound)?
    };
    let defs = definitions(db, &app).await?;
    let (schema, def) = (defs.0.clone(), defs.1.clone());
    Ok(Editable {
        app,
        service,
        schema,
        def,
    })
}

/// The edit page of the applicant's draft or returned application.
#[tracing::instrument(skip_all, fields(app = id, user = user.id))]
pub async fn edit(
    db: &PgPool,
    today: chrono::NaiveDate,
    user: &CurrentUser,
    id: i64,
) -> AppResult<FormView> {
    let Editable {
        app,
        service: s,
        schema,
        def,
    } = editable(db, id, user).await?;
    let data = app.data_map();
    let l = lookups(db, &schema, &data, user.id, user.id, Some(app.id), today).await?;
    let st = app.engine_state();
    Ok(FormView {
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
        draft_id: (app.status == AppStatus::Draft).then_some(app.id),
        app_id: Some(app.id),
        version: app.version,
        returned: app.status == AppStatus::Returned,
        invalid: false,
        // Stored already: its version guards a repeated 提交.
        once: String::new(),
    })
}

/// What a posted form asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Submit,
    Draft,
    AddRow,
}

pub fn intent(pairs: &[(String, String)]) -> Intent {
    match pairs
        .iter()
        .find(|(k, _)| k == "intent")
        .map(|(_, v)| v.as_str())
    {
        Some("draft") => Intent::Draft,
        Some("add_row") => Intent::AddRow,
        _ => Intent::Submit,
    }
}

/// The blank rows each sub-table showed beyond the usual two, one more after 添加一行
/// (bounded: the number comes from the request).
pub fn extra_rows(pairs: &[(String, String)], add: bool) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (k, v) in pairs {
        if k == "rows"
            && let Some((key, n)) = v.split_once(':')
        {
            let n: usize = n.parse().unwrap_or(0);
            m.insert(
                key.to_owned(),
                (n.min(MAX_EXTRA_ROWS) + usize::from(add)).min(MAX_EXTRA_ROWS),
            );
        }
    }
    m
}

/// Drafts one person may keep (the message in `insert_draft` names the number).
const MAX_DRAFTS: i64 = 100;

async fn insert_draft(
    db: &PgPool,
    c: &ActCtx,
    user: &CurrentUser,
    s: &ServiceDetail,
    current: &Current,
    data: &Map<String, Value>,
) -> AppResult<i64> {
    let mut tx = db.begin().await?;
    // A bound on what one person can store: each draft may hold 50 MB of files.
    if store::drafts::count(&mut tx, user.id).await? >= MAX_DRAFTS {
        return Err(AppError::Conflict(
            "草稿箱已满（最多 100 份），请先在个人中心的草稿箱中删除不需要的草稿。",
        ));
    }
    let id = store::drafts::insert(
        &mut tx,
        store::drafts::NewDraft {
            service_id: s.id,
            applicant_id: user.id,
            form_def_id: current.form_id,
            workflow_def_id: current.workflow_id,
            title: &forms::render::title(&s.name, &user.name),
            data: Value::Object(data.clone()),
            at: c.now,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        audit::Entry {
            at: c.now,
            actor_id: Some(user.id),
            action: "application.draft",
            target: &format!("application:{id}"),
            ip: None,
            outcome: audit::Outcome::Success,
            details: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Where a posted form goes: a new application of a service, or the applicant's draft or
/// returned application.
pub enum Target {
    New { service_id: i64 },
    Existing { app_id: i64 },
}

/// What became of a posted form.
pub enum Posted {
    /// Done (saved or submitted): go to `to` and say `message` (`ok` false: as a warning).
    Redirect {
        to: String,
        ok: bool,
        message: String,
    },
    /// Shown again with what was typed and the messages (none after 添加一行).
    Form(FormView),
}

/// 提交 / 存草稿 / 添加一行. Files are kept as soon as they arrive (as a draft), typed input
/// is always shown back, and only a valid form is submitted.
#[tracing::instrument(skip_all, fields(user = user.id))]
pub async fn post(
    db: &PgPool,
    c: &ActCtx,
    user: &CurrentUser,
    target: Target,
    input: FormInput,
) -> AppResult<Posted> {
    let (s, schema, def, existing, current) = match target {
        Target::New { service_id } => {
            let st = startable(db, user, service_id).await?;
            (
                st.service,
                st.current.schema.clone(),
                st.current.def.clone(),
                None,
                Some(st.current),
            )
        }
        Target::Existing { app_id } => {
            let e = editable(db, app_id, user).await?;
            (e.service, e.schema, e.def, Some(e.app), None)
        }
    };
    let FormInput {
        pairs,
        files: uploads,
        file_errors,
    } = input;
    let p = profile(db, user.id, Some(&c.secret)).await?;
    let access = applicant_access(&schema, &def);
    // Only what the applicant may edit comes from the request; every other field keeps
    // what the application holds (what a department filled in at its own step, or the
    // defaults of a new form), whatever else the request carries.
    let mut data = match &existing {
        Some(app) => app.data_map(),
        None => forms::initial_values(&schema, &p),
    };
    for (k, v) in parse_post(&schema, &pairs) {
        if access.get(&k) == Some(&FieldAccess::Editable) {
            data.insert(k, v);
        }
    }
    forms::enforce_locked(&schema, &p, &mut data);
    resolve_accounts(db, &schema, &mut data).await?;
    let intent = intent(&pairs);
    // A new application's one-time key, if the form sent a valid one.
    let once = pairs
        .iter()
        .find(|(k, _)| k == "once")
        .and_then(|(_, v)| uuid::Uuid::parse_str(v.trim()).ok());
    let removals: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "remove")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let mut errors: Errors = file_errors;
    // A returned application is edited and resubmitted; it has no draft to save into
    // (the page offers no 存草稿), so say so instead of pretending.
    if intent == Intent::Draft
        && let Some(app) = &existing
        && app.status == AppStatus::Returned
    {
        return Ok(Posted::Redirect {
            to: format!("/applications/{}/edit", app.id),
            ok: false,
            message: "已退回的申请请修改后直接提交。".into(),
        });
    }

    // Where the input lives: an existing application, or a new draft when there is
    // something to keep (存草稿, or files).
    let (mut app_id, mut version, status, st) = match &existing {
        Some(app) => {
            let posted: i32 = pairs
                .iter()
                .find(|(k, _)| k == "version")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(-1);
            if posted != app.version {
                return Err(AppError::Conflict("该事项已被处理"));
            }
            (app.id, app.version, app.status, app.engine_state())
        }
        None => (0, 0, AppStatus::Draft, None),
    };
    if app_id == 0
        && (intent == Intent::Draft || !uploads.is_empty())
        && let Some(current) = &current
    {
        app_id = insert_draft(db, c, user, &s, current, &data).await?;
    }
    if app_id != 0 {
        files::save(
            db,
            c,
            files::Change {
                app_id,
                version,
                schema: &schema,
                access: &access,
                uploads,
                removals: &removals,
            },
            &mut errors,
        )
        .await?;
        files::attach_ids(db, app_id, &schema, &mut data).await?;
        if status == AppStatus::Draft {
            let v = store::drafts::save(
                &mut *db.acquire().await?,
                app_id,
                version,
                Value::Object(data.clone()),
                c.now,
            )
            .await?;
            version = v.ok_or(AppError::Conflict("该事项已被处理"))?;
        }
    }
    if intent == Intent::Draft {
        let message = if errors.is_empty() {
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
        return Ok(Posted::Redirect {
            to: format!("/applications/{app_id}/edit"),
            ok: errors.is_empty(),
            message,
        });
    }
    let check = check_ctx(db, &schema, &data, user.id, c.today()).await?;
    let validated = if intent == Intent::AddRow {
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
            let l = lookups(
                db,
                &schema,
                &data,
                user.id,
                user.id,
                (app_id != 0).then_some(app_id),
                c.today(),
            )
            .await?;
            Ok(Posted::Form(FormView {
                once: once.map(|k| k.to_string()).unwrap_or_default(),
                invalid: !field_errors.is_empty(),
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
                    &extra_rows(&pairs, intent == Intent::AddRow),
                ),
                draft_id: (app_id != 0 && status == AppStatus::Draft).then_some(app_id),
                app_id: (app_id != 0).then_some(app_id),
                version,
                returned: status == AppStatus::Returned,
            }))
        }
        Ok(clean) => {
            let app = match &current {
                // A new application: inserted and submitted in one transaction.
                Some(current) if app_id == 0 => {
                    let done = submit::submit_new(
                        db,
                        store::drafts::NewDraft {
                            service_id: s.id,
                            applicant_id: user.id,
                            form_def_id: current.form_id,
                            workflow_def_id: current.workflow_id,
                            title: &forms::render::title(&s.name, &user.name),
                            data: Value::Object(data.clone()),
                            at: c.now,
                        },
                        clean,
                        &s.code,
                        c,
                        once,
                    )
                    .await?;
                    match done {
                        Ok(app) => app,
                        Err(earlier) => {
                            return Ok(Posted::Redirect {
                                to: format!("/applications/{earlier}"),
                                ok: true,
                                message: "这份申请已经提交过，无需重复提交。".into(),
                            });
                        }
                    }
                }
                _ => submit(db, app_id, version, clean, &s.code, c).await?,
            };
            Ok(Posted::Redirect {
                to: format!("/applications/{}", app.id),
                ok: true,
                message: format!("已提交，流水号 {}", app.serial_no.as_deref().unwrap_or("")),
            })
        }
    }
}

/// Deletes the applicant's own draft; 404 for anything else.
#[tracing::instrument(skip_all, fields(app = id, user = user.id))]
pub async fn delete_draft(db: &PgPool, user: &CurrentUser, id: i64) -> AppResult<()> {
    if store::drafts::delete(&mut *db.acquire().await?, id, user.id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}
