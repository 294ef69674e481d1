//! Self-tests of `support::sigstore_stack::LocalSigstore`: the Rust Sigstore
//! clients and sigstore-python sign and verify against it, and every fault
//! switch is visible over HTTP and in the request counters.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine as _;
use serde_json::{json, Value};
use sigstore_crypto::KeyPair;
use sigstore_rekor::{HashedRekord, RekorClient};
use sigstore_trust_root::TrustedRoot;
use sigstore_types::{Bundle, KindVersion, Sha256Hash};
use sigstore_verify::{VerificationPolicy, Verifier};

use crate::support::pki::{hex, sha256, GitLabClaims};
use crate::support::sigstore_stack::{endpoint, LocalSigstore, TokenOptions};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// What one signing run with the Rust clients produced.
struct RustSigned {
    bundle: Bundle,
    leaf: sigstore_types::DerCertificate,
    key: KeyPair,
    digest: Sha256Hash,
    signature: sigstore_types::SignatureBytes,
}

async fn rust_sign(stack: &LocalSigstore, jwt: &str, data: &[u8]) -> Result<RustSigned, String> {
    let token = sigstore_oidc::IdentityToken::from_jwt(jwt).map_err(|e| e.to_string())?;
    let key = KeyPair::generate_ecdsa_p256().unwrap();
    let cert = sigstore_fulcio::FulcioClient::new(stack.fulcio_url())
        .unwrap()
        .create_signing_certificate(&token, &key)
        .await
        .map_err(|e| format!("fulcio: {e}"))?;
    assert_eq!(
        cert.certificate_chain().len(),
        3,
        "leaf, intermediate, root"
    );
    let leaf = cert.leaf_certificate().clone();
    let digest = Sha256Hash::new(sha256(data));
    let signature = key.sign_digest(&digest).unwrap();
    let entry = RekorClient::new(stack.rekor_url())
        .unwrap()
        .create_entry(HashedRekord::new(&digest, &signature, &leaf))
        .await
        .map_err(|e| format!("rekor: {e}"))?
        .to_bundle_entry(KindVersion::HashedRekordV001)
        .map_err(|e| e.to_string())?;
    let bundle = sigstore_bundle::BundleV03::with_certificate_and_signature(
        leaf.clone(),
        signature.clone(),
        digest,
    )
    .with_tlog_entry(entry)
    .into_bundle();
    Ok(RustSigned {
        bundle,
        leaf,
        key,
        digest,
        signature,
    })
}

fn verify_bundle(
    stack: &LocalSigstore,
    data: &[u8],
    bundle: &Bundle,
    claims: &GitLabClaims,
) -> Result<sigstore_verify::VerificationResult, String> {
    let root = TrustedRoot::from_json(&stack.trusted_root_json()).map_err(|e| e.to_string())?;
    let verifier = Verifier::new(&root).map_err(|e| e.to_string())?;
    let policy = VerificationPolicy::new(claims.identity(), claims.issuer());
    verifier
        .verify(data, bundle, &policy)
        .map_err(|e| e.to_string())
}

