//! PEP 740 attestations and in-toto statements, and verification of whatever
//! parses (as a DSSE bundle, with the attestation's own subject checks). The
//! property is "never panics, never hangs". Seeds: tests/data/vectors/pep740.
#![no_main]

use std::sync::OnceLock;

use gl_sign::trust::{TrustMaterial, TrustSource};
use gl_sign::verify::{
    attestation, pep740, BlobVerifier, Evidence, EvidenceKind, IdentityPolicy, Matcher,
};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static BlobVerifier {
    static VERIFIER: OnceLock<BlobVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let trust = TrustMaterial::load(&TrustSource::PublicGood).unwrap();
        let policy = IdentityPolicy::new(
            Matcher::pattern("--certificate-identity-regexp", ".*").unwrap(),
            Matcher::pattern("--certificate-oidc-issuer-regexp", ".*").unwrap(),
        );
        BlobVerifier::new(trust, policy)
            .unwrap()
            .offline()
            .with_predicate_type(pep740::PUBLISH_V1)
    })
}

/// sha256 of gitlab_oidc_project-0.0.3.tar.gz, so the real seed reaches the deep checks.
const DIGEST: &str = "c1ca9b0d85df1606451098233018534497bf584362e10e4a8c21dfaea92c02a8";

fuzz_target!(|data: &[u8]| {
    let _ = attestation::parse_statement(attestation::IN_TOTO_PAYLOAD_TYPE, data);
    let Ok(parsed) = pep740::parse(data) else {
        return;
    };
    let _ = pep740::statement(&parsed);
    let Ok(bundle) = parsed.to_bundle() else {
        return;
    };
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&DIGEST[2 * i..2 * i + 2], 16).unwrap();
    }
    for kind in [EvidenceKind::Pep740Attestation, EvidenceKind::SigstoreBundle] {
        let evidence = Evidence::Bundle {
            bundle: Box::new(bundle.clone()),
            kind,
        };
        let _ = verifier().verify_evidence_named(
            evidence,
            digest,
            Some("gitlab_oidc_project-0.0.3.tar.gz"),
        );
    }
});
