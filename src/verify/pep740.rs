//! PEP 740 attestations, in the exact form pypi-attestations and PyPI read.
//!
//! An attestation is a Sigstore bundle with the chain, payload type and TSA
//! timestamps dropped: `{version: 1, verification_material: {certificate,
//! transparency_entries}, envelope: {statement, signature}}`. It is turned back
//! into a v0.3 bundle with a DSSE envelope (as `Attestation.to_bundle` does)
//! and verified like any bundle. What PyPI refuses is refused here too, so an
//! attestation gl-sign accepts is one PyPI accepts: int64s as JSON numbers, a
//! missing SET or inclusion proof, more or fewer than one subject, an uppercase
//! digest, a predicate type PyPI does not know.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sigstore_crypto::FulcioCiClaims;
use sigstore_types::{Bundle, TransparencyLogEntry};

use super::attestation::{self, AttestationViolation, Statement, IN_TOTO_PAYLOAD_TYPE};
use super::policy::{Extension, PolicyViolation};
use crate::ci::GitLabSigner;

/// PyPI's publish attestation (`predicate: null`).
pub const PUBLISH_V1: &str = "https://docs.pypi.org/attestations/publish/v1";
/// SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// The only predicate types PyPI accepts (warehouse `SUPPORTED_ATTESTATION_TYPES`).
pub const SUPPORTED_PREDICATE_TYPES: [&str; 2] = [PUBLISH_V1, SLSA_PROVENANCE_V1];

/// One PEP 740 attestation object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attestation {
    pub version: u64,
    pub verification_material: VerificationMaterial,
    pub envelope: Envelope,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationMaterial {
    /// Standard padded base64 of the DER leaf certificate.
    pub certificate: String,
    /// Protobuf-JSON transparency log entries (int64s as strings).
    pub transparency_entries: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Base64 of the exact statement bytes that were signed.
    pub statement: String,
    /// Base64 of the DER signature over the DSSE PAE.
    pub signature: String,
}

