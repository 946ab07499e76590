//! Service packages: one service's catalog entry, form definition and workflow definition
//! in one TOML file with a format version (`demo/README.md` describes it). The demo data
//! is a folder of them; the designers' export and import use the same format.
//!
//! Reading names the file, the place and the problem (`problem.rs`); writing
//! (`to_toml_string`) puts keys in one stable order so that exports diff well.

mod export;
pub mod import;
mod problem;
mod write;

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

pub use export::export;
pub use problem::{Problem, Problems, Seg, Source, line_col, path_string};
pub use write::{WriteError, to_toml_string};

use crate::{forms::FormSchema, workflow::model::Definition};

/// The format this portal reads and writes.
pub const FORMAT: i64 = 1;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePackage {
    pub format: i64,
    pub service: Service,
    /// A `forms::FormSchema`, kept as written: it is stored as is, so a definition reads
    /// back exactly as it was published.
    #[serde(default)]
    pub form: Option<Value>,
    /// A `workflow::model::Definition`, kept as written.
    #[serde(default)]
    pub workflow: Option<Value>,
}

/// The catalog entry. Departments and categories are named by code, never by database id,
/// so a package means the same in every portal that has them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Used in 流水号: `^[A-Z][A-Z0-9]{1,15}$`, unique; the file is named after it.
    pub code: String,
    pub name: String,
    /// Category code.
    pub category: String,
    /// Department code (服务部门).
    pub department: String,
    pub kind: ServiceKind,
    /// Required for `external`.
    #[serde(default)]
    pub external_url: Option<String>,
    /// 服务对象.
    #[serde(default)]
    pub audiences: Vec<Audience>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub summary: String,
    /// Who may start it; every non-empty list must match.
    #[serde(default)]
    pub start_user_types: Vec<UserType>,
    /// Department codes; each includes everything below it.
    #[serde(default)]
    pub start_departments: Vec<String>,
    /// Role codes.
    #[serde(default)]
    pub start_roles: Vec<String>,
    /// 推荐服务 for these viewers, in `recommend_order`.
    #[serde(default)]
    pub recommend_for: Vec<Viewer>,
    #[serde(default)]
    pub recommend_order: i32,
    /// 服务指南.
    #[serde(default)]
    pub guide: Guide,
}

/// The guide's sections (text; lines as written).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guide {
    #[serde(default)]
    pub conditions: String,
    #[serde(default)]
    pub materials: String,
    #[serde(default)]
    pub process: String,
    #[serde(default)]
    pub time_limit: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub faq: String,
}

/// Closed vocabularies: a typo fails at the word, with the allowed words listed.
macro_rules! words {
    ($(#[$m:meta])* $name:ident { $($v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $s)] $v),*
        }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s),*
                }
            }
            /// The word as stored; `None` for a word the format does not know.
            pub fn from_word(w: &str) -> Option<Self> {
                match w {
                    $($s => Some($name::$v),)*
                    _ => None,
                }
            }
        }
    };
}

pub(crate) use words;

words!(
    /// Online form, a link to another system, or a guide only.
    ServiceKind { Online = "online", External = "external", Guide = "guide" }
);
words!(Audience { Student = "student", Staff = "staff", Alumni = "alumni", Visitor = "visitor" });
words!(UserType { Student = "student", Teacher = "teacher", Staff = "staff" });
words!(
    /// Whom the home page recommends to (teachers see what staff see).
    Viewer { Student = "student", Staff = "staff", Visitor = "visitor" }
);

pub fn strings<T: Copy>(v: &[T], f: fn(T) -> &'static str) -> Vec<String> {
    v.iter().map(|w| f(*w).to_owned()).collect()
}

/// What the portal (or the rest of the demo folder) has, for references in a package.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub departments: BTreeSet<String>,
    pub categories: BTreeSet<String>,
    /// `None`: roles are not checked (no database at hand).
    pub roles: Option<BTreeSet<String>>,
}

impl ServicePackage {
    /// Read a package: syntax and types. `check` does the rest.
    pub fn parse(src: &Source<'_>) -> Result<Self, Problem> {
        check_format(src)?;
        src.parse()
    }

