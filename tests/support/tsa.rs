//! An RFC 3161 timestamp authority with a local certificate chain (root ->
//! TSA leaf, ECDSA P-256), answering `POST /api/v1/timestamp` as Sigstore's
//! timestamp-authority does: a DER `TimeStampResp` holding a CMS SignedData
//! over a TSTInfo that echoes the request's imprint and nonce, with the
//! signed attributes (content type, signing time, message digest,
//! signingCertificateV2) and the TSA leaf embedded. sigstore-tsa's client
//! and verifier and sigstore-python's rfc3161-client accept what it signs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use sigstore_crypto::KeyPair;
use x509_cert::attr::Attribute;
use x509_cert::der::asn1::{
    Any, GeneralizedTime, ObjectIdentifier, OctetString, SetOfVec, UtcTime,
};
use x509_cert::der::Decode;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;
use x509_cert::{Certificate, TbsCertificate, Version};

use super::pki::{
    der, ecdsa_sha256_alg, ext, key_identifier, new_key, random_serial, sha256, sign, sign_tbs,
    spki_of, utc, CA_NOT_AFTER_UNIX, OID_AUTHORITY_KEY_ID, OID_BASIC_CONSTRAINTS,
    OID_EXT_KEY_USAGE, OID_KEY_USAGE, OID_SUBJECT_KEY_ID, TRUST_START, TRUST_START_UNIX,
};

const OID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const OID_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const OID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const OID_SIGNING_CERT_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// The policy Sigstore's timestamp-authority issues under.
const OID_TSA_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.2");

/// Path of the timestamp endpoint, as in Sigstore's signing configs.
pub const TIMESTAMP_PATH: &str = "/api/v1/timestamp";

// ---------------------------------------------------------------------------
// Minimal DER writer/reader: TSTInfo and CMS are a handful of SEQUENCEs.
// ---------------------------------------------------------------------------

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn small_int(v: u8) -> Vec<u8> {
    if v < 0x80 {
        vec![0x02, 0x01, v]
    } else {
        vec![0x02, 0x02, 0x00, v]
    }
}

/// (tag, whole encoding, content, rest).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// One TLV from the front of `input`.
fn read_tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((tag, &input[..header + len], &rest[..len], &rest[len..]))
}

/// What the TSA needs from a `TimeStampReq`: the imprint and nonce, echoed
/// byte for byte.
struct Request<'a> {
    message_imprint: &'a [u8],
    hash_algorithm_oid: ObjectIdentifier,
    hashed_message_len: usize,
    nonce: Option<&'a [u8]>,
}

fn parse_request(der_bytes: &[u8]) -> Option<Request<'_>> {
    let (0x30, _, body, []) = read_tlv(der_bytes)? else {
        return None;
    };
    let (0x02, _, version, rest) = read_tlv(body)? else {
        return None;
    };
    if version != [1] {
        return None;
    }
    let (0x30, imprint, imprint_body, mut rest) = read_tlv(rest)? else {
        return None;
    };
    let (0x30, _, alg_body, digest_rest) = read_tlv(imprint_body)? else {
        return None;
    };
    let (0x06, oid_tlv, _, _) = read_tlv(alg_body)? else {
        return None;
    };
    let hash_algorithm_oid = ObjectIdentifier::from_der(oid_tlv).ok()?;
    let (0x04, _, hashed, []) = read_tlv(digest_rest)? else {
        return None;
    };
    let mut nonce = None;
    while let Some((tag, whole, _, next)) = read_tlv(rest) {
        if tag == 0x02 {
            nonce = Some(whole);
        }
        rest = next;
    }
    Some(Request {
        message_imprint: imprint,
        hash_algorithm_oid,
        hashed_message_len: hashed.len(),
        nonce,
    })
}

// ---------------------------------------------------------------------------
// The authority
// ---------------------------------------------------------------------------

/// A TSA: self-signed root, leaf with EKU timeStamping (critical).
pub struct LocalTsa {
    root_der: Vec<u8>,
    leaf_der: Vec<u8>,
    leaf_key: KeyPair,
    leaf: Certificate,
    serial: AtomicU64,
    /// Shifts `genTime` (seconds, may be negative), for time-window tests.
    skew: std::sync::atomic::AtomicI64,
}

