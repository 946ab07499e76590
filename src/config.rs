//! Settings from `HALL_*` environment variables (plus the standard `DATABASE_URL`).
//! Secrets never appear in `Debug` output or logs.

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

/// One row of the README's configuration table; `help` is printed by `--help` too.
pub struct EnvVar {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

pub const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: "DATABASE_URL",
        default: "(unset: embedded cluster)",
        help: "PostgreSQL server to use; the database is created if missing",
    },
    EnvVar {
        name: "HALL_BIND",
        default: "127.0.0.1:8080",
        help: "address and port to listen on",
    },
    EnvVar {
        name: "HALL_BASE_URL",
        default: "http://<HALL_BIND>",
        help: "public base URL; https turns on Secure cookies and HSTS",
    },
    EnvVar {
        name: "HALL_DATA_DIR",
        default: "data/",
        help: "data folder (embedded cluster in data/postgres, secret.key)",
    },
    EnvVar {
        name: "HALL_PORTAL_NAME",
        default: "网上办事服务大厅",
        help: "portal name shown in the header and titles",
    },
    EnvVar {
        name: "HALL_TIME_ZONE",
        default: "Asia/Shanghai",
        help: "time zone for displayed times",
    },
    EnvVar {
        name: "HALL_SESSION_IDLE_MINUTES",
        default: "30",
        help: "sign out after this much inactivity",
    },
    EnvVar {
        name: "HALL_SESSION_ABSOLUTE_HOURS",
        default: "12",
        help: "sign out this long after sign-in, active or not",
    },
    EnvVar {
        name: "HALL_LOCKOUT_THRESHOLD",
        default: "5",
        help: "failed logins on one account that lock it",
    },
    EnvVar {
        name: "HALL_LOCKOUT_WINDOW_MINUTES",
        default: "15",
        help: "window in which those failures count",
    },
    EnvVar {
        name: "HALL_LOCKOUT_MINUTES",
        default: "15",
        help: "how long a locked account stays locked",
    },
    EnvVar {
        name: "HALL_IP_MAX_FAILURES",
        default: "30",
        help: "failed logins from one IP (any account) before HTTP 429",
    },
    EnvVar {
        name: "HALL_CODE_TTL_MINUTES",
        default: "5",
        help: "how long an SMS code stays valid",
    },
    EnvVar {
        name: "HALL_CODE_MAX_ATTEMPTS",
        default: "5",
        help: "wrong tries before an SMS code is void",
    },
    EnvVar {
        name: "HALL_CODE_COOLDOWN_SECONDS",
        default: "60",
        help: "minimum time between two codes to one phone",
    },
    EnvVar {
        name: "HALL_CODE_PER_PHONE_DAY",
        default: "10",
        help: "codes to one phone per day",
    },
    EnvVar {
        name: "HALL_CODE_PER_IP_HOUR",
        default: "30",
        help: "codes requested from one IP per hour",
    },
    EnvVar {
        name: "HALL_IDENTITY_CHECKS_PER_HOUR",
        default: "5",
        help: "激活账号 / 找回密码 checks per ID number per hour",
    },
    EnvVar {
        name: "HALL_IDENTITY_CHECKS_PER_IP_HOUR",
        default: "30",
        help: "激活账号 / 找回密码 checks per IP per hour",
    },
    EnvVar {
        name: "HALL_REQUIRE_ACTIVATION_CODE",
        default: "false",
        help: "激活账号 also asks for the activation code issued to the person",
    },
    EnvVar {
        name: "HALL_PASSWORD_MIN_SCORE",
        default: "3",
        help: "minimum strength (zxcvbn score 0–4) of a new password",
    },
    EnvVar {
        name: "HALL_IP_WINDOW_MINUTES",
        default: "15",
        help: "window for the per-IP count",
    },
    EnvVar {
        name: "HALL_TRUST_PROXY",
        default: "false",
        help: "take the client IP from X-Forwarded-For (only behind your own proxy)",
    },
    EnvVar {
        name: "HALL_SECRET_KEY",
        default: "(generated in data/secret.key)",
        help: "key for hashing ID-card numbers; set the same value on every instance",
    },
    EnvVar {
        name: "HALL_DB_MAX_CONNECTIONS",
        default: "20",
        help: "database pool size per instance",
    },
    EnvVar {
        name: "HALL_UPLOAD_MAX_FILE_MB",
        default: "20",
        help: "largest attachment",
    },
    EnvVar {
        name: "HALL_UPLOAD_MAX_TOTAL_MB",
        default: "50",
        help: "all attachments of one application",
    },
    EnvVar {
        name: "HALL_SMS_PROVIDER",
        default: "log on a loopback HALL_BASE_URL, else none",
        help: "SMS channel: none, log (development: to the log) or http (a gateway)",
    },
    EnvVar {
        name: "HALL_SMS_URL",
        default: "",
        help: "gateway URL for HALL_SMS_PROVIDER=http",
    },
    EnvVar {
        name: "HALL_SMS_BODY",
        default: "{\"phone\":\"{phone}\",\"message\":\"{text}\",\"id\":\"{key}\"}",
        help: "JSON body template; {phone}, {text}, {key} (idempotency key) are filled in",
    },
    EnvVar {
        name: "HALL_SMS_AUTH_HEADER",
        default: "",
        help: "header sent to the gateway, \"Name: value\" (a secret, never logged)",
    },
    EnvVar {
        name: "HALL_SMTP_URL",
        default: "",
        help: "e-mail over SMTP: smtp://host:25, smtp://user:pass@host:587?tls=required or smtps://… (secret)",
    },
    EnvVar {
        name: "HALL_SMTP_FROM",
        default: "网上办事服务大厅 <noreply@localhost>",
        help: "sender of notification e-mails",
    },
    EnvVar {
        name: "HALL_WECOM_CORP_ID",
        default: "",
        help: "企业微信 corp id; with HALL_WECOM_SECRET and HALL_WECOM_AGENT_ID turns on WeChat Work messages",
    },
    EnvVar {
        name: "HALL_WECOM_SECRET",
        default: "",
        help: "企业微信 application secret (never logged)",
    },
    EnvVar {
        name: "HALL_WECOM_AGENT_ID",
        default: "",
        help: "企业微信 application agent id",
    },
    EnvVar {
        name: "HALL_WECOM_BASE_URL",
        default: "https://qyapi.weixin.qq.com",
        help: "企业微信 API base URL",
    },
    EnvVar {
        name: "HALL_NOTIFY_MAX_ATTEMPTS",
        default: "6",
        help: "tries of an SMS/e-mail/WeChat notification before it is marked failed",
    },
    EnvVar {
        name: "HALL_NOTIFY_TIMEOUT_SECONDS",
        default: "10",
        help: "timeout of one request to a notification gateway",
    },
    EnvVar {
        name: "HALL_PG_OS_USER",
        default: "postgres",
        help: "system account for the embedded cluster when running as root",
    },
    EnvVar {
        name: "HALL_LOG_FORMAT",
        default: "text",
        help: "json for JSON logs",
    },
    EnvVar {
        name: "RUST_LOG",
        default: "info,service_hall=info",
        help: "log filter (tracing)",
    },
];

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_num<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}: not a valid number: {v:?}")),
    }
}

