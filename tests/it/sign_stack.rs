//! `gl-sign sign-blob` against the local Sigstore (OIDC issuer, Fulcio, Rekor
//! on 127.0.0.1, real cryptography): round trips through every verification
//! form, cosign's byte layouts, sigstore-python in both directions, and faults.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::support::signing::SigningSetup;
use crate::support::sigstore_stack::endpoint;
use crate::support::{assert_live_snapshot, assert_run, gl_sign, python_tool, run, with_suffix};

type Setup = SigningSetup;

fn setup(n: usize) -> Setup {
    SigningSetup::start(n, |i| {
        (
            format!("pkg_{i}-1.0-py3-none-any.whl"),
            format!("wheel {i} contents").repeat(100),
        )
    })
}

fn outputs_exist(file: &Path) -> [bool; 3] {
    SigningSetup::outputs_exist(file)
}

#[test]
fn signs_many_files_with_one_certificate_and_every_form_verifies() {
    let s = setup(4);
    let signed = s.sign_local(&[]);
    assert_run(
        &signed,
        0,
        &[&format!("as {}", s.identity()), "certificate issued for"],
    );
    assert_eq!(
        s.stack.fulcio().requests(endpoint::FULCIO_SIGNING_CERT),
        1,
        "one certificate for all files"
    );
    assert_eq!(
        s.stack.rekor().requests(endpoint::REKOR_CREATE),
        4,
        "one log entry per file"
    );
    let certs: Vec<Vec<u8>> = s
        .files
        .iter()
        .map(|f| std::fs::read(with_suffix(f, ".crt")).unwrap())
        .collect();
    assert!(
        certs.windows(2).all(|w| w[0] == w[1]),
        "every .crt is the same certificate"
    );

    // Bundles, offline.
    assert_run(
        &s.verify(&s.files, &["--offline"]),
        0,
        &["4 of 4 files verified"],
    );
    // Detached .sig/.crt, with the entry looked up in the local Rekor (the
    // trusted root names it, so no --rekor-url is needed).
    for f in &s.files {
        std::fs::rename(
            with_suffix(f, ".sigstore.json"),
            with_suffix(f, ".bundle.json"),
        )
        .unwrap();
    }
    let before = s.stack.rekor().requests(endpoint::REKOR_RETRIEVE);
    assert_run(&s.verify(&s.files, &[]), 0, &["4 of 4 files verified"]);
    assert_eq!(
        s.stack.rekor().requests(endpoint::REKOR_RETRIEVE) - before,
        4
    );
    // Explicit bundle path, offline.
    let bundle = with_suffix(&s.files[0], ".bundle.json");
    let one = s.verify(
        &s.files[..1],
        &["--offline", "--bundle", bundle.to_str().unwrap()],
    );
    assert_run(&one, 0, &["OK "]);
}

#[test]
fn round_trip_rejects_wrong_identity_issuer_and_tampered_file() {
    let s = setup(2);
    assert_run(&s.sign_local(&[]), 0, &[]);
    let wrong_identity = s.verify_as(
        &s.files,
        &s.identity().replace("group/proj", "group/other"),
        s.stack.issuer_url(),
        &["--offline"],
    );
    assert_run(
        &wrong_identity,
        1,
        &[
            "expected identity",
            &format!("certificate has {}", s.identity()),
        ],
    );
    let wrong_issuer = s.verify_as(
        &s.files,
        &s.identity(),
        "https://gitlab.com",
        &["--offline"],
    );
    assert_run(&wrong_issuer, 1, &["expected issuer https://gitlab.com"]);
    std::fs::write(&s.files[1], b"swapped").unwrap();
    let tampered = s.verify(&s.files, &["--offline"]);
    assert_run(&tampered, 1, &["1 of 2 files verified", "expected sha256"]);
    // Also through the detached path: the log has no entry for the new digest.
    std::fs::remove_file(with_suffix(&s.files[1], ".sigstore.json")).unwrap();
    let detached = s.verify(&s.files[1..], &[]);
    assert_run(&detached, 1, &["signature not found in transparency log"]);
}

