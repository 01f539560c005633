//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0), the
//! after-callback hook and the userinfo fetch, against `ForgedProvider`, a
//! test double of an OpenID provider that signs tokens with test keys.
//!
//! The back-channel cases run the demo binaries. A browser signs in at the
//! forged provider, then the test posts a logout token to
//! `/api/auth/backchannel-logout`: the provider builds the honest token and
//! the case changes one thing in it. An invalid token gets 400
//! `{"error":"invalid_request"}`, its reason goes to the demo's log, and it
//! revokes nothing, so the session still gets 200 from `/api/me`. Each
//! rejection case then posts the honest token for the same session and
//! checks that it signs the session out. A case therefore cannot pass
//! because its session was out of reach of every token.
//!
//! The hook and userinfo cases serve small Axum and Actix Web apps in this
//! process, because the demos install no after-callback hook.
//!
//! `suite!` at the bottom runs every case against both adapters. The demo
//! cases need the example binaries: run `cargo build --examples` first, or
//! the whole `cargo test`.

mod support;

// The forged provider lives with the other test support code, but only the
// suites that use it compile it.
#[path = "support/forged_provider.rs"]
mod forged_provider;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use forged_provider::{
    test_key, unix_now, CannedReply, Endpoint, ForgedProvider, KeyName, LogoutToken, Signer,
    BACKCHANNEL_LOGOUT_EVENT, SUBJECT,
};
use reqwest::header::{HeaderMap, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use reqwest::{Client, Response, StatusCode};
use roq_auth::{Auth, Config, SignInDenied, User};
use serde_json::{json, Value};
use support::*;

/// The name of the session cookie on an http app.
const SESSION_COOKIE: &str = "roq_session";

/// The demo's back-channel logout route.
const BACKCHANNEL_LOGOUT: &str = "/api/auth/backchannel-logout";

/// The provider session (`sid`) of the session each rejection case signs in.
const SID: &str = "provider-session-1";

/// The only content type the back-channel logout route accepts.
const FORM: &str = "application/x-www-form-urlencoded";

/// Padding that takes a back-channel logout body past the library's limit
/// of 16 KiB.
const OVERSIZED_BODY_BYTES: usize = 20 * 1024;

/// The message the library logs for every rejected back-channel logout
/// request, followed by the reason.
const REJECTED: &str = "rejected a back-channel logout request";

/// The adapter under test: the demo binary or the in-process app of one web
/// framework.
#[derive(Clone, Copy, Debug)]
enum Adapter {
    Axum,
    Actix,
}

impl Adapter {
    fn example(self) -> &'static str {
        match self {
            Adapter::Axum => "demo",
            Adapter::Actix => "demo_actix",
        }
    }
}

/// Returns the value of a header, or `""` when it is missing or not text.
fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

fn has_no_store(cache_control: &str) -> bool {
    cache_control
        .split(',')
        .any(|directive| directive.trim().eq_ignore_ascii_case("no-store"))
}

/// Returns the form body `logout_token=…` with one field per token.
fn form_body(tokens: &[&str]) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for token in tokens {
        form.append_pair("logout_token", token);
    }
    form.finish()
}

/// Starts a sign-in at the app on `origin` in `browser`, passes the forged
/// provider, which redirects back at once, and returns the callback's
/// response.
async fn complete_sign_in(browser: &Client, origin: &str) -> Response {
    let response = browser
        .get(format!("{origin}/api/auth/login?returnTo=%2F"))
        .send()
        .await
        .unwrap();
    let authorization = location(&response);
    let response = browser.get(&authorization).send().await.unwrap();
    let callback = location(&response);
    assert!(
        callback.starts_with(&format!("{origin}/api/auth/callback?")),
        "the provider redirected elsewhere: {callback}"
    );
    browser.get(&callback).send().await.unwrap()
}

/// Returns the user of `/api/auth/session`, asserting that `browser` is
/// signed in.
async fn session_user(browser: &Client, origin: &str) -> Value {
    let response = browser
        .get(format!("{origin}/api/auth/session"))
        .send()
        .await
        .unwrap();
    let body = expect_status(response, StatusCode::OK).await;
    let session: Value = serde_json::from_str(&body).expect("the session route returns JSON");
    session["user"].clone()
}

/// Sets the `sub` of the ID tokens the provider issues from now on, and
/// their `sid`, or leaves `sid` out.
fn script_subject(provider: &ForgedProvider, sub: &str, sid: Option<&str>) {
    provider.script(|script| {
        script.id_token.set("sub", json!(sub));
        match sid {
            Some(sid) => script.id_token.set("sid", json!(sid)),
            None => {
                script.id_token.set_claims.remove("sid");
            }
        }
    });
}

