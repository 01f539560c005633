//! The session every benchmark reads: one user's claims, ten roles and, on
//! the reference side, the raw ID token.

use roq_auth::User;
use serde::{Deserialize, Serialize};

use crate::signing::SigningKey;

/// The user's roles, as a provider puts them in the `roles` claim.
pub const ROLES: [&str; 10] = [
    "reports:read",
    "reports:write",
    "billing:read",
    "billing:write",
    "users:read",
    "users:invite",
    "projects:read",
    "projects:write",
    "audit:read",
    "support:agent",
];

/// The user's subject identifier.
pub const SUB: &str = "248289761001";
/// The user's display name.
pub const NAME: &str = "Jane Doe";
/// The user's e-mail address.
pub const EMAIL: &str = "jane.doe@example.com";
/// The provider's session id (`sid`).
pub const SID: &str = "08a5019c-17e1-4977-8f42-65a12843ea02";
/// The scopes the provider granted.
pub const SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// The client id of the benchmark application.
pub const CLIENT_ID: &str = "roq-bench";

/// Returns the user as roq-auth keeps them in the session: the ID token's
/// claims about the user, without the token's own claims.
pub fn user() -> User {
    User::new(SUB)
        .with_name(NAME)
        .with_email(EMAIL)
        .with_claim("email_verified", true)
        .with_claim("sid", SID)
        .with_claim("roles", ROLES.to_vec())
}

/// Returns the claims of an ID token for the user, issued at `now`. With
/// `with_roles` the token also carries the roles, as the token that the
/// callback verifies must, because the session's claims come from it.
pub fn id_token_claims(issuer: &str, nonce: &str, now: u64, with_roles: bool) -> serde_json::Value {
    let mut claims = serde_json::json!({
        "iss": issuer,
        "sub": SUB,
        "aud": CLIENT_ID,
        "exp": now + 3600,
        "iat": now,
        "nonce": nonce,
        "sid": SID,
        "name": NAME,
        "email": EMAIL,
        "email_verified": true,
    });
    if with_roles {
        claims["roles"] = serde_json::json!(ROLES);
    }
    claims
}

/// The session as the reference implementations store it: the claims, the
/// roles and the raw ID token, in one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FullSession {
    /// Subject identifier.
    pub sub: String,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Whether the provider verified the address.
    pub email_verified: bool,
    /// When the user signed in, in Unix seconds.
    pub iat: u64,
    /// When the session ends, in Unix seconds.
    pub exp: u64,
    /// The provider's session id.
    pub sid: String,
    /// The user's roles.
    pub roles: Vec<String>,
    /// The raw ID token, kept for logout.
    pub id_token: String,
}

impl FullSession {
    /// Builds the session with a freshly signed ID token of about 700
    /// characters, as a provider with an RSA-2048 key issues.
    pub fn new(key: &SigningKey, now: u64) -> FullSession {
        let nonce = "n-0S6_WzA2Mj8d3F0vPqYt";
        let id_token = key.sign(&id_token_claims(
            "https://login.example.com",
            nonce,
            now,
            false,
        ));
        FullSession {
            sub: SUB.to_owned(),
            name: NAME.to_owned(),
            email: EMAIL.to_owned(),
            email_verified: true,
            iat: now,
            exp: now + 86_400,
            sid: SID.to_owned(),
            roles: ROLES.iter().map(|role| role.to_string()).collect(),
            id_token,
        }
    }

    /// Returns the JSON the reference implementations encrypt.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the session serializes")
    }
}

/// Returns the current time in Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}
