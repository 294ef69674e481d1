//! `gl-sign publish pypi` and `gl-sign publish generic`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use super::progress::StderrProgress;
use super::section::Section;
use super::shared::{credential, url_or_ci};
use crate::ci::CiEnvironment;
use crate::cli::{OutputFormat, PublishArgs, PublishGenericArgs, PublishPypiArgs, PublishTarget};
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::http::{redact_url, registry_client, HttpSettings};
use crate::registry::dist::{name_and_version_from_filename, Dist};
use crate::registry::generic::{GenericPublisher, GenericTarget, Stored};
use crate::registry::pypi::{PypiPublisher, PypiTarget, Uploaded};
use crate::registry::{sha256_file, Progress};

pub fn run(args: PublishArgs, ci: &CiEnvironment) -> anyhow::Result<ExitStatus> {
    match args.target {
        PublishTarget::Pypi(args) => pypi(args, ci),
        PublishTarget::Generic(args) => generic(args, ci),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// One row of the closing summary.
struct Row {
    file: String,
    size: u64,
    sha256: String,
    result: String,
}

/// The closing summary: a table, or one JSON document for a pipeline to keep.
fn print_summary(rows: &[Row], format: OutputFormat, registry: &str, url: &str, ok: bool) {
    if format == OutputFormat::Json {
        let files: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "file": r.file,
                    "size": r.size,
                    "sha256": r.sha256,
                    "result": r.result,
                    "ok": !r.result.starts_with("FAILED"),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "registry": registry,
            "url": redact_url(url),
            "ok": ok,
            "files": files,
        });
        if let Ok(text) = serde_json::to_string_pretty(&doc) {
            println!("{text}");
        }
        return;
    }
    let width = rows.iter().map(|r| r.file.len()).max().unwrap_or(4).max(4);
    println!("{:width$}  {:>10}  {:16}  RESULT", "FILE", "SIZE", "SHA256");
    for r in rows {
        println!(
            "{:width$}  {:>10}  {:16}  {}",
            r.file,
            human_size(r.size),
            &r.sha256[..16.min(r.sha256.len())],
            r.result
        );
    }
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn pypi(args: PublishPypiArgs, ci: &CiEnvironment) -> anyhow::Result<ExitStatus> {
    // Every file is read and checked before anything is uploaded.
    let mut dists = Vec::new();
    for path in &args.files {
        let dist = Dist::open(path)?;
        let sha256 =
            sha256_file(path).with_context(|| format!("cannot read {}", path.display()))?;
        dists.push((dist, sha256));
    }
    let repository_url = url_or_ci(
        args.repository_url.as_deref(),
        "--repository-url",
        ci,
        "/packages/pypi",
    )?;
    let shown_url = repository_url.to_string();
    let target = PypiTarget {
        repository_url,
        credential: credential(&args.registry, ci),
    };
    let http = HttpSettings::default();
    let progress: Arc<dyn Progress> = Arc::new(StderrProgress::new());
    let publisher = PypiPublisher::new(registry_client(&http)?, http, target, progress.clone())?;
    let runtime = runtime()?;
    let mut rows = Vec::new();
    let mut failure = None;
    let section = Section::start(
        ci.in_gitlab_ci(),
        "gl_sign_upload",
        &format!(
            "uploading {} file(s) to {}",
            dists.len(),
            redact_url(&shown_url)
        ),
    );
    for (dist, sha256) in &dists {
        let size = std::fs::metadata(&dist.path).map(|m| m.len()).unwrap_or(0);
        let result = match runtime.block_on(publisher.publish(dist, sha256, args.skip_existing)) {
            Ok(Uploaded::Sent) => "uploaded".to_string(),
            Ok(Uploaded::Skipped) => "skipped (already on the index, same sha256)".to_string(),
            Ok(Uploaded::AlreadyPresent) => "exists (same sha256 on the index)".to_string(),
            Err(e) => {
                let line = format!("FAILED: {}", super::shared::reason(&e));
                failure.get_or_insert(e);
                line
            }
        };
        progress.finished(&dist.filename, &result);
        rows.push(Row {
            file: dist.filename.clone(),
            size,
            sha256: sha256.clone(),
            result,
        });
    }
    drop(section);
    print_summary(
        &rows,
        args.output.output,
        "pypi",
        &shown_url,
        failure.is_none(),
    );
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(ExitStatus::Success),
    }
}

