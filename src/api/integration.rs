//! For integrations (a system's own token, scope `integration`): an application of one of
//! the services the system was registered for, by its 流水号.

use axum::{Json, extract::State};

use super::{
    Token,
    me::{ApplicationDetail, detail},
    problem::{ApiResult, Path, Problem},
};
use crate::web::AppState;

/// An application's state and 流转记录, by 流水号: only for services the system follows
/// (any other is 404).
#[utoipa::path(get, path = "/api/v1/applications/{serial_no}", operation_id = "getApplicationBySerial", tag = "integration",
    params(("serial_no" = String, Path, description = "流水号")), security(("bearer" = [])),
    responses((status = 200, description = "成功", body = ApplicationDetail), (status = 401, description = "需要有效的访问令牌", body = Problem),
        (status = 403, description = "授权范围不足", body = Problem), (status = 404, description = "没有找到", body = Problem)))]
pub async fn application(
    State(state): State<AppState>,
    t: Token,
    Path(serial): Path<String>,
) -> ApiResult<Json<ApplicationDetail>> {
    if t.user.is_some() || !t.scopes.iter().any(|s| s == "integration") {
        return Err(Problem::forbidden("integration"));
    }
    if serial.len() > 40 {
        return Err(Problem::not_found());
    }
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT a.id FROM applications a JOIN services s ON s.id = a.service_id
           JOIN sso_clients c ON c.id = $2 AND s.code = ANY(c.api_services)
          WHERE a.serial_no = $1",
    )
    .bind(&serial)
    .bind(t.client)
    .fetch_optional(&state.db)
    .await?;
    let id = id.ok_or_else(Problem::not_found)?;
    Ok(Json(detail(&state, id).await?))
}
