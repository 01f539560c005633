//! The authorization endpoint: request validation, the login form and the code redirect.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use crate::html::{self, LoginForm};
use crate::identity::validate_user_name;
use crate::params::{self, Params};
use crate::store::{CodeGrant, Login};
use crate::ProviderState;

/// Authorization request parameters that the login form sends back as hidden fields.
const FORM_PARAMS: [&str; 8] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

/// Scope values this provider supports. Others are ignored, as OpenID Connect Core 1.0
/// section 5.4 requires of scope values an implementation does not understand.
pub(crate) const SUPPORTED_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// A validated authorization request.
struct AuthorizationRequest<'a> {
    params: &'a Params,
    client_id: &'a str,
    redirect_uri: &'a str,
    state: Option<&'a str>,
    nonce: Option<&'a str>,
    code_challenge: &'a str,
    /// The requested scope values this provider supports, space-separated.
    granted_scope: String,
}

/// Reason an authorization request failed, with the way to report it to the user agent.
enum Rejection {
    /// The client or redirect URI is not trusted, so the error must not be redirected.
    Page(String),
    /// An RFC 6749 section 4.1.2.1 error response, redirected to the verified redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
}

/// Handles `GET /authorize`: validates the request and shows the login form.
pub(crate) async fn authorize_get(
    State(provider): State<Arc<ProviderState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    match validate(&provider, &params) {
        Ok(request) => login_form(&request, "alice", None, StatusCode::OK),
        Err(rejection) => reject(&provider, rejection),
    }
}

/// Handles `POST /authorize`: the login form submission, or an authorization request sent
/// as a form post (OpenID Connect Core 3.1.2.1 requires both GET and POST).
pub(crate) async fn authorize_post(
    State(provider): State<Arc<ProviderState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !params::is_form_body(&headers) {
        let message = "POST /authorize requires an application/x-www-form-urlencoded body.";
        return html::html_response(StatusCode::BAD_REQUEST, html::error_page(message));
    }
    let params = Params::parse(&body);
    let request = match validate(&provider, &params) {
        Ok(request) => request,
        Err(rejection) => return reject(&provider, rejection),
    };

    match params.get("action") {
        None => login_form(&request, "alice", None, StatusCode::OK),
        Some("cancel") => {
            tracing::info!(
                client_id = request.client_id,
                "sign-in cancelled at the login form"
            );
            let rejection = request.error("access_denied", "The user cancelled the sign-in.");
            reject(&provider, rejection)
        }
        Some("login") => {
            let typed_name = params.get("username").unwrap_or_default();
            match validate_user_name(typed_name) {
                Ok(sub) => issue_code(&provider, &request, sub),
                Err(message) => {
                    login_form(&request, typed_name, Some(message), StatusCode::BAD_REQUEST)
                }
            }
        }
        Some(_) => {
            let rejection = request.error(
                "invalid_request",
                "The action parameter must be login or cancel.",
            );
            reject(&provider, rejection)
        }
    }
}

impl AuthorizationRequest<'_> {
    fn error(&self, error: &'static str, description: &'static str) -> Rejection {
        Rejection::Redirect {
            redirect_uri: self.redirect_uri.to_owned(),
            state: self.state.map(str::to_owned),
            error,
            description,
        }
    }
}

