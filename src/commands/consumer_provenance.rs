//! `gl-sign consumer-verify NAME==VERSION --provenance`: every file of the
//! release from any simple index, each checked against the index's sha256 and
//! its PEP 740 provenance (the page's provenance link, else the index's
//! Integrity API), every attestation verified for the expected signer and the
//! publisher the index recorded.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use super::consumer_verify::open_release;
use super::settings::{Environment, ReleaseSettings};
use super::shared::{hints, reason, runtime, verifier};
use crate::cli::{ConsumerVerifyArgs, OutputFormat};
use crate::exit::ExitStatus;
use crate::registry::auth::Credential;
use crate::registry::consumer::{ConsumerError, ReleaseFetcher, ReleaseSource};
use crate::registry::provenance::{self, ProvenanceError};
use crate::verify::VerifyError;

pub fn run(args: ConsumerVerifyArgs, env: &Environment) -> anyhow::Result<ExitStatus> {
    let settings = ReleaseSettings::resolve(&args, env)?;
    verify_release(&settings)
}

fn verify_release(settings: &ReleaseSettings) -> anyhow::Result<ExitStatus> {
    let (name, version) = (&settings.name, &settings.version);
    let expected_publisher = settings.policy.gitlab.clone();
    let trust = settings.trust.load()?.material;
    let source = ReleaseSource {
        index_url: settings.index_url.clone(),
        index_credential: settings.credential.clone(),
        // Not used: provenance comes from the index host.
        generic_url: settings.index_url.clone(),
        generic_credential: Credential::Anonymous,
        package: name.clone(),
    };
    let runtime = runtime()?;
    let verifier = verifier(trust, settings.policy.clone(), &settings.rekor, &runtime)?;
    let Some(opened) = open_release(settings, source, &runtime)? else {
        return Ok(ExitStatus::Rejected);
    };
    let (fetcher, files, dir) = (&opened.fetcher, &opened.files, &opened.dir);

    let mut status = ExitStatus::Success;
    let mut entries = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in files {
        let result = check_file(
            &runtime,
            fetcher,
            &verifier,
            file,
            dir,
            name,
            version,
            expected_publisher.as_ref(),
        );
        let (outcome, detail, hint_list) = match result {
            Ok((path, predicate_types)) => {
                if settings.dest.is_some() {
                    std::fs::rename(&path, dir.join(&file.filename))
                        .with_context(|| format!("cannot keep {}", file.filename))?;
                }
                (
                    ("verified", ExitStatus::Success),
                    json!({"predicate_types": predicate_types}),
                    vec![],
                )
            }
            Err((path, e)) => {
                if let Some(path) = path {
                    let _ = std::fs::remove_file(path);
                }
                let rejected = e.chain().any(|c| {
                    c.downcast_ref::<VerifyError>()
                        .is_some_and(|v| v.is_rejection())
                        || c.downcast_ref::<ConsumerError>()
                            .is_some_and(|v| v.is_rejection())
                        || c.downcast_ref::<ProvenanceError>()
                            .is_some_and(|v| v.is_rejection())
                });
                let code = if rejected {
                    ("rejected", ExitStatus::Rejected)
                } else {
                    ("error", ExitStatus::Error)
                };
                (
                    code,
                    json!({"reason": reason(e.as_ref())}),
                    hints(e.as_ref()),
                )
            }
        };
        status = status.worst(outcome.1);
        match settings.output {
            OutputFormat::Text => {
                match outcome.0 {
                    "verified" => writeln!(
                        out,
                        "OK {} ({})",
                        file.filename,
                        detail["predicate_types"]
                            .as_array()
                            .map(|t| t
                                .iter()
                                .filter_map(|v| v.as_str())
                                .collect::<Vec<_>>()
                                .join(", "))
                            .unwrap_or_default()
                    )?,
                    _ => writeln!(
                        out,
                        "FAILED {}: {}",
                        file.filename,
                        detail["reason"].as_str().unwrap_or_default()
                    )?,
                }
                out.flush()?;
                for hint in &hint_list {
                    eprintln!("hint: {hint}");
                }
            }
            OutputFormat::Json => {
                let mut entry =
                    json!({"file": file.filename, "outcome": outcome.0, "hints": hint_list});
                if let (Some(e), Some(d)) = (entry.as_object_mut(), detail.as_object()) {
                    e.extend(d.clone());
                }
                entries.push(entry);
            }
        }
    }
    if settings.output == OutputFormat::Json {
        serde_json::to_writer_pretty(
            &mut out,
            &json!({"release": format!("{name}=={version}"), "files": entries}),
        )?;
        writeln!(out)?;
    }
    eprintln!(
        "{name}=={version}: {} file(s), {}",
        files.len(),
        match status {
            ExitStatus::Success => "all verified with provenance",
            ExitStatus::Rejected => "NOT all verified",
            ExitStatus::Error => "could not be checked",
        }
    );
    Ok(status)
}

type Checked = Result<(PathBuf, Vec<String>), (Option<PathBuf>, anyhow::Error)>;

/// Download one file, fetch its provenance and verify every attestation in it.
#[allow(clippy::too_many_arguments)]
fn check_file(
    runtime: &tokio::runtime::Runtime,
    fetcher: &ReleaseFetcher,
    verifier: &crate::verify::BlobVerifier,
    file: &crate::registry::index::IndexFile,
    dir: &std::path::Path,
    name: &str,
    version: &str,
    expected: Option<&crate::ci::GitLabSigner>,
) -> Checked {
    let (path, sha256) = runtime
        .block_on(fetcher.download_file(file, dir, name, version))
        .map_err(|e| (None, e.into()))?;
    let fail = |e: anyhow::Error| (Some(path.clone()), e);
    let (client, index_url, credential) = fetcher.index();
    let (url, credential) = provenance::location(file, index_url, name, version, credential)
        .map_err(|e| fail(e.into()))?;
    let provenance = runtime
        .block_on(provenance::fetch(client, &url, &credential, &file.filename))
        .map_err(|e| fail(e.into()))?;
    let bundles =
        provenance::bundles(&provenance, &file.filename, expected).map_err(|e| fail(e.into()))?;
    let mut predicate_types = Vec::new();
    for evidence in bundles {
        let verified = verifier
            .verify_evidence_named(evidence, sha256, Some(&file.filename))
            .map_err(|e| fail(e.into()))?;
        predicate_types.extend(verified.predicate_type);
    }
    Ok((path, predicate_types))
}
