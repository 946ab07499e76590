//! 流程设计 (`/admin/services/{id}/workflow`): the diagram of the working copy, redrawn
//! after every change, its problems, and its nodes as cards — 编辑 opens a node's editor
//! in place, 在此后插入 / 删除 / 下一节点 change the structure. Every change is one POST
//! that saves the working copy at the revision the page showed, then the page again: no
//! script needed. 试算 (`…/workflow/trial`) is in `trial.rs`.

mod edit;
mod editor;
mod trial;
mod view;

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

pub(super) use trial::{trial_page, trial_post};

use self::{
    edit::{Edge, NewKind},
    editor::NodeForm,
    view::{EditorView, Names, NodeCard},
};
use super::{access::Manager, head::ServiceHead};
use crate::{
    error::{AppError, AppResult},
    forms::input::NUL_MESSAGE,
    org::{self, people},
    web::{
        AppState,
        page::{Flashes, Page, flash},
        user::ClientIp,
    },
    workflow::{
        diagram,
        model::{ApproverRule, Definition, Fallback, NodeKind},
        usecase::versions::{self as uc, VersionError, WorkingCopy},
    },
};

pub const STALE: &str = "草稿已被他人修改，请刷新后再试";

#[derive(Template, WebTemplate)]
#[template(path = "admin/workflow_designer.html")]
pub struct DesignerTemplate {
    pub page: Page,
    pub head: ServiceHead,
    /// The revision the page shows ("" when nothing is saved yet).
    pub revision: String,
    /// What the page shows: the draft, or the current version.
    pub source: String,
    /// Our own SVG (escaped inside): the one value printed with `|safe`.
    pub diagram: String,
    pub problems: Vec<String>,
    pub nodes: Vec<NodeCard>,
    /// (id, 名称（id）) of every node, for the selects.
    pub targets: Vec<(String, String)>,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub editor: Option<EditorView>,
    /// Why the last change was refused.
    pub message: Option<String>,
    pub script: String,
}

impl DesignerTemplate {
    fn is_open(&self, id: &str) -> bool {
        self.editor.as_ref().is_some_and(|e| e.f.id == id)
    }
}

#[derive(Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    node: Option<String>,
}

/// Roles and the people a definition names, for its cards and checks.
async fn names(state: &AppState, def: &Definition, extra: &[String]) -> AppResult<Names> {
    let mut accounts: Vec<String> = extra.to_vec();
    for n in &def.nodes {
        match &n.kind {
            NodeKind::Approval {
                approvers,
                fallback,
                ..
            } => {
                if let ApproverRule::Users { accounts: a } = approvers {
                    accounts.extend(a.iter().cloned());
                }
                if let Fallback::User { account } = fallback {
                    accounts.push(account.clone());
                }
            }
            NodeKind::Cc {
                approvers: ApproverRule::Users { accounts: a },
                ..
            } => accounts.extend(a.iter().cloned()),
            _ => {}
        }
    }
    accounts.sort();
    accounts.dedup();
    Ok(Names {
        roles: org::roles(&state.db)
            .await?
            .into_iter()
            .map(|r| (r.code, r.name))
            .collect(),
        people: people::by_accounts(&state.db, &accounts)
            .await?
            .into_iter()
            .map(|p| (p.account, (p.label, p.active)))
            .collect(),
    })
}

async fn working_copy(state: &AppState, id: i64) -> AppResult<WorkingCopy> {
    match uc::working_copy(&state.db, id).await {
        Ok(wc) => Ok(wc),
        // A stored draft this version of the portal cannot read: nothing to edit here.
        Err(VersionError::Invalid(_)) => Err(AppError::BadRequest(
            "草稿无法读取，请在“版本”中放弃草稿后重试",
        )),
        Err(e) => Err(e.into()),
    }
}

