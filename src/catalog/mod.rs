//! 服务中心, 服务指南, 收藏 and 通知公告.

pub mod content;
pub mod generate;
mod guide;
pub mod model;
pub mod notices;
pub mod search;
pub mod store;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Extension, Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use sqlx::PgPool;
use std::{pin::Pin, sync::Arc};

use crate::{
    error::{AppError, AppResult},
    web::AppState,
    web::{
        page::{Flashes, Page, flash},
        user::{CurrentUser, MaybeUser, safe_next},
    },
};
pub use guide::{GuidePreview, GuideTemplate, Viewer, guide_page};
use model::{AUDIENCES, StartRule, audience_label, kind_label};
use search::{Filters, RawFilters, Sort};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/services", get(services))
        .route("/services/{id}", get(guide::guide))
        .route("/favorites", get(favorites_page).post(toggle_favorite))
        .route("/notices", get(notices::list))
        .route("/notices/{id}", get(notices::detail))
}

/// How the 办事指南 learns the steps of a service's workflow: given by the composition
/// root, because the catalog does not depend on the workflow (the workflow depends on the
/// catalog).
#[derive(Clone, Copy)]
pub struct GuideSteps(pub StepsFn);

pub type StepsFn =
    fn(PgPool, i64) -> Pin<Box<dyn Future<Output = anyhow::Result<Vec<String>>> + Send>>;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Option2 {
    pub id: i64,
    pub name: String,
    pub count: i64,
}

/// Published-service counts per category and per top department, shown on 首页 and as
/// 服务中心 filters. They change only when services are published, so each instance keeps
/// them for `FACET_TTL` instead of counting on every page view.
#[derive(Default)]
pub struct FacetCache {
    inner: std::sync::Mutex<Option<(std::time::Instant, Facets)>>,
    /// Bumped by `invalidate`: counts begun before it are not kept.
    generation: std::sync::atomic::AtomicU64,
}

pub const FACET_TTL: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone)]
pub struct Facets {
    pub categories: Vec<CategoryCount>,
    pub departments: Vec<Option2>,
}

impl FacetCache {
    pub async fn get(&self, db: &sqlx::PgPool) -> sqlx::Result<Facets> {
        use std::sync::atomic::Ordering;
        if let Some((at, f)) = self.inner.lock().expect("facet lock").as_ref()
            && at.elapsed() < FACET_TTL
        {
            return Ok(f.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let fresh = Facets {
            categories: categories_with_counts(db).await?,
            departments: departments_with_counts(db).await?,
        };
        let mut slot = self.inner.lock().expect("facet lock");
        // A change announced while counting may not be in these counts: use them once,
        // keep nothing.
        if self.generation.load(Ordering::Acquire) == generation {
            *slot = Some((std::time::Instant::now(), fresh.clone()));
        }
        Ok(fresh)
    }

    /// After a change to services: here (admin pages) or on another instance (announced
    /// on `workflow::store::versions::CHANNEL`, heard by `db::listen`).
    pub fn invalidate(&self) {
        let mut slot = self.inner.lock().expect("facet lock");
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        *slot = None;
    }
}

pub async fn categories_with_counts(db: &sqlx::PgPool) -> sqlx::Result<Vec<CategoryCount>> {
    sqlx::query_as(
        "SELECT c.id, c.name, c.icon, COALESCE(n.count, 0) AS count
         FROM service_categories c
         LEFT JOIN (SELECT category_id, count(*) AS count FROM services
                    WHERE status = 'published' GROUP BY category_id) n ON n.category_id = c.id
         ORDER BY c.sort_order, c.id",
    )
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryCount {
    pub id: i64,
    pub name: String,
    pub icon: String,
    pub count: i64,
}

/// Top departments (学院, 部处) with the published services of their subtrees.
pub async fn departments_with_counts(db: &sqlx::PgPool) -> sqlx::Result<Vec<Option2>> {
    sqlx::query_as(
        // One pass over the services: count per department, then roll each department up
        // to its top-level ancestor.
        "WITH RECURSIVE top AS (
             SELECT d.id, d.id AS top_id FROM departments d
             JOIN departments p ON p.id = d.parent_id AND p.parent_id IS NULL
             UNION ALL
             SELECT c.id, top.top_id FROM departments c JOIN top ON c.parent_id = top.id
         ), per_dept AS (
             SELECT department_id, count(*) AS n FROM services WHERE status = 'published'
             GROUP BY department_id
         )
         SELECT t.id, t.name,
                COALESCE((SELECT sum(pd.n) FROM per_dept pd JOIN top ON top.id = pd.department_id
                          WHERE top.top_id = t.id), 0)::bigint AS count
         FROM departments t JOIN departments p ON p.id = t.parent_id AND p.parent_id IS NULL
         ORDER BY t.sort_order, t.id",
    )
    .fetch_all(db)
    .await
}

/// Which of `ids` the user has favorited.
pub async fn favorite_ids(
    db: &sqlx::PgPool,
    user: Option<&CurrentUser>,
    kind: &str,
    ids: &[i64],
) -> sqlx::Result<Vec<i64>> {
    let Some(u) = user else { return Ok(Vec::new()) };
    sqlx::query_scalar(
        "SELECT target_id FROM favorites WHERE user_id = $1 AND kind = $2 AND target_id = ANY($3)",
    )
    .bind(u.id)
    .bind(kind)
    .bind(ids)
    .fetch_all(db)
    .await
}

pub struct Letter {
    pub letter: char,
    pub href: String,
    pub active: bool,
}

pub struct Chip {
    pub label: String,
    pub href: String,
    pub active: bool,
}

pub struct HitView {
    pub hit: search::Hit,
    pub favorited: bool,
    pub updated: String,
}

impl HitView {
    pub fn kind_label(&self) -> &'static str {
        kind_label(&self.hit.kind)
    }
    pub fn audience_labels(&self) -> Vec<&'static str> {
        self.hit
            .audiences
            .iter()
            .map(|a| audience_label(a))
            .collect()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "catalog/services.html")]
