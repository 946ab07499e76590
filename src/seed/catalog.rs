//! Writes the demo catalog (categories, services, systems, links, notices) and the demo
//! services' forms and workflows, where missing.

use sqlx::PgConnection;

use super::{dept_id, files::Demo};
use crate::{catalog::store, package};

/// Demo categories, services, systems, links and notices that are missing.
pub(super) async fn seed_catalog(tx: &mut PgConnection, demo: &Demo) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    for (i, c) in demo.categories.iter().enumerate() {
        sqlx::query(
            "INSERT INTO service_categories (code, name, icon, sort_order) VALUES ($1, $2, $3, $4)
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(&c.code)
        .bind(&c.name)
        .bind(&c.icon)
        .bind(i as i32)
        .execute(&mut *tx)
        .await?;
    }
    for p in &demo.services {
        let new = package::import::catalog_entry(tx, p, "published").await?;
        store::insert_service(tx, &new, now).await?;
    }
    for (i, sys) in demo.systems.iter().enumerate() {
        sqlx::query(
            "INSERT INTO campus_systems (name, url, icon, description, audiences, sort_order)
             SELECT $1, $2, $3, $4, $5, $6
             WHERE NOT EXISTS (SELECT 1 FROM campus_systems WHERE name = $1)",
        )
        .bind(&sys.name)
        .bind(&sys.url)
        .bind(&sys.icon)
        .bind(&sys.description)
        .bind(package::strings(&sys.audiences, |a| a.as_str()))
        .bind(i as i32)
        .execute(&mut *tx)
        .await?;
    }
    for (i, l) in demo.links.iter().enumerate() {
        sqlx::query(
            "INSERT INTO convenience_links (name, url, sort_order) SELECT $1, $2, $3
             WHERE NOT EXISTS (SELECT 1 FROM convenience_links WHERE name = $1)",
        )
        .bind(&l.name)
        .bind(&l.url)
        .bind(i as i32)
        .execute(&mut *tx)
        .await?;
    }
    for n in &demo.notices {
        let dept = match &n.department {
            Some(d) => Some(dept_id(tx, d).await?),
            None => None,
        };
        sqlx::query(
            "INSERT INTO announcements (title, body_markdown, department_id, published_at, pinned)
             SELECT $1, $2, $3, $4, $5
             WHERE NOT EXISTS (SELECT 1 FROM announcements WHERE title = $1)",
        )
        .bind(&n.title)
        .bind(&n.body)
        .bind(dept)
        .bind(now - chrono::Duration::days(n.days_ago) - chrono::Duration::hours(2))
        .bind(n.pinned)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The demo 校历 rows that are missing (same kind, name and first day).
pub(super) async fn seed_calendar(
    tx: &mut PgConnection,
    demo: &Demo,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    for r in &demo.calendar {
        let Some((from, to)) = r.days() else { continue };
        sqlx::query(
            "INSERT INTO calendar_ranges (kind, name, starts_on, ends_on, created_at)
             SELECT $1, $2, $3, $4, $5
             WHERE NOT EXISTS (SELECT 1 FROM calendar_ranges
                               WHERE kind = $1 AND name = $2 AND starts_on = $3)",
        )
        .bind(&r.kind)
        .bind(&r.name)
        .bind(from)
        .bind(to)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Forms and workflows of the demo services, published as version 1 where a service has
/// none yet.
/// The 一事联办 bundles that are missing, with their services in order.
pub(super) async fn seed_bundles(tx: &mut PgConnection, demo: &Demo) -> anyhow::Result<()> {
    for b in &demo.bundles {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO bundles (code, name, summary) VALUES ($1, $2, $3)
             ON CONFLICT (code) DO NOTHING RETURNING id",
        )
        .bind(&b.code)
        .bind(&b.name)
        .bind(&b.summary)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { continue };
        sqlx::query(
            "INSERT INTO bundle_members (bundle_id, service_id, position)
             SELECT $1, s.id, m.n FROM UNNEST($2::text[]) WITH ORDINALITY AS m(code, n)
             JOIN services s ON s.code = m.code",
        )
        .bind(id)
        .bind(&b.services)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

pub(super) async fn seed_flows(tx: &mut PgConnection, demo: &Demo) -> anyhow::Result<()> {
    for p in &demo.services {
        let (Some(form), Some(flow)) = (&p.form, &p.workflow) else {
            continue;
        };
        let Some(service_id) =
            sqlx::query_scalar::<_, i64>("SELECT id FROM services WHERE code = $1")
                .bind(&p.service.code)
                .fetch_optional(&mut *tx)
                .await?
        else {
            continue;
        };
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM service_versions WHERE service_id = $1)",
        )
        .bind(service_id)
        .fetch_one(&mut *tx)
        .await?;
        if exists {
            continue;
        }
        crate::workflow::store::versions::publish(
            &mut *tx,
            service_id,
            form,
            flow,
            None,
            chrono::Utc::now(),
            "",
            None,
        )
        .await?;
        // The 系统管理员 administers the demo services (fallback approver).
        sqlx::query(
            "INSERT INTO service_admins (service_id, user_id) SELECT $1, id FROM users WHERE account = 'admin'
             ON CONFLICT DO NOTHING",
        )
        .bind(service_id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
