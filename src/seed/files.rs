//! The demo folder `demo/`, embedded in the binary so that `seed-demo` works from any
//! working directory: departments, people, categories, campus systems and links, notices,
//! and one service package per service (`demo/README.md`). `load` reads and checks all of
//! it before anything is written, and reports every problem with its file and place.

use std::collections::BTreeSet;

use rust_embed::RustEmbed;
use serde::{Deserialize, de::DeserializeOwned};

use crate::{
    identity::idcard,
    package::{
        self, Known, Problem, Problems, Seg, ServicePackage, Source, UserType, Viewer, words,
    },
};

#[derive(RustEmbed)]
#[folder = "demo/"]
#[include = "*.toml"]
#[include = "seals/*.png"]
struct Files;

/// How error messages name the files.
const PREFIX: &str = "demo/";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub code: String,
    /// Listed before this one.
    #[serde(default)]
    pub parent: Option<String>,
    pub name: String,
    pub kind: DepartmentKind,
}

words!(DepartmentKind { School = "school", College = "college", Office = "office", Section = "section" });

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub account: String,
    pub name: String,
    #[serde(rename = "type")]
    pub user_type: UserType,
    pub department: String,
    #[serde(default)]
    pub gender: Option<Gender>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub id_card: Option<String>,
    pub password: Password,
    #[serde(default)]
    pub roles: Vec<Grant>,
}

words!(Gender { Male = "男", Female = "女" });

words!(
    /// `demo`: the demo password; `initial`: imported without one (the initial password is
    /// the last six characters of the ID card, changed at the first sign-in); `none`: never
    /// activated (a new student or teacher must 激活账号).
    Password { Demo = "demo", Initial = "initial", None = "none" }
);

/// A role everywhere, or within a department and everything below it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub role: String,
    #[serde(default)]
    pub department: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub code: String,
    pub name: String,
    /// `static/img/icons/<icon>.svg`
    pub icon: String,
}

/// 推荐系统.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct System {
    pub name: String,
    pub url: String,
    pub icon: String,
    pub description: String,
    /// Empty: everyone.
    #[serde(default)]
    pub audiences: Vec<Viewer>,
}

/// 便民服务.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub name: String,
    pub url: String,
}

