//! Shared by the HTTP benchmarks: settings, percentiles, signed-in clients.
#![allow(dead_code)]

use std::time::Duration;

use service_hall::seed;

pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Milliseconds at percentile `p` of sorted latencies.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

/// A client signed in as `account` (demo password) with its own cookie jar, and the
/// session's CSRF token.
pub async fn session(base: &str, account: &str) -> anyhow::Result<(reqwest::Client, String)> {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let html = c.get(format!("{base}/login")).send().await?.text().await?;
    let login_token = token(&html);
    let r = c
        .post(format!("{base}/login"))
        .form(&[
            ("account", account),
            ("password", seed::DEMO_PASSWORD),
            ("_csrf", &login_token),
        ])
        .send()
        .await?;
    anyhow::ensure!(r.status() == 303, "login {account}: {}", r.status());
    // The token is renewed at sign-in: read it from a signed-in page.
    let html = c.get(format!("{base}/center")).send().await?.text().await?;
    Ok((c, token(&html)))
}

pub fn token(html: &str) -> String {
    let m = "name=\"_csrf\" value=\"";
    let s = html.find(m).map(|i| i + m.len()).unwrap_or(0);
    html[s..s + html[s..].find('"').unwrap_or(0)].to_owned()
}
