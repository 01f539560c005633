//! Signing out: the `logout` route (with OpenID Connect RP-Initiated
//! Logout 1.0), the return from the provider's sign-out, and the
//! `backchannel-logout` route (OpenID Connect Back-Channel Logout 1.0).

use bytes::Bytes;
use http::{request, HeaderMap, Method, Response, StatusCode, Uri};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::auth::{query_param, random_token, Auth};
use crate::config::Config;
use crate::oidc::{LogoutToken, OidcError, ProviderMetadata};
use crate::response::{
    cookie_values, escape_html, remove_cookie, set_cookie, CookieScope, ResponseBuilder,
};
use crate::return_to::sanitize_return_to;
use crate::revocation::RevocationKey;

/// How long a visitor has to confirm the sign-out at the provider.
const LOGOUT_LIFETIME_SECS: u64 = 10 * 60;

/// Largest back-channel logout request body read. A logout token is a
/// signed JWT of a few hundred bytes.
pub const MAX_BACKCHANNEL_BODY: usize = 16 * 1024;

/// The contents of the logout cookie, inside the seal.
#[derive(Serialize, Deserialize)]
struct LogoutState {
    state: String,
    #[serde(rename = "rt")]
    return_to: String,
}

impl Auth {
    /// Ends the session here, in the same response: its cookies are removed
    /// and its id revoked, so a copy of the cookie stops working too. Then,
    /// when the provider supports RP-initiated logout, the browser goes to
    /// its `end_session_endpoint` with `id_token_hint`, `client_id`,
    /// `post_logout_redirect_uri` and a fresh `state`. Without a session, or
    /// without that endpoint, it goes to the validated `returnTo`.
    pub(crate) async fn logout(&self, request: &request::Parts) -> Response<Bytes> {
        let config = &self.inner.config;
        let headers = &request.headers;
        let return_to = sanitize_return_to(query_param(request, "returnTo").as_deref());

        let mut set_cookies = self.session_cookie().remove(headers);
        set_cookies.extend(self.tokens_cookie().remove(headers));
        let mut target = return_to.clone();

        // Read without the revocation check: signing out twice is harmless,
        // and a store that is down must not keep anyone signed in here.
        if let Some(session) = self.read_session_unchecked(headers) {
            let now = config.now();
            let key = RevocationKey::Session(session.id().to_owned());
            if let Err(err) = self.revoke(&key, now, session.absolute_expires_at()).await {
                tracing::error!(
                    error = %err,
                    "signed out in this browser, but a copy of the session cookie stays valid: the revocation was not recorded"
                );
            }
            tracing::info!(session = %session.id(), "signed out");

            let id_token = self
                .read_tokens(&session, headers)
                .and_then(|tokens| tokens.id_token);
            match self.inner.provider.metadata(config).await {
                Ok(metadata) => {
                    let state = random_token(24);
                    if let Some(url) =
                        end_session_url(config, metadata, id_token.as_deref(), &state)
                    {
                        let cookie = &self.inner.logout_cookie_name;
                        let sealed = self.inner.logout_sealer.seal(
                            cookie,
                            &LogoutState { state, return_to },
                            now + LOGOUT_LIFETIME_SECS,
                        );
                        set_cookies.push(set_cookie(
                            cookie,
                            &sealed,
                            self.logout_scope(),
                            LOGOUT_LIFETIME_SECS,
                        ));
                        target = url;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "signed out here only: the provider is unavailable");
                }
            }
        }

        let mut response = ResponseBuilder::redirect(&target);
        for value in set_cookies {
            response = response.cookie(value);
        }
        response.build()
    }

