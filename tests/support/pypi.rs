//! `LocalPypi`: a fake PyPI on 127.0.0.1 that behaves as warehouse does for
//! trusted publishing, uploads, PEP 740 and the indexes
//! (pep740-and-trusted-publishing.md §5 and §8), served over https with a
//! test CA made here (twine and uv always reach `https://<host>/_/oidc/…`).
//!
//! * `GET /_/oidc/audience`; `POST /_/oidc/mint-token` (and the
//!   `/_/oidc/github/mint-token` alias) with warehouse's checks and 422 bodies,
//!   against an RS256 test issuer whose `iss` is `https://gitlab.com`;
//!   `POST /_/oidc/burn-token` (uv calls it).
//! * `POST /legacy/`: checks in warehouse's order, messages in the reason
//!   phrase and the body; attestations verified with pypi-attestations itself
//!   (a Python subprocess, against the local Sigstore trust root).
//! * `GET /simple/<project>/` (HTML, PEP 691 JSON) with provenance links,
//!   `GET /integrity/<project>/<version>/<file>/provenance`, `GET /files/…`.
//!   Tests can move the provenance to a path only the links name
//!   (`GET /provenance/<sha256>/<file>`), drop the links, or serve any link
//!   value for a file ([`ProvenanceLinks`], [`LocalPypi::set_provenance_link`]).
//!
//! [`attestation`] makes real PEP 740 attestations with the in-process
//! Sigstore of [`super::pki`] (GitLab.com-shaped certificates, a Rekor v1
//! `dsse` entry with SET, inclusion proof and checkpoint).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SecureRandom as _;
use aws_lc_rs::signature::{self, KeyPair as _};
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine as _;
use serde_json::{json, Value};

use super::pki::{cert_pem, hex, sha256, GitLabClaims, TestSigstore};
use super::server::RunningServer;

pub const GITLAB_ISSUER: &str = "https://gitlab.com";
pub const PUBLISH_V1: &str = "https://docs.pypi.org/attestations/publish/v1";
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const JWT_LEEWAY: i64 = 30;
const TOKEN_LIFETIME: i64 = 900;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("random bytes");
    hex(&bytes)
}

// ---------------------------------------------------------------------------
// RS256 test issuer
// ---------------------------------------------------------------------------

/// An RS256 signing key with its JWKS `kid`, as GitLab signs ID tokens.
pub struct RsaIssuer {
    key: signature::RsaKeyPair,
    pub kid: String,
}

impl RsaIssuer {
    pub fn new(kid: &str) -> Self {
        RsaIssuer {
            key: signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .expect("RSA key generation"),
            kid: kid.to_string(),
        }
    }

    fn components(&self) -> aws_lc_rs::rsa::PublicKeyComponents<Vec<u8>> {
        self.key.public_key().into()
    }

    /// The JWK of the public key.
    pub fn jwk(&self) -> Value {
        let c = self.components();
        json!({ "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                "n": B64URL.encode(&c.n), "e": B64URL.encode(&c.e) })
    }

    /// A JWT over `claims` with this key (header alg RS256 and this kid).
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({ "alg": "RS256", "kid": self.kid, "typ": "JWT" }),
            claims,
        )
    }

    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .expect("RS256 signing");
        format!("{input}.{}", B64URL.encode(sig))
    }

    fn verify(&self, input: &[u8], sig: &[u8]) -> bool {
        let c = self.components();
        signature::RsaPublicKeyComponents {
            n: &c.n[..],
            e: &c.e[..],
        }
        .verify(&signature::RSA_PKCS1_2048_8192_SHA256, input, sig)
        .is_ok()
    }
}

/// GitLab ID-token claims for a job of `claims` (gitlab-and-pypi.md §3.2), with `aud`.
pub fn gitlab_id_token_claims(
    claims: &GitLabClaims,
    aud: &str,
    environment: Option<&str>,
) -> Value {
    let t = now();
    let mut v = json!({
        "iss": claims.issuer(),
        "aud": aud,
        "sub": claims.subject(),
        "iat": t,
        "nbf": t - 5,
        "exp": t + 300,
        "jti": format!("{}-{}-{}-{}-{}", random_hex(4), random_hex(2), random_hex(2), random_hex(2), random_hex(6)),
        "namespace_id": claims.namespace_id,
        "namespace_path": claims.namespace_path,
        "project_id": claims.project_id,
        "project_path": claims.project_path,
        "user_id": "42",
        "user_login": "maintainer",
        "user_email": "maintainer@example.test",
        "pipeline_id": "1000",
        "pipeline_source": claims.pipeline_source,
        "job_id": claims.job_id,
        "ref": claims.ref_name,
        "ref_type": claims.ref_type,
        "ref_path": claims.git_ref(),
        "ref_protected": "true",
        "runner_id": 1,
        "runner_environment": claims.runner_environment,
        "sha": claims.sha,
        "project_visibility": claims.visibility,
        "ci_config_ref_uri": claims.ci_config_ref_uri(),
        "ci_config_sha": claims.sha,
    });
    if let Some(env) = environment {
        v["environment"] = json!(env);
        v["environment_protected"] = json!("false");
        v["deployment_tier"] = json!("production");
        v["environment_action"] = json!("start");
    }
    v
}

// ---------------------------------------------------------------------------
// PEP 740 attestations made with the in-process Sigstore
// ---------------------------------------------------------------------------

