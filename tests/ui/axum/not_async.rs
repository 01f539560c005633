use roq_auth::axum::require_auth;

#[require_auth]
fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {}
