//! `gl-sign publish pypi` with trusted publishing against the local PyPI
//! (tests/support/pypi.rs): the token exchange, attestations verified by
//! pypi-attestations at upload, refusals, re-runs, and twine/uv agreeing.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::pki::{GitLabClaims, TestSigstore};
use crate::support::pypi::{attestation, LocalPypi, PublisherConfig, PUBLISH_V1, SLSA_V1};
use crate::support::{assert_run, dists, gl_sign, run, Run};

const PROJECT_PATH: &str = "mygroup/myproj";
const PACKAGE: &str = "demo-pkg";

/// The job that publishes: a tag pipeline of mygroup/myproj on gitlab.com.
fn job() -> GitLabClaims {
    GitLabClaims {
        server_url: "https://gitlab.com".into(),
        project_path: PROJECT_PATH.into(),
        namespace_path: "mygroup".into(),
        ..GitLabClaims::example()
    }
    .with_tag("v1.0.0")
}

/// The venv's python if it has pypi-attestations: `$GL_SIGN_PYTHON_BIN` or
/// `.venv/bin`. Outside CI a missing tool skips with a note; in CI it fails.
fn venv_with(module: &str, tool: &str) -> Option<PathBuf> {
    let bin = std::env::var_os("GL_SIGN_PYTHON_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin"));
    let ok = bin.join(tool).exists()
        && Command::new(bin.join("python"))
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
    if ok {
        return Some(bin);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{module} and {tool} are required in CI but not in {} (scripts/test installs them)",
            bin.display()
        );
    }
    eprintln!(
        "skipped: {module}/{tool} not found in {} (run scripts/test, which installs them)",
        bin.display()
    );
    None
}

struct Fixture {
    pypi: LocalPypi,
    pki: TestSigstore,
    dir: tempfile::TempDir,
    wheel: PathBuf,
    sdist: PathBuf,
}

fn fixture(publisher: PublisherConfig) -> Fixture {
    let pypi = LocalPypi::start("pypi");
    pypi.add_publisher(publisher);
    let dir = tempfile::tempdir().unwrap();
    let built = dists::build(dir.path(), PACKAGE, "1.0.0", "VALUE = 1\n");
    Fixture {
        pypi,
        pki: TestSigstore::new(),
        dir,
        wheel: built.wheel,
        sdist: built.sdist,
    }
}

impl Fixture {
    /// Write `DIST.<kind>.attestation` for `claims`, like `gl-sign attest`.
    fn attest(&mut self, dist: &Path, claims: &GitLabClaims, predicate: &str, kind: &str) {
        let name = dist.file_name().unwrap().to_str().unwrap().to_string();
        let sha =
            crate::support::pki::hex(&crate::support::pki::sha256(&std::fs::read(dist).unwrap()));
        let att = attestation(&mut self.pki, claims, &name, &sha, predicate);
        std::fs::write(
            dist.with_file_name(format!("{name}.{kind}.attestation")),
            serde_json::to_vec_pretty(&att).unwrap(),
        )
        .unwrap();
    }

    fn verify_with_pypi_attestations(&self, bin: &Path) {
        self.pypi
            .verify_attestations_with(&bin.join("python"), &self.pki.trusted_root_json());
    }

    fn publish(&self, token: &str, extra: &[&str], files: &[&Path]) -> Run {
        let mut cmd = gl_sign();
        cmd.env("SSL_CERT_FILE", self.pypi.ca_file())
            .env("PYPI_ID_TOKEN", token)
            .args([
                "publish",
                "pypi",
                "--repository-url",
                &self.pypi.upload_url(),
            ])
            .args(extra)
            .args(files);
        let r = run(&mut cmd);
        assert!(
            !r.all().contains(token),
            "the ID token was printed:\n{}",
            r.all()
        );
        for minted in self.pypi.minted_tokens() {
            assert!(!r.all().contains(&minted), "the PyPI token was printed");
        }
        r
    }
}

/// GET `path` on the local PyPI (trusting its test CA): status and JSON body.
fn get_json(pypi: &LocalPypi, path: &str, accept: &str) -> (u16, Value) {
    let (rt, client) = https_client(pypi);
    rt.block_on(async {
        let r = client
            .get(format!("{}{path}", pypi.url()))
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    })
}

