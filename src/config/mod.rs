//! Settings from `HALL_*` environment variables (plus the standard `DATABASE_URL`), whose
//! names, defaults and meanings are written once, in `vars.rs`.
//! Secrets never appear in `Debug` output or logs.

mod vars;

pub use vars::{Fallback, VARS, VarSpec, help_text, markdown_table};

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use chrono_tz::Tz;

#[derive(Clone)]
pub struct Settings {
    /// Address the HTTP server binds to.
    pub bind: SocketAddr,
    /// Public base URL, e.g. `https://hall.example.edu.cn`; decides the Secure cookie flag
    /// and the origin accepted on state-changing requests.
    pub base_url: url::Url,
    /// `None` means the embedded, app-managed cluster in `data_dir/postgres`.
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    pub portal_name: String,
    pub time_zone: Tz,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub lockout_threshold: i64,
    pub lockout_window: Duration,
    pub lockout_duration: Duration,
    /// Failed logins from one IP (any account) within `ip_window` before it gets HTTP 429.
    pub ip_max_failures: i64,
    pub ip_window: Duration,
    /// Trust `X-Forwarded-For` from the load balancer for the client address.
    pub trust_proxy: bool,
    /// Key for the keyed hash of ID-card numbers; `None` = read or create `data_dir/secret.key`.
    pub secret_key: Option<Secret>,
    pub db_max_connections: u32,
    /// Attachment limits (bytes): one file, and all files of one application.
    pub upload_max_file: u64,
    pub upload_max_total: u64,
    /// The CJK font result documents are set in (a .ttc collection or a single face).
    pub document_font: PathBuf,
    /// SMS channel; `None` = not configured.
    pub sms: Option<SmsConfig>,
    /// 企业微信 application messages; `None` = not configured.
    pub wecom: Option<WecomConfig>,
    /// E-mail over SMTP; `None` = not configured.
    pub smtp: Option<SmtpConfig>,
    /// Tries of an external notification before it is marked failed.
    pub notify_max_attempts: i32,
    /// Per-request timeout towards gateways.
    pub notify_timeout: Duration,
    /// Working weekdays, Monday first (`HALL_WORK_WEEK`).
    pub work_week: [bool; 7],
    /// 效能数据: a 通过 this soon after opening counts as 秒批.
    pub quick_approval_secs: i64,
    /// Run the notification worker and reminders in this process (tests drive them by hand).
    pub background_jobs: bool,
    /// One-time codes: lifetime, wrong tries before a code is void, and send limits.
    pub code_ttl: Duration,
    pub code_max_attempts: i32,
    pub code_cooldown: Duration,
    pub code_per_phone_day: i64,
    pub code_per_ip_hour: i64,
    /// 激活账号 / 找回密码 identity checks per ID number and per IP, per hour.
    pub identity_checks_per_hour: i64,
    pub identity_checks_per_ip_hour: i64,
    /// 激活账号 also asks for the activation code issued to the person.
    pub require_activation_code: bool,
    /// Minimum zxcvbn score (0–4) of a new password.
    pub password_min_score: u8,
    /// Password hashes at once in this process; `None`: one per core.
    pub password_threads: Option<usize>,
}

/// E-mail: `url` as lettre reads it — `smtp://host:25` (plain, e.g. a local relay),
/// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://user:pass@host:465`.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub url: Secret,
    pub from: String,
}

/// WeChat Work (企业微信) application: messages go to the person whose WeCom userid is their
/// 学号/工号.
#[derive(Clone, Debug)]
pub struct WecomConfig {
    pub corp_id: String,
    pub secret: Secret,
    pub agent_id: i64,
    /// `https://qyapi.weixin.qq.com` unless a proxy or a test server stands in.
    pub base_url: String,
}

#[derive(Clone, Debug)]
pub enum SmsConfig {
    /// Development: the message goes to the log (phone masked).
    Log,
    /// An HTTP gateway: POST `body` (a JSON template with `{phone}`, `{text}`, `{key}`)
    /// to `url`, with an optional `header` ("Name: value", e.g. an API key).
    Http {
        url: String,
        body: String,
        header: Option<(String, Secret)>,
    },
}

/// A string that never prints.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("base_url", &self.base_url.as_str())
            .field(
                "database_url",
                &self
                    .database_url
                    .as_ref()
                    .map(|_| "[set]")
                    .unwrap_or("[embedded]"),
            )
            .field("data_dir", &self.data_dir)
            .field("portal_name", &self.portal_name)
            .field("time_zone", &self.time_zone)
            .finish_non_exhaustive()
    }
}

