//! 个人中心: the signed-in person's profile and recent sign-ins (the to-do center joins
//! here with the workflow).

use askama::Template;
use askama_web::WebTemplate;
use axum::{Router, extract::State, routing::get};
use chrono::{DateTime, Utc};

use crate::{
    error::AppResult,
    identity::session::{CurrentUser, user_type_label},
    org,
    state::AppState,
    web::page::Page,
};

pub fn routes() -> Router<AppState> {
    Router::new().route("/center", get(center))
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

pub struct Item {
    pub id: i64,
    pub title: String,
    pub serial_no: String,
    pub step: String,
    pub status: &'static str,
    pub status_code: String,
    pub at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "center/index.html")]
pub struct CenterTemplate {
    pub page: Page,
    pub profile: Profile,
    pub sign_ins: Vec<SignIn>,
    pub todo: Vec<Item>,
    pub started: Vec<Item>,
    pub drafts: Vec<Item>,
}

type ItemRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    DateTime<Utc>,
);

fn items(rows: Vec<ItemRow>, tz: chrono_tz::Tz) -> Vec<Item> {
    rows.into_iter()
        .map(|(id, title, serial, step, status, at)| Item {
            id,
            title,
            serial_no: serial.unwrap_or_default(),
            step: step.unwrap_or_default(),
            status: crate::workflow::store::status_label(&status),
            status_code: status,
            at: at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        })
        .collect()
}

/// 138****5678
pub fn mask_phone(p: &str) -> String {
    let c: Vec<char> = p.chars().collect();
    if c.len() < 7 {
        return p.to_owned();
    }
    format!(
        "{}****{}",
        c[..3].iter().collect::<String>(),
        c[c.len() - 4..].iter().collect::<String>()
    )
}

async fn center(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
) -> AppResult<CenterTemplate> {
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
         WHERE actor_id = $1 AND action = 'login' ORDER BY at DESC LIMIT 10",
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
    let todo: Vec<ItemRow> = sqlx::query_as(
        "SELECT a.id, a.title, a.serial_no, t.node_name, a.status, t.created_at FROM tasks t
         JOIN applications a ON a.id = t.application_id
         WHERE t.assignee_id = $1 AND t.status = 'pending' AND t.kind = 'approve'
         ORDER BY t.created_at DESC LIMIT 50",
    )
    .bind(user.id)
    .fetch_all(&state.db)
    .await?;
    let started: Vec<ItemRow> = sqlx::query_as(
        "SELECT a.id, a.title, a.serial_no,
                (SELECT string_agg(DISTINCT t.node_name, '、') FROM tasks t
                 WHERE t.application_id = a.id AND t.status = 'pending'), a.status, a.updated_at
         FROM applications a WHERE a.applicant_id = $1 AND a.status <> 'draft'
         ORDER BY a.updated_at DESC LIMIT 20",
    )
    .bind(user.id)
    .fetch_all(&state.db)
    .await?;
    let drafts: Vec<ItemRow> = sqlx::query_as(
        "SELECT a.id, a.title, a.serial_no, NULL::text, a.status, a.updated_at
         FROM applications a WHERE a.applicant_id = $1 AND a.status = 'draft'
         ORDER BY a.updated_at DESC LIMIT 50",
    )
    .bind(user.id)
    .fetch_all(&state.db)
    .await?;
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
        todo: items(todo, tz),
        started: items(started, tz),
        drafts: items(drafts, tz),
    })
}
