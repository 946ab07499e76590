//! 管理后台 › 服务: service packages out of the portal (导出) and into it (导入服务, with a
//! preview and 确认导入).

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Multipart, Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::access::{self, Manager};
use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    forms::files::content_disposition,
    package::{self, ServicePackage, Source, import},
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::ClientIp,
    },
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

/// The largest package accepted (the demo packages are about 10 kB).
const MAX_PACKAGE: usize = 256 * 1024;

#[derive(Template, WebTemplate)]
#[template(path = "admin/import.html")]
pub struct ImportTemplate {
    pub page: Page,
    /// The file name and text, carried to 确认导入.
    pub file: String,
    pub text: String,
    /// Problems of the file (or why it cannot be read).
    pub problems: Vec<String>,
    pub preview: Option<import::Preview>,
}

impl ImportTemplate {
    fn new(page: Page) -> Self {
        ImportTemplate {
            page,
            file: String::new(),
            text: String::new(),
            problems: vec![],
            preview: None,
        }
    }
}

/// `GET /admin/services/import`
pub(super) async fn import_page(_m: Manager, page: Page) -> ImportTemplate {
    ImportTemplate::new(page)
}

/// Reads and checks a package; problems name file, place and problem.
async fn read(
    state: &AppState,
    file: &str,
    text: &str,
) -> AppResult<Result<ServicePackage, Vec<String>>> {
    let known = import::known(&state.db).await?;
    Ok(ServicePackage::load(&Source { file, text }, &known)
        .map_err(|p| p.0.iter().map(ToString::to_string).collect()))
}

/// The manager may import into the package's department and over the existing service.
async fn may_import(state: &AppState, m: &Manager, p: &import::Preview) -> AppResult<()> {
    if !m.department(&state.db, p.department_id).await? {
        return Err(AppError::Forbidden(access::NOT_YOURS));
    }
    if let Some(id) = p.existing {
        m.service(&state.db, id).await?;
    }
    Ok(())
}

/// `POST /admin/services/import` (multipart, file field `file`): what the package would
/// create or change, with 确认导入. Nothing is written.
pub(super) async fn import_upload(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    mut mp: Multipart,
) -> AppResult<Response> {
    let mut out = ImportTemplate::new(page);
    let mut got = None;
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|_| AppError::BadRequest("上传的内容无法读取"))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("package.toml").to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|_| AppError::BadRequest("上传的内容无法读取"))?;
        got = Some((name, bytes));
        break;
    }
    let Some((name, bytes)) = got else {
        out.problems
            .push("请选择要导入的服务包文件（.toml）".into());
        return Ok(out.into_response());
    };
    out.file = name.chars().filter(|c| !c.is_control()).take(100).collect();
    if bytes.is_empty() {
        out.problems.push("文件是空的".into());
    } else if bytes.len() > MAX_PACKAGE {
        out.problems
            .push(format!("文件过大：服务包最大 {} KB", MAX_PACKAGE / 1024));
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Err(_) => out.problems.push("文件不是 UTF-8 编码的文本".into()),
            Ok(t) if t.contains('\0') => out
                .problems
                .push("文件含有空字符（NUL），不是服务包".into()),
            Ok(t) => out.text = t,
        }
    }
    if !out.problems.is_empty() {
        return Ok(out.into_response());
    }
    match read(&state, &out.file, &out.text).await? {
        Err(problems) => out.problems = problems,
        Ok(p) => {
            let preview = import::preview(&state.db, &p).await?;
            may_import(&state, &m, &preview).await?;
            out.preview = Some(preview);
        }
    }
    Ok(out.into_response())
}

#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    file: String,
    package: String,
}

/// `POST /admin/services/import/confirm`: 确认导入. The package is read and checked again
/// (the page carried it), then written in one transaction: a new service as 草稿, or the
/// existing one's catalog entry updated; the form and workflow as its working copy.
pub(super) async fn import_confirm(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    let file: String = form
        .file
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    if form.package.len() > MAX_PACKAGE || form.package.contains('\0') {
        return Err(AppError::BadRequest("服务包无效"));
    }
    let p = match read(&state, &file, &form.package).await? {
        Ok(p) => p,
        Err(problems) => {
            return Ok(ImportTemplate {
                page,
                file,
                text: form.package,
                problems,
                preview: None,
            }
            .into_response());
        }
    };
    let preview = import::preview(&state.db, &p).await?;
    may_import(&state, &m, &preview).await?;
    match import::apply(&state.db, &p, m.id(), ip, state.now()).await {
        Ok(done) => {
            let msg = if done.created {
                format!(
                    "已新建服务“{}”（草稿）。请检查表单与流程，然后在“版本”中发布。",
                    p.service.name
                )
            } else if done.preview.unchanged() {
                "导入的内容与现有服务相同，没有变化。".to_owned()
            } else if done.draft_revision.is_some() {
                "已导入：表单与流程已保存为草稿，发布后对新的申请生效。".to_owned()
            } else {
                "已导入：服务信息已更新。".to_owned()
            };
            flash(&flashes, "success", msg);
            Ok(
                Redirect::to(&format!("/admin/services/{}/versions", done.service_id))
                    .into_response(),
            )
        }
        Err(import::ImportError::Refused(r)) => Ok(ImportTemplate {
            page,
            file,
            text: form.package,
            problems: vec![r],
            preview: None,
        }
        .into_response()),
        Err(import::ImportError::Stale) => {
            Err(AppError::Conflict("服务或其草稿刚被他人修改，请重新导入"))
        }
        Err(import::ImportError::Other(e)) => Err(AppError::Internal(e)),
    }
}
