//! 推荐服务: per kind of viewer (学生, 教职工, 访客) the services the home page recommends,
//! in order; 添加, 移除, 上移 / 下移 by plain form posts. The home page reads them per
//! request and shows the first `HOME_SHOWN` published ones.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use serde_json::json;

use crate::{
    audit::Entry,
    catalog::content::{self, RecommendedRow, VIEWERS},
    error::{AppError, AppResult},
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::{AdminUser, ClientIp},
    },
};

/// How many the home page shows (`home.rs`).
pub const HOME_SHOWN: usize = 8;

pub struct Group {
    pub aud: &'static str,
    pub label: &'static str,
    pub rows: Vec<RecommendedRow>,
    pub candidates: Vec<(i64, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/content_recommend.html")]
pub struct RecommendTemplate {
    pub page: Page,
    pub tab: &'static str,
    pub groups: Vec<Group>,
    pub shown: usize,
}

/// `GET /admin/content/recommend`
pub(super) async fn page(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
) -> AppResult<RecommendTemplate> {
    let mut groups = Vec::new();
    for (aud, label) in VIEWERS {
        groups.push(Group {
            aud,
            label,
            rows: content::recommended(&state.db, aud).await?,
            candidates: content::recommendable(&state.db, aud).await?,
        });
    }
    Ok(RecommendTemplate {
        page,
        tab: "recommend",
        groups,
        shown: HOME_SHOWN,
    })
}

/// `POST /admin/content/recommend` (`aud`, `service`, `op` = add | remove | up | down).
pub(super) async fn post(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let v = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let Some((aud, label)) = VIEWERS.iter().find(|(c, _)| *c == v("aud")).copied() else {
        return Err(AppError::BadRequest("推荐对象无效。"));
    };
    let back = format!("/admin/content/recommend#aud-{aud}");
    let Ok(service) = v("service").parse::<i64>() else {
        flash(&flashes, "error", format!("请选择要推荐给{label}的服务。"));
        return Ok(Redirect::to(&back).into_response());
    };
    let mut tx = state.db.begin().await?;
    let (action, done): (&'static str, Option<String>) = match v("op") {
        "add" => (
            "recommend.add",
            content::recommend(&mut tx, aud, service)
                .await?
                .map(|name| format!("已将“{name}”推荐给{label}。")),
        ),
        "remove" => (
            "recommend.remove",
            content::unrecommend(&mut tx, aud, service)
                .await?
                .map(|name| format!("已将“{name}”从{label}的推荐服务中移除。")),
        ),
        op @ ("up" | "down") => (
            "recommend.move",
            content::move_recommended(&mut tx, aud, service, op == "up")
                .await?
                .then(|| "已调整顺序。".to_string()),
        ),
        _ => return Err(AppError::BadRequest("操作无效。")),
    };
    let Some(message) = done else {
        drop(tx);
        flash(
            &flashes,
            "info",
            "没有变化：该服务未发布、已在列表中、不在列表中，或已在最前/最后。",
        );
        return Ok(Redirect::to(&back).into_response());
    };
    Entry::about(format!("service:{service}"), action)
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "audience": aud, "op": v("op") }))
        .record(&mut *tx, state.now())
        .await?;
    tx.commit().await?;
    flash(&flashes, "success", message);
    Ok(Redirect::to(&back).into_response())
}
