use roq_auth::axum::require_auth;

const LOGIN: &str = "/signin";

#[require_auth(redirect_to = LOGIN)]
async fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {}
