//! Every parser of untrusted input, and verification of whatever parses:
//! Sigstore bundles, cosign legacy bundles, `.sig` and `.crt` files.
//! The property is simply "never panics, never hangs".
#![no_main]

use std::sync::OnceLock;

use gl_sign::trust::{TrustMaterial, TrustSource};
use gl_sign::verify::{input, inspect_certificate, BlobVerifier, IdentityPolicy, Matcher};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static BlobVerifier {
    static VERIFIER: OnceLock<BlobVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let trust = TrustMaterial::load(&TrustSource::PublicGood).unwrap();
        let policy = IdentityPolicy::new(
            Matcher::pattern("--certificate-identity-regexp", ".*").unwrap(),
            Matcher::pattern("--certificate-oidc-issuer-regexp", ".*").unwrap(),
        );
        // Offline: a detached signature must fail cleanly, never reach the network.
        BlobVerifier::new(trust, policy).unwrap().offline()
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = input::parse_signature(data);
    let _ = input::parse_certificate(data);
    let _ = inspect_certificate(data);
    if let Ok(evidence) = input::parse_bundle(data) {
        // a.txt of the vectors, so real bundles reach the deep checks.
        let digest = [
            0xa0, 0xcf, 0xc7, 0x12, 0x71, 0xd6, 0xe2, 0x78, 0xe5, 0x7c, 0xd3, 0x32, 0xff, 0x95, 0x7c, 0x3f, 0x70, 0x43,
            0xfd, 0xda, 0x35, 0x4c, 0x4c, 0xbb, 0x19, 0x0a, 0x30, 0xd5, 0x6e, 0xfa, 0x01, 0xbf,
        ];
        let _ = verifier().verify_evidence(evidence, digest);
    }
});
