//! The token's person: 我发起的 (list, one with its 流转记录, 提交), 我待办的 and acting on
//! it, 消息. Submitting and acting run the pages' use cases, so every check, the
//! one-transaction rule and the 流水号 are theirs.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    Token, cursor_after, limit,
    problem::{self, ApiResult, FieldError, Path, Problem, Query},
};
use crate::{
    identity::session::{ClientIp, current_user},
    web::AppState,
    workflow::usecase::{act as acting, form},
};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    cursor: Option<String>,
    /// 1–100 (default 20).
    limit: Option<i64>,
}

/// An application as its lists show it.
#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Application {
    pub id: i64,
    /// 流水号 (given at the first 提交).
    pub serial_no: Option<String>,
    pub title: String,
    /// The service's code.
    pub service: String,
    pub service_name: String,
    /// running, returned, completed, terminated or withdrawn.
    pub status: String,
    /// The optimistic-lock version an action must name.
    pub version: i32,
    pub submitted_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub const APP_SQL: &str =
    "SELECT a.id, a.serial_no, a.title, s.code AS service, s.name AS service_name,
        a.status, a.version, a.submitted_at, a.finished_at
   FROM applications a JOIN services s ON s.id = a.service_id";

#[derive(Serialize, ToSchema)]
pub struct ApplicationPage {
    items: Vec<Application>,
    next_cursor: Option<String>,
}

/// 我发起的: the person's submitted applications, newest first (scope `applications`).
#[utoipa::path(get, path = "/api/v1/me/applications", operation_id = "listMyApplications", tag = "me", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "成功", body = ApplicationPage), (status = 400, description = "请求有误（problem details）", body = Problem),
        (status = 401, description = "需要有效的访问令牌", body = Problem), (status = 403, description = "授权范围不足", body = Problem)))]
pub async fn applications(
    State(state): State<AppState>,
    t: Token,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<ApplicationPage>> {
    let me = t.person("applications")?;
    let before = cursor_after(q.cursor.as_deref())?;
    let n = limit(q.limit);
    let rows: Vec<Application> = sqlx::query_as(&format!(
        "{APP_SQL} WHERE a.applicant_id = $1 AND a.status <> 'draft' AND a.id < $2
          ORDER BY a.id DESC LIMIT $3"
    ))
    .bind(me)
    .bind(before.unwrap_or(i64::MAX))
    .bind(n + 1)
    .fetch_all(&state.db)
    .await?;
    let (items, next_cursor) = super::page(rows, n, |a| a.id);
    Ok(Json(ApplicationPage { items, next_cursor }))
}

/// A step of the 流转记录.
#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Step {
    pub node: String,
    pub node_name: String,
    /// submit, approve, return, terminate, withdraw, transfer, add_signer, cc, …
    pub action: String,
    pub actor: Option<String>,
    pub comment: String,
    pub at: DateTime<Utc>,
}

/// Who has the application now.
#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Pending {
    pub node: String,
    pub node_name: String,
    pub assignee: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationDetail {
    #[serde(flatten)]
    pub application: Application,
    pub pending: Vec<Pending>,
    pub history: Vec<Step>,
}

/// The application's state and 流转记录.
pub async fn detail(state: &AppState, id: i64) -> ApiResult<ApplicationDetail> {
    let application: Application = sqlx::query_as(&format!("{APP_SQL} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(Problem::not_found)?;
    let pending = sqlx::query_as(
        "SELECT t.node_id AS node, t.node_name, u.name AS assignee FROM tasks t
           JOIN users u ON u.id = t.assignee_id
          WHERE t.application_id = $1 AND t.status = 'pending' AND t.kind = 'approve' ORDER BY t.id",
    )
    .bind(id)
    .fetch_all(&state.db)
    .await?;
    let history = sqlx::query_as(
        "SELECT f.node_id AS node, f.node_name, f.action, u.name AS actor, f.comment, f.at
           FROM flow_records f LEFT JOIN users u ON u.id = f.actor_id
          WHERE f.application_id = $1 ORDER BY f.id",
    )
    .bind(id)
    .fetch_all(&state.db)
    .await?;
    Ok(ApplicationDetail {
        application,
        pending,
        history,
    })
}

/// One application the person may see (applicant, approver, or the service's admin;
/// anyone else's is 404), with its 流转记录 (scope `applications`).
#[utoipa::path(get, path = "/api/v1/me/applications/{id}", operation_id = "getMyApplication", tag = "me",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, description = "成功", body = ApplicationDetail), (status = 401, description = "需要有效的访问令牌", body = Problem),
        (status = 403, description = "授权范围不足", body = Problem), (status = 404, description = "没有找到", body = Problem)))]
