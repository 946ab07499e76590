//! 登录 / 退出 / 修改密码.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Query, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use sqlx::types::ipnetwork::IpNetwork;
use tower_sessions::Session;

use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    identity::{
        idcard, lockout, password,
        session::{
            AUTH_AT, CSRF, ClientIp, CurrentUser, DEVICE, EPOCH, SEEN_AT, UID, safe_next,
            user_agent,
        },
        set_password::{Why, set_password},
    },
    web::AppState,
    web::page::Flashes,
    web::page::{Page, flash, new_token},
};

pub const GENERIC_FAILURE: &str = "账号或密码错误";
/// Shown (503, `Retry-After`) when every core is hashing passwords and the queue is full.
pub const BUSY: &str = "系统繁忙，请稍后再试";

#[derive(Template, WebTemplate)]
#[template(path = "identity/login.html")]
pub struct LoginTemplate {
    pub page: Page,
    pub account: String,
    pub next: String,
    pub error: Option<String>,
    pub account_error: Option<&'static str>,
    pub password_error: Option<&'static str>,
    pub demo: bool,
    /// The campus system the sign-in is for (统一身份认证 for another system), if any.
    pub system: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    /// A system asks for the password again (CAS renew, OIDC prompt=login): the form is
    /// shown even to a signed-in person.
    renew: Option<String>,
}

async fn demo_present(state: &AppState) -> AppResult<bool> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT value FROM app_meta WHERE key = 'demo_data'")
            .fetch_optional(&state.db)
            .await?
            .is_some_and(|v| v == "present"),
    )
}

