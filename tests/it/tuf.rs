//! Issue 11: the trust root kept current through TUF. `trust update` against
//! a local TUF repository (tests/support/tuf_repo.rs) that serves the local
//! Sigstore's trusted root, then verification without `--trusted-root`; every
//! TUF attack leaves the cache byte for byte as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::sigstore_stack::{LocalSigstore, TrustFiles};
use crate::support::tuf_repo::{merge_trusted_roots, Attack, TufRepo};
use crate::support::{assert_live_snapshot, assert_run, gl_sign, run, Run, RunSnapshot};

struct Env {
    stack: LocalSigstore,
    repo: TufRepo,
    dir: tempfile::TempDir,
    trust: TrustFiles,
    cache: PathBuf,
    root: PathBuf,
}

fn env() -> Env {
    let stack = LocalSigstore::start();
    let repo = TufRepo::start(&stack.trusted_root_json(), &stack.signing_config_json());
    env_with(stack, repo)
}

fn env_with(stack: LocalSigstore, repo: TufRepo) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let trust = stack.write_trust_files(&dir.path().join("trust"));
    let cache = dir.path().join("cache");
    let root = repo.write_first_root(dir.path());
    Env {
        stack,
        repo,
        dir,
        trust,
        cache,
        root,
    }
}

impl Env {
    fn gl(&self) -> Command {
        let mut cmd = gl_sign();
        cmd.env("GL_SIGN_TUF_CACHE", &self.cache)
            .env_remove("GL_SIGN_TRUSTED_ROOT");
        cmd
    }

    fn init(&self) -> Run {
        run(self
            .gl()
            .args(["trust", "update", "--mirror", self.repo.url(), "--root"])
            .arg(&self.root))
    }

    fn update(&self) -> Run {
        run(self.gl().args(["trust", "update"]))
    }

    fn show(&self, extra: &[&str]) -> Run {
        run(self.gl().args(["trust", "show"]).args(extra))
    }

    /// A file signed by `stack` (checked against its own root while signing).
    fn signed_file(&self, stack: &LocalSigstore, name: &str) -> PathBuf {
        let trust = stack.write_trust_files(&self.dir.path().join(format!("trust-{name}")));
        let file = self.dir.path().join(name);
        std::fs::write(&file, format!("{name} contents")).unwrap();
        let signed = run(gl_sign()
            .arg("sign-blob")
            .arg(&file)
            .env("SIGSTORE_ID_TOKEN", stack.token())
            .args([
                "--fulcio-url",
                stack.fulcio_url(),
                "--rekor-url",
                stack.rekor_url(),
            ])
            .arg("--trusted-root")
            .arg(&trust.trusted_root));
        assert_run(&signed, 0, &["OK"]);
        file
    }

