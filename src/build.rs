//! The build: find and write `pyproject.toml`, run the project's own build
//! backend through PyPA `build` in a child process, and read the produced dists
//! back to check that they carry the name and version that were written.
//!
//! The TOML rewrite itself is [`crate::pyproject`] (text in, text out). Nothing
//! here prints or reads the environment: the command resolves defaults from
//! [`crate::ci::CiEnvironment`] and reports what it gets back.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use crate::diagnostics::Hint;
use crate::pyproject::{PyprojectError, PYPROJECT};
use crate::registry::dist::{normalize_name, same_version, Dist, DistError};

/// Find and read `PROJECT_DIR/pyproject.toml`, telling a setup.py-only
/// project apart from a directory that is not a project.
pub fn read(project_dir: &Path) -> Result<(PathBuf, String), PyprojectError> {
    if !project_dir.is_dir() {
        return Err(PyprojectError::NotADirectory {
            dir: project_dir.to_path_buf(),
        });
    }
    let path = project_dir.join(PYPROJECT);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((path, text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let files: Vec<&'static str> = ["setup.py", "setup.cfg"]
                .into_iter()
                .filter(|f| project_dir.join(f).is_file())
                .collect();
            if files.is_empty() {
                Err(PyprojectError::NoPyproject {
                    dir: project_dir.to_path_buf(),
                })
            } else {
                Err(PyprojectError::SetupOnly {
                    dir: project_dir.to_path_buf(),
                    files,
                })
            }
        }
        Err(source) => Err(PyprojectError::Read { path, source }),
    }
}

