//! The installation's secret key (`HALL_SECRET_KEY`, else `data/secret.key`): the HMAC key
//! under which ID-card numbers are hashed and everything the server hands out and reads
//! back is tagged — flash cookies, one-time codes, activation codes, e-mail links and QR
//! tokens. Each use names its own domain, so one use's tags are worthless for another.

use std::path::Path;

use anyhow::Context;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl SecretKey {
    pub fn from_secret(secret: &str) -> Self {
        // Derive a fixed-size key from any configured string. The label predates the other
        // uses and stays: every stored hash and tag depends on it.
        use sha2::Digest;
        let d = Sha256::digest(format!("service-hall id-card v1\0{secret}").as_bytes());
        SecretKey(d.into())
    }

    /// Read `secret.key` in the data folder, creating it (0600) on first use.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = data_dir.join("secret.key");
        if let Ok(s) = std::fs::read_to_string(&path) {
            return Ok(Self::from_secret(s.trim()));
        }
        std::fs::create_dir_all(data_dir)?;
        let mut bytes = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes);
        let secret = hex::encode(bytes);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("create {}", path.display()))?;
        f.write_all(secret.as_bytes())?;
        Ok(Self::from_secret(&secret))
    }

    /// A MAC of `data` for one use (`domain`), e.g. the flash cookie or a code's stored hash.
    pub fn tag(&self, domain: &str, data: &[u8]) -> Vec<u8> {
        self.tag_mac(domain, data).finalize().into_bytes().to_vec()
    }

    /// Whether `tag` is `tag(domain, data)`, compared in constant time.
    pub fn verify_tag(&self, domain: &str, data: &[u8], tag: &[u8]) -> bool {
        self.tag_mac(domain, data).verify_slice(tag).is_ok()
    }

    fn tag_mac(&self, domain: &str, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac();
        mac.update(domain.as_bytes());
        mac.update(b"\0");
        mac.update(data);
        mac
    }

    /// A bare HMAC under the key, without a domain: only for the ID-card hash, whose
    /// stored form was fixed before domains were used (`identity::idcard::hash`).
    pub fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length")
    }
}

/// Whether two secrets (tokens, hashes) are equal, in time that does not depend on where
/// they first differ.
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_keyed_and_per_domain() {
        let a = SecretKey::from_secret("a");
        let b = SecretKey::from_secret("b");
        let t = a.tag("one", b"x");
        assert!(a.verify_tag("one", b"x", &t));
        assert!(!a.verify_tag("two", b"x", &t));
        assert!(!a.verify_tag("one", b"y", &t));
        assert!(!b.verify_tag("one", b"x", &t));
        assert!(constant_eq(b"same", b"same"));
        assert!(!constant_eq(b"same", b"sane"));
        assert!(!constant_eq(b"same", b"same "));
    }
}
