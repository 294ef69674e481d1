//! What an end user runs: fetch a release from a simple index, check every
//! file against the index's sha256, and fetch each file's signature from the
//! generic registry. Verification then goes through the same `BlobVerifier`
//! as `verify-blob`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::auth::Credential;
use super::dist::{name_and_version_from_filename, normalize_name, same_version, Dist};
use super::index::{self, IndexFile, Page};
use super::{Progress, TransferError};
use crate::http::{follow_redirects, may_carry_credentials, redact_url, same_origin};
use crate::verify::{input, Detached, Evidence};

#[derive(Debug, Clone)]
pub struct ReleaseSource {
    /// The simple index root, e.g. `…/projects/7/packages/pypi/simple`.
    pub index_url: Url,
    pub index_credential: Credential,
    /// `…/projects/7/packages/generic`.
    pub generic_url: Url,
    pub generic_credential: Credential,
    /// Generic package holding the signatures.
    pub package: String,
}

/// One downloaded file of the release, checked against the index.
#[derive(Debug)]
pub struct Downloaded {
    pub filename: String,
    /// Where the bytes are (a partial file until the caller keeps it).
    pub path: PathBuf,
    pub sha256: [u8; 32],
    /// The signature evidence, or why there is none.
    pub evidence: Result<Evidence, ConsumerError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error("{name} is not on {url} (the index redirects it elsewhere, as GitLab does for packages it does not hold)")]
    NotOnIndex { name: String, url: String },
    #[error("{url} lists no files for {name}=={version}")]
    NoFiles {
        name: String,
        version: String,
        url: String,
    },
    #[error("the index gives no sha256 for {file}; it cannot be checked")]
    NoIndexHash { file: String },
    #[error("{file}: expected sha256 {expected} (from the index), downloaded file has {found}")]
    IndexHashMismatch {
        file: String,
        expected: String,
        found: String,
    },
    #[error("no signature for {file} in the generic registry: looked for {looked_for}")]
    MissingSignature { file: String, looked_for: String },
    #[error("the signature files for {file} are not valid")]
    BadEvidence {
        file: String,
        #[source]
        source: input::InputError,
    },
    #[error("the index lists {name:?}, which is not a safe file name ({why})")]
    UnsafeFileName { name: String, why: &'static str },
    #[error("{file} is not {expected}: its own metadata ({metadata}) says {found}")]
    WrongRelease {
        file: String,
        expected: String,
        metadata: &'static str,
        found: String,
    },
    #[error("cannot read the metadata of {file}, so which release it is cannot be checked")]
    UnreadableDist {
        file: String,
        #[source]
        source: super::dist::DistError,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ConsumerError {
    /// A "no" about the release rather than a failure to find out.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            ConsumerError::NoFiles { .. }
                | ConsumerError::UnsafeFileName { .. }
                | ConsumerError::WrongRelease { .. }
                | ConsumerError::UnreadableDist { .. }
                | ConsumerError::IndexHashMismatch { .. }
                | ConsumerError::MissingSignature { .. }
                | ConsumerError::NoIndexHash { .. }
        )
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            ConsumerError::MissingSignature { .. } => Some(
                "the release was published without its signatures (gl-sign publish generic), or the generic package / URL given point elsewhere"
                    .into(),
            ),
            ConsumerError::WrongRelease { .. } => Some(
                "the index serves another release's file under this release's name; do not install it"
                    .into(),
            ),
            ConsumerError::Transfer(TransferError::Unauthorized { .. }) => Some("give an access token, or run inside a GitLab CI job of the project".into()),
            _ => None,
        }
    }
}

pub struct ReleaseFetcher {
    client: reqwest::Client,
    source: ReleaseSource,
    progress: Arc<dyn Progress>,
}

impl ReleaseFetcher {
    pub fn new(
        client: reqwest::Client,
        source: ReleaseSource,
        progress: Arc<dyn Progress>,
    ) -> Result<Self, ConsumerError> {
        for (url, credential) in [
            (&source.index_url, &source.index_credential),
            (&source.generic_url, &source.generic_credential),
        ] {
            if *credential != Credential::Anonymous && !may_carry_credentials(url) {
                return Err(TransferError::InsecureUrl {
                    url: redact_url(url.as_str()),
                    credential: credential.kind(),
                }
                .into());
            }
        }
        Ok(ReleaseFetcher {
            client,
            source,
            progress,
        })
    }

