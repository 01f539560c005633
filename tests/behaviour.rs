//! The behaviour suite: the demo's public contract, driven over real HTTP
//! on 127.0.0.1 against a real OpenID provider (`oidc-provider` under
//! Node). Each case is written once and run against every adapter's demo
//! by the `suite!` macro at the bottom.

mod support;

#[path = "support/servers.rs"]
mod servers;

use reqwest::cookie::CookieStore as _;
use reqwest::header::CACHE_CONTROL;
use reqwest::StatusCode;
use serde_json::{json, Value};
use servers::{test_client, Provider, ProviderSettings};
use support::*;

/// Starts the provider and the demo `example` wired to it.
async fn start(example: &str) -> (OidcProvider, Demo) {
    let port = free_port();
    let provider = OidcProvider::start(&format!("http://127.0.0.1:{port}")).await;
    let demo = Demo::start_with_provider(example, port, &provider).await;
    (provider, demo)
}

fn cache_control(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get(CACHE_CONTROL)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

async fn signed_out_page_redirects_to_login(example: &str) {
    let (_provider, demo) = start(example).await;
    let (client, _) = browser();

    let response = client
        .get(demo.url("/dashboard?tab=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(cache_control(&response), "private, no-store");
    assert_eq!(
        location(&response),
        demo.url("/api/auth/login?returnTo=%2Fdashboard%3Ftab%3D1")
    );
}

async fn login_redirects_to_provider_with_pkce(example: &str) {
    let (provider, demo) = start(example).await;
    let (client, _) = browser();

    let response = client
        .get(demo.url("/api/auth/login?returnTo=%2Fdashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let authorization = location(&response);
    assert!(
        authorization.starts_with(&provider.issuer),
        "{authorization}"
    );

    let param = |name| query_param(&authorization, name);
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(param("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(param("redirect_uri"), Some(demo.url("/api/auth/callback")));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("code_challenge").map(|c| c.len()), Some(43));
    let scope = param("scope").unwrap_or_default();
    assert!(scope.split(' ').any(|s| s == "openid"), "scope {scope:?}");
    for name in ["state", "nonce"] {
        let value = param(name).unwrap_or_default();
        assert!(
            value.len() >= 43,
            "{name} {value:?} is shorter than 256 bits"
        );
    }

    let cookie = transaction_set_cookie(response.headers()).expect("the transaction cookie is set");
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/api/auth/callback",
        "Max-Age=600",
    ] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing from {cookie}"
        );
    }
    assert!(
        !cookie.contains("Secure"),
        "an http app cannot use Secure cookies: {cookie}"
    );
}

async fn sign_in_reaches_dashboard_and_api(example: &str) {
    let (_provider, demo) = start(example).await;
    let (client, _) = browser();

    let callback = sign_in(&client, &demo, "/dashboard", "alice").await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&callback), demo.url("/dashboard"));
    assert_eq!(cache_control(&callback), "private, no-store");
    let session_cookie =
        set_cookie(callback.headers(), "roq_session").expect("the session cookie is set");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            session_cookie.contains(attribute),
            "{attribute} missing from {session_cookie}"
        );
    }
    let removal =
        transaction_set_cookie(callback.headers()).expect("the transaction cookie is removed");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert!(removal.contains("Path=/api/auth/callback"), "{removal}");

    let dashboard = client.get(demo.url("/dashboard")).send().await.unwrap();
    assert_eq!(cache_control(&dashboard), "private, no-store");
    let body = expect_status(dashboard, StatusCode::OK).await;
    assert!(body.contains("Alice Example"), "{body}");
    assert!(body.contains(">alice<"), "{body}");

    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    assert_eq!(cache_control(&me), "private, no-store");
    let me: Value = serde_json::from_str(&expect_status(me, StatusCode::OK).await).unwrap();
    assert_eq!(
        me,
        json!({"sub": "alice", "name": "Alice Example", "email": "alice@example.test"})
    );

    let session = client
        .get(demo.url("/api/auth/session"))
        .send()
        .await
        .unwrap();
    let session: Value =
        serde_json::from_str(&expect_status(session, StatusCode::OK).await).unwrap();
    assert_eq!(session["user"]["sub"], "alice");
    assert_eq!(session["user"]["email_verified"], true);
    assert!(session["expires_at"].as_u64().is_some(), "{session}");
    let text = session.to_string();
    for token_field in ["id_token", "access_token", "refresh_token", "nonce"] {
        assert!(
            !text.contains(token_field),
            "{token_field} leaked into {text}"
        );
    }
}

