//! What a 系统管理员 does to an account from the person's page; each audited, each a POST
//! that comes back to the page (the 激活码 and refusals render it directly: the code is
//! shown once, and a refusal keeps what was typed).

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::person::render;
use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    identity::{
        accounts::{self, ResetRefused},
        flows::issue_activation_code_by,
        lockout,
    },
    org::{departments, directory},
    web::AppState,
    web::page::{Flashes, Page, flash},
    web::user::{AdminUser, ClientIp, CurrentUser},
    workflow::{
        store::open_work,
        usecase::{ActCtx, act::Outcome, reassign::reassign},
    },
};

fn back(id: i64) -> Response {
    Redirect::to(&format!("/admin/people/{id}")).into_response()
}

async fn account_of(state: &AppState, id: i64) -> AppResult<directory::Person> {
    directory::person(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn disable(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let p = account_of(&state, id).await?;
    if id == admin.id {
        flash(&flashes, "error", "不能停用自己的账号。");
        return Ok(back(id));
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if accounts::disable(&mut tx, id, now).await? {
        Entry::user(id, "account.disable")
            .by(Some(admin.id))
            .ip(ip)
            .record(&mut *tx, now)
            .await?;
        tx.commit().await?;
        flash(
            &flashes,
            "success",
            format!("已停用 {}（{}），其登录已全部失效。", p.name, p.account),
        );
    }
    Ok(back(id))
}

pub async fn enable(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    account_of(&state, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if accounts::enable(&mut tx, id, now).await? {
        Entry::user(id, "account.enable")
            .by(Some(admin.id))
            .ip(ip)
            .record(&mut *tx, now)
            .await?;
        tx.commit().await?;
        flash(&flashes, "success", "已启用该账号。");
    }
    Ok(back(id))
}

/// 解锁 (also `POST /admin/users/{id}/unlock`, the old address).
pub async fn unlock(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let p = account_of(&state, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let was = lockout::release(&mut tx, id, now).await?;
    Entry::user(id, "account.unlock")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "was_locked": was }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(
        &flashes,
        "success",
        format!("已解除账号 {} 的登录锁定。", p.account),
    );
    Ok(back(id))
}

#[derive(Deserialize, Default)]
pub struct ResetForm {
    #[serde(default)]
    id_card: String,
}

pub async fn reset_password(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<ResetForm>,
) -> AppResult<Response> {
    account_of(&state, id).await?;
    let number: String = form.id_card.chars().take(40).collect();
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let r = accounts::reset_to_initial(&mut tx, &state.secret_key, id, &number, now)
        .await
        .map_err(AppError::Internal)?;
    let entry = Entry::user(id, "password.reset_initial")
        .by(Some(admin.id))
        .ip(ip);
    let why = match r {
        Ok(()) => {
            entry.record(&mut *tx, now).await?;
            tx.commit().await?;
            flash(
                &flashes,
                "success",
                "已重置为初始密码（证件号后六位），对方下次登录须修改密码；其登录已全部失效。",
            );
            return Ok(back(id));
        }
        Err(ResetRefused::NoIdCard) => {
            "没有登记证件号，无法重置为初始密码；可签发激活码或请本人找回密码。"
        }
        Err(ResetRefused::NotActive) => {
            "只有正常状态的账号可以重置密码：未激活的请本人激活账号，已停用的请先启用。"
        }
        Err(ResetRefused::Mismatch) => "证件号与登记的不一致。",
    };
    drop(tx);
    entry
        .failure()
        .detail(json!({ "reason": format!("{r:?}") }))
        .record(&state.db, now)
        .await?;
    let t = render(&state, page, id, |t| t.reset_error = Some(why.into())).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response())
}

pub async fn activation_code(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let p = account_of(&state, id).await?;
    let code = issue_activation_code_by(
        &state.db,
        &state.secret_key,
        &p.account,
        Some(admin.id),
        ip,
        state.now(),
    )
    .await?;
    let t = match code {
        Some(c) => render(&state, page, id, |t| t.issued_code = Some(c)).await?,
        None => {
            let t = render(&state, page, id, |t| {
                t.notice = Some("只有未激活的账号可以签发激活码。".into())
            })
            .await?;
            return Ok((StatusCode::CONFLICT, t).into_response());
        }
    };
    Ok(t.into_response())
}

#[derive(Deserialize, Default)]
pub struct GrantForm {
    #[serde(default)]
    role: String,
    /// A department id; empty for 全校.
    #[serde(default)]
    scope: String,
}

pub async fn grant(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<GrantForm>,
) -> AppResult<Response> {
    account_of(&state, id).await?;
    let roles = directory::all_roles(&state.db).await?;
    let tree = departments::tree(&state.db).await?;
    let scope = match form.scope.as_str() {
        "" => Ok(None),
        s => match s.parse::<i64>() {
            Ok(d) if tree.iter().any(|x| x.id == d && x.active) => Ok(Some(d)),
            _ => Err("请选择一个启用中的部门作为范围。"),
        },
    };
    let problem = if !roles.iter().any(|(c, _)| *c == form.role) {
        Some("请选择角色。")
    } else if form.role == "system_admin" && !matches!(scope, Ok(None)) {
        Some("系统管理员的范围是全校。")
    } else {
        scope.err()
    };
    if let Some(p) = problem {
        let t = render(&state, page, id, |t| t.notice = Some(p.into())).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response());
    }
    let scope = scope.ok().flatten();
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if directory::grant(&mut tx, id, &form.role, scope).await? {
        Entry::user(id, "role.grant")
            .by(Some(admin.id))
            .ip(ip)
            .detail(json!({ "role": form.role, "department": scope }))
            .record(&mut *tx, now)
            .await?;
        tx.commit().await?;
        flash(&flashes, "success", "已授予角色。");
    } else {
        flash(&flashes, "info", "对方已有该角色（同一范围）。");
    }
    Ok(back(id))
}

pub async fn revoke(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    Path((id, grant_id)): Path<(i64, i64)>,
) -> AppResult<Response> {
    account_of(&state, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some((role, scope)) = directory::revoke(&mut tx, id, grant_id).await? else {
        return Err(AppError::NotFound);
    };
    if id == admin.id && role == "system_admin" {
        // Rolled back: an administrator does not lock themself out.
        flash(&flashes, "error", "不能撤销自己的系统管理员角色。");
        return Ok(back(id));
    }
    Entry::user(id, "role.revoke")
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "role": role, "department": scope }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", "已撤销角色。");
    Ok(back(id))
}

#[derive(Deserialize, Default)]
pub struct TransferForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    comment: String,
}

async fn ctx(state: &AppState, admin: &CurrentUser, ip: Option<std::net::IpAddr>) -> ActCtx {
    let s = &state.settings;
    ActCtx {
        now: state.now(),
        actor: admin.id,
        actor_name: admin.name.clone(),
        ip,
        tz: s.time_zone,
        fanout: crate::notify::Fanout::from_settings(s),
        upload_max_file: s.upload_max_file,
        upload_max_total: s.upload_max_total,
        secret: state.secret_key.clone(),
        calendar: state.calendar.get().await,
    }
}

fn comment_of(form: &TransferForm, admin: &str) -> String {
    let c = form.comment.trim();
    if c.is_empty() {
        format!("管理员{admin}代为转办")
    } else {
        c.chars().take(500).collect()
    }
}

/// 转办 of one open task of person `id` to the account in `to`.
pub async fn transfer(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Path((id, task)): Path<(i64, i64)>,
    Form(form): Form<TransferForm>,
) -> AppResult<Response> {
    account_of(&state, id).await?;
    let c = ctx(&state, &admin, ip).await;
    let comment = comment_of(&form, &admin.name);
    match reassign(&state.db, &c, task, id, form.to.trim(), &comment).await? {
        Outcome::Done(m) => {
            flash(&flashes, "success", m);
            Ok(back(id))
        }
        Outcome::Refused(m) => {
            let t = render(&state, page, id, |t| t.notice = Some(m.into())).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response())
        }
        // Only a 通过 validates fields; a 转办 never comes back invalid.
        Outcome::Invalid(_) => Err(AppError::Conflict("该事项已被处理")),
    }
}

