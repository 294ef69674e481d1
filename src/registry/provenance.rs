//! PEP 740 provenance of a released file, as an index serves it:
//! `{version: 1, attestation_bundles: [{publisher, attestations}]}`, found at
//! the file's provenance link on the simple page (`provenance` in PEP 691
//! JSON, `data-provenance` in HTML), else at PyPI's Integrity API route
//! (`/integrity/<project>/<version>/<file>/provenance` on the index host).
//! Each attestation is verified like any other (see `verify::pep740`); here
//! the publisher the index recorded is checked against the one the user
//! expects.
//!
//! A link is the index's word, so it gets the index's rules (see
//! [`location`]): resolved against the page, https (plain http only to
//! loopback), no user info, and the index's credentials only on the index's
//! own origin. An unusable link is an error, never a reason to look
//! elsewhere: falling back would let a page decide which check runs.

use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::auth::Credential;
use super::dist::normalize_name;
use super::index::{IndexFile, ProvenanceLink};
use super::TransferError;
use crate::ci::GitLabSigner;
use crate::http::{follow_redirects, may_carry_credentials, redact_url, same_origin};
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
    #[error(
        "the index's provenance link for {file} cannot be used: expected {expected}, found {found}"
    )]
    BadLink {
        file: String,
        expected: &'static str,
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
            ProvenanceError::BadLink { .. } => Some(
                "the simple page links the file's provenance (PEP 740) somewhere gl-sign does not fetch from; \
                 it does not fall back to the Integrity API when a link is given, so fix the index or use another one"
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

/// Where `file`'s provenance is and the credential to send there: its link
/// when the index gives one, else the Integrity API on the index host.
///
/// A link must resolve (relative links against the page, done by the index
/// parser), be https or plain http to loopback, and carry no user info. The
/// index's credential goes only to the index's own scheme, host and port; a
/// link elsewhere is fetched anonymously, and [`fetch`]'s redirects drop the
/// credential once they leave the link's origin.
pub fn location(
    file: &IndexFile,
    index_url: &Url,
    name: &str,
    version: &str,
    credential: &Credential,
) -> Result<(Url, Credential), ProvenanceError> {
    let Some(link) = &file.provenance else {
        return Ok((
            integrity_url(index_url, name, version, &file.filename),
            credential.clone(),
        ));
    };
    let url = link_url(link, &file.filename)?;
    let credential = if same_origin(&url, index_url) {
        credential.clone()
    } else {
        Credential::Anonymous
    };
    Ok((url, credential))
}

/// The URL of a provenance link, when gl-sign may fetch it.
pub fn link_url(link: &ProvenanceLink, filename: &str) -> Result<Url, ProvenanceError> {
    let bad = |expected, found| ProvenanceError::BadLink {
        file: filename.to_string(),
        expected,
        found,
    };
    let url = link.url.as_ref().map_err(|why| {
        bad(
            "a URL (absolute, or relative to the index page)",
            format!("{:?} ({why})", link.raw),
        )
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "a URL without a user name or password",
            format!("one with them ({})", redact_url(url.as_str())),
        ));
    }
    if !may_carry_credentials(url) {
        return Err(bad(
            "an https URL (plain http only to a loopback address)",
            redact_url(url.as_str()),
        ));
    }
    Ok(url.clone())
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

    fn file_with(link: Option<&str>) -> IndexFile {
        let page = Url::parse("https://idx.example/simple/demo/").unwrap();
        let html = match link {
            Some(l) => format!(
                r#"<a href="/f/demo-1.0.tar.gz#sha256=00" data-provenance="{l}">demo-1.0.tar.gz</a>"#
            ),
            None => r#"<a href="/f/demo-1.0.tar.gz#sha256=00">demo-1.0.tar.gz</a>"#.to_string(),
        };
        crate::registry::index::parse_html(&page, &html).remove(0)
    }

    #[test]
    fn links_are_followed_with_the_index_credential_only_on_its_origin() {
        let index = Url::parse("https://idx.example/simple/").unwrap();
        let token = Credential::AccessToken(crate::registry::auth::Secret::new("t"));
        let at = |link| location(&file_with(link), &index, "Demo", "1.0", &token);

        let (url, credential) = at(None).unwrap();
        assert_eq!(
            url.as_str(),
            "https://idx.example/integrity/demo/1.0/demo-1.0.tar.gz/provenance",
            "no link: the Integrity API on the index host"
        );
        assert_eq!(credential, token);

        let (url, credential) = at(Some("../../prov/demo-1.0.tar.gz")).unwrap();
        assert_eq!(url.as_str(), "https://idx.example/prov/demo-1.0.tar.gz");
        assert_eq!(credential, token, "same origin as the index");

        for elsewhere in [
            "https://files.example/prov/demo-1.0.tar.gz",
            "https://idx.example:8443/prov/demo-1.0.tar.gz",
            "http://127.0.0.1:9/prov/demo-1.0.tar.gz",
        ] {
            let (url, credential) = at(Some(elsewhere)).unwrap();
            assert_eq!(url.as_str(), elsewhere);
            assert_eq!(credential, Credential::Anonymous, "{elsewhere}");
        }
    }

    #[test]
    fn unusable_links_are_errors_naming_what_was_expected() {
        let index = Url::parse("https://idx.example/simple/").unwrap();
        let refused = |link: &str| {
            location(
                &file_with(Some(link)),
                &index,
                "demo",
                "1.0",
                &Credential::Anonymous,
            )
            .unwrap_err()
        };
        let e = refused("http://mirror.example/prov/demo-1.0.tar.gz");
        assert!(!e.is_rejection());
        assert_eq!(
            e.to_string(),
            "the index's provenance link for demo-1.0.tar.gz cannot be used: expected an https URL \
             (plain http only to a loopback address), found http://mirror.example/prov/demo-1.0.tar.gz"
        );
        let e = refused("https://me:secret@idx.example/prov/x");
        assert!(
            e.to_string()
                .contains("expected a URL without a user name or password")
                && !e.to_string().contains("secret"),
            "{e}"
        );
        let e = refused("ftp://idx.example/prov/x");
        assert!(e.to_string().contains("expected an https URL"), "{e}");
        let e = refused("");
        assert!(
            e.to_string().contains(
                "expected a URL (absolute, or relative to the index page), found \"\" (an empty value)"
            ),
            "{e}"
        );
        let e = refused("https://[::1");
        assert!(e.to_string().contains(r#"found "https://[::1" ("#), "{e}");
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
