//! 激活账号 (/activate), 忘记密码 (/recover) and 手机验证码登录 (/login/sms).
//!
//! Each flow keeps its progress in the visitor's session, server side, as one value
//! (`FlowState`); a step cannot be skipped by going to its URL. Answers never tell whether
//! an account exists: a failed identity check (`check`) reads the same for any reason, and
//! 找回密码 goes on to a look-alike second step (a masked number derived from what was
//! typed) when nothing matched.

mod activate;
mod check;
mod recover;
mod sms_login;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Router,
    routing::{get, post},
};
use serde::Deserialize;

use crate::{identity::password, web::AppState, web::page::Page};

pub use activate::{
    issue_activation_code, issue_activation_code_by, issue_activation_codes, send_bind_code,
};
pub use check::IDENTITY_FAILED;
pub(crate) use recover::RecoverState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/activate",
            get(activate::identity_page).post(activate::identity),
        )
        .route(
            "/activate/phone",
            get(activate::phone_page).post(activate::phone),
        )
        .route("/activate/phone/send", post(activate::phone_send))
        .route(
            "/activate/password",
            get(activate::password_page).post(activate::password),
        )
        .route(
            "/recover",
            get(recover::identity_page).post(recover::identity),
        )
        .route(
            "/recover/verify",
            get(recover::verify_page).post(recover::verify),
        )
        .route("/recover/verify/send", post(recover::send))
        .route("/recover/verify/email", post(recover::email))
        .route(
            "/recover/password",
            get(recover::password_page).post(recover::password),
        )
        .route("/login/sms", get(sms_login::page).post(sms_login::login))
        .route("/login/sms/send", post(sms_login::send))
}

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
    /// 信息完善 at sign-in: the account is proven by signing in; a 安全手机 is next.
    pub fn complete_info() -> Self {
        Steps {
            names: vec!["基础信息验证", "信息完善", "完成"],
            current: 2,
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

/// What the code steps post: a phone (where it is typed), the code, and what else the
/// step asks for.
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

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

async fn account_of(state: &AppState, uid: i64) -> sqlx::Result<(String, String)> {
    sqlx::query_as("SELECT account, name FROM users WHERE id = $1")
        .bind(uid)
        .fetch_one(&state.db)
        .await
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
