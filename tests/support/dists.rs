//! Real, installable Python distributions built in the test: a wheel with a
//! correct RECORD and an sdist with PKG-INFO, so pip, twine and gl-sign all
//! read them as they would a `python -m build` output.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

pub struct Built {
    pub wheel: PathBuf,
    pub sdist: PathBuf,
}

fn metadata(name: &str, version: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: A gl-sign test package\n\
         Requires-Python: >=3.8\nAuthor-email: Test <test@example.com>\nClassifier: Programming Language :: Python :: 3\n\
         Description-Content-Type: text/markdown\n\n# {name}\n\nA package for tests.\n"
    )
}

/// Build `{name}-{version}` as a wheel and an sdist in `dir`. `module_body`
/// is the package's `__init__.py` (a bigger body makes a bigger dist).
pub fn build(dir: &Path, name: &str, version: &str, module_body: &str) -> Built {
    let module = name.replace('-', "_");
    let dist_info = format!("{module}-{version}.dist-info");
    let files: Vec<(String, Vec<u8>)> = vec![
        (format!("{module}/__init__.py"), module_body.as_bytes().to_vec()),
        (format!("{dist_info}/METADATA"), metadata(name, version).into_bytes()),
        (format!("{dist_info}/WHEEL"), b"Wheel-Version: 1.0\nGenerator: gl-sign-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec()),
    ];
    let mut record = String::new();
    for (path, bytes) in &files {
        let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
        record.push_str(&format!("{path},sha256={hash},{}\n", bytes.len()));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    let wheel = dir.join(format!("{module}-{version}-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (path, bytes) in files
        .iter()
        .chain([(format!("{dist_info}/RECORD"), record.into_bytes())].iter())
    {
        zip.start_file(path.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();

    let root = format!("{module}-{version}");
    let sdist = dir.join(format!("{root}.tar.gz"));
    let encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&sdist).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(encoder);
    let pyproject = format!(
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"{name}\"\nversion = \"{version}\"\nrequires-python = \">=3.8\"\n"
    );
    for (path, bytes) in [
        (
            format!("{root}/PKG-INFO"),
            metadata(name, version).into_bytes(),
        ),
        (format!("{root}/pyproject.toml"), pyproject.into_bytes()),
        (
            format!("{root}/{module}/__init__.py"),
            module_body.as_bytes().to_vec(),
        ),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    Built { wheel, sdist }
}
