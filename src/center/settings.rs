//! 个人设置: the channels a person wants notifications on, besides 消息中心.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use crate::{
    error::AppResult,
    web::AppState,
    web::page::{Flashes, Page, flash},
    web::user::CurrentUser,
};

#[derive(Template, WebTemplate)]
#[template(path = "center/settings.html")]
pub struct SettingsTemplate {
    pub page: Page,
    pub sms: bool,
    pub email: bool,
    pub wecom: bool,
    pub sms_available: bool,
    pub wecom_available: bool,
    pub email_available: bool,
    pub has_phone: bool,
    pub has_email: bool,
}

pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
) -> AppResult<SettingsTemplate> {
    let (sms, email, wecom, has_phone, has_email): (bool, bool, bool, bool, bool) = sqlx::query_as(
        "SELECT COALESCE(p.sms, true), COALESCE(p.email, false), COALESCE(p.wecom, true),
                u.phone IS NOT NULL, u.email IS NOT NULL
         FROM users u LEFT JOIN notify_prefs p ON p.user_id = u.id WHERE u.id = $1",
    )
    .bind(user.id)
    .fetch_one(&state.db)
    .await?;
    Ok(SettingsTemplate {
        page,
        sms,
        email,
        wecom,
        sms_available: state.settings.sms.is_some(),
        wecom_available: state.settings.wecom.is_some(),
        email_available: state.settings.smtp.is_some(),
        has_phone,
        has_email,
    })
}

#[derive(Deserialize)]
pub struct Choice {
    #[serde(default)]
    sms: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    wecom: Option<String>,
}

pub async fn save(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    Form(c): Form<Choice>,
) -> AppResult<Response> {
    sqlx::query(
        "INSERT INTO notify_prefs (user_id, sms, email, wecom) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET sms = EXCLUDED.sms, email = EXCLUDED.email, wecom = EXCLUDED.wecom",
    )
    .bind(user.id)
    .bind(c.sms.is_some())
    .bind(c.email.is_some())
    .bind(c.wecom.is_some())
    .execute(&state.db)
    .await?;
    flash(&flashes, "success", "通知设置已保存。");
    Ok(Redirect::to("/center/settings").into_response())
}
