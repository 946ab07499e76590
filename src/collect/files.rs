//! Files of 填报任务 responses: uploaded with the form (attachment fields), removed by
//! ticking them, downloaded by the person, the task's owner and 部门负责人 of the
//! person's department, and all of them (as filtered) in one ZIP.

use std::{collections::BTreeMap, io::Write};

use axum::{
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::PgConnection;

use super::{progress, store};
use crate::{
    error::{AppError, AppResult},
    forms::{Errors, FieldKind, FormSchema, files, input::Upload},
    web::{AppState, user::CurrentUser},
};

/// A response's files by field: (id, name, size).
pub type ByField = BTreeMap<String, Vec<(i64, String, i64)>>;

/// Where a response's files download from.
pub const FILES_AT: &str = "/collect/files/";

/// Stores the uploads into the task's attachment fields and removes the ticked files,
/// in the caller's transaction; refused files go into `errors` by field.
#[allow(clippy::too_many_arguments)]
pub async fn change(
    conn: &mut PgConnection,
    form: &FormSchema,
    id: i64,
    user: i64,
    uploads: Vec<Upload>,
    removals: &[i64],
    (max_file, max_total): (u64, u64),
    now: DateTime<Utc>,
    errors: &mut Errors,
) -> sqlx::Result<()> {
    if !removals.is_empty() {
        store::remove_files(conn, id, user, removals).await?;
    }
    let mut total: i64 = store::files_of(conn, id, &[user])
        .await?
        .iter()
        .map(|f| f.size)
        .sum();
    for u in uploads {
        let Some(f) = form
            .fields
            .iter()
            .find(|f| f.key == u.field && f.kind == FieldKind::Attachments)
        else {
            continue;
        };
        let content_type = match files::check(&u.name, &u.data, max_file) {
            Ok(ct) => ct,
            Err(e) => {
                errors
                    .entry(f.key.clone())
                    .or_default()
                    .push(e.message(&u.name));
                continue;
            }
        };
        if total + u.data.len() as i64 > max_total as i64 {
            errors.entry(f.key.clone()).or_default().push(format!(
                "附件总大小不能超过 {} MB，“{}”未能添加",
                max_total / (1024 * 1024),
                u.name
            ));
            continue;
        }
        total += u.data.len() as i64;
        store::insert_file(
            conn,
            store::NewFile {
                id,
                user,
                field_key: &f.key,
                file_name: &files::clean_name(&u.name).unwrap_or_else(|| "附件".into()),
                content_type,
                data: &u.data,
                sha256: &files::sha256_hex(&u.data),
                at: now,
            },
        )
        .await?;
    }
    Ok(())
}

/// Attachment fields hold the ids of the person's stored files, never posted ids; and
/// the names and sizes for the page.
pub async fn attach(
    conn: &mut PgConnection,
    form: &FormSchema,
    id: i64,
    user: i64,
    data: &mut Map<String, Value>,
) -> sqlx::Result<ByField> {
    let mut by_field = ByField::new();
    for f in store::files_of(conn, id, &[user]).await? {
        by_field
            .entry(f.field_key)
            .or_default()
            .push((f.id, f.file_name, f.size));
    }
    for f in form
        .fields
        .iter()
        .filter(|f| f.kind == FieldKind::Attachments)
    {
        let ids: Vec<i64> = by_field
            .get(&f.key)
            .map(|l| l.iter().map(|(i, _, _)| *i).collect())
            .unwrap_or_default();
        data.insert(f.key.clone(), Value::from(ids));
    }
    Ok(by_field)
}

fn attachment(name: &str, data: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                files::content_disposition(name),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        data,
    )
        .into_response()
}

/// `GET /collect/files/{id}`: for the person who uploaded it, the task's owner and
/// 系统管理员, and 部门负责人 of the person's department; anyone else 404.
pub async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(file): Path<i64>,
) -> AppResult<Response> {
    let f = store::file(&state.db, file)
        .await?
        .ok_or(AppError::NotFound)?;
    if f.user_id != user.id {
        let t = store::task(&state.db, f.collection_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let v = progress::viewer(&state.db, &user, &t).await?;
        if !v.all && !f.department_id.is_some_and(|d| v.departments.contains(&d)) {
            return Err(AppError::NotFound);
        }
    }
    Ok(attachment(&f.file_name, f.data))
}

/// The most a ZIP of files may hold (the files are read into memory to build it).
pub const ZIP_MAX: i64 = 512 * 1024 * 1024;

/// One file in a ZIP: its path inside, and its bytes.
pub type ZipEntry = (String, Vec<u8>);

/// A ZIP of `entries`, built off the async threads.
pub async fn zip(entries: Vec<ZipEntry>, name: &str) -> AppResult<Response> {
    let bytes = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let mut used = std::collections::BTreeSet::new();
        for (path, data) in entries {
            // Two files of one name in one folder: the later gets a number.
            let mut p = path.clone();
            let mut n = 1;
            while !used.insert(p.clone()) {
                n += 1;
                p = match path.rsplit_once('.') {
                    Some((a, b)) => format!("{a}({n}).{b}"),
                    None => format!("{path}({n})"),
                };
            }
            w.start_file(p, opts)?;
            w.write_all(&data)?;
        }
        Ok(w.finish()?.into_inner())
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))??;
    let mut res = attachment(&format!("{name}.zip"), bytes);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/zip"),
    );
    Ok(res)
}