/// A PEP 740 attestation for `filename` (sha256 `sha256_hex`) signed for the
/// GitLab job `claims` (use `server_url: https://gitlab.com` for PyPI), with a
/// Rekor v1 `dsse` 0.0.1 entry, exactly as pypi-attestations makes them.
pub fn attestation(
    pki: &mut TestSigstore,
    claims: &GitLabClaims,
    filename: &str,
    sha256_hex: &str,
    predicate_type: &str,
) -> Value {
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": filename, "digest": { "sha256": sha256_hex } }],
        "predicateType": predicate_type,
        "predicate": if predicate_type == SLSA_V1 { json!({"buildDefinition": {}, "runDetails": {}}) } else { Value::Null },
    })
    .to_string()
    .into_bytes();
    let key = sigstore_crypto::KeyPair::generate_ecdsa_p256().expect("P-256 key");
    let spki = key
        .public_key_der()
        .expect("public key")
        .as_bytes()
        .to_vec();
    let cert_der = pki.issue_certificate(&spki, claims, pki.now());
    let payload_type = "application/vnd.in-toto+json";
    let mut pae = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        statement.len()
    )
    .into_bytes();
    pae.extend_from_slice(&statement);
    let sig = key.sign(&pae).expect("ECDSA").as_bytes().to_vec();
    let envelope = json!({
        "payload": B64.encode(&statement),
        "payloadType": payload_type,
        "signatures": [{ "sig": B64.encode(&sig) }],
    })
    .to_string();
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": { "algorithm": "sha256", "value": hex(&sha256(envelope.as_bytes())) },
            "payloadHash": { "algorithm": "sha256", "value": hex(&sha256(&statement)) },
            "signatures": [{ "signature": B64.encode(&sig), "verifier": B64.encode(cert_pem(&cert_der)) }],
        },
    });
    let entry = pki.log_entry(serde_json_canonicalizer::to_vec(&body).expect("canonical JSON"));
    json!({
        "version": 1,
        "verification_material": {
            "certificate": B64.encode(&cert_der),
            "transparency_entries": [entry.to_bundle_tlog_entry_json()],
        },
        "envelope": { "statement": B64.encode(&statement), "signature": B64.encode(&sig) },
    })
}

// ---------------------------------------------------------------------------
// The attestation verifier: pypi-attestations in a subprocess
// ---------------------------------------------------------------------------

/// What warehouse's `IntegrityService.parse_attestations` does, with
/// `Verifier.production` swapped for one on the local trust root (spec §1.4 Route B).
const VERIFY_SCRIPT: &str = r#"
import hashlib, json, sys
from unittest import mock
from pydantic import TypeAdapter, ValidationError
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier
import pypi_attestations._impl as impl
from pypi_attestations import Attestation, AttestationType, Distribution, GitLabPublisher, VerificationError

root, atts_path, dist_path, filename, repo, workflow, env = sys.argv[1:8]
def done(**kw):
    print(json.dumps(kw))
    sys.exit(0)
try:
    atts = TypeAdapter(list[Attestation]).validate_json(open(atts_path, "rb").read())
except ValidationError as e:
    done(ok=False, error=f"Malformed attestations: {e}")
if len(atts) == 0:
    done(ok=False, error="Malformed attestations: an empty attestation set is not permitted")
if len(atts) > 2:
    done(ok=False, error="A maximum of 2 attestations per file are supported")
dist = Distribution(name=filename, digest=hashlib.sha256(open(dist_path, "rb").read()).hexdigest())
publisher = GitLabPublisher(repository=repo, workflow_filepath=workflow, environment=env or None)
verifier = Verifier(trusted_root=TrustedRoot.from_file(root))
seen = set()
with mock.patch.object(impl.Verifier, "production", return_value=verifier):
    for a in atts:
        try:
            predicate_type, _ = a.verify(publisher, dist)
        except VerificationError as e:
            done(ok=False, error=f"Could not verify the uploaded artifact using the included attestation: {e}")
        except Exception as e:
            done(ok=False, error=f"Unknown error while trying to verify included attestations: {e}")
        if predicate_type not in (AttestationType.PYPI_PUBLISH_V1, AttestationType.SLSA_PROVENANCE_V1):
            done(ok=False, error=f"Attestation with unsupported predicate type: {predicate_type}")
        if predicate_type in seen:
            done(ok=False, error=f"Multiple attestations for the same file with the same predicate type ({predicate_type}) are not supported")
        seen.add(predicate_type)
done(ok=True, attestations=[a.model_dump(mode="json") for a in atts], publisher=publisher.model_dump(mode="json"))
"#;

struct Verifier {
    python: PathBuf,
    script: PathBuf,
    trusted_root: PathBuf,
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

/// A GitLab trusted publisher as configured on PyPI.
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    pub namespace: String,
    pub project: String,
    pub workflow_filepath: String,
    /// "" = any environment.
    pub environment: String,
    pub issuer_url: String,
    /// The PyPI projects this publisher may upload to (created if missing).
    pub projects: Vec<String>,
}

impl PublisherConfig {
    pub fn new(project_path: &str, pypi_project: &str) -> Self {
        let (ns, p) = project_path.rsplit_once('/').expect("group/project");
        PublisherConfig {
            namespace: ns.into(),
            project: p.into(),
            workflow_filepath: ".gitlab-ci.yml".into(),
            environment: String::new(),
            issuer_url: GITLAB_ISSUER.into(),
            projects: vec![pypi_project.into()],
        }
    }

    pub fn environment(mut self, env: &str) -> Self {
        self.environment = env.into();
        self
    }
}

struct Minted {
    /// None: a user's project-scoped API token (no trusted publisher).
    publisher: Option<usize>,
    projects: Vec<String>,
    expires: i64,
}

#[derive(Clone, Debug)]
pub struct StoredFile {
    pub project: String,
    pub version: String,
    pub filename: String,
    pub sha256: String,
    pub blake2_256: String,
    pub content: Vec<u8>,
    pub requires_python: Option<String>,
    pub provenance: Option<Value>,
}

/// What the simple pages give as each file's provenance link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvenanceLinks {
    /// warehouse's: an absolute link to the Integrity API.
    Integrity,
    /// A relative link to `/provenance/<sha256>/<file>`; the Integrity API
    /// then has nothing (404), so only a client that follows links finds it.
    Elsewhere,
    /// No links (an index without PEP 740 in its pages); the Integrity API
    /// still answers.
    Absent,
}

