//! The tokens of a session and the refresh of its access token.
//!
//! The ID, access and refresh tokens live in a cookie of their own, sealed
//! under their own key, beside the session cookie. Only logout and
//! [`Auth::access_token`] read it, so the session cookie that every request
//! unseals stays small.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::sync::OnceCell;

use crate::auth::Auth;
use crate::oidc::{OidcError, TokenSet};
use crate::response::CookieScope;
use crate::revocation::RevocationKey;
use crate::session::Session;
use crate::session_cookie::{SessionCookie, SessionTooLarge};

/// How long the outcome of a refresh is kept for the requests that still
/// carry the old cookie, so that they get the new tokens instead of
/// spending the old refresh token a second time. Providers that rotate
/// refresh tokens treat a second use as theft and revoke the grant.
const REFRESH_OUTCOME_LIFETIME: Duration = Duration::from_secs(120);

/// Most refresh outcomes kept at once.
const MAX_REFRESH_OUTCOMES: usize = 10_000;

/// The contents of the tokens cookie, inside the seal.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredTokens {
    /// The session these tokens belong to: a tokens cookie is only used
    /// with the session cookie it was written with.
    #[serde(rename = "sid")]
    pub(crate) session_id: String,
    #[serde(rename = "idt", default, skip_serializing_if = "Option::is_none")]
    pub(crate) id_token: Option<String>,
    #[serde(rename = "at")]
    pub(crate) access_token: String,
    #[serde(rename = "atexp", default, skip_serializing_if = "Option::is_none")]
    pub(crate) access_token_expires_at: Option<u64>,
    #[serde(rename = "rt", default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    #[serde(rename = "scp", default)]
    pub(crate) scopes: Vec<String>,
}

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokens")
            .field("session_id", &self.session_id)
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

impl StoredTokens {
    pub(crate) fn from_token_set(session_id: &str, tokens: TokenSet) -> StoredTokens {
        StoredTokens {
            session_id: session_id.to_owned(),
            id_token: tokens.id_token,
            access_token: tokens.access_token,
            access_token_expires_at: tokens.access_token_expires_at,
            refresh_token: tokens.refresh_token,
            scopes: tokens.scopes,
        }
    }

    fn access_token(&self) -> AccessToken {
        AccessToken {
            token: self.access_token.clone(),
            expires_at: self.access_token_expires_at,
            scopes: self.scopes.clone(),
        }
    }
}

/// An access token for calling APIs on the user's behalf, from
/// [`Auth::access_token`].
///
/// Its `Debug` output hides the token.
#[derive(Clone)]
pub struct AccessToken {
    token: String,
    expires_at: Option<u64>,
    scopes: Vec<String>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl AccessToken {
    /// Returns the token, to send as `Authorization: Bearer …`. Never log
    /// it.
    pub fn secret(&self) -> &str {
        &self.token
    }

    /// Returns when the token expires, in Unix seconds, if the provider
    /// sent `expires_in`.
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }

    /// Returns the scopes granted to the token.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// Why [`Auth::access_token`] has no token to give.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AccessTokenError {
    /// The session has no tokens cookie, or one from another session: it
    /// was created by [`Auth::test_session_cookie`], or the browser dropped
    /// the cookie.
    #[error("the session has no access token")]
    Missing,
    /// The access token expired and no refresh token was issued; request
    /// the `offline_access` scope for one.
    #[error("the access token expired and there is no refresh token")]
    Expired,
    /// The provider refused the refresh token, so the user was signed out:
    /// the response removes the session cookies.
    #[error("the provider rejected the refresh token; the user is signed out")]
    SignedOut,
    /// The provider could not be reached or sent an invalid response. The
    /// session is kept, and a later request tries again.
    #[error("cannot refresh the access token now: {0}")]
    Unavailable(String),
}

