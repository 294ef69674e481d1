//! Python distributions: what a file is, read from the file itself.
//!
//! Metadata comes from the dist (wheel `*.dist-info/METADATA`, sdist
//! `PKG-INFO`) through `python-pkginfo`, never from the file name alone, and a
//! file whose metadata cannot be read is refused before anything is uploaded.

use std::path::{Path, PathBuf};

use python_pkginfo::{Distribution, DistributionType};

/// A distribution ready to publish.
#[derive(Debug, Clone)]
pub struct Dist {
    pub path: PathBuf,
    pub filename: String,
    pub kind: DistKind,
    /// `pyversion` form field: the wheel's python tag, or `source`.
    pub pyversion: String,
    pub metadata: python_pkginfo::Metadata,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistKind {
    Wheel,
    Sdist,
}

impl DistKind {
    /// The `filetype` form field.
    pub fn filetype(self) -> &'static str {
        match self {
            DistKind::Wheel => "bdist_wheel",
            DistKind::Sdist => "sdist",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("{} is not a Python distribution: expected a .whl, .tar.gz or .zip file", path.display())]
    NotADist { path: PathBuf },
    #[error("cannot read the metadata of {}", path.display())]
    Metadata {
        path: PathBuf,
        #[source]
        source: python_pkginfo::Error,
    },
    #[error("{}: the metadata has no {field}", path.display())]
    Missing { path: PathBuf, field: &'static str },
}

impl Dist {
    pub fn open(path: &Path) -> Result<Dist, DistError> {
        let not_a_dist = || DistError::NotADist {
            path: path.to_path_buf(),
        };
        // python-pkginfo assumes UTF-8 names; check first rather than panic.
        let filename = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(not_a_dist)?
            .to_string();
        if !(filename.ends_with(".whl")
            || filename.ends_with(".tar.gz")
            || filename.ends_with(".zip"))
        {
            return Err(not_a_dist());
        }
        let dist = Distribution::new(path).map_err(|source| DistError::Metadata {
            path: path.to_path_buf(),
            source,
        })?;
        let kind = match dist.r#type() {
            DistributionType::Wheel => DistKind::Wheel,
            DistributionType::SDist => DistKind::Sdist,
            DistributionType::Egg => return Err(not_a_dist()),
        };
        let metadata = dist.metadata().clone();
        if metadata.name.trim().is_empty() {
            return Err(DistError::Missing {
                path: path.to_path_buf(),
                field: "Name",
            });
        }
        if metadata.version.trim().is_empty() {
            return Err(DistError::Missing {
                path: path.to_path_buf(),
                field: "Version",
            });
        }
        Ok(Dist {
            path: path.to_path_buf(),
            filename,
            kind,
            pyversion: dist.python_version().to_string(),
            metadata,
        })
    }
}

/// PEP 503 normalised project name: runs of `-_.` become `-`, lowercase.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}

/// The (name, version) a dist file name claims, for picking a release's
/// files out of an index: `{name}-{version}-….whl` or `{name}-{version}.tar.gz`.
pub fn name_and_version_from_filename(filename: &str) -> Option<(String, String)> {
    if let Some(stem) = filename.strip_suffix(".whl") {
        let mut parts = stem.split('-');
        let name = parts.next()?;
        let version = parts.next()?;
        return (parts.count() >= 3).then(|| (name.to_string(), version.to_string()));
    }
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))?;
    // The version is after the last '-' (PEP 625 names have no '-' in the name part).
    let (name, version) = stem.rsplit_once('-')?;
    Some((name.to_string(), version.to_string()))
}

/// Whether two PEP 440 versions are equal (`1.0` == `1.0.0`), falling back to
/// string equality for versions that do not parse.
pub fn same_version(a: &str, b: &str) -> bool {
    match (
        a.parse::<pep440_rs::Version>(),
        b.parse::<pep440_rs::Version>(),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

crate::register_hint!(none DistError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_per_pep_503() {
        assert_eq!(normalize_name("My_Package.Name"), "my-package-name");
        assert_eq!(normalize_name("a--_b"), "a-b");
    }

    #[test]
    fn filenames_give_name_and_version() {
        assert_eq!(
            name_and_version_from_filename("my_pkg-1.2.3-py3-none-any.whl"),
            Some(("my_pkg".into(), "1.2.3".into()))
        );
        assert_eq!(
            name_and_version_from_filename("my_pkg-1.2.3-1-py3-none-any.whl"),
            Some(("my_pkg".into(), "1.2.3".into()))
        );
        assert_eq!(
            name_and_version_from_filename("my_pkg-1.2.3.tar.gz"),
            Some(("my_pkg".into(), "1.2.3".into()))
        );
        assert_eq!(name_and_version_from_filename("bad.whl"), None);
        assert_eq!(name_and_version_from_filename("x.txt"), None);
        assert!(same_version("1.0", "1.0.0"));
        assert!(!same_version("1.0", "1.0.1"));
    }

    #[test]
    fn non_dists_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sig = dir.path().join("pkg-1.0-py3-none-any.whl.sig");
        std::fs::write(&sig, "AAAA").unwrap();
        assert!(matches!(
            Dist::open(&sig).unwrap_err(),
            DistError::NotADist { .. }
        ));
        let broken = dir.path().join("pkg-1.0-py3-none-any.whl");
        std::fs::write(&broken, "not a zip").unwrap();
        assert!(matches!(
            Dist::open(&broken).unwrap_err(),
            DistError::Metadata { .. }
        ));
    }
}
