//! Upload and download throughput of a large dist against the local GitLab
//! registry, with peak memory, as figures and ratios (never timed assertions):
//! `gl-sign publish pypi` of a 1 GiB wheel, then `gl-sign consumer-verify`
//! downloading it (and checking its hash and signature). A 64 MiB wheel gives
//! the memory baseline: streaming means the peak does not grow with size.
//!
//! Run: `cargo bench --bench registry`.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)] // dead_code: the module allows it itself
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::gitlab_registry::LocalGitLab;
use support::sigstore_stack::LocalSigstore;

struct Measured {
    wall: Duration,
    max_rss_kib: i64,
}

fn measure(cmd: &mut Command) -> Measured {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let (mut status, mut usage): (i32, libc::rusage) = (0, unsafe { std::mem::zeroed() });
    // SAFETY: pid is our unreaped child; status and usage are valid out-pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(waited, pid);
    std::mem::forget(child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed"
    );
    Measured {
        wall,
        max_rss_kib: usage.ru_maxrss,
    }
}

/// A wheel whose payload is `size` bytes of pseudo-random data, stored uncompressed.
fn big_wheel(dir: &Path, version: &str, size: usize) -> PathBuf {
    let path = dir.join(format!("big_demo-{version}-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    zip.start_file("big_demo/data.bin", stored).unwrap();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..size / chunk.len() {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        zip.write_all(&chunk).unwrap();
    }
    let info = format!("big_demo-{version}.dist-info");
    for (name, text) in [
        (format!("{info}/METADATA"), format!("Metadata-Version: 2.1\nName: big-demo\nVersion: {version}\nRequires-Python: >=3.8\n")),
        (format!("{info}/WHEEL"), "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n".into()),
        (format!("{info}/RECORD"), String::new()),
    ] {
        zip.start_file(name, stored).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    path
}

fn main() {
    let sigstore = LocalSigstore::start();
    let gitlab = LocalGitLab::start();
    let project = gitlab.project_id();
    let dir = tempfile::tempdir().unwrap();
    let trust = sigstore.write_trust_files(dir.path());
    let gl_sign = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gl-sign"));
        c.env("GITLAB_CI", "true")
            .env("CI_API_V4_URL", gitlab.api_url())
            .env("CI_PROJECT_ID", project.to_string())
            .env("CI_PROJECT_NAME", "big-demo")
            .env("CI_JOB_TOKEN", gitlab.job_token());
        c
    };
    println!("publish pypi / consumer-verify against the local GitLab registry (loopback):");
    let mut baseline = (0, 0);
    for (label, size, version) in [
        ("64 MiB", 64usize << 20, "0.1.0"),
        ("1 GiB", 1usize << 30, "1.0.0"),
    ] {
        let wheel = big_wheel(dir.path(), version, size);
        let bytes = std::fs::metadata(&wheel).unwrap().len() as f64;
        let sign = Command::new(env!("CARGO_BIN_EXE_gl-sign"))
            .arg("sign-blob")
            .arg(&wheel)
            .env("SIGSTORE_ID_TOKEN", sigstore.token())
            .args([
                "--fulcio-url",
                sigstore.fulcio_url(),
                "--rekor-url",
                sigstore.rekor_url(),
            ])
            .arg("--trusted-root")
            .arg(&trust.trusted_root)
            .output()
            .unwrap();
        assert!(sign.status.success());
        let upload = measure(gl_sign().args(["publish", "pypi"]).arg(&wheel));
        let mut bundle = wheel.clone().into_os_string();
        bundle.push(".sigstore.json");
        measure(gl_sign().args(["publish", "generic"]).arg(&bundle));
        let dest = dir.path().join(format!("dest-{version}"));
        let download = measure(
            gl_sign()
                .args([
                    "consumer-verify",
                    &format!("big-demo=={version}"),
                    "--trusted-root",
                ])
                .arg(&trust.trusted_root)
                .args([
                    "--gitlab-url",
                    sigstore.issuer_url(),
                    "--gitlab-project",
                    "group/proj",
                    "--dest",
                ])
                .arg(&dest),
        );
        let reference = measure(Command::new("sha256sum").arg(&wheel));
        let mib_s = |d: Duration| bytes / d.as_secs_f64() / (1u64 << 20) as f64;
        println!(
            "  {label:>6}: upload {:>6.2} s ({:>5.0} MiB/s, peak RSS {:>5.1} MiB)   download+verify {:>6.2} s ({:>5.0} MiB/s, peak RSS {:>5.1} MiB)   sha256sum {:.2} s ({:.0} MiB/s)",
            upload.wall.as_secs_f64(),
            mib_s(upload.wall),
            upload.max_rss_kib as f64 / 1024.0,
            download.wall.as_secs_f64(),
            mib_s(download.wall),
            download.max_rss_kib as f64 / 1024.0,
            reference.wall.as_secs_f64(),
            mib_s(reference.wall),
        );
        if size == 64 << 20 {
            baseline = (upload.max_rss_kib, download.max_rss_kib);
        } else {
            println!(
                "  peak RSS 1 GiB / 64 MiB: upload {:.2}, download {:.2} (streaming: does not grow with size)",
                upload.max_rss_kib as f64 / baseline.0 as f64,
                download.max_rss_kib as f64 / baseline.1 as f64
            );
        }
        std::fs::remove_dir_all(&dest).ok();
        std::fs::remove_file(&wheel).ok();
    }
}
