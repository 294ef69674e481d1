//! `gl-sign sign-blob`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::cli::SignBlobArgs;
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::http::{redact_url, HttpSettings};
use crate::sign::{
    BlobSigner, IdentityToken, Outputs, Reporter, Services, SignJob, SignSettings,
    PUBLIC_GOOD_FULCIO, PUBLIC_GOOD_REKOR, STAGING_FULCIO, STAGING_REKOR,
};
use crate::trust::{TrustMaterial, TrustSource};

pub fn run(args: SignBlobArgs) -> anyhow::Result<ExitStatus> {
    let jobs = jobs(&args)?;
    let token = identity_token(args.identity_token.as_deref())?;
    let services = services(&args)?;
    let trust_source = match (&args.trusted_root, args.staging) {
        (Some(path), _) => TrustSource::File(path.clone()),
        (None, true) => TrustSource::Staging,
        (None, false) => TrustSource::PublicGood,
    };
    let trust = TrustMaterial::load(&trust_source)?;
    eprintln!(
        "Signing {} file{} as {} (issuer {}) with Fulcio {} and Rekor {}",
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
        b64_certificate: args.b64_certificate,
        parallel_uploads: 32,
    };
    let signer = BlobSigner::new(settings, trust)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let signed = runtime.block_on(signer.sign(&token, &jobs, &StderrReporter))?;
    for s in &signed {
        println!("OK {} sha256:{}", s.file.display(), s.sha256);
    }
    Ok(ExitStatus::Success)
}

struct StderrReporter;

impl Reporter for StderrReporter {
    fn already_signed(&self, file: &Path) {
        eprintln!(
            "kept {}: its bundle already verifies for this identity",
            file.display()
        );
    }
    fn certificate(&self, identity: &str, not_after: jiff::Timestamp) {
        eprintln!("certificate issued for {identity}, valid until {not_after}");
    }
    fn logged(&self, file: &Path, log_index: u64, existed: bool) {
        let how = if existed {
            "was already in the log"
        } else {
            "logged"
        };
        eprintln!("{} {how} at index {log_index}", file.display());
    }
}

fn jobs(args: &SignBlobArgs) -> Result<Vec<SignJob>, UsageError> {
    let explicit = args.output_signature.is_some()
        || args.output_certificate.is_some()
        || args.bundle.is_some();
    if explicit && args.files.len() > 1 {
        return Err(UsageError::new(format!(
            "--output-signature, --output-certificate and --bundle name outputs for one file, but {} files were given",
            args.files.len()
        ))
        .with_hint("leave them out (FILE.sig, FILE.crt, FILE.sigstore.json) or use --output-dir"));
    }
    if let Some(dir) = &args.output_dir {
        if !dir.is_dir() {
            return Err(UsageError::new(format!(
                "--output-dir {} is not a directory",
                dir.display()
            )));
        }
    }
    let mut jobs: Vec<SignJob> = Vec::new();
    for file in &args.files {
        if !file.is_file() {
            return Err(UsageError::new(format!("{} is not a file", file.display())));
        }
        let mut outputs = Outputs::beside(file, args.output_dir.as_deref());
        if let Some(p) = &args.output_signature {
            outputs.signature = p.clone();
        }
        if let Some(p) = &args.output_certificate {
            outputs.certificate = p.clone();
        }
        if let Some(p) = &args.bundle {
            outputs.bundle = p.clone();
        }
        if let Some(clash) = jobs.iter().find(|j| j.outputs.bundle == outputs.bundle) {
            return Err(UsageError::new(format!(
                "{} and {} would write the same outputs in --output-dir",
                clash.file.display(),
                file.display()
            )));
        }
        jobs.push(SignJob {
            file: file.clone(),
            outputs,
        });
    }
    Ok(jobs)
}

/// The token from the flag or `$SIGSTORE_ID_TOKEN`: a JWT, or a file holding one.
/// The value itself is never echoed, even when it is wrong.
pub(super) fn identity_token(value: Option<&str>) -> anyhow::Result<IdentityToken> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Err(UsageError::new(
            "no identity token: pass --identity-token or set SIGSTORE_ID_TOKEN",
        )
        .with_hint(
            "in GitLab CI add `id_tokens: {SIGSTORE_ID_TOKEN: {aud: sigstore}}` to the signing job",
        )
        .into());
    };
    let looks_like_jwt = value.split('.').count() == 3
        && !value.contains(char::is_whitespace)
        && !Path::new(value).exists();
    let jwt = if looks_like_jwt {
        value.to_string()
    } else {
        let path = PathBuf::from(value);
        std::fs::read_to_string(&path).map_err(|_| {
            UsageError::new("the identity token is neither a JWT nor a readable file holding one")
        })?
    };
    Ok(IdentityToken::parse(&jwt, jiff::Timestamp::now())?)
}

fn services(args: &SignBlobArgs) -> anyhow::Result<Services> {
    if let Some(path) = &args.signing_config {
        let config = sigstore_trust_root::SigningConfig::from_file(path).with_context(|| {
            format!("{} is not a valid Sigstore signing config", path.display())
        })?;
        let fulcio = config.fulcio_url().ok_or_else(|| {
            UsageError::new(format!(
                "{} names no current Fulcio (caUrls)",
                path.display()
            ))
        })?;
        // gl-sign writes Rekor v1 entries; a config that lists only v2 logs is refused.
        let rekor = config.rekor_url(Some(1)).ok_or_else(|| {
            UsageError::new(format!(
                "{} names no current Rekor v1 log; gl-sign cannot write to Rekor v2 yet",
                path.display()
            ))
        })?;
        return Ok(Services {
            fulcio_url: fulcio.url.clone(),
            rekor_url: rekor.url.clone(),
            tsa_url: config.tsa_url().map(|t| t.url.clone()),
        });
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
        tsa_url: args.timestamp_server_url.clone(),
    })
}
