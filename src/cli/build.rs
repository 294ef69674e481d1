use std::ffi::OsString;
use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
// `--version` is the release version here, not gl-sign's own.
#[command(
    disable_version_flag = true,
    after_help = "In GitLab CI the defaults come from the job: the name from $CI_PROJECT_NAME \
('-' becomes '_', as in GitLab's tutorial), the version from $CI_COMMIT_TAG (v1.2.3 -> 1.2.3) \
or, in a pipeline that is not a tag pipeline, a development version after the last release tag \
(v1.2.3 -> 1.2.4.dev<CI_PIPELINE_IID>), and the homepage from $CI_PROJECT_URL. Values with no flag \
and no default are left as they are; `<...>` placeholders (GitLab's tutorial) with nothing to \
write over them are an error.\n\n\
Prints each built dist as `FILE sha256:HEX` on stdout.\n\n\
Exit status: 0 rewritten and built, 1 a built dist does not carry the written name or version, \
2 usage error, unreadable or invalid pyproject.toml, failed build."
)]
pub struct BuildArgs {
    /// Project directory holding pyproject.toml
    #[arg(value_name = "PROJECT_DIR", default_value = ".")]
    pub project_dir: PathBuf,

    /// Package name to write to [project].name [default: from $CI_PROJECT_NAME]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// PEP 440 version to write to [project].version [default: $CI_COMMIT_TAG without a leading v,
    /// else in a pipeline a development version]
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,

    /// URL to write to [project.urls].Homepage [default: $CI_PROJECT_URL]
    #[arg(long, value_name = "URL")]
    pub homepage: Option<String>,

    /// Python interpreter that runs `-m build` (PyPA build must be installed in it)
    #[arg(
        long,
        value_name = "PYTHON",
        env = "GL_SIGN_PYTHON",
        default_value = "python3"
    )]
    pub python: OsString,

    /// Directory for the built dists [default: PROJECT_DIR/dist]
    #[arg(long, value_name = "DIR")]
    pub outdir: Option<PathBuf>,

    /// Build with the interpreter's installed build requirements instead of an isolated
    /// environment (python -m build --no-isolation; no network needed)
    #[arg(short = 'n', long, env = "GL_SIGN_BUILD_NO_ISOLATION")]
    pub no_isolation: bool,

    /// Only rewrite pyproject.toml; do not build
    #[arg(long, conflicts_with_all = ["outdir", "no_isolation"])]
    pub no_build: bool,
}
