//! The `Session` extractor and the guard extractor the macros add.

use std::future::ready;
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError};
use roq_auth_core::response::NO_STORE;
use roq_auth_core::{
    AccessToken, AccessTokenError, Auth, GuardOutcome, GuardPolicy, LoadedSession,
    SessionUnavailable,
};

use crate::convert::{
    cookie_headers_to_core, header_value_from_core, headers_to_core, CoreResponse,
};
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
#[derive(Clone)]
pub struct Session {
    session: roq_auth_core::Session,
    /// The request, for [`Session::access_token`], which reads the tokens
    /// cookie only when called.
    request: HttpRequest,
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
    /// [`Auth::access_token`]). Refreshed tokens reach the browser with
    /// this request's response.
    ///
    /// ```no_run
    /// use actix_web::HttpResponse;
    /// use roq_auth_actix::Session;
    ///
    /// async fn orders(session: Session) -> HttpResponse {
    ///     match session.access_token().await {
    ///         // Call the API with `Authorization: Bearer {token.secret()}`.
    ///         Ok(token) => HttpResponse::Ok().body(format!("expires at {:?}", token.expires_at())),
    ///         Err(err) => HttpResponse::build(
    ///             actix_web::http::StatusCode::from_u16(err.status().as_u16()).unwrap(),
    ///         )
    ///         .finish(),
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`AccessTokenError`] when there is no valid token: the user must
    /// sign in again (401), or the provider is unavailable (503).
    pub async fn access_token(&self) -> Result<AccessToken, AccessTokenError> {
        let Ok(auth) = request_auth(&self.request) else {
            return Err(AccessTokenError::Missing);
        };
        let headers = headers_to_core(self.request.headers());
        let outcome = auth.access_token(&self.session, &headers).await;
        mark_read(&self.request, outcome.set_cookies);
        outcome.result
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
    /// The revocation store cannot be read: the response is 503 with
    /// `{"error":"unavailable"}`.
    #[error(transparent)]
    Unavailable(SessionUnavailable),
}

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            SessionRejection::Unauthorized => StatusCode::UNAUTHORIZED,
            SessionRejection::MissingMiddleware => StatusCode::INTERNAL_SERVER_ERROR,
            SessionRejection::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            SessionRejection::Unavailable(err) => {
                CoreResponse::new(err.response(true)).to_response()
            }
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

/// A future that stays on the worker thread, as actix-web's are.
type LocalBoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T>>>;

/// A session read that finished at once, or that must wait for the
/// revocation store.
enum Read {
    Done(Result<Option<roq_auth_core::Session>, SessionRejection>),
    Later(Auth),
}

/// Reads the session once per request: a guard stores what it read in the
/// request's extensions for the `Session` extractor after it. With the
/// built-in revocation store this finishes at once.
fn begin_read(request: &HttpRequest) -> Read {
    if let Some(session) = request
        .extensions()
        .get::<SessionRead>()
        .and_then(SessionRead::session_read)
    {
        return Read::Done(Ok(session));
    }
    let auth = match request_auth(request) {
        Ok(auth) => auth,
        Err(rejection) => return Read::Done(Err(rejection)),
    };
    match auth.load_session_now(&cookie_headers_to_core(request.headers())) {
        Some(loaded) => Read::Done(Ok(keep_loaded(request, loaded))),
        None => Read::Later(auth),
    }
}

/// Finishes a read that waits for the revocation store.
async fn finish_read(
    request: HttpRequest,
    auth: Auth,
) -> Result<Option<roq_auth_core::Session>, SessionRejection> {
    let headers = cookie_headers_to_core(request.headers());
    let loaded = auth.load_session(&headers).await.map_err(|err| {
        tracing::error!(error = %err, "cannot read the session");
        SessionRejection::Unavailable(err)
    })?;
    Ok(keep_loaded(&request, loaded))
}