pub struct ServicesTemplate {
    pub page: Page,
    pub filters: Filters,
    pub audiences: Vec<Chip>,
    pub categories: Vec<Chip>,
    pub departments: Vec<Chip>,
    pub letters: Vec<Letter>,
    pub sorts: Vec<Chip>,
    pub hits: Vec<HitView>,
    pub total: i64,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    pub last_page: i64,
    pub clear_href: String,
    pub here: String,
}

async fn services(
    State(state): State<AppState>,
    Extension(facet_cache): Extension<Arc<FacetCache>>,
    MaybeUser(user): MaybeUser,
    page: Page,
    Query(raw): Query<RawFilters>,
) -> AppResult<ServicesTemplate> {
    let f: Filters = raw.into();
    let db = &state.db;
    let results = search::search(db, &f).await?;
    let facets = facet_cache.get(db).await?;
    let ids: Vec<i64> = results.hits.iter().map(|h| h.id).collect();
    let favs = favorite_ids(db, user.as_ref(), "service", &ids).await?;
    let tz = state.settings.time_zone;
    let hits = results
        .hits
        .into_iter()
        .map(|h| HitView {
            favorited: favs.contains(&h.id),
            updated: h
                .updated_at
                .with_timezone(&tz)
                .format("%Y-%m-%d")
                .to_string(),
            hit: h,
        })
        .collect();
    let chip = |label: String, key: &str, value: Option<String>, active: bool| Chip {
        label,
        href: f.with(&[(key, if active { None } else { value })]),
        active,
    };
    let mut audiences = vec![Chip {
        label: "全部".into(),
        href: f.with(&[("aud", None)]),
        active: f.aud.is_none(),
    }];
    audiences.extend(AUDIENCES.iter().map(|(code, label)| {
        chip(
            (*label).into(),
            "aud",
            Some((*code).into()),
            f.aud.as_deref() == Some(*code),
        )
    }));
    let mut categories = vec![Chip {
        label: "全部".into(),
        href: f.with(&[("cat", None)]),
        active: f.cat.is_none(),
    }];
    categories.extend(
        facets
            .categories
            .into_iter()
            .filter(|c| c.count > 0)
            .map(|c| chip(c.name, "cat", Some(c.id.to_string()), f.cat == Some(c.id))),
    );
    let mut departments = vec![Chip {
        label: "全部".into(),
        href: f.with(&[("dept", None)]),
        active: f.dept.is_none(),
    }];
    departments.extend(
        facets
            .departments
            .into_iter()
            .filter(|d| d.count > 0 || f.dept == Some(d.id))
            .map(|d| chip(d.name, "dept", Some(d.id.to_string()), f.dept == Some(d.id))),
    );
    let letters = ('A'..='Z')
        .map(|l| Letter {
            letter: l,
            active: f.letter == Some(l),
            href: f.with(&[(
                "letter",
                if f.letter == Some(l) {
                    None
                } else {
                    Some(l.to_string())
                },
            )]),
        })
        .collect();
    let sorts = [
        (Sort::Recommended, "推荐"),
        (Sort::Name, "名称"),
        (Sort::Updated, "最近更新"),
    ]
    .into_iter()
    .map(|(s, label)| Chip {
        label: label.into(),
        href: f.with(&[("sort", Some(s.code().into()))]),
        active: f.sort == s,
    })
    .collect();
    let last_page = ((results.total + search::PAGE_SIZE - 1) / search::PAGE_SIZE).max(1);
    let prev_href = (f.page > 1).then(|| f.with(&[("page", Some((f.page - 1).to_string()))]));
    let next_href =
        (f.page < last_page).then(|| f.with(&[("page", Some((f.page + 1).to_string()))]));
    let here = f.with(&[("page", (f.page > 1).then(|| f.page.to_string()))]);
    Ok(ServicesTemplate {
        page,
        clear_href: "/services".into(),
        filters: f,
        audiences,
        categories,
        departments,
        letters,
        sorts,
        hits,
        total: results.total,
        prev_href,
        next_href,
        last_page,
        here,
    })
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServiceDetail {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub department_id: i64,
    pub department: String,
    pub category: String,
    pub audiences: Vec<String>,
    pub tags: Vec<String>,
    pub summary: String,
    pub conditions: String,
    pub materials: String,
    pub process: String,
    pub time_limit: String,
    pub location: String,
    pub phone: String,
    pub faq: String,
    pub kind: String,
    pub external_url: Option<String>,
    pub start_user_types: Vec<String>,
    pub start_department_ids: Vec<i64>,
    pub start_roles: Vec<String>,
    pub status: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl ServiceDetail {
    pub fn rule(&self) -> StartRule {
        StartRule {
            start_user_types: self.start_user_types.clone(),
            start_department_ids: self.start_department_ids.clone(),
            start_roles: self.start_roles.clone(),
        }
    }
    pub fn kind_label(&self) -> &'static str {
        kind_label(&self.kind)
    }
    pub fn audience_labels(&self) -> Vec<&'static str> {
        self.audiences.iter().map(|a| audience_label(a)).collect()
    }
    /// Guide sections that have content, in the manuals' order, as sanitised HTML from
    /// their Markdown.
    pub fn sections_html(&self) -> Vec<(&'static str, String)> {
        self.sections()
            .into_iter()
            .map(|(title, md)| (title, notices::render_guide(md)))
            .collect()
    }

    /// Guide sections that have content, in the manuals' order.
    pub fn sections(&self) -> Vec<(&'static str, &str)> {
        [
            ("办理条件", self.conditions.as_str()),
            ("所需材料", self.materials.as_str()),
            ("办理流程", self.process.as_str()),
            ("办理时限", self.time_limit.as_str()),
            ("办理地点", self.location.as_str()),
            ("咨询电话", self.phone.as_str()),
            ("常见问题", self.faq.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
    }
}

/// What 立即办理 says about a service that has been taken offline.
pub const OFFLINE: &str =
    "该服务已下线，暂停受理新的申请；已提交的申请将继续办理至办结。如有疑问，请咨询服务部门。";

/// A published service (anyone), or any service for a 系统管理员; else 404.
pub async fn load_service(
    db: &PgPool,
    id: i64,
    user: Option<&CurrentUser>,
) -> AppResult<ServiceDetail> {
    match service_detail(db, id).await? {
        Some(s) if s.status == "published" || user.is_some_and(|u| u.is_admin) => Ok(s),
        _ => Err(AppError::NotFound),
    }
}

/// A service 立即办理 may start: as `load_service`, but one taken offline is refused for
/// everyone (a 系统管理员 too) with `OFFLINE`, so a bookmark or 我的收藏 learns why.
pub async fn load_startable(
    db: &PgPool,
    id: i64,
    user: Option<&CurrentUser>,
) -> AppResult<ServiceDetail> {
    match service_detail(db, id).await? {
        Some(s) if s.status == "offline" => Err(AppError::Forbidden(OFFLINE)),
        Some(s) if s.status == "published" || user.is_some_and(|u| u.is_admin) => Ok(s),
        _ => Err(AppError::NotFound),
    }
}

/// A service in any status (draft, published, offline): for the callers that have
/// checked who may see it.
pub async fn service_detail(db: &PgPool, id: i64) -> sqlx::Result<Option<ServiceDetail>> {
    sqlx::query_as(
        "SELECT s.id, s.code, s.name, s.department_id, d.name AS department, c.name AS category,
                s.audiences, s.tags, s.summary, s.conditions, s.materials, s.process, s.time_limit,
                s.location, s.phone, s.faq, s.kind, s.external_url, s.start_user_types,
                s.start_department_ids, s.start_roles, s.status, s.updated_at
         FROM services s JOIN departments d ON d.id = s.department_id
         JOIN service_categories c ON c.id = s.category_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

#[derive(Template, WebTemplate)]
#[template(path = "catalog/no_permission.html")]
pub struct NoPermissionTemplate {
    pub page: Page,
    pub s: ServiceDetail,
    pub reason: String,
    pub who: String,
}

/// A service's name (also of services no longer published: old applications name them).
pub async fn service_name(db: &PgPool, id: i64) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT name FROM services WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
}

#[derive(Deserialize)]
pub struct FavoriteForm {
    kind: String,
    id: i64,
    back: Option<String>,
}

/// 收藏 / 取消收藏. A plain form post (redirects back) or, from the page script,
/// `Accept: application/json` (answers the new state).
async fn toggle_favorite(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    headers: HeaderMap,
    Form(form): Form<FavoriteForm>,
) -> AppResult<Response> {
    let table = match form.kind.as_str() {
        "service" => "services",
        "system" => "campus_systems",
        _ => return Err(AppError::BadRequest("无法收藏该对象。")),
    };
    let exists: bool = if table == "services" {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM services WHERE id = $1 AND status = 'published')",
        )
        .bind(form.id)
        .fetch_one(&state.db)
        .await?
    } else {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM campus_systems WHERE id = $1)")
            .bind(form.id)
            .fetch_one(&state.db)
            .await?
    };
    if !exists {
        return Err(AppError::NotFound);
    }
    // One statement each way, so double clicks cannot leave duplicates or errors.
    let removed =
        sqlx::query("DELETE FROM favorites WHERE user_id = $1 AND kind = $2 AND target_id = $3")
            .bind(user.id)
            .bind(&form.kind)
            .bind(form.id)
            .execute(&state.db)
            .await?
            .rows_affected();
    let favorited = if removed == 0 {
        sqlx::query(
            "INSERT INTO favorites (user_id, kind, target_id, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(user.id)
        .bind(&form.kind)
        .bind(form.id)
        .bind(state.now())
        .execute(&state.db)
        .await?;
        true
    } else {
        false
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Ok(Json(serde_json::json!({ "favorited": favorited })).into_response());
    }
    flash(
        &flashes,
        "success",
        if favorited {
            "已收藏"
        } else {
            "已取消收藏"
        },
    );
    Ok(Redirect::to(&safe_next(form.back.as_deref())).into_response())
}

pub struct FavService {
    pub id: i64,
    pub name: String,
    pub department: String,
    pub kind: String,
}

impl FavService {
    pub fn kind_label(&self) -> &'static str {
        kind_label(&self.kind)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SystemView {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub icon: String,
    pub description: String,
}

pub async fn favorite_services(db: &sqlx::PgPool, user_id: i64) -> sqlx::Result<Vec<FavService>> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT s.id, s.name, d.name, s.kind FROM favorites f
         JOIN services s ON s.id = f.target_id AND s.status = 'published'
         JOIN departments d ON d.id = s.department_id
         WHERE f.user_id = $1 AND f.kind = 'service' ORDER BY f.created_at DESC",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, department, kind)| FavService {
            id,
            name,
            department,
            kind,
        })
        .collect())
}