impl Settings {
    /// Defaults, suitable for a developer machine (and the base of test settings).
    pub fn defaults() -> Self {
        let bind: SocketAddr = "127.0.0.1:8080".parse().expect("valid default");
        Settings {
            bind,
            base_url: url::Url::parse("http://127.0.0.1:8080/").expect("valid default"),
            database_url: None,
            data_dir: PathBuf::from("data"),
            portal_name: "网上办事服务大厅".into(),
            time_zone: chrono_tz::Asia::Shanghai,
            session_idle: Duration::from_secs(30 * 60),
            session_absolute: Duration::from_secs(12 * 3600),
            lockout_threshold: 5,
            lockout_window: Duration::from_secs(15 * 60),
            lockout_duration: Duration::from_secs(15 * 60),
            ip_max_failures: 30,
            ip_window: Duration::from_secs(15 * 60),
            trust_proxy: false,
            secret_key: None,
            code_ttl: Duration::from_secs(5 * 60),
            code_max_attempts: 5,
            code_cooldown: Duration::from_secs(60),
            code_per_phone_day: 10,
            code_per_ip_hour: 30,
            identity_checks_per_hour: 5,
            identity_checks_per_ip_hour: 30,
            require_activation_code: false,
            password_min_score: 3,
            db_max_connections: 20,
            upload_max_file: 20 * 1024 * 1024,
            upload_max_total: 50 * 1024 * 1024,
            sms: None,
            wecom: None,
            smtp: None,
            notify_max_attempts: 6,
            notify_timeout: Duration::from_secs(10),
            background_jobs: true,
        }
    }

