//! Attestations are not blob signatures (issue 8, hole 3), and PEP 740
//! attestations verify as PyPI verifies them (issue 9), on real public-good
//! vectors: the GitLab.com and GitHub attestations of pypi-attestations'
//! test assets, as Sigstore bundles (certificate + dsse 0.0.1 entry + DSSE
//! envelope) and as the attestation files themselves, each mutated one field
//! at a time.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::{assert_run, assert_run_snapshot, gl_sign, run, vectors, Run};

const PUBLISH: &str = "https://docs.pypi.org/attestations/publish/v1";
const SLSA: &str = "https://slsa.dev/provenance/v1";
const GITLAB_DIST: &str = "gitlab_oidc_project-0.0.3.tar.gz";
const GITLAB_SHA256: &str = "c1ca9b0d85df1606451098233018534497bf584362e10e4a8c21dfaea92c02a8";
const GITLAB_PROJECT: &str = "facutuesca/gitlab-oidc-project";
const GITHUB_DIST: &str = "pypi_attestations-0.0.19.tar.gz";
const GITHUB_IDENTITY: &str =
    "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn pep740(name: &str) -> PathBuf {
    vectors::path("pep740").join(name)
}

fn attestation(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(pep740(name)).unwrap()).unwrap()
}

/// The Sigstore bundle an attestation stands for.
fn bundle_of(attestation: &Value) -> Value {
    vectors::bundle_of_attestation(attestation)
}

/// A directory holding copies of the dists (under their own or other names).
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn dist(&self, vector: &str, as_name: &str) -> PathBuf {
        let path = self.dir.path().join(as_name);
        std::fs::copy(pep740(vector), &path).unwrap();
        path
    }
    fn write(&self, name: &str, value: &Value) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
        path
    }
}

fn verify(file: &Path, args: &[&str]) -> Run {
    run(gl_sign()
        .env_remove("GL_SIGN_TRUSTED_ROOT")
        .args(["verify-blob", "--offline"])
        .arg(file)
        .args(args))
}

fn flip_b64(value: &mut Value, at: usize) {
    let mut bytes = STANDARD.decode(value.as_str().unwrap()).unwrap();
    let i = if at == usize::MAX {
        bytes.len() - 1
    } else {
        at
    };
    bytes[i] ^= 0x01;
    *value = json!(STANDARD.encode(bytes));
}

/// [`verify`] with `args`, the GitLab project's signer pinned.
fn verify_gitlab(file: &Path, args: &[&str]) -> Run {
    verify(
        file,
        &[args, &["--gitlab-project", GITLAB_PROJECT]].concat(),
    )
}

// ----- hole 3: a DSSE bundle is an attestation, not a signature -----

#[test]
fn dsse_bundle_is_refused_as_a_blob_signature_without_type() {
    let d = Dir::new();
    let dist = d.dist(GITLAB_DIST, GITLAB_DIST);
    let bundle = d.write(
        "b.sigstore.json",
        &bundle_of(&attestation(&format!("{GITLAB_DIST}.publish.attestation"))),
    );
    let b = bundle.to_str().unwrap();
    let no_type = verify_gitlab(&dist, &["--bundle", b]);
    // "expected a signature over the file, found an in-toto attestation
    // (DSSE) with predicate type …" and the hint that names --type.
    assert_run_snapshot("run-verify-blob-dsse-without-type", &no_type);
    // Also when found beside the file, as FILE.sigstore.json.
    std::fs::copy(
        &bundle,
        d.dir.path().join(format!("{GITLAB_DIST}.sigstore.json")),
    )
    .unwrap();
    assert_run(
        &verify_gitlab(&dist, &[]),
        1,
        &["found an in-toto attestation"],
    );

    let with_type = verify_gitlab(&dist, &["--bundle", b, "--type", PUBLISH]);
    assert_run(&with_type, 0, &["OK "]);
}

