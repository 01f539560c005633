//! Serves the demo's guarded `/api/me` and an unguarded twin of the same
//! size at `/api/public-me` on 127.0.0.1, for load tests with wrk.
//!
//! It listens on `ROQ_BIND` (default `127.0.0.1:3100`), prints the address
//! and a `Cookie` header value with a valid session, and serves until it is
//! stopped.

use roq_auth_bench::apps;

const DEFAULT_BIND: &str = "127.0.0.1:3100";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let bind = std::env::var("ROQ_BIND").unwrap_or_else(|_| DEFAULT_BIND.to_owned());
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {bind} (set ROQ_BIND to a free address): {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let auth = apps::auth();
    println!("listening on http://{bind}");
    println!("cookie: {}", apps::session_cookie(&auth));

    if let Err(err) = axum::serve(listener, apps::axum_load_app(auth)).await {
        eprintln!("error: the server stopped: {err}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
