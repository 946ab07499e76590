//! Result documents (电子证明): a finished application of a service that issues one gets a
//! PDF (`pdf.rs`), made on its first download and stored, so the same file is served every
//! time. Each carries a short code and a QR code to `/verify/{code}`, a public page (no
//! sign-in) that says whether it is valid or revoked; `POST /verify` takes a file and says
//! whether it is exactly one the hall issued. Each file's SHA-256 is signed with the hall's
//! Ed25519 key (derived from the installation's secret key; public at `/verify/key`), so a
//! verifier can check a file offline.

mod fields;
pub mod pdf;
mod verify;

pub use verify::upload_routes;

use axum::{
    Form, Router,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    secret::SecretKey,
    web::{
        AppState,
        page::{Flashes, flash},
        user::{ClientIp, CurrentUser},
    },
    workflow::store::{self, AppStatus},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/applications/{id}/document.pdf", get(download))
        .route("/applications/{id}/document/revoke", post(revoke))
        .merge(verify::routes())
}

/// The hall's document key: derived from the installation's secret key under its own
/// domain, so every instance signs with the same key and nothing more is stored.
pub fn signing_key(secret: &SecretKey) -> SigningKey {
    let t = secret.tag("document signing v1", b"");
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&t[..32]);
    SigningKey::from_bytes(&seed)
}

/// A short code: 12 characters of Crockford's base32 (60 random bits), shown in groups of 4.
fn new_code() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let bytes: [u8; 12] = rand::Rng::r#gen(&mut rand::rngs::OsRng);
    let raw: String = bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % 32] as char)
        .collect();
    format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..])
}

#[derive(sqlx::FromRow)]
struct Settings {
    title: String,
    body: String,
    fields: Vec<String>,
    seal_node: Option<String>,
    seal_id: Option<i64>,
    signature_place: String,
}

/// (node, node name, approver, when, handwritten signature)
type ApprovalRow = (String, String, String, DateTime<Utc>, Option<Vec<u8>>);

#[derive(sqlx::FromRow)]
struct Facts {
    name: String,
    account: String,
    department: Option<String>,
    service: String,
    service_department: String,
    serial_no: Option<String>,
    finished_at: Option<DateTime<Utc>>,
}

/// The stored document of an application, made now if it has none: (filename, PDF).
async fn document(state: &AppState, app: &store::AppRow) -> AppResult<(String, Vec<u8>)> {
    let settings: Option<Settings> = sqlx::query_as(
        "SELECT title, body, fields, seal_node, seal_id, signature_place
           FROM document_settings WHERE service_id = $1",
    )
    .bind(app.service_id)
    .fetch_optional(&state.db)
    .await?;
    let settings = settings.ok_or(AppError::NotFound)?;
    let filename = |serial: &str| format!("{}-{}.pdf", settings.title, serial);
    if let Some((pdf, serial)) = sqlx::query_as::<_, (Vec<u8>, Option<String>)>(
        "SELECT d.pdf, a.serial_no FROM documents d JOIN applications a ON a.id = d.application_id
          WHERE d.application_id = $1",
    )
    .bind(app.id)
    .fetch_optional(&state.db)
    .await?
    {
        return Ok((filename(&serial.unwrap_or_default()), pdf));
    }
    let f: Facts = sqlx::query_as(
        "SELECT u.name, u.account, ud.name AS department, s.name AS service,
                sd.name AS service_department, a.serial_no, a.finished_at
           FROM applications a JOIN users u ON u.id = a.applicant_id
           LEFT JOIN departments ud ON ud.id = u.department_id
           JOIN services s ON s.id = a.service_id JOIN departments sd ON sd.id = s.department_id
          WHERE a.id = $1",
    )
    .bind(app.id)
    .fetch_one(&state.db)
    .await?;
    // The approvals of the run that finished: those before a 退回 and resubmission were
    // made on what the applicant then changed.
    let approvals: Vec<ApprovalRow> = sqlx::query_as(
        "SELECT f.node_id, f.node_name, COALESCE(u.name, ''), f.at, f.signature FROM flow_records f
           LEFT JOIN users u ON u.id = f.actor_id
          WHERE f.application_id = $1 AND f.action = 'approve'
            AND f.id > COALESCE((SELECT max(r.id) FROM flow_records r
                                  WHERE r.application_id = $1 AND r.action = 'resubmit'), 0)
          ORDER BY f.id",
    )
    .bind(app.id)
    .fetch_all(&state.db)
    .await?;
    // The seal only where its node approved.
    let sealed = settings
        .seal_node
        .as_ref()
        .is_some_and(|n| approvals.iter().any(|a| &a.0 == n));
    let seal: Option<Vec<u8>> = match (sealed, settings.seal_id) {
        (true, Some(id)) => {
            sqlx::query_scalar("SELECT png FROM seals WHERE id = $1 AND retired_at IS NULL")
                .bind(id)
                .fetch_optional(&state.db)
                .await?
        }
        _ => None,
    };
    let tz = state.settings.time_zone;
    let rows = fields::rows(state, app, &settings.fields).await?;
    let local = |t: DateTime<Utc>, f: &str| t.with_timezone(&tz).format(f).to_string();
    let serial = f.serial_no.clone().unwrap_or_default();
    let issued = f.finished_at.unwrap_or_else(|| state.now());
    let body = settings
        .body
        .replace("{name}", &f.name)
        .replace("{account}", &f.account)
        .replace("{department}", f.department.as_deref().unwrap_or(""))
        .replace("{service}", &f.service);
    let code = new_code();
    let base = state
        .settings
        .base_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let content = pdf::Content {
        portal: state.settings.portal_name.clone(),
        title: settings.title.clone(),
        paragraphs: body
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.trim().is_empty())
            .collect(),
        rows,
        approvals: approvals
            .into_iter()
            .map(|(_, node, who, at, signature)| pdf::Approval {
                node,
                who,
                at: local(at, "%Y-%m-%d %H:%M"),
                signature,
            })
            .collect(),
        signature_place: if settings.signature_place == "footer" {
            pdf::SignaturePlace::Footer
        } else {
            pdf::SignaturePlace::Records
        },
        department: f.service_department.clone(),
        serial: serial.clone(),
        issued: local(issued, "%Y年%m月%d日"),
        verify_url: format!("{base}/verify/{code}"),
        code: code.clone(),
        seal: seal.clone(),
    };
    // Shaping and subsetting the font: some milliseconds of one core, off the async threads.
    let font = pdf::font(&state.settings.document_font).map_err(|e| {
        tracing::error!(error = %e, "cannot make a result document");
        AppError::NotAvailable("证明暂时无法生成：服务器缺少所需的中文字体，请联系系统管理员。")
    })?;
    let bytes = tokio::task::spawn_blocking(move || pdf::render(&font, &content))
        .await
        .map_err(|e| AppError::Internal(e.into()))??;
    let hash = Sha256::digest(&bytes).to_vec();
    let signature = signing_key(&state.secret_key)
        .sign(&hash)
        .to_bytes()
        .to_vec();
    let mut tx = state.db.begin().await?;
    // Two first downloads at once: one document, the other request serves it.
    let inserted = sqlx::query(
        "INSERT INTO documents (application_id, code, sha256, signature, pdf, sealed, issued_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (application_id) DO NOTHING",
    )
    .bind(app.id)
    .bind(&code)
    .bind(&hash)
    .bind(&signature)
    .bind(&bytes)
    .bind(seal.is_some())
    .bind(issued)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        Entry::about(format!("application:{}", app.id), "document.issue")
            .detail(serde_json::json!({ "code": code, "sealed": seal.is_some(),
                "sha256": hex::encode(&hash) }))
            .record(&mut *tx, state.now())
            .await?;
    }
    tx.commit().await?;
    let pdf: Vec<u8> = sqlx::query_scalar("SELECT pdf FROM documents WHERE application_id = $1")
        .bind(app.id)
        .fetch_one(&state.db)
        .await?;
    Ok((filename(&serial), pdf))
}

