//! Axum adapter of roq-auth: OpenID Connect sign-in, sealed-cookie sessions
//! and route protection for Axum 0.8.
//!
//! # Examples
//!
//! ```no_run
//! use axum::{routing::get, Json, Router};
//! use roq_auth_axum::{require_auth, with_auth, Auth, AuthLayer, Session};
//!
//! #[require_auth]
//! async fn dashboard(session: Session) -> String {
//!     format!("Hello, {}", session.user().sub)
//! }
//!
//! #[with_auth]
//! async fn me(session: Session) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "sub": session.user().sub }))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::from_env()?;
//! let app: Router = Router::new()
//!     .route("/dashboard", get(dashboard))
//!     .route("/api/me", get(me))
//!     .nest("/api/auth", roq_auth_axum::routes())
//!     .layer(AuthLayer::new(auth));
//! # let _ = app; Ok(()) }
//! ```
//!
//! [`AuthLayer`] must wrap every route that reads the session: it hands the
//! [`Auth`] to the extractors and marks responses that depend on the session
//! as not cacheable. Add it after the routes, because Axum applies a layer
//! only to the routes added before it.
#![forbid(unsafe_code)]

extern crate self as roq_auth_axum;

mod extract;
mod layer;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use layer::RequestAuth;

pub use extract::{Session, SessionRejection};
pub use layer::{AuthFuture, AuthLayer, AuthService};
pub use roq_auth_core::{
    AccessToken, AccessTokenError, Auth, AuthBuilder, AuthRoute, Config, ConfigBuilder,
    ConfigError, SignInDenied, User,
};

/// Protects a page: signed-out visitors are redirected to sign in, and
/// signed-in visitors who lack a required `role`, `scope` or `check` get 403.
///
/// See the [`roq_auth_macros`] documentation of `axum_require_auth` for every
/// option.
pub use roq_auth_macros::axum_require_auth as require_auth;

/// Protects an API handler: signed-out callers get 401 with
/// `{"error":"unauthorized"}`, and signed-in callers who lack a required
/// `role`, `scope` or `check` get 403 with `{"error":"forbidden"}`.
///
/// See the [`roq_auth_macros`] documentation of `axum_with_auth` for details.
pub use roq_auth_macros::axum_with_auth as with_auth;

/// Returns a router with the auth routes `/login`, `/callback`, `/session`,
/// `/logout` and `/backchannel-logout`, to nest at the configured mount path (`/api/auth` by
/// default):
///
/// ```ignore
/// Router::new().nest("/api/auth", roq_auth_axum::routes())
/// ```
///
/// The routes find the [`Auth`] through [`AuthLayer`], which must wrap them.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mut router = Router::new();
    for (route, segment) in AuthRoute::ALL {
        router = router.route(
            &format!("/{segment}"),
            any(move |request: Request| handle(route, request)),
        );
    }
    router
}

async fn handle(route: AuthRoute, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(auth) = parts
        .extensions
        .get::<RequestAuth>()
        .map(|link| link.auth().clone())
    else {
        return extract::missing_layer().into_response();
    };
    let full_path = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|uri| uri.0.path())
        .unwrap_or(parts.uri.path());
    auth.config().warn_if_mounted_elsewhere(full_path);
    let body = if route.reads_body() {
        match axum::body::to_bytes(body, roq_auth_core::MAX_BACKCHANNEL_BODY).await {
            Ok(body) => body,
            Err(_) => {
                return (
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    [(
                        axum::http::header::CACHE_CONTROL,
                        roq_auth_core::response::NO_STORE,
                    )],
                )
                    .into_response()
            }
        }
    } else {
        axum::body::Bytes::new()
    };
    auth.handle(route, &parts, &body)
        .await
        .map(axum::body::Body::from)
}

#[doc(hidden)]
/// Not public API: the items the macros' generated code names.
pub mod __private {
    pub use crate::extract::Guard;
    pub use roq_auth_core::{GuardPolicy, Policy};
}
