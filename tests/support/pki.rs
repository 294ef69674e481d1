//! In-process Sigstore "public good" stand-in with real cryptography.
//!
//! `TestSigstore` owns a Fulcio-like CA (root -> intermediate, ECDSA P-256),
//! a CT log key that embeds precertificate SCTs into the leaves it issues, and
//! a Rekor v1-like log key plus an in-memory RFC 6962 Merkle tree. Everything
//! it produces (leaf certificates, hashedrekord entries, SETs, inclusion proofs,
//! signed checkpoints, v0.3 bundles, trusted_root.json) verifies with
//! `sigstore-verify` with no skips, and follows what sigstore-python 4.x needs
//! (see /work/shared/specs/sigstore-python-requirements.md).
//!
//! Key material is fresh and random for every `TestSigstore::new()`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sigstore_crypto::KeyPair;
use x509_cert::der::asn1::{
    BitString, Ia5String, ObjectIdentifier, OctetString, UtcTime, Utf8StringRef,
};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/// Media type of the bundles produced here.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Start of every `validFor` window in the trusted root, and notBefore of the CA certs.
pub const TRUST_START: &str = "2020-01-01T00:00:00Z";
pub(crate) const TRUST_START_UNIX: u64 = 1_577_836_800; // 2020-01-01T00:00:00Z
pub(crate) const CA_NOT_AFTER_UNIX: u64 = 2_524_607_999; // 2049-12-31T23:59:59Z (last UTCTime year)
/// Lifetime of issued leaf certificates (Fulcio: 10 minutes).
pub const LEAF_LIFETIME: Duration = Duration::from_secs(600);

pub(crate) const OID_ECDSA_WITH_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_KP_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
const OID_CT_PRECERT_SCTS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
pub(crate) const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
pub(crate) const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
pub(crate) const OID_BASIC_CONSTRAINTS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.19");
pub(crate) const OID_SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
pub(crate) const OID_AUTHORITY_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const OID_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

/// Fulcio extension OID `1.3.6.1.4.1.57264.1.<n>`.
fn fulcio_oid(n: u32) -> ObjectIdentifier {
    ObjectIdentifier::new(&format!("1.3.6.1.4.1.57264.1.{n}")).expect("valid Fulcio OID")
}

// ---------------------------------------------------------------------------
// GitLab claims
// ---------------------------------------------------------------------------

/// The GitLab CI ID-token claims that Fulcio maps into certificate extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitLabClaims {
    /// Instance URL = token `iss`, e.g. `https://gitlab.example.test`.
    pub server_url: String,
    pub project_path: String,
    /// `branch` or `tag`.
    pub ref_type: String,
    pub ref_name: String,
    /// CI config path inside the project, e.g. `.gitlab-ci.yml`.
    pub config_path: String,
    /// Commit SHA (also used as `ci_config_sha`).
    pub sha: String,
    pub project_id: String,
    pub namespace_path: String,
    pub namespace_id: String,
    pub pipeline_source: String,
    pub job_id: String,
    pub runner_environment: String,
    pub visibility: String,
}

impl GitLabClaims {
    pub fn example() -> Self {
        GitLabClaims {
            server_url: "https://gitlab.example.test".into(),
            project_path: "group/proj".into(),
            ref_type: "branch".into(),
            ref_name: "main".into(),
            config_path: ".gitlab-ci.yml".into(),
            sha: "eafa0a6820b778736cffdf6c70448b5647855352".into(),
            project_id: "72356192".into(),
            namespace_path: "group".into(),
            namespace_id: "108199179".into(),
            pipeline_source: "push".into(),
            job_id: "11637492236".into(),
            runner_environment: "gitlab-hosted".into(),
            visibility: "public".into(),
        }
    }

    /// Same claims for a tag pipeline.
    pub fn with_tag(mut self, tag: &str) -> Self {
        self.ref_type = "tag".into();
        self.ref_name = tag.into();
        self
    }

    fn host(&self) -> &str {
        let s = self.server_url.trim_end_matches('/');
        s.split_once("://").map_or(s, |(_, rest)| rest)
    }

    fn base_url(&self) -> &str {
        self.server_url.trim_end_matches('/')
    }

    /// `refs/heads/<ref>` or `refs/tags/<ref>`.
    pub fn git_ref(&self) -> String {
        if self.ref_type == "tag" {
            format!("refs/tags/{}", self.ref_name)
        } else {
            format!("refs/heads/{}", self.ref_name)
        }
    }

    /// `ci_config_ref_uri` claim: `<host>/<project>//<config>@<ref>`.
    pub fn ci_config_ref_uri(&self) -> String {
        format!(
            "{}/{}//{}@{}",
            self.host(),
            self.project_path,
            self.config_path,
            self.git_ref()
        )
    }

    /// Certificate identity (URI SAN): `https://{host}/{project}//{config}@refs/...`.
    pub fn identity(&self) -> String {
        format!("https://{}", self.ci_config_ref_uri())
    }

    /// OIDC issuer (token `iss`).
    pub fn issuer(&self) -> String {
        self.base_url().to_string()
    }

    /// Token `sub`: `project_path:<p>:ref_type:<t>:ref:<r>`.
    pub fn subject(&self) -> String {
        format!(
            "project_path:{}:ref_type:{}:ref:{}",
            self.project_path, self.ref_type, self.ref_name
        )
    }

    pub fn source_repository_uri(&self) -> String {
        format!("{}/{}", self.base_url(), self.project_path)
    }

    pub fn run_invocation_uri(&self) -> String {
        format!(
            "{}/{}/-/jobs/{}",
            self.base_url(),
            self.project_path,
            self.job_id
        )
    }

    /// Fulcio extensions `.1.8`-`.1.22` and `.1.24` (all DER UTF8String), in OID order.
    fn utf8_extensions(&self) -> Vec<(u32, String)> {
        let cfg_uri = self.identity();
        vec![
            (8, self.issuer()),
            (9, cfg_uri.clone()),
            (10, self.sha.clone()),
            (11, self.runner_environment.clone()),
            (12, self.source_repository_uri()),
            (13, self.sha.clone()),
            (14, self.git_ref()),
            (15, self.project_id.clone()),
            (16, format!("{}/{}", self.base_url(), self.namespace_path)),
            (17, self.namespace_id.clone()),
            (18, cfg_uri),
            (19, self.sha.clone()),
            (20, self.pipeline_source.clone()),
            (21, self.run_invocation_uri()),
            (22, self.visibility.clone()),
            (24, self.subject()),
        ]
    }
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() & 1 == 0, "odd-length hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// PEM with LF line endings and 64-column lines (as Go's `pem.EncodeToMemory`).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

pub fn cert_pem(der: &[u8]) -> String {
    pem_encode("CERTIFICATE", der)
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .expect("time after 1970")
        .as_secs()
}

fn rfc3339(unix: u64) -> String {
    jiff::Timestamp::from_second(unix as i64)
        .expect("timestamp")
        .to_string()
}

pub(crate) fn utc(unix: u64) -> Time {
    Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(unix)).expect("UTCTime range"))
}

