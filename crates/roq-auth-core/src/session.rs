//! The signed-in user's session, as handlers read it.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, OnceLock};

use serde::de::{self, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::config::ClaimFilter;
use crate::revocation::RevocationKey;

/// ID-token claims that describe the token rather than the user. They are
/// checked at sign-in and not kept in the session.
const PROTOCOL_CLAIMS: &[&str] = &[
    "aud", "azp", "exp", "iat", "nbf", "jti", "nonce", "at_hash", "c_hash", "s_hash", "sid",
];

/// The signed-in user, from the claims of the ID token verified at sign-in.
///
/// It serializes as one JSON object of claims. Deserializing takes `sub`,
/// and `name` and `email` when they are strings. Every other claim goes to
/// `claims`, including a `name` or `email` of another type, as sign-in
/// keeps them.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    pub claims: Claims,
}

/// The claims of a [`User`] other than `sub`, `name` and `email`: a JSON
/// object, which this type dereferences to.
///
/// A session read from its cookie keeps these claims as the JSON text they
/// were sealed in and parses them the first time they are read. So a
/// request whose handler reads no claim, such as `roles`, does not pay for
/// building the map, and a session cached for many requests parses it once.
#[derive(Clone, Default)]
pub struct Claims {
    /// The JSON object as sealed, until the claims are changed.
    raw: Option<Box<RawValue>>,
    parsed: OnceLock<Map<String, Value>>,
}

impl Claims {
    /// Keeps `raw`, which must be a JSON object, to be parsed on first use.
    fn from_raw(raw: Box<RawValue>) -> Claims {
        Claims {
            raw: Some(raw),
            parsed: OnceLock::new(),
        }
    }

    fn map(&self) -> &Map<String, Value> {
        self.parsed.get_or_init(|| match &self.raw {
            // The text was checked to be a JSON object when the session was
            // read, so it parses as a map.
            Some(raw) => serde_json::from_str(raw.get()).unwrap_or_else(|err| {
                tracing::error!(error = %err, "the session's claims do not parse as a JSON object");
                Map::new()
            }),
            None => Map::new(),
        })
    }
}

impl Deref for Claims {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        self.map()
    }
}

impl DerefMut for Claims {
    fn deref_mut(&mut self) -> &mut Map<String, Value> {
        self.map();
        // The map is changed from here on, so the sealed text is stale.
        self.raw = None;
        self.parsed.get_mut().expect("the claims were parsed above")
    }
}

impl From<Map<String, Value>> for Claims {
    fn from(map: Map<String, Value>) -> Claims {
        Claims {
            raw: None,
            parsed: OnceLock::from(map),
        }
    }
}

impl<'a> IntoIterator for &'a Claims {
    type Item = (&'a String, &'a Value);
    type IntoIter = serde_json::map::Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.map().iter()
    }
}

