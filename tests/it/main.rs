//! gl-sign integration tests: one binary, one module per topic.

#[path = "../support/mod.rs"]
mod support;

mod build;
mod cases;
mod chain_cache;
mod cli;
mod e2e;
mod forms;
mod hardening;
mod init;
mod pipeline;
mod publish_real;
mod registry_selftest;
mod sign;
mod sign_stack;
mod stack_selftest;
mod tamper;
