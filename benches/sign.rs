//! Signing many files costs about as much as signing one: one Fulcio
//! certificate for the run, Rekor uploads in parallel. Measured against the
//! local Sigstore with added latency per request, as figures and ratios (never
//! as timed assertions), beside sigstore-python signing the same files against
//! the same services when it is installed (`.venv/bin/sigstore`).
//!
//! Run: `cargo bench --bench sign`.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)] // dead_code: the module allows it itself
mod support;

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{best, time, Bench, LATENCY};

fn main() {
    let bench = Bench::start();
    let (stack, trust) = (&bench.stack, &bench.trust);
    let files = |tag: &str, n| bench.wheels(tag, n, |i| format!("{tag}-{i:02}.whl"));
    let gl_sign = |files: &[PathBuf]| bench.gl_sign("sign-blob", files);
    let one = best(|run| time(gl_sign(&files(&format!("g1r{run}"), 1))));
    let twenty = best(|run| time(gl_sign(&files(&format!("g20r{run}"), 20))));
    println!(
        "sign-blob against the local Sigstore, {} ms added to every request:",
        LATENCY.as_millis()
    );
    println!(
        "  gl-sign          1 file {:>7.1} ms   20 files {:>7.1} ms   20/1 = {:.2}",
        one.as_secs_f64() * 1e3,
        twenty.as_secs_f64() * 1e3,
        twenty.as_secs_f64() / one.as_secs_f64()
    );
    let python = std::env::var_os("GL_SIGN_PYTHON_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin"))
        .join("sigstore");
    if !python.exists() {
        println!("  sigstore-python  skipped: {} not found", python.display());
        return;
    }
    let py = |files: &[PathBuf]| {
        let mut c = Command::new(&python);
        c.arg("--trust-config")
            .arg(&trust.client_trust_config)
            .args(["sign", "--identity-token", &stack.token()])
            .args(files);
        c
    };
    let py_one = best(|run| time(py(&files(&format!("p1r{run}"), 1))));
    let py_twenty = best(|run| time(py(&files(&format!("p20r{run}"), 20))));
    println!(
        "  sigstore-python  1 file {:>7.1} ms   20 files {:>7.1} ms   20/1 = {:.2}",
        py_one.as_secs_f64() * 1e3,
        py_twenty.as_secs_f64() * 1e3,
        py_twenty.as_secs_f64() / py_one.as_secs_f64()
    );
    println!(
        "  gl-sign vs sigstore-python: {:.1}x faster for 1 file, {:.1}x faster for 20 files",
        py_one.as_secs_f64() / one.as_secs_f64(),
        py_twenty.as_secs_f64() / twenty.as_secs_f64()
    );
}
