//! Every option of `#[require_auth]` and `#[with_auth]` at run time: small
//! Axum and Actix Web apps, served in this process on 127.0.0.1, respond
//! to requests that carry a session cookie made with
//! `Auth::test_session_cookie`, or none. One case signs in for real at the
//! embedded development provider. Each case is written once and run against
//! both frameworks by `suite!` at the bottom.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::{Client, Response, StatusCode};
use roq_auth::{Auth, Config, ConfigBuilder, User};
use roq_auth_devprovider::{DevProvider, DevProviderConfig};
use serde_json::{json, Value};

/// A fixed `ROQ_SECRET` for the apps under test.
const SECRET: &str = "7d1e0c9a8b7f6e5d4c3b2a19081726354453627180918a7b6c5d4e3f2a1b0c9d";

/// An issuer that is never contacted: only the dev-provider case signs in.
const UNUSED_ISSUER: &str = "http://127.0.0.1:9";

/// The `check` function of the handlers below.
fn is_verified(user: &User) -> bool {
    user.claim("email_verified") == Some(Value::Bool(true))
}

/// Defines the same guarded handlers for one framework. The handlers take
/// and return types that both frameworks accept (`String`, and a `Json`
/// that the caller imports), so each option is declared once here.
macro_rules! guarded_handlers {
    ($framework:ident) => {
        use roq_auth::$framework::{require_auth, with_auth, Session};
        use serde_json::Value;

        use crate::is_verified;

        #[require_auth]
        pub async fn page(session: Session) -> String {
            format!("page for {}", session.user().sub)
        }

        #[require_auth(redirect_to = "/signin")]
        pub async fn page_redirect_to(session: Session) -> String {
            format!("page for {}", session.user().sub)
        }

        #[require_auth(redirect_to = "/signin?from=guard#form")]
        pub async fn page_redirect_to_query(session: Session) -> String {
            format!("page for {}", session.user().sub)
        }

        #[require_auth(redirect_if_authenticated)]
        pub async fn signin() -> String {
            "sign-in page".to_owned()
        }

        #[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]
        pub async fn welcome() -> String {
            "welcome page".to_owned()
        }

        #[require_auth(role = "admin")]
        pub async fn page_role(session: Session) -> String {
            format!("admin page for {}", session.user().sub)
        }

        #[require_auth(scope = "reports:read")]
        pub async fn page_scope(session: Session) -> String {
            format!("reports page for {}", session.user().sub)
        }

        #[require_auth(check = is_verified)]
        pub async fn page_check(session: Session) -> String {
            format!("verified page for {}", session.user().sub)
        }

        #[require_auth(redirect_to = "/signin", role = "admin", scope = "reports:read", check = is_verified)]
        pub async fn page_every(session: Session) -> String {
            format!("every requirement met by {}", session.user().sub)
        }

        #[with_auth]
        pub async fn api(session: Session) -> String {
            format!("api for {}", session.user().sub)
        }

        #[with_auth(role = "admin")]
        pub async fn api_role(session: Session) -> String {
            format!("admin api for {}", session.user().sub)
        }

        #[with_auth(scope = "reports:read")]
        pub async fn api_scope(session: Session) -> String {
            format!("reports api for {}", session.user().sub)
        }

        #[with_auth(scope = "email")]
        pub async fn api_scope_email(session: Session) -> String {
            format!("email api for {}", session.user().sub)
        }

        #[with_auth(check = is_verified)]
        pub async fn api_check(session: Session) -> String {
            format!("verified api for {}", session.user().sub)
        }

        #[with_auth(role = "admin", scope = "reports:read", check = is_verified)]
        pub async fn api_every(session: Session) -> String {
            format!("every requirement met by {}", session.user().sub)
        }

        /// Reads a JSON body after the guard, so that a test can tell
        /// whether the guard or the body extractor responded first.
        #[with_auth(role = "admin")]
        pub async fn api_body(session: Session, Json(body): Json<Value>) -> String {
            format!("{} sent {body}", session.user().sub)
        }
    };
}

mod axum_app {
    use std::future::IntoFuture as _;

    use axum::routing::{get, post};
    use axum::{Json, Router};
    use roq_auth::axum::AuthLayer;
    use roq_auth::Auth;
    use tokio::task::JoinHandle;

    guarded_handlers!(axum);

