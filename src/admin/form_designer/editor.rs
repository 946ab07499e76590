//! The field editor (`…/form/fields/{key}`) and the column editor of a sub-table
//! (`…/fields/{key}/columns/{col}`): one page, the inputs the type uses, a message next to
//! each input that is wrong (nothing saved then, everything typed kept), the live preview
//! with the field as typed (`…/preview`, posted by `form-designer.js`), and for a
//! sub-table its columns.

use std::net::IpAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use super::{
    PreviewQuery, designer,
    host::{Designer, HostHead, STALE},
    input::{self, FieldForm, InputErrors, Posted, Shown},
    refs, revision_text,
    view::{self, KindOption, Row},
};
use crate::{
    error::{AppError, AppResult},
    forms::{
        DateLimit, Field, FieldKind, FormSchema, PersonScope, check, input::NUL_MESSAGE,
        render::FieldView,
    },
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::ClientIp,
    },
};

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/form_designer_editor.html")]
pub struct EditorTemplate {
    pub page: Page,
    pub host: HostHead,
    pub js: String,
    pub revision: String,
    pub title: String,
    /// Where the editor posts (its own URL).
    pub action: String,
    /// The editor's address (the page is also shown after a refused action elsewhere).
    pub here: String,
    pub back: String,
    pub back_label: &'static str,
    pub form: FieldForm,
    pub errors: InputErrors,
    pub show: Shown,
    pub kinds: Vec<KindOption>,
    pub autofills: Vec<Choice>,
    pub roles: Vec<Choice>,
    /// Person fields: the scopes (教职工, 学生, 学院), offered in the same list as roles.
    pub scopes: Vec<Choice>,
    /// Dates: the 日期限制 choices.
    pub date_limits: Vec<Choice>,
    /// A date field: the form's 身份证号 fields its birth date may be checked against.
    pub id_cards: Vec<Choice>,
    pub column: bool,
    /// Where the workflow refers to this field.
    pub refs: Vec<String>,
    /// A sub-table's columns.
    pub is_table: bool,
    pub rows: Vec<Row>,
    pub order_url: String,
    pub columns_url: String,
    pub column_kinds: Vec<KindOption>,
    pub column_problems: Vec<String>,
    pub preview_url: String,
    /// The preview.
    pub fields: Vec<FieldView>,
    pub phone: bool,
    pub error: Option<String>,
}

impl EditorTemplate {
    /// The messages next to input `name` (`""`: those about settings this type does not
    /// show, listed at the top).
    pub fn err(&self, name: &str) -> &[String] {
        self.errors.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn bad(&self, name: &str) -> bool {
        !self.err(name).is_empty()
    }
}

/// The preview alone, for `form-designer.js` to put in place.
#[derive(Template, WebTemplate)]
#[template(path = "admin/form_designer_preview.html")]
pub struct PreviewTemplate {
    pub fields: Vec<FieldView>,
}

fn find<'a>(form: &'a FormSchema, key: &str, col: Option<&str>) -> Option<&'a Field> {
    let f = form.fields.iter().find(|f| f.key == key)?;
    match col {
        None => Some(f),
        Some(c) if f.kind == FieldKind::Table => f.columns.iter().find(|x| x.key == c),
        Some(_) => None,
    }
}

fn replace(form: &mut FormSchema, key: &str, col: Option<&str>, new: Field) {
    let Some(f) = form.fields.iter_mut().find(|f| f.key == key) else {
        return;
    };
    match col {
        None => *f = new,
        Some(c) => {
            if let Some(x) = f.columns.iter_mut().find(|x| x.key == c) {
                *x = new;
            }
        }
    }
}

