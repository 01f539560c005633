//! The ES256 signing key, generated fresh at every start, and its public JWK set.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// An EC P-256 key pair that signs ID tokens.
pub(crate) struct SigningKey {
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    kid: String,
    jwks: JwkSet,
}

impl SigningKey {
    /// Generates a new P-256 key. Its `kid` is the RFC 7638 SHA-256 thumbprint of the public key.
    pub(crate) fn generate() -> std::io::Result<Self> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| std::io::Error::other("failed to generate the P-256 signing key"))?;
        let encoding_key = EncodingKey::from_ec_der(pkcs8.as_ref());

        let mut jwk = Jwk::from_encoding_key(&encoding_key, Algorithm::ES256).map_err(|err| {
            std::io::Error::other(format!("failed to derive the public JWK: {err}"))
        })?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256);
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);

        let decoding_key = DecodingKey::from_jwk(&jwk).map_err(|err| {
            std::io::Error::other(format!("failed to load the public JWK: {err}"))
        })?;

        Ok(SigningKey {
            encoding_key,
            decoding_key,
            kid,
            jwks: JwkSet { keys: vec![jwk] },
        })
    }

    /// Returns the public key set served at the `jwks_uri`.
    pub(crate) fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Signs `claims` as a compact JWS with `alg: ES256` and this key's `kid`.
    pub(crate) fn sign<T: Serialize>(&self, claims: &T) -> jsonwebtoken::errors::Result<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key)
    }

    /// Verifies a token this key signed for `audience` and `issuer`, ignoring expiry.
    /// RP-Initiated Logout accepts expired ID tokens as `id_token_hint`.
    pub(crate) fn verify_ignoring_expiry<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> jsonwebtoken::errors::Result<T> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        jsonwebtoken::decode::<T>(token, &self.decoding_key, &validation).map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm};
    use serde::Deserialize;

    #[derive(Serialize, Deserialize)]
    struct Claims {
        iss: String,
        aud: String,
        exp: u64,
    }

    #[test]
    fn jwk_describes_p256_signing_key() {
        let key = SigningKey::generate().unwrap();
        let jwk = &key.jwks().keys[0];

        assert_eq!(jwk.common.key_algorithm, Some(KeyAlgorithm::ES256));
        assert_eq!(jwk.common.public_key_use, Some(PublicKeyUse::Signature));
        assert_eq!(jwk.common.key_id.as_deref(), Some(key.kid.as_str()));
        match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(params) => {
                assert_eq!(params.curve, EllipticCurve::P256)
            }
            other => panic!("expected an EC key, got {other:?}"),
        }
    }

    #[test]
    fn signed_token_verifies_even_when_expired() {
        let key = SigningKey::generate().unwrap();
        let claims = Claims {
            iss: "http://127.0.0.1:1".into(),
            aud: "client".into(),
            exp: 1,
        };
        let token = key.sign(&claims).unwrap();

        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));

        let verified: Claims = key
            .verify_ignoring_expiry(&token, "http://127.0.0.1:1", "client")
            .unwrap();
        assert_eq!(verified.aud, "client");

        let wrong_audience =
            key.verify_ignoring_expiry::<Claims>(&token, "http://127.0.0.1:1", "other");
        assert!(wrong_audience.is_err());
    }

    #[test]
    fn token_from_other_key_is_rejected() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let claims = Claims {
            iss: "i".into(),
            aud: "a".into(),
            exp: u64::MAX / 2,
        };
        let token = other.sign(&claims).unwrap();

        assert!(key
            .verify_ignoring_expiry::<Claims>(&token, "i", "a")
            .is_err());
    }
}
