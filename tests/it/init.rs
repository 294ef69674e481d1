//! `gl-sign init`: the generated YAML is pinned by snapshots, validated by
//! GitLab's CI schema (check-jsonschema, in CI), checked for what the schema
//! cannot see (hidden templates, needs/extends targets, scripts), and
//! `--check` reports drift.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

use crate::support::{assert_run, assert_run_snapshot, gl_sign, run};

/// The option combinations the tests (and snapshots) cover.
const COMBINATIONS: &[(&str, &[&str])] = &[
    (
        "all-stages",
        &[
            "--package-name",
            "my-pkg",
            "--image",
            "registry.example.com/tools/gl-sign:1",
        ],
    ),
    (
        "default-image-py311",
        &["--package-name", "my-pkg", "--python-version", "3.11"],
    ),
    (
        "build-sign-verify",
        &[
            "--package-name",
            "my-pkg",
            "--image",
            "img:1",
            "--stages",
            "build,sign,verify",
        ],
    ),
    (
        "publish-only",
        &[
            "--package-name",
            "my-pkg",
            "--image",
            "img:1",
            "--stages",
            "publish,publish_signatures",
        ],
    ),
    (
        "sign-protected-only",
        &["--package-name", "my-pkg", "--sign-protected-only"],
    ),
    (
        "verify-and-consumer",
        &[
            "--package-name",
            "my_pkg.x",
            "--image",
            "img:1",
            "--stages",
            "consumer_verification,verify",
        ],
    ),
    (
        "publish-to-pypi",
        &["--package-name", "my-pkg", "--publish-to", "pypi"],
    ),
    (
        "publish-to-testpypi",
        &[
            "--package-name",
            "my-pkg",
            "--image",
            "img:1",
            "--sign-protected-only",
            "--publish-to",
            "testpypi",
        ],
    ),
];

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

/// Render one combination into a fresh directory; returns the file.
fn render(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(format!("{name}.gitlab-ci.yml"));
    let result = run(gl_sign().arg("init").arg("--output").arg(&out).args(args));
    assert_run(&result, 0, &["wrote"]);
    out
}

#[test]
fn generated_yaml_matches_the_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let update = std::env::var_os("GL_SIGN_UPDATE_SNAPSHOTS").is_some();
    for (name, args) in COMBINATIONS {
        let text = std::fs::read_to_string(render(dir.path(), name, args)).unwrap();
        let snapshot = snapshot_dir().join(format!("init-{name}.yml"));
        if update {
            std::fs::write(&snapshot, &text).unwrap();
        }
        let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
        assert_eq!(
            text,
            expected,
            "init {name} differs from {} (GL_SIGN_UPDATE_SNAPSHOTS=1 rewrites it)",
            snapshot.display()
        );
    }
}

#[test]
fn committed_component_is_what_gl_sign_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gl-sign.yml");
    assert_run(
        &run(gl_sign()
            .args(["init", "--component", "--output"])
            .arg(&out)),
        0,
        &[],
    );
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/gl-sign.yml");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(committed).unwrap(),
        "templates/gl-sign.yml is stale: gl-sign init --component --output templates/gl-sign.yml --force"
    );
}

const KEYWORDS: &[&str] = &[
    "stages",
    "default",
    "variables",
    "workflow",
    "include",
    "image",
    "services",
    "before_script",
    "after_script",
    "cache",
];

/// The jobs of a pipeline document (not keywords, not hidden templates).
fn jobs(doc: &BTreeMap<String, Value>) -> Vec<&String> {
    doc.keys()
        .filter(|k| !k.starts_with('.') && !KEYWORDS.contains(&k.as_str()))
        .collect()
}

