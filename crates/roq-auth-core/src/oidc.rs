//! The relying-party side of OpenID Connect: discovery, the authorization
//! request, the code exchange and ID-token verification.
//!
//! `oauth2` builds the authorization URL and performs the token request;
//! `jsonwebtoken` checks ID-token signatures and standard claims. This module
//! adds the OpenID Connect rules on top: `nonce`, `azp`, `iat` and the
//! audience list.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;
use tokio::sync::{OnceCell, RwLock};

use crate::config::{Clock, Config};

/// Signature algorithms accepted on ID tokens. `none` and the HMAC family
/// are absent on purpose: HMAC would let anyone holding the client secret,
/// or a confused verifier holding a public key, mint tokens.
const ALLOWED_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Maximum age of an ID token's `iat` when it arrives at the callback. The
/// token was just issued for this exchange, so a larger age means a replay
/// or a badly wrong clock.
const MAX_ID_TOKEN_AGE: Duration = Duration::from_secs(10 * 60);

/// The member of a logout token's `events` claim that marks it as one.
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Whom a verified logout token signs out: the sessions of `sid` at the
/// provider, or when only `sub` is given, every session of that user
/// issued before the token.
#[derive(Debug)]
pub(crate) struct LogoutToken {
    pub(crate) sub: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) issued_at: u64,
}

/// The shortest time between two JWKS downloads caused by an unknown `kid`,
/// so that forged tokens cannot make us hammer the provider.
const JWKS_REFETCH_COOLDOWN: Duration = Duration::from_secs(30);

/// The provider metadata this library uses, from
/// `/.well-known/openid-configuration`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProviderMetadata {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    pub(crate) jwks_uri: String,
    /// The URL RP-initiated logout sends the browser to, when the provider
    /// supports it.
    #[serde(default)]
    pub(crate) end_session_endpoint: Option<String>,
    /// Where an access token buys the user's claims.
    #[serde(default)]
    pub(crate) userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) response_types_supported: Vec<String>,
    #[serde(default)]
    pub(crate) authorization_response_iss_parameter_supported: bool,
}

/// An error from a request to the provider or from checking its response.
/// Messages name the step and never contain a token or secret.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum OidcError {
    #[error("the provider cannot be reached: {0}")]
    Unreachable(String),
    #[error("the provider did not respond in time: {0}")]
    TimedOut(String),
    #[error("the provider's metadata is invalid: {0}")]
    Metadata(String),
    #[error("the provider rejected the authorization code ({0})")]
    InvalidGrant(String),
    #[error("the token request failed: {0}")]
    TokenRequest(String),
    #[error("the ID token is invalid: {0}")]
    IdToken(String),
    #[error("fetching the provider's keys failed: {0}")]
    Jwks(String),
    #[error("the logout token is invalid: {0}")]
    LogoutToken(String),
}

impl OidcError {
    /// Returns the status of the error page: 503 when the provider cannot be
    /// reached, 504 when it does not respond in time, 400 when it rejected
    /// the code, and 502 when it responded with something invalid.
    pub(crate) fn status(&self) -> http::StatusCode {
        match self {
            OidcError::Unreachable(_) => http::StatusCode::SERVICE_UNAVAILABLE,
            OidcError::TimedOut(_) => http::StatusCode::GATEWAY_TIMEOUT,
            OidcError::InvalidGrant(_) | OidcError::LogoutToken(_) => http::StatusCode::BAD_REQUEST,
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }
}

/// A failed GET of a JSON document from the provider.
enum FetchError {
    Unreachable(String),
    TimedOut(String),
    Invalid(String),
}

impl FetchError {
    /// Converts the error, naming an invalid document with `invalid`.
    fn into_oidc(self, invalid: fn(String) -> OidcError) -> OidcError {
        match self {
            FetchError::Unreachable(message) => OidcError::Unreachable(message),
            FetchError::TimedOut(message) => OidcError::TimedOut(message),
            FetchError::Invalid(message) => invalid(message),
        }
    }

    fn from_transport(request: &str, err: &reqwest::Error) -> FetchError {
        if err.is_timeout() {
            FetchError::TimedOut(format!("{request} timed out"))
        } else if err.is_connect() {
            FetchError::Unreachable(format!("{request} could not connect"))
        } else {
            FetchError::Unreachable(format!("{request} failed: {}", err.without_url_ref()))
        }
    }
}

/// The `id_token` member of the token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdTokenField {
    #[serde(default)]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

type CodeClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A prepared authorization request and the values the callback must check.
pub(crate) struct AuthorizationRequest {
    pub(crate) url: String,
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) pkce_verifier: String,
}

