//! Keyless signing of many files with one certificate, in cosign's layouts.
//!
//! One ephemeral P-256 key and one Fulcio certificate serve the whole run
//! (Fulcio is the slow, rate-limited step); each file is hashed streaming,
//! signed, and logged in Rekor, uploads running concurrently. Nothing is
//! written until every new bundle has passed full offline verification
//! against the trusted root and the token's identity: a Fulcio or Rekor that
//! answers with something unverifiable is an error, not a signature.
//!
//! Rekor v1 (`/api/v1/log/entries`, hashedrekord 0.0.1) or Rekor v2
//! (`/api/v2/log/entries`, hashedrekord 0.0.2) is chosen per run; Rekor v2
//! entries carry no signed time, so they always come with an RFC 3161
//! timestamp. The identity token goes to Fulcio only over https (or http to
//! loopback), checked before any request.

pub mod attest;
mod fulcio;
pub mod output;
pub mod token;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sigstore_crypto::KeyPair;
use sigstore_types::{Sha256Hash, SignatureBytes};

use crate::http::{self, HttpSettings};
use crate::trust::{TrustError, TrustMaterial};
use crate::verify::{
    BlobVerifier, Detached, Evidence, EvidenceKind, EvidenceSource, IdentityPolicy, Job, Matcher,
    RekorError, RekorLog, VerifyError,
};
pub use fulcio::FulcioError;
pub use output::{certificate_file_contents, OutputError};
pub use token::{IdentityToken, TokenError};

/// Where the signing services are.
#[derive(Debug, Clone)]
pub struct Services {
    pub fulcio_url: String,
    pub rekor_url: String,
    /// The API `rekor_url` speaks.
    pub rekor_version: RekorVersion,
    /// RFC 3161 timestamp authority: optional with Rekor v1, required with v2.
    pub tsa_url: Option<String>,
}

/// Major API version of a Rekor log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RekorVersion {
    V1,
    V2,
}

impl RekorVersion {
    pub fn from_major(major: u32) -> Option<RekorVersion> {
        match major {
            1 => Some(RekorVersion::V1),
            2 => Some(RekorVersion::V2),
            _ => None,
        }
    }
    pub fn major(self) -> u32 {
        match self {
            RekorVersion::V1 => 1,
            RekorVersion::V2 => 2,
        }
    }
}

/// Why a signing config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SigningConfigError {
    #[error("{origin} is not a valid Sigstore signing config")]
    Invalid {
        origin: String,
        #[source]
        source: sigstore_trust_root::Error,
    },
    #[error("{origin} names no current Fulcio (caUrls)")]
    NoFulcio { origin: String },
    #[error("{origin} names no current Rekor v{major} log (rekorTlogUrls)")]
    NoRekor { origin: String, major: u32 },
    #[error("{origin} names no current Rekor log that gl-sign can write to (v1 or v2)")]
    NoSupportedRekor { origin: String },
}

impl crate::diagnostics::Hint for SigningConfigError {
    fn hint(&self) -> Option<String> {
        match self {
            SigningConfigError::NoRekor { .. } => {
                Some("leave out the Rekor version to use the log the signing config prefers".into())
            }
            _ => None,
        }
    }
}

/// A Sigstore signing config (v0.2), read where it is named.
pub struct SigningConfig {
    config: sigstore_trust_root::SigningConfig,
    origin: String,
}

/// One service a signing config lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub major_api_version: u32,
}

/// The services a signing config selects ([`SigningConfig::endpoints`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub fulcio: Option<Endpoint>,
    pub rekor: Option<Endpoint>,
    pub tsa: Option<Endpoint>,
}

impl SigningConfig {
    pub fn from_file(path: &Path) -> Result<SigningConfig, SigningConfigError> {
        let origin = path.display().to_string();
        let config = sigstore_trust_root::SigningConfig::from_file(path).map_err(|source| {
            SigningConfigError::Invalid {
                origin: origin.clone(),
                source,
            }
        })?;
        Ok(SigningConfig { config, origin })
    }

