//! Every parser of untrusted input, and verification of whatever parses:
//! Sigstore bundles (message signature and DSSE, Rekor v1 and v2), cosign
//! legacy bundles, `.sig` and `.crt` files, trusted roots, simple-index pages,
//! dist file names and dists (wheel, sdist), version strings, OIDC tokens and
//! pyproject.toml. The property is simply "never panics, never hangs".
#![no_main]

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use gl_sign::trust::{TrustMaterial, TrustSource};
use gl_sign::verify::{input, inspect_certificate, BlobVerifier, Evidence, IdentityPolicy, Matcher};
use libfuzzer_sys::fuzz_target;

fn verifier(source: TrustSource) -> BlobVerifier {
    let trust = TrustMaterial::load(&source).unwrap();
    let policy = IdentityPolicy::new(
        Matcher::pattern("--certificate-identity-regexp", ".*").unwrap(),
        Matcher::pattern("--certificate-oidc-issuer-regexp", ".*").unwrap(),
    );
    // Offline: a detached signature must fail cleanly, never reach the network.
    // One verifier per root for the whole run, so the chain cache is warm:
    // mutants of a real bundle take the cached path as well as the full one.
    BlobVerifier::new(trust, policy).unwrap().offline()
}

/// Production (the v0.1-v0.3 vectors, PEP 740 DSSE) and staging (Rekor v2).
fn verifiers() -> &'static [BlobVerifier; 2] {
    static VERIFIERS: OnceLock<[BlobVerifier; 2]> = OnceLock::new();
    VERIFIERS.get_or_init(|| [verifier(TrustSource::PublicGood), verifier(TrustSource::Staging)])
}

/// A scratch directory for the parsers that read files.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gl-sign-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fn write_scratch(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(data).unwrap();
    path
}

/// sha256 of a.txt of the vectors, the artifact of every conformance bundle.
const A_TXT: [u8; 32] = [
    0xa0, 0xcf, 0xc7, 0x12, 0x71, 0xd6, 0xe2, 0x78, 0xe5, 0x7c, 0xd3, 0x32, 0xff, 0x95, 0x7c, 0x3f, 0x70, 0x43, 0xfd,
    0xda, 0x35, 0x4c, 0x4c, 0xbb, 0x19, 0x0a, 0x30, 0xd5, 0x6e, 0xfa, 0x01, 0xbf,
];

/// The first subject digest of a DSSE in-toto statement, so DSSE bundles reach
/// the checks after the subject match.
fn dsse_subject(evidence: &Evidence) -> Option<[u8; 32]> {
    let Evidence::Bundle { bundle, .. } = evidence else { return None };
    let sigstore_types::SignatureContent::DsseEnvelope(envelope) = &bundle.content else { return None };
    let statement: serde_json::Value = serde_json::from_slice(envelope.payload.as_bytes()).ok()?;
    let hex = statement.pointer("/subject/0/digest/sha256")?.as_str()?;
    hex::decode(hex).ok()?.try_into().ok()
}

fuzz_target!(|data: &[u8]| {
    let _ = input::parse_signature(data);
    let _ = input::parse_certificate(data);
    let _ = inspect_certificate(data);

    let page = url::Url::parse("https://registry.example.test/simple/pkg/").unwrap();
    let _ = gl_sign::registry::index::parse_json(&page, data);
    let _ = gl_sign::registry::index::parse_page(&page, "text/html", data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = gl_sign::registry::dist::name_and_version_from_filename(text);
        let _ = gl_sign::registry::dist::normalize_name(text);
        let _ = gl_sign::registry::dist::same_version(text, "1.0");
        let _ = gl_sign::pyproject::parse_version(text, "fuzz");
        let _ = gl_sign::pyproject::version_from_tag(text);
        let _ = gl_sign::pyproject::check_homepage(text, "fuzz");
        let _ = gl_sign::pyproject::PackageName::parse(text, "fuzz");
        let _ = gl_sign::pyproject::parse(std::path::Path::new("pyproject.toml"), text);
        let _ = gl_sign::sign::token::IdentityToken::parse(text, jiff::Timestamp::now());
    }

    // Parsers that read files: only for inputs that could be such a file.
    match data {
        [b'P', b'K', ..] => {
            let path = write_scratch("pkg-1.0-py3-none-any.whl", data);
            let _ = gl_sign::registry::dist::Dist::open(&path);
        }
        [0x1f, 0x8b, ..] => {
            let path = write_scratch("pkg-1.0.tar.gz", data);
            let _ = gl_sign::registry::dist::Dist::open(&path);
        }
        _ => {}
    }
    if data.trim_ascii_start().starts_with(b"{") {
        let path = write_scratch("trusted_root.json", data);
        if let Ok(trust) = TrustMaterial::load(&TrustSource::File(path)) {
            let policy = IdentityPolicy::new(
                Matcher::pattern("--certificate-identity-regexp", ".*").unwrap(),
                Matcher::pattern("--certificate-oidc-issuer-regexp", ".*").unwrap(),
            );
            let _ = BlobVerifier::new(trust, policy);
        }
    }

    if let Ok(evidence) = input::parse_bundle(data) {
        let subject = dsse_subject(&evidence);
        for verifier in verifiers() {
            for digest in std::iter::once(A_TXT).chain(subject) {
                let _ = verifier.verify_evidence(evidence.clone(), digest);
            }
        }
    }
});
