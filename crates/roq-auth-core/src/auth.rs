//! [`Auth`]: the configured sign-in of one application, serving the auth
//! routes and deciding the guards.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{request, HeaderMap, HeaderValue, Method, Response, StatusCode};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::config::{Config, ConfigError};
use crate::oidc::{OidcError, Provider};
use crate::response::{
    cookie_names_with_prefix, cookie_values, error_page, remove_cookie, set_cookie, CookieScope,
    ResponseBuilder,
};
use crate::return_to::sanitize_return_to;
use crate::revocation::{
    MemoryRevocationStore, RevocationError, RevocationKey, RevocationStore, StoreFuture,
};
use crate::seal::{Purpose, Sealer};
use crate::session::{Session, SessionPayload, User};
use crate::session_cache::{CachedSession, SessionCache};
use crate::session_cookie::{SessionCookie, SessionTooLarge};
use crate::tokens::StoredTokens;

/// Start of the names of the cookies that carry a sign-in from login to
/// callback. Each sign-in has its own cookie, named after its `state`, so
/// sign-ins started in several tabs at once do not overwrite each other.
const TRANSACTION_COOKIE_PREFIX: &str = "roq_tx_";

/// How many characters of `state` name a transaction cookie: 96 bits, so
/// two concurrent sign-ins never share a name.
const TRANSACTION_ID_LEN: usize = 16;

/// Most sign-ins a browser may have under way at once. Older ones are
/// removed at the next callback, so abandoned tabs cannot grow the `Cookie`
/// header without bound.
const MAX_TRANSACTIONS: usize = 3;

/// How long a visitor has to finish signing in at the provider.
const TRANSACTION_LIFETIME_SECS: u64 = 10 * 60;

/// Maximum length of the query string the callback reads. Real ones are a
/// few hundred bytes.
const MAX_CALLBACK_QUERY_LEN: usize = 8 * 1024;

/// One of the auth routes, relative to the mount path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthRoute {
    /// `login`: starts a sign-in at the provider.
    Login,
    /// `callback`: where the provider sends the visitor back.
    Callback,
    /// `session`: the signed-in user as JSON.
    Session,
    /// `logout`: ends the session.
    Logout,
    /// `backchannel-logout`: where the provider posts a logout token when
    /// the user signs out there (OpenID Connect Back-Channel Logout 1.0).
    BackchannelLogout,
}

impl AuthRoute {
    /// Every route, with its path segment.
    pub const ALL: [(AuthRoute, &'static str); 5] = [
        (AuthRoute::Login, "login"),
        (AuthRoute::Callback, "callback"),
        (AuthRoute::Session, "session"),
        (AuthRoute::Logout, "logout"),
        (AuthRoute::BackchannelLogout, "backchannel-logout"),
    ];

    fn allows(self, method: &Method) -> bool {
        match self {
            AuthRoute::Logout => {
                method == Method::GET || method == Method::HEAD || method == Method::POST
            }
            AuthRoute::BackchannelLogout => method == Method::POST,
            _ => method == Method::GET || method == Method::HEAD,
        }
    }

    fn allow_header(self) -> &'static str {
        match self {
            AuthRoute::Logout => "GET, HEAD, POST",
            AuthRoute::BackchannelLogout => "POST",
            _ => "GET, HEAD",
        }
    }

    /// Whether the route reads a request body: adapters pass the body of
    /// these routes to [`Auth::handle`] and an empty one for the others.
    pub fn reads_body(self) -> bool {
        self == AuthRoute::BackchannelLogout
    }
}

/// The contents of a transaction cookie, inside the seal.
#[derive(Serialize, Deserialize)]
struct Transaction {
    state: String,
    nonce: String,
    #[serde(rename = "pkce")]
    pkce_verifier: String,
    return_to: String,
}

/// An error from the OpenID provider, from [`Auth::check_provider`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ProviderError(OidcError);

/// The configured sign-in of one application.
///
/// Build it once at start-up and share it: cloning is cheap, and the
/// provider's metadata and keys are fetched once and cached inside. Building
/// it makes no network request, so an application starts even while its
/// provider is down.
///
/// # Security
///
/// Sessions and sign-in transactions live in cookies sealed with
/// XChaCha20-Poly1305 under keys derived from `ROQ_SECRET`. Anyone with the
/// secret can forge sessions: keep it out of source control and logs.
#[derive(Clone)]
pub struct Auth {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) provider: Provider,
    pub(crate) session_sealer: Sealer,
    /// Seals the cookie that keeps a session's tokens.
    pub(crate) tokens_sealer: Sealer,
    /// Seals the cookie that carries a sign-out's `state` to the provider
    /// and back.
    pub(crate) logout_sealer: Sealer,
    pub(crate) revocation: Revocation,
    pub(crate) refreshes: crate::tokens::Refreshes,
    pub(crate) after_callback: Option<AfterCallback>,
    /// The name of the cookie that keeps the session's tokens.
    pub(crate) tokens_cookie_name: String,
    /// The name of the cookie that carries a sign-out's `state`.
    pub(crate) logout_cookie_name: String,
    /// Set once the warning about https cookies over plain http is logged.
    pub(crate) warned_plain_http: std::sync::atomic::AtomicBool,
    /// Session cookie values already unsealed, so that repeat requests
    /// skip decryption and parsing.
    pub(crate) session_cache: SessionCache,
    pub(crate) transaction_sealer: Sealer,
    /// The callback path: transaction cookies only need to reach the
    /// callback, so they are scoped there and stay off every other request.
    pub(crate) transaction_cookie_path: String,
    /// `__Secure-` on https, where browsers then refuse to let plain http
    /// responses set or overwrite the cookie.
    pub(crate) transaction_cookie_prefix: String,
}

