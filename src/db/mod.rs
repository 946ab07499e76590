//! Database bootstrap: the configured server (`DATABASE_URL`) or the embedded cluster,
//! database creation, migrations.

pub mod embedded;
pub mod health;
pub mod listen;

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    ConnectOptions, Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

pub use embedded::EmbeddedPostgres;

use crate::config::Settings;

/// Name of the database inside the embedded cluster.
pub const EMBEDDED_DB: &str = "service_hall";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database the portal uses, plus the embedded server when there is one; dropping
/// `Database` stops that server.
pub struct Database {
    pub pool: PgPool,
    pub embedded: Option<EmbeddedPostgres>,
}

/// Connect options for the configured target: `DATABASE_URL` or the embedded cluster
/// (started here when needed).
pub async fn target(
    settings: &Settings,
) -> anyhow::Result<(PgConnectOptions, Option<EmbeddedPostgres>)> {
    match &settings.database_url {
        Some(url) => {
            let opts = PgConnectOptions::from_str(url)
                .context("DATABASE_URL is not a valid postgres:// URL")?;
            Ok((opts, None))
        }
        None => {
            let dir = settings.data_dir.join("postgres");
            let pg = tokio::task::block_in_place(|| EmbeddedPostgres::start(&dir))?;
            Ok((pg.connect_options(EMBEDDED_DB), Some(pg)))
        }
    }
}

/// Create the target database when it does not exist and the role may.
pub async fn ensure_database(opts: &PgConnectOptions) -> anyhow::Result<()> {
    let name = opts.get_database().unwrap_or("postgres").to_owned();
    if opts.clone().connect().await.is_ok() {
        return Ok(());
    }
    let maintenance = opts.clone().database("postgres");
    let mut conn = PgConnection::connect_with(&maintenance).await.context(
        "cannot connect to the PostgreSQL server (check DATABASE_URL and that the server runs)",
    )?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // Identifiers cannot be bound as parameters; quote it as PostgreSQL does.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await
            .with_context(|| {
                format!("database {name:?} does not exist and could not be created")
            })?;
        tracing::info!(database = %name, "created database");
    }
    conn.close().await.ok();
    Ok(())
}

/// Our migrations (the session table included); a no-op when up to date.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("run migrations")?;
    Ok(())
}

pub async fn pool(opts: PgConnectOptions, max: u32) -> anyhow::Result<PgPool> {
    let opts = opts.log_slow_statements(log::LevelFilter::Warn, Duration::from_millis(500));
    PgPoolOptions::new()
        .max_connections(max)
        // While the server is down, a request waits this long (the pool keeps trying to
        // connect) and then gets 503 系统繁忙; a short restart is ridden out.
        .acquire_timeout(Duration::from_secs(5))
        // No ping before every checkout: it doubles the round trips of every request
        // (sqlx already pings on release, so a connection broken mid-query never returns
        // to the pool). Connections that die while idle (a server restart) are caught by
        // `health::check_on_acquire`: a ping after a quiet spell, and once any request
        // has met a broken connection, every connection older than that is dropped.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| Box::pin(health::check_on_acquire(conn, meta)))
        .idle_timeout(Duration::from_secs(300))
        .max_lifetime(Duration::from_secs(1800))
        .connect_with(opts)
        .await
        .context("connect to the database")
}

/// Everything `serve` and `migrate` need: server, database, schema.
pub async fn open(settings: &Settings) -> anyhow::Result<Database> {
    let (opts, embedded) = target(settings).await?;
    ensure_database(&opts).await?;
    let pool = pool(opts, settings.db_max_connections).await?;
    migrate(&pool).await?;
    Ok(Database { pool, embedded })
}
