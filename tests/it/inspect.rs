//! `gl-sign inspect`: every vector form, snapshotted whole (exit code, stdout,
//! stderr); the printed verify commands run and verify; tokens never echo.

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::pki::{sha256, GitLabClaims, TestSigstore};
use crate::support::{
    assert_run, gl_sign, run, snapshot_settings as settings, transcript, vectors, Run,
};

/// Inspect `files` with the vectors directory as working directory, so the
/// output names them as a user in that directory would.
fn inspect_in(dir: &Path, args: &[&str]) -> Run {
    run(gl_sign().current_dir(dir).arg("inspect").args(args))
}

#[test]
fn every_vector_bundle_is_explained() {
    let dir = vectors::dir();
    let mut names: Vec<String> = std::fs::read_dir(dir.join("bundles"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 22, "the vector set has 22 bundles");
    for name in names {
        let result = inspect_in(&dir, &[&format!("bundles/{name}")]);
        // Inspect explains even bundles that must fail verification; only
        // unparsable ones are refused.
        let expected = match name.as_str() {
            "conf-bundle-malformed-json_fail.sigstore.json"
            | "conf-bundle-unknown-version_fail.sigstore.json" => 2,
            _ => 0,
        };
        assert_eq!(result.code, expected, "{name}:\n{}", transcript(&result));
        if expected == 0 {
            assert!(result.stdout.contains("NOT VERIFIED"), "{name}");
            assert!(result.stdout.contains("  verify with ("), "{name}");
        }
        let snapshot = format!("inspect-{}", name.trim_end_matches(".sigstore.json"));
        settings().bind(|| insta::assert_snapshot!(snapshot, transcript(&result)));
    }
}

#[test]
fn every_pep740_form_is_explained() {
    let dir = vectors::dir();
    for name in [
        "gitlab_oidc_project-0.0.3.tar.gz.publish.attestation",
        "pypi_attestations-0.0.19.tar.gz.publish.attestation",
        "pypi_attestations-0.0.19.tar.gz.slsa.attestation",
        "pypi_attestations-0.0.19.tar.gz.provenance",
    ] {
        let result = inspect_in(&dir, &[&format!("pep740/{name}")]);
        assert_run(&result, 0, &["NOT VERIFIED", "predicate", "subject"]);
        settings().bind(|| {
            insta::assert_snapshot!(format!("inspect-pep740-{name}"), transcript(&result))
        });
    }
    // The GitLab attestation's command pins the project and ref, not a raw SAN.
    let gitlab = inspect_in(
        &dir,
        &["pep740/gitlab_oidc_project-0.0.3.tar.gz.publish.attestation"],
    );
    assert_run(
        &gitlab,
        0,
        &[
            "gl-sign verify-blob pep740/gitlab_oidc_project-0.0.3.tar.gz --attestation pep740/gitlab_oidc_project-0.0.3.tar.gz.publish.attestation --gitlab-project facutuesca/gitlab-oidc-project --gitlab-ref refs/heads/main",
            "source repository ref                    refs/heads/main",
            "run invocation URI                       https://gitlab.com/facutuesca/gitlab-oidc-project/-/jobs/8415754949",
            "subject        gitlab_oidc_project-0.0.3.tar.gz sha256:c1ca9b0d85df1606451098233018534497bf584362e10e4a8c21dfaea92c02a8",
        ],
    );
    let provenance = inspect_in(&dir, &["pep740/pypi_attestations-0.0.19.tar.gz.provenance"]);
    assert_run(
        &provenance,
        0,
        &[
            "publisher        environment=null, kind=GitHub, repository=trailofbits/pypi-attestations, workflow=release.yml",
            "gl-sign consumer-verify pypi_attestations==0.0.19 --index-url https://pypi.org/simple --provenance",
        ],
    );
}

#[test]
fn the_gitlab_certificate_names_every_extension() {
    let dir = vectors::dir();
    let result = inspect_in(&dir, &["gitlab/gitlab-com-test-slsa-worker.crt"]);
    assert_run(
        &result,
        0,
        &[
            "certificate (PEM)",
            "GitLab CI        project sroque-worcel/test-slsa-worker on https://gitlab.com, ref refs/heads/main",
            "1.3.6.1.4.1.57264.1.11   runner environment",
            "gitlab-hosted",
            "1.3.6.1.4.1.57264.1.22   source repository visibility at signing  public",
            "--gitlab-project sroque-worcel/test-slsa-worker --gitlab-ref refs/heads/main",
        ],
    );
    // .1.8 to .1.22 all appear, by name.
    for n in 8..=22 {
        assert!(
            result.stdout.contains(&format!("1.3.6.1.4.1.57264.1.{n} ")),
            ".1.{n} missing:\n{}",
            result.stdout
        );
    }
    settings().bind(|| insta::assert_snapshot!("inspect-gitlab-certificate", transcript(&result)));
}

/// The cosign forms of the production v0.3 vector: legacy bundle, .sig, .crt
/// (base64 of PEM, as cosign writes it), plain PEM, DER, and a raw DER .sig.
fn cosign_forms(dir: &Path) {
    let bundle = vectors::happy_v03();
    std::fs::copy(vectors::artifact(), dir.join("a.txt")).unwrap();
    std::fs::write(
        dir.join("a.txt.bundle"),
        serde_json::to_vec(&vectors::cosign_bundle(&bundle)).unwrap(),
    )
    .unwrap();
    let der = vectors::certificate_der(&bundle);
    let pem = vectors::certificate_pem(&der);
    std::fs::write(
        dir.join("a.txt.sig"),
        STANDARD.encode(vectors::signature_der(&bundle)),
    )
    .unwrap();
    std::fs::write(dir.join("a.txt.crt"), STANDARD.encode(&pem)).unwrap();
    std::fs::write(dir.join("a.pem"), &pem).unwrap();
    std::fs::write(dir.join("a.der"), &der).unwrap();
    std::fs::write(dir.join("raw.sig"), vectors::signature_der(&bundle)).unwrap();
}

#[test]
fn cosign_files_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    cosign_forms(dir.path());
    for (file, form) in [
        ("a.txt.bundle", "cosign bundle (legacy --bundle format)"),
        ("a.txt.sig", "detached ECDSA signature (base64 of DER)"),
        (
            "a.txt.crt",
            "certificate (PEM) (base64 of PEM, cosign's .crt)",
        ),
        ("a.pem", "certificate (PEM)"),
        ("a.der", "certificate (DER)"),
        ("raw.sig", "detached ECDSA signature (DER)"),
    ] {
        let result = inspect_in(dir.path(), &[file]);
        assert_run(&result, 0, &[form, "NOT VERIFIED"]);
        settings().bind(|| {
            insta::assert_snapshot!(format!("inspect-cosign-{file}"), transcript(&result))
        });
    }
    // The .sig's signer comes from the .crt beside it, so the command pins it.
    let sig = inspect_in(dir.path(), &["a.txt.sig"]);
    assert_run(
        &sig,
        0,
        &["gl-sign verify-blob a.txt --signature a.txt.sig --certificate a.txt.crt --certificate-identity https://github.com/sigstore-conformance/"],
    );
    // Without it, nothing can be pinned, and inspect says so instead of guessing.
    let alone = inspect_in(dir.path(), &["raw.sig"]);
    assert_run(&alone, 0, &["the signer is unknown"]);
    assert!(!alone.stdout.contains("  verify with"), "{}", alone.stdout);
}