    /// Everything a portal checks before it accepts the package, every problem found.
    pub fn check(&self, src: &Source<'_>, known: &Known) -> Vec<Problem> {
        let mut out = Vec::new();
        let s = &self.service;
        let at = |path: &[Seg], msg: String| src.problem(path, msg);
        let key = |k: &str| [Seg::from("service"), Seg::from(k)];

        let code_ok = regex_lite::Regex::new("^[A-Z][A-Z0-9]{1,15}$").expect("pattern");
        if !code_ok.is_match(&s.code) {
            out.push(at(
                &key("code"),
                format!(
                    "`{}` is not a service code: a capital letter, then 1–15 capital letters or digits",
                    s.code
                ),
            ));
        }
        if s.name.trim().is_empty() || s.name.chars().count() > 100 {
            out.push(at(&key("name"), "a name has 1–100 characters".into()));
        }
        match (&s.external_url, s.kind) {
            (None, ServiceKind::External) => out.push(at(
                &key("kind"),
                "an `external` service needs `external_url`".into(),
            )),
            (Some(u), _) if !(u.starts_with("https://") || u.starts_with("http://")) => out.push(
                at(&key("external_url"), format!("`{u}` is not an http(s) URL")),
            ),
            _ => {}
        }
        if !known.departments.contains(&s.department) {
            out.push(at(
                &key("department"),
                format!("no department with code `{}`", s.department),
            ));
        }
        if !known.categories.contains(&s.category) {
            out.push(at(
                &key("category"),
                format!("no category with code `{}`", s.category),
            ));
        }
        for (i, d) in s.start_departments.iter().enumerate() {
            if !known.departments.contains(d) {
                out.push(at(
                    &[key("start_departments").as_slice(), &[Seg::Index(i)]].concat(),
                    format!("no department with code `{d}`"),
                ));
            }
        }
        if let Some(roles) = &known.roles {
            for (i, r) in s.start_roles.iter().enumerate() {
                if !roles.contains(r) {
                    out.push(at(
                        &[key("start_roles").as_slice(), &[Seg::Index(i)]].concat(),
                        format!("no role with code `{r}`"),
                    ));
                }
            }
        }

        match (&self.form, &self.workflow) {
            (Some(_), None) => out.push(at(&[], "a [form] needs a [workflow]".into())),
            (None, Some(_)) => out.push(at(&[], "a [workflow] needs a [form]".into())),
            // 在线办理 with nothing to fill in would be a dead end for every applicant.
            (None, None) if s.kind == ServiceKind::Online => out.push(at(
                &key("kind"),
                "an `online` service (在线办理) needs a [form] and a [workflow]".into(),
            )),
            _ => {}
        }
        if let Some(form) = &self.form {
            out.extend(check_definition::<FormSchema>(src, "form", form, |f| {
                f.validate()
            }));
        }
        if let Some(flow) = &self.workflow {
            out.extend(check_definition::<Definition>(src, "workflow", flow, |d| {
                d.validate()
            }));
        }
        if let Some(roles) = &known.roles {
            out.extend(
                self.unknown_roles(roles)
                    .into_iter()
                    .map(|(path, role)| src.problem(&path, format!("no role with code `{role}`"))),
            );
        }
        out
    }

    /// Roles named by the form (person fields) and the workflow (approvers) that `roles`
    /// lacks; definitions that do not parse are reported by `check_definition`.
    fn unknown_roles(&self, roles: &BTreeSet<String>) -> Vec<(Vec<Seg>, String)> {
        use crate::workflow::model::{ApproverRule, NodeKind};
        let mut out = Vec::new();
        let form = self.form.as_ref();
        if let Some(f) = form.and_then(|f| FormSchema::deserialize(f).ok()) {
            for (i, field) in f.fields.iter().enumerate() {
                if let Some(r) = field.role.as_ref().filter(|r| !roles.contains(*r)) {
                    let path = ["form".into(), "fields".into(), Seg::Index(i), "role".into()];
                    out.push((path.to_vec(), r.clone()));
                }
            }
        }
        let flow = self.workflow.as_ref();
        if let Some(d) = flow.and_then(|d| Definition::deserialize(d).ok()) {
            for (i, node) in d.nodes.iter().enumerate() {
                let (NodeKind::Approval { approvers, .. } | NodeKind::Cc { approvers, .. }) =
                    &node.kind
                else {
                    continue;
                };
                if let ApproverRule::Role { role, .. } = approvers
                    && !roles.contains(role)
                {
                    let path = ["workflow", "nodes"].map(Seg::from).to_vec();
                    let path = [path, vec![Seg::Index(i), "approvers".into(), "role".into()]];
                    out.push((path.concat(), role.clone()));
                }
            }
        }
        out
    }

