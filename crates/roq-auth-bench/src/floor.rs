//! The cost floor of an encrypted-cookie session: what reading and writing
//! one costs done directly with the crates, with nothing around it.
//!
//! A sealed value is base64url (no padding) of `nonce (24 bytes) |
//! ciphertext and tag`, under XChaCha20-Poly1305, holding the session as
//! JSON.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

const NONCE_LEN: usize = 24;

/// A cipher built once, as any server would.
pub struct Floor {
    cipher: XChaCha20Poly1305,
}

impl Default for Floor {
    fn default() -> Floor {
        Floor::new()
    }
}

impl Floor {
    /// Builds the cipher with a random key.
    pub fn new() -> Floor {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Floor {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Serializes `value` to JSON, encrypts it under a random nonce and
    /// encodes it as base64url.
    ///
    /// # Panics
    ///
    /// When `value` does not serialize.
    pub fn seal<T: Serialize>(&self, value: &T) -> String {
        let plaintext = serde_json::to_vec(value).expect("the value serializes");
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_slice())
            .expect("encryption of a short message");

        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// Decodes, decrypts and parses a value that [`Floor::seal`] produced.
    /// Returns `None` when any step fails.
    pub fn unseal<T: DeserializeOwned>(&self, sealed: &str) -> Option<T> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plaintext = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .ok()?;
        serde_json::from_slice(&plaintext).ok()
    }
}
