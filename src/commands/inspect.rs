//! `gl-sign inspect`: read each file, explain it, print the commands that verify it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cli::{InspectArgs, OutputFormat};
use crate::exit::ExitStatus;
use crate::inspect::{
    inspect, shell_line, verify_commands, CommandInputs, Content, Inspection, Kind, KnownLogs,
    RootChoice, SignatureInfo, VerifyCommands,
};

const NOT_VERIFIED: &str =
    "NOT VERIFIED: this shows what the file claims; nothing in it has been checked.";

/// Suffixes that name evidence beside the file they sign.
const EVIDENCE_SUFFIXES: &[&str] = &[
    ".sigstore.json",
    ".sigstore",
    ".publish.attestation",
    ".slsa.attestation",
    ".attestation",
    ".provenance",
    ".bundle",
    ".sig",
    ".crt",
    ".pem",
    ".cert",
];

#[derive(Debug, thiserror::Error)]
#[error("cannot read {}", path.display())]
struct ReadError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

pub fn run(args: InspectArgs) -> anyhow::Result<ExitStatus> {
    let mut known = KnownLogs::embedded();
    if let Some(root) = &args.trusted_root {
        let json = std::fs::read_to_string(root).map_err(|source| ReadError {
            path: root.clone(),
            source,
        })?;
        let shown = root.display().to_string();
        known.add_root(&json, &shown, RootChoice::File(shown.clone()));
    }
    let mut status = ExitStatus::Success;
    let mut text = String::new();
    let mut entries = Vec::new();
    for file in &args.files {
        let shown = file.display().to_string();
        let result = std::fs::read(file)
            .map_err(|source| {
                anyhow::Error::new(ReadError {
                    path: file.clone(),
                    source,
                })
            })
            .and_then(|bytes| {
                inspect(&bytes, &known)
                    .map_err(|e| anyhow::Error::new(e).context(format!("cannot inspect {shown}")))
            });
        match result {
            Ok(inspection) => {
                let inputs = command_inputs(file, &inspection, &known);
                let mut commands = verify_commands(&inspection, &inputs, &known);
                if commands.gl_sign.is_some()
                    && !matches!(inspection.kind, Kind::OidcToken | Kind::PypiProvenance)
                {
                    // The commands name the signed file after the evidence; say when that guess fails.
                    if inputs.artifact == "FILE" {
                        commands
                            .notes
                            .push("FILE stands for the signed file".into());
                    } else if !Path::new(&inputs.artifact).exists() {
                        commands.notes.push(format!(
                            "the signed file is not at {}: put its path there",
                            inputs.artifact
                        ));
                    }
                }
                match args.output {
                    OutputFormat::Text => {
                        render(&mut text, &shown, &inspection, &inputs, &commands)?
                    }
                    OutputFormat::Json => entries.push(json!({
                        "file": shown,
                        "inspection": inspection,
                        "companion_certificate": inputs.certificate.as_ref().map(|(path, cert)| json!({
                            "file": path,
                            "identity": cert.identity,
                            "issuer": cert.issuer,
                        })),
                        "signed_file": inputs.artifact,
                        "verify": {
                            "gl_sign": commands.gl_sign.as_deref().map(shell_line),
                            "gl_sign_argv": commands.gl_sign,
                            "cosign": commands.cosign.as_deref().map(shell_line),
                            "cosign_argv": commands.cosign,
                            "notes": commands.notes,
                        },
                    })),
                }
            }
            Err(err) => {
                status = ExitStatus::Error;
                let mut message = String::new();
                crate::diagnostics::write_error_chain_worded(
                    &mut message,
                    &err,
                    &super::CliWording,
                )?;
                match args.output {
                    OutputFormat::Text => eprint!("{message}"),
                    OutputFormat::Json => {
                        eprint!("{message}");
                        entries.push(json!({
                            "file": shown,
                            "error": err.chain().map(ToString::to_string).collect::<Vec<_>>().join(": "),
                        }));
                    }
                }
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.output {
        OutputFormat::Text => out.write_all(text.as_bytes())?,
        OutputFormat::Json => {
            let doc = json!({
                "verified": false,
                "note": "inspecting is not verifying: nothing in these files has been checked",
                "files": entries,
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(status)
}

/// The signed file and companion certificate, found by the evidence's name.
/// (The form itself was told by content; names only shape the suggested command.)
fn command_inputs(file: &Path, inspection: &Inspection, known: &KnownLogs) -> CommandInputs {
    let evidence = file.display().to_string();
    let artifact = EVIDENCE_SUFFIXES
        .iter()
        .find_map(|suffix| evidence.strip_suffix(suffix))
        .filter(|stem| !stem.is_empty() && !stem.ends_with('/'))
        .map_or_else(|| "FILE".to_string(), str::to_string);
    let mut inputs = CommandInputs {
        evidence,
        artifact: artifact.clone(),
        certificate: None,
    };
    if inspection.kind == Kind::CosignSignature {
        let crt = format!("{artifact}.crt");
        if let Ok(bytes) = std::fs::read(&crt) {
            if let Ok(found) = inspect(&bytes, known) {
                if let Some(cert) = found.signatures.into_iter().find_map(|s| s.certificate) {
                    inputs.certificate = Some((crt, Box::new(cert)));
                }
            }
        }
    }
    inputs
}

fn render(
    out: &mut String,
    file: &str,
    inspection: &Inspection,
    inputs: &CommandInputs,
    commands: &VerifyCommands,
) -> std::fmt::Result {
    writeln!(out, "{file}")?;
    writeln!(out, "  form             {}", inspection.form)?;
    if let Some(media_type) = &inspection.media_type {
        writeln!(out, "  media type       {media_type}")?;
    }
    writeln!(out, "  {NOT_VERIFIED}")?;
    if let Some(token) = &inspection.token {
        let header: Vec<String> = token
            .header
            .iter()
            .map(|(k, v)| format!("{k}={}", plain(v)))
            .collect();
        writeln!(out, "  token header     {}", header.join(", "))?;
        writeln!(out, "  claims")?;
        let width = token.claims.keys().map(String::len).max().unwrap_or(0);
        for (key, value) in &token.claims {
            writeln!(out, "    {key:<width$}  {}", plain(value))?;
        }
        for (key, time) in &token.times {
            writeln!(out, "  {key:<16} {time}")?;
        }
        if let Some(identity) = &token.identity {
            writeln!(
                out,
                "  signer           {identity} (the identity Fulcio would certify)"
            )?;
        }
        if let Some(issuer) = &token.issuer {
            writeln!(out, "  issuer           {issuer}")?;
        }
    }
    for signature in &inspection.signatures {
        render_signature(out, signature)?;
    }
    if let Some((path, cert)) = &inputs.certificate {
        writeln!(
            out,
            "  signer           {} (from {path}, beside it)",
            cert.identity.as_deref().unwrap_or("(no SAN)")
        )?;
        writeln!(
            out,
            "  issuer           {}",
            cert.issuer.as_deref().unwrap_or("(no issuer extension)")
        )?;
    }
    if !inspection.notes.is_empty() || !commands.notes.is_empty() {
        writeln!(out, "  notes")?;
        for note in inspection.notes.iter().chain(&commands.notes) {
            writeln!(out, "    - {note}")?;
        }
    }
    if commands.gl_sign.is_some() || commands.cosign.is_some() {
        writeln!(out, "  verify with (these check it; inspect does not)")?;
        for argv in [&commands.gl_sign, &commands.cosign].into_iter().flatten() {
            writeln!(out, "    {}", shell_line(argv))?;
        }
    }
    writeln!(out)
}

fn render_signature(out: &mut String, signature: &SignatureInfo) -> std::fmt::Result {
    if let Some(label) = &signature.label {
        writeln!(out, "  --- {label}")?;
    }
    if let Some(publisher) = &signature.publisher {
        writeln!(out, "  publisher        {}", compact(publisher))?;
    }
    if let Some(cert) = &signature.certificate {
        writeln!(
            out,
            "  signer           {}",
            cert.identity.as_deref().unwrap_or("(no SAN)")
        )?;
        writeln!(
            out,
            "  issuer           {}",
            cert.issuer.as_deref().unwrap_or("(no issuer extension)")
        )?;
        if let Some(g) = &cert.gitlab {
            writeln!(
                out,
                "  GitLab CI        project {} on {}, ref {}, CI config {}",
                g.project_path, g.server_url, g.git_ref, g.config_path
            )?;
        }
        writeln!(out, "  certificate      serial {}", cert.serial)?;
        writeln!(out, "    subject        {}", or_empty(&cert.subject))?;
        writeln!(out, "    issued by      {}", cert.issued_by)?;
        writeln!(
            out,
            "    valid          {} to {} ({})",
            cert.not_before,
            cert.not_after,
            duration(cert.validity_seconds)
        )?;
        writeln!(out, "    key            {}", cert.key)?;
        if cert.is_ca {
            writeln!(out, "    CA             yes")?;
        }
        for san in &cert.subject_alternative_names {
            writeln!(out, "    SAN            {san}")?;
        }
        if !cert.extensions.is_empty() {
            writeln!(out, "    Fulcio extensions")?;
            let width = cert
                .extensions
                .iter()
                .map(|e| e.name.len())
                .max()
                .unwrap_or(0);
            for ext in &cert.extensions {
                writeln!(
                    out,
                    "      {:<24} {:<width$}  {}",
                    ext.oid, ext.name, ext.value
                )?;
            }
        }
        for sct in &cert.embedded_scts {
            writeln!(
                out,
                "    embedded SCT   {}, CT log {}, log ID {}",
                sct.time,
                sct.log
                    .as_deref()
                    .unwrap_or("not in the known trusted roots"),
                sct.log_id
            )?;
        }
    }
    for other in &signature.chain {
        writeln!(out, "    chain          {other}")?;
    }
    if let Some(hint) = &signature.public_key_hint {
        writeln!(out, "  public key hint  {hint}")?;
    }
    match &signature.content {
        Some(Content::MessageSignature {
            digest_algorithm,
            digest,
            signature_bytes,
        }) => {
            let digest = match (digest_algorithm, digest) {
                (Some(alg), Some(d)) => {
                    format!("{} {d}, ", alg.to_lowercase().replace("sha2_", "sha"))
                }
                _ => String::new(),
            };
            writeln!(
                out,
                "  signed           {digest}message signature of {signature_bytes} bytes"
            )?;
        }
        Some(Content::Dsse {
            payload_type,
            statement,
            signatures,
        }) => {
            writeln!(
                out,
                "  signed           DSSE envelope, payload type {payload_type}, {signatures} signature(s)"
            )?;
            match statement {
                Some(st) => {
                    writeln!(out, "    statement      {}", st.statement_type)?;
                    writeln!(
                        out,
                        "    predicate      {}{}",
                        st.predicate_type,
                        if st.predicate_present {
                            ""
                        } else {
                            " (no predicate body)"
                        }
                    )?;
                    for subject in &st.subjects {
                        let digests: Vec<String> = subject
                            .digest
                            .iter()
                            .map(|(alg, d)| format!("{alg}:{d}"))
                            .collect();
                        writeln!(
                            out,
                            "    subject        {} {}",
                            subject.name,
                            digests.join(" ")
                        )?;
                    }
                }
                None => writeln!(
                    out,
                    "    statement      (the payload is not an in-toto statement)"
                )?,
            }
        }
        None => {}
    }
    for entry in &signature.log_entries {
        writeln!(
            out,
            "  log entry        index {} in {}",
            entry.log_index.map_or("?".into(), |i| i.to_string()),
            entry
                .log
                .as_deref()
                .unwrap_or("a log not in the known trusted roots")
        )?;
        writeln!(out, "    log ID         {}", entry.log_id)?;
        if let Some(kind) = &entry.kind {
            writeln!(out, "    kind           {kind}")?;
        }
        writeln!(
            out,
            "    integrated     {}",
            entry
                .integrated_time
                .as_deref()
                .unwrap_or("(none: a Rekor v2 entry, dated by a signed timestamp)")
        )?;
        writeln!(
            out,
            "    promise (SET)  {}",
            if entry.inclusion_promise {
                "present"
            } else {
                "absent"
            }
        )?;
        match &entry.inclusion_proof {
            Some(proof) => {
                writeln!(
                    out,
                    "    inclusion      proof present: leaf {} of tree size {}, {} hashes, root {}",
                    opt(proof.log_index),
                    opt(proof.tree_size),
                    proof.hashes,
                    proof.root_hash.as_deref().unwrap_or("?")
                )?;
                if let Some(cp) = &proof.checkpoint {
                    writeln!(
                        out,
                        "    checkpoint     {}, tree size {}, root {}",
                        cp.origin,
                        opt(cp.tree_size),
                        cp.root_hash.as_deref().unwrap_or("?")
                    )?;
                }
            }
            None => writeln!(out, "    inclusion      no proof")?,
        }
    }
    for ts in &signature.timestamps {
        writeln!(
            out,
            "  timestamp        RFC 3161, {} ({} bytes)",
            ts.time.as_deref().unwrap_or("time unreadable"),
            ts.bytes
        )?;
    }
    Ok(())
}

fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn compact(value: &serde_json::Value) -> String {
    match value.as_object() {
        Some(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", plain(v)))
            .collect::<Vec<_>>()
            .join(", "),
        None => plain(value),
    }
}

fn or_empty(s: &str) -> &str {
    if s.is_empty() {
        "(empty)"
    } else {
        s
    }
}

fn opt(n: Option<u64>) -> String {
    n.map_or("?".into(), |n| n.to_string())
}

fn duration(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 && s >= 86_400 => format!("{} days", s / 86_400),
        s if s % 60 == 0 && s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
