//! `gl-sign verify-blob`.

use std::io::Write;

use serde_json::json;

use super::shared::{hints, identity_policy, reason, runtime, trust_source, verifier};
use crate::cli::{OutputFormat, VerifyBlobArgs};
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::trust::TrustMaterial;
use crate::verify::{EvidenceSource, Job, VerifyError};

pub fn run(args: VerifyBlobArgs) -> anyhow::Result<ExitStatus> {
    let jobs = jobs(&args)?;
    let policy = identity_policy(&args.identity)?;
    let trust = TrustMaterial::load(&trust_source(&args.trust))?;
    // Kept alive for the whole run: lookups block on it from worker threads.
    let runtime = runtime()?;
    let mut verifier = verifier(trust, policy, &args.rekor, &runtime)?;
    if let Some(predicate_type) = &args.predicate_type {
        verifier = verifier.with_predicate_type(predicate_type);
    }

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results = verifier.verify_all(&jobs, threads);
    print_results(&jobs, &results, args.output.output)
}

fn jobs(args: &VerifyBlobArgs) -> Result<Vec<Job>, UsageError> {
    let explicit = args.bundle.is_some()
        || args.signature.is_some()
        || args.certificate.is_some()
        || args.attestation.is_some();
    if explicit && args.files.len() > 1 {
        return Err(UsageError::new(format!(
            "--bundle, --signature and --certificate name the evidence for one file, but {} files were given",
            args.files.len()
        ))
        .with_hint("leave them out: each FILE is then checked against FILE.sigstore.json (or FILE.sig + FILE.crt)"));
    }
    if let Some(attestation) = &args.attestation {
        return Ok(args
            .files
            .iter()
            .map(|file| Job {
                file: file.clone(),
                evidence: EvidenceSource::Attestation {
                    attestation: attestation.clone(),
                },
            })
            .collect());
    }
    let evidence = match (&args.bundle, &args.signature, &args.certificate) {
        (Some(bundle), signature, certificate) => EvidenceSource::Bundle {
            bundle: bundle.clone(),
            signature: signature.clone(),
            certificate: certificate.clone(),
        },
        (None, Some(signature), Some(certificate)) => EvidenceSource::Detached {
            signature: signature.clone(),
            certificate: certificate.clone(),
        },
        (None, Some(_), None) => {
            return Err(
                UsageError::new("--signature needs --certificate (or a --bundle)")
                    .with_hint("cosign writes the certificate beside the signature as FILE.crt"),
            )
        }
        (None, None, Some(_)) => {
            return Err(UsageError::new(
                "--certificate needs --signature (or a --bundle)",
            ))
        }
        (None, None, None) => EvidenceSource::Beside,
    };
    Ok(args
        .files
        .iter()
        .map(|file| Job {
            file: file.clone(),
            evidence: evidence.clone(),
        })
        .collect())
}

fn print_results(
    jobs: &[Job],
    results: &[Result<crate::verify::Verified, VerifyError>],
    format: OutputFormat,
) -> anyhow::Result<ExitStatus> {
    let mut status = ExitStatus::Success;
    let (mut verified, mut rejected, mut errors) = (0usize, 0usize, 0usize);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut entries = Vec::new();
    for (job, result) in jobs.iter().zip(results) {
        let file = job.file.display().to_string();
        match result {
            Ok(v) => {
                verified += 1;
                match format {
                    OutputFormat::Text => writeln!(out, "OK {file}")?,
                    OutputFormat::Json => entries.push(json!({
                        "file": file,
                        "outcome": "verified",
                        "sha256": v.sha256,
                        "identity": v.identity,
                        "issuer": v.issuer,
                        "evidence": v.evidence.as_str(),
                        "log_index": v.log_index,
                        "signed_at": v.signed_at.map(|t| t.to_string()),
                        "predicate_type": v.predicate_type,
                    })),
                }
            }
            Err(err) => {
                let outcome = if err.is_rejection() {
                    rejected += 1;
                    status = status.worst(ExitStatus::Rejected);
                    "rejected"
                } else {
                    errors += 1;
                    status = status.worst(ExitStatus::Error);
                    "error"
                };
                let hints = hints(err);
                match format {
                    OutputFormat::Text => {
                        writeln!(out, "FAILED {file}: {}", reason(err))?;
                        // Keep each hint right after its verdict when both go to a terminal.
                        out.flush()?;
                        for hint in &hints {
                            eprintln!("hint: {hint}");
                        }
                    }
                    OutputFormat::Json => entries.push(json!({
                        "file": file,
                        "outcome": outcome,
                        "reason": reason(err),
                        "hints": hints,
                    })),
                }
            }
        }
    }
    if format == OutputFormat::Json {
        let doc =
            json!({"verified": verified, "rejected": rejected, "errors": errors, "files": entries});
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    }
    out.flush()?;
    if jobs.len() > 1 {
        eprintln!(
            "{verified} of {} files verified ({rejected} rejected, {errors} errors)",
            jobs.len()
        );
    }
    Ok(status)
}
