//! `gl-sign consumer-verify NAME==VERSION`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::json;

use super::progress::StderrProgress;
use super::shared::{
    credential, hints, identity_policy, reason, runtime, trust_source, url_or_ci, verifier,
};
use crate::ci::CiEnvironment;
use crate::cli::{ConsumerVerifyArgs, OutputFormat};
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::http::{registry_client, HttpSettings};
use crate::registry::consumer::{ReleaseFetcher, ReleaseSource};
use crate::trust::TrustMaterial;

pub fn run(args: ConsumerVerifyArgs, ci: &CiEnvironment) -> anyhow::Result<ExitStatus> {
    if args.provenance {
        return super::consumer_provenance::run(args, ci);
    }
    let (name, version) = args
        .requirement
        .split_once("==")
        .filter(|(n, v)| !n.trim().is_empty() && !v.trim().is_empty() && !v.contains('='))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| {
            UsageError::new(format!(
                "expected NAME==VERSION, got {:?}",
                args.requirement
            ))
        })?;
    let policy = identity_policy(&args.identity)?;
    let trust = TrustMaterial::load(&trust_source(&args.trust))?;
    let index_url = url_or_ci(
        args.index_url.as_deref(),
        "--index-url",
        ci,
        "/packages/pypi/simple",
    )?;
    let generic_url = url_or_ci(
        args.generic_url.as_deref(),
        "--generic-url",
        ci,
        "/packages/generic",
    )?;
    let package = args
        .package
        .clone()
        .or_else(|| ci.get("CI_PROJECT_NAME").map(str::to_string))
        .unwrap_or_else(|| name.clone());
    let credential = credential(&args.registry, ci);
    let source = ReleaseSource {
        index_url,
        index_credential: credential.clone(),
        generic_url,
        generic_credential: credential,
        package,
    };

    let runtime = runtime()?;
    let http = HttpSettings::default();
    let verifier = verifier(trust, policy, &args.rekor, &runtime)?;
    let fetcher = ReleaseFetcher::new(
        registry_client(&http)?,
        source,
        Arc::new(StderrProgress::new()),
    )?;

    // Downloads go to --dest as partial files (renamed once verified), else to a temporary directory.
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let dir: PathBuf = match &args.dest {
        Some(dest) => {
            std::fs::create_dir_all(dest)
                .with_context(|| format!("cannot create {}", dest.display()))?;
            dest.clone()
        }
        None => scratch.path().to_path_buf(),
    };
    let files = match runtime.block_on(fetcher.release_files(&name, &version)) {
        Ok(files) => files,
        Err(e) if e.is_rejection() => {
            println!("FAILED {name}=={version}: {}", reason(&e));
            for hint in hints(&e) {
                eprintln!("hint: {hint}");
            }
            return Ok(ExitStatus::Rejected);
        }
        Err(e) => return Err(e.into()),
    };

    let mut status = ExitStatus::Success;
    let mut entries = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in &files {
        let downloaded = runtime.block_on(fetcher.download(file, &dir, &version));
        // Verification runs here, outside the runtime: a detached signature's
        // Rekor lookup blocks on it.
        let verdict = downloaded.map(|d| {
            let result = match d.evidence {
                Ok(evidence) => verifier
                    .verify_evidence(evidence, d.sha256)
                    .map_err(anyhow::Error::from),
                Err(e) => Err(anyhow::Error::from(e)),
            };
            (d.path, result)
        });
        let (outcome, detail, hint_list) = match verdict {
            Ok((path, Ok(verified))) => {
                if args.dest.is_some() {
                    std::fs::rename(&path, dir.join(&file.filename))
                        .with_context(|| format!("cannot keep {}", file.filename))?;
                }
                (
                    ("verified", ExitStatus::Success),
                    json!({"sha256": verified.sha256, "identity": verified.identity, "issuer": verified.issuer, "evidence": verified.evidence.as_str()}),
                    vec![],
                )
            }
            Ok((path, Err(e))) => {
                let _ = std::fs::remove_file(&path);
                let rejected = e.chain().any(|c| {
                    c.downcast_ref::<crate::verify::VerifyError>()
                        .is_some_and(|v| v.is_rejection())
                        || c.downcast_ref::<crate::registry::consumer::ConsumerError>()
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
            Err(e) => {
                let code = if e.is_rejection() {
                    ("rejected", ExitStatus::Rejected)
                } else {
                    ("error", ExitStatus::Error)
                };
                (code, json!({"reason": reason(&e)}), hints(&e))
            }
        };
        status = status.worst(outcome.1);
        match args.output.output {
            OutputFormat::Text => {
                match outcome.0 {
                    "verified" => writeln!(out, "OK {}", file.filename)?,
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
    if args.output.output == OutputFormat::Json {
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
            ExitStatus::Success => "all verified",
            ExitStatus::Rejected => "NOT all verified",
            ExitStatus::Error => "could not be checked",
        }
    );
    Ok(status)
}
