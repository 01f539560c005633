//! The reliability suite: how the demo behaves when its OpenID provider is
//! down, silent or loses its key set, when it restarts with the same,
//! rotated or an unrelated key, and under 1,000 concurrent sign-ins. All
//! traffic stays on 127.0.0.1. Each case is written once and run against
//! every adapter's demo by `suite!` at the bottom.
//!
//! The providers are the real `oidc-provider` under Node
//! (`support::OidcProvider`), the development provider the demo embeds when
//! `ROQ_ISSUER_URL` is unset, and the conformance suite's `ForgedProvider`
//! where a test must control the key set's URL. Sign-ins that need no real
//! provider use the embedded one, because it starts in milliseconds.
//!
//! Timings are checked only as upper bounds with a wide margin. The suite
//! runs the demo binaries: build them first with `cargo build --examples`,
//! or run the whole `cargo test`.

mod support;

// The forged provider lives with the other test support code; the
// conformance suite and this one compile it.
#[path = "support/forged_provider.rs"]
mod forged_provider;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use forged_provider::{ForgedProvider, SUBJECT};
use reqwest::cookie::CookieStore as _;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use support::*;

/// The provider timeout the fault cases give the demo (`ROQ_HTTP_TIMEOUT`).
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);
/// [`HTTP_TIMEOUT`] as the demo reads it, in whole seconds.
const HTTP_TIMEOUT_SETTING: &str = "2";
/// Time allowed on top of [`HTTP_TIMEOUT`] for the demo to turn a failed
/// provider request into an error page, on a loaded machine.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(3);

/// The key that replaces [`APP_SECRET`] in the rotation cases.
const NEW_SECRET: &str = "d25926d9f7ed4583f959476d284becd022d1e813562b3de6ab47c23c85064cfc";
/// A key listed before [`APP_SECRET`] in `ROQ_PREVIOUS_SECRETS`, so that the
/// key that sealed the sessions is not the first one tried.
const INTERIM_SECRET: &str = "827dd333aefb4af08a98923a6cbb8705fd4a047c93f5e44bb2022abcb5b758e5";
/// A key that never sealed any session of these tests.
const UNRELATED_SECRET: &str = "09b0bdc3cf7c35d7e68b0a40ae48db5d9fbc332e8f05da4f0258ac57f76951de";

/// The number of users in the concurrency case.
const CONCURRENT_SIGN_INS: usize = 1_000;

/// Sends a GET request and returns the response with how long it took.
async fn timed_get(client: &Client, url: &str) -> (Response, Duration) {
    let started = Instant::now();
    let response = client.get(url).send().await.unwrap();
    (response, started.elapsed())
}

/// Asserts that `response` is the HTML error page for a provider failure,
/// with `status`, a sentence containing `detail`, and no transaction
/// cookie.
async fn expect_provider_error_page(response: Response, status: StatusCode, detail: &str) {
    assert!(
        transaction_set_cookie(response.headers()).is_none(),
        "a failed sign-in started a transaction"
    );
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = expect_status(response, status).await;
    assert!(
        content_type.starts_with("text/html"),
        "the error page is {content_type:?}, not HTML"
    );
    assert!(body.contains("Sign-in is unavailable"), "{body}");
    assert!(body.contains(detail), "{body}");
}

/// Starts `example` with its embedded development provider, the secret
/// `secret` and, optionally, `ROQ_PREVIOUS_SECRETS`.
async fn start_with_dev_provider(
    example: &str,
    port: u16,
    secret: &str,
    previous_secrets: Option<&str>,
) -> Demo {
    let mut env = vec![("ROQ_SECRET", secret)];
    if let Some(previous) = previous_secrets {
        env.push(("ROQ_PREVIOUS_SECRETS", previous));
    }
    Demo::start(example, port, &env).await
}

/// Signs in as `login` at the demo's embedded development provider, from
/// the dashboard, and returns the callback's response.
async fn sign_in_at_dev_provider(client: &Client, demo: &Demo, login: &str) -> Response {
    let authorization = start_sign_in(client, demo, "/dashboard").await;
    let callback = complete_dev_provider_login(client, &authorization, login).await;
    client.get(&callback).send().await.unwrap()
}

/// Asserts that `client` is signed in as `login`, on the API and on the
/// page.
async fn expect_signed_in(client: &Client, demo: &Demo, login: &str) {
    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    let me: Value = serde_json::from_str(&expect_status(me, StatusCode::OK).await).unwrap();
    assert_eq!(me["sub"], login, "/api/me returned another user");

    let dashboard = client.get(demo.url("/dashboard")).send().await.unwrap();
    let body = expect_status(dashboard, StatusCode::OK).await;
    assert!(
        body.contains(&format!("<code id=\"sub\">{login}</code>")),
        "the dashboard does not show {login}: {body}"
    );
}

