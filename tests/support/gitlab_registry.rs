//! `LocalGitLab`: GitLab's project PyPI registry and generic package registry
//! served over real HTTP on 127.0.0.1, reproducing GitLab's answers as
//! specified in `specs/gitlab-and-pypi.md` §1-2 (status codes, JSON bodies,
//! auth rules per route, the HTML simple index, the 302 forward to pypi.org).
//!
//! The server runs on its own thread with its own tokio runtime, so tests stay
//! synchronous; it stops when the `LocalGitLab` is dropped. Uploads stream to
//! a temporary directory (hashed while streaming) and downloads stream from
//! it, so large files do not need RAM.
//!
//! * PyPI (`/api/v4/projects/:id/packages/pypi`): `POST` upload (multipart,
//!   the fields GitLab reads), `POST authorize`, `GET simple`,
//!   `GET simple/:package_name`, `GET files/:sha256/:file_name`.
//! * Generic (`/api/v4/projects/:id/packages/generic/:name/:version/[path/]:file`):
//!   `PUT` (optionally `?select=package_file`, `?status=hidden`) and `GET`
//!   with `X-Checksum-SHA256`.
//! * Fault injection ([`LocalGitLab::fail_next`], [`LocalGitLab::drop_next`],
//!   [`LocalGitLab::drop_after_handling_next`], latency), per-endpoint request
//!   counters and a request log that records the auth scheme (never a value).
#![allow(dead_code, clippy::result_large_err, clippy::too_many_arguments)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::server::{bind_local, run_server, ConnectionHandle, RunningServer};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use regex::Regex;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The Basic-auth user name GitLab requires with a CI job token.
pub const CI_JOB_USER: &str = "gitlab-ci-token";
/// The project every `LocalGitLab` starts with.
pub const DEFAULT_PROJECT_ID: u64 = 42;
pub const DEFAULT_PROJECT_PATH: &str = "group/project";
/// Default plan limits (§1.7).
pub const PYPI_DEFAULT_MAX_FILE_SIZE: u64 = 3 * 1024 * 1024 * 1024;
pub const GENERIC_DEFAULT_MAX_FILE_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Where unknown packages are forwarded (§1.8).
pub const PYPI_FORWARD_BASE: &str = "https://pypi.org/simple/";
/// `WWW-Authenticate` on every 401 of the package APIs (§1.3).
pub const AUTHENTICATE_REALM: &str = "Basic realm=\"GitLab Packages Registry\"";
pub const PEP691_JSON: &str = "application/vnd.pypi.simple.v1+json";
pub const PEP691_LATEST_JSON: &str = "application/vnd.pypi.simple.latest+json";

/// Endpoint labels used by the request counters (`"METHOD /path"`).
pub mod endpoint {
    pub const PYPI_UPLOAD: &str = "POST /api/v4/projects/{id}/packages/pypi";
    pub const PYPI_AUTHORIZE: &str = "POST /api/v4/projects/{id}/packages/pypi/authorize";
    pub const PYPI_SIMPLE_INDEX: &str = "GET /api/v4/projects/{id}/packages/pypi/simple";
    pub const PYPI_SIMPLE_PACKAGE: &str =
        "GET /api/v4/projects/{id}/packages/pypi/simple/{package_name}";
    pub const PYPI_DOWNLOAD: &str =
        "GET /api/v4/projects/{id}/packages/pypi/files/{sha256}/{file_name}";
    pub const GENERIC_UPLOAD: &str =
        "PUT /api/v4/projects/{id}/packages/generic/{package_name}/{package_version}/{file_name}";
    pub const GENERIC_DOWNLOAD: &str =
        "GET /api/v4/projects/{id}/packages/generic/{package_name}/{package_version}/{file_name}";
}

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// What kind of credential a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// `CI_JOB_TOKEN`: acts for the job's project only, while the job runs.
    Job,
    /// Personal / project / group access token.
    Personal,
    /// Deploy token (`Developer`+ = `write_package_registry`, else read).
    Deploy,
}

/// Project role of a token's principal. Guest can see the project but not
/// its packages (403 on reads), Reporter reads, Developer+ uploads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Guest,
    Reporter,
    Developer,
    Maintainer,
}

/// Which registry a stored file belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registry {
    Pypi,
    Generic,
}

/// How a request tried to authenticate. Only the scheme (and the Basic user
/// name, which is not secret) is recorded, never a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    Basic {
        username: String,
    },
    JobTokenHeader,
    PrivateTokenHeader,
    DeployTokenHeader,
    Bearer,
    JobTokenParam,
    PrivateTokenParam,
    /// Any other `Authorization` scheme, by name.
    Other(String),
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    /// Raw (still percent-encoded) path.
    pub path: String,
    /// Query string with token parameters redacted.
    pub query: Option<String>,
    /// Counter label, see [`endpoint`].
    pub endpoint: String,
    /// Every credential the request carried (empty: anonymous).
    pub auth: Vec<AuthScheme>,
    /// The token kind the server accepted, if any.
    pub authenticated_as: Option<TokenKind>,
    /// Status sent, `None` when the connection was dropped before an answer.
    pub status: Option<u16>,
    /// `"503 (injected)"`, `"dropped"`, `"dropped after handling"`.
    pub fault: Option<String>,
    /// The uploaded file's name (multipart file name or URL file name).
    pub file_name: Option<String>,
    pub accept: Option<String>,
    pub user_agent: Option<String>,
}

/// A package file as stored.
#[derive(Clone, Debug)]
pub struct StoredFile {
    pub id: u64,
    pub package_id: u64,
    pub registry: Registry,
    pub project: u64,
    /// Package name as sent (GitLab stores it verbatim).
    pub package_name: String,
    pub version: String,
    /// Stored file name (PyPI: the sanitized multipart file name; generic:
    /// the URL file name, `path%2Ffile` with a sub-path).
    pub file_name: String,
    pub size: u64,
    /// SHA-256 of the bytes received, computed by the server.
    pub sha256: String,
    /// PyPI: the `sha256_digest` field as sent (lower-cased), which is what
    /// GitLab stores and serves in the index; `None` if the field was absent.
    /// Generic: same as `sha256` (Workhorse hashes generic uploads).
    pub declared_sha256: Option<String>,
    pub md5_digest: Option<String>,
    /// PyPI `requires_python` field as sent (`None`: field absent).
    pub requires_python: Option<String>,
    /// Every text field of a PyPI upload, in order (repeated fields repeat).
    pub fields: Vec<(String, String)>,
    /// Generic `status` (`default` / `hidden`).
    pub status: String,
    pub uploaded_with: Option<TokenKind>,
    path: PathBuf,
}

impl StoredFile {
    /// Text field of the upload (last one wins, as in Rack).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The stored bytes.
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).expect("stored file")
    }
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum FaultAction {
    Fail(u16),
    Drop,
    DropAfter,
}

struct FaultRule {
    endpoint: Option<String>,
    action: FaultAction,
    remaining: usize,
}

#[derive(Default)]
struct Faults {
    rules: Vec<FaultRule>,
    latency: Duration,
}

#[derive(Default)]
struct ServiceState {
    counters: Mutex<BTreeMap<String, usize>>,
    log: Mutex<Vec<RequestRecord>>,
    faults: Mutex<Faults>,
    injected: Mutex<usize>,
}

struct Project {
    id: u64,
    path: String,
    public: bool,
}

struct Token {
    value: String,
    kind: TokenKind,
    project: u64,
    role: Role,
    active: bool,
    username: String,
}

struct Package {
    id: u64,
    project: u64,
    registry: Registry,
    name: String,
    version: String,
    /// `pypi_metadatum.required_python`: overwritten by every upload.
    requires_python: String,
    status: String,
}

struct Settings {
    pypi_max_file_size: u64,
    generic_max_file_size: u64,
    workhorse_size_check: bool,
    pypi_forwarding: bool,
    pep691_json: bool,
    fips: bool,
    generic_duplicates_allowed: bool,
    generic_duplicate_exception_regex: Option<Regex>,
    protected_names: Vec<String>,
}

struct Data {
    projects: Vec<Project>,
    tokens: Vec<Token>,
    packages: Vec<Package>,
    files: Vec<StoredFile>,
    next_id: u64,
    settings: Settings,
}

