//! Notifications: the outbox (written in the same transaction as each event) and the
//! worker that delivers it. In-app messages (消息中心) are delivered here; SMS, e-mail
//! and WeChat Work channels plug into `deliver` later.

pub mod deliveries;
pub mod inbox;
pub mod webhooks;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{
    config::{Settings, SmsConfig, WecomConfig},
    mask::mask_phone,
};

#[derive(sqlx::FromRow)]
struct Due {
    id: i64,
    idempotency_key: String,
    recipient_id: i64,
    application_id: Option<i64>,
    kind: String,
    payload: serde_json::Value,
    created_at: DateTime<Utc>,
}

/// Which outside channels an event fans out to when its in-app message is delivered.
#[derive(Default, Clone)]
pub struct Fanout {
    pub sms: bool,
    pub wecom: bool,
    pub email: bool,
    pub base_url: String,
}

/// Whether the recipient (`u`, with `p` their notify_prefs row or NULLs) can and wants to
/// receive a copy on channel `c.channel`: SMS needs a security phone (on unless turned
/// off), e-mail a security e-mail (off unless turned on), 企业微信 nothing more (on unless
/// turned off).
pub const CHANNEL_WANTED: &str = "CASE c.channel
        WHEN 'sms' THEN u.phone IS NOT NULL AND COALESCE(p.sms, true)
        WHEN 'email' THEN u.email IS NOT NULL AND COALESCE(p.email, false)
        ELSE COALESCE(p.wecom, true) END";

/// The copies of an in-app message (`text`, `link`) for the outside channels configured
/// here: (channel, payload). Whether the recipient wants each is decided where it is
/// queued (`CHANNEL_WANTED`).
pub fn copies(fanout: &Fanout, text: &str, link: &str) -> Vec<(&'static str, serde_json::Value)> {
    let url = format!("{}{link}", fanout.base_url.trim_end_matches('/'));
    let mut out = Vec::new();
    if fanout.sms {
        out.push((
            "sms",
            serde_json::json!({ "text": format!("【网上办事服务大厅】{text} {url}") }),
        ));
    }
    if fanout.email {
        let subject: String = text.chars().take(40).collect();
        out.push((
            "email",
            serde_json::json!({
                "text": format!("{text}\n\n{url}\n\n—— 网上办事服务大厅"),
                "subject": format!("【网上办事服务大厅】{subject}"),
            }),
        ));
    }
    if fanout.wecom {
        out.push((
            "wecom",
            serde_json::json!({ "text": format!("{text}\n{url}") }),
        ));
    }
    out
}

impl Fanout {
    pub fn from_settings(s: &Settings) -> Self {
        Fanout {
            sms: s.sms.is_some(),
            wecom: s.wecom.is_some(),
            email: s.smtp.is_some(),
            base_url: s.base_url.to_string(),
        }
    }
}

/// Queue the copy of an event for one outside channel, if the recipient wants it there.
async fn queue_copy(
    tx: &mut sqlx::PgConnection,
    d: &Due,
    channel: &str,
    payload: serde_json::Value,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO outbox (idempotency_key, channel, recipient_id, application_id, kind, payload, created_at, next_attempt_at)
         SELECT $1, c.channel, u.id, $3, $4, $5, $6, $6 FROM users u
         LEFT JOIN notify_prefs p ON p.user_id = u.id, (SELECT $7::text AS channel) c
         WHERE u.id = $2 AND {CHANNEL_WANTED}
         ON CONFLICT (idempotency_key) DO NOTHING"
    ))
    .bind(format!("{}:{channel}", d.idempotency_key))
    .bind(d.recipient_id)
    .bind(d.application_id)
    .bind(&d.kind)
    .bind(payload)
    .bind(now)
    .bind(channel)
    .execute(tx)
    .await?;
    Ok(())
}

/// Deliver up to `batch` due in-app rows; returns how many were delivered.
pub async fn deliver_due(db: &PgPool, now: DateTime<Utc>, batch: i64) -> sqlx::Result<u64> {
    deliver_due_with(db, now, batch, &Fanout::default()).await
}

