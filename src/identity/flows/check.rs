//! Step 1 of 激活账号 and 找回密码: the identity check (学号/工号, 姓名, 证件号, perhaps the
//! 激活码). Formats first, then the limits (per ID number, per account, per IP), then the
//! lookup; a failed check reads the same for any reason.

use std::net::IpAddr;

use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::Steps;
use crate::{error::AppResult, identity::idcard, web::AppState, web::page::Page};

pub const IDENTITY_FAILED: &str =
    "信息核对未通过：请检查账号、姓名和证件号是否正确。已激活的账号请直接登录，或使用“忘记密码”。";

#[derive(Default, Deserialize)]
pub struct IdentityForm {
    #[serde(default)]
    pub(super) account: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) id_card: String,
    #[serde(default)]
    pub(super) activation_code: String,
}

#[derive(Default)]
pub struct IdentityErrors {
    pub account: Option<&'static str>,
    pub name: Option<&'static str>,
    pub id_card: Option<&'static str>,
    pub activation_code: Option<&'static str>,
}

impl IdentityErrors {
    fn any(&self) -> bool {
        self.account.is_some()
            || self.name.is_some()
            || self.id_card.is_some()
            || self.activation_code.is_some()
    }
}

/// Step 1 of both flows.
#[derive(Template, WebTemplate)]
#[template(path = "identity/identity_check.html")]
pub struct IdentityTemplate {
    pub page: Page,
    pub title: &'static str,
    pub action: &'static str,
    pub steps: Steps,
    pub form: IdentityForm,
    pub errors: IdentityErrors,
    pub error: Option<String>,
    pub ask_activation_code: bool,
}

impl IdentityTemplate {
    /// Step 1 of 激活账号 (`activate`) or 找回密码, with what was typed and its messages.
    pub(super) fn step(
        page: Page,
        activate: bool,
        ask_activation_code: bool,
        form: IdentityForm,
        errors: IdentityErrors,
        error: Option<String>,
    ) -> Self {
        IdentityTemplate {
            page,
            title: if activate {
                "激活账号"
            } else {
                "找回密码"
            },
            action: if activate { "/activate" } else { "/recover" },
            steps: if activate {
                Steps::activate(1)
            } else {
                Steps::recover(1)
            },
            form,
            errors,
            error,
            ask_activation_code,
        }
    }

    /// An empty step 1.
    pub(super) fn blank(page: Page, activate: bool, ask_activation_code: bool) -> Self {
        Self::step(
            page,
            activate,
            ask_activation_code,
            IdentityForm::default(),
            IdentityErrors::default(),
            None,
        )
    }
}

/// The checks before any account is looked at: formats, then the limits. `Some`: step 1
/// again with these messages.
pub(super) async fn screen(
    state: &AppState,
    form: &IdentityForm,
    ask_code: bool,
    ip: Option<IpAddr>,
) -> AppResult<Option<(IdentityErrors, Option<String>)>> {
    let errors = check_formats(form, ask_code);
    if errors.any() {
        return Ok(Some((errors, None)));
    }
    if !identity_check_allowed(state, form, ip).await? {
        return Ok(Some((errors, Some("尝试次数过多，请一小时后再试".into()))));
    }
    Ok(None)
}

#[derive(sqlx::FromRow)]
pub(super) struct Person {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub phone: Option<String>,
    pub id_card_hash: Option<Vec<u8>>,
    pub activation_code_hash: Option<Vec<u8>>,
}

/// Formats first (messages next to the fields, which say nothing about accounts).
fn check_formats(f: &IdentityForm, ask_code: bool) -> IdentityErrors {
    let mut e = IdentityErrors::default();
    if f.account.trim().is_empty() {
        e.account = Some("请输入学号/工号");
    }
    if f.name.trim().is_empty() {
        e.name = Some("请输入姓名");
    }
    if f.id_card.trim().is_empty() {
        e.id_card = Some("请输入证件号");
    } else if !idcard::is_valid(f.id_card.trim()) {
        e.id_card = Some("证件号格式不正确，请核对（18 位，最后一位可能是 X）");
    }
    if ask_code && f.activation_code.trim().is_empty() {
        e.activation_code = Some("请输入激活码");
    }
    e
}

/// Counts an identity check against its limits; false = over.
async fn identity_check_allowed(
    state: &AppState,
    form: &IdentityForm,
    ip: Option<IpAddr>,
) -> sqlx::Result<bool> {
    let now = state.now();
    // Per ID number, per account (so neither can be tried against many of the other) and
    // per IP.
    let id_subject = format!(
        "id:{}",
        hex::encode(idcard::hash(&state.secret_key, form.id_card.trim()))
    );
    let account_subject = format!(
        "acct:{}",
        hex::encode(
            state
                .secret_key
                .tag("identity check v1", form.account.trim().as_bytes())
        )
    );
    let ip_subject = format!("ip:{}", ip.map(|i| i.to_string()).unwrap_or_default());
    let (by_id, by_account, by_ip): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM identity_checks WHERE subject = $1 AND at > $4 - interval '1 hour'),
                (SELECT count(*) FROM identity_checks WHERE subject = $2 AND at > $4 - interval '1 hour'),
                (SELECT count(*) FROM identity_checks WHERE subject = $3 AND at > $4 - interval '1 hour')",
    )
    .bind(&id_subject)
    .bind(&account_subject)
    .bind(&ip_subject)
    .bind(now)
    .fetch_one(&state.db)
    .await?;
    let per = state.settings.identity_checks_per_hour;
    if by_id >= per
        || by_account >= per
        || (ip.is_some() && by_ip >= state.settings.identity_checks_per_ip_hour)
    {
        return Ok(false);
    }
    sqlx::query("INSERT INTO identity_checks (subject, at) VALUES ($1, $4), ($2, $4), ($3, $4)")
        .bind(&id_subject)
        .bind(&account_subject)
        .bind(&ip_subject)
        .bind(now)
        .execute(&state.db)
        .await?;
    Ok(true)
}

/// The person whose 学号/工号, name and ID number all match, if any.
pub(super) async fn matching_person(
    state: &AppState,
    f: &IdentityForm,
) -> sqlx::Result<Option<Person>> {
    let p: Option<Person> = sqlx::query_as(
        "SELECT id, name, status, phone, id_card_hash, activation_code_hash
         FROM users WHERE account = $1",
    )
    .bind(f.account.trim())
    .fetch_optional(&state.db)
    .await?;
    let p = p.filter(|p| {
        p.name == f.name.trim()
            && p.id_card_hash
                .as_deref()
                .is_some_and(|h| idcard::matches(&state.secret_key, f.id_card.trim(), h))
    });
    if let Some(p) = &p {
        // The person just proved the number: keep a sealed copy for forms to fill in,
        // if the account (imported before copies were kept) has none.
        sqlx::query(
            "UPDATE users SET id_card_sealed = $2 WHERE id = $1 AND id_card_sealed IS NULL",
        )
        .bind(p.id)
        .bind(idcard::seal(&state.secret_key, f.id_card.trim()))
        .execute(&state.db)
        .await?;
    }
    Ok(p)
}
