use std::path::PathBuf;

use clap::Args;

use super::{IdentityPolicyArgs, OutputArgs, RekorLookupArgs, TrustArgs};

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Evidence per FILE when no --bundle/--signature is given: FILE.sigstore.json, else \
FILE.sigstore, else FILE.sig + FILE.crt.\n\nExit status: 0 every file verified, 1 a signature was rejected, \
2 usage error, unreadable or malformed input, network failure."
)]
pub struct VerifyBlobArgs {
    /// Files to verify, or sha256:<64 hex> to verify a digest (needs --bundle, or --key with --signature)
    #[arg(required_unless_present = "digest", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Verify against this digest instead of a file: sha256:<64 hex>
    #[arg(long, value_name = "sha256:HEX", conflicts_with = "files")]
    pub digest: Option<String>,

    /// PEM public key (ECDSA P-256/P-384, Ed25519, RSA): verify a managed-key signature, as cosign verify-blob --key
    #[arg(long, value_name = "FILE", conflicts_with = "certificate")]
    pub key: Option<PathBuf>,

    /// With --key: accept a .sig that is in no transparency log (cosign's flag); the verdict says so
    #[arg(long, requires = "key")]
    pub insecure_ignore_tlog: bool,

    /// Sigstore bundle (v0.1-v0.3) or cosign legacy bundle; only with one FILE
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,

    /// Detached signature (base64 of DER, as cosign writes); only with one FILE
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,

    /// Signing certificate (PEM or base64 of PEM); only with one FILE
    #[arg(long, value_name = "FILE")]
    pub certificate: Option<PathBuf>,

    #[command(flatten)]
    pub identity: IdentityPolicyArgs,

    #[command(flatten)]
    pub trust: TrustArgs,

    #[command(flatten)]
    pub rekor: RekorLookupArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub cosign: CosignVerifyArgs,
}

/// cosign v3 `verify-blob` flags that tutorials use: accepted where gl-sign
/// means the same, otherwise parsed only to be refused with the gl-sign
/// equivalent (never clap's "unexpected argument").
#[derive(Debug, Clone, Args)]
pub struct CosignVerifyArgs {
    /// Accepted for cosign compatibility: gl-sign reads Sigstore and legacy cosign bundles alike
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "cosign compatibility")]
    pub new_bundle_format: Option<bool>,

    /// Require an RFC 3161 signed timestamp, as cosign (timestamps a bundle carries are always verified)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", help_heading = "cosign compatibility")]
    pub use_signed_timestamps: Option<bool>,

    /// How many files to verify at once [default: one per CPU]
    #[arg(long, value_name = "N", help_heading = "cosign compatibility")]
    pub max_workers: Option<usize>,

    /// Accepted only as sha256, cosign's default: the key and bundle decide the digest
    #[arg(long, value_name = "ALG", help_heading = "cosign compatibility")]
    pub signature_digest_algorithm: Option<String>,

    // Refused, each with the gl-sign equivalent (see commands::verify_blob).
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub insecure_ignore_sct: Option<bool>,
    #[arg(long, hide = true)]
    pub certificate_chain: Option<String>,
    #[arg(long, hide = true)]
    pub ca_roots: Option<String>,
    #[arg(long, hide = true)]
    pub ca_intermediates: Option<String>,
    #[arg(long, hide = true)]
    pub sct: Option<String>,
    #[arg(long, hide = true)]
    pub timestamp_certificate_chain: Option<String>,
    #[arg(long, hide = true)]
    pub rfc3161_timestamp: Option<String>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub private_infrastructure: Option<bool>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub experimental_oci11: Option<bool>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sk: Option<bool>,
    #[arg(long, hide = true)]
    pub slot: Option<String>,
    #[arg(long, hide = true)]
    pub certificate_github_workflow_trigger: Option<String>,
    #[arg(long, hide = true)]
    pub certificate_github_workflow_sha: Option<String>,
    #[arg(long, hide = true)]
    pub certificate_github_workflow_name: Option<String>,
    #[arg(long, hide = true)]
    pub certificate_github_workflow_repository: Option<String>,
    #[arg(long, hide = true)]
    pub certificate_github_workflow_ref: Option<String>,
}
