//! Helpers shared by the unit tests.

use proc_macro2::TokenStream;

/// Parses `source` into tokens whose spans carry their source text.
pub(crate) fn tokens(source: &str) -> TokenStream {
    source.parse().expect("test source should tokenize")
}

/// Returns each message of `error` with the source text it points at, or
/// `"<call site>"` when it points at no parsed source.
pub(crate) fn messages_and_targets(error: syn::Error) -> Vec<(String, String)> {
    error
        .into_iter()
        .map(|error| {
            let target = error
                .span()
                .source_text()
                .unwrap_or_else(|| "<call site>".to_owned());
            (error.to_string(), target)
        })
        .collect()
}