struct PypiState {
    audience: String,
    links: ProvenanceLinks,
    /// file name → link value served verbatim, whatever `links` says.
    link_overrides: BTreeMap<String, String>,
    /// Simple pages in HTML whatever the client accepts.
    html_only: bool,
    /// Base URL the pages link the files at (a CDN), when not this server's.
    files_base: Option<String>,
    tp_enabled: bool,
    base_url: String,
    issuers: BTreeMap<String, Vec<Arc<RsaIssuer>>>,
    publishers: Vec<PublisherConfig>,
    used_jti: BTreeSet<String>,
    tokens: BTreeMap<String, Minted>,
    /// normalized name → display name.
    projects: BTreeMap<String, String>,
    files: Vec<StoredFile>,
    verifier: Option<Verifier>,
    requests: Vec<String>,
    work_dir: PathBuf,
}

type Shared = Arc<Mutex<PypiState>>;

fn normalize(name: &str) -> String {
    let re = regex::Regex::new(r"[-_.]+").unwrap();
    re.replace_all(&name.to_lowercase(), "-").into_owned()
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

pub struct LocalPypi {
    _server: RunningServer,
    url: String,
    state: Shared,
    issuer: Arc<RsaIssuer>,
    dir: tempfile::TempDir,
    ca_file: PathBuf,
}

impl LocalPypi {
    /// A fake PyPI whose audience is `audience` ("pypi" or "testpypi").
    pub fn start(audience: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // Test CA and a server certificate for 127.0.0.1 and localhost.
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "gl-sign local PyPI test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA cert");
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let mut leaf_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .unwrap();
        leaf_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "127.0.0.1");
        leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf cert");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), ca.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .expect("TLS config");

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let issuer = Arc::new(RsaIssuer::new(&format!("kid-{}", random_hex(8))));
        let state = Arc::new(Mutex::new(PypiState {
            audience: audience.into(),
            links: ProvenanceLinks::Integrity,
            link_overrides: BTreeMap::new(),
            html_only: false,
            files_base: None,
            tp_enabled: true,
            base_url: url.clone(),
            issuers: BTreeMap::from([(GITLAB_ISSUER.to_string(), vec![issuer.clone()])]),
            publishers: Vec::new(),
            used_jti: BTreeSet::new(),
            tokens: BTreeMap::new(),
            projects: BTreeMap::new(),
            files: Vec::new(),
            verifier: None,
            requests: Vec::new(),
            work_dir: dir.path().to_path_buf(),
        }));
        let app = Router::new()
            .route("/_/oidc/audience", get(audience_route))
            .route("/_/oidc/mint-token", post(mint_route))
            .route("/_/oidc/github/mint-token", post(mint_route))
            .route("/_/oidc/burn-token", post(burn_route))
            .route("/legacy/", post(upload_route))
            .route("/legacy", post(legacy_redirect))
            .route("/simple/{project}/", get(simple_route))
            .route(
                "/integrity/{project}/{version}/{filename}/provenance",
                get(integrity_route),
            )
            .route("/files/{sha}/{filename}", get(file_route))
            .route("/provenance/{sha}/{filename}", get(moved_provenance_route))
            .with_state(state.clone());
        let server = run_tls(listener, Arc::new(tls), app);
        LocalPypi {
            _server: server,
            url,
            state,
            issuer,
            dir,
            ca_file,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn upload_url(&self) -> String {
        format!("{}/legacy/", self.url)
    }

    pub fn simple_url(&self) -> String {
        format!("{}/simple/", self.url)
    }

    /// PEM of the test CA (for SSL_CERT_FILE).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    pub fn add_publisher(&self, config: PublisherConfig) {
        let mut s = self.state.lock().unwrap();
        for p in &config.projects {
            s.projects.entry(normalize(p)).or_insert_with(|| p.clone());
        }
        s.publishers.push(config);
    }

    /// Verify uploaded attestations with pypi-attestations run by `python`,
    /// against `trusted_root_json` (the local Sigstore's).
    pub fn verify_attestations_with(&self, python: &Path, trusted_root_json: &str) {
        let script = self.dir.path().join("verify_attestations.py");
        std::fs::write(&script, VERIFY_SCRIPT).unwrap();
        let trusted_root = self.dir.path().join("trusted_root.json");
        std::fs::write(&trusted_root, trusted_root_json).unwrap();
        self.state.lock().unwrap().verifier = Some(Verifier {
            python: python.to_path_buf(),
            script,
            trusted_root,
        });
    }

    /// An ID token signed by the gitlab.com test key.
    pub fn id_token(&self, claims: &Value) -> String {
        self.issuer.sign(claims)
    }

    /// An ID token for `claims` with this index's audience.
    pub fn id_token_for(&self, claims: &GitLabClaims, environment: Option<&str>) -> String {
        let aud = self.state.lock().unwrap().audience.clone();
        self.id_token(&gitlab_id_token_claims(claims, &aud, environment))
    }

    /// A token with the right `kid` but signed by another key.
    pub fn forged_token(&self, claims: &Value) -> String {
        RsaIssuer::new(&self.issuer.kid).sign(claims)
    }

    /// A user's API token scoped to `project` (not trusted publishing).
    pub fn add_api_token(&self, project: &str) -> String {
        let token = format!("pypi-user-{}", random_hex(16));
        let mut s = self.state.lock().unwrap();
        s.projects
            .entry(normalize(project))
            .or_insert_with(|| project.to_string());
        s.tokens.insert(
            token.clone(),
            Minted {
                publisher: None,
                projects: vec![project.to_string()],
                expires: now() + 86400,
            },
        );
        token
    }

    /// Switch trusted publishing off (warehouse's admin flag).
    pub fn disable_trusted_publishing(&self) {
        self.state.lock().unwrap().tp_enabled = false;
    }

    /// Let every minted PyPI token expire.
    pub fn expire_tokens(&self) {
        for t in self.state.lock().unwrap().tokens.values_mut() {
            t.expires = now() - 1;
        }
    }

    /// `"METHOD /path"` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn count(&self, request: &str) -> usize {
        self.requests().iter().filter(|r| *r == request).count()
    }

    /// Every PyPI token handed out (to check that none is ever printed).
    pub fn minted_tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().tokens.keys().cloned().collect()
    }

    pub fn files(&self) -> Vec<StoredFile> {
        self.state.lock().unwrap().files.clone()
    }

    /// How the simple pages link each file's provenance from now on.
    pub fn set_provenance_links(&self, links: ProvenanceLinks) {
        self.state.lock().unwrap().links = links;
    }

    /// Serve `link` verbatim as `filename`'s provenance link (None: back to
    /// what [`ProvenanceLinks`] says).
    pub fn set_provenance_link(&self, filename: &str, link: Option<&str>) {
        let mut s = self.state.lock().unwrap();
        match link {
            Some(l) => s.link_overrides.insert(filename.into(), l.into()),
            None => s.link_overrides.remove(filename),
        };
    }

    /// The link [`ProvenanceLinks::Integrity`] gives `filename` (absolute).
    pub fn integrity_link(&self, filename: &str) -> String {
        let s = self.state.lock().unwrap();
        let f = s
            .files
            .iter()
            .find(|f| f.filename == filename)
            .expect("a stored file of that name");
        provenance_url(&s.base_url, f)
    }

    /// The path [`ProvenanceLinks::Elsewhere`] serves `filename`'s provenance at.
    pub fn moved_provenance_path(&self, filename: &str) -> String {
        let s = self.state.lock().unwrap();
        let f = s
            .files
            .iter()
            .find(|f| f.filename == filename)
            .expect("a stored file of that name");
        moved_provenance_path(f)
    }

    /// Link the files at `base` (e.g. this server as `https://localhost:PORT`,
    /// another origin, as PyPI's files.pythonhosted.org), or back to this URL.
    pub fn set_files_base(&self, base: Option<&str>) {
        self.state.lock().unwrap().files_base = base.map(str::to_string);
    }

    /// Simple pages in HTML only (as a PEP 503-only index), or back to
    /// content negotiation.
    pub fn serve_html_only(&self, html_only: bool) {
        self.state.lock().unwrap().html_only = html_only;
    }

    /// Serve `bytes` as the stored `filename` from now on, with index hashes
    /// to match (a compromised index or mirror); its provenance is kept.
    pub fn replace_file(&self, filename: &str, bytes: Vec<u8>) {
        let mut s = self.state.lock().unwrap();
        let f = s
            .files
            .iter_mut()
            .find(|f| f.filename == filename)
            .expect("a stored file of that name");
        f.sha256 = hex(&sha256(&bytes));
        f.blake2_256 = blake2_256(&bytes);
        f.content = bytes;
    }
}

