//! `gl-sign init`.

use std::path::Path;

use anyhow::Context as _;

use crate::ci::CiEnvironment;
use crate::cli::{InitArgs, InitPublishTo};
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::pipeline::{self, PipelineOptions, STAGES};
use crate::pyproject::{self, is_valid_name, Field, PYPROJECT};
use crate::registry::trusted_publishing::PublisherSettings;
use crate::sign::output::write_atomic;

pub fn run(args: InitArgs, ci: &CiEnvironment) -> anyhow::Result<ExitStatus> {
    let text = if args.component {
        pipeline::render_component()?
    } else {
        let project_dir = match args.output.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => std::env::current_dir().context("cannot read the current directory")?,
        };
        if args.image.is_none() && !pipeline::valid_python_version(&args.python_version) {
            return Err(UsageError::new(format!(
                "--python-version {:?} is not X.Y",
                args.python_version
            ))
            .with_hint("the default image is the official python:X.Y, e.g. --python-version 3.12")
            .into());
        }
        let options = PipelineOptions {
            image: args
                .image
                .clone()
                .unwrap_or_else(|| pipeline::default_image(&args.python_version)),
            install: args.image.is_none(),
            package_name: match &args.package_name {
                Some(name) => name.clone(),
                None => default_package_name(&project_dir, ci)?,
            },
            stages: args
                .stages
                .clone()
                .unwrap_or_else(|| STAGES.iter().map(|s| s.to_string()).collect()),
            sign_protected_only: args.sign_protected_only,
        };
        pipeline::render_publishing_to(&options, publish_to(args.publish_to))?
    };
    let shown = args.output.display().to_string();
    if args.check {
        let current = match std::fs::read_to_string(&args.output) {
            Ok(current) => current,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                println!("{shown} does not exist; `gl-sign init` would create it");
                return Ok(ExitStatus::Rejected);
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {shown}")),
        };
        let diff = pipeline::unified_diff(&current, &text, &shown);
        if diff.is_empty() {
            eprintln!("{shown} is what gl-sign init writes");
            return Ok(ExitStatus::Success);
        }
        print!("{diff}");
        eprintln!("{shown} differs from what gl-sign init writes (diff above); re-run with --force to replace it");
        return Ok(ExitStatus::Rejected);
    }
    if args.output.exists() && !args.force {
        return Err(UsageError::new(format!(
            "{shown} exists; gl-sign init never overwrites without --force"
        ))
        .with_hint("see the difference first with `gl-sign init --check`")
        .into());
    }
    write_atomic(&args.output, text.as_bytes())?;
    eprintln!("wrote {shown}");
    if !args.component && args.publish_to != InitPublishTo::Gitlab {
        print_publisher_settings(&args, ci);
    }
    Ok(ExitStatus::Success)
}

/// `[project].name` of `dir/pyproject.toml` unless it is missing, a `<…>`
/// placeholder (GitLab's tutorial ships `name = "<my_package>"`) or invalid;
/// else the CI project name, else the directory's name, the last two made
/// PEP 508-valid. Says on stderr which one it took and why.
fn default_package_name(dir: &Path, ci: &CiEnvironment) -> anyhow::Result<String> {
    let file = dir.join(PYPROJECT);
    let skipped = match std::fs::read_to_string(&file) {
        Ok(text) => match pyproject::current(&file, &text) {
            Ok(current) => match current.name {
                Field::Value(name) if is_valid_name(&name) => {
                    eprintln!("package name {name:?}: from {}", file.display());
                    return Ok(name);
                }
                Field::Value(name) => format!(
                    "{}'s project.name {name:?} is not a valid name (PEP 508)",
                    file.display()
                ),
                Field::Placeholder(p) => format!(
                    "{}'s project.name is the placeholder {p:?} (gl-sign build writes the name over it)",
                    file.display()
                ),
                Field::Missing => format!("{} has no project.name", file.display()),
            },
            Err(e) => format!("{e}"),
        },
        Err(_) => format!("there is no {}", file.display()),
    };
    let (fallback, origin) = match ci.get("CI_PROJECT_NAME") {
        Some(name) => (name.to_string(), "$CI_PROJECT_NAME".to_string()),
        None => (
            dir.canonicalize()
                .ok()
                .and_then(|d| d.file_name()?.to_str().map(str::to_string))
                .unwrap_or_default(),
            "the directory's name".to_string(),
        ),
    };
    let name: String = fallback
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if name.is_empty() {
        return Err(UsageError::new(format!(
            "cannot tell the package name: {skipped}, and {origin} {fallback:?} gives none"
        ))
        .with_hint("pass --package-name")
        .into());
    }
    eprintln!("package name {name:?}: from {origin} {fallback:?}, because {skipped}; pass --package-name to choose another");
    Ok(name)
}

fn publish_to(to: InitPublishTo) -> pipeline::PublishTo {
    match to {
        InitPublishTo::Gitlab => pipeline::PublishTo::Gitlab,
        InitPublishTo::Pypi => pipeline::PublishTo::Pypi,
        InitPublishTo::Testpypi => pipeline::PublishTo::Testpypi,
    }
}

/// What to enter on PyPI so that the publish job's token exchange succeeds.
fn print_publisher_settings(args: &InitArgs, ci: &CiEnvironment) {
    let index = publish_to(args.publish_to).name();
    let (namespace, project) = ci
        .get("CI_PROJECT_PATH")
        .and_then(|p| p.rsplit_once('/'))
        .map(|(n, p)| (n.to_string(), p.to_string()))
        .unwrap_or_else(|| {
            (
                "<your GitLab namespace (group/subgroup)>".into(),
                "<your GitLab project>".into(),
            )
        });
    let settings = PublisherSettings {
        namespace,
        project,
        workflow_filepath: args
            .output
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string),
        environment: Some(index.to_string()),
    };
    let site = match args.publish_to {
        InitPublishTo::Testpypi => "https://test.pypi.org",
        _ => "https://pypi.org",
    };
    println!(
        "Add this trusted publisher on {site} (your project → Settings → Publishing → GitLab; \
         for a new project: {site}/manage/account/publishing/):"
    );
    println!("{}", settings.describe());
}
