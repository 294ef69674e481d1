//! The command line: GitLab identities, policies, many files, JSON, usage errors.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::pki::{sha256, GitLabClaims, TestSigstore};
use crate::support::{assert_run, gl_sign, run, vectors, Run};

/// A directory with files signed by a local GitLab-shaped Sigstore, each with
/// its `.sigstore.json` beside it, and the trusted root to check them with.
struct Signed {
    dir: tempfile::TempDir,
    root: PathBuf,
    files: Vec<PathBuf>,
    claims: GitLabClaims,
}

fn sign_files(n: usize, claims: GitLabClaims) -> Signed {
    let mut sigstore = TestSigstore::new();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for i in 0..n {
        let file = dir.path().join(format!("pkg-{i}.whl"));
        let data = format!("wheel number {i}").into_bytes();
        std::fs::write(&file, &data).unwrap();
        let signed = sigstore.sign_blob(sha256(&data), &claims);
        let mut bundle = file.clone().into_os_string();
        bundle.push(".sigstore.json");
        std::fs::write(bundle, &signed.bundle_json).unwrap();
        files.push(file);
    }
    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, sigstore.trusted_root_json()).unwrap();
    Signed {
        dir,
        root,
        files,
        claims,
    }
}

fn verify(signed: &Signed, files: &[&Path], args: &[&str]) -> Run {
    run(gl_sign()
        .args(["verify-blob", "--offline", "--trusted-root"])
        .arg(&signed.root)
        .args(files)
        .args(args))
}

#[test]
fn gitlab_project_derives_identity_and_issuer() {
    let s = sign_files(1, GitLabClaims::example());
    let f = [s.files[0].as_path()];
    let url = s.claims.issuer();
    let project = s.claims.project_path.clone();
    let base = [
        "--gitlab-url",
        url.as_str(),
        "--gitlab-project",
        project.as_str(),
    ];
    assert_run(&verify(&s, &f, &base), 0, &["OK "]);
    assert_run(
        &verify(
            &s,
            &f,
            &[&base[..], &["--gitlab-ref", "refs/heads/main"]].concat(),
        ),
        0,
        &["OK "],
    );
    let wrong_ref = verify(
        &s,
        &f,
        &[&base[..], &["--gitlab-ref", "refs/tags/v1.0.0"]].concat(),
    );
    assert_run(&wrong_ref, 1, &[&format!("expected identity {url}/{project}//.gitlab-ci.yml@refs/tags/v1.0.0, certificate has {}", s.claims.identity())]);
    let other_project = verify(
        &s,
        &f,
        &[
            "--gitlab-url",
            url.as_str(),
            "--gitlab-project",
            "group/other",
        ],
    );
    assert_run(
        &other_project,
        1,
        &["expected identity matching", "certificate has"],
    );
    let other_config = verify(
        &s,
        &f,
        &[&base[..], &["--gitlab-config-path", "ci/release.yml"]].concat(),
    );
    assert_run(&other_config, 1, &["FAILED"]);
    // gitlab.com is the default instance, and also the issuer: this signer is elsewhere.
    let default_instance = verify(&s, &f, &["--gitlab-project", project.as_str()]);
    assert_run(
        &default_instance,
        1,
        &["https://gitlab.com/group/proj//.gitlab-ci.yml@"],
    );
    let bare_ref = verify(&s, &f, &[&base[..], &["--gitlab-ref", "main"]].concat());
    assert_run(
        &bare_ref,
        2,
        &[
            "must be a full ref",
            "hint: use --gitlab-ref refs/heads/main",
        ],
    );
}

#[test]
fn tag_pipelines_verify_with_tag_refs() {
    let s = sign_files(1, GitLabClaims::example().with_tag("v1.2.3"));
    let f = [s.files[0].as_path()];
    let url = s.claims.issuer();
    let args = [
        "--gitlab-url",
        url.as_str(),
        "--gitlab-project",
        "group/proj",
        "--gitlab-ref",
        "refs/tags/v1.2.3",
        "--certificate-source-repository-ref",
        "refs/tags/v1.2.3",
    ];
    assert_run(&verify(&s, &f, &args), 0, &["OK "]);
}

