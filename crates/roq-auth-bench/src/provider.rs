//! A stand-in OpenID provider on 127.0.0.1 whose responses are ready before
//! the callback asks: its token endpoint returns an ID token signed in
//! advance, so the callback's measured time holds no signing.
//!
//! It is served on the caller's runtime. On a current-thread runtime, the
//! provider and the callback then take turns on one thread, and a token
//! request costs no wake-up of another thread: on a virtual machine such a
//! wake-up costs tens of microseconds, varying with the gap between
//! requests, which would swamp the callback's own cost.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::header::{COOKIE, LOCATION, SET_COOKIE};
use http::request::Parts;
use http::{Method, Request, StatusCode};
use roq_auth::{Auth, AuthRoute};

use crate::payload;
use crate::signing::SigningKey;

/// The authorization code the token endpoint accepts, whatever it is.
pub const CODE: &str = "bench-authorization-code";

/// A provider serving discovery, the key set and the token endpoint.
pub struct StandInProvider {
    issuer: String,
    key: SigningKey,
    id_token: Arc<Mutex<String>>,
}

#[derive(Clone)]
struct ProviderState {
    issuer: String,
    jwks: serde_json::Value,
    id_token: Arc<Mutex<String>>,
}

impl StandInProvider {
    /// Starts the provider on a free port of 127.0.0.1, as a task on
    /// `runtime`.
    ///
    /// # Panics
    ///
    /// When no port is free.
    pub fn start(runtime: &tokio::runtime::Runtime) -> StandInProvider {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a free port on 127.0.0.1");
        let address: SocketAddr = listener.local_addr().expect("a bound address");
        let issuer = format!("http://{address}");

        let key = SigningKey::generate();
        let id_token = Arc::new(Mutex::new(String::new()));
        let state = ProviderState {
            issuer: issuer.clone(),
            jwks: key.jwks(),
            id_token: id_token.clone(),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state(state);
        runtime.spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(error = %err, "the stand-in provider stopped");
            }
        });

        StandInProvider {
            issuer,
            key,
            id_token,
        }
    }

    /// The provider's issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The provider's signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Starts a sign-in at `auth` and returns the callback request the
    /// browser would send back: the provider's `code` and `state`, and the
    /// transaction cookie. The token endpoint responds to it with an ID
    /// token for the benchmark user, with their roles, signed now.
    ///
    /// The callback request can be replayed: roq-auth keeps no record of
    /// used transactions, and the stand-in provider accepts any code.
    ///
    /// # Panics
    ///
    /// When the login route does not redirect to the provider.
    pub async fn prepare_callback(&self, auth: &Auth) -> Parts {
        let login = request_parts(Method::GET, "/api/auth/login?returnTo=%2Fdashboard", None);
        let response = auth.handle(AuthRoute::Login, &login, &[]).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "login must redirect"
        );

        let location = response.headers()[LOCATION]
            .to_str()
            .expect("Location is ASCII");
        let url = url_query(location);
        let state = url.get("state").expect("the redirect has a state");
        let nonce = url.get("nonce").expect("the redirect has a nonce");
        let transaction_cookie = response.headers()[SET_COOKIE]
            .to_str()
            .expect("Set-Cookie is ASCII")
            .split(';')
            .next()
            .expect("Set-Cookie has a name and value")
            .to_owned();

        let claims = payload::id_token_claims(&self.issuer, nonce, payload::now(), true);
        *self.id_token.lock().expect("the token lock") = self.key.sign(&claims);

        let target = format!("/api/auth/callback?code={CODE}&state={state}");
        request_parts(Method::GET, &target, Some(&transaction_cookie))
    }

    /// The ID token the token endpoint returns.
    pub fn id_token(&self) -> String {
        self.id_token.lock().expect("the token lock").clone()
    }
}

fn url_query(location: &str) -> std::collections::HashMap<String, String> {
    let query = location.split_once('?').map_or("", |(_, query)| query);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Returns the parts of a request to `target` with an optional `Cookie`
/// header.
///
/// # Panics
///
/// When `target` or `cookie` is invalid.
pub fn request_parts(method: Method, target: &str, cookie: Option<&str>) -> Parts {
    let mut request = Request::builder().method(method).uri(target);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.body(()).expect("a valid request").into_parts().0
}

async fn discovery(State(state): State<ProviderState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "issuer": state.issuer,
        "authorization_endpoint": format!("{}/authorize", state.issuer),
        "token_endpoint": format!("{}/token", state.issuer),
        "jwks_uri": format!("{}/jwks", state.issuer),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks(State(state): State<ProviderState>) -> Json<serde_json::Value> {
    Json(state.jwks)
}

async fn token(State(state): State<ProviderState>) -> Json<serde_json::Value> {
    let id_token = state.id_token.lock().expect("the token lock").clone();
    Json(serde_json::json!({
        "access_token": "bench-access-token",
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": payload::SCOPES.join(" "),
        "id_token": id_token,
    }))
}

/// Sends the token request the callback sends (a form POST with HTTP Basic
/// client authentication) and reads the response body, without parsing it:
/// the part of the callback's time spent on the provider's side of the
/// loopback connection.
///
/// # Panics
///
/// When the request fails.
pub async fn token_round_trip(client: &reqwest::Client, issuer: &str) -> usize {
    let response = client
        .post(format!("{issuer}/token"))
        .basic_auth(payload::CLIENT_ID, Some("bench-client-secret"))
        .header(http::header::ACCEPT, "application/json")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", CODE),
            ("redirect_uri", "http://127.0.0.1:3000/api/auth/callback"),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
        ])
        .send()
        .await
        .expect("the token request succeeds");
    response
        .bytes()
        .await
        .expect("the token response body")
        .len()
}