async fn read_session(
    request: HttpRequest,
) -> Result<Option<roq_auth_core::Session>, SessionRejection> {
    match begin_read(&request) {
        Read::Done(result) => result,
        Read::Later(auth) => finish_read(request, auth).await,
    }
}

/// Hands the cookie updates to the middleware and remembers the session for
/// later extractors of the same request.
fn keep_loaded(request: &HttpRequest, loaded: LoadedSession) -> Option<roq_auth_core::Session> {
    mark_read(request, loaded.set_cookies);
    remember(request, loaded.session.clone());
    loaded.session
}

/// Keeps the session for the extractors that run after this one.
fn remember(request: &HttpRequest, session: Option<roq_auth_core::Session>) {
    if let Some(read) = request.extensions().get::<SessionRead>() {
        read.remember(session);
    }
}

/// Tells the middleware that the session was read, with the `Set-Cookie`
/// values for the response.
fn mark_read(request: &HttpRequest, set_cookies: Vec<http::HeaderValue>) {
    if let Some(read) = request.extensions().get::<SessionRead>() {
        let set_cookies = set_cookies
            .iter()
            .filter_map(|value| header_value_from_core("set-cookie", value))
            .collect();
        read.mark(set_cookies);
    }
}

impl FromRequest for Session {
    type Error = SessionRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let session = read_session(request.clone())
                .await?
                .ok_or(SessionRejection::Unauthorized)?;
            Ok(Session { session, request })
        })
    }
}

/// Not public API: the extractor `#[require_auth]` and `#[with_auth]` add as
/// a handler's first parameter.
///
/// Actix Web creates the futures of all of a handler's extractors in
/// parameter order, then polls them in that order and stops at the first
/// error. This guard decides inside `from_request` and returns a future
/// that is ready at once, so a denied request ends at the first poll and the
/// later extractors, such as `web::Json`, never read the body. Only with a
/// revocation store that returns asynchronously, such as Redis, does the
/// guard wait, and a later extractor may then start reading the body.
#[doc(hidden)]
pub struct Guard<P>(PhantomData<P>);

impl<P: GuardPolicy + 'static> FromRequest for Guard<P> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let auth = match request_auth(request) {
            Ok(auth) => auth,
            Err(rejection) => return Box::pin(ready(Err(rejection.into()))),
        };

        // The session is read once, here, so the middleware can renew or
        // remove its cookie whatever the guard decides.
        match begin_read(request) {
            Read::Done(session) => Box::pin(ready(guard_decision::<P>(&auth, request, session))),
            Read::Later(_) => {
                let request = request.clone();
                Box::pin(async move {
                    let session = finish_read(request.clone(), auth.clone()).await;
                    guard_decision::<P>(&auth, &request, session)
                })
            }
        }
    }
}

fn guard_decision<P: GuardPolicy>(
    auth: &Auth,
    request: &HttpRequest,
    session: Result<Option<roq_auth_core::Session>, SessionRejection>,
) -> Result<Guard<P>, actix_web::Error> {
    let session = match session {
        Ok(session) => session,
        Err(SessionRejection::Unavailable(err)) => {
            let api = P::POLICY.kind == roq_auth_core::guard::PolicyKind::Api;
            return Err(GuardRejection {
                response: CoreResponse::new(err.response(api)),
            }
            .into());
        }
        Err(rejection) => return Err(rejection.into()),
    };
    // The path and query as received: actix-web's scopes match on the
    // full path and never strip a prefix from the URI.
    let target = request
        .uri()
        .path_and_query()
        .map(|target| target.as_str())
        .unwrap_or("/");
    match auth.decide(&P::POLICY, session, target) {
        // The read already left the session for the extractors after this
        // one (`keep_loaded`).
        GuardOutcome::Allow(_) => Ok(Guard(PhantomData)),
        GuardOutcome::Deny(response) => Err(GuardRejection {
            response: CoreResponse::new(response),
        }
        .into()),
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
