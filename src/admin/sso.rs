//! 统一身份认证接入 (`/admin/sso`, 系统管理员 only): the campus systems that sign in through
//! the hall — register (the secret shown once), edit, new secret, disable — and the
//! id_token signing key's rotation.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::{Path, RawForm, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};

use crate::{
    error::{AppError, AppResult},
    identity::sso::{
        self,
        clients::{self, Checked, Client, Problems, Registration, SCOPES},
    },
    web::AppState,
    web::page::{Flashes, Page, flash},
    web::user::AdminUser,
};

pub struct Key {
    pub kid: String,
    pub created_at: String,
    pub retired: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/sso_clients.html")]
pub struct ListTemplate {
    pub page: Page,
    pub clients: Vec<Client>,
    pub issuer: String,
    pub keys: Vec<Key>,
}

fn fmt(state: &AppState, t: DateTime<Utc>) -> String {
    t.with_timezone(&state.settings.time_zone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub(super) async fn list(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    page: Page,
) -> AppResult<ListTemplate> {
    let keys: Vec<(String, DateTime<Utc>, bool)> = sqlx::query_as(
        "SELECT kid, created_at, retired_at IS NOT NULL FROM oidc_keys
          WHERE retired_at IS NULL OR retired_at > $1 ORDER BY id DESC",
    )
    .bind(state.now() - sso::keys::RETIRED_PUBLISHED)
    .fetch_all(&state.db)
    .await?;
    Ok(ListTemplate {
        page,
        clients: clients::all(&state.db).await?,
        issuer: sso::issuer(&state),
        keys: keys
            .into_iter()
            .map(|(kid, at, retired)| Key {
                kid,
                created_at: fmt(&state, at),
                retired,
            })
            .collect(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/sso_client.html")]
pub struct EditTemplate {
    pub page: Page,
    /// `None`: a new registration.
    pub client: Option<Client>,
    pub form: Registration,
    pub problems: Problems,
    pub scopes: Vec<(&'static str, &'static str)>,
    /// A secret just made, shown this once.
    pub secret: Option<String>,
    pub issuer: String,
    /// 推荐系统 tiles: (id, name, linked to another client).
    pub tiles: Vec<(i64, String, bool)>,
}

impl EditTemplate {
    async fn new(
        state: &AppState,
        page: Page,
        client: Option<Client>,
        form: Registration,
    ) -> AppResult<Self> {
        let me = client.as_ref().map(|c| c.id);
        let tiles = clients::tiles(&state.db)
            .await?
            .into_iter()
            .map(|(id, name, linked)| (id, name, linked.is_some() && linked != me))
            .collect();
        Ok(EditTemplate {
            page,
            client,
            form,
            problems: Problems::default(),
            scopes: SCOPES.to_vec(),
            secret: None,
            issuer: sso::issuer(state),
            tiles,
        })
    }

    pub fn tile_selected(&self, id: &i64) -> bool {
        self.form.campus_system == id.to_string()
    }

    pub fn has_scope(&self, s: &str) -> bool {
        self.form.scopes.iter().any(|x| x == s)
    }
}

async fn form_of(state: &AppState, c: &Client) -> AppResult<Registration> {
    Ok(Registration {
        name: c.name.clone(),
        redirect_uris: c.redirect_uris.join("\n"),
        post_logout_redirect_uris: c.post_logout_redirect_uris.join("\n"),
        frontchannel_logout_uri: c.frontchannel_logout_uri.clone().unwrap_or_default(),
        cas_service_patterns: c.cas_service_patterns.join("\n"),
        scopes: c.allowed_scopes.clone(),
        internal: c.internal.then(|| "on".into()),
        launch_url: c.launch_url.clone().unwrap_or_default(),
        api_services: c.api_services.join("\n"),
        webhook_url: c.webhook_url.clone().unwrap_or_default(),
        campus_system: clients::tile_of(&state.db, c.id)
            .await?
            .map(|i| i.to_string())
            .unwrap_or_default(),
    })
}

/// The posted form (checkboxes repeat `scopes`).
fn parse(body: &[u8]) -> Registration {
    let mut r = Registration::default();
    for (k, v) in url::form_urlencoded::parse(body) {
        let v = v.into_owned();
        match k.as_ref() {
            "name" => r.name = v,
            "redirect_uris" => r.redirect_uris = v,
            "post_logout_redirect_uris" => r.post_logout_redirect_uris = v,
            "frontchannel_logout_uri" => r.frontchannel_logout_uri = v,
            "cas_service_patterns" => r.cas_service_patterns = v,
            "scopes" => r.scopes.push(v),
            "internal" => r.internal = Some(v),
            "launch_url" => r.launch_url = v,
            "campus_system" => r.campus_system = v,
            "api_services" => r.api_services = v,
            "webhook_url" => r.webhook_url = v,
            _ => {}
        }
    }
    r
}

pub(super) async fn new(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    page: Page,
) -> AppResult<EditTemplate> {
    let form = Registration {
        scopes: vec!["openid".into(), "profile".into()],
        internal: Some("on".into()),
        ..Default::default()
    };
    EditTemplate::new(&state, page, None, form).await
}

fn refused(mut t: EditTemplate, problems: Problems) -> Response {
    t.problems = problems;
    (StatusCode::UNPROCESSABLE_ENTITY, t).into_response()
}

pub(super) async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    page: Page,
    RawForm(body): RawForm,
) -> AppResult<Response> {
    let form = parse(&body);
    let checked: Checked = match clients::check(&form) {
        Ok(c) => c,
        Err(p) => {
            return Ok(refused(
                EditTemplate::new(&state, page, None, form).await?,
                p,
            ));
        }
    };
    let (id, _, secret) = clients::create(&state.db, &checked, Some(admin.id), state.now()).await?;
    let client = clients::by_id(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let form = form_of(&state, &client).await?;
    let mut t = EditTemplate::new(&state, page, Some(client), form).await?;
    t.secret = Some(secret);
    Ok((StatusCode::CREATED, t).into_response())
}

async fn found(state: &AppState, id: i64) -> AppResult<Client> {
    clients::by_id(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub(super) async fn edit(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<EditTemplate> {
    let c = found(&state, id).await?;
    let form = form_of(&state, &c).await?;
    EditTemplate::new(&state, page, Some(c), form).await
}

pub(super) async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
    RawForm(body): RawForm,
) -> AppResult<Response> {
    let c = found(&state, id).await?;
    let form = parse(&body);
    let checked = match clients::check(&form) {
        Ok(c) => c,
        Err(p) => {
            return Ok(refused(
                EditTemplate::new(&state, page, Some(c), form).await?,
                p,
            ));
        }
    };
    if !clients::update(&state.db, id, &checked, Some(admin.id), state.now()).await? {
        return Err(AppError::NotFound);
    }
    flash(&flashes, "success", "已保存。");
    Ok(Redirect::to(&format!("/admin/sso/{id}")).into_response())
}

pub(super) async fn secret(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let Some(secret) = clients::new_secret(&state.db, id, Some(admin.id), state.now()).await?
    else {
        return Err(AppError::NotFound);
    };
    let c = found(&state, id).await?;
    let form = form_of(&state, &c).await?;
    let mut t = EditTemplate::new(&state, page, Some(c), form).await?;
    t.secret = Some(secret);
    Ok(t.into_response())
}

#[derive(serde::Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    disabled: String,
}

pub(super) async fn status(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    flashes: Flashes,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<StatusForm>,
) -> AppResult<Response> {
    let c = found(&state, id).await?;
    let disable = f.disabled == "true";
    clients::set_disabled(&state.db, id, disable, Some(admin.id), state.now()).await?;
    flash(
        &flashes,
        "success",
        if disable {
            format!(
                "已停用“{}”：它不能再通过大厅登录，已签发的令牌作废。",
                c.name
            )
        } else {
            format!("已启用“{}”。", c.name)
        },
    );
    Ok(Redirect::to(&format!("/admin/sso/{id}")).into_response())
}

pub(super) async fn rotate_key(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    flashes: Flashes,
) -> AppResult<Response> {
    let kid = sso::keys::rotate(&state.db, &state.secret_key, Some(admin.id), state.now()).await?;
    flash(
        &flashes,
        "success",
        format!("已启用新的签名密钥 {kid}；旧密钥仍发布一天，之前签发的令牌照常可验。"),
    );
    Ok(Redirect::to("/admin/sso").into_response())
}
