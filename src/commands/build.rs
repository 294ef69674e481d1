//! `gl-sign build`: the tutorial's `sed` edits of pyproject.toml, done right,
//! then `python -m build`, then a check that the dists carry what was written.

use std::io::Write as _;

use crate::ci::CiEnvironment;
use crate::cli::BuildArgs;
use crate::exit::ExitStatus;
use crate::pyproject::{
    self, check_dist, check_homepage, parse_version, version_from_tag, BuildSettings, Edit,
    MetadataError, PackageName, ReleaseMetadata,
};

pub fn run(args: BuildArgs, ci: &CiEnvironment) -> anyhow::Result<ExitStatus> {
    let metadata = release_metadata(&args, ci)?;
    let (path, text) = pyproject::read(&args.project_dir)?;
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
        pyproject::write_atomic(&path, &rewrite.text)?;
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
    eprintln!(
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
    let built = pyproject::build(&settings)?;

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
/// anything is written.
fn release_metadata(
    args: &BuildArgs,
    ci: &CiEnvironment,
) -> Result<ReleaseMetadata, MetadataError> {
    let name = match (&args.name, ci.get("CI_PROJECT_NAME")) {
        (Some(name), _) => Some(PackageName::parse(name, "--name")?),
        (None, Some(project)) => Some(PackageName::from_ci_project_name(project)?),
        (None, None) => None,
    };
    let version = match (&args.version, ci.get("CI_COMMIT_TAG")) {
        (Some(version), _) => Some(parse_version(version, "--version")?),
        (None, Some(tag)) => Some(version_from_tag(tag)?),
        (None, None) => None,
    };
    let homepage = match (&args.homepage, ci.get("CI_PROJECT_URL")) {
        (Some(url), _) => Some(check_homepage(url, "--homepage")?),
        (None, Some(url)) => Some(check_homepage(url, "CI_PROJECT_URL")?),
        (None, None) => None,
    };
    Ok(ReleaseMetadata {
        name,
        version,
        homepage,
    })
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
