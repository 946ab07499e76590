//! Mainland ID-card numbers (GB 11643): check digit, masking, and the keyed hash under
//! which they are stored. The number itself is never stored or logged.

use std::path::Path;

use anyhow::Context;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub struct IdCardKey([u8; 32]);

impl std::fmt::Debug for IdCardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdCardKey([redacted])")
    }
}

impl IdCardKey {
    pub fn from_secret(secret: &str) -> Self {
        // Derive a fixed-size key from any configured string.
        use sha2::Digest;
        let d = Sha256::digest(format!("service-hall id-card v1\0{secret}").as_bytes());
        IdCardKey(d.into())
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

    /// A MAC for other short-lived values the server hands out and reads back (the flash
    /// cookie); `domain` keeps each use's tags apart from the ID-card hashes.
    pub fn tag(&self, domain: &str, data: &[u8]) -> Vec<u8> {
        self.tag_mac(domain, data).finalize().into_bytes().to_vec()
    }

    /// Whether `tag` is `tag(domain, data)`, compared in constant time.
    pub fn verify_tag(&self, domain: &str, data: &[u8], tag: &[u8]) -> bool {
        self.tag_mac(domain, data).verify_slice(tag).is_ok()
    }

    fn tag_mac(&self, domain: &str, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(domain.as_bytes());
        mac.update(b"\0");
        mac.update(data);
        mac
    }

    /// Keyed hash of the normalised number, for lookups.
    pub fn hash(&self, id: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(normalize(id).as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// Upper-case, no spaces: `370102199003071234x` and `370102 19900307 123X` are one number.
pub fn normalize(id: &str) -> String {
    id.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// True for an 18-character number whose last character is the GB 11643 check digit.
pub fn is_valid(id: &str) -> bool {
    let id = normalize(id);
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17]
        .iter()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    b[17] == check
}

/// `3701**********1234`: first four and last four characters.
pub fn mask(id: &str) -> String {
    let id = normalize(id);
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

/// The initial password of an imported account: the last six characters of the number.
pub fn initial_password(id: &str) -> String {
    let id = normalize(id);
    id[id.len().saturating_sub(6)..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit() {
        // A published GB 11643 example, and the same number with a wrong check digit.
        assert!(is_valid("11010519491231002X"));
        assert!(is_valid("11010519491231002x"));
        assert!(!is_valid("110105194912310021"));
        assert!(!is_valid("11010519491231002"));
        assert!(!is_valid("1101051949123100AX"));
    }

    #[test]
    fn masking_and_initial_password() {
        assert_eq!(mask("370102199003071234"), "3701**********1234");
        assert_eq!(initial_password("11010519491231002x"), "31002X");
    }

    #[test]
    fn hash_is_keyed_and_normalised() {
        let a = IdCardKey::from_secret("a");
        let b = IdCardKey::from_secret("b");
        assert_eq!(a.hash("11010519491231002x"), a.hash(" 11010519491231002X"));
        assert_ne!(a.hash("11010519491231002X"), b.hash("11010519491231002X"));
    }
}