/// The revocation store. The built-in memory store is called directly,
/// without a boxed future, because it returns at once.
pub(crate) enum Revocation {
    Memory(MemoryRevocationStore),
    Shared(Arc<dyn RevocationStore>),
}

/// The hook [`AuthBuilder::after_callback`] installs.
pub(crate) type AfterCallback =
    Arc<dyn Fn(User) -> StoreFuture<'static, Result<User, SignInDenied>> + Send + Sync>;

/// Returned by an after-callback hook to refuse a sign-in. The visitor gets
/// a 403 page with the message, which should not reveal more than the user
/// may know.
#[derive(Debug, Clone, thiserror::Error)]
#[error("sign-in denied: {message}")]
pub struct SignInDenied {
    message: String,
}

impl SignInDenied {
    /// Refuses the sign-in with `message` shown on the 403 page.
    pub fn new(message: impl Into<String>) -> SignInDenied {
        SignInDenied {
            message: message.into(),
        }
    }
}

/// The session could not be read because the revocation store failed. The
/// request gets 503: treating the visitor as signed out would send them to
/// sign in again and again while the store is down.
#[derive(Debug, thiserror::Error)]
#[error("cannot check the session: {0}")]
pub struct SessionUnavailable(#[from] RevocationError);

impl SessionUnavailable {
    /// The 503 response for this error: JSON `{"error":"unavailable"}` for
    /// an API, an HTML page otherwise.
    pub fn response(&self, api: bool) -> Response<Bytes> {
        let builder = if api {
            ResponseBuilder::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"error": "unavailable"}),
            )
        } else {
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Your session cannot be checked right now. Please try again in a moment.",
                None,
            )
        };
        builder.header(http::header::RETRY_AFTER, "5").build()
    }
}

/// Builds an [`Auth`] with a revocation store or a sign-in hook; see
/// [`Auth::builder`].
pub struct AuthBuilder {
    config: Config,
    revocation: Option<Arc<dyn RevocationStore>>,
    after_callback: Option<AfterCallback>,
}

impl std::fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("config", &self.config)
            .field("shared_revocation_store", &self.revocation.is_some())
            .field("after_callback", &self.after_callback.is_some())
            .finish()
    }
}

impl AuthBuilder {
    /// Keeps revocations in `store` instead of this process's memory, so
    /// that a logout on one instance signs the session out on all of them.
    pub fn revocation_store(mut self, store: impl RevocationStore) -> AuthBuilder {
        self.revocation = Some(Arc::new(store));
        self
    }

    /// Keeps revocations in Redis when `ROQ_REDIS_URL` is set, such as
    /// `redis://127.0.0.1:6379/0`, and in memory otherwise. [`Auth::from_env`]
    /// does this.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `ROQ_REDIS_URL` when it is not a Redis URL,
    /// or when it is set and roq-auth was built without its `redis`
    /// feature: an application that expects shared revocations must not
    /// start with per-instance ones.
    pub fn revocation_store_from_env(self) -> Result<AuthBuilder, ConfigError> {
        const NAME: &str = "ROQ_REDIS_URL";
        let Some(url) = crate::config::env_var(NAME)? else {
            return Ok(self);
        };
        #[cfg(feature = "redis")]
        {
            let store = crate::redis_store::RedisRevocationStore::open(url.trim())
                .map_err(|err| ConfigError::invalid(NAME, err.to_string()))?;
            Ok(self.revocation_store(store))
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = url;
            Err(ConfigError::invalid(
                NAME,
                "is set, but roq-auth was built without its `redis` feature: \
                 enable it (`cargo add roq-auth -F redis`) or unset the variable",
            ))
        }
    }

    /// Keeps revocations in a store shared with other code.
    pub fn shared_revocation_store(mut self, store: Arc<dyn RevocationStore>) -> AuthBuilder {
        self.revocation = Some(store);
        self
    }

    /// Runs `hook` at each sign-in, after the ID token is verified and
    /// before the session is stored. It may change the user's claims kept
    /// in the session, or refuse the sign-in with [`SignInDenied`], which
    /// shows a 403 page and stores no session.
    ///
    /// ```
    /// # use roq_auth_core::{Auth, Config, SignInDenied, User};
    /// # fn build(config: Config) -> Auth {
    /// Auth::builder(config)
    ///     .after_callback(|user: User| async move {
    ///         match &user.email {
    ///             Some(email) if email.ends_with("@example.com") => Ok(user.with_claim("staff", true)),
    ///             _ => Err(SignInDenied::new("This application is for staff only.")),
    ///         }
    ///     })
    ///     .build()
    /// # }
    /// ```
    pub fn after_callback<F, Fut>(mut self, hook: F) -> AuthBuilder
    where
        F: Fn(User) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<User, SignInDenied>> + Send + 'static,
    {
        self.after_callback = Some(Arc::new(move |user| Box::pin(hook(user))));
        self
    }

