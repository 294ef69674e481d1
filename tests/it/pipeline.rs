//! The whole release flow against the local Sigstore and the local GitLab:
//! sign → publish pypi → publish generic → consumer-verify, then everything a
//! consumer must refuse, re-runs after failures, and bad credentials.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::dists::{self, Built};
use crate::support::gitlab_registry::{endpoint, AuthScheme, LocalGitLab, Role, TokenKind};
use crate::support::sigstore_stack::{LocalSigstore, TrustFiles};
use crate::support::{
    assert_live_snapshot, assert_run, gl_sign, run, with_suffix, Run, RunSnapshot,
};

const NAME: &str = "gl-sign-demo";
const VERSION: &str = "1.2.3";

struct Release {
    sigstore: LocalSigstore,
    gitlab: LocalGitLab,
    dir: tempfile::TempDir,
    trust: TrustFiles,
    built: Built,
}

impl Release {
    fn new() -> Release {
        let sigstore = LocalSigstore::start();
        let gitlab = LocalGitLab::start();
        let dir = tempfile::tempdir().unwrap();
        let trust = sigstore.write_trust_files(dir.path());
        let dist_dir = dir.path().join("dist");
        std::fs::create_dir(&dist_dir).unwrap();
        let built = dists::build(&dist_dir, NAME, VERSION, &"VALUE = 1\n".repeat(200));
        Release {
            sigstore,
            gitlab,
            dir,
            trust,
            built,
        }
    }

    fn dists(&self) -> Vec<PathBuf> {
        vec![self.built.wheel.clone(), self.built.sdist.clone()]
    }

    fn signatures(&self) -> Vec<PathBuf> {
        self.dists()
            .iter()
            .flat_map(|d| [".sig", ".crt", ".sigstore.json"].map(|s| with_suffix(d, s)))
            .collect()
    }

    /// gl-sign as a job of project `project` of the local GitLab would run it,
    /// with that project's own job token.
    fn in_job(&self, project: u64) -> Command {
        let token = if project == self.gitlab.project_id() {
            self.gitlab.job_token()
        } else {
            self.gitlab
                .add_token(TokenKind::Job, project, Role::Developer)
        };
        let mut cmd = gl_sign();
        cmd.env("GITLAB_CI", "true")
            .env("CI_API_V4_URL", self.gitlab.api_url())
            .env("CI_PROJECT_ID", project.to_string())
            .env("CI_PROJECT_NAME", NAME)
            .env("CI_JOB_TOKEN", token);
        cmd
    }

    fn sign(&self) {
        let result = run(gl_sign()
            .arg("sign-blob")
            .args(self.dists())
            .env("SIGSTORE_ID_TOKEN", self.sigstore.token())
            .args([
                "--fulcio-url",
                self.sigstore.fulcio_url(),
                "--rekor-url",
                self.sigstore.rekor_url(),
            ])
            .arg("--trusted-root")
            .arg(&self.trust.trusted_root));
        assert_run(&result, 0, &[]);
    }

    /// publish pypi, then publish generic; both must upload. Returns both runs.
    fn publish(&self, project: u64) -> (Run, Run) {
        let pypi = run(self
            .in_job(project)
            .args(["publish", "pypi"])
            .args(self.dists()));
        assert_run(&pypi, 0, &["uploaded"]);
        let generic = run(self
            .in_job(project)
            .args(["publish", "generic"])
            .args(self.signatures()));
        assert_run(&generic, 0, &["uploaded"]);
        (pypi, generic)
    }

    fn consumer_verify(&self, project: u64, extra: &[&str]) -> Run {
        let issuer = self.sigstore.issuer_url().to_string();
        run(self
            .in_job(project)
            .args(["consumer-verify", &format!("{NAME}=={VERSION}")])
            .arg("--trusted-root")
            .arg(&self.trust.trusted_root)
            .args([
                "--gitlab-url",
                &issuer,
                "--gitlab-project",
                "group/proj",
                "--gitlab-ref",
                "refs/heads/main",
            ])
            .args(extra))
    }
}

/// A `publish generic` run of this run's signatures, snapshotted: they are
/// new every run, so their sizes and digests are filtered.
#[track_caller]
fn assert_signatures_snapshot(name: &str, run: &Run) {
    RunSnapshot::live()
        .filter(r"\b\d+(\.\d)? (B|KiB)\b", "[SIZE]")
        .filter(r"\b[0-9a-f]{16}\b", "[SHA256]")
        .assert(name, run);
}

