//! `gl-sign verify-blob`.

use super::shared::{identity_policy, refreshed_trust, resolve_trust, runtime, verifier};
use super::verdict::VerdictPrinter;
use crate::ci::RefScope;
use crate::cli::{OutputFormat, VerifyBlobArgs};
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::verify::{EvidenceSource, Job, VerifyError};

pub fn run(args: VerifyBlobArgs) -> anyhow::Result<ExitStatus> {
    let jobs = jobs(&args)?;
    let policy = identity_policy(&args.identity, RefScope::BranchesAndTags)?;
    let resolved = resolve_trust(&args.trust)?;
    // Kept alive for the whole run: lookups block on it from worker threads.
    let runtime = runtime()?;
    let verifier = verifier(
        resolved.material.clone(),
        policy.clone(),
        &args.rekor,
        &runtime,
    )?;

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results = verifier.verify_all(&jobs, threads);
    // Issue 11: a log or CA the root in use does not list may be in a newer
    // root; refresh through TUF once and retry only those files.
    let unknown: Vec<usize> = (0..jobs.len())
        .filter(|&i| matches!(&results[i], Err(e) if e.is_unknown_trust()))
        .collect();
    if !unknown.is_empty() {
        if let Some(newer) = refreshed_trust(&resolved, &args.trust, args.rekor.offline, &runtime) {
            let retry = super::shared::verifier(newer, policy, &args.rekor, &runtime)?;
            let again: Vec<Job> = unknown.iter().map(|&i| jobs[i].clone()).collect();
            for (i, result) in unknown.into_iter().zip(retry.verify_all(&again, threads)) {
                results[i] = result;
            }
        }
    }
    print_results(&jobs, &results, args.output.output)
}

fn jobs(args: &VerifyBlobArgs) -> Result<Vec<Job>, UsageError> {
    let explicit = args.bundle.is_some() || args.signature.is_some() || args.certificate.is_some();
    if explicit && args.files.len() > 1 {
        return Err(UsageError::new(format!(
            "--bundle, --signature and --certificate name the evidence for one file, but {} files were given",
            args.files.len()
        ))
        .with_hint("leave them out: each FILE is then checked against FILE.sigstore.json (or FILE.sig + FILE.crt)"));
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
    let mut printer = VerdictPrinter::new(format);
    for (job, result) in jobs.iter().zip(results) {
        let file = job.file.display().to_string();
        match result {
            Ok(v) => printer.ok(&file, v)?,
            Err(err) => printer.failed(&file, err, err.is_rejection())?,
        }
    }
    let (verified, rejected, errors) = (printer.verified, printer.rejected, printer.errors);
    let status = printer.finish(serde_json::json!({}))?;
    if jobs.len() > 1 {
        eprintln!(
            "{verified} of {} files verified ({rejected} rejected, {errors} errors)",
            jobs.len()
        );
    }
    Ok(status)
}
