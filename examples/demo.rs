//! The roq-auth demo on Axum: `cargo run --example demo`.
//!
//! Routes: `/` (public), `/dashboard` (`#[require_auth]`), `/login`
//! (`#[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]`),
//! `/api/me` and `/api/token` (`#[with_auth]`), and the auth routes under
//! `/api/auth`.
//! Settings come from the environment; see the README.

#[path = "support/mod.rs"]
mod support;

use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use roq_auth::axum::{require_auth, with_auth, AuthLayer, Session};

async fn home(session: Option<Session>) -> Html<String> {
    Html(support::home_page(
        session.as_ref().map(|session| session.user()),
    ))
}

#[require_auth]
async fn dashboard(session: Session) -> Html<String> {
    Html(support::dashboard_page(session.user()))
}

#[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]
async fn login() -> Html<String> {
    Html(support::login_page())
}

#[with_auth]
async fn me(session: Session) -> Json<serde_json::Value> {
    Json(support::me_json(session.user()))
}

#[with_auth]
async fn token(session: Session) -> (StatusCode, Json<serde_json::Value>) {
    match session.access_token().await {
        Ok(token) => (StatusCode::OK, Json(support::token_json(&token))),
        Err(err) => {
            let (status, body) = support::token_error_json(&err);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
            (status, Json(body))
        }
    }
}

/// Builds the demo's router, protected by `auth`.
fn app(auth: roq_auth::Auth) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/dashboard", get(dashboard))
        .route("/login", get(login))
        .route("/api/me", get(me))
        .route("/api/token", get(token))
        .nest("/api/auth", roq_auth::axum::routes())
        .layer(AuthLayer::new(auth))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    support::init_logging();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(support::bind_address()?).await?;
    let local = listener.local_addr()?;
    let setup = support::demo_setup(local).await?;

    support::announce(local, &setup.config);
    let auth = support::build_auth(setup.config)?;
    support::spawn_provider_check(auth.clone());
    axum::serve(listener, app(auth)).await?;

    drop(setup.dev_provider);
    Ok(())
}
