//! `gl-sign sign-blob`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::shared::StderrReporter;
use crate::cli::{CosignSignBlobFlags, OutputFormat, SignBlobArgs};
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::http::{redact_url, HttpSettings};
use crate::sign::{
    BlobSigner, IdentityToken, Outputs, RekorVersion, Services, SignJob, SignSettings,
    SigningConfig, PUBLIC_GOOD_FULCIO, PUBLIC_GOOD_REKOR, STAGING_FULCIO, STAGING_REKOR,
};

pub fn run(args: SignBlobArgs) -> anyhow::Result<ExitStatus> {
    let use_signing_config = cosign_flags(&args.cosign)?;
    let jobs = jobs(&args)?;
    let token = identity_token(args.identity_token.as_deref())?;
    let services = services(&args, use_signing_config)?;
    // Issue 11: --trusted-root, else a verified TUF cache, else embedded.
    let trust = super::settings::TrustSettings::resolve(
        &crate::cli::TrustArgs {
            trusted_root: args.trusted_root.clone(),
            staging: args.staging,
        },
        &super::settings::Environment::from_process(),
    )
    .load()?
    .material;
    eprintln!(
        "Signing {} file{} as {} (issuer {}) with Fulcio {} and Rekor v{} {}{}",
        jobs.len(),
        if jobs.len() == 1 { "" } else { "s" },
        token.expected_identity(),
        token.claims().iss,
        redact_url(&services.fulcio_url),
        services.rekor_version.major(),
        redact_url(&services.rekor_url),
        services
            .tsa_url
            .as_deref()
            .map(|t| format!(" and timestamp authority {}", redact_url(t)))
            .unwrap_or_default(),
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
    let signed = runtime.block_on(signer.sign(
        &token,
        &jobs,
        &StderrReporter {
            kept_because: "its bundle already verifies for this identity",
        },
    ))?;
    match args.output.output {
        OutputFormat::Text => {
            for s in &signed {
                println!("OK {} sha256:{}", s.file.display(), s.sha256);
            }
        }
        OutputFormat::Json => print_json(&token, &signed)?,
    }
    Ok(ExitStatus::Success)
}

/// One JSON document on stdout: who signed, and per file its digest, outputs
/// and log entry, for a pipeline to keep as a record.
fn print_json(token: &IdentityToken, signed: &[crate::sign::Signed]) -> anyhow::Result<()> {
    let files: Vec<serde_json::Value> = signed
        .iter()
        .map(|s| {
            serde_json::json!({
                "file": s.file.display().to_string(),
                "sha256": s.sha256,
                "bundle": s.outputs.bundle.display().to_string(),
                "signature": s.outputs.signature.display().to_string(),
                "certificate": s.outputs.certificate.display().to_string(),
                "log_index": s.log_index,
                "kept_existing": s.log_index.is_none(),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "identity": token.expected_identity(),
        "issuer": token.claims().iss,
        "signed": signed.len(),
        "files": files,
    });
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &doc)?;
    writeln!(out)?;
    Ok(())
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

/// Services from `--signing-config` (or the embedded one with cosign's
/// `--use-signing-config`), else from the URL flags and defaults.
fn services(args: &SignBlobArgs, use_signing_config: bool) -> anyhow::Result<Services> {
    let forced = args
        .rekor_version
        .map(|v| RekorVersion::from_major(v).expect("clap allows only 1 and 2"));
    let with_flag = |e: crate::sign::SigningConfigError| {
        anyhow::Error::new(e).context(match forced {
            Some(v) => format!("cannot pick the services for --rekor-version {}", v.major()),
            None => "cannot pick the services from the signing config".to_string(),
        })
    };
    if let Some(path) = &args.signing_config {
        let config = SigningConfig::from_file(path)?;
        return config.services(forced).map_err(with_flag);
    }
    if use_signing_config {
        if args.fulcio_url.is_some() || args.rekor_url.is_some() {
            return Err(UsageError::new(
                "--use-signing-config takes the services from the signing config, but --fulcio-url or --rekor-url (or GL_SIGN_FULCIO_URL / GL_SIGN_REKOR_URL) name them too",
            )
            .with_hint("leave out one of them; --signing-config FILE names a signing config of your own")
            .into());
        }
        return SigningConfig::embedded(args.staging)
            .services(forced)
            .map_err(with_flag);
    }
    // Issue 11: with no service flags, the public-good services come from the
    // TUF signing config when a verified one is cached, so a new log or TSA
    // is followed; else from the embedded defaults below.
    if args.fulcio_url.is_none() && args.rekor_url.is_none() && args.timestamp_server_url.is_none()
    {
        if let Some(cache) = super::shared::tuf_cache(None) {
            let now = jiff::Timestamp::now();
            if let Some((config, _)) = crate::trust::tuf_signing_config(&cache, args.staging, now) {
                eprintln!("Using {}", config.origin());
                return config.services(forced).map_err(with_flag);
            }
        }
    }
    let (fulcio, rekor) = if args.staging {
        (STAGING_FULCIO, STAGING_REKOR)
    } else {
        (PUBLIC_GOOD_FULCIO, PUBLIC_GOOD_REKOR)
    };
    let fulcio_url = args
        .fulcio_url
        .clone()
        .unwrap_or_else(|| fulcio.to_string());
    // Only --rekor-url names a v1 log unless --rekor-version says otherwise.
    let rekor_version = forced.unwrap_or(RekorVersion::V1);
    let (rekor_url, default_tsa) = match (&args.rekor_url, rekor_version) {
        (Some(url), _) => (url.clone(), None),
        (None, RekorVersion::V1) => (rekor.to_string(), None),
        (None, RekorVersion::V2) => {
            // No v2 URL given: the instance's own v2 log and TSA.
            let known = SigningConfig::embedded(args.staging)
                .services(Some(RekorVersion::V2))
                .map_err(with_flag)
                .context("pass --rekor-url with the URL of a Rekor v2 log")?;
            (known.rekor_url, known.tsa_url)
        }
    };
    Ok(Services {
        fulcio_url,
        rekor_url,
        rekor_version,
        tsa_url: args.timestamp_server_url.clone().or(default_tsa),
    })
}

/// cosign's spellings: accept those that mean what gl-sign does anyway,
/// refuse the rest naming the gl-sign way. Returns `--use-signing-config`.
fn cosign_flags(flags: &CosignSignBlobFlags) -> Result<bool, UsageError> {
    let boolean = |flag: &str, value: &Option<String>| -> Result<Option<bool>, UsageError> {
        match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => Ok(None),
            Some("true" | "1" | "t") => Ok(Some(true)),
            Some("false" | "0" | "f") => Ok(Some(false)),
            Some(other) => Err(UsageError::new(format!(
                "--{flag} takes true or false, found {other:?}"
            ))),
        }
    };
    let refuse = |flag: &str, why: &str, hint: &str| -> Result<bool, UsageError> {
        Err(UsageError::new(format!("cosign's --{flag} is not supported: {why}")).with_hint(hint))
    };
    if boolean("new-bundle-format", &flags.new_bundle_format)? == Some(false) {
        return refuse(
            "new-bundle-format=false",
            "gl-sign always writes the Sigstore bundle FILE.sigstore.json",
            "leave the flag out; FILE.sig and FILE.crt are written beside the bundle, as cosign's old format did",
        );
    }
    if boolean("tlog-upload", &flags.tlog_upload)? == Some(false) {
        return refuse(
            "tlog-upload=false",
            "a keyless signature without a transparency log entry cannot be verified once its certificate expires",
            "leave the flag out: gl-sign always logs in Rekor (--rekor-version 1|2 picks the log)",
        );
    }
    if boolean("b64", &flags.b64)? == Some(false) {
        return refuse(
            "b64=false",
            "gl-sign writes FILE.sig base64-encoded, as cosign does by default",
            "leave the flag out; `base64 -d FILE.sig` gives the raw DER signature",
        );
    }
    if boolean("issue-certificate", &flags.issue_certificate)? == Some(false) {
        return refuse(
            "issue-certificate=false",
            "gl-sign signs keyless only, with a Fulcio certificate",
            "leave the flag out",
        );
    }
    if let Some(algorithm) = &flags.signing_algorithm {
        if algorithm != "ecdsa-sha2-256-nistp256" {
            return refuse(
                &format!("signing-algorithm {algorithm}"),
                "gl-sign signs with ECDSA P-256 / SHA-256 (ecdsa-sha2-256-nistp256) only",
                "leave the flag out",
            );
        }
    }
    let keyless = "gl-sign signs keyless only: an ephemeral key and a Fulcio certificate for the OIDC identity";
    let token_hint = "pass the OIDC token with --identity-token JWT|FILE or SIGSTORE_ID_TOKEN (GitLab CI: id_tokens with aud sigstore)";
    for (flag, set) in [
        ("key", flags.key.is_some()),
        ("sk", flags.sk.is_some()),
        ("slot", flags.slot.is_some()),
    ] {
        if set {
            return refuse(flag, keyless, token_hint);
        }
    }
    for (flag, set) in [
        ("oidc-issuer", flags.oidc_issuer.is_some()),
        ("oidc-client-id", flags.oidc_client_id.is_some()),
        (
            "oidc-client-secret-file",
            flags.oidc_client_secret_file.is_some(),
        ),
        ("oidc-provider", flags.oidc_provider.is_some()),
        ("oidc-redirect-url", flags.oidc_redirect_url.is_some()),
        (
            "oidc-disable-ambient-providers",
            flags.oidc_disable_ambient_providers.is_some(),
        ),
        ("fulcio-auth-flow", flags.fulcio_auth_flow.is_some()),
    ] {
        if set {
            return refuse(
                flag,
                "gl-sign runs no OIDC flow; it takes a token",
                token_hint,
            );
        }
    }
    if flags.rfc3161_timestamp.is_some() {
        return refuse(
            "rfc3161-timestamp",
            "gl-sign writes no separate timestamp file",
            "the RFC 3161 timestamp is inside FILE.sigstore.json; pass --timestamp-server-url URL to get one",
        );
    }
    for (flag, set) in [
        (
            "timestamp-client-cacert",
            flags.timestamp_client_cacert.is_some(),
        ),
        (
            "timestamp-client-cert",
            flags.timestamp_client_cert.is_some(),
        ),
        ("timestamp-client-key", flags.timestamp_client_key.is_some()),
        (
            "timestamp-server-name",
            flags.timestamp_server_name.is_some(),
        ),
    ] {
        if set {
            return refuse(
                flag,
                "gl-sign talks to the timestamp authority over plain https, without client certificates",
                "leave the flag out; --timestamp-server-url URL names the authority",
            );
        }
    }
    if flags.insecure_skip_verify.is_some() {
        return refuse(
            "insecure-skip-verify",
            "gl-sign always verifies TLS and every bundle before writing it",
            "leave the flag out; --trusted-root FILE names the trust root for a private Sigstore",
        );
    }
    Ok(boolean("use-signing-config", &flags.use_signing_config)? == Some(true))
}
