//! `GET /admin/audit/export`: the filtered log as CSV.

use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono_tz::Tz;
use sqlx::QueryBuilder;

use super::{
    AuditQuery, COLUMNS, EXPORT_MAX, Filter, Raw,
    labels::{action_label, outcome_label},
    push_where,
};
use crate::{
    audit::Entry,
    error::AppResult,
    web::AppState,
    web::export::csv_cell,
    web::user::{AdminUser, ClientIp},
};

/// `GET /admin/audit/export`: the rows the same filters show, newest first, at most
/// `EXPORT_MAX`, as UTF-8 CSV with a BOM (so Excel reads the Chinese). Streamed in
/// batches; rows written after the request began are left out, so the file is the log
/// as it was then. Audited (with the filters) before the first byte.
pub async fn export(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Query(mut q): Query<AuditQuery>,
) -> AppResult<Response> {
    q.tidy();
    let tz = state.settings.time_zone;
    let f = match q.filter(tz) {
        Ok(f) => f,
        Err(e) => {
            let msg = e.from.or(e.to).unwrap_or("筛选条件有误。");
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, msg).into_response());
        }
    };
    let upto: i64 = sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM audit_log")
        .fetch_one(&state.db)
        .await?;
    let mut count = QueryBuilder::new("SELECT count(*) FROM (SELECT 1 FROM audit_log a");
    push_where(&mut count, &f);
    count
        .push(" AND a.id <= ")
        .push_bind(upto)
        .push(" LIMIT ")
        .push_bind(EXPORT_MAX + 1)
        .push(") c");
    let matched: i64 = count.build_query_scalar().fetch_one(&state.db).await?;
    let now = state.now();
    Entry::about("", "audit.export")
        .by(Some(admin.id))
        .ip(ip)
        .detail(serde_json::json!({
            "filters": q.query_string(),
            "rows": matched.min(EXPORT_MAX),
            "truncated": matched > EXPORT_MAX,
        }))
        .record(&state.db, now)
        .await?;

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let db = state.db.clone();
    tokio::spawn(async move {
        if let Err(e) = write_csv(&db, f, upto, tz, &tx).await {
            tracing::warn!(error = %e, "audit export stopped");
            let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let name = format!(
        "audit-{}.csv",
        now.with_timezone(&tz).format("%Y%m%d-%H%M%S")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

type Csv = csv::Writer<Vec<u8>>;

fn finish(out: Csv) -> Result<Bytes, Box<dyn std::error::Error + Send + Sync>> {
    Ok(Bytes::from(out.into_inner().map_err(|e| e.into_error())?))
}

/// Writes the filtered rows to `tx` in batches of 1,000, by id (keyset), newest first.
async fn write_csv(
    db: &sqlx::PgPool,
    f: Filter,
    upto: i64,
    tz: Tz,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    const BATCH: i64 = 1_000;
    let mut head = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    head.write_record([
        "编号",
        "时间",
        "操作人账号",
        "操作人姓名",
        "操作",
        "操作说明",
        "对象",
        "IP",
        "结果",
        "详情",
    ])?;
    if tx.send(Ok(finish(head)?)).await.is_err() {
        return Ok(());
    }
    let mut last = upto + 1;
    let mut written = 0;
    while written < EXPORT_MAX {
        let mut qb = QueryBuilder::new(COLUMNS);
        push_where(&mut qb, &f);
        qb.push(" AND a.id < ")
            .push_bind(last)
            .push(" ORDER BY a.id DESC LIMIT ")
            .push_bind(BATCH.min(EXPORT_MAX - written));
        let rows: Vec<Raw> = qb.build_query_as().fetch_all(db).await?;
        let Some(end) = rows.last() else { break };
        last = end.id;
        written += rows.len() as i64;
        let mut out = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 200));
        for r in &rows {
            out.write_record([
                r.id.to_string(),
                r.at.with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                csv_cell(r.account.as_deref().unwrap_or("")),
                csv_cell(r.name.as_deref().unwrap_or("")),
                csv_cell(&r.action),
                action_label(&r.action).unwrap_or("").to_owned(),
                csv_cell(&r.target),
                r.ip.map(|i| i.ip().to_string()).unwrap_or_default(),
                outcome_label(&r.outcome).to_owned(),
                csv_cell(&r.details.to_string()),
            ])?;
        }
        if tx.send(Ok(finish(out)?)).await.is_err() {
            // The client went away.
            return Ok(());
        }
        if (rows.len() as i64) < BATCH {
            break;
        }
    }
    Ok(())
}
