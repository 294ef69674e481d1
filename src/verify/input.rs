//! Parsing of everything a signature can arrive as, into one checked form.
//!
//! Untrusted bytes are parsed once, here, into a Sigstore [`Bundle`] (or a
//! detached signature that still needs its log entry). A cosign legacy bundle
//! becomes a v0.1 bundle: like v0.1, it carries a SET and no inclusion proof, so
//! sigstore-verify checks it exactly as cosign does (SET only) with no special
//! path. These functions never panic on any input; a fuzz target holds them to it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use sigstore_types::{Bundle, TransparencyLogEntry};

/// Which form the evidence arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceKind {
    /// A Sigstore bundle, v0.1 to v0.3.
    SigstoreBundle,
    /// cosign's `--bundle` JSON (`base64Signature`, `cert`, `rekorBundle`).
    CosignBundle,
    /// Detached `.sig` + `.crt`, with the log entry fetched from Rekor.
    DetachedWithLogEntry,
    /// A Sigstore bundle with a public-key hint, verified with `--key`.
    KeyBundle,
    /// A bare `.sig` verified with `--key`, with the log entry fetched from Rekor.
    KeySignatureWithLogEntry,
    /// Verified with `--key` and no transparency log (`--insecure-ignore-tlog`).
    KeySignatureWithoutLog,
    /// A PEP 740 attestation (pypi-attestations' JSON), as a DSSE bundle.
    Pep740Attestation,
}

impl EvidenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::SigstoreBundle => "sigstore-bundle",
            EvidenceKind::CosignBundle => "cosign-bundle",
            EvidenceKind::DetachedWithLogEntry => "detached+rekor",
            EvidenceKind::KeyBundle => "key-bundle",
            EvidenceKind::KeySignatureWithLogEntry => "key-signature+rekor",
            EvidenceKind::KeySignatureWithoutLog => "key-signature-without-tlog",
            EvidenceKind::Pep740Attestation => "pep740-attestation",
        }
    }
}

/// Parsed evidence for one file.
#[derive(Debug, Clone)]
pub enum Evidence {
    Bundle {
        bundle: Box<Bundle>,
        kind: EvidenceKind,
    },
    /// A signature and certificate with no log entry yet.
    Detached(Detached),
}

/// A signature and its certificate, as cosign writes them to `.sig`/`.crt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detached {
    /// DER ECDSA signature.
    pub signature: Vec<u8>,
    /// DER leaf certificate.
    pub certificate: Vec<u8>,
}

/// Why input could not be parsed. Each names what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("expected a Sigstore bundle (with \"mediaType\") or a cosign bundle (with \"base64Signature\"), found neither")]
    UnknownJson,
    #[error("unsupported bundle media type {0:?}; gl-sign reads Sigstore bundles v0.1 to v0.3")]
    UnsupportedMediaType(String),
    #[error("invalid Sigstore bundle: {0}")]
    InvalidBundle(String),
    #[error("invalid cosign bundle: {0}")]
    InvalidCosignBundle(String),
    #[error(
        "the cosign bundle holds no certificate; gl-sign verifies keyless (certificate) signatures"
    )]
    NoCertificate,
    #[error("expected a hashedrekord 0.0.1 log entry (cosign sign-blob), found {kind} {version}")]
    UnsupportedEntry { kind: String, version: String },
    #[error("expected a base64 or DER ECDSA signature, found a PEM block")]
    SignatureIsPem,
    #[error("expected a signature, found an empty file")]
    EmptySignature,
    #[error("expected a PEM certificate or base64 of one, found DER")]
    CertificateIsDer,
    #[error("expected a PEM certificate or base64 of one, found a public key")]
    CertificateIsPublicKey,
    #[error("expected a PEM certificate or base64 of one, found {0}")]
    NotACertificate(String),
    #[error("the certificate does not parse as X.509: {0}")]
    BadCertificate(String),
}

