//! 一事联办管理 (`/admin/bundles`, 系统管理员 only): bundles of online services, each
//! member keeping its own department, form and workflow. Create, change (name, summary,
//! the services in form order) and 发布 / 停用; every write audited. A bundle is shown
//! to applicants only while published.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;

use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    web::AppState,
    web::page::{Flashes, Page, flash},
    web::user::{AdminUser, ClientIp},
};

/// What the form posts, kept as typed.
#[derive(Deserialize, Default, Clone)]
pub struct BundleForm {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub summary: String,
    /// Service codes, one per line (or separated by spaces, commas, 、).
    #[serde(default)]
    pub services: String,
    /// The bundle's revision when the edit form was opened (editing only).
    #[serde(default)]
    pub revision: String,
}

#[derive(sqlx::FromRow)]
pub struct BundleRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub summary: String,
    pub status: String,
    /// 邮箱申请（YXSQ）、…
    pub members: String,
    pub codes: Vec<String>,
    pub revision: i32,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/bundles.html")]
pub struct BundlesTemplate {
    pub page: Page,
    pub bundles: Vec<BundleRow>,
    /// The bundle being edited (None: the list with 新建).
    pub editing: Option<i64>,
    pub form: BundleForm,
    /// (input, message)
    pub errors: Vec<(&'static str, String)>,
    /// Above the form: someone else saved the bundle since this form was opened.
    pub stale: bool,
}

impl BundlesTemplate {
    pub fn err(&self, input: &str) -> Vec<&str> {
        self.errors
            .iter()
            .filter(|(k, _)| *k == input)
            .map(|(_, m)| m.as_str())
            .collect()
    }
}

const MAX_MEMBERS: usize = 8;

async fn rows(db: &sqlx::PgPool) -> sqlx::Result<Vec<BundleRow>> {
    sqlx::query_as(
        "SELECT b.id, b.code, b.name, b.summary, b.status, b.revision,
                COALESCE(string_agg(s.name || '（' || s.code || '）', '、' ORDER BY m.position), '') AS members,
                COALESCE(array_agg(s.code ORDER BY m.position) FILTER (WHERE s.code IS NOT NULL), '{}') AS codes
         FROM bundles b LEFT JOIN bundle_members m ON m.bundle_id = b.id
         LEFT JOIN services s ON s.id = m.service_id
         GROUP BY b.id ORDER BY b.id",
    )
    .fetch_all(db)
    .await
}

async fn page_of(
    state: &AppState,
    page: Page,
    editing: Option<i64>,
    form: BundleForm,
    errors: Vec<(&'static str, String)>,
) -> AppResult<BundlesTemplate> {
    Ok(BundlesTemplate {
        page,
        bundles: rows(&state.db).await?,
        editing,
        form,
        errors,
        stale: false,
    })
}

/// `GET /admin/bundles`
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
) -> AppResult<BundlesTemplate> {
    page_of(&state, page, None, BundleForm::default(), Vec::new()).await
}

/// `GET /admin/bundles/{id}`: the list with this bundle's form filled in.
pub(super) async fn edit(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<BundlesTemplate> {
    let all = rows(&state.db).await?;
    let b = all.iter().find(|b| b.id == id).ok_or(AppError::NotFound)?;
    let form = BundleForm {
        code: b.code.clone(),
        name: b.name.clone(),
        summary: b.summary.clone(),
        services: b.codes.join("\n"),
        revision: b.revision.to_string(),
    };
    page_of(&state, page, Some(id), form, Vec::new()).await
}

/// The checked bundle: code, name, summary and the member service ids in order; or a
/// message per input.
struct Checked {
    code: String,
    name: String,
    summary: String,
    members: Vec<i64>,
}

async fn check(
    conn: &mut PgConnection,
    f: &BundleForm,
) -> sqlx::Result<Result<Checked, Vec<(&'static str, String)>>> {
    let mut errors = Vec::new();
    let code = f.code.trim().to_uppercase();
    if !(2..=20).contains(&code.len())
        || !code.starts_with(|c: char| c.is_ascii_uppercase())
        || !code.chars().all(|c| c.is_ascii_alphanumeric())
    {
        errors.push((
            "code",
            "编码为 2–20 位字母或数字，以字母开头，如 RZYJS".to_owned(),
        ));
    }
    let name = f.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 40 {
        errors.push(("name", "请填写名称（不超过 40 个字）".to_owned()));
    }
    let summary = f.summary.trim().to_owned();
    if summary.chars().count() > 200 {
        errors.push(("summary", "简介不能超过 200 个字".to_owned()));
    }
    let mut codes: Vec<String> = Vec::new();
    for c in f
        .services
        .split(|c: char| c.is_whitespace() || c == ',' || c == '，' || c == '、')
        .filter(|c| !c.is_empty())
    {
        let c = c.to_uppercase();
        if codes.contains(&c) {
            errors.push(("services", format!("服务 {c} 重复")));
        } else {
            codes.push(c);
        }
    }
    if codes.len() < 2 || codes.len() > MAX_MEMBERS {
        errors.push((
            "services",
            format!("请填写 2–{MAX_MEMBERS} 个服务编码，每行一个"),
        ));
    }
    let found: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT code, id, kind FROM services WHERE code = ANY($1) AND status <> 'offline'",
    )
    .bind(&codes)
    .fetch_all(&mut *conn)
    .await?;
    let mut members = Vec::new();
    for c in &codes {
        match found.iter().find(|(code, ..)| code == c) {
            None => errors.push(("services", format!("没有服务编码 {c}（或已下线）"))),
            Some((_, _, kind)) if kind != "online" => {
                errors.push(("services", format!("{c} 不是在线办理的服务")))
            }
            Some((_, id, _)) => members.push(*id),
        }
    }
    Ok(if errors.is_empty() {
        Ok(Checked {
            code,
            name,
            summary,
            members,
        })
    } else {
        Err(errors)
    })
}

async fn write_members(conn: &mut PgConnection, id: i64, members: &[i64]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM bundle_members WHERE bundle_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO bundle_members (bundle_id, service_id, position)
         SELECT $1, s, n FROM UNNEST($2::int8[]) WITH ORDINALITY AS t(s, n)",
    )
    .bind(id)
    .bind(members)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn refused(t: BundlesTemplate) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, t).into_response()
}

