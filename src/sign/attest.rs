//! PEP 740 attestations: one in-toto statement per dist and predicate, signed
//! as DSSE with the run's one Fulcio certificate and logged as Rekor v1
//! `dsse` 0.0.1 entries (what PyPI accepts; it refuses Rekor v2 entries).
//!
//! As for blob signatures, nothing is written until the attestation, in the
//! exact form it will be written, has passed full offline verification for
//! the token's identity, the dist's name and digest; an attestation already on
//! disk that verifies so is kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use sigstore_crypto::KeyPair;
use sigstore_types::Sha256Hash;

use super::{hash, output, BlobSigner, IdentityToken, Reporter, SignError};
use crate::ci::CiEnvironment;
use crate::verify::attestation::{IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1};
use crate::verify::pep740::{self, Attestation, PUBLISH_V1, SLSA_PROVENANCE_V1};
use crate::verify::{Evidence, EvidenceKind, EvidenceSource, Job, RekorError, RekorLog};

/// Which statement to make about a dist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Predicate {
    /// PyPI's publish attestation, `predicate: null`.
    Publish,
    /// SLSA provenance v1 of the GitLab CI job.
    Slsa,
}

impl Predicate {
    pub fn uri(self) -> &'static str {
        match self {
            Predicate::Publish => PUBLISH_V1,
            Predicate::Slsa => SLSA_PROVENANCE_V1,
        }
    }

    /// The suffix twine, uv and pypi-attestations look for: `DIST.<name>.attestation`.
    pub fn file_suffix(self) -> &'static str {
        match self {
            Predicate::Publish => ".publish.attestation",
            Predicate::Slsa => ".slsa.attestation",
        }
    }
}

/// One attestation to make.
#[derive(Debug, Clone)]
pub struct AttestJob {
    pub dist: PathBuf,
    pub predicate: Predicate,
    pub output: PathBuf,
}

impl AttestJob {
    /// `DIST.publish.attestation` (or `.slsa.`), beside DIST or in `dir`.
    pub fn beside(dist: &Path, predicate: Predicate, dir: Option<&Path>) -> AttestJob {
        let name = dist
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let mut output = match dir {
            Some(dir) => dir.join(name),
            None => dist.to_path_buf(),
        }
        .into_os_string();
        output.push(predicate.file_suffix());
        AttestJob {
            dist: dist.to_path_buf(),
            predicate,
            output: PathBuf::from(output),
        }
    }
}

/// An attestation on disk that verifies.
#[derive(Debug, Clone)]
pub struct Attested {
    pub dist: PathBuf,
    pub predicate: Predicate,
    pub output: PathBuf,
    pub sha256: String,
    /// Rekor log index; `None` when an existing attestation was kept.
    pub log_index: Option<u64>,
}

/// Where and how a GitLab CI job ran, for SLSA provenance v1. Built from the
/// CI variables the command read, never from the environment here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildProvenance {
    pub server_url: String,
    pub project_path: String,
    pub project_url: String,
    pub commit_sha: String,
    /// `refs/heads/NAME` or `refs/tags/NAME`.
    pub git_ref: String,
    pub config_path: String,
    pub job_name: String,
    pub job_id: String,
    pub job_url: String,
    pub pipeline_id: String,
    pub pipeline_url: String,
    pub pipeline_source: Option<String>,
    pub job_started_at: Option<String>,
    pub runner_id: Option<String>,
    pub runner_description: Option<String>,
    pub runner_version: Option<String>,
    pub runner_executable_arch: Option<String>,
}

/// `buildType` of GitLab's SLSA provenance v1 (the runner's artifact provenance).
pub const GITLAB_BUILD_TYPE: &str =
    "https://docs.gitlab.com/ci/pipeline_security/slsa/provenance_v1";

/// CI variables recorded in `externalParameters.variables`: what selects the
/// build, never credentials.
const RECORDED_VARIABLES: &[&str] = &[
    "CI_COMMIT_SHA",
    "CI_COMMIT_REF_NAME",
    "CI_COMMIT_TAG",
    "CI_CONFIG_PATH",
    "CI_JOB_ID",
    "CI_JOB_NAME",
    "CI_PIPELINE_ID",
    "CI_PIPELINE_SOURCE",
    "CI_PROJECT_PATH",
];