/// The gl-sign command inspect prints, run as printed (argv from --output json).
fn run_printed_command(dir: &Path, args: &[&str]) -> Run {
    let result = inspect_in(dir, &[&["--output", "json"][..], args].concat());
    assert_eq!(result.code, 0, "{}", transcript(&result));
    let doc: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(doc["verified"], false);
    let argv: Vec<String> =
        serde_json::from_value(doc["files"][0]["verify"]["gl_sign_argv"].clone()).unwrap();
    assert_eq!(argv[0], "gl-sign");
    run(gl_sign().current_dir(dir).args(&argv[1..]))
}

#[test]
fn the_printed_command_verifies_the_vector() {
    let dir = tempfile::tempdir().unwrap();
    cosign_forms(dir.path());
    std::fs::copy(
        vectors::path("bundles/conf-happy-path-v0.3.sigstore.json"),
        dir.path().join("a.txt.sigstore.json"),
    )
    .unwrap();
    for evidence in ["a.txt.sigstore.json", "a.txt.bundle"] {
        let verified = run_printed_command(dir.path(), &[evidence]);
        assert_run(&verified, 0, &["OK a.txt"]);
    }
}

#[test]
fn the_printed_command_pins_a_gitlab_signer_and_verifies() {
    // A GitLab-shaped signature from the local Sigstore, with its own trust root.
    let mut sigstore = TestSigstore::new();
    let claims = GitLabClaims::example().with_tag("v1.2.3");
    let dir = tempfile::tempdir().unwrap();
    let data = b"a wheel".to_vec();
    std::fs::write(dir.path().join("pkg.whl"), &data).unwrap();
    let signed = sigstore.sign_blob(sha256(&data), &claims);
    std::fs::write(
        dir.path().join("pkg.whl.sigstore.json"),
        &signed.bundle_json,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pkg.whl.sig"),
        STANDARD.encode(&signed.signature_der),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pkg.whl.crt"),
        STANDARD.encode(&signed.cert_pem),
    )
    .unwrap();
    std::fs::write(dir.path().join("root.json"), sigstore.trusted_root_json()).unwrap();

    let result = inspect_in(
        dir.path(),
        &[
            "--trusted-root",
            "root.json",
            "pkg.whl.sigstore.json",
            "pkg.whl.sig",
        ],
    );
    assert_run(
        &result,
        0,
        &[
            "GitLab CI        project group/proj on https://gitlab.example.test, ref refs/tags/v1.2.3",
            "(root.json)",
            "gl-sign verify-blob pkg.whl --bundle pkg.whl.sigstore.json --gitlab-project group/proj --gitlab-ref refs/tags/v1.2.3 --gitlab-url https://gitlab.example.test --trusted-root root.json",
            "gl-sign verify-blob pkg.whl --signature pkg.whl.sig --certificate pkg.whl.crt --gitlab-project group/proj",
        ],
    );
    let verified = run_printed_command(
        dir.path(),
        &["--trusted-root", "root.json", "pkg.whl.sigstore.json"],
    );
    assert_run(&verified, 0, &["OK pkg.whl"]);
    // Without the root the log is unknown, and the command says which root to supply.
    let unknown = inspect_in(dir.path(), &["pkg.whl.sigstore.json"]);
    assert_run(
        &unknown,
        0,
        &[
            "a log not in the known trusted roots",
            "--trusted-root TRUSTED_ROOT.json",
        ],
    );
}