fn https_client(pypi: &LocalPypi) -> (tokio::runtime::Runtime, reqwest::Client) {
    let cert = reqwest::Certificate::from_pem(&std::fs::read(pypi.ca_file()).unwrap()).unwrap();
    (
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        reqwest::Client::builder()
            .tls_certs_only([cert])
            .build()
            .unwrap(),
    )
}

#[test]
fn publishes_with_trusted_publishing_and_attestations_then_reruns_as_a_no_op() {
    let Some(bin) = venv_with("pypi_attestations", "python") else {
        return;
    };
    let mut f = fixture(PublisherConfig::new(PROJECT_PATH, PACKAGE).environment("pypi"));
    f.verify_with_pypi_attestations(&bin);
    let (wheel, sdist) = (f.wheel.clone(), f.sdist.clone());
    f.attest(&wheel, &job(), PUBLISH_V1, "publish");
    f.attest(&wheel, &job(), SLSA_V1, "slsa");
    f.attest(&sdist, &job(), PUBLISH_V1, "publish");
    let token = f.pypi.id_token_for(&job(), Some("pypi"));
    // auto: no credentials and $PYPI_ID_TOKEN (the audience the index names).
    let r = f.publish(&token, &[], &[&wheel, &sdist]);
    assert_run(
        &r,
        0,
        &[
            "trusted publishing: exchanged the GitLab ID token (audience pypi)",
            "uploaded with 2 attestation(s)",
            "uploaded with 1 attestation(s)",
        ],
    );
    assert_eq!(f.pypi.count("GET /_/oidc/audience"), 1);
    assert_eq!(
        f.pypi.count("POST /_/oidc/mint-token"),
        1,
        "one mint per run"
    );
    let files = f.pypi.files();
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f.provenance.is_some()));

    // The Integrity API and both simple index forms point at the provenance.
    let wheel_name = wheel.file_name().unwrap().to_str().unwrap();
    let path = format!("/integrity/{PACKAGE}/1.0.0/{wheel_name}/provenance");
    let (status, prov) = get_json(&f.pypi, &path, "application/vnd.pypi.integrity.v1+json");
    assert_eq!(status, 200);
    assert_eq!(
        prov["attestation_bundles"][0]["publisher"]["repository"],
        PROJECT_PATH
    );
    assert_eq!(
        prov["attestation_bundles"][0]["attestations"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (_, simple) = get_json(
        &f.pypi,
        &format!("/simple/{PACKAGE}/"),
        "application/vnd.pypi.simple.v1+json",
    );
    assert!(simple["files"][0]["provenance"]
        .as_str()
        .unwrap()
        .ends_with("/provenance"));

    // A re-run of the job (fresh ID token): the same files are a no-op.
    let uploads = f.pypi.count("POST /legacy/");
    let again = f.pypi.id_token_for(&job(), Some("pypi"));
    let r = f.publish(&again, &[], &[&wheel, &sdist]);
    assert_run(&r, 0, &["skipped (already on the index, same sha256)"]);
    assert_eq!(f.pypi.count("POST /legacy/"), uploads, "nothing re-sent");
}

#[test]
fn a_refused_exchange_prints_claims_and_publisher_settings_never_the_token() {
    // PyPI knows mygroup/other; the job is mygroup/myproj.
    let f = fixture(PublisherConfig::new("mygroup/other", PACKAGE));
    let token = f.pypi.id_token_for(&job(), Some("pypi"));
    let r = f.publish(&token, &["--trusted-publishing", "always"], &[&f.wheel]);
    assert_run(
        &r,
        2,
        &[
            "refused the token exchange (422): invalid-publisher: valid token, but no corresponding publisher (Publisher with matching claims was not found)",
            "sub: project_path:mygroup/myproj:ref_type:tag:ref:v1.0.0",
            "project_path: mygroup/myproj",
            "ci_config_ref_uri: gitlab.com/mygroup/myproj//.gitlab-ci.yml@refs/tags/v1.0.0",
            "environment: pypi",
            "ref_path: refs/tags/v1.0.0",
            "sha: eafa0a6820b778736cffdf6c70448b5647855352",
            "Namespace:                     mygroup",
            "Project name:                  myproj",
            "Top-level pipeline file path:  .gitlab-ci.yml",
            "Environment name:              pypi",
        ],
    );
    assert_eq!(f.pypi.count("POST /legacy/"), 0, "nothing uploaded");
}

/// The claim checks of warehouse's GitLab publisher, as gl-sign shows them.
#[test]
fn the_local_pypi_checks_claims_as_warehouse_does() {
    let f = fixture(PublisherConfig::new(PROJECT_PATH, PACKAGE).environment("pypi"));
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut claims = crate::support::pypi::gitlab_id_token_claims(&job(), "pypi", Some("pypi"));
        edit(&mut claims);
        f.pypi.id_token(&claims)
    };
    let cases: [(&dyn Fn(&mut Value), &str); 6] = [
        (
            &|c| {
                c.as_object_mut().unwrap().remove("sha");
            },
            "(Missing claim 'sha')",
        ),
        (
            &|c| c["environment"] = "staging".into(),
            "(Publisher with matching claims was not found)",
        ),
        (
            &|c| c["ci_config_ref_uri"] = "gitlab.com/mygroup/myproj//ci/other.yml@refs/tags/v1.0.0".into(),
            "(Publisher with matching claims was not found)",
        ),
        (
            &|c| c["ci_config_ref_uri"] = "gitlab.com/mygroup/myproj//ci.json@refs/tags/v1.0.0".into(),
            "(Could not extract workflow filename from OIDC claims)",
        ),
        (
            &|c| c["ci_config_ref_uri"] = "gitlab.com/mygroup/myproj//.gitlab-ci.yml@refs/heads/main".into(),
            "(The ci_config_ref_uri claim does not match, expecting one of [\"gitlab.com/mygroup/myproj//.gitlab-ci.yml@refs/tags/v1.0.0\"",
        ),
        (
            &|c| c["sub"] = "project_path:mygroup/other:ref_type:tag:ref:v1.0.0".into(),
            "(Check failed for required claim 'sub')",
        ),
    ];
    for (edit, message) in cases {
        let r = f.publish(&with(edit), &[], &[&f.wheel]);
        assert_run(
            &r,
            2,
            &[
                "invalid-publisher: valid token, but no corresponding publisher ",
                message,
            ],
        );
    }
    // Namespace and project match case-insensitively, as on warehouse.
    let token = with(&|c| c["project_path"] = "MyGroup/MyProj".into());
    let r = f.publish(&token, &[], &[&f.wheel]);
    assert_run(&r, 0, &["uploaded"]);
}

