//! TUF updates of the trust root and signing config (issue 11).
//!
//! The TUF client is sigstore-tuf's `Updater`; this module decides where its
//! cache lives, which bootstrap root it starts from, and makes every update
//! atomic. The updater writes verified files into its store as it goes, so it
//! works on a copy of the cache and the copy is swapped in (one rename) only
//! once the whole refresh and both targets have verified: a failed or attacked
//! update leaves the previous cache byte for byte as it was.
//!
//! Layout under the base directory (`$XDG_CACHE_HOME/gl-sign/tuf` by default):
//!
//! ```text
//! selected.json                 {"mirror": URL}: the repository used by default
//! <mirror>/mirror.json          which repository this directory follows
//! <mirror>/bootstrap-root.json  the root given to `--mirror URL --root FILE`
//! <mirror>/root.json, timestamp.json, snapshot.json, targets.json, root_history/, targets/
//! ```
//!
//! Reading the cache re-runs the whole TUF verification from the bootstrap root
//! with no network (`StoreRepository`), so a cache that was tampered with or
//! whose metadata expired is never used.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sigstore_trust_root::SigstoreInstance;
use sigstore_tuf::transport::FetchFuture;
use sigstore_tuf::{FileStore, MetadataStore, Repository, StoreRepository, Updater};

use crate::diagnostics::Hint;

/// The public-good production TUF repository.
pub const PUBLIC_GOOD_TUF_URL: &str = "https://tuf-repo-cdn.sigstore.dev";
/// The public-good staging TUF repository.
pub const STAGING_TUF_URL: &str = "https://tuf-repo-cdn.sigstage.dev";

/// TUF target names, as Sigstore's repositories publish them.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";
pub const SIGNING_CONFIG_TARGET: &str = "signing_config.v0.2.json";

const SELECTED_FILE: &str = "selected.json";
const MIRROR_FILE: &str = "mirror.json";
const BOOTSTRAP_FILE: &str = "bootstrap-root.json";

/// The embedded bootstrap `root.json` of the public-good production repository
/// (the copy sigstore-trust-root ships; a test pins its digest).
pub fn production_tuf_root() -> &'static [u8] {
    SigstoreInstance::PublicGood.tuf_root()
}

/// The embedded bootstrap `root.json` of the public-good staging repository.
pub fn staging_tuf_root() -> &'static [u8] {
    SigstoreInstance::Staging.tuf_root()
}

/// Which public-good instance a mirror URL is, if any.
pub fn public_instance(url: &str) -> Option<Instance> {
    let url = url.trim_end_matches('/');
    if url == PUBLIC_GOOD_TUF_URL {
        Some(Instance::Production)
    } else if url == STAGING_TUF_URL {
        Some(Instance::Staging)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    Production,
    Staging,
}

impl Instance {
    pub fn url(self) -> &'static str {
        match self {
            Instance::Production => PUBLIC_GOOD_TUF_URL,
            Instance::Staging => STAGING_TUF_URL,
        }
    }
    fn root(self) -> &'static [u8] {
        match self {
            Instance::Production => production_tuf_root(),
            Instance::Staging => staging_tuf_root(),
        }
    }
}

/// A TUF repository and the root that trust in it starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub url: String,
    pub bootstrap: Bootstrap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// The root embedded in gl-sign (public-good instances only).
    Embedded(Instance),
    /// A root given once with `--root FILE`, kept in the mirror's cache directory.
    Initialised,
}

impl Mirror {
    pub fn public(instance: Instance) -> Self {
        Mirror {
            url: instance.url().to_string(),
            bootstrap: Bootstrap::Embedded(instance),
        }
    }

    /// The mirror at `url`: embedded bootstrap for the public-good URLs, else
    /// the root recorded when it was initialised.
    pub fn at(url: &str) -> Self {
        let url = url.trim_end_matches('/').to_string();
        match public_instance(&url) {
            Some(instance) => Mirror::public(instance),
            None => Mirror {
                url,
                bootstrap: Bootstrap::Initialised,
            },
        }
    }
}

/// The cache of every mirror gl-sign follows.
#[derive(Debug, Clone)]
pub struct TufCache {
    base: PathBuf,
}

