use roq_auth::axum::require_auth;

#[require_auth(redirectTo = "/signin")]
async fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {}
