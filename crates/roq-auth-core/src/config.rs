//! Settings read once at start-up: from the environment with
//! [`Config::from_env`], or in code with [`Config::builder`].
//!
//! Every setting is validated when the configuration is built, so a
//! misconfigured application stops at start-up with an error naming the
//! setting, instead of failing on its first sign-in.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use url::Url;

/// Default path of the auth routes; see [`ConfigBuilder::mount_path`].
pub const DEFAULT_MOUNT_PATH: &str = "/api/auth";

/// Default name of the session cookie; see [`ConfigBuilder::cookie_name`].
pub const DEFAULT_COOKIE_NAME: &str = "roq_session";

/// Default claim that lists the user's roles; see [`ConfigBuilder::roles_claim`].
pub const DEFAULT_ROLES_CLAIM: &str = "roles";

const SECRET_HINT: &str =
    "set it to 64 hexadecimal characters, for example the output of `openssl rand -hex 32`";

/// An error in the configuration, naming the setting by its environment
/// variable.
///
/// The message never contains a secret value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required setting is absent.
    #[error("{name} is not set: {hint}")]
    Missing {
        /// The environment variable of the setting, such as `ROQ_SECRET`.
        name: &'static str,
        /// The expected value, as a hint for the fix.
        hint: &'static str,
    },
    /// A setting is present but unusable.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The environment variable of the setting, such as `ROQ_SECRET`.
        name: &'static str,
        /// The reason the value was rejected, and the fix.
        reason: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            name,
            reason: reason.into(),
        }
    }
}

/// The 32-byte application secret that every cookie key is derived from.
///
/// `Debug` prints `Secret(..)`: the bytes never reach a log.
#[derive(Clone)]
pub struct Secret([u8; 32]);

impl Secret {
    /// Parses a secret from 64 hexadecimal characters, the output of
    /// `openssl rand -hex 32`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `ROQ_SECRET` when the text is not
    /// exactly 64 hexadecimal characters. The error never repeats the text.
    pub fn from_hex(text: &str) -> Result<Secret, ConfigError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(ConfigError::invalid(
                "ROQ_SECRET",
                format!(
                    "expected 64 hexadecimal characters (32 bytes), found {} characters; {SECRET_HINT}",
                    text.chars().count()
                ),
            ));
        }

        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| {
            ConfigError::invalid(
                "ROQ_SECRET",
                format!("contains a character that is not hexadecimal; {SECRET_HINT}"),
            )
        })?;
        Ok(Secret(bytes))
    }

    /// Wraps 32 raw bytes, for secrets that come from a key manager rather
    /// than from text.
    pub fn from_bytes(bytes: [u8; 32]) -> Secret {
        Secret(bytes)
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A source of the current time in Unix seconds.
///
/// Every expiry check reads the time from the [`Config`]'s clock, so tests
/// can move time forward with [`ConfigBuilder::clock`] instead of waiting.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Returns the current time in Unix seconds.
    fn now(&self) -> u64;
}

/// The operating system's clock, the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0)
    }
}

/// The selection of ID-token claims a session keeps. `sub`, `name` and `email` are
/// always kept.
///
/// The session cookie carries every kept claim on every request, so leave
/// out large claims (such as group lists) that the application never reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClaimFilter {
    /// Keep every claim about the user. The default.
    #[default]
    All,
    /// Keep only these claims.
    Only(Vec<String>),
    /// Keep every claim but these.
    Except(Vec<String>),
}

impl ClaimFilter {
    /// Returns whether the claim `name` is kept.
    pub fn keeps(&self, name: &str) -> bool {
        match self {
            ClaimFilter::All => true,
            ClaimFilter::Only(names) => names.iter().any(|kept| kept == name),
            ClaimFilter::Except(names) => !names.iter().any(|dropped| dropped == name),
        }
    }
}

/// A client secret from the provider's registration. `Debug` redacts it.
#[derive(Clone)]
pub(crate) struct ClientSecret(String);

impl ClientSecret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