impl AccessTokenError {
    /// Returns the status for an API response: 401 when the user must sign
    /// in again, 503 when the provider is unavailable.
    pub fn status(&self) -> StatusCode {
        match self {
            AccessTokenError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// The outcome of [`Auth::access_token`] and the `Set-Cookie` values the
/// response must carry: the refreshed tokens, or the removal of the session
/// after a refused refresh.
#[derive(Debug)]
pub struct AccessTokenOutcome {
    /// The access token, or why there is none.
    pub result: Result<AccessToken, AccessTokenError>,
    /// `Set-Cookie` values to add to the response.
    pub set_cookies: Vec<HeaderValue>,
}

/// A refresh that failed.
#[derive(Clone, Debug)]
enum RefreshFailure {
    /// The provider rejected the refresh token (`invalid_grant`).
    Rejected,
    /// The provider could not be reached, or sent an invalid response.
    Unavailable(String),
}

type RefreshCell = Arc<OnceCell<Result<StoredTokens, RefreshFailure>>>;

/// The refreshes under way or just done, so that concurrent requests of one
/// session trigger one refresh. A refresh is keyed by the session and the
/// access and refresh tokens it replaces, so requests that still carry
/// those share its outcome. A request carrying its result starts a new
/// refresh when that result is due in turn, even if the provider kept the
/// refresh token.
#[derive(Default)]
pub(crate) struct Refreshes {
    flights: Mutex<HashMap<[u8; 32], (Instant, RefreshCell)>>,
}

impl Refreshes {
    fn key(session_id: &str, access_token: &str, refresh_token: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for part in [session_id, access_token, refresh_token] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.finalize().into()
    }

    fn flight(&self, key: [u8; 32]) -> RefreshCell {
        let mut flights = self
            .flights
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, cell)) = flights.get(&key) {
            return Arc::clone(cell);
        }
        if flights.len() >= MAX_REFRESH_OUTCOMES / 2 {
            flights.retain(|_, (started, _)| started.elapsed() < REFRESH_OUTCOME_LIFETIME);
        }
        if flights.len() >= MAX_REFRESH_OUTCOMES {
            // Every entry is recent: drop them all rather than grow. At
            // worst a request with an old cookie refreshes again.
            flights.clear();
        }
        let cell = RefreshCell::default();
        flights.insert(key, (Instant::now(), Arc::clone(&cell)));
        cell
    }

    fn forget(&self, key: &[u8; 32]) {
        self.flights
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
    }
}

impl Auth {
    /// The cookie that keeps the tokens of the session.
    pub(crate) fn tokens_cookie(&self) -> SessionCookie<'_> {
        let config = &self.inner.config;
        SessionCookie {
            name: &self.inner.tokens_cookie_name,
            scope: CookieScope {
                path: "/",
                domain: config.cookie_domain.as_deref(),
                secure: config.secure_cookies(),
            },
        }
    }

    /// Seals `tokens` into the tokens cookie, kept until the session's
    /// absolute end.
    pub(crate) fn write_tokens(
        &self,
        tokens: &StoredTokens,
        absolute_expires_at: u64,
        headers: &HeaderMap,
    ) -> Result<Vec<HeaderValue>, SessionTooLarge> {
        let now = self.inner.config.now();
        let sealed = self.inner.tokens_sealer.seal(
            &self.inner.tokens_cookie_name,
            tokens,
            absolute_expires_at,
        );
        self.tokens_cookie()
            .write(&sealed, absolute_expires_at.saturating_sub(now), headers)
    }

    /// Reads the tokens of `session` from the request's cookies.
    pub(crate) fn read_tokens(
        &self,
        session: &Session,
        headers: &HeaderMap,
    ) -> Option<StoredTokens> {
        let name = &self.inner.tokens_cookie_name;
        let now = self.inner.config.now();
        self.tokens_cookie().read(headers).find_map(|value| {
            let value = std::str::from_utf8(&value).ok()?;
            let tokens = self
                .inner
                .tokens_sealer
                .unseal::<StoredTokens>(name, value, now)
                .ok()?
                .data;
            let same_session: bool = tokens
                .session_id
                .as_bytes()
                .ct_eq(session.id().as_bytes())
                .into();
            same_session.then_some(tokens)
        })
    }

