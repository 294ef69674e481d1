//! The OIDC identity token: decoded (not trusted: Fulcio verifies it) so that a
//! token that cannot work is refused before any network call, and so the user
//! is told which identity the certificate will carry.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

/// Fulcio's client ID for the public-good instance and GitLab's documented `aud`.
pub const SIGSTORE_AUDIENCE: &str = "sigstore";

/// Clock skew tolerated on `nbf`/`exp`, as GitLab sets `nbf = now - 5s`.
const LEEWAY_SECONDS: i64 = 30;

/// A JWT that must never be printed: `Debug` and `Display` show only its claims.
#[derive(Clone)]
pub struct IdentityToken {
    jwt: String,
    claims: TokenClaims,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TokenClaims {
    pub iss: String,
    pub sub: String,
    #[serde(default, deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub email: Option<String>,
    /// GitLab: `host/group/project//.gitlab-ci.yml@refs/...` (no scheme).
    #[serde(default)]
    pub ci_config_ref_uri: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the identity token is not a JWT: {0}")]
    Malformed(String),
    #[error("the identity token expired at {exp} (now {now}); GitLab tokens live as long as the job's timeout")]
    Expired {
        exp: jiff::Timestamp,
        now: jiff::Timestamp,
    },
    #[error(
        "the identity token is not valid before {nbf} (now {now}); check this machine's clock"
    )]
    NotYetValid {
        nbf: jiff::Timestamp,
        now: jiff::Timestamp,
    },
    #[error("the identity token's audience is {found:?}, expected \"sigstore\"")]
    WrongAudience { found: Vec<String> },
}

impl TokenError {
    pub fn hint(&self) -> Option<String> {
        match self {
            TokenError::WrongAudience { .. } => Some(
                "request the token in .gitlab-ci.yml with `id_tokens: {SIGSTORE_ID_TOKEN: {aud: sigstore}}`".into(),
            ),
            TokenError::Malformed(_) => Some(
                "the identity token is the JWT itself or a file holding it; in GitLab CI set \
                 id_tokens: SIGSTORE_ID_TOKEN"
                    .into(),
            ),
            TokenError::Expired { .. } => Some("re-run the job to get a fresh token".into()),
            TokenError::NotYetValid { .. } => None,
        }
    }
}

impl IdentityToken {
    /// Decode and check expiry, not-before and audience at `now`.
    pub fn parse(jwt: &str, now: jiff::Timestamp) -> Result<Self, TokenError> {
        let jwt = jwt.trim();
        let mut parts = jwt.split('.');
        let (Some(_header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed(
                "expected three dot-separated parts".into(),
            ));
        };
        let payload = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| TokenError::Malformed("the payload is not base64url".into()))?;
        let claims: TokenClaims = serde_json::from_slice(&payload)
            .map_err(|e| TokenError::Malformed(format!("claims: {e}")))?;
        let at = |secs: i64| jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::MAX);
        if now.as_second() >= claims.exp + LEEWAY_SECONDS {
            return Err(TokenError::Expired {
                exp: at(claims.exp),
                now,
            });
        }
        if let Some(nbf) = claims.nbf {
            if now.as_second() + LEEWAY_SECONDS < nbf {
                return Err(TokenError::NotYetValid { nbf: at(nbf), now });
            }
        }
        if !claims.aud.iter().any(|aud| aud == SIGSTORE_AUDIENCE) {
            return Err(TokenError::WrongAudience { found: claims.aud });
        }
        Ok(IdentityToken {
            jwt: jwt.to_string(),
            claims,
        })
    }

    pub fn claims(&self) -> &TokenClaims {
        &self.claims
    }

    /// The SAN Fulcio will put in the certificate: `https://` + `ci_config_ref_uri`
    /// for GitLab CI, else the email, else the subject.
    pub fn expected_identity(&self) -> String {
        if let Some(uri) = &self.claims.ci_config_ref_uri {
            return format!("https://{uri}");
        }
        self.claims
            .email
            .clone()
            .unwrap_or_else(|| self.claims.sub.clone())
    }

    /// What the proof of possession signs: the email, else `sub` (Fulcio's
    /// principal name; GitLab tokens have no `email` claim).
    pub fn proof_subject(&self) -> &str {
        self.claims.email.as_deref().unwrap_or(&self.claims.sub)
    }

    pub fn expires_at(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_second(self.claims.exp).unwrap_or(jiff::Timestamp::MAX)
    }

    /// The raw JWT, for the Fulcio request only.
    pub(crate) fn expose(&self) -> &str {
        &self.jwt
    }
}

impl fmt::Debug for IdentityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityToken")
            .field("jwt", &"<redacted>")
            .field("claims", &self.claims)
            .finish()
    }
}

crate::register_hint!(inherent TokenError);

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        let enc = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.{}",
            enc(br#"{"alg":"RS256"}"#),
            enc(claims.to_string().as_bytes()),
            enc(b"sig")
        )
    }

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn gitlab(aud: serde_json::Value, exp: i64, nbf: i64) -> String {
        jwt(serde_json::json!({
            "iss": "https://gitlab.com", "sub": "project_path:g/p:ref_type:branch:ref:main", "aud": aud,
            "exp": exp, "nbf": nbf, "ci_config_ref_uri": "gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main",
        }))
    }

    #[test]
    fn gitlab_token_gives_the_fulcio_identity_and_hides_the_jwt() {
        let raw = gitlab("sigstore".into(), 1_800_000_300, 1_799_999_995);
        let token = IdentityToken::parse(&raw, now()).unwrap();
        assert_eq!(
            token.expected_identity(),
            "https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main"
        );
        assert_eq!(
            token.proof_subject(),
            "project_path:g/p:ref_type:branch:ref:main"
        );
        assert!(!format!("{token:?}").contains(&raw));
        assert!(!format!("{token:?}").contains(raw.split('.').nth(1).unwrap()));
        // An array audience containing sigstore is fine.
        assert!(IdentityToken::parse(
            &gitlab(serde_json::json!(["x", "sigstore"]), 1_800_000_300, 0),
            now()
        )
        .is_ok());
    }

    #[test]
    fn refuses_expired_early_wrong_audience_and_garbage() {
        let expired =
            IdentityToken::parse(&gitlab("sigstore".into(), 1_799_999_000, 0), now()).unwrap_err();
        assert!(matches!(expired, TokenError::Expired { .. }));
        let early = IdentityToken::parse(
            &gitlab("sigstore".into(), 1_800_009_000, 1_800_001_000),
            now(),
        )
        .unwrap_err();
        assert!(matches!(early, TokenError::NotYetValid { .. }));
        let aud =
            IdentityToken::parse(&gitlab("pypi".into(), 1_800_000_300, 0), now()).unwrap_err();
        assert_eq!(
            aud,
            TokenError::WrongAudience {
                found: vec!["pypi".into()]
            }
        );
        assert!(aud.hint().unwrap().contains("aud: sigstore"));
        assert!(matches!(
            IdentityToken::parse("not-a-jwt", now()).unwrap_err(),
            TokenError::Malformed(_)
        ));
        assert!(matches!(
            IdentityToken::parse("a.b!.c", now()).unwrap_err(),
            TokenError::Malformed(_)
        ));
    }
}
