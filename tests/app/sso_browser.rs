//! Campus systems signing in through the hall, in Chromium: a relying party built on the
//! `openidconnect` crate and a CAS client built on python-cas, each a real local web
//! server. Sign in (with consent), see the attributes, sign out from the hall (both
//! systems told: a front-channel frame and a CAS logoutRequest) and from the system
//! (RP-initiated logout). Screenshots at 1280 and 390 px.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::Query,
    http::{HeaderMap, header},
    response::{Html, IntoResponse, Redirect},
    routing::get,
};
use fantoccini::Locator;
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, Scope, core::CoreResponseType,
};
use service_hall::identity::sso::clients::Registration;
use tokio::sync::Mutex;

use crate::{
    browser::{Browser, click, fill},
    helpers::*,
    sso::{register, relying_party},
};

#[derive(Default)]
struct RpState {
    pending: HashMap<String, (String, String)>,
    sessions: HashMap<String, (String, String)>,
    front_channel: Vec<String>,
}

/// The OIDC relying party at `http://127.0.0.1:<port>`: (its address, its state).
async fn oidc_rp(app: &TestApp) -> (String, Arc<Mutex<RpState>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let here = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (id, secret) = register(
        app,
        Registration {
            name: "科研管理系统".into(),
            redirect_uris: format!("{here}/callback"),
            post_logout_redirect_uris: format!("{here}/bye"),
            frontchannel_logout_uri: format!("{here}/fc-logout"),
            scopes: ["openid", "profile", "campus"].map(String::from).to_vec(),
            // Not campus-internal: the person is asked once.
            internal: None,
            ..Default::default()
        },
    )
    .await;
    let (rp, http) = relying_party(app, &id, &secret, &format!("{here}/callback")).await;
    let rp = Arc::new(rp);
    let st = Arc::new(Mutex::new(RpState::default()));
    let hall = app.address.clone();

    let (rp1, st1) = (rp.clone(), st.clone());
    let (rp2, st2, http2, hall2) = (rp.clone(), st.clone(), http.clone(), hall.clone());
    let (st3, hall3, here3) = (st.clone(), hall.clone(), here.clone());
    let st4 = st.clone();
    let st5 = st.clone();
    let router = axum::Router::new()
        .route(
            "/",
            get(move |headers: HeaderMap| {
                let st = st5.clone();
                async move {
                    let st = st.lock().await;
                    match cookie(&headers).and_then(|c| st.sessions.get(&c)) {
                        Some((claims, _)) => Html(format!(
                            "<h1 id=\"who\">科研管理系统</h1>{claims}<a id=\"logout\" href=\"/logout\">退出</a>"
                        )),
                        None => Html("<h1 id=\"anon\">科研管理系统</h1><a id=\"login\" href=\"/login\">统一身份认证登录</a>".to_owned()),
                    }
                }
            }),
        )
        .route(
            "/login",
            get(move || {
                let (rp, st) = (rp1.clone(), st1.clone());
                async move {
                    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
                    let (url, state, nonce) = rp
                        .authorize_url(
                            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                            CsrfToken::new_random,
                            Nonce::new_random,
                        )
                        .add_scope(Scope::new("profile".into()))
                        .add_scope(Scope::new("campus".into()))
                        .set_pkce_challenge(challenge)
                        .url();
                    st.lock().await.pending.insert(
                        state.secret().clone(),
                        (verifier.secret().clone(), nonce.secret().clone()),
                    );
                    Redirect::to(url.as_str())
                }
            }),
        )
        .route(
            "/callback",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let (rp, st, http, hall) = (rp2.clone(), st2.clone(), http2.clone(), hall2.clone());
                async move {
                    let (verifier, nonce) = st
                        .lock()
                        .await
                        .pending
                        .remove(q.get("state").map(String::as_str).unwrap_or(""))
                        .expect("a state this RP issued");
                    assert_eq!(q.get("iss"), Some(&hall));
                    let tokens = rp
                        .exchange_code(AuthorizationCode::new(q["code"].clone()))
                        .unwrap()
                        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
                        .request_async(&http)
                        .await
                        .expect("token exchange");
                    let id_token = tokens.extra_fields().id_token().unwrap();
                    let claims = id_token
                        .claims(&rp.id_token_verifier(), &Nonce::new(nonce))
                        .expect("a valid id_token");
                    let info: serde_json::Value = http
                        .get(format!("{hall}/oauth/userinfo"))
                        .bearer_auth(tokens.access_token().secret())
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let mut dl = String::from("<dl id=\"claims\">");
                    for (k, v) in info.as_object().unwrap() {
                        dl.push_str(&format!("<dt>{k}</dt><dd data-claim=\"{k}\">{}</dd>", v.to_string().trim_matches('"')));
                    }
                    dl.push_str(&format!("<dt>sub</dt><dd data-claim=\"sub-id-token\">{}</dd></dl>", claims.subject().as_str()));
                    let cookie = uuid::Uuid::new_v4().simple().to_string();
                    st.lock().await.sessions.insert(cookie.clone(), (dl, id_token.to_string()));
                    (
                        [(header::SET_COOKIE, format!("oidc_rp={cookie}; Path=/; HttpOnly"))],
                        Redirect::to("/"),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/logout",
            get(move |headers: HeaderMap| {
                let (st, hall, here) = (st3.clone(), hall3.clone(), here3.clone());
                async move {
                    let st = st.lock().await;
                    let hint = cookie(&headers)
                        .and_then(|c| st.sessions.get(&c))
                        .map(|(_, t)| t.clone())
                        .unwrap_or_default();
                    let mut u = url::Url::parse(&format!("{hall}/oauth/logout")).unwrap();
                    u.query_pairs_mut()
                        .append_pair("id_token_hint", &hint)
                        .append_pair("post_logout_redirect_uri", &format!("{here}/bye"))
                        .append_pair("state", "rp-state-1");
                    Redirect::to(u.as_str())
                }
            }),
        )
        .route(
            "/fc-logout",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let st = st4.clone();
                async move {
                    let sid = q.get("sid").cloned().unwrap_or_default();
                    let mut st = st.lock().await;
                    st.front_channel.push(sid);
                    // This RP keeps one session per browser: the sid ends it.
                    st.sessions.clear();
                    "ok"
                }
            }),
        )
        .route(
            "/bye",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                Html(format!("<h1 id=\"bye\">已退出科研管理系统</h1><p id=\"state\">{}</p>", q.get("state").cloned().unwrap_or_default()))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (here, st)
}

fn cookie(h: &HeaderMap) -> Option<String> {
    h.get(header::COOKIE)?
        .to_str()
        .ok()?
        .split(';')
        .find_map(|p| p.trim().strip_prefix("oidc_rp=").map(str::to_owned))
}

/// The python-cas system; killed on drop.
struct CasRp {
    child: Child,
    here: String,
}

impl Drop for CasRp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `None` (skipped) when python-cas is not installed and E2E_REQUIRED is not 1.
async fn cas_rp(app: &TestApp) -> Option<CasRp> {
    let ok = Command::new("python3")
        .args(["-c", "import cas"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !std::env::var("E2E_REQUIRED").is_ok_and(|v| v == "1"),
            "E2E_REQUIRED=1 but python-cas is not installed (pip install python-cas)"
        );
        eprintln!("skipped: python-cas is not installed");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let here = format!("http://127.0.0.1:{port}");
    register(
        app,
        Registration {
            name: "一卡通系统".into(),
            cas_service_patterns: format!(r"http://127\.0\.0\.1:{port}/.*"),
            internal: Some("on".into()),
            ..Default::default()
        },
    )
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rp/cas_rp.py");
    let mut child = Command::new("python3")
        .args([script, &port.to_string(), &format!("{}/cas/", app.address)])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the CAS client");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    Some(CasRp { child, here })
}

async fn wait_for(c: &fantoccini::Client, css: &str) {
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

async fn text(c: &fantoccini::Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn systems_sign_in_through_the_hall(width: u32, height: u32) {
    let app = spawn_app().await;
    let (rp, rp_state) = oidc_rp(&app).await;
    let Some(cas) = cas_rp(&app).await else {
        return;
    };
    let Some(b) = Browser::start(width, height).await else {
        return;
    };
    let c = &b.client;
    let shots = "sso";

    // OIDC: the system sends the visitor to 登录, then asks consent, then lands signed in.
    c.goto(&rp).await.unwrap();
    click(c, "#login").await;
    wait_for(c, "#account").await;
    // The login page says which system the sign-in is for.
    assert_eq!(text(c, "#sso-for strong").await, "科研管理系统");
    fill(c, "#account", "S2024001").await;
    fill(c, "#password", DEMO_PASSWORD).await;
    b.shot(shots, &format!("login-{width}")).await;
    click(c, "main form button[type=submit]").await;
    wait_for(c, "form.sso-consent").await;
    b.shot(shots, &format!("consent-{width}")).await;
    click(c, "button[value=allow]").await;
    wait_for(c, "#claims").await;
    assert_eq!(text(c, "[data-claim=name]").await, "张三");
    assert_eq!(text(c, "[data-claim=department]").await, "计算机学院");
    assert_eq!(text(c, "[data-claim=sub-id-token]").await, "S2024001");

    // CAS: already signed in to the hall, the system gets its ticket without a form.
    c.goto(&cas.here).await.unwrap();
    click(c, "#login").await;
    wait_for(c, "#who").await;
    assert_eq!(text(c, "#who").await, "S2024001");
    assert_eq!(text(c, "[data-attr=name]").await, "张三");
    assert_eq!(text(c, "[data-attr=department]").await, "计算机学院");

    // 安全中心 lists both systems.
    c.goto(&app.url("/security#systems")).await.unwrap();
    let listed = text(c, "table.sso-signins").await;
    assert!(
        listed.contains("科研管理系统") && listed.contains("一卡通系统"),
        "{listed}"
    );
    click(c, "#systems h2").await;
    b.shot(shots, &format!("security-{width}")).await;

    // The hall's 退出 offers to sign out of both; accepting tells each.
    click(c, "header form[action='/logout'] button").await;
    wait_for(c, "#logout-systems").await;
    b.shot(shots, &format!("logout-offer-{width}")).await;
    click(c, "#logout-systems").await;
    wait_for(c, "#logged-out-systems").await;
    b.shot(shots, &format!("logout-done-{width}")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while rp_state.lock().await.front_channel.is_empty() {
        assert!(Instant::now() < deadline, "the OIDC system was not told");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let slo = loop {
        let s = reqwest::get(format!("{}/slo", cas.here))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if !s.is_empty() || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(slo.starts_with("ST-"), "the CAS system was told: {slo:?}");
    c.goto(&cas.here).await.unwrap();
    wait_for(c, "#anon").await;
    c.goto(&rp).await.unwrap();
    wait_for(c, "#anon").await;

    // Signing out from the system: the hall asks, signs out, and returns to the system.
    click(c, "#login").await;
    wait_for(c, "#account").await;
    fill(c, "#account", "S2024001").await;
    fill(c, "#password", DEMO_PASSWORD).await;
    click(c, "main form button[type=submit]").await;
    // Consent was given once: straight back.
    wait_for(c, "#claims").await;
    click(c, "#logout").await;
    wait_for(c, "form[action='/sso/logout']").await;
    b.shot(shots, &format!("logout-confirm-{width}")).await;
    click(c, "form[action='/sso/logout'] button[type=submit]").await;
    wait_for(c, "#sso-back").await;
    click(c, "#sso-back").await;
    wait_for(c, "#bye").await;
    assert_eq!(text(c, "#state").await, "rp-state-1");
    c.goto(&app.url("/")).await.unwrap();
    assert!(
        c.find(Locator::Css(".account .who")).await.is_err(),
        "signed out of the hall"
    );

    // The admin pages for the systems.
    crate::browser::sign_in(&b, &app, "admin").await;
    c.goto(&app.url("/admin/sso")).await.unwrap();
    wait_for(c, "table.sso-table").await;
    b.shot(shots, &format!("admin-list-{width}")).await;
    click(c, "table.sso-table a").await;
    wait_for(c, "form.sso-form").await;
    b.shot(shots, &format!("admin-client-{width}")).await;
    b.close().await;
}

#[tokio::test]
async fn systems_sign_in_through_the_hall_on_a_desktop() {
    systems_sign_in_through_the_hall(1280, 900).await;
}

#[tokio::test]
async fn systems_sign_in_through_the_hall_on_a_phone() {
    systems_sign_in_through_the_hall(390, 844).await;
}