#[test]
fn sign_publish_and_verify_as_a_consumer() {
    let r = Release::new();
    let project = r.gitlab.project_id();
    r.sign();
    let (pypi, generic) = r.publish(project);
    assert_live_snapshot("run-publish-pypi-ok", &pypi);
    // The signatures are new each run: their digests and sizes vary.
    assert_signatures_snapshot("run-publish-generic-ok", &generic);

    // PyPI routes saw HTTP Basic gitlab-ci-token, the generic registry JOB-TOKEN.
    for auth in r.gitlab.auth_used(endpoint::PYPI_UPLOAD) {
        assert_eq!(
            auth,
            vec![AuthScheme::Basic {
                username: "gitlab-ci-token".into()
            }]
        );
    }
    assert!(r
        .gitlab
        .auth_used(endpoint::GENERIC_UPLOAD)
        .iter()
        .all(|a| a == &vec![AuthScheme::JobTokenHeader]));
    for file in r.dists() {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(r.gitlab.upload_count(name), 1);
        assert_eq!(
            r.gitlab.sha256_of(name).unwrap(),
            crate::support::pki::hex(&crate::support::pki::sha256(&std::fs::read(&file).unwrap()))
        );
    }

    let dest = r.dir.path().join("verified");
    let result = r.consumer_verify(project, &["--dest", dest.to_str().unwrap()]);
    assert_run(&result, 0, &["all verified"]);
    assert_live_snapshot("run-consumer-verify-ok", &result);
    assert_eq!(
        result
            .stdout
            .lines()
            .filter(|l| l.starts_with("OK "))
            .count(),
        2,
        "{}",
        result.stdout
    );
    for file in r.dists() {
        let kept = dest.join(file.file_name().unwrap());
        assert_eq!(std::fs::read(kept).unwrap(), std::fs::read(&file).unwrap());
    }
    // Detached .sig/.crt alone (bundles removed from the registry's view): looked up in Rekor.
    let other = r.gitlab.add_project("group/detached");
    assert_run(
        &run(r.in_job(other).args(["publish", "pypi"]).args(r.dists())),
        0,
        &[],
    );
    let detached: Vec<PathBuf> = r
        .signatures()
        .into_iter()
        .filter(|p| !p.to_str().unwrap().ends_with(".sigstore.json"))
        .collect();
    assert_run(
        &run(r.in_job(other).args(["publish", "generic"]).args(&detached)),
        0,
        &[],
    );
    let result = r.consumer_verify(other, &["--output", "json"]);
    assert_run(&result, 0, &["\"evidence\": \"detached+rekor\""]);
}

