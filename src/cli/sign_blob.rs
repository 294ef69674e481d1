use std::path::PathBuf;

use clap::Args;

// Debug is written by hand below: this struct holds the identity token.
#[derive(Clone, Args)]
#[command(
    after_help = "Writes FILE.sig (base64 DER signature), FILE.crt (PEM certificate) and FILE.sigstore.json \
(Sigstore bundle v0.3) for each FILE. One certificate signs all files. Files whose existing bundle already verifies \
for the token's identity are kept, so a failed run can simply be re-run. Rekor v2 entries need an RFC 3161 \
timestamp authority (--timestamp-server-url or the signing config's tsaUrls).\n\nExit status: 0 all signed, 2 any failure."
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

    /// Rekor API to write: 1 (hashedrekord 0.0.1) or 2 (0.0.2, needs a timestamp authority)
    /// [default: the highest the signing config lists; 1 otherwise]
    #[arg(long, value_name = "1|2", value_parser = clap::value_parser!(u32).range(1..=2))]
    pub rekor_version: Option<u32>,

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

    #[command(flatten)]
    pub cosign: CosignSignBlobFlags,
}

/// cosign v3 `sign-blob` flags that tutorials use. Hidden: each is either
/// accepted with the same meaning or refused with the gl-sign equivalent,
/// never clap's "unexpected argument".
#[derive(Debug, Clone, Default, Args)]
pub struct CosignSignBlobFlags {
    /// cosign: write a Sigstore bundle (gl-sign always does)
    #[arg(long, hide = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub new_bundle_format: Option<String>,
    /// cosign: take the services from a signing config (the embedded one unless --signing-config)
    #[arg(long, hide = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub use_signing_config: Option<String>,
    /// cosign: log the signature in Rekor (gl-sign always does)
    #[arg(long, hide = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tlog_upload: Option<String>,
    /// cosign: base64 signature output (gl-sign always writes base64)
    #[arg(long, hide = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub b64: Option<String>,
    /// cosign: get a Fulcio certificate (gl-sign always does)
    #[arg(long, hide = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub issue_certificate: Option<String>,
    /// cosign: signing algorithm (gl-sign signs with ECDSA P-256 / SHA-256 only)
    #[arg(long, hide = true, value_name = "ALGORITHM")]
    pub signing_algorithm: Option<String>,
    // Refused: key-based signing.
    #[arg(long, hide = true, value_name = "KEY")]
    pub key: Option<String>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sk: Option<String>,
    #[arg(long, hide = true, value_name = "SLOT")]
    pub slot: Option<String>,
    // Refused: interactive OIDC flows.
    #[arg(long, hide = true, value_name = "URL")]
    pub oidc_issuer: Option<String>,
    #[arg(long, hide = true, value_name = "ID")]
    pub oidc_client_id: Option<String>,
    #[arg(long, hide = true, value_name = "FILE")]
    pub oidc_client_secret_file: Option<String>,
    #[arg(long, hide = true, value_name = "PROVIDER")]
    pub oidc_provider: Option<String>,
    #[arg(long, hide = true, value_name = "URL")]
    pub oidc_redirect_url: Option<String>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub oidc_disable_ambient_providers: Option<String>,
    #[arg(long, hide = true, value_name = "FLOW")]
    pub fulcio_auth_flow: Option<String>,
    // Refused: other outputs and TLS options gl-sign does not have.
    #[arg(long, hide = true, value_name = "FILE")]
    pub rfc3161_timestamp: Option<String>,
    #[arg(long, hide = true, value_name = "FILE")]
    pub timestamp_client_cacert: Option<String>,
    #[arg(long, hide = true, value_name = "FILE")]
    pub timestamp_client_cert: Option<String>,
    #[arg(long, hide = true, value_name = "FILE")]
    pub timestamp_client_key: Option<String>,
    #[arg(long, hide = true, value_name = "NAME")]
    pub timestamp_server_name: Option<String>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub insecure_skip_verify: Option<String>,
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
