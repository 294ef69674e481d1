//! Keyless signing of many files with one certificate, in cosign's layouts.
//!
//! One ephemeral P-256 key and one Fulcio certificate serve the whole run
//! (Fulcio is the slow, rate-limited step); each file is hashed streaming,
//! signed, and logged in Rekor, uploads running concurrently. Nothing is
//! written until every new bundle has passed full offline verification
//! against the trusted root and the token's identity: a Fulcio or Rekor that
//! answers with something unverifiable is an error, not a signature.

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
    /// RFC 3161 timestamp authority, optional with Rekor v1.
    pub tsa_url: Option<String>,
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
                Some("check --trusted-root: it must describe the Fulcio and Rekor that were used".into())
            }),
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
    pub fn new(settings: SignSettings, trust: TrustMaterial) -> Result<Self, SignError> {
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

        let rekor = RekorLog::new(
            self.client.clone(),
            &self.settings.services.rekor_url,
            self.settings.http.clone(),
        );
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
                let (entry, existed) =
                    rekor
                        .create(&detached, digest.as_bytes())
                        .await
                        .map_err(|source| SignError::Rekor {
                            file: job.file.clone(),
                            source,
                        })?;
                let timestamp = match &tsa {
                    Some(tsa) => {
                        let (client, url) = tsa.as_ref();
                        let token = client
                            .timestamp_signature(&SignatureBytes::from(detached.signature.clone()))
                            .await
                            .map_err(|source| SignError::Timestamp {
                                url: url.clone(),
                                source,
                            })?;
                        Some(token)
                    }
                    None => None,
                };
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

fn hash(path: &Path) -> Result<Sha256Hash, SignError> {
    let read = |source| SignError::Read {
        path: path.to_path_buf(),
        source,
    };
    sigstore_crypto::sha256_reader(std::fs::File::open(path).map_err(read)?).map_err(read)
}

fn certificate_not_after(der: &[u8]) -> Result<jiff::Timestamp, SignError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| {
        SignError::BadCertificate(crate::verify::InputError::BadCertificate(e.to_string()))
    })?;
    jiff::Timestamp::from_second(cert.validity().not_after.timestamp()).map_err(|e| {
        SignError::BadCertificate(crate::verify::InputError::BadCertificate(e.to_string()))
    })
}
