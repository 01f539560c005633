use roq_auth::axum::with_auth;

#[with_auth(check = |user| user.sub == "alice")]
async fn alice_only() -> &'static str {
    "alice"
}

fn main() {}
