//! 一事联办: one form that starts the applications of several services, each department
//! keeping its own service, form and workflow. The form joins the members' applicant
//! fields (a field the members share — same key, type and meaning — is asked once); the
//! submission validates each member's data by its own rules and submits every
//! application, with the run that lists them, in one transaction.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::PgPool;

use super::{
    ActCtx, check_ctx, lookups, profile, resolve_accounts,
    submit::{BundleItem, BundleSubmitted, submit_bundle},
    summary,
};
use crate::{
    catalog::{self, ServiceDetail, model::start_refusal},
    error::{AppError, AppResult},
    forms::{
        self, Errors, Field, FieldAccess, FieldKind, FormSchema,
        render::{FieldView, parse_post, views},
    },
    secret::SecretKey,
    web::user::CurrentUser,
    workflow::store::{self, definitions::Current, status_label},
};

/// A bundle as 一事联办 lists it.
pub struct BundleInfo {
    pub id: i64,
    pub name: String,
    pub summary: String,
    /// (service id, name, department), in the form's order.
    pub members: Vec<(i64, String, String)>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    summary: String,
    service_id: i64,
    service: String,
    department: String,
}

async fn infos(db: &PgPool, id: Option<i64>) -> sqlx::Result<Vec<BundleInfo>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT b.id, b.name, b.summary, s.id AS service_id, s.name AS service,
                d.name AS department
         FROM bundles b JOIN bundle_members m ON m.bundle_id = b.id
         JOIN services s ON s.id = m.service_id JOIN departments d ON d.id = s.department_id
         WHERE b.status = 'published' AND ($1::int8 IS NULL OR b.id = $1)
         ORDER BY b.id, m.position",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    let mut out: Vec<BundleInfo> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|b| b.id != r.id) {
            out.push(BundleInfo {
                id: r.id,
                name: r.name,
                summary: r.summary,
                members: Vec::new(),
            });
        }
        if let Some(b) = out.last_mut() {
            b.members.push((r.service_id, r.service, r.department));
        }
    }
    Ok(out)
}

/// The published bundles (一事联办 on 服务中心).
pub async fn list(db: &PgPool) -> sqlx::Result<Vec<BundleInfo>> {
    infos(db, None).await
}

/// One published bundle; 404 otherwise.
pub async fn info(db: &PgPool, id: i64) -> AppResult<BundleInfo> {
    infos(db, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)
}

/// A member as the person may start it now, or why not.
pub struct Member {
    pub service: ServiceDetail,
    pub current: Current,
    pub access: BTreeMap<String, FieldAccess>,
}

/// Why a member cannot be part of this person's start: shown on the bundle's page.
pub struct Blocked {
    pub service: String,
    pub reason: String,
}

/// The members, or what keeps this person from starting the bundle (a service they may
/// not start, one not online, one whose form asks for files the joint form cannot take).
pub async fn members(
    db: &PgPool,
    user: &CurrentUser,
    bundle: &BundleInfo,
) -> AppResult<Result<Vec<Member>, Vec<Blocked>>> {
    let mut ok = Vec::new();
    let mut blocked = Vec::new();
    for (sid, name, _) in &bundle.members {
        let s = catalog::service_detail(db, *sid)
            .await?
            .ok_or(AppError::NotFound)?;
        let block = |reason: &str| Blocked {
            service: name.clone(),
            reason: reason.to_owned(),
        };
        if s.status != "published" || s.kind != "online" {
            blocked.push(block("暂不能在线办理"));
            continue;
        }
        if let Some(reason) = start_refusal(db, &s.rule(), user).await? {
            blocked.push(block(&reason));
            continue;
        }
        let Some(current) = store::definitions::current(db, *sid).await? else {
            blocked.push(block("在线表单尚未开放"));
            continue;
        };
        let access = current
            .schema
            .access(&current.def.applicant_fields, FieldAccess::Editable);
        let needs_files = current.schema.fields.iter().any(|f| {
            f.kind == FieldKind::Attachments
                && f.required
                && access.get(&f.key) == Some(&FieldAccess::Editable)
        });
        if needs_files {
            blocked.push(block("需要上传附件，请单独办理"));
            continue;
        }
        ok.push(Member {
            service: s,
            current,
            access,
        });
    }
    Ok(if blocked.is_empty() {
        Ok(ok)
    } else {
        Err(blocked)
    })
}

