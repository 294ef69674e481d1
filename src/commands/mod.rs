//! One file per subcommand: turn arguments into settings, call the library, print.

mod sign_blob;
mod verify_blob;

use crate::cli::{Cli, Command};
use crate::exit::ExitStatus;

pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::SignBlob(args) => sign_blob::run(args),
        Command::VerifyBlob(args) => verify_blob::run(args),
    }
}