impl Default for LocalTsa {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalTsa {
    pub fn new() -> Self {
        let root_key = new_key();
        let root_spki = spki_of(&root_key);
        let root_name: Name = "CN=local-tsa-root,O=gl-sign tests".parse().unwrap();
        let root_kid = key_identifier(&root_spki);
        let root_tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&random_serial(&root_spki, 1)).unwrap(),
            signature: ecdsa_sha256_alg(),
            issuer: root_name.clone(),
            validity: Validity {
                not_before: utc(TRUST_START_UNIX),
                not_after: utc(CA_NOT_AFTER_UNIX),
            },
            subject: root_name.clone(),
            subject_public_key_info: root_spki.clone(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(vec![
                ext(
                    OID_KEY_USAGE,
                    true,
                    der(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)),
                ),
                ext(
                    OID_BASIC_CONSTRAINTS,
                    true,
                    der(&BasicConstraints {
                        ca: true,
                        path_len_constraint: Some(0),
                    }),
                ),
                ext(
                    OID_SUBJECT_KEY_ID,
                    false,
                    der(&SubjectKeyIdentifier(
                        OctetString::new(root_kid.clone()).unwrap(),
                    )),
                ),
            ]),
        };
        let root_der = sign_tbs(root_tbs, &root_key);

        let leaf_key = new_key();
        let leaf_spki = spki_of(&leaf_key);
        let leaf_name: Name = "CN=local-tsa,O=gl-sign tests".parse().unwrap();
        let leaf_tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&random_serial(&leaf_spki, 2)).unwrap(),
            signature: ecdsa_sha256_alg(),
            issuer: root_name,
            validity: Validity {
                not_before: utc(TRUST_START_UNIX),
                not_after: utc(CA_NOT_AFTER_UNIX),
            },
            subject: leaf_name,
            subject_public_key_info: leaf_spki.clone(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(vec![
                ext(
                    OID_KEY_USAGE,
                    true,
                    der(&KeyUsage(KeyUsages::DigitalSignature.into())),
                ),
                ext(
                    OID_SUBJECT_KEY_ID,
                    false,
                    der(&SubjectKeyIdentifier(
                        OctetString::new(key_identifier(&leaf_spki)).unwrap(),
                    )),
                ),
                ext(
                    OID_AUTHORITY_KEY_ID,
                    false,
                    der(&AuthorityKeyIdentifier {
                        key_identifier: Some(OctetString::new(root_kid).unwrap()),
                        authority_cert_issuer: None,
                        authority_cert_serial_number: None,
                    }),
                ),
                // RFC 3161 §2.3: the only purpose, and critical.
                ext(
                    OID_EXT_KEY_USAGE,
                    true,
                    der(&ExtendedKeyUsage(vec![OID_KP_TIME_STAMPING])),
                ),
            ]),
        };
        let leaf_der = sign_tbs(leaf_tbs, &root_key);
        let leaf = Certificate::from_der(&leaf_der).unwrap();
        LocalTsa {
            root_der,
            leaf_der,
            leaf_key,
            leaf,
            serial: AtomicU64::new(1),
            skew: std::sync::atomic::AtomicI64::new(0),
        }
    }

    pub fn leaf_der(&self) -> &[u8] {
        &self.leaf_der
    }
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// Sign future timestamps `seconds` away from the real time.
    pub fn set_skew(&self, seconds: i64) {
        self.skew.store(seconds, Ordering::SeqCst);
    }

    /// `timestampAuthorities[]` entry of a trusted root: chain leaf -> root.
    pub fn trusted_root_entry(&self, uri: &str) -> Value {
        json!({
            "subject": { "organization": "gl-sign tests", "commonName": "local-tsa" },
            "uri": uri,
            "certChain": { "certificates": [
                { "rawBytes": B64.encode(&self.leaf_der) },
                { "rawBytes": B64.encode(&self.root_der) },
            ]},
            "validFor": { "start": TRUST_START },
        })
    }

    /// The DER `TimeStampResp` for a DER `TimeStampReq`; `None` if the
    /// request is malformed or not SHA-256.
    pub fn respond(&self, request_der: &[u8]) -> Option<Vec<u8>> {
        let request = parse_request(request_der)?;
        if request.hash_algorithm_oid != OID_SHA256 || request.hashed_message_len != 32 {
            return None;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + self.skew.load(Ordering::SeqCst);
        let now = Duration::from_secs(now.max(0) as u64);
        let serial = self.serial.fetch_add(1, Ordering::SeqCst);

        let gen_time = der(&GeneralizedTime::from_unix_duration(now).ok()?);
        let accuracy = seq(&[&small_int(1)]);
        let mut tst_parts: Vec<&[u8]> = Vec::new();
        let version = small_int(1);
        let policy = der(&OID_TSA_POLICY);
        let serial_der = der(&x509_cert::der::asn1::Uint::new(&serial.to_be_bytes()).ok()?);
        tst_parts.extend([
            version.as_slice(),
            policy.as_slice(),
            request.message_imprint,
            serial_der.as_slice(),
            gen_time.as_slice(),
            accuracy.as_slice(),
        ]);
        if let Some(nonce) = request.nonce {
            tst_parts.push(nonce);
        }
        let tst_info = seq(&tst_parts);

        // Signed attributes, DER-sorted as a SET OF (what the signature covers).
        let attribute = |oid: ObjectIdentifier, value_der: Vec<u8>| Attribute {
            oid,
            values: SetOfVec::try_from(vec![Any::from_der(&value_der).unwrap()]).unwrap(),
        };
        let ess_cert_id_v2 = seq(&[&seq(&[&seq(&[&der(&OctetString::new(
            sha256(&self.leaf_der).to_vec(),
        )
        .unwrap())])])]);
        let signed_attrs = SetOfVec::try_from(vec![
            attribute(OID_CONTENT_TYPE, der(&OID_TST_INFO)),
            attribute(
                OID_SIGNING_TIME,
                der(&UtcTime::from_unix_duration(now).ok()?),
            ),
            attribute(
                OID_MESSAGE_DIGEST,
                der(&OctetString::new(sha256(&tst_info).to_vec()).unwrap()),
            ),
            attribute(OID_SIGNING_CERT_V2, ess_cert_id_v2),
        ])
        .ok()?;
        let signed_attrs_set = der(&signed_attrs);
        let signature = sign(&self.leaf_key, &signed_attrs_set);
        // In SignerInfo the same SET is tagged [0] IMPLICIT.
        let mut signed_attrs_implicit = signed_attrs_set.clone();
        signed_attrs_implicit[0] = 0xa0;

        let sha256_alg = seq(&[&der(&OID_SHA256)]);
        let issuer_and_serial = seq(&[
            &der(&self.leaf.tbs_certificate.issuer),
            &der(&self.leaf.tbs_certificate.serial_number),
        ]);
        let signer_info = seq(&[
            &small_int(1),
            &issuer_and_serial,
            &sha256_alg,
            &signed_attrs_implicit,
            &der(&ecdsa_sha256_alg()),
            &tlv(0x04, &signature),
        ]);
        let encap = seq(&[&der(&OID_TST_INFO), &tlv(0xa0, &tlv(0x04, &tst_info))]);
        let signed_data = seq(&[
            &small_int(3),
            &tlv(0x31, &sha256_alg),
            &encap,
            &tlv(0xa0, &self.leaf_der),
            &tlv(0x31, &signer_info),
        ]);
        let content_info = seq(&[&der(&OID_SIGNED_DATA), &tlv(0xa0, &signed_data)]);
        let status = seq(&[&small_int(0)]);
        Some(seq(&[&status, &content_info]))
    }
}

/// The TSA's routes, for a server built by the caller.
pub fn router(tsa: Arc<LocalTsa>) -> Router {
    Router::new()
        .route(TIMESTAMP_PATH, post(timestamp))
        .with_state(tsa)
}

async fn timestamp(State(tsa): State<Arc<LocalTsa>>, body: Bytes) -> Response {
    match tsa.respond(&body) {
        Some(response) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/timestamp-reply")],
            response,
        )
            .into_response(),
        None => (StatusCode::BAD_REQUEST, "malformed timestamp request").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let tsa = LocalTsa::new();
        // version 1, imprint sha256/32 zero bytes, nonce 5, certReq true
        let imprint = seq(&[&seq(&[&der(&OID_SHA256)]), &tlv(0x04, &[0u8; 32])]);
        let req = seq(&[&small_int(1), &imprint, &small_int(5), &[0x01, 0x01, 0xff]]);
        let parsed = parse_request(&req).unwrap();
        assert_eq!(parsed.message_imprint, imprint.as_slice());
        assert_eq!(parsed.nonce, Some(small_int(5).as_slice()));
        assert!(tsa.respond(&req).is_some());
        assert!(tsa.respond(&req[..req.len() - 1]).is_none());
    }
}
