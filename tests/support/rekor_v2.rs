//! A Rekor v2 log (rekor-tiles shape) with real cryptography.
//!
//! `POST /api/v2/log/entries` takes a `hashedRekordRequestV002`, checks the
//! signature over the digest with the certificate's key (as Rekor v2 does),
//! appends the canonical hashedrekord 0.0.2 body to an RFC 6962 Merkle tree
//! and answers with the bundle's `TransparencyLogEntry`: top-level index, log
//! ID, inclusion proof and a checkpoint signed as a C2SP signed note with an
//! Ed25519 key. As on the real log, the log ID is the note key ID
//! `SHA-256(origin || "\n" || 0x01 || public key)`, whose first four bytes
//! are the signature's key hint; there is no integrated time and no SET.
//! `GET /api/v2/checkpoint` serves the latest checkpoint (tlog-tiles).

use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use sigstore_crypto::{verify_signature_prehashed, SigningScheme};
use sigstore_merkle::{hash_children, hash_leaf};
use sigstore_types::{DerPublicKey, Sha256Hash, SignatureBytes};
use x509_cert::der::{Decode, Encode};

use super::pki::{sha256, TRUST_START};

/// Prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The log: its key, origin and leaves.
pub struct RekorV2Log {
    key: Ed25519KeyPair,
    spki_der: Vec<u8>,
    origin: String,
    log_id: [u8; 32],
    leaves: Vec<Sha256Hash>,
    bodies: Vec<Vec<u8>>,
    /// Answer this many creates with a checkpoint whose signature has one flipped byte.
    corrupt_checkpoints: usize,
}

impl RekorV2Log {
    /// A log whose checkpoint origin is the host (and port) of `base_url`,
    /// as rekor-tiles names itself after its hostname.
    pub fn new(base_url: &str) -> Self {
        let key = Ed25519KeyPair::generate().expect("Ed25519 key");
        let public = key.public_key().as_ref().to_vec();
        let spki_der = [ED25519_SPKI_PREFIX.as_slice(), &public].concat();
        let origin = base_url
            .split_once("://")
            .map_or(base_url, |(_, rest)| rest)
            .trim_end_matches('/')
            .to_string();
        let log_id = sha256(&[origin.as_bytes(), b"\n", &[0x01], &public].concat());
        RekorV2Log {
            key,
            spki_der,
            origin,
            log_id,
            leaves: Vec::new(),
            bodies: Vec::new(),
            corrupt_checkpoints: 0,
        }
    }

    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }
    pub fn origin(&self) -> &str {
        &self.origin
    }
    pub fn tree_size(&self) -> u64 {
        self.leaves.len() as u64
    }
    /// The next `n` created entries carry a checkpoint with a bad signature.
    pub fn corrupt_next_checkpoints(&mut self, n: usize) {
        self.corrupt_checkpoints = n;
    }
    pub fn body(&self, index: u64) -> Option<&[u8]> {
        self.bodies.get(index as usize).map(Vec::as_slice)
    }

    /// `tlogs[]` entry of a trusted root for this log at `base_url`.
    pub fn trusted_root_entry(&self, base_url: &str) -> Value {
        json!({
            "baseUrl": base_url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": B64.encode(&self.spki_der),
                "keyDetails": "PKIX_ED25519",
                "validFor": { "start": TRUST_START },
            },
            "logId": { "keyId": B64.encode(self.log_id) },
        })
    }

    pub fn root_hash(&self) -> Sha256Hash {
        merkle_root(&self.leaves)
    }

    /// The signed note for the current tree.
    pub fn checkpoint(&self) -> String {
        let note = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.tree_size(),
            B64.encode(self.root_hash().as_bytes())
        );
        let signature = self.key.sign(note.as_bytes());
        let mut hint_and_sig = self.log_id[..4].to_vec();
        hint_and_sig.extend_from_slice(signature.as_ref());
        format!(
            "{note}\n\u{2014} {} {}\n",
            self.origin,
            B64.encode(hint_and_sig)
        )
    }

    /// Append a canonical body; returns its `TransparencyLogEntry` JSON.
    pub fn append(&mut self, body: Vec<u8>) -> Value {
        let index = self.leaves.len();
        self.leaves.push(hash_leaf(&body));
        self.bodies.push(body);
        let mut entry = self.entry(index as u64);
        if self.corrupt_checkpoints > 0 {
            self.corrupt_checkpoints -= 1;
            let envelope = entry["inclusionProof"]["checkpoint"]["envelope"]
                .as_str()
                .unwrap()
                .to_string();
            let (note, signature_line) = envelope.split_once("\n\n").unwrap();
            let (prefix, b64) = signature_line.trim_end().rsplit_once(' ').unwrap();
            let mut raw = B64.decode(b64).unwrap();
            let last = raw.len() - 1;
            raw[last] ^= 1;
            entry["inclusionProof"]["checkpoint"]["envelope"] =
                json!(format!("{note}\n\n{prefix} {}\n", B64.encode(raw)));
        }
        entry
    }

    /// Entry `index` with a proof against the current tree.
    pub fn entry(&self, index: u64) -> Value {
        let body = &self.bodies[index as usize];
        let hashes: Vec<String> = merkle_path(index as usize, &self.leaves)
            .iter()
            .map(|h| B64.encode(h.as_bytes()))
            .collect();
        json!({
            "logIndex": index.to_string(),
            "logId": { "keyId": B64.encode(self.log_id) },
            "kindVersion": { "kind": "hashedrekord", "version": "0.0.2" },
            "inclusionProof": {
                "logIndex": index.to_string(),
                "rootHash": B64.encode(self.root_hash().as_bytes()),
                "treeSize": self.tree_size().to_string(),
                "hashes": hashes,
                "checkpoint": { "envelope": self.checkpoint() },
            },
            "canonicalizedBody": B64.encode(body),
        })
    }
}

