//! Applies workflow transitions: each action is one transaction with an optimistic
//! version check — the application row changes only if its version is the one the actor
//! saw, so of two racing actions exactly one applies and the other changes nothing. The
//! tasks, the 流转记录, the audit row and the outbox rows are written in the same
//! transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Map, Value, json};
use sqlx::{PgConnection, PgPool};

use super::{
    engine::{self, Action, Ctx, Effect, EngineError, ReturnTo, State, Status, UserId},
    model::{ApproverRule, Definition, Fallback, NodeKind, RoleScope},
};
use crate::{
    audit::{self, Entry, Outcome},
    forms::FormSchema,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("该事项已被处理")]
    Stale,
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppRow {
    pub id: i64,
    pub service_id: i64,
    pub applicant_id: i64,
    pub form_def_id: i64,
    pub workflow_def_id: i64,
    pub serial_no: Option<String>,
    pub title: String,
    pub status: String,
    pub data: Value,
    pub submitted_data: Option<Value>,
    pub changed_fields: Vec<String>,
    pub state: Option<Value>,
    pub version: i32,
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub const APP_COLUMNS: &str = "id, service_id, applicant_id, form_def_id, workflow_def_id, serial_no, title, status,
    data, submitted_data, changed_fields, state, version, rating, rating_comment, created_at, updated_at,
    submitted_at, finished_at";

pub async fn load_app(conn: &mut PgConnection, id: i64) -> sqlx::Result<Option<AppRow>> {
    sqlx::query_as(&format!(
        "SELECT {APP_COLUMNS} FROM applications WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Parsed definitions by (database, form id, workflow id). Definition rows never change (a
/// new version is a new row; a trigger refuses updates), so they can be kept for the life
/// of the process: most actions then read no definition from the database.
type DefKey = (String, i64, i64);
type DefCache =
    std::sync::Mutex<std::collections::HashMap<DefKey, std::sync::Arc<(FormSchema, Definition)>>>;
static DEFINITIONS: std::sync::OnceLock<DefCache> = std::sync::OnceLock::new();

pub async fn load_definitions(
    db: &PgPool,
    conn: &mut PgConnection,
    app: &AppRow,
) -> anyhow::Result<(FormSchema, Definition)> {
    let key = (
        db.connect_options().get_database().unwrap_or("").to_owned(),
        app.form_def_id,
        app.workflow_def_id,
    );
    let cache = DEFINITIONS.get_or_init(Default::default);
    if let Some(hit) = cache.lock().expect("definition cache").get(&key) {
        return Ok((hit.0.clone(), hit.1.clone()));
    }
    let (schema, def): (Value, Value) = sqlx::query_as(
        "SELECT f.schema, w.definition FROM form_definitions f, workflow_definitions w
         WHERE f.id = $1 AND w.id = $2",
    )
    .bind(app.form_def_id)
    .bind(app.workflow_def_id)
    .fetch_one(conn)
    .await?;
    let parsed: (FormSchema, Definition) = (
        serde_json::from_value(schema)?,
        serde_json::from_value(def)?,
    );
    let mut map = cache.lock().expect("definition cache");
    if map.len() > 10_000 {
        map.clear();
    }
    map.insert(key, std::sync::Arc::new(parsed.clone()));
    Ok(parsed)
}

/// The latest form and workflow definitions of a service.
pub async fn current_definitions(
    db: &PgPool,
    service_id: i64,
) -> anyhow::Result<Option<(i64, FormSchema, i64, Definition)>> {
    let row: Option<(i64, Value, i64, Value)> = sqlx::query_as(
        "SELECT f.id, f.schema, w.id, w.definition
         FROM (SELECT * FROM form_definitions WHERE service_id = $1 ORDER BY version DESC LIMIT 1) f,
              (SELECT * FROM workflow_definitions WHERE service_id = $1 ORDER BY version DESC LIMIT 1) w",
    )
    .bind(service_id)
    .fetch_optional(db)
    .await?;
    // A stored definition that no longer parses is a bug to surface, not a missing form.
    row.map(|(fid, fs, wid, wd)| {
        Ok((
            fid,
            serde_json::from_value(fs)
                .map_err(|e| anyhow::anyhow!("form definition {fid}: {e}"))?,
            wid,
            serde_json::from_value(wd)
                .map_err(|e| anyhow::anyhow!("workflow definition {wid}: {e}"))?,
        ))
    })
    .transpose()
}

/// Who approves each node, and each node's fallback, for this applicant and form.
pub async fn resolve(
    conn: &mut PgConnection,
    def: &Definition,
    applicant: UserId,
    service_id: i64,
    form: &Value,
) -> sqlx::Result<(BTreeMap<String, Vec<UserId>>, BTreeMap<String, Vec<UserId>>)> {
    let mut approvers = BTreeMap::new();
    let mut fallback = BTreeMap::new();
    let dept: Option<i64> = sqlx::query_scalar("SELECT department_id FROM users WHERE id = $1")
        .bind(applicant)
        .fetch_one(&mut *conn)
        .await?;
    for n in &def.nodes {
        let (rule, fb) = match &n.kind {
            NodeKind::Approval {
                approvers,
                fallback,
                ..
            } => (approvers, Some(fallback)),
            NodeKind::Cc { approvers, .. } => (approvers, None),
            _ => continue,
        };
        approvers.insert(
            n.id.clone(),
            resolve_rule(conn, rule, applicant, dept, form).await?,
        );
        if let Some(fb) = fb {
            let users: Vec<i64> =
                match fb {
                    Fallback::Skip => Vec::new(),
                    Fallback::User { account } => {
                        sqlx::query_scalar(
                            "SELECT id FROM users WHERE account = $1 AND status = 'active'",
                        )
                        .bind(account)
                        .fetch_all(&mut *conn)
                        .await?
                    }
                    Fallback::ServiceAdmins => sqlx::query_scalar(
                        "SELECT sa.user_id FROM service_admins sa JOIN users u ON u.id = sa.user_id
                         WHERE sa.service_id = $1 AND u.status = 'active' ORDER BY sa.user_id",
                    )
                    .bind(service_id)
                    .fetch_all(&mut *conn)
                    .await?,
                };
            fallback.insert(n.id.clone(), users);
        }
    }
    Ok((approvers, fallback))
}

async fn resolve_rule(
    conn: &mut PgConnection,
    rule: &ApproverRule,
    applicant: UserId,
    dept: Option<i64>,
    form: &Value,
) -> sqlx::Result<Vec<UserId>> {
    match rule {
        ApproverRule::Users { accounts } => sqlx::query_scalar(
            "SELECT id FROM users WHERE account = ANY($1) AND status = 'active' ORDER BY account",
        )
        .bind(accounts)
        .fetch_all(conn)
        .await,
        ApproverRule::Role { role, scope } => {
            let sql = match scope {
                RoleScope::Global => {
                    "SELECT DISTINCT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                     JOIN users u ON u.id = ur.user_id
                     WHERE r.code = $1 AND u.status = 'active' AND ($2::bigint IS NULL OR true)
                     ORDER BY ur.user_id"
                }
                RoleScope::ApplicantDepartment => {
                    "SELECT DISTINCT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                     JOIN users u ON u.id = ur.user_id
                     WHERE r.code = $1 AND u.status = 'active'
                       AND (ur.department_id IS NULL OR ur.department_id IN (SELECT dept_ancestors($2)))
                     ORDER BY ur.user_id"
                }
                RoleScope::ApplicantCollege => {
                    // The college: the applicant's ancestor directly below the school.
                    "WITH college AS (
                         SELECT a.id FROM dept_ancestors($2) a(id)
                         JOIN departments d ON d.id = a.id
                         JOIN departments p ON p.id = d.parent_id AND p.parent_id IS NULL
                     )
                     SELECT DISTINCT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                     JOIN users u ON u.id = ur.user_id
                     WHERE r.code = $1 AND u.status = 'active'
                       AND (ur.department_id IN (SELECT dept_subtree(id) FROM college)
                            OR ur.department_id IN (SELECT dept_ancestors(id) FROM college))
                     ORDER BY ur.user_id"
                }
            };
            sqlx::query_scalar(sql)
                .bind(role)
                .bind(dept)
                .fetch_all(conn)
                .await
        }
        ApproverRule::DeptHead { levels_up } => {
            let Some(dept) = dept else {
                return Ok(Vec::new());
            };
            sqlx::query_scalar(
                "WITH RECURSIVE up(id, parent_id, depth) AS (
                     SELECT id, parent_id, 0 FROM departments WHERE id = $1
                     UNION ALL
                     SELECT d.id, d.parent_id, up.depth + 1 FROM departments d JOIN up ON d.id = up.parent_id
                 )
                 SELECT DISTINCT ur.user_id FROM up
                 JOIN user_roles ur ON ur.department_id = up.id
                 JOIN roles r ON r.id = ur.role_id AND r.code = 'dept_head'
                 JOIN users u ON u.id = ur.user_id AND u.status = 'active'
                 WHERE up.depth = $2 ORDER BY ur.user_id",
            )
            .bind(dept)
            .bind(*levels_up as i32)
            .fetch_all(conn)
            .await
        }
        ApproverRule::FormField { field } => Ok(form
            .get(field)
            .and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .into_iter()
            .collect()),
        ApproverRule::Applicant => Ok(vec![applicant]),
    }
}

fn node_name(def: &Definition, id: &str) -> String {
    def.node(id)
        .map(|n| {
            if n.name.is_empty() {
                n.id.clone()
            } else {
                n.name.clone()
            }
        })
        .unwrap_or_else(|| id.to_owned())
}

/// `GZZB-2026-000123`: per service code and year, gap-free within committed submissions.
async fn next_serial(
    conn: &mut PgConnection,
    code: &str,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> sqlx::Result<String> {
    let year = now.with_timezone(&tz).year();
    let n: i32 = sqlx::query_scalar(
        "INSERT INTO serial_counters (service_code, year, last) VALUES ($1, $2, 1)
         ON CONFLICT (service_code, year) DO UPDATE SET last = serial_counters.last + 1
         RETURNING last",
    )
    .bind(code)
    .bind(year)
    .fetch_one(conn)
    .await?;
    Ok(format!("{code}-{year}-{n:06}"))
}

pub struct ActCtx<'a> {
    pub now: DateTime<Utc>,
    pub actor: UserId,
    pub ip: Option<std::net::IpAddr>,
    pub tz: chrono_tz::Tz,
    pub base_url: &'a str,
}

#[allow(clippy::too_many_arguments)]
async fn flow(
    conn: &mut PgConnection,
    app: i64,
    node: &str,
    name: &str,
    actor: Option<UserId>,
    action: &str,
    comment: &str,
    details: Value,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO flow_records (application_id, node_id, node_name, actor_id, action, comment, details, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(app)
    .bind(node)
    .bind(name)
    .bind(actor)
    .bind(action)
    .bind(comment)
    .bind(details)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// An in-app notification (delivered by the notifications module); the key makes a
/// retried transaction or a duplicate event harmless.
async fn notify(
    conn: &mut PgConnection,
    key: String,
    recipient: UserId,
    app: &AppRow,
    kind: &str,
    text: String,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, recipient_id, application_id, kind, payload, created_at, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(key)
    .bind(recipient)
    .bind(app.id)
    .bind(kind)
    .bind(json!({ "text": text, "serial_no": app.serial_no, "title": app.title, "link": format!("/applications/{}", app.id) }))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Bring the task rows in line with the engine's open tasks, and write the effects.
#[allow(clippy::too_many_arguments)]
async fn sync(
    conn: &mut PgConnection,
    def: &Definition,
    app: &AppRow,
    before: &[(String, UserId)],
    after: &State,
    fx: &[Effect],
    actor_task: Option<(&str, UserId, &str)>,
    c: &ActCtx<'_>,
) -> sqlx::Result<()> {
    let now_pending = engine::pending(after);
    // The actor's own task first: done, with what they did.
    if let Some((node, user, action)) = actor_task {
        sqlx::query(
            "UPDATE tasks SET status = 'done', action = $4, acted_at = $5
             WHERE application_id = $1 AND node_id = $2 AND assignee_id = $3 AND status = 'pending'",
        )
        .bind(app.id)
        .bind(node)
        .bind(user)
        .bind(action)
        .bind(c.now)
        .execute(&mut *conn)
        .await?;
    }
    let decided: BTreeMap<(String, UserId), UserId> = fx
        .iter()
        .filter_map(|f| match f {
            Effect::DecidedBy {
                node,
                by,
                cancelled,
            } => Some(cancelled.iter().map(move |u| ((node.clone(), *u), *by))),
            _ => None,
        })
        .flatten()
        .collect();
    for (node, user) in before {
        if now_pending.contains(&(node.clone(), *user)) {
            continue;
        }
        sqlx::query(
            "UPDATE tasks SET status = 'cancelled', decided_by = $4, acted_at = $5
             WHERE application_id = $1 AND node_id = $2 AND assignee_id = $3 AND status = 'pending'",
        )
        .bind(app.id)
        .bind(node)
        .bind(user)
        .bind(decided.get(&(node.clone(), *user)).copied().or(Some(c.actor)))
        .bind(c.now)
        .execute(&mut *conn)
        .await?;
    }
    for (node, user) in &now_pending {
        if before.contains(&(node.clone(), *user)) {
            continue;
        }
        let name = node_name(def, node);
        let (due, escalate) = match def.node(node).map(|n| &n.kind) {
            Some(NodeKind::Approval {
                time_limit_hours: Some(h),
                escalate,
                ..
            }) => (
                Some(c.now + chrono::Duration::hours(i64::from(*h))),
                *escalate,
            ),
            _ => (None, false),
        };
        sqlx::query(
            "INSERT INTO tasks (application_id, node_id, node_name, assignee_id, kind, status, created_at, due_at, escalate)
             VALUES ($1, $2, $3, $4, 'approve', 'pending', $5, $6, $7)",
        )
        .bind(app.id)
        .bind(node)
        .bind(&name)
        .bind(user)
        .bind(c.now)
        .bind(due)
        .bind(escalate)
        .execute(&mut *conn)
        .await?;
        notify(
            conn,
            format!("task:{}:{}:{}:{}", app.id, node, user, app.version + 1),
            *user,
            app,
            "new_task",
            format!(
                "您有一条待办：{}（{}），环节：{}",
                app.title,
                app.serial_no.as_deref().unwrap_or(""),
                name
            ),
            c.now,
        )
        .await?;
    }
    for f in fx {
        match f {
            Effect::Cc { node, users } => {
                let name = node_name(def, node);
                for u in users {
                    sqlx::query(
                        "INSERT INTO tasks (application_id, node_id, node_name, assignee_id, kind, status, created_at)
                         VALUES ($1, $2, $3, $4, 'cc', 'unread', $5)",
                    )
                    .bind(app.id)
                    .bind(node)
                    .bind(&name)
                    .bind(u)
                    .bind(c.now)
                    .execute(&mut *conn)
                    .await?;
                    notify(
                        conn,
                        format!("cc:{}:{}:{}", app.id, node, u),
                        *u,
                        app,
                        "cc",
                        format!(
                            "抄送给您：{}（{}）",
                            app.title,
                            app.serial_no.as_deref().unwrap_or("")
                        ),
                        c.now,
                    )
                    .await?;
                }
                flow(
                    conn,
                    app.id,
                    node,
                    &name,
                    None,
                    "cc",
                    "",
                    json!({ "users": users }),
                    c.now,
                )
                .await?;
            }
            Effect::Skipped { node } => {
                flow(
                    conn,
                    app.id,
                    node,
                    &node_name(def, node),
                    None,
                    "skip",
                    "无审批人，自动跳过",
                    json!({}),
                    c.now,
                )
                .await?;
            }
            Effect::Completed
            | Effect::Terminated
            | Effect::Returned { .. }
            | Effect::Withdrawn => {
                let (kind, text) = match f {
                    Effect::Completed => ("completed", "已办结"),
                    Effect::Terminated => ("terminated", "已被中止"),
                    Effect::Withdrawn => ("withdrawn", "已撤回"),
                    _ => ("returned", "已被退回，请修改后重新提交"),
                };
                if matches!(f, Effect::Completed) {
                    flow(
                        conn,
                        app.id,
                        "end",
                        "办结",
                        None,
                        "complete",
                        "",
                        json!({}),
                        c.now,
                    )
                    .await?;
                }
                if app.applicant_id != c.actor || matches!(f, Effect::Completed) {
                    notify(
                        conn,
                        format!("{kind}:{}:{}", app.id, app.version + 1),
                        app.applicant_id,
                        app,
                        kind,
                        format!(
                            "您的申请 {}（{}）{}",
                            app.title,
                            app.serial_no.as_deref().unwrap_or(""),
                            text
                        ),
                        c.now,
                    )
                    .await?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Write state and bump the version, only if nobody got there first.
async fn write_state(
    conn: &mut PgConnection,
    app: &AppRow,
    st: &State,
    extra_data: Option<&Value>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let finished = st.status.is_terminal().then_some(now);
    let rows = sqlx::query(
        "UPDATE applications SET status = $3, state = $4, version = version + 1, updated_at = $5,
                finished_at = COALESCE($6, finished_at), data = COALESCE($7, data)
         WHERE id = $1 AND version = $2",
    )
    .bind(app.id)
    .bind(app.version)
    .bind(st.status.code())
    .bind(serde_json::to_value(st).map_err(anyhow::Error::from)?)
    .bind(now)
    .bind(finished)
    .bind(extra_data)
    .execute(conn)
    .await?
    .rows_affected();
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::Stale)
    }
}

/// 提交 a draft, or resubmit a returned application (straight back to the node that
/// returned it). `data` has been validated by the caller.
pub async fn submit(
    db: &PgPool,
    app_id: i64,
    expected_version: i32,
    data: Map<String, Value>,
    service_code: &str,
    c: &ActCtx<'_>,
) -> Result<AppRow, StoreError> {
    let mut tx = db.begin().await?;
    let mut app = load_app(&mut tx, app_id).await?.ok_or(StoreError::Stale)?;
    if app.applicant_id != c.actor || app.version != expected_version {
        return Err(StoreError::Stale);
    }
    let (schema, def) = load_definitions(db, &mut tx, &app).await?;
    let form = Value::Object(data.clone());
    let (approvers, fallback) =
        resolve(&mut tx, &def, app.applicant_id, app.service_id, &form).await?;
    let ctx = Ctx {
        applicant: app.applicant_id,
        form: &form,
        approvers: &approvers,
        fallback: &fallback,
    };
    let (st, fx, before, resubmit) = match app.status.as_str() {
        "draft" => {
            let (st, fx) = engine::start(&def, &ctx)?;
            (st, fx, Vec::new(), false)
        }
        "returned" => {
            let prev: State = serde_json::from_value(app.state.clone().unwrap_or(Value::Null))
                .map_err(anyhow::Error::from)?;
            let (st, fx) = engine::apply(&def, &prev, &Action::Resubmit { user: c.actor }, &ctx)?;
            (st, fx, engine::pending(&prev), true)
        }
        _ => return Err(StoreError::Stale),
    };
    if app.serial_no.is_none() {
        app.serial_no = Some(next_serial(&mut tx, service_code, c.now, c.tz).await?);
    }
    let changed = match (&app.submitted_data, resubmit) {
        (Some(Value::Object(prev)), true) => crate::forms::changed_fields(&schema, prev, &data),
        _ => Vec::new(),
    };
    let rows = sqlx::query(
        "UPDATE applications SET status = $3, state = $4, data = $5, submitted_data = $5, changed_fields = $6,
                serial_no = $7, version = version + 1, updated_at = $8, submitted_at = COALESCE(submitted_at, $8),
                finished_at = $9
         WHERE id = $1 AND version = $2",
    )
    .bind(app.id)
    .bind(app.version)
    .bind(st.status.code())
    .bind(serde_json::to_value(&st).map_err(anyhow::Error::from)?)
    .bind(&form)
    .bind(&changed)
    .bind(&app.serial_no)
    .bind(c.now)
    .bind(st.status.is_terminal().then_some(c.now))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if rows != 1 {
        return Err(StoreError::Stale);
    }
    let start = def
        .start()
        .map(|n| n.id.clone())
        .unwrap_or_else(|| "start".into());
    flow(
        &mut tx,
        app.id,
        &start,
        "申请人提交",
        Some(c.actor),
        if resubmit { "resubmit" } else { "submit" },
        "",
        json!({ "changed": changed }),
        c.now,
    )
    .await?;
    sync(&mut tx, &def, &app, &before, &st, &fx, None, c).await?;
    audit::record(
        &mut tx,
        Entry {
            at: c.now,
            actor_id: Some(c.actor),
            action: if resubmit {
                "application.resubmit"
            } else {
                "application.submit"
            },
            target: &format!("application:{}", app.id),
            ip: c.ip,
            outcome: Outcome::Success,
            details: json!({ "serial_no": app.serial_no }),
        },
    )
    .await?;
    let app = load_app(&mut tx, app.id).await?.ok_or(StoreError::Stale)?;
    tx.commit().await?;
    Ok(app)
}

/// An approver's or the applicant's action on a running application.
pub struct Act {
    pub action: Action,
    pub comment: String,
    /// Edited fields (per-node editable sections), already validated.
    pub data: Option<Map<String, Value>>,
}

fn action_code(a: &Action) -> &'static str {
    match a {
        Action::Approve { .. } => "approve",
        Action::Return { .. } => "return",
        Action::Terminate { .. } => "terminate",
        Action::Transfer { .. } => "transfer",
        Action::AddSigner { .. } => "add_signer",
        Action::Withdraw { .. } => "withdraw",
        Action::Resubmit { .. } => "resubmit",
    }
}

pub async fn act(
    db: &PgPool,
    app_id: i64,
    expected_version: i32,
    act: Act,
    c: &ActCtx<'_>,
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let app = load_app(&mut tx, app_id).await?.ok_or(StoreError::Stale)?;
    if app.version != expected_version {
        return Err(StoreError::Stale);
    }
    let (_, def) = load_definitions(db, &mut tx, &app).await?;
    let prev: State = match &app.state {
        Some(s) => serde_json::from_value(s.clone()).map_err(anyhow::Error::from)?,
        None => return Err(StoreError::Stale),
    };
    let mut form = app.data.clone();
    if let (Some(obj), Some(edits)) = (form.as_object_mut(), &act.data) {
        for (k, v) in edits {
            obj.insert(k.clone(), v.clone());
        }
    }
    let (approvers, fallback) =
        resolve(&mut tx, &def, app.applicant_id, app.service_id, &form).await?;
    let ctx = Ctx {
        applicant: app.applicant_id,
        form: &form,
        approvers: &approvers,
        fallback: &fallback,
    };
    let (st, fx) = engine::apply(&def, &prev, &act.action, &ctx)?;
    let before = engine::pending(&prev);
    write_state(&mut tx, &app, &st, act.data.as_ref().map(|_| &form), c.now).await?;
    let code = action_code(&act.action);
    let (node, details) = match &act.action {
        Action::Approve { node, .. } | Action::Terminate { node, .. } => (node.clone(), json!({})),
        Action::Return { node, to, .. } => (
            node.clone(),
            json!({ "to": match to { ReturnTo::Applicant => "applicant".to_owned(), ReturnTo::Node(n) => n.clone() } }),
        ),
        Action::Transfer { node, to, .. } => (node.clone(), json!({ "to": to })),
        Action::AddSigner {
            node,
            signer,
            before,
            ..
        } => (node.clone(), json!({ "signer": signer, "before": before })),
        Action::Withdraw { .. } | Action::Resubmit { .. } => ("start".to_owned(), json!({})),
    };
    let name = if node == "start" {
        "申请人".to_owned()
    } else {
        node_name(&def, &node)
    };
    flow(
        &mut tx,
        app.id,
        &node,
        &name,
        Some(c.actor),
        code,
        act.comment.trim(),
        details,
        c.now,
    )
    .await?;
    let actor_task = match &act.action {
        Action::Withdraw { .. } | Action::Resubmit { .. } => None,
        _ => Some((node.as_str(), c.actor, code)),
    };
    if let Action::Transfer { to, .. } = &act.action {
        sqlx::query(
            "UPDATE tasks SET transferred_to = $4 WHERE application_id = $1 AND node_id = $2
             AND assignee_id = $3 AND status = 'pending'",
        )
        .bind(app.id)
        .bind(&node)
        .bind(c.actor)
        .bind(to)
        .execute(&mut *tx)
        .await?;
    }
    sync(&mut tx, &def, &app, &before, &st, &fx, actor_task, c).await?;
    audit::record(
        &mut tx,
        Entry {
            at: c.now,
            actor_id: Some(c.actor),
            action: &format!("application.{code}"),
            target: &format!("application:{}", app.id),
            ip: c.ip,
            outcome: Outcome::Success,
            details: json!({ "node": node, "status": st.status.code() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub fn status_label(status: &str) -> &'static str {
    match status {
        "draft" => "草稿",
        "running" => "进行中",
        "returned" => "已退回",
        "completed" => "已办结",
        "terminated" => "已中止",
        "withdrawn" => "已撤回",
        _ => "未知",
    }
}

pub fn action_label(action: &str) -> &'static str {
    match action {
        "submit" => "提交",
        "resubmit" => "重新提交",
        "approve" => "通过",
        "return" => "退回",
        "terminate" => "中止",
        "transfer" => "转办",
        "add_signer" => "加签",
        "withdraw" => "撤回",
        "cc" => "抄送",
        "skip" => "跳过",
        "complete" => "办结",
        "urge" => "催办",
        "rate" => "评价",
        _ => "操作",
    }
}

/// Statuses where the engine state is meaningful.
pub fn engine_status(app: &AppRow) -> Option<Status> {
    app.state
        .as_ref()
        .and_then(|s| serde_json::from_value::<State>(s.clone()).ok())
        .map(|s| s.status)
}

/// 催办: the applicant nudges the people at a node; once per node per 12 hours.
pub async fn urge(
    db: &PgPool,
    app_id: i64,
    node: &str,
    c: &ActCtx<'_>,
) -> Result<usize, StoreError> {
    let mut tx = db.begin().await?;
    let app = load_app(&mut tx, app_id).await?.ok_or(StoreError::Stale)?;
    if app.applicant_id != c.actor || app.status != "running" {
        return Err(StoreError::Engine(EngineError::NotAllowed(
            "只有进行中的申请可以催办",
        )));
    }
    // Serialise urges of one application so two clicks cannot both pass the check.
    sqlx::query("SELECT id FROM applications WHERE id = $1 FOR UPDATE")
        .bind(app.id)
        .execute(&mut *tx)
        .await?;
    let last: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT max(at) FROM urges WHERE application_id = $1 AND node_id = $2")
            .bind(app.id)
            .bind(node)
            .fetch_one(&mut *tx)
            .await?;
    if last.is_some_and(|t| c.now - t < chrono::Duration::hours(12)) {
        return Err(StoreError::Engine(EngineError::NotAllowed(
            "该环节 12 小时内已催办过，请稍后再试",
        )));
    }
    let assignees: Vec<(i64, String)> = sqlx::query_as(
        "SELECT assignee_id, node_name FROM tasks WHERE application_id = $1 AND node_id = $2 AND status = 'pending'",
    )
    .bind(app.id)
    .bind(node)
    .fetch_all(&mut *tx)
    .await?;
    if assignees.is_empty() {
        return Err(StoreError::Engine(EngineError::NotAllowed(
            "该环节没有待办人",
        )));
    }
    sqlx::query("INSERT INTO urges (application_id, node_id, at) VALUES ($1, $2, $3)")
        .bind(app.id)
        .bind(node)
        .bind(c.now)
        .execute(&mut *tx)
        .await?;
    for (u, name) in &assignees {
        notify(
            &mut tx,
            format!("urge:{}:{}:{}:{}", app.id, node, u, c.now.timestamp()),
            *u,
            &app,
            "urge",
            format!(
                "申请人催办：{}（{}），环节：{}",
                app.title,
                app.serial_no.as_deref().unwrap_or(""),
                name
            ),
            c.now,
        )
        .await?;
    }
    let name = assignees[0].1.clone();
    flow(
        &mut tx,
        app.id,
        node,
        &name,
        Some(c.actor),
        "urge",
        "",
        json!({}),
        c.now,
    )
    .await?;
    audit::record(
        &mut tx,
        Entry {
            at: c.now,
            actor_id: Some(c.actor),
            action: "application.urge",
            target: &format!("application:{}", app.id),
            ip: c.ip,
            outcome: Outcome::Success,
            details: json!({ "node": node }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(assignees.len())
}

/// 评价: the applicant rates a completed application, once.
pub async fn rate(
    db: &PgPool,
    app_id: i64,
    stars: i16,
    comment: &str,
    c: &ActCtx<'_>,
) -> Result<(), StoreError> {
    if !(1..=5).contains(&stars) {
        return Err(StoreError::Engine(EngineError::NotAllowed("请选择 1–5 星")));
    }
    let mut tx = db.begin().await?;
    let rows = sqlx::query(
        "UPDATE applications SET rating = $3, rating_comment = $4, updated_at = $5
         WHERE id = $1 AND applicant_id = $2 AND status = 'completed' AND rating IS NULL",
    )
    .bind(app_id)
    .bind(c.actor)
    .bind(stars)
    .bind(comment)
    .bind(c.now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if rows != 1 {
        return Err(StoreError::Engine(EngineError::NotAllowed(
            "已办结的申请才能评价，且只能评价一次",
        )));
    }
    flow(
        &mut tx,
        app_id,
        "end",
        "评价",
        Some(c.actor),
        "rate",
        comment,
        json!({ "stars": stars }),
        c.now,
    )
    .await?;
    audit::record(
        &mut tx,
        Entry {
            at: c.now,
            actor_id: Some(c.actor),
            action: "application.rate",
            target: &format!("application:{app_id}"),
            ip: c.ip,
            outcome: Outcome::Success,
            details: json!({ "stars": stars }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
