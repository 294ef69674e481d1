//! in-toto attestations (DSSE envelopes) are not blob signatures.
//!
//! A DSSE bundle signs a *statement* about its subjects, not the file's bytes:
//! upstream verification binds a file to it only by digest, whatever the
//! predicate says. So a DSSE bundle is accepted only when the caller asked for
//! an attestation of one predicate type (cosign's `verify-blob-attestation
//! --type`), and then the statement's predicate type must be that one and one
//! subject must carry both the file's sha256 and its name.
//!
//! The statement is read from the envelope before the signature is checked; a
//! mismatch only ever rejects, and acceptance still needs every Sigstore check.

use serde::Deserialize;
use serde_json::Value;

/// DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// in-toto Statement v0.1, still written by older cosign versions.
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// An in-toto statement (v1 field names).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub statement_type: String,
    pub subjects: Vec<Subject>,
    pub predicate_type: String,
    /// `null` or absent is `None`.
    pub predicate: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub name: String,
    /// Lowercase hex as written, if the subject has a sha256 digest.
    pub sha256: Option<String>,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sha256 {
            Some(d) => write!(f, "{} (sha256 {d})", self.name),
            None => write!(f, "{} (no sha256)", self.name),
        }
    }
}

#[derive(Deserialize)]
struct RawStatement {
    #[serde(rename = "_type")]
    statement_type: String,
    subject: Vec<RawSubject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    #[serde(default)]
    predicate: Option<Value>,
}

#[derive(Deserialize)]
struct RawSubject {
    #[serde(default)]
    name: String,
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// Why a statement cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("expected DSSE payload type {IN_TOTO_PAYLOAD_TYPE}, found {0:?}")]
    PayloadType(String),
    #[error("the DSSE payload is not an in-toto statement: {0}")]
    NotStatement(String),
    #[error("expected in-toto statement type {STATEMENT_V1}, found {0:?}")]
    StatementType(String),
    #[error("the in-toto statement has no subject")]
    NoSubject,
    #[error("the in-toto predicate must be an object or null, found {0}")]
    PredicateShape(String),
}

/// Parse an envelope's payload as an in-toto statement.
pub fn parse_statement(payload_type: &str, payload: &[u8]) -> Result<Statement, StatementError> {
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(StatementError::PayloadType(payload_type.to_string()));
    }
    let raw: RawStatement =
        serde_json::from_slice(payload).map_err(|e| StatementError::NotStatement(e.to_string()))?;
    if raw.statement_type != STATEMENT_V1 && raw.statement_type != STATEMENT_V01 {
        return Err(StatementError::StatementType(raw.statement_type));
    }
    if raw.subject.is_empty() {
        return Err(StatementError::NoSubject);
    }
    let predicate = match raw.predicate {
        None | Some(Value::Null) => None,
        Some(object @ Value::Object(_)) => Some(object),
        Some(other) => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "a boolean",
            };
            return Err(StatementError::PredicateShape(kind.into()));
        }
    };
    Ok(Statement {
        statement_type: raw.statement_type,
        subjects: raw
            .subject
            .into_iter()
            .map(|s| Subject {
                name: s.name,
                sha256: s.digest.get("sha256").cloned(),
            })
            .collect(),
        predicate_type: raw.predicate_type,
        predicate,
    })
}

/// What a DSSE bundle must attest for one file.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The predicate types the caller accepts; `None` means none was asked for,
    /// so a DSSE bundle is refused.
    pub predicate_types: Option<&'a [String]>,
    /// The file's base name; `None` for a digest given without a file.
    pub name: Option<&'a str>,
    pub sha256: &'a [u8; 32],
}

/// The answer is "no": the statement does not attest what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationViolation {
    #[error("expected a signature over the file, found an in-toto attestation (DSSE) with predicate type {found}")]
    NotRequested { found: String },
    #[error("expected an in-toto attestation (DSSE) with predicate type {expected}, found a plain signature")]
    NotAnAttestation { expected: String },
    #[error("expected predicate type {expected}, found {found}")]
    PredicateType { expected: String, found: String },
    #[error("expected a subject {expected}, found {}", found.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Subject {
        expected: String,
        found: Vec<Subject>,
    },
    #[error("expected exactly one subject, found {0}")]
    SubjectCount(usize),
    #[error("the statement cannot be read")]
    Statement(#[source] StatementError),
}

