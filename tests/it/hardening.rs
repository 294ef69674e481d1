//! Issue 8's holes, each shown through the binary: evidence that
//! sigstore-verify alone would have let pass, verdicts that name what decided.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::{assert_run, gl_sign, run, vectors, Run};

const REKOR2: &str = "bundles/conf-rekor2-happy-path.sigstore.json";

fn load(relative: &str) -> Value {
    serde_json::from_slice(&std::fs::read(vectors::path(relative)).unwrap()).unwrap()
}

fn staging_root() -> Value {
    serde_json::from_slice(&std::fs::read(vectors::path("trusted_root.staging.json")).unwrap())
        .unwrap()
}

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path
}

/// verify-blob a.txt against `bundle` with the GitHub conformance identity.
fn verify(bundle: &Value, root: &Path) -> Run {
    vectors::verify_changed(bundle, root)
}

/// verify-blob a.txt against the bundle file `path`, its signer pinned.
fn verify_file(path: &Path) -> Command {
    let mut cmd = vectors::verify_bundle(path);
    cmd.arg(vectors::artifact());
    cmd
}

fn entry(bundle: &mut Value) -> &mut Value {
    &mut bundle["verificationMaterial"]["tlogEntries"][0]
}

fn b64_decode(value: &Value) -> Vec<u8> {
    STANDARD.decode(value.as_str().unwrap()).unwrap()
}

// ----- 4. transparency-log evidence is all-or-nothing -----

#[test]
fn an_extra_unverified_log_entry_is_refused() {
    let mut bundle = vectors::happy_v03();
    let mut extra = entry(&mut bundle).clone();
    // Invented index and log ID, no proof and no SET: nothing verifies it.
    extra["logIndex"] = json!("1");
    extra["logId"]["keyId"] = json!(STANDARD.encode([7u8; 32]));
    extra.as_object_mut().unwrap().remove("inclusionProof");
    extra.as_object_mut().unwrap().remove("inclusionPromise");
    bundle["verificationMaterial"]["tlogEntries"]
        .as_array_mut()
        .unwrap()
        .insert(0, extra);
    let result = verify(&bundle, &vectors::prod_root());
    assert_run(
        &result,
        1,
        &["expected exactly one transparency log entry, the bundle has 2"],
    );
}

#[test]
fn a_v1_proof_tree_size_must_match_the_signed_checkpoint() {
    let mut bundle = vectors::happy_v03();
    let size: u64 = entry(&mut bundle)["inclusionProof"]["treeSize"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    entry(&mut bundle)["inclusionProof"]["treeSize"] = json!((size + 1).to_string());
    assert_run(
        &verify(&bundle, &vectors::prod_root()),
        1,
        &[&format!(
            "the inclusion proof's tree size is {}, but the signed checkpoint says {size}",
            size + 1
        )],
    );
}

#[test]
fn the_verdict_names_the_entry_that_proved_inclusion_and_the_trust_root() {
    let bundle = vectors::happy_v03();
    let index = bundle["verificationMaterial"]["tlogEntries"][0]["logIndex"]
        .as_str()
        .unwrap()
        .to_string();
    let root = vectors::prod_root();
    let sha =
        crate::support::pki::hex(&crate::support::pki::sha256(&std::fs::read(&root).unwrap()));
    let result = verify(&bundle, &root);
    assert_run(
        &result,
        0,
        &[
            &format!("log index {index}"),
            &format!("trust root: {} (sha256:{sha})", root.display()),
        ],
    );
}

#[test]
fn the_embedded_root_is_named_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "b.json", &vectors::happy_v03());
    let result = run(verify_file(&path).args(["--output", "json"]));
    assert_run(&result, 0, &[]);
    let doc: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(
        doc["files"][0]["trust_root"],
        "embedded public-good production root"
    );
    assert_eq!(doc["files"][0]["ref"], "refs/heads/main");
    assert_eq!(doc["files"][0]["log"], "https://rekor.sigstore.dev");
}

