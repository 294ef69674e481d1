//! The one verdict printer for verify-blob and consumer-verify: a line per
//! file (or one JSON document), hints on stderr right after their verdict.

use std::io::Write;

use serde_json::{json, Value};

use super::shared::{hints, reason};
use crate::cli::OutputFormat;
use crate::exit::ExitStatus;
use crate::verify::Verified;

pub struct VerdictPrinter {
    format: OutputFormat,
    entries: Vec<Value>,
    pub verified: usize,
    pub rejected: usize,
    pub errors: usize,
    pub status: ExitStatus,
}

impl VerdictPrinter {
    pub fn new(format: OutputFormat) -> Self {
        VerdictPrinter {
            format,
            entries: Vec::new(),
            verified: 0,
            rejected: 0,
            errors: 0,
            status: ExitStatus::Success,
        }
    }

    pub fn ok(&mut self, file: &str, v: &Verified) -> std::io::Result<()> {
        self.verified += 1;
        match self.format {
            OutputFormat::Text => {
                let mut line = format!("OK {file}: signed by {}", v.identity);
                if v.evidence == crate::verify::EvidenceKind::KeySignatureWithoutLog {
                    line.push_str(" (in no transparency log: --insecure-ignore-tlog)");
                }
                if let Some(git_ref) = &v.git_ref {
                    line.push_str(&format!(" (ref {git_ref})"));
                }
                if let Some(index) = v.log_index {
                    line.push_str(&format!(", log index {index}"));
                }
                line.push_str(&format!("; trust root: {}", v.trust_root));
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")?;
                out.flush()
            }
            OutputFormat::Json => {
                self.entries.push(json!({
                    "file": file,
                    "outcome": "verified",
                    "sha256": v.sha256,
                    "identity": v.identity,
                    "issuer": v.issuer,
                    "ref": v.git_ref,
                    "evidence": v.evidence.as_str(),
                    "log_index": v.log_index,
                    "log": v.log,
                    "signed_at": v.signed_at.map(|t| t.to_string()),
                    "trust_root": v.trust_root,
                }));
                Ok(())
            }
        }
    }

    /// A file that did not verify; `rejected` tells "no" from "could not tell".
    pub fn failed(
        &mut self,
        file: &str,
        err: &(dyn std::error::Error + 'static),
        rejected: bool,
    ) -> std::io::Result<()> {
        let outcome = if rejected {
            self.rejected += 1;
            self.status = self.status.worst(ExitStatus::Rejected);
            "rejected"
        } else {
            self.errors += 1;
            self.status = self.status.worst(ExitStatus::Error);
            "error"
        };
        let hints = hints(err);
        match self.format {
            OutputFormat::Text => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "FAILED {file}: {}", reason(err))?;
                // Keep each hint right after its verdict when both go to a terminal.
                out.flush()?;
                for hint in &hints {
                    eprintln!("hint: {hint}");
                }
            }
            OutputFormat::Json => self.entries.push(json!({
                "file": file,
                "outcome": outcome,
                "reason": reason(err),
                "hints": hints,
            })),
        }
        Ok(())
    }

    /// Print the JSON document (with `extra` top-level fields), if JSON.
    pub fn finish(self, extra: Value) -> std::io::Result<ExitStatus> {
        if self.format == OutputFormat::Json {
            let mut doc = json!({
                "verified": self.verified,
                "rejected": self.rejected,
                "errors": self.errors,
                "files": self.entries,
            });
            if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
                doc.extend(extra.clone());
            }
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
            out.flush()?;
        }
        Ok(self.status)
    }
}