/// The page for `wc`, with `open` as the open editor (as typed, with its messages).
async fn render(
    state: &AppState,
    page: Page,
    id: i64,
    wc: &WorkingCopy,
    open: Option<(NodeForm, BTreeMap<String, String>)>,
    message: Option<String>,
) -> AppResult<DesignerTemplate> {
    let head = ServiceHead::load(&state.db, id, "workflow").await?;
    let def = &wc.workflow;
    let names = names(state, def, &[]).await?;
    let mut problems = uc::problems(&wc.form, def);
    problems.extend(uc::problems_in_db(&state.db, id, def).await?);
    let tz = state.settings.time_zone;
    let source = match (&wc.saved, wc.base_number) {
        (Some(d), _) => format!(
            "草稿（修订 {}）：{} 于 {} 保存",
            d.revision,
            d.updated_by.clone().unwrap_or_default(),
            d.updated_at.with_timezone(&tz).format("%Y-%m-%d %H:%M")
        ),
        (None, Some(n)) => format!("当前版本 {n}（修改后保存为草稿，发布前不影响办理）"),
        (None, None) => "尚未发布（修改后保存为草稿）".into(),
    };
    Ok(DesignerTemplate {
        revision: wc.revision.map(|r| r.to_string()).unwrap_or_default(),
        source,
        // In the words of the form and the roles, as 流程图 on the application page.
        diagram: diagram::Diagram::new(def)
            .form(Some(&wc.form))
            .roles(&names.roles)
            .svg(),
        nodes: def
            .nodes
            .iter()
            .map(|n| view::card(def, n, &wc.form, &names, &problems))
            .collect(),
        targets: def
            .nodes
            .iter()
            .map(|n| (n.id.clone(), view::target_label(def, &n.id)))
            .collect(),
        kinds: NewKind::ALL.to_vec(),
        editor: open.map(|(f, e)| view::editor(f, e, &wc.form, &names)),
        problems,
        message,
        script: state.assets.url("js/workflow-designer.js"),
        head,
        page,
    })
}

/// `GET /admin/services/{id}/workflow` (`?node=` opens that node's editor).
pub(super) async fn page(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> AppResult<DesignerTemplate> {
    m.service(&state.db, id).await?;
    let wc = working_copy(&state, id).await?;
    let open = q
        .node
        .as_deref()
        .and_then(|n| wc.workflow.node(n))
        .map(|n| (NodeForm::from_node(n, &wc.workflow), BTreeMap::new()));
    render(&state, page, id, &wc, open, None).await
}

fn value<'a>(pairs: &'a [(String, String)], k: &str) -> &'a str {
    pairs
        .iter()
        .find(|(n, _)| n == k)
        .map_or("", |(_, v)| v.as_str())
}

/// The most a designer post may carry (a node editor with every field rule of a large
/// form is a few kilobytes).
const MAX_PAIRS: usize = 2000;

