//! Who must have signed: identity (SAN), OIDC issuer and Fulcio extensions.
//!
//! sigstore-verify matches exact identities only; regexps and extension checks
//! are applied here to the verified certificate, after the cryptography has
//! passed. Regexps are anchored to the whole value, unlike cosign's unanchored
//! match, because `gitlab.com/g/p` must not accept `https://evil/gitlab.com/g/p…`.

use regex::Regex;
use sigstore_crypto::FulcioCiClaims;

use crate::ci::{GitLabSigner, RefScope};
use crate::diagnostics::UsageError;

/// How one certificate value must look.
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Pattern {
        /// How the pattern is shown in messages.
        shown: String,
        /// The pattern anchored to the whole value.
        anchored: Regex,
        /// The pattern as written, only to explain a partial match.
        unanchored: Regex,
    },
}

impl Matcher {
    pub fn exact(value: impl Into<String>) -> Self {
        Matcher::Exact(value.into())
    }

    pub fn pattern(flag: &str, pattern: &str) -> Result<Self, UsageError> {
        let compile = |re: &str| {
            Regex::new(re).map_err(|e| {
                UsageError::new(format!("{flag} is not a valid regular expression: {e}"))
            })
        };
        Ok(Matcher::Pattern {
            shown: format!("/{pattern}/"),
            anchored: compile(&format!("^(?:{pattern})$"))?,
            unanchored: compile(pattern)?,
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(expected) => expected == value,
            Matcher::Pattern { anchored, .. } => anchored.is_match(value),
        }
    }

    fn describe(&self) -> String {
        match self {
            Matcher::Exact(expected) => expected.clone(),
            Matcher::Pattern { shown, .. } => format!("matching {shown} (whole value)"),
        }
    }
}

/// A Fulcio certificate extension a policy can pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    BuildSignerUri,
    BuildSignerDigest,
    RunnerEnvironment,
    SourceRepositoryUri,
    SourceRepositoryDigest,
    SourceRepositoryRef,
    SourceRepositoryIdentifier,
    SourceRepositoryOwnerUri,
    SourceRepositoryOwnerIdentifier,
    BuildConfigUri,
    BuildConfigDigest,
    BuildTrigger,
    RunInvocationUri,
    SourceRepositoryVisibilityAtSigning,
    DeploymentEnvironment,
    TokenSubject,
}

impl Extension {
    /// Human name, as in Fulcio's `docs/oid-info.md`.
    pub fn name(self) -> &'static str {
        match self {
            Extension::BuildSignerUri => "build signer URI",
            Extension::BuildSignerDigest => "build signer digest",
            Extension::RunnerEnvironment => "runner environment",
            Extension::SourceRepositoryUri => "source repository URI",
            Extension::SourceRepositoryDigest => "source repository digest",
            Extension::SourceRepositoryRef => "source repository ref",
            Extension::SourceRepositoryIdentifier => "source repository identifier",
            Extension::SourceRepositoryOwnerUri => "source repository owner URI",
            Extension::SourceRepositoryOwnerIdentifier => "source repository owner identifier",
            Extension::BuildConfigUri => "build config URI",
            Extension::BuildConfigDigest => "build config digest",
            Extension::BuildTrigger => "build trigger",
            Extension::RunInvocationUri => "run invocation URI",
            Extension::SourceRepositoryVisibilityAtSigning => {
                "source repository visibility at signing"
            }
            Extension::DeploymentEnvironment => "deployment environment",
            Extension::TokenSubject => "token subject",
        }
    }

    pub fn oid(self) -> &'static str {
        match self {
            Extension::BuildSignerUri => "1.3.6.1.4.1.57264.1.9",
            Extension::BuildSignerDigest => "1.3.6.1.4.1.57264.1.10",
            Extension::RunnerEnvironment => "1.3.6.1.4.1.57264.1.11",
            Extension::SourceRepositoryUri => "1.3.6.1.4.1.57264.1.12",
            Extension::SourceRepositoryDigest => "1.3.6.1.4.1.57264.1.13",
            Extension::SourceRepositoryRef => "1.3.6.1.4.1.57264.1.14",
            Extension::SourceRepositoryIdentifier => "1.3.6.1.4.1.57264.1.15",
            Extension::SourceRepositoryOwnerUri => "1.3.6.1.4.1.57264.1.16",
            Extension::SourceRepositoryOwnerIdentifier => "1.3.6.1.4.1.57264.1.17",
            Extension::BuildConfigUri => "1.3.6.1.4.1.57264.1.18",
            Extension::BuildConfigDigest => "1.3.6.1.4.1.57264.1.19",
            Extension::BuildTrigger => "1.3.6.1.4.1.57264.1.20",
            Extension::RunInvocationUri => "1.3.6.1.4.1.57264.1.21",
            Extension::SourceRepositoryVisibilityAtSigning => "1.3.6.1.4.1.57264.1.22",
            Extension::DeploymentEnvironment => "1.3.6.1.4.1.57264.1.23",
            Extension::TokenSubject => "1.3.6.1.4.1.57264.1.24",
        }
    }

    fn value(self, claims: &FulcioCiClaims) -> Option<&str> {
        let value = match self {
            Extension::BuildSignerUri => &claims.build_signer_uri,
            Extension::BuildSignerDigest => &claims.build_signer_digest,
            Extension::RunnerEnvironment => &claims.runner_environment,
            Extension::SourceRepositoryUri => &claims.source_repository_uri,
            Extension::SourceRepositoryDigest => &claims.source_repository_digest,
            Extension::SourceRepositoryRef => &claims.source_repository_ref,
            Extension::SourceRepositoryIdentifier => &claims.source_repository_identifier,
            Extension::SourceRepositoryOwnerUri => &claims.source_repository_owner_uri,
            Extension::SourceRepositoryOwnerIdentifier => {
                &claims.source_repository_owner_identifier
            }
            Extension::BuildConfigUri => &claims.build_config_uri,
            Extension::BuildConfigDigest => &claims.build_config_digest,
            Extension::BuildTrigger => &claims.build_trigger,
            Extension::RunInvocationUri => &claims.run_invocation_uri,
            Extension::SourceRepositoryVisibilityAtSigning => {
                &claims.source_repository_visibility_at_signing
            }
            Extension::DeploymentEnvironment => &claims.deployment_environment,
            Extension::TokenSubject => &claims.token_subject,
        };
        value.as_deref()
    }
}

