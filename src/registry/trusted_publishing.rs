//! PyPI Trusted Publishing from GitLab CI (gitlab-and-pypi.md §4,
//! pep740-and-trusted-publishing.md §3 and §5): ask the upload host for its
//! audience, exchange the job's GitLab ID token for a short-lived PyPI token
//! once per run, and find the PEP 740 attestation files beside each dist.
//!
//! Like twine and uv, the exchange always goes to
//! `https://<upload host>/_/oidc/…`, whatever the upload URL's scheme.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::auth::Secret;
use crate::http::redact_url;

/// The two public indexes gl-sign knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicIndex {
    Pypi,
    Testpypi,
}

impl PublicIndex {
    /// Legacy upload URL (what twine and uv use).
    pub fn upload_url(self) -> Url {
        Url::parse(match self {
            PublicIndex::Pypi => "https://upload.pypi.org/legacy/",
            PublicIndex::Testpypi => "https://test.pypi.org/legacy/",
        })
        .expect("a valid URL")
    }

    /// Simple index root, where published files are listed.
    pub fn simple_root(self) -> Url {
        Url::parse(match self {
            PublicIndex::Pypi => "https://pypi.org/simple/",
            PublicIndex::Testpypi => "https://test.pypi.org/simple/",
        })
        .expect("a valid URL")
    }

    pub fn name(self) -> &'static str {
        match self {
            PublicIndex::Pypi => "pypi",
            PublicIndex::Testpypi => "testpypi",
        }
    }
}

/// The simple index root that goes with a warehouse-style upload URL:
/// `https://host/legacy/` → `https://host/simple/` (upload.pypi.org's index is
/// on pypi.org). None for other layouts (GitLab's).
pub fn simple_root_for(upload_url: &Url) -> Option<Url> {
    if upload_url.host_str() == Some("upload.pypi.org") {
        return Some(PublicIndex::Pypi.simple_root());
    }
    let path = upload_url.path().trim_end_matches('/');
    let base = path.strip_suffix("/legacy")?;
    let mut root = upload_url.clone();
    root.set_path(&format!("{base}/simple/"));
    root.set_query(None);
    Some(root)
}

/// `https://<host[:port]>/_/oidc/<endpoint>` for an upload URL.
pub fn oidc_url(upload_url: &Url, endpoint: &str) -> Result<Url, TrustedPublishingError> {
    let host = upload_url
        .host_str()
        .ok_or_else(|| TrustedPublishingError::NoHost {
            url: redact_url(upload_url.as_str()),
        })?;
    let authority = match upload_url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    Url::parse(&format!("https://{authority}/_/oidc/{endpoint}")).map_err(|_| {
        TrustedPublishingError::NoHost {
            url: redact_url(upload_url.as_str()),
        }
    })
}

/// The environment variable GitLab `id_tokens` would use for an audience:
/// `pypi` → `PYPI_ID_TOKEN`, `testpypi` → `TESTPYPI_ID_TOKEN` (as di/id and uv name it).
pub fn id_token_variable(audience: &str) -> String {
    let name: String = audience
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}_ID_TOKEN")
}

/// One entry of warehouse's 422 `errors` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintError {
    pub code: String,
    pub description: String,
}

/// The claims of a GitLab ID token that PyPI matches against its publishers,
/// read without verification (only to explain a refusal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublisherClaims {
    pub iss: Option<String>,
    pub aud: Option<String>,
    pub sub: Option<String>,
    pub project_path: Option<String>,
    pub ci_config_ref_uri: Option<String>,
    pub environment: Option<String>,
    pub ref_path: Option<String>,
    pub sha: Option<String>,
}

impl PublisherClaims {
    /// Decode the payload of `jwt` (never its signature; never the token itself in errors).
    pub fn decode(jwt: &str) -> Option<PublisherClaims> {
        let payload = jwt.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        let get = |k: &str| match v.get(k)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        Some(PublisherClaims {
            iss: get("iss"),
            aud: get("aud"),
            sub: get("sub"),
            project_path: get("project_path"),
            ci_config_ref_uri: get("ci_config_ref_uri"),
            environment: get("environment"),
            ref_path: get("ref_path"),
            sha: get("sha"),
        })
    }