impl Data {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

struct GitLabState {
    base_url: String,
    dir: tempfile::TempDir,
    data: Mutex<Data>,
    svc: ServiceState,
    tmp_seq: Mutex<u64>,
}

impl GitLabState {
    fn temp_path(&self) -> PathBuf {
        let mut seq = lock(&self.tmp_seq);
        *seq += 1;
        self.dir.path().join(format!("upload-{}", *seq))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// LocalGitLab
// ---------------------------------------------------------------------------

/// GitLab's PyPI and generic package registries on 127.0.0.1.
pub struct LocalGitLab {
    state: Arc<GitLabState>,
    _server: RunningServer,
}

impl LocalGitLab {
    /// Start on a random port with project [`DEFAULT_PROJECT_ID`]
    /// (`group/project`, private) and one job, personal and deploy token for
    /// it, all Developer (may upload).
    pub fn start() -> Self {
        let (listener, base_url) = bind_local();
        let dir = tempfile::Builder::new()
            .prefix("local-gitlab-")
            .tempdir()
            .expect("temp dir");
        let mut data = Data {
            projects: vec![Project {
                id: DEFAULT_PROJECT_ID,
                path: DEFAULT_PROJECT_PATH.to_string(),
                public: false,
            }],
            tokens: Vec::new(),
            packages: Vec::new(),
            files: Vec::new(),
            next_id: 1000,
            settings: Settings {
                pypi_max_file_size: PYPI_DEFAULT_MAX_FILE_SIZE,
                generic_max_file_size: GENERIC_DEFAULT_MAX_FILE_SIZE,
                workhorse_size_check: false,
                pypi_forwarding: true,
                pep691_json: false,
                fips: false,
                generic_duplicates_allowed: true,
                generic_duplicate_exception_regex: None,
                protected_names: Vec::new(),
            },
        };
        for kind in [TokenKind::Job, TokenKind::Personal, TokenKind::Deploy] {
            new_token(&mut data, kind, DEFAULT_PROJECT_ID, Role::Developer);
        }
        let state = Arc::new(GitLabState {
            base_url,
            dir,
            data: Mutex::new(data),
            svc: ServiceState::default(),
            tmp_seq: Mutex::new(0),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(state.clone())
            .layer(middleware::from_fn_with_state(state.clone(), fault_layer));
        let server = run_server("gitlab", listener, app);
        LocalGitLab {
            state,
            _server: server,
        }
    }

    // ----- URLs -----

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.state.base_url
    }
    /// `CI_API_V4_URL`: `http://127.0.0.1:PORT/api/v4`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v4", self.state.base_url)
    }
    /// `…/api/v4/projects/<id>/packages/pypi` (the twine repository URL).
    pub fn pypi_url(&self, project: u64) -> String {
        format!("{}/projects/{project}/packages/pypi", self.api_url())
    }
    /// `…/packages/pypi/simple` (the pip/uv index URL).
    pub fn simple_url(&self, project: u64) -> String {
        format!("{}/simple", self.pypi_url(project))
    }
    /// The simple URL with Basic credentials in it, for pip's `--index-url`.
    pub fn simple_url_with_credentials(&self, project: u64, user: &str, token: &str) -> String {
        let url = self.simple_url(project);
        let rest = url.strip_prefix("http://").expect("http url");
        format!("http://{user}:{token}@{rest}")
    }
    /// `…/api/v4/projects/<id>/packages/generic`.
    pub fn generic_url(&self, project: u64) -> String {
        format!("{}/projects/{project}/packages/generic", self.api_url())
    }

    // ----- projects and tokens -----

    pub fn project_id(&self) -> u64 {
        DEFAULT_PROJECT_ID
    }
    pub fn project_path(&self) -> &'static str {
        DEFAULT_PROJECT_PATH
    }
    /// Add a private project (`path` like `other/project`); returns its id.
    pub fn add_project(&self, path: &str) -> u64 {
        let mut d = lock(&self.state.data);
        let id = d.projects.iter().map(|p| p.id).max().unwrap_or(0) + 1;
        d.projects.push(Project {
            id,
            path: path.to_string(),
            public: false,
        });
        id
    }
    /// Public project with a public package registry: anonymous reads work.
    pub fn set_project_public(&self, project: u64, public: bool) {
        let mut d = lock(&self.state.data);
        if let Some(p) = d.projects.iter_mut().find(|p| p.id == project) {
            p.public = public;
        }
    }
    /// The default project's `CI_JOB_TOKEN` (use as `gitlab-ci-token:<token>`).
    pub fn job_token(&self) -> String {
        self.first_token(TokenKind::Job)
    }
    /// The default project's Developer personal access token (scope `api`).
    pub fn personal_token(&self) -> String {
        self.first_token(TokenKind::Personal)
    }
    /// The default project's deploy token (`write_package_registry`).
    pub fn deploy_token(&self) -> String {
        self.first_token(TokenKind::Deploy)
    }
    /// User name of the default deploy token (GitLab ignores it on lookup).
    pub fn deploy_token_username(&self) -> String {
        let d = lock(&self.state.data);
        let t = d.tokens.iter().find(|t| t.kind == TokenKind::Deploy);
        t.expect("deploy token").username.clone()
    }
    /// A new token of `kind` for `project` with `role`.
    pub fn add_token(&self, kind: TokenKind, project: u64, role: Role) -> String {
        new_token(&mut lock(&self.state.data), kind, project, role)
    }
    /// Revoke a token (a job token: the job finished). It then gives 401.
    pub fn revoke_token(&self, token: &str) {
        let mut d = lock(&self.state.data);
        for t in d.tokens.iter_mut().filter(|t| t.value == token) {
            t.active = false;
        }
    }
    fn first_token(&self, kind: TokenKind) -> String {
        let d = lock(&self.state.data);
        let t = d.tokens.iter().find(|t| t.kind == kind && t.active);
        t.expect("token").value.clone()
    }

    // ----- settings -----

    /// Plan limit `pypi_max_file_size` (bytes).
    pub fn set_pypi_max_file_size(&self, bytes: u64) {
        lock(&self.state.data).settings.pypi_max_file_size = bytes;
    }
    /// Plan limit `generic_packages_max_file_size` (bytes).
    pub fn set_generic_max_file_size(&self, bytes: u64) {
        lock(&self.state.data).settings.generic_max_file_size = bytes;
    }
    /// Over-limit uploads: `false` (default) answers 400 `File is too large`
    /// as the spec gives; `true` answers like Workhorse enforcing the
    /// authorize `maximum_size` while streaming: 413 `Request Entity Too Large`.
    pub fn set_workhorse_size_check(&self, on: bool) {
        lock(&self.state.data).settings.workhorse_size_check = on;
    }
    /// `pypi_package_requests_forwarding` (default on: unknown packages 302
    /// to pypi.org; off: 404 `Package Not Found`).
    pub fn set_pypi_forwarding(&self, on: bool) {
        lock(&self.state.data).settings.pypi_forwarding = on;
    }
    /// Feature flag `pypi_pep_691_json` (default off: always HTML).
    pub fn set_pep691_json(&self, on: bool) {
        lock(&self.state.data).settings.pep691_json = on;
    }
    /// FIPS mode: a PyPI upload without `sha256_digest` gets 422.
    pub fn set_fips(&self, on: bool) {
        lock(&self.state.data).settings.fips = on;
    }
    /// Group setting `generic_duplicates_allowed` (default true: append).
    pub fn set_generic_duplicates_allowed(&self, allowed: bool) {
        lock(&self.state.data).settings.generic_duplicates_allowed = allowed;
    }
    /// `generic_duplicate_exception_regex`, matched against name or version.
    pub fn set_generic_duplicate_exception_regex(&self, regex: Option<&str>) {
        lock(&self.state.data)
            .settings
            .generic_duplicate_exception_regex =
            regex.map(|r| Regex::new(r).expect("exception regex"));
    }
    /// Package protection rule (`*` wildcards): pushes below Maintainer get
    /// 403 `Package protected.`.
    pub fn protect_package(&self, name_pattern: &str) {
        lock(&self.state.data)
            .settings
            .protected_names
            .push(name_pattern.to_string());
    }

    // ----- storage inspection and seeding -----

    /// Every stored file of `project`, oldest first.
    pub fn stored_files(&self, project: u64) -> Vec<StoredFile> {
        let d = lock(&self.state.data);
        d.files
            .iter()
            .filter(|f| f.project == project)
            .cloned()
            .collect()
    }
    /// Stored files of one registry in `project`.
    pub fn stored_files_in(&self, project: u64, registry: Registry) -> Vec<StoredFile> {
        let mut files = self.stored_files(project);
        files.retain(|f| f.registry == registry);
        files
    }
    /// The most recent stored file named `file_name` (any project, registry).
    pub fn stored_file(&self, file_name: &str) -> Option<StoredFile> {
        let d = lock(&self.state.data);
        d.files
            .iter()
            .rev()
            .find(|f| f.file_name == file_name)
            .cloned()
    }
    /// How many times a file named `file_name` was stored (successful uploads).
    pub fn upload_count(&self, file_name: &str) -> usize {
        let d = lock(&self.state.data);
        d.files.iter().filter(|f| f.file_name == file_name).count()
    }
    /// Upload requests (any outcome, faults included) naming `file_name`.
    pub fn upload_attempts(&self, file_name: &str) -> usize {
        lock(&self.state.svc.log)
            .iter()
            .filter(|r| r.file_name.as_deref() == Some(file_name))
            .filter(|r| r.method == "POST" || r.method == "PUT")
            .count()
    }
    /// Server-computed SHA-256 of the most recent stored `file_name`.
    pub fn sha256_of(&self, file_name: &str) -> Option<String> {
        self.stored_file(file_name).map(|f| f.sha256)
    }
    /// Put a PyPI file straight into storage (as if uploaded earlier).
    /// `declared_sha256: None` stores the true digest.
    pub fn seed_pypi_file(
        &self,
        project: u64,
        name: &str,
        version: &str,
        file_name: &str,
        bytes: &[u8],
        requires_python: &str,
        declared_sha256: Option<&str>,
    ) {
        let path = self.state.temp_path();
        std::fs::write(&path, bytes).expect("write seed");
        let sha = hex::encode(Sha256::digest(bytes));
        let mut d = lock(&self.state.data);
        let pkg = find_or_create_package(&mut d, project, Registry::Pypi, name, version, "default");
        package_mut(&mut d, pkg).requires_python = requires_python.to_string();
        let id = d.next_id();
        d.files.push(StoredFile {
            id,
            package_id: pkg,
            registry: Registry::Pypi,
            project,
            package_name: name.to_string(),
            version: version.to_string(),
            file_name: file_name.to_string(),
            size: bytes.len() as u64,
            sha256: sha.clone(),
            declared_sha256: Some(declared_sha256.map(str::to_lowercase).unwrap_or(sha)),
            md5_digest: None,
            requires_python: Some(requires_python.to_string()),
            fields: Vec::new(),
            status: "default".to_string(),
            uploaded_with: None,
            path,
        });
    }
    /// Put a generic file straight into storage.
    pub fn seed_generic_file(
        &self,
        project: u64,
        name: &str,
        version: &str,
        file_name: &str,
        bytes: &[u8],
    ) {
        let path = self.state.temp_path();
        std::fs::write(&path, bytes).expect("write seed");
        let sha = hex::encode(Sha256::digest(bytes));
        let mut d = lock(&self.state.data);
        let pkg =
            find_or_create_package(&mut d, project, Registry::Generic, name, version, "default");
        let id = d.next_id();
        d.files.push(StoredFile {
            id,
            package_id: pkg,
            registry: Registry::Generic,
            project,
            package_name: name.to_string(),
            version: version.to_string(),
            file_name: file_name.to_string(),
            size: bytes.len() as u64,
            sha256: sha.clone(),
            declared_sha256: Some(sha),
            md5_digest: None,
            requires_python: None,
            fields: Vec::new(),
            status: "default".to_string(),
            uploaded_with: None,
            path,
        });
    }

    // ----- faults -----

    /// Answer the next `n` requests with `status` and a GitLab-style JSON
    /// `{"message":"<status> <reason>"}` body (the request body is read first).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.push_rule(None, FaultAction::Fail(status), n);
    }
    /// [`Self::fail_next`] for one endpoint (see [`endpoint`]) only.
    pub fn fail_next_on(&self, endpoint: &str, n: usize, status: u16) {
        self.push_rule(Some(endpoint), FaultAction::Fail(status), n);
    }
    /// Close the connection without any response (and without handling) for
    /// the next `n` requests.
    pub fn drop_next(&self, n: usize) {
        self.push_rule(None, FaultAction::Drop, n);
    }
    /// [`Self::drop_next`] for one endpoint only.
    pub fn drop_next_on(&self, endpoint: &str, n: usize) {
        self.push_rule(Some(endpoint), FaultAction::Drop, n);
    }
    /// Handle the next `n` requests fully (an upload IS stored) and then
    /// drop the connection instead of answering: a lost response.
    pub fn drop_after_handling_next(&self, n: usize) {
        self.push_rule(None, FaultAction::DropAfter, n);
    }
    /// [`Self::drop_after_handling_next`] for one endpoint only.
    pub fn drop_after_handling_next_on(&self, endpoint: &str, n: usize) {
        self.push_rule(Some(endpoint), FaultAction::DropAfter, n);
    }
    /// Delay every request by `latency` (zero to switch off).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state.svc.faults).latency = latency;
    }
    /// Switch off all status, drop and latency faults.
    pub fn clear_faults(&self) {
        *lock(&self.state.svc.faults) = Faults::default();
    }
    fn push_rule(&self, endpoint: Option<&str>, action: FaultAction, n: usize) {
        if let FaultAction::Fail(status) = action {
            StatusCode::from_u16(status).expect("valid HTTP status");
        }
        if n > 0 {
            lock(&self.state.svc.faults).rules.push(FaultRule {
                endpoint: endpoint.map(str::to_string),
                action,
                remaining: n,
            });
        }
    }