/// The parts of a token response this library keeps.
pub(crate) struct TokenSet {
    /// Always present after the code exchange; a refresh may omit it.
    pub(crate) id_token: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) access_token: String,
    /// When the access token expires, in Unix seconds, if the provider sent
    /// `expires_in`.
    pub(crate) access_token_expires_at: Option<u64>,
    pub(crate) refresh_token: Option<String>,
}

/// A downloaded key set, each key converted for `jsonwebtoken` once.
struct CachedKeys {
    keys: JwkSet,
    /// The keys of `keys.keys`, in the same order, or why one cannot be
    /// used. An unusable key fails only the tokens that name it.
    decoded: Vec<Result<Arc<DecodingKey>, String>>,
    /// When the set was downloaded, in Unix seconds of the configured
    /// clock, so that tests can age it.
    fetched_at: u64,
    /// When a token with an unknown `kid` last caused a download. Further
    /// unknown `kid`s wait for [`JWKS_REFETCH_COOLDOWN`] after it.
    refetched_for_unknown_kid_at: Option<Instant>,
}

/// The provider's signing keys and the outcome of the last download.
#[derive(Default)]
struct KeyCache {
    current: Option<CachedKeys>,
    /// The last failed download and when it failed. Tasks queued behind
    /// it share its error, and keys still within their maximum age are not
    /// downloaded again until [`JWKS_REFETCH_COOLDOWN`] after it.
    last_failure: Option<(Instant, OidcError)>,
}

/// Why [`Provider::decoding_key`] downloads the key set.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyDownload {
    /// No key set was downloaded yet.
    First,
    /// A token names a key the current set does not have.
    UnknownKid,
    /// The set is older than half of its maximum age.
    Stale,
}

/// The provider's metadata and signing keys, each fetched once and cached.
pub(crate) struct Provider {
    http: reqwest::Client,
    metadata: OnceCell<ProviderMetadata>,
    /// The OAuth 2.0 client for `metadata`, built on first use.
    client: OnceLock<CodeClient>,
    /// Held while discovery runs, with the last failure and its time, so
    /// that requests queued behind a failed attempt share its error instead
    /// of each waiting out a timeout of their own.
    discovery: tokio::sync::Mutex<Option<(Instant, OidcError)>>,
    keys: RwLock<KeyCache>,
    /// How long a downloaded key set may be used (`ROQ_JWKS_MAX_AGE`). It
    /// is downloaded again on the first use after half of it.
    jwks_max_age: Duration,
    /// ID-token validation rules for each allowed algorithm, built once
    /// from the configuration.
    id_token_validations: Vec<(Algorithm, Validation)>,
    clock: Arc<dyn Clock>,
}

impl Provider {
    pub(crate) fn new(config: &Config) -> Provider {
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .connect_timeout(config.http_timeout)
            // A redirect from the token endpoint would send the client
            // secret and code to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("roq-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with a static configuration");
        let id_token_validations = ALLOWED_ALGORITHMS
            .iter()
            .map(|alg| {
                // The checks left to `jsonwebtoken`. `verify_id_token`
                // checks the audience list, `azp`, `iat` and `nonce` itself.
                let mut validation = Validation::new(*alg);
                validation.set_issuer(&[&config.issuer]);
                validation.set_audience(&[&config.client_id]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                validation.leeway = config.clock_leeway.as_secs();
                (*alg, validation)
            })
            .collect();
        Provider {
            http,
            metadata: OnceCell::new(),
            client: OnceLock::new(),
            discovery: tokio::sync::Mutex::new(None),
            keys: RwLock::new(KeyCache::default()),
            jwks_max_age: config.jwks_max_age,
            id_token_validations,
            clock: config.clock.clone(),
        }
    }

    /// Returns the provider metadata, fetching it on first use.
    ///
    /// A failed fetch is not cached, so a later sign-in tries again. The
    /// requests that queued behind it get its error at once.
    pub(crate) async fn metadata(&self, config: &Config) -> Result<&ProviderMetadata, OidcError> {
        if let Some(metadata) = self.metadata.get() {
            return Ok(metadata);
        }

        let queued_at = Instant::now();
        let mut last_failure = self.discovery.lock().await;
        if let Some(metadata) = self.metadata.get() {
            return Ok(metadata);
        }
        if let Some((failed_at, err)) = last_failure.as_ref() {
            if *failed_at >= queued_at {
                return Err(err.clone());
            }
        }

        match self.discover(config).await {
            Ok(metadata) => Ok(self.metadata.get_or_init(|| async { metadata }).await),
            Err(err) => {
                *last_failure = Some((Instant::now(), err.clone()));
                Err(err)
            }
        }
    }

    async fn discover(&self, config: &Config) -> Result<ProviderMetadata, OidcError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            config.issuer.trim_end_matches('/')
        );
        let metadata: ProviderMetadata = self
            .get_json(&url)
            .await
            .map_err(|err| err.into_oidc(OidcError::Metadata))?;

