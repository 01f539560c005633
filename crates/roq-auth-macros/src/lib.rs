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

/// Protects an Axum page handler: signed-out visitors are redirected to sign
/// in, and signed-in visitors without permission get `403 Forbidden`.
///
/// With `redirect_if_authenticated` it does the opposite, for a sign-in
/// page: signed-in visitors are sent away and signed-out ones are served.
///
/// # Examples
///
/// ```
/// use axum::response::Html;
/// use axum::routing::get;
/// use axum::Router;
/// use roq_auth::axum::{require_auth, Session, User};
///
/// #[require_auth]
/// async fn dashboard(session: Session) -> Html<String> {
///     // Only signed-in visitors get here.
///     Html(format!("<h1>Hello, {}</h1>", session.user().sub))
/// }
///
/// #[require_auth(redirect_to = "/signin", role = "admin")]
/// async fn admin(session: Session) -> Html<String> {
///     // Only signed-in visitors with the role "admin" get here. Signed-out
///     // visitors go to /signin instead of the login route.
///     Html(format!("<h1>Admin: {}</h1>", session.user().sub))
/// }
///
/// fn is_staff(user: &User) -> bool {
///     user.email.as_deref().is_some_and(|email| email.ends_with("@example.com"))
/// }
///
/// #[require_auth(scope = "reports:read", check = is_staff)]
/// async fn reports() -> Html<&'static str> {
///     Html("<h1>Reports</h1>")
/// }
///
/// #[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]
/// async fn signin() -> Html<&'static str> {
///     // Only signed-out visitors get here.
///     Html("<a href=\"/api/auth/login\">Sign in</a>")
/// }
///
/// let app: Router = Router::new()
///     .route("/dashboard", get(dashboard))
///     .route("/admin", get(admin))
///     .route("/reports", get(reports))
///     .route("/signin", get(signin));
/// ```
///
/// The rest of the signature is kept as written, so `State`, `Path`,
/// `Query`, a body extractor such as `Json` in last place, `Result` return
/// types and `impl IntoResponse` work as without the macro. The routes must
/// be wrapped in `AuthLayer`.
///
/// # Equivalent code
///
/// `#[require_auth(redirect_to = "/signin", role = "admin")]` on `admin`
/// above responds to requests as this handler, written without the macro,
/// does:
///
/// ```
/// use axum::extract::OriginalUri;
/// use axum::http::{header, StatusCode};
/// use axum::response::{Html, IntoResponse, Response};
/// use roq_auth::axum::Session;
/// use roq_auth::return_to::sanitize_return_to;
/// use serde_json::Value;
///
/// const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "private, no-store");
///
/// async fn admin(session: Option<Session>, OriginalUri(uri): OriginalUri) -> Response {
///     // Signed out: 303 to `redirect_to`, or to the login route
///     // (`/api/auth/login`) without it, with the page to come back to.
///     let Some(session) = session else {
///         let target = uri.path_and_query().map_or("/", |target| target.as_str());
///         let return_to = sanitize_return_to(Some(target));
///         let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
///         let location = format!("/signin?returnTo={encoded}");
///         let headers = [(header::LOCATION, location.as_str()), NO_STORE];
///         return (StatusCode::SEE_OTHER, headers).into_response();
///     };
///
///     // Signed in without the role, in the roles claim (`roles` by default):
///     // 403 with a small HTML page. `scope` and `check` are checked the
///     // same way, after the role.
///     let is_admin = match session.user().claim("roles") {
///         Some(Value::String(role)) => role == "admin",
///         Some(Value::Array(roles)) => roles.iter().any(|role| role == "admin"),
///         _ => false,
///     };
///     if !is_admin {
///         return (StatusCode::FORBIDDEN, [NO_STORE], Html("<h1>Forbidden</h1>")).into_response();
///     }
///
///     // The handler's own body.
///     Html(format!("<h1>Admin: {}</h1>", session.user().sub)).into_response()
/// }
/// # let _: axum::Router = axum::Router::new().route("/admin", axum::routing::get(admin));
/// ```
///
/// The macro does this with an extractor that it adds as the handler's
/// first parameter, with the options in a `const` of a generated type:
///
/// ```text
/// #[doc(hidden)]
/// struct __roq_auth_policy_admin;
///
/// impl roq_auth::axum::__private::GuardPolicy for __roq_auth_policy_admin {
///     const POLICY: roq_auth::axum::__private::Policy =
///         roq_auth::axum::__private::Policy::page().redirect_to("/signin").role("admin");
/// }
///
/// async fn admin(
///     _: roq_auth::axum::__private::Guard<__roq_auth_policy_admin>,
///     session: Session,
/// ) -> Html<String> {
///     // the body, unchanged
/// }
/// ```
///
/// The `__private` items are not public API. The extractor applies the
/// policy with `Auth::guard`.
#[doc = include_str!("../docs/require_auth.md")]
#[proc_macro_attribute]
pub fn axum_require_auth(args: TokenStream, item: TokenStream) -> TokenStream {
    let adapter = Framework::Axum.adapter_path();
    expand::expand(MacroKind::RequireAuth, adapter, args.into(), item.into()).into()
}

