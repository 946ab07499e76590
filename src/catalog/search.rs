//! 服务中心 search: filters from the query string, keyword + pinyin + initials matching
//! on one trigram-indexed column, ranked name > pinyin > tags > summary.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

pub const PAGE_SIZE: i64 = 20;

/// Raw query string. Everything is optional text so a hand-edited or stale URL never
/// fails to parse; bad values are ignored.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawFilters {
    pub q: Option<String>,
    pub aud: Option<String>,
    pub cat: Option<String>,
    pub dept: Option<String>,
    pub letter: Option<String>,
    pub sort: Option<String>,
    pub page: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filters {
    pub q: String,
    pub aud: Option<String>,
    pub cat: Option<i64>,
    pub dept: Option<i64>,
    pub letter: Option<char>,
    pub sort: Sort,
    pub page: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Recommended,
    Name,
    Updated,
}

impl Sort {
    pub fn code(self) -> &'static str {
        match self {
            Sort::Recommended => "",
            Sort::Name => "name",
            Sort::Updated => "updated",
        }
    }
}

impl From<RawFilters> for Filters {
    fn from(r: RawFilters) -> Self {
        let q: String = r.q.unwrap_or_default().trim().chars().take(50).collect();
        let aud = r
            .aud
            .filter(|a| super::model::AUDIENCES.iter().any(|(c, _)| c == a));
        let letter = r
            .letter
            .and_then(|l| l.chars().next())
            .filter(|c| c.is_ascii_alphabetic() || *c == '#')
            .map(|c| c.to_ascii_uppercase());
        let sort = match r.sort.as_deref() {
            Some("name") => Sort::Name,
            Some("updated") => Sort::Updated,
            _ => Sort::Recommended,
        };
        Filters {
            q,
            aud,
            cat: r.cat.and_then(|c| c.parse().ok()),
            dept: r.dept.and_then(|d| d.parse().ok()),
            letter,
            sort,
            page: r
                .page
                .and_then(|p| p.parse().ok())
                .unwrap_or(1)
                .clamp(1, 10_000),
        }
    }
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
            && self.aud.is_none()
            && self.cat.is_none()
            && self.dept.is_none()
            && self.letter.is_none()
    }

    /// The query string of these filters with some changed (`None` removes a key), so
    /// every link keeps the rest: shareable and back-button safe.
    pub fn with(&self, changes: &[(&str, Option<String>)]) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let mut put = |k: &'static str, v: Option<String>| {
            let v = changes
                .iter()
                .find(|(ck, _)| *ck == k)
                .map(|(_, cv)| cv.clone())
                .unwrap_or(v);
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                pairs.push((k, v));
            }
        };
        put("q", Some(self.q.clone()));
        put("aud", self.aud.clone());
        put("cat", self.cat.map(|c| c.to_string()));
        put("dept", self.dept.map(|d| d.to_string()));
        put("letter", self.letter.map(|l| l.to_string()));
        put("sort", Some(self.sort.code().to_owned()));
        // Any change of filters starts again at page 1.
        let page = changes
            .iter()
            .find(|(k, _)| *k == "page")
            .and_then(|(_, v)| v.clone());
        if let Some(p) = page {
            pairs.push(("page", p));
        }
        if pairs.is_empty() {
            return "/services".into();
        }
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("/services?{qs}")
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Hit {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub summary: String,
    pub kind: String,
    pub audiences: Vec<String>,
    pub tags: Vec<String>,
    pub department: String,
    pub category: String,
    pub icon: String,
    pub updated_at: DateTime<Utc>,
    pub score: i32,
    pub total: i64,
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub struct Results {
    pub hits: Vec<Hit>,
    pub total: i64,
}

struct Terms {
    /// `%term%` per whitespace-separated term.
    likes: Vec<String>,
    /// All grams those terms need.
    grams: Vec<String>,
    /// The query with spaces removed (pinyin typed with spaces), when it differs.
    joined: Option<(String, Vec<String>)>,
}

fn terms(q: &str) -> Option<Terms> {
    let words: Vec<&str> = q.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    let mut grams: Vec<String> = words
        .iter()
        .flat_map(|w| super::model::query_grams(w))
        .collect();
    grams.sort();
    grams.dedup();
    let joined = (words.len() > 1).then(|| {
        let j: String = words.concat();
        (
            format!("%{}%", like_escape(&j)),
            super::model::query_grams(&j),
        )
    });
    Some(Terms {
        likes: words
            .iter()
            .map(|w| format!("%{}%", like_escape(w)))
            .collect(),
        grams,
        joined,
    })
}

/// `WHERE …` shared by the page query and the count query.
fn push_where<'a>(b: &mut QueryBuilder<'a, Postgres>, f: &Filters, t: Option<&Terms>) {
    b.push(" WHERE s.status = 'published'");
    if let Some(t) = t {
        // The grams narrow the candidates through the GIN index; LIKE decides.
        b.push(" AND ((s.search_grams @> ")
            .push_bind(t.grams.clone())
            .push(" AND s.search_doc LIKE ALL(")
            .push_bind(t.likes.clone())
            .push("))");
        if let Some((like, grams)) = &t.joined {
            b.push(" OR (s.search_grams @> ")
                .push_bind(grams.clone())
                .push(" AND s.search_doc LIKE ")
                .push_bind(like.clone())
                .push(")");
        }
        b.push(")");
    }
    if let Some(a) = &f.aud {
        b.push(" AND ")
            .push_bind(a.clone())
            .push(" = ANY(s.audiences)");
    }
    if let Some(c) = f.cat {
        b.push(" AND s.category_id = ").push_bind(c);
    }
    if let Some(d) = f.dept {
        b.push(" AND s.department_id IN (SELECT dept_subtree(")
            .push_bind(d)
            .push("))");
    }
    if let Some(l) = f.letter {
        b.push(" AND s.initial = ").push_bind(l.to_string());
    }
}