#[test]
fn a_trusted_root_from_the_environment_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "b.json", &vectors::happy_v03());
    let result = run(verify_file(&path).env("GL_SIGN_TRUSTED_ROOT", vectors::prod_root()));
    assert_run(&result, 0, &[]);
    assert!(
        result.stderr.contains(&format!(
            "using trusted root {} from GL_SIGN_TRUSTED_ROOT",
            vectors::prod_root().display()
        )),
        "{}",
        result.stderr
    );
    // Given as a flag, nothing is announced.
    let result = run(verify_file(&path)
        .arg("--trusted-root")
        .arg(vectors::prod_root())
        .env("GL_SIGN_TRUSTED_ROOT", vectors::prod_root()));
    assert_run(&result, 0, &[]);
    assert!(
        !result.stderr.contains("GL_SIGN_TRUSTED_ROOT"),
        "{}",
        result.stderr
    );
}

#[test]
fn a_chain_that_carries_the_root_is_refused_for_that_reason() {
    let result = run(gl_sign()
        .args(["verify-blob", "--offline", "--trusted-root"])
        .arg(vectors::prod_root())
        .arg(vectors::path("artifacts/bundle-with-root-cert.txt"))
        .arg("--bundle")
        .arg(vectors::path(
            "bundles/conf-bundle-with-root-cert_fail.sigstore.json",
        ))
        .args([
            "--certificate-identity",
            "a@tny.town",
            "--certificate-oidc-issuer",
            "https://github.com/login/oauth",
        ]));
    assert_run(
        &result,
        1,
        &["the certificate chain in the bundle includes a self-signed root"],
    );
}

// ----- Rekor v2: one field at a time -----

struct Rekor2 {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Rekor2 {
    fn new(root: &Value) -> Rekor2 {
        let dir = tempfile::tempdir().unwrap();
        let root = write(dir.path(), "trusted_root.json", root);
        Rekor2 { dir, root }
    }

