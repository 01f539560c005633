//! Authenticated encryption of cookie values.
//!
//! A sealed value is the base64url (no padding) encoding of
//!
//! ```text
//! version (1 byte) | key id (4 bytes) | nonce (24 bytes) | ciphertext and tag
//! ```
//!
//! The cipher is XChaCha20-Poly1305 with a random nonce for every seal: the
//! 24-byte nonce makes random nonces safe without a counter to keep. The
//! associated data binds the value to its purpose and cookie name, so a
//! value cut from one cookie cannot be pasted into another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::Secret;

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// Sealed values longer than this are rejected before decoding, so a
/// hostile cookie cannot make the server allocate much.
const MAX_SEALED_LEN: usize = 24 * 1024;

/// The use a sealed value is for. Each purpose has its own derived key, so a
/// value sealed for one purpose never unseals as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The signed-in user's session.
    Session,
    /// The short-lived state of one sign-in, from login to callback.
    Transaction,
    /// The tokens of a session (ID, access and refresh token), which only
    /// logout and access-token refresh read.
    Tokens,
    /// The short-lived state of a sign-out at the provider, from logout to
    /// the return to the post-logout URL.
    Logout,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"roq-auth v1 session",
            Purpose::Transaction => b"roq-auth v1 transaction",
            Purpose::Tokens => b"roq-auth v1 tokens",
            Purpose::Logout => b"roq-auth v1 logout",
        }
    }
}

/// The reason unsealing failed, deliberately without detail: telling a
/// caller which check failed would help a forger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sealed value is invalid or expired")]
pub struct UnsealError;

/// Seals and unseals values for one [`Purpose`] with keys derived from the
/// application secrets. Build it once at start-up: key derivation is the
/// costly part.
///
/// The first secret seals; every secret unseals, so a secret can be rotated
/// without invalidating what the previous one sealed. The key id in each
/// sealed value picks the key to try.
#[derive(Clone)]
pub struct Sealer {
    purpose: Purpose,
    keys: Vec<SealKey>,
}

#[derive(Clone)]
struct SealKey {
    id: [u8; KEY_ID_LEN],
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key_ids: Vec<String> = self.keys.iter().map(|key| hex::encode(key.id)).collect();
        f.debug_struct("Sealer")
            .field("purpose", &self.purpose)
            .field("key_ids", &key_ids)
            .finish_non_exhaustive()
    }
}

/// The envelope around every sealed payload: the expiry travels inside the
/// ciphertext, so a client cannot extend it.
#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    exp: u64,
    #[serde(rename = "d")]
    data: T,
}

/// A successfully unsealed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsealed<T> {
    /// The sealed data.
    pub data: T,
    /// When the value expires, in Unix seconds.
    pub expires_at: u64,
    /// Whether a previous secret sealed it, so it should be sealed again
    /// under the current one.
    pub sealed_with_previous_key: bool,
}

impl Sealer {
    /// Derives the key for `purpose` from `secret` with HKDF-SHA256.
    pub fn new(secret: &Secret, purpose: Purpose) -> Sealer {
        Sealer::with_previous(secret, &[], purpose)
    }

    /// Derives keys for `purpose` from the current secret, which seals, and
    /// the previous ones, newest first, which only unseal.
    pub fn with_previous(current: &Secret, previous: &[Secret], purpose: Purpose) -> Sealer {
        let keys = std::iter::once(current)
            .chain(previous)
            .map(|secret| SealKey::derive(secret, purpose))
            .collect();
        Sealer { purpose, keys }
    }

    /// Seals `data` for the cookie `name`, valid until `expires_at` (Unix
    /// seconds), under the current secret.
    pub fn seal<T: Serialize>(&self, name: &str, data: &T, expires_at: u64) -> String {
        let key = &self.keys[0];
        // A random nonce for every seal: 24 bytes make a collision
        // negligible without a counter to keep across processes.
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);

