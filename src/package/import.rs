//! A package into the portal (导入服务): first what it would create or change, then the
//! change — the catalog entry created (as 草稿) or updated, the form and workflow written as
//! the service's working copy. An import never publishes: the 版本 page does. Importing the
//! same package again changes nothing.

use std::{collections::BTreeSet, net::IpAddr};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::{Known, ServicePackage, export, strings};
use crate::{
    audit::Entry,
    catalog::store::{self, NewService},
    forms::FormSchema,
    workflow::{
        model::Definition,
        store::{StoreError, versions},
        usecase::versions as uc,
    },
};

/// The departments, categories and roles of this portal, for `ServicePackage::check`.
pub async fn known(db: &PgPool) -> sqlx::Result<Known> {
    let (departments, categories, roles): (Vec<String>, Vec<String>, Vec<String>) = sqlx::query_as(
        "SELECT ARRAY(SELECT code FROM departments), ARRAY(SELECT code FROM service_categories),
                    ARRAY(SELECT code FROM roles)",
    )
    .fetch_one(db)
    .await?;
    Ok(Known {
        departments: departments.into_iter().collect(),
        categories: categories.into_iter().collect(),
        roles: Some(roles.into_iter().collect::<BTreeSet<_>>()),
    })
}

async fn id_of(conn: &mut PgConnection, table: &str, code: &str) -> anyhow::Result<i64> {
    // `table` is one of two literals below, never input.
    sqlx::query_scalar(&format!("SELECT id FROM {table} WHERE code = $1"))
        .bind(code)
        .fetch_one(conn)
        .await
        .with_context(|| format!("{table} {code}"))
}

/// The package's catalog entry with its codes resolved to this portal's ids.
pub async fn catalog_entry(
    conn: &mut PgConnection,
    p: &ServicePackage,
    status: &str,
) -> anyhow::Result<NewService> {
    let s = &p.service;
    let mut start_department_ids = Vec::new();
    for d in &s.start_departments {
        start_department_ids.push(id_of(conn, "departments", d).await?);
    }
    let g = &s.guide;
    Ok(NewService {
        code: s.code.clone(),
        name: s.name.clone(),
        department_id: id_of(conn, "departments", &s.department).await?,
        category_id: id_of(conn, "service_categories", &s.category).await?,
        audiences: strings(&s.audiences, |a| a.as_str()),
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
        start_user_types: strings(&s.start_user_types, |u| u.as_str()),
        start_department_ids,
        start_roles: s.start_roles.clone(),
        status: status.into(),
        recommend_for: strings(&s.recommend_for, |v| v.as_str()),
        recommend_order: s.recommend_order,
    })
}

/// What an import would do.
#[derive(Debug)]
pub struct Preview {
    pub code: String,
    pub name: String,
    /// The service it updates; `None`: it creates one (as 草稿).
    pub existing: Option<i64>,
    pub existing_status: Option<String>,
    /// The department the package puts the service in (for the permission check).
    pub department_id: i64,
    /// Catalog fields that change, by their labels.
    pub catalog_changes: Vec<&'static str>,
    /// Form and workflow changes against the service's working copy.
    pub flow_changes: Vec<String>,
    /// The form and workflow become the working copy (a draft).
    pub writes_draft: bool,
    /// An unpublished draft exists and would be replaced.
    pub replaces_draft: bool,
    /// Why it cannot be imported as it stands (beyond the package check).
    pub refusal: Option<String>,
}

impl Preview {
    pub fn unchanged(&self) -> bool {
        self.existing.is_some() && self.catalog_changes.is_empty() && !self.writes_draft
    }
}

/// Catalog fields and their labels, compared one by one.
fn catalog_changes(old: &ServicePackage, new: &ServicePackage) -> Vec<&'static str> {
    let (a, b) = (&old.service, &new.service);
    let (ga, gb) = (&a.guide, &b.guide);
    let pairs: [(&'static str, bool); 22] = [
        ("服务名称", a.name != b.name),
        ("服务类别", a.category != b.category),
        ("服务部门", a.department != b.department),
        ("办理方式", a.kind != b.kind),
        ("业务系统地址", a.external_url != b.external_url),
        ("服务对象", a.audiences != b.audiences),
        ("关键词", a.tags != b.tags),
        ("简介", a.summary != b.summary),
        ("可发起的人员类型", a.start_user_types != b.start_user_types),
        ("可发起的部门", a.start_departments != b.start_departments),
        ("可发起的角色", a.start_roles != b.start_roles),
        ("推荐对象", a.recommend_for != b.recommend_for),
        ("推荐顺序", a.recommend_order != b.recommend_order),
        ("办理条件", ga.conditions != gb.conditions),
        ("所需材料", ga.materials != gb.materials),
        ("办理流程", ga.process != gb.process),
        ("办理时限", ga.time_limit != gb.time_limit),
        ("办理地点", ga.location != gb.location),
        ("咨询电话", ga.phone != gb.phone),
        ("常见问题", ga.faq != gb.faq),
        // The code keys the service; it never differs for an existing one.
        ("服务编码", a.code != b.code),
        ("格式", old.format != new.format),
    ];
    pairs.into_iter().filter(|p| p.1).map(|p| p.0).collect()
}