#[test]
fn consumer_verify_refuses_what_it_must() {
    let r = Release::new();
    r.sign();
    let wheel_name = r
        .built
        .wheel
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    // A swapped wheel: the index lists (and hashes) other bytes than were signed.
    let swapped = r.gitlab.add_project("group/swapped");
    let evil_dir = r.dir.path().join("evil");
    std::fs::create_dir(&evil_dir).unwrap();
    let evil = dists::build(
        &evil_dir,
        NAME,
        VERSION,
        "import os  # not what was signed\n",
    );
    r.gitlab.seed_pypi_file(
        swapped,
        NAME,
        VERSION,
        &wheel_name,
        &std::fs::read(&evil.wheel).unwrap(),
        ">=3.8",
        None,
    );
    r.gitlab.seed_pypi_file(
        swapped,
        NAME,
        VERSION,
        r.built.sdist.file_name().unwrap().to_str().unwrap(),
        &std::fs::read(&r.built.sdist).unwrap(),
        ">=3.8",
        None,
    );
    assert_run(
        &run(r
            .in_job(swapped)
            .args(["publish", "generic"])
            .args(r.signatures())),
        0,
        &[],
    );
    let result = r.consumer_verify(swapped, &[]);
    assert_run(
        &result,
        1,
        &[
            &format!("FAILED {wheel_name}"),
            "expected sha256",
            "NOT all verified",
        ],
    );
    assert_live_snapshot("run-consumer-verify-swapped-wheel", &result);

    // The index claims a hash the served file does not have.
    let lying = r.gitlab.add_project("group/lying");
    r.gitlab.seed_pypi_file(
        lying,
        NAME,
        VERSION,
        &wheel_name,
        &std::fs::read(&r.built.wheel).unwrap(),
        ">=3.8",
        Some(&"ab".repeat(32)),
    );
    assert_run(
        &run(r
            .in_job(lying)
            .args(["publish", "generic"])
            .args(r.signatures())),
        0,
        &[],
    );
    let result = r.consumer_verify(lying, &[]);
    assert_run(
        &result,
        1,
        &[&format!(
            "expected sha256 {} (from the index)",
            "ab".repeat(32)
        )],
    );

    // Published properly, but the verifier expects another signer.
    let project = r.gitlab.project_id();
    r.publish(project);
    let issuer = r.sigstore.issuer_url().to_string();
    let other_signer = run(r
        .in_job(project)
        .args(["consumer-verify", &format!("{NAME}=={VERSION}")])
        .arg("--trusted-root")
        .arg(&r.trust.trusted_root)
        .args([
            "--gitlab-url",
            &issuer,
            "--gitlab-project",
            "group/other-project",
        ]));
    assert_run(
        &other_signer,
        1,
        &[
            "expected identity matching https://127.0.0.1",
            "group/other-project",
            "certificate has",
        ],
    );
    assert_live_snapshot("run-consumer-verify-another-signer", &other_signer);

    // A release whose signatures were never published.
    let unsigned = r.gitlab.add_project("group/unsigned");
    assert_run(
        &run(r.in_job(unsigned).args(["publish", "pypi"]).args(r.dists())),
        0,
        &[],
    );
    let result = r.consumer_verify(unsigned, &[]);
    assert_run(
        &result,
        1,
        &[
            "no signature for",
            "hint: the release was published without its signatures",
        ],
    );

    // A version that is not there at all.
    let missing = run(r
        .in_job(project)
        .args([
            "consumer-verify",
            &format!("{NAME}==9.9.9"),
            "--gitlab-project",
            "group/proj",
        ])
        .arg("--trusted-root")
        .arg(&r.trust.trusted_root));
    assert_run(&missing, 1, &["lists no files for gl-sign-demo==9.9.9"]);
}

#[test]
fn publish_reruns_after_failures_end_with_each_file_once() {
    let r = Release::new();
    let project = r.gitlab.project_id();
    r.sign();
    let wheel_name = r
        .built
        .wheel
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    // The wheel's upload is stored but its answer is lost: the retry gets
    // "already been taken", which the index confirms as the same file.
    r.gitlab
        .drop_after_handling_next_on(endpoint::PYPI_UPLOAD, 1);
    let first = run(r.in_job(project).args(["publish", "pypi"]).args(r.dists()));
    assert_run(
        &first,
        0,
        &["exists (same sha256 on the index)", "uploaded"],
    );
    assert_eq!(r.gitlab.upload_count(&wheel_name), 1);

    // The registry fails for good: exit 2; then a plain re-run completes.
    let again = r.gitlab.add_project("group/again");
    r.gitlab.fail_next_on(endpoint::PYPI_UPLOAD, 100, 503);
    let failed = run(r.in_job(again).args(["publish", "pypi"]).args(r.dists()));
    assert_run(&failed, 2, &["503"]);
    r.gitlab.clear_faults();
    let rerun = run(r
        .in_job(again)
        .args(["publish", "pypi", "--skip-existing"])
        .args(r.dists()));
    assert_run(&rerun, 0, &[]);
    let rerun2 = run(r
        .in_job(again)
        .args(["publish", "pypi", "--skip-existing"])
        .args(r.dists()));
    assert_run(&rerun2, 0, &["skipped"]);
    assert_live_snapshot("run-publish-pypi-rerun-skips", &rerun2);
    let stored: Vec<_> = r
        .gitlab
        .stored_files(again)
        .into_iter()
        .filter(|f| f.file_name == wheel_name)
        .collect();
    assert_eq!(stored.len(), 1, "uploaded exactly once");

    // Generic: a dropped connection mid-way, then a re-run; each file once, hashes right.
    r.gitlab
        .drop_after_handling_next_on(endpoint::GENERIC_UPLOAD, 1);
    assert_run(
        &run(r
            .in_job(project)
            .args(["publish", "generic"])
            .args(r.signatures())),
        0,
        &[],
    );
    let rerun = run(r
        .in_job(project)
        .args(["publish", "generic"])
        .args(r.signatures()));
    assert_run(&rerun, 0, &["skipped"]);
    assert_signatures_snapshot("run-publish-generic-rerun-skips", &rerun);
    for file in r.signatures() {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(r.gitlab.upload_count(name), 1, "{name}");
    }

    // A different file under a published name is an error, not an overwrite.
    let other_dir = r.dir.path().join("rebuilt");
    std::fs::create_dir(&other_dir).unwrap();
    let rebuilt = dists::build(&other_dir, NAME, VERSION, "VALUE = 2\n");
    let changed = run(r
        .in_job(project)
        .args(["publish", "pypi", "--skip-existing"])
        .arg(&rebuilt.wheel));
    assert_run(
        &changed,
        2,
        &[
            "already on",
            "but the local file has",
            "hint: a published file cannot be replaced",
        ],
    );
    // Without --skip-existing the duplicate answer is checked against the index too.
    let changed = run(r
        .in_job(project)
        .args(["publish", "pypi"])
        .arg(&rebuilt.wheel));
    assert_run(&changed, 2, &["already on", "but the local file has"]);
}

