//! Collection of every error found in one macro invocation.

use std::fmt::Display;

use quote::ToTokens;

/// The errors found so far in one macro invocation.
///
/// Parsing and checking push into it and keep going, so that one build shows
/// every problem of an invocation instead of one problem per build.
#[derive(Default)]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    /// Adds an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// Adds an error that points at `tokens`.
    pub(crate) fn push_spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Returns the value of `result`, or adds its error and returns `None`.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// Combines the collected errors into one, or returns `None` when there
    /// are none. The combined error expands to one `compile_error!` per error.
    pub(crate) fn into_error(self) -> Option<syn::Error> {
        self.errors.into_iter().reduce(|mut combined, error| {
            combined.combine(error);
            combined
        })
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::*;

    #[test]
    fn no_errors_gives_none() {
        assert!(Errors::default().into_error().is_none());
    }

    #[test]
    fn errors_combine_in_order() {
        let mut errors = Errors::default();
        errors.push(syn::Error::new(Span::call_site(), "first"));
        let value: Option<()> = errors.ok(Err(syn::Error::new(Span::call_site(), "second")));
        errors.push_spanned(quote::quote!(x), "third");

        let messages: Vec<String> = errors
            .into_error()
            .expect("three errors were pushed")
            .into_iter()
            .map(|error| error.to_string())
            .collect();

        assert!(value.is_none());
        assert_eq!(messages, ["first", "second", "third"]);
    }
}
