//! Signing out and access tokens, tested against real servers. The cases
//! cover RP-initiated logout through `oidc-provider`'s confirm form and the
//! return from it, back-channel logout, and the replay of a copied cookie.
//! They also cover access token refresh with `offline_access`, a rejected
//! refresh, and revocations shared by two app instances through a real
//! `redis-server`. Every server runs as a child process on 127.0.0.1. Each
//! case is written once and run against every adapter's demo by `suite!` at
//! the bottom.

mod support;

#[path = "support/servers.rs"]
mod servers;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use reqwest::cookie::CookieStore as _;
use reqwest::header::{HeaderMap, COOKIE, LOCATION};
use reqwest::StatusCode;
use serde_json::{json, Value};
use servers::{test_client, Provider, ProviderSettings, RedisServer};
use support::*;

const SESSION_COOKIE: &str = "roq_session";
const TOKENS_COOKIE: &str = "roq_session_tokens";
const LOGOUT_COOKIE: &str = "roq_logout";

/// Settings under which `oidc-provider` issues a refresh token: it grants
/// `offline_access` only to requests with `prompt=consent`.
const OFFLINE_ACCESS: [(&str, &str); 2] = [
    ("ROQ_SCOPES", "profile email offline_access"),
    ("ROQ_AUTHORIZATION_PARAMS", "prompt=consent"),
];

/// The text of the provider's log line for each refresh token grant.
const REFRESH_GRANT: &str = "grant_type=refresh_token";

/// How long a test waits for something that happens after a response,
/// such as a back-channel logout request or a late log line.
const SETTLE_TIME: Duration = Duration::from_secs(5);

/// A provider, a demo wired to it, and the demo's log.
struct Stack {
    provider: Provider,
    demo: Demo,
    log: DemoLog,
}

/// What [`start`] changes from the defaults.
#[derive(Default)]
struct Options<'a> {
    /// The provider's access token lifetime in seconds
    /// (`PROVIDER_ACCESS_TOKEN_TTL`), or its default of 3600 when `None`.
    access_token_ttl: Option<u64>,
    /// Whether the provider's client has the demo's back-channel logout
    /// route as its `backchannel_logout_uri`.
    backchannel: bool,
    /// Extra environment for the demo.
    env: &'a [(&'a str, &'a str)],
}

/// Starts the demo `example` on `port` against the provider `issuer`, with
/// the test client, `APP_SECRET`, and `extra` environment.
async fn start_demo(
    example: &str,
    port: u16,
    issuer: &str,
    extra: &[(&str, &str)],
) -> (Demo, DemoLog) {
    let mut env = vec![
        ("ROQ_ISSUER_URL", issuer),
        ("ROQ_CLIENT_ID", CLIENT_ID),
        ("ROQ_CLIENT_SECRET", CLIENT_SECRET),
        ("ROQ_SECRET", APP_SECRET),
    ];
    env.extend_from_slice(extra);
    Demo::start_logged(example, port, &env).await
}

/// Starts a provider and the demo `example` wired to it.
async fn start(example: &str, options: Options<'_>) -> Stack {
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let mut client = test_client(&[&origin]);
    if options.backchannel {
        client["backchannel_logout_uri"] = json!(format!("{origin}/api/auth/backchannel-logout"));
    }
    let provider = Provider::start(ProviderSettings {
        clients: json!([client]),
        access_token_ttl: options.access_token_ttl,
        log_issued_values: false,
    })
    .await;
    let (demo, log) = start_demo(example, port, &provider.issuer, options.env).await;
    Stack {
        provider,
        demo,
        log,
    }
}

/// Signs `login` in at `demo` through the provider's forms and asserts
/// that the callback set the session cookie.
async fn sign_in_as(client: &reqwest::Client, demo: &Demo, login: &str) {
    let callback = sign_in(client, demo, "/dashboard", login).await;
    let status = callback.status();
    let url = callback.url().to_string();
    let set_session = set_cookie(callback.headers(), SESSION_COOKIE).is_some();
    let body = callback.text().await.unwrap_or_default();
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "sign-in of {login} failed at {url}: {body}"
    );
    assert!(
        set_session,
        "the callback for {login} set no session cookie"
    );
}

