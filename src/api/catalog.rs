//! 服务中心 through the API: published services, searched by name, code or summary.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    Token, cursor_after, limit,
    problem::{ApiResult, Path, Problem, Query},
};
use crate::web::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ServiceQuery {
    /// Words in the name, code or summary.
    q: Option<String>,
    cursor: Option<String>,
    /// 1–100 (default 20).
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Service {
    #[serde(skip)]
    id: i64,
    /// The service's code, as in its 流水号.
    code: String,
    name: String,
    department: String,
    /// online (办理 in the hall), external (another system), guide (服务指南 only).
    kind: String,
    summary: String,
    /// The page of the service in the hall.
    url: String,
}

#[derive(Serialize, ToSchema)]
pub struct ServicePage {
    items: Vec<Service>,
    next_cursor: Option<String>,
}

fn like(q: &str) -> String {
    let escaped: String = q
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// The published services.
#[utoipa::path(get, path = "/api/v1/services", operation_id = "listServices", tag = "catalog", params(ServiceQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "成功", body = ServicePage), (status = 400, description = "请求有误（problem details）", body = Problem), (status = 401, description = "需要有效的访问令牌", body = Problem)))]
pub async fn services(
    State(state): State<AppState>,
    _t: Token,
    Query(q): Query<ServiceQuery>,
) -> ApiResult<Json<ServicePage>> {
    let after = cursor_after(q.cursor.as_deref())?;
    let n = limit(q.limit);
    let words = q.q.unwrap_or_default();
    if words.chars().count() > 100 {
        return Err(Problem::bad_request("q 最多 100 个字符"));
    }
    let rows: Vec<Service> = sqlx::query_as(
        "SELECT s.id, s.code, s.name, d.name AS department, s.kind, s.summary,
                '/services/' || s.id AS url
           FROM services s JOIN departments d ON d.id = s.department_id
          WHERE s.status = 'published' AND s.id > $1
            AND ($2 = '' OR s.name ILIKE $3 OR s.code ILIKE $3 OR s.summary ILIKE $3)
          ORDER BY s.id LIMIT $4",
    )
    .bind(after.unwrap_or(0))
    .bind(words.trim())
    .bind(like(words.trim()))
    .bind(n + 1)
    .fetch_all(&state.db)
    .await?;
    let (items, next_cursor) = super::page(rows, n, |s| s.id);
    Ok(Json(ServicePage { items, next_cursor }))
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct ServiceDetail {
    code: String,
    name: String,
    department: String,
    kind: String,
    summary: String,
    /// 办理条件
    conditions: String,
    /// 所需材料
    materials: String,
    /// 办理流程
    process: String,
    /// 办理时限
    time_limit: String,
    /// 办理地点
    location: String,
    /// 咨询电话
    phone: String,
    url: String,
}

/// One published service with its 服务指南.
#[utoipa::path(get, path = "/api/v1/services/{code}", operation_id = "getService", tag = "catalog",
    params(("code" = String, Path, description = "The service's code")),
    security(("bearer" = [])),
    responses((status = 200, description = "成功", body = ServiceDetail), (status = 404, description = "没有找到", body = Problem), (status = 401, description = "需要有效的访问令牌", body = Problem)))]
pub async fn service(
    State(state): State<AppState>,
    _t: Token,
    Path(code): Path<String>,
) -> ApiResult<Json<ServiceDetail>> {
    if code.len() > 16 {
        return Err(Problem::not_found());
    }
    let row: Option<ServiceDetail> = sqlx::query_as(
        "SELECT s.code, s.name, d.name AS department, s.kind, s.summary, s.conditions, s.materials,
                s.process, s.time_limit, s.location, s.phone, '/services/' || s.id AS url
           FROM services s JOIN departments d ON d.id = s.department_id
          WHERE s.code = $1 AND s.status = 'published'",
    )
    .bind(&code)
    .fetch_optional(&state.db)
    .await?;
    row.map(Json).ok_or_else(Problem::not_found)
}