pub(crate) fn ext(oid: ObjectIdentifier, critical: bool, value_der: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value_der).expect("octets"),
    }
}

pub(crate) fn der<T: Encode>(v: &T) -> Vec<u8> {
    v.to_der().expect("DER encoding")
}

fn utf8_der(s: &str) -> Vec<u8> {
    der(&Utf8StringRef::new(s).expect("UTF8String"))
}

/// Key identifier: truncated SHA-256 of the subjectPublicKey bits (RFC 7093 method 1).
pub(crate) fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    sha256(spki.subject_public_key.raw_bytes())[..20].to_vec()
}

pub(crate) fn ecdsa_sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: OID_ECDSA_WITH_SHA256,
        parameters: None,
    }
}

pub(crate) fn spki_der_of(key: &KeyPair) -> Vec<u8> {
    key.public_key_der()
        .expect("public key DER")
        .as_bytes()
        .to_vec()
}

pub(crate) fn sign(key: &KeyPair, data: &[u8]) -> Vec<u8> {
    key.sign(data).expect("ECDSA signing").as_bytes().to_vec()
}

pub(crate) fn new_key() -> KeyPair {
    KeyPair::generate_ecdsa_p256().expect("P-256 key generation")
}

// RFC 6962 Merkle tree hashing.
fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body);
    h.finalize().into()
}

fn node_hash(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// Largest power of two strictly smaller than n (n >= 2).
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH(D[n]) over leaf hashes.
fn merkle_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&merkle_root(&leaves[..k]), &merkle_root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]) (RFC 6962 §2.1.1), leaf-to-root order.
fn merkle_path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split_point(n);
    if m < k {
        let mut p = merkle_path(m, &leaves[..k]);
        p.push(merkle_root(&leaves[k..]));
        p
    } else {
        let mut p = merkle_path(m - k, &leaves[k..]);
        p.push(merkle_root(&leaves[..k]));
        p
    }
}

// ---------------------------------------------------------------------------
// CA
// ---------------------------------------------------------------------------

struct CaCert {
    key: KeyPair,
    name: Name,
    spki: SubjectPublicKeyInfoOwned,
    cert_der: Vec<u8>,
}

impl CaCert {
    fn key_id(&self) -> Vec<u8> {
        key_identifier(&self.spki)
    }
    fn spki_der(&self) -> Vec<u8> {
        der(&self.spki)
    }
}

fn ca_key_usage() -> Vec<u8> {
    der(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))
}

/// Sign a TBS with `issuer_key` and assemble the certificate DER.
pub(crate) fn sign_tbs(tbs: TbsCertificate, issuer_key: &KeyPair) -> Vec<u8> {
    let sig = sign(issuer_key, &der(&tbs));
    der(&Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256_alg(),
        signature: BitString::from_bytes(&sig).expect("bit string"),
    })
}

fn ca_tbs(
    serial: &[u8],
    issuer: &Name,
    subject: &Name,
    spki: &SubjectPublicKeyInfoOwned,
    authority_key_id: Vec<u8>,
    path_len: u8,
    code_signing_eku: bool,
) -> TbsCertificate {
    let mut extensions = vec![
        ext(OID_KEY_USAGE, true, ca_key_usage()),
        ext(
            OID_BASIC_CONSTRAINTS,
            true,
            der(&BasicConstraints {
                ca: true,
                path_len_constraint: Some(path_len),
            }),
        ),
        ext(
            OID_SUBJECT_KEY_ID,
            false,
            der(&SubjectKeyIdentifier(
                OctetString::new(key_identifier(spki)).unwrap(),
            )),
        ),
        ext(
            OID_AUTHORITY_KEY_ID,
            false,
            der(&AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(authority_key_id).unwrap()),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            }),
        ),
    ];
    if code_signing_eku {
        // Fulcio's intermediate carries EKU codeSigning (non-critical).
        extensions.insert(
            1,
            ext(
                OID_EXT_KEY_USAGE,
                false,
                der(&ExtendedKeyUsage(vec![OID_KP_CODE_SIGNING])),
            ),
        );
    }
    TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(serial).expect("serial"),
        signature: ecdsa_sha256_alg(),
        issuer: issuer.clone(),
        validity: Validity {
            not_before: utc(TRUST_START_UNIX),
            not_after: utc(CA_NOT_AFTER_UNIX),
        },
        subject: subject.clone(),
        subject_public_key_info: spki.clone(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    }
}

pub(crate) fn spki_of(key: &KeyPair) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_der(&spki_der_of(key)).expect("SPKI")
}

// ---------------------------------------------------------------------------
// Rekor entry data
// ---------------------------------------------------------------------------

/// An RFC 6962 inclusion proof plus the signed checkpoint for the same tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProofData {
    pub log_index: u64,
    /// Hex root hash of the tree of size `tree_size`.
    pub root_hash: String,
    pub tree_size: u64,
    /// Hex audit path, leaf to root.
    pub hashes: Vec<String>,
    /// Signed note: `origin\nsize\nb64root\n\n— name b64(hint||sig)\n`.
    pub checkpoint: String,
}

impl InclusionProofData {
    /// Rekor v1 API form (`hashes`/`rootHash` hex, integers).
    pub fn to_rekor_v1_json(&self) -> Value {
        json!({
            "checkpoint": self.checkpoint,
            "hashes": self.hashes,
            "logIndex": self.log_index,
            "rootHash": self.root_hash,
            "treeSize": self.tree_size,
        })
    }

    /// Bundle (protobuf-JSON) form: base64 hashes, string integers.
    pub fn to_bundle_json(&self) -> Value {
        json!({
            "logIndex": self.log_index.to_string(),
            "rootHash": B64.encode(unhex(&self.root_hash)),
            "treeSize": self.tree_size.to_string(),
            "hashes": self.hashes.iter().map(|h| B64.encode(unhex(h))).collect::<Vec<_>>(),
            "checkpoint": { "envelope": self.checkpoint },
        })
    }
}

/// One Rekor v1 log entry, as returned by `POST /api/v1/log/entries`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RekorEntry {
    /// Entry UUID: 16 hex digits of tree ID followed by the hex leaf hash (as sharded Rekor).
    pub uuid: String,
    /// base64 of the canonicalized body.
    pub body_b64: String,
    pub integrated_time: i64,
    pub log_id_hex: String,
    pub log_index: u64,
    /// base64 DER ECDSA SET.
    pub set_b64: String,
    pub proof: InclusionProofData,
}

