//! One chain-and-SCT check per signing certificate per call.
//!
//! A release's files share one certificate, and its chain (two P-384
//! signatures for public-good) and SCT are most of the per-file cost. The
//! first file with a certificate gets the full check; later files with the
//! same certificate get every other check (signing times, log proof and SET,
//! integrated time inside the leaf's validity, signature, log consistency) and
//! reuse the chain result when all their verified signing times lie inside
//! the interval of times at which the full check already succeeded. Nothing
//! is ever keyed by file content.
//!
//! Why this is sound. For a bundle carrying only its leaf (no intermediates),
//! webpki builds leaf -> anchor directly, and sigstore-verify adds every
//! certificate of every CA entry as an anchor valid in that entry's
//! `validFor`. The chain check at time t passes iff t is inside the leaf's
//! validity (webpki and the explicit check) and inside the window of an
//! anchor whose key signed the leaf (webpki does not date-check anchors);
//! EKU, name and signature checks do not depend on t. If no key is an anchor
//! under two different windows ([`ChainCache::for_root`] checks this, else the
//! cache is off), the anchors holding the leaf's issuer key are all present or
//! all absent at t, so the passing set is the intersection of two intervals:
//! an interval. Success at lo and at hi implies success at every t in
//! [lo, hi], through the same anchor. The SCT check uses the leaf, that
//! anchor's key and the CT key chosen by the SCT's own timestamp: it does not
//! depend on t either. Bundles carrying intermediates may build other paths
//! and are always checked in full.

use std::collections::HashMap;
use std::sync::Mutex;

use sigstore_trust_root::TrustedRoot;
use sigstore_types::bundle::VerificationMaterialContent;
use sigstore_types::{Bundle, Sha256Hash, TimeRange};
use sigstore_verify::{VerificationPolicy, VerificationResult, Verifier};

/// How a verified file's certificate chain and SCT were established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainCheck {
    /// Checked for this file, at each of its signing times.
    Fresh,
    /// Checked in full earlier in this call for the same certificate, at
    /// signing times bracketing every signing time of this file.
    Cached,
    /// A managed-key signature: there is no certificate chain.
    NoCertificate,
}

impl ChainCheck {
    /// Whether `result` together with this check covers chain and SCT.
    pub(crate) fn established(self, result: &VerificationResult) -> bool {
        match self {
            ChainCheck::Fresh => result.certificate_verified() && result.sct_verified(),
            // The cached path ran with the chain skipped; what stands in for it
            // is the earlier full check, whose success `ChainCache` recorded.
            ChainCheck::Cached => true,
            // Never stands in for a keyless chain check.
            ChainCheck::NoCertificate => false,
        }
    }
}

/// Closed interval of signing times at which the full check succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    lo: jiff::Timestamp,
    hi: jiff::Timestamp,
}

/// Certificate DER -> interval of times its chain and SCT verified at.
pub(crate) struct ChainCache {
    /// `None`: the trusted root breaks the soundness condition; always check in full.
    entries: Option<Mutex<HashMap<Vec<u8>, Window>>>,
}

impl ChainCache {
    /// A cache for `root`, off when some CA key is an anchor under two
    /// different `validFor` windows (or a CA certificate does not parse).
    pub(crate) fn for_root(root: &TrustedRoot) -> Self {
        let entries = anchors_have_one_window(root).then(|| Mutex::new(HashMap::new()));
        ChainCache { entries }
    }

    /// A cache that never caches.
    pub(crate) fn disabled() -> Self {
        ChainCache { entries: None }
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.entries.is_some()
    }

    fn lookup(&self, leaf: &[u8]) -> Option<Window> {
        let entries = self.entries.as_ref()?;
        let map = entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(leaf).copied()
    }

