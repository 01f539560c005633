use roq_auth::axum::with_auth;

#[with_auth(role = admin)]
async fn users() -> &'static str {
    "users"
}

fn main() {}
