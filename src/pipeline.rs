//! The `.gitlab-ci.yml` that runs gl-sign, rendered from `templates/`.
//!
//! One template (`templates/pipeline.yml.j2`, embedded at build time) gives
//! both the pipeline `gl-sign init` writes and the CI/CD component
//! (`templates/gl-sign.yml`) that a project can `include:`. The template
//! language uses `<{ }>` and `<% %>` so it never clashes with GitLab's `${VAR}`
//! and `$[[ inputs ]]`; an undefined variable is an error; every rendering is
//! parsed as YAML before it is returned.

use minijinja::syntax::SyntaxConfig;
use minijinja::{context, Environment, UndefinedBehavior};

use crate::registry::trusted_publishing::PublicIndex;

const TEMPLATE: &str = include_str!("../templates/pipeline.yml.j2");

/// The stages, in pipeline order.
pub const STAGES: [&str; 6] = [
    "build",
    "sign",
    "verify",
    "publish",
    "publish_signatures",
    "consumer_verification",
];

/// The Python version of the default job image.
pub const DEFAULT_PYTHON_VERSION: &str = "3.12";

/// The default job image: the official Python image, into which every job
/// pip-installs this very gl-sign version.
pub fn default_image(python_version: &str) -> String {
    format!("python:{python_version}")
}

/// `X.Y`, the form of the official Python images' minor-version tags.
pub fn valid_python_version(version: &str) -> bool {
    match version.split_once('.') {
        Some((major, minor)) => [major, minor]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub image: String,
    /// Every job pip-installs gl-sign (exactly this version) before its script:
    /// for a plain Python image; off for an image that already holds gl-sign.
    pub install: bool,
    pub package_name: String,
    /// A subset of [`STAGES`]; rendered in pipeline order.
    pub stages: Vec<String>,
    /// The sign job signs only on protected branches and tags.
    pub sign_protected_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("unknown stage {0:?}; the stages are build, sign, verify, publish, publish_signatures, consumer_verification")]
    UnknownStage(String),
    #[error("no stages selected")]
    NoStages,
    #[error("{what} {value:?} is not valid: {why}")]
    InvalidValue {
        what: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("cannot render the pipeline template")]
    Render(#[source] minijinja::Error),
    #[error("the rendered pipeline is not valid YAML (a gl-sign bug)")]
    Yaml(#[source] serde_yaml_ng::Error),
}

fn environment() -> Result<Environment<'static>, PipelineError> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .block_delimiters("<%", "%>")
        .variable_delimiters("<{", "}>")
        .comment_delimiters("<#", "#>")
        .build()
        .map_err(PipelineError::Render)?;
    env.set_syntax(syntax);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_template("pipeline", TEMPLATE)
        .map_err(PipelineError::Render)?;
    Ok(env)
}

/// A YAML scalar for a value: JSON string syntax is valid YAML and quotes
/// anything a user might pass.
fn quoted(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

/// PEP 508 distribution name.
fn valid_package_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Check options and put the stages in pipeline order.
pub fn normalize(options: &PipelineOptions) -> Result<PipelineOptions, PipelineError> {
    for stage in &options.stages {
        if !STAGES.contains(&stage.as_str()) {
            return Err(PipelineError::UnknownStage(stage.clone()));
        }
    }
    let stages: Vec<String> = STAGES
        .iter()
        .filter(|s| options.stages.iter().any(|o| o == *s))
        .map(|s| s.to_string())
        .collect();
    if stages.is_empty() {
        return Err(PipelineError::NoStages);
    }
    if options.image.is_empty() || options.image.contains(char::is_whitespace) {
        return Err(PipelineError::InvalidValue {
            what: "image",
            value: options.image.clone(),
            why: "an image reference has no spaces",
        });
    }
    if !valid_package_name(&options.package_name) {
        return Err(PipelineError::InvalidValue {
            what: "package name",
            value: options.package_name.clone(),
            why: "PEP 508 names are letters, digits, '.', '_' and '-', starting and ending with a letter or digit",
        });
    }
    Ok(PipelineOptions {
        stages,
        ..options.clone()
    })
}

/// Where the publish job uploads the dists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PublishTo {
    /// This project's GitLab PyPI registry (the job token).
    #[default]
    Gitlab,
    /// PyPI with trusted publishing and PEP 740 attestations.
    Pypi,
    /// TestPyPI, the same way.
    Testpypi,
}

impl PublishTo {
    /// The index name, also the ID token audience and the environment name.
    pub fn name(self) -> &'static str {
        match self {
            PublishTo::Gitlab => "gitlab",
            PublishTo::Pypi => "pypi",
            PublishTo::Testpypi => "testpypi",
        }
    }

    /// The public index, with the URLs `publish pypi --repository` uses.
    fn public_index(self) -> Option<PublicIndex> {
        match self {
            PublishTo::Gitlab => None,
            PublishTo::Pypi => Some(PublicIndex::Pypi),
            PublishTo::Testpypi => Some(PublicIndex::Testpypi),
        }
    }
}