/// The complete policy. Identity and issuer are not optional: a keyless
/// signature verified without them proves only that *someone* signed.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    pub identity: Matcher,
    pub issuer: Matcher,
    pub extensions: Vec<(Extension, String)>,
    /// Set when the policy was derived with `--gitlab-project`, for hints.
    pub gitlab: Option<GitLabSigner>,
}

impl IdentityPolicy {
    pub fn new(identity: Matcher, issuer: Matcher) -> Self {
        IdentityPolicy {
            identity,
            issuer,
            extensions: Vec::new(),
            gitlab: None,
        }
    }

    /// The policy for a GitLab project's CI, as Fulcio names it. Without a ref,
    /// any branch or tag of that project and config file is accepted.
    pub fn for_gitlab(signer: GitLabSigner) -> Self {
        let identity = match signer.identity() {
            Some(identity) => Matcher::Exact(identity),
            None => {
                let prefix = regex::escape(&signer.identity_prefix());
                let (refs, shown) = match signer.scope {
                    RefScope::BranchesAndTags => ("(heads|tags)", "refs/heads/* or refs/tags/*"),
                    RefScope::TagsOnly => ("tags", "refs/tags/* (a tag pipeline)"),
                };
                let pattern = format!("{prefix}refs/{refs}/.+");
                Matcher::Pattern {
                    anchored: Regex::new(&format!("^(?:{pattern})$"))
                        .expect("escaped prefix is a valid regex"),
                    unanchored: Regex::new(&pattern).expect("escaped prefix is a valid regex"),
                    shown: format!("{}{shown}", signer.identity_prefix()),
                }
            }
        };
        IdentityPolicy {
            identity,
            issuer: Matcher::Exact(signer.issuer()),
            extensions: Vec::new(),
            gitlab: Some(signer),
        }
    }

    pub fn with_extension(mut self, extension: Extension, expected: impl Into<String>) -> Self {
        self.extensions.push((extension, expected.into()));
        self
    }

    /// Check a verified certificate's claims.
    pub fn check(
        &self,
        identity: Option<&str>,
        issuer: Option<&str>,
        claims: &FulcioCiClaims,
    ) -> Result<(), PolicyViolation> {
        let found = identity.unwrap_or("");
        if identity.is_none() || !self.identity.matches(found) {
            return Err(PolicyViolation::Identity {
                expected: self.identity.describe(),
                found: identity.map(str::to_string),
                hint: self.identity_hint(found),
            });
        }
        let found_issuer = issuer.unwrap_or("");
        if issuer.is_none() || !self.issuer.matches(found_issuer) {
            return Err(PolicyViolation::Issuer {
                expected: self.issuer.describe(),
                found: issuer.map(str::to_string),
                hint: issuer_hint(&self.issuer, found_issuer),
            });
        }
        if let Some(signer) = &self.gitlab {
            check_gitlab_claims(signer, found, claims)?;
        }
        for (extension, expected) in &self.extensions {
            let found = extension.value(claims);
            if found != Some(expected.as_str()) {
                return Err(PolicyViolation::Extension {
                    extension: *extension,
                    expected: expected.clone(),
                    found: found.map(str::to_string),
                });
            }
        }
        Ok(())
    }

