//! The user identity derived from the name typed into the login form, and the ID token claims.

use serde::{Deserialize, Serialize};

/// Maximum length of a user name, in characters.
const MAX_USER_NAME_CHARS: usize = 64;

/// Checks a user name typed into the login form and returns it trimmed, for use as `sub`.
///
/// Any name is accepted as long as it is 1 to 64 characters after trimming and contains no
/// whitespace, control characters or `@`, because it also becomes the local part of the
/// `email` claim. On failure it returns a message for the login form.
pub(crate) fn validate_user_name(input: &str) -> Result<String, &'static str> {
    let name = input.trim();
    let length = name.chars().count();
    if length == 0 {
        return Err("Enter a user name, for example alice.");
    }
    if length > MAX_USER_NAME_CHARS {
        return Err("The user name is longer than 64 characters.");
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '@')
    {
        return Err("The user name must not contain spaces, control characters or @.");
    }
    Ok(name.to_owned())
}

/// Returns the `name` claim for a subject: the user name with its first letter capitalised.
pub(crate) fn display_name(sub: &str) -> String {
    let mut chars = sub.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Returns the `email` claim for a subject, in the reserved `example.test` domain.
pub(crate) fn email(sub: &str) -> String {
    format!("{sub}@example.test")
}

/// Claims of the ID tokens this provider issues.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub auth_time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Left half of the SHA-256 of the access token, base64url-encoded
    /// (OpenID Connect Core 1.0 section 3.1.3.6).
    pub at_hash: String,
    pub sid: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_name_is_trimmed() {
        assert_eq!(validate_user_name("  alice \n").as_deref(), Ok("alice"));
    }

    #[test]
    fn user_name_length_limits() {
        assert!(validate_user_name("").is_err());
        assert!(validate_user_name("   ").is_err());
        assert!(validate_user_name(&"a".repeat(64)).is_ok());
        assert!(validate_user_name(&"a".repeat(65)).is_err());
        // The limit counts characters, not bytes.
        assert!(validate_user_name(&"é".repeat(64)).is_ok());
    }

    #[test]
    fn user_name_rejects_spaces_and_at() {
        assert!(validate_user_name("alice smith").is_err());
        assert!(validate_user_name("alice@example.com").is_err());
        assert!(validate_user_name("alice\u{7}").is_err());
    }

    #[test]
    fn display_name_capitalises_first_letter() {
        assert_eq!(display_name("alice"), "Alice");
        assert_eq!(display_name("élodie"), "Élodie");
        assert_eq!(display_name("42"), "42");
    }

    #[test]
    fn email_uses_test_domain() {
        assert_eq!(email("bob"), "bob@example.test");
    }
}
