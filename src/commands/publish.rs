//! `gl-sign publish pypi` and `gl-sign publish generic`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use super::progress::StderrProgress;
use super::section::Section;
use super::shared::{credential, url_or_ci};
use crate::ci::CiEnvironment;
use crate::cli::{OutputFormat, PublishArgs, PublishGenericArgs, PublishPypiArgs, PublishTarget};
use crate::cli::{PypiRepository, RegistryArgs, TrustedPublishingMode};
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::http::{redact_url, registry_client, HttpSettings};
use crate::registry::auth::{Credential, Secret};
use crate::registry::dist::{name_and_version_from_filename, Dist};
use crate::registry::generic::{GenericPublisher, GenericTarget, Stored};
use crate::registry::pypi::{PypiPublisher, PypiTarget, Uploaded};
use crate::registry::trusted_publishing::{
    attestations_beside, id_token_variable, simple_root_for, PublicIndex, PypiToken,
    TrustedPublishing, TrustedPublishingError,
};
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
    let public = args.repository.map(|r| match r {
        PypiRepository::Pypi => PublicIndex::Pypi,
        PypiRepository::Testpypi => PublicIndex::Testpypi,
    });
    let repository_url = match public {
        Some(index) => index.upload_url(),
        None => url_or_ci(
            args.repository_url.as_deref(),
            "--repository-url",
            ci,
            "/packages/pypi",
        )?,
    };
    let shown_url = repository_url.to_string();
    let http = HttpSettings::default();
    let client = registry_client(&http)?;
    let runtime = runtime()?;
    let trusted = trusted_publishing(&args, &repository_url, &client, &runtime)?;
    let credential = match &trusted {
        Some(token) => Credential::AccessToken(token.token.clone()),
        // The CI job token is GitLab's: never offered to PyPI or TestPyPI.
        None if public.is_some() => explicit_credential(&args.registry),
        None => credential(&args.registry, ci),
    };
    // Attestations go only with trusted publishing: PyPI refuses them otherwise.
    let send_attestations = trusted.is_some() && !args.no_attestations;
    let mut attestations = Vec::new();
    for (dist, _) in &dists {
        let found = if send_attestations {
            attestations_beside(&dist.path)?
        } else {
            Vec::new()
        };
        if !found.is_empty() {
            let names: Vec<String> = found
                .iter()
                .filter_map(|(p, _)| p.file_name()?.to_str().map(str::to_string))
                .collect();
            eprintln!("{}: with {}", dist.filename, names.join(", "));
        }
        attestations.push(found.into_iter().map(|(_, v)| v).collect::<Vec<_>>());
    }
    let target = PypiTarget {
        repository_url: repository_url.clone(),
        credential,
    };
    let progress: Arc<dyn Progress> = Arc::new(StderrProgress::new());
    let mut publisher = PypiPublisher::new(client, http, target, progress.clone())?;
    let index_root = public.map(PublicIndex::simple_root).or_else(|| {
        trusted
            .as_ref()
            .and_then(|_| simple_root_for(&repository_url))
    });
    if let Some(root) = index_root {
        publisher = publisher.with_index_root(root);
    }
    if trusted.is_some() {
        publisher = publisher.with_trusted_publishing();
    }
    // Re-runs of a trusted-publishing job are safe: files already on the index
    // with the same sha256 are skipped, a different file under the name fails.
    let skip_existing = args.skip_existing || trusted.is_some();
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
    for ((dist, sha256), attestations) in dists.iter().zip(&attestations) {
        let size = std::fs::metadata(&dist.path).map(|m| m.len()).unwrap_or(0);
        let result = match runtime.block_on(publisher.publish_with_attestations(
            dist,
            sha256,
            skip_existing,
            attestations,
        )) {
            Ok(Uploaded::Sent) if !attestations.is_empty() => {
                format!("uploaded with {} attestation(s)", attestations.len())
            }
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

/// Only the credentials given as flags (or GL_SIGN_* variables).
fn explicit_credential(args: &RegistryArgs) -> Credential {
    if args.token.is_none() && args.username.is_none() {
        return Credential::Anonymous;
    }
    credential(args, &CiEnvironment::default())
}

/// GitLab ID tokens in this process's environment, by variable name
/// (`PYPI_ID_TOKEN`, …); SIGSTORE_ID_TOKEN is for signing, not publishing.
fn id_tokens_in_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, v)| {
            k.ends_with("_ID_TOKEN") && k != "SIGSTORE_ID_TOKEN" && !v.trim().is_empty()
        })
        .collect()
}

/// A JWT, or a file holding one; the value is never echoed.
fn read_jwt(value: &str) -> Result<Secret, UsageError> {
    let value = value.trim();
    let looks_like_jwt = value.split('.').count() == 3
        && !value.contains(char::is_whitespace)
        && !Path::new(value).exists();
    if looks_like_jwt {
        return Ok(Secret::new(value));
    }
    std::fs::read_to_string(value)
        .map(|t| Secret::new(t.trim()))
        .map_err(|_| {
            UsageError::new("--identity-token is neither a JWT nor a readable file holding one")
        })
}

/// Resolve `--trusted-publishing` and, when it applies, mint the PyPI token
/// (once per run: PyPI accepts each ID token once).
fn trusted_publishing(
    args: &PublishPypiArgs,
    upload_url: &reqwest::Url,
    client: &reqwest::Client,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Option<PypiToken>> {
    let explicit = args.registry.token.is_some() || args.registry.username.is_some();
    let env_tokens = id_tokens_in_env();
    match args.trusted_publishing {
        TrustedPublishingMode::Never => return Ok(None),
        TrustedPublishingMode::Always if explicit => {
            return Err(UsageError::new(
                "--trusted-publishing always cannot be combined with --token or --username",
            )
            .into())
        }
        // The CI default is this project's GitLab registry, which has no
        // trusted publishing: auto never asks it (jobs may hold other ID tokens).
        TrustedPublishingMode::Auto
            if explicit
                || (args.repository.is_none() && args.repository_url.is_none())
                || (args.identity_token.is_none() && env_tokens.is_empty()) =>
        {
            return Ok(None)
        }
        _ => {}
    }
    let exchange = TrustedPublishing::new(client.clone(), upload_url.clone());
    let audience = match runtime.block_on(exchange.audience()) {
        Ok(audience) => audience,
        Err(e) if args.trusted_publishing == TrustedPublishingMode::Auto => {
            eprintln!(
                "note: not using trusted publishing: {}",
                super::shared::reason(&e)
            );
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let variable = id_token_variable(&audience);
    let id_token = match (&args.identity_token, env_tokens.get(&variable)) {
        (Some(value), _) => read_jwt(value)?,
        (None, Some(value)) => Secret::new(value.trim()),
        (None, None) if args.trusted_publishing == TrustedPublishingMode::Auto => {
            eprintln!("note: not using trusted publishing: the index wants audience {audience:?} and ${variable} is not set");
            return Ok(None);
        }
        (None, None) => return Err(TrustedPublishingError::NoIdToken { audience, variable }.into()),
    };
    let token = runtime.block_on(exchange.mint(&id_token, &audience))?;
    eprintln!(
        "trusted publishing: exchanged the GitLab ID token (audience {audience}) for a PyPI token"
    );
    Ok(Some(token))
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