    fn verify(&self, bundle: &Value) -> Run {
        let _ = &self.dir;
        verify(bundle, &self.root)
    }
}

#[test]
fn the_rekor_v2_vector_verifies_and_names_its_log() {
    let r = Rekor2::new(&staging_root());
    assert_run(&r.verify(&load(REKOR2)), 0, &["OK ", "log index 735"]);
}

/// (what, mutation, message fragment); every one must exit 1.
type Mutation = (&'static str, fn(&mut Value), &'static str);

const REKOR2_MUTATIONS: &[Mutation] = &[
    (
        "proof root hash",
        // Rekor v2 verifiers use the checkpoint's root and ignore this
        // field; a bundle whose fields disagree is refused anyway.
        |b| vectors::flip_base64(&mut entry(b)["inclusionProof"]["rootHash"]),
        "the inclusion proof's root hash is",
    ),
    (
        "proof tree size",
        |b| entry(b)["inclusionProof"]["treeSize"] = json!("737"),
        "the inclusion proof's tree size is 737, but the signed checkpoint says 736",
    ),
    (
        "proof log index",
        |b| entry(b)["inclusionProof"]["logIndex"] = json!("734"),
        "the inclusion proof's log index is 734, but the signed checkpoint says 735",
    ),
    (
        "entry log index",
        |b| entry(b)["logIndex"] = json!("734"),
        "FAILED",
    ),
    (
        "log ID of another trusted v2 log",
        |b| {
            let other = staging_root()["tlogs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["baseUrl"] == "https://log2025-alpha2.rekor.sigstage.dev")
                .unwrap()["logId"]["keyId"]
                .clone();
            entry(b)["logId"]["keyId"] = other;
        },
        // The origin line names the log that signed; it is not the entry's.
        "expected the log at https://log2025-alpha2.rekor.sigstage.dev (the entry's log ID)",
    ),
    (
        "unknown log ID",
        |b| entry(b)["logId"]["keyId"] = json!(STANDARD.encode([9u8; 32])),
        "which the trusted root does not list",
    ),
    (
        "checkpoint signature",
        |b| {
            let envelope = entry(b)["inclusionProof"]["checkpoint"]["envelope"]
                .as_str()
                .unwrap()
                .to_string();
            let (body, sig_line) = envelope.trim_end().rsplit_once('\n').unwrap();
            let (prefix, sig) = sig_line.rsplit_once(' ').unwrap();
            let mut raw = STANDARD.decode(sig).unwrap();
            let last = raw.len() - 1;
            raw[last] ^= 1;
            entry(b)["inclusionProof"]["checkpoint"]["envelope"] =
                json!(format!("{body}\n{prefix} {}\n", STANDARD.encode(raw)));
        },
        "checkpoint",
    ),
    (
        "checkpoint root",
        |b| {
            let envelope = entry(b)["inclusionProof"]["checkpoint"]["envelope"]
                .as_str()
                .unwrap()
                .to_string();
            let mut lines: Vec<String> = envelope.split('\n').map(str::to_string).collect();
            let mut root = STANDARD.decode(&lines[2]).unwrap();
            root[0] ^= 1;
            lines[2] = STANDARD.encode(root);
            entry(b)["inclusionProof"]["checkpoint"]["envelope"] = json!(lines.join("\n"));
        },
        "root hash",
    ),
    (
        "proof hash",
        |b| vectors::flip_base64(&mut entry(b)["inclusionProof"]["hashes"][0]),
        "inclusion proof",
    ),
    (
        "logged body",
        |b| {
            let mut body: Value =
                serde_json::from_slice(&b64_decode(&entry(b)["canonicalizedBody"])).unwrap();
            body["spec"]["hashedRekordV002"]["data"]["digest"] = json!(STANDARD.encode([1u8; 32]));
            entry(b)["canonicalizedBody"] =
                json!(STANDARD.encode(serde_json::to_vec(&body).unwrap()));
        },
        "FAILED",
    ),
    (
        "RFC 3161 timestamp",
        // The last bytes are the TSA's signature (the middle may be an
        // embedded certificate, which nothing signs).
        |b| {
            let field = &mut b["verificationMaterial"]["timestampVerificationData"]
                ["rfc3161Timestamps"][0]["signedTimestamp"];
            let mut raw = b64_decode(field);
            let last = raw.len() - 2;
            raw[last] ^= 1;
            *field = json!(STANDARD.encode(raw));
        },
        "FAILED",
    ),
];

#[test]
fn every_rekor_v2_field_is_checked() {
    let r = Rekor2::new(&staging_root());
    for (what, mutate, fragment) in REKOR2_MUTATIONS {
        let mut bundle = load(REKOR2);
        mutate(&mut bundle);
        let result = r.verify(&bundle);
        assert_eq!(result.code, 1, "{what}: {}{}", result.stdout, result.stderr);
        assert!(
            result.all().contains(fragment),
            "{what}: missing {fragment:?} in {}{}",
            result.stdout,
            result.stderr
        );
    }
}

/// Set the validity window of the staging v2 log that signed the vector.
fn with_v2_log_window(start: &str, end: Option<&str>) -> Value {
    let mut root = staging_root();
    for log in root["tlogs"].as_array_mut().unwrap() {
        if log["baseUrl"] == "https://log2025-alpha1.rekor.sigstage.dev" {
            log["publicKey"]["validFor"] = match end {
                Some(end) => json!({"start": start, "end": end}),
                None => json!({"start": start}),
            };
        }
    }
    root
}

#[test]
fn a_checkpoint_key_outside_its_window_at_signing_time_is_refused() {
    // The vector was signed in 2025; upstream accepts any key that has
    // started by now, expired or not.
    let expired = Rekor2::new(&with_v2_log_window(
        "2025-01-01T00:00:00Z",
        Some("2025-02-01T00:00:00Z"),
    ));
    assert_run(
        &expired.verify(&load(REKOR2)),
        1,
        &[
            "the log key of https://log2025-alpha1.rekor.sigstage.dev is valid from 2025-01-01T00:00:00Z to 2025-02-01T00:00:00Z",
            "but the signature was made at 2025-",
        ],
    );
    let later = Rekor2::new(&with_v2_log_window("2026-01-01T00:00:00Z", None));
    assert_run(
        &later.verify(&load(REKOR2)),
        1,
        &["is valid from 2026-01-01T00:00:00Z, but the signature was made at 2025-"],
    );
}

#[test]
fn a_v1_log_key_outside_its_window_is_refused() {
    let mut root: Value =
        serde_json::from_slice(&std::fs::read(vectors::prod_root()).unwrap()).unwrap();
    for log in root["tlogs"].as_array_mut().unwrap() {
        if log["baseUrl"] == "https://rekor.sigstore.dev" {
            log["publicKey"]["validFor"] =
                json!({"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"});
        }
    }
    let r = Rekor2::new(&root);
    assert_run(&r.verify(&vectors::happy_v03()), 1, &["FAILED"]);
}
