//! The form part of a document: the fields and whole sections its settings list, in the
//! form's order, with values as the application page's print view shows them (names for
//! people and departments, option labels, tables row by row, file names).

use std::collections::BTreeMap;

use super::pdf::Row;
use crate::{
    error::AppResult,
    forms::render::{FieldView, views},
    web::AppState,
    workflow::{store, usecase::lookups},
};

pub async fn rows(state: &AppState, app: &store::AppRow, keys: &[String]) -> AppResult<Vec<Row>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let defs = store::definitions::load(&state.db, &mut *state.db.acquire().await?, app).await?;
    let schema = &defs.0;
    let data = app.data_map();
    let today = state
        .now()
        .with_timezone(&state.settings.time_zone)
        .date_naive();
    // Values as the holder reads them on their own application.
    let l = lookups(
        &state.db,
        schema,
        &data,
        app.applicant_id,
        app.applicant_id,
        Some(app.id),
        today,
    )
    .await?;
    let none = BTreeMap::new();
    let sections = schema.sections();
    let chosen = |k: &str| keys.iter().any(|c| c == k);
    let mut out = Vec::new();
    for v in views(
        schema,
        &data,
        &none,
        &BTreeMap::new(),
        &l,
        &[],
        &BTreeMap::new(),
    ) {
        let section_chosen = sections
            .get(v.key.as_str())
            .copied()
            .flatten()
            .is_some_and(chosen);
        match v.kind {
            "section" if chosen(&v.key) => out.push(Row::Heading(v.label)),
            "section" | "static" => {}
            _ if chosen(&v.key) || section_chosen => {
                let text = text(&v);
                out.push(Row::Field(v.label, text));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A field's value as one text, a line per table row.
fn text(v: &FieldView) -> String {
    match v.kind {
        "table" => v
            .rows
            .iter()
            .filter(|r| r.iter().any(|c| !c.value.trim().is_empty()))
            .map(|r| {
                v.columns
                    .iter()
                    .zip(r)
                    .map(|(col, cell)| format!("{col}：{}", cell.value))
                    .collect::<Vec<_>>()
                    .join("　")
            })
            .collect::<Vec<_>>()
            .join("\n"),
        "attachments" => v
            .files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join("、"),
        _ => v.display.clone(),
    }
}
