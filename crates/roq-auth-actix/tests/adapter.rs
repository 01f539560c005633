//! The Actix Web adapter in process, through `actix_web::test`: guards,
//! extractors, the middleware's `Cache-Control` rule and the auth routes.
//! No request leaves the process: the provider is never contacted, because
//! no case signs in through it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{get, web, App, HttpResponse};
use roq_auth_actix::{require_auth, with_auth, Auth, AuthMiddleware, Config, Session, User};
use roq_auth_core::Clock;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const SECRET: &str = "4f1c2a9b8e7d6c5b4a3928171615141312111009080706050403020100ffeedd";

/// The inactivity window of the test configuration, in seconds. A session
/// cookie is renewed once less than half of it is left.
const INACTIVITY_SECS: u64 = 600;

/// A clock the test moves by hand, in Unix seconds.
#[derive(Debug)]
struct TestClock(AtomicU64);

impl TestClock {
    fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn auth_with_clock(clock: Arc<TestClock>) -> Auth {
    let config = Config::builder()
        .secret(SECRET)
        .issuer_url("https://login.example.test")
        .client_id("app")
        .client_secret("client-secret")
        .base_url("http://app.example.test")
        .session_inactivity_timeout(std::time::Duration::from_secs(INACTIVITY_SECS))
        .clock(clock)
        .build()
        .expect("the test configuration is valid");
    Auth::new(config)
}

fn auth() -> Auth {
    auth_with_clock(Arc::new(TestClock(AtomicU64::new(1_700_000_000))))
}

/// Returns a `Cookie` header value with a valid session for `sub`.
fn session_cookie(sub: &str) -> String {
    auth()
        .test_session_cookie(User::new(sub).with_name("Test User"), &[])
        .expect("a small session fits in a cookie")
}

async fn body_text(response: ServiceResponse<impl MessageBody>) -> String {
    let bytes = test::read_body(response).await;
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn header_text<'a>(response: &'a ServiceResponse<impl MessageBody>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
        .unwrap_or("")
}

/// Counts the calls of the handlers below, so a case can tell that a
/// guard stopped a request before the handler.
static NOTE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[derive(Deserialize, Serialize)]
struct Note {
    text: String,
}

#[with_auth]
async fn create_note(session: Session, note: web::Json<Note>) -> HttpResponse {
    NOTE_CALLS.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().json(json!({"sub": session.user().sub, "text": note.text}))
}

#[get("/above")]
#[require_auth]
async fn route_macro_above(session: Session) -> String {
    session.user().sub.clone()
}

#[require_auth]
#[get("/below")]
async fn route_macro_below(session: Session) -> String {
    session.user().sub.clone()
}

#[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]
async fn sign_in_page() -> &'static str {
    "sign in"
}

async fn greeting(session: Option<Session>) -> String {
    match session {
        Some(session) => format!("Hello, {}", session.user().sub),
        None => "Hello, guest".to_owned(),
    }
}

async fn profile(session: Session) -> String {
    session.user().sub.clone()
}

async fn cacheable_profile(session: Session) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, max-age=60"))
        .body(session.user().sub.clone())
}

async fn public() -> &'static str {
    "public"
}

/// Builds the test app, wrapped with `auth()` or the given `Auth`. A macro
/// because the service type `init_service` returns cannot be named.
macro_rules! app {
    () => {
        app!(auth())
    };
    ($auth:expr) => {
        test::init_service(
            App::new()
                .route("/notes", web::post().to(create_note))
                .service(
                    web::scope("/app")
                        .service(route_macro_above)
                        .service(route_macro_below),
                )
                .route("/sign-in", web::get().to(sign_in_page))
                .route("/greeting", web::get().to(greeting))
                .route("/profile", web::get().to(profile))
                .route("/cacheable", web::get().to(cacheable_profile))
                .route("/public", web::get().to(public))
                .service(roq_auth_actix::routes("/api/auth"))
                .wrap(AuthMiddleware::new($auth)),
        )
        .await
    };
}

#[actix_web::test]
async fn signed_out_api_guard_runs_before_body_extractor() {
    let app = app!();
    let calls_before = NOTE_CALLS.load(Ordering::SeqCst);

    // `web::Json` rejects both the body and the text/plain content type
    // with 400: the guard's 401 comes first either way.
    for content_type in ["application/json", "text/plain"] {
        let request = TestRequest::post()
            .uri("/notes")
            .insert_header((header::CONTENT_TYPE, content_type))
            .set_payload("not json")
            .to_request();
        let response = test::call_service(&app, request).await;

        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{content_type}"
        );
        assert_eq!(header_text(&response, "cache-control"), "private, no-store");
        assert_eq!(header_text(&response, "content-type"), "application/json");
        assert_eq!(body_text(response).await, r#"{"error":"unauthorized"}"#);
    }
    assert_eq!(NOTE_CALLS.load(Ordering::SeqCst), calls_before);
}

