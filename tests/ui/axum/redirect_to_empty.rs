use roq_auth::axum::require_auth;

#[require_auth(redirect_to = "")]
async fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {}
