//! `gl-sign sign-blob` with Rekor v2 and an RFC 3161 timestamp authority
//! (both local, real cryptography), the choice between Rekor v1 and v2,
//! cosign v3 flag spellings, and the identity token never travelling in
//! clear or after a redirect.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use crate::support::server::{bind_local, run_server, RunningServer};
use crate::support::signing::SigningSetup;
use crate::support::sigstore_stack::endpoint;
use crate::support::{assert_run, gl_sign, python_tool, run, with_suffix, Run};

/// The shared signing setup, with what the Rekor v2 tests add to it.
struct Setup(SigningSetup);

impl std::ops::Deref for Setup {
    type Target = SigningSetup;
    fn deref(&self) -> &SigningSetup {
        &self.0
    }
}

fn setup(n: usize) -> Setup {
    Setup(SigningSetup::start(n, |i| {
        (
            format!("pkg_{i}-1.0.tar.gz"),
            format!("sdist {i} contents").repeat(50),
        )
    }))
}

impl Setup {
    fn sign_with_v2_config(&self, extra: &[&str]) -> Run {
        let config = self.trust.signing_config_v2.to_str().unwrap().to_string();
        let mut args = vec!["--signing-config", config.as_str()];
        args.extend_from_slice(extra);
        self.sign(&args)
    }

    /// sign-blob with the local Fulcio and `--rekor-version 2` at the local
    /// Rekor v2, then `extra`.
    fn sign_rekor_v2(&self, extra: &[&str]) -> Run {
        let v2 = [
            "--fulcio-url",
            self.stack.fulcio_url(),
            "--rekor-url",
            self.stack.rekor_v2_url(),
            "--rekor-version",
            "2",
        ];
        self.sign(&[&v2[..], extra].concat())
    }

    /// verify-blob of every file, offline.
    fn verify_all(&self) -> Run {
        self.verify(&self.files, &["--offline"])
    }

