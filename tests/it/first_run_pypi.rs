//! Issue 9: "A generated `init --publish-to pypi` pipeline's jobs run against
//! the local services." The tutorial project of first_run.rs, `gl-sign init
//! --publish-to pypi`, and the pipeline it writes run by gitlab-ci-local
//! (shell executor) against the local Sigstore (accepting gitlab.com-shaped
//! tokens, as PyPI verifies GitLab attestations from gitlab.com only) and the
//! local PyPI (trusted publishing with its own gitlab.com test issuer,
//! attestations verified at upload by pypi-attestations, the simple index with
//! provenance links and the Integrity API): a branch pipeline on main that
//! publishes nothing, then a tag pipeline v1.2.3 that publishes with trusted
//! publishing and attestations and verifies the release's provenance.
//!
//! Everything the jobs are given goes the way a user's project gives it: the
//! ID tokens as the variables GitLab's `id_tokens` set (gitlab-ci-local mints
//! none), the index as CI/CD variables overriding the pipeline's
//! `GL_SIGN_UPLOAD_URL` / `GL_SIGN_INDEX_URL`, the index's test CA as
//! `SSL_CERT_FILE`, this Sigstore as `GL_SIGN_FULCIO_URL` & co. The signatures
//! go to the local GitLab's generic registry (publish_signatures), as in the
//! default pipeline.

use crate::first_run::{
    git, gitlab_ci_local, job_said, passed, tutorial_project, Emulator, JobsGlSign,
};
use crate::provenance_e2e::python_with_pypi_attestations;
use crate::support::gitlab_registry::{LocalGitLab, Registry};
use crate::support::pki::GitLabClaims;
use crate::support::pypi::{LocalPypi, PublisherConfig, PUBLISH_V1};
use crate::support::python_tool;
use crate::support::sigstore_stack::LocalSigstore;
use crate::support::{assert_run, gl_sign, run};

const PROJECT_PATH: &str = "group/proj";

/// A pipeline of group/proj on gitlab.com.
fn on_gitlab_com() -> GitLabClaims {
    GitLabClaims {
        server_url: "https://gitlab.com".into(),
        project_path: PROJECT_PATH.into(),
        namespace_path: "group".into(),
        ..GitLabClaims::example()
    }
}

