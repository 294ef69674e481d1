//! The same production signature in every form users have: cosign's legacy
//! bundle and detached `.sig`/`.crt` (looked up in a local Rekor).

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use crate::support::rekor::{Behaviour, MockRekor};
use crate::support::{assert_run, gl_sign, run, vectors, Run};

const POLICY: [&str; 4] = [
    "--certificate-identity",
    vectors::GITHUB_IDENTITY,
    "--certificate-oidc-issuer",
    vectors::GITHUB_ISSUER,
];

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn verify_with(args: &[&std::ffi::OsStr]) -> Run {
    run(gl_sign()
        .arg("verify-blob")
        .arg("--trusted-root")
        .arg(vectors::prod_root())
        .args(args)
        .args(POLICY))
}

fn verify_cosign_bundle(bundle: &Value) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "a.txt.bundle",
        serde_json::to_vec(bundle).unwrap(),
    );
    verify_with(&[
        "--offline".as_ref(),
        vectors::artifact().as_os_str(),
        "--bundle".as_ref(),
        path.as_os_str(),
    ])
}

#[test]
fn cosign_legacy_bundle_verifies_offline() {
    let legacy = vectors::cosign_bundle(&vectors::happy_v03());
    assert_run(&verify_cosign_bundle(&legacy), 0, &["OK "]);
    // cosign also accepts a plain PEM in "cert".
    let mut pem = legacy.clone();
    pem["cert"] = Value::String(vectors::certificate_pem(&vectors::certificate_der(
        &vectors::happy_v03(),
    )));
    assert_run(&verify_cosign_bundle(&pem), 0, &["OK "]);
}