#[test]
fn stack_rust_clients_sign_verify_and_conflict() {
    let stack = LocalSigstore::start();
    let claims = stack.gitlab_claims();
    assert_eq!(claims.issuer(), stack.issuer_url());
    let rt = runtime();
    let data = b"stack self-test artifact";
    let signed = rt
        .block_on(rust_sign(&stack, &stack.token(), data))
        .unwrap();

    let res = verify_bundle(&stack, data, &signed.bundle, &claims).expect("bundle verifies");
    assert!(res.certificate_verified() && res.sct_verified() && res.tlog_verified());
    assert!(res.identity_policy_checked());
    assert_eq!(res.issuer(), Some(stack.issuer_url()));
    let ci = &res.certificate().unwrap().ci_claims;
    assert_eq!(ci.source_repository_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(
        ci.build_config_uri.as_deref(),
        Some(claims.identity().as_str())
    );
    assert!(claims.identity().starts_with("https://127.0.0.1:"));
    // Someone else's identity is rejected.
    let other = claims.clone().with_tag("v9");
    assert!(verify_bundle(&stack, data, &signed.bundle, &other).is_err());

    // The same entry again: 409 with Rekor's message and Location.
    let err = rt
        .block_on(
            RekorClient::new(stack.rekor_url())
                .unwrap()
                .create_entry(HashedRekord::new(
                    &signed.digest,
                    &signed.signature,
                    &signed.leaf,
                )),
        )
        .unwrap_err();
    match err {
        sigstore_rekor::Error::Status { status, message } => {
            assert_eq!(status, 409);
            assert!(
                message.contains("An equivalent entry already exists in the transparency log"),
                "{message}"
            );
        }
        other => panic!("expected 409, got {other}"),
    }
    assert_eq!(stack.fulcio().requests(endpoint::FULCIO_SIGNING_CERT), 1);
    assert_eq!(stack.rekor().requests(endpoint::REKOR_CREATE), 2);
    assert_eq!(stack.rekor_tree_size(), 1);
    let _ = &signed.key;
}

#[test]
fn stack_rekor_read_endpoints() {
    let stack = LocalSigstore::start();
    let rt = runtime();
    let first = rt
        .block_on(rust_sign(&stack, &stack.token(), b"one"))
        .unwrap();
    rt.block_on(rust_sign(&stack, &stack.token(), b"two"))
        .unwrap();
    rt.block_on(rust_sign(&stack, &stack.token(), b"three"))
        .unwrap();
    let entry0 = stack.rekor_entry(0);
    let http = reqwest::Client::new();
    let base = stack.rekor_url().to_string();
    rt.block_on(async {
        // GET by 80- and 64-hex UUID: proof against the CURRENT tree (size 3).
        for uuid in [entry0.uuid.clone(), entry0.uuid[16..].to_string()] {
            let r = http
                .get(format!("{base}/api/v1/log/entries/{uuid}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            let e = &v[&entry0.uuid];
            assert_eq!(e["verification"]["inclusionProof"]["treeSize"], 3);
            assert!(e["verification"]["inclusionProof"]["checkpoint"]
                .as_str()
                .unwrap()
                .contains("\n3\n"));
        }
        let r = http
            .get(format!("{base}/api/v1/log/entries/{}", "ab".repeat(32)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        // By log index.
        let v: Value = http
            .get(format!("{base}/api/v1/log/entries?logIndex=2"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (_, e) = v.as_object().unwrap().iter().next().unwrap();
        assert_eq!(e["logIndex"], 2);
        // Retrieve by proposed entry (exact body match) and by hash index.
        let proposed: Value = serde_json::from_slice(&entry0.body()).unwrap();
        let v: Value = http
            .post(format!("{base}/api/v1/log/entries/retrieve"))
            .json(&json!({ "entries": [proposed] }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1);
        assert!(v[0].get(&entry0.uuid).is_some());
        let v: Value = http
            .post(format!("{base}/api/v1/index/retrieve"))
            .json(&json!({ "hash": format!("sha256:{}", hex(first.digest.as_bytes())) }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v, json!([entry0.uuid]));
        // The Rust client's own search.
        let uuids = RekorClient::new(&base)
            .unwrap()
            .search_by_hash(&first.digest)
            .await
            .unwrap();
        assert_eq!(uuids.len(), 1);
        // Log info.
        let v: Value = http
            .get(format!("{base}/api/v1/log"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["treeSize"], 3);
        assert_eq!(v["rootHash"], hex(&stack.with_pki(|p| p.root_hash())));
        // A bad signature is refused with 400.
        let mut bad: Value = serde_json::from_slice(&entry0.body()).unwrap();
        bad["spec"]["data"]["hash"]["value"] = json!(hex(&sha256(b"not signed")));
        let r = http
            .post(format!("{base}/api/v1/log/entries"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    });
    assert_eq!(stack.rekor_tree_size(), 3);
    assert_eq!(stack.rekor().requests(endpoint::REKOR_GET_BY_UUID), 3);
    assert_eq!(stack.rekor().requests(endpoint::REKOR_GET_BY_INDEX), 1);
    assert_eq!(stack.rekor().requests(endpoint::REKOR_RETRIEVE), 1);
    assert_eq!(stack.rekor().requests(endpoint::REKOR_INDEX_RETRIEVE), 2);
}

#[test]
fn stack_oidc_discovery_and_token_checks() {
    let stack = LocalSigstore::start();
    let rt = runtime();
    let http = reqwest::Client::new();
    let claims = stack.gitlab_claims();
    let iss = stack.issuer_url().to_string();
    let fulcio = stack.fulcio_url().to_string();
    rt.block_on(async {
        let conf: Value = http
            .get(format!("{iss}/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(conf["issuer"], iss.as_str());
        let jwks: Value = http
            .get(conf["jwks_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // Verify a minted token independently with the published JWK.
        let jwk = &jwks["keys"][0];
        // DER SubjectPublicKeyInfo prefix of an uncompressed P-256 point.
        let mut spki = B64.decode("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE").unwrap();
        spki.extend(B64URL.decode(jwk["x"].as_str().unwrap()).unwrap());
        spki.extend(B64URL.decode(jwk["y"].as_str().unwrap()).unwrap());
        let token = stack.token();
        let parts: Vec<&str> = token.split('.').collect();
        let raw = B64URL.decode(parts[2]).unwrap();
        let key =
            sigstore_crypto::VerificationKey::from_spki(&sigstore_types::DerPublicKey::new(spki))
                .unwrap();
        // P-256 with a raw r||s signature: rebuild DER.
        let der = {
            let int = |x: &[u8]| {
                let x: Vec<u8> = x.iter().copied().skip_while(|&b| b == 0).collect();
                let mut v = vec![0x02];
                if x[0] & 0x80 != 0 {
                    v.extend([x.len() as u8 + 1, 0]);
                } else {
                    v.push(x.len() as u8);
                }
                v.extend(x);
                v
            };
            let mut body = int(&raw[..32]);
            body.extend(int(&raw[32..]));
            let mut d = vec![0x30, body.len() as u8];
            d.extend(body);
            d
        };
        key.verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &sigstore_types::SignatureBytes::new(der),
        )
        .expect("JWT verifies with the JWKS key");
        let payload: Value = serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(payload["iss"], iss.as_str());
        assert_eq!(payload["aud"], "sigstore");
        assert_eq!(
            payload["sub"],
            "project_path:group/proj:ref_type:branch:ref:main"
        );
        let cfg_uri = payload["ci_config_ref_uri"].as_str().unwrap();
        assert!(!cfg_uri.contains("://") && cfg_uri.contains("//.gitlab-ci.yml@refs/heads/main"));
        for c in [
            "exp",
            "nbf",
            "iat",
            "jti",
            "namespace_id",
            "namespace_path",
            "project_id",
            "project_path",
            "pipeline_id",
            "pipeline_source",
            "job_id",
            "ref",
            "ref_type",
            "ref_path",
            "ref_protected",
            "runner_id",
            "runner_environment",
            "sha",
            "project_visibility",
            "ci_config_sha",
            "user_id",
            "user_login",
            "user_email",
        ] {
            assert!(payload.get(c).is_some(), "claim {c} missing");
        }

        // Fulcio rejects bad tokens with 401 and a JSON body.
        let key = KeyPair::generate_ecdsa_p256().unwrap();
        let pem = key.public_key_der().unwrap().to_pem();
        let request = |jwt: String, pop_over: &str| {
            let pop = key.sign(pop_over.as_bytes()).unwrap();
            json!({
                "credentials": { "oidcIdentityToken": jwt },
                "publicKeyRequest": {
                    "publicKey": { "algorithm": "ECDSA", "content": pem },
                    "proofOfPossession": B64.encode(pop.as_bytes()),
                },
            })
        };
        let sub = claims.subject();
        let post = |body: Value| {
            let http = http.clone();
            let url = format!("{fulcio}/api/v2/signingCert");
            async move {
                let r = http.post(url).json(&body).send().await.unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (status, body) = post(request(stack.token(), &sub)).await;
        assert_eq!(status, 201, "{body}");
        let cases = [
            ("expired", TokenOptions::default().expired()),
            ("not yet valid", TokenOptions::default().not_yet_valid()),
            ("wrong aud", TokenOptions::default().audience("pypi")),
            (
                "foreign key",
                TokenOptions::default().signed_by_foreign_key(),
            ),
            (
                "other issuer",
                TokenOptions::default().issuer("https://gitlab.com"),
            ),
        ];
        for (what, opts) in cases {
            let (status, body) = post(request(stack.mint_token(&claims, &opts), &sub)).await;
            assert_eq!(status, 401, "{what}: {body}");
            assert_eq!(body["code"], 16, "{what}: {body}");
            assert!(body["message"].as_str().unwrap().contains("identity token"));
        }
        // Multiple audiences including sigstore are fine.
        let opts = TokenOptions::default().audiences(&["pypi", "sigstore"]);
        let (status, _) = post(request(stack.mint_token(&claims, &opts), &sub)).await;
        assert_eq!(status, 201);
        // Proof of possession over the wrong string: 400.
        let (status, body) = post(request(stack.token(), "someone else")).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], 3);
        // Missing ci_config_ref_uri: 400.
        let opts = TokenOptions::default().without_claim("ci_config_ref_uri");
        let (status, _) = post(request(stack.mint_token(&claims, &opts), &sub)).await;
        assert_eq!(status, 400);
    });
    assert_eq!(stack.fulcio().requests(endpoint::FULCIO_SIGNING_CERT), 9);
    assert_eq!(stack.oidc().requests(endpoint::OIDC_JWKS), 1);
}

#[test]
fn stack_fault_switches() {
    let stack = LocalSigstore::start();
    let rt = runtime();
    let http = reqwest::Client::new();
    let claims = stack.gitlab_claims();
    let conf = format!("{}/api/v2/configuration", stack.fulcio_url());
    rt.block_on(async {
        // Status for the next N requests.
        stack.fulcio().fail_next(2, 503);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let r = http.get(&conf).send().await.unwrap();
            seen.push(r.status().as_u16());
        }
        assert_eq!(seen, [503, 503, 200]);
        stack.rekor().fail_next(1, 429);
        let r = http
            .get(format!("{}/api/v1/log", stack.rekor_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], 429);

        // Latency.
        stack.oidc().set_latency(Duration::from_millis(60));
        let t = Instant::now();
        let r = http
            .get(format!("{}/jwks", stack.issuer_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            t.elapsed() >= Duration::from_millis(60),
            "{:?}",
            t.elapsed()
        );
        stack.oidc().set_latency(Duration::ZERO);

        // Dropped connection: no response at all, then normal service (also
        // on a pooled keep-alive connection).
        let r = http.get(&conf).send().await.unwrap();
        assert_eq!(r.status(), 200);
        stack.fulcio().drop_next(1);
        let err = http.get(&conf).send().await.unwrap_err();
        eprintln!("dropped connection error: {err:?}");
        assert!(err.status().is_none());
        assert!(err.is_request() || err.is_connect(), "{err:?}");
        assert_eq!(http.get(&conf).send().await.unwrap().status(), 200);
    });
    assert_eq!(stack.fulcio().requests(endpoint::FULCIO_CONFIGURATION), 6);
    assert_eq!(stack.fulcio().injected_faults(), 3);
    assert!(stack
        .fulcio()
        .request_log()
        .contains(&format!("{} -> dropped", endpoint::FULCIO_CONFIGURATION)));
    assert_eq!(stack.rekor().requests(endpoint::REKOR_LOG_INFO), 1);
    assert_eq!(stack.oidc().requests(endpoint::OIDC_JWKS), 1);

    // Wrong identity: a valid certificate for another project.
    stack.fulcio_issue_for_other_identity(1);
    let data = b"fault data";
    let signed = rt
        .block_on(rust_sign(&stack, &stack.token(), data))
        .unwrap();
    let err = verify_bundle(&stack, data, &signed.bundle, &claims).unwrap_err();
    eprintln!("other identity rejected: {err}");
    let mut attacker = claims.clone();
    attacker.project_path = "attacker/other-project".into();
    attacker.namespace_path = "attacker".into();
    verify_bundle(&stack, data, &signed.bundle, &attacker).expect("valid for the other identity");

    // Corrupted SET on create.
    stack.rekor_corrupt_set(1);
    let signed = rt
        .block_on(rust_sign(&stack, &stack.token(), b"set"))
        .unwrap();
    let err = verify_bundle(&stack, b"set", &signed.bundle, &claims).unwrap_err();
    eprintln!("corrupt SET rejected: {err}");
    // ...and the stored entry is fine when fetched again.
    let fresh = stack.rekor_entry(stack.rekor_tree_size() - 1);
    let good = B64.decode(&fresh.set_b64).unwrap();
    let tlog =
        &serde_json::to_value(&signed.bundle).unwrap()["verificationMaterial"]["tlogEntries"][0];
    let served = B64
        .decode(
            tlog["inclusionPromise"]["signedEntryTimestamp"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    assert_ne!(good, served);

    // Entry for another body.
    stack.rekor_return_other_body(1);
    let signed = rt
        .block_on(rust_sign(&stack, &stack.token(), b"body"))
        .unwrap();
    let tlog =
        &serde_json::to_value(&signed.bundle).unwrap()["verificationMaterial"]["tlogEntries"][0];
    let body: Value = serde_json::from_slice(
        &B64.decode(tlog["canonicalizedBody"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_ne!(
        body["spec"]["data"]["hash"]["value"],
        hex(signed.digest.as_bytes())
    );
    let err = verify_bundle(&stack, b"body", &signed.bundle, &claims).unwrap_err();
    eprintln!("other body rejected: {err}");
    assert_eq!(stack.rekor().requests(endpoint::REKOR_CREATE), 3);
}

/// sigstore-python CLI, if available (`$GL_SIGN_PYTHON_BIN/sigstore` or the
/// project venv). Missing: skipped locally, a failure under `CI`.
fn sigstore_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("GL_SIGN_PYTHON_BIN").map(|d| PathBuf::from(d).join("sigstore")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/sigstore")),
        Some(PathBuf::from("/work/main/.venv/bin/sigstore")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        let why = "sigstore-python not found (set GL_SIGN_PYTHON_BIN to a venv bin dir)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipping: {why}");
    }
    found
}

#[test]
fn stack_sigstore_python_signs_and_verifies() {
    let Some(sigstore) = sigstore_python() else {
        return;
    };
    let stack = LocalSigstore::start();
    let dir = tempfile::tempdir().unwrap();
    let files = stack.write_trust_files(dir.path());
    let artifact = dir.path().join("pkg-1.0.tar.gz");
    std::fs::write(&artifact, b"python interop payload").unwrap();
    let claims = stack.gitlab_claims();

    let run = |args: &[&str]| {
        let out = Command::new(&sigstore)
            .arg("--trust-config")
            .arg(&files.client_trust_config)
            .args(args)
            .arg(&artifact)
            .env_remove("SIGSTORE_ID_TOKEN")
            .env_remove("GITLAB_CI")
            .output()
            .unwrap();
        crate::support::outcome(&out)
    };
    let token = stack.token();
    let (ok, text) = run(&["sign", "--identity-token", &token]);
    assert!(ok, "sigstore sign failed:\n{text}");
    let bundle_path = PathBuf::from(format!("{}.sigstore.json", artifact.display()));
    assert!(bundle_path.is_file());
    assert_eq!(stack.fulcio().requests(endpoint::FULCIO_SIGNING_CERT), 1);
    assert_eq!(stack.rekor().requests(endpoint::REKOR_CREATE), 1);

    let identity = claims.identity();
    let (ok, text) = run(&[
        "verify",
        "identity",
        "--offline",
        "--cert-identity",
        &identity,
        "--cert-oidc-issuer",
        stack.issuer_url(),
    ]);
    assert!(ok, "sigstore verify failed:\n{text}");
    assert!(text.contains("OK"), "{text}");
    // A different identity does not verify.
    let (ok, _) = run(&[
        "verify",
        "identity",
        "--offline",
        "--cert-identity",
        &claims.clone().with_tag("v1").identity(),
        "--cert-oidc-issuer",
        stack.issuer_url(),
    ]);
    assert!(!ok);

    // The Rust verifier accepts sigstore-python's bundle too.
    let bundle = Bundle::from_json(&std::fs::read_to_string(&bundle_path).unwrap()).unwrap();
    let data = std::fs::read(&artifact).unwrap();
    verify_bundle(&stack, &data, &bundle, &claims).expect("rust verifies python bundle");

    // And sigstore-python accepts a bundle made by the Rust clients.
    let rust_artifact = dir.path().join("rust.bin");
    std::fs::write(&rust_artifact, b"made by rust").unwrap();
    let signed = runtime()
        .block_on(rust_sign(&stack, &stack.token(), b"made by rust"))
        .unwrap();
    let rust_bundle = dir.path().join("rust.bin.sigstore.json");
    std::fs::write(&rust_bundle, signed.bundle.to_json_pretty().unwrap()).unwrap();
    let out = Command::new(&sigstore)
        .arg("--trust-config")
        .arg(&files.client_trust_config)
        .args(["verify", "identity", "--offline", "--cert-identity"])
        .arg(&identity)
        .arg("--cert-oidc-issuer")
        .arg(stack.issuer_url())
        .arg(&rust_artifact)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python rejects rust bundle: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // DSSE: `sigstore attest` logs a dsse 0.0.1 entry; it verifies with both.
    let predicate = dir.path().join("predicate.json");
    let slsa = json!({
        "buildDefinition": {
            "buildType": "https://example.test/build/v1",
            "externalParameters": {},
        },
        "runDetails": { "builder": { "id": "https://example.test/runner" } },
    });
    std::fs::write(&predicate, slsa.to_string()).unwrap();
    let attest_bundle = dir.path().join("attest.sigstore.json");
    let (ok, text) = run(&[
        "attest",
        "--identity-token",
        &stack.token(),
        "--predicate-type",
        "https://slsa.dev/provenance/v1",
        "--predicate",
        predicate.to_str().unwrap(),
        "--bundle",
        attest_bundle.to_str().unwrap(),
    ]);
    assert!(ok, "sigstore attest failed:\n{text}");
    let last = stack.rekor_entry(stack.rekor_tree_size() - 1);
    assert_eq!(last.kind_version().0, "dsse");
    let (ok, text) = run(&[
        "verify",
        "identity",
        "--offline",
        "--bundle",
        attest_bundle.to_str().unwrap(),
        "--cert-identity",
        &identity,
        "--cert-oidc-issuer",
        stack.issuer_url(),
    ]);
    assert!(ok, "sigstore verify (dsse) failed:\n{text}");
    let bundle = Bundle::from_json(&std::fs::read_to_string(&attest_bundle).unwrap()).unwrap();
    verify_bundle(&stack, &data, &bundle, &claims).expect("rust verifies python DSSE bundle");
}

#[test]
fn stack_rust_dsse_entry() {
    use sigstore_types::{DsseEnvelope, DsseSignature, KeyId, PayloadBytes};
    let stack = LocalSigstore::start();
    let claims = stack.gitlab_claims();
    let rt = runtime();
    let data = b"wheel bytes";
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{
            "name": "pkg-1.0-py3-none-any.whl",
            "digest": { "sha256": hex(&sha256(data)) },
        }],
        "predicateType": "https://docs.pypi.org/attestations/publish/v1",
        "predicate": null,
    })
    .to_string();
    let bundle = rt.block_on(async {
        let token = sigstore_oidc::IdentityToken::from_jwt(&stack.token()).unwrap();
        let key = KeyPair::generate_ecdsa_p256().unwrap();
        let cert = sigstore_fulcio::FulcioClient::new(stack.fulcio_url())
            .unwrap()
            .create_signing_certificate(&token, &key)
            .await
            .unwrap();
        let leaf = cert.leaf_certificate().clone();
        let payload_type = "application/vnd.in-toto+json";
        let pae = sigstore_types::dsse::pae(payload_type, statement.as_bytes());
        let sig = key.sign(&pae).unwrap();
        let envelope = DsseEnvelope::new(
            payload_type,
            PayloadBytes::from_bytes(statement.as_bytes()),
            DsseSignature::new(sig, KeyId::default()),
        );
        let rekor = RekorClient::new(stack.rekor_url()).unwrap();
        let entry = rekor
            .create_dsse_entry(sigstore_rekor::DsseEntry::new(&envelope, &leaf).unwrap())
            .await
            .unwrap()
            .to_bundle_entry(KindVersion::DsseV001)
            .unwrap();
        // Same envelope again: 409.
        let again = rekor
            .create_dsse_entry(sigstore_rekor::DsseEntry::new(&envelope, &leaf).unwrap())
            .await;
        assert!(matches!(
            again,
            Err(sigstore_rekor::Error::Status { status: 409, .. })
        ));
        sigstore_bundle::BundleV03::with_certificate_and_dsse(leaf, envelope)
            .with_tlog_entry(entry)
            .into_bundle()
    });
    let res = verify_bundle(&stack, data, &bundle, &claims).expect("DSSE bundle verifies");
    assert!(res.tlog_verified() && res.sct_verified());
    assert!(verify_bundle(&stack, b"other wheel", &bundle, &claims).is_err());
    assert_eq!(stack.rekor_tree_size(), 1);
}

#[test]
fn stack_stops_when_dropped() {
    let stack = LocalSigstore::start();
    let addrs: Vec<String> = [stack.issuer_url(), stack.fulcio_url(), stack.rekor_url()]
        .iter()
        .map(|u| u.trim_start_matches("http://").to_string())
        .collect();
    for a in &addrs {
        std::net::TcpStream::connect(a).expect("service listening");
    }
    let t = Instant::now();
    drop(stack);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    for a in &addrs {
        assert!(std::net::TcpStream::connect(a).is_err(), "{a} still open");
    }
}
