//! gl-sign as `pip install gl-sign` delivers it: the wheel scripts/test builds
//! from this checkout (maturin, `bindings = "bin"`) and installs into a fresh
//! venv. Its gl-sign must run, carry Cargo.toml's version and verify a real
//! vector, so a broken wheel (no binary, wrong version, wrong entry) fails here.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{assert_run, run, vectors};

/// `$GL_SIGN_WHEEL_VENV` (set by scripts/test). Outside CI a missing venv skips
/// with a note; in CI it fails, since scripts/test always builds the wheel.
fn wheel_venv() -> Option<PathBuf> {
    match std::env::var_os("GL_SIGN_WHEEL_VENV") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("bin/gl-sign").is_file(),
                "GL_SIGN_WHEEL_VENV={} has no bin/gl-sign: the wheel did not install a script",
                dir.display()
            );
            Some(dir)
        }
        None if std::env::var_os("CI").is_some() => {
            panic!("GL_SIGN_WHEEL_VENV is unset in CI: scripts/test builds and installs the wheel")
        }
        None => {
            eprintln!(
                "skipped: GL_SIGN_WHEEL_VENV is unset (scripts/test builds the wheel and sets it)"
            );
            None
        }
    }
}

fn venv_gl_sign(venv: &std::path::Path) -> Command {
    let mut cmd = Command::new(venv.join("bin/gl-sign"));
    cmd.env("NO_COLOR", "1").env_remove("SIGSTORE_ID_TOKEN");
    cmd
}

#[test]
fn the_installed_wheel_runs_with_the_crate_version() {
    let Some(venv) = wheel_venv() else { return };
    let version = run(venv_gl_sign(&venv).arg("--version"));
    assert_run(
        &version,
        0,
        &[&format!("gl-sign {}", env!("CARGO_PKG_VERSION"))],
    );
    // pip knows it as the gl-sign distribution, at the version Cargo.toml sets.
    let show = Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "show", "--files", "gl-sign"])
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(show.contains("Name: gl-sign"), "{show}");
    assert!(
        show.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{show}"
    );
    assert!(
        show.contains("bin/gl-sign"),
        "the wheel must install the binary as a script:\n{show}"
    );
}

#[test]
fn the_installed_wheel_verifies_a_shipped_vector() {
    let Some(venv) = wheel_venv() else { return };
    let verify = |bundle: &str| {
        run(venv_gl_sign(&venv)
            .arg("verify-blob")
            .arg(vectors::artifact())
            .arg("--bundle")
            .arg(vectors::path(bundle))
            .args([
                "--certificate-identity",
                vectors::GITHUB_IDENTITY,
                "--certificate-oidc-issuer",
                vectors::GITHUB_ISSUER,
            ]))
    };
    assert_run(
        &verify("bundles/conf-happy-path-v0.3.sigstore.json"),
        0,
        &["OK "],
    );
    // And it refuses what must be refused: the embedded trust root is in the wheel's binary.
    assert_run(
        &verify("bundles/conf-signature-mismatch_fail.sigstore.json"),
        1,
        &["FAILED "],
    );
}
