//! Attesting many dists costs about as much as attesting one: one Fulcio
//! certificate for every dist and predicate, Rekor dsse uploads in parallel.
//! Measured against the local Sigstore with added latency per request, as
//! figures and a ratio (target: 20 dists <= 1.5x one dist), never as a timed
//! assertion.
//!
//! Run: `cargo bench --bench attest`.

#[path = "../tests/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::sigstore_stack::LocalSigstore;

const LATENCY: Duration = Duration::from_millis(50);

fn dists(dir: &Path, tag: &str, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let f = dir.join(format!("bench_{tag}-1.0.{i}-py3-none-any.whl"));
            std::fs::write(&f, format!("{tag} wheel {i}").repeat(1000)).unwrap();
            f
        })
        .collect()
}

fn time(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn best(mut f: impl FnMut(usize) -> Duration) -> Duration {
    (0..3).map(&mut f).min().unwrap()
}

fn main() {
    let stack = LocalSigstore::start();
    for service in [stack.oidc(), stack.fulcio(), stack.rekor()] {
        service.set_latency(LATENCY);
    }
    let dir = tempfile::tempdir().unwrap();
    let trust = stack.write_trust_files(dir.path());
    let attest = |files: &[PathBuf], predicates: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gl-sign"));
        c.arg("attest")
            .args(files)
            .env("SIGSTORE_ID_TOKEN", stack.token())
            .args([
                "--fulcio-url",
                stack.fulcio_url(),
                "--rekor-url",
                stack.rekor_url(),
            ])
            .arg("--trusted-root")
            .arg(&trust.trusted_root);
        for p in predicates {
            c.args(["--predicate", p]);
        }
        c
    };
    println!(
        "attest against the local Sigstore, {} ms added to every request:",
        LATENCY.as_millis()
    );
    let one = best(|run| {
        time(attest(
            &dists(dir.path(), &format!("a1r{run}"), 1),
            &["publish"],
        ))
    });
    let twenty = best(|run| {
        time(attest(
            &dists(dir.path(), &format!("a20r{run}"), 20),
            &["publish"],
        ))
    });
    let ratio = twenty.as_secs_f64() / one.as_secs_f64();
    println!(
        "  publish          1 dist {:>7.1} ms   20 dists {:>7.1} ms   20/1 = {ratio:.2} (target <= 1.50: {})",
        one.as_secs_f64() * 1e3,
        twenty.as_secs_f64() * 1e3,
        if ratio <= 1.5 { "met" } else { "NOT met" }
    );
    println!(
        "  {:.1} ms per extra dist",
        (twenty.as_secs_f64() - one.as_secs_f64()) * 1e3 / 19.0
    );
}