    /// Serves the handlers on `listener` until the returned task is aborted.
    pub fn serve(listener: std::net::TcpListener, auth: Auth) -> JoinHandle<()> {
        let app = Router::new()
            .route("/page", get(page))
            .route("/page/redirect-to", get(page_redirect_to))
            .route("/page/redirect-to-query", get(page_redirect_to_query))
            .route("/signin", get(signin))
            .route("/welcome", get(welcome))
            .route("/page/role", get(page_role))
            .route("/page/scope", get(page_scope))
            .route("/page/check", get(page_check))
            .route("/page/every", get(page_every))
            .route("/api", get(api))
            .route("/api/role", get(api_role))
            .route("/api/scope", get(api_scope))
            .route("/api/scope-email", get(api_scope_email))
            .route("/api/check", get(api_check))
            .route("/api/every", get(api_every))
            .route("/api/body", post(api_body))
            .nest("/api/auth", roq_auth::axum::routes())
            .layer(AuthLayer::new(auth));

        listener
            .set_nonblocking(true)
            .expect("the listener can be made non-blocking");
        let listener =
            tokio::net::TcpListener::from_std(listener).expect("tokio accepts the listener");
        tokio::spawn(async move {
            axum::serve(listener, app)
                .into_future()
                .await
                .expect("the Axum app serves");
        })
    }
}

mod actix_app {
    use actix_web::dev::ServerHandle;
    use actix_web::web::{self, Json};
    use actix_web::{App, HttpServer};
    use roq_auth::actix::AuthMiddleware;
    use roq_auth::Auth;

    guarded_handlers!(actix);

    fn routes(config: &mut web::ServiceConfig) {
        config
            .route("/page", web::get().to(page))
            .route("/page/redirect-to", web::get().to(page_redirect_to))
            .route(
                "/page/redirect-to-query",
                web::get().to(page_redirect_to_query),
            )
            .route("/signin", web::get().to(signin))
            .route("/welcome", web::get().to(welcome))
            .route("/page/role", web::get().to(page_role))
            .route("/page/scope", web::get().to(page_scope))
            .route("/page/check", web::get().to(page_check))
            .route("/page/every", web::get().to(page_every))
            .route("/api", web::get().to(api))
            .route("/api/role", web::get().to(api_role))
            .route("/api/scope", web::get().to(api_scope))
            .route("/api/scope-email", web::get().to(api_scope_email))
            .route("/api/check", web::get().to(api_check))
            .route("/api/every", web::get().to(api_every))
            .route("/api/body", web::post().to(api_body))
            .service(roq_auth::actix::routes("/api/auth"));
    }

    /// Serves the handlers on `listener` with one worker until the returned
    /// handle stops the server.
    pub fn serve(listener: std::net::TcpListener, auth: Auth) -> ServerHandle {
        let server = HttpServer::new(move || {
            App::new()
                .configure(routes)
                .wrap(AuthMiddleware::new(auth.clone()))
        })
        .workers(1)
        .listen(listener)
        .expect("Actix Web accepts the listener")
        .run();

        let handle = server.handle();
        tokio::spawn(server);
        handle
    }
}

/// The web framework of an app under test.
#[derive(Clone, Copy, Debug)]
enum Framework {
    Axum,
    Actix,
}

/// A running app, stopped on drop.
struct TestApp {
    origin: String,
    auth: Auth,
    client: Client,
    server: Server,
}

enum Server {
    Axum(tokio::task::JoinHandle<()>),
    Actix(actix_web::dev::ServerHandle),
}

impl Drop for TestApp {
    fn drop(&mut self) {
        match &self.server {
            Server::Axum(task) => task.abort(),
            // `stop` sends the command at once, so the future may be dropped.
            Server::Actix(handle) => drop(handle.stop(false)),
        }
    }
}

/// Binds 127.0.0.1 on a free port, and returns the listener and the origin
/// it serves.
fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0 works");
    let port = listener
        .local_addr()
        .expect("the listener has an address")
        .port();
    (listener, format!("http://127.0.0.1:{port}"))
}

fn config(origin: &str, issuer: &str) -> ConfigBuilder {
    Config::builder()
        .secret(SECRET)
        .issuer_url(issuer)
        .client_id("guard-options")
        .client_secret("guard-options-secret")
        .base_url(origin)
}

impl TestApp {
    /// Starts the app with the default configuration.
    async fn start(framework: Framework) -> TestApp {
        TestApp::start_with(framework, |builder| builder).await
    }