fn log(state: &Shared, line: String) {
    state.lock().unwrap().requests.push(line);
}

/// Serve `app` over TLS: handshakes run on their own tasks so a bad client
/// cannot stall the accept loop.
fn run_tls(
    listener: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
) -> RunningServer {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("local-pypi".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let tcp = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                let (tx, rx) = tokio::sync::mpsc::channel(64);
                tokio::spawn(async move {
                    loop {
                        let Ok((stream, addr)) = tcp.accept().await else {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            continue;
                        };
                        let acceptor = acceptor.clone();
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            if let Ok(Ok(s)) = tokio::time::timeout(
                                Duration::from_secs(10),
                                acceptor.accept(stream),
                            )
                            .await
                            {
                                let _ = tx.send((s, addr)).await;
                            }
                        });
                    }
                });
                let serve = axum::serve(TlsListener { rx }, app);
                let stopped = async {
                    while !stop2.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        })
        .expect("spawn local PyPI thread");
    RunningServer {
        stop,
        thread: Some(thread),
    }
}

struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        std::net::SocketAddr,
    )>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The acceptor task never ends while the runtime runs.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Warehouse's `_exc_with_message`: the message is the reason phrase and is
/// in the (Pyramid plain-text) body.
fn forklift_error(status: StatusCode, message: &str) -> Response {
    let reason: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let body = format!(
        "{} {}\n\nThe server could not comply with the request since it is either malformed or otherwise incapable of performing it.\n\n{}\n\n",
        status.as_u16(),
        reason,
        message
    );
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason.into_bytes()) {
        r.extensions_mut().insert(phrase);
    }
    r
}

fn mint_error(code: &str, description: &str) -> Response {
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "message": "Token request failed",
                "errors": [{ "code": code, "description": description }] }),
    )
}

// ---------------------------------------------------------------------------
// /_/oidc
// ---------------------------------------------------------------------------

async fn audience_route(State(state): State<Shared>) -> Response {
    log(&state, "GET /_/oidc/audience".into());
    let s = state.lock().unwrap();
    if !s.tp_enabled {
        return json_response(
            StatusCode::FORBIDDEN,
            json!({ "message": "Trusted publishing functionality not enabled" }),
        );
    }
    json_response(StatusCode::OK, json!({ "audience": s.audience }))
}

async fn burn_route(State(state): State<Shared>, body: Bytes) -> Response {
    log(&state, "POST /_/oidc/burn-token".into());
    let token = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_string));
    match token {
        Some(t) => {
            state.lock().unwrap().tokens.remove(&t);
            json_response(StatusCode::OK, json!({ "success": true }))
        }
        None => mint_error("invalid-payload", "token is required"),
    }
}

fn decode_part(part: &str) -> Option<Value> {
    serde_json::from_slice(&B64URL.decode(part.trim_end_matches('=')).ok()?).ok()
}

