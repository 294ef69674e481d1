//! Input forms beyond a file plus a keyless bundle (issue 8): `--key` managed-key
//! signatures (Sigstore bundles with a public-key hint and cosign `.sig`),
//! `sha256:<hex>` digests instead of files, and cosign v3 flag spellings.
//!
//! Keys are generated in each test; every log entry lives in the local Rekor v1
//! (tests/support), with a real SET, inclusion proof and signed checkpoint.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::Digest as _;

use crate::support::pki::{hex, pem_encode, sha256};
use crate::support::sigstore_stack::LocalSigstore;
use crate::support::{assert_run, gl_sign, run, vectors, with_suffix, Run};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    P256,
    P384,
    Ed25519,
    Rsa,
}

const KINDS: [Kind; 4] = [Kind::P256, Kind::P384, Kind::Ed25519, Kind::Rsa];

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
}

/// A freshly generated signing key of one kind.
struct TestKey {
    kind: Kind,
    pair: Pair,
}

impl TestKey {
    fn new(kind: Kind) -> Self {
        let pair = match kind {
            Kind::P256 => Pair::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).unwrap(),
            ),
            Kind::P384 => Pair::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING).unwrap(),
            ),
            Kind::Ed25519 => Pair::Ed(Ed25519KeyPair::generate().unwrap()),
            Kind::Rsa => Pair::Rsa(
                aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(),
            ),
        };
        TestKey { kind, pair }
    }

    fn spki_der(&self) -> Vec<u8> {
        match &self.pair {
            Pair::Ec(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
            Pair::Ed(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
            Pair::Rsa(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
        }
    }

    fn public_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der())
    }

    fn private_pem(&self) -> String {
        let der = match &self.pair {
            Pair::Ec(k) => k.to_pkcs8v1().unwrap().as_ref().to_vec(),
            Pair::Ed(k) => k.to_pkcs8v1().unwrap().as_ref().to_vec(),
            Pair::Rsa(k) => k.as_der().unwrap().as_ref().to_vec(),
        };
        pem_encode("PRIVATE KEY", &der)
    }

    /// The key's default Sigstore scheme over the message: ECDSA P-256/SHA-256,
    /// P-384/SHA-384, pure Ed25519, RSA PKCS#1 v1.5/SHA-256.
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ec(k) => k.sign(&rng, message).unwrap().as_ref().to_vec(),
            Pair::Ed(k) => k.sign(message).as_ref().to_vec(),
            Pair::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .unwrap();
                sig
            }
        }
    }

    /// The bundle's messageDigest: SHA-384 for P-384 (its scheme's hash), else SHA-256.
    fn message_digest(&self, message: &[u8]) -> (&'static str, Vec<u8>) {
        match self.kind {
            Kind::P384 => ("SHA2_384", sha2::Sha384::digest(message).to_vec()),
            _ => ("SHA2_256", sha256(message).to_vec()),
        }
    }
}

/// The hashedrekord 0.0.1 body Rekor stores for a key-signed blob.
fn key_hashedrekord(digest: [u8; 32], signature: &[u8], key: &TestKey) -> Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex(&digest)}},
            "signature": {
                "content": B64.encode(signature),
                "publicKey": {"content": B64.encode(key.public_pem())},
            },
        },
    })
}