/// The other fields (or columns) of the list: key and label.
fn siblings<'a>(form: &'a FormSchema, key: &str, col: Option<&str>) -> Vec<(&'a str, &'a str)> {
    let (list, me) = match col {
        None => (&form.fields, key),
        Some(c) => match form.fields.iter().find(|f| f.key == key) {
            Some(t) => (&t.columns, c),
            None => return vec![],
        },
    };
    let mut out: Vec<(&str, &str)> = list
        .iter()
        .map(|f| (f.key.as_str(), f.label.as_str()))
        .collect();
    // The field itself once (a duplicate of its key elsewhere still counts).
    if let Some(i) = out.iter().position(|(k, _)| *k == me) {
        out.remove(i);
    }
    out
}

/// The keys of the form's 身份证号 fields.
fn id_cards(form: &FormSchema) -> Vec<&str> {
    form.fields
        .iter()
        .filter(|f| f.kind == FieldKind::IdCard)
        .map(|f| f.key.as_str())
        .collect()
}

/// The editor page of field `key` (or its column `col`), as saved or as typed. `None`
/// when there is no such field.
#[allow(clippy::too_many_arguments)]
pub(super) async fn render(
    state: &AppState,
    d: &Designer,
    page: Page,
    key: &str,
    col: Option<&str>,
    typed: Option<(FieldForm, InputErrors)>,
    error: Option<String>,
    phone: bool,
) -> AppResult<Option<EditorTemplate>> {
    let host = d.host;
    let head = host.head(state).await?;
    let wc = host.load(state).await?;
    let Some(base) = find(&wc.form, key, col) else {
        return Ok(None);
    };
    let roles = view::roles(&state.db).await?;
    let codes: Vec<String> = roles.iter().map(|(c, _)| c.clone()).collect();
    let others = siblings(&wc.form, key, col);
    let ids = id_cards(&wc.form);
    let column = col.is_some();
    let (form, errors) = match typed {
        Some(t) => t,
        None => {
            // As saved, with whatever is wrong with it already shown.
            let typed = FieldForm::of(base);
            let (_, e) = input::build(&typed, base, column, &others, &codes, &ids);
            (typed, e)
        }
    };
    let (as_typed, _) = input::build(&form, base, column, &others, &codes, &ids);
    let kind = as_typed.kind;
    let mut previewed = wc.form.clone();
    replace(&mut previewed, key, col, as_typed);
    let fields = view::preview(&state.db, &d.user, &previewed, wc.workflow.as_ref()).await?;
    let table = wc.form.fields.iter().find(|f| f.key == key);
    let named = |f: &Field| {
        if f.label.trim().is_empty() {
            format!("（{}）", f.key)
        } else {
            format!("“{}”（{}）", f.label, f.key)
        }
    };
    let title = match (col, table) {
        (Some(_), Some(t)) => format!("编辑子表{}的列{}", named(t), named(base)),
        _ => format!("编辑字段{}", named(base)),
    };
    let is_table = !column && base.kind == FieldKind::Table;
    let mut column_problems = Vec::new();
    if is_table {
        if base.columns.is_empty() {
            column_problems.push("子表还没有列：请在下方添加至少一列。".to_owned());
        }
        column_problems.extend(check::columns(base));
    }
    let editor = match col {
        None => host.field_url(key),
        Some(c) => host.column_url(key, c),
    };
    Ok(Some(EditorTemplate {
        js: state.assets.url("js/form-designer.js"),
        revision: revision_text(wc.revision),
        title,
        back: if column {
            host.field_url(key)
        } else {
            host.url()
        },
        back_label: if column {
            "返回子表"
        } else {
            "返回表单设计"
        },
        show: Shown::of(kind, column),
        kinds: view::kind_choices(kind, column),
        autofills: check::AUTOFILL
            .iter()
            .map(|(v, l)| Choice {
                value: (*v).to_owned(),
                label: format!("{l}（{v}）"),
                selected: form.autofill == *v,
            })
            .collect(),
        roles: roles
            .into_iter()
            .map(|(v, l)| Choice {
                selected: form.role == v,
                value: v,
                label: l,
            })
            .collect(),
        scopes: PersonScope::ALL
            .into_iter()
            .filter(|sc| *sc != PersonScope::All)
            .map(|sc| {
                let value = format!("{}{}", input::SCOPE, sc.code());
                Choice {
                    selected: form.role == value,
                    value,
                    label: format!("仅限{}", sc.label()),
                }
            })
            .collect(),
        date_limits: DateLimit::ALL
            .into_iter()
            .map(|d| Choice {
                value: d.code().to_owned(),
                label: d.label().to_owned(),
                selected: form.date_limit == d.code(),
            })
            .collect(),
        id_cards: wc
            .form
            .fields
            .iter()
            .filter(|f| f.kind == FieldKind::IdCard)
            .map(|f| Choice {
                value: f.key.clone(),
                label: format!("{}（{}）", f.label, f.key),
                selected: form.birth_of == f.key,
            })
            .collect(),
        column,
        refs: match &wc.workflow {
            Some(w) if !column => refs::references(w, key),
            _ => vec![],
        },
        is_table,
        rows: if is_table {
            view::rows(&base.columns, true, |c| host.column_url(key, c))
        } else {
            vec![]
        },
        order_url: format!("{}/column-order", host.field_url(key)),
        columns_url: format!("{}/columns", host.field_url(key)),
        column_kinds: FieldKind::ALL
            .into_iter()
            .filter(|k| k.column_allowed())
            .map(|k| KindOption {
                code: k.code(),
                label: k.label(),
                selected: false,
            })
            .collect(),
        column_problems,
        preview_url: format!("{editor}/preview"),
        here: editor.clone(),
        action: editor,
        fields,
        phone,
        error: error.or_else(|| wc.frozen.map(str::to_owned)),
        form,
        errors,
        host: head,
        page,
    }))
}