/// 通知公告.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub title: String,
    #[serde(default)]
    pub department: Option<String>,
    /// Published this many days (and two hours) before the seeding.
    pub days_ago: i64,
    #[serde(default)]
    pub pinned: bool,
    /// Markdown.
    pub body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentsFile {
    #[serde(rename = "format")]
    _format: i64,
    departments: Vec<Department>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeopleFile {
    #[serde(rename = "format")]
    _format: i64,
    people: Vec<Person>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoriesFile {
    #[serde(rename = "format")]
    _format: i64,
    categories: Vec<Category>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemsFile {
    #[serde(rename = "format")]
    _format: i64,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    systems: Vec<System>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticesFile {
    #[serde(rename = "format")]
    _format: i64,
    notices: Vec<Notice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesFile {
    #[serde(rename = "format")]
    _format: i64,
    order: Vec<String>,
    /// 一事联办: bundles of the services above.
    #[serde(default)]
    bundles: Vec<Bundle>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    #[serde(rename = "format")]
    _format: i64,
    #[serde(default)]
    ranges: Vec<CalendarRange>,
}

/// A 校历 row: holiday, vacation, workday (调休上班) or term, both days included.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct CalendarRange {
    pub kind: String,
    pub name: String,
    pub from: toml::value::Datetime,
    pub to: toml::value::Datetime,
}

impl CalendarRange {
    /// The two days as dates (checked by `load_folder`).
    pub fn days(&self) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
        let day = |d: &toml::value::Datetime| {
            let d = d.date.filter(|_| d.time.is_none() && d.offset.is_none())?;
            chrono::NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
        };
        Some((day(&self.from)?, day(&self.to)?))
    }
}

/// A 一事联办 bundle: its services, in the order the form shows them.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub summary: String,
    pub services: Vec<String>,
}

/// The whole demo data set, checked.
#[derive(Debug, Clone)]
pub struct Demo {
    pub departments: Vec<Department>,
    pub people: Vec<Person>,
    pub categories: Vec<Category>,
    pub systems: Vec<System>,
    pub links: Vec<Link>,
    pub notices: Vec<Notice>,
    /// In the order of `services.toml`.
    pub services: Vec<ServicePackage>,
    pub bundles: Vec<Bundle>,
    pub calendar: Vec<CalendarRange>,
}

impl Demo {
    pub fn service(&self, code: &str) -> Option<&ServicePackage> {
        self.services.iter().find(|p| p.service.code == code)
    }
}

/// One file's text, kept for reporting problems found after parsing.
struct Text {
    file: String,
    text: String,
}

impl Text {
    fn source(&self) -> Source<'_> {
        Source {
            file: &self.file,
            text: &self.text,
        }
    }
}

/// The files of a demo folder by path (`services/GZZB.toml`): the embedded one, or one a
/// test builds.
#[derive(Debug, Clone, Default)]
pub struct Folder(pub std::collections::BTreeMap<String, Vec<u8>>);

impl Folder {
    pub fn embedded() -> Self {
        Folder(
            Files::iter()
                .filter_map(|name| {
                    let data = Files::get(&name)?.data.into_owned();
                    Some((name.into_owned(), data))
                })
                .collect(),
        )
    }
}

fn read(folder: &Folder, name: &str, problems: &mut Vec<Problem>) -> Option<Text> {
    let file = format!("{PREFIX}{name}");
    let Some(data) = folder.0.get(name) else {
        problems.push(Problem {
            file,
            line_col: None,
            path: String::new(),
            message: "missing".into(),
        });
        return None;
    };
    match String::from_utf8(data.clone()) {
        Ok(text) => Some(Text { file, text }),
        Err(_) => {
            problems.push(Problem {
                file,
                line_col: None,
                path: String::new(),
                message: "not UTF-8 text".into(),
            });
            None
        }
    }
}

fn parse<T: DeserializeOwned>(
    folder: &Folder,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<(T, Text)> {
    let text = read(folder, name, problems)?;
    let src = text.source();
    match package::check_format(&src).and_then(|()| src.parse::<T>()) {
        Ok(v) => Some((v, text)),
        Err(p) => {
            problems.push(p);
            None
        }
    }
}

/// Read and check the demo folder. `roles`: the role codes the database has (`None`: not
/// checked).
pub fn load(roles: Option<&BTreeSet<String>>) -> Result<Demo, Problems> {
    load_folder(&Folder::embedded(), roles)
}

pub fn load_folder(folder: &Folder, roles: Option<&BTreeSet<String>>) -> Result<Demo, Problems> {
    let mut problems = Vec::new();
    let departments = parse::<DepartmentsFile>(folder, "departments.toml", &mut problems);
    let people = parse::<PeopleFile>(folder, "people.toml", &mut problems);
    let categories = parse::<CategoriesFile>(folder, "categories.toml", &mut problems);
    let systems = parse::<SystemsFile>(folder, "systems.toml", &mut problems);
    let notices = parse::<NoticesFile>(folder, "notices.toml", &mut problems);
    let order = parse::<ServicesFile>(folder, "services.toml", &mut problems);
    let calendar = parse::<CalendarFile>(folder, "calendar.toml", &mut problems);
    if let Some((f, text)) = &calendar {
        for (i, r) in f.ranges.iter().enumerate() {
            let at = |k: &str| [Seg::from("ranges"), Seg::Index(i), Seg::from(k)];
            if !crate::calendar::KINDS.iter().any(|(k, _)| *k == r.kind) {
                problems.push(text.source().problem(
                    &at("kind"),
                    format!("`{}` is not holiday, vacation, workday or term", r.kind),
                ));
            }
            match r.days() {
                None => problems.push(text.source().problem(&at("from"), "not two dates")),
                Some((a, b)) if b < a => {
                    problems.push(text.source().problem(&at("to"), "before `from`"))
                }
                Some(_) => {}
            }
        }
    }

    let mut known = Known {
        roles: roles.cloned(),
        ..Known::default()
    };
    if let Some((f, text)) = &departments {
        let src = text.source();
        for (i, d) in f.departments.iter().enumerate() {
            let at = |k: &str| [Seg::from("departments"), Seg::Index(i), Seg::from(k)];
            if let Some(p) = &d.parent
                && !known.departments.contains(p)
            {
                problems.push(src.problem(
                    &at("parent"),
                    format!("no department `{p}` listed before this one"),
                ));
            }
            if !known.departments.insert(d.code.clone()) {
                problems.push(src.problem(&at("code"), format!("`{}` is listed twice", d.code)));
            }
        }
    }
    if let Some((f, text)) = &categories {
        for (i, c) in f.categories.iter().enumerate() {
            if !known.categories.insert(c.code.clone()) {
                problems.push(text.source().problem(
                    &[Seg::from("categories"), Seg::Index(i), Seg::from("code")],
                    format!("`{}` is listed twice", c.code),
                ));
            }
        }
    }
    // References to departments can only be checked when that file was read.
    let departments_read = departments.is_some();
    if let Some((f, text)) = &people {
        check_people(
            &f.people,
            &text.source(),
            &known,
            departments_read,
            &mut problems,
        );
    }
    if let Some((f, text)) = &systems {
        let urls = f
            .links
            .iter()
            .map(|l| &l.url)
            .enumerate()
            .map(|u| ("links", u));
        let urls = urls.chain(
            f.systems
                .iter()
                .map(|s| &s.url)
                .enumerate()
                .map(|u| ("systems", u)),
        );
        for (list, (i, url)) in urls.filter(|(_, (_, u))| !is_http(u)) {
            problems.push(text.source().problem(
                &[Seg::from(list), Seg::Index(i), Seg::from("url")],
                format!("`{url}` is not an http(s) URL"),
            ));
        }
    }
    if let (Some((f, text)), true) = (&notices, departments_read) {
        for (i, n) in f.notices.iter().enumerate() {
            if let Some(d) = n
                .department
                .as_ref()
                .filter(|d| !known.departments.contains(*d))
            {
                problems.push(text.source().problem(
                    &[Seg::from("notices"), Seg::Index(i), Seg::from("department")],
                    format!("no department with code `{d}`"),
                ));
            }
        }
    }

    let services = match &order {
        Some((f, text)) if departments_read && categories.is_some() => {
            load_services(folder, &f.order, &text.source(), &known, &mut problems)
        }
        _ => Vec::new(),
    };
    let mut bundles = Vec::new();
    if let Some((f, text)) = &order {
        for (i, b) in f.bundles.iter().enumerate() {
            for (j, code) in b.services.iter().enumerate() {
                let at = [
                    Seg::from("bundles"),
                    Seg::Index(i),
                    Seg::from("services"),
                    Seg::Index(j),
                ];
                if !f.order.contains(code) {
                    problems.push(
                        text.source()
                            .problem(&at, format!("no service `{code}` in `order`")),
                    );
                }
            }
            if b.services.len() < 2 {
                problems.push(text.source().problem(
                    &[Seg::from("bundles"), Seg::Index(i), Seg::from("services")],
                    "a bundle joins at least two services",
                ));
            }
        }
        bundles = f.bundles.clone();
    }

    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    let (Some(d), Some(p), Some(c), Some(s), Some(n), Some(cal)) =
        (departments, people, categories, systems, notices, calendar)
    else {
        unreachable!("a file that was not read is a problem");
    };
    Ok(Demo {
        departments: d.0.departments,
        people: p.0.people,
        categories: c.0.categories,
        systems: s.0.systems,
        links: s.0.links,
        notices: n.0.notices,
        services,
        bundles,
        calendar: cal.0.ranges,
    })
}

fn is_http(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

fn check_people(
    people: &[Person],
    src: &Source<'_>,
    known: &Known,
    departments_read: bool,
    problems: &mut Vec<Problem>,
) {
    let mut accounts = BTreeSet::new();
    for (i, u) in people.iter().enumerate() {
        let at = |k: &str| vec![Seg::from("people"), Seg::Index(i), Seg::from(k)];
        if !accounts.insert(u.account.as_str()) {
            problems.push(src.problem(&at("account"), format!("`{}` is listed twice", u.account)));
        }
        if departments_read && !known.departments.contains(&u.department) {
            problems.push(src.problem(
                &at("department"),
                format!("no department with code `{}`", u.department),
            ));
        }
        match &u.id_card {
            Some(c) if !idcard::is_valid(c) => problems.push(src.problem(
                &at("id_card"),
                "not a valid ID card number (length or check digit)",
            )),
            None if u.password != Password::Demo => problems.push(src.problem(
                &at("password"),
                "an account without the demo password needs `id_card` (its initial password)",
            )),
            _ => {}
        }
        for (j, g) in u.roles.iter().enumerate() {
            let mut path = at("roles");
            path.push(Seg::Index(j));
            if let Some(roles) = &known.roles
                && !roles.contains(&g.role)
            {
                path.push(Seg::from("role"));
                problems.push(src.problem(&path, format!("no role with code `{}`", g.role)));
                path.pop();
            }
            if let Some(d) = &g.department
                && departments_read
                && !known.departments.contains(d)
            {
                path.push(Seg::from("department"));
                problems.push(src.problem(&path, format!("no department with code `{d}`")));
            }
        }
    }
}

/// The packages in `order`; every file of `services/` must be listed once.
fn load_services(
    folder: &Folder,
    order: &[String],
    src: &Source<'_>,
    known: &Known,
    problems: &mut Vec<Problem>,
) -> Vec<ServicePackage> {
    let files: BTreeSet<String> = folder
        .0
        .keys()
        .filter_map(|f| {
            let code = f.strip_prefix("services/")?.strip_suffix(".toml")?;
            Some(code.to_owned())
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, code) in order.iter().enumerate() {
        let at = [Seg::from("order"), Seg::Index(i)];
        if !seen.insert(code.as_str()) {
            problems.push(src.problem(&at, format!("`{code}` is listed twice")));
            continue;
        }
        if !files.contains(code) {
            problems.push(src.problem(&at, format!("no file services/{code}.toml")));
            continue;
        }
        let Some(text) = read(folder, &format!("services/{code}.toml"), problems) else {
            continue;
        };
        let src = text.source();
        match ServicePackage::load(&src, known) {
            Ok(p) if p.service.code != *code => problems.push(src.problem(
                &[Seg::from("service"), Seg::from("code")],
                format!("the file of `{}` is named {code}.toml", p.service.code),
            )),
            Ok(p) => out.push(p),
            Err(e) => problems.extend(e.0),
        }
    }
    for code in files.iter().filter(|c| !seen.contains(c.as_str())) {
        problems.push(src.problem(
            &[Seg::from("order")],
            format!("services/{code}.toml is not listed"),
        ));
    }
    out
}

/// A demo file's bytes (the seal images of `documents.toml`).
pub fn raw(path: &str) -> Option<Vec<u8>> {
    Files::get(path).map(|f| f.data.into_owned())
}
