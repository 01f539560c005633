//! The token endpoint (authorization code grant with PKCE) and the userinfo endpoint.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::identity::{display_name, email, IdTokenClaims};
use crate::params::{self, Params};
use crate::store::{AccessGrant, Redemption, ACCESS_TOKEN_LIFETIME};
use crate::ProviderState;

/// An RFC 6749 section 5.2 error response.
#[derive(Debug)]
struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
    /// Whether to send `WWW-Authenticate: Basic`, required when the client tried HTTP Basic.
    basic_challenge: bool,
}

impl TokenError {
    fn bad_request(error: &'static str, description: &'static str) -> Self {
        TokenError {
            status: StatusCode::BAD_REQUEST,
            error,
            description,
            basic_challenge: false,
        }
    }

    fn invalid_client(description: &'static str, basic_challenge: bool) -> Self {
        TokenError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description,
            basic_challenge,
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.basic_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"development OpenID provider\""),
            );
        }
        response
    }
}

/// Client credentials presented at the token endpoint.
struct ClientCredentials {
    client_id: String,
    client_secret: String,
    used_basic: bool,
}

/// Handles `POST /token`.
pub(crate) async fn token(
    State(provider): State<Arc<ProviderState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match exchange_code(&provider, &headers, &body) {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(
                error = error.error,
                description = error.description,
                "token request rejected"
            );
            error.into_response()
        }
    }
}

fn exchange_code(
    provider: &ProviderState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, TokenError> {
    if !params::is_form_body(headers) {
        return Err(TokenError::bad_request(
            "invalid_request",
            "The token request body must be application/x-www-form-urlencoded.",
        ));
    }
    let params = Params::parse(body);
    if !params.duplicates().is_empty() {
        return Err(TokenError::bad_request(
            "invalid_request",
            "A request parameter appears more than once.",
        ));
    }

    let client = authenticate_client(provider, headers, &params)?;

    match params.get("grant_type") {
        None => {
            return Err(TokenError::bad_request(
                "invalid_request",
                "The grant_type parameter is missing.",
            ))
        }
        Some("authorization_code") => {}
        Some(_) => {
            return Err(TokenError::bad_request(
                "unsupported_grant_type",
                "Only grant_type=authorization_code is supported.",
            ))
        }
    }
    let code = params.get("code").ok_or(TokenError::bad_request(
        "invalid_request",
        "The code parameter is missing.",
    ))?;
    let redirect_uri = params.get("redirect_uri").ok_or(TokenError::bad_request(
        "invalid_request",
        "The redirect_uri parameter is missing.",
    ))?;
    let code_verifier = params.get("code_verifier").ok_or(TokenError::bad_request(
        "invalid_request",
        "The code_verifier parameter is missing.",
    ))?;
    if !params::is_pkce_value(code_verifier) {
        return Err(TokenError::bad_request(
            "invalid_request",
            "The code_verifier must be 43 to 128 unreserved characters.",
        ));
    }

    // The store stays locked from redemption until the access token is linked to the code,
    // so a concurrent replay of the same code finds that token and revokes it.
    let now = Instant::now();
    let mut store = provider.lock_store();
    let grant = match store.redeem_code(code, now) {
        Redemption::Granted(grant) => grant,
        Redemption::Replayed => {
            tracing::warn!(
                client_id = %client.client_id,
                "authorization code replayed, so the access token issued from it was revoked"
            );
            return Err(TokenError::bad_request(
                "invalid_grant",
                "The authorization code was already used.",
            ));
        }
        Redemption::Unknown => {
            return Err(TokenError::bad_request(
                "invalid_grant",
                "The authorization code is invalid or expired.",
            ));
        }
    };
    if grant.client_id != client.client_id {
        return Err(TokenError::bad_request(
            "invalid_grant",
            "The authorization code was issued to another client.",
        ));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(TokenError::bad_request(
            "invalid_grant",
            "The redirect_uri differs from the one in the authorization request.",
        ));
    }
    if !pkce_matches(code_verifier, &grant.code_challenge) {
        return Err(TokenError::bad_request(
            "invalid_grant",
            "The code_verifier does not match the code_challenge.",
        ));
    }

    let access_token = params::random_token();
    let issued_at = jsonwebtoken::get_current_timestamp();
    let expires_in = ACCESS_TOKEN_LIFETIME.as_secs();
    let claims = IdTokenClaims {
        iss: provider.issuer.clone(),
        sub: grant.login.sub.clone(),
        aud: grant.client_id.clone(),
        exp: issued_at + expires_in,
        iat: issued_at,
        auth_time: grant.login.auth_time,
        nonce: grant.nonce.clone(),
        at_hash: access_token_hash(&access_token),
        sid: grant.login.sid.clone(),
        name: display_name(&grant.login.sub),
        email: email(&grant.login.sub),
        email_verified: true,
    };
    let id_token = provider.key.sign(&claims).map_err(|err| {
        tracing::error!(error = %err, "failed to sign the ID token");
        TokenError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "Signing the ID token failed.",
            basic_challenge: false,
        }
    })?;

    let access_grant = AccessGrant {
        login: grant.login.clone(),
    };
    store.insert_access_token(access_token.clone(), access_grant, now);
    store.link_access_token(code, &access_token);
    drop(store);

    tracing::info!(client_id = %client.client_id, sub = %grant.login.sub, "issued tokens");
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "id_token": id_token,
        "scope": grant.scope,
    });
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Authenticates the client by `client_secret_basic` or `client_secret_post`.
fn authenticate_client(
    provider: &ProviderState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientCredentials, TokenError> {
    let credentials = match headers.get(header::AUTHORIZATION) {
        Some(value) => {
            if params.get("client_secret").is_some() {
                return Err(TokenError::bad_request(
                    "invalid_request",
                    "Use one client authentication method: \
                     HTTP Basic or client_secret in the body, not both.",
                ));
            }
            let credentials = parse_basic(value).ok_or(TokenError::invalid_client(
                "The Authorization header is not valid HTTP Basic credentials.",
                true,
            ))?;
            if params
                .get("client_id")
                .is_some_and(|id| id != credentials.client_id)
            {
                return Err(TokenError::bad_request(
                    "invalid_request",
                    "The client_id parameter differs from the HTTP Basic user name.",
                ));
            }
            credentials
        }
        None => {
            let (Some(client_id), Some(client_secret)) =
                (params.get("client_id"), params.get("client_secret"))
            else {
                return Err(TokenError::invalid_client(
                    "Client authentication is required: \
                     use HTTP Basic or client_id and client_secret in the body.",
                    true,
                ));
            };
            ClientCredentials {
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
                used_basic: false,
            }
        }
    };

    let config = &provider.config;
    let id_matches = credentials.client_id == config.client_id;
    if !(id_matches && secrets_equal(&credentials.client_secret, &config.client_secret)) {
        tracing::info!(client_id = %credentials.client_id, "client authentication failed");
        return Err(TokenError::invalid_client(
            "Client authentication failed: unknown client_id or wrong client_secret.",
            credentials.used_basic,
        ));
    }
    Ok(credentials)
}

/// Parses `Authorization: Basic` credentials. RFC 6749 section 2.3.1 form-urlencodes the
/// client id and secret before they are joined with `:` and base64-encoded.
fn parse_basic(value: &HeaderValue) -> Option<ClientCredentials> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some(ClientCredentials {
        client_id: params::form_decode(id)?,
        client_secret: params::form_decode(secret)?,
        used_basic: true,
    })
}

