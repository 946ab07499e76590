//! 激活账号: `/activate` (the identity check, perhaps with the institution's 激活码) →
//! `/activate/phone` (bind a 安全手机 with a code, optionally a 安全邮箱) →
//! `/activate/password` (set the password; signed in).

use std::net::IpAddr;

use axum::{
    Form,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;

use super::{
    CodeTemplate, NewPasswordForm, NewPasswordTemplate, PhoneForm, Steps, account_of,
    check::{self, IDENTITY_FAILED, IdentityForm, IdentityTemplate},
    check_password,
};
use crate::{
    audit::Entry,
    error::AppResult,
    identity::{
        codes::{self, CodeError, Purpose, is_mobile},
        email::{self, LinkPurpose},
        flow_state::FlowState,
        login::start_session,
        session::{ClientIp, user_agent},
        set_password::{Refused, Why, set_password},
    },
    secret::SecretKey,
    web::AppState,
    web::page::{Flashes, Page, flash},
};

/// How far 激活账号 got in this session.
#[derive(Default, Serialize, Deserialize)]
struct ActivateState {
    /// Step 1 passed for this (inactive) person.
    user_id: i64,
    /// The number typed in step 2, shown again; not necessarily verified.
    typed_phone: String,
    /// The optional 安全邮箱 typed in step 2.
    email: String,
    /// The number a code proved, which step 3 binds. Typing another number undoes it.
    verified_phone: Option<String>,
}

impl FlowState for ActivateState {
    const KEY: &'static str = "flow.activate";
}

const ACTIVATION_TAG: &str = "activation code v1";

/// Issues a new 激活码 for a not yet activated account (the institution hands it to the
/// person, e.g. with the admission letter); the code is returned once and stored only as a
/// keyed hash. `None`: no such account, or it is active already.
pub async fn issue_activation_code(
    db: &sqlx::PgPool,
    key: &SecretKey,
    account: &str,
) -> sqlx::Result<Option<String>> {
    // Issued from the command line: nobody known did it.
    issue_activation_code_by(db, key, account, None, None, chrono::Utc::now()).await
}

/// `issue_activation_code`, audited as done by `actor` (an administrator, on the person's
/// page in 管理后台) from `ip`.
pub async fn issue_activation_code_by(
    db: &sqlx::PgPool,
    key: &SecretKey,
    account: &str,
    actor: Option<i64>,
    ip: Option<std::net::IpAddr>,
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<Option<String>> {
    let code = new_activation_code();
    let mut tx = db.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET activation_code_hash = $2 WHERE account = $1 AND status = 'inactive'
         RETURNING id",
    )
    .bind(account)
    .bind(key.tag(ACTIVATION_TAG, code.as_bytes()))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    Entry::user(id, "account.activation_code")
        .by(actor)
        .ip(ip)
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(Some(code))
}

/// A fresh 激活码 like `K7QM-3XPA`, from the OS's generator.
fn new_activation_code() -> String {
    use rand::Rng;
    // No 0/O, 1/I/L: read aloud and typed from paper.
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut rng = rand::rngs::OsRng;
    let raw: String = (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &raw[..4], &raw[4..])
}

/// New 激活码 for many accounts at once (the people a bulk import created), replacing
/// earlier ones, 1,000 accounts per statement; accounts active by now are left out. Returns
/// (account, code) in the order given, once: only keyed hashes are stored. The caller
/// audits the batch.
pub async fn issue_activation_codes(
    db: &sqlx::PgPool,
    key: &SecretKey,
    accounts: &[String],
) -> sqlx::Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(accounts.len());
    for chunk in accounts.chunks(1000) {
        let codes: Vec<String> = chunk.iter().map(|_| new_activation_code()).collect();
        let tags: Vec<Vec<u8>> = codes
            .iter()
            .map(|c| key.tag(ACTIVATION_TAG, c.as_bytes()))
            .collect();
        let issued: Vec<String> = sqlx::query_scalar(
            "UPDATE users u SET activation_code_hash = v.tag
             FROM UNNEST($1::text[], $2::bytea[]) AS v(account, tag)
             WHERE u.account = v.account AND u.status = 'inactive'
             RETURNING u.account",
        )
        .bind(chunk)
        .bind(&tags)
        .fetch_all(db)
        .await?;
        let issued: std::collections::HashSet<String> = issued.into_iter().collect();
        out.extend(
            chunk
                .iter()
                .zip(codes)
                .filter(|(a, _)| issued.contains(*a))
                .map(|(a, c)| (a.clone(), c)),
        );
    }
    Ok(out)
}

