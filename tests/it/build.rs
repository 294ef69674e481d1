//! `gl-sign build`: the tutorial's `sed` edits of pyproject.toml done with a
//! format-preserving editor, on sample projects made here; then real
//! `python -m build` runs (PyPA build and setuptools from PyPI, installed by
//! scripts/test) whose dists must carry the written name and version.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::pki::sha256;
use crate::support::{assert_run, assert_run_snapshot, gl_sign, run, Run, RunSnapshot};

/// A sample project in a fresh temporary directory.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(files: &[(&str, &str)]) -> Project {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn pyproject(&self) -> String {
        std::fs::read_to_string(self.path().join("pyproject.toml")).unwrap()
    }

    /// `gl-sign build PROJECT_DIR ARGS…` with no CI variables.
    fn build(&self, args: &[&str]) -> Run {
        run(gl_sign().arg("build").arg(self.path()).args(args))
    }

    fn build_in_ci(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = gl_sign();
        cmd.arg("build").arg(self.path()).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    }
}

/// Comments everywhere, blank lines, `name` not first, a single-quoted
/// version, a quoted "Homepage" key, and `name`/`version` keys in other
/// tables that a `sed` would also have rewritten.
const COMMENTED: &str = r#"# Sample project: hand formatted, every byte here must survive.

[build-system]
requires = ["setuptools>=61"]   # the backend
build-backend = "setuptools.build_meta"

[project]
description = "A sample, with the description before the name"
# the name comes second
name   =   "my_package"  # Will be dynamically replaced by CI/CD pipeline
authors = [
    {name = "Ann Author", email = "ann@example.com"},   # name = "not this one"
]

version = '0.0.1'    # replaced too
readme = "README.md"
requires-python = ">=3.8"

[project.urls]
"Homepage" = "https://example.com/old"  # Will be replaced with actual project URL
Source = "https://example.com/src"

[tool.other]
name = "must stay"
version = "must stay"
"#;

fn commented_project() -> Project {
    Project::new(&[
        ("pyproject.toml", COMMENTED),
        ("README.md", "# sample\n"),
        ("src/sample_pkg/__init__.py", "VALUE = 1\n"),
    ])
}