#[test]
fn single_slash_identity_is_rejected_with_a_hint() {
    let s = sign_files(1, GitLabClaims::example());
    let single = s
        .claims
        .identity()
        .replace("//", "/")
        .replacen("https:/", "https://", 1);
    let issuer = s.claims.issuer();
    let result = verify(
        &s,
        &[&s.files[0]],
        &[
            "--certificate-identity",
            &single,
            "--certificate-oidc-issuer",
            &issuer,
        ],
    );
    assert_run(
        &result,
        1,
        &[
            "expected identity",
            "hint: GitLab identities have a double slash",
        ],
    );
}

#[test]
fn regexps_match_whole_values_only() {
    let s = sign_files(1, GitLabClaims::example());
    let f = [s.files[0].as_path()];
    let issuer = s.claims.issuer();
    let good = verify(
        &s,
        &f,
        &[
            "--certificate-identity-regexp",
            r"https://gitlab\.example\.test/group/proj//\.gitlab-ci\.yml@refs/heads/.+",
            "--certificate-oidc-issuer",
            &issuer,
        ],
    );
    assert_run(&good, 0, &["OK "]);
    let partial = verify(
        &s,
        &f,
        &[
            "--certificate-identity-regexp",
            r"group/proj",
            "--certificate-oidc-issuer",
            &issuer,
        ],
    );
    assert_run(
        &partial,
        1,
        &[
            "matching /group/proj/",
            "hint: /group/proj/ matches only part of",
        ],
    );
    let issuer_partial = verify(
        &s,
        &f,
        &[
            "--certificate-identity",
            &s.claims.identity(),
            "--certificate-oidc-issuer-regexp",
            "gitlab",
        ],
    );
    assert_run(&issuer_partial, 1, &["expected issuer matching /gitlab/"]);
    let invalid = verify(
        &s,
        &f,
        &[
            "--certificate-identity-regexp",
            "(",
            "--certificate-oidc-issuer",
            &issuer,
        ],
    );
    assert_run(&invalid, 2, &["not a valid regular expression"]);
}

#[test]
fn extension_checks_say_expected_and_found() {
    let s = sign_files(1, GitLabClaims::example());
    let f = [s.files[0].as_path()];
    let id = s.claims.identity();
    let iss = s.claims.issuer();
    let policy = [
        "--certificate-identity",
        id.as_str(),
        "--certificate-oidc-issuer",
        iss.as_str(),
    ];
    let repo = s.claims.source_repository_uri();
    let ok = [
        "--certificate-source-repository-uri",
        repo.as_str(),
        "--certificate-source-repository-ref",
        "refs/heads/main",
        "--certificate-source-repository-digest",
        s.claims.sha.as_str(),
        "--certificate-build-config-uri",
        id.as_str(),
        "--certificate-build-signer-uri",
        id.as_str(),
        "--certificate-runner-environment",
        s.claims.runner_environment.as_str(),
        "--certificate-build-trigger",
        s.claims.pipeline_source.as_str(),
        "--certificate-source-repository-visibility-at-signing",
        s.claims.visibility.as_str(),
        "--certificate-source-repository-identifier",
        s.claims.project_id.as_str(),
    ];
    assert_run(
        &verify(&s, &f, &[&policy[..], &ok[..]].concat()),
        0,
        &["OK "],
    );
    let wrong = verify(
        &s,
        &f,
        &[
            &policy[..],
            &["--certificate-runner-environment", "self-hosted"],
        ]
        .concat(),
    );
    assert_run(
        &wrong,
        1,
        &[&format!(
            "expected runner environment (1.3.6.1.4.1.57264.1.11) self-hosted, certificate has {}",
            s.claims.runner_environment
        )],
    );
    let absent = verify(
        &s,
        &f,
        &[
            &policy[..],
            &["--certificate-deployment-environment", "production"],
        ]
        .concat(),
    );
    assert_run(&absent, 1, &["certificate has no such extension"]);
}

