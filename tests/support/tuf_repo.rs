//! A TUF repository on 127.0.0.1 (issue 11): real root, targets, snapshot and
//! timestamp metadata, signed with ECDSA P-256 keys made here, serving a
//! trusted root and signing config as targets, with consistent snapshots as
//! Sigstore's repositories use. The attacks of the TUF specification are
//! switches ([`Attack`]); every one of them changes only what is served.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use sigstore_crypto::KeyPair;

use super::server::{bind_local, run_server, RunningServer};

pub const TRUSTED_ROOT: &str = "trusted_root.json";
pub const SIGNING_CONFIG: &str = "signing_config.v0.2.json";

/// What a compromised or broken mirror does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// A new timestamp (higher version) that has already expired.
    ExpiredTimestamp,
    /// The previous timestamp is served again (freeze / rollback).
    RollbackTimestamp,
    /// A new timestamp pins an older snapshot version.
    RollbackSnapshot,
    /// A new snapshot pins an older targets version.
    RollbackTargets,
    /// `N+1.root.json` serves root version 1 again.
    RollbackRoot,
    /// New targets are published, but the pinned targets file is the old one.
    MixAndMatch,
    /// New targets are published, but the trusted root target has one byte changed.
    TargetHash,
    /// New targets are published, but the trusted root target lacks its last byte.
    TargetLength,
    /// A new timestamp signed by a key the root does not authorise.
    ThresholdNotMet,
    /// `timestamp.json` is an endless stream of bytes.
    EndlessTimestamp,
    /// A new root signed only by its own new key, not by the current root's.
    BadRootRotation,
}

struct Signer {
    id: String,
    entry: Value,
    key: KeyPair,
}

impl Signer {
    fn new() -> Self {
        let key = KeyPair::generate_ecdsa_p256().expect("P-256 key");
        let pem = key.public_key_der().expect("public key").to_pem();
        let entry = json!({
            "keytype": "ecdsa",
            "scheme": "ecdsa-sha2-nistp256",
            "keyval": { "public": pem },
        });
        let parsed: sigstore_tuf::Key = serde_json::from_value(entry.clone()).expect("TUF key");
        Signer {
            id: parsed.key_id().expect("key id"),
            entry,
            key,
        }
    }

    fn sign(&self, signed: &Value) -> Value {
        let canonical =
            sigstore_tuf::canonical_json::to_canonical_bytes(signed).expect("canonical");
        let sig = self.key.sign(&canonical).expect("sign");
        json!({ "keyid": self.id, "sig": hex::encode(sig.as_bytes()) })
    }
}

struct Keys {
    root: Signer,
    timestamp: Signer,
    snapshot: Signer,
    targets: Signer,
}

impl Keys {
    fn new() -> Self {
        Keys {
            root: Signer::new(),
            timestamp: Signer::new(),
            snapshot: Signer::new(),
            targets: Signer::new(),
        }
    }
}

struct RepoState {
    keys: Keys,
    root_version: u64,
    /// `N.root.json` bytes, index N-1.
    roots: Vec<Vec<u8>>,
    targets_version: u64,
    snapshot_version: u64,
    timestamp_version: u64,
    /// Every timestamp published, oldest first.
    timestamps: Vec<Vec<u8>>,
    targets: BTreeMap<String, Vec<u8>>,
    expires: String,
    /// What is served, by path (no leading slash).
    files: HashMap<String, Vec<u8>>,
    endless: HashSet<String>,
    requests: Vec<String>,
}

fn envelope(signed: Value, signatures: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({ "signed": signed, "signatures": signatures })).expect("JSON")
}

fn sha256(bytes: &[u8]) -> String {
    sigstore_crypto::sha256(bytes).to_hex()
}