/// Returns the `Cookie` header the jar sends to `demo`, as a browser would
/// send it: what a copied cookie looks like.
fn cookie_header(jar: &reqwest::cookie::Jar, demo: &Demo) -> String {
    let url = demo.url("/").parse().expect("the demo's URL parses");
    jar.cookies(&url)
        .map(|value| value.to_str().expect("cookies are ASCII").to_owned())
        .unwrap_or_default()
}

/// Returns the names of the cookies in a `Cookie` header.
fn cookie_names(header: &str) -> Vec<&str> {
    header
        .split("; ")
        .filter_map(|pair| pair.split_once('=').map(|(name, _)| name))
        .collect()
}

/// Sends `GET url` from a fresh client with `cookie` as the whole `Cookie`
/// header, as a second browser with a copied cookie would.
async fn get_with_cookie(url: &str, cookie: &str) -> reqwest::Response {
    let (client, _) = browser();
    client.get(url).header(COOKIE, cookie).send().await.unwrap()
}

/// Asserts that `headers` remove the cookie `name` at `Path=/`.
fn assert_removed(headers: &HeaderMap, name: &str) {
    let removal = set_cookie(headers, name).unwrap_or_else(|| panic!("{name} is not removed"));
    assert!(
        removal.contains("Max-Age=0"),
        "{name} is not removed: {removal}"
    );
    assert!(
        removal.contains("Path=/"),
        "{name} removed at another path: {removal}"
    );
}

/// Asserts the 401 JSON of a signed-out API call.
async fn assert_unauthorized(response: reqwest::Response) {
    let body = expect_status(response, StatusCode::UNAUTHORIZED).await;
    let body: Value = serde_json::from_str(&body).expect("the 401 body is JSON");
    assert_eq!(body, json!({"error": "unauthorized"}));
}

/// Returns the claims of a JWT, without checking its signature.
fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("{jwt:?} is not a JWT"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("the JWT payload is base64url");
    serde_json::from_slice(&bytes).expect("the JWT payload is JSON")
}

/// The parts of a `/api/token` response the tests check.
struct TokenResponse {
    status: StatusCode,
    body: Value,
    /// The `Set-Cookie` value for the tokens cookie, if any.
    tokens_cookie: Option<String>,
    headers: HeaderMap,
}

impl TokenResponse {
    fn fingerprint(&self) -> &str {
        self.body["fingerprint"]
            .as_str()
            .unwrap_or_else(|| panic!("no fingerprint in {}", self.body))
    }

    fn expires_at(&self) -> u64 {
        self.body["expires_at"]
            .as_u64()
            .unwrap_or_else(|| panic!("no expires_at in {}", self.body))
    }
}

/// Sends `GET /api/token` from `client`, with `cookie` as the `Cookie`
/// header when given, and the jar's cookies otherwise.
async fn request_token(
    client: &reqwest::Client,
    demo: &Demo,
    cookie: Option<&str>,
) -> TokenResponse {
    let mut request = client.get(demo.url("/api/token"));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let tokens_cookie = set_cookie(&headers, TOKENS_COOKIE).map(str::to_owned);
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("/api/token returned {status} with a non-JSON body: {text}"));
    TokenResponse {
        status,
        body,
        tokens_cookie,
        headers,
    }
}

/// Asserts a 200 from `/api/token` whose tokens cookie was written anew,
/// as after a refresh.
fn assert_refreshed(response: &TokenResponse, log: &DemoLog) {
    assert_eq!(
        response.status,
        StatusCode::OK,
        "body {}; demo log:\n{}",
        response.body,
        log.text()
    );
    let cookie = response
        .tokens_cookie
        .as_deref()
        .expect("the refreshed tokens are written to the tokens cookie");
    assert!(
        !cookie.contains("Max-Age=0"),
        "the tokens cookie is removed: {cookie}"
    );
}