/// Protects an Axum API handler: signed-out callers get `401 Unauthorized`
/// and signed-in callers without permission get `403 Forbidden`, both with
/// a JSON error body.
///
/// # Examples
///
/// ```
/// use axum::routing::{get, post};
/// use axum::{Json, Router};
/// use roq_auth::axum::{with_auth, Session, User};
/// use serde_json::{json, Value};
///
/// #[with_auth]
/// async fn me(session: Session) -> Json<Value> {
///     // Only signed-in callers get here.
///     Json(json!({ "sub": session.user().sub }))
/// }
///
/// fn is_verified(user: &User) -> bool {
///     user.claim("email_verified") == Some(Value::Bool(true))
/// }
///
/// #[with_auth(role = "editor", scope = "reports:write", check = is_verified)]
/// async fn create_report(session: Session, Json(report): Json<Value>) -> Json<Value> {
///     // Only verified editors whose sign-in granted `reports:write` get here.
///     // The guard runs before `Json`, so a denied request is never read.
///     Json(json!({ "by": session.user().sub, "report": report }))
/// }
///
/// let app: Router = Router::new()
///     .route("/api/me", get(me))
///     .route("/api/reports", post(create_report));
/// ```
///
/// The rest of the signature is kept as written, so `State`, `Path`,
/// `Query`, a body extractor such as `Json` in last place, `Result` return
/// types and `impl IntoResponse` work as without the macro. The routes must
/// be wrapped in `AuthLayer`.
///
/// # Equivalent code
///
/// `#[with_auth(role = "editor")]` responds to requests as this handler,
/// written without the macro, does:
///
/// ```
/// use axum::http::{header, StatusCode};
/// use axum::response::{IntoResponse, Response};
/// use axum::Json;
/// use roq_auth::axum::Session;
/// use serde_json::{json, Value};
///
/// const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "private, no-store");
///
/// async fn create_report(session: Option<Session>, Json(report): Json<Value>) -> Response {
///     // Signed out: 401. The macro answers before the body is read, so an
///     // invalid body gets 401 there, where this handler returns 400.
///     let Some(session) = session else {
///         let body = Json(json!({ "error": "unauthorized" }));
///         return (StatusCode::UNAUTHORIZED, [NO_STORE], body).into_response();
///     };
///
///     // Signed in without the role, in the roles claim (`roles` by default):
///     // 403. `scope` and `check` are checked the same way, after the role.
///     let is_editor = match session.user().claim("roles") {
///         Some(Value::String(role)) => role == "editor",
///         Some(Value::Array(roles)) => roles.iter().any(|role| role == "editor"),
///         _ => false,
///     };
///     if !is_editor {
///         let body = Json(json!({ "error": "forbidden" }));
///         return (StatusCode::FORBIDDEN, [NO_STORE], body).into_response();
///     }
///
///     // The handler's own body.
///     Json(json!({ "by": session.user().sub, "report": report })).into_response()
/// }
/// # let _: axum::Router = axum::Router::new().route("/api/reports", axum::routing::post(create_report));
/// ```
///
/// The macro does this with an extractor that it adds as the handler's
/// first parameter, as described for `#[require_auth]`, with the policy
/// `Policy::api().role("editor")`.
#[doc = include_str!("../docs/with_auth.md")]
#[proc_macro_attribute]
pub fn axum_with_auth(args: TokenStream, item: TokenStream) -> TokenStream {
    let adapter = Framework::Axum.adapter_path();
    expand::expand(MacroKind::WithAuth, adapter, args.into(), item.into()).into()
}

