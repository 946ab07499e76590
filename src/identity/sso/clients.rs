//! The campus systems registered with the sign-in provider: one row per system, serving
//! as its OIDC client and its CAS service. Registration (管理后台 and the CLI) checks every
//! field here, so both refuse the same input with the same words.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgExecutor, PgPool};

use crate::secret::constant_eq;

/// Scopes the provider knows: OIDC's own and `campus` (department and roles).
pub const SCOPES: &[(&str, &str)] = &[
    ("openid", "登录标识"),
    ("profile", "姓名、账号和人员类别"),
    ("email", "安全邮箱"),
    ("phone", "安全手机"),
    ("campus", "所在部门和角色"),
    ("applications", "查看我的申请及其流转记录"),
    ("submit", "以我的名义提交申请"),
    ("tasks", "查看和处理我的待办"),
    ("messages", "查看我的消息"),
    ("integration", "系统自身：读取所登记服务的申请状态"),
];

pub fn scope_label(scope: &str) -> &'static str {
    SCOPES
        .iter()
        .find(|(s, _)| *s == scope)
        .map_or("", |(_, l)| l)
}

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct Client {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub secret_hash: Vec<u8>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub cas_service_patterns: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub internal: bool,
    pub launch_url: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Services (codes) whose applications the system may read and hear about.
    pub api_services: Vec<String>,
    pub webhook_url: Option<String>,
}

const COLUMNS: &str = "id, client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris,
    frontchannel_logout_uri, cas_service_patterns, allowed_scopes, internal, launch_url,
    disabled_at, created_at, api_services, webhook_url";

impl Client {
    pub fn enabled(&self) -> bool {
        self.disabled_at.is_none()
    }

    /// Whether `secret` is this client's, in constant time.
    pub fn secret_matches(&self, secret: &str) -> bool {
        constant_eq(&hash_secret(secret), &self.secret_hash)
    }

    /// Whether `uri` is one of the registered redirect URIs, character for character
    /// (OAuth 2.1: no prefix or pattern matching for redirects).
    pub fn redirect_allowed(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    /// Whether a CAS `service` URL matches one of the client's patterns in full.
    pub fn serves(&self, service: &str) -> bool {
        self.cas_service_patterns
            .iter()
            .any(|p| compile_pattern(p).is_ok_and(|re| re.is_match(service)))
    }
}

pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A random value for a secret, ticket, code or token: 256 bits, URL-safe.
pub fn random_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::Rng::r#gen(&mut rand::rngs::OsRng);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn compile_pattern(p: &str) -> Result<regex_lite::Regex, regex_lite::Error> {
    regex_lite::Regex::new(&format!("^(?:{p})$"))
}

pub async fn by_client_id(db: &PgPool, client_id: &str) -> sqlx::Result<Option<Client>> {
    if client_id.len() > 100 {
        return Ok(None);
    }
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sso_clients WHERE client_id = $1"
    ))
    .bind(client_id)
    .fetch_optional(db)
    .await
}

pub async fn by_id<'c>(db: impl PgExecutor<'c>, id: i64) -> sqlx::Result<Option<Client>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM sso_clients WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn all(db: &PgPool) -> sqlx::Result<Vec<Client>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sso_clients ORDER BY disabled_at IS NOT NULL, name, id"
    ))
    .fetch_all(db)
    .await
}

/// The enabled client whose CAS patterns match `service`, the first registered winning.
pub async fn for_service(db: &PgPool, service: &str) -> sqlx::Result<Option<Client>> {
    let candidates: Vec<Client> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sso_clients
          WHERE disabled_at IS NULL AND cardinality(cas_service_patterns) > 0 ORDER BY id"
    ))
    .fetch_all(db)
    .await?;
    Ok(candidates.into_iter().find(|c| c.serves(service)))
}

/// What a registration form or the CLI gives, as typed (one entry per line for lists).
#[derive(Default, Clone, Debug, serde::Deserialize)]
pub struct Registration {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub redirect_uris: String,
    #[serde(default)]
    pub post_logout_redirect_uris: String,
    #[serde(default)]
    pub frontchannel_logout_uri: String,
    #[serde(default)]
    pub cas_service_patterns: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub internal: Option<String>,
    #[serde(default)]
    pub launch_url: String,
    /// The 推荐系统 tile that opens this system (its id; empty: none).
    #[serde(default)]
    pub campus_system: String,
    /// Service codes for the API's integration reads and webhooks, one per line.
    #[serde(default)]
    pub api_services: String,
    #[serde(default)]
    pub webhook_url: String,
}