async fn mint_route(State(state): State<Shared>, body: Bytes) -> Response {
    log(&state, "POST /_/oidc/mint-token".into());
    // 1. The body is pydantic `TokenPayload(token: StrictStr)`.
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return mint_error(
                "invalid-payload",
                &format!("1 validation error for TokenPayload\n  Invalid JSON: {e} [type=json_invalid, input_value={:?}, input_type=bytes]", String::from_utf8_lossy(&body)),
            )
        }
    };
    let token = match payload.get("token") {
        Some(Value::String(t)) => t.clone(),
        Some(other) => {
            return mint_error(
                "invalid-payload",
                &format!("1 validation error for TokenPayload\ntoken\n  Input should be a valid string [type=string_type, input_value={other}, input_type={}]", if other.is_number() { "int" } else { "dict" }),
            )
        }
        None => {
            return mint_error(
                "invalid-payload",
                &format!("1 validation error for TokenPayload\ntoken\n  Field required [type=missing, input_value={payload}, input_type=dict]"),
            )
        }
    };
    // 2. Unverified decode: iss is needed to pick the issuer.
    let parts: Vec<&str> = token.split('.').collect();
    let unverified = (parts.len() == 3)
        .then(|| Some((decode_part(parts[0])?, decode_part(parts[1])?)))
        .flatten();
    let Some((jwt_header, claims)) = unverified else {
        return mint_error("invalid-payload", "malformed JWT");
    };
    let Some(iss) = claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return mint_error("invalid-payload", "malformed JWT");
    };
    let mut s = state.lock().unwrap();
    // 3. A known issuer (gitlab.com or a custom one).
    let Some(keys) = s.issuers.get(&iss).cloned() else {
        return mint_error("invalid-payload", "unknown trusted publishing issuer");
    };
    // 4. Per-issuer switch.
    if !s.tp_enabled {
        return mint_error(
            "not-enabled",
            "gitlab trusted publishing functionality not enabled",
        );
    }
    // 5. Signature and registered claims.
    if !verify_jwt(&parts, &jwt_header, &claims, &keys, &iss, &s.audience) {
        return mint_error("invalid-token", "malformed or invalid token");
    }
    // 7. The GitLab publisher lookup and claim checks.
    let publisher = match find_publisher(&s.publishers, &claims, &iss) {
        Ok(i) => i,
        Err(msg) => {
            return mint_error(
                "invalid-publisher",
                &format!("valid token, but no corresponding publisher ({msg})"),
            )
        }
    };
    // 8. The jti is single-use.
    let jti = claims["jti"].as_str().unwrap_or_default().to_string();
    if !s.used_jti.insert(jti) {
        return mint_error("invalid-reuse-token", "invalid token: already used");
    }
    let minted = format!("pypi-{}", B64URL.encode(random_hex(32)));
    let expires = now() + TOKEN_LIFETIME;
    let projects = s.publishers[publisher].projects.clone();
    s.tokens.insert(
        minted.clone(),
        Minted {
            publisher: Some(publisher),
            projects,
            expires,
        },
    );
    json_response(
        StatusCode::OK,
        json!({ "success": true, "token": minted, "expires": expires }),
    )
}

fn verify_jwt(
    parts: &[&str],
    jwt_header: &Value,
    claims: &Value,
    keys: &[Arc<RsaIssuer>],
    iss: &str,
    audience: &str,
) -> bool {
    if jwt_header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return false;
    }
    let Some(kid) = jwt_header.get("kid").and_then(Value::as_str) else {
        return false;
    };
    let Some(key) = keys.iter().find(|k| k.kid == kid) else {
        return false;
    };
    let Ok(sig) = B64URL.decode(parts[2]) else {
        return false;
    };
    if !key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig) {
        return false;
    }
    let t = now();
    let num = |k: &str| claims.get(k).and_then(Value::as_i64);
    let (Some(iat), Some(exp)) = (num("iat"), num("exp")) else {
        return false;
    };
    if claims.get("aud").is_none() || claims.get("iss").and_then(Value::as_str) != Some(iss) {
        return false;
    }
    if exp <= t - JWT_LEEWAY || iat > t + JWT_LEEWAY {
        return false;
    }
    if let Some(nbf) = claims.get("nbf") {
        match nbf.as_i64() {
            Some(nbf) if nbf <= t + JWT_LEEWAY => {}
            _ => return false,
        }
    }
    // strict_aud: a string, exactly the audience (a list fails).
    claims.get("aud").and_then(Value::as_str) == Some(audience)
}

/// `GitLabPublisher.lookup_by_claims` + `verify_claims` (oidc/models/gitlab.py, _core.py).
fn find_publisher(
    publishers: &[PublisherConfig],
    claims: &Value,
    iss: &str,
) -> Result<usize, String> {
    let claim = |k: &str| claims.get(k).and_then(Value::as_str);
    let project_path = claim("project_path").ok_or("Missing claim 'project_path'")?;
    let ci_config_ref_uri =
        claim("ci_config_ref_uri").ok_or("Missing claim 'ci_config_ref_uri'")?;
    let (namespace, project) = project_path
        .rsplit_once('/')
        .ok_or("Publisher with matching claims was not found")?;
    let re = regex::Regex::new(r"//(.*[^/]\.(?:yml|yaml))@").unwrap();
    let workflow = re
        .captures(ci_config_ref_uri)
        .map(|c| c[1].to_string())
        .ok_or("Could not extract workflow filename from OIDC claims")?;
    let candidates: Vec<usize> = (0..publishers.len())
        .filter(|&i| {
            let p = &publishers[i];
            p.namespace.eq_ignore_ascii_case(namespace)
                && p.project.eq_ignore_ascii_case(project)
                && p.workflow_filepath == workflow
                && p.issuer_url == iss
        })
        .collect();
    let environment = claim("environment").unwrap_or("");
    let chosen = candidates
        .iter()
        .copied()
        .find(|&i| !environment.is_empty() && publishers[i].environment == environment)
        .or_else(|| {
            candidates
                .iter()
                .copied()
                .find(|&i| publishers[i].environment.is_empty())
        })
        .ok_or("Publisher with matching claims was not found")?;
    let p = &publishers[chosen];
    for required in [
        "sub",
        "project_path",
        "ci_config_ref_uri",
        "jti",
        "ref_path",
        "sha",
    ] {
        if claims.get(required).is_none() {
            return Err(format!("Missing claim '{required}'"));
        }
    }
    let sub = claim("sub").unwrap_or_default();
    let mut sub_parts = sub.split(':');
    let sub_head = format!(
        "{}:{}",
        sub_parts.next().unwrap_or_default(),
        sub_parts.next().unwrap_or_default()
    );
    if sub_head.to_lowercase()
        != format!("project_path:{}/{}", p.namespace, p.project).to_lowercase()
    {
        return Err("Check failed for required claim 'sub'".into());
    }
    if !project_path.eq_ignore_ascii_case(&format!("{}/{}", p.namespace, p.project)) {
        return Err("Check failed for required claim 'project_path'".into());
    }
    let ref_path = claim("ref_path").unwrap_or_default();
    let sha = claim("sha").unwrap_or_default();
    if ref_path.is_empty() && sha.is_empty() {
        return Err("The ref_path and sha claims are empty".into());
    }
    if ci_config_ref_uri.is_empty() {
        return Err("The ci_config_ref_uri claim is empty".into());
    }
    let domain = iss.trim_start_matches("https://");
    let expected: Vec<String> = [ref_path, sha]
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| {
            format!(
                "{domain}/{}/{}//{}@{r}",
                p.namespace, p.project, p.workflow_filepath
            )
        })
        .collect();
    if !expected.iter().any(|e| e == ci_config_ref_uri) {
        return Err(format!(
            "The ci_config_ref_uri claim does not match, expecting one of {expected:?}, got {ci_config_ref_uri:?}"
        ));
    }
    if !p.environment.is_empty() && claim("environment") != Some(p.environment.as_str()) {
        return Err("Check failed for optional claim 'environment'".into());
    }
    Ok(chosen)
}

