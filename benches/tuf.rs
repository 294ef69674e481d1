//! `trust update` when nothing changed (issue 11: under 100 ms), against the
//! local TUF repository, as figures beside references measured in the same
//! run (never as timed assertions):
//!
//! 1. In process: `TufCache::update` (next-root probe + one timestamp fetch,
//!    cache copied and swapped in) against one loopback HTTP GET of
//!    `timestamp.json` with the same client.
//!    Beside it, the offline verification of the cache that every
//!    verify-blob without `--trusted-root` runs.
//! 2. The whole command, `gl-sign trust update`, against `gl-sign --version`
//!    (process start alone).
//!
//! Run: `cargo bench --bench tuf` (GL_SIGN_BENCH_RUNS=N to change 30).

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)] // dead_code: the module allows it itself
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use gl_sign::http::{sigstore_client, HttpSettings};
use gl_sign::tuf::{Mirror, TufCache};
use support::sigstore_stack::LocalSigstore;
use support::tuf_repo::TufRepo;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let runs: usize = std::env::var("GL_SIGN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let stack = LocalSigstore::start();
    let repo = TufRepo::start(&stack.trusted_root_json(), &stack.signing_config_json());
    let dir = tempfile::tempdir().unwrap();
    let root = repo.write_first_root(dir.path());
    let cache_dir = dir.path().join("cache");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = sigstore_client(&HttpSettings::default()).unwrap();
    let cache = TufCache::new(&cache_dir);
    let now = jiff::Timestamp::now();
    runtime
        .block_on(cache.initialise(repo.url(), Some(&root), client.clone(), now))
        .expect("initialise");
    let mirror = Mirror::at(repo.url());

    // 1. In process.
    let timestamp_url = format!("{}/timestamp.json", repo.url());
    let mut get = Vec::new();
    let mut update = Vec::new();
    let mut requests = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let body = runtime.block_on(async {
            client
                .get(&timestamp_url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        });
        get.push(start.elapsed());
        assert!(!body.is_empty());

        let start = Instant::now();
        let report = runtime
            .block_on(cache.update(&mirror, client.clone(), jiff::Timestamp::now()))
            .expect("update");
        update.push(start.elapsed());
        assert!(!report.changed);
        requests = report.fetched.len();
    }
    let mut load = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        runtime
            .block_on(cache.load(&mirror, jiff::Timestamp::now()))
            .expect("load");
        load.push(start.elapsed());
    }
    let load = median(load);
    let (get, update) = (median(get), median(update));
    println!("trust update, nothing changed, median of {runs} (loopback):");
    println!(
        "  in process: update {:.2} ms ({requests} requests: next root, timestamp) vs one HTTP GET {:.2} ms = {:.1}x",
        ms(update),
        ms(get),
        ms(update) / ms(get)
    );
    println!(
        "  in process: verifying the cache offline (what verify-blob pays to use it) {:.2} ms",
        ms(load)
    );

    // 2. The whole command.
    let bin = env!("CARGO_BIN_EXE_gl-sign");
    let mut command = Vec::new();
    let mut start_only = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let out = Command::new(bin)
            .args(["trust", "update"])
            .env("GL_SIGN_TUF_CACHE", &cache_dir)
            .output()
            .unwrap();
        command.push(start.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let start = Instant::now();
        let out = Command::new(bin).arg("--version").output().unwrap();
        start_only.push(start.elapsed());
        assert!(out.status.success());
    }
    let (command, start_only) = (median(command), median(start_only));
    println!(
        "  gl-sign trust update: {:.2} ms vs gl-sign --version {:.2} ms (process start); target < 100 ms: {}",
        ms(command),
        ms(start_only),
        if ms(command) < 100.0 { "met" } else { "NOT met" }
    );
}