impl RepoState {
    fn root_signed(&self, version: u64, keys: &Keys) -> Value {
        let mut all = serde_json::Map::new();
        for s in [&keys.root, &keys.timestamp, &keys.snapshot, &keys.targets] {
            all.insert(s.id.clone(), s.entry.clone());
        }
        let role = |s: &Signer| json!({ "keyids": [s.id], "threshold": 1 });
        json!({
            "_type": "root",
            "spec_version": "1.0.31",
            "version": version,
            "expires": self.expires,
            "consistent_snapshot": true,
            "keys": all,
            "roles": {
                "root": role(&keys.root),
                "timestamp": role(&keys.timestamp),
                "snapshot": role(&keys.snapshot),
                "targets": role(&keys.targets),
            },
        })
    }

    fn write_targets(&mut self) {
        let mut listed = serde_json::Map::new();
        for (name, content) in &self.targets {
            listed.insert(
                name.clone(),
                json!({ "length": content.len(), "hashes": { "sha256": sha256(content) } }),
            );
            self.files.insert(
                format!("targets/{}.{name}", sha256(content)),
                content.clone(),
            );
        }
        let signed = json!({
            "_type": "targets",
            "spec_version": "1.0.31",
            "version": self.targets_version,
            "expires": self.expires,
            "targets": listed,
        });
        let sig = self.keys.targets.sign(&signed);
        self.files.insert(
            format!("{}.targets.json", self.targets_version),
            envelope(signed, vec![sig]),
        );
    }

    /// A snapshot pinning `targets_version` (version only, as Sigstore's do).
    fn write_snapshot(&mut self, targets_version: u64) {
        let signed = json!({
            "_type": "snapshot",
            "spec_version": "1.0.31",
            "version": self.snapshot_version,
            "expires": self.expires,
            "meta": { "targets.json": { "version": targets_version } },
        });
        let sig = self.keys.snapshot.sign(&signed);
        self.files.insert(
            format!("{}.snapshot.json", self.snapshot_version),
            envelope(signed, vec![sig]),
        );
    }

    /// A timestamp pinning snapshot `snapshot_version` by version, length and hash.
    fn write_timestamp(&mut self, snapshot_version: u64, expires: &str, signer: Option<&Signer>) {
        let snapshot = &self.files[&format!("{snapshot_version}.snapshot.json")];
        let signed = json!({
            "_type": "timestamp",
            "spec_version": "1.0.31",
            "version": self.timestamp_version,
            "expires": expires,
            "meta": { "snapshot.json": {
                "version": snapshot_version,
                "length": snapshot.len(),
                "hashes": { "sha256": sha256(snapshot) },
            } },
        });
        let mut sig = signer.unwrap_or(&self.keys.timestamp).sign(&signed);
        // A foreign key claims the timestamp key's ID, so the signature is
        // counted against the role and found invalid.
        sig["keyid"] = json!(self.keys.timestamp.id);
        let bytes = envelope(signed, vec![sig]);
        self.timestamps.push(bytes.clone());
        self.files.insert("timestamp.json".into(), bytes);
    }

    fn write_root(&mut self, new_keys: Keys, signed_by_old: bool) {
        let version = self.root_version + 1;
        let signed = self.root_signed(version, &new_keys);
        let mut sigs = vec![new_keys.root.sign(&signed)];
        if signed_by_old {
            sigs.push(self.keys.root.sign(&signed));
        }
        let bytes = envelope(signed, sigs);
        self.files
            .insert(format!("{version}.root.json"), bytes.clone());
        self.roots.push(bytes);
        self.root_version = version;
        self.keys = new_keys;
    }

    /// Re-sign and publish targets, snapshot and timestamp at new versions.
    fn publish_all(&mut self) {
        self.targets_version += 1;
        self.snapshot_version += 1;
        self.timestamp_version += 1;
        self.write_targets();
        self.write_snapshot(self.targets_version);
        let expires = self.expires.clone();
        self.write_timestamp(self.snapshot_version, &expires, None);
    }
}

/// The running repository.
pub struct TufRepo {
    url: String,
    state: Arc<Mutex<RepoState>>,
    _server: RunningServer,
}

