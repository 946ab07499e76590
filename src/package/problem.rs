//! Errors that name the file, the place and the problem, for people who edit these files
//! by hand: `demo/services/CGCJ.toml:41:1: form.fields[3].type: unknown variant ...`.

use std::fmt;

use serde::de::DeserializeOwned;

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(k: &str) -> Self {
        Seg::Key(k.to_owned())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// `["form", "fields", 3, "type"]` → `form.fields[3].type`
pub fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// 1-based line and column (characters), when the place could be found.
    pub line_col: Option<(usize, usize)>,
    /// Key path, e.g. `service.department`; empty for the whole file.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((l, c)) = self.line_col {
            write!(f, ":{l}:{c}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for Problem {}

/// Every problem found, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// A file's name and text, to report problems at a key path.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// A problem at `path`, with the line and column of that key when the text has it
    /// (else of the nearest enclosing table).
    pub fn problem(&self, path: &[Seg], message: impl Into<String>) -> Problem {
        Problem {
            file: self.file.to_owned(),
            line_col: locate(self.text, path).map(|at| line_col(self.text, at)),
            path: path_string(path),
            message: message.into(),
        }
    }

    /// Deserialize the whole file; a syntax or type error names its place.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        let de = toml::Deserializer::parse(self.text).map_err(|e| self.toml_problem(&[], e))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = serde_path(e.path());
            self.toml_problem(&path, e.into_inner())
        })
    }

    fn toml_problem(&self, path: &[Seg], e: toml::de::Error) -> Problem {
        let at = e
            .span()
            .map(|s| s.start)
            .or_else(|| locate(self.text, path));
        Problem {
            file: self.file.to_owned(),
            line_col: at.map(|at| line_col(self.text, at)),
            path: path_string(path),
            message: e.message().trim().to_owned(),
        }
    }
}

/// serde_path_to_error's path as key path segments.
pub fn serde_path(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// Byte offset of the deepest item of `path` found in the TOML text (the key where there is
/// one, else the table or value).
fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    use toml_edit::{ArrayOfTables, Item, Table, Value};
    #[derive(Clone, Copy)]
    enum Node<'a> {
        Table(&'a Table),
        Tables(&'a ArrayOfTables),
        Value(&'a Value),
    }
    fn node(item: &Item) -> Option<Node<'_>> {
        match item {
            Item::Table(t) => Some(Node::Table(t)),
            Item::ArrayOfTables(a) => Some(Node::Tables(a)),
            Item::Value(v) => Some(Node::Value(v)),
            Item::None => None,
        }
    }
    let start = |span: Option<std::ops::Range<usize>>| span.map(|s| s.start);

    let doc = toml_edit::Document::parse(text).ok()?;
    let mut at = Node::Table(doc.as_table());
    let mut best = None;
    for seg in path {
        let found = match (seg, at) {
            (Seg::Key(k), Node::Table(t)) => t
                .get_key_value(k)
                .and_then(|(key, item)| Some((node(item)?, start(key.span())))),
            (Seg::Key(k), Node::Value(Value::InlineTable(t))) => t
                .get_key_value(k)
                .and_then(|(key, item)| Some((node(item)?, start(key.span())))),
            (Seg::Index(i), Node::Tables(a)) => {
                a.get(*i).map(|t| (Node::Table(t), start(t.span())))
            }
            (Seg::Index(i), Node::Value(Value::Array(a))) => {
                a.get(*i).map(|v| (Node::Value(v), start(v.span())))
            }
            _ => None,
        };
        let Some((next, span)) = found else { break };
        best = span.or(best);
        at = next;
    }
    best
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}