#[test]
fn bad_credentials_name_the_kind_never_the_value() {
    let r = Release::new();
    let project = r.gitlab.project_id();
    let secret = "glpat-this-is-not-valid-0123";
    let result = run(r
        .in_job(project)
        .env("CI_JOB_TOKEN", secret)
        .args(["publish", "pypi"])
        .arg(&r.built.wheel));
    assert_run(
        &result,
        2,
        &["refused the CI job token (CI_JOB_TOKEN) (401)"],
    );
    assert_live_snapshot("run-publish-pypi-bad-job-token", &result);
    assert!(!result.all().contains(secret));
    let result = run(gl_sign()
        .args([
            "publish",
            "pypi",
            "--repository-url",
            &r.gitlab.pypi_url(project),
            "--token",
            secret,
        ])
        .arg(&r.built.wheel));
    assert_run(
        &result,
        2,
        &["refused the access token (--token / GL_SIGN_TOKEN) (401)"],
    );
    assert_live_snapshot("run-publish-pypi-bad-token", &result);
    assert!(!result.all().contains(secret));
    let result = run(gl_sign()
        .args([
            "publish",
            "generic",
            "--url",
            &r.gitlab.generic_url(project),
            "--package",
            "x",
            "--package-version",
            "1.0",
        ])
        .env("GL_SIGN_USERNAME", "someone")
        .env("GL_SIGN_PASSWORD", secret)
        .arg(&r.built.wheel));
    assert_run(
        &result,
        2,
        &["refused username someone with --password / GL_SIGN_PASSWORD (401)"],
    );
    assert_live_snapshot("run-publish-generic-bad-password", &result);
    assert!(!result.all().contains(secret));
    // No credentials over plain http to a non-loopback host.
    let result = run(gl_sign()
        .args([
            "publish",
            "pypi",
            "--repository-url",
            "http://gitlab.invalid/api/v4/projects/1/packages/pypi",
            "--token",
            secret,
        ])
        .arg(&r.built.wheel));
    assert_run(
        &result,
        2,
        &["refusing to send the access token", "over plain http"],
    );
    assert_live_snapshot("run-publish-pypi-token-over-plain-http", &result);
}

#[test]
fn pip_downloads_what_gl_sign_published() {
    let Some(bin) = crate::support::python_tool("pip") else {
        return;
    };
    let r = Release::new();
    let project = r.gitlab.project_id();
    assert_run(
        &run(r.in_job(project).args(["publish", "pypi"]).args(r.dists())),
        0,
        &[],
    );
    let out = r.dir.path().join("downloaded");
    let index =
        r.gitlab
            .simple_url_with_credentials(project, "gitlab-ci-token", &r.gitlab.job_token());
    let pip = Command::new(bin.join("pip"))
        .args([
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--index-url",
            &index,
            "-d",
        ])
        .arg(&out)
        .arg(format!("{NAME}=={VERSION}"))
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "pip download failed:\n{}",
        String::from_utf8_lossy(&pip.stderr)
    );
    let wheel = out.join(r.built.wheel.file_name().unwrap());
    assert_eq!(
        std::fs::read(wheel).unwrap(),
        std::fs::read(&r.built.wheel).unwrap()
    );
}

