//! Issue 9 end to end, with the real binary only: `gl-sign attest` against the
//! local Sigstore (a gitlab.com-shaped token), `gl-sign publish pypi
//! --trusted-publishing always` to the local PyPI (which verifies the
//! attestations with pypi-attestations against the same trust root), then
//! `gl-sign consumer-verify --provenance` on what that index serves: accepted,
//! and refused for a tampered dist and for provenance from another project.
//! The index's provenance links (PEP 740) are followed under the index's
//! rules, with the Integrity API as the fallback when a page gives none.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::pki::GitLabClaims;
use crate::support::pypi::{LocalPypi, ProvenanceLinks, PublisherConfig};
use crate::support::sigstore_stack::{LocalSigstore, TrustFiles};
use crate::support::{assert_run, dists, gl_sign, run, Run};

const PROJECT_PATH: &str = "mygroup/myproj";
const OTHER_PROJECT: &str = "mygroup/evil";
const PACKAGE: &str = "demo-pkg";
const PUBLISH: &str = "https://docs.pypi.org/attestations/publish/v1";
const SLSA: &str = "https://slsa.dev/provenance/v1";

/// The venv with pypi-attestations (the local PyPI's verifier):
/// `$GL_SIGN_PYTHON_BIN` or `.venv/bin`. Outside CI a missing tool skips with
/// a note; in CI it fails.
pub fn python_with_pypi_attestations() -> Option<PathBuf> {
    let bin = std::env::var_os("GL_SIGN_PYTHON_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin"));
    let python = bin.join("python");
    let ok = Command::new(&python)
        .args(["-c", "import pypi_attestations"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "pypi-attestations is required in CI but not in {} (scripts/test installs it)",
            bin.display()
        );
    }
    eprintln!(
        "skipped: pypi-attestations not found in {} (run scripts/test, which installs it)",
        bin.display()
    );
    None
}

/// A tag pipeline of `project` on gitlab.com (the only GitLab issuer PyPI
/// verifies attestations from).
fn job(project: &str, tag: &str) -> GitLabClaims {
    GitLabClaims {
        server_url: "https://gitlab.com".into(),
        project_path: project.into(),
        namespace_path: project.split('/').next().unwrap().into(),
        ..GitLabClaims::example()
    }
    .with_tag(tag)
}

struct World {
    stack: LocalSigstore,
    pypi: LocalPypi,
    trust: TrustFiles,
    dir: tempfile::TempDir,
}

impl World {
    fn start(python: &Path) -> Self {
        let stack = LocalSigstore::start();
        stack.accept_gitlab_com_tokens();
        let pypi = LocalPypi::start("pypi");
        // PyPI's publishers: ours (environment "pypi", as `init --publish-to
        // pypi` writes it) and another project's, both allowed on demo-pkg.
        pypi.add_publisher(PublisherConfig::new(PROJECT_PATH, PACKAGE).environment("pypi"));
        pypi.add_publisher(PublisherConfig::new(OTHER_PROJECT, PACKAGE));
        // One trust root for all: the local Fulcio and Rekor that attest uses.
        pypi.verify_attestations_with(python, &stack.trusted_root_json());
        let dir = tempfile::tempdir().unwrap();
        let trust = stack.write_trust_files(&dir.path().join("trust"));
        World {
            stack,
            pypi,
            trust,
            dir,
        }
    }

