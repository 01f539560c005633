//! Actix Web adapter of roq-auth: OpenID Connect sign-in, sealed-cookie
//! sessions and route protection for Actix Web 4.
//!
//! # Examples
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use roq_auth_actix::{require_auth, with_auth, Auth, AuthMiddleware, Session};
//!
//! #[require_auth]
//! async fn dashboard(session: Session) -> String {
//!     format!("Hello, {}", session.user().sub)
//! }
//!
//! #[with_auth]
//! async fn me(session: Session) -> web::Json<serde_json::Value> {
//!     web::Json(serde_json::json!({ "sub": session.user().sub }))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::from_env()?;
//! HttpServer::new(move || {
//!     App::new()
//!         .route("/dashboard", web::get().to(dashboard))
//!         .route("/api/me", web::get().to(me))
//!         .service(roq_auth_actix::routes("/api/auth"))
//!         .wrap(AuthMiddleware::new(auth.clone()))
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```
//!
//! [`AuthMiddleware`] must wrap every route that reads the session: it hands
//! the [`Auth`] to the extractors and marks responses that depend on the
//! session as not cacheable. `App::wrap` applies it to the whole app,
//! whether it comes before or after the routes.
//!
//! # Differences from the Axum adapter
//!
//! - Actix Web calls `from_request` of every extractor of a handler before
//!   it polls any of them. A denied request still never reaches the
//!   handler, and no body is read, because the guard's future is polled
//!   first and fails at once. A custom extractor that does work inside
//!   `from_request` itself, rather than in its future, runs nonetheless.
//! - `Option<Session>` is `None` on a route outside [`AuthMiddleware`]
//!   instead of a 500, because Actix Web turns every error of an optional
//!   extractor into `None`. The misconfiguration is logged.
#![forbid(unsafe_code)]

extern crate self as roq_auth_actix;

mod convert;
mod extract;
mod middleware;

use actix_web::{web, HttpRequest, HttpResponse, Scope};

pub use extract::{Session, SessionRejection};
pub use middleware::{AuthMiddleware, AuthMiddlewareService};
pub use roq_auth_core::{
    AccessToken, AccessTokenError, Auth, AuthBuilder, AuthRoute, Config, ConfigBuilder,
    ConfigError, SignInDenied, User,
};

/// Protects a page: signed-out visitors are redirected to sign in, and
/// signed-in visitors who lack a required `role`, `scope` or `check` get 403.
///
/// See the [`roq_auth_macros`] documentation of `actix_require_auth` for
/// every option.
pub use roq_auth_macros::actix_require_auth as require_auth;

/// Protects an API handler: signed-out callers get 401 with
/// `{"error":"unauthorized"}`, and signed-in callers who lack a required
/// `role`, `scope` or `check` get 403 with `{"error":"forbidden"}`.
///
/// See the [`roq_auth_macros`] documentation of `actix_with_auth` for
/// details.
pub use roq_auth_macros::actix_with_auth as with_auth;

/// Returns a scope at `mount_path` with the auth routes `/login`,
/// `/callback`, `/session`, `/logout` and `/backchannel-logout`. Pass the configured mount path
/// (`/api/auth` by default):
///
/// ```ignore
/// App::new().service(roq_auth_actix::routes("/api/auth"))
/// ```
///
/// Requests of every method reach the core, which returns 405 with an
/// `Allow` header for a method that a route does not take. The routes find the [`Auth`]
/// through [`AuthMiddleware`], which must wrap them.
pub fn routes(mount_path: &str) -> Scope {
    let mut scope = web::scope(mount_path);
    for (route, segment) in AuthRoute::ALL {
        scope = scope.service(
            web::resource(format!("/{segment}"))
                .to(move |request: HttpRequest, body: web::Payload| handle(route, request, body)),
        );
    }
    scope
}

async fn handle(route: AuthRoute, request: HttpRequest, body: web::Payload) -> HttpResponse {
    let auth = match extract::request_auth(&request) {
        Ok(auth) => auth,
        Err(_) => return extract::missing_middleware_response(),
    };
    auth.config().warn_if_mounted_elsewhere(request.path());
    let parts = match convert::request_parts(&request) {
        Ok(parts) => parts,
        Err(err) => {
            tracing::warn!(error = %err, "rejected a request to an auth route");
            return HttpResponse::BadRequest().finish();
        }
    };
    let body = if route.reads_body() {
        match body
            .to_bytes_limited(roq_auth_core::MAX_BACKCHANNEL_BODY)
            .await
        {
            Ok(Ok(body)) => body,
            Ok(Err(_)) | Err(_) => {
                return HttpResponse::PayloadTooLarge()
                    .insert_header((
                        actix_web::http::header::CACHE_CONTROL,
                        roq_auth_core::response::NO_STORE,
                    ))
                    .finish()
            }
        }
    } else {
        bytes::Bytes::new()
    };
    convert::response_from_core(auth.handle(route, &parts, &body).await)
}

#[doc(hidden)]
/// Not public API: the items the macros' generated code names.
pub mod __private {
    pub use crate::extract::Guard;
    pub use roq_auth_core::{GuardPolicy, Policy};
}
