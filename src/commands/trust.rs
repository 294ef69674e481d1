//! `gl-sign trust update` and `gl-sign trust show`.

use std::io::Write;

use serde_json::json;

use super::shared::{runtime, tuf_cache};
use crate::cli::{
    OutputFormat, TrustArgs, TrustCommand, TrustCommandArgs, TrustShowArgs, TrustUpdateArgs,
};
use crate::diagnostics::UsageError;
use crate::exit::ExitStatus;
use crate::http::{self, redact_url, HttpSettings};
use crate::trust::tuf::{Instance, Mirror, TufCache};
use crate::trust::{TrustMaterial, TrustRequest, TrustSource};

pub fn run(args: TrustCommandArgs) -> anyhow::Result<ExitStatus> {
    match args.command {
        TrustCommand::Update(args) => update(args),
        TrustCommand::Show(args) => show(args),
    }
}

fn cache(flag: Option<&std::path::Path>) -> Result<TufCache, UsageError> {
    tuf_cache(flag).ok_or_else(|| {
        UsageError::new("no TUF cache directory: HOME and XDG_CACHE_HOME are unset")
            .with_hint("pass --cache-dir DIR")
    })
}

fn update(args: TrustUpdateArgs) -> anyhow::Result<ExitStatus> {
    let cache = cache(args.cache.cache_dir.as_deref())?;
    let client = http::sigstore_client(&HttpSettings::default())?;
    let runtime = runtime()?;
    let now = jiff::Timestamp::now();
    let report = match &args.mirror {
        Some(url) => {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| UsageError::new(format!("--mirror is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(UsageError::new("--mirror must be an http(s) URL").into());
            }
            if args.root.is_some() && crate::trust::tuf::public_instance(url).is_some() {
                return Err(UsageError::new(format!(
                    "--root is not taken for {url}: gl-sign embeds its root and follows its rotations"
                ))
                .into());
            }
            if args.root.is_none() && crate::trust::tuf::public_instance(url).is_none() {
                let known = cache.has_cache(&Mirror::at(url));
                if !known {
                    return Err(UsageError::new(format!(
                        "--mirror {} needs --root FILE the first time: gl-sign embeds only the public-good roots",
                        redact_url(url)
                    ))
                    .into());
                }
            }
            eprintln!("Initialising TUF repository {}", redact_url(url));
            runtime.block_on(cache.initialise(url, args.root.as_deref(), client, now))?
        }
        None => {
            let mirror = if args.staging {
                Mirror::public(Instance::Staging)
            } else {
                cache.selected()
            };
            runtime.block_on(cache.update(&mirror, client, now))?
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(
        out,
        "{} {} ({})",
        if report.changed { "updated" } else { "current" },
        redact_url(&report.status.mirror),
        report.status.dir.display()
    )?;
    for role in &report.status.roles {
        writeln!(
            out,
            "  {:<9} v{:<5} expires {}",
            role.role, role.version, role.expires
        )?;
    }
    eprintln!(
        "{} request{} to the repository",
        report.fetched.len(),
        if report.fetched.len() == 1 { "" } else { "s" }
    );
    Ok(ExitStatus::Success)
}

fn show(args: TrustShowArgs) -> anyhow::Result<ExitStatus> {
    let trust_args = TrustArgs {
        trusted_root: args.trusted_root.clone(),
        staging: args.staging,
    };
    let resolved = TrustMaterial::resolve(&TrustRequest {
        trusted_root: trust_args.trusted_root.as_deref(),
        staging: trust_args.staging,
        tuf: tuf_cache(args.cache.cache_dir.as_deref()),
        now: jiff::Timestamp::now(),
    })?;
    let material = &resolved.material;
    let authorities = material.authorities();
    // What sign-blob would use without service flags (issue 11).
    let services = match (&material.source, tuf_cache(args.cache.cache_dir.as_deref())) {
        (TrustSource::Tuf(_), Some(cache)) => {
            crate::trust::tuf_signing_config(&cache, args.staging, jiff::Timestamp::now()).map(
                |(config, _)| {
                    let endpoints = config.endpoints();
                    let url =
                        |e: Option<crate::sign::Endpoint>| e.map(|e| (e.url, e.major_api_version));
                    (
                        url(endpoints.fulcio),
                        url(endpoints.rekor),
                        url(endpoints.tsa),
                    )
                },
            )
        }
        _ => None,
    };
    let window = |t: Option<jiff::Timestamp>| t.map(|t| t.to_string());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.output.output {
        OutputFormat::Json => {
            let source = match &material.source {
                TrustSource::PublicGood | TrustSource::Staging => json!({
                    "kind": "embedded",
                    "instance": if material.source == TrustSource::Staging { "staging" } else { "production" },
                }),
                TrustSource::File(path) => json!({"kind": "file", "path": path}),
                TrustSource::Tuf(status) => json!({
                    "kind": "tuf",
                    "mirror": status.mirror,
                    "cache": status.dir,
                    "metadata": status.roles.iter().map(|r| json!({
                        "role": r.role, "version": r.version, "expires": r.expires.to_string(),
                    })).collect::<Vec<_>>(),
                }),
            };
            let doc = json!({
                "source": source,
                "description": material.source.to_string(),
                "note": resolved.note,
                "signing_config": services.as_ref().map(|(fulcio, rekor, tsa)| {
                    let one = |e: &Option<(String, u32)>| e.as_ref().map(|(url, v)| json!({"url": url, "major_api_version": v}));
                    json!({"fulcio": one(fulcio), "rekor": one(rekor), "tsa": one(tsa)})
                }),
                "authorities": authorities.iter().map(|a| json!({
                    "kind": a.kind.as_str(),
                    "url": a.url,
                    "id": a.id,
                    "valid_from": window(a.start),
                    "valid_until": window(a.end),
                })).collect::<Vec<_>>(),
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        OutputFormat::Text => {
            writeln!(out, "In use: {}", material.source)?;
            match &material.source {
                TrustSource::Tuf(status) => {
                    writeln!(out, "  cache {}", status.dir.display())?;
                    for role in &status.roles {
                        writeln!(
                            out,
                            "  {:<9} v{:<5} expires {}",
                            role.role, role.version, role.expires
                        )?;
                    }
                }
                TrustSource::PublicGood | TrustSource::Staging => {
                    writeln!(out, "  embedded in gl-sign {}", env!("CARGO_PKG_VERSION"))?;
                }
                TrustSource::File(_) => {}
            }
            if let Some(note) = &resolved.note {
                writeln!(out, "  note: {note}")?;
            }
            if let Some((fulcio, rekor, tsa)) = &services {
                let shown = |e: &Option<(String, u32)>| {
                    e.as_ref()
                        .map_or("none".to_string(), |(url, v)| format!("{url} (v{v})"))
                };
                writeln!(
                    out,
                    "  signing config: Fulcio {}, Rekor {}, TSA {}",
                    shown(fulcio),
                    shown(rekor),
                    shown(tsa)
                )?;
            }
            for a in &authorities {
                writeln!(
                    out,
                    "{:<5} {} {} valid {} .. {}",
                    a.kind.as_str(),
                    if a.url.is_empty() { "-" } else { &a.url },
                    if a.id.is_empty() { "-" } else { &a.id },
                    window(a.start).unwrap_or_else(|| "-".into()),
                    window(a.end).unwrap_or_else(|| "(open)".into()),
                )?;
            }
        }
    }
    Ok(ExitStatus::Success)
}