/// A local Sigstore, a trusted root for it, and a scratch directory.
struct Env {
    stack: LocalSigstore,
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Env {
    fn new() -> Self {
        let stack = LocalSigstore::start();
        let dir = tempfile::tempdir().unwrap();
        let root = stack.write_trust_files(dir.path()).trusted_root;
        Env { stack, dir, root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Log a key-signed blob in the local Rekor v1 and return its log index.
    /// P-256 and RSA go through `POST /api/v1/log/entries`, which checks the
    /// signature over the SHA-256 digest as Rekor's hashedrekord does; a P-384
    /// (SHA-384) or pure Ed25519 signature cannot be checked from that digest,
    /// so those are appended to the same log in-process.
    fn log(&self, data: &[u8], signature: &[u8], key: &TestKey) -> u64 {
        let body = key_hashedrekord(sha256(data), signature, key);
        if matches!(key.kind, Kind::P256 | Kind::Rsa) {
            let url = format!("{}/api/v1/log/entries", self.stack.rekor_url());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let answer: Value = rt.block_on(async {
                let response = reqwest::Client::new()
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201, "Rekor accepts the entry");
                response.json().await.unwrap()
            });
            let (_, entry) = answer.as_object().unwrap().iter().next().unwrap();
            entry["logIndex"].as_u64().unwrap()
        } else {
            let canonical = serde_json_canonicalizer::to_vec(&body).unwrap();
            self.stack
                .with_pki(|pki| pki.log_entry(canonical))
                .log_index
        }
    }

    /// Write `name` with `data`, its `.sig`, a key bundle `.sigstore.json`
    /// beside it and the key's PEM; return (file, key PEM path).
    fn signed(&self, name: &str, data: &[u8], key: &TestKey) -> (PathBuf, PathBuf) {
        let file = self.path(name);
        std::fs::write(&file, data).unwrap();
        let signature = key.sign(data);
        let index = self.log(data, &signature, key);
        let entry = self.stack.rekor_entry(index);
        let (algorithm, digest) = key.message_digest(data);
        let bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "publicKey": {"hint": B64.encode(sha256(&key.spki_der()))},
                "tlogEntries": [entry.to_bundle_tlog_entry_json()],
            },
            "messageSignature": {
                "messageDigest": {"algorithm": algorithm, "digest": B64.encode(digest)},
                "signature": B64.encode(&signature),
            },
        });
        std::fs::write(
            with_suffix(&file, ".sigstore.json"),
            serde_json::to_vec_pretty(&bundle).unwrap(),
        )
        .unwrap();
        std::fs::write(with_suffix(&file, ".sig"), B64.encode(&signature)).unwrap();
        let pem = self.path(&format!("{name}.pub"));
        std::fs::write(&pem, key.public_pem()).unwrap();
        (file, pem)
    }

    fn verify(&self, args: &[&dyn AsRef<OsStr>]) -> Run {
        let mut cmd = gl_sign();
        cmd.arg("verify-blob").arg("--trusted-root").arg(&self.root);
        for arg in args {
            cmd.arg(arg.as_ref());
        }
        run(&mut cmd)
    }

    /// verify-blob `file` (or digest) with `--key key`, then `extra`.
    fn verify_key(&self, file: &dyn AsRef<OsStr>, key: &Path, extra: &[&dyn AsRef<OsStr>]) -> Run {
        self.verify(&[&[file, &"--key", &key][..], extra].concat())
    }

    /// [`Self::verify_key`] of a bare `--signature sig`, its entry looked up
    /// in the local Rekor.
    fn verify_logged_sig(&self, file: &dyn AsRef<OsStr>, key: &Path, sig: &Path) -> Run {
        self.verify_key(
            file,
            key,
            &[
                &"--signature",
                &sig,
                &"--rekor-url",
                &self.stack.rekor_url(),
            ],
        )
    }
}

fn fingerprint(key: &TestKey) -> String {
    format!("sha256:{}", hex(&sha256(&key.spki_der())))
}

#[test]
fn each_key_type_verifies_its_bundle_and_its_sig() {
    let env = Env::new();
    for kind in KINDS {
        let key = TestKey::new(kind);
        let data = format!("artifact signed with {kind:?}").into_bytes();
        let (file, pem) = env.signed(&format!("{kind:?}.bin"), &data, &key);
        let fp = fingerprint(&key);
        // The bundle beside the file, found by default, fully offline.
        let beside = env.verify_key(&file, &pem, &[&"--offline"]);
        assert_run(&beside, 0, &["OK ", &format!("key {fp}")]);
        // The bare .sig: its entry is looked up in the local Rekor.
        let sig = env.verify_key(
            &file,
            &pem,
            &[
                &"--signature",
                &with_suffix(&file, ".sig"),
                &"--rekor-url",
                &env.stack.rekor_url(),
                &"--output",
                &"json",
            ],
        );
        assert_run(&sig, 0, &["\"key-signature+rekor\"", "\"log_index\""]);
        let doc: Value = serde_json::from_str(&sig.stdout).unwrap();
        assert_eq!(doc["verified"], 1, "{kind:?}: {}", sig.stdout);
        assert_eq!(doc["files"][0]["sha256"], hex(&sha256(&data)));
    }
}

