//! Hints: what an error knows about its likely fix. A leaf module, imported
//! by every error type and importing nothing of gl-sign.
//!
//! Each error type implements [`Hint`] and registers itself with
//! [`register_hint!`] beside its definition, so the renderer finds the hint of
//! any error in a chain without keeping a list of types.

use std::fmt;

/// An error that may know the likely fix.
pub trait Hint {
    fn hint(&self) -> Option<String> {
        None
    }
}

/// How the renderer asks one registered type for its hint: `None` when the
/// error is not of that type.
pub struct HintProvider(pub fn(&(dyn std::error::Error + 'static)) -> Option<Option<String>>);

inventory::collect!(HintProvider);

/// Register `$type`, which implements [`Hint`], with the renderer.
/// `inherent T` also implements [`Hint`] with `T`'s own `hint` method;
/// `none T` implements it for a type that never has a hint.
#[macro_export]
macro_rules! register_hint {
    (inherent $type:ty) => {
        impl $crate::hint::Hint for $type {
            fn hint(&self) -> Option<String> {
                <$type>::hint(self)
            }
        }
        $crate::register_hint!($type);
    };
    (none $type:ty) => {
        impl $crate::hint::Hint for $type {}
    };
    ($type:ty) => {
        inventory::submit! {
            $crate::hint::HintProvider(|e| e.downcast_ref::<$type>().map($crate::hint::Hint::hint))
        }
    };
}

/// The hint of `err` itself (not of its sources), if its type has one.
pub fn hint_of(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    inventory::iter::<HintProvider>
        .into_iter()
        .find_map(|provider| (provider.0)(err))
        .flatten()
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

register_hint!(UsageError);
