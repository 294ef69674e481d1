//! One verify-blob call over files sharing a certificate checks its chain once
//! (verify::cache) and still refuses each tampered file on its own.

use crate::support::{assert_run, gl_sign, run, vectors};

#[test]
fn tampered_files_sharing_a_cached_certificate_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = std::fs::read(vectors::artifact()).unwrap();
    let good = vectors::happy_v03();
    let mut bad_signature = good.clone();
    vectors::flip_base64(&mut bad_signature["messageSignature"]["signature"]);
    let mut bad_set = good.clone();
    vectors::flip_base64(
        &mut bad_set["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]
            ["signedEntryTimestamp"],
    );
    // Two good files first: with any worker count, a good file has finished
    // (and filled the cache) before the tampered ones start.
    let cases = [
        ("good-1", &good, &artifact[..]),
        ("good-2", &good, &artifact[..]),
        ("bad-signature", &bad_signature, &artifact[..]),
        ("bad-set", &bad_set, &artifact[..]),
        ("other-content", &good, &b"not a.txt\n"[..]),
        ("good-3", &good, &artifact[..]),
    ];
    let mut files = Vec::new();
    for (name, bundle, content) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        std::fs::write(
            dir.path().join(format!("{name}.sigstore.json")),
            serde_json::to_vec(bundle).unwrap(),
        )
        .unwrap();
        files.push(file);
    }
    let out = run(gl_sign()
        .args(["verify-blob", "--offline", "--trusted-root"])
        .arg(vectors::prod_root())
        .args([
            "--certificate-identity",
            vectors::GITHUB_IDENTITY,
            "--certificate-oidc-issuer",
            vectors::GITHUB_ISSUER,
        ])
        .args(&files));
    assert_run(
        &out,
        1,
        &[
            "signature does not verify",
            "SET",
            "3 of 6 files verified (3 rejected, 0 errors)",
            "expected sha256 a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf (from the bundle), file has",
        ],
    );
    let all = out.all();
    for name in ["good-1", "good-2", "good-3"] {
        let ok = format!("OK {}", dir.path().join(name).display());
        assert!(
            all.lines()
                .any(|l| l == ok || l.starts_with(&format!("{ok}:"))),
            "{name} not OK in\n{all}"
        );
    }
    for name in ["bad-signature", "bad-set", "other-content"] {
        assert!(
            !all.lines()
                .any(|l| l.starts_with("OK ") && l.contains(name)),
            "{name} accepted in\n{all}"
        );
    }
}