// ---------------------------------------------------------------------------
// /legacy/
// ---------------------------------------------------------------------------

async fn legacy_redirect(State(state): State<Shared>) -> Response {
    log(&state, "POST /legacy".into());
    let mut r = forklift_error(
        StatusCode::PERMANENT_REDIRECT,
        "An upload was attempted to /legacy but the expected upload URL is /legacy/ (with a trailing slash)",
    );
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/legacy/"));
    r
}

struct FormPart {
    name: String,
    filename: Option<String>,
    data: Vec<u8>,
}

fn parse_multipart(headers: &HeaderMap, body: &[u8]) -> Result<Vec<FormPart>, String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = ct
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"').to_string())
        .ok_or("not multipart/form-data")?;
    let delim = format!("--{boundary}").into_bytes();
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut pos = find(body, &delim, 0).ok_or("no boundary")? + delim.len();
    loop {
        if body[pos..].starts_with(b"--") {
            break;
        }
        let head_start = pos + 2; // CRLF after the boundary
        let head_end = find(body, b"\r\n\r\n", head_start).ok_or("bad part headers")?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]).to_string();
        let data_start = head_end + 4;
        let mut end_delim = b"\r\n".to_vec();
        end_delim.extend_from_slice(&delim);
        let data_end = find(body, &end_delim, data_start).ok_or("unterminated part")?;
        let mut name = None;
        let mut filename = None;
        for line in head.lines() {
            if line
                .to_ascii_lowercase()
                .starts_with("content-disposition:")
            {
                for attr in line.split(';').skip(1) {
                    let (k, v) = attr.trim().split_once('=').unwrap_or(("", ""));
                    let v = v.trim_matches('"').to_string();
                    match k {
                        "name" => name = Some(v),
                        "filename" => filename = Some(v),
                        _ => {}
                    }
                }
            }
        }
        parts.push(FormPart {
            name: name.ok_or("part without a name")?,
            filename,
            data: body[data_start..data_end].to_vec(),
        });
        pos = data_end + end_delim.len();
    }
    Ok(parts)
}

fn blake2_256(data: &[u8]) -> String {
    use blake2::digest::{Update, VariableOutput};
    let mut h = blake2::Blake2bVar::new(32).unwrap();
    h.update(data);
    let mut out = [0u8; 32];
    h.finalize_variable(&mut out).unwrap();
    hex(&out)
}

const INVALID_AUTH: &str = "Invalid or non-existent authentication information. See https://pypi.org/help/#invalid-auth for more information.";