/// Returns the `Cookie` header value the jar sends to the demo.
fn cookie_header(jar: &reqwest::cookie::Jar, demo: &Demo) -> String {
    let url: url::Url = demo.url("/").parse().unwrap();
    jar.cookies(&url)
        .expect("the jar has cookies for the demo")
        .to_str()
        .unwrap()
        .to_owned()
}

/// A TCP port that accepts connections and then neither reads nor writes,
/// like a provider that hangs. It keeps every socket open until dropped.
struct SilentPort {
    port: u16,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl SilentPort {
    async fn start() -> SilentPort {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        SilentPort {
            port,
            accepted,
            task,
        }
    }

    /// Returns how many connections it accepted so far.
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits up to 5 seconds until more than `count` connections were
    /// accepted.
    async fn wait_for_more_than(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.accepted() <= count {
            assert!(
                Instant::now() < deadline,
                "the demo opened no new connection to the silent provider"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for SilentPort {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTP server that serves one fixed JSON document at `/jwks`, standing
/// in for a provider's key set, and that a test can take down.
struct KeySetServer {
    url: String,
    requests: Arc<AtomicUsize>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl KeySetServer {
    async fn start(key_set: String) -> KeySetServer {
        use ::axum::routing::get;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let app = ::axum::Router::new().route(
            "/jwks",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = key_set.clone();
                async move { ([(CONTENT_TYPE, "application/json")], body) }
            }),
        );
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            ::axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    stopped.await.ok();
                })
                .await
                .expect("the key set server serves");
        });
        KeySetServer {
            url,
            requests,
            shutdown,
            task,
        }
    }

    /// Returns how many requests it has served so far.
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops listening, closes every open connection and waits until the
    /// server is gone, so that connections to its port are refused.
    async fn stop(self) {
        self.shutdown.send(()).ok();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the key set server stops within 10 seconds")
            .expect("the key set server task ends cleanly");
    }
}

/// Signs in at a `ForgedProvider`, which redirects back at once without a
/// login form, and returns the callback's response.
async fn sign_in_at_forged_provider(client: &Client, demo: &Demo) -> Response {
    let login = client
        .get(demo.url("/api/auth/login?returnTo=%2Fdashboard"))
        .send()
        .await
        .unwrap();
    let authorization = location(&login);
    let redirect = client.get(&authorization).send().await.unwrap();
    let callback = location(&redirect);
    client.get(&callback).send().await.unwrap()
}

async fn provider_down_at_start_recovers(example: &str) {
    let app_port = free_port();
    let provider_port = free_port();
    let issuer = format!("http://127.0.0.1:{provider_port}");
    let demo = Demo::start(
        example,
        app_port,
        &[
            ("ROQ_ISSUER_URL", issuer.as_str()),
            ("ROQ_CLIENT_ID", CLIENT_ID),
            ("ROQ_CLIENT_SECRET", CLIENT_SECRET),
            ("ROQ_SECRET", APP_SECRET),
            ("ROQ_HTTP_TIMEOUT", HTTP_TIMEOUT_SETTING),
        ],
    )
    .await;
    let (client, _) = browser();

    // The app serves its pages, and the guard still sends visitors to the
    // login route, which needs no provider.
    let home = client.get(demo.url("/")).send().await.unwrap();
    let body = expect_status(home, StatusCode::OK).await;
    assert!(body.contains("You are not signed in"), "{body}");
    let dashboard = client.get(demo.url("/dashboard")).send().await.unwrap();
    assert_eq!(dashboard.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&dashboard),
        demo.url("/api/auth/login?returnTo=%2Fdashboard")
    );

    // Sign-in returns a 503 page, each time, well within the timeout.
    for attempt in 1..=2 {
        let (login, elapsed) = timed_get(&client, &demo.url("/api/auth/login")).await;
        assert!(
            elapsed < HTTP_TIMEOUT + TIMEOUT_MARGIN,
            "attempt {attempt}: the 503 page took {elapsed:?}"
        );
        expect_provider_error_page(
            login,
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot be reached right now",
        )
        .await;
    }

    // The provider comes up on the issuer's port: sign-in works without a
    // restart of the app.
    let _provider = OidcProvider::start_on_port(&demo.origin, provider_port).await;
    let callback = sign_in(&client, &demo, "/dashboard", "lena").await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&callback), demo.url("/dashboard"));
    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    let me: Value = serde_json::from_str(&expect_status(me, StatusCode::OK).await).unwrap();
    assert_eq!(me["sub"], "lena");
}

