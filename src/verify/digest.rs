//! A digest given instead of a file: `sha256:<64 hex>`, as sigstore-python and
//! the Sigstore conformance protocol accept it.

use std::fmt;

/// Algorithm names that mark an argument as a digest rather than a path, so a
/// `sha512:…` is refused as a digest instead of being looked up as a file.
const DIGEST_PREFIXES: &[&str] = &[
    "sha256", "sha384", "sha512", "sha224", "sha1", "md5", "sha3-256", "sha3-384", "sha3-512",
];

/// The sha256 of an artifact that is not at hand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sha256Digest(pub [u8; 32]);

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a digest argument is not a sha256 digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("expected sha256:<64 hex digits>, found {algorithm}:…; gl-sign verifies sha256 digests only")]
    UnsupportedAlgorithm { algorithm: String },
    #[error("expected sha256:<64 hex digits>, found {found} hex digits")]
    WrongLength { found: usize },
    #[error("expected sha256:<64 hex digits>, found a non-hex character {found:?}")]
    NotHex { found: char },
    #[error("expected sha256:<64 hex digits>, found {found:?}")]
    NotADigest { found: String },
}

crate::register_hint!(DigestError);

impl crate::diagnostics::Hint for DigestError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            DigestError::UnsupportedAlgorithm { .. } => {
                "compute it with `sha256sum FILE`, or pass the file itself".into()
            }
            DigestError::NotADigest { .. } => {
                "a path that starts with an algorithm name can be given as ./NAME".into()
            }
            _ => "`sha256sum FILE` prints the 64 hex digits".into(),
        })
    }
}

/// True when `arg` is written as `ALGORITHM:…` for a known hash algorithm,
/// i.e. it is meant as a digest (valid or not), never as a path.
pub fn looks_like_digest(arg: &str) -> bool {
    arg.split_once(':').is_some_and(|(algorithm, _)| {
        DIGEST_PREFIXES
            .iter()
            .any(|known| known.eq_ignore_ascii_case(algorithm))
    })
}

/// Parse `sha256:<64 hex>` (hex in either case).
pub fn parse_sha256(arg: &str) -> Result<Sha256Digest, DigestError> {
    let Some((algorithm, hex_part)) = arg.split_once(':') else {
        return Err(DigestError::NotADigest {
            found: arg.chars().take(80).collect(),
        });
    };
    if !algorithm.eq_ignore_ascii_case("sha256") {
        if looks_like_digest(arg) {
            return Err(DigestError::UnsupportedAlgorithm {
                algorithm: algorithm.to_ascii_lowercase(),
            });
        }
        return Err(DigestError::NotADigest {
            found: arg.chars().take(80).collect(),
        });
    }
    if let Some(found) = hex_part.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(DigestError::NotHex { found });
    }
    if hex_part.len() != 64 {
        return Err(DigestError::WrongLength {
            found: hex_part.len(),
        });
    }
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut digest).map_err(|_| DigestError::WrongLength {
        found: hex_part.len(),
    })?;
    Ok(Sha256Digest(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let hex = "ab".repeat(32);
        assert_eq!(
            parse_sha256(&format!("sha256:{hex}")).unwrap().0,
            [0xab; 32]
        );
        assert_eq!(
            parse_sha256(&format!("SHA256:{}", hex.to_uppercase()))
                .unwrap()
                .0,
            [0xab; 32]
        );
        assert_eq!(
            parse_sha256("sha256:abcd").unwrap_err(),
            DigestError::WrongLength { found: 4 }
        );
        assert_eq!(
            parse_sha256(&format!("sha256:{}zz", "a".repeat(62))).unwrap_err(),
            DigestError::NotHex { found: 'z' }
        );
        assert_eq!(
            parse_sha256(&format!("sha512:{}", "a".repeat(128))).unwrap_err(),
            DigestError::UnsupportedAlgorithm {
                algorithm: "sha512".into()
            }
        );
        assert!(matches!(
            parse_sha256("dist/pkg.whl").unwrap_err(),
            DigestError::NotADigest { .. }
        ));
        // Multi-byte input never panics on slicing.
        assert!(parse_sha256("sha256:é").is_err());
        assert!(looks_like_digest("sha512:00"));
        assert!(looks_like_digest("sha256:"));
        assert!(!looks_like_digest("dist/pkg.whl"));
        assert!(!looks_like_digest("C:/pkg.whl"));
    }
}
