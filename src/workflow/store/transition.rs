//! The write of one transition: everything it changes, gathered into a `Plan`, goes to
//! the database in one statement (`write`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::QueryBuilder;

pub use super::serial::{next_serial, serial_sequence};
use super::{AppRow, StoreError};
use crate::workflow::{
    engine::{self, Effect, State, Status, UserId},
    model::{Definition, NodeKind},
};

/// Who acts, when and from where; where notices go; and the limits on files.
pub struct ActCtx {
    pub now: DateTime<Utc>,
    pub actor: UserId,
    /// The actor's name, for notices that say who handled a task ("由 李老师 处理").
    pub actor_name: String,
    pub ip: Option<std::net::IpAddr>,
    pub tz: chrono_tz::Tz,
    /// The outside channels configured here, for the copies of in-app messages.
    pub fanout: crate::notify::Fanout,
    /// Attachment limits (bytes): one file, and all files of one application.
    pub upload_max_file: u64,
    pub upload_max_total: u64,
    /// The installation's key: opens the 身份证号 on file that forms fill in.
    pub secret: std::sync::Arc<crate::secret::SecretKey>,
    /// The school calendar: a node's time limit runs on working days only.
    pub calendar: std::sync::Arc<crate::calendar::Calendar>,
}

impl ActCtx {
    /// The day of the action in the hall's time zone.
    pub fn today(&self) -> chrono::NaiveDate {
        self.now.with_timezone(&self.tz).date_naive()
    }
}

