//! The use cases of applications, as plain functions over the database pool: what the
//! web handlers call, one call per request, and what tests may drive without HTTP.
//! Each returns what the page needs; the handlers only parse and render.

pub mod act;
pub mod bundle;
pub mod files;
pub mod form;
pub mod read;
pub mod reassign;
pub mod submit;
pub mod trial;
pub mod urge;
pub mod versions;

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sqlx::PgPool;

use super::{
    engine::{self, EngineError},
    model::{Definition, NodeKind},
    store::{self, AppRow, StoreError},
};
use crate::{
    error::AppError,
    forms::{self, CheckCtx, FieldAccess, FormSchema, Profile, render::Lookups},
    identity::idcard,
    org::people,
    secret::SecretKey,
    web::user::user_type_label,
};

pub use store::transition::ActCtx;
pub use submit::submit;

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Stale | StoreError::Engine(EngineError::AlreadyHandled) => {
                AppError::Conflict("该事项已被处理")
            }
            StoreError::Engine(EngineError::NotAllowed(m)) => AppError::Forbidden(m),
            StoreError::Engine(e @ EngineError::BadDefinition(_)) => {
                AppError::Internal(anyhow::anyhow!(e))
            }
            StoreError::Db(e) => AppError::Internal(e.into()),
            StoreError::Other(e) => AppError::Internal(e),
        }
    }
}

/// The applicant's profile, for auto-fill. With `key`, the 身份证号 on file too (opened
/// here, for this form only; never for a trial).
pub async fn profile(db: &PgPool, user_id: i64, key: Option<&SecretKey>) -> sqlx::Result<Profile> {
    let r = people::profile(db, user_id).await?;
    let id_card = match (key, &r.id_card_sealed, &r.id_card_hash) {
        (Some(k), Some(s), Some(h)) => idcard::open(k, s, h).unwrap_or_default(),
        _ => String::new(),
    };
    Ok(Profile {
        id_card,
        name: r.name,
        account: r.account,
        gender: r.gender.unwrap_or_default(),
        department: r.department.unwrap_or_default(),
        title: r.title.unwrap_or_default(),
        phone: r.phone.unwrap_or_default(),
        email: r.email.unwrap_or_default(),
        user_type: user_type_label(&r.user_type).into(),
    })
}

/// Names for people and departments shown in the form, pickers' choices and the files;
/// whether the applicant's 身份证号 is on file (and masked, for `viewer` the applicant);
/// `today` for the date pickers' bounds.
pub async fn lookups(
    db: &PgPool,
    schema: &FormSchema,
    data: &Map<String, Value>,
    applicant: i64,
    viewer: i64,
    app_id: Option<i64>,
    today: chrono::NaiveDate,
) -> sqlx::Result<Lookups> {
    let mut l = Lookups {
        mask_id_card: viewer == applicant,
        today: Some(today),
        ..Lookups::default()
    };
    if schema
        .fields
        .iter()
        .any(|f| f.autofill.as_deref() == Some(forms::ID_CARD_SOURCE))
    {
        l.id_card_on_file = people::id_card_on_file(db, applicant).await?;
    }
    if let Some(app_id) = app_id {
        for f in store::attachments::list(&mut *db.acquire().await?, app_id).await? {
            l.attachments
                .entry(f.field_key)
                .or_default()
                .push((f.id, f.file_name, f.size));
        }
    }
    let ids: Vec<i64> = data.values().filter_map(forms::id_value).collect();
    for p in people::labels(db, &ids).await? {
        l.people.insert(p.id, p.label);
    }
    // Retired departments are offered only where this form already names them.
    let named: Vec<i64> = schema
        .fields
        .iter()
        .filter(|f| f.kind == forms::FieldKind::Department)
        .filter_map(|f| data.get(&f.key).and_then(forms::id_value))
        .collect();
    l.departments = people::department_choices(db, &named).await?;
    for f in &schema.fields {
        if f.kind == forms::FieldKind::Person
            && let Some(role) = &f.role
        {
            // Holders of the role whose scope covers the applicant's college.
            let choices = people::role_holders_for(db, role, applicant).await?;
            l.person_choices.insert(
                f.key.clone(),
                choices.into_iter().map(|p| (p.id, p.label)).collect(),
            );
        }
    }
    Ok(l)
}