/// Returns the current Unix time in seconds, with a fraction.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

/// Sleeps until the Unix second `expires_at` has begun, when the library
/// counts a token that expires then as expired.
async fn sleep_until_expired(expires_at: u64) {
    let remaining = expires_at as f64 - unix_now() + 0.1;
    if remaining > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(remaining)).await;
    }
}

async fn rp_logout_ends_provider_session(example: &str) {
    let stack = start(example, Options::default()).await;
    let demo = &stack.demo;
    let (client, jar) = browser();
    sign_in_as(&client, demo, "alice").await;

    // While the provider's session lasts, a new sign-in skips its forms.
    // This shows that the check at the end can fail.
    let login = client
        .get(demo.url("/api/auth/login"))
        .send()
        .await
        .unwrap();
    let authorization = location(&login);
    let response = client.get(&authorization).send().await.unwrap();
    let silent = location(&response);
    assert!(
        silent.starts_with(&demo.url("/api/auth/callback?")),
        "the provider asked again before logout: {silent}"
    );

    let logout = client
        .get(demo.url("/api/auth/logout?returnTo=%2Fdashboard%3Ftab%3D2"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_removed(logout.headers(), SESSION_COOKIE);
    assert_removed(logout.headers(), TOKENS_COOKIE);
    let logout_cookie =
        set_cookie(logout.headers(), LOGOUT_COOKIE).expect("logout sets the logout cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/;", "Max-Age=600"] {
        assert!(
            format!("{logout_cookie};").contains(attribute),
            "{attribute} missing from {logout_cookie}"
        );
    }

    // The end-session request carries the four parameters.
    let end_session = location(&logout);
    assert!(
        end_session.starts_with(&format!("{}/session/end?", stack.provider.issuer)),
        "{end_session}"
    );
    let param = |name| query_param(&end_session, name);
    assert_eq!(param("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(param("post_logout_redirect_uri"), Some(demo.url("/")));
    let state = param("state").expect("the end-session request has a state");
    assert!(
        state.len() >= 22,
        "state {state:?} is shorter than 128 bits"
    );
    let hint = param("id_token_hint").expect("the end-session request has an id_token_hint");
    let claims = jwt_claims(&hint);
    assert_eq!(claims["sub"], "alice", "{claims}");
    let audience = &claims["aud"];
    assert!(
        audience == CLIENT_ID
            || audience
                .as_array()
                .is_some_and(|list| list.contains(&json!(CLIENT_ID))),
        "the hint is not an ID token for the client: {claims}"
    );

    // Confirm at the provider, which returns to `${origin}/` with the
    // state, from where the app sends the browser on to returnTo.
    let returned = confirm_oidc_provider_logout(&client, &end_session).await;
    assert!(returned.starts_with(&demo.url("/?")), "{returned}");
    assert_eq!(query_param(&returned, "state"), Some(state));
    let response = client.get(&returned).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), demo.url("/dashboard?tab=2"));
    assert_removed(response.headers(), LOGOUT_COOKIE);
    let remaining = cookie_header(&jar, demo);
    for name in [LOGOUT_COOKIE, SESSION_COOKIE, TOKENS_COOKIE] {
        assert!(
            !cookie_names(&remaining).contains(&name),
            "{name} is still in the browser: {remaining}"
        );
    }

    // The provider's session ended: a new sign-in shows its login form.
    let authorization = start_sign_in(&client, demo, "/dashboard").await;
    let response = client.get(&authorization).send().await.unwrap();
    let interaction = location(&response);
    assert!(
        interaction.contains("/interaction/"),
        "signed straight back in: {interaction}"
    );
    let page = client.get(&interaction).send().await.unwrap();
    let body = expect_status(page, StatusCode::OK).await;
    assert!(
        body.contains("name=\"prompt\" value=\"login\""),
        "expected the login form, got {body}"
    );
}

async fn logout_return_without_state_is_neutral(example: &str) {
    let stack = start(example, Options::default()).await;
    let demo = &stack.demo;
    let (client, _) = browser();
    sign_in_as(&client, demo, "bob").await;

    let logout = client
        .get(demo.url("/api/auth/logout?returnTo=%2Fdashboard"))
        .send()
        .await
        .unwrap();
    let state = query_param(&location(&logout), "state").expect("the end-session URL has a state");
    let logout_cookie = set_cookie(logout.headers(), LOGOUT_COOKIE)
        .and_then(|value| value.split(';').next())
        .expect("logout sets the logout cookie")
        .to_owned();

    // A return whose state is wrong, empty or missing: a neutral page that
    // neither redirects nor signs in, and the logout cookie removed.
    for query in ["?state=wrong", "?state=", "", "?code=abc"] {
        let response = get_with_cookie(&demo.url(&format!("/{query}")), &logout_cookie).await;
        assert!(
            response.headers().get(LOCATION).is_none(),
            "{query:?} redirected to {:?}",
            response.headers().get(LOCATION)
        );
        assert!(
            set_cookie(response.headers(), SESSION_COOKIE).is_none(),
            "{query:?} set a session cookie"
        );
        assert_removed(response.headers(), LOGOUT_COOKIE);
        let body = expect_status(response, StatusCode::OK).await;
        assert!(
            body.contains("<h1>Signed out</h1>"),
            "{query:?} returned {body}"
        );
        assert!(
            !body.contains("You are not signed in."),
            "{query:?} returned the home page: {body}"
        );
    }

    // The same cookie with its own state goes on to returnTo, so the pages
    // above came from the state alone.
    let encoded: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
    let response = get_with_cookie(&demo.url(&format!("/?state={encoded}")), &logout_cookie).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), demo.url("/dashboard"));
    assert_removed(response.headers(), LOGOUT_COOKIE);

    // Without the cookie, `/` is the home page, with a state or without.
    for query in ["", "?state=wrong"] {
        let (fresh, _) = browser();
        let response = fresh
            .get(demo.url(&format!("/{query}")))
            .send()
            .await
            .unwrap();
        assert!(
            set_cookie(response.headers(), LOGOUT_COOKIE).is_none(),
            "{query:?} touched the logout cookie"
        );
        let body = expect_status(response, StatusCode::OK).await;
        assert!(
            body.contains("You are not signed in."),
            "{query:?} returned {body}"
        );
        assert!(
            !body.contains("<h1>Signed out</h1>"),
            "{query:?} returned {body}"
        );
    }
}