#[test]
fn many_files_one_verdict_each_in_order() {
    let s = sign_files(5, GitLabClaims::example());
    std::fs::write(&s.files[2], b"swapped wheel").unwrap();
    let id = s.claims.identity();
    let iss = s.claims.issuer();
    let files: Vec<&Path> = s.files.iter().map(PathBuf::as_path).collect();
    let result = verify(
        &s,
        &files,
        &[
            "--certificate-identity",
            &id,
            "--certificate-oidc-issuer",
            &iss,
        ],
    );
    assert_eq!(result.code, 1, "{}", result.all());
    let lines: Vec<&str> = result.stdout.lines().collect();
    assert_eq!(lines.len(), 5);
    for (i, line) in lines.iter().enumerate() {
        let name = s.files[i].display().to_string();
        if i == 2 {
            assert!(
                line.starts_with(&format!("FAILED {name}: expected sha256")),
                "{line}"
            );
        } else {
            assert!(
                line.starts_with(&format!("OK {name}: signed by ")),
                "{line}"
            );
        }
    }
    assert!(
        result
            .stderr
            .contains("4 of 5 files verified (1 rejected, 0 errors)"),
        "{}",
        result.stderr
    );

    // A missing bundle is an error, which outranks a rejection.
    let missing = s.dir.path().join("not-signed.whl");
    std::fs::write(&missing, b"x").unwrap();
    let with_missing = verify(
        &s,
        &[files[0], files[2], &missing],
        &[
            "--certificate-identity",
            &id,
            "--certificate-oidc-issuer",
            &iss,
        ],
    );
    assert_eq!(with_missing.code, 2, "{}", with_missing.all());
}

#[test]
fn json_output_is_machine_readable() {
    let s = sign_files(2, GitLabClaims::example());
    std::fs::write(&s.files[1], b"tampered").unwrap();
    let id = s.claims.identity();
    let iss = s.claims.issuer();
    let result = verify(
        &s,
        &[&s.files[0], &s.files[1]],
        &[
            "--certificate-identity",
            &id,
            "--certificate-oidc-issuer",
            &iss,
            "--output",
            "json",
        ],
    );
    assert_eq!(result.code, 1);
    let doc: Value = serde_json::from_str(&result.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["verified"], 1);
    assert_eq!(doc["rejected"], 1);
    let first = &doc["files"][0];
    assert_eq!(first["outcome"], "verified");
    assert_eq!(first["identity"], id.as_str());
    assert_eq!(first["issuer"], iss.as_str());
    assert_eq!(first["evidence"], "sigstore-bundle");
    assert_eq!(first["sha256"].as_str().unwrap().len(), 64);
    assert!(first["signed_at"].is_string());
    assert_eq!(doc["files"][1]["outcome"], "rejected");
    assert!(doc["files"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("expected sha256"));
}

#[test]
fn usage_errors_exit_2() {
    let a = vectors::artifact();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--certificate-oidc-issuer", "https://gitlab.com"],
            "--certificate-identity or --certificate-identity-regexp is required",
        ),
        (
            vec!["--certificate-identity", "x"],
            "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required",
        ),
        (
            vec![
                "--certificate-identity",
                "x",
                "--certificate-identity-regexp",
                "y",
                "--certificate-oidc-issuer",
                "z",
            ],
            "cannot be used with",
        ),
        (
            vec!["--gitlab-project", "g/p", "--certificate-identity", "x"],
            "cannot be used with",
        ),
        (
            vec![
                "--gitlab-ref",
                "refs/heads/main",
                "--certificate-identity",
                "x",
                "--certificate-oidc-issuer",
                "y",
            ],
            "--gitlab-project",
        ),
        (
            vec!["--gitlab-project", "g/p", "--signature", "a.sig"],
            "--signature needs --certificate",
        ),
        (
            vec![
                "--gitlab-project",
                "g/p",
                "--offline",
                "--rekor-url",
                "http://127.0.0.1:9",
            ],
            "cannot be used with",
        ),
        (
            vec![
                "--gitlab-project",
                "g/p",
                "--staging",
                "--trusted-root",
                "x.json",
            ],
            "cannot be used with",
        ),
    ];
    for (args, fragment) in cases {
        let result = run(gl_sign().arg("verify-blob").arg(&a).args(&args));
        assert_run(&result, 2, &[fragment]);
    }
    let two_files = run(gl_sign()
        .args([
            "verify-blob",
            "--offline",
            "--gitlab-project",
            "g/p",
            "--bundle",
            "b.json",
        ])
        .arg(&a)
        .arg(&a));
    assert_run(
        &two_files,
        2,
        &["name the evidence for one file", "hint: leave them out"],
    );
    let no_files = run(gl_sign().args(["verify-blob", "--gitlab-project", "g/p"]));
    assert_eq!(no_files.code, 2);
}

