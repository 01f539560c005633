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
use roq_auth_core::response::NO_STORE;
use roq_auth_core::Auth;
use tower::{Layer, Service};

/// What the extractors leave for the layer: whether the handler's response
/// depends on the session, and the `Set-Cookie` values that keep the
/// session cookie current.
#[derive(Clone, Default)]
pub(crate) struct SessionRead(Arc<Mutex<ReadState>>);

#[derive(Default)]
struct ReadState {
    read: bool,
    set_cookies: Vec<HeaderValue>,
}

impl SessionRead {
    /// Records that the session was read, with the cookie updates that
    /// reading it produced.
    pub(crate) fn mark(&self, set_cookies: Vec<HeaderValue>) {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.read = true;
        state.set_cookies.extend(set_cookies);
    }

    fn take(&self) -> ReadState {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::take(&mut *state)
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
    S: Service<Request, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The return from the provider's sign-out, at the post-logout URL.
        if let Some(response) =
            self.auth
                .post_logout_return(request.method(), request.uri(), request.headers())
        {
            return Box::pin(async move { Ok(response.map(axum::body::Body::from)) });
        }

        let read = SessionRead::default();
        request.extensions_mut().insert(self.auth.clone());
        request.extensions_mut().insert(read.clone());

        let future = self.inner.call(request);
        Box::pin(async move {
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
            Ok(response)
        })
    }
}
