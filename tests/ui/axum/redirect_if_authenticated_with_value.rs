use roq_auth::axum::require_auth;

#[require_auth(redirect_if_authenticated = "yes")]
async fn login_page() -> &'static str {
    "sign in"
}

fn main() {}
