//! `gl-sign sign-blob`: refusals that must happen before any network call.
//! (Signing against the local Sigstore is in `sign_stack`.)

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::support::{assert_live_snapshot, assert_run, gl_sign, run};

/// An unsigned GitLab-shaped JWT: sign-blob only decodes it, Fulcio verifies it.
pub fn unsigned_jwt(aud: &str, exp_offset: i64, nbf_offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = serde_json::json!({
        "iss": "https://gitlab.com", "sub": "project_path:g/p:ref_type:branch:ref:main", "aud": aud,
        "exp": now + exp_offset, "nbf": now + nbf_offset, "iat": now,
        "ci_config_ref_uri": "gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main",
    });
    let enc = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    format!(
        "{}.{}.{}",
        enc(br#"{"alg":"RS256","typ":"JWT"}"#),
        enc(claims.to_string().as_bytes()),
        enc(b"signature")
    )
}

/// A port with nothing listening: any request there would fail differently.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

fn sign(dir: &std::path::Path, token: &str) -> crate::support::Run {
    let file = dir.join("pkg.whl");
    std::fs::write(&file, b"wheel").unwrap();
    let dead = dead_url();
    run(gl_sign().arg("sign-blob").arg(&file).args([
        "--identity-token",
        token,
        "--fulcio-url",
        &dead,
        "--rekor-url",
        &dead,
    ]))
}

#[test]
fn bad_tokens_are_refused_before_any_request_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    // Each run is snapshotted whole: "expired at …" with "re-run the job",
    // "not valid before …" with the clock, the audience with "aud: sigstore".
    let cases = [
        (unsigned_jwt("sigstore", -3600, -4000), "expired"),
        (unsigned_jwt("sigstore", 3600, 1800), "not-yet-valid"),
        (unsigned_jwt("pypi", 3600, -5), "wrong-audience"),
    ];
    for (token, what) in cases {
        let result = sign(dir.path(), &token);
        assert_live_snapshot(&format!("run-sign-blob-token-{what}"), &result);
        let payload = token.split('.').nth(1).unwrap();
        assert!(
            !result.all().contains(payload),
            "the token leaked into the output:\n{}",
            result.all()
        );
        assert!(!dir.path().join("pkg.whl.sig").exists());
    }
    let result = sign(dir.path(), "not-a-token-and-not-a-file");
    // "neither a JWT nor a readable file", without echoing the value.
    assert_live_snapshot("run-sign-blob-token-not-a-token", &result);
    assert!(!result.all().contains("not-a-token-and-not-a-file"));
}

#[test]
fn token_from_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    // A valid token reaches Fulcio, which is not there: exit 2 naming the URL,
    // after printing the identity the certificate would carry.
    let token = unsigned_jwt("sigstore", 3600, -5);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let file = dir.path().join("pkg.whl");
    std::fs::write(&file, b"wheel").unwrap();
    let dead = dead_url();
    let from_file = run(gl_sign()
        .arg("sign-blob")
        .arg(&file)
        .arg("--identity-token")
        .arg(&token_file)
        .args(["--fulcio-url", &dead, "--rekor-url", &dead]));
    assert_run(
        &from_file,
        2,
        &[
            "as https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main",
            "cannot get a signing certificate",
        ],
    );
    assert!(!from_file.all().contains(token.split('.').nth(1).unwrap()));
    let from_env = run(gl_sign()
        .arg("sign-blob")
        .arg(&file)
        .env("SIGSTORE_ID_TOKEN", &token)
        .args(["--fulcio-url", &dead, "--rekor-url", &dead]));
    assert_run(
        &from_env,
        2,
        &["as https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main"],
    );
    let none = run(gl_sign()
        .arg("sign-blob")
        .arg(&file)
        .args(["--fulcio-url", &dead]));
    assert_run(&none, 2, &["no identity token", "id_tokens"]);
    assert!(
        !dir.path().join("pkg.whl.sig").exists()
            && !dir.path().join("pkg.whl.sigstore.json").exists()
    );
}

#[test]
fn sign_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.whl");
    let b = dir.path().join("b.whl");
    std::fs::write(&a, b"a").unwrap();
    std::fs::write(&b, b"b").unwrap();
    let token = unsigned_jwt("sigstore", 3600, -5);
    let two = run(gl_sign().arg("sign-blob").arg(&a).arg(&b).args([
        "--identity-token",
        &token,
        "--bundle",
        "x.json",
    ]));
    assert_run(&two, 2, &["name outputs for one file"]);
    let missing = run(gl_sign().args([
        "sign-blob",
        "/nonexistent/x.whl",
        "--identity-token",
        &token,
    ]));
    assert_run(&missing, 2, &["/nonexistent/x.whl is not a file"]);
    let conflict = run(gl_sign().arg("sign-blob").arg(&a).args([
        "--identity-token",
        &token,
        "--signing-config",
        "c.json",
        "--fulcio-url",
        "http://x",
    ]));
    assert_run(&conflict, 2, &["cannot be used with"]);
}
