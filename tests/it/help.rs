//! Every `--help` text, through the real binary, pinned by snapshots (as uv
//! does), so stale or wrong help cannot land unseen. The subcommand list comes
//! from the clap definition itself, so a new subcommand gets a snapshot too.

use clap::CommandFactory;

use crate::support::{gl_sign, run};

/// Every subcommand path, depth first: [], ["sign-blob"], ["publish", "pypi"], …
fn command_paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut path = prefix.clone();
        path.push(sub.get_name().to_string());
        command_paths(sub, path, out);
    }
}

#[test]
fn every_help_text_matches_its_snapshot() {
    let mut paths = Vec::new();
    command_paths(&gl_sign::cli::Cli::command(), Vec::new(), &mut paths);
    assert!(paths.len() > 5, "found only {paths:?}");
    let mut settings = crate::support::snapshot_settings();
    // The version is bumped by releases; the text around it is what matters.
    settings.add_filter(env!("CARGO_PKG_VERSION"), "[VERSION]");
    for path in paths {
        // A fixed width: wrapping must not depend on the terminal running the tests.
        let result = run(gl_sign().env("COLUMNS", "100").args(&path).arg("--help"));
        assert_eq!(result.code, 0, "{path:?} --help: {}", result.stderr);
        assert!(result.stderr.is_empty(), "{path:?}: {}", result.stderr);
        let name = match path.is_empty() {
            true => "help-gl-sign".to_string(),
            false => format!("help-gl-sign-{}", path.join("-")),
        };
        settings.bind(|| insta::assert_snapshot!(name, result.stdout));
    }
}

#[test]
fn short_help_differs_from_long_help_only_in_detail() {
    // -h is the summary; it must still list every subcommand --help lists.
    let long = run(gl_sign().env("COLUMNS", "100").arg("--help"));
    let short = run(gl_sign().env("COLUMNS", "100").arg("-h"));
    for sub in gl_sign::cli::Cli::command().get_subcommands() {
        assert!(long.stdout.contains(sub.get_name()), "{}", sub.get_name());
        assert!(short.stdout.contains(sub.get_name()), "{}", sub.get_name());
    }
}
