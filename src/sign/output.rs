//! cosign's output files, written atomically: a temporary file in the same
//! directory, then a rename, so a crash never leaves half a signature.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sigstore_types::Bundle;

use crate::verify::input::certificate_pem;
use crate::verify::Detached;

#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct OutputError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// The `.crt` bytes: PEM, or base64 of the PEM with no newline (cosign's default).
pub fn certificate_file_contents(der: &[u8], b64: bool) -> String {
    let pem = certificate_pem(der);
    if b64 {
        STANDARD.encode(pem)
    } else {
        pem
    }
}

pub(super) fn write_detached(
    outputs: &super::Outputs,
    detached: &Detached,
    b64_certificate: bool,
) -> Result<(), OutputError> {
    // `.sig` is base64 of the DER signature with no newline, as cosign writes it.
    write_atomic(
        &outputs.signature,
        STANDARD.encode(&detached.signature).as_bytes(),
    )?;
    write_atomic(
        &outputs.certificate,
        certificate_file_contents(&detached.certificate, b64_certificate).as_bytes(),
    )
}

pub(super) fn write_all(
    outputs: &super::Outputs,
    detached: &Detached,
    bundle: &Bundle,
    b64_certificate: bool,
) -> Result<(), OutputError> {
    write_detached(outputs, detached, b64_certificate)?;
    let json = bundle.to_json_pretty().map_err(|e| OutputError {
        path: outputs.bundle.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    write_atomic(&outputs.bundle, json.as_bytes())
}

pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), OutputError> {
    crate::files::write_atomic(path, contents).map_err(|source| OutputError {
        path: path.to_path_buf(),
        source,
    })
}

crate::register_hint!(none OutputError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.sig");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no-such-dir/f.sig");
        assert!(write_atomic(&missing, b"x")
            .unwrap_err()
            .to_string()
            .contains("no-such-dir"));
    }
}
