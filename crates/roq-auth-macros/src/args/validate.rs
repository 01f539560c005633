//! Checks of the string values of `redirect_to`, `role` and `scope`. Each
//! check returns the literal, or an error at the literal that gives the
//! reason it is invalid.

use syn::LitStr;

/// Returns `literal` if it contains a valid `redirect_to` path.
pub(super) fn check_redirect_path(literal: LitStr) -> syn::Result<LitStr> {
    match validate_redirect_path(&literal.value()) {
        Ok(()) => Ok(literal),
        Err(reason) => Err(syn::Error::new_spanned(literal, reason)),
    }
}

/// Returns `literal` if it can name a role in the roles claim.
///
/// Role names are compared exactly, so surrounding whitespace is rejected as
/// a likely typo. Spaces inside a name, as in "Domain Admins", are allowed.
pub(super) fn check_role(literal: LitStr) -> syn::Result<LitStr> {
    let role = literal.value();

    let reason = if role.is_empty() {
        Some("`role` must not be empty. Name a role, such as \"admin\"".to_owned())
    } else if role.trim() != role {
        Some(format!(
            "`role` must not start or end with whitespace, because roles are compared \
             exactly. Write {:?}",
            role.trim()
        ))
    } else {
        role.chars()
            .find(|c| c.is_control())
            .map(|c| format!("`role` must not contain control characters, found {c:?}"))
    };

    match reason {
        Some(reason) => Err(syn::Error::new_spanned(literal, reason)),
        None => Ok(literal),
    }
}

/// Returns `literal` if it is one OAuth 2.0 scope token.
///
/// RFC 6749, section 3.3: a scope token is one or more of the characters
/// `%x21 / %x23-5B / %x5D-7E`, that is visible ASCII except `"` and `\`.
/// A space separates scopes, so it cannot appear inside one.
pub(super) fn check_scope(literal: LitStr) -> syn::Result<LitStr> {
    let scope = literal.value();

    let reason = if scope.is_empty() {
        Some("`scope` must not be empty. Name a scope, such as \"reports:read\"".to_owned())
    } else if scope.chars().any(char::is_whitespace) {
        Some(
            "`scope` must be a single scope, such as \"reports:read\", without whitespace. \
             To require several scopes, write a `check` function that calls `has_scope` for each"
                .to_owned(),
        )
    } else {
        scope
            .chars()
            .find(|c| !matches!(c, '!' | '#'..='[' | ']'..='~'))
            .map(|c| {
                format!(
                    "`scope` may contain only visible ASCII characters other than `\"` and `\\` \
                     (RFC 6749, section 3.3), found {c:?}"
                )
            })
    };

    match reason {
        Some(reason) => Err(syn::Error::new_spanned(literal, reason)),
        None => Ok(literal),
    }
}

/// Checks that `path` is a path on the application's own origin, and returns
/// the reason it is not otherwise.
///
/// The value ends up in a `Location` header, so anything a browser could read
/// as another host is rejected, and so is anything a header cannot carry.
pub(crate) fn validate_redirect_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("`redirect_to` must not be empty. Use a path such as \"/signin\"".to_owned());
    }

    // Browsers drop tabs and newlines from URLs, so "/\t/evil.example" would
    // become "//evil.example".
    if let Some(c) = path.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "`redirect_to` must not contain whitespace or control characters, found {c:?}. \
             Percent-encode it as {} if the path needs it",
            percent_encode(c),
        ));
    }

    // `http::HeaderValue::from_str` (http 1.x) accepts visible ASCII only, so
    // the adapter could not send this path.
    if let Some(c) = path.chars().find(|c| !c.is_ascii()) {
        return Err(format!(
            "`redirect_to` must be ASCII because it is sent in the Location header, found {c:?}. \
             Percent-encode it as {}",
            percent_encode(c),
        ));
    }

    // Browsers treat `\` like `/`, so "/\evil.example" is a URL on another host.
    if path.contains('\\') {
        return Err(
            "`redirect_to` must not contain `\\`, because browsers read it as `/` \
             and \"/\\host\" would leave the site"
                .to_owned(),
        );
    }

    if let Some(scheme) = url_scheme(path) {
        return Err(format!(
            "`redirect_to` must be a path on this site such as \"/signin\", \
             not a URL with the `{scheme}:` scheme"
        ));
    }

    if path.starts_with("//") {
        return Err(
            "`redirect_to` must not start with `//`, because browsers read \
             \"//host/path\" as a URL on another host"
                .to_owned(),
        );
    }

    if !path.starts_with('/') {
        // "signin" and "./signin" both suggest "/signin".
        let suggestion = path.trim_start_matches(['.', '/']);
        return Err(format!(
            "`redirect_to` must be a path that starts with `/`, such as \"/{suggestion}\""
        ));
    }

    Ok(())
}

/// Returns the scheme if `text` starts with one, as in `https:` or
/// `javascript:` (RFC 3986: a letter, then letters, digits, `+`, `-` or `.`).
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    let mut chars = scheme.chars();

    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_valid = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));

    (starts_with_letter && rest_valid).then_some(scheme)
}

fn percent_encode(c: char) -> String {
    let mut buffer = [0; 4];
    c.encode_utf8(&mut buffer)
        .bytes()
        .map(|byte| format!("%{byte:02X}"))
        .collect()
}
