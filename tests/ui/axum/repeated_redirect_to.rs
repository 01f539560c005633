use roq_auth::axum::require_auth;

#[require_auth(redirect_to = "/signin", redirect_to = "/login")]
async fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {}
