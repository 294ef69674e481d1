//! `LocalSigstore`: a GitLab-like OIDC issuer, Fulcio and Rekor v1 served over
//! real HTTP on 127.0.0.1, built on the in-process crypto of [`super::pki`].
//!
//! Each service runs on its own thread with its own tokio runtime, so tests
//! stay synchronous; everything stops when the `LocalSigstore` is dropped.
//!
//! * OIDC: `/.well-known/openid-configuration`, `/jwks` (ES256 JWK), plus
//!   [`LocalSigstore::mint_token`] for GitLab-shaped ID tokens.
//! * Fulcio: `POST /api/v2/signingCert` (both the `publicKeyRequest` +
//!   `proofOfPossession` form of sigstore-rust/sigstore-go and the
//!   `certificateSigningRequest` + `Authorization: Bearer` form of
//!   sigstore-python), `GET /api/v2/configuration`, `GET /api/v2/trustBundle`.
//! * Rekor v1: create (hashedrekord and dsse 0.0.1), get by UUID / log index,
//!   `entries/retrieve`, `index/retrieve`, `GET /api/v1/log`, `publicKey`.
//! * Rekor v2 ([`super::rekor_v2`]) and an RFC 3161 TSA ([`super::tsa`]), each
//!   on its own port, listed in the trusted root; [`TrustFiles::signing_config_v2`]
//!   names them (Rekor v2 first, then v1, and the TSA).
//! * Fault injection per service ([`ServiceControl`]) and wrong answers
//!   ([`LocalSigstore::fulcio_issue_for_other_identity`], ...), with
//!   per-endpoint request counters.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::server::{bind_local, run_server, ConnectionHandle, RunningServer};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sigstore_crypto::{KeyPair, VerificationKey};
use sigstore_types::{DerPublicKey, SignatureBytes};
use x509_cert::der::{Decode, Encode};

use super::pki::{cert_pem, hex, pem_encode, sha256, GitLabClaims, RekorEntry, TestSigstore};
use super::rekor_v2::RekorV2Log;
use super::tsa::{LocalTsa, TIMESTAMP_PATH};

/// Audience Fulcio accepts (its OIDC client id).
pub const SIGSTORE_AUDIENCE: &str = "sigstore";
/// `validFor.start` of every service in the signing config.
pub const SERVICE_VALID_FROM: &str = "2020-01-01T00:00:00Z";
/// Operator name used in the signing config.
pub const OPERATOR: &str = "local.test";
/// go-oidc accepts a token whose `nbf` is at most this far in the future.
pub const NOT_BEFORE_LEEWAY: Duration = Duration::from_secs(300);

/// Endpoint labels used by the request counters (`"METHOD /path"`).
pub mod endpoint {
    pub const OIDC_DISCOVERY: &str = "GET /.well-known/openid-configuration";
    pub const OIDC_JWKS: &str = "GET /jwks";
    pub const FULCIO_SIGNING_CERT: &str = "POST /api/v2/signingCert";
    pub const FULCIO_CONFIGURATION: &str = "GET /api/v2/configuration";
    pub const FULCIO_TRUST_BUNDLE: &str = "GET /api/v2/trustBundle";
    pub const REKOR_CREATE: &str = "POST /api/v1/log/entries";
    /// `GET /api/v1/log/entries/{uuid}`.
    pub const REKOR_GET_BY_UUID: &str = "GET /api/v1/log/entries/{uuid}";
    /// `GET /api/v1/log/entries?logIndex=N`.
    pub const REKOR_GET_BY_INDEX: &str = "GET /api/v1/log/entries";
    pub const REKOR_RETRIEVE: &str = "POST /api/v1/log/entries/retrieve";
    pub const REKOR_INDEX_RETRIEVE: &str = "POST /api/v1/index/retrieve";
    pub const REKOR_LOG_INFO: &str = "GET /api/v1/log";
    pub const REKOR_PUBLIC_KEY: &str = "GET /api/v1/log/publicKey";
    pub const REKOR_V2_CREATE: &str = "POST /api/v2/log/entries";
    pub const TSA_TIMESTAMP: &str = "POST /api/v1/timestamp";
}

/// The three services, for [`LocalSigstore::service`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Oidc,
    Fulcio,
    Rekor,
}

// ---------------------------------------------------------------------------
// Fault injection and counters
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Faults {
    /// `(status, remaining)`: answer the next `remaining` requests with `status`.
    status: Option<(u16, usize)>,
    /// Close the connection without an answer for the next N requests.
    drop_next: usize,
    /// Sleep this long before handling every request.
    latency: Duration,
}

#[derive(Default)]
struct ServiceState {
    counters: Mutex<BTreeMap<String, usize>>,
    log: Mutex<Vec<String>>,
    faults: Mutex<Faults>,
    injected: Mutex<usize>,
}

/// Run-time switches and counters of one service. All methods take `&self`.
pub struct ServiceControl {
    name: &'static str,
    url: String,
    state: Arc<ServiceState>,
}

impl ServiceControl {
    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answer the next `n` requests with `status` (e.g. 500/502/503/429) and a
    /// JSON `{"code","message"}` body. Replaces any pending status fault.
    pub fn fail_next(&self, n: usize, status: u16) {
        StatusCode::from_u16(status).expect("valid HTTP status");
        lock(&self.state.faults).status = (n > 0).then_some((status, n));
    }

    /// Close the connection without any response for the next `n` requests
    /// (the client sees "connection closed before message completed").
    pub fn drop_next(&self, n: usize) {
        lock(&self.state.faults).drop_next = n;
    }

