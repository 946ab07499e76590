//! 组织机构 (`/admin/departments`, 系统管理员 only): the department tree; add, rename, move
//! (never under itself) and 停用 / 启用. A department is retired only when nothing refers
//! to it any more: people, active sub-departments, role scopes (org), services (catalog)
//! and running applications (workflow) — else the page says which, with counts and names.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    audit::Entry,
    catalog,
    error::{AppError, AppResult},
    org::{
        departments::{self as depts, DeptNode, KINDS, TreeRefused, kind_label},
        directory,
    },
    web::AppState,
    web::page::{Flashes, Page, flash},
    web::user::{AdminUser, ClientIp},
    workflow::store::open_work,
};

#[derive(Template, WebTemplate)]
#[template(path = "admin/departments.html")]
pub struct DepartmentsTemplate {
    pub page: Page,
    pub tree: Vec<DeptNode>,
    /// The department whose panel is open.
    pub selected: Option<DeptNode>,
    /// Where the selected one may move: every active department not below it.
    pub parents: Vec<(i64, String)>,
    /// Parents for a new department.
    pub choices: Vec<(i64, String)>,
    pub kinds: &'static [(&'static str, &'static str)],
    /// What was typed into 新增部门, and its problem.
    pub new: NewDept,
    pub new_error: Option<String>,
    /// Why the last change to the selected department was refused.
    pub refusal: Vec<String>,
    pub rename_error: Option<String>,
}

impl DepartmentsTemplate {
    fn kind_label(&self, kind: &str) -> &'static str {
        kind_label(kind)
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct NewDept {
    #[serde(default)]
    pub parent: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
}

#[derive(Deserialize, Default)]
pub struct Selected {
    id: Option<i64>,
}

async fn render(
    state: &AppState,
    page: Page,
    selected: Option<i64>,
    f: impl FnOnce(&mut DepartmentsTemplate),
) -> AppResult<DepartmentsTemplate> {
    let tree = depts::tree(&state.db).await?;
    let selected = match selected {
        Some(id) => Some(
            tree.iter()
                .find(|d| d.id == id)
                .cloned()
                .ok_or(AppError::NotFound)?,
        ),
        None => None,
    };
    let parents = match &selected {
        Some(s) => {
            // Below the selected one: everything deeper that follows it in depth-first order.
            let start = tree.iter().position(|d| d.id == s.id).unwrap_or(0);
            let below: Vec<i64> = tree[start..]
                .iter()
                .skip(1)
                .take_while(|d| d.depth > s.depth)
                .map(|d| d.id)
                .collect();
            depts::choices(&tree)
                .into_iter()
                .filter(|(id, _)| *id != s.id && !below.contains(id))
                .collect()
        }
        None => Vec::new(),
    };
    let mut t = DepartmentsTemplate {
        page,
        choices: depts::choices(&tree),
        tree,
        selected,
        parents,
        kinds: &KINDS,
        new: NewDept::default(),
        new_error: None,
        refusal: Vec::new(),
        rename_error: None,
    };
    f(&mut t);
    Ok(t)
}

pub async fn page(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Query(q): Query<Selected>,
) -> AppResult<DepartmentsTemplate> {
    render(&state, page, q.id, |_| {}).await
}

fn clean_name(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    if s.is_empty() {
        return Err("请填写部门名称。");
    }
    if s.chars().count() > 50 || s.chars().any(char::is_control) {
        return Err("部门名称不超过 50 个字，且不含控制字符。");
    }
    Ok(s.to_owned())
}

pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Form(form): Form<NewDept>,
) -> AppResult<Response> {
    let code = form.code.trim().to_uppercase();
    let problem = if let Err(e) = clean_name(&form.name) {
        Some(e.to_owned())
    } else if code.is_empty()
        || code.len() > 20
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Some("部门编码为 1–20 位英文字母、数字、- 或 _。".to_owned())
    } else if !KINDS.iter().any(|(k, _)| *k == form.kind) {
        Some("请选择部门类型。".to_owned())
    } else {
        None
    };
    let parent = form.parent.parse::<i64>().ok();
    let refuse = |page, problem: String| async {
        let t = render(&state, page, None, |t| {
            t.new = form.clone();
            t.new_error = Some(problem);
        })
        .await?;
        Ok::<_, AppError>((StatusCode::UNPROCESSABLE_ENTITY, t).into_response())
    };
    if let Some(p) = problem {
        return refuse(page, p).await;
    }
    let Some(parent) = parent else {
        return refuse(page, "请选择上级部门。".into()).await;
    };
    let name = clean_name(&form.name).unwrap_or_default();
    let mut tx = state.db.begin().await?;
    let id = match depts::create(&mut tx, parent, &code, &name, &form.kind).await? {
        Ok(id) => id,
        Err(TreeRefused::CodeTaken) => {
            return refuse(page, format!("部门编码 {code} 已被使用。")).await;
        }
        Err(_) => return refuse(page, "请选择一个启用中的上级部门。".into()).await,
    };
    Entry::about(format!("department:{id}"), "department.create")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "code": code, "name": name, "parent": parent, "kind": form.kind }))
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", format!("已新增部门“{name}”。"));
    Ok(Redirect::to(&format!("/admin/departments?id={id}")).into_response())
}