        // OpenID Connect Discovery 1.0, section 4.3: the issuer in the
        // metadata must be exactly the one we asked, or a provider could
        // speak for another.
        if metadata.issuer != config.issuer {
            return Err(OidcError::Metadata(format!(
                "the metadata names issuer {:?}, but ROQ_ISSUER_URL is {:?}",
                metadata.issuer, config.issuer
            )));
        }
        if !metadata
            .response_types_supported
            .iter()
            .any(|t| t == "code")
        {
            return Err(OidcError::Metadata(
                "the provider does not support the authorization code flow (response type `code`)"
                    .into(),
            ));
        }
        for (name, endpoint) in [
            ("authorization_endpoint", &metadata.authorization_endpoint),
            ("token_endpoint", &metadata.token_endpoint),
            ("jwks_uri", &metadata.jwks_uri),
        ] {
            url::Url::parse(endpoint).map_err(|err| {
                OidcError::Metadata(format!("{name} {endpoint:?} is not a URL ({err})"))
            })?;
        }

        tracing::info!(issuer = %metadata.issuer, "discovered OpenID provider");
        Ok(metadata)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, FetchError> {
        let response = self
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| FetchError::from_transport(&format!("GET {url}"), &err))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Invalid(format!("GET {url} returned {status}")));
        }
        let body = response
            .bytes()
            .await
            .map_err(|err| FetchError::from_transport(&format!("GET {url}"), &err))?;
        serde_json::from_slice(&body)
            .map_err(|err| FetchError::Invalid(format!("GET {url} returned invalid JSON ({err})")))
    }

    /// Returns the OAuth 2.0 client for `metadata`. The client of the
    /// discovered metadata is built once and shared, and other metadata gets
    /// a client of its own.
    fn client(
        &self,
        config: &Config,
        metadata: &ProviderMetadata,
    ) -> Result<Cow<'_, CodeClient>, OidcError> {
        let discovered = self
            .metadata
            .get()
            .is_some_and(|cached| std::ptr::eq(cached, metadata));
        if !discovered {
            return build_client(config, metadata).map(Cow::Owned);
        }
        if let Some(client) = self.client.get() {
            return Ok(Cow::Borrowed(client));
        }
        let client = build_client(config, metadata)?;
        Ok(Cow::Borrowed(self.client.get_or_init(|| client)))
    }

    /// Builds the authorization request with a fresh `state`, `nonce` and
    /// PKCE S256 challenge, each with 256 bits from the operating system's
    /// random generator.
    ///
    /// `extra` holds further parameters, such as `audience` or `prompt`.
    /// The caller has kept out the ones this library sets itself.
    pub(crate) fn authorization_request(
        &self,
        config: &Config,
        metadata: &ProviderMetadata,
        extra: &[(String, String)],
    ) -> Result<AuthorizationRequest, OidcError> {
        let client = self.client(config, metadata)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random_len(32);

        let mut request = client
            .authorize_url(|| CsrfToken::new_random_len(32))
            .add_scopes(config.scopes.iter().cloned().map(Scope::new))
            .add_extra_param("nonce", nonce.secret())
            .set_pkce_challenge(challenge);
        for (name, value) in extra {
            request = request.add_extra_param(name.as_str(), value.as_str());
        }
        let (url, state) = request.url();

        Ok(AuthorizationRequest {
            url: url.into(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the authorization code for the tokens and the granted
    /// scopes.
    pub(crate) async fn exchange_code(
        &self,
        config: &Config,
        metadata: &ProviderMetadata,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<TokenSet, OidcError> {
        let client = self.client(config, metadata)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|err| token_error(err, &metadata.token_endpoint))?;

        let tokens = token_set(config, response, config.now(), None);
        if tokens.id_token.is_none() {
            return Err(OidcError::IdToken(
                "the token response has no id_token".into(),
            ));
        }
        Ok(tokens)
    }

    /// Trades a refresh token for new tokens (RFC 6749, section 6). The
    /// scopes default to `granted` when the response names none, and the
    /// refresh token stays the old one unless the provider rotated it.
    pub(crate) async fn refresh(
        &self,
        config: &Config,
        metadata: &ProviderMetadata,
        refresh_token: &str,
        granted: &[String],
    ) -> Result<TokenSet, OidcError> {
        let client = self.client(config, metadata)?;
        let refresh_token = oauth2::RefreshToken::new(refresh_token.to_owned());
        let response = client
            .exchange_refresh_token(&refresh_token)
            .request_async(&self.http)
            .await
            .map_err(|err| token_error(err, &metadata.token_endpoint))?;
        let mut tokens = token_set(config, response, config.now(), Some(granted));
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.secret().clone());
        }
        Ok(tokens)
    }

    /// Fetches the user's claims from the userinfo endpoint with an access
    /// token (OpenID Connect Core 1.0, section 5.3).
    pub(crate) async fn userinfo(
        &self,
        metadata: &ProviderMetadata,
        access_token: &str,
    ) -> Result<Map<String, Value>, OidcError> {
        let Some(endpoint) = metadata.userinfo_endpoint.as_deref() else {
            return Err(OidcError::Metadata(
                "the provider has no userinfo_endpoint".into(),
            ));
        };
        let request = format!("GET {endpoint}");
        let response = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| {
                FetchError::from_transport(&request, &err).into_oidc(OidcError::TokenRequest)
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(OidcError::TokenRequest(format!(
                "{request} returned {status}"
            )));
        }
        let body = response.bytes().await.map_err(|err| {
            FetchError::from_transport(&request, &err).into_oidc(OidcError::TokenRequest)
        })?;
        // A signed or encrypted userinfo response (a JWT) is not supported:
        // it fails here as invalid JSON.
        serde_json::from_slice(&body).map_err(|err| {
            OidcError::TokenRequest(format!("{request} returned invalid JSON ({err})"))
        })
    }

    /// Verifies an ID token as OpenID Connect Core 1.0, section 3.1.3.7,
    /// requires, and returns its claims.
    pub(crate) async fn verify_id_token(
        &self,
        config: &Config,
        metadata: &ProviderMetadata,
        id_token: &str,
        expected_nonce: &str,
        now: u64,
    ) -> Result<Map<String, Value>, OidcError> {
        let header = jsonwebtoken::decode_header(id_token)
            .map_err(|err| OidcError::IdToken(format!("unreadable header ({err})")))?;
        let Some((_, validation)) = self
            .id_token_validations
            .iter()
            .find(|(alg, _)| *alg == header.alg)
        else {
            return Err(OidcError::IdToken(format!(
                "signature algorithm {:?} is not allowed",
                header.alg
            )));
        };

        let key = self
            .decoding_key(metadata, header.kid.as_deref(), header.alg)
            .await?;

        let claims = jsonwebtoken::decode::<Map<String, Value>>(id_token, &key, validation)
            .map_err(|err| OidcError::IdToken(err.to_string()))?
            .claims;

        check_audience(&claims, &config.client_id)?;
        check_issued_at(&claims, now, config.clock_leeway.as_secs())?;

        let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        let nonce_matches: bool = nonce.as_bytes().ct_eq(expected_nonce.as_bytes()).into();
        if nonce.is_empty() || !nonce_matches {
            return Err(OidcError::IdToken(
                "nonce is missing or does not match".into(),
            ));
        }

        Ok(claims)
    }

    /// Verifies a logout token as OpenID Connect Back-Channel Logout 1.0,
    /// section 2.6, requires, and returns whom it signs out.
    pub(crate) async fn verify_logout_token(
        &self,
        config: &Config,
        metadata: &ProviderMetadata,
        logout_token: &str,
        now: u64,
    ) -> Result<LogoutToken, OidcError> {
        let invalid = |reason: &str| OidcError::LogoutToken(reason.to_owned());
        let header = jsonwebtoken::decode_header(logout_token)
            .map_err(|err| OidcError::LogoutToken(format!("unreadable header ({err})")))?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(OidcError::LogoutToken(format!(
                "signature algorithm {:?} is not allowed",
                header.alg
            )));
        }
        // Section 2.4: a `typ` other than this is another kind of token,
        // such as an ID token, and must not be taken for a logout token.
        if let Some(typ) = header.typ.as_deref() {
            if !typ.eq_ignore_ascii_case("logout+jwt")
                && !typ.eq_ignore_ascii_case("application/logout+jwt")
            {
                return Err(invalid("typ is not logout+jwt"));
            }
        }

        let key = self
            .decoding_key(metadata, header.kid.as_deref(), header.alg)
            .await
            .map_err(|err| match err {
                OidcError::IdToken(reason) => OidcError::LogoutToken(reason),
                other => other,
            })?;

        let leeway = config.clock_leeway.as_secs();
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.client_id]);
        validation.set_required_spec_claims(&["iss", "aud", "iat"]);
        validation.leeway = leeway;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(logout_token, &key, &validation)
            .map_err(|err| OidcError::LogoutToken(err.to_string()))?
            .claims;

        check_issued_at(&claims, now, leeway).map_err(|err| match err {
            OidcError::IdToken(reason) => OidcError::LogoutToken(reason),
            other => other,
        })?;
        let jti = claims.get("jti").and_then(Value::as_str).unwrap_or("");
        if jti.is_empty() {
            return Err(invalid("jti is missing"));
        }
        let event = claims
            .get("events")
            .and_then(Value::as_object)
            .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT));
        if !event.is_some_and(Value::is_object) {
            return Err(invalid("events has no back-channel logout event"));
        }
        if claims.contains_key("nonce") {
            return Err(invalid("a logout token must not contain a nonce"));
        }
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let sub = text("sub");
        let sid = text("sid");
        if sub.is_none() && sid.is_none() {
            return Err(invalid("neither sid nor sub is present"));
        }
        let issued_at = claims.get("iat").and_then(Value::as_u64).unwrap_or(now);
        Ok(LogoutToken {
            sub,
            sid,
            issued_at,
        })
    }

    /// Finds the key for `kid`.
    ///
    /// The key set is downloaded on first use, again once when a token names
    /// an unknown key because the provider may have rotated its keys, and
    /// again on the first use after half of `ROQ_JWKS_MAX_AGE`. When that
    /// last download fails, the cached keys stay in use until the maximum
    /// age, and after it the download's error is returned.
    async fn decoding_key(
        &self,
        metadata: &ProviderMetadata,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<DecodingKey>, OidcError> {
        let half_max_age = self.jwks_max_age.as_secs() / 2;
        {
            let cache = self.keys.read().await;
            if let Some(current) = &cache.current {
                if self.clock.now().saturating_sub(current.fetched_at) < half_max_age {
                    if let Some(key) = current.select(kid, alg)? {
                        return Ok(key);
                    }
                }
            }
        }

        let queued_at = Instant::now();
        let mut cache = self.keys.write().await;
        let max_age = self.jwks_max_age.as_secs();
        let age = |current: &CachedKeys| self.clock.now().saturating_sub(current.fetched_at);
        let failed_since_queued = cache
            .last_failure
            .as_ref()
            .is_some_and(|(failed_at, _)| *failed_at >= queued_at);

        let download = match &cache.current {
            None if failed_since_queued => None,
            None => Some(KeyDownload::First),
            Some(current) if age(current) < half_max_age => {
                // Another task may have downloaded the new keys while this
                // one waited for the lock.
                if let Some(key) = current.select(kid, alg)? {
                    return Ok(key);
                }
                let cooling_down = current
                    .refetched_for_unknown_kid_at
                    .is_some_and(|at| at.elapsed() < JWKS_REFETCH_COOLDOWN);
                (!cooling_down).then_some(KeyDownload::UnknownKid)
            }
            Some(current) => {
                let usable = age(current) < max_age;
                let failed_recently = cache
                    .last_failure
                    .as_ref()
                    .is_some_and(|(failed_at, _)| failed_at.elapsed() < JWKS_REFETCH_COOLDOWN);
                let skip = failed_since_queued || (usable && failed_recently);
                (!skip).then_some(KeyDownload::Stale)
            }
        };

        if let Some(download) = download {
            match self.download_keys(metadata).await {
                Ok(keys) => {
                    let refetched_for_unknown_kid_at = match download {
                        KeyDownload::UnknownKid => Some(Instant::now()),
                        _ => cache
                            .current
                            .as_ref()
                            .and_then(|current| current.refetched_for_unknown_kid_at),
                    };
                    cache.current = Some(CachedKeys::new(
                        keys,
                        self.clock.now(),
                        refetched_for_unknown_kid_at,
                    ));
                    cache.last_failure = None;
                }
                Err(err) => {
                    cache.last_failure = Some((Instant::now(), err.clone()));
                    let fallback = cache
                        .current
                        .as_ref()
                        .map(&age)
                        .filter(|age| download == KeyDownload::Stale && *age < max_age);
                    let Some(age) = fallback else {
                        return Err(err);
                    };
                    tracing::warn!(
                        error = %err,
                        age_seconds = age,
                        max_age_seconds = max_age,
                        "downloading the provider's signing keys again failed; the cached keys stay in use until ROQ_JWKS_MAX_AGE"
                    );
                }
            }
        }

        let Some(current) = cache
            .current
            .as_ref()
            .filter(|current| age(current) < max_age)
        else {
            // Only a failed download leaves no usable key set.
            return Err(cache.last_failure.as_ref().map_or_else(
                || OidcError::Jwks("the provider's signing keys have not been downloaded".into()),
                |(_, err)| err.clone(),
            ));
        };
        current
            .select(kid, alg)?
            .ok_or_else(|| OidcError::IdToken(format!("no provider key matches kid {kid:?}")))
    }

    async fn download_keys(&self, metadata: &ProviderMetadata) -> Result<JwkSet, OidcError> {
        let keys: JwkSet = self
            .get_json(&metadata.jwks_uri)
            .await
            .map_err(|err| err.into_oidc(OidcError::Jwks))?;
        tracing::debug!(
            keys = keys.keys.len(),
            "downloaded the provider's signing keys"
        );
        Ok(keys)
    }
}