/// Compares two secrets in constant time. Hashing first hides the length of the secret too.
fn secrets_equal(presented: &str, expected: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    presented.ct_eq(&expected).into()
}

/// Checks an RFC 7636 S256 proof: `BASE64URL(SHA256(code_verifier)) == code_challenge`.
fn pkce_matches(code_verifier: &str, code_challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
    computed.as_bytes().ct_eq(code_challenge.as_bytes()).into()
}

/// Computes the `at_hash` claim for an ES256 ID token.
fn access_token_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Handles `GET` and `POST /userinfo` with an `Authorization: Bearer` access token.
pub(crate) async fn userinfo(
    State(provider): State<Arc<ProviderState>>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer_token(&headers) else {
        return bearer_error(false);
    };

    let store = provider.lock_store();
    let Some(grant) = store.access_token(token, Instant::now()) else {
        drop(store);
        tracing::info!("userinfo request with an invalid or expired access token");
        return bearer_error(true);
    };
    let sub = grant.login.sub.clone();
    drop(store);

    // The same profile claims as the ID token, which carries them whatever the scope.
    let claims = json!({
        "sub": sub,
        "name": display_name(&sub),
        "email": email(&sub),
        "email_verified": true,
    });
    let mut response = Json(claims).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Returns an RFC 6750 section 3 error response. Section 3.1 calls for no error code when the
/// request carried no token, and for `invalid_token` when the token is not valid.
fn bearer_error(token_was_sent: bool) -> Response {
    let (challenge, body) = if token_was_sent {
        (
            HeaderValue::from_static(
                "Bearer realm=\"development OpenID provider\", error=\"invalid_token\", \
                 error_description=\"The access token is invalid or expired.\"",
            ),
            json!({
                "error": "invalid_token",
                "error_description": "The access token is invalid or expired.",
            }),
        )
    } else {
        (
            HeaderValue::from_static("Bearer realm=\"development OpenID provider\""),
            json!({ "error_description": "An Authorization: Bearer access token is required." }),
        )
    };
    let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_example() {
        // Appendix B of RFC 7636.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(&verifier.replace('d', "e"), challenge));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = STANDARD.encode("my+client:p%40ss%3Aword+1");
        let value = HeaderValue::from_str(&format!("Basic {encoded}")).unwrap();
        let credentials = parse_basic(&value).unwrap();
        assert_eq!(credentials.client_id, "my client");
        assert_eq!(credentials.client_secret, "p@ss:word 1");
    }

    #[test]
    fn basic_rejects_other_schemes_and_garbage() {
        let bearer = HeaderValue::from_static("Bearer abc");
        assert!(parse_basic(&bearer).is_none());
        let not_base64 = HeaderValue::from_static("Basic !!!");
        assert!(parse_basic(&not_base64).is_none());
        let no_colon = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("id"))).unwrap();
        assert!(parse_basic(&no_colon).is_none());
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(secrets_equal("secret", "secret"));
        assert!(!secrets_equal("secret", "secreT"));
        assert!(!secrets_equal("secret", "secret2"));
    }
}