crate::register_hint!(AttestationViolation);

impl crate::diagnostics::Hint for AttestationViolation {
    fn hint(&self) -> Option<String> {
        AttestationViolation::hint(self)
    }
}

impl AttestationViolation {
    pub fn hint(&self) -> Option<String> {
        match self {
            AttestationViolation::NotRequested { found } => Some(format!(
                "an attestation is a statement about the file, not a signature over it; to accept it as one, \
                 verify it as an attestation of {found}"
            )),
            AttestationViolation::Subject { .. } => Some(
                "an attestation names the exact file it is about; check that the file was not renamed or changed"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Check a statement against what the caller asked for.
pub fn check(statement: &Statement, expected: &Expected<'_>) -> Result<(), AttestationViolation> {
    let Some(types) = expected.predicate_types else {
        return Err(AttestationViolation::NotRequested {
            found: statement.predicate_type.clone(),
        });
    };
    if !types.contains(&statement.predicate_type) {
        return Err(AttestationViolation::PredicateType {
            expected: types.join(" or "),
            found: statement.predicate_type.clone(),
        });
    }
    let digest = hex::encode(expected.sha256);
    let matches = |s: &Subject| {
        s.sha256
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case(&digest))
            && expected.name.is_none_or(|name| s.name == name)
    };
    if !statement.subjects.iter().any(matches) {
        let wanted = match expected.name {
            Some(name) => format!("{name} (sha256 {digest})"),
            None => format!("with sha256 {digest}"),
        };
        return Err(AttestationViolation::Subject {
            expected: wanted,
            found: statement.subjects.clone(),
        });
    }
    Ok(())
}

crate::register_hint!(none StatementError);

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: [u8; 32] = [0xab; 32];

    fn statement(predicate_type: &str, name: &str, digest: &str) -> Vec<u8> {
        serde_json::json!({
            "_type": STATEMENT_V1,
            "subject": [{"name": name, "digest": {"sha256": digest}}],
            "predicateType": predicate_type,
            "predicate": null,
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn accepts_only_the_requested_type_name_and_digest() {
        let hex = hex::encode(DIGEST);
        let s = parse_statement(IN_TOTO_PAYLOAD_TYPE, &statement("p/v1", "a.whl", &hex)).unwrap();
        let types = ["p/v1".to_string()];
        let ok = Expected {
            predicate_types: Some(&types),
            name: Some("a.whl"),
            sha256: &DIGEST,
        };
        check(&s, &ok).unwrap();
        let none = Expected {
            predicate_types: None,
            ..ok.clone()
        };
        assert!(matches!(
            check(&s, &none),
            Err(AttestationViolation::NotRequested { .. })
        ));
        let other = ["q/v1".to_string()];
        let err = check(
            &s,
            &Expected {
                predicate_types: Some(&other),
                ..ok.clone()
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "expected predicate type q/v1, found p/v1");
        let err = check(
            &s,
            &Expected {
                name: Some("b.whl"),
                ..ok.clone()
            },
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("expected a subject b.whl"),
            "{err}"
        );
        let err = check(
            &s,
            &Expected {
                sha256: &[0; 32],
                ..ok
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains(&hex), "{err}");
    }

    #[test]
    fn refuses_what_is_not_a_statement() {
        let hex = hex::encode(DIGEST);
        assert!(matches!(
            parse_statement("text/plain", &statement("p", "a", &hex)),
            Err(StatementError::PayloadType(_))
        ));
        assert!(matches!(
            parse_statement(IN_TOTO_PAYLOAD_TYPE, b"{}"),
            Err(StatementError::NotStatement(_))
        ));
        let no_subject =
            br#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"p"}"#;
        assert_eq!(
            parse_statement(IN_TOTO_PAYLOAD_TYPE, no_subject),
            Err(StatementError::NoSubject)
        );
        let bad_type = br#"{"_type":"x","subject":[{"name":"a","digest":{}}],"predicateType":"p"}"#;
        assert!(matches!(
            parse_statement(IN_TOTO_PAYLOAD_TYPE, bad_type),
            Err(StatementError::StatementType(_))
        ));
        let bad_predicate = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{}}],"predicateType":"p","predicate":[1]}"#;
        assert!(matches!(
            parse_statement(IN_TOTO_PAYLOAD_TYPE, bad_predicate),
            Err(StatementError::PredicateShape(_))
        ));
    }
}
