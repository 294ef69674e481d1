//! `gl-sign attest` against the local Sigstore (OIDC issuer, Fulcio, Rekor v1
//! with dsse entries, real cryptography): one certificate for every dist and
//! predicate, round trips through `verify-blob --attestation`, re-runs, wrong
//! answers from the services, and pypi-attestations verifying what is written.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use crate::support::sigstore_stack::{endpoint, LocalSigstore, TrustFiles};
use crate::support::{
    assert_live_snapshot, assert_run, gl_sign, python_tool, run, with_suffix, Run,
};

const PUBLISH: &str = "https://docs.pypi.org/attestations/publish/v1";
const SLSA: &str = "https://slsa.dev/provenance/v1";
const SHA: &str = "eafa0a6820b778736cffdf6c70448b5647855352";

struct Setup {
    stack: LocalSigstore,
    dir: tempfile::TempDir,
    trust: TrustFiles,
    dists: Vec<PathBuf>,
}

fn setup(n: usize) -> Setup {
    let stack = LocalSigstore::start();
    let dir = tempfile::tempdir().unwrap();
    let trust = stack.write_trust_files(&dir.path().join("trust"));
    let dists = (0..n)
        .map(|i| {
            let f = if i % 2 == 0 {
                dir.path()
                    .join(format!("demo_pkg-1.0.{i}-py3-none-any.whl"))
            } else {
                dir.path().join(format!("demo_pkg-1.0.{i}.tar.gz"))
            };
            std::fs::write(&f, format!("dist {i} contents").repeat(100)).unwrap();
            f
        })
        .collect();
    Setup {
        stack,
        dir,
        trust,
        dists,
    }
}

impl Setup {
    fn identity(&self) -> String {
        self.stack.identity_for(&self.stack.gitlab_claims())
    }

    /// The CI variables of the job that signs (the local instance's project).
    fn ci_env(&self) -> Vec<(&'static str, String)> {
        let server = self.stack.issuer_url().to_string();
        let project = format!("{server}/group/proj");
        vec![
            ("GITLAB_CI", "true".into()),
            ("CI_SERVER_URL", server.clone()),
            ("CI_PROJECT_PATH", "group/proj".into()),
            ("CI_PROJECT_URL", project.clone()),
            ("CI_COMMIT_SHA", SHA.into()),
            ("CI_COMMIT_REF_NAME", "main".into()),
            ("CI_CONFIG_PATH", ".gitlab-ci.yml".into()),
            ("CI_JOB_NAME", "attest".into()),
            ("CI_JOB_ID", "11637492236".into()),
            ("CI_JOB_URL", format!("{project}/-/jobs/11637492236")),
            ("CI_JOB_STARTED_AT", "2026-12-01T10:00:00Z".into()),
            ("CI_PIPELINE_ID", "1000001".into()),
            ("CI_PIPELINE_URL", format!("{project}/-/pipelines/1000001")),
            ("CI_PIPELINE_SOURCE", "push".into()),
            ("CI_RUNNER_ID", "12270837".into()),
            ("CI_RUNNER_DESCRIPTION", "shared-runner".into()),
            ("CI_RUNNER_VERSION", "18.6.0".into()),
            ("CI_RUNNER_EXECUTABLE_ARCH", "linux/amd64".into()),
        ]
    }

    fn attest(&self, dists: &[PathBuf], extra: &[&str], ci: bool) -> Run {
        let mut cmd = gl_sign();
        cmd.arg("attest")
            .args(dists)
            .env("SIGSTORE_ID_TOKEN", self.stack.token())
            .args([
                "--fulcio-url",
                self.stack.fulcio_url(),
                "--rekor-url",
                self.stack.rekor_url(),
            ])
            .arg("--trusted-root")
            .arg(&self.trust.trusted_root)
            .args(extra);
        if ci {
            for (k, v) in self.ci_env() {
                cmd.env(k, v);
            }
        }
        run(&mut cmd)
    }