    fn identity_hint(&self, found: &str) -> Option<IdentityHint> {
        if found.is_empty() {
            return None;
        }
        let found = found.to_string();
        match &self.identity {
            Matcher::Pattern {
                unanchored, shown, ..
            } if unanchored.is_match(&found) => Some(IdentityHint::PartialMatch {
                pattern: shown.clone(),
                found,
            }),
            Matcher::Exact(expected) if collapse_slashes(expected) == collapse_slashes(&found) => {
                Some(IdentityHint::SingleSlash { found })
            }
            Matcher::Exact(expected) if found.starts_with(expected.as_str()) => {
                Some(IdentityHint::Continues { found })
            }
            // Only when the branch is all that differs: a signature from
            // another project gets the hint below, not this one.
            _ if self.gitlab.as_ref().is_some_and(|g| {
                g.scope == RefScope::TagsOnly
                    && g.git_ref.is_none()
                    && found.starts_with(&g.identity_prefix())
            }) && found.contains("@refs/heads/") =>
            {
                Some(IdentityHint::BranchPipeline)
            }
            _ if self.gitlab.is_some() && found.contains("//") => Some(IdentityHint::GitLabSigner),
            _ => None,
        }
    }
}

/// What a GitLab certificate must also say, beyond its identity: the source
/// repository is the project (.1.12), and the source ref (.1.14) is the ref in
/// the identity, so no extension contradicts what the SAN proves.
fn check_gitlab_claims(
    signer: &GitLabSigner,
    identity: &str,
    claims: &FulcioCiClaims,
) -> Result<(), PolicyViolation> {
    let uris = signer.source_repository_uris();
    let found = claims.source_repository_uri.as_deref();
    if !found.is_some_and(|f| uris.iter().any(|u| u == f)) {
        return Err(PolicyViolation::Extension {
            extension: Extension::SourceRepositoryUri,
            expected: uris.join(" or "),
            found: found.map(str::to_string),
        });
    }
    let identity_ref = identity.rsplit_once('@').map(|(_, r)| r.to_string());
    let found = claims.source_repository_ref.as_deref();
    if identity_ref.is_none() || found != identity_ref.as_deref() {
        return Err(PolicyViolation::Extension {
            extension: Extension::SourceRepositoryRef,
            expected: identity_ref.unwrap_or_else(|| "the ref in the identity".into()),
            found: found.map(str::to_string),
        });
    }
    Ok(())
}

fn issuer_hint(expected: &Matcher, found: &str) -> Option<String> {
    match expected {
        Matcher::Exact(e) if e.trim_end_matches('/') == found.trim_end_matches('/') => Some(
            format!("issuers are compared exactly; the certificate says {found}"),
        ),
        Matcher::Pattern {
            unanchored, shown, ..
        } if unanchored.is_match(found) => Some(format!(
            "{shown} matches only part of {found}; patterns must match the whole issuer"
        )),
        _ => None,
    }
}

/// `https://h/a//b` → `https://h/a/b`, to spot a single-vs-double slash slip.
fn collapse_slashes(value: &str) -> String {
    let (scheme, rest) = value.split_once("://").unwrap_or(("", value));
    let mut out = String::with_capacity(value.len());
    let mut previous_slash = false;
    for c in rest.chars() {
        if !(c == '/' && previous_slash) {
            out.push(c);
        }
        previous_slash = c == '/';
    }
    format!("{scheme}://{out}")
}

/// The likely fix when an identity does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityHint {
    /// The pattern matches only part of the identity: patterns are anchored.
    PartialMatch { pattern: String, found: String },
    /// An exact identity with one slash where GitLab's have two.
    SingleSlash { found: String },
    /// The identity continues after the exact value given.
    Continues { found: String },
    /// A tags-only GitLab policy (no ref pinned) and a branch pipeline's signature.
    BranchPipeline,
    /// A GitLab policy whose project, ref or CI config path is not the identity's.
    GitLabSigner,
}

