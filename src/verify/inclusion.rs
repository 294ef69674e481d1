//! The log entry's inclusion proof and signed checkpoint, checked once.
//!
//! sigstore-verify 0.15.1 verifies a Rekor v1 entry's SET twice per bundle:
//! once to take its integrated time as a signing time, and again in its
//! transparency-log step together with the inclusion proof and checkpoint.
//! A P-256 verification is a quarter of a file's cost, so gl-sign runs
//! sigstore-verify with that step off (`skip_tlog_unsafe`) and does the step
//! here, with the same checks and the same error values, minus the second SET
//! verification. What stands in for it (read from sigstore-verify's source):
//!
//! - the SET of a v1 entry that carries an integrated time is verified by
//!   sigstore-verify's signing-time step, which still runs and fails the
//!   bundle when that SET does not verify; the integrated time is then a
//!   verified signing time, checked against the certificate's validity by the
//!   chain step (or by [`super::cache`] when the chain result is reused) and
//!   against the log key's window by [`super::evidence`];
//! - any other inclusion promise (no integrated time, or on an entry of
//!   another kind) is refused here: nothing would verify it;
//! - the bundle-structure rule that a v0.2+ bundle carries an inclusion
//!   proof, which sigstore-verify drops with the step, is applied here.
//!
//! A checkpoint is the log's signed statement about its whole tree, not about
//! one file: copies of a bundle, and entries of one Rekor v2 batch, carry the
//! same signed note byte for byte (Rekor v1 signs each response's checkpoint
//! anew, with randomized ECDSA, so its entries rarely do). [`SignedNotes`]
//! keeps the checkpoint signatures this call has verified, so each distinct
//! one costs one signature verification. Everything
//! per entry (the Merkle proof, the root and size against the note, the key's
//! window at the signing time in [`super::evidence`]) is still checked for
//! every file.

use std::collections::HashSet;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use sigstore_crypto::Keyring;
use sigstore_types::bundle::InclusionProof;
use sigstore_types::{Bundle, Checkpoint, KindVersion, TransparencyLogEntry};
use sigstore_verify::{Error, TransparencyLogError};

/// Checkpoint signatures verified in this call, by what was verified: the
/// key hint, the signed note and the signature bytes. A pure function of
/// those inputs, checked against one fixed keyring, is remembered; no file
/// content is part of it.
pub(crate) struct SignedNotes {
    /// `None`: remember nothing (every checkpoint signature is verified).
    verified: Option<Mutex<HashSet<[u8; 32]>>>,
}

impl SignedNotes {
    pub(crate) fn new() -> Self {
        SignedNotes {
            verified: Some(Mutex::new(HashSet::new())),
        }
    }

    pub(crate) fn disabled() -> Self {
        SignedNotes { verified: None }
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.verified.is_some()
    }

    /// How many distinct checkpoint signatures were verified so far.
    pub(crate) fn len(&self) -> usize {
        self.verified
            .as_ref()
            .map_or(0, |set| set.lock().unwrap_or_else(|e| e.into_inner()).len())
    }

