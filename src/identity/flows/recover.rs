//! 忘记密码: `/recover` (the identity check) → `/recover/verify` (a code to the masked
//! phone on file, or a link to the 安全邮箱) → `/recover/password` → done; every session
//! of the person ends. For nobody (or a person without a 安全手机) the second step shows a
//! look-alike number and answers exactly as for a real one.

use axum::{
    Form,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;

use super::{
    CodeTemplate, NewPasswordForm, NewPasswordTemplate, PhoneForm, Steps, account_of,
    check::{self, IdentityForm, IdentityTemplate},
    check_password,
};
use crate::{
    audit::{Entry, Outcome},
    error::AppResult,
    identity::{
        codes::{self, CodeError, Purpose},
        email::{self, LinkPurpose},
        flow_state::FlowState,
        idcard,
        session::ClientIp,
        set_password::{Why, set_password},
    },
    mask::mask_phone,
    web::AppState,
    web::page::{Flashes, Page, flash},
};

/// How far 找回密码 got in this session.
#[derive(Serialize, Deserialize)]
pub(crate) struct RecoverState {
    /// The person step 1 found; `None`: nobody (a look-alike flow, which never verifies).
    user_id: Option<i64>,
    /// Where codes go: the number on file or a look-alike; empty after an e-mail link.
    phone: String,
    /// Proven by a code or a link: step 3 is open.
    verified: bool,
}

impl FlowState for RecoverState {
    const KEY: &'static str = "flow.recover";
}

impl RecoverState {
    /// Proven by a 找回密码 link from the person's 安全邮箱: straight to step 3.
    pub(crate) fn proven_by_email(user_id: i64) -> Self {
        RecoverState {
            user_id: Some(user_id),
            phone: String::new(),
            verified: true,
        }
    }
}

pub(super) async fn identity_page(session: Session, mut page: Page) -> AppResult<Response> {
    page.ensure_csrf(&session).await?;
    Ok(IdentityTemplate::blank(page, false, false).into_response())
}

/// A stand-in number for identity checks that matched nobody: derived from what was
/// typed, so asking twice shows the same mask, and shaped like a real one.
fn decoy_phone(state: &AppState, f: &IdentityForm) -> String {
    let t = state.secret_key.tag(
        "recover decoy v1",
        format!(
            "{}\0{}\0{}",
            f.account.trim(),
            f.name.trim(),
            idcard::normalize(&f.id_card)
        )
        .as_bytes(),
    );
    let second = [b'3', b'5', b'7', b'8', b'9'][(t[0] % 5) as usize] as char;
    let rest: String = t[1..10].iter().map(|b| char::from(b'0' + b % 10)).collect();
    format!("1{second}{rest}")
}

pub(super) async fn identity(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    mut page: Page,
    Form(form): Form<IdentityForm>,
) -> AppResult<Response> {
    page.ensure_csrf(&session).await?;
    if let Some((errors, error)) = check::screen(&state, &form, false, ip).await? {
        return Ok(IdentityTemplate::step(page, false, false, form, errors, error).into_response());
    }
    let person = check::matching_person(&state, &form)
        .await?
        .filter(|p| p.status == "active");
    // Someone without a 安全手机 also sees a look-alike number (codes go nowhere) and can
    // still use the 安全邮箱.
    let (uid, phone) = match person {
        Some(p) => (
            Some(p.id),
            p.phone
                .clone()
                .unwrap_or_else(|| decoy_phone(&state, &form)),
        ),
        None => (None, decoy_phone(&state, &form)),
    };
    Entry::user(uid, "password.recover")
        .ip(ip)
        .outcome(if uid.is_some() {
            Outcome::Success
        } else {
            Outcome::Failure
        })
        .detail(json!({ "step": "identity" }))
        .record(&state.db, state.now())
        .await?;
    session.cycle_id().await?;
    RecoverState {
        user_id: uid,
        phone,
        verified: false,
    }
    .save(&session)
    .await?;
    Ok(Redirect::to("/recover/verify").into_response())
}

fn code_step(page: Page, phone: &str, code_error: Option<String>) -> CodeTemplate {
    CodeTemplate {
        page,
        title: "找回密码",
        steps: Some(Steps::recover(2)),
        intro: format!(
            "为确认是您本人操作，请获取验证码。验证码将发送至安全手机 {}。",
            mask_phone(phone)
        ),
        send_action: "/recover/verify/send",
        action: "/recover/verify",
        phone_field: false,
        phone: String::new(),
        phone_error: None,
        code_error,
        submit: "下一步",
        next: String::new(),
        links: Vec::new(),
        email_action: Some("/recover/verify/email"),
        optional_email: None,
        email_error: None,
    }
}

pub(super) async fn verify_page(session: Session, page: Page) -> AppResult<Response> {
    let Some(flow) = RecoverState::load(&session).await? else {
        return Ok(Redirect::to("/recover").into_response());
    };
    Ok(code_step(page, &flow.phone, None).into_response())
}

pub(super) async fn send(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
) -> AppResult<Response> {
    let Some(flow) = RecoverState::load(&session).await? else {
        return Ok(Redirect::to("/recover").into_response());
    };
    let phone = &flow.phone;
    // The same limits and the same answer whether or not anyone is behind the number.
    let sent = match flow.user_id {
        Some(uid) if real_phone(&state, uid, phone).await? => {
            codes::send(&state, Purpose::Recover, uid, phone, ip).await
        }
        _ => match codes::check_and_count(&state.db, &state, phone, ip).await {
            Ok(()) => codes::issue_decoy(&state, Purpose::Recover, phone)
                .await
                .map_err(CodeError::from),
            e => e,
        },
    };
    match sent {
        Ok(()) => {
            flash(&flashes, "success", codes::sent_message(&state, phone));
            Ok(Redirect::to("/recover/verify").into_response())
        }
        Err(CodeError::Send(e)) => Ok(code_step(page, phone, Some(e.message())).into_response()),
        Err(CodeError::Db(e)) => Err(e.into()),
    }
}

/// Whether `phone` is `uid`'s 安全手机 (not a look-alike).
async fn real_phone(state: &AppState, uid: i64, phone: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND phone = $2)")
        .bind(uid)
        .bind(phone)
        .fetch_one(&state.db)
        .await
}