async fn upload_route(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    log(&state, "POST /legacy/".into());
    let parts = match parse_multipart(&headers, &body) {
        Ok(p) => p,
        Err(e) => return forklift_error(StatusCode::BAD_REQUEST, &format!("Invalid form: {e}")),
    };
    // The form is sanitised first: only `content` (and the legacy signature) may be a file.
    for p in &parts {
        if p.filename.is_some() && p.name != "content" && p.name != "gpg_signature" {
            return forklift_error(
                StatusCode::BAD_REQUEST,
                &format!("{}: Should not be a tuple.", p.name),
            );
        }
    }
    let text = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.data).to_string())
    };
    // Authentication: Basic __token__:<minted token>.
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| B64.decode(v.trim()).ok())
        .map(|v| String::from_utf8_lossy(&v).to_string());
    let Some((user, password)) = auth.as_deref().and_then(|a| a.split_once(':')) else {
        return forklift_error(StatusCode::FORBIDDEN, INVALID_AUTH);
    };
    if user != "__token__" {
        return forklift_error(
            StatusCode::FORBIDDEN,
            "Username/Password authentication is no longer supported. Migrate to API Tokens or Trusted Publishers instead. See https://pypi.org/help/#apitoken and https://pypi.org/help/#trusted-publishers",
        );
    }
    let (publisher, projects, expires) = {
        let s = state.lock().unwrap();
        match s.tokens.get(password) {
            Some(m) => (
                m.publisher.map(|i| s.publishers[i].clone()),
                m.projects.clone(),
                m.expires,
            ),
            None => return forklift_error(StatusCode::FORBIDDEN, INVALID_AUTH),
        }
    };
    if text("protocol_version").as_deref() != Some("1") {
        return forklift_error(StatusCode::BAD_REQUEST, "Unknown protocol version.");
    }
    let core =
        "See https://packaging.python.org/specifications/core-metadata for more information.";
    let name = text("name").unwrap_or_default();
    let version = text("version").unwrap_or_default();
    if !matches!(
        text("metadata_version").as_deref(),
        Some("1.0" | "1.1" | "1.2" | "2.0" | "2.1" | "2.2" | "2.3" | "2.4" | "2.5")
    ) {
        return forklift_error(
            StatusCode::BAD_REQUEST,
            &format!("{:?} is an invalid value for Metadata-Version. Error: Unknown Metadata Version {core}", text("metadata_version").unwrap_or_default()),
        );
    }
    let name_re = regex::Regex::new(r"(?i)^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$").unwrap();
    if !name_re.is_match(&name) {
        return forklift_error(
            StatusCode::BAD_REQUEST,
            &format!("{name:?} is an invalid value for Name. Error: Start and end with a letter or numeral containing only ASCII numeric and '.', '_' and '-'. {core}"),
        );
    }
    if version.parse::<pep440_rs::Version>().is_err() {
        return forklift_error(
            StatusCode::BAD_REQUEST,
            &format!("{version:?} is an invalid value for Version. Error: Start and end with a letter or numeral containing only ASCII numeric and '.', '_' and '-'. {core}"),
        );
    }
    let Some(content) = parts
        .iter()
        .find(|p| p.name == "content" && p.filename.is_some())
    else {
        return forklift_error(
            StatusCode::BAD_REQUEST,
            "Upload payload does not have a file.",
        );
    };
    let filename = content.filename.clone().unwrap_or_default();
    let project = normalize(&name);
    if !state.lock().unwrap().projects.contains_key(&project) {
        return forklift_error(
            StatusCode::BAD_REQUEST,
            "Non-user identities cannot create new projects. This was probably caused by successfully using a pending publisher but specifying the project name incorrectly (either in the publisher or in your project's metadata). Please ensure that both match. See: https://docs.pypi.org/trusted-publishers/troubleshooting/",
        );
    }
    if !projects.iter().any(|p| normalize(p) == project) {
        let scope = if publisher.is_some() {
            format!("OIDC scoped token is not valid for project '{name}'")
        } else {
            format!("project-scoped token is not valid for project: '{name}'")
        };
        return forklift_error(
            StatusCode::FORBIDDEN,
            &format!("Invalid API Token: {scope}"),
        );
    }
    if expires <= now() {
        return forklift_error(StatusCode::FORBIDDEN, "Invalid API Token: token is expired");
    }
    let sha = hex(&sha256(&content.data));
    let blake = blake2_256(&content.data);
    let sent_sha = text("sha256_digest").map(|d| d.to_ascii_lowercase());
    let sent_blake = text("blake2_256_digest").map(|d| d.to_ascii_lowercase());
    if sent_sha.is_none() && sent_blake.is_none() && text("md5_digest").is_none() {
        return forklift_error(
            StatusCode::BAD_REQUEST,
            "Include at least one message digest.",
        );
    }
    if sent_sha.as_ref().is_some_and(|d| *d != sha)
        || sent_blake.as_ref().is_some_and(|d| *d != blake)
    {
        return forklift_error(
            StatusCode::BAD_REQUEST,
            "The digest supplied does not match a digest calculated from the uploaded file.",
        );
    }
    // Duplicates: the identical file is a no-op (before attestations are read).
    {
        let s = state.lock().unwrap();
        if let Some(existing) = s
            .files
            .iter()
            .find(|f| f.filename == filename || f.blake2_256 == blake)
        {
            if existing.filename == filename
                && existing.sha256 == sha
                && existing.blake2_256 == blake
            {
                return (StatusCode::OK, "").into_response();
            }
            return forklift_error(
                StatusCode::BAD_REQUEST,
                &format!("File already exists ({filename:?}, with blake2_256 hash {:?}). See https://pypi.org/help/#file-name-reuse for more information.", existing.blake2_256).replace('"', "'"),
            );
        }
    }
    let provenance = match text("attestations") {
        None => None,
        Some(_) if publisher.is_none() => {
            return forklift_error(
                StatusCode::BAD_REQUEST,
                "Invalid attestations supplied during upload: Attestations are only supported when using Trusted Publishing",
            )
        }
        Some(raw) => {
            let publisher = publisher.as_ref().expect("checked above");
            match verify_attestations(&state, publisher, &raw, &filename, &content.data) {
                Ok(p) => Some(p),
                Err(msg) => {
                    return forklift_error(
                        StatusCode::BAD_REQUEST,
                        &format!("Invalid attestations supplied during upload: {msg}"),
                    )
                }
            }
        }
    };
    state.lock().unwrap().files.push(StoredFile {
        project,
        version,
        filename,
        sha256: sha,
        blake2_256: blake,
        content: content.data.clone(),
        requires_python: text("requires_python").filter(|r| !r.is_empty()),
        provenance,
    });
    (StatusCode::OK, "").into_response()
}

/// Run pypi-attestations on the upload; the Provenance object on success.
fn verify_attestations(
    state: &Shared,
    publisher: &PublisherConfig,
    raw: &str,
    filename: &str,
    content: &[u8],
) -> Result<Value, String> {
    static N: AtomicU64 = AtomicU64::new(0);
    let (python, script, root, dir) = {
        let s = state.lock().unwrap();
        let v = s
            .verifier
            .as_ref()
            .expect("attestations were uploaded, but the local PyPI has no verifier (verify_attestations_with)");
        (
            v.python.clone(),
            v.script.clone(),
            v.trusted_root.clone(),
            s.work_dir.clone(),
        )
    };
    let n = N.fetch_add(1, Ordering::SeqCst);
    let atts = dir.join(format!("upload-{n}.attestations.json"));
    let dist = dir.join(format!("upload-{n}.dist"));
    std::fs::write(&atts, raw).unwrap();
    std::fs::write(&dist, content).unwrap();
    let repository = format!("{}/{}", publisher.namespace, publisher.project);
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(&root)
        .arg(&atts)
        .arg(&dist)
        .arg(filename)
        .arg(&repository)
        .arg(&publisher.workflow_filepath)
        .arg(&publisher.environment)
        .output()
        .expect("run pypi-attestations");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "attestation verifier failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    if answer["ok"] != true {
        return Err(answer["error"].as_str().unwrap_or_default().to_string());
    }
    Ok(json!({
        "version": 1,
        "attestation_bundles": [{ "publisher": answer["publisher"], "attestations": answer["attestations"] }],
    }))
}

// ---------------------------------------------------------------------------
// Indexes and the Integrity API
// ---------------------------------------------------------------------------

fn provenance_url(base: &str, f: &StoredFile) -> String {
    format!(
        "{base}/integrity/{}/{}/{}/provenance",
        f.project, f.version, f.filename
    )
}