#[test]
fn dsse_bundles_show_the_statement() {
    // The PEP 740 attestation as the Sigstore bundle it is (pypi-attestations' to_bundle).
    let attestation: Value = serde_json::from_slice(
        &std::fs::read(vectors::path(
            "pep740/gitlab_oidc_project-0.0.3.tar.gz.publish.attestation",
        ))
        .unwrap(),
    )
    .unwrap();
    let bundle = vectors::bundle_of_attestation(&attestation);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path()
            .join("gitlab_oidc_project-0.0.3.tar.gz.sigstore.json"),
        serde_json::to_vec_pretty(&bundle).unwrap(),
    )
    .unwrap();
    let result = inspect_in(
        dir.path(),
        &["gitlab_oidc_project-0.0.3.tar.gz.sigstore.json"],
    );
    assert_run(
        &result,
        0,
        &[
            "Sigstore bundle v0.3, DSSE envelope",
            "predicate      https://docs.pypi.org/attestations/publish/v1",
            "--type https://docs.pypi.org/attestations/publish/v1",
            "cosign verify-blob-attestation",
        ],
    );
    settings().bind(|| insta::assert_snapshot!("inspect-dsse-bundle", transcript(&result)));
    let json_run = inspect_in(
        dir.path(),
        &[
            "--output",
            "json",
            "gitlab_oidc_project-0.0.3.tar.gz.sigstore.json",
        ],
    );
    assert_eq!(json_run.code, 0);
    let doc: Value = serde_json::from_str(&json_run.stdout).unwrap();
    let signature = &doc["files"][0]["inspection"]["signatures"][0];
    assert_eq!(signature["content"]["type"], "dsse");
    assert_eq!(
        signature["content"]["statement"]["subjects"][0]["digest"]["sha256"],
        "c1ca9b0d85df1606451098233018534497bf584362e10e4a8c21dfaea92c02a8"
    );
    assert_eq!(signature["log_entries"][0]["log_index"], 149945774);
    assert_eq!(
        signature["certificate"]["gitlab"]["project_path"],
        "facutuesca/gitlab-oidc-project"
    );
}

#[test]
fn json_output_for_a_vector() {
    let dir = vectors::dir();
    let result = inspect_in(
        &dir,
        &[
            "--output",
            "json",
            "bundles/conf-happy-path-v0.3.sigstore.json",
        ],
    );
    assert_eq!(result.code, 0, "{}", transcript(&result));
    let doc: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(doc["verified"], false);
    settings().bind(|| insta::assert_snapshot!("inspect-json-happy-v0.3", transcript(&result)));
}