async fn backchannel_logout_ends_app_session(example: &str) {
    let stack = start(
        example,
        Options {
            backchannel: true,
            ..Options::default()
        },
    )
    .await;
    let demo = &stack.demo;
    let (alice, _) = browser();
    let (alice_elsewhere, _) = browser();
    let (bob, _) = browser();
    sign_in_as(&alice, demo, "alice").await;
    sign_in_as(&alice_elsewhere, demo, "alice").await;
    sign_in_as(&bob, demo, "bob").await;
    let me = alice.get(demo.url("/api/me")).send().await.unwrap();
    expect_status(me, StatusCode::OK).await;

    // Alice signs out at the provider itself, never at the app.
    let end_session = format!("{}/session/end", stack.provider.issuer);
    let returned = confirm_oidc_provider_logout(&alice, &end_session).await;
    assert!(returned.contains("/session/end/success"), "{returned}");
    let sent = "backchannel logout sent to client=roq-test-client sub=alice";
    let delivered = stack
        .provider
        .log
        .wait_for_count(sent, 1, SETTLE_TIME)
        .await;
    assert_eq!(
        delivered,
        1,
        "the provider did not deliver the logout token; provider log:\n{}\ndemo log:\n{}",
        stack.provider.log.text(),
        stack.log.text()
    );

    // oidc-provider 9.13.3 delivers the logout token before it answers the
    // confirm form, but a provider may send it later, so poll briefly.
    let deadline = tokio::time::Instant::now() + SETTLE_TIME;
    let status = loop {
        let me = alice.get(demo.url("/api/me")).send().await.unwrap();
        let status = me.status();
        if status != StatusCode::OK || tokio::time::Instant::now() >= deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old cookie still works; demo log:\n{}",
        stack.log.text()
    );
    let dashboard = alice.get(demo.url("/dashboard")).send().await.unwrap();
    assert_eq!(
        location(&dashboard),
        demo.url("/api/auth/login?returnTo=%2Fdashboard")
    );

    // Only the provider session named by the token's `sid` ends: Alice's
    // session from another browser, and Bob's, stay.
    for (client, login) in [(&alice_elsewhere, "alice"), (&bob, "bob")] {
        let me = client.get(demo.url("/api/me")).send().await.unwrap();
        let body = expect_status(me, StatusCode::OK).await;
        let me: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(me["sub"], login);
    }
}