#[test]
fn a_reused_id_token_is_refused() {
    let f = fixture(PublisherConfig::new(PROJECT_PATH, PACKAGE));
    let token = f.pypi.id_token_for(&job(), None);
    let r = f.publish(&token, &["--no-attestations"], &[&f.wheel]);
    assert_run(&r, 0, &["uploaded"]);
    // The same token again, this time from a file given with --identity-token.
    let file = f.dir.path().join("id-token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let r = f.publish(
        "unused",
        &["--identity-token", file.to_str().unwrap()],
        &[&f.sdist],
    );
    assert!(!r.all().contains(&token));
    assert_run(
        &r,
        2,
        &[
            "invalid-reuse-token: invalid token: already used",
            "re-run the job for a fresh one",
        ],
    );
}

#[test]
fn an_invalid_or_foreign_token_is_refused() {
    let f = fixture(PublisherConfig::new(PROJECT_PATH, PACKAGE));
    let claims = crate::support::pypi::gitlab_id_token_claims(&job(), "pypi", None);
    let forged = f.pypi.forged_token(&claims);
    let r = f.publish(&forged, &[], &[&f.wheel]);
    assert_run(
        &r,
        2,
        &[
            "invalid-token: malformed or invalid token",
            "aud is exactly \"pypi\"",
        ],
    );
    // The right key, the wrong audience (a Sigstore token reused for PyPI).
    let sigstore_aud = crate::support::pypi::gitlab_id_token_claims(&job(), "sigstore", None);
    let r = f.publish(&f.pypi.id_token(&sigstore_aud), &[], &[&f.wheel]);
    assert_run(
        &r,
        2,
        &["invalid-token: malformed or invalid token", "aud: sigstore"],
    );
    // Not a JWT at all.
    let r = f.publish("a.b.c", &["--trusted-publishing", "always"], &[&f.wheel]);
    assert_run(&r, 2, &["invalid-payload: malformed JWT"]);
    assert_eq!(f.pypi.count("POST /legacy/"), 0);
}

