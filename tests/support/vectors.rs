//! The real Sigstore vectors (copied from ../shared/vectors) and the other
//! forms a valid one can be turned into: cosign's legacy bundle, detached
//! `.sig`/`.crt`, and the Rekor v1 API response for its log entry.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const GITHUB_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

pub fn dir() -> PathBuf {
    super::data_dir().join("vectors")
}

pub fn path(relative: &str) -> PathBuf {
    dir().join(relative)
}

pub fn artifact() -> PathBuf {
    path("artifacts/a.txt")
}

pub fn prod_root() -> PathBuf {
    path("trusted_root.prod.json")
}

/// The production v0.3 bundle's file.
pub fn happy_v03_path() -> PathBuf {
    path("bundles/conf-happy-path-v0.3.sigstore.json")
}

/// The production v0.3 bundle with certificate, SET, inclusion proof and checkpoint.
pub fn happy_v03() -> Value {
    serde_json::from_slice(&std::fs::read(happy_v03_path()).unwrap()).unwrap()
}

/// `gl-sign verify-blob --offline --bundle BUNDLE` with the conformance
/// signer (GitHub identity and issuer) pinned; the caller adds the file or
/// digest, the trust root and any other flag.
pub fn verify_bundle(bundle: &Path) -> Command {
    let mut cmd = super::gl_sign();
    cmd.args(["verify-blob", "--offline", "--bundle"])
        .arg(bundle)
        .args([
            "--certificate-identity",
            GITHUB_IDENTITY,
            "--certificate-oidc-issuer",
            GITHUB_ISSUER,
        ]);
    cmd
}

/// verify-blob a.txt against `bundle` (a changed copy of a vector, written
/// to a scratch file) and `--trusted-root root`.
pub fn verify_changed(bundle: &Value, root: &Path) -> super::Run {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.sigstore.json");
    std::fs::write(&file, serde_json::to_vec(bundle).unwrap()).unwrap();
    super::run(
        verify_bundle(&file)
            .arg("--trusted-root")
            .arg(root)
            .arg(artifact()),
    )
}

fn b64(value: &Value) -> Vec<u8> {
    STANDARD
        .decode(value.as_str().expect("a base64 string"))
        .expect("valid base64")
}

pub fn signature_der(bundle: &Value) -> Vec<u8> {
    b64(&bundle["messageSignature"]["signature"])
}

pub fn certificate_der(bundle: &Value) -> Vec<u8> {
    b64(&bundle["verificationMaterial"]["certificate"]["rawBytes"])
}

pub fn certificate_pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// cosign's legacy `--bundle` JSON for the same signature (cert as base64 of PEM).
pub fn cosign_bundle(bundle: &Value) -> Value {
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    json!({
        "base64Signature": bundle["messageSignature"]["signature"],
        "cert": STANDARD.encode(certificate_pem(&certificate_der(bundle))),
        "rekorBundle": {
            "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
            "Payload": {
                "body": entry["canonicalizedBody"],
                "integratedTime": entry["integratedTime"].as_str().unwrap().parse::<i64>().unwrap(),
                "logIndex": entry["logIndex"].as_str().unwrap().parse::<i64>().unwrap(),
                "logID": hex::encode(b64(&entry["logId"]["keyId"])),
            }
        }
    })
}

/// The leaf-hash UUID Rekor gives an entry, with a tree-ID prefix as sharded logs do.
pub fn entry_uuid(body_b64: &str) -> String {
    let body = STANDARD.decode(body_b64).unwrap();
    let leaf = Sha256::new()
        .chain_update([0u8])
        .chain_update(&body)
        .finalize();
    format!("24296fb24b8ad77a{}", hex::encode(leaf))
}

/// The Rekor v1 `{uuid: entry}` object for the bundle's log entry.
pub fn rekor_response(bundle: &Value) -> Value {
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    let proof = &entry["inclusionProof"];
    let body = entry["canonicalizedBody"].as_str().unwrap();
    let hashes: Vec<String> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex::encode(b64(h)))
        .collect();
    json!({ entry_uuid(body): {
        "body": body,
        "integratedTime": entry["integratedTime"].as_str().unwrap().parse::<i64>().unwrap(),
        "logID": hex::encode(b64(&entry["logId"]["keyId"])),
        "logIndex": entry["logIndex"].as_str().unwrap().parse::<i64>().unwrap(),
        "verification": {
            "signedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
            "inclusionProof": {
                "checkpoint": proof["checkpoint"]["envelope"],
                "hashes": hashes,
                "logIndex": proof["logIndex"].as_str().unwrap().parse::<i64>().unwrap(),
                "rootHash": hex::encode(b64(&proof["rootHash"])),
                "treeSize": proof["treeSize"].as_str().unwrap().parse::<i64>().unwrap(),
            }
        }
    }})
}

/// Flip one bit in the middle of a base64 field.
pub fn flip_base64(value: &mut Value) {
    let mut bytes = b64(value);
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    *value = Value::String(STANDARD.encode(bytes));
}

/// tests/data/vectors/`sub` is a copy of ../shared/vectors/`sub`: every file
/// there must be here with the same bytes. Skipped (with a note) when
/// ../shared is not beside this checkout.
pub fn assert_copy_matches_shared(sub: &str) {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vectors")
        .join(sub);
    if !shared.exists() {
        eprintln!("skipped: ../shared/vectors is not beside this checkout");
        return;
    }
    for entry in std::fs::read_dir(&shared).unwrap() {
        let name = entry.unwrap().file_name();
        assert_eq!(
            std::fs::read(shared.join(&name)).unwrap(),
            std::fs::read(path(sub).join(&name)).unwrap(),
            "{name:?}"
        );
    }
}

/// The Sigstore bundle a PEP 740 attestation stands for (pypi-attestations'
/// `Attestation.to_bundle`), built here independently of gl-sign's converter.
pub fn bundle_of_attestation(attestation: &Value) -> Value {
    json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": {"rawBytes": attestation["verification_material"]["certificate"]},
            "tlogEntries": attestation["verification_material"]["transparency_entries"],
        },
        "dsseEnvelope": {
            "payload": attestation["envelope"]["statement"],
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": attestation["envelope"]["signature"]}],
        },
    })
}