fn generic(args: PublishGenericArgs, ci: &CiEnvironment) -> anyhow::Result<ExitStatus> {
    let mut files = Vec::new();
    for path in &args.files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| UsageError::new(format!("{} has no usable file name", path.display())))?
            .to_string();
        GenericPublisher::check_file_name(&name)?;
        let sha256 =
            sha256_file(path).with_context(|| format!("cannot read {}", path.display()))?;
        files.push((path.clone(), name, sha256));
    }
    let package = match (&args.package, ci.get("CI_PROJECT_NAME")) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => p.to_string(),
        (None, None) => return Err(UsageError::new("--package is needed outside GitLab CI").into()),
    };
    let version = match &args.package_version {
        Some(v) => v.clone(),
        None => default_version(
            &files.iter().map(|(p, ..)| p.clone()).collect::<Vec<_>>(),
            ci,
        )?,
    };
    let base_url = url_or_ci(args.url.as_deref(), "--url", ci, "/packages/generic")?;
    let shown_url = format!(
        "{}/{}/{}",
        base_url.as_str().trim_end_matches('/'),
        package,
        version
    );
    let target = GenericTarget {
        base_url,
        package,
        version,
        credential: credential(&args.registry, ci),
    };
    let http = HttpSettings::default();
    let progress: Arc<dyn Progress> = Arc::new(StderrProgress::new());
    let publisher = GenericPublisher::new(registry_client(&http)?, http, target, progress.clone())?;
    let runtime = runtime()?;
    let mut rows = Vec::new();
    let mut failure = None;
    let section = Section::start(
        ci.in_gitlab_ci(),
        "gl_sign_upload",
        &format!(
            "uploading {} file(s) to {}",
            files.len(),
            redact_url(&shown_url)
        ),
    );
    // Serially: GitLab races on concurrent first uploads to a new version.
    for (path, name, sha256) in &files {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let result = match runtime.block_on(publisher.publish(path, name, sha256)) {
            Ok(Stored::Sent) => "uploaded, stored sha256 checked".to_string(),
            Ok(Stored::Skipped) => "skipped (stored with the same sha256)".to_string(),
            Err(e) => {
                let line = format!("FAILED: {}", super::shared::reason(&e));
                failure.get_or_insert(e);
                line
            }
        };
        progress.finished(name, &result);
        rows.push(Row {
            file: name.clone(),
            size,
            sha256: sha256.clone(),
            result,
        });
    }
    drop(section);
    print_summary(
        &rows,
        args.output.output,
        "generic",
        &shown_url,
        failure.is_none(),
    );
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(ExitStatus::Success),
    }
}

/// The version the files belong to: from the dist names inside their names
/// (`pkg-1.0-py3-none-any.whl.sig` → `1.0`), which must agree, else the tag.
fn default_version(paths: &[PathBuf], ci: &CiEnvironment) -> Result<String, UsageError> {
    let mut versions: Vec<String> = paths
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .filter_map(|name| {
            let dist = [".sigstore.json", ".sig", ".crt", ".pem", ".bundle"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name)
                .to_string();
            name_and_version_from_filename(&dist).map(|(_, v)| v)
        })
        .collect();
    versions.sort();
    versions.dedup();
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        [] => match ci.get("CI_COMMIT_TAG") {
            Some(tag) => Ok(tag.strip_prefix('v').unwrap_or(tag).to_string()),
            None => Err(UsageError::new("--package-version is needed: the files name no dist version and this is not a tag pipeline")),
        },
        many => Err(UsageError::new(format!("the files belong to several versions ({}); pass --package-version", many.join(", ")))),
    }
}
