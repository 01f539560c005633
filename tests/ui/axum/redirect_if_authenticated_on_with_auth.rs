use roq_auth::axum::with_auth;

#[with_auth(redirect_if_authenticated)]
async fn register() -> &'static str {
    "register"
}

fn main() {}
