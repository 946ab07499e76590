//! Webhooks to registered systems (the open API's integrations): when an application of
//! a service a system follows ends, the transition's own statement adds one outbox row per
//! system (`ENDED_CTE`), and the worker posts it here, retried like any outside message.
//!
//! The body is JSON; `X-Hall-Signature: sha256=<hex>` is HMAC-SHA256 over
//! `<X-Hall-Timestamp>.<body>` under the key SHA-256(client_secret) — the hall keeps only
//! that hash of the secret, and the system can compute it from the secret it holds.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;

use super::{Gateways, SendError};

/// The event every webhook so far is about.
pub const ENDED: &str = "application.ended";

/// SQL for the transition statement (after its `upd` CTE): an outbox row per enabled
/// system following the service, with `$payload` (the event body) and the client's id.
/// Binds, in order: now, service id, applicant id, payload.
pub fn ended_cte(
    q: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>,
    now: DateTime<Utc>,
    service: i64,
    applicant: i64,
    body: serde_json::Value,
) {
    q.push(
        ", hooks AS (INSERT INTO outbox (idempotency_key, channel, recipient_id, application_id, kind, \
         payload, created_at, next_attempt_at) SELECT 'webhook:' || c.id || ':' || upd.id, 'webhook', ",
    )
    .push_bind(applicant)
    .push(", upd.id, 'webhook', jsonb_build_object('client', c.id, 'body', ")
    .push_bind(body)
    .push("::jsonb), ")
    .push_bind(now)
    .push(", ")
    .push_bind(now)
    .push(
        " FROM upd JOIN services s ON s.id = ",
    )
    .push_bind(service)
    .push(
        " JOIN sso_clients c ON c.webhook_url IS NOT NULL AND c.disabled_at IS NULL \
         AND s.code = ANY(c.api_services) ON CONFLICT (idempotency_key) DO NOTHING)",
    );
}

/// The signature header's value for `body` sent at `timestamp` under `key`.
pub fn signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts one webhook row's body to its system.
pub(super) async fn send(
    db: &PgPool,
    gw: &Gateways,
    payload: &serde_json::Value,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(), SendError> {
    let client = payload.get("client").and_then(|v| v.as_i64()).unwrap_or(0);
    let row: Option<(Option<String>, Vec<u8>, bool)> = sqlx::query_as(
        "SELECT webhook_url, secret_hash, disabled_at IS NOT NULL FROM sso_clients WHERE id = $1",
    )
    .bind(client)
    .fetch_optional(db)
    .await
    .map_err(|e| SendError::Retry(e.to_string()))?;
    let Some((Some(url), secret_hash, false)) = row else {
        return Err(SendError::Permanent(
            "the system's webhook was removed or disabled".into(),
        ));
    };
    let body = serde_json::to_vec(payload.get("body").unwrap_or(&serde_json::Value::Null))
        .unwrap_or_default();
    let ts = now.timestamp();
    let r = gw
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("x-hall-event", ENDED)
        .header("x-hall-delivery", key)
        .header("x-hall-timestamp", ts.to_string())
        .header("x-hall-signature", signature(&secret_hash, ts, &body))
        .body(body)
        .send()
        .await;
    match r {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) if matches!(r.status().as_u16(), 408 | 429) || r.status().is_server_error() => {
            Err(SendError::Retry(format!("webhook answered {}", r.status())))
        }
        Ok(r) => Err(SendError::Permanent(format!(
            "webhook answered {}",
            r.status()
        ))),
        // Without the URL: its query may carry a token.
        Err(e) => Err(SendError::Retry(e.without_url().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        let s = signature(b"k", 1, b"{}");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64);
        assert_ne!(s, signature(b"k", 2, b"{}"));
        assert_ne!(s, signature(b"k", 1, b"{ }"));
        assert_ne!(s, signature(b"j", 1, b"{}"));
    }
}
