//! Settings read once at start-up: from the environment with
//! [`Config::from_env`], or in code with [`Config::builder`].
//!
//! Every setting is validated when the configuration is built, so a
//! misconfigured application stops at start-up with an error naming the
//! setting, instead of failing on its first sign-in.

use std::fmt;
use std::time::Duration;

use url::Url;

/// Default path of the auth routes; see [`ConfigBuilder::mount_path`].
pub const DEFAULT_MOUNT_PATH: &str = "/api/auth";

/// Default name of the session cookie; see [`ConfigBuilder::cookie_name`].
pub const DEFAULT_COOKIE_NAME: &str = "roq_session";

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
    fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
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
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: ClientSecret,
    pub(crate) base_url: Url,
    pub(crate) mount_path: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) cookie_name: String,
    pub(crate) session_lifetime: Duration,
    pub(crate) http_timeout: Duration,
    pub(crate) clock_leeway: Duration,
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
    ///
    /// # Errors
    ///
    /// The first missing or invalid variable, as a [`ConfigError`] that names it.
    pub fn from_env() -> Result<Config, ConfigError> {
        let mut builder = Config::builder();
        builder.secret = env_var("ROQ_SECRET")?;
        builder.issuer = env_var("ROQ_ISSUER_URL")?;
        builder.client_id = env_var("ROQ_CLIENT_ID")?;
        builder.client_secret = env_var("ROQ_CLIENT_SECRET")?;
        builder.base_url = env_var("ROQ_BASE_URL")?;
        builder.build()
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

    /// The path the auth routes are mounted at, such as `/api/auth`.
    pub fn mount_path(&self) -> &str {
        &self.mount_path
    }

    /// The redirect URI registered at the provider: the base URL, the mount
    /// path and `/callback`. It never comes from request headers.
    pub fn redirect_uri(&self) -> String {
        format!("{}{}/callback", self.origin(), self.mount_path)
    }

    /// The name of the session cookie.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
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
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    base_url: Option<String>,
    mount_path: Option<String>,
    scopes: Option<Vec<String>>,
    cookie_name: Option<String>,
    session_lifetime: Option<Duration>,
    http_timeout: Option<Duration>,
    clock_leeway: Option<Duration>,
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

    /// Sets how long a session lasts after sign-in.
    ///
    /// The default value is 24 hours.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = Some(lifetime);
        self
    }

    /// Sets the timeout of each request to the provider.
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
        let cookie_name =
            parse_cookie_name(self.cookie_name.as_deref().unwrap_or(DEFAULT_COOKIE_NAME))?;

        let mut scopes = vec!["openid".to_owned()];
        let requested = self
            .scopes
            .unwrap_or_else(|| vec!["profile".to_owned(), "email".to_owned()]);
        for scope in requested {
            if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ConfigError::invalid(
                    "scopes",
                    format!("{scope:?} is not a single scope token"),
                ));
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }

        Ok(Config {
            secret,
            issuer,
            client_id,
            client_secret: ClientSecret(client_secret),
            base_url,
            mount_path,
            scopes,
            cookie_name,
            session_lifetime: self
                .session_lifetime
                .unwrap_or(Duration::from_secs(24 * 60 * 60)),
            http_timeout: self.http_timeout.unwrap_or(Duration::from_secs(10)),
            clock_leeway: self.clock_leeway.unwrap_or(Duration::from_secs(60)),
        })
    }
}

fn env_var(name: &'static str) -> Result<Option<String>, ConfigError> {
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
        .map_err(|err| ConfigError::invalid(NAME, format!("{text:?} is not a URL ({err})")))?;
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
        .map_err(|err| ConfigError::invalid(NAME, format!("{text:?} is not a URL ({err})")))?;
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
