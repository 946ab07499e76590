//! `GET /admin/services/{id}/preview?as=student|teacher|staff|visitor`: the real 服务指南
//! page (the catalog's own template and rendering) as that kind of person would see it,
//! whether 立即办理 is offered or refused and why, also for a draft or offline service.

use axum::extract::{Path, Query, State};
use serde::Deserialize;

use crate::{
    admin::access::Manager,
    catalog::{
        self, Chip, GuidePreview, GuideTemplate, Viewer,
        model::{StartRule, type_refusal, who_may_start},
    },
    error::{AppError, AppResult},
    web::{AppState, page::Page},
    workflow::{store::versions, usecase::guide_steps},
};

/// The kinds of viewer: query value and label.
const AS: [(&str, &str); 4] = [
    ("student", "学生"),
    ("teacher", "教师"),
    ("staff", "职工"),
    ("visitor", "访客"),
];

#[derive(Deserialize)]
pub(in crate::admin) struct AsQuery {
    #[serde(rename = "as")]
    viewer: Option<String>,
}

pub(in crate::admin) async fn guide(
    State(state): State<AppState>,
    m: Manager,
    page: Page,
    Path(id): Path<i64>,
    Query(q): Query<AsQuery>,
) -> AppResult<GuideTemplate> {
    m.service(&state.db, id).await?;
    let s = catalog::service_detail(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (code, label) = AS
        .iter()
        .find(|(c, _)| Some(*c) == q.viewer.as_deref())
        .copied()
        .unwrap_or(AS[0]);
    let user_type = (code != "visitor").then_some(code);
    let rule = s.rule();
    let refusal = user_type.and_then(|t| type_refusal(&rule, t));

    let mut notes = Vec::new();
    match s.status.as_str() {
        "published" => {}
        "offline" => notes.push(
            "该服务已下线：服务中心、搜索和首页中都看不到本页，立即办理会被拒绝。".to_owned(),
        ),
        _ => notes.push("该服务是草稿：发布前服务中心中看不到本页。".to_owned()),
    }
    if s.kind == "online" {
        if versions::current_number(&state.db, id).await?.is_none() {
            notes.push("尚未发布表单与流程：此时点击立即办理，会提示在线表单尚未开放。".into());
        }
        let others = StartRule {
            start_user_types: vec![],
            ..rule.clone()
        };
        match user_type {
            None => notes.push("访客点击立即办理，会先转到登录页。".into()),
            Some(_) if refusal.is_none() && !others.is_open() => notes.push(format!(
                "此外仅限{}发起：不在此范围的{label}会看到“您没有权限发起该流程”。",
                who_may_start(&state.db, &others).await?
            )),
            Some(_) => {}
        }
    }
    let steps = guide_steps(&state.db, id)
        .await
        .map_err(AppError::Internal)?;
    let preview = GuidePreview {
        as_label: label,
        switch: AS
            .iter()
            .map(|(c, l)| Chip {
                label: (*l).into(),
                href: format!("/admin/services/{id}/preview?as={c}"),
                active: *c == code,
            })
            .collect(),
        back: format!("/admin/services/{id}"),
        notes,
    };
    let viewer = Viewer {
        user_type,
        refusal,
        favorited: false,
    };
    catalog::guide_page(&state, page, s, steps, viewer, Some(preview)).await
}
