use roq_auth::axum::require_auth;

#[require_auth(redirect_to = "signin")]
async fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {}