/// Validates an authorization request in the order RFC 6749 section 4.1.2.1 requires: the
/// client and redirect URI first, whose failures show an error page, then everything else,
/// whose failures are redirected back to the client.
fn validate<'a>(
    provider: &ProviderState,
    params: &'a Params,
) -> Result<AuthorizationRequest<'a>, Rejection> {
    let config = &provider.config;

    if params.is_duplicate("client_id") {
        return Err(Rejection::Page(
            "The client_id parameter appears more than once.".into(),
        ));
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| Rejection::Page("The request has no client_id parameter.".into()))?;
    if client_id != config.client_id {
        return Err(Rejection::Page(format!(
            "Unknown client_id \"{client_id}\". This provider only knows the client \"{}\".",
            config.client_id
        )));
    }

    if params.is_duplicate("redirect_uri") {
        return Err(Rejection::Page(
            "The redirect_uri parameter appears more than once.".into(),
        ));
    }
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| Rejection::Page("The request has no redirect_uri parameter.".into()))?;
    if !config.redirect_uris.iter().any(|uri| uri == redirect_uri) {
        return Err(Rejection::Page(format!(
            "The redirect_uri \"{redirect_uri}\" is not registered for client \"{client_id}\". \
             Registered redirect URIs must match exactly: {}.",
            config.redirect_uris.join(", ")
        )));
    }

    let state = params.get("state");
    let fail = |error, description| Rejection::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.map(str::to_owned),
        error,
        description,
    };

    if !params.duplicates().is_empty() {
        return Err(fail(
            "invalid_request",
            "A request parameter appears more than once.",
        ));
    }
    if params.get("request").is_some() {
        return Err(fail(
            "request_not_supported",
            "The request parameter is not supported.",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(fail(
            "request_uri_not_supported",
            "The request_uri parameter is not supported.",
        ));
    }

    match params.get("response_type") {
        None => {
            return Err(fail(
                "invalid_request",
                "The response_type parameter is missing.",
            ))
        }
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "Only response_type=code is supported.",
            ))
        }
    }
    if params
        .get("response_mode")
        .is_some_and(|mode| mode != "query")
    {
        return Err(fail(
            "invalid_request",
            "Only response_mode=query is supported.",
        ));
    }

    let requested_scopes: Vec<&str> = params.get("scope").unwrap_or_default().split(' ').collect();
    if !requested_scopes.contains(&"openid") {
        return Err(fail(
            "invalid_scope",
            "The scope parameter must contain openid.",
        ));
    }
    let granted_scope = SUPPORTED_SCOPES
        .into_iter()
        .filter(|scope| requested_scopes.contains(scope))
        .collect::<Vec<_>>()
        .join(" ");

    let Some(code_challenge) = params.get("code_challenge") else {
        return Err(fail(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256.",
        ));
    };
    if params.get("code_challenge_method") != Some("S256") {
        return Err(fail(
            "invalid_request",
            "Only code_challenge_method=S256 is supported.",
        ));
    }
    if !params::is_pkce_value(code_challenge) {
        return Err(fail(
            "invalid_request",
            "The code_challenge is not a valid S256 challenge.",
        ));
    }

    // The provider keeps no sign-in session, so it can never authenticate without the form.
    if params
        .get("prompt")
        .is_some_and(|prompt| prompt.split(' ').any(|p| p == "none"))
    {
        return Err(fail(
            "login_required",
            "This provider keeps no session, so prompt=none cannot succeed.",
        ));
    }

    Ok(AuthorizationRequest {
        params,
        client_id,
        redirect_uri,
        state,
        nonce: params.get("nonce"),
        code_challenge,
        granted_scope,
    })
}

/// Issues a code for a signed-in user and redirects back to the client.
fn issue_code(
    provider: &ProviderState,
    request: &AuthorizationRequest<'_>,
    sub: String,
) -> Response {
    let code = params::random_token();
    let login = Login {
        sub,
        auth_time: jsonwebtoken::get_current_timestamp(),
        sid: params::random_token(),
    };
    tracing::info!(
        client_id = request.client_id,
        sub = %login.sub,
        "user signed in at the development provider"
    );

    let grant = CodeGrant {
        client_id: request.client_id.to_owned(),
        redirect_uri: request.redirect_uri.to_owned(),
        code_challenge: request.code_challenge.to_owned(),
        nonce: request.nonce.map(str::to_owned),
        scope: request.granted_scope.clone(),
        login,
    };
    provider
        .lock_store()
        .insert_code(code.clone(), grant, Instant::now());

    let mut response = vec![("code", code.as_str())];
    if let Some(state) = request.state {
        response.push(("state", state));
    }
    response.push(("iss", provider.issuer.as_str()));
    redirect_with(provider, request.redirect_uri, &response)
}

/// Shows the login form for a validated request.
fn login_form(
    request: &AuthorizationRequest<'_>,
    user_name: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let hidden_fields: Vec<(&'static str, &str)> = FORM_PARAMS
        .into_iter()
        .filter_map(|name| request.params.get(name).map(|value| (name, value)))
        .collect();
    let form = LoginForm {
        client_id: request.client_id,
        redirect_uri: request.redirect_uri,
        hidden_fields: &hidden_fields,
        user_name,
        error,
    };
    html::html_response(status, html::login_page(&form))
}

/// Sends a rejection to the user agent: as an error page, or as an error redirect that
/// carries `state` and `iss` (RFC 9207 section 2 requires `iss` on error responses too).
fn reject(provider: &ProviderState, rejection: Rejection) -> Response {
    match rejection {
        Rejection::Page(message) => {
            tracing::info!(%message, "authorization request rejected with an error page");
            html::html_response(StatusCode::BAD_REQUEST, html::error_page(&message))
        }
        Rejection::Redirect {
            redirect_uri,
            state,
            error,
            description,
        } => {
            tracing::info!(
                error,
                description,
                "authorization request rejected with an error redirect"
            );
            let mut response = vec![("error", error), ("error_description", description)];
            if let Some(state) = state.as_deref() {
                response.push(("state", state));
            }
            response.push(("iss", provider.issuer.as_str()));
            redirect_with(provider, &redirect_uri, &response)
        }
    }
}

/// Redirects with 303 to `redirect_uri` with `pairs` appended to its query.
fn redirect_with(provider: &ProviderState, redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    // `validate_config` rejects registered URIs that do not parse, so this branch is unreachable.
    let Ok(mut url) = Url::parse(redirect_uri) else {
        tracing::error!(
            redirect_uri,
            issuer = %provider.issuer,
            "registered redirect URI does not parse"
        );
        let message = format!("The registered redirect URI \"{redirect_uri}\" is not a valid URL.");
        return html::html_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            html::error_page(&message),
        );
    };
    url.query_pairs_mut().extend_pairs(pairs);
    Redirect::to(url.as_str()).into_response()
}