/// Validated settings of one application's sign-in.
///
/// Build it with [`Config::from_env`] or [`Config::builder`], then hand it to
/// [`Auth::new`](crate::Auth::new). `Debug` leaves out the secrets.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) secret: Secret,
    pub(crate) previous_secrets: Vec<Secret>,
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: ClientSecret,
    pub(crate) base_url: Url,
    pub(crate) post_logout_redirect_url: Url,
    pub(crate) mount_path: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) cookie_name: String,
    pub(crate) cookie_domain: Option<String>,
    pub(crate) session_max_age: Duration,
    pub(crate) session_inactivity_timeout: Duration,
    pub(crate) claim_filter: ClaimFilter,
    pub(crate) roles_claim: String,
    pub(crate) http_timeout: Duration,
    pub(crate) clock_leeway: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) jwks_max_age: Duration,
    pub(crate) access_token_refresh_leeway: Duration,
    pub(crate) authorization_params: Vec<(String, String)>,
    pub(crate) login_params: Vec<String>,
    pub(crate) fetch_userinfo: bool,
}

impl Config {
    /// Reads the configuration from the environment.
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `ROQ_SECRET` | 64 hexadecimal characters (32 bytes), from `openssl rand -hex 32` |
    /// | `ROQ_ISSUER_URL` | the OpenID provider's issuer, such as `https://login.example.com` |
    /// | `ROQ_CLIENT_ID` | the client id the provider registered for this application |
    /// | `ROQ_CLIENT_SECRET` | the client secret of that registration |
    /// | `ROQ_BASE_URL` | the application's public origin, such as `https://app.example.com` |
    /// | `ROQ_PREVIOUS_SECRETS` | optional: earlier secrets, comma-separated, newest first, still accepted when reading sessions |
    /// | `ROQ_SESSION_MAX_AGE` | optional: seconds a session lasts after sign-in, default 2592000 (30 days) |
    /// | `ROQ_SESSION_INACTIVITY_TIMEOUT` | optional: seconds without a request after which a session ends, default 86400 (24 hours) |
    /// | `ROQ_HTTP_TIMEOUT` | optional: seconds each request to the provider may take, default 10 |
    /// | `ROQ_POST_LOGOUT_REDIRECT_URL` | optional: where the provider sends the browser after signing out, default `ROQ_BASE_URL` followed by `/` |
    /// | `ROQ_SCOPES` | optional: scopes to request besides `openid`, space-separated, default `profile email`; add `offline_access` for a refresh token |
    /// | `ROQ_JWKS_MAX_AGE` | optional: seconds the provider's signing keys are used while it cannot be reached, default 86400 (24 hours) |
    /// | `ROQ_ACCESS_TOKEN_REFRESH_LEEWAY` | optional: seconds before its expiry at which an access token is refreshed, default 60 |
    /// | `ROQ_AUTHORIZATION_PARAMS` | optional: extra authorization request parameters, form-encoded, such as `audience=https%3A%2F%2Fapi.example.com&prompt=consent` |
    /// | `ROQ_FETCH_USERINFO` | optional: `true` to add the userinfo endpoint's claims to the session at sign-in, default `false` |
    ///
    /// # Errors
    ///
    /// The first missing or invalid variable, as a [`ConfigError`] that names it.
    pub fn from_env() -> Result<Config, ConfigError> {
        ConfigBuilder::from_env()?.build()
    }

    /// Starts a configuration in code. The settings left unset fail
    /// [`ConfigBuilder::build`] just as a missing variable fails
    /// [`Config::from_env`].
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The OpenID provider's issuer, exactly as configured.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The client id registered at the provider.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The application's public origin.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// Where the provider sends the browser after RP-initiated logout; it
    /// must be registered at the provider as a post-logout redirect URI.
    pub fn post_logout_redirect_url(&self) -> &Url {
        &self.post_logout_redirect_url
    }

    /// The path the auth routes are mounted at, such as `/api/auth`.
    pub fn mount_path(&self) -> &str {
        &self.mount_path
    }

