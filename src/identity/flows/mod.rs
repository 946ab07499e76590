//! 激活账号 (/activate), 忘记密码 (/recover) and 手机验证码登录 (/login/sms).
//!
//! Each flow keeps its progress in the visitor's session, server side; a step cannot be
//! skipped by going to its URL. Answers never tell whether an account exists: a failed
//! identity check reads the same for any reason, and 找回密码 goes on to a look-alike
//! second step (a masked number derived from what was typed) when nothing matched.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use crate::{
    audit::{self, Entry, Outcome},
    error::AppResult,
    identity::{
        codes::{self, CodeError, Purpose, is_mobile, mask_phone},
        idcard,
        login::start_session,
        password,
        session::{ClientIp, MaybeUser, user_agent},
    },
    state::AppState,
    web::page::{Flashes, Page, flash},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/activate", get(activate_page).post(activate_check))
        .route(
            "/activate/phone",
            get(activate_phone_page).post(activate_phone),
        )
        .route("/activate/phone/send", post(activate_phone_send))
        .route(
            "/activate/password",
            get(activate_password_page).post(activate_password),
        )
        .route("/recover", get(recover_page).post(recover_check))
        .route(
            "/recover/verify",
            get(recover_verify_page).post(recover_verify),
        )
        .route("/recover/verify/send", post(recover_send))
        .route("/recover/verify/email", post(recover_email))
        .route(
            "/recover/password",
            get(recover_password_page).post(recover_password),
        )
        .route("/login/sms", get(sms_login_page).post(sms_login))
        .route("/login/sms/send", post(sms_login_send))
}

// Session keys of the flows.
const ACT_UID: &str = "act.uid";
const ACT_PHONE: &str = "act.phone";
const ACT_VERIFIED: &str = "act.verified";
const ACT_EMAIL: &str = "act.email";
/// The number typed in step 2 (shown again); `ACT_PHONE` is set only once it is verified.
const ACT_TYPED_PHONE: &str = "act.typed_phone";
pub(crate) const REC_UID: &str = "rec.uid";
pub(crate) const REC_PHONE: &str = "rec.phone";
pub(crate) const REC_VERIFIED: &str = "rec.verified";
const SMS_PHONE: &str = "sms.phone";

pub const IDENTITY_FAILED: &str =
    "信息核对未通过：请检查账号、姓名和证件号是否正确。已激活的账号请直接登录，或使用“忘记密码”。";

/// The progress indicator on top of a multi-step flow.
pub struct Steps {
    pub names: Vec<&'static str>,
    /// 1-based current step.
    pub current: usize,
}

impl Steps {
    fn activate(current: usize) -> Self {
        Steps {
            names: vec!["基础信息验证", "信息完善", "重置密码"],
            current,
        }
    }
    fn recover(current: usize) -> Self {
        Steps {
            names: vec!["填写账号信息", "身份验证", "重置密码", "完成"],
            current,
        }
    }
    pub fn class(&self, i: &usize) -> &'static str {
        let n = *i + 1;
        if n < self.current {
            "done"
        } else if n == self.current {
            "current"
        } else {
            ""
        }
    }
}

#[derive(Default, Deserialize)]
pub struct IdentityForm {
    #[serde(default)]
    account: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_card: String,
    #[serde(default)]
    activation_code: String,
}

#[derive(Default)]
pub struct IdentityErrors {
    pub account: Option<&'static str>,
    pub name: Option<&'static str>,
    pub id_card: Option<&'static str>,
    pub activation_code: Option<&'static str>,
}

impl IdentityErrors {
    fn any(&self) -> bool {
        self.account.is_some()
            || self.name.is_some()
            || self.id_card.is_some()
            || self.activation_code.is_some()
    }
}

/// Step 1 of both flows.
#[derive(Template, WebTemplate)]
#[template(path = "identity/identity_check.html")]
pub struct IdentityTemplate {
    pub page: Page,
    pub title: &'static str,
    pub action: &'static str,
    pub steps: Steps,
    pub form: IdentityForm,
    pub errors: IdentityErrors,
    pub error: Option<String>,
    pub ask_activation_code: bool,
}