impl std::fmt::Display for IdentityHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityHint::PartialMatch { pattern, found } => write!(
                f,
                "{pattern} matches only part of {found}; gl-sign matches patterns against the whole \
                 identity (cosign does not), so add .* where any text may follow"
            ),
            IdentityHint::SingleSlash { found } => write!(
                f,
                "GitLab identities have a double slash between the project path and the CI config path: \
                 {found} (or let gl-sign derive it from the GitLab project)"
            ),
            IdentityHint::Continues { found } => write!(
                f,
                "the certificate identity continues after what was given; the full value is {found}"
            ),
            IdentityHint::BranchPipeline => f.write_str(
                "a release must be signed by a tag pipeline; this signature comes from a branch pipeline. \
                 Pin that branch, or accept branch pipelines' signatures too",
            ),
            IdentityHint::GitLabSigner => f.write_str(
                "check the GitLab project, ref and CI config path expected against the identity above",
            ),
        }
    }
}

/// A certificate that is genuine but not from the expected signer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyViolation {
    #[error("expected identity {expected}, certificate has {}", found.as_deref().unwrap_or("no identity"))]
    Identity {
        expected: String,
        found: Option<String>,
        hint: Option<IdentityHint>,
    },
    #[error("expected issuer {expected}, certificate has {}", found.as_deref().unwrap_or("no issuer"))]
    Issuer {
        expected: String,
        found: Option<String>,
        hint: Option<String>,
    },
    #[error(
        "expected {} ({}) {expected}, certificate has {}",
        extension.name(), extension.oid(), found.as_deref().unwrap_or("no such extension")
    )]
    Extension {
        extension: Extension,
        expected: String,
        found: Option<String>,
    },
}

impl PolicyViolation {
    pub fn hint(&self) -> Option<String> {
        match self {
            PolicyViolation::Identity { hint, .. } => hint.as_ref().map(ToString::to_string),
            PolicyViolation::Issuer { hint, .. } => hint.clone(),
            PolicyViolation::Extension { .. } => None,
        }
    }
}

