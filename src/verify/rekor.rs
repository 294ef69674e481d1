//! A Rekor v1 log: creating hashedrekord entries (signing) and finding the
//! entry for a detached `.sig`/`.crt` (verifying), as cosign does both.
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
use crate::http::{redact_url, send_retrying, HttpSettings};

#[derive(Debug, thiserror::Error)]
pub enum RekorError {
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
    #[error("{url} answered with something that is not a Rekor v1 entry: {detail}")]
    BadResponse { url: String, detail: String },
    #[error("{url} says the entry exists but did not say where (no Location header or UUID)")]
    ConflictWithoutLocation { url: String },
}

/// A Rekor v1 log to search.
#[derive(Debug, Clone)]
pub struct RekorLog {
    client: reqwest::Client,
    base_url: String,
    http: HttpSettings,
}

impl RekorLog {
    pub fn new(client: reqwest::Client, base_url: &str, http: HttpSettings) -> Self {
        RekorLog {
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
    ) -> Result<Vec<TransparencyLogEntry>, RekorError> {
        self.find_proposed(proposed_hashedrekord(detached, digest))
            .await
    }

    /// Log entries for a managed-key signature: the same search with the
    /// public key PEM as the entry's verifier, as cosign `verify-blob --key` does.
    pub async fn find_by_key(
        &self,
        signature: &[u8],
        public_key_pem: &str,
        digest: &[u8; 32],
    ) -> Result<Vec<TransparencyLogEntry>, RekorError> {
        self.find_proposed(proposed_with_verifier(signature, public_key_pem, digest))
            .await
    }

    async fn find_proposed(
        &self,
        proposed: serde_json::Value,
    ) -> Result<Vec<TransparencyLogEntry>, RekorError> {
        let url = format!("{}/api/v1/log/entries/retrieve", self.base_url);
        let query = json!({"entries": [proposed]});
        let (status, body) = self
            .send(|| self.client.post(&url).json(&query), &url)
            .await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let shown = redact_url(&url);
        if !status.is_success() {
            return Err(status_error(shown, status, &body));
        }
        let maps: Vec<BTreeMap<String, serde_json::Value>> = serde_json::from_slice(&body)
            .map_err(|e| RekorError::BadResponse {
                url: shown.clone(),
                detail: e.to_string(),
            })?;
        let mut entries = Vec::new();
        for map in maps {
            entries.extend(
                entries_from_map(map, KindVersion::HashedRekordV001).map_err(|detail| {
                    RekorError::BadResponse {
                        url: shown.clone(),
                        detail,
                    }
                })?,
            );
        }
        entries.sort_by_key(|e| e.integrated_time);
        Ok(entries)
    }

    /// Add a hashedrekord entry. If the log already has it (409, for example
    /// after a retry whose first answer was lost), fetch and return that one.
    /// Returns the entry and whether it already existed.
    pub async fn create(
        &self,
        detached: &Detached,
        digest: &[u8; 32],
    ) -> Result<(TransparencyLogEntry, bool), RekorError> {
        self.create_entry(
            &proposed_hashedrekord(detached, digest),
            KindVersion::HashedRekordV001,
        )
        .await
    }

    /// Add a `dsse` entry for a DSSE envelope over an in-toto `statement`,
    /// signed (over its PAE) with `certificate_der`'s key. As [`Self::create`]
    /// on 409.
    pub async fn create_dsse(
        &self,
        statement: &[u8],
        signature: &[u8],
        certificate_der: &[u8],
    ) -> Result<(TransparencyLogEntry, bool), RekorError> {
        let envelope = json!({
            "payloadType": super::attestation::IN_TOTO_PAYLOAD_TYPE,
            "payload": STANDARD.encode(statement),
            "signatures": [{"sig": STANDARD.encode(signature)}],
        });
        let proposed = json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {"proposedContent": {
                "envelope": envelope.to_string(),
                "verifiers": [STANDARD.encode(certificate_pem(certificate_der))],
            }},
        });
        self.create_entry(&proposed, KindVersion::DsseV001).await
    }

    /// Add the `proposed` entry of `kind`; on 409, the existing one.
    async fn create_entry(
        &self,
        proposed: &serde_json::Value,
        kind: KindVersion,
    ) -> Result<(TransparencyLogEntry, bool), RekorError> {
        let url = format!("{}/api/v1/log/entries", self.base_url);
        let shown = redact_url(&url);
        let response = send_retrying(&self.http, || self.client.post(&url).json(proposed))
            .await
            .map_err(|source| RekorError::Request {
                url: shown.clone(),
                source,
            })?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .bytes()
            .await
            .map_err(|source| RekorError::Request {
                url: shown.clone(),
                source,
            })?;
        if status == reqwest::StatusCode::CONFLICT {
            let uuid = location
                .as_deref()
                .and_then(|l| l.rsplit('/').next())
                .map(str::to_string)
                .or_else(|| uuid_in_message(&body))
                .ok_or(RekorError::ConflictWithoutLocation { url: shown })?;
            return Ok((self.get_entry(&uuid, kind).await?, true));
        }
        if !status.is_success() {
            return Err(status_error(shown, status, &body));
        }
        Ok((single_entry(&shown, &body, kind)?, false))
    }

    /// The hashedrekord entry with this UUID, with a current inclusion proof.
    pub async fn get(&self, uuid: &str) -> Result<TransparencyLogEntry, RekorError> {
        self.get_entry(uuid, KindVersion::HashedRekordV001).await
    }

    async fn get_entry(
        &self,
        uuid: &str,
        kind: KindVersion,
    ) -> Result<TransparencyLogEntry, RekorError> {
        if !uuid.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(RekorError::BadResponse {
                url: self.url(),
                detail: format!("bad entry UUID {uuid:?}"),
            });
        }
        let url = format!("{}/api/v1/log/entries/{uuid}", self.base_url);
        let (status, body) = self.send(|| self.client.get(&url), &url).await?;
        let shown = redact_url(&url);
        if !status.is_success() {
            return Err(status_error(shown, status, &body));
        }
        single_entry(&shown, &body, kind)
    }

    /// Send with retries on 5xx, 429 and connection failures.
    async fn send(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
        url: &str,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), RekorError> {
        let shown = redact_url(url);
        let response = send_retrying(&self.http, &request)
            .await
            .map_err(|source| RekorError::Request {
                url: shown.clone(),
                source,
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|source| RekorError::Request { url: shown, source })?;
        Ok((status, body.to_vec()))
    }
}