    pub fn from_env() -> anyhow::Result<Self> {
        let mut s = Self::defaults();
        if let Some(b) = var("HALL_BIND") {
            s.bind = b
                .parse()
                .with_context(|| format!("HALL_BIND: expected host:port, got {b:?}"))?;
        }
        s.base_url = match var("HALL_BASE_URL") {
            Some(u) => {
                url::Url::parse(&u).with_context(|| format!("HALL_BASE_URL: not a URL: {u:?}"))?
            }
            None => url::Url::parse(&format!("http://{}/", s.bind)).context("HALL_BIND")?,
        };
        if !matches!(s.base_url.scheme(), "http" | "https") {
            bail!("HALL_BASE_URL must start with http:// or https://");
        }
        s.database_url = var("DATABASE_URL");
        if let Some(d) = var("HALL_DATA_DIR") {
            s.data_dir = PathBuf::from(d);
        }
        if let Some(n) = var("HALL_PORTAL_NAME") {
            s.portal_name = n;
        }
        if let Some(tz) = var("HALL_TIME_ZONE") {
            s.time_zone = tz
                .parse()
                .map_err(|_| anyhow::anyhow!("HALL_TIME_ZONE: unknown time zone {tz:?}"))?;
        }
        let mins = |n: u64| Duration::from_secs(n * 60);
        s.session_idle = mins(parse_num("HALL_SESSION_IDLE_MINUTES", 30)?);
        s.session_absolute = mins(60 * parse_num("HALL_SESSION_ABSOLUTE_HOURS", 12)?);
        s.lockout_threshold = parse_num("HALL_LOCKOUT_THRESHOLD", 5)?;
        s.lockout_window = mins(parse_num("HALL_LOCKOUT_WINDOW_MINUTES", 15)?);
        s.lockout_duration = mins(parse_num("HALL_LOCKOUT_MINUTES", 15)?);
        s.ip_max_failures = parse_num("HALL_IP_MAX_FAILURES", 30)?;
        s.code_ttl = mins(parse_num("HALL_CODE_TTL_MINUTES", 5)?);
        s.code_max_attempts = parse_num("HALL_CODE_MAX_ATTEMPTS", 5)?;
        s.code_cooldown = Duration::from_secs(parse_num("HALL_CODE_COOLDOWN_SECONDS", 60)?);
        s.code_per_phone_day = parse_num("HALL_CODE_PER_PHONE_DAY", 10)?;
        s.code_per_ip_hour = parse_num("HALL_CODE_PER_IP_HOUR", 30)?;
        s.identity_checks_per_hour = parse_num("HALL_IDENTITY_CHECKS_PER_HOUR", 5)?;
        s.identity_checks_per_ip_hour = parse_num("HALL_IDENTITY_CHECKS_PER_IP_HOUR", 30)?;
        s.require_activation_code =
            var("HALL_REQUIRE_ACTIVATION_CODE").is_some_and(|v| v == "true" || v == "1");
        s.password_min_score = parse_num("HALL_PASSWORD_MIN_SCORE", 3)?;
        s.ip_window = mins(parse_num("HALL_IP_WINDOW_MINUTES", 15)?);
        s.trust_proxy = matches!(
            var("HALL_TRUST_PROXY").as_deref(),
            Some("1" | "true" | "yes" | "on")
        );
        s.secret_key = var("HALL_SECRET_KEY").map(Secret);
        s.db_max_connections = parse_num("HALL_DB_MAX_CONNECTIONS", 20)?;
        s.upload_max_file = parse_num::<u64>("HALL_UPLOAD_MAX_FILE_MB", 20)? * 1024 * 1024;
        s.upload_max_total = parse_num::<u64>("HALL_UPLOAD_MAX_TOTAL_MB", 50)? * 1024 * 1024;
        s.notify_max_attempts = parse_num("HALL_NOTIFY_MAX_ATTEMPTS", 6)?;
        s.notify_timeout = Duration::from_secs(parse_num("HALL_NOTIFY_TIMEOUT_SECONDS", 10)?);
        s.sms = match var("HALL_SMS_PROVIDER").as_deref() {
            // On a developer's machine (a loopback base URL) codes go to the log, so 激活账号
            // and 找回密码 can be tried; anywhere else SMS is off until configured.
            None if s
                .base_url
                .host_str()
                .is_some_and(|h| h == "127.0.0.1" || h == "localhost") =>
            {
                Some(SmsConfig::Log)
            }
            None | Some("none") => None,
            Some("log") => Some(SmsConfig::Log),
            Some("http") => {
                let url =
                    var("HALL_SMS_URL").context("HALL_SMS_PROVIDER=http needs HALL_SMS_URL")?;
                let body = var("HALL_SMS_BODY").unwrap_or_else(|| {
                    r#"{"phone":"{phone}","message":"{text}","id":"{key}"}"#.to_owned()
                });
                let header = match var("HALL_SMS_AUTH_HEADER") {
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
        s.smtp = var("HALL_SMTP_URL").map(|url| SmtpConfig {
            url: Secret(url),
            from: var("HALL_SMTP_FROM")
                .unwrap_or_else(|| "网上办事服务大厅 <noreply@localhost>".into()),
        });
        s.wecom = match var("HALL_WECOM_CORP_ID") {
            None => None,
            Some(corp_id) => Some(WecomConfig {
                corp_id,
                secret: Secret(
                    var("HALL_WECOM_SECRET")
                        .context("HALL_WECOM_CORP_ID needs HALL_WECOM_SECRET")?,
                ),
                agent_id: parse_num("HALL_WECOM_AGENT_ID", 0)?,
                base_url: var("HALL_WECOM_BASE_URL")
                    .unwrap_or_else(|| "https://qyapi.weixin.qq.com".into()),
            }),
        };
        if s.lockout_threshold < 1 || s.ip_max_failures < 1 {
            bail!("HALL_LOCKOUT_THRESHOLD and HALL_IP_MAX_FAILURES must be at least 1");
        }
        Ok(s)
    }

    pub fn secure_cookies(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// `scheme://host[:port]` of the public base URL, as browsers send it in `Origin`.
    pub fn origin(&self) -> String {
        self.base_url.origin().ascii_serialization()
    }
}
