//! `gl-sign verify-blob`.

use std::path::PathBuf;

use super::settings::{Environment, RekorSettings, TrustSettings};
use super::shared::{identity_policy, refreshed_trust, runtime, verifier};
use super::verdict::VerdictPrinter;
use crate::ci::RefScope;
use crate::cli::{CosignVerifyArgs, IdentityPolicyArgs, OutputFormat, VerifyBlobArgs};
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::http::{self, HttpSettings};
use crate::verify::digest::{looks_like_digest, parse_sha256};
use crate::verify::{
    EvidenceSource, IdentityPolicy, Job, KeyEvidence, KeyJob, KeyVerifier, PublicKey, RekorLog,
    Subject, Verified, VerifyError,
};

pub fn run(args: VerifyBlobArgs, env: &Environment) -> anyhow::Result<ExitStatus> {
    let settings = VerifyBlobSettings::resolve(&args, env)?;
    match &settings.method {
        Method::Keyless {
            jobs,
            policy,
            predicate_type,
        } => verify_keyless(&settings, jobs, policy, predicate_type.as_deref()),
        Method::Key {
            key,
            jobs,
            ignore_tlog,
        } => verify_with_key(&settings, key, jobs, *ignore_tlog),
    }
}

/// verify-blob's arguments, resolved: every usage error is found here.
#[derive(Debug)]
pub struct VerifyBlobSettings {
    subjects: Vec<Subject>,
    method: Method,
    trust: TrustSettings,
    rekor: RekorSettings,
    /// cosign's `--use-signed-timestamps`.
    require_signed_timestamp: bool,
    threads: usize,
    output: OutputFormat,
}

/// Keyless (a certificate and who must have signed) or with a public key.
#[derive(Debug)]
enum Method {
    Keyless {
        jobs: Vec<Job>,
        policy: Box<IdentityPolicy>,
        /// `--type`: accept a DSSE bundle as an attestation of this predicate.
        predicate_type: Option<String>,
    },
    Key {
        key: PathBuf,
        jobs: Vec<KeyJob>,
        /// `--insecure-ignore-tlog`.
        ignore_tlog: bool,
    },
}

impl VerifyBlobSettings {
    pub fn resolve(args: &VerifyBlobArgs, env: &Environment) -> anyhow::Result<Self> {
        refuse_cosign_flags(&args.cosign)?;
        let subjects = subjects(args)?;
        let threads = args.cosign.max_workers.unwrap_or_else(|| env.parallelism());
        let method = match &args.key {
            Some(key) => Method::Key {
                key: key.clone(),
                jobs: key_jobs(args, &subjects)?,
                ignore_tlog: args.insecure_ignore_tlog,
            },
            None => Method::Keyless {
                jobs: jobs(args, &subjects)?,
                policy: Box::new(identity_policy(&args.identity, RefScope::BranchesAndTags)?),
                predicate_type: args.predicate_type.clone(),
            },
        };
        Ok(VerifyBlobSettings {
            subjects,
            method,
            trust: TrustSettings::resolve(&args.trust, env),
            rekor: RekorSettings::resolve(&args.rekor),
            require_signed_timestamp: args.cosign.use_signed_timestamps == Some(true),
            threads,
            output: args.output.output,
        })
    }
}

fn verify_keyless(
    settings: &VerifyBlobSettings,
    jobs: &[Job],
    policy: &IdentityPolicy,
    predicate_type: Option<&str>,
) -> anyhow::Result<ExitStatus> {
    let resolved = settings.trust.load()?;
    // Kept alive for the whole run: lookups block on it from worker threads.
    let runtime = runtime()?;
    let build = |material, policy| -> anyhow::Result<crate::verify::BlobVerifier> {
        let mut v = verifier(material, policy, &settings.rekor, &runtime)?;
        if let Some(predicate_type) = predicate_type {
            v = v.with_predicate_type(predicate_type);
        }
        Ok(if settings.require_signed_timestamp {
            v.require_signed_timestamp()
        } else {
            v
        })
    };
    let verify =
        |verifier: &crate::verify::BlobVerifier, jobs: &[Job]| match settings.subjects.as_slice() {
            // A digest has no file to hash: its evidence is loaded and checked
            // against the given sha256 (jobs() made sure the evidence is explicit).
            [Subject::Digest(digest)] => vec![crate::verify::load_evidence(&jobs[0])
                .and_then(|evidence| verifier.verify_evidence(evidence, digest.0))],
            _ => verifier.verify_all(jobs, settings.threads),
        };
    let mut results = verify(&build(resolved.material.clone(), policy.clone())?, jobs);
    // Issue 11: a log or CA the root in use does not list may be in a newer
    // root; refresh through TUF once and retry only those files.
    let unknown: Vec<usize> = (0..jobs.len())
        .filter(|&i| matches!(&results[i], Err(e) if e.is_unknown_trust()))
        .collect();
    if !unknown.is_empty() {
        if let Some(newer) =
            refreshed_trust(&resolved, &settings.trust, settings.rekor.offline, &runtime)
        {
            let retry = build(newer, policy.clone())?;
            let again: Vec<Job> = unknown.iter().map(|&i| jobs[i].clone()).collect();
            for (i, result) in unknown.into_iter().zip(verify(&retry, &again)) {
                results[i] = result;
            }
        }
    }
    print_results(settings, &results)
}

