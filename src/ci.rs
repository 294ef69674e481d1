//! GitLab CI: the identity Fulcio gives a GitLab job, derived the way Fulcio
//! derives it, so users never hand-assemble `…//.gitlab-ci.yml@refs/…` strings.
//!
//! Fulcio's GitLab mapping (fulcio `config/identity/config.yaml`): the SAN is
//! `https://{ci_config_ref_uri}`, where `ci_config_ref_uri` is
//! `<host>/<project_path>//<config path>@<ref path>`; the issuer is the instance
//! URL. The double slash separates the project path from the config path.

use std::collections::BTreeMap;

/// The GitLab CI predefined variables gl-sign uses, read once by `main`'s
/// commands and handed down; the library never reads the environment.
#[derive(Clone, Default)]
pub struct CiEnvironment {
    vars: BTreeMap<&'static str, String>,
}

const CI_VARIABLES: &[&str] = &[
    "GITLAB_CI",
    "CI_API_V4_URL",
    "CI_PROJECT_ID",
    "CI_PROJECT_NAME",
    "CI_PROJECT_PATH",
    "CI_PROJECT_URL",
    "CI_SERVER_URL",
    "CI_COMMIT_TAG",
    "CI_COMMIT_REF_NAME",
    "CI_JOB_TOKEN",
    "CI_CONFIG_PATH",
    "CI_PIPELINE_IID",
    // For SLSA provenance (`attest --predicate slsa`).
    "CI_COMMIT_SHA",
    "CI_JOB_ID",
    "CI_JOB_NAME",
    "CI_JOB_URL",
    "CI_JOB_STARTED_AT",
    "CI_PIPELINE_ID",
    "CI_PIPELINE_URL",
    "CI_PIPELINE_SOURCE",
    "CI_RUNNER_ID",
    "CI_RUNNER_DESCRIPTION",
    "CI_RUNNER_VERSION",
    "CI_RUNNER_EXECUTABLE_ARCH",
];

impl CiEnvironment {
    /// Read the variables from this process's environment.
    pub fn from_env() -> Self {
        let vars = CI_VARIABLES
            .iter()
            .filter_map(|name| {
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (*name, v))
            })
            .collect();
        CiEnvironment { vars }
    }

    /// For tests: a given set of variables.
    pub fn from_pairs(pairs: &[(&'static str, &str)]) -> Self {
        CiEnvironment {
            vars: pairs.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    pub fn in_gitlab_ci(&self) -> bool {
        self.get("GITLAB_CI") == Some("true")
    }

    /// `${CI_API_V4_URL}/projects/${CI_PROJECT_ID}`, the base of registry URLs.
    pub fn project_api_url(&self) -> Option<String> {
        Some(format!(
            "{}/projects/{}",
            self.get("CI_API_V4_URL")?.trim_end_matches('/'),
            self.get("CI_PROJECT_ID")?
        ))
    }
}

impl std::fmt::Debug for CiEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The job token is a credential: show that it is there, never its value.
        let shown: BTreeMap<_, _> = self
            .vars
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == "CI_JOB_TOKEN" {
                        "<redacted>"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("CiEnvironment")
            .field("vars", &shown)
            .finish()
    }
}

/// The PEP 440 development version of a pipeline that is not a tag pipeline:
/// the next version after `base` (the last release tag, else the pyproject's own
/// version, else `0.0.0`), `.dev<pipeline IID>`. It sorts after `base` and
/// before the release it leads to: `1.2.3` → `1.2.4.dev57`, `1.3.0rc1` →
/// `1.3.0rc2.dev57`. GitLab gives no "last tag" variable, so the caller finds it.
pub fn development_version(
    base: Option<&pep440_rs::Version>,
    pipeline_iid: u64,
) -> pep440_rs::Version {
    use pep440_rs::{Prerelease, Version};
    let base = base.cloned().unwrap_or_else(|| Version::new([0, 0, 0]));
    let base = base.without_local();
    let next = match base.pre() {
        // A pre-release leads to its release: the next pre-release of it.
        Some(pre) => Version::new(base.release().iter().copied()).with_pre(Some(Prerelease {
            kind: pre.kind,
            number: pre.number + 1,
        })),
        None => {
            let mut release = base.release().to_vec();
            if let Some(last) = release.last_mut() {
                *last += 1;
            }
            Version::new(release)
        }
    };
    next.with_epoch(base.epoch()).with_dev(Some(pipeline_iid))
}

pub const DEFAULT_GITLAB_URL: &str = "https://gitlab.com";
pub const DEFAULT_CI_CONFIG_PATH: &str = ".gitlab-ci.yml";

/// A GitLab project whose CI signs releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitLabSigner {
    /// Instance URL without a trailing slash, e.g. `https://gitlab.com`.
    pub server_url: String,
    /// `group/subgroup/project`.
    pub project_path: String,
    /// Path of the CI configuration inside the project.
    pub config_path: String,
    /// `refs/heads/NAME` or `refs/tags/NAME`; `None` accepts any ref in `scope`.
    pub git_ref: Option<String>,
    /// Which refs are accepted when no `git_ref` pins one.
    pub scope: RefScope,
}

/// Which refs' pipelines may have signed, when no single ref is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefScope {
    /// Any branch or tag (verify-blob's default).
    BranchesAndTags,
    /// Tags only: a release is a tag, and any Developer can run a branch
    /// pipeline (consumer-verify's default).
    TagsOnly,
}

