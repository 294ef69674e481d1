//! Settings resolution shared by several commands.

use super::settings::{RekorSettings, TrustSettings};
use super::wording::CliWording;
use crate::ci::{
    CiEnvironment, GitLabSigner, RefScope, SignerError, DEFAULT_CI_CONFIG_PATH, DEFAULT_GITLAB_URL,
};
use crate::cli::{IdentityPolicyArgs, RegistryArgs};
use crate::diagnostics::{UsageError, Wording as _};
use crate::http::{self, HttpSettings};
use crate::registry::auth::{Credential, Secret};
use crate::verify::{BlobVerifier, Extension, IdentityPolicy, Matcher, RekorLog};

/// The identity policy; `scope` says which refs a `--gitlab-project` policy
/// without `--gitlab-ref` accepts.
pub fn identity_policy(
    args: &IdentityPolicyArgs,
    scope: RefScope,
) -> Result<IdentityPolicy, UsageError> {
    let policy = if let Some(project) = &args.gitlab_project {
        let mut signer = GitLabSigner::new(
            args.gitlab_url.as_deref().unwrap_or(DEFAULT_GITLAB_URL),
            project,
            args.gitlab_config_path
                .as_deref()
                .unwrap_or(DEFAULT_CI_CONFIG_PATH),
            args.gitlab_ref.as_deref(),
        )
        .map_err(signer_usage)?;
        if scope == RefScope::TagsOnly {
            signer = signer.tags_only();
        }
        IdentityPolicy::for_gitlab(signer)
    } else {
        // clap's `requires` does not fire next to a conflicting group, so check here.
        if args.gitlab_ref.is_some()
            || args.gitlab_url.is_some()
            || args.gitlab_config_path.is_some()
        {
            return Err(UsageError::new(
                "--gitlab-ref, --gitlab-url and --gitlab-config-path need --gitlab-project",
            ));
        }
        let identity = match (&args.certificate_identity, &args.certificate_identity_regexp) {
            (Some(exact), _) => Matcher::exact(exact),
            (None, Some(re)) => Matcher::pattern("--certificate-identity-regexp", re)?,
            (None, None) => {
                return Err(UsageError::new(
                    "--certificate-identity or --certificate-identity-regexp is required for keyless verification",
                )
                .with_hint("for a GitLab CI signer use --gitlab-project group/project [--gitlab-ref refs/tags/v1.0]"))
            }
        };
        let issuer = match (&args.certificate_oidc_issuer, &args.certificate_oidc_issuer_regexp) {
            (Some(exact), _) => Matcher::exact(exact),
            (None, Some(re)) => Matcher::pattern("--certificate-oidc-issuer-regexp", re)?,
            (None, None) => {
                return Err(UsageError::new(
                    "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for keyless verification",
                )
                .with_hint("GitLab.com CI certificates have issuer https://gitlab.com"))
            }
        };
        IdentityPolicy::new(identity, issuer)
    };
    let extensions = [
        (
            Extension::BuildSignerUri,
            &args.certificate_build_signer_uri,
        ),
        (
            Extension::BuildSignerDigest,
            &args.certificate_build_signer_digest,
        ),
        (
            Extension::RunnerEnvironment,
            &args.certificate_runner_environment,
        ),
        (
            Extension::SourceRepositoryUri,
            &args.certificate_source_repository_uri,
        ),
        (
            Extension::SourceRepositoryDigest,
            &args.certificate_source_repository_digest,
        ),
        (
            Extension::SourceRepositoryRef,
            &args.certificate_source_repository_ref,
        ),
        (
            Extension::SourceRepositoryIdentifier,
            &args.certificate_source_repository_identifier,
        ),
        (
            Extension::SourceRepositoryOwnerUri,
            &args.certificate_source_repository_owner_uri,
        ),
        (
            Extension::SourceRepositoryOwnerIdentifier,
            &args.certificate_source_repository_owner_identifier,
        ),
        (
            Extension::BuildConfigUri,
            &args.certificate_build_config_uri,
        ),
        (
            Extension::BuildConfigDigest,
            &args.certificate_build_config_digest,
        ),
        (Extension::BuildTrigger, &args.certificate_build_trigger),
        (
            Extension::RunInvocationUri,
            &args.certificate_run_invocation_uri,
        ),
        (
            Extension::SourceRepositoryVisibilityAtSigning,
            &args.certificate_source_repository_visibility_at_signing,
        ),
        (
            Extension::DeploymentEnvironment,
            &args.certificate_deployment_environment,
        ),
        (Extension::TokenSubject, &args.certificate_token_subject),
    ];
    Ok(extensions
        .into_iter()
        .filter_map(|(extension, value)| value.as_ref().map(|v| (extension, v)))
        .fold(policy, |policy, (extension, value)| {
            policy.with_extension(extension, value)
        }))
}

