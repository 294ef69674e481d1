//! Trust material: which Fulcio CAs, Rekor logs, CT logs and TSAs a signature
//! may chain to.
//!
//! The public-good production and staging roots are embedded in the binary, so
//! verification works offline with no set-up. They are the sigstore-rust crates'
//! copies, which are byte-identical to the roots the Sigstore TUF repositories
//! serve (a test pins that). Private deployments and the test suite pass their
//! own `trusted_root.json`.

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
}

impl std::fmt::Display for TrustSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrustSource::PublicGood => f.write_str("the embedded public-good trusted root"),
            TrustSource::Staging => f.write_str("the embedded staging trusted root"),
            TrustSource::File(path) => write!(f, "trusted root {}", path.display()),
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
                "--trusted-root takes a trusted_root.json (media type \
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
        };
        let file_sha256 = matches!(source, TrustSource::File(_)).then(|| {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(json.as_bytes()))
        });
        let root = TrustedRoot::from_json(&json).map_err(|source_err| TrustError::Parse {
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

fn read_file(path: &Path) -> Result<String, TrustError> {
    std::fs::read_to_string(path).map_err(|source| TrustError::Read {
        path: path.to_path_buf(),
        source,
    })
}

crate::register_hint!(TrustError);

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