async fn copied_cookie_fails_after_logout(example: &str) {
    let stack = start(example, Options::default()).await;
    let demo = &stack.demo;
    let (client, jar) = browser();
    sign_in_as(&client, demo, "carol").await;
    let copied = cookie_header(&jar, demo);
    assert!(
        cookie_names(&copied).contains(&SESSION_COOKIE),
        "no session cookie to copy: {copied}"
    );

    // The copy works from another client before logout.
    let me = get_with_cookie(&demo.url("/api/me"), &copied).await;
    let me: Value = serde_json::from_str(&expect_status(me, StatusCode::OK).await).unwrap();
    assert_eq!(me["sub"], "carol");

    let logout = client
        .get(demo.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_removed(logout.headers(), SESSION_COOKIE);

    let me = get_with_cookie(&demo.url("/api/me"), &copied).await;
    assert_unauthorized(me).await;
    let dashboard = get_with_cookie(&demo.url("/dashboard"), &copied).await;
    assert_eq!(dashboard.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&dashboard),
        demo.url("/api/auth/login?returnTo=%2Fdashboard")
    );
    let session = get_with_cookie(&demo.url("/api/auth/session"), &copied).await;
    expect_status(session, StatusCode::UNAUTHORIZED).await;
}

/// Starts a stack whose access tokens live 2 seconds and are refreshed
/// only once expired (leeway 0), signs `login` in, and returns the first
/// `/api/token` response.
async fn start_short_lived_tokens(
    example: &str,
    login: &str,
) -> (Stack, reqwest::Client, TokenResponse) {
    let mut env = OFFLINE_ACCESS.to_vec();
    env.push(("ROQ_ACCESS_TOKEN_REFRESH_LEEWAY", "0"));
    let stack = start(
        example,
        Options {
            access_token_ttl: Some(2),
            env: &env,
            ..Options::default()
        },
    )
    .await;
    let (client, _) = browser();
    sign_in_as(&client, &stack.demo, login).await;

    let first = request_token(&client, &stack.demo, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let fingerprint = first.fingerprint();
    assert_eq!(fingerprint.len(), 16, "{fingerprint:?}");
    assert!(
        fingerprint.chars().all(|c| c.is_ascii_hexdigit()),
        "{fingerprint:?}"
    );
    let scopes = first.body["scopes"].as_array().cloned().unwrap_or_default();
    assert!(scopes.contains(&json!("offline_access")), "{}", first.body);
    (stack, client, first)
}

/// Waits until `previous` has expired, then calls `/api/token` with the
/// jar's cookies and asserts that it returned a new token, written to the
/// tokens cookie, after exactly one more refresh grant.
async fn request_after_expiry(
    stack: &Stack,
    client: &reqwest::Client,
    previous: &TokenResponse,
) -> TokenResponse {
    let refreshes = stack.provider.log.count(REFRESH_GRANT);
    sleep_until_expired(previous.expires_at()).await;
    let next = request_token(client, &stack.demo, None).await;
    assert_refreshed(&next, &stack.log);
    assert_ne!(
        next.fingerprint(),
        previous.fingerprint(),
        "a token that expired at {} came back at {:.1}: {}",
        previous.expires_at(),
        unix_now(),
        next.body
    );
    assert!(next.expires_at() > previous.expires_at(), "{}", next.body);
    let seen = stack
        .provider
        .log
        .wait_for_count(REFRESH_GRANT, refreshes + 1, SETTLE_TIME)
        .await;
    assert_eq!(seen, refreshes + 1, "{}", stack.provider.log.text());
    next
}

async fn expired_access_token_is_refreshed(example: &str) {
    let (stack, client, first) = start_short_lived_tokens(example, "dora").await;
    request_after_expiry(&stack, &client, &first).await;

    // The new cookies keep working.
    let again = request_token(&client, &stack.demo, None).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(again.headers.get(LOCATION).is_none());
    let me = client.get(stack.demo.url("/api/me")).send().await.unwrap();
    expect_status(me, StatusCode::OK).await;
}

async fn refreshed_token_is_refreshed_again(example: &str) {
    let (stack, client, first) = start_short_lived_tokens(example, "dora").await;
    let second = request_after_expiry(&stack, &client, &first).await;
    // oidc-provider 9.13.3 rotates a confidential client's refresh token
    // only after 70% of its lifetime (1 day here) has passed, so this
    // refresh spends the same refresh token as the one before.
    request_after_expiry(&stack, &client, &second).await;
}

async fn concurrent_refreshes_share_one_grant(example: &str) {
    // Tokens live 30 seconds, less than the default refresh leeway of 60,
    // so every access token counts as about to expire.
    let stack = start(
        example,
        Options {
            access_token_ttl: Some(30),
            env: &OFFLINE_ACCESS,
            ..Options::default()
        },
    )
    .await;
    let demo = &stack.demo;
    let (client, jar) = browser();
    sign_in_as(&client, demo, "erin").await;
    let copied = cookie_header(&jar, demo);
    assert_eq!(stack.provider.log.count(REFRESH_GRANT), 0);

    // Ten requests with the same old cookies at once.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let client = client.clone();
        let url = demo.url("/api/token");
        let cookie = copied.clone();
        calls.spawn(async move {
            let response = client.get(url).header(COOKIE, cookie).send().await.unwrap();
            let status = response.status();
            let refreshed = set_cookie(response.headers(), TOKENS_COOKIE).map(str::to_owned);
            let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            (status, refreshed, body)
        });
    }
    let mut fingerprints = Vec::new();
    while let Some(joined) = calls.join_next().await {
        let (status, refreshed, body) = joined.expect("the request task does not panic");
        assert_eq!(
            status,
            StatusCode::OK,
            "{body}; demo log:\n{}",
            stack.log.text()
        );
        let refreshed = refreshed.expect("each response carries the refreshed tokens");
        assert!(!refreshed.contains("Max-Age=0"), "{refreshed}");
        fingerprints.push(body["fingerprint"].as_str().unwrap_or_default().to_owned());
    }
    assert!(
        fingerprints
            .iter()
            .all(|fingerprint| fingerprint == &fingerprints[0]),
        "the calls got different tokens: {fingerprints:?}"
    );

    // Wait for a second refresh that must not come.
    let refreshes = stack
        .provider
        .log
        .wait_for_count(REFRESH_GRANT, 2, Duration::from_millis(500))
        .await;
    assert_eq!(refreshes, 1, "provider log:\n{}", stack.provider.log.text());
    assert_eq!(
        stack.provider.log.count("grant.error"),
        0,
        "{}",
        stack.provider.log.text()
    );
}

