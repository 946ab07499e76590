//! 管理后台 › 服务: service packages out of the portal (export).

use axum::{
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use super::access::Manager;
use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    forms::files::content_disposition,
    package,
    web::{AppState, user::ClientIp},
};

/// `GET /admin/services/{id}/export`: the service as a package file (`<CODE>.toml`), in the
/// layout the demo packages are kept in, so exports diff clean and import anywhere.
pub(super) async fn export(
    State(state): State<AppState>,
    m: Manager,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    // 系统管理员, or a 服务管理员 of this service (by department or by name); anyone else
    // 403, and only those who manage everything learn that an id does not exist.
    m.service(&state.db, id).await?;
    let p = package::export(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let text = package::to_toml_string(&p).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    Entry::about(format!("service:{id}"), "service.export")
        .by(Some(m.id()))
        .ip(ip)
        .detail(serde_json::json!({ "code": p.service.code }))
        .record(&state.db, state.now())
        .await?;
    let mut res = text.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/toml; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&format!("{}.toml", p.service.code)))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
