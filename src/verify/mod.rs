//! Verification of files against Sigstore evidence and an identity policy.
//!
//! Fail closed: every check sigstore-verify offers runs (certificate chain at
//! each verified time, code-signing usage, embedded SCT, SET and/or inclusion
//! proof with a signed checkpoint, log entry consistency, signature), none is
//! skipped, and a check that cannot be made is a failure.

pub mod attestation;
pub mod cache;
pub mod digest;
pub mod evidence;
mod inclusion;
pub mod input;
pub mod key;
pub mod pep740;
pub mod policy;
pub mod rekor;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use sigstore_types::{Bundle, Sha256Hash, SignatureContent};
use sigstore_verify::Verifier;

use crate::trust::{TrustError, TrustMaterial};
pub use attestation::AttestationViolation;
pub use cache::ChainCheck;
pub use digest::{DigestError, Sha256Digest};
pub use evidence::EvidenceError;
pub use input::{Detached, Evidence, EvidenceKind, InputError};
pub use key::{KeyError, KeyEvidence, KeyJob, KeyVerifier, PublicKey, Subject};
pub use pep740::Pep740Error;
pub use policy::{Extension, IdentityPolicy, Matcher, PolicyViolation};
pub use rekor::{RekorError, RekorLog};

/// Where one file's signature comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceSource {
    /// A Sigstore or cosign bundle; `signature`/`certificate`, when given, must
    /// agree with a cosign bundle (cosign's rule).
    Bundle {
        bundle: PathBuf,
        signature: Option<PathBuf>,
        certificate: Option<PathBuf>,
    },
    /// cosign's detached files.
    Detached {
        signature: PathBuf,
        certificate: PathBuf,
    },
    /// Look beside the file: `FILE.sigstore.json`, `FILE.sigstore`, else
    /// `FILE.sig` + `FILE.crt`, else `FILE.publish.attestation`.
    Beside,
    /// A PEP 740 attestation (pypi-attestations' JSON) for the file.
    Attestation { attestation: PathBuf },
}

/// One file to verify.
#[derive(Debug, Clone)]
pub struct Job {
    pub file: PathBuf,
    pub evidence: EvidenceSource,
}

/// What a successful verification established.
#[derive(Debug, Clone)]
pub struct Verified {
    pub sha256: String,
    pub identity: String,
    pub issuer: String,
    pub evidence: EvidenceKind,
    /// Rekor log index of the entry that proved inclusion.
    pub log_index: Option<u64>,
    /// The log that entry is in (its `baseUrl` in the trusted root).
    pub log: Option<String>,
    /// The git ref whose pipeline signed (Fulcio's source repository ref,
    /// .1.14), when the certificate has one.
    pub git_ref: Option<String>,
    /// Which trust root decided, e.g. "embedded public-good production root".
    pub trust_root: String,
    /// The earliest authenticated signing time (SET integrated time or TSA).
    pub signed_at: Option<jiff::Timestamp>,
    /// For an attestation: the in-toto predicate type it was accepted as.
    pub predicate_type: Option<String>,
    /// Whether chain and SCT were checked for this file or reused from an
    /// earlier file with the same certificate in this call.
    pub chain_check: ChainCheck,
}

