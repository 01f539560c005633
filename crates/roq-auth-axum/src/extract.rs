//! The `Session` extractor and the guard extractor the macros add.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, OptionalFromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use roq_auth_core::response::NO_STORE;
use roq_auth_core::{Auth, GuardOutcome, GuardPolicy};

use crate::layer::SessionRead;

/// The signed-in user's session, as an extractor.
///
/// As a handler parameter, `Session` rejects signed-out requests with 401;
/// `Option<Session>` lets the handler serve both. Inside a handler marked
/// `#[require_auth]` or `#[with_auth]` the session is read once, by the
/// guard.
///
/// ```no_run
/// use roq_auth_axum::Session;
///
/// async fn greeting(session: Option<Session>) -> String {
///     match session {
///         Some(session) => format!("Hello, {}", session.user().sub),
///         None => "Hello, guest".to_owned(),
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Session(roq_auth_core::Session);

impl std::ops::Deref for Session {
    type Target = roq_auth_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Session {
    /// Returns the framework-independent session.
    pub fn into_inner(self) -> roq_auth_core::Session {
        self.0
    }
}

/// The reason a [`Session`] could not be extracted.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionRejection {
    /// No valid session cookie. The response is 401 with
    /// `{"error":"unauthorized"}`.
    Unauthorized,
    /// The route is not wrapped in [`AuthLayer`](crate::AuthLayer). The
    /// response is 500, and the error is logged.
    MissingLayer,
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            SessionRejection::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(axum::http::header::CACHE_CONTROL, NO_STORE)],
                Json(serde_json::json!({"error": "unauthorized"})),
            )
                .into_response(),
            SessionRejection::MissingLayer => missing_layer(),
        }
    }
}

pub(crate) fn missing_layer() -> Response {
    tracing::error!(
        "roq-auth: no Auth in the request; wrap the router in `AuthLayer::new(auth)` after adding the routes"
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server's sign-in is misconfigured.",
    )
        .into_response()
}

/// Reads the session once per request: a guard stores what it read in the
/// request's extensions for the `Session` extractor after it.
fn read_session(parts: &mut Parts) -> Result<Option<roq_auth_core::Session>, SessionRejection> {
    if let Some(read) = parts.extensions.get::<ReadOnce>() {
        return Ok(read.0.clone());
    }

    let auth = parts
        .extensions
        .get::<Auth>()
        .ok_or(SessionRejection::MissingLayer)?;
    let loaded = auth.load_session(&parts.headers);
    if let Some(read) = parts.extensions.get::<SessionRead>() {
        read.mark(loaded.set_cookies);
    }
    parts.extensions.insert(ReadOnce(loaded.session.clone()));
    Ok(loaded.session)
}

#[derive(Clone)]
struct ReadOnce(Option<roq_auth_core::Session>);

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        read_session(parts)?
            .map(Session)
            .ok_or(SessionRejection::Unauthorized)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(read_session(parts)?.map(Session))
    }
}

/// Not public API: the extractor `#[require_auth]` and `#[with_auth]` add as
/// a handler's first parameter. It applies `P::POLICY` before any other
/// extractor runs, so a signed-out caller is turned away before a body is
/// read.
#[doc(hidden)]
pub struct Guard<P>(PhantomData<P>);

impl<S, P> FromRequestParts<S> for Guard<P>
where
    S: Send + Sync,
    P: GuardPolicy,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(auth) = parts.extensions.get::<Auth>().cloned() else {
            return Err(missing_layer());
        };

        let target = parts
            .extensions
            .get::<OriginalUri>()
            .map(|uri| &uri.0)
            .unwrap_or(&parts.uri)
            .path_and_query()
            .map(|target| target.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());

        // The session is read once, here, so the layer can renew or remove
        // its cookie whatever the guard decides.
        let session = read_session(parts).map_err(IntoResponse::into_response)?;
        match auth.decide(&P::POLICY, session, &target) {
            GuardOutcome::Allow(session) => {
                parts.extensions.insert(ReadOnce(session));
                Ok(Guard(PhantomData))
            }
            GuardOutcome::Deny(response) => Err(response.map(axum::body::Body::from)),
        }
    }
}