async fn silent_provider_times_out(example: &str) {
    let silent = SilentPort::start().await;
    let issuer = format!("http://127.0.0.1:{}", silent.port);

    // The demo checks its provider in the background at start-up. Had it
    // waited for that check, its ready line would come after the timeout.
    let started = Instant::now();
    let demo = Demo::start(
        example,
        free_port(),
        &[
            ("ROQ_ISSUER_URL", issuer.as_str()),
            ("ROQ_CLIENT_ID", CLIENT_ID),
            ("ROQ_CLIENT_SECRET", CLIENT_SECRET),
            ("ROQ_SECRET", APP_SECRET),
            ("ROQ_HTTP_TIMEOUT", HTTP_TIMEOUT_SETTING),
        ],
    )
    .await;
    let start_up = started.elapsed();
    assert!(
        start_up < HTTP_TIMEOUT,
        "start-up took {start_up:?}, as if it waited for the provider"
    );
    let (client, _) = browser();

    // The first sign-in may share the start-up check's request.
    let (login, elapsed) = timed_get(&client, &demo.url("/api/auth/login")).await;
    assert!(
        elapsed < HTTP_TIMEOUT + TIMEOUT_MARGIN,
        "the first 504 page took {elapsed:?}"
    );
    expect_provider_error_page(
        login,
        StatusCode::GATEWAY_TIMEOUT,
        "did not respond in time",
    )
    .await;

    // The second sign-in sends its own request to the silent port. While
    // that request hangs, other routes keep responding.
    let before = silent.accepted();
    let login = tokio::spawn({
        let client = client.clone();
        let url = demo.url("/api/auth/login");
        async move { timed_get(&client, &url).await }
    });
    silent.wait_for_more_than(before).await;
    for path in ["/", "/login", "/api/auth/session"] {
        let response = client.get(demo.url(path)).send().await.unwrap();
        assert!(
            !login.is_finished(),
            "the sign-in ended before {path} answered, so this shows nothing"
        );
        let status = response.status();
        assert!(
            status == StatusCode::OK || status == StatusCode::UNAUTHORIZED,
            "{path} answered {status} while the provider hung"
        );
    }
    let (login, elapsed) = login.await.expect("the sign-in request task ends");
    assert!(
        elapsed < HTTP_TIMEOUT + TIMEOUT_MARGIN,
        "the second 504 page took {elapsed:?}"
    );
    expect_provider_error_page(
        login,
        StatusCode::GATEWAY_TIMEOUT,
        "did not respond in time",
    )
    .await;
}