fn flows(p: &ServicePackage) -> Option<(FormSchema, Definition)> {
    let (f, w) = (p.form.as_ref()?, p.workflow.as_ref()?);
    uc::parse(f, w).ok()
}

/// What importing `p` (already read and checked) would do.
pub async fn preview(db: &PgPool, p: &ServicePackage) -> anyhow::Result<Preview> {
    let existing: Option<(i64, String)> =
        sqlx::query_as("SELECT id, status FROM services WHERE code = $1")
            .bind(&p.service.code)
            .fetch_optional(db)
            .await?;
    let department_id: i64 = sqlx::query_scalar("SELECT id FROM departments WHERE code = $1")
        .bind(&p.service.department)
        .fetch_one(db)
        .await?;
    let mut out = Preview {
        code: p.service.code.clone(),
        name: p.service.name.clone(),
        existing: existing.as_ref().map(|e| e.0),
        existing_status: existing.as_ref().map(|e| e.1.clone()),
        department_id,
        catalog_changes: vec![],
        flow_changes: vec![],
        writes_draft: false,
        replaces_draft: false,
        refusal: None,
    };
    let new_flows = flows(p);
    match &existing {
        None => {
            if let Some((f, w)) = &new_flows {
                out.flow_changes = uc::diff(None, (f, w)).lines();
                out.writes_draft = true;
            }
        }
        Some((id, status)) => {
            let old = export::export(db, *id).await?.context("service vanished")?;
            out.catalog_changes = catalog_changes(&old, p);
            if let Some((f, w)) = &new_flows {
                let copy = uc::working_copy(db, *id).await?;
                if (&copy.form, &copy.workflow) != (f, w) {
                    out.flow_changes = uc::diff(Some((&copy.form, &copy.workflow)), (f, w)).lines();
                    out.writes_draft = true;
                    out.replaces_draft = copy.revision.is_some();
                }
            }
            let has_version = versions::current_number(db, *id).await?.is_some();
            if status == "published" && p.service.kind.as_str() == "online" && !has_version {
                out.refusal = Some(
                    "该服务已发布，且尚无已发布的表单与流程：不能经导入改为在线办理。请先下线，或先发布表单与流程。"
                        .into(),
                );
            }
        }
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Refused(String),
    #[error("服务或其草稿刚被他人修改，请重新导入")]
    Stale,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Other(e.into())
    }
}

/// What `apply` did.
#[derive(Debug)]
pub struct Applied {
    pub service_id: i64,
    pub created: bool,
    pub preview: Preview,
    /// The working copy's revision, if the import wrote one.
    pub draft_revision: Option<i32>,
}

/// Imports `p` (read and checked; the caller checked who may): one transaction, or nothing.
pub async fn apply(
    db: &PgPool,
    p: &ServicePackage,
    by: i64,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<Applied, ImportError> {
    let preview = preview(db, p).await?;
    if let Some(r) = &preview.refusal {
        return Err(ImportError::Refused(r.clone()));
    }
    let mut tx = db.begin().await?;
    let (service_id, created) = match preview.existing {
        Some(id) => {
            if !preview.catalog_changes.is_empty() {
                let seen = store::stored(db, id)
                    .await?
                    .ok_or(ImportError::Stale)?
                    .updated_at;
                let entry = catalog_entry(&mut tx, p, "").await?;
                // Changed by someone else since the preview was computed: nothing is written.
                if !store::update_service(&mut tx, id, &entry, seen, now).await? {
                    return Err(ImportError::Stale);
                }
                versions::announce(&mut tx, id).await?;
            }
            (id, false)
        }
        None => {
            let entry = catalog_entry(&mut tx, p, "draft").await?;
            // A concurrent import of the same code got there first: nothing is written.
            let id = store::insert_service(&mut tx, &entry, now)
                .await?
                .ok_or(ImportError::Stale)?;
            // The importer administers the new service, as one created in 管理后台: the
            // packages' 服务管理员 fallbacks then have someone to ask.
            store::add_admin(&mut tx, id, by).await?;
            (id, true)
        }
    };
    let mut draft_revision = None;
    if preview.writes_draft {
        let (form, workflow) = flows(p).context("checked package")?;
        let seen = versions::draft(db, service_id).await?.map(|d| d.revision);
        let base = versions::current_number(db, service_id).await?;
        let r = versions::save_draft(
            &mut tx,
            service_id,
            &serde_json::to_value(&form).expect("form serialises"),
            &serde_json::to_value(&workflow).expect("workflow serialises"),
            base,
            seen,
            by,
            now,
        )
        .await
        .map_err(|e| match e {
            StoreError::Stale => ImportError::Stale,
            e => ImportError::Other(anyhow::anyhow!(e)),
        })?;
        draft_revision = Some(r);
    }
    if created || !preview.catalog_changes.is_empty() || preview.writes_draft {
        Entry::about(format!("service:{service_id}"), "service.import")
            .by(Some(by))
            .ip(ip)
            .detail(json!({
                "code": p.service.code,
                "created": created,
                "catalog_changes": preview.catalog_changes,
                "draft_revision": draft_revision,
                "version": versions::current_number(db, service_id).await?,
            }))
            .record(&mut *tx, now)
            .await?;
    }
    tx.commit().await?;
    Ok(Applied {
        service_id,
        created,
        preview,
        draft_revision,
    })
}