fn moved_provenance_path(f: &StoredFile) -> String {
    format!("/provenance/{}/{}", f.sha256, f.filename)
}

/// The provenance link the pages give `f`, if any.
fn provenance_link(s: &PypiState, f: &StoredFile) -> Option<String> {
    if let Some(link) = s.link_overrides.get(&f.filename) {
        return Some(link.clone());
    }
    f.provenance.as_ref()?;
    match s.links {
        ProvenanceLinks::Integrity => Some(provenance_url(&s.base_url, f)),
        // Relative to `/simple/<project>/`.
        ProvenanceLinks::Elsewhere => Some(format!("../..{}", moved_provenance_path(f))),
        ProvenanceLinks::Absent => None,
    }
}

async fn simple_route(
    State(state): State<Shared>,
    UrlPath(project): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    log(&state, format!("GET /simple/{project}/"));
    let s = state.lock().unwrap();
    let normalized = normalize(&project);
    let Some(display) = s.projects.get(&normalized) else {
        return (StatusCode::NOT_FOUND, "404 Not Found").into_response();
    };
    let files: Vec<&StoredFile> = s.files.iter().filter(|f| f.project == normalized).collect();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let files_base = s.files_base.as_deref().unwrap_or(&s.base_url);
    let file_url = |f: &StoredFile| format!("{files_base}/files/{}/{}", f.sha256, f.filename);
    if accept.contains("application/vnd.pypi.simple.v1+json") && !s.html_only {
        let mut versions: Vec<&str> = files.iter().map(|f| f.version.as_str()).collect();
        versions.dedup();
        let body = json!({
            "meta": { "api-version": "1.3", "_last-serial": s.files.len() },
            "name": normalized,
            "versions": versions,
            "files": files.iter().map(|f| json!({
                "filename": f.filename,
                "url": file_url(f),
                "hashes": { "sha256": f.sha256 },
                "requires-python": f.requires_python,
                "yanked": false,
                "size": f.content.len(),
                "provenance": provenance_link(&s, f),
            })).collect::<Vec<_>>(),
        });
        let mut r = (StatusCode::OK, body.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.pypi.simple.v1+json"),
        );
        return r;
    }
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.3\">\n    <title>Links for {normalized}</title>\n  </head>\n  <body>\n    <h1>Links for {display}</h1>\n"
    );
    for f in files {
        let prov = provenance_link(&s, f)
            .map(|l| {
                format!(
                    " data-provenance=\"{}\"",
                    l.replace('&', "&amp;").replace('"', "&quot;")
                )
            })
            .unwrap_or_default();
        let rp = f
            .requires_python
            .as_ref()
            .map(|r| {
                format!(
                    " data-requires-python=\"{}\"",
                    r.replace('<', "&lt;").replace('>', "&gt;")
                )
            })
            .unwrap_or_default();
        html.push_str(&format!(
            "    <a href=\"{}#sha256={}\"{rp}{prov}>{}</a><br />\n",
            file_url(f),
            f.sha256,
            f.filename
        ));
    }
    html.push_str("  </body>\n</html>\n");
    let mut r = (StatusCode::OK, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

async fn integrity_route(
    State(state): State<Shared>,
    UrlPath((project, version, filename)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    log(
        &state,
        format!("GET /integrity/{project}/{version}/{filename}/provenance"),
    );
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    let content_type =
        if accept.contains("application/vnd.pypi.integrity.v1+json") || accept.contains("*/*") {
            "application/vnd.pypi.integrity.v1+json"
        } else if accept.contains("application/json") {
            "application/json"
        } else {
            let mut r = json_response(
                StatusCode::NOT_ACCEPTABLE,
                json!({ "message": "Request not acceptable" }),
            );
            r.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept"));
            return r;
        };
    let s = state.lock().unwrap();
    let found = s.files.iter().find(|f| {
        f.project == normalize(&project)
            && pep440_eq(&f.version, &version)
            && f.filename == filename
    });
    // Moved: only the links name where it is now.
    let found = found.filter(|_| s.links != ProvenanceLinks::Elsewhere);
    let mut r = match found.and_then(|f| f.provenance.clone()) {
        Some(p) => {
            let mut r = (StatusCode::OK, p.to_string()).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=600, public"),
            );
            r
        }
        None => json_response(
            StatusCode::NOT_FOUND,
            json!({ "message": format!("No provenance available for {filename}") }),
        ),
    };
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// `GET /provenance/<sha256>/<file>`: the provenance where
/// [`ProvenanceLinks::Elsewhere`] links it. The log line says whether the
/// request carried credentials.
async fn moved_provenance_route(
    State(state): State<Shared>,
    UrlPath((sha, filename)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let with = if headers.contains_key(header::AUTHORIZATION) {
        " (with credentials)"
    } else {
        ""
    };
    log(&state, format!("GET /provenance/{sha}/{filename}{with}"));
    let s = state.lock().unwrap();
    match s
        .files
        .iter()
        .find(|f| f.sha256 == sha && f.filename == filename)
        .and_then(|f| f.provenance.clone())
    {
        Some(p) => {
            let mut r = (StatusCode::OK, p.to_string()).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.pypi.integrity.v1+json"),
            );
            r
        }
        None => json_response(
            StatusCode::NOT_FOUND,
            json!({ "message": format!("No provenance available for {filename}") }),
        ),
    }
}

fn pep440_eq(a: &str, b: &str) -> bool {
    match (
        a.parse::<pep440_rs::Version>(),
        b.parse::<pep440_rs::Version>(),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The log line says whether the request carried credentials.
async fn file_route(
    State(state): State<Shared>,
    UrlPath((sha, filename)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let with = if headers.contains_key(header::AUTHORIZATION) {
        " (with credentials)"
    } else {
        ""
    };
    log(&state, format!("GET /files/{sha}/{filename}{with}"));
    let s = state.lock().unwrap();
    match s
        .files
        .iter()
        .find(|f| f.sha256 == sha && f.filename == filename)
    {
        Some(f) => (StatusCode::OK, Body::from(f.content.clone())).into_response(),
        None => (StatusCode::NOT_FOUND, "404 Not Found").into_response(),
    }
}
