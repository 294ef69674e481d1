//! What the signing benches share (benches/sign.rs, benches/attest.rs): the
//! local Sigstore with latency added to every request, wheels to sign, and
//! the best of three timed runs.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::sigstore_stack::{LocalSigstore, TrustFiles};

/// Added to every request of the local OIDC issuer, Fulcio and Rekor.
pub const LATENCY: Duration = Duration::from_millis(50);

pub struct Bench {
    pub stack: LocalSigstore,
    pub dir: tempfile::TempDir,
    pub trust: TrustFiles,
}

impl Bench {
    /// The local Sigstore with [`LATENCY`], its trust files in a scratch directory.
    pub fn start() -> Self {
        let stack = LocalSigstore::start();
        for service in [stack.oidc(), stack.fulcio(), stack.rekor()] {
            service.set_latency(LATENCY);
        }
        let dir = tempfile::tempdir().unwrap();
        let trust = stack.write_trust_files(dir.path());
        Bench { stack, dir, trust }
    }

    /// `n` wheels in the scratch directory, wheel `i` named `name(i)`.
    pub fn wheels(&self, tag: &str, n: usize, name: impl Fn(usize) -> String) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let f = self.dir.path().join(name(i));
                std::fs::write(&f, format!("{tag} wheel {i}").repeat(1000)).unwrap();
                f
            })
            .collect()
    }

    /// `gl-sign SUBCOMMAND FILES` against the local Fulcio and Rekor, with
    /// the stack's token and trusted root.
    pub fn gl_sign(&self, subcommand: &str, files: &[PathBuf]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gl-sign"));
        c.arg(subcommand)
            .args(files)
            .env("SIGSTORE_ID_TOKEN", self.stack.token())
            .args([
                "--fulcio-url",
                self.stack.fulcio_url(),
                "--rekor-url",
                self.stack.rekor_url(),
            ])
            .arg("--trusted-root")
            .arg(&self.trust.trusted_root);
        c
    }
}

/// Wall time of a run that must succeed.
pub fn time(mut cmd: Command) -> Duration {
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

/// The fastest of three runs (`f` gets the run's number, for fresh file names).
pub fn best(mut f: impl FnMut(usize) -> Duration) -> Duration {
    (0..3).map(&mut f).min().unwrap()
}
