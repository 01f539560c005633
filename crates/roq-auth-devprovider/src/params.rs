//! Request parameter parsing shared by the endpoints, and random value generation.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;

/// Single-valued OAuth parameters from a query string or a form body.
///
/// RFC 6749 section 3.1 requires that a parameter sent without a value is treated as omitted
/// and that no parameter appears more than once. Empty values are therefore dropped, and a
/// repeated name keeps its first value and is listed in [`Params::duplicates`].
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: HashMap<String, String>,
    duplicates: Vec<String>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes, as found in a query string or body.
    pub(crate) fn parse(input: &[u8]) -> Self {
        let mut params = Params::default();
        for (name, value) in url::form_urlencoded::parse(input) {
            if value.is_empty() {
                continue;
            }
            if params.values.contains_key(name.as_ref()) {
                if !params.duplicates.iter().any(|d| d == name.as_ref()) {
                    params.duplicates.push(name.into_owned());
                }
                continue;
            }
            params.values.insert(name.into_owned(), value.into_owned());
        }
        params
    }

    /// Returns the value of `name`, or `None` when it is absent or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Names of parameters that appeared more than once.
    pub(crate) fn duplicates(&self) -> &[String] {
        &self.duplicates
    }

    /// Returns whether `name` appeared more than once.
    pub(crate) fn is_duplicate(&self, name: &str) -> bool {
        self.duplicates.iter().any(|d| d == name)
    }
}

/// Returns whether the request body is declared as `application/x-www-form-urlencoded`.
pub(crate) fn is_form_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` becomes a space and
/// `%XX` escapes are decoded. Returns `None` when the result is not UTF-8.
pub(crate) fn form_decode(component: &str) -> Option<String> {
    let with_spaces = component.replace('+', " ");
    percent_encoding::percent_decode_str(&with_spaces)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

/// Returns 256 random bits from the operating system, base64url-encoded without padding.
/// Used for authorization codes, access tokens and session ids.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Returns whether `value` has the syntax RFC 7636 section 4.1 requires of a PKCE code
/// verifier (and, for S256, of the challenge): 43 to 128 unreserved characters.
pub(crate) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_drops_empty_values() {
        let params = Params::parse(b"state=&nonce=n");
        assert_eq!(params.get("state"), None);
        assert_eq!(params.get("nonce"), Some("n"));
    }

    #[test]
    fn parse_reports_duplicates() {
        let params = Params::parse(b"scope=openid&scope=email&state=s");
        assert_eq!(params.get("scope"), Some("openid"));
        assert_eq!(params.duplicates(), ["scope".to_owned()]);
        assert!(params.is_duplicate("scope"));
        assert!(!params.is_duplicate("state"));
    }

    #[test]
    fn form_decode_handles_plus_and_escapes() {
        assert_eq!(form_decode("a+b%3Ac%26d").as_deref(), Some("a b:c&d"));
        assert_eq!(form_decode("%FF"), None);
    }

    #[test]
    fn random_tokens_differ() {
        let first = random_token();
        assert_eq!(first.len(), 43);
        assert_ne!(first, random_token());
    }

    #[test]
    fn pkce_value_syntax() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(is_pkce_value(&"-._~".repeat(32)));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
    }
}
