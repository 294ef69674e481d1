//! The CLI's words for library errors (issue 8: library errors carry no CLI
//! flag names; commands add them). A library error says what was wrong with
//! an input ("the certificate given beside the bundle does not match the one
//! in it"); the command line knows which flag gave that input, so the message
//! and hint that name the flag are written here. [`CliWording`] is what the
//! error renderer and the verdict printer use: an error's words from this
//! module where it has some, else its own message and [`crate::hint::Hint`].
//!
//! Each library type with such words registers one function with [`words!`],
//! so no list of types is kept. A wrapper whose hint is its source's (a
//! transparent variant, whose source is not in the chain) asks [`CliWording`]
//! for its source's hint, as its library `Hint` delegates.

use std::error::Error;

use crate::build::BuildError;
use crate::diagnostics::{hint_of, Wording};
use crate::pyproject::MetadataError;
use crate::registry::consumer::ConsumerError;
use crate::registry::generic::GenericError;
use crate::registry::provenance::ProvenanceError;
use crate::registry::pypi::PublishError;
use crate::registry::trusted_publishing::{AttestationFileError, TrustedPublishingError};
use crate::registry::TransferError;
use crate::sign::token::TokenError;
use crate::sign::SignError;
use crate::trust::tuf::TufError;
use crate::trust::{TrustError, TufTrustError};
use crate::verify::attestation::AttestationViolation;
use crate::verify::key::KeyError;
use crate::verify::policy::{IdentityHint, PolicyViolation};
use crate::verify::{InputError, VerifyError};

/// An error's message and hint in the CLI's words; `None` keeps the error's own.
#[derive(Debug, Default)]
pub struct Words {
    pub message: Option<String>,
    pub hint: Option<String>,
}

impl Words {
    fn message(message: impl Into<String>) -> Self {
        Words {
            message: Some(message.into()),
            hint: None,
        }
    }

    fn hint(hint: impl Into<String>) -> Self {
        Words {
            message: None,
            hint: Some(hint.into()),
        }
    }

