//! Fulcio `POST /api/v2/signingCert`: one certificate for the whole run.
//!
//! The request is the one sigstore-go and sigstore-rust send (public key plus a
//! proof of possession over the token's subject). The answer is not trusted:
//! the caller checks the identity now and the chain and SCT before writing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use sigstore_crypto::KeyPair;

use super::token::IdentityToken;
use crate::http::{may_carry_credentials, redact_url, send_retrying, HttpSettings};

#[derive(Debug, thiserror::Error)]
pub enum FulcioError {
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} refused the request ({status}): {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered with something that is not a signing certificate: {detail}")]
    BadResponse { url: String, detail: String },
    #[error("cannot create the proof of possession: {0}")]
    Key(String),
    #[error("refusing to send the identity token to {url}: https is required (plain http only to loopback)")]
    Insecure { url: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    signed_certificate_embedded_sct: Option<Chain>,
    signed_certificate_detached_sct: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Chain {
    chain: Certificates,
}

#[derive(Deserialize)]
struct Certificates {
    certificates: Vec<String>,
}

/// Ask Fulcio for a certificate for `key`; returns the leaf in DER.
pub async fn request_certificate(
    client: &reqwest::Client,
    http: &HttpSettings,
    fulcio_url: &str,
    token: &IdentityToken,
    key: &KeyPair,
) -> Result<Vec<u8>, FulcioError> {
    let url = format!("{}/api/v2/signingCert", fulcio_url.trim_end_matches('/'));
    let shown = redact_url(&url);
    // The token is in the body: never in clear, whoever built the URL.
    if !reqwest::Url::parse(&url).is_ok_and(|u| may_carry_credentials(&u)) {
        return Err(FulcioError::Insecure { url: shown });
    }
    let public_key = key
        .public_key_der()
        .map_err(|e| FulcioError::Key(e.to_string()))?
        .to_pem();
    let proof = key
        .sign(token.proof_subject().as_bytes())
        .map_err(|e| FulcioError::Key(e.to_string()))?;
    let body = json!({
        "credentials": {"oidcIdentityToken": token.expose()},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": public_key},
            "proofOfPossession": STANDARD.encode(proof.as_bytes()),
        },
    });
    let response = send_retrying(http, || client.post(&url).json(&body))
        .await
        .map_err(|source| FulcioError::Request {
            url: shown.clone(),
            source,
        })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|source| FulcioError::Request {
            url: shown.clone(),
            source,
        })?;
    if !status.is_success() {
        // Fulcio answers {"code":…,"message":…}; fall back to the raw text.
        let text = String::from_utf8_lossy(&bytes);
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| text.chars().take(300).collect());
        return Err(FulcioError::Refused {
            url: shown,
            status: status.as_u16(),
            message,
        });
    }
    let bad = |detail: String| FulcioError::BadResponse {
        url: shown.clone(),
        detail,
    };
    let response: Response = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let Some(chain) = response.signed_certificate_embedded_sct else {
        let detail = if response.signed_certificate_detached_sct.is_some() {
            "the SCT is detached; gl-sign needs it embedded in the certificate, as bundles carry no detached SCT"
        } else {
            "no certificate chain"
        };
        return Err(bad(detail.into()));
    };
    let leaf = chain
        .chain
        .certificates
        .first()
        .ok_or_else(|| bad("empty certificate chain".into()))?;
    let block = pem::parse(leaf).map_err(|e| bad(format!("leaf is not PEM: {e}")))?;
    if block.tag() != "CERTIFICATE" {
        return Err(bad(format!("leaf is a PEM {} block", block.tag())));
    }
    Ok(block.contents().to_vec())
}

crate::register_hint!(none FulcioError);
