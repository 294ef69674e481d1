//! `pyproject.toml`: the release metadata rewrite, done right (text in, text out).
//!
//! GitLab's tutorial ("Build and sign Python packages with GitLab CI/CD") edits
//! `pyproject.toml` with three `sed` lines, which also rewrite any other
//! `name = "…"` (an author's name, a `[tool.*]` key), miss single-quoted values
//! and say nothing when the key is absent. Here the file is parsed with
//! `toml_edit`, only `[project].name`, `[project].version` and
//! `[project.urls].Homepage` are touched, and every other byte (comments, blank
//! lines, key order, quoting) is kept.
//!
//! The tutorial's file ships placeholders (`name = "<my_package>"`,
//! `version = "<1.0.0>"`) that "will be replaced by the pipeline":
//! [`is_placeholder`] recognises them so callers treat them as missing.
//!
//! Finding, writing and building the project is [`crate::build`]. Nothing here
//! touches the file system, prints or reads the environment.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use pep440_rs::Version;
use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

use crate::diagnostics::Hint;

pub const PYPROJECT: &str = "pyproject.toml";

/// Problems with the project directory or its `pyproject.toml`.
#[derive(Debug, thiserror::Error)]
pub enum PyprojectError {
    #[error("the project directory {} does not exist or is not a directory", dir.display())]
    NotADirectory { dir: PathBuf },
    #[error("{} has no pyproject.toml", dir.display())]
    NoPyproject { dir: PathBuf },
    #[error(
        "{} project: {} has {} but no pyproject.toml",
        files.join("/"),
        dir.display(),
        files.join(" and ")
    )]
    SetupOnly {
        dir: PathBuf,
        files: Vec<&'static str>,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Shown as `FILE:LINE:COLUMN: message`, the form editors jump to.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "Poetry-only project: {} has [tool.poetry] but no [project] table (PEP 621)",
        path.display()
    )]
    PoetryOnly { path: PathBuf },
    #[error("{} has no [project] table (PEP 621)", path.display())]
    NoProjectTable { path: PathBuf },
    #[error("{}: {key} is {found}, expected {expected}", path.display())]
    WrongType {
        path: PathBuf,
        key: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Hint for PyprojectError {
    fn hint(&self) -> Option<String> {
        match self {
            PyprojectError::NoPyproject { .. } => Some(
                "run gl-sign build in the project's root, or pass its directory: gl-sign build path/to/project"
                    .into(),
            ),
            PyprojectError::SetupOnly { .. } => Some(
                "add a pyproject.toml with a [project] table (PEP 621) holding name and version; \
setuptools >= 61 reads it next to setup.py"
                    .into(),
            ),
            PyprojectError::PoetryOnly { .. } => Some(
                "Poetry >= 2 reads the standard [project] table: move name, version and the other \
metadata from [tool.poetry] to [project] (https://python-poetry.org/docs/pyproject/#the-project-section)"
                    .into(),
            ),
            PyprojectError::NoProjectTable { .. } => {
                Some("add a [project] table (PEP 621) with at least name and version".into())
            }
            _ => None,
        }
    }
}

/// A name, version or homepage that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("{origin} gives the package name {value:?}, which is not a valid name (PEP 508)")]
    InvalidName { value: String, origin: String },
    #[error("{origin} gives the version {value:?}, which is not a valid PEP 440 version")]
    InvalidVersion {
        value: String,
        origin: String,
        #[source]
        source: pep440_rs::VersionParseError,
    },
    #[error("{origin} gives the homepage {value:?}, which is not an http(s) URL")]
    InvalidHomepage { value: String, origin: String },
    /// A placeholder (or nothing) is in the file and nothing gives a value.
    #[error(
        "{key} is {}, and nothing gives a value to write over it",
        describe_field(found)
    )]
    Unfilled {
        key: &'static str,
        found: Field,
        flag: &'static str,
        variable: &'static str,
    },
}

fn describe_field(field: &Field) -> String {
    match field {
        Field::Missing => "not set".into(),
        Field::Placeholder(v) => format!("the placeholder {v:?}"),
        Field::Value(v) => format!("{v:?}"),
    }
}

