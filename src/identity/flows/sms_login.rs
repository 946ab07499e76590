//! 手机验证码登录 (`/login/sms`): a code to the 安全手机, then signed in. A number that
//! belongs to nobody gets the same answers and limits, and a code row sent nowhere.

use axum::{
    Form,
    extract::{Query, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;

use super::{CodeTemplate, PhoneForm};
use crate::{
    audit::Entry,
    error::AppResult,
    identity::{
        codes::{self, CodeError, Purpose, is_mobile},
        flow_state::FlowState,
        login::start_session,
        session::{ClientIp, MaybeUser, safe_next, urlencode, user_agent},
    },
    web::AppState,
    web::page::{Flashes, Page, flash},
};

/// The number a code was last asked for in this session, shown again.
#[derive(Serialize, Deserialize)]
struct SmsLoginState {
    phone: String,
}

impl FlowState for SmsLoginState {
    const KEY: &'static str = "flow.sms_login";
}

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

pub(super) async fn page(
    session: Session,
    MaybeUser(user): MaybeUser,
    mut page: Page,
    Query(q): Query<NextQuery>,
) -> AppResult<Response> {
    let next = safe_next(q.next.as_deref());
    if user.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    page.ensure_csrf(&session).await?;
    let phone = SmsLoginState::load(&session)
        .await?
        .map(|s| s.phone)
        .unwrap_or_default();
    Ok(sms_template(page, phone, None, None, next).into_response())
}

pub(super) async fn send(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let phone = form.phone.trim().to_owned();
    let next = safe_next(Some(&form.next));
    if !is_mobile(&phone) {
        return Ok(
            sms_template(page, phone, Some("请输入 11 位手机号".into()), None, next)
                .into_response(),
        );
    }
    SmsLoginState {
        phone: phone.clone(),
    }
    .save(&session)
    .await?;
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
                format!("/login/sms?next={}", urlencode(&next))
            };
            Ok(Redirect::to(&back).into_response())
        }
        Err(CodeError::Send(e)) => {
            Ok(sms_template(page, phone, Some(e.message()), None, next).into_response())
        }
        Err(CodeError::Db(e)) => Err(e.into()),
    }
}

pub(super) async fn login(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    page: Page,
    Form(form): Form<PhoneForm>,
) -> AppResult<Response> {
    let phone = form.phone.trim().to_owned();
    let next = safe_next(Some(&form.next));
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
    Entry::user(uid, "login")
        .ip(ip)
        .detail(json!({ "method": "sms", "ua": ua }))
        .record(&state.db, state.now())
        .await?;
    start_session(&state, &session, uid, epoch, ip, &ua, "sms").await?;
    Ok(Redirect::to(&next).into_response())
}
