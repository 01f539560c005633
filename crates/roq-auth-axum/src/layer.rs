//! [`AuthLayer`]: hands the [`Auth`] to extractors and keeps
//! session-dependent responses out of shared caches.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, SET_COOKIE};
use axum::http::HeaderValue;
use axum::response::Response;
use pin_project_lite::pin_project;
use roq_auth_core::response::NO_STORE;
use roq_auth_core::{Auth, Session};
use tower::{Layer, Service};

/// The request's link to the layer, the one request extension the layer
/// adds: the [`Auth`] for extractors, and what they leave for the layer,
/// namely whether the handler's response depends on the session and the
/// `Set-Cookie` values that keep the session cookie current. One shared
/// allocation per request carries both.
#[derive(Clone)]
pub(crate) struct RequestAuth(Arc<Shared>);

struct Shared {
    auth: Auth,
    state: Mutex<ReadState>,
}

#[derive(Default)]
struct ReadState {
    read: bool,
    set_cookies: Vec<HeaderValue>,
    /// The session as first read, so that a `Session` extractor after a
    /// guard reads it no second time: `None` until it is read.
    session: Option<Option<Session>>,
}

impl RequestAuth {
    fn new(auth: Auth) -> RequestAuth {
        RequestAuth(Arc::new(Shared {
            auth,
            state: Mutex::default(),
        }))
    }

    pub(crate) fn auth(&self) -> &Auth {
        &self.0.auth
    }

    /// Records that the session was read, with the cookie updates that
    /// reading it produced.
    pub(crate) fn mark(&self, set_cookies: Vec<HeaderValue>) {
        let mut state = self.lock();
        state.read = true;
        state.set_cookies.extend(set_cookies);
    }

    /// Returns the session read earlier in this request, if any.
    pub(crate) fn session_read(&self) -> Option<Option<Session>> {
        self.lock().session.clone()
    }

    /// Keeps `session` for the extractors that run after this one.
    pub(crate) fn remember(&self, session: Option<Session>) {
        self.lock().session = Some(session);
    }

    fn take(&self) -> ReadState {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReadState> {
        self.0
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A tower layer that gives routes access to an [`Auth`].
///
/// Every response whose handler read the session (through `Session` or a
/// guard) gets `Cache-Control: private, no-store` unless the handler set its
/// own `Cache-Control`, and the `Set-Cookie` headers that keep the session
/// cookie current (see [`Auth::load_session`]).
#[derive(Clone, Debug)]
pub struct AuthLayer {
    auth: Auth,
}

impl AuthLayer {
    /// Wraps routes with `auth`.
    pub fn new(auth: Auth) -> AuthLayer {
        AuthLayer { auth }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            auth: self.auth.clone(),
            inner,
        }
    }
}

/// The service [`AuthLayer`] wraps around routes.
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    auth: Auth,
    inner: S,
}

impl<S> Service<Request> for AuthService<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The return from the provider's sign-out, at the post-logout URL.
        if let Some(response) =
            self.auth
                .post_logout_return(request.method(), request.uri(), request.headers())
        {
            return AuthFuture {
                state: State::Done {
                    response: Some(response.map(axum::body::Body::from)),
                },
            };
        }

        let link = RequestAuth::new(self.auth.clone());
        request.extensions_mut().insert(link.clone());
        AuthFuture {
            state: State::Inner {
                future: self.inner.call(request),
                link,
            },
        }
    }
}

pin_project! {
    /// The future of [`AuthService`]: the route's response with the
    /// headers the extractors asked for.
    pub struct AuthFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F> {
        // Waits for the route, then finishes its response.
        Inner {
            #[pin]
            future: F,
            link: RequestAuth,
        },
        // Completed without calling the route.
        Done { response: Option<Response> },
    }
}

impl<F, E> Future for AuthFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Done { response } => Poll::Ready(Ok(response
                .take()
                .expect("AuthFuture polled after it completed"))),
            StateProjection::Inner { future, link } => {
                let mut response = std::task::ready!(future.poll(cx))?;
                let state = link.take();
                if state.read && !response.headers().contains_key(CACHE_CONTROL) {
                    response
                        .headers_mut()
                        .insert(CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
                }
                for set_cookie in state.set_cookies {
                    response.headers_mut().append(SET_COOKIE, set_cookie);
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}