/// The problems of a registration, each next to its field.
#[derive(Default, Debug)]
pub struct Problems {
    pub name: Option<String>,
    pub redirect_uris: Option<String>,
    pub post_logout_redirect_uris: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub cas_service_patterns: Option<String>,
    pub scopes: Option<String>,
    pub launch_url: Option<String>,
    pub campus_system: Option<String>,
    pub api_services: Option<String>,
    pub webhook_url: Option<String>,
}

impl Problems {
    pub fn any(&self) -> bool {
        self.name.is_some()
            || self.redirect_uris.is_some()
            || self.post_logout_redirect_uris.is_some()
            || self.frontchannel_logout_uri.is_some()
            || self.cas_service_patterns.is_some()
            || self.scopes.is_some()
            || self.launch_url.is_some()
            || self.campus_system.is_some()
            || self.api_services.is_some()
            || self.webhook_url.is_some()
    }

    /// All problems as lines (the CLI).
    pub fn lines(&self) -> Vec<String> {
        [
            ("name", &self.name),
            ("redirect", &self.redirect_uris),
            ("post-logout redirect", &self.post_logout_redirect_uris),
            ("front-channel logout", &self.frontchannel_logout_uri),
            ("cas-service", &self.cas_service_patterns),
            ("scopes", &self.scopes),
            ("launch", &self.launch_url),
            ("system", &self.campus_system),
            ("api-service", &self.api_services),
            ("webhook", &self.webhook_url),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
        .collect()
    }
}

/// A registration that passed every check.
#[derive(Debug, Clone)]
pub struct Checked {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub cas_service_patterns: Vec<String>,
    pub scopes: Vec<String>,
    pub internal: bool,
    pub launch_url: Option<String>,
    pub campus_system: Option<i64>,
    pub api_services: Vec<String>,
    pub webhook_url: Option<String>,
}

const MAX_ENTRIES: usize = 20;

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An absolute http(s) URL a browser is sent to: no fragment, no user name or password.
fn url_problem(u: &str) -> Option<String> {
    if u.chars().count() > 500 {
        return Some(format!("地址过长（最多 500 个字符）：{}", shorten(u)));
    }
    match url::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => {
            if p.fragment().is_some() {
                Some(format!("地址不能带 #片段：{u}"))
            } else if !p.username().is_empty() || p.password().is_some() {
                Some(format!("地址不能带用户名或密码：{u}"))
            } else {
                None
            }
        }
        _ => Some(format!(
            "不是以 http:// 或 https:// 开头的完整地址：{}",
            shorten(u)
        )),
    }
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

fn url_list(s: &str) -> Result<Vec<String>, String> {
    let list = lines(s);
    if list.len() > MAX_ENTRIES {
        return Err(format!("最多 {MAX_ENTRIES} 个地址"));
    }
    for u in &list {
        if let Some(p) = url_problem(u) {
            return Err(p);
        }
    }
    Ok(list)
}

fn one_url(s: &str) -> Result<Option<String>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    match url_problem(s) {
        Some(p) => Err(p),
        None => Ok(Some(s.to_owned())),
    }
}

