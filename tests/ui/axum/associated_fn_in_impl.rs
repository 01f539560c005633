use roq_auth::axum::require_auth;

struct Pages;

impl Pages {
    #[require_auth]
    async fn dashboard() -> &'static str {
        "dashboard"
    }
}

fn main() {}
