//! 试算 (`/admin/services/{id}/workflow/trial`): pick a real person as the applicant,
//! fill in sample values (their form, pre-filled from their profile), and see the path
//! the application would take. Works on the working copy, else the current version;
//! writes nothing.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::working_copy;
use crate::{
    admin::{access::Manager, head::ServiceHead},
    error::{AppError, AppResult},
    forms::{input::NUL_MESSAGE, render::FieldView},
    web::{AppState, page::Page},
    workflow::usecase::{
        trial::{self, TrialView},
        versions::WorkingCopy,
    },
};

#[derive(Template, WebTemplate)]
#[template(path = "admin/workflow_designer_trial.html")]
pub struct TrialTemplate {
    pub page: Page,
    pub head: ServiceHead,
    /// What the trial runs on: the draft or the current version.
    pub source: String,
    /// As typed in the applicant box.
    pub applicant: String,
    /// 张三（S2024001）, once a person is chosen.
    pub chosen: Option<String>,
    pub applicant_error: Option<String>,
    pub fields: Vec<FieldView>,
    /// What the real form would refuse in the sample.
    pub refused: Vec<(String, String)>,
    pub result: Option<TrialView>,
}

fn source(wc: &WorkingCopy) -> String {
    match (wc.revision, wc.base_number) {
        (Some(r), _) => format!("草稿（修订 {r}）"),
        (None, Some(n)) => format!("当前版本 {n}"),
        (None, None) => "尚未保存的新流程".into(),
    }
}

#[derive(Deserialize)]
pub(in crate::admin) struct TrialQuery {
    #[serde(default)]
    applicant: String,
}

const UNKNOWN: &str = "没有找到这个人员：请输入可用账号的学号/工号，或从搜索结果中选择";

/// `GET …/workflow/trial` (`?applicant=` pre-fills the form for that person).
pub(in crate::admin) async fn trial_page(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    Path(id): Path<i64>,
    Query(q): Query<TrialQuery>,
) -> AppResult<Response> {
    m.service(&state.db, id).await?;
    let wc = working_copy(&state, id).await?;
    let typed: String = q.applicant.trim().chars().take(64).collect();
    let mut t = TrialTemplate {
        page,
        head: ServiceHead::load(&state.db, id, "workflow").await?,
        source: source(&wc),
        applicant: typed.clone(),
        chosen: None,
        applicant_error: None,
        fields: vec![],
        refused: vec![],
        result: None,
    };
    if typed.is_empty() {
        return Ok(t.into_response());
    }
    match trial::applicant(&state.db, &typed).await? {
        Some((person, label)) => {
            let s = trial::sample(
                &state.db,
                &wc.form,
                &wc.workflow,
                person,
                None,
                state.today(),
            )
            .await
            .map_err(AppError::Internal)?;
            t.fields = s.fields;
            t.chosen = Some(label);
            Ok(t.into_response())
        }
        None => {
            t.applicant_error = Some(UNKNOWN.into());
            Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response())
        }
    }
}

/// `POST …/workflow/trial`: runs it. Nothing is written, so nothing is audited.
pub(in crate::admin) async fn trial_post(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
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
    if pairs.len() > 5000 {
        return Err(AppError::BadRequest("提交的内容过多，请返回重试。"));
    }
    let wc = working_copy(&state, id).await?;
    let typed: String = super::value(&pairs, "applicant")
        .trim()
        .chars()
        .take(64)
        .collect();
    let mut t = TrialTemplate {
        page,
        head: ServiceHead::load(&state.db, id, "workflow").await?,
        source: source(&wc),
        applicant: typed.clone(),
        chosen: None,
        applicant_error: None,
        fields: vec![],
        refused: vec![],
        result: None,
    };
    let Some((person, label)) = trial::applicant(&state.db, &typed).await? else {
        t.applicant_error = Some(UNKNOWN.into());
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, t).into_response());
    };
    let s = trial::sample(
        &state.db,
        &wc.form,
        &wc.workflow,
        person,
        Some(&pairs),
        state.today(),
    )
    .await
    .map_err(AppError::Internal)?;
    let result = trial::run(&state.db, id, &wc.form, &wc.workflow, person, &s.data)
        .await
        .map_err(AppError::Internal)?;
    t.chosen = Some(label);
    t.fields = s.fields;
    t.refused = s.refused;
    t.result = Some(result);
    Ok(t.into_response())
}
