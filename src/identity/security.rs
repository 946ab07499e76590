//! 安全中心 (/security): 安全手机 (bind, or change after proving the old one), recent
//! sign-ins, the devices still signed in and 退出其他设备. 信息完善 at login sends people
//! without a 安全手机 to /security/phone before anything else.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::State,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;

use crate::{
    audit::Entry,
    error::AppResult,
    identity::{
        codes::{self, CodeError, Purpose, is_mobile},
        email::{self, LinkPurpose},
        flow_state::FlowState,
        flows::{CodeTemplate, send_bind_code},
        session::{ClientIp, CurrentUser, DEVICE, EPOCH},
    },
    mask::{mask_email, mask_phone},
    web::AppState,
    web::page::{Flashes, Page, flash},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/security", get(overview))
        .route("/security/phone", get(phone_page).post(phone_bind))
        .route("/security/phone/send", post(phone_send))
        .route("/security/phone/old", post(old_phone_verify))
        .route("/security/phone/old/send", post(old_phone_send))
        .route("/security/phone/email", post(old_phone_by_email))
        .route("/security/sessions/end-others", post(end_others))
}

/// How far 更换安全手机 (or 信息完善's first binding) got in this session.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct PhoneChangeState {
    /// The current 安全手机 was proven, by a code to it or a link to the 安全邮箱: a new
    /// one may be set.
    old_phone_proven: bool,
    /// The new number typed, shown again.
    new_phone: String,
}

impl FlowState for PhoneChangeState {
    const KEY: &'static str = "flow.phone_change";
}

impl PhoneChangeState {
    /// Records that the current phone was proven (a 安全邮箱 link stands in for it).
    pub(crate) async fn prove_old_phone(session: &Session) -> AppResult<()> {
        let mut flow = Self::load(session).await?.unwrap_or_default();
        flow.old_phone_proven = true;
        flow.save(session).await?;
        Ok(())
    }
}

pub struct SignInView {
    pub at: String,
    pub ip: String,
    pub browser: String,
    pub method: &'static str,
    pub this_device: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/security.html")]
pub struct SecurityTemplate {
    pub page: Page,
    pub account: String,
    pub phone: String,
    pub email: String,
    pub password_changed: String,
    pub active: Vec<SignInView>,
    pub recent: Vec<SignInView>,
    /// Systems signed in to through the hall (统一身份认证).
    pub systems: Vec<SystemSignIn>,
}

pub struct SystemSignIn {
    pub system: String,
    pub at: String,
    pub protocol: &'static str,
    pub this_device: bool,
    pub logged_out: bool,
}

fn method_label(m: &str) -> &'static str {
    match m {
        "password" => "账号密码",
        "sms" => "手机验证码",
        "qr" => "扫码登录",
        "activate" => "激活账号",
        _ => "其他",
    }
}

/// "Chrome · Android" from a User-Agent, for people to recognise their devices.
pub fn browser_label(ua: &str) -> String {
    let browser = [
        ("MicroMessenger", "微信"),
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v)
    .unwrap_or("浏览器");
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v)
    .unwrap_or("");
    if os.is_empty() {
        browser.to_owned()
    } else {
        format!("{browser} · {os}")
    }
}

type SignInRow = (
    DateTime<Utc>,
    Option<sqlx::types::ipnetwork::IpNetwork>,
    String,
    String,
    Option<String>,
);