/// 全部转办: every open task of person `id` to one person.
pub async fn transfer_all(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<TransferForm>,
) -> AppResult<Response> {
    account_of(&state, id).await?;
    let tasks = open_work::pending_of(&mut *state.db.acquire().await?, id).await?;
    let comment = comment_of(&form, &admin.name);
    let (mut done, mut refused) = (0, Vec::new());
    for t in tasks {
        let c = ctx(&state, &admin, ip).await;
        match reassign(&state.db, &c, t.task_id, id, form.to.trim(), &comment).await {
            Ok(Outcome::Done(_)) => done += 1,
            Ok(Outcome::Refused(m)) => refused.push(format!(
                "{} {}：{m}",
                t.serial_no.unwrap_or_default(),
                t.node_name
            )),
            Ok(Outcome::Invalid(_)) => {}
            Err(AppError::Conflict(m)) => refused.push(format!(
                "{} {}：{m}",
                t.serial_no.unwrap_or_default(),
                t.node_name
            )),
            Err(e) => return Err(e),
        }
    }
    if refused.is_empty() {
        flash(&flashes, "success", format!("已转办 {done} 项待办。"));
        return Ok(back(id));
    }
    let notice = format!("已转办 {done} 项；未转办：{}", refused.join("；"));
    let t = render(&state, page, id, |t| t.notice = Some(notice)).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response())
}