/// A demo signing in at its own forged provider, with the demo's log
/// captured.
struct Fixture {
    provider: ForgedProvider,
    demo: Demo,
    log: DemoLog,
    /// Sends the back-channel requests: no cookies, no redirects.
    client: Client,
}

impl Fixture {
    async fn start(adapter: Adapter) -> Fixture {
        Fixture::start_with(adapter, &[]).await
    }

    /// Starts the demo with `extra_env` added to the provider settings.
    async fn start_with(adapter: Adapter, extra_env: &[(&str, &str)]) -> Fixture {
        let provider = ForgedProvider::start(CLIENT_ID, CLIENT_SECRET).await;
        let mut env = vec![
            ("ROQ_ISSUER_URL", provider.issuer.as_str()),
            ("ROQ_CLIENT_ID", CLIENT_ID),
            ("ROQ_CLIENT_SECRET", CLIENT_SECRET),
            ("ROQ_SECRET", APP_SECRET),
        ];
        env.extend_from_slice(extra_env);
        let (demo, log) = Demo::start_logged(adapter.example(), 0, &env).await;
        let (client, _) = browser();
        Fixture {
            provider,
            demo,
            log,
            client,
        }
    }

    /// Signs in a new browser as `sub`, with `sid` as the provider session
    /// in the ID token when given, and returns the browser.
    async fn sign_in(&self, sub: &str, sid: Option<&str>) -> Client {
        script_subject(&self.provider, sub, sid);
        let (browser, _) = browser();
        let response = complete_sign_in(&browser, &self.demo.origin).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "the callback did not sign {sub} in; log:\n{}",
            self.log.text()
        );
        assert!(
            set_cookie(response.headers(), SESSION_COOKIE).is_some(),
            "the callback set no session cookie for {sub}"
        );
        assert_eq!(
            self.me_status(&browser).await,
            StatusCode::OK,
            "{sub} is not signed in after the callback"
        );
        browser
    }

    /// Returns the status of `/api/me` for `browser`.
    async fn me_status(&self, browser: &Client) -> StatusCode {
        browser
            .get(self.demo.url("/api/me"))
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Posts `body` to the back-channel logout route, with `content_type`
    /// when given.
    async fn post(&self, content_type: Option<&str>, body: String) -> Response {
        let mut request = self.client.post(self.demo.url(BACKCHANNEL_LOGOUT));
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        request.body(body).send().await.unwrap()
    }

    /// Posts a form with one `logout_token` field per token.
    async fn post_tokens(&self, tokens: &[&str]) -> Response {
        self.post(Some(FORM), form_body(tokens)).await
    }

    fn assert_no_panic(&self) {
        let log = self.log.text();
        assert!(!log.contains("panicked"), "the demo panicked:\n{log}");
    }
}

/// Posts `body` and asserts the rejection: 400 `{"error":"invalid_request"}`
/// with `no-store`, a log line naming one of the `reason` words (lower
/// case), and `browser` still signed in.
async fn expect_rejected(
    fixture: &Fixture,
    browser: &Client,
    case: &str,
    reason: &[&str],
    content_type: Option<&str>,
    body: String,
) {
    let mark = fixture.log.len();
    let response = fixture.post(content_type, body).await;
    let status = response.status();
    let cache_control = header(response.headers(), CACHE_CONTROL).to_owned();
    let text = response.text().await.unwrap_or_default();
    let log_since = || fixture.log.lines_since(mark).join("\n");

    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{case}: body {text:?}; log since the request:\n{}",
        log_since()
    );
    let json: Value = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{case}: the body is not JSON ({err}): {text:?}"));
    assert_eq!(json, json!({"error": "invalid_request"}), "{case}: body");
    assert!(
        has_no_store(&cache_control),
        "{case}: Cache-Control is {cache_control:?}"
    );

    let logged = fixture
        .log
        .wait_for(mark, |line| {
            let line = line.to_lowercase();
            line.contains(REJECTED) && reason.iter().any(|word| line.contains(word))
        })
        .await;
    assert!(
        logged.is_some(),
        "{case}: no log line names the reason ({reason:?}); log since the request:\n{}",
        log_since()
    );

    assert_eq!(
        fixture.me_status(browser).await,
        StatusCode::OK,
        "{case}: the rejected request signed the session out"
    );
}

