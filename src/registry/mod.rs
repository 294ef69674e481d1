//! GitLab package registries: PyPI uploads and simple index, the generic
//! registry, and consumer-side download and verification.

pub mod auth;
pub mod consumer;
pub mod dist;
pub mod generic;
pub mod index;
pub mod provenance;
pub mod pypi;
pub mod trusted_publishing;

use std::path::Path;
use std::sync::Arc;

/// What can go wrong talking to any registry; each registry's error type
/// wraps this and adds what is particular to it.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("refusing to send {credential} over plain http to {url}")]
    InsecureUrl { url: String, credential: String },
    #[error("cannot read {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} refused {credential} ({status})")]
    Unauthorized {
        url: String,
        credential: String,
        status: u16,
    },
    #[error("{url} answered {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered with something unreadable: {detail}")]
    BadResponse { url: String, detail: String },
}

impl TransferError {
    /// 401 and 403 become an error naming the kind of credential that was
    /// tried (never its value); anything else passes.
    pub fn check_auth(
        status: reqwest::StatusCode,
        url: &str,
        credential: &auth::Credential,
    ) -> Result<(), TransferError> {
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(TransferError::Unauthorized {
                url: url.to_string(),
                credential: credential.kind(),
                status: status.as_u16(),
            });
        }
        Ok(())
    }

    /// Worth another attempt: server errors, rate limits and dropped connections.
    pub fn retryable(&self) -> bool {
        match self {
            TransferError::Request { source, .. } => crate::http::is_retryable(source),
            TransferError::Refused { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Progress of long transfers, for the command to show; the library never prints.
pub trait Progress: Send + Sync {
    /// `done` of `total` bytes of `file` transferred.
    fn bytes(&self, _file: &str, _done: u64, _total: u64) {}
    /// A finished file with its outcome.
    fn finished(&self, _file: &str, _outcome: &str) {}
    /// A retry after a failure.
    fn retrying(&self, _file: &str, _why: &str) {}
}

/// Progress that shows nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// sha256 of a file, streaming.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    Ok(hex::encode(crate::files::sha256_file(path)?))
}

/// A streaming request body over a file, reporting progress as it is read.
pub(crate) async fn file_body(
    path: &Path,
    label: String,
    progress: Arc<dyn Progress>,
) -> std::io::Result<(reqwest::Body, u64)> {
    use futures_util::StreamExt as _;
    let file = tokio::fs::File::open(path).await?;
    let total = file.metadata().await?.len();
    let mut done = 0u64;
    let stream =
        tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                done += bytes.len() as u64;
                progress.bytes(&label, done, total);
            }
        });
    Ok((reqwest::Body::wrap_stream(stream), total))
}

crate::register_hint!(none TransferError);
