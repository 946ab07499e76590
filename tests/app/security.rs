use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn cross_origin_posts_are_refused() {
    let app = spawn_app().await;
    let html = app.get("/login").await.text().await.unwrap();
    let token = csrf_from(&html);
    let form = [
        ("account", "S2024001"),
        ("password", DEMO_PASSWORD),
        ("_csrf", token.as_str()),
    ];
    let r = app
        .client
        .post(app.url("/login"))
        .header("Origin", "http://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("请求来源校验失败"));
    let r = app
        .client
        .post(app.url("/login"))
        .header("Referer", "http://evil.example/page")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Same origin but no token: refused too.
    let r = app
        .client
        .post(app.url("/login"))
        .header("Origin", app.address.as_str())
        .form(&[("account", "S2024001"), ("password", DEMO_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.signed_in_as(&app.client).await, None);
    assert_eq!(app.audit_count("login", "success").await, 0);
    // Our own origin with the token works.
    let r = app
        .client
        .post(app.url("/login"))
        .header("Origin", app.address.as_str())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn logout_needs_the_token_too() {
    let app = spawn_app().await;
    app.login("S2024001", DEMO_PASSWORD).await;
    let r = app
        .client
        .post(app.url("/logout"))
        .form(&[("x", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.signed_in_as(&app.client).await.as_deref(), Some("张三"));
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("hall_session="))
}

#[tokio::test]
async fn session_cookie_flags_and_a_new_id_at_login() {
    let app = spawn_app().await;
    let r = app.get("/login").await;
    let before = session_cookie(&r).expect("cookie for the login form's token");
    assert!(before.contains("HttpOnly"));
    assert!(before.contains("SameSite=Lax"));
    assert!(!before.contains("Secure"), "plain http base URL");
    let html = r.text().await.unwrap();
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("account", "S2024001"),
            ("password", DEMO_PASSWORD),
            ("_csrf", &csrf_from(&html)),
        ])
        .send()
        .await
        .unwrap();
    let after = session_cookie(&r).expect("new cookie at login");
    let id = |c: &str| c.split(';').next().unwrap().to_owned();
    assert_ne!(id(&before), id(&after), "session id changes at login");

    let https =
        spawn_app_with(|s| s.base_url = url::Url::parse("https://hall.example.edu.cn/").unwrap())
            .await;
    let r = https.get("/login").await;
    let c = session_cookie(&r).unwrap();
    assert!(
        c.contains("Secure") && c.contains("HttpOnly") && c.contains("SameSite=Lax"),
        "{c}"
    );
    assert!(r.headers().get("strict-transport-security").is_some());
}

#[tokio::test]
async fn after_logout_the_old_cookie_no_longer_works() {
    let app = spawn_app().await;
    let html = app.get("/login").await.text().await.unwrap();
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("account", "S2024001"),
            ("password", DEMO_PASSWORD),
            ("_csrf", &csrf_from(&html)),
        ])
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&r)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let replay = || async {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(app.url("/center"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap()
    };
    assert_eq!(
        replay().await.status(),
        200,
        "the cookie works while signed in"
    );
    let r = app.logout_with(&app.client).await;
    assert_eq!(r.status(), 303);
    let r = replay().await;
    assert_eq!(r.status(), 303, "the old cookie is dead");
    assert!(location(&r).starts_with("/login"));
    assert_eq!(app.audit_count("logout", "success").await, 1);
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("您已安全退出"));
}

#[tokio::test]
async fn open_redirects_are_refused() {
    let app = spawn_app().await;
    for (next, expected) in [
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/center", "/center"),
    ] {
        let client = new_client();
        let page = format!("/login?next={}", urlencoding(next));
        let html = app.get_with(&client, &page).await.text().await.unwrap();
        let r = client
            .post(app.url("/login"))
            .form(&[
                ("account", "S2024001"),
                ("password", DEMO_PASSWORD),
                ("next", next),
                ("_csrf", &csrf_from(&html)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&r), expected, "next={next}");
    }
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_visitor_is_sent_to_login_and_brought_back() {
    let app = spawn_app().await;
    let r = app.get("/center").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?next=%2Fcenter");
    let html = app.get("/login?next=%2Fcenter").await.text().await.unwrap();
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("account", "S2024001"),
            ("password", DEMO_PASSWORD),
            ("next", "/center"),
            ("_csrf", &csrf_from(&html)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/center");
}

#[tokio::test]
async fn sessions_end_after_idle_time_and_absolute_lifetime() {
    let app = spawn_app().await;
    app.login("S2024001", DEMO_PASSWORD).await;
    app.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        app.get("/center").await.status(),
        200,
        "active within idle time"
    );
    app.clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(app.get("/center").await.status(), 303, "idle too long");

    // Absolute: active every 20 minutes, still ended after 12 hours.
    app.login("S2024001", DEMO_PASSWORD).await;
    for _ in 0..35 {
        app.clock.advance(Duration::from_secs(20 * 60));
        assert_eq!(app.get("/center").await.status(), 200);
    }
    app.clock.advance(Duration::from_secs(25 * 60));
    assert_eq!(
        app.get("/center").await.status(),
        303,
        "past the 12-hour lifetime"
    );
}

#[tokio::test]
async fn security_headers_on_pages_errors_and_assets() {
    let app = spawn_app().await;
    for path in ["/", "/login", "/no-such-page", "/static/css/app.css"] {
        let r = app.get(path).await;
        let h = r.headers();
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
        assert!(h.get("referrer-policy").is_some());
    }
    let r = app.get("/no-such-page").await;
    assert_eq!(r.status(), 404);
    let html = r.text().await.unwrap();
    assert!(html.contains("页面不存在") && html.contains("class=\"site-header\""));
}

#[tokio::test]
async fn admin_pages_are_for_admins_only() {
    let app = spawn_app().await;
    app.login("S2024001", DEMO_PASSWORD).await;
    let r = app.get("/admin").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("没有权限"));
    let home = app.get("/").await.text().await.unwrap();
    assert!(!home.contains("管理后台"), "no admin link for students");

    let admin = new_client();
    app.login_with(&admin, "admin", DEMO_PASSWORD).await;
    let home = app.get_with(&admin, "/").await.text().await.unwrap();
    assert!(home.contains("href=\"/admin\""));
    assert_eq!(app.get_with(&admin, "/admin").await.status(), 200);
    let audit = app
        .get_with(&admin, "/admin/audit?q=login")
        .await
        .text()
        .await
        .unwrap();
    assert!(audit.contains("S2024001"));
}

#[tokio::test]
async fn an_admin_can_release_a_locked_account() {
    let app = spawn_app().await;
    for _ in 0..5 {
        app.login("S2024001", "Wrong@2026").await;
    }
    let admin = new_client();
    app.login_with(&admin, "admin", DEMO_PASSWORD).await;
    let html = app
        .get_with(&admin, "/admin/users?q=S2024001")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("锁定至"));
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = 'S2024001'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let r = app
        .submit(
            &admin,
            "/admin/users?q=S2024001",
            &format!("/admin/users/{id}/unlock"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.login_with(&new_client(), "S2024001", DEMO_PASSWORD)
            .await
            .status(),
        303
    );
    // A student cannot do it.
    let student = new_client();
    app.login_with(&student, "S2024001", DEMO_PASSWORD).await;
    let r = app
        .submit(&student, "/", &format!("/admin/users/{id}/unlock"), &[])
        .await;
    assert_eq!(r.status(), 403);
}
