//! In-memory authorization codes and access tokens, with expiry and a size cap.
//!
//! Every insert first drops expired entries. When a map is still full, the entry that
//! expires soonest is evicted, so memory stays bounded however many logins a demo makes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Time an authorization code stays redeemable.
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// Time an access token stays valid at the userinfo endpoint, and the ID token's `exp` offset.
pub(crate) const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

const MAX_CODES: usize = 1024;
const MAX_ACCESS_TOKENS: usize = 4096;

/// One completed sign-in at the login form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Login {
    /// Subject identifier: the trimmed user name typed into the form.
    pub sub: String,
    /// Unix time in seconds when the user submitted the form.
    pub auth_time: u64,
    /// Random session id, sent as the `sid` claim.
    pub sid: String,
}

/// Authorization request details bound to a code, checked again at the token endpoint.
#[derive(Clone, Debug)]
pub(crate) struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scope: String,
    pub login: Login,
}

/// Sign-in that an access token represents at the userinfo endpoint.
#[derive(Clone, Debug)]
pub(crate) struct AccessGrant {
    pub login: Login,
}

/// Result of presenting an authorization code.
#[derive(Debug)]
pub(crate) enum Redemption {
    /// First use of a live code. The code is now spent.
    Granted(CodeGrant),
    /// The code was already redeemed. The access token issued from it has been revoked.
    Replayed,
    /// The code was never issued or has expired.
    Unknown,
}

#[derive(Debug)]
enum CodeState {
    Pending(Box<CodeGrant>),
    /// Kept until the code's expiry so that a replay can be detected and the token revoked.
    Redeemed {
        access_token: Option<String>,
    },
}

#[derive(Debug)]
struct Expiring<T> {
    value: T,
    expires_at: Instant,
}

/// All mutable provider state. Callers hold it behind a `Mutex`, and every method takes the
/// current time so that tests can move the clock.
#[derive(Debug, Default)]
pub(crate) struct Store {
    codes: HashMap<String, Expiring<CodeState>>,
    access_tokens: HashMap<String, Expiring<AccessGrant>>,
}

impl Store {
    /// Stores a new authorization code that expires [`CODE_LIFETIME`] after `now`.
    pub(crate) fn insert_code(&mut self, code: String, grant: CodeGrant, now: Instant) {
        make_room(&mut self.codes, MAX_CODES, now);
        let entry = Expiring {
            value: CodeState::Pending(Box::new(grant)),
            expires_at: now + CODE_LIFETIME,
        };
        self.codes.insert(code, entry);
    }

    /// Spends `code`. A second presentation of the same code revokes the access token that
    /// the first one produced (RFC 6749 section 4.1.2) and returns [`Redemption::Replayed`].
    pub(crate) fn redeem_code(&mut self, code: &str, now: Instant) -> Redemption {
        let Some(entry) = self.codes.get_mut(code) else {
            return Redemption::Unknown;
        };
        if entry.expires_at <= now {
            self.codes.remove(code);
            return Redemption::Unknown;
        }

        let spent = CodeState::Redeemed { access_token: None };
        match std::mem::replace(&mut entry.value, spent) {
            CodeState::Pending(grant) => Redemption::Granted(*grant),
            CodeState::Redeemed { access_token } => {
                if let Some(token) = access_token {
                    self.access_tokens.remove(&token);
                }
                Redemption::Replayed
            }
        }
    }

    /// Records which access token a redeemed code produced, so a replay can revoke it.
    pub(crate) fn link_access_token(&mut self, code: &str, token: &str) {
        if let Some(entry) = self.codes.get_mut(code) {
            entry.value = CodeState::Redeemed {
                access_token: Some(token.to_owned()),
            };
        }
    }

    /// Stores an access token that expires [`ACCESS_TOKEN_LIFETIME`] after `now`.
    pub(crate) fn insert_access_token(&mut self, token: String, grant: AccessGrant, now: Instant) {
        make_room(&mut self.access_tokens, MAX_ACCESS_TOKENS, now);
        let entry = Expiring {
            value: grant,
            expires_at: now + ACCESS_TOKEN_LIFETIME,
        };
        self.access_tokens.insert(token, entry);
    }