async fn provider_down_while_signed_in(example: &str) {
    let port = free_port();
    let provider = OidcProvider::start(&format!("http://127.0.0.1:{port}")).await;
    let issuer = provider.issuer.clone();
    let demo = Demo::start_with_provider(example, port, &provider).await;
    let (client, _) = browser();
    let callback = sign_in(&client, &demo, "/dashboard", "mia").await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);

    provider.stop().await;
    let refused = reqwest::get(format!("{issuer}/.well-known/openid-configuration")).await;
    assert!(refused.is_err(), "the provider still answers");

    // Sessions are verified in the app, so pages and APIs keep working.
    for _ in 0..3 {
        expect_signed_in(&client, &demo, "mia").await;
        let session = client
            .get(demo.url("/api/auth/session"))
            .send()
            .await
            .unwrap();
        let session: Value =
            serde_json::from_str(&expect_status(session, StatusCode::OK).await).unwrap();
        assert_eq!(session["user"]["sub"], "mia");
    }

    // A new sign-in still starts: the app has the provider's metadata
    // cached and sends the browser to its authorization endpoint.
    let (other, _) = browser();
    let login = other.get(demo.url("/api/auth/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let authorization = location(&login);
    assert!(
        authorization.starts_with(&issuer),
        "login redirected to {authorization}"
    );
}

async fn every_session_survives_restart_and_rotation(example: &str) {
    let port = free_port();
    let users = ["nora", "omar", "pia"];

    let demo = start_with_dev_provider(example, port, APP_SECRET, None).await;
    let mut browsers = Vec::new();
    for login in users {
        let (client, _) = browser();
        let callback = sign_in_at_dev_provider(&client, &demo, login).await;
        assert_eq!(callback.status(), StatusCode::SEE_OTHER, "{login}");
        browsers.push((login, client));
    }
    demo.stop().await;

    // The same key after a restart.
    let demo = start_with_dev_provider(example, port, APP_SECRET, None).await;
    for (login, client) in &browsers {
        expect_signed_in(client, &demo, login).await;
    }
    demo.stop().await;

    // A new key, with the sessions' key second in the list of previous
    // keys.
    let previous = format!("{INTERIM_SECRET},{APP_SECRET}");
    let demo = start_with_dev_provider(example, port, NEW_SECRET, Some(&previous)).await;
    for (login, client) in &browsers {
        expect_signed_in(client, &demo, login).await;
    }
}

async fn unrelated_key_signs_out_cleanly(example: &str) {
    let port = free_port();
    let users = ["quinn", "rosa"];

    let demo = start_with_dev_provider(example, port, APP_SECRET, None).await;
    let mut browsers = Vec::new();
    for login in users {
        let (client, jar) = browser();
        let callback = sign_in_at_dev_provider(&client, &demo, login).await;
        assert_eq!(callback.status(), StatusCode::SEE_OTHER, "{login}");
        let stale_cookie = cookie_header(&jar, &demo);
        browsers.push((login, client, stale_cookie));
    }
    demo.stop().await;

    // Neither the current key nor the previous one sealed these sessions.
    let demo = start_with_dev_provider(example, port, UNRELATED_SECRET, Some(INTERIM_SECRET)).await;
    let (plain, _) = browser();
    for (login, client, stale_cookie) in &browsers {
        let get = |path: &str| {
            plain
                .get(demo.url(path))
                .header(COOKIE, stale_cookie.as_str())
                .send()
        };

        let me = get("/api/me").await.unwrap();
        let body = expect_status(me, StatusCode::UNAUTHORIZED).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body, json!({"error": "unauthorized"}), "{login}");

        let session = get("/api/auth/session").await.unwrap();
        expect_status(session, StatusCode::UNAUTHORIZED).await;

        let dashboard = get("/dashboard").await.unwrap();
        assert_eq!(dashboard.status(), StatusCode::SEE_OTHER, "{login}");
        assert_eq!(
            location(&dashboard),
            demo.url("/api/auth/login?returnTo=%2Fdashboard")
        );
        let removal = set_cookie(dashboard.headers(), "roq_session")
            .unwrap_or_else(|| panic!("the stale cookie of {login} is not removed"));
        assert!(removal.contains("Max-Age=0"), "{removal}");

        for page in ["/", "/login"] {
            let response = get(page).await.unwrap();
            let body = expect_status(response, StatusCode::OK).await;
            assert!(body.contains("You are not signed in"), "{page}: {body}");
        }

        // The same browser signs in again under the new key.
        let callback = sign_in_at_dev_provider(client, &demo, login).await;
        assert_eq!(callback.status(), StatusCode::SEE_OTHER, "{login}");
        expect_signed_in(client, &demo, login).await;
    }
}