/// Why an attestation file cannot be read (exit 2, as for a malformed bundle).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Pep740Error {
    #[error("not a PEP 740 attestation object: {0}")]
    Shape(String),
    #[error("expected attestation version 1, found {0}")]
    Version(u64),
    #[error("{0} is not standard padded base64")]
    Base64(&'static str),
    #[error("expected one transparency log entry, found {0}")]
    EntryCount(usize),
    #[error("transparency entry field {0} must be a string holding an integer (protobuf JSON), found a JSON number; PyPI refuses it")]
    IntegerAsNumber(String),
    #[error("the transparency log entry has no {0}; PyPI requires it")]
    MissingEvidence(&'static str),
    #[error("the attestation does not make a valid Sigstore bundle: {0}")]
    Bundle(String),
}

crate::register_hint!(Pep740Error);

impl crate::diagnostics::Hint for Pep740Error {
    fn hint(&self) -> Option<String> {
        match self {
            Pep740Error::IntegerAsNumber(_) | Pep740Error::Base64(_) => Some(
                "the attestation was not written as protobuf JSON; make it again with gl-sign attest or pypi-attestations"
                    .into(),
            ),
            Pep740Error::MissingEvidence(_) => Some(
                "PyPI needs the log's signed entry timestamp and inclusion proof; a Rekor v2 entry has neither yet"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Parse an attestation file.
pub fn parse(bytes: &[u8]) -> Result<Attestation, Pep740Error> {
    let attestation: Attestation =
        serde_json::from_slice(bytes).map_err(|e| Pep740Error::Shape(e.to_string()))?;
    if attestation.version != 1 {
        return Err(Pep740Error::Version(attestation.version));
    }
    Ok(attestation)
}

impl Attestation {
    /// The statement bytes, as signed.
    pub fn statement_bytes(&self) -> Result<Vec<u8>, Pep740Error> {
        STANDARD
            .decode(&self.envelope.statement)
            .map_err(|_| Pep740Error::Base64("envelope.statement"))
    }

    /// The Sigstore bundle this attestation stands for: v0.3, leaf certificate,
    /// the one log entry, and a DSSE envelope with the in-toto payload type.
    pub fn to_bundle(&self) -> Result<Bundle, Pep740Error> {
        let material = &self.verification_material;
        STANDARD
            .decode(&material.certificate)
            .map_err(|_| Pep740Error::Base64("verification_material.certificate"))?;
        STANDARD
            .decode(&self.envelope.signature)
            .map_err(|_| Pep740Error::Base64("envelope.signature"))?;
        self.statement_bytes()?;
        if material.transparency_entries.len() != 1 {
            return Err(Pep740Error::EntryCount(material.transparency_entries.len()));
        }
        let entry = camel_case_keys(&material.transparency_entries[0]);
        check_entry(&entry)?;
        let bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": material.certificate},
                "tlogEntries": [entry],
            },
            "dsseEnvelope": {
                "payload": self.envelope.statement,
                "payloadType": IN_TOTO_PAYLOAD_TYPE,
                "signatures": [{"sig": self.envelope.signature}],
            },
        });
        Bundle::deserialize(&bundle).map_err(|e| Pep740Error::Bundle(e.to_string()))
    }

    /// The attestation as evidence to verify: its bundle, verified as a PEP 740
    /// attestation.
    pub fn to_evidence(&self) -> Result<super::Evidence, Pep740Error> {
        Ok(super::Evidence::Bundle {
            bundle: Box::new(self.to_bundle()?),
            kind: super::EvidenceKind::Pep740Attestation,
        })
    }

    /// The attestation for a signed statement and its log entry, as
    /// `Attestation.from_bundle` writes it.
    pub fn from_parts(
        certificate_der: &[u8],
        statement: &[u8],
        signature: &[u8],
        entry: &TransparencyLogEntry,
    ) -> Result<Attestation, Pep740Error> {
        let entry = serde_json::to_value(entry).map_err(|e| Pep740Error::Bundle(e.to_string()))?;
        Ok(Attestation {
            version: 1,
            verification_material: VerificationMaterial {
                certificate: STANDARD.encode(certificate_der),
                transparency_entries: vec![entry],
            },
            envelope: Envelope {
                statement: STANDARD.encode(statement),
                signature: STANDARD.encode(signature),
            },
        })
    }
}

/// pypi-attestations accepts snake_case keys (protobuf JSON does); the bundle
/// parser wants camelCase.
fn camel_case_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let mut key = String::with_capacity(k.len());
                    let mut upper = false;
                    for c in k.chars() {
                        if c == '_' && !key.is_empty() {
                            upper = true;
                        } else if upper {
                            key.extend(c.to_uppercase());
                            upper = false;
                        } else {
                            key.push(c);
                        }
                    }
                    (key, camel_case_keys(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(camel_case_keys).collect()),
        other => other.clone(),
    }
}

/// What PyPI requires of the entry beyond what the bundle parser checks.
fn check_entry(entry: &Value) -> Result<(), Pep740Error> {
    for pointer in [
        "/logIndex",
        "/integratedTime",
        "/inclusionProof/logIndex",
        "/inclusionProof/treeSize",
    ] {
        if entry.pointer(pointer).is_some_and(Value::is_number) {
            return Err(Pep740Error::IntegerAsNumber(pointer[1..].replace('/', ".")));
        }
    }
    if entry
        .pointer("/inclusionPromise/signedEntryTimestamp")
        .is_none()
    {
        return Err(Pep740Error::MissingEvidence(
            "inclusionPromise (signed entry timestamp)",
        ));
    }
    if entry
        .pointer("/inclusionProof/checkpoint/envelope")
        .is_none()
    {
        return Err(Pep740Error::MissingEvidence(
            "inclusionProof with a checkpoint",
        ));
    }
    Ok(())
}

/// PyPI's subject rules on a statement already checked by
/// [`attestation::check`]: exactly one subject, its digest lowercase hex.
pub fn check_subject(statement: &Statement) -> Result<(), AttestationViolation> {
    if statement.subjects.len() != 1 {
        return Err(AttestationViolation::SubjectCount(statement.subjects.len()));
    }
    let subject = &statement.subjects[0];
    if subject
        .sha256
        .as_deref()
        .is_some_and(|d| d.chars().any(|c| c.is_ascii_uppercase()))
    {
        return Err(AttestationViolation::Subject {
            expected: format!(
                "{} with a lowercase sha256 (PyPI compares it as text)",
                subject.name
            ),
            found: statement.subjects.clone(),
        });
    }
    Ok(())
}

/// What PyPI's GitLab publisher policy checks on the certificate, for the
/// project and CI file in `signer` (pypi-attestations
/// `_GitLabTrustedPublisherPolicy`): the source repository URI is the project,
/// and the build config URI is the project's CI file at the commit (.1.13) or
/// the ref (.1.14), both of which must be present. The issuer is checked by the
/// identity policy.
pub fn check_gitlab_publisher(
    signer: &GitLabSigner,
    claims: &FulcioCiClaims,
) -> Result<(), PolicyViolation> {
    let repository = format!("{}/{}", signer.server_url, signer.project_path);
    if claims.source_repository_uri.as_deref() != Some(repository.as_str()) {
        return Err(PolicyViolation::Extension {
            extension: Extension::SourceRepositoryUri,
            expected: repository,
            found: claims.source_repository_uri.clone(),
        });
    }
    let required = |extension: Extension, value: &Option<String>| match value {
        Some(v) => Ok(v.clone()),
        None => Err(PolicyViolation::Extension {
            extension,
            expected: "a value (PyPI requires it)".into(),
            found: None,
        }),
    };
    let digest = required(
        Extension::SourceRepositoryDigest,
        &claims.source_repository_digest,
    )?;
    let git_ref = required(
        Extension::SourceRepositoryRef,
        &claims.source_repository_ref,
    )?;
    let prefix = signer.identity_prefix();
    let at_commit = format!("{prefix}{digest}");
    let at_ref = format!("{prefix}{git_ref}");
    let found = claims.build_config_uri.as_deref();
    if found != Some(at_commit.as_str()) && found != Some(at_ref.as_str()) {
        return Err(PolicyViolation::Extension {
            extension: Extension::BuildConfigUri,
            expected: format!("{at_ref} or {at_commit}"),
            found: found.map(str::to_string),
        });
    }
    Ok(())
}

/// The in-toto statement of an attestation, for callers that show it.
pub fn statement(attestation: &Attestation) -> Result<Statement, AttestationViolation> {
    let bytes = attestation.statement_bytes().map_err(|e| {
        AttestationViolation::Statement(attestation::StatementError::NotStatement(e.to_string()))
    })?;
    attestation::parse_statement(IN_TOTO_PAYLOAD_TYPE, &bytes)
        .map_err(AttestationViolation::Statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/vectors/pep740")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn real_attestation_round_trips_through_a_bundle() {
        let bytes = vector("gitlab_oidc_project-0.0.3.tar.gz.publish.attestation");
        let attestation = parse(&bytes).unwrap();
        let bundle = attestation.to_bundle().unwrap();
        let sigstore_types::SignatureContent::DsseEnvelope(envelope) = &bundle.content else {
            panic!("not DSSE")
        };
        let entry = &bundle.verification_material.tlog_entries[0];
        let cert = bundle.signing_certificate().unwrap().as_bytes().to_vec();
        let back = Attestation::from_parts(
            &cert,
            envelope.payload.as_bytes(),
            envelope.signature.sig.as_bytes(),
            entry,
        )
        .unwrap();
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), original);
    }

    #[test]
    fn gitlab_publisher_needs_repository_and_config_at_commit_or_ref() {
        let signer =
            GitLabSigner::new("https://gitlab.com", "g/p", ".gitlab-ci.yml", None).unwrap();
        let mut claims = FulcioCiClaims::default();
        claims.source_repository_uri = Some("https://gitlab.com/g/p".into());
        claims.source_repository_digest = Some("abc".into());
        claims.source_repository_ref = Some("refs/tags/v1".into());
        claims.build_config_uri =
            Some("https://gitlab.com/g/p//.gitlab-ci.yml@refs/tags/v1".into());
        check_gitlab_publisher(&signer, &claims).unwrap();
        let mut at_commit = claims.clone();
        at_commit.build_config_uri = Some("https://gitlab.com/g/p//.gitlab-ci.yml@abc".into());
        check_gitlab_publisher(&signer, &at_commit).unwrap();
        let mut other_file = claims.clone();
        other_file.build_config_uri =
            Some("https://gitlab.com/g/p//ci/other.yml@refs/tags/v1".into());
        let err = check_gitlab_publisher(&signer, &other_file).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected build config URI (1.3.6.1.4.1.57264.1.18) https://gitlab.com/g/p//.gitlab-ci.yml@refs/tags/v1 or \
             https://gitlab.com/g/p//.gitlab-ci.yml@abc, certificate has https://gitlab.com/g/p//ci/other.yml@refs/tags/v1"
        );
        let mut other_repo = claims.clone();
        other_repo.source_repository_uri = Some("https://gitlab.com/g/q".into());
        assert!(check_gitlab_publisher(&signer, &other_repo)
            .unwrap_err()
            .to_string()
            .contains("source repository URI (1.3.6.1.4.1.57264.1.12) https://gitlab.com/g/p, certificate has https://gitlab.com/g/q"));
        let mut no_digest = claims;
        no_digest.source_repository_digest = None;
        assert!(check_gitlab_publisher(&signer, &no_digest)
            .unwrap_err()
            .to_string()
            .contains("source repository digest (1.3.6.1.4.1.57264.1.13) a value (PyPI requires it), certificate has no such extension"));
    }

    #[test]
    fn refuses_what_pypi_refuses() {
        let bytes = vector("gitlab_oidc_project-0.0.3.tar.gz.publish.attestation");
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        let mutate = |f: &dyn Fn(&mut Value)| {
            let mut v = original.clone();
            f(&mut v);
            parse(v.to_string().as_bytes()).and_then(|a| a.to_bundle())
        };
        let entry = "/verification_material/transparency_entries/0";
        assert_eq!(
            mutate(&|v| v["version"] = json!(2)).unwrap_err(),
            Pep740Error::Version(2)
        );
        assert_eq!(
            mutate(&|v| {
                let e = v.pointer_mut(entry).unwrap();
                e["logIndex"] = json!(149945774u64);
            })
            .unwrap_err(),
            Pep740Error::IntegerAsNumber("logIndex".into())
        );
        assert!(matches!(
            mutate(&|v| {
                v.pointer_mut(entry)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove("inclusionPromise");
            })
            .unwrap_err(),
            Pep740Error::MissingEvidence(_)
        ));
        assert_eq!(
            mutate(&|v| v["verification_material"]["transparency_entries"] = json!([]))
                .unwrap_err(),
            Pep740Error::EntryCount(0)
        );
        assert_eq!(
            mutate(&|v| {
                let c = v["verification_material"]["certificate"].as_str().unwrap();
                v["verification_material"]["certificate"] = json!(c.trim_end_matches('='));
            })
            .unwrap_err(),
            Pep740Error::Base64("verification_material.certificate")
        );
        // snake_case keys are protobuf JSON too.
        mutate(&|v| {
            let e = v.pointer_mut(entry).unwrap().as_object_mut().unwrap();
            let index = e.remove("logIndex").unwrap();
            e.insert("log_index".into(), index);
        })
        .unwrap();
    }
}
