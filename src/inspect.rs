//! `gl-sign inspect`: what a signature file claims, read without verifying it.
//!
//! Every form gl-sign reads or writes (Sigstore bundles v0.1–v0.3 with a
//! message signature or DSSE envelope, cosign's legacy bundle, `.sig`, `.crt`,
//! PEP 740 attestations and PyPI provenance objects) and OIDC tokens are told
//! apart by their content, never by the file name, and parsed into a
//! [`Inspection`]. Parsing is tolerant on purpose: a bundle that fails
//! verification is exactly what someone wants explained. Nothing here checks a
//! signature, a chain or a proof; the result says so, and carries the commands
//! that would.
//!
//! Only serde_json and x509-parser are used, not the sigstore crates, so this
//! module can read what they refuse (unknown versions, broken proofs).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

/// The Fulcio OID arc; extensions under it are named in [`FULCIO_EXTENSIONS`].
const FULCIO_ARC: &str = "1.3.6.1.4.1.57264.1.";

/// Fulcio's certificate extensions (fulcio `docs/oid-info.md`). `.1`–`.6` hold raw
/// UTF-8, `.8` onwards a DER UTF8String. The flag is verify-blob's option that pins it.
const FULCIO_EXTENSIONS: &[(u32, &str, Option<&str>)] = &[
    (1, "issuer (deprecated)", None),
    (2, "GitHub workflow trigger (deprecated)", None),
    (3, "GitHub workflow SHA (deprecated)", None),
    (4, "GitHub workflow name (deprecated)", None),
    (5, "GitHub workflow repository (deprecated)", None),
    (6, "GitHub workflow ref (deprecated)", None),
    (7, "OtherName SAN", None),
    (8, "issuer", Some("--certificate-oidc-issuer")),
    (
        9,
        "build signer URI",
        Some("--certificate-build-signer-uri"),
    ),
    (
        10,
        "build signer digest",
        Some("--certificate-build-signer-digest"),
    ),
    (
        11,
        "runner environment",
        Some("--certificate-runner-environment"),
    ),
    (
        12,
        "source repository URI",
        Some("--certificate-source-repository-uri"),
    ),
    (
        13,
        "source repository digest",
        Some("--certificate-source-repository-digest"),
    ),
    (
        14,
        "source repository ref",
        Some("--certificate-source-repository-ref"),
    ),
    (
        15,
        "source repository identifier",
        Some("--certificate-source-repository-identifier"),
    ),
    (
        16,
        "source repository owner URI",
        Some("--certificate-source-repository-owner-uri"),
    ),
    (
        17,
        "source repository owner identifier",
        Some("--certificate-source-repository-owner-identifier"),
    ),
    (
        18,
        "build config URI",
        Some("--certificate-build-config-uri"),
    ),
    (
        19,
        "build config digest",
        Some("--certificate-build-config-digest"),
    ),
    (20, "build trigger", Some("--certificate-build-trigger")),
    (
        21,
        "run invocation URI",
        Some("--certificate-run-invocation-uri"),
    ),
    (
        22,
        "source repository visibility at signing",
        Some("--certificate-source-repository-visibility-at-signing"),
    ),
    (
        23,
        "deployment environment",
        Some("--certificate-deployment-environment"),
    ),
    (24, "token subject", Some("--certificate-token-subject")),
];

/// The forms `inspect` recognises, for messages about input it does not.
pub const EXPECTED_FORMS: &str = "a Sigstore bundle (JSON with \"mediaType\"), a cosign bundle \
(JSON with \"base64Signature\"), a PEP 740 attestation (JSON with \"verification_material\" and \
\"envelope\"), a PyPI provenance object (JSON with \"attestation_bundles\"), a certificate (PEM, \
base64 of PEM, or DER), a cosign signature (base64 or DER ECDSA) or an OIDC token (JWT)";

/// Why a file could not be explained. Each says what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("the file is empty; expected {EXPECTED_FORMS}")]
    Empty,
    #[error("found {found}; expected {EXPECTED_FORMS}")]
    Unknown { found: String },
    #[error("found a Sigstore {what} (media type {media_type}), not a signature")]
    NotASignature { what: String, media_type: String },
    #[error("malformed {form}: {problem}")]
    Malformed { form: &'static str, problem: String },
}

crate::register_hint!(InspectError);

impl crate::diagnostics::Hint for InspectError {
    fn hint(&self) -> Option<String> {
        match self {
            InspectError::NotASignature { .. } => Some(
                "inspect reads signature material: a bundle, .sig/.crt, attestation or token (a trusted \
                 root goes to verify-blob --trusted-root)"
                    .into(),
            ),
            InspectError::Unknown { .. } | InspectError::Empty => Some(
                "inspect reads signature material, not the signed file: pass FILE.sigstore.json, \
                 FILE.sig, FILE.crt or FILE.publish.attestation"
                    .into(),
            ),
            InspectError::Malformed { .. } => None,
        }
    }
}

/// Which form a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    SigstoreBundle,
    CosignBundle,
    CosignSignature,
    Certificate,
    Pep740Attestation,
    PypiProvenance,
    OidcToken,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SigstoreBundle => "sigstore-bundle",
            Kind::CosignBundle => "cosign-bundle",
            Kind::CosignSignature => "cosign-signature",
            Kind::Certificate => "certificate",
            Kind::Pep740Attestation => "pep740-attestation",
            Kind::PypiProvenance => "pypi-provenance",
            Kind::OidcToken => "oidc-token",
        }
    }
}

/// Everything a file claims.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub kind: Kind,
    /// One line naming the form, e.g. "Sigstore bundle v0.3, message signature".
    pub form: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The signatures the file holds: one, or one per attestation of a provenance.
    pub signatures: Vec<SignatureInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenInfo>,
    /// Things worth knowing that are not fields (a CA certificate, a missing proof).
    pub notes: Vec<String>,
}

/// One signature and the material that comes with it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SignatureInfo {
    /// Where in the file it is, for files with several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// PyPI provenance: the Trusted Publisher the attestations are bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateInfo>,
    /// Further certificates (v0.1/v0.2 chains), by subject.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    /// A managed key's hint, when there is no certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    pub log_entries: Vec<LogEntry>,
    pub timestamps: Vec<SignedTimestamp>,
}

/// What was signed.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Content {
    /// A plain signature over a file's bytes (cosign sign-blob, gl-sign sign-blob).
    MessageSignature {
        #[serde(skip_serializing_if = "Option::is_none")]
        digest_algorithm: Option<String>,
        /// Hex digest of the signed file, when the bundle records it.
        #[serde(skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
        signature_bytes: usize,
    },
    /// A DSSE envelope, normally around an in-toto statement.
    Dsse {
        payload_type: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        statement: Option<Statement>,
        signatures: usize,
    },
}

/// An in-toto statement's subjects and predicate type.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subjects: Vec<Subject>,
    pub predicate_type: String,
    /// Whether the predicate is null or absent (PyPI's publish/v1 has none).
    pub predicate_present: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    pub name: String,
    /// Algorithm → hex digest.
    pub digest: std::collections::BTreeMap<String, String>,
}

