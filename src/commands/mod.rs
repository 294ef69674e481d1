//! One file per subcommand: turn arguments into settings, call the library, print.

mod attest;
mod build;
mod consumer_provenance;
mod consumer_verify;
mod init;
mod inspect;
mod progress;
mod publish;
mod section;
mod settings;
mod shared;
mod sign_blob;
mod trust;
mod verdict;
mod verify_blob;
mod wording;

pub use wording::CliWording;

use crate::cli::{Cli, Command};
use crate::exit::ExitStatus;

pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Build(args) => build::run(args, &crate::ci::CiEnvironment::from_env()),
        Command::SignBlob(args) => sign_blob::run(args),
        Command::Init(args) => init::run(args, &crate::ci::CiEnvironment::from_env()),
        Command::Publish(args) => publish::run(args, &crate::ci::CiEnvironment::from_env()),
        Command::ConsumerVerify(args) => {
            consumer_verify::run(args, &settings::Environment::from_process())
        }
        Command::VerifyBlob(args) => verify_blob::run(args, &settings::Environment::from_process()),
        Command::Trust(args) => trust::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Attest(args) => attest::run(args, &crate::ci::CiEnvironment::from_env()),
    }
}
