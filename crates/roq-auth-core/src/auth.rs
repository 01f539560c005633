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
use crate::seal::{Purpose, Sealer};
use crate::session::{Session, SessionPayload, User};
use crate::session_cache::{CachedSession, SessionCache};
use crate::session_cookie::{SessionCookie, SessionTooLarge};

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
}

impl AuthRoute {
    /// Every route, with its path segment.
    pub const ALL: [(AuthRoute, &'static str); 4] = [
        (AuthRoute::Login, "login"),
        (AuthRoute::Callback, "callback"),
        (AuthRoute::Session, "session"),
        (AuthRoute::Logout, "logout"),
    ];

    fn allows(self, method: &Method) -> bool {
        match self {
            AuthRoute::Logout => {
                method == Method::GET || method == Method::HEAD || method == Method::POST
            }
            _ => method == Method::GET || method == Method::HEAD,
        }
    }

    fn allow_header(self) -> &'static str {
        match self {
            AuthRoute::Logout => "GET, HEAD, POST",
            _ => "GET, HEAD",
        }
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
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    provider: Provider,
    session_sealer: Sealer,
    /// Session cookie values already unsealed, so that repeat requests
    /// skip decryption and parsing.
    session_cache: SessionCache,
    transaction_sealer: Sealer,
    /// The callback path: transaction cookies only need to reach the
    /// callback, so they are scoped there and stay off every other request.
    transaction_cookie_path: String,
    /// `__Secure-` on https, where browsers then refuse to let plain http
    /// responses set or overwrite the cookie.
    transaction_cookie_prefix: String,
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
    /// Builds the sign-in from a validated configuration.
    pub fn new(config: Config) -> Auth {
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
        Auth {
            inner: Arc::new(Inner {
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
    /// [`Config::from_env`]) and builds the sign-in.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first missing or invalid variable.
    pub fn from_env() -> Result<Auth, ConfigError> {
        Config::from_env().map(Auth::new)
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
    /// Adapters call this from their route handlers. Every response carries
    /// `Cache-Control: private, no-store`; a wrong method gets 405.
    pub async fn handle(&self, route: AuthRoute, request: &request::Parts) -> Response<Bytes> {
        if !route.allows(&request.method) {
            return ResponseBuilder::json(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "method_not_allowed"}),
            )
            .header(http::header::ALLOW, route.allow_header())
            .build();
        }

        match route {
            AuthRoute::Login => self.login(request).await,
            AuthRoute::Callback => self.callback(request).await,
            AuthRoute::Session => self.session_route(&request.headers),
            AuthRoute::Logout => self.logout(request).await,
        }
    }

    /// Returns the valid session in the request's cookies, if any.
    ///
    /// A cookie that was altered, expired, or sealed under an unknown key is
    /// ignored, as if the visitor were signed out.
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        self.read_session(headers).map(|(session, _)| session)
    }

    /// Returns the valid session in the request's cookies, with the
    /// `Set-Cookie` values the response should carry to keep the cookie
    /// current.
    ///
    /// Adapters call this once per request that reads the session and add
    /// the values to the response. The cookie is sealed again when a
    /// previous secret sealed it, or when less than half of the inactivity
    /// window is left. An invalid cookie is removed.
    pub fn load_session(&self, headers: &HeaderMap) -> LoadedSession {
        let cookie = self.session_cookie();
        let Some((session, needs_reseal)) = self.read_session(headers) else {
            let set_cookies = if cookie.is_present(headers) {
                tracing::debug!("removing an invalid or expired session cookie");
                cookie.remove(headers)
            } else {
                Vec::new()
            };
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
                    let unsealed = self
                        .inner
                        .session_sealer
                        .unseal::<SessionPayload>(name, &value, now)
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
            // NOTE: once sessions can be revoked, the revocation check
            // belongs here, after the cache, so that it runs on every hit.

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
        let authorization = match self.inner.provider.authorization_request(config, metadata) {
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
                &tokens.id_token,
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
        let Some(user) = User::from_id_token_claims(claims, &config.claim_filter) else {
            tracing::error!("rejected ID token: sub is missing or empty");
            return fail(
                StatusCode::BAD_GATEWAY,
                "Sign-in failed",
                "The identity provider gave an invalid answer.",
            );
        };

        let issued_at = config.now();
        let payload = SessionPayload {
            id: random_token(16),
            issued_at,
            user,
            scopes: tokens.scopes,
            absolute_expires_at: issued_at + config.session_max_age.as_secs(),
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

        tracing::info!(session = %payload.id, "signed in");
        let mut response = ResponseBuilder::redirect(&transaction.return_to)
            .header(http::header::REFERRER_POLICY, "no-referrer");
        for set_cookie in cleanup.into_iter().chain(session_cookies) {
            response = response.cookie(set_cookie);
        }
        response.build()
    }

    fn session_route(&self, headers: &HeaderMap) -> Response<Bytes> {
        match self.session(headers) {
            Some(session) => ResponseBuilder::json(StatusCode::OK, &session.to_json()).build(),
            None => ResponseBuilder::json(
                StatusCode::UNAUTHORIZED,
                &serde_json::json!({"error": "unauthorized"}),
            )
            .build(),
        }
    }

    /// Ends the session here, in the same response, then signs out at the
    /// provider when it supports RP-initiated logout (OpenID Connect
    /// RP-Initiated Logout 1.0). Without a session, or without an
    /// `end_session_endpoint`, it redirects to the validated `returnTo`.
    async fn logout(&self, request: &request::Parts) -> Response<Bytes> {
        let config = &self.inner.config;
        let return_to = sanitize_return_to(query_param(request, "returnTo").as_deref());
        let session = self.session(&request.headers);

        let mut target = return_to;
        if let Some(session) = &session {
            tracing::info!(session = %session.id, "signed out");
            match self.inner.provider.metadata(config).await {
                Ok(metadata) => {
                    if let Some(endpoint) = end_session_url(config, metadata) {
                        target = endpoint;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "signed out here only: the provider is unavailable");
                }
            }
        }

        let mut response = ResponseBuilder::redirect(&target);
        for set_cookie in self.session_cookie().remove(&request.headers) {
            response = response.cookie(set_cookie);
        }
        response.build()
    }

    fn provider_error_page(&self, err: &OidcError, retry: Option<&str>) -> Response<Bytes> {
        tracing::error!(error = %err, "cannot use the OpenID provider");
        error_page(
            err.status(),
            "Sign-in is unavailable",
            failure_detail(err),
            retry,
        )
        .build()
    }

    fn session_cookie(&self) -> SessionCookie<'_> {
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

/// Builds the provider's end-session URL with `client_id` and the
/// configured `post_logout_redirect_uri`, or returns `None` when the
/// provider has no end-session endpoint.
// TODO: send `id_token_hint` too, which needs the ID token kept outside the
// session cookie, and a `state` checked on the way back.
fn end_session_url(config: &Config, metadata: &crate::oidc::ProviderMetadata) -> Option<String> {
    let endpoint = metadata.end_session_endpoint.as_deref()?;
    let mut url = url::Url::parse(endpoint).ok()?;
    url.query_pairs_mut()
        .append_pair("client_id", &config.client_id)
        .append_pair(
            "post_logout_redirect_uri",
            config.post_logout_redirect_url.as_str(),
        );
    Some(url.into())
}

/// Returns the sentence an error page shows for a failed step at the
/// provider. The reason itself goes to the log only.
fn failure_detail(err: &OidcError) -> &'static str {
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

fn query_param(request: &request::Parts, name: &str) -> Option<String> {
    let query = request.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn random_token(bytes: usize) -> String {
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
