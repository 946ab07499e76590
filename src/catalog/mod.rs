//! 服务中心. The service catalog (services, categories, search) builds on this page; until
//! services are published it lists the 服务部门 and says plainly that none are online.

use askama::Template;
use askama_web::WebTemplate;
use axum::{Router, extract::State, routing::get};

use crate::{error::AppResult, org, state::AppState, web::page::Page};

pub fn routes() -> Router<AppState> {
    Router::new().route("/services", get(services))
}

#[derive(Template, WebTemplate)]
#[template(path = "catalog/services.html")]
pub struct ServicesTemplate {
    pub page: Page,
    pub departments: Vec<org::DeptSummary>,
}

async fn services(State(state): State<AppState>, page: Page) -> AppResult<ServicesTemplate> {
    Ok(ServicesTemplate {
        page,
        departments: org::top_departments(&state.db).await?,
    })
}