fn lock(state: &Mutex<RepoState>) -> std::sync::MutexGuard<'_, RepoState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl TufRepo {
    /// Root, targets, snapshot and timestamp version 1, serving `trusted_root`
    /// and `signing_config`; metadata expires in a year.
    pub fn start(trusted_root: &str, signing_config: &str) -> Self {
        let expires = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365))
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let mut state = RepoState {
            keys: Keys::new(),
            root_version: 0,
            roots: Vec::new(),
            targets_version: 0,
            snapshot_version: 0,
            timestamp_version: 0,
            timestamps: Vec::new(),
            targets: BTreeMap::from([
                (TRUSTED_ROOT.to_string(), trusted_root.as_bytes().to_vec()),
                (
                    SIGNING_CONFIG.to_string(),
                    signing_config.as_bytes().to_vec(),
                ),
            ]),
            expires,
            files: HashMap::new(),
            endless: HashSet::new(),
            requests: Vec::new(),
        };
        // Root 1 is self-signed: its "old" keys are its own.
        let signed = state.root_signed(1, &state.keys);
        let bytes = envelope(signed.clone(), vec![state.keys.root.sign(&signed)]);
        state.files.insert("1.root.json".into(), bytes.clone());
        state.roots.push(bytes);
        state.root_version = 1;
        state.publish_all();

        let state = Arc::new(Mutex::new(state));
        let (listener, url) = bind_local();
        let app = Router::new().fallback(serve).with_state(state.clone());
        let server = run_server("tuf", listener, app);
        TufRepo {
            url,
            state,
            _server: server,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// `1.root.json`, the bootstrap root for `--root`.
    pub fn first_root(&self) -> Vec<u8> {
        lock(&self.state).roots[0].clone()
    }

    pub fn write_first_root(&self, dir: &Path) -> PathBuf {
        let path = dir.join("tuf-root.json");
        std::fs::write(&path, self.first_root()).expect("write root");
        path
    }

    pub fn root_version(&self) -> u64 {
        lock(&self.state).root_version
    }

    /// Publish new target contents (targets, snapshot, timestamp versions +1).
    pub fn publish_targets(&self, trusted_root: &str, signing_config: &str) {
        let mut st = lock(&self.state);
        st.targets
            .insert(TRUSTED_ROOT.into(), trusted_root.as_bytes().to_vec());
        st.targets
            .insert(SIGNING_CONFIG.into(), signing_config.as_bytes().to_vec());
        st.publish_all();
    }

    /// A new timestamp only, as the repository's timestamp job does daily.
    pub fn publish_timestamp(&self) {
        let mut st = lock(&self.state);
        st.timestamp_version += 1;
        let (snapshot, expires) = (st.snapshot_version, st.expires.clone());
        st.write_timestamp(snapshot, &expires, None);
    }

    /// A new timestamp that expires `seconds` from now (a freeze in waiting).
    pub fn publish_timestamp_expiring_in(&self, seconds: i64) {
        let mut st = lock(&self.state);
        st.timestamp_version += 1;
        let expires = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds))
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let snapshot = st.snapshot_version;
        st.write_timestamp(snapshot, &expires, None);
    }

    /// Root version +1 with new keys for every role, signed by the old and the
    /// new root key; all other metadata re-signed with the new keys.
    pub fn rotate_root(&self) {
        let mut st = lock(&self.state);
        st.write_root(Keys::new(), true);
        st.publish_all();
    }

    /// Switch an attack on.
    pub fn attack(&self, attack: Attack) {
        let mut st = lock(&self.state);
        match attack {
            Attack::ExpiredTimestamp => {
                st.timestamp_version += 1;
                let snapshot = st.snapshot_version;
                st.write_timestamp(snapshot, "2001-01-01T00:00:00Z", None);
            }
            Attack::RollbackTimestamp => {
                let n = st.timestamps.len();
                assert!(n >= 2, "publish a second timestamp first");
                let old = st.timestamps[n - 2].clone();
                st.files.insert("timestamp.json".into(), old);
            }
            Attack::RollbackSnapshot => {
                assert!(st.snapshot_version >= 2, "publish a second snapshot first");
                st.timestamp_version += 1;
                let (old, expires) = (st.snapshot_version - 1, st.expires.clone());
                st.write_timestamp(old, &expires, None);
            }
            Attack::RollbackTargets => {
                assert!(st.targets_version >= 2, "publish second targets first");
                st.snapshot_version += 1;
                st.timestamp_version += 1;
                let old_targets = st.targets_version - 1;
                st.write_snapshot(old_targets);
                let (snapshot, expires) = (st.snapshot_version, st.expires.clone());
                st.write_timestamp(snapshot, &expires, None);
            }
            Attack::RollbackRoot => {
                let next = st.root_version + 1;
                let first = st.roots[0].clone();
                st.files.insert(format!("{next}.root.json"), first);
            }
            Attack::MixAndMatch => {
                let old = st.files[&format!("{}.targets.json", st.targets_version)].clone();
                let marker = b"\n".to_vec();
                let content = [st.targets[TRUSTED_ROOT].clone(), marker].concat();
                st.targets.insert(TRUSTED_ROOT.into(), content);
                st.publish_all();
                let pinned = format!("{}.targets.json", st.targets_version);
                st.files.insert(pinned, old);
            }
            Attack::TargetHash | Attack::TargetLength => {
                let content = [st.targets[TRUSTED_ROOT].clone(), b"\n".to_vec()].concat();
                let path = format!("targets/{}.{TRUSTED_ROOT}", sha256(&content));
                st.targets.insert(TRUSTED_ROOT.into(), content);
                st.publish_all();
                let served = st.files.get_mut(&path).expect("target served");
                if attack == Attack::TargetHash {
                    let last = served.len() - 2;
                    served[last] ^= 0x01;
                } else {
                    served.pop();
                }
            }
            Attack::ThresholdNotMet => {
                st.timestamp_version += 1;
                let foreign = Signer::new();
                let (snapshot, expires) = (st.snapshot_version, st.expires.clone());
                st.write_timestamp(snapshot, &expires, Some(&foreign));
            }
            Attack::EndlessTimestamp => {
                st.endless.insert("timestamp.json".into());
            }
            Attack::BadRootRotation => {
                st.write_root(Keys::new(), false);
                st.publish_all();
            }
        }
    }

    /// Paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }

    pub fn reset_requests(&self) {
        lock(&self.state).requests.clear();
    }
}