#[test]
fn trusted_publishing_always_needs_an_id_token() {
    let f = fixture(PublisherConfig::new(PROJECT_PATH, PACKAGE));
    let mut cmd = gl_sign();
    cmd.env("SSL_CERT_FILE", f.pypi.ca_file())
        .env_remove("PYPI_ID_TOKEN")
        .args(["publish", "pypi", "--trusted-publishing", "always"])
        .args(["--repository-url", &f.pypi.upload_url()])
        .arg(&f.wheel);
    let r = run(&mut cmd);
    assert_run(
        &r,
        2,
        &[
            "no GitLab ID token for audience \"pypi\": pass --identity-token or set PYPI_ID_TOKEN",
            "id_tokens: {PYPI_ID_TOKEN: {aud: pypi}}",
        ],
    );
    assert_eq!(f.pypi.count("POST /_/oidc/mint-token"), 0);
}

#[test]
fn the_server_refuses_an_attestation_from_another_project_with_its_message() {
    let Some(bin) = venv_with("pypi_attestations", "python") else {
        return;
    };
    let mut f = fixture(PublisherConfig::new(PROJECT_PATH, PACKAGE));
    f.verify_with_pypi_attestations(&bin);
    let other = GitLabClaims {
        project_path: "mygroup/evil".into(),
        ..job()
    };
    let wheel = f.wheel.clone();
    f.attest(&wheel, &other, PUBLISH_V1, "publish");
    let token = f.pypi.id_token_for(&job(), None);
    let r = f.publish(&token, &[], &[&wheel]);
    assert_run(
        &r,
        2,
        &["answered 400: Invalid attestations supplied during upload: Could not verify the uploaded artifact using the included attestation: Verification failed: Certificate's OIDCSourceRepositoryURI does not match"],
    );
    assert!(f.pypi.files().is_empty());
    // --no-attestations uploads the file without them.
    let token = f.pypi.id_token_for(&job(), None);
    let r = f.publish(&token, &["--no-attestations"], &[&wheel]);
    assert_run(&r, 0, &["uploaded"]);
    assert!(f.pypi.files()[0].provenance.is_none());
}

#[test]
fn a_different_file_under_a_published_name_is_an_error() {
    let f = fixture(PublisherConfig::new(PROJECT_PATH, PACKAGE));
    let token = f.pypi.id_token_for(&job(), None);
    assert_run(&f.publish(&token, &[], &[&f.wheel]), 0, &["uploaded"]);
    // Rebuild the same name and version with other content.
    let other = tempfile::tempdir().unwrap();
    let rebuilt = dists::build(other.path(), PACKAGE, "1.0.0", "VALUE = 2\n");
    let token = f.pypi.id_token_for(&job(), None);
    let r = f.publish(&token, &[], &[&rebuilt.wheel]);
    assert_run(
        &r,
        2,
        &[
            "demo_pkg-1.0.0-py3-none-any.whl is already on",
            "but the local file has",
        ],
    );
    // The same bytes under another file name: the index does not list that
    // name, so the upload goes out and PyPI's 400 reason is shown as is.
    let renamed = other.path().join("demo_pkg-1.0.0-py2.py3-none-any.whl");
    std::fs::copy(&f.wheel, &renamed).unwrap();
    let token = f.pypi.id_token_for(&job(), None);
    let r = f.publish(&token, &[], &[&renamed]);
    assert_run(
        &r,
        2,
        &["answered 400: File already exists ('demo_pkg-1.0.0-py2.py3-none-any.whl', with blake2_256 hash '",
          "See https://pypi.org/help/#file-name-reuse for more information."],
    );
}

#[test]
fn an_upload_to_a_project_the_publisher_does_not_own_shows_the_reason_as_is() {
    let f = fixture(PublisherConfig::new(PROJECT_PATH, PACKAGE));
    // The publisher may upload demo-pkg only; another project exists on the index.
    f.pypi
        .add_publisher(PublisherConfig::new("othergroup/x", "other-pkg"));
    let dir = tempfile::tempdir().unwrap();
    let other = dists::build(dir.path(), "other-pkg", "1.0.0", "X = 1\n");
    let token = f.pypi.id_token_for(&job(), None);
    let r = f.publish(&token, &[], &[&other.wheel]);
    assert_run(
        &r,
        2,
        &["answered 403: Invalid API Token: OIDC scoped token is not valid for project 'other-pkg'"],
    );
    // A project nobody created.
    let new = dists::build(dir.path(), "brand-new", "1.0.0", "X = 1\n");
    let token = f.pypi.id_token_for(&job(), None);
    let r = f.publish(&token, &[], &[&new.wheel]);
    assert_run(
        &r,
        2,
        &["answered 400: Non-user identities cannot create new projects."],
    );
}