/// The `.gitlab-ci.yml` for these options.
pub fn render(options: &PipelineOptions) -> Result<String, PipelineError> {
    render_publishing_to(options, PublishTo::Gitlab)
}

/// The `.gitlab-ci.yml` for these options, publishing to `publish_to`.
pub fn render_publishing_to(
    options: &PipelineOptions,
    publish_to: PublishTo,
) -> Result<String, PipelineError> {
    let options = normalize(options)?;
    let env = environment()?;
    let text = env
        .get_template("pipeline")
        .and_then(|t| {
            t.render(context! {
                component => false,
                publish_to => publish_to.name(),
                // Variables, not `--repository`, so that a project can point
                // the jobs at another index without editing the file.
                upload_url_ref => publish_to
                    .public_index()
                    .map(|i| quoted(i.upload_url().as_str()))
                    .unwrap_or_default(),
                index_url_ref => publish_to
                    .public_index()
                    .map(|i| quoted(i.simple_root().as_str()))
                    .unwrap_or_default(),
                gl_sign_version => env!("CARGO_PKG_VERSION"),
                stages => options.stages,
                install => options.install,
                sign_protected_only => options.sign_protected_only,
                image => options.image.clone(),
                image_ref => quoted(&options.image),
                package_ref => quoted(&options.package_name),
            })
        })
        .map_err(PipelineError::Render)?;
    check_yaml(&text)?;
    Ok(text)
}

/// The CI/CD component (`templates/gl-sign.yml`): every stage, values as inputs.
pub fn render_component() -> Result<String, PipelineError> {
    let env = environment()?;
    let text = env
        .get_template("pipeline")
        .and_then(|t| {
            t.render(context! {
                component => true,
                publish_to => PublishTo::Gitlab.name(),
                upload_url_ref => "",
                index_url_ref => "",
                gl_sign_version => env!("CARGO_PKG_VERSION"),
                stages => STAGES.to_vec(),
                // Any input image works: gl-sign is installed unless it is there.
                install => true,
                sign_protected_only => false,
                image => default_image(DEFAULT_PYTHON_VERSION),
                image_ref => quoted("$[[ inputs.image ]]"),
                package_ref => quoted("$[[ inputs.package_name ]]"),
            })
        })
        .map_err(PipelineError::Render)?;
    check_yaml(&text)?;
    Ok(text)
}

/// Every document must parse (a component is a spec document, then the jobs).
fn check_yaml(text: &str) -> Result<(), PipelineError> {
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        serde_yaml_ng::Value::deserialize(document).map_err(PipelineError::Yaml)?;
    }
    Ok(())
}

use serde::Deserialize as _;

/// A unified diff from `old` to `new`, empty when they are equal.
pub fn unified_diff(old: &str, new: &str, path: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{path} (on disk)"),
            &format!("{path} (gl-sign init)"),
        )
        .to_string()
}

crate::register_hint!(none PipelineError);

#[cfg(test)]
mod tests {
    use super::*;