    fn bundle(&self, i: usize) -> Value {
        let path = with_suffix(&self.files[i], ".sigstore.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }
}

fn tlog_kind_version(bundle: &Value) -> String {
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    format!(
        "{}/{}",
        entry["kindVersion"]["kind"].as_str().unwrap(),
        entry["kindVersion"]["version"].as_str().unwrap()
    )
}

fn timestamps(bundle: &Value) -> usize {
    bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
        .as_array()
        .map_or(0, Vec::len)
}

/// sigstore-python, from `$GL_SIGN_PYTHON_BIN` (set by scripts/test) or `.venv/bin`.
fn sigstore_python() -> Option<PathBuf> {
    python_tool("sigstore").map(|bin| bin.join("sigstore"))
}

/// `sigstore verify identity --offline` with the local Rekor v2 trust config.
fn python_verify(python: &Path, s: &Setup, identity: &str, files: &[PathBuf]) -> (bool, String) {
    s.python_verify(python, &s.trust.client_trust_config_v2, identity, files)
}

#[test]
fn rekor_v2_signing_round_trips_through_gl_sign_and_sigstore_python() {
    let s = setup(3);
    // The v2 signing config lists Rekor v2 and v1: the highest version wins.
    let signed = s.sign_with_v2_config(&[]);
    assert_run(&signed, 0, &["Rekor v2", "timestamp authority", "OK "]);
    assert_eq!(s.stack.rekor_v2().requests(endpoint::REKOR_V2_CREATE), 3);
    assert_eq!(s.stack.tsa().requests(endpoint::TSA_TIMESTAMP), 3);
    assert_eq!(s.stack.rekor().requests(endpoint::REKOR_CREATE), 0);
    assert_eq!(s.stack.with_rekor_v2(|log| log.tree_size()), 3);
    for i in 0..3 {
        let bundle = s.bundle(i);
        assert_eq!(tlog_kind_version(&bundle), "hashedrekord/0.0.2");
        assert_eq!(timestamps(&bundle), 1, "Rekor v2 entries carry a timestamp");
        let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
        assert!(entry.get("inclusionPromise").is_none());
        assert!(entry["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .unwrap()
            .contains('\u{2014}'));
    }
    assert_run(&s.verify_all(), 0, &["3 of 3 files verified"]);

    let Some(python) = sigstore_python() else {
        return;
    };
    let (ok, text) = python_verify(&python, &s, &s.identity(), &s.files);
    assert!(
        ok,
        "sigstore-python rejected gl-sign's Rekor v2 bundles:\n{text}"
    );
    assert_eq!(text.matches("OK: ").count(), 3, "{text}");
    let (ok, _) = python_verify(&python, &s, "https://example.com/other", &s.files[..1]);
    assert!(
        !ok,
        "sigstore-python accepts any identity: the check means nothing"
    );
}

#[test]
fn rekor_v1_with_a_timestamp_is_verified_by_both() {
    let s = setup(2);
    let signed = s.sign_with_v2_config(&["--rekor-version", "1"]);
    assert_run(&signed, 0, &["Rekor v1", "timestamp authority"]);
    assert_eq!(s.stack.rekor().requests(endpoint::REKOR_CREATE), 2);
    assert_eq!(s.stack.rekor_v2().requests(endpoint::REKOR_V2_CREATE), 0);
    for i in 0..2 {
        let bundle = s.bundle(i);
        assert_eq!(tlog_kind_version(&bundle), "hashedrekord/0.0.1");
        assert_eq!(timestamps(&bundle), 1);
    }
    assert_run(&s.verify_all(), 0, &["2 of 2 files verified"]);
    if let Some(python) = sigstore_python() {
        let (ok, text) = python_verify(&python, &s, &s.identity(), &s.files);
        assert!(ok, "sigstore-python rejected the v1 + TSA bundles:\n{text}");
    }
}

#[test]
fn rekor_v2_from_url_flags_and_the_version_choice() {
    let s = setup(1);
    let tsa = s.stack.tsa_url();
    // Only --rekor-url: v1, even though the URL is a v2 log (which has no v1 API).
    let v1 = s.sign_local(&["--timestamp-server-url", &tsa]);
    assert_run(&v1, 0, &["Rekor v1"]);
    assert_eq!(tlog_kind_version(&s.bundle(0)), "hashedrekord/0.0.1");

    // Each stack has its own TSA: take this one's URL.
    let s = setup(1);
    let tsa = s.stack.tsa_url();
    let v2 = s.sign_rekor_v2(&["--timestamp-server-url", &tsa]);
    assert_run(&v2, 0, &["Rekor v2"]);
    assert_eq!(tlog_kind_version(&s.bundle(0)), "hashedrekord/0.0.2");
    assert_run(&s.verify_all(), 0, &["OK "]);

    // A version the signing config does not list.
    let s = setup(1);
    let config = s.trust.signing_config.to_str().unwrap().to_string();
    let refused = s.sign(&["--signing-config", &config, "--rekor-version", "2"]);
    assert_run(
        &refused,
        2,
        &["--rekor-version 2", "names no current Rekor v2 log"],
    );
    assert_eq!(s.stack.fulcio().total_requests(), 0);
    // No v2 URL and no config: public-good lists no Rekor v2 log (yet).
    let unknown = s.sign(&["--fulcio-url", s.stack.fulcio_url(), "--rekor-version", "2"]);
    assert_run(
        &unknown,
        2,
        &[
            "the embedded public-good signing config names no current Rekor v2 log",
            "pass --rekor-url",
        ],
    );
    assert_eq!(s.stack.fulcio().total_requests(), 0);
    let bad = s.sign(&["--rekor-version", "3"]);
    assert_run(&bad, 2, &["--rekor-version"]);
}

#[test]
fn transient_rekor_v2_and_tsa_faults_are_retried_refusals_are_not() {
    let s = setup(1);
    s.stack.rekor_v2().fail_next(2, 503);
    s.stack.tsa().fail_next(1, 502);
    assert_run(&s.sign_with_v2_config(&[]), 0, &["Rekor v2"]);
    assert_eq!(s.stack.rekor_v2().requests(endpoint::REKOR_V2_CREATE), 3);
    assert_eq!(s.stack.tsa().requests(endpoint::TSA_TIMESTAMP), 2);
    assert_eq!(s.stack.with_rekor_v2(|log| log.tree_size()), 1);
    assert_run(&s.verify_all(), 0, &["OK "]);

    let s = setup(1);
    s.stack.rekor_v2().fail_next(100, 400);
    let refused = s.sign_with_v2_config(&[]);
    assert_run(
        &refused,
        2,
        &["cannot log the signature", "in the Rekor v2 log", "400"],
    );
    assert_eq!(s.stack.rekor_v2().requests(endpoint::REKOR_V2_CREATE), 1);
    assert!(s.nothing_written());
}

#[test]
fn unverifiable_rekor_v2_or_tsa_answers_are_not_written() {
    // A checkpoint whose signature does not verify with the log's key.
    let s = setup(1);
    s.stack.with_rekor_v2(|log| log.corrupt_next_checkpoints(1));
    let refused = s.sign_with_v2_config(&[]);
    assert_run(
        &refused,
        2,
        &["does not verify; nothing was written", "checkpoint"],
    );
    assert_eq!(
        s.stack.with_rekor_v2(|log| log.tree_size()),
        1,
        "it was logged"
    );
    assert!(s.nothing_written());

    // A timestamp from before the certificate existed: the certificate is
    // not valid at the only trusted signing time.
    let s = setup(1);
    s.stack.local_tsa().set_skew(-3600);
    let refused = s.sign_with_v2_config(&[]);
    assert_run(
        &refused,
        2,
        &["does not verify; nothing was written", "CertNotValidYet"],
    );
    assert!(s.nothing_written());
}

#[test]
fn rekor_v2_without_a_timestamp_authority_is_refused() {
    let s = setup(1);
    let refused = s.sign_rekor_v2(&[]);
    assert_run(
        &refused,
        2,
        &[
            "needs an RFC 3161 timestamp",
            "no timestamp authority",
            "hint: pass --timestamp-server-url",
        ],
    );
    assert_eq!(
        s.stack.fulcio().total_requests(),
        0,
        "refused before Fulcio"
    );
    assert_eq!(s.stack.rekor_v2().total_requests(), 0);
    assert!(s.nothing_written());
}

#[test]
fn the_token_is_never_sent_over_plain_http() {
    let s = setup(1);
    let token = s.stack.token();
    for how in ["flag", "env"] {
        let mut cmd = gl_sign();
        cmd.arg("sign-blob")
            .args(&s.files)
            .env("SIGSTORE_ID_TOKEN", &token)
            .env_remove("GL_SIGN_REKOR_URL")
            .arg("--trusted-root")
            .arg(&s.trust.trusted_root)
            .args(["--rekor-url", s.stack.rekor_url()]);
        if how == "flag" {
            cmd.env_remove("GL_SIGN_FULCIO_URL")
                .args(["--fulcio-url", "http://user:pw@fulcio.example.invalid/"]);
        } else {
            cmd.env(
                "GL_SIGN_FULCIO_URL",
                "http://user:pw@fulcio.example.invalid/",
            );
        }
        let refused = run(&mut cmd);
        assert_run(
            &refused,
            2,
            &[
                "refusing to send the identity token to http://fulcio.example.invalid",
                "https is required",
            ],
        );
        // Refused, not "request failed": no lookup or connection was tried.
        assert!(!refused.all().contains("request to"), "{}", refused.all());
        assert!(
            !refused.all().contains("pw@"),
            "credentials in the URL echoed"
        );
        assert!(!refused.all().contains(token.split('.').nth(1).unwrap()));
    }
    assert!(s.nothing_written());
    assert_eq!(s.stack.rekor().total_requests(), 0);
}

/// Answers every request with a 307 to `target`, counting requests and
/// whether the token was in them.
#[derive(Clone)]
struct Redirector {
    target: String,
    seen: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Redirector {
    /// Serve Fulcio's `POST /api/v2/signingCert` on `listener`, answering
    /// every request with a 307 to `target`; the server runs while the guard lives.
    fn serve(listener: std::net::TcpListener, target: String) -> (Redirector, RunningServer) {
        let redirector = Redirector {
            target,
            seen: Arc::new(AtomicUsize::new(0)),
            bodies: Arc::new(Mutex::new(Vec::new())),
        };
        let app = Router::new()
            .route("/api/v2/signingCert", post(redirect))
            .with_state(redirector.clone());
        (redirector, run_server("redirector", listener, app))
    }
}

async fn redirect(State(r): State<Redirector>, body: Bytes) -> Response {
    r.seen.fetch_add(1, Ordering::SeqCst);
    r.bodies
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&body).into_owned());
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, r.target.clone())],
    )
        .into_response()
}

