//! 首页: search, 推荐服务, 服务分类, 直通部门, 推荐系统, 便民服务, 通知公告, and for
//! signed-in people 我的收藏.

use askama::Template;
use askama_web::WebTemplate;
use std::sync::Arc;

use axum::{Extension, Router, extract::State, routing::get};

use crate::{
    catalog::{
        self, CategoryCount, FavService, Option2, SystemView,
        model::{kind_label, viewer_audience},
        notices::{self, NoticeItem},
    },
    error::{AppError, AppResult},
    web::AppState,
    web::{
        page::Page,
        user::{CurrentUser, MaybeUser},
    },
};

pub struct Recommended {
    pub id: i64,
    pub name: String,
    pub department: String,
    pub kind: String,
}

impl Recommended {
    pub fn kind_label(&self) -> &'static str {
        kind_label(&self.kind)
    }
}

pub struct SystemTile {
    pub sys: SystemView,
    pub favorited: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomeTemplate {
    pub page: Page,
    pub recommended: Vec<Recommended>,
    pub categories: Vec<CategoryCount>,
    pub departments: Vec<Option2>,
    pub systems: Vec<SystemTile>,
    pub links: Vec<(String, String)>,
    pub notices: Vec<NoticeItem>,
    pub fav_services: Vec<FavService>,
    pub fav_systems: Vec<SystemView>,
    /// 我常用的: services I started most (top 8).
    pub frequent: Vec<Recommended>,
    /// 常用系统: the campus systems I opened most from the hall (top 6).
    pub common_systems: Vec<SystemView>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/systems/{id}/opened", axum::routing::post(opened))
}

/// 常用系统's memory: an open counts half as much after this long (30 days).
const HALF_LIFE_SECONDS: f64 = 30.0 * 86_400.0;

/// A campus system opened from the hall (the page script posts it as the link opens):
/// counted for 常用系统. 204; an unknown system is 404.
async fn opened(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> AppResult<axum::http::StatusCode> {
    let n = sqlx::query(
        "INSERT INTO system_opens (user_id, system_id, last_at)
         SELECT $1, c.id, $3 FROM campus_systems c WHERE c.id = $2
         ON CONFLICT (user_id, system_id)
         DO UPDATE SET opens = system_opens.opens + 1,
                       score = system_opens.score * power(0.5::float8,
                           greatest(extract(epoch FROM EXCLUDED.last_at - system_opens.last_at), 0)::float8
                           / $4) + 1,
                       last_at = greatest(EXCLUDED.last_at, system_opens.last_at)",
    )
    .bind(user.id)
    .bind(id)
    .bind(state.now())
    .bind(HALF_LIFE_SECONDS)
    .execute(&state.db)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn home(
    State(state): State<AppState>,
    Extension(facet_cache): Extension<Arc<catalog::FacetCache>>,
    MaybeUser(user): MaybeUser,
    page: Page,
) -> AppResult<HomeTemplate> {
    let db = &state.db;
    let facets = facet_cache.get(db).await?;
    let aud = viewer_audience(user.as_ref());
    let recommended: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT s.id, s.name, d.name, s.kind FROM services s JOIN departments d ON d.id = s.department_id
         WHERE s.status = 'published' AND $1 = ANY(s.recommend_for)
         ORDER BY COALESCE((s.recommend_positions ->> $1)::int, s.recommend_order), s.id LIMIT 8",
    )
    .bind(aud)
    .fetch_all(db)
    .await?;
    let systems: Vec<SystemView> = sqlx::query_as(
        // A system registered with the sign-in provider opens through it (signed in).
        "SELECT c.id, c.name, CASE WHEN c.sso_client_id IS NULL THEN c.url ELSE '/systems/' || c.id || '/go' END AS url, c.icon, c.description FROM campus_systems c
         WHERE cardinality(c.audiences) = 0 OR $1 = ANY(c.audiences) ORDER BY c.sort_order, c.id",
    )
    .bind(aud)
    .fetch_all(db)
    .await?;
    let sys_ids: Vec<i64> = systems.iter().map(|s| s.id).collect();
    let fav_sys = catalog::favorite_ids(db, user.as_ref(), "system", &sys_ids).await?;
    let links = sqlx::query_as("SELECT name, url FROM convenience_links ORDER BY sort_order, id")
        .fetch_all(db)
        .await?;
    let frequent: Vec<(i64, String, String, String)> = match &user {
        Some(u) => {
            sqlx::query_as(
                "SELECT s.id, s.name, d.name, s.kind FROM applications a
                 JOIN services s ON s.id = a.service_id AND s.status = 'published'
                 JOIN departments d ON d.id = s.department_id
                 WHERE a.applicant_id = $1 AND a.status <> 'draft'
                 GROUP BY s.id, s.name, d.name, s.kind
                 ORDER BY count(*) DESC, max(a.created_at) DESC LIMIT 8",
            )
            .bind(u.id)
            .fetch_all(db)
            .await?
        }
        None => Vec::new(),
    };
    let common_systems: Vec<SystemView> = match &user {
        Some(u) => {
            sqlx::query_as(
                "SELECT c.id, c.name, CASE WHEN c.sso_client_id IS NULL THEN c.url ELSE '/systems/' || c.id || '/go' END AS url, c.icon, c.description FROM system_opens o
                 JOIN campus_systems c ON c.id = o.system_id
                 WHERE o.user_id = $1 AND (cardinality(c.audiences) = 0 OR $2 = ANY(c.audiences))
                 ORDER BY o.score * power(0.5::float8,
                              greatest(extract(epoch FROM $3 - o.last_at), 0)::float8 / $4) DESC,
                          o.last_at DESC LIMIT 6",
            )
            .bind(u.id)
            .bind(aud)
            .bind(state.now())
            .bind(HALF_LIFE_SECONDS)
            .fetch_all(db)
            .await?
        }
        None => Vec::new(),
    };
    let (fav_services, fav_systems) = match &user {
        Some(u) => (
            catalog::favorite_services(db, u.id).await?,
            catalog::favorite_systems(db, u.id).await?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    Ok(HomeTemplate {
        page,
        recommended: recommended
            .into_iter()
            .map(|(id, name, department, kind)| Recommended {
                id,
                name,
                department,
                kind,
            })
            .collect(),
        categories: facets.categories,
        departments: facets
            .departments
            .into_iter()
            .filter(|d| d.count > 0)
            .collect(),
        systems: systems
            .into_iter()
            .map(|s| SystemTile {
                favorited: fav_sys.contains(&s.id),
                sys: s,
            })
            .collect(),
        links,
        notices: notices::latest(&state, aud, 6, 0).await?,
        fav_services,
        fav_systems,
        common_systems,
        frequent: frequent
            .into_iter()
            .map(|(id, name, department, kind)| Recommended {
                id,
                name,
                department,
                kind,
            })
            .collect(),
    })
}