/// What the schema does not check: every job has a script (itself or through
/// `extends`), extends names existing hidden templates, needs name existing
/// jobs, every stage is declared.
fn check_structure(
    doc: &BTreeMap<String, Value>,
    declared_stages: Option<&[String]>,
) -> Result<(), String> {
    let job_names = jobs(doc);
    for job in &job_names {
        let body = &doc[*job];
        let mut has_script = body.get("script").is_some();
        if let Some(extends) = body.get("extends") {
            let targets: Vec<String> = match extends {
                Value::String(s) => vec![s.clone()],
                Value::Sequence(v) => v
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect(),
                other => return Err(format!("{job}: extends is {other:?}")),
            };
            for target in targets {
                if !target.starts_with('.') {
                    return Err(format!(
                        "{job} extends {target}, which is not a hidden template"
                    ));
                }
                let template = doc
                    .get(&target)
                    .ok_or_else(|| format!("{job} extends missing {target}"))?;
                has_script |= template.get("script").is_some();
            }
        }
        if !has_script {
            return Err(format!("{job} has no script"));
        }
        for need in body
            .get("needs")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let name = need
                .get("job")
                .and_then(Value::as_str)
                .or(need.as_str())
                .ok_or("needs entry without a job")?;
            if !job_names.iter().any(|j| j.as_str() == name) {
                return Err(format!(
                    "{job} needs {name}, which is not a job of this pipeline"
                ));
            }
        }
        if let (Some(stages), Some(stage)) =
            (declared_stages, body.get("stage").and_then(Value::as_str))
        {
            if !stages.iter().any(|s| s == stage) {
                return Err(format!("{job} is in undeclared stage {stage}"));
            }
        }
    }
    Ok(())
}

fn parse(text: &str) -> BTreeMap<String, Value> {
    serde_yaml_ng::from_str(text).expect("valid YAML")
}

#[test]
fn every_combination_has_sound_structure() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in COMBINATIONS {
        let doc = parse(&std::fs::read_to_string(render(dir.path(), name, args)).unwrap());
        let stages: Vec<String> = serde_yaml_ng::from_value(doc["stages"].clone()).unwrap();
        check_structure(&doc, Some(&stages)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Only signing jobs get a Sigstore identity token, and they all do;
        // an index's token (trusted publishing) only the publish job, named
        // after its audience as publish pypi looks it up.
        for job in jobs(&doc) {
            let body = &doc[job];
            let signs = body["script"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|l| l.as_str().unwrap().contains("sign-blob"));
            let tokens = body
                .get("id_tokens")
                .and_then(Value::as_mapping)
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                signs,
                tokens.get("SIGSTORE_ID_TOKEN").is_some(),
                "{name}/{job}"
            );
            if signs {
                assert_eq!(
                    body["id_tokens"]["SIGSTORE_ID_TOKEN"]["aud"].as_str(),
                    Some("sigstore")
                );
            }
            for (variable, token) in &tokens {
                let (variable, aud) = (variable.as_str().unwrap(), token["aud"].as_str().unwrap());
                if variable != "SIGSTORE_ID_TOKEN" {
                    assert_eq!(job, "publish", "{name}: {job} gets {variable}");
                    assert_eq!(variable, format!("{}_ID_TOKEN", aud.to_uppercase()));
                    assert_eq!(body["environment"]["name"].as_str(), Some(aud));
                }
            }
            let publishes =
                ["publish", "publish_signatures", "consumer_verification"].contains(&job.as_str());
            assert_eq!(
                publishes,
                body.get("rules").is_some(),
                "{name}/{job}: only release jobs are limited to tags"
            );
        }
    }
    // The component's jobs document too.
    let component = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/gl-sign.yml"),
    )
    .unwrap();
    let jobs_doc = component.split("\n---\n").nth(1).expect("spec, then jobs");
    check_structure(&parse(jobs_doc), None).unwrap();
    assert!(component.contains("spec:\n  inputs:"));
}

#[test]
fn the_structure_check_can_fail() {
    // Guard against a checker that accepts anything.
    let bad_needs = parse("stages: [a]\njob:\n  stage: a\n  script: [x]\n  needs: [{job: nope}]\n");
    assert!(check_structure(&bad_needs, Some(&["a".into()]))
        .unwrap_err()
        .contains("needs nope"));
    let no_script = parse("job:\n  extends: .t\n.t:\n  image: x\n");
    assert!(check_structure(&no_script, None)
        .unwrap_err()
        .contains("no script"));
    let visible_extends = parse("job:\n  extends: other\n  script: [x]\nother:\n  script: [y]\n");
    assert!(check_structure(&visible_extends, None)
        .unwrap_err()
        .contains("not a hidden template"));
    let stage = parse("stages: [a]\njob:\n  stage: b\n  script: [x]\n");
    assert!(check_structure(&stage, Some(&["a".into()]))
        .unwrap_err()
        .contains("undeclared stage b"));
}

