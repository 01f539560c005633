use roq_auth::axum::require_auth;

#[require_auth(redirect_to = "https://login.example.com/signin")]
async fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {}