async fn signed_in_login_page_redirects_to_dashboard(example: &str) {
    let (_provider, demo) = start(example).await;
    let (client, _) = browser();

    let login_page = client.get(demo.url("/login")).send().await.unwrap();
    let body = expect_status(login_page, StatusCode::OK).await;
    assert!(body.contains("/api/auth/login"), "{body}");

    sign_in(&client, &demo, "/dashboard", "bob").await;
    let response = client.get(demo.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), demo.url("/dashboard"));
}

async fn logout_ends_the_session(example: &str) {
    let (provider, demo) = start(example).await;
    let (client, _) = browser();
    sign_in(&client, &demo, "/dashboard", "carol").await;
    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    expect_status(me, StatusCode::OK).await;

    // The app's session ends in the logout response itself, which then
    // sends the browser to the provider's end-session endpoint.
    let logout = client
        .get(demo.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    let removal =
        set_cookie(logout.headers(), "roq_session").expect("the session cookie is removed");
    assert!(
        removal.contains("Max-Age=0") && removal.contains("Path=/"),
        "{removal}"
    );
    let end_session = location(&logout);
    assert!(
        end_session.starts_with(&format!("{}/session/end?", provider.issuer)),
        "{end_session}"
    );
    assert_eq!(
        query_param(&end_session, "client_id").as_deref(),
        Some(CLIENT_ID)
    );
    assert_eq!(
        query_param(&end_session, "post_logout_redirect_uri"),
        Some(demo.url("/"))
    );

    // Confirm at the provider, which then returns to the app.
    // It returns to the post-logout URL with the `state` the app sent.
    let returned = confirm_oidc_provider_logout(&client, &end_session).await;
    assert!(returned.starts_with(&demo.url("/?")), "{returned}");
    let state = query_param(&end_session, "state").expect("the app sends a state");
    assert_eq!(query_param(&returned, "state"), Some(state));

    // The provider's session ended too: a new sign-in shows its login form.
    let authorization = start_sign_in(&client, &demo, "/dashboard").await;
    let response = client.get(&authorization).send().await.unwrap();
    let next = location(&response);
    assert!(
        next.contains("/interaction/"),
        "signed straight back in: {next}"
    );

    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    assert_eq!(cache_control(&me), "private, no-store");
    let body: Value =
        serde_json::from_str(&expect_status(me, StatusCode::UNAUTHORIZED).await).unwrap();
    assert_eq!(body, json!({"error": "unauthorized"}));
    let session = client
        .get(demo.url("/api/auth/session"))
        .send()
        .await
        .unwrap();
    expect_status(session, StatusCode::UNAUTHORIZED).await;
}

async fn signed_out_api_gets_401(example: &str) {
    let (_provider, demo) = start(example).await;
    let (client, _) = browser();

    let response = client
        .get(demo.url("/api/me"))
        .header("cookie", "roq_session=not-a-sealed-value")
        .send()
        .await
        .unwrap();
    let body: Value =
        serde_json::from_str(&expect_status(response, StatusCode::UNAUTHORIZED).await).unwrap();
    assert_eq!(body, json!({"error": "unauthorized"}));
}

/// Starts a sign-in and returns the authorization URL, with the transaction
/// cookie in the client's jar.
async fn begin(client: &reqwest::Client, demo: &Demo) -> String {
    let response = client
        .get(demo.url("/api/auth/login"))
        .send()
        .await
        .unwrap();
    location(&response)
}

async fn callback_rejects_missing_or_wrong_state(example: &str) {
    let (_provider, demo) = start(example).await;
    let (client, _) = browser();
    begin(&client, &demo).await;

    for query in ["code=abc", "code=abc&state=wrong", "code=abc&state="] {
        let response = client
            .get(demo.url(&format!("/api/auth/callback?{query}")))
            .send()
            .await
            .unwrap();
        assert!(
            set_cookie(response.headers(), "roq_session").is_none(),
            "{query} set a session"
        );
        expect_status(response, StatusCode::BAD_REQUEST).await;
    }
}

async fn callback_without_transaction_cookie_is_rejected(example: &str) {
    let (_provider, demo) = start(example).await;
    let (client, _) = browser();
    let authorization = begin(&client, &demo).await;
    let callback = complete_oidc_provider_login(&client, &authorization, "mallory").await;

    // A different browser, without the transaction cookie, follows the link:
    // login CSRF.
    let (other, _) = browser();
    let response = other.get(&callback).send().await.unwrap();
    assert!(set_cookie(response.headers(), "roq_session").is_none());
    let body = expect_status(response, StatusCode::BAD_REQUEST).await;
    assert!(body.contains("sign in again"), "{body}");
}

async fn provider_error_is_escaped(example: &str) {
    let (_provider, demo) = start(example).await;
    let (client, _) = browser();
    let authorization = begin(&client, &demo).await;
    let state = query_param(&authorization, "state").unwrap();

    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", "access_denied")
        .append_pair("error_description", "<script>alert('x')</script>")
        .append_pair("state", &state)
        .finish();
    let response = client
        .get(demo.url(&format!("/api/auth/callback?{query}")))
        .send()
        .await
        .unwrap();
    assert!(set_cookie(response.headers(), "roq_session").is_none());
    let body = expect_status(response, StatusCode::BAD_REQUEST).await;
    assert!(!body.contains("<script>"), "markup was reflected: {body}");
    assert!(body.contains("&lt;script&gt;"), "{body}");
    assert!(body.contains("access_denied"), "{body}");
}

async fn replayed_callback_is_rejected(example: &str) {
    let (_provider, demo) = start(example).await;
    let (client, jar) = browser();
    let authorization = begin(&client, &demo).await;
    let callback = complete_oidc_provider_login(&client, &authorization, "dave").await;

    // Copy the transaction cookie, as an attacker who stole it would.
    let callback_url: url::Url = callback.parse().unwrap();
    let cookies = jar
        .cookies(&callback_url)
        .expect("the jar has the transaction cookie");
    let transaction = cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find(|pair| pair.starts_with(TRANSACTION_COOKIE_PREFIX))
        .expect("the transaction cookie reaches the callback")
        .to_owned();

    let first = client.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(first.headers(), "roq_session").is_some());

    // The same browser again: its transaction is gone.
    let again = client.get(&callback).send().await.unwrap();
    assert!(set_cookie(again.headers(), "roq_session").is_none());
    expect_status(again, StatusCode::BAD_REQUEST).await;

    // Another browser with the copied transaction: the provider refuses the
    // used code.
    let (attacker, _) = browser();
    let replay = attacker
        .get(&callback)
        .header(reqwest::header::COOKIE, transaction)
        .send()
        .await
        .unwrap();
    assert!(set_cookie(replay.headers(), "roq_session").is_none());
    expect_status(replay, StatusCode::BAD_REQUEST).await;
}

