//! `gl-sign consumer-verify NAME==VERSION`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::json;

use super::progress::StderrProgress;
use super::shared::{
    credential, hints, identity_policy, reason, refreshed_trust, resolve_trust, runtime, url_or_ci,
    verifier,
};
use super::verdict::VerdictPrinter;
use crate::ci::{CiEnvironment, RefScope};
use crate::cli::ConsumerVerifyArgs;
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::http::{registry_client, HttpSettings};
use crate::registry::consumer::{ReleaseFetcher, ReleaseSource};

pub fn run(args: ConsumerVerifyArgs, ci: &CiEnvironment) -> anyhow::Result<ExitStatus> {
    let (name, version) = args
        .requirement
        .split_once("==")
        .filter(|(n, v)| !n.trim().is_empty() && !v.trim().is_empty() && !v.contains('='))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| {
            UsageError::new(format!(
                "expected NAME==VERSION, got {:?}",
                args.requirement
            ))
        })?;
    let scope = if args.allow_branch_signatures {
        RefScope::BranchesAndTags
    } else {
        RefScope::TagsOnly
    };
    let policy = identity_policy(&args.identity, scope)?;
    let resolved = resolve_trust(&args.trust)?;
    let index_url = url_or_ci(
        args.index_url.as_deref(),
        "--index-url",
        ci,
        "/packages/pypi/simple",
    )?;
    let generic_url = url_or_ci(
        args.generic_url.as_deref(),
        "--generic-url",
        ci,
        "/packages/generic",
    )?;
    let package = args
        .package
        .clone()
        .or_else(|| ci.get("CI_PROJECT_NAME").map(str::to_string))
        .unwrap_or_else(|| name.clone());
    let credential = credential(&args.registry, ci);
    let source = ReleaseSource {
        index_url,
        index_credential: credential.clone(),
        generic_url,
        generic_credential: credential,
        package,
    };

    let runtime = runtime()?;
    let http = HttpSettings::default();
    let mut verifier = verifier(
        resolved.material.clone(),
        policy.clone(),
        &args.rekor,
        &runtime,
    )?;
    // Issue 11: refresh through TUF at most once per run.
    let mut refreshed = false;
    let fetcher = ReleaseFetcher::new(
        registry_client(&http)?,
        source,
        Arc::new(StderrProgress::new()),
    )?;

    // Downloads go to --dest as partial files (renamed once verified), else to a temporary directory.
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let dir: PathBuf = match &args.dest {
        Some(dest) => {
            std::fs::create_dir_all(dest)
                .with_context(|| format!("cannot create {}", dest.display()))?;
            dest.clone()
        }
        None => scratch.path().to_path_buf(),
    };
    let files = match runtime.block_on(fetcher.release_files(&name, &version)) {
        Ok(files) => files,
        Err(e) if e.is_rejection() => {
            println!("FAILED {name}=={version}: {}", reason(&e));
            for hint in hints(&e) {
                eprintln!("hint: {hint}");
            }
            return Ok(ExitStatus::Rejected);
        }
        Err(e) => return Err(e.into()),
    };

    let mut printer = VerdictPrinter::new(args.output.output);
    for file in &files {
        let downloaded = runtime.block_on(fetcher.download(file, &dir, &name, &version));
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
                                &args.trust,
                                args.rekor.offline,
                                &runtime,
                            ) {
                                verifier = super::shared::verifier(
                                    newer,
                                    policy.clone(),
                                    &args.rekor,
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
                        if args.dest.is_some() {
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