#[actix_web::test]
async fn signed_in_api_guard_reaches_handler_with_body() {
    let app = app!();

    let request = TestRequest::post()
        .uri("/notes")
        .insert_header((header::COOKIE, session_cookie("alice")))
        .set_json(json!({"text": "hello"}))
        .to_request();
    let response = test::call_service(&app, request).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_text(&response, "cache-control"), "private, no-store");
    let body: Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(body, json!({"sub": "alice", "text": "hello"}));
}

#[actix_web::test]
async fn page_guard_redirects_with_full_request_target() {
    let app = app!();

    for (target, location) in [
        (
            "/app/above?tab=1&x=%2F",
            "/api/auth/login?returnTo=%2Fapp%2Fabove%3Ftab%3D1%26x%3D%252F",
        ),
        (
            "/app/below?tab=1&x=%2F",
            "/api/auth/login?returnTo=%2Fapp%2Fbelow%3Ftab%3D1%26x%3D%252F",
        ),
    ] {
        let response = test::call_service(&app, TestRequest::get().uri(target).to_request()).await;

        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{target}");
        assert_eq!(header_text(&response, "location"), location);
        assert_eq!(header_text(&response, "cache-control"), "private, no-store");
    }
}

#[actix_web::test]
async fn page_guard_lets_signed_in_visitor_through() {
    let app = app!();

    for path in ["/app/above", "/app/below"] {
        let request = TestRequest::get()
            .uri(path)
            .insert_header((header::COOKIE, session_cookie("bob")))
            .to_request();
        let response = test::call_service(&app, request).await;

        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(body_text(response).await, "bob");
    }
}

#[actix_web::test]
async fn redirect_if_authenticated_sends_signed_in_visitor_away() {
    let app = app!();

    let signed_in = TestRequest::get()
        .uri("/sign-in")
        .insert_header((header::COOKIE, session_cookie("carol")))
        .to_request();
    let response = test::call_service(&app, signed_in).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(header_text(&response, "location"), "/dashboard");

    let signed_out = TestRequest::get().uri("/sign-in").to_request();
    let response = test::call_service(&app, signed_out).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_text(&response, "cache-control"), "private, no-store");
    assert_eq!(body_text(response).await, "sign in");
}

#[actix_web::test]
async fn session_extractor_rejects_signed_out_request() {
    let app = app!();

    let response = test::call_service(&app, TestRequest::get().uri("/profile").to_request()).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_text(&response, "cache-control"), "private, no-store");
    assert_eq!(header_text(&response, "content-type"), "application/json");
    assert_eq!(body_text(response).await, r#"{"error":"unauthorized"}"#);
}

#[actix_web::test]
async fn session_extractor_ignores_forged_cookie() {
    let app = app!();

    let request = TestRequest::get()
        .uri("/profile")
        .insert_header((header::COOKIE, "roq_session=forged"))
        .to_request();
    let response = test::call_service(&app, request).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn optional_session_serves_both_and_is_not_cacheable() {
    let app = app!();

    let response = test::call_service(&app, TestRequest::get().uri("/greeting").to_request()).await;
    assert_eq!(header_text(&response, "cache-control"), "private, no-store");
    assert_eq!(body_text(response).await, "Hello, guest");

    let request = TestRequest::get()
        .uri("/greeting")
        .insert_header((header::COOKIE, session_cookie("dave")))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(header_text(&response, "cache-control"), "private, no-store");
    assert_eq!(body_text(response).await, "Hello, dave");
}

#[actix_web::test]
async fn middleware_keeps_handler_cache_control() {
    let app = app!();

    let request = TestRequest::get()
        .uri("/cacheable")
        .insert_header((header::COOKIE, session_cookie("erin")))
        .to_request();
    let response = test::call_service(&app, request).await;

    assert_eq!(response.status(), StatusCode::OK);
    let values: Vec<&HeaderValue> = response.headers().get_all("cache-control").collect();
    assert_eq!(values, ["private, max-age=60"]);
}

#[actix_web::test]
async fn middleware_leaves_session_free_response_alone() {
    let app = app!();

    let request = TestRequest::get()
        .uri("/public")
        .insert_header((header::COOKIE, session_cookie("frank")))
        .to_request();
    let response = test::call_service(&app, request).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("cache-control").is_none());
}