/// Reads variables by their names in [`VARS`], falling back to the table's defaults.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The value, else the table's default; a blank value counts as unset.
    fn get(&self, name: &str) -> Option<String> {
        let spec = vars::spec(name);
        (self.0)(name)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| spec.default.value().map(str::to_owned))
    }

    /// A variable with a default in the table, so never missing.
    fn value(&self, name: &str) -> anyhow::Result<String> {
        self.get(name)
            .with_context(|| format!("{name} has no default in config::VARS"))
    }

    fn num<T: std::str::FromStr>(&self, name: &str) -> anyhow::Result<T> {
        let v = self.value(name)?;
        v.trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}: not a valid number: {v:?}"))
    }
}

/// `1-5`, `1-6`, `1,2,3,4,5,7`: the working weekdays, Monday = 1.
pub fn parse_work_week(v: &str) -> anyhow::Result<[bool; 7]> {
    let mut week = [false; 7];
    let day = |s: &str| -> anyhow::Result<usize> {
        match s.trim().parse::<usize>() {
            Ok(d @ 1..=7) => Ok(d - 1),
            _ => anyhow::bail!("HALL_WORK_WEEK: {s:?} is not a weekday from 1 (Monday) to 7"),
        }
    };
    for part in v.split(',').filter(|p| !p.trim().is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                anyhow::ensure!(a <= b, "HALL_WORK_WEEK: {part:?} runs backwards");
                week[a..=b].iter_mut().for_each(|d| *d = true);
            }
            None => week[day(part)?] = true,
        }
    }
    anyhow::ensure!(week.iter().any(|d| *d), "HALL_WORK_WEEK: no working day");
    Ok(week)
}

impl Settings {
    /// Defaults, suitable for a developer machine (and the base of test settings): what an
    /// empty environment gives, except that no outside channel is on, not even the SMS log a
    /// loopback base URL gets, so tests and benches turn on the ones they use.
    pub fn defaults() -> Self {
        let mut s = Self::read(&|_| None).expect("the defaults in config::VARS are valid");
        s.sms = None;
        s
    }

    pub fn from_env() -> anyhow::Result<Self> {
        Self::read(&|name| std::env::var(name).ok())
    }

