//! 出具证明 (`/admin/services/{id}/document`, behind the service guard): whether finished
//! applications of the service get a PDF, its title and statement, which form fields it
//! lists, and which approval node applies which seal; and uploading the department's seal
//! (PNG). Seals are never served as files: the page lists them by name only.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::{Multipart, Path, RawForm, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use super::{access::Manager, head::ServiceHead};
use crate::{
    audit::Entry,
    error::{AppError, AppResult},
    forms::FieldKind,
    web::{
        AppState,
        page::{Flashes, Page, flash},
    },
    workflow::{model::NodeKind, store::versions, usecase::versions::parse},
};

#[derive(Default, Clone)]
pub struct Form {
    pub enabled: bool,
    pub title: String,
    pub body: String,
    pub fields: Vec<String>,
    pub seal_node: String,
    pub seal_id: String,
    /// records | footer
    pub signature_place: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/document.html")]
pub struct DocumentTemplate {
    pub page: Page,
    pub head: ServiceHead,
    pub form: Form,
    /// The current form's fields and section headings, in order.
    pub fields: Vec<Choice>,
    /// (id, name) of the current workflow's approval nodes.
    pub nodes: Vec<(String, String)>,
    /// The names of the approval nodes whose 通过 takes a handwritten signature.
    pub signature_nodes: Vec<String>,
    /// (id, name, department) of the seals this person may use.
    pub seals: Vec<(i64, String, String)>,
    pub errors: Vec<(&'static str, String)>,
}

impl DocumentTemplate {
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
    pub fn has_field(&self, k: &str) -> bool {
        self.form.fields.iter().any(|f| f == k)
    }
}

/// A field, or a section heading (choosing it lists the whole section).
pub struct Choice {
    pub key: String,
    pub label: String,
    pub section: bool,
}

/// The current version's fields, approval nodes, and the nodes that take a signature.
#[derive(Default)]
struct Definition {
    fields: Vec<Choice>,
    nodes: Vec<(String, String)>,
    signature_nodes: Vec<String>,
}

async fn definition(state: &AppState, id: i64) -> AppResult<Definition> {
    let Some(n) = versions::current_number(&state.db, id).await? else {
        return Ok(Definition::default());
    };
    let Some((f, w)) = versions::definitions(&state.db, id, n).await? else {
        return Ok(Definition::default());
    };
    let Ok((schema, def)) = parse(&f, &w) else {
        return Ok(Definition::default());
    };
    Ok(Definition {
        fields: schema
            .fields
            .iter()
            .filter(|f| f.kind != FieldKind::Static)
            .map(|f| Choice {
                key: f.key.clone(),
                label: f.label.clone(),
                section: f.kind == FieldKind::Section,
            })
            .collect(),
        nodes: def
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Approval { .. }))
            .map(|n| (n.id.clone(), n.name.clone()))
            .collect(),
        signature_nodes: def
            .nodes
            .iter()
            .filter(|n| {
                matches!(
                    n.kind,
                    NodeKind::Approval {
                        signature: true,
                        ..
                    }
                )
            })
            .map(|n| n.name.clone())
            .collect(),
    })
}

async fn seals(state: &AppState, m: &Manager) -> AppResult<Vec<(i64, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT x.id, x.name, d.name FROM seals x JOIN departments d ON d.id = x.department_id
          WHERE x.retired_at IS NULL AND ($1 OR x.department_id = ANY($2)) ORDER BY d.name, x.id",
    )
    .bind(m.all)
    .bind(&m.departments)
    .fetch_all(&state.db)
    .await?)
}