    /// The index's files for `name`==`version`.
    pub async fn release_files(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Vec<IndexFile>, ConsumerError> {
        let mut page = self.source.index_url.clone();
        page.path_segments_mut()
            .expect("an http(s) URL")
            .pop_if_empty()
            .push(&normalize_name(name))
            .push("");
        let shown = redact_url(page.as_str());
        let files =
            match index::fetch_page(&self.client, &page, &self.source.index_credential).await? {
                Page::Files(files) => files,
                Page::Redirected => {
                    return Err(ConsumerError::NotOnIndex {
                        name: name.to_string(),
                        url: shown,
                    })
                }
                Page::NotFound => {
                    return Err(ConsumerError::NoFiles {
                        name: name.into(),
                        version: version.into(),
                        url: shown,
                    })
                }
            };
        let wanted = normalize_name(name);
        let claims_release = |filename: &str| {
            name_and_version_from_filename(filename)
                .is_some_and(|(n, v)| normalize_name(&n) == wanted && same_version(&v, version))
        };
        // The file name becomes a path under --dest: a name that could leave
        // that directory is refused when any part of it claims this release.
        for f in &files {
            if let Err(why) = check_file_name(&f.filename) {
                let last = f.filename.rsplit(['/', '\\']).next().unwrap_or_default();
                if claims_release(&f.filename) || claims_release(last.trim_start_matches('.')) {
                    return Err(ConsumerError::UnsafeFileName {
                        name: f.filename.clone(),
                        why,
                    });
                }
            }
        }
        let release: Vec<IndexFile> = files
            .into_iter()
            .filter(|f| check_file_name(&f.filename).is_ok() && claims_release(&f.filename))
            .collect();
        if release.is_empty() {
            return Err(ConsumerError::NoFiles {
                name: name.into(),
                version: version.into(),
                url: shown,
            });
        }
        Ok(release)
    }

    /// Download `file` into `dir` (streaming, hashing as it goes), check the
    /// index's sha256, then fetch its signature.
    pub async fn download(
        &self,
        file: &IndexFile,
        dir: &Path,
        name: &str,
        version: &str,
    ) -> Result<Downloaded, ConsumerError> {
        let (path, sha256) = self.download_file(file, dir, name, version).await?;
        let evidence = self.evidence(&file.filename, version).await;
        Ok(Downloaded {
            filename: file.filename.clone(),
            path,
            sha256,
            evidence,
        })
    }

    /// Download `file` into `dir` as a partial file, check the index's sha256
    /// and that the dist's own metadata names `name`==`version`; returns
    /// where it is and its digest.
    pub async fn download_file(
        &self,
        file: &IndexFile,
        dir: &Path,
        name: &str,
        version: &str,
    ) -> Result<(PathBuf, [u8; 32]), ConsumerError> {
        let expected = file
            .sha256
            .clone()
            .ok_or_else(|| ConsumerError::NoIndexHash {
                file: file.filename.clone(),
            })?;
        let path = dir.join(format!(".gl-sign-partial-{}", file.filename));
        let shown = redact_url(file.url.as_str());
        // The index's credential goes only to the index's origin, as pip's
        // does: a page may link files anywhere (PyPI's are on another host).
        let credential = if same_origin(&file.url, &self.source.index_url) {
            self.source.index_credential.clone()
        } else {
            Credential::Anonymous
        };
        let mut response =
            follow_redirects(&self.client, file.url.clone(), |r| credential.apply_pypi(r))
                .await
                .map_err(|source| TransferError::Request {
                    url: shown.clone(),
                    source,
                })?;
        TransferError::check_auth(response.status(), &shown, &credential)?;
        if !response.status().is_success() {
            return Err(TransferError::Refused {
                url: shown,
                status: response.status().as_u16(),
                message: String::new(),
            }
            .into());
        }
        let total = response.content_length().unwrap_or(0);
        let write_error = |source| ConsumerError::Write {
            path: path.clone(),
            source,
        };
        let mut out = tokio::fs::File::create(&path).await.map_err(write_error)?;
        let mut hasher = Sha256::new();
        let mut done = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|source| TransferError::Request {
                url: shown.clone(),
                source,
            })?
        {
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(write_error)?;
            done += chunk.len() as u64;
            self.progress.bytes(&file.filename, done, total);
        }
        out.flush().await.map_err(write_error)?;
        let sha256: [u8; 32] = hasher.finalize().into();
        if hex::encode(sha256) != expected {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(ConsumerError::IndexHashMismatch {
                file: file.filename.clone(),
                expected,
                found: hex::encode(sha256),
            });
        }
        if let Err(e) = check_release(&path, &file.filename, name, version) {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
        Ok((path, sha256))
    }

    /// The client and index of this fetcher, for other lookups on the index host.
    pub fn index(&self) -> (&reqwest::Client, &Url, &Credential) {
        (
            &self.client,
            &self.source.index_url,
            &self.source.index_credential,
        )
    }

    /// `FILE.sigstore.json`, else `FILE.sig` + `FILE.crt`, from the generic registry.
    async fn evidence(&self, filename: &str, version: &str) -> Result<Evidence, ConsumerError> {
        let bad = |source| ConsumerError::BadEvidence {
            file: filename.to_string(),
            source,
        };
        if let Some(bytes) = self
            .generic_file(version, &format!("{filename}.sigstore.json"))
            .await?
        {
            return input::parse_bundle(&bytes).map_err(bad);
        }
        let signature = self
            .generic_file(version, &format!("{filename}.sig"))
            .await?;
        let certificate = self
            .generic_file(version, &format!("{filename}.crt"))
            .await?;
        match (signature, certificate) {
            (Some(sig), Some(crt)) => Ok(Evidence::Detached(Detached {
                signature: input::parse_signature(&sig).map_err(bad)?,
                certificate: input::parse_certificate(&crt).map_err(bad)?,
            })),
            _ => Err(ConsumerError::MissingSignature {
                file: filename.to_string(),
                looked_for: format!(
                    "{filename}.sigstore.json, {filename}.sig + {filename}.crt in {}/{version}",
                    self.source.package
                ),
            }),
        }
    }

    /// A small file from the generic registry, or None when it is not there.
    async fn generic_file(
        &self,
        version: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, ConsumerError> {
        let mut url = self.source.generic_url.clone();
        url.path_segments_mut()
            .expect("an http(s) URL")
            .pop_if_empty()
            .push(&self.source.package)
            .push(version)
            .push(name);
        let shown = redact_url(url.as_str());
        let credential = self.source.generic_credential.clone();
        let response = follow_redirects(&self.client, url, |r| credential.apply_generic(r))
            .await
            .map_err(|source| TransferError::Request {
                url: shown.clone(),
                source,
            })?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|source| TransferError::Request { url: shown, source })?;
                Ok(Some(bytes.to_vec()))
            }
            s => {
                TransferError::check_auth(s, &shown, &self.source.generic_credential)?;
                Err(TransferError::Refused {
                    url: shown,
                    status: s.as_u16(),
                    message: String::new(),
                }
                .into())
            }
        }
    }
}

