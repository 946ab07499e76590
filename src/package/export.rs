//! A service as a package, from what the portal holds: the catalog entry with departments
//! and the category by code, and the current form and workflow exactly as stored.

use sqlx::PgPool;

use super::{Audience, FORMAT, Guide, Service, ServiceKind, ServicePackage, UserType, Viewer};
use crate::{catalog, workflow};

/// The package of service `id`; `None` when there is no such service.
pub async fn export(db: &PgPool, id: i64) -> anyhow::Result<Option<ServicePackage>> {
    let Some(e) = catalog::store::entry(db, id).await? else {
        return Ok(None);
    };
    // Stored words come from the same vocabularies (CHECK constraints); anything else is a
    // bug to surface, not to drop.
    fn words<T>(v: &[String], f: fn(&str) -> Option<T>, what: &str) -> anyhow::Result<Vec<T>> {
        v.iter()
            .map(|w| f(w).ok_or_else(|| anyhow::anyhow!("{what} `{w}` is not in the format")))
            .collect()
    }
    let (form, workflow) = match workflow::store::definitions::current_raw(db, id).await? {
        Some((f, w)) => (Some(f), Some(w)),
        None => (None, None),
    };
    Ok(Some(ServicePackage {
        format: FORMAT,
        service: Service {
            kind: ServiceKind::from_word(&e.kind)
                .ok_or_else(|| anyhow::anyhow!("kind `{}` is not in the format", e.kind))?,
            audiences: words(&e.audiences, Audience::from_word, "audience")?,
            start_user_types: words(&e.start_user_types, UserType::from_word, "user type")?,
            recommend_for: words(&e.recommend_for, Viewer::from_word, "viewer")?,
            code: e.code,
            name: e.name,
            category: e.category,
            department: e.department,
            external_url: e.external_url,
            tags: e.tags,
            summary: e.summary,
            start_departments: e.start_departments,
            start_roles: e.start_roles,
            recommend_order: e.recommend_order,
            guide: Guide {
                conditions: e.conditions,
                materials: e.materials,
                process: e.process,
                time_limit: e.time_limit,
                location: e.location,
                phone: e.phone,
                faq: e.faq,
            },
        },
        form,
        workflow,
    }))
}