pub async fn favorite_systems(db: &sqlx::PgPool, user_id: i64) -> sqlx::Result<Vec<SystemView>> {
    sqlx::query_as(
        // A system registered with the sign-in provider opens through it (signed in).
        "SELECT c.id, c.name, CASE WHEN c.sso_client_id IS NULL THEN c.url ELSE '/systems/' || c.id || '/go' END AS url, c.icon, c.description FROM favorites f
         JOIN campus_systems c ON c.id = f.target_id
         WHERE f.user_id = $1 AND f.kind = 'system' ORDER BY f.created_at DESC",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

#[derive(Template, WebTemplate)]
#[template(path = "catalog/favorites.html")]
pub struct FavoritesTemplate {
    pub page: Page,
    /// 我的收藏 is one of 个人中心's tabs.
    pub tabs: Vec<crate::center::lists::Tab>,
    pub services: Vec<FavService>,
    pub systems: Vec<SystemView>,
}

async fn favorites_page(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
) -> AppResult<FavoritesTemplate> {
    Ok(FavoritesTemplate {
        page,
        tabs: crate::center::lists::tabs_at(&state, &user, "/favorites").await?,
        services: favorite_services(&state.db, user.id).await?,
        systems: favorite_systems(&state.db, user.id).await?,
    })
}
