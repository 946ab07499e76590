//! Whose form the designer edits: a service's working copy (`/admin/services/{id}/form`,
//! for its `Manager`) or a 填报任务's form (`/admin/collections/{id}/form`, for the task's
//! owner or a 系统管理员; anyone else 404). The pages and actions are the same for both;
//! what differs is here: who may, loading and saving at a revision, the addresses, the
//! page head, and what the form may hold (a 填报任务 has no workflow and, for now, no
//! attachments).

use std::{collections::HashMap, net::IpAddr};

use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::{
    admin::{access::Manager, head::ServiceHead},
    collect,
    error::{AppError, AppResult},
    forms::FormSchema,
    web::{
        AppState,
        user::{CurrentUser, urlencode},
    },
    workflow::{
        model::Definition,
        usecase::versions::{self as uc, VersionError},
    },
};

/// A stale revision: someone saved since the page was shown.
pub const STALE: &str = "草稿已被他人修改，请刷新后再试";
/// A published 填报任务: its responses are kept by the form's keys.
pub const PUBLISHED: &str = "填报任务已发布，表单不能再修改。";

/// The form being designed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    Service(i64),
    Collection(i64),
}

/// Which kind of host a route serves (an `Extension` on the designer's routes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    Service,
    Collection,
}

/// Someone allowed to design `host`'s form: a handler's proof of the permission check.
pub struct Designer {
    pub host: Host,
    pub user: CurrentUser,
}

impl FromRequestParts<AppState> for Designer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let kind = parts
            .extensions
            .get::<HostKind>()
            .copied()
            .unwrap_or(HostKind::Service);
        match kind {
            HostKind::Service => {
                let m = Manager::from_request_parts(parts, state).await?;
                let id = id(parts, state).await?;
                m.service(&state.db, id)
                    .await
                    .map_err(IntoResponse::into_response)?;
                Ok(Designer {
                    host: Host::Service(id),
                    user: m.user,
                })
            }
            HostKind::Collection => {
                let user = CurrentUser::from_request_parts(parts, state).await?;
                let id = id(parts, state).await?;
                collect::owned_task(&state.db, &user, id)
                    .await
                    .map_err(IntoResponse::into_response)?;
                Ok(Designer {
                    host: Host::Collection(id),
                    user,
                })
            }
        }
    }
}

/// The route's `{id}`; 404 when it is not a number.
async fn id(parts: &mut Parts, state: &AppState) -> Result<i64, Response> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|_| AppError::NotFound.into_response())?;
    params
        .get("id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AppError::NotFound.into_response())
}

/// The form as the designer edits it, with what is needed to save it again.
pub struct Copy {
    pub form: FormSchema,
    /// The service's workflow (a 填报任务 has none).
    pub workflow: Option<Definition>,
    /// The revision shown (`None`: a service without a saved draft).
    pub revision: Option<i32>,
    base_number: Option<i32>,
    /// Who saved it when, or `None` while a service has no draft.
    pub saved: Option<String>,
    /// Why the form no longer changes (a published 填报任务).
    pub frozen: Option<&'static str>,
}

/// Why a change was not saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsaved {
    Stale,
    Frozen(&'static str),
}

impl Unsaved {
    pub fn message(self) -> &'static str {
        match self {
            Unsaved::Stale => STALE,
            Unsaved::Frozen(m) => m,
        }
    }
}

