//! Browser tests in headless Chromium through ChromeDriver (Debian's `chromium` and
//! `chromium-driver`). Without them the tests report themselves skipped, unless
//! `E2E_REQUIRED=1`, which makes that a failure.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::{
    helpers::*,
    identity::{
        last_code,
        qr::{offered, qr_code_of},
        spawn_with_sms,
    },
};

fn find(cmds: &[&str]) -> Option<PathBuf> {
    for c in cmds {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            let p = dir.join(c);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

pub struct Browser {
    driver: Child,
    pub client: Client,
    _profile: PathBuf,
}

impl Browser {
    /// `None` (skipped) when Chromium is missing and E2E_REQUIRED is not 1.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        service_hall::init_tls();
        let driver_bin = find(&["chromedriver"]);
        let chrome_bin = find(&["chromium", "chromium-browser", "google-chrome"]);
        let (Some(driver_bin), Some(chrome_bin)) = (driver_bin, chrome_bin) else {
            if std::env::var("E2E_REQUIRED").is_ok_and(|v| v == "1") {
                panic!("E2E_REQUIRED=1 but chromium / chromedriver are not installed");
            }
            eprintln!("skipped: chromium and chromedriver are not installed");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile =
            std::env::temp_dir().join(format!("hall-chrome-{}", uuid::Uuid::new_v4().simple()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chrome_bin,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                    // As the hall's users see it: date inputs in 年/月/日, not mm/dd/yyyy.
                    "--lang=zh-CN",
                ],
                "prefs": {
                    "intl": { "accept_languages": "zh-CN,zh" },
                    // Downloads land in the profile, without asking (see `downloaded`).
                    "download": {
                        "default_directory": profile.join("downloads"),
                        "prompt_for_download": false
                    }
                }
            }),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::rustls()
                .unwrap()
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("chromedriver: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        client.set_window_size(width, height).await.unwrap();
        Some(Browser {
            driver,
            client,
            _profile: profile,
        })
    }

    pub async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// A screenshot kept in `target/screenshots` (`<folder>-<name>.png`) and, to be looked
    /// at while working, in `/tmp/shots/<folder>/<name>.png` when that can be written.
    pub async fn shot(&self, folder: &str, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{folder}-{name}.png")), &png).unwrap();
        let tmp = PathBuf::from("/tmp/shots").join(folder);
        if std::fs::create_dir_all(&tmp).is_ok() {
            let _ = std::fs::write(tmp.join(format!("{name}.png")), &png);
        }
    }

    /// The first file Chromium finished downloading (its name and bytes), waiting up to
    /// 20 s for it.
    pub async fn downloaded(&self) -> (String, Vec<u8>) {
        let dir = self._profile.join("downloads");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !name.ends_with(".crdownload") && !name.starts_with('.') {
                        return (name, std::fs::read(e.path()).unwrap());
                    }
                }
            }
            assert!(Instant::now() < deadline, "nothing was downloaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self._profile);
    }
}

async fn sign_in_through_the_login_page(width: u32, height: u32) {
    let app = spawn_app().await;
    let Some(b) = Browser::start(width, height).await else {
        return;
    };
    let c = &b.client;
    c.goto(&app.url("/")).await.unwrap();
    b.screenshot(&format!("home-visitor-{width}")).await;
    c.goto(&app.url("/login")).await.unwrap();
    b.screenshot(&format!("login-{width}")).await;
    c.find(Locator::Id("account"))
        .await
        .unwrap()
        .send_keys("S2024001")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(DEMO_PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let who = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".account .who"))
        .await
        .expect("signed in");
    assert_eq!(who.text().await.unwrap(), "张三");
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    let hero = c
        .find(Locator::Css(".hero h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(hero, "您好，张三");
    b.screenshot(&format!("home-{width}")).await;
    c.goto(&app.url("/center")).await.unwrap();
    b.screenshot(&format!("center-{width}")).await;

    // A wrong password shows the message next to the form, in the page.
    c.find(Locator::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    c.goto(&app.url("/login")).await.unwrap();
    c.find(Locator::Id("account"))
        .await
        .unwrap()
        .send_keys("S2024001")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("Wrong@2026")
        .await
        .unwrap();
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let alert = c
        .wait()
        .for_element(Locator::Css(".alert-error"))
        .await
        .unwrap();
    assert_eq!(alert.text().await.unwrap(), "账号或密码错误");
    b.screenshot(&format!("login-error-{width}")).await;
    b.close().await;
}

#[tokio::test]
async fn browser_sign_in_desktop() {
    sign_in_through_the_login_page(1280, 900).await;
}

#[tokio::test]
async fn browser_sign_in_phone() {
    sign_in_through_the_login_page(390, 844).await;
}

#[tokio::test]
async fn browser_forced_password_change() {
    let app = spawn_app().await;
    let Some(b) = Browser::start(390, 844).await else {
        return;
    };
    let c = &b.client;
    c.goto(&app.url("/login")).await.unwrap();
    c.find(Locator::Id("account"))
        .await
        .unwrap()
        .send_keys("T2003")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("151004")
        .await
        .unwrap();
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("new_password"))
        .await
        .unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/password/change");
    b.screenshot("password-change-390").await;
    c.find(Locator::Id("current"))
        .await
        .unwrap()
        .send_keys("151004")
        .await
        .unwrap();
    c.find(Locator::Id("new_password"))
        .await
        .unwrap()
        .send_keys("Zhao#Lan2026x")
        .await
        .unwrap();
    c.find(Locator::Id("confirm"))
        .await
        .unwrap()
        .send_keys("Zhao#Lan2026x")
        .await
        .unwrap();
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = c
        .wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    let text = flash.text().await.unwrap();
    b.screenshot("password-changed-390").await;
    assert!(text.contains("密码已修改"), "{text}");
    b.close().await;
}

/// A visitor types `gzzb` in the 首页 search box, opens 工作周报's guide, presses 立即办理
/// and lands on 登录.
async fn visitor_finds_a_service_by_initials(width: u32, height: u32) {
    let app = spawn_app().await;
    let Some(b) = Browser::start(width, height).await else {
        return;
    };
    let c = &b.client;
    c.goto(&app.url("/")).await.unwrap();
    b.screenshot(&format!("home-catalog-{width}")).await;
    let search = c
        .find(Locator::Css(".hero-search input[name=q]"))
        .await
        .unwrap();
    search.send_keys("gzzb").await.unwrap();
    c.find(Locator::Css(".hero-search button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let first = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".service-item h2 a"))
        .await
        .unwrap();
    assert_eq!(first.text().await.unwrap(), "工作周报");
    b.screenshot(&format!("services-search-{width}")).await;
    c.goto(&app.url("/services")).await.unwrap();
    b.screenshot(&format!("services-{width}")).await;
    c.back().await.unwrap();
    let first = c
        .wait()
        .for_element(Locator::Css(".service-item h2 a"))
        .await
        .unwrap();
    first.click().await.unwrap();
    c.wait()
        .for_element(Locator::Css(".guide-actions"))
        .await
        .unwrap();
    b.screenshot(&format!("guide-{width}")).await;
    c.find(Locator::LinkText("立即办理"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("account")).await.unwrap();
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/login");
    assert!(url.query().unwrap_or("").starts_with("next=%2Fservices%2F"));
    b.close().await;
}

#[tokio::test]
async fn browser_catalog_desktop() {
    visitor_finds_a_service_by_initials(1280, 900).await;
}

#[tokio::test]
async fn browser_catalog_phone() {
    visitor_finds_a_service_by_initials(390, 844).await;
}

/// 收藏 with the page script: the button changes in place, no reload.
#[tokio::test]
async fn browser_favorite_toggles_in_place() {
    let app = spawn_app().await;
    let Some(b) = Browser::start(390, 844).await else {
        return;
    };
    let c = &b.client;
    c.goto(&app.url("/login")).await.unwrap();
    c.find(Locator::Id("account"))
        .await
        .unwrap()
        .send_keys("S2024001")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(DEMO_PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".account .who"))
        .await
        .unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'XSQJ'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    c.goto(&app.url(&format!("/services/{id}"))).await.unwrap();
    // Mark the page: a reload would lose this.
    c.execute(
        "document.body.dataset.marker = 'same-page'; return null;",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Css(".fav-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".fav-button.on"))
        .await
        .unwrap();
    let marker = c
        .execute("return document.body.dataset.marker || null;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, serde_json::json!("same-page"));
    b.screenshot("guide-favorited-390").await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM favorites")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
    b.close().await;
}

pub async fn sign_in(b: &Browser, app: &TestApp, account: &str) {
    sign_in_with(b, app, account, DEMO_PASSWORD).await;
    b.client
        .wait()
        .for_element(Locator::Css(".account .who"))
        .await
        .unwrap();
}

/// Fills and sends the login page; where it leads is the caller's to wait for.
pub async fn sign_in_with(b: &Browser, app: &TestApp, account: &str, password: &str) {
    let c = &b.client;
    c.goto(&app.url("/login")).await.unwrap();
    c.find(Locator::Id("account"))
        .await
        .unwrap()
        .send_keys(account)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Scroll to the middle of the screen first: on a phone the sticky 提交 bar covers the
/// bottom edge, as it would a finger.
pub async fn center(c: &Client, css: &str) {
    c.execute(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'center'}); return null;",
        vec![serde_json::json!(css)],
    )
    .await
    .unwrap();
}

pub async fn click(c: &Client, css: &str) {
    center(c, css).await;
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

pub async fn fill(c: &Client, css: &str, text: &str) {
    center(c, css).await;
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// 张三 applies for 学生请假, the counselor approves in another browser session, 张三 sees
/// 已办结 and rates it.
async fn leave_flow_in_two_browsers(width: u32, height: u32) {
    let app = spawn_app().await;
    let Some(student) = Browser::start(width, height).await else {
        return;
    };
    let Some(counselor) = Browser::start(width, height).await else {
        return;
    };
    let sid: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'XSQJ'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    sign_in(&student, &app, "S2024001").await;
    let c = &student.client;
    c.goto(&app.url(&format!("/services/{sid}"))).await.unwrap();
    c.find(Locator::LinkText("立即办理"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".app-form"))
        .await
        .unwrap();
    student.screenshot(&format!("apply-form-{width}")).await;
    click(c, "input[name='f.kind'][value='事假']").await;
    // Date inputs take keystrokes in the browser's own order; set them directly.
    c.execute(
        "document.querySelector(\"input[name='f.period.from']\").value = '2026-12-01';
         document.querySelector(\"input[name='f.period.to']\").value = '2026-12-02'; return null;",
        vec![],
    )
    .await
    .unwrap();
    fill(c, "input[name='f.days']", "2").await;
    fill(c, "textarea[name='f.reason']", "回家办理户籍迁移手续").await;
    click(c, "input[name='f.leave_campus'][value='是']").await;
    center(c, "select[name='f.counselor']").await;
    let select = c
        .find(Locator::Css("select[name='f.counselor']"))
        .await
        .unwrap();
    select.select_by_label("陈静（T2101）").await.unwrap();
    click(c, "button[value=submit]").await;
    let flash = c
        .wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    assert!(flash.text().await.unwrap().contains("流水号 XSQJ-"));
    let url = c.current_url().await.unwrap();
    student
        .screenshot(&format!("application-running-{width}"))
        .await;

    // A busy counselor: 150 unread reminders besides the new task's notice.
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, recipient_id, kind, payload, created_at, next_attempt_at)
         SELECT 'remind-' || i, u.id, 'reminder', jsonb_build_object('text', '提醒 ' || i, 'link', '/center/todo'), now(), now()
         FROM users u, generate_series(1, 150) i WHERE u.account = 'T2101'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    service_hall::notify::deliver_due(
        &app.db,
        chrono::Utc::now() + chrono::Duration::seconds(1),
        200,
    )
    .await
    .unwrap();
    sign_in(&counselor, &app, "T2101").await;
    let k = &counselor.client;
    // The header's badge shows the new task on every page, and the bell the unread
    // messages, counted up to 99+.
    let badge = k.find(Locator::Css(".main-nav .nav-badge")).await.unwrap();
    assert_eq!(badge.text().await.unwrap(), "1");
    let bell = k.find(Locator::Css(".bell .nav-badge")).await.unwrap();
    assert_eq!(bell.text().await.unwrap(), "99+");
    k.goto(&app.url("/center/todo")).await.unwrap();
    let row = k
        .find(Locator::Css(".group-table tbody td a"))
        .await
        .unwrap();
    assert_eq!(
        row.text().await.unwrap(),
        "学生请假",
        "我待办的, grouped by service"
    );
    counselor.screenshot(&format!("todo-grouped-{width}")).await;
    k.goto(&app.url("/center/todo?view=flat")).await.unwrap();
    k.find(Locator::Css(".item-list a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    k.wait()
        .for_element(Locator::Css(".task-panel"))
        .await
        .unwrap();
    counselor
        .screenshot(&format!("application-approver-{width}"))
        .await;
    fill(k, "textarea[name=comment]", "同意，注意安全").await;
    click(k, "button[value=approve]").await;
    k.wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();

    c.goto(url.as_str()).await.unwrap();
    let badge = c
        .wait()
        .for_element(Locator::Css(".app-head .badge"))
        .await
        .unwrap();
    assert_eq!(badge.text().await.unwrap(), "已办结");
    click(c, "input[name=stars][value='5']").await;
    fill(c, "#rate-comment", "办理很快").await;
    click(c, "button[value=rate]").await;
    let flash = c
        .wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    assert_eq!(flash.text().await.unwrap(), "感谢您的评价！");
    // The 流程图: open on a desktop, folded on a phone until tapped.
    let open = c
        .execute("return document.querySelector('.flow-view').open", vec![])
        .await
        .unwrap();
    if open != json!(true) {
        click(c, ".flow-view summary").await;
    }
    let diagram = c.find(Locator::Css(".flow-diagram")).await.unwrap();
    diagram.click().await.ok();
    student
        .screenshot(&format!("application-done-{width}"))
        .await;
    let png = diagram.screenshot().await.unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::write(dir.join(format!("flow-view-{width}.png")), png).unwrap();
    student.close().await;
    counselor.close().await;
}

#[tokio::test]
async fn browser_leave_flow_desktop() {
    leave_flow_in_two_browsers(1280, 900).await;
}

#[tokio::test]
async fn browser_leave_flow_phone() {
    leave_flow_in_two_browsers(390, 844).await;
}

/// 激活账号 in Chromium at phone width, a screenshot of every step.
#[tokio::test]
async fn browser_activation_and_recovery_on_a_phone() {
    let (app, sms) = spawn_with_sms().await;
    let Some(b) = Browser::start(390, 844).await else {
        return;
    };
    let c = &b.client;
    c.goto(&app.url("/activate")).await.unwrap();
    b.screenshot("activate-1-390").await;
    fill(c, "#account", "S2025001").await;
    fill(c, "#name", "李四").await;
    fill(c, "#id_card", "110108200703150514").await;
    click(c, "main form button.block").await;
    c.wait().for_element(Locator::Css("#phone")).await.unwrap();
    fill(c, "#phone", "13912345678").await;
    click(c, "main form button[formaction]").await;
    c.wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    b.screenshot("activate-2-390").await;
    let code = last_code(&app, &sms, "13912345678").await.unwrap();
    fill(c, "#code", &code).await;
    click(c, "main form button.block").await;
    c.wait()
        .for_element(Locator::Css("#new_password"))
        .await
        .unwrap();
    fill(c, "#new_password", "Vq8#tLm2!pRz").await;
    // The live meter answers as one types.
    let meter = c.find(Locator::Css("#pw-meter .pw-label")).await.unwrap();
    assert!(meter.text().await.unwrap().starts_with("强度："));
    fill(c, "#confirm", "Vq8#tLm2!pRz").await;
    b.screenshot("activate-3-390").await;
    click(c, "main form button.block").await;
    let who = c
        .wait()
        .for_element(Locator::Css(".account .who"))
        .await
        .unwrap();
    assert_eq!(who.text().await.unwrap(), "李四");
    b.screenshot("activate-done-390").await;
    // 忘记密码 for 张三, from a signed-out browser.
    c.delete_all_cookies().await.unwrap();
    c.goto(&app.url("/recover")).await.unwrap();
    fill(c, "#account", "S2024001").await;
    fill(c, "#name", "张三").await;
    fill(c, "#id_card", "110108200609012342").await;
    b.screenshot("recover-1-390").await;
    click(c, "main form button.block").await;
    c.wait().for_element(Locator::Css("#code")).await.unwrap();
    click(c, "main form button[formaction]").await;
    c.wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    b.screenshot("recover-2-390").await;
    let code = last_code(&app, &sms, "13800138000").await.unwrap();
    fill(c, "#code", &code).await;
    click(c, "main form button.block").await;
    c.wait()
        .for_element(Locator::Css("#new_password"))
        .await
        .unwrap();
    fill(c, "#new_password", "Nw7$kQ2#vXp9").await;
    fill(c, "#confirm", "Nw7$kQ2#vXp9").await;
    b.screenshot("recover-3-390").await;
    click(c, "main form button.block").await;
    c.wait()
        .for_element(Locator::Css(".alert-success"))
        .await
        .unwrap();
    b.screenshot("recover-done-390").await;
    b.close().await;
}

/// The other new pages, for looking at them: login ways, 扫码登录, 安全中心.
#[tokio::test]
async fn browser_identity_pages_at_both_widths() {
    for (w, h) in [(1280, 900), (390, 844)] {
        let app = spawn_app().await;
        let Some(b) = Browser::start(w, h).await else {
            return;
        };
        let c = &b.client;
        c.goto(&app.url("/login")).await.unwrap();
        b.screenshot(&format!("login-ways-{w}")).await;
        c.goto(&app.url("/login/qr")).await.unwrap();
        b.screenshot(&format!("qr-login-{w}")).await;
        c.goto(&app.url("/login/sms")).await.unwrap();
        b.screenshot(&format!("sms-login-{w}")).await;
        sign_in(&b, &app, "S2024001").await;
        // The phone's side of 扫码登录: three numbers to pick from.
        let (path, _, number) = qr_code_of(&app, &new_client()).await;
        c.goto(&app.url(&path)).await.unwrap();
        let shown = c.source().await.unwrap();
        assert!(offered(&shown).contains(&number));
        b.screenshot(&format!("qr-confirm-{w}")).await;
        c.goto(&app.url("/security")).await.unwrap();
        let html = c.source().await.unwrap();
        assert!(html.contains("本机"));
        b.screenshot(&format!("security-{w}")).await;
        b.close().await;
    }
}

/// Some of the forms the demo packages brought (宿舍报修, 缓考申请 with its course list,
/// 出差审批 with its itinerary), as a student and a teacher open them, at both widths.
#[tokio::test]
async fn browser_package_forms_at_both_widths() {
    let app = spawn_app().await;
    for (width, height) in [(1280, 900), (390, 844)] {
        for (account, code) in [
            ("S2024001", "SSBX"),
            ("S2024001", "HKSQ"),
            ("T2002", "CCSP"),
        ] {
            let Some(b) = Browser::start(width, height).await else {
                return;
            };
            let sid: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = $1")
                .bind(code)
                .fetch_one(&app.db)
                .await
                .unwrap();
            sign_in(&b, &app, account).await;
            let c = &b.client;
            c.goto(&app.url(&format!("/services/{sid}/apply")))
                .await
                .unwrap();
            c.wait()
                .for_element(Locator::Css(".app-form"))
                .await
                .unwrap();
            let fields = c.find_all(Locator::Css(".app-form .field")).await.unwrap();
            assert!(fields.len() >= 3, "{code}: a real form");
            b.screenshot(&format!("package-{}-{width}", code.to_lowercase()))
                .await;
            b.close().await;
        }
    }
}
