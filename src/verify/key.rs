//! Managed-key verification, as `cosign verify-blob --key`: a PEM public key
//! instead of a Fulcio certificate, for Sigstore bundles whose verification
//! material is a public-key hint and for cosign `.sig` files.
//!
//! There is no identity to check: the key is the identity. Everything else
//! stays fail-closed: a bundle's log entries are verified in full, and a bare
//! `.sig` must be found in Rekor unless the caller explicitly opts out
//! (`--insecure-ignore-tlog`, cosign's flag), which the verdict then says.

use std::fs::File;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sigstore_crypto::{KeyAlgorithm, VerificationKey};
use sigstore_types::bundle::{MessageSignature, VerificationMaterialContent};
use sigstore_types::{
    Bundle, DerPublicKey, MediaType, PublicKeyIdentifier, Sha256Hash, SignatureBytes,
    SignatureContent, TransparencyLogEntry, VerificationMaterial,
};
use sigstore_verify::{PublicKeyVerificationPolicy, Verifier};

use super::digest::Sha256Digest;
use super::in_parallel;
use super::input::{self, Evidence, EvidenceKind, InputError};
use super::{hash_file, logged_digest, read, RekorLog, Verified, VerifyError};
use crate::trust::{TrustError, TrustMaterial};

/// Why a `--key` file cannot be used. The key file's content is never shown:
/// it may be a private key given by mistake.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} holds a private key ({label}); a public key is needed", path.display())]
    PrivateKey { path: PathBuf, label: String },
    #[error("{} is not a PEM public key: expected a \"PUBLIC KEY\" block, found {found}", path.display())]
    NotPublicKey { path: PathBuf, found: String },
    #[error(
        "{} holds an unsupported public key: expected ECDSA P-256/P-384, Ed25519 or RSA (2048-8192 bits), found {found}",
        path.display()
    )]
    Unsupported { path: PathBuf, found: String },
}

crate::register_hint!(KeyError);

impl crate::diagnostics::Hint for KeyError {
    fn hint(&self) -> Option<String> {
        match self {
            KeyError::PrivateKey { .. } => Some(
                "never pass or publish the private key; export the public half with \
                 `cosign public-key --key cosign.key` or `openssl pkey -in KEY -pubout`"
                    .into(),
            ),
            KeyError::NotPublicKey { found, .. } if found.contains("CERTIFICATE") => Some(
                "a certificate is verified keyless, with the identity and issuer expected of it"
                    .into(),
            ),
            KeyError::NotPublicKey { found, .. } if found.contains("RSA PUBLIC KEY") => Some(
                "convert the PKCS#1 key with `openssl rsa -RSAPublicKey_in -in KEY -pubout`".into(),
            ),
            KeyError::NotPublicKey { .. } => Some(
                "cosign writes the public key as cosign.pub (`-----BEGIN PUBLIC KEY-----`)".into(),
            ),
            _ => None,
        }
    }
}

/// A checked public key from a `--key` file.
#[derive(Debug, Clone)]
pub struct PublicKey {
    path: PathBuf,
    der: DerPublicKey,
    algorithm: KeyAlgorithm,
    fingerprint: String,
}