/// MTH over leaf hashes (RFC 6962 §2.1).
fn merkle_root(leaves: &[Sha256Hash]) -> Sha256Hash {
    match leaves.len() {
        0 => Sha256Hash::from(sha256(&[])),
        1 => leaves[0],
        n => {
            let k = split(n);
            hash_children(&merkle_root(&leaves[..k]), &merkle_root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]), leaf to root (RFC 6962 §2.1.1).
fn merkle_path(m: usize, leaves: &[Sha256Hash]) -> Vec<Sha256Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    let (mut path, sibling) = if m < k {
        (merkle_path(m, &leaves[..k]), merkle_root(&leaves[k..]))
    } else {
        (merkle_path(m - k, &leaves[k..]), merkle_root(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// Largest power of two strictly below `n` (n >= 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// Why a request was refused (400), in Rekor v2's words.
fn canonical_body(request: &Value) -> Result<Vec<u8>, String> {
    let req = request
        .get("hashedRekordRequestV002")
        .ok_or("only hashedRekordRequestV002 is supported")?;
    let b64 = |v: &Value, what: &str| -> Result<Vec<u8>, String> {
        let s = v.as_str().ok_or(format!("{what} missing"))?;
        B64.decode(s).map_err(|e| format!("{what}: {e}"))
    };
    let digest = b64(&req["digest"], "digest")?;
    if digest.len() != 32 {
        return Err(format!("digest has {} bytes, want 32", digest.len()));
    }
    let signature = b64(&req["signature"]["content"], "signature.content")?;
    let verifier = &req["signature"]["verifier"];
    if verifier["keyDetails"] != "PKIX_ECDSA_P256_SHA_256" {
        return Err(format!("unsupported keyDetails {}", verifier["keyDetails"]));
    }
    let cert_der = b64(
        &verifier["x509Certificate"]["rawBytes"],
        "verifier.x509Certificate.rawBytes",
    )?;
    let cert = x509_cert::Certificate::from_der(&cert_der).map_err(|e| e.to_string())?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    verify_signature_prehashed(
        &DerPublicKey::new(spki),
        &digest,
        &SignatureBytes::new(signature.clone()),
        SigningScheme::EcdsaP256Sha256,
    )
    .map_err(|e| format!("signature does not verify over the digest: {e}"))?;
    let body = json!({
        "apiVersion": "0.0.2",
        "kind": "hashedrekord",
        "spec": { "hashedRekordV002": {
            "data": { "algorithm": "SHA2_256", "digest": B64.encode(&digest) },
            "signature": {
                "content": B64.encode(&signature),
                "verifier": {
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "x509Certificate": { "rawBytes": B64.encode(&cert_der) },
                },
            },
        }},
    });
    serde_json_canonicalizer::to_vec(&body).map_err(|e| e.to_string())
}

/// The log's routes, for a server built by the caller.
pub fn router(log: Arc<Mutex<RekorV2Log>>) -> Router {
    Router::new()
        .route("/api/v2/log/entries", post(create))
        .route("/api/v2/checkpoint", get(checkpoint))
        .with_state(log)
}

async fn create(State(log): State<Arc<Mutex<RekorV2Log>>>, Json(request): Json<Value>) -> Response {
    match canonical_body(&request) {
        Ok(body) => {
            let entry = log.lock().unwrap_or_else(|e| e.into_inner()).append(body);
            (StatusCode::CREATED, Json(entry)).into_response()
        }
        Err(message) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "code": 3, "message": message })),
        )
            .into_response(),
    }
}

async fn checkpoint(State(log): State<Arc<Mutex<RekorV2Log>>>) -> Response {
    let text = log.lock().unwrap_or_else(|e| e.into_inner()).checkpoint();
    (StatusCode::OK, text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_verify_and_log_id_is_the_note_key_id() {
        let mut log = RekorV2Log::new("http://127.0.0.1:9");
        for i in 0..7u8 {
            log.append(vec![i; 10]);
        }
        for i in 0..7u64 {
            let path = merkle_path(i as usize, &log.leaves);
            sigstore_merkle::verify_inclusion_proof(
                &hash_leaf(log.body(i).unwrap()),
                i,
                7,
                &path,
                &log.root_hash(),
            )
            .unwrap();
        }
        let checkpoint = sigstore_types::Checkpoint::from_text(&log.checkpoint()).unwrap();
        assert_eq!(checkpoint.tree_size(), 7);
        assert_eq!(
            checkpoint.signatures()[0].key_id.as_bytes(),
            &log.log_id[..4]
        );
    }
}