async fn serve(State(state): State<Arc<Mutex<RepoState>>>, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/').to_string();
    let (endless, body) = {
        let mut st = lock(&state);
        st.requests.push(path.clone());
        (st.endless.contains(&path), st.files.get(&path).cloned())
    };
    if endless {
        // No content-length: the client must stop reading by itself.
        let chunk = Bytes::from(vec![b' '; 64 * 1024]);
        let stream =
            futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
        return Response::builder()
            .status(StatusCode::OK)
            .body(Body::from_stream(stream))
            .expect("response");
    }
    match body {
        Some(bytes) => (StatusCode::OK, bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// One trusted root that lists everything `a` and `b` list: what a
/// repository publishes when a new log or CA is added beside the old ones.
pub fn merge_trusted_roots(a: &str, b: &str) -> String {
    let mut merged: Value = serde_json::from_str(a).expect("root JSON");
    let other: Value = serde_json::from_str(b).expect("root JSON");
    for list in [
        "tlogs",
        "certificateAuthorities",
        "ctlogs",
        "timestampAuthorities",
    ] {
        let extra = other[list].as_array().cloned().unwrap_or_default();
        match merged[list].as_array_mut() {
            Some(items) => items.extend(extra),
            None => merged[list] = Value::Array(extra),
        }
    }
    serde_json::to_string_pretty(&merged).expect("JSON")
}