/// A signing certificate's claims.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateInfo {
    /// The SAN a verifier matches: the first URI, else email, else other name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// OIDC issuer: extension .1.8, else the deprecated .1.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    pub subject: String,
    pub issued_by: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub validity_seconds: i64,
    pub key: String,
    pub is_ca: bool,
    pub subject_alternative_names: Vec<String>,
    pub extensions: Vec<ExtensionInfo>,
    pub embedded_scts: Vec<SctInfo>,
    /// Set when the identity is a GitLab CI one: its parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<GitLabIdentity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExtensionInfo {
    pub oid: String,
    pub name: String,
    pub value: String,
    /// The verify-blob option that pins this extension.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SctInfo {
    pub log_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    pub time: String,
}

/// A GitLab CI identity, `https://HOST/PROJECT//CONFIG@REF`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitLabIdentity {
    pub server_url: String,
    pub project_path: String,
    pub config_path: String,
    pub git_ref: String,
}

/// A transparency-log entry as the file records it.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub log_id: String,
    /// The log's URL and instance, when an embedded (or given) trusted root lists it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Absent (0) in Rekor v2 entries, which rely on a signed timestamp instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrated_time: Option<String>,
    pub inclusion_promise: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inclusion_proof: Option<InclusionProof>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InclusionProof {
    /// Tree-local index; differs from the global index on sharded logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_hash: Option<String>,
    pub hashes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

/// The signed note's body: origin, tree size, root hash.
#[derive(Debug, Clone, Serialize)]
pub struct Checkpoint {
    pub origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_hash: Option<String>,
}

/// An RFC 3161 timestamp.
#[derive(Debug, Clone, Serialize)]
pub struct SignedTimestamp {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub bytes: usize,
}

/// An OIDC token's claims. The token itself and its signature are never kept.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// Header fields other than the signature: alg, kid, typ.
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// iat/nbf/exp as RFC 3339.
    pub times: Vec<(String, String)>,
    /// The SAN Fulcio would put in a certificate for this token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<GitLabIdentity>,
}

/// Logs, CT logs and TSAs known by key ID, to name them in the output.
#[derive(Debug, Clone, Default)]
pub struct KnownLogs {
    /// (hex key ID, description, trust-root flag that selects it)
    tlogs: Vec<(String, String, RootChoice)>,
    ctlogs: Vec<(String, String)>,
}

/// Which trust root a verify command needs for a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootChoice {
    /// The embedded production root (no flag).
    PublicGood,
    /// `--staging`.
    Staging,
    /// `--trusted-root FILE`.
    File(String),
}

impl KnownLogs {
    /// The embedded public-good production and staging roots.
    pub fn embedded() -> Self {
        let mut known = KnownLogs::default();
        known.add_root(
            crate::trust::PRODUCTION_TRUSTED_ROOT_JSON,
            "public-good production",
            RootChoice::PublicGood,
        );
        known.add_root(
            crate::trust::STAGING_TRUSTED_ROOT_JSON,
            "public-good staging",
            RootChoice::Staging,
        );
        known
    }

    /// Add a `trusted_root.json` (from `--trusted-root`); its logs take precedence.
    pub fn add_root(&mut self, json: &str, instance: &str, choice: RootChoice) {
        let Ok(root) = serde_json::from_str::<Value>(json) else {
            return;
        };
        let key_id = |log: &Value| {
            log.pointer("/logId/keyId")
                .and_then(Value::as_str)
                .and_then(|id| STANDARD.decode(id).ok())
                .map(hex::encode)
        };
        let mut tlogs = Vec::new();
        for log in root["tlogs"].as_array().into_iter().flatten() {
            if let Some(id) = key_id(log) {
                let url = log["baseUrl"].as_str().unwrap_or("?");
                tlogs.push((id, format!("{url} ({instance})"), choice.clone()));
            }
        }
        let mut ctlogs = Vec::new();
        for log in root["ctlogs"].as_array().into_iter().flatten() {
            if let Some(id) = key_id(log) {
                let url = log["baseUrl"].as_str().unwrap_or("?");
                ctlogs.push((id, format!("{url} ({instance})")));
            }
        }
        // Given roots first: a private instance is named after its own root.
        tlogs.append(&mut self.tlogs);
        ctlogs.append(&mut self.ctlogs);
        self.tlogs = tlogs;
        self.ctlogs = ctlogs;
    }

    fn tlog(&self, hex_id: &str) -> Option<&(String, String, RootChoice)> {
        self.tlogs.iter().find(|(id, _, _)| id == hex_id)
    }

    fn ctlog(&self, hex_id: &str) -> Option<String> {
        self.ctlogs
            .iter()
            .find(|(id, _)| id == hex_id)
            .map(|(_, name)| name.clone())
    }

    /// The trust root a verifier needs for these entries, if every entry's log is known.
    pub fn root_for(&self, entries: &[LogEntry]) -> Option<RootChoice> {
        let mut choice = None;
        for entry in entries {
            let (_, _, c) = self.tlog(&entry.log_id)?;
            choice.get_or_insert_with(|| c.clone());
        }
        choice
    }
}

/// Explain `bytes`. Detection is by content only.
pub fn inspect(bytes: &[u8], known: &KnownLogs) -> Result<Inspection, InspectError> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim);
    if bytes.is_empty() || text == Some("") {
        return Err(InspectError::Empty);
    }
    if let Some(text) = text {
        if text.starts_with('{') || text.starts_with('[') {
            let value: Value = serde_json::from_str(text).map_err(|e| InspectError::Unknown {
                found: format!("text that starts like JSON but does not parse ({e})"),
            })?;
            return inspect_json(&value, known);
        }
        if let Some(token) = jwt(text) {
            return Ok(token);
        }
        if text.contains("-----BEGIN") {
            return inspect_pem(text.as_bytes(), known);
        }
        if let Ok(decoded) = decode_base64(text) {
            if decoded.starts_with(b"-----BEGIN") {
                let mut found = inspect_pem(&decoded, known)?;
                found.form = format!("{} (base64 of PEM, cosign's .crt)", found.form);
                return Ok(found);
            }
            if let Some(found) = inspect_der(&decoded, "base64 of DER", known) {
                return Ok(found);
            }
            return Err(InspectError::Unknown {
                found: format!(
                    "base64 of {} bytes that are neither a certificate nor an ECDSA signature",
                    decoded.len()
                ),
            });
        }
    }
    if let Some(found) = inspect_der(bytes, "DER", known) {
        return Ok(found);
    }
    Err(InspectError::Unknown {
        found: match text {
            Some(_) => "text in none of these forms".into(),
            None => format!("{} bytes of binary data", bytes.len()),
        },
    })
}

fn inspect_json(value: &Value, known: &KnownLogs) -> Result<Inspection, InspectError> {
    let Some(object) = value.as_object() else {
        return Err(InspectError::Unknown {
            found: "a JSON value that is not an object".into(),
        });
    };
    if let Some(media_type) = object.get("mediaType") {
        let media_type = media_type.as_str().unwrap_or_default();
        return sigstore_bundle(object, media_type, known);
    }
    if object.contains_key("base64Signature") {
        return cosign_bundle(object, known);
    }
    if object.contains_key("attestation_bundles") {
        return provenance(object, known);
    }
    if object.contains_key("verification_material") && object.contains_key("envelope") {
        let mut notes = Vec::new();
        let signature = attestation(object, known, &mut notes)?;
        return Ok(Inspection {
            kind: Kind::Pep740Attestation,
            form: format!(
                "PEP 740 attestation (version {})",
                object.get("version").map_or("?".into(), Value::to_string)
            ),
            media_type: None,
            signatures: vec![signature],
            token: None,
            notes,
        });
    }
    let keys: Vec<&str> = object.keys().map(String::as_str).take(5).collect();
    Err(InspectError::Unknown {
        found: format!("a JSON object with keys {keys:?}"),
    })
}

