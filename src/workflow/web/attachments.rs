//! Downloading an attachment.

use axum::{
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::{
    error::AppResult,
    forms::files,
    web::AppState,
    web::user::CurrentUser,
    workflow::{store, usecase},
};

/// An attachment, for people who may see its application; always as a download, streamed
/// from the database in slices so a large file never sits whole in memory.
pub(super) async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let meta = usecase::files::download(&state.db, &user, id).await?;
    const SLICE: i64 = 256 * 1024;
    let size = meta.size;
    let db = state.db.clone();
    let stream = futures_util::stream::unfold(0i64, move |offset| {
        let db = db.clone();
        async move {
            if offset >= size {
                return None;
            }
            let chunk = store::attachments::slice(&db, id, offset, SLICE).await;
            if let Err(e) = &chunk {
                tracing::error!(error = %e, attachment = id, "attachment read failed mid-download");
            }
            Some((chunk.map(Bytes::from), offset + SLICE))
        }
    });
    let mut res = Body::from_stream(stream).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(v) = HeaderValue::from_str(&files::content_disposition(&meta.file_name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(res)
}