/// Protects an Actix Web page handler: signed-out visitors are redirected to
/// sign in, and signed-in visitors without permission get `403 Forbidden`.
///
/// With `redirect_if_authenticated` it does the opposite, for a sign-in
/// page: signed-in visitors are sent away and signed-out ones are served.
///
/// # Examples
///
/// The route macro may come before or after it:
///
/// ```
/// use actix_web::{get, web, App};
/// use roq_auth::actix::{require_auth, Session, User};
///
/// #[get("/dashboard")]
/// #[require_auth]
/// async fn dashboard(session: Session) -> web::Html {
///     // Only signed-in visitors get here.
///     web::Html::new(format!("<h1>Hello, {}</h1>", session.user().sub))
/// }
///
/// #[require_auth(redirect_to = "/signin", role = "admin")]
/// #[get("/admin")]
/// async fn admin(session: Session) -> web::Html {
///     // Only signed-in visitors with the role "admin" get here. Signed-out
///     // visitors go to /signin instead of the login route.
///     web::Html::new(format!("<h1>Admin: {}</h1>", session.user().sub))
/// }
///
/// fn is_staff(user: &User) -> bool {
///     user.email.as_deref().is_some_and(|email| email.ends_with("@example.com"))
/// }
///
/// #[require_auth(scope = "reports:read", check = is_staff)]
/// async fn reports() -> web::Html {
///     web::Html::new("<h1>Reports</h1>")
/// }
///
/// #[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]
/// async fn signin() -> web::Html {
///     // Only signed-out visitors get here.
///     web::Html::new("<a href=\"/api/auth/login\">Sign in</a>")
/// }
///
/// let app = App::new()
///     .service(dashboard)
///     .service(admin)
///     .route("/reports", web::get().to(reports))
///     .route("/signin", web::get().to(signin));
/// ```
///
/// The rest of the signature is kept as written, so `web::Data`,
/// `web::Path`, `web::Query`, `web::Json`, `Result` return types and
/// `impl Responder` work as without the macro. The app must be wrapped in
/// `AuthMiddleware`.
///
/// # Equivalent code
///
/// `#[require_auth(redirect_to = "/signin", role = "admin")]` on `admin`
/// above responds to requests as this handler, written without the macro,
/// does:
///
/// ```
/// use actix_web::http::header;
/// use actix_web::{web, HttpRequest, HttpResponse};
/// use roq_auth::actix::Session;
/// use roq_auth::return_to::sanitize_return_to;
/// use serde_json::Value;
///
/// const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "private, no-store");
///
/// async fn admin(request: HttpRequest, session: Option<Session>) -> HttpResponse {
///     // Signed out: 303 to `redirect_to`, or to the login route
///     // (`/api/auth/login`) without it, with the page to come back to.
///     let Some(session) = session else {
///         let target = request.uri().path_and_query().map_or("/", |target| target.as_str());
///         let return_to = sanitize_return_to(Some(target));
///         let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
///         return HttpResponse::SeeOther()
///             .insert_header((header::LOCATION, format!("/signin?returnTo={encoded}")))
///             .insert_header(NO_STORE)
///             .finish();
///     };
///
///     // Signed in without the role, in the roles claim (`roles` by default):
///     // 403 with a small HTML page. `scope` and `check` are checked the
///     // same way, after the role.
///     let is_admin = match session.user().claim("roles") {
///         Some(Value::String(role)) => role == "admin",
///         Some(Value::Array(roles)) => roles.iter().any(|role| role == "admin"),
///         _ => false,
///     };
///     if !is_admin {
///         return HttpResponse::Forbidden()
///             .insert_header(NO_STORE)
///             .content_type("text/html; charset=utf-8")
///             .body("<h1>Forbidden</h1>");
///     }
///
///     // The handler's own body.
///     HttpResponse::Ok()
///         .content_type("text/html; charset=utf-8")
///         .body(format!("<h1>Admin: {}</h1>", session.user().sub))
/// }
/// # let _ = actix_web::App::new().route("/admin", web::get().to(admin));
/// ```
///
/// The macro does this with an extractor that it adds as the handler's
/// first parameter, with the options in a `const` of a generated type:
///
/// ```text
/// #[doc(hidden)]
/// struct __roq_auth_policy_admin;
///
/// impl roq_auth::actix::__private::GuardPolicy for __roq_auth_policy_admin {
///     const POLICY: roq_auth::actix::__private::Policy =
///         roq_auth::actix::__private::Policy::page().redirect_to("/signin").role("admin");
/// }
///
/// async fn admin(
///     _: roq_auth::actix::__private::Guard<__roq_auth_policy_admin>,
///     session: Session,
/// ) -> web::Html {
///     // the body, unchanged
/// }
/// ```
///
/// The `__private` items are not public API. The extractor applies the
/// policy with `Auth::guard`.
#[doc = include_str!("../docs/require_auth.md")]
#[proc_macro_attribute]
pub fn actix_require_auth(args: TokenStream, item: TokenStream) -> TokenStream {
    let adapter = Framework::Actix.adapter_path();
    expand::expand(MacroKind::RequireAuth, adapter, args.into(), item.into()).into()
}

