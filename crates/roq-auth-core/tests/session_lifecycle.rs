//! Session lifetimes, renewal, key rotation and chunking, through the
//! public API with a clock the tests move.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use roq_auth_core::{Auth, Clock, Config, User};

const SECRET_A: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0";
const SECRET_B: &str = "0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526272829ff";
const START: u64 = 1_800_000_000;
const HOUR: u64 = 60 * 60;

#[derive(Debug)]
struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl TestClock {
    fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

fn auth(clock: &Arc<TestClock>, secret: &str, previous: Option<&str>) -> Auth {
    let mut builder = Config::builder()
        .secret(secret)
        .issuer_url("https://login.example.test")
        .client_id("app")
        .client_secret("client-secret")
        .base_url("http://127.0.0.1:3000")
        .session_max_age(Duration::from_secs(72 * HOUR))
        .session_inactivity_timeout(Duration::from_secs(8 * HOUR))
        .clock(clock.clone());
    if let Some(previous) = previous {
        builder = builder.previous_secrets(previous);
    }
    Auth::new(builder.build().unwrap())
}

fn clock() -> Arc<TestClock> {
    Arc::new(TestClock(AtomicU64::new(START)))
}

fn request(cookie: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    headers
}

/// Turns `Set-Cookie` values into the `Cookie` header a browser would send
/// next, leaving out removals.
fn next_request(set_cookies: &[HeaderValue]) -> HeaderMap {
    let pairs: Vec<&str> = set_cookies
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next())
        .filter(|pair| !pair.ends_with('='))
        .collect();
    request(&pairs.join("; "))
}

fn alice() -> User {
    User::new("alice").with_name("Alice")
}

#[test]
fn session_ends_after_inactivity_timeout() {
    let clock = clock();
    let auth = auth(&clock, SECRET_A, None);
    let headers = request(&auth.test_session_cookie(alice(), &[]).unwrap());

    clock.set(START + 8 * HOUR - 1);
    assert!(auth.load_session_now(&headers).unwrap().session.is_some());
    clock.set(START + 8 * HOUR);
    assert!(auth.load_session_now(&headers).unwrap().session.is_none());
}

#[test]
fn early_request_does_not_renew() {
    let clock = clock();
    let auth = auth(&clock, SECRET_A, None);
    let headers = request(&auth.test_session_cookie(alice(), &[]).unwrap());

    clock.set(START + HOUR);
    let loaded = auth.load_session_now(&headers).unwrap();
    assert!(loaded.session.is_some());
    assert!(loaded.set_cookies.is_empty(), "renewed too early");
}

#[test]
fn late_request_renews_inactivity_window() {
    let clock = clock();
    let auth = auth(&clock, SECRET_A, None);
    let headers = request(&auth.test_session_cookie(alice(), &[]).unwrap());

    clock.set(START + 5 * HOUR);
    let loaded = auth.load_session_now(&headers).unwrap();
    assert_eq!(loaded.session.unwrap().expires_at(), START + 13 * HOUR);
    assert_eq!(loaded.set_cookies.len(), 1);
    let renewed = next_request(&loaded.set_cookies);

    clock.set(START + 12 * HOUR);
    assert!(
        auth.load_session_now(&headers).unwrap().session.is_none(),
        "the old cookie outlived its window"
    );
    assert_eq!(
        auth.load_session_now(&renewed)
            .unwrap()
            .session
            .unwrap()
            .user()
            .sub,
        "alice"
    );
}

#[test]
fn renewal_never_passes_max_age() {
    let clock = clock();
    let auth = auth(&clock, SECRET_A, None);
    let mut headers = request(&auth.test_session_cookie(alice(), &[]).unwrap());

    let mut now = START;
    while now + 5 * HOUR < START + 72 * HOUR {
        now += 5 * HOUR;
        clock.set(now);
        let loaded = auth.load_session_now(&headers).unwrap();
        let session = loaded.session.expect("an active session stays valid");
        assert!(session.expires_at() <= START + 72 * HOUR);
        assert_eq!(session.absolute_expires_at(), START + 72 * HOUR);
        if !loaded.set_cookies.is_empty() {
            headers = next_request(&loaded.set_cookies);
        }
    }

    clock.set(START + 72 * HOUR);
    assert!(auth.load_session_now(&headers).unwrap().session.is_none());
}

#[test]
fn rotated_secret_keeps_and_reseals_sessions() {
    let clock = clock();
    let before = auth(&clock, SECRET_A, None);
    let headers = request(&before.test_session_cookie(alice(), &[]).unwrap());

    let rotated = auth(&clock, SECRET_B, Some(SECRET_A));
    let loaded = rotated.load_session_now(&headers).unwrap();
    assert_eq!(loaded.session.unwrap().user().sub, "alice");
    assert_eq!(loaded.set_cookies.len(), 1, "the session is sealed again");
    let resealed = next_request(&loaded.set_cookies);

    let after = auth(&clock, SECRET_B, None);
    assert!(
        after.load_session_now(&headers).unwrap().session.is_none(),
        "the old secret was dropped"
    );
    assert_eq!(
        after
            .load_session_now(&resealed)
            .unwrap()
            .session
            .unwrap()
            .user()
            .sub,
        "alice"
    );
    assert!(after
        .load_session_now(&resealed)
        .unwrap()
        .set_cookies
        .is_empty());
}