/// Posts the honest logout token for the session of [`SUBJECT`] and
/// [`SID`] in `browser`, and asserts that it signs the session out. Every
/// rejection case ends with it, to show that its session was within reach
/// of a valid token.
async fn expect_revocable(fixture: &Fixture, browser: &Client, case: &str) {
    let token = fixture.provider.logout_token(Some(SUBJECT), Some(SID));
    let response = fixture.post_tokens(&[&token.sign()]).await;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(
        status,
        StatusCode::OK,
        "{case}: the honest logout token was rejected afterwards; body {text:?}; log:\n{}",
        fixture.log.text()
    );
    assert_eq!(
        fixture.me_status(browser).await,
        StatusCode::UNAUTHORIZED,
        "{case}: the honest logout token left the session signed in"
    );
}

/// Signs in a session of [`SUBJECT`] with provider session [`SID`], posts
/// the honest logout token for it after `change`, and expects a rejection
/// whose logged reason contains one of `reason`. Then the honest token
/// must still sign the session out.
async fn changed_token_rejected(
    adapter: Adapter,
    case: &str,
    reason: &[&str],
    change: impl FnOnce(&mut LogoutToken),
) {
    let fixture = Fixture::start(adapter).await;
    let browser = fixture.sign_in(SUBJECT, Some(SID)).await;

    let mut token = fixture.provider.logout_token(Some(SUBJECT), Some(SID));
    change(&mut token);
    let body = form_body(&[&token.sign()]);
    expect_rejected(&fixture, &browser, case, reason, Some(FORM), body).await;

    expect_revocable(&fixture, &browser, case).await;
    fixture.assert_no_panic();
}

async fn alg_none_rejected(adapter: Adapter) {
    changed_token_rejected(adapter, "alg none", &["none"], |token| {
        token.signer = Signer::Unsigned("none".into());
    })
    .await;
}

async fn hs256_with_client_secret_rejected(adapter: Adapter) {
    changed_token_rejected(
        adapter,
        "HS256 with the client secret",
        &["hs256"],
        |token| {
            token.signer = Signer::Hmac(CLIENT_SECRET.as_bytes().to_vec());
        },
    )
    .await;
}

async fn signature_of_other_key_rejected(adapter: Adapter) {
    // The header names the published key, but an unpublished one signed.
    changed_token_rejected(
        adapter,
        "signature of another key",
        &["signature"],
        |token| {
            token.signer = Signer::Key(KeyName::Unlisted);
        },
    )
    .await;
}

async fn unknown_kid_rejected(adapter: Adapter) {
    changed_token_rejected(adapter, "unknown kid", &["kid"], |token| {
        token.signer = Signer::Key(KeyName::Unlisted);
        token
            .header
            .insert("kid".into(), json!(test_key(KeyName::Unlisted).kid));
    })
    .await;
}

async fn wrong_issuer_rejected(adapter: Adapter) {
    changed_token_rejected(adapter, "wrong iss", &["issuer"], |token| {
        let issuer = token.claims["iss"].as_str().unwrap().to_owned();
        token.set("iss", json!(format!("{issuer}/other")));
    })
    .await;
}

async fn wrong_audience_rejected(adapter: Adapter) {
    changed_token_rejected(adapter, "wrong aud", &["audience"], |token| {
        token.set("aud", json!("another-client"));
    })
    .await;
}

async fn missing_events_rejected(adapter: Adapter) {
    changed_token_rejected(adapter, "no events", &["events"], |token| {
        token.remove("events");
    })
    .await;
}

async fn events_without_logout_event_rejected(adapter: Adapter) {
    changed_token_rejected(adapter, "events of another kind", &["events"], |token| {
        token.set(
            "events",
            json!({ "http://schemas.openid.net/event/other": {} }),
        );
    })
    .await;
}

async fn logout_event_not_object_rejected(adapter: Adapter) {
    // The event's value must be a JSON object.
    changed_token_rejected(adapter, "event value true", &["events"], |token| {
        token.set("events", json!({ BACKCHANNEL_LOGOUT_EVENT: true }));
    })
    .await;
}

async fn nonce_rejected(adapter: Adapter) {
    changed_token_rejected(adapter, "nonce present", &["nonce"], |token| {
        token.set("nonce", json!("n-0S6_WzA2Mj"));
    })
    .await;
}

async fn neither_sid_nor_sub_rejected(adapter: Adapter) {
    changed_token_rejected(
        adapter,
        "neither sid nor sub",
        &["neither sid nor sub"],
        |token| {
            token.remove("sid");
            token.remove("sub");
        },
    )
    .await;
}

async fn typ_jwt_rejected(adapter: Adapter) {
    // The library accepts only `logout+jwt` and `application/logout+jwt`
    // when `typ` is present, so the generic `JWT` is rejected too.
    changed_token_rejected(adapter, "typ JWT", &["typ"], |token| {
        token.header.insert("typ".into(), json!("JWT"));
    })
    .await;
}

