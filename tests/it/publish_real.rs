//! gl-sign's uploads checked by real PyPI tooling: pypiserver (a
//! PyPI-compatible server from PyPI) accepts them and pip installs from it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{assert_run, dists, gl_sign, python_tool, run};

pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn pypiserver_accepts_gl_sign_uploads_and_pip_installs_them() {
    let Some(bin) = python_tool("pypi-server") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let packages = dir.path().join("packages");
    std::fs::create_dir(&packages).unwrap();
    let port = free_port();
    // Uploads without authentication (-a . -P .), no fallback to pypi.org.
    let _server = Server(
        Command::new(bin.join("pypi-server"))
            .args([
                "run",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-a",
                ".",
                "-P",
                ".",
                "--disable-fallback",
            ])
            .arg(&packages)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "pypiserver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let built = dists::build(dir.path(), "gl-sign-demo", "1.2.3", "ANSWER = 42\n");
    let url = format!("http://127.0.0.1:{port}/");
    let upload = run(gl_sign()
        .args(["publish", "pypi", "--repository-url", &url])
        .arg(&built.wheel)
        .arg(&built.sdist));
    assert_run(&upload, 0, &["uploaded"]);
    assert!(packages.join(built.wheel.file_name().unwrap()).exists());
    assert_eq!(
        std::fs::read(packages.join(built.sdist.file_name().unwrap())).unwrap(),
        std::fs::read(&built.sdist).unwrap()
    );

    // pip installs what was published, and it works.
    let target = dir.path().join("site");
    let pip = Command::new(bin.join("pip"))
        .args([
            "install",
            "--no-deps",
            "--disable-pip-version-check",
            "--index-url",
            &format!("http://127.0.0.1:{port}/simple/"),
            "--target",
        ])
        .arg(&target)
        .arg("gl-sign-demo==1.2.3")
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "pip install failed:\n{}",
        String::from_utf8_lossy(&pip.stderr)
    );
    let python = Command::new(bin.join("python"))
        .env("PYTHONPATH", &target)
        .args(["-c", "import gl_sign_demo; print(gl_sign_demo.ANSWER)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&python.stdout).trim(), "42");

    // Re-publishing the same files is recognised, not an error.
    let again = run(gl_sign()
        .args([
            "publish",
            "pypi",
            "--skip-existing",
            "--repository-url",
            &url,
        ])
        .arg(&built.wheel));
    assert_run(&again, 0, &["skipped"]);
}

#[test]
fn non_dists_and_unreadable_metadata_are_refused_before_any_upload() {
    let dir = tempfile::tempdir().unwrap();
    let built = dists::build(dir.path(), "demo", "1.0", "");
    let sig = dir.path().join("demo-1.0-py3-none-any.whl.sig");
    std::fs::write(&sig, "AAAA").unwrap();
    // Nothing listens here: reaching the network would fail differently.
    let url = format!("http://127.0.0.1:{}/", free_port());
    let result = run(gl_sign()
        .args(["publish", "pypi", "--repository-url", &url])
        .arg(&built.wheel)
        .arg(&sig));
    assert_run(
        &result,
        2,
        &["demo-1.0-py3-none-any.whl.sig is not a Python distribution"],
    );
    let broken = dir.path().join("broken-1.0-py3-none-any.whl");
    std::fs::write(&broken, b"PK not really").unwrap();
    let result = run(gl_sign()
        .args(["publish", "pypi", "--repository-url", &url])
        .arg(&broken));
    assert_run(&result, 2, &["cannot read the metadata of"]);
}

#[test]
fn generic_names_and_versions_are_checked_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pkg-1.0-py3-none-any.whl.sig");
    std::fs::write(&file, "AAAA").unwrap();
    // Nothing listens here: a request would fail differently.
    let url = format!(
        "http://127.0.0.1:{}/api/v4/projects/1/packages/generic",
        free_port()
    );
    for (package, version, message) in [
        (
            "bad/name",
            "1.0",
            "package name \"bad/name\" is not allowed",
        ),
        ("pkg", "..1.0", "package version \"..1.0\" is not allowed"),
    ] {
        let result = run(gl_sign()
            .args([
                "publish",
                "generic",
                "--url",
                &url,
                "--package",
                package,
                "--package-version",
                version,
            ])
            .arg(&file));
        assert_run(
            &result,
            2,
            &[message, "hint: use letters, digits and . _ - + only"],
        );
    }
    let odd = dir.path().join("bad name.sig");
    std::fs::write(&odd, "AAAA").unwrap();
    let result = run(gl_sign()
        .args([
            "publish",
            "generic",
            "--url",
            &url,
            "--package",
            "pkg",
            "--package-version",
            "1.0",
        ])
        .arg(&odd));
    assert_run(&result, 2, &["file name \"bad name.sig\" is not allowed"]);
}