impl Release {
    fn sign_as(&self, token: &str) {
        let result = run(gl_sign()
            .arg("sign-blob")
            .args(self.dists())
            .env("SIGSTORE_ID_TOKEN", token)
            .args([
                "--fulcio-url",
                self.sigstore.fulcio_url(),
                "--rekor-url",
                self.sigstore.rekor_url(),
            ])
            .arg("--trusted-root")
            .arg(&self.trust.trusted_root));
        assert_run(&result, 0, &[]);
    }

    /// consumer-verify `requirement` as an outside user: `--gitlab-project`
    /// with whatever else `extra` says.
    fn consumer_verify_release(&self, project: u64, requirement: &str, extra: &[&str]) -> Run {
        let issuer = self.sigstore.issuer_url().to_string();
        run(self
            .in_job(project)
            .args(["consumer-verify", requirement])
            .arg("--trusted-root")
            .arg(&self.trust.trusted_root)
            .args(["--gitlab-url", &issuer, "--gitlab-project", "group/proj"])
            .args(extra))
    }
}

/// Issue 8, hole 1: a signed 1.2.3 wheel served as 2.0.0, with its genuine
/// bundle, must not verify as 2.0.0 even when the signer's ref is pinned.
#[test]
fn consumer_verify_refuses_another_release_under_this_ones_name() {
    let r = Release::new();
    r.sign();
    let subst = r.gitlab.add_project("group/subst");
    let wheel = std::fs::read(&r.built.wheel).unwrap();
    let bundle = std::fs::read(with_suffix(&r.built.wheel, ".sigstore.json")).unwrap();
    let renamed = "gl_sign_demo-2.0.0-py3-none-any.whl";
    r.gitlab
        .seed_pypi_file(subst, NAME, "2.0.0", renamed, &wheel, ">=3.8", None);
    r.gitlab.seed_generic_file(
        subst,
        NAME,
        "2.0.0",
        &format!("{renamed}.sigstore.json"),
        &bundle,
    );
    let result = r.consumer_verify_release(
        subst,
        &format!("{NAME}==2.0.0"),
        &["--gitlab-ref", "refs/heads/main"],
    );
    assert_run(
        &result,
        1,
        &[
            &format!("FAILED {renamed}"),
            &format!("is not {NAME}==2.0.0: its own metadata (wheel METADATA) says {NAME}==1.2.3"),
            "NOT all verified",
        ],
    );
}

/// Issue 8, hole 1: an index file name is never used as a path unchecked.
#[test]
fn consumer_verify_refuses_index_file_names_that_are_paths() {
    let r = Release::new();
    r.sign();
    let wheel = std::fs::read(&r.built.wheel).unwrap();
    let name = r
        .built
        .wheel
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for (evil, why) in [
        (format!("../{name}"), "contains a path separator"),
        (format!(".{name}"), "starts with a dot"),
    ] {
        let project = r.gitlab.add_project(&format!("group/p{}", evil.len()));
        r.gitlab
            .seed_pypi_file(project, NAME, VERSION, &evil, &wheel, ">=3.8", None);
        let dest = r.dir.path().join(format!("dest{}", evil.len()));
        let result = r.consumer_verify(project, &["--dest", dest.to_str().unwrap()]);
        assert_run(&result, 1, &["which is not a safe file name", why]);
        assert!(!r.dir.path().join(&name).exists());
    }
}

/// Issue 8, hole 2: without --gitlab-ref, a release verifies only when a tag
/// pipeline signed it, and the verdict names the ref.
#[test]
fn consumer_verify_requires_a_tag_pipeline_by_default() {
    let r = Release::new();
    let project = r.gitlab.project_id();
    r.sign(); // a branch pipeline on main
    r.publish(project);
    let requirement = format!("{NAME}=={VERSION}");
    let result = r.consumer_verify_release(project, &requirement, &[]);
    assert_run(
        &result,
        1,
        &[
            "refs/tags/* (a tag pipeline)",
            "certificate has https://127.0.0.1",
            "@refs/heads/main",
            "hint: a release must be signed by a tag pipeline",
        ],
    );
    assert_live_snapshot("run-consumer-verify-branch-signature", &result);
    let result = r.consumer_verify_release(project, &requirement, &["--allow-branch-signatures"]);
    assert_run(&result, 0, &["(ref refs/heads/main)", "all verified"]);

    let tagged = Release::new();
    let claims = tagged.sigstore.gitlab_claims().with_tag("v1.2.3");
    tagged.sign_as(&tagged.sigstore.token_for(&claims));
    let project = tagged.gitlab.project_id();
    tagged.publish(project);
    let result = tagged.consumer_verify_release(project, &requirement, &[]);
    assert_run(&result, 0, &["(ref refs/tags/v1.2.3)", "all verified"]);
    // A pinned one-character tag is a valid ref (it was refused before).
    let result =
        tagged.consumer_verify_release(project, &requirement, &["--gitlab-ref", "refs/tags/v"]);
    assert_run(&result, 1, &["@refs/tags/v,", "certificate has"]);
}

