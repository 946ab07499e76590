//! What the designer's pages show: the list rows, the type palette, the live preview (the
//! applicant's form, rendered by `forms::render` as 立即办理 renders it).

use std::collections::BTreeMap;

use sqlx::PgPool;

use crate::{
    forms::{
        self, Errors, Field, FieldAccess, FieldKind, FormSchema, Profile, check,
        render::{FieldView, Lookups, views},
    },
    org::people,
    web::user::{CurrentUser, user_type_label},
    workflow::model::Definition,
};

/// One field (or column) in the designer's list.
pub struct Row {
    pub key: String,
    pub label: String,
    pub kind: &'static str,
    pub required: bool,
    /// A 分节标题: the fields below it, up to the next one, are its group.
    pub section: bool,
    pub in_section: bool,
    /// Its own problems (shown as a count; the list at the top names them).
    pub problems: usize,
    pub first: bool,
    pub last: bool,
    /// The editor; actions post to `{edit_url}/move` and `{edit_url}/delete`.
    pub edit_url: String,
    pub anchor: String,
}

/// An HTML id for a key (keys may, in an imported draft, hold any character).
pub fn anchor(key: &str) -> String {
    let safe: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("fd-row-{safe}")
}

/// The label shown in the list: the label, or for a 说明文字 without one, its text.
fn shown_label(f: &Field) -> String {
    if !f.label.trim().is_empty() {
        return f.label.clone();
    }
    let t: String = f.text.chars().take(20).collect();
    if t.is_empty() {
        "（无标题）".into()
    } else {
        t
    }
}

/// Rows for a list of fields; `url(key)` is each one's editor.
pub fn rows(fields: &[Field], column: bool, url: impl Fn(&str) -> String) -> Vec<Row> {
    let mut in_section = false;
    let n = fields.len();
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let section = f.kind == FieldKind::Section;
            if section {
                in_section = true;
            }
            let problems = if column {
                check::column(f).len()
            } else {
                check::field(f).len()
                    + if f.kind == FieldKind::Table {
                        check::columns(f).len()
                    } else {
                        0
                    }
            };
            Row {
                key: f.key.clone(),
                label: shown_label(f),
                kind: f.kind.label(),
                required: f.required,
                section,
                in_section: in_section && !section,
                problems,
                first: i == 0,
                last: i + 1 == n,
                edit_url: url(&f.key),
                anchor: anchor(&f.key),
            }
        })
        .collect()
}

pub struct KindOption {
    pub code: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub struct KindGroup {
    pub name: &'static str,
    pub kinds: Vec<KindOption>,
}

/// The 19 types in the palette, in four groups.
pub fn palette() -> Vec<KindGroup> {
    use FieldKind::*;
    let group = |name, kinds: &[FieldKind]| KindGroup {
        name,
        kinds: kinds
            .iter()
            .map(|k| KindOption {
                code: k.code(),
                label: k.label(),
                selected: false,
            })
            .collect(),
    };
    vec![
        group(
            "文本与数字",
            &[Text, Textarea, Number, Money, Date, Datetime, DateRange],
        ),
        group("选择", &[Select, Radio, Checkboxes]),
        group("人员与联系", &[Phone, Email, IdCard, Person, Department]),
        group("其他", &[Attachments, Table, Section, Static]),
    ]
}

/// The types an existing field may take in its editor: a sub-table stays one, other
/// fields do not become one; a column takes the kinds a cell can hold.
pub fn kind_choices(current: FieldKind, column: bool) -> Vec<KindOption> {
    FieldKind::ALL
        .into_iter()
        .filter(|k| {
            if column {
                k.column_allowed() || *k == current
            } else if current == FieldKind::Table {
                *k == FieldKind::Table
            } else {
                *k != FieldKind::Table
            }
        })
        .map(|k| KindOption {
            code: k.code(),
            label: k.label(),
            selected: k == current,
        })
        .collect()
}

/// Roles a person field may offer the holders of: (code, name).
pub async fn roles(db: &PgPool) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT code, name FROM roles ORDER BY id")
        .fetch_all(db)
        .await
}

async fn profile(db: &PgPool, user: i64) -> sqlx::Result<Profile> {
    let r = people::profile(db, user).await?;
    Ok(Profile {
        name: r.name,
        account: r.account,
        gender: r.gender.unwrap_or_default(),
        department: r.department.unwrap_or_default(),
        title: r.title.unwrap_or_default(),
        phone: r.phone.unwrap_or_default(),
        email: r.email.unwrap_or_default(),
        user_type: user_type_label(&r.user_type).into(),
        // Not the designer's own number: GB 11643's published example, shown masked as
        // an applicant with a number on file sees theirs.
        id_card: PREVIEW_ID_CARD.into(),
    })
}

const PREVIEW_ID_CARD: &str = "11010519491231002X";

/// Some holders of a role anywhere: the preview's choices when none is near the
/// designer (an applicant sees those of their own college).
async fn any_holders(db: &PgPool, role: &str) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "SELECT DISTINCT u.id, u.name || '（' || u.account || '）' FROM user_roles ur
         JOIN roles r ON r.id = ur.role_id AND r.code = $1
         JOIN users u ON u.id = ur.user_id AND u.status = 'active'
         ORDER BY 2 LIMIT 20",
    )
    .bind(role)
    .fetch_all(db)
    .await
}

/// The form as an applicant sees it on 立即办理: the applicant's field permissions of the
/// working copy's workflow (without one, a 填报任务's, every field editable), defaults and
/// auto-fill (from the designer's own profile), departments and role holders to pick from.
pub async fn preview(
    db: &PgPool,
    user: &CurrentUser,
    form: &FormSchema,
    workflow: Option<&Definition>,
) -> sqlx::Result<Vec<FieldView>> {
    let p = profile(db, user.id).await?;
    let data = forms::initial_values(form, &p);
    let mut l = Lookups {
        departments: people::department_choices(db, &[]).await?,
        id_card_on_file: true,
        mask_id_card: true,
        ..Lookups::default()
    };
    for f in &form.fields {
        if f.kind == FieldKind::Person
            && let Some(role) = &f.role
        {
            let mut choices: Vec<(i64, String)> = people::role_holders_for(db, role, user.id)
                .await?
                .into_iter()
                .map(|h| (h.id, h.label))
                .collect();
            if choices.is_empty() {
                choices = any_holders(db, role).await?;
            }
            l.person_choices.insert(f.key.clone(), choices);
        }
    }
    let access = match workflow {
        Some(w) => form.access(&w.applicant_fields, FieldAccess::Editable),
        None => form.access(&BTreeMap::new(), FieldAccess::Editable),
    };
    Ok(views(
        form,
        &data,
        &access,
        &Errors::new(),
        &l,
        &[],
        &BTreeMap::new(),
    ))
}