async fn expired_rejected(adapter: Adapter) {
    // Expired 200 seconds ago, well past the 60-second clock leeway, and
    // issued recently enough to pass the `iat` check.
    changed_token_rejected(adapter, "expired exp", &["expired"], |token| {
        let now = unix_now();
        token.set("iat", json!(now - 300));
        token.set("exp", json!(now - 200));
    })
    .await;
}

async fn issued_long_ago_rejected(adapter: Adapter) {
    // An hour old, with `exp` still in the future. The library accepts an
    // `iat` up to 10 minutes old, plus the clock leeway.
    changed_token_rejected(adapter, "iat an hour ago", &["too old"], |token| {
        token.set("iat", json!(unix_now() - 3600));
    })
    .await;
}

async fn issued_in_future_rejected(adapter: Adapter) {
    changed_token_rejected(adapter, "iat an hour ahead", &["future"], |token| {
        let now = unix_now();
        token.set("iat", json!(now + 3600));
        token.set("exp", json!(now + 3720));
    })
    .await;
}

async fn missing_jti_rejected(adapter: Adapter) {
    changed_token_rejected(adapter, "no jti", &["jti"], |token| {
        token.remove("jti");
    })
    .await;
}

async fn id_token_as_logout_token_rejected(adapter: Adapter) {
    let fixture = Fixture::start(adapter).await;
    let browser = fixture.sign_in(SUBJECT, Some(SID)).await;
    let id_token = fixture
        .provider
        .issued_id_tokens()
        .pop()
        .expect("the sign-in issued an ID token");
    let body = form_body(&[&id_token]);
    expect_rejected(
        &fixture,
        &browser,
        "ID token typed JWT",
        &["typ"],
        Some(FORM),
        body,
    )
    .await;

    // `typ` is optional, so an ID token may come without one. With a `jti`
    // too, only the missing `events` and the `nonce` tell it apart from a
    // logout token.
    fixture.provider.script(|script| {
        script.id_token.typ = None;
        script.id_token.set("jti", json!("id-token-jti-1"));
    });
    let untyped_browser = fixture.sign_in(SUBJECT, Some(SID)).await;
    let id_token = fixture
        .provider
        .issued_id_tokens()
        .pop()
        .expect("the sign-in issued an ID token");
    let body = form_body(&[&id_token]);
    expect_rejected(
        &fixture,
        &untyped_browser,
        "ID token without typ",
        &["events", "nonce"],
        Some(FORM),
        body,
    )
    .await;
    assert_eq!(
        fixture.me_status(&browser).await,
        StatusCode::OK,
        "the first session was signed out"
    );

    expect_revocable(&fixture, &browser, "ID token").await;
    fixture.assert_no_panic();
}

async fn logout_token_count_checked(adapter: Adapter) {
    let fixture = Fixture::start(adapter).await;
    let browser = fixture.sign_in(SUBJECT, Some(SID)).await;

    let first = fixture.provider.logout_token(Some(SUBJECT), Some(SID));
    let second = fixture.provider.logout_token(Some(SUBJECT), Some(SID));
    let body = form_body(&[&first.sign(), &second.sign()]);
    expect_rejected(
        &fixture,
        &browser,
        "two valid logout_token fields",
        &["exactly one"],
        Some(FORM),
        body,
    )
    .await;
    expect_rejected(
        &fixture,
        &browser,
        "no logout_token field",
        &["exactly one"],
        Some(FORM),
        "state=unused".to_owned(),
    )
    .await;

    expect_revocable(&fixture, &browser, "logout_token count").await;
    fixture.assert_no_panic();
}

async fn wrong_content_type_rejected(adapter: Adapter) {
    let fixture = Fixture::start(adapter).await;
    let browser = fixture.sign_in(SUBJECT, Some(SID)).await;
    let token = fixture
        .provider
        .logout_token(Some(SUBJECT), Some(SID))
        .sign();

    let reason = &["x-www-form-urlencoded"];
    let cases = [
        (
            "text/plain with a form body",
            Some("text/plain"),
            form_body(&[&token]),
        ),
        ("no Content-Type", None, form_body(&[&token])),
        (
            "JSON body",
            Some("application/json"),
            json!({ "logout_token": token }).to_string(),
        ),
    ];
    for (case, content_type, body) in cases {
        expect_rejected(&fixture, &browser, case, reason, content_type, body).await;
    }

    expect_revocable(&fixture, &browser, "content type").await;
    fixture.assert_no_panic();
}

