//! The apps the guard is measured in. Every app serves `GET /api/me` with
//! the same JSON (`sub`, `name`, `email`) from a user: unguarded from a
//! static user, guarded by roq-auth from the session, or guarded by
//! axum-login on tower-sessions' memory store from its session.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, StatusCode};
use roq_auth::{Auth, Config, User};
use tower::ServiceExt as _;
use tower_sessions::{MemoryStore, SessionManagerLayer};

use crate::payload;

/// A fixed `ROQ_SECRET` for the benchmarks.
pub const SECRET: &str = "5b1f0d9c8a7e6f5d4c3b2a19081726354453627180918a7b6c5d4e3f2a1b0c9d";

/// An issuer that is never contacted: only the callback benchmark signs in,
/// at its own stand-in provider.
pub const UNUSED_ISSUER: &str = "http://127.0.0.1:9";

/// The request path every app serves.
pub const ME_PATH: &str = "/api/me";

/// Returns a configuration for the benchmark app, whose provider is at
/// `issuer`.
///
/// # Panics
///
/// When the configuration is invalid.
pub fn config(issuer: &str) -> Config {
    Config::builder()
        .secret(SECRET)
        .issuer_url(issuer)
        .client_id(payload::CLIENT_ID)
        .client_secret("bench-client-secret")
        .base_url("http://127.0.0.1:3000")
        .build()
        .expect("the benchmark configuration is valid")
}

/// Returns the sign-in of the benchmark app, with a provider that is never
/// contacted.
pub fn auth() -> Auth {
    Auth::new(config(UNUSED_ISSUER))
}

/// Returns a `Cookie` header value with a fresh session for the benchmark
/// user: a new random id and nonce, so a value never seen before.
///
/// # Panics
///
/// When the session does not fit in the cookies.
pub fn session_cookie(auth: &Auth) -> String {
    auth.test_session_cookie(payload::user(), &payload::SCOPES)
        .expect("the benchmark session fits in one cookie")
}

/// The JSON every `/api/me` returns.
pub fn me_json(user: &User) -> serde_json::Value {
    serde_json::json!({
        "sub": user.sub,
        "name": user.name,
        "email": user.email,
    })
}

static STATIC_USER: LazyLock<User> = LazyLock::new(payload::user);

async fn unguarded_me() -> Json<serde_json::Value> {
    Json(me_json(&STATIC_USER))
}

mod guarded_axum {
    use axum::Json;
    use roq_auth::axum::{with_auth, Session};

    #[with_auth]
    pub async fn me(session: Session) -> Json<serde_json::Value> {
        Json(super::me_json(session.user()))
    }
}

/// `GET /api/me` with no guard and no layer: the baseline.
pub fn axum_unguarded() -> Router {
    Router::new().route(ME_PATH, get(unguarded_me))
}

/// `GET /api/me` behind `#[with_auth]` and `AuthLayer`, as in the demo.
pub fn axum_guarded(auth: Auth) -> Router {
    Router::new()
        .route(ME_PATH, get(guarded_axum::me))
        .layer(roq_auth::axum::AuthLayer::new(auth))
}

/// Returns the demo's `/api/me` and an unguarded twin of the same size at
/// `/api/public-me`, outside `AuthLayer`, for load tests.
pub fn axum_load_app(auth: Auth) -> Router {
    Router::new()
        .route(ME_PATH, get(guarded_axum::me))
        .layer(roq_auth::axum::AuthLayer::new(auth))
        .route("/api/public-me", get(unguarded_me))
}

/// A user as axum-login keeps it: the same claims as the roq-auth session.
#[derive(Clone, Debug)]
pub struct LoginUser {
    user: User,
    password_hash: Vec<u8>,
}

impl AuthUser for LoginUser {
    type Id = String;

    fn id(&self) -> String {
        self.user.sub.clone()
    }

    fn session_auth_hash(&self) -> &[u8] {
        &self.password_hash
    }
}

/// An axum-login backend with one user in memory.
#[derive(Clone)]
pub struct MemoryBackend {
    users: Arc<HashMap<String, LoginUser>>,
}

impl MemoryBackend {
    fn new() -> MemoryBackend {
        let user = LoginUser {
            user: payload::user(),
            password_hash: b"bench-password-hash".to_vec(),
        };
        MemoryBackend {
            users: Arc::new(HashMap::from([(user.id(), user)])),
        }
    }
}

impl AuthnBackend for MemoryBackend {
    type User = LoginUser;
    type Credentials = String;
    type Error = std::convert::Infallible;

    async fn authenticate(&self, sub: String) -> Result<Option<LoginUser>, Self::Error> {
        Ok(self.users.get(&sub).cloned())
    }

    async fn get_user(&self, sub: &UserId<Self>) -> Result<Option<LoginUser>, Self::Error> {
        Ok(self.users.get(sub).cloned())
    }
}

async fn axum_login_me(session: AuthSession<MemoryBackend>) -> Json<serde_json::Value> {
    let user = session
        .user
        .expect("login_required lets only signed-in users in");
    Json(me_json(&user.user))
}

async fn axum_login_sign_in(mut session: AuthSession<MemoryBackend>) -> StatusCode {
    match session.authenticate(payload::SUB.to_owned()).await {
        Ok(Some(user)) => match session.login(&user).await {
            Ok(()) => StatusCode::NO_CONTENT,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        },
        _ => StatusCode::UNAUTHORIZED,
    }
}

/// `GET /api/me` behind axum-login's `login_required!` on tower-sessions'
/// `MemoryStore`, and the `Cookie` header of a signed-in user.
///
/// # Panics
///
/// When signing in fails.
pub async fn axum_login() -> (Router, String) {
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let login = AuthManagerLayerBuilder::new(MemoryBackend::new(), sessions).build();
    let app = Router::new()
        .route(ME_PATH, get(axum_login_me))
        .route_layer(axum_login::login_required!(MemoryBackend))
        .route("/sign-in", post(axum_login_sign_in))
        .layer(login);

    let response = app
        .clone()
        .oneshot(
            Request::post("/sign-in")
                .body(Body::empty())
                .expect("a valid request"),
        )
        .await
        .expect("the router is infallible");
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "sign-in failed");
    let set_cookie = response.headers()[SET_COOKIE]
        .to_str()
        .expect("Set-Cookie is ASCII");
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("Set-Cookie has a name and value")
        .to_owned();
    (app, cookie)
}

/// Returns `GET /api/me` with `cookie` as its `Cookie` header, if any.
///
/// # Panics
///
/// When `cookie` is not a valid header value.
pub fn me_request(cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(ME_PATH);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.body(Body::empty()).expect("a valid request")
}

/// Sends `GET /api/me` to `app` and returns the status.
pub async fn call_me(app: &Router, cookie: Option<&str>) -> StatusCode {
    app.clone()
        .oneshot(me_request(cookie))
        .await
        .expect("the router is infallible")
        .status()
}

/// The Actix Web handlers, with and without the guard. Apps are built
/// where they are served, because `App`'s type cannot be named.
pub mod actix {
    use actix_web::web;
    use roq_auth::actix::{with_auth, Session};

    /// `/api/me` without a guard: the baseline.
    pub async fn unguarded_me() -> web::Json<serde_json::Value> {
        web::Json(super::me_json(&super::STATIC_USER))
    }

    /// `/api/me` behind `#[with_auth]`.
    #[with_auth]
    pub async fn me(session: Session) -> web::Json<serde_json::Value> {
        web::Json(super::me_json(session.user()))
    }
}
