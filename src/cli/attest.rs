use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Which statements to make about each dist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum PredicateArg {
    /// PyPI's publish attestation (https://docs.pypi.org/attestations/publish/v1)
    Publish,
    /// SLSA provenance v1 of the GitLab CI job (https://slsa.dev/provenance/v1)
    Slsa,
}

#[derive(Clone, Args)]
#[command(
    after_help = "Writes DIST.publish.attestation (and DIST.slsa.attestation with --predicate slsa): one PEP 740 \
attestation per file, in the form pypi-attestations, twine --attestations, uv publish and PyPI read. One certificate \
signs every file and predicate; entries go to a Rekor v1 log (PyPI accepts no Rekor v2 entries yet). Attestations that \
already verify for the token's identity are kept, so a failed run can simply be re-run.\n\nExit status: 0 all \
attested, 2 any failure."
)]
pub struct AttestArgs {
    /// Dists to attest (wheels, sdists)
    #[arg(required = true, value_name = "DIST")]
    pub dists: Vec<PathBuf>,

    /// Statement to make; repeat for both [default: publish]
    #[arg(long, value_enum, value_name = "publish|slsa")]
    pub predicate: Vec<PredicateArg>,

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

    /// Rekor v1 URL [default: https://rekor.sigstore.dev]
    #[arg(long, value_name = "URL", env = "GL_SIGN_REKOR_URL")]
    pub rekor_url: Option<String>,

    /// Sigstore signing_config (v0.2) naming Fulcio and a Rekor v1 log
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fulcio_url", "rekor_url", "staging"])]
    pub signing_config: Option<PathBuf>,

    /// trusted_root.json used to check what Fulcio and Rekor return [default: embedded public-good]
    #[arg(
        long,
        value_name = "FILE",
        env = "GL_SIGN_TRUSTED_ROOT",
        conflicts_with = "staging"
    )]
    pub trusted_root: Option<PathBuf>,

    /// Directory for the attestations [default: beside each DIST]
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// Accepted for cosign compatibility; gl-sign never prompts
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Use the public-good staging instance and its trust root
    #[arg(long)]
    pub staging: bool,
}

// By hand: the identity token must never be printed.
impl std::fmt::Debug for AttestArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestArgs")
            .field("dists", &self.dists)
            .field("predicate", &self.predicate)
            .field(
                "identity_token",
                &self.identity_token.as_ref().map(|_| "<redacted>"),
            )
            .field("fulcio_url", &self.fulcio_url)
            .field("rekor_url", &self.rekor_url)
            .field("signing_config", &self.signing_config)
            .field("trusted_root", &self.trusted_root)
            .field("output_dir", &self.output_dir)
            .field("staging", &self.staging)
            .finish()
    }
}
