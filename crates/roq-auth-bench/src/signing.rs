//! An RSA key that signs RS256 ID tokens, as an OpenID provider would.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;

/// The `kid` of the benchmark key.
pub const KEY_ID: &str = "bench-rsa-2048";

/// A 2048-bit RSA key, generated at start-up.
pub struct SigningKey {
    key_pair: KeyPair,
    rng: SystemRandom,
}

impl SigningKey {
    /// Generates a new 2048-bit key.
    ///
    /// # Panics
    ///
    /// When aws-lc-rs cannot generate the key.
    pub fn generate() -> SigningKey {
        SigningKey {
            key_pair: KeyPair::generate(KeySize::Rsa2048).expect("generating an RSA key"),
            rng: SystemRandom::new(),
        }
    }

    /// Returns the public key as a JWK set, as a provider's `jwks_uri` serves it.
    pub fn jwks(&self) -> serde_json::Value {
        let public = self.key_pair.public_key();
        serde_json::json!({
            "keys": [{
                "kty": "RSA",
                "kid": KEY_ID,
                "use": "sig",
                "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            }]
        })
    }

    /// Signs `claims` as a compact RS256 JWS with this key's `kid`.
    ///
    /// # Panics
    ///
    /// When the claims do not serialize or signing fails.
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let header = serde_json::json!({"alg": "RS256", "kid": KEY_ID});
        let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header"));
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims")));

        let mut signature = vec![0u8; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                token.as_bytes(),
                &mut signature,
            )
            .expect("signing with RS256");
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        token
    }
}
