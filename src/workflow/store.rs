//! Applies workflow transitions: each action is one transaction with an optimistic
//! version check — the application row changes only if its version is the one the actor
//! saw, so of two racing actions exactly one applies and the other changes nothing. The
//! tasks, the 流转记录, the audit row and the outbox rows are written in the same
//! transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Map, Value, json};
use sqlx::{PgConnection, PgPool, QueryBuilder};

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
/// Every approval and CC node's approvers, and every approval node's fallback, in one
/// round trip: each rule that needs the database becomes one branch of a `UNION ALL`,
/// tagged with its slot. Rules answered from the form or the applicant need no query.
pub async fn resolve<'e, E>(
    exec: E,
    def: &Definition,
    applicant: UserId,
    service_id: i64,
    form: &Value,
    only: Option<&std::collections::BTreeSet<String>>,
) -> sqlx::Result<(BTreeMap<String, Vec<UserId>>, BTreeMap<String, Vec<UserId>>)>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let mut approvers = BTreeMap::new();
    let mut fallback = BTreeMap::new();
    // Slot k of the query → (node, is_fallback).
    let mut slots: Vec<(String, bool)> = Vec::new();
    let mut qb = QueryBuilder::<sqlx::Postgres>::new(
        "WITH d AS (SELECT department_id AS id FROM users WHERE id = ",
    );
    qb.push_bind(applicant);
    qb.push(") SELECT k, uid FROM (");
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
        if only.is_some_and(|o| !o.contains(&n.id)) {
            continue;
        }
        approvers.insert(n.id.clone(), Vec::new());
        match rule {
            ApproverRule::Users { accounts } => {
                branch(&mut qb, &mut slots, &n.id, false);
                qb.push(
                    "id AS uid, row_number() OVER (ORDER BY account) AS ord FROM users
                     WHERE status = 'active' AND account = ANY(",
                );
                qb.push_bind(accounts.clone());
                qb.push("))");
            }
            ApproverRule::Role { role, scope } => {
                branch(&mut qb, &mut slots, &n.id, false);
                qb.push(
                    "ur.user_id AS uid, ur.user_id AS ord FROM user_roles ur
                     JOIN roles r ON r.id = ur.role_id JOIN users u ON u.id = ur.user_id
                     WHERE u.status = 'active' AND r.code = ",
                );
                qb.push_bind(role.clone());
                qb.push(match scope {
                    RoleScope::Global => "",
                    RoleScope::ApplicantDepartment => {
                        " AND (ur.department_id IS NULL
                               OR ur.department_id IN (SELECT dept_ancestors(d.id) FROM d))"
                    }
                    // The college: the applicant's ancestor directly below the school.
                    RoleScope::ApplicantCollege => {
                        " AND ur.department_id IN (
                             WITH college AS (
                                 SELECT a.id FROM d CROSS JOIN LATERAL dept_ancestors(d.id) a(id)
                                 JOIN departments dd ON dd.id = a.id
                                 JOIN departments p ON p.id = dd.parent_id AND p.parent_id IS NULL
                             )
                             SELECT dept_subtree(id) FROM college
                             UNION SELECT dept_ancestors(id) FROM college)"
                    }
                });
                qb.push(" GROUP BY ur.user_id)");
            }
            ApproverRule::DeptHead { levels_up } => {
                branch(&mut qb, &mut slots, &n.id, false);
                qb.push(
                    "ur.user_id AS uid, ur.user_id AS ord FROM (
                         WITH RECURSIVE up(id, parent_id, depth) AS (
                             SELECT dp.id, dp.parent_id, 0 FROM departments dp, d WHERE dp.id = d.id
                             UNION ALL
                             SELECT x.id, x.parent_id, up.depth + 1 FROM departments x JOIN up ON x.id = up.parent_id
                         ) SELECT id FROM up WHERE depth = ",
                );
                qb.push_bind(*levels_up as i32);
                qb.push(
                    ") h JOIN user_roles ur ON ur.department_id = h.id
                     JOIN roles r ON r.id = ur.role_id AND r.code = 'dept_head'
                     JOIN users u ON u.id = ur.user_id AND u.status = 'active'
                     GROUP BY ur.user_id)",
                );
            }
            ApproverRule::FormField { field } => {
                approvers.insert(
                    n.id.clone(),
                    form.get(field)
                        .and_then(|v| {
                            v.as_i64()
                                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        })
                        .into_iter()
                        .collect(),
                );
            }
            ApproverRule::Applicant => {
                approvers.insert(n.id.clone(), vec![applicant]);
            }
        }
        if let Some(fb) = fb {
            fallback.insert(n.id.clone(), Vec::new());
            match fb {
                Fallback::Skip => {}
                Fallback::User { account } => {
                    branch(&mut qb, &mut slots, &n.id, true);
                    qb.push(
                        "id AS uid, id AS ord FROM users WHERE status = 'active' AND account = ",
                    );
                    qb.push_bind(account.clone());
                    qb.push(")");
                }
                Fallback::ServiceAdmins => {
                    branch(&mut qb, &mut slots, &n.id, true);
                    qb.push(
                        "sa.user_id AS uid, sa.user_id AS ord FROM service_admins sa
                         JOIN users u ON u.id = sa.user_id WHERE u.status = 'active' AND sa.service_id = ",
                    );
                    qb.push_bind(service_id);
                    qb.push(")");
                }
            }
        }
    }
    if slots.is_empty() {
        return Ok((approvers, fallback));
    }
    qb.push(") x ORDER BY k, ord");
    let rows: Vec<(i32, i64)> = qb.build_query_as().fetch_all(exec).await?;
    for (k, uid) in rows {
        let (node, fb) = &slots[k as usize];
        let map = if *fb { &mut fallback } else { &mut approvers };
        map.entry(node.clone()).or_default().push(uid);
    }
    Ok((approvers, fallback))
}