/// FILE arguments and `--digest`, with `sha256:<hex>` arguments read as digests.
fn subjects(args: &VerifyBlobArgs) -> anyhow::Result<Vec<Subject>> {
    let mut subjects = Vec::new();
    if let Some(digest) = &args.digest {
        subjects.push(Subject::Digest(parse_sha256(digest).map_err(|e| {
            anyhow::Error::new(e).context(format!("--digest {digest:?} is not a sha256 digest"))
        })?));
    }
    for file in &args.files {
        match file.to_str() {
            Some(text) if looks_like_digest(text) => {
                subjects.push(Subject::Digest(parse_sha256(text).map_err(|e| {
                    anyhow::Error::new(e).context(format!("{text:?} is not a sha256 digest"))
                })?))
            }
            _ => subjects.push(Subject::File(file.clone())),
        }
    }
    let digests = subjects
        .iter()
        .filter(|s| matches!(s, Subject::Digest(_)))
        .count();
    if digests > 0 && subjects.len() > 1 {
        return Err(UsageError::new(format!(
            "a digest is verified on its own, but {} inputs were given",
            subjects.len()
        ))
        .with_hint("its --bundle (or --signature) names the evidence for that one digest")
        .into());
    }
    Ok(subjects)
}

/// cosign flags with no gl-sign meaning, refused with what to use instead.
fn refuse_cosign_flags(args: &CosignVerifyArgs) -> Result<(), UsageError> {
    let refuse = |flag: &str, why: &str, hint: &str| {
        Err(UsageError::new(format!(
            "{flag} is a cosign flag gl-sign does not accept: {why}"
        ))
        .with_hint(hint))
    };
    let trust_root_hint = "pass --trusted-root FILE (a Sigstore trusted_root.json); the trust root decides which CAs, logs and TSAs are trusted";
    // `--flag=false` asks for what gl-sign does anyway.
    if args.insecure_ignore_sct == Some(true) {
        return refuse(
            "--insecure-ignore-sct",
            "gl-sign never skips the certificate's SCT check",
            "a certificate from a private Fulcio verifies when its CT log is in --trusted-root FILE",
        );
    }
    for (flag, value) in [
        ("--certificate-chain", &args.certificate_chain),
        ("--ca-roots", &args.ca_roots),
        ("--ca-intermediates", &args.ca_intermediates),
        (
            "--timestamp-certificate-chain",
            &args.timestamp_certificate_chain,
        ),
    ] {
        if value.is_some() {
            return refuse(
                flag,
                "CA and TSA certificates come from the trust root",
                trust_root_hint,
            );
        }
    }
    if args.sct.is_some() {
        return refuse(
            "--sct",
            "detached SCTs are not read",
            "the SCT embedded in the certificate is always checked",
        );
    }
    if args.rfc3161_timestamp.is_some() {
        return refuse(
            "--rfc3161-timestamp",
            "a detached timestamp file is not read",
            "pass a --bundle: Sigstore bundles carry their RFC 3161 timestamps, and gl-sign verifies them",
        );
    }
    if args.private_infrastructure == Some(true) {
        return refuse(
            "--private-infrastructure",
            "gl-sign never skips the transparency log for keyless signatures",
            trust_root_hint,
        );
    }
    if args.experimental_oci11 == Some(true) {
        return refuse(
            "--experimental-oci11",
            "it concerns OCI images, not blobs",
            "drop it",
        );
    }
    if args.sk == Some(true) || args.slot.is_some() {
        return refuse(
            "--sk/--slot",
            "hardware security keys are not read",
            "export the public key (`cosign public-key --sk`) and pass it with --key FILE",
        );
    }
    for (flag, value, instead) in [
        (
            "--certificate-github-workflow-trigger",
            &args.certificate_github_workflow_trigger,
            "--certificate-build-trigger",
        ),
        (
            "--certificate-github-workflow-sha",
            &args.certificate_github_workflow_sha,
            "--certificate-source-repository-digest",
        ),
        (
            "--certificate-github-workflow-name",
            &args.certificate_github_workflow_name,
            "--certificate-build-config-uri",
        ),
        (
            "--certificate-github-workflow-repository",
            &args.certificate_github_workflow_repository,
            "--certificate-source-repository-uri",
        ),
        (
            "--certificate-github-workflow-ref",
            &args.certificate_github_workflow_ref,
            "--certificate-source-repository-ref",
        ),
    ] {
        if value.is_some() {
            return refuse(
                flag,
                "it reads GitHub's deprecated extensions (.1.2-.1.6)",
                &format!("use {instead}, which checks the current Fulcio extension on any CI"),
            );
        }
    }
    if let Some(algorithm) = &args.signature_digest_algorithm {
        if !algorithm.trim().eq_ignore_ascii_case("sha256") {
            return refuse(
                "--signature-digest-algorithm",
                &format!("only sha256 is accepted, found {algorithm:?}"),
                "drop it: the key type and the bundle's message digest decide the hash",
            );
        }
    }
    Ok(())
}