async fn rejected_refresh_signs_out(example: &str) {
    let stack = start(
        example,
        Options {
            access_token_ttl: Some(30),
            env: &OFFLINE_ACCESS,
            ..Options::default()
        },
    )
    .await;
    let demo = &stack.demo;
    let (client, jar) = browser();
    sign_in_as(&client, demo, "fay").await;
    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    expect_status(me, StatusCode::OK).await;
    let copied = cookie_header(&jar, demo);

    // A restarted provider has forgotten every grant, so it rejects the
    // refresh token with invalid_grant.
    let provider = stack.provider.restart().await;
    let token = request_token(&client, demo, None).await;
    assert_eq!(
        token.status,
        StatusCode::UNAUTHORIZED,
        "{}; provider log:\n{}\ndemo log:\n{}",
        token.body,
        provider.log.text(),
        stack.log.text()
    );
    assert_eq!(token.body, json!({"error": "unauthorized"}));
    assert_removed(&token.headers, SESSION_COOKIE);
    assert_removed(&token.headers, TOKENS_COOKIE);
    assert!(
        provider
            .log
            .wait_for_count("invalid_grant", 1, SETTLE_TIME)
            .await
            >= 1,
        "the provider did not reject a refresh token; provider log:\n{}",
        provider.log.text()
    );

    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    assert_unauthorized(me).await;
    // The session is revoked too, so a copy of the cookie is signed out.
    let me = get_with_cookie(&demo.url("/api/me"), &copied).await;
    assert_unauthorized(me).await;
}

