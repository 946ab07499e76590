//! Mainland ID-card numbers (GB 11643): check digit, masking, the keyed hash under which
//! they are looked up, and the sealed (encrypted) copy forms fill in, both under the
//! installation's `SecretKey`. The number is never stored in the clear, nor logged.

use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use hmac::Mac;

use crate::secret::SecretKey;

/// Keyed hash of the normalised number, for lookups (the bare HMAC under the installation's
/// key, the form stored since the first release).
pub fn hash(key: &SecretKey, id: &str) -> Vec<u8> {
    let mut mac = key.mac();
    mac.update(normalize(id).as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Whether `stored` is the keyed hash of `id`, compared in constant time.
pub fn matches(key: &SecretKey, id: &str, stored: &[u8]) -> bool {
    let mut mac = key.mac();
    mac.update(normalize(id).as_bytes());
    mac.verify_slice(stored).is_ok()
}

fn cipher(key: &SecretKey) -> XChaCha20Poly1305 {
    // A key of its own, derived under its own domain: the hash key never encrypts.
    let k = key.tag("id-card seal v1", b"");
    XChaCha20Poly1305::new_from_slice(&k).expect("a 32-byte key")
}

/// The number encrypted for auto-fill: a random 24-byte nonce, then the ciphertext. Bound
/// to the number's keyed hash (associated data), so a sealed copy moved to another row
/// does not open there.
pub fn seal(key: &SecretKey, id: &str) -> Vec<u8> {
    let id = normalize(id);
    let mut nonce = [0u8; 24];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut nonce);
    let aad = hash(key, &id);
    let ct = cipher(key)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: id.as_bytes(),
                aad: &aad,
            },
        )
        .expect("encrypting a short number");
    let mut out = nonce.to_vec();
    out.extend(ct);
    out
}

/// The number sealed by `seal`, if it opens under this key and belongs with `hash`.
pub fn open(key: &SecretKey, sealed: &[u8], hash: &[u8]) -> Option<String> {
    if sealed.len() <= 24 {
        return None;
    }
    let (nonce, ct) = sealed.split_at(24);
    let plain = cipher(key)
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: hash })
        .ok()?;
    String::from_utf8(plain).ok()
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
    fn sealed_numbers_open_only_with_their_hash_and_key() {
        let key = SecretKey::from_secret("one");
        let id = "11010519491231002x";
        let sealed = seal(&key, id);
        assert!(!sealed.windows(4).any(|w| w == b"1101"), "not in the clear");
        let h = hash(&key, id);
        assert_eq!(
            open(&key, &sealed, &h).as_deref(),
            Some("11010519491231002X")
        );
        // Another row's hash, another installation's key, a flipped byte: nothing.
        let other = hash(&key, "110105194912310029");
        assert_eq!(open(&key, &sealed, &other), None);
        let key2 = SecretKey::from_secret("two");
        assert_eq!(open(&key2, &sealed, &hash(&key2, id)), None);
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(open(&key, &bad, &h), None);
        // Two seals of one number differ (random nonce).
        assert_ne!(seal(&key, id), sealed);
    }

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
        let a = SecretKey::from_secret("a");
        let b = SecretKey::from_secret("b");
        assert_eq!(
            hash(&a, "11010519491231002x"),
            hash(&a, " 11010519491231002X")
        );
        assert_ne!(
            hash(&a, "11010519491231002X"),
            hash(&b, "11010519491231002X")
        );
        assert!(matches(
            &a,
            "11010519491231002x",
            &hash(&a, "11010519491231002X")
        ));
        assert!(!matches(
            &b,
            "11010519491231002x",
            &hash(&a, "11010519491231002X")
        ));
    }
}