#[test]
fn generated_yaml_validates_against_gitlabs_schema() {
    let Some(bin) = crate::support::python_tool("check-jsonschema") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = COMBINATIONS
        .iter()
        .map(|(name, args)| render(dir.path(), name, args))
        .collect();
    let component = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/gl-sign.yml"),
    )
    .unwrap();
    let jobs_only = dir.path().join("component-jobs.yml");
    std::fs::write(&jobs_only, component.split("\n---\n").nth(1).unwrap()).unwrap();
    files.push(jobs_only);
    let out = Command::new(bin.join("check-jsonschema"))
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check-jsonschema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And it does reject a broken pipeline, so the pass above means something.
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "job:\n  stage: 3\n  script: {a: b}\n  when: sometimes\n",
    )
    .unwrap();
    let out = Command::new(bin.join("check-jsonschema"))
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn check_reports_drift_and_force_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(".gitlab-ci.yml");
    let base = ["--package-name", "my-pkg", "--image", "img:1"];
    let missing = run(gl_sign()
        .args(["init", "--check", "--output"])
        .arg(&out)
        .args(base));
    assert_run(&missing, 1, &["does not exist"]);
    assert_run(
        &run(gl_sign().args(["init", "--output"]).arg(&out).args(base)),
        0,
        &["wrote"],
    );
    assert_run(
        &run(gl_sign()
            .args(["init", "--check", "--output"])
            .arg(&out)
            .args(base)),
        0,
        &["is what gl-sign init writes"],
    );

    let edited = std::fs::read_to_string(&out).unwrap().replace(
        "gl-sign sign-blob dist/*.whl",
        "gl-sign sign-blob --yes dist/*.whl",
    );
    std::fs::write(&out, &edited).unwrap();
    let drift = run(gl_sign()
        .args(["init", "--check", "--output"])
        .arg(&out)
        .args(base));
    assert_run(
        &drift,
        1,
        &[
            "-    - gl-sign sign-blob --yes dist/*.whl",
            "+    - gl-sign sign-blob dist/*.whl",
            "differs",
        ],
    );
    // Different options are drift too.
    let other = run(gl_sign()
        .args(["init", "--check", "--output"])
        .arg(&out)
        .args(["--package-name", "my-pkg", "--image", "img:2"]));
    assert_eq!(other.code, 1);

    let refused = run(gl_sign().args(["init", "--output"]).arg(&out).args(base));
    assert_run(&refused, 2, &["never overwrites without --force"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), edited, "untouched");
    assert_run(
        &run(gl_sign()
            .args(["init", "--force", "--output"])
            .arg(&out)
            .args(base)),
        0,
        &["wrote"],
    );
    assert_run(
        &run(gl_sign()
            .args(["init", "--check", "--output"])
            .arg(&out)
            .args(base)),
        0,
        &[],
    );
}

