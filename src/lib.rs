//! gl-sign: sign, verify and publish Python packages from GitLab CI with Sigstore.
//!
//! The library holds all logic; `main.rs` only parses arguments, runs a command,
//! renders errors and maps exit codes. Library modules never print and never read
//! the environment: `ci` reads the GitLab CI variables once and hands values down.
//!
//! The sigstore-rust crates are used only behind [`trust`], [`sign`] and [`verify`], so the
//! rest of the code does not follow their pre-1.0 API changes.

pub mod build;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod diagnostics;
pub mod exit;
pub mod files;
pub mod hint;
pub mod http;
pub mod inspect;
pub mod pipeline;
pub mod pyproject;
pub mod registry;
pub mod sign;
pub mod trust;
pub mod verify;

// The TUF client is part of `trust`; kept at its old path for the benches.
pub use trust::tuf;