#[test]
fn another_key_is_rejected_with_its_fingerprint() {
    let env = Env::new();
    for kind in KINDS {
        let key = TestKey::new(kind);
        let other = TestKey::new(kind);
        let (file, _) = env.signed(&format!("{kind:?}.bin"), b"payload", &key);
        let wrong = env.path(&format!("{kind:?}-other.pub"));
        std::fs::write(&wrong, other.public_pem()).unwrap();
        let result = env.verify_key(&file, &wrong, &[&"--offline"]);
        assert_run(
            &result,
            1,
            &[
                "FAILED",
                &format!(
                    "signature does not verify with the key in {} (fingerprint {})",
                    wrong.display(),
                    fingerprint(&other)
                ),
            ],
        );
        // A bare .sig with the other key is in no log under that key.
        let sig = with_suffix(&file, ".sig");
        let lookup = env.verify_logged_sig(&file, &wrong, &sig);
        assert_run(&lookup, 1, &["not found in transparency log"]);
        // And without the log, the signature itself fails.
        let no_log = env.verify_key(
            &file,
            &wrong,
            &[
                &"--signature",
                &sig,
                &"--insecure-ignore-tlog",
                &"--offline",
            ],
        );
        assert_run(&no_log, 1, &["signature does not verify with the key in"]);
    }
}

#[test]
fn a_tampered_file_is_rejected() {
    let env = Env::new();
    for kind in KINDS {
        let key = TestKey::new(kind);
        let (file, pem) = env.signed(&format!("{kind:?}.bin"), b"original", &key);
        std::fs::write(&file, b"tampered").unwrap();
        let result = env.verify_key(&file, &pem, &[&"--offline"]);
        assert_eq!(result.code, 1, "{kind:?}: {}", result.all());
        assert!(result.stdout.starts_with("FAILED"), "{}", result.all());
        if kind != Kind::P384 {
            // SHA-256 message digest: named with both values.
            assert_run(
                &result,
                1,
                &[&format!(
                    "expected sha256 {} (from the bundle), file has {}",
                    hex(&sha256(b"original")),
                    hex(&sha256(b"tampered"))
                )],
            );
        }
        let sig = env.verify_key(
            &file,
            &pem,
            &[
                &"--signature",
                &with_suffix(&file, ".sig"),
                &"--insecure-ignore-tlog",
                &"--offline",
            ],
        );
        assert_run(&sig, 1, &["signature does not verify with the key in"]);
        let looked_up = env.verify_logged_sig(&file, &pem, &with_suffix(&file, ".sig"));
        assert_run(&looked_up, 1, &["not found in transparency log"]);
    }
}

#[test]
fn a_bare_sig_needs_the_log_unless_told_otherwise() {
    let env = Env::new();
    let key = TestKey::new(Kind::P256);
    let (file, pem) = env.signed("f.bin", b"data", &key);
    let sig = with_suffix(&file, ".sig");
    let offline = env.verify_key(&file, &pem, &[&"--signature", &sig, &"--offline"]);
    assert_run(
        &offline,
        2,
        &[
            "--offline forbids",
            "hint: drop --offline",
            "--insecure-ignore-tlog",
        ],
    );
    // cosign's opt-out: accepted, and said so in the verdict and on stderr.
    let ignored = env.verify_key(
        &file,
        &pem,
        &[
            &"--signature",
            &sig,
            &"--offline",
            &"--insecure-ignore-tlog",
        ],
    );
    assert_run(
        &ignored,
        0,
        &[
            "OK ",
            "in no transparency log: --insecure-ignore-tlog",
            "warning:",
        ],
    );
    // An unlogged signature is found nowhere: the log lookup says no.
    let unlogged = env.path("unlogged.bin");
    std::fs::write(&unlogged, b"never logged").unwrap();
    let unlogged_sig = env.path("unlogged.bin.sig");
    std::fs::write(&unlogged_sig, B64.encode(key.sign(b"never logged"))).unwrap();
    let result = env.verify_logged_sig(&unlogged, &pem, &unlogged_sig);
    assert_run(&result, 1, &["not found in transparency log"]);
    // --insecure-ignore-tlog is a --key flag: keyless never skips the log.
    let keyless = env.verify(&[&file, &"--insecure-ignore-tlog"]);
    assert_run(&keyless, 2, &["--key"]);
}