    // ----- counters and log -----

    /// Requests seen by `endpoint` (see [`endpoint`]), faulted ones included.
    pub fn requests(&self, endpoint: &str) -> usize {
        lock(&self.state.svc.counters)
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }
    pub fn total_requests(&self) -> usize {
        lock(&self.state.svc.counters).values().sum()
    }
    pub fn counters(&self) -> BTreeMap<String, usize> {
        lock(&self.state.svc.counters).clone()
    }
    /// One line per finished request: `"POST /api/v4/projects/{id}/packages/pypi -> 201"`,
    /// `"... -> dropped"`, `"... -> 503 (injected)"`.
    pub fn request_log(&self) -> Vec<String> {
        lock(&self.state.svc.log)
            .iter()
            .map(|r| match (&r.fault, r.status) {
                (Some(f), _) => format!("{} -> {f}", r.endpoint),
                (None, Some(s)) => format!("{} -> {s}", r.endpoint),
                (None, None) => format!("{} -> ?", r.endpoint),
            })
            .collect()
    }
    /// Full records of finished requests, in order.
    pub fn request_records(&self) -> Vec<RequestRecord> {
        lock(&self.state.svc.log).clone()
    }
    /// Auth schemes of each request to `endpoint`, in order.
    pub fn auth_used(&self, endpoint: &str) -> Vec<Vec<AuthScheme>> {
        lock(&self.state.svc.log)
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .map(|r| r.auth.clone())
            .collect()
    }
    /// Requests answered by an injected fault.
    pub fn injected_faults(&self) -> usize {
        *lock(&self.state.svc.injected)
    }
    /// Zero the counters, the request log and the injected-fault count.
    pub fn reset_counters(&self) {
        lock(&self.state.svc.counters).clear();
        lock(&self.state.svc.log).clear();
        *lock(&self.state.svc.injected) = 0;
    }
}

fn new_token(d: &mut Data, kind: TokenKind, project: u64, role: Role) -> String {
    let n = d.next_id();
    let random: [u8; 16] = Sha256::digest(format!("{n}-{:?}", SystemTime::now())).as_slice()[..16]
        .try_into()
        .expect("16 bytes");
    let value = match kind {
        TokenKind::Job => format!("glcbt-64_{}", hex::encode(random)),
        TokenKind::Personal => format!("glpat-{}", &hex::encode(random)[..20]),
        TokenKind::Deploy => format!("gldt-{}", &hex::encode(random)[..20]),
    };
    d.tokens.push(Token {
        value: value.clone(),
        kind,
        project,
        role,
        active: true,
        username: format!("gitlab+deploy-token-{n}"),
    });
    value
}

fn find_or_create_package(
    d: &mut Data,
    project: u64,
    registry: Registry,
    name: &str,
    version: &str,
    status: &str,
) -> u64 {
    if let Some(p) = d.packages.iter().find(|p| {
        p.project == project && p.registry == registry && p.name == name && p.version == version
    }) {
        return p.id;
    }
    let id = d.next_id();
    d.packages.push(Package {
        id,
        project,
        registry,
        name: name.to_string(),
        version: version.to_string(),
        requires_python: String::new(),
        status: status.to_string(),
    });
    id
}

fn package_mut(d: &mut Data, id: u64) -> &mut Package {
    d.packages.iter_mut().find(|p| p.id == id).expect("package")
}

// ---------------------------------------------------------------------------
// GitLab's rules (§1.5, §2.2)
// ---------------------------------------------------------------------------

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("regex"))
}

/// `Gitlab::Regex.package_name_regex` (Ruby `\w` is ASCII; atomic groups
/// become plain groups, which accepts the same names here).
pub fn package_name_valid(name: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"\A@?(?:(?:[A-Za-z0-9_\-.+]*)/)*(?:[A-Za-z0-9_\-.]+)@?(?:(?:[A-Za-z0-9_\-.+]*)/)*(?:[A-Za-z0-9_\-.]*)\z",
    )
    .is_match(name)
}

/// `Gitlab::Regex.pypi_version_regex`.
pub fn pypi_version_valid(version: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?xi)\A(?:
            v?
            (?:([0-9]+)!)?
            ([0-9]+(?:\.[0-9]+)*)
            ([-_\.]?((a|b|c|rc|alpha|beta|pre|preview))[-_\.]?([0-9]+)?)?
            ((?:-([0-9]+))|(?:[-_\.]?(post|rev|r)[-_\.]?([0-9]+)?))?
            ([-_\.]?(dev)[-_\.]?([0-9]+)?)?
            (?:\+([a-z0-9]+(?:[-_\.][a-z0-9]+)*))?
        )\z",
    )
    .is_match(version)
}

/// `Gitlab::Regex.sha256_regex`.
pub fn sha256_valid(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `generic_package_name_regex` = `generic_package_file_name_regex`.
pub fn generic_name_valid(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
}

/// `generic_package_version_regex`: `\A(?!.*\.\.)[\w+.-]+\z`.
pub fn generic_version_valid(s: &str) -> bool {
    generic_name_valid(s) && !s.contains("..")
}

/// PEP 503 name as GitLab computes it for links: `[-_.]+` to `-`, lowercase.
pub fn normalized_pypi_name(name: &str) -> String {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"[-_.]+").replace_all(name, "-").to_lowercase()
}