/// A dist file name from an index must be one plain file name: it is joined
/// to a directory, and a signature is only as good as the name it is about.
pub fn check_file_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty");
    }
    if name.contains('\0') {
        return Err("contains NUL");
    }
    if name.contains('/') || name.contains('\\') {
        return Err("contains a path separator");
    }
    if name == ".." || name.starts_with('.') {
        return Err("starts with a dot");
    }
    if name.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    if name_and_version_from_filename(name).is_none() {
        return Err("not a wheel or sdist file name");
    }
    Ok(())
}

/// The downloaded dist's own metadata (wheel METADATA / sdist PKG-INFO) must
/// name the requested release: the index and the generic registry may be
/// controlled by whoever wants `pkg-1.0` installed as `pkg-2.0`.
fn check_release(
    path: &Path,
    filename: &str,
    name: &str,
    version: &str,
) -> Result<(), ConsumerError> {
    let dist = Dist::open(path).map_err(|source| ConsumerError::UnreadableDist {
        file: filename.to_string(),
        source,
    })?;
    let metadata = match dist.kind {
        super::dist::DistKind::Wheel => "wheel METADATA",
        super::dist::DistKind::Sdist => "sdist PKG-INFO",
    };
    let found_name = &dist.metadata.name;
    let found_version = &dist.metadata.version;
    if normalize_name(found_name) != normalize_name(name) || !same_version(found_version, version) {
        return Err(ConsumerError::WrongRelease {
            file: filename.to_string(),
            expected: format!("{name}=={version}"),
            metadata,
            found: format!("{found_name}=={found_version}"),
        });
    }
    Ok(())
}

crate::register_hint!(inherent ConsumerError);
