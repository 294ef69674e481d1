//! User-facing runs that need no local service, each snapshotted whole
//! (command line, exit code, stdout, stderr), as uv does (issue 10):
//! verify-blob on the production v0.3 vector (the verdict, each main
//! rejection, the JSON document) and `trust show` of the embedded root. The
//! other commands' runs are snapshotted in their own modules, against the
//! local services.

use std::path::Path;

use crate::support::{assert_run_snapshot, gl_sign, run, vectors, Run, RunSnapshot};

const BUNDLE: &str = "bundle.sigstore.json";

/// A directory holding a.txt and the vector's bundle, as a user has them.
fn release_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(vectors::artifact(), dir.path().join("a.txt")).unwrap();
    std::fs::copy(
        vectors::path("bundles/conf-happy-path-v0.3.sigstore.json"),
        dir.path().join(BUNDLE),
    )
    .unwrap();
    dir
}

/// `verify-blob` in `dir` with `args` (names relative to `dir`).
fn verify_in(dir: &Path, args: &[&str]) -> Run {
    run(gl_sign()
        .current_dir(dir)
        .env_remove("GL_SIGN_TRUSTED_ROOT")
        .args(["verify-blob", "--offline"])
        .args(args))
}

fn pinned<'a>(identity: &'a str, issuer: &'a str) -> [&'a str; 4] {
    [
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
    ]
}

fn right() -> [&'static str; 4] {
    pinned(vectors::GITHUB_IDENTITY, vectors::GITHUB_ISSUER)
}

#[test]
fn verify_blob_accepts_the_vector() {
    let dir = release_dir();
    let result = verify_in(
        dir.path(),
        &[&["a.txt", "--bundle", BUNDLE][..], &right()].concat(),
    );
    assert_run_snapshot("run-verify-blob-ok", &result);
}

#[test]
fn verify_blob_json_output() {
    let dir = release_dir();
    let result = verify_in(
        dir.path(),
        &[
            &["a.txt", "--bundle", BUNDLE, "--output", "json"][..],
            &right(),
        ]
        .concat(),
    );
    assert_run_snapshot("run-verify-blob-json", &result);
}

#[test]
fn verify_blob_rejects_a_tampered_file() {
    let dir = release_dir();
    std::fs::write(dir.path().join("a.txt"), b"not what was signed\n").unwrap();
    let result = verify_in(
        dir.path(),
        &[&["a.txt", "--bundle", BUNDLE][..], &right()].concat(),
    );
    assert_run_snapshot("run-verify-blob-tampered", &result);
}

#[test]
fn verify_blob_rejects_another_identity() {
    let dir = release_dir();
    let other = vectors::GITHUB_IDENTITY.replace("refs/heads/main", "refs/tags/v1.0");
    let result = verify_in(
        dir.path(),
        &[
            &["a.txt", "--bundle", BUNDLE][..],
            &pinned(&other, vectors::GITHUB_ISSUER),
        ]
        .concat(),
    );
    assert_run_snapshot("run-verify-blob-wrong-identity", &result);
}

#[test]
fn verify_blob_rejects_another_issuer() {
    let dir = release_dir();
    let result = verify_in(
        dir.path(),
        &[
            &["a.txt", "--bundle", BUNDLE][..],
            &pinned(vectors::GITHUB_IDENTITY, "https://gitlab.com"),
        ]
        .concat(),
    );
    assert_run_snapshot("run-verify-blob-wrong-issuer", &result);
}

#[test]
fn verify_blob_malformed_bundle_exits_2() {
    let dir = release_dir();
    let text = std::fs::read_to_string(dir.path().join(BUNDLE)).unwrap();
    std::fs::write(dir.path().join(BUNDLE), &text[..text.len() / 2]).unwrap();
    let result = verify_in(
        dir.path(),
        &[&["a.txt", "--bundle", BUNDLE][..], &right()].concat(),
    );
    assert_run_snapshot("run-verify-blob-malformed-bundle", &result);
}

#[test]
fn verify_blob_many_files_one_verdict_each_and_a_summary() {
    let dir = release_dir();
    std::fs::copy(
        dir.path().join(BUNDLE),
        dir.path().join("a.txt.sigstore.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("b.txt"), b"not what was signed\n").unwrap();
    std::fs::copy(
        dir.path().join(BUNDLE),
        dir.path().join("b.txt.sigstore.json"),
    )
    .unwrap();
    let result = verify_in(dir.path(), &[&["a.txt", "b.txt"][..], &right()].concat());
    assert_run_snapshot("run-verify-blob-many-files", &result);
}

#[test]
fn trust_show_names_the_embedded_root_and_each_authority() {
    let result = run(gl_sign()
        .env_remove("GL_SIGN_TRUSTED_ROOT")
        .args(["trust", "show"]));
    // Releases bump the version; the embedded root changes with sigstore-rust.
    RunSnapshot::new()
        .redact(
            &format!("gl-sign {}", env!("CARGO_PKG_VERSION")),
            "gl-sign [VERSION]",
        )
        .assert("run-trust-show-embedded", &result);
}
