//! The house rules of `src/`, checked on the source itself: no two modules import each
//! other, the kernel imports no feature, and no file grows past 700 lines.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// Modules every feature may use, which must not use any feature in turn.
const KERNEL: &[&str] = &[
    "web",
    "db",
    "config",
    "error",
    "audit",
    "clock",
    "secret",
    "mask",
    "telemetry",
    "calendar",
];

/// Where modules are put together; they may import anything, and nothing imports them
/// but `main`/`lib`.
const ROOTS: &[&str] = &["routes", "startup", "jobs"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module names after `crate::` in `src` (comments removed), including
/// the names in `use crate::{a::…, b, …}` groups.
fn referenced(src: &str) -> BTreeSet<String> {
    let code: String = src
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: split at depth-0 commas.
            let (mut depth, mut token) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(std::mem::take(&mut token));
                        continue;
                    }
                    _ => {}
                }
                token.push(c);
            }
            out.insert(token);
        } else {
            out.insert(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out.into_iter()
        .map(|t| {
            t.trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|t| !t.is_empty() && t != "self")
        .collect()
}

/// Module → the modules it names.
type Edges = BTreeMap<String, BTreeSet<String>>;

/// The import graph of `src/`, and each file's line count.
fn graph() -> (Edges, Vec<(PathBuf, usize)>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut edges = Edges::new();
    let mut sizes = Vec::new();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        sizes.push((f.clone(), src.lines().count()));
        let rel = f.strip_prefix(&root).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let me = first.trim_end_matches(".rs").to_owned();
        if me == "main" || me == "lib" {
            continue;
        }
        let refs = referenced(&src);
        edges
            .entry(me.clone())
            .or_default()
            .extend(refs.into_iter().filter(|r| *r != me));
    }
    (edges, sizes)
}

#[test]
fn no_two_modules_import_each_other() {
    let (edges, _) = graph();
    let mut circles = Vec::new();
    for (a, to) in &edges {
        for b in to {
            if a < b && edges.get(b).is_some_and(|t| t.contains(a)) {
                circles.push(format!("{a} <-> {b}"));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules importing each other: {circles:?}"
    );
}

#[test]
fn the_kernel_imports_no_feature_and_nothing_imports_the_roots() {
    let (edges, _) = graph();
    let mut wrong = Vec::new();
    for k in KERNEL {
        for m in edges.get(*k).into_iter().flatten() {
            if !KERNEL.contains(&m.as_str()) {
                wrong.push(format!("kernel {k} imports {m}"));
            }
        }
    }
    for (a, to) in &edges {
        for r in ROOTS {
            if to.contains(*r) && !ROOTS.contains(&a.as_str()) {
                wrong.push(format!("{a} imports {r}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn no_source_file_is_over_700_lines() {
    let (_, sizes) = graph();
    let big: Vec<_> = sizes.into_iter().filter(|(_, n)| *n > 700).collect();
    assert!(big.is_empty(), "split these by responsibility: {big:?}");
}

#[test]
fn the_reader_of_imports_sees_groups_and_paths() {
    let r = referenced(
        "use crate::{a::b, c::{d, e}, self};\n// crate::commented\nfn f() { crate::g::h(); }",
    );
    assert_eq!(r, ["a", "c", "g"].map(String::from).into());
}