    /// The publisher to add on PyPI so that this token is accepted.
    pub fn publisher_settings(&self) -> Option<PublisherSettings> {
        let (namespace, project) = self.project_path.as_deref()?.rsplit_once('/')?;
        let workflow = self
            .ci_config_ref_uri
            .as_deref()
            .and_then(workflow_filepath);
        Some(PublisherSettings {
            namespace: namespace.to_string(),
            project: project.to_string(),
            workflow_filepath: workflow,
            environment: self.environment.clone().filter(|e| !e.is_empty()),
        })
    }
}

/// Warehouse's `(?<=\/\/)(.*[^/]\.(yml|yaml))(?=@)` on `ci_config_ref_uri`.
pub fn workflow_filepath(ci_config_ref_uri: &str) -> Option<String> {
    let re = regex::Regex::new(r"//(.*[^/]\.(?:yml|yaml))@").expect("a valid regex");
    re.captures(ci_config_ref_uri)
        .map(|c| c[1].trim_start_matches('/').to_string())
        .filter(|s| !s.is_empty())
}

/// What to enter on PyPI (project → Settings → Publishing → GitLab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherSettings {
    pub namespace: String,
    pub project: String,
    /// None when the CI config is not a `.yml`/`.yaml` file of the project
    /// (PyPI cannot match such a pipeline).
    pub workflow_filepath: Option<String>,
    pub environment: Option<String>,
}

impl PublisherSettings {
    /// The settings as lines, for messages (`init` prints the same form).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "  Namespace:                     {}", self.namespace);
        let _ = writeln!(out, "  Project name:                  {}", self.project);
        let _ = writeln!(
            out,
            "  Top-level pipeline file path:  {}",
            self.workflow_filepath.as_deref().unwrap_or(
                "(none: the CI config must be a .yml/.yaml file in this project's repository)"
            )
        );
        let _ = write!(
            out,
            "  Environment name:              {}",
            self.environment
                .as_deref()
                .unwrap_or("(empty: any; set `environment:` on the job to pin one)")
        );
        out
    }
}

/// A minted PyPI API token (valid 15 minutes, scoped to the publisher's projects).
#[derive(Debug, Clone)]
pub struct PypiToken {
    pub token: Secret,
    pub expires: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustedPublishingError {
    #[error("{url} has no host to ask for a trusted-publishing token")]
    NoHost { url: String },
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} does not support trusted publishing (404)")]
    NotSupported { url: String },
    #[error("{url}: {message} ({status})")]
    Disabled {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered {status} with something unreadable: {detail}")]
    BadResponse {
        url: String,
        status: u16,
        detail: String,
    },
    #[error(
        "{url} refused the token exchange ({status}): {}",
        describe_errors(errors)
    )]
    Refused {
        url: String,
        status: u16,
        errors: Vec<MintError>,
        /// None if the token is not a readable JWT.
        claims: Option<PublisherClaims>,
        /// The audience the token should have had.
        audience: String,
    },
    #[error("no GitLab ID token for audience {audience:?}: give one, or set {variable}")]
    NoIdToken { audience: String, variable: String },
}