async fn hostile_return_to_falls_back_to_root(example: &str) {
    let (_provider, demo) = start(example).await;
    let (client, _) = browser();

    let hostile = [
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "/%5cevil.example",
        "https://evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "/%2f%2fevil.example",
        "/ok%0d%0aSet-Cookie:%20x=1",
    ];
    for value in hostile {
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        let response = client
            .get(demo.url(&format!("/api/auth/logout?returnTo={encoded}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            location(&response),
            demo.url("/"),
            "logout followed {value:?}"
        );
    }
    let kept = client
        .get(demo.url("/api/auth/logout?returnTo=%2Fa%2Fb%2520c"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&kept), demo.url("/a/b%20c"));

    // The same rule on sign-in: a hostile returnTo ends on the home page.
    let response = client
        .get(demo.url("/api/auth/login?returnTo=%2F%2Fevil.example"))
        .send()
        .await
        .unwrap();
    let authorization = location(&response);
    let callback = complete_oidc_provider_login(&client, &authorization, "erin").await;
    let response = client.get(&callback).send().await.unwrap();
    assert_eq!(location(&response), demo.url("/"));
}

async fn dev_provider_sign_in(example: &str) {
    let port = free_port();
    let demo = Demo::start(example, port, &[("ROQ_SECRET", APP_SECRET)]).await;
    let banner = demo.banner.join("\n");
    assert!(
        banner.contains("DEVELOPMENT-ONLY OpenID provider at http://127.0.0.1:"),
        "{banner}"
    );
    let (client, _) = browser();

    let authorization = start_sign_in(&client, &demo, "/dashboard").await;
    let callback = complete_dev_provider_login(&client, &authorization, "frank").await;
    let response = client.get(&callback).send().await.unwrap();
    assert_eq!(location(&response), demo.url("/dashboard"));

    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    let me: Value = serde_json::from_str(&expect_status(me, StatusCode::OK).await).unwrap();
    assert_eq!(me["sub"], "frank");
    assert_eq!(me["email"], "frank@example.test");
}

async fn demo_without_secret_says_it_uses_a_throwaway_key(example: &str) {
    let demo = Demo::start(example, free_port(), &[]).await;
    let banner = demo.banner.join("\n");
    assert!(banner.contains("ROQ_SECRET is not set"), "{banner}");
}

async fn login_passes_on_allowed_parameters(example: &str) {
    let port = free_port();
    let provider = OidcProvider::start(&format!("http://127.0.0.1:{port}")).await;
    let demo = Demo::start(
        example,
        port,
        &[
            ("ROQ_ISSUER_URL", provider.issuer.as_str()),
            ("ROQ_CLIENT_ID", CLIENT_ID),
            ("ROQ_CLIENT_SECRET", CLIENT_SECRET),
            ("ROQ_SECRET", APP_SECRET),
            (
                "ROQ_AUTHORIZATION_PARAMS",
                "audience=https%3A%2F%2Fapi.example.test&prompt=consent",
            ),
        ],
    )
    .await;
    let (client, _) = browser();

    // `prompt` and `login_hint` pass; `state`, `redirect_uri` and
    // `audience` are not login parameters and are ignored.
    let response = client
        .get(demo.url(
            "/api/auth/login?prompt=login&login_hint=kim%40example.test\
             &state=chosen&redirect_uri=http%3A%2F%2Fother.example&audience=other",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let authorization = location(&response);
    let pairs: Vec<(String, String)> = url::Url::parse(&authorization)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let values = |name: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    };
    assert_eq!(values("prompt"), ["login"], "{authorization}");
    assert_eq!(
        values("login_hint"),
        ["kim@example.test"],
        "{authorization}"
    );
    assert_eq!(
        values("audience"),
        ["https://api.example.test"],
        "{authorization}"
    );
    assert_eq!(values("redirect_uri"), [demo.url("/api/auth/callback")]);
    let state = values("state");
    assert_eq!(state.len(), 1, "{authorization}");
    assert_ne!(state[0], "chosen");
    assert!(state[0].len() >= 43, "{authorization}");
}

async fn reserved_authorization_param_stops_start_up(example: &str) {
    let output = tokio::process::Command::new(example_binary(example))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ROQ_BIND", format!("127.0.0.1:{}", free_port()))
        .env("ROQ_SECRET", APP_SECRET)
        .env("ROQ_ISSUER_URL", "http://127.0.0.1:9")
        .env("ROQ_CLIENT_ID", CLIENT_ID)
        .env("ROQ_CLIENT_SECRET", CLIENT_SECRET)
        .env("ROQ_AUTHORIZATION_PARAMS", "state=fixed")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ROQ_AUTHORIZATION_PARAMS"), "{stderr}");
    assert!(stderr.contains("\"state\""), "{stderr}");
}

async fn https_base_url_over_http_warns_once(example: &str) {
    let port = free_port();
    let (demo, log) = Demo::start_logged(
        example,
        port,
        &[
            ("ROQ_BASE_URL", &format!("https://127.0.0.1:{port}")),
            ("ROQ_SECRET", APP_SECRET),
        ],
    )
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    const WARNING: &str = "arrived over plain http";

    // A request that says it came over https raises no warning.
    let https = client
        .get(demo.url("/api/auth/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(https.status(), StatusCode::SEE_OTHER);
    let transaction = https
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("__Secure-roq_tx_"))
        .expect("login sets a __Secure- transaction cookie");
    assert!(transaction.contains("; Secure"), "{transaction}");
    assert!(!log.text().contains(WARNING), "{}", log.text());

    for _ in 0..3 {
        let http = client
            .get(demo.url("/api/auth/login"))
            .header("x-forwarded-proto", "http")
            .send()
            .await
            .unwrap();
        assert_eq!(http.status(), StatusCode::SEE_OTHER);
    }
    log.wait_for(0, |line| line.contains(WARNING))
        .await
        .expect("the plain-http warning is logged");
    let text = log.text();
    assert_eq!(text.matches(WARNING).count(), 1, "{text}");
    assert!(text.contains("WARN"), "{text}");
}

/// Runs every case against each adapter's demo: a module per adapter, with
/// one test per case.
async fn two_tabs_sign_in_at_once(example: &str) {
    let (_provider, demo) = start(example).await;
    let (client, _) = browser();

    // Both tabs start before either finishes.
    let first = begin(&client, &demo).await;
    let second = begin(&client, &demo).await;
    let first_callback = complete_oidc_provider_login(&client, &first, "gina").await;
    let second_callback = complete_oidc_provider_login(&client, &second, "gina").await;

    for callback in [first_callback, second_callback] {
        let response = client.get(&callback).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{callback}");
        assert!(
            set_cookie(response.headers(), "roq_session").is_some(),
            "{callback} did not sign in"
        );
    }
    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    expect_status(me, StatusCode::OK).await;
}

async fn sessions_survive_restart_and_rotation(example: &str) {
    const NEW_SECRET: &str = "77665544332211000f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778";
    const UNRELATED_SECRET: &str =
        "deadbeef00112233445566778899aabbccddeeff00112233445566778899aabb";
    let port = free_port();
    let provider = OidcProvider::start(&format!("http://127.0.0.1:{port}")).await;
    let (client, _) = browser();

    let demo = Demo::start_with_provider(example, port, &provider).await;
    sign_in(&client, &demo, "/dashboard", "hana").await;
    demo.stop().await;

    // Same key after a restart: the session is still valid.
    let demo = Demo::start_with_provider(example, port, &provider).await;
    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    assert!(
        set_cookie(me.headers(), "roq_session").is_none(),
        "nothing to renew"
    );
    expect_status(me, StatusCode::OK).await;
    demo.stop().await;

    // A new key with the old one listed as previous: valid, and sealed again.
    let demo =
        Demo::start_with_secrets(example, port, &provider, NEW_SECRET, Some(APP_SECRET)).await;
    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    let resealed = set_cookie(me.headers(), "roq_session").map(str::to_owned);
    expect_status(me, StatusCode::OK).await;
    let resealed = resealed.expect("the session is sealed again under the new key");
    assert!(!resealed.contains("Max-Age=0"), "{resealed}");
    demo.stop().await;

    // The old key dropped: the resealed session is still valid.
    let demo = Demo::start_with_secrets(example, port, &provider, NEW_SECRET, None).await;
    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    expect_status(me, StatusCode::OK).await;
    demo.stop().await;

    // An unrelated key: signed out cleanly, the cookie removed, no error page.
    let demo = Demo::start_with_secrets(example, port, &provider, UNRELATED_SECRET, None).await;
    let dashboard = client.get(demo.url("/dashboard")).send().await.unwrap();
    assert_eq!(dashboard.status(), StatusCode::SEE_OTHER);
    let removal = set_cookie(dashboard.headers(), "roq_session").expect("the cookie is removed");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    expect_status(me, StatusCode::UNAUTHORIZED).await;
}

async fn large_session_round_trips_in_chunks(example: &str) {
    let (_provider, demo) = start(example).await;
    let (client, _) = browser();

    // A session as large as one with a long group list: about 12 KB of
    // claims, sealed with the demo's secret as a sign-in would seal it.
    let config = roq_auth::Config::builder()
        .secret(APP_SECRET)
        .issuer_url("http://127.0.0.1:1")
        .client_id(CLIENT_ID)
        .client_secret(CLIENT_SECRET)
        .base_url(demo.origin.clone())
        .build()
        .unwrap();
    let groups: Vec<String> = (0..800)
        .map(|index| format!("group-{index:05}-x"))
        .collect();
    let user = roq_auth::User::new("ivan")
        .with_name("Ivan")
        .with_claim("groups", groups.clone());
    let cookie = roq_auth::Auth::new(config)
        .test_session_cookie(user, &["openid"])
        .unwrap();
    assert!(
        cookie.contains("roq_session.3="),
        "the session is not chunked"
    );

    let me = client
        .get(demo.url("/api/me"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let me: Value = serde_json::from_str(&expect_status(me, StatusCode::OK).await).unwrap();
    assert_eq!(me["sub"], "ivan");

    let session = client
        .get(demo.url("/api/auth/session"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let session: Value =
        serde_json::from_str(&expect_status(session, StatusCode::OK).await).unwrap();
    assert_eq!(session["user"]["groups"], json!(groups));

    // Signing out removes every chunk.
    let logout = client
        .get(demo.url("/api/auth/logout"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    for index in 0..4 {
        let removal = set_cookie(logout.headers(), &format!("roq_session.{index}"))
            .unwrap_or_else(|| panic!("chunk {index} is not removed"));
        assert!(removal.contains("Max-Age=0"), "{removal}");
    }
}

async fn trace_logs_contain_no_secrets(example: &str) {
    let port = free_port();
    // This provider also prints the tokens it issues and the PKCE verifiers
    // it receives, so that the test can look for them in the app's log.
    let provider = Provider::start(ProviderSettings {
        clients: json!([test_client(&[&format!("http://127.0.0.1:{port}")])]),
        access_token_ttl: None,
        log_issued_values: true,
    })
    .await;
    let (demo, log) = Demo::start_logged(
        example,
        port,
        &[
            ("ROQ_ISSUER_URL", provider.issuer.as_str()),
            ("ROQ_CLIENT_ID", CLIENT_ID),
            ("ROQ_CLIENT_SECRET", CLIENT_SECRET),
            ("ROQ_SECRET", APP_SECRET),
            ("RUST_LOG", "trace"),
            // A refresh token, and a leeway longer than the access token's
            // lifetime, so that `/api/token` refreshes on every call.
            ("ROQ_SCOPES", "profile email offline_access"),
            ("ROQ_AUTHORIZATION_PARAMS", "prompt=consent"),
            ("ROQ_ACCESS_TOKEN_REFRESH_LEEWAY", "7200"),
        ],
    )
    .await;
    let (client, jar) = browser();

    let authorization = start_sign_in(&client, &demo, "/dashboard").await;
    let callback = complete_oidc_provider_login(&client, &authorization, "kim").await;
    let callback_url: url::Url = callback.parse().unwrap();
    let transaction = jar
        .cookies(&callback_url)
        .and_then(|cookies| {
            cookies
                .to_str()
                .ok()?
                .split("; ")
                .find(|pair| pair.starts_with(TRANSACTION_COOKIE_PREFIX))
                .map(|pair| pair.split_once('=').unwrap().1.to_owned())
        })
        .expect("the transaction cookie reaches the callback");
    let code = query_param(&callback, "code").expect("the callback has a code");

    let signed_in = client.get(&callback).send().await.unwrap();
    let session = set_cookie(signed_in.headers(), "roq_session")
        .and_then(|cookie| cookie.split(';').next()?.split_once('='))
        .map(|(_, value)| value.to_owned())
        .expect("the session cookie is set");
    let tokens = set_cookie(signed_in.headers(), "roq_session_tokens")
        .and_then(|cookie| cookie.split(';').next()?.split_once('='))
        .map(|(_, value)| value.to_owned())
        .expect("the tokens cookie is set");
    let me = client.get(demo.url("/api/me")).send().await.unwrap();
    expect_status(me, StatusCode::OK).await;
    let token = client.get(demo.url("/api/token")).send().await.unwrap();
    let refreshed_tokens = set_cookie(token.headers(), "roq_session_tokens")
        .and_then(|cookie| cookie.split(';').next()?.split_once('='))
        .map(|(_, value)| value.to_owned())
        .expect("the refresh sets the tokens cookie again");
    expect_status(token, StatusCode::OK).await;
    let logout = client
        .get(demo.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);

    let text = log.text();
    assert!(
        text.contains("signed in"),
        "the trace log is not captured:\n{text}"
    );
    assert!(
        text.contains("refreshed an access token"),
        "the access token was not refreshed:\n{text}"
    );
    assert!(
        text.contains("TRACE"),
        "the log is not at trace level:\n{text}"
    );
    for (what, secret) in [
        ("the client secret", CLIENT_SECRET),
        ("ROQ_SECRET", APP_SECRET),
        ("the authorization code", code.as_str()),
        ("the transaction cookie", transaction.as_str()),
        ("the session cookie", session.as_str()),
        ("the tokens cookie", tokens.as_str()),
        ("the refreshed tokens cookie", refreshed_tokens.as_str()),
        ("a JWT such as the ID token", "eyJ"),
    ] {
        assert!(!text.contains(secret), "{what} appears in the trace log");
    }

    // The sign-in's and the refresh's tokens, and the sign-in's PKCE
    // verifier, as the provider saw them.
    let issued = provider.issued_values();
    for field in ["access_token", "refresh_token", "id_token", "code_verifier"] {
        assert!(
            issued.iter().any(|(name, _)| name == field),
            "the provider logged no {field}: {issued:?}"
        );
    }
    let access_tokens = issued
        .iter()
        .filter(|(name, _)| name == "access_token")
        .count();
    assert!(
        access_tokens >= 2,
        "the provider issued {access_tokens} access token(s); the refresh did not reach it"
    );
    for (field, value) in &issued {
        assert!(
            !text.contains(value.as_str()),
            "the {field} appears in the trace log"
        );
    }
}

support::demo_suite!(
    signed_out_page_redirects_to_login,
    login_redirects_to_provider_with_pkce,
    sign_in_reaches_dashboard_and_api,
    signed_in_login_page_redirects_to_dashboard,
    logout_ends_the_session,
    signed_out_api_gets_401,
    callback_rejects_missing_or_wrong_state,
    callback_without_transaction_cookie_is_rejected,
    provider_error_is_escaped,
    replayed_callback_is_rejected,
    hostile_return_to_falls_back_to_root,
    dev_provider_sign_in,
    demo_without_secret_says_it_uses_a_throwaway_key,
    login_passes_on_allowed_parameters,
    reserved_authorization_param_stops_start_up,
    https_base_url_over_http_warns_once,
    two_tabs_sign_in_at_once,
    sessions_survive_restart_and_rotation,
    large_session_round_trips_in_chunks,
    trace_logs_contain_no_secrets,
);