/// Write `text` to `path` through a temporary file in the same directory and
/// a rename, keeping the file's permissions, so a crash never leaves half a file.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), PyprojectError> {
    crate::files::write_atomic(path, text.as_bytes()).map_err(|source| PyprojectError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// How to run the build.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// The interpreter that runs `-m build`.
    pub python: OsString,
    pub project_dir: PathBuf,
    pub outdir: PathBuf,
    /// `python -m build --no-isolation`: use the interpreter's installed build
    /// requirements instead of a fresh environment (no network needed).
    pub no_isolation: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot run the Python interpreter {}", python.to_string_lossy())]
    Spawn {
        python: OsString,
        #[source]
        source: std::io::Error,
    },
    #[error("{} cannot import PyPA build (the `build` package)", python.to_string_lossy())]
    BuildMissing { python: OsString },
    #[error("`{} -m build` failed for {} ({status})", python.to_string_lossy(), project_dir.display())]
    Failed {
        python: OsString,
        project_dir: PathBuf,
        status: ExitStatus,
        /// The backend's own complaint about the project's metadata, when it
        /// made one: then the metadata is the cause, not the environment.
        metadata_complaint: Option<String>,
        no_isolation: bool,
    },
    #[error("the build of {} produced no files", project_dir.display())]
    NoOutput { project_dir: PathBuf },
    #[error("cannot use the output directory {}", path.display())]
    Outdir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot move the built {} into {}", file, outdir.display())]
    Move {
        file: String,
        outdir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot hash {}", path.display())]
    Hash {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Dist(#[from] DistError),
}

impl Hint for BuildError {
    fn hint(&self) -> Option<String> {
        match self {
            BuildError::Spawn { .. } => Some("choose another Python interpreter".into()),
            BuildError::BuildMissing { python } => Some(format!(
                "install it: {} -m pip install build (or choose another interpreter)",
                python.to_string_lossy()
            )),
            BuildError::Failed {
                metadata_complaint: Some(line),
                ..
            } => {
                let ours = ["project.name", "project.version", "project.urls"]
                    .iter()
                    .any(|k| line.contains(k));
                Some(format!(
                    "the build backend refused the project's metadata ({line}); fix that value in \
pyproject.toml{}",
                    if ours {
                        ", or let gl-sign build write it (from its name, version and homepage \
settings, or the GitLab CI variables)"
                    } else {
                        ""
                    }
                ))
            }
            BuildError::Failed {
                no_isolation: true, ..
            } => Some(
                "the build backend's own output is above; without build isolation the build \
requirements ([build-system].requires) must be installed in that interpreter"
                    .into(),
            ),
            BuildError::Failed { .. } => Some("the build backend's own output is above".into()),
            _ => None,
        }
    }
}

/// A dist the build produced, in the output directory.
#[derive(Debug, Clone)]
pub struct BuiltDist {
    pub dist: Dist,
    pub sha256: String,
}

/// Build the sdist and the wheel with the project's own backend:
/// `PYTHON -m build --sdist --wheel --outdir DIR PROJECT_DIR`. Each line the
/// child prints goes to `on_output` (the command shows it as progress).
///
/// The build writes into a fresh directory inside `outdir`, so the files it
/// produced are known exactly even when `outdir` holds older dists; they are
/// then moved into `outdir`, replacing files of the same name.
pub fn build(
    settings: &BuildSettings,
    on_output: &(dyn Fn(&[u8]) + Sync),
) -> Result<Vec<BuiltDist>, BuildError> {
    let spawn = |source| BuildError::Spawn {
        python: settings.python.clone(),
        source,
    };
    let probe = Command::new(&settings.python)
        .args(["-c", "import build"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(spawn)?;
    if !probe.success() {
        return Err(BuildError::BuildMissing {
            python: settings.python.clone(),
        });
    }

    let outdir_error = |source| BuildError::Outdir {
        path: settings.outdir.clone(),
        source,
    };
    std::fs::create_dir_all(&settings.outdir).map_err(outdir_error)?;
    let staging = tempfile::Builder::new()
        .prefix(".gl-sign-build-")
        .tempdir_in(&settings.outdir)
        .map_err(outdir_error)?;

    let mut command = Command::new(&settings.python);
    command
        .args(["-m", "build", "--sdist", "--wheel", "--outdir"])
        .arg(staging.path());
    if settings.no_isolation {
        command.arg("--no-isolation");
    }
    command
        .arg(&settings.project_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (status, output) = run_teeing(&mut command, on_output).map_err(spawn)?;
    if !status.success() {
        return Err(BuildError::Failed {
            python: settings.python.clone(),
            project_dir: settings.project_dir.clone(),
            status,
            metadata_complaint: metadata_complaint(&output),
            no_isolation: settings.no_isolation,
        });
    }

    let mut produced: Vec<PathBuf> = std::fs::read_dir(staging.path())
        .map_err(outdir_error)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    produced.sort();
    if produced.is_empty() {
        return Err(BuildError::NoOutput {
            project_dir: settings.project_dir.clone(),
        });
    }
    let mut built = Vec::new();
    for staged in produced {
        let mut dist = Dist::open(&staged)?;
        let dest = settings.outdir.join(&dist.filename);
        std::fs::rename(&staged, &dest).map_err(|source| BuildError::Move {
            file: dist.filename.clone(),
            outdir: settings.outdir.clone(),
            source,
        })?;
        dist.path = dest;
        let sha256 =
            crate::registry::sha256_file(&dist.path).map_err(|source| BuildError::Hash {
                path: dist.path.clone(),
                source,
            })?;
        built.push(BuiltDist { dist, sha256 });
    }
    Ok(built)
}

/// Run `command` (stdout and stderr piped), handing each line of either to
/// `on_output` as it comes; returns the status and the text seen.
fn run_teeing(
    command: &mut Command,
    on_output: &(dyn Fn(&[u8]) + Sync),
) -> std::io::Result<(ExitStatus, String)> {
    use std::io::{BufRead as _, BufReader, Read};
    use std::sync::Mutex;
    let mut child = command.spawn()?;
    let seen = Mutex::new(String::new());
    let streams: Vec<Box<dyn Read + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    std::thread::scope(|scope| {
        for stream in streams {
            let seen = &seen;
            scope.spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = Vec::new();
                while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                    on_output(&line);
                    if let Ok(mut seen) = seen.lock() {
                        seen.push_str(&String::from_utf8_lossy(&line));
                    }
                    line.clear();
                }
            });
        }
    });
    let status = child.wait()?;
    let text = seen.into_inner().unwrap_or_default();
    Ok((status, text))
}

/// The line in which a build backend rejects the project's metadata, if any:
/// setuptools' "configuration error: `project.version` must be pep440" and
/// "invalid pyproject.toml config", hatchling's and flit's field errors.
fn metadata_complaint(output: &str) -> Option<String> {
    const SIGNS: &[&str] = &[
        "configuration error:",
        "invalid pyproject.toml config",
        "must be pep440",
        "Invalid version",
        "ConfigError",
        "field `project.",
        "Field `project.",
    ];
    output
        .lines()
        .map(str::trim)
        .find(|line| SIGNS.iter().any(|s| line.contains(s)))
        .map(|line| {
            let line: String = line.chars().take(200).collect();
            line
        })
}

/// The last release tag a checkout has: the highest PEP 440 version among the
/// tags reachable from HEAD (`v1.2.3` or `1.2.3`; other tags are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastTag {
    Found {
        tag: String,
        version: pep440_rs::Version,
    },
    /// A git checkout with no version tag reachable from HEAD; `shallow` says
    /// the clone may just not hold it (GitLab clones with a depth unless
    /// `GIT_DEPTH` is 0).
    NoVersionTag { shallow: bool },
    /// Not a git checkout, or git did not run.
    NoGit { reason: String },
}

pub fn last_version_tag(project_dir: &Path) -> LastTag {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(project_dir)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
    };
    let output = match git(&["tag", "--merged", "HEAD"]) {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            return LastTag::NoGit {
                reason: String::from_utf8_lossy(&o.stderr).trim().to_string(),
            }
        }
        Err(e) => {
            return LastTag::NoGit {
                reason: format!("cannot run git: {e}"),
            }
        }
    };
    let best = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|tag| {
            let tag = tag.trim();
            let version = crate::pyproject::version_from_tag(tag).ok()?;
            Some((version, tag.to_string()))
        })
        .max();
    match best {
        Some((version, tag)) => LastTag::Found { tag, version },
        None => LastTag::NoVersionTag {
            shallow: git(&["rev-parse", "--is-shallow-repository"])
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true"),
        },
    }
}