const CODE_TAKEN: &str = "编码已被其他联办事项使用";

/// `POST /admin/bundles`: a new bundle, as a draft (发布 makes it visible).
pub(super) async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Form(form): Form<BundleForm>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let c = match check(&mut tx, &form).await? {
        Ok(c) => c,
        Err(e) => return Ok(refused(page_of(&state, page, None, form, e).await?)),
    };
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO bundles (code, name, summary, status, created_at)
         VALUES ($1, $2, $3, 'draft', $4) ON CONFLICT (code) DO NOTHING RETURNING id",
    )
    .bind(&c.code)
    .bind(&c.name)
    .bind(&c.summary)
    .bind(state.now())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        drop(tx);
        let e = vec![("code", CODE_TAKEN.to_owned())];
        return Ok(refused(page_of(&state, page, None, form, e).await?));
    };
    write_members(&mut tx, id, &c.members).await?;
    Entry::about(format!("bundle:{id}"), "bundle.create")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "code": c.code, "name": c.name, "services": c.members }))
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(
        &flashes,
        "success",
        format!("已新建“{}”（未发布）。", c.name),
    );
    Ok(Redirect::to(&format!("/admin/bundles/{id}")).into_response())
}

/// `POST /admin/bundles/{id}`: name, summary, code and services changed together.
pub(super) async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<BundleForm>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let stored: Option<i32> =
        sqlx::query_scalar("SELECT revision FROM bundles WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let stored = stored.ok_or(AppError::NotFound)?;
    if form.revision.trim().parse::<i32>().ok() != Some(stored) {
        drop(tx);
        // What was typed, unsaved, with the stored revision: saving again knowingly
        // overwrites the other administrator's change.
        let mut form = form;
        form.revision = stored.to_string();
        let mut t = page_of(&state, page, Some(id), form, Vec::new()).await?;
        t.stale = true;
        return Ok((StatusCode::CONFLICT, t).into_response());
    }
    let c = match check(&mut tx, &form).await? {
        Ok(c) => c,
        Err(e) => return Ok(refused(page_of(&state, page, Some(id), form, e).await?)),
    };
    let r = sqlx::query(
        "UPDATE bundles SET code = $2, name = $3, summary = $4, revision = revision + 1
         WHERE id = $1",
    )
    .bind(id)
    .bind(&c.code)
    .bind(&c.name)
    .bind(&c.summary)
    .execute(&mut *tx)
    .await;
    match r {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            drop(tx);
            let e = vec![("code", CODE_TAKEN.to_owned())];
            return Ok(refused(page_of(&state, page, Some(id), form, e).await?));
        }
        other => other?,
    };
    write_members(&mut tx, id, &c.members).await?;
    Entry::about(format!("bundle:{id}"), "bundle.update")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "code": c.code, "name": c.name, "services": c.members }))
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", format!("已保存“{}”。", c.name));
    Ok(Redirect::to(&format!("/admin/bundles/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct StatusForm {
    /// `published` or `draft`.
    to: String,
}

/// `POST /admin/bundles/{id}/status`: 发布 / 停用.
pub(super) async fn status(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    Path(id): Path<i64>,
    Form(f): Form<StatusForm>,
) -> AppResult<Response> {
    let (to, action, said) = match f.to.as_str() {
        "published" => ("published", "bundle.publish", "已发布"),
        "draft" => ("draft", "bundle.unpublish", "已停用"),
        _ => return Err(AppError::BadRequest("无效的状态。")),
    };
    let mut tx = state.db.begin().await?;
    let name: Option<String> =
        sqlx::query_scalar("UPDATE bundles SET status = $2 WHERE id = $1 RETURNING name")
            .bind(id)
            .bind(to)
            .fetch_optional(&mut *tx)
            .await?;
    let name = name.ok_or(AppError::NotFound)?;
    Entry::about(format!("bundle:{id}"), action)
        .by(Some(admin.id))
        .ip(ip)
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", format!("{said}“{name}”。"));
    Ok(Redirect::to(&format!("/admin/bundles/{id}")).into_response())
}