/// Why a file did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    // The answer is "no" (exit 1).
    #[error(transparent)]
    Policy(#[from] PolicyViolation),
    #[error(transparent)]
    Attestation(#[from] AttestationViolation),
    #[error("expected sha256 {expected} (from the bundle), file has {found}")]
    DigestMismatch { expected: String, found: String },
    #[error("the transparency log entry is for another file: expected sha256 {expected} (from the log entry), file has {found}")]
    LoggedDigestMismatch { expected: String, found: String },
    #[error("the transparency log evidence is not acceptable")]
    Evidence {
        #[source]
        source: EvidenceError,
        hint: Option<String>,
    },
    #[error("{what}")]
    Sigstore {
        what: &'static str,
        #[source]
        source: sigstore_verify::Error,
        hint: Option<String>,
    },
    #[error("signature not found in transparency log {url}: no entry has this digest, signature and certificate")]
    NotInLog { url: String },
    #[error("the certificate given beside the bundle does not match the one in it")]
    CertificateDiffers,
    #[error("the signature given beside the bundle does not match the one in it")]
    SignatureDiffers,
    #[error("expected an RFC 3161 signed timestamp, the bundle has none")]
    NoSignedTimestamp,
    #[error("signature does not verify with the key in {} (fingerprint sha256:{fingerprint})", path.display())]
    KeyMismatch {
        path: PathBuf,
        fingerprint: String,
        #[source]
        source: sigstore_verify::Error,
    },

    // The question could not be answered (exit 2).
    #[error("cannot read {what} {}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid {what}", path.display())]
    Malformed {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: InputError,
    },
    #[error("{} is not a valid PEP 740 attestation", path.display())]
    MalformedAttestation {
        path: PathBuf,
        #[source]
        source: Pep740Error,
    },
    #[error("no signature found for {}: looked for {}", file.display(), looked_for.join(", "))]
    NoEvidence {
        file: PathBuf,
        looked_for: Vec<String>,
    },
    #[error(
        "a detached signature and certificate cannot be verified offline: the log entry is needed"
    )]
    OfflineNeedsBundle,
    #[error("cannot look up the signature in the transparency log")]
    Lookup(#[source] RekorError),
    #[error("a digest has no file beside it to find the signature by: the evidence must be given")]
    DigestNeedsEvidence,
    #[error("an {algorithm} signature is checked over the file's own bytes or another hash: expected the file, found only its sha256 digest")]
    NeedsFile { algorithm: &'static str },
    #[error("{} is a keyless bundle (it carries a certificate), but a key was given", path.display())]
    KeyBundleHasCertificate { path: PathBuf },
    #[error("a bare signature has no transparency log entry: it must be looked up in Rekor, which offline verification forbids")]
    KeySignatureNeedsLog,
    #[error("the trust material cannot be used")]
    Trust(#[source] sigstore_verify::Error),
}

impl VerifyError {
    /// True when the answer is "no" rather than "could not tell".
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            VerifyError::Policy(_)
                | VerifyError::Evidence { .. }
                | VerifyError::Attestation(_)
                | VerifyError::DigestMismatch { .. }
                | VerifyError::LoggedDigestMismatch { .. }
                | VerifyError::Sigstore { .. }
                | VerifyError::NotInLog { .. }
                | VerifyError::CertificateDiffers
                | VerifyError::SignatureDiffers
                | VerifyError::KeyMismatch { .. }
                | VerifyError::NoSignedTimestamp
        )
    }

    /// True when the evidence names a log, CT log or CA that the trust root in
    /// use may not list yet: a newer trust root (a TUF refresh) may verify it.
    pub fn is_unknown_trust(&self) -> bool {
        use sigstore_verify::{CertificateError as C, Error as E, TransparencyLogError as T};
        match self {
            VerifyError::Sigstore { what, source, .. } => {
                what.contains("the trusted root does not list")
                    || matches!(
                        source,
                        E::TransparencyLog(T::UnknownLog { .. })
                            | E::Certificate(C::ChainInvalid(_))
                            | E::Certificate(C::NoValidAuthority { .. })
                            | E::Certificate(C::Sct(_))
                    )
            }
            // A log the root does not list is caught before the cryptography.
            VerifyError::Evidence {
                source: EvidenceError::UnknownLog { .. },
                ..
            } => true,
            _ => false,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            VerifyError::Policy(violation) => violation.hint(),
            VerifyError::Attestation(violation) => violation.hint(),
            VerifyError::MalformedAttestation { source, .. } => {
                crate::diagnostics::Hint::hint(source)
            }
            VerifyError::Sigstore { hint, .. } => hint.clone(),
            VerifyError::Malformed { source, .. } => source.hint(),
            VerifyError::NoEvidence { .. } => {
                Some("name the bundle, or the signature and certificate, explicitly".into())
            }
            VerifyError::OfflineNeedsBundle => Some(
                "verify with the .sigstore.json bundle (sign-blob writes one beside each file), or online \
                 to look the entry up in Rekor"
                    .into(),
            ),
            VerifyError::Evidence { hint, .. } => hint.clone(),
            VerifyError::KeyMismatch { .. } => Some(
                "the file changed after signing, or it was signed with another key".into(),
            ),
            VerifyError::DigestNeedsEvidence => {
                Some("name the bundle (or, with a key, the signature)".into())
            }
            VerifyError::NeedsFile { .. } => Some("pass the file instead of its digest".into()),
            VerifyError::KeyBundleHasCertificate { .. } => Some(
                "verify it keyless, with the identity and issuer expected of its certificate".into(),
            ),
            VerifyError::KeySignatureNeedsLog => Some(
                "verify online, pass the bundle, or accept a signature in no log to check it with the \
                 key alone (as cosign)"
                    .into(),
            ),
            VerifyError::DigestMismatch { .. } => {
                Some("the file differs from the one that was signed; check that the right file and bundle are paired".into())
            }
            _ => None,
        }
    }
}