        // The header, the plaintext encrypted in place and the tag share
        // one buffer.
        let mut sealed = Vec::with_capacity(512);
        sealed.push(VERSION);
        sealed.extend_from_slice(&key.id);
        sealed.extend_from_slice(&nonce);
        let envelope = Envelope {
            exp: expires_at,
            data,
        };
        serde_json::to_writer(&mut sealed, &envelope).expect("session data serializes to JSON");
        let tag = key
            .cipher
            .encrypt_in_place_detached(
                XNonce::from_slice(&nonce),
                name.as_bytes(),
                &mut sealed[HEADER_LEN..],
            )
            .expect("XChaCha20-Poly1305 encrypts any message below 256 GiB");
        sealed.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// Unseals a value sealed for the cookie `name`, rejecting it when it
    /// was altered, sealed with an unknown key, another purpose or cookie
    /// name, or when it expired at or before `now` (Unix seconds).
    ///
    /// # Errors
    ///
    /// [`UnsealError`] for every failure, without saying which.
    pub fn unseal<T: DeserializeOwned>(
        &self,
        name: &str,
        sealed: &str,
        now: u64,
    ) -> Result<Unsealed<T>, UnsealError> {
        if sealed.len() > MAX_SEALED_LEN {
            return Err(UnsealError);
        }

        let mut bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| UnsealError)?;
        if bytes.len() < HEADER_LEN + TAG_LEN || bytes[0] != VERSION {
            return Err(UnsealError);
        }
        let (header, body) = bytes.split_at_mut(HEADER_LEN);
        let (key_id, nonce) = header[1..].split_at(KEY_ID_LEN);
        let (ciphertext, tag) = body.split_at_mut(body.len() - TAG_LEN);
        let tag = Tag::from_slice(tag);

        // Two secrets may share a 4-byte key id, so try each match. A
        // failed attempt leaves the ciphertext as it was, because the tag is
        // checked before anything is decrypted.
        let index = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, key)| key.id == key_id)
            .find_map(|(index, key)| {
                key.cipher
                    .decrypt_in_place_detached(
                        XNonce::from_slice(nonce),
                        name.as_bytes(),
                        ciphertext,
                        tag,
                    )
                    .ok()
                    .map(|()| index)
            })
            .ok_or(UnsealError)?;

        let envelope: Envelope<T> = serde_json::from_slice(ciphertext).map_err(|_| UnsealError)?;
        if envelope.exp <= now {
            return Err(UnsealError);
        }
        Ok(Unsealed {
            data: envelope.data,
            expires_at: envelope.exp,
            sealed_with_previous_key: index > 0,
        })
    }
}

