//! The `#[require_auth]` and `#[with_auth]` attribute macros of roq-auth.
//!
//! Use them through `roq_auth::axum` or `roq_auth::actix`, which re-export
//! them under those names. The entry points here carry the framework in their
//! names because the generated code names the framework's adapter crate.

use proc_macro::TokenStream;

use crate::args::MacroKind;
use crate::framework::Framework;

mod args;
mod errors;
mod expand;
mod framework;
#[cfg(test)]
mod test_support;

/// Redirects visitors of an Axum page handler based on whether they are
/// signed in.
///
/// By default, signed-out visitors are sent to sign in and come back after
/// it. With `redirect_if_authenticated`, signed-in visitors are sent away
/// instead, for a login page.
///
/// # Examples
///
/// ```ignore
/// use axum::response::Html;
/// use roq_auth::axum::{require_auth, Session};
///
/// #[require_auth]
/// async fn dashboard(session: Session) -> Html<String> {
///     // Only signed-in visitors get here.
///     Html("<h1>Dashboard</h1>".to_owned())
/// }
///
/// #[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]
/// async fn welcome() -> Html<&'static str> {
///     // Only signed-out visitors get here.
///     Html("<a href=\"/api/auth/login\">Sign in</a>")
/// }
/// ```
///
/// The rest of the signature is kept as written, so `State`, `Path`,
/// `Query`, a body extractor such as `Json` in last place, `Result` return
/// types and `impl IntoResponse` work as without the macro.
///
/// # Equivalent code
///
/// `#[require_auth(redirect_to = "/signin")] pub async fn dashboard(..)`
/// expands to the following. The `__private` items are not public API, so
/// this shows what runs, not code to write by hand.
///
/// ```ignore
/// #[doc(hidden)]
/// pub struct __roq_auth_policy_dashboard;
///
/// impl roq_auth::axum::__private::GuardPolicy for __roq_auth_policy_dashboard {
///     const POLICY: roq_auth::axum::__private::Policy =
///         roq_auth::axum::__private::Policy::Page {
///             redirect_to: Some("/signin"),
///             redirect_if_authenticated: false,
///         };
/// }
///
/// pub async fn dashboard(
///     _: roq_auth::axum::__private::Guard<__roq_auth_policy_dashboard>,
///     session: Session,
/// ) -> Html<String> {
///     // the body, unchanged
/// }
/// ```
#[doc = include_str!("../docs/require_auth.md")]
#[proc_macro_attribute]
pub fn axum_require_auth(args: TokenStream, item: TokenStream) -> TokenStream {
    let adapter = Framework::Axum.adapter_path();
    expand::expand(MacroKind::RequireAuth, adapter, args.into(), item.into()).into()
}

/// Rejects signed-out callers of an Axum API handler with `401 Unauthorized`.
///
/// # Examples
///
/// ```ignore
/// use axum::Json;
/// use roq_auth::axum::{with_auth, Session};
///
/// #[with_auth]
/// async fn me(session: Session) -> Json<Me> {
///     // Only signed-in callers get here.
///     Json(Me::default())
/// }
/// ```
///
/// The rest of the signature is kept as written, so `State`, `Path`,
/// `Query`, a body extractor such as `Json` in last place, `Result` return
/// types and `impl IntoResponse` work as without the macro.
///
/// # Equivalent code
///
/// `#[with_auth] pub async fn me(..)` expands to the following. The
/// `__private` items are not public API, so this shows what runs, not code to
/// write by hand.
///
/// ```ignore
/// #[doc(hidden)]
/// pub struct __roq_auth_policy_me;
///
/// impl roq_auth::axum::__private::GuardPolicy for __roq_auth_policy_me {
///     const POLICY: roq_auth::axum::__private::Policy = roq_auth::axum::__private::Policy::Api;
/// }
///
/// pub async fn me(
///     _: roq_auth::axum::__private::Guard<__roq_auth_policy_me>,
///     session: Session,
/// ) -> Json<Me> {
///     // the body, unchanged
/// }
/// ```
#[doc = include_str!("../docs/with_auth.md")]
#[proc_macro_attribute]
pub fn axum_with_auth(args: TokenStream, item: TokenStream) -> TokenStream {
    let adapter = Framework::Axum.adapter_path();
    expand::expand(MacroKind::WithAuth, adapter, args.into(), item.into()).into()
}