/// `f` over every job, `threads` at a time; results are in job order.
pub(crate) fn in_parallel<J: Sync, R: Send>(
    jobs: &[J],
    threads: usize,
    f: impl Fn(&J) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let result = f(job);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every job index below jobs.len() is taken by exactly one worker")
        })
        .collect()
}

/// The verifier for a batch of files: trust material and policy are prepared
/// once, then files are checked in parallel.
pub struct BlobVerifier {
    verifier: Verifier,
    trust: TrustMaterial,
    policy: IdentityPolicy,
    offline: bool,
    lookup: Option<(RekorLog, tokio::runtime::Handle)>,
    require_timestamp: bool,
    /// Predicate types a DSSE (in-toto) bundle may attest; `None` refuses them.
    predicate_types: Option<Vec<String>>,
    chain_cache: cache::ChainCache,
    /// The trusted logs' keys, for [`inclusion`].
    rekor_keys: sigstore_crypto::Keyring,
    /// Checkpoint signatures already verified in this call.
    signed_notes: inclusion::SignedNotes,
}

impl BlobVerifier {
    pub fn new(trust: TrustMaterial, policy: IdentityPolicy) -> Result<Self, TrustError> {
        let verifier = Verifier::new(&trust.root).map_err(|source| TrustError::Unusable {
            source_name: trust.source.to_string(),
            source: Box::new(source),
        })?;
        let chain_cache = cache::ChainCache::for_root(&trust.root);
        let rekor_keys = trust
            .root
            .rekor_keys()
            .map_err(|source| TrustError::Unusable {
                source_name: trust.source.to_string(),
                source: Box::new(source),
            })?;
        Ok(BlobVerifier {
            verifier,
            chain_cache,
            rekor_keys,
            signed_notes: inclusion::SignedNotes::new(),
            trust,
            policy,
            offline: false,
            lookup: None,
            require_timestamp: false,
            predicate_types: None,
        })
    }

    /// cosign's `--use-signed-timestamps`: require an RFC 3161 timestamp (every
    /// timestamp a bundle carries is verified either way).
    pub fn require_signed_timestamp(mut self) -> Self {
        self.require_timestamp = true;
        self
    }

    /// Accept DSSE (in-toto) bundles that attest `predicate_type` about the
    /// file (cosign's `verify-blob-attestation --type`).
    pub fn with_predicate_type(mut self, predicate_type: impl Into<String>) -> Self {
        self.predicate_types
            .get_or_insert_with(Vec::new)
            .push(predicate_type.into());
        self
    }

    /// Never touch the network: detached signatures then fail with a clear error.
    pub fn offline(mut self) -> Self {
        self.offline = true;
        self
    }

    /// Check every file's chain and SCT in full, even with a shared certificate.
    pub fn without_chain_cache(mut self) -> Self {
        self.chain_cache = cache::ChainCache::disabled();
        self
    }

    /// Verify every file's chain, SCT and checkpoint signature in full, as if
    /// it were the only file (what the reuse saves, for the benchmark).
    pub fn without_reuse(mut self) -> Self {
        self.chain_cache = cache::ChainCache::disabled();
        self.signed_notes = inclusion::SignedNotes::disabled();
        self
    }

