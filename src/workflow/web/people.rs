//! The person picker's search (转办, 加签 and person fields).

use axum::{
    Json,
    extract::{Query, State},
    response::{IntoResponse, Response},
};

use crate::{
    error::{AppError, AppResult},
    org::people::{self, PersonHit},
    web::AppState,
    web::user::CurrentUser,
};

#[derive(serde::Deserialize)]
pub(super) struct PeopleQuery {
    #[serde(default)]
    q: String,
}

/// Searches one person may make per 10 minutes: plenty for picking people as one types
/// (a request per keystroke), too few to page through the whole directory.
const PEOPLE_SEARCHES: u32 = 300;

/// Ten matches (name or account) for signed-in people: names, accounts and departments
/// only.
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
    let term: String = q.q.trim().chars().take(30).collect();
    if term.is_empty() {
        return Ok(Json(Vec::<PersonHit>::new()).into_response());
    }
    Ok(Json(people::search(&state.db, &term).await?).into_response())
}