    /// Delay every request by `latency` (zero to switch off).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state.faults).latency = latency;
    }

    /// Switch off status, drop and latency faults.
    pub fn clear_faults(&self) {
        *lock(&self.state.faults) = Faults::default();
    }

    /// Requests seen by `endpoint` (see [`endpoint`]), faulted ones included.
    pub fn requests(&self, endpoint: &str) -> usize {
        lock(&self.state.counters)
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// All requests seen by this service.
    pub fn total_requests(&self) -> usize {
        lock(&self.state.counters).values().sum()
    }

    /// Per-endpoint counts.
    pub fn counters(&self) -> BTreeMap<String, usize> {
        lock(&self.state.counters).clone()
    }

    /// One line per request, in order: `"POST /api/v1/log/entries -> 201"`,
    /// `"... -> dropped"`, `"... -> 503 (injected)"`.
    pub fn request_log(&self) -> Vec<String> {
        lock(&self.state.log).clone()
    }

    /// Requests answered by an injected fault (status or drop).
    pub fn injected_faults(&self) -> usize {
        *lock(&self.state.injected)
    }

    /// Zero the counters, the request log and the injected-fault count.
    pub fn reset_counters(&self) {
        lock(&self.state.counters).clear();
        lock(&self.state.log).clear();
        *lock(&self.state.injected) = 0;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counter label for a request: `METHOD /path` with path parameters folded.
fn endpoint_label(method: &str, path: &str) -> String {
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    let folded = match path.strip_prefix("/api/v1/log/entries/") {
        Some("retrieve") => path.to_string(),
        Some(_) => "/api/v1/log/entries/{uuid}".to_string(),
        None => path.to_string(),
    };
    format!("{method} {folded}")
}

async fn fault_layer(
    State(svc): State<Arc<ServiceState>>,
    request: Request,
    next: Next,
) -> Response {
    let label = endpoint_label(request.method().as_str(), request.uri().path());
    *lock(&svc.counters).entry(label.clone()).or_insert(0) += 1;
    let (latency, drop_it, status) = {
        let mut f = lock(&svc.faults);
        let drop_it = f.drop_next > 0;
        let mut status = None;
        if drop_it {
            f.drop_next -= 1;
        } else if let Some((code, n)) = f.status {
            status = Some(code);
            f.status = (n > 1).then_some((code, n - 1));
        }
        (f.latency, drop_it, status)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if drop_it {
        if let Some(ConnectInfo(conn)) = request.extensions().get::<ConnectInfo<ConnectionHandle>>()
        {
            conn.kill.store(true, Ordering::SeqCst);
        }
        *lock(&svc.injected) += 1;
        lock(&svc.log).push(format!("{label} -> dropped"));
        // Never reaches the client: the connection refuses all further I/O.
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if let Some(code) = status {
        *lock(&svc.injected) += 1;
        lock(&svc.log).push(format!("{label} -> {code} (injected)"));
        return error_response(code, code as i64, "injected fault");
    }
    let response = next.run(request).await;
    lock(&svc.log).push(format!("{label} -> {}", response.status().as_u16()));
    response
}

fn error_response(status: u16, code: i64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).expect("status");
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "code": code, "message": message }).to_string(),
    )
        .into_response()
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

// ---------------------------------------------------------------------------
// OIDC issuer and tokens
// ---------------------------------------------------------------------------

/// The issuer's ES256 signing key.
struct IssuerKey {
    key: KeyPair,
    spki_der: Vec<u8>,
    kid: String,
}

impl IssuerKey {
    fn new() -> Self {
        let key = KeyPair::generate_ecdsa_p256().expect("P-256 key");
        let spki_der = key.public_key_der().expect("SPKI").as_bytes().to_vec();
        let kid = hex(&sha256(&spki_der)[..8]);
        IssuerKey { key, spki_der, kid }
    }

    /// `{kty, crv, x, y, kid, alg, use}`.
    fn jwk(&self) -> Value {
        let point = &self.spki_der[self.spki_der.len() - 65..];
        assert_eq!(point[0], 4, "uncompressed P-256 point");
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": B64URL.encode(&point[1..33]),
            "y": B64URL.encode(&point[33..]),
            "kid": self.kid,
            "alg": "ES256",
            "use": "sig",
        })
    }
}

/// How to mint a token; `TokenOptions::default()` is a valid Sigstore token
/// (aud `sigstore`, iat now, nbf now-5s, exp now+1h, signed by the issuer).
#[derive(Clone, Debug)]
pub struct TokenOptions {
    /// One value gives a string `aud`, several an array.
    pub audience: Vec<String>,
    /// `iat` = now + this (negative = in the past).
    pub issued_at_offset_secs: i64,
    /// `exp` = `iat` + this.
    pub lifetime: Duration,
    /// `nbf` = `iat` - this (GitLab: 5 s).
    pub not_before_skew_secs: i64,
    /// Override `iss` (default: the claims' server URL).
    pub issuer: Option<String>,
    /// Claims added or replaced after the GitLab claims are built.
    pub extra_claims: Map<String, Value>,
    /// Claims removed after the GitLab claims are built.
    pub removed_claims: Vec<String>,
    /// Sign with a fresh key the issuer does not publish (same `kid`).
    pub foreign_signing_key: bool,
}

impl Default for TokenOptions {
    fn default() -> Self {
        TokenOptions {
            audience: vec![SIGSTORE_AUDIENCE.to_string()],
            issued_at_offset_secs: 0,
            lifetime: Duration::from_secs(3600),
            not_before_skew_secs: 5,
            issuer: None,
            extra_claims: Map::new(),
            removed_claims: Vec::new(),
            foreign_signing_key: false,
        }
    }
}

impl TokenOptions {
    pub fn audience(mut self, aud: &str) -> Self {
        self.audience = vec![aud.to_string()];
        self
    }
    pub fn audiences(mut self, auds: &[&str]) -> Self {
        self.audience = auds.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Issued two hours ago, expired one hour ago.
    pub fn expired(mut self) -> Self {
        self.issued_at_offset_secs = -7200;
        self.lifetime = Duration::from_secs(3600);
        self
    }
    /// `iat`/`nbf` 10 minutes in the future (beyond go-oidc's 5-minute leeway).
    pub fn not_yet_valid(mut self) -> Self {
        self.issued_at_offset_secs = 600;
        self
    }
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }
    pub fn issuer(mut self, iss: &str) -> Self {
        self.issuer = Some(iss.to_string());
        self
    }
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.extra_claims.insert(name.to_string(), value);
        self
    }
    pub fn without_claim(mut self, name: &str) -> Self {
        self.removed_claims.push(name.to_string());
        self
    }
    pub fn signed_by_foreign_key(mut self) -> Self {
        self.foreign_signing_key = true;
        self
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64
}

static JTI_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Random-looking UUID v4 string.
fn uuid_v4() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut seed = nanos.to_be_bytes().to_vec();
    seed.extend_from_slice(&JTI_COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    seed.extend_from_slice(&std::process::id().to_be_bytes());
    let mut b = sha256(&seed);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// GitLab ID-token claims (gitlab-and-pypi.md §3.2) for `claims`.
pub fn gitlab_token_claims(claims: &GitLabClaims, opts: &TokenOptions) -> Value {
    let iat = now_unix() + opts.issued_at_offset_secs;
    let aud = if opts.audience.len() == 1 {
        Value::String(opts.audience[0].clone())
    } else {
        json!(opts.audience)
    };
    let mut v = json!({
        "namespace_id": claims.namespace_id,
        "namespace_path": claims.namespace_path,
        "project_id": claims.project_id,
        "project_path": claims.project_path,
        "user_id": "4242",
        "user_login": "ci-user",
        "user_email": "ci-user@example.test",
        "user_access_level": "maintainer",
        "pipeline_id": "1000001",
        "pipeline_source": claims.pipeline_source,
        "job_id": claims.job_id,
        "ref": claims.ref_name,
        "ref_type": claims.ref_type,
        "ref_path": claims.git_ref(),
        "ref_protected": "true",
        "runner_id": 12270837,
        "runner_environment": claims.runner_environment,
        "sha": claims.sha,
        "project_visibility": claims.visibility,
        "ci_config_ref_uri": claims.ci_config_ref_uri(),
        "ci_config_sha": claims.sha,
        "jti": uuid_v4(),
        "iat": iat,
        "nbf": iat - opts.not_before_skew_secs,
        "exp": iat + opts.lifetime.as_secs() as i64,
        "iss": opts.issuer.clone().unwrap_or_else(|| claims.issuer()),
        "sub": claims.subject(),
        "aud": aud,
    });
    let obj = v.as_object_mut().expect("object");
    for (k, val) in &opts.extra_claims {
        obj.insert(k.clone(), val.clone());
    }
    for k in &opts.removed_claims {
        obj.remove(k);
    }
    v
}

/// DER ECDSA signature -> JOSE `r || s` (32 bytes each).
fn ecdsa_der_to_raw(der: &[u8]) -> Vec<u8> {
    fn int(b: &[u8]) -> (&[u8], &[u8]) {
        assert_eq!(b[0], 0x02, "INTEGER");
        let len = b[1] as usize;
        (&b[2..2 + len], &b[2 + len..])
    }
    assert_eq!(der[0], 0x30, "SEQUENCE");
    let body = &der[2..];
    let (r, rest) = int(body);
    let (s, _) = int(rest);
    let mut out = vec![0u8; 64];
    for (i, x) in [r, s].into_iter().enumerate() {
        let x = if x.len() > 32 { &x[x.len() - 32..] } else { x };
        out[i * 32 + 32 - x.len()..(i + 1) * 32].copy_from_slice(x);
    }
    out
}

/// JOSE `r || s` -> DER ECDSA signature.
fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let int = |x: &[u8]| {
        let mut x = x;
        while x.len() > 1 && x[0] == 0 {
            x = &x[1..];
        }
        let mut v = vec![0x02];
        if x[0] & 0x80 != 0 {
            v.push(x.len() as u8 + 1);
            v.push(0);
        } else {
            v.push(x.len() as u8);
        }
        v.extend_from_slice(x);
        v
    };
    let mut body = int(&raw[..32]);
    body.extend(int(&raw[32..]));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    Some(out)
}

