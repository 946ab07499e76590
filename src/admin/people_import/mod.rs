//! 管理后台 › 人员 › 批量导入: a CSV or XLSX file of people → a preview with every refused
//! row and its reasons and the counts of new / changed / unchanged → 确认导入 → a job
//! (`job.rs`) with a progress page → the result, the refused rows as CSV, and 激活码 for
//! the people it created. 系统管理员 only.

mod check;
mod job;
mod parse;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::{Multipart, Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};

pub use job::work;

use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    forms::files::content_disposition,
    identity,
    org::import::{self as people, Verdict},
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::{AdminUser, ClientIp},
    },
};
use check::Refused;

/// The largest file accepted (50,000 rows of CSV are about 5 MB).
pub const MAX_FILE: usize = 16 * 1024 * 1024;

/// Refused rows shown on the page; all of them are in the CSV.
const SHOWN: usize = 200;

pub struct ImportRow {
    pub id: i64,
    pub file: String,
    pub at: String,
    pub status: &'static str,
    pub total: i32,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/people_import.html")]
pub struct UploadTemplate {
    pub page: Page,
    pub problem: Option<String>,
    pub recent: Vec<ImportRow>,
}

fn status_label(s: &str) -> &'static str {
    match s {
        "preview" => "待确认",
        "queued" => "排队中",
        "running" => "导入中",
        "done" => "已完成",
        _ => "失败",
    }
}

async fn upload_template(
    state: &AppState,
    page: Page,
    problem: Option<String>,
) -> AppResult<UploadTemplate> {
    let rows: Vec<(i64, String, DateTime<Utc>, String, i32)> = sqlx::query_as(
        "SELECT id, file_name, created_at, status, total FROM people_imports ORDER BY id DESC LIMIT 20",
    )
    .fetch_all(&state.db)
    .await?;
    let tz = state.settings.time_zone;
    Ok(UploadTemplate {
        page,
        problem,
        recent: rows
            .into_iter()
            .map(|(id, file, at, status, total)| ImportRow {
                id,
                file,
                at: at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                status: status_label(&status),
                total,
            })
            .collect(),
    })
}

/// `GET /admin/people/import`
pub async fn upload_page(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
) -> AppResult<UploadTemplate> {
    upload_template(&state, page, None).await
}