impl CachedKeys {
    fn new(
        keys: JwkSet,
        fetched_at: u64,
        refetched_for_unknown_kid_at: Option<Instant>,
    ) -> CachedKeys {
        let decoded = keys
            .keys
            .iter()
            .map(|jwk| {
                DecodingKey::from_jwk(jwk)
                    .map(Arc::new)
                    .map_err(|err| err.to_string())
            })
            .collect();
        CachedKeys {
            keys,
            decoded,
            fetched_at,
            refetched_for_unknown_kid_at,
        }
    }

    /// Picks the key a token names by `kid`, or the only signing key when
    /// the token names none.
    fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<Arc<DecodingKey>>, OidcError> {
        let jwks = &self.keys.keys;
        let index = match kid {
            Some(kid) => jwks
                .iter()
                .position(|jwk| jwk.common.key_id.as_deref() == Some(kid)),
            None => {
                let mut signing = jwks.iter().enumerate().filter(|(_, jwk)| {
                    jwk.common.public_key_use != Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
                });
                match (signing.next(), signing.next()) {
                    (Some((only, _)), None) => Some(only),
                    _ => None,
                }
            }
        };
        let Some(index) = index else {
            return Ok(None);
        };

        if let Some(key_alg) = jwks[index].common.key_algorithm {
            if format!("{key_alg:?}") != format!("{alg:?}") {
                return Err(OidcError::IdToken(format!(
                    "the token's algorithm {alg:?} does not match its key's {key_alg:?}"
                )));
            }
        }
        match &self.decoded[index] {
            Ok(key) => Ok(Some(key.clone())),
            Err(reason) => Err(OidcError::Jwks(format!("unusable key ({reason})"))),
        }
    }
}