#[test]
fn a_redirect_to_another_port_does_not_carry_the_token() {
    let s = setup(1);
    // The second server is the real Fulcio: had gl-sign followed, it would
    // have answered with a certificate.
    let target = format!("{}/api/v2/signingCert", s.stack.fulcio_url());
    let (listener, url) = bind_local();
    let (redirector, _server) = Redirector::serve(listener, target);

    let token = s.stack.token();
    let result = s.sign_blob(
        &token,
        &s.files,
        &["--fulcio-url", &url, "--rekor-url", s.stack.rekor_url()],
    );
    assert_run(&result, 2, &["cannot get a signing certificate", "307"]);
    assert_eq!(redirector.seen.load(Ordering::SeqCst), 1);
    assert!(
        redirector.bodies.lock().unwrap()[0].contains(&token),
        "the first server got the token: the test means something"
    );
    assert_eq!(
        s.stack.fulcio().total_requests(),
        0,
        "the redirect target saw a request (and the token in its body)"
    );
    assert!(s.nothing_written());
}

#[test]
fn a_redirect_to_https_on_the_same_host_and_port_is_not_followed() {
    // Same host and port, other scheme: a host-and-port check follows it
    // (and fails in the TLS handshake); an origin check stops at the 307.
    let s = setup(1);
    let (listener, url) = bind_local();
    let target = format!(
        "{}/api/v2/signingCert",
        url.replacen("http://", "https://", 1)
    );
    let (redirector, _server) = Redirector::serve(listener, target);
    let result = s.sign(&["--fulcio-url", &url, "--rekor-url", s.stack.rekor_url()]);
    assert_run(&result, 2, &["refused the request (307)"]);
    assert_eq!(redirector.seen.load(Ordering::SeqCst), 1);
    assert!(s.nothing_written());
}

