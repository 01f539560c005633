//! The `Session` extractor and the guard extractor the macros add.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, OptionalFromRequestParts, OriginalUri};
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roq_auth_core::response::NO_STORE;
use roq_auth_core::{AccessToken, AccessTokenError, GuardOutcome, GuardPolicy, SessionUnavailable};

use crate::layer::RequestAuth;

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
#[derive(Clone)]
pub struct Session {
    session: roq_auth_core::Session,
    link: RequestAuth,
    /// The request's cookies, for [`Session::access_token`], which reads the
    /// tokens cookie only when called.
    cookie: Option<HeaderValue>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Session").field(&self.session).finish()
    }
}

impl std::ops::Deref for Session {
    type Target = roq_auth_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.session
    }
}

impl Session {
    /// Returns the framework-independent session.
    pub fn into_inner(self) -> roq_auth_core::Session {
        self.session
    }

    /// Returns a valid access token for calling APIs as the user,
    /// refreshed first when it has expired or is about to (see
    /// [`Auth::access_token`](roq_auth_core::Auth::access_token)).
    /// Refreshed tokens reach the browser with this request's response.
    ///
    /// ```no_run
    /// use axum::http::StatusCode;
    /// use roq_auth_axum::Session;
    ///
    /// async fn orders(session: Session) -> Result<String, StatusCode> {
    ///     let token = session
    ///         .access_token()
    ///         .await
    ///         .map_err(|err| err.status())?;
    ///     // Call the API with `Authorization: Bearer {token.secret()}`.
    ///     Ok(format!("token expires at {:?}", token.expires_at()))
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`AccessTokenError`] when there is no valid token: the user must
    /// sign in again (401), or the provider is unavailable (503).
    pub async fn access_token(&self) -> Result<AccessToken, AccessTokenError> {
        let mut headers = HeaderMap::new();
        if let Some(cookie) = &self.cookie {
            headers.insert(COOKIE, cookie.clone());
        }
        let outcome = self.link.auth().access_token(&self.session, &headers).await;
        self.link.mark(outcome.set_cookies);
        outcome.result
    }

    fn from_parts(
        parts: &Parts,
        session: roq_auth_core::Session,
    ) -> Result<Session, SessionRejection> {
        let link = parts
            .extensions
            .get::<RequestAuth>()
            .cloned()
            .ok_or(SessionRejection::MissingLayer)?;
        Ok(Session {
            session,
            link,
            cookie: joined_cookie_header(&parts.headers),
        })
    }
}

/// The request's `Cookie` headers as one value: HTTP/2 clients may send
/// one header per cookie.
fn joined_cookie_header(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut values = headers.get_all(COOKIE).iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(first.clone());
    };
    let mut joined = first.as_bytes().to_vec();
    for value in std::iter::once(second).chain(values) {
        joined.extend_from_slice(b"; ");
        joined.extend_from_slice(value.as_bytes());
    }
    HeaderValue::from_bytes(&joined).ok()
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
    /// The revocation store cannot be read. The response is 503 with
    /// `{"error":"unavailable"}`.
    Unavailable(SessionUnavailable),
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
            SessionRejection::Unavailable(err) => err.response(true).map(axum::body::Body::from),
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

/// Reads the session once per request: a guard leaves what it read with
/// the layer's link for the `Session` extractor after it.
async fn read_session(
    parts: &mut Parts,
) -> Result<Option<roq_auth_core::Session>, SessionRejection> {
    let link = parts
        .extensions
        .get::<RequestAuth>()
        .ok_or(SessionRejection::MissingLayer)?;
    if let Some(session) = link.session_read() {
        return Ok(session);
    }
    let session = load_session(link, &parts.headers).await?;
    link.remember(session.clone());
    Ok(session)
}

/// Reads the session from the request's cookies and records the cookie
/// updates for the layer.
async fn load_session(
    link: &RequestAuth,
    headers: &HeaderMap,
) -> Result<Option<roq_auth_core::Session>, SessionRejection> {
    let loaded = link.auth().load_session(headers).await.map_err(|err| {
        tracing::error!(error = %err, "cannot read the session");
        SessionRejection::Unavailable(err)
    })?;
    link.mark(loaded.set_cookies);
    Ok(loaded.session)
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let session = read_session(parts)
            .await?
            .ok_or(SessionRejection::Unauthorized)?;
        Session::from_parts(parts, session)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match read_session(parts).await? {
            Some(session) => Session::from_parts(parts, session).map(Some),
            None => Ok(None),
        }
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
        let Some(link) = parts.extensions.get::<RequestAuth>() else {
            return Err(missing_layer());
        };
        // The session is read once, here, so the layer can renew or remove
        // its cookie whatever the guard decides.
        let session = match load_session(link, &parts.headers).await {
            Ok(session) => session,
            Err(SessionRejection::Unavailable(err)) => {
                let api = P::POLICY.kind == roq_auth_core::guard::PolicyKind::Api;
                return Err(err.response(api).map(axum::body::Body::from));
            }
            Err(rejection) => return Err(rejection.into_response()),
        };
        // The request target, for the return after sign-in.
        let target = parts
            .extensions
            .get::<OriginalUri>()
            .map(|uri| &uri.0)
            .unwrap_or(&parts.uri)
            .path_and_query()
            .map_or("/", |target| target.as_str());
        match link.auth().decide(&P::POLICY, session, target) {
            GuardOutcome::Allow(session) => {
                link.remember(session);
                Ok(Guard(PhantomData))
            }
            GuardOutcome::Deny(response) => Err(response.map(axum::body::Body::from)),
        }
    }
}