async fn cached_keys_outlive_key_set_outage(example: &str) {
    let provider = ForgedProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let key_set = reqwest::get(provider.url("/jwks"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key_set_server = KeySetServer::start(key_set).await;
    let key_set_url = key_set_server.url.clone();
    provider.script(|script| script.discovery.jwks_uri = Some(key_set_url.clone()));
    let env = [
        ("ROQ_ISSUER_URL", provider.issuer.as_str()),
        ("ROQ_CLIENT_ID", CLIENT_ID),
        ("ROQ_CLIENT_SECRET", CLIENT_SECRET),
        ("ROQ_SECRET", APP_SECRET),
        ("ROQ_HTTP_TIMEOUT", HTTP_TIMEOUT_SETTING),
    ];
    let demo = Demo::start(example, free_port(), &env).await;

    // The first sign-in downloads the key set.
    let (client, _) = browser();
    let callback = sign_in_at_forged_provider(&client, &demo).await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(callback.headers(), "roq_session").is_some());
    assert!(
        key_set_server.requests() >= 1,
        "the key set was not fetched from its server"
    );

    key_set_server.stop().await;
    let refused = reqwest::get(&key_set_url).await;
    assert!(refused.is_err(), "the key set server still answers");

    // New sign-ins verify their ID tokens with the cached keys.
    for attempt in 1..=3 {
        let (client, _) = browser();
        let callback = sign_in_at_forged_provider(&client, &demo).await;
        assert_eq!(
            callback.status(),
            StatusCode::SEE_OTHER,
            "attempt {attempt}"
        );
        assert!(
            set_cookie(callback.headers(), "roq_session").is_some(),
            "attempt {attempt} set no session"
        );
        let me = client.get(demo.url("/api/me")).send().await.unwrap();
        let me: Value = serde_json::from_str(&expect_status(me, StatusCode::OK).await).unwrap();
        assert_eq!(me["sub"], SUBJECT);
    }

    // Control: an app without the cached keys cannot sign anyone in, so
    // the sign-ins above relied on the cache.
    let fresh = Demo::start(example, free_port(), &env).await;
    let (client, _) = browser();
    let callback = sign_in_at_forged_provider(&client, &fresh).await;
    assert!(set_cookie(callback.headers(), "roq_session").is_none());
    let body = expect_status(callback, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(body.contains("cannot be reached"), "{body}");
}

/// Signs in as `login` with no cookie jar, carrying the transaction cookie
/// by hand, and returns the session cookie as `name=value`.
async fn sign_in_without_jar(client: &Client, origin: &str, login: &str) -> String {
    let response = client
        .get(format!("{origin}/api/auth/login?returnTo=%2Fdashboard"))
        .send()
        .await
        .unwrap();
    let transaction = transaction_set_cookie(response.headers())
        .unwrap_or_else(|| panic!("{login}: login set no transaction cookie"))
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let authorization = location(&response);

    let callback = complete_dev_provider_login(client, &authorization, login).await;
    let response = client
        .get(&callback)
        .header(COOKIE, transaction)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{login}");
    assert_eq!(
        location(&response),
        format!("{origin}/dashboard"),
        "{login}"
    );
    set_cookie(response.headers(), "roq_session")
        .unwrap_or_else(|| panic!("{login}: the callback set no session cookie"))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// Returns the `sub` that `/api/me` returns for a session cookie.
async fn subject_of(client: &Client, origin: &str, cookie: &str) -> String {
    let me = client
        .get(format!("{origin}/api/me"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let me: Value = serde_json::from_str(&expect_status(me, StatusCode::OK).await).unwrap();
    me["sub"].as_str().unwrap_or_default().to_owned()
}

async fn thousand_concurrent_sign_ins(example: &str) {
    let demo = start_with_dev_provider(example, free_port(), APP_SECRET, None).await;
    let origin = demo.origin.clone();
    // One client for all users, without a cookie jar: each task carries its
    // own user's cookies, so no user can pick up another's.
    //
    // Every request opens a new connection. Actix Web closes a connection
    // that stayed idle for its 5-second keep-alive, and when its worker is
    // busy it can close one after the next request arrived, unread.
    // Browsers send such a request again, but reqwest fails it, so reused
    // connections would make this test fail on the HTTP client, not on
    // sign-in.
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..CONCURRENT_SIGN_INS {
        let client = client.clone();
        let origin = origin.clone();
        tasks.spawn(async move {
            let login = format!("user-{index:04}");
            let cookie = sign_in_without_jar(&client, &origin, &login).await;
            let subject = subject_of(&client, &origin, &cookie).await;
            (login, cookie, subject)
        });
    }
    let mut sessions = Vec::new();
    while let Some(result) = tasks.join_next().await {
        sessions.push(result.expect("a sign-in task panicked; its message is above"));
    }
    eprintln!(
        "{CONCURRENT_SIGN_INS} concurrent sign-ins on {example} took {:?}",
        started.elapsed()
    );

    assert_eq!(sessions.len(), CONCURRENT_SIGN_INS);
    for (login, _, subject) in &sessions {
        assert_eq!(subject, login, "a session returned another user");
    }
    let cookies: HashSet<&str> = sessions
        .iter()
        .map(|(_, cookie, _)| cookie.as_str())
        .collect();
    assert_eq!(
        cookies.len(),
        CONCURRENT_SIGN_INS,
        "two sign-ins got the same session cookie"
    );

    // Every session, read again all at once, still returns its own user.
    let mut tasks = tokio::task::JoinSet::new();
    for (login, cookie, _) in sessions {
        let client = client.clone();
        let origin = origin.clone();
        tasks.spawn(async move {
            let subject = subject_of(&client, &origin, &cookie).await;
            (login, subject)
        });
    }
    while let Some(result) = tasks.join_next().await {
        let (login, subject) = result.expect("a check task panicked; its message is above");
        assert_eq!(subject, login, "a session returned another user on reread");
    }
}

support::demo_suite!(
    provider_down_at_start_recovers,
    silent_provider_times_out,
    provider_down_while_signed_in,
    every_session_survives_restart_and_rotation,
    unrelated_key_signs_out_cleanly,
    cached_keys_outlive_key_set_outage,
    thousand_concurrent_sign_ins,
);
