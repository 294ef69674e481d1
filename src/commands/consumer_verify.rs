//! `gl-sign consumer-verify NAME==VERSION`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::json;

use super::progress::StderrProgress;
use super::settings::{Environment, ReleaseSettings};
use super::shared::{hints, reason, refreshed_trust, runtime, url_or_ci, verifier};
use super::verdict::VerdictPrinter;
use crate::cli::ConsumerVerifyArgs;
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::http::{registry_client, HttpSettings};
use crate::registry::consumer::{ReleaseFetcher, ReleaseSource};
use crate::registry::index::IndexFile;

pub fn run(args: ConsumerVerifyArgs, env: &Environment) -> anyhow::Result<ExitStatus> {
    if args.provenance {
        return super::consumer_provenance::run(args, env);
    }
    let settings = ConsumerVerifySettings::resolve(&args, env)?;
    verify_release(&settings)
}

/// `consumer-verify` with signatures from a generic registry, resolved.
#[derive(Debug)]
pub struct ConsumerVerifySettings {
    release: ReleaseSettings,
    generic_url: reqwest::Url,
    /// The generic package holding the signatures.
    package: String,
}

impl ConsumerVerifySettings {
    pub fn resolve(args: &ConsumerVerifyArgs, env: &Environment) -> Result<Self, UsageError> {
        let release = ReleaseSettings::resolve(args, env)?;
        let generic_url = url_or_ci(
            args.generic_url.as_deref(),
            "--generic-url",
            &env.ci,
            "/packages/generic",
        )?;
        let package = args
            .package
            .clone()
            .or_else(|| env.ci.get("CI_PROJECT_NAME").map(str::to_string))
            .unwrap_or_else(|| release.name.clone());
        Ok(ConsumerVerifySettings {
            release,
            generic_url,
            package,
        })
    }

    fn source(&self) -> ReleaseSource {
        ReleaseSource {
            index_url: self.release.index_url.clone(),
            index_credential: self.release.credential.clone(),
            generic_url: self.generic_url.clone(),
            generic_credential: self.release.credential.clone(),
            package: self.package.clone(),
        }
    }
}

/// What both forms of consumer-verify work on: the release's files in the
/// index and the directory their downloads go to.
pub(super) struct Release {
    pub fetcher: ReleaseFetcher,
    pub files: Vec<IndexFile>,
    /// `--dest` (downloads are partial files there, renamed once verified),
    /// else the temporary directory below.
    pub dir: PathBuf,
    _scratch: tempfile::TempDir,
}

/// List the release's files in the index. `None` when the index says no
/// (the verdict and its hints are printed): the answer is then "rejected".
pub(super) fn open_release(
    settings: &ReleaseSettings,
    source: ReleaseSource,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Option<Release>> {
    let fetcher = ReleaseFetcher::new(
        registry_client(&HttpSettings::default())?,
        source,
        Arc::new(StderrProgress::new()),
    )?;
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let dir: PathBuf = match &settings.dest {
        Some(dest) => {
            std::fs::create_dir_all(dest)
                .with_context(|| format!("cannot create {}", dest.display()))?;
            dest.clone()
        }
        None => scratch.path().to_path_buf(),
    };
    match runtime.block_on(fetcher.release_files(&settings.name, &settings.version)) {
        Ok(files) => Ok(Some(Release {
            fetcher,
            files,
            dir,
            _scratch: scratch,
        })),
        Err(e) if e.is_rejection() => {
            println!("FAILED {}: {}", settings.release(), reason(&e));
            for hint in hints(&e) {
                eprintln!("hint: {hint}");
            }
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn verify_release(settings: &ConsumerVerifySettings) -> anyhow::Result<ExitStatus> {
    let release = &settings.release;
    let (name, version) = (&release.name, &release.version);
    let resolved = release.trust.load()?;
    let runtime = runtime()?;
    let mut verifier = verifier(
        resolved.material.clone(),
        release.policy.clone(),
        &release.rekor,
        &runtime,
    )?;
    // Issue 11: refresh through TUF at most once per run.
    let mut refreshed = false;
    let Some(opened) = open_release(release, settings.source(), &runtime)? else {
        return Ok(ExitStatus::Rejected);
    };
    let (fetcher, files, dir) = (&opened.fetcher, &opened.files, &opened.dir);

    let mut printer = VerdictPrinter::new(release.output);
    for file in files {
        let downloaded = runtime.block_on(fetcher.download(file, dir, name, version));
        // Verification runs here, outside the runtime: a detached signature's
        // Rekor lookup blocks on it.
        match downloaded {
            Ok(d) => {
                let result = match d.evidence {
                    Ok(evidence) => {
                        let mut result = verifier.verify_evidence(evidence.clone(), d.sha256);
                        if !refreshed && matches!(&result, Err(e) if e.is_unknown_trust()) {
                            refreshed = true;
                            if let Some(newer) = refreshed_trust(
                                &resolved,
                                &release.trust,
                                release.rekor.offline,
                                &runtime,
                            ) {
                                verifier = super::shared::verifier(
                                    newer,
                                    release.policy.clone(),
                                    &release.rekor,
                                    &runtime,
                                )?;
                                result = verifier.verify_evidence(evidence, d.sha256);
                            }
                        }
                        result.map_err(anyhow::Error::from)
                    }
                    Err(e) => Err(anyhow::Error::from(e)),
                };
                match result {
                    Ok(verified) => {
                        if release.dest.is_some() {
                            std::fs::rename(&d.path, dir.join(&file.filename))
                                .with_context(|| format!("cannot keep {}", file.filename))?;
                        }
                        printer.ok(&file.filename, &verified)?;
                    }
                    Err(e) => {
                        let _ = std::fs::remove_file(&d.path);
                        let rejected = e.chain().any(|c| {
                            c.downcast_ref::<crate::verify::VerifyError>()
                                .is_some_and(|v| v.is_rejection())
                                || c.downcast_ref::<crate::registry::consumer::ConsumerError>()
                                    .is_some_and(|v| v.is_rejection())
                        });
                        printer.failed(&file.filename, e.as_ref(), rejected)?;
                    }
                }
            }
            Err(e) => printer.failed(&file.filename, &e, e.is_rejection())?,
        }
    }
    let status = printer.finish(json!({"release": format!("{name}=={version}")}))?;
    eprintln!(
        "{name}=={version}: {} file(s), {}",
        files.len(),
        match status {
            ExitStatus::Success => "all verified",
            ExitStatus::Rejected => "NOT all verified",
            ExitStatus::Error => "could not be checked",
        }
    );
    Ok(status)
}