pub async fn application(
    State(state): State<AppState>,
    t: Token,
    Path(id): Path<i64>,
) -> ApiResult<Json<ApplicationDetail>> {
    let me = t.person("applications")?;
    let mut conn = state.db.acquire().await?;
    let visible = crate::workflow::store::load_visible(&mut conn, id, me).await?;
    drop(conn);
    match visible {
        Some(a) if a.status != crate::workflow::store::AppStatus::Draft => {}
        _ => return Err(Problem::not_found()),
    }
    Ok(Json(detail(&state, id).await?))
}

/// A new application: the service's code and the form's fields by key (a list for a
/// field with several values).
#[derive(Deserialize, ToSchema)]
pub struct NewApplication {
    pub service: String,
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, Value>,
}

/// The posted form's pairs, as the page would send them.
fn pairs_of(fields: &serde_json::Map<String, Value>) -> ApiResult<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (k, v) in fields {
        if k.is_empty() || k.len() > 100 {
            return Err(Problem::bad_request(format!(
                "字段名无效：{}",
                k.chars().take(40).collect::<String>()
            )));
        }
        let mut push = |v: &Value| -> ApiResult<()> {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => {
                    if *b {
                        "on".into()
                    } else {
                        return Ok(());
                    }
                }
                Value::Null => String::new(),
                _ => {
                    return Err(Problem::bad_request(format!(
                        "字段 {k} 的值须为文字、数字或其列表"
                    )));
                }
            };
            if s.contains('\0') {
                return Err(Problem::bad_request(crate::forms::input::NUL_MESSAGE));
            }
            // The page's field names: `f.<key>`.
            pairs.push((format!("f.{k}"), s));
            Ok(())
        };
        match v {
            Value::Array(items) if items.len() <= 200 => {
                for i in items {
                    push(i)?;
                }
            }
            Value::Array(_) => return Err(Problem::bad_request(format!("字段 {k} 的值过多"))),
            v => push(v)?,
        }
    }
    Ok(pairs)
}

/// 提交 a new application for the token's person (scope `submit`). With an
/// `Idempotency-Key` header (a UUID), a repeated request within 7 days gives the first one's
/// application instead of a second.
#[utoipa::path(post, path = "/api/v1/me/applications", operation_id = "submitApplication", tag = "me", request_body = NewApplication,
    params(("Idempotency-Key" = Option<String>, Header, description = "A UUID: the same key submits once; a key is remembered for 7 days")),
    security(("bearer" = [])),
    responses((status = 201, description = "已提交", body = Application), (status = 400, description = "请求有误（problem details）", body = Problem),
        (status = 401, description = "需要有效的访问令牌", body = Problem), (status = 403, description = "授权范围不足", body = Problem), (status = 404, description = "没有找到", body = Problem),
        (status = 422, description = "输入有误，各字段的原因见 errors", body = Problem)))]