#[test]
fn output_files_have_cosigns_layout_and_openssl_agrees() {
    let s = setup(1);
    let out = s.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let signed = s.sign_local(&["--output-dir", out.to_str().unwrap()]);
    assert_live_snapshot("run-sign-blob-ok", &signed);
    let name = s.files[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let sig = std::fs::read_to_string(out.join(format!("{name}.sig"))).unwrap();
    assert!(
        !sig.ends_with('\n') && !sig.contains(char::is_whitespace),
        ".sig is bare base64"
    );
    let der = STANDARD.decode(&sig).unwrap();
    assert_eq!(
        der[0], 0x30,
        "an ASN.1 SEQUENCE (DER ECDSA-Sig-Value), not r||s"
    );
    let pem = std::fs::read_to_string(out.join(format!("{name}.crt"))).unwrap();
    assert!(
        pem.starts_with("-----BEGIN CERTIFICATE-----\n")
            && pem.ends_with("-----END CERTIFICATE-----\n")
    );
    assert!(
        pem.lines().all(|l| l.len() <= 64),
        "64-column PEM, as Go writes it"
    );
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 1, "leaf only");

    // openssl: the signature verifies over the file with the certificate's key.
    let sig_der = s.dir.path().join("sig.der");
    std::fs::write(&sig_der, &der).unwrap();
    let pubkey = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(out.join(format!("{name}.crt")))
        .output()
        .unwrap();
    assert!(pubkey.status.success());
    let key = s.dir.path().join("key.pem");
    std::fs::write(&key, &pubkey.stdout).unwrap();
    let verified = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&key)
        .arg("-signature")
        .arg(&sig_der)
        .arg(&s.files[0])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&verified.stdout).trim(),
        "Verified OK"
    );

    // --b64-certificate: base64 of that same PEM, no newline (cosign's default).
    let single = s.dir.path().join("single");
    std::fs::create_dir(&single).unwrap();
    let (sig2, crt2, bundle2) = (
        single.join("a.sig"),
        single.join("a.crt"),
        single.join("a.json"),
    );
    let signed = s.sign_local(&[
        "--b64-certificate",
        "--output-signature",
        sig2.to_str().unwrap(),
        "--output-certificate",
        crt2.to_str().unwrap(),
        "--bundle",
        bundle2.to_str().unwrap(),
    ]);
    assert_run(&signed, 0, &[]);
    let b64 = std::fs::read_to_string(&crt2).unwrap();
    assert!(!b64.contains('\n'));
    assert!(String::from_utf8(STANDARD.decode(&b64).unwrap())
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----\n"));
    // verify-blob takes that layout, and the explicit bundle name.
    let detached = s.verify(
        &s.files,
        &[
            "--signature",
            sig2.to_str().unwrap(),
            "--certificate",
            crt2.to_str().unwrap(),
        ],
    );
    assert_run(&detached, 0, &["OK "]);
    assert_run(
        &s.verify(
            &s.files,
            &["--offline", "--bundle", bundle2.to_str().unwrap()],
        ),
        0,
        &["OK "],
    );
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle2).unwrap()).unwrap();
    assert_eq!(
        bundle["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
}

/// sigstore-python, from `$GL_SIGN_PYTHON_BIN` (set by scripts/test) or `.venv/bin`.
fn sigstore_python() -> Option<PathBuf> {
    python_tool("sigstore").map(|bin| bin.join("sigstore"))
}

#[test]
fn sigstore_python_verifies_gl_sign_bundles() {
    let Some(python) = sigstore_python() else {
        return;
    };
    let s = setup(3);
    assert_run(&s.sign_local(&[]), 0, &[]);
    let config = &s.trust.client_trust_config;
    let (ok, text) = s.python_verify(&python, config, &s.identity(), &s.files);
    assert!(ok, "sigstore-python rejected gl-sign's bundles:\n{text}");
    assert_eq!(text.matches("OK: ").count(), 3, "{text}");
    // And it rejects a wrong identity, so the check above means something.
    let (wrong, _) = s.python_verify(&python, config, "https://example.com/other", &s.files[..1]);
    assert!(!wrong);
}

#[test]
fn gl_sign_verifies_sigstore_python_bundles() {
    let Some(python) = sigstore_python() else {
        return;
    };
    let s = setup(1);
    let out = s.python_sign(&python, &s.trust.client_trust_config, &s.files[0]);
    assert!(
        out.status.success(),
        "sigstore-python sign failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(with_suffix(&s.files[0], ".sigstore.json").exists());
    assert_run(&s.verify(&s.files, &["--offline"]), 0, &["OK "]);
    let url = s.stack.issuer_url().to_string();
    let gitlab = run(gl_sign()
        .arg("verify-blob")
        .args(&s.files)
        .args(["--offline", "--trusted-root"])
        .arg(&s.trust.trusted_root)
        .args([
            "--gitlab-url",
            &url,
            "--gitlab-project",
            "group/proj",
            "--gitlab-ref",
            "refs/heads/main",
        ]));
    assert_run(&gitlab, 0, &["OK "]);
}

#[test]
fn transient_faults_are_retried_and_signing_succeeds() {
    let s = setup(2);
    s.stack.fulcio().fail_next(2, 503);
    s.stack.rekor().fail_next(2, 500);
    assert_run(&s.sign_local(&[]), 0, &[]);
    assert_eq!(
        s.stack.fulcio().requests(endpoint::FULCIO_SIGNING_CERT),
        3,
        "two 503s, then the certificate"
    );
    assert!(
        s.stack.rekor().requests(endpoint::REKOR_CREATE) >= 4,
        "two 500s retried"
    );
    assert_run(
        &s.verify(&s.files, &["--offline"]),
        0,
        &["2 of 2 files verified"],
    );

    // 429 and a dropped connection, on fresh files.
    let s = setup(2);
    s.stack.rekor().fail_next(1, 429);
    s.stack.fulcio().drop_next(1);
    assert_run(&s.sign_local(&[]), 0, &[]);
    assert_run(
        &s.verify(&s.files, &["--offline"]),
        0,
        &["2 of 2 files verified"],
    );
}

#[test]
fn persistent_faults_fail_with_exit_2_and_write_nothing() {
    let s = setup(2);
    s.stack.fulcio().fail_next(100, 500);
    let result = s.sign_local(&[]);
    assert_run(&result, 2, &["cannot get a signing certificate", "500"]);
    assert_eq!(
        s.stack.fulcio().requests(endpoint::FULCIO_SIGNING_CERT),
        4,
        "one try and three retries"
    );
    assert!(s.nothing_written());

    s.stack.clear_all_faults();
    s.stack.rekor().fail_next(100, 503);
    let result = s.sign_local(&[]);
    assert_run(&result, 2, &["cannot log the signature", "503"]);
    assert!(s.nothing_written());
    assert!(std::fs::read_dir(s.dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".gl-sign-")));
}

#[test]
fn fulcio_rejecting_the_token_is_explained() {
    use crate::support::sigstore_stack::TokenOptions;
    let s = setup(1);
    let forged = s.stack.mint_token(
        &s.stack.gitlab_claims(),
        &TokenOptions::default().signed_by_foreign_key(),
    );
    let result = s.sign_blob(&forged, &s.files, &s.local_services());
    // "refused the request (401)" and "hint: Fulcio rejected the identity token".
    assert_live_snapshot("run-sign-blob-fulcio-refuses-the-token", &result);
    assert!(
        !result.all().contains(forged.split('.').nth(1).unwrap()),
        "token leaked"
    );
    assert_eq!(outputs_exist(&s.files[0]), [false; 3]);
}

#[test]
fn wrong_answers_from_fulcio_or_rekor_are_refused() {
    let s = setup(1);
    s.stack.fulcio_issue_for_other_identity(1);
    let result = s.sign_local(&[]);
    assert_run(
        &result,
        2,
        &[
            "Fulcio issued a certificate for https://",
            "attacker/other-project",
            &format!("expected {}", s.identity()),
        ],
    );
    assert_eq!(
        s.stack.rekor().requests(endpoint::REKOR_CREATE),
        0,
        "nothing was logged with it"
    );
    assert_eq!(outputs_exist(&s.files[0]), [false; 3]);

    s.stack.clear_all_faults();
    s.stack.rekor_corrupt_set(1);
    let result = s.sign_local(&[]);
    assert_run(&result, 2, &["does not verify; nothing was written", "SET"]);
    assert_eq!(outputs_exist(&s.files[0]), [false; 3]);

    s.stack.clear_all_faults();
    s.stack.rekor_return_other_body(1);
    let result = s.sign_local(&[]);
    assert_run(&result, 2, &["nothing was written"]);
    assert_eq!(outputs_exist(&s.files[0]), [false; 3]);

    // With the services honest again, the same command works.
    s.stack.clear_all_faults();
    assert_run(&s.sign_local(&[]), 0, &[]);
    assert_eq!(outputs_exist(&s.files[0]), [true; 3]);
}

#[test]
fn rerun_after_a_partial_failure_redoes_only_what_is_missing() {
    let s = setup(3);
    s.stack.rekor_corrupt_set(1);
    let first = s.sign_local(&[]);
    assert_run(&first, 2, &["does not verify"]);
    let signed: Vec<bool> = s
        .files
        .iter()
        .map(|f| outputs_exist(f) == [true; 3])
        .collect();
    assert_eq!(
        signed.iter().filter(|&&b| b).count(),
        2,
        "the two good files were written: {signed:?}"
    );
    assert!(s
        .files
        .iter()
        .all(|f| matches!(outputs_exist(f), [true, true, true] | [false, false, false])));

    s.stack.clear_all_faults();
    s.stack.rekor().reset_counters();
    let second = s.sign_local(&[]);
    assert_run(&second, 0, &["kept "]);
    assert_eq!(second.stderr.matches("kept ").count(), 2);
    assert_eq!(
        s.stack.rekor().requests(endpoint::REKOR_CREATE),
        1,
        "only the missing file is logged again"
    );
    assert_run(
        &s.verify(&s.files, &["--offline"]),
        0,
        &["3 of 3 files verified"],
    );

    // A third run does no signing work at all.
    s.stack.fulcio().reset_counters();
    assert_run(&s.sign_local(&[]), 0, &[]);
    assert_eq!(s.stack.fulcio().requests(endpoint::FULCIO_SIGNING_CERT), 0);
}

#[test]
fn an_expired_certificate_is_not_used() {
    let s = setup(1);
    let eleven_minutes_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(11 * 60);
    s.stack
        .with_pki(|pki| pki.set_clock(Some(eleven_minutes_ago)));
    let result = s.sign_local(&[]);
    assert_run(
        &result,
        2,
        &[
            "certificate expired at",
            "nothing was written",
            "hint: Fulcio certificates live 10 minutes",
        ],
    );
    assert_eq!(s.stack.rekor().requests(endpoint::REKOR_CREATE), 0);
    assert_eq!(outputs_exist(&s.files[0]), [false; 3]);
}

/// gl-sign's Rekor v1 client for the local log, and a runtime to drive it.
fn local_rekor_log(s: &Setup) -> (tokio::runtime::Runtime, gl_sign::verify::RekorLog) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = gl_sign::http::sigstore_client(&Default::default()).unwrap();
    let log = gl_sign::verify::RekorLog::new(client, s.stack.rekor_url(), Default::default());
    (runtime, log)
}

