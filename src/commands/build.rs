//! `gl-sign build`: the tutorial's `sed` edits of pyproject.toml, done right,
//! then `python -m build`, then a check that the dists carry what was written.

use std::io::Write as _;
use std::path::Path;

use pep440_rs::Version;

use super::section::Section;
use crate::build::{self, check_dist, BuildSettings, LastTag};
use crate::ci::{development_version, CiEnvironment};
use crate::cli::BuildArgs;
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::pyproject::{
    self, check_homepage, parse_version, version_from_tag, Current, Edit, Field, MetadataError,
    PackageName, ReleaseMetadata,
};

pub fn run(args: BuildArgs, ci: &CiEnvironment) -> anyhow::Result<ExitStatus> {
    let (path, text) = build::read(&args.project_dir)?;
    let current = pyproject::current(&path, &text)?;
    let metadata = release_metadata(&args, ci, &current)?;
    let rewrite = pyproject::rewrite(&path, &text, &metadata)?;
    let shown = path.display();
    for edit in &rewrite.edits {
        eprintln!("{shown}: {}", describe(edit));
    }
    if let (Some(version), Some(given)) = (&metadata.version, given_version(&args, ci)) {
        let written = version.to_string();
        if written != given.trim_start_matches(['v', 'V']) {
            eprintln!("{shown}: {given:?} is written in its normalised PEP 440 form {written:?}");
        }
    }
    if rewrite.changed() {
        build::write_atomic(&path, &rewrite.text)?;
        eprintln!("{shown}: written");
    } else {
        eprintln!("{shown}: nothing to change");
    }
    if args.no_build {
        return Ok(ExitStatus::Success);
    }

    let settings = BuildSettings {
        python: args.python.clone(),
        project_dir: args.project_dir.clone(),
        outdir: args
            .outdir
            .clone()
            .unwrap_or_else(|| args.project_dir.join("dist")),
        no_isolation: args.no_isolation,
    };
    let header = format!(
        "building {} with {} -m build{} into {}",
        settings.project_dir.display(),
        settings.python.to_string_lossy(),
        if settings.no_isolation {
            " --no-isolation"
        } else {
            ""
        },
        settings.outdir.display()
    );
    let section = Section::start(ci.in_gitlab_ci(), "gl_sign_build", &header);
    if !ci.in_gitlab_ci() {
        eprintln!("{header}");
    }
    let built = build::build(&settings, &|line: &[u8]| {
        let _ = std::io::stderr().write_all(line);
    });
    drop(section);
    let built = built?;

    let mut status = ExitStatus::Success;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for b in &built {
        let mismatches = check_dist(&b.dist, rewrite.name.as_deref(), rewrite.version.as_deref());
        let file = b.dist.path.display();
        if mismatches.is_empty() {
            writeln!(out, "{file} sha256:{}", b.sha256)?;
        } else {
            status = status.worst(ExitStatus::Rejected);
            let reasons: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
            out.flush()?;
            eprintln!("FAILED {file}: {}", reasons.join("; "));
        }
    }
    out.flush()?;
    match status {
        ExitStatus::Success => eprintln!(
            "{} dists built, carrying {} {}",
            built.len(),
            rewrite.name.as_deref().unwrap_or("(no name)"),
            rewrite
                .version
                .as_deref()
                .unwrap_or("(dynamic version, not checked)")
        ),
        _ => eprintln!(
            "hint: the build backend did not use [project] from {shown}; check its configuration \
(e.g. a setup.py passing name= or version=)"
        ),
    }
    Ok(status)
}

/// The version text the user gave, for telling them when it was normalised.
fn given_version<'a>(args: &'a BuildArgs, ci: &'a CiEnvironment) -> Option<&'a str> {
    args.version.as_deref().or_else(|| ci.get("CI_COMMIT_TAG"))
}

/// Flags first, then the GitLab CI variables; each value checked before
/// anything is written. A placeholder (`<…>`) or missing value with nothing to
/// write over it is refused here, before the backend fails on it.
fn release_metadata(
    args: &BuildArgs,
    ci: &CiEnvironment,
    current: &Current,
) -> anyhow::Result<ReleaseMetadata> {
    let name = match (&args.name, ci.get("CI_PROJECT_NAME")) {
        (Some(name), _) => Some(PackageName::parse(name, "--name")?),
        (None, Some(project)) => Some(PackageName::from_ci_project_name(project)?),
        (None, None) => {
            if current.name.real().is_none() {
                return Err(unfilled(
                    "project.name",
                    &current.name,
                    "--name",
                    "CI_PROJECT_NAME",
                ));
            }
            None
        }
    };
    let version = version(args, ci, current)?;
    let homepage = match (&args.homepage, ci.get("CI_PROJECT_URL")) {
        (Some(url), _) => Some(check_homepage(url, "--homepage")?),
        (None, Some(url)) => Some(check_homepage(url, "CI_PROJECT_URL")?),
        (None, None) => {
            if matches!(current.homepage, Field::Placeholder(_)) {
                return Err(unfilled(
                    "project.urls.Homepage",
                    &current.homepage,
                    "--homepage",
                    "CI_PROJECT_URL",
                ));
            }
            None
        }
    };
    Ok(ReleaseMetadata {
        name,
        version,
        homepage,
    })
}

