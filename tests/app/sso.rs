//! The hall as the campus sign-in: CAS tickets and OpenID Connect codes, checked by a real
//! relying-party library (the `openidconnect` crate) and a CAS response parsed as XML;
//! every refusal the protocols require.

use std::{sync::Arc, time::Duration};

use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    core::{CoreClient, CoreProviderMetadata, CoreResponseType},
};
use reqwest::Client;
use service_hall::{
    clock::Clock,
    identity::sso::clients::{self, Registration},
};
use tokio::sync::Mutex;

use crate::helpers::*;

/// Registers a system straight through the library (as the CLI does): (client_id, secret).
pub async fn register(app: &TestApp, r: Registration) -> (String, String) {
    let checked = clients::check(&r).expect("a valid registration");
    let (_, id, secret) = clients::create(&app.db, &checked, None, app.clock.now())
        .await
        .unwrap();
    (id, secret)
}

pub fn oidc_registration(name: &str, redirect: &str, internal: bool) -> Registration {
    Registration {
        name: name.into(),
        redirect_uris: redirect.into(),
        post_logout_redirect_uris: "http://127.0.0.1:9/bye".into(),
        frontchannel_logout_uri: "http://127.0.0.1:9/fc-logout".into(),
        scopes: ["openid", "profile", "email", "phone", "campus"]
            .map(String::from)
            .to_vec(),
        internal: internal.then(|| "on".into()),
        ..Default::default()
    }
}

/// Follows redirects that stay on the hall, returning the first response that leaves it
/// (or is not a redirect).
pub async fn follow_on_hall(app: &TestApp, c: &Client, mut url: String) -> reqwest::Response {
    loop {
        let r = c.get(&url).send().await.unwrap();
        let loc = location(&r);
        if !(r.status().is_redirection() && (loc.starts_with('/') || loc.starts_with(&app.address)))
        {
            return r;
        }
        url = if loc.starts_with('/') {
            app.url(&loc)
        } else {
            loc
        };
    }
}