    /// Widen `leaf`'s interval by `times`, at all of which the full check passed.
    fn record(&self, leaf: &[u8], times: &[jiff::Timestamp]) {
        let (Some(entries), Some(&min), Some(&max)) = (
            self.entries.as_ref(),
            times.iter().min(),
            times.iter().max(),
        ) else {
            return;
        };
        let mut map = entries.lock().unwrap_or_else(|e| e.into_inner());
        let window = map
            .entry(leaf.to_vec())
            .or_insert(Window { lo: min, hi: max });
        window.lo = window.lo.min(min);
        window.hi = window.hi.max(max);
    }

    /// Verify `bundle` over `digest` with every cryptographic check but the
    /// inclusion proof and checkpoint ([`super::inclusion`] does those),
    /// reusing this call's chain result for its certificate when that is sound.
    pub(crate) fn verify(
        &self,
        verifier: &Verifier,
        digest: Sha256Hash,
        bundle: &Bundle,
    ) -> Result<(VerificationResult, ChainCheck), sigstore_verify::Error> {
        let leaf = cacheable_leaf(bundle);
        if let Some(window) = leaf.and_then(|leaf| self.lookup(leaf)) {
            let partial = log_step_elsewhere().skip_certificate_chain();
            if let Ok(result) = verifier.verify(digest, bundle, &partial) {
                if covered(&result, window) {
                    return Ok((result, ChainCheck::Cached));
                }
            }
            // Outside the interval, or failed: the full check decides, and
            // its error is the one the user sees.
        }
        let result = verifier.verify(digest, bundle, &log_step_elsewhere())?;
        if let Some(leaf) = leaf {
            if result.certificate_verified() && result.sct_verified() {
                self.record(leaf, result.verified_timestamps());
            }
        }
        Ok((result, ChainCheck::Fresh))
    }
}

/// Every check but sigstore-verify's transparency-log step, which
/// [`super::inclusion`] runs instead (the caller must run it).
fn log_step_elsewhere() -> VerificationPolicy {
    VerificationPolicy::any_identity().skip_tlog_unsafe()
}

/// Every verified time lies in the cached interval and the leaf's validity.
fn covered(result: &VerificationResult, window: Window) -> bool {
    let (Some(cert), times) = (result.certificate(), result.verified_timestamps()) else {
        return false;
    };
    !times.is_empty()
        && times.iter().all(|&t| {
            window.lo <= t && t <= window.hi && cert.not_before <= t && t <= cert.not_after
        })
}