// The problems are a form's worth of messages, built once per submission.
#[allow(clippy::result_large_err)]
pub fn check(r: &Registration) -> Result<Checked, Problems> {
    let mut p = Problems::default();
    let name = r.name.trim().to_owned();
    if name.is_empty() {
        p.name = Some("请填写系统名称".into());
    } else if name.chars().count() > 100 {
        p.name = Some("系统名称最多 100 个字符".into());
    }
    let redirect_uris = url_list(&r.redirect_uris).unwrap_or_else(|e| {
        p.redirect_uris = Some(e);
        vec![]
    });
    let post_logout = url_list(&r.post_logout_redirect_uris).unwrap_or_else(|e| {
        p.post_logout_redirect_uris = Some(e);
        vec![]
    });
    let frontchannel = one_url(&r.frontchannel_logout_uri).unwrap_or_else(|e| {
        p.frontchannel_logout_uri = Some(e);
        None
    });
    let launch_url = one_url(&r.launch_url).unwrap_or_else(|e| {
        p.launch_url = Some(e);
        None
    });
    let patterns = lines(&r.cas_service_patterns);
    if patterns.len() > MAX_ENTRIES {
        p.cas_service_patterns = Some(format!("最多 {MAX_ENTRIES} 个规则"));
    } else if let Some(bad) = patterns
        .iter()
        .find(|x| x.chars().count() > 300 || compile_pattern(x).is_err())
    {
        p.cas_service_patterns = Some(format!("不是有效的正则表达式：{}", shorten(bad)));
    }
    let mut scopes: Vec<String> = Vec::new();
    for s in &r.scopes {
        if !SCOPES.iter().any(|(k, _)| k == s) {
            p.scopes = Some(format!("未知的授权范围：{}", shorten(s)));
        } else if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    if !redirect_uris.is_empty() && !scopes.iter().any(|s| s == "openid") {
        p.scopes
            .get_or_insert_with(|| "OpenID Connect 登录需要 openid".into());
    }
    if p.redirect_uris.is_none()
        && p.cas_service_patterns.is_none()
        && redirect_uris.is_empty()
        && patterns.is_empty()
    {
        p.redirect_uris =
            Some("请至少填写一个回调地址（OpenID Connect）或一个 CAS 服务地址规则".into());
    }
    let campus_system = match r.campus_system.trim() {
        "" => None,
        v => match v.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                p.campus_system = Some("请从列表中选择推荐系统".into());
                None
            }
        },
    };
    let api_services: Vec<String> = lines(&r.api_services)
        .into_iter()
        .map(|c| c.to_uppercase())
        .collect();
    if api_services.len() > 200 {
        p.api_services = Some("最多 200 个服务".into());
    } else if let Some(bad) = api_services.iter().find(|c| {
        c.len() < 2
            || c.len() > 16
            || !c
                .chars()
                .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit())
    }) {
        p.api_services = Some(format!("不是服务编码：{}", shorten(bad)));
    }
    let webhook_url = one_url(&r.webhook_url).unwrap_or_else(|e| {
        p.webhook_url = Some(e);
        None
    });
    if webhook_url.is_some() && api_services.is_empty() && p.api_services.is_none() {
        p.api_services = Some("通知地址需要至少一个服务编码".into());
    }
    if p.any() {
        return Err(p);
    }
    Ok(Checked {
        name,
        redirect_uris,
        post_logout_redirect_uris: post_logout,
        frontchannel_logout_uri: frontchannel,
        cas_service_patterns: patterns,
        scopes,
        internal: r.internal.is_some(),
        launch_url,
        campus_system,
        api_services,
        webhook_url,
    })
}

