//! 再次确认密码 before publishing or deleting: when the session's last confirmation is
//! older than 15 minutes (`identity::reconfirm::WINDOW`), the action answers with a page
//! that posts the same fields again with the password; nothing is changed until then.

use askama::Template;
use askama_web::WebTemplate;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use crate::{
    error::AppResult,
    identity::reconfirm,
    web::{AppState, page::Page, user::ClientIp},
};

/// The posted field that carries the password on the confirmation page.
pub const FIELD: &str = "confirm_password";

#[derive(Template, WebTemplate)]
#[template(path = "admin/confirm.html")]
pub struct ConfirmTemplate {
    pub page: Page,
    /// Where the confirmed form posts (the action's own URL).
    pub action: String,
    /// What is being confirmed: 发布 学生请假 版本 3.
    pub what: String,
    /// The action's other fields, posted again unchanged.
    pub fields: Vec<(String, String)>,
    pub error: Option<String>,
    /// Where 取消 goes.
    pub cancel: String,
}

/// `Ok(None)`: confirmed recently or just now, go on. `Ok(Some(page))`: answer with the
/// confirmation page (again, with the reason, after a wrong password).
#[allow(clippy::too_many_arguments)]
pub async fn require(
    state: &AppState,
    session: &Session,
    page: Page,
    user_id: i64,
    ClientIp(ip): ClientIp,
    action: &str,
    cancel: &str,
    what: String,
    fields: Vec<(String, String)>,
    password: Option<&str>,
) -> AppResult<Option<Response>> {
    if reconfirm::fresh(session, state.now()).await {
        return Ok(None);
    }
    let error = match password {
        None => None,
        Some(p) => match reconfirm::confirm(state, session, user_id, p, ip).await? {
            None => return Ok(None),
            Some(message) => Some(message),
        },
    };
    let fields = fields
        .into_iter()
        .filter(|(k, _)| k != FIELD && k != "_csrf")
        .collect();
    Ok(Some(
        ConfirmTemplate {
            page,
            action: action.to_owned(),
            what,
            fields,
            error,
            cancel: cancel.to_owned(),
        }
        .into_response(),
    ))
}
