//! Uploads to the GitLab PyPI registry, or any index with PyPI's legacy upload
//! API, the way GitLab needs them (gitlab-and-pypi.md §1): HTTP Basic only,
//! `sha256_digest` always (GitLab stores the client's value and keys its index
//! and downloads on it), `requires_python` always (old GitLab required it).

use std::sync::Arc;

use reqwest::multipart::{Form, Part};
use reqwest::{StatusCode, Url};

use super::auth::Credential;
use super::dist::{normalize_name, Dist};
use super::index::{self, IndexFile, Page};
use super::{Progress, TransferError};
use crate::http::{may_carry_credentials, redact_url, HttpSettings};

/// Where and as whom to upload.
#[derive(Debug, Clone)]
pub struct PypiTarget {
    /// The legacy upload URL, e.g. `…/projects/7/packages/pypi`.
    pub repository_url: Url,
    pub credential: Credential,
}

impl PypiTarget {
    /// The simple index page of one project on this registry: GitLab's is
    /// `<repository-url>/simple/<normalized name>`.
    pub fn simple_url(&self, name: &str) -> Url {
        let mut url = self.repository_url.clone();
        url.path_segments_mut()
            .expect("an http(s) URL")
            .pop_if_empty()
            .push("simple")
            .push(&normalize_name(name))
            // PEP 503 pages end in '/'; GitLab serves both forms, other indexes redirect.
            .push("");
        url
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uploaded {
    /// Sent, and accepted.
    Sent,
    /// Already on the index with the same sha256; nothing sent (`--skip-existing`).
    Skipped,
    /// The upload was refused as a duplicate, and the index holds this exact file.
    AlreadyPresent,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error("{file} is already on {url} with sha256 {found}, but the local file has {expected}")]
    HashMismatch {
        file: String,
        url: String,
        expected: String,
        found: String,
    },
    #[error("{url} says {file} already exists, but its index does not list it")]
    DuplicateNotListed { file: String, url: String },
}

impl PublishError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PublishError::Transfer(TransferError::Unauthorized { status: 401, .. }) => {
                "in GitLab CI the job token is used as HTTP Basic gitlab-ci-token:$CI_JOB_TOKEN; outside CI give \
                 an access token with the api scope, or a username and password"
                    .into()
            }
            PublishError::Transfer(TransferError::Unauthorized { .. }) => "the credential works but may not publish here (Developer role or higher is needed)".into(),
            PublishError::HashMismatch { .. } => {
                "a published file cannot be replaced: bump the version, or delete the package in GitLab first".into()
            }
            PublishError::Transfer(TransferError::InsecureUrl { .. }) => "use an https:// URL".into(),
            _ => return None,
        })
    }

    /// Worth another attempt: server errors and dropped connections.
    fn retryable(&self) -> bool {
        matches!(self, PublishError::Transfer(e) if e.retryable())
    }
}

/// A PyPI registry session.
pub struct PypiPublisher {
    client: reqwest::Client,
    http: HttpSettings,
    target: PypiTarget,
    progress: Arc<dyn Progress>,
    /// A warehouse-style simple index root (`…/simple/`), read anonymously,
    /// instead of GitLab's `<repository-url>/simple/`.
    index_root: Option<Url>,
    /// The credential is a trusted-publishing token: refusals are shown as the
    /// server words them, not as a bad `--token`.
    trusted_publishing: bool,
}

impl PypiPublisher {
    pub fn new(
        client: reqwest::Client,
        http: HttpSettings,
        target: PypiTarget,
        progress: Arc<dyn Progress>,
    ) -> Result<Self, PublishError> {
        if target.credential != Credential::Anonymous
            && !may_carry_credentials(&target.repository_url)
        {
            return Err(TransferError::InsecureUrl {
                url: redact_url(target.repository_url.as_str()),
                credential: target.credential.kind(),
            }
            .into());
        }
        Ok(PypiPublisher {
            client,
            http,
            target,
            progress,
            index_root: None,
            trusted_publishing: false,
        })
    }

    /// List published files from a warehouse-style simple index at `root`
    /// (PyPI's is on another host than its upload URL), without credentials.
    pub fn with_index_root(mut self, root: Url) -> Self {
        self.index_root = Some(root);
        self
    }