    /// How many distinct checkpoint signatures this verifier has verified.
    pub fn checkpoint_signatures_verified(&self) -> Option<usize> {
        self.signed_notes
            .is_enabled()
            .then(|| self.signed_notes.len())
    }

    /// Whether chain results are reused across files (see [`cache`]).
    pub fn caches_chains(&self) -> bool {
        self.chain_cache.is_enabled()
    }

    /// Where to look up detached signatures; `handle` runs the requests.
    pub fn with_rekor_lookup(mut self, lookup: RekorLog, handle: tokio::runtime::Handle) -> Self {
        self.lookup = Some((lookup, handle));
        self
    }

    /// Verify every job, `threads` at a time; results are in job order.
    pub fn verify_all(&self, jobs: &[Job], threads: usize) -> Vec<Result<Verified, VerifyError>> {
        in_parallel(jobs, threads, |job| self.verify(job))
    }

    /// Verify one file.
    pub fn verify(&self, job: &Job) -> Result<Verified, VerifyError> {
        let evidence = load_evidence(job)?;
        // Hash once, streaming, in constant memory; the digest serves the
        // signature check, the log lookup and the messages.
        let digest = hash_file(&job.file)?;
        let name = job.file.file_name().and_then(|n| n.to_str());
        self.verify_evidence_named(evidence, *digest.as_bytes(), name)
    }

    /// Like [`Self::verify_evidence`], for a file whose name an attestation's
    /// subject must carry.
    pub fn verify_evidence_named(
        &self,
        evidence: Evidence,
        sha256: [u8; 32],
        name: Option<&str>,
    ) -> Result<Verified, VerifyError> {
        if let Evidence::Bundle { bundle, kind } = &evidence {
            let digest = Sha256Hash::from(sha256);
            return self.verify_bundle_named(bundle, *kind, &digest, name);
        }
        self.verify_evidence(evidence, sha256)
    }

    /// Verify already-parsed evidence for a file whose sha256 is known.
    pub fn verify_evidence(
        &self,
        evidence: Evidence,
        sha256: [u8; 32],
    ) -> Result<Verified, VerifyError> {
        let digest = Sha256Hash::from(sha256);
        let (bundle, kind) = match evidence {
            Evidence::Bundle { bundle, kind } => (*bundle, kind),
            Evidence::Detached(detached) => (
                self.find_log_entry(&detached, &digest)?,
                EvidenceKind::DetachedWithLogEntry,
            ),
        };
        self.verify_bundle(&bundle, kind, &digest)
    }

