//! `gl-sign trust update|show`: the TUF-updated trust root (issue 11).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::OutputArgs;

#[derive(Debug, Clone, Args)]
pub struct TrustCommandArgs {
    #[command(subcommand)]
    pub command: TrustCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TrustCommand {
    /// Refresh trusted_root.json and the signing config through TUF into the cache.
    Update(TrustUpdateArgs),
    /// Show the trust material in use, where it came from, and what it trusts.
    Show(TrustShowArgs),
}

/// Where the TUF cache lives.
#[derive(Debug, Clone, Args)]
pub struct TufCacheArgs {
    /// TUF cache directory, one subdirectory per repository [default: $XDG_CACHE_HOME/gl-sign/tuf]
    #[arg(long, value_name = "DIR", env = "GL_SIGN_TUF_CACHE")]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Without --mirror, updates the repository chosen by the last --mirror (default: the \
public-good one, whose root.json is embedded). An update that fails verification leaves the cache \
as it was.\n\nExit status: 0 updated (or already current), 2 usage error, network failure or a \
TUF check failed."
)]
pub struct TrustUpdateArgs {
    /// Initialise this TUF repository (a private Sigstore) and use it from now on
    #[arg(long, value_name = "URL", conflicts_with = "staging")]
    pub mirror: Option<String>,

    /// The repository's trusted root.json, for --mirror (as cosign initialize --root)
    #[arg(long, value_name = "FILE", requires = "mirror")]
    pub root: Option<PathBuf>,

    /// Update the public-good staging repository instead
    #[arg(long)]
    pub staging: bool,

    #[command(flatten)]
    pub cache: TufCacheArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TrustShowArgs {
    /// Show the staging trust material instead
    #[arg(long, conflicts_with = "trusted_root")]
    pub staging: bool,

    /// Show this trusted_root.json instead of the one in use
    #[arg(long, value_name = "FILE", env = "GL_SIGN_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,

    #[command(flatten)]
    pub cache: TufCacheArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}