fn sign_jwt(key: &KeyPair, kid: &str, claims: &Value) -> String {
    let header = json!({ "alg": "ES256", "kid": kid, "typ": "JWT" });
    let input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let der = key.sign(input.as_bytes()).expect("sign JWT");
    format!(
        "{input}.{}",
        B64URL.encode(ecdsa_der_to_raw(der.as_bytes()))
    )
}

// ---------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------

#[derive(Default)]
struct WrongAnswers {
    fulcio_other_identity: usize,
    rekor_corrupt_set: usize,
    rekor_other_body: usize,
}

struct StackState {
    pki: Mutex<TestSigstore>,
    issuer_url: String,
    fulcio_url: String,
    rekor_url: String,
    issuer_key: IssuerKey,
    wrong: Mutex<WrongAnswers>,
    /// Also accept `iss: https://gitlab.com` (see `accept_gitlab_com_tokens`).
    gitlab_com: AtomicBool,
}

/// Paths written by [`LocalSigstore::write_trust_files`].
#[derive(Clone, Debug)]
pub struct TrustFiles {
    pub trusted_root: PathBuf,
    pub signing_config: PathBuf,
    /// For sigstore-python `--trust-config`.
    pub client_trust_config: PathBuf,
    /// Signing config listing Rekor v2, Rekor v1 and the TSA.
    pub signing_config_v2: PathBuf,
    /// sigstore-python `--trust-config` with that signing config.
    pub client_trust_config_v2: PathBuf,
}

/// OIDC issuer + Fulcio + Rekor v1 on 127.0.0.1, with real keys.
pub struct LocalSigstore {
    state: Arc<StackState>,
    oidc: ServiceControl,
    fulcio: ServiceControl,
    rekor: ServiceControl,
    rekor_v2: ServiceControl,
    tsa: ServiceControl,
    rekor_v2_log: Arc<Mutex<RekorV2Log>>,
    local_tsa: Arc<LocalTsa>,
    // Dropped last-to-first is irrelevant: each stops its own thread.
    _servers: Vec<RunningServer>,
}

impl LocalSigstore {
    /// Start the three services on random ports.
    pub fn start() -> Self {
        let (oidc_l, issuer_url) = bind_local();
        let (fulcio_l, fulcio_url) = bind_local();
        let (rekor_l, rekor_url) = bind_local();
        let (rekor_v2_l, rekor_v2_url) = bind_local();
        let (tsa_l, tsa_url) = bind_local();
        let rekor_v2_log = Arc::new(Mutex::new(RekorV2Log::new(&rekor_v2_url)));
        let local_tsa = Arc::new(LocalTsa::new());
        let mut pki = TestSigstore::new();
        pki.set_rekor_url(&rekor_url);
        pki.set_fulcio_url(&fulcio_url);
        let state = Arc::new(StackState {
            pki: Mutex::new(pki),
            issuer_url: issuer_url.clone(),
            fulcio_url: fulcio_url.clone(),
            rekor_url: rekor_url.clone(),
            issuer_key: IssuerKey::new(),
            wrong: Mutex::new(WrongAnswers::default()),
            gitlab_com: AtomicBool::new(false),
        });
        let control = |name, url: &String| ServiceControl {
            name,
            url: url.clone(),
            state: Arc::new(ServiceState::default()),
        };
        let oidc = control("oidc", &issuer_url);
        let fulcio = control("fulcio", &fulcio_url);
        let rekor = control("rekor", &rekor_url);
        let rekor_v2 = control("rekor-v2", &rekor_v2_url);
        let tsa = control("tsa", &tsa_url);

        let oidc_app = Router::new()
            .route("/.well-known/openid-configuration", get(oidc_discovery))
            .route("/jwks", get(oidc_jwks))
            .route("/oauth/discovery/keys", get(oidc_jwks));
        let fulcio_app = Router::new()
            .route("/api/v2/signingCert", post(fulcio_signing_cert))
            .route("/api/v2/configuration", get(fulcio_configuration))
            .route("/api/v2/trustBundle", get(fulcio_trust_bundle));
        let rekor_app = Router::new()
            .route(
                "/api/v1/log/entries",
                post(rekor_create).get(rekor_get_by_index),
            )
            .route("/api/v1/log/entries/retrieve", post(rekor_retrieve))
            .route("/api/v1/log/entries/retrieve/", post(rekor_retrieve))
            .route("/api/v1/log/entries/{uuid}", get(rekor_get_by_uuid))
            .route("/api/v1/index/retrieve", post(rekor_index_retrieve))
            .route("/api/v1/log", get(rekor_log_info))
            .route("/api/v1/log/publicKey", get(rekor_public_key));

        let finish = |app: Router<Arc<StackState>>, ctl: &ServiceControl| -> Router {
            app.with_state(state.clone())
                .layer(middleware::from_fn_with_state(
                    ctl.state.clone(),
                    fault_layer,
                ))
        };
        let servers = vec![
            run_server("oidc", oidc_l, finish(oidc_app, &oidc)),
            run_server("fulcio", fulcio_l, finish(fulcio_app, &fulcio)),
            run_server("rekor", rekor_l, finish(rekor_app, &rekor)),
            run_server(
                "rekor-v2",
                rekor_v2_l,
                super::rekor_v2::router(rekor_v2_log.clone()).layer(
                    middleware::from_fn_with_state(rekor_v2.state.clone(), fault_layer),
                ),
            ),
            run_server(
                "tsa",
                tsa_l,
                super::tsa::router(local_tsa.clone()).layer(middleware::from_fn_with_state(
                    tsa.state.clone(),
                    fault_layer,
                )),
            ),
        ];
        LocalSigstore {
            state,
            oidc,
            fulcio,
            rekor,
            rekor_v2,
            tsa,
            rekor_v2_log,
            local_tsa,
            _servers: servers,
        }
    }