    /// Logs a warning, once per process, when an auth route serves a request at
    /// `request_path` outside the configured mount path: the guards would
    /// then send visitors to a login route that does not exist.
    ///
    /// Adapters call this from their route handlers.
    pub fn warn_if_mounted_elsewhere(&self, request_path: &str) {
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

        let inside = request_path
            .strip_prefix(self.mount_path.as_str())
            .is_some_and(|rest| rest.starts_with('/'));
        if !inside && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                request_path,
                mount_path = %self.mount_path,
                "the auth routes are mounted outside the configured mount path; \
                 set ConfigBuilder::mount_path to where they are mounted"
            );
        }
    }

    /// The redirect URI registered at the provider: the base URL, the mount
    /// path and `/callback`. It never comes from request headers.
    pub fn redirect_uri(&self) -> String {
        format!("{}{}/callback", self.origin(), self.mount_path)
    }

    /// The name of the session cookie: the configured name, with the
    /// `__Host-` prefix when the cookie is Secure and has no Domain, because
    /// browsers then refuse a same-named cookie planted by a subdomain or
    /// over http.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The `Domain` attribute of the session cookie, if one was configured.
    pub fn cookie_domain(&self) -> Option<&str> {
        self.cookie_domain.as_deref()
    }

    /// How long a session lasts after sign-in, however active the user is.
    pub fn session_max_age(&self) -> Duration {
        self.session_max_age
    }

    /// How long a session lasts without a request.
    pub fn session_inactivity_timeout(&self) -> Duration {
        self.session_inactivity_timeout
    }

    /// The user claim that `role = "..."` checks, `roles` by default.
    pub fn roles_claim(&self) -> &str {
        &self.roles_claim
    }

    /// The current time in Unix seconds, from the configured clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Whether cookies carry the `Secure` attribute: true when the base URL
    /// is https.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The base URL without its trailing slash, such as `https://app.example.com`.
    pub(crate) fn origin(&self) -> String {
        self.base_url.origin().ascii_serialization()
    }
}

