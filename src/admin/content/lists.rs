//! 推荐系统, 便民服务 and 服务分类: the ordered lists of the home page, each edited the
//! same way — the list with 上移 / 下移 / 编辑 / 删除 and a form to add one at the end.
//! A category is deleted only while no service uses it; a category change is announced
//! (the home page and 服务中心 cache the categories with their counts).

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Extension, Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde_json::json;

use super::{Posted, announce_categories, drop_local};
use crate::{
    audit::Entry,
    catalog::{
        FacetCache,
        content::{self, Deleted, ICONS, Item, List, VIEWERS, viewer_label},
    },
    error::{AppError, AppResult},
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::{AdminUser, ClientIp},
    },
};

pub const NAME_MAX: usize = 30;
pub const DESCRIPTION_MAX: usize = 60;

/// A list as the pages name it.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub list: List,
    pub slug: &'static str,
    pub title: &'static str,
    /// What one row is called: 系统, 链接, 分类.
    pub noun: &'static str,
    audit: &'static str,
}

impl Kind {
    fn of(slug: &str) -> AppResult<Kind> {
        Ok(match slug {
            "systems" => Kind {
                list: List::Systems,
                slug: "systems",
                title: "推荐系统",
                noun: "系统",
                audit: "system",
            },
            "links" => Kind {
                list: List::Links,
                slug: "links",
                title: "便民服务",
                noun: "链接",
                audit: "link",
            },
            "categories" => Kind {
                list: List::Categories,
                slug: "categories",
                title: "服务分类",
                noun: "分类",
                audit: "category",
            },
            _ => return Err(AppError::NotFound),
        })
    }
    pub fn has_url(&self) -> bool {
        self.list != List::Categories
    }
    pub fn has_icon(&self) -> bool {
        self.list != List::Links
    }
    pub fn is_system(&self) -> bool {
        self.list == List::Systems
    }
    pub fn is_category(&self) -> bool {
        self.list == List::Categories
    }
    fn action(&self, verb: &str) -> &'static str {
        // Audit actions are static strings: one per list and verb.
        match (self.audit, verb) {
            ("system", "create") => "system.create",
            ("system", "update") => "system.update",
            ("system", "delete") => "system.delete",
            ("system", _) => "system.move",
            ("link", "create") => "link.create",
            ("link", "update") => "link.update",
            ("link", "delete") => "link.delete",
            ("link", _) => "link.move",
            (_, "create") => "category.create",
            (_, "update") => "category.update",
            (_, "delete") => "category.delete",
            _ => "category.move",
        }
    }
}

pub struct Row {
    pub item: Item,
    pub audience: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/content_list.html")]
pub struct ListTemplate {
    pub page: Page,
    pub tab: &'static str,
    pub kind: Kind,
    pub rows: Vec<Row>,
    /// The add form (at the end), or the edit form of `editing`.
    pub form: Posted,
    pub editing: Option<i64>,
    pub viewers: &'static [(&'static str, &'static str)],
    pub icons: &'static [&'static str],
    pub alert: Option<String>,
}

impl ListTemplate {
    pub fn is_editing(&self, id: &i64) -> bool {
        self.editing == Some(*id)
    }
    pub fn icon_checked(&self, icon: &str) -> bool {
        self.form.v("icon") == icon
    }
}

/// `GET /admin/content`
pub(super) async fn overview(_admin: AdminUser) -> Redirect {
    Redirect::to("/admin/content/notices")
}

async fn render(
    state: &AppState,
    page: Page,
    kind: Kind,
    form: Posted,
    editing: Option<i64>,
    alert: Option<String>,
) -> AppResult<ListTemplate> {
    let rows = content::items(&state.db, kind.list)
        .await?
        .into_iter()
        .map(|item| Row {
            audience: if item.audiences.is_empty() {
                "所有人".into()
            } else {
                item.audiences
                    .iter()
                    .map(|c| viewer_label(c))
                    .collect::<Vec<_>>()
                    .join("、")
            },
            item,
        })
        .collect();
    Ok(ListTemplate {
        page,
        tab: kind.slug,
        kind,
        rows,
        form,
        editing,
        viewers: &VIEWERS,
        icons: &ICONS,
        alert,
    })
}

fn blank() -> Posted {
    let mut f = Posted::default();
    f.set("icon", "default".into());
    f
}

