//! Flag groups shared by several subcommands, each with its defaults beside it.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Which Sigstore trust root to verify against.
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// Sigstore trusted_root.json [default: the embedded public-good root]
    #[arg(
        long,
        value_name = "FILE",
        env = "GL_SIGN_TRUSTED_ROOT",
        conflicts_with = "staging"
    )]
    pub trusted_root: Option<PathBuf>,

    /// Use the embedded public-good staging trust root
    #[arg(long)]
    pub staging: bool,
}

/// Who must have signed. One identity and one issuer form are required, or
/// `--gitlab-project`, which derives both the way Fulcio does.
#[derive(Debug, Clone, Args)]
pub struct IdentityPolicyArgs {
    /// Expected certificate identity (SAN), exact match
    #[arg(long, value_name = "SAN", help_heading = "Identity")]
    pub certificate_identity: Option<String>,

    /// Expected certificate identity, as a regular expression matching the whole value
    #[arg(
        long,
        value_name = "RE",
        conflicts_with = "certificate_identity",
        help_heading = "Identity"
    )]
    pub certificate_identity_regexp: Option<String>,

    /// Expected OIDC issuer (Fulcio extension .1.8, else .1.1), exact match
    #[arg(long, value_name = "URL", help_heading = "Identity")]
    pub certificate_oidc_issuer: Option<String>,

    /// Expected OIDC issuer, as a regular expression matching the whole value
    #[arg(
        long,
        value_name = "RE",
        conflicts_with = "certificate_oidc_issuer",
        help_heading = "Identity"
    )]
    pub certificate_oidc_issuer_regexp: Option<String>,

    /// GitLab project path (group/project) whose CI signed; derives identity and issuer
    #[arg(
        long,
        value_name = "GROUP/PROJECT",
        conflicts_with_all = ["certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer", "certificate_oidc_issuer_regexp"],
        help_heading = "GitLab identity"
    )]
    pub gitlab_project: Option<String>,

    /// Ref of the signing pipeline, refs/heads/NAME or refs/tags/NAME [default: any branch or tag]
    #[arg(
        long,
        value_name = "REF",
        requires = "gitlab_project",
        help_heading = "GitLab identity"
    )]
    pub gitlab_ref: Option<String>,

    /// CI configuration path of the signing project [default: .gitlab-ci.yml]
    #[arg(
        long,
        value_name = "PATH",
        requires = "gitlab_project",
        help_heading = "GitLab identity"
    )]
    pub gitlab_config_path: Option<String>,

    /// GitLab instance URL, which is also the OIDC issuer [default: https://gitlab.com]
    #[arg(
        long,
        value_name = "URL",
        requires = "gitlab_project",
        help_heading = "GitLab identity"
    )]
    pub gitlab_url: Option<String>,

    /// Expected build signer URI (extension .1.9)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_build_signer_uri: Option<String>,
    /// Expected build signer digest (.1.10)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_build_signer_digest: Option<String>,
    /// Expected runner environment (.1.11), e.g. gitlab-hosted
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_runner_environment: Option<String>,
    /// Expected source repository URI (.1.12)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_source_repository_uri: Option<String>,
    /// Expected source repository digest, the commit SHA (.1.13)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_source_repository_digest: Option<String>,
    /// Expected source repository ref (.1.14), e.g. refs/tags/v1.2.3
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_source_repository_ref: Option<String>,
    /// Expected source repository identifier, the project ID (.1.15)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_source_repository_identifier: Option<String>,
    /// Expected source repository owner URI (.1.16)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_source_repository_owner_uri: Option<String>,
    /// Expected source repository owner identifier, the namespace ID (.1.17)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_source_repository_owner_identifier: Option<String>,
    /// Expected build config URI (.1.18)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_build_config_uri: Option<String>,
    /// Expected build config digest (.1.19)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_build_config_digest: Option<String>,
    /// Expected build trigger (.1.20), e.g. push
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_build_trigger: Option<String>,
    /// Expected run invocation URI (.1.21)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_run_invocation_uri: Option<String>,
    /// Expected source repository visibility at signing (.1.22), e.g. public
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_source_repository_visibility_at_signing: Option<String>,
    /// Expected deployment environment (.1.23)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_deployment_environment: Option<String>,
    /// Expected token subject (.1.24)
    #[arg(long, value_name = "VALUE", help_heading = "Certificate extensions")]
    pub certificate_token_subject: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// `text` or `json`. cosign's `--output FILE` (a deprecated spelling of
/// `--output-signature`) gets told the gl-sign name rather than a bare
/// "invalid value".
fn parse_output_format(value: &str) -> Result<OutputFormat, String> {
    match value {
        "text" => Ok(OutputFormat::Text),
        "json" => Ok(OutputFormat::Json),
        other => Err(format!(
            "expected text or json, found {other:?}; cosign's --output FILE (the signature file) \
             is --output-signature FILE in gl-sign"
        )),
    }
}

#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Verdicts as text lines or as one JSON document on stdout
    #[arg(long, value_name = "text|json", default_value = "text", value_parser = parse_output_format)]
    pub output: OutputFormat,
}

/// How detached `.sig`/`.crt` find their transparency-log entry.
#[derive(Debug, Clone, Args)]
pub struct RekorLookupArgs {
    /// Rekor v1 log to search for detached signatures [default: the trusted root's first log]
    #[arg(
        long,
        value_name = "URL",
        env = "GL_SIGN_REKOR_URL",
        conflicts_with = "offline"
    )]
    pub rekor_url: Option<String>,

    /// Never use the network for signatures; detached .sig/.crt without a bundle then fail
    #[arg(long)]
    pub offline: bool,
}