/// A refused `--gitlab-*` value, in the words of the flags that gave it.
fn signer_usage(err: SignerError) -> UsageError {
    match err {
        SignerError::ServerUrl(url) => UsageError::new(format!(
            "--gitlab-url must be an http(s) URL, got {url:?}"
        ))
        .with_hint("for GitLab.com use --gitlab-url https://gitlab.com"),
        SignerError::ProjectPath(path) => UsageError::new(format!(
            "--gitlab-project must be a project path like group/project, got {path:?}"
        )),
        SignerError::ProjectUrl(_) => {
            UsageError::new("--gitlab-project takes the project path, not its URL")
                .with_hint("use --gitlab-project group/project and --gitlab-url https://host")
        }
        SignerError::EmptyConfigPath => UsageError::new("--gitlab-config-path must not be empty"),
        SignerError::BareRef(r) => UsageError::new(format!(
            "--gitlab-ref must be a full ref (refs/heads/NAME or refs/tags/NAME), got {r:?}"
        ))
        .with_hint(format!(
            "use --gitlab-ref refs/heads/{r} for the branch or --gitlab-ref refs/tags/{r} for the tag"
        )),
    }
}

/// One line of reasons: the error and its causes, joined.
pub fn reason(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = CliWording.message(err);
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = CliWording.message(cause);
        // Some upstream errors repeat their source in their own message.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// Every hint in an error chain, once each.
pub fn hints(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(h) = CliWording.hint(e) {
            if !out.contains(&h) {
                out.push(h);
            }
        }
        current = e.source();
    }
    out
}

/// The credential to use: flags (or their GL_SIGN_* variables) first, then the
/// CI job token, else none.
pub fn credential(args: &RegistryArgs, ci: &CiEnvironment) -> Credential {
    if let Some(token) = &args.token {
        return Credential::AccessToken(Secret::new(token.clone()));
    }
    if let (Some(username), Some(password)) = (&args.username, &args.password) {
        return Credential::Basic {
            username: username.clone(),
            password: Secret::new(password.clone()),
        };
    }
    match ci.get("CI_JOB_TOKEN") {
        Some(token) => Credential::JobToken(Secret::new(token)),
        None => Credential::Anonymous,
    }
}

/// A URL from a flag, or from the CI variables.
pub fn url_or_ci(
    flag: Option<&str>,
    flag_name: &str,
    ci: &CiEnvironment,
    suffix: &str,
) -> Result<reqwest::Url, UsageError> {
    let text = match flag {
        Some(url) => url.to_string(),
        None => match ci.project_api_url() {
            Some(base) => format!("{base}{suffix}"),
            None => {
                return Err(
                    UsageError::new(format!("{flag_name} is needed outside GitLab CI"))
                        .with_hint("inside a job it defaults from CI_API_V4_URL and CI_PROJECT_ID"),
                )
            }
        },
    };
    let url = reqwest::Url::parse(&text)
        .map_err(|e| UsageError::new(format!("{flag_name} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UsageError::new(format!(
            "{flag_name} must be an http(s) URL"
        )));
    }
    Ok(url)
}