#[test]
fn init_defaults_and_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"from-pyproject\"\nversion = \"0.1\"\n",
    )
    .unwrap();
    let out = dir.path().join(".gitlab-ci.yml");
    assert_run(&run(gl_sign().args(["init", "--output"]).arg(&out)), 0, &[]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("GL_SIGN_PACKAGE: \"from-pyproject\""));
    // The official Python image, and exactly this gl-sign pip-installed into it.
    assert!(text.contains("image: \"python:3.12\""), "{text}");
    assert!(text.contains(&format!(
        "python3 -m pip install --disable-pip-version-check \"gl-sign=={}\"",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(
        !text.contains("--index-url"),
        "pip's own index settings apply"
    );
    // A prebuilt image installs nothing.
    let prebuilt = dir.path().join("prebuilt.yml");
    assert_run(
        &run(gl_sign()
            .args([
                "init",
                "--image",
                "registry.example.com/gl-sign:1",
                "--output",
            ])
            .arg(&prebuilt)),
        0,
        &[],
    );
    let prebuilt = std::fs::read_to_string(&prebuilt).unwrap();
    assert!(!prebuilt.contains("pip install") && !prebuilt.contains("PIP_CACHE_DIR"));
    let bad_python = run(gl_sign()
        .args(["init", "--python-version", "3", "--output"])
        .arg(dir.path().join("d.yml")));
    assert_run(
        &bad_python,
        2,
        &["--python-version \"3\" is not X.Y", "python:X.Y"],
    );
    let both = run(gl_sign()
        .args([
            "init",
            "--python-version",
            "3.11",
            "--image",
            "x:1",
            "--output",
        ])
        .arg(dir.path().join("e.yml")));
    assert_eq!(both.code, 2, "--image and --python-version conflict");
    let bad_stage = run(gl_sign()
        .args([
            "init",
            "--stages",
            "build,deploy",
            "--package-name",
            "x",
            "--output",
        ])
        .arg(dir.path().join("b.yml")));
    assert_run(&bad_stage, 2, &["unknown stage \"deploy\""]);
    let bad_name = run(gl_sign()
        .args(["init", "--package-name=-x-", "--output"])
        .arg(dir.path().join("c.yml")));
    assert_run(&bad_name, 2, &["package name \"-x-\" is not valid"]);
}

#[test]
fn the_projects_own_pipeline_is_sound() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".gitlab-ci.yml"))
            .unwrap();
    let doc = parse(&text);
    let stages: Vec<String> = serde_yaml_ng::from_value(doc["stages"].clone()).unwrap();
    check_structure(&doc, Some(&stages)).unwrap();
    assert_eq!(
        doc["sign-release"]["id_tokens"]["SIGSTORE_ID_TOKEN"]["aud"].as_str(),
        Some("sigstore")
    );
    check_release_jobs(&doc);
    let Some(bin) = crate::support::python_tool("check-jsonschema") else {
        return;
    };
    let out = Command::new(bin.join("check-jsonschema"))
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".gitlab-ci.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// GitLab's tutorial project: `init` with no flags recognises the
/// `<my_package>` placeholder, falls back as documented and says what it
/// chose, and writes a pipeline GitLab's schema accepts.
#[test]
fn init_on_the_tutorial_project_falls_back_and_says_so() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("Tutorial_Project");
    crate::first_run::tutorial_project(&dir);

    let r = run(gl_sign().current_dir(&dir).arg("init"));
    assert_run(
        &r,
        0,
        &[
            r#"package name "tutorial-project": from the directory's name "Tutorial_Project""#,
            r#"project.name is the placeholder "<my_package>""#,
            "pass --package-name to choose another",
            "wrote .gitlab-ci.yml",
        ],
    );
    assert_run_snapshot("run-init-tutorial", &r);
    let written = dir.join(".gitlab-ci.yml");
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(text.contains("GL_SIGN_PACKAGE: \"tutorial-project\""));
    let doc = parse(&text);
    let stages: Vec<String> = serde_yaml_ng::from_value(doc["stages"].clone()).unwrap();
    check_structure(&doc, Some(&stages)).unwrap();

    // In a job, $CI_PROJECT_NAME comes first.
    let r = run(gl_sign()
        .current_dir(&dir)
        .args(["init", "--check"])
        .env("CI_PROJECT_NAME", "My Project"));
    assert_run(
        &r,
        1,
        &[
            r#"package name "my-project": from $CI_PROJECT_NAME "My Project""#,
            r#"+    GL_SIGN_PACKAGE: "my-project""#,
        ],
    );
    assert_run_snapshot("run-init-check-drift", &r);
    // A real name in the file is used as it is.
    std::fs::write(
        dir.join("pyproject.toml"),
        crate::first_run::TUTORIAL_PYPROJECT.replace("<my_package>", "real_name"),
    )
    .unwrap();
    let r = run(gl_sign().current_dir(&dir).args(["init", "--check"]));
    assert_run(&r, 1, &[r#"package name "real_name": from"#]);

    let Some(bin) = crate::support::python_tool("check-jsonschema") else {
        return;
    };
    let out = Command::new(bin.join("check-jsonschema"))
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(&written)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check-jsonschema on the tutorial's pipeline:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The script lines of a job, as text.
fn script_of(doc: &BTreeMap<String, Value>, job: &str) -> String {
    let lines: Vec<String> = doc[job]["script"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{job} has no script list"))
        .iter()
        .map(|l| l.as_str().unwrap_or_default().to_string())
        .collect();
    lines.join("\n")
}

/// The release part of gl-sign's own pipeline (issue 10): wheels for both
/// architectures in the PyPA images, static musl binaries, everything signed
/// and verified by gl-sign, published only from tags, and a GitLab Release.
fn check_release_jobs(doc: &BTreeMap<String, Value>) {
    let matrix = doc[".maturin"]["parallel"]["matrix"].as_sequence().unwrap();
    let arches: Vec<&str> = matrix.iter().filter_map(|m| m["ARCH"].as_str()).collect();
    assert_eq!(arches, ["x86_64", "aarch64"]);
    for (job, image, compat) in [
        (
            "wheel-manylinux",
            "quay.io/pypa/manylinux_2_28_${ARCH}",
            "--compatibility manylinux_2_28",
        ),
        (
            "wheel-musllinux",
            "quay.io/pypa/musllinux_1_2_${ARCH}",
            "--compatibility musllinux_1_2",
        ),
    ] {
        assert_eq!(doc[job]["extends"].as_str(), Some(".maturin"), "{job}");
        assert_eq!(doc[job]["image"].as_str(), Some(image), "{job}");
        let script = script_of(doc, job);
        assert!(
            script.contains("maturin build --release --locked"),
            "{job}: {script}"
        );
        assert!(script.contains(compat), "{job}: {script}");
    }
    assert!(script_of(doc, "wheel-musllinux").contains("dist/gl-sign-${ARCH}-unknown-linux-musl"));
    assert!(script_of(doc, "sign-release")
        .contains("$GL_SIGN sign-blob dist/*.whl dist/gl-sign-*-unknown-linux-musl"));
    assert!(script_of(doc, "verify-release").contains(
        "$GL_SIGN verify-blob dist/*.whl dist/gl-sign-*-unknown-linux-musl $GL_SIGN_IDENTITY_FLAGS"
    ));
    assert!(script_of(doc, "publish-wheels").contains("$GL_SIGN publish pypi dist/*.whl"));
    let binaries = script_of(doc, "publish-binaries");
    assert!(
        binaries.contains("$GL_SIGN publish generic --package gl-sign"),
        "{binaries}"
    );
    assert!(binaries.contains("dist/*.sigstore.json"), "{binaries}");
    // Publishing happens on tags only; branch pipelines build, sign and verify.
    for job in ["publish-wheels", "publish-binaries", "gitlab-release"] {
        let rules = doc[job]["rules"].as_sequence().unwrap();
        assert_eq!(rules.len(), 1, "{job}");
        let condition = rules[0]["if"].as_str().unwrap();
        assert!(
            condition.starts_with("$CI_COMMIT_TAG =~"),
            "{job}: {condition}"
        );
        assert!(rules[0].get("when").is_none(), "{job}");
    }
    let release = &doc["gitlab-release"]["release"];
    assert_eq!(release["tag_name"].as_str(), Some("$CI_COMMIT_TAG"));
    let links: Vec<&str> = release["assets"]["links"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    for arch in ["x86_64", "aarch64"] {
        let binary = format!("gl-sign-{arch}-unknown-linux-musl");
        assert!(links.contains(&binary.as_str()), "{links:?}");
        assert!(
            links.contains(&format!("{binary}.sigstore.json").as_str()),
            "{links:?}"
        );
    }
    // Every gl-sign subcommand the pipeline runs exists in this binary.
    for job in jobs(doc) {
        let Some(lines) = doc[job.as_str()]["script"].as_sequence() else {
            continue;
        };
        for line in lines.iter().filter_map(Value::as_str) {
            let Some(rest) = line.split("$GL_SIGN ").nth(1) else {
                continue;
            };
            let words: Vec<&str> = rest
                .split_whitespace()
                .take_while(|w| !w.starts_with('-') && !w.contains('/') && !w.starts_with('$'))
                .collect();
            let help = run(gl_sign().args(&words).arg("--help"));
            assert_eq!(
                help.code,
                0,
                "{job}: gl-sign {} does not exist",
                words.join(" ")
            );
        }
    }
}
