//! Form and workflow definitions: immutable versioned rows, parsed once per process.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::AppRow;
use crate::{forms::FormSchema, workflow::model::Definition};

/// Parsed definitions by (database, form id, workflow id). Definition rows never change (a
/// new version is a new row; a trigger refuses updates), so they can be kept for the life
/// of the process: most actions then read no definition from the database.
type DefKey = (String, i64, i64);
type DefCache = Mutex<HashMap<DefKey, Arc<(FormSchema, Definition)>>>;
static DEFINITIONS: OnceLock<DefCache> = OnceLock::new();

/// The definitions `app` started with.
pub async fn load(
    db: &PgPool,
    conn: &mut PgConnection,
    app: &AppRow,
) -> anyhow::Result<Arc<(FormSchema, Definition)>> {
    let key = (
        db.connect_options().get_database().unwrap_or("").to_owned(),
        app.form_def_id,
        app.workflow_def_id,
    );
    let cache = DEFINITIONS.get_or_init(Default::default);
    if let Some(hit) = cache.lock().expect("definition cache").get(&key) {
        return Ok(hit.clone());
    }
    let (schema, def): (Value, Value) = sqlx::query_as(
        "SELECT f.schema, w.definition FROM form_definitions f, workflow_definitions w
         WHERE f.id = $1 AND w.id = $2",
    )
    .bind(app.form_def_id)
    .bind(app.workflow_def_id)
    .fetch_one(conn)
    .await?;
    let parsed = Arc::new((
        serde_json::from_value(schema)?,
        serde_json::from_value(def)?,
    ));
    let mut map = cache.lock().expect("definition cache");
    if map.len() > 10_000 {
        map.clear();
    }
    map.insert(key, parsed.clone());
    Ok(parsed)
}

/// The current version's form and workflow definitions of a service, with their ids.
pub struct Current {
    pub form_id: i64,
    pub schema: FormSchema,
    pub workflow_id: i64,
    pub def: Definition,
}

#[derive(sqlx::FromRow)]
struct CurrentRow {
    form_id: i64,
    schema: Value,
    workflow_id: i64,
    definition: Value,
}

pub async fn current(db: &PgPool, service_id: i64) -> anyhow::Result<Option<Current>> {
    let row: Option<CurrentRow> = sqlx::query_as(
        "SELECT f.id AS form_id, f.schema, w.id AS workflow_id, w.definition
         FROM (SELECT * FROM service_versions WHERE service_id = $1 ORDER BY number DESC LIMIT 1) v
         JOIN form_definitions f ON f.id = v.form_def_id
         JOIN workflow_definitions w ON w.id = v.workflow_def_id",
    )
    .bind(service_id)
    .fetch_optional(db)
    .await?;
    // A stored definition that no longer parses is a bug to surface, not a missing form.
    let current = row
        .map(|r| {
            Ok::<_, anyhow::Error>(Current {
                form_id: r.form_id,
                schema: serde_json::from_value(r.schema)
                    .map_err(|e| anyhow::anyhow!("form definition {}: {e}", r.form_id))?,
                workflow_id: r.workflow_id,
                def: serde_json::from_value(r.definition)
                    .map_err(|e| anyhow::anyhow!("workflow definition {}: {e}", r.workflow_id))?,
            })
        })
        .transpose()?;
    // The application about to be submitted on these definitions finds them parsed: the
    // first one after a publish loads no definition again.
    if let Some(c) = &current {
        let key = (
            db.connect_options().get_database().unwrap_or("").to_owned(),
            c.form_id,
            c.workflow_id,
        );
        let mut map = DEFINITIONS
            .get_or_init(Default::default)
            .lock()
            .expect("definition cache");
        if !map.contains_key(&key) {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(key, Arc::new((c.schema.clone(), c.def.clone())));
        }
    }
    Ok(current)
}

/// The current version's definitions as stored (JSON), for export: a package carries
/// them exactly as they were published.
pub async fn current_raw(db: &PgPool, service_id: i64) -> sqlx::Result<Option<(Value, Value)>> {
    sqlx::query_as(
        "SELECT f.schema, w.definition
         FROM (SELECT * FROM service_versions WHERE service_id = $1 ORDER BY number DESC LIMIT 1) v
         JOIN form_definitions f ON f.id = v.form_def_id
         JOIN workflow_definitions w ON w.id = v.workflow_def_id",
    )
    .bind(service_id)
    .fetch_optional(db)
    .await
}