/// Opens branch `k` of the resolver's `UNION ALL`.
fn branch(
    qb: &mut QueryBuilder<'_, sqlx::Postgres>,
    slots: &mut Vec<(String, bool)>,
    node: &str,
    fb: bool,
) {
    if !slots.is_empty() {
        qb.push(" UNION ALL ");
    }
    let k = slots.len();
    slots.push((node.to_owned(), fb));
    // `k` is our own counter, never user input.
    qb.push(format!("(SELECT {k}::int4 AS k, "));
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
    /// The outside channels configured here, for the copies of in-app messages.
    pub fanout: crate::notify::Fanout,
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
    .bind(payload(app, text))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Everything one transition writes besides the application row, gathered first so that
/// it all goes to the database in one statement (see `write`).
#[derive(Default)]
struct Plan {
    // Open tasks that end: (node, assignee) → done with the actor's action, or cancelled.
    end_node: Vec<String>,
    end_user: Vec<UserId>,
    end_status: Vec<&'static str>,
    end_action: Vec<Option<&'static str>>,
    end_decided_by: Vec<Option<UserId>>,
    end_transferred_to: Vec<Option<UserId>>,
    // New tasks (approval and CC).
    new_node: Vec<String>,
    new_name: Vec<String>,
    new_user: Vec<UserId>,
    new_kind: Vec<&'static str>,
    new_status: Vec<&'static str>,
    new_due: Vec<Option<DateTime<Utc>>>,
    new_escalate: Vec<bool>,
    // 流转记录, in order.
    flow_node: Vec<String>,
    flow_name: Vec<String>,
    flow_actor: Vec<Option<UserId>>,
    flow_action: Vec<String>,
    flow_comment: Vec<String>,
    flow_details: Vec<Value>,
    // In-app notifications.
    note_key: Vec<String>,
    note_user: Vec<UserId>,
    note_kind: Vec<&'static str>,
    note_payload: Vec<Value>,
}

impl Plan {
    fn flow(
        &mut self,
        node: &str,
        name: &str,
        actor: Option<UserId>,
        action: &str,
        comment: &str,
        details: Value,
    ) {
        self.flow_node.push(node.to_owned());
        self.flow_name.push(name.to_owned());
        self.flow_actor.push(actor);
        self.flow_action.push(action.to_owned());
        self.flow_comment.push(comment.to_owned());
        self.flow_details.push(details);
    }

    fn notify(
        &mut self,
        key: String,
        recipient: UserId,
        app: &AppRow,
        kind: &'static str,
        text: String,
    ) {
        self.note_key.push(key);
        self.note_user.push(recipient);
        self.note_kind.push(kind);
        self.note_payload.push(payload(app, text));
    }

    fn new_task(
        &mut self,
        node: &str,
        name: &str,
        user: UserId,
        kind: &'static str,
        due: Option<DateTime<Utc>>,
        escalate: bool,
    ) {
        self.new_node.push(node.to_owned());
        self.new_name.push(name.to_owned());
        self.new_user.push(user);
        self.new_kind.push(kind);
        self.new_status
            .push(if kind == "cc" { "unread" } else { "pending" });
        self.new_due.push(due);
        self.new_escalate.push(escalate);
    }

    /// Bring the task rows in line with the engine's open tasks, and record the effects.
    #[allow(clippy::too_many_arguments)]
    fn sync(
        &mut self,
        def: &Definition,
        app: &AppRow,
        before: &[(String, UserId)],
        after: &State,
        fx: &[Effect],
        actor_task: Option<(&str, UserId, &'static str, Option<UserId>)>,
        c: &ActCtx<'_>,
    ) {
        let now_pending = engine::pending(after);
        // The actor's own task: done, with what they did.
        if let Some((node, user, action, transferred_to)) = actor_task {
            self.end_node.push(node.to_owned());
            self.end_user.push(user);
            self.end_status.push("done");
            self.end_action.push(Some(action));
            self.end_decided_by.push(None);
            self.end_transferred_to.push(transferred_to);
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
            if now_pending.contains(&(node.clone(), *user))
                || actor_task.is_some_and(|(n, u, _, _)| n == node && u == *user)
            {
                continue;
            }
            self.end_node.push(node.clone());
            self.end_user.push(*user);
            self.end_status.push("cancelled");
            self.end_action.push(None);
            self.end_decided_by.push(
                decided
                    .get(&(node.clone(), *user))
                    .copied()
                    .or(Some(c.actor)),
            );
            self.end_transferred_to.push(None);
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
            self.new_task(node, &name, *user, "approve", due, escalate);
            self.notify(
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
            );
        }
        for f in fx {
            match f {
                Effect::Cc { node, users } => {
                    let name = node_name(def, node);
                    for u in users {
                        self.new_task(node, &name, *u, "cc", None, false);
                        self.notify(
                            format!("cc:{}:{}:{}", app.id, node, u),
                            *u,
                            app,
                            "cc",
                            format!(
                                "抄送给您：{}（{}）",
                                app.title,
                                app.serial_no.as_deref().unwrap_or("")
                            ),
                        );
                    }
                    self.flow(node, &name, None, "cc", "", json!({ "users": users }));
                }
                Effect::Skipped { node } => {
                    self.flow(
                        node,
                        &node_name(def, node),
                        None,
                        "skip",
                        "无审批人，自动跳过",
                        json!({}),
                    );
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
                        self.flow("end", "办结", None, "complete", "", json!({}));
                    }
                    if app.applicant_id != c.actor || matches!(f, Effect::Completed) {
                        self.notify(
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
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

fn payload(app: &AppRow, text: String) -> Value {
    json!({ "text": text, "serial_no": app.serial_no, "title": app.title, "link": format!("/applications/{}", app.id) })
}

/// The application row's new values; `None` keeps the stored value.
struct AppUpdate<'a> {
    state: &'a State,
    data: Option<&'a Value>,
    submitted_data: Option<&'a Value>,
    changed_fields: Option<&'a [String]>,
    serial_no: Option<&'a str>,
    submitted_at: Option<DateTime<Utc>>,
}

/// The whole transition in one statement, so one round trip and atomic without an
/// explicit transaction: the application row changes only if its version is still the one
/// the transition was computed from, and every other write hangs off that update's
/// `RETURNING` — a stale version writes nothing at all. Parts with nothing to write are
/// left out of the statement (each shape is prepared once per connection), and in-app
/// messages are delivered here directly: the outbox row is written already delivered,
/// with its message and the copies for the outside channels the recipient chose.
async fn write<'e, E>(
    exec: E,
    app: &AppRow,
    u: AppUpdate<'_>,
    plan: Plan,
    audit_action: &str,
    audit_details: Value,
    c: &ActCtx<'_>,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let status = u.state.status;
    // Tasks carry whether their application is open (for the 待办 counts); tasks this
    // statement ends or creates get the new value here, the rest by trigger.
    let open = matches!(status, Status::Running | Status::Returned);
    let state = serde_json::to_value(u.state).map_err(anyhow::Error::from)?;
    let mut q =
        QueryBuilder::<sqlx::Postgres>::new("WITH upd AS (UPDATE applications SET status = ");
    q.push_bind(status.code());
    q.push(", state = ").push_bind(state);
    q.push(", version = version + 1, updated_at = ")
        .push_bind(c.now);
    if status.is_terminal() {
        q.push(", finished_at = ").push_bind(c.now);
    }
    if let Some(d) = u.data {
        q.push(", data = ").push_bind(d.clone());
    }
    if let Some(d) = u.submitted_data {
        q.push(", submitted_data = ").push_bind(d.clone());
    }
    if let Some(f) = u.changed_fields {
        q.push(", changed_fields = ").push_bind(f.to_vec());
    }
    if let Some(n) = u.serial_no {
        q.push(", serial_no = ").push_bind(n.to_owned());
    }
    if let Some(at) = u.submitted_at {
        q.push(", submitted_at = COALESCE(submitted_at, ")
            .push_bind(at)
            .push(")");
    }
    q.push(" WHERE id = ")
        .push_bind(app.id)
        .push(" AND version = ")
        .push_bind(app.version)
        .push(" RETURNING id)");
    if !plan.end_node.is_empty() {
        q.push(
            ", ended AS (UPDATE tasks t SET status = x.status, action = x.action, \
             decided_by = x.decided_by, transferred_to = COALESCE(x.transferred_to, t.transferred_to), acted_at = ",
        )
        .push_bind(c.now);
        if !open {
            q.push(", app_open = false");
        }
        q.push(" FROM upd, unnest(")
            .push_bind(plan.end_node)
            .push("::text[], ")
            .push_bind(plan.end_user)
            .push("::int8[], ")
            .push_bind(plan.end_status)
            .push("::text[], ")
            .push_bind(plan.end_action)
            .push("::text[], ")
            .push_bind(plan.end_decided_by)
            .push("::int8[], ")
            .push_bind(plan.end_transferred_to)
            .push(
                "::int8[]) AS x(node, assignee, status, action, decided_by, transferred_to) \
                 WHERE t.application_id = upd.id AND t.node_id = x.node AND t.assignee_id = x.assignee \
                 AND t.status = 'pending')",
            );
    }
    if !plan.new_node.is_empty() {
        q.push(
            ", created AS (INSERT INTO tasks (application_id, service_id, app_open, node_id, node_name, \
             assignee_id, kind, status, created_at, due_at, escalate) SELECT upd.id, ",
        )
        .push_bind(app.service_id)
        .push(", ")
        .push_bind(open)
        .push(", x.node, x.name, x.assignee, x.kind, x.status, ")
        .push_bind(c.now)
        .push(", x.due, x.escalate FROM upd, unnest(")
        .push_bind(plan.new_node)
        .push("::text[], ")
        .push_bind(plan.new_name)
        .push("::text[], ")
        .push_bind(plan.new_user)
        .push("::int8[], ")
        .push_bind(plan.new_kind)
        .push("::text[], ")
        .push_bind(plan.new_status)
        .push("::text[], ")
        .push_bind(plan.new_due)
        .push("::timestamptz[], ")
        .push_bind(plan.new_escalate)
        .push("::bool[]) AS x(node, name, assignee, kind, status, due, escalate))");
    }
    q.push(
        ", flows AS (INSERT INTO flow_records (application_id, node_id, node_name, actor_id, action, \
         comment, details, at) SELECT upd.id, x.node, x.name, x.actor, x.action, x.comment, x.details, ",
    )
    .push_bind(c.now)
    .push(" FROM upd, unnest(")
    .push_bind(plan.flow_node)
    .push("::text[], ")
    .push_bind(plan.flow_name)
    .push("::text[], ")
    .push_bind(plan.flow_actor)
    .push("::int8[], ")
    .push_bind(plan.flow_action)
    .push("::text[], ")
    .push_bind(plan.flow_comment)
    .push("::text[], ")
    .push_bind(plan.flow_details)
    .push(
        "::jsonb[]) WITH ORDINALITY AS x(node, name, actor, action, comment, details, n) \
         ORDER BY x.n)",
    );
    if !plan.note_key.is_empty() {
        let (mut copy_key, mut copy_channel, mut copy_payload) =
            (Vec::new(), Vec::new(), Vec::new());
        for (key, p) in plan.note_key.iter().zip(&plan.note_payload) {
            let text = p.get("text").and_then(Value::as_str).unwrap_or("");
            let link = p.get("link").and_then(Value::as_str).unwrap_or("");
            for (channel, payload) in crate::notify::copies(&c.fanout, text, link) {
                copy_key.push(key.clone());
                copy_channel.push(channel);
                copy_payload.push(payload);
            }
        }
        q.push(
            ", notes AS (INSERT INTO outbox (idempotency_key, recipient_id, application_id, kind, payload, \
             created_at, next_attempt_at, delivered_at, attempts) SELECT x.key, x.recipient, upd.id, x.kind, x.payload, ",
        )
        .push_bind(c.now)
        .push(", ")
        .push_bind(c.now)
        .push(", ")
        .push_bind(c.now)
        .push(", 1 FROM upd, unnest(")
        .push_bind(plan.note_key)
        .push("::text[], ")
        .push_bind(plan.note_user)
        .push("::int8[], ")
        .push_bind(plan.note_kind)
        .push("::text[], ")
        .push_bind(plan.note_payload)
        .push(
            "::jsonb[]) AS x(key, recipient, kind, payload) ON CONFLICT (idempotency_key) DO NOTHING \
             RETURNING id, idempotency_key, recipient_id, application_id, kind, payload, created_at)",
        );
        q.push(
            ", inbox AS (INSERT INTO messages (outbox_id, user_id, application_id, kind, text, link, created_at) \
             SELECT n.id, n.recipient_id, n.application_id, n.kind, COALESCE(n.payload->>'text', ''), \
             COALESCE(n.payload->>'link', ''), n.created_at FROM notes n)",
        );
        if !copy_key.is_empty() {
            q.push(
                ", copies AS (INSERT INTO outbox (idempotency_key, channel, recipient_id, application_id, kind, \
                 payload, created_at, next_attempt_at) SELECT n.idempotency_key || ':' || c.channel, c.channel, \
                 n.recipient_id, n.application_id, n.kind, c.payload, n.created_at, n.created_at FROM notes n \
                 JOIN unnest(",
            )
            .push_bind(copy_key)
            .push("::text[], ")
            .push_bind(copy_channel)
            .push("::text[], ")
            .push_bind(copy_payload)
            .push(
                "::jsonb[]) AS c(key, channel, payload) ON c.key = n.idempotency_key \
                 JOIN users u ON u.id = n.recipient_id LEFT JOIN notify_prefs p ON p.user_id = u.id WHERE ",
            )
            .push(crate::notify::CHANNEL_WANTED)
            .push(" ON CONFLICT (idempotency_key) DO NOTHING)");
        }
    }
    q.push(
        ", audited AS (INSERT INTO audit_log (at, actor_id, action, target, ip, outcome, details) SELECT ",
    )
    .push_bind(c.now)
    .push(", ")
    .push_bind(c.actor)
    .push(", ")
    .push_bind(audit_action.to_owned())
    .push(", 'application:' || upd.id, ")
    .push_bind(c.ip.map(sqlx::types::ipnetwork::IpNetwork::from))
    .push(", 'success', ")
    .push_bind(audit_details)
    .push(" FROM upd) SELECT count(*) FROM upd");
    let applied: i64 = q.build_query_scalar().fetch_one(exec).await?;
    if applied == 1 {
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
    // A transaction, unlike `act`: the 流水号 counter must roll back with a lost race.
    let mut tx = db.begin().await?;
    let mut app = load_app(&mut tx, app_id).await?.ok_or(StoreError::Stale)?;
    if app.applicant_id != c.actor || app.version != expected_version {
        return Err(StoreError::Stale);
    }
    let (schema, def) = load_definitions(db, &mut tx, &app).await?;
    let form = Value::Object(data.clone());
    let (approvers, fallback) = resolve(
        &mut *tx,
        &def,
        app.applicant_id,
        app.service_id,
        &form,
        None,
    )
    .await?;
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
    // Against the data as the approvers left it (not the first submission): what the
    // applicant changed now, not what the departments filled in meanwhile.
    let changed = match (&app.data, resubmit) {
        (Value::Object(prev), true) => crate::forms::changed_fields(&schema, prev, &data),
        _ => Vec::new(),
    };
    let start = def
        .start()
        .map(|n| n.id.clone())
        .unwrap_or_else(|| "start".into());
    let mut plan = Plan::default();
    plan.flow(
        &start,
        "申请人提交",
        Some(c.actor),
        if resubmit { "resubmit" } else { "submit" },
        "",
        json!({ "changed": changed }),
    );
    plan.sync(&def, &app, &before, &st, &fx, None, c);
    write(
        &mut *tx,
        &app,
        AppUpdate {
            state: &st,
            data: Some(&form),
            submitted_data: Some(&form),
            changed_fields: Some(&changed),
            serial_no: app.serial_no.as_deref(),
            submitted_at: Some(c.now),
        },
        plan,
        if resubmit {
            "application.resubmit"
        } else {
            "application.submit"
        },
        json!({ "serial_no": app.serial_no }),
        c,
    )
    .await?;
    tx.commit().await?;
    // The caller needs the id and the 流水号; no re-read while the counter row is locked.
    app.version += 1;
    app.status = st.status.code().to_owned();
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

/// The approval and CC nodes a 通过 may enter, found by a dry run of the engine in which
/// every approval node is empty (so it is skipped and the run goes on) and every CC node
/// has a placeholder recipient (so it shows up): a superset of what the real run touches,
/// because that one stops at the first node with approvers. Often nothing at all — the
/// last 通过 of a flow, or one of several 会签 — and then nothing is resolved. Other
/// actions resolve every node (`None`).
fn reachable(
    def: &Definition,
    prev: &State,
    action: &Action,
    applicant: UserId,
    form: &Value,
) -> Option<std::collections::BTreeSet<String>> {
    if !matches!(action, Action::Approve { .. }) {
        return None;
    }
    let placeholder: BTreeMap<String, Vec<UserId>> = def
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Cc { .. }))
        .map(|n| (n.id.clone(), vec![UserId::MIN]))
        .collect();
    let none = BTreeMap::new();
    let ctx = Ctx {
        applicant,
        form,
        approvers: &placeholder,
        fallback: &none,
    };
    let (_, fx) = engine::apply(def, prev, action, &ctx).ok()?;
    Some(
        fx.iter()
            .filter_map(|f| match f {
                Effect::Skipped { node } | Effect::Cc { node, .. } => Some(node.clone()),
                _ => None,
            })
            .collect(),
    )
}

/// Applies `act` to `app` as the caller read it (`expected_version` is the version the
/// actor saw on the page). No transaction is held while reading: the single write
/// statement applies only if the row is still at that version, else nothing changes.
pub async fn act(
    db: &PgPool,
    app: &AppRow,
    expected_version: i32,
    act: Act,
    c: &ActCtx<'_>,
) -> Result<(), StoreError> {
    if app.version != expected_version {
        return Err(StoreError::Stale);
    }
    let def = {
        let mut conn = db.acquire().await?;
        load_definitions(db, &mut conn, app).await?.1
    };
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
    let only = reachable(&def, &prev, &act.action, app.applicant_id, &form);
    let (approvers, fallback) = resolve(
        db,
        &def,
        app.applicant_id,
        app.service_id,
        &form,
        only.as_ref(),
    )
    .await?;
    let ctx = Ctx {
        applicant: app.applicant_id,
        form: &form,
        approvers: &approvers,
        fallback: &fallback,
    };
    let (st, fx) = engine::apply(&def, &prev, &act.action, &ctx)?;
    let before = engine::pending(&prev);
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
    let mut plan = Plan::default();
    plan.flow(
        &node,
        &name,
        Some(c.actor),
        code,
        act.comment.trim(),
        details,
    );
    let actor_task = match &act.action {
        Action::Withdraw { .. } | Action::Resubmit { .. } => None,
        Action::Transfer { to, .. } => Some((node.as_str(), c.actor, code, Some(*to))),
        _ => Some((node.as_str(), c.actor, code, None)),
    };
    plan.sync(&def, app, &before, &st, &fx, actor_task, c);
    write(
        db,
        app,
        AppUpdate {
            state: &st,
            data: act.data.as_ref().map(|_| &form),
            submitted_data: None,
            changed_fields: None,
            serial_no: None,
            submitted_at: None,
        },
        plan,
        &format!("application.{code}"),
        json!({ "node": node, "status": st.status.code() }),
        c,
    )
    .await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(code: &str) -> Definition {
        let demo = crate::seed::files::load(None).expect("demo data");
        let flow = demo.service(code).and_then(|p| p.workflow.clone());
        serde_json::from_value(flow.expect("demo flow")).expect("definition")
    }

    /// Started with `first` as the approvers of `node`; the nodes a 通过 there may enter.
    fn after_first_approval(code: &str, node: &str, form: Value) -> Vec<String> {
        let def = demo(code);
        let approvers = BTreeMap::from([(node.to_owned(), vec![10])]);
        let none = BTreeMap::new();
        let ctx = Ctx {
            applicant: 1,
            form: &form,
            approvers: &approvers,
            fallback: &none,
        };
        let (st, _) = engine::start(&def, &ctx).expect("start");
        let approve = Action::Approve {
            node: node.to_owned(),
            user: 10,
        };
        reachable(&def, &st, &approve, 1, &form)
            .expect("a 通过 is dry-run")
            .into_iter()
            .collect()
    }

    #[test]
    fn only_the_nodes_a_pass_may_enter_are_resolved() {
        // 学生请假: the counselor's 通过 ends a short leave; a long one goes to the deputy.
        assert!(after_first_approval("XSQJ", "counselor", json!({"days": 1})).is_empty());
        assert_eq!(
            after_first_approval("XSQJ", "counselor", json!({"days": 5})),
            vec!["deputy"]
        );
        // 因公出国: past the head come 国际交流处, the CC to 人事处, and 校领导 only for
        // long or costly trips.
        assert_eq!(
            after_first_approval("CGCJ", "head", json!({"days": 5, "cost": 100})),
            vec!["cc_hr", "intl"]
        );
        assert_eq!(
            after_first_approval("CGCJ", "head", json!({"days": 40, "cost": 100})),
            vec!["cc_hr", "intl", "leader"]
        );
        // Other actions resolve everything.
        let def = demo("XSQJ");
        let form = json!({"days": 1});
        let approvers = BTreeMap::from([("counselor".to_owned(), vec![10])]);
        let none = BTreeMap::new();
        let ctx = Ctx {
            applicant: 1,
            form: &form,
            approvers: &approvers,
            fallback: &none,
        };
        let (st, _) = engine::start(&def, &ctx).expect("start");
        assert!(reachable(&def, &st, &Action::Withdraw { user: 1 }, 1, &form).is_none());
    }
}