    /// `gl-sign attest --predicate publish --predicate slsa` in `job`'s CI.
    fn attest(&self, claims: &GitLabClaims, dists: &[&Path]) -> Run {
        let project = format!("https://gitlab.com/{}", claims.project_path);
        let mut cmd = gl_sign();
        cmd.arg("attest")
            .args(["--predicate", "publish", "--predicate", "slsa"])
            .args(dists)
            .env("SIGSTORE_ID_TOKEN", self.stack.token_for(claims))
            .args(["--fulcio-url", self.stack.fulcio_url()])
            .args(["--rekor-url", self.stack.rekor_url()])
            .arg("--trusted-root")
            .arg(&self.trust.trusted_root);
        for (k, v) in [
            ("GITLAB_CI", "true".to_string()),
            ("CI_SERVER_URL", "https://gitlab.com".into()),
            ("CI_PROJECT_PATH", claims.project_path.clone()),
            ("CI_PROJECT_URL", project.clone()),
            ("CI_COMMIT_SHA", claims.sha.clone()),
            ("CI_COMMIT_REF_NAME", claims.ref_name.clone()),
            ("CI_COMMIT_TAG", claims.ref_name.clone()),
            ("CI_CONFIG_PATH", claims.config_path.clone()),
            ("CI_JOB_NAME", "sign".into()),
            ("CI_JOB_ID", claims.job_id.clone()),
            ("CI_JOB_URL", format!("{project}/-/jobs/{}", claims.job_id)),
            ("CI_JOB_STARTED_AT", "2026-12-01T10:00:00Z".into()),
            ("CI_PIPELINE_ID", "1000".into()),
            ("CI_PIPELINE_URL", format!("{project}/-/pipelines/1000")),
            ("CI_PIPELINE_SOURCE", claims.pipeline_source.clone()),
            ("CI_RUNNER_ID", "1".into()),
            ("CI_RUNNER_DESCRIPTION", "shared-runner".into()),
            ("CI_RUNNER_VERSION", "18.6.0".into()),
            ("CI_RUNNER_EXECUTABLE_ARCH", "linux/amd64".into()),
        ] {
            cmd.env(k, v);
        }
        run(&mut cmd)
    }

    /// `gl-sign publish pypi --trusted-publishing always` with a fresh ID
    /// token (aud pypi) from the local PyPI's gitlab.com issuer.
    fn publish(&self, claims: &GitLabClaims, environment: Option<&str>, dists: &[&Path]) -> Run {
        let token = self.pypi.id_token_for(claims, environment);
        let r = run(gl_sign()
            .env("SSL_CERT_FILE", self.pypi.ca_file())
            .env("PYPI_ID_TOKEN", &token)
            .args([
                "publish",
                "pypi",
                "--repository-url",
                &self.pypi.upload_url(),
            ])
            .args(["--trusted-publishing", "always"])
            .args(dists));
        assert!(!r.all().contains(&token), "the ID token was printed");
        for minted in self.pypi.minted_tokens() {
            assert!(!r.all().contains(&minted), "the PyPI token was printed");
        }
        r
    }

    /// `gl-sign consumer-verify NAME==VERSION --provenance` on the local PyPI.
    fn consumer_verify(&self, release: &str, project: &str, extra: &[&str]) -> Run {
        run(gl_sign()
            .env("SSL_CERT_FILE", self.pypi.ca_file())
            .args(["consumer-verify", release, "--provenance"])
            .args(["--index-url", &self.pypi.simple_url()])
            .arg("--trusted-root")
            .arg(&self.trust.trusted_root)
            .args(["--gitlab-project", project])
            .args(extra))
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_string()
}

#[test]
fn attest_publish_with_trusted_publishing_then_consumer_verify_provenance() {
    let Some(python) = python_with_pypi_attestations() else {
        return;
    };
    let w = World::start(&python);
    let ours = job(PROJECT_PATH, "v1.0.0");
    let built = dists::build(w.dir.path(), PACKAGE, "1.0.0", "VALUE = 1\n");
    let (wheel, sdist) = (built.wheel.as_path(), built.sdist.as_path());
    let (wheel_name, sdist_name) = (file_name(wheel), file_name(sdist));

    // 1. attest: one gitlab.com-shaped certificate, no warning about PyPI.
    let attested = w.attest(&ours, &[wheel, sdist]);
    assert_run(&attested, 0, &["(4 attestations)", &ours.identity()]);
    assert!(
        !attested.all().contains("PyPI will refuse") && !attested.all().contains("warning"),
        "{}",
        attested.all()
    );

    // 2. publish: the token exchange, attestations verified by pypi-attestations at upload.
    let published = w.publish(&ours, Some("pypi"), &[wheel, sdist]);
    assert_run(
        &published,
        0,
        &[
            "trusted publishing: exchanged the GitLab ID token (audience pypi)",
            "uploaded with 2 attestation(s)",
        ],
    );
    let files = w.pypi.files();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let bundle = &f.provenance.as_ref().expect("provenance recorded")["attestation_bundles"][0];
        assert_eq!(bundle["publisher"]["repository"], PROJECT_PATH);
        assert_eq!(bundle["attestations"].as_array().unwrap().len(), 2);
    }

