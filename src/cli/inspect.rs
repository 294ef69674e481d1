use std::path::PathBuf;

use clap::Args;

use super::OutputFormat;

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Reads Sigstore bundles (v0.1-v0.3, message signature or DSSE), cosign legacy bundles, \
.sig and .crt files, certificates (PEM, base64 of PEM, DER), PEP 740 attestations, PyPI provenance objects \
and OIDC tokens (JWT: claims only, the token is never printed). The form is told by content, not by file name.\n\n\
Inspecting is not verifying: nothing is checked. Each file's output ends with the verify-blob (and cosign) \
command that checks it with its signer pinned.\n\n\
Exit status: 0 every file was read, 2 a file is unreadable or in none of these forms."
)]
pub struct InspectArgs {
    /// Files to explain
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Also name the logs of this trusted_root.json (a private Sigstore) [the embedded public-good
    /// production and staging roots are always known]
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,

    /// Explanations as text, or as one JSON document on stdout
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}