    /// Starts the app with the configuration that `configure` returns.
    async fn start_with(
        framework: Framework,
        configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    ) -> TestApp {
        let (listener, origin) = bind();
        let config = configure(config(&origin, UNUSED_ISSUER));
        TestApp::serve(framework, listener, origin, config)
    }

    fn serve(
        framework: Framework,
        listener: TcpListener,
        origin: String,
        config: ConfigBuilder,
    ) -> TestApp {
        let auth = Auth::new(config.build().expect("the test configuration is valid"));
        let server = match framework {
            Framework::Axum => Server::Axum(axum_app::serve(listener, auth.clone())),
            Framework::Actix => Server::Actix(actix_app::serve(listener, auth.clone())),
        };
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("the test client builds");

        TestApp {
            origin,
            auth,
            client,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }

    /// Returns a `Cookie` header value with a session for `user`, granted
    /// `scopes`, as a sign-in at this app would have made it.
    fn cookie(&self, user: User, scopes: &[&str]) -> String {
        self.auth
            .test_session_cookie(user, scopes)
            .expect("the test session fits in a cookie")
    }

    /// Sends `GET path`, with the session cookie `cookie` when given.
    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.expect("the app answers")
    }
}

fn alice() -> User {
    User::new("alice")
}

fn header(response: &Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// Asserts that `response` is a `303 See Other` to `location` that caches
/// may not store.
fn assert_redirect(response: &Response, location: &str) {
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "status of {}",
        response.url()
    );
    assert_eq!(header(response, LOCATION), location, "Location");
    assert_eq!(header(response, CACHE_CONTROL), "private, no-store");
}

/// Asserts the status of `response` and returns its body.
async fn body_with_status(response: Response, status: StatusCode) -> String {
    let url = response.url().to_string();
    let actual = response.status();
    let body = response.text().await.expect("the body is text");
    assert_eq!(actual, status, "status of {url}; body: {body}");
    body
}

/// Asserts the 401 of `#[with_auth]` for a signed-out caller.
async fn assert_unauthorized(response: Response) {
    assert_eq!(header(&response, CONTENT_TYPE), "application/json");
    assert_eq!(header(&response, CACHE_CONTROL), "private, no-store");
    let body = body_with_status(response, StatusCode::UNAUTHORIZED).await;
    let body: Value = serde_json::from_str(&body).expect("the 401 body is JSON");
    assert_eq!(body, json!({"error": "unauthorized"}));
}

/// Asserts the 403 of `#[with_auth]` for a caller without permission.
async fn assert_forbidden_api(response: Response) {
    assert_eq!(header(&response, CONTENT_TYPE), "application/json");
    assert_eq!(header(&response, CACHE_CONTROL), "private, no-store");
    let body = body_with_status(response, StatusCode::FORBIDDEN).await;
    let body: Value = serde_json::from_str(&body).expect("the 403 body is JSON");
    assert_eq!(body, json!({"error": "forbidden"}));
}

/// Asserts the 403 page of `#[require_auth]` for a visitor without
/// permission.
async fn assert_forbidden_page(response: Response) {
    assert_eq!(header(&response, CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&response, CACHE_CONTROL), "private, no-store");
    let body = body_with_status(response, StatusCode::FORBIDDEN).await;
    assert!(body.contains("<h1>Forbidden</h1>"), "{body}");
    assert!(
        !body.contains("admin") && !body.contains("reports:read"),
        "the page must not name the requirement: {body}"
    );
}

async fn signed_out_page_redirects_to_login_with_return_to(framework: Framework) {
    let app = TestApp::start(framework).await;

    let response = app.get("/page?tab=1&q=a%20b", None).await;

    assert_redirect(
        &response,
        "/api/auth/login?returnTo=%2Fpage%3Ftab%3D1%26q%3Da%2520b",
    );
}

async fn login_route_follows_mount_path(framework: Framework) {
    let app = TestApp::start_with(framework, |builder| builder.mount_path("/auth")).await;

    let response = app.get("/page", None).await;

    assert_redirect(&response, "/auth/login?returnTo=%2Fpage");
}

async fn redirect_to_replaces_login_route(framework: Framework) {
    let app = TestApp::start(framework).await;

    let response = app.get("/page/redirect-to?x=1", None).await;

    assert_redirect(&response, "/signin?returnTo=%2Fpage%2Fredirect-to%3Fx%3D1");
}