/// Redirects visitors of an Actix Web page handler based on whether they
/// are signed in.
///
/// By default, signed-out visitors are sent to sign in and come back after
/// it. With `redirect_if_authenticated`, signed-in visitors are sent away
/// instead, for a login page.
///
/// # Examples
///
/// The route macro may come before or after it:
///
/// ```ignore
/// use actix_web::{get, HttpResponse};
/// use roq_auth::actix::{require_auth, Session};
///
/// #[get("/dashboard")]
/// #[require_auth]
/// async fn dashboard(session: Session) -> HttpResponse {
///     // Only signed-in visitors get here.
///     HttpResponse::Ok().body("<h1>Dashboard</h1>")
/// }
///
/// #[get("/welcome")]
/// #[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]
/// async fn welcome() -> HttpResponse {
///     // Only signed-out visitors get here.
///     HttpResponse::Ok().body("<a href=\"/api/auth/login\">Sign in</a>")
/// }
/// ```
///
/// The rest of the signature is kept as written, so `web::Data`,
/// `web::Path`, `web::Query`, `web::Json`, `Result` return types and
/// `impl Responder` work as without the macro.
///
/// # Equivalent code
///
/// `#[require_auth(redirect_to = "/signin")] pub async fn dashboard(..)`
/// expands to the following. The `__private` items are not public API, so
/// this shows what runs, not code to write by hand.
///
/// ```ignore
/// #[doc(hidden)]
/// pub struct __roq_auth_policy_dashboard;
///
/// impl roq_auth::actix::__private::GuardPolicy for __roq_auth_policy_dashboard {
///     const POLICY: roq_auth::actix::__private::Policy =
///         roq_auth::actix::__private::Policy::Page {
///             redirect_to: Some("/signin"),
///             redirect_if_authenticated: false,
///         };
/// }
///
/// pub async fn dashboard(
///     _: roq_auth::actix::__private::Guard<__roq_auth_policy_dashboard>,
///     session: Session,
/// ) -> HttpResponse {
///     // the body, unchanged
/// }
/// ```
#[doc = include_str!("../docs/require_auth.md")]
#[proc_macro_attribute]
pub fn actix_require_auth(args: TokenStream, item: TokenStream) -> TokenStream {
    let adapter = Framework::Actix.adapter_path();
    expand::expand(MacroKind::RequireAuth, adapter, args.into(), item.into()).into()
}

/// Rejects signed-out callers of an Actix Web API handler with
/// `401 Unauthorized`.
///
/// # Examples
///
/// The route macro may come before or after it:
///
/// ```ignore
/// use actix_web::{get, web::Json};
/// use roq_auth::actix::{with_auth, Session};
///
/// #[get("/api/me")]
/// #[with_auth]
/// async fn me(session: Session) -> Json<Me> {
///     // Only signed-in callers get here.
///     Json(Me::default())
/// }
/// ```
///
/// The rest of the signature is kept as written, so `web::Data`,
/// `web::Path`, `web::Query`, `web::Json`, `Result` return types and
/// `impl Responder` work as without the macro.
///
/// # Equivalent code
///
/// `#[with_auth] pub async fn me(..)` expands to the following. The
/// `__private` items are not public API, so this shows what runs, not code to
/// write by hand.
///
/// ```ignore
/// #[doc(hidden)]
/// pub struct __roq_auth_policy_me;
///
/// impl roq_auth::actix::__private::GuardPolicy for __roq_auth_policy_me {
///     const POLICY: roq_auth::actix::__private::Policy = roq_auth::actix::__private::Policy::Api;
/// }
///
/// pub async fn me(
///     _: roq_auth::actix::__private::Guard<__roq_auth_policy_me>,
///     session: Session,
/// ) -> Json<Me> {
///     // the body, unchanged
/// }
/// ```
#[doc = include_str!("../docs/with_auth.md")]
#[proc_macro_attribute]
pub fn actix_with_auth(args: TokenStream, item: TokenStream) -> TokenStream {
    let adapter = Framework::Actix.adapter_path();
    expand::expand(MacroKind::WithAuth, adapter, args.into(), item.into()).into()
}
