//! The signed-in user's session, as handlers read it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::ClaimFilter;

/// ID-token claims that describe the token rather than the user. They are
/// checked at sign-in and not kept in the session.
const PROTOCOL_CLAIMS: &[&str] = &[
    "aud", "azp", "exp", "iat", "nbf", "jti", "nonce", "at_hash", "c_hash", "s_hash",
];

/// The signed-in user, from the claims of the ID token verified at sign-in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// The provider's stable identifier of the user (`sub`).
    pub sub: String,
    /// The display name (`name`), when the provider sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The e-mail address (`email`), when the provider sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Every other claim about the user, such as `email_verified`,
    /// `picture` or `roles`.
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}

impl User {
    /// Builds the user from verified ID-token claims, dropping the claims
    /// that only describe the token. Returns `None` without a non-empty
    /// string `sub`.
    pub(crate) fn from_id_token_claims(
        mut claims: Map<String, Value>,
        filter: &ClaimFilter,
    ) -> Option<User> {
        for name in PROTOCOL_CLAIMS {
            claims.remove(*name);
        }
        claims.retain(|name, _| {
            matches!(name.as_str(), "sub" | "name" | "email") || filter.keeps(name)
        });

        let sub = match claims.remove("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub,
            _ => return None,
        };
        let name = take_string(&mut claims, "name");
        let email = take_string(&mut claims, "email");
        Some(User {
            sub,
            name,
            email,
            claims,
        })
    }

    /// Creates a user with the given `sub` and no other claims, for tests
    /// and for [`Auth::test_session_cookie`](crate::Auth::test_session_cookie).
    pub fn new(sub: impl Into<String>) -> User {
        User {
            sub: sub.into(),
            name: None,
            email: None,
            claims: Map::new(),
        }
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> User {
        self.name = Some(name.into());
        self
    }

    /// Sets the e-mail address.
    pub fn with_email(mut self, email: impl Into<String>) -> User {
        self.email = Some(email.into());
        self
    }

    /// Sets another claim, such as `roles`.
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> User {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Returns a claim by name, including `sub`, `name` and `email`.
    pub fn claim(&self, name: &str) -> Option<Value> {
        match name {
            "sub" => Some(Value::String(self.sub.clone())),
            "name" => self.name.clone().map(Value::String),
            "email" => self.email.clone().map(Value::String),
            _ => self.claims.get(name).cloned(),
        }
    }
}

fn take_string(claims: &mut Map<String, Value>, name: &str) -> Option<String> {
    match claims.remove(name) {
        Some(Value::String(value)) => Some(value),
        Some(other) => {
            // Keep a claim of an unexpected type visible instead of losing it.
            claims.insert(name.to_owned(), other);
            None
        }
        None => None,
    }
}

/// A valid session: the user and when the session ends.
///
/// Adapters hand it to handlers through their `Session` extractor.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub(crate) id: String,
    pub(crate) user: User,
    pub(crate) scopes: Vec<String>,
    pub(crate) issued_at: u64,
    pub(crate) expires_at: u64,
    pub(crate) absolute_expires_at: u64,
}

impl Session {
    /// The signed-in user.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// The scopes the provider granted at sign-in.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Returns whether the provider granted `scope` at sign-in.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }

    /// A random identifier of this session, new at every sign-in.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the user signed in, in Unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// When the session ends unless a request renews it, in Unix seconds:
    /// the end of the inactivity window, or the absolute end, whichever
    /// comes first.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// When the session ends however active the user is, in Unix seconds.
    pub fn absolute_expires_at(&self) -> u64 {
        self.absolute_expires_at
    }

    /// The JSON the `session` route returns: the user's claims and the
    /// expiry, never a token.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "user": self.user,
            "expires_at": self.expires_at,
        })
    }
}

/// What the session cookie holds, inside the seal.
#[derive(Serialize, Deserialize)]
pub(crate) struct SessionPayload {
    #[serde(rename = "id")]
    pub(crate) id: String,
    #[serde(rename = "iat")]
    pub(crate) issued_at: u64,
    #[serde(rename = "u")]
    pub(crate) user: User,
    #[serde(rename = "scp", default)]
    pub(crate) scopes: Vec<String>,
    /// The absolute end of the session. The seal's own expiry is the end of
    /// the inactivity window, which moves; this does not.
    #[serde(rename = "aexp")]
    pub(crate) absolute_expires_at: u64,
}

impl SessionPayload {
    pub(crate) fn from_session(session: &Session) -> SessionPayload {
        SessionPayload {
            id: session.id.clone(),
            issued_at: session.issued_at,
            user: session.user.clone(),
            scopes: session.scopes.clone(),
            absolute_expires_at: session.absolute_expires_at,
        }
    }

    pub(crate) fn into_session(self, expires_at: u64) -> Session {
        Session {
            id: self.id,
            user: self.user,
            scopes: self.scopes,
            issued_at: self.issued_at,
            expires_at,
            absolute_expires_at: self.absolute_expires_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn user_keeps_profile_and_drops_protocol_claims() {
        let user = User::from_id_token_claims(
            claims(json!({
                "sub": "alice", "name": "Alice", "email": "alice@example.test",
                "email_verified": true, "iss": "https://idp", "aud": "app",
                "exp": 1, "iat": 1, "nonce": "n", "at_hash": "h", "roles": ["admin"],
            })),
            &ClaimFilter::All,
        )
        .unwrap();
        assert_eq!(user.sub, "alice");
        assert_eq!(user.name.as_deref(), Some("Alice"));
        assert_eq!(user.email.as_deref(), Some("alice@example.test"));
        assert_eq!(user.claims.get("email_verified"), Some(&json!(true)));
        assert_eq!(user.claims.get("roles"), Some(&json!(["admin"])));
        for dropped in ["aud", "exp", "iat", "nonce", "at_hash"] {
            assert!(!user.claims.contains_key(dropped), "{dropped} was kept");
        }
    }

    #[test]
    fn user_requires_non_empty_sub() {
        let all = ClaimFilter::All;
        assert!(User::from_id_token_claims(claims(json!({"name": "x"})), &all).is_none());
        assert!(User::from_id_token_claims(claims(json!({"sub": ""})), &all).is_none());
        assert!(User::from_id_token_claims(claims(json!({"sub": 5})), &all).is_none());
    }

    #[test]
    fn claim_filter_keeps_identity_claims() {
        let raw = claims(json!({
            "sub": "alice", "name": "Alice", "email": "a@example.test",
            "groups": ["g1", "g2"], "picture": "p",
        }));
        let only =
            User::from_id_token_claims(raw.clone(), &ClaimFilter::Only(vec!["picture".into()]))
                .unwrap();
        assert_eq!(only.name.as_deref(), Some("Alice"));
        assert!(only.claims.contains_key("picture"));
        assert!(!only.claims.contains_key("groups"));

        let except =
            User::from_id_token_claims(raw, &ClaimFilter::Except(vec!["groups".into()])).unwrap();
        assert!(except.claims.contains_key("picture"));
        assert!(!except.claims.contains_key("groups"));
    }

    #[test]
    fn session_json_has_user_and_expiry_only() {
        let session = Session {
            id: "abc".into(),
            user: User::from_id_token_claims(
                claims(json!({"sub": "bob", "name": "Bob"})),
                &ClaimFilter::All,
            )
            .unwrap(),
            scopes: vec!["openid".into()],
            issued_at: 10,
            expires_at: 20,
            absolute_expires_at: 30,
        };
        assert_eq!(
            session.to_json(),
            json!({"user": {"sub": "bob", "name": "Bob"}, "expires_at": 20})
        );
    }
}