#[test]
fn tampered_cosign_bundles_are_rejected() {
    let legacy = vectors::cosign_bundle(&vectors::happy_v03());
    let cases: Vec<(&str, Box<dyn Fn(&mut Value)>, i32, &str)> = vec![
        (
            "SET",
            Box::new(|b| vectors::flip_base64(&mut b["rekorBundle"]["SignedEntryTimestamp"])),
            1,
            "SET",
        ),
        (
            "signature",
            Box::new(|b| vectors::flip_base64(&mut b["base64Signature"])),
            1,
            "FAILED",
        ),
        (
            "integrated time",
            Box::new(|b| {
                let t = b["rekorBundle"]["Payload"]["integratedTime"]
                    .as_i64()
                    .unwrap();
                b["rekorBundle"]["Payload"]["integratedTime"] = (t + 1).into();
            }),
            1,
            "SET",
        ),
        (
            "log index",
            Box::new(|b| {
                let i = b["rekorBundle"]["Payload"]["logIndex"].as_i64().unwrap();
                b["rekorBundle"]["Payload"]["logIndex"] = (i + 1).into();
            }),
            1,
            "SET",
        ),
        (
            "log body",
            Box::new(|b| {
                let body = STANDARD
                    .decode(b["rekorBundle"]["Payload"]["body"].as_str().unwrap())
                    .unwrap();
                let text = String::from_utf8(body)
                    .unwrap()
                    .replace("\"sha256\"", "\"sha256\" ");
                b["rekorBundle"]["Payload"]["body"] = Value::String(STANDARD.encode(text));
            }),
            1,
            "FAILED",
        ),
        (
            "certificate swapped",
            Box::new(|b| {
                let other: Value = serde_json::from_slice(
                    &std::fs::read(vectors::path(
                        "bundles/conf-bundle-with-root-cert_fail.sigstore.json",
                    ))
                    .unwrap(),
                )
                .unwrap();
                let der = STANDARD
                    .decode(
                        other["verificationMaterial"]["x509CertificateChain"]["certificates"][0]
                            ["rawBytes"]
                            .as_str()
                            .unwrap(),
                    )
                    .unwrap();
                b["cert"] = Value::String(STANDARD.encode(vectors::certificate_pem(&der)));
            }),
            1,
            "FAILED",
        ),
        (
            "log id",
            Box::new(|b| b["rekorBundle"]["Payload"]["logID"] = Value::String("00".repeat(32))),
            1,
            "FAILED",
        ),
        (
            "log id not hex",
            Box::new(|b| b["rekorBundle"]["Payload"]["logID"] = Value::String("zz".into())),
            2,
            "logID must be 64 hex digits",
        ),
        (
            "certificate is a key",
            Box::new(|b| {
                b["cert"] = Value::String(
                    STANDARD.encode("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
                )
            }),
            2,
            "found a public key",
        ),
    ];
    let mut failures = Vec::new();
    for (what, mutate, code, fragment) in cases {
        let mut bundle = legacy.clone();
        mutate(&mut bundle);
        let result = verify_cosign_bundle(&bundle);
        if result.code != code || !result.all().contains(fragment) {
            failures.push(format!(
                "{what}: expected {code} with {fragment:?}, got {}: {}",
                result.code,
                result.all()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cosign_bundle_with_certificate_flag_must_agree() {
    let happy = vectors::happy_v03();
    let dir = tempfile::tempdir().unwrap();
    let bundle = write(
        dir.path(),
        "b.json",
        serde_json::to_vec(&vectors::cosign_bundle(&happy)).unwrap(),
    );
    let cert = write(
        dir.path(),
        "a.crt",
        vectors::certificate_pem(&vectors::certificate_der(&happy)),
    );
    let ok = verify_with(&[
        "--offline".as_ref(),
        vectors::artifact().as_os_str(),
        "--bundle".as_ref(),
        bundle.as_os_str(),
        "--certificate".as_ref(),
        cert.as_os_str(),
    ]);
    assert_run(&ok, 0, &["OK "]);
    let mut der = vectors::certificate_der(&happy);
    let n = der.len() - 3;
    der[n] ^= 1;
    let other = write(dir.path(), "b.crt", vectors::certificate_pem(&der));
    let bad = verify_with(&[
        "--offline".as_ref(),
        vectors::artifact().as_os_str(),
        "--bundle".as_ref(),
        bundle.as_os_str(),
        "--certificate".as_ref(),
        other.as_os_str(),
    ]);
    assert_run(&bad, 1, &["does not match the one in the bundle"]);
}

/// `.sig`/`.crt` beside a copy of a.txt, in cosign's layouts.
struct Detached {
    dir: tempfile::TempDir,
    file: PathBuf,
}

fn detached(sig_newline: bool, cert_base64: bool) -> Detached {
    let happy = vectors::happy_v03();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "a.txt",
        std::fs::read(vectors::artifact()).unwrap(),
    );
    let mut sig = STANDARD.encode(vectors::signature_der(&happy));
    if sig_newline {
        sig.push('\n');
    }
    write(dir.path(), "a.txt.sig", sig);
    let pem = vectors::certificate_pem(&vectors::certificate_der(&happy));
    write(
        dir.path(),
        "a.txt.crt",
        if cert_base64 {
            STANDARD.encode(pem)
        } else {
            pem
        },
    );
    Detached { dir, file }
}

fn rekor_with_vector() -> MockRekor {
    MockRekor::start(vec![vectors::rekor_response(&vectors::happy_v03())])
}

#[test]
fn detached_files_verify_through_a_rekor_lookup() {
    let rekor = rekor_with_vector();
    for (sig_newline, cert_base64) in [(false, false), (true, false), (false, true), (true, true)] {
        let d = detached(sig_newline, cert_base64);
        // Found beside the file by default.
        let result = verify_with(&[
            "--rekor-url".as_ref(),
            rekor.url.as_ref(),
            d.file.as_os_str(),
        ]);
        assert_run(&result, 0, &["OK "]);
        // And named explicitly.
        let result = verify_with(&[
            "--rekor-url".as_ref(),
            rekor.url.as_ref(),
            d.file.as_os_str(),
            "--signature".as_ref(),
            d.dir.path().join("a.txt.sig").as_os_str(),
            "--certificate".as_ref(),
            d.dir.path().join("a.txt.crt").as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
        ]);
        assert_run(&result, 0, &["\"evidence\": \"detached+rekor\""]);
    }
    assert_eq!(rekor.requests(), 8);
}

#[test]
fn detached_files_offline_need_a_bundle() {
    let rekor = rekor_with_vector();
    let d = detached(false, false);
    let result = verify_with(&["--offline".as_ref(), d.file.as_os_str()]);
    assert_run(
        &result,
        2,
        &[
            "cannot be verified offline",
            "hint: verify with the .sigstore.json bundle",
        ],
    );
    assert_eq!(rekor.requests(), 0);
}

#[test]
fn detached_signature_unknown_to_the_log_is_rejected() {
    let rekor = MockRekor::start(vec![]);
    let d = detached(false, false);
    let result = verify_with(&[
        "--rekor-url".as_ref(),
        rekor.url.as_ref(),
        d.file.as_os_str(),
    ]);
    assert_run(&result, 1, &["signature not found in transparency log"]);
}

#[test]
fn detached_lookup_does_not_trust_what_rekor_returns() {
    let mut response = vectors::rekor_response(&vectors::happy_v03());
    let entry = response
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    vectors::flip_base64(&mut entry["verification"]["signedEntryTimestamp"]);
    let rekor = MockRekor::start(vec![response]);
    let d = detached(false, false);
    let result = verify_with(&[
        "--rekor-url".as_ref(),
        rekor.url.as_ref(),
        d.file.as_os_str(),
    ]);
    assert_run(&result, 1, &["SET"]);

    let mut response = vectors::rekor_response(&vectors::happy_v03());
    let entry = response
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    entry["verification"]["inclusionProof"]["hashes"][0] = Value::String("00".repeat(32));
    let rekor = MockRekor::start(vec![response]);
    let result = verify_with(&[
        "--rekor-url".as_ref(),
        rekor.url.as_ref(),
        d.file.as_os_str(),
    ]);
    assert_run(&result, 1, &["inclusion proof"]);
}

#[test]
fn detached_lookup_with_the_wrong_file_finds_nothing() {
    let rekor = rekor_with_vector();
    let d = detached(false, false);
    std::fs::write(&d.file, b"not what was signed").unwrap();
    let result = verify_with(&[
        "--rekor-url".as_ref(),
        rekor.url.as_ref(),
        d.file.as_os_str(),
    ]);
    assert_run(&result, 1, &["signature not found in transparency log"]);
}

#[test]
fn rekor_failures_are_retried_then_reported() {
    let rekor = rekor_with_vector();
    rekor.set_behaviour(Behaviour {
        fail_first: 2,
        ..Default::default()
    });
    let d = detached(false, false);
    let result = verify_with(&[
        "--rekor-url".as_ref(),
        rekor.url.as_ref(),
        d.file.as_os_str(),
    ]);
    assert_run(&result, 0, &["OK "]);
    assert_eq!(rekor.requests(), 3);

    let rekor = rekor_with_vector();
    rekor.set_behaviour(Behaviour {
        always_status: Some(500),
        ..Default::default()
    });
    let result = verify_with(&[
        "--rekor-url".as_ref(),
        rekor.url.as_ref(),
        d.file.as_os_str(),
    ]);
    assert_run(
        &result,
        2,
        &[
            "cannot look up the signature in the transparency log",
            "500",
        ],
    );
    assert_eq!(rekor.requests(), 4, "one try and three retries");

    // Nothing listening: a connection failure is exit 2, not a rejection.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let result = verify_with(&["--rekor-url".as_ref(), url.as_ref(), d.file.as_os_str()]);
    assert_run(&result, 2, &["cannot look up the signature"]);
}

#[test]
fn malformed_detached_inputs_say_what_they_are() {
    let d = detached(false, false);
    let sig = d.dir.path().join("a.txt.sig");
    let crt = d.dir.path().join("a.txt.crt");
    // Arguments swapped.
    let result = verify_with(&[
        "--offline".as_ref(),
        d.file.as_os_str(),
        "--signature".as_ref(),
        crt.as_os_str(),
        "--certificate".as_ref(),
        sig.as_os_str(),
    ]);
    assert_run(
        &result,
        2,
        &["found a PEM block", "hint: this looks like the certificate"],
    );
    // DER certificate.
    let der = write(
        d.dir.path(),
        "a.der",
        vectors::certificate_der(&vectors::happy_v03()),
    );
    let result = verify_with(&[
        "--offline".as_ref(),
        d.file.as_os_str(),
        "--signature".as_ref(),
        sig.as_os_str(),
        "--certificate".as_ref(),
        der.as_os_str(),
    ]);
    assert_run(&result, 2, &["found DER", "openssl x509 -inform der"]);
    // Missing evidence.
    std::fs::remove_file(&sig).unwrap();
    let result = verify_with(&["--offline".as_ref(), d.file.as_os_str()]);
    assert_run(&result, 2, &["no signature found", "a.txt.sigstore.json"]);
}
