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
pub mod signing;
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

/// `file` with `suffix` appended to its name: `pkg.whl` → `pkg.whl.sig`.
pub fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// A venv bin directory holding `tool`: `$GL_SIGN_PYTHON_BIN` (scripts/test) or
/// `.venv/bin`. Outside CI a missing tool skips with a note; in CI it fails.
pub fn python_tool(tool: &str) -> Option<PathBuf> {
    let bin = std::env::var_os("GL_SIGN_PYTHON_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin"));
    if bin.join(tool).exists() {
        return Some(bin);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{tool} is required in CI but is not in {} (scripts/test installs it)",
            bin.display()
        );
    }
    eprintln!(
        "skipped: {tool} not found in {} (run scripts/test, which installs it)",
        bin.display()
    );
    None
}

/// Whether another tool's run succeeded, and its stdout and stderr as one text.
pub fn outcome(out: &Output) -> (bool, String) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Exit code, stdout and stderr of a finished run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The arguments gl-sign ran with (set by [`run`]), for [`RunSnapshot`].
    pub args: Vec<String>,
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
            args: Vec::new(),
        }
    }
}

pub fn run(cmd: &mut Command) -> Run {
    let mut run: Run = cmd.output().expect("gl-sign runs").into();
    run.args = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
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
    for (regex, replacement) in base_filters() {
        settings.add_filter(&regex, replacement);
    }
    settings
}

fn base_filters() -> [(String, &'static str); 3] {
    [
        (regex::escape(env!("CARGO_MANIFEST_DIR")), "[REPO]"),
        (
            r"(/private)?/(tmp|var/folders/[^/]+/[^/]+)/\.tmp[A-Za-z0-9]+".into(),
            "[TEMP]",
        ),
        (r"127\.0\.0\.1(:|%3A)\d+".into(), "127.0.0.1$1[PORT]"),
    ]
}

/// A whole run of gl-sign snapshotted as one text (the command line, exit
/// code, stdout, stderr), as uv's `uv_snapshot!`: [`snapshot_settings`]'s
/// filters plus those for what else differs between runs, and whatever a
/// test adds for its own random values ([`RunSnapshot::redact`]). A changed
/// message, exit code or stream fails the test; `INSTA_UPDATE=always`
/// rewrites the .snap files (read every one before committing: a wrong
/// message is a bug to fix, not a snapshot to freeze).
pub struct RunSnapshot {
    /// Exact values, replaced before any filter (so one holding a port or a
    /// temp path is still found).
    redactions: Vec<(String, String)>,
    filters: Vec<(String, String)>,
}

impl Default for RunSnapshot {
    fn default() -> Self {
        Self::new()
    }
}

impl RunSnapshot {
    /// Paths, ports, durations and ID tokens filtered.
    pub fn new() -> Self {
        RunSnapshot {
            redactions: Vec::new(),
            filters: Vec::new(),
        }
        .redact(
            &Path::new(env!("CARGO_TARGET_TMPDIR")).display().to_string(),
            "[TARGET_TMP]",
        )
        // Elapsed times ("in 0.21s", "(312 ms)").
        .filter(r"\b\d+(\.\d+)?\s?(ms|s)\b", "[DURATION]")
        // GitLab's collapsible sections: an escape and the time they start.
        .filter("\x1b", "␛")
        .filter(r"section_(start|end):\d+:", "section_$1:[UNIX_TIME]:")
        // A JWT given on the command line (gl-sign itself never prints one).
        .filter(
            r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
            "[JWT]",
        )
    }

    /// For runs against the local services, whose clocks are now and whose
    /// logs hand out indexes in upload order: times and log indexes filtered
    /// too.
    pub fn live() -> Self {
        Self::new()
            // RFC 3339 times: certificate windows, integrated and signing times.
            .filter(
                r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?",
                "[TIME]",
            )
            .filter(
                r#"(log index |logged at index |"log_index": |"logIndex": "?)\d+"#,
                "$1[INDEX]",
            )
            // The local Sigstore's keys, so its trusted root, are new each run.
            .filter(r"(trust root: \S+ \(sha256:)[0-9a-f]{64}\)", "$1[SHA256])")
    }

    /// Replace the exact text `value` (a random digest, key fingerprint, …) by `name`.
    pub fn redact(mut self, value: &str, name: &str) -> Self {
        self.redactions
            .push((regex::escape(value), name.to_string()));
        self
    }

    /// Replace what `regex` matches by `replacement`.
    pub fn filter(mut self, regex: &str, replacement: &str) -> Self {
        self.filters
            .push((regex.to_string(), replacement.to_string()));
        self
    }

    /// Assert `run` matches tests/snapshots/`name`.snap.
    #[track_caller]
    pub fn assert(&self, name: &str, run: &Run) {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        for (regex, replacement) in &self.redactions {
            settings.add_filter(regex, replacement.as_str());
        }
        for (regex, replacement) in base_filters() {
            settings.add_filter(&regex, replacement);
        }
        for (regex, replacement) in &self.filters {
            settings.add_filter(regex, replacement.as_str());
        }
        let quoted: Vec<String> = run
            .args
            .iter()
            .map(
                |a| match a.contains([' ', '"', '\'', '*']) || a.is_empty() {
                    true => format!("'{a}'"),
                    false => a.clone(),
                },
            )
            .collect();
        let text = format!("$ gl-sign {}\n{}", quoted.join(" "), transcript(run));
        settings.bind(|| insta::assert_snapshot!(name.to_string(), text));
    }
}

/// [`RunSnapshot::assert`] with the default filters.
#[track_caller]
pub fn assert_run_snapshot(name: &str, run: &Run) {
    RunSnapshot::new().assert(name, run);
}

/// [`RunSnapshot::assert`] with the filters for runs against the local services.
#[track_caller]
pub fn assert_live_snapshot(name: &str, run: &Run) {
    RunSnapshot::live().assert(name, run);
}