#[test]
fn unknown_secret_signs_out_and_removes_cookie() {
    let clock = clock();
    let before = auth(&clock, SECRET_A, None);
    let headers = request(&before.test_session_cookie(alice(), &[]).unwrap());

    let other = auth(&clock, SECRET_B, None);
    let loaded = other.load_session_now(&headers).unwrap();
    assert!(loaded.session.is_none());
    let removal = loaded.set_cookies[0].to_str().unwrap();
    assert!(removal.starts_with("roq_session=;"), "{removal}");
    assert!(removal.contains("Max-Age=0"), "{removal}");
}

#[test]
fn malformed_cookie_values_sign_out() {
    let clock = clock();
    let auth = auth(&clock, SECRET_A, None);
    let sealed = auth.test_session_cookie(alice(), &[]).unwrap();
    let value = sealed.strip_prefix("roq_session=").unwrap();
    let mut flipped = value.as_bytes().to_vec();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };

    let values: [&[u8]; 3] = [
        b"not base64 at all",
        &value.as_bytes()[..value.len() - 1],
        &flipped,
    ];
    for cookie_value in values {
        let mut header = b"roq_session=".to_vec();
        header.extend_from_slice(cookie_value);
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_bytes(&header).unwrap());

        let loaded = auth.load_session_now(&headers).unwrap();
        assert!(loaded.session.is_none(), "{cookie_value:?} was accepted");
        let removal = loaded
            .set_cookies
            .first()
            .unwrap_or_else(|| panic!("{cookie_value:?} was not removed"));
        assert!(removal.to_str().unwrap().contains("Max-Age=0"));
    }

    // A header that is not text is no session. It is not removed either,
    // because the cookie's name cannot be read from it as text.
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_bytes(b"roq_session=\xff\xfe").unwrap(),
    );
    assert!(auth.load_session_now(&headers).unwrap().session.is_none());

    // An empty value is no session, and there is nothing to remove.
    let loaded = auth.load_session_now(&request("roq_session=")).unwrap();
    assert!(loaded.session.is_none());
}

#[test]
fn twelve_kilobyte_claims_round_trip_in_chunks() {
    let clock = clock();
    let auth = auth(&clock, SECRET_A, None);
    let groups: Vec<String> = (0..800)
        .map(|index| format!("group-{index:05}-x"))
        .collect();
    let user = alice().with_claim("groups", groups.clone());
    assert!(serde_json::to_string(&groups).unwrap().len() >= 12 * 1024);

    let cookie = auth.test_session_cookie(user, &["openid"]).unwrap();
    assert!(
        cookie.contains("roq_session.0="),
        "not chunked: {}",
        &cookie[..40]
    );
    let chunks = cookie.matches("roq_session.").count();
    assert!(chunks >= 3, "{chunks} chunks for 12 KB of claims");

    let session = auth
        .load_session_now(&request(&cookie))
        .unwrap()
        .session
        .expect("the chunks join again");
    assert_eq!(session.user().claims["groups"], serde_json::json!(groups));
    assert!(session.has_scope("openid"));
}

#[test]
fn oversized_claims_are_refused() {
    let clock = clock();
    let auth = auth(&clock, SECRET_A, None);
    let user = alice().with_claim("blob", "x".repeat(32 * 1024));
    let err = auth.test_session_cookie(user, &[]).unwrap_err();
    assert!(err.to_string().contains("more than"), "{err}");
}

#[test]
fn https_session_cookie_uses_host_prefix() {
    let config = Config::builder()
        .secret(SECRET_A)
        .issuer_url("https://login.example.test")
        .client_id("app")
        .client_secret("client-secret")
        .base_url("https://app.example.test")
        .build()
        .unwrap();
    assert_eq!(config.cookie_name(), "__Host-roq_session");

    let auth = Auth::new(config);
    let cookie = auth.test_session_cookie(alice(), &[]).unwrap();
    assert!(cookie.starts_with("__Host-roq_session="), "{cookie}");

    let with_domain = Config::builder()
        .secret(SECRET_A)
        .issuer_url("https://login.example.test")
        .client_id("app")
        .client_secret("client-secret")
        .base_url("https://app.example.test")
        .cookie_domain("example.test")
        .build()
        .unwrap();
    assert_eq!(with_domain.cookie_name(), "roq_session");
}

#[test]
fn previous_secrets_must_be_hex() {
    let err = Config::builder()
        .secret(SECRET_A)
        .issuer_url("https://login.example.test")
        .client_id("app")
        .client_secret("client-secret")
        .base_url("http://127.0.0.1:3000")
        .previous_secrets(format!("{SECRET_B},not-hex"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("ROQ_PREVIOUS_SECRETS is invalid: entry 2"),
        "{err}"
    );
    assert!(!err.contains(SECRET_B), "a secret leaked: {err}");
}

#[test]
fn set_cookie_headers_stay_separate() {
    let clock = clock();
    let auth = auth(&clock, SECRET_A, None);
    let user = alice().with_claim("blob", "y".repeat(6000));
    let cookie = auth.test_session_cookie(user, &[]).unwrap();
    let headers = request(&cookie);

    clock.set(START + 5 * HOUR);
    let loaded = auth.load_session_now(&headers).unwrap();
    assert!(loaded.set_cookies.len() >= 2);
    let mut response = HeaderMap::new();
    for value in loaded.set_cookies {
        response.append(SET_COOKIE, value);
    }
    for value in response.get_all(SET_COOKIE) {
        let text = value.to_str().unwrap();
        assert_eq!(
            text.matches("roq_session").count(),
            1,
            "joined headers: {text}"
        );
    }
}
