//! The home page's content as 管理后台 edits it: 通知公告, 推荐系统, 便民服务, 服务分类 and
//! the order of 推荐服务. Every write of these tables is here (catalog owns them); the
//! caller checks the input, audits and commits.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Who a notice or a system is for; none = everyone.
pub const VIEWERS: [(&str, &str); 3] = [
    ("student", "学生"),
    ("staff", "教职工"),
    ("visitor", "访客（未登录）"),
];

pub fn viewer_label(code: &str) -> &'static str {
    VIEWERS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
        .unwrap_or("其他")
}

/// Icons a category or a system may have: files `static/img/icons/<name>.svg`.
pub const ICONS: [&str; 17] = [
    "default",
    "academic",
    "admin",
    "card",
    "finance",
    "global",
    "health",
    "library",
    "logistics",
    "mail",
    "network",
    "party",
    "people",
    "safety",
    "student",
    "system",
    "vpn",
];

// ---- 通知公告 ----

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeInput {
    pub title: String,
    pub body: String,
    pub department_id: Option<i64>,
    pub published_at: DateTime<Utc>,
    pub visible_until: Option<DateTime<Utc>>,
    pub pinned: bool,
    pub audiences: Vec<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Notice {
    pub id: i64,
    pub title: String,
    pub body_markdown: String,
    pub department_id: Option<i64>,
    pub department: Option<String>,
    pub published_at: DateTime<Utc>,
    pub visible_until: Option<DateTime<Utc>>,
    pub pinned: bool,
    pub audiences: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

const NOTICE_COLS: &str = "a.id, a.title, a.body_markdown, a.department_id, d.name AS department,
    a.published_at, a.visible_until, a.pinned, a.audiences, a.updated_at
    FROM announcements a LEFT JOIN departments d ON d.id = a.department_id";

/// Every notice, newest first (also those not shown yet or any more), at most `limit`.
pub async fn notices(db: &PgPool, limit: i64, offset: i64) -> sqlx::Result<Vec<Notice>> {
    sqlx::query_as(&format!(
        "SELECT {NOTICE_COLS} ORDER BY a.pinned DESC, a.published_at DESC, a.id DESC
         LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

pub async fn notice(db: &PgPool, id: i64) -> sqlx::Result<Option<Notice>> {
    sqlx::query_as(&format!("SELECT {NOTICE_COLS} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn insert_notice(
    conn: &mut PgConnection,
    n: &NoticeInput,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO announcements (title, body_markdown, department_id, published_at,
             visible_until, pinned, audiences, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(&n.title)
    .bind(&n.body)
    .bind(n.department_id)
    .bind(n.published_at)
    .bind(n.visible_until)
    .bind(n.pinned)
    .bind(&n.audiences)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Writes only while the notice is as the editor saw it (`seen` = its `updated_at`);
/// false when someone else saved (or deleted) it meanwhile.
pub async fn update_notice(
    conn: &mut PgConnection,
    id: i64,
    n: &NoticeInput,
    seen: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE announcements SET title = $2, body_markdown = $3, department_id = $4,
             published_at = $5, visible_until = $6, pinned = $7, audiences = $8,
             updated_at = GREATEST($9, updated_at + interval '1 microsecond')
         WHERE id = $1 AND updated_at = $10",
    )
    .bind(id)
    .bind(&n.title)
    .bind(&n.body)
    .bind(n.department_id)
    .bind(n.published_at)
    .bind(n.visible_until)
    .bind(n.pinned)
    .bind(&n.audiences)
    .bind(now)
    .bind(seen)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The deleted notice's title, or `None` when there was none.
pub async fn delete_notice(conn: &mut PgConnection, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("DELETE FROM announcements WHERE id = $1 RETURNING title")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The SQL condition for "shown now to viewer `$aud`" on `announcements a`, with the
/// time as `$now`: inside the publish window, for everyone or for this kind of viewer.
pub fn notice_visible(now: &str, aud: &str) -> String {
    format!(
        "a.published_at <= {now} AND (a.visible_until IS NULL OR a.visible_until > {now})
         AND (cardinality(a.audiences) = 0 OR {aud} = ANY(a.audiences))"
    )
}

// ---- 推荐系统, 便民服务, 服务分类: lists in an order ----

/// The ordered lists of the home page that 管理后台 edits the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Systems,
    Links,
    Categories,
}

impl List {
    fn table(self) -> &'static str {
        match self {
            List::Systems => "campus_systems",
            List::Links => "convenience_links",
            List::Categories => "service_categories",
        }
    }
}

/// One row of any of the lists; fields a list lacks are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Item {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub url: String,
    pub icon: String,
    pub description: String,
    pub audiences: Vec<String>,
    /// Categories: the services in it (any status).
    pub uses: i64,
}

fn select(list: List) -> &'static str {
    match list {
        List::Systems => {
            "SELECT id, '' AS code, name, url, icon, description, audiences, 0::bigint AS uses
             FROM campus_systems"
        }
        List::Links => {
            "SELECT id, '' AS code, name, url, '' AS icon, '' AS description,
                    '{}'::text[] AS audiences, 0::bigint AS uses FROM convenience_links"
        }
        List::Categories => {
            "SELECT id, code, name, '' AS url, icon, '' AS description, '{}'::text[] AS audiences,
                    (SELECT count(*) FROM services s WHERE s.category_id = c.id) AS uses
             FROM service_categories c"
        }
    }
}

pub async fn items(db: &PgPool, list: List) -> sqlx::Result<Vec<Item>> {
    sqlx::query_as(&format!("{} ORDER BY sort_order, id", select(list)))
        .fetch_all(db)
        .await
}

pub async fn item(db: &PgPool, list: List, id: i64) -> sqlx::Result<Option<Item>> {
    sqlx::query_as(&format!("{} WHERE id = $1", select(list)))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Another category with this code (codes name categories in service packages).
pub async fn category_code_taken(
    db: &PgPool,
    code: &str,
    except: Option<i64>,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT name FROM service_categories WHERE code = $1 AND id IS DISTINCT FROM $2",
    )
    .bind(code)
    .bind(except)
    .fetch_optional(db)
    .await
}

/// A new row at the end of the list; `None` for a category whose code was taken meanwhile.
pub async fn insert_item(
    conn: &mut PgConnection,
    list: List,
    i: &Item,
) -> sqlx::Result<Option<i64>> {
    match list {
        List::Systems => {
            sqlx::query_scalar(
                "INSERT INTO campus_systems (name, url, icon, description, audiences, sort_order)
                 SELECT $1, $2, $3, $4, $5, COALESCE(max(sort_order) + 1, 0) FROM campus_systems
                 RETURNING id",
            )
            .bind(&i.name)
            .bind(&i.url)
            .bind(&i.icon)
            .bind(&i.description)
            .bind(&i.audiences)
            .fetch_optional(conn)
            .await
        }
        List::Links => {
            sqlx::query_scalar(
                "INSERT INTO convenience_links (name, url, sort_order)
                 SELECT $1, $2, COALESCE(max(sort_order) + 1, 0) FROM convenience_links
                 RETURNING id",
            )
            .bind(&i.name)
            .bind(&i.url)
            .fetch_optional(conn)
            .await
        }
        List::Categories => {
            sqlx::query_scalar(
                "INSERT INTO service_categories (code, name, icon, sort_order)
                 SELECT $1, $2, $3, COALESCE(max(sort_order) + 1, 0) FROM service_categories
                 ON CONFLICT (code) DO NOTHING RETURNING id",
            )
            .bind(&i.code)
            .bind(&i.name)
            .bind(&i.icon)
            .fetch_optional(conn)
            .await
        }
    }
}

/// False when the row is gone, or (a category) its new code is taken.
pub async fn update_item(
    conn: &mut PgConnection,
    list: List,
    id: i64,
    i: &Item,
) -> sqlx::Result<bool> {
    let done = match list {
        List::Systems => {
            sqlx::query(
                "UPDATE campus_systems SET name = $2, url = $3, icon = $4, description = $5,
                     audiences = $6 WHERE id = $1",
            )
            .bind(id)
            .bind(&i.name)
            .bind(&i.url)
            .bind(&i.icon)
            .bind(&i.description)
            .bind(&i.audiences)
            .execute(conn)
            .await?
        }
        List::Links => {
            sqlx::query("UPDATE convenience_links SET name = $2, url = $3 WHERE id = $1")
                .bind(id)
                .bind(&i.name)
                .bind(&i.url)
                .execute(conn)
                .await?
        }
        List::Categories => {
            // Two admins giving two categories one code at the same instant: the unique
            // index decides, and the loser hears "taken" (a savepoint keeps the caller's
            // transaction usable), not a 500.
            use sqlx::Connection;
            let mut sp = conn.begin().await?;
            let r = sqlx::query(
                "UPDATE service_categories SET code = $2, name = $3, icon = $4
                 WHERE id = $1
                   AND NOT EXISTS (SELECT 1 FROM service_categories o WHERE o.code = $2 AND o.id <> $1)",
            )
            .bind(id)
            .bind(&i.code)
            .bind(&i.name)
            .bind(&i.icon)
            .execute(&mut *sp)
            .await;
            match r {
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
                    sp.rollback().await?;
                    return Ok(false);
                }
                r => {
                    let r = r?;
                    sp.commit().await?;
                    r
                }
            }
        }
    };
    Ok(done.rows_affected() == 1)
}

pub enum Deleted {
    Gone,
    /// A category some services still use: how many.
    InUse(i64),
    Done(String),
}

/// Deletes a row (a system with the 收藏 that point at it); a category only while no
/// service uses it. The row lock keeps a service from taking the category meanwhile
/// (its foreign key check needs a lock this one excludes).
pub async fn delete_item(conn: &mut PgConnection, list: List, id: i64) -> sqlx::Result<Deleted> {
    let name: Option<String> = sqlx::query_scalar(&format!(
        "SELECT name FROM {} WHERE id = $1 FOR UPDATE",
        list.table()
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(name) = name else {
        return Ok(Deleted::Gone);
    };
    match list {
        List::Categories => {
            let uses: i64 =
                sqlx::query_scalar("SELECT count(*) FROM services WHERE category_id = $1")
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await?;
            if uses > 0 {
                return Ok(Deleted::InUse(uses));
            }
        }
        List::Systems => {
            sqlx::query("DELETE FROM favorites WHERE kind = 'system' AND target_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        List::Links => {}
    }
    sqlx::query(&format!("DELETE FROM {} WHERE id = $1", list.table()))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(Deleted::Done(name))
}

/// Moves a row one place up or down; false when it is gone or already at that end.
/// The list is numbered afresh (0, 1, 2, …) under lock, so equal orders cannot stall it.
pub async fn move_item(
    conn: &mut PgConnection,
    list: List,
    id: i64,
    up: bool,
) -> sqlx::Result<bool> {
    let ids: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT id FROM {} ORDER BY sort_order, id FOR UPDATE",
        list.table()
    ))
    .fetch_all(&mut *conn)
    .await?;
    let Some(ids) = swapped(ids, id, up) else {
        return Ok(false);
    };
    sqlx::query(&format!(
        "UPDATE {t} SET sort_order = x.ord - 1
         FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, ord) WHERE {t}.id = x.id",
        t = list.table()
    ))
    .bind(&ids)
    .execute(conn)
    .await?;
    Ok(true)
}

/// `ids` with `id` swapped with its neighbour above (`up`) or below; `None` when there
/// is none.
pub fn swapped(mut ids: Vec<i64>, id: i64, up: bool) -> Option<Vec<i64>> {
    let at = ids.iter().position(|x| *x == id)?;
    let other = if up { at.checked_sub(1)? } else { at + 1 };
    if other >= ids.len() {
        return None;
    }
    ids.swap(at, other);
    Some(ids)
}

// ---- 推荐服务 ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecommendedRow {
    pub id: i64,
    pub name: String,
    pub department: String,
    pub status: String,
}

/// The services recommended to `aud`, in the home page's order (also unpublished ones,
/// which the home page leaves out).
pub async fn recommended(db: &PgPool, aud: &str) -> sqlx::Result<Vec<RecommendedRow>> {
    sqlx::query_as(
        "SELECT s.id, s.name, d.name AS department, s.status FROM services s
         JOIN departments d ON d.id = s.department_id
         WHERE $1 = ANY(s.recommend_for) ORDER BY COALESCE((s.recommend_positions ->> $1)::int, s.recommend_order), s.id",
    )
    .bind(aud)
    .fetch_all(db)
    .await
}

/// Published services not yet recommended to `aud`, by name, for the 添加 list.
pub async fn recommendable(db: &PgPool, aud: &str) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "SELECT id, name FROM services WHERE status = 'published' AND NOT ($1 = ANY(recommend_for))
         ORDER BY pinyin_full, id",
    )
    .bind(aud)
    .fetch_all(db)
    .await
}

/// Recommends a published service to `aud`, last in that list; the service's name, or
/// `None` when it is not published or already recommended there.
pub async fn recommend(
    conn: &mut PgConnection,
    aud: &str,
    service: i64,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE services SET recommend_for = array_append(recommend_for, $1),
             recommend_positions = recommend_positions || jsonb_build_object($1::text,
                 (SELECT COALESCE(max(COALESCE((s.recommend_positions ->> $1)::int, s.recommend_order)) + 1, 0) FROM services s
                  WHERE $1 = ANY(s.recommend_for)))
         WHERE id = $2 AND status = 'published' AND NOT ($1 = ANY(recommend_for))
         RETURNING name",
    )
    .bind(aud)
    .bind(service)
    .fetch_optional(conn)
    .await
}

/// Takes a service out of `aud`'s list; its name, or `None` when it was not in it.
pub async fn unrecommend(
    conn: &mut PgConnection,
    aud: &str,
    service: i64,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE services SET recommend_for = array_remove(recommend_for, $1),
                recommend_positions = recommend_positions - $1::text
         WHERE id = $2 AND $1 = ANY(recommend_for) RETURNING name",
    )
    .bind(aud)
    .bind(service)
    .fetch_optional(conn)
    .await
}

/// Moves a service one place in `aud`'s list: the list is numbered afresh from its lowest
/// place upwards, in `aud`'s own positions, so no other audience's list changes.
pub async fn move_recommended(
    conn: &mut PgConnection,
    aud: &str,
    service: i64,
    up: bool,
) -> sqlx::Result<bool> {
    let rows: Vec<(i64, i32)> = sqlx::query_as(
        "SELECT s.id, COALESCE((s.recommend_positions ->> $1)::int, s.recommend_order) AS pos FROM services s
         WHERE $1 = ANY(s.recommend_for) ORDER BY pos, s.id FOR UPDATE",
    )
    .bind(aud)
    .fetch_all(&mut *conn)
    .await?;
    let base = rows.first().map(|r| r.1).unwrap_or(0);
    let Some(ids) = swapped(rows.iter().map(|r| r.0).collect(), service, up) else {
        return Ok(false);
    };
    sqlx::query(
        "UPDATE services
         SET recommend_positions = recommend_positions
                 || jsonb_build_object($3::text, $2 + x.ord::int - 1)
         FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, ord) WHERE services.id = x.id",
    )
    .bind(&ids)
    .bind(base)
    .bind(aud)
    .execute(conn)
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::swapped;

    #[test]
    fn swapping_neighbours() {
        assert_eq!(swapped(vec![1, 2, 3], 2, true), Some(vec![2, 1, 3]));
        assert_eq!(swapped(vec![1, 2, 3], 2, false), Some(vec![1, 3, 2]));
        assert_eq!(swapped(vec![1, 2, 3], 1, true), None);
        assert_eq!(swapped(vec![1, 2, 3], 3, false), None);
        assert_eq!(swapped(vec![1, 2, 3], 9, false), None);
    }
}