/// Identity flags given, by name: with --key the key is the identity.
fn identity_flags(args: &IdentityPolicyArgs) -> Vec<&'static str> {
    let values = [
        (
            "--certificate-identity",
            args.certificate_identity.is_some(),
        ),
        (
            "--certificate-identity-regexp",
            args.certificate_identity_regexp.is_some(),
        ),
        (
            "--certificate-oidc-issuer",
            args.certificate_oidc_issuer.is_some(),
        ),
        (
            "--certificate-oidc-issuer-regexp",
            args.certificate_oidc_issuer_regexp.is_some(),
        ),
        ("--gitlab-project", args.gitlab_project.is_some()),
        ("--gitlab-ref", args.gitlab_ref.is_some()),
        ("--gitlab-config-path", args.gitlab_config_path.is_some()),
        ("--gitlab-url", args.gitlab_url.is_some()),
        (
            "--certificate-build-signer-uri",
            args.certificate_build_signer_uri.is_some(),
        ),
        (
            "--certificate-build-signer-digest",
            args.certificate_build_signer_digest.is_some(),
        ),
        (
            "--certificate-runner-environment",
            args.certificate_runner_environment.is_some(),
        ),
        (
            "--certificate-source-repository-uri",
            args.certificate_source_repository_uri.is_some(),
        ),
        (
            "--certificate-source-repository-digest",
            args.certificate_source_repository_digest.is_some(),
        ),
        (
            "--certificate-source-repository-ref",
            args.certificate_source_repository_ref.is_some(),
        ),
        (
            "--certificate-source-repository-identifier",
            args.certificate_source_repository_identifier.is_some(),
        ),
        (
            "--certificate-source-repository-owner-uri",
            args.certificate_source_repository_owner_uri.is_some(),
        ),
        (
            "--certificate-source-repository-owner-identifier",
            args.certificate_source_repository_owner_identifier
                .is_some(),
        ),
        (
            "--certificate-build-config-uri",
            args.certificate_build_config_uri.is_some(),
        ),
        (
            "--certificate-build-config-digest",
            args.certificate_build_config_digest.is_some(),
        ),
        (
            "--certificate-build-trigger",
            args.certificate_build_trigger.is_some(),
        ),
        (
            "--certificate-run-invocation-uri",
            args.certificate_run_invocation_uri.is_some(),
        ),
        (
            "--certificate-source-repository-visibility-at-signing",
            args.certificate_source_repository_visibility_at_signing
                .is_some(),
        ),
        (
            "--certificate-deployment-environment",
            args.certificate_deployment_environment.is_some(),
        ),
        (
            "--certificate-token-subject",
            args.certificate_token_subject.is_some(),
        ),
    ];
    values
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect()
}

/// `--key`: the evidence per subject, after the checks that need no file.
fn key_jobs(args: &VerifyBlobArgs, subjects: &[Subject]) -> anyhow::Result<Vec<KeyJob>> {
    let given = identity_flags(&args.identity);
    if !given.is_empty() {
        return Err(UsageError::new(format!(
            "{} checks a certificate, but --key verifies with a public key, which has no identity",
            given.join(", ")
        ))
        .with_hint("drop the identity flags (the key is the identity), or drop --key to verify a keyless signature")
        .into());
    }
    if args.bundle.is_some() && args.signature.is_some() {
        return Err(
            UsageError::new("--bundle and --signature both name the signature; give one").into(),
        );
    }
    let evidence = match (&args.bundle, &args.signature) {
        (Some(bundle), _) => KeyEvidence::Bundle(bundle.clone()),
        (None, Some(signature)) => KeyEvidence::Signature(signature.clone()),
        (None, None) => KeyEvidence::Beside,
    };
    if evidence != KeyEvidence::Beside && subjects.len() > 1 {
        return Err(UsageError::new(format!(
            "--bundle and --signature name the evidence for one file, but {} files were given",
            subjects.len()
        ))
        .with_hint(
            "leave them out: each FILE is then checked against FILE.sigstore.json (or FILE.sig)",
        )
        .into());
    }
    if evidence == KeyEvidence::Beside && matches!(subjects, [Subject::Digest(_)]) {
        return Err(digest_needs_evidence("--bundle FILE or --signature FILE"));
    }
    Ok(subjects
        .iter()
        .map(|subject| KeyJob {
            subject: subject.clone(),
            evidence: evidence.clone(),
        })
        .collect())
}