async fn oversized_body_rejected(adapter: Adapter) {
    let fixture = Fixture::start(adapter).await;
    let browser = fixture.sign_in(SUBJECT, Some(SID)).await;
    let token = fixture
        .provider
        .logout_token(Some(SUBJECT), Some(SID))
        .sign();

    // A valid token followed by padding past the library's 16 KiB limit.
    let mut body = form_body(&[&token]);
    body.push_str("&padding=");
    body.push_str(&"a".repeat(OVERSIZED_BODY_BYTES));
    let response = fixture.post(Some(FORM), body).await;

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "status");
    let cache_control = header(response.headers(), CACHE_CONTROL);
    assert!(
        has_no_store(cache_control),
        "Cache-Control is {cache_control:?}"
    );
    assert_eq!(
        fixture.me_status(&browser).await,
        StatusCode::OK,
        "the oversized request signed the session out"
    );
    expect_revocable(&fixture, &browser, "oversized body").await;
    fixture.assert_no_panic();
}

async fn other_methods_not_allowed(adapter: Adapter) {
    let fixture = Fixture::start(adapter).await;
    let browser = fixture.sign_in(SUBJECT, Some(SID)).await;
    let token = fixture
        .provider
        .logout_token(Some(SUBJECT), Some(SID))
        .sign();
    let url = fixture.demo.url(BACKCHANNEL_LOGOUT);

    for method in [reqwest::Method::GET, reqwest::Method::PUT] {
        let response = fixture
            .client
            .request(method.clone(), format!("{url}?logout_token={token}"))
            .header(CONTENT_TYPE, FORM)
            .body(form_body(&[&token]))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}: status"
        );
        assert_eq!(header(response.headers(), ALLOW), "POST", "{method}: Allow");
        assert_eq!(
            fixture.me_status(&browser).await,
            StatusCode::OK,
            "{method}: the session was signed out"
        );
    }

    expect_revocable(&fixture, &browser, "other methods").await;
    fixture.assert_no_panic();
}