/// Safe with several instances: rows are claimed with `FOR UPDATE SKIP LOCKED`, and the
/// in-app message is written in the same transaction that marks its row delivered, so a
/// crash loses nothing and a row is never delivered twice. That transaction also queues
/// the copies for the outside channels the recipient chose (个人设置).
pub async fn deliver_due_with(
    db: &PgPool,
    now: DateTime<Utc>,
    batch: i64,
    fanout: &Fanout,
) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    let due: Vec<Due> = sqlx::query_as(
        "SELECT id, idempotency_key, recipient_id, application_id, kind, payload, created_at FROM outbox
         WHERE channel = 'inapp' AND delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    let mut delivered = 0;
    for d in due {
        let text = d.payload.get("text").and_then(|v| v.as_str()).unwrap_or("");
        let link = d.payload.get("link").and_then(|v| v.as_str()).unwrap_or("");
        // Once per key: a message already written under it (by this row or by the event's
        // own transaction) was delivered with its copies.
        let fresh = sqlx::query(
            "INSERT INTO messages (outbox_id, idempotency_key, user_id, application_id, kind, text, link, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(d.id)
        .bind(&d.idempotency_key)
        .bind(d.recipient_id)
        .bind(d.application_id)
        .bind(&d.kind)
        .bind(text)
        .bind(link)
        .bind(d.created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if fresh {
            for (channel, payload) in copies(fanout, text, link) {
                queue_copy(&mut tx, &d, channel, payload, now).await?;
            }
        }
        sqlx::query("UPDATE outbox SET delivered_at = $2, attempts = attempts + 1 WHERE id = $1")
            .bind(d.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        delivered += 1;
    }
    tx.commit().await?;
    Ok(delivered)
}

/// An in-app notice to queue: the worker turns it into a 消息中心 message and the copies
/// the recipient wants. The key makes a retried transaction or a duplicate event harmless.
pub struct Notice<'a> {
    pub key: String,
    pub recipient: i64,
    pub application_id: Option<i64>,
    pub kind: &'a str,
    pub payload: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// Queues `n` in the caller's transaction (once per key).
pub async fn enqueue(conn: &mut sqlx::PgConnection, n: Notice<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, recipient_id, application_id, kind, payload, created_at, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(n.key)
    .bind(n.recipient)
    .bind(n.application_id)
    .bind(n.kind)
    .bind(n.payload)
    .bind(n.at)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Claim {
    id: i64,
    idempotency_key: String,
    channel: String,
    payload: serde_json::Value,
    attempts: i32,
    // The recipient's addresses, read with the claim.
    phone: Option<String>,
    email: Option<String>,
    account: String,
}

/// An access token and when to stop using it.
pub type CachedToken = (String, DateTime<Utc>);

/// Gateways to outside systems, from the settings.
#[derive(Clone)]
pub struct Gateways {
    pub sms: Option<SmsConfig>,
    pub wecom: Option<WecomConfig>,
    /// 企业微信 access token and when it stops being valid; shared by all deliveries.
    pub wecom_token: Arc<tokio::sync::Mutex<Option<CachedToken>>>,
    pub smtp: Option<(lettre::AsyncSmtpTransport<lettre::Tokio1Executor>, String)>,
    pub client: reqwest::Client,
    pub max_attempts: i32,
}

impl Gateways {
    pub fn from_settings(s: &Settings) -> Self {
        Gateways {
            sms: s.sms.clone(),
            wecom: s.wecom.clone(),
            wecom_token: Arc::default(),
            smtp: s.smtp.as_ref().and_then(|c| {
                match lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&c.url.0) {
                    Ok(b) => Some((b.timeout(Some(s.notify_timeout)).build(), c.from.clone())),
                    Err(e) => {
                        // Never print the URL: it may hold the password.
                        tracing::error!(error = %e, "HALL_SMTP_URL is not a valid SMTP URL; e-mail is off");
                        None
                    }
                }
            }),
            client: reqwest::Client::builder()
                .timeout(s.notify_timeout)
                .build()
                .expect("HTTP client"),
            max_attempts: s.notify_max_attempts,
        }
    }
}

/// 30 s, 1 min, 2 min, … up to an hour.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let secs = 30i64.saturating_mul(1i64 << attempts.clamp(1, 20).saturating_sub(1));
    chrono::Duration::seconds(secs.min(3600))
}

/// A failure worth retrying, or one that will not get better.
enum SendError {
    Retry(String),
    Permanent(String),
}

fn json_str(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_owned()
}

async fn send_sms(gw: &Gateways, phone: &str, text: &str, key: &str) -> Result<(), SendError> {
    match &gw.sms {
        None => Err(SendError::Permanent("channel sms is not configured".into())),
        Some(SmsConfig::Log) => {
            tracing::info!(phone = %mask_phone(phone), key, "SMS (log provider): {text}");
            Ok(())
        }
        Some(SmsConfig::Http { url, body, header }) => {
            let body = body
                .replace("{phone}", &json_str(phone))
                .replace("{text}", &json_str(text))
                .replace("{key}", &json_str(key));
            let mut req = gw
                .client
                .post(url)
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(body);
            if let Some((name, value)) = header {
                req = req.header(name.as_str(), value.0.as_str());
            }
            let res = req.send().await.map_err(|e| {
                SendError::Retry(if e.is_timeout() {
                    "gateway timed out".into()
                } else {
                    format!("gateway unreachable: {e}")
                })
            })?;
            let status = res.status();
            if status.is_success() {
                Ok(())
            } else {
                let detail: String = res
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                Err(SendError::Retry(format!(
                    "gateway answered {status}: {detail}"
                )))
            }
        }
    }
}

/// A cached access token, fetched again when missing, near expiry, or refused.
async fn wecom_token(
    gw: &Gateways,
    cfg: &WecomConfig,
    now: DateTime<Utc>,
    refresh: bool,
) -> Result<String, SendError> {
    let mut guard = gw.wecom_token.lock().await;
    if !refresh
        && let Some((token, until)) = guard.as_ref()
        && *until > now
    {
        return Ok(token.clone());
    }
    let res = gw
        .client
        .get(format!(
            "{}/cgi-bin/gettoken",
            cfg.base_url.trim_end_matches('/')
        ))
        .query(&[
            ("corpid", cfg.corp_id.as_str()),
            ("corpsecret", cfg.secret.0.as_str()),
        ])
        .send()
        .await
        .map_err(|e| {
            SendError::Retry(if e.is_timeout() {
                "企业微信 timed out".into()
            } else {
                format!("企业微信 unreachable: {e}")
            })
        })?;
    let body: serde_json::Value = res
        .json()
        .await
        .map_err(|e| SendError::Retry(format!("企业微信 token: {e}")))?;
    if body["errcode"].as_i64().unwrap_or(-1) != 0 {
        return Err(SendError::Retry(format!(
            "企业微信 token refused: {}",
            body["errmsg"].as_str().unwrap_or("")
        )));
    }
    let token = body["access_token"].as_str().unwrap_or_default().to_owned();
    // Renew a little before the stated expiry.
    let secs = body["expires_in"]
        .as_i64()
        .unwrap_or(7200)
        .saturating_sub(300)
        .max(60);
    *guard = Some((token.clone(), now + chrono::Duration::seconds(secs)));
    Ok(token)
}

async fn send_wecom(
    gw: &Gateways,
    userid: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(), SendError> {
    let Some(cfg) = &gw.wecom else {
        return Err(SendError::Permanent(
            "channel wecom is not configured".into(),
        ));
    };
    let mut refresh = false;
    for _ in 0..2 {
        let token = wecom_token(gw, cfg, now, refresh).await?;
        let res = gw
            .client
            .post(format!(
                "{}/cgi-bin/message/send",
                cfg.base_url.trim_end_matches('/')
            ))
            .query(&[("access_token", token.as_str())])
            .json(&serde_json::json!({
                "touser": userid,
                "msgtype": "text",
                "agentid": cfg.agent_id,
                "text": { "content": text },
                "enable_duplicate_check": 1,
                "duplicate_check_interval": 1800
            }))
            .send()
            .await
            .map_err(|e| {
                SendError::Retry(if e.is_timeout() {
                    "企业微信 timed out".into()
                } else {
                    format!("企业微信 unreachable: {e}")
                })
            })?;
        let body: serde_json::Value = res
            .json()
            .await
            .map_err(|e| SendError::Retry(format!("企业微信: {e}")))?;
        match body["errcode"].as_i64().unwrap_or(-1) {
            0 => return Ok(()),
            // Invalid or expired token: fetch a new one and send again, once.
            40014 | 42001 if !refresh => refresh = true,
            code => {
                return Err(SendError::Retry(format!(
                    "企业微信 errcode {code}: {}",
                    body["errmsg"].as_str().unwrap_or("")
                )));
            }
        }
    }
    Err(SendError::Retry("企业微信 token refused twice".into()))
}

async fn send_email(
    gw: &Gateways,
    to: &str,
    subject: &str,
    body: &str,
    key: &str,
) -> Result<(), SendError> {
    use lettre::AsyncTransport;
    let Some((transport, from)) = &gw.smtp else {
        return Err(SendError::Permanent(
            "channel email is not configured".into(),
        ));
    };
    let message = lettre::Message::builder()
        .from(
            from.parse()
                .map_err(|_| SendError::Permanent("HALL_SMTP_FROM is not an address".into()))?,
        )
        .to(to
            .parse()
            .map_err(|_| SendError::Permanent("recipient e-mail is not an address".into()))?)
        .subject(subject)
        // The idempotency key as Message-ID: a retried mail can be recognised as the same.
        .message_id(Some(format!(
            "<{}@service-hall>",
            key.replace(['<', '>', '@', ' '], "_")
        )))
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| SendError::Permanent(format!("message: {e}")))?;
    transport.send(message).await.map(|_| ()).map_err(|e| {
        if e.is_permanent() {
            SendError::Permanent(format!("mail server refused: {e}"))
        } else {
            SendError::Retry(format!("mail server: {e}"))
        }
    })
}

/// Deliver due rows of outside channels: claim them with a lease (two workers never take
/// the same row; a dead worker's rows come back when the lease runs out), send, then
/// record success, or schedule a retry with exponential back-off, or give up after
/// `max_attempts`. Returns (delivered, failed for good).
pub async fn deliver_external(
    db: &PgPool,
    gw: &Gateways,
    now: DateTime<Utc>,
    batch: i64,
) -> sqlx::Result<(u64, u64)> {
    let claimed: Vec<Claim> = sqlx::query_as(
        "WITH c AS (
             UPDATE outbox SET lease_until = $1 + interval '2 minutes', attempts = attempts + 1
             WHERE id IN (
                 SELECT id FROM outbox
                 WHERE channel <> 'inapp' AND delivered_at IS NULL AND failed_at IS NULL
                   AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
                 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING id, idempotency_key, channel, recipient_id, payload, attempts)
         SELECT c.id, c.idempotency_key, c.channel, c.payload, c.attempts, u.phone, u.email, u.account
         FROM c JOIN users u ON u.id = c.recipient_id ORDER BY c.id",
    )
    .bind(now)
    .bind(batch)
    .fetch_all(db)
    .await?;
    let (mut delivered, mut failed) = (0, 0);
    // Each success is marked as soon as the gateway took it: a crash (kill -9) between the
    // send and the mark sends at most that one message again, after its lease, under the
    // same idempotency key (SMS) or the same content (企业微信's duplicate check), which the
    // gateways drop. Marking a whole batch at the end resent up to the batch.
    let mark = |id: i64| async move {
        sqlx::query(
            "UPDATE outbox SET delivered_at = $2, lease_until = NULL, last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
    };
    for c in claimed {
        let text = c.payload.get("text").and_then(|v| v.as_str()).unwrap_or("");
        let result = match c.channel.as_str() {
            "sms" => {
                // One-time codes name their phone (it may be a number being bound).
                let phone = match c.payload.get("phone").and_then(|v| v.as_str()) {
                    Some(p) => Some(p.to_owned()),
                    None => c.phone.clone(),
                };
                match phone {
                    Some(p) => send_sms(gw, &p, text, &c.idempotency_key).await,
                    None => Err(SendError::Permanent(
                        "recipient has no security phone".into(),
                    )),
                }
            }
            "email" => {
                // Verification links name their address (it may be one being bound).
                let email = match c.payload.get("email").and_then(|v| v.as_str()) {
                    Some(e) => Some(e.to_owned()),
                    None => c.email.clone(),
                };
                let subject = c
                    .payload
                    .get("subject")
                    .and_then(|v| v.as_str())
                    .unwrap_or("网上办事服务大厅");
                match email {
                    Some(e) => send_email(gw, &e, subject, text, &c.idempotency_key).await,
                    None => Err(SendError::Permanent(
                        "recipient has no security e-mail".into(),
                    )),
                }
            }
            "wecom" => send_wecom(gw, &c.account, text, now).await,
            "webhook" => webhooks::send(db, gw, &c.payload, &c.idempotency_key, now).await,
            other => Err(SendError::Permanent(format!(
                "channel {other} is not configured"
            ))),
        };
        match result {
            Ok(()) => {
                mark(c.id).await?;
                delivered += 1;
            }
            Err(SendError::Retry(e)) if c.attempts < gw.max_attempts => {
                tracing::warn!(outbox = c.id, attempts = c.attempts, error = %e, "notification not delivered; will retry");
                sqlx::query("UPDATE outbox SET next_attempt_at = $2, lease_until = NULL, last_error = $3 WHERE id = $1")
                    .bind(c.id)
                    .bind(now + backoff(c.attempts))
                    .bind(e)
                    .execute(db)
                    .await?;
            }
            Err(SendError::Retry(e) | SendError::Permanent(e)) => {
                tracing::warn!(outbox = c.id, attempts = c.attempts, error = %e, "notification failed for good");
                sqlx::query("UPDATE outbox SET failed_at = $2, lease_until = NULL, last_error = $3 WHERE id = $1")
                    .bind(c.id)
                    .bind(now)
                    .bind(e)
                    .execute(db)
                    .await?;
                failed += 1;
            }
        }
    }
    Ok((delivered, failed))
}

/// One round of delivery: in-app messages, then the outside channels.
pub async fn deliver_round(db: &PgPool, gw: &Gateways, fanout: &Fanout, now: DateTime<Utc>) {
    if let Err(e) = deliver_due_with(db, now, 200, fanout).await {
        tracing::warn!(error = %e, "in-app delivery failed; will retry");
    }
    if let Err(e) = deliver_external(db, gw, now, 50).await {
        tracing::warn!(error = %e, "outside delivery failed; will retry");
    }
}
