use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Exit status: 0 written (or, with --check, identical), 1 --check found drift, 2 errors."
)]
pub struct InitArgs {
    /// Where to write the pipeline
    #[arg(long, value_name = "FILE", default_value = ".gitlab-ci.yml")]
    pub output: PathBuf,
    /// Job image that already holds gl-sign and Python (jobs then install nothing)
    /// [default: python:X.Y, with gl-sign pip-installed in every job]
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Python version of the default job image, python:X.Y
    #[arg(
        long,
        value_name = "X.Y",
        default_value = "3.12",
        conflicts_with = "image"
    )]
    pub python_version: String,
    /// Distribution name to build, publish and verify [default: ./pyproject.toml's unless a
    /// <placeholder>, else $CI_PROJECT_NAME, else the directory's]
    #[arg(long, value_name = "NAME")]
    pub package_name: Option<String>,
    /// Sign only in pipelines for protected branches and tags; elsewhere the sign job says so
    /// and signs nothing
    #[arg(long)]
    pub sign_protected_only: bool,
    /// Stages to include, comma-separated [default: all]
    #[arg(long, value_name = "STAGE,...", value_delimiter = ',')]
    pub stages: Option<Vec<String>>,
    /// Overwrite an existing file
    #[arg(long, conflicts_with = "check")]
    pub force: bool,
    /// Compare with the existing file: print a unified diff, exit 1 on drift
    #[arg(long)]
    pub check: bool,
    /// Where the publish job uploads: this project's GitLab registry, or PyPI/TestPyPI with trusted publishing and PEP 740 attestations
    #[arg(
        long,
        value_enum,
        default_value = "gitlab",
        value_name = "INDEX",
        conflicts_with = "component"
    )]
    pub publish_to: PublishTo,
    /// Write the CI/CD component (templates/gl-sign.yml) instead of a pipeline
    #[arg(long, conflicts_with_all = ["image", "package_name", "stages", "sign_protected_only"])]
    pub component: bool,
}

/// The index `init --publish-to` targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublishTo {
    Gitlab,
    Pypi,
    Testpypi,
}