fn build_client(config: &Config, metadata: &ProviderMetadata) -> Result<CodeClient, OidcError> {
    let auth_url = AuthUrl::new(metadata.authorization_endpoint.clone())
        .map_err(|err| OidcError::Metadata(err.to_string()))?;
    let token_url = TokenUrl::new(metadata.token_endpoint.clone())
        .map_err(|err| OidcError::Metadata(err.to_string()))?;
    let redirect_url = RedirectUrl::new(config.redirect_uri())
        .map_err(|err| OidcError::Metadata(err.to_string()))?;
    Ok(oauth2::Client::new(ClientId::new(config.client_id.clone()))
        .set_client_secret(ClientSecret::new(config.client_secret.expose().to_owned()))
        .set_auth_uri(auth_url)
        .set_token_uri(token_url)
        .set_redirect_uri(redirect_url))
}

/// Maps a failed token request, naming `endpoint` in transport errors.
fn token_error(
    err: RequestTokenError<oauth2::HttpClientError<reqwest::Error>, BasicErrorResponse>,
    endpoint: &str,
) -> OidcError {
    match err {
        RequestTokenError::ServerResponse(response) => {
            let code = response.error().to_string();
            if code == "invalid_grant" {
                return OidcError::InvalidGrant(code);
            }
            let description = response
                .error_description()
                .map(|text| format!(" ({text})"))
                .unwrap_or_default();
            let hint = if code == "invalid_client" {
                ": it rejected the client's credentials, so check ROQ_CLIENT_ID and ROQ_CLIENT_SECRET"
            } else {
                ""
            };
            OidcError::TokenRequest(format!(
                "the provider returned error `{code}`{description}{hint}"
            ))
        }
        RequestTokenError::Request(oauth2::HttpClientError::Reqwest(err)) => {
            let request = format!("POST {endpoint}");
            match FetchError::from_transport(&request, &err) {
                FetchError::TimedOut(message) => OidcError::TimedOut(message),
                FetchError::Unreachable(message) | FetchError::Invalid(message) => {
                    OidcError::Unreachable(message)
                }
            }
        }
        RequestTokenError::Request(err) => OidcError::TokenRequest(format!("{err}")),
        RequestTokenError::Parse(err, _) => OidcError::TokenRequest(format!(
            "the response is not a valid token response ({})",
            err.inner()
        )),
        RequestTokenError::Other(message) => OidcError::TokenRequest(message),
    }
}

