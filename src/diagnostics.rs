//! One renderer for every error: `error:` / `caused by:` / `hint:`.
//!
//! It writes to any `fmt::Write` so tests can check the exact text; `main` sends
//! it to stderr. Hints come from the error types themselves ([`Hint`]), so the
//! place that knows the fix is the place that says it.

use std::fmt::{self, Write};

/// An error that knows the likely fix.
pub trait Hint {
    fn hint(&self) -> Option<String>;
}

/// A usage problem found after argument parsing (conflicting or missing flags
/// that clap cannot express). Exit code 2, like clap's own usage errors.
#[derive(Debug)]
pub struct UsageError {
    pub message: String,
    pub hint: Option<String>,
}

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        UsageError {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

impl Hint for UsageError {
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

/// Render `err` and its causes. Each message is printed once: error types here
/// attach their cause as a source instead of repeating it in their message.
pub fn write_error_chain(out: &mut impl Write, err: &anyhow::Error) -> fmt::Result {
    writeln!(out, "error: {err}")?;
    for cause in err.chain().skip(1) {
        writeln!(out, "  caused by: {cause}")?;
    }
    let hints: Vec<String> = err.chain().filter_map(hint_of).collect();
    if !hints.is_empty() {
        writeln!(out)?;
        for hint in hints {
            writeln!(out, "hint: {hint}")?;
        }
    }
    Ok(())
}

/// The hint an error in a chain carries, for the error types that have one.
pub fn hint_of(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(e) = err.downcast_ref::<UsageError>() {
        return e.hint();
    }
    if let Some(e) = err.downcast_ref::<crate::verify::VerifyError>() {
        return e.hint();
    }
    if let Some(e) = err.downcast_ref::<crate::trust::TrustError>() {
        return e.hint();
    }
    if let Some(e) = err.downcast_ref::<crate::sign::SignError>() {
        return e.hint();
    }
    if let Some(e) = err.downcast_ref::<crate::sign::TokenError>() {
        return e.hint();
    }
    if let Some(e) = err.downcast_ref::<crate::registry::pypi::PublishError>() {
        return e.hint();
    }
    if let Some(e) =
        err.downcast_ref::<crate::registry::trusted_publishing::TrustedPublishingError>()
    {
        return e.hint();
    }
    if let Some(e) = err.downcast_ref::<crate::registry::trusted_publishing::AttestationFileError>()
    {
        return e.hint();
    }
    if let Some(e) = err.downcast_ref::<crate::registry::generic::GenericError>() {
        return e.hint();
    }
    if let Some(e) = err.downcast_ref::<crate::registry::consumer::ConsumerError>() {
        return e.hint();
    }
    if let Some(e) = err.downcast_ref::<crate::pyproject::PyprojectError>() {
        return e.hint();
    }
    if let Some(e) = err.downcast_ref::<crate::pyproject::MetadataError>() {
        return e.hint();
    }
    if let Some(e) = err.downcast_ref::<crate::pyproject::BuildError>() {
        return e.hint();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_error_causes_and_hint() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("cannot read x")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(Outer(inner));
        let mut text = String::new();
        write_error_chain(&mut text, &err).unwrap();
        assert_eq!(text, "error: cannot read x\n  caused by: no such file\n");

        let err = anyhow::Error::new(UsageError::new("bad flag").with_hint("use --other"));
        let mut text = String::new();
        write_error_chain(&mut text, &err).unwrap();
        assert_eq!(text, "error: bad flag\n\nhint: use --other\n");
    }
}
