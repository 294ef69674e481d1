//! The two file operations every command shares: atomic writes and
//! streaming sha256. One place, so a crash-safety or memory fix lands once.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Write `contents` to `path` through a temporary file in the same directory
/// and a rename, so a crash never leaves half a file. An existing file keeps
/// its permissions; a symlink is written through to its target.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".gl-sign-")
        .tempfile_in(&dir)?;
    file.write_all(contents)?;
    if let Ok(meta) = std::fs::metadata(&target) {
        file.as_file().set_permissions(meta.permissions())?;
    }
    file.as_file().sync_all()?;
    file.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// sha256 of everything `reader` yields, in constant memory.
pub fn sha256_reader(reader: impl Read) -> std::io::Result<[u8; 32]> {
    sha256_reader_buffered(reader, MAX_BUFFER)
}

/// Large reads keep big files fast; small files get a small buffer, since
/// zeroing 256 KiB costs more than hashing a 16 KiB wheel.
const MAX_BUFFER: usize = 256 * 1024;

fn sha256_reader_buffered(mut reader: impl Read, capacity: usize) -> std::io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; capacity.clamp(4096, MAX_BUFFER)];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finalize().into())
}

/// sha256 of a file, streaming.
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let file = std::fs::File::open(path)?;
    // One byte more than the length, so a file read whole ends in one more read.
    let size = file.metadata().map_or(MAX_BUFFER as u64, |m| m.len() + 1);
    sha256_reader_buffered(file, usize::try_from(size).unwrap_or(MAX_BUFFER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_keeps_mode_and_leaves_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.sig");
        write_atomic(&path, b"one").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(&dir.path().join("no-such-dir/f.sig"), b"x").is_err());
    }

    #[test]
    fn streaming_sha256_matches_the_one_shot_digest() {
        let data = vec![7u8; 1_000_003];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, &data).unwrap();
        let expected: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(sha256_file(&path).unwrap(), expected);
    }
}
