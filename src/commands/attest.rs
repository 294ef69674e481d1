//! `gl-sign attest`.

use anyhow::Context as _;

use super::shared::StderrReporter;
use super::sign_blob::identity_token;
use crate::ci::CiEnvironment;
use crate::cli::{AttestArgs, PredicateArg};
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::http::{redact_url, HttpSettings};
use crate::sign::attest::{AttestJob, BuildProvenance, Predicate};
use crate::sign::{
    BlobSigner, Services, SignSettings, PUBLIC_GOOD_FULCIO, PUBLIC_GOOD_REKOR, STAGING_FULCIO,
    STAGING_REKOR,
};
use crate::trust::{TrustMaterial, TrustSource};

/// The only issuer whose attestations PyPI verifies (its GitLab publisher
/// policy hard-codes it).
const PYPI_GITLAB_ISSUER: &str = "https://gitlab.com";

pub fn run(args: AttestArgs, ci: &CiEnvironment) -> anyhow::Result<ExitStatus> {
    let jobs = jobs(&args)?;
    let slsa = if jobs.iter().any(|j| j.predicate == Predicate::Slsa) {
        let provenance = BuildProvenance::from_ci(ci).map_err(|missing| {
            UsageError::new(format!(
                "--predicate slsa records the GitLab CI job, but {} {} not set",
                missing.join(", "),
                if missing.len() == 1 { "is" } else { "are" }
            ))
            .with_hint("run attest --predicate slsa inside a GitLab CI job, or attest with --predicate publish only")
        })?;
        Some(provenance.predicate(ci))
    } else {
        None
    };
    let token = identity_token(args.identity_token.as_deref())?;
    if token.claims().iss != PYPI_GITLAB_ISSUER {
        eprintln!(
            "warning: the identity token's issuer is {}; PyPI verifies GitLab attestations only from {PYPI_GITLAB_ISSUER} \
             and will refuse these at upload",
            token.claims().iss
        );
    }
    let services = services(&args)?;
    let trust_source = match (&args.trusted_root, args.staging) {
        (Some(path), _) => TrustSource::File(path.clone()),
        (None, true) => TrustSource::Staging,
        (None, false) => TrustSource::PublicGood,
    };
    let trust = TrustMaterial::load(&trust_source)?;
    eprintln!(
        "Attesting {} file{} ({} attestation{}) as {} (issuer {}) with Fulcio {} and Rekor {}",
        args.dists.len(),
        if args.dists.len() == 1 { "" } else { "s" },
        jobs.len(),
        if jobs.len() == 1 { "" } else { "s" },
        token.expected_identity(),
        token.claims().iss,
        redact_url(&services.fulcio_url),
        redact_url(&services.rekor_url),
    );
    let settings = SignSettings {
        services,
        http: HttpSettings::default(),
        b64_certificate: false,
        parallel_uploads: 32,
    };
    let signer = BlobSigner::new(settings, trust)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let attested = runtime.block_on(signer.attest(
        &token,
        &jobs,
        slsa.as_ref(),
        &StderrReporter {
            kept_because: "it already verifies for this identity and dist",
        },
    ))?;
    for a in &attested {
        println!(
            "OK {} {} sha256:{}",
            a.output.display(),
            a.predicate.uri(),
            a.sha256
        );
    }
    Ok(ExitStatus::Success)
}

fn jobs(args: &AttestArgs) -> Result<Vec<AttestJob>, UsageError> {
    if let Some(dir) = &args.output_dir {
        if !dir.is_dir() {
            return Err(UsageError::new(format!(
                "--output-dir {} is not a directory",
                dir.display()
            )));
        }
    }
    let mut predicates: Vec<Predicate> = args
        .predicate
        .iter()
        .map(|p| match p {
            PredicateArg::Publish => Predicate::Publish,
            PredicateArg::Slsa => Predicate::Slsa,
        })
        .collect();
    if predicates.is_empty() {
        predicates.push(Predicate::Publish);
    }
    predicates.sort();
    predicates.dedup();
    let mut jobs: Vec<AttestJob> = Vec::new();
    for dist in &args.dists {
        if !dist.is_file() {
            return Err(UsageError::new(format!("{} is not a file", dist.display())));
        }
        // PyPI (and pypi-attestations) refuse a subject that is not a dist file name.
        let name = dist
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if crate::registry::dist::name_and_version_from_filename(name).is_none() {
            return Err(UsageError::new(format!(
                "{} is not a wheel or sdist: expected NAME-VERSION-TAGS.whl, NAME-VERSION.tar.gz or .zip",
                dist.display()
            ))
            .with_hint("PEP 740 attestations are for the dists uploaded to an index; sign other files with sign-blob"));
        }
        for predicate in &predicates {
            let job = AttestJob::beside(dist, *predicate, args.output_dir.as_deref());
            if let Some(clash) = jobs.iter().find(|j| j.output == job.output) {
                return Err(UsageError::new(format!(
                    "{} and {} would write the same attestation {}",
                    clash.dist.display(),
                    dist.display(),
                    job.output.display()
                )));
            }
            jobs.push(job);
        }
    }
    Ok(jobs)
}

/// Fulcio and a Rekor v1 log: PyPI accepts only Rekor v1 `dsse` entries in
/// attestations, so a signing config's v2 logs are never used here.
fn services(args: &AttestArgs) -> anyhow::Result<Services> {
    if let Some(path) = &args.signing_config {
        // PyPI accepts attestations only with Rekor v1 entries.
        return crate::sign::SigningConfig::from_file(path)?
            .services(Some(crate::sign::RekorVersion::V1))
            .context("cannot pick the services from the signing config for PyPI attestations");
    }
    let (fulcio, rekor) = if args.staging {
        (STAGING_FULCIO, STAGING_REKOR)
    } else {
        (PUBLIC_GOOD_FULCIO, PUBLIC_GOOD_REKOR)
    };
    Ok(Services {
        fulcio_url: args
            .fulcio_url
            .clone()
            .unwrap_or_else(|| fulcio.to_string()),
        rekor_url: args.rekor_url.clone().unwrap_or_else(|| rekor.to_string()),
        rekor_version: crate::sign::RekorVersion::V1,
        tsa_url: None,
    })
}
