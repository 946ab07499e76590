//! 首页内容 (系统管理员 only): 通知公告 (`notices.rs`), 推荐系统 / 便民服务 / 服务分类
//! (`lists.rs`) and 推荐服务 (`recommend.rs`). The catalog owns the tables
//! (`catalog::content`); every write is audited. The home page reads notices, systems,
//! links and recommendations per request; only the categories are cached (in
//! `catalog::FacetCache`), so a category change is announced to every instance.

mod lists;
mod notices;
mod recommend;

use std::sync::Arc;

use axum::{
    Router,
    routing::{get, post},
};
use sqlx::PgConnection;

use crate::{catalog::FacetCache, web::AppState, workflow::store::versions};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/content", get(lists::overview))
        .route(
            "/admin/content/notices",
            get(notices::list).post(notices::create),
        )
        .route("/admin/content/notices/new", get(notices::new))
        .route("/admin/content/notices/preview", post(notices::preview))
        .route(
            "/admin/content/notices/{id}",
            get(notices::edit).post(notices::update),
        )
        .route("/admin/content/notices/{id}/delete", post(notices::delete))
        .route(
            "/admin/content/recommend",
            get(recommend::page).post(recommend::post),
        )
        .route(
            "/admin/content/{list}",
            get(lists::list).post(lists::create),
        )
        .route(
            "/admin/content/{list}/{id}",
            get(lists::edit).post(lists::update),
        )
        .route("/admin/content/{list}/{id}/delete", post(lists::delete))
        .route("/admin/content/{list}/{id}/move", post(lists::move_item))
}

/// What a form posted, as typed (NUL characters, which PostgreSQL cannot store, taken
/// out and remembered), with the messages for its fields.
#[derive(Debug, Clone, Default)]
pub struct Posted {
    pairs: Vec<(String, String)>,
    nul: Vec<String>,
    errors: Vec<(String, String)>,
}

/// The message for a field that held NUL characters.
const NUL: &str = "含有无效字符（空字符），已删除，请检查后重新提交";

impl Posted {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Posted {
        let mut nul = Vec::new();
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| {
                if v.contains('\0') {
                    nul.push(k.clone());
                    (k, v.replace('\0', ""))
                } else {
                    (k, v)
                }
            })
            .collect();
        Posted {
            pairs,
            nul,
            errors: Vec::new(),
        }
    }
    pub fn v(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn checked(&self, key: &str, value: &str) -> bool {
        self.all(key).contains(&value)
    }
    pub fn set(&mut self, key: &str, value: String) {
        self.pairs.retain(|(k, _)| k != key);
        self.pairs.push((key.to_string(), value));
    }
    pub fn push(&mut self, key: &str, value: String) {
        self.pairs.push((key.to_string(), value));
    }
    pub fn err(&self, key: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, m)| m.as_str())
    }
    /// The first message per field counts.
    pub fn add_error(&mut self, key: &str, message: impl Into<String>) {
        if self.err(key).is_none() {
            self.errors.push((key.to_string(), message.into()));
        }
    }
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
    pub fn error_count(&self) -> usize {
        self.errors.len()
    }
    /// Fields that held NUL characters get their message.
    pub fn check_nul(&mut self) {
        for k in self.nul.clone() {
            self.add_error(&k, NUL);
        }
    }
    /// A required single-line text of at most `max` characters, trimmed.
    pub fn text(&mut self, key: &str, label: &str, max: usize, required: bool) -> String {
        let v = self.v(key).trim().to_string();
        if required && v.is_empty() {
            self.add_error(key, format!("请填写{label}"));
        } else if v.chars().count() > max {
            self.add_error(key, format!("{label}不能超过 {max} 个字"));
        }
        v
    }
    /// An http(s) address.
    pub fn url(&mut self, key: &str, label: &str) -> String {
        let v = self.v(key).trim().to_string();
        if v.is_empty() {
            self.add_error(key, format!("请填写{label}"));
        } else if v.len() > URL_MAX {
            self.add_error(key, format!("{label}不能超过 {URL_MAX} 个字符"));
        } else if !url_ok(&v) {
            self.add_error(
                key,
                "请填写以 http:// 或 https:// 开头的完整网址，如 https://lib.example.edu.cn",
            );
        }
        v
    }
    /// The posted viewer kinds (`catalog::content::VIEWERS`); none = everyone.
    pub fn viewers(&mut self, key: &str) -> Vec<String> {
        let all = self.all(key);
        let known: Vec<String> = crate::catalog::content::VIEWERS
            .iter()
            .filter(|(c, _)| all.contains(c))
            .map(|(c, _)| c.to_string())
            .collect();
        if known.len() != all.len() {
            self.add_error(key, "请从列出的对象中选择");
        }
        known
    }
}

pub const URL_MAX: usize = 500;

/// An absolute http(s) URL with a host and nothing a browser would read differently.
pub fn url_ok(u: &str) -> bool {
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    match url::Url::parse(u) {
        Ok(p) => {
            matches!(p.scheme(), "http" | "https")
                && p.host_str().is_some_and(|h| !h.is_empty())
                && (u.starts_with("http://") || u.starts_with("https://"))
        }
        Err(_) => false,
    }
}

/// Tells every instance that the cached categories are stale (at commit; the payload is
/// not a service, which listeners do not read), and drops this instance's copy after.
pub(super) async fn announce_categories(conn: &mut PgConnection) -> sqlx::Result<()> {
    versions::announce(conn, 0).await
}

pub(super) fn drop_local(facets: &Arc<FacetCache>) {
    facets.invalidate();
}

#[cfg(test)]
mod tests {
    use super::{Posted, url_ok};

    #[test]
    fn only_http_addresses() {
        assert!(url_ok("https://lib.example.edu.cn/x?y=1"));
        assert!(url_ok("http://10.0.0.1:8080/"));
        assert!(!url_ok("javascript:alert(1)"));
        assert!(!url_ok("HTTPS://x"));
        assert!(!url_ok("https://"));
        assert!(!url_ok("ftp://x.cn"));
        assert!(!url_ok("https://x.cn/a b"));
        assert!(!url_ok("//x.cn"));
    }

    #[test]
    fn posted_keeps_input_and_reports_fields() {
        let mut p = Posted::from_pairs(vec![
            ("name".into(), "  图书\0馆 ".into()),
            ("aud".into(), "student".into()),
            ("aud".into(), "robot".into()),
        ]);
        p.check_nul();
        assert_eq!(p.text("name", "名称", 2, true), "图书馆");
        assert!(p.err("name").unwrap().contains("空字符"));
        assert_eq!(p.viewers("aud"), vec!["student".to_string()]);
        assert!(p.err("aud").is_some());
        assert_eq!(p.v("name"), "  图书馆 ");
    }
}