/// The joint form: each member's fields under its name, a field shared with an earlier
/// member asked once; `map[i]` pairs member `i`'s keys with the joint form's.
pub struct Joint {
    pub schema: FormSchema,
    pub access: BTreeMap<String, FieldAccess>,
    pub map: Vec<Vec<(String, String)>>,
}

/// Shared means the same key and type, and the same label or the same profile source
/// (姓名 and 申请人 filled from the name are one field; two 用途 of different services
/// are not). Files are left out (the joint form takes none: `members` refuses a
/// service that requires them).
pub fn join(members: &[(&str, &str, &FormSchema, &BTreeMap<String, FieldAccess>)]) -> Joint {
    let mut fields: Vec<Field> = Vec::new();
    let mut access = BTreeMap::new();
    let mut map = Vec::new();
    for (i, (code, name, schema, acc)) in members.iter().enumerate() {
        let heading: Field = serde_json::from_value(serde_json::json!({
            "key": format!("m{i}__service"), "type": "section", "label": name
        }))
        .expect("a section");
        access.insert(heading.key.clone(), FieldAccess::Readonly);
        fields.push(heading);
        let mut pairs = Vec::new();
        for f in &schema.fields {
            let a = acc.get(&f.key).copied().unwrap_or(FieldAccess::Editable);
            if f.kind.is_decoration()
                || f.kind == FieldKind::Attachments
                || a == FieldAccess::Hidden
            {
                continue;
            }
            let shared = fields.iter_mut().find(|j| {
                j.key == f.key
                    && j.kind == f.kind
                    && (j.label == f.label || (j.autofill.is_some() && j.autofill == f.autofill))
            });
            if let Some(j) = shared {
                j.required |= f.required;
                if a == FieldAccess::Editable {
                    access.insert(j.key.clone(), FieldAccess::Editable);
                }
                pairs.push((f.key.clone(), j.key.clone()));
                continue;
            }
            let mut key = f.key.clone();
            if fields.iter().any(|j| j.key == key) {
                key = format!("{}_{}", code.to_lowercase(), f.key);
            }
            let mut joint = f.clone();
            joint.key = key.clone();
            // A birth date checks the 身份证号 of its own service, under its joint key.
            if let Some(of) = &f.birth_of {
                joint.birth_of = pairs
                    .iter()
                    .find(|(m, _)| m == of)
                    .map(|(_, j)| j.clone())
                    .or(Some(of.clone()));
            }
            access.insert(key.clone(), a);
            pairs.push((f.key.clone(), key));
            fields.push(joint);
        }
        map.push(pairs);
    }
    Joint {
        schema: FormSchema { fields },
        access,
        map,
    }
}

/// The joint form page.
pub struct BundleForm {
    pub bundle: BundleInfo,
    /// The form's one-time key (kept when the form comes back with messages).
    pub once: uuid::Uuid,
    pub fields: Vec<FieldView>,
    pub error_summary: Vec<(String, String)>,
    pub invalid: bool,
}

fn joint_of(ms: &[Member]) -> Joint {
    let parts: Vec<(&str, &str, &FormSchema, &BTreeMap<String, FieldAccess>)> = ms
        .iter()
        .map(|m| {
            (
                m.service.code.as_str(),
                m.service.name.as_str(),
                &m.current.schema,
                &m.access,
            )
        })
        .collect();
    join(&parts)
}

/// 立即办理 of a bundle: the joint form, filled from the profile.
pub async fn open(
    db: &PgPool,
    key: &SecretKey,
    today: chrono::NaiveDate,
    user: &CurrentUser,
    bundle: BundleInfo,
    ms: &[Member],
) -> AppResult<BundleForm> {
    let joint = joint_of(ms);
    let p = profile(db, user.id, Some(key)).await?;
    let data = forms::initial_values(&joint.schema, &p);
    let l = lookups(db, &joint.schema, &data, user.id, user.id, None, today).await?;
    Ok(BundleForm {
        bundle,
        once: uuid::Uuid::new_v4(),
        fields: views(
            &joint.schema,
            &data,
            &joint.access,
            &Errors::new(),
            &l,
            &[],
            &BTreeMap::new(),
        ),
        error_summary: Vec::new(),
        invalid: false,
    })
}