    /// The credential was minted by trusted publishing.
    pub fn with_trusted_publishing(mut self) -> Self {
        self.trusted_publishing = true;
        self
    }

    fn index_page_url(&self, name: &str) -> Url {
        match &self.index_root {
            Some(root) => {
                let mut url = root.clone();
                url.path_segments_mut()
                    .expect("an http(s) URL")
                    .pop_if_empty()
                    .push(&normalize_name(name))
                    .push("");
                url
            }
            None => self.target.simple_url(name),
        }
    }

    /// The files of `name` on this registry's own index. A redirect (GitLab
    /// forwards unknown packages to pypi.org) or a 404 means none.
    pub async fn listed_files(&self, name: &str) -> Result<Vec<IndexFile>, PublishError> {
        let url = self.index_page_url(name);
        // A PyPI token is for uploads to one host; the index never needs it.
        let credential = if self.index_root.is_some() {
            &Credential::Anonymous
        } else {
            &self.target.credential
        };
        match index::fetch_page(&self.client, &url, credential).await? {
            Page::Files(files) => Ok(files),
            Page::Redirected | Page::NotFound => Ok(Vec::new()),
        }
    }

    /// Whether the index lists `dist` and with which hash: Ok(true) same
    /// file, Ok(false) absent, Err on a different file under that name.
    async fn already_published(&self, dist: &Dist, sha256: &str) -> Result<bool, PublishError> {
        let listed = self.listed_files(&dist.metadata.name).await?;
        match listed.iter().find(|f| f.filename == dist.filename) {
            None => Ok(false),
            Some(f) if f.sha256.as_deref() == Some(sha256) => Ok(true),
            Some(f) => Err(PublishError::HashMismatch {
                file: dist.filename.clone(),
                url: redact_url(self.target.repository_url.as_str()),
                expected: sha256.to_string(),
                found: f
                    .sha256
                    .clone()
                    .unwrap_or_else(|| "(no hash listed)".into()),
            }),
        }
    }

    /// Upload one dist (`sha256` is its lowercase hex digest).
    pub async fn publish(
        &self,
        dist: &Dist,
        sha256: &str,
        skip_existing: bool,
    ) -> Result<Uploaded, PublishError> {
        self.publish_with_attestations(dist, sha256, skip_existing, &[])
            .await
    }

    /// Upload one dist with its PEP 740 attestations (sent as the
    /// `attestations` form field, a JSON array, when there are any).
    pub async fn publish_with_attestations(
        &self,
        dist: &Dist,
        sha256: &str,
        skip_existing: bool,
        attestations: &[serde_json::Value],
    ) -> Result<Uploaded, PublishError> {
        if skip_existing && self.already_published(dist, sha256).await? {
            return Ok(Uploaded::Skipped);
        }
        let shown = redact_url(self.target.repository_url.as_str());
        let mut attempt = 0;
        let (status, message) = loop {
            // A streamed body cannot be replayed, so each attempt reopens the file.
            match self.send(dist, sha256, attestations).await {
                Err(e) if e.retryable() && attempt < self.http.retries => {
                    attempt += 1;
                    self.progress.retrying(&dist.filename, &e.to_string());
                    tokio::time::sleep(self.http.min_backoff * 2u32.pow(attempt as u32 - 1)).await;
                }
                Err(e) => return Err(e),
                Ok(answer) => break answer,
            }
        };
        if status.is_success() {
            return Ok(Uploaded::Sent);
        }
        if self.trusted_publishing
            && (status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN)
        {
            // Warehouse's reason says which caveat failed (project scope, expiry).
            return Err(TransferError::Refused {
                url: shown,
                status: status.as_u16(),
                message,
            }
            .into());
        }
        TransferError::check_auth(status, &shown, &self.target.credential)?;
        // GitLab: 400 "Validation failed: File name has already been taken";
        // PyPI: 400 "File already exists"; pypiserver and others: 409.
        // Either way, believe the index only.
        let duplicate = status == StatusCode::CONFLICT
            || (status == StatusCode::BAD_REQUEST
                && (message.contains("already been taken") || message.contains("already exists")));
        if duplicate {
            return if self.already_published(dist, sha256).await? {
                Ok(Uploaded::AlreadyPresent)
            } else if self.index_root.is_some() {
                // Warehouse also refuses the same bytes under another name
                // (and reused names of deleted files): its words say which.
                Err(TransferError::Refused {
                    url: shown,
                    status: status.as_u16(),
                    message,
                }
                .into())
            } else {
                Err(PublishError::DuplicateNotListed {
                    file: dist.filename.clone(),
                    url: shown,
                })
            };
        }
        Err(TransferError::Refused {
            url: shown,
            status: status.as_u16(),
            message,
        }
        .into())
    }