fn unfilled(
    key: &'static str,
    found: &Field,
    flag: &'static str,
    variable: &'static str,
) -> anyhow::Error {
    MetadataError::Unfilled {
        key,
        found: found.clone(),
        flag,
        variable,
    }
    .into()
}

/// The version to write, and a log line saying which one and why: `--version`;
/// on a tag pipeline the tag; on any other pipeline a development version
/// (see [`development_version`]); outside CI the file's own.
fn version(
    args: &BuildArgs,
    ci: &CiEnvironment,
    current: &Current,
) -> anyhow::Result<Option<Version>> {
    if let Some(v) = &args.version {
        let v = parse_version(v, "--version")?;
        eprintln!("version {v}: given with --version");
        return Ok(Some(v));
    }
    if let Some(tag) = ci.get("CI_COMMIT_TAG") {
        let v = version_from_tag(tag)?;
        eprintln!("version {v}: tag pipeline, from CI_COMMIT_TAG={tag}");
        return Ok(Some(v));
    }
    if current.version_dynamic {
        // The backend's version plugin (setuptools-scm and the like) computes
        // a development version on its own.
        return Ok(None);
    }
    let Some(iid) = ci.get("CI_PIPELINE_IID") else {
        if current.version.real().is_none() {
            return Err(unfilled(
                "project.version",
                &current.version,
                "--version",
                "CI_COMMIT_TAG or $CI_PIPELINE_IID",
            ));
        }
        return Ok(None);
    };
    let iid: u64 = iid.trim().parse().map_err(|_| {
        UsageError::new(format!(
            "CI_PIPELINE_IID is {iid:?}, expected the pipeline's number"
        ))
    })?;
    let (base, why) = development_base(&args.project_dir, current);
    let v = development_version(base.as_ref(), iid);
    eprintln!(
        "version {v}: not a tag pipeline, so a development version: the one after {} ({why}), \
.dev{iid} for pipeline #{iid} (CI_PIPELINE_IID); only tag pipelines publish",
        base.as_ref()
            .map_or_else(|| "0.0.0".to_string(), ToString::to_string)
    );
    Ok(Some(v))
}

/// The version a development version follows, and why that one.
fn development_base(project_dir: &Path, current: &Current) -> (Option<Version>, String) {
    let own = || {
        current
            .version
            .real()
            .and_then(|v| parse_version(v, "project.version").ok())
    };
    let no_tag = match build::last_version_tag(project_dir) {
        LastTag::Found { tag, version } => {
            return (
                Some(version),
                format!("the last release tag {tag}, the highest version tag reachable from HEAD"),
            )
        }
        LastTag::NoVersionTag { shallow: true } => {
            "no version tag reachable from HEAD in this shallow clone; set GIT_DEPTH: 0 on the job \
to see older tags"
                .to_string()
        }
        LastTag::NoVersionTag { shallow: false } => {
            "no version tag reachable from HEAD".to_string()
        }
        LastTag::NoGit { reason } => format!("no git history to read tags from: {reason}"),
    };
    match own() {
        Some(v) => (Some(v), format!("pyproject.toml's own version; {no_tag}")),
        None => (
            None,
            format!(
                "pyproject.toml's version is {}; {no_tag}",
                match &current.version {
                    Field::Missing => "not set".to_string(),
                    Field::Placeholder(p) => format!("the placeholder {p:?}"),
                    Field::Value(v) => format!("{v:?}, not a PEP 440 version"),
                }
            ),
        ),
    }
}

fn describe(edit: &Edit) -> String {
    match edit {
        Edit::Set {
            key,
            old: Some(old),
            new,
        } => format!("{key} {old:?} -> {new:?}"),
        Edit::Set {
            key,
            old: None,
            new,
        } => format!("{key} added: {new:?}"),
        Edit::Unchanged { key, value } => format!("{key} already {value:?}"),
        Edit::VersionMadeStatic => {
            "\"version\" removed from project.dynamic and written as a static \
value: the release version must be exactly the one given, not what a version plugin computes, and \
the built dists are checked against it (a version source under [tool.*] stays in the file, \
unused)"
                .into()
        }
        Edit::VersionLeftDynamic => {
            "project.version is dynamic and no version was given (--version or \
CI_COMMIT_TAG): the build backend decides it, and the dists' version is not checked"
                .into()
        }
        Edit::UrlsTableAdded => "no [project.urls] table: added one".into(),
    }
}
