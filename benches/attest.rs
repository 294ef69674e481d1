//! Attesting many dists costs about as much as attesting one: one Fulcio
//! certificate for every dist and predicate, Rekor dsse uploads in parallel.
//! Measured against the local Sigstore with added latency per request, as
//! figures and a ratio (target: 20 dists <= 1.5x one dist), never as a timed
//! assertion.
//!
//! Run: `cargo bench --bench attest`.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)] // dead_code: the module allows it itself
mod support;

mod common;

use std::path::PathBuf;

use common::{best, time, Bench, LATENCY};

fn main() {
    let bench = Bench::start();
    let dists =
        |tag: &str, n| bench.wheels(tag, n, |i| format!("bench_{tag}-1.0.{i}-py3-none-any.whl"));
    let attest = |files: &[PathBuf], predicates: &[&str]| {
        let mut c = bench.gl_sign("attest", files);
        for p in predicates {
            c.args(["--predicate", p]);
        }
        c
    };
    println!(
        "attest against the local Sigstore, {} ms added to every request:",
        LATENCY.as_millis()
    );
    let one = best(|run| time(attest(&dists(&format!("a1r{run}"), 1), &["publish"])));
    let twenty = best(|run| time(attest(&dists(&format!("a20r{run}"), 20), &["publish"])));
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