impl BuildProvenance {
    /// The job's provenance, or the names of the CI variables that are missing.
    pub fn from_ci(ci: &CiEnvironment) -> Result<Self, Vec<&'static str>> {
        let mut missing = Vec::new();
        let mut need = |name: &'static str| match ci.get(name) {
            Some(v) => v.to_string(),
            None => {
                missing.push(name);
                String::new()
            }
        };
        let server_url = need("CI_SERVER_URL");
        let project_path = need("CI_PROJECT_PATH");
        let project_url = need("CI_PROJECT_URL");
        let commit_sha = need("CI_COMMIT_SHA");
        let ref_name = need("CI_COMMIT_REF_NAME");
        let job_name = need("CI_JOB_NAME");
        let job_id = need("CI_JOB_ID");
        let job_url = need("CI_JOB_URL");
        let pipeline_id = need("CI_PIPELINE_ID");
        let pipeline_url = need("CI_PIPELINE_URL");
        if !missing.is_empty() {
            return Err(missing);
        }
        let optional = |name: &str| ci.get(name).map(str::to_string);
        let git_ref = match ci.get("CI_COMMIT_TAG") {
            Some(tag) => format!("refs/tags/{tag}"),
            None => format!("refs/heads/{ref_name}"),
        };
        Ok(BuildProvenance {
            server_url: server_url.trim_end_matches('/').to_string(),
            project_path,
            project_url,
            commit_sha,
            git_ref,
            config_path: optional("CI_CONFIG_PATH").unwrap_or_else(|| ".gitlab-ci.yml".into()),
            job_name,
            job_id,
            job_url,
            pipeline_id,
            pipeline_url,
            pipeline_source: optional("CI_PIPELINE_SOURCE"),
            job_started_at: optional("CI_JOB_STARTED_AT"),
            runner_id: optional("CI_RUNNER_ID"),
            runner_description: optional("CI_RUNNER_DESCRIPTION"),
            runner_version: optional("CI_RUNNER_VERSION"),
            runner_executable_arch: optional("CI_RUNNER_EXECUTABLE_ARCH"),
        })
    }

    /// The SLSA provenance v1 predicate, shaped like GitLab Runner's artifact
    /// provenance (source, entryPoint, variables; runner name, architecture,
    /// job; builder = the runner). Unlike the runner, the commit is recorded as
    /// `gitCommit` (it is a git object ID, not a sha256) and the CI file is named.
    pub fn predicate(&self, ci: &CiEnvironment) -> Value {
        let variables: BTreeMap<&str, &str> = RECORDED_VARIABLES
            .iter()
            .filter_map(|name| ci.get(name).map(|v| (*name, v)))
            .collect();
        let mut internal = json!({"job": self.job_id, "pipeline": self.pipeline_id});
        if let Some(name) = &self.runner_description {
            internal["name"] = json!(name);
        }
        if let Some(arch) = &self.runner_executable_arch {
            internal["architecture"] = json!(arch);
        }
        if let Some(source) = &self.pipeline_source {
            internal["pipelineSource"] = json!(source);
        }
        let builder_id = match &self.runner_id {
            Some(id) => format!("{}/-/runners/{id}", self.project_url),
            None => format!("{}/-/runners", self.project_url),
        };
        let mut builder = json!({"id": builder_id});
        if let Some(version) = &self.runner_version {
            builder["version"] = json!({"gitlab-runner": version});
        }
        let mut metadata = json!({"invocationId": self.job_url});
        if let Some(started) = &self.job_started_at {
            metadata["startedOn"] = json!(started);
        }
        json!({
            "buildDefinition": {
                "buildType": GITLAB_BUILD_TYPE,
                "externalParameters": {
                    "source": self.project_url,
                    "entryPoint": self.job_name,
                    "configPath": self.config_path,
                    "ref": self.git_ref,
                    "variables": variables,
                },
                "internalParameters": internal,
                "resolvedDependencies": [{
                    "uri": format!("git+{}@{}", self.project_url, self.git_ref),
                    "digest": {"gitCommit": self.commit_sha},
                }],
            },
            "runDetails": {
                "builder": builder,
                "metadata": metadata,
                "byproducts": [{"name": "pipeline", "uri": self.pipeline_url}],
            },
        })
    }
}

/// The in-toto v1 statement: exactly one subject, the exact file name and
/// lowercase sha256, as PyPI requires.
pub fn statement(
    name: &str,
    sha256_hex: &str,
    predicate: Predicate,
    slsa: Option<&Value>,
) -> Vec<u8> {
    let predicate_value = match predicate {
        Predicate::Publish => Value::Null,
        Predicate::Slsa => slsa.cloned().unwrap_or(Value::Null),
    };
    serde_json::to_vec(&json!({
        "_type": STATEMENT_V1,
        "subject": [{"name": name, "digest": {"sha256": sha256_hex.to_ascii_lowercase()}}],
        "predicateType": predicate.uri(),
        "predicate": predicate_value,
    }))
    .expect("a JSON value serialises")
}

