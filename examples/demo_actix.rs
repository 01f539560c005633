//! The roq-auth demo on Actix Web: `cargo run --example demo_actix`.
//!
//! Routes: `/` (public), `/dashboard` (`#[require_auth]`), `/login`
//! (`#[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]`),
//! `/api/me` and `/api/token` (`#[with_auth]`), and the auth routes under
//! `/api/auth`.
//! Settings come from the environment; see the README. It serves the same
//! responses as the Axum demo (`cargo run --example demo`).

#[path = "support/mod.rs"]
mod support;

use actix_web::http::header::ALLOW;
use actix_web::{guard, web, App, FromRequest, Handler, HttpResponse, HttpServer, Responder};
use roq_auth::actix::{require_auth, with_auth, AuthMiddleware, Session};

async fn home(session: Option<Session>) -> web::Html {
    web::Html::new(support::home_page(
        session.as_ref().map(|session| session.user()),
    ))
}

#[require_auth]
async fn dashboard(session: Session) -> web::Html {
    web::Html::new(support::dashboard_page(session.user()))
}

#[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]
async fn login() -> web::Html {
    web::Html::new(support::login_page())
}

#[with_auth]
async fn me(session: Session) -> web::Json<serde_json::Value> {
    web::Json(support::me_json(session.user()))
}

#[with_auth]
async fn token(session: Session) -> HttpResponse {
    match session.access_token().await {
        Ok(token) => HttpResponse::Ok().json(support::token_json(&token)),
        Err(err) => {
            let (status, body) = support::token_error_json(&err);
            let status = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::UNAUTHORIZED);
            HttpResponse::build(status).json(body)
        }
    }
}

/// Routes GET and HEAD requests for `path` to `handler` and rejects other
/// methods with 405 and `Allow: GET,HEAD`, as Axum's `get` does, so that
/// both demos send the same responses.
fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(handler),
        )
        .default_service(web::to(|| async {
            HttpResponse::MethodNotAllowed()
                .insert_header((ALLOW, "GET,HEAD"))
                .finish()
        }))
}

/// Registers the demo's routes. `run` wraps them in `AuthMiddleware`.
fn routes(config: &mut web::ServiceConfig) {
    config
        .service(get("/", home))
        .service(get("/dashboard", dashboard))
        .service(get("/login", login))
        .service(get("/api/me", me))
        .service(get("/api/token", token))
        .service(roq_auth::actix::routes("/api/auth"));
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
    // Bound before the setup, which needs the port for the default
    // `ROQ_BASE_URL` and the development provider's redirect URI.
    let listener = std::net::TcpListener::bind(support::bind_address()?)?;
    let local = listener.local_addr()?;
    let setup = support::demo_setup(local).await?;

    support::announce(local, &setup.config);
    let auth = support::build_auth(setup.config)?;
    support::spawn_provider_check(auth.clone());
    HttpServer::new(move || {
        App::new()
            .configure(routes)
            .wrap(AuthMiddleware::new(auth.clone()))
    })
    .listen(listener)?
    .run()
    .await?;

    drop(setup.dev_provider);
    Ok(())
}
