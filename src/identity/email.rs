//! 安全邮箱: links sent by e-mail (through the outbox's e-mail channel) to bind an address,
//! to prove oneself when the old 安全手机 is gone (LUT FAQ 5 and 6), or to recover the
//! password. A link works once, for a limited time; only a keyed hash of it is stored.
//! Opening a link shows a page with a button: mail scanners that fetch links change nothing.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use crate::{
    audit::Entry,
    error::AppResult,
    identity::{
        flow_state::FlowState,
        flows::RecoverState,
        security::PhoneChangeState,
        session::{ClientIp, CurrentUser, MaybeUser},
    },
    mask::mask_email,
    web::AppState,
    web::page::{Flashes, Page, flash, new_token},
};

const TAG: &str = "email link v1";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/security/email", get(email_page).post(email_send))
        .route("/email/{token}", get(link_page).post(link_use))
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Bind,
    Phone,
    Recover,
}

impl LinkPurpose {
    fn code(self) -> &'static str {
        match self {
            LinkPurpose::Bind => "bind",
            LinkPurpose::Phone => "phone",
            LinkPurpose::Recover => "recover",
        }
    }
    fn lifetime(self) -> chrono::Duration {
        match self {
            LinkPurpose::Bind => chrono::Duration::hours(24),
            _ => chrono::Duration::minutes(30),
        }
    }
}

pub fn is_email(e: &str) -> bool {
    let Some((user, domain)) = e.split_once('@') else {
        return false;
    };
    !user.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
}

