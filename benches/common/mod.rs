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
    let (c, token, _) = session_with_cookie(base, account).await?;
    Ok((c, token))
}

/// Like [`session`], also returning the `Cookie` header the jar would send.
pub async fn session_with_cookie(
    base: &str,
    account: &str,
) -> anyhow::Result<(reqwest::Client, String, String)> {
    use reqwest::cookie::CookieStore;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let c = reqwest::Client::builder()
        .cookie_provider(jar.clone())
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
    let cookie = jar
        .cookies(&base.parse()?)
        .ok_or_else(|| anyhow::anyhow!("no session cookie for {account}"))?
        .to_str()?
        .to_owned();
    Ok((c, token(&html), cookie))
}

/// A lean HTTP/1.1 keep-alive client for the measured phases, so that the load generator
/// costs the shared cores about as little as pgbench's C client does: one connection, one
/// pre-built header block, the status line and `Content-Length` parsed, nothing else.
/// (reqwest's cookie jar, URL parsing and connection pool cost a measurable share of a
/// 2-core machine at 64 clients.)
pub struct RawClient {
    stream: tokio::net::TcpStream,
    host: String,
    cookie: String,
    buf: Vec<u8>,
}

/// A response: status, the `Location` header if any, and the body.
pub struct RawResponse {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

impl RawClient {
    pub async fn connect(addr: std::net::SocketAddr, cookie: String) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(RawClient {
            stream,
            host: addr.to_string(),
            cookie,
            buf: Vec::with_capacity(4096),
        })
    }

    /// POST an `application/x-www-form-urlencoded` body (already encoded).
    pub async fn post_form(&mut self, path: &str, body: &str) -> anyhow::Result<RawResponse> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            self.cookie,
            body.len()
        );
        self.stream.write_all(req.as_bytes()).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "connection closed by the server");
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&self.buf[..head_end])?;
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("bad status line: {head}"))?;
        let mut len = 0usize;
        let mut location = None;
        for line in head.split("\r\n").skip(1) {
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse()?;
                } else if k.eq_ignore_ascii_case("location") {
                    location = Some(v.trim().to_owned());
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    anyhow::bail!("chunked responses are not expected here");
                }
            }
        }
        while self.buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "connection closed by the server");
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(RawResponse {
            status,
            location,
            body: self.buf[head_end..head_end + len].to_vec(),
        })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn token(html: &str) -> String {
    let m = "name=\"_csrf\" value=\"";
    let s = html.find(m).map(|i| i + m.len()).unwrap_or(0);
    html[s..s + html[s..].find('"').unwrap_or(0)].to_owned()
}

/// The server to measure: `DATABASE_URL` when set, else a fresh embedded cluster in a
/// temporary folder (removed when the guard drops).
pub struct Server {
    pub opts: sqlx::postgres::PgConnectOptions,
    pub embedded: Option<service_hall::db::EmbeddedPostgres>,
    dir: Option<std::path::PathBuf>,
}

impl Server {
    pub fn open() -> anyhow::Result<Server> {
        use std::str::FromStr;
        Ok(
            match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
                Some(url) => Server {
                    opts: sqlx::postgres::PgConnectOptions::from_str(&url)?,
                    embedded: None,
                    dir: None,
                },
                None => {
                    let dir = std::env::temp_dir()
                        .join(format!("service-hall-bench-{}", std::process::id()));
                    let pg = service_hall::db::EmbeddedPostgres::start(&dir)?;
                    Server {
                        opts: pg.connect_options("postgres"),
                        embedded: Some(pg),
                        dir: Some(dir),
                    }
                }
            },
        )
    }

    /// A two-thread runtime, like the 2-core machines the figures come from.
    pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
        Ok(tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.embedded.take();
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