fn malformed(form: &'static str, problem: impl Into<String>) -> InspectError {
    InspectError::Malformed {
        form,
        problem: problem.into(),
    }
}

fn sigstore_bundle(
    object: &Map<String, Value>,
    media_type: &str,
    known: &KnownLogs,
) -> Result<Inspection, InspectError> {
    const FORM: &str = "Sigstore bundle";
    let version = bundle_version(media_type).ok_or_else(|| {
        if media_type.starts_with("application/vnd.dev.sigstore.bundle") {
            malformed(
                FORM,
                format!("unsupported media type {media_type:?}; expected a bundle v0.1 to v0.3"),
            )
        } else if media_type.starts_with("application/vnd.dev.sigstore.") {
            let what = media_type
                .trim_start_matches("application/vnd.dev.sigstore.")
                .split(['+', '.', ';'])
                .next()
                .unwrap_or("document");
            InspectError::NotASignature {
                what: match what {
                    "trustedroot" => "trusted root".into(),
                    "signingconfig" => "signing config".into(),
                    other => other.to_string(),
                },
                media_type: media_type.into(),
            }
        } else {
            malformed(
                FORM,
                format!("unknown media type {media_type:?}; expected application/vnd.dev.sigstore.bundle v0.1 to v0.3"),
            )
        }
    })?;
    let mut notes = Vec::new();
    let material = object
        .get("verificationMaterial")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed(FORM, "no verificationMaterial object"))?;
    let mut signature = SignatureInfo::default();
    let mut certificates: Vec<Vec<u8>> = Vec::new();
    if let Some(raw) = material
        .get("certificate")
        .and_then(|c| c.get("rawBytes"))
        .and_then(Value::as_str)
    {
        certificates.push(
            decode_base64(raw)
                .map_err(|_| malformed(FORM, "certificate.rawBytes is not base64"))?,
        );
    }
    if let Some(chain) = material
        .get("x509CertificateChain")
        .and_then(|c| c.get("certificates"))
        .and_then(Value::as_array)
    {
        for cert in chain {
            let raw = cert["rawBytes"].as_str().unwrap_or_default();
            certificates.push(decode_base64(raw).map_err(|_| {
                malformed(
                    FORM,
                    "x509CertificateChain.certificates[].rawBytes is not base64",
                )
            })?);
        }
    }
    if let Some(hint) = material
        .get("publicKey")
        .and_then(|k| k.get("hint"))
        .and_then(Value::as_str)
    {
        signature.public_key_hint = Some(hint.to_string());
    }
    if let Some((leaf, rest)) = certificates.split_first() {
        signature.certificate =
            Some(certificate(leaf, known).map_err(|problem| malformed(FORM, problem))?);
        for other in rest {
            signature
                .chain
                .push(certificate_subject(other).unwrap_or_else(|| "(unparsable)".into()));
        }
        if version == "0.3" && !rest.is_empty() {
            notes.push("a v0.3 bundle should carry only the leaf certificate".into());
        }
    }
    for entry in material
        .get("tlogEntries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        signature.log_entries.push(log_entry(entry, known));
    }
    for ts in material
        .get("timestampVerificationData")
        .and_then(|t| t.get("rfc3161Timestamps"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let der = ts["signedTimestamp"]
            .as_str()
            .and_then(|t| decode_base64(t).ok())
            .unwrap_or_default();
        signature.timestamps.push(SignedTimestamp {
            time: timestamp_time(&der),
            bytes: der.len(),
        });
    }
    let (content, what) = if let Some(message) = object.get("messageSignature") {
        let digest = message.get("messageDigest");
        let signature_bytes = message["signature"]
            .as_str()
            .and_then(|s| decode_base64(s).ok())
            .map_or(0, |s| s.len());
        (
            Content::MessageSignature {
                digest_algorithm: digest
                    .and_then(|d| d["algorithm"].as_str())
                    .map(str::to_string),
                digest: digest
                    .and_then(|d| d["digest"].as_str())
                    .and_then(|d| decode_base64(d).ok())
                    .map(hex::encode),
                signature_bytes,
            },
            "message signature",
        )
    } else if let Some(envelope) = object.get("dsseEnvelope") {
        let payload = envelope["payload"]
            .as_str()
            .and_then(|p| decode_base64(p).ok())
            .unwrap_or_default();
        (
            Content::Dsse {
                payload_type: envelope["payloadType"].as_str().unwrap_or("").to_string(),
                statement: statement(&payload),
                signatures: envelope["signatures"].as_array().map_or(0, Vec::len),
            },
            "DSSE envelope",
        )
    } else {
        return Err(malformed(FORM, "neither messageSignature nor dsseEnvelope"));
    };
    signature.content = Some(content);
    entry_notes(&signature, &mut notes);
    Ok(Inspection {
        kind: Kind::SigstoreBundle,
        form: format!("Sigstore bundle v{version}, {what}"),
        media_type: Some(media_type.to_string()),
        signatures: vec![signature],
        token: None,
        notes,
    })
}

/// "0.1", "0.2" or "0.3" from either media type spelling.
fn bundle_version(media_type: &str) -> Option<&'static str> {
    match media_type {
        "application/vnd.dev.sigstore.bundle+json;version=0.1" => Some("0.1"),
        "application/vnd.dev.sigstore.bundle+json;version=0.2" => Some("0.2"),
        "application/vnd.dev.sigstore.bundle+json;version=0.3"
        | "application/vnd.dev.sigstore.bundle.v0.3+json" => Some("0.3"),
        _ => None,
    }
}

fn entry_notes(signature: &SignatureInfo, notes: &mut Vec<String>) {
    if signature.log_entries.is_empty() {
        notes.push("no transparency-log entry: a verifier needs one (or must look it up)".into());
    }
    for entry in &signature.log_entries {
        if entry.inclusion_proof.is_none() {
            notes.push(format!(
                "log entry {} has no inclusion proof: only its signed entry timestamp (SET) can be checked",
                entry.log_index.map_or("?".into(), |i| i.to_string())
            ));
        }
        if entry.integrated_time.is_none() && signature.timestamps.is_empty() {
            notes.push(
                "no integrated time and no RFC 3161 timestamp: nothing dates the signature".into(),
            );
        }
    }
}