/// The verifier, offline or with a Rekor lookup for detached signatures that
/// blocks on `runtime` (which must outlive it). The default log is the trusted
/// root's first one.
pub fn verifier(
    trust: crate::trust::TrustMaterial,
    policy: IdentityPolicy,
    rekor: &RekorSettings,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<BlobVerifier> {
    let rekor_url = rekor.url.clone().unwrap_or_else(|| trust.rekor_url());
    let verifier = BlobVerifier::new(trust, policy)?;
    if rekor.offline {
        return Ok(verifier.offline());
    }
    let settings = HttpSettings::default();
    let lookup = RekorLog::new(http::sigstore_client(&settings)?, &rekor_url, settings);
    Ok(verifier.with_rekor_lookup(lookup, runtime.handle().clone()))
}

/// Progress of sign-blob and attest, on stderr (stdout holds the verdicts).
pub struct StderrReporter {
    /// Why a file's existing output was kept.
    pub kept_because: &'static str,
}

impl crate::sign::Reporter for StderrReporter {
    fn already_signed(&self, file: &std::path::Path) {
        eprintln!("kept {}: {}", file.display(), self.kept_because);
    }
    fn certificate(&self, identity: &str, not_after: jiff::Timestamp) {
        eprintln!("certificate issued for {identity}, valid until {not_after}");
    }
    fn logged(&self, file: &std::path::Path, log_index: u64, existed: bool) {
        let how = if existed {
            "was already in the log"
        } else {
            "logged"
        };
        eprintln!("{} {how} at index {log_index}", file.display());
    }
}

/// The runtime the commands block on: one worker is plenty for a few requests.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The TUF cache: `--cache-dir` / `$GL_SIGN_TUF_CACHE`, else
/// `$XDG_CACHE_HOME/gl-sign/tuf`, else `~/.cache/gl-sign/tuf`; `None` when no
/// such directory can be named.
pub fn tuf_cache(flag: Option<&std::path::Path>) -> Option<crate::trust::tuf::TufCache> {
    use std::path::PathBuf;
    let env_dir = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = flag
        .map(PathBuf::from)
        .or_else(|| env_dir("GL_SIGN_TUF_CACHE"))
    {
        return Some(crate::trust::tuf::TufCache::new(dir));
    }
    let cache_home = env_dir("XDG_CACHE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| env_dir("HOME").map(|home| home.join(".cache")))?;
    Some(crate::trust::tuf::TufCache::new(
        cache_home.join("gl-sign").join("tuf"),
    ))
}

/// Refresh `mirror` through TUF (online) into `cache`, for the retry after a
/// bundle named a log or CA the trust root in use does not list.
pub fn refresh_trust(
    cache: Option<&crate::trust::tuf::TufCache>,
    mirror: &crate::trust::tuf::Mirror,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<crate::trust::tuf::UpdateReport> {
    let cache = cache.ok_or_else(|| {
        UsageError::new("no TUF cache directory: set XDG_CACHE_HOME or GL_SIGN_TUF_CACHE")
    })?;
    let client = http::sigstore_client(&HttpSettings::default())?;
    Ok(runtime.block_on(cache.update(mirror, client, jiff::Timestamp::now()))?)
}

/// After a verification named a log or CA the trust root in use does not
/// list: refresh through TUF once and return the newer material to retry
/// with, saying so on stderr. With `offline`, or for `--trusted-root`, only
/// say what would be needed.
pub fn refreshed_trust(
    resolved: &crate::trust::Resolved,
    trust: &TrustSettings,
    offline: bool,
    runtime: &tokio::runtime::Runtime,
) -> Option<crate::trust::TrustMaterial> {
    let mirror = resolved.mirror.as_ref()?;
    let in_use = &resolved.material.source;
    if offline {
        eprintln!(
            "note: {in_use} does not list the log or CA this evidence names; a TUF refresh of {} \
             (gl-sign trust update) would be needed, but --offline forbids fetching",
            http::redact_url(&mirror.url)
        );
        return None;
    }
    eprintln!(
        "note: {in_use} does not list the log or CA this evidence names; refreshing it through TUF \
         from {} and retrying",
        http::redact_url(&mirror.url)
    );
    if let Err(e) = refresh_trust(trust.tuf.as_ref(), mirror, runtime) {
        eprintln!("note: the TUF refresh failed: {}", reason(e.as_ref()));
        return None;
    }
    match trust.load() {
        Ok(again) if matches!(again.material.source, crate::trust::TrustSource::Tuf(_)) => {
            Some(again.material)
        }
        Ok(_) => None,
        Err(e) => {
            eprintln!(
                "note: the refreshed trust root cannot be used: {}",
                reason(&e)
            );
            None
        }
    }
}
