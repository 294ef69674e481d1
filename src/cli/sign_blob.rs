use std::path::PathBuf;

use clap::Args;

// Debug is written by hand below: this struct holds the identity token.
#[derive(Clone, Args)]
#[command(
    after_help = "Writes FILE.sig (base64 DER signature), FILE.crt (PEM certificate) and FILE.sigstore.json \
(Sigstore bundle v0.3) for each FILE. One certificate signs all files. Files whose existing bundle already verifies \
for the token's identity are kept, so a failed run can simply be re-run.\n\nExit status: 0 all signed, 2 any failure."
)]
pub struct SignBlobArgs {
    /// Files to sign
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// OIDC identity token (a JWT, or a file holding one) [default: $SIGSTORE_ID_TOKEN]
    #[arg(
        long,
        value_name = "JWT|PATH",
        env = "SIGSTORE_ID_TOKEN",
        hide_env_values = true
    )]
    pub identity_token: Option<String>,

    /// Fulcio URL [default: https://fulcio.sigstore.dev]
    #[arg(long, value_name = "URL", env = "GL_SIGN_FULCIO_URL")]
    pub fulcio_url: Option<String>,

    /// Rekor URL [default: https://rekor.sigstore.dev]
    #[arg(long, value_name = "URL", env = "GL_SIGN_REKOR_URL")]
    pub rekor_url: Option<String>,

    /// RFC 3161 timestamp authority URL (optional)
    #[arg(long, value_name = "URL")]
    pub timestamp_server_url: Option<String>,

    /// Sigstore signing_config (v0.2) naming Fulcio, Rekor and TSA
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fulcio_url", "rekor_url", "timestamp_server_url", "staging"])]
    pub signing_config: Option<PathBuf>,

    /// trusted_root.json used to check what Fulcio and Rekor return [default: embedded public-good]
    #[arg(
        long,
        value_name = "FILE",
        env = "GL_SIGN_TRUSTED_ROOT",
        conflicts_with = "staging"
    )]
    pub trusted_root: Option<PathBuf>,

    /// Where to write the signature; only with one FILE [default: FILE.sig]
    #[arg(long, value_name = "FILE")]
    pub output_signature: Option<PathBuf>,

    /// Where to write the certificate; only with one FILE [default: FILE.crt]
    #[arg(long, value_name = "FILE")]
    pub output_certificate: Option<PathBuf>,

    /// Where to write the Sigstore bundle; only with one FILE [default: FILE.sigstore.json]
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,

    /// Directory for the default outputs [default: beside each FILE]
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// Write FILE.crt as base64 of the PEM, byte for byte like cosign's default
    #[arg(long)]
    pub b64_certificate: bool,

    /// Accepted for cosign compatibility; gl-sign never prompts
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Use the public-good staging instance and its trust root
    #[arg(long)]
    pub staging: bool,

    #[command(flatten)]
    pub output: super::OutputArgs,
}

impl std::fmt::Debug for SignBlobArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignBlobArgs")
            .field("files", &self.files)
            .field(
                "identity_token",
                &self.identity_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}
