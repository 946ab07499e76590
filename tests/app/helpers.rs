//! Test harness: the real application on port 0, a fresh database per test cloned from a
//! migrated and seeded template, and a cookie-keeping HTTP client.
//!
//! Uses `DATABASE_URL` when set, else one embedded cluster (in a temp folder) for the
//! whole test binary.

use std::{
    str::FromStr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use reqwest::{Client, Response, redirect::Policy};
use service_hall::{
    clock::TestClock,
    config::{Secret, Settings},
    db::{self, EmbeddedPostgres},
    secret::SecretKey,
    seed,
    startup::Application,
};
use sqlx::{Connection, Executor, PgConnection, PgPool, postgres::PgConnectOptions};

pub const TEST_SECRET: &str = "test-secret-key";
pub const DEMO_PASSWORD: &str = "Demo@2026";

struct Cluster {
    opts: PgConnectOptions,
    template: String,
    _embedded: Option<EmbeddedPostgres>,
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        // Its own thread and runtime: the pools made here must not outlive them.
        std::thread::spawn(init_cluster)
            .join()
            .expect("cluster init thread")
    })
}

fn init_cluster() -> Cluster {
    let (opts, embedded) = match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => (
            PgConnectOptions::from_str(&url).expect("DATABASE_URL"),
            None,
        ),
        None => {
            let base = std::env::temp_dir();
            remove_stale_test_clusters(&base);
            let dir = base.join(format!("service-hall-test-{}", std::process::id()));
            let pg = EmbeddedPostgres::start(&dir).expect("start the embedded test cluster");
            (pg.connect_options("postgres"), Some(pg))
        }
    };
    let template = format!("hall_tpl_{}", uuid::Uuid::new_v4().simple());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = PgConnection::connect_with(&opts.clone().database("postgres"))
            .await
            .expect("connect to the test server");
        conn.execute(format!("CREATE DATABASE {template}").as_str())
            .await
            .expect("create template database");
        conn.close().await.ok();
        let pool = PgPool::connect_with(opts.clone().database(&template))
            .await
            .unwrap();
        db::migrate(&pool).await.expect("migrate the template");
        seed::seed_demo(&pool, &SecretKey::from_secret(TEST_SECRET))
            .await
            .expect("seed the template");
        // The demo 校历 would make a time limit depend on the day the tests run; the
        // calendar's own tests write the rows they need.
        sqlx::query("DELETE FROM calendar_ranges")
            .execute(&pool)
            .await
            .expect("empty the calendar");
        pool.close().await;
    });
    Cluster {
        opts,
        template,
        _embedded: embedded,
    }
}

/// Test clusters of test processes that are gone.
fn remove_stale_test_clusters(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name
            .strip_prefix("service-hall-test-")
            .and_then(|p| p.parse::<u32>().ok())
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub db: PgPool,
    pub clock: TestClock,
    pub client: Client,
    db_name: String,
}

pub fn test_settings() -> Settings {
    let mut s = Settings::defaults();
    s.bind = "127.0.0.1:0".parse().unwrap();
    s.secret_key = Some(Secret(TEST_SECRET.into()));
    s.data_dir = std::env::temp_dir().join("service-hall-test-data");
    s.db_max_connections = 5;
    // Tests run the notification worker's steps themselves, on the test clock.
    s.background_jobs = false;
    // Every day works, so a time limit is the same number of hours whatever weekday the
    // tests run on; the 校历's own tests set the usual week.
    s.work_week = [true; 7];
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    service_hall::init_tls();
    let c = cluster();
    let db_name = format!("hall_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect_with(&c.opts.clone().database("postgres"))
        .await
        .expect("connect");
    // Cloning a template is refused while another clone is reading it; retry briefly.
    let mut tries = 0;
    loop {
        let r = conn
            .execute(format!("CREATE DATABASE {db_name} TEMPLATE {}", c.template).as_str())
            .await;
        match r {
            Ok(_) => break,
            Err(e) if tries < 50 => {
                tries += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("create test database: {e}"),
        }
    }
    conn.close().await.ok();
    let db = PgPool::connect_with(c.opts.clone().database(&db_name))
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut settings = test_settings();
    settings.base_url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    configure(&mut settings);
    let clock = TestClock::default();
    let app = Application::with_listener(settings, listener, db.clone(), Arc::new(clock.clone()))
        .expect("build app");
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        db,
        clock,
        client: new_client(),
        db_name,
    }
}

impl TestApp {
    /// A second instance of the portal on the same database (its own pool, caches and
    /// listener), as behind a load balancer; its base address.
    pub async fn another_instance(&self) -> String {
        self.another_instance_with(|_| {}).await
    }

    /// `another_instance` with its settings adjusted like `spawn_app_with`'s.
    pub async fn another_instance_with(&self, configure: impl FnOnce(&mut Settings)) -> String {
        let db = PgPool::connect_with(cluster().opts.clone().database(&self.db_name))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut settings = test_settings();
        settings.base_url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        configure(&mut settings);
        let app = Application::with_listener(settings, listener, db, Arc::new(self.clock.clone()))
            .expect("build app");
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        format!("http://127.0.0.1:{port}")
    }
}

impl TestApp {
    /// Another instance whose pool is made as `serve` makes it (`db::pool`: no ping before
    /// each checkout, the health hooks), for what depends on that pool's behaviour.
    pub async fn instance_as_served(&self) -> String {
        let db = service_hall::db::pool(cluster().opts.clone().database(&self.db_name), 3)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut settings = test_settings();
        settings.base_url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let app = Application::with_listener(settings, listener, db, Arc::new(self.clock.clone()))
            .expect("build app");
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        format!("http://127.0.0.1:{port}")
    }
}

pub fn new_client() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Leave nothing behind on a shared server.
        let opts = cluster().opts.clone().database("postgres");
        let name = self.db_name.clone();
        // FORCE ends the app's connections; they belong to the test's runtime, which is
        // about to end too.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut c) = PgConnection::connect_with(&opts).await {
                    let _ = c
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}

