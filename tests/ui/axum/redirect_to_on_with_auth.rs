use roq_auth::axum::with_auth;

#[with_auth(redirect_to = "/signin")]
async fn me() -> &'static str {
    "me"
}

fn main() {}