/// GitLab's `UploadedFile.sanitize_filename` (CarrierWave rules).
fn sanitize_filename(name: &str) -> String {
    static R: OnceLock<Regex> = OnceLock::new();
    let name = name.replace('\\', "/");
    let base = name.rsplit('/').next().unwrap_or("");
    let mut out = re(&R, r"[^\w.\-+]").replace_all(base, "_").into_owned();
    if !out.is_empty() && out.bytes().all(|b| b == b'.') {
        out = format!("_{out}");
    }
    if out.is_empty() {
        out = "unnamed".to_string();
    }
    out
}

/// `ERB::Util.html_escape`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn glob_match(pattern: &str, name: &str) -> bool {
    let re_src = format!(
        "^{}$",
        pattern
            .split('*')
            .map(regex::escape)
            .collect::<Vec<_>>()
            .join(".*")
    );
    Regex::new(&re_src)
        .map(|r| r.is_match(name))
        .unwrap_or(false)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Rails path-segment escaping (what the index links use).
fn escape_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// JavaScript `encodeURIComponent` (Ruby `URI.encode_uri_component`).
fn encode_uri_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn iso_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

// ---------------------------------------------------------------------------
// Responses (GitLab's `render_api_error!` shapes)
// ---------------------------------------------------------------------------

fn json_response(status: u16, value: &Value) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// `{"message": "..."}`.
fn message(status: u16, msg: &str) -> Response {
    json_response(status, &json!({ "message": msg }))
}

/// Grape validation errors: `{"error": "name is missing, ..."}`.
fn grape_error(msgs: &[String]) -> Response {
    json_response(400, &json!({ "error": msgs.join(", ") }))
}

fn bad_request(reason: &str) -> Response {
    message(400, &format!("400 Bad request - {reason}"))
}

fn unauthorized() -> Response {
    let mut r = message(401, "401 Unauthorized");
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(AUTHENTICATE_REALM),
    );
    r
}

fn forbidden(reason: Option<&str>) -> Response {
    match reason {
        Some(r) => message(403, &format!("403 Forbidden - {r}")),
        None => message(403, "403 Forbidden"),
    }
}

fn not_found(what: Option<&str>) -> Response {
    match what {
        Some(w) => message(404, &format!("404 {w} Not Found")),
        None => message(404, "404 Not Found"),
    }
}

fn created() -> Response {
    message(201, "201 Created")
}

fn too_large(workhorse: bool) -> Response {
    if workhorse {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Request Entity Too Large\n",
        )
            .into_response()
    } else {
        bad_request("File is too large")
    }
}

fn reason_phrase(status: u16) -> String {
    let s = StatusCode::from_u16(status).expect("status");
    format!("{} {}", status, s.canonical_reason().unwrap_or("Error"))
}

// ---------------------------------------------------------------------------
// Auth (§1.3, §2.3)
// ---------------------------------------------------------------------------

/// Credentials as the request carries them.
struct Credentials {
    basic: Option<(String, String)>,
    job_header: Option<String>,
    private_header: Option<String>,
    deploy_header: Option<String>,
    job_param: Option<String>,
    private_param: Option<String>,
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (percent_decode(k) == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

fn credentials(h: &HeaderMap, query: Option<&str>) -> Credentials {
    let basic = header_str(h, "authorization").and_then(|a| {
        let (scheme, rest) = a.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = B64.decode(rest.trim()).ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (u, p) = text.split_once(':').unwrap_or((&text, ""));
        Some((u.to_string(), p.to_string()))
    });
    Credentials {
        basic,
        job_header: header_str(h, "job-token"),
        private_header: header_str(h, "private-token"),
        deploy_header: header_str(h, "deploy-token"),
        job_param: query_param(query, "job_token").filter(|s| !s.is_empty()),
        private_param: query_param(query, "private_token").filter(|s| !s.is_empty()),
    }
}

fn auth_schemes(h: &HeaderMap, query: Option<&str>) -> Vec<AuthScheme> {
    let mut out = Vec::new();
    if let Some(a) = header_str(h, "authorization") {
        let scheme = a.split(' ').next().unwrap_or("").to_string();
        if scheme.eq_ignore_ascii_case("basic") {
            let c = credentials(h, query);
            let username = c.basic.map(|(u, _)| u).unwrap_or_default();
            out.push(AuthScheme::Basic { username });
        } else if scheme.eq_ignore_ascii_case("bearer") {
            out.push(AuthScheme::Bearer);
        } else {
            out.push(AuthScheme::Other(scheme));
        }
    }
    if header_str(h, "job-token").is_some() {
        out.push(AuthScheme::JobTokenHeader);
    }
    if header_str(h, "private-token").is_some() {
        out.push(AuthScheme::PrivateTokenHeader);
    }
    if header_str(h, "deploy-token").is_some() {
        out.push(AuthScheme::DeployTokenHeader);
    }
    if query_param(query, "job_token").is_some() {
        out.push(AuthScheme::JobTokenParam);
    }
    if query_param(query, "private_token").is_some() {
        out.push(AuthScheme::PrivateTokenParam);
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Api {
    /// `job_token_allowed: :basic_auth` (PyPI): the JOB-TOKEN header and
    /// `job_token` param are ignored.
    Pypi,
    /// `job_token_allowed: true` / `%i[request basic_auth]` (generic).
    Generic,
}

#[derive(Clone, Copy)]
struct Principal {
    kind: TokenKind,
    project: u64,
    role: Role,
}

/// GitLab's finders: deploy token first, then the job token (Basic with
/// `gitlab-ci-token`, or header/param where allowed), then an access token.
/// `Err(())` = a credential was presented and is invalid (401).
fn authenticate(d: &Data, c: &Credentials, api: Api) -> Result<Option<Principal>, ()> {
    let find = |value: &str, kind: TokenKind| {
        d.tokens
            .iter()
            .find(|t| t.kind == kind && t.active && t.value == value)
            .map(|t| Principal {
                kind,
                project: t.project,
                role: t.role,
            })
    };
    let deploy_value = match &c.basic {
        Some((_, p)) => Some(p.clone()),
        None => c.deploy_header.clone(),
    };
    if let Some(v) = deploy_value {
        if let Some(p) = find(&v, TokenKind::Deploy) {
            return Ok(Some(p));
        }
    }
    if let Some((user, pass)) = &c.basic {
        if user == CI_JOB_USER && !pass.is_empty() {
            return find(pass, TokenKind::Job).map(Some).ok_or(());
        }
    }
    if api == Api::Generic {
        if let Some(v) = c.job_param.as_ref().or(c.job_header.as_ref()) {
            return find(v, TokenKind::Job).map(Some).ok_or(());
        }
    }
    if let Some(v) = c.private_param.as_ref().or(c.private_header.as_ref()) {
        // A job token in PRIVATE-TOKEN is ignored, any other unknown value is 401.
        if !v.starts_with("glcbt-") {
            return find(v, TokenKind::Personal).map(Some).ok_or(());
        }
    }
    if let Some((_, pass)) = &c.basic {
        if let Some(p) = find(pass, TokenKind::Personal) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

#[derive(Clone, Copy, PartialEq)]
enum Access {
    None,
    ReadProject,
    ReadPackage,
    Write,
    JobScopeDenied,
}

fn access(who: Option<Principal>, project: &Project) -> Access {
    let public = if project.public {
        Access::ReadPackage
    } else {
        Access::None
    };
    let Some(p) = who else { return public };
    if p.project != project.id {
        return if p.kind == TokenKind::Job {
            Access::JobScopeDenied
        } else {
            public
        };
    }
    let own = match p.role {
        Role::Guest => Access::ReadProject,
        Role::Reporter => Access::ReadPackage,
        Role::Developer | Role::Maintainer => Access::Write,
    };
    if public == Access::ReadPackage && own == Access::ReadProject {
        return Access::ReadPackage;
    }
    own
}

/// `authorized_project_find!(action: :read_package)`.
fn check_read(who: Option<Principal>, a: Access) -> Result<(), Response> {
    match a {
        Access::ReadPackage | Access::Write => Ok(()),
        Access::ReadProject | Access::JobScopeDenied => Err(forbidden(None)),
        Access::None if who.is_none() => Err(unauthorized()),
        Access::None => Err(not_found(None)),
    }
}

/// `project!(action: :read_project)` then `authorize_upload!`.
fn check_upload(who: Option<Principal>, a: Access) -> Result<(), Response> {
    match a {
        Access::Write => Ok(()),
        Access::JobScopeDenied => Err(forbidden(None)),
        _ if who.is_none() => Err(unauthorized()),
        Access::None => Err(not_found(None)),
        Access::ReadProject | Access::ReadPackage => Err(forbidden(None)),
    }
}

fn protected(d: &Data, who: Option<Principal>, name: &str) -> bool {
    let maintainer = who.map(|p| p.role >= Role::Maintainer).unwrap_or(false);
    !maintainer
        && d.settings
            .protected_names
            .iter()
            .any(|pat| glob_match(pat, name))
}

// ---------------------------------------------------------------------------
// Request body streaming and multipart
// ---------------------------------------------------------------------------

struct BodyReader {
    body: Body,
    done: bool,
}

impl BodyReader {
    fn new(body: Body) -> Self {
        BodyReader { body, done: false }
    }

    async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            if self.done {
                return Ok(None);
            }
            let frame = std::future::poll_fn(|cx| Pin::new(&mut self.body).poll_frame(cx)).await;
            match frame {
                None => {
                    self.done = true;
                    return Ok(None);
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(e.to_string());
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Ok(Some(data));
                        }
                    }
                }
            }
        }
    }

    async fn drain(&mut self) {
        while let Ok(Some(_)) = self.chunk().await {}
    }
}

/// Where an uploaded file goes: a temp file, hashed while written; past
/// `limit` bytes only counted (Workhorse would stop storing too).
struct FileSink {
    path: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    size: u64,
    limit: u64,
    error: Option<String>,
    kept: bool,
}

impl Drop for FileSink {
    fn drop(&mut self) {
        // A rejected upload leaves nothing behind.
        if !self.kept {
            self.file = None;
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl FileSink {
    fn new(path: PathBuf, limit: u64) -> Self {
        let file = File::create(&path).ok();
        FileSink {
            path,
            file,
            hasher: Sha256::new(),
            size: 0,
            limit,
            error: None,
            kept: false,
        }
    }
    fn write(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        if self.size > self.limit {
            self.file = None;
            return;
        }
        self.hasher.update(data);
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(data) {
                self.error = Some(e.to_string());
            }
        }
    }
    fn over_limit(&self) -> bool {
        self.size > self.limit
    }
    fn finish(mut self) -> (PathBuf, u64, String) {
        if let Some(mut f) = self.file.take() {
            let _ = f.flush();
        }
        self.kept = true;
        let hasher = std::mem::take(&mut self.hasher);
        (self.path.clone(), self.size, hex::encode(hasher.finalize()))
    }
}

struct PartHeaders {
    name: String,
    filename: Option<String>,
}

struct Multipart {
    reader: BodyReader,
    delim: Vec<u8>,
    buf: Vec<u8>,
    started: bool,
    finished: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Multipart {
    fn new(reader: BodyReader, boundary: &str) -> Self {
        Multipart {
            reader,
            delim: format!("\r\n--{boundary}").into_bytes(),
            // So that a boundary at the very start matches the same delimiter.
            buf: b"\r\n".to_vec(),
            started: false,
            finished: false,
        }
    }

    async fn fill(&mut self) -> Result<bool, String> {
        match self.reader.chunk().await? {
            Some(c) => {
                self.buf.extend_from_slice(&c);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn need(&mut self, n: usize) -> Result<(), String> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err("unexpected end of multipart body".into());
            }
        }
        Ok(())
    }

    /// Skip to the next part; `None` after the closing delimiter.
    async fn next_part(&mut self) -> Result<Option<PartHeaders>, String> {
        if self.finished {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            let delim = self.delim.clone();
            self.read_body(|_| {}).await.map_err(|_| {
                format!(
                    "no multipart boundary {:?} found",
                    String::from_utf8_lossy(&delim)
                )
            })?;
        }
        self.need(2).await?;
        if &self.buf[..2] == b"--" {
            self.finished = true;
            self.reader.drain().await;
            return Ok(None);
        }
        // Transport padding, then CRLF.
        loop {
            self.need(2).await?;
            if &self.buf[..2] == b"\r\n" {
                self.buf.drain(..2);
                break;
            }
            self.buf.remove(0);
        }
        let end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p;
            }
            if self.buf.len() > 64 * 1024 {
                return Err("multipart part headers too long".into());
            }
            if !self.fill().await? {
                return Err("unexpected end of multipart headers".into());
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut name = String::new();
        let mut filename = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                let params = disposition_params(v);
                for (pk, pv) in params {
                    match pk.as_str() {
                        "name" => name = pv,
                        "filename" if filename.is_none() => filename = Some(pv),
                        "filename*" => {
                            let enc = pv.split("''").nth(1).unwrap_or(&pv).to_string();
                            filename = Some(percent_decode(&enc));
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(Some(PartHeaders { name, filename }))
    }

    /// Stream the current part's body to `sink`, consuming the delimiter.
    async fn read_body(&mut self, mut sink: impl FnMut(&[u8])) -> Result<(), String> {
        loop {
            if let Some(p) = find(&self.buf, &self.delim) {
                sink(&self.buf[..p]);
                self.buf.drain(..p + self.delim.len());
                return Ok(());
            }
            let keep = self.delim.len() - 1;
            if self.buf.len() > keep {
                let n = self.buf.len() - keep;
                sink(&self.buf[..n]);
                self.buf.drain(..n);
            }
            if !self.fill().await? {
                return Err("unexpected end of multipart body".into());
            }
        }
    }
}

/// `form-data; name="content"; filename="x.whl"` into lower-cased keys and
/// unquoted values.
fn disposition_params(v: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let chars: Vec<char> = v.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // key
        while i < chars.len() && (chars[i] == ';' || chars[i].is_whitespace()) {
            i += 1;
        }
        let start = i;
        while i < chars.len() && chars[i] != '=' && chars[i] != ';' {
            i += 1;
        }
        let key: String = chars[start..i]
            .iter()
            .collect::<String>()
            .trim()
            .to_lowercase();
        let mut value = String::new();
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            if i < chars.len() && chars[i] == '"' {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    value.push(chars[i]);
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && chars[i] != ';' {
                    value.push(chars[i]);
                    i += 1;
                }
                value = value.trim().to_string();
            }
        }
        if !key.is_empty() {
            out.push((key, value));
        }
    }
    out
}

fn multipart_boundary(h: &HeaderMap) -> Option<String> {
    let ct = header_str(h, "content-type")?;
    let (mime, rest) = ct.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    disposition_params(rest)
        .into_iter()
        .find(|(k, _)| k == "boundary")
        .map(|(_, v)| v)
        .filter(|b| !b.is_empty())
}

// ---------------------------------------------------------------------------
// Download bodies streamed from disk
// ---------------------------------------------------------------------------

struct FileBody {
    file: File,
    remaining: u64,
}

impl HttpBody for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(256 * 1024) as usize;
        let mut buf = vec![0u8; n];
        match self.file.read(&mut buf) {
            Ok(0) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "stored file shrank",
            )))),
            Ok(got) => {
                buf.truncate(got);
                self.remaining -= got as u64;
                Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(buf)))))
            }
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

