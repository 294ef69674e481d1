//! Every row of the shared vector table, through the real binary.

use crate::support::{gl_sign, run, vectors};

#[test]
fn all_vector_cases_give_the_expected_outcome() {
    let table = std::fs::read_to_string(vectors::path("cases.tsv")).unwrap();
    let mut rows = 0;
    let mut failures = Vec::new();
    for line in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [bundle, artifact, root, identity, issuer, expected, why] = cols[..] else {
            panic!("bad row: {line}");
        };
        let expected_code = match expected {
            "verified" => 0,
            "rejected" => 1,
            "malformed" => 2,
            other => panic!("unknown outcome {other}"),
        };
        let result = run(gl_sign()
            .arg("verify-blob")
            .arg(vectors::path(artifact))
            .arg("--bundle")
            .arg(vectors::path(bundle))
            .arg("--trusted-root")
            .arg(vectors::path(root))
            .args([
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                issuer,
            ]));
        rows += 1;
        let verdict_ok = match expected_code {
            0 => result.stdout.starts_with("OK "),
            _ => result.stdout.starts_with("FAILED "),
        };
        if result.code != expected_code || !verdict_ok {
            failures.push(format!(
                "{bundle} ({why}): expected {expected}, got exit {}: {}",
                result.code,
                result.all()
            ));
        }
    }
    assert_eq!(rows, 28, "the table has 28 rows");
    assert!(
        failures.is_empty(),
        "{} rows disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn copied_vectors_match_shared() {
    // The suite runs from tests/data; make sure that copy has not drifted.
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors");
    if !shared.exists() {
        eprintln!("skipped: ../shared/vectors is not beside this checkout");
        return;
    }
    for name in [
        "cases.tsv",
        "trusted_root.prod.json",
        "trusted_root.staging.json",
        "bundles/conf-happy-path-v0.3.sigstore.json",
    ] {
        assert_eq!(
            std::fs::read(shared.join(name)).unwrap(),
            std::fs::read(vectors::path(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn embedded_root_is_the_production_root() {
    assert_eq!(
        gl_sign::trust::PRODUCTION_TRUSTED_ROOT_JSON.as_bytes(),
        std::fs::read(vectors::prod_root()).unwrap()
    );
    assert_eq!(
        gl_sign::trust::STAGING_TRUSTED_ROOT_JSON.as_bytes(),
        std::fs::read(vectors::path("trusted_root.staging.json")).unwrap()
    );
}

#[test]
fn embedded_default_verifies_a_production_bundle_offline() {
    let result = run(gl_sign()
        .args(["verify", "--offline"])
        .arg(vectors::artifact())
        .arg("--bundle")
        .arg(vectors::path("bundles/conf-happy-path-v0.3.sigstore.json"))
        .args([
            "--certificate-identity",
            vectors::GITHUB_IDENTITY,
            "--certificate-oidc-issuer",
            vectors::GITHUB_ISSUER,
        ]));
    crate::support::assert_run(&result, 0, &["OK "]);
    // And --staging selects the other embedded root, under which it is foreign.
    let result = run(gl_sign()
        .args(["verify", "--offline", "--staging"])
        .arg(vectors::artifact())
        .arg("--bundle")
        .arg(vectors::path("bundles/conf-happy-path-v0.3.sigstore.json"))
        .args([
            "--certificate-identity",
            vectors::GITHUB_IDENTITY,
            "--certificate-oidc-issuer",
            vectors::GITHUB_ISSUER,
        ]));
    crate::support::assert_run(&result, 1, &["FAILED", "staging"]);
}