impl RekorEntry {
    pub fn body(&self) -> Vec<u8> {
        B64.decode(&self.body_b64).expect("body base64")
    }

    /// `(kind, apiVersion)` from the body.
    pub fn kind_version(&self) -> (String, String) {
        let v: Value = serde_json::from_slice(&self.body()).expect("body JSON");
        (
            v["kind"].as_str().unwrap_or_default().to_string(),
            v["apiVersion"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// The entry without the UUID wrapper (Rekor `LogEntryAnon`).
    pub fn to_rekor_v1_entry_json(&self) -> Value {
        json!({
            "body": self.body_b64,
            "integratedTime": self.integrated_time,
            "logID": self.log_id_hex,
            "logIndex": self.log_index,
            "verification": {
                "inclusionProof": self.proof.to_rekor_v1_json(),
                "signedEntryTimestamp": self.set_b64,
            },
        })
    }

    /// `{uuid: {body, integratedTime, logID, logIndex, verification}}` like Rekor v1 responses.
    pub fn to_rekor_v1_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert(self.uuid.clone(), self.to_rekor_v1_entry_json());
        Value::Object(m)
    }

    /// The `verificationMaterial.tlogEntries[]` element of a v0.3 bundle.
    pub fn to_bundle_tlog_entry_json(&self) -> Value {
        let (kind, version) = self.kind_version();
        json!({
            "logIndex": self.log_index.to_string(),
            "logId": { "keyId": B64.encode(unhex(&self.log_id_hex)) },
            "kindVersion": { "kind": kind, "version": version },
            "integratedTime": self.integrated_time.to_string(),
            "inclusionPromise": { "signedEntryTimestamp": self.set_b64 },
            "inclusionProof": self.proof.to_bundle_json(),
            "canonicalizedBody": self.body_b64,
        })
    }
}

/// Canonical (RFC 8785) hashedrekord v0.0.1 body, as Rekor stores it.
pub fn hashedrekord_body(
    sha256_digest: [u8; 32],
    signature_der: &[u8],
    leaf_cert_der: &[u8],
) -> Vec<u8> {
    let v = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex(&sha256_digest) } },
            "signature": {
                "content": B64.encode(signature_der),
                "publicKey": { "content": B64.encode(cert_pem(leaf_cert_der)) },
            },
        },
    });
    serde_json_canonicalizer::to_vec(&v).expect("canonical JSON")
}

/// A v0.3 bundle (message signature, single leaf certificate, one tlog entry).
pub fn bundle_v03_json(
    leaf_cert_der: &[u8],
    signature_der: &[u8],
    sha256_digest: [u8; 32],
    entry: &RekorEntry,
) -> String {
    let v = json!({
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": {
            "certificate": { "rawBytes": B64.encode(leaf_cert_der) },
            "tlogEntries": [ entry.to_bundle_tlog_entry_json() ],
        },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": B64.encode(sha256_digest) },
            "signature": B64.encode(signature_der),
        },
    });
    serde_json::to_string_pretty(&v).expect("bundle JSON")
}

/// Output of [`TestSigstore::sign_blob`].
#[derive(Clone, Debug)]
pub struct SignedBlob {
    pub signature_der: Vec<u8>,
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    pub digest: [u8; 32],
    pub bundle_json: String,
    pub entry: RekorEntry,
}

impl SignedBlob {
    /// Replace the entry (e.g. with a fresher inclusion proof) and rebuild the bundle.
    pub fn with_entry(mut self, entry: RekorEntry) -> Self {
        self.bundle_json =
            bundle_v03_json(&self.cert_der, &self.signature_der, self.digest, &entry);
        self.entry = entry;
        self
    }

    /// cosign `--output-signature` content: base64(DER sig), no newline.
    pub fn signature_b64(&self) -> String {
        B64.encode(&self.signature_der)
    }
}

struct StoredEntry {
    body: Vec<u8>,
    integrated_time: i64,
    set_b64: String,
}

// ---------------------------------------------------------------------------
// TestSigstore
// ---------------------------------------------------------------------------

/// Fulcio CA + CT log + Rekor v1 log, all in memory.
pub struct TestSigstore {
    root: CaCert,
    intermediate: CaCert,
    ct_key: KeyPair,
    ct_spki_der: Vec<u8>,
    ct_log_id: [u8; 32],
    rekor_key: KeyPair,
    rekor_spki_der: Vec<u8>,
    rekor_log_id: [u8; 32],
    rekor_url: String,
    fulcio_url: String,
    ct_url: String,
    tree_id: u64,
    leaves: Vec<[u8; 32]>,
    entries: Vec<StoredEntry>,
    clock: Option<SystemTime>,
    serial_counter: AtomicU64,
}

impl Default for TestSigstore {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSigstore {
    pub fn new() -> Self {
        let root_key = new_key();
        let root_spki = spki_of(&root_key);
        let root_name: Name = "CN=sigstore,O=sigstore.dev".parse().expect("root name");
        let root_kid = key_identifier(&root_spki);
        let root_serial = random_serial(&root_spki, 1);
        let root_tbs = ca_tbs(
            &root_serial,
            &root_name,
            &root_name,
            &root_spki,
            root_kid.clone(),
            1,
            false,
        );
        let root_der = sign_tbs(root_tbs, &root_key);
        let root = CaCert {
            key: root_key,
            name: root_name,
            spki: root_spki,
            cert_der: root_der,
        };

        let int_key = new_key();
        let int_spki = spki_of(&int_key);
        let int_name: Name = "CN=sigstore-intermediate,O=sigstore.dev"
            .parse()
            .expect("intermediate name");
        let int_serial = random_serial(&int_spki, 2);
        let int_tbs = ca_tbs(
            &int_serial,
            &root.name,
            &int_name,
            &int_spki,
            root_kid,
            0,
            true,
        );
        let int_der = sign_tbs(int_tbs, &root.key);
        let intermediate = CaCert {
            key: int_key,
            name: int_name,
            spki: int_spki,
            cert_der: int_der,
        };

        let ct_key = new_key();
        let ct_spki_der = spki_der_of(&ct_key);
        let ct_log_id = sha256(&ct_spki_der);
        let rekor_key = new_key();
        let rekor_spki_der = spki_der_of(&rekor_key);
        let rekor_log_id = sha256(&rekor_spki_der);
        let tree_id =
            u64::from_be_bytes(rekor_log_id[..8].try_into().unwrap()) & 0x7fff_ffff_ffff_ffff;

        TestSigstore {
            root,
            intermediate,
            ct_key,
            ct_spki_der,
            ct_log_id,
            rekor_key,
            rekor_spki_der,
            rekor_log_id,
            rekor_url: "https://rekor.example.test".into(),
            fulcio_url: "https://fulcio.example.test".into(),
            ct_url: "https://ctfe.example.test/test".into(),
            tree_id,
            leaves: Vec::new(),
            entries: Vec::new(),
            clock: None,
            serial_counter: AtomicU64::new(100),
        }
    }