fn file_download(f: &StoredFile, extra: &[(&'static str, String)]) -> Response {
    let file = match File::open(&f.path) {
        Ok(file) => file,
        Err(_) => return message(500, "500 Internal Server Error"),
    };
    let mut r = Response::new(Body::new(FileBody {
        file,
        remaining: f.size,
    }));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        f.file_name.replace('"', "%22"),
        encode_uri_component(&f.file_name)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(f.size));
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(*k, v);
        }
    }
    r
}

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

/// What the handler learned, for the request log.
#[derive(Default)]
struct RecordExtra {
    authenticated_as: Option<TokenKind>,
    file_name: Option<String>,
}

#[derive(Clone)]
struct ExtraSlot(Arc<Mutex<RecordExtra>>);

enum Route {
    PypiUpload,
    PypiAuthorize,
    PypiIndex,
    PypiPackage(String),
    PypiFile(String, String),
    Generic {
        name: String,
        version: String,
        path: Vec<String>,
        file: String,
    },
}

/// `(project id segment, route)` or `None` (GitLab's catch-all 404).
fn route(method: &Method, raw_path: &str) -> Option<(String, Route)> {
    let rest = raw_path.strip_prefix("/api/v4/projects/")?;
    let raw: Vec<&str> = rest.split('/').collect();
    let seg: Vec<String> = raw.iter().map(|s| percent_decode(s)).collect();
    if seg.len() < 3 || seg[1] != "packages" || seg[0].is_empty() {
        return None;
    }
    let id = seg[0].clone();
    let tail = &seg[2..];
    let r = match (method.as_str(), tail) {
        ("POST", [p]) if p == "pypi" => Route::PypiUpload,
        ("POST", [p, a]) if p == "pypi" && a == "authorize" => Route::PypiAuthorize,
        ("GET", [p, s]) if p == "pypi" && s == "simple" => Route::PypiIndex,
        ("GET", [p, s, e]) if p == "pypi" && s == "simple" && e.is_empty() => Route::PypiIndex,
        ("GET", [p, s, name]) if p == "pypi" && s == "simple" => Route::PypiPackage(name.clone()),
        ("GET", [p, s, name, e]) if p == "pypi" && s == "simple" && e.is_empty() => {
            Route::PypiPackage(name.clone())
        }
        ("GET", [p, f, sha, file]) if p == "pypi" && f == "files" => {
            Route::PypiFile(sha.clone(), file.clone())
        }
        ("GET" | "PUT", [g, name, version, rest @ ..]) if g == "generic" && !rest.is_empty() => {
            let (file, path) = rest.split_last().expect("non-empty");
            Route::Generic {
                name: name.clone(),
                version: version.clone(),
                path: path.to_vec(),
                file: file.clone(),
            }
        }
        _ => return None,
    };
    Some((id, r))
}

fn endpoint_label(method: &Method, raw_path: &str) -> String {
    let label = match route(method, raw_path) {
        Some((_, Route::PypiUpload)) => endpoint::PYPI_UPLOAD,
        Some((_, Route::PypiAuthorize)) => endpoint::PYPI_AUTHORIZE,
        Some((_, Route::PypiIndex)) => endpoint::PYPI_SIMPLE_INDEX,
        Some((_, Route::PypiPackage(_))) => endpoint::PYPI_SIMPLE_PACKAGE,
        Some((_, Route::PypiFile(..))) => endpoint::PYPI_DOWNLOAD,
        Some((_, Route::Generic { .. })) if method == Method::PUT => endpoint::GENERIC_UPLOAD,
        Some((_, Route::Generic { .. })) => endpoint::GENERIC_DOWNLOAD,
        None => return format!("{method} {raw_path}"),
    };
    label.to_string()
}