/// Keeps what this library needs of a token response received at `now`.
/// Without `scope`, the granted scopes are the requested ones (RFC 6749,
/// section 5.1), or for a refresh, those granted before.
fn token_set(
    config: &Config,
    response: TokenResponse,
    now: u64,
    granted_before: Option<&[String]>,
) -> TokenSet {
    let scopes = match response.scopes() {
        Some(scopes) => scopes.iter().map(|scope| scope.to_string()).collect(),
        None => granted_before
            .map(<[String]>::to_vec)
            .unwrap_or_else(|| config.scopes.clone()),
    };
    TokenSet {
        id_token: response.extra_fields().id_token.clone(),
        scopes,
        access_token: response.access_token().secret().clone(),
        access_token_expires_at: response
            .expires_in()
            .map(|lifetime| now.saturating_add(lifetime.as_secs())),
        refresh_token: response.refresh_token().map(|token| token.secret().clone()),
    }
}

/// OpenID Connect Core 1.0, section 3.1.3.7, rules 3 to 5: every audience
/// must be this client, and `azp`, when present, must name it too.
fn check_audience(claims: &Map<String, Value>, client_id: &str) -> Result<(), OidcError> {
    let audiences: HashSet<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => [aud.as_str()].into(),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => HashSet::new(),
    };
    if audiences.is_empty() || audiences.iter().any(|aud| *aud != client_id) {
        return Err(OidcError::IdToken(
            "aud must name this client and no other".into(),
        ));
    }

    if let Some(azp) = claims.get("azp") {
        if azp.as_str() != Some(client_id) {
            return Err(OidcError::IdToken("azp names another client".into()));
        }
    }
    Ok(())
}

