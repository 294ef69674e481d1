//! What the integration tests share: the binary, the vectors, and local
//! services on 127.0.0.1 that the tests start themselves.

#![allow(dead_code)]

pub mod dists;
pub mod gitlab_registry;
pub mod pki;
pub mod provenance_index;
pub mod pypi;
pub mod rekor;
pub mod rekor_v2;
pub mod server;
pub mod sigstore_stack;
pub mod tsa;
pub mod tuf_repo;
pub mod vectors;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The gl-sign binary under test.
pub fn gl_sign() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gl-sign"));
    // Tests must not depend on the developer's or CI's environment.
    cmd.env_remove("SIGSTORE_ID_TOKEN").env("NO_COLOR", "1");
    // Never the developer's TUF cache (issue 11); tests/it/tuf.rs sets its own.
    cmd.env(
        "GL_SIGN_TUF_CACHE",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("tuf-cache-unused"),
    );
    for var in [
        "GITLAB_CI",
        "CI_API_V4_URL",
        "CI_PROJECT_ID",
        "CI_PROJECT_NAME",
        "CI_PROJECT_PATH",
        "CI_PROJECT_URL",
        "CI_SERVER_URL",
        "CI_COMMIT_TAG",
        "CI_COMMIT_REF_NAME",
        "CI_JOB_TOKEN",
        "CI_CONFIG_PATH",
        "CI_PIPELINE_IID",
        "CI_COMMIT_SHA",
        "CI_JOB_ID",
        "CI_JOB_NAME",
        "CI_JOB_URL",
        "CI_JOB_STARTED_AT",
        "CI_PIPELINE_ID",
        "CI_PIPELINE_URL",
        "CI_PIPELINE_SOURCE",
        "CI_RUNNER_ID",
        "CI_RUNNER_DESCRIPTION",
        "CI_RUNNER_VERSION",
        "CI_RUNNER_EXECUTABLE_ARCH",
        "GL_SIGN_TOKEN",
        "GL_SIGN_USERNAME",
        "GL_SIGN_PASSWORD",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Exit code, stdout and stderr of a finished run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output
                .status
                .code()
                .expect("gl-sign was killed by a signal (a panic aborts?)"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

pub fn run(cmd: &mut Command) -> Run {
    let run: Run = cmd.output().expect("gl-sign runs").into();
    assert!(
        !run.stderr.contains("panicked"),
        "gl-sign panicked:\n{}",
        run.stderr
    );
    run
}

/// Assert exit code and that the combined output contains every fragment.
#[track_caller]
pub fn assert_run(run: &Run, code: i32, fragments: &[&str]) {
    assert_eq!(
        run.code, code,
        "exit code\n--- stdout\n{}--- stderr\n{}",
        run.stdout, run.stderr
    );
    let all = run.all();
    for fragment in fragments {
        assert!(
            all.contains(fragment),
            "missing {fragment:?} in\n--- stdout\n{}--- stderr\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// A whole run as one text (exit code, stdout, stderr), for insta snapshots.
pub fn transcript(run: &Run) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    )
}

/// insta settings shared by every snapshot test, as uv's `INSTA_FILTERS`:
/// snapshots in tests/snapshots, and what differs between runs filtered
/// (the checkout path, temp dirs, local server ports).
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(&regex::escape(env!("CARGO_MANIFEST_DIR")), "[REPO]");
    settings.add_filter(
        r"(/private)?/(tmp|var/folders/[^/]+/[^/]+)/\.tmp[A-Za-z0-9]+",
        "[TEMP]",
    );
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings
}
