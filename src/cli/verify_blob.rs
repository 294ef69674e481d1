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
    /// Files to verify
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Sigstore bundle (v0.1-v0.3) or cosign legacy bundle; only with one FILE
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,

    /// Detached signature (base64 of DER, as cosign writes); only with one FILE
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,

    /// Signing certificate (PEM or base64 of PEM); only with one FILE
    #[arg(long, value_name = "FILE")]
    pub certificate: Option<PathBuf>,

    /// PEP 740 attestation (pypi-attestations JSON) for the one FILE [default: FILE.publish.attestation
    /// when no other evidence is beside it]
    #[arg(long, value_name = "FILE", conflicts_with_all = ["bundle", "signature", "certificate"])]
    pub attestation: Option<PathBuf>,

    /// Accept a DSSE (in-toto) bundle as an attestation of this predicate type about FILE; its subject
    /// must carry FILE's name and sha256 (cosign verify-blob-attestation --type)
    #[arg(long = "type", value_name = "PREDICATE-URI")]
    pub predicate_type: Option<String>,

    #[command(flatten)]
    pub identity: IdentityPolicyArgs,

    #[command(flatten)]
    pub trust: TrustArgs,

    #[command(flatten)]
    pub rekor: RekorLookupArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}
