//! The web frameworks the macros support, and how generated code reaches
//! each framework's adapter crate.

use proc_macro2::{Ident, Span, TokenStream};
use proc_macro_crate::{crate_name, FoundCrate};
use quote::quote;

/// The package name of the facade crate, which re-exports each adapter as a
/// module behind a Cargo feature of the same name.
const FACADE_PACKAGE: &str = "roq-auth";

/// A web framework with a roq-auth adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framework {
    Axum,
    Actix,
}

impl Framework {
    /// Returns the facade module that re-exports the adapter, which is also
    /// the name of the facade feature that enables it.
    fn facade_module(self) -> &'static str {
        match self {
            Framework::Axum => "axum",
            Framework::Actix => "actix",
        }
    }

    /// Returns the package name of the adapter crate.
    fn adapter_package(self) -> &'static str {
        match self {
            Framework::Axum => "roq-auth-axum",
            Framework::Actix => "roq-auth-actix",
        }
    }

    /// Resolves the path of the adapter as seen from the crate being
    /// compiled, by reading that crate's `Cargo.toml`.
    ///
    /// The facade is preferred over a direct dependency on the adapter. The
    /// error points at the macro attribute.
    pub(crate) fn adapter_path(self) -> syn::Result<TokenStream> {
        self.adapter_path_with(crate_name)
    }

    /// Resolves the adapter path with `find_crate` in place of
    /// `proc_macro_crate::crate_name`, so that tests need no `Cargo.toml`.
    fn adapter_path_with(
        self,
        mut find_crate: impl FnMut(&str) -> Result<FoundCrate, proc_macro_crate::Error>,
    ) -> syn::Result<TokenStream> {
        let facade_error = match find_crate(FACADE_PACKAGE) {
            Ok(found) => {
                let facade = crate_root(found, FACADE_PACKAGE);
                let module = Ident::new(self.facade_module(), Span::call_site());
                // NOTE: a crate that depends on the facade without this feature but
                // on the adapter directly gets a path that does not resolve, because
                // `Cargo.toml` does not tell which facade features are on.
                return Ok(quote!(::#facade::#module));
            }
            Err(error) => error,
        };

        let adapter_error = match find_crate(self.adapter_package()) {
            Ok(found) => {
                let adapter = crate_root(found, self.adapter_package());
                return Ok(quote!(::#adapter));
            }
            Err(error) => error,
        };

        Err(syn::Error::new(
            Span::call_site(),
            self.not_found_message(&facade_error, &adapter_error),
        ))
    }

    fn not_found_message(
        self,
        facade_error: &proc_macro_crate::Error,
        adapter_error: &proc_macro_crate::Error,
    ) -> String {
        let mut message = format!(
            "could not find `{FACADE_PACKAGE}` in the dependencies of this crate. \
             Add it with `cargo add {FACADE_PACKAGE} --features {}`",
            self.facade_module(),
        );

        // A missing dependency is the usual cause and the advice above covers it.
        // Any other failure, such as an unreadable `Cargo.toml`, is shown as is.
        for error in [facade_error, adapter_error] {
            if !matches!(error, proc_macro_crate::Error::CrateNotFound { .. }) {
                message.push_str(&format!(" (reading Cargo.toml failed: {error})"));
            }
        }

        message
    }
}

/// Returns the name under which `package` is reachable with a leading `::`.
///
/// `FoundCrate::Itself` means the package's own library, binaries or
/// examples. Examples and binaries reach the library by its package name,
/// and the library itself needs `extern crate self as <name>;` for that.
fn crate_root(found: FoundCrate, package: &str) -> Ident {
    let name = match found {
        FoundCrate::Itself => package.replace('-', "_"),
        FoundCrate::Name(name) => name,
    };

    Ident::new(&name, Span::call_site())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn not_found(name: &str) -> proc_macro_crate::Error {
        proc_macro_crate::Error::CrateNotFound {
            crate_name: name.to_owned(),
            path: PathBuf::from("/app/Cargo.toml"),
        }
    }

    /// Resolves the path for a crate whose `Cargo.toml` lists `dependencies`
    /// as (package, found) pairs.
    fn resolve(
        framework: Framework,
        dependencies: &[(&str, FoundCrate)],
    ) -> syn::Result<TokenStream> {
        framework.adapter_path_with(|package| {
            dependencies
                .iter()
                .find(|(name, _)| *name == package)
                .map(|(_, found)| found.clone())
                .ok_or_else(|| not_found(package))
        })
    }

    fn path_text(result: syn::Result<TokenStream>) -> String {
        result.expect("the crate should be found").to_string()
    }

    #[test]
    fn facade_dependency_uses_module() {
        let facade = [("roq-auth", FoundCrate::Name("roq_auth".to_owned()))];

        assert_eq!(
            path_text(resolve(Framework::Axum, &facade)),
            ":: roq_auth :: axum"
        );
        assert_eq!(
            path_text(resolve(Framework::Actix, &facade)),
            ":: roq_auth :: actix"
        );
    }

    #[test]
    fn renamed_facade_keeps_rename() {
        let facade = [("roq-auth", FoundCrate::Name("auth".to_owned()))];

        assert_eq!(
            path_text(resolve(Framework::Axum, &facade)),
            ":: auth :: axum"
        );
    }

    #[test]
    fn facade_itself_uses_package_name() {
        let facade = [("roq-auth", FoundCrate::Itself)];

        assert_eq!(
            path_text(resolve(Framework::Axum, &facade)),
            ":: roq_auth :: axum"
        );
    }

    #[test]
    fn facade_wins_over_adapter() {
        let both = [
            (
                "roq-auth-axum",
                FoundCrate::Name("roq_auth_axum".to_owned()),
            ),
            ("roq-auth", FoundCrate::Name("roq_auth".to_owned())),
        ];

        assert_eq!(
            path_text(resolve(Framework::Axum, &both)),
            ":: roq_auth :: axum"
        );
    }

    #[test]
    fn adapter_dependency_uses_crate_root() {
        let axum = [(
            "roq-auth-axum",
            FoundCrate::Name("roq_auth_axum".to_owned()),
        )];
        let actix = [(
            "roq-auth-actix",
            FoundCrate::Name("roq_auth_actix".to_owned()),
        )];

        assert_eq!(
            path_text(resolve(Framework::Axum, &axum)),
            ":: roq_auth_axum"
        );
        assert_eq!(
            path_text(resolve(Framework::Actix, &actix)),
            ":: roq_auth_actix"
        );
    }

    #[test]
    fn adapter_itself_uses_package_name() {
        let axum = [("roq-auth-axum", FoundCrate::Itself)];
        let actix = [("roq-auth-actix", FoundCrate::Itself)];

        assert_eq!(
            path_text(resolve(Framework::Axum, &axum)),
            ":: roq_auth_axum"
        );
        assert_eq!(
            path_text(resolve(Framework::Actix, &actix)),
            ":: roq_auth_actix"
        );
    }

    #[test]
    fn other_framework_adapter_is_not_used() {
        let actix_only = [(
            "roq-auth-actix",
            FoundCrate::Name("roq_auth_actix".to_owned()),
        )];

        assert!(resolve(Framework::Axum, &actix_only).is_err());
    }

    #[test]
    fn missing_crate_names_feature() {
        let axum = resolve(Framework::Axum, &[]).unwrap_err().to_string();
        let actix = resolve(Framework::Actix, &[]).unwrap_err().to_string();

        assert_eq!(
            axum,
            "could not find `roq-auth` in the dependencies of this crate. \
             Add it with `cargo add roq-auth --features axum`"
        );
        assert!(
            actix.ends_with("`cargo add roq-auth --features actix`"),
            "{actix}"
        );
    }

    #[test]
    fn unreadable_manifest_shows_cause() {
        let result = Framework::Axum
            .adapter_path_with(|_| Err(proc_macro_crate::Error::CargoManifestDirNotSet));
        let message = result.unwrap_err().to_string();

        assert!(
            message.starts_with("could not find `roq-auth`"),
            "{message}"
        );
        assert!(
            message.contains(
                "(reading Cargo.toml failed: `CARGO_MANIFEST_DIR` env variable not set.)"
            ),
            "{message}"
        );
    }
}
