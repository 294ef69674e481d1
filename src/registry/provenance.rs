//! PEP 740 provenance of a released file, as an index serves it: the Integrity
//! API (`/integrity/<project>/<version>/<file>/provenance` on the index host,
//! PyPI's route) returns `{version: 1, attestation_bundles: [{publisher,
//! attestations}]}`. Each attestation is verified like any other (see
//! `verify::pep740`); here the publisher the index recorded is checked against
//! the one the user expects.

use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::auth::Credential;
use super::dist::normalize_name;
use super::TransferError;
use crate::ci::GitLabSigner;
use crate::http::{follow_redirects, redact_url};
use crate::verify::pep740::{Attestation, Pep740Error};
use crate::verify::Evidence;

/// Accept header of the Integrity API (warehouse's first choice).
pub const INTEGRITY_ACCEPT: &str = "application/vnd.pypi.integrity.v1+json";

#[derive(Debug, Clone, Deserialize)]
pub struct Provenance {
    pub version: u64,
    pub attestation_bundles: Vec<AttestationBundle>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AttestationBundle {
    pub publisher: Publisher,
    pub attestations: Vec<Attestation>,
}

/// The Trusted Publisher PyPI recorded for the upload.
#[derive(Debug, Clone, Deserialize)]
pub struct Publisher {
    pub kind: String,
    #[serde(default)]
    pub repository: Option<String>,
    /// GitLab's CI file.
    #[serde(default)]
    pub workflow_filepath: Option<String>,
    /// GitHub's workflow file.
    #[serde(default)]
    pub workflow: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
}

impl std::fmt::Display for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({})",
            self.kind,
            self.repository.as_deref().unwrap_or("?"),
            self.workflow_filepath
                .as_deref()
                .or(self.workflow.as_deref())
                .unwrap_or("?")
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error("{url} has no provenance for {file}")]
    Missing { file: String, url: String },
    #[error("the provenance of {file} from {url} is not valid: {detail}")]
    Malformed {
        file: String,
        url: String,
        detail: String,
    },
    #[error("an attestation in the provenance of {file} is not valid")]
    BadAttestation {
        file: String,
        #[source]
        source: Pep740Error,
    },
    #[error("the provenance of {file} holds no attestation")]
    Empty { file: String },
    #[error("{file} was published by {found}, expected GitLab {expected}")]
    Publisher {
        file: String,
        expected: String,
        found: String,
    },
}

crate::register_hint!(ProvenanceError);

impl crate::diagnostics::Hint for ProvenanceError {
    fn hint(&self) -> Option<String> {
        ProvenanceError::hint(self)
    }
}

impl ProvenanceError {
    /// A "no" about the file rather than a failure to find out.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            ProvenanceError::Missing { .. }
                | ProvenanceError::Empty { .. }
                | ProvenanceError::Publisher { .. }
        )
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            ProvenanceError::Missing { .. } => Some(
                "the file was uploaded without attestations (PyPI stores them only for Trusted Publishing uploads)"
                    .into(),
            ),
            ProvenanceError::Publisher { .. } => Some(
                "PyPI recorded another Trusted Publisher for this upload; check the GitLab project and CI config path expected"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// `<index origin>/integrity/<project>/<version>/<file>/provenance`.
pub fn integrity_url(index_url: &Url, name: &str, version: &str, filename: &str) -> Url {
    let mut url = index_url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path("/");
    url.path_segments_mut()
        .expect("an http(s) URL")
        .clear()
        .extend([
            "integrity",
            &normalize_name(name),
            version,
            filename,
            "provenance",
        ]);
    url
}

/// Fetch and parse the provenance at `url`.
pub async fn fetch(
    client: &reqwest::Client,
    url: &Url,
    credential: &Credential,
    filename: &str,
) -> Result<Provenance, ProvenanceError> {
    let shown = redact_url(url.as_str());
    let credential_for = credential.clone();
    let response = follow_redirects(client, url.clone(), |r| {
        credential_for
            .apply_pypi(r)
            .header(reqwest::header::ACCEPT, INTEGRITY_ACCEPT)
    })
    .await
    .map_err(|source| TransferError::Request {
        url: shown.clone(),
        source,
    })?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Err(ProvenanceError::Missing {
            file: filename.to_string(),
            url: shown,
        });
    }
    TransferError::check_auth(status, &shown, credential)?;
    if !status.is_success() {
        return Err(TransferError::Refused {
            url: shown,
            status: status.as_u16(),
            message: String::new(),
        }
        .into());
    }
    let body = response
        .bytes()
        .await
        .map_err(|source| TransferError::Request {
            url: shown.clone(),
            source,
        })?;
    let malformed = |detail: String| ProvenanceError::Malformed {
        file: filename.to_string(),
        url: shown.clone(),
        detail,
    };
    let provenance: Provenance =
        serde_json::from_slice(&body).map_err(|e| malformed(e.to_string()))?;
    if provenance.version != 1 {
        return Err(malformed(format!(
            "expected provenance version 1, found {}",
            provenance.version
        )));
    }
    Ok(provenance)
}

/// The attestations of `provenance` as evidence to verify, after checking the
/// recorded publisher against `expected` (when the user named a GitLab
/// project). PyPI compares repository and CI file exactly, so this does too.
pub fn bundles(
    provenance: &Provenance,
    filename: &str,
    expected: Option<&GitLabSigner>,
) -> Result<Vec<Evidence>, ProvenanceError> {
    let mut out = Vec::new();
    for bundle in &provenance.attestation_bundles {
        if let Some(signer) = expected {
            let publisher = &bundle.publisher;
            let matches = publisher.kind == "GitLab"
                && publisher.repository.as_deref() == Some(signer.project_path.as_str())
                && publisher.workflow_filepath.as_deref() == Some(signer.config_path.as_str());
            if !matches {
                return Err(ProvenanceError::Publisher {
                    file: filename.to_string(),
                    expected: format!("{} ({})", signer.project_path, signer.config_path),
                    found: publisher.to_string(),
                });
            }
        }
        for attestation in &bundle.attestations {
            out.push(attestation.to_evidence().map_err(|source| {
                ProvenanceError::BadAttestation {
                    file: filename.to_string(),
                    source,
                }
            })?);
        }
    }
    if out.is_empty() {
        return Err(ProvenanceError::Empty {
            file: filename.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_url_is_on_the_index_host() {
        let index = Url::parse("https://pypi.org/simple/").unwrap();
        assert_eq!(
            integrity_url(&index, "Demo.Pkg", "1.0", "demo_pkg-1.0.tar.gz").as_str(),
            "https://pypi.org/integrity/demo-pkg/1.0/demo_pkg-1.0.tar.gz/provenance"
        );
    }

    #[test]
    fn real_provenance_names_its_github_publisher() {
        let bytes = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/vectors/pep740/pypi_attestations-0.0.19.tar.gz.provenance"),
        )
        .unwrap();
        let provenance: Provenance = serde_json::from_slice(&bytes).unwrap();
        let file = "pypi_attestations-0.0.19.tar.gz";
        assert_eq!(bundles(&provenance, file, None).unwrap().len(), 1);
        let gitlab = GitLabSigner::new(
            "https://gitlab.com",
            "trailofbits/pypi-attestations",
            ".gitlab-ci.yml",
            None,
        )
        .unwrap();
        let err = bundles(&provenance, file, Some(&gitlab)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pypi_attestations-0.0.19.tar.gz was published by GitHub trailofbits/pypi-attestations (release.yml), \
             expected GitLab trailofbits/pypi-attestations (.gitlab-ci.yml)"
        );
    }
}
