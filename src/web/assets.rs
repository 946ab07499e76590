//! Static files, embedded in the binary (nothing to deploy beside it) and served with a
//! content hash in the URL so browsers may cache them for a year.

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use crate::{error::AppError, web::AppState};

#[derive(RustEmbed)]
#[folder = "static/"]
struct Files;

pub struct Assets {
    /// path → short content hash
    hashes: HashMap<String, String>,
}

impl Assets {
    pub fn load() -> Self {
        let hashes = Files::iter()
            .filter_map(|p| {
                let f = Files::get(&p)?;
                let h = hex::encode(&Sha256::digest(&f.data)[..6]);
                Some((p.into_owned(), h))
            })
            .collect();
        Assets { hashes }
    }

    /// `/static/css/app.css?v=1a2b3c4d5e6f`
    pub fn url(&self, path: &str) -> String {
        match self.hashes.get(path) {
            Some(h) => format!("/static/{path}?v={h}"),
            None => format!("/static/{path}"),
        }
    }
}

#[derive(serde::Deserialize)]
pub struct Version {
    v: Option<String>,
}

pub async fn serve(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(q): Query<Version>,
) -> Result<Response, AppError> {
    let file = Files::get(&path).ok_or(AppError::NotFound)?;
    let hash = state.assets.hashes.get(&path).cloned().unwrap_or_default();
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    // Only a URL naming the current content may be cached forever.
    let cache = if q.v.as_deref() == Some(hash.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let mut res = (StatusCode::OK, file.data.into_owned()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime.as_ref())
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{hash}\"")) {
        h.insert(header::ETAG, etag);
    }
    Ok(res)
}
