//! A posted form, urlencoded or multipart (with files), read within the upload limits.

use std::collections::BTreeMap;

use axum::{
    Form,
    extract::{FromRequest, Multipart, Request},
    http::header,
};

use crate::{error::AppError, web::AppState};

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
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("multipart/form-data"));
        if !multipart {
            let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, state)
                .await
                .map_err(|_| AppError::BadRequest("提交的表单无法识别，请返回重试。"))?;
            return no_nul(FormInput {
                pairs,
                files: Vec::new(),
                file_errors: BTreeMap::new(),
            });
        }
        let max_file = state.settings.upload_max_file;
        let bad = |_| AppError::BadRequest("上传未完成或内容过大，请重试。");
        let mut mp = Multipart::from_request(req, state)
            .await
            .map_err(|_| AppError::BadRequest("提交的表单无法识别，请返回重试。"))?;
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
                    let value = field.text().await.map_err(bad)?;
                    input.pairs.push((name, value));
                }
            }
        }
        no_nul(input)
    }
}

/// The message for text holding a NUL character, which PostgreSQL cannot store in text or
/// JSON: refused as a bad request rather than failing at the database.
pub const NUL_MESSAGE: &str = "提交的内容含有无效字符（空字符），请删除后重试。";

fn no_nul(input: FormInput) -> Result<FormInput, AppError> {
    if input
        .pairs
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(AppError::BadRequest(NUL_MESSAGE));
    }
    Ok(input)
}