    /// A config already parsed and verified elsewhere (the TUF cache), named
    /// by `origin` in messages.
    pub(crate) fn from_parts(
        config: sigstore_trust_root::SigningConfig,
        origin: String,
    ) -> SigningConfig {
        SigningConfig { config, origin }
    }

    /// What the config is called in messages: its file, or where it came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Where the config sends signing now: the current Fulcio, the Rekor log of
    /// the highest major version, the current TSA; each `None` when it lists none.
    pub fn endpoints(&self) -> Endpoints {
        let endpoint = |e: Option<&sigstore_trust_root::ServiceEndpoint>| {
            e.map(|e| Endpoint {
                url: e.url.clone(),
                major_api_version: e.major_api_version,
            })
        };
        Endpoints {
            fulcio: endpoint(self.config.fulcio_url()),
            rekor: endpoint(self.config.rekor_url(None)),
            tsa: endpoint(self.config.tsa_url()),
        }
    }

    /// The signing config built into gl-sign for public-good or staging.
    pub fn embedded(staging: bool) -> SigningConfig {
        let (json, origin) = if staging {
            (
                sigstore_trust_root::SIGSTORE_STAGING_SIGNING_CONFIG,
                "the embedded staging signing config",
            )
        } else {
            (
                sigstore_trust_root::SIGSTORE_PRODUCTION_SIGNING_CONFIG,
                "the embedded public-good signing config",
            )
        };
        SigningConfig {
            config: sigstore_trust_root::SigningConfig::from_json(json)
                .expect("the embedded signing configs parse"),
            origin: origin.into(),
        }
    }

    /// Services by the spec's selection rules: the current Fulcio, the Rekor
    /// log of the highest supported major version (or exactly `rekor`), and
    /// the current TSA, if any.
    pub fn services(&self, rekor: Option<RekorVersion>) -> Result<Services, SigningConfigError> {
        let origin = || self.origin.clone();
        let fulcio = self
            .config
            .fulcio_url()
            .ok_or_else(|| SigningConfigError::NoFulcio { origin: origin() })?;
        let log = match rekor {
            Some(version) => self
                .config
                .rekor_url(Some(version.major()))
                .ok_or_else(|| SigningConfigError::NoRekor {
                    origin: origin(),
                    major: version.major(),
                })?,
            None => self
                .config
                .rekor_url(None)
                .ok_or_else(|| SigningConfigError::NoSupportedRekor { origin: origin() })?,
        };
        let rekor_version = RekorVersion::from_major(log.major_api_version)
            .ok_or_else(|| SigningConfigError::NoSupportedRekor { origin: origin() })?;
        Ok(Services {
            fulcio_url: fulcio.url.clone(),
            rekor_url: log.url.clone(),
            rekor_version,
            tsa_url: self.config.tsa_url().map(|t| t.url.clone()),
        })
    }
}

pub const PUBLIC_GOOD_FULCIO: &str = "https://fulcio.sigstore.dev";
pub const PUBLIC_GOOD_REKOR: &str = "https://rekor.sigstore.dev";
pub const STAGING_FULCIO: &str = "https://fulcio.sigstage.dev";
pub const STAGING_REKOR: &str = "https://rekor.sigstage.dev";

/// The three files written for one signed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub signature: PathBuf,
    pub certificate: PathBuf,
    pub bundle: PathBuf,
}

