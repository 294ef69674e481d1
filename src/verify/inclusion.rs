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

use sigstore_crypto::Keyring;
use sigstore_types::bundle::InclusionProof;
use sigstore_types::{Bundle, Checkpoint, KindVersion, TransparencyLogEntry};
use sigstore_verify::{Error, TransparencyLogError};

/// Verify every entry's Merkle inclusion proof and checkpoint signature.
pub(crate) fn verify_entries(bundle: &Bundle, rekor_keys: &Keyring) -> Result<(), Error> {
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
            verify_checkpoint(proof, is_rekor_v2(entry), rekor_keys)?;
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
        for key in rekor_keys.keys_by_hint(&signature.key_id, now) {
            found_matching_key = true;
            if key.verify(message, &signature.signature).is_ok() {
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
        match verify_entries(bundle, &keys()) {
            Err(Error::TransparencyLog(e)) => e,
            other => panic!("expected a transparency-log error, got {other:?}"),
        }
    }

    #[test]
    fn real_v1_and_v2_entries_verify() {
        for bundle in [V1, V2] {
            verify_entries(&Bundle::from_json(bundle).unwrap(), &keys()).unwrap();
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
            verify_entries(&bundle, &keys()),
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
        let error = verify_entries(&bundle, &keys());
        assert!(matches!(error, Err(Error::Bundle(_))), "{error:?}");
    }
}
