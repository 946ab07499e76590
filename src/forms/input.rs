//! A posted form, urlencoded or multipart (with files), read within the upload limits.

use std::collections::BTreeMap;

use axum::{
    Form,
    extract::{FromRequest, Multipart, Request, multipart::MultipartError},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    error::AppError,
    web::AppState,
    web::middleware::{payload_too_large, refuse_unfit, unfit_bytes, unfit_text},
};

pub struct Upload {
    pub field: String,
    pub name: String,
    pub data: Vec<u8>,
}

pub struct FormInput {
    pub pairs: Vec<(String, String)>,
    pub files: Vec<Upload>,
    /// Files refused while reading (too large), by field.
    pub file_errors: BTreeMap<String, Vec<String>>,
}

impl FromRequest<AppState> for FormInput {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read(req, state).await
    }
}

async fn read(req: Request, state: &AppState) -> Result<FormInput, Response> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    if !multipart {
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(|_| unreadable())?;
        return fit(FormInput {
            pairs,
            files: Vec::new(),
            file_errors: BTreeMap::new(),
        })
        .map_err(IntoResponse::into_response);
    }
    let max_file = state.settings.upload_max_file;
    let max_total = state.settings.upload_max_total;
    // Past the body limit (all files together) is 413 and says the limit.
    let bad = |e: MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            payload_too_large(format!(
                "一次提交的附件总大小不能超过 {} MB，单个文件不能超过 {} MB。",
                max_total / (1024 * 1024),
                max_file / (1024 * 1024)
            ))
        } else {
            AppError::BadRequest("上传未完成，请重试。").into_response()
        }
    };
    let mut mp = Multipart::from_request(req, state)
        .await
        .map_err(|_| unreadable())?;
    let mut input = FormInput {
        pairs: Vec::new(),
        files: Vec::new(),
        file_errors: BTreeMap::new(),
    };
    while let Some(mut field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file_name) => {
                let key = name.strip_prefix("file.").unwrap_or(&name).to_owned();
                let mut data = Vec::new();
                let mut too_large = false;
                // Read in chunks and stop keeping data past the limit.
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    if too_large || data.len() as u64 + chunk.len() as u64 > max_file {
                        too_large = true;
                        data.clear();
                        continue;
                    }
                    data.extend_from_slice(&chunk);
                }
                if file_name.is_empty() && data.is_empty() {
                    continue; // the file box was left empty
                }
                if too_large {
                    input
                        .file_errors
                        .entry(key)
                        .or_default()
                        .push(format!("“{file_name}”超过 {} MB", max_file / (1024 * 1024)));
                } else {
                    input.files.push(Upload {
                        field: key,
                        name: file_name,
                        data,
                    });
                }
            }
            None => {
                // Bytes, not `text()`: invalid UTF-8 gets the message of unfit input.
                let bytes = field.bytes().await.map_err(bad)?;
                if unfit_bytes(&bytes) {
                    return Err(refuse_unfit().into_response());
                }
                let value = String::from_utf8_lossy(&bytes).into_owned();
                input.pairs.push((name, value));
            }
        }
    }
    fit(input).map_err(IntoResponse::into_response)
}

fn unreadable() -> Response {
    AppError::BadRequest("提交的表单无法识别，请返回重试。").into_response()
}

/// The message for text holding a NUL character (or another unfit one), which
/// PostgreSQL cannot store: the same as the input gate's.
pub const NUL_MESSAGE: &str = crate::web::middleware::UNFIT_INPUT_MESSAGE;

/// Field names and text fields of multipart forms pass the same check as the urlencoded
/// ones at the input gate (`web::middleware::refuse_unfit_input`); file names too.
fn fit(input: FormInput) -> Result<FormInput, AppError> {
    let names = input.files.iter().map(|f| (&f.field, &f.name));
    if input
        .pairs
        .iter()
        .map(|(k, v)| (k, v))
        .chain(names)
        .any(|(k, v)| unfit_text(k) || unfit_text(v))
    {
        return Err(refuse_unfit());
    }
    Ok(input)
}