impl Outputs {
    /// `FILE.sig`, `FILE.crt`, `FILE.sigstore.json`, beside FILE or in `dir`.
    pub fn beside(file: &Path, dir: Option<&Path>) -> Outputs {
        let name = file
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let base = match dir {
            Some(dir) => dir.join(&name),
            None => file.to_path_buf(),
        };
        let with = |suffix: &str| {
            let mut path = base.clone().into_os_string();
            path.push(suffix);
            PathBuf::from(path)
        };
        Outputs {
            signature: with(".sig"),
            certificate: with(".crt"),
            bundle: with(".sigstore.json"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SignJob {
    pub file: PathBuf,
    pub outputs: Outputs,
}

#[derive(Debug, Clone)]
pub struct SignSettings {
    pub services: Services,
    pub http: HttpSettings,
    /// Write `.crt` as base64 of the PEM, byte for byte like cosign's default.
    pub b64_certificate: bool,
    /// Concurrent Rekor uploads.
    pub parallel_uploads: usize,
}

/// Progress, for the command to print; the library never prints.
pub trait Reporter: Sync {
    fn already_signed(&self, _file: &Path) {}
    fn certificate(&self, _identity: &str, _not_after: jiff::Timestamp) {}
    fn logged(&self, _file: &Path, _log_index: u64, _existed: bool) {}
}

/// A file whose signature is on disk and verified.
#[derive(Debug, Clone)]
pub struct Signed {
    pub file: PathBuf,
    pub sha256: String,
    pub outputs: Outputs,
    /// Rekor log index; `None` when an existing signature was kept.
    pub log_index: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot get a signing certificate")]
    Fulcio(#[source] FulcioError),
    #[error(
        "Fulcio issued a certificate for {found}, expected {expected} (from the identity token)"
    )]
    WrongIdentity { expected: String, found: String },
    #[error("Fulcio's certificate is unusable")]
    BadCertificate(#[source] crate::verify::InputError),
    #[error("the signing certificate expired at {not_after}, before {} was logged; nothing was written for it", file.display())]
    CertificateExpired {
        file: PathBuf,
        not_after: jiff::Timestamp,
    },
    #[error("cannot log the signature of {} in Rekor", file.display())]
    Rekor {
        file: PathBuf,
        #[source]
        source: RekorError,
    },
    #[error("cannot log the signature of {} in the Rekor v2 log {url}", file.display())]
    RekorV2 {
        file: PathBuf,
        url: String,
        #[source]
        source: sigstore_rekor::Error,
    },
    #[error("the Rekor v2 log {rekor_url} needs an RFC 3161 timestamp for every entry, but no timestamp authority was given")]
    V2NeedsTimestamp { rekor_url: String },
    #[error("refusing to send the identity token to {url}: https is required (plain http only to loopback)")]
    InsecureFulcio { url: String },
    #[error("the new signature of {} does not verify; nothing was written for it", file.display())]
    SelfCheck {
        file: PathBuf,
        #[source]
        source: VerifyError,
    },
    #[error("cannot get a timestamp from {url}")]
    Timestamp {
        url: String,
        #[source]
        source: sigstore_tsa::Error,
    },
    #[error("cannot sign: {0}")]
    Key(String),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error("cannot build an HTTP client")]
    Http(#[from] http::ClientBuildError),
}

impl SignError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SignError::Fulcio(FulcioError::Refused { status: 401 | 403, .. }) => Some(
                "Fulcio rejected the identity token: check that it is fresh, has aud \"sigstore\" and comes from an \
                 issuer this Fulcio trusts"
                    .into(),
            ),
            SignError::CertificateExpired { .. } => {
                Some("Fulcio certificates live 10 minutes; re-run: files already signed are kept".into())
            }
            SignError::SelfCheck { source, .. } => source.hint().or_else(|| {
                Some("check the trusted root: it must describe the Fulcio and Rekor that were used".into())
            }),
            SignError::V2NeedsTimestamp { .. } => Some(
                "name a timestamp authority, use a signing config that lists tsaUrls, or choose Rekor v1"
                    .into(),
            ),
            SignError::InsecureFulcio { .. } => Some(
                "use the https:// URL of Fulcio; an http URL would expose the token to anyone on the path".into(),
            ),
            // Transparent wrappers: their source is not in the chain.
            SignError::Trust(e) => crate::hint::Hint::hint(e),
            _ => None,
        }
    }
}

/// Signs files against one set of services, checking results with `trust`.
pub struct BlobSigner {
    settings: SignSettings,
    trust: TrustMaterial,
    client: reqwest::Client,
}

impl BlobSigner {
    /// Refuses, before any request, settings that would leak the token or
    /// write Rekor v2 entries without a timestamp.
    pub fn new(settings: SignSettings, trust: TrustMaterial) -> Result<Self, SignError> {
        let services = &settings.services;
        let fulcio_ok = reqwest::Url::parse(&services.fulcio_url)
            .is_ok_and(|url| http::may_carry_credentials(&url));
        if !fulcio_ok {
            return Err(SignError::InsecureFulcio {
                url: http::redact_url(&services.fulcio_url),
            });
        }
        if services.rekor_version == RekorVersion::V2 && services.tsa_url.is_none() {
            return Err(SignError::V2NeedsTimestamp {
                rekor_url: http::redact_url(&services.rekor_url),
            });
        }
        let client = http::sigstore_client(&settings.http)?;
        Ok(BlobSigner {
            settings,
            trust,
            client,
        })
    }

