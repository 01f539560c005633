//! [`AuthMiddleware`]: hands the [`Auth`] to extractors and keeps
//! session-dependent responses out of shared caches.

use std::cell::RefCell;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderValue, CACHE_CONTROL, SET_COOKIE};
use actix_web::HttpMessage as _;
use roq_auth_core::response::NO_STORE;
use roq_auth_core::{Auth, Session};

/// What the extractors leave for the middleware: whether the handler's
/// response depends on the session, and the `Set-Cookie` values that keep
/// the session cookie current.
///
/// Actix Web handles a request on one thread, so shared ownership within
/// the request needs no lock.
#[derive(Clone, Default)]
pub(crate) struct SessionRead(Rc<RefCell<ReadState>>);

#[derive(Default)]
struct ReadState {
    read: bool,
    set_cookies: Vec<HeaderValue>,
    /// The session as first read, so that a `Session` extractor after a
    /// guard reads it no second time: `None` until it is read.
    session: Option<Option<Session>>,
}

impl SessionRead {
    /// Records that the session was read, with the cookie updates that
    /// reading it produced.
    pub(crate) fn mark(&self, set_cookies: Vec<HeaderValue>) {
        let mut state = self.0.borrow_mut();
        state.read = true;
        state.set_cookies.extend(set_cookies);
    }

    /// Returns the session read earlier in this request, if any.
    pub(crate) fn session_read(&self) -> Option<Option<Session>> {
        self.0.borrow().session.clone()
    }

    /// Keeps `session` for the extractors that run after this one.
    pub(crate) fn remember(&self, session: Option<Session>) {
        self.0.borrow_mut().session = Some(session);
    }

    fn take(&self) -> ReadState {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// Actix Web middleware that gives routes access to an [`Auth`].
///
/// Register it with `App::wrap`, which applies it to every route of the
/// app whatever the order of `wrap` and `service`. Every response whose
/// handler read the session (through `Session` or a guard) gets
/// `Cache-Control: private, no-store` unless the handler set its own
/// `Cache-Control`, and the `Set-Cookie` headers that keep the session
/// cookie current (see [`Auth::load_session`]).
#[derive(Clone, Debug)]
pub struct AuthMiddleware {
    auth: Auth,
}

impl AuthMiddleware {
    /// Wraps routes with `auth`.
    pub fn new(auth: Auth) -> AuthMiddleware {
        AuthMiddleware { auth }
    }
}

impl<S, B> Transform<S, ServiceRequest> for AuthMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = AuthMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuthMiddlewareService {
            auth: self.auth.clone(),
            service,
        }))
    }
}

/// The service [`AuthMiddleware`] wraps around routes.
#[derive(Debug)]
pub struct AuthMiddlewareService<S> {
    auth: Auth,
    service: S,
}

impl<S, B> Service<ServiceRequest> for AuthMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        // The return from the provider's sign-out, at the post-logout URL.
        // Only that path pays for converting the request.
        if request.path() == self.auth.config().post_logout_redirect_url().path() {
            if let Ok(parts) = crate::convert::request_parts(request.request()) {
                if let Some(response) =
                    self.auth
                        .post_logout_return(&parts.method, &parts.uri, &parts.headers)
                {
                    let response = crate::convert::response_from_core(response);
                    return Box::pin(ready(Ok(request
                        .into_response(response)
                        .map_into_right_body())));
                }
            }
        }

        let read = SessionRead::default();
        request.extensions_mut().insert(self.auth.clone());
        request.extensions_mut().insert(read.clone());

        let future = self.service.call(request);
        Box::pin(async move {
            // NOTE: an `Err` from an inner middleware passes through without
            // these headers, because its response is only built later, by an
            // outer service. Handlers and extractors never return `Err` here:
            // actix-web renders their errors into `Ok` responses.
            let mut response = future.await?;
            let state = read.take();
            if state.read && !response.headers().contains_key(CACHE_CONTROL) {
                response
                    .headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
            }
            for set_cookie in state.set_cookies {
                response.headers_mut().append(SET_COOKIE, set_cookie);
            }
            Ok(response.map_into_left_body())
        })
    }
}
