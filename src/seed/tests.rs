//! The demo folder: every file reads and checks, and problems name file, place and problem.
use std::collections::BTreeSet;

use super::files::*;
use crate::package::{self, Known, ServicePackage, Source};

#[test]
fn every_demo_file_reads_and_checks() {
    let demo = load(None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(demo.departments.len(), 26);
    assert_eq!(demo.people.len(), 41);
    assert_eq!(demo.services.len(), 46);
    // Every service marked 在线办理 has its form and workflow.
    assert_eq!(
        demo.services.iter().filter(|p| p.form.is_some()).count(),
        36
    );
    assert_eq!(demo.services[0].service.code, "GZZB");
}

#[test]
fn every_demo_package_writes_back_to_itself() {
    let demo = load(None).unwrap();
    let known = Known {
        departments: demo.departments.iter().map(|d| d.code.clone()).collect(),
        categories: demo.categories.iter().map(|c| c.code.clone()).collect(),
        roles: None,
    };
    for p in &demo.services {
        let text = package::to_toml_string(p).unwrap();
        let src = Source {
            file: "written.toml",
            text: &text,
        };
        let again = ServicePackage::parse(&src).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(&again, p);
        assert_eq!(again.check(&src, &known), []);
    }
}

/// The embedded folder with one file's text changed.
fn edited(name: &str, edit: impl Fn(&str) -> String) -> Folder {
    let mut f = Folder::embedded();
    let text = String::from_utf8(f.0[name].clone()).unwrap();
    let new = edit(&text);
    assert_ne!(new, text, "the edit applies");
    f.0.insert(name.to_owned(), new.into_bytes());
    f
}

fn problems(folder: &Folder, roles: Option<&BTreeSet<String>>) -> String {
    load_folder(folder, roles)
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

fn line_of(folder: &Folder, name: &str, needle: &str) -> usize {
    let text = String::from_utf8(folder.0[name].clone()).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn a_malformed_file_is_named_with_the_place_and_the_problem() {
    // A syntax error in a package.
    let f = edited("services/XSQJ.toml", |t| {
        t.replacen("name = \"学生请假\"", "name = 学生请假", 1)
    });
    let line = line_of(&f, "services/XSQJ.toml", "name = 学生请假");
    let msg = problems(&f, None);
    assert!(
        msg.starts_with(&format!("demo/services/XSQJ.toml:{line}:8: ")),
        "{msg}"
    );
    assert!(msg.contains("string"), "{msg}");

    // Wrong references and values in people.toml: every problem, each at its place.
    let f = edited("people.toml", |t| {
        t.replacen("department = \"NIC\"", "department = \"NOPE\"", 1)
            .replace("\"44030619980512341X\"", "\"440306199805123410\"")
    });
    let msg = problems(&f, None);
    let dept = line_of(&f, "people.toml", "\"NOPE\"");
    let card = line_of(&f, "people.toml", "440306199805123410");
    assert_eq!(
        msg,
        format!(
            "demo/people.toml:{dept}:1: people[0].department: no department with code `NOPE`\n\
             demo/people.toml:{card}:1: people[2].id_card: not a valid ID card number (length or check digit)"
        )
    );

    // Roles the database lacks.
    let roles: BTreeSet<String> = ["system_admin", "dept_head"].map(String::from).into();
    let msg = problems(&Folder::embedded(), Some(&roles));
    assert!(
        msg.contains("demo/people.toml:")
            && msg.contains("people[4].roles[0].role: no role with code `counselor`"),
        "{msg}"
    );
    assert!(
        msg.contains("demo/services/RXSX.toml:")
            && msg.contains("service.start_roles[0]: no role with code `hr_officer`"),
        "{msg}"
    );

    // A word out of the vocabulary, in an inline table.
    let f = edited("departments.toml", |t| {
        t.replacen("kind = \"office\"", "kind = \"bureau\"", 1)
    });
    let msg = problems(&f, None);
    assert!(msg.starts_with("demo/departments.toml:"), "{msg}");
    assert!(
        msg.contains(": departments[6].kind: unknown variant `bureau`"),
        "{msg}"
    );
}

#[test]
fn every_package_file_is_listed_once() {
    let mut f = Folder::embedded();
    let extra = f.0["services/XSQJ.toml"].clone();
    f.0.insert("services/XSQJ2.toml".into(), extra);
    let msg = problems(&f, None);
    assert!(
        msg.contains("demo/services.toml:5:1: order: services/XSQJ2.toml is not listed"),
        "{msg}"
    );

    let f = edited("services.toml", |t| t.replacen("\"GZSY\"", "\"GZZB\"", 1));
    let msg = problems(&f, None);
    assert!(msg.contains("order[1]: `GZZB` is listed twice"), "{msg}");
    assert!(msg.contains("services/GZSY.toml is not listed"), "{msg}");

    let f = edited("services.toml", |t| t.replacen("\"GZSY\"", "\"GZSX\"", 1));
    let msg = problems(&f, None);
    assert!(
        msg.contains("order[1]: no file services/GZSX.toml"),
        "{msg}"
    );

    let mut f = Folder::embedded();
    f.0.remove("people.toml");
    assert_eq!(problems(&f, None), "demo/people.toml: missing");
}

#[test]
fn icons_exist() {
    let demo = load(None).unwrap();
    let icons = demo.categories.iter().map(|c| &c.icon);
    for icon in icons.chain(demo.systems.iter().map(|s| &s.icon)) {
        let path = format!("{}/static/img/icons/{icon}.svg", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&path).exists(), "{path}");
    }
}

#[test]
fn demo_files_are_in_written_form() {
    // The hand-kept packages stay in the layout an export writes, so that an export of
    // the demo diffs clean against the folder (comments at the top aside).
    let demo = load(None).unwrap();
    for p in &demo.services {
        let name = format!("services/{}.toml", p.service.code);
        let file = String::from_utf8(Folder::embedded().0[&name].clone()).unwrap();
        let body: String = file
            .lines()
            .skip_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let written = package::to_toml_string(p).unwrap();
        assert!(
            body == written,
            "demo/{name} differs from its written form:\n{written}"
        );
    }
}

#[test]
fn an_online_service_without_a_form_is_refused() {
    // 学生请假 with its form and workflow cut away, still marked 在线办理.
    let f = edited("services/XSQJ.toml", |t| {
        let cut = t
            .find("\n[[form.fields]]")
            .or_else(|| t.find("\n[form]"))
            .unwrap();
        t[..cut + 1].to_owned()
    });
    let line = line_of(&f, "services/XSQJ.toml", "kind = \"online\"");
    let msg = problems(&f, None);
    assert!(
        msg.contains(&format!("demo/services/XSQJ.toml:{line}:")),
        "{msg}"
    );
    assert!(
        msg.contains("an `online` service (在线办理) needs a [form] and a [workflow]"),
        "{msg}"
    );
}