#[test]
fn the_tutorial_project_publishes_to_pypi_with_provenance_in_gitlab_ci_local() {
    let Some(gcl) = gitlab_ci_local() else {
        return;
    };
    let Some(python_bin) = python_tool("pyproject-build") else {
        return;
    };
    let Some(python) = python_with_pypi_attestations() else {
        return;
    };
    let sigstore = LocalSigstore::start();
    sigstore.accept_gitlab_com_tokens();
    let pypi = LocalPypi::start("pypi");
    pypi.verify_attestations_with(&python, &sigstore.trusted_root_json());
    let gitlab = LocalGitLab::start();
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("demo-project");
    tutorial_project(&project);
    let trust = sigstore.write_trust_files(work.path());

    // The user's first step, and the publisher it says to add on PyPI.
    let init = run(gl_sign()
        .current_dir(&project)
        .args(["init", "--publish-to", "pypi"]));
    assert_run(
        &init,
        0,
        &[
            r#"package name "demo-project": from the directory's name"#,
            "wrote .gitlab-ci.yml",
            "Add this trusted publisher on https://pypi.org",
            "Top-level pipeline file path:  .gitlab-ci.yml",
            "Environment name:              pypi",
        ],
    );
    // What the user enters on PyPI for group/proj.
    pypi.add_publisher(PublisherConfig::new(PROJECT_PATH, "demo-project").environment("pypi"));
    std::fs::write(
        project.join(".gitignore"),
        ".gitlab-ci-local/\n.cache/\ndist/\n",
    )
    .unwrap();
    git(&project, &["init", "-q", "-b", "main"]);
    git(&project, &["add", "-A"]);
    git(
        &project,
        &["commit", "-q", "-m", "Tutorial project, PyPI pipeline"],
    );

    let jobs = JobsGlSign::new(&python_bin, work.path());
    let mut variables = vec![
        ("GITLAB_CI", "true".to_string()),
        ("CI_SERVER_URL", "https://gitlab.com".to_string()),
        ("CI_API_V4_URL", gitlab.api_url()),
        ("CI_PROJECT_ID", gitlab.project_id().to_string()),
        ("CI_PROJECT_PATH", PROJECT_PATH.to_string()),
        ("CI_PROJECT_NAME", "demo-project".to_string()),
        (
            "CI_PROJECT_URL",
            format!("https://gitlab.com/{PROJECT_PATH}"),
        ),
        ("CI_CONFIG_PATH", ".gitlab-ci.yml".to_string()),
        ("CI_JOB_TOKEN", gitlab.job_token()),
        // This deployment's Sigstore, as project CI variables would set it.
        ("GL_SIGN_FULCIO_URL", sigstore.fulcio_url().to_string()),
        ("GL_SIGN_REKOR_URL", sigstore.rekor_url().to_string()),
        (
            "GL_SIGN_TRUSTED_ROOT",
            trust.trusted_root.display().to_string(),
        ),
        // The index, as CI/CD variables overriding the pipeline's PyPI URLs,
        // and its CA, as for any private CA.
        ("GL_SIGN_UPLOAD_URL", pypi.upload_url()),
        ("GL_SIGN_INDEX_URL", pypi.simple_url()),
        ("SSL_CERT_FILE", pypi.ca_file().display().to_string()),
        ("GL_SIGN_BUILD_NO_ISOLATION", "true".to_string()),
        (
            "GL_SIGN_PYTHON",
            python_bin.join("python3").display().to_string(),
        ),
    ];
    variables.extend(jobs.variables());
    let emulator = Emulator::new(gcl, &jobs.first_on_path(), work.path(), &project, variables);
    let never_printed = |log: &str, tokens: &[&str]| {
        for t in tokens
            .iter()
            .copied()
            .chain(pypi.minted_tokens().iter().map(String::as_str))
        {
            assert!(!log.contains(t), "a token was printed in the job logs");
        }
    };

    // 1. The first push: a branch pipeline on main. It signs and attests; the
    // publish jobs are tag-only, so nothing reaches PyPI, even with a PyPI ID
    // token in the job's variables.
    let branch = on_gitlab_com();
    let sigstore_token = sigstore.token_for(&branch);
    let pypi_token = pypi.id_token_for(&branch, None);
    jobs.new_pipeline();
    let (code, log) = emulator.pipeline(
        &[
            ("SIGSTORE_ID_TOKEN", sigstore_token.clone()),
            ("PYPI_ID_TOKEN", pypi_token.clone()),
        ],
        &[],
    );
    assert_eq!(code, 0, "branch pipeline failed:\n{log}");
    assert_eq!(passed(&log), ["build", "sign", "verify"], "{log}");
    jobs.assert_installed_from_index(&log);
    let dev_wheel = "demo_project-0.0.1.dev0-py3-none-any.whl";
    assert!(
        job_said(&log, "sign", "(2 attestations)")
            && job_said(&log, "verify", &format!("> OK dist/{dev_wheel}")),
        "{log}"
    );
    // The verify job also checks the attestations PyPI will check.
    assert!(
        job_said(
            &log,
            "verify",
            "attestation https://docs.pypi.org/attestations/publish/v1"
        ),
        "{log}"
    );
    assert!(
        !log.contains("PyPI will refuse"),
        "a gitlab.com token gets no warning:\n{log}"
    );
    never_printed(&log, &[&sigstore_token, &pypi_token]);
    assert_eq!(
        pypi.count("POST /_/oidc/mint-token"),
        0,
        "{:?}",
        pypi.requests()
    );
    assert!(
        pypi.files().is_empty(),
        "a branch pipeline publishes nothing"
    );
    assert!(gitlab.stored_files(gitlab.project_id()).is_empty());

    // 2. The release: tag pipeline v1.2.3, with the publish job's ID token
    // for the environment `pypi`.
    git(&project, &["tag", "v1.2.3"]);
    let tag = on_gitlab_com().with_tag("v1.2.3");
    let sigstore_token = sigstore.token_for(&tag);
    let pypi_token = pypi.id_token_for(&tag, Some("pypi"));
    jobs.new_pipeline();
    let (code, log) = emulator.pipeline(
        &[
            ("CI_COMMIT_TAG", "v1.2.3".to_string()),
            ("CI_COMMIT_REF_NAME", "v1.2.3".to_string()),
            ("SIGSTORE_ID_TOKEN", sigstore_token.clone()),
            ("PYPI_ID_TOKEN", pypi_token.clone()),
        ],
        &["CI_COMMIT_BRANCH"],
    );
    assert_eq!(code, 0, "tag pipeline failed:\n{log}");
    assert_eq!(
        passed(&log),
        [
            "build",
            "sign",
            "verify",
            "publish",
            "publish_signatures",
            "consumer_verification"
        ],
        "{log}"
    );
    jobs.assert_installed_from_index(&log);
    never_printed(&log, &[&sigstore_token, &pypi_token]);
    let dists = [
        "demo_project-1.2.3-py3-none-any.whl",
        "demo_project-1.2.3.tar.gz",
    ];
    assert!(
        job_said(
            &log,
            "publish",
            "trusted publishing: exchanged the GitLab ID token (audience pypi)"
        ),
        "{log}"
    );
    for d in dists {
        assert!(
            job_said(
                &log,
                "publish",
                &format!("{d}: uploaded with 1 attestation(s)")
            ),
            "{log}"
        );
        assert!(
            job_said(
                &log,
                "consumer_verification",
                &format!("OK {d} ({PUBLISH_V1})")
            ),
            "{log}"
        );
    }
    assert!(
        job_said(
            &log,
            "consumer_verification",
            "demo-project==1.2.3: 2 file(s), all verified with provenance"
        ),
        "{log}"
    );
    assert_eq!(pypi.count("POST /_/oidc/mint-token"), 1);
    // On the index: the two dists, each with the provenance PyPI recorded
    // for the publisher, verified at upload by pypi-attestations.
    let mut stored: Vec<String> = pypi.files().iter().map(|f| f.filename.clone()).collect();
    stored.sort();
    assert_eq!(stored, dists);
    for f in pypi.files() {
        let bundle = &f.provenance.as_ref().expect("provenance recorded")["attestation_bundles"][0];
        assert_eq!(bundle["publisher"]["repository"], PROJECT_PATH);
        assert_eq!(bundle["publisher"]["environment"], "pypi");
        assert_eq!(bundle["attestations"].as_array().unwrap().len(), 1);
        assert_eq!(
            pypi.count(&format!(
                "GET /integrity/demo-project/1.2.3/{}/provenance",
                f.filename
            )),
            1,
            "the consumer job followed the index's provenance link"
        );
    }
    let mut signatures: Vec<String> = gitlab
        .stored_files_in(gitlab.project_id(), Registry::Generic)
        .into_iter()
        .map(|f| f.file_name)
        .collect();
    signatures.sort();
    let mut expected: Vec<String> = dists
        .iter()
        .flat_map(|d| [".crt", ".sig", ".sigstore.json"].map(|s| format!("{d}{s}")))
        .collect();
    expected.sort();
    assert_eq!(signatures, expected);
    assert!(
        gitlab
            .stored_files_in(gitlab.project_id(), Registry::Pypi)
            .is_empty(),
        "the dists go to PyPI, not the GitLab registry"
    );
}
