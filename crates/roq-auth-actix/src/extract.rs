//! The `Session` extractor and the guard extractor the macros add.

use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError};
use roq_auth_core::response::NO_STORE;
use roq_auth_core::{Auth, GuardOutcome, GuardPolicy};

use crate::convert::{header_value_from_core, headers_to_core, CoreResponse};
use crate::middleware::SessionRead;

/// The signed-in user's session, as an extractor.
///
/// As a handler parameter `Session` rejects signed-out requests with 401;
/// `Option<Session>` lets the handler serve both. Inside a handler marked
/// `#[require_auth]` or `#[with_auth]` the session is read once, by the
/// guard.
///
/// ```no_run
/// use roq_auth_actix::Session;
///
/// async fn greeting(session: Option<Session>) -> String {
///     match session {
///         Some(session) => format!("Hello, {}", session.user().sub),
///         None => "Hello, guest".to_owned(),
///     }
/// }
/// ```
///
/// Actix Web turns every error of the inner extractor into `None` for
/// `Option<Session>`, so a route outside [`AuthMiddleware`](crate::AuthMiddleware)
/// gets `None` there (the misconfiguration is still logged) where
/// `Session` gets 500.
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
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRejection {
    /// No valid session cookie: the response is 401 with
    /// `{"error":"unauthorized"}`.
    #[error("the request has no valid session")]
    Unauthorized,
    /// The route is not wrapped in [`AuthMiddleware`](crate::AuthMiddleware):
    /// the response is 500, and the error is logged.
    #[error("the request has no Auth: the route is not wrapped in AuthMiddleware")]
    MissingMiddleware,
}

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            SessionRejection::Unauthorized => StatusCode::UNAUTHORIZED,
            SessionRejection::MissingMiddleware => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            SessionRejection::Unauthorized => HttpResponse::Unauthorized()
                .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE)))
                .insert_header((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ))
                .body(serde_json::json!({"error": "unauthorized"}).to_string()),
            SessionRejection::MissingMiddleware => missing_middleware_response(),
        }
    }
}

/// Returns the `Auth` that [`AuthMiddleware`](crate::AuthMiddleware) put in
/// the request, or logs that the middleware is missing.
pub(crate) fn request_auth(request: &HttpRequest) -> Result<Auth, SessionRejection> {
    if let Some(auth) = request.extensions().get::<Auth>() {
        return Ok(auth.clone());
    }
    tracing::error!(
        path = request.path(),
        "roq-auth: no Auth in the request, because AuthMiddleware does not wrap this route: \
         add `.wrap(AuthMiddleware::new(auth))` to the App"
    );
    Err(SessionRejection::MissingMiddleware)
}

/// Builds the 500 response for a route outside the middleware.
pub(crate) fn missing_middleware_response() -> HttpResponse {
    HttpResponse::InternalServerError()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ))
        .body("The server's sign-in is misconfigured.")
}

/// Reads the session once per request: a guard stores what it read in the
/// request's extensions for the `Session` extractor after it.
fn read_session(request: &HttpRequest) -> Result<Option<roq_auth_core::Session>, SessionRejection> {
    if let Some(read) = request.extensions().get::<ReadOnce>() {
        return Ok(read.0.clone());
    }

    let auth = request_auth(request)?;
    let loaded = auth.load_session(&headers_to_core(request.headers()));
    if let Some(read) = request.extensions().get::<SessionRead>() {
        let set_cookies = loaded
            .set_cookies
            .iter()
            .filter_map(|value| header_value_from_core("set-cookie", value))
            .collect();
        read.mark(set_cookies);
    }
    request
        .extensions_mut()
        .insert(ReadOnce(loaded.session.clone()));
    Ok(loaded.session)
}

#[derive(Clone)]
struct ReadOnce(Option<roq_auth_core::Session>);

impl FromRequest for Session {
    type Error = SessionRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            read_session(request)
                .and_then(|session| session.map(Session).ok_or(SessionRejection::Unauthorized)),
        )
    }
}

/// Not public API: the extractor `#[require_auth]` and `#[with_auth]` add as
/// a handler's first parameter.
///
/// Actix Web creates the futures of all of a handler's extractors in
/// parameter order, then polls them in that order and stops at the first
/// error. This guard decides inside `from_request` and returns a ready
/// future, so a denied request ends at the first poll and the later
/// extractors, such as `web::Json`, never read the body.
#[doc(hidden)]
pub struct Guard<P>(PhantomData<P>);

impl<P: GuardPolicy> FromRequest for Guard<P> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let auth = match request_auth(request) {
            Ok(auth) => auth,
            Err(rejection) => return ready(Err(rejection.into())),
        };

        // The path and query as received: actix-web's scopes match on the
        // full path and never strip a prefix from the URI.
        let target = request
            .uri()
            .path_and_query()
            .map(|target| target.as_str())
            .unwrap_or("/");

        // The session is read once, here, so the middleware can renew or
        // remove its cookie whatever the guard decides.
        let session = match read_session(request) {
            Ok(session) => session,
            Err(rejection) => return ready(Err(rejection.into())),
        };
        match auth.decide(&P::POLICY, session, target) {
            GuardOutcome::Allow(session) => {
                request.extensions_mut().insert(ReadOnce(session));
                ready(Ok(Guard(PhantomData)))
            }
            GuardOutcome::Deny(response) => ready(Err(GuardRejection {
                response: CoreResponse::new(response),
            }
            .into())),
        }
    }
}

/// The core's deny response (a redirect or a 401), rendered unchanged.
#[derive(thiserror::Error)]
#[error("the sign-in guard denied the request with status {}", .response.status())]
struct GuardRejection {
    response: CoreResponse,
}

// Written by hand so that logs show only the status, never header values.
impl std::fmt::Debug for GuardRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardRejection")
            .field("status", &self.response.status())
            .finish_non_exhaustive()
    }
}

impl ResponseError for GuardRejection {
    fn status_code(&self) -> StatusCode {
        self.response.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.response.to_response()
    }
}