    // 3. consumer-verify: every file, against the project, ref and publisher.
    let release = format!("{PACKAGE}==1.0.0");
    let dest = w.dir.path().join("verified");
    let ok = w.consumer_verify(
        &release,
        PROJECT_PATH,
        &[
            "--gitlab-ref",
            "refs/tags/v1.0.0",
            "--dest",
            dest.to_str().unwrap(),
        ],
    );
    assert_run(
        &ok,
        0,
        &[
            &format!("OK {wheel_name} ({PUBLISH}, {SLSA})"),
            &format!("OK {sdist_name} ({PUBLISH}, {SLSA})"),
            "2 file(s), all verified with provenance",
        ],
    );
    assert_eq!(
        std::fs::read(dest.join(&wheel_name)).unwrap(),
        std::fs::read(wheel).unwrap()
    );
    assert_eq!(
        std::fs::read(dest.join(&sdist_name)).unwrap(),
        std::fs::read(sdist).unwrap()
    );

    // Refused: the user expects another project, or another tag of ours.
    let other = w.consumer_verify(&release, "mygroup/other", &[]);
    assert_run(
        &other,
        1,
        &[
            &format!("FAILED {wheel_name}: {wheel_name} was published by GitLab {PROJECT_PATH} (.gitlab-ci.yml), expected GitLab mygroup/other (.gitlab-ci.yml)"),
            &format!("FAILED {sdist_name}: "),
            "NOT all verified",
        ],
    );
    let other_ref = w.consumer_verify(
        &release,
        PROJECT_PATH,
        &["--gitlab-ref", "refs/tags/v2.0.0"],
    );
    assert_run(
        &other_ref,
        1,
        &[
            &format!("FAILED {wheel_name}: "),
            "refs/tags/v2.0.0",
            "refs/tags/v1.0.0",
        ],
    );

    // Refused: provenance from another project. mygroup/evil is also a
    // publisher of demo-pkg and publishes 1.0.1 with its own genuine attestations.
    let evil = job(OTHER_PROJECT, "v1.0.1");
    let evil_dir = w.dir.path().join("evil");
    std::fs::create_dir_all(&evil_dir).unwrap();
    let evil_built = dists::build(&evil_dir, PACKAGE, "1.0.1", "VALUE = 666\n");
    let evil_wheel = evil_built.wheel.as_path();
    assert_run(&w.attest(&evil, &[evil_wheel]), 0, &["(2 attestations)"]);
    assert_run(
        &w.publish(&evil, None, &[evil_wheel]),
        0,
        &["uploaded with 2 attestation(s)"],
    );
    let evil_name = file_name(evil_wheel);
    let foreign = w.consumer_verify(&format!("{PACKAGE}==1.0.1"), PROJECT_PATH, &[]);
    assert_run(
        &foreign,
        1,
        &[&format!("FAILED {evil_name}: {evil_name} was published by GitLab {OTHER_PROJECT} (.gitlab-ci.yml), expected GitLab {PROJECT_PATH} (.gitlab-ci.yml)")],
    );

