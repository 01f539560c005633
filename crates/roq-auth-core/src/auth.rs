//! [`Auth`]: the configured sign-in of one application, serving the auth
//! routes and answering the guards.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{request, HeaderMap, Method, Response, StatusCode};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::config::{Config, ConfigError};
use crate::oidc::{OidcError, Provider};
use crate::response::{
    cookie_values, error_page, remove_cookie, set_cookie, CookieScope, ResponseBuilder,
};
use crate::return_to::sanitize_return_to;
use crate::seal::{Purpose, Sealer};
use crate::session::{Session, SessionPayload, User};

/// Name of the cookie that carries one sign-in from login to callback.
const TRANSACTION_COOKIE: &str = "roq_tx";

/// How long a visitor has to finish signing in at the provider.
const TRANSACTION_LIFETIME_SECS: u64 = 10 * 60;

/// Longest query string the callback reads; real ones are a few hundred
/// bytes.
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

/// What the transaction cookie holds, inside the seal.
#[derive(Serialize, Deserialize)]
struct Transaction {
    state: String,
    nonce: String,
    #[serde(rename = "pkce")]
    pkce_verifier: String,
    return_to: String,
}

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
    transaction_sealer: Sealer,
    /// The callback path: the transaction cookie only needs to reach the
    /// callback, so it is scoped there and stays off every other request.
    transaction_cookie_path: String,
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
        let session_sealer = Sealer::new(&config.secret, Purpose::Session);
        let transaction_sealer = Sealer::new(&config.secret, Purpose::Transaction);
        let transaction_cookie_path = format!("{}/callback", config.mount_path);
        Auth {
            inner: Arc::new(Inner {
                transaction_cookie_path,
                config,
                provider,
                session_sealer,
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

    /// The configuration this sign-in was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Answers a request to one of the auth routes.
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
            AuthRoute::Logout => self.logout(request),
        }
    }

    /// Returns the valid session in the request's cookies, if any.
    ///
    /// A cookie that was altered, expired, or sealed under another key is
    /// ignored, as if the visitor were signed out.
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let name = &self.inner.config.cookie_name;
        let now = unix_now();
        cookie_values(headers, name).find_map(|value| {
            let (payload, expires_at): (SessionPayload, u64) =
                self.inner.session_sealer.unseal(name, value, now).ok()?;
            Some(Session {
                id: payload.id,
                user: payload.user,
                scopes: payload.scopes,
                issued_at: payload.issued_at,
                expires_at,
            })
        })
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
        let sealed = self.inner.transaction_sealer.seal(
            TRANSACTION_COOKIE,
            &transaction,
            unix_now() + TRANSACTION_LIFETIME_SECS,
        );

        tracing::debug!("starting sign-in at the provider");
        ResponseBuilder::redirect(&authorization.url)
            .cookie(set_cookie(
                TRANSACTION_COOKIE,
                &sealed,
                self.transaction_scope(),
                TRANSACTION_LIFETIME_SECS,
            ))
            .build()
    }

    async fn callback(&self, request: &request::Parts) -> Response<Bytes> {
        let config = &self.inner.config;
        let login_href = format!("{}/login", config.mount_path);
        let fail = |status: StatusCode, title: &str, detail: &str| {
            error_page(status, title, detail, Some(&login_href))
                .cookie(remove_cookie(TRANSACTION_COOKIE, self.transaction_scope()))
                .header(http::header::REFERRER_POLICY, "no-referrer")
                .build()
        };

        let params = match CallbackParams::parse(request.uri.query().unwrap_or("")) {
            Ok(params) => params,
            Err(reason) => {
                tracing::warn!(reason, "rejected callback: malformed query");
                return fail(
                    StatusCode::BAD_REQUEST,
                    "Sign-in failed",
                    "The sign-in response was malformed.",
                );
            }
        };

        let now = unix_now();
        let transaction: Option<Transaction> = cookie_values(&request.headers, TRANSACTION_COOKIE)
            .find_map(|value| {
                self.inner
                    .transaction_sealer
                    .unseal(TRANSACTION_COOKIE, value, now)
                    .ok()
                    .map(|(transaction, _)| transaction)
            });
        let Some(transaction) = transaction else {
            tracing::warn!("rejected callback: no valid sign-in transaction cookie");
            return fail(
                StatusCode::BAD_REQUEST,
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
            return fail(
                StatusCode::BAD_REQUEST,
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

        // RFC 9207: the `iss` parameter tells which provider sent the
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
                return fail(
                    StatusCode::BAD_GATEWAY,
                    "Sign-in failed",
                    "The identity provider gave an invalid answer.",
                );
            }
        };

        let claims = match provider
            .verify_id_token(
                config,
                metadata,
                &tokens.id_token,
                &transaction.nonce,
                unix_now(),
            )
            .await
        {
            Ok(claims) => claims,
            Err(err) => {
                tracing::error!(error = %err, "rejected ID token");
                return fail(
                    StatusCode::BAD_GATEWAY,
                    "Sign-in failed",
                    "The identity provider gave an invalid answer.",
                );
            }
        };
        let Some(user) = User::from_id_token_claims(claims) else {
            tracing::error!("rejected ID token: sub is missing or empty");
            return fail(
                StatusCode::BAD_GATEWAY,
                "Sign-in failed",
                "The identity provider gave an invalid answer.",
            );
        };

        let issued_at = unix_now();
        let lifetime = config.session_lifetime.as_secs();
        let payload = SessionPayload {
            id: random_token(16),
            issued_at,
            user,
            scopes: tokens.scopes,
        };
        let sealed =
            self.inner
                .session_sealer
                .seal(&config.cookie_name, &payload, issued_at + lifetime);

        tracing::info!(session = %payload.id, "signed in");
        ResponseBuilder::redirect(&transaction.return_to)
            .cookie(remove_cookie(TRANSACTION_COOKIE, self.transaction_scope()))
            .cookie(set_cookie(
                &config.cookie_name,
                &sealed,
                self.session_scope(),
                lifetime,
            ))
            .header(http::header::REFERRER_POLICY, "no-referrer")
            .build()
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

    fn logout(&self, request: &request::Parts) -> Response<Bytes> {
        let return_to = sanitize_return_to(query_param(request, "returnTo").as_deref());
        if let Some(session) = self.session(&request.headers) {
            tracing::info!(session = %session.id, "signed out");
        }
        ResponseBuilder::redirect(&return_to)
            .cookie(remove_cookie(
                &self.inner.config.cookie_name,
                self.session_scope(),
            ))
            .build()
    }

    fn provider_error_page(&self, err: &OidcError, retry: Option<&str>) -> Response<Bytes> {
        tracing::error!(error = %err, "cannot reach a usable OpenID provider");
        let status = if err.is_unavailable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::BAD_GATEWAY
        };
        error_page(
            status,
            "Sign-in is unavailable",
            "The identity provider cannot be reached right now. Please try again in a moment.",
            retry,
        )
        .build()
    }

    fn session_scope(&self) -> CookieScope<'_> {
        CookieScope {
            path: "/",
            secure: self.inner.config.secure_cookies(),
        }
    }

    fn transaction_scope(&self) -> CookieScope<'_> {
        CookieScope {
            path: &self.inner.transaction_cookie_path,
            secure: self.inner.config.secure_cookies(),
        }
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

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
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
