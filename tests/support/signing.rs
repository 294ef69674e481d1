//! What the sign-blob tests share (tests/it/sign_stack.rs, sign_v2.rs): a
//! local Sigstore, its trust files and the files to sign in one scratch
//! directory, the gl-sign runs against it, and sigstore-python on the same
//! files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::sigstore_stack::{LocalSigstore, TrustFiles};
use super::{gl_sign, run, with_suffix, Run};

pub struct SigningSetup {
    pub stack: LocalSigstore,
    pub dir: tempfile::TempDir,
    pub trust: TrustFiles,
    pub files: Vec<PathBuf>,
}

impl SigningSetup {
    /// A local Sigstore and `n` files, file `i` named and filled by `file(i)`,
    /// beside the trust files.
    pub fn start(n: usize, file: impl Fn(usize) -> (String, String)) -> Self {
        let stack = LocalSigstore::start();
        let dir = tempfile::tempdir().unwrap();
        let trust = stack.write_trust_files(dir.path());
        let files = (0..n)
            .map(|i| {
                let (name, contents) = file(i);
                let f = dir.path().join(name);
                std::fs::write(&f, contents).unwrap();
                f
            })
            .collect();
        SigningSetup {
            stack,
            dir,
            trust,
            files,
        }
    }

    /// The identity the local Fulcio certifies for the stack's token.
    pub fn identity(&self) -> String {
        self.stack.identity_for(&self.stack.gitlab_claims())
    }

    /// `sign-blob FILES` with `token` and the trusted root; the services and
    /// everything else from `args` (never from GL_SIGN_FULCIO_URL / _REKOR_URL).
    pub fn sign_blob(&self, token: &str, files: &[PathBuf], args: &[&str]) -> Run {
        run(gl_sign()
            .arg("sign-blob")
            .args(files)
            .env("SIGSTORE_ID_TOKEN", token)
            .env_remove("GL_SIGN_FULCIO_URL")
            .env_remove("GL_SIGN_REKOR_URL")
            .arg("--trusted-root")
            .arg(&self.trust.trusted_root)
            .args(args))
    }

    /// [`Self::sign_blob`] of every file with the stack's token.
    pub fn sign(&self, args: &[&str]) -> Run {
        self.sign_blob(&self.stack.token(), &self.files, args)
    }

    /// The flags that name the local Fulcio and Rekor v1.
    pub fn local_services(&self) -> [&str; 4] {
        [
            "--fulcio-url",
            self.stack.fulcio_url(),
            "--rekor-url",
            self.stack.rekor_url(),
        ]
    }

    /// [`Self::sign`] against the local Fulcio and Rekor v1, then `extra`.
    pub fn sign_local(&self, extra: &[&str]) -> Run {
        self.sign(&[&self.local_services()[..], extra].concat())
    }

    /// `verify-blob FILES` with the trusted root and the given identity and issuer.
    pub fn verify_as(
        &self,
        files: &[PathBuf],
        identity: &str,
        issuer: &str,
        extra: &[&str],
    ) -> Run {
        run(gl_sign()
            .arg("verify-blob")
            .args(files)
            .arg("--trusted-root")
            .arg(&self.trust.trusted_root)
            .args([
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                issuer,
            ])
            .args(extra))
    }

    /// [`Self::verify_as`] the stack's signer.
    pub fn verify(&self, files: &[PathBuf], extra: &[&str]) -> Run {
        self.verify_as(files, &self.identity(), self.stack.issuer_url(), extra)
    }

    /// Which of FILE.sig, FILE.crt and FILE.sigstore.json exist.
    pub fn outputs_exist(file: &Path) -> [bool; 3] {
        [".sig", ".crt", ".sigstore.json"].map(|s| with_suffix(file, s).exists())
    }

    /// No file has any of its outputs.
    pub fn nothing_written(&self) -> bool {
        self.files
            .iter()
            .all(|f| Self::outputs_exist(f) == [false; 3])
    }

    /// `sigstore verify identity --offline` with `trust_config`; whether it
    /// verified, and what it said.
    pub fn python_verify(
        &self,
        python: &Path,
        trust_config: &Path,
        identity: &str,
        files: &[PathBuf],
    ) -> (bool, String) {
        let out = Command::new(python)
            .arg("--trust-config")
            .arg(trust_config)
            .args([
                "verify",
                "identity",
                "--offline",
                "--cert-identity",
                identity,
                "--cert-oidc-issuer",
                self.stack.issuer_url(),
            ])
            .args(files)
            .output()
            .unwrap();
        super::outcome(&out)
    }

    /// `sigstore sign` of `file` with the stack's token and `trust_config`.
    pub fn python_sign(&self, python: &Path, trust_config: &Path, file: &Path) -> Output {
        Command::new(python)
            .arg("--trust-config")
            .arg(trust_config)
            .args(["sign", "--identity-token", &self.stack.token()])
            .arg(file)
            .output()
            .unwrap()
    }
}