/// A code step: 信息完善 (bind a phone) or 身份验证 (a code to the phone on file).
#[derive(Template, WebTemplate)]
#[template(path = "identity/code_step.html")]
pub struct CodeTemplate {
    pub page: Page,
    pub title: &'static str,
    pub steps: Option<Steps>,
    pub intro: String,
    /// Where 获取验证码 and 下一步 post.
    pub send_action: &'static str,
    pub action: &'static str,
    /// Editable phone (binding, SMS login) or none (the phone on file).
    pub phone_field: bool,
    pub phone: String,
    pub phone_error: Option<String>,
    pub code_error: Option<String>,
    pub submit: &'static str,
    pub next: String,
    pub links: Vec<(&'static str, &'static str)>,
    /// A second way: a link to the 安全邮箱 (posted here).
    pub email_action: Option<&'static str>,
    /// An optional 安全邮箱 field (激活账号), with what was typed.
    pub optional_email: Option<String>,
    pub email_error: Option<&'static str>,
}

/// The last step of both flows.
#[derive(Template, WebTemplate)]
#[template(path = "identity/new_password.html")]
pub struct NewPasswordTemplate {
    pub page: Page,
    pub title: &'static str,
    pub steps: Steps,
    pub action: &'static str,
    pub account: String,
    pub errors: Vec<&'static str>,
    pub confirm_error: Option<&'static str>,
    pub done: bool,
}

impl IdentityTemplate {
    /// Step 1 of 激活账号 (`activate`) or 找回密码, with what was typed and its messages.
    fn step(
        page: Page,
        activate: bool,
        ask_activation_code: bool,
        form: IdentityForm,
        errors: IdentityErrors,
        error: Option<String>,
    ) -> Self {
        IdentityTemplate {
            page,
            title: if activate {
                "激活账号"
            } else {
                "找回密码"
            },
            action: if activate { "/activate" } else { "/recover" },
            steps: if activate {
                Steps::activate(1)
            } else {
                Steps::recover(1)
            },
            form,
            errors,
            error,
            ask_activation_code,
        }
    }
}

/// The checks before any account is looked at: formats, then the limits. `Some`: step 1
/// again with these messages.
async fn screen(
    state: &AppState,
    form: &IdentityForm,
    ask_code: bool,
    ip: Option<std::net::IpAddr>,
) -> AppResult<Option<(IdentityErrors, Option<String>)>> {
    let errors = check_formats(form, ask_code);
    if errors.any() {
        return Ok(Some((errors, None)));
    }
    if !identity_check_allowed(state, form, ip).await? {
        return Ok(Some((errors, Some("尝试次数过多，请一小时后再试".into()))));
    }
    Ok(None)
}

