//! 个人中心: the signed-in person's profile and recent sign-ins (the to-do center joins
//! here with the workflow).

use askama::Template;
use askama_web::WebTemplate;
use axum::{Router, extract::State, routing::get};
use chrono::{DateTime, Utc};

use crate::{
    error::AppResult,
    mask::mask_phone,
    org,
    web::AppState,
    web::page::Page,
    web::user::{CurrentUser, user_type_label},
};

pub mod badges;
pub mod lists;
mod outcomes;
pub mod search;
pub mod settings;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/center", get(center))
        .route("/center/todo", get(lists::todo))
        .route("/center/done", get(outcomes::done))
        .route("/center/ongoing", get(outcomes::ongoing))
        .route("/center/finished", get(outcomes::finished))
        .route("/center/cc", get(lists::cc))
        .route("/center/cc/read", axum::routing::post(lists::cc_read))
        .route("/center/started", get(outcomes::started))
        .route("/center/drafts", get(lists::drafts))
        .route("/center/transferred", get(lists::transferred))
        .route("/center/settings", get(settings::show).post(settings::save))
}

pub struct Profile {
    pub account: String,
    pub name: String,
    pub user_type: &'static str,
    pub department: String,
    pub phone: String,
    pub email: String,
    pub id_card: String,
    pub roles: Vec<String>,
}

pub struct SignIn {
    pub at: String,
    pub ip: String,
    pub outcome: &'static str,
    pub ok: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "center/index.html")]
pub struct CenterTemplate {
    pub page: Page,
    pub profile: Profile,
    pub sign_ins: Vec<SignIn>,
    pub tabs: Vec<lists::Tab>,
}

async fn center(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    axum::extract::Query(q): axum::extract::Query<lists::ListQuery>,
) -> AppResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let searching = [&q.q, &q.service, &q.status, &q.from, &q.to]
        .iter()
        .any(|v| v.as_deref().is_some_and(|v| !v.is_empty()));
    if searching {
        return search::search(&state, &user, page, q).await;
    }
    let (user_type, department, phone, email, id_card): (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = sqlx::query_as(
        "SELECT u.user_type, d.name, u.phone, u.email, u.id_card_masked
             FROM users u LEFT JOIN departments d ON d.id = u.department_id WHERE u.id = $1",
    )
    .bind(user.id)
    .fetch_one(&state.db)
    .await?;
    let rows: Vec<(
        DateTime<Utc>,
        Option<sqlx::types::ipnetwork::IpNetwork>,
        String,
    )> = sqlx::query_as(
        "SELECT at, ip, outcome FROM audit_log
         WHERE actor_id = $1 AND action = 'login' ORDER BY id DESC LIMIT 10",
    )
    .bind(user.id)
    .fetch_all(&state.db)
    .await?;
    let tz = state.settings.time_zone;
    let sign_ins = rows
        .into_iter()
        .map(|(at, ip, outcome)| SignIn {
            at: at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            ip: ip.map(|i| i.ip().to_string()).unwrap_or_default(),
            ok: outcome == "success",
            outcome: match outcome.as_str() {
                "success" => "成功",
                "denied" => "已锁定",
                _ => "失败",
            },
        })
        .collect();
    let none = || "未绑定".to_owned();
    Ok(CenterTemplate {
        page,
        profile: Profile {
            account: user.account.clone(),
            name: user.name.clone(),
            user_type: user_type_label(&user_type),
            department: department.unwrap_or_default(),
            phone: phone.as_deref().map(mask_phone).unwrap_or_else(none),
            email: email.unwrap_or_else(none),
            id_card: id_card.unwrap_or_else(|| "未登记".into()),
            roles: org::role_labels(&state.db, user.id).await?,
        },
        sign_ins,
        tabs: lists::tabs_for(&state, &user).await?,
    }
    .into_response())
}