async fn redirect_to_keeps_its_query_and_fragment(framework: Framework) {
    let app = TestApp::start(framework).await;

    let response = app.get("/page/redirect-to-query", None).await;

    assert_redirect(
        &response,
        "/signin?from=guard&returnTo=%2Fpage%2Fredirect-to-query#form",
    );
}

async fn signed_in_page_runs_handler(framework: Framework) {
    let app = TestApp::start(framework).await;
    let cookie = app.cookie(alice(), &[]);

    for path in ["/page", "/page/redirect-to", "/page/redirect-to-query"] {
        let response = app.get(path, Some(&cookie)).await;
        assert_eq!(header(&response, CACHE_CONTROL), "private, no-store");
        let body = body_with_status(response, StatusCode::OK).await;
        assert_eq!(body, "page for alice", "{path}");
    }
}

async fn redirect_if_authenticated_serves_signed_out(framework: Framework) {
    let app = TestApp::start(framework).await;

    let signin = app.get("/signin", None).await;
    assert_eq!(
        body_with_status(signin, StatusCode::OK).await,
        "sign-in page"
    );

    let welcome = app.get("/welcome", None).await;
    assert_eq!(
        body_with_status(welcome, StatusCode::OK).await,
        "welcome page"
    );
}

async fn redirect_if_authenticated_sends_signed_in_away(framework: Framework) {
    let app = TestApp::start(framework).await;
    let cookie = app.cookie(alice(), &[]);

    let signin = app.get("/signin?returnTo=%2Fpage", Some(&cookie)).await;
    assert_redirect(&signin, "/");

    let welcome = app.get("/welcome", Some(&cookie)).await;
    assert_redirect(&welcome, "/dashboard");
}

async fn signed_out_api_gets_401(framework: Framework) {
    let app = TestApp::start(framework).await;

    for path in [
        "/api",
        "/api/role",
        "/api/scope",
        "/api/check",
        "/api/every",
    ] {
        assert_unauthorized(app.get(path, None).await).await;
    }
}

async fn signed_in_api_runs_handler(framework: Framework) {
    let app = TestApp::start(framework).await;
    let cookie = app.cookie(alice(), &[]);

    let response = app.get("/api", Some(&cookie)).await;

    assert_eq!(header(&response, CACHE_CONTROL), "private, no-store");
    assert_eq!(
        body_with_status(response, StatusCode::OK).await,
        "api for alice"
    );
}

async fn role_in_array_claim_is_allowed(framework: Framework) {
    let app = TestApp::start(framework).await;
    let admin = alice().with_claim("roles", json!(["editor", "admin"]));
    let cookie = app.cookie(admin, &[]);

    let page = app.get("/page/role", Some(&cookie)).await;
    assert_eq!(
        body_with_status(page, StatusCode::OK).await,
        "admin page for alice"
    );

    let api = app.get("/api/role", Some(&cookie)).await;
    assert_eq!(
        body_with_status(api, StatusCode::OK).await,
        "admin api for alice"
    );
}

async fn role_in_string_claim_is_allowed(framework: Framework) {
    let app = TestApp::start(framework).await;
    let cookie = app.cookie(alice().with_claim("roles", "admin"), &[]);

    let api = app.get("/api/role", Some(&cookie)).await;

    assert_eq!(
        body_with_status(api, StatusCode::OK).await,
        "admin api for alice"
    );
}

async fn missing_role_gets_403(framework: Framework) {
    let app = TestApp::start(framework).await;
    let users = [
        alice(),
        alice().with_claim("roles", json!(["editor"])),
        alice().with_claim("roles", json!(["Admin"])),
        alice().with_claim("roles", "administrator"),
        alice().with_claim("role", json!(["admin"])),
    ];

    for user in users {
        let cookie = app.cookie(user, &[]);
        assert_forbidden_page(app.get("/page/role", Some(&cookie)).await).await;
        assert_forbidden_api(app.get("/api/role", Some(&cookie)).await).await;
    }
}

async fn signed_out_visitor_of_role_page_is_redirected(framework: Framework) {
    let app = TestApp::start(framework).await;

    let response = app.get("/page/role", None).await;

    assert_redirect(&response, "/api/auth/login?returnTo=%2Fpage%2Frole");
}