fn describe_errors(errors: &[MintError]) -> String {
    if errors.is_empty() {
        return "no error details".into();
    }
    errors
        .iter()
        .map(|e| format!("{}: {}", e.code, e.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl crate::hint::Hint for TrustedPublishingError {
    fn hint(&self) -> Option<String> {
        match self {
            TrustedPublishingError::NotSupported { .. } => Some(
                "this index has no trusted publishing: give an access token, and do not ask for trusted publishing"
                    .into(),
            ),
            TrustedPublishingError::NoIdToken { audience, variable } => Some(format!(
                "in GitLab CI add `id_tokens: {{{variable}: {{aud: {audience}}}}}` to the publish job"
            )),
            TrustedPublishingError::Refused {
                errors,
                claims,
                audience,
                ..
            } => Some(refusal_hint(errors, claims.as_ref(), audience)),
            _ => None,
        }
    }
}

crate::register_hint!(TrustedPublishingError);

/// What PyPI matched, and what to configure there; never the token itself.
fn refusal_hint(errors: &[MintError], claims: Option<&PublisherClaims>, audience: &str) -> String {
    let mut out = String::new();
    let codes: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
    if codes.contains(&"invalid-reuse-token") {
        out.push_str(
            "GitLab hands a job one ID token and PyPI accepts each token once: re-run the job for a fresh one\n",
        );
    }
    if codes.contains(&"invalid-token") {
        let _ = writeln!(
            out,
            "PyPI checks the signature (RS256, gitlab.com keys), exp/iat/nbf and that aud is exactly {audience:?}"
        );
    }
    let Some(claims) = claims else {
        out.push_str("the ID token is not a readable JWT");
        return out;
    };
    out.push_str("the ID token's claims that PyPI matches:\n");
    let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
    for (name, value) in [
        ("iss", &claims.iss),
        ("aud", &claims.aud),
        ("sub", &claims.sub),
        ("project_path", &claims.project_path),
        ("ci_config_ref_uri", &claims.ci_config_ref_uri),
        ("environment", &claims.environment),
        ("ref_path", &claims.ref_path),
        ("sha", &claims.sha),
    ] {
        let _ = writeln!(out, "  {name}: {}", shown(value));
    }
    match claims.publisher_settings() {
        Some(settings) => {
            out.push_str(
                "add this trusted publisher on PyPI (project → Settings → Publishing → GitLab):\n",
            );
            out.push_str(&settings.describe());
        }
        None => out.push_str("the token has no usable project_path, so no publisher can match it"),
    }
    out
}

/// Talks to one upload host's `/_/oidc/` endpoints.
pub struct TrustedPublishing {
    client: reqwest::Client,
    upload_url: Url,
}

impl TrustedPublishing {
    /// `client` should not follow redirects (credentials never do).
    pub fn new(client: reqwest::Client, upload_url: Url) -> Self {
        TrustedPublishing { client, upload_url }
    }

    /// `GET /_/oidc/audience`: the audience the ID token must have.
    pub async fn audience(&self) -> Result<String, TrustedPublishingError> {
        let url = oidc_url(&self.upload_url, "audience")?;
        let shown = redact_url(url.as_str());
        let response = self.client.get(url).send().await.map_err(|source| {
            TrustedPublishingError::Request {
                url: shown.clone(),
                source,
            }
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let json: Option<Value> = serde_json::from_str(&text).ok();
        match status {
            StatusCode::OK => json
                .as_ref()
                .and_then(|v| v.get("audience"))
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .ok_or_else(|| TrustedPublishingError::BadResponse {
                    url: shown,
                    status: 200,
                    detail: "no \"audience\" string".into(),
                }),
            StatusCode::NOT_FOUND => Err(TrustedPublishingError::NotSupported { url: shown }),
            _ => Err(TrustedPublishingError::Disabled {
                url: shown,
                status: status.as_u16(),
                message: json
                    .as_ref()
                    .and_then(|v| v.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("trusted publishing is not available")
                    .to_string(),
            }),
        }
    }

    /// `POST /_/oidc/mint-token` with `{"token": <id token>}`. Called once per
    /// run: PyPI accepts each ID token (its `jti`) only once.
    pub async fn mint(
        &self,
        id_token: &Secret,
        audience: &str,
    ) -> Result<PypiToken, TrustedPublishingError> {
        let url = oidc_url(&self.upload_url, "mint-token")?;
        let shown = redact_url(url.as_str());
        let response = self
            .client
            .post(url)
            .json(&serde_json::json!({ "token": id_token.expose() }))
            .send()
            .await
            .map_err(|source| TrustedPublishingError::Request {
                url: shown.clone(),
                source,
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        // Whatever the server says, it must not carry the token into a message.
        let text = text.replace(id_token.expose(), "<redacted>");
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if status == StatusCode::OK {
            let token = json
                .as_ref()
                .and_then(|v| v.get("token"))
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| TrustedPublishingError::BadResponse {
                    url: shown.clone(),
                    status: 200,
                    detail: "no \"token\" string".into(),
                })?;
            return Ok(PypiToken {
                token: Secret::new(token),
                expires: json
                    .as_ref()
                    .and_then(|v| v.get("expires"))
                    .and_then(Value::as_i64),
            });
        }
        let errors = json
            .as_ref()
            .and_then(|v| v.get("errors"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|e| MintError {
                        code: e
                            .get("code")
                            .and_then(Value::as_str)
                            .unwrap_or("(no code)")
                            .to_string(),
                        description: e
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_else(|| {
                vec![MintError {
                    code: format!("http-{}", status.as_u16()),
                    description: json
                        .as_ref()
                        .and_then(|v| v.get("message"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            text.split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" ")
                                .chars()
                                .take(300)
                                .collect()
                        }),
                }]
            });
        Err(TrustedPublishingError::Refused {
            url: shown,
            status: status.as_u16(),
            errors,
            claims: PublisherClaims::decode(id_token.expose()),
            audience: audience.to_string(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AttestationFileError {
    #[error("cannot list {}", dir.display())]
    List {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a PEP 740 attestation (expected one JSON object)", path.display())]
    NotAnAttestation { path: PathBuf },
}

impl crate::hint::Hint for AttestationFileError {
    fn hint(&self) -> Option<String> {
        match self {
            AttestationFileError::NotAnAttestation { .. } => Some(
                "`gl-sign attest DIST` writes DIST.publish.attestation; remove the file or publish without attestations"
                    .into(),
            ),
            _ => None,
        }
    }
}

crate::register_hint!(AttestationFileError);

/// The attestations beside `dist`: files named `<exact dist file name>.<type>.attestation`
/// with a dot-free `<type>` (uv's and twine's convention), sorted by name. Each must
/// hold one JSON object; PyPI checks the rest.
pub fn attestations_beside(dist: &Path) -> Result<Vec<(PathBuf, Value)>, AttestationFileError> {
    let Some(filename) = dist.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let dir = match dist.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let entries = std::fs::read_dir(&dir).map_err(|source| AttestationFileError::List {
        dir: dir.clone(),
        source,
    })?;
    let mut found = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(kind) = name
            .strip_prefix(filename)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.strip_suffix(".attestation"))
        else {
            continue;
        };
        if kind.is_empty() || kind.contains('.') {
            continue;
        }
        found.insert(name.to_string(), entry.path());
    }
    let mut out = Vec::new();
    for path in found.into_values() {
        let text = std::fs::read(&path).map_err(|source| AttestationFileError::Read {
            path: path.clone(),
            source,
        })?;
        match serde_json::from_slice::<Value>(&text) {
            Ok(v @ Value::Object(_)) => out.push((path, v)),
            _ => return Err(AttestationFileError::NotAnAttestation { path }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_endpoints_are_https_on_the_upload_host() {
        let u = Url::parse("http://127.0.0.1:8443/legacy/").unwrap();
        assert_eq!(
            oidc_url(&u, "audience").unwrap().as_str(),
            "https://127.0.0.1:8443/_/oidc/audience"
        );
        assert_eq!(
            oidc_url(&PublicIndex::Testpypi.upload_url(), "mint-token")
                .unwrap()
                .as_str(),
            "https://test.pypi.org/_/oidc/mint-token"
        );
        assert_eq!(
            oidc_url(&PublicIndex::Pypi.upload_url(), "audience")
                .unwrap()
                .as_str(),
            "https://upload.pypi.org/_/oidc/audience"
        );
    }

    #[test]
    fn simple_roots() {
        let root = |u: &str| simple_root_for(&Url::parse(u).unwrap()).map(|u| u.to_string());
        assert_eq!(
            root("https://upload.pypi.org/legacy/").as_deref(),
            Some("https://pypi.org/simple/")
        );
        assert_eq!(
            root("https://test.pypi.org/legacy/").as_deref(),
            Some("https://test.pypi.org/simple/")
        );
        assert_eq!(
            root("https://127.0.0.1:9/legacy").as_deref(),
            Some("https://127.0.0.1:9/simple/")
        );
        assert_eq!(
            root("https://gitlab.com/api/v4/projects/1/packages/pypi"),
            None
        );
    }

    #[test]
    fn variables_and_workflow_files() {
        assert_eq!(id_token_variable("pypi"), "PYPI_ID_TOKEN");
        assert_eq!(id_token_variable("testpypi"), "TESTPYPI_ID_TOKEN");
        assert_eq!(id_token_variable("my-index"), "MY_INDEX_ID_TOKEN");
        assert_eq!(
            workflow_filepath("gitlab.com/g/p//.gitlab-ci.yml@refs/tags/v1").as_deref(),
            Some(".gitlab-ci.yml")
        );
        assert_eq!(
            workflow_filepath("gitlab.com/g/p//ci/release.yaml@refs/heads/main").as_deref(),
            Some("ci/release.yaml")
        );
        assert_eq!(
            workflow_filepath("gitlab.com/g/p//ci.json@refs/heads/main"),
            None
        );
    }

    #[test]
    fn claims_and_settings_from_a_token() {
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256"}"#),
            b64(
                r#"{"iss":"https://gitlab.com","aud":"pypi","sub":"project_path:g/s/p:ref_type:tag:ref:v1","project_path":"g/s/p","ci_config_ref_uri":"gitlab.com/g/s/p//.gitlab-ci.yml@refs/tags/v1","environment":"pypi","ref_path":"refs/tags/v1","sha":"abc"}"#
            )
        );
        let claims = PublisherClaims::decode(&jwt).unwrap();
        let settings = claims.publisher_settings().unwrap();
        assert_eq!(settings.namespace, "g/s");
        assert_eq!(settings.project, "p");
        assert_eq!(
            settings.workflow_filepath.as_deref(),
            Some(".gitlab-ci.yml")
        );
        assert_eq!(settings.environment.as_deref(), Some("pypi"));
        let hint = refusal_hint(
            &[MintError {
                code: "invalid-publisher".into(),
                description: "x".into(),
            }],
            Some(&claims),
            "pypi",
        );
        assert!(hint.contains("ref_path: refs/tags/v1"), "{hint}");
        assert!(
            hint.contains("Namespace:                     g/s"),
            "{hint}"
        );
        assert!(!hint.contains(&jwt));
        assert!(PublisherClaims::decode("not a jwt").is_none());
    }

    #[test]
    fn finds_attestations_by_exact_dist_name() {
        let dir = tempfile::tempdir().unwrap();
        let dist = dir.path().join("p-1.0-py3-none-any.whl");
        std::fs::write(&dist, b"x").unwrap();
        for name in [
            "p-1.0-py3-none-any.whl.publish.attestation",
            "p-1.0-py3-none-any.whl.slsa.attestation",
            "p-1.0-py3-none-any.whl.a.b.attestation",
            "p-1.0.tar.gz.publish.attestation",
        ] {
            std::fs::write(dir.path().join(name), b"{}").unwrap();
        }
        let found = attestations_beside(&dist).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "p-1.0-py3-none-any.whl.publish.attestation",
                "p-1.0-py3-none-any.whl.slsa.attestation"
            ]
        );
        std::fs::write(
            dir.path().join("p-1.0-py3-none-any.whl.slsa.attestation"),
            b"[1]",
        )
        .unwrap();
        assert!(matches!(
            attestations_beside(&dist).unwrap_err(),
            AttestationFileError::NotAnAttestation { .. }
        ));
    }
}