#[test]
fn bad_trusted_root_is_an_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("root.json");
    std::fs::write(&bad, "-----BEGIN CERTIFICATE-----\n").unwrap();
    let result = run(gl_sign()
        .args([
            "verify-blob",
            "--offline",
            "--gitlab-project",
            "g/p",
            "--trusted-root",
        ])
        .arg(&bad)
        .arg(vectors::artifact()));
    assert_run(
        &result,
        2,
        &[
            "is not a valid Sigstore trusted root",
            "hint: --trusted-root takes a trusted_root.json",
        ],
    );
    let missing = run(gl_sign()
        .args([
            "verify-blob",
            "--offline",
            "--gitlab-project",
            "g/p",
            "--trusted-root",
            "/nonexistent/root.json",
        ])
        .arg(vectors::artifact()));
    assert_run(
        &missing,
        2,
        &["cannot read trusted root /nonexistent/root.json"],
    );
}

#[test]
fn unreadable_file_is_an_error() {
    let result =
        run(vectors::verify_bundle(&vectors::happy_v03_path()).arg("/nonexistent/pkg.whl"));
    assert_run(&result, 2, &["cannot read file /nonexistent/pkg.whl"]);
}

#[test]
fn real_gitlab_certificate_matches_the_derived_policy() {
    // GitLab.com's own example certificate (public-good production, 2025):
    // the derivation must produce exactly what Fulcio put in it.
    let pem = std::fs::read(vectors::path("gitlab/gitlab-com-test-slsa-worker.crt")).unwrap();
    let cert = gl_sign::verify::inspect_certificate(&pem).unwrap();
    let signer = gl_sign::ci::GitLabSigner::new(
        "https://gitlab.com",
        "sroque-worcel/test-slsa-worker",
        ".gitlab-ci.yml",
        Some("refs/heads/main"),
    )
    .unwrap();
    let policy = gl_sign::verify::IdentityPolicy::for_gitlab(signer)
        .with_extension(
            gl_sign::verify::Extension::SourceRepositoryUri,
            "https://gitlab.com/sroque-worcel/test-slsa-worker",
        )
        .with_extension(
            gl_sign::verify::Extension::RunnerEnvironment,
            "gitlab-hosted",
        )
        .with_extension(
            gl_sign::verify::Extension::SourceRepositoryRef,
            "refs/heads/main",
        )
        .with_extension(gl_sign::verify::Extension::BuildTrigger, "push")
        .with_extension(
            gl_sign::verify::Extension::SourceRepositoryVisibilityAtSigning,
            "public",
        )
        .with_extension(
            gl_sign::verify::Extension::SourceRepositoryIdentifier,
            "72356192",
        );
    cert.check(&policy).unwrap();
    let signer = gl_sign::ci::GitLabSigner::new(
        "https://gitlab.com",
        "sroque-worcel/test-slsa-worker",
        ".gitlab-ci.yml",
        Some("refs/tags/v1"),
    )
    .unwrap();
    let err = cert
        .check(&gl_sign::verify::IdentityPolicy::for_gitlab(signer))
        .unwrap_err();
    assert!(err.to_string().contains("certificate has https://gitlab.com/sroque-worcel/test-slsa-worker//.gitlab-ci.yml@refs/heads/main"), "{err}");
}