    // ----- URLs and controls -----

    /// OIDC issuer URL = token `iss` = GitLab instance URL, `http://127.0.0.1:PORT`.
    pub fn issuer_url(&self) -> &str {
        &self.state.issuer_url
    }
    pub fn fulcio_url(&self) -> &str {
        &self.state.fulcio_url
    }
    pub fn rekor_url(&self) -> &str {
        &self.state.rekor_url
    }
    /// Base URL of the Rekor v2 log.
    pub fn rekor_v2_url(&self) -> &str {
        self.rekor_v2.url()
    }
    /// Full timestamp URL of the TSA (`.../api/v1/timestamp`).
    pub fn tsa_url(&self) -> String {
        format!("{}{TIMESTAMP_PATH}", self.tsa.url())
    }
    pub fn rekor_v2(&self) -> &ServiceControl {
        &self.rekor_v2
    }
    pub fn tsa(&self) -> &ServiceControl {
        &self.tsa
    }
    /// The Rekor v2 log's state (tree, key, log ID).
    pub fn with_rekor_v2<R>(&self, f: impl FnOnce(&mut RekorV2Log) -> R) -> R {
        f(&mut lock(&self.rekor_v2_log))
    }
    pub fn local_tsa(&self) -> &LocalTsa {
        &self.local_tsa
    }
    pub fn oidc(&self) -> &ServiceControl {
        &self.oidc
    }
    pub fn fulcio(&self) -> &ServiceControl {
        &self.fulcio
    }
    pub fn rekor(&self) -> &ServiceControl {
        &self.rekor
    }
    pub fn service(&self, which: Service) -> &ServiceControl {
        match which {
            Service::Oidc => &self.oidc,
            Service::Fulcio => &self.fulcio,
            Service::Rekor => &self.rekor,
        }
    }
    /// Clear faults and wrong answers on all services (counters are kept).
    pub fn clear_all_faults(&self) {
        for s in [
            &self.oidc,
            &self.fulcio,
            &self.rekor,
            &self.rekor_v2,
            &self.tsa,
        ] {
            s.clear_faults();
        }
        *lock(&self.state.wrong) = WrongAnswers::default();
    }

    // ----- wrong answers -----

    /// The next `n` certificates are issued for another project
    /// (`attacker/other-project`), otherwise valid (chain, SCT, issuer).
    pub fn fulcio_issue_for_other_identity(&self, n: usize) {
        lock(&self.state.wrong).fulcio_other_identity = n;
    }
    /// The next `n` entries Rekor returns (create, get, retrieve) carry a SET
    /// with one flipped byte.
    pub fn rekor_corrupt_set(&self, n: usize) {
        lock(&self.state.wrong).rekor_corrupt_set = n;
    }
    /// The next `n` entries Rekor returns are genuine (SET, proof) but for a
    /// different body (the hashedrekord digest is changed); on create the
    /// decoy is logged instead of the proposed entry.
    pub fn rekor_return_other_body(&self, n: usize) {
        lock(&self.state.wrong).rekor_other_body = n;
    }

    /// Fulcio also accepts tokens whose `iss` is `https://gitlab.com` (signed
    /// with this issuer's key) and issues GitLab.com-shaped certificates for
    /// them: the only GitLab issuer PyPI verifies attestations from.
    pub fn accept_gitlab_com_tokens(&self) {
        self.state.gitlab_com.store(true, Ordering::SeqCst);
    }

    // ----- identity -----

    /// `GitLabClaims::example()` on this instance (server URL = issuer URL).
    pub fn gitlab_claims(&self) -> GitLabClaims {
        GitLabClaims {
            server_url: self.state.issuer_url.clone(),
            ..GitLabClaims::example()
        }
    }

    /// Certificate identity (URI SAN) Fulcio issues for `claims`:
    /// `https://127.0.0.1:PORT/group/proj//.gitlab-ci.yml@refs/heads/main`.
    pub fn identity_for(&self, claims: &GitLabClaims) -> String {
        claims.identity()
    }

    /// Mint a GitLab-shaped ES256 ID token.
    pub fn mint_token(&self, claims: &GitLabClaims, opts: &TokenOptions) -> String {
        let v = gitlab_token_claims(claims, opts);
        let k = &self.state.issuer_key;
        if opts.foreign_signing_key {
            let foreign = KeyPair::generate_ecdsa_p256().expect("P-256 key");
            sign_jwt(&foreign, &k.kid, &v)
        } else {
            sign_jwt(&k.key, &k.kid, &v)
        }
    }

    /// A valid Sigstore token (aud `sigstore`, 1 h) for `claims`.
    pub fn token_for(&self, claims: &GitLabClaims) -> String {
        self.mint_token(claims, &TokenOptions::default())
    }

    /// A valid Sigstore token for [`Self::gitlab_claims`].
    pub fn token(&self) -> String {
        self.token_for(&self.gitlab_claims())
    }

    /// The issuer's public JWK set.
    pub fn jwks_json(&self) -> Value {
        json!({ "keys": [self.state.issuer_key.jwk()] })
    }

    // ----- trust material -----

    /// `trusted_root.json` (tlog baseUrl = this Rekor, CA uri = this Fulcio),
    /// plus the Rekor v2 log (after v1: clients build their v1 client from
    /// `tlogs[0]`) and the TSA.
    pub fn trusted_root_json(&self) -> String {
        let mut root: Value =
            serde_json::from_str(&lock(&self.state.pki).trusted_root_json()).expect("root JSON");
        let v2 = lock(&self.rekor_v2_log).trusted_root_entry(self.rekor_v2_url());
        root["tlogs"].as_array_mut().expect("tlogs").push(v2);
        root["timestampAuthorities"] = json!([self.local_tsa.trusted_root_entry(&self.tsa_url())]);
        serde_json::to_string_pretty(&root).expect("JSON")
    }

    /// Sigstore `signing_config` v0.2: Fulcio, OIDC, Rekor v1; no TSA.
    pub fn signing_config_json(&self) -> String {
        serde_json::to_string_pretty(&self.signing_config_value()).expect("JSON")
    }

    fn signing_config_value(&self) -> Value {
        let svc = |url: &str, version: u32| {
            json!({
                "url": url,
                "majorApiVersion": version,
                "validFor": { "start": SERVICE_VALID_FROM },
                "operator": OPERATOR,
            })
        };
        json!({
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [svc(self.fulcio_url(), 1)],
            "oidcUrls": [svc(self.issuer_url(), 1)],
            "rekorTlogUrls": [svc(self.rekor_url(), 1)],
            "tsaUrls": [],
            "rekorTlogConfig": { "selector": "ANY" },
            "tsaConfig": { "selector": "ANY" },
        })
    }

    /// Signing config v0.2 listing Rekor v2 and v1 and the TSA: the spec's
    /// selection picks v2 (highest major version) unless a client forces v1.
    pub fn signing_config_v2_json(&self) -> String {
        serde_json::to_string_pretty(&self.signing_config_v2_value()).expect("JSON")
    }