    /// verify-blob WITHOUT --trusted-root: the trust material is chosen by gl-sign.
    fn verify(&self, stack: &LocalSigstore, file: &Path, extra: &[&str]) -> Run {
        run(self
            .gl()
            .arg("verify-blob")
            .arg(file)
            .args([
                "--certificate-identity",
                &stack.identity_for(&stack.gitlab_claims()),
                "--certificate-oidc-issuer",
                stack.issuer_url(),
            ])
            .args(extra))
    }
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn update_then_verify_without_trusted_root_uses_the_tuf_target() {
    let env = env();
    let file = env.signed_file(&env.stack, "pkg-1.0.tar.gz");

    // Before any update, the embedded public-good root is in use and does not
    // know the local Sigstore: the TUF target is what decides below.
    let before = env.verify(&env.stack, &file, &["--offline"]);
    assert_run(
        &before,
        1,
        &[
            "FAILED",
            "embedded public-good trusted root",
            "would be needed",
        ],
    );

    let init = env.init();
    assert_run(&init, 0, &["updated", env.repo.url(), "timestamp v1"]);
    assert_live_snapshot("run-trust-update-first", &init);
    assert!(env.cache.join("selected.json").is_file());

    assert_run(&env.verify(&env.stack, &file, &[]), 0, &["OK"]);
    assert_run(&env.verify(&env.stack, &file, &["--offline"]), 0, &["OK"]);

    let show = env.show(&[]);
    assert_run(
        &show,
        0,
        &[
            &format!("the trusted root from TUF repository {}", env.repo.url()),
            "root      v1",
            "timestamp v1",
            "snapshot  v1",
            "targets   v1",
            env.stack.fulcio_url(),
            env.stack.rekor_url(),
            "ctlog",
            &format!("signing config: Fulcio {} (v1)", env.stack.fulcio_url()),
        ],
    );
    // The local Sigstore's keys are new every run: so are their IDs.
    RunSnapshot::live()
        .filter(r"\b[0-9a-f]{64}\b", "[KEY ID]")
        .assert("run-trust-show-tuf", &show);
    let json: serde_json::Value =
        serde_json::from_str(&env.show(&["--output", "json"]).stdout).unwrap();
    assert_eq!(json["source"]["kind"], "tuf");
    assert_eq!(json["source"]["mirror"], env.repo.url());
    assert_eq!(
        json["signing_config"]["rekor"]["url"],
        env.stack.rekor_url()
    );
    let kinds: Vec<&str> = json["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"ca") && kinds.contains(&"tlog") && kinds.contains(&"ctlog"));
    assert!(json["authorities"][0]["valid_from"].is_string());

    // An explicit file still wins over the cache.
    let show_file = env.show(&["--trusted-root", env.trust.trusted_root.to_str().unwrap()]);
    assert_run(&show_file, 0, &["In use: trusted root"]);
}

#[test]
fn nothing_changed_costs_the_next_root_probe_and_one_timestamp_fetch() {
    let env = env();
    assert_run(&env.init(), 0, &["updated"]);
    let before = tree(&env.cache);
    env.repo.reset_requests();
    let again = env.update();
    assert_run(&again, 0, &["current", "2 requests"]);
    assert_eq!(env.repo.requests(), ["2.root.json", "timestamp.json"]);
    assert_eq!(tree(&env.cache), before);

    // A new timestamp is fetched and kept; the targets are not fetched again.
    env.repo.publish_timestamp();
    env.repo.reset_requests();
    assert_run(&env.update(), 0, &["current", "timestamp v2"]);
    assert_eq!(env.repo.requests(), ["2.root.json", "timestamp.json"]);
}

#[test]
fn every_attack_leaves_the_cache_as_it_was_and_names_the_role_and_check() {
    let stack = LocalSigstore::start();
    let cases: &[(Attack, bool, &[&str])] = &[
        (
            Attack::ExpiredTimestamp,
            false,
            &["timestamp failed the expiry check"],
        ),
        (
            Attack::RollbackTimestamp,
            true,
            &["timestamp failed the rollback (version) check"],
        ),
        (
            Attack::RollbackSnapshot,
            true,
            &["snapshot (via timestamp) failed the rollback (version) check"],
        ),
        (
            Attack::RollbackTargets,
            true,
            &["targets.json (via snapshot) failed the rollback (version) check"],
        ),
        (
            Attack::RollbackRoot,
            false,
            &["root failed the root version increment check"],
        ),
        (
            Attack::MixAndMatch,
            false,
            &["targets failed the version pin check"],
        ),
        (
            Attack::TargetHash,
            false,
            &["targets (target trusted_root.json) failed the hash check"],
        ),
        (
            Attack::TargetLength,
            false,
            &["targets (target trusted_root.json) failed the length check"],
        ),
        (
            Attack::ThresholdNotMet,
            false,
            &["timestamp failed the signature threshold check", "0/1"],
        ),
        (
            Attack::EndlessTimestamp,
            false,
            &["timestamp failed the download size limit check"],
        ),
        (
            Attack::BadRootRotation,
            false,
            &["root failed the signature threshold check"],
        ),
    ];
    let file_env = env_with(
        LocalSigstore::start(),
        TufRepo::start(&stack.trusted_root_json(), &stack.signing_config_json()),
    );
    let file = file_env.signed_file(&stack, "pkg.whl");
    for &(attack, second_version, expected) in cases {
        let repo = TufRepo::start(&stack.trusted_root_json(), &stack.signing_config_json());
        let env = env_with(LocalSigstore::start(), repo);
        assert_run(&env.init(), 0, &["updated"]);
        if second_version {
            // The cache must trust a version the attack then rolls back from.
            env.repo
                .publish_targets(&stack.trusted_root_json(), &stack.signing_config_json());
            assert_run(&env.update(), 0, &["targets   v2"]);
        }
        let before = tree(&env.cache);
        env.repo.attack(attack);
        let attacked = env.update();
        let mut fragments = vec!["TUF update from", "kept unchanged"];
        fragments.extend_from_slice(expected);
        assert!(attacked.code == 2, "{attack:?}: {}", attacked.all());
        assert_run(&attacked, 2, &fragments);
        assert_eq!(
            tree(&env.cache),
            before,
            "{attack:?} changed the cache:\n{}",
            attacked.all()
        );
        // The previous cache is still used.
        assert_run(&env.verify(&stack, &file, &["--offline"]), 0, &["OK"]);
        let leftovers: Vec<_> = std::fs::read_dir(&env.cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".update-"))
            .collect();
        assert!(leftovers.is_empty(), "{attack:?} left {leftovers:?}");
    }
}

#[test]
fn a_root_rotation_chain_1_2_3_with_new_keys_is_followed() {
    let env = env();
    let file = env.signed_file(&env.stack, "pkg.whl");
    assert_run(&env.init(), 0, &["root      v1"]);
    env.repo.rotate_root();
    env.repo.rotate_root();
    assert_eq!(env.repo.root_version(), 3);
    assert_run(&env.update(), 0, &["root      v3", "timestamp v3"]);
    assert_run(&env.verify(&env.stack, &file, &["--offline"]), 0, &["OK"]);
    assert_run(&env.show(&[]), 0, &["root      v3"]);

    // A client that starts from root 1 walks the chain 1 → 2 → 3 in one update.
    let fresh = env.dir.path().join("fresh-cache");
    let walked = run(env
        .gl()
        .env("GL_SIGN_TUF_CACHE", &fresh)
        .args(["trust", "update", "--mirror", env.repo.url(), "--root"])
        .arg(&env.root));
    assert_run(&walked, 0, &["root      v3"]);
}

#[test]
fn a_log_only_a_newer_root_lists_verifies_after_one_refresh_and_not_offline() {
    let env = env();
    assert_run(&env.init(), 0, &["updated"]);
    // A second Sigstore (its own CA, CT log and Rekor) that only the next
    // trusted root lists.
    let newer = LocalSigstore::start();
    let file = env.signed_file(&newer, "new-log.whl");
    env.repo.publish_targets(
        &merge_trusted_roots(&env.stack.trusted_root_json(), &newer.trusted_root_json()),
        &env.stack.signing_config_json(),
    );
    let before = tree(&env.cache);

    let offline = env.verify(&newer, &file, &["--offline"]);
    assert_run(
        &offline,
        1,
        &[
            "FAILED",
            "does not list the log or CA",
            "would be needed",
            "--offline forbids fetching",
        ],
    );
    assert_eq!(tree(&env.cache), before, "--offline must not fetch");

    env.repo.reset_requests();
    let refreshed = env.verify(&newer, &file, &[]);
    assert_run(
        &refreshed,
        0,
        &["OK", "refreshing it through TUF", env.repo.url()],
    );
    assert!(env.repo.requests().contains(&"timestamp.json".to_string()));
    assert_run(&env.show(&[]), 0, &["targets   v2", newer.rekor_url()]);
    // Now it verifies offline too, and the old signatures still do.
    assert_run(&env.verify(&newer, &file, &["--offline"]), 0, &["OK"]);
    let old = env.signed_file(&env.stack, "old-log.whl");
    assert_run(&env.verify(&env.stack, &old, &["--offline"]), 0, &["OK"]);
}

#[test]
fn a_tampered_cache_is_never_used() {
    let env = env();
    let file = env.signed_file(&env.stack, "pkg.whl");
    assert_run(&env.init(), 0, &["updated"]);
    let dir = std::fs::read_dir(&env.cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();

    // The cached target no longer matches the hash the verified targets pin.
    let target = dir.join("targets/trusted_root.json");
    let original = std::fs::read(&target).unwrap();
    let mut changed = original.clone();
    changed.insert(1, b' ');
    std::fs::write(&target, &changed).unwrap();
    let tampered = env.verify(&env.stack, &file, &["--offline"]);
    assert_run(
        &tampered,
        1,
        &[
            "not using the TUF cache",
            "embedded public-good trusted root",
        ],
    );
    assert_run(
        &env.show(&[]),
        0,
        &[
            "In use: the embedded public-good",
            "not using the TUF cache",
        ],
    );
    std::fs::write(&target, &original).unwrap();
    assert_run(&env.verify(&env.stack, &file, &["--offline"]), 0, &["OK"]);

    // Cached metadata with a broken signature is refused too.
    let timestamp = dir.join("timestamp.json");
    let text = std::fs::read_to_string(&timestamp).unwrap();
    std::fs::write(&timestamp, text.replace("\"version\": 1", "\"version\": 7")).unwrap();
    let forged = env.verify(&env.stack, &file, &["--offline"]);
    assert_run(&forged, 1, &["not using the TUF cache", "timestamp"]);
}

#[test]
fn an_expired_cache_is_not_used_until_it_is_refreshed() {
    let env = env();
    let file = env.signed_file(&env.stack, "pkg.whl");
    assert_run(&env.init(), 0, &["updated"]);
    env.repo.publish_timestamp_expiring_in(3);
    assert_run(&env.update(), 0, &["timestamp v2"]);
    assert_run(&env.verify(&env.stack, &file, &["--offline"]), 0, &["OK"]);
    std::thread::sleep(std::time::Duration::from_secs(4));
    let expired = env.verify(&env.stack, &file, &["--offline"]);
    assert_run(
        &expired,
        1,
        &[
            "not using the TUF cache",
            "timestamp failed the expiry check",
            "embedded public-good trusted root",
        ],
    );
    // The repository has moved on; one update makes the cache usable again.
    env.repo.publish_timestamp();
    assert_run(&env.update(), 0, &["timestamp v3"]);
    assert_run(&env.verify(&env.stack, &file, &["--offline"]), 0, &["OK"]);
}

#[test]
fn mirror_flags_are_checked_before_any_request() {
    let env = env();
    let no_root = run(env
        .gl()
        .args(["trust", "update", "--mirror", env.repo.url()]));
    assert_run(&no_root, 2, &["needs --root FILE"]);
    let not_url = run(env
        .gl()
        .args(["trust", "update", "--mirror", "ftp://example", "--root"])
        .arg(&env.root));
    assert_run(&not_url, 2, &["http(s)"]);
    let bad_root = run(env
        .gl()
        .args(["trust", "update", "--mirror", env.repo.url(), "--root"])
        .arg(&env.trust.trusted_root));
    assert_run(&bad_root, 2, &["is not a valid, self-signed TUF root"]);
    let public_root = run(env
        .gl()
        .args([
            "trust",
            "update",
            "--mirror",
            "https://tuf-repo-cdn.sigstore.dev",
            "--root",
        ])
        .arg(&env.root));
    assert_run(&public_root, 2, &["--root is not taken", "embeds its root"]);
    assert!(env.repo.requests().is_empty());
    assert!(!env.cache.join("selected.json").exists());
}

#[test]
fn sign_blob_takes_its_services_and_trust_root_from_the_tuf_cache() {
    let env = env();
    assert_run(&env.init(), 0, &["updated"]);
    let file = env.dir.path().join("pkg-2.0.tar.gz");
    std::fs::write(&file, "sdist").unwrap();
    // No --fulcio-url, --rekor-url, --signing-config or --trusted-root.
    let signed = run(env
        .gl()
        .arg("sign-blob")
        .arg(&file)
        .env("SIGSTORE_ID_TOKEN", env.stack.token())
        .env_remove("GL_SIGN_FULCIO_URL")
        .env_remove("GL_SIGN_REKOR_URL"));
    assert_run(
        &signed,
        0,
        &[
            "OK",
            &format!("the signing config of TUF repository {}", env.repo.url()),
            &format!("with Fulcio {}", env.stack.fulcio_url()),
        ],
    );
    assert_eq!(env.stack.rekor_tree_size(), 1);
    assert_run(&env.verify(&env.stack, &file, &["--offline"]), 0, &["OK"]);
}

#[test]
fn consumer_verify_refreshes_once_for_a_log_only_a_newer_root_lists() {
    use crate::support::dists;
    use crate::support::gitlab_registry::LocalGitLab;
    const NAME: &str = "tuf-demo";
    const VERSION: &str = "0.4.0";

    let env = env();
    assert_run(&env.init(), 0, &["updated"]);
    let newer = LocalSigstore::start();
    let gitlab = LocalGitLab::start();
    let dist_dir = env.dir.path().join("dist");
    std::fs::create_dir(&dist_dir).unwrap();
    let built = dists::build(&dist_dir, NAME, VERSION, "VALUE = 1\n");
    let newer_trust = newer.write_trust_files(&env.dir.path().join("newer"));
    assert_run(
        &run(gl_sign()
            .arg("sign-blob")
            .args([&built.wheel, &built.sdist])
            .env("SIGSTORE_ID_TOKEN", newer.token())
            .args([
                "--fulcio-url",
                newer.fulcio_url(),
                "--rekor-url",
                newer.rekor_url(),
            ])
            .arg("--trusted-root")
            .arg(&newer_trust.trusted_root)),
        0,
        &[],
    );
    let in_job = || {
        let mut cmd = env.gl();
        cmd.env("GITLAB_CI", "true")
            .env("CI_API_V4_URL", gitlab.api_url())
            .env("CI_PROJECT_ID", gitlab.project_id().to_string())
            .env("CI_PROJECT_NAME", NAME)
            .env("CI_JOB_TOKEN", gitlab.job_token());
        cmd
    };
    assert_run(
        &run(in_job()
            .args(["publish", "pypi"])
            .args([&built.wheel, &built.sdist])),
        0,
        &["uploaded"],
    );
    let bundles: Vec<PathBuf> = [&built.wheel, &built.sdist]
        .iter()
        .map(|d| {
            let mut s = d.as_os_str().to_os_string();
            s.push(".sigstore.json");
            PathBuf::from(s)
        })
        .collect();
    assert_run(
        &run(in_job().args(["publish", "generic"]).args(&bundles)),
        0,
        &["uploaded"],
    );
    env.repo.publish_targets(
        &merge_trusted_roots(&env.stack.trusted_root_json(), &newer.trusted_root_json()),
        &env.stack.signing_config_json(),
    );
    let issuer = newer.issuer_url().to_string();
    let verify = |extra: &[&str]| {
        run(in_job()
            .args(["consumer-verify", &format!("{NAME}=={VERSION}")])
            .args(["--gitlab-url", &issuer, "--gitlab-project", "group/proj"])
            // Signed by a branch pipeline (consumer-verify accepts tags only by default).
            .arg("--allow-branch-signatures")
            .args(extra))
    };
    let offline = verify(&["--offline"]);
    assert_run(&offline, 1, &["FAILED", "would be needed"]);
    let refreshed = verify(&[]);
    assert_run(
        &refreshed,
        0,
        &["all verified", "refreshing it through TUF"],
    );
    assert_eq!(
        refreshed
            .stderr
            .matches("refreshing it through TUF")
            .count(),
        1,
        "one refresh for the whole release:\n{}",
        refreshed.stderr
    );
}