#[test]
fn explicit_credentials_win_in_auto_mode_and_attestations_need_trusted_publishing() {
    let mut f = fixture(PublisherConfig::new(PROJECT_PATH, PACKAGE));
    let wheel = f.wheel.clone();
    // No verifier is configured, and the fake refuses attestations from a
    // token that is not trusted publishing: they must not be sent.
    f.attest(&wheel, &job(), PUBLISH_V1, "publish");
    let api_token = f.pypi.add_api_token(PACKAGE);
    let id_token = f.pypi.id_token_for(&job(), None);
    let r = f.publish(&id_token, &["--token", &api_token], &[&wheel]);
    assert_run(&r, 0, &["uploaded"]);
    assert!(!r.all().contains(&api_token));
    assert!(!r.all().contains("attestation"), "{}", r.all());
    assert_eq!(f.pypi.count("GET /_/oidc/audience"), 0);
    assert_eq!(f.pypi.count("POST /_/oidc/mint-token"), 0);
    assert!(f.pypi.files()[0].provenance.is_none());
    // always + --token is a contradiction.
    let r = f.publish(
        &id_token,
        &["--token", &api_token, "--trusted-publishing", "always"],
        &[&wheel],
    );
    assert_run(
        &r,
        2,
        &["--trusted-publishing always cannot be combined with --token"],
    );
}

#[test]
fn an_index_with_trusted_publishing_disabled() {
    let f = fixture(PublisherConfig::new(PROJECT_PATH, PACKAGE));
    f.pypi.disable_trusted_publishing();
    let token = f.pypi.id_token_for(&job(), None);
    let r = f.publish(&token, &["--trusted-publishing", "always"], &[&f.wheel]);
    assert_run(
        &r,
        2,
        &["Trusted publishing functionality not enabled (403)"],
    );
    // auto falls back to no credentials, which PyPI refuses.
    let r = f.publish(&token, &[], &[&f.wheel]);
    assert_run(
        &r,
        2,
        &[
            "note: not using trusted publishing",
            "refused no credentials (403)",
        ],
    );
    assert_eq!(f.pypi.count("POST /_/oidc/mint-token"), 0);
}

#[test]
fn public_index_names_and_their_conflicts() {
    let r = run(gl_sign().args([
        "publish",
        "pypi",
        "--repository",
        "testpypi",
        "--repository-url",
        "https://example.test/legacy/",
        "x.whl",
    ]));
    assert_run(&r, 2, &["cannot be used with"]);
    let r = run(gl_sign().args(["publish", "pypi", "--repository", "warehouse", "x.whl"]));
    assert_run(&r, 2, &["possible values: pypi, testpypi"]);
    let r = run(gl_sign().args([
        "publish",
        "pypi",
        "--trusted-publishing",
        "sometimes",
        "x.whl",
    ]));
    assert_run(&r, 2, &["possible values: auto, always, never"]);
}

/// twine upload --attestations and uv publish send the same attestation
/// files to the local PyPI, and it accepts them.
#[test]
fn twine_and_uv_upload_the_attestation_files_and_the_local_pypi_accepts_them() {
    let Some(bin) = venv_with("pypi_attestations", "twine") else {
        return;
    };
    if !bin.join("uv").exists() {
        if std::env::var_os("CI").is_some() {
            panic!("uv is required in CI (scripts/test installs it)");
        }
        eprintln!("skipped: uv not found in {}", bin.display());
        return;
    }
    let mut f = fixture(PublisherConfig::new(PROJECT_PATH, PACKAGE));
    f.verify_with_pypi_attestations(&bin);
    let (wheel, sdist) = (f.wheel.clone(), f.sdist.clone());
    f.attest(&wheel, &job(), PUBLISH_V1, "publish");
    f.attest(&sdist, &job(), PUBLISH_V1, "publish");
    let dist_dir = wheel.parent().unwrap().to_path_buf();
    let attestation = |d: &Path| {
        d.with_file_name(format!(
            "{}.publish.attestation",
            d.file_name().unwrap().to_str().unwrap()
        ))
    };

    // twine: trusted publishing only for PyPI URLs, so mint here and pass the token.
    let token = f.pypi.id_token_for(&job(), None);
    let minted = mint(&f.pypi, &token);
    let out = Command::new(bin.join("twine"))
        .env("REQUESTS_CA_BUNDLE", f.pypi.ca_file())
        .env("TWINE_USERNAME", "__token__")
        .env("TWINE_PASSWORD", &minted)
        .args([
            "upload",
            "--attestations",
            "--non-interactive",
            "--disable-progress-bar",
        ])
        .args(["--repository-url", &f.pypi.upload_url()])
        .arg(&wheel)
        .arg(attestation(&wheel))
        .current_dir(&dist_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "twine:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // uv: its own trusted-publishing exchange (GitLab, $PYPI_ID_TOKEN) over https.
    let token = f.pypi.id_token_for(&job(), None);
    let out = Command::new(bin.join("uv"))
        .env("SSL_CERT_FILE", f.pypi.ca_file())
        .env("GITLAB_CI", "true")
        .env("PYPI_ID_TOKEN", &token)
        .env("UV_NO_CONFIG", "1")
        .env("UV_CACHE_DIR", f.dir.path().join("uv-cache"))
        .args(["publish", "--trusted-publishing", "always"])
        .args(["--publish-url", &f.pypi.upload_url()])
        .arg(&sdist)
        .arg(attestation(&sdist))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "uv publish:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let files = f.pypi.files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files.iter().all(|f| f.provenance.is_some()),
        "both uploads carried verified attestations"
    );
}