    fn verify(&self, dist: &Path, extra: &[&str]) -> Run {
        run(gl_sign()
            .args(["verify-blob", "--offline"])
            .arg(dist)
            .arg("--trusted-root")
            .arg(&self.trust.trusted_root)
            .args([
                "--gitlab-url",
                self.stack.issuer_url(),
                "--gitlab-project",
                "group/proj",
            ])
            .args(extra))
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn statement(attestation: &Value) -> Value {
    let bytes = STANDARD
        .decode(attestation["envelope"]["statement"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn attests_every_dist_and_predicate_with_one_certificate_and_verifies() {
    let s = setup(3);
    let out = s.attest(
        &s.dists,
        &["--predicate", "publish", "--predicate", "slsa"],
        true,
    );
    assert_run(
        &out,
        0,
        &[
            &format!("as {}", s.identity()),
            "(6 attestations)",
            &format!(
                "warning: the identity token's issuer is {}; PyPI verifies GitLab attestations only from https://gitlab.com",
                s.stack.issuer_url()
            ),
        ],
    );
    assert_live_snapshot("run-attest-in-ci", &out);
    assert_eq!(
        s.stack.fulcio().requests(endpoint::FULCIO_SIGNING_CERT),
        1,
        "one certificate for every dist and predicate"
    );
    assert_eq!(s.stack.rekor().requests(endpoint::REKOR_CREATE), 6);
    let mut certificates = Vec::new();
    for dist in &s.dists {
        let name = dist.file_name().unwrap().to_str().unwrap();
        let digest =
            crate::support::pki::hex(&crate::support::pki::sha256(&std::fs::read(dist).unwrap()));
        for (suffix, predicate_type) in [
            (".publish.attestation", PUBLISH),
            (".slsa.attestation", SLSA),
        ] {
            let a = read_json(&with_suffix(dist, suffix));
            // Exactly pypi-attestations' shape: int64s as strings, SET and proof.
            assert_eq!(a["version"], 1);
            let entries = a["verification_material"]["transparency_entries"]
                .as_array()
                .unwrap();
            assert_eq!(entries.len(), 1);
            let e = &entries[0];
            assert_eq!(
                e["kindVersion"],
                serde_json::json!({"kind": "dsse", "version": "0.0.1"})
            );
            assert!(
                e["logIndex"].is_string() && e["integratedTime"].is_string(),
                "{e}"
            );
            assert!(e["inclusionProof"]["treeSize"].is_string(), "{e}");
            assert!(e["inclusionPromise"]["signedEntryTimestamp"].is_string());
            assert!(e["inclusionProof"]["checkpoint"]["envelope"].is_string());
            certificates.push(a["verification_material"]["certificate"].clone());
            let st = statement(&a);
            assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
            assert_eq!(st["predicateType"], predicate_type);
            assert_eq!(
                st["subject"],
                serde_json::json!([{"name": name, "digest": {"sha256": digest}}])
            );
            if predicate_type == PUBLISH {
                assert!(st["predicate"].is_null());
            } else {
                let p = &st["predicate"];
                assert_eq!(
                    p["buildDefinition"]["buildType"],
                    "https://docs.gitlab.com/ci/pipeline_security/slsa/provenance_v1"
                );
                assert_eq!(
                    p["buildDefinition"]["externalParameters"]["entryPoint"],
                    "attest"
                );
                assert_eq!(
                    p["buildDefinition"]["resolvedDependencies"][0]["digest"]["gitCommit"],
                    SHA
                );
                assert_eq!(
                    p["buildDefinition"]["resolvedDependencies"][0]["uri"],
                    format!("git+{}/group/proj@refs/heads/main", s.stack.issuer_url())
                );
                assert_eq!(
                    p["runDetails"]["builder"]["id"],
                    format!("{}/group/proj/-/runners/12270837", s.stack.issuer_url())
                );
                assert_eq!(
                    p["runDetails"]["metadata"]["invocationId"],
                    format!("{}/group/proj/-/jobs/11637492236", s.stack.issuer_url())
                );
            }
        }
        // Found beside the dist, and with PyPI's GitLab publisher checks.
        assert_run(
            &s.verify(dist, &["--gitlab-ref", "refs/heads/main"]),
            0,
            &["OK "],
        );
        let slsa = with_suffix(dist, ".slsa.attestation");
        let json = s.verify(
            dist,
            &["--attestation", slsa.to_str().unwrap(), "--output", "json"],
        );
        assert_run(&json, 0, &[]);
        let doc: Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!(doc["files"][0]["predicate_type"], SLSA);
        // Another dist's attestation is refused for this one.
        let other = with_suffix(
            &s.dists[(s.dists.iter().position(|d| d == dist).unwrap() + 1) % 3],
            ".publish.attestation",
        );
        assert_run(
            &s.verify(dist, &["--attestation", other.to_str().unwrap()]),
            1,
            &[&format!(
                "expected a subject {name} (sha256 {digest}), found "
            )],
        );
    }
    certificates.dedup();
    assert_eq!(
        certificates.len(),
        1,
        "every attestation carries the one certificate"
    );
}

#[test]
fn reruns_keep_what_verifies_and_redo_the_rest() {
    let s = setup(2);
    assert_run(&s.attest(&s.dists, &[], false), 0, &[]);
    assert!(
        !with_suffix(&s.dists[0], ".slsa.attestation").exists(),
        "publish only by default"
    );
    let again = s.attest(&s.dists, &[], false);
    assert_run(&again, 0, &["kept ", "it already verifies"]);
    assert_live_snapshot("run-attest-rerun-keeps", &again);
    assert_eq!(
        s.stack.fulcio().requests(endpoint::FULCIO_SIGNING_CERT),
        1,
        "no new certificate"
    );
    assert_eq!(s.stack.rekor().requests(endpoint::REKOR_CREATE), 2);
    // One attestation swapped for the other dist's: only that one is redone.
    let first = with_suffix(&s.dists[0], ".publish.attestation");
    std::fs::copy(with_suffix(&s.dists[1], ".publish.attestation"), &first).unwrap();
    let redo = s.attest(&s.dists, &[], false);
    assert_run(
        &redo,
        0,
        &[&format!(
            "kept {}",
            with_suffix(&s.dists[1], ".publish.attestation").display()
        )],
    );
    assert_eq!(s.stack.fulcio().requests(endpoint::FULCIO_SIGNING_CERT), 2);
    assert_eq!(s.stack.rekor().requests(endpoint::REKOR_CREATE), 3);
    assert_run(&s.verify(&s.dists[0], &[]), 0, &["OK "]);
    // --output-dir writes there, not beside the dists.
    let out = s.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let one = s.attest(
        &s.dists[..1],
        &["--output-dir", out.to_str().unwrap()],
        false,
    );
    assert_run(&one, 0, &[]);
    assert_live_snapshot("run-attest-ok", &one);
    let name = s.dists[0].file_name().unwrap().to_str().unwrap();
    assert!(out.join(format!("{name}.publish.attestation")).exists());
}

#[test]
fn slsa_needs_the_ci_job_and_nothing_is_written_without_it() {
    let s = setup(1);
    let out = s.attest(&s.dists, &["--predicate", "slsa"], false);
    assert_run(
        &out,
        2,
        &[
            "--predicate slsa records the GitLab CI job, but CI_SERVER_URL, CI_PROJECT_PATH",
            "hint: run attest --predicate slsa inside a GitLab CI job",
        ],
    );
    assert_live_snapshot("run-attest-slsa-outside-ci", &out);
    assert!(!with_suffix(&s.dists[0], ".slsa.attestation").exists());
    let readme = s.dir.path().join("README.txt");
    std::fs::write(&readme, "not a dist").unwrap();
    assert_run(
        &s.attest(&[readme], &[], false),
        2,
        &[
            "README.txt is not a wheel or sdist",
            "hint: PEP 740 attestations are for the dists",
        ],
    );
    assert_eq!(
        s.stack.fulcio().total_requests(),
        0,
        "refused before any request"
    );
}

#[test]
fn wrong_answers_from_fulcio_or_rekor_write_nothing() {
    let s = setup(2);
    s.stack.fulcio_issue_for_other_identity(1);
    let other = s.attest(&s.dists, &[], false);
    assert_run(&other, 2, &["Fulcio issued a certificate for", "expected"]);
    assert!(!with_suffix(&s.dists[0], ".publish.attestation").exists());

    s.stack.clear_all_faults();
    s.stack.rekor_corrupt_set(1);
    let corrupt = s.attest(&s.dists, &[], false);
    assert_run(
        &corrupt,
        2,
        &["does not verify; nothing was written for it"],
    );
    let written = s
        .dists
        .iter()
        .filter(|d| with_suffix(d, ".publish.attestation").exists())
        .count();
    assert_eq!(
        written, 1,
        "the one that verified is written, the other is not"
    );
    // The re-run completes it.
    assert_run(&s.attest(&s.dists, &[], false), 0, &["kept "]);
    for d in &s.dists {
        assert_run(&s.verify(d, &[]), 0, &["OK "]);
    }
}

/// pypi-attestations, from `$GL_SIGN_PYTHON_BIN` (set by scripts/test) or `.venv/bin`.
fn pypi_attestations() -> Option<PathBuf> {
    python_tool("pypi-attestations").map(|bin| bin.join("pypi-attestations"))
}

/// `pypi-attestations verify attestation` takes no trust root; `--offline`
/// reads sigstore-python's cached production root, so the cache is seeded
/// with the local one in a private XDG_CACHE_HOME.
fn pypi_attestations_verify(
    tool: &Path,
    s: &Setup,
    identity: &str,
    dists: &[PathBuf],
) -> (bool, String) {
    let cache = s.dir.path().join("xdg-cache");
    let root_dir = cache.join("sigstore-python/tuf/https%3A%2F%2Ftuf-repo-cdn.sigstore.dev");
    std::fs::create_dir_all(&root_dir).unwrap();
    std::fs::copy(&s.trust.trusted_root, root_dir.join("trusted_root.json")).unwrap();
    let out = Command::new(tool)
        .env("XDG_CACHE_HOME", &cache)
        .env("HOME", s.dir.path())
        .args(["verify", "attestation", "--offline", "--identity", identity])
        .args(dists)
        .output()
        .unwrap();
    crate::support::outcome(&out)
}

#[test]
fn pypi_attestations_accepts_every_attestation_gl_sign_writes() {
    let Some(tool) = pypi_attestations() else {
        return;
    };
    let s = setup(2);
    assert_run(
        &s.attest(
            &s.dists,
            &["--predicate", "publish", "--predicate", "slsa"],
            true,
        ),
        0,
        &[],
    );
    let (ok, text) = pypi_attestations_verify(&tool, &s, &s.identity(), &s.dists);
    assert!(
        ok,
        "pypi-attestations refused gl-sign's attestations:\n{text}"
    );
    for dist in &s.dists {
        for suffix in [".publish.attestation", ".slsa.attestation"] {
            let ok_line = format!("OK: {}", with_suffix(dist, suffix).display());
            assert!(text.contains(&ok_line), "missing {ok_line:?} in\n{text}");
        }
    }
    // And it is a real check: another identity is refused.
    let (ok, text) = pypi_attestations_verify(
        &tool,
        &s,
        "https://127.0.0.1/group/other//.gitlab-ci.yml@refs/heads/main",
        &s.dists,
    );
    assert!(!ok, "pypi-attestations accepted a wrong identity:\n{text}");
}

/// The provenance PyPI's Integrity API serves for a file uploaded with `attestations`.
fn provenance_of(attestations: &[Value], repository: &str) -> Value {
    serde_json::json!({
        "version": 1,
        "attestation_bundles": [{
            "publisher": {"kind": "GitLab", "repository": repository, "workflow_filepath": ".gitlab-ci.yml", "environment": null},
            "attestations": attestations,
        }],
    })
}

#[test]
fn consumer_verify_checks_every_file_against_its_provenance() {
    use crate::support::provenance_index::ProvenanceIndex;
    let s = setup(0);
    let built = crate::support::dists::build(s.dir.path(), "demo-pkg", "1.0.0", "VALUE = 1\n");
    let dists = vec![built.wheel.clone(), built.sdist.clone()];
    assert_run(
        &s.attest(
            &dists,
            &["--predicate", "publish", "--predicate", "slsa"],
            true,
        ),
        0,
        &[],
    );
    let index = ProvenanceIndex::start();
    let mut provenance = Vec::new();
    for dist in &dists {
        let name = dist.file_name().unwrap().to_str().unwrap().to_string();
        index.set_file(&name, std::fs::read(dist).unwrap());
        let attestations = [".publish.attestation", ".slsa.attestation"]
            .map(|suffix| read_json(&with_suffix(dist, suffix)));
        let p = provenance_of(&attestations, "group/proj");
        index.set_provenance(&name, Some(p.clone()));
        provenance.push((name, attestations, p));
    }
    let wheel = provenance[0].0.clone();
    let sdist = provenance[1].0.clone();
    let consumer = |project: &str, extra: &[&str]| {
        run(gl_sign()
            .args([
                "consumer-verify",
                "demo-pkg==1.0.0",
                "--provenance",
                // Attested by a branch pipeline; releases need a tag by default.
                "--allow-branch-signatures",
                "--index-url",
            ])
            .arg(format!("{}/simple", index.url))
            .arg("--trusted-root")
            .arg(&s.trust.trusted_root)
            .args([
                "--gitlab-url",
                s.stack.issuer_url(),
                "--gitlab-project",
                project,
            ])
            .args(extra))
    };
    let dest = s.dir.path().join("verified");
    let ok = consumer("group/proj", &["--dest", dest.to_str().unwrap()]);
    assert_run(
        &ok,
        0,
        &[
            &format!("OK {wheel} ({PUBLISH}, {SLSA})"),
            &format!("OK {sdist} ({PUBLISH}, {SLSA})"),
            "all verified with provenance",
        ],
    );
    assert!(dest.join(&wheel).exists() && dest.join(&sdist).exists());

    // The user expects another project: the recorded publisher is not it.
    assert_run(
        &consumer("group/other", &[]),
        1,
        &[&format!("FAILED {wheel}: {wheel} was published by GitLab group/proj (.gitlab-ci.yml), expected GitLab group/other (.gitlab-ci.yml)")],
    );

    // Provenance recorded for another project: refused even though the
    // attestations themselves are genuine.
    index.set_provenance(&wheel, Some(provenance_of(&provenance[0].1, "group/other")));
    assert_run(
        &consumer("group/proj", &[]),
        1,
        &[&format!(
            "FAILED {wheel}: {wheel} was published by GitLab group/other"
        )],
    );

    // The sdist's attestations served for the wheel: they name another file.
    index.set_provenance(&wheel, Some(provenance[1].2.clone()));
    assert_run(
        &consumer("group/proj", &[]),
        1,
        &[&format!(
            "FAILED {wheel}: expected a subject {wheel} (sha256 "
        )],
    );

    // A file without provenance.
    index.set_provenance(&wheel, Some(provenance[0].2.clone()));
    index.set_provenance(&sdist, None);
    let missing = consumer("group/proj", &[]);
    assert_run(
        &missing,
        1,
        &[
            &format!("OK {wheel}"),
            &format!("FAILED {sdist}: "),
            "has no provenance for",
            "hint: the file was uploaded without attestations",
        ],
    );

    // A tampered dist whose index hash was changed to match: the attestation's digest does not.
    index.set_provenance(&sdist, Some(provenance[1].2.clone()));
    let mut bytes = std::fs::read(&built.wheel).unwrap();
    bytes.extend_from_slice(b"tampered");
    index.set_file(&wheel, bytes);
    let tampered = consumer("group/proj", &[]);
    assert_run(
        &tampered,
        1,
        &[
            &format!("FAILED {wheel}: expected a subject {wheel} (sha256 "),
            &format!("OK {sdist}"),
        ],
    );
}

#[test]
fn transient_rekor_failures_are_retried() {
    let s = setup(2);
    s.stack.rekor().fail_next(2, 503);
    let out = s.attest(&s.dists, &[], false);
    assert_run(&out, 0, &[]);
    assert_eq!(s.stack.rekor().injected_faults(), 2);
    for d in &s.dists {
        assert_run(&s.verify(d, &[]), 0, &["OK "]);
    }
}