impl InputError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            InputError::SignatureIsPem => "this looks like the certificate: give it as the certificate".into(),
            InputError::CertificateIsDer => {
                "convert it with `openssl x509 -inform der -in CERT -out CERT.pem`, or pass cosign's \
                 base64(PEM) .crt file"
                    .into()
            }
            InputError::CertificateIsPublicKey => {
                "gl-sign verifies keyless signatures; a key-signed blob needs `cosign verify-blob --key`".into()
            }
            InputError::NoCertificate => "the signing certificate is needed beside the signature".into(),
            InputError::UnsupportedMediaType(_) => {
                "the bundle may come from a newer Sigstore client; check for a newer gl-sign".into()
            }
            InputError::UnknownJson => {
                "a bundle is a .sigstore.json bundle or cosign's legacy bundle; detached files are a \
                 signature and a certificate"
                    .into()
            }
            _ => return None,
        })
    }
}

/// Parse a bundle file: a Sigstore bundle or a cosign legacy bundle.
pub fn parse_bundle(bytes: &[u8]) -> Result<Evidence, InputError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| InputError::NotJson(e.to_string()))?;
    let Some(object) = value.as_object() else {
        return Err(InputError::UnknownJson);
    };
    if let Some(media_type) = object.get("mediaType") {
        let media_type = media_type.as_str().unwrap_or_default();
        if media_type.parse::<sigstore_types::MediaType>().is_err() {
            return Err(InputError::UnsupportedMediaType(media_type.to_string()));
        }
        let bundle =
            Bundle::deserialize(&value).map_err(|e| InputError::InvalidBundle(e.to_string()))?;
        return Ok(Evidence::Bundle {
            bundle: Box::new(bundle),
            kind: EvidenceKind::SigstoreBundle,
        });
    }
    if object.contains_key("base64Signature") {
        return parse_cosign_bundle(value);
    }
    Err(InputError::UnknownJson)
}

/// cosign's `LocalSignedPayload` (`pkg/cosign/fetch.go`); `RekorBundle` has no
/// JSON tags in Go, hence the PascalCase keys.
#[derive(Deserialize)]
struct CosignBundle {
    #[serde(rename = "base64Signature")]
    base64_signature: String,
    #[serde(default)]
    cert: Option<String>,
    #[serde(rename = "rekorBundle", default)]
    rekor_bundle: Option<CosignRekorBundle>,
}

#[derive(Deserialize)]
struct CosignRekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: CosignRekorPayload,
}