/// A Rekor `TransparencyLogEntry` (protobuf JSON, as in bundles and PEP 740).
fn log_entry(entry: &Value, known: &KnownLogs) -> LogEntry {
    let log_id = entry
        .pointer("/logId/keyId")
        .and_then(Value::as_str)
        .and_then(|id| decode_base64(id).ok())
        .map(hex::encode)
        .unwrap_or_default();
    let proof = entry.get("inclusionProof").filter(|p| p.is_object());
    LogEntry {
        log: known.tlog(&log_id).map(|(_, name, _)| name.clone()),
        log_id,
        log_index: number(&entry["logIndex"]),
        kind: entry.get("kindVersion").map(|kv| {
            format!(
                "{} {}",
                kv["kind"].as_str().unwrap_or("?"),
                kv["version"].as_str().unwrap_or("?")
            )
        }),
        integrated_time: number(&entry["integratedTime"])
            .filter(|t| *t > 0)
            .and_then(|t| rfc3339(t as i64)),
        inclusion_promise: entry
            .pointer("/inclusionPromise/signedEntryTimestamp")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty()),
        inclusion_proof: proof.map(|p| InclusionProof {
            log_index: number(&p["logIndex"]),
            tree_size: number(&p["treeSize"]),
            root_hash: p["rootHash"]
                .as_str()
                .and_then(|h| decode_base64(h).ok())
                .map(hex::encode),
            hashes: p["hashes"].as_array().map_or(0, Vec::len),
            checkpoint: p
                .pointer("/checkpoint/envelope")
                .and_then(Value::as_str)
                .map(checkpoint),
        }),
    }
}

/// int64 fields are JSON strings in protobuf JSON, numbers in cosign's JSON.
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn checkpoint(envelope: &str) -> Checkpoint {
    let mut lines = envelope.lines();
    Checkpoint {
        origin: lines.next().unwrap_or("").to_string(),
        tree_size: lines.next().and_then(|l| l.trim().parse().ok()),
        root_hash: lines
            .next()
            .and_then(|l| STANDARD.decode(l.trim()).ok())
            .map(hex::encode),
    }
}

