//! The generated pipeline, run: `gl-sign init` writes .gitlab-ci.yml for a
//! sample Python project, then every job's before_script + script runs in
//! stage order, as GitLab would run a tag pipeline (CI variables, an
//! `id_tokens` token for the signing job), against the local Sigstore and the
//! local GitLab registry. It must end with consumer verification passing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_yaml_ng::Value;

use crate::support::gitlab_registry::LocalGitLab;
use crate::support::sigstore_stack::LocalSigstore;
use crate::support::{assert_run, gl_sign, run};

const TAG: &str = "v1.2.3";

fn sample_project(dir: &Path) {
    std::fs::write(
        dir.join("pyproject.toml"),
        "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
         [project]\n# gl-sign build writes the release name and version here.\nname = \"placeholder\"\nversion = \"0.0.0\"\n\
         requires-python = \">=3.8\"\n\n[tool.setuptools]\npackages = [\"sample_pkg\"]\n",
    )
    .unwrap();
    std::fs::create_dir(dir.join("sample_pkg")).unwrap();
    std::fs::write(dir.join("sample_pkg/__init__.py"), "ANSWER = 42\n").unwrap();
}

/// Lines of a job key, following `extends` for keys the job does not set.
fn lines(doc: &BTreeMap<String, Value>, job: &str, key: &str) -> Vec<String> {
    let body = &doc[job];
    let value = body.get(key).cloned().or_else(|| {
        let template = body.get("extends")?.as_str()?;
        doc.get(template)?.get(key).cloned()
    });
    value
        .and_then(|v| v.as_sequence().cloned())
        .unwrap_or_default()
        .iter()
        .map(|l| l.as_str().expect("script lines are strings").to_string())
        .collect()
}

fn variables(doc: &BTreeMap<String, Value>, job: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let body = &doc[job];
    let template = body
        .get("extends")
        .and_then(Value::as_str)
        .and_then(|t| doc.get(t));
    for source in [template, Some(body)].into_iter().flatten() {
        if let Some(Value::Mapping(vars)) = source.get("variables") {
            for (k, v) in vars {
                out.insert(
                    k.as_str().unwrap().to_string(),
                    v.as_str().unwrap().to_string(),
                );
            }
        }
    }
    out
}

#[test]
fn the_generated_pipeline_runs_end_to_end() {
    let Some(python_bin) = crate::support::python_tool("pyproject-build") else {
        return;
    };
    let sigstore = LocalSigstore::start();
    let gitlab = LocalGitLab::start();
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("sample");
    std::fs::create_dir(&project).unwrap();
    sample_project(&project);
    let trust = sigstore.write_trust_files(work.path());

    assert_run(
        &run(gl_sign().current_dir(&project).args([
            "init",
            "--package-name",
            "sample-pkg",
            "--image",
            "gl-sign:test",
        ])),
        0,
        &["wrote"],
    );
    let doc: BTreeMap<String, Value> =
        serde_yaml_ng::from_str(&std::fs::read_to_string(project.join(".gitlab-ci.yml")).unwrap())
            .unwrap();
    let stages: Vec<String> = serde_yaml_ng::from_value(doc["stages"].clone()).unwrap();

    // gl-sign and the venv's python3 first on PATH, as in the job image.
    let gl_sign_dir = Path::new(env!("CARGO_BIN_EXE_gl-sign"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}:{}",
        gl_sign_dir.display(),
        python_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let tag_claims = sigstore.gitlab_claims().with_tag(TAG);
    let mut ran = Vec::new();
    for stage in &stages {
        let jobs: Vec<&String> = doc
            .keys()
            .filter(|k| doc[*k].get("stage").and_then(Value::as_str) == Some(stage))
            .collect();
        for job in jobs {
            let script = [
                lines(&doc, job, "before_script"),
                lines(&doc, job, "script"),
            ]
            .concat()
            .join("\n");
            let mut cmd = Command::new("sh");
            cmd.arg("-e")
                .arg("-c")
                .arg(&script)
                .current_dir(&project)
                .env_clear();
            cmd.env("PATH", &path)
                .env("HOME", work.path())
                // The predefined variables of a tag pipeline on this GitLab.
                .env("GITLAB_CI", "true")
                .env("CI", "true")
                .env("CI_SERVER_URL", sigstore.issuer_url())
                .env("CI_API_V4_URL", gitlab.api_url())
                .env("CI_PROJECT_ID", gitlab.project_id().to_string())
                .env("CI_PROJECT_PATH", "group/proj")
                .env("CI_PROJECT_NAME", "sample-pkg")
                .env(
                    "CI_PROJECT_URL",
                    format!("{}/group/proj", sigstore.issuer_url()),
                )
                .env("CI_CONFIG_PATH", ".gitlab-ci.yml")
                .env("CI_COMMIT_TAG", TAG)
                .env("CI_COMMIT_REF_NAME", TAG)
                .env("CI_JOB_TOKEN", gitlab.job_token())
                // This deployment's Sigstore, as CI variables of the project.
                .env("GL_SIGN_FULCIO_URL", sigstore.fulcio_url())
                .env("GL_SIGN_REKOR_URL", sigstore.rekor_url())
                .env("GL_SIGN_TRUSTED_ROOT", &trust.trusted_root)
                // The sample builds with the venv's setuptools: no network in tests.
                .env("GL_SIGN_BUILD_NO_ISOLATION", "true");
            for (k, v) in variables(&doc, job) {
                cmd.env(k, v);
            }
            if doc[job].get("id_tokens").is_some() {
                cmd.env("SIGSTORE_ID_TOKEN", sigstore.token_for(&tag_claims));
            }
            let out = cmd.output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.success(),
                "job {job} failed:\n{script}\n---\n{text}"
            );
            ran.push((job.clone(), text));
        }
    }
    let names: Vec<&str> = ran.iter().map(|(j, _)| j.as_str()).collect();
    assert_eq!(
        names,
        [
            "build",
            "sign",
            "verify",
            "publish",
            "publish_signatures",
            "consumer_verification"
        ]
    );
    let last = &ran.last().unwrap().1;
    assert!(
        last.contains("sample-pkg==1.2.3: 2 file(s), all verified"),
        "{last}"
    );
    // The registry holds the tagged release and its signatures.
    assert!(gitlab
        .stored_file("sample_pkg-1.2.3-py3-none-any.whl")
        .is_some());
    assert!(gitlab
        .stored_file("sample_pkg-1.2.3.tar.gz.sigstore.json")
        .is_some());
}

