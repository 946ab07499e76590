//! 提交 and resubmitting: the engine starts (or resumes) the flow and the transition is
//! written with the application's 流水号.

use serde_json::{Map, Value, json};
use sqlx::{PgConnection, PgPool};

use super::ActCtx;
use crate::workflow::{
    engine::{self, Action, Ctx, State},
    store::{
        AppRow, AppStatus, StoreError, definitions, drafts, load_app,
        resolve::resolve,
        transition::{AppUpdate, Plan, next_serial, write},
    },
};

/// Whether a failed submission may run again: the connection broke before COMMIT was
/// sent (a COMMIT that fails is in doubt and is reported as `Other`, never retried).
fn retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(e) if crate::db::health::is_broken_connection(e))
}

/// COMMIT; a failure is in doubt (the server may have committed before the connection
/// broke), so it is not retried and not counted as "nothing happened".
async fn commit(tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), StoreError> {
    tx.commit().await.map_err(|e| {
        StoreError::Other(anyhow::Error::new(e).context("COMMIT of a submission; outcome unknown"))
    })
}

/// How long a one-time key (the form's, or the API's `Idempotency-Key`) still sends a
/// repeat to the application it made: far beyond any double click or client retry.
pub const KEY_DAYS: i32 = 7;

/// Forgets one-time keys older than [`KEY_DAYS`], so the table holds a week of 提交, not
/// every one ever. Run hourly by the worker; no index on `created_at` (each 提交 would pay
/// for one): the scan reads a week of narrow rows once an hour.
pub async fn prune_keys(db: &PgPool, now: chrono::DateTime<chrono::Utc>) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "DELETE FROM submission_keys WHERE created_at < $1 - make_interval(days => $2)",
    )
    .bind(now)
    .bind(KEY_DAYS)
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

/// 提交 a draft, or resubmit a returned application (straight back to the node that
/// returned it). `data` has been validated by the caller.
#[tracing::instrument(skip_all, fields(app = app_id))]
pub async fn submit(
    db: &PgPool,
    app_id: i64,
    expected_version: i32,
    data: Map<String, Value>,
    service_code: &str,
    c: &ActCtx,
) -> Result<AppRow, StoreError> {
    // A transaction, unlike `act`: the 流水号 counter must roll back with a lost race.
    // Nothing is committed unless COMMIT succeeds, so a broken connection before it
    // means the whole transaction can run again.
    crate::db::health::retry_once("submit", retryable, || async {
        let mut tx = db.begin().await?;
        let app = load_app(&mut tx, app_id).await?.ok_or(StoreError::Stale)?;
        if app.applicant_id != c.actor || app.version != expected_version {
            return Err(StoreError::Stale);
        }
        let app = submit_in(db, &mut tx, app, data.clone(), service_code, c, false).await?;
        commit(tx).await?;
        Ok(app)
    })
    .await
}

/// 提交 of a new application: the row, the start of the flow, the 流水号, tasks,
/// notices and audit in one transaction, so a failure anywhere leaves no draft behind.
#[tracing::instrument(skip_all, fields(service = new.service_id))]
/// `once`: the form's one-time key; when it was used already (the same form posted again,
/// even at the same moment) nothing is written and `Err` names the application it made.
pub async fn submit_new(
    db: &PgPool,
    new: drafts::NewDraft<'_>,
    data: Map<String, Value>,
    service_code: &str,
    c: &ActCtx,
    once: Option<uuid::Uuid>,
) -> Result<Result<AppRow, i64>, StoreError> {
    crate::db::health::retry_once("submit a new application", retryable, || async {
        let mut tx = db.begin().await?;
        let app = new_row(&mut tx, &new).await?;
        if let Some(key) = once {
            // First: a concurrent post of the same form waits here for this one to end.
            // A plain INSERT, its unique violation caught: `ON CONFLICT DO NOTHING` would
            // write one WAL record more on every 提交 (`cargo bench --bench wal`).
            let r = sqlx::query(
                "INSERT INTO submission_keys (user_id, key, application_id, created_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(c.actor)
            .bind(key)
            .bind(app.id)
            .bind(c.now)
            .execute(&mut *tx)
            .await;
            match r {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    drop(tx);
                    let earlier: i64 = sqlx::query_scalar(
                        "SELECT application_id FROM submission_keys
                         WHERE user_id = $1 AND key = $2",
                    )
                    .bind(c.actor)
                    .bind(key)
                    .fetch_one(db)
                    .await?;
                    return Ok(Err(earlier));
                }
                other => {
                    other?;
                }
            }
        }
        let app = submit_in(db, &mut tx, app, data.clone(), service_code, c, true).await?;
        commit(tx).await?;
        Ok(Ok(app))
    })
    .await
}

/// A new application's row as it will be submitted: the id drawn first (notices link to
/// it); the row is written once, as submitted.
async fn new_row(tx: &mut PgConnection, new: &drafts::NewDraft<'_>) -> Result<AppRow, StoreError> {
    let id: i64 = sqlx::query_scalar("SELECT nextval('applications_id_seq')")
        .fetch_one(&mut *tx)
        .await?;
    Ok(AppRow {
        id,
        service_id: new.service_id,
        applicant_id: new.applicant_id,
        form_def_id: new.form_def_id,
        workflow_def_id: new.workflow_def_id,
        serial_no: None,
        title: new.title.to_owned(),
        status: AppStatus::Draft,
        data: new.data.clone(),
        submitted_data: None,
        changed_fields: Vec::new(),
        state: None,
        version: 0,
        rating: None,
        rating_comment: None,
        created_at: new.at,
        updated_at: new.at,
        submitted_at: None,
        finished_at: None,
    })
}

