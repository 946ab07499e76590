//! Attachments: files arrive with the form and are served to those who may see them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sqlx::PgPool;

use super::{ActCtx, definitions, load_visible, open_nodes, viewer_rules};
use crate::{
    error::{AppError, AppResult},
    forms::{self, Errors, FieldAccess, FormSchema, files, input::Upload},
    web::user::CurrentUser,
    workflow::store::{self, AppStatus, attachments::FileMeta},
};

/// Files posted with a form, and the removals ticked on it.
pub struct Change<'a> {
    pub app_id: i64,
    /// The version the page showed.
    pub version: i32,
    pub schema: &'a FormSchema,
    pub access: &'a BTreeMap<String, FieldAccess>,
    pub uploads: Vec<Upload>,
    pub removals: &'a [i64],
}

/// Stores the files of the editable attachment fields and removes the ticked ones; files
/// refused (type, size, total) go into `errors` by field.
#[tracing::instrument(skip_all, fields(app = ch.app_id))]
pub async fn save(db: &PgPool, c: &ActCtx, ch: Change<'_>, errors: &mut Errors) -> AppResult<()> {
    let mut tx = db.begin().await?;
    // Files change only on the applicant's own draft or returned application, at the
    // version the page showed, under the row's lock: the loser of a race (or a request
    // after the resubmission) changes no files.
    if !store::attachments::lock_editable(&mut tx, ch.app_id, c.actor, ch.version).await? {
        return Err(AppError::Conflict("该事项已被处理"));
    }
    if !ch.removals.is_empty() {
        // Only files of fields the applicant may edit.
        let fields: Vec<&str> = ch
            .schema
            .fields
            .iter()
            .filter(|f| {
                f.kind == forms::FieldKind::Attachments
                    && ch.access.get(&f.key) == Some(&FieldAccess::Editable)
            })
            .map(|f| f.key.as_str())
            .collect();
        store::attachments::remove(&mut tx, ch.app_id, ch.removals, &fields).await?;
    }
    let mut total = store::attachments::total_size(&mut tx, ch.app_id).await?;
    for u in ch.uploads {
        let Some(f) = ch
            .schema
            .fields
            .iter()
            .find(|f| f.key == u.field && f.kind == forms::FieldKind::Attachments)
        else {
            continue;
        };
        if ch.access.get(&f.key) != Some(&FieldAccess::Editable) {
            continue;
        }
        let content_type = match files::check(&u.name, &u.data, c.upload_max_file) {
            Ok(ct) => ct,
            Err(e) => {
                errors
                    .entry(f.key.clone())
                    .or_default()
                    .push(e.message(&u.name));
                continue;
            }
        };
        if total + u.data.len() as i64 > c.upload_max_total as i64 {
            errors.entry(f.key.clone()).or_default().push(format!(
                "附件总大小不能超过 {} MB，“{}”未能添加",
                c.upload_max_total / (1024 * 1024),
                u.name
            ));
            continue;
        }
        total += u.data.len() as i64;
        store::attachments::insert(
            &mut tx,
            store::attachments::NewFile {
                app: ch.app_id,
                field_key: &f.key,
                file_name: &files::clean_name(&u.name).unwrap_or_else(|| "附件".into()),
                content_type,
                sha256: &files::sha256_hex(&u.data),
                data: &u.data,
                uploaded_by: c.actor,
                at: c.now,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Attachment fields hold the ids of the application's stored files, never posted ids.
pub async fn attach_ids(
    db: &PgPool,
    app_id: i64,
    schema: &FormSchema,
    data: &mut Map<String, Value>,
) -> sqlx::Result<()> {
    let mut conn = db.acquire().await?;
    for f in schema
        .fields
        .iter()
        .filter(|f| f.kind == forms::FieldKind::Attachments)
    {
        let ids = store::attachments::ids_in_field(&mut conn, app_id, &f.key).await?;
        data.insert(f.key.clone(), Value::from(ids));
    }
    Ok(())
}

/// The file, if `user` may see its application and the field it is in; else 404.
#[tracing::instrument(skip_all, fields(attachment = id, user = user.id))]
pub async fn download(db: &PgPool, user: &CurrentUser, id: i64) -> AppResult<FileMeta> {
    let meta = store::attachments::meta(&mut *db.acquire().await?, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let app = load_visible(db, meta.application_id, user.id).await?;
    // A file in a field hidden from this viewer is as good as not there.
    if app.status != AppStatus::Draft {
        let defs = definitions(db, &app).await?;
        let (schema, def) = (&defs.0, &defs.1);
        let st = app.engine_state();
        let map = viewer_rules(db, &app, def, &open_nodes(st.as_ref(), user.id), user.id).await?;
        if schema
            .access(&map, FieldAccess::Readonly)
            .get(&meta.field_key)
            == Some(&FieldAccess::Hidden)
        {
            return Err(AppError::NotFound);
        }
    }
    Ok(meta)
}