/// The exchange as twine's and uv's code would do it, for twine's run.
fn mint(pypi: &LocalPypi, id_token: &str) -> String {
    let (rt, client) = https_client(pypi);
    rt.block_on(async {
        let v: Value = client
            .post(format!("{}/_/oidc/mint-token", pypi.url()))
            .json(&serde_json::json!({ "token": id_token }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["token"].as_str().expect("minted").to_string()
    })
}

#[test]
fn init_publish_to_pypi_writes_a_trusted_publishing_pipeline_and_prints_the_publisher() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(".gitlab-ci.yml");
    let r = run(gl_sign()
        .env("CI_PROJECT_PATH", "mygroup/sub/myproj")
        .args([
            "init",
            "--publish-to",
            "testpypi",
            "--package-name",
            PACKAGE,
        ])
        .arg("--output")
        .arg(&out));
    assert_run(
        &r,
        0,
        &[
            "Add this trusted publisher on https://test.pypi.org",
            "Namespace:                     mygroup/sub",
            "Project name:                  myproj",
            "Top-level pipeline file path:  .gitlab-ci.yml",
            "Environment name:              testpypi",
        ],
    );
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let publish = &doc["publish"];
    assert_eq!(publish["id_tokens"]["TESTPYPI_ID_TOKEN"]["aud"], "testpypi");
    assert_eq!(publish["environment"]["name"], "testpypi");
    assert_eq!(publish["rules"][0]["if"], "$CI_COMMIT_TAG");
    let script: Vec<&str> = publish["script"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        script.last().copied(),
        Some("gl-sign publish pypi --repository-url \"$GL_SIGN_UPLOAD_URL\" --trusted-publishing always dist/*.whl dist/*.tar.gz")
    );
    // TestPyPI's URLs, as variables a project's CI/CD variables override.
    let variables = &doc[".gl-sign-identity"]["variables"];
    assert_eq!(
        variables["GL_SIGN_UPLOAD_URL"],
        "https://test.pypi.org/legacy/"
    );
    assert_eq!(
        variables["GL_SIGN_INDEX_URL"],
        "https://test.pypi.org/simple/"
    );
    // The default stays today's GitLab pipeline, with nothing printed to add on PyPI.
    let plain = dir.path().join("plain.yml");
    let r = run(gl_sign()
        .args(["init", "--package-name", PACKAGE, "--output"])
        .arg(&plain));
    assert_run(&r, 0, &[]);
    assert!(!r.all().contains("trusted publisher"));
    let text = std::fs::read_to_string(&plain).unwrap();
    assert!(!text.contains("ID_TOKEN:\n      aud: pypi") && !text.contains("gl-sign attest"));
    // GitLab's own schema accepts the PyPI pipelines (check-jsonschema, in CI).
    let Some(bin) = venv_with("check_jsonschema", "check-jsonschema") else {
        return;
    };
    let pypi = dir.path().join("pypi.yml");
    run(gl_sign()
        .args([
            "init",
            "--publish-to",
            "pypi",
            "--package-name",
            PACKAGE,
            "--output",
        ])
        .arg(&pypi));
    let check = Command::new(bin.join("check-jsonschema"))
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(&out)
        .arg(&pypi)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "check-jsonschema:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
