//! End-to-end tests over real HTTP on 127.0.0.1, acting as a relying party would.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{header, redirect, Client, Response, StatusCode};
use roq_auth_devprovider::{DevProvider, DevProviderConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

const CLIENT_ID: &str = "demo-client";
const CLIENT_SECRET: &str = "demo secret:with&special=chars";
const REDIRECT_URI: &str = "http://127.0.0.1:9/auth/callback";
const POST_LOGOUT_URI: &str = "http://127.0.0.1:9/signed-out";
const VERIFIER: &str = "a-verifier-of-at-least-43-characters.0123456789_~";

async fn start() -> DevProvider {
    DevProvider::start(DevProviderConfig {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        post_logout_redirect_uris: vec![POST_LOGOUT_URI.into()],
    })
    .await
    .expect("provider starts")
}

fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Authorization request parameters for a valid request, as the relying party sends them.
fn authorization_params() -> Vec<(&'static str, String)> {
    vec![
        ("client_id", CLIENT_ID.into()),
        ("redirect_uri", REDIRECT_URI.into()),
        ("response_type", "code".into()),
        ("scope", "openid profile email".into()),
        ("state", "state-123".into()),
        ("nonce", "nonce-456".into()),
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".into()),
    ]
}

/// Returns the redirect target's query parameters; panics unless the response is a 303.
fn redirect_params(response: &Response) -> (Url, HashMap<String, String>) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    let url = Url::parse(location).unwrap();
    let params = url.query_pairs().into_owned().collect();
    (url, params)
}