impl Hint for MetadataError {
    fn hint(&self) -> Option<String> {
        match self {
            MetadataError::InvalidName { .. } => Some(
                "a name is ASCII letters, digits, '.', '_' and '-', and starts and ends with a \
letter or digit"
                    .into(),
            ),
            MetadataError::InvalidVersion { origin, .. } if origin.starts_with("CI_COMMIT_TAG") => {
                Some(
                    "tag releases with a PEP 440 version such as v1.2.3 or v1.2.3rc1, or give the version"
                        .into(),
                )
            }
            MetadataError::InvalidVersion { .. } => Some(
                "PEP 440 versions look like 1.2.3, 1.2.3rc1, 1.2.3.post1 or 1.2.3.dev4".into(),
            ),
            MetadataError::InvalidHomepage { .. } => {
                Some("give the project's web address, e.g. https://gitlab.com/group/project".into())
            }
            MetadataError::Unfilled { flag, variable, .. } => Some(format!(
                "pass {flag}, or run gl-sign build in a GitLab pipeline, which sets ${variable}"
            )),
        }
    }
}

/// A package name that passed PEP 508's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageName(String);

impl PackageName {
    /// Check a name given by the user; `origin` names where it came from.
    pub fn parse(value: &str, origin: &str) -> Result<Self, MetadataError> {
        if is_valid_name(value) {
            Ok(PackageName(value.to_string()))
        } else {
            Err(MetadataError::InvalidName {
                value: value.to_string(),
                origin: origin.to_string(),
            })
        }
    }

    /// The name GitLab's tutorial derives from `CI_PROJECT_NAME`:
    /// `NORMALIZED_NAME=$(echo "${CI_PROJECT_NAME}" | tr '-' '_')`
    /// (doc/tutorials/ "Build and sign Python packages with GitLab CI/CD").
    ///
    /// A project path only holds letters, digits, `_`, `-` and `.`, for which
    /// that is all it takes. Anything else PEP 508 refuses (a space, say) also
    /// becomes `_`, one per run, and separators are trimmed from the ends, so a
    /// valid name comes out whenever one can be made; if none can, the error
    /// names the variable.
    pub fn from_ci_project_name(project_name: &str) -> Result<Self, MetadataError> {
        let mut out = String::with_capacity(project_name.len());
        let mut in_invalid_run = false;
        for c in project_name.chars() {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                out.push(c);
                in_invalid_run = false;
            } else if c == '-' {
                out.push('_');
                in_invalid_run = false;
            } else if !in_invalid_run {
                out.push('_');
                in_invalid_run = true;
            }
        }
        let trimmed = out.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        Self::parse(trimmed, &format!("CI_PROJECT_NAME={project_name:?}")).map_err(|_| {
            MetadataError::InvalidName {
                value: project_name.to_string(),
                origin: "CI_PROJECT_NAME".into(),
            }
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// PEP 508: `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`, case-insensitive.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        }
        _ => false,
    }
}

/// A version given by the user, checked against PEP 440.
pub fn parse_version(value: &str, origin: &str) -> Result<Version, MetadataError> {
    Version::from_str(value.trim()).map_err(|source| MetadataError::InvalidVersion {
        value: value.to_string(),
        origin: origin.to_string(),
        source,
    })
}

/// The version a release tag names: `v1.2.3` → `1.2.3`.
pub fn version_from_tag(tag: &str) -> Result<Version, MetadataError> {
    let bare = tag
        .strip_prefix('v')
        .or_else(|| tag.strip_prefix('V'))
        .unwrap_or(tag);
    parse_version(bare, &format!("CI_COMMIT_TAG={tag}"))
}

/// A homepage URL: absolute http(s).
pub fn check_homepage(value: &str, origin: &str) -> Result<String, MetadataError> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(value.to_string())
        }
        _ => Err(MetadataError::InvalidHomepage {
            value: value.to_string(),
            origin: origin.to_string(),
        }),
    }
}

/// A value GitLab's tutorial leaves for the pipeline to fill in, written
/// `<…>`: `"<my_package>"`, `"<1.0.0>"`, `"<https://gitlab.com/my_package>"`.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.len() >= 2 && v.starts_with('<') && v.ends_with('>')
}

