//! Feeds arbitrary `Cookie` headers to the session reader: it must never
//! panic, and never accept a session it did not seal.
#![no_main]

use std::sync::OnceLock;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use roq_auth_core::{Auth, Config};

fn auth() -> &'static Auth {
    static AUTH: OnceLock<Auth> = OnceLock::new();
    AUTH.get_or_init(|| {
        let config = Config::builder()
            .secret("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
            .issuer_url("https://login.example.test")
            .client_id("fuzz")
            .client_secret("fuzz-secret")
            .base_url("http://127.0.0.1:3000")
            .build()
            .expect("the fuzz configuration is valid");
        Auth::new(config)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, value);

    let loaded = auth().load_session(&headers);
    assert!(loaded.session.is_none(), "accepted a forged session");
});