impl NewPasswordTemplate {
    /// The password step of 激活账号 (`activate`) or 找回密码.
    fn step(
        page: Page,
        activate: bool,
        account: String,
        errors: Vec<&'static str>,
        confirm_error: Option<&'static str>,
    ) -> Self {
        NewPasswordTemplate {
            page,
            title: if activate {
                "激活账号"
            } else {
                "找回密码"
            },
            steps: if activate {
                Steps::activate(3)
            } else {
                Steps::recover(3)
            },
            action: if activate {
                "/activate/password"
            } else {
                "/recover/password"
            },
            account,
            errors,
            confirm_error,
            done: false,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Person {
    id: i64,
    name: String,
    status: String,
    phone: Option<String>,
    id_card_hash: Option<Vec<u8>>,
    activation_code_hash: Option<Vec<u8>>,
}

/// Formats first (messages next to the fields, which say nothing about accounts).
fn check_formats(f: &IdentityForm, ask_code: bool) -> IdentityErrors {
    let mut e = IdentityErrors::default();
    if f.account.trim().is_empty() {
        e.account = Some("请输入学号/工号");
    }
    if f.name.trim().is_empty() {
        e.name = Some("请输入姓名");
    }
    if f.id_card.trim().is_empty() {
        e.id_card = Some("请输入证件号");
    } else if !idcard::is_valid(f.id_card.trim()) {
        e.id_card = Some("证件号格式不正确，请核对（18 位，最后一位可能是 X）");
    }
    if ask_code && f.activation_code.trim().is_empty() {
        e.activation_code = Some("请输入激活码");
    }
    e
}

/// Counts an identity check against its limits (per ID number, per IP); false = over.
async fn identity_check_allowed(
    state: &AppState,
    form: &IdentityForm,
    ip: Option<std::net::IpAddr>,
) -> sqlx::Result<bool> {
    let now = state.now();
    // Per ID number, per account (so neither can be tried against many of the other) and
    // per IP.
    let id_subject = format!("id:{}", hex::encode(state.id_key.hash(form.id_card.trim())));
    let account_subject = format!(
        "acct:{}",
        hex::encode(
            state
                .id_key
                .tag("identity check v1", form.account.trim().as_bytes())
        )
    );
    let ip_subject = format!("ip:{}", ip.map(|i| i.to_string()).unwrap_or_default());
    let (by_id, by_account, by_ip): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM identity_checks WHERE subject = $1 AND at > $4 - interval '1 hour'),
                (SELECT count(*) FROM identity_checks WHERE subject = $2 AND at > $4 - interval '1 hour'),
                (SELECT count(*) FROM identity_checks WHERE subject = $3 AND at > $4 - interval '1 hour')",
    )
    .bind(&id_subject)
    .bind(&account_subject)
    .bind(&ip_subject)
    .bind(now)
    .fetch_one(&state.db)
    .await?;
    let per = state.settings.identity_checks_per_hour;
    if by_id >= per
        || by_account >= per
        || (ip.is_some() && by_ip >= state.settings.identity_checks_per_ip_hour)
    {
        return Ok(false);
    }
    sqlx::query("INSERT INTO identity_checks (subject, at) VALUES ($1, $4), ($2, $4), ($3, $4)")
        .bind(&id_subject)
        .bind(&account_subject)
        .bind(&ip_subject)
        .bind(now)
        .execute(&state.db)
        .await?;
    Ok(true)
}

/// The person whose 学号/工号, name and ID number all match, if any.
async fn matching_person(state: &AppState, f: &IdentityForm) -> sqlx::Result<Option<Person>> {
    let p: Option<Person> = sqlx::query_as(
        "SELECT id, name, status, phone, id_card_hash, activation_code_hash
         FROM users WHERE account = $1",
    )
    .bind(f.account.trim())
    .fetch_optional(&state.db)
    .await?;
    let hash = state.id_key.hash(f.id_card.trim());
    Ok(p.filter(|p| {
        p.name == f.name.trim()
            && p.id_card_hash
                .as_deref()
                .is_some_and(|h| constant_eq(h, &hash))
    }))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn audit_event(
    state: &AppState,
    actor: Option<i64>,
    action: &str,
    ip: Option<std::net::IpAddr>,
    outcome: Outcome,
    details: serde_json::Value,
) -> sqlx::Result<()> {
    let mut conn = state.db.acquire().await?;
    audit::record(
        &mut conn,
        Entry {
            at: state.now(),
            actor_id: actor,
            action,
            target: &format!("user:{}", actor.unwrap_or(0)),
            ip,
            outcome,
            details,
        },
    )
    .await
}

// ---------------------------------------------------------------- 激活账号

const ACTIVATION_TAG: &str = "activation code v1";

/// Issues a new 激活码 for a not yet activated account (the institution hands it to the
/// person, e.g. with the admission letter); the code is returned once and stored only as a
/// keyed hash. `None`: no such account, or it is active already.
pub async fn issue_activation_code(
    db: &sqlx::PgPool,
    key: &idcard::IdCardKey,
    account: &str,
) -> sqlx::Result<Option<String>> {
    use rand::Rng;
    // No 0/O, 1/I/L: read aloud and typed from paper.
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut rng = rand::rngs::OsRng;
    let raw: String = (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    let code = format!("{}-{}", &raw[..4], &raw[4..]);
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
    audit::record(
        &mut tx,
        Entry {
            at: chrono::Utc::now(),
            actor_id: None,
            action: "account.activation_code",
            target: &format!("user:{id}"),
            ip: None,
            outcome: Outcome::Success,
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(code))
}

async fn activate_page(
    State(state): State<AppState>,
    session: Session,
    mut page: Page,
) -> AppResult<Response> {
    page.ensure_csrf(&session).await?;
    Ok(IdentityTemplate::step(
        page,
        true,
        state.settings.require_activation_code,
        IdentityForm::default(),
        IdentityErrors::default(),
        None,
    )
    .into_response())
}

async fn activate_check(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    mut page: Page,
    Form(form): Form<IdentityForm>,
) -> AppResult<Response> {
    page.ensure_csrf(&session).await?;
    let ask = state.settings.require_activation_code;
    if let Some((errors, error)) = screen(&state, &form, ask, ip).await? {
        return Ok(IdentityTemplate::step(page, true, ask, form, errors, error).into_response());
    }
    let person = matching_person(&state, &form).await?.filter(|p| {
        p.status == "inactive"
            && (!ask
                || p.activation_code_hash.as_deref().is_some_and(|h| {
                    state.id_key.verify_tag(
                        ACTIVATION_TAG,
                        form.activation_code.trim().to_uppercase().as_bytes(),
                        h,
                    )
                }))
    });
    let Some(p) = person else {
        audit_event(
            &state,
            None,
            "account.activate",
            ip,
            Outcome::Failure,
            json!({ "step": "identity" }),
        )
        .await?;
        return Ok(IdentityTemplate::step(
            page,
            true,
            ask,
            form,
            IdentityErrors::default(),
            Some(IDENTITY_FAILED.into()),
        )
        .into_response());
    };
    session.cycle_id().await?;
    session.insert(ACT_UID, p.id).await?;
    session.remove_value(ACT_PHONE).await?;
    session.remove_value(ACT_VERIFIED).await?;
    Ok(Redirect::to("/activate/phone").into_response())
}

async fn activate_uid(session: &Session) -> AppResult<Option<i64>> {
    Ok(session.get::<i64>(ACT_UID).await?)
}

fn bind_phone_template(
    page: Page,
    steps: Option<Steps>,
    action: &'static str,
    send_action: &'static str,
    phone: String,
    phone_error: Option<String>,
    code_error: Option<String>,
) -> CodeTemplate {
    CodeTemplate {
        page,
        title: if steps.is_some() {
            "激活账号"
        } else {
            "绑定安全手机"
        },
        steps,
        intro: "请绑定安全手机：用于登录、找回密码和接收办事提醒。".into(),
        send_action,
        action,
        phone_field: true,
        phone,
        phone_error,
        code_error,
        submit: "下一步",
        next: String::new(),
        links: Vec::new(),
        email_action: None,
        optional_email: None, // set by the activation handlers
        email_error: None,
    }
}

async fn activate_phone_page(session: Session, page: Page) -> AppResult<Response> {
    if activate_uid(&session).await?.is_none() {
        return Ok(Redirect::to("/activate").into_response());
    }
    let phone = session
        .get::<String>(ACT_TYPED_PHONE)
        .await?
        .unwrap_or_default();
    let mut t = bind_phone_template(
        page,
        Some(Steps::activate(2)),
        "/activate/phone",
        "/activate/phone/send",
        phone,
        None,
        None,
    );
    t.optional_email = Some(session.get::<String>(ACT_EMAIL).await?.unwrap_or_default());
    Ok(t.into_response())
}

#[derive(Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    email: String,
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
    ip: Option<std::net::IpAddr>,
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

async fn activate_phone_send(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let Some(uid) = activate_uid(&session).await? else {
        return Ok(Redirect::to("/activate").into_response());
    };
    let phone = form.phone.trim().to_owned();
    // A new number undoes an earlier verification.
    session.insert(ACT_TYPED_PHONE, &phone).await?;
    session.remove_value(ACT_PHONE).await?;
    session.remove_value(ACT_VERIFIED).await?;
    session.insert(ACT_EMAIL, form.email.trim()).await?;
    if let Some(e) = send_bind_code(&state, uid, &phone, Purpose::Activate, ip).await? {
        let mut t = bind_phone_template(
            page,
            Some(Steps::activate(2)),
            "/activate/phone",
            "/activate/phone/send",
            phone,
            Some(e),
            None,
        );
        t.optional_email = Some(form.email.trim().to_owned());
        return Ok(t.into_response());
    }
    flash(&flashes, "success", codes::sent_message(&state, &phone));
    Ok(Redirect::to("/activate/phone").into_response())
}

async fn activate_phone(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let Some(uid) = activate_uid(&session).await? else {
        return Ok(Redirect::to("/activate").into_response());
    };
    let phone = form.phone.trim().to_owned();
    let email = form.email.trim().to_owned();
    let email_error = (!email.is_empty() && !crate::identity::email::is_email(&email))
        .then_some("请输入正确的电子邮箱地址，或留空");
    let fail = |page, phone_error: Option<String>, code_error: Option<String>| {
        let mut t = bind_phone_template(
            page,
            Some(Steps::activate(2)),
            "/activate/phone",
            "/activate/phone/send",
            phone.clone(),
            phone_error,
            code_error,
        );
        t.optional_email = Some(email.clone());
        t.email_error = email_error;
        t.into_response()
    };
    if !is_mobile(&phone) {
        return Ok(fail(page, Some("请输入 11 位手机号".into()), None));
    }
    if email_error.is_some() {
        return Ok(fail(page, None, None));
    }
    session.insert(ACT_EMAIL, &email).await?;
    match codes::verify(&state, Purpose::Activate, &phone, &form.code, ip).await? {
        Ok(for_user) if for_user == uid => {
            session.insert(ACT_PHONE, &phone).await?;
            session.insert(ACT_VERIFIED, true).await?;
            Ok(Redirect::to("/activate/password").into_response())
        }
        Ok(_) => Ok(fail(
            page,
            None,
            Some(codes::VerifyError::Invalid.message().into()),
        )),
        Err(e) => Ok(fail(page, None, Some(e.message().into()))),
    }
}

async fn account_of(state: &AppState, uid: i64) -> sqlx::Result<(String, String)> {
    sqlx::query_as("SELECT account, name FROM users WHERE id = $1")
        .bind(uid)
        .fetch_one(&state.db)
        .await
}

async fn activate_password_page(
    State(state): State<AppState>,
    session: Session,
    page: Page,
) -> AppResult<Response> {
    let (Some(uid), Some(true)) = (
        activate_uid(&session).await?,
        session.get::<bool>(ACT_VERIFIED).await?,
    ) else {
        return Ok(Redirect::to("/activate").into_response());
    };
    let (account, _) = account_of(&state, uid).await?;
    Ok(NewPasswordTemplate::step(page, true, account, Vec::new(), None).into_response())
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

/// The policy's messages and the confirmation's, for `uid`'s new password.
async fn check_password(
    state: &AppState,
    uid: i64,
    form: &NewPasswordForm,
) -> sqlx::Result<(String, Vec<&'static str>, Option<&'static str>)> {
    let (account, name) = account_of(state, uid).await?;
    let errors = password::check_new(
        &form.new_password,
        &account,
        &name,
        state.settings.password_min_score,
    );
    let confirm = (form.new_password != form.confirm).then_some("两次输入的密码不一致");
    Ok((account, errors, confirm))
}

#[allow(clippy::too_many_arguments)]
async fn activate_password(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    page: Page,
    Form(form): Form<NewPasswordForm>,
) -> AppResult<Response> {
    let (Some(uid), Some(true), Some(phone)) = (
        activate_uid(&session).await?,
        session.get::<bool>(ACT_VERIFIED).await?,
        session.get::<String>(ACT_PHONE).await?,
    ) else {
        return Ok(Redirect::to("/activate").into_response());
    };
    let (account, errors, confirm_error) = check_password(&state, uid, &form).await?;
    if !errors.is_empty() || confirm_error.is_some() {
        return Ok(
            NewPasswordTemplate::step(page, true, account, errors, confirm_error).into_response(),
        );
    }
    let hash = password::hash(form.new_password.clone()).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let epoch: sqlx::Result<Option<i32>> = sqlx::query_scalar(
        "UPDATE users SET status = 'active', activated_at = $2, phone = $3, password_hash = $4,
                must_change_password = false, password_changed_at = $2, auth_epoch = auth_epoch + 1,
                updated_at = $2
         WHERE id = $1 AND status = 'inactive' RETURNING auth_epoch",
    )
    .bind(uid)
    .bind(now)
    .bind(&phone)
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await;
    let epoch = match epoch {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            // The number was bound by someone else meanwhile: verify another one.
            session.remove_value(ACT_PHONE).await?;
            session.remove_value(ACT_VERIFIED).await?;
            flash(
                &flashes,
                "error",
                "该手机号已被其他账号绑定，请换一个手机号。",
            );
            return Ok(Redirect::to("/activate/phone").into_response());
        }
        other => other?,
    };
    let Some(epoch) = epoch else {
        // Activated meanwhile (another tab): start over, which will say so.
        return Ok(Redirect::to("/activate").into_response());
    };
    audit::record(
        &mut tx,
        Entry {
            at: now,
            actor_id: Some(uid),
            action: "account.activate",
            target: &format!("user:{uid}"),
            ip,
            outcome: Outcome::Success,
            details: json!({ "phone": mask_phone(&phone) }),
        },
    )
    .await?;
    tx.commit().await?;
    let email = session.get::<String>(ACT_EMAIL).await?.unwrap_or_default();
    let mailed = !email.is_empty() && state.settings.smtp.is_some();
    if mailed {
        crate::identity::email::send_link(
            &state,
            uid,
            crate::identity::email::LinkPurpose::Bind,
            &email,
            ip,
        )
        .await?;
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

// ---------------------------------------------------------------- 忘记密码

async fn recover_page(session: Session, mut page: Page) -> AppResult<Response> {
    page.ensure_csrf(&session).await?;
    Ok(IdentityTemplate::step(
        page,
        false,
        false,
        IdentityForm::default(),
        IdentityErrors::default(),
        None,
    )
    .into_response())
}

/// A stand-in number for identity checks that matched nobody: derived from what was
/// typed, so asking twice shows the same mask, and shaped like a real one.
fn decoy_phone(state: &AppState, f: &IdentityForm) -> String {
    let t = state.id_key.tag(
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

async fn recover_check(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    mut page: Page,
    Form(form): Form<IdentityForm>,
) -> AppResult<Response> {
    page.ensure_csrf(&session).await?;
    if let Some((errors, error)) = screen(&state, &form, false, ip).await? {
        return Ok(IdentityTemplate::step(page, false, false, form, errors, error).into_response());
    }
    let person = matching_person(&state, &form)
        .await?
        .filter(|p| p.status == "active");
    // Someone without a 安全手机 also sees a look-alike number (codes go nowhere) and can
    // still use the 安全邮箱.
    let (uid, phone) = match person {
        Some(p) => (
            p.id,
            p.phone
                .clone()
                .unwrap_or_else(|| decoy_phone(&state, &form)),
        ),
        None => (0, decoy_phone(&state, &form)),
    };
    audit_event(
        &state,
        (uid != 0).then_some(uid),
        "password.recover",
        ip,
        if uid != 0 {
            Outcome::Success
        } else {
            Outcome::Failure
        },
        json!({ "step": "identity" }),
    )
    .await?;
    session.cycle_id().await?;
    session.insert(REC_UID, uid).await?;
    session.insert(REC_PHONE, phone).await?;
    session.remove_value(REC_VERIFIED).await?;
    Ok(Redirect::to("/recover/verify").into_response())
}

fn recover_code_template(page: Page, phone: &str, code_error: Option<String>) -> CodeTemplate {
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

async fn recover_state(session: &Session) -> AppResult<Option<(i64, String)>> {
    Ok(
        match (
            session.get::<i64>(REC_UID).await?,
            session.get::<String>(REC_PHONE).await?,
        ) {
            (Some(u), Some(p)) => Some((u, p)),
            _ => None,
        },
    )
}

async fn recover_verify_page(session: Session, page: Page) -> AppResult<Response> {
    let Some((_, phone)) = recover_state(&session).await? else {
        return Ok(Redirect::to("/recover").into_response());
    };
    Ok(recover_code_template(page, &phone, None).into_response())
}

async fn recover_send(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
) -> AppResult<Response> {
    let Some((uid, phone)) = recover_state(&session).await? else {
        return Ok(Redirect::to("/recover").into_response());
    };
    // The same limits and the same answer whether or not anyone is behind the number.
    let sent = if real_phone(&state, uid, &phone).await? {
        codes::send(&state, Purpose::Recover, uid, &phone, ip).await
    } else {
        match codes::check_and_count(&state.db, &state, &phone, ip).await {
            Ok(()) => codes::issue_decoy(&state, Purpose::Recover, &phone)
                .await
                .map_err(CodeError::from),
            e => e,
        }
    };
    match sent {
        Ok(()) => {
            flash(&flashes, "success", codes::sent_message(&state, &phone));
            Ok(Redirect::to("/recover/verify").into_response())
        }
        Err(CodeError::Send(e)) => {
            Ok(recover_code_template(page, &phone, Some(e.message())).into_response())
        }
        Err(CodeError::Db(e)) => Err(e.into()),
    }
}

/// Whether `phone` is `uid`'s 安全手机 (not a look-alike).
async fn real_phone(state: &AppState, uid: i64, phone: &str) -> sqlx::Result<bool> {
    if uid == 0 {
        return Ok(false);
    }
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND phone = $2)")
        .bind(uid)
        .bind(phone)
        .fetch_one(&state.db)
        .await
}

/// The 安全邮箱 way: a link, if the person has such an address; the same answer if not.
async fn recover_email(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
) -> AppResult<Response> {
    let Some((uid, _)) = recover_state(&session).await? else {
        return Ok(Redirect::to("/recover").into_response());
    };
    if uid != 0 && state.settings.smtp.is_some() {
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
            crate::identity::email::send_link(
                &state,
                uid,
                crate::identity::email::LinkPurpose::Recover,
                &email,
                ip,
            )
            .await?;
        }
    }
    flash(
        &flashes,
        "success",
        "如果该账号绑定了安全邮箱，找回密码的链接已发送到该邮箱，30 分钟内有效。",
    );
    Ok(Redirect::to("/recover/verify").into_response())
}

async fn recover_verify(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let Some((uid, phone)) = recover_state(&session).await? else {
        return Ok(Redirect::to("/recover").into_response());
    };
    // Look-alike numbers have look-alike code rows: the same answers either way.
    match codes::verify(&state, Purpose::Recover, &phone, &form.code, ip).await? {
        Ok(for_user) if for_user == uid => {
            session.insert(REC_VERIFIED, true).await?;
            Ok(Redirect::to("/recover/password").into_response())
        }
        Ok(_) => Ok(recover_code_template(
            page,
            &phone,
            Some(codes::VerifyError::Invalid.message().into()),
        )
        .into_response()),
        Err(e) => Ok(recover_code_template(page, &phone, Some(e.message().into())).into_response()),
    }
}

async fn recover_password_page(
    State(state): State<AppState>,
    session: Session,
    page: Page,
) -> AppResult<Response> {
    let (Some((uid, _)), Some(true)) = (
        recover_state(&session).await?,
        session.get::<bool>(REC_VERIFIED).await?,
    ) else {
        return Ok(Redirect::to("/recover").into_response());
    };
    let (account, _) = account_of(&state, uid).await?;
    Ok(NewPasswordTemplate::step(page, false, account, Vec::new(), None).into_response())
}

async fn recover_password(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<NewPasswordForm>,
) -> AppResult<Response> {
    let (Some((uid, _)), Some(true)) = (
        recover_state(&session).await?,
        session.get::<bool>(REC_VERIFIED).await?,
    ) else {
        return Ok(Redirect::to("/recover").into_response());
    };
    let (account, errors, confirm_error) = check_password(&state, uid, &form).await?;
    if !errors.is_empty() || confirm_error.is_some() {
        return Ok(
            NewPasswordTemplate::step(page, false, account, errors, confirm_error).into_response(),
        );
    }
    let hash = password::hash(form.new_password.clone()).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    // A new epoch: every session of this person, anywhere, ends.
    sqlx::query(
        "UPDATE users SET password_hash = $2, must_change_password = false, password_changed_at = $3,
                auth_epoch = auth_epoch + 1, updated_at = $3
         WHERE id = $1",
    )
    .bind(uid)
    .bind(&hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE sign_ins SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL")
        .bind(uid)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM lockouts WHERE subject = $1")
        .bind(format!("u:{uid}"))
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Entry {
            at: now,
            actor_id: Some(uid),
            action: "password.recover",
            target: &format!("user:{uid}"),
            ip,
            outcome: Outcome::Success,
            details: json!({ "step": "reset" }),
        },
    )
    .await?;
    super::alerts::queue(
        &mut tx,
        &state,
        uid,
        super::alerts::Change::PasswordReset,
        now,
    )
    .await?;
    tx.commit().await?;
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

// ---------------------------------------------------------------- 手机验证码登录

fn sms_template(
    page: Page,
    phone: String,
    phone_error: Option<String>,
    code_error: Option<String>,
    next: String,
) -> CodeTemplate {
    CodeTemplate {
        page,
        title: "手机验证码登录",
        steps: None,
        intro: "使用已绑定的安全手机接收验证码登录。".into(),
        send_action: "/login/sms/send",
        action: "/login/sms",
        phone_field: true,
        phone,
        phone_error,
        code_error,
        submit: "登录",
        next,
        links: vec![
            ("账号密码登录", "/login"),
            ("忘记密码", "/recover"),
            ("激活账号", "/activate"),
        ],
        email_action: None,
        optional_email: None,
        email_error: None,
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

async fn sms_login_page(
    session: Session,
    MaybeUser(user): MaybeUser,
    mut page: Page,
    axum::extract::Query(q): axum::extract::Query<NextQuery>,
) -> AppResult<Response> {
    let next = crate::identity::session::safe_next(q.next.as_deref());
    if user.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    page.ensure_csrf(&session).await?;
    let phone = session.get::<String>(SMS_PHONE).await?.unwrap_or_default();
    Ok(sms_template(page, phone, None, None, next).into_response())
}

async fn sms_login_send(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let phone = form.phone.trim().to_owned();
    let next = crate::identity::session::safe_next(Some(&form.next));
    if !is_mobile(&phone) {
        return Ok(
            sms_template(page, phone, Some("请输入 11 位手机号".into()), None, next)
                .into_response(),
        );
    }
    session.insert(SMS_PHONE, &phone).await?;
    let owner: Option<i64> =
        sqlx::query_scalar("SELECT id FROM users WHERE phone = $1 AND status = 'active'")
            .bind(&phone)
            .fetch_optional(&state.db)
            .await?;
    // The same answer and limits whether or not the number belongs to anyone.
    let sent = match owner {
        Some(uid) => codes::send(&state, Purpose::Login, uid, &phone, ip).await,
        None => match codes::check_and_count(&state.db, &state, &phone, ip).await {
            Ok(()) => codes::issue_decoy(&state, Purpose::Login, &phone)
                .await
                .map_err(CodeError::from),
            e => e,
        },
    };
    match sent {
        Ok(()) => {
            flash(&flashes, "success", codes::sent_message(&state, &phone));
            let back = if next == "/" {
                "/login/sms".to_owned()
            } else {
                format!(
                    "/login/sms?next={}",
                    crate::identity::session::urlencode(&next)
                )
            };
            Ok(Redirect::to(&back).into_response())
        }
        Err(CodeError::Send(e)) => {
            Ok(sms_template(page, phone, Some(e.message()), None, next).into_response())
        }
        Err(CodeError::Db(e)) => Err(e.into()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn sms_login(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let phone = form.phone.trim().to_owned();
    let next = crate::identity::session::safe_next(Some(&form.next));
    if !is_mobile(&phone) {
        return Ok(
            sms_template(page, phone, Some("请输入 11 位手机号".into()), None, next)
                .into_response(),
        );
    }
    let verified = codes::verify(&state, Purpose::Login, &phone, &form.code, ip).await?;
    let uid = match verified {
        Ok(uid) => uid,
        Err(e) => {
            return Ok(
                sms_template(page, phone, None, Some(e.message().into()), next).into_response(),
            );
        }
    };
    let user: Option<(i32, bool)> = sqlx::query_as(
        "SELECT auth_epoch, must_change_password FROM users WHERE id = $1 AND status = 'active' AND phone = $2",
    )
    .bind(uid)
    .bind(&phone)
    .fetch_optional(&state.db)
    .await?;
    let Some((epoch, _)) = user else {
        return Ok(sms_template(
            page,
            phone,
            None,
            Some(codes::VerifyError::Invalid.message().into()),
            next,
        )
        .into_response());
    };
    let ua = user_agent(&headers);
    {
        let mut conn = state.db.acquire().await?;
        audit::record(
            &mut conn,
            Entry {
                at: state.now(),
                actor_id: Some(uid),
                action: "login",
                target: &format!("user:{uid}"),
                ip,
                outcome: Outcome::Success,
                details: json!({ "method": "sms", "ua": ua }),
            },
        )
        .await?;
    }
    start_session(&state, &session, uid, epoch, ip, &ua, "sms").await?;
    Ok(Redirect::to(&next).into_response())
}