/// A dist whose metadata does not carry what was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub field: &'static str,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected {} {:?}, the metadata has {:?}",
            self.field, self.expected, self.found
        )
    }
}

/// Compare a dist's metadata with the written name (PEP 503-normalised) and
/// version (PEP 440-equal). `None` skips that check.
pub fn check_dist(dist: &Dist, name: Option<&str>, version: Option<&str>) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    if let Some(name) = name {
        if normalize_name(name) != normalize_name(&dist.metadata.name) {
            mismatches.push(Mismatch {
                field: "name",
                expected: name.to_string(),
                found: dist.metadata.name.clone(),
            });
        }
    }
    if let Some(version) = version {
        if !same_version(version, &dist.metadata.version) {
            mismatches.push(Mismatch {
                field: "version",
                expected: version.to_string(),
                found: dist.metadata.version.clone(),
            });
        }
    }
    mismatches
}

crate::register_hint!(BuildError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_complaints_are_told_from_other_failures() {
        let setuptools =
            "Traceback...\nValueError: invalid pyproject.toml config: `project.version`.\n\
configuration error: `project.version` must be pep440\n";
        assert_eq!(
            metadata_complaint(setuptools).as_deref(),
            Some("ValueError: invalid pyproject.toml config: `project.version`.")
        );
        let missing = "ERROR Missing dependencies:\n\tsetuptools>=61\n";
        assert_eq!(metadata_complaint(missing), None);
        assert_eq!(metadata_complaint(""), None);
    }
}