pub async fn login_page(
    State(state): State<AppState>,
    session: Session,
    mut page: Page,
    Query(q): Query<NextQuery>,
) -> AppResult<Response> {
    page.ensure_csrf(&session).await?;
    let next = safe_next(q.next.as_deref());
    if page.user.is_some() && q.renew.is_none() {
        return Ok(Redirect::to(&next).into_response());
    }
    Ok(LoginTemplate {
        page,
        account: String::new(),
        system: crate::identity::sso::system_of_next(&state.db, &next).await?,
        next,
        error: None,
        account_error: None,
        password_error: None,
        demo: demo_present(&state).await?,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    account: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Candidate {
    id: i64,
    status: String,
    password_hash: Option<String>,
    must_change_password: bool,
    auth_epoch: i32,
}

/// The account behind 学号/工号, security phone or ID-card number, in that order of
/// precedence (an account number that looks like a phone number is still an account).
async fn find_account(state: &AppState, identifier: &str) -> sqlx::Result<Option<Candidate>> {
    let id_hash = idcard::is_valid(identifier).then(|| idcard::hash(&state.secret_key, identifier));
    sqlx::query_as(
        "SELECT id, status, password_hash, must_change_password, auth_epoch FROM (
             SELECT u.*, 1 AS rank FROM users u WHERE u.account = $1
             UNION ALL SELECT u.*, 2 FROM users u WHERE u.phone = $1
             UNION ALL SELECT u.*, 3 FROM users u WHERE $2::bytea IS NOT NULL AND u.id_card_hash = $2
         ) m ORDER BY rank LIMIT 1",
    )
    .bind(identifier)
    .bind(id_hash)
    .fetch_optional(&state.db)
    .await
}

/// The login form as a 503 with `Retry-After` (it keeps what was typed).
fn busy(mut form: Response) -> Response {
    *form.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    form.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        password::RETRY_AFTER_SECONDS.into(),
    );
    form
}

fn fmt_local(state: &AppState, t: DateTime<Utc>) -> String {
    t.with_timezone(&state.settings.time_zone)
        .format("%H:%M")
        .to_string()
}

pub async fn login(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    mut page: Page,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    page.ensure_csrf(&session).await?;
    let next = safe_next(form.next.as_deref());
    let account = form.account.trim().to_owned();
    let demo = demo_present(&state).await?;
    let system = crate::identity::sso::system_of_next(&state.db, &next).await?;
    let render = |page: Page, error: Option<String>, ae, pe| {
        LoginTemplate {
            page,
            system: system.clone(),
            account: account.clone(),
            next: next.clone(),
            error,
            account_error: ae,
            password_error: pe,
            demo,
        }
        .into_response()
    };
    if account.is_empty() || form.password.is_empty() {
        return Ok(render(
            page,
            None,
            account.is_empty().then_some("请输入账号"),
            form.password.is_empty().then_some("请输入密码"),
        ));
    }
    if account.chars().count() > 64 || form.password.chars().count() > 256 {
        return Ok(render(page, Some(GENERIC_FAILURE.into()), None, None));
    }
    let now = state.now();
    let s = &state.settings;
    let ip_net = ip.map(IpNetwork::from);
    let ua = user_agent(&headers);

    let user = find_account(&state, &account).await?;
    let subject = match &user {
        Some(u) => lockout::subject(u.id),
        None => format!(
            "i:{}",
            hex::encode(idcard::hash(&state.secret_key, &account.to_lowercase()))
        ),
    };
    let actor = user.as_ref().map(|u| u.id);
    let locked_message = |until| format!("账号已被锁定，请于 {} 后再试", fmt_local(&state, until));

    // The attempt is counted before any hashing, where concurrent requests see it.
    let limits = lockout::Limits {
        threshold: s.lockout_threshold,
        window: s.lockout_window,
        per_ip: Some((s.ip_max_failures, s.ip_window)),
    };
    let gate = lockout::reserve_waiting(
        &state.db,
        &subject,
        ip_net,
        &limits,
        now,
        lockout::CROWDED_WAIT,
    )
    .await?;
    let attempt = match gate {
        lockout::Gate::Reserved(a) => a,
        lockout::Gate::Throttled => {
            Entry::about("", "login.throttled")
                .ip(ip)
                .denied()
                .detail(json!({ "ua": ua }))
                .record(&state.db, now)
                .await?;
            return Err(AppError::TooManyRequests);
        }
        lockout::Gate::Crowded => return Ok(busy(render(page, Some(BUSY.into()), None, None))),
        lockout::Gate::Locked(until) => {
            Entry::about("", "login")
                .by(actor)
                .ip(ip)
                .denied()
                .detail(json!({ "reason": "locked", "ua": ua }))
                .record(&state.db, now)
                .await?;
            return Ok(render(page, Some(locked_message(until)), None, None));
        }
    };

    let usable_hash = user
        .as_ref()
        .filter(|u| u.status == "active")
        .and_then(|u| u.password_hash.clone());
    // Always one argon2 run, whatever the account, so timing tells nothing.
    let ok = match password::verify(form.password.clone(), usable_hash).await {
        Ok(ok) => ok,
        Err(password::HashError::Busy) => {
            // Nothing was checked: the attempt counts for nothing; the form keeps the account.
            lockout::cancel(&state.db, attempt).await?;
            return Ok(busy(render(page, Some(BUSY.into()), None, None)));
        }
        Err(e) => return Err(e.into()),
    };

    let mut tx = state.db.begin().await?;
    let lock = lockout::settle(
        &mut tx,
        &attempt,
        ok,
        s.lockout_threshold,
        s.lockout_window,
        s.lockout_duration,
        now,
    )
    .await?;

    if !ok {
        let reason = match &user {
            None => "unknown_account",
            Some(u) if u.status != "active" => "not_active",
            Some(_) => "wrong_password",
        };
        Entry::about("", "login")
            .by(actor)
            .ip(ip)
            .failure()
            .detail(json!({ "reason": reason, "ua": ua }))
            .record(&mut *tx, now)
            .await?;
        let mut message = GENERIC_FAILURE.to_owned();
        if let Some(lock) = lock {
            if lock.new
                && let Some(id) = actor
            {
                Entry::user(id, "account.lockout")
                    .ip(ip)
                    .detail(json!({ "until": lock.until, "failures": lock.failures }))
                    .record(&mut *tx, now)
                    .await?;
            }
            message = locked_message(lock.until);
        }
        tx.commit().await?;
        lockout::wake_one();
        return Ok(render(page, Some(message), None, None));
    }

    let user = user.expect("verified password implies an account");
    Entry::user(user.id, "login")
        .ip(ip)
        .detail(json!({ "method": "password", "ua": ua }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    lockout::wake_one();

    start_session(
        &state,
        &session,
        user.id,
        user.auth_epoch,
        ip,
        &ua,
        "password",
    )
    .await?;
    if user.must_change_password {
        flash(&flashes, "info", "首次登录请先修改初始密码。");
        return Ok(Redirect::to("/password/change").into_response());
    }
    Ok(Redirect::to(&next).into_response())
}

/// Signs `user` in on this session: a fresh session id and CSRF token (nothing from before
/// survives), and a `sign_ins` row for 安全中心, tagged with a random device mark that the
/// session keeps.
pub async fn start_session(
    state: &AppState,
    session: &Session,
    user: i64,
    auth_epoch: i32,
    ip: Option<std::net::IpAddr>,
    ua: &str,
    method: &str,
) -> AppResult<()> {
    let now = state.now();
    let device = new_token();
    sqlx::query(
        "INSERT INTO sign_ins (user_id, at, ip, user_agent, method, auth_epoch, device)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user)
    .bind(now)
    .bind(ip.map(IpNetwork::from))
    .bind(ua)
    .bind(method)
    .bind(auth_epoch)
    .bind(&device)
    .execute(&state.db)
    .await?;
    session.cycle_id().await?;
    // Whatever a half-finished 激活 / 找回密码 left in the session goes too.
    session.clear().await;
    session.insert(UID, user).await?;
    session.insert(AUTH_AT, now.timestamp()).await?;
    session.insert(SEEN_AT, now.timestamp()).await?;
    session.insert(EPOCH, auth_epoch).await?;
    session.insert(CSRF, new_token()).await?;
    session.insert(DEVICE, device).await?;
    Ok(())
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/password_change.html")]
pub struct ChangePasswordTemplate {
    pub page: Page,
    pub forced: bool,
    pub errors: PasswordErrors,
}

#[derive(Default)]
pub struct PasswordErrors {
    pub current: Option<&'static str>,
    pub new: Vec<&'static str>,
    pub confirm: Option<&'static str>,
}

impl PasswordErrors {
    fn any(&self) -> bool {
        self.current.is_some() || !self.new.is_empty() || self.confirm.is_some()
    }
}

pub async fn change_password_page(user: CurrentUser, page: Page) -> ChangePasswordTemplate {
    ChangePasswordTemplate {
        page,
        forced: user.must_change_password,
        errors: PasswordErrors::default(),
    }
}

#[derive(Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<ChangePasswordForm>,
) -> AppResult<Response> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user.id)
            .fetch_one(&state.db)
            .await?;
    let mut errors = PasswordErrors::default();
    if form.current.is_empty() {
        errors.current = Some("请输入当前密码");
    } else if !password::verify(form.current.clone(), stored).await? {
        errors.current = Some("当前密码不正确");
    }
    if form.new_password.is_empty() {
        errors.new.push("请输入新密码");
    } else {
        errors.new = password::check_new(
            &form.new_password,
            &user.account,
            &user.name,
            state.settings.password_min_score,
        );
        if errors.new.is_empty() && form.new_password == form.current {
            errors.new.push("新密码不能与当前密码相同");
        }
    }
    if form.confirm != form.new_password {
        errors.confirm = Some("两次输入的新密码不一致");
    }
    let now = state.now();
    if errors.any() {
        Entry::user(user.id, "password.change")
            .ip(ip)
            .failure()
            .detail(json!({ "current_wrong": errors.current.is_some() }))
            .record(&state.db, now)
            .await?;
        return Ok(ChangePasswordTemplate {
            page,
            forced: user.must_change_password,
            errors,
        }
        .into_response());
    }

    // In 安全中心, this device stays signed in and the others are over.
    let device = session.get::<String>(DEVICE).await?;
    let why = Why::Change {
        device: device.as_deref(),
        forced: user.must_change_password,
    };
    let Ok(epoch) = set_password(&state, user.id, form.new_password, why, ip).await? else {
        // Only 激活账号 is ever refused.
        return Ok(Redirect::to("/password/change").into_response());
    };
    // The new epoch ends every other session of this person; this one carries on.
    session.cycle_id().await?;
    session.insert(EPOCH, epoch).await?;
    flash(&flashes, "success", "密码已修改，其他设备上的登录已失效。");
    Ok(Redirect::to("/").into_response())
}
