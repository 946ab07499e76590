//! The actions on a list of fields (or a sub-table's columns): add, 上移 / 下移, delete,
//! and a new order of keys (the drag and drop). Each saves the form at the revision the
//! page showed; a refusal shows the page again with the reason.

use std::{borrow::Cow, net::IpAddr};

use axum::{
    Form, Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde_json::json;

use super::{
    designer, editor,
    host::{Designer, Unsaved},
    input::Posted,
    refs, view,
};
use crate::{
    error::{AppError, AppResult, ErrorPage},
    forms::{Field, FieldKind, check, input::NUL_MESSAGE},
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::ClientIp,
    },
    workflow::model::Definition,
};

/// Which list an action changes: the form's fields, or one sub-table's columns.
enum Scope {
    Form,
    Columns(String),
}

/// A list action done: the flash, and where to go.
struct Done {
    flash: String,
    to: String,
}

/// Why a list action was not done.
enum Refused {
    /// Stale, or a form that no longer changes.
    Unsaved(Unsaved),
    Gone(Cow<'static, str>),
    Bad(Cow<'static, str>),
}

impl Refused {
    fn status(&self) -> StatusCode {
        match self {
            Refused::Unsaved(_) => StatusCode::CONFLICT,
            Refused::Gone(_) => StatusCode::NOT_FOUND,
            Refused::Bad(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn message(&self) -> String {
        match self {
            Refused::Unsaved(u) => u.message().to_owned(),
            Refused::Gone(m) | Refused::Bad(m) => m.to_string(),
        }
    }

    /// The message as the error pages take it (those with a variable part say less).
    fn page_message(&self) -> &'static str {
        match self {
            Refused::Unsaved(u) => u.message(),
            Refused::Gone(Cow::Borrowed(m)) | Refused::Bad(Cow::Borrowed(m)) => m,
            _ => "无法完成该操作，请刷新后再试。",
        }
    }
}

const STALE: Refused = Refused::Unsaved(Unsaved::Stale);

/// Applies `act` to the list `scope` names in the form at the posted revision and saves
/// it. `act` is also given the service's workflow (a 填报任务 has none).
async fn list_action(
    state: &AppState,
    d: &Designer,
    ip: Option<IpAddr>,
    scope: &Scope,
    posted: &Posted,
    act: impl FnOnce(&mut Vec<Field>, Option<&Definition>) -> Result<Done, Refused>,
) -> AppResult<Result<(Done, i32), Refused>> {
    if posted.has_nul() {
        return Err(AppError::BadRequest(NUL_MESSAGE));
    }
    let mut copy = d.host.load(state).await?;
    if let Some(why) = copy.frozen {
        return Ok(Err(Refused::Unsaved(Unsaved::Frozen(why))));
    }
    if posted.revision() != Ok(copy.revision) {
        return Ok(Err(STALE));
    }
    let list = match scope {
        Scope::Form => &mut copy.form.fields,
        Scope::Columns(key) => match copy
            .form
            .fields
            .iter_mut()
            .find(|f| &f.key == key && f.kind == FieldKind::Table)
        {
            Some(t) => &mut t.columns,
            None => return Ok(Err(Refused::Gone("没有这个子表，可能已被删除。".into()))),
        },
    };
    let done = match act(list, copy.workflow.as_ref()) {
        Ok(done) => done,
        Err(r) => return Ok(Err(r)),
    };
    Ok(d.host
        .save(state, &copy, d.user.id, ip)
        .await?
        .map(|revision| (done, revision))
        .map_err(Refused::Unsaved))
}

/// A list action's answer: a redirect with a flash, or the page again with the reason.
async fn answer(
    state: &AppState,
    d: &Designer,
    page: Page,
    flashes: &Flashes,
    scope: &Scope,
    result: Result<(Done, i32), Refused>,
) -> AppResult<Response> {
    match result {
        Ok((done, _)) => {
            flash(flashes, "success", done.flash);
            Ok(Redirect::to(&done.to).into_response())
        }
        Err(r) => {
            let status = r.status();
            let message = Some(r.message());
            match scope {
                Scope::Form => {
                    Ok((status, designer(state, d, page, false, message).await?).into_response())
                }
                Scope::Columns(key) => {
                    let t = editor::render(
                        state,
                        d,
                        page.clone(),
                        key,
                        None,
                        None,
                        message.clone(),
                        false,
                    )
                    .await?;
                    match t {
                        Some(t) => Ok((status, t).into_response()),
                        None => Ok((status, designer(state, d, page, false, message).await?)
                            .into_response()),
                    }
                }
            }
        }
    }
}

fn index(list: &[Field], key: &str, what: &str) -> Result<usize, Refused> {
    list.iter()
        .position(|f| f.key == key)
        .ok_or_else(|| Refused::Gone(format!("没有这个{what}，可能已被删除。").into()))
}

fn named(f: &Field) -> String {
    if f.label.trim().is_empty() {
        f.key.clone()
    } else {
        format!("“{}”", f.label)
    }
}

fn new_field(kind: FieldKind, key: String) -> Field {
    let mut f: Field =
        serde_json::from_value(json!({ "key": key, "type": kind.code(), "label": kind.label() }))
            .expect("a new field");
    if kind.has_options() {
        f.options = vec!["选项1".into(), "选项2".into()];
    }
    f
}

/// `field_3`: the first free `{prefix}_{n}` from the list's length on.
fn free_key(list: &[Field], prefix: &str) -> String {
    (list.len() + 1..)
        .map(|n| format!("{prefix}_{n}"))
        .find(|k| !list.iter().any(|f| &f.key == k))
        .expect("a free key")
}

fn add(list: &mut Vec<Field>, posted: &Posted, column: bool) -> Result<(usize, Field), Refused> {
    let kind = FieldKind::from_code(posted.get("kind"))
        .ok_or_else(|| Refused::Bad("请选择字段类型。".into()))?;
    if column && !kind.column_allowed() {
        return Err(Refused::Bad(
            format!("子表的列不能是{}。", kind.label()).into(),
        ));
    }
    let (max, what) = if column {
        (check::MAX_COLUMNS, "子表最多 30 列。")
    } else {
        (check::MAX_FIELDS, "表单最多 200 个字段。")
    };
    if list.len() >= max {
        return Err(Refused::Bad(what.into()));
    }
    let at = match posted.get("after") {
        "" => list.len(),
        after => list
            .iter()
            .position(|f| f.key == after)
            .map_or(list.len(), |i| i + 1),
    };
    let f = new_field(kind, free_key(list, if column { "col" } else { "field" }));
    list.insert(at, f.clone());
    Ok((at, f))
}

fn move_in(list: &mut [Field], key: &str, posted: &Posted, what: &str) -> Result<String, Refused> {
    let i = index(list, key, what)?;
    let j = match posted.get("dir") {
        "up" => i.checked_sub(1),
        "down" => Some(i + 1).filter(|j| *j < list.len()),
        _ => return Err(Refused::Bad("无效的移动方向。".into())),
    };
    let end = if posted.get("dir") == "up" {
        "前面"
    } else {
        "后面"
    };
    let j = j.ok_or_else(|| Refused::Bad(format!("该{what}已在最{end}。").into()))?;
    list.swap(i, j);
    Ok(named(&list[j]))
}

/// The list in the posted order of keys, which must be exactly the list's keys.
fn reorder(list: &mut Vec<Field>, posted: &Posted) -> Result<(), Refused> {
    let keys = posted.all("key");
    let mut want: Vec<&str> = keys.clone();
    let mut have: Vec<&str> = list.iter().map(|f| f.key.as_str()).collect();
    want.sort_unstable();
    have.sort_unstable();
    if want != have {
        return Err(Refused::Bad(
            "提交的字段与草稿中的字段不一致，请刷新后再试。".into(),
        ));
    }
    let mut rest = std::mem::take(list);
    for k in keys {
        let i = rest.iter().position(|f| f.key == k).expect("checked above");
        list.push(rest.remove(i));
    }
    Ok(())
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// `POST …/form/fields`: a new field of the posted type, at the end or after `after`;
/// then its editor.
pub(super) async fn add_field(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let posted = Posted(posted);
    let r = list_action(&state, &d, ip, &Scope::Form, &posted, |list, _| {
        let (_, f) = add(list, &posted, false)?;
        Ok(Done {
            flash: format!("已添加{}字段，请完成设置。", f.kind.label()),
            to: d.host.field_url(&f.key),
        })
    })
    .await?;
    answer(&state, &d, page, &flashes, &Scope::Form, r).await
}

/// `POST …/form/order`: the fields in the posted order of keys (the drag and drop of
/// `form-designer.js`, which asks for JSON: the new revision, or the reason).
#[allow(clippy::too_many_arguments)]
pub(super) async fn order_fields(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let posted = Posted(posted);
    let r = list_action(&state, &d, ip, &Scope::Form, &posted, |list, _| {
        reorder(list, &posted)?;
        Ok(Done {
            flash: "已调整字段顺序。".into(),
            to: d.host.url(),
        })
    })
    .await?;
    ordered(&state, &d, page, &flashes, &headers, &Scope::Form, r).await
}

#[allow(clippy::too_many_arguments)]
async fn ordered(
    state: &AppState,
    d: &Designer,
    page: Page,
    flashes: &Flashes,
    headers: &HeaderMap,
    scope: &Scope,
    r: Result<(Done, i32), Refused>,
) -> AppResult<Response> {
    if !wants_json(headers) {
        return answer(state, d, page, flashes, scope, r).await;
    }
    Ok(match r {
        Ok((done, revision)) => {
            Json(json!({ "revision": revision, "message": done.flash })).into_response()
        }
        // Refusals go through the error pages (which replace any other body) with their
        // message; the script reads it from there.
        Err(r) => ErrorPage::response(r.status(), r.page_message()),
    })
}

/// `POST …/form/fields/{key}/move`: 上移 / 下移 (`dir`).
pub(super) async fn move_field(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path((_, key)): Path<(i64, String)>,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let posted = Posted(posted);
    let r = list_action(&state, &d, ip, &Scope::Form, &posted, |list, _| {
        let name = move_in(list, &key, &posted, "字段")?;
        Ok(Done {
            flash: format!("已移动字段{name}。"),
            to: format!("{}#{}", d.host.url(), view::anchor(&key)),
        })
    })
    .await?;
    answer(&state, &d, page, &flashes, &Scope::Form, r).await
}

/// `POST …/form/fields/{key}/delete`: the field goes; what the workflow still says about
/// it is named (the problems list shows it until the workflow designer changes it).
pub(super) async fn delete_field(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path((_, key)): Path<(i64, String)>,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let posted = Posted(posted);
    let r = list_action(&state, &d, ip, &Scope::Form, &posted, |list, workflow| {
        let i = index(list, &key, "字段")?;
        let f = list.remove(i);
        let mut flash = format!("已删除字段{}。", named(&f));
        let used = workflow.map_or_else(Vec::new, |w| refs::references(w, &f.key));
        if !used.is_empty() {
            flash.push_str(&format!(
                "流程中仍引用了它（{}），请在“流程设计”中修改。",
                used.join("、")
            ));
        }
        Ok(Done {
            flash,
            to: d.host.url(),
        })
    })
    .await?;
    answer(&state, &d, page, &flashes, &Scope::Form, r).await
}

/// `POST …/form/fields/{key}/columns`: a new column of the posted type; then its editor.
pub(super) async fn add_column(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path((_, key)): Path<(i64, String)>,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let posted = Posted(posted);
    let scope = Scope::Columns(key.clone());
    let r = list_action(&state, &d, ip, &scope, &posted, |list, _| {
        let (_, c) = add(list, &posted, true)?;
        Ok(Done {
            flash: format!("已添加{}列，请完成设置。", c.kind.label()),
            to: d.host.column_url(&key, &c.key),
        })
    })
    .await?;
    answer(&state, &d, page, &flashes, &scope, r).await
}

/// `POST …/form/fields/{key}/column-order`: the columns in the posted order of keys.
#[allow(clippy::too_many_arguments)]
pub(super) async fn order_columns(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((_, key)): Path<(i64, String)>,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let posted = Posted(posted);
    let scope = Scope::Columns(key.clone());
    let r = list_action(&state, &d, ip, &scope, &posted, |list, _| {
        reorder(list, &posted)?;
        Ok(Done {
            flash: "已调整列的顺序。".into(),
            to: d.host.field_url(&key),
        })
    })
    .await?;
    ordered(&state, &d, page, &flashes, &headers, &scope, r).await
}

/// `POST …/columns/{col}/move`
pub(super) async fn move_column(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path((_, key, col)): Path<(i64, String, String)>,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let posted = Posted(posted);
    let scope = Scope::Columns(key.clone());
    let r = list_action(&state, &d, ip, &scope, &posted, |list, _| {
        let name = move_in(list, &col, &posted, "列")?;
        Ok(Done {
            flash: format!("已移动列{name}。"),
            to: format!("{}#{}", d.host.field_url(&key), view::anchor(&col)),
        })
    })
    .await?;
    answer(&state, &d, page, &flashes, &scope, r).await
}

/// `POST …/columns/{col}/delete`
pub(super) async fn delete_column(
    State(state): State<AppState>,
    d: Designer,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path((_, key, col)): Path<(i64, String, String)>,
    Form(posted): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let posted = Posted(posted);
    let scope = Scope::Columns(key.clone());
    let r = list_action(&state, &d, ip, &scope, &posted, |list, _| {
        let i = index(list, &col, "列")?;
        let c = list.remove(i);
        Ok(Done {
            flash: format!("已删除列{}。", named(&c)),
            to: d.host.field_url(&key),
        })
    })
    .await?;
    answer(&state, &d, page, &flashes, &scope, r).await
}
