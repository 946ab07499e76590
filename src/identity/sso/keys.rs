//! The id_token signing keys (RS256, the algorithm every OpenID Connect relying party must
//! accept). Made on first use, rotated by 系统管理员 or the CLI; the private key is kept
//! sealed under the installation's secret key, the public half published as the JWKS.

use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde_json::Value;
use sqlx::PgPool;

use crate::secret::SecretKey;

/// How long a retired key stays published: longer than any id_token lives and than a
/// relying party caches the JWKS for.
pub const RETIRED_PUBLISHED: Duration = Duration::days(1);

fn cipher(key: &SecretKey) -> XChaCha20Poly1305 {
    let k = key.tag("oidc signing key seal v1", b"");
    XChaCha20Poly1305::new_from_slice(&k).expect("a 32-byte key")
}

fn seal(key: &SecretKey, kid: &str, der: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut nonce);
    let ct = cipher(key)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: der,
                aad: kid.as_bytes(),
            },
        )
        .expect("encrypting a key");
    let mut out = nonce.to_vec();
    out.extend(ct);
    out
}

fn open(key: &SecretKey, kid: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(sealed.len() > 24, "sealed key too short");
    let (nonce, ct) = sealed.split_at(24);
    cipher(key)
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: kid.as_bytes(),
            },
        )
        .map_err(|_| anyhow::anyhow!("the signing key {kid} does not open under this secret key"))
}

/// A new key pair: (kid, PKCS#1 DER of the private key, public JWK).
fn generate() -> anyhow::Result<(String, Vec<u8>, Value)> {
    use rsa::{Generate, pkcs1::EncodeRsaPrivateKey};
    let private = rsa::PrivateKey::generate();
    let der = private.to_pkcs1_der()?.as_bytes().to_vec();
    let mut jwk = Jwk::from_encoding_key(&EncodingKey::from_rsa_der(&der), Algorithm::RS256)?;
    // The kid: the key's own RFC 7638 thumbprint, so it names this key and no other.
    let kid = jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
    Ok((kid, der, serde_json::to_value(&jwk)?))
}

async fn insert_new(
    tx: &mut sqlx::PgConnection,
    secret: &SecretKey,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    // RSA key generation is a few hundred milliseconds of one core: off the async threads.
    let (kid, der, jwk) = tokio::task::spawn_blocking(generate).await??;
    sqlx::query(
        "INSERT INTO oidc_keys (kid, private_key, public_jwk, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&kid)
    .bind(seal(secret, &kid, &der))
    .bind(&jwk)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(kid)
}

/// The signing key: the newest unretired one, made now if there is none (one instance
/// makes it; the others wait on the lock and use it).
pub async fn active(
    db: &PgPool,
    secret: &SecretKey,
    now: DateTime<Utc>,
) -> anyhow::Result<(String, EncodingKey)> {
    const SQL: &str = "SELECT kid, private_key FROM oidc_keys WHERE retired_at IS NULL
                        ORDER BY id DESC LIMIT 1";
    let row: Option<(String, Vec<u8>)> = sqlx::query_as(SQL).fetch_optional(db).await?;
    let (kid, sealed) = match row {
        Some(r) => r,
        None => {
            let mut tx = db.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('oidc_keys'))")
                .execute(&mut *tx)
                .await?;
            if sqlx::query_as::<_, (String, Vec<u8>)>(SQL)
                .fetch_optional(&mut *tx)
                .await?
                .is_none()
            {
                insert_new(&mut tx, secret, now).await?;
            }
            tx.commit().await?;
            sqlx::query_as(SQL).fetch_one(db).await?
        }
    };
    let der = open(secret, &kid, &sealed)?;
    Ok((kid, EncodingKey::from_rsa_der(&der)))
}

/// Makes a new signing key and retires the current ones (still published for a day).
/// Returns the new kid.
pub async fn rotate(
    db: &PgPool,
    secret: &SecretKey,
    by: Option<i64>,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('oidc_keys'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE oidc_keys SET retired_at = $1 WHERE retired_at IS NULL")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let kid = insert_new(&mut tx, secret, now).await?;
    crate::audit::Entry::about(format!("oidc_key:{kid}"), "sso.key_rotate")
        .by(by)
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    Ok(kid)
}

/// The published keys (JWKS): the active one and those retired within a day.
pub async fn jwks(db: &PgPool, secret: &SecretKey, now: DateTime<Utc>) -> anyhow::Result<Value> {
    // A relying party may fetch the JWKS before any token was signed.
    active(db, secret, now).await?;
    let keys: Vec<Value> = sqlx::query_scalar(
        "SELECT public_jwk FROM oidc_keys WHERE retired_at IS NULL OR retired_at > $1
          ORDER BY id DESC",
    )
    .bind(now - RETIRED_PUBLISHED)
    .fetch_all(db)
    .await?;
    Ok(serde_json::json!({ "keys": keys }))
}

/// Signs `claims` as a JWT with the active key.
pub async fn sign(
    db: &PgPool,
    secret: &SecretKey,
    now: DateTime<Utc>,
    claims: &Value,
) -> anyhow::Result<String> {
    let (kid, key) = active(db, secret, now).await?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid);
    Ok(jsonwebtoken::encode(&header, claims, &key)?)
}

/// Deletes keys retired long enough ago that nothing they signed can still be in use.
pub async fn housekeeping(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM oidc_keys WHERE retired_at < $1")
        .bind(now - RETIRED_PUBLISHED * 7)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_under_their_kid_and_secret() {
        let k = SecretKey::from_secret("a");
        let sealed = seal(&k, "kid1", b"der bytes");
        assert_eq!(open(&k, "kid1", &sealed).unwrap(), b"der bytes");
        assert!(open(&k, "kid2", &sealed).is_err());
        assert!(open(&SecretKey::from_secret("b"), "kid1", &sealed).is_err());
    }

    #[test]
    fn a_generated_key_signs_what_its_jwk_verifies() {
        let (kid, der, jwk) = generate().unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(
            &header,
            &serde_json::json!({"sub": "1", "exp": 4_000_000_000u64}),
            &EncodingKey::from_rsa_der(&der),
        )
        .unwrap();
        let jwk: Jwk = serde_json::from_value(jwk).unwrap();
        assert_eq!(jwk.common.key_id.as_deref(), Some(kid.as_str()));
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Value>(&token, &key, &v).unwrap();
        assert_eq!(data.claims["sub"], "1");
        // Nothing of the private key is published.
        let text = serde_json::to_string(&jwk).unwrap();
        assert!(!text.contains("\"d\"") && !text.contains("\"p\""));
    }
}
