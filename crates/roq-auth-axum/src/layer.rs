//! [`AuthLayer`]: hands the [`Auth`] to extractors and keeps
//! session-dependent responses out of shared caches.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header::CACHE_CONTROL;
use axum::http::HeaderValue;
use axum::response::Response;
use roq_auth_core::response::NO_STORE;
use roq_auth_core::Auth;
use tower::{Layer, Service};

/// A flag the extractors set when a handler's answer depends on the
/// session.
#[derive(Clone, Default)]
pub(crate) struct SessionRead(Arc<AtomicBool>);

impl SessionRead {
    pub(crate) fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_marked(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A tower layer that gives routes access to an [`Auth`].
///
/// Every response whose handler read the session (through `Session` or a
/// guard) gets `Cache-Control: private, no-store` unless the handler set its
/// own `Cache-Control`.
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
        let read = SessionRead::default();
        request.extensions_mut().insert(self.auth.clone());
        request.extensions_mut().insert(read.clone());

        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            if read.is_marked() && !response.headers().contains_key(CACHE_CONTROL) {
                response
                    .headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
            }
            Ok(response)
        })
    }
}
