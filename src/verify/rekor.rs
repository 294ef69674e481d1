//! Finding the Rekor entry for a detached `.sig`/`.crt`, as cosign does.
//!
//! cosign (`FindTlogEntry`, pkg/cosign/tlog.go) posts the *proposed* hashedrekord
//! entry to `/api/v1/log/entries/retrieve`, so Rekor matches digest, signature
//! and certificate together rather than the digest alone. Each returned entry's
//! UUID must be the RFC 6962 leaf hash of its body. Nothing returned here is
//! trusted: the entry goes into a bundle and through full offline verification
//! (inclusion proof, checkpoint, SET, body consistency).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use sigstore_rekor::LogEntry;
use sigstore_types::{KindVersion, TransparencyLogEntry};

use super::input::{certificate_pem, Detached};
use crate::http::{redact_url, with_retries, HttpSettings};

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} answered with something that is not a Rekor v1 search result: {detail}")]
    BadResponse { url: String, detail: String },
}

/// A Rekor v1 log to search.
#[derive(Debug, Clone)]
pub struct RekorLookup {
    client: reqwest::Client,
    base_url: String,
    http: HttpSettings,
}

impl RekorLookup {
    pub fn new(client: reqwest::Client, base_url: &str, http: HttpSettings) -> Self {
        RekorLookup {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }

    pub fn url(&self) -> String {
        redact_url(&self.base_url)
    }

    /// Log entries for exactly this digest, signature and certificate, earliest
    /// first. An empty list means the log does not know the signature.
    pub async fn find(
        &self,
        detached: &Detached,
        digest: &[u8; 32],
    ) -> Result<Vec<TransparencyLogEntry>, LookupError> {
        let url = format!("{}/api/v1/log/entries/retrieve", self.base_url);
        let shown = redact_url(&url);
        let proposed = json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
                "signature": {
                    "content": STANDARD.encode(&detached.signature),
                    "publicKey": {"content": STANDARD.encode(certificate_pem(&detached.certificate))},
                },
            },
        });
        let query = json!({"entries": [proposed]});
        let response = with_retries(&self.http, || async {
            let response = self.client.post(&url).json(&query).send().await?;
            // 5xx and 429 become errors so the retry policy sees them.
            if response.status().is_server_error()
                || response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS
            {
                return response.error_for_status();
            }
            Ok(response)
        })
        .await
        .map_err(|source| LookupError::Request {
            url: shown.clone(),
            source,
        })?;

        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let body = response
            .bytes()
            .await
            .map_err(|source| LookupError::Request {
                url: shown.clone(),
                source,
            })?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(LookupError::Status {
                url: shown,
                status: status.as_u16(),
                body: text.chars().take(300).collect(),
            });
        }
        parse_search_result(&body).map_err(|detail| LookupError::BadResponse { url: shown, detail })
    }
}

/// Parse `[{uuid: entry}, …]`, keeping entries whose UUID is their leaf hash.
fn parse_search_result(body: &[u8]) -> Result<Vec<TransparencyLogEntry>, String> {
    let maps: Vec<BTreeMap<String, serde_json::Value>> =
        serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut entries = Vec::new();
    for (uuid, value) in maps.into_iter().flatten() {
        let entry: LogEntry =
            serde_json::from_value(value).map_err(|e| format!("entry {uuid}: {e}"))?;
        let leaf = Sha256::new()
            .chain_update([0u8])
            .chain_update(entry.body.as_bytes())
            .finalize();
        // Sharded logs prefix the 64-hex leaf hash with a 16-hex tree ID.
        if !uuid.to_ascii_lowercase().ends_with(&hex::encode(leaf)) {
            continue;
        }
        let entry = entry
            .to_bundle_entry(KindVersion::HashedRekordV001)
            .map_err(|e| format!("entry {uuid}: {e}"))?;
        entries.push(entry);
    }
    entries.sort_by_key(|e| e.integrated_time);
    Ok(entries)
}
