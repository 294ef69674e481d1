//! Trust material: which Fulcio CAs, Rekor logs, CT logs and TSAs a signature
//! may chain to.
//!
//! The public-good production and staging roots are embedded in the binary, so
//! verification works offline with no set-up. They are the sigstore-rust crates'
//! copies, which are byte-identical to the roots the Sigstore TUF repositories
//! serve (a test pins that). Private deployments and the test suite pass their
//! own `trusted_root.json`. A verified TUF repository ([`tuf`]) supplies newer
//! ones.

pub mod tuf;

use std::path::{Path, PathBuf};

use sigstore_trust_root::{
    TrustedRoot, SIGSTORE_PRODUCTION_TRUSTED_ROOT, SIGSTORE_STAGING_TRUSTED_ROOT,
};

use crate::diagnostics::Hint;

/// The public-good production `trusted_root.json`, as embedded.
pub const PRODUCTION_TRUSTED_ROOT_JSON: &str = SIGSTORE_PRODUCTION_TRUSTED_ROOT;
/// The public-good staging `trusted_root.json`, as embedded.
pub const STAGING_TRUSTED_ROOT_JSON: &str = SIGSTORE_STAGING_TRUSTED_ROOT;

/// The public-good Rekor, used when the trust root names none.
pub const PUBLIC_GOOD_REKOR_URL: &str = "https://rekor.sigstore.dev";

/// Where the trust material comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    PublicGood,
    Staging,
    File(PathBuf),
    /// A `trusted_root.json` from a TUF repository, verified from its cache.
    Tuf(tuf::TufStatus),
}