/// Queues a link for `purpose` to `email`, for `user`.
pub async fn send_link(
    state: &AppState,
    user: i64,
    purpose: LinkPurpose,
    email: &str,
    ip: Option<std::net::IpAddr>,
) -> sqlx::Result<()> {
    let now = state.now();
    let token = new_token();
    let link = state
        .settings
        .base_url
        .join(&format!("email/{token}"))
        .map(|u| u.to_string())
        .unwrap_or_default();
    let (subject, what) = match purpose {
        LinkPurpose::Bind => ("验证安全邮箱", "绑定此邮箱为安全邮箱"),
        LinkPurpose::Phone => ("验证身份以更换安全手机", "更换安全手机"),
        LinkPurpose::Recover => ("找回密码", "重置登录密码"),
    };
    let mut tx = state.db.begin().await?;
    // Only the newest link of a kind works: an earlier, perhaps mistyped, address is out.
    sqlx::query(
        "UPDATE email_links SET used_at = $3
         WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(user)
    .bind(purpose.code())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO email_links (user_id, purpose, email, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user)
    .bind(purpose.code())
    .bind(email)
    .bind(state.secret_key.tag(TAG, token.as_bytes()))
    .bind(now)
    .bind(now + purpose.lifetime())
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, channel, recipient_id, kind, payload, created_at, next_attempt_at)
         VALUES ($1, 'email', $2, 'email_link', $3, $4, $4)",
    )
    .bind(format!("email-link:{id}"))
    .bind(user)
    .bind(json!({
        "email": email,
        "subject": format!("【{}】{subject}", state.settings.portal_name),
        "text": format!("您正在{what}。请在 {} 分钟内打开以下链接完成操作：\n{link}\n如果不是您本人操作，请忽略本邮件。",
                        purpose.lifetime().num_minutes()),
    }))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Entry::user(user, "email.link_sent")
        .ip(ip)
        .detail(json!({ "purpose": purpose.code(), "email": mask_email(email) }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/email.html")]
pub struct EmailTemplate {
    pub page: Page,
    pub current: String,
    pub email: String,
    pub error: Option<&'static str>,
    pub password_error: Option<&'static str>,
}

async fn email_page(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
) -> AppResult<Response> {
    let current: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(&state.db)
        .await?;
    Ok(EmailTemplate {
        page,
        current: current.unwrap_or_default(),
        email: String::new(),
        error: None,
        password_error: None,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn email_send(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<EmailForm>,
) -> AppResult<Response> {
    let email = form.email.trim().to_owned();
    let (current, hash): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT email, password_hash FROM users WHERE id = $1")
            .bind(user.id)
            .fetch_one(&state.db)
            .await?;
    // The 安全邮箱 can stand in for the phone: changing it needs the password, not just a
    // session someone may have left open.
    if !crate::identity::password::verify(form.password.clone(), hash).await? {
        return Ok(EmailTemplate {
            page,
            current: current.unwrap_or_default(),
            email,
            error: None,
            password_error: Some("密码不正确"),
        }
        .into_response());
    }
    let error = if !is_email(&email) {
        Some("请输入正确的电子邮箱地址")
    } else if state.settings.smtp.is_none() {
        Some("邮件服务尚未开通，暂时无法发送验证邮件，请联系管理员")
    } else {
        // A few links an hour per person.
        let recent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM email_links WHERE user_id = $1 AND created_at > $2 - interval '1 hour'",
        )
        .bind(user.id)
        .bind(state.now())
        .fetch_one(&state.db)
        .await?;
        (recent >= 5).then_some("发送过于频繁，请一小时后再试")
    };
    if let Some(error) = error {
        return Ok(EmailTemplate {
            page,
            current: current.unwrap_or_default(),
            email,
            error: Some(error),
            password_error: None,
        }
        .into_response());
    }
    send_link(&state, user.id, LinkPurpose::Bind, &email, ip).await?;
    flash(
        &flashes,
        "success",
        format!(
            "验证邮件已发送至 {}，请在 24 小时内打开邮件中的链接。",
            mask_email(&email)
        ),
    );
    Ok(Redirect::to("/security").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/email_link.html")]
pub struct LinkTemplate {
    pub page: Page,
    pub token: String,
    pub valid: bool,
    pub what: &'static str,
    pub email: String,
}

type LinkRow = (i64, i64, String, String);

async fn find(state: &AppState, token: &str) -> sqlx::Result<Option<LinkRow>> {
    sqlx::query_as(
        "SELECT id, user_id, purpose, email FROM email_links
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(state.secret_key.tag(TAG, token.as_bytes()))
    .bind(state.now())
    .fetch_optional(&state.db)
    .await
}

async fn link_page(
    State(state): State<AppState>,
    session: Session,
    mut page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    page.ensure_csrf(&session).await?;
    let row = find(&state, &token).await?;
    Ok(LinkTemplate {
        page,
        valid: row.is_some(),
        what: match row.as_ref().map(|r| r.2.as_str()) {
            Some("bind") => "绑定安全邮箱",
            Some("phone") => "验证身份以更换安全手机",
            _ => "重置登录密码",
        },
        email: row.map(|r| mask_email(&r.3)).unwrap_or_default(),
        token,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct Empty {}

async fn link_use(
    State(state): State<AppState>,
    session: Session,
    flashes: Flashes,
    MaybeUser(user): MaybeUser,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Form(_): Form<Empty>,
) -> AppResult<Response> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    // Used in the statement that checks it: a link works once.
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "UPDATE email_links SET used_at = $2
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING user_id, purpose, email",
    )
    .bind(state.secret_key.tag(TAG, token.as_bytes()))
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((uid, purpose, email)) = row else {
        flash(&flashes, "error", "链接已失效，请重新获取。");
        return Ok(Redirect::to("/").into_response());
    };
    let target = match purpose.as_str() {
        "bind" => {
            let old: Option<String> =
                sqlx::query_scalar("SELECT email FROM users WHERE id = $1 FOR UPDATE")
                    .bind(uid)
                    .fetch_one(&mut *tx)
                    .await?;
            sqlx::query("UPDATE users SET email = $2, updated_at = $3 WHERE id = $1")
                .bind(uid)
                .bind(&email)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            // The old address hears of its replacement; a first one, the phone does: an
            // address can recover the account.
            if old.as_deref() != Some(email.as_str()) {
                super::alerts::queue(
                    &mut tx,
                    &state,
                    uid,
                    super::alerts::Change::Email {
                        old: old.as_deref(),
                    },
                    now,
                )
                .await?;
            }
            flash(
                &flashes,
                "success",
                format!("安全邮箱已绑定为 {}。", mask_email(&email)),
            );
            "/security"
        }
        "phone" => {
            // Only for the person signed in here: the link stands in for the old phone.
            if user.as_ref().map(|u| u.id) != Some(uid) {
                tx.rollback().await?;
                flash(
                    &flashes,
                    "error",
                    "请先登录申请更换安全手机的账号，再打开此链接。",
                );
                return Ok(Redirect::to("/login").into_response());
            }
            PhoneChangeState::prove_old_phone(&session).await?;
            "/security/phone"
        }
        _ => {
            session.cycle_id().await?;
            RecoverState::proven_by_email(uid).save(&session).await?;
            "/recover/password"
        }
    };
    Entry::user(uid, "email.link_used")
        .ip(ip)
        .detail(json!({ "purpose": purpose, "email": mask_email(&email) }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(target).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_email("zhangsan@stu.demo.edu.cn"));
        assert!(!is_email("zhangsan@localhost"));
        assert!(!is_email("a b@x.cn"));
    }
}