async fn overview(
    State(state): State<AppState>,
    user: CurrentUser,
    session: Session,
    page: Page,
) -> AppResult<Response> {
    let (phone, email, changed, epoch): (
        Option<String>,
        Option<String>,
        Option<DateTime<Utc>>,
        i32,
    ) = sqlx::query_as(
        "SELECT phone, email, password_changed_at, auth_epoch FROM users WHERE id = $1",
    )
    .bind(user.id)
    .fetch_one(&state.db)
    .await?;
    let device = session.get::<String>(DEVICE).await?;
    let tz = state.settings.time_zone;
    let view = |r: &SignInRow| SignInView {
        at: r.0.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        ip: r
            .1
            .map(|i| i.ip().to_string())
            .unwrap_or_else(|| "—".into()),
        browser: browser_label(&r.2),
        method: method_label(&r.3),
        this_device: r.4.is_some() && r.4 == device,
    };
    let absolute = chrono::Duration::from_std(state.settings.session_absolute).unwrap_or_default();
    let active: Vec<SignInRow> = sqlx::query_as(
        "SELECT at, ip, user_agent, method, device FROM sign_ins
         WHERE user_id = $1 AND auth_epoch = $2 AND ended_at IS NULL AND at > $3
         ORDER BY at DESC LIMIT 20",
    )
    .bind(user.id)
    .bind(epoch)
    .bind(state.now() - absolute)
    .fetch_all(&state.db)
    .await?;
    let recent: Vec<SignInRow> = sqlx::query_as(
        "SELECT at, ip, user_agent, method, device FROM sign_ins WHERE user_id = $1
         ORDER BY at DESC LIMIT 10",
    )
    .bind(user.id)
    .fetch_all(&state.db)
    .await?;
    Ok(SecurityTemplate {
        page,
        account: user.account.clone(),
        phone: phone.as_deref().map(mask_phone).unwrap_or_default(),
        email: email.unwrap_or_default(),
        password_changed: changed
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        active: active.iter().map(view).collect(),
        recent: recent.iter().map(view).collect(),
        systems: crate::identity::sso::signins::recent(&state.db, user.id, device.as_deref())
            .await?
            .into_iter()
            .map(|s| SystemSignIn {
                system: s.system,
                at: s.at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                protocol: if s.protocol == "cas" {
                    "CAS"
                } else {
                    "OpenID Connect"
                },
                this_device: s.this_device,
                logged_out: s.logged_out,
            })
            .collect(),
    }
    .into_response())
}

async fn current_phone(state: &AppState, uid: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT phone FROM users WHERE id = $1")
        .bind(uid)
        .fetch_one(&state.db)
        .await
}

fn old_phone_template(page: Page, phone: &str, code_error: Option<String>) -> CodeTemplate {
    CodeTemplate {
        page,
        title: "更换安全手机",
        steps: None,
        intro: format!("第一步：验证原安全手机 {}。", mask_phone(phone)),
        send_action: "/security/phone/old/send",
        action: "/security/phone/old",
        phone_field: false,
        phone: String::new(),
        phone_error: None,
        code_error,
        submit: "下一步",
        next: String::new(),
        links: vec![("返回安全中心", "/security")],
        email_action: None,
        optional_email: None,
        email_error: None,
    }
}

fn new_phone_template(
    page: Page,
    first_time: bool,
    phone: String,
    phone_error: Option<String>,
    code_error: Option<String>,
) -> CodeTemplate {
    CodeTemplate {
        page,
        title: if first_time {
            "信息完善"
        } else {
            "更换安全手机"
        },
        // The seed's 信息完善 shows where the person is: signed in (基础信息验证 done),
        // binding now, then into the hall.
        steps: first_time.then(crate::identity::flows::Steps::complete_info),
        intro: if first_time {
            "您的账号尚未绑定安全手机。请先绑定：用于登录、找回密码和接收办事提醒。".into()
        } else {
            "第二步：输入新的手机号并验证。".into()
        },
        send_action: "/security/phone/send",
        action: "/security/phone",
        phone_field: true,
        phone,
        phone_error,
        code_error,
        submit: "确认绑定",
        next: String::new(),
        links: if first_time {
            Vec::new()
        } else {
            vec![("返回安全中心", "/security")]
        },
        email_action: None,
        optional_email: None,
        email_error: None,
    }
}

