use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use service_hall::{
    clock::SystemClock,
    config::{Settings, help_text},
    db, seed,
    startup::{Application, secret_key, shutdown_signal},
    telemetry,
};

#[derive(Parser)]
#[command(name = "service-hall", version, about = "网上办事服务大厅 — the university's online service hall", after_help = help_text())]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the portal (the default). Seeds demo data into an empty database.
    Serve {
        /// Do not seed demo data into an empty database.
        #[arg(long)]
        no_demo: bool,
    },
    /// Create the database if needed and apply pending migrations, then exit.
    Migrate,
    /// Insert the demo departments and accounts that are missing (idempotent).
    SeedDemo,
    /// Fill the database with benchmark data (after `seed-demo`): 30,000 people, 1,000,000
    /// applications, 5,000,000 tasks and 10,000,000 flow records by default, a few
    /// approvers holding thousands of open tasks. Generated accounts are G000001… with
    /// the demo password. Never on a production database.
    Generate {
        #[arg(long, default_value_t = 30_000)]
        users: i64,
        #[arg(long, default_value_t = 1_000_000)]
        applications: i64,
        #[arg(long, default_value_t = 5_000_000)]
        tasks: i64,
        #[arg(long, default_value_t = 10_000_000)]
        flow_records: i64,
        /// Seed for PostgreSQL's random(), between -1 and 1: the same seed gives the same data.
        #[arg(long, default_value_t = 0.42)]
        seed: f64,
    },
    /// Issue a 激活码 for a not yet activated account (when HALL_REQUIRE_ACTIVATION_CODE is
    /// on); printed once, stored only as a keyed hash. A new code replaces the old one.
    ActivationCode {
        #[arg(long)]
        account: String,
    },
    /// Create a 系统管理员 (or promote an existing account and set its password).
    /// The password comes from HALL_ADMIN_PASSWORD or is asked for on the terminal.
    CreateAdmin {
        #[arg(long)]
        account: String,
        #[arg(long, default_value = "系统管理员")]
        name: String,
    },
}

#[tokio::main]
async fn main() {
    telemetry::init();
    service_hall::init_tls();
    if let Err(e) = run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    match cli.command.unwrap_or(Command::Serve { no_demo: false }) {
        Command::Serve { no_demo } => serve(settings, no_demo).await,
        Command::Migrate => {
            let database = db::open(&settings).await?;
            println!("migrations applied");
            database.pool.close().await;
            Ok(())
        }
        Command::SeedDemo => {
            let database = db::open(&settings).await?;
            seed::seed_demo(&database.pool, &secret_key(&settings)?).await?;
            println!("demo data present");
            print_demo_accounts();
            database.pool.close().await;
            Ok(())
        }
        Command::Generate {
            users,
            applications,
            tasks,
            flow_records,
            seed,
        } => {
            let database = db::open(&settings).await?;
            if seed::is_empty(&database.pool).await? {
                seed::seed_demo(&database.pool, &secret_key(&settings)?).await?;
            }
            let r = service_hall::generate::generate(
                &database.pool,
                service_hall::generate::Sizes {
                    users,
                    applications,
                    tasks,
                    flow_records,
                },
                seed,
            )
            .await?;
            println!(
                "generated in {:.0} s; the database now holds {} users, {} applications, {} tasks, {} flow records",
                r.seconds, r.users, r.applications, r.tasks, r.flow_records
            );
            println!("busiest approvers (account, pending):");
            for (account, pending) in r.heaviest {
                println!("  {account}  {pending}");
            }
            database.pool.close().await;
            Ok(())
        }
        Command::ActivationCode { account } => {
            let database = db::open(&settings).await?;
            let code = service_hall::identity::flows::issue_activation_code(
                &database.pool,
                &secret_key(&settings)?,
                &account,
            )
            .await?;
            database.pool.close().await;
            match code {
                Some(c) => {
                    println!("{account}: {c}");
                    Ok(())
                }
                None => anyhow::bail!("{account}: no such account waiting for activation"),
            }
        }
        Command::CreateAdmin { account, name } => {
            let password = match std::env::var("HALL_ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    let p = rpassword::prompt_password("password: ").context("read password")?;
                    let again = rpassword::prompt_password("again: ").context("read password")?;
                    anyhow::ensure!(p == again, "the two passwords differ");
                    p
                }
            };
            let database = db::open(&settings).await?;
            seed::create_admin(&database.pool, &account, &name, &password).await?;
            println!("{account} is a 系统管理员");
            database.pool.close().await;
            Ok(())
        }
    }
}

fn print_demo_accounts() {
    println!("demo accounts (password {}):", seed::DEMO_PASSWORD);
    for line in seed::demo_account_lines() {
        println!("  {line}");
    }
}

async fn serve(settings: Settings, no_demo: bool) -> anyhow::Result<()> {
    let database = db::open(&settings).await?;
    let pool = database.pool.clone();
    let seeded = if !no_demo && seed::is_empty(&pool).await? {
        seed::seed_demo(&pool, &secret_key(&settings)?).await?;
        true
    } else {
        false
    };
    let demo: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM app_meta WHERE key = 'demo_data')")
            .fetch_one(&pool)
            .await?;
    let base = settings.base_url.clone();
    let app = Application::build(settings, pool.clone(), Arc::new(SystemClock)).await?;
    println!("网上办事服务大厅 is running at {base}");
    if seeded {
        println!("demo data was loaded into the new database");
    }
    if demo {
        print_demo_accounts();
    }
    app.run_until_stopped(shutdown_signal()).await?;
    pool.close().await;
    drop(database); // stops the embedded PostgreSQL, if any
    Ok(())
}