impl PartialEq for Claims {
    fn eq(&self, other: &Claims) -> bool {
        self.map() == other.map()
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.map().fmt(f)
    }
}

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.map().serialize(serializer)
    }
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
            claims: claims.into(),
        })
    }

    /// Adds the claims of a userinfo response (OpenID Connect Core 1.0,
    /// section 5.3). They are discarded, with a warning, unless their `sub`
    /// is this user's; claims the ID token already gave are kept.
    pub(crate) fn merge_userinfo(&mut self, mut claims: Map<String, Value>, filter: &ClaimFilter) {
        if claims.get("sub").and_then(Value::as_str) != Some(self.sub.as_str()) {
            tracing::warn!("discarded the userinfo response: its sub is not the ID token's");
            return;
        }
        for name in PROTOCOL_CLAIMS.iter().chain(&["sub", "iss"]) {
            claims.remove(*name);
        }
        for (name, value) in claims {
            match name.as_str() {
                "name" if self.name.is_none() => {
                    if let Value::String(text) = value {
                        self.name = Some(text);
                    }
                }
                "email" if self.email.is_none() => {
                    if let Value::String(text) = value {
                        self.email = Some(text);
                    }
                }
                "name" | "email" => {}
                _ if filter.keeps(&name) => {
                    self.claims.entry(name).or_insert(value);
                }
                _ => {}
            }
        }
    }

    /// Creates a user with the given `sub` and no other claims, for tests
    /// and for [`Auth::test_session_cookie`](crate::Auth::test_session_cookie).
    pub fn new(sub: impl Into<String>) -> User {
        User {
            sub: sub.into(),
            name: None,
            email: None,
            claims: Claims::default(),
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

// Written by hand instead of derived: a derived `Deserialize` with
// `#[serde(flatten)]` buffers every claim before sorting them out, which
// doubled the cost of reading a session.
impl<'de> Deserialize<'de> for User {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<User, D::Error> {
        deserializer.deserialize_map(UserVisitor)
    }
}

struct UserVisitor;

impl<'de> Visitor<'de> for UserVisitor {
    type Value = User;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object of claims with a string `sub`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<User, A::Error> {
        let mut sub = None;
        let mut name = None;
        let mut email = None;
        let mut claims = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "sub" => {
                    if sub.is_some() {
                        return Err(de::Error::duplicate_field("sub"));
                    }
                    sub = Some(map.next_value::<String>()?);
                }
                "name" | "email" => {
                    let slot = if key == "name" { &mut name } else { &mut email };
                    if slot.is_some() {
                        return Err(de::Error::custom(format_args!("duplicate claim `{key}`")));
                    }
                    match map.next_value::<Value>()? {
                        Value::String(text) => *slot = Some(text),
                        other => {
                            claims.insert(key, other);
                        }
                    }
                }
                _ => {
                    let value = map.next_value::<Value>()?;
                    claims.insert(key, value);
                }
            }
        }
        Ok(User {
            sub: sub.ok_or_else(|| de::Error::missing_field("sub"))?,
            name,
            email,
            claims: claims.into(),
        })
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
/// Adapters hand it to handlers through their `Session` extractor. Cloning
/// is cheap: the user and scopes are shared, not copied.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub(crate) data: Arc<SessionData>,
    pub(crate) expires_at: u64,
}

/// The part of a session that stays the same for the life of its cookie
/// value, shared between clones.
#[derive(Debug, PartialEq)]
pub(crate) struct SessionData {
    pub(crate) id: String,
    pub(crate) user: User,
    pub(crate) scopes: Vec<String>,
    pub(crate) issued_at: u64,
    pub(crate) absolute_expires_at: u64,
    /// The provider's session id (the ID token's `sid`), which back-channel
    /// logout names.
    pub(crate) provider_sid: Option<String>,
    /// What a revocation of this session would be recorded under: its id,
    /// its provider session and its user. Built once per cookie value, so
    /// that the check on every request allocates nothing.
    pub(crate) revocation_keys: Vec<RevocationKey>,
}

impl Session {
    /// The signed-in user.
    pub fn user(&self) -> &User {
        &self.data.user
    }

    /// The scopes the provider granted at sign-in.
    pub fn scopes(&self) -> &[String] {
        &self.data.scopes
    }

    /// Returns whether the provider granted `scope` at sign-in.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.data.scopes.iter().any(|granted| granted == scope)
    }

    /// A random identifier of this session, new at every sign-in.
    pub fn id(&self) -> &str {
        &self.data.id
    }

    /// When the user signed in, in Unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.data.issued_at
    }

    /// When the session ends unless a request renews it, in Unix seconds:
    /// the end of the inactivity window, or the absolute end, whichever
    /// comes first.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// When the session ends however active the user is, in Unix seconds.
    pub fn absolute_expires_at(&self) -> u64 {
        self.data.absolute_expires_at
    }

    /// The JSON the `session` route returns: the user's claims and the
    /// expiry, never a token.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "user": self.data.user,
            "expires_at": self.expires_at,
        })
    }
}

/// The contents of the session cookie, inside the seal.
///
/// It is sealed as a JSON object with the user's `sub`, `name` and `email`
/// under `u` and the other claims under `c`, so that reading a session can
/// keep `c` as text (see [`Claims`]). Sessions sealed with the claims inside
/// `u` are read as well.
pub(crate) struct SessionPayload {
    pub(crate) id: String,
    pub(crate) issued_at: u64,
    pub(crate) user: User,
    pub(crate) scopes: Vec<String>,
    /// The absolute end of the session. The seal's own expiry is the end of
    /// the inactivity window, which moves; this does not.
    pub(crate) absolute_expires_at: u64,
    /// The provider's session id, when the ID token had a `sid`.
    pub(crate) provider_sid: Option<String>,
}

impl Serialize for SessionPayload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut payload = serializer.serialize_struct("SessionPayload", 7)?;
        payload.serialize_field("id", &self.id)?;
        payload.serialize_field("iat", &self.issued_at)?;
        payload.serialize_field("u", &UserIdentity(&self.user))?;
        payload.serialize_field("c", &self.user.claims)?;
        payload.serialize_field("scp", &self.scopes)?;
        payload.serialize_field("aexp", &self.absolute_expires_at)?;
        match &self.provider_sid {
            Some(sid) => payload.serialize_field("psid", sid)?,
            None => payload.skip_field("psid")?,
        }
        payload.end()
    }
}