/// `GET /admin/content/{list}`
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Path(slug): Path<String>,
) -> AppResult<ListTemplate> {
    let kind = Kind::of(&slug)?;
    render(&state, page, kind, blank(), None, None).await
}

/// Checks what was posted for a row of `kind`.
pub fn validate(kind: Kind, form: &mut Posted) -> Option<Item> {
    form.check_nul();
    let mut item = Item {
        name: form.text("name", "名称", NAME_MAX, true),
        ..Item::default()
    };
    if kind.has_url() {
        item.url = form.url("url", "网址");
    }
    if kind.has_icon() {
        let icon = form.v("icon").trim();
        if ICONS.contains(&icon) {
            item.icon = icon.to_string();
        } else {
            form.add_error("icon", "请从列出的图标中选择");
        }
    }
    if kind.is_system() {
        item.description = form.text("description", "简介", DESCRIPTION_MAX, false);
        item.audiences = form.viewers("audiences");
    }
    if kind.is_category() {
        let code = form.v("code").trim().to_ascii_uppercase();
        if code.is_empty() {
            form.add_error("code", "请填写分类编码");
        } else if !code_ok(&code) {
            form.add_error(
                "code",
                "编码为大写英文字母开头的 2–16 位大写字母或数字，如 STU",
            );
        }
        form.set("code", code.clone());
        item.code = code;
    }
    (!form.has_errors()).then_some(item)
}

fn code_ok(code: &str) -> bool {
    (2..=16).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_uppercase())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

async fn invalid(
    state: &AppState,
    page: Page,
    kind: Kind,
    form: Posted,
    editing: Option<i64>,
) -> AppResult<Response> {
    let t = render(state, page, kind, form, editing, None).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response())
}

const CODE_TAKEN: &str = "该编码已被其他分类使用，请换一个";

/// `POST /admin/content/{list}`: adds a row at the end.
#[allow(clippy::too_many_arguments)]
pub(super) async fn create(
    State(state): State<AppState>,
    Extension(facets): Extension<Arc<FacetCache>>,
    AdminUser(admin): AdminUser,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(slug): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let kind = Kind::of(&slug)?;
    let mut form = Posted::from_pairs(pairs);
    let Some(item) = validate(kind, &mut form) else {
        return invalid(&state, page, kind, form, None).await;
    };
    let mut tx = state.db.begin().await?;
    let Some(id) = content::insert_item(&mut tx, kind.list, &item).await? else {
        drop(tx);
        form.add_error("code", CODE_TAKEN);
        return invalid(&state, page, kind, form, None).await;
    };
    Entry::about(format!("{}:{id}", kind.audit), kind.action("create"))
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({ "name": item.name, "url": item.url, "code": item.code }))
        .record(&mut *tx, state.now())
        .await?;
    finish(tx, kind, &facets).await?;
    flash(
        &flashes,
        "success",
        format!("已添加{}“{}”。", kind.noun, item.name),
    );
    Ok(Redirect::to(&format!("/admin/content/{}", kind.slug)).into_response())
}

/// Commits; a category change is announced to every instance in the transaction and this
/// instance's cached categories dropped after it.
async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    kind: Kind,
    facets: &Arc<FacetCache>,
) -> AppResult<()> {
    if kind.is_category() {
        announce_categories(&mut tx).await?;
    }
    tx.commit().await?;
    if kind.is_category() {
        drop_local(facets);
    }
    Ok(())
}