fn cosign_bundle(
    object: &Map<String, Value>,
    known: &KnownLogs,
) -> Result<Inspection, InspectError> {
    const FORM: &str = "cosign bundle";
    let mut notes = Vec::new();
    let mut signature = SignatureInfo::default();
    let sig = object
        .get("base64Signature")
        .unwrap_or(&Value::Null)
        .as_str()
        .and_then(|s| decode_base64(s).ok())
        .ok_or_else(|| malformed(FORM, "base64Signature is not base64"))?;
    match object.get("cert").and_then(Value::as_str) {
        None | Some("") => notes.push(
            "no certificate: signed with a key (cosign --key), so there is no identity to show"
                .into(),
        ),
        Some(cert) => {
            let der = certificate_from_text(cert.as_bytes())
                .ok_or_else(|| malformed(FORM, "cert is neither base64 of PEM nor PEM"))?;
            match der {
                CertOrKey::Certificate(der) => {
                    signature.certificate =
                        Some(certificate(&der, known).map_err(|p| malformed(FORM, p))?);
                }
                CertOrKey::PublicKey => notes
                    .push("cert holds a public key (cosign v3 --key): no identity to show".into()),
            }
        }
    }
    let mut digest = None;
    if let Some(rekor) = object.get("rekorBundle") {
        let payload = &rekor["Payload"];
        let body = payload["body"]
            .as_str()
            .and_then(|b| decode_base64(b).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        digest = body
            .as_ref()
            .and_then(|b| b.pointer("/spec/data/hash/value"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let log_id = payload["logID"].as_str().unwrap_or_default().to_lowercase();
        signature.log_entries.push(LogEntry {
            log: known.tlog(&log_id).map(|(_, name, _)| name.clone()),
            log_id,
            log_index: number(&payload["logIndex"]),
            kind: body.as_ref().map(|b| {
                format!(
                    "{} {}",
                    b["kind"].as_str().unwrap_or("?"),
                    b["apiVersion"].as_str().unwrap_or("?")
                )
            }),
            integrated_time: number(&payload["integratedTime"]).and_then(|t| rfc3339(t as i64)),
            inclusion_promise: rekor["SignedEntryTimestamp"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            inclusion_proof: None,
        });
    }
    signature.content = Some(Content::MessageSignature {
        digest_algorithm: digest.as_ref().map(|_| "sha256".into()),
        digest,
        signature_bytes: sig.len(),
    });
    entry_notes(&signature, &mut notes);
    Ok(Inspection {
        kind: Kind::CosignBundle,
        form: "cosign bundle (legacy --bundle format)".into(),
        media_type: None,
        signatures: vec![signature],
        token: None,
        notes,
    })
}

/// One PEP 740 attestation object.
fn attestation(
    object: &Map<String, Value>,
    known: &KnownLogs,
    notes: &mut Vec<String>,
) -> Result<SignatureInfo, InspectError> {
    const FORM: &str = "PEP 740 attestation";
    let material = object.get("verification_material").unwrap_or(&Value::Null);
    let cert = material["certificate"]
        .as_str()
        .and_then(|c| decode_base64(c).ok())
        .ok_or_else(|| malformed(FORM, "verification_material.certificate is not base64"))?;
    let mut signature = SignatureInfo {
        certificate: Some(certificate(&cert, known).map_err(|p| malformed(FORM, p))?),
        ..SignatureInfo::default()
    };
    for entry in material["transparency_entries"]
        .as_array()
        .into_iter()
        .flatten()
    {
        signature.log_entries.push(log_entry(entry, known));
    }
    let envelope = object.get("envelope").unwrap_or(&Value::Null);
    let statement_bytes = envelope["statement"]
        .as_str()
        .and_then(|s| decode_base64(s).ok())
        .ok_or_else(|| malformed(FORM, "envelope.statement is not base64"))?;
    signature.content = Some(Content::Dsse {
        // PEP 740 fixes the payload type; the envelope does not repeat it.
        payload_type: "application/vnd.in-toto+json".into(),
        statement: statement(&statement_bytes),
        signatures: usize::from(envelope["signature"].is_string()),
    });
    entry_notes(&signature, notes);
    Ok(signature)
}

fn provenance(object: &Map<String, Value>, known: &KnownLogs) -> Result<Inspection, InspectError> {
    const FORM: &str = "PyPI provenance";
    let bundles = object
        .get("attestation_bundles")
        .unwrap_or(&Value::Null)
        .as_array()
        .ok_or_else(|| malformed(FORM, "attestation_bundles is not a list"))?;
    let mut notes = Vec::new();
    let mut signatures = Vec::new();
    for (b, bundle) in bundles.iter().enumerate() {
        let attestations = bundle["attestations"]
            .as_array()
            .ok_or_else(|| malformed(FORM, "attestations is not a list"))?;
        for (a, att) in attestations.iter().enumerate() {
            let att = att
                .as_object()
                .ok_or_else(|| malformed(FORM, "an attestation is not an object"))?;
            let mut signature = attestation(att, known, &mut notes)?;
            signature.label = Some(format!(
                "attestation bundle {} of {}, attestation {} of {}",
                b + 1,
                bundles.len(),
                a + 1,
                attestations.len()
            ));
            signature.publisher = bundle.get("publisher").cloned();
            signatures.push(signature);
        }
    }
    if signatures.is_empty() {
        notes.push("no attestations".into());
    }
    Ok(Inspection {
        kind: Kind::PypiProvenance,
        form: format!(
            "PyPI provenance (version {}), {} attestation(s)",
            object.get("version").map_or("?".into(), Value::to_string),
            signatures.len()
        ),
        media_type: None,
        signatures,
        token: None,
        notes,
    })
}

/// An in-toto statement, if the payload is one.
fn statement(payload: &[u8]) -> Option<Statement> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let subjects = value["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Subject {
            name: s["name"].as_str().unwrap_or("").to_string(),
            digest: s["digest"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect(),
        })
        .collect();
    Some(Statement {
        statement_type: value["_type"].as_str()?.to_string(),
        subjects,
        predicate_type: value["predicateType"].as_str().unwrap_or("").to_string(),
        predicate_present: !value["predicate"].is_null(),
    })
}

enum CertOrKey {
    Certificate(Vec<u8>),
    PublicKey,
}

/// A certificate given as PEM or base64 of PEM (cosign's `cert` field and `.crt`).
fn certificate_from_text(bytes: &[u8]) -> Option<CertOrKey> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    let pem_bytes = if text.starts_with("-----BEGIN") {
        text.as_bytes().to_vec()
    } else {
        decode_base64(text).ok()?
    };
    let block = pem::parse_many(&pem_bytes).ok()?.into_iter().next()?;
    match block.tag() {
        "CERTIFICATE" => Some(CertOrKey::Certificate(block.contents().to_vec())),
        "PUBLIC KEY" | "EC PUBLIC KEY" => Some(CertOrKey::PublicKey),
        _ => None,
    }
}

fn inspect_pem(bytes: &[u8], known: &KnownLogs) -> Result<Inspection, InspectError> {
    const FORM: &str = "PEM file";
    let blocks = pem::parse_many(bytes).map_err(|e| malformed(FORM, e.to_string()))?;
    let Some(first) = blocks.first() else {
        return Err(malformed(FORM, "no PEM block"));
    };
    if first.tag() != "CERTIFICATE" {
        return Err(InspectError::Unknown {
            found: format!("a PEM {} block", first.tag()),
        });
    }
    let mut signature = SignatureInfo {
        certificate: Some(
            certificate(first.contents(), known).map_err(|p| malformed("certificate", p))?,
        ),
        ..SignatureInfo::default()
    };
    for other in &blocks[1..] {
        signature.chain.push(
            certificate_subject(other.contents()).unwrap_or_else(|| format!("a {}", other.tag())),
        );
    }
    Ok(Inspection {
        kind: Kind::Certificate,
        form: match blocks.len() {
            1 => "certificate (PEM)".into(),
            n => format!("certificate chain (PEM, {n} certificates)"),
        },
        media_type: None,
        notes: certificate_notes(&signature),
        signatures: vec![signature],
        token: None,
    })
}

fn certificate_notes(signature: &SignatureInfo) -> Vec<String> {
    let mut notes = Vec::new();
    if signature.certificate.as_ref().is_some_and(|c| c.is_ca) {
        notes.push(
            "this is a CA certificate, not a signing certificate: no signature can be verified with it"
                .into(),
        );
    }
    notes
}

/// DER input: a certificate or an ECDSA signature (cosign `--b64=false`, or decoded base64).
fn inspect_der(der: &[u8], encoding: &str, known: &KnownLogs) -> Option<Inspection> {
    if let Ok((_, _)) = X509Certificate::from_der(der) {
        let signature = SignatureInfo {
            certificate: certificate(der, known).ok(),
            ..SignatureInfo::default()
        };
        return Some(Inspection {
            kind: Kind::Certificate,
            form: format!("certificate ({encoding})"),
            media_type: None,
            notes: certificate_notes(&signature),
            signatures: vec![signature],
            token: None,
        });
    }
    if is_ecdsa_signature(der) {
        let signature = SignatureInfo {
            content: Some(Content::MessageSignature {
                digest_algorithm: None,
                digest: None,
                signature_bytes: der.len(),
            }),
            ..SignatureInfo::default()
        };
        return Some(Inspection {
            kind: Kind::CosignSignature,
            form: format!("detached ECDSA signature ({encoding}), as cosign writes to .sig"),
            media_type: None,
            signatures: vec![signature],
            token: None,
            notes: vec![
                "a detached signature names no signer: the certificate (.crt) beside it does, and \
                 its log entry is in Rekor, not in this file"
                    .into(),
            ],
        });
    }
    None
}

/// `SEQUENCE { INTEGER r, INTEGER s }` and nothing else.
fn is_ecdsa_signature(der: &[u8]) -> bool {
    let Some((0x30, body, rest)) = tlv(der) else {
        return false;
    };
    if !rest.is_empty() {
        return false;
    }
    let Some((0x02, r, after_r)) = tlv(body) else {
        return false;
    };
    let Some((0x02, s, after_s)) = tlv(after_r) else {
        return false;
    };
    after_s.is_empty() && !r.is_empty() && !s.is_empty() && r.len() <= 67 && s.len() <= 67
}

/// One DER TLV: (tag, contents, rest). Definite lengths only, as DER requires.
fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The genTime of an RFC 3161 TimeStampResp or TimeStampToken: the first
/// GeneralizedTime depth-first, which is TSTInfo's (it comes before the TSA's
/// certificates, and nothing earlier in the structure holds one).
fn timestamp_time(der: &[u8]) -> Option<String> {
    fn walk(mut der: &[u8], depth: usize) -> Option<String> {
        if depth > 12 {
            return None;
        }
        while let Some((tag, body, rest)) = tlv(der) {
            match tag {
                0x18 => {
                    let text = std::str::from_utf8(body).ok()?;
                    return generalized_time(text);
                }
                // Constructed: SEQUENCE, SET, context tags.
                t if t & 0x20 != 0 => {
                    if let Some(found) = walk(body, depth + 1) {
                        return Some(found);
                    }
                }
                // eContent is an OCTET STRING holding the TSTInfo DER.
                0x04 => {
                    if let Some(found) = walk(body, depth + 1) {
                        return Some(found);
                    }
                }
                _ => {}
            }
            der = rest;
        }
        None
    }
    walk(der, 0)
}

/// `YYYYMMDDHHMMSS[.fff]Z` as RFC 3339.
fn generalized_time(text: &str) -> Option<String> {
    let text = text.strip_suffix('Z')?;
    let (main, fraction) = text.split_once('.').unwrap_or((text, ""));
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let f = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    Some(format!(
        "{}-{}-{}T{}:{}:{}{f}Z",
        &main[0..4],
        &main[4..6],
        &main[6..8],
        &main[8..10],
        &main[10..12],
        &main[12..14]
    ))
}

fn certificate_subject(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(cert.subject().to_string())
}

/// Read a certificate's claims. Errors are for input that is not X.509 at all.
fn certificate(der: &[u8], known: &KnownLogs) -> Result<CertificateInfo, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("the certificate is not X.509: {e}"))?;
    let mut sans = Vec::new();
    let mut uri = None;
    let mut email = None;
    let mut other = None;
    let mut extensions = Vec::new();
    let mut scts = Vec::new();
    let mut issuer_v1 = None;
    let mut issuer_v2 = None;
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::URI(u) => {
                            uri.get_or_insert_with(|| u.to_string());
                            sans.push(format!("URI:{u}"));
                        }
                        GeneralName::RFC822Name(e) => {
                            email.get_or_insert_with(|| e.to_string());
                            sans.push(format!("email:{e}"));
                        }
                        GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                        GeneralName::OtherName(oid, value) => {
                            let text = utf8_string(value)
                                .or_else(|| explicit_utf8(value))
                                .unwrap_or_else(|| hex::encode(value));
                            other.get_or_insert_with(|| text.clone());
                            sans.push(format!("otherName({oid}):{text}"));
                        }
                        other => sans.push(format!("{other:?}")),
                    }
                }
            }
            ParsedExtension::SCT(list) => {
                for sct in list {
                    let id = hex::encode(sct.id.key_id);
                    scts.push(SctInfo {
                        log: known.ctlog(&id),
                        log_id: id,
                        time: rfc3339_millis(sct.timestamp),
                    });
                }
            }
            _ => {}
        }
        let Some(arc) = oid
            .strip_prefix(FULCIO_ARC)
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let entry = FULCIO_EXTENSIONS.iter().find(|(n, _, _)| *n == arc);
        // .1–.6 are raw bytes; later ones DER UTF8String (some old .8+ are raw too).
        let value = if arc <= 7 {
            String::from_utf8(ext.value.to_vec()).ok()
        } else {
            utf8_string(ext.value).or_else(|| String::from_utf8(ext.value.to_vec()).ok())
        }
        .unwrap_or_else(|| format!("0x{}", hex::encode(ext.value)));
        match arc {
            1 => issuer_v1 = Some(value.clone()),
            8 => issuer_v2 = Some(value.clone()),
            _ => {}
        }
        extensions.push(ExtensionInfo {
            oid,
            name: entry.map_or_else(|| "unknown Fulcio extension".into(), |e| e.1.to_string()),
            value,
            flag: entry.and_then(|e| e.2).map(str::to_string),
        });
    }
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let identity = uri.or(email).or(other);
    let issuer = issuer_v2.or(issuer_v1);
    let gitlab = identity
        .as_deref()
        .zip(issuer.as_deref())
        .and_then(|(san, iss)| gitlab_identity(san, iss));
    Ok(CertificateInfo {
        identity,
        issuer,
        subject: cert.subject().to_string(),
        issued_by: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string().replace(':', ""),
        not_before: rfc3339(not_before).unwrap_or_default(),
        not_after: rfc3339(not_after).unwrap_or_default(),
        validity_seconds: not_after - not_before,
        key: key_algorithm(&cert),
        is_ca: cert
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca),
        subject_alternative_names: sans,
        extensions,
        embedded_scts: scts,
        gitlab,
    })
}