fn check_issued_at(claims: &Map<String, Value>, now: u64, leeway: u64) -> Result<(), OidcError> {
    let Some(iat) = claims.get("iat").and_then(Value::as_u64) else {
        return Err(OidcError::IdToken("iat is missing".into()));
    };
    if iat > now + leeway {
        return Err(OidcError::IdToken("iat is in the future".into()));
    }
    if iat + MAX_ID_TOKEN_AGE.as_secs() + leeway < now {
        return Err(OidcError::IdToken("iat is too old".into()));
    }
    Ok(())
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), "<url>");
        }
        text
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
    fn audience_must_be_only_this_client() {
        assert!(check_audience(&claims(json!({"aud": "app"})), "app").is_ok());
        assert!(check_audience(&claims(json!({"aud": ["app"]})), "app").is_ok());
        assert!(check_audience(&claims(json!({"aud": ["app", "other"]})), "app").is_err());
        assert!(check_audience(&claims(json!({"aud": "other"})), "app").is_err());
        assert!(check_audience(&claims(json!({})), "app").is_err());
    }

    #[test]
    fn azp_must_name_this_client() {
        assert!(check_audience(&claims(json!({"aud": "app", "azp": "app"})), "app").is_ok());
        assert!(check_audience(&claims(json!({"aud": "app", "azp": "other"})), "app").is_err());
    }

    #[test]
    fn issued_at_window() {
        let now = 1_000_000;
        assert!(check_issued_at(&claims(json!({"iat": now})), now, 60).is_ok());
        assert!(check_issued_at(&claims(json!({"iat": now + 60})), now, 60).is_ok());
        assert!(check_issued_at(&claims(json!({"iat": now + 600})), now, 60).is_err());
        assert!(check_issued_at(&claims(json!({"iat": now - 7 * 24 * 3600})), now, 60).is_err());
        assert!(check_issued_at(&claims(json!({})), now, 60).is_err());
    }
}

#[cfg(test)]
mod jwks_tests {
    use std::io::{Read as _, Write as _};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use super::*;
    use serde_json::json;

    const START: u64 = 1_700_000_000;
    const MAX_AGE: u64 = 100;

    #[derive(Debug)]
    struct TestClock(AtomicU64);