pub async fn submit(
    State(state): State<AppState>,
    t: Token,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    problem::Json(body): problem::Json<NewApplication>,
) -> ApiResult<axum::response::Response> {
    let me = t.person("submit")?;
    let user = current_user(&state.db, me)
        .await?
        .ok_or_else(Problem::unauthorized)?;
    let service: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM services WHERE code = $1 AND status = 'published' AND kind = 'online'",
    )
    .bind(&body.service)
    .fetch_optional(&state.db)
    .await?;
    let service_id = service.ok_or_else(Problem::not_found)?;
    let mut pairs = pairs_of(&body.fields)?;
    pairs.push(("intent".into(), "submit".into()));
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        let key = uuid::Uuid::parse_str(key.trim())
            .map_err(|_| Problem::bad_request("Idempotency-Key 须为 UUID"))?;
        pairs.push(("once".into(), key.to_string()));
    }
    let c = crate::workflow::web::ctx(&state, &user, ip).await;
    let input = crate::forms::input::FormInput {
        pairs,
        files: Vec::new(),
        file_errors: Default::default(),
    };
    match form::post(
        &state.db,
        &c,
        &user,
        form::Target::New { service_id },
        input,
    )
    .await?
    {
        form::Posted::Redirect { to, ok: true, .. } => {
            let id: i64 = to
                .trim_start_matches("/applications/")
                .split(['/', '?'])
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    Problem::from(crate::error::AppError::Internal(anyhow::anyhow!(
                        "no application after 提交: {to}"
                    )))
                })?;
            let d = detail(&state, id).await?;
            Ok((StatusCode::CREATED, Json(d.application)).into_response())
        }
        form::Posted::Redirect { message, .. } => {
            Err(Problem::new(StatusCode::CONFLICT, "not-submitted", "未提交").detail(message))
        }
        form::Posted::Form(view) => {
            let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-form", "表单有误");
            p.errors = view
                .error_summary
                .into_iter()
                .map(|(field, message)| FieldError { field, message })
                .collect();
            Err(p)
        }
    }
}

/// An action on an application: the op as on its page, at the version it was read at.
#[derive(Deserialize, ToSchema)]
pub struct ActionRequest {
    /// approve, return, terminate, transfer, add_signer, withdraw, urge
    pub op: String,
    /// The node acted at (from `pending`).
    #[serde(default)]
    pub node: String,
    /// 审批意见 (required to 退回 or 中止).
    #[serde(default)]
    pub comment: String,
    /// The application's `version` as read.
    pub version: i32,
    /// 退回 to: `applicant` or an earlier node.
    #[serde(default)]
    pub to: String,
    /// 转办 / 加签: the other person's account.
    #[serde(default)]
    pub account: String,
    /// 手写签名, where the node asks for one on 通过: a PNG (base64, or a `data:image/png;base64,`
    /// URL), its ink on a transparent or white background.
    #[serde(default)]
    pub signature: String,
}

#[derive(Serialize, ToSchema)]
pub struct ActionResult {
    pub message: String,
    pub application: Application,
}

/// 通过 / 退回 / 中止 / 转办 / 加签 / 撤回 / 催办 as the token's person (scope `tasks`): one
/// transaction, exactly once; a stale `version` is 409.
#[utoipa::path(post, path = "/api/v1/me/applications/{id}/actions", operation_id = "actOnApplication", tag = "me",
    params(("id" = i64, Path)), request_body = ActionRequest, security(("bearer" = [])),
    responses((status = 200, description = "成功", body = ActionResult), (status = 400, description = "请求有误（problem details）", body = Problem),
        (status = 401, description = "需要有效的访问令牌", body = Problem), (status = 403, description = "授权范围不足", body = Problem), (status = 404, description = "没有找到", body = Problem),
        (status = 409, description = "未能办理：该事项已被处理或版本已过期", body = Problem), (status = 422, description = "输入有误，各字段的原因见 errors", body = Problem)))]