    fn signing_config_v2_value(&self) -> Value {
        let svc = |url: &str, version: u32| {
            json!({
                "url": url,
                "majorApiVersion": version,
                "validFor": { "start": SERVICE_VALID_FROM },
                "operator": OPERATOR,
            })
        };
        let mut v = self.signing_config_value();
        v["rekorTlogUrls"] = json!([svc(self.rekor_v2_url(), 2), svc(self.rekor_url(), 1)]);
        v["tsaUrls"] = json!([svc(&self.tsa_url(), 1)]);
        v
    }

    /// `{"mediaType": clienttrustconfig v0.1, "trustedRoot", "signingConfig"}`.
    pub fn client_trust_config_json(&self) -> String {
        self.client_trust_config_with(self.signing_config_value())
    }

    fn client_trust_config_with(&self, signing_config: Value) -> String {
        let root: Value = serde_json::from_str(&self.trusted_root_json()).expect("root JSON");
        let v = json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": root,
            "signingConfig": signing_config,
        });
        serde_json::to_string_pretty(&v).expect("JSON")
    }

    /// Write `trusted_root.json`, `signing_config.json` and
    /// `client_trust_config.json` into `dir` (created if needed).
    pub fn write_trust_files(&self, dir: &Path) -> TrustFiles {
        std::fs::create_dir_all(dir).expect("create trust dir");
        let files = TrustFiles {
            trusted_root: dir.join("trusted_root.json"),
            signing_config: dir.join("signing_config.json"),
            client_trust_config: dir.join("client_trust_config.json"),
            signing_config_v2: dir.join("signing_config_v2.json"),
            client_trust_config_v2: dir.join("client_trust_config_v2.json"),
        };
        std::fs::write(&files.trusted_root, self.trusted_root_json()).expect("write");
        std::fs::write(&files.signing_config, self.signing_config_json()).expect("write");
        std::fs::write(&files.client_trust_config, self.client_trust_config_json()).expect("write");
        std::fs::write(&files.signing_config_v2, self.signing_config_v2_json()).expect("write");
        std::fs::write(
            &files.client_trust_config_v2,
            self.client_trust_config_with(self.signing_config_v2_value()),
        )
        .expect("write");
        files
    }

    // ----- direct access -----

    /// Run `f` on the underlying [`TestSigstore`] (CA, CT key, Rekor log).
    pub fn with_pki<R>(&self, f: impl FnOnce(&mut TestSigstore) -> R) -> R {
        f(&mut lock(&self.state.pki))
    }

    /// Entries in the Rekor log.
    pub fn rekor_tree_size(&self) -> u64 {
        lock(&self.state.pki).tree_size()
    }

    /// Entry `log_index` with a proof against the current tree.
    pub fn rekor_entry(&self, log_index: u64) -> RekorEntry {
        lock(&self.state.pki).entry(log_index)
    }
}

// ---------------------------------------------------------------------------
// OIDC handlers
// ---------------------------------------------------------------------------

async fn oidc_discovery(State(st): State<Arc<StackState>>) -> Response {
    let iss = &st.issuer_url;
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": iss,
            "jwks_uri": format!("{iss}/jwks"),
            "authorization_endpoint": format!("{iss}/oauth/authorize"),
            "token_endpoint": format!("{iss}/oauth/token"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "claims_supported": [
                "iss", "sub", "aud", "exp", "nbf", "iat", "jti",
                "namespace_id", "namespace_path", "project_id", "project_path",
                "pipeline_id", "pipeline_source", "job_id", "ref", "ref_type",
                "ref_path", "ref_protected", "runner_id", "runner_environment",
                "sha", "project_visibility", "ci_config_ref_uri", "ci_config_sha",
            ],
        }),
    )
}

async fn oidc_jwks(State(st): State<Arc<StackState>>) -> Response {
    json_response(StatusCode::OK, &json!({ "keys": [st.issuer_key.jwk()] }))
}

// ---------------------------------------------------------------------------
// Fulcio
// ---------------------------------------------------------------------------

/// gRPC status codes Fulcio puts in `code`.
const GRPC_INVALID_ARGUMENT: i64 = 3;
const GRPC_UNAUTHENTICATED: i64 = 16;

fn unauthenticated(detail: &str) -> Response {
    error_response(
        401,
        GRPC_UNAUTHENTICATED,
        &format!("There was an error processing the identity token: {detail}"),
    )
}

fn invalid_argument(message: &str) -> Response {
    error_response(400, GRPC_INVALID_ARGUMENT, message)
}

/// Verify the JWT like Fulcio's go-oidc verifier; returns its claims.
fn verify_token(st: &StackState, token: &str) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err("malformed JWT".into());
    }
    let decode = |s: &str| {
        B64URL
            .decode(s.trim_end_matches('='))
            .map_err(|e| e.to_string())
    };
    let header: Value =
        serde_json::from_slice(&decode(parts[0])?).map_err(|e| format!("header: {e}"))?;
    if header["alg"] != "ES256" {
        return Err(format!("unsupported alg {}", header["alg"]));
    }
    if header["kid"] != st.issuer_key.kid.as_str() {
        return Err("unknown key id".into());
    }
    let sig_der = ecdsa_raw_to_der(&decode(parts[2])?).ok_or("bad signature length")?;
    let key = VerificationKey::from_spki(&DerPublicKey::new(st.issuer_key.spki_der.clone()))
        .map_err(|e| e.to_string())?;
    key.verify(
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &SignatureBytes::new(sig_der),
    )
    .map_err(|_| "failed to verify signature".to_string())?;
    let claims: Value =
        serde_json::from_slice(&decode(parts[1])?).map_err(|e| format!("claims: {e}"))?;
    let gitlab_com = st.gitlab_com.load(Ordering::SeqCst) && claims["iss"] == "https://gitlab.com";
    if claims["iss"] != st.issuer_url.as_str() && !gitlab_com {
        return Err(format!(
            "oidc: id token issued by a different provider, expected {:?} got {}",
            st.issuer_url, claims["iss"]
        ));
    }
    let aud_ok = match &claims["aud"] {
        Value::String(s) => s == SIGSTORE_AUDIENCE,
        Value::Array(a) => a.iter().any(|v| v == SIGSTORE_AUDIENCE),
        _ => false,
    };
    if !aud_ok {
        return Err(format!(
            "oidc: expected audience \"sigstore\" got {}",
            claims["aud"]
        ));
    }
    let now = now_unix();
    let exp = claims["exp"].as_i64().ok_or("missing exp")?;
    if now >= exp {
        return Err(format!("oidc: token is expired (Token Expiry: {exp})"));
    }
    if let Some(nbf) = claims["nbf"].as_i64() {
        if now + (NOT_BEFORE_LEEWAY.as_secs() as i64) < nbf {
            return Err(format!(
                "oidc: current time before the nbf (not before) time: {nbf}"
            ));
        }
    }
    Ok(claims)
}