#[test]
fn bad_key_files_exit_2_without_showing_the_key() {
    let env = Env::new();
    let key = TestKey::new(Kind::P256);
    let (file, _) = env.signed("f.bin", b"data", &key);
    for kind in KINDS {
        let private = TestKey::new(kind).private_pem();
        let path = env.path(&format!("{kind:?}.key"));
        std::fs::write(&path, &private).unwrap();
        let result = env.verify_key(&file, &path, &[&"--offline"]);
        assert_run(&result, 2, &["holds a private key", "hint: never pass"]);
        let body_line = private.lines().nth(1).unwrap();
        assert!(
            !result.all().contains(body_line),
            "the private key leaked: {}",
            result.all()
        );
    }
    let cases: [(&str, String, &str); 5] = [
        (
            "garbage.pem",
            "not a key at all\n".into(),
            "is not a PEM public key",
        ),
        (
            "cert.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
            "expected a \"PUBLIC KEY\" block",
        ),
        (
            "junk.pub",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
            "unsupported public key",
        ),
        (
            "p521.pub",
            pem_encode(
                "PUBLIC KEY",
                EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA512_ASN1_SIGNING)
                    .unwrap()
                    .public_key()
                    .as_der()
                    .unwrap()
                    .as_ref(),
            ),
            "expected ECDSA P-256/P-384, Ed25519 or RSA",
        ),
        (
            "rsa1024.pub",
            pem_encode("PUBLIC KEY", &rsa_1024_spki()),
            "unsupported public key",
        ),
    ];
    for (name, text, expected) in cases {
        let path = env.path(name);
        std::fs::write(&path, text).unwrap();
        let result = env.verify_key(&file, &path, &[&"--offline"]);
        assert_run(&result, 2, &[expected]);
    }
    let missing = env.verify_key(&file, &env.path("absent.pub"), &[&"--offline"]);
    assert_run(&missing, 2, &["cannot read key"]);
}