fn when(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// The page head: a service's name and tabs, or the 填报任务's title.
pub enum HostHead {
    Service(ServiceHead),
    Collection(CollectionHead),
}

pub struct CollectionHead {
    pub id: i64,
    pub title: String,
    pub published: bool,
}

impl HostHead {
    pub fn service(&self) -> Option<&ServiceHead> {
        match self {
            HostHead::Service(h) => Some(h),
            HostHead::Collection(_) => None,
        }
    }

    pub fn collection(&self) -> Option<&CollectionHead> {
        match self {
            HostHead::Collection(c) => Some(c),
            HostHead::Service(_) => None,
        }
    }

    /// For the page title.
    pub fn name(&self) -> &str {
        match self {
            HostHead::Service(h) => &h.name,
            HostHead::Collection(c) => &c.title,
        }
    }
}

impl Host {
    /// `/admin/services/1/form`
    pub fn url(self) -> String {
        match self {
            Host::Service(id) => format!("/admin/services/{id}/form"),
            Host::Collection(id) => format!("/admin/collections/{id}/form"),
        }
    }

    /// `/admin/services/1/form/fields/days`
    pub fn field_url(self, key: &str) -> String {
        format!("{}/fields/{}", self.url(), urlencode(key))
    }

    pub fn column_url(self, table: &str, col: &str) -> String {
        format!("{}/columns/{}", self.field_url(table), urlencode(col))
    }

    /// Call after the permission check (`Designer`).
    pub async fn head(self, state: &AppState) -> AppResult<HostHead> {
        Ok(match self {
            Host::Service(id) => HostHead::Service(ServiceHead::load(&state.db, id, "form").await?),
            Host::Collection(id) => {
                let t = collect::store::task(&state.db, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                HostHead::Collection(CollectionHead {
                    id,
                    title: t.title,
                    published: t.published_at.is_some(),
                })
            }
        })
    }

    pub async fn load(self, state: &AppState) -> AppResult<Copy> {
        let tz = state.settings.time_zone;
        match self {
            Host::Service(id) => {
                let wc = uc::working_copy(&state.db, id).await?;
                let saved = wc.saved.as_ref().map(|d| {
                    format!(
                        "{} 于 {} 保存（修订 {}）",
                        d.updated_by.as_deref().unwrap_or("系统"),
                        when(d.updated_at, tz),
                        d.revision
                    )
                });
                Ok(Copy {
                    form: wc.form,
                    workflow: Some(wc.workflow),
                    revision: wc.revision,
                    base_number: wc.base_number,
                    saved,
                    frozen: None,
                })
            }
            Host::Collection(id) => {
                let t = collect::store::task(&state.db, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                Ok(Copy {
                    form: t.form.0,
                    workflow: None,
                    revision: Some(t.revision),
                    base_number: None,
                    saved: Some(format!(
                        "最近于 {} 修改（修订 {}）",
                        when(t.updated_at, tz),
                        t.revision
                    )),
                    frozen: t.published_at.map(|_| PUBLISHED),
                })
            }
        }
    }

    /// Saves `copy` (as changed) at the revision it was loaded at; the new revision.
    pub async fn save(
        self,
        state: &AppState,
        copy: &Copy,
        by: i64,
        ip: Option<IpAddr>,
    ) -> AppResult<Result<i32, Unsaved>> {
        match self {
            Host::Service(id) => {
                let workflow = copy.workflow.as_ref().expect("a service has a workflow");
                match uc::save(
                    &state.db,
                    id,
                    &copy.form,
                    workflow,
                    copy.base_number,
                    copy.revision,
                    by,
                    ip,
                    state.now(),
                )
                .await
                {
                    Ok(revision) => Ok(Ok(revision)),
                    Err(VersionError::Stale) => Ok(Err(Unsaved::Stale)),
                    Err(e) => Err(e.into()),
                }
            }
            Host::Collection(id) => {
                let Some(seen) = copy.revision else {
                    return Ok(Err(Unsaved::Stale));
                };
                let r =
                    collect::store::save_form(&state.db, id, &copy.form, seen, by, ip, state.now())
                        .await?;
                Ok(r.map_err(|e| match e {
                    collect::store::FormRefused::Stale => Unsaved::Stale,
                    collect::store::FormRefused::Published => Unsaved::Frozen(PUBLISHED),
                }))
            }
        }
    }

    /// Every problem of the form (and of a service's workflow with it).
    pub fn problems(self, copy: &Copy) -> Vec<String> {
        match &copy.workflow {
            Some(w) => uc::problems(&copy.form, w),
            None => copy.form.problems(),
        }
    }
}