    /// Looks up a live access token.
    pub(crate) fn access_token(&self, token: &str, now: Instant) -> Option<&AccessGrant> {
        self.access_tokens
            .get(token)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| &entry.value)
    }
}

/// Drops expired entries, then evicts the soonest-expiring ones until one more fits.
fn make_room<T>(map: &mut HashMap<String, Expiring<T>>, max_len: usize, now: Instant) {
    map.retain(|_, entry| entry.expires_at > now);
    while map.len() >= max_len {
        let soonest = map
            .iter()
            .min_by_key(|(_, entry)| entry.expires_at)
            .map(|(key, _)| key.clone());
        match soonest {
            Some(key) => map.remove(&key),
            None => break,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> CodeGrant {
        CodeGrant {
            client_id: "client".into(),
            redirect_uri: "http://127.0.0.1:1/cb".into(),
            code_challenge: "challenge".into(),
            nonce: None,
            scope: "openid".into(),
            login: Login {
                sub: "alice".into(),
                auth_time: 0,
                sid: "sid".into(),
            },
        }
    }

    fn access_grant() -> AccessGrant {
        AccessGrant {
            login: grant().login,
        }
    }

    #[test]
    fn code_redeems_once() {
        let mut store = Store::default();
        let now = Instant::now();
        store.insert_code("c".into(), grant(), now);

        assert!(matches!(
            store.redeem_code("c", now),
            Redemption::Granted(_)
        ));
        assert!(matches!(store.redeem_code("c", now), Redemption::Replayed));
    }

    #[test]
    fn code_expires_after_lifetime() {
        let mut store = Store::default();
        let now = Instant::now();
        store.insert_code("c".into(), grant(), now);

        let later = now + CODE_LIFETIME;
        assert!(matches!(store.redeem_code("c", later), Redemption::Unknown));
    }

    #[test]
    fn unknown_code_is_rejected() {
        let mut store = Store::default();
        assert!(matches!(
            store.redeem_code("missing", Instant::now()),
            Redemption::Unknown
        ));
    }

    #[test]
    fn replay_revokes_linked_token() {
        let mut store = Store::default();
        let now = Instant::now();
        store.insert_code("c".into(), grant(), now);
        assert!(matches!(
            store.redeem_code("c", now),
            Redemption::Granted(_)
        ));
        store.insert_access_token("t".into(), access_grant(), now);
        store.link_access_token("c", "t");
        assert!(store.access_token("t", now).is_some());

        assert!(matches!(store.redeem_code("c", now), Redemption::Replayed));
        assert!(store.access_token("t", now).is_none());
    }

    #[test]
    fn access_token_expires_after_lifetime() {
        let mut store = Store::default();
        let now = Instant::now();
        store.insert_access_token("t".into(), access_grant(), now);

        assert!(store.access_token("t", now).is_some());
        assert!(store
            .access_token("t", now + ACCESS_TOKEN_LIFETIME)
            .is_none());
    }

    #[test]
    fn code_map_stays_bounded() {
        let mut store = Store::default();
        let start = Instant::now();
        for i in 0..(MAX_CODES + 10) {
            let now = start + Duration::from_millis(i as u64);
            store.insert_code(format!("c{i}"), grant(), now);
        }
        let now = start + Duration::from_millis((MAX_CODES + 10) as u64);

        assert_eq!(store.codes.len(), MAX_CODES);
        // The oldest codes were evicted first and the newest one is still redeemable.
        assert!(matches!(store.redeem_code("c0", now), Redemption::Unknown));
        let newest = format!("c{}", MAX_CODES + 9);
        assert!(matches!(
            store.redeem_code(&newest, now),
            Redemption::Granted(_)
        ));
    }

    #[test]
    fn expired_entries_are_dropped_on_insert() {
        let mut store = Store::default();
        let now = Instant::now();
        store.insert_access_token("old".into(), access_grant(), now);

        let later = now + ACCESS_TOKEN_LIFETIME + Duration::from_secs(1);
        store.insert_access_token("new".into(), access_grant(), later);

        assert_eq!(store.access_tokens.len(), 1);
        assert!(store.access_token("new", later).is_some());
    }
}