impl BlobSigner {
    /// Make every attestation in `jobs` with one certificate; `slsa` is the
    /// predicate for [`Predicate::Slsa`] jobs. Attestations that already verify
    /// for this identity, dist and predicate are kept.
    pub async fn attest(
        &self,
        token: &IdentityToken,
        jobs: &[AttestJob],
        slsa: Option<&Value>,
        reporter: &dyn Reporter,
    ) -> Result<Vec<Attested>, SignError> {
        let verifier = Arc::new(self.verifier(token)?);
        let mut digests: BTreeMap<PathBuf, Sha256Hash> = BTreeMap::new();
        let mut pending = Vec::new();
        let mut done = Vec::new();
        for job in jobs {
            let digest = match digests.get(&job.dist) {
                Some(d) => *d,
                None => {
                    let d = hash(&job.dist)?;
                    digests.insert(job.dist.clone(), d);
                    d
                }
            };
            let name = file_name(&job.dist)?;
            if keeps(&verifier, job, &digest, &name) {
                reporter.already_signed(&job.output);
                done.push(Attested {
                    dist: job.dist.clone(),
                    predicate: job.predicate,
                    output: job.output.clone(),
                    sha256: digest.to_hex(),
                    log_index: None,
                });
            } else {
                pending.push((job.clone(), digest, name));
            }
        }
        if pending.is_empty() {
            return Ok(done);
        }

        let key = KeyPair::generate_ecdsa_p256().map_err(|e| SignError::Key(e.to_string()))?;
        let certificate = Arc::new(self.certificate(token, &key).await?);
        let not_after = super::certificate_not_after(&certificate)?;
        reporter.certificate(&token.expected_identity(), not_after);

        let rekor = Arc::new(RekorLog::new(
            self.client.clone(),
            &self.settings.services.rekor_url,
            self.settings.http.clone(),
        ));
        let limit = Arc::new(tokio::sync::Semaphore::new(
            self.settings.parallel_uploads.max(1),
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, (job, digest, name)) in pending.into_iter().enumerate() {
            let statement = statement(&name, &digest.to_hex(), job.predicate, slsa);
            let pae = sigstore_types::dsse::pae(IN_TOTO_PAYLOAD_TYPE, &statement);
            let signature = key
                .sign(&pae)
                .map_err(|e| SignError::Key(e.to_string()))?
                .as_bytes()
                .to_vec();
            let (rekor, limit, verifier, certificate) = (
                rekor.clone(),
                limit.clone(),
                verifier.clone(),
                certificate.clone(),
            );
            tasks.spawn(async move {
                let _permit = limit
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                if jiff::Timestamp::now() >= not_after {
                    return Err(SignError::CertificateExpired {
                        file: job.dist.clone(),
                        not_after,
                    });
                }
                let rekor_error = |source| SignError::Rekor {
                    file: job.dist.clone(),
                    source,
                };
                let (entry, existed) = rekor
                    .create_dsse(&statement, &signature, &certificate)
                    .await
                    .map_err(rekor_error)?;
                let attestation =
                    Attestation::from_parts(&certificate, &statement, &signature, &entry).map_err(
                        |e| {
                            rekor_error(RekorError::BadResponse {
                                url: rekor.url(),
                                detail: e.to_string(),
                            })
                        },
                    )?;
                // Verify the very JSON that will be written.
                let json = serde_json::to_vec(&attestation).expect("an attestation serialises");
                let check = pep740::parse(&json)
                    .and_then(|a| a.to_bundle())
                    .map_err(|e| SignError::SelfCheck {
                        file: job.output.clone(),
                        source: crate::verify::VerifyError::MalformedAttestation {
                            path: job.output.clone(),
                            source: e,
                        },
                    })?;
                let evidence = Evidence::Bundle {
                    bundle: Box::new(check),
                    kind: EvidenceKind::Pep740Attestation,
                };
                let verified = tokio::task::block_in_place(|| {
                    verifier.verify_evidence_named(evidence, *digest.as_bytes(), Some(&name))
                })
                .map_err(|source| SignError::SelfCheck {
                    file: job.output.clone(),
                    source,
                })?;
                // Written here, so the files' syncs overlap; each write is atomic.
                tokio::task::block_in_place(|| output::write_atomic(&job.output, &json))?;
                Ok((index, job, digest, verified.log_index, existed))
            });
        }
        let mut logged = Vec::new();
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined.expect("attestation tasks do not panic") {
                Ok(result) => logged.push(result),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // What verified is written even if another one failed: the re-run keeps it.
        logged.sort_by_key(|(index, ..)| *index);
        for (_, job, digest, log_index, existed) in logged {
            reporter.logged(&job.output, log_index.unwrap_or_default(), existed);
            done.push(Attested {
                dist: job.dist,
                predicate: job.predicate,
                output: job.output,
                sha256: digest.to_hex(),
                log_index,
            });
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }
}

fn file_name(dist: &Path) -> Result<String, SignError> {
    dist.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| SignError::Read {
            path: dist.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "an attestation names its file, and this file name is not UTF-8",
            ),
        })
}

/// An existing attestation is kept when it verifies for this identity, dist
/// name and digest, with the predicate type this job makes.
fn keeps(
    verifier: &crate::verify::BlobVerifier,
    job: &AttestJob,
    digest: &Sha256Hash,
    name: &str,
) -> bool {
    if !job.output.exists() {
        return false;
    }
    let probe = Job {
        file: job.dist.clone(),
        evidence: EvidenceSource::Attestation {
            attestation: job.output.clone(),
        },
    };
    let Ok(evidence) = crate::verify::load_evidence(&probe) else {
        return false;
    };
    verifier
        .verify_evidence_named(evidence, *digest.as_bytes(), Some(name))
        .is_ok_and(|v| v.predicate_type.as_deref() == Some(job.predicate.uri()))
}