fn key_algorithm(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .filter(|p| p.header.tag().0 == 6)
        .map(|p| {
            x509_parser::der_parser::oid::Oid::new(std::borrow::Cow::Borrowed(p.data))
                .to_id_string()
        });
    match (alg.as_str(), curve.as_deref()) {
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => "ECDSA P-256".into(),
        ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => "ECDSA P-384".into(),
        ("1.2.840.10045.2.1", Some("1.3.132.0.35")) => "ECDSA P-521".into(),
        ("1.2.840.10045.2.1", other) => format!("ECDSA ({})", other.unwrap_or("?")),
        ("1.2.840.113549.1.1.1", _) => "RSA".into(),
        ("1.3.101.112", _) => "Ed25519".into(),
        (other, _) => other.to_string(),
    }
}

/// A DER UTF8String (tag 12), as Fulcio encodes extensions .1.8 onwards.
fn utf8_string(der: &[u8]) -> Option<String> {
    match tlv(der)? {
        (0x0c, body, []) => String::from_utf8(body.to_vec()).ok(),
        _ => None,
    }
}

/// otherName values are `[0] EXPLICIT UTF8String`.
fn explicit_utf8(der: &[u8]) -> Option<String> {
    match tlv(der)? {
        (0xa0, body, []) => utf8_string(body),
        _ => None,
    }
}

/// `https://HOST/PROJECT//CONFIG@refs/...` issued by `https://HOST`: a GitLab CI identity.
pub fn gitlab_identity(san: &str, issuer: &str) -> Option<GitLabIdentity> {
    let rest = san.strip_prefix("https://")?;
    let (host_project, config_ref) = rest.split_once("//")?;
    let (host, project) = host_project.split_once('/')?;
    let at = config_ref.rfind("@refs/")?;
    let (config, git_ref) = (&config_ref[..at], &config_ref[at + 1..]);
    let server = issuer.trim_end_matches('/');
    let issuer_host = server.split_once("://").map(|(_, h)| h)?;
    // GitHub identities also have the shape; only the instance as issuer is GitLab's.
    if issuer_host != host || project.is_empty() || config.is_empty() || !project.contains('/') {
        return None;
    }
    Some(GitLabIdentity {
        server_url: server.to_string(),
        project_path: project.to_string(),
        config_path: config.to_string(),
        git_ref: git_ref.to_string(),
    })
}

/// A JWT: three base64url parts with a JSON header naming `alg`.
fn jwt(text: &str) -> Option<Inspection> {
    let mut parts = text.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let decode = |part: &str| -> Option<Map<String, Value>> {
        let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()?
            .as_object()
            .cloned()
    };
    let header = decode(header)?;
    header.get("alg")?;
    let claims = decode(payload)?;
    let times = ["iat", "nbf", "exp"]
        .iter()
        .filter_map(|k| {
            let secs = claims.get(*k)?.as_i64()?;
            Some((k.to_string(), rfc3339(secs)?))
        })
        .collect();
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_string);
    // Fulcio's SAN for CI tokens, else the email, else the subject.
    let identity = claims
        .get("ci_config_ref_uri")
        .and_then(Value::as_str)
        .map(|uri| format!("https://{uri}"))
        .or_else(|| {
            claims
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            claims
                .get("sub")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let gitlab = identity
        .as_deref()
        .zip(issuer.as_deref())
        .and_then(|(san, iss)| gitlab_identity(san, iss));
    let mut notes = Vec::new();
    let audience = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if !audience
        .iter()
        .any(|a| a == crate::sign::token::SIGSTORE_AUDIENCE)
    {
        notes.push(format!(
            "audience {audience:?}: Fulcio accepts only tokens for \"sigstore\""
        ));
    }
    // Keep only header fields that describe the token, never key material.
    let header = header
        .into_iter()
        .filter(|(k, _)| matches!(k.as_str(), "alg" | "kid" | "typ"))
        .collect();
    Some(Inspection {
        kind: Kind::OidcToken,
        form: "OIDC identity token (JWT); the token itself is not shown".into(),
        media_type: None,
        signatures: Vec::new(),
        token: Some(TokenInfo {
            header,
            claims,
            times,
            identity,
            issuer,
            gitlab,
        }),
        notes,
    })
}

/// Base64 as Go reads it: line breaks and surrounding space ignored; URL-safe too.
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let compact: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, '\n' | '\r'))
        .collect();
    STANDARD.decode(&compact).or_else(|e| {
        base64::engine::general_purpose::URL_SAFE
            .decode(&compact)
            .map_err(|_| e)
    })
}

fn rfc3339(seconds: i64) -> Option<String> {
    jiff::Timestamp::from_second(seconds)
        .ok()
        .map(|t| t.to_string())
}

fn rfc3339_millis(millis: u64) -> String {
    i64::try_from(millis)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| millis.to_string(), |t| t.to_string())
}

/// The commands that would verify what a file holds, with its signer pinned.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyCommands {
    /// The gl-sign command, as argv.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gl_sign: Option<Vec<String>>,
    /// The cosign equivalent, when cosign can read the form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cosign: Option<Vec<String>>,
    /// Why a command is missing or what a placeholder means.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Where the evidence is, for building the commands.
