use roq_auth::axum::require_auth;

#[require_auth]
struct Dashboard {
    title: String,
}

fn main() {}
