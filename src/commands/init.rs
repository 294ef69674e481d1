//! `gl-sign init`.

use std::path::Path;

use anyhow::Context as _;

use crate::ci::CiEnvironment;
use crate::cli::{InitArgs, InitPublishTo};
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::pipeline::{self, PipelineOptions, STAGES};
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
        let options = PipelineOptions {
            image: args
                .image
                .clone()
                .unwrap_or_else(|| pipeline::default_image(&args.python_version)),
            package_name: match &args.package_name {
                Some(name) => name.clone(),
                None => default_package_name(&project_dir, ci)?,
            },
            stages: args
                .stages
                .clone()
                .unwrap_or_else(|| STAGES.iter().map(|s| s.to_string()).collect()),
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

/// `[project].name` of `dir/pyproject.toml`, else the CI project name, else
/// the directory's name, the last two made PEP 508-valid.
fn default_package_name(dir: &Path, ci: &CiEnvironment) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(dir.join("pyproject.toml")) {
        if let Ok(doc) = text.parse::<toml_edit::DocumentMut>() {
            if let Some(name) = doc
                .get("project")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
            {
                return Ok(name.to_string());
            }
        }
    }
    let fallback = ci
        .get("CI_PROJECT_NAME")
        .map(str::to_string)
        .or_else(|| {
            dir.canonicalize()
                .ok()?
                .file_name()?
                .to_str()
                .map(str::to_string)
        })
        .unwrap_or_default();
    let name: String = fallback
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if name.is_empty() {
        return Err(UsageError::new("cannot tell the package name")
            .with_hint("pass --package-name")
            .into());
    }
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
