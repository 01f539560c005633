//! The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0).
//!
//! The provider keeps no sign-in session, so logout only validates the request and either
//! redirects to a registered post-logout URI or shows a signed-out page.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use crate::html;
use crate::identity::IdTokenClaims;
use crate::params::{self, Params};
use crate::ProviderState;

/// Handles `GET /logout`.
pub(crate) async fn logout_get(
    State(provider): State<Arc<ProviderState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    logout(&provider, &params)
}

/// Handles `POST /logout` with a form body, which RP-Initiated Logout allows as well as GET.
pub(crate) async fn logout_post(
    State(provider): State<Arc<ProviderState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !params::is_form_body(&headers) {
        let note =
            "The logout request body was not application/x-www-form-urlencoded, so it was ignored.";
        return signed_out(Some(note));
    }
    logout(&provider, &Params::parse(&body))
}

fn logout(provider: &ProviderState, params: &Params) -> Response {
    let config = &provider.config;

    if let Some(hint) = params.get("id_token_hint") {
        let verified = provider.key.verify_ignoring_expiry::<IdTokenClaims>(
            hint,
            &provider.issuer,
            &config.client_id,
        );
        if let Err(err) = verified {
            tracing::info!(error = %err, "logout request has an invalid id_token_hint");
            return signed_out(Some(
                "The id_token_hint was not issued by this provider, so no redirect was made.",
            ));
        }
    }
    if params
        .get("client_id")
        .is_some_and(|id| id != config.client_id)
    {
        tracing::info!("logout request names an unknown client_id");
        return signed_out(Some("The client_id is unknown, so no redirect was made."));
    }

    let Some(target) = params.get("post_logout_redirect_uri") else {
        return signed_out(None);
    };
    if !config
        .post_logout_redirect_uris
        .iter()
        .any(|uri| uri == target)
    {
        tracing::info!(
            post_logout_redirect_uri = target,
            "logout redirect URI is not registered; showing the signed-out page"
        );
        return signed_out(Some(
            "The post_logout_redirect_uri is not registered, so no redirect was made.",
        ));
    }
    // `validate_config` rejects registered URIs that do not parse, so this branch is unreachable.
    let Ok(mut url) = Url::parse(target) else {
        return signed_out(None);
    };
    if let Some(state) = params.get("state") {
        url.query_pairs_mut().append_pair("state", state);
    }
    tracing::info!(post_logout_redirect_uri = target, "logout redirect");
    Redirect::to(url.as_str()).into_response()
}

fn signed_out(note: Option<&str>) -> Response {
    html::html_response(StatusCode::OK, html::signed_out_page(note))
}