/// `POST /admin/people/import` (multipart, file field `file`): reads and checks the file,
/// keeps the checked rows as an import awaiting 确认导入, and shows its preview. No
/// person is written.
pub async fn upload(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    page: Page,
    ClientIp(ip): ClientIp,
    mut mp: Multipart,
) -> AppResult<Response> {
    let mut got = None;
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|_| AppError::BadRequest("上传的内容无法读取"))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("people.csv").to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|_| AppError::BadRequest("上传的内容无法读取"))?;
        got = Some((name, bytes));
        break;
    }
    let refuse = |msg: String| async {
        Ok(upload_template(&state, page, Some(msg))
            .await?
            .into_response())
    };
    let Some((name, bytes)) = got.filter(|(_, b)| !b.is_empty()) else {
        return refuse("请选择要导入的文件（.csv 或 .xlsx）".into()).await;
    };
    if bytes.len() > MAX_FILE {
        return refuse(format!("文件过大：最大 {} MB", MAX_FILE / 1024 / 1024)).await;
    }
    let file: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
    let table = match parse::read(&bytes) {
        Ok(t) => t,
        Err(e) => return refuse(e).await,
    };
    let (depts, roles) = people::lookups(&state.db).await?;
    let key = state.secret_key.clone();
    let checked = tokio::task::spawn_blocking(move || check::check(&table, &depts, &roles, &key))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let mut checked = match checked {
        Ok(c) => c,
        Err(e) => return refuse(e).await,
    };
    let total = (checked.people.len() + checked.refused.len()) as i32;
    if total == 0 {
        return refuse("文件中只有表头，没有人员".into()).await;
    }
    // The preview's counts, against the people as they are now.
    let (mut new, mut changed, mut unchanged) = (0, 0, 0);
    let mut valid = Vec::with_capacity(checked.people.len());
    let mut conn = state.db.acquire().await?;
    for batch in checked.people.chunks(job::BATCH) {
        let verdicts = people::judge(&mut conn, batch, false).await?;
        for (p, v) in batch.iter().zip(verdicts) {
            match v {
                Verdict::New => new += 1,
                Verdict::Changed => changed += 1,
                Verdict::Unchanged => unchanged += 1,
                Verdict::Refused(r) => {
                    checked.refused.push(Refused {
                        row: p.row,
                        account: p.account.clone(),
                        name: p.name.clone(),
                        reasons: vec![r],
                    });
                    continue;
                }
            }
            valid.push(p.clone());
        }
    }
    drop(conn);
    checked.refused.sort_by_key(|r| r.row);
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO people_imports (created_by, created_at, file_name, status, total, new_count,
                                     changed_count, unchanged_count, refused_count, rows, refused)
         VALUES ($1, $2, $3, 'preview', $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(admin.id)
    .bind(now)
    .bind(&file)
    .bind(total)
    .bind(new)
    .bind(changed)
    .bind(unchanged)
    .bind(checked.refused.len() as i32)
    .bind(sqlx::types::Json(&valid))
    .bind(sqlx::types::Json(&checked.refused))
    .fetch_one(&mut *tx)
    .await?;
    Entry::about(format!("people_import:{id}"), "people.import.upload")
        .by(Some(admin.id))
        .ip(ip)
        .detail(serde_json::json!({
            "file": file, "rows": total, "new": new, "changed": changed,
            "unchanged": unchanged, "refused": checked.refused.len(),
        }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/people/import/{id}")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/people_import_job.html")]
pub struct JobTemplate {
    pub page: Page,
    pub id: i64,
    pub file: String,
    pub status: String,
    pub status_label: &'static str,
    pub total: i32,
    pub valid: i32,
    pub done: i32,
    pub percent: i32,
    pub new: i32,
    pub changed: i32,
    pub unchanged: i32,
    pub refused_count: i32,
    pub refused: Vec<Refused>,
    pub created: usize,
    pub codes_issued: bool,
    pub error: String,
}

impl JobTemplate {
    pub fn running(&self) -> bool {
        self.status == "queued" || self.status == "running"
    }
}

type JobRow = (
    String,
    String,
    i32,
    i32,
    i32,
    i32,
    i32,
    i32,
    sqlx::types::Json<Vec<Refused>>,
    i32,
    Option<DateTime<Utc>>,
    Option<String>,
    i32,
);

/// `GET /admin/people/import/{id}`: the preview, the progress (refreshing itself), or
/// the result.
pub async fn show(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<JobTemplate> {
    let r: Option<JobRow> = sqlx::query_as(
        "SELECT file_name, status, total, done_rows, new_count, changed_count, unchanged_count,
                refused_count, refused, cardinality(created_accounts), codes_issued_at, error,
                CASE WHEN status = 'preview' THEN new_count + changed_count + unchanged_count
                     ELSE jsonb_array_length(rows) END
         FROM people_imports WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    let (
        file,
        status,
        total,
        done,
        new,
        changed,
        unchanged,
        refused_count,
        refused,
        created,
        codes,
        error,
        valid,
    ) = r.ok_or(AppError::NotFound)?;
    let mut refused = refused.0;
    refused.truncate(SHOWN);
    Ok(JobTemplate {
        page,
        id,
        file,
        status_label: status_label(&status),
        status,
        total,
        valid,
        done,
        percent: if valid > 0 { done * 100 / valid } else { 100 },
        new,
        changed,
        unchanged,
        refused_count,
        refused,
        created: created as usize,
        codes_issued: codes.is_some(),
        error: error.unwrap_or_default(),
    })
}

/// `POST /admin/people/import/{id}/confirm` (确认导入): queues the job and starts a
/// worker at once; the page shows its progress.
pub async fn confirm(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM people_imports WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match status.as_deref() {
        None => return Err(AppError::NotFound),
        Some("preview") => {}
        Some(_) => {
            flash(&flashes, "info", "该文件已确认导入。");
            return Ok(Redirect::to(&format!("/admin/people/import/{id}")).into_response());
        }
    }
    // The job counts what it writes, against the people as they are then.
    sqlx::query(
        "UPDATE people_imports SET status = 'queued', new_count = 0, changed_count = 0,
                unchanged_count = 0, done_rows = 0 WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Entry::about(format!("people_import:{id}"), "people.import.confirm")
        .by(Some(admin.id))
        .ip(ip)
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    tokio::spawn(job::work(state.db.clone(), state.clock.clone()));
    Ok(Redirect::to(&format!("/admin/people/import/{id}")).into_response())
}

fn csv_response(name: &str, body: Vec<u8>) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&content_disposition(name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// A CSV that Excel opens as UTF-8 (BOM); cells that would start a formula are quoted
/// with a leading apostrophe.
fn csv_bytes(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let safe = |s: String| {
        if s.starts_with(['=', '+', '-', '@']) {
            format!("'{s}")
        } else {
            s
        }
    };
    w.write_record(header)
        .map_err(|e| AppError::Internal(e.into()))?;
    for r in rows {
        w.write_record(r.into_iter().map(safe))
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!(e.to_string())))
}

/// `GET /admin/people/import/{id}/refused.csv`: every refused row with its reasons.
pub async fn refused_csv(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let refused: Option<sqlx::types::Json<Vec<Refused>>> =
        sqlx::query_scalar("SELECT refused FROM people_imports WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.db)
            .await?;
    let mut refused = refused.ok_or(AppError::NotFound)?.0;
    refused.sort_by_key(|r| r.row);
    let body = csv_bytes(
        &["行号", "学号/工号", "姓名", "原因"],
        refused
            .into_iter()
            .map(|r| vec![r.row.to_string(), r.account, r.name, r.reasons.join("；")]),
    )?;
    Ok(csv_response(&format!("import-{id}-refused.csv"), body))
}

/// `POST /admin/people/import/{id}/codes`: 激活码 for the people this import created who
/// are not activated yet, as a CSV (account, name, code). Shown once: only hashes are
/// kept, and issuing again replaces every earlier code.
pub async fn codes(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let row: Option<(String, Vec<String>)> =
        sqlx::query_as("SELECT status, created_accounts FROM people_imports WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.db)
            .await?;
    let (status, accounts) = row.ok_or(AppError::NotFound)?;
    if status != "done" {
        return Err(AppError::Conflict("导入完成后才能生成激活码"));
    }
    let issued =
        identity::flows::issue_activation_codes(&state.db, &state.secret_key, &accounts).await?;
    let names: std::collections::HashMap<String, String> =
        sqlx::query_as("SELECT account, name FROM users WHERE account = ANY($1)")
            .bind(&accounts)
            .fetch_all(&state.db)
            .await?
            .into_iter()
            .collect();
    let now = state.now();
    let mut tx = state.db.begin().await?;
    sqlx::query("UPDATE people_imports SET codes_issued_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Entry::about(format!("people_import:{id}"), "people.import.codes")
        .by(Some(admin.id))
        .ip(ip)
        .detail(serde_json::json!({ "codes": issued.len() }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    let body = csv_bytes(
        &["学号/工号", "姓名", "激活码"],
        issued.into_iter().map(|(a, c)| {
            let n = names.get(&a).cloned().unwrap_or_default();
            vec![a, n, c]
        }),
    )?;
    Ok(csv_response(
        &format!("import-{id}-activation-codes.csv"),
        body,
    ))
}
