//! Every environment variable the portal reads — name, default, meaning, secrecy — written
//! once. `Settings::from_env` takes names and defaults from here, `service-hall --help` prints
//! this table, and a test holds README's configuration table to it.
//!
//! A table rather than clap's derive with `env`: clap prints the current value of each set
//! variable in `--help` (secrets too, unless hidden one by one), takes a set but blank variable
//! as a value rather than as unset, and has no room for derived defaults (the base URL from
//! the bind address, the SMS log on a loopback URL); `Settings::defaults()`, the base of the
//! test settings, would also have to go through argument parsing.

use Fallback::{Note, Nothing, Value};

/// What a variable means when it is unset or blank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Read exactly as if the variable were set to this, so the default shown is the one used.
    Value(&'static str),
    /// Nothing from the table: the reading code decides, and this (Markdown) says what it does.
    Note(&'static str),
    /// Unset: the feature it configures stays off.
    Nothing,
}

impl Fallback {
    pub fn value(self) -> Option<&'static str> {
        match self {
            Value(v) => Some(v),
            Note(_) | Nothing => None,
        }
    }

    /// As README shows it: a literal value as code.
    fn markdown(self) -> String {
        match self {
            Value(v) => format!("`{v}`"),
            Note(text) => text.to_owned(),
            Nothing => String::new(),
        }
    }
}

pub struct VarSpec {
    pub name: &'static str,
    pub default: Fallback,
    /// Markdown (code spans, bold) as README shows it; `--help` prints it without the marks.
    pub meaning: &'static str,
    /// The value is never printed or logged: `Settings` holds it in a `Secret` (or, for
    /// `DATABASE_URL`, prints only whether it is set).
    pub secret: bool,
    /// `None`: `Settings::from_env` reads it. `Some(file)`: read there, outside `Settings`;
    /// listed for `--help` and README only.
    pub read_by: Option<&'static str>,
}

impl VarSpec {
    /// The meaning column of README, with the secrecy mark.
    fn meaning_markdown(&self) -> String {
        if self.secret {
            format!("{} (secret)", self.meaning)
        } else {
            self.meaning.to_owned()
        }
    }

    /// The Variable, Default and Meaning cells of README's table.
    pub fn markdown_cells(&self) -> [String; 3] {
        [
            format!("`{}`", self.name),
            self.default.markdown(),
            self.meaning_markdown(),
        ]
    }
}

/// The spec of a variable that `Settings::from_env` reads. Panics on a name missing from
/// [`VARS`]: a programming error, which the unit tests reach on every path.
pub(super) fn spec(name: &str) -> &'static VarSpec {
    let v = VARS
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("{name} is missing from config::VARS"));
    assert!(v.read_by.is_none(), "{name} is read by {:?}", v.read_by);
    v
}

/// README's configuration table, in the order of [`VARS`].
pub fn markdown_table() -> String {
    let mut s = String::from("| Variable | Default | Meaning |\n|---|---|---|\n");
    for v in VARS {
        let [name, default, meaning] = v.markdown_cells();
        s.push_str(&format!("| {name} | {default} | {meaning} |\n").replace("|  |", "| |"));
    }
    s
}

/// Markdown without code and bold marks, for the terminal.
fn plain(markdown: &str) -> String {
    markdown.replace("**", "").replace('`', "")
}

/// The variables for `service-hall --help`: defaults as in the table, never a current value.
pub fn help_text() -> String {
    let width = VARS.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut s =
        String::from("Configuration (environment variables; a blank one counts as unset):\n");
    for v in VARS {
        s.push_str(&format!("  {:<width$}  {}", v.name, plain(v.meaning)));
        match v.default {
            Value(d) => s.push_str(&format!(" [default: {d}]")),
            Note(d) => s.push_str(&format!(" [default: {}]", plain(d))),
            Nothing => {}
        }
        if v.secret {
            s.push_str(" [secret: never printed or logged]");
        }
        s.push('\n');
    }
    s
}