/// One release metadata value as the file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Absent (or not a string: [`rewrite`] reports the type).
    Missing,
    /// A `<…>` placeholder.
    Placeholder(String),
    Value(String),
}

impl Field {
    fn of(value: Option<&str>) -> Field {
        match value {
            None => Field::Missing,
            Some(v) if is_placeholder(v) => Field::Placeholder(v.to_string()),
            Some(v) => Field::Value(v.to_string()),
        }
    }

    /// The value, unless it is missing or a placeholder.
    pub fn real(&self) -> Option<&str> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// The release metadata a `pyproject.toml` holds before any rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub name: Field,
    pub version: Field,
    /// `"version"` is listed in `project.dynamic`.
    pub version_dynamic: bool,
    pub homepage: Field,
}

/// Read the current name, version and homepage of `text` (the content of
/// `path`). A file without a `[project]` table is refused as [`rewrite`] does.
pub fn current(path: &Path, text: &str) -> Result<Current, PyprojectError> {
    let doc = parse(path, text)?;
    if !doc.contains_key("project") {
        return Err(no_project_table(&doc, path));
    }
    let project = doc.get("project").and_then(Item::as_table_like);
    let string = |item: Option<&Item>| item.and_then(Item::as_str).map(str::to_string);
    let name = string(project.and_then(|p| p.get("name")));
    let version = string(project.and_then(|p| p.get("version")));
    let version_dynamic = project
        .and_then(|p| p.get("dynamic"))
        .and_then(Item::as_array)
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("version")));
    let homepage = project
        .and_then(|p| p.get("urls"))
        .and_then(Item::as_table_like)
        .and_then(|urls| {
            urls.iter()
                .find(|(k, _)| url_label(k) == "homepage")
                .and_then(|(_, v)| v.as_str().map(str::to_string))
        });
    Ok(Current {
        name: Field::of(name.as_deref()),
        version: Field::of(version.as_deref()),
        version_dynamic,
        homepage: Field::of(homepage.as_deref()),
    })
}

/// What to write; `None` leaves the value as it is.
#[derive(Debug, Clone, Default)]
pub struct ReleaseMetadata {
    pub name: Option<PackageName>,
    pub version: Option<Version>,
    pub homepage: Option<String>,
}

/// One change the rewrite made (or found unnecessary), for the command to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// A value was replaced or added.
    Set {
        key: &'static str,
        old: Option<String>,
        new: String,
    },
    /// The value already was the wanted one.
    Unchanged { key: &'static str, value: String },
    /// `version` was removed from `project.dynamic` and written as a static value.
    VersionMadeStatic,
    /// `version` is dynamic and no version was given: the backend decides it.
    VersionLeftDynamic,
    /// There was no `[project.urls]` table; one was added.
    UrlsTableAdded,
}

/// The rewritten text and what the release metadata now is.
#[derive(Debug, Clone)]
pub struct Rewrite {
    pub original: String,
    pub text: String,
    pub edits: Vec<Edit>,
    /// `[project].name` after the rewrite.
    pub name: Option<String>,
    /// `[project].version` after the rewrite; `None` when it is dynamic or absent.
    pub version: Option<String>,
}

impl Rewrite {
    pub fn changed(&self) -> bool {
        self.text != self.original
    }
}

/// Parse `text` (the content of `path`), with syntax errors as `path:LINE:COL`.
pub fn parse(path: &Path, text: &str) -> Result<DocumentMut, PyprojectError> {
    text.parse::<DocumentMut>().map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start).min(text.len());
        let (line, column) = line_column(text, offset);
        PyprojectError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim_end().replace('\n', "; "),
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset;
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn type_name(item: &Item) -> &'static str {
    match item {
        Item::None => "absent",
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(v) => match v {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime(_) => "a datetime",
            Value::Array(_) => "an array",
            Value::InlineTable(_) => "an inline table",
        },
    }
}