impl PublicKey {
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_pem(path, &bytes)
    }

    /// Parse PEM text; `path` names the key in messages.
    pub fn from_pem(path: &Path, bytes: &[u8]) -> Result<Self, KeyError> {
        let path = path.to_path_buf();
        let not_public = |found: String| KeyError::NotPublicKey {
            path: path.clone(),
            found,
        };
        let blocks = match pem::parse_many(bytes) {
            Ok(blocks) => blocks,
            Err(_) => return Err(not_public("malformed PEM".into())),
        };
        // A private key anywhere in the file is refused, not skipped.
        if let Some(private) = blocks.iter().find(|b| b.tag().contains("PRIVATE KEY")) {
            return Err(KeyError::PrivateKey {
                path,
                label: private.tag().to_string(),
            });
        }
        let Some(first) = blocks.first() else {
            return Err(not_public(if bytes.first() == Some(&0x30) {
                "DER (binary) data".into()
            } else {
                "no PEM block".into()
            }));
        };
        if first.tag() != "PUBLIC KEY" {
            return Err(not_public(format!("a {:?} block", first.tag())));
        }
        let der = DerPublicKey::new(first.contents().to_vec());
        let unsupported = |found: String| KeyError::Unsupported {
            path: path.clone(),
            found,
        };
        let algorithm = KeyAlgorithm::from_spki(&der).map_err(|e| unsupported(e.to_string()))?;
        if !matches!(
            algorithm,
            KeyAlgorithm::EcdsaP256
                | KeyAlgorithm::EcdsaP384
                | KeyAlgorithm::Ed25519
                | KeyAlgorithm::Rsa
        ) {
            return Err(unsupported(format!("{algorithm:?}")));
        }
        // Point encoding and RSA modulus size are otherwise checked only when a
        // signature is verified, which would report a bad key as a bad signature.
        let raw = {
            use x509_parser::prelude::FromDer as _;
            x509_parser::x509::SubjectPublicKeyInfo::from_der(der.as_bytes())
                .map_err(|e| unsupported(e.to_string()))?
                .1
                .subject_public_key
                .data
                .to_vec()
        };
        sigstore_crypto::validate_raw_public_key(algorithm.default_signing_scheme(), &raw)
            .map_err(|e| unsupported(e.to_string()))?;
        VerificationKey::from_spki(&der).map_err(|e| unsupported(e.to_string()))?;
        let fingerprint = sigstore_crypto::sha256(der.as_bytes()).to_hex();
        Ok(PublicKey {
            path,
            der,
            algorithm,
            fingerprint,
        })
    }

    /// Hex sha256 of the DER SubjectPublicKeyInfo.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// ECDSA P-256, Ed25519, …
    pub fn algorithm_name(&self) -> &'static str {
        match self.algorithm {
            KeyAlgorithm::EcdsaP256 => "ECDSA P-256",
            KeyAlgorithm::EcdsaP384 => "ECDSA P-384",
            KeyAlgorithm::Ed25519 => "Ed25519",
            KeyAlgorithm::Rsa => "RSA",
            _ => "other",
        }
    }

    fn pem(&self) -> String {
        pem::encode_config(
            &pem::Pem::new("PUBLIC KEY", self.der.as_bytes().to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }

    /// Ed25519 signs the message itself, so only the whole file can verify it.
    fn needs_whole_file(&self) -> bool {
        self.algorithm == KeyAlgorithm::Ed25519
    }
}

/// What is verified: a file, or only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    File(PathBuf),
    Digest(Sha256Digest),
}

impl Subject {
    /// How verdicts name it.
    pub fn label(&self) -> String {
        match self {
            Subject::File(path) => path.display().to_string(),
            Subject::Digest(digest) => digest.to_string(),
        }
    }
}

/// Where a managed-key signature comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEvidence {
    /// A Sigstore bundle with a public-key hint.
    Bundle(PathBuf),
    /// A cosign `.sig` (base64 of the signature, or raw bytes).
    Signature(PathBuf),
    /// `FILE.sigstore.json`, `FILE.sigstore`, else `FILE.sig`.
    Beside,
}

#[derive(Debug, Clone)]
pub struct KeyJob {
    pub subject: Subject,
    pub evidence: KeyEvidence,
}

enum Loaded {
    Bundle(Box<Bundle>),
    Signature(Vec<u8>),
}

/// Verifies files against one public key.
pub struct KeyVerifier {
    verifier: Verifier,
    /// For gl-sign's own evidence checks (verify::evidence) and the verdict.
    trust: TrustMaterial,
    key: PublicKey,
    offline: bool,
    ignore_tlog: bool,
    require_timestamp: bool,
    lookup: Option<(RekorLog, tokio::runtime::Handle)>,
}

impl KeyVerifier {
    pub fn new(trust: &TrustMaterial, key: PublicKey) -> Result<Self, TrustError> {
        let verifier = Verifier::new(&trust.root).map_err(|source| TrustError::Unusable {
            source_name: trust.source.to_string(),
            source: Box::new(source),
        })?;
        Ok(KeyVerifier {
            verifier,
            trust: trust.clone(),
            key,
            offline: false,
            ignore_tlog: false,
            require_timestamp: false,
            lookup: None,
        })
    }

