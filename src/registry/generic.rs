//! The GitLab generic package registry (gitlab-and-pypi.md §2), for
//! signatures, certificates and bundles. Names and versions are checked
//! against GitLab's rules before anything is sent; uploads are serial (GitLab
//! races on concurrent first uploads of a version) and each stored sha256 is
//! checked afterwards.

use std::path::Path;
use std::sync::Arc;

use reqwest::{StatusCode, Url};

use super::auth::Credential;
use super::{Progress, TransferError};
use crate::http::{follow_redirects, may_carry_credentials, redact_url, HttpSettings};

/// Package name and file name: `[A-Za-z0-9._+-]+`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

/// Version: `[\w+.-]+` with no `..` anywhere.
pub fn valid_version(version: &str) -> bool {
    !version.is_empty()
        && !version.contains("..")
        && version
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '+' | '.' | '-'))
}

#[derive(Debug, Clone)]
pub struct GenericTarget {
    /// `…/projects/:id/packages/generic`.
    pub base_url: Url,
    pub package: String,
    pub version: String,
    pub credential: Credential,
}

impl GenericTarget {
    pub fn file_url(&self, file_name: &str) -> Url {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .expect("an http(s) URL")
            .pop_if_empty()
            .push(&self.package)
            .push(&self.version)
            .push(file_name);
        url
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Sent,
    /// The registry already holds this exact file.
    Skipped,
}

#[derive(Debug, thiserror::Error)]
pub enum GenericError {
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error("{what} {value:?} is not allowed by GitLab's generic registry ({rule})")]
    InvalidName {
        what: &'static str,
        value: String,
        rule: &'static str,
    },
    #[error("{url} stored sha256 {found}, but the local file has {expected}")]
    StoredHashDiffers {
        url: String,
        expected: String,
        found: String,
    },
}

impl GenericError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            GenericError::Transfer(TransferError::Unauthorized { .. }) => "in GitLab CI the JOB-TOKEN header is used; outside CI give an access token (PRIVATE-TOKEN) or a deploy token".into(),
            GenericError::InvalidName { .. } => "use letters, digits and . _ - + only in the package name and version".into(),
            _ => return None,
        })
    }

    fn retryable(&self) -> bool {
        matches!(self, GenericError::Transfer(e) if e.retryable())
    }
}

pub struct GenericPublisher {
    client: reqwest::Client,
    http: HttpSettings,
    target: GenericTarget,
    progress: Arc<dyn Progress>,
}

impl GenericPublisher {
    pub fn new(
        client: reqwest::Client,
        http: HttpSettings,
        target: GenericTarget,
        progress: Arc<dyn Progress>,
    ) -> Result<Self, GenericError> {
        if !valid_name(&target.package) {
            return Err(GenericError::InvalidName {
                what: "package name",
                value: target.package,
                rule: "[A-Za-z0-9._+-]+",
            });
        }
        if !valid_version(&target.version) {
            return Err(GenericError::InvalidName {
                what: "package version",
                value: target.version,
                rule: "[\\w+.-]+ without ..",
            });
        }
        if target.credential != Credential::Anonymous && !may_carry_credentials(&target.base_url) {
            return Err(TransferError::InsecureUrl {
                url: redact_url(target.base_url.as_str()),
                credential: target.credential.kind(),
            }
            .into());
        }
        Ok(GenericPublisher {
            client,
            http,
            target,
            progress,
        })
    }

    /// Check a file name before any upload starts.
    pub fn check_file_name(name: &str) -> Result<(), GenericError> {
        if valid_name(name) {
            Ok(())
        } else {
            Err(GenericError::InvalidName {
                what: "file name",
                value: name.to_string(),
                rule: "[A-Za-z0-9._+-]+",
            })
        }
    }