/// Builds a [`Config`] in code. Each setter names its environment variable
/// and default.
#[derive(Default)]
pub struct ConfigBuilder {
    secret: Option<String>,
    previous_secrets: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    base_url: Option<String>,
    post_logout_redirect_url: Option<String>,
    mount_path: Option<String>,
    scopes: Option<Vec<String>>,
    cookie_name: Option<String>,
    cookie_domain: Option<String>,
    session_max_age: Option<Duration>,
    session_inactivity_timeout: Option<Duration>,
    claim_filter: ClaimFilter,
    roles_claim: Option<String>,
    http_timeout: Option<Duration>,
    clock_leeway: Option<Duration>,
    clock: Option<Arc<dyn Clock>>,
    jwks_max_age: Option<Duration>,
    access_token_refresh_leeway: Option<Duration>,
    authorization_params: Vec<(String, String)>,
    login_params: Option<Vec<String>>,
    fetch_userinfo: bool,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// Starts a configuration from the environment variables that are set
    /// (see [`Config::from_env`] for the list), so code can add or override
    /// settings before [`ConfigBuilder::build`].
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming a variable that is set but not valid UTF-8,
    /// or a lifetime that is not a whole number of seconds. Missing
    /// variables fail later, in `build`.
    pub fn from_env() -> Result<ConfigBuilder, ConfigError> {
        let mut builder = ConfigBuilder {
            secret: env_var("ROQ_SECRET")?,
            issuer: env_var("ROQ_ISSUER_URL")?,
            client_id: env_var("ROQ_CLIENT_ID")?,
            client_secret: env_var("ROQ_CLIENT_SECRET")?,
            base_url: env_var("ROQ_BASE_URL")?,
            previous_secrets: env_var("ROQ_PREVIOUS_SECRETS")?,
            post_logout_redirect_url: env_var("ROQ_POST_LOGOUT_REDIRECT_URL")?,
            ..ConfigBuilder::default()
        };
        if let Some(seconds) = env_var("ROQ_SESSION_MAX_AGE")? {
            builder.session_max_age = Some(parse_seconds("ROQ_SESSION_MAX_AGE", &seconds)?);
        }
        if let Some(seconds) = env_var("ROQ_SESSION_INACTIVITY_TIMEOUT")? {
            builder.session_inactivity_timeout =
                Some(parse_seconds("ROQ_SESSION_INACTIVITY_TIMEOUT", &seconds)?);
        }
        if let Some(seconds) = env_var("ROQ_HTTP_TIMEOUT")? {
            builder.http_timeout = Some(parse_seconds("ROQ_HTTP_TIMEOUT", &seconds)?);
        }
        if let Some(scopes) = env_var("ROQ_SCOPES")? {
            builder.scopes = Some(scopes.split_whitespace().map(str::to_owned).collect());
        }
        if let Some(seconds) = env_var("ROQ_JWKS_MAX_AGE")? {
            builder.jwks_max_age = Some(parse_seconds("ROQ_JWKS_MAX_AGE", &seconds)?);
        }
        if let Some(params) = env_var("ROQ_AUTHORIZATION_PARAMS")? {
            for (name, value) in url::form_urlencoded::parse(params.trim().as_bytes()) {
                check_extra_param("ROQ_AUTHORIZATION_PARAMS", &name)?;
                builder
                    .authorization_params
                    .push((name.into_owned(), value.into_owned()));
            }
        }
        if let Some(flag) = env_var("ROQ_FETCH_USERINFO")? {
            builder.fetch_userinfo = match flag.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ConfigError::invalid(
                        "ROQ_FETCH_USERINFO",
                        "must be true or false",
                    ))
                }
            };
        }
        if let Some(seconds) = env_var("ROQ_ACCESS_TOKEN_REFRESH_LEEWAY")? {
            builder.access_token_refresh_leeway =
                Some(parse_seconds("ROQ_ACCESS_TOKEN_REFRESH_LEEWAY", &seconds)?);
        }
        Ok(builder)
    }

    /// Sets the application secret as 64 hexadecimal characters (`ROQ_SECRET`).
    pub fn secret(mut self, hex: impl Into<String>) -> Self {
        self.secret = Some(hex.into());
        self
    }

    /// Sets the provider's issuer URL (`ROQ_ISSUER_URL`).
    pub fn issuer_url(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the client id (`ROQ_CLIENT_ID`).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the client secret (`ROQ_CLIENT_SECRET`).
    pub fn client_secret(mut self, client_secret: impl Into<String>) -> Self {
        self.client_secret = Some(client_secret.into());
        self
    }

    /// Sets the application's public origin (`ROQ_BASE_URL`), such as
    /// `https://app.example.com`. Cookies are `Secure` when it is https.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Sets where the provider sends the browser after signing out
    /// (`ROQ_POST_LOGOUT_REDIRECT_URL`). Register it at the provider.
    ///
    /// The default value is the base URL followed by `/`.
    pub fn post_logout_redirect_url(mut self, url: impl Into<String>) -> Self {
        self.post_logout_redirect_url = Some(url.into());
        self
    }

    /// Sets the path the auth routes are mounted at.
    ///
    /// The default value is `/api/auth`. It must match where the application
    /// nests the routes, because the redirect URI and the login redirects of
    /// the guards are built from it.
    pub fn mount_path(mut self, path: impl Into<String>) -> Self {
        self.mount_path = Some(path.into());
        self
    }

    /// Sets the scopes requested at sign-in; `openid` is always added.
    ///
    /// The default value is `openid profile email`.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the name of the session cookie.
    ///
    /// The default value is `roq_session`.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = Some(name.into());
        self
    }

    /// Sets the earlier secrets (`ROQ_PREVIOUS_SECRETS`): comma-separated,
    /// each 64 hexadecimal characters, newest first.
    ///
    /// Sessions sealed under one of them are still accepted and are sealed
    /// again under the current secret on their next response, so a secret
    /// can be rotated without signing anyone out. The default is none.
    pub fn previous_secrets(mut self, secrets: impl Into<String>) -> Self {
        self.previous_secrets = Some(secrets.into());
        self
    }

    /// Sets the `Domain` attribute of the session cookie, to share the
    /// session with subdomains.
    ///
    /// The default is no `Domain`, which keeps the cookie to the exact host
    /// and allows the `__Host-` prefix on https.
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie_domain = Some(domain.into());
        self
    }

    /// Sets how long a session lasts after sign-in, however active the user
    /// is (`ROQ_SESSION_MAX_AGE`, in seconds).
    ///
    /// The default value is 30 days.
    pub fn session_max_age(mut self, max_age: Duration) -> Self {
        self.session_max_age = Some(max_age);
        self
    }

    /// Sets how long a session lasts without a request
    /// (`ROQ_SESSION_INACTIVITY_TIMEOUT`, in seconds). A request in the
    /// second half of the window renews it.
    ///
    /// The default value is 24 hours.
    pub fn session_inactivity_timeout(mut self, timeout: Duration) -> Self {
        self.session_inactivity_timeout = Some(timeout);
        self
    }

    /// Sets which ID-token claims the session keeps.
    ///
    /// The default value is [`ClaimFilter::All`].
    pub fn claims(mut self, filter: ClaimFilter) -> Self {
        self.claim_filter = filter;
        self
    }

    /// Sets the user claim that `role = "..."` checks in `#[require_auth]`
    /// and `#[with_auth]`, such as `groups` or `cognito:groups`.
    ///
    /// The default value is `roles`. The claim may be a string, which is one
    /// role, or an array of strings. Roles are compared exactly. A claim
    /// that [`claims`](Self::claims) filters out of the session is never
    /// found, so every role check fails.
    pub fn roles_claim(mut self, name: impl Into<String>) -> Self {
        self.roles_claim = Some(name.into());
        self
    }

    /// Sets the clock every expiry check reads, for tests that move time.
    ///
    /// The default value is [`SystemClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Sets the timeout of each request to the provider (`ROQ_HTTP_TIMEOUT`,
    /// in seconds).
    ///
    /// The default value is 10 seconds.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = Some(timeout);
        self
    }

    /// Sets the clock skew tolerated when checking ID-token times.
    ///
    /// The default value is 60 seconds.
    pub fn clock_leeway(mut self, leeway: Duration) -> Self {
        self.clock_leeway = Some(leeway);
        self
    }

    /// Sets how long the provider's signing keys stay usable while the
    /// provider cannot be reached (`ROQ_JWKS_MAX_AGE`, in seconds). Keys
    /// are downloaded again after half of it.
    ///
    /// The default value is 24 hours.
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = Some(max_age);
        self
    }

    /// Sets how long before its expiry an access token is refreshed
    /// (`ROQ_ACCESS_TOKEN_REFRESH_LEEWAY`, in seconds), so that it does not
    /// expire on the way to the API.
    ///
    /// The default value is 60 seconds.
    pub fn access_token_refresh_leeway(mut self, leeway: Duration) -> Self {
        self.access_token_refresh_leeway = Some(leeway);
        self
    }

    /// Adds a parameter to every authorization request, such as `audience`
    /// for a provider that issues access tokens per API.
    ///
    /// `build` refuses the parameters this library sets itself:
    /// `response_type`, `client_id`, `redirect_uri`, `scope`, `state`,
    /// `nonce`, `code_challenge` and `code_challenge_method`.
    pub fn authorization_param(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.authorization_params.push((name.into(), value.into()));
        self
    }

    /// Sets which query parameters of the `login` route are passed on to the
    /// provider, such as `/api/auth/login?prompt=login&login_hint=a@b.c`.
    /// A login parameter replaces an [`authorization_param`](Self::authorization_param)
    /// of the same name.
    ///
    /// The default value is `prompt`, `login_hint`, `screen_hint` and
    /// `ui_locales`. The parameters this library sets itself are refused.
    pub fn login_params<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.login_params = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Fetches the user's claims from the provider's userinfo endpoint at
    /// sign-in and adds them to the session. Claims whose `sub` differs from
    /// the ID token's are discarded, as OpenID Connect Core 1.0, section
    /// 5.3.4, requires.
    ///
    /// The default value is `false`.
    pub fn fetch_userinfo(mut self, fetch: bool) -> Self {
        self.fetch_userinfo = fetch;
        self
    }

    /// Validates every setting and returns the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first missing or invalid setting by its
    /// environment variable.
    pub fn build(self) -> Result<Config, ConfigError> {
        let secret = Secret::from_hex(&required(self.secret, "ROQ_SECRET", SECRET_HINT)?)?;
        let issuer = parse_issuer(&required(
            self.issuer,
            "ROQ_ISSUER_URL",
            "set it to the OpenID provider's issuer URL, such as https://login.example.com",
        )?)?;
        let client_id = required(
            self.client_id,
            "ROQ_CLIENT_ID",
            "set it to the client id from the provider's application registration",
        )?;
        let client_secret = required(
            self.client_secret,
            "ROQ_CLIENT_SECRET",
            "set it to the client secret from the provider's application registration",
        )?;
        let base_url = parse_base_url(&required(
            self.base_url,
            "ROQ_BASE_URL",
            "set it to the application's public origin, such as https://app.example.com",
        )?)?;
        let mount_path =
            parse_mount_path(self.mount_path.as_deref().unwrap_or(DEFAULT_MOUNT_PATH))?;
        let post_logout_redirect_url = match self.post_logout_redirect_url.as_deref() {
            Some(text) => parse_post_logout_redirect_url(text)?,
            None => base_url.clone(),
        };
        let previous_secrets = parse_previous_secrets(self.previous_secrets.as_deref())?;
        let cookie_domain = self
            .cookie_domain
            .as_deref()
            .map(parse_cookie_domain)
            .transpose()?;
        let mut cookie_name =
            parse_cookie_name(self.cookie_name.as_deref().unwrap_or(DEFAULT_COOKIE_NAME))?;
        let has_prefix = cookie_name.starts_with("__Host-") || cookie_name.starts_with("__Secure-");
        if base_url.scheme() == "https" && cookie_domain.is_none() && !has_prefix {
            cookie_name = format!("__Host-{cookie_name}");
        }

        let session_max_age = self
            .session_max_age
            .unwrap_or(Duration::from_secs(30 * 24 * 60 * 60));
        let session_inactivity_timeout = self
            .session_inactivity_timeout
            .unwrap_or(Duration::from_secs(24 * 60 * 60));
        if session_max_age.as_secs() == 0 {
            return Err(ConfigError::invalid(
                "ROQ_SESSION_MAX_AGE",
                "must be at least 1 second",
            ));
        }
        if self.http_timeout.is_some_and(|timeout| timeout.is_zero()) {
            return Err(ConfigError::invalid(
                "ROQ_HTTP_TIMEOUT",
                "must be at least 1 second",
            ));
        }
        if session_inactivity_timeout.as_secs() == 0 {
            return Err(ConfigError::invalid(
                "ROQ_SESSION_INACTIVITY_TIMEOUT",
                "must be at least 1 second",
            ));
        }

        let roles_claim = self
            .roles_claim
            .unwrap_or_else(|| DEFAULT_ROLES_CLAIM.to_owned());
        if roles_claim.is_empty() {
            return Err(ConfigError::invalid(
                "roles_claim",
                "must not be empty; the default is \"roles\"",
            ));
        }

        let mut scopes = vec!["openid".to_owned()];
        let requested = self
            .scopes
            .unwrap_or_else(|| vec!["profile".to_owned(), "email".to_owned()]);
        for scope in requested {
            if scope.contains(',') {
                // A comma is legal in a scope token, but here it is almost
                // always a list written the wrong way, which providers
                // accept silently while granting none of the scopes.
                return Err(ConfigError::invalid(
                    "ROQ_SCOPES",
                    format!("{scope:?} contains a comma; separate scopes with spaces, such as \"profile email\""),
                ));
            }
            if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ConfigError::invalid(
                    "ROQ_SCOPES",
                    format!("{scope:?} is not a single scope token"),
                ));
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }

        for (name, _) in &self.authorization_params {
            check_extra_param("authorization_param", name)?;
        }
        let login_params = self.login_params.unwrap_or_else(|| {
            DEFAULT_LOGIN_PARAMS
                .iter()
                .map(|name| (*name).to_owned())
                .collect()
        });
        for name in &login_params {
            check_extra_param("login_params", name)?;
        }
        let jwks_max_age = self
            .jwks_max_age
            .unwrap_or(Duration::from_secs(24 * 60 * 60));
        if jwks_max_age.as_secs() < 2 {
            return Err(ConfigError::invalid(
                "ROQ_JWKS_MAX_AGE",
                "must be at least 2 seconds",
            ));
        }

        Ok(Config {
            jwks_max_age,
            access_token_refresh_leeway: self
                .access_token_refresh_leeway
                .unwrap_or(Duration::from_secs(60)),
            authorization_params: self.authorization_params,
            login_params,
            fetch_userinfo: self.fetch_userinfo,
            secret,
            previous_secrets,
            issuer,
            client_id,
            client_secret: ClientSecret(client_secret),
            base_url,
            post_logout_redirect_url,
            mount_path,
            scopes,
            cookie_name,
            cookie_domain,
            session_max_age,
            session_inactivity_timeout,
            claim_filter: self.claim_filter,
            roles_claim,
            http_timeout: self.http_timeout.unwrap_or(Duration::from_secs(10)),
            clock_leeway: self.clock_leeway.unwrap_or(Duration::from_secs(60)),
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
        })
    }
}