    /// Returns a valid access token of `session`, refreshing it first when
    /// it has expired or expires within the refresh leeway
    /// (`ROQ_ACCESS_TOKEN_REFRESH_LEEWAY`).
    ///
    /// Concurrent calls for one session trigger one refresh and share its
    /// outcome. After a refresh, [`AccessTokenOutcome::set_cookies`] carries
    /// the new tokens, to add to this same response. When the provider
    /// refuses the refresh token, the session is revoked and its cookies
    /// removed: the user is signed out.
    pub async fn access_token(&self, session: &Session, headers: &HeaderMap) -> AccessTokenOutcome {
        let outcome = |result| AccessTokenOutcome {
            result,
            set_cookies: Vec::new(),
        };
        let Some(stored) = self.read_tokens(session, headers) else {
            return outcome(Err(AccessTokenError::Missing));
        };
        let config = &self.inner.config;
        let now = config.now();
        let leeway = config.access_token_refresh_leeway.as_secs();
        let expires_at = stored.access_token_expires_at;
        if expires_at.is_none_or(|expires_at| expires_at > now.saturating_add(leeway)) {
            return outcome(Ok(stored.access_token()));
        }
        let Some(refresh_token) = stored.refresh_token.clone() else {
            return outcome(match expires_at {
                Some(expires_at) if expires_at > now => Ok(stored.access_token()),
                _ => Err(AccessTokenError::Expired),
            });
        };

        let key = Refreshes::key(session.id(), &stored.access_token, &refresh_token);
        let flight = self.inner.refreshes.flight(key);
        let result = flight
            .get_or_init(|| self.refresh(stored, refresh_token))
            .await
            .clone();
        match result {
            Ok(tokens) => {
                let set_cookies = self
                    .write_tokens(&tokens, session.absolute_expires_at(), headers)
                    .unwrap_or_else(|err| {
                        tracing::error!(error = %err, "cannot store the refreshed tokens");
                        Vec::new()
                    });
                AccessTokenOutcome {
                    result: Ok(tokens.access_token()),
                    set_cookies,
                }
            }
            Err(RefreshFailure::Rejected) => {
                let keep_until = session.absolute_expires_at();
                let key = RevocationKey::Session(session.id().to_owned());
                if let Err(err) = self.revoke(&key, now, keep_until).await {
                    tracing::error!(error = %err, "cannot record the revocation of a session");
                }
                let mut set_cookies = self.session_cookie().remove(headers);
                set_cookies.extend(self.tokens_cookie().remove(headers));
                AccessTokenOutcome {
                    result: Err(AccessTokenError::SignedOut),
                    set_cookies,
                }
            }
            Err(RefreshFailure::Unavailable(message)) => {
                // Not kept: the next request tries again.
                self.inner.refreshes.forget(&key);
                outcome(Err(AccessTokenError::Unavailable(message)))
            }
        }
    }

    /// Spends the refresh token at the provider.
    async fn refresh(
        &self,
        stored: StoredTokens,
        refresh_token: String,
    ) -> Result<StoredTokens, RefreshFailure> {
        let config = &self.inner.config;
        let provider = &self.inner.provider;
        let unavailable = |err: OidcError| {
            tracing::warn!(error = %err, "cannot refresh an access token");
            RefreshFailure::Unavailable(err.to_string())
        };
        let metadata = provider.metadata(config).await.map_err(unavailable)?;
        match provider
            .refresh(config, metadata, &refresh_token, &stored.scopes)
            .await
        {
            Ok(tokens) => {
                tracing::debug!(session = %stored.session_id, "refreshed an access token");
                Ok(StoredTokens {
                    session_id: stored.session_id,
                    // The ID token of the sign-in stays the logout hint: a
                    // refreshed one, if any, names the same user and session.
                    id_token: stored.id_token,
                    access_token: tokens.access_token,
                    access_token_expires_at: tokens.access_token_expires_at,
                    refresh_token: tokens.refresh_token,
                    scopes: tokens.scopes,
                })
            }
            Err(err @ OidcError::InvalidGrant(_)) => {
                tracing::info!(error = %err, session = %stored.session_id, "the provider rejected the refresh token; signing the user out");
                Err(RefreshFailure::Rejected)
            }
            Err(err) => Err(unavailable(err)),
        }
    }
}