#[test]
fn cosign_v3_flag_spellings() {
    let s = setup(1);
    let accepted = s.sign_with_v2_config(&[
        "--new-bundle-format",
        "--tlog-upload=true",
        "--use-signing-config",
        "--b64=true",
        "--yes",
        "--rekor-version=2",
    ]);
    assert_run(&accepted, 0, &["Rekor v2"]);
    assert_run(&s.verify_all(), 0, &["OK "]);

    let s = setup(1);
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--tlog-upload=false"],
            &[
                "--tlog-upload=false is not supported",
                "hint: leave the flag out: gl-sign always logs",
            ],
        ),
        (
            &["--new-bundle-format=false"],
            &[
                "--new-bundle-format=false is not supported",
                "FILE.sigstore.json",
            ],
        ),
        (
            &["--key", "cosign.key"],
            &[
                "--key is not supported",
                "keyless",
                "hint: pass the OIDC token with --identity-token",
            ],
        ),
        (
            &["--oidc-issuer", "https://oauth2.sigstore.dev/auth"],
            &["--oidc-issuer is not supported", "--identity-token"],
        ),
        (
            &["--rfc3161-timestamp", "ts.der"],
            &[
                "--rfc3161-timestamp is not supported",
                "--timestamp-server-url",
            ],
        ),
        (
            &["--insecure-skip-verify"],
            &["--insecure-skip-verify is not supported"],
        ),
        (&["--tlog-upload=maybe"], &["takes true or false"]),
    ];
    for (args, fragments) in cases {
        let refused = s.sign_local(args);
        assert_run(&refused, 2, fragments);
        assert!(
            !refused.all().contains("unexpected argument"),
            "{args:?}: {}",
            refused.all()
        );
    }
    assert_eq!(s.stack.fulcio().total_requests(), 0);
    assert!(s.nothing_written());
    // cosign's deprecated --output FILE is --output-signature; gl-sign's
    // --output is text|json, so it says which to use.
    let out = s.dir.path().join("sig.b64");
    let signed = s.sign_local(&["--output", out.to_str().unwrap()]);
    assert_run(&signed, 2, &["is --output-signature FILE in gl-sign"]);
    assert!(!signed.all().contains("unexpected argument"));
    let signed = s.sign_local(&["--output-signature", out.to_str().unwrap()]);
    assert_run(&signed, 0, &[]);
    assert!(out.is_file());
}

#[test]
fn gl_sign_verifies_sigstore_pythons_rekor_v2_bundles() {
    let Some(python) = sigstore_python() else {
        return;
    };
    let s = setup(1);
    // sigstore-python signs against the local Rekor v2 and TSA: a real
    // client's view of both services.
    let out = s.python_sign(&python, &s.trust.client_trust_config_v2, &s.files[0]);
    assert!(
        out.status.success(),
        "sigstore-python sign (Rekor v2) failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.stack.rekor_v2().requests(endpoint::REKOR_V2_CREATE), 1);
    assert_eq!(tlog_kind_version(&s.bundle(0)), "hashedrekord/0.0.2");
    assert_run(&s.verify_all(), 0, &["OK "]);
}