/// Protects an Actix Web API handler: signed-out callers get
/// `401 Unauthorized` and signed-in callers without permission get
/// `403 Forbidden`, both with a JSON error body.
///
/// # Examples
///
/// The route macro may come before or after it:
///
/// ```
/// use actix_web::{get, post, web, App};
/// use roq_auth::actix::{with_auth, Session, User};
/// use serde_json::{json, Value};
///
/// #[get("/api/me")]
/// #[with_auth]
/// async fn me(session: Session) -> web::Json<Value> {
///     // Only signed-in callers get here.
///     web::Json(json!({ "sub": session.user().sub }))
/// }
///
/// fn is_verified(user: &User) -> bool {
///     user.claim("email_verified") == Some(Value::Bool(true))
/// }
///
/// #[with_auth(role = "editor", scope = "reports:write", check = is_verified)]
/// #[post("/api/reports")]
/// async fn create_report(session: Session, report: web::Json<Value>) -> web::Json<Value> {
///     // Only verified editors whose sign-in granted `reports:write` get here.
///     // The guard runs before `web::Json`, so a denied request is never read.
///     web::Json(json!({ "by": session.user().sub, "report": report.into_inner() }))
/// }
///
/// let app = App::new().service(me).service(create_report);
/// ```
///
/// The rest of the signature is kept as written, so `web::Data`,
/// `web::Path`, `web::Query`, `web::Json`, `Result` return types and
/// `impl Responder` work as without the macro. The app must be wrapped in
/// `AuthMiddleware`.
///
/// # Equivalent code
///
/// `#[with_auth(role = "editor")]` responds to requests as this handler,
/// written without the macro, does:
///
/// ```
/// use actix_web::http::header;
/// use actix_web::{web, HttpResponse};
/// use roq_auth::actix::Session;
/// use serde_json::{json, Value};
///
/// const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "private, no-store");
///
/// async fn create_report(session: Option<Session>, report: web::Json<Value>) -> HttpResponse {
///     // Signed out: 401. The macro answers before the body is read, so an
///     // invalid body gets 401 there, where this handler returns 400.
///     let Some(session) = session else {
///         return HttpResponse::Unauthorized()
///             .insert_header(NO_STORE)
///             .json(json!({ "error": "unauthorized" }));
///     };
///
///     // Signed in without the role, in the roles claim (`roles` by default):
///     // 403. `scope` and `check` are checked the same way, after the role.
///     let is_editor = match session.user().claim("roles") {
///         Some(Value::String(role)) => role == "editor",
///         Some(Value::Array(roles)) => roles.iter().any(|role| role == "editor"),
///         _ => false,
///     };
///     if !is_editor {
///         return HttpResponse::Forbidden()
///             .insert_header(NO_STORE)
///             .json(json!({ "error": "forbidden" }));
///     }
///
///     // The handler's own body.
///     HttpResponse::Ok().json(json!({ "by": session.user().sub, "report": report.into_inner() }))
/// }
/// # let _ = actix_web::App::new().route("/api/reports", web::post().to(create_report));
/// ```
///
/// The macro does this with an extractor that it adds as the handler's
/// first parameter, as described for `#[require_auth]`, with the policy
/// `Policy::api().role("editor")`.
#[doc = include_str!("../docs/with_auth.md")]
#[proc_macro_attribute]
pub fn actix_with_auth(args: TokenStream, item: TokenStream) -> TokenStream {
    let adapter = Framework::Actix.adapter_path();
    expand::expand(MacroKind::WithAuth, adapter, args.into(), item.into()).into()
}