/// A well-formed SPKI for a 1024-bit RSA key, below Sigstore's 2048-bit floor.
fn rsa_1024_spki() -> Vec<u8> {
    // SEQUENCE { algorithm rsaEncryption NULL, BIT STRING { SEQUENCE { n (1024-bit), e } } }
    let mut n = vec![0x00, 0xc1];
    n.extend(std::iter::repeat_n(0x5a, 127));
    let n_der = der_tlv(0x02, &n);
    let e_der = der_tlv(0x02, &[0x01, 0x00, 0x01]);
    let rsa_key = der_tlv(0x30, &[n_der, e_der].concat());
    let mut bits = vec![0x00];
    bits.extend(rsa_key);
    let algorithm = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    der_tlv(0x30, &[algorithm.to_vec(), der_tlv(0x03, &bits)].concat())
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        len @ 0..=0x7f => out.push(len as u8),
        len @ 0x80..=0xff => out.extend([0x81, len as u8]),
        len => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

#[test]
fn identity_flags_are_refused_with_a_key() {
    let env = Env::new();
    let key = TestKey::new(Kind::P256);
    let (file, pem) = env.signed("f.bin", b"data", &key);
    let result = env.verify_key(
        &file,
        &pem,
        &[
            &"--certificate-identity",
            &"someone@example.com",
            &"--certificate-oidc-issuer",
            &"https://issuer.example",
        ],
    );
    assert_run(
        &result,
        2,
        &[
            "--certificate-identity, --certificate-oidc-issuer",
            "hint: drop the identity flags",
        ],
    );
    // A keyless bundle given with --key is named as such.
    let signed = env.stack.with_pki(|pki| {
        pki.sign_blob(
            sha256(b"data"),
            &crate::support::pki::GitLabClaims::example(),
        )
    });
    let keyless = env.path("keyless.sigstore.json");
    std::fs::write(&keyless, &signed.bundle_json).unwrap();
    let result = env.verify_key(&file, &pem, &[&"--bundle", &keyless, &"--offline"]);
    assert_run(&result, 2, &["is a keyless bundle", "hint: drop --key"]);
}

#[test]
fn a_digest_verifies_instead_of_the_file() {
    let env = Env::new();
    let key = TestKey::new(Kind::P256);
    let data = b"released artifact";
    let (file, pem) = env.signed("f.bin", data, &key);
    let bundle = with_suffix(&file, ".sigstore.json");
    let digest = format!("sha256:{}", hex(&sha256(data)));
    let positional = env.verify_key(&digest, &pem, &[&"--bundle", &bundle, &"--offline"]);
    assert_run(&positional, 0, &[&format!("OK {digest}")]);
    let flag = env.verify(&[
        &"--digest",
        &digest,
        &"--key",
        &pem,
        &"--bundle",
        &bundle,
        &"--offline",
    ]);
    assert_run(&flag, 0, &[&format!("OK {digest}")]);
    // The bare .sig with its Rekor entry works from a digest too.
    let sig = env.verify_logged_sig(&digest, &pem, &with_suffix(&file, ".sig"));
    assert_run(&sig, 0, &["OK sha256:"]);

    let other = format!("sha256:{}", hex(&sha256(b"something else")));
    let wrong = env.verify_key(&other, &pem, &[&"--bundle", &bundle, &"--offline"]);
    assert_run(
        &wrong,
        1,
        &[&format!(
            "expected sha256 {} (from the bundle), file has {}",
            hex(&sha256(data)),
            &other["sha256:".len()..]
        )],
    );
    // No file beside a digest: the evidence must be named.
    let alone = env.verify_key(&digest, &pem, &[&"--offline"]);
    assert_run(
        &alone,
        2,
        &["a digest has no file beside it", "--bundle FILE"],
    );

    // Ed25519 signs the bytes themselves: a digest cannot verify it.
    let ed = TestKey::new(Kind::Ed25519);
    let (ed_file, ed_pem) = env.signed("ed.bin", data, &ed);
    let ed_digest = env.verify_key(
        &digest,
        &ed_pem,
        &[
            &"--bundle",
            &with_suffix(&ed_file, ".sigstore.json"),
            &"--offline",
        ],
    );
    assert_run(
        &ed_digest,
        2,
        &["expected the file, found only its sha256 digest"],
    );
}

#[test]
fn malformed_digests_exit_2_saying_what_was_expected() {
    let bundle = vectors::path("bundles/conf-happy-path-v0.3.sigstore.json");
    let cases = [
        (
            "sha256:abcd".to_string(),
            "expected sha256:<64 hex digits>, found 4 hex digits",
        ),
        (format!("sha256:{}", "a".repeat(65)), "found 65 hex digits"),
        (
            format!("sha256:{}xy", "a".repeat(62)),
            "found a non-hex character 'x'",
        ),
        (
            format!("sha512:{}", "a".repeat(128)),
            "found sha512:…; gl-sign verifies sha256 digests only",
        ),
        (format!("md5:{}", "a".repeat(32)), "found md5:…"),
    ];
    for (digest, expected) in cases {
        for args in [
            vec![digest.clone()],
            vec!["--digest".into(), digest.clone()],
        ] {
            let result = run(vectors::verify_bundle(&bundle).args(&args));
            assert_run(&result, 2, &[expected, "is not a sha256 digest"]);
        }
    }
}

fn vector_digest() -> String {
    format!(
        "sha256:{}",
        hex(&sha256(&std::fs::read(vectors::artifact()).unwrap()))
    )
}

fn keyless_vector(args: &[&str]) -> Run {
    run(vectors::verify_bundle(&vectors::happy_v03_path())
        .arg("--trusted-root")
        .arg(vectors::prod_root())
        .args(args))
}

#[test]
fn a_digest_verifies_the_conformance_vector() {
    let digest = vector_digest();
    assert_run(&keyless_vector(&[&digest]), 0, &[&format!("OK {digest}")]);
    assert_run(&keyless_vector(&["--digest", &digest]), 0, &["OK sha256:"]);
    let wrong = format!("sha256:{}", hex(&sha256(b"not a.txt")));
    assert_run(
        &keyless_vector(&[&wrong]),
        1,
        &[&format!(
            "expected sha256 {} (from the bundle), file has {}",
            &digest["sha256:".len()..],
            &wrong["sha256:".len()..]
        )],
    );
    // A digest with a file: each is verified alone, so that is refused.
    let both = keyless_vector(&[&digest, vectors::artifact().to_str().unwrap()]);
    assert_run(&both, 2, &["a digest is verified on its own"]);
    // Without --bundle there is nothing beside a digest to find.
    let alone = run(gl_sign().args([
        "verify-blob",
        "--offline",
        &digest,
        "--certificate-identity",
        vectors::GITHUB_IDENTITY,
        "--certificate-oidc-issuer",
        vectors::GITHUB_ISSUER,
    ]));
    assert_run(
        &alone,
        2,
        &["a digest has no file beside it", "--bundle FILE"],
    );
}

#[test]
fn sigstore_python_agrees_on_digest_input() {
    let Some(bin) = crate::support::python_tool("sigstore") else {
        return;
    };
    let python = |digest: &str| {
        let out = std::process::Command::new(bin.join("sigstore"))
            .args(["verify", "identity", "--offline", "--bundle"])
            .arg(vectors::path("bundles/conf-happy-path-v0.3.sigstore.json"))
            .args([
                "--cert-identity",
                vectors::GITHUB_IDENTITY,
                "--cert-oidc-issuer",
                vectors::GITHUB_ISSUER,
                digest,
            ])
            .output()
            .unwrap();
        out.status.success()
    };
    let good = vector_digest();
    let wrong = format!("sha256:{}", hex(&sha256(b"not a.txt")));
    for (digest, verifies) in [(good, true), (wrong, false)] {
        assert_eq!(python(&digest), verifies, "sigstore-python on {digest}");
        let ours = keyless_vector(&[&digest]);
        assert_eq!(
            ours.code == 0,
            verifies,
            "gl-sign on {digest}: {}",
            ours.all()
        );
    }
}

#[test]
fn cosign_spellings_are_accepted_where_they_mean_the_same() {
    let file = vectors::artifact();
    let file = file.to_str().unwrap();
    for args in [
        vec!["--new-bundle-format"],
        vec!["--new-bundle-format=true"],
        vec!["--new-bundle-format=false"],
        vec!["--use-signed-timestamps=false"],
        vec!["--max-workers", "2"],
        vec!["--signature-digest-algorithm", "sha256"],
    ] {
        let result = keyless_vector(&[&args[..], &[file]].concat());
        assert_run(&result, 0, &["OK "]);
    }
}

#[test]
fn use_signed_timestamps_requires_an_rfc3161_timestamp() {
    // The v0.3 vector's signing time comes from its log entry only: cosign
    // with --use-signed-timestamps refuses it, and so does gl-sign.
    let file = vectors::artifact();
    let without = keyless_vector(&["--use-signed-timestamps", file.to_str().unwrap()]);
    assert_run(
        &without,
        1,
        &["expected an RFC 3161 signed timestamp (--use-signed-timestamps), the bundle has none"],
    );
    // The Rekor v2 vector carries a TSA timestamp, which is verified.
    let with = run(vectors::verify_bundle(&vectors::path(
        "bundles/conf-rekor2-happy-path.sigstore.json",
    ))
    .args(["--use-signed-timestamps", "--trusted-root"])
    .arg(vectors::path("trusted_root.staging.json"))
    .arg(&file));
    assert_run(&with, 0, &["OK "]);
    // A managed-key bundle without one is refused the same way.
    let env = Env::new();
    let key = TestKey::new(Kind::P256);
    let (signed, pem) = env.signed("f.bin", b"data", &key);
    let result = env.verify_key(&signed, &pem, &[&"--offline", &"--use-signed-timestamps"]);
    assert_run(&result, 1, &["expected an RFC 3161 signed timestamp"]);
}

#[test]
fn cosign_flags_without_a_gl_sign_meaning_are_refused_with_a_hint() {
    let file = vectors::artifact();
    let file = file.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--insecure-ignore-sct"],
            "never skips the certificate's SCT check",
        ),
        (&["--certificate-chain", "chain.pem"], "--trusted-root FILE"),
        (&["--ca-roots", "roots.pem"], "--trusted-root FILE"),
        (&["--ca-intermediates", "int.pem"], "--trusted-root FILE"),
        (
            &["--timestamp-certificate-chain", "tsa.pem"],
            "--trusted-root FILE",
        ),
        (
            &["--sct", "sct.json"],
            "embedded in the certificate is always checked",
        ),
        (&["--rfc3161-timestamp", "ts.der"], "pass a --bundle"),
        (&["--private-infrastructure"], "--trusted-root FILE"),
        (&["--experimental-oci11"], "OCI images"),
        (&["--sk"], "--key FILE"),
        (&["--slot", "signature"], "--key FILE"),
        (
            &["--certificate-github-workflow-trigger", "push"],
            "--certificate-build-trigger",
        ),
        (
            &["--certificate-github-workflow-sha", "abc"],
            "--certificate-source-repository-digest",
        ),
        (
            &["--certificate-github-workflow-name", "ci"],
            "--certificate-build-config-uri",
        ),
        (
            &["--certificate-github-workflow-repository", "o/r"],
            "--certificate-source-repository-uri",
        ),
        (
            &["--certificate-github-workflow-ref", "refs/heads/main"],
            "--certificate-source-repository-ref",
        ),
        (
            &["--signature-digest-algorithm", "sha512"],
            "the key type and the bundle's message digest decide",
        ),
    ];
    for (flags, hint) in cases {
        let result = keyless_vector(&[*flags, &[file]].concat());
        assert_run(
            &result,
            2,
            &["is a cosign flag gl-sign does not accept", "hint:", hint],
        );
        assert!(
            !result.stderr.contains("unexpected argument"),
            "{flags:?}: {}",
            result.stderr
        );
    }
}