/// One application of a 一事联办 run: the new row, its validated data, its service code.
pub struct BundleItem<'a> {
    pub new: drafts::NewDraft<'a>,
    pub data: Map<String, Value>,
    pub service_code: &'a str,
}

/// What a bundle's 提交 did.
pub enum BundleSubmitted {
    /// The run, and its applications in the bundle's order.
    New(i64, Vec<AppRow>),
    /// The form was posted before (its one-time key is used): that run, nothing new.
    Again(i64),
}

/// 提交 of a 一事联办 bundle: every service's application, each with its own 流水号 and
/// workflow, and the run that lists them, in one transaction — all or none. `once`: the
/// form's one-time key; a second post of it (even at the same moment) starts nothing.
#[tracing::instrument(skip_all, fields(bundle = bundle_id))]
pub async fn submit_bundle(
    db: &PgPool,
    bundle_id: i64,
    once: uuid::Uuid,
    items: &[BundleItem<'_>],
    c: &ActCtx,
) -> Result<BundleSubmitted, StoreError> {
    crate::db::health::retry_once("submit a bundle", retryable, || async {
        let mut tx = db.begin().await?;
        // The run first: a concurrent post of the same form waits here for this one to
        // end, then finds the key used.
        let run: Option<i64> = sqlx::query_scalar(
            "INSERT INTO bundle_runs (bundle_id, applicant_id, created_at, submission_key)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (applicant_id, submission_key) DO NOTHING RETURNING id",
        )
        .bind(bundle_id)
        .bind(c.actor)
        .bind(c.now)
        .bind(once)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(run) = run else {
            drop(tx);
            let earlier: i64 = sqlx::query_scalar(
                "SELECT id FROM bundle_runs WHERE applicant_id = $1 AND submission_key = $2",
            )
            .bind(c.actor)
            .bind(once)
            .fetch_one(db)
            .await?;
            return Ok(BundleSubmitted::Again(earlier));
        };
        // Each service's 流水号 counter row stays locked to the commit: taken in service id
        // order, so two bundles sharing services cannot deadlock on them.
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| items[i].new.service_id);
        let mut placed: Vec<Option<AppRow>> = (0..items.len()).map(|_| None).collect();
        for i in order {
            let it = &items[i];
            let app = new_row(&mut tx, &it.new).await?;
            let app =
                submit_in(db, &mut tx, app, it.data.clone(), it.service_code, c, true).await?;
            placed[i] = Some(app);
        }
        let apps: Vec<AppRow> = placed.into_iter().flatten().collect();
        let ids: Vec<i64> = apps.iter().map(|a| a.id).collect();
        sqlx::query(
            "INSERT INTO bundle_run_apps (run_id, application_id, position)
             SELECT $1, a, n FROM UNNEST($2::int8[]) WITH ORDINALITY AS t(a, n)",
        )
        .bind(run)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        commit(tx).await?;
        Ok(BundleSubmitted::New(run, apps))
    })
    .await
}

/// The submission itself, inside the caller's transaction; `new_row`: `app` is not
/// stored yet (its id drawn from the sequence).
async fn submit_in(
    db: &PgPool,
    tx: &mut PgConnection,
    mut app: AppRow,
    data: Map<String, Value>,
    service_code: &str,
    c: &ActCtx,
    new_row: bool,
) -> Result<AppRow, StoreError> {
    let defs = definitions::load(db, &mut *tx, &app).await?;
    let (schema, def) = (&defs.0, &defs.1);
    let form = Value::Object(data.clone());
    let (approvers, fallback) =
        resolve(&mut *tx, def, app.applicant_id, app.service_id, &form, None).await?;
    let ctx = Ctx {
        applicant: app.applicant_id,
        form: &form,
        approvers: &approvers,
        fallback: &fallback,
    };
    let (st, fx, before, resubmit) = match app.status {
        AppStatus::Draft => {
            let (st, fx) = engine::start(def, &ctx)?;
            (st, fx, Vec::new(), false)
        }
        AppStatus::Returned => {
            let prev: State = serde_json::from_value(app.state.clone().unwrap_or(Value::Null))
                .map_err(anyhow::Error::from)?;
            let (st, fx) = engine::apply(def, &prev, &Action::Resubmit { user: c.actor }, &ctx)?;
            (st, fx, engine::pending(&prev), true)
        }
        _ => return Err(StoreError::Stale),
    };
    if app.serial_no.is_none() {
        app.serial_no = Some(next_serial(&mut *tx, service_code, c.now, c.tz).await?);
    }
    // Against the data as the approvers left it (not the first submission): what the
    // applicant changed now, not what the departments filled in meanwhile.
    let changed = match (&app.data, resubmit) {
        (Value::Object(prev), true) => crate::forms::changed_fields(schema, prev, &data),
        _ => Vec::new(),
    };
    let start = def
        .start()
        .map(|n| n.id.clone())
        .unwrap_or_else(|| "start".into());
    let mut plan = Plan::default();
    plan.flow(
        &start,
        "申请人提交",
        Some(c.actor),
        if resubmit { "resubmit" } else { "submit" },
        "",
        json!({ "changed": changed }),
    );
    plan.sync(def, &app, &before, &st, &fx, None, c);
    write(
        &mut *tx,
        &app,
        AppUpdate {
            state: &st,
            data: Some(&form),
            submitted_data: Some(&form),
            changed_fields: Some(&changed),
            serial_no: app.serial_no.as_deref(),
            submitted_at: Some(c.now),
            new_row,
        },
        plan,
        if resubmit {
            "application.resubmit"
        } else {
            "application.submit"
        },
        json!({ "serial_no": app.serial_no }),
        c,
    )
    .await?;
    // The caller needs the id and the 流水号; no re-read while the counter row is locked.
    app.version += 1;
    app.status = st.status.into();
    Ok(app)
}