/// A user's `sub`, `name` and `email`, serialized without the other claims.
struct UserIdentity<'a>(&'a User);

impl Serialize for UserIdentity<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let user = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("sub", &user.sub)?;
        if let Some(name) = &user.name {
            map.serialize_entry("name", name)?;
        }
        if let Some(email) = &user.email {
            map.serialize_entry("email", email)?;
        }
        map.end()
    }
}

/// The fields of a sealed [`SessionPayload`] as they are read.
#[derive(Deserialize)]
struct SealedFields {
    id: String,
    iat: u64,
    u: User,
    #[serde(default)]
    c: Option<Box<RawValue>>,
    #[serde(default)]
    scp: Vec<String>,
    aexp: u64,
    #[serde(default)]
    psid: Option<String>,
}

impl<'de> Deserialize<'de> for SessionPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SessionPayload, D::Error> {
        let fields = SealedFields::deserialize(deserializer)?;
        let mut user = fields.u;
        if let Some(raw) = fields.c {
            if !raw.get().starts_with('{') {
                return Err(de::Error::custom("the claims `c` are not a JSON object"));
            }
            if user.claims.is_empty() {
                user.claims = Claims::from_raw(raw);
            } else {
                // Not written by this library, but readable: claims in both
                // places are merged, those in `u` first.
                let extra: Map<String, Value> =
                    serde_json::from_str(raw.get()).map_err(de::Error::custom)?;
                for (name, value) in extra {
                    user.claims.entry(name).or_insert(value);
                }
            }
        }
        Ok(SessionPayload {
            id: fields.id,
            issued_at: fields.iat,
            user,
            scopes: fields.scp,
            absolute_expires_at: fields.aexp,
            provider_sid: fields.psid,
        })
    }
}

impl SessionPayload {
    pub(crate) fn from_session(session: &Session) -> SessionPayload {
        SessionPayload {
            id: session.data.id.clone(),
            issued_at: session.data.issued_at,
            user: session.data.user.clone(),
            scopes: session.data.scopes.clone(),
            absolute_expires_at: session.data.absolute_expires_at,
            provider_sid: session.data.provider_sid.clone(),
        }
    }