#[derive(Deserialize, Default)]
pub struct Rename {
    #[serde(default)]
    name: String,
}

pub async fn rename(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<Rename>,
) -> AppResult<Response> {
    let name = match clean_name(&form.name) {
        Ok(n) => n,
        Err(e) => {
            let t = render(&state, page, Some(id), |t| t.rename_error = Some(e.into())).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    if !depts::rename(&mut tx, id, &name).await? {
        return Err(AppError::NotFound);
    }
    Entry::about(format!("department:{id}"), "department.rename")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "name": name }))
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", "已保存部门名称。");
    Ok(Redirect::to(&format!("/admin/departments?id={id}")).into_response())
}

#[derive(Deserialize, Default)]
pub struct Move {
    #[serde(default)]
    parent: String,
}

pub async fn move_to(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<Move>,
) -> AppResult<Response> {
    let Ok(parent) = form.parent.parse::<i64>() else {
        let t = render(&state, page, Some(id), |t| {
            t.refusal = vec!["请选择新的上级部门。".into()]
        })
        .await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response());
    };
    let mut tx = state.db.begin().await?;
    let why = match depts::move_to(&mut tx, id, parent).await? {
        Ok(()) => None,
        Err(TreeRefused::Cycle) => Some("不能移动到它自己或它的下级部门之下。"),
        Err(TreeRefused::Root) => Some("学校是组织机构的根，不能移动。"),
        Err(_) => Some("请选择一个启用中的上级部门。"),
    };
    let entry = Entry::about(format!("department:{id}"), "department.move")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "parent": parent, "refused": why }));
    if let Some(why) = why {
        drop(tx);
        entry.failure().record(&state.db, state.now()).await?;
        let t = render(&state, page, Some(id), |t| t.refusal = vec![why.into()]).await?;
        return Ok((StatusCode::CONFLICT, t).into_response());
    }
    entry.record(&mut *tx, state.now()).await?;
    tx.commit().await?;
    flash(&flashes, "success", "已移动部门。");
    Ok(Redirect::to(&format!("/admin/departments?id={id}")).into_response())
}

/// `n 项：a、b、c 等` for a refusal message.
fn named(label: &str, count: i64, names: &[String]) -> Option<String> {
    (count > 0).then(|| {
        let more = if count as usize > names.len() {
            " 等"
        } else {
            ""
        };
        format!("{label} {count} 项：{}{more}", names.join("、"))
    })
}

pub async fn deactivate(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    // Serialise with people and services moving in: row lock on the department.
    let root: Option<bool> =
        sqlx::query_scalar("SELECT parent_id IS NULL FROM departments WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let root = root.ok_or(AppError::NotFound)?;
    let mut refusal = Vec::new();
    if root {
        refusal.push("学校是组织机构的根，不能停用。".to_owned());
    }
    let p = depts::people_in(&mut tx, id).await?;
    refusal.extend(named("人员", p.count, &p.names));
    let c = depts::children_of(&mut tx, id).await?;
    refusal.extend(named("启用中的下级部门", c.count, &c.names));
    let r = depts::role_scopes_in(&mut tx, id).await?;
    refusal.extend(named("以本部门为范围的角色", r.count, &r.names));
    let (n, names) = catalog::store::services_referring_to(&mut tx, id).await?;
    refusal.extend(named("服务（服务部门或发起范围）", n, &names));
    let people = directory::ids_in_department(&mut tx, id).await?;
    let services = catalog::store::service_ids_of_department(&mut tx, id).await?;
    let (n, names) = open_work::running_for(&mut tx, &people, &services).await?;
    refusal.extend(named("办理中的申请", n, &names));
    let entry = Entry::about(format!("department:{id}"), "department.deactivate")
        .by(Some(admin.id))
        .ip(ip);
    if !refusal.is_empty() {
        drop(tx);
        entry
            .failure()
            .detail(json!({ "refused": refusal }))
            .record(&state.db, state.now())
            .await?;
        let t = render(&state, page, Some(id), |t| t.refusal = refusal).await?;
        return Ok((StatusCode::CONFLICT, t).into_response());
    }
    depts::set_active(&mut tx, id, false).await?;
    entry.record(&mut *tx, state.now()).await?;
    tx.commit().await?;
    flash(&flashes, "success", "已停用该部门。");
    Ok(Redirect::to(&format!("/admin/departments?id={id}")).into_response())
}

pub async fn activate(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    // A department comes back only under an active parent.
    let parent_active: Option<bool> = sqlx::query_scalar(
        "SELECT COALESCE(p.active, true) FROM departments d LEFT JOIN departments p ON p.id = d.parent_id
         WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if !parent_active.ok_or(AppError::NotFound)? {
        flash(
            &flashes,
            "error",
            "上级部门已停用：请先启用上级部门，或把它移到启用中的部门之下。",
        );
        return Ok(Redirect::to(&format!("/admin/departments?id={id}")).into_response());
    }
    depts::set_active(&mut tx, id, true).await?;
    Entry::about(format!("department:{id}"), "department.activate")
        .by(Some(admin.id))
        .ip(ip)
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", "已启用该部门。");
    Ok(Redirect::to(&format!("/admin/departments?id={id}")).into_response())
}