#[actix_web::test]
async fn auth_routes_reach_the_core() {
    let app = app!();

    let session = test::call_service(
        &app,
        TestRequest::get().uri("/api/auth/session").to_request(),
    )
    .await;
    assert_eq!(session.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_text(session).await, r#"{"error":"unauthorized"}"#);

    let request = TestRequest::get()
        .uri("/api/auth/session")
        .insert_header((header::COOKIE, session_cookie("grace")))
        .to_request();
    let session = test::call_service(&app, request).await;
    assert_eq!(session.status(), StatusCode::OK);
    let body: Value = serde_json::from_str(&body_text(session).await).unwrap();
    assert_eq!(body["user"]["sub"], "grace");

    let put =
        test::call_service(&app, TestRequest::put().uri("/api/auth/login").to_request()).await;
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header_text(&put, "allow"), "GET, HEAD");

    let logout = test::call_service(
        &app,
        TestRequest::post()
            .uri("/api/auth/logout?returnTo=%2Fbye")
            .to_request(),
    )
    .await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(header_text(&logout, "location"), "/bye");
    let removal = header_text(&logout, "set-cookie");
    assert!(removal.starts_with("roq_session=;"), "{removal}");
    assert!(removal.contains("Max-Age=0"), "{removal}");

    let unknown = test::call_service(
        &app,
        TestRequest::get().uri("/api/auth/unknown").to_request(),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn missing_middleware_answers_500() {
    let app = test::init_service(
        App::new()
            .route("/profile", web::get().to(profile))
            .route("/greeting", web::get().to(greeting))
            .route("/notes", web::post().to(create_note))
            .service(roq_auth_actix::routes("/api/auth")),
    )
    .await;

    for request in [
        TestRequest::get().uri("/profile"),
        TestRequest::post()
            .uri("/notes")
            .set_json(json!({"text": "x"})),
        TestRequest::get().uri("/api/auth/session"),
    ] {
        let request = request.to_request();
        let path = request.path().to_owned();
        let response = app.call(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        assert_eq!(
            body_text(response).await,
            "The server's sign-in is misconfigured.",
            "{path}"
        );
    }

    // Actix Web turns the error of an optional extractor into `None`.
    let response = test::call_service(&app, TestRequest::get().uri("/greeting").to_request()).await;
    assert_eq!(body_text(response).await, "Hello, guest");
}

#[actix_web::test]
async fn session_cookie_renewed_after_half_window() {
    let clock = Arc::new(TestClock(AtomicU64::new(1_700_000_000)));
    let auth = auth_with_clock(clock.clone());
    let cookie = auth
        .test_session_cookie(User::new("heidi"), &[])
        .expect("a small session fits in a cookie");
    let app = app!(auth);

    // Early in the window the cookie stays as it is.
    for path in ["/profile", "/app/above"] {
        let request = TestRequest::get()
            .uri(path)
            .insert_header((header::COOKIE, cookie.clone()))
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.headers().get("set-cookie").is_none(), "{path}");
    }

    clock.advance(INACTIVITY_SECS / 2 + 1);
    for path in ["/profile", "/app/above"] {
        let request = TestRequest::get()
            .uri(path)
            .insert_header((header::COOKIE, cookie.clone()))
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let renewal = header_text(&response, "set-cookie");
        assert!(renewal.starts_with("roq_session="), "{path}: {renewal}");
        assert!(!renewal.starts_with("roq_session=;"), "{path}: {renewal}");
        assert!(renewal.contains("HttpOnly"), "{path}: {renewal}");
    }
}

#[actix_web::test]
async fn invalid_session_cookie_removed_on_denial() {
    let app = app!();

    for (request, expected) in [
        (
            TestRequest::post()
                .uri("/notes")
                .set_json(json!({"text": "x"})),
            StatusCode::UNAUTHORIZED,
        ),
        (TestRequest::get().uri("/app/above"), StatusCode::SEE_OTHER),
        (TestRequest::get().uri("/profile"), StatusCode::UNAUTHORIZED),
    ] {
        let request = request
            .insert_header((header::COOKIE, "roq_session=forged"))
            .to_request();
        let path = request.path().to_owned();
        let response = test::call_service(&app, request).await;

        assert_eq!(response.status(), expected, "{path}");
        let removal = header_text(&response, "set-cookie");
        assert!(removal.starts_with("roq_session=;"), "{path}: {removal}");
        assert!(removal.contains("Max-Age=0"), "{path}: {removal}");
    }
}