/// Why a GitLab signer was refused. The messages name the value, not the
/// flag it came from: commands add that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    #[error("the GitLab URL must be an http(s) URL, got {0:?}")]
    ServerUrl(String),
    #[error("the GitLab project must be a project path like group/project, got {0:?}")]
    ProjectPath(String),
    #[error("the GitLab project is its path, not its URL: got {0:?}")]
    ProjectUrl(String),
    #[error("the CI configuration path must not be empty")]
    EmptyConfigPath,
    /// A bare name: the same name can be a branch and a tag.
    #[error("the ref must be a full ref (refs/heads/NAME or refs/tags/NAME), got {0:?}")]
    BareRef(String),
}

impl SignerError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SignerError::ServerUrl(_) => Some("GitLab.com is https://gitlab.com".into()),
            SignerError::ProjectUrl(_) => {
                Some("give the project path (group/project) and the instance URL apart".into())
            }
            SignerError::BareRef(r) => Some(format!(
                "refs/heads/{r} names the branch, refs/tags/{r} the tag"
            )),
            _ => None,
        }
    }
}

crate::register_hint!(inherent SignerError);

impl GitLabSigner {
    /// Check and normalise user input. A bare ref name is refused: the same name
    /// can be a branch and a tag, and the two are different signers.
    pub fn new(
        server_url: &str,
        project_path: &str,
        config_path: &str,
        git_ref: Option<&str>,
    ) -> Result<Self, SignerError> {
        let server_url = server_url.trim_end_matches('/').to_string();
        if !(server_url.starts_with("https://") || server_url.starts_with("http://")) {
            return Err(SignerError::ServerUrl(server_url));
        }
        let project_path = project_path.trim_matches('/').to_string();
        if project_path.is_empty()
            || !project_path.contains('/')
            || project_path.split('/').any(|part| part.is_empty())
            || project_path.contains(char::is_whitespace)
        {
            return Err(SignerError::ProjectPath(project_path));
        }
        if project_path.starts_with("http://") || project_path.starts_with("https:") {
            return Err(SignerError::ProjectUrl(project_path));
        }
        let config_path = config_path.trim_start_matches('/').to_string();
        if config_path.is_empty() {
            return Err(SignerError::EmptyConfigPath);
        }
        let git_ref = match git_ref {
            None => None,
            Some(r)
                if r.strip_prefix("refs/heads/")
                    .or_else(|| r.strip_prefix("refs/tags/"))
                    .is_some_and(|name| !name.is_empty()) =>
            {
                Some(r.to_string())
            }
            Some(r) => return Err(SignerError::BareRef(r.to_string())),
        };
        Ok(GitLabSigner {
            server_url,
            project_path,
            config_path,
            git_ref,
            scope: RefScope::BranchesAndTags,
        })
    }

    /// Accept only tag pipelines when no ref is pinned.
    pub fn tags_only(mut self) -> Self {
        self.scope = RefScope::TagsOnly;
        self
    }

    /// The source repository URIs (.1.12) a certificate of this project may
    /// carry: `<instance URL>/<project>`, and `https://gitlab.com/<project>`
    /// because public Fulcio's GitLab template hard-codes that URL for every
    /// instance (shared/specs/cosign-and-fulcio.md). Both name this project.
    pub fn source_repository_uris(&self) -> Vec<String> {
        let host = self
            .server_url
            .split_once("://")
            .map_or(self.server_url.as_str(), |(_, rest)| rest);
        let mut uris = vec![
            format!("{}/{}", self.server_url, self.project_path),
            format!("https://{host}/{}", self.project_path),
            format!("{DEFAULT_GITLAB_URL}/{}", self.project_path),
        ];
        uris.dedup();
        uris
    }