async fn roles_claim_is_configurable(framework: Framework) {
    let app = TestApp::start_with(framework, |builder| builder.roles_claim("groups")).await;

    let in_group = app.cookie(alice().with_claim("groups", json!(["admin"])), &[]);
    let response = app.get("/api/role", Some(&in_group)).await;
    assert_eq!(
        body_with_status(response, StatusCode::OK).await,
        "admin api for alice"
    );

    let in_default_claim = app.cookie(alice().with_claim("roles", json!(["admin"])), &[]);
    assert_forbidden_api(app.get("/api/role", Some(&in_default_claim)).await).await;
}

async fn granted_scope_is_allowed(framework: Framework) {
    let app = TestApp::start(framework).await;
    let cookie = app.cookie(alice(), &["openid", "reports:read"]);

    let page = app.get("/page/scope", Some(&cookie)).await;
    assert_eq!(
        body_with_status(page, StatusCode::OK).await,
        "reports page for alice"
    );

    let api = app.get("/api/scope", Some(&cookie)).await;
    assert_eq!(
        body_with_status(api, StatusCode::OK).await,
        "reports api for alice"
    );
}

async fn missing_scope_gets_403(framework: Framework) {
    let app = TestApp::start(framework).await;

    for scopes in [&[][..], &["openid", "reports:write"], &["reports:read:all"]] {
        let cookie = app.cookie(alice(), scopes);
        assert_forbidden_page(app.get("/page/scope", Some(&cookie)).await).await;
        assert_forbidden_api(app.get("/api/scope", Some(&cookie)).await).await;
    }
}

async fn passing_check_is_allowed(framework: Framework) {
    let app = TestApp::start(framework).await;
    let cookie = app.cookie(alice().with_claim("email_verified", true), &[]);

    let page = app.get("/page/check", Some(&cookie)).await;
    assert_eq!(
        body_with_status(page, StatusCode::OK).await,
        "verified page for alice"
    );

    let api = app.get("/api/check", Some(&cookie)).await;
    assert_eq!(
        body_with_status(api, StatusCode::OK).await,
        "verified api for alice"
    );
}

async fn failing_check_gets_403(framework: Framework) {
    let app = TestApp::start(framework).await;

    for user in [alice(), alice().with_claim("email_verified", false)] {
        let cookie = app.cookie(user, &[]);
        assert_forbidden_page(app.get("/page/check", Some(&cookie)).await).await;
        assert_forbidden_api(app.get("/api/check", Some(&cookie)).await).await;
    }
}

async fn every_requirement_must_be_met(framework: Framework) {
    let app = TestApp::start(framework).await;
    let complete = || {
        alice()
            .with_claim("roles", json!(["admin"]))
            .with_claim("email_verified", true)
    };

    let cookie = app.cookie(complete(), &["reports:read"]);
    let page = app.get("/page/every", Some(&cookie)).await;
    assert_eq!(
        body_with_status(page, StatusCode::OK).await,
        "every requirement met by alice"
    );
    let api = app.get("/api/every", Some(&cookie)).await;
    assert_eq!(
        body_with_status(api, StatusCode::OK).await,
        "every requirement met by alice"
    );

    // Each user below fails exactly one requirement.
    let one_short = [
        (
            complete().with_claim("roles", json!([])),
            &["reports:read"][..],
        ),
        (complete(), &[][..]),
        (
            complete().with_claim("email_verified", false),
            &["reports:read"][..],
        ),
    ];
    for (user, scopes) in one_short {
        let cookie = app.cookie(user, scopes);
        assert_forbidden_page(app.get("/page/every", Some(&cookie)).await).await;
        assert_forbidden_api(app.get("/api/every", Some(&cookie)).await).await;
    }

    let signed_out = app.get("/page/every", None).await;
    assert_redirect(&signed_out, "/signin?returnTo=%2Fpage%2Fevery");
}

async fn guard_answers_before_body_is_read(framework: Framework) {
    let app = TestApp::start(framework).await;
    let post = |cookie: Option<String>, body: &'static str| {
        let mut request = app
            .client
            .post(app.url("/api/body"))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send()
    };
    let editor = app.cookie(alice().with_claim("roles", json!(["editor"])), &[]);
    let admin = app.cookie(alice().with_claim("roles", json!(["admin"])), &[]);

    // An invalid body gets the guard's answer while the guard denies ...
    let signed_out = post(None, "{not json").await.unwrap();
    assert_unauthorized(signed_out).await;
    let forbidden = post(Some(editor), "{not json").await.unwrap();
    assert_forbidden_api(forbidden).await;

    // ... and the body extractor's own answer once the guard allows.
    let invalid = post(Some(admin.clone()), "{not json").await.unwrap();
    body_with_status(invalid, StatusCode::BAD_REQUEST).await;
    let valid = post(Some(admin), r#"{"title":"Q3"}"#).await.unwrap();
    assert_eq!(
        body_with_status(valid, StatusCode::OK).await,
        r#"alice sent {"title":"Q3"}"#
    );
}

