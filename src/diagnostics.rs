//! One renderer for every error: `error:` / `caused by:` / `hint:`.
//!
//! It writes to any `fmt::Write` so tests can check the exact text; `main` sends
//! it to stderr. Hints come from the error types themselves ([`Hint`]), so the
//! place that knows the fix is the place that says it. Library errors name no
//! CLI flag; a front end words them its own way through [`Wording`] (the CLI's
//! words, naming its flags, are in `commands::wording`).

use std::fmt::{self, Write};

pub use crate::hint::{hint_of, Hint, UsageError};

/// How a front end words errors. The library's errors name what was wrong
/// with an input, not the flag that gave it; the CLI words the ones it knows
/// in terms of its flags (`commands::wording`).
pub trait Wording {
    /// The message of `err` itself (not of its sources).
    fn message(&self, err: &(dyn std::error::Error + 'static)) -> String {
        err.to_string()
    }

    /// The hint of `err` itself (not of its sources), if it has one.
    fn hint(&self, err: &(dyn std::error::Error + 'static)) -> Option<String> {
        hint_of(err)
    }
}

/// The library's own words.
pub struct LibraryWording;

impl Wording for LibraryWording {}

/// Render `err` and its causes in the library's own words.
pub fn write_error_chain(out: &mut impl Write, err: &anyhow::Error) -> fmt::Result {
    write_error_chain_worded(out, err, &LibraryWording)
}

/// Render `err` and its causes. Each message is printed once: error types here
/// attach their cause as a source instead of repeating it in their message.
pub fn write_error_chain_worded(
    out: &mut impl Write,
    err: &anyhow::Error,
    wording: &dyn Wording,
) -> fmt::Result {
    let mut chain = err.chain();
    if let Some(first) = chain.next() {
        writeln!(out, "error: {}", wording.message(first))?;
    }
    for cause in chain {
        writeln!(out, "  caused by: {}", wording.message(cause))?;
    }
    // A wrapper may repeat its source's hint: show each once.
    let mut hints: Vec<String> = Vec::new();
    for hint in err.chain().filter_map(|e| wording.hint(e)) {
        if !hints.contains(&hint) {
            hints.push(hint);
        }
    }
    if !hints.is_empty() {
        writeln!(out)?;
        for hint in hints {
            writeln!(out, "hint: {hint}")?;
        }
    }
    Ok(())
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

        // A type no renderer list names (it registers itself), wrapped in
        // another that has no hint of its own: the hint still shows.
        let err = anyhow::Error::new(crate::registry::consumer::ConsumerError::BadEvidence {
            file: "f.whl".into(),
            source: crate::verify::InputError::CertificateIsDer,
        });
        let mut text = String::new();
        write_error_chain(&mut text, &err).unwrap();
        assert!(
            text.contains("hint: convert it with `openssl x509"),
            "{text}"
        );

        let err = anyhow::Error::new(UsageError::new("bad flag").with_hint("use --other"));
        let mut text = String::new();
        write_error_chain(&mut text, &err).unwrap();
        assert_eq!(text, "error: bad flag\n\nhint: use --other\n");
    }
}