pub static VARS: &[VarSpec] = &[
    VarSpec {
        name: "DATABASE_URL",
        default: Note("the embedded cluster in `<HALL_DATA_DIR>/postgres`"),
        meaning: "PostgreSQL server to use, `postgres://user:password@host/dbname`; the database is created if missing",
        secret: true,
        read_by: None,
    },
    VarSpec {
        name: "HALL_BIND",
        default: Value("127.0.0.1:8080"),
        meaning: "address and port to listen on",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_BASE_URL",
        default: Note("`http://<HALL_BIND>/`"),
        meaning: "public base URL: its origin is the only one accepted on form posts, and `https://` turns on Secure cookies and HSTS",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_DATA_DIR",
        default: Value("data"),
        meaning: "data folder (the embedded cluster in `postgres/`, `secret.key`), relative to the working directory",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_PORTAL_NAME",
        default: Value("网上办事服务大厅"),
        meaning: "portal name in the header and titles",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_TIME_ZONE",
        default: Value("Asia/Shanghai"),
        meaning: "time zone for displayed times (stored as `timestamptz`)",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_SESSION_IDLE_MINUTES",
        default: Value("30"),
        meaning: "sign out after this much inactivity",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_SESSION_ABSOLUTE_HOURS",
        default: Value("12"),
        meaning: "sign out this long after sign-in, active or not",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_LOCKOUT_THRESHOLD",
        default: Value("5"),
        meaning: "failed logins on one account that lock it (at least 1)",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_LOCKOUT_WINDOW_MINUTES",
        default: Value("15"),
        meaning: "window in which those failures count",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_LOCKOUT_MINUTES",
        default: Value("15"),
        meaning: "how long a locked account stays locked",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_IP_MAX_FAILURES",
        default: Value("30"),
        meaning: "failed logins from one IP (any account) within `HALL_IP_WINDOW_MINUTES` before HTTP 429 (at least 1)",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_IP_WINDOW_MINUTES",
        default: Value("15"),
        meaning: "window for the per-IP count",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_TRUST_PROXY",
        default: Value("false"),
        meaning: "take the client IP from `X-Forwarded-For` (only behind your own proxy); on with `1`, `true`, `yes` or `on`",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_CODE_TTL_MINUTES",
        default: Value("5"),
        meaning: "how long an SMS code stays valid",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_CODE_MAX_ATTEMPTS",
        default: Value("5"),
        meaning: "wrong tries before an SMS code is void",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_CODE_COOLDOWN_SECONDS",
        default: Value("60"),
        meaning: "minimum time between two codes to one phone",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_CODE_PER_PHONE_DAY",
        default: Value("10"),
        meaning: "codes to one phone per day",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_CODE_PER_IP_HOUR",
        default: Value("30"),
        meaning: "codes requested from one IP per hour",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_IDENTITY_CHECKS_PER_HOUR",
        default: Value("5"),
        meaning: "激活账号 / 找回密码 checks per ID number per hour",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_IDENTITY_CHECKS_PER_IP_HOUR",
        default: Value("30"),
        meaning: "激活账号 / 找回密码 checks per IP per hour",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_REQUIRE_ACTIVATION_CODE",
        default: Value("false"),
        meaning: "激活账号 also asks for the activation code issued to the person; on with `true` or `1`",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_PASSWORD_MIN_SCORE",
        default: Value("3"),
        meaning: "minimum strength (zxcvbn score 0–4) of a new password",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_PASSWORD_THREADS",
        default: Note("the number of cores"),
        meaning: "password hashes (argon2id: ~19 MiB and a core each, 15–20 ms) run at once per instance; fewer keeps pages quick while a crowd signs in, and more sign-ins wait or are asked to retry (`docs/BENCHMARKS.md`, sign-ins at a steady rate)",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_SECRET_KEY",
        default: Note("generated into `<HALL_DATA_DIR>/secret.key`"),
        meaning: "key for the keyed hash and the sealed copy of ID-card numbers; **set the same value on every instance** when running several",
        secret: true,
        read_by: None,
    },
    VarSpec {
        name: "HALL_DB_MAX_CONNECTIONS",
        default: Value("20"),
        meaning: "database pool size per instance",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_UPLOAD_MAX_FILE_MB",
        default: Value("20"),
        meaning: "largest attachment",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_UPLOAD_MAX_TOTAL_MB",
        default: Value("50"),
        meaning: "all attachments of one application",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_DOCUMENT_FONT",
        default: Value("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
        meaning: "the CJK font result documents (PDF) are set in (Debian's `fonts-noto-cjk`; of a collection, the Simplified Chinese face); without it 下载 PDF answers 503 with a message",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_SMS_PROVIDER",
        default: Note("`log` on a loopback `HALL_BASE_URL`, else `none`"),
        meaning: "SMS channel: `none`, `log` (development: written to the log) or `http` (a gateway)",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_SMS_URL",
        default: Nothing,
        meaning: "gateway URL, required by `HALL_SMS_PROVIDER=http`",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_SMS_BODY",
        default: Value(r#"{"phone":"{phone}","message":"{text}","id":"{key}"}"#),
        meaning: "JSON body template; `{phone}`, `{text}`, `{key}` (idempotency key) are filled in",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_SMS_AUTH_HEADER",
        default: Nothing,
        meaning: "header sent to the gateway, `Name: value`",
        secret: true,
        read_by: None,
    },
    VarSpec {
        name: "HALL_SMTP_URL",
        default: Nothing,
        meaning: "e-mail: `smtp://host:25`, `smtp://user:pass@host:587?tls=required` or `smtps://…`",
        secret: true,
        read_by: None,
    },
    VarSpec {
        name: "HALL_SMTP_FROM",
        default: Value("网上办事服务大厅 <noreply@localhost>"),
        meaning: "sender of notification e-mails",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_WECOM_CORP_ID",
        default: Nothing,
        meaning: "企业微信 corp id: turns on 企业微信 application messages (to the person whose WeCom userid is their 学号/工号)",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_WECOM_SECRET",
        default: Nothing,
        meaning: "企业微信 application secret, required by `HALL_WECOM_CORP_ID`",
        secret: true,
        read_by: None,
    },
    VarSpec {
        name: "HALL_WECOM_AGENT_ID",
        default: Value("0"),
        meaning: "企业微信 application agent id",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_WECOM_BASE_URL",
        default: Value("https://qyapi.weixin.qq.com"),
        meaning: "企业微信 API base (a proxy or a test server may stand in)",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_NOTIFY_MAX_ATTEMPTS",
        default: Value("6"),
        meaning: "tries of an outside notification before it is marked failed (visible in 管理后台)",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_WORK_WEEK",
        default: Value("1-5"),
        meaning: "working weekdays (1 = Monday … 7 = Sunday, e.g. `1-5` or `1-6`): time limits and 效能数据 count only these days, less the 校历's holidays and plus its make-up days",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_QUICK_APPROVAL_SECONDS",
        default: Value("10"),
        meaning: "效能数据: a 通过 within this many seconds of opening the application counts as 秒批",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_NOTIFY_TIMEOUT_SECONDS",
        default: Value("10"),
        meaning: "timeout of one gateway request",
        secret: false,
        read_by: None,
    },
    VarSpec {
        name: "HALL_PG_OS_USER",
        default: Value("postgres"),
        meaning: "system account for the embedded cluster when running as root",
        secret: false,
        read_by: Some("src/db/embedded.rs"),
    },
    VarSpec {
        name: "HALL_ADMIN_PASSWORD",
        default: Note("asked for on the terminal"),
        meaning: "password given to the account by `create-admin`",
        secret: true,
        read_by: Some("src/main.rs"),
    },
    VarSpec {
        name: "HALL_LOG_FORMAT",
        default: Value("text"),
        meaning: "`json` for JSON logs",
        secret: false,
        read_by: Some("src/telemetry.rs"),
    },
    VarSpec {
        name: "RUST_LOG",
        default: Value("info,service_hall=info,sqlx=warn,tower_http=info"),
        meaning: "log filter (tracing's `EnvFilter` syntax)",
        secret: false,
        read_by: Some("src/telemetry.rs"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of README's configuration table, as cells.
    fn readme_rows() -> Vec<[String; 3]> {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .expect("README has a ## Configuration section");
        let mut lines = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'));
        assert_eq!(
            lines.next(),
            Some("| Variable | Default | Meaning |"),
            "README's configuration table header"
        );
        assert_eq!(lines.next(), Some("|---|---|---|"));
        lines
            .map(|line| {
                let cells: Vec<String> = line
                    .trim()
                    .trim_start_matches('|')
                    .trim_end_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_owned())
                    .collect();
                cells
                    .try_into()
                    .unwrap_or_else(|c: Vec<String>| panic!("not 3 cells ({}): {line}", c.len()))
            })
            .collect()
    }

    #[test]
    fn readme_configuration_table_matches_the_code() {
        let readme = readme_rows();
        let code: Vec<[String; 3]> = VARS.iter().map(VarSpec::markdown_cells).collect();
        let find = |rows: &[[String; 3]], name: &str| rows.iter().position(|r| r[0] == name);
        let mut problems = Vec::new();
        for row in &code {
            match find(&readme, &row[0]) {
                None => problems.push(format!("{} is missing from README", row[0])),
                Some(i) => {
                    for (col, what) in [(1, "default"), (2, "meaning")] {
                        if readme[i][col] != row[col] {
                            problems.push(format!(
                                "{} {what}: README has {:?}, the code {:?}",
                                row[0], readme[i][col], row[col]
                            ));
                        }
                    }
                }
            }
        }
        for row in &readme {
            if find(&code, &row[0]).is_none() {
                problems.push(format!("{} is in README but not in config::VARS", row[0]));
            }
        }
        let names = |rows: &[[String; 3]]| rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>();
        if problems.is_empty() && names(&readme) != names(&code) {
            problems.push("the rows are in another order than config::VARS".into());
        }
        assert!(
            problems.is_empty(),
            "README's configuration table disagrees with src/config/vars.rs:\n  {}\n\
             The table as the code has it:\n{}",
            problems.join("\n  "),
            markdown_table()
        );
    }

    #[test]
    fn names_are_unique_and_text_fits_a_table_cell() {
        for (i, v) in VARS.iter().enumerate() {
            assert!(
                VARS[..i].iter().all(|w| w.name != v.name),
                "{} twice",
                v.name
            );
            for cell in v.markdown_cells() {
                assert!(!cell.contains(['|', '\n']), "{}: {cell:?}", v.name);
            }
            assert!(
                v.default != Value(""),
                "{}: an empty value is unset",
                v.name
            );
        }
    }

    #[test]
    fn help_lists_every_variable_and_marks_secrets() {
        let help = help_text();
        for v in VARS {
            let line = help
                .lines()
                .find(|l| l.split_whitespace().next() == Some(v.name))
                .unwrap_or_else(|| panic!("{} missing from --help", v.name));
            assert_eq!(line.contains("[secret"), v.secret, "{line}");
            assert!(!line.contains('`'), "{line}");
            if let Value(d) = v.default {
                assert!(
                    line.ends_with(&format!("[default: {d}]")) || v.secret,
                    "{line}"
                );
            }
        }
    }
}