    /// Handles the browser's return from the provider's sign-out, at the
    /// post-logout URL (`ROQ_POST_LOGOUT_REDIRECT_URL`, by default the base
    /// URL's `/`). Adapters call this from their middleware for every
    /// request; it returns `None`, at the cost of a path comparison, for all
    /// but that return.
    ///
    /// The return is recognized by the logout cookie that `logout` set.
    /// With the `state` it sealed, the browser goes on to the `returnTo` of
    /// the logout. With another `state`, or none, it gets a neutral
    /// signed-out page that neither redirects nor signs in. Either way the
    /// logout cookie is removed.
    pub fn post_logout_return(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Option<Response<Bytes>> {
        let config = &self.inner.config;
        if uri.path() != config.post_logout_redirect_url.path()
            || !(method == Method::GET || method == Method::HEAD)
        {
            return None;
        }
        let name = &self.inner.logout_cookie_name;
        let mut values = cookie_values(headers, name).peekable();
        values.peek()?;

        let now = config.now();
        let expected = values.find_map(|value| {
            self.inner
                .logout_sealer
                .unseal::<LogoutState>(name, value, now)
                .ok()
                .map(|unsealed| unsealed.data)
        });
        let state = uri.query().and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "state")
                .map(|(_, value)| value.into_owned())
        });
        let removal = remove_cookie(name, self.logout_scope());

        if let (Some(expected), Some(state)) = (&expected, &state) {
            if bool::from(state.as_bytes().ct_eq(expected.state.as_bytes())) {
                return Some(
                    ResponseBuilder::redirect(&expected.return_to)
                        .cookie(removal)
                        .build(),
                );
            }
        }
        tracing::warn!(
            "the return from the provider's sign-out does not carry this browser's state"
        );
        let body = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed out</title></head>\n<body><h1>Signed out</h1>\n<p>You are signed out of this application.</p>\n<p><a href=\"{}\">Continue</a></p></body></html>\n",
            escape_html(config.base_url.as_str())
        );
        Some(
            ResponseBuilder::html(StatusCode::OK, body)
                .cookie(removal)
                .build(),
        )
    }

    fn logout_scope(&self) -> CookieScope<'_> {
        CookieScope {
            path: self.inner.config.post_logout_redirect_url.path(),
            domain: None,
            secure: self.inner.config.secure_cookies(),
        }
    }

    /// Verifies the logout token the provider posts when the user signs out
    /// there, and revokes the sessions it names: those of its `sid`, or
    /// without `sid`, every session of its `sub` issued before it.
    pub(crate) async fn backchannel_logout(
        &self,
        request: &request::Parts,
        body: &[u8],
    ) -> Response<Bytes> {
        let invalid = |reason: &str| {
            tracing::warn!(reason, "rejected a back-channel logout request");
            ResponseBuilder::json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": "invalid_request"}),
            )
            .build()
        };

        let form = request
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| {
                media
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return invalid("the body is not application/x-www-form-urlencoded");
        }
        if body.len() > MAX_BACKCHANNEL_BODY {
            return invalid("the body is too large");
        }
        let mut tokens = url::form_urlencoded::parse(body)
            .filter(|(name, _)| name == "logout_token")
            .map(|(_, value)| value);
        let (Some(token), None) = (tokens.next(), tokens.next()) else {
            return invalid("the body must hold exactly one logout_token");
        };

        let config = &self.inner.config;
        let provider = &self.inner.provider;
        let now = config.now();
        let verified = match provider.metadata(config).await {
            Ok(metadata) => {
                provider
                    .verify_logout_token(config, metadata, &token, now)
                    .await
            }
            Err(err) => Err(err),
        };
        let logout = match verified {
            Ok(logout) => logout,
            Err(OidcError::LogoutToken(reason)) => return invalid(&reason),
            Err(err) => {
                tracing::error!(error = %err, "cannot verify a back-channel logout token");
                return ResponseBuilder::json(
                    err.status(),
                    &serde_json::json!({"error": "temporarily_unavailable"}),
                )
                .build();
            }
        };

        let Some((key, revoked_at)) = revocation_of(&logout, now) else {
            return invalid("neither sid nor sub is present");
        };
        let keep_until = now.saturating_add(config.session_max_age.as_secs());
        if let Err(err) = self.revoke(&key, revoked_at, keep_until).await {
            tracing::error!(error = %err, "cannot record a back-channel logout");
            return ResponseBuilder::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"error": "temporarily_unavailable"}),
            )
            .build();
        }
        tracing::info!(
            by_sid = logout.sid.is_some(),
            "back-channel logout: revoked the provider's sessions"
        );
        ResponseBuilder::new(StatusCode::OK).build()
    }
}

/// What a verified logout token revokes: the provider session `sid` in
/// full, or the sessions of `sub` issued up to the token.
fn revocation_of(logout: &LogoutToken, now: u64) -> Option<(RevocationKey, u64)> {
    match (&logout.sid, &logout.sub) {
        (Some(sid), _) => Some((RevocationKey::ProviderSession(sid.clone()), now)),
        (None, Some(sub)) => Some((
            RevocationKey::Subject(sub.clone()),
            logout.issued_at.min(now),
        )),
        (None, None) => None,
    }
}

/// Builds the provider's end-session URL, or returns `None` when the
/// provider has no end-session endpoint.
fn end_session_url(
    config: &Config,
    metadata: &ProviderMetadata,
    id_token: Option<&str>,
    state: &str,
) -> Option<String> {
    let endpoint = metadata.end_session_endpoint.as_deref()?;
    let mut url = url::Url::parse(endpoint).ok()?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(id_token) = id_token {
            query.append_pair("id_token_hint", id_token);
        }
        query
            .append_pair("client_id", &config.client_id)
            .append_pair(
                "post_logout_redirect_uri",
                config.post_logout_redirect_url.as_str(),
            )
            .append_pair("state", state);
    }
    Some(url.into())
}