    /// The words of a wrapper whose hint is `source`'s.
    fn hint_of_source(source: &(dyn Error + 'static)) -> Self {
        Words {
            message: None,
            hint: CliWording.hint(source),
        }
    }

    fn none() -> Self {
        Words::default()
    }
}

/// How [`CliWording`] asks one registered type for its words: `None` when
/// the error is not of that type.
pub struct WordsProvider(pub fn(&(dyn Error + 'static)) -> Option<Words>);

inventory::collect!(WordsProvider);

/// Register `$words: fn(&$type) -> Words` as the CLI's words for `$type`.
macro_rules! words {
    ($type:ty, $words:path) => {
        inventory::submit! {
            WordsProvider(|e| e.downcast_ref::<$type>().map($words))
        }
    };
}

fn words_of(err: &(dyn Error + 'static)) -> Words {
    inventory::iter::<WordsProvider>
        .into_iter()
        .find_map(|provider| (provider.0)(err))
        .unwrap_or_default()
}

/// Errors in the command line's words: its flags named.
pub struct CliWording;

impl Wording for CliWording {
    fn message(&self, err: &(dyn Error + 'static)) -> String {
        words_of(err).message.unwrap_or_else(|| err.to_string())
    }

    fn hint(&self, err: &(dyn Error + 'static)) -> Option<String> {
        words_of(err).hint.or_else(|| hint_of(err))
    }
}

const WRONG_TRUSTED_ROOT: &str =
    "check --trusted-root: it must describe the Fulcio and Rekor that were used";

// verify-blob's evidence and key flags.

words!(InputError, input_error);
fn input_error(e: &InputError) -> Words {
    match e {
        InputError::SignatureIsPem => {
            Words::hint("this looks like the certificate: pass it with --certificate")
        }
        InputError::NoCertificate => Words::hint("pass the signing certificate with --certificate"),
        InputError::UnknownJson => Words::hint(
            "--bundle takes a .sigstore.json bundle or cosign's --bundle output; for detached files use \
             --signature and --certificate",
        ),
        _ => Words::none(),
    }
}

words!(KeyError, key_error);
fn key_error(e: &KeyError) -> Words {
    match e {
        KeyError::PrivateKey { path, label } => Words::message(format!(
            "{} holds a private key ({label}); --key takes the public key",
            path.display()
        )),
        KeyError::NotPublicKey { found, .. } if found.contains("CERTIFICATE") => Words::hint(
            "for a certificate (keyless signature) drop --key and pass --certificate with \
             --certificate-identity and --certificate-oidc-issuer",
        ),
        _ => Words::none(),
    }
}

words!(VerifyError, verify_error);
fn verify_error(e: &VerifyError) -> Words {
    match e {
        VerifyError::Policy(violation) => Words::hint_of_source(violation),
        VerifyError::Attestation(violation) => Words::hint_of_source(violation),
        VerifyError::Malformed { source, .. } => Words::hint_of_source(source),
        VerifyError::CertificateDiffers => Words::message(
            "certificate given with --certificate does not match the one in the bundle",
        ),
        VerifyError::SignatureDiffers => {
            Words::message("signature given with --signature does not match the one in the bundle")
        }
        VerifyError::NoSignedTimestamp => Words::message(
            "expected an RFC 3161 signed timestamp (--use-signed-timestamps), the bundle has none",
        ),
        VerifyError::NoEvidence { .. } => {
            Words::hint("pass --bundle FILE, or --signature FILE --certificate FILE")
        }
        VerifyError::OfflineNeedsBundle => Words::hint(
            "verify with the .sigstore.json bundle (sign-blob writes one beside each file), or drop --offline \
             to look the entry up in Rekor",
        ),
        VerifyError::DigestNeedsEvidence => {
            Words::hint("pass --bundle FILE (or --key KEY --signature FILE)")
        }
        VerifyError::KeyBundleHasCertificate { path } => Words {
            message: Some(format!(
                "{} is a keyless bundle (it carries a certificate), but --key was given",
                path.display()
            )),
            hint: Some(
                "drop --key and give --certificate-identity and --certificate-oidc-issuer".into(),
            ),
        },
        VerifyError::KeySignatureNeedsLog => Words {
            message: Some(
                "a bare signature has no transparency log entry: it must be looked up in Rekor, and \
                 --offline forbids that"
                    .into(),
            ),
            hint: Some(
                "drop --offline, pass the bundle, or add --insecure-ignore-tlog to check the signature \
                 with the key alone (as cosign)"
                    .into(),
            ),
        },
        _ => Words::none(),
    }
}

// The identity flags.

words!(PolicyViolation, policy_violation);
fn policy_violation(e: &PolicyViolation) -> Words {
    let PolicyViolation::Identity {
        hint: Some(hint), ..
    } = e
    else {
        return Words::none();
    };
    match hint {
        IdentityHint::SingleSlash { found } => Words::hint(format!(
            "GitLab identities have a double slash between the project path and the CI config path: \
             {found} (or let gl-sign build it with --gitlab-project)"
        )),
        IdentityHint::BranchPipeline => Words::hint(
            "a release must be signed by a tag pipeline; this signature comes from a branch pipeline. \
             Pin that branch with --gitlab-ref, or pass --allow-branch-signatures to accept any branch",
        ),
        IdentityHint::GitLabSigner => Words::hint(
            "check --gitlab-project, --gitlab-ref and --gitlab-config-path against the identity above",
        ),
        IdentityHint::PartialMatch { .. } | IdentityHint::Continues { .. } => Words::none(),
    }
}

words!(AttestationViolation, attestation_violation);
fn attestation_violation(e: &AttestationViolation) -> Words {
    match e {
        AttestationViolation::NotRequested { found } => Words::hint(format!(
            "an attestation is a statement about the file, not a signature over it; to accept it as one, \
             pass --type {found}"
        )),
        _ => Words::none(),
    }
}

// sign-blob and attest: the Sigstore flags.

words!(SignError, sign_error);
fn sign_error(e: &SignError) -> Words {
    match e {
        SignError::SelfCheck { source, .. } => Words::hint(
            CliWording
                .hint(source)
                .unwrap_or_else(|| WRONG_TRUSTED_ROOT.into()),
        ),
        SignError::V2NeedsTimestamp { .. } => Words::hint(
            "pass --timestamp-server-url, use a signing config that lists tsaUrls, or choose --rekor-version 1",
        ),
        SignError::Trust(e) => Words::hint_of_source(e),
        _ => Words::none(),
    }
}

words!(TokenError, token_error);
fn token_error(e: &TokenError) -> Words {
    match e {
        TokenError::Malformed(_) => Words::hint(
            "--identity-token takes the JWT itself or a file holding it; in GitLab CI leave it out and set \
             id_tokens: SIGSTORE_ID_TOKEN",
        ),
        _ => Words::none(),
    }
}

words!(TrustError, trust_error);
fn trust_error(e: &TrustError) -> Words {
    match e {
        TrustError::Parse { .. } | TrustError::WrongMediaType { .. } => Words::hint(
            "--trusted-root takes a trusted_root.json (media type \
             application/vnd.dev.sigstore.trustedroot+json), not a signing config or a PEM file",
        ),
        _ => Words::none(),
    }
}

words!(TufTrustError, tuf_trust_error);
fn tuf_trust_error(e: &TufTrustError) -> Words {
    match e {
        TufTrustError::Tuf(e) => Words::hint_of_source(e),
        TufTrustError::Target(e) => Words::hint_of_source(e),
    }
}

words!(TufError, tuf_error);
fn tuf_error(e: &TufError) -> Words {
    match e {
        TufError::NotInitialised { .. } => {
            Words::hint("initialise it with gl-sign trust update --mirror URL --root FILE")
        }
        _ => Words::none(),
    }
}

// build.

words!(BuildError, build_error);
fn build_error(e: &BuildError) -> Words {
    match e {
        BuildError::Spawn { .. } => {
            Words::hint("choose the interpreter with --python /path/to/python3")
        }
        BuildError::BuildMissing { python } => Words::hint(format!(
            "install it: {} -m pip install build (or choose another interpreter with --python)",
            python.to_string_lossy()
        )),
        BuildError::Failed {
            metadata_complaint: Some(line),
            ..
        } => {
            let ours = ["project.name", "project.version", "project.urls"]
                .iter()
                .any(|k| line.contains(k));
            Words::hint(format!(
                "the build backend refused the project's metadata ({line}); fix that value in \
pyproject.toml{}",
                if ours {
                    ", or let gl-sign build write it (--name, --version, --homepage, or the \
GitLab CI variables)"
                } else {
                    ""
                }
            ))
        }
        BuildError::Failed {
            no_isolation: true, ..
        } => Words::hint(
            "the build backend's own output is above; with --no-isolation the build \
requirements ([build-system].requires) must be installed in that interpreter",
        ),
        _ => Words::none(),
    }
}

words!(MetadataError, metadata_error);
fn metadata_error(e: &MetadataError) -> Words {
    match e {
        MetadataError::InvalidName { .. } => Words::hint(
            "a name is ASCII letters, digits, '.', '_' and '-', and starts and ends with a \
letter or digit; pass one with --name",
        ),
        MetadataError::InvalidVersion { origin, .. } if origin.starts_with("CI_COMMIT_TAG") => {
            Words::hint(
                "tag releases with a PEP 440 version such as v1.2.3 or v1.2.3rc1, or pass --version",
            )
        }
        MetadataError::InvalidHomepage { .. } => Words::hint(
            "pass the project's web address, e.g. --homepage https://gitlab.com/group/project",
        ),
        _ => Words::none(),
    }
}

// publish and consumer-verify: the registry flags.

words!(ConsumerError, consumer_error);
fn consumer_error(e: &ConsumerError) -> Words {
    match e {
        ConsumerError::MissingSignature { .. } => Words::hint(
            "the release was published without its signatures (gl-sign publish generic), or --package / \
             --generic-url point elsewhere",
        ),
        ConsumerError::Transfer(TransferError::Unauthorized { .. }) => {
            Words::hint("pass --token, or run inside a GitLab CI job of the project")
        }
        _ => Words::none(),
    }
}

words!(GenericError, generic_error);
fn generic_error(e: &GenericError) -> Words {
    match e {
        GenericError::Transfer(TransferError::Unauthorized { .. }) => Words::hint(
            "in GitLab CI the JOB-TOKEN header is used; outside CI pass --token (PRIVATE-TOKEN) or a deploy token",
        ),
        GenericError::InvalidName { .. } => {
            Words::hint("use letters, digits and . _ - + only; set --package / --package-version")
        }
        _ => Words::none(),
    }
}

words!(ProvenanceError, provenance_error);
fn provenance_error(e: &ProvenanceError) -> Words {
    match e {
        ProvenanceError::Publisher { .. } => Words::hint(
            "PyPI recorded another Trusted Publisher for this upload; check --gitlab-project and \
             --gitlab-config-path",
        ),
        _ => Words::none(),
    }
}

words!(PublishError, publish_error);
fn publish_error(e: &PublishError) -> Words {
    match e {
        PublishError::Transfer(TransferError::Unauthorized { status: 401, .. }) => Words::hint(
            "in GitLab CI the job token is used as HTTP Basic gitlab-ci-token:$CI_JOB_TOKEN; outside CI pass \
             --token (an access token with the api scope) or --username/--password",
        ),
        _ => Words::none(),
    }
}

words!(TrustedPublishingError, trusted_publishing_error);
fn trusted_publishing_error(e: &TrustedPublishingError) -> Words {
    match e {
        TrustedPublishingError::NotSupported { .. } => Words::hint(
            "this index has no trusted publishing: pass --token, or --trusted-publishing never",
        ),
        TrustedPublishingError::NoIdToken { audience, variable } => Words::message(format!(
            "no GitLab ID token for audience {audience:?}: pass --identity-token or set {variable}"
        )),
        _ => Words::none(),
    }
}

words!(AttestationFileError, attestation_file_error);
fn attestation_file_error(e: &AttestationFileError) -> Words {
    match e {
        AttestationFileError::NotAnAttestation { .. } => Words::hint(
            "`gl-sign attest DIST` writes DIST.publish.attestation; remove the file or pass --no-attestations",
        ),
        _ => Words::none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::GitLabSigner;
    use crate::verify::IdentityPolicy;

    #[test]
    fn a_tags_only_gitlab_policy_names_the_flags_that_accept_a_branch() {
        let signer = GitLabSigner::new("https://gitlab.com", "g/p", ".gitlab-ci.yml", None)
            .unwrap()
            .tags_only();
        let policy = IdentityPolicy::for_gitlab(signer);
        let e = policy
            .check(
                Some("https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main"),
                Some("https://gitlab.com"),
                &Default::default(),
            )
            .unwrap_err();
        let hint = CliWording.hint(&e).unwrap();
        assert!(hint.contains("--allow-branch-signatures"), "{hint}");
        assert!(!e.hint().unwrap().contains("--"), "{:?}", e.hint());
    }

    #[test]
    fn a_wrapper_gives_its_sources_cli_hint() {
        let e = VerifyError::Malformed {
            what: "bundle",
            path: "b.json".into(),
            source: InputError::UnknownJson,
        };
        assert!(CliWording.hint(&e).unwrap().starts_with("--bundle takes"));
        assert!(!e.hint().unwrap().contains("--bundle"));
    }
}
