use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn home_header_for_visitors_and_people() {
    let app = spawn_app().await;
    let html = app.get("/").await.text().await.unwrap();
    for label in ["网上办事服务大厅", "首页", "服务中心", "个人中心", "登录"] {
        assert!(html.contains(label), "{label}");
    }
    assert!(!html.contains("退出"));
    assert!(html.contains("计算机学院"), "departments from the database");
    app.login("S2024001", DEMO_PASSWORD).await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("您好，张三") && html.contains("退出"));
}

#[tokio::test]
async fn login_page_lists_demo_accounts_only_while_demo_data_is_present() {
    let app = spawn_app().await;
    let html = app.get("/login").await.text().await.unwrap();
    assert!(html.contains("演示账号") && html.contains("S2024001"));
    sqlx::query("DELETE FROM app_meta WHERE key = 'demo_data'")
        .execute(&app.db)
        .await
        .unwrap();
    let html = app.get("/login").await.text().await.unwrap();
    assert!(!html.contains("演示账号"));
    // The other ways in, each to a page that exists.
    for href in ["/login/sms", "/recover", "/activate"] {
        assert!(html.contains(&format!("href=\"{href}\"")), "{href}");
        assert_eq!(app.get(href).await.status(), 200, "{href}");
    }
}

#[tokio::test]
async fn center_shows_masked_personal_data() {
    let app = spawn_app().await;
    app.login("S2024001", DEMO_PASSWORD).await;
    let html = app.get("/center").await.text().await.unwrap();
    assert!(html.contains("1101**********2342"), "masked ID card");
    assert!(!html.contains("110108200609012342"));
    assert!(html.contains("138****8000"));
    assert!(html.contains("计算机学院"));
}

#[tokio::test]
async fn user_input_is_escaped() {
    let app = spawn_app().await;
    let html = app
        .login("<script>alert(1)</script>", "x")
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn static_assets_are_cached_for_a_year_when_versioned() {
    let app = spawn_app().await;
    let html = app.get("/").await.text().await.unwrap();
    let start = html.find("/static/css/app.css?v=").unwrap();
    let url = &html[start..start + html[start..].find('"').unwrap()];
    let r = app.get(url).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/css");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let r = app.get("/static/css/app.css?v=old").await;
    assert!(
        !r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(app.get("/static/nope.css").await.status(), 404);
}

#[tokio::test]
async fn browsing_visitors_create_no_sessions() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/services",
        "/services?q=gzzb",
        "/notices",
        "/no-such-page",
    ] {
        let r = app.get(path).await;
        assert!(
            r.headers().get("set-cookie").is_none(),
            "{path} sets no cookie"
        );
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM tower_sessions.session")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    // The login form needs its token, so it starts a session.
    let r = app.get("/login").await;
    assert!(r.headers().get("set-cookie").is_some());
}
