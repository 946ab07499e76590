//! The public verify pages: `/verify/{code}` (the QR code's target), `/verify` to upload a
//! file, `/verify/key` (the public key). No sign-in; a per-address budget.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Json, Router,
    extract::{Multipart, Path, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::{
    error::{AppError, AppResult},
    web::{AppState, page::Page, user::ClientIp},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/verify", get(upload_page))
        .route("/verify/key", get(key))
        .route("/verify/{code}", get(by_code))
}

/// The upload's answer: outside the session and CSRF layers (it changes nothing), so a
/// verifier's script can post a file as well as the page's form.
pub fn upload_routes() -> Router<AppState> {
    Router::new().route(
        "/verify",
        axum::routing::post(upload)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_FILE + 64 * 1024)),
    )
}

const MAX_FILE: usize = 10 * 1024 * 1024;
const PER_MINUTE: u32 = 60;

async fn within_budget(state: &AppState, ip: Option<std::net::IpAddr>) -> AppResult<()> {
    let ok = crate::web::limit::allow(
        &state.db,
        "verify",
        crate::web::limit::ip_key(ip),
        state.now(),
        PER_MINUTE,
        chrono::Duration::minutes(1),
    )
    .await?;
    if ok {
        Ok(())
    } else {
        Err(AppError::TooManyRequests)
    }
}

/// 张三 → 张*: the holder's name, partly masked.
pub fn mask_name(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(first) => std::iter::once(first).chain(c.map(|_| '*')).collect(),
        None => String::new(),
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    code: String,
    sha256: Vec<u8>,
    signature: Vec<u8>,
    sealed: bool,
    issued_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    revoke_reason: Option<String>,
    title: String,
    service: String,
    department: String,
    serial_no: Option<String>,
    holder: String,
}

const ROW_SQL: &str = "SELECT d.code, d.sha256, d.signature, d.sealed, d.issued_at, d.revoked_at,
        d.revoke_reason, ds.title, s.name AS service, sd.name AS department, a.serial_no,
        u.name AS holder
   FROM documents d JOIN applications a ON a.id = d.application_id
   JOIN services s ON s.id = a.service_id JOIN departments sd ON sd.id = s.department_id
   JOIN document_settings ds ON ds.service_id = s.id
   JOIN users u ON u.id = a.applicant_id";

pub struct Shown {
    pub code: String,
    pub title: String,
    pub service: String,
    pub department: String,
    pub serial_no: String,
    pub holder: String,
    pub issued: String,
    pub sha256: String,
    pub signature: String,
    pub sealed: bool,
    pub revoked: Option<(String, String)>,
}

fn shown(state: &AppState, r: Row) -> Shown {
    let tz = state.settings.time_zone;
    Shown {
        code: r.code,
        title: r.title,
        service: r.service,
        department: r.department,
        serial_no: r.serial_no.unwrap_or_default(),
        holder: mask_name(&r.holder),
        issued: r
            .issued_at
            .with_timezone(&tz)
            .format("%Y-%m-%d")
            .to_string(),
        sha256: hex::encode(&r.sha256),
        signature: base64::engine::general_purpose::STANDARD.encode(&r.signature),
        sealed: r.sealed,
        revoked: r.revoked_at.map(|t| {
            (
                t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                r.revoke_reason.unwrap_or_default(),
            )
        }),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "documents/verify.html")]
pub struct VerifyTemplate {
    pub page: Page,
    pub doc: Option<Shown>,
    pub key: String,
}

async fn by_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    page: Page,
    Path(code): Path<String>,
) -> AppResult<Response> {
    within_budget(&state, ip).await?;
    let code = code.trim().to_uppercase();
    if code.len() > 20 {
        return Err(AppError::NotFound);
    }
    let row: Option<Row> = sqlx::query_as(&format!("{ROW_SQL} WHERE d.code = $1"))
        .bind(&code)
        .fetch_optional(&state.db)
        .await?;
    let row = row.ok_or(AppError::NotFound)?;
    Ok(VerifyTemplate {
        page,
        doc: Some(shown(&state, row)),
        key: super::public_key_b64(&state.secret_key),
    }
    .into_response())
}

async fn upload_page(State(state): State<AppState>, page: Page) -> VerifyTemplate {
    VerifyTemplate {
        page,
        doc: None,
        key: super::public_key_b64(&state.secret_key),
    }
}

async fn key(State(state): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(serde_json::json!({
            "alg": "Ed25519",
            "public_key": super::public_key_b64(&state.secret_key),
            "signs": "SHA-256 of the PDF file (32 bytes)",
        })),
    )
        .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "documents/verify_result.html")]
pub struct ResultTemplate {
    pub portal_name: String,
    pub css: String,
    pub valid: bool,
    pub doc: Option<Shown>,
    pub sha256: String,
    pub message: String,
}

/// POST /verify (multipart, field `file`): whether the file is exactly one the hall
/// issued. JSON for `Accept: application/json`, else a page.
async fn upload(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    mut mp: Multipart,
) -> AppResult<Response> {
    within_budget(&state, ip).await?;
    let mut file: Option<Vec<u8>> = None;
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|_| AppError::BadRequest("上传的内容无法读取"))?
    {
        if field.name() == Some("file") {
            let bytes = field
                .bytes()
                .await
                .map_err(|_| AppError::PayloadTooLarge("文件不能超过 10 MB"))?;
            file = Some(bytes.to_vec());
        }
    }
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return Err(AppError::BadRequest("请选择要查验的 PDF 文件（字段 file）"));
    };
    let hash = Sha256::digest(&file).to_vec();
    let row: Option<Row> = sqlx::query_as(&format!("{ROW_SQL} WHERE d.sha256 = $1"))
        .bind(&hash)
        .fetch_optional(&state.db)
        .await?;
    let doc = row.map(|r| shown(&state, r));
    let issued = doc.is_some();
    let message = match &doc {
        Some(d) if d.revoked.is_some() => "该文件由本大厅签发，但已作废。".to_owned(),
        Some(_) => "该文件由本大厅签发，内容未被修改，当前有效。".to_owned(),
        None => "该文件不是本大厅签发的文件，或签发后已被修改。".to_owned(),
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return Ok(Json(serde_json::json!({
            "issued": issued,
            "valid": doc.as_ref().is_some_and(|d| d.revoked.is_none()),
            "code": doc.as_ref().map(|d| d.code.clone()),
            "sha256": hex::encode(&hash),
            "message": message,
        }))
        .into_response());
    }
    Ok(ResultTemplate {
        portal_name: state.settings.portal_name.clone(),
        css: state.assets.url("css/app.css"),
        valid: doc.as_ref().is_some_and(|d| d.revoked.is_none()),
        doc,
        sha256: hex::encode(&hash),
        message,
    }
    .into_response())
}