async fn redis_shares_revocation_between_instances(example: &str) {
    // `.ci/run` starts one Redis server for the whole run and names it in
    // ROQ_TEST_REDIS_URL. Without it, the test starts its own.
    let _own_redis;
    let redis_url = match std::env::var("ROQ_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            let redis = RedisServer::start().await;
            let url = redis.url();
            _own_redis = redis;
            url
        }
    };
    let (port_a, port_b) = (free_port(), free_port());
    let origin_a = format!("http://127.0.0.1:{port_a}");
    let origin_b = format!("http://127.0.0.1:{port_b}");
    let provider = Provider::start(ProviderSettings {
        clients: json!([test_client(&[&origin_a, &origin_b])]),
        access_token_ttl: None,
        log_issued_values: false,
    })
    .await;
    let env = [("ROQ_REDIS_URL", redis_url.as_str())];
    let (demo_a, log_a) = start_demo(example, port_a, &provider.issuer, &env).await;
    let (demo_b, log_b) = start_demo(example, port_b, &provider.issuer, &env).await;

    let (client, jar) = browser();
    sign_in_as(&client, &demo_a, "gus").await;
    let copied = cookie_header(&jar, &demo_a);

    // The same secret seals the cookie, so it works on B too.
    let me = get_with_cookie(&demo_b.url("/api/me"), &copied).await;
    let me: Value = serde_json::from_str(&expect_status(me, StatusCode::OK).await).unwrap();
    assert_eq!(me["sub"], "gus");

    let logout = get_with_cookie(&demo_a.url("/api/auth/logout"), &copied).await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_removed(logout.headers(), SESSION_COOKIE);

    // B learns of the revocation from Redis alone.
    let me = get_with_cookie(&demo_b.url("/api/me"), &copied).await;
    assert_eq!(
        me.status(),
        StatusCode::UNAUTHORIZED,
        "B still accepts the cookie; log of A:\n{}\nlog of B:\n{}",
        log_a.text(),
        log_b.text()
    );
    assert_unauthorized(me).await;
    let dashboard = get_with_cookie(&demo_b.url("/dashboard"), &copied).await;
    assert_eq!(
        location(&dashboard),
        demo_b.url("/api/auth/login?returnTo=%2Fdashboard")
    );
    let me = get_with_cookie(&demo_a.url("/api/me"), &copied).await;
    assert_unauthorized(me).await;
}

support::demo_suite!(
    rp_logout_ends_provider_session,
    logout_return_without_state_is_neutral,
    backchannel_logout_ends_app_session,
    copied_cookie_fails_after_logout,
    expired_access_token_is_refreshed,
    refreshed_token_is_refreshed_again,
    concurrent_refreshes_share_one_grant,
    rejected_refresh_signs_out,
    redis_shares_revocation_between_instances,
);