    /// `parse` and `check` together.
    pub fn load(src: &Source<'_>, known: &Known) -> Result<Self, Problems> {
        let p = Self::parse(src).map_err(|e| Problems(vec![e]))?;
        let problems = p.check(src, known);
        if problems.is_empty() {
            Ok(p)
        } else {
            Err(Problems(problems))
        }
    }
}

/// Every file of the format starts with `format = 1`; a file of another version is refused
/// before its contents are read with the wrong rules.
pub fn check_format(src: &Source<'_>) -> Result<(), Problem> {
    #[derive(Deserialize)]
    struct Head {
        format: Option<toml::Value>,
    }
    let head: Head = src.parse()?;
    let path = [Seg::from("format")];
    match head.format {
        None => Err(src.problem(&[], format!("missing `format = {FORMAT}` at the top"))),
        Some(toml::Value::Integer(FORMAT)) => Ok(()),
        Some(v) => Err(src.problem(
            &path,
            format!("format {v} is not supported: this portal reads format {FORMAT}"),
        )),
    }
}

/// A form or workflow definition: the type's own rules, keys the type does not know (a typo
/// would otherwise be dropped silently), and TOML dates (the definitions hold text).
fn check_definition<T>(
    src: &Source<'_>,
    section: &str,
    raw: &Value,
    validate: impl Fn(&T) -> Result<(), String>,
) -> Vec<Problem>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let root = vec![Seg::from(section)];
    let mut out = Vec::new();
    let mut dates = Vec::new();
    find_dates(raw, &mut root.clone(), &mut dates);
    for path in dates {
        out.push(src.problem(&path, "write dates as text in quotes, e.g. \"2026-09-01\""));
    }
    let parsed: T = match serde_path_to_error::deserialize(raw) {
        Ok(v) => v,
        Err(e) => {
            let path = [root.as_slice(), &problem::serde_path(e.path())].concat();
            out.push(src.problem(&path, e.into_inner().to_string()));
            return out;
        }
    };
    let known = serde_json::to_value(&parsed).expect("definitions serialize");
    let mut missing = Vec::new();
    unknown_keys(raw, &known, &mut Vec::new(), &mut missing);
    // A key the typed value does not write back is either unknown or holds its default
    // (definitions are written without defaults): probe it with a value of no type the
    // definitions use; a known key then fails to read or reads differently.
    let unknown = missing.into_iter().filter(|path| {
        let mut probe = raw.clone();
        if let Some(slot) = pointer_mut(&mut probe, path) {
            *slot = Value::String("\u{1}probe".into());
        }
        matches!(serde_json::from_value::<T>(probe), Ok(p) if serde_json::to_value(&p).ok().as_ref() == Some(&known))
    });
    for path in unknown.map(|p| [root.as_slice(), &p].concat()) {
        let name = match path.last() {
            Some(Seg::Key(k)) => k.clone(),
            _ => String::new(),
        };
        out.push(src.problem(&path, format!("unknown key `{name}`")));
    }
    if let Err(e) = validate(&parsed) {
        out.push(src.problem(&root, e));
    }
    out
}

fn pointer_mut<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, seg| match seg {
        Seg::Key(k) => v.get_mut(k.as_str()),
        Seg::Index(i) => v.get_mut(*i),
    })
}

/// Keys of `raw` that the typed value, serialized back, does not have.
fn unknown_keys(raw: &Value, known: &Value, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match (raw, known) {
        (Value::Object(r), Value::Object(k)) => {
            for (key, v) in r {
                path.push(Seg::Key(key.clone()));
                match k.get(key) {
                    Some(kv) => unknown_keys(v, kv, path, out),
                    None => out.push(path.clone()),
                }
                path.pop();
            }
        }
        (Value::Array(r), Value::Array(k)) => {
            for (i, (v, kv)) in r.iter().zip(k).enumerate() {
                path.push(Seg::Index(i));
                unknown_keys(v, kv, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// TOML date-times arrive in JSON as a table with this one key.
const TOML_DATETIME: &str = "$__toml_private_datetime";

fn find_dates(v: &Value, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match v {
        Value::Object(m) if m.contains_key(TOML_DATETIME) => out.push(path.clone()),
        Value::Object(m) => {
            for (k, v) in m {
                path.push(Seg::Key(k.clone()));
                find_dates(v, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                find_dates(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
