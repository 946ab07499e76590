//! The signed-in person: session keys, the per-request user load (with idle and absolute
//! lifetimes on the app's clock), and the extractors handlers use.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use crate::{error::AppError, web::AppState};

// The person and extractors live in the web kernel; identity fills them in.
pub use crate::web::user::{
    AdminUser, CSRF, ClientIp, CurrentUser, MaybeUser, badge_label, safe_next, urlencode,
    user_agent, user_type_label,
};

pub const UID: &str = "uid";
pub const AUTH_AT: &str = "auth_at";
pub const SEEN_AT: &str = "seen_at";
pub const EPOCH: &str = "auth_epoch";
/// The random mark of this sign-in in `sign_ins` ("this device" in 安全中心).
pub const DEVICE: &str = "device";

#[derive(sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub(crate) struct UserRow {
    id: i64,
    account: String,
    name: String,
    user_type: String,
    department: Option<String>,
    is_admin: bool,
    manages_services: bool,
    must_change_password: bool,
    auth_epoch: i32,
    pending: i64,
    unread_messages: i64,
    cc_unread: i64,
    drafts: i64,
    has_phone: bool,
}

/// The session key under which the session store hands over the person it loaded with
/// the session (see `store`); never stored.
pub(crate) const USER_KEY: &str = "__user";

/// The signed-in person with the header's badge counts: `$pre`, then the query for the
/// person matching `$cond` (with `active`), then `$post`, which must keep only `p.active`.
///
/// The person is found by `$cond` alone, inside a fence (`OFFSET 0`), and whether they
/// are active is read from the row: with `u.status = 'active'` in the WHERE, a planner
/// whose statistics predate a bulk insert of people chose `users (status, account)`,
/// computed every active person's badge subqueries and only then joined on the id —
/// 7.5 ms of PostgreSQL per request at 168 people, most of a 通过's cost (issue 16).
macro_rules! user_sql {
    ($pre:literal, $cond:literal, $post:literal) => {
        concat!(
            $pre,
            "SELECT u.id, u.account, u.name, u.user_type, d.name AS department,
        u.must_change_password, u.auth_epoch, u.phone IS NOT NULL AS has_phone,
        u.status = 'active' AS active, ",
            // The counts are the 个人中心's (center owns that query).
            crate::center::badges::badge_columns!(),
            ",
        EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                WHERE ur.user_id = u.id AND r.code = 'system_admin') AS is_admin,
        (EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                 WHERE ur.user_id = u.id AND r.code = 'service_admin')
         OR EXISTS (SELECT 1 FROM service_admins sa WHERE sa.user_id = u.id)) AS manages_services
 FROM users u LEFT JOIN departments d ON d.id = u.department_id",
            crate::center::badges::badge_joins!(),
            "
 WHERE ",
            $cond,
            " OFFSET 0",
            $post
        )
    };
}
pub(crate) use user_sql;

/// The signed-in person of every request, with the header's badge counts. $1 = user id.
pub const USER_SQL: &str = user_sql!("SELECT * FROM (", "u.id = $1", ") p WHERE p.active");

impl From<UserRow> for CurrentUser {
    fn from(u: UserRow) -> Self {
        CurrentUser {
            id: u.id,
            account: u.account,
            name: u.name,
            user_type: u.user_type,
            department: u.department,
            is_admin: u.is_admin,
            manages_services: u.manages_services,
            must_change_password: u.must_change_password,
            pending: u.pending,
            unread_messages: u.unread_messages,
            cc_unread: u.cc_unread,
            drafts: u.drafts,
            has_phone: u.has_phone,
        }
    }
}

/// The active person with this id, as a signed-in request would see them (the JSON API
/// acts for the person a token was issued to).
pub async fn current_user(db: &sqlx::PgPool, id: i64) -> sqlx::Result<Option<CurrentUser>> {
    let row: Option<UserRow> = sqlx::query_as(USER_SQL).bind(id).fetch_optional(db).await?;
    Ok(row.map(CurrentUser::from))
}

/// Paths a person who must change the initial password may still reach.
fn allowed_before_password_change(path: &str) -> bool {
    path == "/password/change"
        || path == "/logout"
        || path.starts_with("/static/")
        || path == "/healthz"
        || path == "/readyz"
}

/// Loads the session's user into the request (as `CurrentUser`), ending sessions that
/// outlived their idle or absolute limit or whose credentials changed since sign-in.
pub async fn load_user(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    match user_then(&state, session, req, next).await {
        Ok(res) => res,
        // This layer is outside the styled error pages: style its own failures (503
        // while the database is unreachable) the same way.
        Err(e) => crate::web::errors::styled_anonymous(&state, path, e.into_response()),
    }
}

async fn user_then(
    state: &AppState,
    session: Session,
    mut req: Request,
    next: Next,
) -> Result<Response, AppError> {
    if let Some(uid) = session.get::<i64>(UID).await? {
        let now = state.now().timestamp();
        let auth_at = session.get::<i64>(AUTH_AT).await?.unwrap_or(0);
        let seen_at = session.get::<i64>(SEEN_AT).await?.unwrap_or(auth_at);
        let epoch = session.get::<i32>(EPOCH).await?.unwrap_or(-1);
        let s = &state.settings;
        let expired = now - auth_at > s.session_absolute.as_secs() as i64
            || now - seen_at > s.session_idle.as_secs() as i64;
        let row: Option<UserRow> = if expired {
            None
        } else if let Some(u) = session.get::<UserRow>(USER_KEY).await?
            && u.id == uid
        {
            // Loaded with the session, in the same query (see `store`).
            Some(u)
        } else {
            // A session saved before its person was recorded with it, or whose person
            // is gone or disabled.
            crate::db::health::retry_sqlx("load the signed-in person", || {
                sqlx::query_as(USER_SQL).bind(uid).fetch_optional(&state.db)
            })
            .await?
        };
        match row {
            Some(u) if u.auth_epoch == epoch => {
                // Write the activity stamp at most once a minute: fewer session writes.
                if now - seen_at >= 60 {
                    session.insert(SEEN_AT, now).await?;
                }
                let user = CurrentUser::from(u);
                if user.must_change_password && !allowed_before_password_change(req.uri().path()) {
                    return Ok(Redirect::to("/password/change").into_response());
                }
                // 信息完善: a 安全手机 before anything else (after the initial password).
                // Only where codes can be sent: otherwise nobody could get past it.
                if !user.must_change_password
                    && !user.has_phone
                    && state.settings.sms.is_some()
                    && !allowed_before_password_change(req.uri().path())
                    && !req.uri().path().starts_with("/security/phone")
                {
                    return Ok(Redirect::to("/security/phone").into_response());
                }
                req.extensions_mut().insert(user);
            }
            _ => {
                // Expired, disabled, or signed out elsewhere: forget the session entirely.
                session.flush().await?;
            }
        }
    }
    Ok(next.run(req).await)
}
