//! Who may do what in 管理后台's service pages: a 系统管理员 everything; a 服务管理员
//! (the `service_admin` role, scoped to a department and everything below it, or a row in
//! `service_admins` for one service) only the services of their departments; anyone else
//! 403 on every page and action.

use std::collections::HashMap;

use axum::{
    extract::{FromRequestParts, Path, Request, State},
    http::request::Parts,
    middleware::Next,
    response::{IntoResponse, Response},
};
use sqlx::PgPool;

use crate::{
    error::{AppError, AppResult},
    web::{AppState, user::CurrentUser},
};

pub const FORBIDDEN: &str = "您没有访问管理后台的权限。";
pub const NOT_YOURS: &str = "该服务不属于您管理的部门。";

/// A person who may use the service pages of 管理后台, with their scope.
#[derive(Clone, Debug)]
pub struct Manager {
    pub user: CurrentUser,
    /// 系统管理员, or a 服务管理员 without a department: every service.
    pub all: bool,
    /// The departments (each with everything below it) whose services they manage.
    pub departments: Vec<i64>,
}

impl FromRequestParts<AppState> for Manager {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        Manager::of(&state.db, user)
            .await
            .map_err(IntoResponse::into_response)?
            .ok_or_else(|| AppError::Forbidden(FORBIDDEN).into_response())
    }
}

impl Manager {
    /// `user`'s scope, or `None` when they manage no service at all.
    pub async fn of(db: &PgPool, user: CurrentUser) -> AppResult<Option<Manager>> {
        if user.is_admin {
            return Ok(Some(Manager {
                user,
                all: true,
                departments: vec![],
            }));
        }
        let (global, departments, per_service): (bool, Vec<i64>, bool) = sqlx::query_as(
            "SELECT COALESCE(bool_or(ur.department_id IS NULL), false),
                    COALESCE(array_agg(ur.department_id) FILTER (WHERE ur.department_id IS NOT NULL), '{}'),
                    EXISTS (SELECT 1 FROM service_admins WHERE user_id = $1)
             FROM user_roles ur JOIN roles r ON r.id = ur.role_id
             WHERE ur.user_id = $1 AND r.code = 'service_admin'",
        )
        .bind(user.id)
        .fetch_one(db)
        .await?;
        if !global && departments.is_empty() && !per_service {
            return Ok(None);
        }
        Ok(Some(Manager {
            user,
            all: global,
            departments,
        }))
    }

    pub fn id(&self) -> i64 {
        self.user.id
    }

    /// May manage service `id`: Ok, or 403 for a service outside the scope. An unknown id
    /// is 404 only for those who manage everything (others learn nothing of which ids
    /// exist).
    pub async fn service(&self, db: &PgPool, id: i64) -> AppResult<()> {
        let (exists, mine): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM services WHERE id = $1),
                    EXISTS (SELECT 1 FROM services s WHERE s.id = $1 AND (
                        s.department_id IN (SELECT dept_subtree(d) FROM unnest($2::bigint[]) d)
                        OR EXISTS (SELECT 1 FROM service_admins sa
                                   WHERE sa.service_id = s.id AND sa.user_id = $3)))",
        )
        .bind(id)
        .bind(&self.departments)
        .bind(self.user.id)
        .fetch_one(db)
        .await?;
        match (self.all, exists, mine) {
            (true, true, _) | (false, _, true) => Ok(()),
            (true, false, _) => Err(AppError::NotFound),
            (false, _, false) => Err(AppError::Forbidden(NOT_YOURS)),
        }
    }

    /// May put a service into department `id` (creating or moving one).
    pub async fn department(&self, db: &PgPool, id: i64) -> AppResult<bool> {
        if self.all {
            return Ok(true);
        }
        Ok(
            sqlx::query_scalar("SELECT $1 IN (SELECT dept_subtree(d) FROM unnest($2::bigint[]) d)")
                .bind(id)
                .bind(&self.departments)
                .fetch_one(db)
                .await?,
        )
    }

    /// The ids of the services this person manages (`None`: all of them), for lists.
    pub async fn service_ids(&self, db: &PgPool) -> AppResult<Option<Vec<i64>>> {
        if self.all {
            return Ok(None);
        }
        Ok(Some(
            sqlx::query_scalar(
                "SELECT s.id FROM services s
                 WHERE s.department_id IN (SELECT dept_subtree(d) FROM unnest($1::bigint[]) d)
                    OR EXISTS (SELECT 1 FROM service_admins sa WHERE sa.service_id = s.id AND sa.user_id = $2)",
            )
            .bind(&self.departments)
            .bind(self.user.id)
            .fetch_all(db)
            .await?,
        ))
    }
}

/// Route layer of `/admin/services/{id}/…`: the person must manage service `id`, checked
/// before the handler reads anything else of the request. (Handlers check again with
/// `Manager::service`; this is the gate that answers first.)
pub async fn guard(
    State(state): State<AppState>,
    m: Manager,
    Path(params): Path<HashMap<String, String>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(id) = params.get("id").and_then(|v| v.parse::<i64>().ok()) else {
        return AppError::NotFound.into_response();
    };
    match m.service(&state.db, id).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}