async fn phone_page(
    State(state): State<AppState>,
    user: CurrentUser,
    session: Session,
    page: Page,
) -> AppResult<Response> {
    let current = current_phone(&state, user.id).await?;
    let flow = PhoneChangeState::load(&session).await?.unwrap_or_default();
    match current {
        Some(p) if !flow.old_phone_proven => Ok(old_phone_template(page, &p, None).into_response()),
        c => Ok(new_phone_template(page, c.is_none(), flow.new_phone, None, None).into_response()),
    }
}

#[derive(Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
}

async fn old_phone_send(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
) -> AppResult<Response> {
    let Some(phone) = current_phone(&state, user.id).await? else {
        return Ok(Redirect::to("/security/phone").into_response());
    };
    match codes::send(&state, Purpose::OldPhone, user.id, &phone, ip).await {
        Ok(()) => {
            flash(&flashes, "success", codes::sent_message(&state, &phone));
            Ok(Redirect::to("/security/phone").into_response())
        }
        Err(CodeError::Send(e)) => {
            Ok(old_phone_template(page, &phone, Some(e.message())).into_response())
        }
        Err(CodeError::Db(e)) => Err(e.into()),
    }
}

/// The old phone is gone: prove oneself through the 安全邮箱 instead (LUT FAQ 5 and 6).
async fn old_phone_by_email(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
) -> AppResult<Response> {
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(&state.db)
        .await?;
    match email {
        Some(e) if state.settings.smtp.is_some() => {
            email::send_link(&state, user.id, LinkPurpose::Phone, &e, ip).await?;
            flash(
                &flashes,
                "success",
                format!(
                    "验证链接已发送至安全邮箱 {}，请在本浏览器中打开，30 分钟内有效。",
                    mask_email(&e)
                ),
            );
        }
        Some(_) => flash(
            &flashes,
            "error",
            "邮件服务尚未开通，请携带证件到网络信息中心办理。",
        ),
        None => flash(
            &flashes,
            "error",
            "您没有绑定安全邮箱，请携带证件到网络信息中心办理。",
        ),
    }
    Ok(Redirect::to("/security/phone").into_response())
}

async fn old_phone_verify(
    State(state): State<AppState>,
    user: CurrentUser,
    session: Session,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let Some(phone) = current_phone(&state, user.id).await? else {
        return Ok(Redirect::to("/security/phone").into_response());
    };
    match codes::verify(&state, Purpose::OldPhone, &phone, &form.code, ip).await? {
        Ok(uid) if uid == user.id => {
            PhoneChangeState::prove_old_phone(&session).await?;
            Ok(Redirect::to("/security/phone").into_response())
        }
        Ok(_) => Ok(old_phone_template(
            page,
            &phone,
            Some(codes::VerifyError::Invalid.message().into()),
        )
        .into_response()),
        Err(e) => Ok(old_phone_template(page, &phone, Some(e.message().into())).into_response()),
    }
}

/// May `user` set a new phone now: none yet (信息完善), or the old one proven.
async fn may_bind(state: &AppState, session: &Session, uid: i64) -> AppResult<(bool, bool)> {
    let current = current_phone(state, uid).await?;
    let first = current.is_none();
    let proven = PhoneChangeState::load(session)
        .await?
        .is_some_and(|f| f.old_phone_proven);
    Ok((first || proven, first))
}

async fn phone_send(
    State(state): State<AppState>,
    user: CurrentUser,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let (allowed, first) = may_bind(&state, &session, user.id).await?;
    if !allowed {
        return Ok(Redirect::to("/security/phone").into_response());
    }
    let phone = form.phone.trim().to_owned();
    let mut flow = PhoneChangeState::load(&session).await?.unwrap_or_default();
    flow.new_phone = phone.clone();
    flow.save(&session).await?;
    if let Some(e) = send_bind_code(&state, user.id, &phone, Purpose::BindPhone, ip).await? {
        return Ok(new_phone_template(page, first, phone, Some(e), None).into_response());
    }
    flash(&flashes, "success", codes::sent_message(&state, &phone));
    Ok(Redirect::to("/security/phone").into_response())
}

