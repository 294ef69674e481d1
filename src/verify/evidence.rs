//! Checks gl-sign adds on top of sigstore-verify, so that every piece of
//! transparency-log evidence in a bundle is either verified or refused.
//!
//! sigstore-verify 0.15.1 leaves these open (read from its source):
//! - an entry with neither inclusion proof nor SET is skipped silently, so an
//!   invented extra entry rides along (and was reported as the proof);
//! - a checkpoint verifies with *any* trusted log key whose hint matches, not
//!   with the key of the entry's log ID, and the key only has to have started
//!   by now (expired keys count);
//! - a Rekor v1 proof's tree size, and a v2 proof's root/size/index fields,
//!   are not compared with the signed checkpoint;
//! - the checkpoint origin is not bound to the log;
//! - a v0.1/v0.2 chain that carries the self-signed root is accepted.
//!
//! Structural checks run before the cryptography ([`check_structure`]); the
//! time-window check needs the verified signing times and runs after
//! ([`check_log_key_window`]).

use sigstore_trust_root::{TransparencyLog, TrustedRoot};
use sigstore_types::bundle::VerificationMaterialContent;
use sigstore_types::{Bundle, KindVersion, TimeRange, TransparencyLogEntry};

/// Evidence that is well formed but must not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("expected exactly one transparency log entry, the bundle has {found}")]
    EntryCount { found: usize },
    #[error("the log entry carries neither an inclusion proof nor a signed entry timestamp (SET), so nothing proves it was logged")]
    Unproven,
    #[error("the log entry names log ID {log_id}, which the trusted root does not list")]
    UnknownLog { log_id: String },
    #[error("the inclusion proof has no signed checkpoint")]
    NoCheckpoint,
    #[error("the inclusion proof's {field} is {found}, but the signed checkpoint says {expected}")]
    ProofDisagrees {
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error(
        "the checkpoint is for log {found:?}, expected the log at {expected} (the entry's log ID)"
    )]
    WrongOrigin { expected: String, found: String },
    #[error("the checkpoint is not signed by the entry's log (key hint {expected}); it carries signatures with hints {found}")]
    CheckpointSigner { expected: String, found: String },
    #[error("the checkpoint carries a signature by another trusted log (key hint {other}) next to the entry's log; refusing ambiguous evidence")]
    CheckpointOtherLog { other: String },
    #[error("the log key of {log} is valid {window}, but the signature was made at {signed_at}")]
    LogKeyOutsideWindow {
        log: String,
        window: String,
        signed_at: String,
    },
    #[error("the certificate chain in the bundle includes a self-signed root ({subject}); the bundle format forbids it, the trusted root supplies roots")]
    ChainHasRoot { subject: String },
}

/// The trusted log that an entry claims, by log ID.
pub fn log_of<'r>(
    root: &'r TrustedRoot,
    entry: &TransparencyLogEntry,
) -> Option<&'r TransparencyLog> {
    root.tlogs
        .iter()
        .find(|log| log.log_id.key_id.as_bytes() == entry.log_id.key_id.as_bytes())
}

/// Everything that can be checked before any signature is verified.
pub fn check_structure(bundle: &Bundle, root: &TrustedRoot) -> Result<(), EvidenceError> {
    check_chain(bundle)?;
    let entries = &bundle.verification_material.tlog_entries;
    // sigstore-python refuses anything but one entry too; a second entry is
    // either unverified (then it must not be reported) or redundant.
    let [entry] = entries.as_slice() else {
        return Err(EvidenceError::EntryCount {
            found: entries.len(),
        });
    };
    if entry.inclusion_proof.is_none() && entry.inclusion_promise.is_none() {
        return Err(EvidenceError::Unproven);
    }
    let log = log_of(root, entry).ok_or_else(|| EvidenceError::UnknownLog {
        log_id: hex::encode(entry.log_id.key_id.as_bytes()),
    })?;
    if let Some(proof) = &entry.inclusion_proof {
        let checkpoint = proof
            .checkpoint
            .checkpoint()
            .ok_or(EvidenceError::NoCheckpoint)?;
        let disagree = |field, expected: String, found: String| {
            Err(EvidenceError::ProofDisagrees {
                field,
                expected,
                found,
            })
        };
        if proof.tree_size != checkpoint.tree_size() {
            return disagree(
                "tree size",
                checkpoint.tree_size().to_string(),
                proof.tree_size.to_string(),
            );
        }
        if proof.root_hash.as_bytes() != checkpoint.root_hash().as_bytes() {
            return disagree(
                "root hash",
                checkpoint.root_hash().to_hex(),
                proof.root_hash.to_hex(),
            );
        }
        // Rekor v1 proves `proof.logIndex`; v2 the entry's own index. Both
        // must name the same leaf, or the reported index is not what was proven.
        if proof.log_index.get() != entry.log_index.get() && !is_v1_sharded_index(entry) {
            return disagree(
                "log index",
                entry.log_index.get().to_string(),
                proof.log_index.get().to_string(),
            );
        }
        check_origin(log, checkpoint.origin())?;
        check_checkpoint_signer(root, log, checkpoint)?;
    }
    Ok(())
}