/// Submits the login form as `user_name` and returns the authorization code.
async fn sign_in(provider: &DevProvider, http: &Client, user_name: &str) -> String {
    let mut form = authorization_params();
    form.push(("username", user_name.into()));
    form.push(("action", "login".into()));
    let response = http
        .post(format!("{}/authorize", provider.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (_, params) = redirect_params(&response);
    params["code"].clone()
}

/// Sends a token request authenticated with `client_secret_basic`, form-encoding the
/// credentials first as RFC 6749 section 2.3.1 requires.
async fn redeem(
    provider: &DevProvider,
    http: &Client,
    code: &str,
    verifier: &str,
    secret: &str,
) -> Response {
    let encode =
        |value: &str| url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    http.post(format!("{}/token", provider.issuer()))
        .basic_auth(encode(CLIENT_ID), Some(encode(secret)))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
}

async fn error_code(response: Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn discovery_lists_endpoints_and_capabilities() {
    let provider = start().await;
    let issuer = provider.issuer().to_owned();
    assert_eq!(issuer, format!("http://127.0.0.1:{}", provider.port()));

    let metadata: Value = client()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(metadata["issuer"], issuer.as_str());
    assert_eq!(
        metadata["authorization_endpoint"],
        format!("{issuer}/authorize")
    );
    assert_eq!(metadata["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(metadata["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(metadata["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(metadata["end_session_endpoint"], format!("{issuer}/logout"));
    assert_eq!(
        metadata["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        metadata["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        metadata["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        metadata["grant_types_supported"],
        serde_json::json!(["authorization_code"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    let scopes = metadata["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&Value::from("openid")));
    let claims = metadata["claims_supported"].as_array().unwrap();
    for claim in ["sub", "name", "email", "email_verified", "nonce", "sid"] {
        assert!(
            claims.contains(&Value::from(claim)),
            "claims_supported lacks {claim}"
        );
    }

    provider.shutdown().await;
}

#[tokio::test]
async fn jwks_publishes_es256_key() {
    let provider = start().await;
    let jwks: Value = client()
        .get(format!("{}/jwks", provider.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    assert!(key["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
    assert!(
        key.get("d").is_none(),
        "the JWK set must not contain the private key"
    );

    provider.shutdown().await;
}

#[tokio::test]
async fn full_code_flow_issues_verifiable_id_token() {
    let provider = start().await;
    let http = client();
    let issuer = provider.issuer().to_owned();

    // The authorization endpoint shows the login form with the request in hidden fields.
    let page = http
        .get(format!("{issuer}/authorize"))
        .query(&authorization_params())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\" action=\"/authorize\">"));
    assert!(html.contains("name=\"username\" value=\"alice\""));
    assert!(html.contains(&format!(
        "name=\"code_challenge\" value=\"{}\"",
        challenge(VERIFIER)
    )));
    assert!(html.contains("Development only"));

    // Submitting the form redirects back with the code, the state and the issuer.
    let mut form = authorization_params();
    form.push(("username", "  alice ".into()));
    form.push(("action", "login".into()));
    let response = http
        .post(format!("{issuer}/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (target, params) = redirect_params(&response);
    assert_eq!(target.path(), "/auth/callback");
    assert_eq!(params["state"], "state-123");
    assert_eq!(params["iss"], issuer);
    let code = params["code"].clone();

    let response = redeem(&provider, &http, &code, VERIFIER, CLIENT_SECRET).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile email");
    assert!(tokens["expires_in"].as_u64().is_some_and(|secs| secs > 0));
    let access_token = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();

    // Verify the ID token the way a relying party does: key from the JWKS by kid.
    let jwks: JwkSet = http
        .get(format!("{issuer}/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let kid = header.kid.expect("ID token header has a kid");
    let jwk = jwks.find(&kid).expect("kid is in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[issuer.as_str()]);
    validation.set_audience(&[CLIENT_ID]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .unwrap()
        .claims;

    assert_eq!(claims["nonce"], "nonce-456");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["name"], "Alice");
    assert_eq!(claims["email"], "alice@example.test");
    assert_eq!(claims["email_verified"], true);
    assert!(claims["sid"].as_str().is_some_and(|sid| !sid.is_empty()));
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);
    assert!(claims["auth_time"].as_u64().unwrap() <= iat);
    let expected_at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16]);
    assert_eq!(claims["at_hash"], expected_at_hash);

    // The access token works at the userinfo endpoint.
    let userinfo: Value = http
        .get(format!("{issuer}/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], "alice");
    assert_eq!(userinfo["name"], "Alice");
    assert_eq!(userinfo["email"], "alice@example.test");
    assert_eq!(userinfo["email_verified"], true);

    provider.shutdown().await;
}

#[tokio::test]
async fn client_secret_post_is_accepted() {
    let provider = start().await;
    let http = client();
    let code = sign_in(&provider, &http, "bob").await;

    let response = http
        .post(format!("{}/token", provider.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    provider.shutdown().await;
}

#[tokio::test]
async fn wrong_verifier_is_invalid_grant() {
    let provider = start().await;
    let http = client();
    let code = sign_in(&provider, &http, "alice").await;

    let wrong = VERIFIER.replace('a', "b");
    let response = redeem(&provider, &http, &code, &wrong, CLIENT_SECRET).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "invalid_grant");

    provider.shutdown().await;
}

#[tokio::test]
async fn code_replay_is_invalid_grant_and_revokes_token() {
    let provider = start().await;
    let http = client();
    let code = sign_in(&provider, &http, "alice").await;

    let first = redeem(&provider, &http, &code, VERIFIER, CLIENT_SECRET).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tokens: Value = first.json().await.unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();

    let replay = redeem(&provider, &http, &code, VERIFIER, CLIENT_SECRET).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(replay).await, "invalid_grant");

    let userinfo = http
        .get(format!("{}/userinfo", provider.issuer()))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    let challenge = userinfo.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(challenge.contains("invalid_token"));

    provider.shutdown().await;
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    let provider = start().await;
    let http = client();
    let code = sign_in(&provider, &http, "alice").await;

    let response = redeem(&provider, &http, &code, VERIFIER, "wrong-secret").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(error_code(response).await, "invalid_client");

    let response = http
        .post(format!("{}/token", provider.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(response).await, "invalid_client");

    // Failed client authentication does not spend the code.
    let response = redeem(&provider, &http, &code, VERIFIER, CLIENT_SECRET).await;
    assert_eq!(response.status(), StatusCode::OK);

    provider.shutdown().await;
}

#[tokio::test]
async fn mismatched_redirect_uri_is_invalid_grant() {
    let provider = start().await;
    let http = client();
    let code = sign_in(&provider, &http, "alice").await;

    let response = http
        .post(format!("{}/token", provider.issuer()))
        .basic_auth(CLIENT_ID, Some("demo+secret%3Awith%26special%3Dchars"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "invalid_grant");

    provider.shutdown().await;
}

#[tokio::test]
async fn unregistered_redirect_uri_shows_error_page() {
    let provider = start().await;
    let http = client();
    let mut params = authorization_params();
    params[1].1 = "http://127.0.0.1:9/evil".into();

    let response = http
        .get(format!("{}/authorize", provider.issuer()))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!response.headers().contains_key(header::LOCATION));
    let html = response.text().await.unwrap();
    assert!(html.contains("is not registered"));

    // The form submission checks the redirect URI again.
    params.push(("username", "alice".into()));
    params.push(("action", "login".into()));
    let response = http
        .post(format!("{}/authorize", provider.issuer()))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!response.headers().contains_key(header::LOCATION));

    provider.shutdown().await;
}

#[tokio::test]
async fn unknown_client_shows_error_page() {
    let provider = start().await;
    let mut params = authorization_params();
    params[0].1 = "someone-else".into();

    let response = client()
        .get(format!("{}/authorize", provider.issuer()))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!response.headers().contains_key(header::LOCATION));

    provider.shutdown().await;
}

#[tokio::test]
async fn invalid_requests_redirect_with_error() {
    let provider = start().await;
    let http = client();
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("code_challenge", None, "invalid_request"),
        ("code_challenge_method", Some("plain"), "invalid_request"),
        ("response_type", Some("token"), "unsupported_response_type"),
        ("response_type", None, "invalid_request"),
        ("scope", Some("profile email"), "invalid_scope"),
        ("prompt", Some("none"), "login_required"),
    ];

    for (name, value, expected_error) in cases {
        let mut params: Vec<(&str, String)> = authorization_params()
            .into_iter()
            .filter(|(param, _)| *param != name)
            .collect();
        if let Some(value) = value {
            params.push((name, value.into()));
        }
        let response = http
            .get(format!("{}/authorize", provider.issuer()))
            .query(&params)
            .send()
            .await
            .unwrap();
        let (target, query) = redirect_params(&response);
        assert_eq!(target.path(), "/auth/callback", "case {name}={value:?}");
        assert_eq!(query["error"], expected_error, "case {name}={value:?}");
        assert_eq!(query["state"], "state-123", "case {name}={value:?}");
        assert_eq!(query["iss"], provider.issuer(), "case {name}={value:?}");
        assert!(!query.contains_key("code"), "case {name}={value:?}");
    }

    provider.shutdown().await;
}

#[tokio::test]
async fn cancel_redirects_with_access_denied() {
    let provider = start().await;
    let mut form = authorization_params();
    form.push(("action", "cancel".into()));

    let response = client()
        .post(format!("{}/authorize", provider.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (_, query) = redirect_params(&response);
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "state-123");
    assert!(!query.contains_key("code"));

    provider.shutdown().await;
}

#[tokio::test]
async fn invalid_user_name_shows_form_again() {
    let provider = start().await;
    let http = client();

    for user_name in ["   ", &"x".repeat(65), "two words"] {
        let mut form = authorization_params();
        form.push(("username", user_name.into()));
        form.push(("action", "login".into()));
        let response = http
            .post(format!("{}/authorize", provider.issuer()))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "user name {user_name:?}"
        );
        assert!(!response.headers().contains_key(header::LOCATION));
        let html = response.text().await.unwrap();
        assert!(html.contains("class=\"error\""), "user name {user_name:?}");
        assert!(html.contains("<form"), "user name {user_name:?}");
    }

    provider.shutdown().await;
}

#[tokio::test]
async fn login_form_escapes_request_values() {
    let provider = start().await;
    let mut params = authorization_params();
    params[4].1 = "\"><script>alert(1)</script>".into();

    let html = client()
        .get(format!("{}/authorize", provider.issuer()))
        .query(&params)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>"));
    assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;"));

    provider.shutdown().await;
}

#[tokio::test]
async fn logout_redirects_only_to_registered_uri() {
    let provider = start().await;
    let http = client();
    let logout = format!("{}/logout", provider.issuer());

    let response = http
        .get(&logout)
        .query(&[
            ("post_logout_redirect_uri", POST_LOGOUT_URI),
            ("state", "bye"),
        ])
        .send()
        .await
        .unwrap();
    let (target, query) = redirect_params(&response);
    assert_eq!(target.path(), "/signed-out");
    assert_eq!(query["state"], "bye");

    let response = http
        .get(&logout)
        .query(&[("post_logout_redirect_uri", "http://127.0.0.1:9/elsewhere")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers().contains_key(header::LOCATION));
    assert!(response.text().await.unwrap().contains("signed out"));

    provider.shutdown().await;
}

#[tokio::test]
async fn logout_checks_id_token_hint() {
    let provider = start().await;
    let http = client();
    let code = sign_in(&provider, &http, "alice").await;
    let tokens: Value = redeem(&provider, &http, &code, VERIFIER, CLIENT_SECRET)
        .await
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let logout = format!("{}/logout", provider.issuer());

    let response = http
        .get(&logout)
        .query(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", POST_LOGOUT_URI),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let forged = format!("{id_token}x");
    let response = http
        .get(&logout)
        .query(&[
            ("id_token_hint", forged.as_str()),
            ("post_logout_redirect_uri", POST_LOGOUT_URI),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers().contains_key(header::LOCATION));

    provider.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_listener() {
    let provider = start().await;
    let discovery = format!("{}/.well-known/openid-configuration", provider.issuer());
    provider.shutdown().await;

    let result = client().get(&discovery).send().await;
    assert!(result.is_err(), "the provider still answers after shutdown");
}