/// Query parameters of the `login` route passed on to the provider unless
/// [`ConfigBuilder::login_params`] sets others.
const DEFAULT_LOGIN_PARAMS: &[&str] = &["prompt", "login_hint", "screen_hint", "ui_locales"];

/// Authorization request parameters this library sets itself, which no
/// setting may override.
pub(crate) const RESERVED_AUTHORIZATION_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

fn check_extra_param(setting: &'static str, name: &str) -> Result<(), ConfigError> {
    if RESERVED_AUTHORIZATION_PARAMS.contains(&name) {
        return Err(ConfigError::invalid(
            setting,
            format!("{name:?} is set by roq-auth itself and cannot be overridden"),
        ));
    }
    if name.is_empty()
        || !name.bytes().all(|byte| {
            byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' || byte == b'.'
        })
    {
        return Err(ConfigError::invalid(
            setting,
            format!("{name:?} is not a parameter name"),
        ));
    }
    Ok(())
}

pub(crate) fn env_var(name: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(ConfigError::invalid(name, "is not valid UTF-8"))
        }
    }
}

fn required(
    value: Option<String>,
    name: &'static str,
    hint: &'static str,
) -> Result<String, ConfigError> {
    match value {
        Some(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        _ => Err(ConfigError::Missing { name, hint }),
    }
}

/// Checks the issuer but returns it as written: ID tokens are compared with
/// it character for character, and `Url` would add a trailing slash.
fn parse_issuer(text: &str) -> Result<String, ConfigError> {
    const NAME: &str = "ROQ_ISSUER_URL";
    let url = Url::parse(text)
        .map_err(|err| ConfigError::invalid(NAME, format!("{text:?} is not a URL ({err}); write the whole URL, such as https://login.example.com")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(ConfigError::invalid(
            NAME,
            format!("{text:?} must start with https:// (or http:// for a local provider)"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::invalid(
            NAME,
            format!("{text:?} must not have a query or fragment"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::invalid(
            NAME,
            "must not contain a user name or password",
        ));
    }
    Ok(text.to_owned())
}

fn parse_base_url(text: &str) -> Result<Url, ConfigError> {
    const NAME: &str = "ROQ_BASE_URL";
    let url = Url::parse(text)
        .map_err(|err| ConfigError::invalid(NAME, format!("{text:?} is not a URL ({err}); write the whole URL, such as https://app.example.com")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(ConfigError::invalid(
            NAME,
            format!("{text:?} must start with https:// or http://"),
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::invalid(
            NAME,
            format!("{text:?} must be an origin only, such as https://app.example.com, without a path, query or fragment"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::invalid(
            NAME,
            "must not contain a user name or password",
        ));
    }
    Ok(url)
}

fn parse_post_logout_redirect_url(text: &str) -> Result<Url, ConfigError> {
    const NAME: &str = "ROQ_POST_LOGOUT_REDIRECT_URL";
    let url = Url::parse(text)
        .map_err(|err| ConfigError::invalid(NAME, format!("{text:?} is not a URL ({err}); write the whole URL, such as https://app.example.com/")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(ConfigError::invalid(
            NAME,
            format!("{text:?} must start with https:// or http://"),
        ));
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::invalid(
            NAME,
            format!("{text:?} must not have a fragment, user name or password"),
        ));
    }
    Ok(url)
}

fn parse_mount_path(path: &str) -> Result<String, ConfigError> {
    let trimmed = path.trim_end_matches('/');
    let valid = trimmed.starts_with('/')
        && !trimmed.starts_with("//")
        && trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c));
    if !valid {
        return Err(ConfigError::invalid(
            "mount_path",
            format!("{path:?} must be an absolute path such as /api/auth, made of letters, digits and / - _ . ~"),
        ));
    }
    Ok(trimmed.to_owned())
}

fn parse_previous_secrets(text: Option<&str>) -> Result<Vec<Secret>, ConfigError> {
    const NAME: &str = "ROQ_PREVIOUS_SECRETS";
    let Some(text) = text else {
        return Ok(Vec::new());
    };

    let mut secrets = Vec::new();
    for (index, part) in text.split(',').map(str::trim).enumerate() {
        if part.is_empty() {
            continue;
        }
        let secret = Secret::from_hex(part).map_err(|_| {
            ConfigError::invalid(
                NAME,
                format!(
                    "entry {} is not 64 hexadecimal characters; list earlier secrets comma-separated, newest first",
                    index + 1
                ),
            )
        })?;
        secrets.push(secret);
    }
    Ok(secrets)
}

fn parse_seconds(name: &'static str, text: &str) -> Result<Duration, ConfigError> {
    text.trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| {
            ConfigError::invalid(name, format!("{text:?} is not a whole number of seconds"))
        })
}

fn parse_cookie_domain(domain: &str) -> Result<String, ConfigError> {
    let domain = domain.trim().trim_start_matches('.');
    let valid = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !valid {
        return Err(ConfigError::invalid(
            "cookie_domain",
            format!("{domain:?} is not a host name such as example.com"),
        ));
    }
    Ok(domain.to_ascii_lowercase())
}

fn parse_cookie_name(name: &str) -> Result<String, ConfigError> {
    // RFC 6265 cookie-name is an RFC 7230 token.
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
    if !valid {
        return Err(ConfigError::invalid(
            "cookie_name",
            format!("{name:?} is not a valid cookie name"),
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn complete() -> ConfigBuilder {
        Config::builder()
            .secret(SECRET)
            .issuer_url("https://login.example.com")
            .client_id("app")
            .client_secret("shh-client-secret")
            .base_url("https://app.example.com")
    }

    fn invalid_name(result: Result<Config, ConfigError>) -> &'static str {
        match result {
            Err(ConfigError::Invalid { name, .. }) | Err(ConfigError::Missing { name, .. }) => name,
            Ok(_) => panic!("configuration was accepted"),
        }
    }

    #[test]
    fn builder_accepts_complete_settings() {
        let config = complete().build().unwrap();
        assert_eq!(config.issuer(), "https://login.example.com");
        assert_eq!(
            config.redirect_uri(),
            "https://app.example.com/api/auth/callback"
        );
        assert!(config.secure_cookies());
        assert_eq!(config.scopes, ["openid", "profile", "email"]);
    }

    #[test]
    fn missing_settings_are_named() {
        assert_eq!(invalid_name(Config::builder().build()), "ROQ_SECRET");
        assert_eq!(
            invalid_name(Config::builder().secret(SECRET).build()),
            "ROQ_ISSUER_URL"
        );
        assert_eq!(
            invalid_name(complete().client_secret("  ").build()),
            "ROQ_CLIENT_SECRET"
        );
    }

    #[test]
    fn secret_of_63_characters_is_rejected() {
        let err = complete().secret(&SECRET[1..]).build().unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("ROQ_SECRET is invalid"), "{message}");
        assert!(message.contains("found 63 characters"), "{message}");
        assert!(message.contains("openssl rand -hex 32"), "{message}");
    }

    #[test]
    fn secret_with_non_hex_character_is_rejected_without_echo() {
        let bad = format!("{}zz", &SECRET[2..]);
        let message = complete()
            .secret(bad.clone())
            .build()
            .unwrap_err()
            .to_string();
        assert!(message.contains("not hexadecimal"), "{message}");
        assert!(!message.contains(&bad), "the secret leaked into {message}");
    }

    #[test]
    fn issuer_must_be_a_url() {
        assert_eq!(
            invalid_name(complete().issuer_url("login.example.com").build()),
            "ROQ_ISSUER_URL"
        );
        assert_eq!(
            invalid_name(complete().issuer_url("ftp://login.example.com").build()),
            "ROQ_ISSUER_URL"
        );
    }

    #[test]
    fn base_url_with_path_or_query_is_rejected() {
        for bad in [
            "https://app.example.com/app",
            "https://app.example.com/?x=1",
            "app.example.com",
            "https://user:pw@app.example.com",
        ] {
            assert_eq!(
                invalid_name(complete().base_url(bad).build()),
                "ROQ_BASE_URL",
                "{bad}"
            );
        }
        let config = complete()
            .base_url("http://127.0.0.1:3000/")
            .build()
            .unwrap();
        assert!(!config.secure_cookies());
        assert_eq!(
            config.redirect_uri(),
            "http://127.0.0.1:3000/api/auth/callback"
        );
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let config = complete().build().unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
        assert!(!debug.contains("shh-client-secret"), "{debug}");
        assert!(debug.contains("Secret(..)"), "{debug}");
    }

    #[test]
    fn mount_path_is_normalised_and_checked() {
        assert_eq!(
            complete()
                .mount_path("/auth/")
                .build()
                .unwrap()
                .mount_path(),
            "/auth"
        );
        assert_eq!(
            invalid_name(complete().mount_path("auth").build()),
            "mount_path"
        );
        assert_eq!(
            invalid_name(complete().mount_path("//evil").build()),
            "mount_path"
        );
    }
}