/// Rewrite the release metadata of `text` (the content of `path`, which is
/// only used in errors). Every byte not belonging to a changed value is kept.
pub fn rewrite(
    path: &Path,
    text: &str,
    metadata: &ReleaseMetadata,
) -> Result<Rewrite, PyprojectError> {
    let mut doc = parse(path, text)?;
    let wrong_type = |key: &'static str, expected: &'static str, found: &'static str| {
        PyprojectError::WrongType {
            path: path.to_path_buf(),
            key,
            expected,
            found,
        }
    };

    if !doc.contains_key("project") {
        return Err(no_project_table(&doc, path));
    }
    let project_item = &mut doc["project"];
    let project_type = type_name(project_item);
    let project = project_item
        .as_table_mut()
        .ok_or_else(|| wrong_type("project", "a table", project_type))?;

    let mut edits = Vec::new();

    if let Some(name) = &metadata.name {
        edits.push(set_string_like(
            project,
            "name",
            "project.name",
            name.as_str(),
            &wrong_type,
        )?);
    }

    let version_dynamic = match project.get("dynamic") {
        None => false,
        Some(item) => {
            let array = item.as_array().ok_or_else(|| {
                wrong_type("project.dynamic", "an array of strings", type_name(item))
            })?;
            array.iter().any(|v| v.as_str() == Some("version"))
        }
    };
    match (&metadata.version, version_dynamic) {
        (Some(version), dynamic) => {
            if dynamic {
                // The release version must be exactly the tag's, and the built dists
                // are checked against it; a backend plugin (setuptools-scm, a
                // version attribute) could compute something else, e.g. a
                // `.devN+g<hash>` version on a dirty checkout. So the version
                // stops being dynamic and is written as a static value.
                remove_dynamic_version(project);
                edits.push(Edit::VersionMadeStatic);
            }
            let edit = set_string_like(
                project,
                "version",
                "project.version",
                &version.to_string(),
                &wrong_type,
            )?;
            if matches!(edit, Edit::Set { old: None, .. }) {
                place_after(project, "version", "name");
            }
            edits.push(edit);
        }
        (None, true) => edits.push(Edit::VersionLeftDynamic),
        (None, false) => {}
    }

    if let Some(homepage) = &metadata.homepage {
        if !project.contains_key("urls") {
            let mut urls = Table::new();
            urls.insert("Homepage", toml_edit::value(homepage.as_str()));
            project.insert("urls", Item::Table(urls));
            edits.push(Edit::UrlsTableAdded);
            edits.push(Edit::Set {
                key: "project.urls.Homepage",
                old: None,
                new: homepage.clone(),
            });
        } else {
            let urls_item = &mut project["urls"];
            let urls_type = type_name(urls_item);
            let urls = urls_item
                .as_table_like_mut()
                .ok_or_else(|| wrong_type("project.urls", "a table", urls_type))?;
            // PEP 753: labels compare with punctuation and whitespace removed,
            // lowercased, so "Homepage", "homepage" and "Home-page" are one label.
            let key = urls
                .iter()
                .map(|(k, _)| k.to_string())
                .find(|k| url_label(k) == "homepage")
                .unwrap_or_else(|| "Homepage".to_string());
            edits.push(set_string_like(
                urls,
                &key,
                "project.urls.Homepage",
                homepage,
                &wrong_type,
            )?);
        }
    }

    let name = project
        .get("name")
        .and_then(Item::as_str)
        .map(str::to_string);
    let version_dynamic_now = project
        .get("dynamic")
        .and_then(Item::as_array)
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("version")));
    let version = if version_dynamic_now {
        None
    } else {
        project
            .get("version")
            .and_then(Item::as_str)
            .map(str::to_string)
    };

    // Untouched values keep their original representation, so a document with
    // no edits renders back to the very same bytes.
    let new_text = doc.to_string();
    Ok(Rewrite {
        original: text.to_string(),
        text: new_text,
        edits,
        name,
        version,
    })
}

/// Why a document without `[project]` cannot be released: Poetry-only or bare.
fn no_project_table(doc: &DocumentMut, path: &Path) -> PyprojectError {
    let poetry = doc
        .get("tool")
        .and_then(Item::as_table_like)
        .is_some_and(|tool| tool.contains_key("poetry"));
    if poetry {
        PyprojectError::PoetryOnly {
            path: path.to_path_buf(),
        }
    } else {
        PyprojectError::NoProjectTable {
            path: path.to_path_buf(),
        }
    }
}