#[test]
fn cosign_v2_key_bundles_verify_and_a_bad_set_is_rejected() {
    let env = Env::new();
    for kind in [Kind::P256, Kind::Rsa] {
        let key = TestKey::new(kind);
        let data = b"cosign v2 bundle";
        let (file, pem) = env.signed(&format!("{kind:?}.bin"), data, &key);
        let bundle: Value =
            serde_json::from_slice(&std::fs::read(with_suffix(&file, ".sigstore.json")).unwrap())
                .unwrap();
        let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
        let legacy = |set: &str| {
            json!({
                "base64Signature": bundle["messageSignature"]["signature"],
                "rekorBundle": {
                    "SignedEntryTimestamp": set,
                    "Payload": {
                        "body": entry["canonicalizedBody"],
                        "integratedTime": entry["integratedTime"].as_str().unwrap().parse::<i64>().unwrap(),
                        "logIndex": entry["logIndex"].as_str().unwrap().parse::<i64>().unwrap(),
                        "logID": hex(&B64.decode(entry["logId"]["keyId"].as_str().unwrap()).unwrap()),
                    },
                },
            })
        };
        let set = entry["inclusionPromise"]["signedEntryTimestamp"]
            .as_str()
            .unwrap();
        let good = env.path(&format!("{kind:?}.cosign.bundle"));
        std::fs::write(&good, legacy(set).to_string()).unwrap();
        let result = env.verify_key(&file, &pem, &[&"--bundle", &good, &"--offline"]);
        assert_run(&result, 0, &["OK "]);
        // One flipped bit in the SET.
        let mut set_bytes = B64.decode(set).unwrap();
        let last = set_bytes.len() - 1;
        set_bytes[last] ^= 1;
        let bad = env.path(&format!("{kind:?}.bad.bundle"));
        std::fs::write(&bad, legacy(&B64.encode(set_bytes)).to_string()).unwrap();
        let result = env.verify_key(&file, &pem, &[&"--bundle", &bad, &"--offline"]);
        assert_run(&result, 1, &["FAILED"]);
        // Without "rekorBundle" the entry is looked up, as for a bare .sig.
        let unlogged = env.path(&format!("{kind:?}.nolog.bundle"));
        std::fs::write(
            &unlogged,
            json!({"base64Signature": bundle["messageSignature"]["signature"]}).to_string(),
        )
        .unwrap();
        let result = env.verify_key(
            &file,
            &pem,
            &[
                &"--bundle",
                &unlogged,
                &"--rekor-url",
                &env.stack.rekor_url(),
            ],
        );
        assert_run(&result, 0, &["OK ", "key sha256:"]);
    }
}

