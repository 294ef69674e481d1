//! One field of a valid production bundle changed at a time: each must be refused.

use serde_json::Value;

use crate::support::{assert_run, run, vectors};

/// Verify `bundle` (a mutated copy of the v0.3 vector) against a.txt.
fn verify_mutated(bundle: &Value) -> crate::support::Run {
    vectors::verify_changed(bundle, &vectors::prod_root())
}

fn entry(bundle: &mut Value) -> &mut Value {
    &mut bundle["verificationMaterial"]["tlogEntries"][0]
}

#[test]
fn the_unmodified_vector_verifies() {
    assert_run(&verify_mutated(&vectors::happy_v03()), 0, &["OK "]);
}

/// (what, mutation, expected exit code, message fragment)
type Mutation = (&'static str, fn(&mut Value), i32, &'static str);

const MUTATIONS: &[Mutation] = &[
    (
        "signature",
        |b| vectors::flip_base64(&mut b["messageSignature"]["signature"]),
        1,
        "signature does not verify",
    ),
    (
        "certificate",
        |b| vectors::flip_base64(&mut b["verificationMaterial"]["certificate"]["rawBytes"]),
        1,
        "FAILED",
    ),
    (
        "message digest",
        |b| vectors::flip_base64(&mut b["messageSignature"]["messageDigest"]["digest"]),
        1,
        "expected sha256",
    ),
    (
        "SET",
        |b| vectors::flip_base64(&mut entry(b)["inclusionPromise"]["signedEntryTimestamp"]),
        1,
        "SET",
    ),
    (
        "proof hash",
        |b| vectors::flip_base64(&mut entry(b)["inclusionProof"]["hashes"][0]),
        1,
        "inclusion proof",
    ),
    (
        "proof root",
        |b| vectors::flip_base64(&mut entry(b)["inclusionProof"]["rootHash"]),
        1,
        "root hash",
    ),
    (
        "proof tree size",
        |b| {
            let size: u64 = entry(b)["inclusionProof"]["treeSize"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            entry(b)["inclusionProof"]["treeSize"] = Value::String((size + 1).to_string());
        },
        1,
        "FAILED",
    ),
    (
        "checkpoint signature",
        |b| {
            let envelope = entry(b)["inclusionProof"]["checkpoint"]["envelope"]
                .as_str()
                .unwrap()
                .to_string();
            // Change one character of the signature line (the last line's tail).
            let trimmed = envelope.trim_end_matches('\n');
            let (head, last) = trimmed.split_at(trimmed.len() - 6);
            let flipped: String = last
                .chars()
                .map(|c| if c == 'A' { 'B' } else { 'A' })
                .collect();
            entry(b)["inclusionProof"]["checkpoint"]["envelope"] =
                Value::String(format!("{head}{flipped}\n"));
        },
        1,
        "checkpoint",
    ),
    (
        "checkpoint tree size",
        |b| {
            let envelope = entry(b)["inclusionProof"]["checkpoint"]["envelope"]
                .as_str()
                .unwrap()
                .to_string();
            let mut lines: Vec<String> = envelope.lines().map(str::to_string).collect();
            let size: u64 = lines[1].parse().unwrap();
            lines[1] = (size + 1).to_string();
            entry(b)["inclusionProof"]["checkpoint"]["envelope"] =
                Value::String(lines.join("\n") + "\n");
        },
        1,
        "FAILED",
    ),
    (
        "log body",
        |b| {
            use base64::Engine as _;
            let engine = base64::engine::general_purpose::STANDARD;
            let body = engine
                .decode(entry(b)["canonicalizedBody"].as_str().unwrap())
                .unwrap();
            let text = String::from_utf8(body)
                .unwrap()
                .replace("\"sha256\"", "\"sha256\" ");
            entry(b)["canonicalizedBody"] = Value::String(engine.encode(text));
        },
        1,
        "FAILED",
    ),
    (
        "integrated time",
        |b| {
            let t: i64 = entry(b)["integratedTime"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            entry(b)["integratedTime"] = Value::String((t + 1).to_string());
        },
        1,
        "SET",
    ),
    (
        "log index",
        |b| {
            let i: i64 = entry(b)["logIndex"].as_str().unwrap().parse().unwrap();
            entry(b)["logIndex"] = Value::String((i + 1).to_string());
        },
        1,
        "FAILED",
    ),
    (
        "log id",
        |b| vectors::flip_base64(&mut entry(b)["logId"]["keyId"]),
        1,
        "log",
    ),
    (
        "no inclusion proof",
        |b| {
            entry(b).as_object_mut().unwrap().remove("inclusionProof");
        },
        1,
        "inclusion proof",
    ),
    (
        "no SET (no trusted time)",
        |b| {
            entry(b).as_object_mut().unwrap().remove("inclusionPromise");
        },
        1,
        "FAILED",
    ),
    (
        "no log entry",
        |b| {
            b["verificationMaterial"]["tlogEntries"] = Value::Array(vec![]);
        },
        1,
        "FAILED",
    ),
    (
        "media type",
        |b| {
            b["mediaType"] = Value::String("application/vnd.dev.sigstore.bundle.v0.9+json".into());
        },
        2,
        "unsupported bundle media type",
    ),
    (
        "kind version",
        |b| {
            entry(b)["kindVersion"]["version"] = Value::String("0.0.9".into());
        },
        2,
        "not a valid bundle",
    ),
];

#[test]
fn each_single_field_mutation_is_rejected() {
    let mut failures = Vec::new();
    for (what, mutate, code, fragment) in MUTATIONS {
        let mut bundle = vectors::happy_v03();
        mutate(&mut bundle);
        assert_ne!(
            bundle,
            vectors::happy_v03(),
            "{what}: the mutation changed nothing"
        );
        let result = verify_mutated(&bundle);
        if result.code != *code || !result.all().contains(fragment) {
            failures.push(format!(
                "{what}: expected exit {code} with {fragment:?}, got {}: {}",
                result.code,
                result.all()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_tampered_file_is_rejected_with_both_digests() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.txt");
    let mut bytes = std::fs::read(vectors::artifact()).unwrap();
    bytes.push(b'!');
    std::fs::write(&file, bytes).unwrap();
    let result = run(vectors::verify_bundle(&vectors::happy_v03_path())
        .arg("--trusted-root")
        .arg(vectors::prod_root())
        .arg(&file));
    assert_run(&result, 1, &["expected sha256 a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf (from the bundle), file has"]);
}