crate::register_hint!(inherent PolicyViolation);

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main";

    fn check(policy: &IdentityPolicy, identity: &str, issuer: &str) -> Result<(), PolicyViolation> {
        policy.check(Some(identity), Some(issuer), &FulcioCiClaims::default())
    }

    #[test]
    fn exact_identity_and_issuer() {
        let p = IdentityPolicy::new(Matcher::exact(ID), Matcher::exact("https://gitlab.com"));
        assert!(check(&p, ID, "https://gitlab.com").is_ok());
        let e = check(
            &p,
            "https://gitlab.com/g/other//.gitlab-ci.yml@refs/heads/main",
            "https://gitlab.com",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with(&format!(
            "expected identity {ID}, certificate has https://gitlab.com/g/other"
        )));
        let e = check(&p, ID, "https://gitlab.example").unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected issuer https://gitlab.com, certificate has https://gitlab.example"
        );
        let e = p
            .check(None, Some("https://gitlab.com"), &FulcioCiClaims::default())
            .unwrap_err();
        assert!(e.to_string().ends_with("certificate has no identity"));
    }

    #[test]
    fn single_slash_identity_gets_a_hint() {
        let p = IdentityPolicy::new(
            Matcher::exact("https://gitlab.com/g/p/.gitlab-ci.yml@refs/heads/main"),
            Matcher::exact("https://gitlab.com"),
        );
        let e = check(&p, ID, "https://gitlab.com").unwrap_err();
        assert!(e.hint().unwrap().contains("double slash"), "{:?}", e.hint());
    }

    #[test]
    fn patterns_are_anchored_and_partial_matches_explained() {
        let p = IdentityPolicy::new(
            Matcher::pattern("--certificate-identity-regexp", "gitlab\\.com/g/p").unwrap(),
            Matcher::exact("https://gitlab.com"),
        );
        let e = check(&p, ID, "https://gitlab.com").unwrap_err();
        assert!(e.hint().unwrap().contains("matches only part"));
        let evil = "https://evil.example/gitlab.com/g/p";
        assert!(check(&p, evil, "https://gitlab.com").is_err());
        let p = IdentityPolicy::new(
            Matcher::pattern(
                "--certificate-identity-regexp",
                "https://gitlab\\.com/g/p//.*",
            )
            .unwrap(),
            Matcher::pattern(
                "--certificate-oidc-issuer-regexp",
                "https://gitlab\\.(com|example)",
            )
            .unwrap(),
        );
        assert!(check(&p, ID, "https://gitlab.com").is_ok());
        assert!(check(&p, ID, "https://gitlab.community").is_err());
        assert!(Matcher::pattern("--x", "(").is_err());
    }

    /// The claims Fulcio gives a GitLab.com certificate for `identity`.
    fn gitlab_claims(project: &str, identity: &str) -> FulcioCiClaims {
        let mut claims = FulcioCiClaims::default();
        claims.source_repository_uri = Some(format!("https://gitlab.com/{project}"));
        claims.source_repository_ref = identity.rsplit_once('@').map(|(_, r)| r.to_string());
        claims
    }

    fn check_gitlab(p: &IdentityPolicy, identity: &str) -> Result<(), PolicyViolation> {
        p.check(
            Some(identity),
            Some("https://gitlab.com"),
            &gitlab_claims("g/p", identity),
        )
    }

    #[test]
    fn gitlab_policy_without_ref_accepts_branches_and_tags_only() {
        let signer =
            GitLabSigner::new("https://gitlab.com", "g/p", ".gitlab-ci.yml", None).unwrap();
        let p = IdentityPolicy::for_gitlab(signer);
        assert!(check_gitlab(&p, ID).is_ok());
        assert!(check_gitlab(&p, "https://gitlab.com/g/p//.gitlab-ci.yml@refs/tags/v1.0").is_ok());
        assert!(check_gitlab(
            &p,
            "https://gitlab.com/g/p//.gitlab-ci.yml@refs/merge-requests/1"
        )
        .is_err());
        assert!(check_gitlab(&p, "https://gitlab.com/g/p//other.yml@refs/heads/main").is_err());
        assert!(check_gitlab(
            &p,
            "https://gitlab.com/g/p2//.gitlab-ci.yml@refs/heads/main"
        )
        .is_err());
    }

    #[test]
    fn a_tags_only_gitlab_policy_refuses_branch_pipelines_with_a_hint() {
        let signer = GitLabSigner::new("https://gitlab.com", "g/p", ".gitlab-ci.yml", None)
            .unwrap()
            .tags_only();
        let p = IdentityPolicy::for_gitlab(signer);
        assert!(check_gitlab(&p, "https://gitlab.com/g/p//.gitlab-ci.yml@refs/tags/v1.0").is_ok());
        let e = check_gitlab(&p, ID).unwrap_err();
        assert!(
            e.to_string().contains("refs/tags/* (a tag pipeline)"),
            "{e}"
        );
        // The flags that accept a branch are the CLI's words (commands::wording).
        assert!(e.hint().unwrap().contains("accept branch pipelines"));
    }

    #[test]
    fn a_gitlab_certificate_must_name_the_project_and_ref_in_its_extensions() {
        let signer =
            GitLabSigner::new("https://gitlab.com", "g/p", ".gitlab-ci.yml", None).unwrap();
        let p = IdentityPolicy::for_gitlab(signer);
        let mut claims = gitlab_claims("g/other", ID);
        let e = p
            .check(Some(ID), Some("https://gitlab.com"), &claims)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected source repository URI (1.3.6.1.4.1.57264.1.12) https://gitlab.com/g/p, \
             certificate has https://gitlab.com/g/other"
        );
        claims = gitlab_claims("g/p", ID);
        claims.source_repository_ref = Some("refs/heads/other".into());
        let e = p
            .check(Some(ID), Some("https://gitlab.com"), &claims)
            .unwrap_err();
        assert!(e.to_string().starts_with(
            "expected source repository ref (1.3.6.1.4.1.57264.1.14) refs/heads/main, certificate has refs/heads/other"
        ), "{e}");
        claims.source_repository_uri = None;
        assert!(p
            .check(Some(ID), Some("https://gitlab.com"), &claims)
            .is_err());
    }

    #[test]
    fn extensions_say_expected_and_found() {
        let mut claims = FulcioCiClaims::default();
        claims.source_repository_ref = Some("refs/heads/main".into());
        let p = IdentityPolicy::new(Matcher::exact(ID), Matcher::exact("https://gitlab.com"))
            .with_extension(Extension::SourceRepositoryRef, "refs/tags/v1");
        let e = p
            .check(Some(ID), Some("https://gitlab.com"), &claims)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected source repository ref (1.3.6.1.4.1.57264.1.14) refs/tags/v1, certificate has refs/heads/main"
        );
        let p = IdentityPolicy::new(Matcher::exact(ID), Matcher::exact("https://gitlab.com"))
            .with_extension(Extension::RunnerEnvironment, "gitlab-hosted");
        let e = p
            .check(Some(ID), Some("https://gitlab.com"), &claims)
            .unwrap_err();
        assert!(e.to_string().ends_with("certificate has no such extension"));
    }
}
