//! Feeds arbitrary query strings to the callback route of an application
//! with no sign-in in progress: it must never panic, and always return 400
//! without setting a session.
#![no_main]

use std::sync::OnceLock;

use http::header::SET_COOKIE;
use http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use roq_auth_core::{Auth, AuthRoute, Config};

fn auth() -> &'static Auth {
    static AUTH: OnceLock<Auth> = OnceLock::new();
    AUTH.get_or_init(|| {
        let config = Config::builder()
            .secret("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
            // Nothing listens here: the callback must respond before any
            // request to the provider.
            .issuer_url("http://127.0.0.1:9")
            .client_id("fuzz")
            .client_secret("fuzz-secret")
            .base_url("http://127.0.0.1:3000")
            .build()
            .expect("the fuzz configuration is valid");
        Auth::new(config)
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(request) = Request::get(format!("/api/auth/callback?{query}")).body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();

    let response = runtime().block_on(auth().handle(AuthRoute::Callback, &parts));
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let sets_session = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .any(|value| value.to_str().unwrap_or("").starts_with("roq_session="));
    assert!(!sets_session, "a forged callback set a session");
});