    fn find_log_entry(
        &self,
        detached: &Detached,
        digest: &Sha256Hash,
    ) -> Result<Bundle, VerifyError> {
        if self.offline {
            return Err(VerifyError::OfflineNeedsBundle);
        }
        let Some((lookup, handle)) = &self.lookup else {
            return Err(VerifyError::OfflineNeedsBundle);
        };
        let entries = handle
            .block_on(lookup.find(detached, digest.as_bytes()))
            .map_err(VerifyError::Lookup)?;
        // cosign uses the earliest entry that verifies; so do we.
        let mut last_error = None;
        for entry in &entries {
            let bundle = input::bundle_v03(detached, digest.as_bytes(), entry.clone(), None);
            match self.verify_bundle(&bundle, EvidenceKind::DetachedWithLogEntry, digest) {
                Ok(_) => return Ok(bundle),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or(VerifyError::NotInLog { url: lookup.url() }))
    }

    fn verify_bundle(
        &self,
        bundle: &Bundle,
        kind: EvidenceKind,
        digest: &Sha256Hash,
    ) -> Result<Verified, VerifyError> {
        self.verify_bundle_named(bundle, kind, digest, None)
    }

    fn verify_bundle_named(
        &self,
        bundle: &Bundle,
        kind: EvidenceKind,
        digest: &Sha256Hash,
        name: Option<&str>,
    ) -> Result<Verified, VerifyError> {
        // An attestation is checked for what it states before its signature:
        // either failing rejects, and the statement is only read, not trusted.
        let predicate_type = self.check_statement(bundle, kind, digest, name)?;
        // Evidence sigstore-verify would let pass unverified is refused first.
        evidence::check_structure(bundle, &self.trust.root).map_err(|e| self.refuse(e))?;
        if self.require_timestamp && !has_signed_timestamp(bundle) {
            return Err(VerifyError::NoSignedTimestamp);
        }
        // Identity is checked below by `IdentityPolicy`, which also does
        // regexps and extensions; every cryptographic check stays on.
        // (`cache` runs `VerificationPolicy::any_identity()`, or reuses its
        // chain result for a certificate already checked in this call.)
        // Inclusion proof and checkpoint first, as sigstore-verify orders its
        // log step before the signature; the SET is its signing-time step.
        inclusion::verify_entries(bundle, &self.rekor_keys, &self.signed_notes)
            .map_err(|e| self.explain(e, bundle, digest))?;
        let (result, chain_check) = self
            .chain_cache
            .verify(&self.verifier, *digest, bundle)
            .map_err(|e| self.explain(e, bundle, digest))?;
        if !chain_check.established(&result) {
            // Cannot happen with the policy above; fail closed if it ever does.
            return Err(VerifyError::Sigstore {
                what: "verification skipped a check",
                source: sigstore_verify::Error::InvalidBundle(
                    "certificate, SCT or log check did not run".into(),
                ),
                hint: None,
            });
        }
        evidence::check_log_key_window(bundle, &self.trust.root, result.verified_timestamps())
            .map_err(|e| self.refuse(e))?;
        let identity = result.identity().map(|san| san.as_str().to_string());
        let certificate = result.certificate().ok_or_else(|| VerifyError::Sigstore {
            what: "no certificate in the verification result",
            source: sigstore_verify::Error::InvalidBundle("missing certificate".into()),
            hint: None,
        })?;
        self.policy
            .check(identity.as_deref(), result.issuer(), &certificate.ci_claims)?;
        if let (EvidenceKind::Pep740Attestation, Some(signer)) = (kind, &self.policy.gitlab) {
            pep740::check_gitlab_publisher(signer, &certificate.ci_claims)?;
        }
        // check_structure admitted exactly one entry: it is the proof.
        let entry = bundle.verification_material.tlog_entries.first();
        Ok(Verified {
            sha256: digest.to_hex(),
            identity: identity.unwrap_or_default(),
            issuer: result.issuer().unwrap_or_default().to_string(),
            evidence: kind,
            log_index: entry.map(|e| e.log_index.get()),
            log: entry
                .and_then(|e| evidence::log_of(&self.trust.root, e))
                .map(|log| log.base_url.clone()),
            git_ref: certificate.ci_claims.source_repository_ref.clone(),
            trust_root: self.trust.describe(),
            signed_at: result.verified_timestamps().iter().min().copied(),
            predicate_type,
            chain_check,
        })
    }

    fn refuse(&self, source: EvidenceError) -> VerifyError {
        let hint = match source {
            EvidenceError::UnknownLog { .. } => Some(format!(
                "was it signed with another Sigstore instance? this check used {}; try --staging or --trusted-root",
                self.trust.source
            )),
            EvidenceError::EntryCount { .. } => Some(
                "a bundle carries the one log entry that proves its signature was logged; \
                 re-create it with gl-sign sign-blob or cosign sign-blob --bundle"
                    .into(),
            ),
            _ => None,
        };
        VerifyError::Evidence { source, hint }
    }

    /// A DSSE bundle is an attestation: refused unless one was asked for (or it
    /// is a PEP 740 attestation), then its statement must name the predicate
    /// type and one subject with this file's digest and name.
    fn check_statement(
        &self,
        bundle: &Bundle,
        kind: EvidenceKind,
        digest: &Sha256Hash,
        name: Option<&str>,
    ) -> Result<Option<String>, VerifyError> {
        let pep740 = kind == EvidenceKind::Pep740Attestation;
        let SignatureContent::DsseEnvelope(envelope) = &bundle.content else {
            return match &self.predicate_types {
                Some(types) => Err(AttestationViolation::NotAnAttestation {
                    expected: types.join(" or "),
                }
                .into()),
                None => Ok(None),
            };
        };
        let statement =
            attestation::parse_statement(&envelope.payload_type, envelope.payload.as_bytes())
                .map_err(AttestationViolation::Statement)?;
        let supported: Vec<String> = pep740::SUPPORTED_PREDICATE_TYPES
            .iter()
            .map(|t| t.to_string())
            .collect();
        if pep740 && !supported.contains(&statement.predicate_type) {
            return Err(AttestationViolation::PredicateType {
                expected: supported.join(" or "),
                found: statement.predicate_type,
            }
            .into());
        }
        let types = match (&self.predicate_types, pep740) {
            (Some(types), _) => Some(types.as_slice()),
            (None, true) => Some(supported.as_slice()),
            (None, false) => None,
        };
        attestation::check(
            &statement,
            &attestation::Expected {
                predicate_types: types,
                name,
                sha256: digest.as_bytes(),
            },
        )?;
        if pep740 {
            pep740::check_subject(&statement)?;
        }
        Ok(Some(statement.predicate_type))
    }

    fn lists_logs_of(&self, bundle: &Bundle) -> bool {
        bundle
            .verification_material
            .tlog_entries
            .iter()
            .all(|entry| {
                self.trust
                    .root
                    .tlogs
                    .iter()
                    .any(|log| log.log_id.key_id.as_bytes() == entry.log_id.key_id.as_bytes())
            })
    }

    /// Turn a sigstore-verify error into one that says what was expected and
    /// found, with a hint when the fix is likely.
    fn explain(
        &self,
        error: sigstore_verify::Error,
        bundle: &Bundle,
        digest: &Sha256Hash,
    ) -> VerifyError {
        use sigstore_verify::{CertificateError as C, Error as E, TransparencyLogError as T};
        let wrong_instance = Some(format!(
            "was it signed with another Sigstore instance? this check used {}; try --staging or --trusted-root",
            self.trust.source
        ));
        // A log the root does not list explains most log failures: name it.
        if matches!(error, E::TransparencyLog(_)) && !self.lists_logs_of(bundle) {
            return VerifyError::Sigstore {
                what: "the log entry is from a transparency log the trusted root does not list",
                source: error,
                hint: wrong_instance,
            };
        }
        let (what, hint) = match &error {
            E::ArtifactMismatch(_) => {
                if let SignatureContent::MessageSignature(sig) = &bundle.content {
                    if let Some(expected) = &sig.message_digest {
                        if expected.digest.as_bytes() != digest.as_bytes() {
                            return VerifyError::DigestMismatch {
                                expected: hex::encode(expected.digest.as_bytes()),
                                found: digest.to_hex(),
                            };
                        }
                    }
                }
                if let Some(logged) =
                    logged_digest(bundle).filter(|logged| *logged != digest.to_hex())
                {
                    return VerifyError::LoggedDigestMismatch {
                        expected: logged,
                        found: digest.to_hex(),
                    };
                }
                ("the signed data named in the bundle is not this file", None)
            }
            E::SignatureInvalid(_) => (
                "the signature does not verify over the file with the certificate's key",
                None,
            ),
            E::Certificate(C::ChainInvalid(_)) | E::Certificate(C::NoValidAuthority { .. }) => (
                "the certificate does not chain to a trusted Fulcio CA",
                wrong_instance,
            ),
            E::Certificate(C::Sct(_)) => (
                "the certificate's SCT does not verify against a trusted CT log",
                wrong_instance,
            ),
            E::Certificate(C::Expired { .. }) | E::Certificate(C::NotYetValid { .. }) => (
                "the signing time is outside the certificate's validity",
                None,
            ),
            E::Certificate(_) => ("the certificate is invalid", None),
            E::TransparencyLog(T::UnknownLog { .. }) => (
                "the log entry is from a log the trusted root does not list",
                wrong_instance,
            ),
            E::TransparencyLog(T::EntryMismatch(_)) => (
                "the transparency log entry is for another signature, certificate or file",
                None,
            ),
            E::TransparencyLog(T::InclusionPromise(_)) => {
                ("the signed entry timestamp (SET) does not verify", None)
            }
            E::TransparencyLog(T::InclusionProof(_)) => {
                ("the inclusion proof does not verify", None)
            }
            E::TransparencyLog(T::Checkpoint(_)) => ("the log checkpoint does not verify", None),
            E::TransparencyLog(T::IntegratedTime(_)) => {
                ("the log's integrated time is not acceptable", None)
            }
            E::TransparencyLog(_) => ("the transparency log evidence is invalid", None),
            E::Timestamp(_) => ("no trusted signing time", None),
            E::InvalidBundle(_) | E::Bundle(_) | E::UnsupportedBundle(_) => {
                ("the bundle is not acceptable", None)
            }
            E::InvalidTrustRoot(_) | E::TrustRoot(_) | E::TrustedCertificate(_) => {
                return VerifyError::Trust(error)
            }
            _ => ("verification failed", None),
        };
        VerifyError::Sigstore {
            what,
            source: error,
            hint,
        }
    }
}

fn has_signed_timestamp(bundle: &Bundle) -> bool {
    !bundle
        .verification_material
        .timestamp_verification_data
        .rfc3161_timestamps
        .is_empty()
}

/// The artifact digest a hashedrekord log entry records, as hex.
fn logged_digest(bundle: &Bundle) -> Option<String> {
    let entry = bundle.verification_material.tlog_entries.first()?;
    let body: serde_json::Value =
        serde_json::from_slice(entry.canonicalized_body.as_bytes()).ok()?;
    let hash = body.pointer("/spec/data/hash/value")?.as_str()?;
    Some(hash.to_ascii_lowercase())
}

fn hash_file(path: &Path) -> Result<Sha256Hash, VerifyError> {
    let read_error = |source| VerifyError::Read {
        what: "file",
        path: path.to_path_buf(),
        source,
    };
    crate::files::sha256_file(path)
        .map(Sha256Hash::from)
        .map_err(read_error)
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, VerifyError> {
    std::fs::read(path).map_err(|source| VerifyError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn malformed<'p>(
    what: &'static str,
    path: &'p Path,
) -> impl FnOnce(InputError) -> VerifyError + 'p {
    move |source| VerifyError::Malformed {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Read and parse the evidence for one job.
pub fn load_evidence(job: &Job) -> Result<Evidence, VerifyError> {
    match &job.evidence {
        EvidenceSource::Bundle {
            bundle,
            signature,
            certificate,
        } => {
            let evidence = input::parse_bundle(&read("bundle", bundle)?)
                .map_err(malformed("bundle", bundle))?;
            if signature.is_none() && certificate.is_none() {
                return Ok(evidence);
            }
            let (bundle_signature, bundle_certificate) = match &evidence {
                Evidence::Detached(d) => (d.signature.clone(), d.certificate.clone()),
                Evidence::Bundle { bundle: b, kind: EvidenceKind::CosignBundle } => cosign_parts(b),
                Evidence::Bundle { .. } => {
                    return Err(VerifyError::Malformed {
                        what: "bundle to combine with --signature/--certificate",
                        path: bundle.clone(),
                        source: InputError::InvalidBundle(
                            "a Sigstore bundle carries its own signature and certificate; drop --signature and --certificate".into(),
                        ),
                    })
                }
            };
            if let Some(path) = certificate {
                let given = input::parse_certificate(&read("certificate", path)?)
                    .map_err(malformed("certificate", path))?;
                if given != bundle_certificate {
                    return Err(VerifyError::CertificateDiffers);
                }
            }
            if let Some(path) = signature {
                let given = input::parse_signature(&read("signature", path)?)
                    .map_err(malformed("signature", path))?;
                if given != bundle_signature {
                    return Err(VerifyError::SignatureDiffers);
                }
            }
            Ok(evidence)
        }
        EvidenceSource::Attestation { attestation } => {
            let malformed = |source| VerifyError::MalformedAttestation {
                path: attestation.clone(),
                source,
            };
            let bytes = read("attestation", attestation)?;
            let bundle = pep740::parse(&bytes)
                .and_then(|a| a.to_bundle())
                .map_err(malformed)?;
            Ok(Evidence::Bundle {
                bundle: Box::new(bundle),
                kind: EvidenceKind::Pep740Attestation,
            })
        }
        EvidenceSource::Detached {
            signature,
            certificate,
        } => Ok(Evidence::Detached(Detached {
            signature: input::parse_signature(&read("signature", signature)?)
                .map_err(malformed("signature", signature))?,
            certificate: input::parse_certificate(&read("certificate", certificate)?)
                .map_err(malformed("certificate", certificate))?,
        })),
        EvidenceSource::Beside => {
            let beside = |suffix: &str| {
                let mut name = job.file.clone().into_os_string();
                name.push(suffix);
                PathBuf::from(name)
            };
            for suffix in [".sigstore.json", ".sigstore"] {
                let path = beside(suffix);
                if path.exists() {
                    let source = EvidenceSource::Bundle {
                        bundle: path,
                        signature: None,
                        certificate: None,
                    };
                    return load_evidence(&Job {
                        file: job.file.clone(),
                        evidence: source,
                    });
                }
            }
            let (signature, certificate) = (beside(".sig"), beside(".crt"));
            if signature.exists() && certificate.exists() {
                let source = EvidenceSource::Detached {
                    signature,
                    certificate,
                };
                return load_evidence(&Job {
                    file: job.file.clone(),
                    evidence: source,
                });
            }
            let attestation = beside(".publish.attestation");
            if attestation.exists() {
                return load_evidence(&Job {
                    file: job.file.clone(),
                    evidence: EvidenceSource::Attestation { attestation },
                });
            }
            Err(VerifyError::NoEvidence {
                file: job.file.clone(),
                looked_for: [
                    ".sigstore.json",
                    ".sigstore",
                    ".sig + .crt",
                    ".publish.attestation",
                ]
                .iter()
                .map(|s| format!("{}{s}", job.file.display()))
                .collect(),
            })
        }
    }
}

/// Signature and certificate of a bundle made from a cosign bundle.
fn cosign_parts(bundle: &Bundle) -> (Vec<u8>, Vec<u8>) {
    let signature = match &bundle.content {
        SignatureContent::MessageSignature(sig) => sig.signature.as_bytes().to_vec(),
        _ => Vec::new(),
    };
    let certificate = bundle
        .signing_certificate()
        .map(|c| c.as_bytes().to_vec())
        .unwrap_or_default();
    (signature, certificate)
}

/// The claims of a signing certificate, read without verifying it: for showing
/// who a certificate names and for checking a policy against it.
#[derive(Debug, Clone)]
pub struct CertificateClaims {
    pub identity: Option<String>,
    pub issuer: Option<String>,
    claims: sigstore_crypto::FulcioCiClaims,
}

impl CertificateClaims {
    /// Check `policy` against these claims. This says nothing about whether
    /// the certificate is genuine; `BlobVerifier` establishes that.
    pub fn check(&self, policy: &IdentityPolicy) -> Result<(), PolicyViolation> {
        policy.check(
            self.identity.as_deref(),
            self.issuer.as_deref(),
            &self.claims,
        )
    }
}

/// Read a certificate in any form `--certificate` accepts (PEM or base64 of PEM).
pub fn inspect_certificate(bytes: &[u8]) -> Result<CertificateClaims, InputError> {
    let der = input::parse_certificate(bytes)?;
    let info = sigstore_crypto::parse_certificate_info(&sigstore_types::DerCertificate::from(der))
        .map_err(|e| InputError::BadCertificate(e.to_string()))?;
    Ok(CertificateClaims {
        identity: info.identity.map(|san| san.as_str().to_string()),
        issuer: info.issuer,
        claims: info.ci_claims,
    })
}

crate::register_hint!(inherent VerifyError);