/// Fulcio's `gitlab-pipeline` mapping from token claims to [`GitLabClaims`].
fn claims_to_gitlab(claims: &Value) -> Result<GitLabClaims, String> {
    let s = |k: &str| -> Result<String, String> {
        match &claims[k] {
            Value::String(v) => Ok(v.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(format!("token is missing claim {k:?}")),
        }
    };
    let ref_type = s("ref_type")?;
    if ref_type != "branch" && ref_type != "tag" {
        return Err(format!("unexpected ref_type: {ref_type}"));
    }
    let mut g = GitLabClaims {
        server_url: s("iss")?,
        project_path: s("project_path")?,
        ref_type,
        ref_name: s("ref")?,
        config_path: String::new(),
        sha: s("sha")?,
        project_id: s("project_id")?,
        namespace_path: s("namespace_path")?,
        namespace_id: s("namespace_id")?,
        pipeline_source: s("pipeline_source")?,
        job_id: s("job_id")?,
        runner_environment: s("runner_environment")?,
        visibility: s("project_visibility")?,
    };
    s("pipeline_id")?;
    s("runner_id")?;
    let uri = s("ci_config_ref_uri")?;
    // The certificate is built from GitLabClaims, whose SAN host comes from
    // the issuer URL: the token's ci_config_ref_uri must be consistent with it.
    let prefix = {
        let tmp = GitLabClaims {
            config_path: "\u{0}".into(),
            ..g.clone()
        };
        let full = tmp.ci_config_ref_uri();
        full[..full.find('\u{0}').expect("marker")].to_string()
    };
    let suffix = format!("@{}", g.git_ref());
    match uri
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(&suffix))
    {
        Some(cfg) if !cfg.is_empty() => g.config_path = cfg.to_string(),
        _ => {
            return Err(format!(
                "ci_config_ref_uri {uri:?} is not {prefix}<config>{suffix} \
                 (local stack: host must be the issuer's)"
            ))
        }
    }
    Ok(g)
}

fn pem_to_der(pem_text: &str, wanted: &str) -> Result<Vec<u8>, String> {
    let p = pem::parse(pem_text).map_err(|e| format!("invalid PEM: {e}"))?;
    if p.tag() != wanted {
        return Err(format!("expected PEM {wanted}, got {}", p.tag()));
    }
    Ok(p.contents().to_vec())
}

/// SPKI of a PEM CSR after checking its self-signature.
fn csr_public_key(csr_b64: &str) -> Result<Vec<u8>, String> {
    let pem_bytes = B64
        .decode(csr_b64)
        .map_err(|e| format!("certificateSigningRequest is not base64: {e}"))?;
    let pem_text = String::from_utf8(pem_bytes).map_err(|_| "CSR PEM is not UTF-8")?;
    let der = pem_to_der(&pem_text, "CERTIFICATE REQUEST")?;
    let csr = x509_cert::request::CertReq::from_der(&der).map_err(|e| format!("CSR: {e}"))?;
    let spki = csr
        .info
        .public_key
        .to_der()
        .map_err(|e| format!("CSR key: {e}"))?;
    let info = csr.info.to_der().map_err(|e| format!("CSR info: {e}"))?;
    let sig = csr.signature.raw_bytes().to_vec();
    VerificationKey::from_spki(&DerPublicKey::new(spki.clone()))
        .and_then(|k| k.verify(&info, &SignatureBytes::new(sig)))
        .map_err(|_| "The signature supplied in the request could not be verified".to_string())?;
    Ok(spki)
}

async fn fulcio_signing_cert(
    State(st): State<Arc<StackState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return invalid_argument("request body is not JSON");
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let token = req["credentials"]["oidcIdentityToken"]
        .as_str()
        .map(str::to_string)
        .or(bearer);
    let Some(token) = token else {
        return unauthenticated("no identity token in request");
    };
    let claims = match verify_token(&st, &token) {
        Ok(c) => c,
        Err(e) => return unauthenticated(&e),
    };
    let Some(sub) = claims["sub"].as_str() else {
        return unauthenticated("token has no sub");
    };

    let spki = if let Some(csr) = req["certificateSigningRequest"].as_str() {
        match csr_public_key(csr) {
            Ok(k) => k,
            Err(e) => return invalid_argument(&e),
        }
    } else if let Some(pem_text) = req["publicKeyRequest"]["publicKey"]["content"].as_str() {
        let spki = match pem_to_der(pem_text, "PUBLIC KEY") {
            Ok(k) => k,
            Err(e) => return invalid_argument(&e),
        };
        let pop = req["publicKeyRequest"]["proofOfPossession"]
            .as_str()
            .and_then(|s| B64.decode(s).ok());
        let Some(pop) = pop else {
            return invalid_argument("missing or invalid proofOfPossession");
        };
        let ok = VerificationKey::from_spki(&DerPublicKey::new(spki.clone()))
            .and_then(|k| k.verify(sub.as_bytes(), &SignatureBytes::new(pop)))
            .is_ok();
        if !ok {
            return invalid_argument("The signature supplied in the request could not be verified");
        }
        spki
    } else {
        return invalid_argument("missing publicKeyRequest or certificateSigningRequest");
    };

    let mut gitlab = match claims_to_gitlab(&claims) {
        Ok(g) => g,
        Err(e) => return invalid_argument(&format!("error creating principal: {e}")),
    };
    {
        let mut wrong = lock(&st.wrong);
        if wrong.fulcio_other_identity > 0 {
            wrong.fulcio_other_identity -= 1;
            gitlab.project_path = "attacker/other-project".into();
            gitlab.namespace_path = "attacker".into();
        }
    }
    let (leaf, chain) = {
        let pki = lock(&st.pki);
        let now = pki.now();
        (
            pki.issue_certificate(&spki, &gitlab, now),
            pki.ca_chain_pem(),
        )
    };
    let mut certificates = vec![cert_pem(&leaf)];
    certificates.extend(chain);
    json_response(
        StatusCode::CREATED,
        &json!({ "signedCertificateEmbeddedSct": { "chain": { "certificates": certificates } } }),
    )
}

async fn fulcio_configuration(State(st): State<Arc<StackState>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "issuers": [{
            "issuerUrl": st.issuer_url,
            "audience": SIGSTORE_AUDIENCE,
            "challengeClaim": "sub",
            "issuerType": "gitlab-pipeline",
        }]}),
    )
}

async fn fulcio_trust_bundle(State(st): State<Arc<StackState>>) -> Response {
    let chain = lock(&st.pki).ca_chain_pem();
    json_response(
        StatusCode::OK,
        &json!({ "chains": [{ "certificates": chain }] }),
    )
}

// ---------------------------------------------------------------------------
// Rekor
// ---------------------------------------------------------------------------

fn rekor_error(status: u16, message: &str) -> Response {
    error_response(status, status as i64, message)
}

/// One signature the log must check before accepting an entry.
struct SignatureCheck {
    spki_der: Vec<u8>,
    /// A SHA-256 digest (hashedrekord) or the DSSE PAE (signed as a message).
    signed: Vec<u8>,
    prehashed: bool,
    signature: Vec<u8>,
}

/// A proposed entry, canonicalized like Rekor does, and what to verify.
struct ProposedEntry {
    body: Vec<u8>,
    checks: Vec<SignatureCheck>,
}