pub(super) async fn identity_page(
    State(state): State<AppState>,
    session: Session,
    mut page: Page,
) -> AppResult<Response> {
    page.ensure_csrf(&session).await?;
    Ok(IdentityTemplate::blank(page, true, state.settings.require_activation_code).into_response())
}

pub(super) async fn identity(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    mut page: Page,
    Form(form): Form<IdentityForm>,
) -> AppResult<Response> {
    page.ensure_csrf(&session).await?;
    let ask = state.settings.require_activation_code;
    if let Some((errors, error)) = check::screen(&state, &form, ask, ip).await? {
        return Ok(IdentityTemplate::step(page, true, ask, form, errors, error).into_response());
    }
    let person = check::matching_person(&state, &form).await?.filter(|p| {
        p.status == "inactive"
            && (!ask
                || p.activation_code_hash.as_deref().is_some_and(|h| {
                    state.secret_key.verify_tag(
                        ACTIVATION_TAG,
                        form.activation_code.trim().to_uppercase().as_bytes(),
                        h,
                    )
                }))
    });
    let Some(p) = person else {
        Entry::user(None, "account.activate")
            .ip(ip)
            .failure()
            .detail(json!({ "step": "identity" }))
            .record(&state.db, state.now())
            .await?;
        return Ok(IdentityTemplate::step(
            page,
            true,
            ask,
            form,
            Default::default(),
            Some(IDENTITY_FAILED.into()),
        )
        .into_response());
    };
    session.cycle_id().await?;
    // What step 2 had typed is shown again; a verification is not kept.
    let mut flow = ActivateState::load(&session).await?.unwrap_or_default();
    flow.user_id = p.id;
    flow.verified_phone = None;
    flow.save(&session).await?;
    Ok(Redirect::to("/activate/phone").into_response())
}

/// Step 2, with what was typed and its messages.
fn phone_step(
    page: Page,
    phone: String,
    email: String,
    phone_error: Option<String>,
    code_error: Option<String>,
    email_error: Option<&'static str>,
) -> CodeTemplate {
    CodeTemplate {
        page,
        title: "激活账号",
        steps: Some(Steps::activate(2)),
        intro: "请绑定安全手机：用于登录、找回密码和接收办事提醒。".into(),
        send_action: "/activate/phone/send",
        action: "/activate/phone",
        phone_field: true,
        phone,
        phone_error,
        code_error,
        submit: "下一步",
        next: String::new(),
        links: Vec::new(),
        email_action: None,
        optional_email: Some(email),
        email_error,
    }
}

pub(super) async fn phone_page(session: Session, page: Page) -> AppResult<Response> {
    let Some(flow) = ActivateState::load(&session).await? else {
        return Ok(Redirect::to("/activate").into_response());
    };
    Ok(phone_step(page, flow.typed_phone, flow.email, None, None, None).into_response())
}

/// Whether `phone` is some other person's 安全手机.
async fn phone_taken(state: &AppState, phone: &str, me: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE phone = $1 AND id <> $2)")
        .bind(phone)
        .bind(me)
        .fetch_one(&state.db)
        .await
}

/// Sends a binding code to a new phone for `uid`; the message for the phone field if not.
pub async fn send_bind_code(
    state: &AppState,
    uid: i64,
    phone: &str,
    purpose: Purpose,
    ip: Option<IpAddr>,
) -> AppResult<Option<String>> {
    if !is_mobile(phone) {
        return Ok(Some("请输入 11 位手机号".into()));
    }
    // Counted first, so asking whether numbers are taken is limited like sending.
    match codes::check_and_count(&state.db, state, phone, ip).await {
        Ok(()) => {}
        Err(CodeError::Send(e)) => return Ok(Some(e.message())),
        Err(CodeError::Db(e)) => return Err(e.into()),
    }
    if phone_taken(state, phone, uid).await? {
        return Ok(Some("该手机号已被其他账号绑定".into()));
    }
    codes::issue(state, purpose, uid, phone, ip).await?;
    Ok(None)
}