fn verify_with_key(
    settings: &VerifyBlobSettings,
    key_path: &std::path::Path,
    jobs: &[KeyJob],
    ignore_tlog: bool,
) -> anyhow::Result<ExitStatus> {
    let key = PublicKey::from_file(key_path)?;
    let trust = settings.trust.load()?.material;
    let runtime = runtime()?;
    let rekor_url = settings
        .rekor
        .url
        .clone()
        .unwrap_or_else(|| trust.rekor_url());
    let mut verifier = KeyVerifier::new(&trust, key)?;
    if settings.rekor.offline {
        verifier = verifier.offline();
    } else {
        let http_settings = HttpSettings::default();
        let lookup = RekorLog::new(
            http::sigstore_client(&http_settings)?,
            &rekor_url,
            http_settings,
        );
        verifier = verifier.with_rekor_lookup(lookup, runtime.handle().clone());
    }
    if settings.require_signed_timestamp {
        verifier = verifier.require_signed_timestamp();
    }
    if ignore_tlog {
        eprintln!(
            "warning: --insecure-ignore-tlog: a signature in no transparency log is accepted on the key alone"
        );
        verifier = verifier.ignore_tlog();
    }
    let results = verifier.verify_all(jobs, settings.threads);
    print_results(settings, &results)
}

fn digest_needs_evidence(what: &str) -> anyhow::Error {
    UsageError::new(format!(
        "a digest has no file beside it to find the signature by: pass {what}"
    ))
    .with_hint("sign-blob writes FILE.sigstore.json; name it with --bundle")
    .into()
}

fn jobs(args: &VerifyBlobArgs, subjects: &[Subject]) -> anyhow::Result<Vec<Job>> {
    let explicit = args.bundle.is_some()
        || args.signature.is_some()
        || args.certificate.is_some()
        || args.attestation.is_some();
    if !explicit && matches!(subjects, [Subject::Digest(_)]) {
        return Err(digest_needs_evidence(
            "--bundle FILE, or --signature FILE --certificate FILE",
        ));
    }
    if explicit && subjects.len() > 1 {
        return Err(UsageError::new(format!(
            "--bundle, --signature and --certificate name the evidence for one file, but {} files were given",
            subjects.len()
        ))
        .with_hint("leave them out: each FILE is then checked against FILE.sigstore.json (or FILE.sig + FILE.crt)")
        .into());
    }
    let evidence = match (&args.bundle, &args.signature, &args.certificate) {
        _ if args.attestation.is_some() => EvidenceSource::Attestation {
            attestation: args.attestation.clone().expect("checked above"),
        },
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
                    .with_hint("cosign writes the certificate beside the signature as FILE.crt")
                    .into(),
            )
        }
        (None, None, Some(_)) => {
            return Err(UsageError::new("--certificate needs --signature (or a --bundle)").into())
        }
        (None, None, None) => EvidenceSource::Beside,
    };
    Ok(subjects
        .iter()
        .map(|subject| Job {
            file: match subject {
                Subject::File(file) => file.clone(),
                // Only a label: a digest job is never read from disk.
                Subject::Digest(_) => subject.label().into(),
            },
            evidence: evidence.clone(),
        })
        .collect())
}

fn print_results(
    settings: &VerifyBlobSettings,
    results: &[Result<Verified, VerifyError>],
) -> anyhow::Result<ExitStatus> {
    let labels: Vec<String> = settings.subjects.iter().map(Subject::label).collect();
    let mut printer = VerdictPrinter::new(settings.output);
    for (file, result) in labels.iter().zip(results) {
        match result {
            Ok(v) => printer.ok(file, v)?,
            Err(err) => printer.failed(file, err, err.is_rejection())?,
        }
    }
    let (verified, rejected, errors) = (printer.verified, printer.rejected, printer.errors);
    let status = printer.finish(serde_json::json!({}))?;
    if labels.len() > 1 {
        eprintln!(
            "{verified} of {} files verified ({rejected} rejected, {errors} errors)",
            labels.len()
        );
    }
    Ok(status)
}