pub async fn search(db: &PgPool, f: &Filters) -> sqlx::Result<Results> {
    let q = f.q.to_lowercase();
    let t = terms(&q);
    let mut b: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT s.id, s.code, s.name, s.summary, s.kind, s.audiences, s.tags, d.name AS department,
                c.name AS category, c.icon, s.updated_at, ",
    );
    match &t {
        None => {
            b.push("0 AS score, 0::bigint AS total");
        }
        Some(t) => {
            let joined = t
                .joined
                .as_ref()
                .map(|(l, _)| l.clone())
                .unwrap_or_else(|| t.likes[0].clone());
            b.push("(CASE WHEN lower(s.name) = ")
                .push_bind(q.clone())
                .push(" THEN 120 WHEN lower(s.name) LIKE ALL(")
                .push_bind(t.likes.clone())
                .push(") THEN 100 WHEN s.pinyin_full LIKE ")
                .push_bind(joined.clone())
                .push(" THEN 90 WHEN s.pinyin_initials LIKE ")
                .push_bind(joined)
                .push(" THEN 85 WHEN lower(array_to_string(s.tags, ' ')) LIKE ALL(")
                .push_bind(t.likes.clone())
                .push(") THEN 60 WHEN lower(s.summary) LIKE ALL(")
                .push_bind(t.likes.clone())
                .push(") THEN 30 ELSE 10 END) AS score, count(*) OVER () AS total");
        }
    }
    b.push(
        " FROM services s
         JOIN departments d ON d.id = s.department_id
         JOIN service_categories c ON c.id = s.category_id",
    );
    push_where(&mut b, f, t.as_ref());
    b.push(" ORDER BY ");
    match f.sort {
        Sort::Recommended => {
            if t.is_some() {
                b.push("score DESC, ");
            }
            b.push(
                "(cardinality(s.recommend_for) > 0) DESC, s.recommend_order, s.pinyin_full, s.id",
            );
        }
        Sort::Name => {
            b.push("s.pinyin_full, s.id");
        }
        Sort::Updated => {
            b.push("s.updated_at DESC, s.id DESC");
        }
    }
    b.push(" LIMIT ")
        .push_bind(PAGE_SIZE)
        .push(" OFFSET ")
        .push_bind((f.page - 1) * PAGE_SIZE);
    let hits: Vec<Hit> = b.build_query_as().fetch_all(db).await?;
    // With a keyword the window count is cheap (only matches are counted); without one,
    // or past the last page, count separately so the page itself stays an index scan.
    let total = match (hits.first(), &t) {
        (Some(h), Some(_)) => h.total,
        _ => {
            let mut c: QueryBuilder<Postgres> =
                QueryBuilder::new("SELECT count(*) FROM services s");
            push_where(&mut c, f, t.as_ref());
            c.build_query_scalar().fetch_one(db).await?
        }
    };
    Ok(Results { hits, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_ignored() {
        let f: Filters = RawFilters {
            q: Some("  工作 ".into()),
            aud: Some("martian".into()),
            cat: Some("".into()),
            dept: Some("x".into()),
            letter: Some("g".into()),
            sort: Some("name".into()),
            page: Some("-3".into()),
        }
        .into();
        assert_eq!(f.q, "工作");
        assert_eq!(f.aud, None);
        assert_eq!((f.cat, f.dept), (None, None));
        assert_eq!(f.letter, Some('G'));
        assert_eq!(f.sort, Sort::Name);
        assert_eq!(f.page, 1);
    }

    #[test]
    fn links_keep_other_filters_and_reset_the_page() {
        let f = Filters {
            q: "周报".into(),
            cat: Some(3),
            page: 4,
            ..Default::default()
        };
        assert_eq!(
            f.with(&[("letter", Some("G".into()))]),
            "/services?q=%E5%91%A8%E6%8A%A5&cat=3&letter=G"
        );
        assert_eq!(f.with(&[("cat", None)]), "/services?q=%E5%91%A8%E6%8A%A5");
        assert_eq!(
            f.with(&[("page", Some("5".into()))]),
            "/services?q=%E5%91%A8%E6%8A%A5&cat=3&page=5"
        );
        assert_eq!(Filters::default().with(&[]), "/services");
    }
}