    // ----- configuration -----

    /// `baseUrl` of the tlog in the trusted root (and checkpoint origin host).
    pub fn set_rekor_url(&mut self, url: &str) {
        self.rekor_url = url.trim_end_matches('/').to_string();
    }

    /// `uri` of the certificate authority in the trusted root.
    pub fn set_fulcio_url(&mut self, url: &str) {
        self.fulcio_url = url.trim_end_matches('/').to_string();
    }

    /// Fix the clock used for `integratedTime` and by `sign_blob` (None = real time).
    pub fn set_clock(&mut self, now: Option<SystemTime>) {
        self.clock = now;
    }

    pub fn now(&self) -> SystemTime {
        self.clock.unwrap_or_else(SystemTime::now)
    }

    // ----- trust material -----

    pub fn root_cert_der(&self) -> &[u8] {
        &self.root.cert_der
    }
    pub fn intermediate_cert_der(&self) -> &[u8] {
        &self.intermediate.cert_der
    }
    /// PEM chain for a Fulcio response after the leaf: intermediate, root.
    pub fn ca_chain_pem(&self) -> Vec<String> {
        vec![
            cert_pem(&self.intermediate.cert_der),
            cert_pem(&self.root.cert_der),
        ]
    }
    /// Rekor public key (PEM SPKI), as served by `GET /api/v1/log/publicKey`.
    pub fn rekor_public_key_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.rekor_spki_der)
    }
    pub fn rekor_public_key_der(&self) -> &[u8] {
        &self.rekor_spki_der
    }
    pub fn ct_public_key_der(&self) -> &[u8] {
        &self.ct_spki_der
    }
    pub fn rekor_log_id(&self) -> [u8; 32] {
        self.rekor_log_id
    }
    pub fn ct_log_id(&self) -> [u8; 32] {
        self.ct_log_id
    }
    pub fn tree_id(&self) -> u64 {
        self.tree_id
    }

    /// sigstore `trusted_root.json` (media type v0.1) trusting this CA, CT log and Rekor.
    pub fn trusted_root_json(&self) -> String {
        let v = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": self.rekor_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": B64.encode(&self.rekor_spki_der),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": TRUST_START },
                },
                "logId": { "keyId": B64.encode(self.rekor_log_id) },
            }],
            "certificateAuthorities": [{
                "subject": { "organization": "sigstore.dev", "commonName": "sigstore" },
                "uri": self.fulcio_url,
                "certChain": { "certificates": [
                    { "rawBytes": B64.encode(&self.intermediate.cert_der) },
                    { "rawBytes": B64.encode(&self.root.cert_der) },
                ]},
                "validFor": { "start": TRUST_START },
            }],
            "ctlogs": [{
                "baseUrl": self.ct_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": B64.encode(&self.ct_spki_der),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": TRUST_START },
                },
                "logId": { "keyId": B64.encode(self.ct_log_id) },
            }],
            "timestampAuthorities": [],
        });
        serde_json::to_string_pretty(&v).expect("trusted root JSON")
    }

    // ----- Fulcio -----

    /// Issue a Fulcio-style leaf for `public_key_spki_der` (DER SubjectPublicKeyInfo):
    /// 10-minute validity from `not_before`, empty subject, critical URI SAN, KU
    /// digitalSignature (critical), EKU codeSigning, Fulcio/GitLab extensions and
    /// exactly one embedded precertificate SCT signed by the CT log key.
    pub fn issue_certificate(
        &self,
        public_key_spki_der: &[u8],
        claims: &GitLabClaims,
        not_before: SystemTime,
    ) -> Vec<u8> {
        let spki = SubjectPublicKeyInfoOwned::from_der(public_key_spki_der).expect("leaf SPKI DER");
        let nb = unix_secs(not_before);
        let na = nb + LEAF_LIFETIME.as_secs();
        let serial = random_serial(&spki, self.serial_counter.fetch_add(1, Ordering::Relaxed));

        let san = SubjectAltName(vec![GeneralName::UniformResourceIdentifier(
            Ia5String::new(&claims.identity()).expect("IA5 SAN"),
        )]);
        let mut extensions = vec![
            ext(
                OID_KEY_USAGE,
                true,
                der(&KeyUsage(KeyUsages::DigitalSignature.into())),
            ),
            ext(
                OID_EXT_KEY_USAGE,
                false,
                der(&ExtendedKeyUsage(vec![OID_KP_CODE_SIGNING])),
            ),
            ext(
                OID_SUBJECT_KEY_ID,
                false,
                der(&SubjectKeyIdentifier(
                    OctetString::new(key_identifier(&spki)).unwrap(),
                )),
            ),
            ext(
                OID_AUTHORITY_KEY_ID,
                false,
                der(&AuthorityKeyIdentifier {
                    key_identifier: Some(OctetString::new(self.intermediate.key_id()).unwrap()),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                }),
            ),
            // Empty subject => SAN must be critical (RFC 5280 §4.2.1.6).
            ext(OID_SUBJECT_ALT_NAME, true, der(&san)),
            // .1.1 issuer (deprecated): raw UTF-8 bytes, not DER.
            ext(fulcio_oid(1), false, claims.issuer().into_bytes()),
        ];
        for (n, value) in claims.utf8_extensions() {
            extensions.push(ext(fulcio_oid(n), false, utf8_der(&value)));
        }

        let mut tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&serial).expect("serial"),
            signature: ecdsa_sha256_alg(),
            issuer: self.intermediate.name.clone(),
            validity: Validity {
                not_before: utc(nb),
                not_after: utc(na),
            },
            subject: Name::default(),
            subject_public_key_info: spki,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        };

        // Precertificate SCT over the TBS *without* the SCT extension (which is
        // exactly what verifiers reconstruct by dropping it from the final TBS).
        let sct_timestamp_ms = nb * 1000;
        let sct = self.make_precert_sct(&der(&tbs), sct_timestamp_ms);
        let sct_list = tls_vec16(&tls_vec16(&sct));
        let sct_ext_value = der(&OctetString::new(sct_list).expect("SCT list"));
        tbs.extensions
            .as_mut()
            .unwrap()
            .push(ext(OID_CT_PRECERT_SCTS, false, sct_ext_value));

        sign_tbs(tbs, &self.intermediate.key)
    }

    /// RFC 6962 `SignedCertificateTimestamp` (v1, ECDSA/SHA-256) for a precert entry.
    fn make_precert_sct(&self, precert_tbs_der: &[u8], timestamp_ms: u64) -> Vec<u8> {
        let issuer_key_hash = sha256(&self.intermediate.spki_der());
        let mut signed = Vec::new();
        signed.push(0u8); // version v1
        signed.push(0u8); // signature_type certificate_timestamp
        signed.extend_from_slice(&timestamp_ms.to_be_bytes());
        signed.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
        signed.extend_from_slice(&issuer_key_hash);
        let len = precert_tbs_der.len() as u32;
        signed.extend_from_slice(&len.to_be_bytes()[1..]); // uint24 length
        signed.extend_from_slice(precert_tbs_der);
        signed.extend_from_slice(&0u16.to_be_bytes()); // no extensions
        let sig = sign(&self.ct_key, &signed);

        let mut sct = Vec::new();
        sct.push(0u8); // version v1
        sct.extend_from_slice(&self.ct_log_id);
        sct.extend_from_slice(&timestamp_ms.to_be_bytes());
        sct.extend_from_slice(&0u16.to_be_bytes()); // extensions
        sct.push(4); // hash: sha256
        sct.push(3); // signature: ecdsa
        sct.extend_from_slice(&tls_vec16(&sig));
        sct
    }

    // ----- Rekor -----

    /// Number of entries in the log.
    pub fn tree_size(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// Current root hash.
    pub fn root_hash(&self) -> [u8; 32] {
        merkle_root(&self.leaves)
    }

    fn checkpoint_origin(&self) -> String {
        let host = self
            .rekor_url
            .split_once("://")
            .map_or(self.rekor_url.as_str(), |(_, r)| r)
            .split('/')
            .next()
            .unwrap_or("rekor")
            .to_string();
        format!("{host} - {}", self.tree_id)
    }

    /// A freshly signed checkpoint for the current tree (Rekor v1 signed-note format).
    pub fn checkpoint(&self) -> String {
        self.checkpoint_for(self.tree_size(), &self.root_hash())
    }

    fn checkpoint_for(&self, size: u64, root: &[u8; 32]) -> String {
        let origin = self.checkpoint_origin();
        let note = format!("{origin}\n{size}\n{}\n", B64.encode(root));
        let sig = sign(&self.rekor_key, note.as_bytes());
        let mut hint_sig = self.rekor_log_id[..4].to_vec();
        hint_sig.extend_from_slice(&sig);
        let name = origin.split(' ').next().unwrap_or("rekor");
        format!("{note}\n\u{2014} {name} {}\n", B64.encode(hint_sig))
    }

    /// Append any canonicalized body (hashedrekord, dsse, ...) to the log.
    pub fn log_entry(&mut self, canonical_body: Vec<u8>) -> RekorEntry {
        let log_index = self.entries.len() as u64;
        let integrated_time = unix_secs(self.now()) as i64;
        let body_b64 = B64.encode(&canonical_body);
        let payload = json!({
            "body": body_b64,
            "integratedTime": integrated_time,
            "logID": hex(&self.rekor_log_id),
            "logIndex": log_index,
        });
        let set = sign(
            &self.rekor_key,
            &serde_json_canonicalizer::to_vec(&payload).expect("canonical SET payload"),
        );
        self.leaves.push(leaf_hash(&canonical_body));
        self.entries.push(StoredEntry {
            body: canonical_body,
            integrated_time,
            set_b64: B64.encode(set),
        });
        self.entry(log_index)
    }

    /// Log a hashedrekord v0.0.1 entry (cosign sign-blob shape).
    pub fn log_hashedrekord(
        &mut self,
        sha256_digest: [u8; 32],
        signature_der: &[u8],
        leaf_cert_der: &[u8],
    ) -> RekorEntry {
        self.log_entry(hashedrekord_body(
            sha256_digest,
            signature_der,
            leaf_cert_der,
        ))
    }

    /// Inclusion proof of `entry_index` against the CURRENT tree, with a fresh checkpoint.
    pub fn inclusion_proof(&self, entry_index: u64) -> InclusionProofData {
        let idx = entry_index as usize;
        assert!(idx < self.leaves.len(), "no entry {entry_index}");
        let root = self.root_hash();
        InclusionProofData {
            log_index: entry_index,
            root_hash: hex(&root),
            tree_size: self.tree_size(),
            hashes: merkle_path(idx, &self.leaves)
                .iter()
                .map(|h| hex(h))
                .collect(),
            checkpoint: self.checkpoint_for(self.tree_size(), &root),
        }
    }

    /// Entry `log_index` with a proof against the current tree.
    pub fn entry(&self, log_index: u64) -> RekorEntry {
        let e = &self.entries[log_index as usize];
        RekorEntry {
            uuid: format!(
                "{:016x}{}",
                self.tree_id,
                hex(&self.leaves[log_index as usize])
            ),
            body_b64: B64.encode(&e.body),
            integrated_time: e.integrated_time,
            log_id_hex: hex(&self.rekor_log_id),
            log_index,
            set_b64: e.set_b64.clone(),
            proof: self.inclusion_proof(log_index),
        }
    }

    /// Look up by UUID (with or without the 16-hex-digit tree ID prefix).
    pub fn entry_by_uuid(&self, uuid: &str) -> Option<RekorEntry> {
        let leaf = if uuid.len() == 80 { &uuid[16..] } else { uuid };
        let want = leaf.to_ascii_lowercase();
        self.leaves
            .iter()
            .position(|l| hex(l) == want)
            .map(|i| self.entry(i as u64))
    }

    /// Indices of entries whose body is exactly `canonical_body`.
    pub fn find_by_body(&self, canonical_body: &[u8]) -> Vec<u64> {
        (0..self.entries.len())
            .filter(|&i| self.entries[i].body == canonical_body)
            .map(|i| i as u64)
            .collect()
    }

    // ----- convenience -----

    /// cosign sign-blob in-process: ephemeral P-256 key, leaf certificate,
    /// DER ECDSA-SHA256 signature over the (prehashed) blob, hashedrekord entry
    /// and a v0.3 bundle.
    pub fn sign_blob(&mut self, data_sha256: [u8; 32], claims: &GitLabClaims) -> SignedBlob {
        let key = new_key();
        let cert_der = self.issue_certificate(&spki_der_of(&key), claims, self.now());
        let signature_der = key
            .sign_digest(&sigstore_types::Sha256Hash::new(data_sha256))
            .expect("sign digest")
            .as_bytes()
            .to_vec();
        let entry = self.log_hashedrekord(data_sha256, &signature_der, &cert_der);
        let bundle_json = bundle_v03_json(&cert_der, &signature_der, data_sha256, &entry);
        SignedBlob {
            cert_pem: cert_pem(&cert_der),
            signature_der,
            cert_der,
            digest: data_sha256,
            bundle_json,
            entry,
        }
    }
}