    /// The issuer Fulcio records: the instance URL.
    pub fn issuer(&self) -> String {
        self.server_url.clone()
    }

    /// The certificate identity up to and including the `@`. Always `https://`:
    /// Fulcio's template is `https://{{ci_config_ref_uri}}` and GitLab's claim
    /// carries the host without a scheme, whatever the instance URL's scheme.
    pub fn identity_prefix(&self) -> String {
        let host = self
            .server_url
            .split_once("://")
            .map_or(self.server_url.as_str(), |(_, rest)| rest);
        format!(
            "https://{host}/{}//{}@",
            self.project_path, self.config_path
        )
    }

    /// The exact identity, when a ref was given.
    pub fn identity(&self) -> Option<String> {
        self.git_ref
            .as_ref()
            .map(|r| format!("{}{r}", self.identity_prefix()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_versions_sort_between_the_base_and_its_successor() {
        use std::str::FromStr as _;
        let v = |s: &str| pep440_rs::Version::from_str(s).unwrap();
        let dev =
            |base: Option<&str>, iid| development_version(base.map(v).as_ref(), iid).to_string();
        assert_eq!(dev(Some("1.2.3"), 57), "1.2.4.dev57");
        assert_eq!(dev(Some("1.2"), 1), "1.3.dev1");
        assert_eq!(dev(Some("1.3.0rc1"), 2), "1.3.0rc2.dev2");
        assert_eq!(dev(Some("1.2.3.post4+local"), 3), "1.2.4.dev3");
        assert_eq!(dev(Some("2!1.0"), 0), "2!1.1.dev0");
        assert_eq!(dev(None, 9), "0.0.1.dev9");
        for base in ["1.2.3", "1.3.0rc1", "1.2.3.post4", "0.1.dev3"] {
            let d = development_version(Some(&v(base)), 0);
            assert!(d > v(base), "{d} after {base}");
        }
    }

    #[test]
    fn derives_the_identity_fulcio_issues() {
        let s = GitLabSigner::new(
            "https://gitlab.com/",
            "sroque-worcel/test-slsa-worker",
            ".gitlab-ci.yml",
            Some("refs/heads/main"),
        )
        .unwrap();
        assert_eq!(
            s.identity().unwrap(),
            "https://gitlab.com/sroque-worcel/test-slsa-worker//.gitlab-ci.yml@refs/heads/main"
        );
        assert_eq!(s.issuer(), "https://gitlab.com");
    }

    #[test]
    fn identity_is_https_even_for_an_http_instance() {
        let s = GitLabSigner::new(
            "http://127.0.0.1:8080",
            "g/p",
            "ci/release.yml",
            Some("refs/tags/v1"),
        )
        .unwrap();
        assert_eq!(
            s.identity().unwrap(),
            "https://127.0.0.1:8080/g/p//ci/release.yml@refs/tags/v1"
        );
        assert_eq!(s.issuer(), "http://127.0.0.1:8080");
    }

    #[test]
    fn one_character_refs_are_refs() {
        for r in ["refs/tags/v", "refs/heads/x"] {
            let s =
                GitLabSigner::new("https://gitlab.com", "g/p", ".gitlab-ci.yml", Some(r)).unwrap();
            assert_eq!(s.git_ref.as_deref(), Some(r));
        }
        for r in ["refs/tags/", "refs/heads/"] {
            assert!(
                GitLabSigner::new("https://gitlab.com", "g/p", ".gitlab-ci.yml", Some(r)).is_err()
            );
        }
    }

    #[test]
    fn refuses_bare_refs_and_urls_as_projects() {
        let e = GitLabSigner::new("https://gitlab.com", "g/p", ".gitlab-ci.yml", Some("main"))
            .unwrap_err();
        assert!(e.hint().unwrap().contains("refs/heads/main"));
        assert!(GitLabSigner::new(
            "https://gitlab.com",
            "https://gitlab.com/g/p",
            ".gitlab-ci.yml",
            None
        )
        .is_err());
        assert!(
            GitLabSigner::new("https://gitlab.com", "project-only", ".gitlab-ci.yml", None)
                .is_err()
        );
        assert!(GitLabSigner::new("gitlab.com", "g/p", ".gitlab-ci.yml", None).is_err());
    }
}
