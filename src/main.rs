use std::process::ExitCode;

use clap::Parser;
use gl_sign::cli::Cli;
use gl_sign::commands::CliWording;
use gl_sign::diagnostics::write_error_chain_worded;
use gl_sign::exit::ExitStatus;

fn main() -> ExitCode {
    // clap exits with 2 on usage errors, matching gl-sign's own code for them.
    let cli = Cli::parse();
    let status = match gl_sign::commands::run(cli) {
        Ok(status) => status,
        Err(err) => {
            let mut text = String::new();
            let _ = write_error_chain_worded(&mut text, &err, &CliWording);
            eprint!("{text}");
            ExitStatus::Error
        }
    };
    ExitCode::from(status.code() as u8)
}