#[test]
fn an_extra_unproven_log_entry_is_refused() {
    let env = Env::new();
    let key = TestKey::new(Kind::P256);
    let (file, pem) = env.signed("f.bin", b"data", &key);
    let path = with_suffix(&file, ".sigstore.json");
    let mut bundle: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut extra = bundle["verificationMaterial"]["tlogEntries"][0].clone();
    let extra_map = extra.as_object_mut().unwrap();
    extra_map.remove("inclusionProof");
    extra_map.remove("inclusionPromise");
    bundle["verificationMaterial"]["tlogEntries"]
        .as_array_mut()
        .unwrap()
        .push(extra);
    std::fs::write(&path, bundle.to_string()).unwrap();
    let result = env.verify_key(&file, &pem, &[&"--offline"]);
    assert_run(
        &result,
        1,
        &["neither an inclusion proof nor a signed entry timestamp"],
    );
}

#[test]
fn a_digest_with_detached_keyless_files_is_looked_up_in_rekor() {
    let env = Env::new();
    let claims = env.stack.gitlab_claims();
    let data = b"keyless, detached";
    let signed = env
        .stack
        .with_pki(|pki| pki.sign_blob(sha256(data), &claims));
    let sig = env.path("f.sig");
    let crt = env.path("f.crt");
    std::fs::write(&sig, signed.signature_b64()).unwrap();
    std::fs::write(&crt, &signed.cert_pem).unwrap();
    let identity = claims.identity();
    let issuer = claims.issuer();
    let verify = |digest: &str| {
        env.verify(&[
            &digest,
            &"--signature",
            &sig,
            &"--certificate",
            &crt,
            &"--rekor-url",
            &env.stack.rekor_url(),
            &"--certificate-identity",
            &identity,
            &"--certificate-oidc-issuer",
            &issuer,
        ])
    };
    let digest = format!("sha256:{}", hex(&sha256(data)));
    assert_run(&verify(&digest), 0, &[&format!("OK {digest}")]);
    let other = format!("sha256:{}", hex(&sha256(b"other")));
    assert_run(&verify(&other), 1, &["not found in transparency log"]);
}

#[test]
fn false_values_of_refused_cosign_switches_are_accepted() {
    let file = vectors::artifact();
    for flag in [
        "--insecure-ignore-sct=false",
        "--private-infrastructure=false",
        "--sk=false",
    ] {
        let result = keyless_vector(&[flag, file.to_str().unwrap()]);
        assert_run(&result, 0, &["OK "]);
    }
}
