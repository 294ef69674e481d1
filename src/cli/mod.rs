//! clap types only. Commands turn these into settings; the library never sees them.

mod attest;
mod build;
mod init;
mod inspect;
mod publish;
mod shared;
mod sign_blob;
mod trust;
mod verify_blob;

use clap::{Parser, Subcommand};

pub use attest::{AttestArgs, PredicateArg};
pub use build::BuildArgs;
pub use init::InitArgs;
pub use init::PublishTo as InitPublishTo;
pub use inspect::InspectArgs;
pub use publish::{
    ConsumerVerifyArgs, PublishArgs, PublishGenericArgs, PublishPypiArgs, PublishTarget,
    RegistryArgs,
};
pub use publish::{PypiRepository, TrustedPublishingMode};
pub use shared::{IdentityPolicyArgs, OutputArgs, OutputFormat, RekorLookupArgs, TrustArgs};
pub use sign_blob::{CosignSignBlobFlags, SignBlobArgs};
pub use trust::{TrustCommand, TrustCommandArgs, TrustShowArgs, TrustUpdateArgs, TufCacheArgs};
pub use verify_blob::{CosignVerifyArgs, VerifyBlobArgs};

/// Sign, verify and publish Python packages from GitLab CI with Sigstore.
#[derive(Debug, Parser)]
#[command(name = "gl-sign", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rewrite name, version and homepage in pyproject.toml, then build the sdist and wheel.
    Build(BuildArgs),
    /// Keyless-sign files with Sigstore: one certificate, one log entry per file.
    SignBlob(SignBlobArgs),
    /// Write the .gitlab-ci.yml that builds, signs, verifies and publishes with gl-sign.
    Init(InitArgs),
    /// Publish dists to the GitLab PyPI registry, or signatures to the generic registry.
    Publish(PublishArgs),
    /// Download a release from an index and verify every file's signature, as a user would.
    ConsumerVerify(ConsumerVerifyArgs),
    /// Verify files against Sigstore bundles or cosign signatures, offline by default.
    #[command(visible_alias = "verify")]
    VerifyBlob(VerifyBlobArgs),
    /// Update the trust root through TUF, or show the trust material in use.
    Trust(TrustCommandArgs),
    /// Explain a bundle, .sig/.crt, certificate, attestation, provenance or OIDC token (unverified).
    Inspect(InspectArgs),
    /// Make PEP 740 attestations (publish, SLSA provenance) for dists, as PyPI accepts them.
    Attest(AttestArgs),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let cli = Cli::parse_from([
            "gl-sign",
            "sign-blob",
            "--identity-token",
            "eyJSECRET-TOKEN",
            "f.whl",
        ]);
        let shown = format!("{cli:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let cli = Cli::parse_from([
            "gl-sign",
            "publish",
            "pypi",
            "--username",
            "deployer",
            "--password",
            "hunter2-SECRET",
            "f.whl",
        ]);
        let shown = format!("{cli:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("deployer"), "{shown}");
    }
}