    impl TestClock {
        fn set(&self, now: u64) {
            self.0.store(now, Ordering::SeqCst);
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A JWKS endpoint on 127.0.0.1, served from a thread, that counts the
    /// requests it serves.
    struct JwksServer {
        url: String,
        requests: Arc<AtomicUsize>,
    }

    impl JwksServer {
        fn start() -> JwksServer {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}/jwks", listener.local_addr().unwrap());
            let requests = Arc::new(AtomicUsize::new(0));
            let counter = requests.clone();
            let body = json!({"keys": [{
                "kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
                "n": "AQAB".repeat(64), "e": "AQAB",
            }]})
            .to_string();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(read) => request.extend_from_slice(&buffer[..read]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes());
                }
            });
            JwksServer { url, requests }
        }

        fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }
    }

    /// Returns a JWKS URL on 127.0.0.1 where nothing listens.
    fn closed_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/jwks", listener.local_addr().unwrap())
    }

    fn metadata(jwks_uri: &str) -> ProviderMetadata {
        serde_json::from_value(json!({
            "issuer": "http://127.0.0.1:9",
            "authorization_endpoint": "http://127.0.0.1:9/authorize",
            "token_endpoint": "http://127.0.0.1:9/token",
            "jwks_uri": jwks_uri,
            "response_types_supported": ["code"],
        }))
        .unwrap()
    }

    fn provider() -> (Provider, Arc<TestClock>) {
        let clock = Arc::new(TestClock(AtomicU64::new(START)));
        let config = Config::builder()
            .secret("5b1f0d9c8a7e6f5d4c3b2a19081726354453627180918a7b6c5d4e3f2a1b0c9d")
            .issuer_url("http://127.0.0.1:9")
            .client_id("app")
            .client_secret("app-secret")
            .base_url("http://127.0.0.1:3000")
            .jwks_max_age(Duration::from_secs(MAX_AGE))
            .clock(clock.clone())
            .build()
            .unwrap();
        (Provider::new(&config), clock)
    }

    async fn key(
        provider: &Provider,
        metadata: &ProviderMetadata,
    ) -> Result<Arc<DecodingKey>, OidcError> {
        provider
            .decoding_key(metadata, Some("k1"), Algorithm::RS256)
            .await
    }

    #[tokio::test]
    async fn stale_keys_are_downloaded_again() {
        let server = JwksServer::start();
        let up = metadata(&server.url);
        let (provider, clock) = provider();

        let first = key(&provider, &up).await.unwrap();
        assert_eq!(server.requests(), 1);

        clock.set(START + MAX_AGE / 2 - 1);
        let again = key(&provider, &up).await.unwrap();
        assert_eq!(server.requests(), 1, "fresh keys were downloaded again");
        assert!(Arc::ptr_eq(&first, &again), "the key was converted again");

        clock.set(START + MAX_AGE / 2);
        key(&provider, &up).await.unwrap();
        assert_eq!(server.requests(), 2, "stale keys were not downloaded again");

        clock.set(START + MAX_AGE - 1);
        key(&provider, &up).await.unwrap();
        assert_eq!(
            server.requests(),
            2,
            "the new download did not reset the age"
        );
    }

    #[tokio::test]
    async fn stale_keys_survive_failed_download() {
        let server = JwksServer::start();
        let down = metadata(&closed_url());
        let (provider, clock) = provider();
        key(&provider, &metadata(&server.url)).await.unwrap();

        clock.set(START + MAX_AGE / 2);
        assert!(
            key(&provider, &down).await.is_ok(),
            "stale keys were dropped"
        );

        clock.set(START + MAX_AGE - 1);
        assert!(
            key(&provider, &down).await.is_ok(),
            "keys were dropped before max age"
        );

        clock.set(START + MAX_AGE);
        let err = key(&provider, &down).await.unwrap_err();
        assert!(matches!(err, OidcError::Unreachable(_)), "{err}");
        assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn expired_keys_recover_after_outage() {
        let server = JwksServer::start();
        let up = metadata(&server.url);
        let down = metadata(&closed_url());
        let (provider, clock) = provider();
        key(&provider, &up).await.unwrap();

        clock.set(START + MAX_AGE);
        assert!(key(&provider, &down).await.is_err());

        key(&provider, &up).await.unwrap();
        assert_eq!(server.requests(), 2);
        clock.set(START + MAX_AGE + MAX_AGE / 2 - 1);
        key(&provider, &up).await.unwrap();
        assert_eq!(server.requests(), 2, "the recovered keys were not kept");
    }

    #[tokio::test]
    async fn first_download_failure_is_returned() {
        let (provider, _clock) = provider();
        let err = key(&provider, &metadata(&closed_url())).await.unwrap_err();
        assert!(matches!(err, OidcError::Unreachable(_)), "{err}");
    }

    #[tokio::test]
    async fn unknown_kid_downloads_once() {
        let server = JwksServer::start();
        let up = metadata(&server.url);
        let (provider, _clock) = provider();
        key(&provider, &up).await.unwrap();

        for _ in 0..2 {
            let err = provider
                .decoding_key(&up, Some("rotated"), Algorithm::RS256)
                .await
                .unwrap_err();
            assert!(matches!(err, OidcError::IdToken(_)), "{err}");
        }
        assert_eq!(server.requests(), 2, "the cooldown did not hold");
    }
}