    /// The verifier that every output must satisfy: exactly the identity and
    /// issuer the token names.
    fn verifier(&self, token: &IdentityToken) -> Result<BlobVerifier, SignError> {
        let policy = IdentityPolicy::new(
            Matcher::exact(token.expected_identity()),
            Matcher::exact(token.claims().iss.clone()),
        );
        Ok(BlobVerifier::new(self.trust.clone(), policy)?.offline())
    }

    /// Sign every job. Files whose existing bundle already verifies for this
    /// identity are kept as they are, so a re-run after a failure redoes only
    /// what is missing.
    pub async fn sign(
        &self,
        token: &IdentityToken,
        jobs: &[SignJob],
        reporter: &dyn Reporter,
    ) -> Result<Vec<Signed>, SignError> {
        let verifier = Arc::new(self.verifier(token)?);

        // Hash every file (streaming) and find those already signed.
        let mut pending = Vec::new();
        let mut done = Vec::new();
        for job in jobs {
            let digest = hash(&job.file)?;
            if let Some(kept) = self.keep_existing(&verifier, job, &digest)? {
                reporter.already_signed(&job.file);
                done.push(kept);
            } else {
                pending.push((job.clone(), digest));
            }
        }
        if pending.is_empty() {
            return Ok(done);
        }

        let key = KeyPair::generate_ecdsa_p256().map_err(|e| SignError::Key(e.to_string()))?;
        let certificate = self.certificate(token, &key).await?;
        let not_after = certificate_not_after(&certificate)?;
        reporter.certificate(&token.expected_identity(), not_after);

        let rekor = match self.settings.services.rekor_version {
            RekorVersion::V1 => Log::V1(RekorLog::new(
                self.client.clone(),
                &self.settings.services.rekor_url,
                self.settings.http.clone(),
            )),
            RekorVersion::V2 => Log::V2(
                sigstore_rekor::RekorV2Client::builder(self.settings.services.rekor_url.clone())
                    .with_http_client(self.client.clone())
                    .build()
                    .map_err(|source| SignError::RekorV2 {
                        file: PathBuf::new(),
                        url: http::redact_url(&self.settings.services.rekor_url),
                        source,
                    })?,
                http::redact_url(&self.settings.services.rekor_url),
                self.settings.http.clone(),
            ),
        };
        let tsa = match &self.settings.services.tsa_url {
            Some(url) => Some(Arc::new((
                sigstore_tsa::TimestampClient::builder(url.clone())
                    .with_http_client(self.client.clone())
                    .build()
                    .map_err(|source| SignError::Timestamp {
                        url: http::redact_url(url),
                        source,
                    })?,
                http::redact_url(url),
            ))),
            None => None,
        };
        let limit = Arc::new(tokio::sync::Semaphore::new(
            self.settings.parallel_uploads.max(1),
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, (job, digest)) in pending.into_iter().enumerate() {
            let signature = key
                .sign_digest(&digest)
                .map_err(|e| SignError::Key(e.to_string()))?;
            let detached = Detached {
                signature: signature.as_bytes().to_vec(),
                certificate: certificate.clone(),
            };
            let (rekor, limit, verifier, tsa) =
                (rekor.clone(), limit.clone(), verifier.clone(), tsa.clone());
            let http_settings = self.settings.http.clone();
            tasks.spawn(async move {
                let _permit = limit
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                if jiff::Timestamp::now() >= not_after {
                    return Err(SignError::CertificateExpired {
                        file: job.file.clone(),
                        not_after,
                    });
                }
                // The timestamp first: a Rekor v2 entry is worthless without one.
                let timestamp = match &tsa {
                    Some(tsa) => {
                        let (client, url) = tsa.as_ref();
                        let signature = SignatureBytes::from(detached.signature.clone());
                        let token = retry_transient(&http_settings, tsa_transient, || {
                            client.timestamp_signature(&signature)
                        })
                        .await
                        .map_err(|source| SignError::Timestamp {
                            url: url.clone(),
                            source,
                        })?;
                        Some(token)
                    }
                    None => None,
                };
                let (entry, existed) = rekor.create(&job.file, &detached, &digest).await?;
                let bundle = crate::verify::input::bundle_v03(
                    &detached,
                    digest.as_bytes(),
                    entry,
                    timestamp,
                );
                // The log's answer and Fulcio's certificate, checked as a verifier would.
                let evidence = Evidence::Bundle {
                    bundle: Box::new(bundle.clone()),
                    kind: EvidenceKind::SigstoreBundle,
                };
                let verified = tokio::task::block_in_place(|| {
                    verifier.verify_evidence(evidence, *digest.as_bytes())
                })
                .map_err(|source| SignError::SelfCheck {
                    file: job.file.clone(),
                    source,
                })?;
                Ok((
                    index,
                    job,
                    digest,
                    detached,
                    bundle,
                    verified.log_index,
                    existed,
                ))
            });
        }
        let mut logged = Vec::new();
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined.expect("signing tasks do not panic") {
                Ok(result) => logged.push(result),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // Write what verified even if another file failed: the re-run keeps it.
        logged.sort_by_key(|(index, ..)| *index);
        for (_, job, digest, detached, bundle, log_index, existed) in logged {
            reporter.logged(&job.file, log_index.unwrap_or_default(), existed);
            output::write_all(
                &job.outputs,
                &detached,
                &bundle,
                self.settings.b64_certificate,
            )?;
            done.push(Signed {
                file: job.file,
                sha256: digest.to_hex(),
                outputs: job.outputs,
                log_index,
            });
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    async fn certificate(
        &self,
        token: &IdentityToken,
        key: &KeyPair,
    ) -> Result<Vec<u8>, SignError> {
        let der = fulcio::request_certificate(
            &self.client,
            &self.settings.http,
            &self.settings.services.fulcio_url,
            token,
            key,
        )
        .await
        .map_err(SignError::Fulcio)?;
        // Refuse a certificate for someone else before signing anything with it.
        let claims = crate::verify::inspect_certificate(
            crate::verify::input::certificate_pem(&der).as_bytes(),
        )
        .map_err(SignError::BadCertificate)?;
        let expected = token.expected_identity();
        let found = claims
            .identity
            .clone()
            .unwrap_or_else(|| "no identity".into());
        if found != expected {
            return Err(SignError::WrongIdentity { expected, found });
        }
        let issuer = claims.issuer.clone().unwrap_or_else(|| "no issuer".into());
        if issuer != token.claims().iss {
            return Err(SignError::WrongIdentity {
                expected: format!("issuer {}", token.claims().iss),
                found: format!("issuer {issuer}"),
            });
        }
        Ok(der)
    }

    /// An existing bundle that verifies for this identity is kept; its `.sig`
    /// and `.crt` are rewritten from it, in case they were lost.
    fn keep_existing(
        &self,
        verifier: &BlobVerifier,
        job: &SignJob,
        digest: &Sha256Hash,
    ) -> Result<Option<Signed>, SignError> {
        if !job.outputs.bundle.exists() {
            return Ok(None);
        }
        let probe = Job {
            file: job.file.clone(),
            evidence: EvidenceSource::Bundle {
                bundle: job.outputs.bundle.clone(),
                signature: None,
                certificate: None,
            },
        };
        let Ok(Evidence::Bundle { bundle, .. }) = crate::verify::load_evidence(&probe) else {
            return Ok(None);
        };
        let evidence = Evidence::Bundle {
            bundle: bundle.clone(),
            kind: EvidenceKind::SigstoreBundle,
        };
        if verifier
            .verify_evidence(evidence, *digest.as_bytes())
            .is_err()
        {
            return Ok(None);
        }
        let (Some(certificate), sigstore_types::SignatureContent::MessageSignature(signature)) =
            (bundle.signing_certificate(), &bundle.content)
        else {
            return Ok(None);
        };
        let detached = Detached {
            signature: signature.signature.as_bytes().to_vec(),
            certificate: certificate.as_bytes().to_vec(),
        };
        output::write_detached(&job.outputs, &detached, self.settings.b64_certificate)?;
        Ok(Some(Signed {
            file: job.file.clone(),
            sha256: digest.to_hex(),
            outputs: job.outputs.clone(),
            log_index: None,
        }))
    }
}

/// The log a run writes to.
#[derive(Clone)]
enum Log {
    V1(RekorLog),
    /// Client, redacted URL, and the retry settings.
    V2(sigstore_rekor::RekorV2Client, String, HttpSettings),
}

impl Log {
    /// Log one signature; returns the entry and whether it already existed.
    async fn create(
        &self,
        file: &Path,
        detached: &Detached,
        digest: &Sha256Hash,
    ) -> Result<(sigstore_types::TransparencyLogEntry, bool), SignError> {
        match self {
            Log::V1(log) => log
                .create(detached, digest.as_bytes())
                .await
                .map_err(|source| SignError::Rekor {
                    file: file.to_path_buf(),
                    source,
                }),
            Log::V2(client, url, settings) => {
                // The response is checked against this request by the client,
                // then verified in full (checkpoint, proof, timestamp) by the caller.
                let request = sigstore_rekor::HashedRekordV2::new_with_certificate(
                    digest,
                    &SignatureBytes::from(detached.signature.clone()),
                    &sigstore_types::DerCertificate::from(detached.certificate.clone()),
                    sigstore_rekor::RekorV2KeyDetails::PkixEcdsaP256Sha256,
                );
                // A retried append at worst logs the same entry twice; both verify.
                let entry = retry_transient(settings, rekor_v2_transient, || {
                    client.create_entry(request.clone())
                })
                .await
                .map_err(|source| SignError::RekorV2 {
                    file: file.to_path_buf(),
                    url: url.clone(),
                    source,
                })?;
                Ok((entry, false))
            }
        }
    }
}

/// Run `attempt` again after transient failures, with doubling delays.
async fn retry_transient<T, E, F, Fut>(
    settings: &HttpSettings,
    transient: fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delay = settings.min_backoff;
    for _ in 0..settings.retries {
        match attempt().await {
            Err(e) if transient(&e) => {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            done => return done,
        }
    }
    attempt().await
}

/// 5xx, 429 and transport failures; not refusals or bad answers.
fn rekor_v2_transient(e: &sigstore_rekor::Error) -> bool {
    match e {
        sigstore_rekor::Error::Status { status, .. } => *status >= 500 || *status == 429,
        sigstore_rekor::Error::Http(_) => true,
        _ => false,
    }
}

/// sigstore-tsa reports statuses as text ("TSA returned status 503 ...").
fn tsa_transient(e: &sigstore_tsa::Error) -> bool {
    match e {
        sigstore_tsa::Error::Http(message) => {
            !message.contains("status 4") || message.contains("status 429")
        }
        _ => false,
    }
}

fn hash(path: &Path) -> Result<Sha256Hash, SignError> {
    let read = |source| SignError::Read {
        path: path.to_path_buf(),
        source,
    };
    crate::files::sha256_file(path)
        .map(Sha256Hash::from)
        .map_err(read)
}

fn certificate_not_after(der: &[u8]) -> Result<jiff::Timestamp, SignError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| {
        SignError::BadCertificate(crate::verify::InputError::BadCertificate(e.to_string()))
    })?;
    jiff::Timestamp::from_second(cert.validity().not_after.timestamp()).map_err(|e| {
        SignError::BadCertificate(crate::verify::InputError::BadCertificate(e.to_string()))
    })
}

crate::register_hint!(inherent SignError);
crate::register_hint!(SigningConfigError);