/// `GET /admin/content/{list}/{id}`: the list with this row's form.
pub(super) async fn edit(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Page,
    Path((slug, id)): Path<(String, i64)>,
) -> AppResult<ListTemplate> {
    let kind = Kind::of(&slug)?;
    let item = content::item(&state.db, kind.list, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut form = Posted::default();
    form.set("name", item.name);
    form.set("url", item.url);
    form.set("icon", item.icon);
    form.set("description", item.description);
    form.set("code", item.code);
    for a in item.audiences {
        form.push("audiences", a);
    }
    render(&state, page, kind, form, Some(id), None).await
}

/// `POST /admin/content/{list}/{id}`
#[allow(clippy::too_many_arguments)]
pub(super) async fn update(
    State(state): State<AppState>,
    Extension(facets): Extension<Arc<FacetCache>>,
    AdminUser(admin): AdminUser,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path((slug, id)): Path<(String, i64)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let kind = Kind::of(&slug)?;
    let old = content::item(&state.db, kind.list, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut form = Posted::from_pairs(pairs);
    let Some(item) = validate(kind, &mut form) else {
        return invalid(&state, page, kind, form, Some(id)).await;
    };
    let mut tx = state.db.begin().await?;
    if !content::update_item(&mut tx, kind.list, id, &item).await? {
        drop(tx);
        if content::item(&state.db, kind.list, id).await?.is_none() {
            return Err(AppError::NotFound);
        }
        form.add_error("code", CODE_TAKEN);
        return invalid(&state, page, kind, form, Some(id)).await;
    }
    Entry::about(format!("{}:{id}", kind.audit), kind.action("update"))
        .by(Some(admin.id))
        .ip(ip)
        .detail(json!({
            "before": { "name": old.name, "url": old.url, "code": old.code, "icon": old.icon,
                        "audiences": old.audiences },
            "after": { "name": item.name, "url": item.url, "code": item.code, "icon": item.icon,
                       "audiences": item.audiences },
        }))
        .record(&mut *tx, state.now())
        .await?;
    finish(tx, kind, &facets).await?;
    flash(
        &flashes,
        "success",
        format!("已保存{}“{}”。", kind.noun, item.name),
    );
    Ok(Redirect::to(&format!("/admin/content/{}", kind.slug)).into_response())
}

/// `POST /admin/content/{list}/{id}/delete`
pub(super) async fn delete(
    State(state): State<AppState>,
    Extension(facets): Extension<Arc<FacetCache>>,
    AdminUser(admin): AdminUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path((slug, id)): Path<(String, i64)>,
) -> AppResult<Response> {
    let kind = Kind::of(&slug)?;
    let back = format!("/admin/content/{}", kind.slug);
    let mut tx = state.db.begin().await?;
    match content::delete_item(&mut tx, kind.list, id).await? {
        Deleted::Gone => Err(AppError::NotFound),
        Deleted::InUse(n) => {
            drop(tx);
            flash(
                &flashes,
                "error",
                format!(
                    "无法删除：还有 {n} 项服务属于这个分类。请先在“服务管理”中把它们改到其他分类。"
                ),
            );
            Ok(Redirect::to(&back).into_response())
        }
        Deleted::Done(name) => {
            Entry::about(format!("{}:{id}", kind.audit), kind.action("delete"))
                .by(Some(admin.id))
                .ip(ip)
                .detail(json!({ "name": name }))
                .record(&mut *tx, state.now())
                .await?;
            finish(tx, kind, &facets).await?;
            flash(
                &flashes,
                "success",
                format!("已删除{}“{name}”。", kind.noun),
            );
            Ok(Redirect::to(&back).into_response())
        }
    }
}

/// `POST /admin/content/{list}/{id}/move` (`dir` = up | down): 上移 / 下移.
#[allow(clippy::too_many_arguments)]
pub(super) async fn move_item(
    State(state): State<AppState>,
    Extension(facets): Extension<Arc<FacetCache>>,
    AdminUser(admin): AdminUser,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path((slug, id)): Path<(String, i64)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let kind = Kind::of(&slug)?;
    let up = match pairs
        .iter()
        .find(|(k, _)| k == "dir")
        .map(|(_, v)| v.as_str())
    {
        Some("up") => true,
        Some("down") => false,
        _ => return Err(AppError::BadRequest("移动方向无效。")),
    };
    let mut tx = state.db.begin().await?;
    if content::item(&state.db, kind.list, id).await?.is_none() {
        return Err(AppError::NotFound);
    }
    if content::move_item(&mut tx, kind.list, id, up).await? {
        Entry::about(format!("{}:{id}", kind.audit), kind.action("move"))
            .by(Some(admin.id))
            .ip(ip)
            .detail(json!({ "dir": if up { "up" } else { "down" } }))
            .record(&mut *tx, state.now())
            .await?;
        finish(tx, kind, &facets).await?;
    } else {
        flash(
            &flashes,
            "info",
            if up {
                "已经是第一个。"
            } else {
                "已经是最后一个。"
            },
        );
    }
    Ok(Redirect::to(&format!("/admin/content/{}#row-{id}", kind.slug)).into_response())
}