/// `--output json` on sign-blob and both publish targets: one document on
/// stdout each, that a pipeline can keep as an artifact; in GitLab CI the
/// uploads are a collapsed log section.
#[test]
fn signing_and_publishing_keep_json_records() {
    let r = Release::new();
    let signed = run(gl_sign()
        .arg("sign-blob")
        .args(r.dists())
        .args(["--output", "json"])
        .env("SIGSTORE_ID_TOKEN", r.sigstore.token())
        .args([
            "--fulcio-url",
            r.sigstore.fulcio_url(),
            "--rekor-url",
            r.sigstore.rekor_url(),
        ])
        .arg("--trusted-root")
        .arg(&r.trust.trusted_root));
    assert_run(&signed, 0, &[]);
    let doc: serde_json::Value = serde_json::from_str(&signed.stdout).expect("one JSON document");
    assert_eq!(
        doc["identity"],
        r.sigstore
            .identity_for(&r.sigstore.gitlab_claims())
            .as_str()
    );
    assert_eq!(doc["signed"], 2);
    for (entry, dist) in doc["files"].as_array().unwrap().iter().zip(r.dists()) {
        assert_eq!(entry["file"], dist.display().to_string().as_str());
        let bytes = std::fs::read(&dist).unwrap();
        assert_eq!(
            entry["sha256"],
            hex::encode(crate::support::pki::sha256(&bytes)).as_str()
        );
        assert!(entry["log_index"].is_u64(), "{entry}");
        assert!(Path::new(entry["bundle"].as_str().unwrap()).is_file());
    }

    let project = r.gitlab.project_id();
    let pypi = run(r
        .in_job(project)
        .args(["publish", "pypi", "--output", "json"])
        .args(r.dists()));
    assert_run(&pypi, 0, &[]);
    let doc: serde_json::Value = serde_json::from_str(&pypi.stdout).expect("one JSON document");
    assert_eq!(
        (doc["registry"].as_str(), doc["ok"].as_bool()),
        (Some("pypi"), Some(true))
    );
    assert_eq!(doc["files"].as_array().unwrap().len(), 2);
    assert!(doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["result"] == "uploaded"));
    // The uploads were a section; it ended before the command did.
    let start = pypi.stderr.find("section_start:").expect("section");
    let end = pypi.stderr.find("section_end:").expect("section end");
    assert!(start < end && pypi.stderr[start..].contains("uploading 2 file(s) to "));

    let generic = run(r
        .in_job(project)
        .args(["publish", "generic", "--output", "json"])
        .args(r.signatures()));
    assert_run(&generic, 0, &[]);
    let doc: serde_json::Value = serde_json::from_str(&generic.stdout).expect("one JSON document");
    assert_eq!(doc["registry"], "generic");
    assert!(doc["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/{NAME}/{VERSION}")));
    assert_eq!(doc["files"].as_array().unwrap().len(), 6);
    // A failed upload is in the record too, with ok false, and exits 2.
    let bad = run(r
        .in_job(project)
        .args(["publish", "pypi", "--output", "json", "--repository-url"])
        .arg(format!("{}/nope", r.gitlab.pypi_url(project)))
        .args(r.dists()));
    assert_eq!(bad.code, 2, "{}{}", bad.stdout, bad.stderr);
    let doc: serde_json::Value = serde_json::from_str(&bad.stdout).expect("one JSON document");
    assert_eq!(doc["ok"], false);
    assert!(doc["files"][0]["result"]
        .as_str()
        .unwrap()
        .starts_with("FAILED"));
}
