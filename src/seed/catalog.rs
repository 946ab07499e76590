//! Writes the demo catalog (categories, services, systems, links, notices) and the demo
//! services' forms and workflows, where missing.

use anyhow::Context;
use sqlx::PgConnection;

use super::{dept_id, files::Demo};
use crate::{
    catalog::store,
    package::{self, ServicePackage},
};

async fn category_id(conn: &mut PgConnection, code: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT id FROM service_categories WHERE code = $1")
        .bind(code)
        .fetch_one(conn)
        .await
        .with_context(|| format!("category {code}"))
}

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
        let new = new_service(tx, p).await?;
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

/// A package's catalog entry with its codes resolved to this database's ids.
async fn new_service(
    tx: &mut PgConnection,
    p: &ServicePackage,
) -> anyhow::Result<store::NewService> {
    let s = &p.service;
    let mut start_department_ids = Vec::new();
    for d in &s.start_departments {
        start_department_ids.push(dept_id(tx, d).await?);
    }
    let g = &s.guide;
    Ok(store::NewService {
        code: s.code.clone(),
        name: s.name.clone(),
        department_id: dept_id(tx, &s.department).await?,
        category_id: category_id(tx, &s.category).await?,
        audiences: package::strings(&s.audiences, |a| a.as_str()),
        tags: s.tags.clone(),
        summary: s.summary.clone(),
        conditions: g.conditions.clone(),
        materials: g.materials.clone(),
        process: g.process.clone(),
        time_limit: g.time_limit.clone(),
        location: g.location.clone(),
        phone: g.phone.clone(),
        faq: g.faq.clone(),
        kind: s.kind.as_str().into(),
        external_url: s.external_url.clone(),
        start_user_types: package::strings(&s.start_user_types, |u| u.as_str()),
        start_department_ids,
        start_roles: s.start_roles.clone(),
        status: "published".into(),
        recommend_for: package::strings(&s.recommend_for, |v| v.as_str()),
        recommend_order: s.recommend_order,
    })
}

/// Forms and workflows of the demo services, published as version 1 where a service has
/// none yet.
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