/// Signs `c` in through the login form a sign-in redirect led to (`login_location`).
pub async fn login_at(app: &TestApp, c: &Client, login_location: &str, account: &str) -> String {
    assert!(
        login_location.starts_with("/login?next="),
        "{login_location}"
    );
    let html = c
        .get(app.url(login_location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let next = scraper::Html::parse_document(&html)
        .select(&scraper::Selector::parse("input[name=next]").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("value")
        .unwrap()
        .to_owned();
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("account", account),
            ("password", DEMO_PASSWORD),
            ("next", next.as_str()),
            ("_csrf", csrf_from(&html).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    location(&r)
}

fn ticket_of(loc: &str) -> String {
    url::Url::parse(loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "ticket")
        .map(|(_, v)| v.into_owned())
        .expect("a ticket")
}

/// `/cas/p3/serviceValidate`: (user, attributes) on success, else the failure code.
async fn validate(
    app: &TestApp,
    service: &str,
    ticket: &str,
) -> Result<(String, Vec<(String, String)>), String> {
    let body = app
        .client
        .get(app.url("/cas/p3/serviceValidate"))
        .query(&[("service", service), ("ticket", ticket)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let ns = "http://www.yale.edu/tp/cas";
    if let Some(f) = doc
        .descendants()
        .find(|n| n.has_tag_name((ns, "authenticationFailure")))
    {
        return Err(f.attribute("code").unwrap().to_owned());
    }
    let user = doc
        .descendants()
        .find(|n| n.has_tag_name((ns, "user")))
        .unwrap()
        .text()
        .unwrap()
        .to_owned();
    let attrs = doc
        .descendants()
        .find(|n| n.has_tag_name((ns, "attributes")))
        .unwrap()
        .children()
        .filter(|n| n.is_element())
        .map(|n| {
            (
                n.tag_name().name().to_owned(),
                n.text().unwrap_or("").to_owned(),
            )
        })
        .collect();
    Ok((user, attrs))
}

#[tokio::test]
async fn cas_tickets_are_single_use_bound_to_their_service_and_short_lived() {
    let app = spawn_app().await;
    let service = "http://127.0.0.1:9/library/login?from=hall";
    register(
        &app,
        Registration {
            name: "图书馆系统".into(),
            cas_service_patterns: r"http://127\.0\.0\.1:9/library/.*".into(),
            internal: Some("on".into()),
            ..Default::default()
        },
    )
    .await;
    let c = new_client();
    let cas_login = app.url(&format!("/cas/login?service={}", urlencode(service)));

    // Not signed in: to 登录, then back with a ticket.
    let r = c.get(&cas_login).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let back = login_at(&app, &c, &location(&r), "S2024001").await;
    assert!(back.starts_with("/cas/login?service="), "{back}");
    let r = follow_on_hall(&app, &c, app.url(&back)).await;
    let loc = location(&r);
    assert!(loc.starts_with(service), "{loc}");
    let ticket = ticket_of(&loc);
    assert!(ticket.starts_with("ST-"));

    let (user, attrs) = validate(&app, service, &ticket).await.expect("valid");
    assert_eq!(user, "S2024001");
    let attr = |k: &str| {
        attrs
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(attr("name"), vec!["张三"]);
    assert_eq!(attr("kind"), vec!["student"]);
    assert_eq!(attr("department"), vec!["计算机学院"]);
    assert_eq!(attr("account"), vec!["S2024001"]);
    // Replayed: refused.
    assert_eq!(
        validate(&app, service, &ticket).await.unwrap_err(),
        "INVALID_TICKET"
    );

    // Signed in now: the next ticket comes at once. Presented for another service: refused,
    // and spent by that attempt.
    let r = c.get(&cas_login).send().await.unwrap();
    let t2 = ticket_of(&location(&r));
    let other = "http://127.0.0.1:9/library/other";
    assert_eq!(
        validate(&app, other, &t2).await.unwrap_err(),
        "INVALID_SERVICE"
    );
    assert_eq!(
        validate(&app, service, &t2).await.unwrap_err(),
        "INVALID_TICKET"
    );

    // Older than 10 s: refused.
    let r = c.get(&cas_login).send().await.unwrap();
    let t3 = ticket_of(&location(&r));
    app.clock.advance(Duration::from_secs(11));
    assert_eq!(
        validate(&app, service, &t3).await.unwrap_err(),
        "INVALID_TICKET"
    );

    // A made-up ticket, a missing parameter.
    assert_eq!(
        validate(&app, service, "ST-made-up").await.unwrap_err(),
        "INVALID_TICKET"
    );
    assert_eq!(
        validate(&app, service, "").await.unwrap_err(),
        "INVALID_REQUEST"
    );

    // CAS 1.0 and the JSON form answer the same way.
    let r = c.get(&cas_login).send().await.unwrap();
    let t4 = ticket_of(&location(&r));
    let v1 = app
        .client
        .get(app.url("/cas/validate"))
        .query(&[("service", service), ("ticket", t4.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(v1, "yes\nS2024001\n");
    let r = c.get(&cas_login).send().await.unwrap();
    let t5 = ticket_of(&location(&r));
    let j: serde_json::Value = app
        .client
        .get(app.url("/cas/serviceValidate"))
        .query(&[
            ("service", service),
            ("ticket", t5.as_str()),
            ("format", "JSON"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        j["serviceResponse"]["authenticationSuccess"]["user"],
        "S2024001"
    );
    assert_eq!(
        j["serviceResponse"]["authenticationSuccess"]["attributes"]["name"][0],
        "张三"
    );

    // A service URL no system registered: no ticket, a page saying so.
    let r = c
        .get(app.url("/cas/login?service=http%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(location(&r).is_empty());
    assert!(r.text().await.unwrap().contains("未在统一身份认证登记"));

    // gateway: an anonymous visitor goes back to the service without a ticket.
    let anon = new_client();
    let r = anon
        .get(format!("{cas_login}&gateway=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), service);

    // renew: a sign-in older than two minutes is not enough; 登录 asks again.
    app.clock.advance(Duration::from_secs(180));
    let r = c
        .get(format!("{cas_login}&renew=true"))
        .send()
        .await
        .unwrap();
    let loc = location(&r);
    assert!(
        loc.starts_with("/login?next=") && loc.ends_with("&renew=1"),
        "{loc}"
    );
    let html = c
        .get(app.url(&loc))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("name=\"password\""),
        "the form is shown to a signed-in person"
    );

    // Each validated ticket is a sign-in listed in 安全中心 and audited; no ticket is logged.
    let html = c
        .get(app.url("/security"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        texts_of_class(&html, "sso-signins")
            .concat()
            .contains("图书馆系统")
    );
    assert_eq!(app.audit_count("sso.sign_in", "success").await, 3);
    let details: Vec<String> = sqlx::query_scalar("SELECT details::text FROM audit_log")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(!details.iter().any(|d| d.contains(&ticket)));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub type Rp = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The relying party: discovery through the library, as a campus system would do it.
pub async fn relying_party(
    app: &TestApp,
    id: &str,
    secret: &str,
    redirect: &str,
) -> (Rp, openidconnect::reqwest::Client) {
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.address.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(id.into()),
        Some(ClientSecret::new(secret.into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap());
    (rp, http)
}

/// An authorization request: (URL on the hall, PKCE verifier, nonce, state).
pub fn auth_url(rp: &Rp, scopes: &[&str]) -> (String, PkceCodeVerifier, Nonce, CsrfToken) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = rp
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for s in scopes {
        req = req.add_scope(Scope::new((*s).into()));
    }
    let (url, state, nonce) = req.url();
    (url.to_string(), verifier, nonce, state)
}

pub fn param(loc: &str, name: &str) -> Option<String> {
    url::Url::parse(loc)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn oidc_code_flow_with_a_real_relying_party_library() {
    let app = spawn_app().await;
    let redirect = "http://127.0.0.1:9/oidc/callback";
    let (id, secret) = register(&app, oidc_registration("教务系统", redirect, true)).await;
    let (rp, http) = relying_party(&app, &id, &secret, redirect).await;
    let c = new_client();

    let (url, verifier, nonce, state) = auth_url(&rp, &["profile", "email", "phone", "campus"]);
    let r = c.get(&url).send().await.unwrap();
    let back = login_at(&app, &c, &location(&r), "S2024001").await;
    let r = follow_on_hall(&app, &c, app.url(&back)).await;
    let loc = location(&r);
    assert!(loc.starts_with(redirect), "{loc}");
    assert_eq!(
        param(&loc, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(param(&loc, "iss").as_deref(), Some(app.address.as_str()));
    let code = param(&loc, "code").unwrap();

    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let id_token = tokens.extra_fields().id_token().expect("an id_token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the signature, issuer, audience and nonce verify");
    assert_eq!(claims.subject().as_str(), "S2024001");
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str().to_owned()),
        Some("S2024001".into())
    );
    assert_eq!(
        claims.phone_number().map(|p| p.as_str().to_owned()),
        Some("13800138000".into())
    );
    // userinfo with the access token: the campus claims too.
    let info: serde_json::Value = app
        .client
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["name"], "张三");
    assert_eq!(info["department"], "计算机学院");
    assert_eq!(info["kind"], "student");

    // The same code again: refused, and the token it gave is revoked.
    let again = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&http)
        .await;
    assert!(again.is_err());
    let r = app
        .client
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A PKCE verifier that is not the request's: refused.
    let (url, _verifier, _, _) = auth_url(&rp, &[]);
    let code = param(&location(&c.get(&url).send().await.unwrap()), "code").unwrap();
    let (_, other_verifier) = PkceCodeChallenge::new_random_sha256();
    let e = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(other_verifier)
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("invalid_grant"), "{e:?}");

    // A code older than 60 s: refused.
    let (url, verifier, _, _) = auth_url(&rp, &[]);
    let code = param(&location(&c.get(&url).send().await.unwrap()), "code").unwrap();
    app.clock.advance(Duration::from_secs(61));
    let e = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("invalid_grant"), "{e:?}");

    // A wrong secret: invalid_client, 401.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some("not-the-secret"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );

    // A redirect URI not registered: a page on the hall, never a redirect there.
    let (url, ..) = auth_url(&rp, &[]);
    let evil = url.replace(&urlencode(redirect), &urlencode("http://evil.example/cb"));
    assert_ne!(evil, url);
    let r = c.get(&evil).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(location(&r).is_empty());
    // Without PKCE: back to the client with an error, no code.
    let plain = {
        let mut u = url::Url::parse(&url).unwrap();
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| !k.starts_with("code_challenge"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut().clear().extend_pairs(kept);
        u.to_string()
    };
    let loc = location(&c.get(&plain).send().await.unwrap());
    assert_eq!(param(&loc, "error").as_deref(), Some("invalid_request"));
    assert!(param(&loc, "code").is_none());
    // prompt=none for someone not signed in: login_required.
    let loc = location(
        &new_client()
            .get(format!("{url}&prompt=none"))
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(param(&loc, "error").as_deref(), Some("login_required"));
    // An unknown client: a page, no redirect.
    let r = c
        .get(url.replace(&id, "hall-unknown"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(location(&r).is_empty());
}

#[tokio::test]
async fn consent_key_rotation_logout_and_disabling() {
    let app = spawn_app().await;
    let redirect = "http://127.0.0.1:9/oidc/callback";
    let (id, secret) = register(&app, oidc_registration("校外合作平台", redirect, false)).await;
    let (rp, http) = relying_party(&app, &id, &secret, redirect).await;
    let c = signed_in(&app, "T2002").await;

    // Not campus-internal: the consent screen names the system and what it gets.
    let (url, ..) = auth_url(&rp, &["profile"]);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("校外合作平台"));
    assert!(
        texts_of_class(&html, "sso-scopes")
            .concat()
            .contains("姓名")
    );
    let consent = |decision: &'static str, html: String| {
        let c = c.clone();
        let app_url = app.url("/oauth/authorize/consent");
        async move {
            let doc = scraper::Html::parse_document(&html);
            let mut form: Vec<(String, String)> = doc
                .select(&scraper::Selector::parse("form.sso-consent input[type=hidden]").unwrap())
                .map(|e| {
                    (
                        e.value().attr("name").unwrap().to_owned(),
                        e.value().attr("value").unwrap().to_owned(),
                    )
                })
                .collect();
            form.push(("decision".into(), decision.into()));
            c.post(app_url).form(&form).send().await.unwrap()
        }
    };
    let r = consent("deny", html.clone()).await;
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("access_denied")
    );
    let r = consent("allow", html).await;
    let code = param(&location(&r), "code").expect("a code after consent");
    // Asked once: the next request goes straight through.
    let (url, verifier, nonce, _) = auth_url(&rp, &["profile"]);
    let loc = location(&c.get(&url).send().await.unwrap());
    assert!(param(&loc, "code").is_some(), "{loc}");
    let _ = code;
    let code = param(&loc, "code").unwrap();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let old_token = tokens.extra_fields().id_token().unwrap().clone();

    // Rotation: a new key signs, the old one stays published; both tokens verify.
    let jwks = |app_url: String| async move {
        reqwest::get(app_url)
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    assert_eq!(
        jwks(app.url("/oauth/jwks")).await["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    service_hall::identity::sso::keys::rotate(
        &app.db,
        &service_hall::secret::SecretKey::from_secret(TEST_SECRET),
        None,
        app.clock.now(),
    )
    .await
    .unwrap();
    let keys = jwks(app.url("/oauth/jwks")).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    let (rp2, _) = relying_party(&app, &id, &secret, redirect).await;
    assert!(old_token.claims(&rp2.id_token_verifier(), &nonce).is_ok());
    let (url, verifier, nonce2, _) = auth_url(&rp, &[]);
    let code = param(&location(&c.get(&url).send().await.unwrap()), "code").unwrap();
    let tokens = rp2
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let new_token = tokens.extra_fields().id_token().unwrap().clone();
    assert!(new_token.claims(&rp2.id_token_verifier(), &nonce2).is_ok());
    let kid = |t: &str| {
        let h = t.split('.').next().unwrap();
        use base64::Engine;
        let h: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_owned()
    };
    assert_ne!(kid(&old_token.to_string()), kid(&new_token.to_string()));

    // RP-initiated logout: confirmation, then the hall and the system are signed out, the
    // system is told in a frame (with its sid), and the way back carries the state.
    let r = c
        .get(app.url("/oauth/logout"))
        .query(&[
            ("id_token_hint", new_token.to_string().as_str()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
            ("state", "s-1"),
        ])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("退出网上办事服务大厅？"));
    assert!(html.contains("校外合作平台"));
    let doc = scraper::Html::parse_document(&html);
    let form: Vec<(String, String)> = doc
        .select(&scraper::Selector::parse("form[action='/sso/logout'] input").unwrap())
        .map(|e| {
            (
                e.value().attr("name").unwrap().to_owned(),
                e.value().attr("value").unwrap().to_owned(),
            )
        })
        .collect();
    let r = c
        .post(app.url("/sso/logout"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-src http://127.0.0.1:9"), "{csp}");
    let html = r.text().await.unwrap();
    let doc = scraper::Html::parse_document(&html);
    let back = doc
        .select(&scraper::Selector::parse("#sso-back").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    assert_eq!(back, "http://127.0.0.1:9/bye?state=s-1");
    // One frame per sign-in of this session (two codes were redeemed).
    let frames: Vec<String> = doc
        .select(&scraper::Selector::parse("iframe.sso-frame").unwrap())
        .map(|f| f.value().attr("src").unwrap().to_owned())
        .collect();
    assert_eq!(frames.len(), 2);
    assert!(
        frames
            .iter()
            .all(|f| f.starts_with("http://127.0.0.1:9/fc-logout?iss="))
    );
    let sids: Vec<String> = frames.iter().map(|f| param(f, "sid").unwrap()).collect();
    let claims_sid: serde_json::Value = {
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(new_token.to_string().split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert!(sids.iter().any(|s| claims_sid["sid"] == *s), "{sids:?}");
    assert_eq!(app.signed_in_as(&c).await, None, "signed out of the hall");

    // A post-logout address not registered: no way back offered.
    let c = signed_in(&app, "T2002").await;
    let html = c
        .get(app.url("/oauth/logout"))
        .query(&[
            ("client_id", id.as_str()),
            ("post_logout_redirect_uri", "http://evil.example/"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("evil.example"));

    // Disabled: no sign-in, and its tokens stop working.
    let admin = signed_in(&app, "admin").await;
    let cid: i64 = sqlx::query_scalar("SELECT id FROM sso_clients WHERE client_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let r = app
        .submit(
            &admin,
            &format!("/admin/sso/{cid}"),
            &format!("/admin/sso/{cid}/status"),
            &[("disabled", "true")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = app
        .client
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (url, ..) = auth_url(&rp, &[]);
    assert_eq!(c.get(&url).send().await.unwrap().status(), 400);
    assert_eq!(app.audit_count("sso_client.disable", "success").await, 1);
}

/// A local system's back channel: records each CAS logoutRequest posted to it.
async fn slo_listener() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/app/login",
        axum::routing::post(
            move |axum::Form(f): axum::Form<std::collections::HashMap<String, String>>| {
                let g = g.clone();
                async move {
                    g.lock()
                        .await
                        .push(f.get("logoutRequest").cloned().unwrap_or_default());
                    "ok"
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, got)
}

#[tokio::test]
async fn the_halls_logout_offers_to_sign_out_of_the_systems_too() {
    let app = spawn_app().await;
    let (sys, got) = slo_listener().await;
    let service = format!("{sys}/app/login");
    register(
        &app,
        Registration {
            name: "一卡通系统".into(),
            cas_service_patterns: format!("{}/app/.*", regex_escape(&sys)),
            internal: Some("on".into()),
            ..Default::default()
        },
    )
    .await;
    let c = signed_in(&app, "S2024001").await;
    let r = c
        .get(app.url(&format!("/cas/login?service={}", urlencode(&service))))
        .send()
        .await
        .unwrap();
    let ticket = ticket_of(&location(&r));
    validate(&app, &service, &ticket).await.unwrap();

    // 退出: the hall is signed out at once; the next page offers the systems.
    let r = app.logout_with(&c).await;
    assert_eq!(location(&r), "/logout/systems");
    let html = c
        .get(app.url("/logout/systems"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        texts_of_class(&html, "sso-systems")
            .concat()
            .contains("一卡通系统")
    );
    assert_eq!(app.signed_in_as(&c).await, None);
    let r = app
        .submit(&c, "/logout/systems", "/logout/systems", &[])
        .await;
    let html = r.text().await.unwrap();
    assert!(html.contains("已退出网上办事服务大厅和以下系统"));
    // The system got its logoutRequest naming the ticket as the session.
    for _ in 0..50 {
        if !got.lock().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = got.lock().await.clone();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].contains(&format!(
            "<samlp:SessionIndex>{ticket}</samlp:SessionIndex>"
        )),
        "{}",
        got[0]
    );
    // Offered once: the page is gone.
    assert_eq!(
        location(&c.get(app.url("/logout/systems")).send().await.unwrap()),
        "/"
    );
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if ".?*+()[]{}|^$\\".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

#[tokio::test]
async fn systems_are_registered_in_admin_with_the_secret_shown_once() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin").await;
    // Mistakes are named next to their fields and what was typed stays.
    let r = app
        .submit(
            &admin,
            "/admin/sso/new",
            "/admin/sso",
            &[
                ("name", "教务系统"),
                ("redirect_uris", "jw.example.edu/cb"),
                ("cas_service_patterns", "https://(unclosed"),
                ("scopes", "openid"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    let errors = texts_of_class(&html, "field-error").join("|");
    assert!(errors.contains("http"), "{errors}");
    assert!(errors.contains("正则表达式"), "{errors}");
    assert!(html.contains("jw.example.edu/cb") && html.contains("教务系统"));
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sso_clients")
            .fetch_one(&app.db)
            .await
            .unwrap(),
        0
    );
    let r = app
        .submit(
            &admin,
            "/admin/sso/new",
            "/admin/sso",
            &[
                ("name", "教务系统"),
                ("redirect_uris", "https://jw.example.edu/cb"),
                ("scopes", "openid"),
                ("scopes", "campus"),
            ],
        )
        .await;
    assert_eq!(r.status(), 201);
    let html = r.text().await.unwrap();
    let secret = text_of_class(&html, "sso-secret").unwrap();
    let shown = scraper::Html::parse_document(&html)
        .select(&scraper::Selector::parse("#client-secret").unwrap())
        .next()
        .unwrap()
        .text()
        .collect::<String>();
    assert!(secret.contains(&shown) && shown.len() >= 43);
    let c = clients::all(&app.db).await.unwrap().remove(0);
    assert!(c.secret_matches(&shown));
    assert_eq!(c.allowed_scopes, vec!["openid", "campus"]);
    // Never again: the edit page has no secret.
    let html = app
        .get_with(&admin, &format!("/admin/sso/{}", c.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains(&shown));
    // Only 系统管理员.
    let teacher = signed_in(&app, "T2001").await;
    assert_eq!(app.get_with(&teacher, "/admin/sso").await.status(), 403);
    assert_eq!(app.audit_count("sso_client.create", "success").await, 1);
}

#[tokio::test]
async fn recommended_system_tiles_open_their_systems_signed_in() {
    let app = spawn_app().await;
    let (tile, tile_url): (i64, String) =
        sqlx::query_as("SELECT id, url FROM campus_systems ORDER BY sort_order, id LIMIT 1")
            .fetch_one(&app.db)
            .await
            .expect("the demo has 推荐系统");
    let launch = "http://127.0.0.1:9/card/login";
    register(
        &app,
        Registration {
            name: "一卡通系统".into(),
            cas_service_patterns: r"http://127\.0\.0\.1:9/card/.*".into(),
            internal: Some("on".into()),
            launch_url: launch.into(),
            campus_system: tile.to_string(),
            ..Default::default()
        },
    )
    .await;
    let c = signed_in(&app, "S2024001").await;
    let home = app.get_with(&c, "/").await.text().await.unwrap();
    let go = format!("/systems/{tile}/go");
    assert!(
        home.contains(&format!("href=\"{go}\"")),
        "the tile links through the hall"
    );
    // Through the hall: a ticket for the launch address, validated like any other.
    let r = follow_on_hall(&app, &c, app.url(&go)).await;
    let loc = location(&r);
    assert!(loc.starts_with(launch), "{loc}");
    let (user, _) = validate(&app, launch, &ticket_of(&loc)).await.unwrap();
    assert_eq!(user, "S2024001");

    // An OIDC system is asked to start its sign-in (third-party-initiated login).
    let other: i64 =
        sqlx::query_scalar("SELECT id FROM campus_systems WHERE id <> $1 ORDER BY id LIMIT 1")
            .bind(tile)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let other_url: String = sqlx::query_scalar("SELECT url FROM campus_systems WHERE id = $1")
        .bind(other)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let mut r = oidc_registration("教务系统", "http://127.0.0.1:9/jw/cb", true);
    r.launch_url = "http://127.0.0.1:9/jw/start".into();
    r.campus_system = other.to_string();
    register(&app, r).await;
    let loc = location(
        &c.get(app.url(&format!("/systems/{other}/go")))
            .send()
            .await
            .unwrap(),
    );
    assert!(loc.starts_with("http://127.0.0.1:9/jw/start?"), "{loc}");
    assert_eq!(param(&loc, "iss").as_deref(), Some(app.address.as_str()));
    assert_eq!(
        param(&loc, "target_link_uri").as_deref(),
        Some(other_url.as_str())
    );

    // Disabled: the tile's own address.
    sqlx::query("UPDATE sso_clients SET disabled_at = now()")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        location(&c.get(app.url(&go)).send().await.unwrap()),
        tile_url
    );
    assert_eq!(app.get_with(&c, "/systems/999999/go").await.status(), 404);
}

/// The CLI registers a system (the secret printed once) and rotates the signing key.
#[tokio::test]
async fn the_cli_registers_systems_and_rotates_the_key() {
    let app = spawn_app().await;
    let data = std::env::temp_dir().join(format!("hall-cli-{}", uuid::Uuid::new_v4().simple()));
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_service-hall"))
            .args(args)
            .env("DATABASE_URL", app.database_url())
            .env("HALL_DATA_DIR", &data)
            .env("HALL_SECRET_KEY", TEST_SECRET)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = run(&[
        "sso-client",
        "add",
        "--name",
        "图书馆系统",
        "--cas-service",
        r"https://lib\.example\.edu/.*",
        "--redirect",
        "https://lib.example.edu/oidc/cb",
        "--scope",
        "openid,profile,campus",
        "--internal",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{k} in {text}"))
    };
    let (id, secret) = (value("client_id:"), value("client_secret:"));
    let c = clients::by_client_id(&app.db, &id)
        .await
        .unwrap()
        .expect("registered");
    assert!(c.secret_matches(&secret) && c.internal);
    assert_eq!(c.allowed_scopes, vec!["openid", "profile", "campus"]);
    assert!(c.serves("https://lib.example.edu/login"));
    // A bad pattern: refused with the reason, nothing registered.
    let out = run(&[
        "sso-client",
        "add",
        "--name",
        "x",
        "--cas-service",
        "https://(",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cas-service"));
    assert_eq!(clients::all(&app.db).await.unwrap().len(), 1);
    let out = run(&["sso-client", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("图书馆系统"));
    // Rotation: a second key is published, the newest signs.
    let jwks = || async {
        reqwest::get(app.url("/oauth/jwks"))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let before = jwks().await["keys"][0]["kid"].clone();
    assert!(run(&["sso-rotate-key"]).status.success());
    let after = jwks().await;
    assert_eq!(after["keys"].as_array().unwrap().len(), 2);
    assert_ne!(after["keys"][0]["kid"], before);
    let _ = std::fs::remove_dir_all(&data);
}