    /// cosign's `--use-signed-timestamps`: require an RFC 3161 timestamp.
    pub fn require_signed_timestamp(mut self) -> Self {
        self.require_timestamp = true;
        self
    }

    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// Never use the network: a bare `.sig` then needs `ignore_tlog`.
    pub fn offline(mut self) -> Self {
        self.offline = true;
        self
    }

    /// Where to look up bare `.sig` files; `handle` runs the requests.
    pub fn with_rekor_lookup(mut self, lookup: RekorLog, handle: tokio::runtime::Handle) -> Self {
        self.lookup = Some((lookup, handle));
        self
    }

    /// cosign's `--insecure-ignore-tlog`: accept a signature that has no log
    /// entry. Log entries a bundle does carry are still verified.
    pub fn ignore_tlog(mut self) -> Self {
        self.ignore_tlog = true;
        self
    }

    /// Verify every job, `threads` at a time; results are in job order.
    pub fn verify_all(
        &self,
        jobs: &[KeyJob],
        threads: usize,
    ) -> Vec<Result<Verified, VerifyError>> {
        in_parallel(jobs, threads, |job| self.verify(job))
    }

    pub fn verify(&self, job: &KeyJob) -> Result<Verified, VerifyError> {
        let loaded = self.load(job)?;
        let sha256 = match &job.subject {
            Subject::File(path) => *hash_file(path)?.as_bytes(),
            Subject::Digest(digest) => digest.0,
        };
        match loaded {
            Loaded::Bundle(bundle) => {
                self.verify_bundle(&bundle, &job.subject, &sha256, EvidenceKind::KeyBundle)
            }
            Loaded::Signature(signature) if self.ignore_tlog => {
                self.verify_signature_only(&signature, &job.subject, &sha256)
            }
            Loaded::Signature(signature) => {
                self.verify_with_lookup(&signature, &job.subject, &sha256)
            }
        }
    }

    fn load(&self, job: &KeyJob) -> Result<Loaded, VerifyError> {
        match &job.evidence {
            KeyEvidence::Bundle(path) => self.load_bundle(path),
            KeyEvidence::Signature(path) => Ok(Loaded::Signature(
                input::parse_signature(&read("signature", path)?).map_err(|source| {
                    VerifyError::Malformed {
                        what: "signature",
                        path: path.clone(),
                        source,
                    }
                })?,
            )),
            KeyEvidence::Beside => {
                let Subject::File(file) = &job.subject else {
                    return Err(VerifyError::DigestNeedsEvidence);
                };
                let beside = |suffix: &str| {
                    let mut name = file.clone().into_os_string();
                    name.push(suffix);
                    PathBuf::from(name)
                };
                for suffix in [".sigstore.json", ".sigstore"] {
                    let path = beside(suffix);
                    if path.exists() {
                        return self.load_bundle(&path);
                    }
                }
                let signature = beside(".sig");
                if signature.exists() {
                    return self.load(&KeyJob {
                        subject: job.subject.clone(),
                        evidence: KeyEvidence::Signature(signature),
                    });
                }
                Err(VerifyError::NoEvidence {
                    file: file.clone(),
                    looked_for: [".sigstore.json", ".sigstore", ".sig"]
                        .iter()
                        .map(|s| format!("{}{s}", file.display()))
                        .collect(),
                })
            }
        }
    }

