//! Password hashing (argon2id, off the async worker threads, a bounded number at a time)
//! and the password policy.

use std::{
    collections::HashSet,
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::AppError;

/// How long a request waits for its turn to hash before it is told to come back.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// Waiters per core beyond which a request is refused at once (a hash takes tens of
/// milliseconds, so more than this could not be served within `MAX_WAIT` anyway).
const WAITERS_PER_CORE: usize = 16;
/// What `Retry-After` says when hashing is saturated.
pub use crate::error::BUSY_RETRY_AFTER_SECONDS as RETRY_AFTER_SECONDS;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every core is hashing and the queue is full: nothing was checked; try again shortly.
    #[error("password hashing is saturated")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<HashError> for AppError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AppError::Busy,
            HashError::Failed(e) => AppError::Internal(e),
        }
    }
}

/// Each argon2 run takes ~19 MiB and a core: at most `threads` run at a time (one per core
/// unless `HALL_PASSWORD_THREADS` says otherwise), so a crowd signing in at once costs time,
/// not memory (150 at once took 2.7 GB unbounded).
struct Limiter {
    threads: usize,
    permits: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Limiter {
    fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        Limiter {
            threads,
            permits: Semaphore::new(threads),
            waiting: AtomicUsize::new(0),
            max_waiting: threads * WAITERS_PER_CORE,
        }
    }

    /// A turn to hash: `Busy` when the queue is full or the wait would exceed `max_wait`;
    /// `patient` waits however long it takes (background work and administrators' one-offs,
    /// which have no one to tell "try again").
    async fn turn(
        &self,
        patient: bool,
        max_wait: Duration,
    ) -> Result<SemaphorePermit<'_>, HashError> {
        if let Ok(p) = self.permits.try_acquire() {
            return Ok(p);
        }
        if patient {
            return self
                .permits
                .acquire()
                .await
                .map_err(|e| HashError::Failed(e.into()));
        }
        // Counted while waiting, so the queue stays short.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Busy);
        }
        let _w = Waiting(&self.waiting);
        match tokio::time::timeout(max_wait, self.permits.acquire()).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => Err(HashError::Failed(e.into())),
            Err(_) => Err(HashError::Busy),
        }
    }
}

static LIMITER: OnceLock<Limiter> = OnceLock::new();

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn limiter() -> &'static Limiter {
    LIMITER.get_or_init(|| Limiter::new(cores()))
}

/// Sets how many hashes this process runs at once (`HALL_PASSWORD_THREADS`). Called once at
/// startup, before the first sign-in; the process keeps its first setting, and the number
/// it keeps is returned (the setting is per process, as the cores are).
pub fn set_concurrency(threads: usize) -> usize {
    LIMITER.get_or_init(|| Limiter::new(threads)).threads
}

/// How many password hashes may run at once in this process.
pub fn concurrency() -> usize {
    limiter().threads
}

/// Runs one argon2 job on the blocking pool while holding a turn.
async fn run<T: Send + 'static>(
    patient: bool,
    job: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, HashError> {
    let permit = limiter().turn(patient, MAX_WAIT).await?;
    let out = tokio::task::spawn_blocking(job)
        .await
        .context("hashing task")??;
    drop(permit);
    Ok(out)
}

/// Hash with argon2id (the crate's defaults: 19 MiB, 2 passes — OWASP's recommendation).
pub async fn hash(password: String) -> Result<String, HashError> {
    run(false, move || hash_blocking(&password)).await
}

/// `hash` that waits for its turn however long: for work nobody is waiting on a page for.
pub async fn hash_patiently(password: String) -> Result<String, HashError> {
    run(true, move || hash_blocking(&password)).await
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
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, HashError> {
    run(false, move || {
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
    fn the_thread_setting_bounds_hashes_at_once() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let short = Duration::from_millis(30);
            // One thread: a second sign-in waits its turn, then is told to come back.
            let one = Limiter::new(1);
            let held = one.turn(false, short).await.unwrap();
            assert!(matches!(one.turn(false, short).await, Err(HashError::Busy)));
            drop(held);
            assert!(one.turn(false, short).await.is_ok(), "free again");
            // Two threads: two at once.
            let two = Limiter::new(2);
            let a = two.turn(false, short).await.unwrap();
            let b = two.turn(false, short).await.unwrap();
            assert!(matches!(two.turn(false, short).await, Err(HashError::Busy)));
            drop((a, b));
            // The queue is as long as the threads allow: one waiter beyond it is refused
            // at once, without waiting.
            let one: &'static Limiter = Box::leak(Box::new(Limiter::new(1)));
            let _held = one.turn(false, short).await.unwrap();
            let long = Duration::from_secs(5);
            for _ in 0..WAITERS_PER_CORE {
                tokio::spawn(async move { one.turn(false, long).await.map(drop) });
            }
            while one.waiting.load(Ordering::Acquire) < WAITERS_PER_CORE {
                tokio::task::yield_now().await;
            }
            let t = std::time::Instant::now();
            let late = one.turn(false, long).await;
            assert!(matches!(late, Err(HashError::Busy)));
            assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
            // Zero is read as one: hashing is never switched off.
            assert_eq!(Limiter::new(0).threads, 1);
        });
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