pub fn node_name(def: &Definition, id: &str) -> String {
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

/// Everything one transition writes besides the application row, gathered first so that
/// it all goes to the database in one statement (see `write`).
#[derive(Default)]
pub struct Plan {
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
    // Handwritten signatures (PNG), by flow record; written only when one is present.
    flow_signature: Vec<Option<Vec<u8>>>,
    // In-app notifications.
    note_key: Vec<String>,
    note_user: Vec<UserId>,
    note_kind: Vec<&'static str>,
    note_payload: Vec<Value>,
    // People whose task ended without their action: their task notices about this
    // application are marked read.
    clear_user: Vec<UserId>,
}

impl Plan {
    pub fn flow(
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
        self.flow_signature.push(None);
    }

    /// The handwritten signature of the flow record added last.
    pub fn sign_last(&mut self, png: Vec<u8>) {
        if let Some(last) = self.flow_signature.last_mut() {
            *last = Some(png);
        }
    }

    fn notify(
        &mut self,
        key: String,
        recipient: UserId,
        app: &AppRow,
        kind: &'static str,
        text: String,
    ) {
        // One message per key within a statement too.
        if self.note_key.contains(&key) {
            return;
        }
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
    pub fn sync(
        &mut self,
        def: &Definition,
        app: &AppRow,
        before: &[(String, UserId)],
        after: &State,
        fx: &[Effect],
        actor_task: Option<(&str, UserId, &'static str, Option<UserId>)>,
        c: &ActCtx,
    ) {
        let now_pending = engine::pending(after);
        // The actor's own task: done, with what they did — unless it is still theirs to
        // act on (加签 after oneself: one still approves first, and a 转办 made then must
        // find the task open).
        if let Some((node, user, action, transferred_to)) = actor_task
            && !now_pending.iter().any(|(n, u)| n == node && *u == user)
        {
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
            // Why it ended, kept on the task (我已办的 lists the 或签 ones as "由 X 处理")
            // and told to its assignee in one line.
            let has = |want: fn(&Effect) -> bool| fx.iter().any(want);
            let (why, what) = if decided.contains_key(&(node.clone(), *user)) {
                ("decided", format!("已由 {} 处理，无需再办理", c.actor_name))
            } else if has(|f| matches!(f, Effect::Withdrawn)) {
                ("withdrawn", "已被申请人撤回，无需再办理".to_owned())
            } else if has(|f| matches!(f, Effect::Terminated)) {
                (
                    "terminated",
                    format!("已由 {} 中止，无需再办理", c.actor_name),
                )
            } else if has(|f| matches!(f, Effect::Returned { .. })) {
                (
                    "returned",
                    format!("已由 {} 退回，无需再办理", c.actor_name),
                )
            } else {
                ("closed", format!("已由 {} 处理，无需再办理", c.actor_name))
            };
            self.end_node.push(node.clone());
            self.end_user.push(*user);
            self.end_status.push("cancelled");
            self.end_action.push(Some(why));
            self.end_decided_by.push(
                decided
                    .get(&(node.clone(), *user))
                    .copied()
                    .or(Some(c.actor)),
            );
            if *user != c.actor {
                self.notify(
                    format!("closed:{}:{}:{}:{}", app.id, node, user, app.version + 1),
                    *user,
                    app,
                    "task_closed",
                    format!(
                        "您的待办 {}（{}）{}",
                        app.title,
                        app.serial_no.as_deref().unwrap_or(""),
                        what
                    ),
                );
                if !self.clear_user.contains(user) {
                    self.clear_user.push(*user);
                }
            }
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
                }) => (c.calendar.add_work(c.now, i64::from(*h) * 3600), *escalate),
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
                    // No 办结 record: the 流转记录's last line is read from the application
                    // row (`records::flows`), which this statement sets 'completed' with its
                    // finished_at — two WAL records fewer for every 通过 that ends one.
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

pub(super) fn payload(app: &AppRow, text: String) -> Value {
    json!({ "text": text, "serial_no": app.serial_no, "title": app.title, "link": format!("/applications/{}", app.id) })
}

/// The application row's new values; `None` keeps the stored value.
pub struct AppUpdate<'a> {
    pub state: &'a State,
    pub data: Option<&'a Value>,
    pub submitted_data: Option<&'a Value>,
    pub changed_fields: Option<&'a [String]>,
    pub serial_no: Option<&'a str>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// The application is not stored yet (提交 of a new one; `app.id` drawn from the
    /// sequence): the row is inserted as it ends up, not inserted as a draft and then
    /// updated — a third fewer WAL records per 提交 (issue 16).
    pub new_row: bool,
}

/// The `upd` part of `write` for a stored application: changed only if still at the
/// version the transition was computed from.
fn update_app(
    q: &mut QueryBuilder<'_, sqlx::Postgres>,
    app: &AppRow,
    u: &AppUpdate<'_>,
    status: Status,
    state: Value,
    c: &ActCtx,
) {
    q.push("UPDATE applications SET status = ");
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
}

/// The `upd` part of `write` for an application not stored yet: the row as submitted.
fn insert_app(
    q: &mut QueryBuilder<'_, sqlx::Postgres>,
    app: &AppRow,
    u: &AppUpdate<'_>,
    status: Status,
    state: Value,
    c: &ActCtx,
) {
    q.push(
        "INSERT INTO applications (id, service_id, applicant_id, form_def_id, workflow_def_id, \
         title, created_at, status, state, version, updated_at, finished_at, data, submitted_data, \
         changed_fields, serial_no, submitted_at) VALUES (",
    );
    let mut v = q.separated(", ");
    v.push_bind(app.id)
        .push_bind(app.service_id)
        .push_bind(app.applicant_id)
        .push_bind(app.form_def_id)
        .push_bind(app.workflow_def_id)
        .push_bind(app.title.clone())
        .push_bind(app.created_at)
        .push_bind(status.code())
        .push_bind(state)
        .push_bind(app.version + 1)
        .push_bind(c.now)
        .push_bind(status.is_terminal().then_some(c.now))
        .push_bind(u.data.unwrap_or(&app.data).clone())
        .push_bind(u.submitted_data.cloned())
        .push_bind(u.changed_fields.unwrap_or_default().to_vec())
        .push_bind(u.serial_no.map(str::to_owned))
        .push_bind(u.submitted_at);
    q.push(") RETURNING id)");
}

/// The whole transition in one statement, so one round trip and atomic without an
/// explicit transaction: the application row changes only if its version is still the one
/// the transition was computed from, and every other write hangs off that update's
/// `RETURNING` — a stale version writes nothing at all. Parts with nothing to write are
/// left out of the statement (each shape is prepared once per connection), and in-app
/// messages are delivered here directly (the message row is the delivery), with outbox
/// rows only for the copies on the outside channels the recipient chose.
pub async fn write<'e, E>(
    exec: E,
    app: &AppRow,
    u: AppUpdate<'_>,
    plan: Plan,
    audit_action: &str,
    audit_details: Value,
    c: &ActCtx,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let status = u.state.status;
    // Tasks carry whether their application is open (for the 待办 counts); tasks this
    // statement ends or creates get the new value here, the rest by trigger.
    let open = matches!(status, Status::Running | Status::Returned);
    let state = serde_json::to_value(u.state).map_err(anyhow::Error::from)?;
    let mut q = QueryBuilder::<sqlx::Postgres>::new("WITH upd AS (");
    if u.new_row {
        insert_app(&mut q, app, &u, status, state, c);
    } else {
        update_app(&mut q, app, &u, status, state, c);
    }
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
    // Statements without a signature keep their shape (and prepared plan).
    let signed = plan.flow_signature.iter().any(Option::is_some);
    q.push(
        ", flows AS (INSERT INTO flow_records (application_id, node_id, node_name, actor_id, action, \
         comment, details, at",
    )
    .push(if signed { ", signature" } else { "" })
    .push(") SELECT upd.id, x.node, x.name, x.actor, x.action, x.comment, x.details, ")
    .push_bind(c.now)
    .push(if signed { ", x.signature" } else { "" })
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
    .push("::jsonb[]");
    if signed {
        q.push(", ")
            .push_bind(plan.flow_signature)
            .push("::bytea[]");
    }
    q.push(if signed {
        ") WITH ORDINALITY AS x(node, name, actor, action, comment, details, signature, n) \
         ORDER BY x.n)"
    } else {
        ") WITH ORDINALITY AS x(node, name, actor, action, comment, details, n) ORDER BY x.n)"
    });
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
        // The message is the in-app delivery and its own record; the outbox gets only the
        // copies a worker must still send. A key already used is left out (a 抄送 repeated
        // after a 退回). ON CONFLICT's speculative insert writes one WAL record more than
        // looking the key up first, but a lookup joined to the arrays made PostgreSQL plan
        // this statement anew on every call (0.44 ms per 通过: `BENCH_STATEMENTS=1`).
        q.push(
            ", inbox AS (INSERT INTO messages (idempotency_key, user_id, application_id, kind, text, link, created_at) \
             SELECT x.key, x.recipient, upd.id, x.kind, COALESCE(x.payload->>'text', ''), \
             COALESCE(x.payload->>'link', ''), ",
        )
        .push_bind(c.now)
        .push(" FROM upd, unnest(")
        .push_bind(plan.note_key)
        .push("::text[], ")
        .push_bind(plan.note_user)
        .push("::int8[], ")
        .push_bind(plan.note_kind)
        .push("::text[], ")
        .push_bind(plan.note_payload)
        .push(
            "::jsonb[]) AS x(key, recipient, kind, payload) \
             ON CONFLICT (idempotency_key) DO NOTHING \
             RETURNING idempotency_key, user_id, application_id, kind, created_at)",
        );
        if !copy_key.is_empty() {
            q.push(
                ", copies AS (INSERT INTO outbox (idempotency_key, channel, recipient_id, application_id, kind, \
                 payload, created_at, next_attempt_at) SELECT n.idempotency_key || ':' || c.channel, c.channel, \
                 n.user_id, n.application_id, n.kind, c.payload, n.created_at, n.created_at FROM inbox n \
                 JOIN unnest(",
            )
            .push_bind(copy_key)
            .push("::text[], ")
            .push_bind(copy_channel)
            .push("::text[], ")
            .push_bind(copy_payload)
            .push(
                "::jsonb[]) AS c(key, channel, payload) ON c.key = n.idempotency_key \
                 JOIN users u ON u.id = n.user_id LEFT JOIN notify_prefs p ON p.user_id = u.id WHERE ",
            )
            .push(crate::notify::CHANNEL_WANTED)
            .push(" ON CONFLICT (idempotency_key) DO NOTHING)");
        }
    }
    if !plan.clear_user.is_empty() {
        // Their 待办, 催办 and 提醒 notices about this application are done with
        // (messages_unread_idx finds them).
        q.push(", cleared AS (UPDATE messages m SET read_at = ")
            .push_bind(c.now)
            .push(" FROM upd WHERE m.user_id = ANY(")
            .push_bind(plan.clear_user)
            .push(
                "::int8[]) AND m.application_id = upd.id AND m.read_at IS NULL \
                 AND m.kind IN ('new_task', 'urge', 'reminder'))",
            );
    }
    if !open && status != Status::Running {
        // Ended: systems following the service are told (open API webhooks).
        let body = serde_json::json!({
            "event": crate::notify::webhooks::ENDED,
            "application": {
                "id": app.id,
                "serial_no": u.serial_no.or(app.serial_no.as_deref()),
                "status": status.code(),
                "ended_at": c.now,
            },
        });
        crate::notify::webhooks::ended_cte(&mut q, c.now, app.service_id, app.applicant_id, body);
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