/// Existing people and departments, for validating pickers; for a person field with a
/// role or a scope, whether the posted person is one it takes (around `applicant`'s
/// college). Only the posted people are looked up: listing every holder of the role on
/// each 提交 cost a fifth of its PostgreSQL time (issue 16).
pub async fn check_ctx(
    db: &PgPool,
    schema: &FormSchema,
    data: &Map<String, Value>,
    applicant: i64,
    today: chrono::NaiveDate,
) -> sqlx::Result<CheckCtx> {
    let ids: Vec<i64> = data.values().filter_map(forms::id_value).collect();
    let mut choices: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for f in &schema.fields {
        if f.kind != forms::FieldKind::Person {
            continue;
        }
        let posted = data.get(&f.key).and_then(forms::id_value);
        if let Some(role) = &f.role {
            let ok = match posted {
                Some(id) => people::role_holders_among(db, role, applicant, &[id]).await?,
                None => Vec::new(),
            };
            choices.insert(f.key.clone(), ok);
        } else if let Some(scope) = f.scope
            && let Some(id) = posted
        {
            let ok = people::in_scope(db, &[id], person_within(scope, applicant)).await?;
            choices.insert(f.key.clone(), ok);
        }
    }
    Ok(CheckCtx {
        people: people::active_ids(db, &ids).await?,
        departments: people::active_department_ids(db, &ids).await?,
        choices,
        today: Some(today),
    })
}

/// Whom a person field with this scope names, for this applicant.
pub fn person_within(scope: forms::PersonScope, applicant: i64) -> people::Within<'static> {
    people::Within {
        types: scope.user_types(),
        college_of: scope.by_college().then_some(applicant),
    }
}

/// Person fields typed as an account (学号/工号) become the person's id.
pub async fn resolve_accounts(
    db: &PgPool,
    schema: &FormSchema,
    data: &mut Map<String, Value>,
) -> sqlx::Result<()> {
    for f in &schema.fields {
        if f.kind != forms::FieldKind::Person {
            continue;
        }
        if let Some(Value::String(s)) = data.get(&f.key).cloned() {
            let s = forms::picked_account(&s).to_owned();
            if s.is_empty() || s.parse::<i64>().is_ok() && f.role.is_some() {
                continue;
            }
            if let Some(id) = people::active_by_account(db, &s).await? {
                data.insert(f.key.clone(), Value::from(id));
            }
        }
    }
    Ok(())
}

/// The field messages in form order, for the summary above the form.
pub fn summary(schema: &FormSchema, errors: &forms::Errors) -> Vec<(String, String)> {
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

/// The application if `user` may see it; anyone else gets 404.
async fn load_visible(db: &PgPool, id: i64, user: i64) -> Result<AppRow, AppError> {
    store::load_visible(&mut *db.acquire().await?, id, user)
        .await?
        .ok_or(AppError::NotFound)
}

/// The definitions the application started with.
async fn definitions(
    db: &PgPool,
    app: &AppRow,
) -> anyhow::Result<std::sync::Arc<(FormSchema, Definition)>> {
    store::definitions::load(db, &mut *db.acquire().await?, app).await
}

/// The nodes where `user` has an open task.
fn open_nodes(st: Option<&engine::State>, user: i64) -> Vec<String> {
    st.map(|s| {
        engine::pending(s)
            .into_iter()
            .filter(|(_, u)| *u == user)
            .map(|(n, _)| n)
            .collect()
    })
    .unwrap_or_default()
}

/// The field rules `user` sees `app` under, for the page and for its files: what is
/// hidden from them as a reader (`reader_hidden`), with the rules of the nodes where they
/// have an open task (`my_nodes`) laid over it.
async fn viewer_rules(
    db: &PgPool,
    app: &AppRow,
    def: &Definition,
    my_nodes: &[String],
    user: i64,
) -> sqlx::Result<BTreeMap<String, FieldAccess>> {
    let mut map = reader_hidden(db, app, def, user).await?;
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
    db: &PgPool,
    app: &AppRow,
    def: &Definition,
    user: i64,
) -> sqlx::Result<BTreeMap<String, FieldAccess>> {
    let (admin, nodes) = store::reader_nodes(&mut *db.acquire().await?, app, user).await?;
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

/// The 办事指南's step list of a service's current workflow, as the 里程碑 bar has it:
/// steps only a condition on the form brings in say so, and parallel branches are one step
/// naming them. Empty when the service has no workflow.
pub async fn guide_steps(db: &PgPool, service_id: i64) -> anyhow::Result<Vec<String>> {
    Ok(match store::definitions::current(db, service_id).await? {
        Some(c) => crate::workflow::milestones::milestones(
            &c.def,
            None,
            None,
            &crate::workflow::milestones::nothing_visible,
        )
        .into_iter()
        .map(|m| {
            let mut step = m.name;
            if !m.branches.is_empty() {
                let names: Vec<&str> = m.branches.iter().map(|b| b.name.as_str()).collect();
                step = format!("{step}：{}", names.join("、"));
            }
            if m.maybe {
                step.push_str("（视情况）");
            }
            step
        })
        .collect(),
        None => Vec::new(),
    })
}

/// `guide_steps` in the shape the catalog's guide takes it (`catalog::StepsFn`).
pub fn guide_steps_boxed(
    db: PgPool,
    service_id: i64,
) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<Vec<String>>> + Send>> {
    Box::pin(async move { guide_steps(&db, service_id).await })
}