/// The hashedrekord v0.0.1 entry cosign proposes (pkg/cosign/tlog.go `rekorEntry`):
/// the certificate PEM goes in `publicKey.content`.
fn proposed_hashedrekord(detached: &Detached, digest: &[u8; 32]) -> serde_json::Value {
    proposed_with_verifier(
        &detached.signature,
        &certificate_pem(&detached.certificate),
        digest,
    )
}

/// A hashedrekord 0.0.1 entry whose verifier is `verifier_pem` (a certificate
/// or a public key).
fn proposed_with_verifier(
    signature: &[u8],
    verifier_pem: &str,
    digest: &[u8; 32],
) -> serde_json::Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
            "signature": {
                "content": STANDARD.encode(signature),
                "publicKey": {"content": STANDARD.encode(verifier_pem)},
            },
        },
    })
}

fn status_error(url: String, status: reqwest::StatusCode, body: &[u8]) -> RekorError {
    let text = String::from_utf8_lossy(body);
    RekorError::Status {
        url,
        status: status.as_u16(),
        body: text.chars().take(300).collect(),
    }
}

/// Rekor's 409 message ends with the existing entry's UUID.
fn uuid_in_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let message = value.get("message")?.as_str()?;
    let last = message.split_whitespace().last()?;
    (last.len() >= 64 && last.chars().all(|c| c.is_ascii_hexdigit())).then(|| last.to_string())
}

/// The one entry of a `{uuid: entry}` answer.
fn single_entry(
    url: &str,
    body: &[u8],
    kind: KindVersion,
) -> Result<TransparencyLogEntry, RekorError> {
    let bad = |detail: String| RekorError::BadResponse {
        url: url.to_string(),
        detail,
    };
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let count = map.len();
    let mut entries = entries_from_map(map, kind).map_err(bad)?;
    if count != 1 || entries.len() != 1 {
        return Err(bad(format!(
            "expected one entry whose UUID is its leaf hash, got {count}"
        )));
    }
    Ok(entries.remove(0))
}

/// Entries of one `{uuid: entry}` map whose UUID is their RFC 6962 leaf hash.
fn entries_from_map(
    map: BTreeMap<String, serde_json::Value>,
    kind: KindVersion,
) -> Result<Vec<TransparencyLogEntry>, String> {
    let mut entries = Vec::new();
    for (uuid, value) in map {
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
            .to_bundle_entry(kind)
            .map_err(|e| format!("entry {uuid}: {e}"))?;
        entries.push(entry);
    }
    Ok(entries)
}

crate::register_hint!(none RekorError);