pub async fn act(
    State(state): State<AppState>,
    t: Token,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    problem::Json(body): problem::Json<ActionRequest>,
) -> ApiResult<Json<ActionResult>> {
    let me = t.person("tasks")?;
    let user = current_user(&state.db, me)
        .await?
        .ok_or_else(Problem::unauthorized)?;
    if body.op == "rate" {
        return Err(Problem::bad_request("评价请在大厅的申请页面进行"));
    }
    let mut pairs = vec![
        ("op".to_owned(), body.op),
        ("version".to_owned(), body.version.to_string()),
        ("node".to_owned(), body.node),
        ("comment".to_owned(), body.comment),
    ];
    for (k, v) in [
        ("to", body.to),
        ("account", body.account),
        ("signature", body.signature),
    ] {
        if !v.is_empty() {
            pairs.push((k.to_owned(), v));
        }
    }
    let req = acting::Request::parse(pairs)?;
    let c = crate::workflow::web::ctx(&state, &user, ip).await;
    match acting::act(&state.db, &c, &user, id, req).await? {
        acting::Outcome::Done(m) => Ok(Json(ActionResult {
            message: m.to_owned(),
            application: detail(&state, id).await?.application,
        })),
        acting::Outcome::Refused(m) => {
            Err(Problem::new(StatusCode::CONFLICT, "refused", "未能办理").detail(m))
        }
        acting::Outcome::Invalid(_) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-form",
            "本环节需填写的内容有误，请在大厅的办理页面处理",
        )),
    }
}

/// An open 待办.
#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Task {
    pub id: i64,
    pub application_id: i64,
    pub serial_no: Option<String>,
    pub title: String,
    pub service: String,
    pub node: String,
    pub node_name: String,
    /// The application's version, for acting on it.
    pub version: i32,
    pub arrived_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskPage {
    items: Vec<Task>,
    next_cursor: Option<String>,
}

/// 我待办的, oldest first (scope `tasks`).
#[utoipa::path(get, path = "/api/v1/me/tasks", operation_id = "listMyTasks", tag = "me", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "成功", body = TaskPage), (status = 400, description = "请求有误（problem details）", body = Problem),
        (status = 401, description = "需要有效的访问令牌", body = Problem), (status = 403, description = "授权范围不足", body = Problem)))]
pub async fn tasks(
    State(state): State<AppState>,
    t: Token,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<TaskPage>> {
    let me = t.person("tasks")?;
    let after = cursor_after(q.cursor.as_deref())?;
    let n = limit(q.limit);
    let rows: Vec<Task> = sqlx::query_as(
        "SELECT t.id, t.application_id, a.serial_no, a.title, s.code AS service, t.node_id AS node,
                t.node_name, a.version, t.created_at AS arrived_at, t.due_at
           FROM tasks t JOIN applications a ON a.id = t.application_id
           JOIN services s ON s.id = a.service_id
          WHERE t.assignee_id = $1 AND t.status = 'pending' AND t.kind = 'approve' AND t.id > $2
          ORDER BY t.id LIMIT $3",
    )
    .bind(me)
    .bind(after.unwrap_or(0))
    .bind(n + 1)
    .fetch_all(&state.db)
    .await?;
    let (items, next_cursor) = super::page(rows, n, |t| t.id);
    Ok(Json(TaskPage { items, next_cursor }))
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Message {
    pub id: i64,
    pub kind: String,
    pub text: String,
    /// The page in the hall it is about.
    pub link: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct MessagePage {
    items: Vec<Message>,
    next_cursor: Option<String>,
}

/// 消息中心, newest first (scope `messages`).
#[utoipa::path(get, path = "/api/v1/me/messages", operation_id = "listMyMessages", tag = "me", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "成功", body = MessagePage), (status = 400, description = "请求有误（problem details）", body = Problem),
        (status = 401, description = "需要有效的访问令牌", body = Problem), (status = 403, description = "授权范围不足", body = Problem)))]
pub async fn messages(
    State(state): State<AppState>,
    t: Token,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<MessagePage>> {
    let me = t.person("messages")?;
    let before = cursor_after(q.cursor.as_deref())?;
    let n = limit(q.limit);
    let rows: Vec<Message> = sqlx::query_as(
        "SELECT id, kind, text, link, created_at, read_at FROM messages
          WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(me)
    .bind(before.unwrap_or(i64::MAX))
    .bind(n + 1)
    .fetch_all(&state.db)
    .await?;
    let (items, next_cursor) = super::page(rows, n, |m| m.id);
    Ok(Json(MessagePage { items, next_cursor }))
}