async fn phone_bind(
    State(state): State<AppState>,
    user: CurrentUser,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let (allowed, first) = may_bind(&state, &session, user.id).await?;
    if !allowed {
        return Ok(Redirect::to("/security/phone").into_response());
    }
    let phone = form.phone.trim().to_owned();
    if !is_mobile(&phone) {
        return Ok(
            new_phone_template(page, first, phone, Some("请输入 11 位手机号".into()), None)
                .into_response(),
        );
    }
    match codes::verify(&state, Purpose::BindPhone, &phone, &form.code, ip).await? {
        Ok(uid) if uid == user.id => {}
        Ok(_) => {
            return Ok(new_phone_template(
                page,
                first,
                phone,
                None,
                Some(codes::VerifyError::Invalid.message().into()),
            )
            .into_response());
        }
        Err(e) => {
            return Ok(
                new_phone_template(page, first, phone, None, Some(e.message().into()))
                    .into_response(),
            );
        }
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let old: Option<String> =
        sqlx::query_scalar("SELECT phone FROM users WHERE id = $1 FOR UPDATE")
            .bind(user.id)
            .fetch_one(&mut *tx)
            .await?;
    let updated = sqlx::query("UPDATE users SET phone = $2, updated_at = $3 WHERE id = $1")
        .bind(user.id)
        .bind(&phone)
        .bind(now)
        .execute(&mut *tx)
        .await;
    if let Err(sqlx::Error::Database(e)) = &updated
        && e.is_unique_violation()
    {
        return Ok(new_phone_template(
            page,
            first,
            phone,
            Some("该手机号已被其他账号绑定".into()),
            None,
        )
        .into_response());
    }
    updated?;
    Entry::user(user.id, "phone.bind")
        .ip(ip)
        .detail(json!({
            "old": old.as_deref().map(mask_phone),
            "new": mask_phone(&phone),
        }))
        .record(&mut *tx, now)
        .await?;
    // A first phone (信息完善) is told to the 安全邮箱, if there is one.
    if old.as_deref() != Some(phone.as_str()) {
        super::alerts::queue(
            &mut tx,
            &state,
            user.id,
            super::alerts::Change::Phone {
                old: old.as_deref(),
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    PhoneChangeState::clear(&session).await?;
    flash(
        &flashes,
        "success",
        format!("安全手机已绑定为 {}。", mask_phone(&phone)),
    );
    Ok(Redirect::to(if first { "/" } else { "/security" }).into_response())
}

#[derive(Deserialize)]
pub struct Empty {}

async fn end_others(
    State(state): State<AppState>,
    user: CurrentUser,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Form(_): Form<Empty>,
) -> AppResult<Response> {
    let now = state.now();
    let device = session.get::<String>(DEVICE).await?;
    let mut tx = state.db.begin().await?;
    // A new epoch ends every session; this one moves to it and stays.
    let epoch: i32 = sqlx::query_scalar(
        "UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = $1 RETURNING auth_epoch",
    )
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await?;
    let ended = sqlx::query(
        "UPDATE sign_ins SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL
           AND device IS DISTINCT FROM $3",
    )
    .bind(user.id)
    .bind(now)
    .bind(&device)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("UPDATE sign_ins SET auth_epoch = $2 WHERE device = $1")
        .bind(&device)
        .bind(epoch)
        .execute(&mut *tx)
        .await?;
    Entry::user(user.id, "session.end_others")
        .ip(ip)
        .detail(json!({ "ended": ended }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    session.insert(EPOCH, epoch).await?;
    flash(&flashes, "success", "已退出其他设备上的登录。");
    Ok(Redirect::to("/security").into_response())
}

#[cfg(test)]
mod tests {
    use super::browser_label;

    #[test]
    fn browsers() {
        assert_eq!(
            browser_label(
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"
            ),
            "Chrome · Android"
        );
        assert_eq!(
            browser_label(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 MicroMessenger/8.0"
            ),
            "微信 · iPhone"
        );
        assert_eq!(browser_label("curl/8"), "浏览器");
    }
}