/// Registers a client; returns its row id, client id and secret (shown once).
pub async fn create(
    db: &PgPool,
    c: &Checked,
    by: Option<i64>,
    now: DateTime<Utc>,
) -> sqlx::Result<(i64, String, String)> {
    let client_id = format!(
        "hall-{}",
        hex::encode(rand::Rng::r#gen::<[u8; 10]>(&mut rand::rngs::OsRng))
    );
    let secret = random_token();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sso_clients (client_id, name, secret_hash, redirect_uris,
             post_logout_redirect_uris, frontchannel_logout_uri, cas_service_patterns,
             allowed_scopes, internal, launch_url, created_at, created_by, updated_at,
             api_services, webhook_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $11, $13, $14) RETURNING id",
    )
    .bind(&client_id)
    .bind(&c.name)
    .bind(hash_secret(&secret))
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.frontchannel_logout_uri)
    .bind(&c.cas_service_patterns)
    .bind(&c.scopes)
    .bind(c.internal)
    .bind(&c.launch_url)
    .bind(now)
    .bind(by)
    .bind(&c.api_services)
    .bind(&c.webhook_url)
    .fetch_one(&mut *tx)
    .await?;
    link_tile(&mut tx, id, c.campus_system).await?;
    crate::audit::Entry::about(format!("sso_client:{id}"), "sso_client.create")
        .by(by)
        .detail(serde_json::json!({ "name": c.name, "client_id": client_id }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok((id, client_id, secret))
}

pub async fn update(
    db: &PgPool,
    id: i64,
    c: &Checked,
    by: Option<i64>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "UPDATE sso_clients SET name = $2, redirect_uris = $3, post_logout_redirect_uris = $4,
             frontchannel_logout_uri = $5, cas_service_patterns = $6, allowed_scopes = $7,
             internal = $8, launch_url = $9, updated_at = $10, api_services = $11,
             webhook_url = $12
         WHERE id = $1",
    )
    .bind(id)
    .bind(&c.name)
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.frontchannel_logout_uri)
    .bind(&c.cas_service_patterns)
    .bind(&c.scopes)
    .bind(c.internal)
    .bind(&c.launch_url)
    .bind(now)
    .bind(&c.api_services)
    .bind(&c.webhook_url)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 1 {
        link_tile(&mut tx, id, c.campus_system).await?;
        crate::audit::Entry::about(format!("sso_client:{id}"), "sso_client.update")
            .by(by)
            .detail(serde_json::json!({ "name": c.name }))
            .record(&mut *tx, now)
            .await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

/// Makes `system` (a 推荐系统 tile) the one that opens client `id`, and no other.
async fn link_tile(tx: &mut sqlx::PgConnection, id: i64, system: Option<i64>) -> sqlx::Result<()> {
    sqlx::query("UPDATE campus_systems SET sso_client_id = NULL WHERE sso_client_id = $1 AND id IS DISTINCT FROM $2")
        .bind(id)
        .bind(system)
        .execute(&mut *tx)
        .await?;
    if let Some(s) = system {
        sqlx::query("UPDATE campus_systems SET sso_client_id = $1 WHERE id = $2")
            .bind(id)
            .bind(s)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The 推荐系统 tiles, for the registration form's choice: (id, name, linked client).
pub async fn tiles(db: &PgPool) -> sqlx::Result<Vec<(i64, String, Option<i64>)>> {
    sqlx::query_as("SELECT id, name, sso_client_id FROM campus_systems ORDER BY sort_order, id")
        .fetch_all(db)
        .await
}

/// The tile linked to client `id`, if any.
pub async fn tile_of(db: &PgPool, id: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM campus_systems WHERE sso_client_id = $1 ORDER BY id LIMIT 1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A new secret for the client (the old one stops working at once); `None` if no such client.
pub async fn new_secret(
    db: &PgPool,
    id: i64,
    by: Option<i64>,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<String>> {
    let secret = random_token();
    let mut tx = db.begin().await?;
    let n = sqlx::query("UPDATE sso_clients SET secret_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hash_secret(&secret))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n != 1 {
        return Ok(None);
    }
    crate::audit::Entry::about(format!("sso_client:{id}"), "sso_client.secret")
        .by(by)
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(Some(secret))
}

/// Disables (or enables again) a client. Disabling also revokes its access tokens.
pub async fn set_disabled(
    db: &PgPool,
    id: i64,
    disabled: bool,
    by: Option<i64>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "UPDATE sso_clients SET disabled_at = CASE WHEN $2 THEN $3 END, updated_at = $3
          WHERE id = $1 AND (disabled_at IS NULL) = $2",
    )
    .bind(id)
    .bind(disabled)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 1 {
        if disabled {
            sqlx::query(
                "UPDATE oauth_tokens SET revoked_at = $2
                  WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let action = if disabled {
            "sso_client.disable"
        } else {
            "sso_client.enable"
        };
        crate::audit::Entry::about(format!("sso_client:{id}"), action)
            .by(by)
            .record(&mut *tx, now)
            .await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(redirect: &str, cas: &str, scopes: &[&str]) -> Registration {
        Registration {
            name: "教务系统".into(),
            redirect_uris: redirect.into(),
            cas_service_patterns: cas.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn registrations_are_checked_field_by_field() {
        let ok = check(&reg(
            "https://jw.example.edu/cb\n\n",
            "",
            &["openid", "profile"],
        ))
        .unwrap();
        assert_eq!(ok.redirect_uris, vec!["https://jw.example.edu/cb"]);
        let e = check(&reg("jw.example.edu/cb", "", &["openid"])).unwrap_err();
        assert!(e.redirect_uris.unwrap().contains("http"));
        let e = check(&reg("https://jw.example.edu/cb#x", "", &["openid"])).unwrap_err();
        assert!(e.redirect_uris.unwrap().contains("#"));
        let e = check(&reg("https://jw.example.edu/cb", "", &["profile"])).unwrap_err();
        assert!(e.scopes.unwrap().contains("openid"));
        let e = check(&reg("", "https://(", &[])).unwrap_err();
        assert!(e.cas_service_patterns.is_some());
        let e = check(&reg("", "", &[])).unwrap_err();
        assert!(e.redirect_uris.is_some());
        let e = check(&reg("", "https://x/.*", &["root"])).unwrap_err();
        assert!(e.scopes.unwrap().contains("root"));
    }

    #[test]
    fn service_patterns_match_whole_urls_only() {
        let c = Client {
            id: 1,
            client_id: "c".into(),
            name: "n".into(),
            secret_hash: hash_secret("s"),
            redirect_uris: vec!["https://a.edu/cb".into()],
            post_logout_redirect_uris: vec![],
            frontchannel_logout_uri: None,
            cas_service_patterns: vec![r"https://lib\.example\.edu/.*".into()],
            allowed_scopes: vec![],
            internal: true,
            launch_url: None,
            disabled_at: None,
            created_at: Utc::now(),
            api_services: vec![],
            webhook_url: None,
        };
        assert!(c.serves("https://lib.example.edu/login?x=1"));
        assert!(!c.serves("https://evil.example/?https://lib.example.edu/"));
        assert!(!c.serves("https://lib.example.edu.evil.example/"));
        assert!(c.redirect_allowed("https://a.edu/cb"));
        assert!(!c.redirect_allowed("https://a.edu/cb/"));
        assert!(c.secret_matches("s") && !c.secret_matches("t"));
    }
}