/// TLS `opaque<0..2^16-1>`.
fn tls_vec16(data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

/// 16-byte positive serial, unique per (key, counter, time).
pub(crate) fn random_serial(spki: &SubjectPublicKeyInfoOwned, counter: u64) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(spki.subject_public_key.raw_bytes());
    h.update(counter.to_be_bytes());
    h.update(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_be_bytes(),
    );
    let mut s: [u8; 32] = h.finalize().into();
    s[0] = (s[0] & 0x7f) | 0x01; // positive and no leading zero byte
    s[..16].to_vec()
}

// ---------------------------------------------------------------------------
// Self-tests (travel with the module)
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use sigstore_trust_root::TrustedRoot;
    use sigstore_types::Bundle;
    use sigstore_verify::{VerificationPolicy, Verifier};

    fn verify<'a>(
        ts: &TestSigstore,
        data: impl Into<sigstore_types::Artifact<'a>>,
        bundle_json: &str,
        claims: &GitLabClaims,
    ) -> Result<sigstore_verify::VerificationResult, String> {
        verify_with_root(&ts.trusted_root_json(), data, bundle_json, claims)
    }

    fn verify_with_root<'a>(
        root: &str,
        data: impl Into<sigstore_types::Artifact<'a>>,
        bundle_json: &str,
        claims: &GitLabClaims,
    ) -> Result<sigstore_verify::VerificationResult, String> {
        let root = TrustedRoot::from_json(root).map_err(|e| format!("root: {e}"))?;
        let verifier = Verifier::new(&root).map_err(|e| format!("verifier: {e}"))?;
        let bundle = Bundle::from_json(bundle_json).map_err(|e| format!("bundle: {e}"))?;
        let policy = VerificationPolicy::new(claims.identity(), claims.issuer());
        verifier
            .verify(data, &bundle, &policy)
            .map_err(|e| e.to_string())
    }

    fn flip_b64(s: &str, at: usize) -> String {
        let mut b = B64.decode(s).unwrap();
        let i = at.min(b.len() - 1);
        b[i] ^= 0x01;
        B64.encode(b)
    }

    #[test]
    fn pki_sign_blob_verifies_without_skips() {
        let mut ts = TestSigstore::new();
        ts.set_rekor_url("http://127.0.0.1:3000");
        let claims = GitLabClaims::example();
        let data = b"hello, sigstore";
        let signed = ts.sign_blob(sha256(data), &claims);

        let res = verify(&ts, data, &signed.bundle_json, &claims).expect("bundle verifies");
        assert!(res.certificate_verified());
        assert!(res.sct_verified());
        assert!(res.tlog_verified());
        assert!(res.identity_policy_checked());
        assert_eq!(
            res.integrated_time().map(|t| t.as_second()),
            Some(signed.entry.integrated_time)
        );
        let info = res.certificate().expect("certificate info");
        let c = &info.ci_claims;
        assert_eq!(c.source_repository_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(
            c.source_repository_uri.as_deref(),
            Some("https://gitlab.example.test/group/proj")
        );
        assert_eq!(
            c.build_config_uri.as_deref(),
            Some(claims.identity().as_str())
        );
        assert_eq!(
            c.build_signer_uri.as_deref(),
            Some(claims.identity().as_str())
        );
        assert_eq!(c.runner_environment.as_deref(), Some("gitlab-hosted"));
        assert_eq!(
            c.source_repository_digest.as_deref(),
            Some(claims.sha.as_str())
        );
        assert_eq!(
            c.run_invocation_uri.as_deref(),
            Some(claims.run_invocation_uri().as_str())
        );
        assert_eq!(
            c.source_repository_visibility_at_signing.as_deref(),
            Some("public")
        );
        assert_eq!(res.issuer(), Some("https://gitlab.example.test"));

        // Also by digest, and the trusted root round-trips the URL.
        verify(
            &ts,
            sigstore_types::Sha256Hash::new(sha256(data)),
            &signed.bundle_json,
            &claims,
        )
        .unwrap();
        assert!(ts.trusted_root_json().contains("http://127.0.0.1:3000"));
        // Wrong data / identity are rejected.
        assert!(verify(&ts, b"other", &signed.bundle_json, &claims).is_err());
        assert!(verify(
            &ts,
            data,
            &signed.bundle_json,
            &claims.clone().with_tag("v1")
        )
        .is_err());
    }

    #[test]
    fn pki_tag_identity_and_fresh_keys() {
        let mut ts = TestSigstore::new();
        let claims = GitLabClaims::example().with_tag("v1.2.3");
        assert_eq!(
            claims.identity(),
            "https://gitlab.example.test/group/proj//.gitlab-ci.yml@refs/tags/v1.2.3"
        );
        let signed = ts.sign_blob(sha256(b"x"), &claims);
        let res = verify(&ts, b"x", &signed.bundle_json, &claims).unwrap();
        assert_eq!(
            res.certificate()
                .unwrap()
                .ci_claims
                .source_repository_ref
                .as_deref(),
            Some("refs/tags/v1.2.3")
        );
        // A different instance has different keys: its root does not trust this bundle.
        let other = TestSigstore::new();
        assert_ne!(other.rekor_log_id(), ts.rekor_log_id());
        assert!(verify_with_root(
            &other.trusted_root_json(),
            b"x",
            &signed.bundle_json,
            &claims
        )
        .is_err());
    }

    #[test]
    fn pki_many_entries_verify_against_final_tree() {
        let mut ts = TestSigstore::new();
        let claims = GitLabClaims::example();
        let blobs: Vec<Vec<u8>> = (0..7)
            .map(|i| format!("artifact {i}").into_bytes())
            .collect();
        let signed: Vec<SignedBlob> = blobs
            .iter()
            .map(|b| ts.sign_blob(sha256(b), &claims))
            .collect();
        assert_eq!(ts.tree_size(), 7);
        for (i, (blob, s)) in blobs.iter().zip(signed).enumerate() {
            // Proof taken at logging time (tree size i+1) still verifies...
            assert_eq!(s.entry.proof.tree_size, i as u64 + 1);
            verify(&ts, blob, &s.bundle_json, &claims).unwrap();
            // ...and so does a fresh proof against the final tree.
            let fresh = ts.entry(i as u64);
            assert_eq!(fresh.proof.tree_size, 7);
            assert_eq!(fresh.proof.root_hash, hex(&ts.root_hash()));
            assert_eq!(fresh.uuid, s.entry.uuid);
            let s = s.with_entry(fresh);
            verify(&ts, blob, &s.bundle_json, &claims).unwrap_or_else(|e| panic!("entry {i}: {e}"));
            assert_eq!(ts.entry_by_uuid(&s.entry.uuid).unwrap().log_index, i as u64);
        }
    }

    #[test]
    fn pki_merkle_matches_sigstore_merkle() {
        // Cross-check our tree against the verifier's independent implementation.
        for n in 1..=17usize {
            let leaves: Vec<[u8; 32]> = (0..n)
                .map(|i| leaf_hash(format!("leaf{i}").as_bytes()))
                .collect();
            let root = sigstore_types::Sha256Hash::new(merkle_root(&leaves));
            for m in 0..n {
                let path: Vec<sigstore_types::Sha256Hash> = merkle_path(m, &leaves)
                    .into_iter()
                    .map(sigstore_types::Sha256Hash::new)
                    .collect();
                sigstore_merkle::verify_inclusion_proof(
                    &sigstore_types::Sha256Hash::new(leaves[m]),
                    m as u64,
                    n as u64,
                    &path,
                    &root,
                )
                .unwrap_or_else(|e| panic!("n={n} m={m}: {e}"));
            }
        }
    }

    #[test]
    fn pki_tampering_is_rejected() {
        let mut ts = TestSigstore::new();
        let claims = GitLabClaims::example();
        let data = b"tamper me";
        let first = ts.sign_blob(sha256(data), &claims);
        ts.sign_blob(sha256(b"second"), &claims);
        let s = first.with_entry(ts.entry(0));
        verify(&ts, data, &s.bundle_json, &claims).expect("baseline verifies");
        let bundle: Value = serde_json::from_str(&s.bundle_json).unwrap();

        // 1. CT key in the root replaced by another key (log ID kept): SCT check fails.
        let mut root: Value = serde_json::from_str(&ts.trusted_root_json()).unwrap();
        let other = new_key();
        root["ctlogs"][0]["publicKey"]["rawBytes"] = B64.encode(spki_der_of(&other)).into();
        let err = verify_with_root(&root.to_string(), data, &s.bundle_json, &claims).unwrap_err();
        eprintln!("wrong CT key rejected: {err}");
        assert!(err.to_lowercase().contains("sct"), "{err}");

        // 2. Flipped SET byte.
        let mut b = bundle.clone();
        let set = b["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]
            ["signedEntryTimestamp"]
            .as_str()
            .unwrap()
            .to_string();
        b["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"] =
            flip_b64(&set, 40).into();
        let err = verify(&ts, data, &b.to_string(), &claims).unwrap_err();
        eprintln!("flipped SET rejected: {err}");
        assert!(
            err.to_lowercase().contains("set") || err.to_lowercase().contains("promise"),
            "{err}"
        );

        // 3. Flipped inclusion-proof hash.
        let mut b = bundle.clone();
        let h = b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0]
            .as_str()
            .unwrap()
            .to_string();
        b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0] =
            flip_b64(&h, 5).into();
        let err = verify(&ts, data, &b.to_string(), &claims).unwrap_err();
        eprintln!("flipped proof hash rejected: {err}");
        assert!(err.to_lowercase().contains("inclusion"), "{err}");

        // 4. Checkpoint signed by a different key.
        let mut b = bundle.clone();
        let mut impostor = TestSigstore::new();
        impostor.log_entry(ts.entries[0].body.clone());
        impostor.log_entry(ts.entries[1].body.clone());
        let cp = impostor.checkpoint();
        b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"] =
            cp.into();
        assert!(verify(&ts, data, &b.to_string(), &claims).is_err());

        // 5. A certificate signed by a CA not in the root.
        let key = new_key();
        let foreign = impostor.issue_certificate(&spki_der_of(&key), &claims, ts.now());
        let sig = key.sign(data).unwrap().as_bytes().to_vec();
        let e = ts.log_hashedrekord(sha256(data), &sig, &foreign);
        let j = bundle_v03_json(&foreign, &sig, sha256(data), &e);
        assert!(verify(&ts, data, &j, &claims).is_err());
    }

    #[test]
    fn pki_clock_and_validity_window() {
        let mut ts = TestSigstore::new();
        let claims = GitLabClaims::example();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        // Signed and logged an hour ago: still verifies (time comes from the SET).
        ts.set_clock(Some(hour_ago));
        let old = ts.sign_blob(sha256(b"old"), &claims);
        assert_eq!(old.entry.integrated_time as u64, unix_secs(hour_ago));
        ts.set_clock(None);
        verify(&ts, b"old", &old.bundle_json, &claims).unwrap();
        // Certificate from an hour ago, logged now: outside the 10-minute window.
        let key = new_key();
        let cert = ts.issue_certificate(&spki_der_of(&key), &claims, hour_ago);
        let sig = key.sign(b"late").unwrap().as_bytes().to_vec();
        let e = ts.log_hashedrekord(sha256(b"late"), &sig, &cert);
        let j = bundle_v03_json(&cert, &sig, sha256(b"late"), &e);
        let err = verify(&ts, b"late", &j, &claims).unwrap_err();
        eprintln!("expired cert rejected: {err}");
    }

    #[test]
    fn pki_rekor_v1_json_shapes() {
        let mut ts = TestSigstore::new();
        let claims = GitLabClaims::example();
        let s = ts.sign_blob(sha256(b"shape"), &claims);
        let e = &s.entry;
        let v = e.to_rekor_v1_json();
        let inner = &v[&e.uuid];
        assert_eq!(e.uuid.len(), 80);
        assert_eq!(inner["logID"].as_str().unwrap(), hex(&ts.rekor_log_id()));
        assert!(inner["integratedTime"].is_i64());
        assert_eq!(inner["verification"]["inclusionProof"]["treeSize"], 1);
        assert!(inner["verification"]["inclusionProof"]["checkpoint"]
            .as_str()
            .unwrap()
            .contains("\n\n\u{2014} "));
        // UUID suffix = RFC 6962 leaf hash of the body.
        assert_eq!(&e.uuid[16..], hex(&leaf_hash(&e.body())));
        // Body is exactly the canonical hashedrekord.
        let body = String::from_utf8(e.body()).unwrap();
        let expected = format!(
            "{{\"apiVersion\":\"0.0.1\",\"kind\":\"hashedrekord\",\"spec\":{{\"data\":{{\"hash\":{{\"algorithm\":\"sha256\",\"value\":\"{}\"}}}},\"signature\":{{\"content\":\"{}\",\"publicKey\":{{\"content\":\"{}\"}}}}}}}}",
            hex(&sha256(b"shape")),
            B64.encode(&s.signature_der),
            B64.encode(&s.cert_pem)
        );
        assert_eq!(body, expected);
        // The checkpoint parses, and its hint is the first 4 bytes of the log ID.
        let cp = sigstore_types::Checkpoint::from_text(&e.proof.checkpoint).unwrap();
        assert_eq!(cp.tree_size(), 1);
        assert_eq!(
            cp.signatures()[0].key_id.as_bytes(),
            &ts.rekor_log_id()[..4]
        );
        // SET over canonical JSON verifies with the Rekor key.
        let payload = format!(
            "{{\"body\":\"{}\",\"integratedTime\":{},\"logID\":\"{}\",\"logIndex\":{}}}",
            e.body_b64, e.integrated_time, e.log_id_hex, e.log_index
        );
        let key = sigstore_crypto::VerificationKey::from_spki(&sigstore_types::DerPublicKey::new(
            ts.rekor_public_key_der().to_vec(),
        ))
        .unwrap();
        key.verify(
            payload.as_bytes(),
            &sigstore_types::SignatureBytes::new(B64.decode(&e.set_b64).unwrap()),
        )
        .unwrap();
        // Bundle entry form.
        let t = e.to_bundle_tlog_entry_json();
        assert_eq!(t["kindVersion"]["kind"], "hashedrekord");
        assert_eq!(t["logIndex"], "0");
        assert_eq!(ts.ca_chain_pem().len(), 2);
    }

    #[test]
    fn pki_certificate_profile() {
        use x509_parser::prelude::*;
        let ts = TestSigstore::new();
        let claims = GitLabClaims::example();
        let key = new_key();
        let nb = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let der_bytes = ts.issue_certificate(&spki_der_of(&key), &claims, nb);
        let (_, cert) = X509Certificate::from_der(&der_bytes).unwrap();
        assert!(cert.subject().as_raw().len() <= 2, "empty subject");
        assert_eq!(cert.validity().not_before.timestamp(), 1_800_000_000);
        assert_eq!(cert.validity().not_after.timestamp(), 1_800_000_600);
        let ku = cert.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.digital_signature() && !ku.value.key_cert_sign());
        assert!(
            cert.extended_key_usage()
                .unwrap()
                .unwrap()
                .value
                .code_signing
        );
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert!(san.critical);
        let find = |oid: &str| {
            cert.extensions()
                .iter()
                .find(|e| e.oid.to_id_string() == oid)
                .map(|e| e.value.to_vec())
        };
        assert_eq!(
            find("1.3.6.1.4.1.57264.1.1").unwrap(),
            b"https://gitlab.example.test"
        );
        let v8 = find("1.3.6.1.4.1.57264.1.8").unwrap();
        assert_eq!(v8[0], 0x0c);
        assert_eq!(&v8[2..], b"https://gitlab.example.test");
        for n in 9..=22 {
            assert!(
                find(&format!("1.3.6.1.4.1.57264.1.{n}")).is_some(),
                "missing .1.{n}"
            );
        }
        assert_eq!(
            cert.extensions()
                .iter()
                .filter(|e| e.oid.to_id_string() == "1.3.6.1.4.1.11129.2.4.2")
                .count(),
            1
        );
    }

    /// Cross-check the chain with OpenSSL (skipped if `openssl` is not installed).
    #[test]
    fn pki_openssl_verifies_chain() {
        use std::process::Command;
        if Command::new("openssl").arg("version").output().is_err() {
            eprintln!("openssl not installed; skipping");
            return;
        }
        let ts = TestSigstore::new();
        let claims = GitLabClaims::example();
        let key = new_key();
        let leaf = ts.issue_certificate(&spki_der_of(&key), &claims, SystemTime::now());
        let dir = std::env::temp_dir().join(format!(
            "pki-openssl-{}-{}",
            std::process::id(),
            hex(&sha256(&leaf)[..6])
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let w = |name: &str, pem: String| {
            let p = dir.join(name);
            std::fs::write(&p, pem).unwrap();
            p
        };
        let root = w("root.pem", cert_pem(ts.root_cert_der()));
        let inter = w("inter.pem", cert_pem(ts.intermediate_cert_der()));
        let leafp = w("leaf.pem", cert_pem(&leaf));
        // Full chain: root trusted, intermediate untrusted (OpenSSL 3.0 has no codesign purpose).
        let full = Command::new("openssl")
            .args(["verify", "-x509_strict", "-purpose", "any", "-CAfile"])
            .arg(&root)
            .arg("-untrusted")
            .arg(&inter)
            .arg(&leafp)
            .output()
            .unwrap();
        // Intermediate alone as the trust anchor (how sigstore-verify anchors Fulcio chains).
        let partial = Command::new("openssl")
            .args([
                "verify",
                "-x509_strict",
                "-partial_chain",
                "-purpose",
                "any",
                "-CAfile",
            ])
            .arg(&inter)
            .arg(&leafp)
            .output()
            .unwrap();
        // Chain certificates themselves.
        let ca = Command::new("openssl")
            .args(["verify", "-x509_strict", "-CAfile"])
            .arg(&root)
            .arg(&inter)
            .output()
            .unwrap();
        let text = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&leafp)
            .output()
            .unwrap();
        println!("{}", String::from_utf8_lossy(&text.stdout));
        let _ = std::fs::remove_dir_all(&dir);
        for (what, out) in [
            ("full chain", full),
            ("partial chain", partial),
            ("intermediate", ca),
        ] {
            assert!(
                out.status.success(),
                "openssl verify ({what}) failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // A foreign root must not verify the leaf.
        let other = TestSigstore::new();
        let dir2 = dir.with_extension("neg");
        std::fs::create_dir_all(&dir2).unwrap();
        let root2 = dir2.join("root.pem");
        std::fs::write(&root2, cert_pem(other.root_cert_der())).unwrap();
        let leaf2 = dir2.join("leaf.pem");
        std::fs::write(&leaf2, cert_pem(&leaf)).unwrap();
        let inter2 = dir2.join("inter.pem");
        std::fs::write(&inter2, cert_pem(ts.intermediate_cert_der())).unwrap();
        let neg = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(&root2)
            .arg("-untrusted")
            .arg(&inter2)
            .arg(&leaf2)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir2);
        assert!(!neg.status.success(), "foreign root must not verify");
    }
}