    // Refused: a tampered wheel served under the same name, the index's hash
    // changed to match (a compromised mirror); the attestations no longer do.
    let mut tampered = std::fs::read(wheel).unwrap();
    tampered.extend_from_slice(b"tampered");
    let tampered_sha = crate::support::pki::hex(&crate::support::pki::sha256(&tampered));
    let genuine_sha =
        crate::support::pki::hex(&crate::support::pki::sha256(&std::fs::read(wheel).unwrap()));
    w.pypi.replace_file(&wheel_name, tampered);
    let dest2 = w.dir.path().join("verified-2");
    let refused = w.consumer_verify(&release, PROJECT_PATH, &["--dest", dest2.to_str().unwrap()]);
    assert_run(
        &refused,
        1,
        &[
            &format!(
                "FAILED {wheel_name}: expected a subject {wheel_name} (sha256 {tampered_sha})"
            ),
            &genuine_sha,
            &format!("OK {sdist_name}"),
            "NOT all verified",
        ],
    );
    assert!(!dest2.join(&wheel_name).exists(), "a refused file was kept");
}

/// Issue 9: "fetches its provenance (the index's PEP 740 provenance link, else
/// the Integrity API …)". The link is followed wherever it points (JSON and
/// HTML pages, relative links), with the index's credentials only on the
/// index's origin; a link to another file's provenance is refused by the
/// attestations' subject; an unusable link is an error, not a fallback; and
/// without links the Integrity API still serves.
#[test]
fn consumer_verify_follows_the_index_provenance_links() {
    let Some(python) = python_with_pypi_attestations() else {
        return;
    };
    let w = World::start(&python);
    let ours = job(PROJECT_PATH, "v1.0.0");
    let built = dists::build(w.dir.path(), PACKAGE, "1.0.0", "VALUE = 1\n");
    let (wheel, sdist) = (built.wheel.as_path(), built.sdist.as_path());
    let (wheel_name, sdist_name) = (file_name(wheel), file_name(sdist));
    let sha = |p: &Path| {
        crate::support::pki::hex(&crate::support::pki::sha256(&std::fs::read(p).unwrap()))
    };
    assert_run(&w.attest(&ours, &[wheel, sdist]), 0, &["(4 attestations)"]);
    assert_run(
        &w.publish(&ours, Some("pypi"), &[wheel, sdist]),
        0,
        &["uploaded with 2 attestation(s)"],
    );
    let release = format!("{PACKAGE}==1.0.0");
    let index_token = "index-token-never-printed";
    let verify = |extra: &[&str]| {
        let before = w.pypi.requests().len();
        let r = w.consumer_verify(&release, PROJECT_PATH, extra);
        assert!(
            !r.all().contains(index_token),
            "the index token was printed"
        );
        (r, w.pypi.requests()[before..].to_vec())
    };
    let integrity = |f: &str| format!("GET /integrity/{PACKAGE}/1.0.0/{f}/provenance");
    let ok_both = [
        format!("OK {wheel_name} ({PUBLISH}, {SLSA})"),
        format!("OK {sdist_name} ({PUBLISH}, {SLSA})"),
    ];
    let ok_both: Vec<&str> = ok_both.iter().map(String::as_str).collect();

    // The provenance moved to a path only the (relative) links name; the
    // Integrity API has nothing. PEP 691 JSON pages, then PEP 503 HTML.
    w.pypi.set_provenance_links(ProvenanceLinks::Elsewhere);
    for html in [false, true] {
        w.pypi.serve_html_only(html);
        let (r, asked) = verify(&["--token", index_token]);
        assert_run(&r, 0, &ok_both);
        for f in [&wheel_name, &sdist_name] {
            // Same origin as the index: its credentials go along.
            let moved = format!("GET {} (with credentials)", w.pypi.moved_provenance_path(f));
            assert!(
                asked.contains(&moved),
                "html={html}: {moved} not in {asked:?}"
            );
        }
        assert_eq!(
            asked
                .iter()
                .filter(|r| r.starts_with("GET /files/") && r.ends_with(" (with credentials)"))
                .count(),
            2,
            "files on the index's origin get its credentials: {asked:?}"
        );
        assert!(
            !asked.iter().any(|r| r.starts_with("GET /integrity/")),
            "html={html}: a page with links, yet the Integrity API was asked: {asked:?}"
        );
    }
    w.pypi.serve_html_only(false);

    // A link to another origin (localhost is not 127.0.0.1) gets no index
    // credentials, and what it serves still has to verify; the same for
    // files linked on another origin (as PyPI's CDN).
    let other_origin = w.pypi.url().replace("127.0.0.1", "localhost");
    let elsewhere = format!(
        "{other_origin}{}",
        w.pypi.moved_provenance_path(&wheel_name)
    );
    w.pypi.set_provenance_link(&wheel_name, Some(&elsewhere));
    w.pypi.set_files_base(Some(&other_origin));
    let (r, asked) = verify(&["--token", index_token]);
    assert_run(&r, 0, &ok_both);
    let anonymous = format!("GET {}", w.pypi.moved_provenance_path(&wheel_name));
    assert!(
        asked.contains(&anonymous),
        "{anonymous} (without credentials) not in {asked:?}"
    );
    let downloads: Vec<&String> = asked
        .iter()
        .filter(|r| r.starts_with("GET /files/"))
        .collect();
    assert!(
        downloads.len() == 2
            && downloads
                .iter()
                .all(|r| !r.ends_with(" (with credentials)")),
        "files on another origin fetched with the index's credentials: {downloads:?}"
    );
    w.pypi.set_files_base(None);

    // warehouse-shaped links again, but the wheel's names the sdist's
    // provenance: genuine attestations of our project, about another file.
    w.pypi.set_provenance_links(ProvenanceLinks::Integrity);
    w.pypi
        .set_provenance_link(&wheel_name, Some(&w.pypi.integrity_link(&sdist_name)));
    let (r, asked) = verify(&[]);
    assert_run(
        &r,
        1,
        &[
            &format!(
                "FAILED {wheel_name}: expected a subject {wheel_name} (sha256 {}), found {sdist_name} (sha256 {})",
                sha(wheel),
                sha(sdist)
            ),
            &format!("OK {sdist_name}"),
            "NOT all verified",
        ],
    );
    assert!(!asked.contains(&integrity(&wheel_name)), "{asked:?}");

    // Unusable links: an error (exit 2) saying what was expected and what the
    // page gave, and no quiet fallback to the Integrity API.
    let with_userinfo = format!(
        "{}{}",
        w.pypi.url().replace("https://", "https://__token__:pw@"),
        w.pypi.moved_provenance_path(&wheel_name)
    );
    for (link, expected, found) in [
        (
            "http://pypi.example.test/integrity/x/provenance",
            "expected an https URL (plain http only to a loopback address)",
            "found http://pypi.example.test/integrity/x/provenance".to_string(),
        ),
        (
            with_userinfo.as_str(),
            "expected a URL without a user name or password",
            "found one with them (https://127.0.0.1".to_string(),
        ),
        (
            "https://[::1",
            "expected a URL (absolute, or relative to the index page)",
            r#"found "https://[::1" ("#.to_string(),
        ),
    ] {
        w.pypi.set_provenance_link(&wheel_name, Some(link));
        let (r, asked) = verify(&[]);
        assert_run(
            &r,
            2,
            &[
                &format!("FAILED {wheel_name}: the index's provenance link for {wheel_name} cannot be used: {expected}, {found}"),
                &format!("OK {sdist_name}"),
                "could not be checked",
            ],
        );
        assert!(
            !r.all().contains(":pw@"),
            "a password in a link was printed"
        );
        assert!(
            !asked.contains(&integrity(&wheel_name)),
            "fell back to the Integrity API for {link}: {asked:?}"
        );
    }

    // A page without links: the Integrity API on the index host.
    w.pypi.set_provenance_link(&wheel_name, None);
    w.pypi.set_provenance_links(ProvenanceLinks::Absent);
    let (r, asked) = verify(&[]);
    assert_run(&r, 0, &ok_both);
    for f in [&wheel_name, &sdist_name] {
        assert!(asked.contains(&integrity(f)), "{asked:?}");
    }
}