impl SealKey {
    fn derive(secret: &Secret, purpose: Purpose) -> SealKey {
        let hkdf = Hkdf::<Sha256>::new(None, secret.expose());

        let mut key = [0u8; 32];
        hkdf.expand(purpose.label(), &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");

        // The key id names the secret, not the purpose. It is a one-way
        // function of the secret and reveals nothing about the key.
        let mut id = [0u8; KEY_ID_LEN];
        hkdf.expand(b"roq-auth v1 key id", &mut id)
            .expect("4 bytes is a valid HKDF-SHA256 output length");

        SealKey {
            id,
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn secret(byte: u8) -> Secret {
        Secret::from_bytes([byte; 32])
    }

    fn sealed_value() -> (Sealer, String) {
        let sealer = Sealer::new(&secret(7), Purpose::Session);
        let sealed = sealer.seal("roq_session", &"alice".to_owned(), NOW + 60);
        (sealer, sealed)
    }

    #[test]
    fn round_trip_returns_data_and_expiry() {
        let (sealer, sealed) = sealed_value();
        let unsealed: Unsealed<String> = sealer.unseal("roq_session", &sealed, NOW).unwrap();
        assert_eq!(unsealed.data, "alice");
        assert_eq!(unsealed.expires_at, NOW + 60);
        assert!(!unsealed.sealed_with_previous_key);
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let sealer = Sealer::new(&secret(7), Purpose::Session);
        let first = sealer.seal("c", &1u8, NOW + 60);
        let second = sealer.seal("c", &1u8, NOW + 60);
        assert_ne!(first, second, "nonces must be random");
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let (sealer, sealed) = sealed_value();
        let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for index in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[index] ^= 1 << bit;
                let forged = URL_SAFE_NO_PAD.encode(&flipped);
                let result = sealer.unseal::<String>("roq_session", &forged, NOW);
                assert_eq!(
                    result,
                    Err(UnsealError),
                    "byte {index} bit {bit} was accepted"
                );
            }
        }
    }

    #[test]
    fn previous_key_unseals_and_is_reported() {
        let old = Sealer::new(&secret(1), Purpose::Session);
        let sealed = old.seal("roq_session", &"alice".to_owned(), NOW + 60);

        let rotated = Sealer::with_previous(&secret(2), &[secret(1)], Purpose::Session);
        let unsealed: Unsealed<String> = rotated.unseal("roq_session", &sealed, NOW).unwrap();
        assert_eq!(unsealed.data, "alice");
        assert!(unsealed.sealed_with_previous_key);

        let resealed = rotated.seal("roq_session", &unsealed.data, NOW + 60);
        let current_only = Sealer::new(&secret(2), Purpose::Session);
        let again: Unsealed<String> = current_only.unseal("roq_session", &resealed, NOW).unwrap();
        assert!(!again.sealed_with_previous_key);
    }

    #[test]
    fn shared_key_id_tries_every_key() {
        let first = SealKey::derive(&secret(1), Purpose::Session);
        let mut second = SealKey::derive(&secret(2), Purpose::Session);
        second.id = first.id;
        let sealed = Sealer {
            purpose: Purpose::Session,
            keys: vec![second.clone()],
        }
        .seal("roq_session", &"alice".to_owned(), NOW + 60);

        let both = Sealer {
            purpose: Purpose::Session,
            keys: vec![first, second],
        };
        let unsealed: Unsealed<String> = both.unseal("roq_session", &sealed, NOW).unwrap();
        assert_eq!(unsealed.data, "alice");
        assert!(unsealed.sealed_with_previous_key);
    }

    #[test]
    fn dropped_previous_key_is_rejected() {
        let old = Sealer::new(&secret(1), Purpose::Session);
        let sealed = old.seal("roq_session", &"alice".to_owned(), NOW + 60);
        let without_old = Sealer::with_previous(&secret(2), &[secret(3)], Purpose::Session);
        assert_eq!(
            without_old.unseal::<String>("roq_session", &sealed, NOW),
            Err(UnsealError)
        );
    }

    #[test]
    fn wrong_key_is_rejected() {
        let (_, sealed) = sealed_value();
        let other = Sealer::new(&secret(8), Purpose::Session);
        assert_eq!(
            other.unseal::<String>("roq_session", &sealed, NOW),
            Err(UnsealError)
        );
    }

    #[test]
    fn wrong_cookie_name_is_rejected() {
        let (sealer, sealed) = sealed_value();
        assert_eq!(
            sealer.unseal::<String>("other", &sealed, NOW),
            Err(UnsealError)
        );
    }

    #[test]
    fn other_purpose_is_rejected() {
        let (_, sealed) = sealed_value();
        let transaction = Sealer::new(&secret(7), Purpose::Transaction);
        assert_eq!(
            transaction.unseal::<String>("roq_session", &sealed, NOW),
            Err(UnsealError)
        );
    }

    #[test]
    fn expired_value_is_rejected() {
        let (sealer, sealed) = sealed_value();
        assert!(sealer
            .unseal::<String>("roq_session", &sealed, NOW + 59)
            .is_ok());
        assert_eq!(
            sealer.unseal::<String>("roq_session", &sealed, NOW + 60),
            Err(UnsealError)
        );
    }

    #[test]
    fn malformed_input_is_rejected_without_panic() {
        let sealer = Sealer::new(&secret(7), Purpose::Session);
        let oversized = "A".repeat(MAX_SEALED_LEN + 1);
        for input in [
            "",
            "%%%",
            "AAAA",
            "not base64!",
            "\u{0}",
            oversized.as_str(),
        ] {
            assert_eq!(
                sealer.unseal::<String>("c", input, NOW),
                Err(UnsealError),
                "{input:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn unseal_of_any_text_never_panics(input in "\\PC{0,600}") {
            let sealer = Sealer::new(&secret(7), Purpose::Session);
            proptest::prop_assert!(sealer.unseal::<String>("c", &input, NOW).is_err());
        }

        #[test]
        fn unseal_of_framed_random_bytes_never_panics(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
        ) {
            // Keep a real version byte and key id so the bytes reach the
            // cipher instead of stopping at the header checks.
            let (sealer, sealed) = sealed_value();
            let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap()[..1 + KEY_ID_LEN].to_vec();
            bytes.extend_from_slice(&body);
            let forged = URL_SAFE_NO_PAD.encode(&bytes);
            proptest::prop_assert!(sealer.unseal::<String>("roq_session", &forged, NOW).is_err());
        }
    }

    #[test]
    fn debug_output_leaves_out_the_key() {
        let sealer = Sealer::new(&secret(7), Purpose::Session);
        let debug = format!("{sealer:?}");
        assert!(debug.contains("Session"), "{debug}");
        assert!(!debug.contains("cipher"), "{debug}");
        assert!(debug.contains("key_ids"), "{debug}");
    }
}