fn redact_query(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k == "job_token" || k == "private_token" => format!("{k}=[redacted]"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn fault_layer(
    State(st): State<Arc<GitLabState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let label = endpoint_label(&method, &path);
    *lock(&st.svc.counters).entry(label.clone()).or_insert(0) += 1;
    let mut record = RequestRecord {
        method: method.to_string(),
        path: path.clone(),
        query: query.as_deref().map(redact_query),
        endpoint: label.clone(),
        auth: auth_schemes(request.headers(), query.as_deref()),
        authenticated_as: None,
        status: None,
        fault: None,
        file_name: None,
        accept: header_str(request.headers(), "accept"),
        user_agent: header_str(request.headers(), "user-agent"),
    };
    if let Some((_, Route::Generic { file, .. })) = route(&method, &path) {
        record.file_name = Some(file);
    }
    let (latency, action) = {
        let mut f = lock(&st.svc.faults);
        let mut action = None;
        if let Some(rule) = f
            .rules
            .iter_mut()
            .find(|r| r.remaining > 0 && r.endpoint.as_deref().is_none_or(|e| e == label))
        {
            rule.remaining -= 1;
            action = Some(rule.action);
        }
        f.rules.retain(|r| r.remaining > 0);
        (f.latency, action)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let kill = request
        .extensions()
        .get::<ConnectInfo<ConnectionHandle>>()
        .map(|c| c.0.kill.clone());
    let slot = ExtraSlot(Arc::new(Mutex::new(RecordExtra::default())));
    request.extensions_mut().insert(slot.clone());
    let response = match action {
        Some(FaultAction::Drop) => {
            if let Some(k) = &kill {
                k.store(true, Ordering::SeqCst);
            }
            *lock(&st.svc.injected) += 1;
            record.fault = Some("dropped".into());
            lock(&st.svc.log).push(record);
            // Never reaches the client: the connection refuses all I/O.
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Some(FaultAction::Fail(code)) => {
            BodyReader::new(request.into_body()).drain().await;
            *lock(&st.svc.injected) += 1;
            record.status = Some(code);
            record.fault = Some(format!("{code} (injected)"));
            message(code, &reason_phrase(code))
        }
        Some(FaultAction::DropAfter) => {
            let response = next.run(request).await;
            if let Some(k) = &kill {
                k.store(true, Ordering::SeqCst);
            }
            *lock(&st.svc.injected) += 1;
            record.fault = Some(format!(
                "dropped after handling ({})",
                response.status().as_u16()
            ));
            response
        }
        None => {
            let response = next.run(request).await;
            record.status = Some(response.status().as_u16());
            response
        }
    };
    {
        let extra = lock(&slot.0);
        record.authenticated_as = extra.authenticated_as;
        if extra.file_name.is_some() {
            record.file_name = extra.file_name.clone();
        }
    }
    lock(&st.svc.log).push(record);
    response
}

async fn handle(State(st): State<Arc<GitLabState>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let slot = request.extensions().get::<ExtraSlot>().cloned();
    let headers = request.headers().clone();
    let mut body = BodyReader::new(request.into_body());
    let Some((id, r)) = route(&method, &path) else {
        body.drain().await;
        return json_response(404, &json!({ "error": "404 Not Found" }));
    };
    let creds = credentials(&headers, query.as_deref());
    let api = match r {
        Route::Generic { .. } => Api::Generic,
        _ => Api::Pypi,
    };
    let ctx = Ctx {
        st: &st,
        id,
        headers: &headers,
        query: query.as_deref(),
        creds: &creds,
        api,
        slot,
    };
    let response = match r {
        Route::PypiUpload => pypi_upload(&ctx, &mut body).await,
        Route::PypiAuthorize => pypi_authorize(&ctx),
        Route::PypiIndex => pypi_index(&ctx),
        Route::PypiPackage(name) => pypi_package(&ctx, &name),
        Route::PypiFile(sha, file) => pypi_file(&ctx, &sha, &file),
        Route::Generic {
            name,
            version,
            path,
            file,
        } => {
            if method == Method::PUT {
                generic_put(&ctx, &mut body, &name, &version, &path, &file).await
            } else {
                generic_get(&ctx, &name, &version, &path, &file)
            }
        }
    };
    body.drain().await;
    response
}

struct Ctx<'a> {
    st: &'a GitLabState,
    id: String,
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    creds: &'a Credentials,
    api: Api,
    slot: Option<ExtraSlot>,
}

impl Ctx<'_> {
    fn note_auth(&self, who: Option<Principal>) {
        if let Some(s) = &self.slot {
            lock(&s.0).authenticated_as = who.map(|p| p.kind);
        }
    }
    fn note_file(&self, name: &str) {
        if let Some(s) = &self.slot {
            lock(&s.0).file_name = Some(name.to_string());
        }
    }
    fn project_id(&self, d: &Data) -> Option<u64> {
        d.projects
            .iter()
            .find(|p| p.id.to_string() == self.id || p.path.eq_ignore_ascii_case(&self.id))
            .map(|p| p.id)
    }
    /// Authenticate; `Err` is the 401 for an invalid credential.
    fn who(&self, d: &Data) -> Result<Option<Principal>, Response> {
        let who = authenticate(d, self.creds, self.api).map_err(|()| unauthorized())?;
        self.note_auth(who);
        Ok(who)
    }
    fn pypi_base(&self, project: u64) -> String {
        format!(
            "{}/api/v4/projects/{project}/packages/pypi",
            self.st.base_url
        )
    }
}

fn project_by_id(d: &Data, id: u64) -> &Project {
    d.projects.iter().find(|p| p.id == id).expect("project")
}

/// PyPI `project!`: unknown project is 404 even anonymously, then the
/// credential (401 if invalid), then the read check.
fn pypi_read_guard(ctx: &Ctx, d: &Data) -> Result<u64, Response> {
    let pid = ctx.project_id(d).ok_or_else(|| not_found(None))?;
    let who = ctx.who(d)?;
    check_read(who, access(who, project_by_id(d, pid)))?;
    Ok(pid)
}

/// PyPI upload pre-authorization (what Workhorse asks before the body).
fn pypi_upload_guard(ctx: &Ctx, d: &Data) -> Result<(u64, Option<Principal>), Response> {
    let pid = ctx.project_id(d).ok_or_else(|| not_found(None))?;
    let who = ctx.who(d)?;
    check_upload(who, access(who, project_by_id(d, pid)))?;
    Ok((pid, who))
}

fn pypi_authorize(ctx: &Ctx) -> Response {
    let d = lock(&ctx.st.data);
    match pypi_upload_guard(ctx, &d) {
        Ok(_) => json_response(
            200,
            &json!({ "TempPath": "", "MaximumSize": d.settings.pypi_max_file_size }),
        ),
        Err(r) => r,
    }
}

struct UploadForm {
    fields: Vec<(String, String)>,
    content: Option<(String, FileSink)>,
    content_is_text: bool,
}

impl UploadForm {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn read_upload_form(
    ctx: &Ctx<'_>,
    body: &mut BodyReader,
    limit: u64,
) -> Result<UploadForm, String> {
    let mut form = UploadForm {
        fields: Vec::new(),
        content: None,
        content_is_text: false,
    };
    let Some(boundary) = multipart_boundary(ctx.headers) else {
        return Ok(form);
    };
    let reader = std::mem::replace(body, BodyReader::new(Body::empty()));
    let mut mp = Multipart::new(reader, &boundary);
    let result = async {
        while let Some(part) = mp.next_part().await? {
            match (&part.filename, part.name.as_str()) {
                (Some(fname), "content") if !fname.is_empty() => {
                    let mut sink = FileSink::new(ctx.st.temp_path(), limit);
                    mp.read_body(|d| sink.write(d)).await?;
                    if let Some(e) = sink.error.take() {
                        return Err(e);
                    }
                    form.content = Some((sanitize_filename(fname), sink));
                }
                (Some(_), _) => mp.read_body(|_| {}).await?,
                (None, name) => {
                    let mut value = Vec::new();
                    mp.read_body(|d| value.extend_from_slice(d)).await?;
                    if name == "content" {
                        form.content_is_text = true;
                    }
                    form.fields.push((
                        name.to_string(),
                        String::from_utf8_lossy(&value).into_owned(),
                    ));
                }
            }
        }
        Ok::<(), String>(())
    }
    .await;
    *body = mp.reader;
    result.map(|()| form)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

async fn pypi_upload(ctx: &Ctx<'_>, body: &mut BodyReader) -> Response {
    // Workhorse: authorize before reading the body.
    let (limit, workhorse) = {
        let d = lock(&ctx.st.data);
        if let Err(r) = pypi_upload_guard(ctx, &d) {
            return r;
        }
        (
            d.settings.pypi_max_file_size,
            d.settings.workhorse_size_check,
        )
    };
    let form = match read_upload_form(ctx, body, limit).await {
        Ok(f) => f,
        Err(e) => return bad_request(&format!("multipart: {e}")),
    };
    if let Some((name, _)) = &form.content {
        ctx.note_file(name);
    }
    let over = form.content.as_ref().is_some_and(|(_, s)| s.over_limit());
    if over && workhorse {
        return too_large(true);
    }
    // Grape params validation, in declaration order.
    let mut errors = Vec::new();
    if form.content.is_none() {
        errors.push(if form.content_is_text {
            "content is invalid".to_string()
        } else {
            "content is missing".to_string()
        });
    }
    if form.get("name").is_none() {
        errors.push("name is missing".into());
    }
    if form.get("version").is_none() {
        errors.push("version is missing".into());
    }
    if let Some(sha) = form.get("sha256_digest") {
        if !sha256_valid(sha) {
            errors.push("sha256_digest is invalid".into());
        }
    }
    if !errors.is_empty() {
        return grape_error(&errors);
    }
    let file_name = form
        .content
        .as_ref()
        .map(|(n, _)| n.clone())
        .expect("content");
    let mut d = lock(&ctx.st.data);
    let (pid, who) = match pypi_upload_guard(ctx, &d) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if over {
        return too_large(false);
    }
    let name = form.get("name").unwrap_or("").to_string();
    let version = form.get("version").unwrap_or("").to_string();
    let declared = form.get("sha256_digest").map(str::to_lowercase);
    if d.settings.fips && declared.as_deref().is_none_or(str::is_empty) {
        return message(422, "422 Unprocessable Entity");
    }
    if protected(&d, who, &name) {
        return forbidden(Some("Package protected."));
    }
    // Packages::Package validations (find_or_create_package!).
    let mut invalid = Vec::new();
    if name.is_empty() {
        invalid.push("Name can't be blank");
    }
    if !package_name_valid(&name) {
        invalid.push("Name is invalid");
    }
    if version.is_empty() {
        invalid.push("Version can't be blank");
    }
    if !pypi_version_valid(&version) {
        invalid.push("Version is invalid");
    }
    if !invalid.is_empty() {
        return bad_request(&format!("Validation failed: {}", invalid.join(", ")));
    }
    // Package file uniqueness: file name per package (name+version, exact).
    let existing = d.packages.iter().find(|p| {
        p.project == pid && p.registry == Registry::Pypi && p.name == name && p.version == version
    });
    if let Some(p) = existing {
        if d.files
            .iter()
            .any(|f| f.package_id == p.id && f.file_name == file_name)
        {
            return bad_request("Validation failed: File name has already been taken");
        }
    }
    let requires_python = form.get("requires_python").map(|s| truncate(s, 255));
    let pkg = find_or_create_package(&mut d, pid, Registry::Pypi, &name, &version, "default");
    package_mut(&mut d, pkg).requires_python = requires_python.clone().unwrap_or_default();
    let id = d.next_id();
    let fields = form.fields.clone();
    let md5 = if d.settings.fips {
        None
    } else {
        form.get("md5_digest").map(str::to_string)
    };
    let (_, sink) = form.content.expect("content");
    let (path, size, sha256) = sink.finish();
    d.files.push(StoredFile {
        id,
        package_id: pkg,
        registry: Registry::Pypi,
        project: pid,
        package_name: name,
        version,
        file_name,
        size,
        sha256,
        declared_sha256: declared,
        md5_digest: md5,
        requires_python,
        fields,
        status: "default".into(),
        uploaded_with: who.map(|p| p.kind),
        path,
    });
    created()
}

fn wants_json(ctx: &Ctx, d: &Data) -> bool {
    d.settings.pep691_json
        && header_str(ctx.headers, "accept").is_some_and(|a| {
            a.split(',').any(|t| {
                let t = t.trim();
                t.starts_with(PEP691_JSON) || t.starts_with(PEP691_LATEST_JSON)
            })
        })
}

fn html_page(title: &str, links: &str, vary: bool) -> Response {
    let body = format!(
        "        <!DOCTYPE html>\n        <html>\n          <head>\n            <title>Links for {t}</title>\n          </head>\n          <body>\n            <h1>Links for {t}</h1>\n            {links}\n          </body>\n        </html>\n",
        t = html_escape(title)
    );
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    if vary {
        r.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept"));
    }
    r
}

fn simple_json(value: &Value) -> Response {
    let mut r = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/vnd.pypi.simple.v1+json; charset=utf-8",
        )],
        value.to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    r
}

fn link(url: &str, requires_python: &str, text: &str) -> String {
    format!(
        "<a href=\"{url}\" data-requires-python=\"{}\">{text}</a>",
        html_escape(requires_python)
    )
}

fn pypi_index(ctx: &Ctx) -> Response {
    let d = lock(&ctx.st.data);
    let pid = match pypi_read_guard(ctx, &d) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let packages: Vec<&Package> = d
        .packages
        .iter()
        .filter(|p| p.project == pid && p.registry == Registry::Pypi)
        .collect();
    if wants_json(ctx, &d) {
        let mut names: Vec<String> = packages
            .iter()
            .map(|p| normalized_pypi_name(&p.name))
            .collect();
        names.sort();
        names.dedup();
        let projects: Vec<Value> = names.iter().map(|n| json!({ "name": n })).collect();
        return simple_json(&json!({ "meta": { "api-version": "1.0" }, "projects": projects }));
    }
    let links: String = packages
        .iter()
        .map(|p| {
            let url = format!(
                "{}/simple/{}",
                ctx.pypi_base(pid),
                escape_segment(&normalized_pypi_name(&p.name))
            );
            link(&url, &p.requires_python, &p.name)
        })
        .collect();
    let project_name = project_by_id(&d, pid)
        .path
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    html_page(&project_name, &links, d.settings.pep691_json)
}

fn file_url(base: &str, f: &StoredFile) -> String {
    let sha = f.declared_sha256.clone().unwrap_or_default();
    format!(
        "{base}/files/{sha}/{}#sha256={sha}",
        escape_segment(&f.file_name)
    )
}

fn pypi_package(ctx: &Ctx, requested: &str) -> Response {
    let d = lock(&ctx.st.data);
    let pid = match pypi_read_guard(ctx, &d) {
        Ok(p) => p,
        Err(r) => return r,
    };
    // `with_normalized_pypi_name`: the stored name is normalized, the
    // requested one only lower-cased.
    let wanted = requested.to_lowercase();
    let packages: Vec<&Package> = d
        .packages
        .iter()
        .filter(|p| p.project == pid && p.registry == Registry::Pypi)
        .filter(|p| normalized_pypi_name(&p.name) == wanted)
        .collect();
    if packages.is_empty() {
        if d.settings.pypi_forwarding {
            let url = format!("{PYPI_FORWARD_BASE}{requested}/");
            let mut r = (
                StatusCode::FOUND,
                [(header::CONTENT_TYPE, "text/plain")],
                format!("This resource has been moved temporarily to {url}."),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
        return not_found(Some("Package"));
    }
    let base = ctx.pypi_base(pid);
    let files_of = |p: &Package| -> Vec<&StoredFile> {
        d.files
            .iter()
            .filter(|f| f.package_id == p.id && f.status != "error")
            .collect()
    };
    if wants_json(ctx, &d) {
        let mut files = Vec::new();
        for p in &packages {
            for f in files_of(p) {
                let mut entry = json!({
                    "filename": f.file_name,
                    "url": file_url(&base, f),
                    "hashes": { "sha256": f.declared_sha256.clone().unwrap_or_default() },
                });
                let rp = f.requires_python.clone().unwrap_or_default();
                let rp = if rp.is_empty() {
                    p.requires_python.clone()
                } else {
                    rp
                };
                if !rp.is_empty() {
                    entry["requires-python"] = json!(rp);
                }
                files.push(entry);
            }
        }
        return simple_json(&json!({
            "meta": { "api-version": "1.0" },
            "name": normalized_pypi_name(&packages[0].name),
            "files": files,
        }));
    }
    let links: String = packages
        .iter()
        .flat_map(|p| {
            files_of(p)
                .into_iter()
                .map(|f| link(&file_url(&base, f), &p.requires_python, &f.file_name))
                .collect::<Vec<_>>()
        })
        .collect();
    html_page(&packages[0].name, &links, d.settings.pep691_json)
}

fn pypi_file(ctx: &Ctx, sha256: &str, file_name: &str) -> Response {
    let d = lock(&ctx.st.data);
    let pid = match pypi_read_guard(ctx, &d) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let sha = sha256.to_lowercase();
    // PackageFinder by (filename, sha256), then the package's latest file of that name.
    let package = d.files.iter().rev().find(|f| {
        f.project == pid
            && f.registry == Registry::Pypi
            && f.file_name == file_name
            && f.declared_sha256.as_deref() == Some(sha.as_str())
    });
    let Some(hit) = package else {
        return not_found(Some("Package"));
    };
    let f = d
        .files
        .iter()
        .rev()
        .find(|f| f.package_id == hit.package_id && f.file_name == file_name)
        .expect("file");
    file_download(f, &[])
}

fn generic_params_errors(
    name: &str,
    version: &str,
    path: &[String],
    file: &str,
    query: Option<&str>,
    put: bool,
) -> Vec<String> {
    let mut e = Vec::new();
    let traversal = |s: &str| s.split('/').any(|p| p == ".." || p == ".");
    if !generic_name_valid(name) || traversal(name) {
        e.push("package_name is invalid".to_string());
    }
    if !generic_version_valid(version) {
        e.push("package_version is invalid".to_string());
    }
    if path.iter().any(|p| p.is_empty() || traversal(p)) {
        e.push("path should be a valid file path".to_string());
    }
    if !generic_name_valid(file) || traversal(file) {
        e.push("file_name is invalid".to_string());
    }
    if put {
        if let Some(s) = query_param(query, "status") {
            if s != "default" && s != "hidden" {
                e.push("status does not have a valid value".to_string());
            }
        }
    }
    e
}

async fn generic_put(
    ctx: &Ctx<'_>,
    body: &mut BodyReader,
    name: &str,
    version: &str,
    path: &[String],
    file: &str,
) -> Response {
    // `authenticate_non_get!` runs before params validation; then the
    // Workhorse authorize route (params, project, authorize_upload!).
    let (pid, who, limit, workhorse) = {
        let d = lock(&ctx.st.data);
        let who = match ctx.who(&d) {
            Ok(Some(w)) => Some(w),
            Ok(None) => return unauthorized(),
            Err(r) => return r,
        };
        let errors = generic_params_errors(name, version, path, file, ctx.query, true);
        if !errors.is_empty() {
            return grape_error(&errors);
        }
        let Some(pid) = ctx.project_id(&d) else {
            return not_found(None);
        };
        if let Err(r) = check_upload(who, access(who, project_by_id(&d, pid))) {
            return r;
        }
        if protected(&d, who, name) {
            return forbidden(Some("Package protected."));
        }
        (
            pid,
            who,
            d.settings.generic_max_file_size,
            d.settings.workhorse_size_check,
        )
    };
    let mut sink = FileSink::new(ctx.st.temp_path(), limit);
    loop {
        match body.chunk().await {
            Ok(Some(c)) => sink.write(&c),
            Ok(None) => break,
            Err(e) => return bad_request(&format!("body: {e}")),
        }
    }
    if let Some(e) = sink.error.take() {
        return message(500, &format!("500 Internal Server Error - {e}"));
    }
    if sink.over_limit() && workhorse {
        return too_large(true);
    }
    let select = query_param(ctx.query, "select");
    if let Some(s) = &select {
        if s != "package_file" {
            return grape_error(&["select does not have a valid value".to_string()]);
        }
    }
    if sink.over_limit() {
        return too_large(false);
    }
    let status = query_param(ctx.query, "status").unwrap_or_else(|| "default".into());
    let file_name = if path.is_empty() {
        file.to_string()
    } else {
        encode_uri_component(&format!("{}/{file}", path.join("/")))
    };
    let mut d = lock(&ctx.st.data);
    let existing = d.packages.iter().find(|p| {
        p.project == pid
            && p.registry == Registry::Generic
            && p.name == name
            && p.version == version
    });
    if let Some(p) = existing {
        let dup = d
            .files
            .iter()
            .any(|f| f.package_id == p.id && f.file_name == file_name);
        let s = &d.settings;
        let matches = s
            .generic_duplicate_exception_regex
            .as_ref()
            .is_some_and(|r| r.is_match(name) || r.is_match(version));
        let allowed = if s.generic_duplicates_allowed {
            !matches
        } else {
            matches
        };
        if dup && !allowed {
            return bad_request("Duplicate package is not allowed");
        }
    }
    let pkg = find_or_create_package(&mut d, pid, Registry::Generic, name, version, &status);
    let id = d.next_id();
    let (path_on_disk, size, sha256) = sink.finish();
    let stored = StoredFile {
        id,
        package_id: pkg,
        registry: Registry::Generic,
        project: pid,
        package_name: name.to_string(),
        version: version.to_string(),
        file_name: file_name.clone(),
        size,
        sha256: sha256.clone(),
        declared_sha256: Some(sha256.clone()),
        md5_digest: None,
        requires_python: None,
        fields: Vec::new(),
        status,
        uploaded_with: who.map(|p| p.kind),
        path: path_on_disk,
    };
    d.files.push(stored);
    if select.is_some() {
        let now = iso_time(SystemTime::now());
        return json_response(
            200,
            &json!({
                "id": id,
                "package_id": pkg,
                "created_at": now,
                "updated_at": now,
                "size": size,
                "file_store": 1,
                "file_md5": null,
                "file_sha1": null,
                "file_name": file_name,
                "file": { "url": format!("/{}/{}/packages/{pkg}/files/{id}/{file_name}", &sha256[..2], &sha256[2..4]) },
                "file_sha256": sha256,
                "verification_retry_at": null,
                "verified_at": null,
                "verification_failure": null,
                "verification_retry_count": null,
                "verification_checksum": null,
                "verification_state": 0,
                "verification_started_at": null,
                "new_file_path": null,
            }),
        );
    }
    created()
}

fn generic_get(ctx: &Ctx, name: &str, version: &str, path: &[String], file: &str) -> Response {
    let errors = generic_params_errors(name, version, path, file, ctx.query, false);
    if !errors.is_empty() {
        return grape_error(&errors);
    }
    let d = lock(&ctx.st.data);
    let who = match ctx.who(&d) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Some(pid) = ctx.project_id(&d) else {
        return if who.is_some() {
            not_found(None)
        } else {
            unauthorized()
        };
    };
    if let Err(r) = check_read(who, access(who, project_by_id(&d, pid))) {
        return r;
    }
    let file_name = if path.is_empty() {
        file.to_string()
    } else {
        encode_uri_component(&format!("{}/{file}", path.join("/")))
    };
    let Some(pkg) = d.packages.iter().find(|p| {
        p.project == pid
            && p.registry == Registry::Generic
            && p.name == name
            && p.version == version
    }) else {
        return message(404, "404 Not found");
    };
    let Some(f) = d
        .files
        .iter()
        .rev()
        .find(|f| f.package_id == pkg.id && f.file_name == file_name)
    else {
        return message(404, "404 Not found");
    };
    file_download(f, &[("x-checksum-sha256", f.sha256.clone())])
}

// ---------------------------------------------------------------------------
// Test distributions: a minimal but valid wheel, built in memory
// ---------------------------------------------------------------------------

/// A pure-Python wheel `(file name, bytes)` with `pkg/__init__.py`,
/// `METADATA` (with `Requires-Python` when given), `WHEEL` and `RECORD`.
/// Stored (uncompressed) zip entries; `extra` is added to `__init__.py` so
/// tests can make distinct files of the same name.
pub fn make_wheel(
    name: &str,
    version: &str,
    requires_python: Option<&str>,
    extra: &str,
) -> (String, Vec<u8>) {
    let dist = re_underscore(name);
    let file_name = format!("{dist}-{version}-py3-none-any.whl");
    let info = format!("{dist}-{version}.dist-info");
    let module = dist.to_lowercase();
    let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    metadata.push_str("Summary: test package for gl-sign\n");
    if let Some(rp) = requires_python {
        metadata.push_str(&format!("Requires-Python: {rp}\n"));
    }
    let entries: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{module}/__init__.py"),
            format!("__version__ = \"{version}\"\n# {extra}\n").into_bytes(),
        ),
        (format!("{info}/METADATA"), metadata.into_bytes()),
        (
            format!("{info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: gl-sign-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
    ];
    let mut record = String::new();
    for (path, data) in &entries {
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data));
        record.push_str(&format!("{path},sha256={digest},{}\n", data.len()));
    }
    record.push_str(&format!("{info}/RECORD,,\n"));
    let mut all = entries;
    all.push((format!("{info}/RECORD"), record.into_bytes()));
    (file_name, stored_zip(&all))
}

fn re_underscore(name: &str) -> String {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"[-_.]+").replace_all(name, "_").into_owned()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip archive with stored (method 0) entries.
pub fn stored_zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    // 1980-01-01 00:00
    let (time, date) = (0u16, 0x21u16);
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let n = name.as_bytes();
        let size = data.len() as u32;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&0u16.to_le_bytes()); // stored
        out.extend_from_slice(&time.to_le_bytes());
        out.extend_from_slice(&date.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(n.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(n);
        out.extend_from_slice(data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        central.extend_from_slice(&20u16.to_le_bytes()); // needed
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&time.to_le_bytes());
        central.extend_from_slice(&date.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&(n.len() as u16).to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes()); // extra
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(n);
    }
    let cd_offset = out.len() as u32;
    let cd_size = central.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A `multipart/form-data` body as twine sends it: `(content type, body)`.
/// `fields` are text parts; the file goes in the `content` part.
pub fn multipart_body(
    fields: &[(&str, &str)],
    content: Option<(&str, &[u8])>,
) -> (String, Vec<u8>) {
    let boundary = "gl-sign-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((fname, data)) = content {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{fname}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The twine-compatible field set gl-sign should send for `file`.
pub fn twine_fields<'a>(
    name: &'a str,
    version: &'a str,
    sha256: &'a str,
    requires_python: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("metadata_version", "2.1"),
        ("name", name),
        ("version", version),
        ("filetype", "bdist_wheel"),
        ("pyversion", "py3"),
        ("sha256_digest", sha256),
        ("requires_python", requires_python),
    ]
}