    /// Length-prefixed, so no two different triples share an encoding.
    fn key(hint: &[u8], message: &[u8], signature: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for part in [hint, message, signature] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    fn contains(&self, key: &[u8; 32]) -> bool {
        self.verified
            .as_ref()
            .is_some_and(|set| set.lock().unwrap_or_else(|e| e.into_inner()).contains(key))
    }

    fn insert(&self, key: [u8; 32]) {
        if let Some(set) = &self.verified {
            set.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
        }
    }
}

/// Verify every entry's Merkle inclusion proof and checkpoint signature.
pub(crate) fn verify_entries(
    bundle: &Bundle,
    rekor_keys: &Keyring,
    notes: &SignedNotes,
) -> Result<(), Error> {
    // With its log step off, sigstore-verify also stops requiring a proof
    // where the bundle version does; require it as it would with the step on.
    sigstore_bundle::validate_bundle_with_options(
        bundle,
        &sigstore_bundle::ValidationOptions::new()
            .with_require_inclusion_proof(true)
            .with_require_timestamp(false),
    )
    .map_err(Error::Bundle)?;
    for entry in &bundle.verification_material.tlog_entries {
        if let Some(proof) = &entry.inclusion_proof {
            verify_merkle_inclusion(entry, proof)?;
            verify_checkpoint(proof, is_rekor_v2(entry), rekor_keys, notes)?;
        }
        if entry.inclusion_promise.is_some() && !set_verified_as_signing_time(entry) {
            return Err(TransparencyLogError::InclusionPromise(
                "an inclusion promise is only accepted on a Rekor v1 entry with an integrated time"
                    .into(),
            )
            .into());
        }
    }
    Ok(())
}

/// The entries whose SET sigstore-verify's signing-time step verifies.
fn set_verified_as_signing_time(entry: &TransparencyLogEntry) -> bool {
    matches!(
        entry.kind_version,
        KindVersion::HashedRekordV001 | KindVersion::DsseV001 | KindVersion::IntotoV002
    ) && entry.integrated_time.is_some()
}

fn is_rekor_v2(entry: &TransparencyLogEntry) -> bool {
    entry.kind_version == KindVersion::HashedRekordV002
}

/// Rekor v2 takes index, size and root from the entry and the signed
/// checkpoint, never from the proof's unauthenticated duplicates.
fn verify_merkle_inclusion(
    entry: &TransparencyLogEntry,
    proof: &InclusionProof,
) -> Result<(), Error> {
    let (leaf_index, tree_size, root_hash) = if is_rekor_v2(entry) {
        let checkpoint = proof.checkpoint.checkpoint().ok_or_else(|| {
            TransparencyLogError::Checkpoint("Rekor v2 inclusion proof has no checkpoint".into())
        })?;
        (
            entry.log_index.get(),
            checkpoint.tree_size(),
            *checkpoint.root_hash(),
        )
    } else {
        (proof.log_index.get(), proof.tree_size, proof.root_hash)
    };
    let leaf_hash = sigstore_merkle::hash_leaf(entry.canonicalized_body.as_bytes());
    sigstore_merkle::verify_inclusion_proof(
        &leaf_hash,
        leaf_index,
        tree_size,
        &proof.hashes,
        &root_hash,
    )
    .map_err(|e| {
        TransparencyLogError::InclusionProof(format!("inclusion proof verification failed: {e}"))
            .into()
    })
}

/// The checkpoint must be signed by a trusted log key (hints may collide, so
/// every key with the hint is tried); v1 also requires its root to be the
/// proof's root.
fn verify_checkpoint(
    proof: &InclusionProof,
    is_v2: bool,
    rekor_keys: &Keyring,
    notes: &SignedNotes,
) -> Result<(), Error> {
    let checkpoint_error = |detail: String| Error::from(TransparencyLogError::Checkpoint(detail));
    let checkpoint = Checkpoint::from_text(proof.checkpoint.envelope())
        .map_err(|e| checkpoint_error(format!("Failed to parse checkpoint: {e}")))?;
    if !is_v2 && checkpoint.root_hash().as_bytes() != proof.root_hash.as_bytes() {
        return Err(checkpoint_error(format!(
            "Checkpoint root hash mismatch: expected {}, got {}",
            checkpoint.root_hash().to_hex(),
            proof.root_hash.to_hex()
        )));
    }
    let message = checkpoint.signed_data();
    let now = jiff::Timestamp::now();
    let mut found_matching_key = false;
    for signature in checkpoint.signatures() {
        let memo = SignedNotes::key(
            signature.key_id.as_bytes(),
            message,
            signature.signature.as_bytes(),
        );
        // A key with the hint must still be trusted now; then these exact
        // bytes, verified earlier in this call by this keyring, need no repeat.
        let remembered = notes.contains(&memo);
        for key in rekor_keys.keys_by_hint(&signature.key_id, now) {
            found_matching_key = true;
            if remembered {
                return Ok(());
            }
            if key.verify(message, &signature.signature).is_ok() {
                notes.insert(memo);
                return Ok(());
            }
        }
    }
    Err(checkpoint_error(
        if found_matching_key {
            "No valid Rekor signature found on checkpoint"
        } else {
            "No matching Rekor key found for checkpoint signature"
        }
        .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigstore_trust_root::TrustedRoot;

    const PROD_ROOT: &str = include_str!("../../tests/data/vectors/trusted_root.prod.json");
    const STAGING_ROOT: &str = include_str!("../../tests/data/vectors/trusted_root.staging.json");
    const V1: &str =
        include_str!("../../tests/data/vectors/bundles/conf-happy-path-v0.3.sigstore.json");
    const V2: &str =
        include_str!("../../tests/data/vectors/bundles/conf-rekor2-happy-path.sigstore.json");

    /// The keys of every log in both roots: the Rekor v2 vector is staging's.
    fn keys() -> Keyring {
        let mut root = TrustedRoot::from_json(PROD_ROOT).unwrap();
        let staging = TrustedRoot::from_json(STAGING_ROOT).unwrap();
        root.tlogs.extend(staging.tlogs);
        root.rekor_keys().unwrap()
    }

    /// `bundle` with `edit` applied to its one tlog entry's JSON.
    fn mutated(bundle: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Bundle {
        let mut json: serde_json::Value = serde_json::from_str(bundle).unwrap();
        edit(&mut json["verificationMaterial"]["tlogEntries"][0]);
        Bundle::from_json(&json.to_string()).unwrap()
    }

    fn log_error(bundle: &Bundle) -> TransparencyLogError {
        match verify_entries(bundle, &keys(), &SignedNotes::new()) {
            Err(Error::TransparencyLog(e)) => e,
            other => panic!("expected a transparency-log error, got {other:?}"),
        }
    }

    #[test]
    fn real_v1_and_v2_entries_verify() {
        for bundle in [V1, V2] {
            verify_entries(
                &Bundle::from_json(bundle).unwrap(),
                &keys(),
                &SignedNotes::new(),
            )
            .unwrap();
        }
    }

    #[test]
    fn a_promise_without_integrated_time_is_refused() {
        // Nothing else would verify this SET: sigstore-verify's signing-time
        // step only takes promises with a time.
        let bundle = mutated(V1, |entry| {
            entry.as_object_mut().unwrap().remove("integratedTime");
        });
        assert!(
            matches!(log_error(&bundle), TransparencyLogError::InclusionPromise(m) if m.contains("integrated time"))
        );
    }

    #[test]
    fn a_promise_on_a_rekor_v2_entry_is_refused() {
        let promise = serde_json::from_str::<serde_json::Value>(V1).unwrap()
            ["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]
            .clone();
        let bundle = mutated(V2, |entry| entry["inclusionPromise"] = promise);
        assert!(matches!(
            log_error(&bundle),
            TransparencyLogError::InclusionPromise(_)
        ));
    }

    #[test]
    fn a_v03_bundle_without_an_inclusion_proof_is_refused() {
        let bundle = mutated(V1, |entry| {
            entry.as_object_mut().unwrap().remove("inclusionProof");
        });
        assert!(matches!(
            verify_entries(&bundle, &keys(), &SignedNotes::new()),
            Err(Error::Bundle(_))
        ));
    }

    #[test]
    fn a_wrong_proof_hash_is_refused() {
        let bundle = mutated(V1, |entry| {
            let hashes = entry["inclusionProof"]["hashes"].as_array_mut().unwrap();
            hashes.swap(0, 1);
        });
        assert!(matches!(
            log_error(&bundle),
            TransparencyLogError::InclusionProof(_)
        ));
    }

    #[test]
    fn a_checkpoint_not_signed_by_the_log_is_refused() {
        for bundle in [V1, V2] {
            let bundle = mutated(bundle, |entry| {
                let envelope = entry["inclusionProof"]["checkpoint"]["envelope"]
                    .as_str()
                    .unwrap()
                    .to_string();
                // Same note, one byte of the origin line changed: the
                // signature no longer covers it.
                let changed = envelope.replacen('.', "-", 1);
                assert_ne!(changed, envelope);
                entry["inclusionProof"]["checkpoint"]["envelope"] = changed.into();
            });
            assert!(matches!(
                log_error(&bundle),
                TransparencyLogError::Checkpoint(m) if m.contains("No valid Rekor signature")
            ));
        }
    }

    #[test]
    fn a_v1_proof_root_other_than_the_checkpoint_root_is_refused() {
        let bundle = mutated(V1, |entry| {
            // A valid-looking root that is not the checkpoint's.
            entry["inclusionProof"]["rootHash"] = entry["inclusionProof"]["hashes"][0].clone();
        });
        // The structure check sees it first, as in sigstore-verify.
        let error = verify_entries(&bundle, &keys(), &SignedNotes::new());
        assert!(matches!(error, Err(Error::Bundle(_))), "{error:?}");
    }

    #[test]
    fn a_remembered_checkpoint_still_binds_its_exact_bytes() {
        let notes = SignedNotes::new();
        for _ in 0..3 {
            verify_entries(&Bundle::from_json(V1).unwrap(), &keys(), &notes).unwrap();
        }
        assert_eq!(notes.len(), 1, "one distinct checkpoint, verified once");
        // After the good note is remembered: the same note with another
        // signature, and another note with the good signature, are refused.
        let envelope = |bundle: &str| {
            serde_json::from_str::<serde_json::Value>(bundle).unwrap()["verificationMaterial"]
                ["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let good = envelope(V1);
        let (note, signature_line) = good.split_once("\n\n").unwrap();
        let (prefix, signature) = signature_line.trim_end().rsplit_once(' ').unwrap();
        let mut raw =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, signature).unwrap();
        *raw.last_mut().unwrap() ^= 1;
        let other_signature = format!(
            "{note}\n\n{prefix} {}\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &raw)
        );
        let other_note = good.replacen('.', "-", 1);
        for changed in [other_signature, other_note] {
            assert_ne!(changed, good);
            let bundle = mutated(V1, |entry| {
                entry["inclusionProof"]["checkpoint"]["envelope"] = changed.clone().into();
            });
            assert!(matches!(
                verify_entries(&bundle, &keys(), &notes),
                Err(Error::TransparencyLog(TransparencyLogError::Checkpoint(m))) if m.contains("No valid Rekor signature")
            ));
        }
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn a_remembered_checkpoint_needs_its_key_in_the_keyring() {
        let notes = SignedNotes::new();
        verify_entries(&Bundle::from_json(V1).unwrap(), &keys(), &notes).unwrap();
        let staging_only = TrustedRoot::from_json(STAGING_ROOT)
            .unwrap()
            .rekor_keys()
            .unwrap();
        assert!(matches!(
            verify_entries(&Bundle::from_json(V1).unwrap(), &staging_only, &notes),
            Err(Error::TransparencyLog(TransparencyLogError::Checkpoint(m))) if m.contains("No matching Rekor key")
        ));
    }
}