#[test]
fn dsse_bundle_must_attest_the_requested_type_name_and_digest() {
    let d = Dir::new();
    let dist = d.dist(GITLAB_DIST, GITLAB_DIST);
    let bundle = d.write(
        "b.sigstore.json",
        &bundle_of(&attestation(&format!("{GITLAB_DIST}.publish.attestation"))),
    );
    let b = bundle.to_str().unwrap();
    let with = |file: &Path, t: &str| verify_gitlab(file, &["--bundle", b, "--type", t]);
    assert_run(
        &with(&dist, SLSA),
        1,
        &[&format!("expected predicate type {SLSA}, found {PUBLISH}")],
    );
    // The same bytes under another name: the subject names the file.
    let renamed = d.dist(GITLAB_DIST, "gitlab_oidc_project-0.0.4.tar.gz");
    assert_run(
        &with(&renamed, PUBLISH),
        1,
        &[&format!(
            "expected a subject gitlab_oidc_project-0.0.4.tar.gz (sha256 {GITLAB_SHA256}), found {GITLAB_DIST} (sha256 {GITLAB_SHA256})"
        )],
    );
    // The right name with other content: the digest differs.
    let other = d.dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let changed = other.join(GITLAB_DIST);
    let mut bytes = std::fs::read(pep740(GITLAB_DIST)).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&changed, &bytes).unwrap();
    let found = with(&changed, PUBLISH);
    assert_run(
        &found,
        1,
        &[
            &format!("expected a subject {GITLAB_DIST} (sha256 "),
            &format!("found {GITLAB_DIST} (sha256 {GITLAB_SHA256})"),
        ],
    );
    assert!(!found.stdout.contains(&format!(
        "expected a subject {GITLAB_DIST} (sha256 {GITLAB_SHA256})"
    )));
}

#[test]
fn a_plain_signature_is_not_an_attestation() {
    let run = verify(
        &vectors::artifact(),
        &[
            "--bundle",
            vectors::path("bundles/conf-happy-path-v0.3.sigstore.json")
                .to_str()
                .unwrap(),
            "--certificate-identity",
            vectors::GITHUB_IDENTITY,
            "--certificate-oidc-issuer",
            vectors::GITHUB_ISSUER,
            "--type",
            PUBLISH,
        ],
    );
    assert_run(
        &run,
        1,
        &[&format!("expected an in-toto attestation (DSSE) with predicate type {PUBLISH}, found a plain signature")],
    );
}