pub enum BundlePosted {
    /// Everything was submitted: the run's page.
    Run {
        run_id: i64,
        serials: Vec<String>,
    },
    /// This form was submitted before: that run's page.
    Again {
        run_id: i64,
    },
    Form(BundleForm),
}

/// 提交 of the joint form: each member's data validated by its own form's rules (a
/// message goes next to the joint field it came from); all submitted, or none.
pub async fn post(
    db: &PgPool,
    c: &ActCtx,
    user: &CurrentUser,
    bundle: BundleInfo,
    ms: &[Member],
    pairs: &[(String, String)],
) -> AppResult<BundlePosted> {
    let joint = joint_of(ms);
    // A form without a valid key (typed by hand, an old page) gets one: it can then be
    // submitted, just not recognised as a repeat.
    let once = pairs
        .iter()
        .find(|(k, _)| k == "once")
        .and_then(|(_, v)| uuid::Uuid::parse_str(v.trim()).ok())
        .unwrap_or_else(uuid::Uuid::new_v4);
    let p = profile(db, user.id, Some(&c.secret)).await?;
    let mut posted = forms::initial_values(&joint.schema, &p);
    for (k, v) in parse_post(&joint.schema, pairs) {
        if joint.access.get(&k) == Some(&FieldAccess::Editable) {
            posted.insert(k, v);
        }
    }
    forms::enforce_locked(&joint.schema, &p, &mut posted);
    let mut errors = Errors::new();
    let mut cleaned = Vec::new();
    for (m, pairs) in ms.iter().zip(&joint.map) {
        let schema = &m.current.schema;
        let mut data = forms::initial_values(schema, &p);
        for (mine, theirs) in pairs {
            if m.access.get(mine) == Some(&FieldAccess::Editable)
                && let Some(v) = posted.get(theirs)
            {
                data.insert(mine.clone(), v.clone());
            }
        }
        forms::enforce_locked(schema, &p, &mut data);
        resolve_accounts(db, schema, &mut data).await?;
        let ctx = check_ctx(db, schema, &data, user.id, c.today()).await?;
        match forms::validate(schema, &m.access, &data, &ctx) {
            Ok(clean) => cleaned.push((data, clean)),
            Err(e) => {
                for (k, msgs) in e {
                    let at = pairs
                        .iter()
                        .find(|(mine, _)| *mine == k)
                        .map_or(String::new(), |(_, j)| j.clone());
                    let list = errors.entry(at).or_default();
                    for msg in msgs {
                        if !list.contains(&msg) {
                            list.push(msg);
                        }
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        let l = lookups(
            db,
            &joint.schema,
            &posted,
            user.id,
            user.id,
            None,
            c.today(),
        )
        .await?;
        return Ok(BundlePosted::Form(BundleForm {
            error_summary: summary(&joint.schema, &errors),
            fields: views(
                &joint.schema,
                &posted,
                &joint.access,
                &errors,
                &l,
                &[],
                &BTreeMap::new(),
            ),
            bundle,
            once,
            invalid: true,
        }));
    }
    let titles: Vec<String> = ms
        .iter()
        .map(|m| forms::render::title(&m.service.name, &user.name))
        .collect();
    let items: Vec<BundleItem> = ms
        .iter()
        .zip(cleaned)
        .zip(&titles)
        .map(|((m, (data, clean)), title)| BundleItem {
            new: store::drafts::NewDraft {
                service_id: m.service.id,
                applicant_id: user.id,
                form_def_id: m.current.form_id,
                workflow_def_id: m.current.workflow_id,
                title,
                data: Value::Object(data),
                at: c.now,
            },
            data: clean,
            service_code: &m.service.code,
        })
        .collect();
    Ok(match submit_bundle(db, bundle.id, once, &items, c).await? {
        BundleSubmitted::New(run_id, apps) => BundlePosted::Run {
            run_id,
            serials: apps.into_iter().filter_map(|a| a.serial_no).collect(),
        },
        BundleSubmitted::Again(run_id) => BundlePosted::Again { run_id },
    })
}

/// One application of a run, as the run's page shows it.
#[derive(sqlx::FromRow)]
pub struct RunApp {
    pub id: i64,
    pub service: String,
    pub department: String,
    pub serial_no: Option<String>,
    pub status: String,
    /// The steps open now.
    pub step: Option<String>,
}

impl RunApp {
    pub fn status_label(&self) -> &'static str {
        status_label(&self.status)
    }
}

pub struct RunView {
    pub bundle_id: i64,
    pub bundle: String,
    pub at: String,
    pub apps: Vec<RunApp>,
    /// How many have ended 办结.
    pub completed: usize,
}

/// A run's page: its applications and how each stands. The applicant's only (404 for
/// anyone else, as for an application).
pub async fn run(
    db: &PgPool,
    tz: chrono_tz::Tz,
    user: &CurrentUser,
    run_id: i64,
) -> AppResult<RunView> {
    let head: Option<(i64, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT b.id, b.name, r.created_at FROM bundle_runs r JOIN bundles b ON b.id = r.bundle_id
         WHERE r.id = $1 AND r.applicant_id = $2",
    )
    .bind(run_id)
    .bind(user.id)
    .fetch_optional(db)
    .await?;
    let (bundle_id, bundle, at) = head.ok_or(AppError::NotFound)?;
    let apps: Vec<RunApp> = sqlx::query_as(
        "SELECT a.id, s.name AS service, d.name AS department, a.serial_no, a.status,
                (SELECT string_agg(DISTINCT t.node_name, '、') FROM tasks t
                 WHERE t.application_id = a.id AND t.status = 'pending') AS step
         FROM bundle_run_apps ra JOIN applications a ON a.id = ra.application_id
         JOIN services s ON s.id = a.service_id JOIN departments d ON d.id = s.department_id
         WHERE ra.run_id = $1 ORDER BY ra.position",
    )
    .bind(run_id)
    .fetch_all(db)
    .await?;
    Ok(RunView {
        bundle_id,
        bundle,
        at: at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        completed: apps.iter().filter(|a| a.status == "completed").count(),
        apps,
    })
}

/// The run an application belongs to, if it was started by a bundle (its page links
/// to the run).
pub async fn run_of(db: &PgPool, app_id: i64) -> sqlx::Result<Option<(i64, String)>> {
    sqlx::query_as(
        "SELECT ra.run_id, b.name FROM bundle_run_apps ra JOIN bundle_runs r ON r.id = ra.run_id
         JOIN bundles b ON b.id = r.bundle_id WHERE ra.application_id = $1",
    )
    .bind(app_id)
    .fetch_optional(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(v: serde_json::Value) -> FormSchema {
        serde_json::from_value(serde_json::json!({ "fields": v })).unwrap()
    }

    #[test]
    fn shared_fields_are_asked_once_and_different_ones_kept_apart() {
        let a = schema(serde_json::json!([
            {"key": "name", "type": "text", "label": "姓名", "autofill": "name", "locked": true},
            {"key": "phone", "type": "phone", "label": "手机号"},
            {"key": "purpose", "type": "textarea", "label": "用途说明"},
            {"key": "files", "type": "attachments", "label": "附件"}
        ]));
        let b = schema(serde_json::json!([
            {"key": "name", "type": "text", "label": "申请人", "autofill": "name", "locked": true},
            {"key": "phone", "type": "phone", "label": "手机号", "required": true},
            {"key": "purpose", "type": "textarea", "label": "使用用途", "required": true},
            {"key": "secret", "type": "text", "label": "内部"}
        ]));
        let mut hide = BTreeMap::new();
        hide.insert("secret".to_owned(), FieldAccess::Hidden);
        let j = join(&[
            ("YXSQ", "邮箱申请", &a, &BTreeMap::new()),
            ("VPNS", "VPN 账号申请", &b, &hide),
        ]);
        let keys: Vec<&str> = j.schema.fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "m0__service",
                "name",
                "phone",
                "purpose",
                "m1__service",
                "vpns_purpose"
            ]
        );
        // Shared: required if any member requires it.
        assert!(j.schema.fields[2].required);
        assert_eq!(
            j.map[1],
            [
                ("name".to_owned(), "name".to_owned()),
                ("phone".to_owned(), "phone".to_owned()),
                ("purpose".to_owned(), "vpns_purpose".to_owned()),
            ]
        );
    }
}