    /// Builds the sign-in.
    pub fn build(self) -> Auth {
        Auth::from_builder(self)
    }
}

/// The session of a request, and the `Set-Cookie` values that keep its
/// cookie current: a renewed inactivity window, a seal under the newest
/// secret, or the removal of a cookie that is no longer valid.
#[derive(Debug, Default)]
pub struct LoadedSession {
    /// The valid session, if any.
    pub session: Option<Session>,
    /// `Set-Cookie` values to add to the response. Empty on most requests.
    pub set_cookies: Vec<HeaderValue>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Builds the sign-in from a validated configuration, with revocations
    /// kept in memory and no hook. See [`Auth::builder`] for more.
    pub fn new(config: Config) -> Auth {
        Auth::builder(config).build()
    }

    /// Starts building the sign-in, to add a revocation store shared by
    /// several instances or an after-callback hook.
    pub fn builder(config: Config) -> AuthBuilder {
        AuthBuilder {
            config,
            revocation: None,
            after_callback: None,
        }
    }

    fn from_builder(builder: AuthBuilder) -> Auth {
        let AuthBuilder {
            config,
            revocation,
            after_callback,
        } = builder;
        let revocation = match revocation {
            Some(store) => Revocation::Shared(store),
            None => Revocation::Memory(MemoryRevocationStore::default()),
        };
        let provider = Provider::new(&config);
        let session_sealer =
            Sealer::with_previous(&config.secret, &config.previous_secrets, Purpose::Session);
        let transaction_sealer = Sealer::with_previous(
            &config.secret,
            &config.previous_secrets,
            Purpose::Transaction,
        );
        let transaction_cookie_path = format!("{}/callback", config.mount_path);
        let secure_prefix = if config.secure_cookies() {
            "__Secure-"
        } else {
            ""
        };
        let transaction_cookie_prefix = format!("{secure_prefix}{TRANSACTION_COOKIE_PREFIX}");
        let sealer =
            |purpose| Sealer::with_previous(&config.secret, &config.previous_secrets, purpose);
        let tokens_cookie_name = format!("{}_tokens", config.cookie_name);
        let logout_cookie_name = format!("{secure_prefix}roq_logout");
        Auth {
            inner: Arc::new(Inner {
                tokens_cookie_name,
                logout_cookie_name,
                tokens_sealer: sealer(Purpose::Tokens),
                logout_sealer: sealer(Purpose::Logout),
                revocation,
                refreshes: crate::tokens::Refreshes::default(),
                after_callback,
                warned_plain_http: std::sync::atomic::AtomicBool::new(false),
                transaction_cookie_path,
                transaction_cookie_prefix,
                config,
                provider,
                session_sealer,
                session_cache: SessionCache::default(),
                transaction_sealer,
            }),
        }
    }

    /// Reads the configuration from the environment (see
    /// [`Config::from_env`]) and builds the sign-in. Revocations go to Redis
    /// when `ROQ_REDIS_URL` is set (see
    /// [`AuthBuilder::revocation_store_from_env`]).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first missing or invalid variable.
    pub fn from_env() -> Result<Auth, ConfigError> {
        Ok(Auth::builder(Config::from_env()?)
            .revocation_store_from_env()?
            .build())
    }

    /// Records a revocation in the configured store.
    pub(crate) async fn revoke(
        &self,
        key: &RevocationKey,
        revoked_at: u64,
        keep_until: u64,
    ) -> Result<(), RevocationError> {
        match &self.inner.revocation {
            Revocation::Memory(store) => {
                store.revoke_now(key, revoked_at, keep_until, self.inner.config.now());
                Ok(())
            }
            Revocation::Shared(store) => store.revoke(key, revoked_at, keep_until).await,
        }
    }

    /// Whether a revocation covers `session`. It runs on every request that
    /// reads a session, after the cache.
    async fn is_revoked(&self, session: &Session) -> Result<bool, RevocationError> {
        let keys = &session.data.revocation_keys;
        let revoked_at = match &self.inner.revocation {
            Revocation::Memory(store) => store.revoked_at_now(keys, self.inner.config.now()),
            Revocation::Shared(store) => store.revoked_at(keys).await?,
        };
        Ok(revoked_at.is_some_and(|at| at >= session.data.issued_at))
    }

    /// Fetches the provider's metadata now instead of at the first sign-in,
    /// so that start-up can log a misconfiguration early.
    ///
    /// Failing here is not fatal: sign-in tries again, so an application
    /// may start while its provider is down.
    ///
    /// # Errors
    ///
    /// [`ProviderError`] when the provider cannot be reached, does not
    /// respond in time, or serves metadata for another issuer or without the
    /// authorization code flow.
    pub async fn check_provider(&self) -> Result<(), ProviderError> {
        self.inner
            .provider
            .metadata(&self.inner.config)
            .await
            .map(|_| ())
            .map_err(ProviderError)
    }

