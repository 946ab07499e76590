//! Password hashing (argon2id, off the async worker threads) and the password policy.

use std::{collections::HashSet, sync::OnceLock};

use anyhow::Context;
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};

/// Hash with argon2id (the crate's defaults: 19 MiB, 2 passes — OWASP's recommendation).
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .context("hashing task")?
}

pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
        .to_string())
}

/// Verify against `stored`; with `None` (unknown account, no password) verify against a
/// dummy hash so every path costs one argon2 run, then return false.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (dummy_hash().to_owned(), false),
        };
        let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && real)
    })
    .await
    .context("verification task")?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("dummy password for timing").expect("argon2 works"))
}

/// Shipped list of common passwords (lower-case): the top of zxcvbn's list (MIT, from
/// Dropbox's research) plus common Chinese choices.
static COMMON: &str = include_str!("common-passwords.txt");

fn common_set() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// Ways a common password is commonly dressed up: capitals and symbols (`Password1!`),
/// look-alike symbols (`P@ssw0rd`, `p@$$word`) and a year or number after a word
/// (`Dragon#2026`). Each variant is looked up in the list.
fn variants(p: &str) -> Vec<String> {
    let lower = p.to_lowercase();
    let alnum = |s: &str| -> String { s.chars().filter(|c| c.is_ascii_alphanumeric()).collect() };
    let unleet: String = lower
        .chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '$' | '5' => 's',
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '7' => 't',
            c => c,
        })
        .collect();
    let stripped = alnum(&lower);
    let word = stripped
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_owned();
    let mut v = vec![
        lower.clone(),
        stripped,
        alnum(&unleet),
        alnum(&lower.replace(['@'], "a").replace('$', "s")),
    ];
    if word.len() >= 4 {
        v.push(word);
    }
    v
}

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 64;

/// The name in pinyin without tones or spaces (张三 → zhangsan), and the given name alone
/// when it is long enough to be a meaningful part of a password.
pub fn name_pinyin(name: &str) -> Vec<String> {
    use pinyin::ToPinyin;
    let syllables: Vec<String> = name
        .chars()
        .filter_map(|c| c.to_pinyin().map(|p| p.plain().to_owned()))
        .collect();
    let mut out = Vec::new();
    let full = syllables.concat();
    if full.len() >= 4 {
        out.push(full);
    }
    if syllables.len() > 2 {
        let given = syllables[1..].concat();
        if given.len() >= 4 {
            out.push(given);
        }
    }
    out
}

/// Strength 0–4 (zxcvbn), with the person's account and name as known words.
pub fn strength(password: &str, account: &str, name: &str) -> u8 {
    if password.is_empty() {
        return 0;
    }
    let pinyin = name_pinyin(name);
    let mut inputs: Vec<&str> = vec![account, name];
    inputs.extend(pinyin.iter().map(String::as_str));
    zxcvbn::zxcvbn(password, &inputs).score().into()
}

/// Problems with a new password for the person (`account`, `name`), in the words shown next
/// to the field; empty = accepted. `min_score` is the least zxcvbn strength.
pub fn check_new(password: &str, account: &str, name: &str, min_score: u8) -> Vec<&'static str> {
    let mut v = policy_violations(password, account);
    let lower = password.to_lowercase();
    if name_pinyin(name).iter().any(|p| lower.contains(p.as_str())) {
        v.push("密码不能包含姓名拼音");
    }
    if v.is_empty() && strength(password, account, name) < min_score {
        v.push("密码强度不足，请加长或混合使用不易猜到的字符");
    }
    v
}

/// Problems with a new password, in the words shown next to the field; empty = accepted.
pub fn policy_violations(password: &str, account: &str) -> Vec<&'static str> {
    let mut v = Vec::new();
    let len = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        v.push("密码长度须为 8–64 个字符");
    }
    let letter = password.chars().any(|c| c.is_ascii_alphabetic());
    let digit = password.chars().any(|c| c.is_ascii_digit());
    let symbol = password
        .chars()
        .any(|c| !c.is_ascii_alphanumeric() && !c.is_whitespace());
    if !(letter && digit && symbol) {
        v.push("密码须同时包含字母、数字和特殊符号");
    }
    let lower = password.to_lowercase();
    let acct = account.trim().to_lowercase();
    if acct.len() >= 3 && lower.contains(&acct) {
        v.push("密码不能包含账号");
    }
    if variants(password)
        .iter()
        .any(|v| common_set().contains(v.as_str()))
    {
        v.push("该密码过于常见，容易被猜中，请换一个");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rules() {
        assert!(policy_violations("Xk9#mQ2vLp", "S2024001").is_empty());
        assert_eq!(
            policy_violations("Ab1#", "S2024001"),
            vec!["密码长度须为 8–64 个字符"]
        );
        assert_eq!(
            policy_violations("abcdefgh12", "S2024001"),
            vec!["密码须同时包含字母、数字和特殊符号"]
        );
        assert_eq!(
            policy_violations("xS2024001#", "S2024001"),
            vec!["密码不能包含账号"]
        );
        assert_eq!(
            policy_violations("P@ssw0rd!", "S2024001"),
            vec!["该密码过于常见，容易被猜中，请换一个"]
        );
        assert!(!policy_violations(&"Aa1#".repeat(17), "x").is_empty());
    }

    #[test]
    fn name_pinyin_and_strength() {
        assert_eq!(name_pinyin("张三"), vec!["zhangsan"]);
        assert_eq!(name_pinyin("欧阳娜娜"), vec!["ouyangnana", "yangnana"]);
        assert_eq!(
            check_new("Zhangsan#2026", "S2024001", "张三", 3),
            vec!["密码不能包含姓名拼音"]
        );
        // Meets the character rules but is a keyboard walk: too weak.
        assert_eq!(
            check_new("Aaaaaaaa1!", "S2024001", "张三", 3),
            vec!["密码强度不足，请加长或混合使用不易猜到的字符"]
        );
        assert!(check_new("Xk9#mQ2vLp!r", "S2024001", "张三", 3).is_empty());
        assert!(strength("Xk9#mQ2vLp!r", "S2024001", "张三") >= 3);
        assert!(strength("abc", "S2024001", "张三") <= 1);
    }

    #[test]
    fn hash_and_verify() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let h = hash("Xk9#mQ2vLp".into()).await.unwrap();
            assert!(h.starts_with("$argon2id$"));
            assert!(verify("Xk9#mQ2vLp".into(), Some(h.clone())).await.unwrap());
            assert!(!verify("wrong".into(), Some(h)).await.unwrap());
            assert!(
                !verify("dummy password for timing".into(), None)
                    .await
                    .unwrap()
            );
        });
    }
}
