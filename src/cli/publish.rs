use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{IdentityPolicyArgs, OutputArgs, RekorLookupArgs, TrustArgs};

/// Registry credentials. In a GitLab CI job none are needed: the job token is used.
// Debug is written by hand below: this struct holds a password and a token.
#[derive(Clone, Args)]
pub struct RegistryArgs {
    /// Username for HTTP Basic (with --password), e.g. a deploy token's username
    #[arg(
        long,
        env = "GL_SIGN_USERNAME",
        requires = "password",
        help_heading = "Registry credentials"
    )]
    pub username: Option<String>,
    /// Password for HTTP Basic
    #[arg(
        long,
        env = "GL_SIGN_PASSWORD",
        hide_env_values = true,
        requires = "username",
        help_heading = "Registry credentials"
    )]
    pub password: Option<String>,
    /// Personal, project or group access token
    #[arg(
        long,
        env = "GL_SIGN_TOKEN",
        hide_env_values = true,
        conflicts_with = "username",
        help_heading = "Registry credentials"
    )]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    #[command(subcommand)]
    pub target: PublishTarget,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PublishTarget {
    /// Upload wheels and sdists to the GitLab PyPI registry (or any legacy-upload index).
    Pypi(PublishPypiArgs),
    /// Upload files (signatures, certificates, bundles) to the GitLab generic registry.
    Generic(PublishGenericArgs),
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "Exit status: 0 every file is on the registry, 2 any failure.")]
pub struct PublishPypiArgs {
    /// Wheels and sdists to upload
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Upload URL [default: ${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/packages/pypi]
    #[arg(long, value_name = "URL")]
    pub repository_url: Option<String>,
    /// Upload to PyPI or TestPyPI instead of the GitLab registry
    #[arg(long, value_enum, conflicts_with = "repository_url")]
    pub repository: Option<PypiRepository>,
    /// Exchange a GitLab ID token for a PyPI token (auto: when no credentials are given and an ID token is present)
    #[arg(long, value_enum, default_value = "auto", value_name = "MODE")]
    pub trusted_publishing: TrustedPublishingMode,
    /// GitLab ID token for trusted publishing (a JWT, or a file holding one) [default: $PYPI_ID_TOKEN / $TESTPYPI_ID_TOKEN, after the index's audience]
    #[arg(long, value_name = "JWT|FILE")]
    pub identity_token: Option<String>,
    /// Do not send the DIST.*.attestation files beside each dist with a trusted-publishing upload
    #[arg(long)]
    pub no_attestations: bool,
    /// Skip files the index already lists with the same sha256 (a different hash is an error)
    #[arg(long)]
    pub skip_existing: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// A public index known by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PypiRepository {
    /// https://upload.pypi.org/legacy/
    Pypi,
    /// https://test.pypi.org/legacy/
    Testpypi,
}

/// When to use trusted publishing (uv's spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrustedPublishingMode {
    /// When no credentials are given and a GitLab ID token is present
    #[value(alias = "automatic")]
    Auto,
    /// Always; fail if it cannot be used
    Always,
    /// Never
    Never,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "Exit status: 0 every file is on the registry, 2 any failure.")]
pub struct PublishGenericArgs {
    /// Files to upload
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Generic package name [default: $CI_PROJECT_NAME]
    #[arg(long, value_name = "NAME")]
    pub package: Option<String>,
    /// Package version [default: the version in the files' dist names, else $CI_COMMIT_TAG without a leading v]
    #[arg(long, value_name = "VERSION")]
    pub package_version: Option<String>,
    /// Generic registry URL [default: ${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/packages/generic]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Exit status: 0 every file of the release verified, 1 a file was rejected or has no \
signature, 2 usage error, unreadable input, network failure."
)]
pub struct ConsumerVerifyArgs {
    /// The release, as NAME==VERSION
    #[arg(value_name = "NAME==VERSION")]
    pub requirement: String,
    /// Simple index root [default: ${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/packages/pypi/simple]
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// Generic registry with the signatures [default: ${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/packages/generic]
    #[arg(long, value_name = "URL")]
    pub generic_url: Option<String>,
    /// Generic package holding the signatures [default: $CI_PROJECT_NAME, else NAME]
    #[arg(long, value_name = "NAME")]
    pub package: Option<String>,
    /// Keep the verified files in this directory
    #[arg(long, value_name = "DIR")]
    pub dest: Option<PathBuf>,
    /// With --gitlab-project and no --gitlab-ref, also accept signatures from
    /// branch pipelines [default: tag pipelines only, since a release is a tag]
    #[arg(long, conflicts_with = "gitlab_ref", help_heading = "Identity")]
    pub allow_branch_signatures: bool,
    /// Verify each file's PEP 740 provenance from the index (its provenance link, else its
    /// Integrity API) instead of signatures from a generic registry
    #[arg(long, conflicts_with_all = ["generic_url", "package"])]
    pub provenance: bool,
    #[command(flatten)]
    pub identity: IdentityPolicyArgs,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub rekor: RekorLookupArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl std::fmt::Debug for RegistryArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("RegistryArgs")
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("token", &redacted(&self.token))
            .finish()
    }
}