impl std::fmt::Display for TrustSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrustSource::PublicGood => f.write_str("the embedded public-good trusted root"),
            TrustSource::Staging => f.write_str("the embedded staging trusted root"),
            TrustSource::File(path) => write!(f, "trusted root {}", path.display()),
            TrustSource::Tuf(status) => {
                write!(f, "the trusted root from TUF repository {}", status.mirror)
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read trusted root {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{source_name} is not a valid Sigstore trusted root")]
    Parse {
        source_name: String,
        #[source]
        source: sigstore_trust_root::Error,
    },
    #[error("{source_name} is not a trusted root: expected media type application/vnd.dev.sigstore.trustedroot+json, found {found:?}")]
    WrongMediaType { source_name: String, found: String },
    #[error("{source_name} lists no {missing}; gl-sign checks certificates, SCTs and log entries, so all are required")]
    Incomplete {
        source_name: String,
        missing: String,
    },
    #[error("{source_name} cannot be used for verification")]
    Unusable {
        source_name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Hint for TrustError {
    fn hint(&self) -> Option<String> {
        match self {
            TrustError::Parse { .. } | TrustError::WrongMediaType { .. } => Some(
                "a trusted root is a trusted_root.json (media type \
                 application/vnd.dev.sigstore.trustedroot+json), not a signing config or a PEM file"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Loaded trust material.
#[derive(Debug, Clone)]
pub struct TrustMaterial {
    pub(crate) root: TrustedRoot,
    pub source: TrustSource,
    /// sha256 of the file, for a root read from a file: a verdict names the
    /// exact bytes that decided it.
    pub file_sha256: Option<String>,
}

impl TrustMaterial {
    pub fn load(source: &TrustSource) -> Result<Self, TrustError> {
        let json = match source {
            TrustSource::PublicGood => PRODUCTION_TRUSTED_ROOT_JSON.to_string(),
            TrustSource::Staging => STAGING_TRUSTED_ROOT_JSON.to_string(),
            TrustSource::File(path) => read_file(path)?,
            // The cache is only ever read through its TUF verification.
            TrustSource::Tuf(status) => {
                let cache = tuf::TufCache::new(status.dir.parent().unwrap_or(Path::new(".")));
                let mirror = tuf::Mirror::at(&status.mirror);
                return load_tuf(&cache, &mirror, jiff::Timestamp::now()).map_err(|e| {
                    TrustError::Unusable {
                        source_name: source.to_string(),
                        source: Box::new(e),
                    }
                });
            }
        };
        Self::from_json(&json, source.clone())
    }

    /// Parse and check a `trusted_root.json` that came from `source`.
    pub fn from_json(json: &str, source: TrustSource) -> Result<Self, TrustError> {
        let source = &source;
        // A root that is not embedded is named by the sha256 of its bytes.
        let file_sha256 =
            (!matches!(source, TrustSource::PublicGood | TrustSource::Staging)).then(|| {
                use sha2::Digest as _;
                hex::encode(sha2::Sha256::digest(json.as_bytes()))
            });
        let root = TrustedRoot::from_json(json).map_err(|source_err| TrustError::Parse {
            source_name: source.to_string(),
            source: source_err,
        })?;
        // The upstream parser defaults missing lists to empty, so a signing
        // config or an unrelated JSON object would load as a root that trusts
        // nothing; say so now rather than fail every signature later.
        if !root
            .media_type
            .starts_with("application/vnd.dev.sigstore.trustedroot")
        {
            return Err(TrustError::WrongMediaType {
                source_name: source.to_string(),
                found: root.media_type.clone(),
            });
        }
        let missing: Vec<&str> = [
            (
                root.certificate_authorities.is_empty(),
                "certificateAuthorities",
            ),
            (root.tlogs.is_empty(), "tlogs"),
            (root.ctlogs.is_empty(), "ctlogs"),
        ]
        .into_iter()
        .filter_map(|(empty, name)| empty.then_some(name))
        .collect();
        if !missing.is_empty() {
            return Err(TrustError::Incomplete {
                source_name: source.to_string(),
                missing: missing.join(", "),
            });
        }
        Ok(TrustMaterial {
            root,
            source: source.clone(),
            file_sha256,
        })
    }

    /// The trust root as a verdict names it: which embedded root, or the
    /// file and the sha256 of its bytes.
    pub fn describe(&self) -> String {
        match (&self.source, &self.file_sha256) {
            (TrustSource::PublicGood, _) => "embedded public-good production root".into(),
            (TrustSource::Staging, _) => "embedded public-good staging root".into(),
            (TrustSource::File(path), Some(sha)) => {
                format!("{} (sha256:{sha})", path.display())
            }
            (TrustSource::File(path), None) => path.display().to_string(),
            (TrustSource::Tuf(status), Some(sha)) => {
                format!(
                    "TUF repository {} (trusted_root.json sha256:{sha})",
                    status.mirror
                )
            }
            (TrustSource::Tuf(status), None) => format!("TUF repository {}", status.mirror),
        }
    }

    /// The Rekor v1 log to search for detached signatures: the first log the
    /// root lists, which is the v1 log in both public-good roots (v2 logs have
    /// no search API) and the local log in a test root.
    pub fn rekor_url(&self) -> String {
        self.root
            .tlogs
            .first()
            .map(|log| log.base_url.trim_end_matches('/').to_string())
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| PUBLIC_GOOD_REKOR_URL.to_string())
    }
}

/// Where `verify-blob` and `consumer-verify` look for trust material.
#[derive(Debug, Clone)]
pub struct TrustRequest<'a> {
    /// `--trusted-root FILE`: used as given, nothing else is consulted.
    pub trusted_root: Option<&'a Path>,
    /// `--staging`: the staging TUF cache, else the embedded staging root.
    pub staging: bool,
    /// The TUF cache; `None` uses the embedded roots only.
    pub tuf: Option<tuf::TufCache>,
    pub now: jiff::Timestamp,
}

/// The trust material chosen, the TUF repository that can refresh it, and why
/// a TUF cache that exists was not used.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub material: TrustMaterial,
    /// The repository a refresh would update: `None` for `--trusted-root`.
    pub mirror: Option<tuf::Mirror>,
    pub note: Option<String>,
}

impl TrustMaterial {
    /// `--trusted-root FILE` when given; else the TUF cache when its metadata
    /// verifies and has not expired; else the embedded root. A cache is never
    /// used unverified: one that fails is reported in `note` and skipped.
    pub fn resolve(request: &TrustRequest<'_>) -> Result<Resolved, TrustError> {
        use tuf::{Instance, Mirror};
        if let Some(path) = request.trusted_root {
            return Ok(Resolved {
                material: TrustMaterial::load(&TrustSource::File(path.to_path_buf()))?,
                mirror: None,
                note: None,
            });
        }
        let (embedded, mirror) = match (&request.tuf, request.staging) {
            (_, true) => (TrustSource::Staging, Mirror::public(Instance::Staging)),
            (Some(cache), false) => (TrustSource::PublicGood, cache.selected()),
            (None, false) => (
                TrustSource::PublicGood,
                Mirror::public(Instance::Production),
            ),
        };
        let mut note = None;
        if let Some(cache) = &request.tuf {
            if cache.has_cache(&mirror) {
                match load_tuf(cache, &mirror, request.now) {
                    Ok(material) => {
                        return Ok(Resolved {
                            material,
                            mirror: Some(mirror),
                            note: None,
                        })
                    }
                    Err(e) => {
                        note = Some(format!(
                            "not using the TUF cache of {}: {}; using {embedded}",
                            mirror.url,
                            tuf::error_text(&e)
                        ))
                    }
                }
            } else if tuf::public_instance(&mirror.url).is_none() {
                note = Some(format!(
                    "the TUF repository {} has no cache in {}; using {embedded}",
                    mirror.url,
                    cache.base().display()
                ));
            }
        }
        Ok(Resolved {
            material: TrustMaterial::load(&embedded)?,
            mirror: Some(mirror),
            note,
        })
    }

    /// Every CA, log, CT log and TSA this material trusts, with its validity.
    pub fn authorities(&self) -> Vec<Authority> {
        let window = |range: Option<&sigstore_types::TimeRange>| {
            (range.map(|r| r.start), range.and_then(|r| r.end))
        };
        let mut out = Vec::new();
        for ca in &self.root.certificate_authorities {
            let (start, end) = window(ca.valid_for.as_ref());
            let name = [&ca.subject.organization, &ca.subject.common_name]
                .iter()
                .filter_map(|p| p.as_deref())
                .collect::<Vec<_>>()
                .join(" / ");
            out.push(Authority {
                kind: AuthorityKind::CertificateAuthority,
                url: ca.uri.clone(),
                id: name,
                start,
                end,
            });
        }
        for log in &self.root.tlogs {
            let (start, end) = window(log.public_key.valid_for.as_ref());
            out.push(Authority {
                kind: AuthorityKind::TransparencyLog,
                url: log.base_url.clone(),
                id: hex::encode(log.log_id.key_id.as_bytes()),
                start,
                end,
            });
        }
        for log in &self.root.ctlogs {
            let (start, end) = window(log.public_key.valid_for.as_ref());
            out.push(Authority {
                kind: AuthorityKind::CtLog,
                url: log.base_url.clone(),
                id: hex::encode(log.log_id.key_id.as_bytes()),
                start,
                end,
            });
        }
        for tsa in &self.root.timestamp_authorities {
            let (start, end) = window(tsa.valid_for.as_ref());
            let name = [&tsa.subject.organization, &tsa.subject.common_name]
                .iter()
                .filter_map(|p| p.as_deref())
                .collect::<Vec<_>>()
                .join(" / ");
            out.push(Authority {
                kind: AuthorityKind::TimestampAuthority,
                url: tsa.uri.clone().unwrap_or_default(),
                id: name,
                start,
                end,
            });
        }
        out
    }
}

/// One CA, log, CT log or TSA of a trusted root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub kind: AuthorityKind,
    pub url: String,
    /// The log ID (hex) for logs, the subject for CAs and TSAs.
    pub id: String,
    pub start: Option<jiff::Timestamp>,
    /// `None`: still valid.
    pub end: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorityKind {
    CertificateAuthority,
    TransparencyLog,
    CtLog,
    TimestampAuthority,
}

impl AuthorityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorityKind::CertificateAuthority => "ca",
            AuthorityKind::TransparencyLog => "tlog",
            AuthorityKind::CtLog => "ctlog",
            AuthorityKind::TimestampAuthority => "tsa",
        }
    }
}

/// Why a verified TUF cache could not be used as trust material.
#[derive(Debug, thiserror::Error)]
pub enum TufTrustError {
    #[error(transparent)]
    Tuf(#[from] tuf::TufError),
    #[error("the TUF target trusted_root.json is not usable")]
    Target(#[source] TrustError),
}

fn load_tuf(
    cache: &tuf::TufCache,
    mirror: &tuf::Mirror,
    now: jiff::Timestamp,
) -> Result<TrustMaterial, TufTrustError> {
    let cached = cache.load_blocking(mirror, now)?;
    let json = String::from_utf8_lossy(&cached.trusted_root);
    TrustMaterial::from_json(&json, TrustSource::Tuf(cached.status)).map_err(TufTrustError::Target)
}

/// The signing config of the TUF repository in use, when its cache verifies:
/// sign-blob then follows what the repository says (new logs, a TSA). It is
/// named after the repository in messages.
pub fn tuf_signing_config(
    cache: &tuf::TufCache,
    staging: bool,
    now: jiff::Timestamp,
) -> Option<(crate::sign::SigningConfig, tuf::TufStatus)> {
    let mirror = if staging {
        tuf::Mirror::public(tuf::Instance::Staging)
    } else {
        cache.selected()
    };
    if !cache.has_cache(&mirror) {
        return None;
    }
    let cached = cache.load_blocking(&mirror, now).ok()?;
    let json = String::from_utf8(cached.signing_config?).ok()?;
    let config = sigstore_trust_root::SigningConfig::from_json(&json).ok()?;
    let origin = format!(
        "the signing config of TUF repository {}",
        crate::http::redact_url(&cached.status.mirror)
    );
    Some((
        crate::sign::SigningConfig::from_parts(config, origin),
        cached.status,
    ))
}

fn read_file(path: &Path) -> Result<String, TrustError> {
    std::fs::read_to_string(path).map_err(|source| TrustError::Read {
        path: path.to_path_buf(),
        source,
    })
}

crate::register_hint!(TrustError);
// `Tuf` is transparent, so its hint is not in the chain: delegate.
impl Hint for TufTrustError {
    fn hint(&self) -> Option<String> {
        match self {
            TufTrustError::Tuf(e) => e.hint(),
            TufTrustError::Target(e) => e.hint(),
        }
    }
}
crate::register_hint!(TufTrustError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_roots_load_and_name_their_rekor() {
        let prod = TrustMaterial::load(&TrustSource::PublicGood).unwrap();
        assert_eq!(prod.rekor_url(), "https://rekor.sigstore.dev");
        let staging = TrustMaterial::load(&TrustSource::Staging).unwrap();
        assert_eq!(staging.rekor_url(), "https://rekor.sigstage.dev");
    }

    #[test]
    fn a_root_without_ct_logs_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.json");
        let mut root: serde_json::Value =
            serde_json::from_str(PRODUCTION_TRUSTED_ROOT_JSON).unwrap();
        root["ctlogs"] = serde_json::json!([]);
        std::fs::write(&path, root.to_string()).unwrap();
        let err = TrustMaterial::load(&TrustSource::File(path)).unwrap_err();
        assert!(err.to_string().contains("lists no ctlogs"), "{err}");
    }

    #[test]
    fn a_signing_config_is_not_a_trusted_root() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json"}"#,
        )
        .unwrap();
        let err = TrustMaterial::load(&TrustSource::File(path)).unwrap_err();
        assert!(matches!(err, TrustError::WrongMediaType { .. }), "{err:?}");
        assert!(err.hint().unwrap().contains("trusted_root.json"));
    }
}
