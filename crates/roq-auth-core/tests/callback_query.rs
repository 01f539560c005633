//! The callback's handling of arbitrary query strings: whatever the query,
//! a callback without a sign-in in progress gets 400, never a
//! panic or a session.

use http::header::SET_COOKIE;
use http::{Request, StatusCode};
use proptest::prelude::*;
use roq_auth_core::{Auth, AuthRoute, Config};

fn auth() -> Auth {
    let config = Config::builder()
        .secret("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
        // Nothing listens here; the callback must respond before any request
        // to the provider.
        .issuer_url("http://127.0.0.1:9")
        .client_id("app")
        .client_secret("client-secret")
        .base_url("http://127.0.0.1:3000")
        .build()
        .unwrap();
    Auth::new(config)
}

fn answer(
    auth: &Auth,
    runtime: &tokio::runtime::Runtime,
    query: &str,
) -> Option<http::Response<bytes::Bytes>> {
    let request = Request::get(format!("/api/auth/callback?{query}"))
        .body(())
        .ok()?;
    let (parts, ()) = request.into_parts();
    Some(runtime.block_on(auth.handle(AuthRoute::Callback, &parts, &[])))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_query_without_transaction_is_rejected(query in "[ -~]{0,300}") {
        let auth = auth();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        if let Some(response) = answer(&auth, &runtime, &query) {
            prop_assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let sets_session = response
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .any(|value| value.to_str().unwrap_or("").starts_with("roq_session="));
            prop_assert!(!sets_session);
        }
    }

    #[test]
    fn callback_shaped_queries_are_rejected(
        code in "[A-Za-z0-9_%-]{0,60}",
        state in "[A-Za-z0-9_%-]{0,60}",
        extra in "[a-z_]{1,12}=[ -~&&[^&#]]{0,40}",
    ) {
        let auth = auth();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let query = format!("code={code}&state={state}&{extra}&state={state}");
        if let Some(response) = answer(&auth, &runtime, &query) {
            prop_assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
    }
}