    fn load_bundle(&self, path: &Path) -> Result<Loaded, VerifyError> {
        let bytes = read("bundle", path)?;
        let evidence = match input::parse_bundle(&bytes) {
            Ok(evidence) => evidence,
            // cosign v2's `sign-blob --key --bundle` writes a legacy bundle without "cert".
            Err(InputError::NoCertificate) => {
                let hint = STANDARD.encode(hex::decode(&self.key.fingerprint).unwrap_or_default());
                return match input::parse_cosign_key_bundle(&bytes, &hint) {
                    Ok(input::CosignKeyBundle::Bundle(bundle)) => Ok(Loaded::Bundle(bundle)),
                    Ok(input::CosignKeyBundle::SignatureOnly(signature)) => {
                        Ok(Loaded::Signature(signature))
                    }
                    Err(source) => Err(VerifyError::Malformed {
                        what: "cosign bundle",
                        path: path.to_path_buf(),
                        source,
                    }),
                };
            }
            Err(source) => {
                return Err(VerifyError::Malformed {
                    what: "bundle",
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        match evidence {
            Evidence::Bundle { bundle, .. }
                if matches!(
                    bundle.verification_material.content,
                    VerificationMaterialContent::PublicKey(_)
                ) =>
            {
                Ok(Loaded::Bundle(bundle))
            }
            _ => Err(VerifyError::KeyBundleHasCertificate {
                path: path.to_path_buf(),
            }),
        }
    }

    fn verify_with_lookup(
        &self,
        signature: &[u8],
        subject: &Subject,
        sha256: &[u8; 32],
    ) -> Result<Verified, VerifyError> {
        let Some((lookup, handle)) = self.lookup.as_ref().filter(|_| !self.offline) else {
            return Err(VerifyError::KeySignatureNeedsLog);
        };
        let entries = handle
            .block_on(lookup.find_by_key(signature, &self.key.pem(), sha256))
            .map_err(VerifyError::Lookup)?;
        // The earliest entry that verifies, as on the keyless path.
        let mut last_error = None;
        for entry in entries {
            let bundle = self.key_bundle(signature, entry);
            match self.verify_bundle(
                &bundle,
                subject,
                sha256,
                EvidenceKind::KeySignatureWithLogEntry,
            ) {
                Ok(verified) => return Ok(verified),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or(VerifyError::NotInLog { url: lookup.url() }))
    }

    /// The bundle a bare `.sig` and its log entry amount to. No message digest:
    /// the key's own scheme decides the hash, as cosign does.
    fn key_bundle(&self, signature: &[u8], entry: TransparencyLogEntry) -> Bundle {
        let hint = STANDARD.encode(hex::decode(&self.key.fingerprint).unwrap_or_default());
        let material = VerificationMaterial::new(VerificationMaterialContent::PublicKey(
            PublicKeyIdentifier::new(hint),
        ))
        .with_tlog_entries(vec![entry]);
        Bundle::new(
            MediaType::Bundle0_3,
            material,
            SignatureContent::MessageSignature(MessageSignature::new(SignatureBytes::new(
                signature.to_vec(),
            ))),
        )
    }

    fn verify_bundle(
        &self,
        bundle: &Bundle,
        subject: &Subject,
        sha256: &[u8; 32],
        kind: EvidenceKind,
    ) -> Result<Verified, VerifyError> {
        if self.require_timestamp && !super::has_signed_timestamp(bundle) {
            return Err(VerifyError::NoSignedTimestamp);
        }
        // sigstore-verify checks the proof or SET an entry has; an entry with
        // neither would prove nothing, so it is refused rather than skipped.
        if bundle
            .verification_material
            .tlog_entries
            .iter()
            .any(|e| e.inclusion_proof.is_none() && e.inclusion_promise.is_none())
        {
            return Err(VerifyError::Sigstore {
                what: "a transparency log entry carries neither an inclusion proof nor a signed entry timestamp",
                source: sigstore_verify::Error::InvalidBundle("unproven log entry".into()),
                hint: None,
            });
        }
        let mut policy = PublicKeyVerificationPolicy::new(self.key.der.clone());
        if self.ignore_tlog && bundle.verification_material.tlog_entries.is_empty() {
            policy = policy.skip_tlog_unsafe();
        } else {
            // The same all-or-nothing log evidence as keyless bundles.
            super::evidence::check_structure(bundle, &self.trust.root)
                .map_err(|source| VerifyError::Evidence { source, hint: None })?;
        }
        let result = match subject {
            Subject::Digest(_) => self
                .verifier
                .verify(Sha256Hash::from(*sha256), bundle, &policy),
            Subject::File(path) if self.key.needs_whole_file() => {
                let bytes = read("file", path)?;
                self.verifier.verify(bytes.as_slice(), bundle, &policy)
            }
            Subject::File(path) => {
                let file = File::open(path).map_err(|source| VerifyError::Read {
                    what: "file",
                    path: path.clone(),
                    source,
                })?;
                self.verifier.verify_reader(file, bundle, &policy)
            }
        }
        .map_err(|e| self.explain(e, bundle, sha256))?;
        if policy.verifies_tlog() && !result.tlog_verified() {
            return Err(VerifyError::Sigstore {
                what: "verification skipped the transparency log check",
                source: sigstore_verify::Error::InvalidBundle("log check did not run".into()),
                hint: None,
            });
        }
        if policy.verifies_tlog() {
            super::evidence::check_log_key_window(
                bundle,
                &self.trust.root,
                result.verified_timestamps(),
            )
            .map_err(|source| VerifyError::Evidence { source, hint: None })?;
        }
        let kind = if policy.verifies_tlog() {
            kind
        } else {
            EvidenceKind::KeySignatureWithoutLog
        };
        Ok(self.verified(
            sha256,
            kind,
            bundle,
            result.verified_timestamps().iter().min().copied(),
        ))
    }

    /// `--insecure-ignore-tlog` on a bare `.sig`: the signature alone.
    fn verify_signature_only(
        &self,
        signature: &[u8],
        subject: &Subject,
        sha256: &[u8; 32],
    ) -> Result<Verified, VerifyError> {
        let key = VerificationKey::from_spki(&self.key.der).map_err(|e| VerifyError::Sigstore {
            what: "the key cannot verify signatures",
            source: sigstore_verify::Error::Crypto(e),
            hint: None,
        })?;
        let signature = SignatureBytes::new(signature.to_vec());
        let scheme = key.scheme();
        if self.require_timestamp {
            return Err(VerifyError::NoSignedTimestamp);
        }
        let checked = match (scheme.hash_algorithm(), subject) {
            (None, Subject::File(path)) => key.verify(read("file", path)?, &signature),
            (Some(sigstore_types::HashAlgorithm::Sha2256), _) => {
                key.verify_prehashed(sha256, &signature)
            }
            (Some(algorithm), Subject::File(path)) => {
                let file = File::open(path).map_err(|source| VerifyError::Read {
                    what: "file",
                    path: path.clone(),
                    source,
                })?;
                let mut hashers =
                    [
                        sigstore_crypto::ArtifactHasher::new(algorithm).map_err(|e| {
                            VerifyError::Sigstore {
                                what: "unsupported digest",
                                source: sigstore_verify::Error::Crypto(e),
                                hint: None,
                            }
                        })?,
                    ];
                sigstore_crypto::hash_reader(file, &mut hashers).map_err(|source| {
                    VerifyError::Read {
                        what: "file",
                        path: path.clone(),
                        source,
                    }
                })?;
                let [hasher] = hashers;
                key.verify_prehashed(hasher.finalize().as_bytes(), &signature)
            }
            (_, Subject::Digest(_)) => {
                return Err(VerifyError::NeedsFile {
                    algorithm: self.key.algorithm_name(),
                })
            }
        };
        checked.map_err(|e| VerifyError::KeyMismatch {
            path: self.key.path.clone(),
            fingerprint: self.key.fingerprint.clone(),
            source: sigstore_verify::Error::SignatureInvalid(e.to_string()),
        })?;
        Ok(Verified {
            sha256: hex::encode(sha256),
            identity: format!("key sha256:{}", self.key.fingerprint),
            issuer: String::new(),
            evidence: EvidenceKind::KeySignatureWithoutLog,
            log_index: None,
            log: None,
            git_ref: None,
            trust_root: self.trust.describe(),
            predicate_type: None,
            chain_check: super::ChainCheck::NoCertificate,
            signed_at: None,
        })
    }

    fn verified(
        &self,
        sha256: &[u8; 32],
        kind: EvidenceKind,
        bundle: &Bundle,
        signed_at: Option<jiff::Timestamp>,
    ) -> Verified {
        Verified {
            sha256: hex::encode(sha256),
            identity: format!("key sha256:{}", self.key.fingerprint),
            issuer: String::new(),
            evidence: kind,
            log_index: bundle
                .verification_material
                .tlog_entries
                .first()
                .map(|e| e.log_index.get()),
            log: bundle
                .verification_material
                .tlog_entries
                .first()
                .and_then(|e| super::evidence::log_of(&self.trust.root, e))
                .map(|log| log.base_url.clone()),
            git_ref: None,
            trust_root: self.trust.describe(),
            predicate_type: None,
            chain_check: super::ChainCheck::NoCertificate,
            signed_at,
        }
    }

    fn explain(
        &self,
        error: sigstore_verify::Error,
        bundle: &Bundle,
        sha256: &[u8; 32],
    ) -> VerifyError {
        use sigstore_verify::{Error as E, TransparencyLogError as T};
        let found = hex::encode(sha256);
        let (what, hint) = match &error {
            E::SignatureInvalid(_) => {
                return VerifyError::KeyMismatch {
                    path: self.key.path.clone(),
                    fingerprint: self.key.fingerprint.clone(),
                    source: error,
                }
            }
            E::UnsupportedArtifact(_) => {
                return VerifyError::NeedsFile {
                    algorithm: self.key.algorithm_name(),
                }
            }
            // load_bundle already refuses certificate bundles; kept fail-closed.
            E::UnsupportedBundle(message) if message.contains("certificate") => (
                "the bundle carries a certificate (keyless), not a key signature",
                Some(
                    "drop --key and give --certificate-identity and --certificate-oidc-issuer"
                        .to_string(),
                ),
            ),
            E::ArtifactMismatch(_) => {
                if let SignatureContent::MessageSignature(sig) = &bundle.content {
                    if let Some(expected) = &sig.message_digest {
                        if expected.algorithm == sigstore_types::HashAlgorithm::Sha2256
                            && expected.digest.as_bytes() != sha256
                        {
                            return VerifyError::DigestMismatch {
                                expected: hex::encode(expected.digest.as_bytes()),
                                found,
                            };
                        }
                    }
                }
                if let Some(logged) = logged_digest(bundle).filter(|logged| *logged != found) {
                    return VerifyError::LoggedDigestMismatch {
                        expected: logged,
                        found,
                    };
                }
                ("the signed data named in the bundle is not this file", None)
            }
            E::TransparencyLog(T::EntryMismatch(_)) => (
                "the transparency log entry is for another signature, key or file",
                None,
            ),
            E::TransparencyLog(T::UnknownLog { .. }) => (
                "the log entry is from a log the trusted root does not list",
                Some(
                    "was it signed with another Sigstore instance? try --staging or --trusted-root"
                        .to_string(),
                ),
            ),
            E::TransparencyLog(_) => ("the transparency log evidence does not verify", None),
            E::Timestamp(_) => ("the signed timestamp does not verify", None),
            E::InvalidTrustRoot(_) | E::TrustRoot(_) | E::TrustedCertificate(_) => {
                return VerifyError::Trust(error)
            }
            E::InvalidBundle(_) | E::Bundle(_) | E::UnsupportedBundle(_) => {
                ("the bundle is not acceptable", None)
            }
            _ => ("verification with the key failed", None),
        };
        VerifyError::Sigstore {
            what,
            source: error,
            hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PublicKey, KeyError> {
        PublicKey::from_pem(Path::new("k.pem"), text.as_bytes())
    }

    #[test]
    fn refuses_what_is_not_a_public_key() {
        let secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n";
        let err = parse(secret).unwrap_err();
        assert!(matches!(err, KeyError::PrivateKey { .. }));
        // The key material never reaches the message.
        assert!(!err.to_string().contains("c2VjcmV0"));
        let cosign = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n";
        assert!(matches!(
            parse(cosign).unwrap_err(),
            KeyError::PrivateKey { .. }
        ));
        assert!(matches!(
            parse("hello").unwrap_err(),
            KeyError::NotPublicKey { .. }
        ));
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            parse(cert).unwrap_err(),
            KeyError::NotPublicKey { .. }
        ));
        let junk = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(matches!(
            parse(junk).unwrap_err(),
            KeyError::Unsupported { .. }
        ));
    }

    #[test]
    fn accepts_a_p256_key() {
        let pair = sigstore_crypto::KeyPair::generate_ecdsa_p256().unwrap();
        let key = parse(&pair.public_key_der().unwrap().to_pem()).unwrap();
        assert_eq!(key.algorithm_name(), "ECDSA P-256");
        assert_eq!(key.fingerprint().len(), 64);
    }
}