impl ProposedEntry {
    fn verify(&self) -> Result<(), String> {
        for c in &self.checks {
            let key = VerificationKey::from_spki(&DerPublicKey::new(c.spki_der.clone()))
                .map_err(|e| format!("invalid public key: {e}"))?;
            let sig = SignatureBytes::new(c.signature.clone());
            let res = if c.prehashed {
                key.verify_prehashed(&c.signed, &sig)
            } else {
                key.verify(&c.signed, &sig)
            };
            res.map_err(|e| format!("verifying signature: invalid signature: {e}"))?;
        }
        Ok(())
    }
}

/// Canonical PEM and SPKI of a base64 PEM certificate or public key.
fn parse_verifier(b64_pem: Option<&str>) -> Result<(String, Vec<u8>), String> {
    let pem_bytes = b64_pem
        .and_then(|s| B64.decode(s).ok())
        .ok_or("missing or invalid public key content")?;
    let pem_text = String::from_utf8(pem_bytes).map_err(|_| "public key PEM is not UTF-8")?;
    let p = pem::parse(&pem_text).map_err(|e| format!("invalid public key PEM: {e}"))?;
    match p.tag() {
        "CERTIFICATE" => {
            let cert = x509_cert::Certificate::from_der(p.contents())
                .map_err(|e| format!("invalid certificate: {e}"))?;
            let spki = cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|e| e.to_string())?;
            Ok((cert_pem(p.contents()), spki))
        }
        "PUBLIC KEY" => Ok((
            pem_encode("PUBLIC KEY", p.contents()),
            p.contents().to_vec(),
        )),
        other => Err(format!("unsupported PEM type {other}")),
    }
}

/// DSSE pre-authentication encoding.
fn dsse_pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    v.extend_from_slice(payload);
    v
}

/// Canonicalize a proposed `hashedrekord` 0.0.1 or `dsse` 0.0.1 entry.
fn canonicalize_entry(p: &Value) -> Result<ProposedEntry, String> {
    let kind = (p["kind"].as_str(), p["apiVersion"].as_str());
    let v = match kind {
        (Some("hashedrekord"), Some("0.0.1")) => canonical_hashedrekord(&p["spec"])?,
        (Some("dsse"), Some("0.0.1")) => canonical_dsse(&p["spec"])?,
        _ => {
            return Err(format!(
                "unsupported entry type {}/{} (local stack: hashedrekord or dsse 0.0.1)",
                p["kind"], p["apiVersion"]
            ))
        }
    };
    Ok(ProposedEntry {
        body: serde_json_canonicalizer::to_vec(&v.0).map_err(|e| e.to_string())?,
        checks: v.1,
    })
}

fn canonical_hashedrekord(spec: &Value) -> Result<(Value, Vec<SignatureCheck>), String> {
    if spec["data"]["hash"]["algorithm"] != "sha256" {
        return Err("validation failed: only sha256 digests are supported here".into());
    }
    let digest_hex = spec["data"]["hash"]["value"]
        .as_str()
        .ok_or("missing spec.data.hash.value")?
        .to_ascii_lowercase();
    let digest = (digest_hex.len() == 64)
        .then(|| hex_decode(&digest_hex))
        .flatten()
        .ok_or("spec.data.hash.value is not 64 hex digits")?;
    let signature = spec["signature"]["content"]
        .as_str()
        .and_then(|s| B64.decode(s).ok())
        .ok_or("missing or invalid spec.signature.content")?;
    let (canonical_pem, spki_der) =
        parse_verifier(spec["signature"]["publicKey"]["content"].as_str())?;
    let v = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": digest_hex } },
            "signature": {
                "content": B64.encode(&signature),
                "publicKey": { "content": B64.encode(canonical_pem) },
            },
        },
    });
    let check = SignatureCheck {
        spki_der,
        signed: digest,
        prehashed: true,
        signature,
    };
    Ok((v, vec![check]))
}

fn canonical_dsse(spec: &Value) -> Result<(Value, Vec<SignatureCheck>), String> {
    let envelope_text = spec["proposedContent"]["envelope"]
        .as_str()
        .ok_or("missing spec.proposedContent.envelope")?;
    let env: Value =
        serde_json::from_str(envelope_text).map_err(|e| format!("envelope is not JSON: {e}"))?;
    let payload_type = env["payloadType"].as_str().ok_or("missing payloadType")?;
    let payload = env["payload"]
        .as_str()
        .and_then(|s| B64.decode(s).ok())
        .ok_or("missing or invalid payload")?;
    let verifiers = spec["proposedContent"]["verifiers"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("missing spec.proposedContent.verifiers")?
        .iter()
        .map(|v| parse_verifier(v.as_str()))
        .collect::<Result<Vec<_>, _>>()?;
    let pae = dsse_pae(payload_type, &payload);
    let mut signatures = Vec::new();
    let mut checks = Vec::new();
    for s in env["signatures"].as_array().into_iter().flatten() {
        let sig = s["sig"]
            .as_str()
            .and_then(|s| B64.decode(s).ok())
            .ok_or("missing or invalid signature")?;
        // The verifier whose key checks this signature (Rekor tries each).
        let found = verifiers.iter().find(|(_, spki)| {
            VerificationKey::from_spki(&DerPublicKey::new(spki.clone()))
                .and_then(|k| k.verify(&pae, &SignatureBytes::new(sig.clone())))
                .is_ok()
        });
        let (pem_text, spki) = found.unwrap_or(&verifiers[0]);
        checks.push(SignatureCheck {
            spki_der: spki.clone(),
            signed: pae.clone(),
            prehashed: false,
            signature: sig.clone(),
        });
        signatures.push(json!({ "signature": B64.encode(&sig), "verifier": B64.encode(pem_text) }));
    }
    if signatures.is_empty() {
        return Err("envelope has no signatures".into());
    }
    let envelope_hash = hex(&sha256(envelope_text.as_bytes()));
    let v = json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": { "algorithm": "sha256", "value": envelope_hash },
            "payloadHash": { "algorithm": "sha256", "value": hex(&sha256(&payload)) },
            "signatures": signatures,
        },
    });
    Ok((v, checks))
}

/// The digest an entry is indexed under (hashedrekord data, DSSE payload).
fn indexed_digest(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.pointer("/spec/data/hash/value")
        .or_else(|| v.pointer("/spec/payloadHash/value"))
        .and_then(|h| h.as_str())
        .map(str::to_string)
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect(),
    )
}

/// A different but well-formed body derived from `body` (for wrong answers).
fn decoy_body(body: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).unwrap_or(json!({}));
    let pointer = ["/spec/data/hash/value", "/spec/payloadHash/value"]
        .into_iter()
        .find(|p| v.pointer(p).is_some_and(Value::is_string));
    match pointer {
        Some(p) => {
            let slot = v.pointer_mut(p).expect("present");
            let old = slot.as_str().unwrap_or_default().to_string();
            *slot = json!(hex(&sha256(old.as_bytes())));
        }
        None => v["decoy"] = json!(true),
    }
    serde_json_canonicalizer::to_vec(&v).expect("canonical JSON")
}

fn flip_set(entry: &mut RekorEntry) {
    let mut set = B64.decode(&entry.set_b64).expect("SET base64");
    let i = set.len() / 2;
    set[i] ^= 0x01;
    entry.set_b64 = B64.encode(set);
}