#[test]
fn a_token_shows_claims_and_never_itself() {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"key-1","typ":"JWT"}"#);
    let claims = json!({
        "iss": "https://gitlab.example.test",
        "sub": "project_path:group/proj:ref_type:branch:ref:main",
        "aud": "sigstore",
        "exp": 1_900_000_000,
        "iat": 1_899_999_700,
        "nbf": 1_899_999_695,
        "project_path": "group/proj",
        "ref": "main",
        "ref_type": "branch",
        "pipeline_id": "4242",
        "runner_environment": "gitlab-hosted",
        "ci_config_ref_uri": "gitlab.example.test/group/proj//.gitlab-ci.yml@refs/heads/main",
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature = URL_SAFE_NO_PAD.encode(b"this-signature-must-never-be-printed-0123456789");
    let token = format!("{header}.{payload}.{signature}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{token}\n")).unwrap();
    for format in ["text", "json"] {
        let result = inspect_in(dir.path(), &["--output", format, "token"]);
        assert_eq!(result.code, 0, "{}", transcript(&result));
        let all = result.all();
        for secret in [&token, &signature, &payload] {
            assert!(
                !all.contains(secret.as_str()),
                "{format} output echoes the token:\n{all}"
            );
        }
        for claim in [
            "project_path",
            "group/proj",
            "4242",
            "gitlab-hosted",
            "2030-03-17T17:46:40Z",
            "https://gitlab.example.test/group/proj//.gitlab-ci.yml@refs/heads/main",
        ] {
            assert!(all.contains(claim), "{format}: {claim} missing:\n{all}");
        }
    }
    let text = inspect_in(dir.path(), &["token"]);
    assert_run(
        &text,
        0,
        &[
            "the token itself is not shown",
            "--gitlab-project group/proj --gitlab-ref refs/heads/main --gitlab-url https://gitlab.example.test",
        ],
    );
    settings().bind(|| insta::assert_snapshot!("inspect-oidc-token", transcript(&text)));
    // A token for another audience is named as such: Fulcio would refuse it.
    let other = claims
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .map(|(k, v)| {
            if k == "aud" {
                (k, json!("https://gitlab.com"))
            } else {
                (k, v)
            }
        });
    let other: serde_json::Map<String, Value> = other.collect();
    let payload = URL_SAFE_NO_PAD.encode(Value::Object(other).to_string());
    std::fs::write(
        dir.path().join("token2"),
        format!("{header}.{payload}.{signature}"),
    )
    .unwrap();
    assert_run(
        &inspect_in(dir.path(), &["token2"]),
        0,
        &["Fulcio accepts only tokens for \"sigstore\""],
    );
}

#[test]
fn unreadable_and_unknown_input_exit_2_saying_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "just some text, not base64\n").unwrap();
    std::fs::write(dir.path().join("empty"), "").unwrap();
    std::fs::write(dir.path().join("blob.bin"), [0u8, 159, 146, 150]).unwrap();
    std::fs::write(dir.path().join("x.json"), r#"{"hello": "world"}"#).unwrap();
    std::fs::write(
        dir.path().join("key.pem"),
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    std::fs::copy(vectors::prod_root(), dir.path().join("root.json")).unwrap();
    for (file, found) in [
        ("notes.txt", "found text in none of these forms"),
        ("empty", "the file is empty"),
        ("blob.bin", "found 4 bytes of binary data"),
        ("x.json", "found a JSON object with keys [\"hello\"]"),
        ("key.pem", "found a PEM PUBLIC KEY block"),
        ("root.json", "found a Sigstore trusted root"),
        ("missing.sigstore.json", "cannot read missing.sigstore.json"),
    ] {
        let result = inspect_in(dir.path(), &[file]);
        assert_run(&result, 2, &[found]);
        if file != "missing.sigstore.json" && file != "root.json" {
            assert_run(
                &result,
                2,
                &["expected a Sigstore bundle (JSON with \"mediaType\")"],
            );
        }
    }
    // One bad file among good ones: the good ones are still explained, exit 2.
    std::fs::copy(
        vectors::path("bundles/conf-happy-path-v0.3.sigstore.json"),
        dir.path().join("good.sigstore.json"),
    )
    .unwrap();
    let mixed = inspect_in(dir.path(), &["good.sigstore.json", "notes.txt"]);
    assert_run(
        &mixed,
        2,
        &["Sigstore bundle v0.3", "cannot inspect notes.txt"],
    );
    settings().bind(|| {
        insta::assert_snapshot!(
            "inspect-unknown-input",
            transcript(&inspect_in(dir.path(), &["notes.txt"]))
        )
    });
}

#[test]
fn copied_pep740_vectors_match_shared() {
    // tests/data/vectors is a copy of ../shared/vectors; keep exact what the
    // snapshots above explain (pep740/, and the bundles and GitLab
    // certificate too).
    for sub in ["pep740", "bundles", "gitlab"] {
        vectors::assert_copy_matches_shared(sub);
    }
}
