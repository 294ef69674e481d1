//! Settings: what the verification commands do, resolved from their arguments
//! and the environment before any work, as uv's `PublishSettings::resolve`
//! does. A usage error (exit 2) is found here, before any file is read or
//! request sent; the work functions take only settings, never clap types.

use std::path::PathBuf;

use super::shared::{credential, identity_policy, tuf_cache, url_or_ci};
use crate::ci::{CiEnvironment, RefScope};
use crate::cli::{ConsumerVerifyArgs, OutputFormat, RekorLookupArgs, TrustArgs};
use crate::diagnostics::UsageError;
use crate::registry::auth::Credential;
use crate::trust::tuf::TufCache;
use crate::trust::{Resolved, TrustError, TrustMaterial, TrustRequest};
use crate::verify::IdentityPolicy;

/// The process environment the verification commands read, once: the GitLab
/// CI variables, where the TUF cache is, whether the trusted root came from
/// `GL_SIGN_TRUSTED_ROOT`, and how many CPUs there are.
#[derive(Debug, Clone)]
pub struct Environment {
    pub ci: CiEnvironment,
    /// `--trusted-root` was filled from `GL_SIGN_TRUSTED_ROOT`, not given on
    /// the command line.
    trusted_root_from_env: bool,
    tuf_cache: Option<TufCache>,
    parallelism: usize,
}

impl Environment {
    pub fn from_process() -> Self {
        Environment {
            ci: CiEnvironment::from_env(),
            trusted_root_from_env: trusted_root_from_env(),
            tuf_cache: tuf_cache(None),
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// How many files to verify at once unless told: one per CPU.
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }
}

/// True when `--trusted-root` came from `GL_SIGN_TRUSTED_ROOT`, not the command line.
fn trusted_root_from_env() -> bool {
    std::env::var_os("GL_SIGN_TRUSTED_ROOT").is_some_and(|v| !v.is_empty())
        && !std::env::args_os().any(|a| {
            a.to_str()
                .is_some_and(|a| a == "--trusted-root" || a.starts_with("--trusted-root="))
        })
}

/// Which trust material to verify with (issue 11): `--trusted-root`, else a
/// verified TUF cache, else the embedded root. Loading it is work, done by
/// [`TrustSettings::load`].
#[derive(Debug, Clone)]
pub struct TrustSettings {
    trusted_root: Option<PathBuf>,
    staging: bool,
    /// `trusted_root` came from `GL_SIGN_TRUSTED_ROOT`: said on stderr when used.
    from_env: bool,
    pub tuf: Option<TufCache>,
}

impl TrustSettings {
    pub fn resolve(args: &TrustArgs, env: &Environment) -> Self {
        TrustSettings {
            trusted_root: args.trusted_root.clone(),
            staging: args.staging,
            from_env: args.trusted_root.is_some() && env.trusted_root_from_env,
            tuf: env.tuf_cache.clone(),
        }
    }

    /// Load the trust material. Why a cache was skipped, and a root chosen by
    /// the environment (easy to miss), go to stderr.
    pub fn load(&self) -> Result<Resolved, TrustError> {
        if let (Some(path), true) = (&self.trusted_root, self.from_env) {
            eprintln!(
                "note: using trusted root {} from GL_SIGN_TRUSTED_ROOT",
                path.display()
            );
        }
        let resolved = TrustMaterial::resolve(&TrustRequest {
            trusted_root: self.trusted_root.as_deref(),
            staging: self.staging,
            tuf: self.tuf.clone(),
            now: jiff::Timestamp::now(),
        })?;
        if let Some(note) = &resolved.note {
            eprintln!("note: {note}");
        }
        Ok(resolved)
    }
}

/// Where detached `.sig`/`.crt` find their transparency-log entry.
#[derive(Debug, Clone)]
pub struct RekorSettings {
    /// `None`: the trusted root's first log.
    pub url: Option<String>,
    /// Never use the network.
    pub offline: bool,
}

impl RekorSettings {
    pub fn resolve(args: &RekorLookupArgs) -> Self {
        RekorSettings {
            url: args.rekor_url.clone(),
            offline: args.offline,
        }
    }
}

/// What both forms of `consumer-verify` (generic-registry signatures and
/// `--provenance`) resolve alike: the release, who must have signed it, the
/// trust root, and the index it comes from.
#[derive(Debug, Clone)]
pub struct ReleaseSettings {
    pub name: String,
    pub version: String,
    /// With `--gitlab-project` and no `--gitlab-ref`, tag pipelines only
    /// unless `--allow-branch-signatures` (issue 8).
    pub policy: IdentityPolicy,
    pub trust: TrustSettings,
    pub rekor: RekorSettings,
    pub index_url: reqwest::Url,
    pub credential: Credential,
    /// Keep the verified files here; `None`: a temporary directory.
    pub dest: Option<PathBuf>,
    pub output: OutputFormat,
}

impl ReleaseSettings {
    pub fn resolve(args: &ConsumerVerifyArgs, env: &Environment) -> Result<Self, UsageError> {
        let (name, version) = args
            .requirement
            .split_once("==")
            .filter(|(n, v)| !n.trim().is_empty() && !v.trim().is_empty() && !v.contains('='))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .ok_or_else(|| {
                UsageError::new(format!(
                    "expected NAME==VERSION, got {:?}",
                    args.requirement
                ))
            })?;
        let scope = if args.allow_branch_signatures {
            RefScope::BranchesAndTags
        } else {
            RefScope::TagsOnly
        };
        let policy = identity_policy(&args.identity, scope)?;
        let index_url = url_or_ci(
            args.index_url.as_deref(),
            "--index-url",
            &env.ci,
            "/packages/pypi/simple",
        )?;
        Ok(ReleaseSettings {
            name,
            version,
            policy,
            trust: TrustSettings::resolve(&args.trust, env),
            rekor: RekorSettings::resolve(&args.rekor),
            index_url,
            credential: credential(&args.registry, &env.ci),
            dest: args.dest.clone(),
            output: args.output.output,
        })
    }

    /// `NAME==VERSION`.
    pub fn release(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}
