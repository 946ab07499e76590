//! Versions of a service's form and workflow: the designers' working copy, the checks
//! before publishing, publishing, rolling back, and what changed between two versions.

use std::{collections::BTreeMap, net::IpAddr};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    audit::Entry,
    catalog,
    error::AppError,
    forms::FormSchema,
    org::{self, people},
    workflow::{
        check,
        model::{ApproverRule, Definition, Fallback, NodeKind},
        store::{
            StoreError,
            versions::{self, DraftRow, Published},
        },
    },
};

/// Why a publish or a save did not happen.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("没有待发布的草稿")]
    NoDraft,
    #[error("草稿已被他人修改，请刷新后再试")]
    Stale,
    #[error("没有这个版本")]
    NoVersion,
    /// The definition's problems, each naming the field or node.
    #[error("定义有误：{}", .0.join("；"))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<StoreError> for VersionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Stale => VersionError::Stale,
            StoreError::Db(e) => VersionError::Db(e),
            other => VersionError::Db(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl From<VersionError> for AppError {
    fn from(e: VersionError) -> Self {
        match e {
            VersionError::NoDraft | VersionError::NoVersion => AppError::NotFound,
            VersionError::Stale => AppError::Conflict("草稿已被他人修改，请刷新后再试"),
            VersionError::Invalid(p) => {
                tracing::debug!(problems = ?p, "definition refused");
                AppError::BadRequest("定义有误，未保存")
            }
            VersionError::Db(e) => AppError::Internal(e.into()),
        }
    }
}

/// Everything wrong with a form and workflow that would be published together: the
/// form's own checks, the workflow's own checks, and the workflow's references into the
/// form. Empty when they may be published.
pub fn problems(form: &FormSchema, def: &Definition) -> Vec<String> {
    let mut out = form.problems();
    out.extend(def.problems(form));
    out
}

/// The checks that need the database: the people a rule or fallback names exist and can
/// act, the roles exist and someone holds them, a 服务管理员 fallback has someone to ask.
pub async fn problems_in_db(
    db: &PgPool,
    service: i64,
    def: &Definition,
) -> sqlx::Result<Vec<String>> {
    let mut accounts = Vec::new();
    let mut admins_needed = false;
    for n in &def.nodes {
        match &n.kind {
            NodeKind::Approval {
                approvers,
                fallback,
                ..
            } => {
                if let ApproverRule::Users { accounts: a } = approvers {
                    accounts.extend(a.iter().cloned());
                }
                match fallback {
                    Fallback::User { account } => accounts.push(account.clone()),
                    Fallback::ServiceAdmins => admins_needed = true,
                    Fallback::Skip { .. } => {}
                }
            }
            NodeKind::Cc {
                approvers: ApproverRule::Users { accounts: a },
                ..
            } => accounts.extend(a.iter().cloned()),
            _ => {}
        }
    }
    accounts.retain(|a| !a.trim().is_empty());
    accounts.sort();
    accounts.dedup();
    let people: BTreeMap<String, (String, bool)> = people::by_accounts(db, &accounts)
        .await?
        .into_iter()
        .map(|p| (p.account, (p.label, p.active)))
        .collect();
    let roles: BTreeMap<String, (String, i64)> = org::roles(db)
        .await?
        .into_iter()
        .map(|r| (r.code, (r.name, r.holders)))
        .collect();
    let admins = if admins_needed {
        catalog::store::active_admin_count(db, service).await?
    } else {
        1
    };
    let person = |account: &str, what: &str| -> Option<String> {
        match people.get(account) {
            _ if account.trim().is_empty() => None,
            None => Some(format!("{what} {account} 不存在")),
            Some((label, false)) => Some(format!("{what} {label} 不是可用账号（未激活或已停用）")),
            Some(_) => None,
        }
    };
    let mut out = Vec::new();
    for n in &def.nodes {
        let at = check::who(n);
        let (rule, fallback) = match &n.kind {
            NodeKind::Approval {
                approvers,
                fallback,
                ..
            } => (approvers, Some(fallback)),
            NodeKind::Cc { approvers, .. } => (approvers, None),
            _ => continue,
        };
        match rule {
            ApproverRule::Users { accounts } => {
                for a in accounts {
                    out.extend(person(a, "指定人员").map(|p| format!("{at}：{p}")));
                }
            }
            ApproverRule::Role { role, .. } if !role.trim().is_empty() => match roles.get(role) {
                None => out.push(format!("{at}：角色 {role} 不存在")),
                Some((name, 0)) => out.push(format!("{at}：角色“{name}”目前没有任何可用人员")),
                Some(_) => {}
            },
            _ => {}
        }
        match fallback {
            Some(Fallback::User { account }) => {
                out.extend(person(account, "兜底的指定人员").map(|p| format!("{at}：{p}")));
            }
            Some(Fallback::ServiceAdmins) if admins == 0 => out.push(format!(
                "{at}：兜底为服务管理员，但本服务没有设置可用的服务管理员"
            )),
            _ => {}
        }
    }
    Ok(out)
}

/// Parses stored or posted JSON into the two definitions, or the reasons it cannot.
pub fn parse(form: &Value, workflow: &Value) -> Result<(FormSchema, Definition), Vec<String>> {
    let f = serde_json::from_value::<FormSchema>(form.clone())
        .map_err(|e| format!("表单定义无法读取：{e}"));
    let w = serde_json::from_value::<Definition>(workflow.clone())
        .map_err(|e| format!("流程定义无法读取：{e}"));
    match (f, w) {
        (Ok(f), Ok(w)) => Ok((f, w)),
        (f, w) => Err([f.err(), w.err()].into_iter().flatten().collect()),
    }
}

/// The working copy, or a fresh one from the current version (or an empty form and a
/// start → end workflow for a new service). The revision is `None` when nothing is saved
/// yet.
pub struct WorkingCopy {
    pub form: FormSchema,
    pub workflow: Definition,
    pub base_number: Option<i32>,
    pub revision: Option<i32>,
    pub saved: Option<DraftRow>,
}

pub async fn working_copy(db: &PgPool, service: i64) -> Result<WorkingCopy, VersionError> {
    if let Some(d) = versions::draft(db, service).await? {
        let (form, workflow) = parse(&d.form, &d.workflow).map_err(VersionError::Invalid)?;
        return Ok(WorkingCopy {
            form,
            workflow,
            base_number: d.base_number,
            revision: Some(d.revision),
            saved: Some(d),
        });
    }
    let base_number = versions::current_number(db, service).await?;
    let (form, workflow) = match base_number {
        Some(n) => {
            let (f, w) = versions::definitions(db, service, n)
                .await?
                .ok_or(VersionError::NoVersion)?;
            parse(&f, &w).map_err(VersionError::Invalid)?
        }
        None => (FormSchema { fields: vec![] }, Definition::minimal()),
    };
    Ok(WorkingCopy {
        form,
        workflow,
        base_number,
        revision: None,
        saved: None,
    })
}

/// Saves the working copy (form and workflow together) at revision `seen`. Saving does
/// not check the definition beyond its shape: a half-built draft may be kept; publishing
/// checks. Returns the new revision.
#[allow(clippy::too_many_arguments)]
pub async fn save(
    db: &PgPool,
    service: i64,
    form: &FormSchema,
    workflow: &Definition,
    base_number: Option<i32>,
    seen: Option<i32>,
    by: i64,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<i32, VersionError> {
    let form = serde_json::to_value(form).expect("form serialises");
    let workflow = serde_json::to_value(workflow).expect("workflow serialises");
    let mut tx = db.begin().await?;
    let revision = versions::save_draft(
        &mut tx,
        service,
        &form,
        &workflow,
        base_number,
        seen,
        by,
        now,
    )
    .await?;
    Entry::about(format!("service:{service}"), "service.draft.save")
        .by(Some(by))
        .ip(ip)
        .detail(json!({ "revision": revision, "base_number": base_number }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(revision)
}

/// 放弃草稿: drops the working copy at revision `seen`.
pub async fn discard(
    db: &PgPool,
    service: i64,
    seen: i32,
    by: i64,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), VersionError> {
    let mut tx = db.begin().await?;
    versions::delete_draft(&mut tx, service, seen).await?;
    Entry::about(format!("service:{service}"), "service.draft.discard")
        .by(Some(by))
        .ip(ip)
        .detail(json!({ "revision": seen }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Publishes the working copy at revision `seen` as the next version, after the checks.
/// The draft is gone afterwards; applications already running keep their version.
pub async fn publish(
    db: &PgPool,
    service: i64,
    seen: i32,
    note: &str,
    by: i64,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<Published, VersionError> {
    let d = versions::draft(db, service)
        .await?
        .ok_or(VersionError::NoDraft)?;
    if d.revision != seen {
        return Err(VersionError::Stale);
    }
    let (form, workflow) = parse(&d.form, &d.workflow).map_err(VersionError::Invalid)?;
    let mut p = problems(&form, &workflow);
    p.extend(problems_in_db(db, service, &workflow).await?);
    if !p.is_empty() {
        return Err(VersionError::Invalid(p));
    }
    // A half equal to the current one is published as stored (it may be written with
    // fewer defaults than a fresh serialisation), so its row is reused.
    let current = crate::workflow::store::definitions::current_raw(db, service).await?;
    let parsed = current.as_ref().and_then(|(f, w)| parse(f, w).ok());
    let form = match (&current, &parsed) {
        (Some((raw, _)), Some((f, _))) if *f == form => raw.clone(),
        _ => serde_json::to_value(&form).expect("form serialises"),
    };
    let workflow = match (&current, &parsed) {
        (Some((_, raw)), Some((_, w))) if *w == workflow => raw.clone(),
        _ => serde_json::to_value(&workflow).expect("workflow serialises"),
    };
    let mut tx = db.begin().await?;
    // The draft goes first: a concurrent save or second publish of the same revision
    // finds it gone (or changed) and this one alone goes on.
    versions::delete_draft(&mut tx, service, seen).await?;
    let published = versions::publish(
        &mut tx,
        service,
        &form,
        &workflow,
        Some(by),
        now,
        note,
        None,
    )
    .await?;
    audit_publish(&mut tx, service, "service.publish", &published, by, ip, now).await?;
    tx.commit().await?;
    Ok(published)
}

/// 回退: publishes version `number` again, as a new version. A working copy is left alone.
pub async fn rollback(
    db: &PgPool,
    service: i64,
    number: i32,
    by: i64,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<Published, VersionError> {
    let (form, workflow) = versions::definitions(db, service, number)
        .await?
        .ok_or(VersionError::NoVersion)?;
    let mut tx = db.begin().await?;
    let note = format!("回退到版本 {number}");
    let published = versions::publish(
        &mut tx,
        service,
        &form,
        &workflow,
        Some(by),
        now,
        &note,
        Some(number),
    )
    .await?;
    audit_publish(
        &mut tx,
        service,
        "service.rollback",
        &published,
        by,
        ip,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(published)
}

async fn audit_publish(
    tx: &mut sqlx::PgConnection,
    service: i64,
    action: &'static str,
    p: &Published,
    by: i64,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    Entry::about(format!("service:{service}"), action)
        .by(Some(by))
        .ip(ip)
        .detail(json!({
            "version_before": p.before,
            "version_after": p.after,
            "number": p.number,
            "form_def_id": p.form_def_id,
            "workflow_def_id": p.workflow_def_id,
        }))
        .record(&mut *tx, now)
        .await
}

/// What changed from one version to another, by field key and node id (with their
/// labels), for the version list and the import preview.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub fields_added: Vec<String>,
    pub fields_removed: Vec<String>,
    pub fields_changed: Vec<String>,
    pub nodes_added: Vec<String>,
    pub nodes_removed: Vec<String>,
    pub nodes_changed: Vec<String>,
    /// The applicant's field permissions changed.
    pub applicant_fields: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }

    /// One line per kind of change, for the pages: 新增字段：请假天数（days） …
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![];
        for (what, list) in [
            ("新增字段", &self.fields_added),
            ("删除字段", &self.fields_removed),
            ("修改字段", &self.fields_changed),
            ("新增节点", &self.nodes_added),
            ("删除节点", &self.nodes_removed),
            ("修改节点", &self.nodes_changed),
        ] {
            if !list.is_empty() {
                out.push(format!("{what}：{}", list.join("、")));
            }
        }
        if self.applicant_fields {
            out.push("修改申请人字段权限".into());
        }
        out
    }
}

pub fn diff(old: Option<(&FormSchema, &Definition)>, new: (&FormSchema, &Definition)) -> Changes {
    fn named(label: &str, key: &str) -> String {
        if label.is_empty() || label == key {
            key.to_owned()
        } else {
            format!("{label}（{key}）")
        }
    }
    let mut c = Changes::default();
    let empty_form = FormSchema { fields: vec![] };
    let empty_flow = Definition {
        nodes: vec![],
        applicant_fields: Default::default(),
    };
    let (of, ow) = old.unwrap_or((&empty_form, &empty_flow));
    let (nf, nw) = new;
    let old_fields: BTreeMap<_, _> = of.fields.iter().map(|f| (f.key.as_str(), f)).collect();
    let new_fields: BTreeMap<_, _> = nf.fields.iter().map(|f| (f.key.as_str(), f)).collect();
    for f in &nf.fields {
        match old_fields.get(f.key.as_str()) {
            None => c.fields_added.push(named(&f.label, &f.key)),
            Some(o) if *o != f => c.fields_changed.push(named(&f.label, &f.key)),
            _ => {}
        }
    }
    // Only the order changed: reported once, on the form.
    if c.fields_changed.is_empty()
        && old_fields.len() == new_fields.len()
        && old_fields.keys().eq(new_fields.keys())
        && of
            .fields
            .iter()
            .map(|f| &f.key)
            .ne(nf.fields.iter().map(|f| &f.key))
    {
        c.fields_changed.push("字段顺序".into());
    }
    for f in &of.fields {
        if !new_fields.contains_key(f.key.as_str()) {
            c.fields_removed.push(named(&f.label, &f.key));
        }
    }
    let old_nodes: BTreeMap<_, _> = ow.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let new_nodes: BTreeMap<_, _> = nw.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    for n in &nw.nodes {
        match old_nodes.get(n.id.as_str()) {
            None => c.nodes_added.push(named(&n.name, &n.id)),
            Some(o) if *o != n => c.nodes_changed.push(named(&n.name, &n.id)),
            _ => {}
        }
    }
    for n in &ow.nodes {
        if !new_nodes.contains_key(n.id.as_str()) {
            c.nodes_removed.push(named(&n.name, &n.id));
        }
    }
    c.applicant_fields = ow.applicant_fields != nw.applicant_fields && old.is_some();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(keys: &[(&str, &str)]) -> FormSchema {
        serde_json::from_value(json!({
            "fields": keys.iter().map(|(k, l)| json!({"key": k, "type": "text", "label": l})).collect::<Vec<_>>()
        }))
        .unwrap()
    }

    #[test]
    fn diff_names_fields_and_nodes() {
        let a = form(&[("reason", "事由"), ("days", "天数")]);
        let mut b = form(&[("reason", "请假事由"), ("phone", "电话")]);
        b.fields[0].required = true;
        let w = Definition::minimal();
        let c = diff(Some((&a, &w)), (&b, &w));
        assert_eq!(c.fields_added, vec!["电话（phone）"]);
        assert_eq!(c.fields_removed, vec!["天数（days）"]);
        assert_eq!(c.fields_changed, vec!["请假事由（reason）"]);
        assert!(c.nodes_added.is_empty() && !c.applicant_fields);
        assert!(diff(Some((&a, &w)), (&a, &w)).is_empty());
        let swapped = form(&[("days", "天数"), ("reason", "事由")]);
        assert_eq!(
            diff(Some((&a, &w)), (&swapped, &w)).lines(),
            vec!["修改字段：字段顺序"]
        );
        // A new service: everything is added.
        let first = diff(None, (&a, &w));
        assert_eq!(first.fields_added.len(), 2);
        assert_eq!(first.nodes_added.len(), 2);
    }
}