    fn read(lookup: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let env = Env(lookup);
        let b = env.value("HALL_BIND")?;
        let bind: SocketAddr = b
            .parse()
            .with_context(|| format!("HALL_BIND: expected host:port, got {b:?}"))?;
        let base_url = match env.get("HALL_BASE_URL") {
            Some(u) => {
                url::Url::parse(&u).with_context(|| format!("HALL_BASE_URL: not a URL: {u:?}"))?
            }
            None => url::Url::parse(&format!("http://{bind}/")).context("HALL_BIND")?,
        };
        if !matches!(base_url.scheme(), "http" | "https") {
            bail!("HALL_BASE_URL must start with http:// or https://");
        }
        let database_url = env.get("DATABASE_URL");
        let data_dir = PathBuf::from(env.value("HALL_DATA_DIR")?);
        let portal_name = env.value("HALL_PORTAL_NAME")?;
        let tz = env.value("HALL_TIME_ZONE")?;
        let time_zone: Tz = tz
            .parse()
            .map_err(|_| anyhow::anyhow!("HALL_TIME_ZONE: unknown time zone {tz:?}"))?;
        let mins = |n: u64| Duration::from_secs(n * 60);
        let session_idle = mins(env.num("HALL_SESSION_IDLE_MINUTES")?);
        let session_absolute = mins(60 * env.num::<u64>("HALL_SESSION_ABSOLUTE_HOURS")?);
        let lockout_threshold = env.num("HALL_LOCKOUT_THRESHOLD")?;
        let lockout_window = mins(env.num("HALL_LOCKOUT_WINDOW_MINUTES")?);
        let lockout_duration = mins(env.num("HALL_LOCKOUT_MINUTES")?);
        let ip_max_failures = env.num("HALL_IP_MAX_FAILURES")?;
        let code_ttl = mins(env.num("HALL_CODE_TTL_MINUTES")?);
        let code_max_attempts = env.num("HALL_CODE_MAX_ATTEMPTS")?;
        let code_cooldown = Duration::from_secs(env.num("HALL_CODE_COOLDOWN_SECONDS")?);
        let code_per_phone_day = env.num("HALL_CODE_PER_PHONE_DAY")?;
        let code_per_ip_hour = env.num("HALL_CODE_PER_IP_HOUR")?;
        let identity_checks_per_hour = env.num("HALL_IDENTITY_CHECKS_PER_HOUR")?;
        let identity_checks_per_ip_hour = env.num("HALL_IDENTITY_CHECKS_PER_IP_HOUR")?;
        let require_activation_code = env
            .get("HALL_REQUIRE_ACTIVATION_CODE")
            .is_some_and(|v| v == "true" || v == "1");
        let password_min_score = env.num("HALL_PASSWORD_MIN_SCORE")?;
        let password_threads = match env.get("HALL_PASSWORD_THREADS") {
            None => None,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n @ 1..=256) => Some(n),
                _ => anyhow::bail!("HALL_PASSWORD_THREADS: a number from 1 to 256, not {v:?}"),
            },
        };
        let ip_window = mins(env.num("HALL_IP_WINDOW_MINUTES")?);
        let trust_proxy = matches!(
            env.get("HALL_TRUST_PROXY").as_deref(),
            Some("1" | "true" | "yes" | "on")
        );
        let secret_key = env.get("HALL_SECRET_KEY").map(Secret);
        let db_max_connections = env.num("HALL_DB_MAX_CONNECTIONS")?;
        let upload_max_file = env.num::<u64>("HALL_UPLOAD_MAX_FILE_MB")? * 1024 * 1024;
        let upload_max_total = env.num::<u64>("HALL_UPLOAD_MAX_TOTAL_MB")? * 1024 * 1024;
        let document_font = PathBuf::from(env.value("HALL_DOCUMENT_FONT")?);
        let notify_max_attempts = env.num("HALL_NOTIFY_MAX_ATTEMPTS")?;
        let notify_timeout = Duration::from_secs(env.num("HALL_NOTIFY_TIMEOUT_SECONDS")?);
        let quick_approval_secs = env.num("HALL_QUICK_APPROVAL_SECONDS")?;
        let work_week = parse_work_week(&env.value("HALL_WORK_WEEK")?)?;
        let sms = match env.get("HALL_SMS_PROVIDER").as_deref() {
            // On a developer's machine (a loopback base URL) codes go to the log, so 激活账号
            // and 找回密码 can be tried; anywhere else SMS is off until configured.
            None if base_url
                .host_str()
                .is_some_and(|h| h == "127.0.0.1" || h == "localhost") =>
            {
                Some(SmsConfig::Log)
            }
            None | Some("none") => None,
            Some("log") => Some(SmsConfig::Log),
            Some("http") => {
                let url = env
                    .get("HALL_SMS_URL")
                    .context("HALL_SMS_PROVIDER=http needs HALL_SMS_URL")?;
                let body = env.value("HALL_SMS_BODY")?;
                let header = match env.get("HALL_SMS_AUTH_HEADER") {
                    Some(h) => {
                        let (name, value) = h
                            .split_once(':')
                            .context("HALL_SMS_AUTH_HEADER must look like \"Name: value\"")?;
                        Some((name.trim().to_owned(), Secret(value.trim().to_owned())))
                    }
                    None => None,
                };
                Some(SmsConfig::Http { url, body, header })
            }
            Some(other) => {
                bail!("HALL_SMS_PROVIDER: unknown provider {other:?} (none, log or http)")
            }
        };
        let smtp = match env.get("HALL_SMTP_URL") {
            None => None,
            Some(url) => Some(SmtpConfig {
                url: Secret(url),
                from: env.value("HALL_SMTP_FROM")?,
            }),
        };
        let wecom = match env.get("HALL_WECOM_CORP_ID") {
            None => None,
            Some(corp_id) => Some(WecomConfig {
                corp_id,
                secret: Secret(
                    env.get("HALL_WECOM_SECRET")
                        .context("HALL_WECOM_CORP_ID needs HALL_WECOM_SECRET")?,
                ),
                agent_id: env.num("HALL_WECOM_AGENT_ID")?,
                base_url: env.value("HALL_WECOM_BASE_URL")?,
            }),
        };
        if lockout_threshold < 1 || ip_max_failures < 1 {
            bail!("HALL_LOCKOUT_THRESHOLD and HALL_IP_MAX_FAILURES must be at least 1");
        }
        Ok(Settings {
            bind,
            base_url,
            database_url,
            data_dir,
            portal_name,
            time_zone,
            session_idle,
            session_absolute,
            lockout_threshold,
            lockout_window,
            lockout_duration,
            ip_max_failures,
            ip_window,
            trust_proxy,
            secret_key,
            db_max_connections,
            upload_max_file,
            upload_max_total,
            document_font,
            sms,
            wecom,
            smtp,
            notify_max_attempts,
            notify_timeout,
            quick_approval_secs,
            work_week,
            background_jobs: true,
            code_ttl,
            code_max_attempts,
            code_cooldown,
            code_per_phone_day,
            code_per_ip_hour,
            identity_checks_per_hour,
            identity_checks_per_ip_hour,
            require_activation_code,
            password_min_score,
            password_threads,
        })
    }

    pub fn secure_cookies(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// `scheme://host[:port]` of the public base URL, as browsers send it in `Origin`.
    pub fn origin(&self) -> String {
        self.base_url.origin().ascii_serialization()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// A value for every variable; the secret ones all contain `s3cr3t` where it must not show.
    fn sample(name: &str) -> Option<String> {
        let v = match name {
            "DATABASE_URL" => "postgres://hall:s3cr3t@db.example.edu.cn/hall",
            "HALL_BASE_URL" => "https://hall.example.edu.cn/",
            "HALL_SECRET_KEY" => "s3cr3t-key",
            "HALL_SMS_PROVIDER" => "http",
            "HALL_SMS_URL" => "https://sms.example.edu.cn/send",
            "HALL_SMS_AUTH_HEADER" => "X-Api-Key: s3cr3t",
            "HALL_SMTP_URL" => "smtps://mail:s3cr3t@smtp.example.edu.cn",
            "HALL_WECOM_CORP_ID" => "ww0123",
            "HALL_WECOM_SECRET" => "s3cr3t",
            _ => return vars::spec(name).default.value().map(str::to_owned),
        };
        Some(v.to_owned())
    }

    #[test]
    fn the_table_defaults_parse() {
        let s = Settings::read(&|_| None).unwrap();
        assert!(matches!(s.sms, Some(SmsConfig::Log)), "loopback default");
        assert!(Settings::defaults().sms.is_none());
    }

    #[test]
    fn every_row_is_read_and_secrets_stay_out_of_debug() {
        let asked = RefCell::new(Vec::new());
        let s = Settings::read(&|name| {
            asked.borrow_mut().push(name.to_owned());
            sample(name)
        })
        .unwrap();
        assert!(s.wecom.is_some() && s.smtp.is_some() && s.secret_key.is_some());
        assert!(matches!(
            &s.sms,
            Some(SmsConfig::Http {
                header: Some(_),
                ..
            })
        ));
        for v in VARS {
            // A row nobody reads would be documented but dead.
            let read = asked.borrow().iter().any(|n| n == v.name);
            assert_eq!(
                read,
                v.read_by.is_none(),
                "{}: read_by {:?}",
                v.name,
                v.read_by
            );
            // Only secret rows get a secret sample, so the check below covers each of them.
            if v.read_by.is_none() {
                let secret_sample = sample(v.name).is_some_and(|x| x.contains("s3cr3t"));
                assert_eq!(secret_sample, v.secret, "{}", v.name);
            }
        }
        let shown = format!("{s:?} {:?} {:?} {:?}", s.sms, s.smtp, s.wecom);
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn errors_name_the_variable() {
        let with = |name: &'static str, value: &'static str| {
            Settings::read(&move |n| if n == name { Some(value.into()) } else { None })
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            with("HALL_CODE_TTL_MINUTES", " 5x"),
            "HALL_CODE_TTL_MINUTES: not a valid number: \" 5x\""
        );
        assert_eq!(
            with("HALL_LOCKOUT_THRESHOLD", "0"),
            "HALL_LOCKOUT_THRESHOLD and HALL_IP_MAX_FAILURES must be at least 1"
        );
        assert_eq!(
            with("HALL_SMS_PROVIDER", "carrier-pigeon"),
            "HALL_SMS_PROVIDER: unknown provider \"carrier-pigeon\" (none, log or http)"
        );
        assert_eq!(
            with("HALL_PASSWORD_THREADS", "0"),
            "HALL_PASSWORD_THREADS: a number from 1 to 256, not \"0\""
        );
        let threads = Settings::read(&|n| (n == "HALL_PASSWORD_THREADS").then(|| " 1 ".into()));
        assert_eq!(threads.unwrap().password_threads, Some(1));
        assert_eq!(Settings::defaults().password_threads, None, "one per core");
        // Blank counts as unset: the default applies.
        let s = Settings::read(&|n| (n == "HALL_BIND").then(|| "  ".into())).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
    }
}