fn url_label(key: &str) -> String {
    key.chars()
        .filter(|c| !c.is_ascii_punctuation() && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Set a string value, keeping the old value's surrounding whitespace and
/// trailing comment, and its quoting style when the new value allows it.
fn set_string_like(
    table: &mut dyn TableLike,
    key: &str,
    label: &'static str,
    new: &str,
    wrong_type: &impl Fn(&'static str, &'static str, &'static str) -> PyprojectError,
) -> Result<Edit, PyprojectError> {
    match table.get_mut(key) {
        None => {
            table.insert(key, toml_edit::value(new));
            Ok(Edit::Set {
                key: label,
                old: None,
                new: new.to_string(),
            })
        }
        Some(item) => {
            let found = type_name(item);
            let Some(Value::String(old)) = item.as_value_mut() else {
                return Err(wrong_type(label, "a string", found));
            };
            let old_value = old.value().clone();
            if old_value == new {
                return Ok(Edit::Unchanged {
                    key: label,
                    value: old_value,
                });
            }
            let literal = old
                .as_repr()
                .and_then(|r| r.as_raw().as_str())
                .is_some_and(|raw| raw.starts_with('\''));
            let mut value = if literal && !new.contains('\'') && !new.chars().any(char::is_control)
            {
                format!("'{new}'")
                    .parse::<Value>()
                    .unwrap_or_else(|_| Value::from(new))
            } else {
                Value::from(new)
            };
            *value.decor_mut() = old.decor().clone();
            *item = Item::Value(value);
            Ok(Edit::Set {
                key: label,
                old: Some(old_value),
                new: new.to_string(),
            })
        }
    }
}

/// Remove `"version"` from `project.dynamic`, keeping the array's layout: the
/// next element takes over the removed one's leading whitespace, and the new
/// last element the removed last one's trailing whitespace.
fn remove_dynamic_version(project: &mut Table) {
    let Some(array) = project.get_mut("dynamic").and_then(Item::as_array_mut) else {
        return;
    };
    loop {
        let found = array.iter().position(|v| v.as_str() == Some("version"));
        let Some(index) = found else { break };
        let removed = array.remove(index);
        let len = array.len();
        if len == 0 {
            break;
        }
        if index == 0 {
            let prefix = removed.decor().prefix().cloned();
            if let (Some(next), Some(prefix)) = (array.get_mut(0), prefix) {
                next.decor_mut().set_prefix(prefix);
            }
        }
        if index == len {
            let suffix = removed.decor().suffix().cloned();
            if let (Some(last), Some(suffix)) = (array.get_mut(len - 1), suffix) {
                last.decor_mut().set_suffix(suffix);
            }
        }
    }
}

/// Move `key` right after `anchor` in the table's key order (a new key is
/// otherwise appended at the end of the table).
fn place_after(table: &mut Table, key: &str, anchor: &str) {
    let order: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
    let Some(anchor_index) = order.iter().position(|k| k == anchor) else {
        return;
    };
    let rank = |k: &str| -> usize {
        if k == key {
            anchor_index * 2 + 1
        } else {
            order.iter().position(|o| o == k).unwrap_or(usize::MAX / 4) * 2
        }
    };
    table.sort_values_by(|k1, _, k2, _| rank(k1.get()).cmp(&rank(k2.get())));
}

crate::register_hint!(PyprojectError);
crate::register_hint!(MetadataError);

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: Option<&str>, version: Option<&str>, homepage: Option<&str>) -> ReleaseMetadata {
        ReleaseMetadata {
            name: name.map(|n| PackageName::parse(n, "--name").unwrap()),
            version: version.map(|v| parse_version(v, "--version").unwrap()),
            homepage: homepage.map(str::to_string),
        }
    }

    fn rw(text: &str, m: &ReleaseMetadata) -> Rewrite {
        rewrite(Path::new("pyproject.toml"), text, m).unwrap()
    }

    const COMMENTED: &str = r#"# Project file, hand formatted.

[build-system]
requires = ["setuptools>=61"]   # backend
build-backend = "setuptools.build_meta"

[project]
description = "first, before name"
# the name comes second
name   =   "my_package"  # Will be dynamically replaced by CI/CD pipeline
authors = [{ name = "Ann Author", email = "ann@example.com" }]

version = '0.0.1'    # replaced too
readme = "README.md"

[project.urls]
"Homepage" = "https://example.com/old"  # replaced
Source = "https://example.com/src"

[tool.other]
name = "must stay"
version = "must stay"
"#;

    #[test]
    fn only_the_three_values_change_and_everything_else_is_kept() {
        let r = rw(
            COMMENTED,
            &meta(
                Some("new_name"),
                Some("1.2.3"),
                Some("https://gitlab.com/g/p"),
            ),
        );
        let expected = COMMENTED
            .replace(r#"=   "my_package""#, r#"=   "new_name""#)
            .replace("'0.0.1'", "'1.2.3'")
            .replace(
                r#""https://example.com/old""#,
                r#""https://gitlab.com/g/p""#,
            );
        assert_eq!(r.text, expected);
        assert_eq!(r.name.as_deref(), Some("new_name"));
        assert_eq!(r.version.as_deref(), Some("1.2.3"));
        assert!(r.changed());
    }

    #[test]
    fn no_change_renders_the_same_bytes() {
        let r = rw(
            COMMENTED,
            &meta(Some("my_package"), None, Some("https://example.com/old")),
        );
        assert_eq!(r.text, COMMENTED);
        assert!(!r.changed());
        assert!(r.edits.iter().all(|e| matches!(e, Edit::Unchanged { .. })));
        let r = rw(COMMENTED, &ReleaseMetadata::default());
        assert_eq!(r.text, COMMENTED);
    }

    #[test]
    fn dynamic_version_becomes_static_after_name() {
        let text =
            "[project]\nname = \"p\"\ndynamic = [ \"version\",  \"readme\" ]\n\n[tool.x]\na = 1\n";
        let r = rw(text, &meta(None, Some("2.0"), None));
        assert_eq!(
            r.text,
            "[project]\nname = \"p\"\nversion = \"2.0\"\ndynamic = [ \"readme\" ]\n\n[tool.x]\na = 1\n"
        );
        assert!(r.edits.contains(&Edit::VersionMadeStatic));
        assert_eq!(r.version.as_deref(), Some("2.0"));

        let text = "[project]\nname = \"p\"\ndynamic = [\"readme\", \"version\"]\n";
        let r = rw(text, &meta(None, Some("2.0"), None));
        assert_eq!(
            r.text,
            "[project]\nname = \"p\"\nversion = \"2.0\"\ndynamic = [\"readme\"]\n"
        );
        let text = "[project]\nname = \"p\"\ndynamic = [\"version\"]\n";
        let r = rw(text, &meta(None, Some("2.0"), None));
        assert_eq!(
            r.text,
            "[project]\nname = \"p\"\nversion = \"2.0\"\ndynamic = []\n"
        );
    }

    #[test]
    fn dynamic_version_without_a_version_is_left_alone() {
        let text = "[project]\nname = \"p\"\ndynamic = [\"version\"]\n";
        let r = rw(text, &meta(Some("q"), None, None));
        assert!(r.edits.contains(&Edit::VersionLeftDynamic));
        assert_eq!(r.version, None);
        assert_eq!(r.text, text.replace("\"p\"", "\"q\""));
    }

    #[test]
    fn a_missing_urls_table_is_added_after_project() {
        let text = "[project]\nname = \"p\"\nversion = \"1\"\n\n[tool.x]\na = 1\n";
        let r = rw(text, &meta(None, None, Some("https://h/p")));
        assert_eq!(
            r.text,
            "[project]\nname = \"p\"\nversion = \"1\"\n\n[project.urls]\nHomepage = \"https://h/p\"\n\n[tool.x]\na = 1\n"
        );
        assert!(r.edits.contains(&Edit::UrlsTableAdded));
    }

    #[test]
    fn homepage_labels_match_per_pep_753_and_inline_tables_work() {
        let text = "[project]\nname = \"p\"\nurls = { home-page = \"https://old\", Docs = \"https://d\" }\n";
        let r = rw(text, &meta(None, None, Some("https://new")));
        assert_eq!(r.text, text.replace("https://old", "https://new"));
    }

    #[test]
    fn poetry_only_and_missing_project_are_told_apart() {
        let e = rewrite(
            Path::new("pyproject.toml"),
            "[tool.poetry]\nname = \"p\"\n",
            &ReleaseMetadata::default(),
        )
        .unwrap_err();
        assert!(matches!(e, PyprojectError::PoetryOnly { .. }), "{e}");
        assert!(e.hint().unwrap().contains("Poetry >= 2"));
        let e = rewrite(
            Path::new("pyproject.toml"),
            "[build-system]\nrequires = []\n",
            &ReleaseMetadata::default(),
        )
        .unwrap_err();
        assert!(matches!(e, PyprojectError::NoProjectTable { .. }), "{e}");
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let e = parse(
            Path::new("x/pyproject.toml"),
            "[project]\nname = \"p\nversion = \"1\"\n",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("x/pyproject.toml:2:10: "), "{text}");
        assert_eq!(line_column("ab\ncdé", 7), (2, 4));
    }

    #[test]
    fn wrong_types_are_named() {
        let e = rewrite(
            Path::new("pyproject.toml"),
            "[project]\nname = 3\n",
            &meta(Some("p"), None, None),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "pyproject.toml: project.name is an integer, expected a string"
        );
        let e = rewrite(
            Path::new("pyproject.toml"),
            "project = 1\n",
            &meta(Some("p"), None, None),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "pyproject.toml: project is an integer, expected a table"
        );
    }

    #[test]
    fn names_follow_pep_508_and_the_tutorial() {
        for ok in ["a", "A1", "my_pkg", "my-pkg.x", "9"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a b", "a/b", "é", "a_"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        let n = |s| PackageName::from_ci_project_name(s).map(|n| n.to_string());
        assert_eq!(n("my-project").unwrap(), "my_project");
        assert_eq!(n("My Project").unwrap(), "My_Project");
        assert_eq!(n("-x--y.z-").unwrap(), "x__y.z");
        assert!(n("¿?").is_err());
    }

    #[test]
    fn the_tutorials_placeholders_are_recognised() {
        for p in [
            "<my_package>",
            "<1.0.0>",
            " <https://gitlab.com/my_package> ",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for v in ["my_package", "1.0.0", "<", "<a", "a>", ""] {
            assert!(!is_placeholder(v), "{v}");
        }
        let tutorial = "[project]\nname = \"<my_package>\"\nversion = \"<1.0.0>\"\n\n\
[project.urls]\n\"Homepage\" = \"<https://gitlab.com/my_package>\"\n";
        let c = current(Path::new("pyproject.toml"), tutorial).unwrap();
        assert_eq!(c.name, Field::Placeholder("<my_package>".into()));
        assert_eq!(c.version, Field::Placeholder("<1.0.0>".into()));
        assert_eq!(c.homepage.real(), None);
        assert!(!c.version_dynamic);
        let c = current(
            Path::new("p"),
            "[project]\nname = \"x\"\ndynamic = [\"version\"]\n",
        )
        .unwrap();
        assert_eq!(c.name.real(), Some("x"));
        assert_eq!((c.version, c.version_dynamic), (Field::Missing, true));
    }

    #[test]
    fn versions_come_from_tags_and_must_be_pep_440() {
        assert_eq!(version_from_tag("v1.2.3").unwrap().to_string(), "1.2.3");
        assert_eq!(
            version_from_tag("1.2.3rc1").unwrap().to_string(),
            "1.2.3rc1"
        );
        let e = version_from_tag("v1.2.x").unwrap_err();
        assert!(e.to_string().contains("CI_COMMIT_TAG=v1.2.x"), "{e}");
        assert!(e.hint().unwrap().contains("v1.2.3"));
        assert!(check_homepage("https://gitlab.com/g/p", "--homepage").is_ok());
        assert!(check_homepage("gitlab.com/g/p", "--homepage").is_err());
    }
}
