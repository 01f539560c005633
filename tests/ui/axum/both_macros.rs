use roq_auth::axum::{require_auth, with_auth};

#[require_auth]
#[with_auth]
async fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {}