#[test]
fn rekor_conflict_reuses_the_existing_entry() {
    // An entry the log already holds (as after a retry whose first answer was
    // lost): create answers 409 and the existing entry is fetched and used.
    let s = setup(1);
    let data = std::fs::read(&s.files[0]).unwrap();
    let digest: [u8; 32] = crate::support::pki::sha256(&data);
    let signed = s
        .stack
        .with_pki(|pki| pki.sign_blob(digest, &s.stack.gitlab_claims()));
    let detached = gl_sign::verify::Detached {
        signature: signed.signature_der.clone(),
        certificate: signed.cert_der.clone(),
    };
    let (runtime, log) = local_rekor_log(&s);
    let (entry, existed) = runtime.block_on(log.create(&detached, &digest)).unwrap();
    assert!(existed, "the log already had it");
    assert_eq!(entry.log_index.get(), signed.entry.log_index);
    assert_eq!(s.stack.rekor().requests(endpoint::REKOR_CREATE), 1);
    assert_eq!(s.stack.rekor().requests(endpoint::REKOR_GET_BY_UUID), 1);
}

#[test]
fn rekor_conflict_on_a_dsse_entry_reuses_the_existing_entry() {
    // attest's path: the same envelope logged twice (a retry after a lost
    // answer) gives the first entry back, as a dsse entry.
    let s = setup(1);
    let key = sigstore_crypto::KeyPair::generate_ecdsa_p256().unwrap();
    let spki = key.public_key_der().unwrap().as_bytes().to_vec();
    let certificate = s.stack.with_pki(|pki| {
        pki.issue_certificate(
            &spki,
            &s.stack.gitlab_claims(),
            std::time::SystemTime::now(),
        )
    });
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"pkg-1.0-py3-none-any.whl","digest":{"sha256":"00"}}],"predicateType":"https://docs.pypi.org/attestations/publish/v1","predicate":null}"#;
    let pae = sigstore_types::dsse::pae("application/vnd.in-toto+json", statement);
    let signature = key.sign(&pae).unwrap().as_bytes().to_vec();
    let (runtime, log) = local_rekor_log(&s);
    let (first, existed) = runtime
        .block_on(log.create_dsse(statement, &signature, &certificate))
        .unwrap();
    assert!(!existed);
    let (again, existed) = runtime
        .block_on(log.create_dsse(statement, &signature, &certificate))
        .unwrap();
    assert!(existed, "the log already had it");
    assert_eq!(again.log_index.get(), first.log_index.get());
    assert_eq!(again.kind_version, sigstore_types::KindVersion::DsseV001);
    assert_eq!(
        again.canonicalized_body.as_bytes(),
        first.canonicalized_body.as_bytes()
    );
    assert_eq!(s.stack.rekor().requests(endpoint::REKOR_CREATE), 2);
    assert_eq!(s.stack.rekor().requests(endpoint::REKOR_GET_BY_UUID), 1);
}