    /// The configuration this sign-in was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Handles a request to one of the auth routes.
    ///
    /// Adapters call this from their route handlers, with the request body
    /// for the routes that [read one](AuthRoute::reads_body) and an empty one
    /// otherwise. Every response carries `Cache-Control: private, no-store`;
    /// a wrong method gets 405.
    pub async fn handle(
        &self,
        route: AuthRoute,
        request: &request::Parts,
        body: &[u8],
    ) -> Response<Bytes> {
        if !route.allows(&request.method) {
            return ResponseBuilder::json(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "method_not_allowed"}),
            )
            .header(http::header::ALLOW, route.allow_header())
            .build();
        }

        self.warn_if_plain_http(route, request);
        match route {
            AuthRoute::Login => self.login(request).await,
            AuthRoute::Callback => self.callback(request).await,
            AuthRoute::Session => self.session_route(&request.headers).await,
            AuthRoute::Logout => self.logout(request).await,
            AuthRoute::BackchannelLogout => self.backchannel_logout(request, body).await,
        }
    }

    /// Returns the valid session in the request's cookies, if any.
    ///
    /// A cookie that was altered, expired, sealed under an unknown key or
    /// revoked is ignored, as if the visitor were signed out.
    ///
    /// # Errors
    ///
    /// [`SessionUnavailable`] when the revocation store cannot be read.
    pub async fn session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Session>, SessionUnavailable> {
        Ok(self.load_session(headers).await?.session)
    }

    /// Logs once when `ROQ_BASE_URL` is https but a request to an auth route
    /// shows it arrived over plain http, where browsers drop Secure cookies
    /// and sign-in cannot work.
    fn warn_if_plain_http(&self, route: AuthRoute, request: &request::Parts) {
        use std::sync::atomic::Ordering;

        if !self.inner.config.secure_cookies()
            || self.inner.warned_plain_http.load(Ordering::Relaxed)
        {
            return;
        }
        let headers = &request.headers;
        let forwarded_http = headers
            .get_all(http::header::FORWARDED)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split([';', ',']))
            .any(|pair| pair.trim().eq_ignore_ascii_case("proto=http"));
        let x_forwarded_http = headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("http"));
        let absolute_http = request.uri.scheme_str() == Some("http");
        // A callback without any transaction cookie is what a browser sends
        // after it refused the Secure cookie that login set over http.
        let callback_without_cookie = route == AuthRoute::Callback
            && cookie_names_with_prefix(headers, &self.inner.transaction_cookie_prefix)
                .next()
                .is_none();
        if (forwarded_http || x_forwarded_http || absolute_http || callback_without_cookie)
            && !self.inner.warned_plain_http.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                base_url = %self.inner.config.base_url,
                "ROQ_BASE_URL is https, so cookies are Secure, but this request arrived over plain http \
                 (or without the sign-in cookie): browsers drop Secure cookies on http, so sign-in fails. \
                 Serve the app over https, or set ROQ_BASE_URL to its http origin for local development"
            );
        }
    }

    /// Returns the valid session in the request's cookies, with the
    /// `Set-Cookie` values the response should carry to keep the cookie
    /// current.
    ///
    /// Adapters call this once per request that reads the session and add
    /// the values to the response. Of `headers`, only the `Cookie` headers
    /// are read. The cookie is sealed again when a previous secret sealed
    /// it, or when less than half of the inactivity window is left. An
    /// invalid cookie is removed.
    ///
    /// # Errors
    ///
    /// [`SessionUnavailable`] when the revocation store cannot be read.
    pub async fn load_session(
        &self,
        headers: &HeaderMap,
    ) -> Result<LoadedSession, SessionUnavailable> {
        let read = self.read_session(headers);
        let revoked = match &read {
            Some((session, _)) => self.is_revoked(session).await?,
            None => false,
        };
        Ok(self.finish_load(headers, read, revoked))
    }

    /// Does what [`Auth::load_session`] does without waiting, and returns
    /// `None` when it cannot, which is with a revocation store that returns
    /// asynchronously, such as Redis. The built-in memory store always
    /// returns at once.
    ///
    /// Adapters whose extractors must decide at once use it first.
    pub fn load_session_now(&self, headers: &HeaderMap) -> Option<LoadedSession> {
        let Revocation::Memory(store) = &self.inner.revocation else {
            return None;
        };
        let read = self.read_session(headers);
        let revoked = read.as_ref().is_some_and(|(session, _)| {
            store
                .revoked_at_now(&session.data.revocation_keys, self.inner.config.now())
                .is_some_and(|at| at >= session.data.issued_at)
        });
        Some(self.finish_load(headers, read, revoked))
    }

    /// Turns what [`Auth::read_session`] found into the request's session and
    /// the cookie updates.
    fn finish_load(
        &self,
        headers: &HeaderMap,
        read: Option<(Session, bool)>,
        revoked: bool,
    ) -> LoadedSession {
        let cookie = self.session_cookie();
        let read = match read {
            Some((session, _)) if revoked => {
                tracing::debug!(session = %session.data.id, "the session was revoked");
                None
            }
            read => read,
        };
        let Some((session, needs_reseal)) = read else {
            let mut set_cookies = Vec::new();
            if cookie.is_present(headers) {
                tracing::debug!("removing an invalid, expired or revoked session cookie");
                set_cookies = cookie.remove(headers);
                set_cookies.extend(self.tokens_cookie().remove(headers));
            }
            return LoadedSession {
                session: None,
                set_cookies,
            };
        };
        if !needs_reseal {
            return LoadedSession {
                session: Some(session),
                set_cookies: Vec::new(),
            };
        }

        let config = &self.inner.config;
        let now = config.now();
        let inactivity = config.session_inactivity_timeout.as_secs();
        let mut session = session;
        session.expires_at = (now + inactivity).min(session.absolute_expires_at());
        let payload = SessionPayload::from_session(&session);
        let sealed =
            self.inner
                .session_sealer
                .seal(&config.cookie_name, &payload, session.expires_at);
        let max_age = session.absolute_expires_at().saturating_sub(now);
        let set_cookies = cookie
            .write(&sealed, max_age, headers)
            .unwrap_or_else(|err| {
                // The session fitted when it was written and has not grown.
                tracing::error!(error = %err, "cannot renew the session cookie");
                Vec::new()
            });
        LoadedSession {
            session: Some(session),
            set_cookies,
        }
    }

    /// Reads the session without checking revocations.
    pub(crate) fn read_session_unchecked(&self, headers: &HeaderMap) -> Option<Session> {
        self.read_session(headers).map(|(session, _)| session)
    }

    /// Reads the session, from the cache or by unsealing it, and returns
    /// whether its cookie should be sealed again.
    ///
    /// The expiry checks run on every call, cache hit or not: the cache
    /// only saves decrypting and parsing a value already authenticated.
    fn read_session(&self, headers: &HeaderMap) -> Option<(Session, bool)> {
        let config = &self.inner.config;
        let name = &config.cookie_name;
        let now = config.now();
        let inactivity = config.session_inactivity_timeout.as_secs();
        let cache = &self.inner.session_cache;

        self.session_cookie().read(headers).find_map(|value| {
            let cached = match cache.get(&value) {
                Some(cached) => cached,
                None => {
                    let sealed = std::str::from_utf8(&value).ok()?;
                    let unsealed = self
                        .inner
                        .session_sealer
                        .unseal::<SessionPayload>(name, sealed, now)
                        .ok()?;
                    let cached = CachedSession {
                        session: unsealed.data.into_session(unsealed.expires_at),
                        sealed_with_previous_key: unsealed.sealed_with_previous_key,
                    };
                    cache.insert(&value, cached.clone());
                    cached
                }
            };

            let session = cached.session;
            if session.expires_at <= now || session.absolute_expires_at() <= now {
                return None;
            }
            // The revocation check follows in `load_session`, on every
            // request, cache hit or not.

            let renewable = session.expires_at < session.absolute_expires_at();
            let half_spent = session.expires_at.saturating_sub(now) < inactivity / 2;
            let needs_reseal = cached.sealed_with_previous_key || (renewable && half_spent);
            Some((session, needs_reseal))
        })
    }

    /// Returns a `Cookie` header value that carries a valid session for
    /// `user`, for an application's own tests of its protected handlers.
    ///
    /// The session is sealed exactly as a sign-in would seal it, under this
    /// configuration's secret, and granted `scopes`.
    ///
    /// # Errors
    ///
    /// [`SessionTooLarge`] when the user's claims do not fit in the session
    /// cookies, as a sign-in would fail for them.
    ///
    /// # Security
    ///
    /// Anyone with the secret can do the same; this function adds no power,
    /// but keep it out of production code paths.
    pub fn test_session_cookie(
        &self,
        user: User,
        scopes: &[&str],
    ) -> Result<String, SessionTooLarge> {
        let config = &self.inner.config;
        let now = config.now();
        let payload = SessionPayload {
            id: random_token(16),
            issued_at: now,
            user,
            scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
            absolute_expires_at: now + config.session_max_age.as_secs(),
            provider_sid: None,
        };
        let expires_at =
            (now + config.session_inactivity_timeout.as_secs()).min(payload.absolute_expires_at);
        let sealed = self
            .inner
            .session_sealer
            .seal(&config.cookie_name, &payload, expires_at);

        let set_cookies = self
            .session_cookie()
            .write(&sealed, 60, &HeaderMap::new())?;
        Ok(set_cookies
            .iter()
            .filter_map(|value| value.to_str().ok()?.split(';').next())
            .collect::<Vec<_>>()
            .join("; "))
    }

    async fn login(&self, request: &request::Parts) -> Response<Bytes> {
        let config = &self.inner.config;
        let return_to = sanitize_return_to(query_param(request, "returnTo").as_deref());

        let metadata = match self.inner.provider.metadata(config).await {
            Ok(metadata) => metadata,
            Err(err) => return self.provider_error_page(&err, None),
        };
        let extra = self.authorization_params(request);
        let authorization = match self
            .inner
            .provider
            .authorization_request(config, metadata, &extra)
        {
            Ok(authorization) => authorization,
            Err(err) => return self.provider_error_page(&err, None),
        };

        let transaction = Transaction {
            state: authorization.state,
            nonce: authorization.nonce,
            pkce_verifier: authorization.pkce_verifier,
            return_to,
        };
        let cookie_name = self
            .transaction_cookie_name(&transaction.state)
            .expect("generated states are long base64url strings");
        let sealed = self.inner.transaction_sealer.seal(
            &cookie_name,
            &transaction,
            config.now() + TRANSACTION_LIFETIME_SECS,
        );

        tracing::debug!("starting sign-in at the provider");
        ResponseBuilder::redirect(&authorization.url)
            .cookie(set_cookie(
                &cookie_name,
                &sealed,
                self.transaction_scope(),
                TRANSACTION_LIFETIME_SECS,
            ))
            .build()
    }

    /// The extra authorization parameters of one sign-in: the configured
    /// ones, replaced by the allowed `login` query parameters of the same
    /// name.
    fn authorization_params(&self, request: &request::Parts) -> Vec<(String, String)> {
        let config = &self.inner.config;
        let mut params = config.authorization_params.clone();
        let query = request.uri.query().unwrap_or("");
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if !config.login_params.iter().any(|allowed| *allowed == name) {
                continue;
            }
            if value.is_empty() || value.len() > 512 {
                continue;
            }
            params.retain(|(existing, _)| *existing != name);
            params.push((name.into_owned(), value.into_owned()));
        }
        params
    }

    async fn callback(&self, request: &request::Parts) -> Response<Bytes> {
        let config = &self.inner.config;
        let login_href = format!("{}/login", config.mount_path);
        let state_param = CallbackParams::state_of(request.uri.query().unwrap_or(""));
        let transaction_cookie = state_param
            .as_deref()
            .and_then(|state| self.transaction_cookie_name(state));
        let cleanup = self.transaction_cleanup(&request.headers, transaction_cookie.as_deref());
        let page = |status: StatusCode, title: &str, detail: &str, cookies: &[HeaderValue]| {
            let mut response = error_page(status, title, detail, Some(&login_href))
                .header(http::header::REFERRER_POLICY, "no-referrer");
            for set_cookie in cookies {
                response = response.cookie(set_cookie.clone());
            }
            response.build()
        };
        // After the state matched, only this sign-in's transaction ends.
        let fail =
            |status: StatusCode, title: &str, detail: &str| page(status, title, detail, &cleanup);
        // Before, the response may be forged, so every sign-in in progress
        // in this browser ends: none of them can be trusted to be the user's.
        let abandon = |title: &str, detail: &str| {
            let removals =
                self.remove_all_transactions(&request.headers, transaction_cookie.as_deref());
            page(StatusCode::BAD_REQUEST, title, detail, &removals)
        };

        let params = match CallbackParams::parse(request.uri.query().unwrap_or("")) {
            Ok(params) => params,
            Err(reason) => {
                tracing::warn!(reason, "rejected callback: malformed query");
                return abandon("Sign-in failed", "The sign-in response was malformed.");
            }
        };

        let now = config.now();
        let transaction: Option<Transaction> = transaction_cookie.as_deref().and_then(|name| {
            cookie_values(&request.headers, name).find_map(|value| {
                self.inner
                    .transaction_sealer
                    .unseal(name, value, now)
                    .ok()
                    .map(|unsealed| unsealed.data)
            })
        });
        let Some(transaction) = transaction else {
            let prefix = &self.inner.transaction_cookie_prefix;
            let named = transaction_cookie
                .as_deref()
                .is_some_and(|name| cookie_values(&request.headers, name).next().is_some());
            let others = cookie_names_with_prefix(&request.headers, prefix)
                .next()
                .is_some();
            if state_param.is_none() {
                tracing::warn!("rejected callback: the state parameter is missing");
            } else if named {
                tracing::warn!(
                    "rejected callback: the sign-in transaction cookie is invalid or expired"
                );
            } else if others {
                tracing::warn!(
                    "rejected callback: the state matches no sign-in transaction in progress"
                );
            } else {
                tracing::warn!("rejected callback: no sign-in transaction cookie");
            }
            return abandon(
                "Sign-in failed",
                "This sign-in has expired or was started in another browser. Please sign in again.",
            );
        };

        let state_matches = params
            .state
            .as_deref()
            .is_some_and(|state| bool::from(state.as_bytes().ct_eq(transaction.state.as_bytes())));
        if !state_matches {
            tracing::warn!("rejected callback: state is missing or does not match");
            return abandon(
                "Sign-in failed",
                "The sign-in response does not belong to this browser's sign-in. Please sign in again.",
            );
        }

        if let Some(error) = &params.error {
            tracing::info!(error = %error, "the provider returned an error to the callback");
            let detail = match &params.error_description {
                Some(description) => format!("The provider answered {error}: {description}"),
                None => format!("The provider answered {error}."),
            };
            return fail(
                StatusCode::BAD_REQUEST,
                "Sign-in was not completed",
                &detail,
            );
        }

        let metadata = match self.inner.provider.metadata(config).await {
            Ok(metadata) => metadata,
            Err(err) => return self.provider_error_page(&err, Some(&login_href)),
        };

        // RFC 9207: the `iss` parameter names the provider that sent the
        // visitor back, which stops a mix-up between providers.
        match &params.iss {
            Some(iss) if iss != &config.issuer => {
                tracing::warn!("rejected callback: iss parameter names another issuer");
                return fail(
                    StatusCode::BAD_REQUEST,
                    "Sign-in failed",
                    "The sign-in response came from an unexpected provider.",
                );
            }
            None if metadata.authorization_response_iss_parameter_supported => {
                tracing::warn!(
                    "rejected callback: iss parameter missing although the provider sends it"
                );
                return fail(
                    StatusCode::BAD_REQUEST,
                    "Sign-in failed",
                    "The sign-in response is missing its issuer.",
                );
            }
            _ => {}
        }

        let Some(code) = params.code.as_deref().filter(|code| !code.is_empty()) else {
            tracing::warn!("rejected callback: no authorization code");
            return fail(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "The sign-in response has no authorization code.",
            );
        };

        let provider = &self.inner.provider;
        let tokens = match provider
            .exchange_code(config, metadata, code, &transaction.pkce_verifier)
            .await
        {
            Ok(tokens) => tokens,
            Err(err @ OidcError::InvalidGrant(_)) => {
                tracing::warn!(error = %err, "rejected callback");
                return fail(
                    StatusCode::BAD_REQUEST,
                    "Sign-in failed",
                    "The provider rejected this sign-in, perhaps because it was already used. Please sign in again.",
                );
            }
            Err(err) => {
                tracing::error!(error = %err, "code exchange failed");
                return fail(err.status(), "Sign-in failed", failure_detail(&err));
            }
        };

        let claims = match provider
            .verify_id_token(
                config,
                metadata,
                tokens.id_token.as_deref().unwrap_or_default(),
                &transaction.nonce,
                config.now(),
            )
            .await
        {
            Ok(claims) => claims,
            Err(err) => {
                tracing::error!(error = %err, "rejected ID token");
                return fail(err.status(), "Sign-in failed", failure_detail(&err));
            }
        };
        let provider_sid = claims
            .get("sid")
            .and_then(serde_json::Value::as_str)
            .filter(|sid| !sid.is_empty())
            .map(str::to_owned);
        let Some(mut user) = User::from_id_token_claims(claims, &config.claim_filter) else {
            tracing::error!("rejected ID token: sub is missing or empty");
            return fail(
                StatusCode::BAD_GATEWAY,
                "Sign-in failed",
                "The identity provider gave an invalid answer.",
            );
        };

        if config.fetch_userinfo {
            match provider.userinfo(metadata, &tokens.access_token).await {
                Ok(claims) => user.merge_userinfo(claims, &config.claim_filter),
                Err(err) => {
                    tracing::warn!(error = %err, "signed in without the userinfo claims");
                }
            }
        }

        if let Some(hook) = &self.inner.after_callback {
            user = match hook(user).await {
                Ok(user) => user,
                Err(denied) => {
                    tracing::info!(reason = %denied.message, "the after-callback hook denied a sign-in");
                    return page(
                        StatusCode::FORBIDDEN,
                        "Sign-in denied",
                        &denied.message,
                        &cleanup,
                    );
                }
            };
        }

        let issued_at = config.now();
        let payload = SessionPayload {
            id: random_token(16),
            issued_at,
            user,
            scopes: tokens.scopes.clone(),
            absolute_expires_at: issued_at + config.session_max_age.as_secs(),
            provider_sid,
        };
        let expires_at = (issued_at + config.session_inactivity_timeout.as_secs())
            .min(payload.absolute_expires_at);
        let sealed = self
            .inner
            .session_sealer
            .seal(&config.cookie_name, &payload, expires_at);
        let session_cookies = match self.session_cookie().write(
            &sealed,
            config.session_max_age.as_secs(),
            &request.headers,
        ) {
            Ok(set_cookies) => set_cookies,
            Err(err) => {
                tracing::error!(
                    error = %err,
                    "cannot store the session; keep large claims out of it with ConfigBuilder::claims"
                );
                return fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sign-in failed",
                    "Your account information is too large for this application's session. Please contact its administrator.",
                );
            }
        };

        let stored = StoredTokens::from_token_set(&payload.id, tokens);
        let tokens_cookies = match self.write_tokens(
            &stored,
            payload.absolute_expires_at,
            &request.headers,
        ) {
            Ok(set_cookies) => set_cookies,
            Err(err) => {
                tracing::error!(error = %err, "cannot store the tokens of the session");
                return fail(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Sign-in failed",
                        "The provider's tokens are too large for this application's session. Please contact its administrator.",
                    );
            }
        };

        tracing::info!(session = %payload.id, "signed in");
        let mut response = ResponseBuilder::redirect(&transaction.return_to)
            .header(http::header::REFERRER_POLICY, "no-referrer");
        for set_cookie in cleanup
            .into_iter()
            .chain(session_cookies)
            .chain(tokens_cookies)
        {
            response = response.cookie(set_cookie);
        }
        response.build()
    }

    async fn session_route(&self, headers: &HeaderMap) -> Response<Bytes> {
        let loaded = match self.load_session(headers).await {
            Ok(loaded) => loaded,
            Err(err) => {
                tracing::error!(error = %err, "cannot read the session");
                return err.response(true);
            }
        };
        let mut response = match &loaded.session {
            Some(session) => ResponseBuilder::json(StatusCode::OK, &session.to_json()),
            None => ResponseBuilder::json(
                StatusCode::UNAUTHORIZED,
                &serde_json::json!({"error": "unauthorized"}),
            ),
        };
        for set_cookie in loaded.set_cookies {
            response = response.cookie(set_cookie);
        }
        response.build()
    }

    pub(crate) fn provider_error_page(
        &self,
        err: &OidcError,
        retry: Option<&str>,
    ) -> Response<Bytes> {
        tracing::error!(error = %err, "cannot use the OpenID provider");
        error_page(
            err.status(),
            "Sign-in is unavailable",
            failure_detail(err),
            retry,
        )
        .build()
    }

    pub(crate) fn session_cookie(&self) -> SessionCookie<'_> {
        let config = &self.inner.config;
        SessionCookie {
            name: &config.cookie_name,
            scope: CookieScope {
                path: "/",
                domain: config.cookie_domain.as_deref(),
                secure: config.secure_cookies(),
            },
        }
    }

    fn transaction_scope(&self) -> CookieScope<'_> {
        CookieScope {
            path: &self.inner.transaction_cookie_path,
            domain: None,
            secure: self.inner.config.secure_cookies(),
        }
    }

    /// Names the transaction cookie of a sign-in after its `state`, or
    /// returns `None` for a `state` this library cannot have generated.
    fn transaction_cookie_name(&self, state: &str) -> Option<String> {
        let id = state.get(..TRANSACTION_ID_LEN)?;
        if !id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        {
            return None;
        }
        Some(format!("{}{id}", self.inner.transaction_cookie_prefix))
    }

    /// Returns the `Set-Cookie` values that remove every transaction cookie
    /// the request carries, and the one named `current` in any case.
    fn remove_all_transactions(
        &self,
        headers: &HeaderMap,
        current: Option<&str>,
    ) -> Vec<HeaderValue> {
        let prefix = &self.inner.transaction_cookie_prefix;
        let mut names: Vec<&str> = cookie_names_with_prefix(headers, prefix).collect();
        names.extend(current);
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .map(|name| remove_cookie(name, self.transaction_scope()))
            .collect()
    }

    /// Returns the `Set-Cookie` values that remove the transaction cookie
    /// of this callback, every transaction cookie that no longer unseals,
    /// and the oldest ones past [`MAX_TRANSACTIONS`].
    fn transaction_cleanup(&self, headers: &HeaderMap, current: Option<&str>) -> Vec<HeaderValue> {
        let prefix = &self.inner.transaction_cookie_prefix;
        let now = self.inner.config.now();
        let mut removals = Vec::new();
        let mut live: Vec<(u64, &str)> = Vec::new();

        for name in cookie_names_with_prefix(headers, prefix) {
            if Some(name) == current || live.iter().any(|(_, seen)| *seen == name) {
                continue;
            }
            let expires_at = cookie_values(headers, name).find_map(|value| {
                self.inner
                    .transaction_sealer
                    .unseal::<Transaction>(name, value, now)
                    .ok()
                    .map(|unsealed| unsealed.expires_at)
            });
            match expires_at {
                Some(expires_at) => live.push((expires_at, name)),
                None => removals.push(remove_cookie(name, self.transaction_scope())),
            }
        }

        live.sort_unstable();
        let excess = live.len().saturating_sub(MAX_TRANSACTIONS);
        for (_, name) in &live[..excess] {
            removals.push(remove_cookie(name, self.transaction_scope()));
        }

        let current = current
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{prefix}unknown"));
        removals.insert(0, remove_cookie(&current, self.transaction_scope()));
        removals
    }
}