    /// One attempt: the status and the error message of the answer.
    async fn send(
        &self,
        dist: &Dist,
        sha256: &str,
        attestations: &[serde_json::Value],
    ) -> Result<(StatusCode, String), PublishError> {
        let shown = redact_url(self.target.repository_url.as_str());
        let (body, length) =
            super::file_body(&dist.path, dist.filename.clone(), self.progress.clone())
                .await
                .map_err(|source| TransferError::Read {
                    file: dist.path.display().to_string(),
                    source,
                })?;
        let content = Part::stream_with_length(body, length)
            .file_name(dist.filename.clone())
            .mime_str("application/octet-stream")
            .expect("a valid MIME type");
        let mut form = metadata_form(dist, sha256).part("content", content);
        if !attestations.is_empty() {
            // After `content`, as uv sends it; twine's json.dumps of the list.
            form = form.text(
                "attestations",
                serde_json::Value::Array(attestations.to_vec()).to_string(),
            );
        }
        let request = self.target.credential.apply_pypi(
            self.client
                .post(self.target.repository_url.clone())
                .multipart(form),
        );
        let response = request
            .send()
            .await
            .map_err(|source| TransferError::Request {
                url: shown.clone(),
                source,
            })?;
        let status = response.status();
        // Warehouse puts its message in the reason phrase (hyper keeps a
        // non-standard one in the response's extensions).
        let custom_reason = response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).trim().to_string())
            .filter(|r| !r.is_empty());
        let reason = status.canonical_reason().unwrap_or("").to_string();
        let text = response.text().await.unwrap_or_default();
        // GitLab answers {"message": "..."}; warehouse puts it in the reason phrase and body.
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .or(custom_reason)
            .unwrap_or_else(|| {
                if text.trim().is_empty() {
                    reason
                } else {
                    short_message(&text)
                }
            });
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(TransferError::Refused {
                url: shown,
                status: status.as_u16(),
                message,
            }
            .into());
        }
        Ok((status, message))
    }
}

/// An error body in one line: an HTML page's title, else the start of the text.
fn short_message(text: &str) -> String {
    let title = text
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(title, _)| title.trim().to_string());
    title.unwrap_or_else(|| {
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(300)
            .collect()
    })
}

/// The standard legacy-upload fields (twine's and uv's set), from the dist's own metadata.
fn metadata_form(dist: &Dist, sha256: &str) -> Form {
    let m = &dist.metadata;
    let mut form = Form::new()
        .text(":action", "file_upload")
        .text("protocol_version", "1")
        .text("metadata_version", m.metadata_version.clone())
        .text("name", m.name.clone())
        .text("version", m.version.clone())
        .text("filetype", dist.kind.filetype())
        .text("pyversion", dist.pyversion.clone())
        .text("sha256_digest", sha256.to_ascii_lowercase())
        .text(
            "requires_python",
            m.requires_python.clone().unwrap_or_default(),
        );
    let optional = [
        ("summary", &m.summary),
        ("description", &m.description),
        ("description_content_type", &m.description_content_type),
        ("keywords", &m.keywords),
        ("home_page", &m.home_page),
        ("download_url", &m.download_url),
        ("author", &m.author),
        ("author_email", &m.author_email),
        ("maintainer", &m.maintainer),
        ("maintainer_email", &m.maintainer_email),
        ("license", &m.license),
        ("license_expression", &m.license_expression),
    ];
    for (field, value) in optional {
        if let Some(value) = value {
            form = form.text(field, value.clone());
        }
    }
    let repeated = [
        ("classifiers", &m.classifiers),
        ("requires_dist", &m.requires_dist),
        ("provides_extra", &m.provides_extras),
        ("project_urls", &m.project_urls),
        ("platform", &m.platforms),
        ("dynamic", &m.dynamic),
    ];
    for (field, values) in repeated {
        for value in values {
            form = form.text(field, value.clone());
        }
    }
    form
}

crate::register_hint!(inherent PublishError);