/// The expected text: exactly the three values replaced, nothing else.
fn commented_expected(name: &str, version: &str, homepage: &str) -> String {
    let expected = COMMENTED
        .replacen(
            r#"name   =   "my_package"  #"#,
            &format!(r#"name   =   "{name}"  #"#),
            1,
        )
        .replacen(
            "version = '0.0.1'    #",
            &format!("version = '{version}'    #"),
            1,
        )
        .replacen(
            r#""Homepage" = "https://example.com/old""#,
            &format!(r#""Homepage" = "{homepage}""#),
            1,
        );
    assert_ne!(expected, COMMENTED);
    expected
}

#[test]
fn rewrite_keeps_every_other_byte() {
    let project = commented_project();
    let r = project.build(&[
        "--no-build",
        "--name",
        "new-name",
        "--version",
        "1.2.3",
        "--homepage",
        "https://gitlab.example.com/g/new-name",
    ]);
    assert_run(
        &r,
        0,
        &[
            r#"project.name "my_package" -> "new-name""#,
            r#"project.version "0.0.1" -> "1.2.3""#,
            "written",
        ],
    );
    assert_eq!(r.stdout, "", "--no-build prints no dists");
    assert_eq!(
        project.pyproject(),
        commented_expected("new-name", "1.2.3", "https://gitlab.example.com/g/new-name")
    );

    // A second run finds nothing to change and leaves the file alone.
    let before = std::fs::metadata(project.path().join("pyproject.toml"))
        .unwrap()
        .modified()
        .unwrap();
    let r = project.build(&[
        "--no-build",
        "--name",
        "new-name",
        "--version",
        "1.2.3",
        "--homepage",
        "https://gitlab.example.com/g/new-name",
    ]);
    assert_run(
        &r,
        0,
        &["nothing to change", r#"project.name already "new-name""#],
    );
    let after = std::fs::metadata(project.path().join("pyproject.toml"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "an unchanged file is not rewritten");
    let leftovers: Vec<_> = std::fs::read_dir(project.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".pyproject.toml."))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn ci_defaults_come_from_the_job_variables() {
    let project = commented_project();
    let r = project.build_in_ci(
        &[
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_NAME", "My Project"),
            ("CI_COMMIT_TAG", "v1.2.3"),
            (
                "CI_PROJECT_URL",
                "https://gitlab.example.com/group/my-project",
            ),
        ],
        &["--no-build"],
    );
    assert_run(&r, 0, &[r#"-> "My_Project""#, r#"-> "1.2.3""#]);
    assert_eq!(
        project.pyproject(),
        commented_expected(
            "My_Project",
            "1.2.3",
            "https://gitlab.example.com/group/my-project"
        )
    );

    // The tutorial's own recipe for a real project path: '-' becomes '_'.
    let project = commented_project();
    let r = project.build_in_ci(&[("CI_PROJECT_NAME", "my-project")], &["--no-build"]);
    assert_run(&r, 0, &[r#"-> "my_project""#]);
    assert!(project
        .pyproject()
        .contains(r#"name   =   "my_project"  #"#));
    assert!(
        project.pyproject().contains("version = '0.0.1'"),
        "no tag, no --version: the version stays"
    );
}

#[test]
fn flags_win_over_ci_variables() {
    let project = commented_project();
    let r = project.build_in_ci(
        &[
            ("CI_PROJECT_NAME", "from-ci"),
            ("CI_COMMIT_TAG", "v9.9.9"),
            ("CI_PROJECT_URL", "https://gitlab.example.com/g/from-ci"),
        ],
        &[
            "--no-build",
            "--name",
            "from_flag",
            "--version",
            "2.0.0rc1",
            "--homepage",
            "https://example.org/flag",
        ],
    );
    assert_run(&r, 0, &[]);
    assert_eq!(
        project.pyproject(),
        commented_expected("from_flag", "2.0.0rc1", "https://example.org/flag")
    );
}

const DYNAMIC: &str = r#"[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "dyn_pkg"   # replaced in CI
dynamic = ["version", "readme"]
description = "version comes from an attribute"

[tool.setuptools.dynamic]
version = {attr = "dyn_pkg.__version__"}
readme = {file = ["README.md"]}
"#;

fn dynamic_project() -> Project {
    Project::new(&[
        ("pyproject.toml", DYNAMIC),
        ("README.md", "# dyn\n"),
        ("src/dyn_pkg/__init__.py", "__version__ = \"0.0.1\"\n"),
    ])
}

#[test]
fn dynamic_version_is_made_static_and_the_reason_is_given() {
    let project = dynamic_project();
    let r = project.build(&["--no-build", "--version", "v1.2.3"]);
    assert_run(
        &r,
        0,
        &[
            "\"version\" removed from project.dynamic",
            "the release version must be exactly the one given",
            r#"project.version added: "1.2.3""#,
        ],
    );
    let expected = DYNAMIC
        .replacen(
            "name = \"dyn_pkg\"   # replaced in CI\n",
            "name = \"dyn_pkg\"   # replaced in CI\nversion = \"1.2.3\"\n",
            1,
        )
        .replacen(
            r#"dynamic = ["version", "readme"]"#,
            r#"dynamic = ["readme"]"#,
            1,
        );
    assert_eq!(project.pyproject(), expected);
}

#[test]
fn dynamic_version_without_a_version_is_left_to_the_backend() {
    let project = dynamic_project();
    let r = project.build(&["--no-build", "--name", "dyn-pkg"]);
    assert_run(
        &r,
        0,
        &["project.version is dynamic and no version was given"],
    );
    assert_eq!(
        project.pyproject(),
        DYNAMIC.replacen("\"dyn_pkg\"   #", "\"dyn-pkg\"   #", 1)
    );
}

#[test]
fn missing_urls_table_is_added() {
    let text = "[project]\nname = \"p\"\nversion = \"1.0\"\n\n[tool.x]\nkeep = true\n";
    let project = Project::new(&[("pyproject.toml", text)]);
    let r = project.build(&["--no-build", "--homepage", "https://gitlab.example.com/g/p"]);
    assert_run(&r, 0, &["no [project.urls] table: added one"]);
    assert_eq!(
        project.pyproject(),
        text.replacen(
            "\n[tool.x]",
            "\n[project.urls]\nHomepage = \"https://gitlab.example.com/g/p\"\n\n[tool.x]",
            1
        )
    );
}

#[test]
fn invalid_toml_is_reported_with_line_and_column() {
    let text = "[project]\nname = \"p\"\nversion = 1.0.0\n";
    let project = Project::new(&[("pyproject.toml", text)]);
    let r = project.build(&["--no-build", "--version", "2.0"]);
    assert_run(&r, 2, &["pyproject.toml:3:"]);
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("pyproject.toml:3:"))
        .unwrap();
    assert!(
        regex::Regex::new(r"^error: .*pyproject\.toml:3:\d+: \S")
            .unwrap()
            .is_match(line),
        "{line}"
    );
    assert_eq!(project.pyproject(), text, "an invalid file is not touched");

    let text = "[project]\nname = \"p\n";
    let project = Project::new(&[("pyproject.toml", text)]);
    let r = project.build(&["--no-build"]);
    assert_run(&r, 2, &["pyproject.toml:2:10: "]);
}

#[test]
fn poetry_only_project_is_refused_with_a_hint() {
    let text = "[tool.poetry]\nname = \"p\"\nversion = \"0.1.0\"\n\n[build-system]\nrequires = [\"poetry-core\"]\n";
    let project = Project::new(&[("pyproject.toml", text)]);
    let r = project.build(&["--no-build", "--version", "1.0"]);
    assert_run(
        &r,
        2,
        &[
            "Poetry-only project: ",
            "has [tool.poetry] but no [project] table (PEP 621)",
            "hint: Poetry >= 2 reads the standard [project] table",
        ],
    );
    assert_eq!(project.pyproject(), text);

    let project = Project::new(&[("pyproject.toml", "[build-system]\nrequires = []\n")]);
    let r = project.build(&["--no-build"]);
    assert_run(
        &r,
        2,
        &[
            "has no [project] table (PEP 621)",
            "hint: add a [project] table",
        ],
    );
}

#[test]
fn setup_py_only_project_is_refused_naming_the_files() {
    let project = Project::new(&[
        ("setup.py", "from setuptools import setup\nsetup()\n"),
        ("setup.cfg", "[metadata]\nname = p\n"),
    ]);
    let r = project.build(&["--no-build"]);
    assert_run(
        &r,
        2,
        &[
            "setup.py/setup.cfg project: ",
            "has setup.py and setup.cfg but no pyproject.toml",
            "hint: add a pyproject.toml with a [project] table",
        ],
    );

    let project = Project::new(&[("README.md", "nothing here\n")]);
    let r = project.build(&["--no-build"]);
    assert_run(&r, 2, &["has no pyproject.toml"]);
    let r = run(gl_sign().args(["build", "--no-build", "/nonexistent/project"]));
    assert_run(
        &r,
        2,
        &["/nonexistent/project does not exist or is not a directory"],
    );
}

#[test]
fn invalid_versions_are_refused_before_anything_is_written() {
    let project = commented_project();
    let r = project.build_in_ci(&[("CI_COMMIT_TAG", "v1.2.x")], &["--no-build"]);
    assert_run(
        &r,
        2,
        &[
            r#"CI_COMMIT_TAG=v1.2.x gives the version "1.2.x", which is not a valid PEP 440 version"#,
            "caused by: ",
            "hint: tag releases with a PEP 440 version such as v1.2.3",
        ],
    );
    assert_eq!(project.pyproject(), COMMENTED);

    let r = project.build(&["--no-build", "--version", "1.2.3-beta_x"]);
    assert_run(
        &r,
        2,
        &[r#"--version gives the version "1.2.3-beta_x", which is not a valid PEP 440 version"#],
    );
    assert_eq!(project.pyproject(), COMMENTED);
}

#[test]
fn invalid_names_and_homepages_are_refused() {
    let project = commented_project();
    let r = project.build(&["--no-build", "--name", "my package"]);
    assert_run(
        &r,
        2,
        &[
            r#"--name gives the package name "my package", which is not a valid name (PEP 508)"#,
            "hint: a name is ASCII letters, digits",
        ],
    );
    let r = project.build(&["--no-build", "--name=-pkg"]);
    assert_run(&r, 2, &["not a valid name (PEP 508)"]);
    let r = project.build_in_ci(&[("CI_PROJECT_NAME", "¿?")], &["--no-build"]);
    assert_run(&r, 2, &["CI_PROJECT_NAME gives the package name \"¿?\""]);
    let r = project.build(&["--no-build", "--homepage", "gitlab.com/g/p"]);
    assert_run(&r, 2, &["which is not an http(s) URL"]);
    assert_eq!(project.pyproject(), COMMENTED);
}

#[test]
fn a_missing_interpreter_or_build_module_is_a_clear_error() {
    let project = commented_project();
    let r = project.build(&["--python", "/nonexistent/python3"]);
    assert_run(
        &r,
        2,
        &[
            "cannot run the Python interpreter /nonexistent/python3",
            "hint: choose the interpreter with --python",
        ],
    );
    // `false` runs but is no Python: the probe for PyPA build fails.
    let r = project.build(&["--python", "false"]);
    assert_run(
        &r,
        2,
        &["false cannot import PyPA build", "-m pip install build"],
    );
}

// ---- real builds: PyPA build + setuptools from the venv ------------------

/// The venv's python, with PyPA build, setuptools and wheel importable.
/// Outside CI their absence skips the test with a note; in CI it fails.
fn build_python() -> Option<PathBuf> {
    let bin = crate::support::python_tool("pyproject-build")?;
    let python = bin.join("python");
    let ok = Command::new(&python)
        .args(["-c", "import build, setuptools, wheel"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "setuptools and wheel are required in CI but {} cannot import them (scripts/test installs them)",
            python.display()
        );
    }
    eprintln!(
        "skipped: {} cannot import setuptools and wheel (run scripts/test, which installs them)",
        python.display()
    );
    None
}

/// Name and Version from a dist's own metadata, read here independently of gl-sign.
fn dist_metadata(path: &Path) -> (String, String) {
    let text = if path.extension().is_some_and(|e| e == "whl") {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        let name = zip
            .file_names()
            .filter_map(Result::ok)
            .find(|n| n.ends_with(".dist-info/METADATA"))
            .unwrap()
            .into_owned();
        let mut text = String::new();
        zip.by_name(&name)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    } else {
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
        let mut archive = tar::Archive::new(gz);
        let mut found = None;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let entry_path = entry.path().unwrap().into_owned();
            if entry_path.components().count() == 2 && entry_path.ends_with("PKG-INFO") {
                let mut text = String::new();
                entry.read_to_string(&mut text).unwrap();
                found = Some(text);
                break;
            }
        }
        found.expect("sdist has a top-level PKG-INFO")
    };
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_string()
    };
    (field("Name"), field("Version"))
}

/// The stdout lines `FILE sha256:HEX`, checked against the files.
fn printed_dists(r: &Run) -> Vec<PathBuf> {
    let line_re = regex::Regex::new(r"^(.+) sha256:([0-9a-f]{64})$").unwrap();
    r.stdout
        .lines()
        .map(|line| {
            let caps = line_re
                .captures(line)
                .unwrap_or_else(|| panic!("not `FILE sha256:HEX`: {line:?}"));
            let path = PathBuf::from(&caps[1]);
            let data = std::fs::read(&path).unwrap();
            assert_eq!(hex::encode(sha256(&data)), &caps[2], "sha256 of {line}");
            path
        })
        .collect()
}

fn assert_dists(paths: &[PathBuf], outdir: &Path, name: &str, version: &str) {
    assert_eq!(paths.len(), 2, "one sdist and one wheel: {paths:?}");
    assert!(paths.iter().any(|p| p.to_string_lossy().ends_with(".whl")));
    assert!(paths
        .iter()
        .any(|p| p.to_string_lossy().ends_with(".tar.gz")));
    for path in paths {
        assert_eq!(path.parent().unwrap(), outdir);
        let (n, v) = dist_metadata(path);
        assert_eq!(
            (n.as_str(), v.as_str()),
            (name, version),
            "{}",
            path.display()
        );
    }
}

#[test]
fn real_build_carries_the_written_name_and_version() {
    let Some(python) = build_python() else {
        return;
    };
    let project = commented_project();
    let out = tempfile::tempdir().unwrap();
    // An old dist in the output directory is neither reported nor checked.
    std::fs::write(out.path().join("my_package-0.0.1.tar.gz"), "old").unwrap();
    let r = project.build_in_ci(
        &[
            ("CI_PROJECT_NAME", "signed-sample"),
            ("CI_COMMIT_TAG", "v1.2.3"),
            (
                "CI_PROJECT_URL",
                "https://gitlab.example.com/g/signed-sample",
            ),
        ],
        &[
            "--python",
            python.to_str().unwrap(),
            "--no-isolation",
            "--outdir",
            out.path().to_str().unwrap(),
        ],
    );
    assert_run(
        &r,
        0,
        &[
            "Successfully built",
            "2 dists built, carrying signed_sample 1.2.3",
        ],
    );
    let dists = printed_dists(&r);
    assert_dists(&dists, out.path(), "signed_sample", "1.2.3");
    assert_eq!(
        project.pyproject(),
        commented_expected(
            "signed_sample",
            "1.2.3",
            "https://gitlab.example.com/g/signed-sample"
        )
    );
    let staging: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".gl-sign-build-"))
        .collect();
    assert!(staging.is_empty(), "staging directory left: {staging:?}");
}

#[test]
fn real_build_of_a_dynamic_version_project() {
    let Some(python) = build_python() else {
        return;
    };
    let project = dynamic_project();
    let python = python.to_str().unwrap();

    // As it is: buildable, the version from the attribute, not checked.
    let r = project.build(&["--python", python, "-n"]);
    assert_run(&r, 0, &["dynamic version, not checked"]);
    let dist = project.path().join("dist");
    assert_dists(&printed_dists(&r), &dist, "dyn_pkg", "0.0.1");

    // With a release version: static, and the dists carry it.
    let r = project.build(&["--python", python, "-n", "--version", "1.2.3"]);
    assert_run(&r, 0, &["2 dists built, carrying dyn_pkg 1.2.3"]);
    assert_dists(&printed_dists(&r), &dist, "dyn_pkg", "1.2.3");
}

/// A PEP 517 backend that ignores pyproject.toml and always builds
/// `other-0.0.9`: what a misconfigured backend would do.
const FIXED_BACKEND: &str = r#"
import io, os, tarfile, zipfile

METADATA = "Metadata-Version: 2.1\nName: other\nVersion: 0.0.9\n"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "other-0.0.9-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        z.writestr("other-0.0.9.dist-info/METADATA", METADATA)
        z.writestr("other-0.0.9.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nGenerator: fixed\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("other-0.0.9.dist-info/RECORD", "")
    return name

def build_sdist(sdist_directory, config_settings=None):
    name = "other-0.0.9.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        data = METADATA.encode()
        info = tarfile.TarInfo("other-0.0.9/PKG-INFO")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return name
"#;

#[test]
fn dists_that_do_not_carry_the_written_metadata_are_rejected() {
    let Some(bin) = crate::support::python_tool("pyproject-build") else {
        return;
    };
    let project = Project::new(&[
        (
            "pyproject.toml",
            "[build-system]\nrequires = []\nbuild-backend = \"fixed_backend\"\nbackend-path = [\".\"]\n\n[project]\nname = \"wanted\"\nversion = \"0.1\"\n",
        ),
        ("fixed_backend.py", FIXED_BACKEND),
    ]);
    let r = project.build(&[
        "--python",
        bin.join("python").to_str().unwrap(),
        "--no-isolation",
        "--version",
        "1.0",
    ]);
    assert_run(
        &r,
        1,
        &[
            r#"other-0.0.9-py3-none-any.whl: expected name "wanted", the metadata has "other"; expected version "1.0", the metadata has "0.0.9""#,
            "FAILED ",
            "other-0.0.9.tar.gz: expected name",
            "hint: the build backend did not use [project]",
        ],
    );
    assert_eq!(r.stdout, "", "no dist is reported as good");
}

// ---- the tutorial's placeholders and every pipeline's version ------------

fn tutorial() -> Project {
    let project = Project::new(&[]);
    crate::first_run::tutorial_project(project.path());
    project
}

#[test]
fn placeholders_with_nothing_to_write_over_them_are_refused_first() {
    let project = tutorial();
    let before = project.pyproject();
    let r = project.build(&["--no-build"]);
    assert_run(
        &r,
        2,
        &[
            r#"project.name is the placeholder "<my_package>", and nothing gives a value to write over it"#,
            "hint: pass --name, or run gl-sign build in a GitLab pipeline, which sets $CI_PROJECT_NAME",
        ],
    );
    assert_run_snapshot("run-build-placeholder-refused", &r);
    let r = project.build(&["--no-build", "--name", "p"]);
    assert_run(
        &r,
        2,
        &[
            r#"project.version is the placeholder "<1.0.0>""#,
            "hint: pass --version",
        ],
    );
    let r = project.build(&["--no-build", "--name", "p", "--version", "1.0"]);
    assert_run(
        &r,
        2,
        &[r#"project.urls.Homepage is the placeholder "<https://gitlab.com/my_package>""#],
    );
    assert_eq!(project.pyproject(), before, "nothing written");
    // Everything given: every placeholder is written over, the rest kept.
    let r = project.build(&[
        "--no-build",
        "--name",
        "p",
        "--version",
        "1.0",
        "--homepage",
        "https://gitlab.example.com/g/p",
    ]);
    assert_run(&r, 0, &["version 1.0: given with --version"]);
    assert_eq!(
        project.pyproject(),
        before
            .replace("<my_package>", "p")
            .replace("<1.0.0>", "1.0")
            .replace(
                "<https://gitlab.com/my_package>",
                "https://gitlab.example.com/g/p"
            )
    );
}

const PIPELINE: &[(&str, &str)] = &[
    ("CI_PROJECT_NAME", "my-project"),
    ("CI_PROJECT_URL", "https://gitlab.example.com/g/my-project"),
    ("CI_PIPELINE_IID", "57"),
];

fn version_written(project: &Project) -> String {
    let doc: toml_edit::DocumentMut = project.pyproject().parse().unwrap();
    doc["project"]["version"].as_str().unwrap().to_string()
}

#[test]
fn branch_pipelines_get_a_development_version_after_the_last_tag() {
    // No git history: after the placeholder's 0.0.0.
    let project = tutorial();
    let r = project.build_in_ci(PIPELINE, &["--no-build"]);
    assert_run(
        &r,
        0,
        &[
            "version 0.0.1.dev57: not a tag pipeline",
            r#"pyproject.toml's version is the placeholder "<1.0.0>""#,
            "no git history",
            "only tag pipelines publish",
        ],
    );
    // git's own words for "no repository" vary between versions.
    RunSnapshot::new()
        .filter(
            r"(no git history to read tags from: )fatal: not a git repository[^\n]*?: \.git\)",
            "$1[GIT: NOT A REPOSITORY])",
        )
        .assert("run-build-version-branch-no-history", &r);
    assert_eq!(version_written(&project), "0.0.1.dev57");

    // A git checkout with release tags: after the highest one reachable from
    // HEAD, whatever the file says and whatever tag is nearest.
    let project = tutorial();
    let dir = project.path();
    let git = |args: &[&str]| crate::first_run::git(dir, args);
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "one"]);
    git(&["tag", "v1.2.3"]);
    git(&["tag", "v1.0.9"]);
    git(&["commit", "-q", "--allow-empty", "-m", "two"]);
    git(&["tag", "not-a-version"]);
    git(&["checkout", "-q", "-b", "side"]);
    git(&["commit", "-q", "--allow-empty", "-m", "side"]);
    git(&["tag", "v9.0.0"]);
    git(&["checkout", "-q", "main"]);
    let r = project.build_in_ci(PIPELINE, &["--no-build"]);
    assert_run(
        &r,
        0,
        &[
            "version 1.2.4.dev57: not a tag pipeline",
            "the last release tag v1.2.3",
        ],
    );
    assert_run_snapshot("run-build-version-branch-after-tag", &r);
    assert_eq!(version_written(&project), "1.2.4.dev57");

    // A tag pipeline: the tag, whatever else.
    let mut tag = PIPELINE.to_vec();
    tag.push(("CI_COMMIT_TAG", "v1.2.3"));
    let r = project.build_in_ci(&tag, &["--no-build"]);
    assert_run(
        &r,
        0,
        &["version 1.2.3: tag pipeline, from CI_COMMIT_TAG=v1.2.3"],
    );
    assert_run_snapshot("run-build-version-tag", &r);
    assert_eq!(version_written(&project), "1.2.3");

    // No tag, a real version in the file: after that one.
    let project = Project::new(&[(
        "pyproject.toml",
        "[project]\nname = \"p\"\nversion = \"2.0\"\n",
    )]);
    let r = project.build_in_ci(PIPELINE, &["--no-build"]);
    assert_run(
        &r,
        0,
        &[
            "version 2.1.dev57: not a tag pipeline",
            "pyproject.toml's own version",
        ],
    );
    // A pipeline number that is not one is refused.
    let r = project.build_in_ci(&[("CI_PIPELINE_IID", "x")], &["--no-build"]);
    assert_run(&r, 2, &[r#"CI_PIPELINE_IID is "x""#]);
}

#[test]
fn real_build_of_the_tutorial_project_in_a_branch_pipeline() {
    let Some(python) = build_python() else {
        return;
    };
    let project = tutorial();
    let r = project.build_in_ci(
        PIPELINE,
        &["--python", python.to_str().unwrap(), "--no-isolation"],
    );
    assert_run(&r, 0, &["2 dists built, carrying my_project 0.0.1.dev57"]);
    assert_dists(
        &printed_dists(&r),
        &project.path().join("dist"),
        "my_project",
        "0.0.1.dev57",
    );
    // In GitLab CI the backend's output is a collapsed section; the verdict
    // comes after the section ends.
    let mut ci = PIPELINE.to_vec();
    ci.push(("GITLAB_CI", "true"));
    let r = project.build_in_ci(&ci, &["--python", python.to_str().unwrap(), "-n"]);
    assert_run(&r, 0, &[]);
    let start = r.stderr.find("section_start:").expect("a section starts");
    let end = r.stderr.find("section_end:").expect("and ends");
    let built = r.stderr.find("Successfully built").unwrap();
    let verdict = r.stderr.find("2 dists built").unwrap();
    assert!(
        start < built && built < end && end < verdict,
        "{}",
        r.stderr
    );
    assert!(
        r.stderr[start..].starts_with("section_start:")
            && r.stderr.contains("[collapsed=true]\r\x1b[0Kbuilding ")
    );
}

#[test]
fn a_metadata_error_of_the_backend_gets_no_no_isolation_hint() {
    let Some(python) = build_python() else {
        return;
    };
    let project = Project::new(&[(
        "pyproject.toml",
        "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
         [project]\nname = \"p\"\nversion = \"1.0\"\nrequires-python = \"not a specifier\"\n",
    )]);
    let r = project.build(&["--python", python.to_str().unwrap(), "--no-isolation"]);
    assert_run(
        &r,
        2,
        &[
            "-m build` failed",
            "hint: the build backend refused the project's metadata (",
            "project.requires-python",
        ],
    );
    assert!(
        !r.stderr
            .contains("hint: the build backend's own output is above; with --no-isolation"),
        "{}",
        r.stderr
    );
    // A missing build requirement under --no-isolation still gets that hint.
    let project = Project::new(&[(
        "pyproject.toml",
        "[build-system]\nrequires = [\"no-such-backend-pkg\"]\nbuild-backend = \"no_such_backend\"\n\n\
         [project]\nname = \"p\"\nversion = \"1.0\"\n",
    )]);
    let r = project.build(&["--python", python.to_str().unwrap(), "--no-isolation"]);
    assert_run(&r, 2, &["with --no-isolation the build requirements"]);
}