/// Returns the sentence an error page shows for a failed step at the
/// provider. The reason itself goes to the log only.
pub(crate) fn failure_detail(err: &OidcError) -> &'static str {
    match err {
        OidcError::TimedOut(_) => {
            "The identity provider did not respond in time. Please try again in a moment."
        }
        OidcError::Unreachable(_) => {
            "The identity provider cannot be reached right now. Please try again in a moment."
        }
        _ => "The identity provider gave an invalid response.",
    }
}

/// The callback's query parameters. A parameter given twice is an error,
/// as RFC 6749, section 3.1, requires.
#[derive(Default)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl CallbackParams {
    /// Returns the first `state` parameter, to find the transaction cookie
    /// before the whole query is validated.
    fn state_of(query: &str) -> Option<String> {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "state")
            .map(|(_, value)| value.into_owned())
    }

    fn parse(query: &str) -> Result<CallbackParams, &'static str> {
        if query.len() > MAX_CALLBACK_QUERY_LEN {
            return Err("query too long");
        }

        let mut params = CallbackParams::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "code" => &mut params.code,
                "state" => &mut params.state,
                "iss" => &mut params.iss,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                _ => continue,
            };
            if slot.is_some() {
                return Err("repeated parameter");
            }
            *slot = Some(value.into_owned());
        }
        Ok(params)
    }
}

pub(crate) fn query_param(request: &request::Parts, name: &str) -> Option<String> {
    let query = request.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

pub(crate) fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_params_reject_repeats() {
        assert!(CallbackParams::parse("state=a&state=b&code=c").is_err());
        let params = CallbackParams::parse("code=c&state=s&iss=https%3A%2F%2Fidp&x=1").unwrap();
        assert_eq!(params.code.as_deref(), Some("c"));
        assert_eq!(params.iss.as_deref(), Some("https://idp"));
    }
}