#[derive(Deserialize)]
struct CosignRekorPayload {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

fn parse_cosign_bundle(value: Value) -> Result<Evidence, InputError> {
    let bad = |what: String| InputError::InvalidCosignBundle(what);
    let legacy: CosignBundle = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
    let signature = parse_signature(legacy.base64_signature.as_bytes())?;
    let certificate = match legacy.cert.as_deref() {
        None | Some("") => return Err(InputError::NoCertificate),
        Some(cert) => parse_certificate(cert.as_bytes())?,
    };
    let Some(rekor) = legacy.rekor_bundle else {
        // Not uploaded to the log by the signer: only a Rekor lookup can help.
        return Ok(Evidence::Detached(Detached {
            signature,
            certificate,
        }));
    };
    let material = json!({
        "x509CertificateChain": {"certificates": [{"rawBytes": STANDARD.encode(&certificate)}]},
    });
    Ok(Evidence::Bundle {
        bundle: Box::new(legacy_v01_bundle(rekor, material, &signature)?),
        kind: EvidenceKind::CosignBundle,
    })
}

/// A cosign legacy bundle made with `cosign sign-blob --key --bundle` (no
/// "cert"): a v0.1 bundle with a public-key hint when the signer uploaded the
/// signature to Rekor, else only the signature, whose entry must be looked up.
pub enum CosignKeyBundle {
    Bundle(Box<Bundle>),
    SignatureOnly(Vec<u8>),
}

/// Parse a key-signed cosign legacy bundle; `key_hint` goes into the bundle
/// (it is never trusted: the verifier brings the key).
pub fn parse_cosign_key_bundle(
    bytes: &[u8],
    key_hint: &str,
) -> Result<CosignKeyBundle, InputError> {
    let bad = |what: String| InputError::InvalidCosignBundle(what);
    let legacy: CosignBundle = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if legacy.cert.as_deref().is_some_and(|c| !c.is_empty()) {
        return Err(bad(
            "it holds a certificate: a keyless signature, not a key signature".into(),
        ));
    }
    let signature = parse_signature(legacy.base64_signature.as_bytes())?;
    let Some(rekor) = legacy.rekor_bundle else {
        return Ok(CosignKeyBundle::SignatureOnly(signature));
    };
    let material = json!({"publicKey": {"hint": key_hint}});
    Ok(CosignKeyBundle::Bundle(Box::new(legacy_v01_bundle(
        rekor, material, &signature,
    )?)))
}

/// The v0.1 bundle a cosign `rekorBundle` amounts to (SET, no inclusion proof).
fn legacy_v01_bundle(
    rekor: CosignRekorBundle,
    material: Value,
    signature: &[u8],
) -> Result<Bundle, InputError> {
    let bad = |what: String| InputError::InvalidCosignBundle(what);
    let payload = rekor.payload;
    if payload.integrated_time < 0 || payload.log_index < 0 {
        return Err(bad("negative integratedTime or logIndex".into()));
    }
    let log_id = hex::decode(&payload.log_id)
        .ok()
        .filter(|id| id.len() == 32)
        .ok_or_else(|| {
            bad(format!(
                "logID must be 64 hex digits, found {:?}",
                payload.log_id
            ))
        })?;
    let body =
        decode_base64(&payload.body).map_err(|_| bad("Payload.body is not base64".into()))?;
    let (kind, version) =
        entry_kind(&body).ok_or_else(|| bad("Payload.body is not a Rekor entry".into()))?;
    if (kind.as_str(), version.as_str()) != ("hashedrekord", "0.0.1") {
        return Err(InputError::UnsupportedEntry { kind, version });
    }
    decode_base64(&rekor.signed_entry_timestamp)
        .map_err(|_| bad("SignedEntryTimestamp is not base64".into()))?;
    let mut verification_material = material;
    verification_material["tlogEntries"] = json!([{
                "logIndex": payload.log_index.to_string(),
                "logId": {"keyId": STANDARD.encode(&log_id)},
                "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                "integratedTime": payload.integrated_time.to_string(),
                "inclusionPromise": {"signedEntryTimestamp": rekor.signed_entry_timestamp.trim()},
                "canonicalizedBody": STANDARD.encode(&body),
    }]);
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": verification_material,
        "messageSignature": {"signature": STANDARD.encode(signature)},
    });
    Bundle::deserialize(&bundle).map_err(|e| bad(e.to_string()))
}

/// `kind` and `apiVersion` of a Rekor entry body.
fn entry_kind(body: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    Some((
        value.get("kind")?.as_str()?.to_string(),
        value.get("apiVersion")?.as_str()?.to_string(),
    ))
}

/// Base64 as Go's `StdEncoding` reads it: line breaks and surrounding space are ignored.
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact)
}

/// A cosign `.sig`: base64 of the DER signature, with or without a trailing
/// newline; raw DER is accepted too, as cosign does.
pub fn parse_signature(bytes: &[u8]) -> Result<Vec<u8>, InputError> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim);
    if text.is_some_and(|t| t.starts_with("-----BEGIN")) {
        return Err(InputError::SignatureIsPem);
    }
    let signature = match text.map(decode_base64) {
        Some(Ok(decoded)) => decoded,
        _ => bytes.to_vec(),
    };
    if signature.is_empty() {
        return Err(InputError::EmptySignature);
    }
    Ok(signature)
}

/// A cosign `.crt`: PEM, or base64 of PEM (cosign's default). Returns DER.
pub fn parse_certificate(bytes: &[u8]) -> Result<Vec<u8>, InputError> {
    if bytes.first() == Some(&0x30) && std::str::from_utf8(bytes).is_err() {
        return Err(InputError::CertificateIsDer);
    }
    let text = String::from_utf8_lossy(bytes);
    let pem_text = match decode_base64(&text) {
        Ok(decoded) if !decoded.is_empty() => {
            if decoded.first() == Some(&0x30) && !decoded.starts_with(b"-----") {
                return Err(InputError::CertificateIsDer);
            }
            String::from_utf8(decoded)
                .map_err(|_| InputError::NotACertificate("base64 of binary data".into()))?
        }
        _ => text.into_owned(),
    };
    let blocks = pem::parse_many(pem_text.as_bytes())
        .map_err(|e| InputError::NotACertificate(format!("bad PEM ({e})")))?;
    let Some(first) = blocks.first() else {
        return Err(InputError::NotACertificate("no PEM block".into()));
    };
    match first.tag() {
        "CERTIFICATE" => {}
        "PUBLIC KEY" | "EC PUBLIC KEY" => return Err(InputError::CertificateIsPublicKey),
        other => return Err(InputError::NotACertificate(format!("a PEM {other} block"))),
    }
    let der = first.contents().to_vec();
    x509_parser::parse_x509_certificate(&der)
        .map_err(|e| InputError::BadCertificate(e.to_string()))?;
    Ok(der)
}