/// Each field of the DSSE bundle mutated on its own is refused (exit 1).
#[test]
fn dsse_bundle_mutated_one_field_at_a_time_is_rejected() {
    let d = Dir::new();
    let dist = d.dist(GITLAB_DIST, GITLAB_DIST);
    let good = bundle_of(&attestation(&format!("{GITLAB_DIST}.publish.attestation")));
    let entry = "/verificationMaterial/tlogEntries/0";
    type Mutation = (&'static str, Box<dyn Fn(&mut Value)>);
    let mutations: Vec<Mutation> = vec![
        (
            "payload re-encoded (same statement, other bytes)",
            Box::new(|b: &mut Value| {
                let payload = STANDARD
                    .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
                    .unwrap();
                let mut text = String::from_utf8(payload).unwrap();
                text.push(' ');
                b["dsseEnvelope"]["payload"] = json!(STANDARD.encode(text));
            }),
        ),
        (
            "payload for another file",
            Box::new(|b: &mut Value| {
                let payload = STANDARD
                    .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
                    .unwrap();
                let text = String::from_utf8(payload)
                    .unwrap()
                    .replace("0.0.3", "0.0.4");
                b["dsseEnvelope"]["payload"] = json!(STANDARD.encode(text));
            }),
        ),
        (
            "payload type",
            Box::new(|b: &mut Value| b["dsseEnvelope"]["payloadType"] = json!("application/json")),
        ),
        (
            "signature",
            Box::new(|b: &mut Value| flip_b64(&mut b["dsseEnvelope"]["signatures"][0]["sig"], 20)),
        ),
        (
            "certificate signature",
            Box::new(|b: &mut Value| {
                flip_b64(
                    &mut b["verificationMaterial"]["certificate"]["rawBytes"],
                    usize::MAX,
                )
            }),
        ),
        (
            "log index",
            Box::new(move |b: &mut Value| {
                b.pointer_mut(entry).unwrap()["logIndex"] = json!("149945775")
            }),
        ),
        (
            "integrated time",
            Box::new(move |b: &mut Value| {
                b.pointer_mut(entry).unwrap()["integratedTime"] = json!("1732037821")
            }),
        ),
        (
            "log ID",
            Box::new(move |b: &mut Value| {
                flip_b64(&mut b.pointer_mut(entry).unwrap()["logId"]["keyId"], 3)
            }),
        ),
        (
            "SET",
            Box::new(move |b: &mut Value| {
                flip_b64(
                    &mut b.pointer_mut(entry).unwrap()["inclusionPromise"]["signedEntryTimestamp"],
                    30,
                )
            }),
        ),
        (
            "inclusion proof hash",
            Box::new(move |b: &mut Value| {
                flip_b64(
                    &mut b.pointer_mut(entry).unwrap()["inclusionProof"]["hashes"][0],
                    0,
                )
            }),
        ),
        (
            "inclusion proof root",
            Box::new(move |b: &mut Value| {
                flip_b64(
                    &mut b.pointer_mut(entry).unwrap()["inclusionProof"]["rootHash"],
                    0,
                )
            }),
        ),
        (
            "canonicalized body",
            Box::new(move |b: &mut Value| {
                let e = b.pointer_mut(entry).unwrap();
                let body = STANDARD
                    .decode(e["canonicalizedBody"].as_str().unwrap())
                    .unwrap();
                let text =
                    String::from_utf8(body)
                        .unwrap()
                        .replacen("\"sha256\"", "\"sha256\" ", 1);
                e["canonicalizedBody"] = json!(STANDARD.encode(text));
            }),
        ),
    ];
    for (what, mutate) in mutations {
        let mut bundle = good.clone();
        mutate(&mut bundle);
        let path = d.write("mutated.sigstore.json", &bundle);
        let run = verify_gitlab(
            &dist,
            &["--bundle", path.to_str().unwrap(), "--type", PUBLISH],
        );
        assert_eq!(
            run.code, 1,
            "{what}: expected rejection\n{}{}",
            run.stdout, run.stderr
        );
        assert!(run.stdout.contains("FAILED"), "{what}: {}", run.stdout);
    }
}

// ----- PEP 740 attestations against the embedded production root -----

#[test]
fn real_gitlab_attestation_verifies_beside_the_dist_and_by_flag() {
    let dist = pep740(GITLAB_DIST);
    // Found beside the dist: FILE.publish.attestation.
    let beside = verify_gitlab(&dist, &[]);
    assert_run(&beside, 0, &["OK "]);
    let json = verify_gitlab(
        &dist,
        &["--gitlab-ref", "refs/heads/main", "--output", "json"],
    );
    assert_run(&json, 0, &[]);
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    let file = &doc["files"][0];
    assert_eq!(file["evidence"], "pep740-attestation");
    assert_eq!(file["predicate_type"], PUBLISH);
    assert_eq!(file["sha256"], GITLAB_SHA256);
    assert_eq!(file["log_index"], 149945774);
    let att = pep740(&format!("{GITLAB_DIST}.publish.attestation"));
    let explicit = verify_gitlab(&dist, &["--attestation", att.to_str().unwrap()]);
    assert_run(&explicit, 0, &["OK "]);
    let typed = verify_gitlab(
        &dist,
        &["--attestation", att.to_str().unwrap(), "--type", SLSA],
    );
    assert_run(
        &typed,
        1,
        &[&format!("expected predicate type {SLSA}, found {PUBLISH}")],
    );
}

#[test]
fn real_github_attestations_verify_publish_and_slsa() {
    let dist = pep740(GITHUB_DIST);
    for kind in ["publish", "slsa"] {
        let att = pep740(&format!("{GITHUB_DIST}.{kind}.attestation"));
        let run = verify(
            &dist,
            &[
                "--attestation",
                att.to_str().unwrap(),
                "--certificate-identity",
                GITHUB_IDENTITY,
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
                "--output",
                "json",
            ],
        );
        assert_run(&run, 0, &[]);
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        let expected = if kind == "slsa" { SLSA } else { PUBLISH };
        assert_eq!(doc["files"][0]["predicate_type"], expected);
    }
}

#[test]
fn real_gitlab_attestation_is_rejected_for_another_signer_or_file() {
    let dist = pep740(GITLAB_DIST);
    let att = pep740(&format!("{GITLAB_DIST}.publish.attestation"));
    let a = att.to_str().unwrap();
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("another project", vec!["--gitlab-project", "facutuesca/other"], "expected identity matching https://gitlab.com/facutuesca/other//.gitlab-ci.yml@"),
        ("another CI file", vec!["--gitlab-project", GITLAB_PROJECT, "--gitlab-config-path", "ci/release.yml"], "expected identity matching https://gitlab.com/facutuesca/gitlab-oidc-project//ci/release.yml@"),
        ("another ref", vec!["--gitlab-project", GITLAB_PROJECT, "--gitlab-ref", "refs/tags/v0.0.3"], "expected identity https://gitlab.com/facutuesca/gitlab-oidc-project//.gitlab-ci.yml@refs/tags/v0.0.3, certificate has https://gitlab.com/facutuesca/gitlab-oidc-project//.gitlab-ci.yml@refs/heads/main"),
        ("another instance", vec!["--gitlab-project", GITLAB_PROJECT, "--gitlab-url", "https://gitlab.example.com"], "expected identity matching https://gitlab.example.com/"),
        ("another issuer", vec!["--certificate-identity", "https://gitlab.com/facutuesca/gitlab-oidc-project//.gitlab-ci.yml@refs/heads/main", "--certificate-oidc-issuer", GITHUB_ISSUER], "expected issuer https://token.actions.githubusercontent.com, certificate has https://gitlab.com"),
    ];
    for (what, args, message) in cases {
        let run = verify(&dist, &[&["--attestation", a][..], &args].concat());
        assert_eq!(run.code, 1, "{what}\n{}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains(message),
            "{what}: missing {message:?} in {}",
            run.stdout
        );
    }
    // The other dist, and this dist with one byte changed.
    let other = verify_gitlab(&pep740(GITHUB_DIST), &["--attestation", a]);
    assert_run(
        &other,
        1,
        &[&format!("expected a subject {GITHUB_DIST} (sha256 ")],
    );
    let d = Dir::new();
    let changed = d.dir.path().join(GITLAB_DIST);
    let mut bytes = std::fs::read(&dist).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&changed, bytes).unwrap();
    let run = verify_gitlab(&changed, &["--attestation", a]);
    assert_run(
        &run,
        1,
        &[&format!("found {GITLAB_DIST} (sha256 {GITLAB_SHA256})")],
    );
}

