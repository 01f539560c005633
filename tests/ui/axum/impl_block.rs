use roq_auth::axum::with_auth;

struct Api;

#[with_auth]
impl Api {
    async fn me() -> &'static str {
        "me"
    }
}

fn main() {}