/// The value of the first hidden `_csrf` field in a page.
pub fn csrf_from(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Text of the first element with class `cls` (e.g. the login error alert), tags removed.
pub fn text_of_class(html: &str, cls: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!(".{cls}")).unwrap();
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

pub fn texts_of_class(html: &str, cls: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!(".{cls}")).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

impl TestApp {
    /// A `DATABASE_URL` for this test's database, for running the CLI against it.
    pub fn database_url(&self) -> String {
        let o = &cluster().opts;
        let user = o.get_username();
        match o.get_socket() {
            // The embedded cluster listens on a Unix socket in its folder: a host that is a
            // percent-encoded path.
            Some(dir) => {
                let socket: String =
                    url::form_urlencoded::byte_serialize(dir.to_string_lossy().as_bytes())
                        .collect();
                format!(
                    "postgres://{user}@{socket}:{}/{}",
                    o.get_port(),
                    self.db_name
                )
            }
            None => format!(
                "postgres://{user}@{}:{}/{}",
                o.get_host(),
                o.get_port(),
                self.db_name
            ),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.get_with(&self.client, path).await
    }

    pub async fn get_with(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    /// GET `page` for its CSRF token, then POST `fields` (+ token) to `action`.
    pub async fn submit(
        &self,
        client: &Client,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let html = self.get_with(client, page).await.text().await.unwrap();
        let token = csrf_from(&html);
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("_csrf", &token));
        client
            .post(self.url(action))
            .form(&form)
            .send()
            .await
            .expect("POST")
    }

    pub async fn login_with(&self, client: &Client, account: &str, password: &str) -> Response {
        self.submit(
            client,
            "/login",
            "/login",
            &[("account", account), ("password", password)],
        )
        .await
    }

    pub async fn login(&self, account: &str, password: &str) -> Response {
        self.login_with(&self.client, account, password).await
    }

    pub async fn logout_with(&self, client: &Client) -> Response {
        self.submit(client, "/", "/logout", &[]).await
    }

    pub async fn audit_count(&self, action: &str, outcome: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1 AND outcome = $2")
            .bind(action)
            .bind(outcome)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// The name in the header's account menu, if signed in.
    pub async fn signed_in_as(&self, client: &Client) -> Option<String> {
        let html = self.get_with(client, "/").await.text().await.unwrap();
        text_of_class(&html, "who")
    }
}

/// A new browser-like client signed in as `account` (demo password).
pub async fn signed_in(app: &TestApp, account: &str) -> Client {
    let c = new_client();
    assert_eq!(
        app.login_with(&c, account, DEMO_PASSWORD).await.status(),
        303,
        "sign in as {account}"
    );
    c
}

/// The trigger-kept `task_counts` (我待办的 grouped, the header badge) equal a recount of
/// the task rows they summarise.
pub async fn assert_task_counts(app: &TestApp) {
    type Counts = Vec<(i64, i64, i64, i64, i64, i64)>;
    let kept: Counts = sqlx::query_as(
        "SELECT assignee_id, service_id, total::int8, open::int8, pending::int8, cc_unread::int8
         FROM task_counts WHERE total <> 0 OR open <> 0 OR pending <> 0 OR cc_unread <> 0
         ORDER BY 1, 2",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let recount: Counts = sqlx::query_as(
        "SELECT t.assignee_id, a.service_id,
                count(*) FILTER (WHERE t.kind = 'approve'),
                count(*) FILTER (WHERE t.kind = 'approve' AND a.status IN ('running', 'returned')),
                count(*) FILTER (WHERE t.kind = 'approve' AND t.status = 'pending'),
                count(*) FILTER (WHERE t.kind = 'cc')
         FROM tasks t JOIN applications a ON a.id = t.application_id
         WHERE (t.kind = 'approve' AND t.status IN ('pending', 'done'))
            OR (t.kind = 'cc' AND t.status = 'unread')
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(!recount.is_empty(), "the test made tasks");
    assert_eq!(kept, recount, "task_counts match the tasks");
    assert_draft_counts(app).await;
}

/// The trigger-kept `draft_counts` (the 草稿箱 tab) equal a recount of the drafts.
pub async fn assert_draft_counts(app: &TestApp) {
    let kept: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT user_id, drafts::int8 FROM draft_counts WHERE drafts <> 0 ORDER BY 1",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let recount: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT applicant_id, count(*) FROM applications WHERE status = 'draft' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(kept, recount, "draft_counts match the drafts");
}

/// A signature as the application page's pad posts it: a PNG data URL of a few strokes
/// (dark ink on a transparent canvas, 600×200 like a phone's pad at 2×).
pub fn drawn_signature() -> String {
    use base64::Engine;
    let mut img = image::RgbaImage::new(600, 200);
    for x in 60..540u32 {
        for t in 0..4 {
            let wave = ((x as f32 / 30.0).sin() * 40.0) as i32;
            let y = (100 + wave + t) as u32;
            img.put_pixel(x, y, image::Rgba([20, 24, 60, 255]));
            if x % 97 < 40 {
                img.put_pixel(x, 60 + (x % 97) + t as u32, image::Rgba([20, 24, 60, 255]));
            }
        }
    }
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}
