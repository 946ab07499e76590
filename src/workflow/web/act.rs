//! The actions of the application page: 通过, 退回, 中止, 转办, 加签, 撤回, 催办, 评价.

use axum::{
    Form,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};

use super::{application, ctx};
use crate::{
    error::AppResult,
    web::AppState,
    web::{
        page::{Flashes, Page, flash},
        user::{ClientIp, CurrentUser},
    },
    workflow::usecase::act::{self, Outcome, Request},
};

pub(super) async fn post(
    State(state): State<AppState>,
    user: CurrentUser,
    flashes: Flashes,
    page: Page,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let req = Request::parse(pairs)?;
    let c = ctx(&state, &user, ip).await;
    let back = Redirect::to(&format!("/applications/{id}"));
    Ok(match act::act(&state.db, &c, &user, id, req).await? {
        Outcome::Done(msg) => {
            flash(&flashes, "success", msg);
            back.into_response()
        }
        // Nothing was applied; the message goes back to the page.
        Outcome::Refused(msg) => {
            flash(&flashes, "error", msg);
            back.into_response()
        }
        Outcome::Invalid(view) => application::render(page, *view),
    })
}