async fn altered_cookie_counts_as_signed_out(framework: Framework) {
    let app = TestApp::start(framework).await;
    let cookie = app.cookie(alice().with_claim("roles", json!(["admin"])), &[]);

    // Change one character of the sealed value, keeping it base64url.
    let mut altered = cookie.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("the cookie stays ASCII");

    assert_unauthorized(app.get("/api/role", Some(&altered)).await).await;
    let page = app.get("/page/role", Some(&altered)).await;
    assert_redirect(&page, "/api/auth/login?returnTo=%2Fpage%2Frole");
}

/// Signs in at the development provider, starting from a guarded page, and
/// checks the options against the scopes the provider really granted
/// (`openid profile email`) and against the `returnTo` round trip.
async fn options_after_real_sign_in(framework: Framework) {
    let (listener, origin) = bind();
    let provider = DevProvider::start(DevProviderConfig {
        client_id: "guard-options".into(),
        client_secret: "guard-options-secret".into(),
        redirect_uris: vec![format!("{origin}/api/auth/callback")],
        post_logout_redirect_uris: vec![format!("{origin}/")],
    })
    .await
    .expect("the development provider starts");
    let app = TestApp::serve(
        framework,
        listener,
        origin.clone(),
        config(&origin, provider.issuer()),
    );
    let (browser, _jar) = support::browser();

    // The guarded page sends the visitor to the login route with `returnTo`.
    let page = browser
        .get(app.url("/page/redirect-to-query?tab=2"))
        .send()
        .await
        .unwrap();
    assert_redirect(
        &page,
        "/signin?from=guard&returnTo=%2Fpage%2Fredirect-to-query%3Ftab%3D2#form",
    );

    // Sign in through the real flow, asking to come back to that page.
    let login = app.url("/api/auth/login?returnTo=%2Fpage%2Fredirect-to-query%3Ftab%3D2");
    let response = browser.get(login).send().await.unwrap();
    let authorization = support::location(&response);
    let callback = support::complete_dev_provider_login(&browser, &authorization, "alice").await;
    let response = browser.get(callback).send().await.unwrap();
    assert_eq!(
        support::location(&response),
        app.url("/page/redirect-to-query?tab=2")
    );

    let page = browser
        .get(app.url("/page/redirect-to-query?tab=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        body_with_status(page, StatusCode::OK).await,
        "page for alice"
    );

    let granted = browser
        .get(app.url("/api/scope-email"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        body_with_status(granted, StatusCode::OK).await,
        "email api for alice"
    );
    let not_granted = browser.get(app.url("/api/scope")).send().await.unwrap();
    assert_forbidden_api(not_granted).await;
    let no_role = browser.get(app.url("/page/role")).send().await.unwrap();
    assert_forbidden_page(no_role).await;

    let signin = browser.get(app.url("/signin")).send().await.unwrap();
    assert_redirect(&signin, "/");

    drop(app);
    provider.shutdown().await;
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        suite!(@framework axum, Axum, $($case),*);
        suite!(@framework actix, Actix, $($case),*);
    };
    (@framework $module:ident, $framework:ident, $($case:ident),*) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Framework::$framework).await;
                }
            )*
        }
    };
}

suite!(
    signed_out_page_redirects_to_login_with_return_to,
    login_route_follows_mount_path,
    redirect_to_replaces_login_route,
    redirect_to_keeps_its_query_and_fragment,
    signed_in_page_runs_handler,
    redirect_if_authenticated_serves_signed_out,
    redirect_if_authenticated_sends_signed_in_away,
    signed_out_api_gets_401,
    signed_in_api_runs_handler,
    role_in_array_claim_is_allowed,
    role_in_string_claim_is_allowed,
    missing_role_gets_403,
    signed_out_visitor_of_role_page_is_redirected,
    roles_claim_is_configurable,
    granted_scope_is_allowed,
    missing_scope_gets_403,
    passing_check_is_allowed,
    failing_check_gets_403,
    every_requirement_must_be_met,
    guard_answers_before_body_is_read,
    altered_cookie_counts_as_signed_out,
    options_after_real_sign_in,
);
