//! The `cookie` crate's private jar (AES-256-GCM), read the way axum-extra's
//! `PrivateCookieJar` reads it: every cookie of the `Cookie` header is parsed
//! into a jar, then the session cookie is decrypted and its JSON parsed.
//! actix-session's cookie store uses the same private jar.

use cookie::{Cookie, CookieJar, Key};
use serde::de::DeserializeOwned;

/// The name of the session cookie in the jar.
pub const COOKIE_NAME: &str = "session";

/// A private-jar key, built once.
pub struct PrivateJar {
    key: Key,
}

impl Default for PrivateJar {
    fn default() -> PrivateJar {
        PrivateJar::new()
    }
}

impl PrivateJar {
    /// Generates a random key.
    pub fn new() -> PrivateJar {
        PrivateJar {
            key: Key::generate(),
        }
    }

    /// Returns a `Cookie` header carrying `json` in the encrypted session
    /// cookie.
    ///
    /// # Panics
    ///
    /// When `json` is not UTF-8.
    pub fn cookie_header(&self, json: &[u8]) -> String {
        let mut jar = CookieJar::new();
        let json = std::str::from_utf8(json).expect("JSON is UTF-8").to_owned();
        jar.private_mut(&self.key)
            .add(Cookie::new(COOKIE_NAME, json));
        let sealed = jar.get(COOKIE_NAME).expect("the cookie was just added");
        format!("{}={}", sealed.name(), sealed.value())
    }

    /// Parses the `Cookie` header into a jar, decrypts the session cookie
    /// and parses its JSON. Returns `None` when any step fails.
    pub fn read<T: DeserializeOwned>(&self, cookie_header: &str) -> Option<T> {
        let mut jar = CookieJar::new();
        for pair in cookie_header.split(';') {
            if let Ok(cookie) = Cookie::parse_encoded(pair.trim().to_owned()) {
                jar.add_original(cookie);
            }
        }
        let cookie = jar.private(&self.key).get(COOKIE_NAME)?;
        serde_json::from_str(cookie.value()).ok()
    }
}