/// The attestation file mutated one field at a time: what breaks a signature,
/// log proof or statement is rejected (1); what PyPI cannot parse is malformed (2).
#[test]
fn real_attestations_mutated_one_field_at_a_time() {
    let d = Dir::new();
    let entry = "/verification_material/transparency_entries/0";
    type Mutation = (&'static str, i32, &'static str, Box<dyn Fn(&mut Value)>);
    let statement_with = |f: fn(&mut Value)| {
        move |a: &mut Value| {
            let bytes = STANDARD
                .decode(a["envelope"]["statement"].as_str().unwrap())
                .unwrap();
            let mut s: Value = serde_json::from_slice(&bytes).unwrap();
            f(&mut s);
            a["envelope"]["statement"] = json!(STANDARD.encode(s.to_string()));
        }
    };
    let mutations: Vec<Mutation> = vec![
        ("statement bytes", 1, "FAILED", Box::new(|a: &mut Value| {
            let bytes = STANDARD.decode(a["envelope"]["statement"].as_str().unwrap()).unwrap();
            let mut text = String::from_utf8(bytes).unwrap();
            text.insert(1, ' ');
            a["envelope"]["statement"] = json!(STANDARD.encode(text));
        })),
        ("predicate type", 1, "expected predicate type https://docs.pypi.org/attestations/publish/v1 or https://slsa.dev/provenance/v1, found https://example.com/x/v1",
            Box::new(statement_with(|s| s["predicateType"] = json!("https://example.com/x/v1")))),
        ("subject name", 1, "expected a subject", Box::new(statement_with(|s| s["subject"][0]["name"] = json!("other-1.0.tar.gz")))),
        ("second subject", 1, "expected exactly one subject, found 2", Box::new(statement_with(|s| {
            let first = s["subject"][0].clone();
            s["subject"].as_array_mut().unwrap().push(first);
        }))),
        ("uppercase digest", 1, "lowercase sha256", Box::new(statement_with(|s| {
            let d = s["subject"][0]["digest"]["sha256"].as_str().unwrap().to_ascii_uppercase();
            s["subject"][0]["digest"]["sha256"] = json!(d);
        }))),
        ("signature", 1, "FAILED", Box::new(|a: &mut Value| flip_b64(&mut a["envelope"]["signature"], 20))),
        ("certificate", 1, "FAILED", Box::new(|a: &mut Value| flip_b64(&mut a["verification_material"]["certificate"], usize::MAX))),
        ("log index", 1, "FAILED", Box::new(move |a: &mut Value| a.pointer_mut(entry).unwrap()["logIndex"] = json!("1"))),
        ("integrated time", 1, "FAILED", Box::new(move |a: &mut Value| a.pointer_mut(entry).unwrap()["integratedTime"] = json!("1732037000"))),
        ("SET", 1, "FAILED", Box::new(move |a: &mut Value| flip_b64(&mut a.pointer_mut(entry).unwrap()["inclusionPromise"]["signedEntryTimestamp"], 30))),
        ("proof hash", 1, "FAILED", Box::new(move |a: &mut Value| flip_b64(&mut a.pointer_mut(entry).unwrap()["inclusionProof"]["hashes"][1], 5))),
        ("log index as a JSON number", 2, "must be a string holding an integer", Box::new(move |a: &mut Value| a.pointer_mut(entry).unwrap()["logIndex"] = json!(149945774u64))),
        ("no SET", 2, "has no inclusionPromise", Box::new(move |a: &mut Value| {
            a.pointer_mut(entry).unwrap().as_object_mut().unwrap().remove("inclusionPromise");
        })),
        ("no inclusion proof", 2, "has no inclusionProof", Box::new(move |a: &mut Value| {
            a.pointer_mut(entry).unwrap().as_object_mut().unwrap().remove("inclusionProof");
        })),
        ("no entry", 2, "expected one transparency log entry, found 0", Box::new(|a: &mut Value| a["verification_material"]["transparency_entries"] = json!([]))),
        ("version", 2, "expected attestation version 1, found 2", Box::new(|a: &mut Value| a["version"] = json!(2))),
        ("unpadded certificate", 2, "is not standard padded base64", Box::new(|a: &mut Value| {
            let c = a["verification_material"]["certificate"].as_str().unwrap().trim_end_matches('=').to_string();
            a["verification_material"]["certificate"] = json!(c);
        })),
    ];
    let dist = pep740(GITLAB_DIST);
    let good = attestation(&format!("{GITLAB_DIST}.publish.attestation"));
    for (what, code, message, mutate) in mutations {
        let mut att = good.clone();
        mutate(&mut att);
        let path = d.write("mutated.attestation", &att);
        let run = verify_gitlab(&dist, &["--attestation", path.to_str().unwrap()]);
        assert_eq!(run.code, code, "{what}\n{}{}", run.stdout, run.stderr);
        assert!(
            run.all().contains(message),
            "{what}: missing {message:?} in\n{}{}",
            run.stdout,
            run.stderr
        );
    }
    // The GitHub SLSA attestation too: its predicate is signed.
    let slsa = attestation(&format!("{GITHUB_DIST}.slsa.attestation"));
    let mut att = slsa.clone();
    statement_with(|s| {
        s["predicate"]["runDetails"]["builder"]["id"] = json!("https://evil.example/builder")
    })(&mut att);
    let path = d.write("slsa.attestation", &att);
    let run = verify(
        &pep740(GITHUB_DIST),
        &[
            "--attestation",
            path.to_str().unwrap(),
            "--certificate-identity",
            GITHUB_IDENTITY,
            "--certificate-oidc-issuer",
            GITHUB_ISSUER,
        ],
    );
    assert_run(&run, 1, &["FAILED"]);
}

#[test]
fn copied_pep740_vectors_match_shared() {
    // tests/data/vectors/pep740 is a copy of ../shared/vectors/pep740; keep it exact.
    vectors::assert_copy_matches_shared("pep740");
}
