//! Writing a package: one stable layout, so that an export diffs against the last one and
//! against the hand-kept demo files.
//!
//! - `[service]` keys in the order of `Service`; empty lists and texts are left out.
//! - Guide sections in `[service.guide]`; text with line breaks as `"""` blocks.
//! - In `[form]` and `[workflow]`: lists of tables (fields, columns, nodes, branches) as
//!   `[[...]]` blocks, one key per line; other tables inline (`{ kind = "dept_head" }`).
//!   Keys in `KEY_ORDER`, unknown keys after them in alphabetical order.

use serde_json::Value;
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, value};

use super::{Guide, Service, ServicePackage};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct WriteError {
    pub path: String,
    pub message: String,
}

/// The order of keys in form and workflow tables: identity first, then what the entry
/// is, its rules, and where it goes next.
const KEY_ORDER: &[&str] = &[
    "id",
    "key",
    "type",
    "op",
    "kind",
    "name",
    "label",
    "required",
    "options",
    "min",
    "max",
    "min_len",
    "max_len",
    "pattern",
    "pattern_message",
    "placeholder",
    "default",
    "autofill",
    "locked",
    "role",
    "scope",
    "date_limit",
    "birth_of",
    "levels_up",
    "accounts",
    "account",
    "field",
    "value",
    "values",
    "of",
    "text",
    "help",
    "approvers",
    "mode",
    "fallback",
    "allow_self",
    "comment_required",
    "signature",
    "time_limit_hours",
    "escalate",
    "fields",
    "applicant_fields",
    "when",
    "branches",
    "columns",
    "nodes",
    "next",
];

/// The package as TOML text, starting with `format = …`.
pub fn to_toml_string(p: &ServicePackage) -> Result<String, WriteError> {
    let mut doc = DocumentMut::new();
    doc["format"] = value(p.format);
    doc["service"] = Item::Table(service_table(&p.service));
    for (name, def) in [("form", &p.form), ("workflow", &p.workflow)] {
        if let Some(def) = def {
            let Value::Object(map) = def else {
                return Err(WriteError {
                    path: name.into(),
                    message: "a definition is a table".into(),
                });
            };
            let mut t = block_table(map, name)?;
            // `[form]` alone above `[[form.fields]]` says nothing.
            t.set_implicit(true);
            doc[name] = Item::Table(t);
        }
    }
    Ok(doc.to_string())
}

fn service_table(s: &Service) -> Table {
    let mut t = Table::new();
    t["code"] = value(&s.code);
    t["name"] = value(&s.name);
    t["category"] = value(&s.category);
    t["department"] = value(&s.department);
    t["kind"] = value(s.kind.as_str());
    if let Some(u) = &s.external_url {
        t["external_url"] = value(u);
    }
    list(&mut t, "audiences", s.audiences.iter().map(|a| a.as_str()));
    list(&mut t, "tags", s.tags.iter().map(String::as_str));
    text(&mut t, "summary", &s.summary);
    list(
        &mut t,
        "start_user_types",
        s.start_user_types.iter().map(|u| u.as_str()),
    );
    list(
        &mut t,
        "start_departments",
        s.start_departments.iter().map(String::as_str),
    );
    list(
        &mut t,
        "start_roles",
        s.start_roles.iter().map(String::as_str),
    );
    list(
        &mut t,
        "recommend_for",
        s.recommend_for.iter().map(|v| v.as_str()),
    );
    if s.recommend_order != 0 {
        t["recommend_order"] = value(i64::from(s.recommend_order));
    }
    let Guide {
        conditions,
        materials,
        process,
        time_limit,
        location,
        phone,
        faq,
    } = &s.guide;
    let mut g = Table::new();
    text(&mut g, "conditions", conditions);
    text(&mut g, "materials", materials);
    text(&mut g, "process", process);
    text(&mut g, "time_limit", time_limit);
    text(&mut g, "location", location);
    text(&mut g, "phone", phone);
    text(&mut g, "faq", faq);
    if !g.is_empty() {
        t["guide"] = Item::Table(g);
    }
    t
}

fn list<'a>(t: &mut Table, key: &str, items: impl Iterator<Item = &'a str>) {
    let a: Array = items.collect();
    if !a.is_empty() {
        t[key] = value(a);
    }
}

fn text(t: &mut Table, key: &str, s: &str) {
    if !s.is_empty() {
        t[key] = value(s);
    }
}

fn ordered(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    let rank = |k: &str| KEY_ORDER.iter().position(|o| *o == k).unwrap_or(usize::MAX);
    entries.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.0.cmp(b.0)));
    entries
}

fn is_table_list(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object))
}

/// A table written with a header, one key per line.
fn block_table(map: &serde_json::Map<String, Value>, path: &str) -> Result<Table, WriteError> {
    let mut t = Table::new();
    for (k, v) in ordered(map) {
        let here = format!("{path}.{k}");
        match v {
            Value::Null => {} // absent: TOML has no null
            Value::Array(a) if is_table_list(v) => {
                let mut list = ArrayOfTables::new();
                for (i, e) in a.iter().enumerate() {
                    let Value::Object(m) = e else { unreachable!() };
                    list.push(block_table(m, &format!("{here}[{i}]"))?);
                }
                t[k.as_str()] = Item::ArrayOfTables(list);
            }
            _ => t[k.as_str()] = value(inline(v, &here)?),
        }
    }
    Ok(t)
}

fn inline(v: &Value, path: &str) -> Result<toml_edit::Value, WriteError> {
    let err = |message: &str| WriteError {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    Ok(match v {
        Value::Null => return Err(err("TOML has no null; leave the entry out")),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into(),
            (None, Some(f)) if n.is_f64() => f.into(),
            _ => return Err(err("number out of range")),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(a) => {
            let mut out = Array::new();
            for (i, e) in a.iter().enumerate() {
                out.push(inline(e, &format!("{path}[{i}]"))?);
            }
            out.into()
        }
        Value::Object(m) => {
            let mut out = InlineTable::new();
            for (k, e) in ordered(m) {
                if !e.is_null() {
                    out.insert(k, inline(e, &format!("{path}.{k}"))?);
                }
            }
            out.into()
        }
    })
}