/// Whether `user` took part in the application (applicant or one of its approvers).
async fn may_download(state: &AppState, app: &store::AppRow, user: i64) -> AppResult<bool> {
    if app.applicant_id == user {
        return Ok(true);
    }
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tasks WHERE application_id = $1 AND assignee_id = $2
                         AND kind = 'approve')",
    )
    .bind(app.id)
    .bind(user)
    .fetch_one(&state.db)
    .await?)
}

/// 下载 PDF: the holder and the application's approvers; anyone else 404.
async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let app = store::load_visible(&mut *state.db.acquire().await?, id, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    if app.status != AppStatus::Completed || !may_download(&state, &app, user.id).await? {
        return Err(AppError::NotFound);
    }
    let (name, pdf) = document(&state, &app).await?;
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"document.pdf\"; filename*=UTF-8''{}",
                    encoded.replace('+', "%20")
                ),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        pdf,
    )
        .into_response())
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    reason: String,
}

/// 作废: a 系统管理员 or an admin of the service, with a reason; audited.
async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Form(f): Form<RevokeForm>,
) -> AppResult<Response> {
    let may: bool = sqlx::query_scalar(
        "SELECT $3 OR EXISTS (SELECT 1 FROM applications a JOIN service_admins sa
                                ON sa.service_id = a.service_id AND sa.user_id = $2
                               WHERE a.id = $1)",
    )
    .bind(id)
    .bind(user.id)
    .bind(user.is_admin)
    .fetch_one(&state.db)
    .await?;
    if !may {
        return Err(AppError::NotFound);
    }
    let reason = f.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        flash(&flashes, "error", "请填写作废原因（200 字以内）。");
        return Ok(Redirect::to(&format!("/applications/{id}")).into_response());
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let n = sqlx::query(
        "UPDATE documents SET revoked_at = $2, revoked_by = $3, revoke_reason = $4
          WHERE application_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .bind(user.id)
    .bind(reason)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Entry::about(format!("application:{id}"), "document.revoke")
        .by(Some(user.id))
        .ip(ip)
        .detail(serde_json::json!({ "reason": reason }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", "证明已作废：查验页面将显示“已作废”。");
    Ok(Redirect::to(&format!("/applications/{id}")).into_response())
}

/// The public key, for checking a document's signature offline.
pub fn public_key_b64(secret: &SecretKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(signing_key(secret).verifying_key().to_bytes())
}