/// The 安全邮箱 way: a link, if the person has such an address; the same answer if not.
pub(super) async fn email(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
) -> AppResult<Response> {
    let Some(flow) = RecoverState::load(&session).await? else {
        return Ok(Redirect::to("/recover").into_response());
    };
    if let Some(uid) = flow.user_id
        && state.settings.smtp.is_some()
    {
        let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
            .bind(uid)
            .fetch_one(&state.db)
            .await?;
        let recent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM email_links WHERE user_id = $1 AND created_at > $2 - interval '1 hour'",
        )
        .bind(uid)
        .bind(state.now())
        .fetch_one(&state.db)
        .await?;
        if let Some(email) = email
            && recent < 5
        {
            email::send_link(&state, uid, LinkPurpose::Recover, &email, ip).await?;
        }
    }
    flash(
        &flashes,
        "success",
        "如果该账号绑定了安全邮箱，找回密码的链接已发送到该邮箱，30 分钟内有效。",
    );
    Ok(Redirect::to("/recover/verify").into_response())
}

pub(super) async fn verify(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let Some(mut flow) = RecoverState::load(&session).await? else {
        return Ok(Redirect::to("/recover").into_response());
    };
    // Look-alike numbers have look-alike code rows: the same answers either way.
    match codes::verify(&state, Purpose::Recover, &flow.phone, &form.code, ip).await? {
        Ok(for_user) if flow.user_id == Some(for_user) => {
            flow.verified = true;
            flow.save(&session).await?;
            Ok(Redirect::to("/recover/password").into_response())
        }
        Ok(_) => Ok(code_step(
            page,
            &flow.phone,
            Some(codes::VerifyError::Invalid.message().into()),
        )
        .into_response()),
        Err(e) => Ok(code_step(page, &flow.phone, Some(e.message().into())).into_response()),
    }
}

/// The person, if this session may be at step 3.
async fn verified_user(session: &Session) -> AppResult<Option<i64>> {
    Ok(RecoverState::load(session)
        .await?
        .filter(|f| f.verified)
        .and_then(|f| f.user_id))
}

pub(super) async fn password_page(
    State(state): State<AppState>,
    session: Session,
    page: Page,
) -> AppResult<Response> {
    let Some(uid) = verified_user(&session).await? else {
        return Ok(Redirect::to("/recover").into_response());
    };
    let (account, _) = account_of(&state, uid).await?;
    Ok(NewPasswordTemplate::step(page, false, account, Vec::new(), None).into_response())
}

pub(super) async fn password(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<NewPasswordForm>,
) -> AppResult<Response> {
    let Some(uid) = verified_user(&session).await? else {
        return Ok(Redirect::to("/recover").into_response());
    };
    let (account, errors, confirm_error) = check_password(&state, uid, &form).await?;
    if !errors.is_empty() || confirm_error.is_some() {
        return Ok(
            NewPasswordTemplate::step(page, false, account, errors, confirm_error).into_response(),
        );
    }
    if set_password(&state, uid, form.new_password, Why::Recover, ip)
        .await?
        .is_err()
    {
        // Only 激活账号 is ever refused.
        return Ok(Redirect::to("/recover").into_response());
    }
    // The new epoch ended every session of this person; this one had none, and its flow
    // is over.
    session.flush().await?;
    Ok(NewPasswordTemplate {
        page,
        title: "找回密码",
        steps: Steps::recover(4),
        action: "/recover/password",
        account,
        errors: Vec::new(),
        confirm_error: None,
        done: true,
    }
    .into_response())
}