/// `GET …/form/fields/{key}`
pub(super) async fn edit_field(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    Path((_, key)): Path<(i64, String)>,
    Query(q): Query<PreviewQuery>,
) -> AppResult<EditorTemplate> {
    render(&state, &d, page, &key, None, None, None, q.phone())
        .await?
        .ok_or(AppError::NotFound)
}

/// `GET …/form/fields/{key}/columns/{col}`
pub(super) async fn edit_column(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    Path((_, key, col)): Path<(i64, String, String)>,
    Query(q): Query<PreviewQuery>,
) -> AppResult<EditorTemplate> {
    render(&state, &d, page, &key, Some(&col), None, None, q.phone())
        .await?
        .ok_or(AppError::NotFound)
}

/// `POST …/form/fields/{key}`
pub(super) async fn save_field(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path((_, key)): Path<(i64, String)>,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    save(&state, &d, page, &flashes, ip, &key, None, Posted(posted)).await
}

/// `POST …/form/fields/{key}/columns/{col}`
pub(super) async fn save_column(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path((_, key, col)): Path<(i64, String, String)>,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    save(
        &state,
        &d,
        page,
        &flashes,
        ip,
        &key,
        Some(&col),
        Posted(posted),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn save(
    state: &AppState,
    d: &Designer,
    page: Page,
    flashes: &Flashes,
    ip: Option<IpAddr>,
    key: &str,
    col: Option<&str>,
    posted: Posted,
) -> AppResult<Response> {
    if posted.has_nul() {
        return Err(AppError::BadRequest(NUL_MESSAGE));
    }
    let host = d.host;
    let typed = FieldForm::posted(&posted);
    let mut wc = host.load(state).await?;
    let stale = posted.revision() != Ok(wc.revision);
    let Some(base) = find(&wc.form, key, col).cloned() else {
        if stale || wc.frozen.is_some() {
            // Deleted by someone else meanwhile (or no longer to be changed): the list
            // as it is now.
            let why = wc.frozen.unwrap_or(STALE);
            let page = designer(state, d, page, false, Some(why.into())).await?;
            return Ok((StatusCode::CONFLICT, page).into_response());
        }
        return Err(AppError::NotFound);
    };
    let codes: Vec<String> = view::roles(&state.db)
        .await?
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let (field, errors) = {
        let others = siblings(&wc.form, key, col);
        input::build(
            &typed,
            &base,
            col.is_some(),
            &others,
            &codes,
            &id_cards(&wc.form),
        )
    };
    let again = |status: StatusCode,
                 typed: FieldForm,
                 errors: InputErrors,
                 error: Option<String>| async move {
        let t = render(
            state,
            d,
            page,
            key,
            col,
            Some((typed, errors)),
            error,
            false,
        )
        .await?
        .ok_or(AppError::NotFound)?;
        Ok::<_, AppError>((status, t).into_response())
    };
    if posted.get("intent") == "kind" {
        // 更换类型: the editor again with the new type's settings; nothing saved yet.
        let errors = errors.into_iter().filter(|(k, _)| *k == "kind").collect();
        return again(StatusCode::OK, typed, errors, None).await;
    }
    if let Some(why) = wc.frozen {
        return again(StatusCode::CONFLICT, typed, errors, Some(why.into())).await;
    }
    if stale {
        return again(StatusCode::CONFLICT, typed, errors, Some(STALE.into())).await;
    }
    if !errors.is_empty() {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            typed,
            errors,
            Some("未保存：请修改标出的内容。".into()),
        )
        .await;
    }
    let renamed = match &mut wc.workflow {
        Some(w) if col.is_none() && base.key != field.key => refs::rename(w, &base.key, &field.key),
        _ => 0,
    };
    replace(&mut wc.form, key, col, field.clone());
    if let Err(u) = host.save(state, &wc, d.user.id, ip).await? {
        return again(
            StatusCode::CONFLICT,
            typed,
            InputErrors::new(),
            Some(u.message().into()),
        )
        .await;
    }
    let what = if col.is_some() { "列" } else { "字段" };
    let mut text = format!("已保存{what}“{}”。", field.label);
    if base.key != field.key {
        text.push_str(&format!("标识已由 {} 改为 {}", base.key, field.key));
        if renamed > 0 {
            text.push_str(&format!("，流程中的 {renamed} 处引用已一并修改"));
        }
        text.push('。');
    }
    flash(flashes, "success", text);
    let to = match col {
        None => format!("{}#{}", host.url(), view::anchor(&field.key)),
        Some(_) => format!("{}#{}", host.field_url(key), view::anchor(&field.key)),
    };
    Ok(Redirect::to(&to).into_response())
}

/// `POST …/form/fields/{key}/preview`: the preview with the field as typed (not saved).
pub(super) async fn preview_field(
    State(state): State<AppState>,
    d: Designer,
    Path((_, key)): Path<(i64, String)>,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<PreviewTemplate> {
    preview(&state, &d, &key, None, Posted(posted)).await
}

/// `POST …/columns/{col}/preview`
pub(super) async fn preview_column(
    State(state): State<AppState>,
    d: Designer,
    Path((_, key, col)): Path<(i64, String, String)>,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<PreviewTemplate> {
    preview(&state, &d, &key, Some(&col), Posted(posted)).await
}

async fn preview(
    state: &AppState,
    d: &Designer,
    key: &str,
    col: Option<&str>,
    posted: Posted,
) -> AppResult<PreviewTemplate> {
    if posted.has_nul() {
        return Err(AppError::BadRequest(NUL_MESSAGE));
    }
    let wc = d.host.load(state).await?;
    let base = find(&wc.form, key, col).ok_or(AppError::NotFound)?;
    let (field, _) = input::build(
        &FieldForm::posted(&posted),
        base,
        col.is_some(),
        &[],
        &[],
        &id_cards(&wc.form),
    );
    let mut form = wc.form.clone();
    replace(&mut form, key, col, field);
    Ok(PreviewTemplate {
        fields: view::preview(&state.db, &d.user, &form, wc.workflow.as_ref()).await?,
    })
}