#[derive(Debug, Clone, Default)]
pub struct CommandInputs {
    /// The inspected file, as the user named it.
    pub evidence: String,
    /// The signed file (or a placeholder).
    pub artifact: String,
    /// For a `.sig`: its certificate, and what that certificate says.
    pub certificate: Option<(String, Box<CertificateInfo>)>,
}

/// Build the verify commands for `inspection`.
pub fn verify_commands(
    inspection: &Inspection,
    inputs: &CommandInputs,
    known: &KnownLogs,
) -> VerifyCommands {
    let mut notes = Vec::new();
    let first = inspection.signatures.first();
    let cert = match (
        first.and_then(|s| s.certificate.as_ref()),
        &inputs.certificate,
    ) {
        (Some(c), _) => Some(c),
        (None, Some((_, c))) => Some(c.as_ref()),
        _ => None,
    };
    let (identity, issuer, gitlab) = match (&inspection.token, cert) {
        (Some(token), _) => (
            token.identity.clone(),
            token.issuer.clone(),
            token.gitlab.clone(),
        ),
        (None, Some(c)) => (c.identity.clone(), c.issuer.clone(), c.gitlab.clone()),
        (None, None) => (None, None, None),
    };
    let (Some(identity), Some(issuer)) = (identity, issuer) else {
        notes.push(match inspection.kind {
            Kind::CosignSignature => format!(
                "no certificate found beside this signature ({}.crt): the signer is unknown, so no identity can be pinned",
                inputs.artifact
            ),
            _ => "no signer identity and issuer in this file: nothing to pin".into(),
        });
        return VerifyCommands {
            gl_sign: None,
            cosign: None,
            notes,
        };
    };
    let mut gl_identity: Vec<String> = match &gitlab {
        Some(g) => {
            let mut args = vec![
                "--gitlab-project".to_string(),
                g.project_path.clone(),
                "--gitlab-ref".into(),
                g.git_ref.clone(),
            ];
            if g.server_url != crate::ci::DEFAULT_GITLAB_URL {
                args.extend(["--gitlab-url".into(), g.server_url.clone()]);
            }
            if g.config_path != crate::ci::DEFAULT_CI_CONFIG_PATH {
                args.extend(["--gitlab-config-path".into(), g.config_path.clone()]);
            }
            args
        }
        None => vec![
            "--certificate-identity".into(),
            identity.clone(),
            "--certificate-oidc-issuer".into(),
            issuer.clone(),
        ],
    };
    let cosign_identity = [
        "--certificate-identity".to_string(),
        identity.clone(),
        "--certificate-oidc-issuer".into(),
        issuer.clone(),
    ];
    let entries: Vec<LogEntry> = inspection
        .signatures
        .iter()
        .flat_map(|s| s.log_entries.clone())
        .collect();
    let mut trust: Vec<String> = Vec::new();
    let mut cosign_trust: Vec<String> = Vec::new();
    if !entries.is_empty() {
        match known.root_for(&entries) {
            Some(RootChoice::PublicGood) => {}
            Some(RootChoice::Staging) => {
                trust.push("--staging".into());
                notes.push("signed on the public-good staging instance: cosign needs `cosign initialize --mirror https://tuf-repo-cdn.sigstage.dev --root <staging root.json>` first".into());
            }
            Some(RootChoice::File(path)) => {
                trust.extend(["--trusted-root".into(), path.clone()]);
                cosign_trust.extend(["--trusted-root".into(), path]);
            }
            None => {
                trust.extend(["--trusted-root".into(), "TRUSTED_ROOT.json".into()]);
                cosign_trust.extend(["--trusted-root".into(), "TRUSTED_ROOT.json".into()]);
                notes.push("the log is not in the embedded trusted roots: TRUSTED_ROOT.json stands for the signing instance's trusted_root.json".into());
            }
        }
    }
    let file = inputs.artifact.clone();
    let evidence = inputs.evidence.clone();
    let predicate = first.and_then(|s| match &s.content {
        Some(Content::Dsse {
            statement: Some(st),
            ..
        }) => Some(st.predicate_type.clone()),
        _ => None,
    });
    let (gl_sign, cosign) = match inspection.kind {
        Kind::SigstoreBundle => {
            let mut gl = vec!["gl-sign", "verify-blob", &file, "--bundle", &evidence]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>();
            let mut co: Vec<String> = match &predicate {
                Some(p) => [
                    "cosign",
                    "verify-blob-attestation",
                    "--bundle",
                    &evidence,
                    "--type",
                    p,
                ]
                .into_iter()
                .map(String::from)
                .collect(),
                None => ["cosign", "verify-blob", "--bundle", &evidence]
                    .into_iter()
                    .map(String::from)
                    .collect(),
            };
            if let Some(p) = &predicate {
                gl.extend(["--type".into(), p.clone()]);
            }
            gl.append(&mut gl_identity);
            gl.extend(trust);
            co.extend(cosign_identity);
            co.extend(cosign_trust);
            co.push(file.clone());
            (Some(gl), Some(co))
        }
        Kind::CosignBundle => {
            let mut gl: Vec<String> = ["gl-sign", "verify-blob", &file, "--bundle", &evidence]
                .into_iter()
                .map(String::from)
                .collect();
            gl.append(&mut gl_identity);
            gl.extend(trust);
            let mut co: Vec<String> = ["cosign", "verify-blob", "--bundle", &evidence]
                .into_iter()
                .map(String::from)
                .collect();
            co.extend(cosign_identity);
            co.push(file.clone());
            (Some(gl), Some(co))
        }
        Kind::CosignSignature | Kind::Certificate => {
            let (signature, certificate) = match (&inspection.kind, &inputs.certificate) {
                (Kind::CosignSignature, Some((crt, _))) => (evidence.clone(), crt.clone()),
                (Kind::CosignSignature, None) => (evidence.clone(), format!("{file}.crt")),
                _ => (format!("{file}.sig"), evidence.clone()),
            };
            let mut gl: Vec<String> = [
                "gl-sign",
                "verify-blob",
                &file,
                "--signature",
                &signature,
                "--certificate",
                &certificate,
            ]
            .into_iter()
            .map(String::from)
            .collect();
            gl.append(&mut gl_identity);
            let mut co: Vec<String> = [
                "cosign",
                "verify-blob",
                "--signature",
                &signature,
                "--certificate",
                &certificate,
            ]
            .into_iter()
            .map(String::from)
            .collect();
            co.extend(cosign_identity);
            co.push(file.clone());
            notes.push(
                "detached files carry no log entry: both commands look it up in Rekor (online)"
                    .into(),
            );
            (Some(gl), Some(co))
        }
        Kind::Pep740Attestation => {
            let mut gl: Vec<String> = ["gl-sign", "verify-blob", &file, "--attestation", &evidence]
                .into_iter()
                .map(String::from)
                .collect();
            gl.append(&mut gl_identity);
            gl.extend(trust);
            notes.push("cosign does not read PEP 740 attestations".into());
            (Some(gl), None)
        }
        Kind::PypiProvenance => {
            let (name, version) = dist_name_version(&file)
                .unwrap_or_else(|| ("NAME".to_string(), "VERSION".to_string()));
            let mut gl: Vec<String> = vec![
                "gl-sign".into(),
                "consumer-verify".into(),
                format!("{name}=={version}"),
                "--index-url".into(),
                "https://pypi.org/simple".into(),
                "--provenance".into(),
            ];
            gl.append(&mut gl_identity);
            notes.push("a provenance object is what PyPI serves for one file; consumer-verify fetches and checks it with the file".into());
            notes.push("cosign does not read PyPI provenance".into());
            (Some(gl), None)
        }
        Kind::OidcToken => {
            let mut gl: Vec<String> = ["gl-sign", "verify-blob", "FILE"]
                .into_iter()
                .map(String::from)
                .collect();
            gl.append(&mut gl_identity);
            let mut co: Vec<String> = ["cosign", "verify-blob", "--bundle", "FILE.sigstore.json"]
                .into_iter()
                .map(String::from)
                .collect();
            co.extend(cosign_identity);
            co.push("FILE".into());
            notes.push(
                "these verify a FILE signed with this token (FILE.sigstore.json beside it)".into(),
            );
            (Some(gl), Some(co))
        }
    };
    VerifyCommands {
        gl_sign,
        cosign,
        notes,
    }
}

