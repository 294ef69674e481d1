//! Registry credentials. A secret's `Debug` and `Display` never show it, and
//! errors name the kind of credential that was tried, never its value.

use std::fmt;

/// A credential value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How gl-sign authenticates to a GitLab registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `$CI_JOB_TOKEN` inside a job.
    JobToken(Secret),
    /// A personal, project or group access token.
    AccessToken(Secret),
    /// A deploy token, with its username.
    DeployToken { username: String, token: Secret },
    /// Username and password (HTTP Basic).
    Basic { username: String, password: Secret },
    /// No credentials (public projects).
    Anonymous,
}

impl Credential {
    /// What was tried, for messages: never the value.
    pub fn kind(&self) -> String {
        match self {
            Credential::JobToken(_) => "the CI job token (CI_JOB_TOKEN)".into(),
            Credential::AccessToken(_) => "the access token (--token / GL_SIGN_TOKEN)".into(),
            Credential::DeployToken { username, .. } => format!("the deploy token of {username}"),
            Credential::Basic { username, .. } => {
                format!("username {username} with --password / GL_SIGN_PASSWORD")
            }
            Credential::Anonymous => "no credentials".into(),
        }
    }

    /// PyPI routes take HTTP Basic only; a job token is `gitlab-ci-token:<token>`
    /// (GitLab refuses the JOB-TOKEN header there).
    pub fn apply_pypi(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credential::JobToken(t) => request.basic_auth("gitlab-ci-token", Some(t.expose())),
            // GitLab ignores the username for access tokens; PyPI wants __token__.
            Credential::AccessToken(t) => request.basic_auth("__token__", Some(t.expose())),
            Credential::DeployToken { username, token } => {
                request.basic_auth(username, Some(token.expose()))
            }
            Credential::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
            Credential::Anonymous => request,
        }
    }

    /// The generic registry takes GitLab's token headers.
    pub fn apply_generic(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credential::JobToken(t) => request.header("JOB-TOKEN", t.expose()),
            Credential::AccessToken(t) => request.header("PRIVATE-TOKEN", t.expose()),
            Credential::DeployToken { token, .. } => request.header("DEPLOY-TOKEN", token.expose()),
            Credential::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
            Credential::Anonymous => request,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credential::Basic {
            username: "me".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?} {}", c.kind()).contains("hunter2"));
        let j = Credential::JobToken(Secret::new("glcbt-secret"));
        assert!(!format!("{j:?} {}", j.kind()).contains("glcbt-secret"));
    }
}