/// `POST /admin/services/{id}/workflow`: one change (`op`), saved at the posted revision.
pub(super) async fn post(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    flashes: Flashes,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    m.service(&state.db, id).await?;
    if pairs
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(AppError::BadRequest(NUL_MESSAGE));
    }
    if pairs.len() > MAX_PAIRS || pairs.iter().any(|(k, v)| k.len() > 200 || v.len() > 8000) {
        return Err(AppError::BadRequest("提交的内容过多，请返回重试。"));
    }
    let wc = working_copy(&state, id).await?;
    let seen: Option<i32> = value(&pairs, "revision").parse().ok();
    let stale = seen != wc.revision;
    let back = format!("/admin/services/{id}/workflow");
    let refuse = async |status: StatusCode,
                        open: Option<(NodeForm, BTreeMap<String, String>)>,
                        message: String|
           -> AppResult<Response> {
        Ok((
            status,
            render(&state, page.clone(), id, &wc, open, Some(message)).await?,
        )
            .into_response())
    };
    let mut def = wc.workflow.clone();
    let node_id = value(&pairs, "node").to_owned();
    let (flash_text, open_after): (String, Option<String>) = match value(&pairs, "op") {
        "node" => {
            let Some(n) = wc.workflow.node(&node_id) else {
                return refuse(StatusCode::CONFLICT, None, STALE.into()).await;
            };
            let mut f = NodeForm::from_post(n, &pairs);
            let button = f.apply_button(value(&pairs, "act"));
            if stale {
                return refuse(
                    StatusCode::CONFLICT,
                    Some((f, BTreeMap::new())),
                    STALE.into(),
                )
                .await;
            }
            // 添加分支, 删除条件 …: the editor again, changed; nothing is saved until 保存
            // (a new branch has no condition yet).
            if button {
                let view = render(
                    &state,
                    page.clone(),
                    id,
                    &wc,
                    Some((f, BTreeMap::new())),
                    None,
                );
                return Ok(view.await?.into_response());
            }
            let roles: Vec<String> = org::roles(&state.db)
                .await?
                .into_iter()
                .map(|r| r.code)
                .collect();
            let mut errors = match f.build(&def, &wc.form, &roles) {
                Ok((node, applicant_fields)) => {
                    if let Some(slot) = def.nodes.iter_mut().find(|x| x.id == node.id) {
                        *slot = node;
                    }
                    if let Some(a) = applicant_fields {
                        def.applicant_fields = a;
                    }
                    BTreeMap::new()
                }
                Err(e) => e,
            };
            // 指定人员 must be people who can act.
            let wanted = f.accounts();
            if !wanted.is_empty() {
                let list: Vec<String> = wanted.iter().map(|(_, a)| a.clone()).collect();
                let found = people::by_accounts(&state.db, &list).await?;
                for (key, account) in &wanted {
                    let message = match found.iter().find(|p| &p.account == account) {
                        None => format!("没有学号/工号为 {account} 的人员"),
                        Some(p) if !p.active => {
                            format!("{} 不是可用账号（未激活或已停用）", p.label)
                        }
                        Some(_) => continue,
                    };
                    errors.entry((*key).to_owned()).or_insert(message);
                }
            }
            if !errors.is_empty() {
                return refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some((f, errors)),
                    "未保存：请修改标出的内容".into(),
                )
                .await;
            }
            let name = def
                .node(&node_id)
                .map(|n| n.name.clone())
                .unwrap_or_default();
            match save(&state, &m, ip, id, &wc, &def).await? {
                Ok(()) => {}
                Err(()) => {
                    return refuse(
                        StatusCode::CONFLICT,
                        Some((f, BTreeMap::new())),
                        STALE.into(),
                    )
                    .await;
                }
            }
            (format!("已保存节点“{name}”。"), None)
        }
        op @ ("insert" | "delete" | "next") => {
            if stale {
                return refuse(StatusCode::CONFLICT, None, STALE.into()).await;
            }
            let done = match op {
                "insert" => {
                    let kind = NewKind::parse(value(&pairs, "type"));
                    let edge = Edge::parse(value(&pairs, "edge"));
                    match (kind, edge) {
                        (Some(k), Some(e)) => edit::insert(&mut def, &node_id, e, k)
                            .map(|new| ("已插入新节点，请设置它的内容。".to_owned(), Some(new))),
                        _ => Err("请选择要插入的节点类型".into()),
                    }
                }
                "delete" => {
                    let name = def.node(&node_id).map(view::who).unwrap_or_default();
                    edit::delete(&mut def, &node_id).map(|()| (format!("已删除{name}。"), None))
                }
                _ => edit::set_edge(&mut def, &node_id, Edge::Next, value(&pairs, "to"))
                    .map(|()| ("已改接下一节点。".to_owned(), None)),
            };
            let (text, open) = match done {
                Ok(x) => x,
                Err(message) => {
                    return refuse(StatusCode::UNPROCESSABLE_ENTITY, None, message).await;
                }
            };
            if save(&state, &m, ip, id, &wc, &def).await?.is_err() {
                return refuse(StatusCode::CONFLICT, None, STALE.into()).await;
            }
            (text, open)
        }
        _ => return Err(AppError::BadRequest("无法识别的操作")),
    };
    if !flash_text.is_empty() {
        flash(&flashes, "success", flash_text);
    }
    let to = match open_after {
        Some(n) => format!("{back}?node={}#node-{n}", crate::web::user::urlencode(&n)),
        None if !node_id.is_empty()
            && wc.workflow.node(&node_id).is_some()
            && def.node(&node_id).is_some() =>
        {
            format!("{back}#node-{node_id}")
        }
        None => back,
    };
    Ok(Redirect::to(&to).into_response())
}

/// Saves `def` with the working copy's form at the revision it was read; `Err(())` when
/// someone saved in between.
async fn save(
    state: &AppState,
    m: &Manager,
    ip: Option<std::net::IpAddr>,
    id: i64,
    wc: &WorkingCopy,
    def: &Definition,
) -> AppResult<Result<(), ()>> {
    match uc::save(
        &state.db,
        id,
        &wc.form,
        def,
        wc.base_number,
        wc.revision,
        m.id(),
        ip,
        state.now(),
    )
    .await
    {
        Ok(_) => Ok(Ok(())),
        Err(VersionError::Stale) => Ok(Err(())),
        Err(e) => Err(e.into()),
    }
}