/// Name and version from a dist file name (`name-1.0.tar.gz`, `name-1.0-py3-none-any.whl`).
fn dist_name_version(file: &str) -> Option<(String, String)> {
    let base = file.rsplit('/').next()?;
    let stem = base
        .strip_suffix(".tar.gz")
        .or_else(|| base.strip_suffix(".zip"))
        .or_else(|| base.strip_suffix(".whl"))?;
    let mut parts = stem.splitn(3, '-');
    let name = parts.next()?.to_string();
    let version = parts.next()?.to_string();
    (!name.is_empty() && !version.is_empty()).then_some((name, version))
}

/// Shell-quote one word (POSIX single quotes) when it needs it.
pub fn shell_word(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_input_names_what_was_expected() {
        let known = KnownLogs::embedded();
        for input in [
            &b"hello world"[..],
            b"[1,2]",
            b"{\"a\": 1}",
            &[0xff, 0x00, 0x13],
        ] {
            let err = inspect(input, &known).unwrap_err();
            assert!(
                err.to_string().contains("expected a Sigstore bundle"),
                "{err}"
            );
        }
        assert_eq!(inspect(b"  \n", &known).unwrap_err(), InspectError::Empty);
        let root = inspect(
            crate::trust::PRODUCTION_TRUSTED_ROOT_JSON.as_bytes(),
            &known,
        );
        assert!(matches!(root, Err(InspectError::NotASignature { .. })));
    }

    #[test]
    fn der_and_time_helpers() {
        assert!(is_ecdsa_signature(&[
            0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02
        ]));
        assert!(!is_ecdsa_signature(&[
            0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01
        ]));
        assert!(!is_ecdsa_signature(&[0x30, 0x03, 0x02, 0x01, 0x01]));
        assert_eq!(
            generalized_time("20240102030405.5Z").as_deref(),
            Some("2024-01-02T03:04:05.5Z")
        );
        assert_eq!(generalized_time("2024Z"), None);
        assert_eq!(tlv(&[0x30, 0x85, 0, 0, 0, 0, 1]), None);
    }

    #[test]
    fn gitlab_identities_are_taken_apart() {
        let g = gitlab_identity(
            "https://gitlab.example.com/g/sub/p//ci/release.yml@refs/tags/v1",
            "https://gitlab.example.com",
        )
        .unwrap();
        assert_eq!(g.project_path, "g/sub/p");
        assert_eq!(g.config_path, "ci/release.yml");
        assert_eq!(g.git_ref, "refs/tags/v1");
        // A GitHub workflow identity is not GitLab's, whatever its shape.
        assert_eq!(
            gitlab_identity(
                "https://github.com/o/r/.github/workflows/x.yml@refs/heads/main",
                "https://token.actions.githubusercontent.com"
            ),
            None
        );
        assert_eq!(
            gitlab_identity(
                "https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main",
                "https://evil.example"
            ),
            None
        );
    }

    /// Every object with one key removed, and every string emptied, one at a time.
    fn mutations(value: &Value, out: &mut Vec<Value>, root: &Value, path: &mut Vec<String>) {
        let replace = |root: &Value, path: &[String], with: Option<Value>| {
            let mut copy = root.clone();
            let (last, parents) = path.split_last().unwrap();
            let mut at = &mut copy;
            for key in parents {
                at = match at {
                    Value::Object(m) => m.get_mut(key).unwrap(),
                    Value::Array(a) => &mut a[key.parse::<usize>().unwrap()],
                    _ => unreachable!(),
                };
            }
            match (at, with) {
                (Value::Object(m), None) => {
                    m.remove(last);
                }
                (Value::Object(m), Some(v)) => {
                    m.insert(last.clone(), v);
                }
                (Value::Array(a), with) => {
                    a[last.parse::<usize>().unwrap()] = with.unwrap_or(Value::Null)
                }
                _ => unreachable!(),
            }
            copy
        };
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    path.push(k.clone());
                    out.push(replace(root, path, None));
                    out.push(replace(root, path, Some(json!(7))));
                    mutations(v, out, root, path);
                    path.pop();
                }
            }
            Value::Array(list) => {
                for (i, v) in list.iter().enumerate() {
                    path.push(i.to_string());
                    mutations(v, out, root, path);
                    path.pop();
                }
            }
            Value::String(_) => out.push(replace(root, path, Some(json!("")))),
            _ => {}
        }
    }

    #[test]
    fn no_vector_mutation_panics() {
        let known = KnownLogs::embedded();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors");
        let mut files = vec![
            dir.join("bundles/conf-happy-path-v0.3.sigstore.json"),
            dir.join("bundles/conf-happy-path-v0.1.sigstore.json"),
            dir.join("bundles/conf-rekor2-happy-path.sigstore.json"),
            dir.join("pep740/pypi_attestations-0.0.19.tar.gz.provenance"),
            dir.join("pep740/gitlab_oidc_project-0.0.3.tar.gz.publish.attestation"),
        ];
        files.retain(|f| f.exists());
        assert!(!files.is_empty());
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let value: Value = serde_json::from_slice(&bytes).unwrap();
            let mut variants = Vec::new();
            mutations(&value, &mut variants, &value, &mut Vec::new());
            for variant in variants {
                let _ = inspect(variant.to_string().as_bytes(), &known);
            }
            // Truncated anywhere.
            for cut in (0..bytes.len()).step_by(97) {
                let _ = inspect(&bytes[..cut], &known);
            }
        }
        let cert = std::fs::read(dir.join("gitlab/gitlab-com-test-slsa-worker.crt")).unwrap();
        let der = pem::parse(&cert).unwrap().contents().to_vec();
        for i in (0..der.len()).step_by(7) {
            let mut broken = der.clone();
            broken[i] ^= 0xff;
            let _ = inspect(&broken, &known);
            let _ = inspect(&der[..i], &known);
        }
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_word("refs/heads/main"), "refs/heads/main");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(
            dist_name_version("dir/pypi_attestations-0.0.19.tar.gz"),
            Some(("pypi_attestations".into(), "0.0.19".into()))
        );
    }
}