    /// The sha256 GitLab reports for the stored file (`X-Checksum-SHA256`), if any.
    pub async fn stored_sha256(&self, file_name: &str) -> Result<Option<String>, GenericError> {
        let url = self.target.file_url(file_name);
        let shown = redact_url(url.as_str());
        let credential = self.target.credential.clone();
        let response = follow_redirects(&self.client, url, |r| credential.apply_generic(r))
            .await
            .map_err(|source| TransferError::Request {
                url: shown.clone(),
                source,
            })?;
        TransferError::check_auth(response.status(), &shown, &self.target.credential)?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(response
                .headers()
                .get("X-Checksum-SHA256")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_ascii_lowercase())),
            s => Err(TransferError::Refused {
                url: shown,
                status: s.as_u16(),
                message: String::new(),
            }
            .into()),
        }
    }

    /// Upload `path` as `file_name` unless the registry already holds exactly it.
    pub async fn publish(
        &self,
        path: &Path,
        file_name: &str,
        sha256: &str,
    ) -> Result<Stored, GenericError> {
        Self::check_file_name(file_name)?;
        if self.stored_sha256(file_name).await?.as_deref() == Some(sha256) {
            return Ok(Stored::Skipped);
        }
        let mut attempt = 0;
        let stored = loop {
            match self.send(path, file_name).await {
                Err(e) if e.retryable() && attempt < self.http.retries => {
                    attempt += 1;
                    self.progress.retrying(file_name, &e.to_string());
                    tokio::time::sleep(self.http.min_backoff * 2u32.pow(attempt as u32 - 1)).await;
                    // The lost answer may have followed a stored upload.
                    if self
                        .stored_sha256(file_name)
                        .await
                        .ok()
                        .flatten()
                        .as_deref()
                        == Some(sha256)
                    {
                        break Some(sha256.to_string());
                    }
                }
                Err(e) => return Err(e),
                Ok(stored) => break stored,
            }
        };
        // Check what GitLab stored: from the upload answer, else a fresh GET.
        let found = match stored {
            Some(found) => Some(found),
            None => self.stored_sha256(file_name).await?,
        };
        match found {
            Some(found) if found == sha256 => Ok(Stored::Sent),
            found => Err(GenericError::StoredHashDiffers {
                url: redact_url(self.target.file_url(file_name).as_str()),
                expected: sha256.to_string(),
                found: found.unwrap_or_else(|| "nothing".into()),
            }),
        }
    }

    /// One PUT; returns the stored sha256 when the answer carries it.
    async fn send(&self, path: &Path, file_name: &str) -> Result<Option<String>, GenericError> {
        let mut url = self.target.file_url(file_name);
        url.query_pairs_mut().append_pair("select", "package_file");
        let shown = redact_url(url.as_str());
        let (body, length) = super::file_body(path, file_name.to_string(), self.progress.clone())
            .await
            .map_err(|source| TransferError::Read {
                file: path.display().to_string(),
                source,
            })?;
        let request = self.target.credential.apply_generic(
            self.client
                .put(url)
                .header(reqwest::header::CONTENT_LENGTH, length)
                .body(body),
        );
        let response = request
            .send()
            .await
            .map_err(|source| TransferError::Request {
                url: shown.clone(),
                source,
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        TransferError::check_auth(status, &shown, &self.target.credential)?;
        let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        if !status.is_success() {
            let message = json
                .as_ref()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| text.chars().take(300).collect());
            return Err(TransferError::Refused {
                url: shown,
                status: status.as_u16(),
                message,
            }
            .into());
        }
        Ok(json.and_then(|v| {
            v.get("file_sha256")
                .and_then(|s| s.as_str())
                .map(str::to_ascii_lowercase)
        }))
    }
}

crate::register_hint!(inherent GenericError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_generic_rules() {
        for ok in ["my-pkg", "pkg_1.0+x", "A.b-C"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a/b", "a b", "%2e%2e%2f", "ü"] {
            assert!(!valid_name(bad), "{bad}");
        }
        for ok in [
            "1.3.350-20201230123456",
            "1.2.3g",
            "1.2.bananas",
            "v1.2.4-build",
            "0123456789abcdef0123456789abcdef01234567",
        ] {
            assert!(valid_version(ok), "{ok}");
        }
        for bad in ["..1.2.3", "1.2.3-4/../../", "%2e%2e%2f1.2.3", "1..2", ""] {
            assert!(!valid_version(bad), "{bad}");
        }
    }
}
