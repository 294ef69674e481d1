//! gl-sign integration tests: one binary, one module per topic.

#[path = "../support/mod.rs"]
mod support;

mod attest;
mod build;
mod cases;
mod chain_cache;
mod cli;
mod dsse;
mod e2e;
mod first_run;
mod first_run_pypi;
mod forms;
mod hardening;
mod help;
mod init;
mod inspect;
mod keys;
mod pipeline;
mod provenance_e2e;
mod publish_real;
mod registry_selftest;
mod sign;
mod sign_stack;
mod sign_v2;
mod stack_selftest;
mod tamper;
mod transcripts;
mod trusted_publishing;
mod tuf;
mod wheel;