/// The leaf DER when the bundle carries no intermediates (see the module comment).
fn cacheable_leaf(bundle: &Bundle) -> Option<&[u8]> {
    match &bundle.verification_material.content {
        VerificationMaterialContent::Certificate(cert) => Some(cert.raw_bytes.as_bytes()),
        VerificationMaterialContent::X509CertificateChain { certificates } => {
            match certificates.as_slice() {
                [leaf] => Some(leaf.raw_bytes.as_bytes()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The soundness condition: each CA key is an anchor under one window.
fn anchors_have_one_window(root: &TrustedRoot) -> bool {
    let mut windows: HashMap<(String, Vec<u8>), Option<TimeRange>> = HashMap::new();
    for ca in &root.certificate_authorities {
        for cert in &ca.cert_chain.certificates {
            let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.raw_bytes.as_bytes())
            else {
                return false;
            };
            let key = key_identity(parsed.public_key());
            match windows.get(&key) {
                Some(seen) if *seen != ca.valid_for => return false,
                Some(_) => {}
                None => {
                    windows.insert(key, ca.valid_for);
                }
            }
        }
    }
    true
}

/// A key as the signature check sees it, whatever its SPKI encoding: EC keys
/// by curve and x coordinate (so one key in compressed and uncompressed form
/// counts once; erring towards "same key" only turns the cache off).
fn key_identity(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> (String, Vec<u8>) {
    let algorithm = spki.algorithm.algorithm.to_id_string();
    let bits = spki.subject_public_key.data.as_ref();
    let is_ec = algorithm == "1.2.840.10045.2.1";
    let key = match bits.split_first() {
        Some((4, xy)) if is_ec => xy[..xy.len() / 2].to_vec(),
        Some((2 | 3, x)) if is_ec => x.to_vec(),
        _ => bits.to_vec(),
    };
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string())
        .unwrap_or_default();
    (format!("{algorithm}/{curve}"), key)
}

#[cfg(test)]
#[path = "../../tests/support/pki.rs"]
#[allow(unused_imports)] // dead_code: the module allows it itself
mod pki;

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::pki::{self, GitLabClaims, TestSigstore};
    use super::*;
    use crate::trust::{TrustMaterial, TrustSource};
    use crate::verify::{input, BlobVerifier, IdentityPolicy, Matcher, VerifyError};

    /// Files signed with ONE key and certificate, each logged at its own time.
    struct Release {
        sigstore: TestSigstore,
        key: sigstore_crypto::KeyPair,
        cert: Vec<u8>,
        t0: SystemTime,
        _dir: tempfile::TempDir,
        root_path: std::path::PathBuf,
    }

    impl Release {
        fn new() -> Self {
            let mut sigstore = TestSigstore::new();
            // Whole seconds, as log integrated times are.
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let t0 = UNIX_EPOCH + Duration::from_secs(now - 3600);
            sigstore.set_clock(Some(t0));
            let key = sigstore_crypto::KeyPair::generate_ecdsa_p256().unwrap();
            let spki = key.public_key_der().unwrap().as_bytes().to_vec();
            let cert = sigstore.issue_certificate(&spki, &GitLabClaims::example(), t0);
            let dir = tempfile::tempdir().unwrap();
            let root_path = dir.path().join("trusted_root.json");
            std::fs::write(&root_path, sigstore.trusted_root_json()).unwrap();
            Release {
                sigstore,
                key,
                cert,
                t0,
                _dir: dir,
                root_path,
            }
        }

        /// Sign `content` and log it `after` the certificate's notBefore;
        /// returns (digest, log index).
        fn sign(&mut self, content: &[u8], after: Duration) -> ([u8; 32], u64) {
            let digest = pki::sha256(content);
            let signature = self
                .key
                .sign_digest(&Sha256Hash::new(digest))
                .unwrap()
                .as_bytes()
                .to_vec();
            self.sigstore.set_clock(Some(self.t0 + after));
            let entry = self
                .sigstore
                .log_hashedrekord(digest, &signature, &self.cert);
            (digest, entry.log_index)
        }

        /// The bundle for log entry `index`, with a proof against the current tree.
        fn bundle(&self, index: u64) -> String {
            let entry = self.sigstore.entry(index);
            let body = entry.body();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let signature = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                body["spec"]["signature"]["content"].as_str().unwrap(),
            )
            .unwrap();
            let digest: [u8; 32] =
                pki::unhex(body["spec"]["data"]["hash"]["value"].as_str().unwrap())
                    .try_into()
                    .unwrap();
            pki::bundle_v03_json(&self.cert, &signature, digest, &entry)
        }

        fn verifier(&self) -> BlobVerifier {
            self.verifier_for(&self.root_path)
        }

        fn verifier_for(&self, root: &std::path::Path) -> BlobVerifier {
            let trust = TrustMaterial::load(&TrustSource::File(root.to_path_buf())).unwrap();
            let policy = IdentityPolicy::new(
                Matcher::exact(GitLabClaims::example().identity()),
                Matcher::exact(GitLabClaims::example().issuer()),
            );
            BlobVerifier::new(trust, policy).unwrap().offline()
        }
    }

    fn check(
        verifier: &BlobVerifier,
        bundle: &str,
        digest: [u8; 32],
    ) -> Result<ChainCheck, VerifyError> {
        let evidence = input::parse_bundle(bundle.as_bytes()).unwrap();
        verifier
            .verify_evidence(evidence, digest)
            .map(|v| v.chain_check)
    }

    fn ts(t: SystemTime) -> jiff::Timestamp {
        jiff::Timestamp::from_second(t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64)
            .unwrap()
    }

    #[test]
    fn files_sharing_a_certificate_check_its_chain_once() {
        let mut release = Release::new();
        let signed: Vec<_> = (0..5)
            .map(|i| release.sign(format!("file {i}").as_bytes(), Duration::from_secs(10)))
            .collect();
        let verifier = release.verifier();
        assert!(verifier.caches_chains());
        let checks: Vec<_> = signed
            .iter()
            .map(|&(digest, index)| check(&verifier, &release.bundle(index), digest).unwrap())
            .collect();
        assert_eq!(checks[0], ChainCheck::Fresh);
        assert!(
            checks[1..].iter().all(|c| *c == ChainCheck::Cached),
            "{checks:?}"
        );
        let at = ts(release.t0 + Duration::from_secs(10));
        assert_eq!(
            verifier.chain_cache.lookup(&release.cert),
            Some(Window { lo: at, hi: at })
        );

        // Without the cache every file is checked in full, with the same verdicts.
        let uncached = release.verifier().without_chain_cache();
        for &(digest, index) in &signed {
            assert_eq!(
                check(&uncached, &release.bundle(index), digest).unwrap(),
                ChainCheck::Fresh
            );
        }
    }

    #[test]
    fn a_time_outside_the_interval_gets_a_full_check_that_widens_it() {
        let mut release = Release::new();
        let early = release.sign(b"early", Duration::from_secs(10));
        let late = release.sign(b"late", Duration::from_secs(300));
        let middle = release.sign(b"middle", Duration::from_secs(100));
        let before = release.sign(b"before", Duration::from_secs(5));
        let verifier = release.verifier();
        let run = |(digest, index): ([u8; 32], u64)| {
            check(&verifier, &release.bundle(index), digest).unwrap()
        };
        assert_eq!(run(early), ChainCheck::Fresh);
        assert_eq!(
            run(late),
            ChainCheck::Fresh,
            "300 s is outside [10 s, 10 s]"
        );
        assert_eq!(
            run(middle),
            ChainCheck::Cached,
            "100 s is inside [10 s, 300 s]"
        );
        assert_eq!(run(before), ChainCheck::Fresh, "5 s is before the interval");
        assert_eq!(
            verifier.chain_cache.lookup(&release.cert),
            Some(Window {
                lo: ts(release.t0 + Duration::from_secs(5)),
                hi: ts(release.t0 + Duration::from_secs(300)),
            })
        );
    }

    #[test]
    fn a_time_after_the_certificate_expired_is_refused_by_the_full_check() {
        let mut release = Release::new();
        let inside = release.sign(b"inside", Duration::from_secs(10));
        let expired = release.sign(b"expired", pki::LEAF_LIFETIME + Duration::from_secs(60));
        let verifier = release.verifier();
        assert_eq!(
            check(&verifier, &release.bundle(inside.1), inside.0).unwrap(),
            ChainCheck::Fresh
        );
        let err = check(&verifier, &release.bundle(expired.1), expired.0).unwrap_err();
        assert!(err.is_rejection(), "{err:?}");
        // The full check's error (a chain error), not the partial one's.
        assert!(
            matches!(
                &err,
                VerifyError::Sigstore {
                    source: sigstore_verify::Error::Certificate(_),
                    ..
                }
            ),
            "{err:?}"
        );
        let at = ts(release.t0 + Duration::from_secs(10));
        assert_eq!(
            verifier.chain_cache.lookup(&release.cert),
            Some(Window { lo: at, hi: at })
        );
    }

    #[test]
    fn a_certificate_whose_full_check_fails_is_never_cached() {
        let mut release = Release::new();
        let a = release.sign(b"a", Duration::from_secs(10));
        let b = release.sign(b"b", Duration::from_secs(20));
        // The CA is trusted only from an hour after the signatures: the chain fails.
        let mut root: serde_json::Value =
            serde_json::from_str(&release.sigstore.trusted_root_json()).unwrap();
        root["certificateAuthorities"][0]["validFor"]["start"] =
            serde_json::json!(ts(release.t0 + Duration::from_secs(3600)).to_string());
        let late_root = release.root_path.with_file_name("late_ca.json");
        std::fs::write(&late_root, root.to_string()).unwrap();
        let verifier = release.verifier_for(&late_root);
        assert!(verifier.caches_chains());
        for (digest, index) in [a, b] {
            let err = check(&verifier, &release.bundle(index), digest).unwrap_err();
            assert!(err.is_rejection(), "{err:?}");
            assert_eq!(
                err.to_string(),
                "the certificate does not chain to a trusted Fulcio CA"
            );
        }
        assert_eq!(verifier.chain_cache.lookup(&release.cert), None);
    }

    #[test]
    fn a_tampered_file_sharing_a_cached_certificate_is_still_refused() {
        let mut release = Release::new();
        let good = release.sign(b"good", Duration::from_secs(10));
        // Same time as `good`, so the untouched bundle verifies from the cache.
        let other = release.sign(b"other", Duration::from_secs(10));
        let verifier = release.verifier();
        assert_eq!(
            check(&verifier, &release.bundle(good.1), good.0).unwrap(),
            ChainCheck::Fresh
        );
        let other_bundle = release.bundle(other.1);

        // Another file's content under a valid bundle.
        let err = check(&verifier, &other_bundle, pki::sha256(b"tampered")).unwrap_err();
        assert!(matches!(err, VerifyError::DigestMismatch { .. }), "{err:?}");

        // The signature of another file: the signature and the log entry disagree.
        let mut swapped: serde_json::Value = serde_json::from_str(&other_bundle).unwrap();
        let good_bundle: serde_json::Value = serde_json::from_str(&release.bundle(good.1)).unwrap();
        swapped["messageSignature"]["signature"] =
            good_bundle["messageSignature"]["signature"].clone();
        let err = check(&verifier, &swapped.to_string(), other.0).unwrap_err();
        assert!(err.is_rejection(), "{err:?}");

        // A moved integrated time: the SET no longer verifies.
        let mut moved: serde_json::Value = serde_json::from_str(&other_bundle).unwrap();
        let entry = &mut moved["verificationMaterial"]["tlogEntries"][0];
        let t: i64 = entry["integratedTime"].as_str().unwrap().parse().unwrap();
        entry["integratedTime"] = serde_json::json!((t + 1).to_string());
        let err = check(&verifier, &moved.to_string(), other.0).unwrap_err();
        assert!(err.is_rejection(), "{err:?}");

        // The untouched bundle still verifies from the cache.
        assert_eq!(
            check(&verifier, &other_bundle, other.0).unwrap(),
            ChainCheck::Cached
        );
    }

    #[test]
    fn a_key_anchored_under_two_windows_turns_the_cache_off() {
        let mut release = Release::new();
        let a = release.sign(b"a", Duration::from_secs(10));
        let b = release.sign(b"b", Duration::from_secs(20));
        let mut root: serde_json::Value =
            serde_json::from_str(&release.sigstore.trusted_root_json()).unwrap();
        let mut second = root["certificateAuthorities"][0].clone();
        second["validFor"] =
            serde_json::json!({"start": "2019-01-01T00:00:00Z", "end": "2019-06-01T00:00:00Z"});
        root["certificateAuthorities"]
            .as_array_mut()
            .unwrap()
            .push(second);
        let path = release.root_path.with_file_name("two_windows.json");
        std::fs::write(&path, root.to_string()).unwrap();
        let verifier = release.verifier_for(&path);
        assert!(!verifier.caches_chains());
        for (digest, index) in [a, b] {
            assert_eq!(
                check(&verifier, &release.bundle(index), digest).unwrap(),
                ChainCheck::Fresh
            );
        }
        // The same windows twice is fine.
        root["certificateAuthorities"][1]["validFor"] =
            root["certificateAuthorities"][0]["validFor"].clone();
        std::fs::write(&path, root.to_string()).unwrap();
        assert!(release.verifier_for(&path).caches_chains());
    }

    #[test]
    fn the_public_good_roots_allow_the_cache() {
        for source in [TrustSource::PublicGood, TrustSource::Staging] {
            let trust = TrustMaterial::load(&source).unwrap();
            assert!(ChainCache::for_root(&trust.root).is_enabled(), "{source}");
        }
    }
}