    fn options(stages: &[&str]) -> PipelineOptions {
        PipelineOptions {
            image: "example/img:1".into(),
            install: false,
            package_name: "my-pkg".into(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            sign_protected_only: false,
        }
    }

    #[test]
    fn renders_every_stage_in_order() {
        let text = render(&options(&[
            "consumer_verification",
            "build",
            "sign",
            "verify",
            "publish",
            "publish_signatures",
        ]))
        .unwrap();
        let positions: Vec<usize> = STAGES
            .iter()
            .map(|s| text.find(&format!("\n{s}:\n")).unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "jobs in pipeline order"
        );
        assert!(text.contains("image: \"example/img:1\""));
        assert!(text.contains("GL_SIGN_PACKAGE: \"my-pkg\""));
    }

    #[test]
    fn refuses_bad_options() {
        assert!(matches!(
            render(&options(&["deploy"])).unwrap_err(),
            PipelineError::UnknownStage(_)
        ));
        assert!(matches!(
            render(&options(&[])).unwrap_err(),
            PipelineError::NoStages
        ));
        let mut o = options(&["build"]);
        o.package_name = "-bad".into();
        assert!(matches!(
            render(&o).unwrap_err(),
            PipelineError::InvalidValue { .. }
        ));
        let mut o = options(&["build"]);
        o.image = "a b".into();
        assert!(matches!(
            render(&o).unwrap_err(),
            PipelineError::InvalidValue { .. }
        ));
    }

    #[test]
    fn publishing_to_pypi_uses_trusted_publishing_on_tags() {
        let all: Vec<&str> = STAGES.to_vec();
        let gitlab = render(&options(&all)).unwrap();
        assert_eq!(
            gitlab,
            render_publishing_to(&options(&all), PublishTo::Gitlab).unwrap()
        );
        assert!(!gitlab.contains("attest") && !gitlab.contains("ID_TOKEN:\n      aud: pypi"));
        for (to, var) in [(PublishTo::Pypi, "PYPI"), (PublishTo::Testpypi, "TESTPYPI")] {
            let text = render_publishing_to(&options(&all), to).unwrap();
            let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
            let publish = &doc["publish"];
            let name = to.name();
            assert_eq!(publish["id_tokens"][format!("{var}_ID_TOKEN")]["aud"], name);
            assert_eq!(publish["environment"]["name"], name);
            assert_eq!(publish["rules"][0]["if"], "$CI_COMMIT_TAG");
            // After main's refusal to publish unsigned dists.
            let script = publish["script"].as_sequence().unwrap();
            assert!(script[script.len() - 1]
                .as_str()
                .unwrap()
                .contains("--repository-url \"$GL_SIGN_UPLOAD_URL\" --trusted-publishing always"));
            // The index's own URLs, overridable by CI/CD variables.
            let (upload, simple) = match to {
                PublishTo::Testpypi => (
                    "https://test.pypi.org/legacy/",
                    "https://test.pypi.org/simple/",
                ),
                _ => (
                    "https://upload.pypi.org/legacy/",
                    "https://pypi.org/simple/",
                ),
            };
            let variables = &doc[".gl-sign-identity"]["variables"];
            assert_eq!(variables["GL_SIGN_UPLOAD_URL"], upload);
            assert_eq!(variables["GL_SIGN_INDEX_URL"], simple);
            assert!(doc["sign"]["script"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|l| l.as_str().unwrap().starts_with("gl-sign attest ")));
            let verify = doc["consumer_verification"]["script"]
                .as_sequence()
                .unwrap();
            assert!(verify[verify.len() - 1]
                .as_str()
                .unwrap()
                .contains("--index-url \"$GL_SIGN_INDEX_URL\" --provenance"));
        }
    }

    #[test]
    fn install_and_protected_only_change_what_jobs_run() {
        let plain = render(&options(&["build", "sign"])).unwrap();
        assert!(!plain.contains("pip install"));
        assert!(!plain.contains("CI_COMMIT_REF_PROTECTED"));
        let mut o = options(&["build", "sign"]);
        o.install = true;
        o.sign_protected_only = true;
        let text = render(&o).unwrap();
        assert!(text.contains(&format!(
            "python3 -m pip install --disable-pip-version-check \"gl-sign=={}\"",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(text.contains("PIP_CACHE_DIR: \"$CI_PROJECT_DIR/.cache/pip\""));
        assert!(text.contains("CI_COMMIT_REF_PROTECTED"));
        assert!(
            valid_python_version("3.12")
                && !valid_python_version("3")
                && !valid_python_version("3.x")
        );
    }

    #[test]
    fn diff_is_empty_only_when_equal() {
        assert_eq!(unified_diff("a\n", "a\n", "x"), "");
        let d = unified_diff("a\nb\n", "a\nc\n", ".gitlab-ci.yml");
        assert!(
            d.contains("-b\n") && d.contains("+c\n") && d.contains("--- .gitlab-ci.yml (on disk)")
        );
    }
}