pub(super) async fn phone_send(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let Some(mut flow) = ActivateState::load(&session).await? else {
        return Ok(Redirect::to("/activate").into_response());
    };
    let phone = form.phone.trim().to_owned();
    let email = form.email.trim().to_owned();
    // A new number undoes an earlier verification.
    flow.typed_phone = phone.clone();
    flow.verified_phone = None;
    flow.email = email.clone();
    flow.save(&session).await?;
    if let Some(e) = send_bind_code(&state, flow.user_id, &phone, Purpose::Activate, ip).await? {
        return Ok(phone_step(page, phone, email, Some(e), None, None).into_response());
    }
    flash(&flashes, "success", codes::sent_message(&state, &phone));
    Ok(Redirect::to("/activate/phone").into_response())
}

pub(super) async fn phone(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let Some(mut flow) = ActivateState::load(&session).await? else {
        return Ok(Redirect::to("/activate").into_response());
    };
    let phone = form.phone.trim().to_owned();
    let email = form.email.trim().to_owned();
    let email_error = (!email.is_empty() && !email::is_email(&email))
        .then_some("请输入正确的电子邮箱地址，或留空");
    let fail = |page, phone_error: Option<String>, code_error: Option<String>| {
        phone_step(
            page,
            phone.clone(),
            email.clone(),
            phone_error,
            code_error,
            email_error,
        )
        .into_response()
    };
    if !is_mobile(&phone) {
        return Ok(fail(page, Some("请输入 11 位手机号".into()), None));
    }
    if email_error.is_some() {
        return Ok(fail(page, None, None));
    }
    flow.email = email.clone();
    let code_error = match codes::verify(&state, Purpose::Activate, &phone, &form.code, ip).await? {
        Ok(for_user) if for_user == flow.user_id => {
            flow.verified_phone = Some(phone.clone());
            None
        }
        Ok(_) => Some(codes::VerifyError::Invalid.message()),
        Err(e) => Some(e.message()),
    };
    flow.save(&session).await?;
    match code_error {
        None => Ok(Redirect::to("/activate/password").into_response()),
        Some(e) => Ok(fail(page, None, Some(e.into()))),
    }
}

/// The state of a session that may be at step 3: the person and the verified number.
async fn at_password_step(session: &Session) -> AppResult<Option<(ActivateState, String)>> {
    Ok(ActivateState::load(session)
        .await?
        .and_then(|f| f.verified_phone.clone().map(|p| (f, p))))
}

pub(super) async fn password_page(
    State(state): State<AppState>,
    session: Session,
    page: Page,
) -> AppResult<Response> {
    let Some((flow, _)) = at_password_step(&session).await? else {
        return Ok(Redirect::to("/activate").into_response());
    };
    let (account, _) = account_of(&state, flow.user_id).await?;
    Ok(NewPasswordTemplate::step(page, true, account, Vec::new(), None).into_response())
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn password(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    page: Page,
    Form(form): Form<NewPasswordForm>,
) -> AppResult<Response> {
    let Some((mut flow, phone)) = at_password_step(&session).await? else {
        return Ok(Redirect::to("/activate").into_response());
    };
    let uid = flow.user_id;
    let (account, errors, confirm_error) = check_password(&state, uid, &form).await?;
    if !errors.is_empty() || confirm_error.is_some() {
        return Ok(
            NewPasswordTemplate::step(page, true, account, errors, confirm_error).into_response(),
        );
    }
    let why = Why::Activate { phone: &phone };
    let epoch = match set_password(&state, uid, form.new_password, why, ip).await? {
        Ok(epoch) => epoch,
        Err(Refused::PhoneTaken) => {
            // The number was bound by someone else meanwhile: verify another one.
            flow.verified_phone = None;
            flow.save(&session).await?;
            flash(
                &flashes,
                "error",
                "该手机号已被其他账号绑定，请换一个手机号。",
            );
            return Ok(Redirect::to("/activate/phone").into_response());
        }
        // Activated meanwhile (another tab): start over, which will say so.
        Err(Refused::NotInactive) => return Ok(Redirect::to("/activate").into_response()),
    };
    let mailed = !flow.email.is_empty() && state.settings.smtp.is_some();
    if mailed {
        email::send_link(&state, uid, LinkPurpose::Bind, &flow.email, ip).await?;
    }
    start_session(
        &state,
        &session,
        uid,
        epoch,
        ip,
        &user_agent(&headers),
        "activate",
    )
    .await?;
    flash(
        &flashes,
        "success",
        if mailed {
            "账号已激活，欢迎使用网上办事服务大厅。请打开验证邮件中的链接完成安全邮箱绑定。"
        } else {
            "账号已激活，欢迎使用网上办事服务大厅。"
        },
    );
    Ok(Redirect::to("/").into_response())
}
