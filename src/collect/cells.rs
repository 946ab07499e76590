//! The responses as table cells: a form's fields as columns (a sub-table spread into
//! “<字段><行号>·<列>” columns) and one response's values in that order, as shown read-only.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::forms::{
    FieldAccess, FormSchema,
    render::{FieldView, Lookups, views},
};

fn text_of(v: &FieldView) -> String {
    match v.kind {
        "attachments" => v
            .files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join("、"),
        "date_range" if !v.from.is_empty() || !v.to.is_empty() => format!("{} 至 {}", v.from, v.to),
        _ if !v.display.is_empty() => v.display.clone(),
        _ => v.value.clone(),
    }
}

/// Labels of a form's fields as columns; a sub-table spread over `rows` rows of columns.
pub fn columns(form: &FormSchema, table_rows: &BTreeMap<String, usize>) -> Vec<String> {
    let mut out = Vec::new();
    for f in form.fields.iter().filter(|f| !f.kind.is_decoration()) {
        if f.columns.is_empty() {
            out.push(f.label.clone());
            continue;
        }
        for i in 1..=table_rows.get(&f.key).copied().unwrap_or(0) {
            for c in &f.columns {
                out.push(format!("{}{}·{}", f.label, i, c.label));
            }
        }
    }
    out
}

/// One response's values in the order of `columns`.
pub fn values(
    form: &FormSchema,
    data: &Map<String, Value>,
    l: &Lookups,
    table_rows: &BTreeMap<String, usize>,
) -> Vec<String> {
    let access: BTreeMap<String, FieldAccess> = form
        .fields
        .iter()
        .map(|f| (f.key.clone(), FieldAccess::Readonly))
        .collect();
    let shown = views(
        form,
        data,
        &access,
        &BTreeMap::new(),
        l,
        &[],
        &BTreeMap::new(),
    );
    let mut out = Vec::new();
    for v in shown
        .iter()
        .filter(|v| !matches!(v.kind, "section" | "static"))
    {
        match table_rows.get(&v.key) {
            None if v.columns.is_empty() => out.push(text_of(v)),
            None => {}
            Some(n) => {
                for i in 0..*n {
                    for c in 0..v.columns.len() {
                        out.push(
                            v.rows
                                .get(i)
                                .and_then(|r| r.get(c))
                                .map(|c| c.value.clone())
                                .unwrap_or_default(),
                        );
                    }
                }
            }
        }
    }
    out
}
