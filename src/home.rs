//! 首页.

use askama::Template;
use askama_web::WebTemplate;
use axum::{Router, extract::State, routing::get};

use crate::{error::AppResult, org, state::AppState, web::page::Page};

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomeTemplate {
    pub page: Page,
    pub colleges: Vec<org::DeptSummary>,
    pub offices: Vec<org::DeptSummary>,
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(home))
}

async fn home(State(state): State<AppState>, page: Page) -> AppResult<HomeTemplate> {
    let depts = org::top_departments(&state.db).await?;
    let (colleges, offices) = depts.into_iter().partition(|d| d.kind == "college");
    Ok(HomeTemplate {
        page,
        colleges,
        offices,
    })
}