    pub(crate) fn into_session(self, expires_at: u64) -> Session {
        let mut revocation_keys = Vec::with_capacity(3);
        revocation_keys.push(RevocationKey::Session(self.id.clone()));
        if let Some(sid) = &self.provider_sid {
            revocation_keys.push(RevocationKey::ProviderSession(sid.clone()));
        }
        revocation_keys.push(RevocationKey::Subject(self.user.sub.clone()));
        Session {
            data: Arc::new(SessionData {
                id: self.id,
                user: self.user,
                scopes: self.scopes,
                issued_at: self.issued_at,
                absolute_expires_at: self.absolute_expires_at,
                provider_sid: self.provider_sid,
                revocation_keys,
            }),
            expires_at,
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
        let session = SessionPayload {
            id: "abc".into(),
            issued_at: 10,
            user: User::from_id_token_claims(
                claims(json!({"sub": "bob", "name": "Bob"})),
                &ClaimFilter::All,
            )
            .unwrap(),
            scopes: vec!["openid".into()],
            absolute_expires_at: 30,
            provider_sid: None,
        }
        .into_session(20);
        assert_eq!(
            session.to_json(),
            json!({"user": {"sub": "bob", "name": "Bob"}, "expires_at": 20})
        );
    }

    #[test]
    fn user_json_round_trip() {
        let user = User::new("alice")
            .with_name("Alice")
            .with_email("alice@example.test")
            .with_claim("email_verified", true)
            .with_claim("roles", vec!["admin", "editor"]);
        let text = serde_json::to_string(&user).unwrap();
        let read: User = serde_json::from_str(&text).unwrap();
        assert_eq!(read, user);
    }

    #[test]
    fn user_keeps_non_string_name_as_claim() {
        let user = User::from_id_token_claims(
            claims(json!({"sub": "alice", "name": 5, "email": null})),
            &ClaimFilter::All,
        )
        .unwrap();
        let read: User = serde_json::from_str(&serde_json::to_string(&user).unwrap()).unwrap();
        assert_eq!(read.name, None);
        assert_eq!(read.email, None);
        assert_eq!(read.claims.get("name"), Some(&json!(5)));
        assert_eq!(read.claims.get("email"), Some(&json!(null)));
        assert_eq!(read, user);
    }

    #[test]
    fn user_without_sub_is_rejected() {
        let error = serde_json::from_str::<User>(r#"{"name": "Alice"}"#).unwrap_err();
        assert!(error.to_string().contains("missing field `sub`"), "{error}");
    }

    #[test]
    fn user_with_repeated_sub_is_rejected() {
        let error = serde_json::from_str::<User>(r#"{"sub": "a", "sub": "b"}"#).unwrap_err();
        assert!(
            error.to_string().contains("duplicate field `sub`"),
            "{error}"
        );
        assert!(serde_json::from_str::<User>(r#"{"sub": "a", "name": "x", "name": "y"}"#).is_err());
    }

    #[test]
    fn user_from_non_object_is_rejected() {
        for text in ["[]", "\"alice\"", "null", "{\"sub\": 5}"] {
            assert!(serde_json::from_str::<User>(text).is_err(), "{text}");
        }
    }

    fn payload(user: User) -> SessionPayload {
        SessionPayload {
            id: "session-id".into(),
            issued_at: 100,
            user,
            scopes: vec!["openid".into()],
            absolute_expires_at: 200,
            provider_sid: Some("provider-sid".into()),
        }
    }

    fn roles_user() -> User {
        User::new("alice")
            .with_name("Alice")
            .with_claim("roles", json!(["admin", "billing"]))
            .with_claim("email_verified", true)
    }

    #[test]
    fn payload_keeps_claims_apart_from_identity() {
        let sealed = serde_json::to_value(payload(roles_user())).unwrap();
        assert_eq!(sealed["u"], json!({"sub": "alice", "name": "Alice"}));
        assert_eq!(
            sealed["c"],
            json!({"roles": ["admin", "billing"], "email_verified": true})
        );
        assert_eq!(sealed["psid"], "provider-sid");
    }

    #[test]
    fn payload_round_trip_parses_claims_on_first_read() {
        let text = serde_json::to_string(&payload(roles_user())).unwrap();
        let read: SessionPayload = serde_json::from_str(&text).unwrap();
        assert!(read.user.claims.parsed.get().is_none(), "parsed too early");
        assert_eq!(
            read.user.claims.get("roles"),
            Some(&json!(["admin", "billing"]))
        );
        assert_eq!(read.user, roles_user());
        assert_eq!(read.provider_sid.as_deref(), Some("provider-sid"));
    }

    #[test]
    fn payload_with_claims_inside_user_is_read() {
        let text = r#"{"id":"s","iat":1,"u":{"sub":"alice","roles":["admin"]},"scp":[],"aexp":9}"#;
        let read: SessionPayload = serde_json::from_str(text).unwrap();
        assert_eq!(read.user.claims.get("roles"), Some(&json!(["admin"])));
        assert_eq!(read.provider_sid, None);
    }

    #[test]
    fn payload_claims_must_be_an_object() {
        for claims in ["[1,2]", "\"admin\"", "7"] {
            let text = format!(r#"{{"id":"s","iat":1,"u":{{"sub":"a"}},"c":{claims},"aexp":9}}"#);
            assert!(
                serde_json::from_str::<SessionPayload>(&text).is_err(),
                "{claims} was accepted"
            );
        }
    }

    #[test]
    fn changed_claims_serialize_as_changed() {
        let text = serde_json::to_string(&payload(roles_user())).unwrap();
        let mut user = serde_json::from_str::<SessionPayload>(&text).unwrap().user;
        user.claims.insert("team".into(), json!("red"));
        user.claims.remove("roles");
        let json = serde_json::to_value(&user).unwrap();
        assert_eq!(json["team"], "red");
        assert!(json.get("roles").is_none(), "{json}");
    }

    #[test]
    fn session_clone_shares_user() {
        let session = SessionPayload {
            id: "abc".into(),
            issued_at: 10,
            user: User::new("bob"),
            scopes: vec!["openid".into()],
            absolute_expires_at: 30,
            provider_sid: None,
        }
        .into_session(20);
        let clone = session.clone();
        assert!(std::ptr::eq(session.user(), clone.user()));
        assert_eq!(clone.id(), "abc");
        assert_eq!(clone.scopes(), ["openid"]);
        assert_eq!(clone.issued_at(), 10);
        assert_eq!(clone.expires_at(), 20);
        assert_eq!(clone.absolute_expires_at(), 30);
    }
}
