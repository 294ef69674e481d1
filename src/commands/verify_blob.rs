//! `gl-sign verify-blob`.

use std::io::Write;

use anyhow::Context as _;
use serde_json::json;

use crate::ci::{GitLabSigner, DEFAULT_CI_CONFIG_PATH, DEFAULT_GITLAB_URL};
use crate::cli::{IdentityPolicyArgs, OutputFormat, TrustArgs, VerifyBlobArgs};
use crate::diagnostics::{hint_of, UsageError};
use crate::exit::ExitStatus;
use crate::http::{self, HttpSettings};
use crate::trust::{TrustMaterial, TrustSource};
use crate::verify::{
    BlobVerifier, EvidenceSource, Extension, IdentityPolicy, Job, Matcher, RekorLog, VerifyError,
};

pub fn run(args: VerifyBlobArgs) -> anyhow::Result<ExitStatus> {
    let jobs = jobs(&args)?;
    let policy = identity_policy(&args.identity)?;
    let trust = TrustMaterial::load(&trust_source(&args.trust))?;
    let rekor_url = args.rekor_url.clone().unwrap_or_else(|| trust.rekor_url());

    let mut verifier = BlobVerifier::new(trust, policy)?;
    // Kept alive for the whole run: lookups block on it from worker threads.
    let runtime;
    if args.offline {
        verifier = verifier.offline();
    } else {
        runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let settings = HttpSettings::default();
        let client = http::sigstore_client(&settings)?;
        verifier = verifier.with_rekor_lookup(
            RekorLog::new(client, &rekor_url, settings),
            runtime.handle().clone(),
        );
    }

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results = verifier.verify_all(&jobs, threads);
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

fn trust_source(args: &TrustArgs) -> TrustSource {
    match (&args.trusted_root, args.staging) {
        (Some(path), _) => TrustSource::File(path.clone()),
        (None, true) => TrustSource::Staging,
        (None, false) => TrustSource::PublicGood,
    }
}

fn identity_policy(args: &IdentityPolicyArgs) -> Result<IdentityPolicy, UsageError> {
    let policy = if let Some(project) = &args.gitlab_project {
        let signer = GitLabSigner::new(
            args.gitlab_url.as_deref().unwrap_or(DEFAULT_GITLAB_URL),
            project,
            args.gitlab_config_path
                .as_deref()
                .unwrap_or(DEFAULT_CI_CONFIG_PATH),
            args.gitlab_ref.as_deref(),
        )?;
        IdentityPolicy::for_gitlab(signer)
    } else {
        // clap's `requires` does not fire next to a conflicting group, so check here.
        if args.gitlab_ref.is_some()
            || args.gitlab_url.is_some()
            || args.gitlab_config_path.is_some()
        {
            return Err(UsageError::new(
                "--gitlab-ref, --gitlab-url and --gitlab-config-path need --gitlab-project",
            ));
        }
        let identity = match (&args.certificate_identity, &args.certificate_identity_regexp) {
            (Some(exact), _) => Matcher::exact(exact),
            (None, Some(re)) => Matcher::pattern("--certificate-identity-regexp", re)?,
            (None, None) => {
                return Err(UsageError::new(
                    "--certificate-identity or --certificate-identity-regexp is required for keyless verification",
                )
                .with_hint("for a GitLab CI signer use --gitlab-project group/project [--gitlab-ref refs/tags/v1.0]"))
            }
        };
        let issuer = match (&args.certificate_oidc_issuer, &args.certificate_oidc_issuer_regexp) {
            (Some(exact), _) => Matcher::exact(exact),
            (None, Some(re)) => Matcher::pattern("--certificate-oidc-issuer-regexp", re)?,
            (None, None) => {
                return Err(UsageError::new(
                    "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for keyless verification",
                )
                .with_hint("GitLab.com CI certificates have issuer https://gitlab.com"))
            }
        };
        IdentityPolicy::new(identity, issuer)
    };
    let extensions = [
        (
            Extension::BuildSignerUri,
            &args.certificate_build_signer_uri,
        ),
        (
            Extension::BuildSignerDigest,
            &args.certificate_build_signer_digest,
        ),
        (
            Extension::RunnerEnvironment,
            &args.certificate_runner_environment,
        ),
        (
            Extension::SourceRepositoryUri,
            &args.certificate_source_repository_uri,
        ),
        (
            Extension::SourceRepositoryDigest,
            &args.certificate_source_repository_digest,
        ),
        (
            Extension::SourceRepositoryRef,
            &args.certificate_source_repository_ref,
        ),
        (
            Extension::SourceRepositoryIdentifier,
            &args.certificate_source_repository_identifier,
        ),
        (
            Extension::SourceRepositoryOwnerUri,
            &args.certificate_source_repository_owner_uri,
        ),
        (
            Extension::SourceRepositoryOwnerIdentifier,
            &args.certificate_source_repository_owner_identifier,
        ),
        (
            Extension::BuildConfigUri,
            &args.certificate_build_config_uri,
        ),
        (
            Extension::BuildConfigDigest,
            &args.certificate_build_config_digest,
        ),
        (Extension::BuildTrigger, &args.certificate_build_trigger),
        (
            Extension::RunInvocationUri,
            &args.certificate_run_invocation_uri,
        ),
        (
            Extension::SourceRepositoryVisibilityAtSigning,
            &args.certificate_source_repository_visibility_at_signing,
        ),
        (
            Extension::DeploymentEnvironment,
            &args.certificate_deployment_environment,
        ),
        (Extension::TokenSubject, &args.certificate_token_subject),
    ];
    Ok(extensions
        .into_iter()
        .filter_map(|(extension, value)| value.as_ref().map(|v| (extension, v)))
        .fold(policy, |policy, (extension, value)| {
            policy.with_extension(extension, value)
        }))
}

/// One line of reasons: the error and its causes, joined.
fn reason(err: &VerifyError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some upstream errors repeat their source in their own message.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

fn hints(err: &VerifyError) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(h) = hint_of(e) {
            if !out.contains(&h) {
                out.push(h);
            }
        }
        current = e.source();
    }
    out
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