async fn render(
    state: &AppState,
    m: &Manager,
    page: Page,
    id: i64,
    form: Form,
    errors: Vec<(&'static str, String)>,
) -> AppResult<DocumentTemplate> {
    let head = ServiceHead::load(&state.db, id, "document").await?;
    let d = definition(state, id).await?;
    Ok(DocumentTemplate {
        page,
        head,
        form,
        fields: d.fields,
        nodes: d.nodes,
        signature_nodes: d.signature_nodes,
        seals: seals(state, m).await?,
        errors,
    })
}

/// The saved settings: title, body, fields, seal node, seal, where signatures go.
type Stored = (
    String,
    String,
    Vec<String>,
    Option<String>,
    Option<i64>,
    String,
);

pub(super) async fn page(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<DocumentTemplate> {
    let row: Option<Stored> = sqlx::query_as(
        "SELECT title, body, fields, seal_node, seal_id, signature_place
           FROM document_settings WHERE service_id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    let form = match row {
        Some((title, body, fields, node, seal, place)) => Form {
            enabled: true,
            title,
            body,
            fields,
            seal_node: node.unwrap_or_default(),
            seal_id: seal.map(|s| s.to_string()).unwrap_or_default(),
            signature_place: place,
        },
        // Not yet set up: the print view is the starting point (every field listed).
        None => Form {
            body: "兹证明 {name}（{account}）……\n特此证明。".into(),
            fields: definition(&state, id)
                .await?
                .fields
                .into_iter()
                .filter(|c| !c.section)
                .map(|c| c.key)
                .collect(),
            signature_place: "records".into(),
            ..Form::default()
        },
    };
    render(&state, &m, page, id, form, vec![]).await
}

pub(super) async fn save(
    State(state): State<AppState>,
    m: Manager,
    flashes: Flashes,
    page: Page,
    Path(id): Path<i64>,
    RawForm(body): RawForm,
) -> AppResult<Response> {
    let mut f = Form {
        signature_place: "records".into(),
        ..Form::default()
    };
    for (k, v) in url::form_urlencoded::parse(&body) {
        let v = v.into_owned();
        match k.as_ref() {
            "enabled" => f.enabled = true,
            "title" => f.title = v.trim().to_owned(),
            "body" => f.body = v,
            "fields" => f.fields.push(v),
            "seal_node" => f.seal_node = v,
            "seal_id" => f.seal_id = v,
            "signature_place" => f.signature_place = v,
            _ => {}
        }
    }
    let now = state.now();
    if !f.enabled {
        let mut tx = state.db.begin().await?;
        sqlx::query("DELETE FROM document_settings WHERE service_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Entry::about(format!("service:{id}"), "document.settings")
            .by(Some(m.user.id))
            .detail(serde_json::json!({ "enabled": false }))
            .record(&mut *tx, now)
            .await?;
        tx.commit().await?;
        flash(&flashes, "success", "已保存：本服务不出具证明。");
        return Ok(Redirect::to(&format!("/admin/services/{id}/document")).into_response());
    }
    let Definition { fields, nodes, .. } = definition(&state, id).await?;
    let allowed = seals(&state, &m).await?;
    let mut errors = vec![];
    if f.title.is_empty() || f.title.chars().count() > 40 {
        errors.push((
            "title",
            "请填写证明名称（40 字以内），例如“在读证明”。".to_owned(),
        ));
    }
    if f.body.chars().count() > 1000 {
        errors.push(("body", "证明正文最多 1000 字。".to_owned()));
    }
    if f.fields.iter().any(|k| !fields.iter().any(|c| &c.key == k)) {
        errors.push((
            "fields",
            "所选字段不在当前表单中，请刷新页面后重选。".to_owned(),
        ));
    }
    if !matches!(f.signature_place.as_str(), "records" | "footer") {
        errors.push(("signature_place", "请选择签名的位置。".to_owned()));
    }
    let node = (!f.seal_node.is_empty()).then(|| f.seal_node.clone());
    let seal: Option<i64> = match f.seal_id.as_str() {
        "" => None,
        s => match s
            .parse::<i64>()
            .ok()
            .filter(|id| allowed.iter().any(|(a, ..)| a == id))
        {
            Some(id) => Some(id),
            None => {
                errors.push(("seal_id", "请选择您可以使用的印章。".to_owned()));
                None
            }
        },
    };
    if let Some(n) = &node
        && !nodes.iter().any(|(id, _)| id == n)
    {
        errors.push(("seal_node", "请选择当前流程中的审批环节。".to_owned()));
    }
    if node.is_some() != seal.is_some() && errors.is_empty() {
        errors.push(("seal_id", "加盖印章需同时选择环节和印章。".to_owned()));
    }
    if !errors.is_empty() {
        let t = render(&state, &m, page, id, f, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response());
    }
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO document_settings (service_id, title, body, fields, seal_node, seal_id,
                                        signature_place)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (service_id) DO UPDATE SET title = $2, body = $3, fields = $4,
             seal_node = $5, seal_id = $6, signature_place = $7",
    )
    .bind(id)
    .bind(&f.title)
    .bind(&f.body)
    .bind(&f.fields)
    .bind(&node)
    .bind(seal)
    .bind(&f.signature_place)
    .execute(&mut *tx)
    .await?;
    Entry::about(format!("service:{id}"), "document.settings")
        .by(Some(m.user.id))
        .detail(serde_json::json!({ "enabled": true, "title": f.title, "seal_node": node, "seal": seal }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(
        &flashes,
        "success",
        "已保存。之后办结的申请按此出具证明；已出具的证明不变。",
    );
    Ok(Redirect::to(&format!("/admin/services/{id}/document")).into_response())
}

const MAX_SEAL: usize = 1024 * 1024;

/// 上传印章: a PNG for the service's department, by someone who manages it.
pub(super) async fn upload_seal(
    State(state): State<AppState>,
    m: Manager,
    flashes: Flashes,
    Path(id): Path<i64>,
    mut mp: Multipart,
) -> AppResult<Response> {
    let dept: i64 = sqlx::query_scalar("SELECT department_id FROM services WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db)
        .await?
        .ok_or(AppError::NotFound)?;
    if !m.all && !m.departments.contains(&dept) {
        return Err(AppError::Forbidden("只能上传本部门的印章"));
    }
    let (mut name, mut png) = (String::new(), Vec::new());
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|_| AppError::BadRequest("上传的内容无法读取"))?
    {
        match field.name() {
            Some("name") => name = field.text().await.unwrap_or_default().trim().to_owned(),
            Some("seal") => {
                png = field
                    .bytes()
                    .await
                    .map_err(|_| AppError::PayloadTooLarge("印章图片不能超过 1 MB"))?
                    .to_vec()
            }
            _ => {}
        }
    }
    let back = Redirect::to(&format!("/admin/services/{id}/document")).into_response();
    if name.is_empty() || name.chars().count() > 40 {
        flash(&flashes, "error", "请填写印章名称（40 字以内）。");
        return Ok(back);
    }
    if png.len() > MAX_SEAL
        || infer::get(&png).map(|t| t.mime_type()) != Some("image/png")
        || krilla::image::Image::from_png(png.clone().into(), true).is_err()
    {
        flash(
            &flashes,
            "error",
            "印章须为 1 MB 以内的 PNG 图片（透明背景最佳）。",
        );
        return Ok(back);
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let seal: i64 = sqlx::query_scalar(
        "INSERT INTO seals (department_id, name, png, uploaded_by, uploaded_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(dept)
    .bind(&name)
    .bind(&png)
    .bind(m.user.id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    Entry::about(format!("seal:{seal}"), "seal.upload")
        .by(Some(m.user.id))
        .detail(serde_json::json!({ "name": name, "department": dept, "bytes": png.len() }))
        .record(&mut *tx, now)
        .await?;
    tx.commit().await?;
    flash(
        &flashes,
        "success",
        format!("已上传印章“{name}”，可在下方选用。"),
    );
    Ok(back)
}