/// What one update did.
#[derive(Debug, Clone)]
pub struct UpdateReport {
    pub status: TufStatus,
    /// Files requested from the mirror, in order (e.g. `17.root.json`,
    /// `timestamp.json`); a refresh that found nothing new asks for the next
    /// root and the timestamp only.
    pub fetched: Vec<String>,
    /// Whether the trusted root or signing config bytes changed.
    pub changed: bool,
}

/// Verified TUF state: versions and expiry of the top-level roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TufStatus {
    pub mirror: String,
    pub dir: PathBuf,
    pub roles: Vec<RoleState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleState {
    pub role: &'static str,
    pub version: u64,
    pub expires: jiff::Timestamp,
}

/// Trust material read from a verified cache.
#[derive(Debug, Clone)]
pub struct CachedTrust {
    pub trusted_root: Vec<u8>,
    pub signing_config: Option<Vec<u8>>,
    pub status: TufStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum TufError {
    #[error("cannot {action} {}", path.display())]
    Cache {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read TUF root {}", path.display())]
    ReadRoot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is not a valid, self-signed TUF root")]
    BadBootstrap {
        what: String,
        #[source]
        source: sigstore_tuf::Error,
    },
    #[error("TUF repository {mirror} was never initialised in {}", dir.display())]
    NotInitialised { mirror: String, dir: PathBuf },
    #[error("TUF update from {mirror} failed: {role} failed the {check} check")]
    Refresh {
        mirror: String,
        role: String,
        check: &'static str,
        #[source]
        source: sigstore_tuf::Error,
    },
    #[error("the TUF cache {} does not verify: {role} failed the {check} check", dir.display())]
    CacheInvalid {
        dir: PathBuf,
        role: String,
        check: &'static str,
        #[source]
        source: sigstore_tuf::Error,
    },
    #[error("TUF target {target} from {mirror} is not usable")]
    BadTarget {
        mirror: String,
        target: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot build the HTTP client for {mirror}")]
    Client {
        mirror: String,
        #[source]
        source: sigstore_tuf::Error,
    },
}

impl TufError {
    /// The role and check a refresh or cache verification failed, if any.
    pub fn failed_check(&self) -> Option<(&str, &str)> {
        match self {
            TufError::Refresh { role, check, .. } | TufError::CacheInvalid { role, check, .. } => {
                Some((role, check))
            }
            _ => None,
        }
    }
}

crate::register_hint!(TufError);

impl Hint for TufError {
    fn hint(&self) -> Option<String> {
        match self {
            TufError::Refresh { check, .. } if *check == "download" => Some(
                "the repository could not be reached; the previous TUF cache, if any, was kept \
                 unchanged and is still used"
                    .into(),
            ),
            TufError::Refresh { .. } => Some(
                "the previous TUF cache was kept unchanged and is still used; a repository that \
                 fails a TUF check may be under attack: retry later or report it to its operators"
                    .into(),
            ),
            TufError::NotInitialised { .. } => {
                Some("initialise it with a TUF update from the mirror, bootstrapped from its root.json".into())
            }
            TufError::CacheInvalid { .. } => Some(
                "run gl-sign trust update to refresh it; until then the embedded trust root is used"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Escape a URL into one directory name, as sigstore-trust-root does, so the
/// same mirror always maps to the same directory.
pub fn mirror_dirname(url: &str) -> String {
    let mut out = String::new();
    for &b in url.trim_end_matches('/').as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl TufCache {
    pub fn new(base: impl Into<PathBuf>) -> Self {
        TufCache { base: base.into() }
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    pub fn dir(&self, mirror: &Mirror) -> PathBuf {
        self.base.join(mirror_dirname(&mirror.url))
    }

    /// The mirror chosen with `--mirror`, or public-good production.
    pub fn selected(&self) -> Mirror {
        let path = self.base.join(SELECTED_FILE);
        std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|v| v.get("mirror").and_then(|m| m.as_str()).map(Mirror::at))
            .unwrap_or_else(|| Mirror::public(Instance::Production))
    }

    fn select(&self, mirror: &Mirror) -> Result<(), TufError> {
        let body = serde_json::to_vec_pretty(&serde_json::json!({ "mirror": mirror.url }))
            .expect("a JSON object serialises");
        write_atomic(&self.base.join(SELECTED_FILE), &body)
    }

    fn bootstrap_bytes(&self, mirror: &Mirror, dir: &Path) -> Result<Vec<u8>, TufError> {
        match mirror.bootstrap {
            Bootstrap::Embedded(instance) => Ok(instance.root().to_vec()),
            Bootstrap::Initialised => match std::fs::read(dir.join(BOOTSTRAP_FILE)) {
                Ok(bytes) => Ok(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(TufError::NotInitialised {
                        mirror: mirror.url.clone(),
                        dir: dir.to_path_buf(),
                    })
                }
                Err(source) => Err(TufError::Cache {
                    action: "read",
                    path: dir.join(BOOTSTRAP_FILE),
                    source,
                }),
            },
        }
    }

    /// Whether the mirror's cache directory exists at all.
    pub fn has_cache(&self, mirror: &Mirror) -> bool {
        self.dir(mirror).join(MIRROR_FILE).is_file()
    }

    /// Initialise `url` with the root in `root_file` (as `cosign initialize`
    /// does), update it, and make it the mirror used from then on. The
    /// previous cache of that mirror, if any, is replaced only on success.
    pub async fn initialise(
        &self,
        url: &str,
        root_file: Option<&Path>,
        client: reqwest::Client,
        now: jiff::Timestamp,
    ) -> Result<UpdateReport, TufError> {
        let mirror = Mirror::at(url);
        let root = match root_file {
            Some(path) => Some(std::fs::read(path).map_err(|source| TufError::ReadRoot {
                path: path.to_path_buf(),
                source,
            })?),
            None => None,
        };
        if let Some(bytes) = &root {
            sigstore_tuf::TrustedMetadataSet::from_root(bytes).map_err(|source| {
                TufError::BadBootstrap {
                    what: format!("{}", root_file.unwrap_or(Path::new("")).display()),
                    source,
                }
            })?;
            // The public-good roots are embedded; a cache cannot replace them.
            if let Bootstrap::Embedded(_) = mirror.bootstrap {
                return Err(TufError::BadBootstrap {
                    what: format!(
                        "{} (the root of {url} is embedded)",
                        root_file.unwrap_or(Path::new("")).display()
                    ),
                    source: sigstore_tuf::Error::Malformed(
                        "a public-good repository takes no --root".into(),
                    ),
                });
            }
        }
        let report = self
            .run_update(&mirror, root.as_deref(), client, now)
            .await?;
        self.select(&mirror)?;
        Ok(report)
    }

    /// Refresh `mirror` from the network into its cache.
    pub async fn update(
        &self,
        mirror: &Mirror,
        client: reqwest::Client,
        now: jiff::Timestamp,
    ) -> Result<UpdateReport, TufError> {
        self.run_update(mirror, None, client, now).await
    }

    async fn run_update(
        &self,
        mirror: &Mirror,
        new_bootstrap: Option<&[u8]>,
        client: reqwest::Client,
        now: jiff::Timestamp,
    ) -> Result<UpdateReport, TufError> {
        let dir = self.dir(mirror);
        std::fs::create_dir_all(&self.base).map_err(|source| TufError::Cache {
            action: "create",
            path: self.base.clone(),
            source,
        })?;
        let bootstrap = match new_bootstrap {
            Some(bytes) => bytes.to_vec(),
            None => self.bootstrap_bytes(mirror, &dir)?,
        };
        let before = read_targets(&dir);

        // The copy the updater may write into; removed on every error path.
        let staging = tempfile::Builder::new()
            .prefix(".update-")
            .tempdir_in(&self.base)
            .map_err(|source| TufError::Cache {
                action: "create a staging directory in",
                path: self.base.clone(),
                source,
            })?;
        // A new bootstrap starts a fresh cache: it is a new decision about
        // whom to trust, and old floors may not chain from it.
        if new_bootstrap.is_none() && dir.is_dir() {
            copy_dir(&dir, staging.path())?;
        }
        if let Some(bytes) = new_bootstrap {
            write_atomic(&staging.path().join(BOOTSTRAP_FILE), bytes)?;
        }
        let record = serde_json::to_vec_pretty(&serde_json::json!({ "url": mirror.url }))
            .expect("a JSON object serialises");
        write_atomic(&staging.path().join(MIRROR_FILE), &record)?;

        let http = HttpMirror::new(&mirror.url, client).map_err(|source| TufError::Client {
            mirror: mirror.url.clone(),
            source,
        })?;
        let tracked = Tracked::new(http);
        let log = tracked.log.clone();
        let refresh_error = |source: sigstore_tuf::Error| {
            let (role, check) = attribute(&source, last_fetch(&log).as_deref());
            TufError::Refresh {
                mirror: mirror.url.clone(),
                role,
                check,
                source,
            }
        };
        let mut updater =
            Updater::new(tracked, &bootstrap).map_err(|source| TufError::BadBootstrap {
                what: format!("the bootstrap root of {}", mirror.url),
                source,
            })?;
        updater = updater.with_store(FileStore::new(staging.path()));
        updater.refresh(now).await.map_err(refresh_error)?;
        let trusted_root = updater
            .get_target(TRUSTED_ROOT_TARGET, now)
            .await
            .map_err(refresh_error)?;
        check_trusted_root(&trusted_root).map_err(|source| TufError::BadTarget {
            mirror: mirror.url.clone(),
            target: TRUSTED_ROOT_TARGET,
            source,
        })?;
        match updater.get_target(SIGNING_CONFIG_TARGET, now).await {
            Ok(bytes) => {
                sigstore_trust_root::SigningConfig::from_json(&String::from_utf8_lossy(&bytes))
                    .map_err(|e| TufError::BadTarget {
                        mirror: mirror.url.clone(),
                        target: SIGNING_CONFIG_TARGET,
                        source: Box::new(e),
                    })?;
            }
            // A private repository may publish no signing config.
            Err(sigstore_tuf::Error::TargetNotFound(_)) => {
                let stale = staging.path().join("targets").join(SIGNING_CONFIG_TARGET);
                let _ = std::fs::remove_file(stale);
            }
            Err(e) => return Err(refresh_error(e)),
        }
        let status = status_of(updater.trusted(), &mirror.url, &dir);
        drop(updater);

        swap_in(staging, &dir)?;
        let fetched = log.lock().map(|l| l.clone()).unwrap_or_default();
        Ok(UpdateReport {
            changed: before != read_targets(&dir),
            status,
            fetched,
        })
    }

    /// [`TufCache::load`] outside any async runtime: reading the cache does
    /// no I/O that needs one.
    pub fn load_blocking(
        &self,
        mirror: &Mirror,
        now: jiff::Timestamp,
    ) -> Result<CachedTrust, TufError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|source| TufError::Cache {
                action: "start a runtime to read",
                path: self.dir(mirror),
                source,
            })?;
        runtime.block_on(self.load(mirror, now))
    }

    /// Verify the cached metadata of `mirror` without the network and return
    /// its trust material. Nothing in the cache is written.
    pub async fn load(
        &self,
        mirror: &Mirror,
        now: jiff::Timestamp,
    ) -> Result<CachedTrust, TufError> {
        let dir = self.dir(mirror);
        if !dir.join(MIRROR_FILE).is_file() {
            return Err(TufError::NotInitialised {
                mirror: mirror.url.clone(),
                dir,
            });
        }
        let bootstrap = self.bootstrap_bytes(mirror, &dir)?;
        let store = Arc::new(ReadOnly(FileStore::new(&dir)));
        let invalid = |source: sigstore_tuf::Error| {
            let (role, check) = attribute(&source, None);
            TufError::CacheInvalid {
                dir: dir.clone(),
                role,
                check,
                source,
            }
        };
        let mut updater = Updater::new(StoreRepository::new(store.clone()), &bootstrap)
            .map_err(|source| TufError::BadBootstrap {
                what: format!("the bootstrap root of {}", mirror.url),
                source,
            })?
            .with_store(store);
        updater.refresh(now).await.map_err(invalid)?;
        let trusted_root = updater
            .get_target(TRUSTED_ROOT_TARGET, now)
            .await
            .map_err(invalid)?;
        let signing_config = match updater.get_target(SIGNING_CONFIG_TARGET, now).await {
            Ok(bytes) => Some(bytes),
            Err(sigstore_tuf::Error::TargetNotFound(_)) => None,
            Err(e) => return Err(invalid(e)),
        };
        Ok(CachedTrust {
            trusted_root,
            signing_config,
            status: status_of(updater.trusted(), &mirror.url, &dir),
        })
    }
}

/// An error and its causes on one line.
pub fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn status_of(trusted: &sigstore_tuf::TrustedMetadataSet, mirror: &str, dir: &Path) -> TufStatus {
    let mut roles = vec![RoleState {
        role: "root",
        version: trusted.root().version,
        expires: trusted.root().expires,
    }];
    if let Some(t) = trusted.timestamp() {
        roles.push(RoleState {
            role: "timestamp",
            version: t.version,
            expires: t.expires,
        });
    }
    if let Some(s) = trusted.snapshot() {
        roles.push(RoleState {
            role: "snapshot",
            version: s.version,
            expires: s.expires,
        });
    }
    if let Some(t) = trusted.targets_role("targets") {
        roles.push(RoleState {
            role: "targets",
            version: t.version,
            expires: t.expires,
        });
    }
    TufStatus {
        mirror: mirror.to_string(),
        dir: dir.to_path_buf(),
        roles,
    }
}

/// The same checks `TrustMaterial::load` makes, so a target that would be
/// refused later is refused before it replaces a working cache.
fn check_trusted_root(bytes: &[u8]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let json = std::str::from_utf8(bytes)?;
    crate::trust::TrustMaterial::from_json(json, crate::trust::TrustSource::PublicGood)?;
    Ok(())
}

fn read_targets(dir: &Path) -> BTreeMap<&'static str, Option<Vec<u8>>> {
    [TRUSTED_ROOT_TARGET, SIGNING_CONFIG_TARGET]
        .into_iter()
        .map(|t| (t, std::fs::read(dir.join("targets").join(t)).ok()))
        .collect()
}

/// The role and the check that an error from the TUF client names. Errors
/// that carry no role (integrity, transport, parse) are put on the file that
/// was being fetched.
fn attribute(error: &sigstore_tuf::Error, last_fetch: Option<&str>) -> (String, &'static str) {
    use sigstore_tuf::Error as E;
    let fetched = || {
        last_fetch
            .map(role_of_file)
            .unwrap_or_else(|| "metadata".to_string())
    };
    match error {
        E::ThresholdNotMet { role, .. } => (role.clone(), "signature threshold"),
        E::DuplicateSignature { role, .. } => (role.clone(), "duplicate signature"),
        E::Rollback { role, .. } => (role.clone(), "rollback (version)"),
        E::EqualVersion { role, .. } => (role.clone(), "version"),
        E::BadRootVersion { .. } => ("root".to_string(), "root version increment"),
        E::Expired { role, .. } => (role.clone(), "expiry"),
        E::UnknownRole(role) => (role.clone(), "role"),
        E::TargetNotFound(target) => (format!("targets ({target})"), "target listed"),
        E::NotRefreshed => ("targets".to_string(), "refresh complete"),
        E::IntegrityMismatch(message) => {
            let role = integrity_role(message).unwrap_or_else(fetched);
            let check = if message.contains("version") {
                "version pin"
            } else if message.contains("length") {
                "length"
            } else if message.contains("mismatch") {
                "hash"
            } else {
                "integrity"
            };
            (role, check)
        }
        E::Transport { message, .. } if message.contains("exceeds max") => {
            (fetched(), "download size limit")
        }
        E::Transport { .. } | E::Io { .. } => (fetched(), "download"),
        E::Json(_) | E::Malformed(_) | E::NonIntegerNumber => (fetched(), "format"),
        E::Crypto(_) | E::UnusableKey { .. } | E::UnsupportedScheme { .. } => {
            (fetched(), "signature")
        }
        _ => (fetched(), "verification"),
    }
}

/// The role an integrity message is about: it starts with the file it checked.
fn integrity_role(message: &str) -> Option<String> {
    let file = message.split([':', ' ']).next()?;
    if file.ends_with(".json") || message.starts_with("snapshot version") {
        return Some(role_of_file(file));
    }
    None
}

fn role_of_file(name: &str) -> String {
    let target = name.strip_prefix("target:").or_else(|| {
        [TRUSTED_ROOT_TARGET, SIGNING_CONFIG_TARGET]
            .contains(&name)
            .then_some(name)
    });
    if let Some(path) = target {
        let file = path.rsplit('/').next().unwrap_or(path);
        // Consistent snapshots prefix target file names with their hash.
        let file = file
            .split_once('.')
            .filter(|(hash, _)| hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .map_or(file, |(_, rest)| rest);
        return format!("targets (target {file})");
    }
    let base = name.trim_end_matches(".json");
    base.rsplit('.').next().unwrap_or(base).to_string()
}

fn last_fetch(log: &Mutex<Vec<String>>) -> Option<String> {
    log.lock().ok().and_then(|l| l.last().cloned())
}

/// A repository that records what was asked of it, so an error without a role
/// can be put on the file being fetched, and so a benchmark can count requests.
struct Tracked<R> {
    inner: R,
    log: Arc<Mutex<Vec<String>>>,
}

impl<R> Tracked<R> {
    fn new(inner: R) -> Self {
        Tracked {
            inner,
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }
    fn note(&self, name: String) {
        if let Ok(mut log) = self.log.lock() {
            log.push(name);
        }
    }
}

impl<R: Repository> Repository for Tracked<R> {
    fn fetch_metadata<'a>(&'a self, name: &'a str, max_length: u64) -> FetchFuture<'a> {
        self.note(name.to_string());
        self.inner.fetch_metadata(name, max_length)
    }

    fn fetch_target<'a>(&'a self, path: &'a str, max_length: u64) -> FetchFuture<'a> {
        self.note(format!("target:{path}"));
        self.inner.fetch_target(path, max_length)
    }
}

/// The mirror over gl-sign's own HTTP client (timeouts, user agent, same-host
/// redirects). sigstore-tuf's `HttpRepository` would build and discard a
/// client of its own on every update, which costs more than the update.
/// Metadata is under the base URL, targets under `targets/`, as Sigstore's
/// repositories lay them out; every response is bounded by `max_length`
/// while it is read (the endless-data attack).
struct HttpMirror {
    metadata: reqwest::Url,
    targets: reqwest::Url,
    client: reqwest::Client,
}

impl HttpMirror {
    fn new(base: &str, client: reqwest::Client) -> sigstore_tuf::Result<Self> {
        let invalid = |e| {
            sigstore_tuf::Error::transport_with_source(
                format!("invalid TUF repository URL {base:?}"),
                e,
            )
        };
        let metadata =
            reqwest::Url::parse(&format!("{}/", base.trim_end_matches('/'))).map_err(invalid)?;
        let targets = metadata.join("targets/").map_err(invalid)?;
        Ok(HttpMirror {
            metadata,
            targets,
            client,
        })
    }

    async fn get(
        &self,
        base: &reqwest::Url,
        name: &str,
        max_length: u64,
    ) -> sigstore_tuf::Result<Option<Vec<u8>>> {
        use sigstore_tuf::Error as E;
        let url = base
            .join(name)
            .map_err(|e| E::transport_with_source(format!("invalid file name {name:?}"), e))?;
        let shown = crate::http::redact_url(url.as_str());
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| E::transport_with_source(format!("GET {shown} failed"), e))?;
        // Object stores answer 403 for a missing object; both end the root chain.
        if matches!(response.status().as_u16(), 403 | 404) {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(E::transport(format!(
                "GET {shown} returned status {}",
                response.status()
            )));
        }
        if let Some(length) = response.content_length().filter(|&l| l > max_length) {
            return Err(E::transport(format!(
                "{shown}: content-length {length} exceeds max length {max_length}"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| E::transport_with_source(format!("reading {shown} failed"), e))?
        {
            if body.len() as u64 + chunk.len() as u64 > max_length {
                return Err(E::transport(format!(
                    "{shown}: response exceeds max length {max_length}"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    }
}

impl Repository for HttpMirror {
    fn fetch_metadata<'a>(&'a self, name: &'a str, max_length: u64) -> FetchFuture<'a> {
        Box::pin(self.get(&self.metadata, name, max_length))
    }

    fn fetch_target<'a>(&'a self, path: &'a str, max_length: u64) -> FetchFuture<'a> {
        Box::pin(self.get(&self.targets, path, max_length))
    }
}

/// A store that reads and never writes: reading the cache must not change it.
struct ReadOnly(FileStore);

impl MetadataStore for ReadOnly {
    fn load(&self, name: &str) -> sigstore_tuf::Result<Option<Vec<u8>>> {
        self.0.load(name)
    }
    fn store(&self, _name: &str, _bytes: &[u8]) -> sigstore_tuf::Result<()> {
        Ok(())
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), TufError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| TufError::Cache {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(to).map_err(io("create", to))?;
    for entry in std::fs::read_dir(from).map_err(io("read", from))? {
        let entry = entry.map_err(io("read", from))?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io("read", &entry.path()))?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).map_err(io("copy", &entry.path()))?;
        }
    }
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TufError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let err = |action| {
        let path = path.to_path_buf();
        move |source| TufError::Cache {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(err("create the directory of"))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err("write"))?;
    tmp.write_all(bytes).map_err(err("write"))?;
    tmp.persist(path).map_err(|e| err("write")(e.error))?;
    Ok(())
}

/// Put the verified `staging` directory at `dir`. On Linux the two
/// directories are exchanged in one step, so a reader sees the old cache or
/// the new one, never none; the old one is then deleted with `staging`.
fn swap_in(staging: tempfile::TempDir, dir: &Path) -> Result<(), TufError> {
    let err = |source| TufError::Cache {
        action: "replace",
        path: dir.to_path_buf(),
        source,
    };
    if !dir.exists() {
        return std::fs::rename(staging.path(), dir).map_err(err);
    }
    if exchange(staging.path(), dir).is_ok() {
        drop(staging);
        return Ok(());
    }
    // Elsewhere: move the old cache aside, then the new one in.
    let aside = staging.path().with_extension("old");
    std::fs::rename(dir, &aside).map_err(err)?;
    if let Err(e) = std::fs::rename(staging.path(), dir) {
        let _ = std::fs::rename(&aside, dir);
        return Err(err(e));
    }
    let _ = std::fs::remove_dir_all(aside);
    Ok(())
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the
    // call; renameat2 only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bootstrap roots are the ones Sigstore's root-signing repositories
    /// publish (production root v16, staging root v15), byte for byte.
    #[test]
    fn embedded_bootstrap_roots_are_the_published_ones() {
        use sha2::Digest as _;
        let digest = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
        assert_eq!(
            digest(production_tuf_root()),
            "27aea7e372aa7864065174f0661784fcf8b0e28b1dbfebeada31a0f1fb19167f"
        );
        assert_eq!(
            digest(staging_tuf_root()),
            "3cfd686011642e1fe151d5e413524bc1fe47ac69e87d44a33a811d04fe1795b9"
        );
        assert_eq!(
            production_tuf_root(),
            SigstoreInstance::PublicGood.tuf_root()
        );
        assert_eq!(staging_tuf_root(), SigstoreInstance::Staging.tuf_root());
        for root in [production_tuf_root(), staging_tuf_root()] {
            sigstore_tuf::TrustedMetadataSet::from_root(root).expect("self-signed TUF root");
        }
    }

    #[test]
    fn mirror_names_and_roles() {
        assert_eq!(
            mirror_dirname("http://127.0.0.1:8080/"),
            "http%3A%2F%2F127.0.0.1%3A8080"
        );
        assert_eq!(role_of_file("timestamp.json"), "timestamp");
        assert_eq!(role_of_file("3.snapshot.json"), "snapshot");
        assert_eq!(role_of_file("2.root.json"), "root");
        assert_eq!(
            role_of_file(&format!("target:{}.trusted_root.json", "a".repeat(64))),
            "targets (target trusted_root.json)"
        );
        assert_eq!(
            Mirror::at("https://tuf-repo-cdn.sigstore.dev/").bootstrap,
            Bootstrap::Embedded(Instance::Production)
        );
    }
}