/// Rekor v1 reports a global `logIndex` on the entry and the shard-local
/// index in the proof (`conf-happy-path-v0.3`: 79571823 vs 75408392), so for
/// v1 the two legitimately differ; the proof's index is the one the Merkle
/// check uses and the SET binds the entry's.
fn is_v1_sharded_index(entry: &TransparencyLogEntry) -> bool {
    entry.kind_version != KindVersion::HashedRekordV002
}

/// The checkpoint's origin line must name the entry's log: Rekor v1 writes
/// `<host> - <tree id>`, Rekor v2 `<host>`.
fn check_origin(log: &TransparencyLog, origin: &str) -> Result<(), EvidenceError> {
    let authority = log
        .base_url
        .split_once("://")
        .map_or(log.base_url.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    // A root without baseUrl gives nothing to bind to; the key binding below
    // still holds.
    if authority.is_empty() {
        return Ok(());
    }
    let matches = origin == authority
        || origin
            .strip_prefix(authority)
            .is_some_and(|rest| rest.starts_with(" - "));
    if matches {
        Ok(())
    } else {
        Err(EvidenceError::WrongOrigin {
            expected: log.base_url.clone(),
            found: origin.to_string(),
        })
    }
}

/// sigstore-verify accepts the checkpoint when any trusted key whose 4-byte
/// hint matches one of its signatures verifies. Requiring that the entry's
/// log has a signature, and that no other trusted log does, leaves the
/// entry's log key as the only key that can have verified it, without a
/// second signature check per file.
fn check_checkpoint_signer(
    root: &TrustedRoot,
    log: &TransparencyLog,
    checkpoint: &sigstore_types::Checkpoint,
) -> Result<(), EvidenceError> {
    let hint_of = |l: &TransparencyLog| {
        let id = l.log_id.key_id.as_bytes();
        [id[0], id[1], id[2], id[3]]
    };
    let own = hint_of(log);
    // Another trusted log sharing the hint would make the binding ambiguous.
    let colliding = root.tlogs.iter().any(|other| {
        other.log_id.key_id.as_bytes() != log.log_id.key_id.as_bytes() && hint_of(other) == own
    });
    let hints: Vec<[u8; 4]> = checkpoint
        .signatures()
        .iter()
        .map(|s| *s.key_id.as_bytes())
        .collect();
    if !hints.contains(&own) || colliding {
        return Err(EvidenceError::CheckpointSigner {
            expected: hex::encode(own),
            found: hints.iter().map(hex::encode).collect::<Vec<_>>().join(", "),
        });
    }
    for hint in &hints {
        if *hint != own && root.tlogs.iter().any(|l| hint_of(l) == *hint) {
            return Err(EvidenceError::CheckpointOtherLog {
                other: hex::encode(hint),
            });
        }
    }
    Ok(())
}

/// A v0.1/v0.2 chain must stop below the root: the trusted root supplies it.
fn check_chain(bundle: &Bundle) -> Result<(), EvidenceError> {
    let certificates: Vec<&[u8]> = match &bundle.verification_material.content {
        VerificationMaterialContent::X509CertificateChain { certificates } => certificates
            .iter()
            .map(|c| c.raw_bytes.as_bytes())
            .collect(),
        VerificationMaterialContent::Certificate(c) => vec![c.raw_bytes.as_bytes()],
        _ => Vec::new(),
    };
    for der in certificates {
        // Unparsable certificates are left to the chain verification.
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) {
            // Self-issued is what a root is; Fulcio's chains have no
            // self-issued intermediates.
            if cert.subject() == cert.issuer() {
                return Err(EvidenceError::ChainHasRoot {
                    subject: cert.subject().to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The entry's log key must have been valid at every verified signing time;
/// sigstore-verify checks this for the SET key only, not the checkpoint key.
pub fn check_log_key_window(
    bundle: &Bundle,
    root: &TrustedRoot,
    signed_at: &[jiff::Timestamp],
) -> Result<(), EvidenceError> {
    for entry in &bundle.verification_material.tlog_entries {
        let log = log_of(root, entry).ok_or_else(|| EvidenceError::UnknownLog {
            log_id: hex::encode(entry.log_id.key_id.as_bytes()),
        })?;
        if let Some(window) = log.public_key.valid_for {
            for t in signed_at {
                if !window.contains(*t) {
                    return Err(EvidenceError::LogKeyOutsideWindow {
                        log: log.base_url.clone(),
                        window: describe_window(&window),
                        signed_at: t.to_string(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn describe_window(window: &TimeRange) -> String {
    match window.end {
        Some(end) => format!("from {} to {}", window.start, end),
        None => format!("from {}", window.start),
    }
}

crate::register_hint!(none EvidenceError);
