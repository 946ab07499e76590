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
    /// Campus systems that sign in through the hall (CAS and OpenID Connect clients).
    #[command(subcommand)]
    SsoClient(SsoClientCommand),
    /// Make a new id_token signing key; the old one stays published for a day.
    SsoRotateKey,
}

#[derive(Subcommand)]
enum SsoClientCommand {
    /// Register a system; prints its client id and secret (the secret only this once).
    Add {
        #[arg(long)]
        name: String,
        /// An OpenID Connect redirect URI (repeat for several).
        #[arg(long)]
        redirect: Vec<String>,
        /// A CAS service URL pattern, a regular expression matched against the whole URL
        /// (repeat for several).
        #[arg(long)]
        cas_service: Vec<String>,
        /// Scopes it may ask for (default: openid profile).
        #[arg(long, value_delimiter = ',')]
        scope: Vec<String>,
        /// Where RP-initiated logout may return to (repeat for several).
        #[arg(long)]
        post_logout_redirect: Vec<String>,
        /// OIDC front-channel logout URI.
        #[arg(long)]
        frontchannel_logout: Option<String>,
        /// A campus-internal system: no consent screen.
        #[arg(long)]
        internal: bool,
        /// A service code whose applications the system may read with its own token and
        /// hear about (repeat for several).
        #[arg(long)]
        api_service: Vec<String>,
        /// Where to post when an application of those services ends.
        #[arg(long)]
        webhook: Option<String>,
    },
    /// List the registered systems.
    List,
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
        Command::SsoClient(c) => sso_client(&settings, c).await,
        Command::SsoRotateKey => {
            let database = db::open(&settings).await?;
            let kid = service_hall::identity::sso::keys::rotate(
                &database.pool,
                &secret_key(&settings)?,
                None,
                chrono::Utc::now(),
            )
            .await?;
            println!("new signing key {kid}");
            database.pool.close().await;
            Ok(())
        }
    }
}

async fn sso_client(settings: &Settings, c: SsoClientCommand) -> anyhow::Result<()> {
    use service_hall::identity::sso::clients;
    let database = db::open(settings).await?;
    let result = match c {
        SsoClientCommand::Add {
            name,
            redirect,
            cas_service,
            scope,
            post_logout_redirect,
            frontchannel_logout,
            internal,
            api_service,
            webhook,
        } => {
            let scopes = if scope.is_empty() {
                vec!["openid".to_owned(), "profile".to_owned()]
            } else {
                scope
            };
            let reg = clients::Registration {
                name,
                redirect_uris: redirect.join("\n"),
                post_logout_redirect_uris: post_logout_redirect.join("\n"),
                frontchannel_logout_uri: frontchannel_logout.unwrap_or_default(),
                cas_service_patterns: cas_service.join("\n"),
                scopes,
                internal: internal.then(|| "on".to_owned()),
                launch_url: String::new(),
                campus_system: String::new(),
                api_services: api_service.join("\n"),
                webhook_url: webhook.unwrap_or_default(),
            };
            match clients::check(&reg) {
                Err(p) => Err(anyhow::anyhow!(p.lines().join("; "))),
                Ok(checked) => {
                    let (_, id, secret) =
                        clients::create(&database.pool, &checked, None, chrono::Utc::now()).await?;
                    println!("client_id: {id}");
                    println!("client_secret: {secret}");
                    println!("(the secret is shown only now)");
                    Ok(())
                }
            }
        }
        SsoClientCommand::List => {
            for c in clients::all(&database.pool).await? {
                println!(
                    "{}\t{}\t{}{}",
                    c.client_id,
                    c.name,
                    c.allowed_scopes.join(" "),
                    if c.enabled() { "" } else { "\t(disabled)" }
                );
            }
            Ok(())
        }
    };
    database.pool.close().await;
    result
}

fn print_demo_accounts() {
    println!("demo accounts (password {}):", seed::DEMO_PASSWORD);
    for line in seed::demo_account_lines() {
        println!("  {line}");
    }
}

async fn serve(settings: Settings, no_demo: bool) -> anyhow::Result<()> {
    if let Some(n) = settings.password_threads {
        service_hall::identity::password::set_concurrency(n);
    }
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