/// The v0.3 bundle for a signature once its log entry (and optional RFC 3161
/// timestamp) is known: what sign-blob writes and what a detached `.sig`/`.crt`
/// plus its Rekor entry amount to.
pub fn bundle_v03(
    detached: &Detached,
    digest: &[u8; 32],
    entry: TransparencyLogEntry,
    timestamp: Option<sigstore_types::TimestampToken>,
) -> Bundle {
    let mut bundle = sigstore_bundle::BundleV03::with_certificate_and_signature(
        sigstore_types::DerCertificate::from(detached.certificate.clone()),
        sigstore_types::SignatureBytes::from(detached.signature.clone()),
        sigstore_types::Sha256Hash::from(*digest),
    )
    .with_tlog_entry(entry);
    if let Some(timestamp) = timestamp {
        bundle = bundle.with_rfc3161_timestamp(timestamp);
    }
    bundle.into_bundle()
}

/// PEM as Go's `pem.EncodeToMemory` writes it (64-column lines, LF), which is
/// the form Rekor stored for cosign's entries.
pub fn certificate_pem(der: &[u8]) -> String {
    let block = pem::Pem::new("CERTIFICATE", der.to_vec());
    pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

crate::register_hint!(inherent InputError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_forms() {
        let der = vec![0x30, 0x45, 0x02, 0x20, 1, 2, 3];
        let b64 = STANDARD.encode(&der);
        assert_eq!(parse_signature(b64.as_bytes()).unwrap(), der);
        assert_eq!(parse_signature(format!("{b64}\n").as_bytes()).unwrap(), der);
        assert_eq!(parse_signature(&der).unwrap(), der);
        assert_eq!(
            parse_signature(b"-----BEGIN CERTIFICATE-----\nAA==\n").unwrap_err(),
            InputError::SignatureIsPem
        );
        assert_eq!(
            parse_signature(b"").unwrap_err(),
            InputError::EmptySignature
        );
    }

    #[test]
    fn certificate_rejects_garbage_and_keys() {
        assert!(matches!(
            parse_certificate(b"hello").unwrap_err(),
            InputError::NotACertificate(_)
        ));
        assert_eq!(
            parse_certificate(&[0x30, 0x82, 0xff, 0xfe]).unwrap_err(),
            InputError::CertificateIsDer
        );
        let key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert_eq!(
            parse_certificate(key.as_bytes()).unwrap_err(),
            InputError::CertificateIsPublicKey
        );
        let b64_key = STANDARD.encode(key);
        assert_eq!(
            parse_certificate(b64_key.as_bytes()).unwrap_err(),
            InputError::CertificateIsPublicKey
        );
        let bogus = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            parse_certificate(bogus.as_bytes()).unwrap_err(),
            InputError::BadCertificate(_)
        ));
    }

    #[test]
    fn bundle_json_shapes() {
        assert!(matches!(
            parse_bundle(b"{").unwrap_err(),
            InputError::NotJson(_)
        ));
        assert_eq!(parse_bundle(b"[]").unwrap_err(), InputError::UnknownJson);
        assert_eq!(
            parse_bundle(b"{\"a\":1}").unwrap_err(),
            InputError::UnknownJson
        );
        assert!(matches!(
            parse_bundle(br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v9.9+json"}"#)
                .unwrap_err(),
            InputError::UnsupportedMediaType(_)
        ));
        assert!(matches!(
            parse_bundle(br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#)
                .unwrap_err(),
            InputError::InvalidBundle(_)
        ));
        assert!(matches!(
            parse_bundle(br#"{"base64Signature":"AAAA"}"#).unwrap_err(),
            InputError::NoCertificate
        ));
    }
}