/// Apply armed wrong answers to an entry about to be returned.
fn doctor_entry(st: &StackState, pki: &mut TestSigstore, entry: RekorEntry) -> RekorEntry {
    let mut wrong = lock(&st.wrong);
    let mut entry = entry;
    if wrong.rekor_other_body > 0 {
        wrong.rekor_other_body -= 1;
        entry = pki.log_entry(decoy_body(&entry.body()));
    }
    if wrong.rekor_corrupt_set > 0 {
        wrong.rekor_corrupt_set -= 1;
        flip_set(&mut entry);
    }
    entry
}

fn entry_location(uuid: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("/api/v1/log/entries/{uuid}")).expect("header")
}

async fn rekor_create(State(st): State<Arc<StackState>>, body: Bytes) -> Response {
    let Ok(proposed) = serde_json::from_slice::<Value>(&body) else {
        return rekor_error(400, "error parsing request body as JSON");
    };
    let p = match canonicalize_entry(&proposed) {
        Ok(p) => p,
        Err(e) => return rekor_error(400, &format!("error processing entry: {e}")),
    };
    if let Err(e) = p.verify() {
        return rekor_error(400, &format!("error processing entry: {e}"));
    }
    let mut pki = lock(&st.pki);
    if let Some(&i) = pki.find_by_body(&p.body).first() {
        let uuid = pki.entry(i).uuid;
        let mut r = rekor_error(
            409,
            &format!("An equivalent entry already exists in the transparency log with UUID {uuid}"),
        );
        r.headers_mut()
            .insert(header::LOCATION, entry_location(&uuid));
        return r;
    }
    let mut entry = {
        let mut wrong = lock(&st.wrong);
        if wrong.rekor_other_body > 0 {
            wrong.rekor_other_body -= 1;
            pki.log_entry(decoy_body(&p.body))
        } else {
            pki.log_entry(p.body)
        }
    };
    {
        let mut wrong = lock(&st.wrong);
        if wrong.rekor_corrupt_set > 0 {
            wrong.rekor_corrupt_set -= 1;
            flip_set(&mut entry);
        }
    }
    let mut r = json_response(StatusCode::CREATED, &entry.to_rekor_v1_json());
    r.headers_mut()
        .insert(header::LOCATION, entry_location(&entry.uuid));
    r.headers_mut().insert(
        header::ETAG,
        HeaderValue::from_str(&entry.uuid).expect("header"),
    );
    r
}

/// Entry by 64- or 80-hex UUID; `Err` is the 400 message for a malformed UUID.
fn lookup_uuid(pki: &TestSigstore, uuid: &str) -> Result<Option<RekorEntry>, String> {
    let hex_ok = uuid.bytes().all(|b| b.is_ascii_hexdigit());
    if !(hex_ok && (uuid.len() == 64 || uuid.len() == 80)) {
        return Err(format!("invalid UUID {uuid:?}"));
    }
    Ok(pki.entry_by_uuid(uuid))
}

async fn rekor_get_by_uuid(
    State(st): State<Arc<StackState>>,
    UrlPath(uuid): UrlPath<String>,
) -> Response {
    let mut pki = lock(&st.pki);
    match lookup_uuid(&pki, &uuid) {
        Err(e) => rekor_error(400, &e),
        Ok(None) => rekor_error(404, "ENTRY_NOT_FOUND"),
        Ok(Some(e)) => {
            let e = doctor_entry(&st, &mut pki, e);
            json_response(StatusCode::OK, &e.to_rekor_v1_json())
        }
    }
}

fn query_param(uri: &axum::http::Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

async fn rekor_get_by_index(State(st): State<Arc<StackState>>, request: Request) -> Response {
    let Some(index) = query_param(request.uri(), "logIndex") else {
        return rekor_error(400, "logIndex is required");
    };
    let Ok(index) = index.parse::<u64>() else {
        return rekor_error(400, "logIndex must be a non-negative integer");
    };
    let mut pki = lock(&st.pki);
    if index >= pki.tree_size() {
        return rekor_error(404, "ENTRY_NOT_FOUND");
    }
    let e = pki.entry(index);
    let e = doctor_entry(&st, &mut pki, e);
    json_response(StatusCode::OK, &e.to_rekor_v1_json())
}

async fn rekor_retrieve(State(st): State<Arc<StackState>>, body: Bytes) -> Response {
    let Ok(q) = serde_json::from_slice::<Value>(&body) else {
        return rekor_error(400, "error parsing request body as JSON");
    };
    let mut pki = lock(&st.pki);
    let mut found: Vec<RekorEntry> = Vec::new();
    for p in q["entries"].as_array().into_iter().flatten() {
        match canonicalize_entry(p) {
            Ok(p) => {
                for i in pki.find_by_body(&p.body) {
                    found.push(pki.entry(i));
                }
            }
            Err(e) => return rekor_error(400, &e),
        }
    }
    for u in q["entryUUIDs"].as_array().into_iter().flatten() {
        match lookup_uuid(&pki, u.as_str().unwrap_or_default()) {
            Err(e) => return rekor_error(400, &e),
            Ok(e) => found.extend(e),
        }
    }
    for i in q["logIndexes"].as_array().into_iter().flatten() {
        if let Some(i) = i.as_u64().filter(|&i| i < pki.tree_size()) {
            found.push(pki.entry(i));
        }
    }
    let out: Vec<Value> = found
        .into_iter()
        .map(|e| doctor_entry(&st, &mut pki, e).to_rekor_v1_json())
        .collect();
    json_response(StatusCode::OK, &Value::Array(out))
}

async fn rekor_index_retrieve(State(st): State<Arc<StackState>>, body: Bytes) -> Response {
    let Ok(q) = serde_json::from_slice::<Value>(&body) else {
        return rekor_error(400, "error parsing request body as JSON");
    };
    let Some(hash) = q["hash"].as_str() else {
        // publicKey / email searches are not supported by the local stack.
        return json_response(StatusCode::OK, &json!([]));
    };
    let want = hash
        .strip_prefix("sha256:")
        .unwrap_or(hash)
        .to_ascii_lowercase();
    let pki = lock(&st.pki);
    let uuids: Vec<String> = (0..pki.tree_size())
        .map(|i| pki.entry(i))
        .filter(|e| indexed_digest(&e.body()).is_some_and(|h| h == want))
        .map(|e| e.uuid)
        .collect();
    json_response(StatusCode::OK, &json!(uuids))
}

async fn rekor_log_info(State(st): State<Arc<StackState>>) -> Response {
    let pki = lock(&st.pki);
    json_response(
        StatusCode::OK,
        &json!({
            "rootHash": hex(&pki.root_hash()),
            "treeSize": pki.tree_size(),
            "signedTreeHead": pki.checkpoint(),
            "treeID": pki.tree_id().to_string(),
            "inactiveShards": [],
        }),
    )
}

async fn rekor_public_key(State(st): State<Arc<StackState>>) -> Response {
    let pem_text = lock(&st.pki).rekor_public_key_pem();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        Body::from(pem_text),
    )
        .into_response()
}