async fn sid_token_signs_out_that_session(adapter: Adapter) {
    let fixture = Fixture::start(adapter).await;
    let first = fixture.sign_in(SUBJECT, Some(SID)).await;
    let second = fixture.sign_in(SUBJECT, Some("provider-session-2")).await;

    let token = fixture.provider.logout_token(Some(SUBJECT), Some(SID));
    let response = fixture.post_tokens(&[&token.sign()]).await;
    assert_eq!(response.status(), StatusCode::OK, "status");
    let cache_control = header(response.headers(), CACHE_CONTROL);
    assert!(
        has_no_store(cache_control),
        "Cache-Control is {cache_control:?}"
    );

    // The first request after the revocation removes the cookie.
    let session = first
        .get(fixture.demo.url("/api/auth/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        session.status(),
        StatusCode::UNAUTHORIZED,
        "/api/auth/session of the session of that sid"
    );
    let removal = set_cookie(session.headers(), SESSION_COOKIE).unwrap_or("");
    assert!(
        removal.contains("Max-Age=0"),
        "the revoked session cookie is not removed: {removal:?}"
    );
    assert_eq!(
        fixture.me_status(&first).await,
        StatusCode::UNAUTHORIZED,
        "/api/me of the session of that sid"
    );
    assert_eq!(
        fixture.me_status(&second).await,
        StatusCode::OK,
        "the same user's session of another sid was signed out"
    );
    fixture.assert_no_panic();
}

async fn sub_token_signs_out_earlier_sessions(adapter: Adapter) {
    let fixture = Fixture::start(adapter).await;
    let with_sid = fixture.sign_in(SUBJECT, Some(SID)).await;
    let without_sid = fixture.sign_in(SUBJECT, None).await;
    let other_user = fixture
        .sign_in("other-user", Some("provider-session-3"))
        .await;

    let token = fixture.provider.logout_token(Some(SUBJECT), None);
    let issued_at = token.claims["iat"].as_u64().unwrap();
    let response = fixture.post_tokens(&[&token.sign()]).await;
    assert_eq!(response.status(), StatusCode::OK, "status");
    let cache_control = header(response.headers(), CACHE_CONTROL);
    assert!(
        has_no_store(cache_control),
        "Cache-Control is {cache_control:?}"
    );

    assert_eq!(
        fixture.me_status(&with_sid).await,
        StatusCode::UNAUTHORIZED,
        "the user's session with a sid"
    );
    assert_eq!(
        fixture.me_status(&without_sid).await,
        StatusCode::UNAUTHORIZED,
        "the user's session without a sid"
    );
    assert_eq!(
        fixture.me_status(&other_user).await,
        StatusCode::OK,
        "another user's session was signed out"
    );

    // Revocation times are whole seconds, and a session issued in the
    // token's own second counts as issued before it.
    while unix_now() <= issued_at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let later = fixture.sign_in(SUBJECT, Some("provider-session-4")).await;
    assert_eq!(
        fixture.me_status(&later).await,
        StatusCode::OK,
        "a session issued after the token was signed out"
    );
    fixture.assert_no_panic();
}

/// A valid logout token or request that differs from the honest one.
struct Variant {
    case: &'static str,
    change: fn(&mut LogoutToken),
    content_type: &'static str,
    /// Another form field after `logout_token`, which the route must ignore.
    extra_field: bool,
}

async fn valid_variants_accepted(adapter: Adapter) {
    let unchanged: fn(&mut LogoutToken) = |_| {};
    let variants = [
        Variant {
            case: "without typ",
            change: |token| {
                token.header.remove("typ");
            },
            content_type: FORM,
            extra_field: false,
        },
        Variant {
            case: "typ application/logout+jwt",
            change: |token| {
                token
                    .header
                    .insert("typ".into(), json!("application/logout+jwt"));
            },
            content_type: FORM,
            extra_field: false,
        },
        Variant {
            case: "sid without sub",
            change: |token| token.remove("sub"),
            content_type: FORM,
            extra_field: false,
        },
        Variant {
            case: "aud as an array",
            change: |token| {
                let client = token.claims["aud"].clone();
                token.set("aud", json!([client]));
            },
            content_type: FORM,
            extra_field: false,
        },
        Variant {
            case: "without exp",
            change: |token| token.remove("exp"),
            content_type: FORM,
            extra_field: false,
        },
        Variant {
            case: "content type with charset",
            change: unchanged,
            content_type: "application/x-www-form-urlencoded; charset=UTF-8",
            extra_field: false,
        },
        Variant {
            case: "another form field",
            change: unchanged,
            content_type: FORM,
            extra_field: true,
        },
    ];

    let fixture = Fixture::start(adapter).await;
    for (index, variant) in variants.iter().enumerate() {
        let case = variant.case;
        let sid = format!("provider-session-variant-{index}");
        let browser = fixture.sign_in(SUBJECT, Some(&sid)).await;

        let mut token = fixture.provider.logout_token(Some(SUBJECT), Some(&sid));
        (variant.change)(&mut token);
        let mut body = form_body(&[&token.sign()]);
        if variant.extra_field {
            body.push_str("&state=ignored");
        }
        let response = fixture.post(Some(variant.content_type), body).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(
            status,
            StatusCode::OK,
            "{case}: body {text:?}; log:\n{}",
            fixture.log.text()
        );
        assert_eq!(
            fixture.me_status(&browser).await,
            StatusCode::UNAUTHORIZED,
            "{case}: the session is still signed in"
        );
    }
    fixture.assert_no_panic();
}

async fn demo_fetches_userinfo_when_configured(adapter: Adapter) {
    let fixture = Fixture::start_with(adapter, &[("ROQ_FETCH_USERINFO", "true")]).await;
    fixture
        .provider
        .script(|script| script.userinfo.set("locale", json!("de-CH")));

    let browser = fixture.sign_in(SUBJECT, Some(SID)).await;

    let user = session_user(&browser, &fixture.demo.origin).await;
    assert_eq!(user["locale"], json!("de-CH"), "session user {user}");
    assert_eq!(fixture.provider.count(Endpoint::Userinfo), 1);
    fixture.assert_no_panic();
}

/// The claim the after-callback hook adds to every session it allows.
const HOOK_CLAIM: &str = "tenant";

/// The `sub` the after-callback hook denies.
const DENIED_SUBJECT: &str = "denied-user";

/// The message of the hook's denial. The `&` checks that the 403 page
/// escapes it.
const DENIAL_MESSAGE: &str = "Contractors & guests may not sign in here.";

/// Records `user`, then denies [`DENIED_SUBJECT`] or adds [`HOOK_CLAIM`].
/// The in-process apps run it as their after-callback hook.
fn run_hook(seen: &Mutex<Vec<User>>, user: User) -> Result<User, SignInDenied> {
    seen.lock().expect("lock").push(user.clone());
    if user.sub == DENIED_SUBJECT {
        return Err(SignInDenied::new(DENIAL_MESSAGE));
    }
    Ok(user.with_claim(HOOK_CLAIM, "acme"))
}

mod axum_app {
    use std::future::IntoFuture as _;

    use axum::Router;
    use roq_auth::axum::AuthLayer;
    use roq_auth::Auth;
    use tokio::task::JoinHandle;

    /// Serves the auth routes on `listener` until the task is aborted.
    pub fn serve(listener: std::net::TcpListener, auth: Auth) -> JoinHandle<()> {
        let app = Router::new()
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
    use actix_web::{App, HttpServer};
    use roq_auth::actix::AuthMiddleware;
    use roq_auth::Auth;

    /// Serves the auth routes on `listener` with one worker until the
    /// handle stops the server.
    pub fn serve(listener: std::net::TcpListener, auth: Auth) -> ServerHandle {
        let server = HttpServer::new(move || {
            App::new()
                .service(roq_auth::actix::routes("/api/auth"))
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

enum Server {
    Axum(tokio::task::JoinHandle<()>),
    Actix(actix_web::dev::ServerHandle),
}

/// An app served in this process with the after-callback hook
/// [`run_hook`], signing in at its own forged provider. Stopped on drop.
struct HookApp {
    provider: ForgedProvider,
    origin: String,
    /// Every user the hook was called with.
    seen: Arc<Mutex<Vec<User>>>,
    server: Server,
}

impl Drop for HookApp {
    fn drop(&mut self) {
        match &self.server {
            Server::Axum(task) => task.abort(),
            // `stop` sends the command at once, so the future may be dropped.
            Server::Actix(handle) => drop(handle.stop(false)),
        }
    }
}

impl HookApp {
    async fn start(adapter: Adapter, fetch_userinfo: bool) -> HookApp {
        let provider = ForgedProvider::start(CLIENT_ID, CLIENT_SECRET).await;
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0 works");
        let port = listener
            .local_addr()
            .expect("the listener has an address")
            .port();
        let origin = format!("http://127.0.0.1:{port}");

        let config = Config::builder()
            .secret(APP_SECRET)
            .issuer_url(provider.issuer.clone())
            .client_id(CLIENT_ID)
            .client_secret(CLIENT_SECRET)
            .base_url(origin.clone())
            .fetch_userinfo(fetch_userinfo)
            .build()
            .expect("the test configuration is valid");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hook_seen = seen.clone();
        let auth = Auth::builder(config)
            .after_callback(move |user: User| {
                let seen = hook_seen.clone();
                async move { run_hook(&seen, user) }
            })
            .build();

        let server = match adapter {
            Adapter::Axum => Server::Axum(axum_app::serve(listener, auth)),
            Adapter::Actix => Server::Actix(actix_app::serve(listener, auth)),
        };
        HookApp {
            provider,
            origin,
            seen,
            server,
        }
    }

    /// Signs in a new browser, asserts that the callback set a session, and
    /// returns the user of `/api/auth/session`.
    async fn sign_in(&self) -> Value {
        let (browser, _) = browser();
        let response = complete_sign_in(&browser, &self.origin).await;
        let status = response.status();
        let has_session = set_cookie(response.headers(), SESSION_COOKIE).is_some();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::SEE_OTHER, "callback; body {body:?}");
        assert!(has_session, "the callback set no session cookie");
        session_user(&browser, &self.origin).await
    }

    /// Returns the users the hook was called with.
    fn seen(&self) -> Vec<User> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn hook_adds_claim_to_session(adapter: Adapter) {
    let app = HookApp::start(adapter, false).await;

    let user = app.sign_in().await;

    assert_eq!(user[HOOK_CLAIM], json!("acme"), "session user {user}");
    assert_eq!(user["sub"], json!(SUBJECT), "session user {user}");
    let seen = app.seen();
    assert_eq!(seen.len(), 1, "hook calls: {seen:?}");
    assert_eq!(seen[0].sub, SUBJECT);
    assert_eq!(seen[0].name.as_deref(), Some("Forged User"));
}

async fn hook_denial_gives_403_without_session(adapter: Adapter) {
    let app = HookApp::start(adapter, false).await;
    script_subject(&app.provider, DENIED_SUBJECT, Some(SID));
    let (browser, _) = browser();

    let response = complete_sign_in(&browser, &app.origin).await;

    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::FORBIDDEN, "callback; body {body:?}");
    assert!(
        header(&headers, CONTENT_TYPE).starts_with("text/html"),
        "the denial is not a page"
    );
    assert!(
        body.contains("Contractors &amp; guests may not sign in here."),
        "the page does not show the hook's message: {body}"
    );
    for value in headers.get_all(reqwest::header::SET_COOKIE) {
        let value = value.to_str().unwrap_or("");
        assert!(
            !value.starts_with(SESSION_COOKIE) || value.contains("Max-Age=0"),
            "a session cookie was set: {value}"
        );
    }
    let transaction = transaction_set_cookie(&headers).unwrap_or("");
    assert!(
        transaction.contains("Max-Age=0"),
        "the transaction cookie is not removed: {transaction:?}"
    );
    let session = browser
        .get(format!("{}/api/auth/session", app.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), StatusCode::UNAUTHORIZED, "session route");
    assert_eq!(app.seen().len(), 1, "hook calls");
}

async fn userinfo_with_same_sub_adds_claims(adapter: Adapter) {
    let app = HookApp::start(adapter, true).await;
    app.provider.script(|script| {
        script.userinfo.set("locale", json!("de-CH"));
        script.userinfo.set("name", json!("Userinfo Name"));
    });

    let user = app.sign_in().await;

    assert_eq!(user["locale"], json!("de-CH"), "session user {user}");
    assert_eq!(
        user["name"],
        json!("Forged User"),
        "the ID token's name must win over userinfo's: {user}"
    );
    assert_eq!(user[HOOK_CLAIM], json!("acme"), "session user {user}");
    let request = app
        .provider
        .last(Endpoint::Userinfo)
        .expect("the app called the userinfo endpoint");
    assert!(
        request
            .header("authorization")
            .is_some_and(|value| value.starts_with("Bearer ")),
        "the userinfo request has no bearer token"
    );
    assert_eq!(app.provider.count(Endpoint::Userinfo), 1);
}

async fn userinfo_with_other_sub_discarded(adapter: Adapter) {
    let app = HookApp::start(adapter, true).await;
    app.provider.script(|script| {
        script.userinfo.set("sub", json!("someone-else"));
        script.userinfo.set("locale", json!("de-CH"));
    });

    let user = app.sign_in().await;

    assert_eq!(user["sub"], json!(SUBJECT), "session user {user}");
    assert!(user.get("locale").is_none(), "userinfo claims kept: {user}");
    assert_eq!(user[HOOK_CLAIM], json!("acme"), "session user {user}");
    assert_eq!(app.provider.count(Endpoint::Userinfo), 1);
}

async fn userinfo_failure_keeps_sign_in(adapter: Adapter) {
    let app = HookApp::start(adapter, true).await;
    app.provider.script(|script| {
        script.userinfo.reply = Some(CannedReply::json(500, json!({"error": "server_error"})));
    });

    let user = app.sign_in().await;

    assert_eq!(user["sub"], json!(SUBJECT), "session user {user}");
    assert_eq!(app.provider.count(Endpoint::Userinfo), 1);
}

async fn userinfo_off_by_default(adapter: Adapter) {
    let app = HookApp::start(adapter, false).await;
    app.provider
        .script(|script| script.userinfo.set("locale", json!("de-CH")));

    let user = app.sign_in().await;

    assert!(user.get("locale").is_none(), "userinfo claims kept: {user}");
    assert_eq!(app.provider.count(Endpoint::Userinfo), 0);
}

/// Runs every case against each adapter: a module per adapter, with one
/// test per case. Attributes before a case, such as `#[ignore]`, apply to
/// it in both modules.
macro_rules! suite {
    (@cases $adapter:ident, $($(#[$attribute:meta])* $case:ident),*) => {
        $(
            $(#[$attribute])*
            #[tokio::test]
            async fn $case() {
                super::$case(super::Adapter::$adapter).await;
            }
        )*
    };
    ($($(#[$attribute:meta])* $case:ident),* $(,)?) => {
        mod axum {
            suite!(@cases Axum, $($(#[$attribute])* $case),*);
        }
        mod actix {
            suite!(@cases Actix, $($(#[$attribute])* $case),*);
        }
    };
}

suite!(
    alg_none_rejected,
    hs256_with_client_secret_rejected,
    signature_of_other_key_rejected,
    unknown_kid_rejected,
    wrong_issuer_rejected,
    wrong_audience_rejected,
    missing_events_rejected,
    events_without_logout_event_rejected,
    logout_event_not_object_rejected,
    nonce_rejected,
    neither_sid_nor_sub_rejected,
    typ_jwt_rejected,
    expired_rejected,
    issued_long_ago_rejected,
    issued_in_future_rejected,
    missing_jti_rejected,
    id_token_as_logout_token_rejected,
    logout_token_count_checked,
    wrong_content_type_rejected,
    oversized_body_rejected,
    other_methods_not_allowed,
    sid_token_signs_out_that_session,
    sub_token_signs_out_earlier_sessions,
    valid_variants_accepted,
    demo_fetches_userinfo_when_configured,
    hook_adds_claim_to_session,
    hook_denial_gives_403_without_session,
    userinfo_with_same_sub_adds_claims,
    userinfo_with_other_sub_discarded,
    userinfo_failure_keeps_sign_in,
    userinfo_off_by_default,
);
