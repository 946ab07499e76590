//! The person picker's search (转办, 加签 and person fields).

use axum::{
    Json,
    extract::{Query, State},
    response::{IntoResponse, Response},
};

use crate::{
    error::{AppError, AppResult},
    org::people::{self, PersonHit, Within},
    web::AppState,
    web::user::CurrentUser,
    workflow::usecase::form::picker_scope,
};

#[derive(serde::Deserialize)]
pub(super) struct PeopleQuery {
    #[serde(default)]
    q: String,
    /// The asking person field's key, with the form it is in: a service's (`service`) or
    /// an application's (`app`).
    field: Option<String>,
    service: Option<i64>,
    app: Option<i64>,
}

/// Searches one person may make per 10 minutes: plenty for picking people as one types
/// (a request per keystroke), too few to page through the whole directory.
const PEOPLE_SEARCHES: u32 = 300;

/// Ten matches (name or account) for signed-in people: names, accounts and departments
/// only, within what the asking field takes (教职工, 学生, the applicant's college). Without
/// a field only 管理后台's people (试算's applicant) may search, everyone.
pub(super) async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<PeopleQuery>,
) -> AppResult<Response> {
    if !crate::web::limit::allow(
        &state.db,
        "people_search",
        user.id,
        state.now(),
        PEOPLE_SEARCHES,
        chrono::Duration::minutes(10),
    )
    .await?
    {
        return Err(AppError::TooManyRequests);
    }
    let within = match &q.field {
        Some(field) => picker_scope(&state.db, &user, q.service, q.app, field).await?,
        None if user.may_enter_admin() => Within::ANYONE,
        None => return Err(AppError::NotFound),
    };
    let term: String = q.q.trim().chars().take(30).collect();
    if term.is_empty() {
        return Ok(Json(Vec::<PersonHit>::new()).into_response());
    }
    Ok(Json(people::search(&state.db, &term, within).await?).into_response())
}