/// A job's before_script + script, run as the runner would (`sh -e`), with
/// only `env` set.
fn run_job(
    doc: &BTreeMap<String, Value>,
    job: &str,
    dir: &Path,
    env: &[(&str, &str)],
) -> (i32, String) {
    let script = [lines(doc, job, "before_script"), lines(doc, job, "script")]
        .concat()
        .join("\n");
    let mut cmd = Command::new("sh");
    cmd.arg("-e")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in variables(doc, job) {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Where GitLab gives no ID token (merge requests from forks), or on an
/// unprotected ref with `--sign-protected-only`, the sign job says why and
/// signs nothing; verify then says there is nothing to check, and publishing
/// refuses unsigned dists.
#[test]
fn skipped_signing_is_explained_and_blocks_publishing() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path();
    sample_project(project);
    assert_run(
        &run(gl_sign().current_dir(project).args([
            "init",
            "--package-name",
            "sample-pkg",
            "--image",
            "gl-sign:test",
            "--sign-protected-only",
        ])),
        0,
        &["wrote"],
    );
    let doc: BTreeMap<String, Value> =
        serde_yaml_ng::from_str(&std::fs::read_to_string(project.join(".gitlab-ci.yml")).unwrap())
            .unwrap();
    let marker = project.join("dist/.gl-sign-unsigned");
    let base = [
        ("CI_SERVER_URL", "https://gitlab.example.test"),
        ("CI_PROJECT_PATH", "group/proj"),
        ("CI_CONFIG_PATH", ".gitlab-ci.yml"),
        ("CI_COMMIT_BRANCH", "feature"),
        ("CI_COMMIT_REF_NAME", "feature"),
    ];

    // An unprotected branch, token present: restricted to protected refs.
    let env = [
        &base[..],
        &[
            ("CI_COMMIT_REF_PROTECTED", "false"),
            ("SIGSTORE_ID_TOKEN", "a.b.c"),
        ],
    ]
    .concat();
    let (code, log) = run_job(&doc, "sign", project, &env);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("feature is not a protected branch or tag")
            && log.contains("gl-sign: signing skipped"),
        "{log}"
    );
    assert!(marker.is_file());
    let (code, log) = run_job(&doc, "verify", project, &base);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("gl-sign: verification skipped: the sign job signed nothing"),
        "{log}"
    );
    let (code, log) = run_job(&doc, "publish", project, &base);
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("gl-sign: refusing to publish unsigned dists"),
        "{log}"
    );

    // A protected ref without an ID token (a fork's merge request).
    std::fs::remove_file(&marker).unwrap();
    let env = [&base[..], &[("CI_COMMIT_REF_PROTECTED", "true")]].concat();
    let (code, log) = run_job(&doc, "sign", project, &env);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("GitLab gave this job no ID token") && log.contains("signing skipped"),
        "{log}"
    );
    assert!(std::fs::read_to_string(&marker)
        .unwrap()
        .contains("no ID token"));

    // With a token on a protected ref the skip does not happen: sign-blob runs
    // (and here fails: there is nothing to sign and no Sigstore).
    std::fs::remove_file(&marker).unwrap();
    let gl_sign_dir = Path::new(env!("CARGO_BIN_EXE_gl-sign")).parent().unwrap();
    let path = format!(
        "{}:{}",
        gl_sign_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        &base[..],
        &[
            ("CI_COMMIT_REF_PROTECTED", "true"),
            ("SIGSTORE_ID_TOKEN", "a.b.c"),
            ("PATH", path.as_str()),
        ],
    ]
    .concat();
    let (code, log) = run_job(&doc, "sign", project, &env);
    assert_ne!(code, 0, "{log}");
    assert!(
        !log.contains("signing skipped") && !marker.exists(),
        "{log}"
    );
}
