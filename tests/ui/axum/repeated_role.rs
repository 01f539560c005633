use roq_auth::axum::with_auth;

#[with_auth(role = "admin", role = "editor")]
async fn articles() -> &'static str {
    "articles"
}

fn main() {}
